"""What the Morton record order buys the download container, in one run, on real bakes.

For every texture of ../shared/textures/single with an asset DIR/NAME.tgs: the runtime asset
(GPU bits per texel), its download container (.tgsz) with the records in the asset's own
order, and the same Gaussians with each LOD chunk in Morton order of their centres (what
the baker writes since session 19: docs/FORMAT.md "Record order"), whose packets take
method 2. Also the tile index an engine builds (default: 32-texel tiles, pruned, Rice-coded)
as a share of the records for both orders, the GPU memory of the Morton-ordered asset
(records plus index, bits per texel), pack and unpack times, and a byte-exact round trip of
every container.

    python bench/bench_pack.py --assets DIR [--level 19]

DIR: assets named after the textures (the 1 bpp bakes of the full evaluation were used for
docs/results/bench_pack_1bpp.txt). Needs the zstandard package (texgs[download]).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from texgs import format as fmt  # noqa: E402
from texgs import package as pk  # noqa: E402
from texgs.record_order import chunk_morton_order  # noqa: E402
from texgs.runtime import build_gpu_buffers  # noqa: E402

SHARED = ROOT.parent / "shared" / "textures" / "single"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--assets", type=Path, required=True)
    ap.add_argument("--level", type=int, default=pk.DEFAULT_LEVEL)
    args = ap.parse_args()
    names = [f.stem for f in sorted(SHARED.glob("*.png"))
             if (args.assets / f"{f.stem}.tgs").exists()]
    if not names:
        print(f"bench_pack: error: no TEXTURE.tgs of ../shared/textures/single in {args.assets}",
              file=sys.stderr)
        return 2
    print(f"{'texture':28s} {'size':>9s} {'.tgs':>6s} {'.tgsz':>6s} {'morton':>6s} "
          f"{'change':>7s} {'saving':>7s} {'index%':>6s} {'morton':>6s} {'GPU':>6s} "
          f"{'pack s':>6s} {'unpack s':>8s} {'exact':>5s}")
    rows = []
    for name in names:
        data = (args.assets / f"{name}.tgs").read_bytes()
        a = fmt.read_asset(data, name)
        texels = a.width * a.height
        sorted_asset = dataclasses.replace(
            a, fields=a.fields[chunk_morton_order(a.fields, a.lod_counts)])
        morton = fmt.write_asset(sorted_asset)
        z_own = pk.pack_download(data, args.level)
        t0 = time.perf_counter()
        z_morton = pk.pack_download(morton, args.level)
        t1 = time.perf_counter()
        back = pk.unpack_download(z_morton)
        t2 = time.perf_counter()
        exact = back == morton and pk.unpack_download(z_own) == data
        methods = {p.method for p in pk.read_download_header(z_morton).packets}
        idx_own = build_gpu_buffers(a)
        idx_morton = build_gpu_buffers(fmt.read_asset(morton))
        r = {"tgs": len(data) * 8 / texels, "own": len(z_own) * 8 / texels,
             "morton": len(z_morton) * 8 / texels,
             "index_own": idx_own.index_bytes / idx_own.record_bytes,
             "index_morton": idx_morton.index_bytes / idx_morton.record_bytes,
             "gpu_morton": idx_morton.total_bytes * 8 / texels}
        rows.append(r)
        print(f"{name[:28]:28s} {a.width:4d}x{a.height:<4d} {r['tgs']:6.3f} {r['own']:6.3f} "
              f"{r['morton']:6.3f} {100 * (r['morton'] / r['own'] - 1):+6.1f}% "
              f"{100 * (1 - r['morton'] / r['tgs']):6.1f}% {100 * r['index_own']:5.1f}% "
              f"{100 * r['index_morton']:5.1f}% {r['gpu_morton']:6.3f} {t1 - t0:6.2f} {t2 - t1:8.3f} "
              f"{str(exact and methods == {pk.METHOD_MORTON_ZSTD}):>5s}", flush=True)
    m = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
    print(f"mean over {len(rows)}: .tgs {m['tgs']:.3f} bits/texel; .tgsz {m['own']:.3f} in the "
          f"assets' own order, {m['morton']:.3f} in Morton order "
          f"({100 * (m['morton'] / m['own'] - 1):+.1f} %; the container saves "
          f"{100 * (1 - m['own'] / m['tgs']):.1f} % -> {100 * (1 - m['morton'] / m['tgs']):.1f} "
          f"% of the runtime asset); tile index +{100 * m['index_own']:.1f} % -> "
          f"+{100 * m['index_morton']:.1f} % of the records (at most "
          f"+{100 * max(r['index_morton'] for r in rows):.1f} %); GPU memory in Morton order "
          f"{m['gpu_morton']:.3f} bits/texel (at most {max(r['gpu_morton'] for r in rows):.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
