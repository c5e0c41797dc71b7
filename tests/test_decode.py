"""The NumPy reference decoder: golden vectors, agreement with the torch renderers, UV
sampling, address modes, LOD prefixes and the value where no Gaussian reaches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from texgs import format as fmt
from texgs.decode import decode_texture, decode_uv
from texgs.decode import eval_points, wrap_points
from texgs.runtime import build_gpu_buffers, build_tile_index, dequantize, prune_tile_index

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(p.stem for p in GOLDEN.glob("*.tgs"))


def _golden(name):
    asset = fmt.read_asset_file(GOLDEN / f"{name}.tgs")
    expect = {lod: np.load(GOLDEN / f"{name}.lod{lod}.npy")
              for lod in range(1, len(asset.lod_counts) + 1)}
    return asset, expect


@pytest.mark.parametrize("name", CASES)
def test_numpy_decoder_matches_golden(name):
    asset, expect = _golden(name)
    for lod, ref in expect.items():
        np.testing.assert_allclose(decode_texture(asset, lod=lod), ref, atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", CASES)
def test_torch_dense_renderer_matches_golden(name):
    """An independent implementation of the same math (every Gaussian at every texel)."""
    torch = pytest.importorskip("torch")
    from texgs.bake.render_ref import _render_dense

    asset, expect = _golden(name)
    for lod, ref in expect.items():
        g = dequantize(asset, asset.prefix_count(lod))
        out = _render_dense(torch.from_numpy(g.means), torch.from_numpy(g.conics),
                            torch.from_numpy(g.colors), torch.from_numpy(g.fallback),
                            asset.width, asset.height, asset.top_k, g.repeat_x, g.repeat_y)
        np.testing.assert_allclose(out.numpy(), ref, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", CASES)
def test_cpu_kernel_matches_golden(name):
    torch = pytest.importorskip("torch")
    from texgs.bake import render_cpu

    if render_cpu.load_kernel() is None:
        pytest.skip(f"compiled kernel unavailable: {render_cpu.status()}")
    asset, expect = _golden(name)
    for lod, ref in expect.items():
        g = dequantize(asset, asset.prefix_count(lod))
        out = render_cpu.render_cpu(torch.from_numpy(g.means), torch.from_numpy(g.conics),
                                    torch.from_numpy(g.colors), torch.from_numpy(g.fallback),
                                    asset.width, asset.height, asset.top_k, asset.tile_size,
                                    g.repeat_x, g.repeat_y)
        np.testing.assert_allclose(out.numpy(), ref, atol=1e-5, rtol=0)


def test_golden_vectors_exercise_the_fallback():
    """Some golden texels are reached by no Gaussian and so equal the fallback exactly."""
    asset, expect = _golden("rgb_clamp")
    g = dequantize(asset, asset.prefix_count(1))
    hits = np.all(np.abs(expect[1] - g.fallback) < 1e-7, axis=-1)
    assert 0 < hits.sum() < hits.size


@pytest.mark.parametrize("name", CASES)
def test_uv_sampling_at_texel_centres_equals_whole_decode(name):
    asset, expect = _golden(name)
    h, w = asset.height, asset.width
    ys, xs = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    uv = np.stack([(xs.ravel() + 0.5) / w, (ys.ravel() + 0.5) / h], 1)
    np.testing.assert_allclose(decode_uv(asset, uv).reshape(h, w, -1),
                               expect[len(expect)], atol=1e-6)


def test_repeat_is_periodic_and_clamp_holds_the_edge():
    rep, _ = _golden("rgba_repeat")
    rng = np.random.default_rng(0)
    uv = rng.random((200, 2))
    a = decode_uv(rep, uv)
    for shift in ([1, 0], [0, -1], [3, 2]):
        np.testing.assert_allclose(decode_uv(rep, uv + shift), a, atol=2e-5)
    clamp, _ = _golden("rgb_clamp")
    edge = decode_uv(clamp, np.array([[1.0, 0.5], [0.0, 0.0]]))
    outside = decode_uv(clamp, np.array([[1.7, 0.5], [-3.0, -0.2]]))
    np.testing.assert_allclose(outside, edge, atol=1e-7)


def test_decode_at_another_size_samples_output_texel_centres():
    asset, _ = _golden("rgb_clamp")
    out = decode_texture(asset, size=(64, 12))
    ys, xs = np.meshgrid(np.arange(12), np.arange(64), indexing="ij")
    uv = np.stack([(xs.ravel() + 0.5) / 64, (ys.ravel() + 0.5) / 12], 1)
    np.testing.assert_allclose(out.reshape(-1, 3), decode_uv(asset, uv), atol=1e-6)


def test_tile_index_lists_every_gaussian_that_reaches_a_texel():
    """Conservativeness of the tile index: brute force over all Gaussians and texels."""
    for name in CASES:
        asset, _ = _golden(name)
        g = dequantize(asset)
        idx = build_tile_index(g, asset.tile_size)
        h, w = asset.height, asset.width
        ys, xs = np.meshgrid(np.arange(h) + 0.5, np.arange(w) + 0.5, indexing="ij")
        dx = xs.ravel()[:, None] - g.means[None, :, 0]
        dy = ys.ravel()[:, None] - g.means[None, :, 1]
        if g.repeat_x:
            dx -= w * np.floor(dx / w + 0.5)
        if g.repeat_y:
            dy -= h * np.floor(dy / h + 0.5)
        q = g.conics[:, 0] * dx * dx + 2 * g.conics[:, 1] * dx * dy + g.conics[:, 2] * dy * dy
        reach = q < fmt.CUTOFF_Q
        tid = (ys.ravel() // asset.tile_size).astype(int) * idx.tiles_x + \
            (xs.ravel() // asset.tile_size).astype(int)
        for p in np.flatnonzero(reach.any(1)):
            listed = set(idx.candidates(int(tid[p])).tolist())
            assert set(np.flatnonzero(reach[p]).tolist()) <= listed


def _random_asset(seed: int, w: int, h: int, n: int, repeat: int, k: int,
                  smin: float = -1.5, smax: float = 3.5):
    rng = np.random.default_rng(seed)
    layout = fmt.RecordLayout(12, 8, 8, (8, 8, 8))
    fields = np.zeros((n, 8), np.uint32)
    for col, bits in enumerate(layout.field_bits):
        fields[:, col] = rng.integers(0, 1 << bits, n)
    chans = [fmt.ChannelInfo(component=i, bits=8, lo=0.0, hi=1.0, fallback=0.5) for i in range(3)]
    return fmt.read_asset(fmt.write_asset(fmt.Asset(
        width=w, height=h, channels=chans, layout=layout, log2_scale_min=smin,
        log2_scale_max=smax, fields=fields, lod_counts=[n // 8 * 4, n - n // 8 * 4], top_k=k,
        address_x=repeat, address_y=repeat)))


def _brute_top_k(g, px, py, k):
    """Ids of the top-k (by q, then id; q < cutoff) over ALL Gaussians at each point."""
    dx = px[:, None].astype(np.float64) - g.means[None, :, 0]
    dy = py[:, None].astype(np.float64) - g.means[None, :, 1]
    if g.repeat_x:
        dx -= g.width * np.floor(dx / g.width + 0.5)
    if g.repeat_y:
        dy -= g.height * np.floor(dy / g.height + 0.5)
    q = g.conics[:, 0] * dx * dx + 2 * g.conics[:, 1] * dx * dy + g.conics[:, 2] * dy * dy
    q = np.where(q < fmt.CUTOFF_Q, q, np.inf)
    sel = np.argsort(q, axis=1, kind="stable")[:, :k]
    return [s[np.isfinite(q[i, s])] for i, s in enumerate(sel)]


@pytest.mark.parametrize("seed", range(6))
def test_pruned_tile_index_decodes_every_point_as_the_full_index(seed):
    """prune_tile_index drops list entries, never a Gaussian some point of the tile selects:
    at random points (anywhere in a texel, on tile edges, on the clamp edge) the top-K over
    ALL Gaussians is inside the point's pruned list, and decoding through the pruned index
    gives exactly the values of the full one. Half the cases repeat (torus wrap)."""
    w, h = 45 + 7 * seed, 38 + 5 * seed
    k = (1, 3, 5, 8, 5, 2)[seed]
    asset = _random_asset(seed, w, h, 150 + 40 * seed, seed % 2, k)
    g = dequantize(asset)
    rng = np.random.default_rng(100 + seed)
    px = np.concatenate([rng.uniform(0, w, 3000), np.arange(0, w + 1, 4.0),
                         rng.uniform(0, w, 200)]).astype(np.float32)
    py = np.concatenate([rng.uniform(0, h, 3000), rng.uniform(0, h, px.shape[0] - 3200),
                         np.full(200, float(h))]).astype(np.float32)
    px, py = wrap_points(g, px, py)
    brute = _brute_top_k(g, px, py, k)
    dropped = 0
    for tile in (4, 8, 16):
        full = build_tile_index(g, tile)
        pruned = prune_tile_index(g, full, k)
        dropped += int(full.offsets[-1] - pruned.offsets[-1])
        tid = (np.minimum(py // tile, pruned.tiles_y - 1) * pruned.tiles_x +
               np.minimum(px // tile, pruned.tiles_x - 1)).astype(int)
        for i in range(px.shape[0]):
            assert set(brute[i].tolist()) <= set(pruned.candidates(tid[i]).tolist()), (tile, i)
        np.testing.assert_array_equal(eval_points(g, pruned, px, py, k),
                                      eval_points(g, full, px, py, k))
    assert dropped > 0  # the test is not vacuous: lists did get shorter


def test_pruned_index_is_used_by_the_decoders_and_shrinks_the_gpu_index():
    """decode_texture(prune=True) and build_gpu_buffers use the pruned lists (fewer
    candidates, a smaller index) and the texels are unchanged; a filtered index is not
    pruned."""
    from texgs.runtime import DEFAULT_INDEX_TILE

    asset = _random_asset(7, 64, 48, 600, 0, 5, smin=-0.5, smax=2.5)
    g = dequantize(asset)
    full = build_tile_index(g, asset.tile_size)
    stats: list = []
    out = decode_texture(asset, stats_out=stats, prune=True)
    xs = np.tile(np.arange(64, dtype=np.float32) + 0.5, 48)
    ys = np.repeat(np.arange(48, dtype=np.float32) + 0.5, 64)
    np.testing.assert_array_equal(out.reshape(-1, 3), eval_points(g, full, xs, ys, 5))
    # the pruned walk is the runtime's: its default index tile, fewer candidates than the
    # conservative lists of the same tiles
    t = DEFAULT_INDEX_TILE
    runtime_full = build_tile_index(g, t)
    per_texel = np.repeat(np.repeat(runtime_full.counts(), t, 0), t, 1)[:48, :64]
    assert stats[0].mean_candidates < per_texel.mean()
    pruned = build_gpu_buffers(asset).index.counts()
    assert stats[0].mean_candidates == pytest.approx(
        np.repeat(np.repeat(pruned, t, 0), t, 1)[:48, :64].mean())
    pruned_bufs = build_gpu_buffers(asset, tile=asset.tile_size)
    full_bufs = build_gpu_buffers(asset, tile=asset.tile_size, prune=False)
    assert pruned_bufs.index_bytes < full_bufs.index_bytes
    np.testing.assert_array_equal(full_bufs.index.ids, full.ids)
    filt = build_gpu_buffers(asset, tile=asset.tile_size, filter_max_var=1.0)
    assert filt.index.offsets[-1] >= full.offsets[-1]


def test_tile_ids_pack_at_the_narrowest_width():
    """Entry j is ID_BITS bits at bit j * ID_BITS, plus a padding word; the default width is
    the fewest bits that address every Gaussian."""
    from texgs.runtime import default_id_bits, pack_tile_ids

    assert [default_id_bits(n) for n in (1, 2, 3, 4096, 4097, 65536, 65537)] == \
        [1, 1, 2, 12, 13, 16, 17]
    rng = np.random.default_rng(5)
    for bits in (1, 5, 12, 16, 17, 31, 32):
        ids = rng.integers(0, 1 << bits, 77, dtype=np.int64)
        words = pack_tile_ids(ids, bits)
        assert words.dtype == np.uint32 and words.shape == ((77 * bits + 31) // 32 + 1,)
        assert words[-1] == 0
        stream = int.from_bytes(words.astype("<u4").tobytes(), "little")
        got = [(stream >> (j * bits)) & ((1 << bits) - 1) for j in range(77)]
        assert got == ids.tolist(), bits
    asset = _random_asset(3, 40, 40, 300, 0, 5)
    assert build_gpu_buffers(asset).id_bits == 9
    with pytest.raises(ValueError):
        build_gpu_buffers(asset, id_bits=8)


def test_numpy_decoder_matches_torch_renderer_on_random_assets():
    """Decoder vs the baker's renderer on quantized random Gaussians: within 1e-4."""
    torch = pytest.importorskip("torch")
    from texgs.bake.render import render

    rng = np.random.default_rng(42)
    for trial in range(3):
        w, h, c = 50 + trial * 13, 37 + trial * 5, 3
        n = 120
        layout = fmt.RecordLayout(12, 8, 8, (8,) * c)
        fields = np.zeros((n, 5 + c), np.uint32)
        for col, bits in enumerate(layout.field_bits):
            fields[:, col] = rng.integers(0, 1 << bits, n)
        chans = [fmt.ChannelInfo(component=i, bits=8, lo=0.0, hi=1.0, fallback=0.5)
                 for i in range(c)]
        asset = fmt.read_asset(fmt.write_asset(fmt.Asset(
            width=w, height=h, channels=chans, layout=layout, log2_scale_min=-1.0,
            log2_scale_max=3.0, fields=fields, lod_counts=[60, 60], top_k=5,
            address_x=trial % 2, address_y=trial % 2)))
        g = dequantize(asset)
        ref = render(torch.from_numpy(g.means), torch.from_numpy(g.conics),
                     torch.from_numpy(g.colors), torch.from_numpy(g.fallback), w, h, 5,
                     asset.tile_size, g.repeat_x, g.repeat_y)
        assert np.abs(decode_texture(asset) - ref.numpy()).max() <= 1e-4


def test_set_maps_decode_at_their_own_size_and_encoding():
    """The material-set golden case: each map at its own size matches its golden file; the
    normal map is rebuilt to unit length from stored x, y; constant channels hold their value;
    a map decoded at half size equals the all-channel decode sampled at that size."""
    from texgs.decode import decode_maps

    asset, _ = _golden("set_mixed")
    maps = decode_maps(asset)
    assert [m.shape for m in maps] == [(24, 32, 4), (12, 16, 4), (24, 32, 3)]
    for i, img in enumerate(maps):
        # as the other golden checks: NumPy's exp differs by an ulp between its AVX2 and
        # AVX-512 code paths, so the files hold to 1e-6, not to the bit
        np.testing.assert_allclose(img, np.load(GOLDEN / f"set_mixed.map{i}.npy"), atol=1e-6,
                                   rtol=0)
    n = maps[1][..., :3] * 2 - 1
    np.testing.assert_allclose(np.linalg.norm(n, axis=-1), 1.0, atol=1e-5)
    assert (n[..., 2] >= 0).all()
    np.testing.assert_array_equal(maps[1][..., 3], 1.0)
    np.testing.assert_array_equal(maps[2][..., 1:], 0.0)
    # x, y of the normal map are the blended channels themselves where they lie in the disc
    raw = decode_texture(asset, size=(16, 12))[..., 4:6]
    inside = ((raw * 2 - 1) ** 2).sum(-1) <= 1
    assert inside.mean() > 0.5
    np.testing.assert_allclose(maps[1][..., :2][inside], raw[inside], atol=1e-6)
