"""Whole-texture decode in the engine shaders, per-texel against tile-cooperative, executed
here on Mesa's CPU drivers (GLSL on llvmpipe through moderngl, HLSL as SPIR-V on lavapipe
through wgpu), in one run.

Both compute paths decode every texel of an asset at its own size with the same tile index
(default settings: 32-texel tiles, pruned Rice-coded lists; the tile path in 8x8 blocks)
and give the same bits (tests/test_shaders_*.py); this measures their wall time. These drivers run the shaders on this machine's CPU, so only
the ratio between the two paths says something about a GPU: the work each avoids (unpacking
every candidate per texel) is the same arithmetic there. Times are the minimum of
``--repeats`` runs after one warm-up, buffer upload and read-back included.

The per-texel path runs twice: as shipped, with the reach test (docs/RUNTIME.md "Sampling a
point": a candidate beyond the cutoff whatever its angle is skipped before its conic is
rebuilt), and built with TEXGS_REACH_TEST 0 (every conic rebuilt), with the conics rebuilt
per texel counted for each (TEXGS_STATS_REACHED). All three decodes must give the same bits.

    python bench/bench_shader_decode.py [--asset A.tgs B.tgs ...] [--repeats 3]

Without --asset it bakes the 512x512 centre crop of
../shared/textures/single/stktex_generic_WoodF.png at 1 bpp (`fast` preset).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from texgs import format as fmt  # noqa: E402

WOOD = ROOT.parent / "shared" / "textures" / "single" / "stktex_generic_WoodF.png"


def default_asset() -> tuple[str, fmt.Asset]:
    from PIL import Image

    from texgs.bake import BakeConfig, bake_array
    from texgs.images import channel_infos_for

    img = np.asarray(Image.open(WOOD).convert("RGB"), np.float32) / 255.0
    h, w = img.shape[:2]
    crop = np.ascontiguousarray(img[h // 2 - 256:h // 2 + 256, w // 2 - 256:w // 2 + 256])
    res = bake_array(crop, channel_infos_for(3), BakeConfig(bpp=1.0, quality="fast"))
    return "WoodF 512 crop, 1 bpp", res.asset


def best_ms(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return min(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--asset", type=Path, nargs="*", default=None)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    cases = ([(p.name, fmt.read_asset_file(p)) for p in args.asset] if args.asset
             else [default_asset()])
    runners = []
    try:
        from texgs.glsl_runner import GlslDecoder
        runners.append(("GLSL llvmpipe", GlslDecoder))
    except Exception as e:  # noqa: BLE001 - report and go on with what runs
        print(f"GLSL runner unavailable: {e}")
    try:
        from texgs.hlsl_runner import HlslDecoder
        runners.append(("HLSL lavapipe", HlslDecoder))
    except Exception as e:  # noqa: BLE001
        print(f"HLSL runner unavailable: {e}")
    print(f"{'asset':28s} {'size':>9s} {'cand/texel':>10s} {'conics':>6s} {'(no test)':>9s} "
          f"{'runtime':14s} {'per-texel ms':>12s} {'no test ms':>10s} {'gain':>6s} "
          f"{'tiles ms':>9s} {'tiles vs per-texel':>18s} {'same bits':>9s}")
    for name, asset in cases:
        for label, cls in runners:
            try:
                dec, off = cls(), cls(defines={"TEXGS_REACH_TEST": 0})
                stats = cls(defines={"TEXGS_STATS_REACHED": 1})
                stats_off = cls(defines={"TEXGS_STATS_REACHED": 1, "TEXGS_REACH_TEST": 0})
            except Exception as e:  # noqa: BLE001 - no driver for this runtime here
                print(f"{label}: unavailable: {e}")
                continue
            a, cand = dec.decode_compute(asset)
            b = off.decode_compute(asset)[0]
            c = dec.decode_tiles(asset)[0]
            built = stats.decode_compute(asset)[1]
            built_off = stats_off.decode_compute(asset)[1]
            ms_a = best_ms(lambda: dec.decode_compute(asset), args.repeats)
            ms_off = best_ms(lambda: off.decode_compute(asset), args.repeats)
            ms_t = best_ms(lambda: dec.decode_tiles(asset), args.repeats)
            same = np.array_equal(a, b) and np.array_equal(a, c)
            print(f"{name[:28]:28s} {asset.width:4d}x{asset.height:<4d} "
                  f"{cand.mean():10.1f} {built.mean():6.1f} {built_off.mean():9.1f} "
                  f"{label:14s} {ms_a:12.1f} {ms_off:10.1f} {ms_off / ms_a:5.2f}x "
                  f"{ms_t:9.1f} {ms_a / ms_t:17.2f}x {str(same):>9s}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
