"""The NumPy reference decoder: the ground truth every other decoder matches.

NumPy and the standard library only. The math is docs/FORMAT.md "Decoding": for a point p
(texel units), every candidate Gaussian of p's tile with squared Mahalanobis distance
q < CUTOFF_Q is ranked by (q, id); the K first are blended with weights
w = exp(-q/2) - exp(-CUTOFF_Q/2):

    T(p) = (sum_k w_k c_k + BLEND_EPS * fallback) / (sum_k w_k + BLEND_EPS)

so a point no Gaussian reaches takes the channel's fallback value. All arithmetic is float32.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .format import (BLEND_EPS, CUTOFF_Q, ENCODING_LOG2, LOG2_OFFSET, MAP_FLAG_NORMAL_Z, Asset,
                     MapInfo)
from .runtime import (GaussianSet, TileIndex, choose_index_tile, dequantize, footprint_variance,
                      sampling_index, wrapped_offsets)

_F32 = np.float32
_W_CUT = np.exp(_F32(-0.5) * _F32(CUTOFF_Q)).astype(_F32)


@dataclass
class DecodeStats:
    """Cost of a decode: candidates examined per point (mean, 99th percentile, max)."""

    points: int
    mean_candidates: float
    p99_candidates: float
    max_candidates: int


def wrap_points(g: GaussianSet, px: np.ndarray, py: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Apply the address mode to points in texel units: repeat wraps into [0, W), clamp clips
    to [0, W] (and likewise for y)."""
    w, h = _F32(g.width), _F32(g.height)
    px = px.astype(_F32)
    py = py.astype(_F32)
    if g.repeat_x:
        px = px - w * np.floor(px / w)
        px = np.where(px >= w, _F32(0), px).astype(_F32)
    else:
        px = np.clip(px, _F32(0), w)
    if g.repeat_y:
        py = py - h * np.floor(py / h)
        py = np.where(py >= h, _F32(0), py).astype(_F32)
    else:
        py = np.clip(py, _F32(0), h)
    return px, py


def _widen(a, b, c, f):
    """Conic of (Sigma + f I) and the amplitude sqrt(det Sigma / det(Sigma + f I)), float32,
    in the order every runtime follows."""
    det = a * c - b * b
    sxx = c / det + f
    syy = a / det + f
    sxy = -b / det
    det2 = sxx * syy - sxy * sxy
    amp = np.sqrt(_F32(1) / (det * det2)).astype(_F32)
    return syy / det2, -sxy / det2, sxx / det2, amp


def eval_points(g: GaussianSet, index: TileIndex, px: np.ndarray, py: np.ndarray, k: int,
                stats: list | None = None, filter_var: np.ndarray | None = None) -> np.ndarray:
    """Evaluate the texture at points (texel units, already wrapped) -> float32 [P, C].

    ``stats``: if a list is given, the candidate count of every point is appended to it.
    ``filter_var``: float32 [P] footprint variance per point (texels^2, see
    :func:`footprint_variance`; 0 = unfiltered); the index must cover the largest.
    """
    tile = index.tile
    tx = np.minimum((px // tile).astype(np.int64), index.tiles_x - 1)
    ty = np.minimum((py // tile).astype(np.int64), index.tiles_y - 1)
    tid = ty * index.tiles_x + tx
    out = np.empty((px.shape[0], g.colors.shape[1]), _F32)
    order = np.argsort(tid, kind="stable")
    tid_sorted = tid[order]
    bounds = np.flatnonzero(np.diff(tid_sorted)) + 1
    starts = np.concatenate([[0], bounds])
    ends = np.concatenate([bounds, [tid_sorted.shape[0]]])
    for s, e in zip(starts, ends):
        pts = order[s:e]
        cand = index.candidates(int(tid_sorted[s]))
        if stats is not None:
            stats.append(np.full(pts.shape[0], cand.shape[0], np.int64))
        if cand.shape[0] == 0:
            out[pts] = g.fallback
            continue
        dx, dy = wrapped_offsets(g, px[pts], py[pts], cand)
        a = g.conics[cand, 0][None]
        b = g.conics[cand, 1][None]
        c = g.conics[cand, 2][None]
        amp = None
        if filter_var is not None:
            f = filter_var[pts][:, None]
            wa, wb, wc, wamp = _widen(a, b, c, f)
            on = f > 0
            a, b, c = np.where(on, wa, a), np.where(on, wb, b), np.where(on, wc, c)
            amp = np.where(on, wamp, _F32(1)).astype(_F32)
        q = (a * dx * dx + _F32(2) * b * dx * dy + c * dy * dy).astype(_F32)
        q = np.where(q < _F32(CUTOFF_Q), q, np.inf).astype(_F32)
        kk = min(k, cand.shape[0])
        # Rank by (q, id): candidates ascend by id and the sort is stable.
        if amp is None:
            sel = np.argsort(q, axis=1, kind="stable")[:, :kk]
        else:  # filtered: rank by weight, amplitude included (ties by id)
            key = np.where(q < _F32(CUTOFF_Q),
                           -(amp * np.maximum(np.exp(_F32(-0.5) * q) - _W_CUT, _F32(0))), np.inf)
            sel = np.argsort(key, axis=1, kind="stable")[:, :kk]
        qs = np.take_along_axis(q, sel, 1)
        wts = np.where(np.isfinite(qs), np.exp(_F32(-0.5) * qs) - _W_CUT, _F32(0)).astype(_F32)
        wts = np.maximum(wts, _F32(0))
        if amp is not None:
            wts = (np.take_along_axis(np.broadcast_to(amp, q.shape), sel, 1) * wts).astype(_F32)
        cols = g.colors[cand[sel]]  # [P, kk, C]
        num = np.einsum("pk,pkc->pc", wts, cols).astype(_F32) + _F32(BLEND_EPS) * g.fallback
        den = wts.sum(1, dtype=_F32) + _F32(BLEND_EPS)
        out[pts] = num / den[:, None]
    return out


def decode_uv(asset: Asset, uv: np.ndarray, lod: int | None = None,
              index: TileIndex | None = None) -> np.ndarray:
    """Sample the texture at UV points: uv float [P, 2] with (0, 0) the top-left corner of
    the texture and (1, 1) the bottom-right (docs/CONVENTIONS.md). Returns float32 [P, C]
    in the stored encoding of each channel."""
    g = dequantize(asset, asset.prefix_count(lod))
    if index is None:
        index = sampling_index(g, asset.tile_size, asset.top_k, prune=False)
    uv = np.asarray(uv, np.float64)
    px, py = wrap_points(g, (uv[:, 0] * g.width).astype(_F32), (uv[:, 1] * g.height).astype(_F32))
    return eval_points(g, index, px, py, asset.top_k)


def decode_texture(asset: Asset, lod: int | None = None, size: tuple[int, int] | None = None,
                   stats_out: list | None = None, filtered: bool = False,
                   prune: bool = False) -> np.ndarray:
    """Decode to a texel grid: float32 [H', W', C] at ``size`` = (W', H') (default the
    asset's own size), sampling each output texel at its centre. ``lod``: number of LOD
    chunks to use (default all). ``filtered``: when the output is smaller, widen every
    Gaussian by the output pixel's footprint (prefiltered minification, no aliasing). If
    ``stats_out`` is a list, a :class:`DecodeStats` is appended. ``prune``: walk the pruned
    lists a runtime gets from ``build_gpu_buffers``, at the index tile it chooses (the same
    values; the candidate counts in ``stats_out`` are then the runtime's; pruning costs more
    time here than it saves); else the conservative lists at the asset's tile size."""
    g = dequantize(asset, asset.prefix_count(lod))
    ow, oh = size if size is not None else (asset.width, asset.height)
    fvar = footprint_variance(max(asset.width / ow, asset.height / oh)) if filtered else _F32(0)
    tile = choose_index_tile(g, float(fvar)) if prune else asset.tile_size
    index = sampling_index(g, tile, asset.top_k, float(fvar), prune)
    xs = ((np.arange(ow, dtype=np.float64) + 0.5) * (asset.width / ow)).astype(_F32)
    ys = ((np.arange(oh, dtype=np.float64) + 0.5) * (asset.height / oh)).astype(_F32)
    px = np.tile(xs, oh)
    py = np.repeat(ys, ow)
    px, py = wrap_points(g, px, py)
    counts: list = []
    out = eval_points(g, index, px, py, asset.top_k, counts,
                      np.full(px.shape[0], fvar, _F32) if fvar > 0 else None)
    if stats_out is not None:
        cnt = np.concatenate(counts)
        stats_out.append(DecodeStats(int(cnt.shape[0]), float(cnt.mean()),
                                     float(np.percentile(cnt, 99)), int(cnt.max())))
    return out.reshape(oh, ow, -1)


def finish_map(m: MapInfo, asset: Asset, values: np.ndarray) -> np.ndarray:
    """A map's blended channels [h, w, n] -> its texels in the map's own encoding.

    Normal maps with the normal-z flag: components 0, 1 hold x, y encoded as (n + 1) / 2;
    (x, y) longer than 1 is scaled to unit length, z = sqrt(1 - x^2 - y^2) is rebuilt and
    stored the same way, so every decoded normal has unit length. ``log2`` channels become
    linear values max(2^v - LOG2_OFFSET, 0). Other channels are returned as blended.
    """
    out = values.astype(_F32, copy=True)
    for j in m.channel_range:
        if asset.channels[j].encoding == ENCODING_LOG2:
            c = j - m.first_channel
            out[..., c] = np.maximum(np.exp2(out[..., c]) - _F32(LOG2_OFFSET), _F32(0))
    if m.flags & MAP_FLAG_NORMAL_Z:
        nx = out[..., 0] * _F32(2) - _F32(1)
        ny = out[..., 1] * _F32(2) - _F32(1)
        l2 = nx * nx + ny * ny
        scale = np.where(l2 > 1, _F32(1) / np.sqrt(np.maximum(l2, _F32(1))), _F32(1))
        nx, ny = nx * scale, ny * scale
        nz = np.sqrt(np.maximum(_F32(1) - nx * nx - ny * ny, _F32(0)))
        out[..., 0] = (nx + _F32(1)) * _F32(0.5)
        out[..., 1] = (ny + _F32(1)) * _F32(0.5)
        out[..., 2] = (nz + _F32(1)) * _F32(0.5)
    return out


def decode_maps(asset: Asset, lod: int | None = None, filtered: bool = False,
                scale: float = 1.0) -> list[np.ndarray]:
    """Every map of ``asset`` at its own size (times ``scale``), in its own encoding:
    a list of float32 [h, w, n] in the order of the map table (see :func:`finish_map`).
    Maps of the same size share one decode."""
    out: list[np.ndarray | None] = [None] * len(asset.map_table())
    by_size: dict[tuple[int, int], list[int]] = {}
    maps = asset.map_table()
    for i, m in enumerate(maps):
        size = (max(1, round(m.width * scale)), max(1, round(m.height * scale)))
        by_size.setdefault(size, []).append(i)
    for size, idx in by_size.items():
        full = decode_texture(asset, lod, size, filtered=filtered)
        for i in idx:
            m = maps[i]
            out[i] = finish_map(m, asset, full[..., m.first_channel:m.first_channel +
                                               m.channel_count])
    return out  # type: ignore[return-value]
