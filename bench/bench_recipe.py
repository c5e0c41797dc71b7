"""Recipe ablation: bake 256x256 centre crops of four shared textures with settings variants.

The crops are those of ../shared/design/README.md (stktex_generic_WoodF,
Pepper_clothes_diff, stkflag_goldCupVertical_a, stk_generic_brickA), RGB, at 1 bit per texel.
Each variant is a set of BakeConfig overrides; the table shows per-crop and mean PSNR
(8-bit decode) and bake time, all in one run, next to ASTC 12x12 and 10x10 (exhaustive).

    python bench/bench_recipe.py                       # the default variant table
    python bench/bench_recipe.py "top_k=10" "steps=3000"   # your own variants
    python bench/bench_recipe.py --crop single/stk_goatSkull_a_n.png --size 512 "" "lr_pos=1.0"
"""

from __future__ import annotations

import ast
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from texgs.bake import BakeConfig, bake_array  # noqa: E402
from texgs.eval import baselines  # noqa: E402
from texgs.eval.metrics import psnr  # noqa: E402
from texgs.images import channel_infos_for, to_uint8  # noqa: E402

SHARED = ROOT.parent / "shared" / "textures"
CROPS = ["single/stktex_generic_WoodF.png", "single/Pepper_clothes_diff.png",
         "single/stkflag_goldCupVertical_a.png", "sets/stk_generic_brickA/stk_generic_brickA.png"]
DEFAULT_VARIANTS = [
    "",  # the defaults
    "top_k=3", "top_k=10",
    "loss='l1-ssim'",
    "lr_pos=0.5",
    "steps=3000",
]


def parse(variant: str) -> dict:
    """``"a=1,b=(0.3, 0.45)"`` -> {"a": 1, "b": (0.3, 0.45)}: commas inside brackets belong
    to the value."""
    parts, depth, cur = [], 0, ""
    for ch in variant:
        depth += ch in "([{"
        depth -= ch in ")]}"
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    out = {}
    for part in filter(None, (p.strip() for p in parts)):
        key, value = part.split("=", 1)
        out[key.strip()] = ast.literal_eval(value.strip())
    return out


def crops(paths: list[str], size: int) -> list[np.ndarray]:
    """Centre crops size x size (RGB uint8) of textures under ../shared/textures."""
    out = []
    r = size // 2
    for rel in paths:
        img = np.asarray(Image.open(SHARED / rel).convert("RGB"))
        h, w = img.shape[:2]
        out.append(np.ascontiguousarray(img[h // 2 - r:h // 2 + r, w // 2 - r:w // 2 + r]))
    return out


def main() -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("variants", nargs="*", help='BakeConfig overrides, e.g. "top_k=10"')
    ap.add_argument("--crop", action="append", default=None,
                    help="texture under ../shared/textures to crop (repeatable)")
    ap.add_argument("--size", type=int, default=256, help="crop size (texels)")
    args = ap.parse_args()
    variants = args.variants or DEFAULT_VARIANTS
    paths = args.crop or CROPS
    images = crops(paths, args.size)
    names = [Path(c).stem[:14] for c in paths]
    print(f"{'variant':34s} " + " ".join(f"{n:>14s}" for n in names) + f" {'mean':>7s} {'s':>6s}")
    for name, block in (("ASTC 12x12 (0.89 bpp)", (12, 12)), ("ASTC 10x10 (1.28 bpp)", (10, 10))):
        vals = [psnr(i / 255.0, baselines.astc(i, block, 100.0, threads=2).decoded)
                for i in images]
        print(f"{name:34s} " + " ".join(f"{v:14.2f}" for v in vals) +
              f" {np.mean(vals):7.2f}", flush=True)
    for v in variants:
        kw = parse(v)
        t0 = time.perf_counter()
        vals = []
        for img in images:
            target = img.astype(np.float32) / 255.0
            r = bake_array(target, channel_infos_for(3), BakeConfig(**kw))
            vals.append(psnr(target, to_uint8(r.decoded) / 255.0))
        dt = time.perf_counter() - t0
        label = v or "defaults"
        print(f"{label[:34]:34s} " + " ".join(f"{x:14.2f}" for x in vals) +
              f" {np.mean(vals):7.2f} {dt:6.0f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
