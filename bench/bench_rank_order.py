"""How much the order of a block's candidates could save the CUDA tile kernel's ranking, from
a model, no GPU: on a synthesized 1 bpp bake (bench_cuda_decode.synth_asset) with 8-texel
index tiles, for sampled 8x8 texel blocks, each texel's top-K insertion is replayed in a
given candidate order, and per warp (32 texels: four rows of the block) the candidates at
which any lane inserts are counted: a warp runs the insertion's compare-exchanges (about 30
instructions, docs/results/cuda_sass.txt) for those and skips them only where all 32 lanes
reject. Orders: the list's (ascending ids), random (what the kernel's atomic appends give),
and sorted by q at the block's centre (what a per-block sort before ranking would give).

    python bench/bench_rank_order.py [--size 2048] [--blocks 400] [--seed 0] [--quarters]

Prints one line per order: candidates per warp, warp-level insertions, candidates with
q < 9 at some lane (those cost q and the compare however ordered). --quarters adds what a
warp's loop would walk were each half-warp (a 4x4 quarter of its 8x4 texels) to rank only
the pruned list of its own 4-texel tile, which the 8-texel list contains (the longer of
the two, for the same sampled blocks), beside the 8-texel list: the work an index carrying
per-quarter marks on its entries could save the tile kernel.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_cuda_decode as bench  # noqa: E402

from texgs import layout as L  # noqa: E402
from texgs.runtime import CUTOFF_Q, build_gpu_buffers, expand_records  # noqa: E402


def warp_insertions(q: np.ndarray, k: int) -> tuple[int, int]:
    """q: float [64 texels, n candidates] in ranking order -> (candidates at which some lane
    of a warp inserts, candidates with q < cutoff at some lane), summed over the two warps."""
    ins = np.zeros(q.shape, bool)
    for t in range(q.shape[0]):
        best: list[float] = []
        for j, v in enumerate(q[t]):
            if v < CUTOFF_Q and (len(best) < k or v < best[-1]):
                ins[t, j] = True
                best = sorted(best + [v])[:k]
    warps = [slice(0, 32), slice(32, 64)]
    return (sum(int(ins[w].any(axis=0).sum()) for w in warps),
            sum(int((q[w] < CUTOFF_Q).any(axis=0).sum()) for w in warps))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench_rank_order", description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--blocks", type=int, default=400)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quarters", action="store_true",
                    help="also the loop trips with per-quarter lists (builds a 4-texel index)")
    args = ap.parse_args(argv)
    asset = bench.synth_asset(args.size, args.size, seed=args.seed)
    bufs = build_gpu_buffers(asset, tile=8, coding=L.INDEX_CODING_FIXED)
    geo, _ = expand_records(asset)
    rng = np.random.default_rng(args.seed + 1)
    idx = bufs.index
    ys, xs = np.mgrid[0:8, 0:8]
    totals = {name: np.zeros(3) for name in ("list", "random", "sorted")}
    blocks = rng.choice(idx.offsets.size - 1, min(args.blocks, idx.offsets.size - 1),
                        replace=False)
    for blk in blocks:
        tx, ty = blk % idx.tiles_x, blk // idx.tiles_x
        g = geo[idx.candidates(blk)].astype(np.float64)
        px, py = tx * 8 + xs.ravel() + 0.5, ty * 8 + ys.ravel() + 0.5

        def qat(x, y):
            dx, dy = x - g[:, 0], y - g[:, 1]
            return g[:, 2] * dx * dx + 2 * g[:, 3] * dx * dy + g[:, 4] * dy * dy

        q = np.stack([qat(x, y) for x, y in zip(px, py)])
        orders = {"list": np.arange(len(g)), "random": rng.permutation(len(g)),
                  "sorted": np.argsort(qat(tx * 8 + 4.0, ty * 8 + 4.0), kind="stable")}
        for name, order in orders.items():
            ins, reach = warp_insertions(q[:, order], asset.top_k)
            totals[name] += (2 * len(g), ins, reach)
    n = 2 * len(blocks)
    print(f"{args.size}^2 synthesized, K {asset.top_k}, 8-texel index, {len(blocks)} blocks of "
          "8x8 (two warps each); per warp:")
    print(f"{'order':<8} {'candidates':>10} {'insertions':>10} {'q<9 somewhere':>14}")
    for name, (c, ins, reach) in totals.items():
        print(f"{name:<8} {c / n:>10.2f} {ins / n:>10.2f} {reach / n:>14.2f}")
    if args.quarters:
        c4 = build_gpu_buffers(asset, tile=4, coding=L.INDEX_CODING_FIXED).index.counts()
        trips = []
        for blk in blocks:
            tx, ty = blk % idx.tiles_x, blk // idx.tiles_x
            for w in range(2):  # warp w: rows 4w .. 4w + 3, quarters (2tx, 2ty + w), (2tx + 1, .)
                trips.append(max(c4[2 * ty + w, 2 * tx], c4[2 * ty + w, 2 * tx + 1]))
        print(f"quarter lists (4-texel index, pruned): a warp's loop walks {np.mean(trips):.2f} "
              f"(the longer of its two half-warps' lists) against {totals['list'][0] / n:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
