"""Quality per bit of the record layout (issue 9): the paper's storage against texgs's, next
to ASTC, in one run.

For every texture in ../shared/textures/single (RGB; alpha is left to the set benchmark) and
every rate of --rates (bits per texel of the whole file, header included), it bakes two
assets of the same file size that differ only in how a Gaussian is stored:

- ``paper16``: every value in 16 bits, as Image-GS stores its parameters (float16): two
  position, two scale, one angle and three colour values, 128 bits per RGB Gaussian
  (16-bit fixed point here, at least as fine as float16 over these ranges);
- ``texgs``: the default layout (12-bit positions over the texture, 8-bit log2 scales over
  the asset's range, 8-bit angle, 8-bit colours over each channel's range: 72 bits), so
  the same bytes hold 1.8 times as many Gaussians.

Everything else is the default bake (``--quality``, default ``max``). Each stored asset is
decoded (the bake's own decode of its records) to 8 bits; PSNR (RGB) and SSIM are measured against the
texture, beside ASTC 12x12 (0.89 bpp), 10x10 (1.28) and 8x8 (2.00) at the exhaustive preset
on the same image. The last lines give the means, texgs's BD-rate against the ASTC ladder
(per texture, then the mean) and the issue's targets.

    python bench/bench_quant.py [--rates 0.5 1 2] [--quality max] [--only NAME]
                                [--json OUT.json] [--keep-assets DIR]
                                [--layout NAME=P,S,R,C ...]   # fixed layouts beside them
    python bench/bench_quant.py --rows OUT.txt   # the summary of rows printed before
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from texgs.eval import baselines  # noqa: E402
from texgs.eval.bdrate import bd_rate  # noqa: E402
from texgs.eval.metrics import psnr, ssim  # noqa: E402
from texgs.images import to_uint8  # noqa: E402

SHARED = ROOT.parent / "shared" / "textures" / "single"
ASTC = [("astc12x12", (12, 12)), ("astc10x10", (10, 10)), ("astc8x8", (8, 8))]
SCHEMES = {
    "paper16": {"pos_bits": 16, "scale_bits": 16, "rot_bits": 16, "color_bits": 16},
    "texgs": {},
}


def load_rgb(path: Path) -> np.ndarray:
    img = Image.open(path)
    if img.mode == "P":  # palette with transparency: through RGBA so the colours are right
        img = img.convert("RGBA")
    return np.asarray(img.convert("RGB"))


def bake(rgb: np.ndarray, rate: float, scheme: str, quality: str, keep: Path | None,
         name: str) -> dict:
    from texgs.bake import BakeConfig, bake_array  # noqa: PLC0415
    from texgs.images import channel_infos_for  # noqa: PLC0415

    cfg = BakeConfig(bpp=rate, quality=quality, **SCHEMES[scheme])
    t0 = time.perf_counter()
    res = bake_array(rgb.astype(np.float32) / 255.0, channel_infos_for(3), cfg)
    seconds = time.perf_counter() - t0
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        (keep / f"{name}.{scheme}.{rate:g}.tgs").write_bytes(res.data)
    dec = to_uint8(res.decoded)[..., :3]  # the bake's decode of the stored asset
    return {"bpp": res.bits_per_texel, "gaussians": res.gaussians,
            "record_bits": res.asset.layout.record_bits, "seconds": seconds,
            "psnr": psnr(rgb / 255.0, dec / 255.0), "ssim": ssim(rgb / 255.0, dec / 255.0)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", type=float, nargs="+", default=[0.5, 1.0, 2.0])
    ap.add_argument("--quality", default="max", choices=["fast", "balanced", "max"])
    ap.add_argument("--only", default=None, help="textures whose name contains this")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--keep-assets", type=Path, default=None)
    ap.add_argument("--layout", action="append", default=[], metavar="NAME=P,S,R,C",
                    help="also bake this record layout (position, scale, angle, colour bits), "
                         "e.g. c10=12,8,8,10; repeatable")
    ap.add_argument("--rows", type=Path, default=None, metavar="FILE",
                    help="print the summary of texture rows this script printed before (one "
                         "or more runs, e.g. split over processes) instead of baking")
    args = ap.parse_args()
    if args.rows:
        rows, rates = parse_rows(args.rows.read_text())
        print_summary(rows, rates)
        return 0
    for spec in args.layout:
        name, _, widths = spec.partition("=")
        try:
            p, sc, r, c = (int(v) for v in widths.split(","))
        except ValueError:
            ap.error(f"--layout {spec!r}: expected NAME=P,S,R,C")
        # a fixed layout: no colour-width search (the preset's "texgs" row has it)
        SCHEMES[name] = {"pos_bits": p, "scale_bits": sc, "rot_bits": r, "color_bits": c,
                         "color_search": False}
    files = sorted(SHARED.glob("*.png"))
    if args.only:
        files = [f for f in files if args.only in f.name]
    print(f"# bench_quant: paper16 (128 bits per RGB Gaussian) vs texgs (72) at equal file "
          f"size, preset {args.quality}; PSNR dB / SSIM on 8-bit RGB; ASTC exhaustive")
    rows = []
    for f in files:
        rgb = load_rgb(f)
        row = {"texture": f.stem, "size": [int(rgb.shape[1]), int(rgb.shape[0])],
               "astc": {}, **{scheme: {} for scheme in SCHEMES}}
        for label, block in ASTC:
            r = baselines.astc(rgb, block, 100.0, threads=2)
            # r.decoded is float in [0, 1] (texgs.eval.metrics.to_float)
            row["astc"][label] = {"bpp": r.bits_per_texel, "psnr": psnr(rgb / 255.0, r.decoded),
                                  "ssim": ssim(rgb / 255.0, r.decoded)}
        for rate in args.rates:
            for scheme in SCHEMES:
                row[scheme][f"{rate:g}"] = bake(rgb, rate, scheme, args.quality,
                                                args.keep_assets, f.stem)
                m = row[scheme][f"{rate:g}"]
                print(f"  {f.stem} {scheme} {rate:g} bpp: {m['gaussians']} Gaussians, "
                      f"{m['psnr']:.2f} dB, {m['seconds']:.0f} s", file=sys.stderr, flush=True)
        rows.append(row)
        print_row(row, args.rates)
    print_summary(rows, args.rates)
    if args.json:
        args.json.write_text(json.dumps({"quality": args.quality, "rates": args.rates,
                                         "textures": rows}, indent=1))
    return 0


def parse_rows(text: str) -> tuple[list[dict], list[float]]:
    """Texture rows as :func:`print_row` prints them -> (rows as the run builds them, rates).
    Only what the summary uses comes back: PSNR and SSIM, and the rates (each layout at its
    nominal rate, which every bake meets within one word of the file; ASTC at 128 bits per
    block, as texgs.eval.baselines.astc reports it). A texture printed twice counts once."""
    rows, rates, seen = [], [], set()
    for line in text.splitlines():
        if line.startswith("#") or "|" not in line:
            continue
        name, size = line.split()[:2]
        if name in seen:
            continue
        seen.add(name)
        cells = line.split("|")
        w, h = (int(v) for v in size.split("x"))
        row = {"texture": name, "size": [w, h], "astc": {}}
        rates = []
        for cell in cells[:-1]:
            rate_txt, _, rest = cell.strip().partition(":")
            rate = float(rate_txt.split()[-1])
            rates.append(rate)
            for scheme, q, ss in re.findall(r"(\S+)\s+([\d.]+)/([\d.]+)", rest):
                row.setdefault(scheme, {})[f"{rate:g}"] = {"bpp": rate, "psnr": float(q),
                                                           "ssim": float(ss)}
        for block, q, ss in re.findall(r"(\d+)x\d+\s+([\d.]+)/([\d.]+)", cells[-1]):
            b = int(block)
            row["astc"][f"astc{b}x{b}"] = {"bpp": 128.0 / (b * b), "psnr": float(q),
                                          "ssim": float(ss)}
        rows.append(row)
    return rows, rates


def print_row(row: dict, rates: list[float]) -> None:
    w, h = row["size"]
    cells = []
    for rate in rates:
        cells.append(f"{rate:g}: " + " ".join(
            f"{scheme} {row[scheme][f'{rate:g}']['psnr']:6.2f}/"
            f"{row[scheme][f'{rate:g}']['ssim']:.4f}" for scheme in SCHEMES))
    astc = " ".join(f"{k[4:]} {v['psnr']:6.2f}/{v['ssim']:.4f}" for k, v in row["astc"].items())
    print(f"{row['texture'][:26]:26s} {w:4d}x{h:<4d} " + " | ".join(cells) + f" | ASTC {astc}",
          flush=True)


BD_TARGET = -30.0  # issue 9's BD-rate target against the ASTC ladder, percent


def bd_rates(rows: list[dict], scheme: str, rates: list[float], shift: float = 0.0,
             keep_none: bool = False) -> list:
    """Per texture BD-rate (percent) of ``scheme`` against the ASTC ladder, with ``shift``
    dB added to every PSNR of the scheme; textures without a PSNR overlap are left out
    (or kept as None with ``keep_none``)."""
    out = []
    for r in rows:
        ladder = [r["astc"][k] for k, _ in ASTC]
        ours = [r[scheme][f"{rate:g}"] for rate in rates]
        bd = bd_rate([m["bpp"] for m in ladder], [m["psnr"] for m in ladder],
                     [m["bpp"] for m in ours], [m["psnr"] + shift for m in ours])
        if bd is not None or keep_none:
            out.append(bd)
    return out


def uniform_gain_for(rows: list[dict], rates: list[float], target: float) -> float | None:
    """The smallest PSNR gain (dB, to 0.01) that, added to every texgs point, brings the mean
    BD-rate against the ASTC ladder to ``target`` percent or below; None above 6 dB. A
    yardstick for how far a target is, not a measurement of any bake."""
    def mean_at(shift: float) -> float:
        bds = bd_rates(rows, "texgs", rates, shift)
        return float(np.mean(bds)) if bds else float("inf")

    if mean_at(0.0) <= target:
        return 0.0
    if mean_at(6.0) > target:
        return None
    lo, hi = 0.0, 6.0
    while hi - lo > 0.005:
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if mean_at(mid) <= target else (mid, hi)
    return round(hi, 2)


def print_summary(rows: list[dict], rates: list[float]) -> None:
    if not rows:
        return
    print(f"\nmeans over {len(rows)} textures (PSNR dB, SSIM, file bits per texel)")
    print(f"{'codec':10s} {'rate':>5s} {'bpp':>6s} {'PSNR':>7s} {'SSIM':>7s}")
    means = {}
    for rate in rates:
        for scheme in SCHEMES:
            ms = [r[scheme][f"{rate:g}"] for r in rows]
            means[(scheme, rate)] = float(np.mean([m["psnr"] for m in ms]))
            print(f"{scheme:10s} {rate:5g} {np.mean([m['bpp'] for m in ms]):6.3f} "
                  f"{means[(scheme, rate)]:7.2f} {np.mean([m['ssim'] for m in ms]):7.4f}")
    for label, _ in ASTC:
        ms = [r["astc"][label] for r in rows]
        means[label] = float(np.mean([m["psnr"] for m in ms]))
        print(f"{label:10s} {'':5s} {np.mean([m['bpp'] for m in ms]):6.3f} "
              f"{means[label]:7.2f} {np.mean([m['ssim'] for m in ms]):7.4f}")
    for scheme in SCHEMES:
        bds = bd_rates(rows, scheme, rates)
        txt = f"{np.mean(bds):+.1f} %" if bds else "undefined"
        print(f"BD-rate of {scheme} against the ASTC ladder: {txt} (mean over {len(bds)} of "
              f"{len(rows)} textures with a PSNR overlap)")
    if "texgs" in SCHEMES and len(rates) >= 2:
        names = [r["texture"] for r in rows]
        per = bd_rates(rows, "texgs", rates, keep_none=True)
        print("texgs BD-rate per texture: " + ", ".join(
            f"{n} {'n/a' if b is None else f'{b:+.0f} %'}" for n, b in zip(names, per)))
        gain = uniform_gain_for(rows, rates, BD_TARGET)
        txt = "over 6 dB" if gain is None else f"{gain:.2f} dB"
        print(f"texgs would need {txt} more PSNR at every rate on every texture for a mean "
              f"BD-rate of {BD_TARGET:+.0f} % (the issue 9 target)")
    checks = []
    if 1.0 in rates:
        checks.append(("texgs 1.0 bpp vs ASTC 10x10", means[("texgs", 1.0)], means["astc10x10"]))
    if 0.5 in rates:
        checks.append(("texgs 0.5 bpp vs ASTC 12x12", means[("texgs", 0.5)], means["astc12x12"]))
    for what, ours, theirs in checks:
        verdict = "met" if ours >= theirs else "not met"
        print(f"target {what}: {ours:.2f} vs {theirs:.2f} dB ({ours - theirs:+.2f}): {verdict}")


if __name__ == "__main__":
    sys.exit(main())
