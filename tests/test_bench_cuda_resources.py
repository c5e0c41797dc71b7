"""bench/bench_cuda_resources.py: ptxas's report parsed, the occupancy arithmetic against
hand-worked cases, and its errors. Compiling for real is tests/test_cuda.py's nvcc test."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import bench_cuda_resources as bench  # noqa: E402

# ptxas -v output of two kernels for sm_90, as nvcc 13.0 prints it (copied from a run)
PTXAS = """ptxas info    : 24 bytes gmem
ptxas info    : Compiling entry function 'texgs_decode_tiles_kernel_k5' for 'sm_90'
ptxas info    : Function properties for texgs_decode_tiles_kernel_k5
    32 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Used 63 registers, used 1 barriers, 32 bytes cumulative stack size, 15412 bytes smem
ptxas info    : Compile time = 248.071 ms
ptxas info    : Compiling entry function 'texgs_validate_kernel' for 'sm_90'
ptxas info    : Function properties for texgs_validate_kernel
    0 bytes stack frame, 8 bytes spill stores, 4 bytes spill loads
ptxas info    : Used 24 registers, used 0 barriers
"""


def test_parse_ptxas_reads_each_entry():
    uses = bench.parse_ptxas(PTXAS)
    assert [(u.kernel, u.arch, u.registers, u.stack_bytes, u.spill_store_bytes,
             u.spill_load_bytes, u.smem_bytes) for u in uses] == [
        ("texgs_decode_tiles_kernel_k5", "90", 63, 32, 0, 0, 15412),
        ("texgs_validate_kernel", "90", 24, 0, 8, 4, 0)]
    assert uses[0].family == "texgs_decode_tiles_kernel"


def test_occupancy_matches_hand_worked_cases():
    use = bench.parse_ptxas(PTXAS)[0]
    # sm_90, 8x8 blocks: registers 63 -> 2016 per warp, allocated 2048: 32 warps = 16 blocks;
    # shared memory (15412 + 1024 reserved) -> 233472 // 16436 = 14 blocks: 896 of 2048
    assert bench.occupancy(use, 64) == pytest.approx(896 / 2048)
    # 57 registers, 256 threads, no shared memory to speak of: 32 warps -> 4 blocks
    use.registers, use.smem_bytes = 57, 4
    assert bench.occupancy(use, 256) == pytest.approx(1024 / 2048)
    # sm_75 (1024 threads, no reserved shared memory): 118 registers -> 3840 per warp,
    # 17 warps -> 2 blocks of 8 warps: 512 of 1024
    use.arch, use.registers = "75", 118
    assert bench.occupancy(use, 256) == pytest.approx(512 / 1024)


def test_bad_arguments_exit_2(capsys):
    for bad in (["--archs", "70"], ["--k", "9"], ["--k", "0"]):
        with pytest.raises(SystemExit) as e:
            bench.parse_args(bad)
        assert e.value.code == 2
    capsys.readouterr()
    if shutil.which("nvcc") is None and not Path("/usr/local/cuda/bin/nvcc").exists():
        assert bench.main(["--archs", "90"]) == 3
        assert "nvcc not found" in capsys.readouterr().err
    else:  # an unknown revision is refused before compiling anything
        assert bench.main(["--archs", "90", "--baseline", "no-such-revision"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("bench_cuda_resources: error: --baseline no-such-revision")


# A cuobjdump -sass listing cut down by hand: an outer loop (0x0040..0x0120) around an inner
# one (0x0050..0x00f0) holding two compares of q with the cutoff 9 (one predicated; the
# compare with 0x9 and the integer compare with 9 are not such) and four selects (two of
# them predicated), and a loop with one
SASS = """
        Function : texgs_decode_tiles_kernel_k2
        /*0000*/                   MOV R1, c[0x0][0x28] ;
        /*0040*/                   LDS R2, [R3] ;
        /*0050*/                   FSETP.GEU.AND P0, PT, R17, 9, PT ;
        /*0060*/               @P2 FSETP.GEU.AND P2, PT, R26, 9, PT ;
        /*0060*/                   FSETP.GEU.AND P3, PT, R26, 0x9, PT ;
        /*0060*/                   ISETP.NE.AND P3, PT, R26, 9, PT ;
        /*0060*/                   ISETP.LT.U32.AND P0, PT, R4, R6, PT ;
        /*0070*/                   SEL R7, R4, R6, P0 ;
        /*0080*/                   SEL R8, R6, R4, P0 ;
        /*0090*/               @P1 FSEL R9, R4, R6, P0 ;
        /*00a0*/               @!P1 SEL R10, R6, R4, P0 ;
        /*00f0*/              @!P0 BRA 0x50 ;
        /*0100*/                   SEL R11, R4, R6, P0 ;
        /*0120*/                   BRA 0x40 ;
        /*0130*/                   SEL R12, R4, R6, P0 ;
        /*0140*/                   BRA 0x130 ;
        /*0150*/                   EXIT ;
"""

# The 32-bit words' loop (sm_90): a float min of q with 9 per candidate and unsigned min/max
# as the exchanges; the signed max (the key's clamp at 0) and FMNMX with 0x9 are not counted.
SASS32 = """
        Function : texgs_decode_tiles_kernel_k1
        /*0000*/                   MOV R1, c[0x0][0x28] ;
        /*0010*/                   FMNMX R41, R39, 9, PT ;
        /*0020*/                   VIMNMX R46, RZ, R41, !PT ;
        /*0030*/                   FMNMX R42, R39, 0x9, PT ;
        /*0040*/                   VIMNMX.U32 R43, R46.reuse, R31.reuse, !PT ;
        /*0050*/                   FMNMX R11, R11, 9, PT ;
        /*0060*/                   IMNMX.U32 R31, R46, R31, PT ;
        /*0070*/              @P0 BRA 0x10 ;
        /*0080*/                   EXIT ;
"""


def test_parse_sass_counts_the_32_bit_words_loop():
    got = bench.parse_sass(SASS32, min_selects=2)
    assert (got.instructions, got.candidate_loop, got.loop_candidates) == (9, 7, 2)
    assert bench.parse_sass(SASS32, min_selects=3).candidate_loop == 0  # the signed max is no exchange


def test_parse_sass_finds_the_shortest_loop_with_the_insertions_selects():
    got = bench.parse_sass(SASS, min_selects=4)
    assert got.instructions == 17
    assert got.candidate_loop == 10  # 0x50..0xf0, not the outer loop of 13 around it
    assert got.loop_candidates == 2 and got.per_candidate == 5.0  # two cutoff compares
    outer = bench.parse_sass(SASS, min_selects=5)  # only the outer loop has five
    assert (outer.candidate_loop, outer.loop_candidates) == (13, 2)
    assert bench.parse_sass(SASS, min_selects=7).candidate_loop == 0  # none
    last = bench.parse_sass(SASS, min_selects=1)  # 0x130..0x140, no cutoff compare
    assert (last.candidate_loop, last.loop_candidates, last.per_candidate) == (2, 1, 2.0)


def test_sass_without_cuobjdump_exits_3_with_one_line(monkeypatch, capsys):
    monkeypatch.setattr(bench, "find_cuobjdump", lambda: None)
    monkeypatch.setattr(bench.shutil, "which", lambda name: "/bin/true" if name == "nvcc"
                        else None)
    assert bench.main(["--archs", "90", "--sass"]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["bench_cuda_resources: error: --sass: cuobjdump not found (CUDA toolkit, "
                   "or pip install nvidia-cuda-cuobjdump nvidia-cuda-nvdisasm)"]
