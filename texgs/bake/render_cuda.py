"""The GPU renderer of the baker: render_cuda.cu built with nvcc at first use, cached, its
kernels launched through ctypes on PyTorch's current CUDA stream.

Why nvcc and ctypes rather than ``torch.utils.cpp_extension``: as with the CPU kernel
(render_cpu.py), the kernels are plain CUDA C++ over raw device pointers and need no
PyTorch headers, so the library builds in seconds with nvcc alone, the same file is
compiled for every supported architecture in CI (where PyTorch is a CPU build and a
PyTorch CUDA extension could not be built at all), and the cached library does not depend
on the PyTorch version. Tensors are allocated by PyTorch's caching allocator and the
kernels run on its current stream, so they order with every other PyTorch operation.

``render_cuda`` mirrors ``render_cpu.render_cpu`` and ``render_ref._render_dense`` (same
signature, same math); tests compare them in values and gradients on a GPU.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
from pathlib import Path

import torch

from ..format import BLEND_EPS
from .render_cpu import build_cached

_SRC = Path(__file__).with_name("render_cuda.cu")
NVCC_FLAGS = ["-O3", "-std=c++17", "-shared", "-Xcompiler", "-fPIC", "--cudart", "static"]
_lib: ctypes.CDLL | None = None
_status: str | None = None

_p = ctypes.c_void_p
_i = ctypes.c_int
_i64 = ctypes.c_int64


def nvcc_path() -> str | None:
    """nvcc from $CUDA_HOME/bin, $CUDA_PATH/bin, PATH or /usr/local/cuda/bin."""
    for env in ("CUDA_HOME", "CUDA_PATH"):
        root = os.environ.get(env)
        if root and (Path(root) / "bin" / "nvcc").exists():
            return str(Path(root) / "bin" / "nvcc")
    found = shutil.which("nvcc")
    if found:
        return found
    default = Path("/usr/local/cuda/bin/nvcc")
    return str(default) if default.exists() else None


def arch_flags(capability: tuple[int, int]) -> list[str]:
    """nvcc flags for one device: its machine code plus PTX for newer ones."""
    sm = f"{capability[0]}{capability[1]}"
    return ["-gencode", f"arch=compute_{sm},code=sm_{sm}",
            "-gencode", f"arch=compute_{sm},code=compute_{sm}"]


def _build() -> ctypes.CDLL:
    nvcc = nvcc_path()
    if nvcc is None:
        raise RuntimeError("nvcc not found (install the CUDA toolkit or set CUDA_HOME)")
    flags = NVCC_FLAGS + arch_flags(torch.cuda.get_device_capability())
    version = subprocess.run([nvcc, "--version"], capture_output=True, text=True).stdout
    lib = ctypes.CDLL(str(build_cached(nvcc, flags, _SRC, version)))
    lib.texgs_cuda_bin_count.argtypes = [_i, _p, _p, _i, _i, _i, _i, _i, _p, _p]
    lib.texgs_cuda_bin_fill.argtypes = [_i, _p, _p, _i, _i, _i, _i, _i, _p, _p, _p, _p]
    lib.texgs_cuda_forward.argtypes = [_p, _p, _p, _p, _i, _i, _i, _i, _i, _i, _i, _p, _p, _i64,
                                       _p, _p, _p, _p, _p, _p]
    lib.texgs_cuda_backward.argtypes = [_p, _p, _p, _p, _i, _i, _i, _i, _i, _i, _i, _p, _p, _p,
                                        _p, _p, _p, _p, _p, _p]
    for f in (lib.texgs_cuda_bin_count, lib.texgs_cuda_bin_fill, lib.texgs_cuda_forward,
              lib.texgs_cuda_backward):
        f.restype = _i
    return lib


def load_kernel() -> ctypes.CDLL | None:
    """The compiled GPU kernels, or None when there is no CUDA device or they cannot be
    built (see :func:`status`)."""
    global _lib, _status
    if _lib is None and _status is None:
        if not torch.cuda.is_available():
            _status = "no CUDA GPU is available to PyTorch"
        else:
            try:
                _lib = _build()
                _status = "compiled"
            except (RuntimeError, OSError) as e:
                _status = str(e)
    return _lib


def status() -> str:
    """'compiled', or the reason the GPU kernels are unavailable."""
    load_kernel()
    return _status or "not loaded"


def _ptr(t: torch.Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


def _stream() -> int:
    return torch.cuda.current_stream().cuda_stream


def _check(rc: int, what: str) -> None:
    if rc != 0:
        raise RuntimeError(f"{what} failed (CUDA error {rc})")


def bin_tiles(means: torch.Tensor, conics: torch.Tensor, W: int, H: int, tile: int, rep_x: bool,
              rep_y: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Tile lists on the GPU: (offsets int64 [tiles+1], ids int32 [E]), equal to
    render_cpu.bin_tiles and runtime.build_tile_index."""
    lib = load_kernel()
    assert lib is not None
    dev = means.device
    n = means.shape[0]
    ntiles = (-(-W // tile)) * (-(-H // tile))
    counts = torch.empty(n, dtype=torch.int64, device=dev)
    _check(lib.texgs_cuda_bin_count(n, _ptr(means), _ptr(conics), W, H, tile, int(rep_x),
                                    int(rep_y), _ptr(counts), _stream()), "bin_count")
    ends = torch.cumsum(counts, 0)
    total = int(ends[-1]) if n else 0
    pair_tile = torch.empty(max(total, 1), dtype=torch.int32, device=dev)
    pair_gauss = torch.empty(max(total, 1), dtype=torch.int32, device=dev)
    if total:
        starts = ends - counts
        _check(lib.texgs_cuda_bin_fill(n, _ptr(means), _ptr(conics), W, H, tile, int(rep_x),
                                       int(rep_y), _ptr(starts), _ptr(pair_tile),
                                       _ptr(pair_gauss), _stream()), "bin_fill")
    pair_tile, pair_gauss = pair_tile[:total], pair_gauss[:total]
    # stable: pairs are in Gaussian order, so each tile's ids stay ascending
    tiles_sorted, order = torch.sort(pair_tile, stable=True)
    ids = pair_gauss[order]
    offsets = torch.zeros(ntiles + 1, dtype=torch.int64, device=dev)
    offsets[1:] = torch.cumsum(torch.bincount(tiles_sorted, minlength=ntiles), 0)
    return offsets, ids.contiguous()


class _RenderCUDA(torch.autograd.Function):
    @staticmethod
    def forward(ctx, means, conics, colors, fallback, W, H, k, tile, rep_x, rep_y):
        lib = load_kernel()
        means = means.detach().contiguous().float()
        conics = conics.detach().contiguous().float()
        colors = colors.detach().contiguous().float()
        fallback = fallback.detach().contiguous().float()
        dev = means.device
        C = colors.shape[1]
        offsets, ids = bin_tiles(means, conics, W, H, tile, rep_x, rep_y)
        E = ids.shape[0]
        pack = torch.empty(max(E, 1), 4, dtype=torch.float32, device=dev)
        pack_c = torch.empty(max(E, 1), dtype=torch.float32, device=dev)
        image = torch.empty(H, W, C, dtype=torch.float32, device=dev)
        sel = torch.empty(H, W, k, dtype=torch.int32, device=dev)
        expq = torch.empty(H, W, k, dtype=torch.float32, device=dev)
        rc = lib.texgs_cuda_forward(_ptr(means), _ptr(conics), _ptr(colors), _ptr(fallback), C,
                                    W, H, tile, k, int(rep_x), int(rep_y), _ptr(offsets),
                                    _ptr(ids), E, _ptr(pack), _ptr(pack_c), _ptr(image),
                                    _ptr(sel), _ptr(expq), _stream())
        if rc == -1:
            raise ValueError(f"texgs_cuda_forward rejected its arguments (K={k})")
        _check(rc, "texgs_cuda_forward")
        ctx.save_for_backward(means, conics, colors, fallback, ids, sel, expq)
        ctx.cfg = (W, H, k, tile, rep_x, rep_y)
        return image

    @staticmethod
    def backward(ctx, grad_image):
        lib = load_kernel()
        means, conics, colors, fallback, ids, sel, expq = ctx.saved_tensors
        W, H, k, tile, rep_x, rep_y = ctx.cfg
        n, C = colors.shape
        dev = means.device
        grad_image = grad_image.contiguous().float()
        gm = torch.zeros(n, 2, device=dev)
        gc = torch.zeros(n, 3, device=dev)
        gcol = torch.zeros(n, C, device=dev)
        inv_den = torch.empty(H, W, device=dev)
        _check(lib.texgs_cuda_backward(_ptr(means), _ptr(conics), _ptr(colors), _ptr(fallback),
                                       C, W, H, tile, k, int(rep_x), int(rep_y), _ptr(ids),
                                       _ptr(sel), _ptr(expq), _ptr(grad_image), _ptr(gm),
                                       _ptr(gc), _ptr(gcol), _ptr(inv_den), _stream()),
               "texgs_cuda_backward")
        gfb = BLEND_EPS * (inv_den[..., None] * grad_image).sum((0, 1))
        return gm, gc, gcol, gfb, None, None, None, None, None, None


def render_cuda(means: torch.Tensor, conics: torch.Tensor, colors: torch.Tensor,
                fallback: torch.Tensor, W: int, H: int, k: int, tile: int = 16,
                rep_x: bool = False, rep_y: bool = False) -> torch.Tensor:
    """GPU render at texel centres -> [H, W, C] on the tensors' CUDA device; mirrors
    ``render_cpu.render_cpu``."""
    if load_kernel() is None:
        raise RuntimeError(f"GPU kernels unavailable: {status()}")
    return _RenderCUDA.apply(means, conics, colors, fallback, W, H, k, tile, rep_x, rep_y)
