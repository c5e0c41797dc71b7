"""The CPU execution model the GPU tests run on where there is no GPU (cuda/cpu_emulation.hpp,
tests/cuda_emulated.py), checked on kernels of its own (tests/cuda_cases/emulation_cases.cpp)
against what CUDA defines: thread and block numbering, barriers that order shared memory,
atomics, launch limits, and the barrier misuses it must report rather than run through."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from cuda_emulated import (EmulatedKernels, EmulatedMem, LaunchError, compile_kernels,
                           emulated_pycuda)

CASES = Path(__file__).resolve().parent / "cuda_cases" / "emulation_cases.cpp"


@pytest.fixture(scope="module")
def emu(tmp_path_factory) -> EmulatedKernels:
    return EmulatedKernels(compile_kernels(tmp_path_factory.mktemp("cases") / "cases.so", CASES))


def _mem(a: np.ndarray) -> EmulatedMem:
    m = EmulatedMem(max(a.nbytes, 4))
    m.data[:a.nbytes] = a.reshape(-1).view(np.uint8)
    return m


def _read(m: EmulatedMem, dtype, n: int) -> np.ndarray:
    return m.data[:np.dtype(dtype).itemsize * n].view(dtype).copy()


def test_indices_follow_cuda_numbering(emu):
    grid, block = (3, 2, 2), (4, 2, 3)
    nb, nt = 12, 24
    out = EmulatedMem(4 * 8 * nb * nt)
    emu.launch("case_indices", grid, block, [out])
    rows = _read(out, np.uint32, 8 * nb * nt).reshape(nb, nt, 8)
    for b in range(nb):
        bx, by, bz = b % 3, (b // 3) % 2, b // 6
        for t in range(nt):
            tx, ty, tz = t % 4, (t // 4) % 2, t // 8
            assert rows[b, t].tolist() == [bx, by, bz, tx, ty, tz, nt, nb]


@pytest.mark.parametrize("n", [1, 2, 64, 1024])
def test_barriers_order_shared_memory(emu, n):
    blocks = 3
    data = np.random.default_rng(n).integers(0, 1 << 20, (blocks, n), dtype=np.uint32)
    sums = EmulatedMem(4 * blocks)
    emu.launch("case_block_sum", (blocks, 1, 1), (n, 1, 1), [_mem(data), sums])
    np.testing.assert_array_equal(_read(sums, np.uint32, blocks), data.sum(axis=1))
    out = _mem(np.zeros(1, np.uint32))
    emu.launch("case_uniform_loop", (2, 1, 1), (n, 1, 1), [np.uint32(50), out])
    assert _read(out, np.uint32, 1)[0] == 0


def test_atomics_hand_out_each_ticket_once(emu):
    counter = _mem(np.zeros(1, np.uint32))
    tickets = EmulatedMem(4 * 4 * 256)
    emu.launch("case_tickets", (4, 1, 1), (256, 1, 1), [counter, tickets])
    assert _read(counter, np.uint32, 1)[0] == 1024
    np.testing.assert_array_equal(np.sort(_read(tickets, np.uint32, 1024)), np.arange(1024))


def test_divergent_barriers_are_reported(emu):
    emu.launch("case_divergent_barrier", (2, 1, 1), (64, 1, 1), [np.uint32(64)])  # uniform
    emu.launch("case_divergent_barrier", (2, 1, 1), (64, 1, 1), [np.uint32(0)])
    with pytest.raises(LaunchError, match=r"case_divergent_barrier, block \(0, 0, 0\): "
                                          r"divergent __syncthreads: .* lines \d+ and \d+"):
        emu.launch("case_divergent_barrier", (2, 1, 1), (64, 1, 1), [np.uint32(5)])
    # the emulation goes on working after a failed launch
    emu.launch("case_divergent_barrier", (1, 1, 1), (32, 1, 1), [np.uint32(32)])


def test_returning_before_a_barrier_is_reported(emu):
    out = EmulatedMem(4 * 64)
    with pytest.raises(LaunchError, match="returned"):
        emu.launch("case_return_before_barrier", (1, 1, 1), (64, 1, 1), [out])
    emu.launch("case_return_before_barrier", (1, 1, 1), (1, 1, 1), [out])  # thread 0 alone


def test_launches_a_gpu_refuses_are_refused(emu):
    out = EmulatedMem(4)
    with pytest.raises(LaunchError, match="invalid launch configuration"):
        emu.launch("case_tickets", (1, 1, 1), (1025, 1, 1), [out, out])
    with pytest.raises(LaunchError, match="invalid launch configuration"):
        emu.launch("case_tickets", (0, 1, 1), (32, 1, 1), [out, out])
    with pytest.raises(LaunchError, match="1 arguments, the kernel takes 2"):
        emu.launch("case_tickets", (1, 1, 1), (32, 1, 1), [out])
    with pytest.raises(LaunchError, match="argument 0 has 4 bytes, its parameter 8"):
        emu.launch("case_tickets", (1, 1, 1), (1, 1, 1), [np.uint32(0), out])
    with pytest.raises(LaunchError, match="no kernel named nope"):
        emu.launch("nope", (1, 1, 1), (1, 1, 1), [])
    with pytest.raises(TypeError, match="not a NumPy scalar"):
        emu.launch("case_divergent_barrier", (1, 1, 1), (1, 1, 1), [3])


def test_stand_in_pycuda_serves_the_library_kernels_by_name(emu, monkeypatch):
    launched: list = []
    mods = emulated_pycuda(emu, launched)
    for name, mod in mods.items():
        monkeypatch.setitem(sys.modules, name, mod)
    import pycuda.driver as drv
    from pycuda.compiler import SourceModule

    fn = SourceModule("ignored").get_function("case_tickets")
    counter, tickets = drv.mem_alloc(4), drv.mem_alloc(4 * 64)
    drv.memset_d32(counter, 7, 1)
    fn(counter, tickets, block=(64, 1, 1), grid=(1, 1))
    got = np.zeros(64, np.uint32)
    drv.memcpy_dtoh(got, tickets)
    np.testing.assert_array_equal(np.sort(got), np.arange(7, 71))
    assert launched == [("case_tickets", (1, 1), (64, 1, 1))]
    with pytest.raises(AssertionError, match="past the end"):
        drv.memcpy_htod(counter, np.zeros(2, np.uint32))
    with pytest.raises(LaunchError, match="named symbol not found"):
        SourceModule("ignored").get_function("texgs_decode_tiles_kernel_k9")
