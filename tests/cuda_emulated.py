"""The CUDA kernels themselves on the CPU: ``cuda/texgs_kernels.cu`` compiled with g++ on the
execution model of ``cuda/cpu_emulation.hpp`` (blocks of real threads, shared memory,
barriers, atomics), behind a stand-in for the parts of pycuda that ``texgs.cuda_decoder``
and the GPU tests use. With it the GPU tests of tests/test_cuda.py run in every CI run, on
the kernels' own source: their launch shapes, shared-memory protocol and barriers, not
only the math that cuda/host_harness.cpp shares with them. Not a GPU: CUDA's own libm
(expf, cosf) is the host's here, and nothing is timed.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
CUDA = ROOT / "cuda"
# C++20 for the emulation header's atomic waits; no contractions (nvcc --fmad=false)
CXX_FLAGS = ["-std=c++20", "-ffp-contract=off", "-pthread", "-Wall", "-Wextra", "-Werror"]
# what the stand-in device reports (a small GPU: the persistent launches get few blocks)
DEVICE_ATTRIBUTES = {"MULTIPROCESSOR_COUNT": 2, "MAX_THREADS_PER_MULTIPROCESSOR": 2048,
                     "MAX_BLOCKS_PER_MULTIPROCESSOR": 32,
                     "MAX_REGISTERS_PER_MULTIPROCESSOR": 65536,
                     "MAX_SHARED_MEMORY_PER_MULTIPROCESSOR": 233472}

# what each stand-in kernel reports (an sm_90 build of the tile kernel used 64 registers
# and 3.9 KiB of shared memory, docs/results/cuda_resources.txt; 56 registers now,
# docs/results/cuda_sass.txt: the tests' expectations are worked from these figures)
FUNCTION_ATTRIBUTES = {"MAX_THREADS_PER_BLOCK": 1024, "NUM_REGS": 64, "SHARED_SIZE_BYTES": 3892}


def compile_kernels(out: Path, source: Path = CUDA / "cpu_kernels.cpp",
                    extra: tuple | list = ("-O1",), shared: bool = True) -> Path:
    """Build ``source`` (default the texgs kernels) at ``out``: a shared library, or with
    ``shared`` False a program; ``extra``: more g++ flags."""
    cxx = shutil.which("g++")
    if cxx is None:
        pytest.skip("g++ not found")
    kind = ["-shared", "-fPIC"] if shared else []
    res = subprocess.run([cxx, *CXX_FLAGS, *extra, *kind, f"-I{CUDA}", str(source), "-o",
                          str(out)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return out


def run_gpu_bench(bench: Path, argv: list[str], cwd: Path, out: Path
                  ) -> subprocess.CompletedProcess | None:
    """Run the CUDA bench script ``bench`` with ``argv`` as a user would (texgs on the path,
    from ``cwd``). Without pycuda, a driver or a GPU it must exit 5 with one line on stderr
    naming the bench and what the decoder needs, print nothing and leave ``out`` unwritten:
    then None. With a GPU: the finished run (exit 0 checked) for the caller's checks."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    res = subprocess.run([sys.executable, str(bench), *argv], capture_output=True, text=True,
                         env=env, cwd=cwd, timeout=600, check=False)
    if res.returncode == 5:
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1, res.stderr
        assert lines[0].startswith(f"{bench.stem}: error: the CUDA decoder needs pycuda")
        assert not out.exists() and res.stdout == ""
        return None
    assert res.returncode == 0, res.stdout + res.stderr
    return res


class HostEvent:
    """pycuda's Event for the stand-ins: times on the host (the benches' host logic)."""

    def record(self) -> None:
        self.t = time.perf_counter()

    def synchronize(self) -> None:
        pass

    def time_till(self, other: "HostEvent") -> float:
        return (other.t - self.t) * 1e3


class LaunchError(RuntimeError):
    """A launch the emulation refused or a kernel that misused a barrier (pycuda raises
    its LogicError / LaunchError for the first kind)."""


class EmulatedKernels:
    """ctypes front of a library built by :func:`compile_kernels`."""

    def __init__(self, path: Path):
        self.lib = lib = ctypes.CDLL(str(path))
        lib.texgs_cpu_kernel_name.restype = ctypes.c_char_p
        lib.texgs_cpu_kernel_name.argtypes = [ctypes.c_int]
        lib.texgs_cpu_last_error.restype = ctypes.c_char_p
        lib.texgs_cpu_launch.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_uint32),
                                         ctypes.POINTER(ctypes.c_uint32),
                                         ctypes.POINTER(ctypes.c_void_p),
                                         ctypes.POINTER(ctypes.c_uint32), ctypes.c_uint32]
        self.names = [lib.texgs_cpu_kernel_name(i).decode()
                      for i in range(lib.texgs_cpu_kernel_count())]

    def launch(self, name: str, grid, block, args: list) -> None:
        """Run kernel ``name``; ``args``: its arguments as pycuda takes them (device
        allocations, NumPy scalars; np.intp(0) for a null pointer). Raises LaunchError."""
        vals = []
        for a in args:
            if isinstance(a, EmulatedMem):
                vals.append(np.array([a.ptr], np.uintp))
            elif isinstance(a, np.generic):
                vals.append(np.array([a]))
            else:  # pycuda needs sized NumPy scalars, not Python numbers
                raise TypeError(f"{name}: argument {a!r} is not a NumPy scalar")
        ptrs = (ctypes.c_void_p * max(len(vals), 1))(*[v.ctypes.data for v in vals])
        sizes = (ctypes.c_uint32 * max(len(vals), 1))(*[v.itemsize for v in vals])
        g = (ctypes.c_uint32 * 3)(*(tuple(grid) + (1, 1))[:3])
        b = (ctypes.c_uint32 * 3)(*(tuple(block) + (1, 1))[:3])
        if self.lib.texgs_cpu_launch(name.encode(), g, b, ptrs, sizes, len(vals)) != 0:
            raise LaunchError(self.lib.texgs_cpu_last_error().decode())


class EmulatedMem:
    """A 'device allocation': host bytes at a fixed address."""

    def __init__(self, nbytes: int):
        self.data = np.zeros(int(nbytes), np.uint8)
        self.ptr = self.data.ctypes.data

    def __int__(self) -> int:
        return self.ptr

    def free(self) -> None:
        pass


def _bytes(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a).reshape(-1).view(np.uint8)


def emulated_pycuda(kernels: EmulatedKernels, launched: list | None = None,
                    attributes: dict[str, int] | None = None) -> dict[str, types.ModuleType]:
    """Modules pycuda, pycuda.driver, pycuda.autoprimaryctx and pycuda.compiler whose
    SourceModule serves the kernels of ``kernels`` (run on the CPU) under their own names.
    ``launched``: (name, grid, block) of every launch, appended. ``attributes``: device
    attributes, default DEVICE_ATTRIBUTES. Copies check their sizes as a GPU's would fault."""
    launched = [] if launched is None else launched
    attrs = dict(DEVICE_ATTRIBUTES if attributes is None else attributes)
    drv = types.ModuleType("pycuda.driver")
    drv.init = lambda: None
    drv.Error = RuntimeError
    drv.LaunchError = LaunchError

    class Device:
        def __init__(self, i: int = 0):
            assert i == 0

        @staticmethod
        def count() -> int:
            return 1

        def get_attribute(self, attr: str) -> int:
            return attrs[attr]

        def name(self) -> str:
            return "CPU emulation of cuda/texgs_kernels.cu"

        @staticmethod
        def compute_capability() -> tuple[int, int]:
            return 9, 0

    drv.Device = Device
    drv.device_attribute = types.SimpleNamespace(**{k: k for k in attrs})
    drv.function_attribute = types.SimpleNamespace(**{k: k for k in FUNCTION_ATTRIBUTES})
    drv.mem_alloc = EmulatedMem

    def htod(mem: EmulatedMem, a: np.ndarray) -> None:
        src = _bytes(a)
        assert src.size <= mem.data.size, "copy past the end of a device allocation"
        mem.data[:src.size] = src

    def dtoh(a: np.ndarray, mem: EmulatedMem) -> None:
        dst = a.reshape(-1).view(np.uint8)
        assert dst.size <= mem.data.size, "copy past the end of a device allocation"
        dst[:] = mem.data[:dst.size]

    def memset_d32(mem: EmulatedMem, value: int, n: int) -> None:
        assert 4 * n <= mem.data.size
        mem.data[:4 * n].view(np.uint32)[:] = value

    drv.memcpy_htod, drv.memcpy_dtoh, drv.memset_d32 = htod, dtoh, memset_d32

    class Context:
        @staticmethod
        def synchronize() -> None:
            pass

        @staticmethod
        def get_device() -> Device:
            return Device(0)

    drv.Context = Context
    drv.get_driver_version = lambda: 0

    drv.Event = HostEvent

    class Function:
        def __init__(self, name: str):
            self.name = name

        def get_attribute(self, attr: str) -> int:
            return FUNCTION_ATTRIBUTES[attr]

        def __call__(self, *args, block, grid):
            launched.append((self.name, tuple(grid), tuple(block)))
            kernels.launch(self.name, grid, block, list(args))

    comp = types.ModuleType("pycuda.compiler")

    class SourceModule:
        def __init__(self, source, no_extern_c=False, options=(), include_dirs=()):
            self.source = source  # the kernels are the library's, built from the same file

        def get_function(self, name: str) -> Function:
            if name not in kernels.names:
                raise LaunchError(f"cuModuleGetFunction failed: named symbol not found ({name})")
            return Function(name)

    comp.SourceModule = SourceModule
    pkg = types.ModuleType("pycuda")
    pkg.driver, pkg.compiler = drv, comp
    return {"pycuda": pkg, "pycuda.driver": drv, "pycuda.compiler": comp,
            "pycuda.autoprimaryctx": types.ModuleType("pycuda.autoprimaryctx")}
