"""A shared colour codebook in the loop (issue 9, "try shared codebooks"): is it worth a
format change?

Not a texgs feature: this bench patches the baker for one experiment. With ``B`` bits of
codebook index, the bake fits as many Gaussians as the same file would hold at 48 + B bits
per Gaussian plus a codebook of 2^B colours at 8 bits per channel. When quantization starts
(``qat_fraction``) the colours are clustered by k-means into 2^B entries, rounded to each
channel's 8-bit grid; from then on every Gaussian's colour is its nearest entry (a
straight-through gradient), and one Lloyd update runs every 25 renders. The asset is written
with each Gaussian's entry as its 8-bit colour, so the PSNR is the real decoder's on the
stored colours; its file is larger than the notional one (72-bit records), which the table
states. Baseline: the same bake (default preset, no colour-width search) without a codebook.

    python bench/bench_codebook.py [--bpp 1] [--bits 8 10 12 10@0.5] [--only NAME]

``10@0.5``: a 10-bit codebook from half-way through the fit instead of the last quarter.
Textures: WoodF's 512x512 centre crop, Pepper, Stucco, canyon_water, tux_wheel.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import texgs.bake.fit as F  # noqa: E402
from texgs.bake import BakeConfig  # noqa: E402
from texgs.images import channel_infos_for  # noqa: E402

SINGLE = ROOT.parent / "shared" / "textures" / "single"
TEXTURES = ("stktex_generic_WoodF.png", "Pepper_clothes_diff.png", "stk_generic_Stucco_a.png",
            "canyon_water.png", "tux_wheel.png")
STATE: dict = {"bits": 0, "book": None, "renders": 0}


class Codebook:
    """2^bits colours [2^bits, C] by k-means, rounded to the 8-bit grid of [lo, hi]."""

    def __init__(self, colors: torch.Tensor, bits: int, lo: torch.Tensor, hi: torch.Tensor):
        self.lo, self.span = lo, (hi - lo).clamp_min(1e-8)
        idx = torch.randperm(colors.shape[0], generator=torch.Generator().manual_seed(0))
        self.cb = colors.detach()[idx[:2 ** bits]].clone()
        for _ in range(20):
            self.lloyd(colors)

    def entries(self) -> torch.Tensor:
        return self.lo + torch.round((self.cb - self.lo) / self.span * 255) / 255 * self.span

    def nearest(self, colors: torch.Tensor) -> torch.Tensor:
        return self.entries()[torch.cdist(colors.detach(), self.cb).argmin(1)]

    def lloyd(self, colors: torch.Tensor) -> None:
        c = colors.detach()
        idx = torch.cdist(c, self.cb).argmin(1)
        sums = torch.zeros_like(self.cb).index_add_(0, idx, c)
        cnt = torch.zeros(self.cb.shape[0]).index_add_(0, idx, torch.ones(c.shape[0]))
        self.cb[cnt > 0] = sums[cnt > 0] / cnt[cnt > 0, None]


def _patch() -> None:
    plan, make_spec, group_inputs, to_fields = (F.plan_budget, F.make_spec,
                                                F._Fitter._group_inputs, F.to_fields)

    def plan_codebook(W, H, bits, cfg, n_maps=1):
        counts = plan(W, H, bits, cfg, n_maps)
        b = STATE["bits"]
        if not b:
            return counts
        geom = 2 * cfg.pos_bits + 2 * cfg.scale_bits + cfg.rot_bits
        avail = sum(counts) * (geom + sum(bits)) - 2 ** b * sum(1 for x in bits if x) * 8
        return plan(W, H, bits, replace(cfg, gaussians=int(avail // (geom + b))), n_maps)

    def make_spec_codebook(log2s, colors, *rest):
        spec = make_spec(log2s, colors, *rest)
        if STATE["bits"] and STATE["book"] is None:
            STATE["book"] = Codebook(colors, STATE["bits"], torch.tensor(spec.color_lo),
                                     torch.tensor(spec.color_hi))
        return spec

    def group_inputs_codebook(self, model, spec, count=None):
        out = group_inputs(self, model, spec, count)
        book = STATE["book"]
        if book is None or spec is None:
            return out
        STATE["renders"] += 1
        if STATE["renders"] % 25 == 0:
            book.lloyd(model.colors)
        return [(m, cn, cols + (book.nearest(cols) - cols).detach(), fb)
                for m, cn, cols, fb in out]

    def to_fields_codebook(spec, uv, log2s, theta, colors):
        if STATE["book"] is not None:
            colors = STATE["book"].nearest(torch.from_numpy(colors)).numpy()
        return to_fields(spec, uv, log2s, theta, colors)

    F.plan_budget, F.make_spec, F.to_fields = plan_codebook, make_spec_codebook, \
        to_fields_codebook
    F._Fitter._group_inputs = group_inputs_codebook


def load(name: str) -> np.ndarray:
    img = np.asarray(Image.open(SINGLE / name).convert("RGB"), np.float32) / 255.0
    h, w = img.shape[:2]
    if (h, w) != (512, 512):
        img = img[h // 2 - 256:h // 2 + 256, w // 2 - 256:w // 2 + 256]
    return np.ascontiguousarray(img)


def bake(img: np.ndarray, bpp: float, bits: int, qat: float) -> tuple[float, int]:
    STATE.update(bits=bits, book=None, renders=0)
    cfg = BakeConfig(bpp=bpp, color_search=False, qat_fraction=qat, device="cpu")
    res = F.bake_array(img, channel_infos_for(3), cfg)
    return res.psnr, res.gaussians


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bpp", type=float, default=1.0)
    ap.add_argument("--bits", nargs="+", default=["8", "10", "12", "10@0.5"])
    ap.add_argument("--only", default="", help="textures whose name contains this")
    args = ap.parse_args()
    names = [n for n in TEXTURES if args.only in n]
    _patch()
    runs = [("8-bit colours", 0, 0.25)] + [
        (f"{b.split('@')[0]}-bit index" + (f", from {b.split('@')[1]}" if "@" in b else ""),
         int(b.split("@")[0]), 1 - float(b.split("@")[1]) if "@" in b else 0.25)
        for b in args.bits]
    print(f"# python bench/bench_codebook.py --bpp {args.bpp} --bits {' '.join(args.bits)}: "
          f"PSNR dB on 8-bit output (Gaussians); default preset without colour search")
    table = {}
    for name in names:
        img = load(name)
        row = [bake(img, args.bpp, b, q) for _, b, q in runs]
        table[name] = row
        print(f"{name:<28} " + "  ".join(f"{p:6.2f} ({n})" for p, n in row), flush=True)
    base = np.array([table[n][0][0] for n in names])
    for i, (label, _, _) in enumerate(runs):
        got = np.array([table[n][i][0] for n in names])
        d = got - base
        print(f"{label:<24} mean {got.mean():6.2f} dB, change {d.mean():+.2f} "
              f"(per texture {d.min():+.2f} .. {d.max():+.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
