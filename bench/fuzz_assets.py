"""The long fuzz run of every asset reader (issue "Fuzzing every reader").

    python bench/fuzz_assets.py --runs 1000000 [--jobs N] [--out DIR] [--max-len 4096]
    python bench/fuzz_assets.py --target gltf --runs 100000   # the glTF extension reader

atheris (libFuzzer; ``pip install atheris==3.0.0``) over the same target as the bounded CI
run in tests/test_fuzz.py: ``check_input`` of tests/fuzz_target.py (read_asset whole and
streamed, CRC-repaired variants, the reader's memory guard, build_gpu_buffers and a tiny
decode of what the reader accepts; only AssetFormatError is allowed). Seeds: tests/corpus.

``--target gltf`` fuzzes the glTF extension reader instead, like tests/test_fuzz_gltf.py:
``check_input`` of tests/fuzz_gltf_target.py (read_gaussian_textures_bytes under the memory
guard, only InputError / UnsupportedError allowed, decode_texture_image of what it returns;
a structure-aware JSON mutator beside libFuzzer's). Seeds: tests/corpus_gltf; output
bench/results/fuzz_gltf; --max-len 16384 by default (the seed .glb is about 8 KB).

``--jobs N`` runs N libFuzzer processes side by side, ``--runs`` split between them; they
share one growing corpus (OUT/corpus, kept between runs, so a later run resumes). libFuzzer
stops a process at its first crash, hang (``-timeout``, 5 s per input by default) or
out-of-memory; this script then restarts it with the runs it has left, so one finding does
not end the run (at most ``--max-findings``). Findings go to OUT/crashes (crash-*, timeout-*,
oom-* files, libFuzzer's names); logs to OUT/logs. Replay one with

    python tests/fuzz_target.py OUT/crashes/crash-...        (tests/fuzz_gltf_target.py for gltf)

At the end it prints inputs tried, crashes, hangs, OOMs and exec/s, and exits 1 if anything
was found.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import fuzz_gltf_target  # noqa: E402  (the glTF reader's shared target)
import fuzz_target  # noqa: E402  (the shared target; run as a script it is the fuzzer)

#: --target NAME -> (the target module, its default output folder, its default --max-len).
TARGETS = {"asset": (fuzz_target, ROOT / "bench" / "results" / "fuzz_assets", 4096),
           "gltf": (fuzz_gltf_target, ROOT / "bench" / "results" / "fuzz_gltf", 16384)}
KINDS = {"crash": "crashes", "timeout": "hangs", "oom": "ooms", "leak": "leaks"}


class Totals:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.units = 0
        self.restarts = 0
        self.exit_codes: list[int] = []


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def finding_files(crashes: Path) -> dict[str, list[Path]]:
    out: dict[str, list[Path]] = {k: [] for k in KINDS}
    for p in sorted(crashes.iterdir()):
        kind = p.name.split("-", 1)[0]
        if kind in out:
            out[kind].append(p)
    return out


def run_job(job: int, runs: int, args: argparse.Namespace, dirs: dict[str, Path],
            totals: Totals, stop: threading.Event) -> None:
    """One libFuzzer process at a time for ``runs`` inputs, restarted after each finding."""
    left = runs
    attempt = 0
    while left > 0 and not stop.is_set():
        log_path = dirs["logs"] / f"job{job}-{attempt}.log"
        seed = args.seed + 1000 * job + attempt
        cmd = [sys.executable, str(args.target_path), f"-runs={left}", f"-seed={seed}",
               f"-timeout={args.timeout}", f"-rss_limit_mb={args.rss_limit_mb}",
               f"-max_len={args.max_len}", "-print_final_stats=1", "-reload=1",
               f"-artifact_prefix={dirs['crashes']}/", str(dirs["corpus"]), str(dirs["seeds"])]
        with open(log_path, "w") as log:
            rc = subprocess.run(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                check=False).returncode
        text = log_path.read_text(errors="replace")
        m = re.search(r"stat::number_of_executed_units:\s*(\d+)", text)
        if m:
            done = int(m.group(1))
        else:  # killed hard (e.g. by the OOM killer): take the last status line
            lines = re.findall(r"^#(\d+)\s", text, re.MULTILINE)
            done = int(lines[-1]) if lines else 0
        with totals.lock:
            totals.units += done
            totals.exit_codes.append(rc)
            if rc != 0:
                totals.restarts += 1
        left -= done
        attempt += 1
        if rc != 0:
            found = sum(len(v) for v in finding_files(dirs["crashes"]).values())
            print(f"job {job}: libFuzzer exited {rc} after {done} inputs (see {log_path}); "
                  f"{found} finding(s) so far", flush=True)
            if found >= args.max_findings:
                stop.set()
            if done == 0:  # nothing ran: do not spin
                stop.set()
                print(f"job {job}: no progress, giving up", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=1_000_000, help="inputs to try, in all")
    ap.add_argument("--jobs", type=int, default=1, help="libFuzzer processes side by side")
    ap.add_argument("--target", choices=sorted(TARGETS), default="asset",
                    help="asset: the .tgs readers (default); gltf: the glTF extension reader")
    ap.add_argument("--out", type=Path, default=None,
                    help="corpus/, crashes/, logs/ go here (default bench/results/fuzz_assets, "
                         "or bench/results/fuzz_gltf for --target gltf)")
    ap.add_argument("--timeout", type=int, default=5, help="seconds per input (a hang)")
    ap.add_argument("--max-len", type=int, default=None,
                    help="largest input, bytes (default 4096; 16384 for --target gltf)")
    ap.add_argument("--rss-limit-mb", type=int, default=2048)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-findings", type=int, default=50,
                    help="stop after this many crash/hang/OOM files")
    args = ap.parse_args(argv)
    module, default_out, default_max_len = TARGETS[args.target]
    args.target_path = Path(module.__file__).resolve()
    args.out = args.out if args.out is not None else default_out
    args.max_len = args.max_len if args.max_len is not None else default_max_len
    try:
        import atheris  # noqa: F401
    except ImportError:
        print("atheris is not installed: pip install atheris==3.0.0", file=sys.stderr)
        return 2
    dirs = {name: args.out / name for name in ("corpus", "crashes", "logs", "seeds")}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    # Seeds: the corpus's input files only (not its make_corpus script), refreshed every run.
    for old in dirs["seeds"].glob("*"):
        old.unlink()
    for p in module.corpus_files():
        shutil.copyfile(p, dirs["seeds"] / p.name)
    before = {p.name for v in finding_files(dirs["crashes"]).values() for p in v}

    jobs = max(1, args.jobs)
    share = [args.runs // jobs + (1 if j < args.runs % jobs else 0) for j in range(jobs)]
    totals = Totals()
    stop = threading.Event()
    print(f"fuzzing {_shown(args.target_path)}::check_input: {args.runs} inputs, {jobs} job(s), "
          f"timeout {args.timeout} s, max_len {args.max_len}; output in {args.out}", flush=True)
    t0 = time.perf_counter()
    threads = [threading.Thread(target=run_job, args=(j, share[j], args, dirs, totals, stop))
               for j in range(jobs) if share[j] > 0]
    for t in threads:
        t.start()
    try:
        for t in threads:
            t.join()
    except KeyboardInterrupt:
        stop.set()
        print("interrupted: waiting for the running libFuzzer processes", flush=True)
        for t in threads:
            t.join()
    wall = time.perf_counter() - t0

    found = finding_files(dirs["crashes"])
    new = {k: [p for p in v if p.name not in before] for k, v in found.items()}
    print()
    print(f"inputs tried: {totals.units}")
    for kind, label in KINDS.items():
        if kind == "leak" and not found[kind]:
            continue
        print(f"{label}: {len(new[kind])} new ({len(found[kind])} in {dirs['crashes']})")
    print(f"exec/s: {totals.units / wall:.0f} ({wall:.1f} s wall, {jobs} job(s))")
    print(f"corpus: {sum(1 for _ in dirs['corpus'].iterdir())} inputs in {dirs['corpus']}")
    for kind in KINDS:
        for p in new[kind][:10]:
            print(f"  {p}")
    if any(new.values()):
        print(f"replay: python {_shown(args.target_path)} {dirs['crashes']}/<file>")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
