"""bench/bench_cuda_profile.py and the tile kernel's phase-profile builds without a GPU: the
profile words' list, the summary worked by hand, and the profile builds run on the CPU model
of CUDA (tests/cuda_emulated.py, the kernels compiled with -DTEXGS_PROFILE): the same bits
as the plain builds, every launch block's row stored where the launch mapping puts it,
phases that add up, and counts equal to what the tile index says."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cuda_emulated import EmulatedKernels, compile_kernels, emulated_pycuda, run_gpu_bench

from texgs import cuda_decoder as cd
from texgs import layout as L
from texgs.runtime import build_gpu_buffers

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench" / "bench_cuda_profile.py"
sys.path.insert(0, str(BENCH.parent))

import bench_cuda_decode as bench  # noqa: E402
import bench_cuda_profile as prof  # noqa: E402

WORDS = [n for n, _ in cd.profile_fields()]


def test_profile_words_are_the_kernels_list_in_order():
    """The names the bench reads are TEXGS_PROFILE_LIST's, in its order: the phases first,
    then total, the counts and the two clocks (the layout the kernel's rows have)."""
    assert WORDS == [*prof.PHASES, "total", "blocks", "batches", "kept", "start", "last"]
    src = (ROOT / "cuda" / "texgs_kernels.cu").read_text()
    for n in WORDS:  # every word is marked or counted or set by the kernel
        assert f"TEXGS_PROFILE_{n}" in src.split("#define TEXGS_PROFILE_ENUM")[1]


def _row(**v) -> np.ndarray:
    r = np.zeros(len(WORDS), np.uint64)
    for k, x in v.items():
        r[WORDS.index(k)] = x
    return r


def test_summary_worked_by_hand():
    """Two launch blocks of 2 warps that decoded 3 and 2 texel blocks (the second one's
    clock wrapped past 2^32 between its first and last mark), and a row never stored (all
    ones): per-block cycles and shares, kept candidates, rank cycles per candidate, and at
    1000 MHz on 2 SMs the resident warps and issue slots."""
    a = _row(validate=100, list=50, load=200, rank=600, blend=50, total=1010, blocks=3,
             batches=3, kept=30, start=5000, last=6000)
    b = _row(validate=300, list=50, load=100, rank=500, blend=50, total=1000, blocks=2,
             batches=4, kept=30, start=2**32 - 400, last=600)
    unwritten = np.full(len(WORDS), 2**64 - 1, np.uint64)
    s = prof.summarize_profile(np.stack([a, b, unwritten]), 2, kernel_ms=0.001,
                               clock_mhz=1000.0, sms=2)
    assert s["launch_blocks"] == 2 and s["texel_blocks"] == 5.0
    assert s["kept_per_block"] == 12.0 and s["batches_per_block"] == 7 / 5
    assert s["phase_cycles"]["validate"] == pytest.approx(400 / 5)
    assert s["phase_cycles"]["rank"] == pytest.approx(1100 / 5)
    assert s["phase_share"]["rank"] == pytest.approx(1100 / 2000)  # spans 1000 + 1000
    assert s["phase_share"]["ids"] == 0.0
    assert s["rank_cycles_per_candidate"] == pytest.approx(1100 / 60)
    # 1 us at 1 GHz = 1000 cycles; 2010 cycles x 2 warps over 2 SMs: 2.01 warps per SM
    assert s["kernel_cycles"] == pytest.approx(1000.0)
    assert s["warps_per_sm"] == pytest.approx(2.01)
    assert s["warps_per_scheduler"] == pytest.approx(2.01 / 4)
    assert s["rank_slots_per_candidate"] == pytest.approx(1100 / 60 / (2.01 / 4))
    assert "warps_per_sm" not in prof.summarize_profile(np.stack([a]), 2, 0.001, None, 2)


@pytest.fixture(scope="module")
def profile_decoder(tmp_path_factory):
    """A CudaDecoder(profile=True) on the stand-in pycuda over the kernels compiled for the
    CPU with -DTEXGS_PROFILE."""
    lib = compile_kernels(tmp_path_factory.mktemp("profile") / "k.so",
                          extra=("-O1", "-DTEXGS_PROFILE"))
    with pytest.MonkeyPatch.context() as mp:
        for name, mod in emulated_pycuda(EmulatedKernels(lib)).items():
            mp.setitem(sys.modules, name, mod)
        cd._compiled_module.cache_clear()
        try:
            yield cd.CudaDecoder(profile=True)
        finally:
            cd._compiled_module.cache_clear()


def test_profile_builds_run_and_count_what_the_index_says(profile_decoder):
    """An 80x80 synthesized bake over 8-texel index tiles in 8x8 blocks: the four variants
    (one and two rows, full and persistent grids) decode the same bits as their plain
    builds (checked inside profile_case); every launch block stores its row at its linear
    index, with the texel blocks it walks; each row's phases add up to last - start and to
    at most total; and, the block being the index tile, the candidates kept per block are
    the tile lists' lengths."""
    args = prof.parse_args(["--sizes", "80", "--repeats", "1", "--warmup", "0"])
    case = bench.load_cases(args)[0]
    rows = prof.profile_case(profile_decoder, case, args, clock_mhz=None, sms=2)
    assert [(r.variant.rows, r.variant.persistent) for r in rows] == \
        [(1, False), (1, True), (2, False), (2, True)]
    index = build_gpu_buffers(case.asset, tile=8, coding=L.INDEX_CODING_FIXED)
    lengths = np.diff(np.asarray(index.tile_offsets, np.int64))
    assert lengths.size == 100  # 10 x 10 tiles of 8 texels, one per texel block
    col = {n: i for i, n in enumerate(WORDS)}
    for r in rows:
        assert r.block == 8 and r.warps_per_block == (2 if r.variant.rows == 1 else 1)
        launches = r.grid[0] * r.grid[1]
        assert launches == (100 if not r.variant.persistent else min(100, launches))
        if r.variant.persistent:
            assert launches < 100  # the stand-in GPU holds fewer: each walks several
        w = r.words
        assert w.shape == (launches, len(WORDS))
        assert not (w == np.uint64(2**64 - 1)).any()  # every row stored
        for launch, row in enumerate(w):
            walked = list(range(launch, 100, launches))
            assert row[col["blocks"]] == len(walked)
            assert row[col["kept"]] == lengths[walked].sum()
            assert row[col["batches"]] == sum(-(-int(n) // 64) for n in lengths[walked])
            span = (int(row[col["last"]]) - int(row[col["start"]])) % 2**32
            assert sum(int(row[col[p]]) for p in prof.PHASES) == span
            assert span <= int(row[col["total"]])
        s = r.summary
        assert s["texel_blocks"] == 100
        assert s["kept_per_block"] == pytest.approx(lengths.mean())
        assert s["rank_cycles_per_candidate"] > 0 and s["phase_share"]["rank"] > 0


def test_without_pycuda_or_gpu_exit_5_with_one_line_else_runs(tmp_path):
    out = tmp_path / "p.json"
    res = run_gpu_bench(BENCH, ["--sizes", "64", "--repeats", "1", "--json", str(out)],
                        tmp_path, out)
    if res is not None:  # a GPU: the bench itself, on a small texture
        data = json.loads(out.read_text())
        assert len(data["rows"]) == 4 and all(r["texel_blocks"] == 64 for r in data["rows"])


@pytest.mark.parametrize("argv", [["--repeats", "0"], ["--index-tile", "0"], ["--block", "33"],
                                  ["--sizes", "0"], ["--sigma-scale", "50"]])
def test_bad_options_exit_2(argv):
    with pytest.raises(SystemExit) as e:
        prof.parse_args(argv)
    assert e.value.code == 2


def test_baseline_builds_are_timed_beside_on_the_same_buffers(profile_decoder, tmp_path, capsys):
    """--baseline: a revision exported to a directory (git archive, as for a machine that
    gets the working tree without its history) is compiled from that directory's sources,
    and each variant's plain build of it is timed on the same buffers and checked equal;
    the table gains its columns. A module without the kernel leaves the row without them;
    an unknown revision or a directory without the sources is a ValueError (exit 2)."""
    if not (ROOT / ".git").exists():  # the device machines get the working tree alone
        pytest.skip("no git history here (a copy of the working tree): nothing to export")
    exported = tmp_path / "base"
    exported.mkdir()
    arch = subprocess.run(["git", "-C", str(ROOT), "archive", "HEAD", "cuda",
                           "engine_shaders/texgs_layout.h"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(exported)], input=arch.stdout, check=True)
    kernels = prof.baseline_sources(str(exported), tmp_path / "unused")
    assert kernels == exported / "cuda" / "texgs_kernels.cu"
    base = prof.baseline_module(kernels)
    assert base.source == kernels.read_text()  # the emulated SourceModule keeps its source
    args = prof.parse_args(["--sizes", "80", "--repeats", "1", "--warmup", "0"])
    case = bench.load_cases(args)[0]
    rows = prof.profile_case(profile_decoder, case, args, clock_mhz=None, sms=2, base=base)
    assert len(rows) == 4
    for r in rows:
        s = r.summary
        assert s["baseline_ms"] > 0 and s["speedup"] == pytest.approx(s["baseline_ms"] / r.ms)
        assert s["baseline_gtexel_s"] == pytest.approx(80 * 80 / (s["baseline_ms"] * 1e-3) / 1e9)
    prof.print_table(rows)
    assert "speedup" in capsys.readouterr().out

    class Without:  # a revision before the two-row build, say
        def get_function(self, name):
            if "tiles2" in name:
                raise RuntimeError("named symbol not found")
            return base.get_function(name)

    rows = prof.profile_case(profile_decoder, case, args, clock_mhz=None, sms=2, base=Without())
    assert ["baseline_ms" in r.summary for r in rows] == [True, True, False, False]
    with pytest.raises(ValueError, match="no-such-rev"):
        prof.baseline_sources("no-such-rev", tmp_path / "x")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="without cuda/texgs_kernels.cu"):
        prof.baseline_sources(str(tmp_path / "empty"), tmp_path / "y")
