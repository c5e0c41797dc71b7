"""Render dispatcher for the baker: the compiled CPU kernel for CPU tensors, the CUDA kernels
for GPU tensors, plain PyTorch where neither builds.

Shapes as in :mod:`texgs.bake.render_ref`: means [N, 2] texel units, conics [N, 3],
colors [N, C], fallback [C] -> image [H, W, C] at texel centres.
"""

from __future__ import annotations

import torch

from ..errors import UnsupportedError
from . import render_cpu
from .render_ref import _render_tiled_torch


def backend_name(device: str = "cpu") -> str:
    """The renderer that tensors on ``device`` get: 'cpu-kernel', 'cuda-kernel' or 'torch'
    (the plain PyTorch fallback), for reports."""
    if device.startswith("cuda"):
        from . import render_cuda  # noqa: PLC0415 (only where a GPU is asked for)
        return "cuda-kernel" if render_cuda.load_kernel() is not None else "torch"
    return "cpu-kernel" if render_cpu.load_kernel() is not None else "torch"


def render(means: torch.Tensor, conics: torch.Tensor, colors: torch.Tensor,
           fallback: torch.Tensor, W: int, H: int, k: int, tile: int = 16, rep_x: bool = False,
           rep_y: bool = False) -> torch.Tensor:
    """Differentiable render of the texgs blend at every texel centre -> [H, W, C]."""
    if means.device.type == "cpu" and render_cpu.load_kernel() is not None:
        return render_cpu.render_cpu(means, conics, colors, fallback, W, H, k, tile, rep_x,
                                     rep_y)
    if means.device.type == "cuda":
        from . import render_cuda  # noqa: PLC0415
        if render_cuda.load_kernel() is not None:
            return render_cuda.render_cuda(means, conics, colors, fallback, W, H, k, tile,
                                           rep_x, rep_y)
    return _render_tiled_torch(means, conics, colors, fallback, W, H, k, tile, rep_x, rep_y)


class ChannelMSE(torch.autograd.Function):
    """Mean over texels of the squared difference, per channel: img [h, w, k], target
    [h, w, k] -> [k]. The gradient is one fused expression, 2 (img - target) g / (h w),
    where autograd would run three full-size kernels (sub, pow, mean)."""

    @staticmethod
    def forward(ctx, img, target):
        diff = img - target
        ctx.save_for_backward(diff)
        return (diff * diff).mean((0, 1))

    @staticmethod
    def backward(ctx, grad):
        (diff,) = ctx.saved_tensors
        n = diff.shape[0] * diff.shape[1]
        return diff * (grad * (2.0 / n)), None


def render_mse(means: torch.Tensor, conics: torch.Tensor, colors: torch.Tensor,
               fallback: torch.Tensor, target: torch.Tensor, W: int, H: int, k: int,
               tile: int = 16, rep_x: bool = False,
               rep_y: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(the render [H, W, C], without gradient; its per-channel MSE [C] against ``target``
    [H, W, C], with gradient). The CPU kernel does both in its own passes (no image-sized
    gradient tensor); other renderers render, then :class:`ChannelMSE`."""
    if means.device.type == "cpu" and render_cpu.load_kernel() is not None:
        return render_cpu.render_mse_cpu(means, conics, colors, fallback, target, W, H, k,
                                          tile, rep_x, rep_y)
    img = render(means, conics, colors, fallback, W, H, k, tile, rep_x, rep_y)
    return img.detach(), ChannelMSE.apply(img, target)


def render_weighted_mse(means: torch.Tensor, conics: torch.Tensor, colors: torch.Tensor,
                        fallback: torch.Tensor, target: torch.Tensor, weights: torch.Tensor,
                        W: int, H: int, k: int, tile: int = 16, rep_x: bool = False,
                        rep_y: bool = False, reuse: render_cpu.RankReuse | None = None
                        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(the render [H, W, C] and its per-channel MSE [C] against ``target``, both without
    gradient; the loss sum_c weights[c] * mse[c], a scalar with gradient) for a loss whose
    channel weights are fixed before the render. The CPU kernel forms the gradients in the
    same pass as the render (``render_cpu.render_loss_cpu``: the same bits as
    :func:`render_mse` and a weighted sum); other renderers go through :func:`render_mse`.
    ``reuse``: the CPU kernel keeps its ranking between calls (``render_cpu.RankReuse``);
    other renderers rank on every call."""
    if means.device.type == "cpu" and render_cpu.load_kernel() is not None:
        return render_cpu.render_loss_cpu(means, conics, colors, fallback, target, weights, W,
                                          H, k, tile, rep_x, rep_y, reuse=reuse)
    img, mse = render_mse(means, conics, colors, fallback, target, W, H, k, tile, rep_x, rep_y)
    return img, mse.detach(), (mse * weights).sum()


def pick_device(name: str) -> torch.device:
    """The device a bake runs on for ``--device`` ``name``: "cpu"; "cuda" (a CUDA GPU with the
    GPU kernels built, else :class:`~texgs.errors.UnsupportedError` with the reason); "auto"
    (the GPU when "cuda" would work, else the CPU)."""
    if name == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        reason = "no CUDA GPU is available to PyTorch"
        if torch.version.cuda is None:
            reason += " (this PyTorch is a CPU-only build)"
    else:
        from . import render_cuda  # noqa: PLC0415
        if render_cuda.load_kernel() is not None:
            return torch.device("cuda")
        reason = f"the GPU kernels cannot be built: {render_cuda.status()}"
    if name == "auto":
        return torch.device("cpu")
    raise UnsupportedError(f"--device cuda: {reason}; use --device cpu or auto")
