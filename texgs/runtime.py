"""Runtime-side data built from an asset: float Gaussians and the tile index (NumPy only).

Conventions (docs/CONVENTIONS.md): positions are in texel units of the asset's own grid,
x to the right in [0, W), y downward in [0, H); texel (i, j) has its centre at
(i + 0.5, j + 0.5). The tile index is never stored in the asset; every runtime builds it from
the Gaussians it has loaded (any LOD prefix) with :func:`build_tile_index`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .format import (ADDRESS_REPEAT, BIN_PAD_ABS, BIN_PAD_REL, CUTOFF_Q, Asset)
from .index_coding import encode_rice_lists
from .layout import INDEX_CODING_FIXED, INDEX_CODING_RICE  # noqa: F401
from .layout import REACH_MIN_TILE, REACH_Q, REACH_SLACK

# How build_gpu_buffers stores the tile lists unless asked otherwise: Rice-coded gaps, about
# a fifth of the fixed-width index at tile 16 and a third at tile 32 smaller
# (docs/RUNTIME.md "Rice-coded lists").
DEFAULT_INDEX_CODING = INDEX_CODING_RICE
# The smallest index tile build_gpu_buffers chooses unless asked for one (the asset
# header's tile_size is the baker's; results do not depend on it): at 1 bpp a 32-texel
# index adds about a quarter to the records, a 16-texel one about nine tenths
# (docs/RUNTIME.md "Index tile").
DEFAULT_INDEX_TILE = 32
# The tiles build_gpu_buffers chooses from (choose_index_tile): the largest whose lists
# hold at most AUTO_MAX_CANDIDATES per texel on average. Large Gaussians (low rates) sit in
# many 32-texel lists, so there a 64-texel index is a quarter less GPU memory for no more
# candidates per texel than the 32-texel index of a 1 bpp asset holds (before pruning: 46
# on average over the shared textures, at most 54; bench/bench_index_tile.py,
# docs/RUNTIME.md "Index tile").
AUTO_INDEX_TILES = (DEFAULT_INDEX_TILE, 2 * DEFAULT_INDEX_TILE)
AUTO_MAX_CANDIDATES = 56.0
# The tile-cooperative decodes' block of texels per workgroup (docs/RUNTIME.md
# "Tile-cooperative decode"), and the largest (32 x 32 = 1024 invocations).
DEFAULT_DECODE_BLOCK = 8
MAX_DECODE_BLOCK = 32


@dataclass
class GaussianSet:
    """Float Gaussians as every decoder evaluates them.

    means: float32 [N, 2] texel units; conics: float32 [N, 3] the inverse covariance
    (a, b, c) with q(d) = a dx^2 + 2 b dx dy + c dy^2; colors: float32 [N, C];
    fallback: float32 [C]; width, height: texel grid; repeat_x, repeat_y: address modes.
    """

    means: np.ndarray
    conics: np.ndarray
    colors: np.ndarray
    fallback: np.ndarray
    width: int
    height: int
    repeat_x: bool = False
    repeat_y: bool = False


def dequantize(asset: Asset, count: int | None = None) -> GaussianSet:
    """Turn the first ``count`` integer records of ``asset`` into floats (docs/FORMAT.md).

    All arithmetic is float32 in the order written here; GPU decoders follow the same order.
    """
    f = asset.fields if count is None else asset.fields[:count]
    f32 = np.float32
    lay = asset.layout
    w, h = f32(asset.width), f32(asset.height)
    pscale = f32(1.0 / (1 << lay.pos_bits))
    x = (f[:, 0].astype(f32) + f32(0.5)) * pscale * w
    y = (f[:, 1].astype(f32) + f32(0.5)) * pscale * h
    l1, l2 = _log2_scales(asset, f)
    theta = f[:, 4].astype(f32) * f32(np.pi / (1 << lay.rot_bits))
    conics = conic_from_scales(l1, l2, theta)
    cols = np.empty((f.shape[0], asset.channel_count), f32)
    for k, ch in enumerate(asset.channels):
        step = (f32(ch.hi) - f32(ch.lo)) / f32(max((1 << ch.bits) - 1, 1))
        cols[:, k] = f32(ch.lo) + f[:, 5 + k].astype(f32) * step
    fallback = np.array([ch.fallback for ch in asset.channels], f32)
    return GaussianSet(np.stack([x, y], 1), conics, cols, fallback, asset.width, asset.height,
                       asset.address_x == ADDRESS_REPEAT, asset.address_y == ADDRESS_REPEAT)


def _log2_scales(asset: Asset, fields: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(l1, l2) float32 [N]: the dequantized log2 standard deviations of ``fields`` rows."""
    f32 = np.float32
    smin, smax = f32(asset.log2_scale_min), f32(asset.log2_scale_max)
    sstep = (smax - smin) / f32((1 << asset.layout.scale_bits) - 1)
    return (smin + fields[:, 2].astype(f32) * sstep, smin + fields[:, 3].astype(f32) * sstep)


def _inverse_variances_of(log2_s1: np.ndarray, log2_s2: np.ndarray) -> tuple[np.ndarray,
                                                                              np.ndarray]:
    """(1 / sigma1^2, 1 / sigma2^2) float32 of log2 standard deviations."""
    f32 = np.float32
    return (np.exp2(f32(-2.0) * log2_s1.astype(f32)).astype(f32),
            np.exp2(f32(-2.0) * log2_s2.astype(f32)).astype(f32))


def conic_from_scales(log2_s1: np.ndarray, log2_s2: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Inverse covariance [N, 3] (a, b, c) of Gaussians with standard deviations 2**log2_s
    (texels) along axes rotated by ``theta`` radians (x toward y). float32 throughout."""
    f32 = np.float32
    i1, i2 = _inverse_variances_of(log2_s1, log2_s2)
    cs = np.cos(theta.astype(f32)).astype(f32)
    sn = np.sin(theta.astype(f32)).astype(f32)
    a = cs * cs * i1 + sn * sn * i2
    b = cs * sn * (i1 - i2)
    c = sn * sn * i1 + cs * cs * i2
    return np.stack([a, b, c], 1).astype(f32)


def inverse_variances(asset: Asset, count: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(i1, i2): float32 [N] each, 1 / sigma^2 along each axis of the first ``count``
    Gaussians (texels^-2), the values :func:`conic_from_scales` builds the conic from."""
    f = asset.fields if count is None else asset.fields[:count]
    return _inverse_variances_of(*_log2_scales(asset, f))


def wrapped_offsets(g: GaussianSet, px: np.ndarray, py: np.ndarray,
                    ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(dx, dy) float32 [P, n]: points (texel units, wrapped, float32 [P]) minus the centres
    of Gaussians ``ids`` [n]; on a repeating axis the offset to the nearest image,
    ``d - size * floor(d / size + 0.5)`` (docs/FORMAT.md "Decoding")."""
    f32 = np.float32
    dx = px[:, None] - g.means[None, ids, 0]
    dy = py[:, None] - g.means[None, ids, 1]
    if g.repeat_x:
        dx = dx - f32(g.width) * np.floor(dx / f32(g.width) + f32(0.5))
    if g.repeat_y:
        dy = dy - f32(g.height) * np.floor(dy / f32(g.height) + f32(0.5))
    return dx, dy


def may_reach(d2: np.ndarray, i1: np.ndarray, i2: np.ndarray,
              filter_var: float | np.ndarray = 0.0) -> np.ndarray:
    """The reach test of random-access sampling (docs/RUNTIME.md "Sampling a point"): False
    where a Gaussian cannot reach the point whatever its rotation, so the shaders skip it
    before reading its angle and rebuilding its conic. Reference of texgs_may_reach (GLSL,
    HLSL); float32 in the shaders' operation order.

    d2: squared distance (texels^2) from the point to the centre, the wrapped offset's
    dx * dx + dy * dy; i1, i2: :func:`inverse_variances`; filter_var: footprint variance
    (texels^2, 0 unfiltered). The bound: q >= d2 / (sigma_max^2 + f) for every rotation, and
    float32 rounding lowers the conic's smaller eigenvalue by at most REACH_SLACK times its
    larger one, so where the test is False the decoder's q is at or beyond the cutoff and the
    candidate would not have been selected: skipping it changes no decoded value.
    """
    f32 = np.float32
    d2 = np.asarray(d2, f32)
    i1 = np.asarray(i1, f32)
    i2 = np.asarray(i2, f32)
    fv = np.asarray(filter_var, f32)
    lo = np.minimum(i1, i2)
    hi = np.maximum(i1, i2)
    lo_f = np.where(fv > 0, lo / (f32(1.0) + fv * lo), lo).astype(f32)
    bound = (d2 * (lo_f - f32(REACH_SLACK) * hi)).astype(f32)
    return ~(bound >= f32(REACH_Q))


def reach_counts(g: GaussianSet, inv_var: tuple[np.ndarray, np.ndarray], index: "TileIndex",
                 px: np.ndarray, py: np.ndarray,
                 filter_var: float | np.ndarray = 0.0) -> np.ndarray:
    """How many candidates of its tile's list pass :func:`may_reach` at each point, so many
    conics texgs_sample rebuilds there -> int64 [P]. px, py: float32 [P] points in texel
    units, already wrapped (texgs.decode.wrap_points); inv_var: :func:`inverse_variances`;
    filter_var: footprint variance, a scalar or float32 [P]. Ids at or past the Gaussian
    count are not counted (the shaders skip them). With an index of tiles under
    REACH_MIN_TILE texels the shaders do not run the test: every valid candidate counts."""
    f32 = np.float32
    px = np.asarray(px, f32)
    py = np.asarray(py, f32)
    fv = np.broadcast_to(np.asarray(filter_var, f32), px.shape)
    tile = index.tile
    tx = np.minimum((px // f32(tile)).astype(np.int64), index.tiles_x - 1)
    ty = np.minimum((py // f32(tile)).astype(np.int64), index.tiles_y - 1)
    tid = ty * index.tiles_x + tx
    out = np.zeros(px.shape[0], np.int64)
    n = g.means.shape[0]
    for t in np.unique(tid):
        pts = np.flatnonzero(tid == t)
        cand = index.candidates(int(t))
        cand = cand[cand < n]
        if cand.shape[0] == 0:
            continue
        if tile < REACH_MIN_TILE:
            out[pts] = cand.shape[0]
            continue
        dx, dy = wrapped_offsets(g, px[pts], py[pts], cand)
        d2 = (dx * dx + dy * dy).astype(f32)
        ok = may_reach(d2, inv_var[0][cand][None], inv_var[1][cand][None], fv[pts, None])
        out[pts] = ok.sum(1)
    return out


@dataclass
class TileIndex:
    """Per-tile candidate lists.

    tiles_x, tiles_y: grid of ``tile`` x ``tile`` texel tiles covering the texture;
    offsets: int64 [tiles_x * tiles_y + 1], row-major tiles (tile (tx, ty) is entry
    ty * tiles_x + tx); ids: int32 [offsets[-1]], Gaussian indices of each tile in ascending
    order. :func:`build_tile_index` lists a Gaussian in every tile its padded 3-sigma box
    overlaps; :func:`prune_tile_index` then drops those no point of the tile selects.
    """

    tile: int
    tiles_x: int
    tiles_y: int
    offsets: np.ndarray
    ids: np.ndarray

    def candidates(self, tile_id: int) -> np.ndarray:
        return self.ids[self.offsets[tile_id]:self.offsets[tile_id + 1]]

    def counts(self) -> np.ndarray:
        """Candidates per tile, int64 [tiles_y, tiles_x]."""
        return np.diff(self.offsets).reshape(self.tiles_y, self.tiles_x)

    def counts_per_texel(self, width: int, height: int) -> np.ndarray:
        """Each texel's tile list length, the candidates random access walks there: int64
        [height, width] (the texture the index covers)."""
        t = self.tile
        return np.repeat(np.repeat(self.counts(), t, 0), t, 1)[:height, :width]


def gaussian_extents(conics: np.ndarray, filter_max_var: float = 0.0) -> np.ndarray:
    """Half-widths (rx, ry) in texels [N, 2] of each Gaussian's padded cutoff box, widened
    by 3 * sqrt(filter_max_var) for filtered (minified) sampling."""
    a = conics[:, 0].astype(np.float64)
    b = conics[:, 1].astype(np.float64)
    c = conics[:, 2].astype(np.float64)
    det = np.maximum(a * c - b * b, 1e-30)
    rx = np.sqrt(CUTOFF_Q * c / det)
    ry = np.sqrt(CUTOFF_Q * a / det)
    pad = 3.0 * np.sqrt(max(0.0, filter_max_var))
    return (np.stack([rx, ry], 1) + pad) * (1.0 + BIN_PAD_REL) + BIN_PAD_ABS


def _axis_tiles(lo: float, hi: float, size: int, tile: int, n: int, repeat: bool) -> list[int]:
    """Tiles along one axis whose texel span [t*tile, (t+1)*tile) meets [lo, hi]."""
    if not repeat:
        t0 = max(0, int(np.floor(lo / tile)))
        t1 = min(n - 1, int(np.floor(hi / tile)))
        return list(range(t0, t1 + 1))
    if hi - lo >= size:
        return list(range(n))
    lo2 = lo - size * np.floor(lo / size)
    hi2 = lo2 + (hi - lo)
    t0 = int(np.floor(lo2 / tile))
    if hi2 < size:
        return list(range(t0, min(n - 1, int(np.floor(hi2 / tile))) + 1))
    first = list(range(t0, n))
    second = list(range(0, min(n - 1, int(np.floor((hi2 - size) / tile))) + 1))
    return sorted(set(first + second))


def build_tile_index(g: GaussianSet, tile: int, filter_max_var: float = 0.0) -> TileIndex:
    """Bin Gaussians into tiles (docs/RUNTIME.md, "Tile index"). Lists ascend by Gaussian id.
    ``filter_max_var``: footprint variance (texels^2) filtered sampling may add."""
    tx_n = -(-g.width // tile)
    ty_n = -(-g.height // tile)
    ext = gaussian_extents(g.conics, filter_max_var)
    m = g.means.astype(np.float64)
    per_tile: list[list[int]] = [[] for _ in range(tx_n * ty_n)]
    for i in range(m.shape[0]):
        xs = _axis_tiles(m[i, 0] - ext[i, 0], m[i, 0] + ext[i, 0], g.width, tile, tx_n,
                         g.repeat_x)
        ys = _axis_tiles(m[i, 1] - ext[i, 1], m[i, 1] + ext[i, 1], g.height, tile, ty_n,
                         g.repeat_y)
        for ty in ys:
            row = ty * tx_n
            for tx in xs:
                per_tile[row + tx].append(i)
    counts = np.array([len(t) for t in per_tile], np.int64)
    offsets = np.zeros(len(per_tile) + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    ids = np.fromiter((i for t in per_tile for i in t), dtype=np.int32, count=int(offsets[-1]))
    return TileIndex(tile, tx_n, ty_n, offsets, ids)


# Slack of the pruning test below, in Mahalanobis distance units: covers float32 rounding of
# the decoders' q (and of the point coordinates) against the float64 bounds computed here.
PRUNE_SLACK = 1e-3


def prune_tile_index(g: GaussianSet, index: TileIndex, top_k: int) -> TileIndex:
    """Drop from every tile's list the Gaussians that are in no point's top ``top_k``
    anywhere in the tile (docs/RUNTIME.md, "Pruned lists").

    Exact for unfiltered sampling at every point of the tile, not only at texel centres: the
    Mahalanobis distance ``d = sqrt(q)`` of a Gaussian is Lipschitz in the point with
    constant ``L = sqrt(lambda_max(conic))``, so over a texel (every point within
    ``h = sqrt(2) / 2`` of its centre) ``d`` lies in ``[d0 - h L, d0 + h L]``. A Gaussian
    is kept when, at some texel of the tile, its lower bound is under the cutoff (3) and not
    above the ``top_k``-th smallest upper bound of the list. The others are beaten there by
    ``top_k`` Gaussians (or cut off) at every point, so removing them changes no selection
    and no decoded value. Filtered sampling ranks by weight instead: do not prune its index.
    Lists stay in ascending id order.
    """
    a = g.conics[:, 0].astype(np.float64)
    b = g.conics[:, 1].astype(np.float64)
    c = g.conics[:, 2].astype(np.float64)
    lip = np.sqrt(0.5 * (a + c) + np.sqrt(0.25 * (a - c) ** 2 + b * b))
    mx = g.means[:, 0].astype(np.float64)
    my = g.means[:, 1].astype(np.float64)
    h = np.sqrt(0.5) + PRUNE_SLACK
    cut = float(np.sqrt(CUTOFF_Q)) + PRUNE_SLACK
    t = index.tile
    keep_lists: list[np.ndarray] = []
    for tid in range(index.tiles_x * index.tiles_y):
        cand = index.candidates(tid)
        if cand.shape[0] <= top_k:  # every one may be selected
            keep_lists.append(cand)
            continue
        ty, tx = divmod(tid, index.tiles_x)
        xs = np.arange(tx * t, min((tx + 1) * t, g.width), dtype=np.float64) + 0.5
        ys = np.arange(ty * t, min((ty + 1) * t, g.height), dtype=np.float64) + 0.5
        dx = xs[:, None] - mx[None, cand]  # [texels along x, candidates]
        dy = ys[:, None] - my[None, cand]
        near_seam = np.zeros(cand.shape[0], bool)
        # Repeat: the decoders use the per-axis nearest image; near |d| = size / 2 that choice
        # flips inside a texel and q jumps, so such (huge, rare) Gaussians are simply kept.
        if g.repeat_x:
            dx = dx - g.width * np.floor(dx / g.width + 0.5)
            near_seam |= (np.abs(dx) > 0.5 * g.width - 1.0).any(0)
        if g.repeat_y:
            dy = dy - g.height * np.floor(dy / g.height + 0.5)
            near_seam |= (np.abs(dy) > 0.5 * g.height - 1.0).any(0)
        ca, cb, cc = a[cand], b[cand], c[cand]
        q = (ca * dx[None, :, :] ** 2 + 2.0 * cb * dx[None, :, :] * dy[:, None, :]
             + cc * dy[:, None, :] ** 2)  # [y, x, candidates]
        d = np.sqrt(np.maximum(q, 0.0)).reshape(-1, cand.shape[0])
        spread = h * lip[cand]
        lower = d - spread
        kth_upper = np.partition(d + spread, top_k - 1, axis=1)[:, top_k - 1:top_k]
        keep = ((lower < cut) & (lower <= kth_upper + PRUNE_SLACK)).any(0) | near_seam
        keep_lists.append(cand[keep])
    counts = np.array([k.shape[0] for k in keep_lists], np.int64)
    offsets = np.zeros(counts.shape[0] + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    ids = (np.concatenate(keep_lists).astype(np.int32) if keep_lists
           else np.zeros(0, np.int32))
    return TileIndex(index.tile, index.tiles_x, index.tiles_y, offsets, ids)


def _covered_texels(lo: np.ndarray, hi: np.ndarray, size: int, tile: int,
                    repeat: bool) -> np.ndarray:
    """Per Gaussian, the texels along one axis of the tiles :func:`_axis_tiles` lists for
    [lo, hi]: int64 [N]."""
    n = -(-size // tile)
    # texels of tiles 0 .. t - 1, for t = 0 .. n
    upto = np.minimum(np.arange(n + 1, dtype=np.int64) * tile, size)
    if not repeat:
        t0 = np.maximum(0, np.floor(lo / tile)).astype(np.int64)
        t1 = np.minimum(n - 1, np.floor(hi / tile)).astype(np.int64)
        return np.where(t1 >= t0, upto[np.maximum(t1 + 1, 0)] - upto[np.minimum(t0, n)], 0)
    lo2 = lo - size * np.floor(lo / size)
    hi2 = lo2 + (hi - lo)
    t0 = np.minimum(np.floor(lo2 / tile).astype(np.int64), n - 1)
    one = np.minimum(n - 1, np.floor(hi2 / tile)).astype(np.int64)  # hi2 < size: t0 .. one
    two = np.minimum(n - 1, np.floor((hi2 - size) / tile)).astype(np.int64)  # 0 .. two too
    wraps = hi2 >= size
    out = np.where(wraps, upto[n] - upto[t0] + upto[np.clip(two + 1, 0, n)],
                   upto[np.clip(one + 1, 0, n)] - upto[t0])
    # the two pieces overlap, or the interval is as long as the texture: every tile
    return np.where((hi - lo >= size) | (wraps & (two >= t0)), size, out)


def candidates_per_texel(g: GaussianSet, tile: int, filter_max_var: float = 0.0) -> float:
    """Mean over the texels of the length of their tile's list in :func:`build_tile_index`'s
    index (before pruning, which only shortens lists): the candidates random-access sampling
    walks per texel. Computed from the Gaussians' boxes without building the lists."""
    if g.means.shape[0] == 0:
        return 0.0
    ext = gaussian_extents(g.conics, filter_max_var)
    m = g.means.astype(np.float64)
    cx = _covered_texels(m[:, 0] - ext[:, 0], m[:, 0] + ext[:, 0], g.width, tile, g.repeat_x)
    cy = _covered_texels(m[:, 1] - ext[:, 1], m[:, 1] + ext[:, 1], g.height, tile, g.repeat_y)
    return float((cx * cy).sum() / (g.width * g.height))


def choose_index_tile(g: GaussianSet, filter_max_var: float = 0.0,
                      max_candidates: float = AUTO_MAX_CANDIDATES,
                      tiles: tuple[int, ...] = AUTO_INDEX_TILES) -> int:
    """The largest of ``tiles`` whose index holds at most ``max_candidates`` candidates per
    texel (:func:`candidates_per_texel`), else the smallest: the least GPU memory for a
    bounded random-access cost."""
    ok = [t for t in tiles if candidates_per_texel(g, t, filter_max_var) <= max_candidates]
    return max(ok) if ok else min(tiles)


def sampling_index(g: GaussianSet, tile: int, top_k: int, filter_max_var: float = 0.0,
                   prune: bool = True) -> TileIndex:
    """The tile index every decoder samples through: :func:`build_tile_index`, then, for an
    unfiltered index (``filter_max_var == 0``) and unless ``prune`` is False,
    :func:`prune_tile_index` (exact for unfiltered sampling only)."""
    index = build_tile_index(g, tile, filter_max_var)
    if prune and filter_max_var == 0.0:
        index = prune_tile_index(g, index, top_k)
    return index


def footprint_variance(texels_per_pixel: float | np.ndarray) -> np.ndarray:
    """Variance (texels^2) added to every Gaussian when one output pixel covers
    ``texels_per_pixel`` texels: that of a box of that width less the texel's own,
    ``max(0, (rho^2 - 1) / 12)`` (docs/RUNTIME.md "Filtering"). float32."""
    rho = np.asarray(texels_per_pixel, np.float32)
    return np.maximum(np.float32(0), (rho * rho - np.float32(1)) / np.float32(12)).astype(np.float32)


@dataclass
class GpuBuffers:
    """What an engine uploads to sample an asset on the GPU (docs/RUNTIME.md).

    meta: uint32 [16 + 4 C] (texgs.layout); records: uint32 words of the loaded chunks'
    record bitstream plus one zero word of padding; tile_offsets: uint32 [tiles + 1];
    tile_ids: uint32 words holding every tile's list as a little-endian bitstream plus one
    zero word, in the ``coding`` of texgs.index_coding: ``INDEX_CODING_FIXED`` (ids of
    ``id_bits`` bits each, :func:`pack_tile_ids`; tile_offsets count entries) or
    ``INDEX_CODING_RICE`` (Rice-coded gaps; tile_offsets count bits). ``index``: the lists
    themselves. ``geometry`` float32 [COUNT, 5] (x, y, a, b, c) and ``colors`` float32
    [COUNT, C]: the expanded records (docs/RUNTIME.md "Expanded records"), None to read the
    packed ones; set with :meth:`use_expanded`.
    """

    meta: np.ndarray
    records: np.ndarray
    tile_offsets: np.ndarray
    tile_ids: np.ndarray
    id_bits: int
    index: TileIndex
    filter_max_var: float = 0.0
    coding: int = 0  # texgs.layout.INDEX_CODING_*
    geometry: np.ndarray | None = None
    colors: np.ndarray | None = None

    @property
    def record_bytes(self) -> int:
        return int(self.records.nbytes)

    @property
    def index_bytes(self) -> int:
        return int(self.tile_offsets.nbytes + self.tile_ids.nbytes)

    @property
    def expanded_bytes(self) -> int:
        """Bytes of the expanded records (0 without them)."""
        return sum(int(a.nbytes) for a in (self.geometry, self.colors) if a is not None)

    @property
    def total_bytes(self) -> int:
        return int(self.meta.nbytes) + self.record_bytes + self.index_bytes + self.expanded_bytes

    def use_expanded(self, geometry: np.ndarray, colors: np.ndarray) -> None:
        """Decode from expanded records (a GPU decoder's expand pass, or
        :func:`expand_records`): geometry float32 [COUNT, 5], colors float32 [COUNT, C]."""
        from . import layout as L

        n, c = int(self.meta[L.META_COUNT]), int(self.meta[L.META_CHANNELS])
        geometry = np.ascontiguousarray(geometry, np.float32)
        colors = np.ascontiguousarray(colors, np.float32)
        if geometry.shape != (n, 5) or colors.shape != (n, c):
            raise ValueError(f"expanded records: geometry {geometry.shape} and colors "
                             f"{colors.shape} given, ({n}, 5) and ({n}, {c}) expected")
        self.geometry, self.colors = geometry, colors

    def use_index(self, offsets: np.ndarray, ids: np.ndarray) -> None:
        """Swap in a tile index built elsewhere (a GPU builder): 32-bit ids, any order."""
        from . import layout as L

        self.meta[L.META_ID_BITS] = 32
        self.meta[L.META_INDEX_CODING] = L.INDEX_CODING_FIXED
        self.meta[L.META_COUNT_BITS] = 0
        self.tile_offsets, self.tile_ids, self.id_bits = offsets, ids, 32
        self.coding = L.INDEX_CODING_FIXED


def expand_records(asset: Asset, lod: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The expanded records of the first ``lod`` chunks (docs/RUNTIME.md "Expanded
    records"): geometry float32 [N, 5] (x, y, a, b, c of :func:`dequantize`) and colours
    float32 [N, C]. A GPU decoder makes them with its own expand pass instead (the same
    floats up to the math library's cos and sin); this is their reference."""
    g = dequantize(asset, asset.prefix_count(lod))
    return np.concatenate([g.means, g.conics], 1).astype(np.float32), g.colors


def decode_block(tile: int, block: int | None = None) -> int | None:
    """The block side B of the tile-cooperative decode over an index of ``tile`` texels:
    ``block`` (1..MAX_DECODE_BLOCK, dividing ``tile``, else ValueError), or by default
    DEFAULT_DECODE_BLOCK, or the tile when smaller; None when that default does not divide
    the tile."""
    tile = int(tile)
    if block is None:
        b = min(DEFAULT_DECODE_BLOCK, tile)
        return b if b >= 1 and tile % b == 0 else None
    b = int(block)
    if not 1 <= b <= MAX_DECODE_BLOCK:
        raise ValueError(f"the decode block {b} is outside 1..{MAX_DECODE_BLOCK}")
    if tile % b:
        raise ValueError(f"the decode block {b} does not divide the index tile {tile}")
    return b


def decode_buffers(asset: Asset, lod: int | None = None, size: tuple[int, int] | None = None,
                   tile: int | None = None, id_bits: int | None = None,
                   filtered: bool = False, coding: int | None = None, prune: bool = True,
                   ) -> tuple[GpuBuffers, tuple[int, int], float]:
    """What a whole-texture GPU decode to ``size`` (default native) needs: the buffers, the
    output size (W', H') and the footprint variance (0 unless ``filtered`` and minifying).
    ``prune`` as in :func:`build_gpu_buffers` (the same values either way)."""
    w, h = size or (asset.width, asset.height)
    fvar = float(footprint_variance(max(asset.width / w, asset.height / h))) if filtered else 0.0
    return (build_gpu_buffers(asset, lod, tile, id_bits, fvar, prune=prune, coding=coding),
            (w, h), fvar)


def default_id_bits(count: int) -> int:
    """Smallest tile-list entry width (bits) that addresses Gaussians ``0 .. count - 1``."""
    return max(1, (int(count) - 1).bit_length())


def pack_tile_ids(ids: np.ndarray, id_bits: int) -> np.ndarray:
    """Tile-list entries as the ``tile_ids`` buffer holds them: entry ``j`` is the ``id_bits``
    bits starting at bit ``j * id_bits`` of a little-endian bitstream of uint32 words (bit
    ``k`` is bit ``k % 32`` of word ``k // 32``), plus one zero word so that an entry read may
    always touch the next word. uint32 [ceil(E * id_bits / 32) + 1]."""
    from .format import pack_fields

    words = pack_fields(np.asarray(ids, np.int64)[:, None], (id_bits,))
    return np.concatenate([words, np.zeros(1, np.uint32)])


def build_gpu_buffers(asset: Asset, lod: int | None = None, tile: int | None = None,
                      id_bits: int | None = None, filter_max_var: float = 0.0,
                      prune: bool = True, coding: int | None = None) -> GpuBuffers:
    """Buffers for the first ``lod`` chunks (all by default) of ``asset``.

    ``tile``: tile size of the index (default :func:`choose_index_tile` of the prefix:
    32 or 64 texels); ``id_bits``: width of
    an id in the lists, 1..32 (default the smallest that addresses every Gaussian of the
    prefix, see :func:`default_id_bits`); ``filter_max_var``: the largest footprint variance (texels^2)
    minified sampling may add (docs/RUNTIME.md "Filtering"); ``prune``: drop from the lists
    the Gaussians no point of the tile selects (:func:`prune_tile_index`; only for an
    unfiltered index, ``filter_max_var == 0``). The decoded result is the same either way.
    ``coding``: how the lists are stored (texgs.layout ``INDEX_CODING_*``; default
    ``DEFAULT_INDEX_CODING``, Rice-coded): the same lists either way.
    """
    from . import layout as L
    from .format import pack_fields

    n = asset.prefix_count(lod)
    if id_bits is None:
        id_bits = default_id_bits(n)
    if not 1 <= id_bits <= 32 or (id_bits < 32 and n > 1 << id_bits):
        raise ValueError(f"id_bits {id_bits} cannot address {n} Gaussians")
    g = dequantize(asset, n)
    tile = tile or choose_index_tile(g, filter_max_var)
    index = sampling_index(g, tile, asset.top_k, filter_max_var, prune)
    lay = asset.layout
    c = asset.channel_count
    meta = np.zeros(L.META_CHANNEL_BASE + L.META_CHANNEL_STRIDE * c, np.uint32)
    f2u = lambda v: int(np.array([v], np.float32).view(np.uint32)[0])  # noqa: E731
    meta[L.META_WIDTH] = asset.width
    meta[L.META_HEIGHT] = asset.height
    meta[L.META_CHANNELS] = c
    meta[L.META_COUNT] = n
    meta[L.META_TOP_K] = asset.top_k
    meta[L.META_TILE] = tile
    meta[L.META_TILES_X] = index.tiles_x
    meta[L.META_TILES_Y] = index.tiles_y
    meta[L.META_ADDRESS] = asset.address_x | (asset.address_y << 2)
    meta[L.META_POS_BITS] = lay.pos_bits
    meta[L.META_SCALE_BITS] = lay.scale_bits
    meta[L.META_ROT_BITS] = lay.rot_bits
    meta[L.META_RECORD_BITS] = lay.record_bits
    meta[L.META_LOG2_SMIN] = f2u(asset.log2_scale_min)
    meta[L.META_LOG2_SMAX] = f2u(asset.log2_scale_max)
    meta[L.META_ID_BITS] = id_bits
    meta[L.META_FILTER_MAX_VAR] = f2u(filter_max_var)
    off = 2 * lay.pos_bits + 2 * lay.scale_bits + lay.rot_bits
    for k, ch in enumerate(asset.channels):
        base = L.META_CHANNEL_BASE + L.META_CHANNEL_STRIDE * k
        meta[base + L.CH_BITS_OFFSET] = ch.bits | (off << 8)
        meta[base + L.CH_LO] = f2u(ch.lo)
        meta[base + L.CH_HI] = f2u(ch.hi)
        meta[base + L.CH_FALLBACK] = f2u(ch.fallback)
        off += ch.bits
    words = pack_fields(asset.fields[:n], lay.field_bits)
    records = np.concatenate([words, np.zeros(1, np.uint32)])
    coding = DEFAULT_INDEX_CODING if coding is None else coding
    meta[L.META_INDEX_CODING] = coding
    if coding == L.INDEX_CODING_RICE:
        offsets, ids, count_bits = encode_rice_lists(index.offsets, index.ids, id_bits)
        meta[L.META_COUNT_BITS] = count_bits
    elif coding == L.INDEX_CODING_FIXED:
        offsets = index.offsets.astype(np.uint32)
        ids = pack_tile_ids(index.ids, id_bits)
    else:
        raise ValueError(f"unknown index coding {coding}")
    return GpuBuffers(meta, records, offsets, ids, id_bits, index, filter_max_var, coding)
