"""Typed exceptions raised by the texgs library.

The library never prints or exits; the CLI maps each class to an exit code (see
``texgs.cli.EXIT_CODES`` and docs/CLI.md).
"""

from __future__ import annotations


class TexgsError(Exception):
    """Base class of every error texgs raises on purpose."""


class OptionError(TexgsError):
    """An option or a combination of options is invalid (raised before any work starts)."""


class InputError(TexgsError):
    """An input file is missing, unreadable, or not an image texgs can bake."""


class AssetFormatError(TexgsError):
    """An asset file is truncated, corrupt, or violates docs/FORMAT.md."""


class UnsupportedError(TexgsError):
    """The input or asset is valid but uses something this version does not support."""


class OutputError(TexgsError):
    """An output file cannot be written."""
