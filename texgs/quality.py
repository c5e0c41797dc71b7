"""Quality of a decoded map against its source, the same way for every codec (NumPy only).

- ``psnr``: dB over the map's informative channels (those that vary in the source; a constant
  channel carries no information and would only inflate the figure), peak 1.0 on values in
  the map's own encoding. HDR maps: on log2(x + LOG2_OFFSET), peak = the source's log2 span.
- Normal maps: angular error in degrees between the source and decoded normals, both
  decoded from (n + 1) / 2 and normalized: mean and 99th percentile.
- Alpha: the fraction of texels whose side of the 0.5 alpha-test threshold flips.
- HDR: mean relative error |x' - x| / (x + LOG2_OFFSET).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from . import format as fmt


@dataclass
class MapQuality:
    psnr: float
    angular_mean_deg: float | None = None
    angular_p99_deg: float | None = None
    alpha_flip_fraction: float | None = None
    relative_error: float | None = None

    def as_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


def psnr(ref: np.ndarray, test: np.ndarray, peak: float = 1.0) -> float:
    mse = float(np.mean((ref.astype(np.float64) - test.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(peak * peak / mse)


def normal_angles_deg(ref: np.ndarray, test: np.ndarray) -> np.ndarray:
    """Per-texel angle (degrees) between encoded normals [..., >= 3] in [0, 1]."""
    def unit(v):
        n = v[..., :3].astype(np.float64) * 2 - 1
        length = np.linalg.norm(n, axis=-1, keepdims=True)
        return np.where(length > 1e-9, n / np.maximum(length, 1e-9), np.array([0.0, 0.0, 1.0]))
    dot = np.clip((unit(ref) * unit(test)).sum(-1), -1.0, 1.0)
    return np.degrees(np.arccos(dot))


def alpha_flip_fraction(ref: np.ndarray, test: np.ndarray, threshold: float = 0.5) -> float:
    """Fraction of texels whose alpha lies on the other side of ``threshold``."""
    return float(np.mean((ref >= threshold) != (test >= threshold)))


def format_db(v: float) -> str:
    """A PSNR for people: two decimals, "inf" for an exact match."""
    return "inf" if math.isinf(v) else f"{v:.2f}"


def map_quality(kind: int, ref: np.ndarray, test: np.ndarray, informative: list[int],
                alpha_component: int | None = None, hdr: bool = False) -> MapQuality:
    """Quality of ``test`` against ``ref`` (both float [h, w, c] in the map's encoding)."""
    if ref.shape != test.shape:
        raise ValueError(f"shape {test.shape} does not match the source's {ref.shape}")
    chans = informative or list(range(ref.shape[-1]))
    if hdr:
        colour = [c for c in chans if c != alpha_component]
        lr = np.log2(ref[..., colour].astype(np.float64) + fmt.LOG2_OFFSET)
        lt = np.log2(np.maximum(test[..., colour].astype(np.float64), 0) + fmt.LOG2_OFFSET)
        span = max(float(lr.max() - lr.min()), 1e-6)
        q = MapQuality(psnr(lr, lt, span))
        r = ref[..., colour].astype(np.float64)
        q.relative_error = float(np.mean(np.abs(test[..., colour] - r) / (r + fmt.LOG2_OFFSET)))
    else:
        q = MapQuality(psnr(ref[..., chans], test[..., chans]))
    if kind == fmt.MAP_NORMAL:
        ang = normal_angles_deg(ref, test)
        q.angular_mean_deg = float(ang.mean())
        q.angular_p99_deg = float(np.percentile(ang, 99))
    if alpha_component is not None:
        q.alpha_flip_fraction = alpha_flip_fraction(ref[..., alpha_component],
                                                    test[..., alpha_component])
    return q
