"""Rate control (issue 9, item 4), one run:

1. ``--bpp`` accuracy over every texture and set of ../shared/textures at 0.5, 1 and 2 bits
   per texel: the file size the budget plans (``plan_budget`` for the real channel layout
   of each input, written by ``format.write_asset``; no fit, so it is exact and quick),
   against ``R W H / 8``. Prints the largest shortfall.
2. ``--psnr`` and ``--match`` searches on centre crops of a few shared textures: tries,
   budgets, PSNR reached, and a check bake at 90 % of the chosen budget.

    python bench/bench_rate.py [--crop 256] [--quality fast] [--targets 38,42]
                               [--match astc-10x10,astc-8x8] [--names A,B] [--skip-search]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from texgs import format as fmt  # noqa: E402
from texgs.bake.config import BakeConfig, plan_budget  # noqa: E402
from texgs.material import MapSource, discover_maps, prepare_map, prepare_set  # noqa: E402

SHARED = ROOT.parent / "shared" / "textures"
NAMES = ["canyon_water", "stk_generic_Stucco_a", "stktex_generic_WoodF"]


def planned_size(maps, cfg: BakeConfig) -> tuple[int, int, int]:
    """(W, H, bytes of the asset the budget plans), laid out as bake_set lays it out."""
    from texgs.bake.rate import _layout_bits

    bits = _layout_bits(maps, cfg)
    W = max(m.width for m in maps)
    H = max(m.height for m in maps)
    counts = plan_budget(W, H, bits, cfg, n_maps=len(maps))
    chans, table = [], []
    for m in maps:
        table.append(fmt.MapInfo(m.kind, m.width, m.height, len(chans), len(m.channels),
                                 m.flags))
        for comp, ch in enumerate(m.channels):
            b = bits[len(chans)]
            chans.append(fmt.ChannelInfo(m.kind, comp, ch.encoding, b,
                                         ch.lo if not b else 0.0, ch.hi if not b else 1.0,
                                         ch.fallback if not b else 0.0))
    asset = fmt.Asset(width=W, height=H, channels=chans,
                      layout=fmt.RecordLayout(cfg.pos_bits, cfg.scale_bits, cfg.rot_bits, bits),
                      log2_scale_min=-1.5, log2_scale_max=3.0,
                      fields=np.zeros((sum(counts), 5 + len(bits)), np.uint32),
                      lod_counts=counts, maps=table)
    return W, H, len(fmt.write_asset(asset))


def bpp_accuracy() -> None:
    inputs = [[MapSource(fmt.MAP_BASECOLOR, str(p))] for p in sorted((SHARED / "single").glob("*.png"))]
    inputs += [discover_maps(d) for d in sorted((SHARED / "sets").iterdir()) if d.is_dir()]
    worst = (0.0, "")
    print("--bpp accuracy (planned file size vs R W H / 8; no fit)")
    for sources in inputs:
        maps = prepare_set(sources)
        name = Path(sources[0].path).parent.name if len(sources) > 1 else Path(sources[0].path).stem
        row = []
        for r in (0.5, 1.0, 2.0):
            W, H, size = planned_size(maps, BakeConfig(bpp=r))
            dev = 1 - size * 8 / (r * W * H)
            assert dev >= 0
            row.append(f"{100 * dev:.4f} %")
            worst = max(worst, (dev, f"{name} at {r}"))
        print(f"  {name:32s} {W}x{H}  " + "  ".join(row))
    print(f"  largest shortfall: {100 * worst[0]:.4f} % ({worst[1]})")


def crop(path: Path, size: int) -> np.ndarray:
    im = Image.open(path).convert("RGB")
    w, h = im.size
    x, y = (w - size) // 2, (h - size) // 2
    return np.asarray(im.crop((x, y, x + size, y + size)), np.float32) / 255.0


def search(args) -> None:
    from texgs.bake import rate
    from texgs.bake.fit import bake_set

    targets = [float(t) for t in args.targets.split(",") if t]
    matches = [m for m in args.match.split(",") if m]
    print(f"\nsearches on {args.crop}x{args.crop} centre crops, --quality {args.quality}")
    print(f"  {'texture':22s} {'goal':24s} {'tries (bits/texel -> dB)':58s} {'chosen':>7s} "
          f"{'dB':>6s} {'0.9x dB':>7s} {'s':>5s}")
    for name in args.names.split(","):
        img = crop(SHARED / "single" / f"{name}.png", args.crop)
        maps = [prepare_map(MapSource(fmt.MAP_BASECOLOR, name), img, hdr=False)]
        cfg = BakeConfig(quality=args.quality)
        goals = [("psnr", t) for t in targets] + [("match", m) for m in matches]
        for kind, goal in goals:
            t0 = time.perf_counter()
            if kind == "psnr":
                res = rate.bake_to_psnr(maps, cfg, goal)
                label = f"--psnr {goal:g}"
            else:
                res = rate.bake_to_match(maps, cfg, goal)
                label = (f"--match {goal} ({res.match.bits_per_texel:.2f}, "
                         f"{res.match.psnr:.2f})")
            r = res.result
            check = bake_set(maps, BakeConfig(quality=args.quality, bpp=0.9 * r.bits_per_texel))
            tries = ", ".join(f"{t.bits_per_texel:.2f}->{t.psnr:.2f}" for t in res.tries)
            print(f"  {name:22s} {label:24s} {tries:58s} {r.bits_per_texel:7.3f} "
                  f"{r.psnr:6.2f} {check.psnr:7.2f} {time.perf_counter() - t0:5.0f}",
                  flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--crop", type=int, default=256)
    ap.add_argument("--quality", default="fast")
    ap.add_argument("--targets", default="38,42")
    ap.add_argument("--match", default="astc-10x10,astc-8x8")
    ap.add_argument("--names", default=",".join(NAMES))
    ap.add_argument("--skip-search", action="store_true")
    args = ap.parse_args()
    bpp_accuracy()
    if not args.skip_search:
        search(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
