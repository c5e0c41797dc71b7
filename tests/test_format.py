"""Asset format v2: bit packing, round trip, streaming prefixes, and every kind of damage."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from texgs import format as fmt
from texgs.errors import AssetFormatError

GOLDEN = Path(__file__).parent / "golden"


def _asset(seed=0, counts=(8, 8, 3), c=3, bits=8) -> fmt.Asset:
    rng = np.random.default_rng(seed)
    layout = fmt.RecordLayout(12, 8, 8, (bits,) * c)
    n = sum(counts)
    fields = np.zeros((n, 5 + c), np.uint32)
    for col, w in enumerate(layout.field_bits):
        fields[:, col] = rng.integers(0, 1 << w, n)
    chans = [fmt.ChannelInfo(fmt.MAP_BASECOLOR, i, fmt.ENCODING_SRGB, bits, 0.0, 1.0, 0.5)
             for i in range(c)]
    return fmt.Asset(width=64, height=48, channels=chans, layout=layout, log2_scale_min=-1.0,
                     log2_scale_max=3.0, fields=fields, lod_counts=list(counts))


@pytest.mark.parametrize("widths", [(12, 12, 8, 8, 8, 8, 8, 8), (1, 24, 3, 17, 5), (32 // 4,) * 4,
                                    (7, 9, 11, 13)])
def test_pack_unpack_round_trip(widths):
    rng = np.random.default_rng(1)
    n = 37
    fields = np.stack([rng.integers(0, 1 << w, n) for w in widths], 1).astype(np.uint32)
    words = fmt.pack_fields(fields, widths)
    assert words.shape[0] == (n * sum(widths) + 31) // 32
    np.testing.assert_array_equal(fmt.unpack_fields(words, n, widths), fields)


def test_pack_bit_order_is_lsb_first():
    # Two records of (x: 4 bits, y: 4 bits): record 0 = (0x3, 0xA), record 1 = (0xF, 0x1).
    words = fmt.pack_fields(np.array([[0x3, 0xA], [0xF, 0x1]], np.uint32), (4, 4))
    assert words.tolist() == [0x1FA3]


def test_pack_rejects_values_wider_than_field():
    with pytest.raises(ValueError):
        fmt.pack_fields(np.array([[16]], np.uint32), (4,))


def test_round_trip_preserves_everything():
    a = _asset()
    data = fmt.write_asset(a)
    b = fmt.read_asset(data)
    np.testing.assert_array_equal(a.fields, b.fields)
    assert (b.width, b.height, b.lod_counts, b.channels, b.layout) == (
        a.width, a.height, a.lod_counts, a.channels, a.layout)
    assert (b.log2_scale_min, b.log2_scale_max, b.top_k, b.tile_size) == (
        a.log2_scale_min, a.log2_scale_max, a.top_k, a.tile_size)
    # the file is exactly header + padded chunks
    rbits = a.layout.record_bits
    assert len(data) == a.header_size() + sum(fmt.chunk_payload_bytes(c, rbits)
                                              for c in a.lod_counts)


def test_writer_enforces_chunk_alignment():
    a = _asset(counts=(7, 8, 3))  # 72-bit records need multiples of 4 before the last chunk
    with pytest.raises(ValueError, match="multiple of 4"):
        fmt.write_asset(a)


def test_streamed_prefix_reads_first_chunks_only():
    a = _asset()
    data = fmt.write_asset(a)
    end1 = a.lods[0].offset + a.lods[0].length
    b = fmt.read_asset(data[:end1], lod=1)
    np.testing.assert_array_equal(b.fields, a.fields[:8])
    assert b.lod_counts == [8]
    with pytest.raises(AssetFormatError, match="truncated"):
        fmt.read_asset(data[:end1], lod=2)
    with pytest.raises(AssetFormatError, match="truncated"):
        fmt.read_asset(data[:end1])  # a whole-file read of a prefix is an error


def _fix_header_crc(buf: bytearray) -> None:
    hsize = struct.unpack_from("<H", buf, 6)[0]
    struct.pack_into("<I", buf, fmt.HEADER_CRC_OFFSET, 0)
    struct.pack_into("<I", buf, fmt.HEADER_CRC_OFFSET, zlib.crc32(bytes(buf[:hsize])))


def _mutated(data: bytes, offset: int, fmt_char: str, value) -> bytes:
    buf = bytearray(data)
    struct.pack_into("<" + fmt_char, buf, offset, value)
    _fix_header_crc(buf)
    return bytes(buf)


@pytest.fixture(scope="module")
def good() -> bytes:
    return fmt.write_asset(_asset())


@pytest.mark.parametrize("name,mutate,message", [
    ("empty", lambda d: b"", "shorter than"),
    ("short header", lambda d: d[:40], "shorter than"),
    ("bad magic", lambda d: b"JUNK" + d[4:], "not a texgs asset"),
    ("future version", lambda d: _mutated(d, 4, "H", 9), "version 9"),
    ("header crc", lambda d: d[:20] + bytes([d[20] ^ 1]) + d[21:], "header CRC"),
    ("huge width", lambda d: _mutated(d, 8, "I", 1 << 30), "dimensions"),
    ("zero height", lambda d: _mutated(d, 12, "I", 0), "dimensions"),
    ("too many channels", lambda d: _mutated(d, 16, "H", 5000), "channel count"),
    ("zero lods", lambda d: _mutated(d, 18, "H", 0), "LOD count"),
    ("gaussian count", lambda d: _mutated(d, 20, "I", 1 << 30), "Gaussian count"),
    ("top-k", lambda d: _mutated(d, 24, "B", 0), "top-K"),
    ("tile", lambda d: _mutated(d, 25, "B", 1), "tile size"),
    ("address", lambda d: _mutated(d, 26, "B", 3), "address mode"),
    ("flags", lambda d: _mutated(d, 27, "B", 1), "reserved"),
    ("reserved word", lambda d: _mutated(d, 48, "I", 7), "reserved"),
    ("nan scale range", lambda d: _mutated(d, 32, "f", float("nan")), "scale range"),
    ("inf colour range", lambda d: _mutated(d, 80 + 8, "f", float("inf")), "range"),
    ("zero maps", lambda d: _mutated(d, 31, "B", 0), "map count"),
    ("map kind", lambda d: _mutated(d, 64, "B", 200), "unknown kind"),
    ("map flags", lambda d: _mutated(d, 65, "B", 0x80), "unknown flags"),
    ("map channels", lambda d: _mutated(d, 67, "B", 2), "channels"),
    ("map too wide", lambda d: _mutated(d, 68, "H", 9999), "size"),
    ("map reserved", lambda d: _mutated(d, 72, "I", 1), "reserved"),
    ("channel map index", lambda d: _mutated(d, 80, "B", 3), "unknown map"),
    ("normal flag on colour", lambda d: _mutated(d, 65, "B", 1), "normal-z"),
    ("record bits", lambda d: _mutated(d, 40, "H", 71), "record size"),
    ("field width 0", lambda d: _mutated(d, 28, "B", 0), "field width"),
    ("lod past end", lambda d: _mutated(d, 80 + 48 + 16 * 2 + 4, "I", 10_000), "starts at"),
    ("lod length", lambda d: _mutated(d, 80 + 48 + 8, "I", 1 << 31), "length"),
    ("truncated chunk", lambda d: d[:-3], "truncated"),
    ("trailing bytes", lambda d: d + b"\0\0\0\0", "unexpected bytes"),
    ("chunk bit flip", lambda d: d[:-5] + bytes([d[-5] ^ 0x10]) + d[-4:], "CRC mismatch"),
])
def test_damaged_assets_raise_format_error(good, name, mutate, message):
    with pytest.raises(AssetFormatError, match=message):
        fmt.read_asset(mutate(good), "x.tgs")


def test_every_single_bit_flip_is_detected(good):
    """Header and chunk CRCs cover every byte: each flipped bit is an error, none a crash."""
    for byte in range(len(good)):
        for bit in (0, 3, 7):
            buf = bytearray(good)
            buf[byte] ^= 1 << bit
            with pytest.raises(AssetFormatError):
                fmt.read_asset(bytes(buf))


def test_every_truncation_is_detected(good):
    for n in range(len(good)):
        with pytest.raises(AssetFormatError):
            fmt.read_asset(good[:n])


def test_error_names_the_file(tmp_path):
    p = tmp_path / "broken.tgs"
    p.write_bytes(b"TXGS" + b"\0" * 10)
    with pytest.raises(AssetFormatError, match="broken.tgs"):
        fmt.read_asset_file(p)
    with pytest.raises(AssetFormatError, match="no such file"):
        fmt.read_asset_file(tmp_path / "missing.tgs")
    with pytest.raises(AssetFormatError, match="directory"):
        fmt.read_asset_file(tmp_path)


def test_golden_assets_parse():
    files = sorted(GOLDEN.glob("*.tgs"))
    assert len(files) == 4
    for f in files:
        a = fmt.read_asset_file(f)
        assert a.gaussian_count == sum(a.lod_counts)
