"""Reference formats texgs is compared against: the GPU block formats ASTC, BC1 and BC7
(fixed rate) and the download codecs JPEG, WebP, AVIF and JPEG XL (at a rate).

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
    "BC_FORMATS",
    "IMAGE_CODECS",
    "astc",
    "avif_at_rate",
    "bc1",
    "bc7",
    "block_compress",
    "image_codec_at_rate",
    "jpeg_at_rate",
    "jxl_at_rate",
    "webp_at_rate",
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


def _highest_quality_within(encode, quality_lo: int, quality_hi: int, texels: int,
                            target_bpp: float) -> tuple[int, bytes]:
    """Binary search for the largest integer quality in ``[quality_lo, quality_hi]`` whose
    encoded size ``bytes * 8 / texels`` is ``<= target_bpp`` (size treated as monotone in
    quality). If even ``quality_lo`` is over budget, that encode is returned with its real
    size. ``encode(quality) -> bytes``; each quality is encoded at most once."""
    cache: dict[int, bytes] = {}

    def encoded(q: int) -> bytes:
        if q not in cache:
            cache[q] = encode(q)
        return cache[q]

    def bpp(q: int) -> float:
        return len(encoded(q)) * 8.0 / texels

    if bpp(quality_lo) > target_bpp:
        return quality_lo, encoded(quality_lo)
    lo, hi = quality_lo, quality_hi  # invariant: bpp(lo) <= target
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if bpp(mid) <= target_bpp:
            lo = mid
        else:
            hi = mid - 1
    return lo, encoded(lo)


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
    best, data = _highest_quality_within(
        lambda q: bytes(ic.jpeg_encode(src, level=q, optimize=True)), 1, 100, h * w,
        target_bpp)
    decoded = np.asarray(ic.jpeg_decode(data))
    decoded = decoded.reshape(h, w, c)
    from .metrics import to_float

    return BaselineResult(
        name="jpeg",
        bits_per_texel=len(data) * 8.0 / (h * w),
        decoded=to_float(decoded),
        size_bytes=len(data),
        params={"quality": best, "target_bpp": float(target_bpp), "subsampling": "420"
                if c == 3 else None, "optimize": True},
    )


# ------------------------------------------------------------- WebP, AVIF, JPEG XL

#: Download codecs that :func:`image_codec_at_rate` matches to a rate, by name.
IMAGE_CODECS: tuple[str, ...] = ("jpeg", "webp", "avif", "jxl")

# name -> (imagecodecs capability class, quality search range, encoder settings text)
_IMAGE_CODEC_INFO: dict[str, tuple[str, tuple[int, int], str]] = {
    "webp": ("WEBP", (0, 100), "lossy, method 6 (slowest, best)"),
    "avif": ("AVIF", (0, 99), "libavif defaults (4:4:4 for RGB input), speed 6"),
    "jxl": ("JPEGXL", (1, 99), "libjxl quality setting (mapped to distance), effort 7"),
}


def _import_codec(cls_name: str, label: str):
    """imagecodecs, checked to have been built with ``cls_name`` (e.g. "WEBP")."""
    try:
        import imagecodecs
    except Exception as exc:
        raise BaselineUnavailable(f"{label} baseline needs the 'imagecodecs' package: {exc}"
                                  ) from exc
    if not getattr(getattr(imagecodecs, cls_name, None), "available", False):
        raise BaselineUnavailable(f"imagecodecs was built without {label} ({cls_name}) "
                                  "support")
    return imagecodecs


def _download_codec_at_rate(name: str, image_uint8: np.ndarray, target_bpp: float
                            ) -> BaselineResult:
    img = _check_image(image_uint8, (1, 3))
    if not target_bpp > 0:
        raise ValueError(f"target_bpp must be positive, got {target_bpp}")
    cls_name, (q_lo, q_hi), settings = _IMAGE_CODEC_INFO[name]
    ic = _import_codec(cls_name, name.upper())
    h, w, c = img.shape
    src = np.ascontiguousarray(img[..., 0]) if c == 1 else img
    if name == "webp":
        src = img if c == 3 else np.repeat(img, 3, axis=2)  # libwebp takes RGB(A) only
        encode = lambda q: bytes(ic.webp_encode(src, level=q, lossless=False, method=6))
        decode = lambda d: ic.webp_decode(d)
    elif name == "avif":
        encode = lambda q: bytes(ic.avif_encode(src, level=q, speed=6, numthreads=1))
        decode = lambda d: ic.avif_decode(d)
    else:
        encode = lambda q: bytes(ic.jpegxl_encode(src, level=q, effort=7, numthreads=1))
        decode = lambda d: ic.jpegxl_decode(d)
    best, data = _highest_quality_within(encode, q_lo, q_hi, h * w, target_bpp)
    decoded = np.asarray(decode(data))
    if decoded.ndim == 2:
        decoded = decoded[..., None]
    decoded = decoded[..., :c] if decoded.shape[2] >= c else decoded
    decoded = decoded.reshape(h, w, c)
    from .metrics import to_float

    return BaselineResult(
        name=name,
        bits_per_texel=len(data) * 8.0 / (h * w),
        decoded=to_float(decoded),
        size_bytes=len(data),
        params={"quality": best, "target_bpp": float(target_bpp), "settings": settings},
    )


def webp_at_rate(image_uint8: np.ndarray, target_bpp: float) -> BaselineResult:
    """Lossy WebP (imagecodecs/libwebp, method 6) at the highest quality 0..100 whose whole
    file fits ``target_bpp`` bits per texel; the search and the over-budget rule are those
    of :func:`jpeg_at_rate`. uint8 ``(H, W, 3)`` or ``(H, W, 1)``; ``name="webp"``."""
    return _download_codec_at_rate("webp", image_uint8, target_bpp)


def avif_at_rate(image_uint8: np.ndarray, target_bpp: float) -> BaselineResult:
    """AVIF (imagecodecs/libavif, speed 6) at the highest quality 0..99 (100 would be
    lossless) whose whole file fits ``target_bpp``; as :func:`jpeg_at_rate`.
    ``name="avif"``."""
    return _download_codec_at_rate("avif", image_uint8, target_bpp)


def jxl_at_rate(image_uint8: np.ndarray, target_bpp: float) -> BaselineResult:
    """JPEG XL (imagecodecs/libjxl, effort 7) at the highest quality 1..99 whose whole file
    fits ``target_bpp``; as :func:`jpeg_at_rate`. ``name="jxl"``."""
    return _download_codec_at_rate("jxl", image_uint8, target_bpp)


def image_codec_at_rate(codec: str, image_uint8: np.ndarray, target_bpp: float
                        ) -> BaselineResult:
    """The download codec ``codec`` (one of :data:`IMAGE_CODECS`) at ``target_bpp``.

    Raises ``ValueError`` for an unknown name and :class:`BaselineUnavailable` when the codec
    library is missing.
    """
    if codec == "jpeg":
        return jpeg_at_rate(image_uint8, target_bpp)
    if codec in _IMAGE_CODEC_INFO:
        return _download_codec_at_rate(codec, image_uint8, target_bpp)
    raise ValueError(f"unknown image codec {codec!r}; known: {', '.join(IMAGE_CODECS)}")


# ----------------------------------------------------------------------------- BC1, BC7

#: Block-compression formats (4x4 blocks) by name -> bytes per block.
BC_FORMATS: dict[str, int] = {"bc1": 8, "bc7": 16}


def _import_bc():
    try:
        import etcpak
    except Exception as exc:
        raise BaselineUnavailable(f"BC1/BC7 baselines need the 'etcpak' package (encoder): "
                                  f"{exc}") from exc
    try:
        import texture2ddecoder
    except Exception as exc:
        raise BaselineUnavailable("BC1/BC7 baselines need the 'texture2ddecoder' package "
                                  f"(decoder): {exc}") from exc
    return etcpak, texture2ddecoder


def block_compress(image_uint8: np.ndarray, fmt_name: str) -> BaselineResult:
    """BC1 or BC7 encode (etcpak) + decode (texture2ddecoder).

    The image is padded to a multiple of 4 texels by repeating its last row and column (the
    encoder needs whole blocks), encoded as RGBA (alpha 255 for RGB input), decoded, and
    cropped back. BC1 is 64 bits per 4x4 block (4 bpp), BC7 128 bits (8 bpp); the rate is
    ``blocks * bytes_per_block * 8 / (H * W)``, slightly above the nominal rate when the
    size is not a multiple of 4. etcpak's own decoders are not used (0.9.14-0.9.15 crash).
    texture2ddecoder returns BGRA, swapped back here.

    Parameters
    ----------
    image_uint8 : np.ndarray
        uint8 ``(H, W, 3)`` or ``(H, W, 4)``.
    fmt_name : str
        ``"bc1"`` or ``"bc7"``.
    """
    if fmt_name not in BC_FORMATS:
        raise ValueError(f"unknown block format {fmt_name!r}; known: {', '.join(BC_FORMATS)}")
    img = _check_image(image_uint8, (3, 4))
    etcpak, t2d = _import_bc()
    h, w, c = img.shape
    rgba = img if c == 4 else np.concatenate([img, np.full((h, w, 1), 255, np.uint8)], 2)
    ph, pw = -(-h // 4) * 4, -(-w // 4) * 4
    padded = np.ascontiguousarray(np.pad(rgba, ((0, ph - h), (0, pw - w), (0, 0)),
                                         mode="edge"))
    if fmt_name == "bc1":
        payload = bytes(etcpak.compress_bc1(padded.tobytes(), pw, ph))
        bgra = t2d.decode_bc1(payload, pw, ph)
    else:
        payload = bytes(etcpak.compress_bc7(padded.tobytes(), pw, ph, None))
        bgra = t2d.decode_bc7(payload, pw, ph)
    n_blocks = (pw // 4) * (ph // 4)
    if len(payload) != n_blocks * BC_FORMATS[fmt_name]:
        raise RuntimeError(f"{fmt_name} payload is {len(payload)} bytes, expected "
                           f"{n_blocks} blocks * {BC_FORMATS[fmt_name]}")
    decoded = np.frombuffer(bgra, np.uint8).reshape(ph, pw, 4)[:h, :w]
    decoded = decoded[..., [2, 1, 0, 3]][..., :c]
    from .metrics import to_float

    return BaselineResult(
        name=fmt_name,
        bits_per_texel=len(payload) * 8.0 / (h * w),
        decoded=to_float(np.ascontiguousarray(decoded)),
        size_bytes=len(payload),
        params={"encoder": "etcpak", "decoder": "texture2ddecoder",
                "block": (4, 4), "padded_to": (pw, ph)},
    )


def bc1(image_uint8: np.ndarray) -> BaselineResult:
    """BC1 (DXT1, 4 bpp), see :func:`block_compress`."""
    return block_compress(image_uint8, "bc1")


def bc7(image_uint8: np.ndarray) -> BaselineResult:
    """BC7 (8 bpp, etcpak's default mode search), see :func:`block_compress`."""
    return block_compress(image_uint8, "bc7")


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
