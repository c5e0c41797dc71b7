"""How cost grows: bake time and peak memory against texture size (256 to 2048 texels square)
and against the Gaussian count, and decode throughput of every decoder available, in one run;
a table, a JSON and a plot (PNG).

Bakes: RGB, the texture of bench_speed.py (WoodF: centre crop, whole, or Lanczos upscale),
1 bit per texel for the size sweep, 0.25 to 4 bits per texel at 1024 for the count sweep,
``--steps`` steps each (default: the default preset's on a GPU, 100 on the CPU, where the
full preset at 2048 takes hours; time per step is the figure that matters for scaling), in
a child process each so peak memory is the bake's own. Decoders: the NumPy reference
(texgs.decode), the compiled CPU renderer (the baker's kernel, no gradients), the GLSL and
HLSL compute shaders on whatever OpenGL / Vulkan driver is present (textures up to 512x512:
on Mesa's CPU drivers larger ones take long), the GPU renderer and the PyCUDA decoder where
a GPU is present; each decodes the size sweep's assets
(the NumPy reference a 256x256 window of each, scaled to texels per second).

    python bench/bench_scaling.py                       # CPU: sizes and counts, decoders
    python bench/bench_scaling.py --device cuda         # the same on a GPU
    python bench/bench_scaling.py --sizes 256 512 --counts --plot out.png
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import bench_speed  # noqa: E402


def child(size: int, bpp: float, steps: int, device: str, texture: str, out: str) -> dict:
    import torch

    from texgs.bake import BakeConfig, bake_array
    from texgs.eval.metrics import psnr
    from texgs.images import channel_infos_for, to_uint8

    bench_speed.TEXTURE = Path(texture)
    target = bench_speed.texture(size)
    if device == "cuda":  # kernels built and allocator warm before the timing
        bake_array(target[:64, :64], channel_infos_for(3), BakeConfig(steps=10, device=device))
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    cfg = BakeConfig(bpp=bpp, steps=steps, device=device)
    timer = bench_speed.LoopTimer()
    t0 = time.perf_counter()
    res = bake_array(target, channel_infos_for(3), cfg, timer)
    wall = time.perf_counter() - t0
    per_step = timer.loop_s / max(1, steps - 1)
    Path(out).write_bytes(res.data)
    return {"size": size, "bpp": bpp, "steps": steps, "device": device,
            "gaussians": res.gaussians, "wall_s": wall, "step_ms": 1000 * per_step,
            "us_per_step_per_ktexel": 1e6 * per_step / (size * size / 1000),
            "psnr": psnr(target, to_uint8(res.decoded) / 255.0),
            "host_peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
            "gpu_peak_mib": (torch.cuda.max_memory_allocated() / 2**20
                             if device == "cuda" else 0.0),
            "renderer": res.renderer}


def run_child(size, bpp, steps, device, texture, out) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(size), str(bpp),
           str(steps), device, texture, str(out)]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"bake {size} at {bpp} bpt on {device} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def _best_of(fn, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


SHADER_MAX_TEXELS = 512 * 512  # CPU drivers (llvmpipe, lavapipe) take seconds beyond this


def _glsl():
    from texgs.glsl_runner import GlslDecoder
    return GlslDecoder()


def _hlsl():
    from texgs.hlsl_runner import HlslDecoder
    return HlslDecoder()


def _driver_name(dec) -> str:
    """The GL renderer or Vulkan adapter the decoder runs on, e.g. llvmpipe, lavapipe."""
    ctx = getattr(dec, "ctx", None)
    if ctx is not None:
        with ctx:
            return str(ctx.info.get("GL_RENDERER", "OpenGL")).split(" (")[0]
    dev = getattr(dec, "device", None)
    info = getattr(getattr(dev, "adapter", None), "info", None) or {}
    return str(info.get("device", "Vulkan")).split(" (")[0]


def decode_rates(path: Path, device: str) -> list[dict]:
    """Texels per second of each decoder available on the asset at ``path``."""
    import torch

    from texgs import format as fmt
    from texgs.bake import render_cpu
    from texgs.bake.render import render
    from texgs.decode import decode_uv
    from texgs.runtime import dequantize

    asset = fmt.read_asset_file(path)
    W, H = asset.width, asset.height
    g = dequantize(asset)
    rows = []
    # NumPy reference: the texel centres of a 256x256 window
    n = min(256, W)
    ys, xs = np.mgrid[0:n, 0:n]
    uv = np.stack([(xs + 0.5) / W, (ys + 0.5) / H], -1).reshape(-1, 2)
    t = _best_of(lambda: decode_uv(asset, uv), 1)
    rows.append({"decoder": "numpy reference", "texels_per_s": uv.shape[0] / t})
    tensors = [torch.from_numpy(a) for a in (g.means, g.conics, g.colors, g.fallback)]
    if render_cpu.load_kernel() is not None:
        with torch.no_grad():
            t = _best_of(lambda: render(*tensors, W, H, asset.top_k, asset.tile_size,
                                        g.repeat_x, g.repeat_y))
        rows.append({"decoder": f"CPU kernel ({torch.get_num_threads()} threads)",
                     "texels_per_s": W * H / t})
    if W * H <= SHADER_MAX_TEXELS:  # the shaders on whatever GL / Vulkan driver is present
        for label, make in (("GLSL compute (OpenGL)", _glsl), ("HLSL compute (Vulkan)", _hlsl)):
            try:
                dec = make()
                dec.decode_compute(asset)
                t = _best_of(lambda: dec.decode_compute(asset), 2)
                rows.append({"decoder": f"{label}, {_driver_name(dec)}",
                             "texels_per_s": W * H / t})
            except Exception as e:  # noqa: BLE001 - a missing driver is reported, not fatal
                rows.append({"decoder": f"{label}: unavailable ({type(e).__name__})",
                             "texels_per_s": float("nan")})
    if device == "cuda" and torch.cuda.is_available():
        gt = [x.cuda() for x in tensors]

        def gpu_render():
            render(*gt, W, H, asset.top_k, asset.tile_size, g.repeat_x, g.repeat_y)
            torch.cuda.synchronize()
        with torch.no_grad():
            gpu_render()
            t = _best_of(gpu_render, 5)
        rows.append({"decoder": "GPU renderer (baker, float records)",
                     "texels_per_s": W * H / t})
        try:
            from texgs.cuda_decoder import CudaDecoder
            dec = CudaDecoder()
            dec.decode_texture(asset)
            t = _best_of(lambda: dec.decode_texture(asset), 5)
            rows.append({"decoder": "PyCUDA decoder (packed records, with copies)",
                         "texels_per_s": W * H / t})
        except Exception as e:  # noqa: BLE001 - reported, not fatal
            rows.append({"decoder": f"PyCUDA decoder: unavailable ({e})",
                         "texels_per_s": float("nan")})
    for r in rows:
        r["size"] = W
    return rows


def plot(bakes: list[dict], counts: list[dict], decodes: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 3, figsize=(15, 4.2))
    if bakes:
        x = [b["size"] for b in bakes]
        ax[0].plot(x, [b["us_per_step_per_ktexel"] for b in bakes], "o-")
        ax[0].set_xscale("log", base=2)
        ax[0].set_xlabel("texture size (texels square), 1 bpt")
        ax[0].set_ylabel("bake time per step per 1000 texels (us)")
        ax[0].set_ylim(bottom=0)
        ax[0].set_title(f"bake cost per texel ({bakes[0]['device']})")
        a2 = ax[0].twinx()
        a2.plot(x, [b["gpu_peak_mib"] if b["device"] == "cuda" else b["host_peak_mib"]
                    for b in bakes], "s--", color="tab:red")
        a2.set_ylabel("peak memory (MiB)", color="tab:red")
        a2.set_ylim(bottom=0)
    if counts:
        ax[1].plot([c["gaussians"] for c in counts], [c["step_ms"] for c in counts], "o-")
        ax[1].set_xscale("log")
        sz = counts[0]["size"]
        ax[1].set_xlabel(f"Gaussians ({sz}x{sz}, {min(c['bpp'] for c in counts):g} to "
                         f"{max(c['bpp'] for c in counts):g} bpt)")
        ax[1].set_ylabel("ms per step")
        ax[1].set_ylim(bottom=0)
        ax[1].set_title("bake cost against Gaussian count")
    names = sorted({d["decoder"] for d in decodes if np.isfinite(d["texels_per_s"])})
    for name in names:
        pts = [d for d in decodes if d["decoder"] == name]
        ax[2].plot([d["size"] for d in pts], [d["texels_per_s"] for d in pts], "o-",
                   label=name)
    ax[2].set_xscale("log", base=2)
    ax[2].set_yscale("log")
    ax[2].set_xlabel("texture size")
    ax[2].set_ylabel("texels per second")
    ax[2].set_title("decode throughput")
    ax[2].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--sizes", type=int, nargs="*", default=[256, 512, 1024, 2048])
    ap.add_argument("--counts", type=float, nargs="*", default=[0.25, 0.5, 1, 2, 4],
                    help="bits per texel of the count sweep at --count-size")
    ap.add_argument("--count-size", type=int, default=1024)
    ap.add_argument("--steps", type=int, help="steps per bake (default: 1500 on a GPU, "
                    "100 on the CPU)")
    ap.add_argument("--texture", default=str(bench_speed.TEXTURE))
    ap.add_argument("--json", help="write every measurement here")
    ap.add_argument("--plot", help="write the plot here (PNG)")
    ap.add_argument("--decode-only", metavar="DIR", help="skip the bakes: measure the "
                    "decoders on DIR/s<SIZE>.tgs (the assets a previous run kept)")
    ap.add_argument("--child", nargs=6, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        size, bpp, steps, device, texture, out = args.child
        print(json.dumps(child(int(size), float(bpp), int(steps), device, texture, out)))
        return 0
    steps = args.steps or (1500 if args.device == "cuda" else 100)
    if args.decode_only:
        args.counts, args.sizes = [], [s for s in args.sizes
                                       if (Path(args.decode_only) / f"s{s}.tgs").exists()]
    tmp = Path(args.decode_only or tempfile.mkdtemp(prefix="texgs-scaling-"))
    print(f"assets in {tmp}", flush=True)
    print(f"RGB bakes of {Path(args.texture).name}, {steps} steps each, on {args.device} "
          f"({os.cpu_count()} CPUs); peak memory: host maxrss, GPU max allocated", flush=True)
    print(f"{'size':>5s} {'bpt':>5s} {'N':>7s} {'bake s':>8s} {'ms/step':>8s} {'us/step/ktexel':>15s} "
          f"{'PSNR dB':>8s} {'host MiB':>9s} {'GPU MiB':>8s}", flush=True)
    bakes, counts = [], []

    def show(r):
        print(f"{r['size']:5d} {r['bpp']:5.2f} {r['gaussians']:7d} {r['wall_s']:8.1f} {r['step_ms']:8.1f} "
              f"{r['us_per_step_per_ktexel']:15.2f} {r['psnr']:8.2f} {r['host_peak_mib']:9.0f} "
              f"{r['gpu_peak_mib']:8.0f}", flush=True)
    for size in args.sizes if not args.decode_only else []:
        r = run_child(size, 1.0, steps, args.device, args.texture, tmp / f"s{size}.tgs")
        bakes.append(r)
        show(r)
    for bpp in args.counts:
        if bpp == 1.0 and args.count_size in args.sizes:
            r = next(b for b in bakes if b["size"] == args.count_size)
        else:
            r = run_child(args.count_size, bpp, steps, args.device, args.texture,
                          tmp / f"c{bpp}.tgs")
            show(r)
        counts.append(r)
    print(f"\n{'size':>5s} {'decoder':50s} {'Mtexel/s':>10s}", flush=True)
    decodes = []
    for size in args.sizes:
        for d in decode_rates(tmp / f"s{size}.tgs", args.device):
            decodes.append(d)
            print(f"{size:5d} {d['decoder'][:50]:50s} {d['texels_per_s'] / 1e6:10.2f}",
                  flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"bakes": bakes, "counts": counts,
                                               "decodes": decodes}, indent=1))
    if args.plot:
        plot(bakes, counts, decodes, Path(args.plot))
    return 0


if __name__ == "__main__":
    sys.exit(main())
