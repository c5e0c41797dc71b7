"""Runtime cost and GPU memory (issue 5): what an engine keeps for a texture and what one
texel costs to decode, next to BC7 and to the ASTC rate of equal quality, in one run.

For every texture in ../shared/textures/single (RGB), bake texgs at --bpp (default settings
unless --steps is given; or reuse assets from --assets DIR, named TEXTURE.tgs), then:
- GPU bytes: records (the asset's chunk payload) + tile index (offsets + lists), in bits
  per texel, for index tile sizes 16, 32 and 64, as texgs.runtime.build_gpu_buffers makes
  them by default (pruned lists, Rice-coded) and, for comparison, with the lists as
  fixed-width ids of the fewest bits ("fix%") and as before pruning with 16-bit ids
  ("full16");
- cost: candidates examined per texel (mean, p99) from the tile lists, and an operation
  count per texel for the two ways a runtime decodes: random-access sampling
  (texgs_sample: every candidate of the tile unpacked and its conic rebuilt per texel) and a
  tile-cooperative whole-texture decode (texgs_decode_tiles.comp, texgs_decode_tiles_cs.hlsl,
  texgs_decode_tiles_kernel: a group of 8x8 texels ("blk") unpacks its tile's candidates
  once, keeps those whose box meets the block (docs/RUNTIME.md "Tile-cooperative decode";
  "kept": per texel), with their colours, in shared memory, then each texel pays only the
  offset and q of the kept ones, and the blend reads the colours from shared memory).
  Per-candidate and per-blend costs are counted by hand from the shader code (OPS_*
  below);
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
from texgs import layout  # noqa: E402
from texgs.decode import decode_texture  # noqa: E402
from texgs.eval import baselines  # noqa: E402
from texgs.eval.metrics import psnr  # noqa: E402
from texgs.images import to_uint8  # noqa: E402
from texgs.runtime import build_gpu_buffers, build_tile_index, dequantize  # noqa: E402


def kept_per_block(g, index, block: int) -> np.ndarray:
    """Per block of ``block`` texels (a divisor of ``index.tile``): how many of its tile's
    listed Gaussians the tile decode keeps, those whose padded box meets the block (the
    index rule at the block's size: the block's own unpruned list). int64 [by, bx]."""
    blocks = build_tile_index(g, block)
    r = index.tile // block
    out = np.zeros((blocks.tiles_y, blocks.tiles_x), np.int64)
    for by in range(blocks.tiles_y):
        for bx in range(blocks.tiles_x):
            t = (by // r) * index.tiles_x + bx // r
            out[by, bx] = len(np.intersect1d(index.candidates(t),
                                             blocks.candidates(by * blocks.tiles_x + bx),
                                             assume_unique=True))
    return out

SHARED = ROOT.parent / "shared" / "textures" / "single"
# Operations per candidate in texgs_sample_texel_stats (unfiltered), counted from the GLSL:
# tile-list entry read (~10 for a Rice code: a 32-bit window from two words, the stop bit,
# the remainder, the add; ~6 for a fixed-width id), 5 field extractions (~4 ops each),
# dequantization (~12), conic (2 exp2, cos, sin, ~12), offset and q (~8), cutoff test and insertion compare (~3).
OPS_UNPACK = 10 + 20 + 12 + 16
OPS_RANK = 8 + 3
OPS_PER_CANDIDATE = OPS_UNPACK + OPS_RANK
# The tile decode's cull of one candidate against its block: the box (det, two sqrt, ~10),
# the two axis tests (~12) and, for a kept one, the slot and the shared stores (~5).
OPS_CULL = 27
DECODE_BLOCK = 8  # texgs_decode_tiles.comp's default TEXGS_DECODE_TILE
# Per selected Gaussian: exp and weight (~4), per channel: colour field (~4), dequant (~3),
# multiply-add (1). The tile-cooperative decodes (texgs_decode_tiles.comp, _cs.hlsl, the
# CUDA texgs_decode_tiles_kernel) unpack each candidate's colours once per tile (~7 per
# channel) and a selected one then costs a shared-memory load and the multiply-add per
# channel.
OPS_PER_SELECTED = 4
OPS_PER_SELECTED_CHANNEL = 8
OPS_COLOR_UNPACK = 7
OPS_PER_SELECTED_CHANNEL_CACHED = 2
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
    print(f"texgs at {args.bpp} bpp; GPU bits/texel = records + tile index (pruned lists, "
          "Rice-coded); BC7 = 8.00 bpp")
    print("per tile size: GPU bits/texel, index as % of the records (then with fixed-width "
          "ids of the fewest bits, and before pruning with 16-bit ids), candidates per texel, "
          "ops per texel sampled at random (rand), candidates kept per texel and ops per "
          "texel in a tile-cooperative decode (tile)")
    print(f"{'texture':28s} {'asset':>6s} {'rec':>6s} {'idb':>3s} " +
          " ".join(f"{'t' + str(t):>6s} {'idx%':>5s} {'fix%':>5s} {'full16':>6s} {'cand':>5s} "
                   f"{'rand':>5s} {'kept':>5s} {'tile':>5s}" for t in tiles) +
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
            g = dequantize(asset)
            asset_bpp = path.stat().st_size * 8 / texels
            dec = to_uint8(decode_texture(asset)) / 255.0
            q = psnr(rgb / 255.0, dec)
            row = {"texture": f.stem, "asset_bpp": asset_bpp, "psnr": q, "tiles": {}}
            for t in tiles:
                bufs = build_gpu_buffers(asset, tile=t)
                fixed = build_gpu_buffers(asset, tile=t, coding=layout.INDEX_CODING_FIXED)
                full16 = build_gpu_buffers(asset, tile=t, prune=False,
                                           coding=layout.INDEX_CODING_FIXED,
                                           id_bits=16 if bufs.id_bits <= 16 else 32)
                counts = bufs.index.counts()
                per_texel = bufs.index.counts_per_texel(w, h).ravel()
                mean_c = float(per_texel.mean())
                sel = min(asset.top_k, mean_c)
                nch = asset.channel_count
                blend = sel * (OPS_PER_SELECTED + OPS_PER_SELECTED_CHANNEL * nch)
                # tile decode: every block unpacks and culls its tile's whole list, unpacks the
                # colours of the kept ones, and its texels rank the kept ones
                b = min(DECODE_BLOCK, t)
                kept = kept_per_block(g, bufs.index, b)
                kept_texel = np.repeat(np.repeat(kept, b, 0), b, 1)[:h, :w].ravel()
                list_texel = np.repeat(np.repeat(counts, t, 0), t, 1)  # a block's list length
                list_blocks = list_texel[::b, ::b][:kept.shape[0], :kept.shape[1]]
                unpack = (float(list_blocks.sum()) * (OPS_UNPACK + OPS_CULL)
                          + float(kept.sum()) * OPS_COLOR_UNPACK * nch) / texels
                blend_cached = sel * (OPS_PER_SELECTED + OPS_PER_SELECTED_CHANNEL_CACHED * nch)
                row["tiles"][t] = {
                    "records_bpp": bufs.record_bytes * 8 / texels,
                    "gpu_bpp": bufs.total_bytes * 8 / texels,
                    "index_overhead": bufs.index_bytes / bufs.record_bytes,
                    "fixed_overhead": fixed.index_bytes / fixed.record_bytes,
                    "full16_overhead": full16.index_bytes / full16.record_bytes,
                    "id_bits": bufs.id_bits,
                    "mean_candidates": mean_c,
                    "p99_candidates": float(np.percentile(per_texel, 99)),
                    "ops": mean_c * OPS_PER_CANDIDATE + blend,
                    "mean_kept": float(kept_texel.mean()),
                    "p99_kept": float(np.percentile(kept_texel, 99)),
                    "ops_tile": float(kept_texel.mean()) * OPS_RANK + unpack + blend_cached,
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
            print(f"{f.stem[:28]:28s} {asset_bpp:6.3f} {row['tiles'][16]['records_bpp']:6.3f} "
                  f"{row['tiles'][16]['id_bits']:3d} " +
                  " ".join(f"{row['tiles'][t]['gpu_bpp']:6.3f} "
                           f"{100 * row['tiles'][t]['index_overhead']:5.0f} "
                           f"{100 * row['tiles'][t]['fixed_overhead']:5.0f} "
                           f"{100 * row['tiles'][t]['full16_overhead']:6.0f} "
                           f"{row['tiles'][t]['mean_candidates']:5.1f} "
                           f"{row['tiles'][t]['ops']:5.0f} "
                           f"{row['tiles'][t]['mean_kept']:5.1f} "
                           f"{row['tiles'][t]['ops_tile']:5.0f}" for t in tiles) +
                  f" {q:6.2f} {m:>9s} {mb}", flush=True)
    for t in tiles:
        def mean(key: str, t: int = t) -> float:
            return float(np.mean([r["tiles"][t][key] for r in rows]))
        print(f"tile {t:2d}: mean GPU {mean('gpu_bpp'):.3f} bits/texel, index "
              f"+{100 * mean('index_overhead'):.0f} % of the records (max "
              f"+{100 * max(r['tiles'][t]['index_overhead'] for r in rows):.0f} %; fixed-width "
              f"ids: +{100 * mean('fixed_overhead'):.0f} %; before pruning, 16-bit ids: "
              f"+{100 * mean('full16_overhead'):.0f} %), {mean('mean_candidates'):.1f} "
              f"candidates per texel (p99 {mean('p99_candidates'):.0f}), ~{mean('ops'):.0f} "
              f"ops per texel sampled at random; tile-cooperative decode: "
              f"{mean('mean_kept'):.1f} kept per texel (p99 {mean('p99_kept'):.0f}), "
              f"~{mean('ops_tile'):.0f} ops per texel (max "
              f"{max(r['tiles'][t]['ops_tile'] for r in rows):.0f})")
    matched = [r["astc_match"][1] for r in rows if r["astc_match"]]
    print(f"ASTC rate of equal PSNR: mean {np.mean(matched):.2f} bpp over {len(matched)} of "
          f"{len(rows)} textures (the rest need more than ASTC 4x4's 8 bpp)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
