"""The baker: fit Gaussians to a texture and write a texgs asset.

``bake_file`` is the file-to-file entry point used by the CLI; ``bake_array`` works on arrays.
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

from ..errors import OptionError
from ..images import atomic_write_bytes, channel_infos_for, load_texture
from .config import BakeConfig, Progress, plan_budget

if TYPE_CHECKING:
    from .fit import BakeResult

__all__ = ["BakeConfig", "Progress", "bake_array", "bake_file", "bake_set", "plan_budget"]


def bake_array(*args, **kwargs) -> "BakeResult":
    """See :func:`texgs.bake.fit.bake_array`."""
    from .fit import bake_array as _bake_array

    return _bake_array(*args, **kwargs)


def bake_set(*args, **kwargs) -> "BakeResult":
    """See :func:`texgs.bake.fit.bake_set`."""
    from .fit import bake_set as _bake_set

    return _bake_set(*args, **kwargs)


def bake_file(src: str | Path, dst: str | Path, cfg: BakeConfig,
              progress: Callable[[Progress], None] | None = None) -> "BakeResult":
    """Bake the texture at ``src`` into the asset ``dst`` (written atomically)."""
    cfg.validate()
    if Path(src).resolve() == Path(dst).resolve():
        raise OptionError(f"{dst}: output would overwrite the input")
    target, _info = load_texture(src)
    result = bake_array(target, channel_infos_for(target.shape[2]), cfg, progress)
    atomic_write_bytes(dst, result.data)
    return result
