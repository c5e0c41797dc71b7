"""The CUDA decoder: a thin PyCUDA front of ``cuda/texgs_kernels.cu`` (docs/RUNTIME.md
"CUDA decoder").

Same results as the NumPy reference (:mod:`texgs.decode`), whose functions this module
mirrors: :meth:`CudaDecoder.decode_texture` <-> ``decode.decode_texture``,
:meth:`CudaDecoder.decode_uv` <-> ``decode.decode_uv``, :meth:`CudaDecoder.decode_map` <->
``decode.decode_maps(...)[i]``. The per-texel math is ``cuda/texgs_math.cuh``, which the
tests also run on the CPU (``cuda/host_harness.cpp``) against the reference.

pycuda is imported on first use, never when texgs is imported. Without pycuda, an NVIDIA
driver or a GPU, :class:`CudaDecoder` raises :class:`~texgs.errors.UnsupportedError` with a
one-line reason. The kernels are compiled with nvcc (through pycuda's ``SourceModule``) the
first time a decoder is made in a process and reused after that; pycuda also caches the
binary on disk. The sources are found next to the package, at ``<repo>/cuda`` (a source
checkout or an editable install), like the shaders in ``<repo>/engine_shaders``.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import numpy as np

from . import layout as L
from .decode import DecodeStats
from .errors import AssetFormatError, UnsupportedError
from .format import Asset
from .runtime import GpuBuffers, build_gpu_buffers, decode_block, decode_buffers

CUDA_DIR = Path(__file__).resolve().parents[1] / "cuda"
KERNEL_SOURCE = CUDA_DIR / "texgs_kernels.cu"
MATH_HEADER = CUDA_DIR / "texgs_math.cuh"
# no fused multiply-adds: the float32 operations of the NumPy reference, one by one
NVCC_OPTIONS = ("--fmad=false", "-std=c++14")
GRID_BLOCK = (16, 16, 1)  # decode: one thread per output texel
POINT_BLOCK = 256  # UV decode and index passes: one thread per point / Gaussian
SCAN_BLOCK = 1024  # index prefix sum: one block

# The decode kernels' top-K builds (cuda/texgs_kernels.cu): K 1..TOPK_EXACT_MAX each have their
# own, the K best held in registers; larger K take the generic build (texgs_topk_capacity).
TOPK_EXACT_MAX = 8
DECODE_KERNELS = ("texgs_decode_grid_kernel", "texgs_decode_tiles_kernel", "texgs_decode_uv_kernel",
                  "texgs_decode_uv_blocks_kernel")
# The tile kernel's two-row builds (B x B/2 threads, two texels each; exact K 1..8 only):
# f"{TWO_ROW_TILES_KERNEL}_k{K}", timed beside the one-row kernel by bench_cuda_decode.
TWO_ROW_TILES_KERNEL = "texgs_decode_tiles2_kernel"

# The tile kernel's phase-profile builds (nvcc -DTEXGS_PROFILE: CudaDecoder(profile=True);
# one and two rows, exact K 1..8): f"{name}_k{K}", the tile kernel's parameters then a
# uint64 buffer of TEXGS_PROFILE_WORDS per launch block (profile_fields;
# bench/bench_cuda_profile.py).
PROFILE_TILES_KERNELS = ("texgs_decode_tiles_profile_kernel", "texgs_decode_tiles2_profile_kernel")

NEEDS = "the CUDA decoder needs pycuda (pip install 'texgs[cuda]') and an NVIDIA GPU"


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__


def _x_list(path: Path, macro: str) -> list[tuple[int, str, str]]:
    """The entries X(code, name, "text") of the X-macro list ``#define macro(X)`` in
    ``path``, by code."""
    lines = iter(path.read_text().splitlines())
    body = []
    for line in lines:
        if line.startswith(f"#define {macro}(X)"):
            body.append(line)
            while body[-1].rstrip().endswith("\\"):
                body.append(next(lines))
            break
    pat = re.compile(r'X\((\d+), (\w+), "([^"]*)"\)')
    return sorted((int(m.group(1)), m.group(2), m.group(3))
                  for m in pat.finditer("\n".join(body)))


@lru_cache(maxsize=1)
def status_messages() -> dict[int, str]:
    """texgs_validate_buffers status code -> "NAME: message", read from the one list in
    cuda/texgs_math.cuh (TEXGS_STATUS_LIST)."""
    return {code: f"{name}: {text}" for code, name, text in
            _x_list(MATH_HEADER, "TEXGS_STATUS_LIST")}


@lru_cache(maxsize=1)
def profile_fields() -> list[tuple[str, str]]:
    """(name, meaning) of each uint64 word of a launch block's row in the tile kernel's
    phase profile, in order: the single list TEXGS_PROFILE_LIST of cuda/texgs_kernels.cu."""
    return [(name, text) for _, name, text in _x_list(KERNEL_SOURCE, "TEXGS_PROFILE_LIST")]


@lru_cache(maxsize=2)
def _compiled_module(profile: bool = False):
    """(pycuda.driver, the compiled module): imports pycuda, opens the primary context of
    device 0 and compiles the kernels once per process (``profile``: with -DTEXGS_PROFILE,
    which adds the tile kernel's phase-profile builds). Raises UnsupportedError."""
    try:
        import pycuda.driver as cuda
    except ImportError as e:  # not installed, or libcuda missing
        what = ("pycuda is not installed" if e.name == "pycuda"
                else f"pycuda cannot load ({_one_line(e)})")
        raise UnsupportedError(f"{NEEDS}: {what}") from None
    try:
        cuda.init()
        if cuda.Device.count() < 1:
            raise UnsupportedError(f"{NEEDS}: no CUDA device found")
        import pycuda.autoprimaryctx  # noqa: F401  (context of device 0, released at exit)
    except UnsupportedError:
        raise
    except Exception as e:  # cuda.Error / RuntimeError: no driver, no device
        raise UnsupportedError(f"{NEEDS}: no usable NVIDIA driver or GPU ({_one_line(e)})") \
            from None
    if not KERNEL_SOURCE.exists():
        raise UnsupportedError(f"{NEEDS}: CUDA sources not found in {CUDA_DIR} (texgs must "
                               "run from its source tree or an editable install)")
    from pycuda.compiler import SourceModule

    try:
        mod = SourceModule(KERNEL_SOURCE.read_text(), no_extern_c=True,
                           options=list(NVCC_OPTIONS) + (["-DTEXGS_PROFILE"] if profile else []),
                           include_dirs=[str(CUDA_DIR)])
    except Exception as e:  # nvcc missing or failing
        raise UnsupportedError(f"{NEEDS}: the kernels did not compile with nvcc "
                               f"({_one_line(e)})") from None
    return cuda, mod


SMEM_RESERVED = 1024  # shared memory the driver keeps per block, sm_80 and later


def blocks_per_sm(registers: int, smem_bytes: int, threads: int, *, max_threads: int,
                  max_blocks: int, smem_per_sm: int, regs_per_sm: int,
                  smem_reserved: int = SMEM_RESERVED) -> int:
    """CUDA's occupancy rule: how many blocks of ``threads`` threads of a kernel using
    ``registers`` per thread and ``smem_bytes`` of static shared memory one multiprocessor
    holds at once, the least of what its registers (allocated per warp in units of 256),
    shared memory (plus ``smem_reserved`` per block), thread slots and block slots allow
    (may be 0). The SM's limits are keyword arguments (device attributes, or the tables of
    bench/bench_cuda_resources.py)."""
    warps = -(-int(threads) // 32)
    regs_per_warp = max(-(-max(int(registers), 1) * 32 // 256) * 256, 256)
    smem = int(smem_bytes) + smem_reserved
    return min(max_blocks, max_threads // (32 * warps), regs_per_sm // regs_per_warp // warps,
               smem_per_sm // smem if smem else max_blocks)


def decode_kernel(name: str, top_k: int) -> str:
    """The entry point of decode kernel ``name`` (one of ``DECODE_KERNELS``) built for
    ``top_k``: ``name_k<K>`` for K in 1..TOPK_EXACT_MAX, else ``name`` (the generic build)."""
    return f"{name}_k{top_k}" if 1 <= top_k <= TOPK_EXACT_MAX else name


class CudaDecoder:
    """Decode assets with the CUDA kernels. Making one compiles the kernels (first time in
    the process) or raises UnsupportedError. ``profile``: a build with the tile kernel's
    phase-profile builds too (PROFILE_TILES_KERNELS; for bench/bench_cuda_profile.py)."""

    def __init__(self, profile: bool = False) -> None:
        self.cuda, self.module = _compiled_module(profile)
        # every build: k = 0 names the generic one
        builds = [decode_kernel(n, k) for n in DECODE_KERNELS for k in range(TOPK_EXACT_MAX + 1)]
        builds += [f"{TWO_ROW_TILES_KERNEL}_k{k}" for k in range(1, TOPK_EXACT_MAX + 1)]
        if profile:
            builds += [f"{n}_k{k}" for n in PROFILE_TILES_KERNELS
                       for k in range(1, TOPK_EXACT_MAX + 1)]
        self._fn = {name: self.module.get_function(name) for name in (
            *builds, "texgs_index_count_kernel", "texgs_index_scan_kernel",
            "texgs_index_fill_kernel", "texgs_validate_kernel", "texgs_expand_kernel",
            "texgs_uv_bin_count_kernel", "texgs_uv_bin_fill_kernel")}
        self._resident: dict[tuple[int, int], tuple] = {}  # resident_blocks' answers

    # -- device buffers ---------------------------------------------------------------------
    def _upload(self, arr: np.ndarray):
        """A device copy of a uint32/float/double array (at least 4 bytes) and its length."""
        a = np.ascontiguousarray(arr)
        mem = self.cuda.mem_alloc(max(a.nbytes, 4))
        if a.nbytes:
            self.cuda.memcpy_htod(mem, a)
        return mem, a.size

    def _buffer_args(self, bufs: GpuBuffers) -> tuple[list, list]:
        """Kernel arguments (pointer, words) x 4 for the runtime buffers, then x 2 for the
        expanded records (a null pointer and 0 words where ``bufs`` has none), and the
        allocations to keep alive."""
        args, keep = [], []
        for arr in (bufs.meta, bufs.records, bufs.tile_offsets, bufs.tile_ids):
            mem, n = self._upload(np.asarray(arr, np.uint32))
            args += [mem, np.uint32(n)]
            keep.append(mem)
        for arr in (bufs.geometry, bufs.colors):
            if arr is None:
                args += [np.intp(0), np.uint32(0)]
                continue
            mem, n = self._upload(np.asarray(arr, np.float32))
            args += [mem, np.uint32(n)]
            keep.append(mem)
        return args, keep

    def _status(self) -> tuple[object, np.ndarray]:
        host = np.full(1, -1, np.int32)
        mem = self.cuda.mem_alloc(4)
        self.cuda.memcpy_htod(mem, host)
        return mem, host

    def _check(self, mem, host: np.ndarray) -> None:
        self.cuda.memcpy_dtoh(host, mem)
        code = int(host[0])
        if code != 0:
            msg = status_messages().get(code, f"status {code}")
            raise AssetFormatError(f"runtime buffers rejected by the CUDA decoder: {msg}")

    # -- kernels ----------------------------------------------------------------------------
    def build_index(self, bufs: GpuBuffers) -> tuple[np.ndarray, np.ndarray]:
        """The tile index from ``bufs.meta`` and ``bufs.records`` with the three index
        kernels -> (tile_offsets uint32 [tiles + 1], tile_ids uint32 [offsets[-1]] as 32-bit
        ids in any order within a tile); swap it in with ``bufs.use_index``."""
        meta = np.asarray(bufs.meta, np.uint32)
        n = int(meta[L.META_COUNT])
        tiles = int(meta[L.META_TILES_X]) * int(meta[L.META_TILES_Y])
        empty = np.zeros(0, np.uint32)
        args, keep = self._buffer_args(GpuBuffers(meta, bufs.records, empty, empty, 32,
                                                  bufs.index))
        status, host = self._status()
        offsets = self.cuda.mem_alloc(4 * (tiles + 1))
        self.cuda.memset_d32(offsets, 0, tiles + 1)
        grid = ((n + POINT_BLOCK - 1) // POINT_BLOCK, 1)
        self._fn["texgs_index_count_kernel"](*args, offsets, status,
                                              block=(POINT_BLOCK, 1, 1), grid=grid)
        self._check(status, host)
        cursors = self.cuda.mem_alloc(4 * max(tiles, 1))
        self._fn["texgs_index_scan_kernel"](np.uint32(tiles), offsets, cursors,
                                             block=(SCAN_BLOCK, 1, 1), grid=(1, 1))
        off = np.empty(tiles + 1, np.uint32)
        self.cuda.memcpy_dtoh(off, offsets)
        total = int(off[-1])
        ids = self.cuda.mem_alloc(4 * max(total, 1))
        self._fn["texgs_index_fill_kernel"](*args, cursors, ids, status,
                                             block=(POINT_BLOCK, 1, 1), grid=grid)
        self._check(status, host)
        out_ids = np.empty(total, np.uint32)
        if total:
            self.cuda.memcpy_dtoh(out_ids, ids)
        del keep
        return off, out_ids

    def expand(self, bufs: GpuBuffers) -> tuple[np.ndarray, np.ndarray]:
        """The expanded records of ``bufs`` made by texgs_expand_kernel -> (geometry float32
        [COUNT, 5], colors float32 [COUNT, C]); swap them in with ``bufs.use_expanded``."""
        meta = np.asarray(bufs.meta, np.uint32)
        n, c = int(meta[L.META_COUNT]), int(meta[L.META_CHANNELS])
        empty = np.zeros(0, np.uint32)
        args, keep = self._buffer_args(GpuBuffers(meta, bufs.records, empty, empty, 32,
                                                  bufs.index))
        status, host = self._status()
        geo = self.cuda.mem_alloc(max(20 * n, 4))
        col = self.cuda.mem_alloc(max(4 * n * c, 4))
        self._fn["texgs_expand_kernel"](*args, geo, col, status, block=(POINT_BLOCK, 1, 1),
                                        grid=((n + POINT_BLOCK - 1) // POINT_BLOCK, 1))
        self._check(status, host)
        geometry = np.empty((n, 5), np.float32)
        colors = np.empty((n, c), np.float32)
        self.cuda.memcpy_dtoh(geometry, geo)
        self.cuda.memcpy_dtoh(colors, col)
        del keep
        return geometry, colors

    def _max_threads(self, fn) -> int:
        """The most threads per block compiled kernel ``fn`` launches with (its registers per
        thread decide; CUDA's MAX_THREADS_PER_BLOCK function attribute)."""
        return int(fn.get_attribute(self.cuda.function_attribute.MAX_THREADS_PER_BLOCK))

    def resident_blocks(self, fn, threads: int) -> int:
        """How many blocks of ``threads`` threads of compiled kernel ``fn`` the GPU holds at
        once: :func:`blocks_per_sm` from the device's and the kernel's attributes, at least
        1, times the multiprocessors; the persistent tile decode launches this many. Cached
        per kernel and block size."""
        key = (id(fn), int(threads))
        if key not in self._resident:  # the kernel kept with its answer: its id stays its
            self._resident[key] = (fn, self._count_resident_blocks(fn, int(threads)))
        return self._resident[key][1]

    def _count_resident_blocks(self, fn, threads: int) -> int:
        dev = self.cuda.Context.get_device()
        da, fa = self.cuda.device_attribute, self.cuda.function_attribute
        per_sm = blocks_per_sm(
            int(fn.get_attribute(fa.NUM_REGS)), int(fn.get_attribute(fa.SHARED_SIZE_BYTES)),
            threads, max_threads=dev.get_attribute(da.MAX_THREADS_PER_MULTIPROCESSOR),
            max_blocks=dev.get_attribute(da.MAX_BLOCKS_PER_MULTIPROCESSOR),
            smem_per_sm=dev.get_attribute(da.MAX_SHARED_MEMORY_PER_MULTIPROCESSOR),
            regs_per_sm=dev.get_attribute(da.MAX_REGISTERS_PER_MULTIPROCESSOR),
            smem_reserved=SMEM_RESERVED if dev.compute_capability()[0] >= 8 else 0)
        return max(1, per_sm) * dev.get_attribute(da.MULTIPROCESSOR_COUNT)

    def tile_grid(self, fn, block: int, threads: int, size: tuple[int, int],
                  persistent: bool = True) -> tuple[int, int]:
        """The grid of a tile-cooperative launch of ``fn`` in blocks of ``block`` x ``block``
        texels with ``threads`` threads, at ``size`` = (W, H): one launch block per texel
        block, or with ``persistent`` at most :meth:`resident_blocks` of them, each walking
        several texel blocks (cuda/texgs_kernels.cu texgs_decode_tiles: the buffers
        validated once per launch block; the same bits)."""
        nbx, nby = -(-size[0] // block), -(-size[1] // block)
        if not persistent:
            return nbx, nby
        return min(nbx * nby, self.resident_blocks(fn, threads)), 1

    def decode_buffers(self, bufs: GpuBuffers, size: tuple[int, int], filter_var: float = 0.0,
                       finish=None, block: int | None = None,
                       persistent: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Whole-texture decode of uploaded-form buffers at ``size`` = (W', H') ->
        (float32 [H', W', C], candidates per texel uint32 [H', W']). ``finish``: the map
        finish words (``layout.map_finish_words``), default none. At the asset's own size,
        unfiltered, the tile-cooperative kernel runs in blocks of ``block`` x ``block``
        texels (:func:`texgs.runtime.decode_block`: default 8, or the index tile when smaller; ValueError
        when ``block`` does not divide the index tile; where the default does not, or where
        the kernel's build cannot launch ``block`` squared threads (the generic top-K build's
        registers allow 384 on sm_90, so not 32 x 32), the per-texel kernel runs: the same
        bits); else the per-texel kernel. ``persistent``: the tile-cooperative kernel on as
        many launch blocks as the GPU holds at once (:meth:`tile_grid`), else one per texel
        block."""
        w, h = int(size[0]), int(size[1])
        c = int(bufs.meta[L.META_CHANNELS])
        fin = np.zeros(4, np.uint32) if finish is None else np.asarray(finish, np.uint32)
        if fin.shape != (4,):
            raise ValueError(f"finish: 4 words expected, got {fin.shape}")
        b = decode_block(int(bufs.meta[L.META_TILE]), block)  # ValueError: a bad block
        native = (w, h) == (int(bufs.meta[L.META_WIDTH]), int(bufs.meta[L.META_HEIGHT]))
        k = int(bufs.meta[L.META_TOP_K])
        args, keep = self._buffer_args(bufs)
        status, host = self._status()
        out = self.cuda.mem_alloc(max(4 * w * h * c, 4))
        cand = self.cuda.mem_alloc(max(4 * w * h, 4))
        tiles_fn = self._fn[decode_kernel("texgs_decode_tiles_kernel", k)]
        if b is not None and b * b > self._max_threads(tiles_fn):
            b = None  # more threads than the build's registers allow (the generic build)
        if b is not None and native and filter_var == 0.0:
            # the asset's own size, unfiltered: candidates dequantized once per block of
            # b x b texels, kept where they can reach it
            tiles_fn(
                *args, *(np.uint32(v) for v in fin), out, cand, status,
                block=(b, b, 1), grid=self.tile_grid(tiles_fn, b, b * b, (w, h), persistent))
        else:
            bx, by, _ = GRID_BLOCK
            self._fn[decode_kernel("texgs_decode_grid_kernel", k)](
                *args, np.uint32(w), np.uint32(h), np.float32(filter_var),
                *(np.uint32(v) for v in fin), out, cand, status,
                block=GRID_BLOCK, grid=((w + bx - 1) // bx, (h + by - 1) // by))
        self._check(status, host)
        vals = np.empty((h, w, c), np.float32)
        cnt = np.empty((h, w), np.uint32)
        self.cuda.memcpy_dtoh(vals, out)
        self.cuda.memcpy_dtoh(cnt, cand)
        del keep
        return vals, cnt

    # -- the texgs.decode mirrors -----------------------------------------------------------
    def decode_texture(self, asset: Asset, lod: int | None = None,
                       size: tuple[int, int] | None = None, stats_out: list | None = None,
                       filtered: bool = False, gpu_index: bool = False,
                       finish=None, coding: int | None = None, tile: int | None = None,
                       block: int | None = None, expanded: bool = False,
                       prune: bool = True) -> np.ndarray:
        """As ``texgs.decode.decode_texture``: float32 [H', W', C] at ``size`` = (W', H')
        (default the asset's), the first ``lod`` chunks; ``prune``: drop from the tile lists
        the Gaussians no point of their tile selects (as there: the same values either way;
        ignored with ``gpu_index``, whose lists are full). ``gpu_index``: build the tile index
        with the CUDA index kernels instead of NumPy (fixed-coded 32-bit ids). ``finish``: map
        finish words. ``coding``: the tile lists' coding (texgs.layout ``INDEX_CODING_*``;
        None: the runtime's default); ``tile``: the index tile (default the runtime's);
        ``block``: the tile-cooperative decode's block, as in :meth:`decode_buffers`;
        ``expanded``: decode from the expanded records (:meth:`expand` first; the same
        values)."""
        bufs, (w, h), fvar = decode_buffers(asset, lod, size, tile, filtered=filtered,
                                            coding=coding, prune=prune)
        if gpu_index:
            bufs.use_index(*self.build_index(bufs))
        if expanded:
            bufs.use_expanded(*self.expand(bufs))
        vals, cand = self.decode_buffers(bufs, (w, h), fvar, finish, block)
        if stats_out is not None:
            cnt = cand.reshape(-1).astype(np.int64)
            stats_out.append(DecodeStats(int(cnt.shape[0]), float(cnt.mean()),
                                         float(np.percentile(cnt, 99)), int(cnt.max())))
        return vals

    def decode_uv(self, asset: Asset, uv: np.ndarray, lod: int | None = None,
                  coding: int | None = None, expanded: bool = False,
                  binned: bool = False) -> np.ndarray:
        """As ``texgs.decode.decode_uv``: uv float [P, 2] ((0, 0) top-left, (1, 1)
        bottom-right) -> float32 [P, C] in each channel's stored encoding. ``coding``,
        ``expanded`` as in :meth:`decode_texture`; ``binned``: :meth:`decode_uv_buffers`'s."""
        uv = np.ascontiguousarray(np.asarray(uv, np.float64).reshape(-1, 2))
        bufs = build_gpu_buffers(asset, lod, coding=coding)
        if expanded:
            bufs.use_expanded(*self.expand(bufs))
        return self.decode_uv_buffers(bufs, uv, binned=binned)

    def decode_uv_buffers(self, bufs: GpuBuffers, uv: np.ndarray, binned: bool = False,
                          block: int | None = None, persistent: bool = True) -> np.ndarray:
        """Decode uploaded-form buffers at UV points (float64 [P, 2]) -> float32 [P, C].
        Without ``binned``, one thread per point (texgs_decode_uv_kernel). With it, the
        points are first binned by texel block of ``block`` texels (default
        :func:`texgs.runtime.decode_block` of the index tile: 8) on the GPU, then each block's
        points share its candidates in shared memory (texgs_decode_uv_blocks_kernel, on
        :meth:`resident_blocks` launch blocks with ``persistent``, else one per texel block):
        the same bits."""
        uv = np.ascontiguousarray(np.asarray(uv, np.float64).reshape(-1, 2))
        n, c = uv.shape[0], int(bufs.meta[L.META_CHANNELS])
        if n == 0:
            return np.zeros((0, c), np.float32)
        k = int(bufs.meta[L.META_TOP_K])
        b = decode_block(int(bufs.meta[L.META_TILE]), block) if binned else None
        blocks_fn = self._fn[decode_kernel("texgs_decode_uv_blocks_kernel", k)]
        if b is not None and b * b > self._max_threads(blocks_fn):
            b = None  # the generic build cannot launch that many threads: one per point
        args, keep = self._buffer_args(bufs)
        status, host = self._status()
        d_uv, _ = self._upload(uv)
        out = self.cuda.mem_alloc(4 * n * c)
        grid = ((n + POINT_BLOCK - 1) // POINT_BLOCK, 1)
        if b is None:
            self._fn[decode_kernel("texgs_decode_uv_kernel", k)](
                *args, d_uv, np.uint32(n), out, status, block=(POINT_BLOCK, 1, 1), grid=grid)
        else:
            w, h = int(bufs.meta[L.META_WIDTH]), int(bufs.meta[L.META_HEIGHT])
            nblocks = -(-w // b) * -(-h // b)
            offsets = self.cuda.mem_alloc(4 * (nblocks + 1))
            self.cuda.memset_d32(offsets, 0, nblocks + 1)
            block_of = self.cuda.mem_alloc(4 * n)
            self._fn["texgs_uv_bin_count_kernel"](*args, d_uv, np.uint32(n), np.uint32(b),
                                                  offsets, block_of, status,
                                                  block=(POINT_BLOCK, 1, 1), grid=grid)
            cursors = self.cuda.mem_alloc(4 * nblocks)
            self._fn["texgs_index_scan_kernel"](np.uint32(nblocks), offsets, cursors,
                                                 block=(SCAN_BLOCK, 1, 1), grid=(1, 1))
            order = self.cuda.mem_alloc(4 * n)
            self._fn["texgs_uv_bin_fill_kernel"](np.uint32(n), block_of, cursors, order,
                                                 block=(POINT_BLOCK, 1, 1), grid=grid)
            launch = min(nblocks, self.resident_blocks(blocks_fn, b * b)) if persistent \
                else nblocks
            blocks_fn(*args, d_uv, np.uint32(b), offsets, order, out, status,
                      block=(b * b, 1, 1), grid=(launch, 1))
            keep += [offsets, block_of, cursors, order]
        self._check(status, host)
        vals = np.empty((n, c), np.float32)
        self.cuda.memcpy_dtoh(vals, out)
        del keep
        return vals

    def decode_map(self, asset: Asset, index: int, lod: int | None = None,
                   coding: int | None = None) -> np.ndarray:
        """Map ``index`` of a set at its own size, finished on the GPU: float32 [h, w, n],
        as ``texgs.decode.decode_maps(asset, lod)[index]``. ``coding`` as in
        :meth:`decode_texture`."""
        m = asset.map_table()[index]
        vals = self.decode_texture(asset, lod, (m.width, m.height),
                                   finish=L.map_finish_words(asset, index), coding=coding)
        return vals[..., m.first_channel:m.first_channel + m.channel_count].copy()
