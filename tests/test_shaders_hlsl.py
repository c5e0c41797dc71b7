"""The HLSL runtime compiled to SPIR-V by glslang and executed on Vulkan (Mesa lavapipe here)
through wgpu, against the NumPy reference: compute and pixel-shader paths, plain RGB, RGBA,
grey, repeat and clamp, LOD prefixes, resized output, 16- and 32-bit tile ids, candidate
counts, filtered minification, the UV entry point, a real baked texture, the GPU tile-index
builder, material-set maps decoded at their own size and finished in the shader, the
colour/normal helpers, both codings of the tile lists (fixed-width and Rice) giving the same
bits, and every HLSL file compiling to valid SPIR-V.

Without wgpu, a Vulkan device, glslangValidator or spirv-val the tests skip, naming what is
missing; with the environment variable CI set they fail instead."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import reach_checks
import tile_decode_checks

from texgs import format as fmt
from texgs.decode import decode_texture

GOLDEN = Path(__file__).parent / "golden"
HLSL_DIR = Path(__file__).resolve().parents[1] / "engine_shaders" / "hlsl"
TOL = 1.0 / 255.0
STAGE_OF = {"_cs": "comp", "_ps": "frag", "_vs": "vert"}


def _unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"HLSL runtime unavailable under CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def tools():
    for tool, pkg in (("glslangValidator", "glslang-tools"), ("spirv-val", "spirv-tools")):
        if shutil.which(tool) is None:
            _unavailable(f"{tool} not installed (apt-get install {pkg})")


@pytest.fixture(scope="module")
def hl(tools):
    try:
        import wgpu  # noqa: F401
    except ImportError as e:
        _unavailable(f"wgpu not installed: {e}")
    from texgs.hlsl_runner import HlslDecoder

    try:
        return HlslDecoder()
    except Exception as e:  # no Vulkan driver (lavapipe) on this machine
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no Vulkan device for wgpu: {e}")


def _stage(path: Path) -> str:
    for suffix, stage in STAGE_OF.items():
        if path.stem.endswith(suffix):
            return stage
    raise AssertionError(f"{path.name}: name does not say its stage (_cs, _ps or _vs)")


# A compute shader that uses the library's UV entry points, texgs_sample(uv) or (TEST_GRAD)
# texgs_sample_grad(uv, ddx, ddy), with the same bindings as texgs_decode_cs.hlsl.
UV_WRAPPER = r"""
#include "texgs_sample.hlsli"
[[vk::binding(0, 0)]] StructuredBuffer<uint> m0;
[[vk::binding(1, 0)]] StructuredBuffer<uint> m1;
[[vk::binding(2, 0)]] StructuredBuffer<uint> m2;
[[vk::binding(3, 0)]] StructuredBuffer<uint> m3;
[[vk::binding(4, 0)]] RWStructuredBuffer<float> out_values;
[[vk::binding(5, 0)]] RWStructuredBuffer<uint> out_candidates;
[[vk::binding(6, 0)]] cbuffer Params { uint2 out_size; float filter_var; uint pad; };
[numthreads(8, 8, 1)]
void main(uint3 gid : SV_DispatchThreadID) {
    if (gid.x >= out_size.x || gid.y >= out_size.y) return;
    float2 uv = ((float2)gid.xy + 0.5f) / (float2)out_size;
    float r[TEXGS_MAX_CHANNELS];
#ifdef TEST_GRAD  // the UV derivatives of a pixel of the output grid
    float2 px = 1.0f / (float2)out_size;
    uint n = texgs_sample_grad(m0, m1, m2, m3, uv, float2(px.x, 0.0f), float2(0.0f, px.y), r);
#else
    uint n = texgs_sample(m0, m1, m2, m3, uv, r);
#endif
    uint base = (gid.y * out_size.x + gid.x) * n;
    for (uint c = 0u; c < n; ++c) out_values[base + c] = r[c];
    out_candidates[gid.y * out_size.x + gid.x] = 0u;
}
"""


def _uv_wrapper(tmp_path: Path) -> Path:
    p = tmp_path / "texgs_uv_cs.hlsl"
    p.write_text(UV_WRAPPER)
    return p


def test_every_hlsl_file_compiles_and_validates(tools, tmp_path):
    from texgs.hlsl_runner import compile_hlsl

    files = sorted(HLSL_DIR.glob("*.hlsl"))
    assert {f.name for f in files} >= {"texgs_decode_cs.hlsl", "texgs_decode_ps.hlsl",
                                       "fullscreen_vs.hlsl"}
    for f in files:
        spirv = compile_hlsl(f, _stage(f))  # spirv-val runs inside; raises if invalid
        assert spirv[:4] == b"\x03\x02\x23\x07"
    # the library has no entry point of its own: compile it through a small wrapper, with the
    # default array sizes and others
    headers = sorted(HLSL_DIR.glob("*.hlsli"))
    assert [h.name for h in headers] == ["texgs_sample.hlsli"]
    wrapper = _uv_wrapper(tmp_path)
    for defines in ({}, {"TEXGS_MAX_K": 32, "TEXGS_MAX_CHANNELS": 4}, {"TEXGS_MAX_K": 1},
                    {"TEST_GRAD": 1}):
        compile_hlsl(wrapper, "comp", defines=defines, include_dirs=[HLSL_DIR])


def test_library_declares_no_resources_and_prefixes_its_symbols():
    import re

    text = (HLSL_DIR / "texgs_sample.hlsli").read_text()
    code = re.sub(r"//[^\n]*", "", text)
    assert "register(" not in code and "vk::binding" not in code and "cbuffer" not in code
    funcs = re.findall(r"^\s*(?:uint|float|float2|float3|void|bool)\s+(\w+)\s*\(", code, re.M)
    assert funcs and all(f.startswith("texgs_") for f in funcs), funcs
    macros = re.findall(r"^\s*#define\s+(\w+)", code, re.M)
    assert all(m.startswith("TEXGS_") for m in macros), macros


@pytest.mark.parametrize("name", sorted(p.stem for p in GOLDEN.glob("*.tgs")))
def test_compute_and_fragment_match_reference_on_golden(hl, name):
    asset = fmt.read_asset_file(GOLDEN / f"{name}.tgs")
    for lod in range(1, len(asset.lod_counts) + 1):
        ref = np.load(GOLDEN / f"{name}.lod{lod}.npy")
        comp, cand = hl.decode_compute(asset, lod=lod)
        frag = hl.decode_fragment(asset, lod=lod)
        assert comp.shape == ref.shape and frag.shape == ref.shape
        assert np.abs(comp - ref).max() <= TOL
        assert np.abs(frag - ref).max() <= TOL
        # far tighter in practice: the same float32 math
        assert np.abs(comp - ref).max() < 1e-4
        assert np.abs(frag - ref).max() < 1e-4


def test_resized_output_and_other_tile_sizes(hl):
    asset = fmt.read_asset_file(GOLDEN / "rgba_repeat.tgs")
    ref = decode_texture(asset, size=(57, 23))
    comp, _ = hl.decode_compute(asset, size=(57, 23))
    frag = hl.decode_fragment(asset, size=(57, 23))
    assert comp.shape == (23, 57, 4) and frag.shape == (23, 57, 4)
    assert np.abs(comp - ref).max() < 1e-4 and np.abs(frag - ref).max() < 1e-4
    full = decode_texture(asset)
    for tile, id_bits in ((4, 16), (32, 16), (4, 32), (32, 32), (16, 32)):
        comp, _ = hl.decode_compute(asset, tile=tile, id_bits=id_bits)
        assert np.abs(comp - full).max() < 1e-4, (tile, id_bits)


def test_uv_entry_points_match_reference(hl, tmp_path):
    """texgs_sample(uv) (the engine-facing call) at native and at another size, and
    texgs_sample_grad with one output pixel's UV derivatives = the filtered decode."""
    from texgs.hlsl_runner import compile_hlsl

    wrapper = _uv_wrapper(tmp_path)
    pipe = hl.compute_pipeline(compile_hlsl(wrapper, "comp", include_dirs=[HLSL_DIR]))
    grad = hl.compute_pipeline(compile_hlsl(wrapper, "comp", defines={"TEST_GRAD": 1},
                                            include_dirs=[HLSL_DIR]))
    for name in ("rgb_clamp", "rgba_repeat"):
        asset = fmt.read_asset_file(GOLDEN / f"{name}.tgs")
        for size in (None, (19, 41)):
            ref = decode_texture(asset, size=size)
            vals, _ = hl.decode_compute(asset, size=size, pipeline=pipe)
            assert np.abs(vals - ref).max() < 1e-4
        size = (asset.width // 3, asset.height // 3)
        ref = decode_texture(asset, size=size, filtered=True)
        vals, _ = hl.decode_compute(asset, size=size, filtered=True, pipeline=grad)
        assert np.abs(vals - ref).max() < 1e-4


@pytest.mark.parametrize("name", ["rgb_clamp", "rgba_repeat"])
@pytest.mark.parametrize("factor", [2, 4])
def test_filtered_minification_matches_reference(hl, name, factor):
    """Filtered (footprint-widened) decode at 1/factor size equals the NumPy reference."""
    asset = fmt.read_asset_file(GOLDEN / f"{name}.tgs")
    w, h = asset.width // factor, asset.height // factor
    ref = decode_texture(asset, size=(w, h), filtered=True)
    comp, _ = hl.decode_compute(asset, size=(w, h), filtered=True)
    assert np.abs(comp - ref).max() < 1e-4
    # and it is not the point-sampled result
    assert np.abs(ref - decode_texture(asset, size=(w, h))).max() > 1e-3


def test_candidates_reported_by_the_shader_match_the_tile_index(hl):
    from texgs.runtime import build_gpu_buffers

    for name in ("rgb_clamp", "gray_repeat_x"):
        asset = fmt.read_asset_file(GOLDEN / f"{name}.tgs")
        for tile in (None, 4):
            _, cand = hl.decode_compute(asset, tile=tile)
            index = build_gpu_buffers(asset, tile=tile).index
            t = index.tile
            expect = np.repeat(np.repeat(index.counts(), t, 0), t, 1)
            np.testing.assert_array_equal(cand, expect[:asset.height, :asset.width])


def test_baked_texture_matches_reference(hl):
    """A real bake of a sample texture (8-bit output within 1/255 everywhere)."""
    pytest.importorskip("torch")
    from conftest import sample_crop
    from texgs.bake import BakeConfig, bake_array
    from texgs.images import channel_infos_for

    img = sample_crop("sign", 96, 80, 80)
    res = bake_array(img, channel_infos_for(3), BakeConfig(steps=40, bpp=2.0, repeat_x=True))
    asset = res.asset
    to8 = lambda x: np.round(np.clip(x, 0, 1) * 255)  # noqa: E731
    for lod in (2, None):
        ref = decode_texture(asset, lod=lod)
        comp, _ = hl.decode_compute(asset, lod=lod)
        frag = hl.decode_fragment(asset, lod=lod)
        assert np.abs(to8(comp) - to8(ref)).max() <= 1
        assert np.abs(to8(frag) - to8(ref)).max() <= 1
        assert np.abs(comp - ref).max() < 1e-4 and np.abs(frag - ref).max() < 1e-4


def _assert_same_index(offsets: np.ndarray, ids: np.ndarray, index) -> None:
    """A GPU-built index equals the reference one: the same offsets and, tile by tile, the
    same ids (as sorted lists, so a duplicate id would fail; order is free on the GPU)."""
    assert offsets.dtype == np.uint32 and ids.dtype == np.uint32
    np.testing.assert_array_equal(offsets.astype(np.int64), index.offsets)
    assert ids.shape == (int(index.offsets[-1]),)
    for t in range(offsets.shape[0] - 1):
        assert sorted(ids[offsets[t]:offsets[t + 1]].tolist()) == \
            index.candidates(t).tolist(), t


@pytest.mark.parametrize("name", sorted(p.stem for p in GOLDEN.glob("*.tgs")))
def test_gpu_built_tile_index_equals_reference_index(hl, name):
    """texgs_build_index_cs.hlsl: the same lists as texgs.runtime (as sets; order is free
    on the GPU) and the same decoded texels. The repeating golden assets have Gaussians
    whose box wraps into two pieces and others whose two pieces meet (each tile once)."""
    from texgs.runtime import build_gpu_buffers

    asset = fmt.read_asset_file(GOLDEN / f"{name}.tgs")
    for tile in (4, 8, 16):
        bufs = build_gpu_buffers(asset, tile=tile, prune=False)
        offsets, ids = hl.build_index(bufs)
        _assert_same_index(offsets, ids, bufs.index)
    comp, _ = hl.decode_compute(asset, gpu_index=True)
    assert np.abs(comp - decode_texture(asset)).max() < 1e-4
    comp, _ = hl.decode_compute(asset, tile=4, gpu_index=True)
    assert np.abs(comp - decode_texture(asset)).max() < 1e-4


def test_gpu_built_tile_index_with_filter_padding_and_many_tiles(hl):
    """FILTER_MAX_VAR > 0 pads every box by 3 sqrt(F) as the reference built with the same
    value does; 1-texel tiles give more tiles than the scan group has threads (each thread
    scans a run); a filtered decode through a GPU-built index equals the reference."""
    from texgs.runtime import build_gpu_buffers

    for name in ("rgb_clamp", "rgba_repeat", "gray_repeat_x"):
        asset = fmt.read_asset_file(GOLDEN / f"{name}.tgs")
        padded = build_gpu_buffers(asset, tile=asset.tile_size, filter_max_var=1.25)
        offsets, ids = hl.build_index(padded)
        _assert_same_index(offsets, ids, padded.index)
        plain = build_gpu_buffers(asset, tile=asset.tile_size)
        assert offsets[-1] > plain.index.offsets[-1]  # padding matters
        fine = build_gpu_buffers(asset, tile=1, prune=False)
        assert fine.index.tiles_x * fine.index.tiles_y > 256
        _assert_same_index(*hl.build_index(fine), fine.index)
    asset = fmt.read_asset_file(GOLDEN / "rgba_repeat.tgs")
    size = (asset.width // 2, asset.height // 2)
    comp, _ = hl.decode_compute(asset, size=size, filtered=True, gpu_index=True)
    assert np.abs(comp - decode_texture(asset, size=size, filtered=True)).max() < 1e-4


# --- material sets ---------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["compute", "fragment"])
def test_set_maps_decoded_at_their_own_size_and_finished_match_golden(hl, path):
    """Every map of set_mixed on the GPU at its own size (the normal map at half size), with
    the map finish applied in the shader (normal z rebuilt from x, y): the golden maps."""
    asset = fmt.read_asset_file(GOLDEN / "set_mixed.tgs")
    for i, m in enumerate(asset.map_table()):
        ref = np.load(GOLDEN / f"set_mixed.map{i}.npy")
        got = hl.decode_map(asset, i, path=path)
        assert got.shape == ref.shape == (m.height, m.width, m.channel_count)
        err = float(np.abs(got - ref).max())
        assert err <= TOL, (i, err)
        assert err < 1e-4, (i, err)  # the same float32 math
    # without finish words the decode is unchanged (every channel as blended)
    full = np.load(GOLDEN / "set_mixed.lod3.npy")
    plain = hl.decode_compute(asset)[0] if path == "compute" else hl.decode_fragment(asset)
    assert np.abs(plain - full).max() < 1e-4


def test_set_map_with_log2_channels_is_finished_to_linear(hl):
    """set_mixed with its gloss map stored in log2 (one stored, one 0-bit channel)."""
    import dataclasses

    from texgs.decode import decode_maps

    asset = fmt.read_asset_file(GOLDEN / "set_mixed.tgs")
    chans = list(asset.channels)
    chans[8] = dataclasses.replace(chans[8], encoding=fmt.ENCODING_LOG2, lo=-10.0, hi=4.0,
                                   fallback=-2.0)
    chans[9] = dataclasses.replace(chans[9], encoding=fmt.ENCODING_LOG2, lo=-3.0, hi=-3.0,
                                   fallback=-3.0)
    asset = fmt.read_asset(fmt.write_asset(dataclasses.replace(asset, channels=chans, lods=[])))
    ref = decode_maps(asset)[2]
    got = hl.decode_map(asset, 2)
    assert ref[..., 1].min() > 0.1  # the 0-bit log2 channel: 2^-3 - 2^-10 everywhere
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)


# texgs_srgb_to_linear, texgs_log2_to_linear, texgs_unpack_normal, texgs_finish_map on an
# input buffer (binding 0: float4 (s, v, x, y) per item) -> 12 floats per item (binding 4).
HELPERS_WRAPPER = r"""
#include "texgs_sample.hlsli"
[[vk::binding(0, 0)]] StructuredBuffer<float4> inputs;
[[vk::binding(4, 0)]] RWStructuredBuffer<float> outputs;
[[vk::binding(6, 0)]] cbuffer Params { uint count; uint pad0; uint pad1; uint pad2; };
[numthreads(64, 1, 1)]
void main(uint3 gid : SV_DispatchThreadID) {
    uint i = gid.x;
    if (i >= count) return;
    float4 a = inputs[i];
    uint o = 12u * i;
    outputs[o + 0u] = texgs_srgb_to_linear(float3(a.x, 0.5f, a.x)).z;
    outputs[o + 1u] = texgs_srgb_to_linear(a.x);
    outputs[o + 2u] = texgs_log2_to_linear(a.y);
    float3 n = texgs_unpack_normal(a.z, a.w);
    outputs[o + 3u] = n.x;
    outputs[o + 4u] = n.y;
    outputs[o + 5u] = n.z;
    // a normal map whose component 3 is log2
    float4 f = texgs_finish_map(float4(a.z, a.w, a.x, a.y), TEXGS_MAP_FLAG_NORMAL_Z, 8u);
    outputs[o + 6u] = f.x;
    outputs[o + 7u] = f.y;
    outputs[o + 8u] = f.z;
    outputs[o + 9u] = f.w;
    outputs[o + 10u] = 0.0f;
    outputs[o + 11u] = 0.0f;
}
"""


def _helper_inputs() -> np.ndarray:
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


def test_color_and_normal_helpers_match_numpy(hl, tmp_path):
    """texgs_srgb_to_linear (float3 and float), texgs_log2_to_linear, texgs_unpack_normal and
    texgs_finish_map (normal and log2 at once) against NumPy, within 1e-5 relative."""
    from types import SimpleNamespace

    from texgs.decode import finish_map
    from texgs.hlsl_runner import compile_hlsl

    p = tmp_path / "texgs_helpers_cs.hlsl"
    p.write_text(HELPERS_WRAPPER)
    pipe = hl.compute_pipeline(compile_hlsl(p, "comp", include_dirs=[HLSL_DIR]))
    a = _helper_inputs()
    n = a.shape[0]
    wgpu, d = hl.wgpu, hl.device
    b_in = d.create_buffer_with_data(data=a.tobytes(), usage=wgpu.BufferUsage.STORAGE)
    b_out = d.create_buffer(size=n * 12 * 4,
                            usage=wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_SRC)
    params = d.create_buffer_with_data(data=np.array([n, 0, 0, 0], "<u4").tobytes(),
                                       usage=wgpu.BufferUsage.UNIFORM)
    dummy = d.create_buffer(size=16, usage=wgpu.BufferUsage.STORAGE)  # read-only slots
    dummy_rw = d.create_buffer(size=16, usage=wgpu.BufferUsage.STORAGE)
    bufs = {0: b_in, 1: dummy, 2: dummy, 3: dummy, 4: b_out, 5: dummy_rw, 6: params}
    group = d.create_bind_group(layout=hl.cs_layout, entries=[
        {"binding": i, "resource": {"buffer": b, "offset": 0, "size": b.size}}
        for i, b in bufs.items()])
    enc = d.create_command_encoder()
    cp = enc.begin_compute_pass()
    cp.set_pipeline(pipe)
    cp.set_bind_group(0, group)
    cp.dispatch_workgroups((n + 63) // 64, 1, 1)
    cp.end()
    d.queue.submit([enc.finish()])
    out = np.frombuffer(d.queue.read_buffer(b_out), np.float32).reshape(n, 12).copy()
    for b in (b_in, b_out, params, dummy, dummy_rw):
        b.destroy()

    f32 = np.float32
    s, v = a[:, 0], a[:, 1]
    srgb = np.where(s <= f32(0.04045), s / f32(12.92),
                    np.power((s + f32(0.055)) / f32(1.055), f32(2.4))).astype(f32)
    log2 = np.maximum(np.exp2(v) - f32(fmt.LOG2_OFFSET), f32(0)).astype(f32)
    chans = [SimpleNamespace(encoding=e) for e in (0, 0, 0, fmt.ENCODING_LOG2)]
    m = fmt.MapInfo(fmt.MAP_NORMAL, 1, 1, 0, 4, fmt.MAP_FLAG_NORMAL_Z)
    fin = finish_map(m, SimpleNamespace(channels=chans), a[:, [2, 3, 0, 1]])
    np.testing.assert_allclose(out[:, 0], srgb, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(out[:, 1], srgb, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(out[:, 2], log2, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(out[:, 3:6], fin[:, :3] * f32(2) - f32(1), rtol=0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(out[:, 3:6], axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(out[:, 6:10], fin, rtol=1e-5, atol=1e-6)



@pytest.mark.parametrize("name", tile_decode_checks.GOLDEN_NAMES)
def test_tile_cooperative_decode_equals_per_texel_decode(hl, name):
    """texgs_decode_tiles_cs.hlsl: see tile_decode_checks.check_equals_per_texel_decode."""
    tile_decode_checks.check_equals_per_texel_decode(hl, name)


def test_tile_cooperative_decode_of_a_bake_and_a_finished_map(hl):
    """texgs_decode_tiles_cs.hlsl: see tile_decode_checks.check_bake_and_finished_map."""
    tile_decode_checks.check_bake_and_finished_map(hl)


# (tile, id bits, batch, colour cache, decode block) of the coding comparison: the asset's
# tile (None) and a small one, a 32-bit first id, batches of 3 (a Rice list spans several
# batches, thread 0 keeping its cursor across them) with and without the colour cache, and
# tiles holding several blocks (tile 32 with the default block of 8, tile 16 with blocks of
# 4: the group culls the tile's list to its block)
CODING_CASES = [(None, None, 256, 2048, None), (4, None, 256, 2048, None),
                (4, 32, 256, 2048, None), (8, None, 3, 2048, None), (8, None, 3, 8, None),
                (32, None, 256, 2048, None), (16, None, 256, 2048, 4), (16, None, 64, 512, None)]


@pytest.mark.parametrize("name", sorted(p.stem for p in GOLDEN.glob("*.tgs")))
def test_fixed_and_rice_tile_lists_decode_identically(hl, name):
    """Both codings of the tile lists (meta INDEX_CODING) through texgs_list_begin/next in
    the per-texel compute and pixel-shader decodes and through the tile-cooperative decode
    (FIXED read in parallel, RICE decoded by thread 0 batch by batch, then culled to the
    group's block): the same bits and candidates, for every LOD prefix, equal to the
    reference; the tile path equals the per-texel one. A block must divide the tile."""
    from texgs import layout
    from texgs.runtime import build_gpu_buffers

    fixed, rice = layout.INDEX_CODING_FIXED, layout.INDEX_CODING_RICE
    asset = fmt.read_asset_file(GOLDEN / f"{name}.tgs")
    longest = 0
    for lod in range(1, len(asset.lod_counts) + 1):
        ref = np.load(GOLDEN / f"{name}.lod{lod}.npy")
        frag = {c: hl.decode_fragment(asset, lod=lod, coding=c) for c in (fixed, rice)}
        np.testing.assert_array_equal(frag[fixed], frag[rice])
        assert np.abs(frag[rice] - ref).max() < 1e-4
        for tile, id_bits, batch, cache, block in CODING_CASES:
            bufs = build_gpu_buffers(asset, lod, tile, id_bits, coding=rice)
            assert bufs.meta[layout.META_INDEX_CODING] == rice
            longest = max(longest, int(bufs.index.counts().max()))
            per = {c: hl.decode_compute(asset, lod=lod, tile=tile, id_bits=id_bits, coding=c)
                   for c in (fixed, rice)}
            np.testing.assert_array_equal(per[fixed][0], per[rice][0])
            np.testing.assert_array_equal(per[fixed][1], per[rice][1])
            assert np.abs(per[rice][0] - ref).max() < 1e-4
            for c in (fixed, rice):
                vals, cand = hl.decode_tiles(asset, lod=lod, tile=tile, id_bits=id_bits,
                                             batch=batch, color_cache=cache, coding=c,
                                             block=block)
                np.testing.assert_array_equal(vals, per[c][0])
                np.testing.assert_array_equal(cand, per[c][1])
    assert longest > 3  # the batch-of-3 cases cross batch boundaries mid-list
    with pytest.raises(ValueError, match="does not divide"):
        hl.decode_tiles(asset, tile=16, block=3)


@pytest.mark.parametrize("name", reach_checks.GOLDEN_NAMES)
def test_reach_test_rebuilds_the_conics_numpy_says(hl, name):
    """texgs_sample.hlsli: see reach_checks.check_reached_counts_match_numpy."""
    from texgs.hlsl_runner import HlslDecoder

    reach_checks.check_reached_counts_match_numpy(HlslDecoder, name)


def test_reach_test_changes_no_decoded_value(hl):
    """texgs_sample.hlsli: see reach_checks.check_reach_test_changes_no_value."""
    from texgs.hlsl_runner import HlslDecoder

    reach_checks.check_reach_test_changes_no_value(HlslDecoder)


def test_exact_k_build_gives_the_same_bits(hl):
    """texgs_sample.hlsli, texgs_decode_tiles_cs.hlsl: see
    tile_decode_checks.check_exact_k_build_gives_same_bits."""
    from texgs.hlsl_runner import HlslDecoder

    tile_decode_checks.check_exact_k_build_gives_same_bits(HlslDecoder)
