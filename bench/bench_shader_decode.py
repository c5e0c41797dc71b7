"""Whole-texture decode in the engine shaders, per-texel against tile-cooperative, executed
here on Mesa's CPU drivers (GLSL on llvmpipe through moderngl, HLSL as SPIR-V on lavapipe
through wgpu), in one run.

Both compute paths decode every texel of an asset at its own size with the same tile index
(default settings: 32-texel tiles, pruned Rice-coded lists; the tile path in 8x8 blocks)
and give the same bits (tests/test_shaders_*.py); this measures their wall time. These drivers run the shaders on this machine's CPU, so only
the ratio between the two paths says something about a GPU: the work each avoids (unpacking
every candidate per texel) is the same arithmetic there. Times are the minimum of
``--repeats`` runs after one warm-up, buffer upload and read-back included.

Builds, in one run, for each runtime and each ``--max-k`` (TEXGS_MAX_K, the K slots the
shaders are compiled with; 16 by default, the asset's K being what engines should use):
the current shaders; the current per-texel path built with TEXGS_REACH_TEST 0 (every conic
rebuilt; docs/RUNTIME.md "Sampling a point"); and with ``--baseline REF`` the
engine_shaders tree of git commit REF. Each row gives its wall times, the conics rebuilt
per texel by its per-texel path (TEXGS_STATS_REACHED, current builds), and whether its
decodes give the same bits as the current per-texel one (they must).

    python bench/bench_shader_decode.py [--asset A.tgs B.tgs ...] [--repeats 3]
        [--max-k 16 5] [--baseline REF]

Without --asset it bakes the 512x512 centre crop of
../shared/textures/single/stktex_generic_WoodF.png at 1 bpp (`fast` preset).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
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


def baseline_tree(ref: str, tmp: Path) -> Path:
    """engine_shaders of git commit ``ref``, extracted under ``tmp``."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "engine_shaders"],
                             capture_output=True, check=True).stdout
    import io
    import tarfile

    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(tmp, filter="data")
    return tmp / "engine_shaders"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--asset", type=Path, nargs="*", default=None)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--max-k", type=int, nargs="+", default=[16])
    ap.add_argument("--baseline", default=None, help="git commit whose engine_shaders to time too")
    args = ap.parse_args()
    cases = ([(p.name, fmt.read_asset_file(p)) for p in args.asset] if args.asset
             else [default_asset()])
    runtimes = []
    try:
        from texgs.glsl_runner import GlslDecoder
        runtimes.append(("GLSL llvmpipe", GlslDecoder))
    except Exception as e:  # noqa: BLE001 - report and go on with what runs
        print(f"GLSL runner unavailable: {e}")
    try:
        from texgs.hlsl_runner import HlslDecoder
        runtimes.append(("HLSL lavapipe", HlslDecoder))
    except Exception as e:  # noqa: BLE001
        print(f"HLSL runner unavailable: {e}")
    with tempfile.TemporaryDirectory() as tmp:
        try:
            base_dir = baseline_tree(args.baseline, Path(tmp)) if args.baseline else None
        except subprocess.CalledProcessError as e:
            msg = e.stderr.decode(errors="replace").strip().splitlines()
            print(f"bench_shader_decode: error: --baseline {args.baseline}: "
                  f"{msg[-1] if msg else 'git archive failed'}", file=sys.stderr)
            return 2
        print(f"{'asset':26s} {'size':>9s} {'cand':>5s} {'runtime':14s} {'MAX_K':>5s} "
              f"{'build':22s} {'conics':>6s} {'per-texel ms':>12s} {'tiles ms':>9s} "
              f"{'same bits':>9s}")
        for name, asset in cases:
            for label, cls in runtimes:
                for mk in args.max_k:
                    try:
                        builds = [("current", cls(max_k=mk), True),
                                  ("current, no reach test",
                                   cls(max_k=mk, defines={"TEXGS_REACH_TEST": 0}), False)]
                        if base_dir is not None:
                            builds.append((f"{args.baseline[:12]}",
                                           cls(max_k=mk, shader_dir=base_dir), True))
                        stats = {b: cls(max_k=mk, defines={"TEXGS_STATS_REACHED": 1, **d})
                                 for b, d in (("current", {}),
                                              ("current, no reach test",
                                               {"TEXGS_REACH_TEST": 0}))}
                    except Exception as e:  # noqa: BLE001 - no driver for this runtime here
                        print(f"{label}: unavailable: {e}")
                        break
                    ref, cand = builds[0][1].decode_compute(asset)
                    for build, dec, tiles in builds:
                        a = dec.decode_compute(asset)[0]
                        same = np.array_equal(a, ref)
                        ms_t = float("nan")
                        if tiles:
                            same = same and np.array_equal(dec.decode_tiles(asset)[0], ref)
                            ms_t = best_ms(lambda: dec.decode_tiles(asset), args.repeats)
                        ms_a = best_ms(lambda: dec.decode_compute(asset), args.repeats)
                        conics = (f"{stats[build].decode_compute(asset)[1].mean():6.1f}"
                                  if build in stats else f"{'-':>6s}")
                        print(f"{name[:26]:26s} {asset.width:4d}x{asset.height:<4d} "
                              f"{cand.mean():5.1f} {label:14s} {mk:5d} {build:22s} {conics} "
                              f"{ms_a:12.1f} {ms_t:9.1f} {str(same):>9s}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
