"""Fitting Gaussians to a texture: content-adaptive initialization, error-guided progressive
rounds (one LOD level each), Adam with per-group learning rates, quantization in the loop.

The entry point is :func:`bake_array`; :mod:`texgs.bake` wraps it for files.
Target images are float32 [H, W, C] in each channel's stored encoding, about [0, 1].
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from .. import format as fmt
from ..decode import decode_texture
from ..errors import OptionError
from .config import BakeConfig, Progress, plan_budget
from .loss import l1_ssim_loss, psnr
from .quantize import QuantSpec, fake_quantize, make_spec, to_fields
from .render import render


@dataclass
class BakeResult:
    """What a bake produced. ``data``: the asset bytes; PSNRs in dB against the target."""

    data: bytes
    asset: fmt.Asset
    width: int
    height: int
    channels: int
    gaussians: int
    lod_counts: list[int]
    psnr: float
    psnr_float: float
    lod_psnr: list[float]
    seconds: float
    decoded: np.ndarray = field(repr=False, default=None)

    @property
    def size_bytes(self) -> int:
        return len(self.data)

    @property
    def bits_per_texel(self) -> float:
        return self.size_bytes * 8.0 / (self.width * self.height)


def _sobel_sq(gray: torch.Tensor) -> torch.Tensor:
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
    g = gray[None, None]
    g = F.pad(g, (1, 1, 1, 1), mode="replicate")
    gx = F.conv2d(g, kx[None, None])
    gy = F.conv2d(g, kx.t()[None, None])
    m = (gx * gx + gy * gy)[0, 0]
    return m / m.max().clamp_min(1e-12)


def _sample_texels(prob: torch.Tensor, n: int, gen: torch.Generator) -> torch.Tensor:
    """n distinct texel indices (flattened) drawn in proportion to ``prob`` [H, W]."""
    p = prob.reshape(-1).double()
    p = p / p.sum()
    n = min(n, int((p > 0).sum()))
    return torch.multinomial(p, n, replacement=False, generator=gen)


def _conics(log2s: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Torch mirror of ``runtime.conic_from_scales``: [N, 3] (a, b, c)."""
    i1 = torch.exp2(-2.0 * log2s[:, 0])
    i2 = torch.exp2(-2.0 * log2s[:, 1])
    cs, sn = torch.cos(theta), torch.sin(theta)
    return torch.stack([cs * cs * i1 + sn * sn * i2, cs * sn * (i1 - i2),
                        sn * sn * i1 + cs * cs * i2], 1)


class _Model:
    """The trainable parameters (see :mod:`texgs.bake.quantize` for their meaning)."""

    def __init__(self, uv, log2s, theta, colors):
        self.uv = uv.clone().requires_grad_()
        self.log2s = log2s.clone().requires_grad_()
        self.theta = theta.clone().requires_grad_()
        self.colors = colors.clone().requires_grad_()

    def tensors(self):
        return self.uv, self.log2s, self.theta, self.colors

    def extend(self, uv, log2s, theta, colors) -> "_Model":
        return _Model(torch.cat([self.uv.detach(), uv]), torch.cat([self.log2s.detach(), log2s]),
                      torch.cat([self.theta.detach(), theta]),
                      torch.cat([self.colors.detach(), colors]))


class _Fitter:
    def __init__(self, target: np.ndarray, cfg: BakeConfig):
        self.cfg = cfg
        self.t = torch.from_numpy(np.ascontiguousarray(target, np.float32))
        self.H, self.W, self.C = self.t.shape
        self.fallback = self.t.reshape(-1, self.C).mean(0)
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.log2_min = -1.5  # sigma >= 0.35 texel
        self.log2_max = math.log2(max(0.5, min(self.W, self.H) / 6.0))
        self.size = torch.tensor([float(self.W), float(self.H)])
        # positions are optimized in UV; their step is set in texels (spacing is about the
        # same at any texture size for a given bits-per-texel budget)
        self.lr_uv = cfg.lr_pos / max(self.W, self.H)

    def texel_params(self, idx: torch.Tensor, n_total: int):
        x = (idx % self.W).float()
        y = (idx // self.W).float()
        jit = torch.rand(idx.shape[0], 2, generator=self.gen) - 0.5
        uv = torch.stack([(x + 0.5 + jit[:, 0] * 0.5) / self.W,
                          (y + 0.5 + jit[:, 1] * 0.5) / self.H], 1)
        spacing = math.sqrt(self.W * self.H / max(1, n_total))
        l0 = min(max(math.log2(0.5 * spacing), self.log2_min), self.log2_max)
        log2s = torch.full((idx.shape[0], 2), l0)
        theta = torch.zeros(idx.shape[0])
        colors = self.t.reshape(-1, self.C)[idx].clone()
        return uv, log2s, theta, colors

    def initial(self, n: int) -> _Model:
        grad = _sobel_sq(self.t.mean(-1))
        prob = 0.7 * grad / grad.sum() + 0.3 / (self.W * self.H)
        idx = _sample_texels(prob, n, self.gen)
        if idx.shape[0] < n:  # tiny textures: allow repeats
            extra = torch.randint(0, self.W * self.H, (n - idx.shape[0],), generator=self.gen)
            idx = torch.cat([idx, extra])
        return _Model(*self.texel_params(idx, n))

    def grow(self, model: _Model, image: torch.Tensor, n_add: int, n_total: int) -> _Model:
        err = ((image.detach() - self.t) ** 2).mean(-1)
        err = F.avg_pool2d(err[None, None], 5, stride=1, padding=2, count_include_pad=False)[0, 0]
        idx = _sample_texels(err + 1e-12, n_add, self.gen)
        if idx.shape[0] < n_add:
            extra = torch.randint(0, self.W * self.H, (n_add - idx.shape[0],), generator=self.gen)
            idx = torch.cat([idx, extra])
        return model.extend(*self.texel_params(idx, n_total))

    def geometry(self, uv, log2s, theta):
        if self.cfg.repeat_x or self.cfg.repeat_y:
            rep = torch.tensor([self.cfg.repeat_x, self.cfg.repeat_y])
            uv = torch.where(rep, torch.remainder(uv, 1.0), uv)
        means = uv * self.size
        return means, _conics(log2s, theta)

    def render(self, model: _Model, spec: QuantSpec | None, count: int | None = None):
        uv, log2s, theta, colors = model.tensors()
        if count is not None:
            uv, log2s, theta, colors = uv[:count], log2s[:count], theta[:count], colors[:count]
        if spec is not None:
            uv, log2s, theta, colors = fake_quantize(spec, uv, log2s, theta, colors)
        means, conics = self.geometry(uv, log2s, theta)
        cfg = self.cfg
        return render(means, conics, colors, self.fallback, self.W, self.H, cfg.top_k, cfg.tile,
                      cfg.repeat_x, cfg.repeat_y)

    def clamp_(self, model: _Model) -> None:
        with torch.no_grad():
            model.log2s.clamp_(self.log2_min, self.log2_max)
            lo = torch.tensor([0.0 if not self.cfg.repeat_x else -math.inf,
                               0.0 if not self.cfg.repeat_y else -math.inf])
            hi = torch.tensor([1.0 - 1e-6 if not self.cfg.repeat_x else math.inf,
                               1.0 - 1e-6 if not self.cfg.repeat_y else math.inf])
            model.uv.copy_(torch.maximum(torch.minimum(model.uv, hi), lo))
            if self.cfg.repeat_x or self.cfg.repeat_y:
                rep = torch.tensor([self.cfg.repeat_x, self.cfg.repeat_y])
                model.uv.copy_(torch.where(rep, torch.remainder(model.uv, 1.0), model.uv))

    def optimizer(self, model: _Model) -> torch.optim.Adam:
        c = self.cfg
        return torch.optim.Adam([
            {"params": [model.uv], "lr": self.lr_uv},
            {"params": [model.log2s], "lr": c.lr_scale},
            {"params": [model.theta], "lr": c.lr_rot},
            {"params": [model.colors], "lr": c.lr_color},
        ])


def bake_array(target: np.ndarray, channels: list[fmt.ChannelInfo], cfg: BakeConfig,
               progress: Callable[[Progress], None] | None = None) -> BakeResult:
    """Fit and quantize Gaussians for ``target`` [H, W, C] and build the asset bytes."""
    cfg.validate()
    t0 = time.perf_counter()
    H, W, C = target.shape
    if len(channels) != C:
        raise OptionError(f"{len(channels)} channel descriptions for {C} channels")
    counts = plan_budget(W, H, C, cfg)
    total = sum(counts)
    prev_threads = torch.get_num_threads()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    try:
        fit = _Fitter(target, cfg)
        model = fit.initial(counts[0])
        opt = fit.optimizer(model)
        steps = cfg.steps
        grow_at = [round(steps * cfg.grow_until * r / max(1, len(counts) - 1))
                   for r in range(1, len(counts))] if len(counts) > 1 else []
        qat_start = steps - int(round(steps * cfg.qat_fraction))
        mse_start = 0 if cfg.loss == "mse" else steps - int(round(steps * cfg.mse_fraction))
        decay_start = max(grow_at[-1] if grow_at else 0, int(steps * 0.6))
        spec: QuantSpec | None = None
        level = 1
        image = None
        for step in range(steps):
            while level < len(counts) and step >= grow_at[level - 1]:
                if image is None:
                    with torch.no_grad():
                        image = fit.render(model, spec)
                model = fit.grow(model, image, counts[level], sum(counts[:level + 1]))
                level += 1
                opt = fit.optimizer(model)
            if spec is None and step >= qat_start:
                spec = make_spec(model.log2s.detach(), model.colors.detach(), cfg.pos_bits,
                                 cfg.scale_bits, cfg.rot_bits, cfg.color_bits)
            mult = 1.0
            if step >= decay_start and steps > decay_start:
                frac = (step - decay_start) / (steps - decay_start)
                mult = cfg.lr_final ** frac
            for grp, base in zip(opt.param_groups, (fit.lr_uv, cfg.lr_scale, cfg.lr_rot,
                                                    cfg.lr_color)):
                grp["lr"] = base * mult
            image = fit.render(model, spec)
            if step >= mse_start:
                loss = F.mse_loss(image, fit.t)
            else:
                loss = l1_ssim_loss(image, fit.t, cfg.ssim_weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            fit.clamp_(model)
            if progress is not None and (step % 10 == 0 or step == steps - 1):
                progress(Progress(step + 1, steps, model.uv.shape[0], psnr(image.detach(), fit.t),
                                  "fit"))
        while level < len(counts):  # steps too few to reach every round
            with torch.no_grad():
                image = fit.render(model, spec)
            model = fit.grow(model, image, counts[level], sum(counts[:level + 1]))
            level += 1
        with torch.no_grad():
            psnr_float = psnr(fit.render(model, None), fit.t)
        if spec is None:
            spec = make_spec(model.log2s.detach(), model.colors.detach(), cfg.pos_bits,
                             cfg.scale_bits, cfg.rot_bits, cfg.color_bits)
        uv, log2s, theta, colors = (p.detach() for p in model.tensors())
        if cfg.repeat_x or cfg.repeat_y:
            rep = torch.tensor([cfg.repeat_x, cfg.repeat_y])
            uv = torch.where(rep, torch.remainder(uv, 1.0), uv)
    finally:
        torch.set_num_threads(prev_threads)
    fields = to_fields(spec, uv.numpy(), log2s.numpy(), theta.numpy(), colors.numpy())
    chans = [fmt.ChannelInfo(ch.map_kind, ch.component, ch.encoding, cfg.color_bits,
                             spec.color_lo[k], spec.color_hi[k],
                             float(np.float32(fit.fallback[k].item())))
             for k, ch in enumerate(channels)]
    asset = fmt.Asset(width=W, height=H, channels=chans, layout=spec.layout,
                      log2_scale_min=spec.log2_scale_min, log2_scale_max=spec.log2_scale_max,
                      fields=fields, lod_counts=counts, top_k=cfg.top_k, tile_size=cfg.tile,
                      address_x=fmt.ADDRESS_REPEAT if cfg.repeat_x else fmt.ADDRESS_CLAMP,
                      address_y=fmt.ADDRESS_REPEAT if cfg.repeat_y else fmt.ADDRESS_CLAMP)
    data = fmt.write_asset(asset)
    asset = fmt.read_asset(data)
    lod_psnr = []
    decoded = None
    for lod in range(1, len(counts) + 1):
        decoded = decode_texture(asset, lod=lod)
        mse = float(np.mean((decoded.astype(np.float64) - target) ** 2))
        lod_psnr.append(math.inf if mse == 0 else -10 * math.log10(mse))
    return BakeResult(data=data, asset=asset, width=W, height=H, channels=C, gaussians=total,
                      lod_counts=counts, psnr=lod_psnr[-1], psnr_float=psnr_float,
                      lod_psnr=lod_psnr, seconds=time.perf_counter() - t0, decoded=decoded)
