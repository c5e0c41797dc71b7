"""ASTC as a game developer would use it on a whole material set, for budget comparisons.

A texgs material set (base colour + normal + gloss) is compared at a byte budget against
ASTC compressing every map *separately*, with the same total number of bytes. This module
builds, for each map, a list of ASTC options (block footprint x resolution scale), each
with its exact payload size and its decoded image at the map's original size, and picks
the best combination of options under a byte budget.

Conventions
-----------
* Input maps are ``uint8`` arrays ``(H, W, C)``, ``C`` in 1..4, values as stored in the
  PNG (no sRGB conversion: astcenc's LDR *linear* profile compresses the 8-bit values as
  stored, which matches :func:`texgs.eval.baselines.astc`).
* Decoded maps are ``float32`` ``(H, W, C)`` in ``[0, 1]`` at the ORIGINAL size, with the
  same channel count as the input.
* ``nbytes`` is the ASTC payload only: ``16 * ceil(w' / bw) * ceil(h' / bh)`` where
  ``(h', w')`` is the size actually encoded (after any downscale); no file header.
* Reduced resolution ("drop the top mip"): the map is box-filtered to
  ``(max(1, round(H * s)), max(1, round(W * s)))`` with Pillow, per channel in float32
  (``Image.reduce(1/s)`` when ``1/s`` is an integer dividing both sides, otherwise
  ``resize(..., Image.BOX)``), rounded to uint8, encoded, decoded, and brought back to
  ``(H, W)`` with Pillow ``resize(..., Image.BILINEAR)`` on float32 per channel. For an
  upscale Pillow's bilinear filter is the GPU convention: texel centres at
  ``(i + 0.5) / s - 0.5`` in source texels, clamp-to-edge at the borders (this is what
  sampling the smaller mip with bilinear filtering gives).
* Channel expansion for the encoder: 1 channel (grey) -> RGB = L, A = 255; 2 channels ->
  RGB = ch0, A = ch1 (astcenc's luminance-alpha layout); 3 channels -> A = 255. The
  decoded channels are read back from R (grey), R and A (2 channels), RGB(A).
* ``kind == "normal"``: tangent-space normal stored as ``(n + 1) / 2`` in R, G, B (alpha,
  if any, must be constant). Encoded the way ``astcenc -normal`` does it: only X and Y
  are stored, swizzled to the ``rrrg`` layout, with the ``MAP_NORMAL`` config flag
  (angular error metric and normal-map search tuning). On decode X and Y are taken from
  the decoded R and A, upsampled if needed (the GPU filters the stored X, Y, then the
  shader rebuilds Z), ``(x, y)`` is rescaled to unit length when longer than 1 and
  ``z = sqrt(max(0, 1 - x^2 - y^2))``; the result is written back as ``(n + 1) / 2``
  (float, not requantized), and a constant input alpha is passed through unchanged.
  When downscaling a normal map the box-filtered vectors are renormalized to unit length
  before requantizing (standard normal-map mip generation; it keeps X, Y consistent
  with the Z rebuilt from them).

ASTC isolation
--------------
Every encode runs in a fresh Python subprocess, as in :mod:`texgs.eval.baselines`
(astc-encoder-py can carry state between contexts in one process). Colour / mask maps go
through :func:`texgs.eval.baselines.astc` itself; normal maps need a non-default swizzle
and config flag, which that function does not expose, so this module has its own
isolated worker of ``texgs.eval.baselines`` (a fresh child per encode), with astcenc's
normal-map flag and swizzle.

Smoke mode
----------
``python bench/astc_sets.py --set stk_generic_brickA --budget 12288`` runs every option
on 128x128 centre crops of one set and prints the table and the choice for the budget.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from texgs.eval import baselines
from texgs.eval.metrics import psnr, to_float

__all__ = [
    "DEFAULT_BLOCKS",
    "DEFAULT_SCALES",
    "AstcOption",
    "astc_map_options",
    "choose_under_budget",
    "normal_angular_error",
]

#: Block footprints tried by default, largest (cheapest) first.
DEFAULT_BLOCKS: tuple[tuple[int, int], ...] = ((12, 12), (10, 10), (8, 8), (6, 6), (5, 5),
                                               (4, 4))
#: Resolution scales tried by default (1.0 = full size, 0.5 = top mip dropped, ...).
DEFAULT_SCALES: tuple[float, ...] = (1.0, 0.5, 0.25)

#: Map kinds: "normal" gets astcenc's normal-map mode, anything else is compressed as is.
NORMAL_KIND = "normal"


@dataclass
class AstcOption:
    """One way of storing one map of a set with ASTC.

    Attributes
    ----------
    map_index : int
        Index of the map in the set (as given to :func:`astc_map_options`).
    block : (int, int)
        ASTC block footprint ``(width, height)``.
    scale : float
        Resolution scale the map was encoded at (1.0 = original size).
    nbytes : int
        ASTC payload bytes: ``16 * ceil(w' / bw) * ceil(h' / bh)`` for the encoded size
        ``(h', w')``.
    decoded : np.ndarray
        float32 ``(H, W, C)`` in ``[0, 1]`` at the map's ORIGINAL size, ``C`` equal to
        the input's channel count.
    encoded_hw : (int, int)
        ``(h', w')``, the size actually encoded (equal to ``(H, W)`` when scale is 1).
    """

    map_index: int
    block: tuple[int, int]
    scale: float
    nbytes: int
    decoded: np.ndarray
    encoded_hw: tuple[int, int] = (0, 0)


# ----------------------------------------------------------------------------- resampling


def _reduced_hw(h: int, w: int, scale: float) -> tuple[int, int]:
    """Encoded size for a scale: ``(max(1, round(h * s)), max(1, round(w * s)))``.

    Python ``round`` (half to even), e.g. 101 at scale 0.5 -> 50.
    """
    if scale == 1.0:
        return h, w
    return max(1, round(h * scale)), max(1, round(w * scale))


def _downscale_float(img: np.ndarray, scale: float) -> np.ndarray:
    """Box-filter a float ``(H, W, C)`` image by ``scale`` (<= 1), per channel in float32.

    Uses ``Image.reduce(f)`` when ``f = 1 / scale`` is an integer dividing H and W (exact
    f x f averages), else ``Image.resize(..., Image.BOX)`` to :func:`_reduced_hw`.
    """
    h, w, c = img.shape
    nh, nw = _reduced_hw(h, w, scale)
    if (nh, nw) == (h, w):
        return img.astype(np.float32, copy=True)
    inv = 1.0 / scale
    f = round(inv)
    exact = abs(inv - f) < 1e-9 and f >= 1 and h % f == 0 and w % f == 0
    out = np.empty((nh, nw, c), np.float32)
    for k in range(c):
        ch = Image.fromarray(np.ascontiguousarray(img[..., k], dtype=np.float32))
        ch = ch.reduce(f) if exact else ch.resize((nw, nh), Image.BOX)
        out[..., k] = np.asarray(ch, dtype=np.float32)
    return out


def _upscale_float(img: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Bilinear resample of float ``(h', w', C)`` to ``hw`` (Pillow ``BILINEAR``, mode F).

    Pillow's bilinear upscale puts texel centres at ``(i + 0.5) * h' / H - 0.5`` in the
    source and clamps at the edges, i.e. GPU bilinear sampling of the smaller mip.
    """
    h, w = hw
    if img.shape[:2] == (h, w):
        return img.astype(np.float32, copy=True)
    out = np.empty((h, w, img.shape[2]), np.float32)
    for k in range(img.shape[2]):
        ch = Image.fromarray(np.ascontiguousarray(img[..., k], dtype=np.float32))
        out[..., k] = np.asarray(ch.resize((w, h), Image.BILINEAR), dtype=np.float32)
    return out


def _quantize_u8(img: np.ndarray) -> np.ndarray:
    """Float in [0, 255] -> uint8, round to nearest, clipped."""
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def _renormalize_encoded_normals(img255: np.ndarray) -> np.ndarray:
    """Renormalize the first three channels of an encoded normal map (values in 0..255).

    ``n = 2 * v / 255 - 1`` is scaled to unit length (zero vectors become (0, 0, 1)) and
    written back as ``(n + 1) / 2 * 255``; other channels are untouched.
    """
    out = img255.astype(np.float64, copy=True)
    n = out[..., :3] / 255.0 * 2.0 - 1.0
    length = np.linalg.norm(n, axis=-1, keepdims=True)
    flat = np.zeros_like(n)
    flat[..., 2] = 1.0
    n = np.where(length > 1e-12, n / np.maximum(length, 1e-12), flat)
    out[..., :3] = (n + 1.0) * 0.5 * 255.0
    return out.astype(np.float32)


# ----------------------------------------------------------------------------- ASTC runs


def _expand_to_rgba(img: np.ndarray) -> np.ndarray:
    """uint8 ``(h, w, C)``, C 1..4 -> RGBA for the encoder (see module conventions)."""
    h, w, c = img.shape
    opaque = np.full((h, w, 1), 255, np.uint8)
    if c == 1:
        return np.concatenate([img, img, img, opaque], axis=2)
    if c == 2:
        return np.concatenate([img[..., :1]] * 3 + [img[..., 1:2]], axis=2)
    if c == 3:
        return np.concatenate([img, opaque], axis=2)
    return np.ascontiguousarray(img)


def _encode_plain(img: np.ndarray, block: tuple[int, int], quality: float, threads: int,
                  isolate: bool) -> tuple[int, np.ndarray]:
    """ASTC a colour / mask map with :func:`texgs.eval.baselines.astc`.

    ``img`` uint8 ``(h, w, C)``; returns ``(nbytes, decoded float32 (h, w, C))``.
    """
    c = img.shape[2]
    rgba = _expand_to_rgba(img)
    res = baselines.astc(rgba if c != 3 else img, block, quality, threads=threads,
                         isolate=isolate)
    dec = res.decoded  # (h, w, 4) for c != 3, (h, w, 3) for c == 3
    if c == 1:
        dec = dec[..., :1]
    elif c == 2:
        dec = dec[..., [0, 3]]
    return res.size_bytes, np.ascontiguousarray(dec, dtype=np.float32)


def _encode_normal_xy(img: np.ndarray, block: tuple[int, int], quality: float,
                      threads: int, isolate: bool) -> tuple[int, np.ndarray]:
    """ASTC the X, Y of an encoded normal map the ``astcenc -normal`` way.

    ``img`` uint8 ``(h, w, C)``, C >= 2, X in channel 0 and Y in channel 1. Encoder:
    ``flags=ASTCConfigFlags.MAP_NORMAL``, compress swizzle ``"rrrg"`` (X to RGB, Y to A);
    decoded with swizzle ``"rgba"`` (the stored components). Returns
    ``(nbytes, xy float32 (h, w, 2) in [0, 1])`` read from the decoded R and A.
    """
    import astc_encoder as A  # only for the flag value; the encode itself is isolated

    h, w = img.shape[:2]
    bw, bh = block
    rgba = np.zeros((h, w, 4), np.uint8)
    rgba[..., 0] = img[..., 0]
    rgba[..., 1] = img[..., 1]
    rgba[..., 3] = 255
    run = (baselines._astc_roundtrip_subprocess if isolate
           else baselines._astc_roundtrip_inprocess)
    payload, dec = run(rgba, (bw, bh), quality, threads, int(A.ASTCConfigFlags.MAP_NORMAL),
                       "rrrg", "rgba")
    n_blocks = math.ceil(w / bw) * math.ceil(h / bh)
    if len(payload) != 16 * n_blocks:
        raise RuntimeError(f"ASTC payload is {len(payload)} bytes, expected "
                           f"{n_blocks} blocks * 16")
    xy = to_float(dec[..., [0, 3]])
    return 16 * n_blocks, np.ascontiguousarray(xy)


def _rebuild_normal(xy: np.ndarray) -> np.ndarray:
    """Encoded X, Y float ``(H, W, 2)`` in [0, 1] -> encoded unit normal ``(H, W, 3)``.

    ``(x, y) = 2 * v - 1``, rescaled to unit length when longer than 1;
    ``z = sqrt(max(0, 1 - x^2 - y^2))``; returned as ``(n + 1) / 2`` float32.
    """
    v = xy.astype(np.float64) * 2.0 - 1.0
    r2 = np.sum(v * v, axis=-1, keepdims=True)
    v = np.where(r2 > 1.0, v / np.sqrt(np.maximum(r2, 1.0)), v)
    z = np.sqrt(np.maximum(0.0, 1.0 - np.sum(v * v, axis=-1, keepdims=True)))
    n = np.concatenate([v, z], axis=-1)
    return ((n + 1.0) * 0.5).astype(np.float32)


# ----------------------------------------------------------------------------- public API


def astc_map_options(image: np.ndarray, kind: str, map_index: int,
                     blocks: Sequence[tuple[int, int]] = DEFAULT_BLOCKS,
                     scales: Sequence[float] = DEFAULT_SCALES, quality: float = 98.0,
                     *, threads: int = 1, isolate: bool = True) -> list[AstcOption]:
    """Every (block, scale) ASTC option for one map, decoded back at its original size.

    Parameters
    ----------
    image : np.ndarray
        uint8 ``(H, W, C)``, C in 1..4 (a 2D array is taken as one channel).
    kind : str
        ``"normal"`` for a tangent-space normal map (X, Y, Z in R, G, B as ``(n+1)/2``,
        optional *constant* alpha; needs C >= 2, with C == 2 meaning X, Y only): encoded
        with astcenc's normal mode (see the module docstring). Any other value (e.g.
        ``"color"``, ``"gloss"``) compresses the channels as stored.
    map_index : int
        Copied into every returned option.
    blocks : sequence of (int, int)
        ASTC block footprints ``(width, height)``, each a legal 2D size.
    scales : sequence of float
        Resolution scales in ``(0, 1]``; < 1 encodes a box-filtered smaller map and
        upsamples the decoded result bilinearly (module docstring).
    quality : float
        astcenc quality 0..100 (98 = ``-thorough``).
    threads : int
        astcenc threads per encode (results do not depend on it).
    isolate : bool
        One fresh subprocess per encode (default; see the module docstring).

    Returns
    -------
    list of AstcOption
        Ordered scale-major (in ``scales`` order), then by ``blocks``.
    """
    img = np.asarray(image)
    if img.ndim == 2:
        img = img[..., None]
    if img.dtype != np.uint8 or img.ndim != 3 or not 1 <= img.shape[2] <= 4:
        raise ValueError(f"expected uint8 (H, W, C) with C in 1..4, got {img.dtype} "
                         f"{img.shape}")
    h, w, c = img.shape
    for b in blocks:
        if tuple(b) not in baselines.ASTC_2D_BLOCKS:
            raise ValueError(f"illegal 2D ASTC block {b}")
    for s in scales:
        if not 0.0 < float(s) <= 1.0:
            raise ValueError(f"scale must be in (0, 1], got {s}")
    is_normal = kind == NORMAL_KIND
    alpha = None
    if is_normal:
        if c < 2:
            raise ValueError("a normal map needs at least X and Y (C >= 2)")
        if c == 4:
            a = img[..., 3]
            if a.min() != a.max():
                raise ValueError("normal map alpha varies; astcenc normal mode stores "
                                 "only X and Y (pass the alpha as a separate map)")
            alpha = np.float32(a.flat[0]) / np.float32(255.0)

    options: list[AstcOption] = []
    for s in scales:
        s = float(s)
        if s == 1.0:
            small = img
        else:
            small255 = _downscale_float(img.astype(np.float32), s)
            if is_normal and c >= 3:
                small255 = _renormalize_encoded_normals(small255)
            small = _quantize_u8(small255)
        sh, sw = small.shape[:2]
        for bw, bh in blocks:
            if is_normal:
                nbytes, xy = _encode_normal_xy(small, (bw, bh), quality, threads, isolate)
                xy = np.clip(_upscale_float(xy, (h, w)), 0.0, 1.0)
                if c == 2:
                    dec = _rebuild_normal(xy)[..., :2]
                else:
                    dec = _rebuild_normal(xy)
                    if c == 4:
                        dec = np.concatenate(
                            [dec, np.full((h, w, 1), alpha, np.float32)], axis=2)
            else:
                nbytes, dec = _encode_plain(small, (bw, bh), quality, threads, isolate)
                dec = np.clip(_upscale_float(dec, (h, w)), 0.0, 1.0)
            options.append(AstcOption(map_index=map_index, block=(int(bw), int(bh)),
                                      scale=s, nbytes=int(nbytes),
                                      decoded=np.ascontiguousarray(dec, np.float32),
                                      encoded_hw=(sh, sw)))
    return options


def normal_angular_error(ref: np.ndarray, test: np.ndarray) -> tuple[float, float]:
    """Angle between reference and test normals, in degrees: ``(mean, 99th percentile)``.

    ``ref`` and ``test`` are float ``(H, W, C>=3)`` encoded normals in ``[0, 1]`` (same
    shape); ``n = 2 * v - 1`` on the first three channels, both normalized (a zero-length
    vector is taken as (0, 0, 1)), as ``texgs.quality.normal_angles_deg``. Percentile:
    NumPy's default linear interpolation.
    """
    a = np.asarray(ref, dtype=np.float64)
    b = np.asarray(test, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 3 or a.shape[2] < 3:
        raise ValueError(f"expected two (H, W, C>=3) arrays of the same shape, got "
                         f"{a.shape} and {b.shape}")
    from texgs.quality import normal_angles_deg  # the measure texgs reports for itself

    ang = normal_angles_deg(a, b)
    return float(ang.mean()), float(np.percentile(ang, 99))


def choose_under_budget(options: list[list[AstcOption]], budget_bytes: int,
                        score: Callable[[AstcOption], float]
                        ) -> list[AstcOption] | None:
    """Best option per map under a total byte budget (exhaustive, exact).

    Parameters
    ----------
    options : list of list of AstcOption
        ``options[i]`` are the candidates for map ``i`` (e.g. from
        :func:`astc_map_options`).
    budget_bytes : int
        Maximum of ``sum(option.nbytes)`` over the chosen options.
    score : callable
        ``score(option) -> float``, HIGHER IS BETTER (pass e.g. PSNR, or minus an
        error). Called once per option. NaN counts as ``-inf``.

    Returns
    -------
    list of AstcOption or None
        One option per map, in map order, maximizing the mean score subject to the
        budget; ties go to fewer total bytes, then to the earlier option. ``None`` when
        even the cheapest combination exceeds the budget (or a map has no option).

    Notes
    -----
    Each map's list is first cut to its Pareto front (sorted by bytes, keeping only
    options that score strictly better than every cheaper one), which loses nothing;
    the remaining combinations are searched depth first with a bytes-feasibility bound.
    """
    if any(len(opts) == 0 for opts in options):
        return None
    fronts: list[list[tuple[int, float, AstcOption]]] = []
    for opts in options:
        scored = []
        for k, o in enumerate(opts):
            v = float(score(o))
            scored.append((int(o.nbytes), -math.inf if math.isnan(v) else v, k, o))
        scored.sort(key=lambda t: (t[0], -t[1], t[2]))
        front: list[tuple[int, float, AstcOption]] = []
        best = -math.inf
        for nb, v, _, o in scored:
            if not front or v > best:
                front.append((nb, v, o))
                best = v
        fronts.append(front)
    n = len(fronts)
    if n == 0:
        return []
    # cheapest bytes of maps i.. (suffix sums) for the feasibility bound
    min_rest = [0] * (n + 1)
    for i in range(n - 1, -1, -1):
        min_rest[i] = min_rest[i + 1] + fronts[i][0][0]
    if min_rest[0] > budget_bytes:
        return None

    best_key: tuple[float, int] | None = None
    best_pick: list[AstcOption] | None = None
    pick: list[AstcOption] = []

    def dfs(i: int, used: int, total: float) -> None:
        nonlocal best_key, best_pick
        if i == n:
            key = (total / n, -used)
            if best_key is None or key > best_key:
                best_key, best_pick = key, list(pick)
            return
        for nb, v, o in fronts[i]:
            if used + nb + min_rest[i + 1] > budget_bytes:
                break  # front sorted by bytes: every later option is dearer
            pick.append(o)
            dfs(i + 1, used + nb, total + v)
            pick.pop()

    dfs(0, 0, 0.0)
    return best_pick


# ----------------------------------------------------------------------------- smoke mode


def _centre_crop(a: np.ndarray, size: int) -> np.ndarray:
    h, w = a.shape[:2]
    ch, cw = min(size, h), min(size, w)
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    return np.ascontiguousarray(a[y0:y0 + ch, x0:x0 + cw])


def _load_set(sets_dir: Path, name: str, crop: int) -> list[tuple[str, str, np.ndarray]]:
    """``[(label, kind, uint8 crop)]`` for base colour, normal and gloss (R only)."""
    d = sets_dir / name
    out = []
    for label, fname, kind in (("color", f"{name}.png", "color"),
                               ("normal", f"{name}_Normal.png", NORMAL_KIND),
                               ("gloss", f"{name}_gloss.png", "gloss")):
        a = np.asarray(Image.open(d / fname))
        if a.ndim == 2:
            a = a[..., None]
        if kind == "gloss":
            a = a[..., :1]  # only R varies in these sets (G, B constant 0)
        out.append((label, kind, _centre_crop(a, crop)))
    return out


def _main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sets-dir", type=Path,
                   default=ROOT.parent / "shared" / "textures" / "sets")
    p.add_argument("--set", default="stk_generic_brickA")
    p.add_argument("--crop", type=int, default=128)
    p.add_argument("--budget", type=int, default=12288,
                   help="total bytes for all maps (default 12288 = 2 bpp over three "
                        "128x128 maps)")
    p.add_argument("--quality", type=float, default=98.0)
    args = p.parse_args(argv)

    t0 = time.perf_counter()
    maps = _load_set(args.sets_dir, args.set, args.crop)
    all_opts: list[list[AstcOption]] = []
    refs: list[np.ndarray] = []
    for i, (label, kind, img) in enumerate(maps):
        all_opts.append(astc_map_options(img, kind, i, quality=args.quality))
        refs.append(to_float(img))

    def rgb_psnr(o: AstcOption) -> float:
        ref = refs[o.map_index]
        k = 3 if maps[o.map_index][1] == NORMAL_KIND else ref.shape[2]
        return psnr(ref[..., :k], o.decoded[..., :k])

    print(f"set {args.set}, {args.crop}x{args.crop} centre crops, quality "
          f"{args.quality:g}, gloss = R channel only")
    print(f"{'map':<7}{'C':>2} {'block':>6} {'scale':>6} {'enc':>8} {'bytes':>7} "
          f"{'bpp':>6} {'PSNR':>7} {'ang.mean':>9} {'ang.p99':>8}")
    for opts in all_opts:
        for o in opts:
            label, kind, img = maps[o.map_index]
            h, w = img.shape[:2]
            ang = ""
            if kind == NORMAL_KIND:
                m, q = normal_angular_error(refs[o.map_index], o.decoded)
                ang = f"{m:9.3f} {q:8.3f}"
            enc = f"{o.encoded_hw[1]}x{o.encoded_hw[0]}"
            print(f"{label:<7}{img.shape[2]:>2} {o.block[0]:>3}x{o.block[1]:<2} "
                  f"{o.scale:6.2f} {enc:>8} {o.nbytes:7d} {o.nbytes * 8 / (h * w):6.3f} "
                  f"{rgb_psnr(o):7.2f} {ang}")
    choice = choose_under_budget(all_opts, args.budget, rgb_psnr)
    print(f"\nchoice for budget {args.budget} bytes (score = PSNR dB per map, normal "
          f"over XYZ; maximize the mean):")
    if choice is None:
        print("  none: the cheapest combination is over budget")
    else:
        for o in choice:
            print(f"  {maps[o.map_index][0]:<7} {o.block[0]}x{o.block[1]} scale "
                  f"{o.scale:g}: {o.nbytes} bytes, {rgb_psnr(o):.2f} dB")
        print(f"  total {sum(o.nbytes for o in choice)} bytes, mean "
              f"{np.mean([rgb_psnr(o) for o in choice]):.2f} dB")
    print(f"({time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(_main())
