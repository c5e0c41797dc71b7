"""The baker: fit Gaussians to a texture and write a texgs asset.

``bake_maps`` (a material set) and ``bake_file`` (one texture) are the file-to-file entry
points used by the CLI and build systems; ``bake_set`` and ``bake_array`` work on arrays.
Both need PyTorch, which is imported on first use: ``texgs.bake.config`` (settings and budget)
imports without it.
"""

from __future__ import annotations

import os

# PyTorch's OpenMP threads spin after each op by default and then starve the compiled
# kernel's own threads (seen here as a much slower forward and backward). Ask for
# passive waiting unless the user chose otherwise; it only takes effect before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from pathlib import Path
from typing import TYPE_CHECKING, Callable

from .. import format as fmt
from ..errors import OptionError
from ..images import atomic_write_bytes
from ..material import MapSource, prepare_set
from .config import BakeConfig, Progress, plan_budget

if TYPE_CHECKING:
    from .fit import BakeResult

__all__ = ["BakeConfig", "Progress", "bake_array", "bake_file", "bake_maps", "bake_set",
           "plan_budget"]


def bake_array(*args, **kwargs) -> "BakeResult":
    """See :func:`texgs.bake.fit.bake_array`."""
    from .fit import bake_array as _bake_array

    return _bake_array(*args, **kwargs)


def bake_set(*args, **kwargs) -> "BakeResult":
    """See :func:`texgs.bake.fit.bake_set`."""
    from .fit import bake_set as _bake_set

    return _bake_set(*args, **kwargs)


def bake_maps(sources: list[MapSource], dst: str | Path, cfg: BakeConfig,
              progress: Callable[[Progress], None] | None = None) -> "BakeResult":
    """Bake the maps ``sources`` (a material set, or one texture) into the asset ``dst``,
    written atomically. Raises :class:`~texgs.errors.TexgsError` subclasses."""
    cfg.validate()
    out = Path(dst).resolve()
    for s in sources:
        if Path(s.path).resolve() == out:
            raise OptionError(f"{dst}: output would overwrite the input")
    maps = prepare_set(sources)
    result = bake_set(maps, cfg, progress)
    atomic_write_bytes(dst, result.data)
    return result


def bake_file(src: str | Path, dst: str | Path, cfg: BakeConfig,
              progress: Callable[[Progress], None] | None = None,
              kind: int = fmt.MAP_BASECOLOR) -> "BakeResult":
    """Bake the texture at ``src`` (a map of ``kind``) into the asset ``dst``."""
    return bake_maps([MapSource(kind, str(src))], dst, cfg, progress)
