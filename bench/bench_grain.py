"""Where texgs loses to ASTC: texel-level grain, and what a per-texel detail layer would buy.

For every texture of ../shared/textures/single (RGB) and every rate of --rates, texgs bakes
the texture (default preset, as ``texgs eval`` does; ``--bake-cache DIR`` shares that
command's cache, so the bakes of an eval run are reused) and ASTC 12x12 / 10x10 / 8x8 / 6x6
(exhaustive) compress it. For each texgs decode the script measures:

- ``grain``: the share of texgs's squared error at wavelengths of about 4 texels and less
  (the residual minus its Gaussian blur with sigma 1 texel);
- ``+detail``: an estimate of a detail layer on top of the decode, the kind of per-texel data
  block formats carry: each 4x4 block stores an 8-bit index into a 256-entry codebook of
  luminance patterns (k-means on this texture's own residual, stored at 8 bits a value) and
  a 4-bit gain. It costs 0.75 bpp plus the codebook. It is an optimistic estimate (the
  codebook is trained on the image it codes; no format or decoder implements it), compared
  with texgs and ASTC interpolated to the same bits (linear in PSNR over log2 of the rate,
  between the measured points).

The summary gives the means, and the mean change the detail layer makes at equal bits.

    python bench/bench_grain.py [--rates 0.5 1 2 4] [--only NAME] [--bake-cache DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from texgs.eval import baselines  # noqa: E402
from texgs.eval.metrics import psnr  # noqa: E402
from texgs.eval.report import EvalConfig, _bake_texgs, is_normal_map, load_rgb8  # noqa: E402

SHARED = ROOT.parent / "shared" / "textures" / "single"
ASTC = [(12, 12), (10, 10), (8, 8), (6, 6)]
LUMA = np.ones(3) / np.sqrt(3.0)
LOSSLESS_DB = 100.0  # ASTC points at or above this (the flag at 6x6) are left out


def grain_share(ref: np.ndarray, dec: np.ndarray, sigma: float = 1.0) -> float:
    """Share of the squared error in the residual's fine part.

    ref, dec: [H, W, 3] float in 0..255. The fine part is the residual minus its Gaussian blur
    (``sigma`` texels, wrap-around edges)."""
    from scipy.ndimage import gaussian_filter

    res = ref - dec
    fine = res - gaussian_filter(res, (sigma, sigma, 0), mode="wrap")
    total = float(np.mean(res ** 2))
    return float(np.mean(fine ** 2)) / total if total > 0 else 0.0


def detail_layer(ref: np.ndarray, dec: np.ndarray, block: int = 4, codes: int = 256,
                 gain_bits: int = 4) -> tuple[np.ndarray, float]:
    """The decode plus a vector-quantized luminance detail layer (see the module docstring).

    ref, dec: [H, W, 3] float in 0..255. Returns (the new 8-bit decode as float, its extra
    bits per texel: indices, gains and the 8-bit codebook). Texels outside whole blocks keep
    the decode."""
    import warnings

    from scipy.cluster.vq import kmeans2

    h, w, _ = ref.shape
    hb, wb = h // block, w // block
    res = (ref - dec)[:hb * block, :wb * block]
    blocks = res.reshape(hb, block, wb, block, 3).transpose(0, 2, 1, 3, 4)
    lum = blocks.reshape(hb * wb, block * block, 3) @ LUMA          # [n, block^2]
    rms = np.sqrt((lum ** 2).mean(1)) + 1e-6
    with warnings.catch_warnings():  # flat textures leave clusters empty; harmless here
        warnings.simplefilter("ignore")
        book, label = kmeans2(lum / rms[:, None], codes, minit="++", iter=20, seed=0)
    book = np.round(np.clip(book, -4, 4) * 32) / 32                 # 8-bit values
    pat = book[label]
    gain = np.maximum((lum * pat).sum(1) / np.maximum((pat * pat).sum(1), 1e-9), 0.0)
    top = float(np.percentile(gain, 99.5)) or 1.0
    levels = 2 ** gain_bits - 1
    gain = np.round(np.clip(gain / top, 0, 1) * levels) / levels * top
    add = (gain[:, None] * pat)[:, :, None] * LUMA                  # [n, block^2, 3]
    add = add.reshape(hb, wb, block, block, 3).transpose(0, 2, 1, 3, 4)
    out = dec.copy()
    out[:hb * block, :wb * block] += add.reshape(hb * block, wb * block, 3)
    bits = hb * wb * (np.log2(codes) + gain_bits) + codes * block * block * 8 + 32
    return np.clip(np.round(out), 0, 255), bits / (h * w)


def at_rate(points: list[tuple[float, float]], bpp: float) -> float | None:
    """PSNR at ``bpp`` on a curve of (bpp, PSNR) points, linear over log2(bpp); None outside
    the measured range."""
    rates, psnrs = zip(*sorted(points))
    if not rates[0] <= bpp <= rates[-1]:
        return None
    return float(np.interp(np.log2(bpp), np.log2(rates), psnrs))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", type=float, nargs="+", default=[0.5, 1.0, 2.0, 4.0])
    ap.add_argument("--only", default=None, help="textures whose name contains this")
    ap.add_argument("--bake-cache", type=Path, default=None,
                    help="texgs eval's bake cache: bakes found there are reused, new ones "
                         "stored")
    args = ap.parse_args()
    files = sorted(SHARED.glob("*.png"))
    if args.only:
        files = [f for f in files if args.only in f.name]
    cfg = EvalConfig(bake_cache=str(args.bake_cache) if args.bake_cache else None)
    print(f"# bench_grain: texgs (default preset, {cfg.steps} steps) against ASTC exhaustive; "
          f"PSNR dB on 8-bit RGB; grain = share of texgs's squared error at wavelengths under "
          f"about 4 texels; +detail = texgs plus a 4x4 "
          f"VQ luminance layer (bpp added), then texgs / ASTC at the same bits")
    rows = []
    t_start = time.perf_counter()
    for f in files:
        rgb8 = load_rgb8(f)
        ref = rgb8.astype(np.float64)
        normal = is_normal_map(f)
        astc = []
        for block in ASTC:
            r = baselines.astc(rgb8, block, 100.0, threads=2)
            q = psnr(rgb8 / 255.0, r.decoded)
            if q < LOSSLESS_DB:  # a lossless point has no meaningful PSNR to interpolate
                astc.append((r.bits_per_texel, q))
        ours = []
        decs = {}
        with tempfile.TemporaryDirectory() as tmp:
            for rate in args.rates:
                dec, size, _ = _bake_texgs(rgb8, normal, rate, cfg, Path(tmp))
                dec255 = np.round(dec * 255.0)
                bpp = size * 8.0 / (rgb8.shape[0] * rgb8.shape[1])
                ours.append((bpp, psnr(ref / 255.0, dec255 / 255.0)))
                decs[rate] = dec255
        for (bpp, q), rate in zip(ours, args.rates):
            share = grain_share(ref, decs[rate])
            det, extra = detail_layer(ref, decs[rate])
            q_det = psnr(ref / 255.0, det / 255.0)
            total = bpp + extra
            row = {"texture": f.stem, "rate": rate, "psnr": q, "grain": share, "detail_bpp": total, "detail_psnr": q_det,
                   "texgs_same": at_rate(ours, total), "astc_same": at_rate(astc, total)}
            rows.append(row)
            same = " ".join(
                f"{k} {row[v]:.2f}" if row[v] is not None else f"{k} -"
                for k, v in (("texgs", "texgs_same"), ("ASTC", "astc_same")))
            print(f"{f.stem[:26]:26s} {rate:4g} bpp: texgs {q:6.2f}  grain {share:5.1%} "
                  f"| +detail {total:.2f} bpp {q_det:6.2f}, at those "
                  f"bits {same}", flush=True)
        print(f"{'':26s} ASTC: " + ", ".join(f"{b:.2f} bpp {q:.2f}" for b, q in astc),
              flush=True)
    print("\nmeans")
    for rate in args.rates:
        rs = [r for r in rows if r["rate"] == rate]
        print(f"  texgs {rate:g} bpp: {np.mean([r['psnr'] for r in rs]):.2f} dB, grain share "
              f"{np.mean([r['grain'] for r in rs]):.1%}")
        both = [r for r in rs if r["texgs_same"] is not None]
        if both:
            d = [r["detail_psnr"] - r["texgs_same"] for r in both]
            print(f"    +detail layer vs texgs at the same bits: {np.mean(d):+.2f} dB mean "
                  f"({min(d):+.2f} to {max(d):+.2f}) over {len(both)} textures")
        withastc = [r for r in rs if r["astc_same"] is not None]
        if withastc:
            d = [r["detail_psnr"] - r["astc_same"] for r in withastc]
            print(f"    +detail layer vs ASTC at the same bits: {np.mean(d):+.2f} dB mean "
                  f"over {len(withastc)} textures")
    print(f"# total {time.perf_counter() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
