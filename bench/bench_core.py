"""Core benchmark (issue 3): texgs at 1.0 bit per texel against ASTC and JPEG, one run.

For every texture in ../shared/textures/single (colour channels only; alpha is left to the
texture-set benchmark), it bakes texgs with default settings at --bpp (whole file, header
included) in a subprocess (wall time and peak resident memory of that process are
reported), decodes it with the NumPy reference decoder to 8 bits, and encodes the same RGB
image with ASTC 12x12 (0.89 bpp), 10x10 (1.28 bpp), 8x8 (2.0 bpp) at the exhaustive preset
(each in a fresh process) and with JPEG at texgs's measured rate. PSNR over RGB, 8-bit.

    python bench/bench_core.py [--bpp 1.0] [--steps N] [--only NAME] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from texgs import format as fmt  # noqa: E402
from texgs.decode import decode_texture  # noqa: E402
from texgs.eval import baselines  # noqa: E402
from texgs.eval.metrics import psnr  # noqa: E402
from texgs.images import to_uint8  # noqa: E402

SHARED = ROOT.parent / "shared" / "textures" / "single"
ASTC = [("astc12x12", (12, 12)), ("astc10x10", (10, 10)), ("astc8x8", (8, 8))]


def bake_subprocess(src: Path, dst: Path, bpp: float, steps: int | None) -> tuple[dict, float, float]:
    """Run `texgs bake --json` in a child; return (summary, wall seconds, peak RSS MiB)."""
    cmd = [sys.executable, "-m", "texgs.cli", "bake", str(src), "-o", str(dst), "--bpp",
           str(bpp), "--json"]
    if steps is not None:
        cmd += ["--steps", str(steps)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    out_b, err_b = b"", b""
    # wait4 gives this child's own resource usage (ru_maxrss in KiB on Linux)
    out_b = proc.stdout.read()
    err_b = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"bake of {src} failed: {err_b.decode()[-500:]}")
    return json.loads(out_b), wall, usage.ru_maxrss / 1024.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bpp", type=float, default=1.0)
    ap.add_argument("--steps", type=int, default=None, help="override the default steps")
    ap.add_argument("--only", default=None, help="substring filter on texture names")
    ap.add_argument("--astc-quality", type=float, default=100.0)
    ap.add_argument("--json", type=Path, default=None, help="write every measurement here")
    ap.add_argument("--keep-assets", type=Path, default=None,
                    help="keep the baked assets here (NAME.tgs; bench_runtime.py --assets)")
    args = ap.parse_args()
    files = sorted(SHARED.glob("*.png"))
    if args.only:
        files = [f for f in files if args.only in f.name]
    if not files:
        print(f"no textures found in {SHARED}", file=sys.stderr)
        return 2
    rows = []
    names = ["texgs"] + [n for n, _ in ASTC] + ["jpeg"]
    header = f"{'texture':34s} {'size':>9s} " + " ".join(f"{n:>10s}" for n in names) + \
        f" {'q-drop':>7s} {'bake s':>7s} {'peak MiB':>8s}"
    print(f"PSNR (dB, RGB, 8-bit) at texgs {args.bpp} bpp; ASTC at its fixed rates "
          f"(12x12 0.89, 10x10 1.28, 8x8 2.00 bpp, quality {args.astc_quality:g}); "
          "JPEG at texgs's measured rate")
    print(header)
    with tempfile.TemporaryDirectory() as tmp:
        for f in files:
            rgb = np.asarray(Image.open(f).convert("RGB"))
            h, w = rgb.shape[:2]
            src = Path(tmp) / f"{f.stem}.png"
            Image.fromarray(rgb).save(src)
            dst = (args.keep_assets or Path(tmp)) / f"{f.stem}.tgs"
            dst.parent.mkdir(parents=True, exist_ok=True)
            summary, wall, peak = bake_subprocess(src, dst, args.bpp, args.steps)
            asset = fmt.read_asset_file(dst)
            dec = to_uint8(decode_texture(asset)).astype(np.float32) / 255.0
            ref = rgb.astype(np.float32) / 255.0
            row = {"texture": f.name, "width": w, "height": h,
                   "texgs": {"bpp": dst.stat().st_size * 8 / (w * h), "psnr": psnr(ref, dec),
                             "psnr_float": summary["psnr_float_db"],
                             "psnr_stored": summary["psnr_db"], "seconds": wall,
                             "peak_rss_mib": peak, "gaussians": summary["gaussians"],
                             "lod_psnr": summary["lod_psnr_db"]}}
            for name, block in ASTC:
                r = baselines.astc(rgb, block, args.astc_quality, threads=2)
                row[name] = {"bpp": r.bits_per_texel, "psnr": psnr(ref, r.decoded)}
            r = baselines.jpeg_at_rate(rgb, row["texgs"]["bpp"])
            row["jpeg"] = {"bpp": r.bits_per_texel, "psnr": psnr(ref, r.decoded)}
            rows.append(row)
            print(f"{f.stem[:34]:34s} {w:>4d}x{h:<4d} " +
                  " ".join(f"{row[n]['psnr']:10.2f}" for n in names) +
                  f" {summary['psnr_float_db'] - summary['psnr_db']:7.2f}"
                  f" {wall:7.1f} {peak:8.0f}", flush=True)
    mean = {n: float(np.mean([r[n]["psnr"] for r in rows])) for n in names}
    rate = {n: float(np.mean([r[n]["bpp"] for r in rows])) for n in names}
    print(f"{'MEAN PSNR':34s} {'':9s} " + " ".join(f"{mean[n]:10.2f}" for n in names))
    print(f"{'MEAN bits/texel':34s} {'':9s} " + " ".join(f"{rate[n]:10.3f}" for n in names))
    rising = all(all(b > a for a, b in zip(r["texgs"]["lod_psnr"], r["texgs"]["lod_psnr"][1:]))
                 for r in rows)
    drop = float(np.mean([r["texgs"]["psnr_float"] - r["texgs"]["psnr_stored"] for r in rows]))
    print(f"q-drop: PSNR lost from the float fit to the stored (quantized) asset, mean "
          f"{drop:.3f} dB")
    print(f"LOD prefixes: PSNR rises with every level on {'every' if rising else 'NOT every'} "
          "texture")
    for r in rows:
        if r["width"] * r["height"] == 512 * 512:
            print(f"512x512 bake: {r['texture']}: {r['texgs']['seconds']:.1f} s, "
                  f"peak {r['texgs']['peak_rss_mib']:.0f} MiB")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "mean_psnr": mean, "mean_bpp": rate},
                                        indent=2))
    return 0 if all(math.isfinite(mean[n]) for n in names) else 1


if __name__ == "__main__":
    sys.exit(main())
