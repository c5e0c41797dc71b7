"""Render dispatcher for the baker: the compiled CPU kernel when it builds, else plain PyTorch.

Shapes as in :mod:`texgs.bake.render_ref`: means [N, 2] texel units, conics [N, 3],
colors [N, C], fallback [C] -> image [H, W, C] at texel centres.
"""

from __future__ import annotations

import torch

from . import render_cpu
from .render_ref import _render_tiled_torch


def backend_name() -> str:
    """'cpu-kernel' or 'torch' (the fallback), for reports."""
    return "cpu-kernel" if render_cpu.load_kernel() is not None else "torch"


def render(means: torch.Tensor, conics: torch.Tensor, colors: torch.Tensor,
           fallback: torch.Tensor, W: int, H: int, k: int, tile: int = 16, rep_x: bool = False,
           rep_y: bool = False) -> torch.Tensor:
    """Differentiable render of the texgs blend at every texel centre -> [H, W, C]."""
    if means.device.type == "cpu" and render_cpu.load_kernel() is not None:
        return render_cpu.render_cpu(means, conics, colors, fallback, W, H, k, tile, rep_x,
                                     rep_y)
    return _render_tiled_torch(means, conics, colors, fallback, W, H, k, tile, rep_x, rep_y)
