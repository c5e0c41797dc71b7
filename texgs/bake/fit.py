"""Fitting Gaussians to a texture: content-adaptive initialization, error-guided progressive
rounds (one LOD level each), Adam with per-group learning rates, quantization in the loop.

The entry point is :func:`bake_array`; :mod:`texgs.bake` wraps it for files.
Target images are float32 [H, W, C] in each channel's stored encoding, about [0, 1].
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from .. import format as fmt
from ..decode import decode_maps, finish_map
from ..errors import OptionError
from ..material import MapSource, PreparedMap, prepare_map
from ..record_order import chunk_morton_order
from ..quality import MapQuality, format_db, map_quality
from ..runtime import dequantize
from .config import WIDE_COLOR_BITS, BakeConfig, Progress, plan_budget
from .loss import l1_ssim_loss
from .quantize import QuantSpec, fake_quantize, make_spec, to_fields
from . import render_cpu
from .render import (ChannelMSE, backend_name, pick_device, render, render_mse,
                     render_weighted_mse)


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
    maps: list = field(default_factory=list)
    renderer: str = ""  # the fit's renderer: cpu-kernel, cuda-kernel or torch
    color_search: str = ""  # what the colour width search measured, where it ran

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


@dataclass
class _Group:
    """Maps of one size, rendered together: their fitted channels (indices into the model's
    colours), targets [h, w, k] and per-channel loss weights [k]."""

    width: int
    height: int
    chans: list[int]
    target: torch.Tensor
    cweight: torch.Tensor
    sx: float
    sy: float
    tile: int  # the renderer's tile size here
    ox: float = 0.0  # the group grid's texel x = asset x * sx + ox
    oy: float = 0.0


def _half_resolution(g: _Group) -> _Group:
    """The group ``g`` at half its size (2x2 texel means; odd sizes round up, area
    resampling), for the coarse phase of coarse-to-fine fitting."""
    w, h = max(1, (g.width + 1) // 2), max(1, (g.height + 1) // 2)
    if (w, h) == (g.width, g.height):
        return g
    img = g.target.permute(2, 0, 1)[None]
    if g.width % 2 == 0 and g.height % 2 == 0:
        small = F.avg_pool2d(img, 2)
    else:
        small = F.interpolate(img, size=(h, w), mode="area")
    target = small[0].permute(1, 2, 0).contiguous()
    return _Group(w, h, g.chans, target, g.cweight, g.sx * w / g.width, g.sy * h / g.height,
                  g.tile)


def _lattice(g: _Group, px: int, py: int, tile: int) -> _Group:
    """The texels (px + 2i, py + 2j) of group ``g``: one texel of each 2x2 block, as a grid of
    its own (for sparse steps). Its texel centre i + 0.5 is the full grid's px + 2i + 0.5, so
    x_sub = (x - px + 0.5) / 2 (offset (0.5 - px) / 2, scale 1/2); ``tile``: its tile size
    (half the bake's, so a tile covers the same texture area and about the same Gaussians)."""
    w, h = (g.width - px + 1) // 2, (g.height - py + 1) // 2
    target = g.target[py::2, px::2].contiguous()
    return _Group(w, h, g.chans, target, g.cweight, g.sx * 0.5, g.sy * 0.5, tile,
                  (0.5 - px) * 0.5, (0.5 - py) * 0.5)


class _Fitter:
    """Fits one Gaussian geometry to every map of a set (a lone texture is a set of one).

    The Gaussians live in the asset's texel grid (W x H, the largest map); a map of size
    w x h samples them at its own texel centres: positions scale by (w/W, h/H) and the conic
    by the inverse squares (the Mahalanobis distance, and so the top-K ranking, is the same).
    """

    def __init__(self, maps: list[PreparedMap], cfg: BakeConfig,
                 device: torch.device = torch.device("cpu")):
        self.cfg = cfg
        self.maps = maps
        self.dev = device
        if device.type == "cpu":
            render_cpu.keep_freed_memory()
        self.W = max(m.width for m in maps)
        self.H = max(m.height for m in maps)
        self.C = sum(len(m.fitted) for m in maps)
        # host copies (initial placement, colour look-ups) and the fit's copies on the device
        self.targets_host = [torch.from_numpy(np.ascontiguousarray(m.target, np.float32))
                             for m in maps]
        self.targets = [t.to(device) for t in self.targets_host]
        self.first = []  # first model colour of each map
        k = 0
        for m in maps:
            self.first.append(k)
            k += len(m.fitted)
        wsum = sum(m.weight for m in maps)
        groups: dict[tuple[int, int], list[int]] = {}
        for i, m in enumerate(maps):
            groups.setdefault((m.width, m.height), []).append(i)
        self.groups: list[_Group] = []
        for (w, h), idx in groups.items():
            chans, cw = [], []
            for i in idx:
                nf = len(maps[i].fitted)
                chans += list(range(self.first[i], self.first[i] + nf))
                cw += [maps[i].weight / wsum / nf] * nf
            target = torch.cat([self.targets[i] for i in idx], -1)
            self.groups.append(_Group(w, h, chans, target, torch.tensor(cw, device=device),
                                      w / self.W, h / self.H, cfg.tile))
        self.full_groups = self.groups
        self.coarse_groups = [_half_resolution(g) for g in self.groups]
        # sparse steps: one of the four 2x2 lattices (a repeating axis needs even sizes so the
        # lattice is itself periodic)
        self.can_sparse = all(min(g.width, g.height) >= 2 * cfg.tile
                              and (not cfg.repeat_x or g.width % 2 == 0)
                              and (not cfg.repeat_y or g.height % 2 == 0)
                              for g in self.groups)
        self.lattices = [[_lattice(g, px, py, max(4, cfg.tile // 2)) for g in self.groups]
                         for py in (0, 1) for px in (0, 1)] if self.can_sparse else []
        self.fallback = torch.cat([t.reshape(-1, t.shape[-1]).mean(0) for t in self.targets])
        # colours stay inside each channel's range in the target (a blend is a weighted mean,
        # so values outside it buy little, and the quantization range stays tight)
        self.color_lo = torch.cat([t.reshape(-1, t.shape[-1]).min(0).values
                                   for t in self.targets])
        self.color_hi = torch.cat([t.reshape(-1, t.shape[-1]).max(0).values
                                   for t in self.targets])
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.log2_min = -1.5  # sigma >= 0.35 texel
        self.log2_max = math.log2(max(0.5, min(self.W, self.H) / 6.0))
        self.size = torch.tensor([float(self.W), float(self.H)], device=device)
        # positions are optimized in UV; their step is set in texels (spacing is about the
        # same at any texture size for a given bits-per-texel budget)
        self.lr_uv = cfg.lr_pos / max(self.W, self.H)
        # the CPU kernel's kept rankings, per group (cfg.rank_every; render_cpu.RankReuse)
        self.rankings: dict[tuple[int, int], render_cpu.RankReuse] = {}
        # a set's loss in PSNR form: each map's MSE at the last step (detached; None before
        # the first step on the current targets), which linearizes the loss (render_loss)
        self.last_map_mse: torch.Tensor | None = None  # [maps]
        self.map_of_chan = torch.tensor([i for i, m in enumerate(maps) for _ in m.fitted],
                                        device=device)

    def reset_ranking(self) -> None:
        """Rank afresh at the next step: Gaussians were added or moved, or the texels
        changed."""
        for r in self.rankings.values():
            r.reset()

    def use_coarse(self, coarse: bool) -> None:
        """Fit against half-resolution targets (coarse-to-fine: a quarter of the texels per
        step) or the full ones. The Gaussians stay in the asset grid either way."""
        self.groups = self.coarse_groups if coarse else self.full_groups
        self.reset_ranking()
        self.last_map_mse = None  # other targets: another error level

    def use_lattice(self, phase: int) -> None:
        """Fit against one texel of every 2x2 block (lattice ``phase`` 0..3: offsets
        (phase % 2, phase // 2)): a quarter of the texels per step, each an unbiased sample
        of the full-resolution error. ``use_coarse(False)`` returns to every texel."""
        self.groups = self.lattices[phase]
        self.reset_ranking()

    def _to_grid(self, img: torch.Tensor) -> torch.Tensor:
        """A [h, w] map resampled to the asset grid [H, W] (bilinear)."""
        if img.shape == (self.H, self.W):
            return img
        return F.interpolate(img[None, None], size=(self.H, self.W), mode="bilinear",
                             align_corners=False)[0, 0]

    def texel_params(self, idx: torch.Tensor, n_total: int):
        """Parameters of new Gaussians at texels ``idx`` (host tensors)."""
        x = (idx % self.W).float()
        y = (idx // self.W).float()
        jit = torch.rand(idx.shape[0], 2, generator=self.gen) - 0.5
        uv = torch.stack([(x + 0.5 + jit[:, 0] * 0.5) / self.W,
                          (y + 0.5 + jit[:, 1] * 0.5) / self.H], 1)
        spacing = math.sqrt(self.W * self.H / max(1, n_total))
        l0 = min(max(math.log2(0.5 * spacing), self.log2_min), self.log2_max)
        log2s = torch.full((idx.shape[0], 2), l0)
        theta = torch.zeros(idx.shape[0])
        cols = []
        for m, t in zip(self.maps, self.targets_host):
            mx = torch.clamp((uv[:, 0] * m.width).long(), 0, m.width - 1)
            my = torch.clamp((uv[:, 1] * m.height).long(), 0, m.height - 1)
            cols.append(t[my, mx])
        return uv, log2s, theta, torch.cat(cols, 1).clone()

    def _extra(self, idx: torch.Tensor, n: int) -> torch.Tensor:
        if idx.shape[0] < n:  # tiny textures: allow repeats
            extra = torch.randint(0, self.W * self.H, (n - idx.shape[0],), generator=self.gen)
            idx = torch.cat([idx, extra])
        return idx

    def initial(self, n: int) -> _Model:
        grad = torch.zeros(self.H, self.W)
        for m, t in zip(self.maps, self.targets_host):
            g = self._to_grid(_sobel_sq(t.mean(-1)))
            grad += m.weight * g / g.sum().clamp_min(1e-12)
        prob = 0.7 * grad / grad.sum().clamp_min(1e-12) + 0.3 / (self.W * self.H)
        idx = self._extra(_sample_texels(prob, n, self.gen), n)
        return _Model(*(p.to(self.dev) for p in self.texel_params(idx, n)))

    def error_map(self, images: list[torch.Tensor]) -> torch.Tensor:
        """Weighted squared error of every group, on the asset grid [H, W]."""
        err = torch.zeros(self.H, self.W, device=self.dev)
        for g, img in zip(self.groups, images):
            e = (((img.detach() - g.target) ** 2) * g.cweight).sum(-1)
            err += self._to_grid(e) * (g.width * g.height) / (self.W * self.H)
        return err

    def grow(self, model: _Model, images: list[torch.Tensor], n_add: int,
             n_total: int) -> _Model:
        self.reset_ranking()
        err = self.error_map(images)
        err = F.avg_pool2d(err[None, None], 5, stride=1, padding=2, count_include_pad=False)[0, 0]
        # sampled on the host with the fit's generator: the same draws on any device
        idx = self._extra(_sample_texels(err.cpu() + 1e-12, n_add, self.gen), n_add)
        return model.extend(*(p.to(self.dev) for p in self.texel_params(idx, n_total)))

    def blend_scores(self, model: _Model) -> tuple[torch.Tensor, torch.Tensor]:
        """(mass [N], contrast [N]) of every Gaussian, with s_i = w_i / den its normalized
        blend weight at a texel and T the blend there. mass: sum over texels of s_i, how many
        texels' worth of colour it supplies (a smaller map's texels count for the asset
        grid's). contrast: sum_p s_i(p) * sum_c cweight_c (c_ic - T_c(p))^2, per map a mean
        over its texels; a Gaussian that only repeats what its neighbours blend scores low,
        one that draws an edge scores high. From one extra render: the backward of a render
        of zero colours, fed 1, T and T^2 as the image gradient, gives sum s_i, sum s_i T and
        sum s_i T^2."""
        uv, log2s, theta, colors = (p.detach() for p in model.tensors())
        means, conics = self.geometry(uv, log2s, theta)
        n = means.shape[0]
        mass = torch.zeros(n, device=self.dev)
        contrast = torch.zeros(n, device=self.dev)
        cfg = self.cfg
        for g in self.groups:
            m, cn, cols, fb = self._in_group(g, means, conics, colors)
            k = cols.shape[1]
            with torch.no_grad():
                blend = render(m, cn, cols, fb, g.width, g.height, cfg.top_k, g.tile,
                               cfg.repeat_x, cfg.repeat_y)
            x = torch.zeros(n, 1 + 2 * k, device=self.dev, requires_grad=True)
            img = render(m, cn, x, torch.zeros(1 + 2 * k, device=self.dev), g.width, g.height,
                         cfg.top_k, g.tile, cfg.repeat_x, cfg.repeat_y)
            img.backward(torch.cat([torch.ones_like(blend[..., :1]), blend, blend * blend], -1))
            m0, m1, m2 = x.grad[:, :1], x.grad[:, 1:1 + k], x.grad[:, 1 + k:]
            mass += m0[:, 0] * (self.W * self.H) / (g.width * g.height)
            per = (cols * cols * m0 - 2.0 * cols * m1 + m2).clamp_min(0.0)
            contrast += (per * g.cweight).sum(1) / (g.width * g.height)
        return mass, contrast

    def relocate(self, model: _Model, images: list[torch.Tensor], fraction: float,
                 n_total: int) -> _Model:
        """Move the ``fraction`` of Gaussians with the lowest score (``cfg.relocate_by``: the
        contrast or the mass of :meth:`blend_scores`) to texels drawn by the current error
        (as :meth:`grow` places new ones). Each moved Gaussian keeps its slot, so its LOD
        level and the budget stay as they are. The caller starts a fresh
        optimizer, as after a growth round (keeping the moments of the Gaussians that stayed
        measured worse: the restart itself is part of what helps)."""
        self.reset_ranking()
        n_move = int(model.uv.shape[0] * fraction)
        if n_move < 1:
            return model
        mass, contrast = self.blend_scores(model)
        score = contrast if self.cfg.relocate_by == "contrast" else mass
        low = torch.argsort(score.cpu(), stable=True)[:n_move]
        err = self.error_map(images)
        err = F.avg_pool2d(err[None, None], 5, stride=1, padding=2, count_include_pad=False)[0, 0]
        idx = self._extra(_sample_texels(err.cpu() + 1e-12, n_move, self.gen), n_move)
        params = [p.detach().clone() for p in model.tensors()]
        for dst, src in zip(params, self.texel_params(idx, n_total)):
            dst[low.to(self.dev)] = src.to(self.dev)
        return _Model(*params)

    def geometry(self, uv, log2s, theta):
        if self.cfg.repeat_x or self.cfg.repeat_y:
            rep = torch.tensor([self.cfg.repeat_x, self.cfg.repeat_y], device=self.dev)
            uv = torch.where(rep, torch.remainder(uv, 1.0), uv)
        means = uv * self.size
        return means, _conics(log2s, theta)

    def render(self, model: _Model, spec: QuantSpec | None,
               count: int | None = None) -> list[torch.Tensor]:
        """One image per group, [h, w, k] each."""
        cfg = self.cfg
        return [render(*inputs, g.width, g.height, cfg.top_k, g.tile, cfg.repeat_x,
                       cfg.repeat_y)
                for g, inputs in zip(self.groups, self._group_inputs(model, spec, count))]

    def _group_inputs(self, model: _Model, spec: QuantSpec | None, count: int | None = None):
        """Per group, the renderer's inputs (means and conics in the group's texel grid, its
        colours and fallback) from the first ``count`` Gaussians of ``model`` (all: None),
        through the stored quantization when ``spec`` is given."""
        uv, log2s, theta, colors = model.tensors()
        if count is not None:
            uv, log2s, theta, colors = uv[:count], log2s[:count], theta[:count], colors[:count]
        if spec is not None:
            uv, log2s, theta, colors = fake_quantize(spec, uv, log2s, theta, colors)
        means, conics = self.geometry(uv, log2s, theta)
        return [self._in_group(g, means, conics, colors) for g in self.groups]

    def _in_group(self, g: _Group, means: torch.Tensor, conics: torch.Tensor,
                  colors: torch.Tensor):
        """Means and conics in group ``g``'s texel grid, its colours and fallback."""
        m, cn = means, conics
        if g.sx != 1.0 or g.sy != 1.0:
            m = means * torch.tensor([g.sx, g.sy], device=self.dev)
            cn = conics * torch.tensor([1 / (g.sx * g.sx), 1 / (g.sx * g.sy),
                                        1 / (g.sy * g.sy)], device=self.dev)
        if g.ox != 0.0 or g.oy != 0.0:  # a sparse step's lattice
            m = m + torch.tensor([g.ox, g.oy], device=self.dev)
        cols = colors if len(g.chans) == self.C else colors[:, g.chans]
        fb = self.fallback if len(g.chans) == self.C else self.fallback[g.chans]
        return m, cn, cols, fb

    def channel_mse(self, images: list[torch.Tensor]) -> list[torch.Tensor]:
        """Per-channel MSE [k] of every group (mean over its texels), differentiable with
        one fused gradient (:class:`~texgs.bake.render.ChannelMSE`)."""
        return [ChannelMSE.apply(img, g.target) for g, img in zip(self.groups, images)]

    def render_mse(self, model: _Model,
                   spec: QuantSpec | None) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """(:meth:`render` images without gradient, :meth:`channel_mse` of them with
        gradient), from one fused kernel pass per group where the renderer has one."""
        cfg = self.cfg
        images, chan = [], []
        for g, (m, cn, cols, fb) in zip(self.groups, self._group_inputs(model, spec)):
            img, mse = render_mse(m, cn, cols, fb, g.target, g.width, g.height, cfg.top_k,
                                  g.tile, cfg.repeat_x, cfg.repeat_y)
            images.append(img)
            chan.append(mse)
        return images, chan

    @property
    def loss_is_linear(self) -> bool:
        """Whether :meth:`render_loss` can form the loss's gradient in one pass: the loss is a
        weighted sum of channel MSEs (one map, or a set with ``set_loss == "mse"``), or a
        set's PSNR-form loss once a step has measured every map's MSE
        (:meth:`linear_weights`)."""
        return self.loss_is_fixed_sum or self.last_map_mse is not None

    @property
    def loss_is_fixed_sum(self) -> bool:
        """Whether :meth:`loss` is the fixed weighted sum of channel MSEs (:meth:`mse`): one
        map, or a set with ``set_loss == "mse"``; otherwise the set's PSNR form."""
        return len(self.maps) == 1 or self.cfg.set_loss == "mse"

    def linear_weights(self, g: _Group) -> torch.Tensor:
        """Per-channel weights [k] of group ``g`` whose weighted sum of channel MSEs has the
        gradient of :meth:`loss`. For a set's PSNR-form loss, sum_m w_m log(MSE_m), that
        gradient is sum_m w_m / MSE_m * dMSE_m: each channel's weight divided by its map's
        MSE, taken from the step before (a one-step lag; equal gradients when the MSEs are
        the same)."""
        if self.loss_is_fixed_sum:
            return g.cweight
        return g.cweight * (1.0 / (self.last_map_mse[self.map_of_chan[g.chans]] + 1e-10))

    def note_map_mse(self, chan: list[torch.Tensor]) -> None:
        """Keep every map's MSE from this step's channel MSEs (:meth:`linear_weights`)."""
        if not self.loss_is_fixed_sum:
            self.last_map_mse = torch.stack(self.map_mse(None, chan)).detach()

    def render_loss(self, model: _Model, spec: QuantSpec | None
                    ) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
        """(:meth:`render` images without gradient, :meth:`mse` without gradient, a loss
        with :meth:`loss`'s gradient) when :attr:`loss_is_linear`, rendered and
        differentiated in one kernel pass per group where the renderer has one. The same
        values and gradients as :meth:`render_mse` then :meth:`loss`; for a set's PSNR-form
        loss the returned loss is its linearization (:meth:`linear_weights`), whose value
        is not the log loss's."""
        cfg = self.cfg
        images, mse, total, chans = [], 0.0, 0.0, []
        for g, (m, cn, cols, fb) in zip(self.groups, self._group_inputs(model, spec)):
            reuse = self.rankings.get((g.width, g.height))
            if reuse is None:
                reuse = self.rankings[g.width, g.height] = render_cpu.RankReuse(cfg.rank_every)
            img, chan, loss = render_weighted_mse(m, cn, cols, fb, g.target,
                                                  self.linear_weights(g),
                                                  g.width, g.height, cfg.top_k,
                                                  g.tile,
                                                  cfg.repeat_x, cfg.repeat_y, reuse=reuse)
            images.append(img)
            chans.append(chan)
            mse = mse + (chan * g.cweight).sum()
            total = total + loss
        self.note_map_mse(chans)
        return images, mse, total

    def map_mse(self, images: list[torch.Tensor],
                chan: list[torch.Tensor] | None = None) -> list[torch.Tensor]:
        """MSE of every map (mean over its texels and fitted channels), in the fit space.
        ``chan``: :meth:`channel_mse` of ``images`` when already computed."""
        chan = self.channel_mse(images) if chan is None else chan
        per_chan: list = [None] * self.C
        for g, v in zip(self.groups, chan):
            for j, c in enumerate(g.chans):
                per_chan[c] = v[j]
        return [torch.stack(per_chan[f:f + len(m.fitted)]).mean()
                for f, m in zip(self.first, self.maps)]

    def mse(self, images: list[torch.Tensor],
            chan: list[torch.Tensor] | None = None) -> torch.Tensor:
        """The weighted mean of per-map MSEs (what progress reports as PSNR)."""
        chan = self.channel_mse(images) if chan is None else chan
        total = 0.0
        for g, v in zip(self.groups, chan):
            total = total + (v * g.cweight).sum()
        return total

    def loss(self, images: list[torch.Tensor],
             chan: list[torch.Tensor] | None = None) -> torch.Tensor:
        """The training loss. One map: its MSE. A set with ``set_loss == "psnr"``: the
        weighted mean of log per-map MSEs, i.e. minus the weighted mean of per-map PSNRs
        (a map that is already good still counts: its errors are relatively expensive);
        ``"mse"``: the weighted mean of per-map MSEs."""
        chan = self.channel_mse(images) if chan is None else chan
        if self.loss_is_fixed_sum:
            return self.mse(images, chan)
        wsum = sum(m.weight for m in self.maps)
        total = 0.0
        for m, e in zip(self.maps, self.map_mse(images, chan)):
            total = total + (m.weight / wsum) * torch.log(e + 1e-10)
        return total

    def l1_ssim(self, images: list[torch.Tensor]) -> torch.Tensor:
        total = 0.0
        for g, img in zip(self.groups, images):
            share = g.cweight.sum()
            total = total + share * l1_ssim_loss(img, g.target, self.cfg.ssim_weight)
        return total

    def clamp_(self, model: _Model) -> None:
        with torch.no_grad():
            model.log2s.clamp_(self.log2_min, self.log2_max)
            if self.cfg.clamp_colors:
                model.colors.copy_(torch.maximum(torch.minimum(model.colors, self.color_hi),
                                                 self.color_lo))
            lo = torch.tensor([0.0 if not self.cfg.repeat_x else -math.inf,
                               0.0 if not self.cfg.repeat_y else -math.inf], device=self.dev)
            hi = torch.tensor([1.0 - 1e-6 if not self.cfg.repeat_x else math.inf,
                               1.0 - 1e-6 if not self.cfg.repeat_y else math.inf],
                              device=self.dev)
            model.uv.copy_(torch.maximum(torch.minimum(model.uv, hi), lo))
            if self.cfg.repeat_x or self.cfg.repeat_y:
                rep = torch.tensor([self.cfg.repeat_x, self.cfg.repeat_y], device=self.dev)
                model.uv.copy_(torch.where(rep, torch.remainder(model.uv, 1.0), model.uv))

    def optimizer(self, model: _Model) -> "_Adam":
        c = self.cfg
        return _Adam([model.uv, model.log2s, model.theta, model.colors],
                     [self.lr_uv, c.lr_scale, c.lr_rot, c.lr_color])


class _Adam:
    """Adam (Kingma and Ba; PyTorch's defaults: betas 0.9 / 0.999, eps 1e-8), one learning
    rate per parameter tensor, with the in-place update sequence of ``torch.optim.Adam``'s
    single-tensor path (the same bytes). Written out because constructing the first
    ``torch.optim`` optimizer of a process imports much of PyTorch's compiler stack, a
    second or more of set-up for a small bake, and its per-step bookkeeping is more than
    these four tensors need."""

    def __init__(self, params: list[torch.Tensor], lrs: list[float],
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        self.params = params
        self.lrs = list(lrs)
        self.b1, self.b2 = betas
        self.eps = eps
        self.t = 0
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        self.t += 1
        bc1 = 1.0 - self.b1 ** self.t
        bc2_sqrt = math.sqrt(1.0 - self.b2 ** self.t)
        for p, m, v, lr in zip(self.params, self.m, self.v, self.lrs):
            g = p.grad
            if g is None:
                continue
            m.lerp_(g, 1.0 - self.b1)
            v.mul_(self.b2).addcmul_(g, g, value=1.0 - self.b2)
            denom = (v.sqrt() / bc2_sqrt).add_(self.eps)
            p.addcdiv_(m, denom, value=-lr / bc1)


def _psnr_of(mse: torch.Tensor | float) -> float:
    v = float(mse)
    return math.inf if v <= 0 else -10.0 * math.log10(v)


@dataclass
class MapResult:
    """One map of a bake: where it came from, its size, its quality at every LOD prefix."""

    name: str
    kind: int
    path: str
    width: int
    height: int
    quality: MapQuality
    lod_psnr: list[float]
    decoded: np.ndarray = field(repr=False, default=None)
    note: str = ""  # how the map was stored, where that is worth telling (PreparedMap.note)
    weight: float = 1.0  # its loss weight in the set (material.DEFAULT_WEIGHTS, --weight)

    @property
    def psnr(self) -> float:
        return self.quality.psnr


def _decode_maps_with_kernel(asset: fmt.Asset, lod: int,
                             device: torch.device = torch.device("cpu")) -> list[np.ndarray]:
    """Like ``decode_maps(asset, lod=lod)``, rendered by the compiled kernel (CPU or GPU, by
    ``device``) from the dequantized records (``runtime.dequantize``, the decoder's own
    arithmetic). Used for the LOD-prefix PSNRs at the end of a bake, where the NumPy decoder
    dominated the time."""
    g = dequantize(asset, asset.prefix_count(lod))
    maps = asset.map_table()
    out: list[np.ndarray] = [None] * len(maps)  # type: ignore[list-item]
    by_size: dict[tuple[int, int], list[int]] = {}
    for i, m in enumerate(maps):
        by_size.setdefault((m.width, m.height), []).append(i)
    means = torch.from_numpy(g.means).to(device)
    conics = torch.from_numpy(g.conics).to(device)
    colors = torch.from_numpy(g.colors).to(device)
    fallback = torch.from_numpy(g.fallback).to(device)
    for (w, h), idx in by_size.items():
        sx, sy = w / asset.width, h / asset.height
        m_, c_ = means, conics
        if (sx, sy) != (1.0, 1.0):  # a map smaller than the grid: its own texel centres
            m_ = means * torch.tensor([sx, sy], device=device)
            c_ = conics * torch.tensor([1 / (sx * sx), 1 / (sx * sy), 1 / (sy * sy)],
                                       device=device)
        with torch.no_grad():
            full = render(m_, c_, colors, fallback, w, h, asset.top_k, asset.tile_size,
                          g.repeat_x, g.repeat_y).cpu().numpy()
        for i in idx:
            m = maps[i]
            out[i] = finish_map(m, asset, full[..., m.first_channel:m.first_channel +
                                               m.channel_count])
    return out


def bake_array(target: np.ndarray, channels: list[fmt.ChannelInfo], cfg: BakeConfig,
               progress: Callable[[Progress], None] | None = None) -> BakeResult:
    """Fit one texture ``target`` [H, W, C] (float32 in its stored encoding): a set of one map
    whose kind is ``channels[0].map_kind``."""
    H, W, C = target.shape
    if len(channels) != C:
        raise OptionError(f"{len(channels)} channel descriptions for {C} channels")
    pm = prepare_map(MapSource(channels[0].map_kind, "array"), target, hdr=False)
    return bake_set([pm], cfg, progress)


def bake_set(maps: list[PreparedMap], cfg: BakeConfig,
             progress: Callable[[Progress], None] | None = None) -> BakeResult:
    """Fit one Gaussian geometry to every map of a set and build the asset bytes.

    With ``cfg.color_search`` (the ``max`` preset), a bake that reaches
    ``cfg.color_search_above`` dB, or loses ``cfg.color_search_loss`` dB or more from its
    float fit to the stored asset, is baked again with wider colours (``WIDE_COLOR_BITS``
    in turn: fewer Gaussians in the same file size) while that gains, and the best by PSNR
    is kept: flat, cartoon-like textures are limited by 8-bit colour steps, not by the
    Gaussian count (docs/BAKING.md "Colour width")."""
    cfg.validate()
    t0 = time.perf_counter()
    best = _bake_once(maps, cfg, progress)
    ldr = any(comp in m.fitted and ch.encoding != fmt.ENCODING_LOG2
              for m in maps for comp, ch in enumerate(m.channels))
    if not (cfg.color_search and ldr and
            (best.psnr >= cfg.color_search_above or
             best.psnr_float - best.psnr >= cfg.color_search_loss)):
        return best
    tried = [f"{cfg.color_bits}-bit {format_db(best.psnr)} dB"]
    kept = cfg.color_bits
    for n, bits in enumerate(b for b in WIDE_COLOR_BITS if b > cfg.color_bits):
        def on_wide(p: Progress, k: int = n + 1, bits: int = bits) -> None:
            # each try continues the progress of the ones before it
            progress(Progress(p.step + k * cfg.steps, (k + 1) * cfg.steps, p.gaussians,
                              p.psnr, f"{bits}-bit colours"))

        try:
            wide = _bake_once(maps, replace(cfg, color_bits=bits),
                              on_wide if progress is not None else None)
        except OptionError:  # the wider records leave too few Gaussians for the LOD levels
            tried.append(f"{bits}-bit: budget too small")
            break
        tried.append(f"{bits}-bit {format_db(wide.psnr)} dB")
        if wide.psnr <= best.psnr:
            break
        best, kept = wide, bits
    best.color_search = f"colour widths tried: {', '.join(tried)}; kept {kept}-bit"
    best.seconds = time.perf_counter() - t0
    return best


def _bake_once(maps: list[PreparedMap], cfg: BakeConfig,
               progress: Callable[[Progress], None] | None = None) -> BakeResult:
    """One fit of ``maps`` with ``cfg`` and its asset (:func:`bake_set` without the colour
    width search)."""
    t0 = time.perf_counter()
    W = max(m.width for m in maps)
    H = max(m.height for m in maps)
    fit_bits: list[int] = []  # per fitted channel
    all_bits: list[int] = []  # per channel of the asset (0: constant or rebuilt)
    for m in maps:
        for comp, ch in enumerate(m.channels):
            if comp in m.fitted:
                log = ch.encoding == fmt.ENCODING_LOG2
                fit_bits.append(cfg.hdr_color_bits if log else cfg.color_bits)
                all_bits.append(fit_bits[-1])
            else:
                all_bits.append(0)
    counts = plan_budget(W, H, tuple(all_bits), cfg, n_maps=len(maps))
    total = sum(counts)
    dev = pick_device(cfg.device)
    prev_threads = torch.get_num_threads()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    threads = contextlib.ExitStack()
    try:
        if dev.type == "cpu" and backend_name() == "cpu-kernel":
            # the kernels on every thread, PyTorch's small per-step operations on one (its
            # idle OpenMP workers spin and took a core from the kernels)
            threads.enter_context(render_cpu.kernel_threads(torch.get_num_threads()))
        fit = _Fitter(maps, cfg, dev)
        model = fit.initial(counts[0])
        opt = fit.optimizer(model)
        steps = cfg.steps
        grow_at = [round(steps * cfg.grow_until * r / max(1, len(counts) - 1))
                   for r in range(1, len(counts))] if len(counts) > 1 else []
        qat_start = steps - int(round(steps * cfg.qat_fraction))
        mse_start = 0 if cfg.loss == "mse" else steps - int(round(steps * cfg.mse_fraction))
        decay_start = max(grow_at[-1] if grow_at else 0, int(steps * 0.6))
        coarse_end = int(round(steps * cfg.coarse_fraction))
        # sparse steps (after the coarse ones): one 2x2 lattice each, the four in turn
        sparse_end = coarse_end + int(round(steps * cfg.sparse_fraction)) \
            if fit.can_sparse else coarse_end
        relocate_at = {int(round(steps * f)) for f in cfg.relocate_at}
        fit.use_coarse(coarse_end > 0)
        spec: QuantSpec | None = None
        level = 1
        images = None
        for step in range(steps):
            if step == coarse_end and coarse_end > 0:  # coarse-to-fine: now the full targets
                fit.use_coarse(False)
                images = None
            sparse = coarse_end <= step < sparse_end
            # sparse steps: grow and relocate read full-resolution errors; after the last
            # one, back to the full targets
            if sparse or (step == sparse_end and sparse_end > coarse_end):
                fit.use_coarse(False)
                images = None
            if step in relocate_at and level == len(counts):
                if images is None:
                    with torch.no_grad():
                        images = fit.render(model, spec)
                model = fit.relocate(model, images, cfg.relocate_fraction, total)
                opt = fit.optimizer(model)
            while level < len(counts) and step >= grow_at[level - 1]:
                if images is None:
                    with torch.no_grad():
                        images = fit.render(model, spec)
                model = fit.grow(model, images, counts[level], sum(counts[:level + 1]))
                level += 1
                opt = fit.optimizer(model)
            if sparse:  # diagonal neighbours in turn: (0, 0), (1, 1), (1, 0), (0, 1)
                fit.use_lattice((0, 3, 1, 2)[(step - coarse_end) % 4])
            if spec is None and step >= qat_start:
                spec = make_spec(model.log2s.detach(), model.colors.detach(), cfg.pos_bits,
                                 cfg.scale_bits, cfg.rot_bits, tuple(fit_bits))
            mult = 1.0
            if step >= decay_start and steps > decay_start:
                frac = (step - decay_start) / (steps - decay_start)
                mult = cfg.lr_final ** frac
            opt.lrs = [base * mult for base in (fit.lr_uv, cfg.lr_scale, cfg.lr_rot,
                                                cfg.lr_color)]
            if step >= mse_start and fit.loss_is_linear:  # render, loss and gradients: one pass
                images, mse, loss = fit.render_loss(model, spec)
            elif step >= mse_start:  # MSE loss: the render and its error in one kernel pass
                images, chan = fit.render_mse(model, spec)
                mse = fit.mse(images, chan)
                loss = fit.loss(images, chan)
                fit.note_map_mse(chan)
            else:
                images = fit.render(model, spec)
                mse = fit.mse(images)
                loss = fit.l1_ssim(images)
            opt.zero_grad()
            loss.backward()
            opt.step()
            fit.clamp_(model)
            if progress is not None and (step % 10 == 0 or step == steps - 1):
                progress(Progress(step + 1, steps, model.uv.shape[0], _psnr_of(mse.detach()),
                                  "fit"))
        fit.use_coarse(False)
        while level < len(counts):  # steps too few to reach every round
            with torch.no_grad():
                images = fit.render(model, spec)
            model = fit.grow(model, images, counts[level], sum(counts[:level + 1]))
            level += 1
        with torch.no_grad():
            # per map, in the fit space (HDR maps: peak = the target's log2 span), averaged
            per_map = []
            for m, t, e in zip(maps, fit.targets, fit.map_mse(fit.render(model, None))):
                peak = max(float(t.max() - t.min()), 1e-6) if m.hdr else 1.0
                per_map.append(_psnr_of(float(e) / (peak * peak)))
            psnr_float = float(np.mean(per_map))
        if spec is None:
            spec = make_spec(model.log2s.detach(), model.colors.detach(), cfg.pos_bits,
                             cfg.scale_bits, cfg.rot_bits, tuple(fit_bits))
        uv, log2s, theta, colors = (p.detach().cpu() for p in model.tensors())
        if cfg.repeat_x or cfg.repeat_y:
            rep = torch.tensor([cfg.repeat_x, cfg.repeat_y])
            uv = torch.where(rep, torch.remainder(uv, 1.0), uv)
    finally:
        threads.close()
        torch.set_num_threads(prev_threads)
    fitted_fields = to_fields(spec, uv.numpy(), log2s.numpy(), theta.numpy(), colors.numpy())
    n_all = sum(len(m.channels) for m in maps)
    fields = np.zeros((total, 5 + n_all), np.uint32)
    fields[:, :5] = fitted_fields[:, :5]
    chans: list[fmt.ChannelInfo] = []
    table: list[fmt.MapInfo] = []
    k = 0
    for m in maps:
        table.append(fmt.MapInfo(m.kind, m.width, m.height, len(chans), len(m.channels), m.flags))
        for comp, ch in enumerate(m.channels):
            if comp in m.fitted:
                fields[:, 5 + len(chans)] = fitted_fields[:, 5 + k]
                chans.append(fmt.ChannelInfo(m.kind, comp, ch.encoding, fit_bits[k],
                                             spec.color_lo[k], spec.color_hi[k],
                                             float(np.float32(fit.fallback[k].item()))))
                k += 1
            else:
                chans.append(ch)
    # each LOD chunk in Morton order of its centres (docs/FORMAT.md "Record order"): the same
    # Gaussians, neighbours next to each other, which the download container codes smaller
    fields = fields[chunk_morton_order(fields, counts)]
    asset = fmt.Asset(width=W, height=H, channels=chans,
                      layout=fmt.RecordLayout(cfg.pos_bits, cfg.scale_bits, cfg.rot_bits,
                                              tuple(c.bits for c in chans)),
                      log2_scale_min=spec.log2_scale_min, log2_scale_max=spec.log2_scale_max,
                      fields=fields, lod_counts=counts, top_k=cfg.top_k, tile_size=cfg.tile,
                      address_x=fmt.ADDRESS_REPEAT if cfg.repeat_x else fmt.ADDRESS_CLAMP,
                      address_y=fmt.ADDRESS_REPEAT if cfg.repeat_y else fmt.ADDRESS_CLAMP,
                      maps=table)
    data = fmt.write_asset(asset)
    asset = fmt.read_asset(data)
    lod_psnr: list[list[float]] = [[] for _ in maps]
    decoded: list[np.ndarray] = []
    on_gpu = dev.type == "cuda"
    for lod in range(1, len(counts) + 1):
        # Every prefix through the compiled renderer (CPU or GPU) where there is one: the
        # decoder's math on the dequantized records, equal to float rounding (tested against
        # texgs.decode); the NumPy decoder took 11 s of a 2048x2048 bake. Without a compiled
        # kernel, the NumPy decoder (faster than the PyTorch renderer).
        fast = on_gpu or backend_name() == "cpu-kernel"
        decoded = (_decode_maps_with_kernel(asset, lod, dev) if fast
                   else decode_maps(asset, lod=lod))
        for i, (m, img) in enumerate(zip(maps, decoded)):
            lod_psnr[i].append(map_quality(m.kind, m.reference, img, m.informative,
                                           m.alpha_component, m.hdr).psnr)
    results = []
    for i, (m, img) in enumerate(zip(maps, decoded)):
        q = map_quality(m.kind, m.reference, img, m.informative, m.alpha_component, m.hdr)
        results.append(MapResult(m.name, m.kind, m.path, m.width, m.height, q, lod_psnr[i],
                                 img, m.note, m.weight))
    mean_lod = [float(np.mean([lp[j] for lp in lod_psnr])) for j in range(len(counts))]
    return BakeResult(data=data, asset=asset, width=W, height=H, channels=n_all,
                      gaussians=total, lod_counts=counts, psnr=mean_lod[-1],
                      psnr_float=psnr_float, lod_psnr=mean_lod,
                      seconds=time.perf_counter() - t0,
                      decoded=decoded[0] if len(maps) == 1 else None, maps=results,
                      renderer=backend_name(dev.type))
