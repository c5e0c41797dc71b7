"""Rate control: the smallest asset that reaches a PSNR target (``texgs bake --psnr``), or
that is at least as good as a GPU format on the same texture (``texgs bake --match``).

The search runs :func:`texgs.bake.fit.bake_set` at a few budgets (bits per texel of the
whole file) on maps prepared once. PSNR rises about linearly with log2(bpp), so each next
budget comes from the tries so far: extrapolation along the measured slope (or a prior
slope) until the target is bracketed, then interpolation in log2(bpp) inside the bracket
(kept away from its ends so that it shrinks). Every try also gives the PSNR of each of its
LOD prefixes, which are valid, smaller assets: a prefix that reaches the target bounds the
answer from above, so the search never bakes above it. docs/BAKING.md "Rate control".
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

from .. import format as fmt
from ..errors import OptionError, RateTargetError, UnsupportedError
from ..material import MapSource, PreparedMap, prepare_set
from ..quality import map_quality
from .config import BakeConfig, Progress, plan_budget

#: Largest budget a search may try (bits per texel), unless told otherwise.
MAX_BPP = 16.0
#: Bakes one search may run.
MAX_TRIES = 5
#: PSNR gained per doubling of the budget before two tries have measured it (dB); measured
#: texgs curves (docs/BAKING.md "Rate control") lie between about 3 and 7.
PRIOR_SLOPE = 5.0
#: The search stops when the smallest passing budget is within this factor of a failing one,
REL_TOL = 0.05
#: ... or when a passing try is within this many dB of the target (a smaller budget would
#: miss it).
DB_TOL = 0.1
#: Margins (dB) aimed above the target when extrapolating, so a try is likely to pass.
MARGIN_UP = 0.3
MARGIN_DOWN = 0.1

#: GPU formats --match knows: name -> (family, parameter).
MATCH_FORMATS: dict[str, tuple[str, tuple[int, int] | None]] = {
    **{f"astc-{w}x{h}": ("astc", (w, h)) for (w, h) in sorted(
        {(4, 4), (5, 4), (5, 5), (6, 5), (6, 6), (8, 5), (8, 6), (8, 8), (10, 5), (10, 6),
         (10, 8), (10, 10), (12, 10), (12, 12)})},
    "bc1": ("bc", None),
    "bc7": ("bc", None),
}


def parse_match(name: str) -> str:
    """The canonical --match name (``astc-8x8``, ``bc7``...); accepts ``astc8x8`` and any
    case. Raises :class:`OptionError` naming the known formats."""
    key = name.strip().lower().replace("_", "-")
    if key.startswith("astc") and not key.startswith("astc-"):
        key = "astc-" + key[4:]
    if key not in MATCH_FORMATS:
        raise OptionError(f"--match {name!r}: expected one of {', '.join(MATCH_FORMATS)}")
    return key


def check_match_available(name: str) -> None:
    """Raise :class:`UnsupportedError` now (before any work) when the encoder package that
    ``name`` needs is not installed."""
    family, _ = MATCH_FORMATS[parse_match(name)]
    mods = ("astc_encoder",) if family == "astc" else ("etcpak", "texture2ddecoder")
    for mod in mods:
        try:
            __import__(mod)
        except Exception as e:
            raise UnsupportedError(f"--match {parse_match(name)}: needs the {mod} module "
                                   f"({type(e).__name__}); pip install 'texgs[eval]'") from None


@dataclass
class RateTry:
    """One bake of a search: the budget asked for, what it gave, and its LOD prefixes."""

    bpp: float
    size_bytes: int
    bits_per_texel: float
    gaussians: int
    psnr: float
    lod_psnr: list[float]
    lod_bits_per_texel: list[float]
    reached: bool
    seconds: float

    def as_dict(self) -> dict:
        return {"bpp": self.bpp, "size_bytes": self.size_bytes,
                "bits_per_texel": self.bits_per_texel, "gaussians": self.gaussians,
                "psnr_db": self.psnr, "lod_psnr_db": self.lod_psnr,
                "lod_bits_per_texel": self.lod_bits_per_texel, "reached": self.reached,
                "seconds": self.seconds}


@dataclass
class MatchInfo:
    """The format a --match search matched: its rate and PSNR on the input."""

    format: str
    bits_per_texel: float
    psnr: float
    map_psnr: list[float] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"format": self.format, "bits_per_texel": self.bits_per_texel,
                "psnr_db": self.psnr, "map_psnr_db": self.map_psnr}


@dataclass
class RateResult:
    """A finished search: ``result`` is the bake of ``tries[chosen]``, the smallest try that
    reached ``target_db``."""

    result: object  # texgs.bake.fit.BakeResult
    target_db: float
    tries: list[RateTry]
    chosen: int
    match: MatchInfo | None = None
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return {"target_psnr_db": self.target_db, "tries": [t.as_dict() for t in self.tries],
                "chosen_try": self.chosen + 1,
                "match": self.match.as_dict() if self.match else None,
                "seconds": self.seconds}


def _layout_bits(maps: list[PreparedMap], cfg: BakeConfig) -> tuple[int, ...]:
    """Every channel's stored width, as :func:`texgs.bake.fit.bake_set` lays the asset out."""
    bits = []
    for m in maps:
        for comp, ch in enumerate(m.channels):
            if comp in m.fitted:
                bits.append(cfg.hdr_color_bits if ch.encoding == fmt.ENCODING_LOG2
                            else cfg.color_bits)
            else:
                bits.append(0)
    return tuple(bits)


def min_bpp(maps: list[PreparedMap], cfg: BakeConfig) -> float:
    """The smallest budget that gives every LOD level a Gaussian (bits per texel)."""
    W = max(m.width for m in maps)
    H = max(m.height for m in maps)
    bits = _layout_bits(maps, cfg)
    layout = fmt.RecordLayout(cfg.pos_bits, cfg.scale_bits, cfg.rot_bits, bits)
    levels = cfg.lod_levels
    n = 1 if levels == 1 else layout.chunk_align * (levels - 1) + 1
    header = (fmt.FIXED_HEADER_SIZE + fmt.MAP_ENTRY_SIZE * len(maps)
              + fmt.CHANNEL_ENTRY_SIZE * len(bits) + fmt.LOD_ENTRY_SIZE * levels)
    b = (header + fmt.chunk_payload_bytes(n, layout.record_bits)) * 8 / (W * H)
    b = max(b, 0.01)
    while True:  # plan_budget's own rounding decides
        try:
            plan_budget(W, H, bits, replace(cfg, bpp=b, gaussians=None), n_maps=len(maps))
            return b
        except OptionError:
            b *= 1.01


def _plan(maps: list[PreparedMap], cfg: BakeConfig, bpp: float) -> tuple[int, ...]:
    W = max(m.width for m in maps)
    H = max(m.height for m in maps)
    return tuple(plan_budget(W, H, _layout_bits(maps, cfg), replace(cfg, bpp=bpp, gaussians=None),
                             n_maps=len(maps)))


def _slope(tries: list[RateTry], target: float) -> float:
    """dB per doubling of the budget, from the two tries closest to the target (secant of
    full bakes), or the prior; clamped to a plausible range."""
    pts = sorted({(math.log2(t.bits_per_texel), t.psnr) for t in tries
                  if math.isfinite(t.psnr)}, key=lambda p: abs(p[1] - target))
    for i in range(len(pts)):
        for j in range(i + 1, len(pts)):
            (x0, y0), (x1, y1) = pts[i], pts[j]
            if abs(x1 - x0) > 0.02:
                s = (y1 - y0) / (x1 - x0)
                if s > 0:
                    return min(max(s, 1.0), 12.0)
    return PRIOR_SLOPE


def next_budget(tries: list[RateTry], target: float, lo_bound: float, hi_bound: float,
                prefix_bound: float | None) -> float | None:
    """The next budget to try, or None when the search is done (see the module docstring).

    ``lo_bound``..``hi_bound``: the budgets a try may use; ``prefix_bound``: the smallest
    LOD prefix (bits per texel) that reached the target, if any.
    """
    passed = [t for t in tries if t.reached]
    hi = min(passed, key=lambda t: t.bits_per_texel) if passed else None
    failed = [t for t in tries if not t.reached
              and (hi is None or t.bits_per_texel < hi.bits_per_texel)]
    lo = max(failed, key=lambda t: t.bits_per_texel) if failed else None
    s = _slope(tries, target)
    if hi is not None:
        if hi.psnr - target <= DB_TOL or hi.bpp <= lo_bound * (1 + 1e-9):
            return None
        if lo is not None:
            if hi.bits_per_texel <= lo.bits_per_texel * (1 + REL_TOL):
                return None
            # interpolate in log2(bpp), kept 15 % of the bracket away from either end
            x0, x1 = math.log2(lo.bits_per_texel), math.log2(hi.bits_per_texel)
            y0, y1 = lo.psnr, hi.psnr
            x = x0 + (x1 - x0) * ((target + MARGIN_DOWN - y0) / (y1 - y0)) if y1 > y0 else \
                (x0 + x1) / 2
            x = min(max(x, x0 + 0.15 * (x1 - x0)), x1 - 0.15 * (x1 - x0))
            return max(2.0 ** x, lo_bound)
        b = hi.bits_per_texel * 2.0 ** ((target + MARGIN_DOWN - hi.psnr) / s)
        b = min(max(b, hi.bits_per_texel / 4), hi.bits_per_texel / (1 + REL_TOL))
        return max(b, lo_bound)
    top = hi_bound if prefix_bound is None else min(hi_bound, prefix_bound)
    if lo is None:
        return None
    if lo.bpp >= top * (1 - 1e-9):
        return None
    b = lo.bits_per_texel * 2.0 ** ((target + MARGIN_UP - lo.psnr) / s)
    b = min(max(b, lo.bits_per_texel * (1 + REL_TOL)), lo.bits_per_texel * 4)
    return min(b, top)


def bake_to_psnr(maps: list[PreparedMap], cfg: BakeConfig, target_db: float,
                 max_bpp: float = MAX_BPP, max_tries: int = MAX_TRIES,
                 start_bpp: float | None = None,
                 progress: Callable[[Progress], None] | None = None,
                 on_try: Callable[[int, float, RateTry | None], None] | None = None,
                 label: str | None = None) -> RateResult:
    """The smallest bake of ``maps`` whose PSNR (the mean map PSNR a bake reports) is at
    least ``target_db``, searching budgets up to ``max_bpp`` in at most ``max_tries`` bakes.

    ``cfg``: every setting but the budget (its ``bpp`` / ``gaussians`` are ignored).
    ``start_bpp``: the first budget (default 1.0, within the allowed range).
    ``on_try(i, bpp, None)`` is called before try ``i`` (0-based) and
    ``on_try(i, bpp, rate_try)`` after it; ``progress`` goes to every bake.
    Raises :class:`RateTargetError` when no try reaches the target (its message starts
    with ``label``, default ``--psnr TARGET``).
    """
    from .fit import bake_set

    t0 = time.perf_counter()
    if not 1 <= max_tries <= 20:
        raise OptionError(f"max_tries {max_tries} outside 1..20")
    base = replace(cfg, bpp=1.0, gaussians=None)
    base.validate()
    lo_bound = min_bpp(maps, base)
    if not lo_bound <= max_bpp <= 64:
        raise OptionError(f"--max-bpp {max_bpp:g}: must be {lo_bound:.3g}..64 for this input "
                          f"({lo_bound:.3g} gives every LOD level one Gaussian)")
    W = max(m.width for m in maps)
    H = max(m.height for m in maps)
    b = min(max(start_bpp if start_bpp is not None else 1.0, lo_bound), max_bpp)
    tries: list[RateTry] = []
    results = []
    planned: set[tuple[int, ...]] = set()
    prefix_bound: float | None = None
    while b is not None and len(tries) < max_tries:
        plan = _plan(maps, base, b)
        if plan in planned:  # the same Gaussian counts as a try already made
            break
        planned.add(plan)
        if on_try is not None:
            on_try(len(tries), b, None)
        t1 = time.perf_counter()
        r = bake_set(maps, replace(base, bpp=b), progress)
        texels = W * H
        asset = fmt.read_header(r.data, "try")
        lod_bpt = []
        for k in range(1, len(r.lod_counts) + 1):
            # the prefix asset: header rewritten for k chunks, then those chunks
            size = (asset.header_size() - fmt.LOD_ENTRY_SIZE * (len(r.lod_counts) - k)
                    + sum(e.length for e in asset.lods[:k]))
            lod_bpt.append(size * 8 / texels)
        tr = RateTry(bpp=b, size_bytes=r.size_bytes, bits_per_texel=r.bits_per_texel,
                     gaussians=r.gaussians, psnr=r.psnr, lod_psnr=list(r.lod_psnr),
                     lod_bits_per_texel=lod_bpt, reached=r.psnr >= target_db,
                     seconds=time.perf_counter() - t1)
        tries.append(tr)
        results.append(r)
        for p, pb in zip(tr.lod_psnr[:-1], lod_bpt[:-1]):
            if p >= target_db and (prefix_bound is None or pb < prefix_bound):
                prefix_bound = pb
        if on_try is not None:
            on_try(len(tries) - 1, b, tr)
        b = next_budget(tries, target_db, lo_bound, max_bpp, prefix_bound)
    passed = [i for i, t in enumerate(tries) if t.reached]
    label = label or f"--psnr {target_db:g}"
    if not passed:
        best = max(tries, key=lambda t: t.psnr)
        if best.bpp >= max_bpp * (1 - 1e-9):
            raise RateTargetError(f"{label}: not reachable within --max-bpp "
                                  f"{max_bpp:g} (best {best.psnr:.2f} dB at "
                                  f"{best.bits_per_texel:.3f} bits/texel)")
        raise RateTargetError(f"{label}: not reached in {len(tries)} tries "
                              f"(best {best.psnr:.2f} dB at {best.bits_per_texel:.3f} "
                              f"bits/texel, --max-bpp {max_bpp:g})")
    chosen = min(passed, key=lambda i: tries[i].size_bytes)
    return RateResult(result=results[chosen], target_db=target_db, tries=tries, chosen=chosen,
                      seconds=time.perf_counter() - t0)


def _to_codec_input(ref: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """An 8-bit (H, W, 3 or 4) image for a GPU-format encoder, and which of its channels hold
    the map's channels: grey -> RGB, grey+alpha -> RGBA (L, L, L, A)."""
    u8 = (np.clip(ref, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    c = u8.shape[2]
    if c == 1:
        return np.repeat(u8, 3, axis=2), [0]
    if c == 2:
        return np.concatenate([np.repeat(u8[..., :1], 3, axis=2), u8[..., 1:]], 2), [0, 3]
    return u8, list(range(c))


def format_psnr(maps: list[PreparedMap], name: str) -> MatchInfo:
    """The PSNR of the GPU format ``name`` (see :data:`MATCH_FORMATS`) on ``maps``, measured
    as a bake measures its own (per map, :func:`texgs.quality.map_quality`, then the mean),
    each map encoded alone from its 8-bit values. ASTC: astcenc at the exhaustive preset
    (quality 100), LDR; BC1/BC7: etcpak. Raises :class:`UnsupportedError` when the encoder
    package is missing or a map is HDR."""
    from ..eval import baselines

    key = parse_match(name)
    family, block = MATCH_FORMATS[key]
    psnrs = []
    bits = 0.0
    texels = max(m.width for m in maps) * max(m.height for m in maps)
    for m in maps:
        if m.hdr:
            raise UnsupportedError(f"--match {key}: {m.path} is an HDR map; the GPU formats "
                                   "compared here are 8-bit")
        img, chans = _to_codec_input(m.reference)
        try:
            if family == "astc":
                r = baselines.astc(img, block, quality=100.0)
            else:
                r = baselines.block_compress(img, key)
        except baselines.BaselineUnavailable as e:
            raise UnsupportedError(f"--match {key}: {e} (pip install 'texgs[eval]')") from None
        dec = np.ascontiguousarray(r.decoded[..., chans], np.float32)
        psnrs.append(map_quality(m.kind, m.reference, dec, m.informative, m.alpha_component,
                                 False).psnr)
        bits += r.size_bytes * 8
    return MatchInfo(format=key, bits_per_texel=bits / texels, psnr=float(np.mean(psnrs)),
                     map_psnr=psnrs)


def bake_to_match(maps: list[PreparedMap], cfg: BakeConfig, name: str, **kw) -> RateResult:
    """The smallest bake at least as good (mean map PSNR) as the GPU format ``name`` on
    ``maps``: :func:`format_psnr`, then :func:`bake_to_psnr` with that target, starting at
    the format's own rate (texgs needs about that much to match it, docs/BAKING.md)."""
    info = format_psnr(maps, name)
    kw.setdefault("start_bpp", info.bits_per_texel)
    kw.setdefault("label", f"--match {info.format} ({info.psnr:.2f} dB)")
    res = bake_to_psnr(maps, cfg, info.psnr, **kw)
    res.match = info
    return res


def bake_maps_rate(sources: list[MapSource], dst: str | Path, cfg: BakeConfig,
                   target_db: float | None = None, match: str | None = None,
                   **kw) -> RateResult:
    """Like :func:`texgs.bake.bake_maps`, with the budget found by a rate search: the
    smallest asset reaching ``target_db`` or matching the format ``match`` (one of them),
    written atomically to ``dst``."""
    from ..images import atomic_write_bytes

    if (target_db is None) == (match is None):
        raise OptionError("give exactly one of --psnr and --match")
    out = Path(dst).resolve()
    for s in sources:
        if Path(s.path).resolve() == out:
            raise OptionError(f"{dst}: output would overwrite the input")
    maps = prepare_set(sources)
    if match is not None:
        res = bake_to_match(maps, cfg, match, **kw)
    else:
        res = bake_to_psnr(maps, cfg, target_db, **kw)
    atomic_write_bytes(dst, res.result.data)
    return res
