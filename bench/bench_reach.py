"""What the reach test of random-access sampling saves (docs/RUNTIME.md "Sampling a point"),
on real 1 bpp bakes, in one run: per index tile size, the candidates each texel walks, the
conics rebuilt per texel with the test (per texel, and per 2x2 quad and 8x8 wave of texels,
since a GPU wave rebuilds a candidate's conic when any of its lanes needs it), and the
operation count per texel of texgs_sample without and with the test.

The counts come from texgs.runtime.reach_counts / may_reach, the reference of the shaders'
texgs_may_reach (tests check the shaders rebuild those conics); ``--shader`` also
reads the per-texel count back from the GLSL compute decode (TEXGS_STATS_REACHED) at the
default tile and prints at how many texels it differs from NumPy's (the shader's exp2, cos
and sin are not NumPy's, so a candidate at the very edge of the test may fall either way;
each decoder's skip is safe for its own conic). Operation counts are estimates counted by
hand from the shader code, split from bench/bench_runtime.py's OPS_*: every candidate pays
the list entry, the centre and the two scales (fields, dequantization, two exp2), the offset,
d2 and the test (OPS_ALWAYS); a reached one then pays its angle, cos, sin, the conic, q and
the insertion compare (OPS_REACHED). CPU drivers (llvmpipe) run both sides of a branch under
a mask, so they show no time saved (bench/bench_shader_decode.py); a GPU skips a branch no
lane of the wave takes.

    python bench/bench_reach.py --assets DIR [--only NAME] [--shader]

DIR holds TEXTURE.tgs for the textures of ../shared/textures/single (without it, each is
baked at 1 bpp with default settings, which takes minutes per texture).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_runtime import OPS_PER_CANDIDATE, OPS_PER_SELECTED, OPS_PER_SELECTED_CHANNEL  # noqa: E402

from texgs import format as fmt  # noqa: E402
from texgs.layout import REACH_MIN_TILE  # noqa: E402
from texgs.runtime import (build_gpu_buffers, dequantize, inverse_variances,  # noqa: E402
                           may_reach, wrapped_offsets)

SHARED = ROOT.parent / "shared" / "textures" / "single"
# bench_runtime's per-candidate 69 (entry 10, 5 fields 20, dequantization 12, conic 16,
# offset and q 8, compare 3), split by the test: the entry (10), 4 fields (16), their
# dequantization (9), two exp2 (2), the offset (2), d2 (3) and the test (min, max, two
# multiplies, a subtract, the compare: 6) for every candidate; the angle field (4), its
# dequantization (3), cos, sin and the conic (14), q (6) and the compares (3) for a reached one.
OPS_ALWAYS = 10 + 16 + 9 + 2 + 2 + 3 + 6
OPS_REACHED = 4 + 3 + 14 + 6 + 3
OPS_TEST = 3 + 6  # d2 and the test, the only operations the test adds
assert OPS_ALWAYS + OPS_REACHED == OPS_PER_CANDIDATE + OPS_TEST
TILES = (16, 32, 64)
WAVES = (1, 2, 8)  # square groups of texels: one texel, a 2x2 quad, an 8x8 wave


def reach_by_group(asset, tile: int) -> tuple[float, dict[int, float]]:
    """(candidates per texel, {group: conics rebuilt per texel}) at every texel centre of
    ``asset`` with the default runtime index at ``tile``; a group of g x g texels (inside one
    tile; g divides the tile) rebuilds a candidate's conic when any of its texels reaches it."""
    f32 = np.float32
    g = dequantize(asset)
    i1, i2 = inverse_variances(asset)
    index = build_gpu_buffers(asset, tile=tile).index
    w, h = asset.width, asset.height
    walked = 0
    built = {s: 0 for s in WAVES}
    for ty in range(index.tiles_y):
        for tx in range(index.tiles_x):
            cand = index.candidates(ty * index.tiles_x + tx)
            x0, y0 = tx * tile, ty * tile
            tw, th = min(tile, w - x0), min(tile, h - y0)
            walked += cand.shape[0] * tw * th
            if cand.shape[0] == 0:
                continue
            ys, xs = np.mgrid[y0:y0 + th, x0:x0 + tw]
            dx, dy = wrapped_offsets(g, xs.ravel().astype(f32) + f32(0.5),
                                     ys.ravel().astype(f32) + f32(0.5), cand)
            ok = may_reach((dx * dx + dy * dy).astype(f32), i1[cand], i2[cand])
            ok = ok.reshape(th, tw, -1)  # [th, tw, n]
            for s in WAVES:
                gy, gx = -(-th // s), -(-tw // s)
                pad = np.zeros((gy * s, gx * s, cand.shape[0]), bool)
                pad[:th, :tw] = ok
                hit = pad.reshape(gy, s, gx, s, -1).any(axis=(1, 3))  # [gy, gx, n]
                # every texel of a group executes what the group executes
                sizes = np.zeros((gy * s, gx * s), np.int64)
                sizes[:th, :tw] = 1
                members = sizes.reshape(gy, s, gx, s).sum(axis=(1, 3))
                built[s] += int((hit.sum(-1) * members).sum())
    texels = w * h
    return walked / texels, {s: built[s] / texels for s in WAVES}


def reach_map(asset, tile: int) -> np.ndarray:
    """Conics rebuilt at each texel centre (texgs.runtime.reach_counts): int64 [H, W]."""
    from texgs.decode import wrap_points
    from texgs.runtime import reach_counts

    f32 = np.float32
    g = dequantize(asset)
    ys, xs = np.mgrid[0:asset.height, 0:asset.width]
    px, py = wrap_points(g, xs.ravel().astype(f32) + f32(0.5), ys.ravel().astype(f32) + f32(0.5))
    index = build_gpu_buffers(asset, tile=tile).index
    return reach_counts(g, inverse_variances(asset), index, px, py).reshape(asset.height,
                                                                           asset.width)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--assets", type=Path, default=None)
    ap.add_argument("--only", default=None)
    ap.add_argument("--shader", action="store_true",
                    help="also read the conics per texel back from the GLSL decode")
    args = ap.parse_args()
    files = sorted(SHARED.glob("*.png"))
    if args.only:
        files = [f for f in files if args.only in f.name]
    gl = None
    if args.shader:
        from texgs.glsl_runner import GlslDecoder
        gl = GlslDecoder(defines={"TEXGS_STATS_REACHED": 1})
    print("conics rebuilt per texel with the reach test (texel / 2x2 quad / 8x8 wave); ops per "
          "texel of texgs_sample without and with it (8x8 waves), estimated "
          f"({OPS_PER_CANDIDATE} per candidate before; {OPS_ALWAYS} + {OPS_REACHED} per "
          "reached one with the test)")
    print(f"{'texture':28s} {'tile':>4s} {'cand':>6s} {'texel':>6s} {'2x2':>6s} {'8x8':>6s} "
          f"{'ops before':>10s} {'ops with':>9s} {'change':>7s} {'differ':>7s}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for f in files:
            if args.assets and (args.assets / f"{f.stem}.tgs").exists():
                path = args.assets / f"{f.stem}.tgs"
            else:
                from texgs.bake import BakeConfig, bake_file
                path = Path(tmp) / f"{f.stem}.tgs"
                bake_file(f, path, BakeConfig(bpp=1.0))
            asset = fmt.read_asset_file(path)
            sel = asset.top_k
            blend = sel * (OPS_PER_SELECTED + OPS_PER_SELECTED_CHANNEL * asset.channel_count)
            for t in TILES:
                cand, built = reach_by_group(asset, t)
                before = cand * OPS_PER_CANDIDATE + blend
                # the shaders run the test from REACH_MIN_TILE up (estimated here for every
                # tile, so the rule's reason shows; below it the shipped cost is `before`)
                after = cand * OPS_ALWAYS + built[8] * OPS_REACHED + blend
                shader = ""
                if gl is not None and t == 32:
                    got = gl.decode_compute(asset, tile=t)[1].astype(np.int64)
                    want = reach_map(asset, t)
                    shader = f"{int((got != want).sum())}"
                rows.append((t, cand, built, before, after))
                print(f"{f.stem[:28]:28s} {t:4d} {cand:6.1f} {built[1]:6.1f} {built[2]:6.1f} "
                      f"{built[8]:6.1f} {before:10.0f} {after:9.0f} "
                      f"{100 * (after / before - 1):+6.1f}% {shader:>7s}", flush=True)
    for t in TILES:
        r = [x for x in rows if x[0] == t]
        cand = np.mean([x[1] for x in r])
        b1, b2, b8 = (np.mean([x[2][s] for x in r]) for s in WAVES)
        before, after = np.mean([x[3] for x in r]), np.mean([x[4] for x in r])
        rule = "" if t >= REACH_MIN_TILE else " (the shaders leave the test off here)"
        print(f"tile {t:2d}: {cand:.1f} candidates per texel; conics rebuilt per texel "
              f"{b1:.1f} (2x2 quads {b2:.1f}, 8x8 waves {b8:.1f}); ~{before:.0f} -> "
              f"~{after:.0f} ops per texel ({100 * (after / before - 1):+.1f} %){rule}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
