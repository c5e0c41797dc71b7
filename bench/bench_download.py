"""Download size (issue 9, item 3): GPU bits per texel of the runtime asset (.tgs) against
download bits per texel of its container (.tgsz), with AVIF and JPEG XL at equal PSNR.

For each texture it bakes texgs (or reuses OUT/NAME.tgs from an earlier run), packs it,
checks the round trip, decodes the asset to 8 bits and measures PSNR over RGB (alpha is
dropped, as in bench/bench_core.py), then finds the smallest AVIF and JPEG XL file whose
PSNR is at least texgs's (binary search over the codec's quality, size and PSNR treated as
monotone in quality).

    python bench/bench_download.py [--bpp 1] [--quality fast] [--out DIR] [NAME ...]

NAMEs are files of ../shared/textures/single without extension (default: canyon_water,
tux_wheel, Pepper_clothes_diff, stktex_generic_WoodF).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from texgs import format as fmt  # noqa: E402
from texgs import package as pk  # noqa: E402
from texgs.decode import decode_texture  # noqa: E402
from texgs.eval.metrics import psnr, to_float  # noqa: E402
from texgs.images import to_uint8  # noqa: E402

SHARED = ROOT.parent / "shared" / "textures" / "single"
DEFAULT = ["canyon_water", "tux_wheel", "Pepper_clothes_diff", "stktex_generic_WoodF"]


def codec_at_psnr(codec: str, rgb: np.ndarray, target: float) -> tuple[float, float]:
    """(bits per texel, PSNR) of the smallest ``codec`` file with PSNR >= ``target``."""
    import imagecodecs as ic

    h, w, _ = rgb.shape
    if codec == "avif":
        lo, hi = 0, 99
        enc = lambda q: bytes(ic.avif_encode(rgb, level=q, speed=6, numthreads=1))
        dec = ic.avif_decode
    else:
        lo, hi = 1, 99
        enc = lambda q: bytes(ic.jpegxl_encode(rgb, level=q, effort=7, numthreads=1))
        dec = ic.jpegxl_decode
    cache: dict[int, tuple[int, float]] = {}

    def measure(q: int) -> tuple[int, float]:
        if q not in cache:
            d = enc(q)
            cache[q] = (len(d), psnr(to_float(rgb), to_float(np.asarray(dec(d))[..., :3])))
        return cache[q]

    if measure(hi)[1] < target:
        n, p = measure(hi)
        return float("nan"), p
    while lo < hi:  # smallest quality reaching the target
        mid = (lo + hi) // 2
        if measure(mid)[1] >= target:
            hi = mid
        else:
            lo = mid + 1
    n, p = measure(lo)
    return n * 8 / (h * w), p


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", default=DEFAULT)
    ap.add_argument("--bpp", type=float, default=1.0)
    ap.add_argument("--quality", default="fast")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "download")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    print(f"{'texture':24s} {'size':>9s} {'GPU bpt':>8s} {'dl bpt':>7s} {'saving':>7s} "
          f"{'PSNR':>6s} {'AVIF bpt':>9s} {'JXL bpt':>8s}")
    for name in args.names:
        src = SHARED / f"{name}.png"
        tgs_path = args.out / f"{name}.tgs"
        if not tgs_path.exists():
            subprocess.run([sys.executable, "-m", "texgs", "bake", str(src), "-o", str(tgs_path),
                            "--bpp", str(args.bpp), "--quality", args.quality, "--quiet"],
                           check=True, cwd=ROOT)
        tgs = tgs_path.read_bytes()
        z = pk.pack_download(tgs)
        assert pk.unpack_download(z) == tgs
        (args.out / f"{name}.tgsz").write_bytes(z)
        asset = fmt.read_asset(tgs)
        texels = asset.width * asset.height
        rgb = np.asarray(Image.open(src).convert("RGB"))
        dec = to_uint8(decode_texture(asset))[..., :3]
        p = psnr(to_float(rgb), to_float(dec))
        avif, _ = codec_at_psnr("avif", rgb, p)
        jxl, _ = codec_at_psnr("jxl", rgb, p)
        g, d = len(tgs) * 8 / texels, len(z) * 8 / texels
        rows.append((g, d))
        print(f"{name:24s} {asset.width}x{asset.height:<4d} {g:8.3f} {d:7.3f} "
              f"{100 * (1 - d / g):6.1f}% {p:6.2f} {avif:9.3f} {jxl:8.3f}", flush=True)
    g = np.mean([r[0] for r in rows])
    d = np.mean([r[1] for r in rows])
    print(f"{'MEAN':24s} {'':9s} {g:8.3f} {d:7.3f} {100 * (1 - d / g):6.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
