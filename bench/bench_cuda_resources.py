"""What the CUDA decode kernels ask of a GPU, per architecture, from the compiler alone (no
GPU needed): registers, stack frame (local memory), spills and shared memory of every kernel
as ptxas reports them (nvcc -Xptxas -v), and the occupancy that follows on each
architecture for the kernel's launch shape (texgs.cuda_decoder).

A decode kernel comes in top-K builds (docs/RUNTIME.md "Top-K in registers"): K 1..8 each
have their own (`<kernel>_k<K>`), the K best held in registers; the generic build
(`<kernel>`) serves any K up to 32. The table compares them in one run, and with --baseline
REV also the kernels of another revision of cuda/ (a git revision of this repository, e.g.
the commit before the top-K builds), compiled in the same run.

Occupancy: resident threads per SM over the SM's maximum, limited by registers (65,536 per
SM, allocated per warp in units of 256), shared memory, threads and blocks per SM (the
figures of NVIDIA's CUDA C++ Programming Guide, "Compute Capabilities" table, for each
architecture below).

    python bench/bench_cuda_resources.py [--archs 75 80 86 89 90] [--k 5] [--baseline REV]
        [--sass] [--json out.json]

--sass also counts machine instructions: each decode build is compiled to a cubin for the
first of --archs and disassembled with cuobjdump (CUDA toolkit, or `pip install
nvidia-cuda-cuobjdump nvidia-cuda-nvdisasm`), and the table gives the kernel's static
instruction count and its candidate loop: of the loops (a backward branch and what it
jumps over) holding at least 2 K select instructions, the top-K insertion's
compare-exchanges, the one with the fewest instructions per candidate (the compiler
versions the loop per address mode and may unroll it; since the 32-bit ranking words, the
tile kernels have two: the 64-bit words' for lists of several batches, whose exchanges are
selects, and the 32-bit words' for a list that fits one batch, whose exchanges are unsigned
integer min and max, IMNMX.U32 or VIMNMX.U32, also counted; the table then gives the
latter, the loop a list of up to 64 entries runs). "cand loop": its size; "per cand": its
size over the (texel, candidate) pairs one pass of it ranks, its tests of q against the
cutoff (FSETP or FMNMX with the immediate 9, TEXGS_CUTOFF_Q: one per candidate, two in the
two-row builds, one per texel; at least 1). Static counts: a branch not taken at run time
(the repeat mode's division, say) still counts.

Exit: 0; 2 for bad arguments; 3 when nvcc is missing or fails (its message on stderr).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from texgs.cuda_decoder import SMEM_RESERVED, blocks_per_sm

ROOT = Path(__file__).resolve().parents[1]
PROG = "bench_cuda_resources"
KERNELS = ROOT / "cuda" / "texgs_kernels.cu"
NVCC_FLAGS = ["--fmad=false", "-std=c++14"]  # texgs.cuda_decoder.NVCC_OPTIONS

# Per architecture: (max threads per SM, max blocks per SM, shared memory per SM in bytes
# usable by blocks, registers per SM).
ARCH_LIMITS = {
    "75": (1024, 16, 64 * 1024, 65536),
    "80": (2048, 32, 164 * 1024, 65536),
    "86": (1536, 16, 100 * 1024, 65536),
    "89": (1536, 24, 100 * 1024, 65536),
    "90": (2048, 32, 228 * 1024, 65536),
}
# Threads per block of each decode kernel's launch (texgs.cuda_decoder): 16 x 16 for the
# per-texel decode, 8 x 8 texels for the tile-cooperative decode, 256 for UV points, 64 for
# the UV points of one 8 x 8 texel block (binned).
BLOCK_THREADS = {"texgs_decode_grid_kernel": 256, "texgs_decode_tiles_kernel": 64,
                 "texgs_decode_uv_kernel": 256, "texgs_decode_uv_blocks_kernel": 64}
# the tile kernel's two-row builds (exact K only): 8 x 4 threads for 8 x 8 texels
TWO_ROW_THREADS = {"texgs_decode_tiles2_kernel": 32}


@dataclass
class KernelUse:
    """One kernel on one architecture, as ptxas reported it."""
    source: str  # "current" or the baseline revision
    kernel: str  # entry point name
    arch: str  # "90"
    registers: int
    stack_bytes: int  # stack frame per thread (local memory)
    spill_store_bytes: int
    spill_load_bytes: int
    smem_bytes: int  # static shared memory per block

    @property
    def family(self) -> str:
        """The kernel without its top-K build suffix."""
        return re.sub(r"_k\d+$", "", self.kernel)


_ENTRY = re.compile(r"Compiling entry function '(\w+)' for 'sm_(\d+)'")
_FRAME = re.compile(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")
_USED = re.compile(r"Used (\d+) registers")
_SMEM = re.compile(r"(\d+) bytes smem")


def parse_ptxas(text: str, source: str = "current") -> list[KernelUse]:
    """The kernels of ``nvcc -Xptxas -v`` output (stderr): each entry's "Compiling entry
    function" line, then its stack-frame line and its "Used N registers" line."""
    out: list[KernelUse] = []
    cur: dict | None = None
    for line in text.splitlines():
        m = _ENTRY.search(line)
        if m:
            cur = {"kernel": m.group(1), "arch": m.group(2)}
            continue
        if cur is None:
            continue
        m = _FRAME.search(line)
        if m:
            cur.update(stack=int(m.group(1)), st=int(m.group(2)), ld=int(m.group(3)))
            continue
        m = _USED.search(line)
        if m and "stack" in cur:
            s = _SMEM.search(line)
            out.append(KernelUse(source, cur["kernel"], cur["arch"], int(m.group(1)),
                                 cur["stack"], cur["st"], cur["ld"],
                                 int(s.group(1)) if s else 0))
            cur = None
    return out


def compile_kernels(nvcc: str, source: Path, archs: list[str],
                    label: str) -> tuple[list[KernelUse], float]:
    """Compile ``source`` for ``archs`` with ptxas's report -> (kernels, seconds)."""
    gencode = [a for arch in archs for a in ("-gencode", f"arch=compute_{arch},code=sm_{arch}")]
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [nvcc, *NVCC_FLAGS, "-Xptxas", "-v", "-c", str(source), "-o",
               str(Path(tmp) / "k.o"), *gencode]
        t0 = time.perf_counter()
        res = subprocess.run(cmd, capture_output=True, text=True, check=False)
        secs = time.perf_counter() - t0
    if res.returncode != 0:
        raise RuntimeError(f"nvcc failed on {source}: {res.stderr.strip().splitlines()[-1:]}")
    return parse_ptxas(res.stderr, label), secs


SASS_LINE = re.compile(r"\s+/\*([0-9a-f]{4,})\*/\s+(.*?)\s*;")
BRANCH = re.compile(r"\bBRA\s+(0x[0-9a-f]+)")
# q against the cutoff 9 (TEXGS_CUTOFF_Q), once per (texel, candidate) a loop ranks: a
# compare (the 64-bit ranking words) or a float min (the 32-bit ones, texgs_rank32_key)
CUTOFF_COMPARE = re.compile(r"\bFSETP\.\S+\s+P\d+,\s*P\w+,\s*R\d+,\s*9,"
                            r"|\bFMNMX\s+R\d+,\s*R\d+,\s*9,")
# the top-K's compare-exchanges: selects (64-bit words), unsigned min and max (32-bit ones)
SELECT_OPS = ("SEL", "FSEL")
MIN_MAX_OPS = ("IMNMX.U32", "VIMNMX.U32")


@dataclass
class SassLoops:
    """Machine-code sizes of one kernel (cuobjdump -sass)."""
    instructions: int  # static count of the whole kernel
    candidate_loop: int  # static count of its candidate loop (0: none found)
    loop_candidates: int = 1  # (texel, candidate) pairs one pass ranks (unrolled: more)

    @property
    def per_candidate(self) -> float:
        """Static instructions of the loop per candidate it ranks."""
        return self.candidate_loop / self.loop_candidates


def parse_sass(text: str, min_selects: int) -> SassLoops:
    """The instruction count and the candidate loop (see the module docstring) of one
    kernel's ``cuobjdump -sass`` listing: of the loops holding at least ``min_selects``
    selects or unsigned min/max (2 K: the insertion's compare-exchanges), the one with the fewest
    instructions per candidate, then the shortest; the (texel, candidate) pairs one pass of
    a loop ranks are its tests of q against the cutoff (CUTOFF_COMPARE; a loop the compiler
    unrolled, or a two-row build, has several), at least 1. (Not its 16-byte shared loads:
    the compiler merges two candidates' 8-byte slots into one.)"""
    ins = [(int(m.group(1), 16), m.group(2)) for m in map(SASS_LINE.match, text.splitlines())
           if m]
    at = {a: i for i, (a, _) in enumerate(ins)}
    # each instruction's opcode with its modifiers, after a predicate such as @P0
    ops = [t[1] if t[0].startswith("@") and len(t) > 1 else t[0]
           for t in (op.split() for _, op in ins)]
    exchange = [o.split(".")[0] in SELECT_OPS or o.startswith(MIN_MAX_OPS) for o in ops]
    loops = []  # (size, first, last)
    for i, (a, op) in enumerate(ins):
        m = BRANCH.search(op)
        first = at.get(int(m.group(1), 16)) if m and int(m.group(1), 16) <= a else None
        if first is not None and sum(exchange[first:i + 1]) >= min_selects:
            loops.append((i + 1 - first, first, i))
    if not loops:
        return SassLoops(len(ins), 0)
    found = [SassLoops(len(ins), size, max(1, sum(
        bool(CUTOFF_COMPARE.search(op)) for _, op in ins[first:last + 1])))
        for size, first, last in loops]
    return min(found, key=lambda f: (f.per_candidate, f.candidate_loop))


def find_cuobjdump() -> str | None:
    """cuobjdump on PATH, in /usr/local/cuda/bin, or from the nvidia-cuda-cuobjdump wheel."""
    found = shutil.which("cuobjdump")
    if found:
        return found
    cands = [Path("/usr/local/cuda/bin/cuobjdump")]
    try:
        import nvidia  # namespace package of NVIDIA's wheels
        cands += [Path(p) / sub / "bin" / "cuobjdump" for p in nvidia.__path__
                  for sub in ("cu13", "cu12", "cuda_cuobjdump")]
    except ImportError:
        pass
    return next((str(p) for p in cands if p.exists()), None)


def sass_loops(nvcc: str, cuobjdump: str, source: Path, arch: str, kernels: list[str],
               min_k: int) -> dict[str, SassLoops]:
    """Compile ``source`` to a cubin for ``arch`` and measure each of ``kernels`` (top-K
    ``min_k`` or more)."""
    with tempfile.TemporaryDirectory() as tmp:
        cubin = Path(tmp) / "k.cubin"
        res = subprocess.run([nvcc, *NVCC_FLAGS, "-cubin", f"-arch=sm_{arch}", str(source),
                              "-o", str(cubin)], capture_output=True, text=True, check=False)
        if res.returncode != 0:
            raise RuntimeError(f"nvcc -cubin failed on {source}")
        out = {}
        # cuobjdump runs nvdisasm, which the wheels put beside it
        env = {**os.environ, "PATH": os.pathsep.join([str(Path(cuobjdump).parent),
                                                      os.environ.get("PATH", "")])}
        for k in kernels:
            dump = subprocess.run([cuobjdump, "-sass", "-fun", k, str(cubin)],
                                  capture_output=True, text=True, check=False, env=env)
            if dump.returncode != 0:
                raise RuntimeError(f"cuobjdump failed on {k}: {dump.stderr.strip()[:200]}")
            out[k] = parse_sass(dump.stdout, 2 * min_k)
        return out


def occupancy(use: KernelUse, threads: int) -> float:
    """Resident threads per SM over the SM's maximum for blocks of ``threads`` threads
    (texgs.cuda_decoder.blocks_per_sm on the architecture's limits)."""
    max_threads, max_blocks, smem_sm, regs_sm = ARCH_LIMITS[use.arch]
    blocks = blocks_per_sm(use.registers, use.smem_bytes, threads, max_threads=max_threads,
                           max_blocks=max_blocks, smem_per_sm=smem_sm, regs_per_sm=regs_sm,
                           smem_reserved=SMEM_RESERVED if int(use.arch) >= 80 else 0)
    return blocks * threads / max_threads


def checkout_baseline(rev: str, dest: Path) -> Path:
    """cuda/ and engine_shaders/texgs_layout.h of git revision ``rev`` under ``dest`` -> the
    kernels file there."""
    for rel in ("cuda/texgs_kernels.cu", "cuda/texgs_math.cuh", "engine_shaders/texgs_layout.h"):
        res = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:{rel}"],
                             capture_output=True, check=False)
        if res.returncode != 0:
            raise ValueError(f"--baseline {rev}: {rel} not found "
                             f"({res.stderr.decode().strip()})")
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_bytes(res.stdout)
    return dest / "cuda" / "texgs_kernels.cu"


def print_table(uses: list[KernelUse], k: int,
                sass: dict[tuple[str, str, str], SassLoops] | None = None) -> list[dict]:
    """One line per decode kernel the decoder may launch for top-K ``k`` (its exact build
    and the generic one) per architecture and source -> the rows as dicts. ``sass``:
    (source, kernel, arch) -> its instruction counts, shown where given."""
    names = ({f"{f}_k{k}" for f in (*BLOCK_THREADS, *TWO_ROW_THREADS)} | set(BLOCK_THREADS))
    sass = sass or {}
    rows = []
    head = (f"{'source':<12} {'kernel':<30} {'sm':>3} {'regs':>5} {'stack B':>8} "
            f"{'spill B':>8} {'smem B':>7} {'threads':>7} {'occupancy':>9}"
            + (f" {'SASS':>6} {'cand loop':>9} {'per cand':>8}" if sass else ""))
    print(head)
    print("-" * len(head))
    for u in sorted(uses, key=lambda u: (u.family, u.arch, u.source != "current",
                                         u.kernel == u.family)):
        if u.kernel not in names:
            continue
        threads = {**BLOCK_THREADS, **TWO_ROW_THREADS}[u.family]
        occ = occupancy(u, threads)
        sl = sass.get((u.source, u.kernel, u.arch))
        print(f"{u.source:<12} {u.kernel:<30} {u.arch:>3} {u.registers:>5} "
              f"{u.stack_bytes:>8} {u.spill_store_bytes + u.spill_load_bytes:>8} "
              f"{u.smem_bytes:>7} {threads:>7} {100 * occ:>8.0f}%"
              + (f" {sl.instructions:>6} {sl.candidate_loop:>9} {sl.per_candidate:>8.1f}"
                 if sl else ""))
        rows.append({**asdict(u), "threads": threads, "occupancy": occ,
                     **({"sass": {**asdict(sl), "per_candidate": sl.per_candidate}}
                        if sl else {})})
    return rows


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    ap.add_argument("--archs", nargs="+", default=list(ARCH_LIMITS),
                    help="SM architectures (default: 75 80 86 89 90)")
    ap.add_argument("--k", type=int, default=5,
                    help="the top-K whose exact build the table shows (default 5, the baker's)")
    ap.add_argument("--baseline", default=None, metavar="REV",
                    help="also compile cuda/ of this git revision, in the same run")
    ap.add_argument("--sass", action="store_true",
                    help="also count machine instructions (needs cuobjdump)")
    ap.add_argument("--json", type=Path, default=None, help="write every number here")
    args = ap.parse_args(argv)
    bad = [a for a in args.archs if a not in ARCH_LIMITS]
    if bad:
        ap.error(f"--archs: unknown {' '.join(bad)} (known: {' '.join(ARCH_LIMITS)})")
    if not 1 <= args.k <= 8:
        ap.error("--k must lie in 1..8 (the exact builds)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    nvcc = shutil.which("nvcc") or next((str(p) for p in (Path("/usr/local/cuda/bin/nvcc"),)
                                         if p.exists()), None)
    if nvcc is None:
        print(f"{PROG}: error: nvcc not found (CUDA toolkit not installed)", file=sys.stderr)
        return 3
    cuobjdump = find_cuobjdump() if args.sass else None
    if args.sass and cuobjdump is None:
        print(f"{PROG}: error: --sass: cuobjdump not found (CUDA toolkit, or pip install "
              "nvidia-cuda-cuobjdump nvidia-cuda-nvdisasm)", file=sys.stderr)
        return 3
    with tempfile.TemporaryDirectory() as tmp:
        try:  # the baseline's sources first: a bad revision fails before any compile
            base_src = checkout_baseline(args.baseline, Path(tmp)) if args.baseline else None
        except ValueError as e:
            print(f"{PROG}: error: {e}", file=sys.stderr)
            return 2
        try:
            uses, secs = compile_kernels(nvcc, KERNELS, args.archs, "current")
            timings = {"current": secs}
            if base_src is not None:
                base, bsecs = compile_kernels(nvcc, base_src, args.archs, args.baseline[:10])
                uses += base
                timings[args.baseline] = bsecs
            sass: dict = {}
            if cuobjdump is not None:
                names = ([f"{f}_k{args.k}" for f in (*BLOCK_THREADS, *TWO_ROW_THREADS)]
                         + list(BLOCK_THREADS))
                arch = args.archs[0]
                for label, src in (("current", KERNELS), (args.baseline, base_src)):
                    if src is None:
                        continue
                    key = label if label == "current" else label[:10]
                    have = {u.kernel for u in uses if u.source == key}  # this revision's
                    for name, sl in sass_loops(nvcc, cuobjdump, src, arch,
                                               [n for n in names if n in have],
                                               args.k).items():
                        sass[(key, name, arch)] = sl
        except RuntimeError as e:
            print(f"{PROG}: error: {e}", file=sys.stderr)
            return 3
    print(f"nvcc {' '.join(NVCC_FLAGS)} -Xptxas -v, sm_{' sm_'.join(args.archs)}; compile "
          + ", ".join(f"{k}: {v:.1f} s" for k, v in timings.items()))
    rows = print_table(uses, args.k, sass)
    if sass:
        print(f"SASS: static instructions of the kernel (sm_{args.archs[0]}, cuobjdump); cand "
              "loop: of its candidate loop (module docstring)")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"args": {**vars(args), "json": str(args.json)},
                                         "compile_s": timings, "rows": rows}, indent=1))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
