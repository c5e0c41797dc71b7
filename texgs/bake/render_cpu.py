"""The compiled CPU renderer: render_cpu.cpp built at first use, cached, called via ctypes.

Why ctypes and not ``torch.utils.cpp_extension``: the kernel is plain C++ over raw float
arrays, so it needs no PyTorch headers; it builds in about a second instead of a minute on
a 2-core machine, needs no ninja, and the same file can be built under sanitizers or reused
by non-torch code. The cache key is a hash of the source, the flags and the compiler.

``render_cpu`` mirrors ``render_ref._render_dense`` (same signature, same math).
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import torch

_SRC = Path(__file__).with_name("render_cpu.cpp")
_COMMON = Path(__file__).with_name("render_common.h")  # shared with render_cuda.cu
_FLAGS = ["-O3", "-std=c++17", "-shared", "-fPIC", "-fno-math-errno", "-ffp-contract=off",
          "-pthread"]
_lib: ctypes.CDLL | None = None
_status: str | None = None

_c_f = ctypes.POINTER(ctypes.c_float)
_c_i32 = ctypes.POINTER(ctypes.c_int32)
_c_i64 = ctypes.POINTER(ctypes.c_int64)
_c_d = ctypes.POINTER(ctypes.c_double)


def cache_dir() -> Path:
    """Where compiled kernels are kept: $TEXGS_CACHE_DIR, else ~/.cache/texgs."""
    env = os.environ.get("TEXGS_CACHE_DIR")
    base = Path(env) if env else Path.home() / ".cache" / "texgs"
    return base / "kernels"


def _compiler() -> str | None:
    for name in (os.environ.get("CXX"), "g++", "c++", "clang++"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def build_cached(compiler: str, flags: list[str], src: Path, key_extra: str = "") -> Path:
    """The shared library built from ``src`` (which includes render_common.h) by
    ``compiler flags src -o lib``, cached under :func:`cache_dir` by a hash of both sources,
    the compiler, the flags and ``key_extra``; built into a temporary file and renamed, so a
    concurrent or interrupted build leaves no half-written library. Raises RuntimeError with
    the compiler's message when the build fails."""
    data = src.read_bytes() + _COMMON.read_bytes()
    key = hashlib.sha256(data + " ".join([compiler, key_extra] + flags).encode()).hexdigest()
    out_dir = cache_dir()
    so = out_dir / f"{src.stem}-{key[:16]}.so"
    if not so.exists():
        out_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".so", dir=out_dir)
        os.close(fd)
        try:
            res = subprocess.run([compiler, *flags, str(src), "-o", tmp], capture_output=True,
                                 text=True)
            if res.returncode != 0:
                raise RuntimeError(f"compiling {src.name} failed: {res.stderr.strip()[:500]}")
            os.replace(tmp, so)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return so


def _cpu_vector_flags() -> list[str]:
    """``["-mavx2"]`` on an x86-64 CPU that has AVX2 (the forward then ranks eight texels at
    once instead of four), else ``[]``. No FMA contraction either way (-ffp-contract=off),
    so both builds give the same bits. The cache key includes these flags, so a cache shared
    by machines with different CPUs keeps one library per kind."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return []
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return ["-mavx2"] if "avx2" in line.split() else []
    except OSError:
        pass
    return []


def _build() -> ctypes.CDLL:
    cxx = _compiler()
    if cxx is None:
        raise RuntimeError("no C++ compiler found (set CXX or install g++)")
    lib = ctypes.CDLL(str(build_cached(cxx, _FLAGS + _cpu_vector_flags(), _SRC)))
    lib.texgs_bin.restype = ctypes.c_int64
    lib.texgs_bin.argtypes = [ctypes.c_int, _c_f, _c_f, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                              ctypes.c_int, ctypes.c_int, _c_i64, _c_i32, ctypes.c_int64,
                              ctypes.c_int]
    common = [ctypes.c_int, _c_f, _c_f, _c_f, _c_f, ctypes.c_int, ctypes.c_int, ctypes.c_int,
              ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int, _c_i64, _c_i32]
    lib.texgs_forward.restype = ctypes.c_int
    lib.texgs_forward.argtypes = common + [ctypes.c_int, _c_f, _c_i32, _c_f, _c_f, _c_f, _c_d]
    lib.texgs_backward.restype = ctypes.c_int
    lib.texgs_backward.argtypes = common + [_c_f, _c_f, _c_i32, _c_f, _c_f, ctypes.c_int,
                                            _c_f, _c_f, _c_f, _c_f, _c_f, _c_f, _c_f]
    lib.texgs_lanes.restype = ctypes.c_int
    lib.texgs_lanes.argtypes = []
    lib.texgs_forward_loss.restype = ctypes.c_int
    lib.texgs_forward_loss.argtypes = common + [ctypes.c_int, _c_f, _c_f, _c_f, _c_d, _c_f,
                                                _c_f, _c_f, _c_f, _c_f, _c_i32, ctypes.c_int]
    return lib


def load_kernel() -> ctypes.CDLL | None:
    """The compiled kernel library, or None when it cannot be built (see :func:`status`)."""
    global _lib, _status
    if _lib is None and _status is None:
        if os.environ.get("TEXGS_NO_KERNEL"):
            _status = "disabled by TEXGS_NO_KERNEL"
        else:
            try:
                _lib = _build()
                _status = "compiled"
            except (RuntimeError, OSError) as e:
                _status = str(e)
    return _lib


def status() -> str:
    """'compiled', or the reason the compiled kernel is unavailable."""
    load_kernel()
    return _status or "not loaded"


_heap_kept: bool | None = None
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameters (glibc malloc.h)


def keep_freed_memory(limit: int = 1 << 30) -> bool:
    """Ask glibc's malloc to serve blocks below ``limit`` bytes from its heap and to keep
    freed heap memory instead of returning it to the system; once per process. Returns
    whether it took effect (False where the C library is not glibc).

    Why: every bake step allocates the forward's hand-over buffers for the backward (about
    40 bytes per texel at K=5: 160 MB at 2048x2048). Blocks over glibc's mmap threshold
    (at most 32 MB by default) are mapped fresh on every allocation, and the kernel
    zero-fills each page on first touch: at 2048x2048 that took as long as the render
    itself. Served from the heap, the same pages are reused step after step. The cost is
    that the process keeps its peak heap until it exits, which a bake process does anyway;
    a long-lived process that bakes now and then can opt out with ``TEXGS_KEEP_HEAP=0``.
    """
    global _heap_kept
    if _heap_kept is None:
        _heap_kept = False
        if os.environ.get("TEXGS_KEEP_HEAP", "1") == "0":
            return False
        if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
            try:
                libc = ctypes.CDLL(None)
                ok = libc.mallopt(_M_MMAP_THRESHOLD, int(limit)) == 1
                ok = libc.mallopt(_M_TRIM_THRESHOLD, int(limit)) == 1 and ok
                _heap_kept = ok
            except (OSError, AttributeError):
                pass
    return _heap_kept


def _ptr(t: torch.Tensor, kind):
    return ctypes.cast(t.data_ptr(), kind)


_kernel_threads: int | None = None  # set by kernel_threads(); None: PyTorch's count


def default_threads() -> int:
    """Threads the kernels run on: those set by :func:`kernel_threads`, else PyTorch's
    intra-op count."""
    return max(1, _kernel_threads or torch.get_num_threads())


@contextlib.contextmanager
def kernel_threads(n: int) -> Iterator[None]:
    """Run the kernels on ``n`` threads and PyTorch's own operations on one, inside the
    block (a CPU bake's fit loop).

    Why: after each parallel operation, PyTorch's OpenMP workers (libgomp) spin for a while
    waiting for the next one. The kernels start their own threads right after such an
    operation, so on a 2-core machine a spinning worker took a core from them: `perf`
    put 23 % of a 512x512 bake's CPU samples in libgomp's spin loop. The small tensors of a
    fit step (Adam over the Gaussians) gain nothing from a second PyTorch thread. Restores
    both counts on exit."""
    global _kernel_threads
    prev_kernel, prev_torch = _kernel_threads, torch.get_num_threads()
    _kernel_threads = max(1, int(n))
    torch.set_num_threads(1)
    try:
        yield
    finally:
        _kernel_threads = prev_kernel
        torch.set_num_threads(prev_torch)


def bin_tiles(means: torch.Tensor, conics: torch.Tensor, W: int, H: int, tile: int, rep_x: bool,
              rep_y: bool, nthreads: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Tile lists (offsets int64 [tiles+1], ids int32 [E]) exactly as runtime.build_tile_index,
    whatever the thread count (default: :func:`default_threads`)."""
    nthreads = nthreads or default_threads()
    lib = load_kernel()
    assert lib is not None
    ntiles = (-(-W // tile)) * (-(-H // tile))
    offsets = torch.empty(ntiles + 1, dtype=torch.int64)
    n = means.shape[0]
    cap = max(16, n * 8)
    ids = torch.empty(cap, dtype=torch.int32)
    total = lib.texgs_bin(n, _ptr(means, _c_f), _ptr(conics, _c_f), W, H, tile, int(rep_x),
                          int(rep_y), _ptr(offsets, _c_i64), _ptr(ids, _c_i32), cap, nthreads)
    if total > cap:
        ids = torch.empty(total, dtype=torch.int32)
        lib.texgs_bin(n, _ptr(means, _c_f), _ptr(conics, _c_f), W, H, tile, int(rep_x),
                      int(rep_y), _ptr(offsets, _c_i64), _ptr(ids, _c_i32), total, nthreads)
    return offsets, ids[:total]


_SEL_NONE, _SEL_KEEP, _SEL_REUSE = 0, 1, 2  # texgs_forward_loss's sel_mode


def _reuse_blocks(tile: int, k: int) -> tuple[int, int, int]:
    """(lanes, row groups per tile row, int32 per block) of the kept-candidate layout: one
    block of 1 + k * lanes per row of lanes of every tile (render_cpu.cpp
    texgs_forward_loss)."""
    lanes = load_kernel().texgs_lanes()
    return lanes, -(-tile // lanes), 1 + k * lanes


class RankReuse:
    """Keeps, from one one-pass kernel call to the next, the Gaussians each row of lanes
    (texels ranked together) selected, so that ``every - 1`` calls out of ``every`` rank
    each texel's top K among those few instead of among all of its tile's candidates.
    Between full rankings the tile lists and the candidate sets are frozen; values and
    gradients are exact for them. A call ranks afresh after ``every`` calls, when the
    Gaussian count, channels, size, K, tile or address modes differ, or after
    :meth:`reset` (the fit calls it whenever Gaussians are added or moved). ``every = 1``
    ranks on every call.
    """

    def __init__(self, every: int) -> None:
        if every < 1:
            raise ValueError(f"rank reuse every {every}: at least 1")
        self.every = every
        self.calls = 0  # calls since the last ranking
        self.key: tuple | None = None
        self.offsets: torch.Tensor | None = None
        self.ids: torch.Tensor | None = None
        self.sel: torch.Tensor | None = None

    def reset(self) -> None:
        self.key = None

    def mode(self, key: tuple) -> int:
        """The kernel's sel_mode for the next call with ``key``; counts the call."""
        if self.every == 1:
            return _SEL_NONE
        if key != self.key or self.calls >= self.every:
            self.key, self.calls = key, 1
            return _SEL_KEEP
        self.calls += 1
        return _SEL_REUSE

    def candidates(self) -> list[list[list[int]]]:
        """The kept candidates of every texel (those of its row of lanes) as ascending
        Gaussian ids, ``[y][x] -> list``, for the size and tile they were kept at; for
        tests and inspection."""
        if self.sel is None or self.offsets is None or self.ids is None or self.key is None:
            raise ValueError("no ranking kept yet")
        _, _, W, H, k, tile = self.key[:6]
        lanes, gpr, block = _reuse_blocks(tile, k)
        tx_n = -(-W // tile)
        sel, ids, offsets = self.sel.tolist(), self.ids.tolist(), self.offsets.tolist()
        out = []
        for y in range(H):
            row = []
            for x in range(W):
                t = (y // tile) * tx_n + x // tile
                blk = (t * tile * gpr + (y % tile) * gpr + (x % tile) // lanes) * block
                row.append([ids[offsets[t] + e] for e in sel[blk + 1:blk + 1 + sel[blk]]])
            out.append(row)
        return out


def _forward(ctx, means, conics, colors, fallback, W, H, k, tile, rep_x, rep_y, nthreads,
             target=None):
    """Run texgs_forward and keep what the backward needs on ``ctx``. Returns the image
    [H, W, C] and, with a ``target`` [H, W, C], the per-channel sums of squared error [C]
    (float64)."""
    lib = load_kernel()
    means = means.detach().contiguous().float()
    conics = conics.detach().contiguous().float()
    colors = colors.detach().contiguous().float()
    fallback = fallback.detach().contiguous().float()
    C = colors.shape[1]
    offsets, ids = bin_tiles(means, conics, W, H, tile, rep_x, rep_y, nthreads)
    image = torch.empty(H, W, C, dtype=torch.float32)
    # selected entries per texel, exp(-q/2) of each and 1 / blend denominators, for
    # backward, in the kernel's tile- and lane-blocked layout (render_cpu.cpp header)
    slots = (-(-W // tile)) * (-(-H // tile)) * tile * (-(-tile // 8) * 8)
    sel = torch.empty(slots * k, dtype=torch.int32)
    expq = torch.empty(slots * k, dtype=torch.float32)
    inv_dens = torch.empty(slots, dtype=torch.float32)
    sse = None
    if target is not None:
        target = target.detach().contiguous().float()
        sse = torch.empty(C, dtype=torch.float64)
    rc = lib.texgs_forward(means.shape[0], _ptr(means, _c_f), _ptr(conics, _c_f),
                           _ptr(colors, _c_f), _ptr(fallback, _c_f), C, W, H, tile, k,
                           int(rep_x), int(rep_y), _ptr(offsets, _c_i64), _ptr(ids, _c_i32),
                           nthreads, _ptr(image, _c_f), _ptr(sel, _c_i32),
                           _ptr(expq, _c_f), _ptr(inv_dens, _c_f),
                           None if target is None else _ptr(target, _c_f),
                           None if sse is None else _ptr(sse, _c_d))
    if rc != 0:
        raise ValueError(f"texgs_forward rejected its arguments (K={k})")
    saved = [means, conics, colors, fallback, offsets, ids, sel, expq, image, inv_dens]
    ctx.save_for_backward(*saved, *([] if target is None else [target]))
    ctx.cfg = (W, H, k, tile, rep_x, rep_y, nthreads)
    return image, sse


def _backward(ctx, grad_image=None, gscale=None):
    """Run texgs_backward for the forward kept on ``ctx``, from ``grad_image`` [H, W, C] or,
    for the squared-error form, from ``gscale`` [C] (the image gradient is then
    gscale * (image - target)). Returns the gradients of means, conics, colors, fallback."""
    lib = load_kernel()
    saved = ctx.saved_tensors
    means, conics, colors, fallback, offsets, ids, sel, expq, image, inv_dens = saved[:10]
    target = saved[10] if len(saved) > 10 else None
    W, H, k, tile, rep_x, rep_y, nthreads = ctx.cfg
    n, C = colors.shape
    if grad_image is not None:
        grad_image = grad_image.contiguous().float()
    if gscale is not None:
        gscale = gscale.contiguous().float()
    scratch = torch.empty(ids.shape[0] * (5 + C) + 1, dtype=torch.float32)
    gm = torch.empty(n, 2)
    gc = torch.empty(n, 3)
    gcol = torch.empty(n, C)
    gfb = torch.empty(C)
    rc = lib.texgs_backward(n, _ptr(means, _c_f), _ptr(conics, _c_f), _ptr(colors, _c_f),
                            _ptr(fallback, _c_f), C, W, H, tile, k, int(rep_x), int(rep_y),
                            _ptr(offsets, _c_i64), _ptr(ids, _c_i32), _ptr(image, _c_f),
                            _ptr(inv_dens, _c_f), _ptr(sel, _c_i32), _ptr(expq, _c_f),
                            None if grad_image is None else _ptr(grad_image, _c_f), nthreads,
                            _ptr(scratch, _c_f), _ptr(gm, _c_f), _ptr(gc, _c_f),
                            _ptr(gcol, _c_f), _ptr(gfb, _c_f),
                            None if gscale is None else _ptr(target, _c_f),
                            None if gscale is None else _ptr(gscale, _c_f))
    if rc != 0:
        raise ValueError("texgs_backward rejected its arguments")
    return gm, gc, gcol, gfb


class _RenderCPU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, means, conics, colors, fallback, W, H, k, tile, rep_x, rep_y, nthreads):
        image, _ = _forward(ctx, means, conics, colors, fallback, W, H, k, tile, rep_x, rep_y,
                            nthreads)
        return image

    @staticmethod
    def backward(ctx, grad_image):
        return (*_backward(ctx, grad_image=grad_image), None, None, None, None, None, None,
                None)


class _RenderMSE(torch.autograd.Function):
    """The render and its per-channel MSE against a target in one kernel pass: returns the
    image (not differentiable) and mse [C] = mean over texels of (image - target)^2, whose
    gradient the backward kernel forms texel by texel (no [H, W, C] gradient tensor)."""

    @staticmethod
    def forward(ctx, means, conics, colors, fallback, target, W, H, k, tile, rep_x, rep_y,
                nthreads):
        image, sse = _forward(ctx, means, conics, colors, fallback, W, H, k, tile, rep_x,
                              rep_y, nthreads, target=target)
        ctx.mark_non_differentiable(image)
        return image, (sse / (W * H)).float()

    @staticmethod
    def backward(ctx, _grad_image, grad_mse):
        W, H = ctx.cfg[0], ctx.cfg[1]
        grads = _backward(ctx, gscale=grad_mse * (2.0 / (W * H)))
        return (*grads, None, None, None, None, None, None, None, None)


class _RenderLoss(torch.autograd.Function):
    """The render and a weighted sum of its per-channel MSEs against a target, forward and
    backward in one kernel pass (texgs_forward_loss): returns the image and mse [C] (neither
    differentiable) and loss = sum_c weights[c] * mse[c], a scalar whose gradients the
    forward already formed (the backward only scales them by the incoming gradient)."""

    @staticmethod
    def forward(ctx, means, conics, colors, fallback, target, weights, W, H, k, tile, rep_x,
                rep_y, nthreads, reuse):
        lib = load_kernel()
        means = means.detach().contiguous().float()
        conics = conics.detach().contiguous().float()
        colors = colors.detach().contiguous().float()
        fallback = fallback.detach().contiguous().float()
        target = target.detach().contiguous().float()
        weights = weights.detach().float()
        n, C = colors.shape
        # the image gradient of the loss is gscale * (image - target), as _RenderMSE's
        # backward forms it from d loss / d mse = weights
        gscale = (weights * (2.0 / (W * H))).contiguous()
        mode = _SEL_NONE if reuse is None else \
            reuse.mode((means.shape[0], C, W, H, k, tile, bool(rep_x), bool(rep_y)))
        if mode == _SEL_REUSE:
            offsets, ids, sel = reuse.offsets, reuse.ids, reuse.sel
        else:
            offsets, ids = bin_tiles(means, conics, W, H, tile, rep_x, rep_y, nthreads)
            sel = None
            if mode == _SEL_KEEP:
                sel = reuse.sel
                _, gpr, block = _reuse_blocks(tile, k)
                size = (-(-W // tile)) * (-(-H // tile)) * tile * gpr * block
                if sel is None or sel.numel() != size:
                    sel = torch.empty(size, dtype=torch.int32)
                reuse.offsets, reuse.ids, reuse.sel = offsets, ids, sel
        image = torch.empty(H, W, C, dtype=torch.float32)
        sse = torch.empty(C, dtype=torch.float64)
        scratch = torch.empty(ids.shape[0] * (5 + C) + 1, dtype=torch.float32)
        gm, gc, gcol, gfb = torch.empty(n, 2), torch.empty(n, 3), torch.empty(n, C), \
            torch.empty(C)
        rc = lib.texgs_forward_loss(
            n, _ptr(means, _c_f), _ptr(conics, _c_f), _ptr(colors, _c_f),
            _ptr(fallback, _c_f), C, W, H, tile, k, int(rep_x), int(rep_y),
            _ptr(offsets, _c_i64), _ptr(ids, _c_i32), nthreads, _ptr(target, _c_f),
            _ptr(gscale, _c_f), _ptr(image, _c_f), _ptr(sse, _c_d), _ptr(scratch, _c_f),
            _ptr(gm, _c_f), _ptr(gc, _c_f), _ptr(gcol, _c_f), _ptr(gfb, _c_f),
            None if sel is None else _ptr(sel, _c_i32), mode)
        if rc != 0:
            raise ValueError(f"texgs_forward_loss rejected its arguments (K={k})")
        ctx.save_for_backward(gm, gc, gcol, gfb)
        mse = (sse / (W * H)).float()
        ctx.mark_non_differentiable(image, mse)
        return image, mse, (mse * weights).sum()

    @staticmethod
    def backward(ctx, _grad_image, _grad_mse, grad_loss):
        return tuple(g * grad_loss for g in ctx.saved_tensors) + (None,) * 10


def render_cpu(means: torch.Tensor, conics: torch.Tensor, colors: torch.Tensor,
               fallback: torch.Tensor, W: int, H: int, k: int, tile: int = 16,
               rep_x: bool = False, rep_y: bool = False,
               nthreads: int | None = None) -> torch.Tensor:
    """Compiled render at texel centres -> [H, W, C]; mirrors ``render_ref._render_dense``."""
    if load_kernel() is None:
        raise RuntimeError(f"compiled kernel unavailable: {status()}")
    return _RenderCPU.apply(means, conics, colors, fallback, W, H, k, tile, rep_x, rep_y,
                            nthreads or default_threads())


def render_mse_cpu(means: torch.Tensor, conics: torch.Tensor, colors: torch.Tensor,
                   fallback: torch.Tensor, target: torch.Tensor, W: int, H: int, k: int,
                   tile: int = 16, rep_x: bool = False, rep_y: bool = False,
                   nthreads: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(image [H, W, C] without gradient, per-channel MSE [C] against ``target`` [H, W, C]
    with gradient): the same values as ``render_cpu`` and a mean of squared differences,
    from one forward and one backward kernel call."""
    if load_kernel() is None:
        raise RuntimeError(f"compiled kernel unavailable: {status()}")
    return _RenderMSE.apply(means, conics, colors, fallback, target, W, H, k, tile, rep_x,
                            rep_y, nthreads or default_threads())


def render_loss_cpu(means: torch.Tensor, conics: torch.Tensor, colors: torch.Tensor,
                    fallback: torch.Tensor, target: torch.Tensor, weights: torch.Tensor,
                    W: int, H: int, k: int, tile: int = 16, rep_x: bool = False,
                    rep_y: bool = False, nthreads: int | None = None,
                    reuse: RankReuse | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(image [H, W, C] and per-channel MSE [C] against ``target``, both without gradient;
    loss = sum_c weights[c] * mse[c], a scalar with gradient) from one kernel pass that also
    forms the gradients. The same values and gradients, to the bit, as ``render_mse_cpu``
    followed by ``(mse * weights).sum()``, without its per-texel hand-over buffers
    (about 44 bytes per texel at K = 5) or its second pass. ``reuse``: keep the ranking
    between calls (:class:`RankReuse`; about 21 bytes per texel at K = 5)."""
    if load_kernel() is None:
        raise RuntimeError(f"compiled kernel unavailable: {status()}")
    return _RenderLoss.apply(means, conics, colors, fallback, target, weights, W, H, k, tile,
                             rep_x, rep_y, nthreads or default_threads(), reuse)
