"""Plain-PyTorch renderers of the texgs blend (docs/FORMAT.md "Decoding").

``_render_dense``: every Gaussian at every texel, no tiles; the reference the fast paths are
tested against (small scenes only). ``_render_tiled_torch``: the same math through tile
candidate lists, batched over tiles; the fallback when no C++ compiler is found. Both are
differentiable by autograd; rank selection (top-K, cutoff) carries no gradient, as in
``texgs_forward`` / ``texgs_backward`` of render_cpu.cpp, which they mirror.

Shapes: means [N, 2] texel units; conics [N, 3] (a, b, c); colors [N, C]; fallback [C];
result [H, W, C], evaluated at texel centres (x + 0.5, y + 0.5).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..format import BLEND_EPS, CUTOFF_Q
from ..runtime import GaussianSet, build_tile_index

_W_CUT = math.exp(-0.5 * CUTOFF_Q)


def _wrap(d: torch.Tensor, size: int) -> torch.Tensor:
    return d - size * torch.floor(d / size + 0.5)


def _blend(q: torch.Tensor, ids: torch.Tensor, colors: torch.Tensor, fallback: torch.Tensor,
           k: int) -> torch.Tensor:
    """q [P, L] (inf where not a candidate), ids [P, L] Gaussian ids ascending along L.
    Ranks by (q, id), keeps K, blends. Returns [P, C]."""
    L = q.shape[1]
    kk = min(k, L)
    with torch.no_grad():
        # Stable sort keeps the id order among equal q.
        order = torch.sort(q.detach(), dim=1, stable=True).indices[:, :kk]
    qs = torch.gather(q, 1, order)
    valid = torch.isfinite(qs)
    qs_safe = torch.where(valid, qs, torch.zeros_like(qs))
    w = torch.where(valid, torch.clamp(torch.exp(-0.5 * qs_safe) - _W_CUT, min=0.0),
                    torch.zeros_like(qs))
    gid = torch.gather(ids, 1, order)
    cols = colors[gid]  # [P, kk, C]
    num = (w.unsqueeze(-1) * cols).sum(1) + BLEND_EPS * fallback
    den = w.sum(1, keepdim=True) + BLEND_EPS
    return num / den


def _quad(px, py, means, conics, W, H, rep_x, rep_y):
    dx = px - means[..., 0]
    dy = py - means[..., 1]
    if rep_x:
        dx = _wrap(dx, W)
    if rep_y:
        dy = _wrap(dy, H)
    return conics[..., 0] * dx * dx + 2.0 * conics[..., 1] * dx * dy + conics[..., 2] * dy * dy


def _render_dense(means: torch.Tensor, conics: torch.Tensor, colors: torch.Tensor,
                  fallback: torch.Tensor, W: int, H: int, k: int, rep_x: bool = False,
                  rep_y: bool = False) -> torch.Tensor:
    """Reference: every Gaussian evaluated at every texel centre. Memory O(H W N)."""
    dev = means.device
    ys, xs = torch.meshgrid(torch.arange(H, dtype=means.dtype, device=dev) + 0.5,
                            torch.arange(W, dtype=means.dtype, device=dev) + 0.5, indexing="ij")
    px = xs.reshape(-1, 1)
    py = ys.reshape(-1, 1)
    q = _quad(px, py, means[None], conics[None], W, H, rep_x, rep_y)  # [P, N]
    q = torch.where(q < CUTOFF_Q, q, torch.full_like(q, math.inf))
    ids = torch.arange(means.shape[0], device=dev).expand(q.shape[0], -1)
    return _blend(q, ids, colors, fallback, k).reshape(H, W, -1)


def _render_tiled_torch(means: torch.Tensor, conics: torch.Tensor, colors: torch.Tensor,
                        fallback: torch.Tensor, W: int, H: int, k: int, tile: int = 16,
                        rep_x: bool = False, rep_y: bool = False,
                        tiles_per_batch: int = 64) -> torch.Tensor:
    """Tiled path in plain PyTorch: candidate lists from :func:`build_tile_index`, padded per
    batch of tiles."""
    dev = means.device
    g = GaussianSet(means.detach().cpu().numpy(), conics.detach().cpu().numpy(),
                    colors.detach().cpu().numpy(), fallback.detach().cpu().numpy(), W, H, rep_x,
                    rep_y)
    index = build_tile_index(g, tile)
    ntiles = index.tiles_x * index.tiles_y
    out = torch.empty(H, W, colors.shape[1], dtype=means.dtype, device=dev)
    rows = []
    for b0 in range(0, ntiles, tiles_per_batch):
        tids = np.arange(b0, min(ntiles, b0 + tiles_per_batch))
        counts = index.offsets[tids + 1] - index.offsets[tids]
        L = max(1, int(counts.max()))
        cand = np.zeros((tids.shape[0], L), np.int64)
        mask = np.zeros((tids.shape[0], L), bool)
        for r, t in enumerate(tids):
            c = index.candidates(int(t))
            cand[r, :c.shape[0]] = c
            mask[r, :c.shape[0]] = True
        # texel centres of each tile (tile-local grid, clipped to the texture)
        lx, ly = np.meshgrid(np.arange(tile), np.arange(tile))
        lx, ly = lx.reshape(-1), ly.reshape(-1)
        tx = (tids % index.tiles_x)[:, None] * tile + lx[None]
        ty = (tids // index.tiles_x)[:, None] * tile + ly[None]
        inside = (tx < W) & (ty < H)  # [T, tile*tile]
        cand_t = torch.from_numpy(cand).to(dev)
        m = means[cand_t]  # [T, L, 2]
        cn = conics[cand_t]
        px = torch.from_numpy(tx.astype(np.float32) + 0.5).to(dev)[..., None]  # [T, S, 1]
        py = torch.from_numpy(ty.astype(np.float32) + 0.5).to(dev)[..., None]
        q = _quad(px, py, m[:, None], cn[:, None], W, H, rep_x, rep_y)  # [T, S, L]
        ok = torch.from_numpy(mask).to(dev)[:, None, :] & (q < CUTOFF_Q)
        q = torch.where(ok, q, torch.full_like(q, math.inf))
        S = q.shape[1]
        ids = cand_t[:, None, :].expand(-1, S, -1)
        val = _blend(q.reshape(-1, L), ids.reshape(-1, L), colors, fallback, k)
        val = val.reshape(tids.shape[0], S, -1)
        sel = inside.reshape(-1)
        rows.append((torch.from_numpy(ty.reshape(-1)[sel]).to(dev),
                     torch.from_numpy(tx.reshape(-1)[sel]).to(dev),
                     val.reshape(-1, val.shape[-1])[torch.from_numpy(sel).to(dev)]))
    ys = torch.cat([r[0] for r in rows])
    xs = torch.cat([r[1] for r in rows])
    vals = torch.cat([r[2] for r in rows])
    out = out.index_put((ys, xs), vals)
    return out
