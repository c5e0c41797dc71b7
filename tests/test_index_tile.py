"""The runtime's choice of index tile (texgs.runtime.choose_index_tile, docs/RUNTIME.md
"Index tile"): the candidates per texel it measures equal what the built lists hold, it takes
the largest tile within the budget, build_gpu_buffers uses it by default, and the decoded
texels do not depend on it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from texgs import format as fmt
from texgs import layout as L
from texgs.decode import decode_texture, decode_uv
from texgs.runtime import (AUTO_INDEX_TILES, AUTO_MAX_CANDIDATES, GaussianSet,
                           build_gpu_buffers, build_tile_index, candidates_per_texel,
                           choose_index_tile, conic_from_scales, dequantize,
                           sampling_index)

GOLDEN = Path(__file__).parent / "golden"
F32 = np.float32


def _gaussians(n: int, w: int, h: int, log2_scale: tuple[float, float], seed: int,
               repeat: tuple[bool, bool] = (False, False)) -> GaussianSet:
    """n random Gaussians over a w x h texture, log2 scales uniform in ``log2_scale``, some
    centres outside the texture (as a bake may leave them)."""
    rng = np.random.default_rng(seed)
    means = np.stack([rng.uniform(-0.1 * w, 1.1 * w, n), rng.uniform(-0.1 * h, 1.1 * h, n)],
                     1).astype(F32)
    l1 = rng.uniform(*log2_scale, n).astype(F32)
    l2 = rng.uniform(*log2_scale, n).astype(F32)
    conics = conic_from_scales(l1, l2, rng.uniform(0, np.pi, n).astype(F32))
    return GaussianSet(means, conics, np.zeros((n, 3), F32), np.zeros(3, F32), w, h, *repeat)


def _listed_per_texel(g: GaussianSet, tile: int, fvar: float = 0.0) -> float:
    """Independent count: build the lists, give every texel its tile's list length."""
    c = build_tile_index(g, tile, fvar).counts()
    return float(np.repeat(np.repeat(c, tile, 0), tile, 1)[:g.height, :g.width].mean())


@pytest.mark.parametrize("repeat", [(False, False), (True, False), (False, True), (True, True)])
@pytest.mark.parametrize("tile", [16, 32, 64])
def test_candidates_per_texel_is_what_the_lists_hold(repeat, tile):
    # sizes that are not multiples of the tile: the last row and column of tiles are short
    g = _gaussians(300, 200, 136, (-1.0, 5.5), seed=tile + 7 * sum(repeat), repeat=repeat)
    for fvar in (0.0, 4.0):
        got = candidates_per_texel(g, tile, fvar)
        assert got == pytest.approx(_listed_per_texel(g, tile, fvar), rel=1e-12)
    # a Gaussian wider than a repeat texture is in every tile of that axis
    wide = _gaussians(5, 100, 100, (7.0, 7.5), seed=3, repeat=repeat)
    assert candidates_per_texel(wide, tile) == pytest.approx(_listed_per_texel(wide, tile))


def test_candidates_per_texel_on_random_sizes_tiles_and_address_modes():
    rng = np.random.default_rng(11)
    for _ in range(120):
        w, h = int(rng.integers(1, 300)), int(rng.integers(1, 300))
        repeat = (bool(rng.integers(2)), bool(rng.integers(2)))
        g = _gaussians(int(rng.integers(1, 40)), w, h, (-2.0, float(rng.uniform(-1, 8))),
                       int(rng.integers(1 << 30)), repeat)
        for tile in (4, 16, 32, 64, 128):
            fvar = float(rng.choice([0.0, 3.0]))
            assert candidates_per_texel(g, tile, fvar) == pytest.approx(
                _listed_per_texel(g, tile, fvar), rel=1e-12)


def test_the_largest_tile_within_the_budget_is_chosen():
    for seed, scales in enumerate([(-1.0, 2.0), (1.0, 4.0), (3.0, 5.5), (4.0, 6.0)]):
        g = _gaussians(400, 256, 256, scales, seed)
        per_tile = {t: _listed_per_texel(g, t) for t in AUTO_INDEX_TILES}
        ok = [t for t in AUTO_INDEX_TILES if per_tile[t] <= AUTO_MAX_CANDIDATES]
        assert choose_index_tile(g) == (max(ok) if ok else min(AUTO_INDEX_TILES))
        # a budget below every tile's count: the smallest; above: the largest
        lo, hi = min(per_tile.values()), max(per_tile.values())
        assert choose_index_tile(g, max_candidates=lo - 0.5) == min(AUTO_INDEX_TILES)
        assert choose_index_tile(g, max_candidates=hi + 0.5) == max(AUTO_INDEX_TILES)


def test_few_large_gaussians_take_the_larger_tile_and_many_small_ones_the_smaller():
    sparse = _gaussians(60, 512, 512, (3.5, 4.5), seed=1)   # a low-rate bake's Gaussians
    dense = _gaussians(6000, 512, 512, (1.0, 2.5), seed=2)  # a high-rate bake's
    assert choose_index_tile(sparse) == 64
    assert choose_index_tile(dense) == 32
    # and the filtered index, whose boxes are wider, may need the smaller one
    assert candidates_per_texel(sparse, 64, 100.0) > candidates_per_texel(sparse, 64)


@pytest.mark.parametrize("name", ["rgb_clamp", "gray_repeat_x", "rgba_repeat", "set_mixed"])
def test_build_gpu_buffers_uses_the_choice_and_the_texels_do_not_depend_on_it(name):
    asset = fmt.read_asset_file(GOLDEN / f"{name}.tgs")
    for lod in range(1, len(asset.lod_counts) + 1):
        g = dequantize(asset, asset.prefix_count(lod))
        bufs = build_gpu_buffers(asset, lod)
        assert int(bufs.meta[L.META_TILE]) == choose_index_tile(g)
    # the reference decoder through each tile's pruned index gives the same values
    g = dequantize(asset)
    uv = np.random.default_rng(5).uniform(-0.5, 1.5, (3000, 2))
    ref = decode_uv(asset, uv)  # the conservative lists at the baker's tile
    for tile in (16, 32, 64):
        got = decode_uv(asset, uv, index=sampling_index(g, tile, asset.top_k))
        np.testing.assert_array_equal(got, ref)
    np.testing.assert_array_equal(decode_texture(asset, prune=True), decode_texture(asset))
