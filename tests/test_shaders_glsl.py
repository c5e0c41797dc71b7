"""The GLSL runtime executed on OpenGL 4.3 (Mesa llvmpipe here) against the NumPy reference:
compute and fragment paths, plain RGB, RGBA, grey, repeat and clamp, LOD prefixes, resized
output, 16- and 32-bit tile ids, a real baked texture, material-set maps decoded at their own
size and finished in the shader, and the colour/normal helpers."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import reach_checks
import tile_decode_checks

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
    bufs = build_gpu_buffers(asset)
    counts = bufs.index.counts()
    tile = int(bufs.meta[layout.META_TILE])
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
        bufs = build_gpu_buffers(asset, tile=tile, prune=False)
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


# --- material sets ---------------------------------------------------------------------------

def _log2_set():
    """set_mixed with its gloss map stored in log2 (HDR): one stored and one 0-bit log2
    channel, so the shader's log2 finish runs on blended and on constant values."""
    import dataclasses

    asset = fmt.read_asset_file(GOLDEN / "set_mixed.tgs")
    chans = list(asset.channels)
    chans[8] = dataclasses.replace(chans[8], encoding=fmt.ENCODING_LOG2, lo=-10.0, hi=4.0,
                                   fallback=-2.0)
    chans[9] = dataclasses.replace(chans[9], encoding=fmt.ENCODING_LOG2, lo=-3.0, hi=-3.0,
                                   fallback=-3.0)
    return fmt.read_asset(fmt.write_asset(dataclasses.replace(asset, channels=chans, lods=[])))


@pytest.mark.parametrize("path", ["compute", "fragment"])
def test_set_maps_decoded_at_their_own_size_and_finished_match_golden(gl, path):
    """Every map of set_mixed on the GPU at its own size (the normal map at half size), with
    the map finish applied in the shader (normal z rebuilt from x, y): the golden maps."""
    asset = fmt.read_asset_file(GOLDEN / "set_mixed.tgs")
    for i, m in enumerate(asset.map_table()):
        ref = np.load(GOLDEN / f"set_mixed.map{i}.npy")
        got = gl.decode_map(asset, i, path=path)
        assert got.shape == ref.shape == (m.height, m.width, m.channel_count)
        err = float(np.abs(got - ref).max())
        assert err <= TOL, (i, err)
        assert err < 1e-4, (i, err)  # the same float32 math
    # without finish words the decode is unchanged (every channel as blended)
    full = np.load(GOLDEN / "set_mixed.lod3.npy")
    plain = gl.decode_compute(asset)[0] if path == "compute" else gl.decode_fragment(asset)
    assert np.abs(plain - full).max() < 1e-4


def test_set_map_with_log2_channels_is_finished_to_linear(gl):
    from texgs.decode import decode_maps

    asset = _log2_set()
    ref = decode_maps(asset)[2]
    got = gl.decode_map(asset, 2)
    assert ref[..., 1].min() > 0.1  # the 0-bit log2 channel: 2^-3 - 2^-10 everywhere
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)


HELPERS_MAIN = """
layout(std430, binding = 0) readonly buffer In { vec4 inputs[]; };
layout(std430, binding = 1) buffer Out { float outputs[]; };
uniform uint count;
void main() {
    uint i = gl_GlobalInvocationID.x;
    if (i >= count) return;
    vec4 a = inputs[i];  // (s, v, x, y)
    uint o = 12u * i;
    outputs[o + 0u] = texgs_srgb_to_linear(vec3(a.x, 0.5, a.x)).z;
    outputs[o + 1u] = texgs_srgb_to_linear(a.x);
    outputs[o + 2u] = texgs_log2_to_linear(a.y);
    vec3 n = texgs_unpack_normal(a.z, a.w);
    outputs[o + 3u] = n.x;
    outputs[o + 4u] = n.y;
    outputs[o + 5u] = n.z;
    // a normal map whose component 3 is log2
    vec4 f = texgs_finish_map(vec4(a.z, a.w, a.x, a.y), TEXGS_MAP_FLAG_NORMAL_Z, 8u);
    outputs[o + 6u] = f.x;
    outputs[o + 7u] = f.y;
    outputs[o + 8u] = f.z;
    outputs[o + 9u] = f.w;
    outputs[o + 10u] = 0.0;
    outputs[o + 11u] = 0.0;
}
"""


def helper_inputs() -> np.ndarray:
    """float32 [N, 4] (s, v, x, y): sRGB values across both pieces of the curve (the
    threshold itself included), log2 values from far below the offset to HDR, encoded
    normal x, y inside and outside the unit disc."""
    rng = np.random.default_rng(7)
    n = 512
    s = np.linspace(-0.05, 1.25, n).astype(np.float32)
    s[:4] = [0.0, 0.04045, np.nextafter(np.float32(0.04045), np.float32(1)), 1.0]
    v = np.linspace(-16.0, 15.0, n).astype(np.float32)
    xy = rng.uniform(-0.05, 1.05, (n, 2)).astype(np.float32)
    xy[:4] = [[0.5, 0.5], [1.0, 0.5], [0.0, 0.0], [0.85, 0.85]]
    return np.column_stack([s, v, xy]).astype(np.float32)


def helper_reference(a: np.ndarray) -> dict[str, np.ndarray]:
    """The NumPy values the helper shaders must give (texgs.decode.finish_map for the map)."""
    from types import SimpleNamespace

    from texgs.decode import finish_map

    f32 = np.float32
    s, v = a[:, 0], a[:, 1]
    srgb = np.where(s <= f32(0.04045), s / f32(12.92),
                    np.power((s + f32(0.055)) / f32(1.055), f32(2.4))).astype(f32)
    log2 = np.maximum(np.exp2(v) - f32(fmt.LOG2_OFFSET), f32(0)).astype(f32)
    chans = [SimpleNamespace(encoding=e) for e in (0, 0, 0, fmt.ENCODING_LOG2)]
    m = fmt.MapInfo(fmt.MAP_NORMAL, 1, 1, 0, 4, fmt.MAP_FLAG_NORMAL_Z)
    fin = finish_map(m, SimpleNamespace(channels=chans), a[:, [2, 3, 0, 1]])
    normal = fin[:, :3] * f32(2) - f32(1)
    return {"srgb": srgb, "log2": log2, "normal": normal, "finish": fin}


def check_helpers(out: np.ndarray, a: np.ndarray) -> None:
    """Compare the helper shader's outputs [N, 12] with NumPy."""
    ref = helper_reference(a)
    np.testing.assert_allclose(out[:, 0], ref["srgb"], rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(out[:, 1], ref["srgb"], rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(out[:, 2], ref["log2"], rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(out[:, 3:6], ref["normal"], rtol=0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(out[:, 3:6], axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(out[:, 6:10], ref["finish"], rtol=1e-5, atol=1e-6)


def test_color_and_normal_helpers_match_numpy(gl):
    """texgs_srgb_to_linear (vec3 and float), texgs_log2_to_linear, texgs_unpack_normal and
    texgs_finish_map (normal and log2 at once) against NumPy, within 1e-5 relative."""
    from texgs.glsl_runner import SHADER_DIR

    src = "\n".join([
        "#version 430", "layout(local_size_x = 64) in;", layout.HEADER_PATH.read_text(),
        "uint texgs_load_meta(uint i) { return 0u; }",
        "uint texgs_load_record(uint i) { return 0u; }",
        "uint texgs_load_tile_offset(uint i) { return 0u; }",
        "uint texgs_load_tile_ids(uint i) { return 0u; }",
        (SHADER_DIR / "glsl" / "texgs_sample.glsl").read_text(), HELPERS_MAIN])
    a = helper_inputs()
    n = a.shape[0]
    with gl.ctx:  # current, whatever context an earlier test made
        cs = gl.ctx.compute_shader(src)
        b_in = gl.ctx.buffer(a.tobytes())
        b_out = gl.ctx.buffer(reserve=n * 12 * 4)
        b_in.bind_to_storage_buffer(0)
        b_out.bind_to_storage_buffer(1)
        cs["count"] = n
        cs.run((n + 63) // 64)
        out = np.frombuffer(b_out.read(), np.float32).reshape(n, 12).copy()
        for obj in (b_in, b_out, cs):
            obj.release()
    check_helpers(out, a)



@pytest.mark.parametrize("name", tile_decode_checks.GOLDEN_NAMES)
def test_tile_cooperative_decode_equals_per_texel_decode(gl, name):
    """texgs_decode_tiles.comp: see tile_decode_checks.check_equals_per_texel_decode."""
    tile_decode_checks.check_equals_per_texel_decode(gl, name)


def test_tile_cooperative_decode_of_a_bake_and_a_finished_map(gl):
    """texgs_decode_tiles.comp: see tile_decode_checks.check_bake_and_finished_map."""
    tile_decode_checks.check_bake_and_finished_map(gl)


@pytest.mark.parametrize("name", tile_decode_checks.GOLDEN_NAMES)
def test_rice_and_fixed_lists_decode_the_same_bits(gl, name):
    """The two codings of the tile lists (docs/RUNTIME.md "Tile index") hold the same ids, so
    the per-texel and the tile-cooperative decodes give the same bits with either, at every
    LOD prefix; small tiles and batches of 3 make a Rice list span several batches."""
    asset = fmt.read_asset_file(GOLDEN / f"{name}.tgs")
    for lod in range(1, len(asset.lod_counts) + 1):
        ref = np.load(GOLDEN / f"{name}.lod{lod}.npy")
        for tile in (16, 4):
            got = [gl.decode_compute(asset, lod=lod, tile=tile, coding=c)
                   for c in (layout.INDEX_CODING_RICE, layout.INDEX_CODING_FIXED)]
            np.testing.assert_array_equal(got[0][0], got[1][0])
            np.testing.assert_array_equal(got[0][1], got[1][1])
            assert np.abs(got[0][0] - ref).max() < 1e-4
        for tile, batch in ((16, 256), (8, 3)):
            per_texel, _ = gl.decode_compute(asset, lod=lod, tile=tile,
                                             coding=layout.INDEX_CODING_FIXED)
            for c in (layout.INDEX_CODING_RICE, layout.INDEX_CODING_FIXED):
                vals, _ = gl.decode_tiles(asset, lod=lod, tile=tile, batch=batch, coding=c)
                np.testing.assert_array_equal(vals, per_texel)


def test_tile_decode_cull_is_conservative_for_needle_thin_gaussians(gl):
    """Sigmas 2^-9 to 2^3 texels (format-valid), where a c - b^2 cancels in float32 and the
    block cull's box relies on its margins for the rounding of det and of q: the tile decode
    equals the per-texel decode bit for bit, at two block sizes, clamp and repeat."""
    from test_decode import _random_asset

    for seed in range(4):
        asset = _random_asset(seed, 64, 64, 300, seed % 2, 8, smin=-9.0, smax=3.0)
        per_texel, _ = gl.decode_compute(asset, tile=32)
        for block in (8, 4):
            vals, _ = gl.decode_tiles(asset, tile=32, block=block)
            np.testing.assert_array_equal(vals, per_texel)


@pytest.mark.parametrize("name", reach_checks.GOLDEN_NAMES)
def test_reach_test_rebuilds_the_conics_numpy_says(gl, name):
    """texgs_sample.glsl: see reach_checks.check_reached_counts_match_numpy."""
    from texgs.glsl_runner import GlslDecoder

    reach_checks.check_reached_counts_match_numpy(GlslDecoder, name)


def test_reach_test_changes_no_decoded_value(gl):
    """texgs_sample.glsl: see reach_checks.check_reach_test_changes_no_value."""
    from texgs.glsl_runner import GlslDecoder

    reach_checks.check_reach_test_changes_no_value(GlslDecoder)


def test_exact_k_build_gives_the_same_bits(gl):
    """texgs_sample.glsl, texgs_decode_tiles.comp: see
    tile_decode_checks.check_exact_k_build_gives_same_bits."""
    from texgs.glsl_runner import GlslDecoder

    tile_decode_checks.check_exact_k_build_gives_same_bits(GlslDecoder)
