"""How much the order of a block's candidates could save the CUDA tile kernel's ranking, from
a model, no GPU: on a synthesized 1 bpp bake (bench_cuda_decode.synth_asset) with 8-texel
index tiles, for sampled 8x8 texel blocks, each texel's top-K insertion is replayed in a
given candidate order, and per warp (32 texels: four rows of the block) the candidates at
which any lane inserts are counted: a warp runs the insertion's compare-exchanges (about 30
instructions, docs/results/cuda_sass.txt) for those and skips them only where all 32 lanes
reject. Orders: the list's (ascending ids), random (what the kernel's atomic appends give),
and sorted by q at the block's centre (what a per-block sort before ranking would give).

    python bench/bench_rank_order.py [--size 2048] [--blocks 400] [--seed 0] [--quarters]
        [--rank32] [--asset PATH]

--asset: a texgs asset file (a real bake, `texgs bake`) in place of the synthesized one.

Prints one line per order: candidates per warp, warp-level insertions, candidates with
q < 9 at some lane (those cost q and the compare however ordered). --quarters adds what a
warp's loop would walk were each half-warp (a 4x4 quarter of its 8x4 texels) to rank only
the pruned list of its own 4-texel tile, which the 8-texel list contains (the longer of
the two, for the same sampled blocks), beside the 8-texel list: the work an index carrying
per-quarter marks on its entries could save the tile kernel. --rank32 adds how often the
tile kernel's 32-bit ranking words (texgs_topk32, docs/RUNTIME.md "32-bit ranking words")
hand a texel to the 64-bit ranking: q in float32 with the kernel's operations, the key part
of each (its bits without the low 6, clamped to [0, 9]), and a texel counted where two
adjacent ones of its K + 1 smallest below the cutoff are equal; per texel and per warp (a
warp runs the 64-bit loop where any of its 32 lanes does), over the sampled blocks' texels
inside the texture, and the blocks whose list is longer than one batch (64), which take the
64-bit ranking whole.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_cuda_decode as bench  # noqa: E402

from texgs import format as fmt  # noqa: E402
from texgs import layout as L  # noqa: E402
from texgs.errors import TexgsError  # noqa: E402
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


def rank32_ties(q32: np.ndarray, k: int) -> np.ndarray:
    """q32: float32 [texels, n candidates] -> bool [texels]: whether the texel's 32-bit
    ranking words fail to decide (two adjacent key parts equal among its K + 1 smallest
    below the cutoff; texgs_topk32_decides false)."""
    clamped = np.minimum(q32, np.float32(CUTOFF_Q))  # no NaN here
    part = np.maximum(clamped.view(np.int32), 0) >> 6
    part = np.where(q32 < CUTOFF_Q, part, np.iinfo(np.int32).max)  # refused: after all
    first = np.sort(part, axis=1)[:, :k + 1]
    kept = first < np.iinfo(np.int32).max
    return ((first[:, 1:] == first[:, :-1]) & kept[:, 1:]).any(axis=1)


def kernel_q(g: np.ndarray, px: np.ndarray, py: np.ndarray, w: int, h: int,
             rep_x: bool, rep_y: bool) -> np.ndarray:
    """q of each texel centre (px, py) [texels] and candidate g (expanded records [n, 5]:
    x, y, a, b, c) in float32 with the tile kernel's operations (texgs_slot_dx,
    texgs_slot_q) -> float32 [texels, n]."""
    f = np.float32
    x, y, a, b2, c = (g[:, 0], g[:, 1], g[:, 2], f(2) * g[:, 3], g[:, 4])
    dx = px.astype(f)[:, None] - x
    dy = py.astype(f)[:, None] - y
    if rep_x:
        dx = dx - f(w) * np.floor(dx / f(w) + f(0.5))
    if rep_y:
        dy = dy - f(h) * np.floor(dy / f(h) + f(0.5))
    return (a * dx * dx + b2 * dx * dy + c * dy * dy).astype(f)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench_rank_order", description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--blocks", type=int, default=400)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quarters", action="store_true",
                    help="also the loop trips with per-quarter lists (builds a 4-texel index)")
    ap.add_argument("--asset", type=Path, default=None,
                    help="a texgs asset file instead of the synthesized bake")
    ap.add_argument("--rank32", action="store_true",
                    help="also how often the 32-bit ranking words hand a texel to the 64-bit one")
    args = ap.parse_args(argv)
    if args.asset is not None:
        try:
            asset = fmt.read_asset_file(args.asset)
        except (OSError, TexgsError) as e:
            print(f"bench_rank_order: error: {args.asset}: {e}", file=sys.stderr)
            return 2
        source = f"{args.asset.name} ({asset.width}x{asset.height})"
    else:
        asset = bench.synth_asset(args.size, args.size, seed=args.seed)
        source = f"{args.size}^2 synthesized"
    bufs = build_gpu_buffers(asset, tile=8, coding=L.INDEX_CODING_FIXED)
    geo, _ = expand_records(asset)
    rng = np.random.default_rng(args.seed + 1)
    idx = bufs.index
    ys, xs = np.mgrid[0:8, 0:8]
    totals = {name: np.zeros(3) for name in ("list", "random", "sorted")}
    # --rank32: texels and warps that fall back, blocks over one batch, texels and warps
    # inside the texture
    ties = np.zeros(5, np.int64)
    geo32 = geo.astype(np.float32)
    rep = (asset.address_x == L.ADDRESS_REPEAT, asset.address_y == L.ADDRESS_REPEAT)
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
        if args.rank32:
            inside = (px < asset.width) & (py < asset.height)  # not all of an edge block
            if len(g) > 64:
                ties[2] += 1
            else:
                tied = rank32_ties(kernel_q(geo32[idx.candidates(blk)], px, py, asset.width,
                                            asset.height, *rep), asset.top_k) & inside
                ties[0] += int(tied.sum())
                ties[1] += int(tied[:32].any()) + int(tied[32:].any())
            ties[3] += int(inside.sum())
            ties[4] += int(inside[:32].any()) + int(inside[32:].any())
    n = 2 * len(blocks)
    print(f"{source}, K {asset.top_k}, 8-texel index, {len(blocks)} blocks of "
          "8x8 (two warps each); per warp:")
    print(f"{'order':<8} {'candidates':>10} {'insertions':>10} {'q<9 somewhere':>14}")
    for name, (c, ins, reach) in totals.items():
        print(f"{name:<8} {c / n:>10.2f} {ins / n:>10.2f} {reach / n:>14.2f}")
    if args.rank32:
        print(f"32-bit ranking words: {ties[0]} of {ties[3]} texels "
              f"({ties[0] / max(ties[3], 1):.2e}) and {ties[1]} of {ties[4]} warps "
              f"({ties[1] / max(ties[4], 1):.2e}) ranked again with the 64-bit words; {ties[2]} of "
              f"{len(blocks)} blocks' lists over one batch")
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
