"""The GLSL runtime executed on OpenGL 4.3 (Mesa llvmpipe here) against the NumPy reference:
compute and fragment paths, plain RGB, RGBA, grey, repeat and clamp, LOD prefixes, resized
output, 16- and 32-bit tile ids, and a real baked texture."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from texgs import format as fmt
from texgs import layout
from texgs.decode import decode_texture

GOLDEN = Path(__file__).parent / "golden"
TOL = 1.0 / 255.0

moderngl = pytest.importorskip("moderngl")


@pytest.fixture(scope="module")
def gl():
    from texgs.glsl_runner import GlslDecoder

    try:
        return GlslDecoder()
    except Exception as e:  # no EGL / OpenGL 4.3 driver on this machine
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no OpenGL 4.3 context: {e}")


def test_layout_header_is_generated_from_python():
    assert layout.HEADER_PATH.read_text() == layout.render_header()


@pytest.mark.parametrize("name", sorted(p.stem for p in GOLDEN.glob("*.tgs")))
def test_compute_and_fragment_match_reference_on_golden(gl, name):
    asset = fmt.read_asset_file(GOLDEN / f"{name}.tgs")
    for lod in range(1, len(asset.lod_counts) + 1):
        ref = np.load(GOLDEN / f"{name}.lod{lod}.npy")
        comp, cand = gl.decode_compute(asset, lod=lod)
        frag = gl.decode_fragment(asset, lod=lod)
        assert np.abs(comp - ref).max() <= TOL
        assert np.abs(frag - ref).max() <= TOL
        # far tighter in practice: the same float32 math
        assert np.abs(comp - ref).max() < 1e-4


def test_resized_output_and_other_tile_sizes(gl):
    asset = fmt.read_asset_file(GOLDEN / "rgba_repeat.tgs")
    ref = decode_texture(asset, size=(57, 23))
    comp, _ = gl.decode_compute(asset, size=(57, 23))
    frag = gl.decode_fragment(asset, size=(57, 23))
    assert np.abs(comp - ref).max() < 1e-4 and np.abs(frag - ref).max() < 1e-4
    full = decode_texture(asset)
    for tile, id_bits in ((4, 16), (32, 16), (16, 32)):
        comp, _ = gl.decode_compute(asset, tile=tile, id_bits=id_bits)
        assert np.abs(comp - full).max() < 1e-4


def test_candidates_reported_by_the_shader_match_the_tile_index(gl):
    from texgs.runtime import build_gpu_buffers

    asset = fmt.read_asset_file(GOLDEN / "rgb_clamp.tgs")
    _, cand = gl.decode_compute(asset)
    counts = build_gpu_buffers(asset).index.counts()
    tile = asset.tile_size
    expect = np.repeat(np.repeat(counts, tile, 0), tile, 1)[:asset.height, :asset.width]
    np.testing.assert_array_equal(cand, expect)


def test_baked_texture_matches_reference(gl, tmp_path):
    """A real bake of a sample texture (8-bit output within 1/255 everywhere)."""
    pytest.importorskip("torch")
    from conftest import sample_crop
    from texgs.bake import BakeConfig, bake_array
    from texgs.images import channel_infos_for

    img = sample_crop("sign", 96, 80, 80)
    res = bake_array(img, channel_infos_for(3), BakeConfig(steps=40, bpp=2.0, repeat_x=True))
    asset = res.asset
    ref = decode_texture(asset)
    for lod in (2, None):
        ref = decode_texture(asset, lod=lod)
        comp, _ = gl.decode_compute(asset, lod=lod)
        frag = gl.decode_fragment(asset, lod=lod)
        to8 = lambda x: np.round(np.clip(x, 0, 1) * 255)  # noqa: E731
        assert np.abs(to8(comp) - to8(ref)).max() <= 1
        assert np.abs(to8(frag) - to8(ref)).max() <= 1


@pytest.mark.parametrize("name", sorted(p.stem for p in GOLDEN.glob("*.tgs")))
def test_gpu_built_tile_index_equals_reference_index(gl, name):
    """texgs_build_index.comp: the same lists as texgs.runtime (as sets; order is free on
    the GPU) and the same decoded texels."""
    from texgs.runtime import build_gpu_buffers

    asset = fmt.read_asset_file(GOLDEN / f"{name}.tgs")
    for tile in (4, 8, 16):
        bufs = build_gpu_buffers(asset, tile=tile)
        offsets, ids = gl.build_index(bufs)
        np.testing.assert_array_equal(offsets.astype(np.int64), bufs.index.offsets)
        for t in range(offsets.shape[0] - 1):
            assert sorted(ids[offsets[t]:offsets[t + 1]].tolist()) == \
                bufs.index.candidates(t).tolist()
    comp, _ = gl.decode_compute(asset, gpu_index=True)
    assert np.abs(comp - decode_texture(asset)).max() < 1e-4


@pytest.mark.parametrize("name", ["rgb_clamp", "rgba_repeat"])
@pytest.mark.parametrize("factor", [2, 4])
def test_filtered_minification_matches_reference_and_tracks_box_filter(gl, name, factor):
    """Filtered (footprint-widened) decode at 1/factor size: the GLSL compute path equals
    the NumPy reference, and both are closer to a box-filtered downsample of the full decode
    than point sampling at the same size is."""
    asset = fmt.read_asset_file(GOLDEN / f"{name}.tgs")
    w, h = asset.width // factor, asset.height // factor
    full = decode_texture(asset)
    box = full.reshape(h, factor, w, factor, -1).mean((1, 3))
    ref = decode_texture(asset, size=(w, h), filtered=True)
    comp, _ = gl.decode_compute(asset, size=(w, h), filtered=True)
    assert np.abs(comp - ref).max() < 1e-4
    point = decode_texture(asset, size=(w, h))
    err_filtered = np.mean((ref - box) ** 2)
    err_point = np.mean((point - box) ** 2)
    assert err_filtered < err_point
    assert -10 * np.log10(err_filtered) > 28.0


def test_plane_example_renders_and_filtering_removes_aliasing(gl):
    """samples/render_plane.py on a tiling golden asset: both renders cover the plane, and
    the filtered one has far less texel-to-texel energy near the horizon (aliasing)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "render_plane", Path(__file__).resolve().parents[1] / "samples" / "render_plane.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    asset = fmt.read_asset_file(GOLDEN / "rgba_repeat.tgs")
    imgs = mod.render(asset, size=(320, 180), uv_repeat=24.0)
    far = slice(95, 115)  # rows just below the horizon, strongly minified
    energy = {k: np.abs(np.diff(v[far], axis=1)).mean() for k, v in imgs.items()}
    assert energy["filtered"] < 0.6 * energy["unfiltered"], energy
    near = imgs["filtered"][170:]
    assert np.abs(near - imgs["unfiltered"][170:]).mean() < 0.05  # close up: nearly the same
