"""Reading textures and writing images and files atomically (Pillow, NumPy).

Textures are returned as float32 [H, W, C] in [0, 1], row 0 at the top, in the file's own
encoding (sRGB-encoded colour stays sRGB-encoded; docs/CONVENTIONS.md).
"""

from __future__ import annotations

import io
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import format as fmt
from .errors import InputError, OutputError


@dataclass(frozen=True)
class TextureInfo:
    """Where a texture came from: its Pillow mode and bits per sample."""

    path: str
    mode: str
    bits: int


def channel_infos_for(n: int) -> list[fmt.ChannelInfo]:
    """Default meaning of an image's channels: one base-colour map, colour sRGB-encoded, the
    4th (or 2nd of grey+alpha) channel linear straight alpha (see :func:`map_for`)."""
    if n not in (1, 2, 3, 4):
        raise InputError(f"{n} channels: expected 1 to 4")
    if n in (1, 2):
        out = [fmt.ChannelInfo(fmt.MAP_BASECOLOR, 0, fmt.ENCODING_SRGB)]
    else:
        out = [fmt.ChannelInfo(fmt.MAP_BASECOLOR, i, fmt.ENCODING_SRGB) for i in range(3)]
    if n in (2, 4):
        out.append(fmt.ChannelInfo(fmt.MAP_BASECOLOR, len(out), fmt.ENCODING_LINEAR))
    return out


def load_texture(path: str | Path) -> tuple[np.ndarray, TextureInfo]:
    """Read an image file -> (float32 [H, W, C] in [0, 1], info). Raises :class:`InputError`."""
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file")
    if p.is_dir():
        raise InputError(f"{p}: is a directory, not an image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(p)
            w, h = im.size
            if w < 1 or h < 1:
                raise InputError(f"{p}: image has zero size ({w}x{h})")
            if w > fmt.MAX_DIMENSION or h > fmt.MAX_DIMENSION:
                raise InputError(f"{p}: {w}x{h} exceeds the {fmt.MAX_DIMENSION} texel limit")
            im.load()
    except InputError:
        raise
    except UnidentifiedImageError:
        raise InputError(f"{p}: not an image format texgs can read") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InputError(f"{p}: image dimensions are too large (decompression bomb?)") from None
    except (OSError, ValueError, SyntaxError) as e:
        raise InputError(f"{p}: cannot read image ({e})") from None
    mode = im.mode
    bits = 16 if mode.startswith("I;16") or mode == "I" else 8
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif mode in ("1", "CMYK", "YCbCr", "LAB", "HSV"):
        im = im.convert("RGB" if mode != "1" else "L")
    elif mode == "PA":
        im = im.convert("RGBA")
    elif mode == "La":
        im = im.convert("LA")
    elif mode == "RGBa":
        im = im.convert("RGBA")
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(im, dtype=np.float64)[..., None] / 65535.0
    elif im.mode == "F":
        raise InputError(f"{p}: float images are not supported yet")
    elif im.mode in ("L", "LA", "RGB", "RGBA"):
        arr = np.asarray(im, dtype=np.float64) / 255.0
        if arr.ndim == 2:
            arr = arr[..., None]
    else:
        raise InputError(f"{p}: image mode {im.mode} is not supported")
    arr = np.clip(arr, 0.0, 1.0).astype(np.float32)
    return np.ascontiguousarray(arr), TextureInfo(str(p), mode, bits)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``.

    A crash at any moment leaves either the old file or none, never a partial one.
    """
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"{p}: folder {parent} does not exist")
    if p.is_dir():
        raise OutputError(f"{p}: is a directory")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=parent)
    except OSError as e:
        raise OutputError(f"{p}: cannot write ({e.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates 0600; give the file the mode a plain open() would (0666 - umask),
        # or keep the mode of the file it replaces
        try:
            mode = p.stat().st_mode & 0o777
        except OSError:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        os.replace(tmp, p)
    except OSError as e:
        raise OutputError(f"{p}: cannot write ({e.strerror})") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def to_uint8(img: np.ndarray) -> np.ndarray:
    """float [H, W, C] in [0, 1] -> uint8, rounding to nearest."""
    return (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def encode_png(img: np.ndarray) -> bytes:
    """PNG bytes of a float image [H, W, C] with C in 1..4 (8 bits per sample)."""
    from PIL import Image

    c = img.shape[2]
    modes = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}
    if c not in modes:
        raise OutputError(f"cannot store {c} channels in one PNG")
    u8 = to_uint8(img)
    buf = io.BytesIO()
    Image.fromarray(u8[..., 0] if c == 1 else u8, modes[c]).save(buf, format="PNG")
    return buf.getvalue()
