"""GPU bake speed: time, PSNR and peak memory of 1 bpp RGB bakes on a CUDA GPU
(``--device cuda``), next to the same bakes on this machine's CPU (``--device cpu``) in the
same run, so the quality of the two paths can be compared.

The texture is bench_speed.py's (stktex_generic_WoodF.png: 512 centre crop, 1024 whole,
2048 Lanczos 2x upscale); ``--texture`` points elsewhere (a GPU machine without
../shared gets a copy). Every bake runs in a child process, so peak host memory
(getrusage maxrss) and peak GPU memory (torch.cuda.max_memory_allocated) are its own. Times
are wall clock around the whole bake (set-up, fit, quantization, the LOD evaluation), with
the GPU kernels already built (a warm-up bake builds and caches them first).

    python bench/bench_gpu_bake.py                              # GPU 512..2048, CPU 512
    python bench/bench_gpu_bake.py --sizes 2048 --cpu-sizes     # GPU only
    python bench/bench_gpu_bake.py --json out.json
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import bench_speed  # noqa: E402  (the texture and its sizes)


def child(size: int, preset: str, device: str, texture: str, save: str) -> dict:
    import torch

    from texgs.bake import BakeConfig, bake_array
    from texgs.eval.metrics import psnr
    from texgs.images import channel_infos_for, to_uint8

    bench_speed.TEXTURE = Path(texture)
    target = bench_speed.texture(size)
    cfg = BakeConfig(quality=preset, device=device)
    timer = bench_speed.LoopTimer()
    if device == "cuda":  # build / load the kernels and warm the allocator outside the timing
        bake_array(target[:64, :64], channel_infos_for(3), BakeConfig(steps=20, device=device))
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    res = bake_array(target, channel_infos_for(3), cfg, timer)
    wall = time.perf_counter() - t0
    loop = timer.loop_s
    if save:
        Path(save).mkdir(parents=True, exist_ok=True)
        name = f"{preset}_{size}.tgs" if device == "cuda" else f"{preset}_{size}_cpu.tgs"
        (Path(save) / name).write_bytes(res.data)
    gpu_peak = torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else 0.0
    name = torch.cuda.get_device_name() if device == "cuda" else f"{os.cpu_count()} CPUs"
    return {"size": size, "preset": preset, "device": device, "device_name": name,
            "steps": cfg.steps, "gaussians": res.gaussians, "wall_s": wall, "loop_s": loop,
            "ms_per_step": 1000 * loop / max(1, cfg.steps - 1),
            "psnr": psnr(target, to_uint8(res.decoded) / 255.0),
            "bits_per_texel": res.bits_per_texel, "renderer": res.renderer,
            "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
            "gpu_peak_mib": gpu_peak}


def run_child(size: int, preset: str, device: str, texture: str, save: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(size), preset, device,
           texture, save]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"bake {size} {preset} on {device} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="*", default=[512, 1024, 2048],
                    help="sizes baked on the GPU")
    ap.add_argument("--cpu-sizes", type=int, nargs="*", default=[512],
                    help="sizes also baked on the CPU, in the same run, for the comparison")
    ap.add_argument("--presets", nargs="+", default=["max"],
                    choices=list(bench_speed.PRESETS))
    ap.add_argument("--texture", default=str(bench_speed.TEXTURE))
    ap.add_argument("--json", help="write every measurement to this file")
    ap.add_argument("--save-assets", default="", metavar="DIR",
                    help="keep the assets: DIR/PRESET_SIZE.tgs (GPU), ..._cpu.tgs (CPU)")
    ap.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        size, preset, device, texture, save = args.child
        print(json.dumps(child(int(size), preset, device, texture, save)))
        return 0
    import torch
    if args.sizes and not torch.cuda.is_available():
        print("bench_gpu_bake: no CUDA GPU is available to PyTorch", file=sys.stderr)
        return 5

    rows = []
    print(f"1 bpp RGB bakes of {Path(args.texture).name} (512: centre crop, 1024: whole, "
          f"2048: Lanczos 2x upscale); PSNR on 8-bit output", flush=True)
    hdr = (f"{'size':>5s} {'device':7s} {'preset':8s} {'steps':>5s} {'N':>7s} {'time s':>8s} "
           f"{'ms/step':>8s} {'PSNR dB':>8s} {'dPSNR':>6s} {'host MiB':>8s} {'GPU MiB':>8s}")
    print(hdr, flush=True)
    for preset in args.presets:
        for size in sorted(set(args.sizes) | set(args.cpu_sizes)):
            pair = {}
            for device in ("cuda", "cpu"):
                if size not in (args.sizes if device == "cuda" else args.cpu_sizes):
                    continue
                r = run_child(size, preset, device, args.texture, args.save_assets)
                pair[device] = r
                rows.append(r)
                d = ""
                if device == "cpu" and "cuda" in pair:
                    d = f"{pair['cuda']['psnr'] - r['psnr']:+6.2f}"
                print(f"{size:5d} {device:7s} {preset:8s} {r['steps']:5d} {r['gaussians']:7d} "
                      f"{r['wall_s']:8.1f} {r['ms_per_step']:8.1f} {r['psnr']:8.2f} {d:>6s} "
                      f"{r['maxrss_mib']:8.0f} {r['gpu_peak_mib']:8.0f}", flush=True)
    names = sorted({r["device_name"] for r in rows})
    print("devices: " + "; ".join(names) + ". dPSNR: GPU minus CPU at the same size and preset.",
          flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
