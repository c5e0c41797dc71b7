"""Would a shared colour codebook pay? (issue 9, item 1: an estimate before building it)

For each 1 bpt asset of an eval bake cache (texgs eval --bake-cache, one per texture of
../shared/textures/single), the Gaussians' RGB colours (24 bits each) are replaced by the
nearest of a k-means codebook of 2^B colours (B-bit index per Gaussian, the codebook stored
once at 8 bits per channel), without refitting; the asset is rendered again (the compiled
renderer, the decoder's math) and its PSNR compared with the original's. The bits saved buy
more Gaussians: the estimated gain is the texgs rate-distortion slope (dB per doubling of
the rate, from the same eval run) times log2 of the rate ratio. A codebook pays where the
gain exceeds the loss; a fit with the codebook in the loop would lose less than measured
here, so the loss is an upper bound.

    python bench/vq_colors.py --cache DIR [--results report/results.json] [--bits 6 8 10]
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from texgs import format as fmt  # noqa: E402
from texgs.eval.metrics import psnr  # noqa: E402
from texgs.eval.report import bake_cache_key, is_normal_map, load_rgb8  # noqa: E402
from texgs.images import to_uint8  # noqa: E402
from texgs.runtime import dequantize  # noqa: E402

SHARED = ROOT.parent / "shared" / "textures" / "single"


def kmeans(x: np.ndarray, k: int, iters: int = 25, seed: int = 0) -> np.ndarray:
    """Centroids [k, D] of points x [N, D] (k-means++ start, Lloyd iterations)."""
    rng = np.random.default_rng(seed)
    k = min(k, x.shape[0])
    cent = [x[rng.integers(x.shape[0])]]
    d2 = ((x - cent[0]) ** 2).sum(1)
    for _ in range(1, k):
        p = d2 / d2.sum() if d2.sum() > 0 else None
        cent.append(x[rng.choice(x.shape[0], p=p)])
        d2 = np.minimum(d2, ((x - cent[-1]) ** 2).sum(1))
    c = np.array(cent)
    for _ in range(iters):
        lab = nearest(x, c)
        for j in range(k):
            m = lab == j
            if m.any():
                c[j] = x[m].mean(0)
    return c


def nearest(x: np.ndarray, c: np.ndarray) -> np.ndarray:
    d = (x * x).sum(1)[:, None] - 2 * x @ c.T + (c * c).sum(1)[None]
    return d.argmin(1)


def render(g, asset) -> np.ndarray:
    import torch

    from texgs.bake.render import render as r
    t = [torch.from_numpy(np.ascontiguousarray(a, np.float32)) for a in
         (g.means, g.conics, g.colors, g.fallback)]
    with torch.no_grad():
        img = r(*t, asset.width, asset.height, asset.top_k, asset.tile_size, g.repeat_x,
                g.repeat_y).numpy()
    return to_uint8(img[..., :3]) / 255.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", required=True, help="eval bake cache folder")
    ap.add_argument("--results", help="results.json of the eval run (for the RD slope)")
    ap.add_argument("--bits", type=int, nargs="+", default=[6, 8, 10])
    ap.add_argument("--rate", type=float, default=1.0)
    args = ap.parse_args()
    slope = 2.23  # dB per doubling at 1 to 2 bpt, README eval table (40.59 -> 42.82 dB)
    if args.results:
        import json
        rows = json.loads(Path(args.results).read_text())["measurements"]
        mean = {t: np.mean([m["psnr"] for m in rows if m["codec"] == "texgs" and
                            m["target_bpp"] == t]) for t in (args.rate, 2 * args.rate)}
        slope = float(mean[2 * args.rate] - mean[args.rate])
    print(f"texgs slope: {slope:.2f} dB per doubling of the rate at {args.rate:g} bpt")
    print(f"{'texture':28s} {'N':>6s} {'PSNR':>6s} " +
          " ".join(f"{f'{b}-bit loss':>11s} {'gain':>5s}" for b in args.bits))
    tot = {b: [] for b in args.bits}
    for path in sorted(SHARED.glob("*.png")):
        rgb8 = load_rgb8(path)
        key = bake_cache_key(rgb8, is_normal_map(path), args.rate, 1500, 0)
        f = Path(args.cache) / key
        if not f.exists():
            print(f"{path.stem:28s} (no asset in the cache)")
            continue
        data = f.read_bytes()
        asset = fmt.read_asset(data, str(f))
        if asset.layout.color_bits[:3] != (8, 8, 8) or asset.channel_count != 3:
            print(f"{path.stem:28s} (not an 8-bit RGB asset: skipped)")
            continue
        g = dequantize(asset)
        ref = rgb8 / 255.0
        base = psnr(ref, render(g, asset))
        cells = []
        for b in args.bits:
            cb = kmeans(g.colors.astype(np.float64), 1 << b)
            lo = np.array([c.lo for c in asset.channels[:3]])
            hi = np.array([c.hi for c in asset.channels[:3]])
            cb8 = np.round((cb - lo) / np.maximum(hi - lo, 1e-12) * 255) / 255 * (hi - lo) + lo
            g2 = dequantize(asset)
            g2.colors = cb8[nearest(g.colors.astype(np.float64), cb8)].astype(np.float32)
            loss = base - psnr(ref, render(g2, asset))
            rec = asset.layout.record_bits
            payload = len(data) * 8
            new_rec = rec - 24 + b
            n_new = (payload - (1 << b) * 24) / new_rec
            gain = slope * math.log2(n_new / asset.gaussian_count)
            tot[b].append((loss, gain))
            cells.append(f"{loss:11.2f} {gain:5.2f}")
        print(f"{path.stem:28s} {asset.gaussian_count:6d} {base:6.2f} " + " ".join(cells))
    for b in args.bits:
        if tot[b]:
            loss = np.mean([t[0] for t in tot[b]])
            gain = np.mean([t[1] for t in tot[b]])
            print(f"mean, {b}-bit codebook: loss {loss:.2f} dB (no refit), estimated gain "
                  f"{gain:.2f} dB from {2 ** b} colours x 24 bits stored once")
    return 0


if __name__ == "__main__":
    sys.exit(main())
