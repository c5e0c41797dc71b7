"""Quantization of Gaussian parameters to the stored integer fields (docs/FORMAT.md).

``QuantSpec`` holds the per-asset ranges and bit widths. ``fake_quantize`` is the
straight-through estimator used in the fit's last phase (values quantized forward, gradient
passed through); ``to_fields`` produces the integers written to the asset. Both follow the
inverse of ``texgs.runtime.dequantize``.

Parameters (baker side): uv [N, 2] in [0, 1) (texture fraction, x right, y down);
log2s [N, 2] log2 of the standard deviations in texels; theta [N] radians; colors [N, C].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..format import RecordLayout


@dataclass(frozen=True)
class QuantSpec:
    layout: RecordLayout
    log2_scale_min: float
    log2_scale_max: float
    color_lo: tuple[float, ...]
    color_hi: tuple[float, ...]


def make_spec(log2s: torch.Tensor, colors: torch.Tensor, pos_bits: int, scale_bits: int,
              rot_bits: int, color_bits: int | tuple[int, ...]) -> QuantSpec:
    """Ranges from the current parameters (float32-representable). ``color_bits``: one width
    for every colour, or one per colour."""
    if isinstance(color_bits, int):
        color_bits = (color_bits,) * colors.shape[1]
    smin = float(np.float32(log2s.min().item()))
    smax = float(np.float32(log2s.max().item()))
    lo = tuple(float(np.float32(v)) for v in colors.min(0).values.tolist())
    hi = tuple(float(np.float32(v)) for v in colors.max(0).values.tolist())
    layout = RecordLayout(pos_bits, scale_bits, rot_bits, tuple(color_bits))
    return QuantSpec(layout, smin, smax, lo, hi)


def _ste(x: torch.Tensor, xq: torch.Tensor) -> torch.Tensor:
    return x + (xq - x).detach()


def _levels(bits: int) -> int:
    return (1 << bits) - 1


def quantize_uv(uv: torch.Tensor, bits: int) -> torch.Tensor:
    n = float(1 << bits)
    q = torch.clamp(torch.floor(uv * n), 0, n - 1)
    return (q + 0.5) / n


def fake_quantize(spec: QuantSpec, uv, log2s, theta, colors):
    """Straight-through quantization of all parameters (same shapes back)."""
    lay = spec.layout
    uvq = _ste(uv, quantize_uv(uv, lay.pos_bits))
    span = spec.log2_scale_max - spec.log2_scale_min
    if span > 0:
        step = span / _levels(lay.scale_bits)
        lq = spec.log2_scale_min + torch.clamp(
            torch.round((log2s - spec.log2_scale_min) / step), 0, _levels(lay.scale_bits)) * step
    else:
        lq = torch.full_like(log2s, spec.log2_scale_min)
    lq = _ste(log2s, lq)
    tstep = math.pi / (1 << lay.rot_bits)
    tq = _ste(theta, torch.round(theta / tstep) * tstep)
    dev = colors.device
    lo = torch.tensor(spec.color_lo, device=dev)
    hi = torch.tensor(spec.color_hi, device=dev)
    levels = torch.tensor([float(_levels(b)) for b in lay.color_bits], device=dev)
    cstep = (hi - lo) / levels
    cstep = torch.where(cstep > 0, cstep, torch.ones_like(cstep))
    cq = lo + torch.minimum(torch.clamp(torch.round((colors - lo) / cstep), min=0), levels) * cstep
    cq = torch.where(hi > lo, cq, lo.expand_as(cq))
    cq = _ste(colors, cq)
    return uvq, lq, tq, cq


def to_fields(spec: QuantSpec, uv: np.ndarray, log2s: np.ndarray, theta: np.ndarray,
              colors: np.ndarray) -> np.ndarray:
    """Integer fields [N, 5 + C] (uint32) for the asset writer."""
    lay = spec.layout
    n = uv.shape[0]
    out = np.zeros((n, 5 + colors.shape[1]), np.uint32)
    pn = 1 << lay.pos_bits
    out[:, 0:2] = np.clip(np.floor(uv.astype(np.float64) * pn), 0, pn - 1)
    span = spec.log2_scale_max - spec.log2_scale_min
    if span > 0:
        out[:, 2:4] = np.clip(np.round((log2s - spec.log2_scale_min) / span *
                                       _levels(lay.scale_bits)), 0, _levels(lay.scale_bits))
    rn = 1 << lay.rot_bits
    out[:, 4] = np.mod(np.round(theta.astype(np.float64) / math.pi * rn), rn)
    for k in range(colors.shape[1]):
        lo, hi = spec.color_lo[k], spec.color_hi[k]
        if hi > lo:
            lv = _levels(lay.color_bits[k])
            out[:, 5 + k] = np.clip(np.round((colors[:, k] - lo) / (hi - lo) * lv), 0, lv)
    return out
