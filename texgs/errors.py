"""Typed exceptions raised by the texgs library.

The library never prints or exits; the CLI maps each class to an exit code (see
``EXIT_CODES`` below and docs/CLI.md).
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


class RateTargetError(TexgsError):
    """A rate search (``bake --psnr`` / ``--match``) found no budget within its limits that
    reaches the quality target."""


#: The exit code the CLI gives each error class (docs/CLI.md, "Exit codes").
EXIT_CODES: dict[type, int] = {
    OptionError: 1,
    InputError: 2,
    OutputError: 2,
    AssetFormatError: 3,
    UnsupportedError: 5,
    RateTargetError: 6,
}


def exit_code(e: TexgsError) -> int:
    """The CLI's exit code for ``e`` (1 for a TexgsError outside the table)."""
    for cls, code in EXIT_CODES.items():
        if isinstance(e, cls):
            return code
    return 1
