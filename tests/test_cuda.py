"""The CUDA decoder (cuda/, texgs/cuda_decoder.py) against the NumPy reference.

Without a GPU: nvcc compiles the kernels for every target architecture; the kernels' math
(cuda/texgs_math.cuh) runs on the CPU through cuda/host_harness.cpp (g++, ctypes) and is
compared with texgs.decode on the golden vectors and on seeded random assets; the one
validation routine rejects inconsistent buffers; the harness built with ASan/UBSan runs over
the broken-asset corpus without a report. With a GPU and pycuda, the kernels themselves are
compared with the reference (skipped here, with the reason)."""

from __future__ import annotations

import ctypes
import dataclasses
import shutil
import struct
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli

from texgs import format as fmt
from texgs import layout as L
from texgs.decode import decode_maps, decode_texture, decode_uv
from texgs.errors import AssetFormatError, UnsupportedError
from texgs.runtime import GpuBuffers, build_gpu_buffers, decode_buffers

ROOT = Path(__file__).resolve().parents[1]
CUDA = ROOT / "cuda"
GOLDEN = Path(__file__).parent / "golden"
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
CXX_FLAGS = ["-std=c++14", "-ffp-contract=off", "-Wall", "-Wextra", "-Werror"]
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
    nvcc = _nvcc()
    if nvcc is None:
        pytest.skip("nvcc not found (CUDA toolkit not installed)")
    gencode = [a for arch in ARCHS for a in ("-gencode", f"arch=compute_{arch},code=sm_{arch}")]
    obj = tmp_path / "texgs_kernels.o"
    res = subprocess.run([nvcc, "--fmad=false", "-std=c++14", "-c", str(CUDA / "texgs_kernels.cu"),
                          "-o", str(obj), *gencode], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert obj.stat().st_size > 0
    cuobjdump = shutil.which("cuobjdump") or str(Path(nvcc).resolve().parent / "cuobjdump")
    if Path(cuobjdump).exists():  # one cubin per architecture
        listed = subprocess.run([cuobjdump, "--list-elf", str(obj)], capture_output=True,
                                text=True)
        assert listed.returncode == 0, listed.stderr
        for arch in ARCHS:
            assert f"sm_{arch}" in listed.stdout, listed.stdout


# --- the CPU harness ----------------------------------------------------------------------------

class Harness:
    """ctypes front of cuda/host_harness.cpp: the CUDA decoder's math on the CPU."""

    def __init__(self, lib: ctypes.CDLL):
        self.lib = lib
        lib.texgs_harness_status_message.restype = ctypes.c_char_p
        lib.texgs_harness_status_message.argtypes = [ctypes.c_int]

    @staticmethod
    def _ptr(a: np.ndarray):
        return a.ctypes.data_as(ctypes.c_void_p) if a.size else None

    def _bufs(self, meta, records, offsets, ids) -> tuple[list, list]:
        keep = [np.ascontiguousarray(a, np.uint32) for a in (meta, records, offsets, ids)]
        args: list = []
        for a in keep:
            args += [self._ptr(a), ctypes.c_uint32(a.size)]
        return args, keep

    def _args(self, bufs: GpuBuffers) -> tuple[list, list]:
        return self._bufs(bufs.meta, bufs.records, bufs.tile_offsets, bufs.tile_ids)

    def message(self, code: int) -> str:
        return self.lib.texgs_harness_status_message(code).decode()

    def validate(self, meta, records, offsets, ids, with_index: bool = True) -> int:
        args, _keep = self._bufs(meta, records, offsets, ids)
        return self.lib.texgs_harness_validate(*args, ctypes.c_int(int(with_index)))

    def decode_grid(self, bufs: GpuBuffers, size: tuple[int, int], filter_var: float = 0.0,
                    finish=None) -> tuple[np.ndarray, np.ndarray]:
        """-> (float32 [H', W', C], candidates uint32 [H', W'])."""
        w, h = size
        c = int(bufs.meta[L.META_CHANNELS])
        out = np.zeros((h, w, c), np.float32)
        cand = np.zeros((h, w), np.uint32)
        fin = None if finish is None else np.ascontiguousarray(finish, np.uint32)
        args, _keep = self._args(bufs)
        st = self.lib.texgs_harness_decode_grid(
            *args, ctypes.c_uint32(w), ctypes.c_uint32(h), ctypes.c_float(filter_var),
            None if fin is None else self._ptr(fin), self._ptr(out), self._ptr(cand))
        assert st == 0, self.message(st)
        return out, cand

    def decode_tiles(self, bufs: GpuBuffers, batch: int = 256, finish=None,
                     color_cache: int = 2048) -> tuple[np.ndarray, np.ndarray]:
        """texgs_decode_tiles_kernel's algorithm (asset size, unfiltered) with batches of
        ``batch`` candidates and a colour cache of ``color_cache`` floats -> (float32
        [H, W, C], candidates uint32 [H, W])."""
        w, h = int(bufs.meta[L.META_WIDTH]), int(bufs.meta[L.META_HEIGHT])
        c = int(bufs.meta[L.META_CHANNELS])
        out = np.full((h, w, c), np.nan, np.float32)  # poisoned: every texel must be written
        cand = np.full((h, w), 0xFFFFFFFF, np.uint32)
        fin = None if finish is None else np.ascontiguousarray(finish, np.uint32)
        args, _keep = self._args(bufs)
        st = self.lib.texgs_harness_decode_tiles(
            *args, ctypes.c_uint32(batch), ctypes.c_uint32(color_cache),
            None if fin is None else self._ptr(fin),
            self._ptr(out), self._ptr(cand))
        assert st == 0, self.message(st)
        return out, cand

    def decode_uv(self, bufs: GpuBuffers, uv: np.ndarray) -> np.ndarray:
        uv = np.ascontiguousarray(uv, np.float64)
        out = np.zeros((uv.shape[0], int(bufs.meta[L.META_CHANNELS])), np.float32)
        args, _keep = self._args(bufs)
        st = self.lib.texgs_harness_decode_uv(*args, self._ptr(uv), ctypes.c_uint32(uv.shape[0]),
                                              self._ptr(out))
        assert st == 0, self.message(st)
        return out

    def build_index(self, bufs: GpuBuffers) -> tuple[np.ndarray, np.ndarray]:
        meta = np.ascontiguousarray(bufs.meta, np.uint32)
        rec = np.ascontiguousarray(bufs.records, np.uint32)
        tiles = int(meta[L.META_TILES_X]) * int(meta[L.META_TILES_Y])
        offsets = np.zeros(tiles + 1, np.uint32)
        f = self.lib.texgs_harness_build_index
        base = [self._ptr(meta), ctypes.c_uint32(meta.size), self._ptr(rec),
                ctypes.c_uint32(rec.size), self._ptr(offsets)]
        assert f(*base, None, ctypes.c_uint64(0)) == 0
        ids = np.zeros(max(int(offsets[-1]), 1), np.uint32)
        assert f(*base, self._ptr(ids), ctypes.c_uint64(ids.size)) == 0
        return offsets, ids[:int(offsets[-1])]

    def decode_texture(self, asset: fmt.Asset, lod=None, size=None, filtered=False, tile=None,
                       id_bits=None, finish=None) -> np.ndarray:
        """As texgs.decode.decode_texture, through the harness."""
        bufs, wh, fvar = decode_buffers(asset, lod, size, tile, id_bits, filtered)
        return self.decode_grid(bufs, wh, fvar, finish)[0]


def _compile_harness(out: Path, extra: list[str]) -> Path:
    cxx = shutil.which("g++")
    if cxx is None:
        pytest.skip("g++ not found")
    res = subprocess.run([cxx, *CXX_FLAGS, *extra, str(CUDA / "host_harness.cpp"), "-o", str(out)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return out


@pytest.fixture(scope="module")
def harness(tmp_path_factory) -> Harness:
    so = _compile_harness(tmp_path_factory.mktemp("harness") / "texgs_harness.so",
                          ["-O2", "-shared", "-fPIC"])
    return Harness(ctypes.CDLL(str(so)))


def test_status_codes_are_one_list_shared_by_python_and_cpp(harness):
    from texgs.cuda_decoder import status_messages

    msgs = status_messages()
    assert sorted(msgs) == list(range(15))
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
        t = asset.tile_size
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


@pytest.mark.parametrize("batch, color_cache", [(1, 2048), (3, 2048), (256, 2048), (256, 0),
                                                (256, 24)])
def test_tile_cooperative_decode_equals_the_per_texel_decode(harness, batch, color_cache):
    """texgs_decode_tiles_kernel's math (candidates dequantized once per tile, in batches;
    the colours kept with them where the tile's list fits one batch and the cache) gives bit
    for bit the per-texel kernel's values and candidate counts at the asset's size: golden
    vectors at every LOD, random assets (both address modes, sets, finished maps), other
    tile sizes and id widths."""
    cases = []
    for name in GOLDEN_NAMES:
        asset = fmt.read_asset_file(GOLDEN / f"{name}.tgs")
        for lod in range(1, len(asset.lod_counts) + 1):
            cases.append((asset, build_gpu_buffers(asset, lod), None))
    for seed in range(12):
        asset = random_asset(seed)
        cases.append((asset, build_gpu_buffers(asset), None))
        for i in range(len(asset.map_table())):
            cases.append((asset, build_gpu_buffers(asset), L.map_finish_words(asset, i)))
        for tile, id_bits in ((8, 32), (32, 16)):
            cases.append((asset, build_gpu_buffers(asset, tile=tile, id_bits=id_bits), None))
    for asset, bufs, fin in cases:
        ref, ref_cand = harness.decode_grid(bufs, (asset.width, asset.height), 0.0, fin)
        got, cand = harness.decode_tiles(bufs, batch, fin, color_cache)
        np.testing.assert_array_equal(got, ref)
        np.testing.assert_array_equal(cand, ref_cand)


def test_random_assets_cover_both_address_modes_sets_and_prefixes():
    assets = [random_asset(s) for s in range(12)]
    assert {(a.address_x, a.address_y) for a in assets} >= {(0, 0), (1, 1)}
    assert any(m.flags & fmt.MAP_FLAG_NORMAL_Z for a in assets for m in a.map_table())
    assert any(len(a.lod_counts) > 1 for a in assets)


# --- validation -------------------------------------------------------------------------------

def _golden_buffers(name: str = "set_mixed") -> GpuBuffers:
    return build_gpu_buffers(fmt.read_asset_file(GOLDEN / f"{name}.tgs"))


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


def test_validation_checks_buffer_lengths(harness):
    bufs = _golden_buffers()
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


def test_corrupt_tile_lists_are_skipped_not_read_out_of_bounds(harness):
    """Offsets out of order and ids >= COUNT pass the O(1) header checks; the per-access
    guards skip them (the sanitizer test runs the same cases under ASan)."""
    for case in _index_corruptions(_golden_buffers("rgb_clamp")):
        got, cand = harness.decode_grid(case, (32, 24))
        assert np.isfinite(got).all()
        tiles, tiles_cand = harness.decode_tiles(case, 3)  # the tile-cooperative path too
        np.testing.assert_array_equal(tiles, got)
        np.testing.assert_array_equal(tiles_cand, cand)


def _index_corruptions(bufs: GpuBuffers) -> list[GpuBuffers]:
    out = []
    off = bufs.tile_offsets.copy()
    off[1:-1] = off[1:-1][::-1]  # decreasing
    out.append(dataclasses.replace(bufs, tile_offsets=off))
    ids = bufs.tile_ids.copy()
    ids[::2] = 0xFFFFFFFF  # all-ones ids (>= COUNT unless COUNT is a power of two)
    out.append(dataclasses.replace(bufs, tile_ids=ids))
    meta = bufs.meta.copy()
    meta[L.META_ID_BITS] = 32  # packed narrow ids read as 32-bit ids: huge ids, fewer entries
    off = np.minimum(bufs.tile_offsets, bufs.tile_ids.size).astype(np.uint32)
    out.append(dataclasses.replace(bufs, meta=meta, tile_offsets=off))
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
    for k, b in enumerate(_index_corruptions(_golden_buffers("rgb_clamp"))):
        add(f"index_corruption_{k}", _case_bytes(b.meta, b.records, b.tile_offsets,
                                                 b.tile_ids), "ok")
    return paths, expect


def test_sanitized_harness_over_the_broken_asset_corpus(tmp_path):
    """cuda/host_harness.cpp under ASan + UBSan (no recovery), in its own process, over
    every corpus file: valid assets decode (grid, filtered grid, UV points incl. NaN and
    inf, index rebuild); broken ones, uploaded carelessly, are rejected by
    texgs_validate_buffers; not one sanitizer report."""
    t0 = time.monotonic()
    exe = _compile_harness(tmp_path / "harness_asan",
                           ["-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined",
                            "-fno-sanitize-recover=all"])
    cases = tmp_path / "cases"
    cases.mkdir()
    paths, expect = corpus_cases(cases)
    env = {"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:halt_on_error=1",
           "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1", "PATH": "/usr/bin:/bin"}
    res = subprocess.run([str(exe), *map(str, paths)], capture_output=True, text=True, env=env,
                         timeout=300)
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
    elapsed = time.monotonic() - t0
    print(f"sanitizer run: {len(paths)} cases ({seen}) in {elapsed:.1f} s")
    assert elapsed < 120


# --- the GPU (pycuda) -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def gpu():
    from texgs.cuda_decoder import CudaDecoder

    try:
        return CudaDecoder()
    except UnsupportedError as e:
        pytest.skip(str(e))


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


def test_gpu_rejects_inconsistent_buffers(gpu):
    bufs = _golden_buffers()
    bufs.meta[L.META_COUNT] += 40
    with pytest.raises(AssetFormatError, match="RECORDS_SHORT"):
        gpu.decode_buffers(bufs, (8, 8))


# --- the pycuda front, on a stand-in pycuda that runs the kernels' math on the CPU -------------

class _FakeMem:
    """A 'device allocation': a byte buffer."""

    def __init__(self, nbytes: int):
        self.data = np.zeros(nbytes, np.uint8)

    def view(self, dtype, count: int | None = None) -> np.ndarray:
        v = self.data.view(dtype)
        return v if count is None else v[:count]


def _fake_pycuda(harness: Harness, launched: list | None = None):
    """Modules pycuda, pycuda.driver, pycuda.autoprimaryctx, pycuda.compiler whose kernels
    call the CPU harness with the arguments texgs.cuda_decoder passes (checks the front's
    argument order, sizes and read-back; not the GPU)."""
    import types

    launched = [] if launched is None else launched
    drv = types.ModuleType("pycuda.driver")
    drv.init = lambda: None
    drv.Device = types.SimpleNamespace(count=lambda: 1)
    drv.mem_alloc = lambda n: _FakeMem(int(n))
    drv.memcpy_htod = lambda mem, a: mem.data.__setitem__(slice(0, a.nbytes),
                                                          np.frombuffer(a.tobytes(), np.uint8))
    drv.memcpy_dtoh = lambda a, mem: a.reshape(-1).view(np.uint8).__setitem__(
        slice(None), mem.data[:a.nbytes])
    drv.memset_d32 = lambda mem, v, n: mem.view(np.uint32, n).fill(v)

    def buffers(args):
        return [args[2 * k].view(np.uint32, int(args[2 * k + 1])) for k in range(4)]

    def grid(*a, block, grid):
        meta, rec, off, ids = buffers(a)
        w, h, fvar = int(a[8]), int(a[9]), float(a[10])
        bufs = GpuBuffers(meta, rec, off, ids, 32, None)
        vals, cand = harness.decode_grid(bufs, (w, h), fvar, np.array(a[11:15], np.uint32))
        a[15].view(np.float32, vals.size)[:] = vals.reshape(-1)
        a[16].view(np.uint32, cand.size)[:] = cand.reshape(-1)
        a[17].view(np.int32, 1)[0] = 0
        assert block == (16, 16, 1) and grid[0] * 16 >= w and grid[1] * 16 >= h
        launched.append("grid")

    def tiles(*a, block, grid):
        meta, rec, off, ids = buffers(a)
        bufs = GpuBuffers(meta, rec, off, ids, 32, None)
        vals, cand = harness.decode_tiles(bufs, 256, np.array(a[8:12], np.uint32))
        a[12].view(np.float32, vals.size)[:] = vals.reshape(-1)
        a[13].view(np.uint32, cand.size)[:] = cand.reshape(-1)
        a[14].view(np.int32, 1)[0] = 0
        tile = int(meta[L.META_TILE])
        assert block == (tile * tile, 1, 1)
        assert grid == (int(meta[L.META_TILES_X]) * int(meta[L.META_TILES_Y]), 1)
        launched.append("tiles")

    def uv(*a, block, grid):
        meta, rec, off, ids = buffers(a)
        n = int(a[9])
        vals = harness.decode_uv(GpuBuffers(meta, rec, off, ids, 32, None),
                                 a[8].view(np.float64, 2 * n).reshape(n, 2))
        a[10].view(np.float32, vals.size)[:] = vals.reshape(-1)
        a[11].view(np.int32, 1)[0] = 0

    def count(*a, block, grid):
        meta, rec, _, _ = buffers(a)
        offsets, _ids = harness.build_index(GpuBuffers(meta, rec, None, None, 32, None))
        a[8].view(np.uint32, offsets.size)[1:] = np.diff(offsets)
        a[9].view(np.int32, 1)[0] = 0

    def scan(tiles, offsets, cursors, block, grid):
        off = offsets.view(np.uint32, int(tiles) + 1)
        off[:] = np.concatenate([[0], np.cumsum(off[1:])]).astype(np.uint32)
        cursors.view(np.uint32, int(tiles))[:] = off[:-1]

    def fill(*a, block, grid):
        meta, rec, _, _ = buffers(a)
        offsets, ids = harness.build_index(GpuBuffers(meta, rec, None, None, 32, None))
        a[9].view(np.uint32, ids.size)[:] = ids[::-1]  # any order within a tile
        for t in range(offsets.size - 1):  # ...but each list must hold its own ids
            a[9].view(np.uint32, ids.size)[offsets[t]:offsets[t + 1]] = \
                ids[offsets[t]:offsets[t + 1]][::-1]
        a[10].view(np.int32, 1)[0] = 0

    fns = {"texgs_decode_grid_kernel": grid, "texgs_decode_tiles_kernel": tiles,
           "texgs_decode_uv_kernel": uv,
           "texgs_index_count_kernel": count, "texgs_index_scan_kernel": scan,
           "texgs_index_fill_kernel": fill, "texgs_validate_kernel": lambda *a, **k: None}
    comp = types.ModuleType("pycuda.compiler")

    class SourceModule:
        def __init__(self, source, no_extern_c, options, include_dirs):
            assert "--fmad=false" in options and no_extern_c
            assert '#include "texgs_math.cuh"' in source
            assert (Path(include_dirs[0]) / "texgs_math.cuh").exists()

        def get_function(self, name):
            return fns[name]

    comp.SourceModule = SourceModule
    pkg = types.ModuleType("pycuda")
    pkg.driver, pkg.compiler = drv, comp
    return {"pycuda": pkg, "pycuda.driver": drv, "pycuda.compiler": comp,
            "pycuda.autoprimaryctx": types.ModuleType("pycuda.autoprimaryctx")}


def test_cuda_decoder_front_on_a_stand_in_pycuda(harness, monkeypatch):
    """texgs.cuda_decoder's uploads, launches and read-backs (shapes, argument order, the
    GPU index swapped in, map finish words, stats), with the kernels replaced by the CPU
    harness: the plumbing the GPU tests rely on, checked here without a GPU."""
    import sys

    from texgs import cuda_decoder

    launched: list = []
    for name, mod in _fake_pycuda(harness, launched).items():
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
        got = dec.decode_texture(asset, gpu_index=True, size=(20, 9), filtered=True)
        ref = decode_texture(asset, size=(20, 9), filtered=True)
        assert np.abs(got - ref).max() <= FLOAT_TOL
        assert launched[-1] == "grid"  # resized and filtered: one thread per output texel
        for i in range(len(asset.map_table())):
            ref = np.load(GOLDEN / f"set_mixed.map{i}.npy")
            assert np.abs(dec.decode_map(asset, i) - ref).max() <= FLOAT_TOL
        uv = np.random.default_rng(2).uniform(-1, 2, (50, 2))
        assert np.abs(dec.decode_uv(asset, uv) - decode_uv(asset, uv)).max() <= FLOAT_TOL
        assert dec.decode_uv(asset, np.zeros((0, 2))).shape == (0, asset.channel_count)
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
