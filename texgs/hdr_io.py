"""Reading and writing HDR (floating-point) images: OpenEXR and floating-point TIFF.

Images are float32 arrays [H, W, C] with C in 1..4, row 0 at the top, holding linear-light
values exactly as stored in the file (they may exceed 1). Channel order follows the project's
convention for ordinary images (``texgs.images``): 1 = grey, 2 = grey + alpha, 3 = RGB,
4 = RGBA.

The codecs are optional dependencies (``pip install 'texgs[hdr]'``): the ``OpenEXR``
package (3.x API) for ``.exr`` and ``tifffile`` for ``.tif``/``.tiff``. Only NumPy is
imported with this module; each codec is imported inside the function that needs it, and a
missing one is reported as an :class:`~texgs.errors.InputError` /
:class:`~texgs.errors.OutputError` naming the package to install.

A ``.tif``/``.tiff`` suffix only says a file *may* be HDR: most TIFFs hold 8/16-bit integer
samples, which :func:`load_hdr` refuses and the caller reads with Pillow
(``texgs.images.load_texture``). Use :func:`probe_float_tiff` to tell the two apart.

Errors are always raised as one-line :class:`~texgs.errors.InputError` (reading) or
:class:`~texgs.errors.OutputError` (writing) messages that start with the file's path; codec
library exceptions never escape.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from . import format as fmt
from .errors import InputError, OutputError

HDR_SUFFIXES = (".exr", ".tif", ".tiff")
"""File suffixes (lower case) of files that may hold HDR data."""

_EXR_SUFFIXES = (".exr",)
_TIFF_SUFFIXES = (".tif", ".tiff")
_INSTALL_HINT = "pip install 'texgs[hdr]'"

_EXR_MAGIC = b"\x76\x2f\x31\x01"
_TIFF_MAGICS = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # classic and BigTIFF

# Channel names written for each channel count (and the layouts accepted when reading,
# besides a single channel of any name).
_EXR_WRITE_NAMES = {1: ("Y",), 2: ("Y", "A"), 3: ("R", "G", "B"), 4: ("R", "G", "B", "A")}
_EXR_PACKED = {"RGB": ("R", "G", "B"), "RGBA": ("R", "G", "B", "A")}


def is_hdr_path(path: str | os.PathLike[str]) -> bool:
    """True when ``path``'s suffix (case-insensitive) is one of :data:`HDR_SUFFIXES`.

    This means "may be HDR": a ``.tif``/``.tiff`` file may hold integer samples, which only
    :func:`probe_float_tiff` can tell. The file is not opened.
    """
    return Path(path).suffix.lower() in HDR_SUFFIXES


def probe_float_tiff(path: str | os.PathLike[str]) -> bool:
    """True only when ``path`` is a TIFF whose (first image's) samples are floating point.

    Reads the TIFF header and first directory only, never pixel data. Returns False for
    integer TIFFs and for anything that is missing, unreadable or not a TIFF (the caller's
    ordinary image reader then reports the problem). Uses ``tifffile``; where it is not
    installed, reads the SampleFormat tag itself, so that a float TIFF still goes to
    :func:`load_hdr`, which then says which package to install.
    """
    p = Path(path)
    try:
        if not p.is_file():
            return False
        with open(p, "rb") as f:
            if f.read(4) not in _TIFF_MAGICS:
                return False
    except OSError:
        return False
    try:
        import tifffile
    except ImportError:
        return _probe_float_tiff_header(p)
    try:
        with tifffile.TiffFile(p) as tf:
            dtype = tf.pages[0].dtype
        return dtype is not None and np.dtype(dtype).kind == "f"
    except Exception:  # noqa: BLE001 - any codec failure means "not a readable float TIFF"
        return False


def _probe_float_tiff_header(p: Path) -> bool:
    """Fallback of :func:`probe_float_tiff` without tifffile: parse the first image file
    directory and check whether its SampleFormat tag (339) says IEEE floating point (3)."""
    import struct

    try:
        with open(p, "rb") as f:
            head = f.read(16)
            order = {b"II": "<", b"MM": ">"}.get(head[:2])
            if order is None or len(head) < 16:
                return False
            (version,) = struct.unpack(order + "H", head[2:4])
            if version == 42:  # classic TIFF: 2-byte entry count, 12-byte entries
                (ifd,) = struct.unpack(order + "I", head[4:8])
                count_fmt, entry_size, value_size = "H", 12, 4
            elif version == 43:  # BigTIFF: 8-byte entry count, 20-byte entries
                (ifd,) = struct.unpack(order + "Q", head[8:16])
                count_fmt, entry_size, value_size = "Q", 20, 8
            else:
                return False
            f.seek(ifd)
            raw = f.read(struct.calcsize(count_fmt))
            (n,) = struct.unpack(order + count_fmt, raw)
            if not 0 < n <= 4096:
                return False
            entries = f.read(n * entry_size)
            for i in range(0, len(entries) - entry_size + 1, entry_size):
                tag, typ = struct.unpack(order + "HH", entries[i:i + 4])
                if tag != 339:
                    continue
                if typ != 3:  # SampleFormat is an array of SHORT
                    return False
                count_end = 8 if value_size == 4 else 12
                (count,) = struct.unpack(
                    order + ("I" if value_size == 4 else "Q"), entries[i + 4:i + count_end]
                )
                if not 0 < count <= 64:
                    return False
                field = entries[i + count_end:i + entry_size]
                if 2 * count > value_size:  # the values are stored elsewhere
                    (offset,) = struct.unpack(order + ("I" if value_size == 4 else "Q"), field)
                    f.seek(offset)
                    field = f.read(2 * count)
                values = struct.unpack(order + "H" * count, field[:2 * count])
                return 3 in values
            return False  # no SampleFormat tag: unsigned integer samples
    except (OSError, struct.error, ValueError, OverflowError):
        return False


def load_hdr(path: str | os.PathLike[str]) -> tuple[np.ndarray, int]:
    """Read an OpenEXR or floating-point TIFF file -> (float32 [H, W, C], C).

    Row 0 is the top row; C is 1..4 (grey, grey + alpha, RGB, RGBA); values are linear light
    as stored, finite and non-negative, and may exceed 1.

    OpenEXR: the first part's data window is read (every part is decoded and must be
    valid and within the size limit); channels R,G,B[,A], Y[,A] or one single
    channel of any name; half or float samples (uint32 refused); no subsampled channels.
    TIFF: the first image; float16/32/64 samples, grey or [H, W, C] with C in 1..4; integer
    TIFFs are refused (read those with Pillow).

    Raises :class:`InputError` (message starts with the path) for a missing or unreadable
    file, a directory, corrupt or truncated data, an unsupported layout or sample type,
    width or height above ``texgs.format.MAX_DIMENSION`` (checked from the header before
    any pixel is decoded), NaN/Inf or negative values, or a missing codec package.
    """
    p = Path(path)
    magic = _read_magic(p)
    suffix = p.suffix.lower()
    if suffix in _EXR_SUFFIXES:
        if magic != _EXR_MAGIC:
            raise InputError(f"{p}: not an OpenEXR file")
        img = _load_exr(p)
    elif suffix in _TIFF_SUFFIXES:
        if magic not in _TIFF_MAGICS:
            raise InputError(f"{p}: not a TIFF file")
        img = _load_tiff(p)
    else:
        raise InputError(f"{p}: not an HDR file (expected a .exr, .tif or .tiff suffix)")
    _check_values(p, img)
    return img, int(img.shape[2])


def write_hdr(path: str | os.PathLike[str], img: np.ndarray) -> None:
    """Write float [H, W, C] (C in 1..4, row 0 at the top) as a float32 HDR file, atomically.

    ``.exr``: float32 channels Y / Y,A / R,G,B / R,G,B,A, ZIP compression. ``.tif``/``.tiff``:
    float32 samples, zlib compression. Values are stored as given (float32 round trips
    exactly); NaN/Inf are refused, negative values are written as they are.

    The file is written to a temporary file in the same folder and renamed over ``path``:
    a failure leaves the old file (or none) and no temporary file. Raises
    :class:`OutputError` (message starts with the path) for an unknown suffix, a bad
    image, a missing folder, a missing codec package or a failed write.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in HDR_SUFFIXES:
        raise OutputError(f"{p}: unknown HDR suffix {suffix!r} (expected .exr, .tif or .tiff)")
    arr = _image_for_writing(p, img)
    if suffix in _EXR_SUFFIXES:
        try:
            import OpenEXR
        except ImportError:
            raise OutputError(
                f"{p}: writing OpenEXR files needs the OpenEXR package ({_INSTALL_HINT})"
            ) from None

        def writer(tmp: str) -> None:
            channels = {
                name: np.ascontiguousarray(arr[..., i])
                for i, name in enumerate(_EXR_WRITE_NAMES[arr.shape[2]])
            }
            header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
            with contextlib.redirect_stdout(io.StringIO()):
                OpenEXR.File(header, channels).write(tmp)

    else:
        try:
            import tifffile
        except ImportError:
            raise OutputError(
                f"{p}: writing float TIFF files needs the tifffile package ({_INSTALL_HINT})"
            ) from None

        def writer(tmp: str) -> None:
            c = arr.shape[2]
            data = arr[..., 0] if c == 1 else arr
            tifffile.imwrite(
                tmp,
                data,
                photometric="rgb" if c >= 3 else "minisblack",
                planarconfig="contig" if c > 1 else None,
                extrasamples=("unassalpha",) if c in (2, 4) else None,
                compression="zlib",
                metadata=None,
            )

    _atomic_write(p, writer)


# --- reading -------------------------------------------------------------------------------


def _one_line(e: BaseException) -> str:
    """A short one-line description of a codec exception."""
    text = " ".join(str(e).split())
    if not text:
        text = type(e).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _read_magic(p: Path) -> bytes:
    """The first 4 bytes of ``p``; InputError for a missing file, a directory or no access."""
    if not p.exists():
        raise InputError(f"{p}: no such file")
    if p.is_dir():
        raise InputError(f"{p}: is a directory, not an image")
    if not p.is_file():
        raise InputError(f"{p}: not a regular file")
    try:
        with open(p, "rb") as f:
            return f.read(4)
    except OSError as e:
        raise InputError(f"{p}: cannot read ({e.strerror or _one_line(e)})") from None


def _check_dimensions(p: Path, w: int, h: int) -> None:
    if w < 1 or h < 1:
        raise InputError(f"{p}: image has zero size ({w}x{h})")
    if w > fmt.MAX_DIMENSION or h > fmt.MAX_DIMENSION:
        raise InputError(f"{p}: {w}x{h} exceeds the {fmt.MAX_DIMENSION} texel limit")


def _check_values(p: Path, img: np.ndarray) -> None:
    """InputError unless every value of ``img`` is finite and non-negative."""
    if not np.isfinite(img).all():
        raise InputError(f"{p}: contains NaN or infinite values")
    if (img < 0).any():
        raise InputError(f"{p}: negative values are not supported (minimum {float(img.min()):g})")


def _exr_layout(p: Path, names: list[str]) -> tuple[str, ...]:
    """The channel names to read, in output order, for an EXR with channels ``names``."""
    s = set(names)
    for layout in (("R", "G", "B", "A"), ("R", "G", "B"), ("Y", "A"), ("Y",)):
        if s == set(layout):
            return layout
    if len(names) == 1:
        return (names[0],)
    shown = ", ".join(repr(n) for n in sorted(names)[:8]) + (", ..." if len(names) > 8 else "")
    raise InputError(
        f"{p}: EXR channels {shown} are not supported "
        "(expected R,G,B[,A], Y[,A] or a single channel)"
    )


def _load_exr(p: Path) -> np.ndarray:
    try:
        import OpenEXR
    except ImportError:
        raise InputError(
            f"{p}: reading OpenEXR files needs the OpenEXR package ({_INSTALL_HINT})"
        ) from None
    # The bindings print some decode problems to sys.stdout instead of raising: capture them.
    log = io.StringIO()
    try:
        # 1. Header only: dimensions and channel layout, before any pixel is decoded.
        with contextlib.redirect_stdout(log):
            head = OpenEXR.File(str(p), separate_channels=True, header_only=True)
        if not head.parts:
            raise InputError(f"{p}: corrupt OpenEXR header")
        # The library decodes every part, so every part must be acceptable.
        for index in range(len(head.parts)):
            part_header = head.header(index)
            if part_header.get("type") in (OpenEXR.deepscanline, OpenEXR.deeptile):
                raise InputError(f"{p}: deep OpenEXR images are not supported")
            lo, hi = part_header["dataWindow"]
            part_w = int(hi[0]) - int(lo[0]) + 1
            part_h = int(hi[1]) - int(lo[1]) + 1
            _check_dimensions(p, part_w, part_h)
            if index == 0:
                header, w, h = part_header, part_w, part_h
        infos = list(header.get("channels") or [])
        if not infos:
            raise InputError(f"{p}: OpenEXR file has no channels")
        for info in infos:
            if info.xSampling != 1 or info.ySampling != 1:
                raise InputError(f"{p}: subsampled EXR channel {info.name!r} is not supported")
        layout = _exr_layout(p, [info.name for info in infos])

        # 2. Pixels.
        with contextlib.redirect_stdout(log):
            full = OpenEXR.File(str(p), separate_channels=True)
        # A part whose pixels fail to decode is dropped from .parts (with a printed warning).
        if len(full.parts) != len(head.parts):
            detail = " ".join(log.getvalue().split()).removeprefix("Warning: ")
            raise InputError(
                f"{p}: corrupt or truncated OpenEXR data" + (f" ({detail})" if detail else "")
            )
        planes: dict[str, np.ndarray] = {}
        for name, channel in full.channels(0).items():
            pixels = channel.pixels
            if pixels is not None and pixels.ndim == 3 and name in _EXR_PACKED:
                for i, sub in enumerate(_EXR_PACKED[name]):
                    planes[sub] = pixels[..., i]
            else:
                planes[name] = pixels
        out = np.empty((h, w, len(layout)), np.float32)
        for i, name in enumerate(layout):
            pixels = planes.get(name)
            if pixels is None:
                raise InputError(f"{p}: EXR channel {name!r} has no pixel data")
            if pixels.dtype not in (np.float16, np.float32):
                raise InputError(
                    f"{p}: EXR channel {name!r} holds {pixels.dtype} samples "
                    "(only half and float are supported)"
                )
            if pixels.shape != (h, w):
                raise InputError(
                    f"{p}: EXR channel {name!r} is {pixels.shape}, expected {(h, w)}"
                )
            out[..., i] = pixels
    except InputError:
        raise
    except Exception as e:  # noqa: BLE001 - never let a codec traceback escape
        raise InputError(f"{p}: cannot read OpenEXR file ({_one_line(e)})") from None
    return out


def _load_tiff(p: Path) -> np.ndarray:
    try:
        import tifffile
    except ImportError:
        raise InputError(
            f"{p}: reading float TIFF files needs the tifffile package ({_INSTALL_HINT})"
        ) from None
    try:
        with tifffile.TiffFile(p) as tf:
            page = tf.pages[0]
            dtype = page.dtype
            if dtype is None or np.dtype(dtype).kind != "f":
                raise InputError(
                    f"{p}: not a floating-point TIFF ({dtype} samples); "
                    "read it as an ordinary image"
                )
            if getattr(page, "imagedepth", 1) > 1:
                raise InputError(f"{p}: volumetric TIFF images are not supported")
            _check_dimensions(p, int(page.imagewidth), int(page.imagelength))
            axes, shape = page.axes, page.shape
            if axes == "YX":
                c = 1
            elif axes == "YXS":
                c = shape[2]
            elif axes == "SYX":
                c = shape[0]
            else:
                raise InputError(f"{p}: TIFF layout {axes!r} is not supported")
            if not 1 <= c <= 4:
                raise InputError(f"{p}: {c} channels: expected 1 to 4")
            size = tf.filehandle.size
            for offset, count in zip(page.dataoffsets, page.databytecounts):
                if count == 0 or offset + count > size:
                    raise InputError(f"{p}: truncated or corrupt TIFF data")
            data = page.asarray()
    except InputError:
        raise
    except Exception as e:  # noqa: BLE001 - never let a codec traceback escape
        raise InputError(f"{p}: cannot read TIFF file ({_one_line(e)})") from None
    if axes == "YX":
        data = data[..., None]
    elif axes == "SYX":
        data = np.moveaxis(data, 0, -1)
    with np.errstate(over="ignore", invalid="ignore"):  # float64 overflow -> inf, caught later
        return np.ascontiguousarray(data, dtype=np.float32)


# --- writing -------------------------------------------------------------------------------


def _image_for_writing(p: Path, img: np.ndarray) -> np.ndarray:
    """``img`` as contiguous float32 [H, W, C], C in 1..4, all finite; OutputError otherwise."""
    arr = np.asarray(img)
    if arr.ndim != 3 or not 1 <= arr.shape[2] <= 4 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise OutputError(f"{p}: expected an image [H, W, C] with C in 1..4, got {arr.shape}")
    if arr.dtype.kind != "f":
        raise OutputError(f"{p}: expected floating-point samples, got {arr.dtype}")
    with np.errstate(over="ignore", invalid="ignore"):
        arr = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.isfinite(arr).all():
        raise OutputError(f"{p}: image contains NaN or infinite values")
    return arr


def _atomic_write(p: Path, writer: Callable[[str], None]) -> None:
    """Run ``writer(tmp)`` on a temporary path beside ``p``, then rename it over ``p``.

    A crash at any moment leaves either the old file or none, never a partial one; on
    failure the temporary file is removed and :class:`OutputError` raised.
    """
    parent = p.parent
    if not parent.is_dir():
        raise OutputError(f"{p}: folder {parent} does not exist")
    if p.is_dir():
        raise OutputError(f"{p}: is a directory")
    try:
        old_mode = p.stat().st_mode & 0o777 if p.exists() else 0o644
    except OSError:
        old_mode = 0o644
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=p.suffix, dir=parent)
        os.close(fd)
    except OSError as e:
        raise OutputError(f"{p}: cannot write ({e.strerror or _one_line(e)})") from None
    try:
        writer(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, old_mode)  # mkstemp creates 0600; give the file ordinary permissions
        os.replace(tmp, p)
    except OutputError:
        raise
    except OSError as e:
        raise OutputError(f"{p}: cannot write ({e.strerror or _one_line(e)})") from None
    except Exception as e:  # noqa: BLE001 - never let a codec traceback escape
        raise OutputError(f"{p}: cannot write ({_one_line(e)})") from None
    finally:
        if os.path.exists(tmp):
            with contextlib.suppress(OSError):
                os.unlink(tmp)
