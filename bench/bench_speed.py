"""Bake speed: time, PSNR and peak memory of 1 bpp RGB bakes at 512, 1024 and 2048 texels
square, for every --quality preset, on the compiled-kernel path and the PyTorch reference
path (TEXGS_NO_KERNEL=1), in one run.

The texture is ../shared/textures/single/stktex_generic_WoodF.png (1024x1024): its centre
512x512 crop, itself, and a Lanczos 2x upscale for 2048 (no shared texture is 2048 wide; the
upscale is smoother than a real 2048 texture, so its PSNR reads high). Every bake runs in a
child process so its peak memory (getrusage maxrss) is its own.

The reference path is slow: by default it runs only ``--ref-steps`` steps and its time is
extrapolated (fit-loop time per step x the preset's steps + the measured set-up and final
evaluation); such rows are marked ``~`` and show no PSNR.

    python bench/bench_speed.py                                  # the full table
    python bench/bench_speed.py --sizes 512 --presets balanced   # a subset
    python bench/bench_speed.py --paths kernel                   # skip the reference path
    python bench/bench_speed.py --paths kernel two-pass          # one-pass loss vs two passes
    python bench/bench_speed.py --sizes 2048 --presets max --set sparse_fraction=0.65
                                         # BakeConfig settings over the preset, every bake
    python bench/bench_speed.py --image ../shared/textures/single/canyon_water.png \
        --presets max --set 'relocate_at=()' --set sparse_fraction=0.65   # a whole image
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TEXTURE = ROOT.parent / "shared" / "textures" / "single" / "stktex_generic_WoodF.png"
PRESETS = ["fast", "balanced", "max"]
SIZES = [512, 1024, 2048]
PATHS = ["kernel", "reference"]
ALL_PATHS = ["kernel", "two-pass", "reference"]


def texture(size: int, image: str | None = None) -> np.ndarray:
    """float32 [size, size, 3]: centre crop when the texture is larger, Lanczos resize when
    it is smaller; ``image``: that whole image instead (``size`` unused)."""
    if image:
        return np.asarray(Image.open(image).convert("RGB"), np.float32) / 255.0
    img = Image.open(TEXTURE).convert("RGB")
    w, h = img.size
    if w >= size and h >= size:
        x0, y0 = (w - size) // 2, (h - size) // 2
        img = img.crop((x0, y0, x0 + size, y0 + size))
    else:
        img = img.resize((size, size), Image.LANCZOS)
    return np.asarray(img, np.float32) / 255.0


class LoopTimer:
    """A bake progress callback that times the fit loop: progress fires after step 1, every
    10th step and the last, so ``loop_s`` (first to last call) covers total_steps - 1
    steps."""

    def __init__(self) -> None:
        self.first: float | None = None
        self.last: float | None = None

    def __call__(self, p) -> None:
        now = time.perf_counter()
        if self.first is None:
            self.first = now
        if p.step == p.total_steps:
            self.last = now

    @property
    def loop_s(self) -> float:
        return (self.last - self.first) if self.first is not None and self.last else 0.0


def parse_sets(items: list[str]) -> dict:
    """``["key=value", ...]`` (values as Python literals) -> BakeConfig keyword arguments."""
    import ast  # noqa: PLC0415

    out = {}
    for item in items:
        key, _, value = item.partition("=")
        try:
            out[key.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            out[key.strip()] = value.strip()
    return out


def child(size: int, preset: str, steps: int | None, sets: dict | None = None) -> dict:
    """One bake in this process; returns its measurements."""
    from texgs.bake import BakeConfig, bake_array
    from texgs.bake.render import backend_name
    from texgs.eval.metrics import psnr
    from texgs.images import channel_infos_for, to_uint8

    sets = dict(sets or {})
    target = texture(size, sets.pop("_image", None))
    cfg = BakeConfig(**{"quality": preset, "steps": steps, **sets})
    timer = LoopTimer()
    t0 = time.perf_counter()
    res = bake_array(target, channel_infos_for(3), cfg, timer)
    wall = time.perf_counter() - t0
    loop = timer.loop_s
    return {"size": size, "preset": preset, "steps": cfg.steps, "wall_s": wall,
            "loop_s": loop, "psnr": psnr(target, to_uint8(res.decoded) / 255.0),
            "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
            "renderer": backend_name()}


def run_child(size: int, preset: str, path: str, steps: int | None,
              sets: dict | None = None) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if path == "reference":
        env["TEXGS_NO_KERNEL"] = "1"
    else:
        env.pop("TEXGS_NO_KERNEL", None)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(size), preset,
           str(steps or 0), path, "--child-sets", json.dumps(sets or {})]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=SIZES)
    ap.add_argument("--presets", nargs="+", default=PRESETS, choices=PRESETS)
    ap.add_argument("--paths", nargs="+", default=PATHS, choices=ALL_PATHS,
                    help="kernel: the compiled kernel as a bake uses it; two-pass: the same "
                         "kernel with the loss through its forward and backward passes (the "
                         "path before the one-pass loss, same results); reference: plain "
                         "PyTorch")
    ap.add_argument("--ref-steps", type=int, default=20,
                    help="steps the reference path runs before extrapolating (0: all)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a BakeConfig setting over the preset for every bake (repeatable), "
                         "e.g. sparse_fraction=0.65 or 'relocate_at=()'")
    ap.add_argument("--image", help="bake this whole image (RGB) instead of the WoodF sizes")
    ap.add_argument("--child-sets", default="{}", help=argparse.SUPPRESS)
    ap.add_argument("--child", nargs=4, metavar=("SIZE", "PRESET", "STEPS", "PATH"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        size, preset, steps, path = args.child
        if path == "two-pass":  # the fitter's one-pass loss off: forward, then backward
            from texgs.bake import fit  # noqa: PLC0415
            fit._Fitter.loss_is_linear = property(lambda self: False)
        print(json.dumps(child(int(size), preset, int(steps) or None,
                               json.loads(args.child_sets))))
        return 0

    from texgs.bake.config import QUALITY_PRESETS

    sets = parse_sets(args.set)
    what = (f"{Path(args.image).name} (whole)" if args.image else
            f"{TEXTURE.name} (512: centre crop, 1024: whole, 2048: Lanczos 2x upscale)")
    if args.image:
        args.sizes = [0]
        sets["_image"] = str(Path(args.image).resolve())
    print(f"1 bpp RGB bakes of {what}; {os.cpu_count()} CPUs; PSNR on 8-bit output"
          + (f"; settings over the preset: {shown}" if (shown := {
              k: v for k, v in sets.items() if k != "_image"}) else ""), flush=True)
    print(f"{'size':>5s} {'path':10s} {'preset':9s} {'steps':>5s} {'time s':>9s} "
          f"{'PSNR dB':>8s} {'peak MiB':>9s}", flush=True)
    for size in args.sizes:
        for path in args.paths:
            for preset in args.presets:
                full = int(sets.get("steps", QUALITY_PRESETS[preset]["steps"]))
                steps = None
                if path == "reference" and args.ref_steps and args.ref_steps < full:
                    steps = args.ref_steps
                r = run_child(size, preset, path, steps, sets)
                if steps is None:
                    time_txt, psnr_txt = f"{r['wall_s']:9.1f}", f"{r['psnr']:8.2f}"
                else:
                    per_step = r["loop_s"] / max(1, r["steps"] - 1)
                    fixed = r["wall_s"] - per_step * r["steps"]
                    est = fixed + per_step * full
                    time_txt, psnr_txt = f"~{est:8.0f}", f"{'-':>8s}"
                print(f"{size or 'image':>5} {path:10s} {preset:9s} {full:5d} {time_txt} {psnr_txt} "
                      f"{r['maxrss_mib']:9.0f}", flush=True)
    if "reference" in args.paths and args.ref_steps:
        print(f"~: reference path run for {args.ref_steps} steps (same phase proportions: "
              "coarse share, growth rounds, QAT), time extrapolated to the preset's steps "
              "(fit-loop time per step x steps + the measured set-up and final evaluation); "
              "later steps, with smaller Gaussians, cost less, so the estimate leans high; "
              "no PSNR", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
