"""Fit losses. Images are float tensors [H, W, C] in the stored encoding, range about [0, 1]."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

_WIN = 11
_SIGMA = 1.5


def _window(channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.arange(_WIN, dtype=torch.float32) - (_WIN - 1) / 2
    g = torch.exp(-(x * x) / (2 * _SIGMA * _SIGMA))
    g = g / g.sum()
    wx = g.view(1, 1, 1, _WIN).repeat(channels, 1, 1, 1)
    wy = g.view(1, 1, _WIN, 1).repeat(channels, 1, 1, 1)
    return wx, wy


def _blur(x: torch.Tensor, wx: torch.Tensor, wy: torch.Tensor) -> torch.Tensor:
    c = x.shape[1]
    return F.conv2d(F.conv2d(x, wx, groups=c), wy, groups=c)


def ssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean SSIM (11x11 Gaussian window, sigma 1.5, 'valid' region, data range 1)."""
    x = a.permute(2, 0, 1).unsqueeze(0)
    y = b.permute(2, 0, 1).unsqueeze(0)
    if min(x.shape[-2:]) < _WIN:
        return 1.0 - F.mse_loss(a, b)  # too small for the window: degrade gracefully
    wx, wy = (w.to(x.device) for w in _window(x.shape[1]))
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    mx, my = _blur(x, wx, wy), _blur(y, wx, wy)
    sxx = _blur(x * x, wx, wy) - mx * mx
    syy = _blur(y * y, wx, wy) - my * my
    sxy = _blur(x * y, wx, wy) - mx * my
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return s.mean()


def l1_ssim_loss(render: torch.Tensor, target: torch.Tensor, ssim_weight: float = 0.1
                 ) -> torch.Tensor:
    """L1 + ssim_weight * (1 - SSIM): the Image-GS loss."""
    loss = (render - target).abs().mean()
    if ssim_weight > 0:
        loss = loss + ssim_weight * (1.0 - ssim(render, target))
    return loss


def psnr(render: torch.Tensor, target: torch.Tensor) -> float:
    mse = float(((render - target) ** 2).mean())
    return math.inf if mse == 0 else -10.0 * math.log10(mse)
