"""The NumPy reference decoder: golden vectors, agreement with the torch renderers, UV
sampling, address modes, LOD prefixes and the value where no Gaussian reaches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from texgs import format as fmt
from texgs.decode import decode_texture, decode_uv
from texgs.runtime import build_tile_index, dequantize

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
        np.testing.assert_array_equal(img, np.load(GOLDEN / f"set_mixed.map{i}.npy"))
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
