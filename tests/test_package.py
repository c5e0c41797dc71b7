"""The download container (texgs.package, docs/FORMAT.md "Download container"): exact round
trips, LOD prefixes from a streamed prefix of the file, and every corrupt or truncated input
rejected with AssetFormatError within a memory bound."""

from __future__ import annotations

import json
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("zstandard")

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fuzz_target as ft  # noqa: E402
from conftest import run_cli  # noqa: E402

from texgs import format as fmt  # noqa: E402
from texgs import package as pk  # noqa: E402
from texgs.errors import AssetFormatError, UnsupportedError  # noqa: E402

GOLDEN = Path(__file__).resolve().parent / "golden"
GOLDEN_DATA = {p.stem: p.read_bytes() for p in sorted(GOLDEN.glob("*.tgs"))}


def structured_asset(n: int = 600, seed: int = 0, lods: tuple[int, ...] = (152, 200, 248),
                     colour_bits: tuple[int, ...] = (8, 8, 8), span: int = 4096) -> bytes:
    """A valid RGB asset whose fields look like a bake's (random positions, scales and
    colours from narrow, correlated distributions), so its packets are zstd-coded.
    ``span``: positions are drawn from 0..span-1 (small: more compressible)."""
    rng = np.random.default_rng(seed)
    c = len(colour_bits)
    f = np.zeros((n, 5 + c), np.uint32)
    f[:, :2] = rng.integers(0, span, (n, 2))
    f[:, 2:4] = np.clip(rng.normal(100, 6, (n, 2)), 0, 255)
    f[:, 4] = rng.integers(0, 256, n)
    base = np.clip(rng.normal(120, 30, n), 0, 255)
    for k, b in enumerate(colour_bits):
        f[:, 5 + k] = np.clip(base + rng.normal(0, 4, n), 0, 2 ** b - 1)
    chans = [fmt.ChannelInfo(fmt.MAP_BASECOLOR, k, fmt.ENCODING_SRGB, b, 0.0, 1.0, 0.5)
             for k, b in enumerate(colour_bits)]
    asset = fmt.Asset(width=256, height=128, channels=chans,
                      layout=fmt.RecordLayout(12, 8, 8, colour_bits), log2_scale_min=-1.5,
                      log2_scale_max=4.0, fields=f, lod_counts=list(lods))
    return fmt.write_asset(asset)


STRUCTURED = structured_asset()


def morton_sorted(tgs: bytes) -> bytes:
    """The same asset with each LOD chunk in Morton order, as the baker writes it."""
    import dataclasses

    from texgs.record_order import chunk_morton_order

    a = fmt.read_asset(tgs)
    return fmt.write_asset(dataclasses.replace(
        a, fields=a.fields[chunk_morton_order(a.fields, a.lod_counts)]))


STRUCTURED_MORTON = morton_sorted(STRUCTURED)


def all_assets() -> dict[str, bytes]:
    return {**GOLDEN_DATA, "structured": STRUCTURED, "structured_morton": STRUCTURED_MORTON,
            "structured_7bit": structured_asset(400, 1, (96, 304), (7, 7, 7)),
            "structured_7bit_morton": morton_sorted(structured_asset(400, 1, (96, 304),
                                                                     (7, 7, 7))),
            **{f"{name}_morton": morton_sorted(d) for name, d in GOLDEN_DATA.items()}}


def packet_end(z: bytes, k: int) -> int:
    p = pk.read_download_header(z).packets[k - 1]
    return p.offset + p.length


@pytest.mark.parametrize("name", sorted(all_assets()))
def test_round_trip_is_byte_identical_and_every_lod_prefix_streams(name):
    tgs = all_assets()[name]
    z = pk.pack_download(tgs)
    assert pk.unpack_download(z) == tgs
    nlod = len(fmt.read_asset(tgs).lod_counts)
    for k in range(1, nlod + 1):
        want = fmt.write_asset(fmt.read_asset(tgs, lod=k))
        assert pk.unpack_download(z, lod=k) == want
        # a stream that ends right after packet k is enough
        assert pk.unpack_download(z[:packet_end(z, k)], lod=k) == want
        # and the runtime asset streams the same way
        assert fmt.read_asset(pk.unpack_download(z, lod=k)).gaussian_count == \
            sum(fmt.read_asset(tgs).lod_counts[:k])


def test_structured_asset_is_coded_and_smaller():
    z = pk.pack_download(STRUCTURED)
    info = pk.read_download_header(z)
    assert all(p.method == pk.METHOD_PLANES_ZSTD for p in info.packets)
    assert len(z) < 0.97 * len(STRUCTURED)


def test_random_golden_records_are_stored_and_cost_only_the_tables():
    tgs = GOLDEN_DATA["rgb_clamp"]
    z = pk.pack_download(tgs)
    info = pk.read_download_header(z)
    assert all(p.method == pk.METHOD_STORED for p in info.packets)
    assert len(z) == len(tgs) + pk.FIXED_HEADER_SIZE + pk.PACKET_ENTRY_SIZE * len(info.packets)


def test_a_chunk_that_planes_would_not_rebuild_is_stored():
    """Padding bits set in the last chunk (CRC kept valid): the reader accepts the asset,
    the planes would drop the bits, so the packer stores that chunk as it is."""
    tgs = bytearray(all_assets()["structured_7bit"])
    a = fmt.read_asset(bytes(tgs))
    last = a.lods[-1]
    assert last.count * a.layout.record_bits % 32  # the last word has padding bits
    tgs[last.offset + last.length - 1] |= 0x80
    crc = zlib.crc32(bytes(tgs[last.offset:last.offset + last.length]))
    tbase = a.header_size() - fmt.LOD_ENTRY_SIZE * len(a.lods)
    struct.pack_into("<I", tgs, tbase + fmt.LOD_ENTRY_SIZE * (len(a.lods) - 1) + 12, crc)
    struct.pack_into("<I", tgs, fmt.HEADER_CRC_OFFSET, 0)
    struct.pack_into("<I", tgs, fmt.HEADER_CRC_OFFSET,
                     zlib.crc32(bytes(tgs[:a.header_size()])))
    tgs = bytes(tgs)
    fmt.read_asset(tgs)
    z = pk.pack_download(tgs)
    assert pk.read_download_header(z).packets[-1].method == pk.METHOD_STORED
    assert pk.unpack_download(z) == tgs


def test_fresh_bake_round_trips(tmp_path):
    pytest.importorskip("torch")
    from conftest import sample_crop

    from texgs.bake import BakeConfig, bake_array
    from texgs.images import channel_infos_for

    img = sample_crop("bricks", 64)
    r = bake_array(img, channel_infos_for(3), BakeConfig(bpp=2.0, steps=10))
    z = pk.pack_download(r.data)
    assert pk.unpack_download(z) == r.data
    for k in range(1, len(r.lod_counts) + 1):
        assert pk.unpack_download(z[:packet_end(z, k)], lod=k) == \
            fmt.write_asset(fmt.read_asset(r.data, lod=k))


# --- corrupt input ---------------------------------------------------------------------

def _limit(data_len: int) -> int:
    # unpacking holds the planes, the fields and the rebuilt chunks of one packet at a time:
    # at most MAX_EXPANSION plane bytes per packet byte (docs/FORMAT.md)
    return 64 * pk.MAX_EXPANSION * data_len + (1 << 20)


def judge(data: bytes, lod: int | None = None) -> bytes | None:
    """unpack_download under tracemalloc: the bytes, or None on AssetFormatError; any other
    exception, or a peak over the limit, fails."""
    out, error, peak = ft.traced(lambda: pk.unpack_download(data, "x.tgsz", lod))
    if error is not None:
        if not isinstance(error, AssetFormatError):
            raise error
        assert "x.tgsz" in str(error)
    assert peak < _limit(len(data)), (peak, len(data))
    return out


def recrc(data: bytes) -> bytes:
    """``data`` with its header and packet CRCs recomputed where they can be located."""
    b = bytearray(data)
    try:
        (_m, _v, hsize, _s, ahsize, npk, *_r) = pk._FIXED.unpack_from(b, 0)
        tbase = pk.FIXED_HEADER_SIZE + ahsize
        for i in range(npk):
            method, _res, off, length, _crc = pk._PACKET.unpack_from(b, tbase + 16 * i)
            if off + length <= len(b):
                struct.pack_into("<I", b, tbase + 16 * i + 12, zlib.crc32(bytes(b[off:off + length])))
        if hsize <= len(b):
            struct.pack_into("<I", b, pk.HEADER_CRC_OFFSET, 0)
            struct.pack_into("<I", b, pk.HEADER_CRC_OFFSET, zlib.crc32(bytes(b[:hsize])))
    except struct.error:
        pass
    return bytes(b)


# small containers whose packets are zstd-coded, so mutations reach the plane decoders:
# method 1 (records in random order) and method 2 (the same records in Morton order)
SMALL = pk.pack_download(structured_asset(128, 3, (64, 64), span=16))
SMALL_MORTON = pk.pack_download(morton_sorted(structured_asset(128, 3, (64, 64), span=16)))
CONTAINERS = {"planes": SMALL, "morton": SMALL_MORTON}


def test_small_containers_are_coded():
    assert [p.method for p in pk.read_download_header(SMALL).packets] == \
        [pk.METHOD_PLANES_ZSTD] * 2
    assert [p.method for p in pk.read_download_header(SMALL_MORTON).packets] == \
        [pk.METHOD_MORTON_ZSTD] * 2


@pytest.mark.parametrize("kind", sorted(CONTAINERS))
def test_every_truncation_is_rejected_or_a_valid_prefix(kind):
    SMALL = CONTAINERS[kind]
    full = pk.unpack_download(SMALL)
    ends = [packet_end(SMALL, k) for k in (1, 2)]
    for n in range(len(SMALL)):
        assert judge(SMALL[:n]) is None, n
        got = judge(SMALL[:n], lod=1)
        assert (got is not None) == (n >= ends[0]), n
        if got is not None:
            assert got == fmt.write_asset(fmt.read_asset(full, lod=1))
    assert judge(SMALL) == full
    assert judge(SMALL + b"\0") is None  # trailing bytes


@pytest.mark.parametrize("kind", sorted(CONTAINERS))
def test_every_flipped_byte_is_rejected(kind):
    SMALL = CONTAINERS[kind]
    for i in range(len(SMALL)):
        for mask in (0x01, 0x80, 0xFF):
            bad = bytearray(SMALL)
            bad[i] ^= mask
            assert judge(bytes(bad)) is None, (i, mask)


@pytest.mark.parametrize("kind", sorted(CONTAINERS))
def test_flipped_bytes_behind_repaired_crcs_are_rejected_or_rebuild_the_asset(kind):
    """With the container's CRCs recomputed, a mutation reaches the checks behind them: it is
    rejected, or it unpacks to an asset the runtime reader accepts (then byte-identical to the
    original, since the rebuilt chunks must match the asset's own CRCs)."""
    SMALL = CONTAINERS[kind]
    full = pk.unpack_download(SMALL)
    accepted = 0
    for i in range(len(SMALL)):
        for mask in (0x01, 0x10, 0xFF):
            bad = bytearray(SMALL)
            bad[i] ^= mask
            got = judge(recrc(bytes(bad)))
            if got is not None:
                accepted += 1
                assert got == full, i
    assert accepted < len(SMALL)


def test_claims_beyond_the_data_are_rejected_before_allocating():
    info = pk.read_download_header(SMALL)
    tbase = pk.FIXED_HEADER_SIZE + len(info.asset_header)
    # a planes packet that claims more records than MAX_EXPANSION allows: shrink its length
    b = bytearray(SMALL)
    struct.pack_into("<I", b, tbase + 8, 41)
    with pytest.raises(AssetFormatError, match="expansion|starts at|packet"):
        pk.unpack_download(recrc(bytes(b)), "x.tgsz")
    # asset header claiming 2^24 Gaussians: rejected by the asset header's own checks
    with pytest.raises(AssetFormatError):
        pk.unpack_download(recrc(SMALL[:40] + b"\xff\xff\xff\x00" + SMALL[44:]), "x.tgsz")


@pytest.mark.parametrize("data, why", [
    (b"", "shorter than"), (b"TGSZ" + b"\0" * 28, "version"), (b"XXXX" + b"\0" * 40, "magic"),
    (GOLDEN_DATA["rgb_clamp"], "runtime asset"),
])
def test_bad_headers_name_the_problem(data, why):
    with pytest.raises(AssetFormatError, match=why):
        pk.unpack_download(data, "x.tgsz")


def test_other_versions_and_reserved_fields_are_rejected():
    b = bytearray(SMALL)
    b[4] = 2
    with pytest.raises(AssetFormatError, match="version 2"):
        pk.unpack_download(recrc(bytes(b)), "x.tgsz")
    b = bytearray(SMALL)
    b[16] = 1
    with pytest.raises(AssetFormatError, match="reserved"):
        pk.unpack_download(recrc(bytes(b)), "x.tgsz")


def test_pack_rejects_invalid_assets_and_containers():
    with pytest.raises(AssetFormatError, match="x.tgs"):
        pk.pack_download(GOLDEN_DATA["rgb_clamp"][:-1], name="x.tgs")
    with pytest.raises(AssetFormatError, match="already a download container"):
        pk.pack_download(SMALL, name="x.tgs")


_PACKED = pk.pack_download(STRUCTURED)


def test_without_zstandard_a_clear_unsupported_error(monkeypatch):
    stored = pk.pack_download(GOLDEN_DATA["rgb_clamp"])
    monkeypatch.setitem(sys.modules, "zstandard", None)
    with pytest.raises(UnsupportedError, match="texgs\\[download\\]"):
        pk.pack_download(STRUCTURED)
    with pytest.raises(UnsupportedError, match="zstandard"):
        pk.unpack_download(_PACKED)
    # stored packets need no decompressor
    assert pk.unpack_download(stored) == GOLDEN_DATA["rgb_clamp"]


# --- CLI ----------------------------------------------------------------------------------

def test_cli_pack_unpack_round_trip_and_json(tmp_path):
    src = tmp_path / "a.tgs"
    src.write_bytes(STRUCTURED)
    z = tmp_path / "a.tgsz"
    res = run_cli("pack", str(src), "-o", str(z))
    assert res.returncode == 0, res.stderr
    line = res.stdout.strip()
    assert "\n" not in line and "GPU" in line and "download" in line and "bits/texel" in line
    back = tmp_path / "b.tgs"
    res = run_cli("unpack", str(z), "-o", str(back), "--json")
    assert res.returncode == 0, res.stderr
    s = json.loads(res.stdout)
    assert back.read_bytes() == STRUCTURED
    assert s["asset_bytes"] == len(STRUCTURED) and s["download_bytes"] == z.stat().st_size
    assert s["gpu_bits_per_texel"] == pytest.approx(len(STRUCTURED) * 8 / (256 * 128))
    res = run_cli("unpack", str(z), "-o", str(back), "--lod", "2", "--json")
    assert res.returncode == 0, res.stderr
    assert back.read_bytes() == fmt.write_asset(fmt.read_asset(STRUCTURED, lod=2))
    res = run_cli("pack", str(src), "-o", str(z), "--json", "--level", "3")
    s = json.loads(res.stdout)
    assert s["download_bytes"] == z.stat().st_size and len(s["packets"]) == 3
    assert not list(tmp_path.glob("*.tmp"))


def test_cli_pack_reorder_puts_an_earlier_bake_in_morton_order(tmp_path):
    """`pack --reorder` on an asset whose chunks are not in Morton order packs the same
    Gaussians in that order (method 2, smaller) and says so; it unpacks to the reordered
    asset. Without the flag the asset's own order is kept; on a Morton-ordered asset the flag
    changes nothing."""
    src = tmp_path / "old.tgs"
    src.write_bytes(STRUCTURED)
    plain, reordered = tmp_path / "plain.tgsz", tmp_path / "reordered.tgsz"
    a = run_cli("pack", str(src), "-o", str(plain), "--json")
    b = run_cli("pack", str(src), "-o", str(reordered), "--reorder", "--json")
    assert a.returncode == 0 and b.returncode == 0, (a.stderr, b.stderr)
    ra, rb = json.loads(a.stdout), json.loads(b.stdout)
    assert not ra["reordered"] and rb["reordered"]
    assert {p["method"] for p in rb["packets"]} == {"morton-zstd"}
    assert "morton-zstd" not in {p["method"] for p in ra["packets"]}
    assert rb["download_bytes"] < ra["download_bytes"]
    assert pk.unpack_download(reordered.read_bytes()) == STRUCTURED_MORTON
    line = run_cli("pack", str(src), "-o", str(reordered), "--reorder").stdout
    assert "Morton order" in line and "\n" not in line.strip()
    src.write_bytes(STRUCTURED_MORTON)
    c = run_cli("pack", str(src), "-o", str(reordered), "--reorder", "--json")
    assert not json.loads(c.stdout)["reordered"]
    assert pk.unpack_download(reordered.read_bytes()) == STRUCTURED_MORTON


@pytest.mark.parametrize("case, code, words", [
    ("corrupt", 3, "CRC"), ("truncated", 3, "truncated"), ("missing", 3, "no such file"),
    ("lod", 1, "--lod 7"), ("same", 1, "overwrite"), ("folder", 2, "does not exist"),
    ("level", 1, "--level"),
])
def test_cli_errors_are_one_line(tmp_path, case, code, words):
    z = tmp_path / "a.tgsz"
    z.write_bytes(_PACKED)
    out = tmp_path / "o.tgs"
    if case == "corrupt":
        b = bytearray(_PACKED)
        b[-3] ^= 0xFF
        z.write_bytes(bytes(b))
    if case == "truncated":
        z.write_bytes(_PACKED[:-10])
    args = ["unpack", str(z), "-o", str(out)]
    if case == "missing":
        args[1] = str(tmp_path / "none.tgsz")
    if case == "lod":
        args += ["--lod", "7"]
    if case == "same":
        args[3] = str(z)
    if case == "folder":
        args[3] = str(tmp_path / "no" / "o.tgs")
    if case == "level":
        args = ["pack", str(z), "-o", str(out), "--level", "30"]
    res = run_cli(*args)
    assert res.returncode == code, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("texgs: error:") and words in lines[0]
    assert not out.exists()


# --- method 2: records in Morton order ---------------------------------------------------

def test_morton_order_codes_the_same_records_smaller():
    """The same Gaussians in Morton order: every packet takes method 2, the container is
    smaller than method 1's of the random order, and it round-trips byte for byte."""
    z1 = pk.pack_download(STRUCTURED)
    z2 = pk.pack_download(STRUCTURED_MORTON)
    assert all(p.method == pk.METHOD_MORTON_ZSTD for p in pk.read_download_header(z2).packets)
    assert pk.unpack_download(z2) == STRUCTURED_MORTON
    assert len(z2) < 0.95 * len(z1)  # the centres alone: its colours are spatially random


def _morton_packet_bytes(z: bytes, k: int = 0) -> tuple[int, int]:
    p = pk.read_download_header(z).packets[k]
    return p.offset, p.length


def test_a_bad_transform_is_rejected():
    asset = fmt.read_asset(STRUCTURED_MORTON)
    off, _ = _morton_packet_bytes(SMALL_MORTON)
    # the first transform byte is the first scale's: raw or previous only
    for bad in (1, 3, 4, 255):
        b = bytearray(SMALL_MORTON)
        b[off] = bad
        with pytest.raises(AssetFormatError, match="transform"):
            pk.unpack_download(recrc(bytes(b)), "x.tgsz")
    assert len(pk._morton_columns(asset)) == 6  # s1, s2, angle and three colours


def test_morton_gaps_past_the_position_bits_are_rejected():
    """A method-2 packet whose centre gaps add up past 2 Bp bits (here: every gap the
    largest 24-bit value) is rejected, not wrapped."""
    a = fmt.read_asset(STRUCTURED_MORTON)
    n = a.lods[0].count
    cols = pk._morton_columns(a)
    gaps = [b"\xff" * n] * 3  # three planes of 2 x 12 bits
    rest = [bytes(n)] * (pk.morton_plane_count(a) - 3)
    planes = gaps + rest
    packet = (bytes(len(cols)) + b"".join(struct.pack("<I", n) for _ in planes)
              + b"".join(planes))
    with pytest.raises(AssetFormatError, match="Morton gaps"):
        pk._packet_to_chunk(pk.METHOD_MORTON_ZSTD, packet, a, n, "x.tgsz", 0)


def test_a_chunk_out_of_morton_order_is_not_coded_as_method_2():
    """pack keeps method 1 for a chunk whose records are not in Morton order (a method-2
    packet could not give their order back)."""
    z = pk.pack_download(STRUCTURED)
    assert all(p.method != pk.METHOD_MORTON_ZSTD for p in pk.read_download_header(z).packets)
