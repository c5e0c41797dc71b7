"""Reference formats texgs is compared against: ASTC (fixed rate) and JPEG (at a rate).

Every function takes an 8-bit image ``(H, W, C)`` (``uint8``) and returns a
:class:`BaselineResult` whose ``decoded`` image is float32 ``(H, W, C)`` in ``[0, 1]``
(same channel count as the input), ready for :mod:`texgs.eval.metrics`.

Codec libraries are imported lazily; a missing one raises :class:`BaselineUnavailable`.

ASTC isolation
--------------
astc-encoder-py has been seen to carry encoder state from one context to the next within
a process (a medium-quality result read 0.2 dB higher after exhaustive runs). So, by
default, :func:`astc` runs every encode+decode in a fresh Python subprocess
(``python -m texgs.eval.baselines --astc-worker ...``, image passed through a temporary
``.npy`` file); each configuration is therefore independent of what ran before it.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "ASTC_BLOCKS",
    "ASTC_2D_BLOCKS",
    "BaselineResult",
    "BaselineUnavailable",
    "astc",
    "jpeg_at_rate",
]

#: Block footprints used in comparisons, by name (name -> (block width, block height)).
ASTC_BLOCKS: dict[str, tuple[int, int]] = {
    "astc12x12": (12, 12),
    "astc10x10": (10, 10),
    "astc8x8": (8, 8),
    "astc6x6": (6, 6),
    "astc4x4": (4, 4),
}

#: Every legal 2D ASTC block footprint (width, height).
ASTC_2D_BLOCKS = frozenset({(4, 4), (5, 4), (5, 5), (6, 5), (6, 6), (8, 5), (8, 6), (8, 8),
                            (10, 5), (10, 6), (10, 8), (10, 10), (12, 10), (12, 12)})


class BaselineUnavailable(RuntimeError):
    """The codec library a baseline needs is not installed (or failed to load)."""


@dataclass
class BaselineResult:
    """One baseline encode/decode.

    Attributes
    ----------
    name : str
        Format name, e.g. ``"astc12x12"`` or ``"jpeg"``.
    bits_per_texel : float
        Compressed size in bits divided by the texel count ``H * W`` of the input. For
        ASTC this is the payload rate ``128 / (bw * bh)`` (no file header).
    decoded : np.ndarray
        float32 ``(H, W, C)`` in ``[0, 1]``, C equal to the input's channel count.
    size_bytes : int
        Compressed size in bytes (ASTC: ``blocks * 16``; JPEG: the whole file).
    params : dict
        Settings used (e.g. ``{"block": (12, 12), "quality": 100.0}`` or
        ``{"quality": 73, "target_bpp": 2.0}``).
    """

    name: str
    bits_per_texel: float
    decoded: np.ndarray
    size_bytes: int
    params: dict[str, Any] = field(default_factory=dict)


def _check_image(image: np.ndarray, channels: tuple[int, ...]) -> np.ndarray:
    a = np.asarray(image)
    if a.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got dtype {a.dtype}")
    if a.ndim != 3 or a.shape[2] not in channels:
        raise ValueError(f"expected an (H, W, C) image with C in {channels}, got shape "
                         f"{a.shape}")
    if a.shape[0] < 1 or a.shape[1] < 1:
        raise ValueError(f"empty image, shape {a.shape}")
    return np.ascontiguousarray(a)


# ----------------------------------------------------------------------------- ASTC


def _import_astc():
    try:
        import astc_encoder
    except Exception as exc:  # ImportError, or a broken native extension
        raise BaselineUnavailable(
            "ASTC baseline needs the 'astc-encoder-py' package (module astc_encoder): "
            f"{exc}") from exc
    return astc_encoder


def _astc_roundtrip_inprocess(rgba: np.ndarray, block: tuple[int, int], quality: float,
                              threads: int = 1, flags: int = 0, compress_swizzle: str = "rgba",
                              decompress_swizzle: str = "rgba") -> tuple[bytes, np.ndarray]:
    """Encode + decode an RGBA uint8 (H, W, 4) image in *this* process.

    Uses the LDR linear profile, so the 8-bit values are compressed as stored (no sRGB
    conversion). ``flags``: astcenc config flags (e.g. ``ASTCConfigFlags.MAP_NORMAL``); the
    encoder reads through ``compress_swizzle``, the decoder writes through
    ``decompress_swizzle`` (``ASTCSwizzle.from_str`` strings; "rrrg" stores a normal map's
    x, y). Returns ``(payload, decoded_rgba_uint8)``; the payload is the raw sequence of
    16-byte blocks (no .astc header).
    """
    A = _import_astc()
    h, w = rgba.shape[:2]
    bw, bh = block
    config = A.ASTCConfig(A.ASTCProfile.LDR, bw, bh, 1, quality=float(quality),
                          flags=int(flags))
    ctx = A.ASTCContext(config, threads=threads)
    src = A.ASTCImage(A.ASTCType.U8, w, h, 1, np.ascontiguousarray(rgba).tobytes())
    payload = bytes(ctx.compress(src, A.ASTCSwizzle.from_str(compress_swizzle)))
    out = A.ASTCImage(A.ASTCType.U8, w, h, 1)
    ctx.decompress(payload, out, A.ASTCSwizzle.from_str(decompress_swizzle))
    decoded = np.frombuffer(out.data, dtype=np.uint8).reshape(h, w, 4).copy()
    return payload, decoded


def _package_root() -> str:
    # .../<root>/texgs/eval/baselines.py -> <root>, so the child can import texgs
    return str(Path(__file__).resolve().parents[2])


def _astc_roundtrip_subprocess(rgba: np.ndarray, block: tuple[int, int], quality: float,
                               threads: int = 1, flags: int = 0, compress_swizzle: str = "rgba",
                               decompress_swizzle: str = "rgba") -> tuple[bytes, np.ndarray]:
    """Same as :func:`_astc_roundtrip_inprocess`, but in a fresh Python process."""
    with tempfile.TemporaryDirectory(prefix="texgs_astc_") as tmp:
        src = os.path.join(tmp, "in.npy")
        np.save(src, rgba)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (_package_root(), env.get("PYTHONPATH")) if p)
        cmd = [sys.executable, "-m", "texgs.eval.baselines", "--astc-worker", src, tmp,
               str(block[0]), str(block[1]), repr(float(quality)), str(int(threads)),
               str(int(flags)), compress_swizzle, decompress_swizzle]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode == 3:
            raise BaselineUnavailable(proc.stderr.strip().splitlines()[-1])
        if proc.returncode != 0:
            raise RuntimeError(f"ASTC worker failed (exit {proc.returncode}):\n"
                               f"{proc.stderr.strip()}")
        with open(os.path.join(tmp, "payload.bin"), "rb") as f:
            payload = f.read()
        decoded = np.load(os.path.join(tmp, "decoded.npy"))
    return payload, decoded


def astc(image_uint8: np.ndarray, block: tuple[int, int] = (12, 12),
         quality: float = 100.0, *, threads: int = 1, isolate: bool = True
         ) -> BaselineResult:
    """ASTC LDR (linear profile) encode + decode with astc-encoder.

    Parameters
    ----------
    image_uint8 : np.ndarray
        uint8 ``(H, W, 3)`` or ``(H, W, 4)``. Any size: partial edge blocks are handled
        by the codec. RGB input is given alpha 255 for the encoder, and alpha is dropped
        from the result.
    block : (int, int)
        Block footprint ``(width, height)``; must be a legal 2D ASTC size
        (see :data:`ASTC_2D_BLOCKS`, :data:`ASTC_BLOCKS`).
    quality : float
        astcenc quality 0..100 (0 fastest, 60 medium, 98 thorough, 100 exhaustive).
    threads : int
        Encoder threads (the result does not depend on it).
    isolate : bool
        Run the codec in a fresh subprocess (default; see the module docstring). Set
        False only where exact reproducibility across configurations does not matter.

    Returns
    -------
    BaselineResult
        ``name="astc{bw}x{bh}"``, ``bits_per_texel = 128 / (bw * bh)``,
        ``size_bytes = ceil(W / bw) * ceil(H / bh) * 16``.
    """
    img = _check_image(image_uint8, (3, 4))
    bw, bh = (int(v) for v in block)
    if (bw, bh) not in ASTC_2D_BLOCKS:
        raise ValueError(f"illegal 2D ASTC block size {bw}x{bh}; legal: "
                         f"{sorted(ASTC_2D_BLOCKS)}")
    if not 0.0 <= float(quality) <= 100.0:
        raise ValueError(f"ASTC quality must be in [0, 100], got {quality}")
    h, w, c = img.shape
    if c == 3:
        rgba = np.concatenate([img, np.full((h, w, 1), 255, np.uint8)], axis=2)
    else:
        rgba = img
    if isolate:
        payload, decoded = _astc_roundtrip_subprocess(rgba, (bw, bh), quality, threads)
    else:
        payload, decoded = _astc_roundtrip_inprocess(rgba, (bw, bh), quality, threads)
    n_blocks = math.ceil(w / bw) * math.ceil(h / bh)
    if len(payload) != n_blocks * 16:
        raise RuntimeError(f"ASTC payload is {len(payload)} bytes, expected "
                           f"{n_blocks} blocks * 16")
    from .metrics import to_float

    return BaselineResult(
        name=f"astc{bw}x{bh}",
        bits_per_texel=128.0 / (bw * bh),
        decoded=to_float(decoded[..., :c]),
        size_bytes=n_blocks * 16,
        params={"block": (bw, bh), "quality": float(quality), "profile": "LDR"},
    )


# ----------------------------------------------------------------------------- JPEG


def _import_imagecodecs():
    try:
        import imagecodecs
    except Exception as exc:
        raise BaselineUnavailable(f"JPEG baseline needs the 'imagecodecs' package: {exc}"
                                  ) from exc
    if not getattr(getattr(imagecodecs, "JPEG8", None), "available", True):
        raise BaselineUnavailable("imagecodecs was built without JPEG (JPEG8) support")
    return imagecodecs


def jpeg_at_rate(image_uint8: np.ndarray, target_bpp: float) -> BaselineResult:
    """Baseline JPEG (imagecodecs/libjpeg) at the highest quality that fits a bit budget.

    Binary search over quality 1..100 for the largest quality whose file rate
    ``bytes * 8 / (H * W)`` is ``<= target_bpp`` (file size is treated as monotone in
    quality). If even quality 1 is over budget, the quality-1 file is returned with its
    real rate. Settings: libjpeg defaults (4:2:0 chroma subsampling for RGB) plus
    optimized Huffman tables. The rate counts the whole file (headers included).

    Parameters
    ----------
    image_uint8 : np.ndarray
        uint8 ``(H, W, 3)`` RGB or ``(H, W, 1)`` grey. JPEG has no alpha, so RGBA is
        rejected with ``ValueError`` (drop or handle alpha separately).
    target_bpp : float
        Budget in bits per texel.

    Returns
    -------
    BaselineResult
        ``name="jpeg"``, ``params={"quality": q, "target_bpp": target_bpp}``.
    """
    img = _check_image(image_uint8, (1, 3))
    if not target_bpp > 0:
        raise ValueError(f"target_bpp must be positive, got {target_bpp}")
    ic = _import_imagecodecs()
    h, w, c = img.shape
    src = img[..., 0] if c == 1 else img
    texels = h * w
    cache: dict[int, bytes] = {}

    def encode(q: int) -> bytes:
        if q not in cache:
            cache[q] = bytes(ic.jpeg_encode(src, level=q, optimize=True))
        return cache[q]

    def bpp(q: int) -> float:
        return len(encode(q)) * 8.0 / texels

    if bpp(1) > target_bpp:
        best = 1
    else:
        lo, hi = 1, 100  # invariant: bpp(lo) <= target
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if bpp(mid) <= target_bpp:
                lo = mid
            else:
                hi = mid - 1
        best = lo
    data = encode(best)
    decoded = np.asarray(ic.jpeg_decode(data))
    decoded = decoded.reshape(h, w, c)
    from .metrics import to_float

    return BaselineResult(
        name="jpeg",
        bits_per_texel=len(data) * 8.0 / texels,
        decoded=to_float(decoded),
        size_bytes=len(data),
        params={"quality": best, "target_bpp": float(target_bpp), "subsampling": "420"
                if c == 3 else None, "optimize": True},
    )


# ----------------------------------------------------------------------------- worker


def _worker_main(argv: list[str]) -> int:
    """``--astc-worker IN.npy OUT_DIR BW BH QUALITY THREADS [FLAGS CSWZ DSWZ]``: one isolated
    ASTC run.

    Writes OUT_DIR/payload.bin and OUT_DIR/decoded.npy. Exit code 3: codec missing.
    """
    if len(argv) not in (7, 10) or argv[0] != "--astc-worker":
        print("usage: python -m texgs.eval.baselines --astc-worker IN.npy OUT_DIR BW BH "
              "QUALITY THREADS [FLAGS CSWZ DSWZ]", file=sys.stderr)
        return 2
    _, src, out_dir, bw, bh, quality, threads = argv[:7]
    flags, cswz, dswz = (int(argv[7]), argv[8], argv[9]) if len(argv) == 10 else (
        0, "rgba", "rgba")
    rgba = np.load(src)
    try:
        payload, decoded = _astc_roundtrip_inprocess(rgba, (int(bw), int(bh)),
                                                     float(quality), int(threads), flags,
                                                     cswz, dswz)
    except BaselineUnavailable as exc:
        print(str(exc), file=sys.stderr)
        return 3
    with open(os.path.join(out_dir, "payload.bin"), "wb") as f:
        f.write(payload)
    np.save(os.path.join(out_dir, "decoded.npy"), decoded)
    return 0


if __name__ == "__main__":
    sys.exit(_worker_main(sys.argv[1:]))
