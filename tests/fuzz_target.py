"""The fuzz target every asset fuzzer shares: tests/test_fuzz.py (the bounded CI run, the
corpus and the hypothesis properties) and bench/fuzz_assets.py (the long run).

Contract (docs/FORMAT.md, "what a reader must reject"): every input either decodes or raises
:class:`texgs.errors.AssetFormatError`; no other exception, no allocation beyond what the
file's length implies, no hang. :func:`check_input` enforces it for one input:

1. ``read_asset(data)`` and ``read_asset(data, lod=1)`` (the streaming read) under
   ``tracemalloc``: anything but ``AssetFormatError`` escapes, and a peak of traced memory
   above :func:`memory_limit` is an ``AssertionError``;
2. when a read succeeds, the runtime must take the asset: ``build_gpu_buffers`` on the first
   LOD, a decode of an 8 x 8 grid (all LODs up to ``MAX_DECODE_GAUSSIANS`` Gaussians, else the
   first LOD if it is small enough, else none) and ``finish_map`` of every map. A runtime
   failure on an accepted file is a reader bug;
3. the same again on the input with its header CRC and every locatable chunk CRC recomputed
   (:func:`repair_crcs`), so that mutations reach the checks behind the CRCs instead of
   dying at the CRC compare.

Per-input cost stays small: the runtime steps use a tile index of at most
``MAX_TILES_PER_AXIS``^2 tiles (docs/FORMAT.md: the tile size a runtime picks does not change
results), so a valid 16384 x 16384 asset costs as little as an 8 x 8 one.

Run directly, this file is an atheris (libFuzzer) fuzzer; libFuzzer flags pass through:

    python tests/fuzz_target.py -runs=10000 -timeout=5 WORK_DIR tests/corpus
"""

from __future__ import annotations

import dataclasses
import struct
import sys
import tracemalloc
import zlib
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

if __name__ == "__main__":
    # Run as the atheris fuzzer: instrument texgs (only texgs: instrumenting NumPy and the
    # standard library takes a minute and adds nothing) for coverage feedback.
    import atheris

    with atheris.instrument_imports(include=["texgs"]):
        import texgs.decode  # noqa: F401
        import texgs.format  # noqa: F401
        import texgs.layout  # noqa: F401
        import texgs.runtime  # noqa: F401

import numpy as np  # noqa: E402

from texgs import format as fmt  # noqa: E402
from texgs.decode import decode_texture, finish_map  # noqa: E402
from texgs.errors import AssetFormatError  # noqa: E402
from texgs.runtime import build_gpu_buffers  # noqa: E402

CORPUS = ROOT / "tests" / "corpus"
# Decode all LODs only up to this many Gaussians (else the first LOD, if small enough).
MAX_DECODE_GAUSSIANS = 4096
# The runtime steps bin Gaussians into at most this many tiles per axis.
MAX_TILES_PER_AXIS = 16
# Reader memory guard: peak traced bytes < MEMORY_PER_BYTE * len(data) + MEMORY_SLACK
# (+ the records the reader returns, see memory_limit).
MEMORY_PER_BYTE = 64
MEMORY_SLACK = 1 << 20
DECODE_SIZE = (8, 8)


def memory_limit(data_len: int, asset: fmt.Asset | None) -> int:
    """Most bytes ``read_asset`` may have traced at its peak for an input of ``data_len`` bytes.

    64 bytes per input byte plus 1 MiB of working memory, plus the size of the record array
    it returned (``uint32 [N, 5 + C]``): that array is the reader's result, its size follows
    from records that are really in the file (N <= 8 * len / record_bits), but a record of 5
    bits with 64 zero-bit channels still unpacks to 276 bytes, so it cannot be held to
    64 bytes per input byte.
    """
    extra = 0 if asset is None else int(asset.fields.nbytes)
    return MEMORY_PER_BYTE * data_len + MEMORY_SLACK + extra


def traced(fn: Callable[[], Any]) -> tuple[Any, BaseException | None, int]:
    """(result, exception or None, peak traced bytes above the start) of ``fn()``."""
    was_tracing = tracemalloc.is_tracing()
    if was_tracing:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
    else:
        base = 0
        tracemalloc.start()
    result, error = None, None
    try:
        try:
            result = fn()
        except Exception as e:  # judged by the caller
            error = e
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        if not was_tracing:
            tracemalloc.stop()
    return result, error, peak


def guarded_read(data: bytes, lod: int | None = None) -> fmt.Asset | None:
    """``read_asset(data, lod=lod)`` under tracemalloc: the asset, or None on AssetFormatError.

    Any other exception propagates; a peak above :func:`memory_limit` raises AssertionError.
    """
    asset, error, peak = traced(lambda: fmt.read_asset(data, "fuzz.tgs", lod=lod))
    if error is not None and not isinstance(error, AssetFormatError):
        raise error
    limit = memory_limit(len(data), asset)
    if peak >= limit:
        raise AssertionError(f"read_asset(lod={lod}) of {len(data)} bytes peaked at {peak} "
                             f"traced bytes, limit {limit}")
    return asset


def runtime_tile(asset: fmt.Asset) -> int:
    """Tile size for the runtime steps: the asset's own, or larger so that the index has at
    most MAX_TILES_PER_AXIS tiles per axis."""
    most = max(asset.width, asset.height)
    return max(asset.tile_size, -(-most // MAX_TILES_PER_AXIS))


def exercise_runtime(asset: fmt.Asset) -> None:
    """Everything a runtime does with a freshly read asset, kept cheap. Must not raise."""
    tile = runtime_tile(asset)
    c = asset.channel_count
    # Extreme but finite ranges (e.g. lo = -3e38, hi = 3e38) overflow float32 arithmetic;
    # that gives inf/NaN texels, not an exception, and the warnings are only noise here.
    with np.errstate(all="ignore"):
        bufs = build_gpu_buffers(asset, lod=1, tile=tile)
        n1 = asset.lod_counts[0]
        assert bufs.index.tiles_x * bufs.index.tiles_y <= MAX_TILES_PER_AXIS ** 2
        assert int(bufs.meta[3]) == n1 and int(bufs.index.offsets[-1]) == bufs.index.ids.shape[0]
        if asset.gaussian_count <= MAX_DECODE_GAUSSIANS:
            lod = None
        elif n1 <= MAX_DECODE_GAUSSIANS:
            lod = 1
        else:
            return
        small = dataclasses.replace(asset, tile_size=tile)
        out = decode_texture(small, lod=lod, size=DECODE_SIZE)
        assert out.shape == (DECODE_SIZE[1], DECODE_SIZE[0], c), out.shape
        for m in asset.map_table():
            texels = finish_map(m, asset, out[..., m.first_channel:m.first_channel +
                                              m.channel_count])
            assert texels.shape == out.shape[:2] + (m.channel_count,)


def check_bytes(data: bytes) -> None:
    """One input, as is: whole read, streaming read of LOD 1, runtime on what was accepted."""
    whole = guarded_read(data)
    if whole is not None:
        exercise_runtime(whole)
    first = guarded_read(data, lod=1)
    if first is None:
        # A file the whole read accepts has a valid header and a first chunk.
        assert whole is None, "read_asset accepted the file but not its first LOD"
        return
    assert len(first.lod_counts) == 1 and first.gaussian_count == first.lod_counts[0]
    if whole is not None:
        np.testing.assert_array_equal(first.fields, whole.fields[:first.gaussian_count])
    else:
        exercise_runtime(first)


def repair_crcs(data: bytes) -> bytes:
    """``data`` with every chunk CRC its LOD table locates inside the data, then the header
    CRC, recomputed (as far as the fields that place them can be read). Cost: O(32 len)."""
    if len(data) < fmt.FIXED_HEADER_SIZE:
        return data
    buf = bytearray(data)
    hsize = struct.unpack_from("<H", buf, 6)[0]
    nch, nlod = struct.unpack_from("<HH", buf, 16)
    nmaps = buf[31]
    tbase = fmt.FIXED_HEADER_SIZE + 16 * nmaps + 16 * nch
    if nlod <= fmt.MAX_LODS and tbase + 16 * nlod <= len(buf):
        for i in range(nlod):
            entry = tbase + 16 * i
            _cnt, off, length, _crc = struct.unpack_from("<IIII", buf, entry)
            if off + length <= len(buf):
                struct.pack_into("<I", buf, entry + 12, zlib.crc32(bytes(buf[off:off + length])))
    if fmt.FIXED_HEADER_SIZE <= hsize <= len(buf):
        struct.pack_into("<I", buf, fmt.HEADER_CRC_OFFSET, 0)
        struct.pack_into("<I", buf, fmt.HEADER_CRC_OFFSET, zlib.crc32(bytes(buf[:hsize])))
    return bytes(buf)


def check_input(data: bytes) -> None:
    """The fuzz target: ``data`` as is, then with its CRCs repaired (when that changes it)."""
    check_bytes(data)
    fixed = repair_crcs(data)
    if fixed != data:
        check_bytes(fixed)


def corpus_files() -> list[Path]:
    return sorted(CORPUS.glob("*.tgs"))


def main(argv: list[str]) -> None:
    """libFuzzer over :func:`check_input`; ``argv``: libFuzzer flags and corpus folders."""
    import atheris

    atheris.Setup(argv, check_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
