"""Material-set benchmark (issue 4): one joint texgs asset per set against ASTC per map, at
equal total bytes, measured in one run.

For every set in ../shared/textures/sets (base colour, normal, gloss; found by file name),
texgs bakes all maps jointly (one Gaussian geometry) at each rate, in bits per texel of set
(total file bits / texels of the largest map). The rate "astc12" is the exact size of ASTC
12x12 on every map of that set (the issue's nominal 2.67 bpp). ASTC then gets a budget of
the rate's nominal bytes (never less than the texgs file, which is at most that after
rounding to whole 32-bit words): every map may use any block size (12x12 .. 4x4) at full,
half or quarter resolution (a dropped top mip, upsampled bilinearly), and the combination
with the best mean per-map PSNR that fits the budget is chosen (bench/astc_sets.py).

Quality (texgs.quality, the same function for both codecs): PSNR per map over its channels
that vary (normal maps: x, y, z; gloss: its one varying channel), and the normal map's
mean and 99th-percentile angular error in degrees.

    python bench/bench_sets.py [--rates 1 2 astc12] [--scale 0.5] [--steps N] [--json OUT]
    python bench/bench_sets.py --scale 0.25 --rates 1 --no-astc --variant "" \
        --variant "set_loss='mse'"      # compare bake settings on sets (docs/BAKING.md)

``--scale`` shrinks every map first (box filter) for a quicker run; the table says so.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from astc_sets import astc_map_options, choose_under_budget  # noqa: E402

from texgs import format as fmt  # noqa: E402
from texgs.bake import BakeConfig, bake_set  # noqa: E402
from texgs.images import to_uint8  # noqa: E402
from texgs.material import (discover_maps, load_map_image, parse_weight_option,
                            prepare_map)  # noqa: E402
from texgs.quality import map_quality  # noqa: E402

SETS = ROOT.parent / "shared" / "textures" / "sets"
BLOCKS = ((12, 12), (10, 10), (8, 8), (6, 6), (5, 5), (4, 4))
SCALES = (1.0, 0.5, 0.25)


def load_set(folder: Path, scale: float, weights: dict[int, float] | None = None):
    """Prepared maps (texgs) with their 8-bit images (ASTC input), both from the same texels.
    ``weights``: loss weight by map kind, for the kinds given (others: the default)."""
    out = []
    for src in discover_maps(folder):
        if weights and src.kind in weights:
            src.weight = weights[src.kind]
        img, hdr = load_map_image(src.path)
        u8 = to_uint8(img)
        if scale != 1.0:
            f = round(1 / scale)
            chans = [np.asarray(Image.fromarray(u8[..., c]).reduce(f)) for c in
                     range(u8.shape[2])]
            u8 = np.stack(chans, -1)
        pm = prepare_map(src, u8.astype(np.float32) / 255.0, False)
        out.append((pm, u8))
    return out


def astc_bytes(w: int, h: int, block: tuple[int, int], scale: float) -> int:
    ww, hh = max(1, round(w * scale)), max(1, round(h * scale))
    return math.ceil(ww / block[0]) * math.ceil(hh / block[1]) * 16


def quality_of(pm, img) -> dict:
    q = map_quality(pm.kind, pm.reference, img, pm.informative, pm.alpha_component, pm.hdr)
    return q.as_dict()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rates", nargs="+", default=["1", "2", "astc12"])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--only", default=None, help="one set name")
    ap.add_argument("--quality", type=float, default=98.0, help="astcenc quality (98 thorough)")
    ap.add_argument("--json", default=None)
    ap.add_argument("--variant", action="append", default=[],
                    help="bake settings to compare, e.g. \"set_loss='mse'\" (repeat; each is "
                         "a list of BakeConfig keyword arguments; default: the defaults)")
    ap.add_argument("--weight", action="append", default=[],
                    help="loss weight of a map kind, KIND=NUMBER as texgs bake --weight "
                         "(repeat)")
    ap.add_argument("--no-astc", action="store_true", help="texgs only (recipe comparisons)")
    ap.add_argument("--separate", action="store_true",
                    help="also bake every map alone, all at the same bits per texel of its own "
                         "texels, together the joint asset's bits: joint vs separate geometry")
    args = ap.parse_args()
    variants = args.variant or [""]
    weights = dict(parse_weight_option(w) for w in args.weight)
    sets = sorted(p for p in SETS.iterdir() if p.is_dir())
    if args.only:
        sets = [p for p in sets if p.name == args.only]
    rows = []
    t_start = time.time()
    print(f"# bench_sets: maps scaled by {args.scale}, texgs preset {BakeConfig().quality} "
          f"({args.steps or BakeConfig().steps} steps) unless a variant says otherwise, "
          f"ASTC quality {args.quality}"
          + (f", map weights {' '.join(args.weight)}" if args.weight else ""), flush=True)
    for folder in sets:
        maps = load_set(folder, args.scale, weights)
        W = max(pm.width for pm, _ in maps)
        H = max(pm.height for pm, _ in maps)
        astc12 = sum(astc_bytes(pm.width, pm.height, (12, 12), 1.0) for pm, _ in maps)
        budgets = {}
        for r in args.rates:
            bpp = astc12 * 8 / (W * H) if r == "astc12" else float(r)
            budgets[r] = bpp
        max_bytes = max(budgets.values()) * W * H / 8
        # every ASTC option a budget could afford, encoded once per map
        options = []
        for i, (pm, u8) in enumerate(maps if not args.no_astc else []):
            opts = []
            for scale in SCALES:
                for block in BLOCKS:
                    if astc_bytes(pm.width, pm.height, block, scale) > max_bytes:
                        continue
                    opts += astc_map_options(u8, pm.name, i, blocks=(block,), scales=(scale,),
                                             quality=args.quality)
            for o in opts:
                o.quality = quality_of(pm, o.decoded)
            options.append(opts)
        for (r, bpp), variant in ((rb, v) for rb in budgets.items() for v in variants):
            cfg = BakeConfig(bpp=bpp, **eval(f"dict({variant})"))  # noqa: S307 (a bench flag)
            if args.steps:
                cfg.steps = args.steps
            res = bake_set([pm for pm, _ in maps], cfg)
            # ASTC's budget: the rate's nominal bytes (for "astc12", exactly ASTC 12x12 on
            # every map), or texgs's file size if that is larger
            budget = max(res.size_bytes, math.floor(bpp * W * H / 8))
            choice = (choose_under_budget(options, budget, lambda o: o.quality["psnr"])
                      if options else None)
            row = {"set": folder.name, "rate": r + (f" [{variant}]" if variant else ""),
                   "bpp": res.bits_per_texel,
                   "texgs_bytes": res.size_bytes, "seconds": res.seconds, "maps": []}
            for i, (pm, _) in enumerate(maps):
                m = res.maps[i]
                entry = {"map": pm.name, "size": f"{pm.width}x{pm.height}",
                         "texgs": m.quality.as_dict(), "texgs_lod_psnr": m.lod_psnr}
                if choice is not None:
                    o = choice[i]
                    entry["astc"] = {**o.quality, "block": f"{o.block[0]}x{o.block[1]}",
                                     "scale": o.scale, "bytes": o.nbytes}
                row["maps"].append(entry)
            row["astc_bytes"] = sum(o.nbytes for o in choice) if choice else None
            rows.append(row)
            print_row(row, flush=True)
            if args.separate:
                texels = sum(pm.width * pm.height for pm, _ in maps)
                sep_bpp = res.size_bytes * 8 / texels
                srow = {"set": folder.name, "rate": row["rate"] + " [separate]", "bpp": 0.0,
                        "texgs_bytes": 0, "seconds": 0.0, "maps": [], "astc_bytes": None}
                for pm, _ in maps:
                    one = bake_set([pm], BakeConfig(**{**cfg.__dict__, "bpp": sep_bpp}))
                    srow["texgs_bytes"] += one.size_bytes
                    srow["seconds"] += one.seconds
                    srow["maps"].append({"map": pm.name, "size": f"{pm.width}x{pm.height}",
                                         "texgs": one.maps[0].quality.as_dict(),
                                         "texgs_lod_psnr": one.maps[0].lod_psnr})
                srow["bpp"] = srow["texgs_bytes"] * 8 / (W * H)
                rows.append(srow)
                print_row(srow, flush=True)
    print_summary(rows)
    print(f"# total {time.time() - t_start:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


def print_row(row: dict, flush: bool = False) -> None:
    print(f"\n{row['set']} @ {row['rate']} ({row['bpp']:.3f} bpp of set): texgs "
          f"{row['texgs_bytes']:,} B in {row['seconds']:.0f} s, ASTC "
          f"{row['astc_bytes'] or 0:,} B")
    print(f"  {'map':10s} {'size':>9s}  {'texgs dB':>8s} {'ASTC dB':>8s}  {'ASTC choice':14s}"
          f" {'texgs ang':>10s} {'ASTC ang':>10s}")
    for e in row["maps"]:
        t, a = e["texgs"], e.get("astc", {})
        ang = lambda q: (f"{q['angular_mean_deg']:.2f}/{q['angular_p99_deg']:.1f}"  # noqa
                         if "angular_mean_deg" in q else "")
        choice = f"{a['block']}@{a['scale']:g}" if a else "-"
        print(f"  {e['map']:10s} {e['size']:>9s}  {t['psnr']:8.2f} "
              f"{a.get('psnr', float('nan')):8.2f}  {choice:14s} {ang(t):>10s} {ang(a):>10s}")
    tm = np.mean([e["texgs"]["psnr"] for e in row["maps"]])
    if all("astc" in e for e in row["maps"]):
        am = np.mean([e["astc"]["psnr"] for e in row["maps"]])
        print(f"  mean map PSNR: texgs {tm:.2f} dB, ASTC {am:.2f} dB, difference {tm - am:+.2f}")
    else:
        print(f"  mean map PSNR: texgs {tm:.2f} dB (no ASTC: not run, or nothing fits)")
    sys.stdout.flush()


def print_summary(rows: list[dict]) -> None:
    print("\n# summary: mean over sets of (texgs - ASTC) mean-map PSNR and normal angle")
    for r in sorted({row["rate"] for row in rows}, key=str):
        sel = [row for row in rows if row["rate"] == r and row["astc_bytes"]]
        if not sel:
            print(f"  {r}: ASTC cannot fit the budget on any set")
            continue
        d = [np.mean([e["texgs"]["psnr"] for e in row["maps"]]) -
             np.mean([e["astc"]["psnr"] for e in row["maps"]]) for row in sel]
        tn = [e["texgs"]["angular_mean_deg"] for row in sel for e in row["maps"]
              if "angular_mean_deg" in e["texgs"]]
        an = [e["astc"]["angular_mean_deg"] for row in sel for e in row["maps"]
              if "angular_mean_deg" in e["astc"]]
        print(f"  rate {r}: PSNR difference {np.mean(d):+.2f} dB (per set: "
              f"{', '.join(f'{v:+.2f}' for v in d)}); normal angle texgs {np.mean(tn):.2f} deg"
              f" vs ASTC {np.mean(an):.2f} deg")


if __name__ == "__main__":
    sys.exit(main())
