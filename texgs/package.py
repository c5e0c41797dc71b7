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

MAGIC = b"TGSZ"
VERSION = 1
FIXED_HEADER_SIZE = 32
PACKET_ENTRY_SIZE = 16
HEADER_CRC_OFFSET = 28

# Packet methods (packet table, byte 0).
METHOD_STORED = 0  # the chunk's bytes as they are
METHOD_PLANES_ZSTD = 1  # byte planes, each a zstd frame or stored
METHOD_NAMES = {METHOD_STORED: "stored", METHOD_PLANES_ZSTD: "planes-zstd"}

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
    return [((f[:, col] >> np.uint32(8 * b)) & np.uint32(0xFF)).astype(np.uint8).tobytes()
            for col, b in plane_fields(asset)]


def _decode_planes(planes: list[np.ndarray], asset: fmt.Asset, n: int, name: str,
                   lod: int) -> np.ndarray:
    """Byte planes (uint8 [n] each) -> the stored fields uint32 [n, S] (the columns of
    :func:`_stored_columns`); rejects values wider than their field."""
    widths = asset.layout.field_bits
    cols = _stored_columns(asset)
    where = {col: i for i, col in enumerate(cols)}
    f = np.zeros((n, len(cols)), np.uint32)
    for (col, b), p in zip(plane_fields(asset), planes):
        f[:, where[col]] |= p.astype(np.uint32) << np.uint32(8 * b)
    for i, col in enumerate(cols):
        w = widths[col]
        if w % 8 and int(f[:, i].max()) >> w:
            raise _fail(name, f"packet {lod}: field {col} holds values wider than {w} bits")
    for c in _diff_columns(asset):
        mask = np.uint32((1 << widths[c]) - 1)
        f[:, where[c]] = (f[:, where[c]] + f[:, where[c - 1]]) & mask
    return f


def _code_packet(chunk: bytes, fields: np.ndarray, asset: fmt.Asset, level: int) -> tuple[int, bytes]:
    """The smaller of the stored chunk and its planes packet (within MAX_EXPANSION), checked
    to rebuild the chunk exactly (a chunk with non-zero padding bits is stored)."""
    zstd = _zstd()
    n = fields.shape[0]
    cctx = zstd.ZstdCompressor(level=level, write_checksum=False, write_content_size=True,
                               write_dict_id=False)
    planes = _encode_planes(fields, asset)
    coded = []
    for p in planes:
        z = cctx.compress(p)
        coded.append(z if len(z) < n else p)
    packet = b"".join(struct.pack("<I", len(c)) for c in coded) + b"".join(coded)
    if len(packet) >= len(chunk) or n * len(planes) > MAX_EXPANSION * len(packet):
        return METHOD_STORED, chunk
    rebuilt = _packet_to_chunk(METHOD_PLANES_ZSTD, packet, asset, n, "pack", 0)
    if rebuilt != chunk:
        return METHOD_STORED, chunk
    return METHOD_PLANES_ZSTD, packet


def _packet_to_chunk(method: int, packet: bytes, asset: fmt.Asset, n: int, name: str,
                     lod: int) -> bytes:
    """Decode one packet (its CRC already checked) to the runtime chunk bytes."""
    if method == METHOD_STORED:
        return bytes(packet)
    pf = plane_fields(asset)
    nplanes = len(pf)
    table = 4 * nplanes
    if len(packet) < table:
        raise _fail(name, f"packet {lod}: {len(packet)} bytes, shorter than its plane table")
    lengths = struct.unpack_from(f"<{nplanes}I", packet, 0)
    if table + sum(lengths) != len(packet):
        raise _fail(name, f"packet {lod}: plane lengths add up to {table + sum(lengths)} "
                          f"bytes, the packet has {len(packet)}")
    planes = []
    off = table
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
    fields = _decode_planes(planes, asset, n, name, lod)
    widths = asset.layout.field_bits
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
        if method == METHOD_PLANES_ZSTD:
            planes = len(plane_fields(asset))
            if not 4 * planes < length or e.count * planes > MAX_EXPANSION * length:
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
