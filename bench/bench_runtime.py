"""Runtime cost and GPU memory (issue 5): what an engine keeps for a texture and what one
texel costs to decode, next to BC7 and to the ASTC rate of equal quality, in one run.

For every texture in ../shared/textures/single (RGB), bake texgs at --bpp (default settings
unless --steps is given; or reuse assets from --assets DIR, named TEXTURE.tgs), then:
- GPU bytes: records (the asset's chunk payload) + tile index (offsets + 16-bit ids), in bits
  per texel, for index tile sizes 16, 32 and 64;
- cost: candidates examined per texel (mean, p99) from the reference decoder's tile walk,
  and an operation count per texel from the per-candidate and per-blend costs of
  texgs_sample.glsl (counted by hand, see OPS_* below);
- the smallest ASTC block size (exhaustive preset) whose PSNR reaches texgs's PSNR.

    python bench/bench_runtime.py [--bpp 1.0] [--steps N] [--assets DIR] [--only NAME]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
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
from texgs.runtime import build_gpu_buffers  # noqa: E402

SHARED = ROOT.parent / "shared" / "textures" / "single"
# Operations per candidate in texgs_sample_texel_stats (unfiltered), counted from the GLSL:
# 5 field extractions (~4 ops each), dequantization (~12), conic (2 exp2, cos, sin, ~12),
# offset and q (~8), cutoff test and insertion compare (~3).
OPS_PER_CANDIDATE = 20 + 12 + 16 + 8 + 3
# Per selected Gaussian: exp and weight (~4), per channel: colour field (~4), dequant (~3),
# multiply-add (1).
OPS_PER_SELECTED = 4
OPS_PER_SELECTED_CHANNEL = 8
ASTC_LADDER = [(12, 12), (10, 10), (8, 8), (6, 6), (5, 5), (4, 4)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bpp", type=float, default=1.0)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--assets", type=Path, default=None)
    ap.add_argument("--only", default=None)
    args = ap.parse_args()
    files = sorted(SHARED.glob("*.png"))
    if args.only:
        files = [f for f in files if args.only in f.name]
    tiles = (16, 32, 64)
    print(f"texgs at {args.bpp} bpp; GPU bits/texel = records + tile index (16-bit ids); "
          "BC7 = 8.00 bpp")
    print(f"{'texture':28s} {'asset':>6s} {'rec':>6s} " +
          " ".join(f"{'t' + str(t):>6s} {'idx%':>5s} {'cand':>5s} {'ops':>5s}" for t in tiles) +
          f" {'PSNR':>6s} {'ASTC=':>9s} {'bpp':>5s}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for f in files:
            rgb = np.asarray(Image.open(f).convert("RGB"))
            h, w = rgb.shape[:2]
            texels = w * h
            if args.assets and (args.assets / f"{f.stem}.tgs").exists():
                path = args.assets / f"{f.stem}.tgs"
            else:
                from texgs.bake import BakeConfig, bake_file

                src = Path(tmp) / f"{f.stem}.png"
                Image.fromarray(rgb).save(src)
                path = Path(tmp) / f"{f.stem}.tgs"
                kw = {"steps": args.steps} if args.steps else {}
                bake_file(src, path, BakeConfig(bpp=args.bpp, **kw))
            asset = fmt.read_asset_file(path)
            asset_bpp = path.stat().st_size * 8 / texels
            dec = to_uint8(decode_texture(asset)) / 255.0
            q = psnr(rgb / 255.0, dec)
            row = {"texture": f.stem, "asset_bpp": asset_bpp, "psnr": q, "tiles": {}}
            for t in tiles:
                bufs = build_gpu_buffers(asset, tile=t)
                counts = bufs.index.counts()
                # candidates per texel: every texel of a tile walks the tile's list
                per_texel = np.repeat(np.repeat(counts, t, 0), t, 1)[:h, :w].ravel()
                mean_c = float(per_texel.mean())
                sel = min(asset.top_k, mean_c)
                ops = mean_c * OPS_PER_CANDIDATE + sel * (
                    OPS_PER_SELECTED + OPS_PER_SELECTED_CHANNEL * asset.channel_count)
                row["tiles"][t] = {
                    "records_bpp": bufs.record_bytes * 8 / texels,
                    "gpu_bpp": bufs.total_bytes * 8 / texels,
                    "index_overhead": bufs.index_bytes / bufs.record_bytes,
                    "mean_candidates": mean_c,
                    "p99_candidates": float(np.percentile(per_texel, 99)),
                    "ops": ops,
                }
            match = None
            for block in ASTC_LADDER:
                r = baselines.astc(rgb, block, 100.0, threads=2)
                if psnr(rgb / 255.0, r.decoded) >= q:
                    match = (block, r.bits_per_texel)
                    break
            row["astc_match"] = match
            rows.append(row)
            m = f"{match[0][0]}x{match[0][1]}" if match else ">4x4"
            mb = f"{match[1]:5.2f}" if match else "  -  "
            print(f"{f.stem[:28]:28s} {asset_bpp:6.3f} {row['tiles'][16]['records_bpp']:6.3f} " +
                  " ".join(f"{row['tiles'][t]['gpu_bpp']:6.3f} "
                           f"{100 * row['tiles'][t]['index_overhead']:5.0f} "
                           f"{row['tiles'][t]['mean_candidates']:5.1f} "
                           f"{row['tiles'][t]['ops']:5.0f}" for t in tiles) +
                  f" {q:6.2f} {m:>9s} {mb}", flush=True)
    for t in tiles:
        gpu = np.mean([r["tiles"][t]["gpu_bpp"] for r in rows])
        ovh = np.mean([r["tiles"][t]["index_overhead"] for r in rows])
        cand = np.mean([r["tiles"][t]["mean_candidates"] for r in rows])
        p99 = np.mean([r["tiles"][t]["p99_candidates"] for r in rows])
        ops = np.mean([r["tiles"][t]["ops"] for r in rows])
        print(f"tile {t:2d}: mean GPU {gpu:.3f} bits/texel, index +{100 * ovh:.0f} % of the "
              f"records, {cand:.1f} candidates per texel (p99 {p99:.0f}), ~{ops:.0f} ops per "
              "texel")
    matched = [r["astc_match"][1] for r in rows if r["astc_match"]]
    print(f"ASTC rate of equal PSNR: mean {np.mean(matched):.2f} bpp over {len(matched)} of "
          f"{len(rows)} textures (the rest need more than ASTC 4x4's 8 bpp)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
