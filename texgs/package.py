"""The download container (``.tgsz``, normative text: docs/FORMAT.md "Download container").

NumPy, the standard library and, for packets coded with zstd, the optional ``zstandard``
package (``pip install 'texgs[download]'``); no PyTorch. :func:`pack_download` turns the
bytes of a runtime asset (``.tgs``, docs/FORMAT.md) into a smaller file for delivery;
:func:`unpack_download` gives the exact ``.tgs`` bytes back, or, from the first ``k``
packets (a streamed prefix of the file), the valid coarser asset of the first ``k`` LOD
chunks.

Each LOD chunk becomes one packet. A coded packet holds the chunk's records transposed into
byte planes: field by field in record order, each value's byte 0 for every record, then
byte 1 ... (a 12-bit position is two planes). A colour channel whose previous channel is in
the same map and has the same width is stored as the difference to it, modulo ``2^bits``
(neighbouring channels of one map are correlated). Each plane is one zstd frame, or stored
as it is when zstd does not make it smaller. Record order is kept, so LOD prefixes and
byte identity come back exactly.

Every count and size is checked against the length of the data before anything is
allocated; the rebuilt chunk must match the CRC-32 of the runtime asset's LOD table.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import format as fmt
from .errors import AssetFormatError, UnsupportedError
from .record_order import is_morton_ordered, morton_codes, morton_decode

MAGIC = b"TGSZ"
VERSION = 1
FIXED_HEADER_SIZE = 32
PACKET_ENTRY_SIZE = 16
HEADER_CRC_OFFSET = 28

# Packet methods (packet table, byte 0).
METHOD_STORED = 0  # the chunk's bytes as they are
METHOD_PLANES_ZSTD = 1  # byte planes, each a zstd frame or stored
METHOD_MORTON_ZSTD = 2  # records in Morton order: centres as gaps, fields as differences
METHOD_NAMES = {METHOD_STORED: "stored", METHOD_PLANES_ZSTD: "planes-zstd",
                METHOD_MORTON_ZSTD: "morton-zstd"}

# Method 2's transform of a field (one byte per field after the centres, docs/FORMAT.md).
TRANSFORM_RAW = 0  # the value
TRANSFORM_CHANNEL = 1  # minus the previous channel's value, mod 2^bits
TRANSFORM_PREVIOUS = 2  # minus the previous record's value, mod 2^bits
TRANSFORM_BOTH = 3  # the channel difference, minus the previous record's, mod 2^bits

# A planes packet may expand to at most this many plane bytes per packet byte; the packer
# stores a chunk as it is when its planes would exceed it (a chunk of near-constant records).
# It bounds what a reader allocates by the length of the data it was given.
MAX_EXPANSION = 16
DEFAULT_LEVEL = 19  # zstd level: packing is done once; unpacking speed does not depend on it

_FIXED = struct.Struct("<4sHHIHHIIII")
assert _FIXED.size == FIXED_HEADER_SIZE
_PACKET = struct.Struct("<B3sIII")
assert _PACKET.size == PACKET_ENTRY_SIZE


@dataclass
class PacketEntry:
    """One row of the packet table: how LOD chunk ``i`` is coded and where its packet is."""

    method: int
    offset: int
    length: int
    crc32: int


@dataclass
class DownloadInfo:
    """A parsed container header: the runtime asset's header (records not read), its bytes,
    and the packet table."""

    asset: fmt.Asset
    asset_header: bytes
    asset_size: int
    header_size: int
    packets: list[PacketEntry]


def _zstd():
    try:
        import zstandard
    except ImportError:
        raise UnsupportedError("the download container needs the zstandard package: "
                               "pip install 'texgs[download]'") from None
    return zstandard


def _fail(name: str, msg: str) -> AssetFormatError:
    return AssetFormatError(f"{name}: {msg}")


def plane_fields(asset: fmt.Asset) -> list[tuple[int, int]]:
    """The byte planes of a record: (field index, byte index) in packet order."""
    return [(col, b) for col, w in enumerate(asset.layout.field_bits) for b in range((w + 7) // 8)]


def _diff_columns(asset: fmt.Asset) -> list[int]:
    """Field columns stored as the difference to the column before (modulo 2^bits): colour
    channels whose previous channel is in the same map and has the same, non-zero width."""
    widths = asset.layout.field_bits
    cols = []
    for m in asset.map_table():
        for j in m.channel_range[1:]:
            c = 5 + j
            if widths[c] and widths[c] == widths[c - 1]:
                cols.append(c)
    return cols


def _stored_columns(asset: fmt.Asset) -> list[int]:
    """Field columns with at least one bit (0-bit colour channels occupy no bits)."""
    return [col for col, w in enumerate(asset.layout.field_bits) if w]


def _encode_planes(fields: np.ndarray, asset: fmt.Asset) -> list[bytes]:
    """Fields uint32 [n, F] of one chunk -> its byte planes (n bytes each), packet order."""
    widths = asset.layout.field_bits
    f = fields.astype(np.uint32, copy=True)
    for c in _diff_columns(asset):
        mask = np.uint32((1 << widths[c]) - 1)
        f[:, c] = (fields[:, c] - fields[:, c - 1]) & mask
    return [p for col in _stored_columns(asset) for p in _value_planes(f[:, col], widths[col])]


def _decode_planes(planes: list[np.ndarray], asset: fmt.Asset, n: int, name: str,
                   lod: int) -> np.ndarray:
    """Byte planes (uint8 [n] each) -> the stored fields uint32 [n, S] (the columns of
    :func:`_stored_columns`); rejects values wider than their field."""
    widths = asset.layout.field_bits
    cols = _stored_columns(asset)
    where = {col: i for i, col in enumerate(cols)}
    f = np.zeros((n, len(cols)), np.uint32)
    k = 0
    for i, col in enumerate(cols):
        q = (widths[col] + 7) // 8
        f[:, i] = _planes_value(planes[k:k + q], widths[col], name, lod, f"field {col}")
        k += q
    for c in _diff_columns(asset):
        mask = np.uint32((1 << widths[c]) - 1)
        f[:, where[c]] = (f[:, where[c]] + f[:, where[c - 1]]) & mask
    return f


def _zstd_planes(planes: list[bytes], cctx) -> list[bytes]:
    """Each plane as a zstd frame, or as it is where that is not smaller."""
    out = []
    for p in planes:
        z = cctx.compress(p)
        out.append(z if len(z) < len(p) else p)
    return out


def _plane_packet(coded: list[bytes]) -> bytes:
    """Coded planes as a packet's plane section: their u32 lengths, then their bytes."""
    return b"".join(struct.pack("<I", len(c)) for c in coded) + b"".join(coded)


def _read_planes(packet: bytes, off: int, nplanes: int, n: int, name: str,
                 lod: int) -> list[np.ndarray]:
    """The ``nplanes`` planes of ``n`` bytes coded from byte ``off`` of ``packet``: their u32
    lengths, then their bytes (each stored, or one zstd frame of content size ``n``), ending
    exactly at the packet's end."""
    table = 4 * nplanes
    if len(packet) < off + table:
        raise _fail(name, f"packet {lod}: {len(packet)} bytes, shorter than its plane table")
    lengths = struct.unpack_from(f"<{nplanes}I", packet, off)
    if off + table + sum(lengths) != len(packet):
        raise _fail(name, f"packet {lod}: plane lengths add up to {off + table + sum(lengths)} "
                          f"bytes, the packet has {len(packet)}")
    planes = []
    off += table
    dctx = None
    for i, length in enumerate(lengths):
        raw = packet[off:off + length]
        off += length
        if length == n:
            planes.append(np.frombuffer(raw, np.uint8))
            continue
        if not 0 < length < n:
            raise _fail(name, f"packet {lod}: plane {i} is {length} bytes, expected 1..{n}")
        zstd = _zstd()
        if dctx is None:
            dctx = zstd.ZstdDecompressor()
        try:
            size = zstd.frame_content_size(raw)
            if size != n:
                raise _fail(name, f"packet {lod}: plane {i} unpacks to {size} bytes, "
                                  f"expected {n}")
            data = dctx.decompress(raw, max_output_size=n, allow_extra_data=False)
        except zstd.ZstdError as e:
            raise _fail(name, f"packet {lod}: plane {i} is not a valid zstd frame ({e})") from None
        if len(data) != n:
            raise _fail(name, f"packet {lod}: plane {i} unpacks to {len(data)} bytes, "
                              f"expected {n}")
        planes.append(np.frombuffer(data, np.uint8))
    return planes


def _value_planes(v: np.ndarray, width: int) -> list[bytes]:
    """uint [n] values of ``width`` bits -> ceil(width / 8) byte planes."""
    v = v.astype(np.uint64)
    return [((v >> np.uint64(8 * b)) & np.uint64(0xFF)).astype(np.uint8).tobytes()
            for b in range((width + 7) // 8)]


def _planes_value(planes: list[np.ndarray], width: int, name: str, lod: int,
                  what: str) -> np.ndarray:
    """Byte planes -> uint64 [n] values; rejects values of ``width`` bits or more."""
    v = np.zeros(planes[0].shape[0], np.uint64)
    for b, p in enumerate(planes):
        v |= p.astype(np.uint64) << np.uint64(8 * b)
    if v.size and int(v.max()) >> width:
        raise _fail(name, f"packet {lod}: {what} holds values wider than {width} bits")
    return v


def _previous_difference(v: np.ndarray, width: int) -> np.ndarray:
    """(v[i] - v[i-1]) mod 2^width with v[-1] = 0."""
    mask = np.uint64((1 << width) - 1)
    v = v.astype(np.uint64)
    return (v - np.concatenate([np.zeros(1, np.uint64), v[:-1]])) & mask


def _morton_columns(asset: fmt.Asset) -> list[int]:
    """The fields method 2 codes after the centres: scales, angle and every colour channel
    with at least one bit, in record order."""
    return [c for c in _stored_columns(asset) if c >= 2]


def morton_plane_count(asset: fmt.Asset) -> int:
    """Planes of a method-2 packet: the centres' Morton gaps (2 Bp bits), then each field of
    :func:`_morton_columns`."""
    widths = asset.layout.field_bits
    return ((2 * widths[0] + 7) // 8
            + sum((widths[c] + 7) // 8 for c in _morton_columns(asset)))


def _morton_packet(fields: np.ndarray, asset: fmt.Asset, cctx) -> bytes:
    """Method 2 of one chunk whose records are in Morton order (fields uint32 [n, F]): per
    field the transform of fewest coded bytes."""
    widths = asset.layout.field_bits
    codes = morton_codes(fields[:, 0], fields[:, 1])
    coded = _zstd_planes(_value_planes(_previous_difference(codes, 2 * widths[0]),
                                       2 * widths[0]), cctx)
    diff_cols = set(_diff_columns(asset))
    transforms = []
    for c in _morton_columns(asset):
        w = widths[c]
        mask = np.uint64((1 << w) - 1)
        v = fields[:, c].astype(np.uint64)
        options = {TRANSFORM_RAW: v, TRANSFORM_PREVIOUS: _previous_difference(v, w)}
        if c in diff_cols:
            ch = (v - fields[:, c - 1].astype(np.uint64)) & mask
            options[TRANSFORM_CHANNEL] = ch
            options[TRANSFORM_BOTH] = _previous_difference(ch, w)
        best = None
        for t, vals in sorted(options.items()):
            planes = _zstd_planes(_value_planes(vals, w), cctx)
            size = sum(len(p) for p in planes)
            if best is None or size < best[0]:
                best = (size, t, planes)
        transforms.append(best[1])
        coded += best[2]
    return bytes(transforms) + _plane_packet(coded)


def _morton_to_fields(packet: bytes, asset: fmt.Asset, n: int, name: str,
                      lod: int) -> np.ndarray:
    """Method 2 packet -> the stored fields uint32 [n, S] (columns of _stored_columns)."""
    widths = asset.layout.field_bits
    cols = _morton_columns(asset)
    if len(packet) < len(cols):
        raise _fail(name, f"packet {lod}: {len(packet)} bytes, shorter than its transforms")
    transforms = list(packet[:len(cols)])
    diff_cols = set(_diff_columns(asset))
    for c, t in zip(cols, transforms):
        allowed = (TRANSFORM_RAW, TRANSFORM_PREVIOUS) + (
            (TRANSFORM_CHANNEL, TRANSFORM_BOTH) if c in diff_cols else ())
        if t not in allowed:
            raise _fail(name, f"packet {lod}: field {c} has transform {t}, expected one of "
                              f"{list(allowed)}")
    planes = _read_planes(packet, len(cols), morton_plane_count(asset), n, name, lod)
    wm = 2 * widths[0]
    k = (wm + 7) // 8
    gaps = _planes_value(planes[:k], wm, name, lod, "the centres' Morton gaps")
    codes = np.cumsum(gaps, dtype=np.uint64)
    # every gap is below 2^48, so a sum that wraps 2^64 goes down somewhere
    if n and (np.any(codes[1:] < codes[:-1]) or int(codes[-1]) >> wm):
        raise _fail(name, f"packet {lod}: the centres' Morton gaps add up past {wm} bits")
    x, y = morton_decode(codes)
    where = {col: i for i, col in enumerate(_stored_columns(asset))}
    f = np.zeros((n, len(where)), np.uint32)
    f[:, where[0]] = x.astype(np.uint32)
    f[:, where[1]] = y.astype(np.uint32)
    for c, t in zip(cols, transforms):
        w = widths[c]
        mask = np.uint64((1 << w) - 1)
        q = (w + 7) // 8
        v = _planes_value(planes[k:k + q], w, name, lod, f"field {c}")
        k += q
        if t in (TRANSFORM_PREVIOUS, TRANSFORM_BOTH):
            v = np.cumsum(v, dtype=np.uint64) & mask  # below 2^24 each: no wrap of 2^64
        if t in (TRANSFORM_CHANNEL, TRANSFORM_BOTH):
            v = (v + f[:, where[c - 1]].astype(np.uint64)) & mask
        f[:, where[c]] = v.astype(np.uint32)
    return f


def _code_packet(chunk: bytes, fields: np.ndarray, asset: fmt.Asset, level: int) -> tuple[int, bytes]:
    """The smallest of the stored chunk, its planes packet and, for a chunk in Morton order,
    its Morton packet (within MAX_EXPANSION), checked to rebuild the chunk exactly (a chunk
    with non-zero padding bits is stored)."""
    zstd = _zstd()
    n = fields.shape[0]
    cctx = zstd.ZstdCompressor(level=level, write_checksum=False, write_content_size=True,
                               write_dict_id=False)
    options = []
    coded = _zstd_planes(_encode_planes(fields, asset), cctx)
    options.append((METHOD_PLANES_ZSTD, len(coded), _plane_packet(coded)))
    if n and is_morton_ordered(fields):
        options.append((METHOD_MORTON_ZSTD, morton_plane_count(asset),
                        _morton_packet(fields, asset, cctx)))
    best = (METHOD_STORED, chunk)
    for method, nplanes, packet in options:
        if len(packet) >= len(best[1]) or n * nplanes > MAX_EXPANSION * len(packet):
            continue
        if _packet_to_chunk(method, packet, asset, n, "pack", 0) == chunk:
            best = (method, packet)
    return best


def _packet_to_chunk(method: int, packet: bytes, asset: fmt.Asset, n: int, name: str,
                     lod: int) -> bytes:
    """Decode one packet (its CRC already checked) to the runtime chunk bytes."""
    if method == METHOD_STORED:
        return bytes(packet)
    widths = asset.layout.field_bits
    if method == METHOD_MORTON_ZSTD:
        fields = _morton_to_fields(packet, asset, n, name, lod)
        words = fmt.pack_fields(fields, tuple(widths[c] for c in _stored_columns(asset)))
        return words.astype("<u4").tobytes()
    planes = _read_planes(packet, 0, len(plane_fields(asset)), n, name, lod)
    fields = _decode_planes(planes, asset, n, name, lod)
    words = fmt.pack_fields(fields, tuple(widths[c] for c in _stored_columns(asset)))
    return words.astype("<u4").tobytes()


def pack_download(tgs: bytes, level: int = DEFAULT_LEVEL, name: str = "asset") -> bytes:
    """The download container of the runtime asset ``tgs`` (its whole bytes).

    ``level``: zstd level 1..22. Raises :class:`AssetFormatError` when ``tgs`` is not a valid
    asset (naming ``name``), :class:`UnsupportedError` without the zstandard package.
    """
    if not 1 <= level <= 22:
        raise ValueError(f"zstd level {level} outside 1..22")
    _zstd()
    if tgs[:4] == MAGIC:
        raise _fail(name, "already a download container (.tgsz), not a runtime asset")
    asset = fmt.read_asset(tgs, name)
    hsize = asset.header_size()
    nlod = len(asset.lods)
    packets: list[tuple[int, bytes]] = []
    start = 0
    for e in asset.lods:
        chunk = tgs[e.offset:e.offset + e.length]
        packets.append(_code_packet(chunk, asset.fields[start:start + e.count], asset, level))
        start += e.count
    header_size = FIXED_HEADER_SIZE + hsize + PACKET_ENTRY_SIZE * nlod
    head = bytearray(_FIXED.pack(MAGIC, VERSION, header_size, len(tgs), hsize, nlod, 0, 0, 0, 0))
    head += tgs[:hsize]
    off = header_size
    for method, p in packets:
        head += _PACKET.pack(method, b"\0\0\0", off, len(p), zlib.crc32(p))
        off += len(p)
    struct.pack_into("<I", head, HEADER_CRC_OFFSET, zlib.crc32(bytes(head)))
    return bytes(head) + b"".join(p for _, p in packets)


def read_download_header(data: bytes, name: str = "download", partial: bool = False
                         ) -> DownloadInfo:
    """Parse and validate the container header, the embedded asset header and the packet
    table. ``partial``: ``data`` may be a streamed prefix (packets may be missing).
    Raises :class:`AssetFormatError`."""
    size = len(data)
    if size < FIXED_HEADER_SIZE:
        raise _fail(name, f"file is {size} bytes, shorter than the {FIXED_HEADER_SIZE}-byte "
                          "container header")
    (magic, version, header_size, asset_size, ahsize, npackets, r0, r1, r2,
     hcrc) = _FIXED.unpack_from(data, 0)
    if magic != MAGIC:
        if magic == fmt.MAGIC:
            raise _fail(name, "a runtime asset (.tgs), not a download container: unpack is "
                              "not needed")
        raise _fail(name, f"not a texgs download container (magic {magic!r}, expected "
                          f"{MAGIC!r})")
    if version != VERSION:
        raise _fail(name, f"container version {version} is not supported (this reader: "
                          f"{VERSION})")
    if r0 or r1 or r2:
        raise _fail(name, "reserved fields are not zero")
    if not 1 <= npackets <= fmt.MAX_LODS:
        raise _fail(name, f"packet count {npackets} outside 1..{fmt.MAX_LODS}")
    if ahsize < fmt.FIXED_HEADER_SIZE:
        raise _fail(name, f"asset header size {ahsize} below {fmt.FIXED_HEADER_SIZE}")
    expect = FIXED_HEADER_SIZE + ahsize + PACKET_ENTRY_SIZE * npackets
    if header_size != expect:
        raise _fail(name, f"header size {header_size} does not match its parts ({expect})")
    if header_size > size:
        raise _fail(name, f"truncated: header needs {header_size} bytes, file has {size}")
    head = bytearray(data[:header_size])
    struct.pack_into("<I", head, HEADER_CRC_OFFSET, 0)
    if zlib.crc32(bytes(head)) != hcrc:
        raise _fail(name, "header CRC mismatch (corrupt header)")
    aheader = bytes(data[FIXED_HEADER_SIZE:FIXED_HEADER_SIZE + ahsize])
    asset = fmt.read_header(aheader, f"{name} (asset header)", partial=True)
    if asset.header_size() != ahsize:
        raise _fail(name, f"asset header size {ahsize} does not match the asset's "
                          f"{asset.header_size()}")
    if len(asset.lods) != npackets:
        raise _fail(name, f"{npackets} packets for {len(asset.lods)} LOD chunks")
    last = asset.lods[-1]
    if asset_size != last.offset + last.length:
        raise _fail(name, f"asset size {asset_size} does not match its LOD table "
                          f"({last.offset + last.length})")
    packets = []
    off = header_size
    tbase = FIXED_HEADER_SIZE + ahsize
    for i, e in enumerate(asset.lods):
        method, res, o, length, crc = _PACKET.unpack_from(data, tbase + PACKET_ENTRY_SIZE * i)
        if method not in METHOD_NAMES:
            raise _fail(name, f"packet {i}: unknown method {method}")
        if res != b"\0\0\0":
            raise _fail(name, f"packet {i}: reserved fields are not zero")
        if o != off:
            raise _fail(name, f"packet {i} starts at byte {o}, expected {off}")
        if method == METHOD_STORED and length != e.length:
            raise _fail(name, f"packet {i}: stored length {length} is not the chunk's "
                              f"{e.length}")
        if method in (METHOD_PLANES_ZSTD, METHOD_MORTON_ZSTD):
            if method == METHOD_PLANES_ZSTD:
                planes, table = len(plane_fields(asset)), 0
            else:
                planes, table = morton_plane_count(asset), len(_morton_columns(asset))
            if not table + 4 * planes < length or e.count * planes > MAX_EXPANSION * length:
                raise _fail(name, f"packet {i}: {length} bytes cannot hold {e.count} records "
                                  f"in {planes} planes (at most {MAX_EXPANSION}x expansion)")
        packets.append(PacketEntry(method, o, length, crc))
        off = o + length
    if off < size or (off > size and not partial):
        if off > size:
            raise _fail(name, f"truncated: the last packet ends at byte {off}, file has {size}")
        raise _fail(name, f"{size - off} unexpected bytes after the last packet")
    return DownloadInfo(asset, aheader, asset_size, header_size, packets)


def unpack_download(data: bytes, name: str = "download", lod: int | None = None) -> bytes:
    """The runtime asset bytes of the container ``data``.

    ``lod=None``: the exact ``.tgs`` that was packed (``data`` must be the whole file).
    ``lod=k``: the asset of the first ``k`` LOD chunks, as ``format.write_asset`` writes the
    prefix that ``format.read_asset(tgs, lod=k)`` reads; ``data`` may end after packet ``k``
    (a stream). Raises :class:`AssetFormatError` naming ``name``; :class:`UnsupportedError`
    without the zstandard package when a packet needs it.
    """
    info = read_download_header(data, name, partial=lod is not None)
    nlod = len(info.packets)
    want = nlod if lod is None else lod
    if not 1 <= want <= nlod:
        raise _fail(name, f"LOD prefix {want} outside 1..{nlod}")
    end = info.packets[want - 1].offset + info.packets[want - 1].length
    if end > len(data):
        raise _fail(name, f"truncated: packet {want - 1} ends at byte {end}, file has "
                          f"{len(data)}")
    chunks = []
    for i in range(want):
        p, e = info.packets[i], info.asset.lods[i]
        packet = data[p.offset:p.offset + p.length]
        if zlib.crc32(packet) != p.crc32:
            raise _fail(name, f"packet {i} CRC mismatch (corrupt packet)")
        chunk = _packet_to_chunk(p.method, packet, info.asset, e.count, name, i)
        if len(chunk) != e.length or zlib.crc32(chunk) != e.crc32:
            raise _fail(name, f"packet {i} does not rebuild LOD chunk {i} (CRC mismatch)")
        chunks.append(chunk)
    tgs = info.asset_header + b"".join(chunks)
    if lod is None:
        return tgs
    return fmt.write_asset(fmt.read_asset(tgs, name, lod=want))


def read_download_file(path: str | Path, lod: int | None = None) -> bytes:
    """:func:`unpack_download` of a file; errors name the file."""
    data = fmt.read_file_bytes(path, "a download container")
    return unpack_download(data, str(Path(path)), lod)
