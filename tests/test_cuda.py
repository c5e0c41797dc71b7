"""The CUDA decoder (cuda/, texgs/cuda_decoder.py) against the NumPy reference.

Without a GPU: nvcc compiles the kernels for every target architecture; the kernels' math
(cuda/texgs_math.cuh) runs on the CPU through cuda/host_harness.cpp (g++, ctypes) and is
compared with texgs.decode on the golden vectors and on seeded random assets; the one
validation routine rejects inconsistent buffers; the harness built with ASan/UBSan runs over
the broken-asset corpus without a report. The GPU tests run the kernels themselves against
the reference twice: on the GPU with pycuda (skipped here, with the reason) and, in every
run, on the CPU model of CUDA's execution (cuda/cpu_emulation.hpp, tests/cuda_emulated.py)."""

from __future__ import annotations

import ctypes
import dataclasses
import shutil
import struct
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli
from cuda_emulated import EmulatedKernels, compile_kernels, emulated_pycuda
from cuda_standin import CUDA, ROOT, TILE_BATCH, Harness, compile_harness, fake_pycuda

from texgs import format as fmt
from texgs import layout as L
from texgs.decode import decode_maps, decode_texture, decode_uv
from texgs.errors import AssetFormatError, UnsupportedError
from texgs.runtime import GpuBuffers, build_gpu_buffers, decode_buffers

GOLDEN = Path(__file__).parent / "golden"
sys.path.insert(0, str(ROOT / "bench"))  # bench_cuda_resources: ptxas's report, parsed
CORPUS = Path(__file__).parent / "corpus"
GOLDEN_NAMES = sorted(p.stem for p in GOLDEN.glob("*.tgs"))
FLOAT_TOL = 1e-5  # max abs error on float output: the same float32 math as the reference
# Random sparse assets: the same operations, but expf/cosf/sinf (libm, CUDA) and NumPy's own
# float32 exp/cos/sin differ by an ulp on many inputs. Where a texel is reached by one
# Gaussian just inside the cutoff, its weight exp(-q/2) - W_CUT is close to BLEND_EPS and the
# normalized blend magnifies that ulp (up to 2.3e-4 measured, filtered). Bound:
# SPARSE_MAX_TOL on every texel and one level after 8-bit quantization (the golden vectors
# keep FLOAT_TOL).
SPARSE_MAX_TOL = 1e-3  # a quarter of the 1/255 contract
ARCHS = ("75", "80", "86", "89", "90")
MAX_ERR: dict[str, float] = {}  # largest error measured per test group (printed with -s)


def _note(group: str, err: float) -> None:
    MAX_ERR[group] = max(MAX_ERR.get(group, 0.0), float(err))


def assert_matches_reference(got: np.ndarray, ref: np.ndarray, group: str) -> None:
    """The random-asset bound (see SPARSE_MAX_TOL); records the max error under ``group``."""
    assert got.shape == ref.shape
    err = np.abs(got.astype(np.float64) - ref)
    _note(group, err.max())
    assert err.max() <= SPARSE_MAX_TOL, err.max()
    to8 = lambda x: np.round(np.clip(x, 0, 1) * 255)  # noqa: E731
    assert np.abs(to8(got) - to8(ref)).max() <= 1


def _nvcc() -> str | None:
    return shutil.which("nvcc") or next(
        (str(p) for p in (Path("/usr/local/bin/nvcc"), Path("/usr/local/cuda/bin/nvcc"))
         if p.exists()), None)


# --- nvcc -------------------------------------------------------------------------------------

def test_nvcc_compiles_the_kernels_for_every_target_architecture(tmp_path):
    """nvcc builds every kernel the decoder fetches for every target architecture, and ptxas
    reports each decode build (texgs_topk_capacity: K 1..8 and the generic one) free of
    spills, with a stack frame of at most 32 bytes: the scratch of cosf/sinf's slow path,
    not the top-K (kept in registers; in local memory it took 512 bytes more)."""
    import bench_cuda_resources as resources

    from texgs import cuda_decoder as cd

    nvcc = _nvcc()
    if nvcc is None:
        pytest.skip("nvcc not found (CUDA toolkit not installed)")
    gencode = [a for arch in ARCHS for a in ("-gencode", f"arch=compute_{arch},code=sm_{arch}")]
    obj = tmp_path / "texgs_kernels.o"
    res = subprocess.run([nvcc, *cd.NVCC_OPTIONS, "-Xptxas", "-v", "-c",
                          str(CUDA / "texgs_kernels.cu"), "-o", str(obj), *gencode],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert obj.stat().st_size > 0
    uses = {(u.kernel, u.arch): u for u in resources.parse_ptxas(res.stderr)}
    builds = [cd.decode_kernel(n, k) for n in cd.DECODE_KERNELS
              for k in range(cd.TOPK_EXACT_MAX + 1)]
    builds += [f"{cd.TWO_ROW_TILES_KERNEL}_k{k}" for k in range(1, cd.TOPK_EXACT_MAX + 1)]
    others = ["texgs_index_count_kernel", "texgs_index_scan_kernel", "texgs_index_fill_kernel",
              "texgs_validate_kernel"]
    for arch in ARCHS:
        for name in builds + others:
            assert (name, arch) in uses, (name, arch)
        for name in builds:
            u = uses[name, arch]
            assert u.spill_store_bytes == 0 and u.spill_load_bytes == 0, u
            assert u.stack_bytes <= 32, u
    cuobjdump = shutil.which("cuobjdump") or str(Path(nvcc).resolve().parent / "cuobjdump")
    if Path(cuobjdump).exists():  # one cubin per architecture
        listed = subprocess.run([cuobjdump, "--list-elf", str(obj)], capture_output=True,
                                text=True)
        assert listed.returncode == 0, listed.stderr
        for arch in ARCHS:
            assert f"sm_{arch}" in listed.stdout, listed.stdout


def test_nvcc_compiles_the_phase_profile_builds_at_the_plain_builds_occupancy(tmp_path):
    """With -DTEXGS_PROFILE (bench/bench_cuda_profile.py) nvcc builds the tile kernel's
    profile builds too (sm_90), free of spills; at the default K (BakeConfig().top_k) the
    one- and two-row profile builds hold the registers of the builds they profile to the
    same allocation unit (8 per thread, 256 per warp), so they run at the same occupancy:
    the profile keeps its state in shared memory, not in registers. (Not every K does: the
    allocator gives the one-row K = 1 profile build 48 registers against 55 and the two-row
    K = 4 one 68 against 64; bench_cuda_profile prints both builds' resident blocks.)"""
    import bench_cuda_resources as resources

    from texgs import cuda_decoder as cd
    from texgs.bake.config import BakeConfig

    nvcc = _nvcc()
    if nvcc is None:
        pytest.skip("nvcc not found (CUDA toolkit not installed)")
    res = subprocess.run([nvcc, *cd.NVCC_OPTIONS, "-DTEXGS_PROFILE", "-Xptxas", "-v", "-cubin",
                          "-arch=sm_90", str(CUDA / "texgs_kernels.cu"), "-o",
                          str(tmp_path / "k.cubin")], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    uses = {u.kernel: u for u in resources.parse_ptxas(res.stderr)}
    for k in range(1, cd.TOPK_EXACT_MAX + 1):
        for name in cd.PROFILE_TILES_KERNELS:
            u = uses[f"{name}_k{k}"]
            assert u.spill_store_bytes == 0 and u.spill_load_bytes == 0, u
    k = BakeConfig().top_k
    pairs = [(f"texgs_decode_tiles_kernel_k{k}", f"{cd.PROFILE_TILES_KERNELS[0]}_k{k}"),
             (f"{cd.TWO_ROW_TILES_KERNEL}_k{k}", f"{cd.PROFILE_TILES_KERNELS[1]}_k{k}")]
    for plain, profiled in pairs:
        a, b = uses[plain].registers, uses[profiled].registers
        assert -(-a // 8) == -(-b // 8), (plain, a, b)


# --- the CPU harness ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def harness(tmp_path_factory) -> Harness:
    so = compile_harness(tmp_path_factory.mktemp("harness") / "texgs_harness.so",
                          ["-O2", "-shared", "-fPIC"])
    return Harness(ctypes.CDLL(str(so)))


def test_status_codes_are_one_list_shared_by_python_and_cpp(harness):
    from texgs.cuda_decoder import status_messages

    msgs = status_messages()
    assert sorted(msgs) == list(range(18))
    for code, text in msgs.items():
        assert harness.message(code) == text


@pytest.mark.parametrize("name", GOLDEN_NAMES)
def test_harness_matches_golden_vectors_at_every_lod(harness, name):
    asset = fmt.read_asset_file(GOLDEN / f"{name}.tgs")
    for lod in range(1, len(asset.lod_counts) + 1):
        ref = np.load(GOLDEN / f"{name}.lod{lod}.npy")
        bufs = build_gpu_buffers(asset, lod)
        got, cand = harness.decode_grid(bufs, (asset.width, asset.height))
        err = float(np.abs(got - ref).max())
        _note("golden", err)
        assert err <= FLOAT_TOL, (lod, err)
        # candidates per texel = the length of the texel's tile list
        t = int(bufs.meta[L.META_TILE])
        counts = bufs.index.counts()
        np.testing.assert_array_equal(
            cand, np.repeat(np.repeat(counts, t, 0), t, 1)[:asset.height, :asset.width])


@pytest.mark.parametrize("name", GOLDEN_NAMES)
def test_harness_uv_points_match_decode_uv(harness, name):
    """Random UVs inside and outside [0, 1] (address modes), texel corners and edges."""
    asset = fmt.read_asset_file(GOLDEN / f"{name}.tgs")
    rng = np.random.default_rng(11)
    uv = np.concatenate([rng.uniform(-1.5, 2.5, (400, 2)),
                         [[0, 0], [1, 1], [0.5, 0.5], [1, 0], [0, 1], [-1e-9, 1 + 1e-9]]])
    for lod in (1, None):
        ref = decode_uv(asset, uv, lod=lod)
        got = harness.decode_uv(build_gpu_buffers(asset, lod), uv)
        err = float(np.abs(got - ref).max())
        _note("uv", err)
        assert err <= FLOAT_TOL


@pytest.mark.parametrize("name", ["rgb_clamp", "rgba_repeat", "gray_repeat_x"])
def test_harness_resized_filtered_and_index_variants(harness, name):
    asset = fmt.read_asset_file(GOLDEN / f"{name}.tgs")
    for size in ((57, 23), (5, 7), (asset.width * 2, asset.height)):
        err = np.abs(harness.decode_texture(asset, size=size) - decode_texture(asset, size=size))
        _note("resized", err.max())
        assert err.max() <= FLOAT_TOL, size
    for f in (2, 4):
        size = (max(1, asset.width // f), max(1, asset.height // f))
        ref = decode_texture(asset, size=size, filtered=True)
        err = np.abs(harness.decode_texture(asset, size=size, filtered=True) - ref).max()
        _note("filtered", err)
        assert err <= FLOAT_TOL, f
    full = decode_texture(asset)
    for tile, id_bits in ((4, 16), (32, 16), (8, 32)):
        err = np.abs(harness.decode_texture(asset, tile=tile, id_bits=id_bits) - full).max()
        assert err <= FLOAT_TOL, (tile, id_bits)


@pytest.mark.parametrize("name", GOLDEN_NAMES)
def test_harness_tile_index_equals_reference_index(harness, name):
    """The index passes on the CPU (serial, so lists ascend by id) give the reference lists
    exactly; decoding with that index (32-bit ids) gives the same texels."""
    asset = fmt.read_asset_file(GOLDEN / f"{name}.tgs")
    for tile in (4, 8, 16):
        for fvar in (0.0, 2.5):
            bufs = build_gpu_buffers(asset, tile=tile, filter_max_var=fvar, prune=False)
            offsets, ids = harness.build_index(bufs)
            np.testing.assert_array_equal(offsets.astype(np.int64), bufs.index.offsets)
            np.testing.assert_array_equal(ids.astype(np.int32), bufs.index.ids)
    bufs = build_gpu_buffers(asset)
    offsets, ids = harness.build_index(bufs)
    rng = np.random.default_rng(3)
    for t in range(offsets.shape[0] - 1):  # a GPU builder's order: shuffled within tiles
        rng.shuffle(ids[offsets[t]:offsets[t + 1]])
    bufs.use_index(offsets, ids)
    got, _ = harness.decode_grid(bufs, (asset.width, asset.height))
    assert np.abs(got - decode_texture(asset)).max() <= FLOAT_TOL


def test_harness_set_maps_finished_match_golden_maps(harness):
    asset = fmt.read_asset_file(GOLDEN / "set_mixed.tgs")
    for i, m in enumerate(asset.map_table()):
        ref = np.load(GOLDEN / f"set_mixed.map{i}.npy")
        full = harness.decode_texture(asset, size=(m.width, m.height),
                                      finish=L.map_finish_words(asset, i))
        got = full[..., m.first_channel:m.first_channel + m.channel_count]
        assert got.shape == ref.shape
        err = float(np.abs(got - ref).max())
        _note("set maps", err)
        assert err <= FLOAT_TOL, (i, err)


def test_harness_log2_map_is_finished_to_linear(harness):
    asset = fmt.read_asset_file(GOLDEN / "set_mixed.tgs")
    chans = list(asset.channels)
    chans[8] = dataclasses.replace(chans[8], encoding=fmt.ENCODING_LOG2, lo=-10.0, hi=4.0,
                                   fallback=-2.0)
    chans[9] = dataclasses.replace(chans[9], encoding=fmt.ENCODING_LOG2, lo=-3.0, hi=-3.0,
                                   fallback=-3.0)
    asset = fmt.read_asset(fmt.write_asset(dataclasses.replace(asset, channels=chans, lods=[])))
    m = asset.map_table()[2]
    ref = decode_maps(asset)[2]
    full = harness.decode_texture(asset, size=(m.width, m.height),
                                  finish=L.map_finish_words(asset, 2))
    np.testing.assert_allclose(full[..., 8:11], ref, rtol=1e-5, atol=1e-6)


# --- random assets ----------------------------------------------------------------------------

def random_asset(seed: int) -> fmt.Asset:
    """A valid asset from seeded random fields: size, channels and bit widths, LOD split, K,
    tile and address mode per axis vary; every third one is a set with a normal map."""
    rng = np.random.default_rng(seed)
    w, h = int(rng.integers(3, 70)), int(rng.integers(3, 70))
    B, N = fmt.MAP_BASECOLOR, fmt.MAP_NORMAL
    S, LIN = fmt.ENCODING_SRGB, fmt.ENCODING_LINEAR
    maps: list[fmt.MapInfo] = []
    if seed % 3 == 2:
        maps = [fmt.MapInfo(B, w, h, 0, 3, 0),
                fmt.MapInfo(N, max(1, w // 2), max(1, h // 2), 3, 3, fmt.MAP_FLAG_NORMAL_Z)]
        chans = [fmt.ChannelInfo(B, c, S, int(rng.integers(1, 11)), 0.0, 1.0, 0.5)
                 for c in range(3)]
        chans += [fmt.ChannelInfo(N, 0, LIN, 8, 0.0, 1.0, 0.5),
                  fmt.ChannelInfo(N, 1, LIN, 7, 0.05, 0.95, 0.5),
                  fmt.ChannelInfo(N, 2, LIN, 0, 1.0, 1.0, 1.0)]
    else:
        nch = int(rng.integers(1, 5))
        chans = []
        for c in range(nch):
            bits = int(rng.integers(0, 13))
            lo = float(np.float32(rng.uniform(-1, 0.5)))
            hi = float(np.float32(lo + rng.uniform(0.1, 2))) if bits else lo
            fb = float(np.float32(rng.uniform(lo, hi))) if bits else lo
            chans.append(fmt.ChannelInfo(fmt.MAP_GENERIC, c, LIN, bits, lo, hi, fb))
    pb, sb, rb = int(rng.integers(6, 17)), int(rng.integers(3, 11)), int(rng.integers(3, 11))
    layout = fmt.RecordLayout(pb, sb, rb, tuple(ch.bits for ch in chans))
    align = layout.chunk_align  # every chunk but the last holds a multiple of it
    counts = [align * int(v) for v in rng.integers(1, 40 // align + 2, int(rng.integers(0, 3)))]
    counts.append(int(rng.integers(1, 40)))
    n = sum(counts)
    fields = np.zeros((n, 5 + len(chans)), np.uint32)
    fields[:, 0:2] = rng.integers(0, 1 << pb, (n, 2))
    fields[:, 2:4] = rng.integers(0, 1 << sb, (n, 2))
    fields[:, 4] = rng.integers(0, 1 << rb, n)
    for j, ch in enumerate(chans):
        fields[:, 5 + j] = rng.integers(0, 1 << ch.bits, n)
    addr = [(0, 0), (1, 1), (1, 0), (0, 1)][seed % 4]
    asset = fmt.Asset(width=w, height=h, channels=chans, layout=layout,
                      log2_scale_min=float(rng.uniform(-1.5, 0.5)),
                      log2_scale_max=float(rng.uniform(1.0, 3.5)), fields=fields,
                      lod_counts=counts, top_k=int(rng.integers(1, 33)),
                      tile_size=int(rng.choice([4, 8, 16, 32])), address_x=addr[0],
                      address_y=addr[1], maps=maps)
    return fmt.read_asset(fmt.write_asset(asset))


def _with_top_k(asset: fmt.Asset, k: int) -> fmt.Asset:
    return fmt.read_asset(fmt.write_asset(dataclasses.replace(asset, top_k=k)))


def test_each_top_k_build_serves_its_own_k_and_the_generic_build_serves_every_k(harness):
    """texgs_topk_build_serves, the rule behind the decode kernels' status -3: the generic
    build (capacity 32, K read from the meta words) decodes every K of 1..32, an exact build
    only its own K; and the build texgs.cuda_decoder.decode_kernel names for a K is one that
    serves it. (The H100 run of 2026-11-27 found the generic build rejecting K <= 8.)"""
    from texgs import cuda_decoder as cd

    serves = harness.lib.texgs_harness_topk_build_serves
    for k in range(1, L.LIMIT_TOP_K + 1):
        assert serves(L.LIMIT_TOP_K, k) == 1, k
        for cap in range(1, cd.TOPK_EXACT_MAX + 1):
            assert serves(cap, k) == int(cap == k), (cap, k)
        name = cd.decode_kernel("texgs_decode_grid_kernel", k)
        cap = int(name.rpartition("_k")[2]) if "_kernel_k" in name else L.LIMIT_TOP_K
        assert serves(cap, k) == 1, (name, k)
    assert serves(L.LIMIT_TOP_K, 0) == 0 and serves(L.LIMIT_TOP_K, L.LIMIT_TOP_K + 1) == 0


def test_ranking_key_order_sorts_as_the_floats_do(harness):
    """texgs_key_order, the high half of every ranking word, against NumPy's float order:
    over special values (infinities, the float32 extremes, subnormals, both zeros) and
    random floats of every sign and exponent, sorting by the order words sorts the floats,
    equal floats (and -0, +0) get equal words, and texgs_key_from_order gives each float
    back (-0 as +0). Negative keys are the filtered decode's (minus a weight)."""
    rng = np.random.default_rng(3)
    f32 = np.finfo(np.float32)
    special = np.array([-np.inf, -f32.max, -1.0, -f32.tiny, -f32.smallest_subnormal, -0.0,
                        0.0, f32.smallest_subnormal, f32.tiny, 1.0, 9.0, f32.max, np.inf],
                       np.float32)
    bits = rng.integers(0, 2**32, 4000, dtype=np.uint64).astype(np.uint32)
    rand = bits.view(np.float32)
    keys = np.concatenate([special, rand[np.isfinite(rand)], special[::-1]]).astype(np.float32)
    order = np.empty(keys.shape, np.uint32)
    back = np.empty(keys.shape, np.float32)
    fn = harness.lib.texgs_harness_key_order
    fn(keys.ctypes.data_as(ctypes.c_void_p), ctypes.c_uint32(keys.size),
       order.ctypes.data_as(ctypes.c_void_p), back.ctypes.data_as(ctypes.c_void_p))
    by_word = keys[np.argsort(order, kind="stable")]
    assert np.array_equal(by_word, np.sort(keys)), "the words sort as the floats"
    i, j = rng.integers(0, keys.size, (2, 20000))
    assert np.array_equal(order[i] == order[j], keys[i] == keys[j])  # -0 == +0 too
    assert np.array_equal(order[i] < order[j], keys[i] < keys[j])
    assert np.array_equal(back, keys + np.float32(0.0))  # -0 back as +0
    assert not np.signbit(back[keys == 0]).any()


@pytest.mark.parametrize("generic", [False, True])
def test_branch_free_push_keeps_the_k_best_of_the_accepted(harness, generic):
    """texgs_topk_push, the tile kernel's ranking step: every candidate goes down the K
    compare-exchanges, a refused one (ok false: beyond the cutoff or outside the texture)
    with a word that ranks after every candidate. After a run of candidates the K slots hold
    the K smallest (key, id) of the accepted ones in order, by Python's sort of the tuples,
    and kept() counts exactly them: runs shorter than K, runs of refusals only, keys tied
    (ties by the low half), negative keys and -0."""
    fn = harness.lib.texgs_harness_topk_push
    harness.lib.texgs_harness_use_generic_build(int(generic))
    try:
        rng = np.random.default_rng(11)
        for trial in range(300):
            k = int(rng.integers(1, 11))
            n = int(rng.integers(0, 25))
            keys = rng.choice(np.array([0.0, -0.0, 1.5, 2.0, 8.99, -3.0], np.float32), n)
            keys = np.where(rng.random(n) < 0.5, rng.uniform(-1, 12, n), keys).astype(np.float32)
            ids = rng.permutation(1 << 20)[:n].astype(np.uint32)
            lows = ids << np.uint32(8) | rng.integers(0, 256, n).astype(np.uint32)
            ok = (rng.random(n) < (0.0 if trial % 10 == 0 else 0.7)).astype(np.uint8)
            words = np.zeros(k, np.uint64)
            kept = fn(keys.ctypes.data_as(ctypes.c_void_p), lows.ctypes.data_as(ctypes.c_void_p),
                      ok.ctypes.data_as(ctypes.c_void_p), ctypes.c_uint32(n), ctypes.c_uint32(k),
                      words.ctypes.data_as(ctypes.c_void_p))
            best = sorted((float(keys[i]) + 0.0, int(lows[i])) for i in range(n) if ok[i])[:k]
            assert kept == len(best), (trial, kept, best)
            got = [(_key_from_order(int(w) >> 32), int(w) & 0xFFFFFFFF) for w in words[:kept]]
            assert got == best, (trial, got, best)
    finally:
        harness.lib.texgs_harness_use_generic_build(0)


def _rank32_key_part(q: np.float32) -> int:
    """texgs_rank32_key(q) >> 6 in Python: the float bits of min(q, 9) (NaN: 9), negative as
    0, without the low 6 bits."""
    m = np.float32(9.0) if np.isnan(q) or q > 9 else np.float32(q)
    bits = int(np.array([m], np.float32).view(np.int32)[0])
    return max(bits, 0) >> 6


@pytest.mark.parametrize("k", [1, 2, 5, 8])
def test_32_bit_words_keep_the_k_best_or_hand_the_texel_to_the_64_bit_ranking(harness, k):
    """A whole-list batch ranks with 32-bit words (texgs_topk32: the key truncated to its top
    26 bits over the batch slot) and takes them only where no two adjacent kept ones of the
    K + 1 share their key part (texgs_topk32_decides), else ranks with the 64-bit words.
    Either way the K words are the K smallest (q, id) of the candidates below the cutoff, by
    Python's sort; and the 32-bit words decide exactly where the K + 1 smallest (key part,
    slot), computed here, have no adjacent kept pair with equal key parts. The runs mix
    exact ties, keys a few ulps apart (same key part), negative keys, -0, NaN and keys at
    and beyond the cutoff, so both outcomes occur."""
    fn = harness.lib.texgs_harness_topk32
    rng = np.random.default_rng(5 + k)
    outcomes = {0: 0, 1: 0}
    base = np.array([0.0, -0.0, 1.5, 2.0, 8.999999, 9.0, -3.0, np.nan, 1e-40], np.float32)
    for trial in range(400):
        n = int(rng.integers(0, 65))
        keys = rng.uniform(-0.5, 12, n).astype(np.float32)
        pick = rng.random(n)
        keys = np.where(pick < 0.2, rng.choice(base, n), keys)
        near = rng.choice(keys, n) if n else keys  # a few ulps from another key
        keys = np.where((pick >= 0.2) & (pick < 0.4),
                        (near.view(np.int32) + rng.integers(-3, 4, n).astype(np.int32)).view(
                            np.float32), keys).astype(np.float32)
        ids = rng.permutation(1 << 20)[:n].astype(np.uint32)
        lows = ids << np.uint32(8) | np.arange(n, dtype=np.uint32)
        words = np.zeros(k, np.uint64)
        decided = ctypes.c_int(-1)
        kept = fn(keys.ctypes.data_as(ctypes.c_void_p), lows.ctypes.data_as(ctypes.c_void_p),
                  ctypes.c_uint32(n), ctypes.c_uint32(k), words.ctypes.data_as(ctypes.c_void_p),
                  ctypes.byref(decided))
        accepted = [i for i in range(n) if keys[i] < 9]  # NaN compares false
        best = sorted((float(keys[i]) + 0.0, int(lows[i])) for i in accepted)[:k]
        assert kept == len(best), (trial, kept, best)
        got = [(_key_from_order(int(w) >> 32), int(w) & 0xFFFFFFFF) for w in words[:kept]]
        assert got == best, (trial, got, best)
        by32 = sorted((_rank32_key_part(keys[j]), j) for j in range(n))[:k + 1]
        refused = _rank32_key_part(np.float32(9.0))
        tie = any(b[0] < refused and a[0] == b[0] for a, b in zip(by32, by32[1:]))
        assert decided.value == int(not tie), (trial, by32)
        outcomes[decided.value] += 1
    assert min(outcomes.values()) >= 20, outcomes  # both outcomes exercised
    assert fn(None, None, ctypes.c_uint32(65), ctypes.c_uint32(k), None, None) == -1


def _key_from_order(o: int) -> float:
    """The float of a ranking word's high half (texgs_key_order inverted), in Python."""
    bits = o & 0x7FFFFFFF if o & 0x80000000 else ~o & 0xFFFFFFFF
    return float(np.uint32(bits).view(np.float32)) + 0.0


@pytest.mark.parametrize("k", range(1, 11))
def test_every_top_k_build_matches_the_reference_and_the_generic_build(harness, k):
    """The decode kernels come in one build per K of 1..8, the K best kept in registers, and a
    generic build for any K (texgs_topk_capacity). Each K's build, through the harness's
    dispatch, matches the NumPy reference (whole texture, filtered, UV points, the
    tile-cooperative decode) on assets whose tile lists are longer than K, and equals the
    generic build bit for bit."""
    for seed in (0, 1, 2):
        asset = _with_top_k(random_asset(seed), k)
        bufs = build_gpu_buffers(asset, tile=16)
        assert int(np.diff(bufs.index.offsets).max()) > k  # ranking has something to drop
        size = (max(1, asset.width // 3), max(1, asset.height // 3))
        uv = np.random.default_rng(seed).uniform(-0.5, 1.5, (200, 2))
        outs = {}
        for generic in (False, True):
            harness.lib.texgs_harness_use_generic_build(int(generic))
            try:
                outs[generic] = (harness.decode_texture(asset, tile=16),
                                 harness.decode_texture(asset, size=size, filtered=True),
                                 harness.decode_uv(build_gpu_buffers(asset), uv),
                                 harness.decode_tiles(bufs, block=8)[0],
                                 harness.decode_grid(bufs, (asset.width, asset.height))[0])
            finally:
                harness.lib.texgs_harness_use_generic_build(0)
        for a, b in zip(outs[False], outs[True]):
            np.testing.assert_array_equal(a, b)
        full, filt, pts, tiles, per_texel = outs[False]
        assert_matches_reference(full, decode_texture(asset), "top-k builds")
        assert_matches_reference(filt, decode_texture(asset, size=size, filtered=True),
                                 "top-k builds")
        assert_matches_reference(pts, decode_uv(asset, uv), "top-k builds")
        np.testing.assert_array_equal(tiles, per_texel)


def _expanded(harness, bufs: GpuBuffers) -> GpuBuffers:
    out = dataclasses.replace(bufs)
    out.use_expanded(*harness.expand(bufs))
    return out


def test_expanded_records_decode_the_same_bits(harness):
    """Decoding from the expanded records (texgs_expand's floats: geometry [COUNT, 5], colours
    [COUNT, C]) gives the packed records' results bit for bit: whole texture, resized,
    filtered, the tile-cooperative decode, UV points and finished set maps, golden vectors
    at every LOD and random assets (both address modes, sets, every K build); and the
    expanded floats are texgs.runtime.expand_records's (positions and colours exactly, the
    conics to the math library's cos/sin)."""
    from texgs.runtime import expand_records

    cases = []
    for name in GOLDEN_NAMES:
        asset = fmt.read_asset_file(GOLDEN / f"{name}.tgs")
        cases += [(asset, lod) for lod in range(1, len(asset.lod_counts) + 1)]
    cases += [(random_asset(seed), None) for seed in range(9)]
    for asset, lod in cases:
        bufs = build_gpu_buffers(asset, lod)
        exp = _expanded(harness, bufs)
        geo, col = expand_records(asset, lod)
        np.testing.assert_array_equal(exp.geometry[:, :2], geo[:, :2])
        np.testing.assert_array_equal(exp.colors, col)
        np.testing.assert_allclose(exp.geometry[:, 2:], geo[:, 2:], rtol=1e-5, atol=1e-7)
        size = (asset.width, asset.height)
        for b in (bufs, exp):
            assert b.total_bytes == bufs.total_bytes + (b is exp) * 4 * (geo.size + col.size)
        got = [harness.decode_grid(b, size) for b in (bufs, exp)]
        np.testing.assert_array_equal(got[0][0], got[1][0])
        np.testing.assert_array_equal(got[0][1], got[1][1])
        tiles = harness.decode_tiles(exp, block=_blocks(int(exp.meta[L.META_TILE]))[0])
        np.testing.assert_array_equal(tiles[0], got[0][0])
        small = (max(1, asset.width // 3), max(1, asset.height // 3))
        fb, _, fvar = decode_buffers(asset, lod, small, filtered=True)
        np.testing.assert_array_equal(harness.decode_grid(fb, small, fvar)[0],
                                      harness.decode_grid(_expanded(harness, fb), small,
                                                          fvar)[0])
        uv = np.random.default_rng(3).uniform(-0.5, 1.5, (100, 2))
        np.testing.assert_array_equal(harness.decode_uv(bufs, uv), harness.decode_uv(exp, uv))
        for i in range(len(asset.map_table())):
            fin = L.map_finish_words(asset, i)
            m = asset.map_table()[i]
            mb, _, _ = decode_buffers(asset, lod, (m.width, m.height))
            np.testing.assert_array_equal(
                harness.decode_grid(mb, (m.width, m.height), 0.0, fin)[0],
                harness.decode_grid(_expanded(harness, mb), (m.width, m.height), 0.0, fin)[0])


def test_validation_checks_the_expanded_buffers_lengths(harness):
    bufs = _golden_buffers()
    geo, col = harness.expand(bufs)
    n, c = geo.shape[0], col.shape[1]
    args = (bufs.meta, bufs.records, bufs.tile_offsets, bufs.tile_ids)
    assert harness.validate(*args, geometry=geo, colors=col) == 0
    for g, k in ((geo[:-1], col), (geo, col[:-1]), (geo.reshape(-1)[:5 * n - 1], col),
                 (geo, col.reshape(-1)[:c * n - 1])):
        msg = harness.message(harness.validate(*args, geometry=g, colors=k))
        assert msg.startswith("TEXGS_ERR_EXPANDED_SHORT"), msg
    with pytest.raises(ValueError, match="expanded records"):
        dataclasses.replace(bufs).use_expanded(geo[:-1], col)


@pytest.mark.parametrize("seed", range(12))
def test_harness_matches_reference_on_random_assets(harness, seed):
    asset = random_asset(seed)
    for lod in {1, len(asset.lod_counts)}:
        ref = decode_texture(asset, lod=lod)
        assert_matches_reference(harness.decode_texture(asset, lod=lod), ref, "random")
        bufs = build_gpu_buffers(asset, lod, prune=False)
        offsets, ids = harness.build_index(bufs)
        np.testing.assert_array_equal(offsets.astype(np.int64), bufs.index.offsets)
        np.testing.assert_array_equal(ids.astype(np.int32), bufs.index.ids)
    uv = np.random.default_rng(seed).uniform(-0.5, 1.5, (300, 2))
    assert_matches_reference(harness.decode_uv(build_gpu_buffers(asset), uv),
                             decode_uv(asset, uv), "random")
    size = (max(1, asset.width // 3), max(1, asset.height // 3))
    ref = decode_texture(asset, size=size, filtered=True)
    assert_matches_reference(harness.decode_texture(asset, size=size, filtered=True), ref,
                             "random")
    for i, m in enumerate(asset.map_table()):  # sets: every map finished (normal z rebuilt)
        ref = decode_maps(asset)[i]
        full = harness.decode_texture(asset, size=(m.width, m.height),
                                      finish=L.map_finish_words(asset, i))
        got = full[..., m.first_channel:m.first_channel + m.channel_count]
        assert_matches_reference(got, ref, "random")


def _blocks(tile: int) -> list[int]:
    """Decode blocks to try over an index of ``tile`` texels: the default (8, or the tile when
    smaller), 4, and the whole tile (up to 32), where they divide it."""
    return sorted({b for b in (min(8, tile), 4, tile) if b <= 32 and tile % b == 0})


def _tile_cases() -> list[tuple[fmt.Asset, GpuBuffers, object]]:
    """(asset, buffers, finish words) for the tile-cooperative tests, every index tile given
    explicitly: golden vectors at every LOD (tiles 16 and 32), random assets (both address
    modes, sets with finished maps; tiles 4, 8, 12, 16 and 32, 16- and 32-bit ids) and an
    unpruned index covering a filter footprint (longer lists: more to cull)."""
    cases = []
    for name in GOLDEN_NAMES:
        asset = fmt.read_asset_file(GOLDEN / f"{name}.tgs")
        for lod in range(1, len(asset.lod_counts) + 1):
            for tile in (16, 32):
                cases.append((asset, build_gpu_buffers(asset, lod, tile=tile), None))
        cases.append((asset, build_gpu_buffers(asset, tile=16, filter_max_var=2.5,
                                               prune=False), None))
    for seed in range(12):
        asset = random_asset(seed)
        cases.append((asset, build_gpu_buffers(asset, tile=16), None))
        for i in range(len(asset.map_table())):
            cases.append((asset, build_gpu_buffers(asset, tile=32),
                          L.map_finish_words(asset, i)))
        for tile, id_bits in ((8, 32), (32, 16), (4, None), (12, None)):
            cases.append((asset, build_gpu_buffers(asset, tile=tile, id_bits=id_bits), None))
    return cases


@pytest.mark.parametrize("batch, color_cache", [(1, 512), (3, 512), (64, 512), (64, 0),
                                                (64, 24)])
def test_tile_cooperative_decode_equals_the_per_texel_decode(harness, batch, color_cache):
    """texgs_decode_tiles_kernel's math (a block of B x B texels inside one index tile reads
    the tile's list in batches, keeps the candidates whose padded box meets the block, in an
    order other than the list's, with their colours where the list fits one batch and the
    cache) gives bit for bit the per-texel kernel's values and candidate counts at the
    asset's size, for blocks of 8, 4 and the whole tile: golden vectors at every LOD, random
    assets (both address modes, sets, finished maps), several tiles and id widths."""
    for asset, bufs, fin in _tile_cases():
        ref, ref_cand = harness.decode_grid(bufs, (asset.width, asset.height), 0.0, fin)
        for block in _blocks(int(bufs.meta[L.META_TILE])):
            got, cand = harness.decode_tiles(bufs, batch, fin, color_cache, block)
            np.testing.assert_array_equal(got, ref)
            np.testing.assert_array_equal(cand, ref_cand)


def _doubled(asset: fmt.Asset, k: int) -> fmt.Asset:
    """The asset with every Gaussian twice (ids i and n + i: same geometry, colours of
    another Gaussian), one LOD, top-K k: every candidate ties in q with its twin."""
    twin = asset.fields.copy()
    twin[:, 5:] = np.roll(asset.fields[:, 5:], 1, axis=0)
    fields = np.concatenate([asset.fields, twin])
    return fmt.read_asset(fmt.write_asset(dataclasses.replace(
        asset, fields=fields, lod_counts=[len(fields)], top_k=k)))


@pytest.mark.parametrize("rows", [1, 2])
def test_tile_decode_of_tied_candidates_takes_the_64_bit_ranking(harness, rows):
    """Where two candidates tie in q, the 32-bit ranking words of a whole-list batch
    (texgs_topk32) cannot tell their order by id, so the texel is ranked again with the
    64-bit words (texgs_topk32_finish). Every Gaussian doubled (ties at every texel that has a
    candidate, twins of different colours), the tile decode in one batch, one and two rows
    per thread, equals the per-texel decode bit for bit."""
    harness.lib.texgs_harness_use_tile_rows(rows)
    try:
        for seed in range(6):
            for k in (1, 3, 8):
                asset = _doubled(random_asset(seed), k)
                bufs = build_gpu_buffers(asset, tile=8)
                # one batch: the 32-bit words
                assert int(np.diff(bufs.index.offsets).max()) <= TILE_BATCH
                ref, ref_cand = harness.decode_grid(bufs, (asset.width, asset.height), 0.0)
                for block in (8, 4, 2):
                    st, got, cand, _ = harness.decode_tiles_status(bufs, block, TILE_BATCH)
                    assert st == 0, harness.message(st)
                    np.testing.assert_array_equal(got, ref)
                    np.testing.assert_array_equal(cand, ref_cand)
    finally:
        harness.lib.texgs_harness_use_tile_rows(1)


@pytest.mark.parametrize("batch", [3, 64])
def test_two_row_tile_decode_equals_the_per_texel_decode(harness, batch):
    """The two-row builds (texgs_decode_tiles2_kernel_kK: B x B/2 threads, each ranking rows
    y and y + B/2 of its column with texgs_batch_rank2) give the per-texel kernel's bits and
    counts, every even block of the tile cases (partial blocks at the texture's edge
    included; both address modes); an odd block is refused."""
    harness.lib.texgs_harness_use_tile_rows(2)
    try:
        for asset, bufs, fin in _tile_cases():
            ref, ref_cand = harness.decode_grid(bufs, (asset.width, asset.height), 0.0, fin)
            for block in _blocks(int(bufs.meta[L.META_TILE])):
                st, got, cand, _ = harness.decode_tiles_status(bufs, block, batch, fin)
                if block % 2:
                    assert st == -1, block
                    continue
                assert st == 0, harness.message(st)
                np.testing.assert_array_equal(got, ref)
                np.testing.assert_array_equal(cand, ref_cand)
        bufs = build_gpu_buffers(random_asset(0), tile=12)
        assert harness.decode_tiles_status(bufs, 3, batch)[0] == -1  # odd: no second row
    finally:
        harness.lib.texgs_harness_use_tile_rows(1)
    assert harness.decode_tiles_status(bufs, 3, batch)[0] == 0  # one row per thread: fine


def test_tile_cooperative_decode_culls_candidates_by_block(harness):
    """The block cull keeps the candidates of a tile list whose padded 3-sigma box meets the
    block: over an unpruned index of 32-texel tiles, a block of 8 (or 4) keeps what an
    unpruned index of 8-texel (4-texel) tiles lists for the same square (the same rule, in
    float32 here against float64 there), far fewer than the tile's list, and never more;
    the whole tile as the block keeps the whole list."""
    ratios = {}
    for name in GOLDEN_NAMES:
        asset = fmt.read_asset_file(GOLDEN / f"{name}.tgs")
        big = build_gpu_buffers(asset, tile=32, prune=False)
        w, h = asset.width, asset.height
        for block in (8, 4):
            st, _got, cand, kept = harness.decode_tiles_status(big, block)
            assert st == 0
            small = build_gpu_buffers(asset, tile=block, prune=False)
            want = np.repeat(np.repeat(small.index.counts(), block, 0), block, 1)[:h, :w]
            np.testing.assert_array_equal(kept, want)
            assert np.all(kept <= cand)
            ratios[name, block] = float(kept.sum() / cand.sum())
        st, _got, cand, kept = harness.decode_tiles_status(big, 32)
        np.testing.assert_array_equal(kept, cand)
    assert max(ratios.values()) < 0.8, ratios


def test_block_cull_axis_test_is_the_glsl_one(harness):
    """texgs_axis_meets against a float32 port of the GLSL texgs_axis_meets
    (texgs_decode_tiles.comp), on random intervals of both address modes, wrapped or not,
    where the GLSL's float-to-int conversions are defined."""
    f32 = np.float32

    def glsl(lo, hi, size, block, nb, b, repeat):
        lo, hi, size, fb = f32(lo), f32(hi), f32(size), f32(block)
        if not repeat:
            t0 = max(0, int(np.floor(lo / fb)))
            t1 = min(nb - 1, int(np.floor(hi / fb)))
            return t0 <= b <= t1
        if f32(hi - lo) >= size:
            return True
        lo2 = f32(lo - f32(size * np.floor(lo / size)))
        hi2 = f32(lo2 + f32(hi - lo))
        t0 = max(0, int(np.floor(lo2 / fb)))  # uint(-1.0) is undefined; GPUs give 0
        if hi2 < size:
            return b >= t0 and b <= min(nb - 1, int(np.floor(hi2 / fb)))
        return b >= t0 or b <= min(nb - 1, int(np.floor(f32(hi2 - size) / fb)))

    rng = np.random.default_rng(9)
    seen = set()
    for _ in range(4000):
        size = int(rng.integers(1, 100))
        block = int(rng.choice([1, 2, 4, 8, 16, 32]))
        nb = -(-size // block)
        mu = f32(rng.uniform(0, size))
        r = f32(rng.choice([rng.uniform(0, 3), rng.uniform(0, size), rng.uniform(0, 3 * size)]))
        lo, hi = f32(mu - r), f32(mu + r)
        repeat = bool(rng.integers(0, 2))
        for b in range(nb):
            want = glsl(lo, hi, size, block, nb, b, repeat)
            assert harness.axis_meets(lo, hi, size, block, b, repeat) == want, \
                (lo, hi, size, block, b, repeat)
            seen.add((repeat, want))
    assert seen == {(False, False), (False, True), (True, False), (True, True)}
    # bounds no integer holds: culled when NaN, kept when infinite
    assert not harness.axis_meets(np.nan, np.nan, 16.0, 8, 0, False)
    assert not harness.axis_meets(np.nan, np.nan, 16.0, 8, 1, True)
    assert harness.axis_meets(-np.inf, np.inf, 16.0, 8, 1, False)
    assert harness.axis_meets(-np.inf, np.inf, 16.0, 8, 1, True)
    assert harness.axis_meets(-3e38, 3e38, 16.0, 8, 1, False)


def test_tile_cooperative_decode_refuses_a_block_that_does_not_fit(harness):
    """The block must divide the index tile (a block of texels inside one tile) and be 1..32
    wide (at most 1024 threads): the harness returns -1, the decoder raises ValueError."""
    from texgs.runtime import decode_block

    asset = fmt.read_asset_file(GOLDEN / "rgb_clamp.tgs")
    for tile, block in ((16, 3), (16, 32), (12, 8), (64, 64), (16, 0)):
        bufs = build_gpu_buffers(asset, tile=tile)
        assert harness.decode_tiles_status(bufs, block)[0] == -1, (tile, block)
        with pytest.raises(ValueError):
            decode_block(tile, block)
    assert [decode_block(t) for t in (4, 8, 12, 16, 32, 64, 5)] == [4, 8, None, 8, 8, 8, 5]
    assert decode_block(16, 16) == 16 and decode_block(32, 4) == 4


@pytest.mark.parametrize("name", GOLDEN_NAMES)
def test_both_index_codings_decode_identically_on_golden_vectors(harness, name):
    """The fixed and Rice codings of the same lists (docs/RUNTIME.md "Tile index"): every
    tile's walk gives the index's ids in order, and the per-texel and tile-cooperative paths
    (blocks of 8 and 4 in 16-texel tiles, batches across and within a list) give the same
    bits and candidate counts under either coding, equal to the golden vectors, at every LOD
    prefix; UV points too."""
    asset = fmt.read_asset_file(GOLDEN / f"{name}.tgs")
    uv = np.random.default_rng(4).uniform(-1, 2, (200, 2))
    for lod in range(1, len(asset.lod_counts) + 1):
        ref = np.load(GOLDEN / f"{name}.lod{lod}.npy")
        bufs = {c: build_gpu_buffers(asset, lod, tile=16, coding=c) for c in CODINGS}
        rice = bufs[L.INDEX_CODING_RICE]
        assert int(rice.meta[L.META_INDEX_CODING]) == L.INDEX_CODING_RICE
        for c, b in bufs.items():
            for t in range(b.tile_offsets.size - 1):
                n, ids = harness.tile_list(b, t)
                want = b.index.candidates(t)
                assert n == want.size, (c, t)
                np.testing.assert_array_equal(ids.astype(np.int64), want)
        outs = {}
        for c, b in bufs.items():
            grid, cand = harness.decode_grid(b, (asset.width, asset.height))
            assert float(np.abs(grid - ref).max()) <= FLOAT_TOL, (c, lod)
            t = int(b.meta[L.META_TILE])
            np.testing.assert_array_equal(
                cand, np.repeat(np.repeat(b.index.counts(), t, 0), t, 1)[:asset.height,
                                                                          :asset.width])
            for batch, cache in ((3, 512), (64, 512), (64, 0)):
                for block in (8, 4):  # blocks inside the 16-texel tiles
                    tiles, tiles_cand = harness.decode_tiles(b, batch, None, cache, block)
                    np.testing.assert_array_equal(tiles, grid)
                    np.testing.assert_array_equal(tiles_cand, cand)
            outs[c] = (grid, cand, harness.decode_uv(b, uv))
        for a, b in zip(outs[L.INDEX_CODING_FIXED], outs[L.INDEX_CODING_RICE]):
            np.testing.assert_array_equal(a, b)
        assert np.abs(outs[L.INDEX_CODING_RICE][2] - decode_uv(asset, uv, lod=lod)).max() \
            <= FLOAT_TOL


def test_random_assets_cover_both_address_modes_sets_and_prefixes():
    assets = [random_asset(s) for s in range(12)]
    assert {(a.address_x, a.address_y) for a in assets} >= {(0, 0), (1, 1)}
    assert any(m.flags & fmt.MAP_FLAG_NORMAL_Z for a in assets for m in a.map_table())
    assert any(len(a.lod_counts) > 1 for a in assets)


# --- validation -------------------------------------------------------------------------------

CODINGS = (L.INDEX_CODING_FIXED, L.INDEX_CODING_RICE)


def _golden_buffers(name: str = "set_mixed", coding: int | None = None,
                   tile: int | None = None) -> GpuBuffers:
    return build_gpu_buffers(fmt.read_asset_file(GOLDEN / f"{name}.tgs"), tile=tile,
                             coding=coding)


def meta_mutations(bufs: GpuBuffers) -> list[tuple[str, dict[int, int], str]]:
    """(what, meta word -> new value, expected status name) for single-field corruptions."""
    m = bufs.meta
    ch0 = L.META_CHANNEL_BASE
    f32 = lambda v: int(np.array([v], np.float32).view(np.uint32)[0])  # noqa: E731
    rb = int(m[L.META_RECORD_BITS])
    return [
        ("width 0", {L.META_WIDTH: 0}, "DIMENSIONS"),
        ("height over the limit", {L.META_HEIGHT: 16385}, "DIMENSIONS"),
        ("channels 0", {L.META_CHANNELS: 0}, "CHANNELS"),
        ("channels 65", {L.META_CHANNELS: 65}, "CHANNELS"),
        ("more channels than entries", {L.META_CHANNELS: int(m[L.META_CHANNELS]) + 1},
         "META_SHORT"),
        ("count 0", {L.META_COUNT: 0}, "COUNT"),
        ("count past the records", {L.META_COUNT: int(m[L.META_COUNT]) + 40},
         "RECORDS_SHORT"),
        ("count 2^24 + 1", {L.META_COUNT: (1 << 24) + 1}, "COUNT"),
        ("top-K 0", {L.META_TOP_K: 0}, "TOP_K"),
        ("top-K 33", {L.META_TOP_K: 33}, "TOP_K"),
        ("tile 0", {L.META_TILE: 0}, "TILE_GRID"),
        ("more tiles than offsets", {L.META_TILE: 1, L.META_TILES_X: 32, L.META_TILES_Y: 24},
         "OFFSETS_SHORT"),
        ("tiles_x wrong", {L.META_TILES_X: int(m[L.META_TILES_X]) + 1}, "TILE_GRID"),
        ("address mode 2", {L.META_ADDRESS: 2}, "ADDRESS"),
        ("address reserved bits", {L.META_ADDRESS: 0x10}, "ADDRESS"),
        ("pos bits 0", {L.META_POS_BITS: 0}, "FIELD_BITS"),
        ("rot bits 32", {L.META_ROT_BITS: 32}, "FIELD_BITS"),
        ("channel bits 25", {ch0 + L.CH_BITS_OFFSET: 25 | (int(m[ch0]) >> 8 << 8)}, "FIELD_BITS"),
        ("channel offset past the record", {ch0 + L.CH_BITS_OFFSET: 8 | (rb << 8)},
         "RECORD_LAYOUT"),
        ("record bits below the geometry", {L.META_RECORD_BITS: 8}, "RECORD_LAYOUT"),
        ("record bits past the records", {L.META_RECORD_BITS: rb * 4, }, "RECORDS_SHORT"),
        ("smin NaN", {L.META_LOG2_SMIN: f32(np.nan)}, "FLOAT"),
        ("fallback inf", {ch0 + L.CH_FALLBACK: f32(np.inf)}, "FLOAT"),
        ("filter variance negative", {L.META_FILTER_MAX_VAR: f32(-1.0)}, "FLOAT"),
        ("id bits 0", {L.META_ID_BITS: 0}, "ID_BITS"),
        ("id bits 33", {L.META_ID_BITS: 33}, "ID_BITS"),
        ("1-bit ids for more than 2 Gaussians", {L.META_ID_BITS: 1}, "ID_BITS"),
        ("16-bit ids for 2^17 Gaussians", {L.META_ID_BITS: 16, L.META_COUNT: 1 << 17},
         "ID_BITS"),
        ("index coding 2", {L.META_INDEX_CODING: 2}, "INDEX_CODING"),
        ("index coding 2^32 - 1", {L.META_INDEX_CODING: 0xFFFFFFFF}, "INDEX_CODING"),
        ("Rice, count bits 0", {L.META_INDEX_CODING: L.INDEX_CODING_RICE, L.META_COUNT_BITS: 0},
         "COUNT_BITS"),
        ("Rice, count bits 33", {L.META_INDEX_CODING: L.INDEX_CODING_RICE,
                                 L.META_COUNT_BITS: 33}, "COUNT_BITS"),
    ]


def test_validation_rejects_each_inconsistent_meta_word(harness):
    bufs = _golden_buffers()
    assert harness.validate(bufs.meta, bufs.records, bufs.tile_offsets, bufs.tile_ids) == 0
    for what, edits, expect in meta_mutations(bufs):
        meta = bufs.meta.copy()
        for k, v in edits.items():
            meta[k] = v
        rec = bufs.records
        if expect == "ID_BITS" and meta[L.META_COUNT] > bufs.meta[L.META_COUNT]:
            rec = np.zeros(int(meta[L.META_COUNT]) * int(meta[L.META_RECORD_BITS]) // 32 + 2,
                           np.uint32)
        code = harness.validate(meta, rec, bufs.tile_offsets, bufs.tile_ids)
        text = harness.message(code)
        assert text.startswith(f"TEXGS_ERR_{expect}:"), (what, text)


@pytest.mark.parametrize("coding", CODINGS)
def test_validation_checks_buffer_lengths(harness, coding):
    bufs = _golden_buffers(coding=coding)
    m, r, o, i = bufs.meta, bufs.records, bufs.tile_offsets, bufs.tile_ids
    msg = lambda *a, **k: harness.message(harness.validate(*a, **k))  # noqa: E731
    assert msg(m[:19], r, o, i).startswith("TEXGS_ERR_META_SHORT")
    assert msg(m[:-1], r, o, i).startswith("TEXGS_ERR_META_SHORT")
    assert msg(m, r[:-1], o, i).startswith("TEXGS_ERR_RECORDS_SHORT")  # the padding word
    assert msg(m, r[:0], o, i).startswith("TEXGS_ERR_RECORDS_SHORT")
    assert msg(m, r, o[:-1], i).startswith("TEXGS_ERR_OFFSETS_SHORT")
    assert msg(m, r, o, i[:-1]).startswith("TEXGS_ERR_IDS_SHORT")
    assert msg(m, r, o, i[:0]).startswith("TEXGS_ERR_IDS_SHORT")
    assert msg(m, r, o[:0], i[:0], with_index=False) == "TEXGS_OK: buffers are consistent"
    o2 = o.copy()  # the last offset one entry (fixed) or bit (Rice) past the buffer
    ib = int(m[L.META_ID_BITS])
    o2[-1] = (32 * (i.size - 1) if coding == L.INDEX_CODING_RICE else
              i.size if ib == 32 else (i.size - 1) * 32 // ib) + 1
    assert msg(m, r, o2, i).startswith("TEXGS_ERR_IDS_SHORT")
    if coding == L.INDEX_CODING_FIXED:  # COUNT_BITS means nothing to fixed-width lists
        m2 = m.copy()
        m2[L.META_COUNT_BITS] = 99
        assert msg(m2, r, o, i) == "TEXGS_OK: buffers are consistent"


def test_validation_of_rice_lists_checks_the_stream_not_the_lists(harness):
    """Rice: the last offset is a bit count within every word but the padding word; the lists
    themselves are walked with per-read guards (below), not scanned here."""
    bufs = _golden_buffers(coding=L.INDEX_CODING_RICE)
    m, r, o, i = bufs.meta, bufs.records, bufs.tile_offsets, bufs.tile_ids
    msg = lambda *a, **k: harness.message(harness.validate(*a, **k))  # noqa: E731
    o2 = o.copy()
    o2[-1] = 32 * (i.size - 1)  # the whole stream but the padding word: still valid
    assert msg(m, r, o2, i) == "TEXGS_OK: buffers are consistent"
    for cb in (1, 32):
        m2 = m.copy()
        m2[L.META_COUNT_BITS] = cb
        assert msg(m2, r, o, i) == "TEXGS_OK: buffers are consistent"


@pytest.mark.parametrize("coding", CODINGS)
def test_corrupt_tile_lists_are_skipped_not_read_out_of_bounds(harness, coding):
    """Offsets out of order or past the stream, ids >= COUNT, truncated or garbage Rice
    streams and wrong COUNT_BITS pass the O(1) header checks; the per-access guards skip the
    entries or end the lists (the sanitizer test runs the same cases under ASan). The
    per-texel and tile-cooperative paths (blocks of 8 and 4 inside 16-texel tiles, a block
    of 8 inside one 32-texel tile) still agree bit for bit."""
    cases = [(16, c) for c in _index_corruptions(_golden_buffers("rgb_clamp", coding, 16))]
    cases += [(32, c) for c in _index_corruptions(_golden_buffers("rgb_clamp", coding, 32))]
    for k, (tile, case) in enumerate(cases):
        assert int(case.meta[L.META_TILE]) == tile
        assert harness.validate(case.meta, case.records, case.tile_offsets,
                                case.tile_ids) == 0, k
        got, cand = harness.decode_grid(case, (32, 24))
        assert np.isfinite(got).all(), k
        for batch in (3, 64):  # the tile-cooperative path too
            for block in ((8, 4) if tile == 16 else (8,)):
                tiles, tiles_cand = harness.decode_tiles(case, batch, block=block)
                np.testing.assert_array_equal(tiles, got, err_msg=f"{k} {block} {batch}")
                np.testing.assert_array_equal(tiles_cand, cand)
        count = int(case.meta[L.META_COUNT])
        for t in range(case.tile_offsets.size - 1):
            n, ids = harness.tile_list(case, t)
            assert n <= 32 * case.tile_ids.size, (k, t)  # at most one id per bit of the stream
            if coding == L.INDEX_CODING_FIXED:
                assert ids.size == n, (k, t)
                continue
            # Rice: ascending ids < COUNT, then (a corrupt list) one end marker
            ok = ids[ids != 0xFFFFFFFF].astype(np.int64)
            assert ids.size == n or ids.size == ok.size + 1 <= n, (k, t)
            assert np.all(ids[ok.size:] == 0xFFFFFFFF), (k, t)
            assert np.all(ok < count) and np.all(np.diff(ok) > 0), (k, t)


def _index_corruptions(bufs: GpuBuffers) -> list[GpuBuffers]:
    """Corrupt tile indexes that texgs_validate_buffers accepts (it checks only the last
    offset against the buffer): each must decode without an out-of-bounds read."""
    rice = int(bufs.meta[L.META_INDEX_CODING]) == L.INDEX_CODING_RICE
    rng = np.random.default_rng(7)
    out = []
    off = bufs.tile_offsets.copy()
    off[1:-1] = off[1:-1][::-1]  # decreasing
    out.append(dataclasses.replace(bufs, tile_offsets=off))
    ids = bufs.tile_ids.copy()
    ids[::2] = 0xFFFFFFFF  # all-ones ids (>= COUNT unless COUNT is a power of two)
    out.append(dataclasses.replace(bufs, tile_ids=ids))
    meta = bufs.meta.copy()
    meta[L.META_COUNT] = max(1, int(meta[L.META_COUNT]) // 2)  # lists name ids past COUNT
    out.append(dataclasses.replace(bufs, meta=meta))
    if not rice:
        meta = bufs.meta.copy()
        meta[L.META_ID_BITS] = 32  # packed narrow ids read as 32-bit: huge ids, fewer entries
        off = np.minimum(bufs.tile_offsets, bufs.tile_ids.size).astype(np.uint32)
        out.append(dataclasses.replace(bufs, meta=meta, tile_offsets=off))
        return out
    last = int(bufs.tile_offsets[-1])
    size = bufs.tile_ids.size
    meta = bufs.meta.copy()
    meta[L.META_ID_BITS] = 32  # the first ids read 32 bits wide: every later field misaligned
    out.append(dataclasses.replace(bufs, meta=meta))
    for cb in (1, 32):  # list lengths read too narrow / too wide (garbage counts)
        meta = bufs.meta.copy()
        meta[L.META_COUNT_BITS] = cb
        out.append(dataclasses.replace(bufs, meta=meta))
    # truncated: half the words and the padding word, the last offset at the new end
    cut = np.concatenate([bufs.tile_ids[:size // 2], np.zeros(1, np.uint32)])
    off = np.minimum(bufs.tile_offsets, 32 * (cut.size - 1)).astype(np.uint32)
    out.append(dataclasses.replace(bufs, tile_offsets=off, tile_ids=cut))
    off = bufs.tile_offsets.copy()
    off[-1] = last // 2  # the stream said to end halfway: later lists run past it
    out.append(dataclasses.replace(bufs, tile_offsets=off))
    off = bufs.tile_offsets.copy()  # offsets anywhere in the stream, one past its end
    off[:-1] = rng.integers(0, last, off.size - 1)
    off[-2] = last + 3
    out.append(dataclasses.replace(bufs, tile_offsets=off.astype(np.uint32)))
    garbage = rng.integers(0, 1 << 32, size, dtype=np.uint64).astype(np.uint32)
    out.append(dataclasses.replace(bufs, tile_ids=garbage))  # random words, padding too
    out.append(dataclasses.replace(bufs, tile_ids=np.full(size, 0xFFFFFFFF, np.uint32)))
    ids = bufs.tile_ids.copy()
    ids[size // 3:] = 0  # windows with no set bit (no stop bit within 32 bits)
    out.append(dataclasses.replace(bufs, tile_ids=ids))
    ids = bufs.tile_ids.copy()
    ids[1:-1] &= rng.integers(0, 1 << 32, size - 2, dtype=np.uint64).astype(np.uint32)
    out.append(dataclasses.replace(bufs, tile_ids=ids))  # bits cleared: long codes, big k
    # a list that claims the whole stream: the first header's count all ones
    ids = bufs.tile_ids.copy()
    cb = int(bufs.meta[L.META_COUNT_BITS])
    ids[0] |= np.uint32((1 << min(cb, 32)) - 1)
    out.append(dataclasses.replace(bufs, tile_ids=ids))
    return out


# --- sanitizers over the broken-asset corpus ----------------------------------------------------

def _case_bytes(meta, records, offsets, ids) -> bytes:
    arrs = [np.ascontiguousarray(a, "<u4") for a in (meta, records, offsets, ids)]
    head = b"TGSC" + struct.pack("<4I", *(a.size for a in arrs))
    return head + b"".join(a.tobytes() for a in arrs)


def _raw_meta(data: bytes) -> tuple[np.ndarray, int]:
    """Meta words taken from an asset's header fields without any check (what a careless
    loader would upload), and the number of tiles they claim."""
    head = data[:fmt.FIXED_HEADER_SIZE].ljust(fmt.FIXED_HEADER_SIZE, b"\0")
    (_magic, _v, _hs, w, h, nch, _nl, ngauss, k, tile, address, _f, pb, sb, rb, nmaps, smin,
     smax, rbits, *_rest) = fmt._FIXED.unpack_from(head, 0)
    meta = np.zeros(L.META_CHANNEL_BASE + L.META_CHANNEL_STRIDE * nch, np.uint32)
    tx = -(-w // tile) if tile else 0
    ty = -(-h // tile) if tile else 0
    vals = {L.META_WIDTH: w, L.META_HEIGHT: h, L.META_CHANNELS: nch, L.META_COUNT: ngauss,
            L.META_TOP_K: k, L.META_TILE: tile, L.META_TILES_X: tx, L.META_TILES_Y: ty,
            L.META_ADDRESS: address, L.META_POS_BITS: pb, L.META_SCALE_BITS: sb,
            L.META_ROT_BITS: rb, L.META_RECORD_BITS: rbits, L.META_ID_BITS: 16,
            L.META_LOG2_SMIN: struct.unpack("<I", struct.pack("<f", smin))[0],
            L.META_LOG2_SMAX: struct.unpack("<I", struct.pack("<f", smax))[0]}
    for key, v in vals.items():
        meta[key] = v & 0xFFFFFFFF
    off = 2 * pb + 2 * sb + rb
    chans = fmt.FIXED_HEADER_SIZE + fmt.MAP_ENTRY_SIZE * nmaps
    for c in range(nch):
        entry = data[chans + 16 * c: chans + 16 * c + 16].ljust(16, b"\0")
        _m, _comp, _enc, bits, lo, hi, fb = fmt._CHANNEL.unpack(entry)
        base = L.META_CHANNEL_BASE + L.META_CHANNEL_STRIDE * c
        meta[base:base + 4] = [bits | ((off & 0xFFFFFF) << 8),
                               *np.array([lo, hi, fb], np.float32).view(np.uint32)]
        off += bits
    return meta, tx * ty


def corpus_cases(out: Path) -> tuple[list[Path], dict[str, str]]:
    """Case files for the sanitizer run and what each must give: "ok" (valid buffers),
    "rejected" (must be refused), "either" (a careless upload of a broken asset: refused or
    decoded, but never read out of bounds)."""
    paths: list[Path] = []
    expect: dict[str, str] = {}

    def add(name: str, data: bytes, what: str) -> None:
        p = out / f"{name}.case"
        p.write_bytes(data)
        paths.append(p)
        expect[str(p)] = what

    for f in sorted(CORPUS.glob("*.tgs")):
        data = f.read_bytes()
        try:
            asset = fmt.read_asset(data, f.name)
        except AssetFormatError:
            meta, tiles = _raw_meta(data)
            words = np.frombuffer(data[:len(data) // 4 * 4], "<u4")
            # records = the whole file, no tile offsets: claims more than the buffers hold
            add(f"{f.stem}.rejected", _case_bytes(meta, words, [], []), "rejected")
            if tiles <= 1 << 20:  # offsets sized to the claim, lists empty
                add(f"{f.stem}.careless", _case_bytes(meta, words, np.zeros(tiles + 1), []),
                    "either")
            continue
        bufs = build_gpu_buffers(asset)
        add(f"{f.stem}.ok", _case_bytes(bufs.meta, bufs.records, bufs.tile_offsets,
                                        bufs.tile_ids), "ok")
        if len(asset.lod_counts) > 1:
            b1 = build_gpu_buffers(asset, 1)
            add(f"{f.stem}.lod1", _case_bytes(b1.meta, b1.records, b1.tile_offsets,
                                              b1.tile_ids), "ok")
            # the full meta over the first chunk's records: more Gaussians than loaded
            add(f"{f.stem}.lod1_full_meta", _case_bytes(bufs.meta, b1.records,
                                                        bufs.tile_offsets, bufs.tile_ids),
                "rejected")
    bufs = _golden_buffers()
    for k, (what, edits, _expect) in enumerate(meta_mutations(bufs)):
        meta = bufs.meta.copy()
        for key, v in edits.items():
            meta[key] = v
        add(f"meta_mutation_{k}", _case_bytes(meta, bufs.records, bufs.tile_offsets,
                                              bufs.tile_ids), "rejected")
    for coding in CODINGS:  # 16-texel tiles: the harness decodes blocks of 8 and 4 in them
        for k, b in enumerate(_index_corruptions(_golden_buffers("rgb_clamp", coding, 16))):
            add(f"index_corruption_{coding}_{k}", _case_bytes(b.meta, b.records, b.tile_offsets,
                                                              b.tile_ids), "ok")
    return paths, expect


def _sanitized_corpus_run(exe: Path, tmp_path: Path, timeout: int) -> dict[str, int]:
    """Run the sanitized program ``exe`` (one line per case: path, "ok" or "rejected") over
    every corpus case: no sanitizer report, every case answered as corpus_cases expects ->
    how many of each answer."""
    cases = tmp_path / "cases"
    cases.mkdir()
    paths, expect = corpus_cases(cases)
    env = {"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:halt_on_error=1",
           "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1", "PATH": "/usr/bin:/bin"}
    res = subprocess.run([str(exe), *map(str, paths)], capture_output=True, text=True, env=env,
                         timeout=timeout)
    report = res.stderr[-4000:]
    assert res.returncode == 0, report
    assert "Sanitizer" not in res.stderr and "runtime error" not in res.stderr, report
    lines = res.stdout.splitlines()
    assert len(lines) == len(paths)
    seen = {"ok": 0, "rejected": 0}
    for line in lines:
        path, status = line.split()[:2]
        want = expect[path]
        assert want == "either" or status == want, line
        seen[status] += 1
    assert seen["ok"] > 20 and seen["rejected"] > 150, seen
    return seen


SANITIZE_FLAGS = ["-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined",
                  "-fno-sanitize-recover=all"]


def test_sanitized_harness_over_the_broken_asset_corpus(tmp_path):
    """cuda/host_harness.cpp under ASan + UBSan (no recovery), in its own process, over
    every corpus file: valid assets decode (grid, filtered grid, UV points incl. NaN and
    inf, index rebuild); broken ones, uploaded carelessly, are rejected by
    texgs_validate_buffers; not one sanitizer report."""
    t0 = time.monotonic()
    exe = compile_harness(tmp_path / "harness_asan", SANITIZE_FLAGS)
    seen = _sanitized_corpus_run(exe, tmp_path, 300)
    elapsed = time.monotonic() - t0
    print(f"sanitizer run: {sum(seen.values())} cases ({seen}) in {elapsed:.1f} s")
    assert elapsed < 120


def test_sanitized_kernels_over_the_broken_asset_corpus(tmp_path):
    """The kernels themselves (cuda/texgs_kernels.cu on the CPU model of CUDA,
    tests/cuda_cases/sanitize_kernels.cpp) under ASan + UBSan over every corpus case: every
    launch the decoder makes (per-texel, filtered, tile-cooperative on full and persistent
    grids, two-row, UV points incl. NaN and inf, the index kernels, expand, decode from the
    expanded records) on buffers exactly as long as the case gives, so a read past a device
    buffer or a shared array is a report; broken buffers are refused by
    texgs_validate_kernel and by a decode kernel alike, which then writes nothing."""
    t0 = time.monotonic()
    exe = compile_kernels(tmp_path / "kernels_asan", ROOT / "tests" / "cuda_cases" /
                          "sanitize_kernels.cpp", SANITIZE_FLAGS, shared=False)
    seen = _sanitized_corpus_run(exe, tmp_path, 600)
    print(f"sanitized kernels: {sum(seen.values())} cases ({seen}) in "
          f"{time.monotonic() - t0:.1f} s")


def test_kernels_have_no_data_race_under_thread_sanitizer(tmp_path):
    """The kernels on the CPU model of CUDA built with ThreadSanitizer (a block's threads are
    OS threads, its barriers atomics under a mutex): over the valid corpus cases
    and assets whose tile lists take two or three batches (one 64-texel tile; K 4, 5, 8 and
    the generic build), no thread touches shared or global memory that another thread of
    the launch touches without a barrier or an atomic between them, the races CUDA's
    racecheck looks for. (Checked that it finds one: with the barrier between the tile
    kernel's stores and its ranking removed, TSan reports the ranking's read.)"""
    exe = compile_kernels(tmp_path / "kernels_tsan", ROOT / "tests" / "cuda_cases" /
                          "sanitize_kernels.cpp", ["-O1", "-g", "-fsanitize=thread"],
                          shared=False)
    cases = tmp_path / "cases"
    cases.mkdir()
    paths, expect = corpus_cases(cases)
    paths = [p for p in paths if expect[str(p)] == "ok"]
    for seed in (13, 19, 28, 6):  # lists of 128, 100, 73 and 102 ids
        for coding in CODINGS:
            b = build_gpu_buffers(random_asset(seed), tile=64, coding=coding)
            assert np.diff(b.index.offsets).max() > 64
            p = cases / f"batches_{seed}_{coding}.case"
            p.write_bytes(_case_bytes(b.meta, b.records, b.tile_offsets, b.tile_ids))
            paths.append(p)
    res = subprocess.run([str(exe), *map(str, paths)], capture_output=True, text=True,
                         env={"TSAN_OPTIONS": "halt_on_error=1", "PATH": "/usr/bin:/bin"},
                         timeout=600)
    assert res.returncode == 0 and "ThreadSanitizer" not in res.stderr, res.stderr[-4000:]
    assert [line.split()[1] for line in res.stdout.splitlines()] == ["ok"] * len(paths)


# --- the GPU (pycuda) -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def emulated_kernels(tmp_path_factory) -> EmulatedKernels:
    """cuda/texgs_kernels.cu built for the CPU model of CUDA's execution."""
    return EmulatedKernels(compile_kernels(tmp_path_factory.mktemp("emulated") /
                                           "libtexgs_cpu_kernels.so"))


def emulated_decoder(kernels: EmulatedKernels, launched: list | None = None,
                     attributes: dict | None = None):
    """A CudaDecoder whose pycuda is the stand-in over ``kernels`` (tests/cuda_emulated.py;
    ``launched``, ``attributes`` as there)."""
    from texgs import cuda_decoder as cd

    with pytest.MonkeyPatch.context() as mp:
        for name, mod in emulated_pycuda(kernels, launched, attributes).items():
            mp.setitem(sys.modules, name, mod)
        cd._compiled_module.cache_clear()
        try:
            return cd.CudaDecoder()
        finally:
            cd._compiled_module.cache_clear()


@pytest.fixture(scope="module", params=["device", "emulated"])
def gpu(request):
    """A CudaDecoder on the GPU ("device": skipped where there is none, or no pycuda), and
    one whose kernels, the same source, run on the CPU ("emulated": tests/cuda_emulated.py),
    so that every GPU test runs in every CI run on the kernels' own code."""
    from texgs import cuda_decoder as cd

    if request.param == "device":
        try:
            return cd.CudaDecoder()
        except UnsupportedError as e:
            pytest.skip(str(e))
    return emulated_decoder(request.getfixturevalue("emulated_kernels"))


@pytest.mark.parametrize("name", GOLDEN_NAMES)
def test_gpu_matches_golden_vectors_and_uv_points(gpu, name):
    """On the GPU, exp2f/cosf/sinf are CUDA's own (not the host libm the harness shares
    with NumPy), so the golden vectors get the random-asset bound (first H100 run: 1.5e-5
    on set_mixed against FLOAT_TOL's 1e-5)."""
    asset = fmt.read_asset_file(GOLDEN / f"{name}.tgs")
    for lod in range(1, len(asset.lod_counts) + 1):
        ref = np.load(GOLDEN / f"{name}.lod{lod}.npy")
        assert_matches_reference(gpu.decode_texture(asset, lod=lod), ref, "gpu golden")
        assert_matches_reference(gpu.decode_texture(asset, lod=lod, gpu_index=True), ref,
                                 "gpu golden")
    uv = np.random.default_rng(5).uniform(-1, 2, (1000, 2))
    assert_matches_reference(gpu.decode_uv(asset, uv), decode_uv(asset, uv), "gpu golden")


@pytest.mark.parametrize("name", GOLDEN_NAMES)
def test_gpu_index_equals_reference_index_as_sets(gpu, name):
    asset = fmt.read_asset_file(GOLDEN / f"{name}.tgs")
    for tile in (4, 8, 16):
        bufs = build_gpu_buffers(asset, tile=tile, prune=False)
        offsets, ids = gpu.build_index(bufs)
        np.testing.assert_array_equal(offsets.astype(np.int64), bufs.index.offsets)
        for t in range(offsets.shape[0] - 1):
            assert sorted(ids[offsets[t]:offsets[t + 1]].tolist()) == \
                bufs.index.candidates(t).tolist()


@pytest.mark.parametrize("seed", range(6))
def test_gpu_matches_reference_on_random_assets_and_maps(gpu, seed):
    asset = random_asset(seed)
    assert_matches_reference(gpu.decode_texture(asset, lod=1), decode_texture(asset, lod=1),
                             "gpu random")
    size = (max(1, asset.width // 3), max(1, asset.height // 3))
    ref = decode_texture(asset, size=size, filtered=True)
    assert_matches_reference(gpu.decode_texture(asset, size=size, filtered=True), ref,
                             "gpu random")
    for i, ref in enumerate(decode_maps(asset)):
        assert_matches_reference(gpu.decode_map(asset, i), ref, "gpu random")


def test_gpu_builds_and_expanded_records_give_the_same_bits(gpu):
    """On the GPU: each K's exact build equals the generic build bit for bit (whole texture,
    tile-cooperative, resized and filtered, UV points), and decoding from the expanded
    records made by texgs_expand_kernel equals decoding from the packed records; the
    expanded floats match texgs.runtime.expand_records (CUDA's cos/sin: to an ulp or so)."""
    from texgs import cuda_decoder as cd
    from texgs.runtime import expand_records

    for seed, k in ((0, 1), (1, 5), (2, 8), (3, 12)):
        asset = _with_top_k(random_asset(seed), k)
        w, h = asset.width, asset.height
        bufs = build_gpu_buffers(asset, tile=16)
        geo, col = gpu.expand(bufs)
        ref_geo, ref_col = expand_records(asset)
        np.testing.assert_array_equal(geo[:, :2], ref_geo[:, :2])
        np.testing.assert_array_equal(col, ref_col)
        np.testing.assert_allclose(geo[:, 2:], ref_geo[:, 2:], rtol=1e-5, atol=1e-7)
        exp = dataclasses.replace(bufs)
        exp.use_expanded(geo, col)
        bx, by, _ = cd.GRID_BLOCK
        per_texel = {}
        names = {cd.decode_kernel("texgs_decode_grid_kernel", k), "texgs_decode_grid_kernel"}
        for name in names:
            for b in (bufs, exp):
                st, vals, _ = _gpu_launch(gpu, name, b, cd.GRID_BLOCK,
                                          ((w + bx - 1) // bx, (h + by - 1) // by),
                                          np.uint32(w), np.uint32(h), np.float32(0.0))
                assert st == 0
                per_texel[name, b is exp] = vals
        ref = per_texel["texgs_decode_grid_kernel", False]
        for vals in per_texel.values():
            np.testing.assert_array_equal(vals, ref)
        for b in (bufs, exp):
            np.testing.assert_array_equal(gpu.decode_buffers(b, (w, h))[0], ref)  # tiles
        small = (max(1, w // 3), max(1, h // 3))
        np.testing.assert_array_equal(gpu.decode_texture(asset, size=small, filtered=True),
                                      gpu.decode_texture(asset, size=small, filtered=True,
                                                         expanded=True))
        uv = np.random.default_rng(seed).uniform(-0.5, 1.5, (500, 2))
        np.testing.assert_array_equal(gpu.decode_uv(asset, uv),
                                      gpu.decode_uv(asset, uv, expanded=True))


def test_gpu_rejects_inconsistent_buffers(gpu):
    bufs = _golden_buffers()
    bufs.meta[L.META_COUNT] += 40
    with pytest.raises(AssetFormatError, match="RECORDS_SHORT"):
        gpu.decode_buffers(bufs, (8, 8))


def _gpu_launch(gpu, name: str, bufs: GpuBuffers, block, grid, *extra):
    """Launch a whole-texture decode kernel at the asset's size (no finish) -> (status,
    float32 [H, W, C], candidates uint32 [H, W]); the output is poisoned (NaN) first."""
    from texgs import cuda_decoder as cd

    cuda = gpu.cuda
    w, h = int(bufs.meta[L.META_WIDTH]), int(bufs.meta[L.META_HEIGHT])
    c = int(bufs.meta[L.META_CHANNELS])
    args, keep = gpu._buffer_args(bufs)
    status, host = gpu._status()
    out, _ = gpu._upload(np.full(w * h * c, np.nan, np.float32))
    cand = cuda.mem_alloc(4 * w * h)
    zero4 = [np.uint32(0)] * 4
    gpu._fn[name](*args, *extra, *zero4, out, cand, status, block=block, grid=grid)
    if name == "texgs_decode_grid_kernel":
        assert block == cd.GRID_BLOCK
    cuda.memcpy_dtoh(host, status)
    vals = np.empty((h, w, c), np.float32)
    cnt = np.empty((h, w), np.uint32)
    cuda.memcpy_dtoh(vals, out)
    cuda.memcpy_dtoh(cnt, cand)
    del keep
    return int(host[0]), vals, cnt


@pytest.mark.parametrize("tile, block", [(16, 8), (16, 4), (32, 8), (32, 4), (32, 32), (12, 6)])
def test_gpu_tile_cooperative_kernel_equals_the_per_texel_kernel(gpu, tile, block):
    """On the GPU, texgs_decode_tiles_kernel (blocks of B x B texels inside one index tile,
    candidates culled by block, appended by atomics in any order) gives the bits and counts
    of texgs_decode_grid_kernel at the asset's size, both index codings, and so does its
    two-row build (B x B/2 threads) for even blocks; a launch whose block does not divide
    the tile decodes nothing and stores status -2. Two assets have every Gaussian doubled
    (lists of one batch whose 32-bit ranking words tie at every texel: the kernels' own path
    to the 64-bit ranking)."""
    from texgs import cuda_decoder as cd

    assets = [fmt.read_asset_file(GOLDEN / f"{n}.tgs") for n in GOLDEN_NAMES]
    assets += [random_asset(s) for s in range(6)]
    assets += [_doubled(random_asset(0), 3), _doubled(random_asset(3), 8)]
    for asset in assets:
        w, h = asset.width, asset.height
        bx, by, _ = cd.GRID_BLOCK
        for coding in CODINGS:
            bufs = build_gpu_buffers(asset, tile=tile, coding=coding)
            st, ref, ref_cand = _gpu_launch(
                gpu, "texgs_decode_grid_kernel", bufs, cd.GRID_BLOCK,
                ((w + bx - 1) // bx, (h + by - 1) // by), np.uint32(w), np.uint32(h),
                np.float32(0.0))
            assert st == 0
            for persistent in (False, True):
                got, cand = gpu.decode_buffers(bufs, (w, h), block=block,
                                               persistent=persistent)
                np.testing.assert_array_equal(got, ref)
                np.testing.assert_array_equal(cand, ref_cand)
            k = asset.top_k
            if block % 2 == 0 and k <= cd.TOPK_EXACT_MAX:  # the two-row build, B x B/2
                name = f"{cd.TWO_ROW_TILES_KERNEL}_k{k}"
                fn = gpu._fn[name]
                if block * block // 2 <= gpu._max_threads(fn):
                    for persistent in (False, True):
                        grid = gpu.tile_grid(fn, block, block * block // 2, (w, h), persistent)
                        st, got, cand = _gpu_launch(gpu, name, bufs, (block, block // 2, 1),
                                                    grid)
                        assert st == 0
                        np.testing.assert_array_equal(got, ref)
                        np.testing.assert_array_equal(cand, ref_cand)
    bufs = build_gpu_buffers(assets[0], tile=tile)
    for bad in (5, 7):  # valid launches (at most 1024 threads), blocks not dividing TILE
        if tile % bad:
            st, vals, _ = _gpu_launch(gpu, "texgs_decode_tiles_kernel", bufs, (bad, bad, 1),
                                      (1, 1))
            assert st == -2 and np.isnan(vals).all(), bad


H100_ATTRIBUTES = {"MULTIPROCESSOR_COUNT": 132, "MAX_THREADS_PER_MULTIPROCESSOR": 2048,
                   "MAX_BLOCKS_PER_MULTIPROCESSOR": 32,
                   "MAX_REGISTERS_PER_MULTIPROCESSOR": 65536,
                   "MAX_SHARED_MEMORY_PER_MULTIPROCESSOR": 233472}


@pytest.mark.parametrize("regs, smem, threads, per_sm", [
    (64, 3892, 64, 16),     # the tile kernel's K 5 build, 8 x 8 texels: 32 warps of 64
    (128, 3892, 64, 8),     # the generic build: registers halve it
    (72, 3892, 32, 28),     # the two-row build, 8 x 4 threads: 2304 registers a warp
    (64, 3892, 1024, 1),    # 32 x 32 texels: 64 Ki registers, all of them
    (16, 3892, 512, 4),     # the thread slots
    (32, 3892, 32, 32),     # small blocks: the block slots
    (16, 120000, 64, 1),    # shared memory
])
def test_resident_blocks_follow_cudas_occupancy_rule(emulated_kernels, regs, smem, threads,
                                                     per_sm):
    """CudaDecoder.resident_blocks against CUDA's occupancy calculator worked by hand for an
    H100 (sm_90: 64 Ki registers, 228 KiB shared memory, 2048 threads, 32 blocks per SM)."""
    dec = emulated_decoder(emulated_kernels, attributes=H100_ATTRIBUTES)
    fn = types.SimpleNamespace(get_attribute={"NUM_REGS": regs,
                                              "SHARED_SIZE_BYTES": smem}.__getitem__)
    assert dec.resident_blocks(fn, threads) == 132 * per_sm


def test_persistent_tile_grid_walks_every_texel_block(emulated_kernels):
    """On a stand-in GPU of one multiprocessor the persistent tile decode launches 16
    blocks (64 registers, 64 threads), fewer than the asset's texel blocks, so each walks
    several: the same bits and candidate counts as one launch block per texel block and as
    the per-texel kernel, both codings, one and two rows."""
    from texgs import cuda_decoder as cd

    launched: list = []
    dec = emulated_decoder(emulated_kernels, launched,
                           {**H100_ATTRIBUTES, "MULTIPROCESSOR_COUNT": 1})
    asset = random_asset(10)  # 55 x 67 texels: 63 texel blocks of 8 x 8
    w, h = asset.width, asset.height
    assert -(-w // 8) * -(-h // 8) > 3 * 16, (w, h)
    for coding in CODINGS:
        bufs = build_gpu_buffers(asset, tile=16, coding=coding)
        want = dec.decode_buffers(bufs, (w, h), block=8, persistent=False)
        assert launched[-1][1] == (-(-w // 8), -(-h // 8))
        got = dec.decode_buffers(bufs, (w, h), block=8)
        assert launched[-1][1] == (16, 1)
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)
        bx, by, _ = cd.GRID_BLOCK
        st, per_texel, _ = _gpu_launch(dec, "texgs_decode_grid_kernel", bufs, cd.GRID_BLOCK,
                                       (-(-w // bx), -(-h // by)), np.uint32(w), np.uint32(h),
                                       np.float32(0.0))
        assert st == 0
        np.testing.assert_array_equal(per_texel, want[0])
        name = f"{cd.TWO_ROW_TILES_KERNEL}_k{asset.top_k}"
        st, two, cand = _gpu_launch(dec, name, bufs, (8, 4, 1), (5, 1))  # any grid will do
        assert st == 0
        np.testing.assert_array_equal(two, want[0])
        np.testing.assert_array_equal(cand, want[1])
    assert_matches_reference(want[0], decode_texture(asset, lod=1), "persistent")


# --- the pycuda front, on a stand-in pycuda that runs the kernels' math on the CPU -------------

def test_cuda_decoder_front_on_a_stand_in_pycuda(harness, monkeypatch):
    """texgs.cuda_decoder's uploads, launches and read-backs (shapes, argument order, the
    GPU index swapped in, map finish words, stats), with the kernels replaced by the CPU
    harness: the plumbing the GPU tests rely on, checked here without a GPU."""
    import sys

    from texgs import cuda_decoder

    launched: list = []
    blocks: list = []
    builds: list = []
    # the generic tile build's registers allow 384 threads per block on sm_90 (ptxas: 157)
    limits = {"texgs_decode_tiles_kernel": 384}
    for name, mod in fake_pycuda(harness, launched, blocks, builds, limits).items():
        monkeypatch.setitem(sys.modules, name, mod)
    cuda_decoder._compiled_module.cache_clear()
    try:
        dec = cuda_decoder.CudaDecoder()
        asset = fmt.read_asset_file(GOLDEN / "set_mixed.tgs")
        stats: list = []
        got = dec.decode_texture(asset, lod=2, stats_out=stats)
        assert np.abs(got - np.load(GOLDEN / "set_mixed.lod2.npy")).max() <= FLOAT_TOL
        ref_stats: list = []
        decode_texture(asset, lod=2, stats_out=ref_stats, prune=True)  # its lists
        assert stats == ref_stats
        assert launched == ["tiles"]  # the asset's own size: the tile-cooperative kernel
        # the build of the asset's K: exact for K 1..8 (the stand-in refuses another K with
        # -3, as the kernels do), the generic one above
        for k in (asset.top_k, 1, 8, 9, 32):
            kasset = fmt.read_asset(fmt.write_asset(dataclasses.replace(asset, top_k=k)))
            dec.decode_texture(kasset, lod=2)
            dec.decode_uv(kasset, np.full((3, 2), 0.5))
            want = "" if k > 8 else f"_k{k}"
            assert builds[-2:] == [f"texgs_decode_tiles_kernel{want}",
                                   f"texgs_decode_uv_kernel{want}"], k
        assert blocks[-1][1] == min(8, blocks[-1][0])  # blocks of 8 (or the tile) by default
        # the default (Rice) and fixed codings of the lists: the same bits
        np.testing.assert_array_equal(
            dec.decode_texture(asset, lod=2, coding=L.INDEX_CODING_FIXED), got)
        # the block: given (dividing the index tile), or 8 unless that does not divide it
        for tile, block, kernel in ((16, 4, "tiles"), (32, 8, "tiles"), (16, 16, "tiles"),
                                    (12, None, "grid"), (12, 4, "tiles"), (4, None, "tiles")):
            np.testing.assert_array_equal(
                dec.decode_texture(asset, lod=2, tile=tile, block=block), got)
            assert launched[-1] == kernel, (tile, block)
            if kernel == "tiles":
                assert blocks[-1] == (tile, block or min(8, tile))
        # a block of more threads than the build can launch (32 x 32 on the generic build):
        # the per-texel kernel, the same bits; the exact build launches it
        k12 = fmt.read_asset(fmt.write_asset(dataclasses.replace(asset, top_k=12)))
        np.testing.assert_array_equal(dec.decode_texture(k12, lod=2, tile=32, block=32),
                                      dec.decode_texture(k12, lod=2, tile=32, block=8))
        assert launched[-2:] == ["grid", "tiles"] and blocks[-1] == (32, 8)
        dec.decode_texture(asset, lod=2, tile=32, block=32)
        assert launched[-1] == "tiles" and blocks[-1] == (32, 32)
        n = len(launched)
        for tile, block in ((16, 3), (12, 8), (32, 64)):
            with pytest.raises(ValueError, match="decode block"):
                dec.decode_texture(asset, lod=2, tile=tile, block=block)
        assert len(launched) == n  # refused before any launch
        got = dec.decode_texture(asset, gpu_index=True, size=(20, 9), filtered=True)
        ref = decode_texture(asset, size=(20, 9), filtered=True)
        assert np.abs(got - ref).max() <= FLOAT_TOL
        assert launched[-1] == "grid"  # resized and filtered: one thread per output texel
        for i in range(len(asset.map_table())):
            ref = np.load(GOLDEN / f"set_mixed.map{i}.npy")
            assert np.abs(dec.decode_map(asset, i) - ref).max() <= FLOAT_TOL
        uv = np.random.default_rng(2).uniform(-1, 2, (50, 2))
        assert np.abs(dec.decode_uv(asset, uv) - decode_uv(asset, uv)).max() <= FLOAT_TOL
        np.testing.assert_array_equal(dec.decode_uv(asset, uv, coding=L.INDEX_CODING_FIXED),
                                      dec.decode_uv(asset, uv))
        assert dec.decode_uv(asset, np.zeros((0, 2))).shape == (0, asset.channel_count)
        # the expanded records: made by the expand kernel, then the same bits
        n = len(launched)
        np.testing.assert_array_equal(dec.decode_texture(asset, lod=2, expanded=True),
                                      dec.decode_texture(asset, lod=2))
        assert launched[n:] == ["expand", "tiles", "tiles"]
        np.testing.assert_array_equal(dec.decode_uv(asset, uv, expanded=True),
                                      dec.decode_uv(asset, uv))
        got = dec.decode_texture(asset, size=(20, 9), filtered=True, expanded=True,
                                 gpu_index=True)
        np.testing.assert_array_equal(got, dec.decode_texture(asset, size=(20, 9),
                                                              filtered=True))
        geo, col = dec.expand(build_gpu_buffers(asset))
        np.testing.assert_array_equal(geo, harness.expand(build_gpu_buffers(asset))[0])
        assert col.shape == (asset.gaussian_count, asset.channel_count)
    finally:
        cuda_decoder._compiled_module.cache_clear()


# --- the CLI -----------------------------------------------------------------------------------

def test_cli_backend_cuda_without_gpu_exits_5_naming_what_is_missing(tmp_path):
    from texgs.cuda_decoder import CudaDecoder

    try:
        CudaDecoder()
    except UnsupportedError as e:
        reason = str(e)
    else:
        pytest.skip("a GPU and pycuda are present: --backend cuda works here")
    res = run_cli("decode", str(GOLDEN / "rgb_clamp.tgs"), "-o", str(tmp_path / "y.png"),
                  "--backend", "cuda")
    assert res.returncode == 5, res.stderr
    lines = res.stderr.strip().splitlines()
    assert lines == [f"texgs: error: {reason}"]
    assert "pip install 'texgs[cuda]'" in lines[0] and "GPU" in lines[0]
    assert not (tmp_path / "y.png").exists()


def _image(path: Path) -> np.ndarray:
    """A decoded map file as an array: 8-bit PNG as integers, EXR/TIFF as float32."""
    if path.suffix == ".png":
        from PIL import Image

        return np.asarray(Image.open(path)).astype(np.int32)
    from texgs.hdr_io import load_hdr

    return load_hdr(path)[0]


@pytest.mark.parametrize("name", ["rgb_clamp", "set_mixed"])
def test_cli_decode_backend_cuda_writes_what_the_numpy_backend_writes(emulated_kernels,
                                                                      tmp_path, name):
    """`texgs decode --backend cuda` end to end, its pycuda the stand-in over the kernels run
    on the CPU (the path a user with a GPU takes): every map file equals the NumPy backend's
    within one 8-bit step (the 1/255 contract) or 1e-4 on float maps, a set's maps included.
    (The CLI passed the NumPy decoder's prune= to CudaDecoder.decode_texture, which had no
    such parameter: the command raised a TypeError wherever a GPU was present.)"""
    from texgs import cli, cuda_decoder as cd

    asset = GOLDEN / f"{name}.tgs"
    outs = {}
    with pytest.MonkeyPatch.context() as mp:
        for mod_name, mod in emulated_pycuda(emulated_kernels).items():
            mp.setitem(sys.modules, mod_name, mod)
        cd._compiled_module.cache_clear()
        try:
            for backend in ("cuda", "numpy"):
                out = tmp_path / backend
                out.mkdir()
                target = out / "out.png" if name == "rgb_clamp" else out
                assert cli.main(["decode", str(asset), "-o", str(target), "--backend",
                                 backend]) == 0
                outs[backend] = {p.name: _image(p) for p in sorted(out.iterdir())}
        finally:
            cd._compiled_module.cache_clear()
    assert outs["cuda"].keys() == outs["numpy"].keys() and outs["cuda"]
    for file, img in outs["cuda"].items():
        ref = outs["numpy"][file]
        assert img.shape == ref.shape and img.dtype == ref.dtype, file
        tol = 1 if img.dtype == np.int32 else 1e-4
        assert np.abs(img - ref).max() <= tol, file


def test_cuda_decode_texture_takes_every_parameter_of_the_numpy_one():
    """The CLI swaps CudaDecoder.decode_texture in for texgs.decode.decode_texture ("same
    signature"): every parameter of the NumPy one is one of the CUDA one's, with the same
    default but for prune (the GPU buffers' lists are pruned unless asked not to be; the
    values are the same either way)."""
    import inspect

    from texgs.cuda_decoder import CudaDecoder

    ref = inspect.signature(decode_texture).parameters
    got = inspect.signature(CudaDecoder.decode_texture).parameters
    for name, param in ref.items():
        assert name in got, name
        assert got[name].default == param.default or name == "prune", name


def test_cli_backend_bogus_exits_1(tmp_path):
    res = run_cli("decode", str(GOLDEN / "rgb_clamp.tgs"), "-o", str(tmp_path / "y.png"),
                  "--backend", "bogus")
    assert res.returncode == 1
    assert res.stderr.strip() == "texgs: error: --backend bogus: expected numpy or cuda"


def test_cli_backend_numpy_is_the_default(tmp_path):
    a = run_cli("decode", str(GOLDEN / "rgb_clamp.tgs"), "-o", str(tmp_path / "a.png"))
    b = run_cli("decode", str(GOLDEN / "rgb_clamp.tgs"), "-o", str(tmp_path / "b.png"),
                "--backend", "numpy")
    assert a.returncode == b.returncode == 0, a.stderr + b.stderr
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


def test_importing_texgs_does_not_import_pycuda():
    res = subprocess.run([__import__("sys").executable, "-c",
                          "import sys, texgs, texgs.cli, texgs.cuda_decoder; "
                          "print('pycuda' in sys.modules)"], capture_output=True, text=True,
                         cwd=ROOT, env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    assert res.stdout.strip() == "False", res.stderr


def test_report_max_errors():
    """Prints the largest errors measured above (run with -s to see them)."""
    print("max abs error vs NumPy:", {k: f"{v:.3g}" for k, v in sorted(MAX_ERR.items())})


def test_block_cull_is_conservative_for_needle_thin_gaussians(harness):
    """Sigmas up to 2^12 apart (format-valid: log2 scales -9..3), where a c - b^2 cancels in
    float32 and texgs_block_keeps relies on its margins for the rounding of det and of q:
    the tile decode equals the per-texel decode bit for bit, at two block sizes, clamp and
    repeat."""
    from test_decode import _random_asset

    for seed in range(6):
        asset = _random_asset(seed, 64, 64, 1000, seed % 2, 32, smin=-9.0, smax=3.0)
        bufs = build_gpu_buffers(asset, tile=32)
        per_texel, _ = harness.decode_grid(bufs, (64, 64))
        for block in (8, 4):
            got, _ = harness.decode_tiles(bufs, block=block)
            np.testing.assert_array_equal(got, per_texel)


def test_reach_test_skips_the_conics_numpy_skips(harness):
    """texgs_sample_point's reach test (packed records, index tiles of at least
    REACH_MIN_TILE texels) takes the conics of the candidates texgs.runtime.may_reach passes
    (but at an edge case, where libm's exp2f is not NumPy's), unfiltered and filtered; with
    smaller tiles or expanded records every candidate's conic; its values are the expanded
    records' (test_expanded_records_decode_the_same_values compares the bits)."""
    from reach_checks import expected_reach

    assets = [fmt.read_asset_file(GOLDEN / f"{n}.tgs") for n in GOLDEN_NAMES]
    assets += [random_asset(seed) for seed in range(4)]
    skipped = 0
    for asset in assets:
        half = (max(1, asset.width // 2), max(1, asset.height // 2))
        for kw in ({}, {"size": half, "filtered": True}, {"tile": 16}):
            bufs, size, fvar = decode_buffers(asset, **kw)
            reached = harness.reached_grid(bufs, size, fvar).astype(np.int64)
            _, cand = harness.decode_grid(bufs, size, fvar)
            diff = reached - expected_reach(asset, **kw)
            assert np.abs(diff).max() <= 1 and (diff != 0).mean() <= 1e-3
            assert (reached <= cand).all()
            if "tile" in kw:  # under REACH_MIN_TILE: no test
                np.testing.assert_array_equal(reached, cand)
            else:
                skipped += int(cand.sum() - reached.sum())
                exp = _expanded(harness, bufs)  # the conic is there: no test
                np.testing.assert_array_equal(harness.reached_grid(exp, size, fvar), cand)
    assert skipped > 0  # the test does skip candidates


def _binned_uv_points(asset: fmt.Asset, seed: int) -> np.ndarray:
    """Random UV points over and beyond the texture, clustered and scattered, with the
    texture's edges and corners exactly (u or v 0 or 1, where a clamp axis puts the point on
    the far edge), and a NaN point."""
    rng = np.random.default_rng(seed)
    pts = [rng.uniform(-0.3, 1.3, (700, 2)), rng.normal(0.5, 0.02, (300, 2))]
    edge = np.array([[1.0, 1.0], [0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 0.37], [0.61, 1.0],
                     [np.nan, 0.5]])
    return np.concatenate(pts + [edge])


def test_binned_uv_decode_gives_the_per_point_bits(gpu):
    """UV points binned by texel block and decoded cooperatively (texgs_uv_bin_*,
    texgs_decode_uv_blocks_kernel) give the per-point kernel's bits at every point: golden
    and random assets, Rice and fixed-width lists, packed and expanded records, 8-texel blocks
    over the chosen index, blocks that are the whole index tile (8-texel index), lists of
    more than one batch (set_mixed: 71 candidates), persistent and one launch block per
    texel block."""
    assets = [fmt.read_asset_file(GOLDEN / f"{n}.tgs") for n in GOLDEN_NAMES]
    assets += [random_asset(seed) for seed in range(6)]
    for i, asset in enumerate(assets):
        uv = _binned_uv_points(asset, i)
        for coding in (L.INDEX_CODING_RICE, L.INDEX_CODING_FIXED):
            for tile in (None, 8):
                bufs = build_gpu_buffers(asset, tile=tile, coding=coding)
                ref = gpu.decode_uv_buffers(bufs, uv)
                got = gpu.decode_uv_buffers(bufs, uv, binned=True)
                np.testing.assert_array_equal(got, ref)
        exp = build_gpu_buffers(asset)
        exp.use_expanded(*gpu.expand(exp))
        np.testing.assert_array_equal(
            gpu.decode_uv_buffers(exp, uv, binned=True, persistent=False),
            gpu.decode_uv_buffers(exp, uv))
    # and both against the NumPy reference
    asset = assets[0]
    uv = _binned_uv_points(asset, 99)[:-1]  # the reference's NaN point is its own matter
    assert_matches_reference(gpu.decode_uv(asset, uv, binned=True), decode_uv(asset, uv),
                             "binned")
