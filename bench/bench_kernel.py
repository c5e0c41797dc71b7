"""The baker's CPU render kernel alone: time of one tile binning, one forward and one
backward on a real 1 bpp scene, per thread count, next to the plain PyTorch tiled renderer
(the reference path), in one run.

The scene: a short bake (300 steps) of the centre 512x512 crop of
../shared/textures/single/stktex_generic_WoodF.png at 1 bpp (3617 Gaussians), dequantized
from the asset as the decoder sees it. Times are the minimum and the median over
``--repeats`` calls (this machine is shared and noisy: the minimum is the steadier figure).
Forward and backward include the allocations a bake step pays (through the autograd
function the fitter calls).

    python bench/bench_kernel.py                 # 512, 1 and 2 threads
    python bench/bench_kernel.py --size 1024 --threads 2
    python bench/bench_kernel.py --bake-split 400   # where a bake's step time goes
    python bench/bench_kernel.py --bake-split 300 --size 2048 [--default-malloc]
    python bench/bench_kernel.py --rank-reuse --size 2048 --repeats 15   # rank reuse

The "one pass" column is what a bake step calls: the render, its MSE against a target and
every gradient in one kernel pass (``render_cpu.render_loss_cpu``), against the forward plus
backward of the two-pass path.

``--bake-split STEPS`` instead bakes the crop with the default preset for STEPS steps and
splits its wall time into the render's kernel calls (binning and allocations included:
forward and backward of the two-pass path, used by growth rounds and the end-of-bake
evaluation; the one-pass loss of every step) and the rest (autograd, Adam, quantization,
growth, set-up and the end-of-bake evaluation).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def scene(size: int):
    """(means, conics, colors, fallback) of a 300-step 1 bpp bake of the WoodF crop."""
    from bench_speed import texture  # noqa: PLC0415
    from texgs.bake import BakeConfig, bake_array  # noqa: PLC0415
    from texgs.images import channel_infos_for  # noqa: PLC0415
    from texgs.runtime import dequantize  # noqa: PLC0415
    res = bake_array(texture(size), channel_infos_for(3),
                     BakeConfig(bpp=1.0, steps=300, device="cpu", quality="max"))
    g = dequantize(res.asset, res.asset.prefix_count(len(res.asset.lod_counts)))
    return tuple(torch.from_numpy(a).float() for a in (g.means, g.conics, g.colors,
                                                         g.fallback))


def timed(fn, repeats: int) -> tuple[float, float]:
    """(min, median) milliseconds of ``fn()`` over ``repeats`` calls after one warm-up."""
    fn()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1e3)
    return min(ts), statistics.median(ts)


def bake_split(size: int, steps: int) -> None:
    """Print the wall-time split of one bake (see the module docstring)."""
    from bench_speed import texture  # noqa: PLC0415
    from texgs.bake import BakeConfig, bake_array, render_cpu  # noqa: PLC0415
    from texgs.images import channel_infos_for  # noqa: PLC0415
    acc = {"forward": 0.0, "backward": 0.0, "one pass": 0.0}
    orig = {"forward": render_cpu._forward, "backward": render_cpu._backward,
            "one pass": render_cpu._RenderLoss.forward}

    def wrap(name):
        def call(*args, **kw):
            t0 = time.perf_counter()
            out = orig[name](*args, **kw)
            acc[name] += time.perf_counter() - t0
            return out
        return call

    # the kernel calls of the two-pass autograd functions (_RenderCPU, _RenderMSE) go through
    # _forward and _backward; the one-pass loss (_RenderLoss, all of a default bake's
    # steps) does its kernel call in its forward
    render_cpu._forward, render_cpu._backward = wrap("forward"), wrap("backward")
    render_cpu._RenderLoss.forward = staticmethod(wrap("one pass"))
    try:
        t0 = time.perf_counter()
        res = bake_array(texture(size), channel_infos_for(3),
                         BakeConfig(bpp=1.0, steps=steps, device="cpu"))
        total = time.perf_counter() - t0
    finally:
        render_cpu._forward, render_cpu._backward = orig["forward"], orig["backward"]
        render_cpu._RenderLoss.forward = staticmethod(orig["one pass"])
    rest = total - sum(acc.values())
    print(f"{size}x{size} bake, {steps} steps, {res.gaussians} Gaussians: {total:.2f} s "
          f"({total / steps * 1e3:.1f} ms per step)")
    for name, v in (("render forward", acc["forward"]), ("render backward", acc["backward"]),
                    ("render one pass", acc["one pass"]), ("rest", rest)):
        print(f"  {name:<16} {v:7.2f} s  {v / total * 100:5.1f} %  {v / steps * 1e3:6.2f} ms/step")


def rank_reuse(size: int, repeats: int) -> None:
    """One-pass kernel calls (forward only, no autograd) on the scene: a plain pass, a
    pass that ranks and keeps each row's candidates, and a pass that reuses them
    (render_cpu.RankReuse), minimum and median ms, two rounds in alternation."""
    from texgs.bake import render_cpu  # noqa: PLC0415
    means, conics, colors, fallback = scene(size)
    W = H = size
    target = torch.rand(H, W, 3, generator=torch.Generator().manual_seed(1))
    weights = torch.full((3,), 1.0 / 3.0)
    times: dict[str, list[tuple[float, float]]] = {}
    with render_cpu.kernel_threads(torch.get_num_threads()), torch.no_grad():
        for _ in range(2):
            for mode in ("plain", "keeping", "reusing"):
                reuse = render_cpu.RankReuse(1 << 30)
                render_cpu.render_loss_cpu(means, conics, colors, fallback, target, weights,
                                           W, H, 5, 16, reuse=reuse)

                def call(mode=mode, reuse=reuse):
                    if mode == "keeping":
                        reuse.reset()
                    render_cpu.render_loss_cpu(means, conics, colors, fallback, target,
                                               weights, W, H, 5, 16,
                                               reuse=None if mode == "plain" else reuse)
                times.setdefault(mode, []).append(timed(call, repeats))
    # candidates a reusing row ranks: the count at the head of every row's block (sizes
    # that are multiples of the tile and the lanes: every block belongs to the texture)
    lanes, _, block = render_cpu._reuse_blocks(16, 5)
    kept = reuse.sel.view(-1, block)[:, 0].double().mean().item()
    off, _ = render_cpu.bin_tiles(means, conics, W, H, 16, False, False)
    per_tile = (off[-1] / (off.shape[0] - 1)).item()
    print(f"{size}x{size}, {means.shape[0]} Gaussians, one-pass kernel, "
          f"{render_cpu.default_threads()} threads: ms (min / median), two rounds; "
          f"a reusing row of {lanes} texels ranks {kept:.1f} candidates, a full ranking "
          f"{per_tile:.1f} (its tile's)")
    for mode, ts in times.items():
        print(f"  {mode:<8} " + "   ".join(f"{a:7.2f} / {b:7.2f}" for a, b in ts))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--ref-repeats", type=int, default=3)
    ap.add_argument("--bake-split", type=int, metavar="STEPS", default=None)
    ap.add_argument("--rank-reuse", action="store_true",
                    help="time plain, keeping and reusing one-pass calls (rank reuse)")
    ap.add_argument("--default-malloc", action="store_true",
                    help="leave glibc's malloc thresholds as they are (TEXGS_KEEP_HEAP=0; "
                         "the baker otherwise keeps freed heap memory)")
    args = ap.parse_args()
    if args.default_malloc:
        os.environ["TEXGS_KEEP_HEAP"] = "0"  # keep_freed_memory then does nothing
    from texgs.bake import render_cpu  # noqa: PLC0415
    print(f"malloc: {'glibc defaults' if args.default_malloc else 'freed heap memory kept'}")
    if args.bake_split:
        bake_split(args.size, args.bake_split)
        return
    if args.rank_reuse:
        rank_reuse(args.size, args.repeats)
        return

    from texgs.bake.render_ref import _render_tiled_torch  # noqa: PLC0415
    if render_cpu.load_kernel() is None:
        sys.exit(f"compiled kernel unavailable: {render_cpu.status()}")
    means, conics, colors, fallback = scene(args.size)
    W = H = args.size
    n = means.shape[0]
    off, ids = render_cpu.bin_tiles(means, conics, W, H, 16, False, False)
    print(f"{W}x{H}, {n} Gaussians, {ids.shape[0] / off.shape[0]:.1f} candidates per 16x16 "
          f"tile, K=5, {torch.get_num_threads()} CPUs seen by PyTorch")
    print(f"{'renderer':<12} {'threads':>7} {'bin ms':>14} {'forward ms':>16} "
          f"{'backward ms':>16} {'one pass ms':>16}   (min / median)")
    params = [t.clone().requires_grad_() for t in (means, conics, colors, fallback)]
    grad = torch.randn(H, W, 3) * 1e-2
    target = torch.rand(H, W, 3, generator=torch.Generator().manual_seed(1))
    weights = torch.full((3,), 1.0 / 3.0)

    def fmt(t: tuple[float, float]) -> str:
        return f"{t[0]:7.2f} / {t[1]:6.2f}"

    for nt in args.threads:
        def fwd():
            return render_cpu.render_cpu(*params, W, H, 5, 16, nthreads=nt)
        state = {}

        def fwd_keep():
            state["img"] = fwd()

        def bwd():
            state["img"].backward(grad, retain_graph=True)

        def one_pass():  # render, MSE against a target and all gradients (a bake step's)
            render_cpu.render_loss_cpu(*params, target, weights, W, H, 5, 16,
                                       nthreads=nt)[2].backward()

        t_bin = timed(lambda: render_cpu.bin_tiles(means, conics, W, H, 16, False, False, nt),
                      args.repeats)
        t_fwd = timed(fwd_keep, args.repeats)
        t_bwd = timed(bwd, args.repeats)
        t_one = timed(one_pass, args.repeats)
        print(f"{'cpu-kernel':<12} {nt:>7} {fmt(t_bin):>14} {fmt(t_fwd):>16} {fmt(t_bwd):>16} "
              f"{fmt(t_one):>16}")
    torch.set_num_threads(max(args.threads))
    state = {}

    def ref_fwd():
        state["img"] = _render_tiled_torch(*params, W, H, 5, 16, False, False)

    def ref_bwd():
        state["img"].backward(grad, retain_graph=True)

    t_fwd = timed(ref_fwd, args.ref_repeats)
    t_bwd = timed(ref_bwd, args.ref_repeats)
    print(f"{'torch-tiled':<12} {max(args.threads):>7} {'':>14} {fmt(t_fwd):>16} "
          f"{fmt(t_bwd):>16}")


if __name__ == "__main__":
    main()
