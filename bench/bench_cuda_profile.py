"""Where the CUDA tile kernel's cycles go: a phase profile of texgs_decode_tiles_kernel, the
decoder's fastest whole-texture decode, next to its plain build in one run.

What the profile answers (docs/RUNTIME.md "Measured on an H100"): whether the ranking waits
on instruction issue or on latency, and how much of a warp's time the per-block work takes
(validation, the list's start, the batch loads, the barriers). The profile builds
(cuda/texgs_kernels.cu, compiled with -DTEXGS_PROFILE: texgs_decode_tiles_profile_kernel_kK
and texgs_decode_tiles2_profile_kernel_kK) are the tile kernel itself with thread 0 of
every launch block reading the SM's cycle counter at each phase boundary and adding the
cycles to the block's row in shared memory (TEXGS_PROFILE_LIST: validate, list, ids, load,
load_wait, rank, rank_wait, blend; then the counts): the view of the block's first warp,
serial work included (validation, the list's start, Rice ids), which the block's other
warps spend waiting at the barrier after it. The bench runs each variant's plain build and
its profile build on the same buffers, checks that their outputs are equal bit for bit,
and prints per variant:

- ms, Gtexel/s, profile ms: median kernel time (CUDA events) of the plain build and its
  rate, and the profile build's time; the difference is what the profiling costs (the
  plain rows make this bench the quick timing of the fastest decode after a change, where
  bench_cuda_decode.py times every mode; most of its time is NumPy's index build, 36 s at
  4096^2 over 8-texel tiles on the H100 machine's host, docs/results/gpu/
  decode_synth_tile8.json);
- resident: the launch blocks the GPU holds at once (CUDA's occupancy rule,
  CudaDecoder.resident_blocks), plain / profile build: equal at the default K (the profile
  keeps its state in shared memory; tests/test_cuda.py checks the registers);
- warps/SM: the warps resident on a multiprocessor on average, from the profile (the sum
  of every launch block's time in the kernel x its warps, over SMs x the kernel's cycles,
  at the CLOCK_RATE the driver reports: the SM clock may run below it, which reads as
  fewer);
- kept/blk: candidates ranked per texel block;
- each phase's share of the first warp's time in the kernel (%);
- rank cyc/cand: its cycles in the ranking per candidate; "/ warps per scheduler"
  divides by the warps each of the SM's 4 schedulers holds (warps/SM / 4): were the
  schedulers never idle, a candidate would cost its warp that many issue slots, to set
  against the ranking loop's machine instructions per candidate
  (bench/bench_cuda_resources.py --sass, docs/results/cuda_sass.txt). Near the SASS
  count: the loop waits on issue (fewer instructions help); far above: on latency (more
  independent work per warp helps).

Variants: the expanded records with fixed-width tile lists over --index-tile (default 8)
texel tiles, blocks of --block texels (default 8), one and two texel rows per thread, one
launch block per texel block ("full") and the persistent grid (CudaDecoder's default).
Input: one asset per --sizes entry synthesized as bench/bench_cuda_decode.py does (1 bpp
RGB bake shape, K = 5), or --asset FILE.tgs.

--baseline SRC also compiles the kernels of another revision (SRC: a git revision, or a
directory holding its cuda/ and engine_shaders/texgs_layout.h, e.g. made with `git archive
REV cuda engine_shaders/texgs_layout.h | tar -x -C DIR` for a machine that gets the working
tree without its history) and times each variant's plain build of that revision on the same
buffers, on its own grid, beside this one's: base ms, base Gtexel/s and the speedup, with
the outputs checked equal bit for bit (a kernel the revision lacks reads "-").

    PYTHONPATH=/tmp/site:. python3 bench/bench_cuda_profile.py [--sizes 4096] [--json F]
        [--baseline cf4b455]

Exit: 0; 5 when pycuda, an NVIDIA driver or a GPU is missing (one line on stderr); 1 when
a profile build's output differs from its plain build's; 2 for bad arguments or an
unreadable asset.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_cuda_decode import (Case, add_case_options, args_json,  # noqa: E402
                               check_case_options, device_info, median_event_ms, open_decoder)
from texgs import cuda_decoder as cd  # noqa: E402  (imports pycuda only when used)
from texgs import layout as L  # noqa: E402
from texgs.runtime import build_gpu_buffers, decode_block  # noqa: E402

PROG = "bench_cuda_profile"
SCHEDULERS_PER_SM = 4  # warp schedulers (SM sub-partitions) per SM, Volta to Hopper
PHASES = ("validate", "list", "ids", "load", "load_wait", "rank", "rank_wait", "blend")
UNWRITTEN = np.uint64(2**64 - 1)  # the profile buffer's fill: a row no warp stored


@dataclass
class Variant:
    rows: int  # texel rows per thread (1 or 2)
    persistent: bool

    @property
    def label(self) -> str:
        return f"{self.rows} row{'s' if self.rows > 1 else ''}, " + \
            ("persistent" if self.persistent else "full grid")


@dataclass
class ProfileRow:
    case: str
    variant: Variant
    block: int
    grid: tuple[int, int]
    warps_per_block: int
    ms: float
    profile_ms: float
    summary: dict = field(default_factory=dict)
    words: np.ndarray | None = None  # the last profiled launch's rows, uint64 [blocks, WORDS]


def summarize_profile(words: np.ndarray, warps_per_block: int, kernel_ms: float,
                      clock_mhz: float | None, sms: int) -> dict:
    """The figures of one profiled launch from its rows ``words`` (uint64 [launch blocks,
    TEXGS_PROFILE_WORDS], one per launch block of ``warps_per_block`` warps, rows never
    stored filled with all ones) -> dict: launch_blocks (rows stored), texel_blocks, batches
    and kept (per texel block), phase_cycles (per texel block) and phase_share (of the
    time from the first to the last mark, modulo 2^32), rank_cycles_per_candidate, and
    where ``clock_mhz`` is known: kernel_cycles, warps_per_sm (average resident),
    warps_per_scheduler and rank_slots_per_candidate (rank cycles per candidate over warps
    per scheduler)."""
    names = [n for n, _ in cd.profile_fields()]
    col = {n: i for i, n in enumerate(names)}
    stored = words[words[:, col["start"]] != UNWRITTEN]
    spans = float(((stored[:, col["last"]] - stored[:, col["start"]]) % 2**32).sum())
    w = stored.astype(np.float64)
    blocks, kept = w[:, col["blocks"]].sum(), w[:, col["kept"]].sum()
    out: dict = {"launch_blocks": int(w.shape[0]),
                 "texel_blocks": blocks,
                 "batches_per_block": w[:, col["batches"]].sum() / blocks if blocks else 0.0,
                 "kept_per_block": kept / blocks if blocks else 0.0,
                 "phase_cycles": {p: (w[:, col[p]].sum() / blocks if blocks else 0.0)
                                  for p in PHASES},
                 "phase_share": {p: (w[:, col[p]].sum() / spans if spans else 0.0)
                                 for p in PHASES},
                 "rank_cycles_per_candidate": (w[:, col["rank"]].sum() / kept if kept else 0.0),
                 "warp_cycles": w[:, col["total"]].sum() * warps_per_block}
    if clock_mhz:
        cycles = kernel_ms * 1e-3 * clock_mhz * 1e6
        per_sm = out["warp_cycles"] / (sms * cycles)
        per_sched = per_sm / SCHEDULERS_PER_SM
        out.update(kernel_cycles=cycles, warps_per_sm=per_sm, warps_per_scheduler=per_sched,
                   rank_slots_per_candidate=(out["rank_cycles_per_candidate"] / per_sched
                                             if per_sched else None))
    return out


def baseline_sources(src: str, dest: Path) -> Path:
    """The kernels file of --baseline ``src``: ``src``'s own where it is a directory holding
    cuda/texgs_kernels.cu, else git revision ``src``'s cuda/ sources and layout header
    written under ``dest``. ValueError: neither."""
    d = Path(src)
    if d.is_dir():
        f = d / "cuda" / "texgs_kernels.cu"
        if not f.is_file():
            raise ValueError(f"--baseline {src}: a directory without cuda/texgs_kernels.cu")
        return f
    from bench_cuda_resources import checkout_baseline

    return checkout_baseline(src, dest)


def baseline_module(kernels: Path):
    """The pycuda module of the plain builds in ``kernels`` (another revision's
    texgs_kernels.cu, its includes beside it), compiled as texgs.cuda_decoder compiles this
    one's. UnsupportedError where nvcc fails on it."""
    from pycuda.compiler import SourceModule

    try:
        return SourceModule(kernels.read_text(), no_extern_c=True,
                            options=list(cd.NVCC_OPTIONS), include_dirs=[str(kernels.parent)])
    except Exception as e:  # nvcc failing on that revision
        raise cd.UnsupportedError(f"--baseline: {kernels} did not compile "
                                  f"({cd._one_line(e)})") from None


def _function(module, name: str):
    """``module``'s kernel ``name``, or None where it has none."""
    try:
        return module.get_function(name)
    except Exception:  # pycuda's LogicError: named symbol not found
        return None


def profile_case(dec, case: Case, args: argparse.Namespace, clock_mhz: float | None,
                 sms: int, base=None) -> list[ProfileRow]:
    """Every variant of one texture: the plain and the profile build timed, their outputs
    checked equal (SystemExit with a message where they differ), the profile summarized;
    ``base``: a baseline module (baseline_module) whose plain builds are timed beside them.
    ValueError: an asset or --block the profile builds cannot serve."""
    cuda = dec.cuda
    asset = case.asset
    w, h, c = asset.width, asset.height, asset.channel_count
    k = asset.top_k
    if not 1 <= k <= cd.TOPK_EXACT_MAX:
        raise ValueError(f"{case.label}: top_k {k}: the profile builds are exact-K "
                         f"(1..{cd.TOPK_EXACT_MAX}) only")
    bufs = build_gpu_buffers(asset, tile=args.index_tile, coding=L.INDEX_CODING_FIXED)
    bufs.use_expanded(*dec.expand(bufs))
    try:
        blk = decode_block(int(bufs.meta[L.META_TILE]), args.block)
    except ValueError as e:
        raise ValueError(f"{case.label}: --block: {e}") from None
    if blk is None:
        raise ValueError(f"{case.label}: no tile-cooperative block divides the index "
                         f"tile {int(bufs.meta[L.META_TILE])}")
    a, keep = dec._buffer_args(bufs)
    status, host_status = dec._status()
    zero4 = [np.uint32(0)] * 4
    out = cuda.mem_alloc(4 * w * h * c)
    cand = cuda.mem_alloc(4 * w * h)
    words = len(cd.profile_fields())
    first: np.ndarray | None = None
    result: list[ProfileRow] = []
    for rows in (1, 2):
        if rows == 2 and blk % 2:
            continue
        plain = (cd.decode_kernel("texgs_decode_tiles_kernel", k) if rows == 1
                 else f"{cd.TWO_ROW_TILES_KERNEL}_k{k}")
        prof = f"{cd.PROFILE_TILES_KERNELS[rows - 1]}_k{k}"
        threads = blk * blk // rows
        if threads > min(dec._max_threads(dec._fn[plain]), dec._max_threads(dec._fn[prof])):
            continue
        warps = -(-threads // 32)
        for persistent in (False, True):
            v = Variant(rows, persistent)
            # each build on its own grid (a persistent one: as many blocks as the GPU holds)
            grids = {n: dec.tile_grid(dec._fn[n], blk, threads, (w, h), persistent)
                     for n in (plain, prof)}
            grid = grids[prof]
            n_rows = grid[0] * grid[1]  # one row per launch block
            pbuf = cuda.mem_alloc(8 * words * n_rows)

            def run(name, extra):  # extra: the profile buffer, last
                dec._fn[name](*a, *zero4, out, cand, status, *extra,
                              block=(blk, blk // rows, 1), grid=grids[name])

            outs = []
            times = []
            for name, extra in ((plain, ()), (prof, (pbuf,))):
                cuda.memset_d32(out, 0xFFFFFFFF, w * h * c)
                t_ms, _ = median_event_ms(cuda, lambda name=name, extra=extra: run(name, extra),
                                          args.repeats, args.warmup)
                dec._check(status, host_status)
                got = np.empty((h, w, c), np.float32)
                cuda.memcpy_dtoh(got, out)
                outs.append(got)
                times.append(t_ms)
            # one last profiled launch into a buffer of all ones: a row no block stores stays so
            cuda.memset_d32(pbuf, 0xFFFFFFFF, 2 * words * n_rows)
            run(prof, (pbuf,))
            dec._check(status, host_status)
            prof_words = np.empty((n_rows, words), np.uint64)
            cuda.memcpy_dtoh(prof_words, pbuf)
            pbuf.free()
            if first is None:
                first = outs[0]
            for got, what in ((outs[0], plain), (outs[1], prof)):
                if not np.array_equal(got, first):
                    raise SystemExit(f"{PROG}: {case.label}: {what} ({v.label}) differs from "
                                     f"the first variant's decode")
            summary = summarize_profile(prof_words, warps, times[1], clock_mhz, sms)
            summary["gtexel_s"] = w * h / (times[0] * 1e-3) / 1e9  # the plain build's rate
            bfn = None if base is None else _function(base, plain)
            if bfn is not None and threads <= dec._max_threads(bfn):
                bgrid = dec.tile_grid(bfn, blk, threads, (w, h), persistent)
                cuda.memset_d32(out, 0xFFFFFFFF, w * h * c)
                b_ms, _ = median_event_ms(
                    cuda, lambda: bfn(*a, *zero4, out, cand, status,
                                      block=(blk, blk // rows, 1), grid=bgrid),
                    args.repeats, args.warmup)
                dec._check(status, host_status)
                got = np.empty((h, w, c), np.float32)
                cuda.memcpy_dtoh(got, out)
                if not np.array_equal(got, first):
                    raise SystemExit(f"{PROG}: {case.label}: the baseline's {plain} "
                                     f"({v.label}) differs from this revision's decode")
                summary.update(baseline_ms=b_ms, baseline_gtexel_s=w * h / (b_ms * 1e-3) / 1e9,
                               speedup=b_ms / times[0])
            # blocks the GPU holds at once, plain and profile build (the same where the
            # registers round to the same allocation unit: tests/test_cuda.py)
            summary["resident_blocks"] = [dec.resident_blocks(dec._fn[plain], threads),
                                          dec.resident_blocks(dec._fn[prof], threads)]
            result.append(ProfileRow(case.label, v, blk, grid, warps, times[0], times[1],
                                     summary, prof_words))
    out.free()
    cand.free()
    del keep
    return result


def _f(v, width: int, spec: str) -> str:
    return ("-" if v is None else format(v, spec)).rjust(width)


def print_table(rows: list[ProfileRow]) -> None:
    with_base = any("baseline_ms" in r.summary for r in rows)
    head = (f"{'texture':<16} {'variant':<22} {'ms':>7} {'Gtexel/s':>8} {'prof ms':>7} "
            f"{'resident':>11} "
            f"{'warps/SM':>8} "
            f"{'kept/blk':>8} " + " ".join(f"{p[:9]:>9}" for p in PHASES)
            + f" {'rank cyc/cand':>13} {'/ warps per sched':>17}"
            + (f" {'base ms':>7} {'base Gt/s':>9} {'speedup':>7}" if with_base else ""))
    print("resident: launch blocks the GPU holds at once, plain / profile build; phases: % "
          "of a launch block's first warp's time in the kernel")
    print(head)
    print("-" * len(head))
    for r in rows:
        s = r.summary
        res = "/".join(str(n) for n in s["resident_blocks"])
        print(f"{r.case:<16} {r.variant.label:<22} {r.ms:7.3f} {s['gtexel_s']:8.2f} "
              f"{r.profile_ms:7.3f} {res:>11} "
              f"{_f(s.get('warps_per_sm'), 8, '.1f')} {s['kept_per_block']:8.1f} "
              + " ".join(f"{100 * s['phase_share'][p]:8.1f}%" for p in PHASES)
              + f" {s['rank_cycles_per_candidate']:13.0f} "
              f"{_f(s.get('rank_slots_per_candidate'), 17, '.1f')}"
              + (f" {_f(s.get('baseline_ms'), 7, '.3f')} "
                 f"{_f(s.get('baseline_gtexel_s'), 9, '.2f')} "
                 f"{_f(s.get('speedup'), 7, '.2f')}" if with_base else ""))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    add_case_options(ap, [4096], 8)  # 8-texel index tiles: the fastest measured
    ap.add_argument("--repeats", type=int, default=5, help="timed runs per build (median)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed runs before them")
    ap.add_argument("--json", type=Path, default=None, help="write every number here")
    ap.add_argument("--baseline", default=None, metavar="SRC",
                    help="also time the plain builds of this git revision, or of the "
                         "revision exported to this directory (cuda/, engine_shaders/)")
    args = ap.parse_args(argv)
    if args.repeats < 1 or args.warmup < 0:
        ap.error("--repeats must be at least 1 and --warmup not negative")
    check_case_options(ap, args)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    opened = open_decoder(PROG, args, profile=True)
    if isinstance(opened, int):
        return opened
    dec, ready_s, cases = opened
    base = None
    if args.baseline is not None:
        with tempfile.TemporaryDirectory() as tmp:
            try:
                base = baseline_module(baseline_sources(args.baseline, Path(tmp)))
            except ValueError as e:
                print(f"{PROG}: error: {e}", file=sys.stderr)
                return 2
            except cd.UnsupportedError as e:
                print(f"{PROG}: error: {e}", file=sys.stderr)
                return 5
    dev = device_info(dec.cuda, 128, 300)
    print(f"device: {dev['name']} (sm_{dev['compute_capability'].replace('.', '')}), "
          f"{dev['sms']} SMs at {dev['clock_mhz'] or '?'} MHz (CLOCK_RATE); kernels with "
          f"-DTEXGS_PROFILE ready in {ready_s:.1f} s")
    rows: list[ProfileRow] = []
    for case in cases:
        try:
            rows += profile_case(dec, case, args, dev["clock_mhz"], dev["sms"], base)
        except ValueError as e:
            print(f"{PROG}: error: {e}", file=sys.stderr)
            return 2
        except SystemExit as e:
            print(e, file=sys.stderr)
            return 1
    print_table(rows)
    if args.json is not None:
        out = {"device": dev, "args": args_json(args),
               "fields": dict(cd.profile_fields()),
               "rows": [{"texture": r.case, "variant": r.variant.label,
                         "rows_per_thread": r.variant.rows, "persistent": r.variant.persistent,
                         "block": r.block, "grid": list(r.grid),
                         "warps_per_block": r.warps_per_block, "ms": r.ms,
                         "profile_ms": r.profile_ms, **r.summary} for r in rows]}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=1))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
