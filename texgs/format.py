"""The texgs asset format, version 2 (normative text: docs/FORMAT.md).

NumPy and the standard library only. ``write_asset`` turns an :class:`Asset` into bytes and
``read_asset`` parses and validates bytes back into one. Every size the header claims is
checked against the real length of the data before anything is allocated.

An asset holds ``N`` Gaussians as fixed-width integer records (see :class:`RecordLayout`),
grouped into LOD chunks: chunk ``l`` holds the Gaussians added in refinement round ``l``, and
decoding any prefix of chunks gives a valid, coarser texture.
"""

from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import AssetFormatError

MAGIC = b"TXGS"
VERSION = 2
FIXED_HEADER_SIZE = 64
MAP_ENTRY_SIZE = 16
CHANNEL_ENTRY_SIZE = 16
LOD_ENTRY_SIZE = 16
HEADER_CRC_OFFSET = 60

# Decoding constants (docs/FORMAT.md, "Decoding"): a Gaussian reaches a point when its squared
# Mahalanobis distance q is below CUTOFF_Q (3 sigma); its weight there is
# exp(-q/2) - exp(-CUTOFF_Q/2), continuous at the cutoff; the blend's denominator adds
# BLEND_EPS, whose share of the result goes to the channel's fallback value.
CUTOFF_Q = 9.0
BLEND_EPS = 1e-4
# Tile binning pads each Gaussian's 3-sigma box by this much (relative, absolute texels) so
# that float rounding in any decoder can never drop a Gaussian that reaches a texel.
BIN_PAD_REL = 1e-3
BIN_PAD_ABS = 1e-2

# Limits enforced by reader and writer (docs/FORMAT.md, "Limits").
MAX_DIMENSION = 16384
MAX_CHANNELS = 64
MAX_MAPS = 16
MAX_LODS = 32
MAX_GAUSSIANS = 1 << 24
MAX_FIELD_BITS = 24
LOG2_SCALE_LIMIT = 16.0
# Channel values (lo, hi, fallback) stay within these magnitudes so every decoded value and
# every span hi - lo is finite in float32 (log2 channels decode to 2^v).
MAX_CHANNEL_VALUE = 1e18
MAX_LOG2_VALUE = 64.0

# Address modes (2 bits per axis in the header's address byte).
ADDRESS_CLAMP = 0
ADDRESS_REPEAT = 1
ADDRESS_NAMES = {ADDRESS_CLAMP: "clamp", ADDRESS_REPEAT: "repeat"}

# Channel encodings.
ENCODING_LINEAR = 0
ENCODING_SRGB = 1
ENCODING_LOG2 = 2
ENCODING_NAMES = {ENCODING_LINEAR: "linear", ENCODING_SRGB: "srgb", ENCODING_LOG2: "log2"}
# ENCODING_LOG2 holds v = log2(x + LOG2_OFFSET) of a linear HDR value x >= 0 (docs/FORMAT.md).
LOG2_OFFSET = 2.0 ** -10

# Map flags (map table, byte 1).
MAP_FLAG_NORMAL_Z = 1  # component 2 is rebuilt from components 0, 1 as a unit normal's z
MAP_FLAG_ALPHA = 2  # the map's last channel is straight (not premultiplied) alpha
MAP_FLAGS_KNOWN = MAP_FLAG_NORMAL_Z | MAP_FLAG_ALPHA

# Map kinds: what a map of a material set means.
MAP_GENERIC = 0
MAP_BASECOLOR = 1
MAP_ALPHA = 2
MAP_NORMAL = 3
MAP_ROUGHNESS = 4
MAP_METALNESS = 5
MAP_OCCLUSION = 6
MAP_EMISSIVE = 7
MAP_MASK = 8
MAP_GLOSS = 9
MAP_ORM = 10
MAP_NAMES = {
    MAP_GENERIC: "generic",
    MAP_BASECOLOR: "basecolor",
    MAP_ALPHA: "alpha",
    MAP_NORMAL: "normal",
    MAP_ROUGHNESS: "roughness",
    MAP_METALNESS: "metalness",
    MAP_OCCLUSION: "occlusion",
    MAP_EMISSIVE: "emissive",
    MAP_MASK: "mask",
    MAP_GLOSS: "gloss",
    MAP_ORM: "orm",
}

_FIXED = struct.Struct("<4sHHIIHHIBBBBBBBBffHHIIIII")
assert _FIXED.size == FIXED_HEADER_SIZE
_MAP = struct.Struct("<BBBBHHII")
assert _MAP.size == MAP_ENTRY_SIZE
_CHANNEL = struct.Struct("<BBBBfff")
assert _CHANNEL.size == CHANNEL_ENTRY_SIZE
_LOD = struct.Struct("<IIII")
assert _LOD.size == LOD_ENTRY_SIZE


@dataclass(frozen=True)
class ChannelInfo:
    """One channel of the texture (set).

    ``bits``: stored width of the colour field. A stored integer ``q`` decodes to
    ``lo + q * (hi - lo) / (2**bits - 1)``. ``bits == 0``: the channel is not stored per
    Gaussian; it is the constant ``lo`` (== ``hi`` == ``fallback``), or, for a normal map's
    component 2, rebuilt from components 0 and 1. ``fallback`` is the value of the texture where
    no Gaussian reaches (docs/FORMAT.md, "Decoding"). ``map_kind`` mirrors the kind of the map
    the channel belongs to; ``component`` is the channel's index inside its map.
    """

    map_kind: int = MAP_GENERIC
    component: int = 0
    encoding: int = ENCODING_LINEAR
    bits: int = 8
    lo: float = 0.0
    hi: float = 1.0
    fallback: float = 0.0


@dataclass(frozen=True)
class MapInfo:
    """One map of a material set: channels ``first_channel .. first_channel + channel_count - 1``
    of the asset, decoded at its own size ``width`` x ``height`` (texels).

    Every map covers the same UV square [0, 1]^2; the Gaussians live in the asset's texel
    grid (the largest map's size) and each map samples them at its own texel centres.
    """

    kind: int
    width: int
    height: int
    first_channel: int
    channel_count: int
    flags: int = 0

    @property
    def name(self) -> str:
        return MAP_NAMES.get(self.kind, f"kind{self.kind}")

    @property
    def channel_range(self) -> range:
        return range(self.first_channel, self.first_channel + self.channel_count)


@dataclass(frozen=True)
class RecordLayout:
    """Bit widths of one Gaussian record: x, y, log2 sigma1, log2 sigma2, angle, colours."""

    pos_bits: int
    scale_bits: int
    rot_bits: int
    color_bits: tuple[int, ...]

    @property
    def field_bits(self) -> tuple[int, ...]:
        return (self.pos_bits, self.pos_bits, self.scale_bits, self.scale_bits, self.rot_bits,
                *self.color_bits)

    @property
    def record_bits(self) -> int:
        return sum(self.field_bits)

    @property
    def chunk_align(self) -> int:
        """Gaussian count granularity that makes a chunk end on a 32-bit word boundary."""
        return 32 // math.gcd(self.record_bits, 32)


@dataclass
class LodEntry:
    """One row of the LOD table: the chunk of Gaussians added in one refinement round."""

    count: int
    offset: int
    length: int
    crc32: int


@dataclass
class Asset:
    """A decoded asset header plus its Gaussian records as integer fields.

    ``fields``: uint32 array [N, 5 + C], columns x, y, s1, s2, angle, colour 0..C-1, each
    below ``2**bits`` of its field. ``lod_counts``: Gaussians per LOD chunk (sum N).
    """

    width: int
    height: int
    channels: list[ChannelInfo]
    layout: RecordLayout
    log2_scale_min: float
    log2_scale_max: float
    fields: np.ndarray
    lod_counts: list[int]
    top_k: int = 10
    tile_size: int = 16
    address_x: int = ADDRESS_CLAMP
    address_y: int = ADDRESS_CLAMP
    lods: list[LodEntry] = field(default_factory=list)
    maps: list[MapInfo] = field(default_factory=list)

    def map_table(self) -> list[MapInfo]:
        """The maps (one map of every channel at the asset's size when none were given)."""
        if self.maps:
            return list(self.maps)
        kind = self.channels[0].map_kind if self.channels else MAP_GENERIC
        flags = MAP_FLAG_ALPHA if kind == MAP_BASECOLOR and len(self.channels) in (2, 4) and \
            self.channels[-1].encoding == ENCODING_LINEAR else 0
        return [MapInfo(kind, self.width, self.height, 0, len(self.channels), flags)]

    @property
    def gaussian_count(self) -> int:
        return int(self.fields.shape[0])

    @property
    def channel_count(self) -> int:
        return len(self.channels)

    def header_size(self) -> int:
        return (FIXED_HEADER_SIZE + MAP_ENTRY_SIZE * len(self.map_table())
                + CHANNEL_ENTRY_SIZE * len(self.channels) + LOD_ENTRY_SIZE * len(self.lod_counts))

    def prefix_count(self, lod: int | None) -> int:
        """Gaussians in the first ``lod`` chunks (all when ``lod`` is None)."""
        if lod is None:
            return self.gaussian_count
        if not 1 <= lod <= len(self.lod_counts):
            raise ValueError(f"LOD prefix {lod} outside 1..{len(self.lod_counts)}")
        return int(sum(self.lod_counts[:lod]))


def chunk_payload_bytes(count: int, record_bits: int) -> int:
    """Bytes of a chunk of ``count`` records: the bitstream padded to whole 32-bit words."""
    return ((count * record_bits + 31) // 32) * 4


def pack_fields(fields: np.ndarray, widths: tuple[int, ...]) -> np.ndarray:
    """Pack integer fields [N, F] into a little-endian bitstream of uint32 words.

    Record ``i`` starts at bit ``i * sum(widths)``; inside a record the fields follow in column
    order, each least significant bit first. Bit ``k`` of the stream is bit ``k % 32`` of word
    ``k // 32``. Returns uint32 [ceil(N * sum(widths) / 32)].
    """
    n, f = fields.shape
    assert f == len(widths)
    rbits = sum(widths)
    words = np.zeros((n * rbits + 31) // 32 + 1, dtype=np.uint64)
    base = np.arange(n, dtype=np.int64) * rbits
    off = 0
    for col, w in enumerate(widths):
        v = fields[:, col].astype(np.uint64)
        if np.any(v >> np.uint64(w)):
            raise ValueError(f"field {col} has values that do not fit in {w} bits")
        if w == 0:
            continue
        bit = base + off
        word = bit >> 5
        shift = (bit & 31).astype(np.uint64)
        shifted = v << shift  # at most 24 + 31 bits: fits in uint64
        np.add.at(words, word, shifted & np.uint64(0xFFFFFFFF))
        np.add.at(words, word + 1, shifted >> np.uint64(32))
        off += w
    return words[: (n * rbits + 31) // 32].astype(np.uint32)


def unpack_fields(words: np.ndarray, n: int, widths: tuple[int, ...],
                  out: np.ndarray | None = None, block: int = 8192) -> np.ndarray:
    """Inverse of :func:`pack_fields`: uint32 words -> uint32 fields [n, len(widths)].

    Works through ``block`` records at a time, so temporaries stay small whatever ``n``;
    ``out`` (uint32 [n, len(widths)]) receives the result when given.
    """
    rbits = sum(widths)
    need = (n * rbits + 31) // 32
    if words.shape[0] < need:
        raise AssetFormatError(f"record stream holds {words.shape[0]} words, {need} needed")
    if out is None:
        out = np.empty((n, len(widths)), dtype=np.uint32)
    for r0 in range(0, n, block):
        r1 = min(n, r0 + block)
        w0 = (r0 * rbits) >> 5
        w1 = min(need, ((r1 * rbits + 31) >> 5) + 1)
        w64 = np.concatenate([words[w0:w1].astype(np.uint64), np.zeros(1, np.uint64)])
        base = np.arange(r0, r1, dtype=np.int64) * rbits - w0 * 32
        off = 0
        for col, w in enumerate(widths):
            if w == 0:
                out[r0:r1, col] = 0
                continue
            bit = base + off
            word = bit >> 5
            shift = (bit & 31).astype(np.uint64)
            both = w64[word] | (w64[word + 1] << np.uint64(32))
            out[r0:r1, col] = ((both >> shift) & np.uint64((1 << w) - 1)).astype(np.uint32)
            off += w
    return out


def _check_layout(layout: RecordLayout, n_channels: int) -> None:
    if len(layout.color_bits) != n_channels:
        raise AssetFormatError("colour bit widths do not match the channel count")
    for w in layout.field_bits[:5]:
        if not 1 <= w <= MAX_FIELD_BITS:
            raise AssetFormatError(f"field width {w} outside 1..{MAX_FIELD_BITS}")
    for w in layout.color_bits:
        if not 0 <= w <= MAX_FIELD_BITS:
            raise AssetFormatError(f"colour field width {w} outside 0..{MAX_FIELD_BITS}")


def check_maps(maps: list[MapInfo], channels: list[ChannelInfo], width: int,
               height: int) -> str | None:
    """Why ``maps`` and ``channels`` do not form a valid table (None when they do)."""
    if not 1 <= len(maps) <= MAX_MAPS:
        return f"map count {len(maps)} outside 1..{MAX_MAPS}"
    nxt = 0
    for i, m in enumerate(maps):
        if m.kind not in MAP_NAMES:
            return f"map {i}: unknown kind {m.kind}"
        if m.flags & ~MAP_FLAGS_KNOWN:
            return f"map {i}: unknown flags {m.flags:#x}"
        if m.first_channel != nxt or not 1 <= m.channel_count <= 4:
            return f"map {i}: channels {m.first_channel}+{m.channel_count} do not follow on"
        nxt += m.channel_count
        if not (1 <= m.width <= width and 1 <= m.height <= height):
            return f"map {i}: size {m.width}x{m.height} outside 1x1..{width}x{height}"
        if nxt > len(channels):
            return f"map {i}: channels run past the channel table"
        for j in m.channel_range:
            ch = channels[j]
            if ch.map_kind != m.kind or ch.component != j - m.first_channel:
                return f"channel {j}: map kind or component does not match map {i}"
            if ch.bits == 0 and not (ch.lo == ch.hi == ch.fallback):
                return f"channel {j}: a 0-bit channel needs lo == hi == fallback"
            lim = MAX_LOG2_VALUE if ch.encoding == ENCODING_LOG2 else MAX_CHANNEL_VALUE
            if not all(abs(v) <= lim for v in (ch.lo, ch.hi, ch.fallback)):
                return (f"channel {j}: range [{ch.lo}, {ch.hi}] or fallback {ch.fallback} "
                        f"beyond +-{lim:g}")
        if m.flags & MAP_FLAG_NORMAL_Z:
            if m.kind != MAP_NORMAL or m.channel_count < 3 or channels[m.first_channel + 2].bits:
                return f"map {i}: normal-z flag needs a normal map whose component 2 has 0 bits"
        if m.flags & MAP_FLAG_ALPHA and m.channel_count not in (2, 4):
            return f"map {i}: alpha flag needs 2 or 4 channels"
    if nxt != len(channels):
        return f"maps cover {nxt} channels, the table has {len(channels)}"
    if max(m.width for m in maps) != width or max(m.height for m in maps) != height:
        return f"asset size {width}x{height} is not the largest map's size"
    return None


def write_asset(asset: Asset) -> bytes:
    """Serialize ``asset`` to bytes (docs/FORMAT.md). Fills ``asset.lods``."""
    c = asset.channel_count
    _check_layout(asset.layout, c)
    if sum(asset.lod_counts) != asset.gaussian_count:
        raise ValueError("LOD counts do not sum to the Gaussian count")
    if not 1 <= len(asset.lod_counts) <= MAX_LODS:
        raise ValueError(f"LOD count {len(asset.lod_counts)} outside 1..{MAX_LODS}")
    rbits = asset.layout.record_bits
    align = asset.layout.chunk_align
    for i, cnt in enumerate(asset.lod_counts[:-1]):
        if cnt % align:
            raise ValueError(f"LOD chunk {i} holds {cnt} Gaussians, not a multiple of {align}")
    if any(cnt < 1 for cnt in asset.lod_counts):
        raise ValueError("every LOD chunk needs at least one Gaussian")
    maps = asset.map_table()
    why = check_maps(maps, asset.channels, asset.width, asset.height)
    if why:
        raise ValueError(why)
    widths = asset.layout.field_bits
    chunks = []
    start = 0
    for cnt in asset.lod_counts:
        words = pack_fields(asset.fields[start:start + cnt], widths)
        payload = words.astype("<u4").tobytes()
        assert len(payload) == chunk_payload_bytes(cnt, rbits)
        chunks.append(payload)
        start += cnt
    hsize = asset.header_size()
    lods = []
    off = hsize
    for cnt, payload in zip(asset.lod_counts, chunks):
        lods.append(LodEntry(cnt, off, len(payload), zlib.crc32(payload)))
        off += len(payload)
    asset.lods = lods
    address = (asset.address_x & 3) | ((asset.address_y & 3) << 2)
    lay = asset.layout
    head = bytearray(_FIXED.pack(
        MAGIC, VERSION, hsize, asset.width, asset.height, c, len(asset.lod_counts),
        asset.gaussian_count, asset.top_k, asset.tile_size, address, 0,
        lay.pos_bits, lay.scale_bits, lay.rot_bits, len(maps),
        asset.log2_scale_min, asset.log2_scale_max, rbits, 0, 0, 0, 0, 0, 0))
    for m in maps:
        head += _MAP.pack(m.kind, m.flags, m.first_channel, m.channel_count, m.width, m.height,
                          0, 0)
    for i, m in enumerate(maps):
        for j in m.channel_range:
            ch = asset.channels[j]
            head += _CHANNEL.pack(i, ch.component, ch.encoding, ch.bits, ch.lo, ch.hi,
                                  ch.fallback)
    for e in lods:
        head += _LOD.pack(e.count, e.offset, e.length, e.crc32)
    assert len(head) == hsize
    struct.pack_into("<I", head, HEADER_CRC_OFFSET, zlib.crc32(bytes(head)))
    return bytes(head) + b"".join(chunks)


def _fail(name: str, msg: str) -> AssetFormatError:
    return AssetFormatError(f"{name}: {msg}")


def read_header(data: bytes, name: str = "asset", partial: bool = False) -> Asset:
    """Parse and validate the header, channel table and LOD table; records are not read.

    ``partial``: ``data`` may be a streamed prefix of the file (the header must be whole, the
    chunks may be missing); otherwise ``data`` must be exactly the file.
    ``fields`` of the returned asset is an empty array. Raises :class:`AssetFormatError`.
    """
    size = len(data)
    if size < FIXED_HEADER_SIZE:
        raise _fail(name, f"file is {size} bytes, shorter than the {FIXED_HEADER_SIZE}-byte header")
    (magic, version, hsize, width, height, nch, nlod, ngauss, top_k, tile, address, flags,
     pos_bits, scale_bits, rot_bits, nmaps, smin, smax, rbits, _r1, _r2, _r3, _r4, _r5,
     hcrc) = _FIXED.unpack_from(data, 0)
    if magic != MAGIC:
        raise _fail(name, f"not a texgs asset (magic {magic!r}, expected {MAGIC!r})")
    if version != VERSION:
        raise _fail(name, f"format version {version} is not supported (this reader: {VERSION})")
    if not 1 <= nch <= MAX_CHANNELS:
        raise _fail(name, f"channel count {nch} outside 1..{MAX_CHANNELS}")
    if not 1 <= nlod <= MAX_LODS:
        raise _fail(name, f"LOD count {nlod} outside 1..{MAX_LODS}")
    if not 1 <= nmaps <= MAX_MAPS:
        raise _fail(name, f"map count {nmaps} outside 1..{MAX_MAPS}")
    expect = (FIXED_HEADER_SIZE + MAP_ENTRY_SIZE * nmaps + CHANNEL_ENTRY_SIZE * nch
              + LOD_ENTRY_SIZE * nlod)
    if hsize != expect:
        raise _fail(name, f"header size {hsize} does not match its tables ({expect})")
    if hsize > size:
        raise _fail(name, f"truncated: header needs {hsize} bytes, file has {size}")
    head = bytearray(data[:hsize])
    struct.pack_into("<I", head, HEADER_CRC_OFFSET, 0)
    if zlib.crc32(bytes(head)) != hcrc:
        raise _fail(name, "header CRC mismatch (corrupt header)")
    if not (1 <= width <= MAX_DIMENSION and 1 <= height <= MAX_DIMENSION):
        raise _fail(name, f"dimensions {width}x{height} outside 1..{MAX_DIMENSION}")
    if not 1 <= ngauss <= MAX_GAUSSIANS:
        raise _fail(name, f"Gaussian count {ngauss} outside 1..{MAX_GAUSSIANS}")
    if not 1 <= top_k <= 32:
        raise _fail(name, f"top-K {top_k} outside 1..32")
    if not 4 <= tile <= 128:
        raise _fail(name, f"tile size {tile} outside 4..128")
    if flags != 0 or address >> 4 or any((_r1, _r2, _r3, _r4, _r5)):
        raise _fail(name, "reserved fields are not zero")
    ax, ay = address & 3, (address >> 2) & 3
    if ax not in ADDRESS_NAMES or ay not in ADDRESS_NAMES:
        raise _fail(name, f"unknown address mode ({ax}, {ay})")
    if not (math.isfinite(smin) and math.isfinite(smax)) or not (
            -LOG2_SCALE_LIMIT <= smin <= smax <= LOG2_SCALE_LIMIT):
        raise _fail(name, f"log2 scale range [{smin}, {smax}] invalid")
    maps = []
    for i in range(nmaps):
        kind, mflags, first, count, mw, mh, _m0, _m1 = _MAP.unpack_from(
            data, FIXED_HEADER_SIZE + MAP_ENTRY_SIZE * i)
        if _m0 or _m1:
            raise _fail(name, f"map {i}: reserved fields are not zero")
        maps.append(MapInfo(kind, mw, mh, first, count, mflags))
    channels = []
    owners = []
    cbase = FIXED_HEADER_SIZE + MAP_ENTRY_SIZE * nmaps
    for i in range(nch):
        mi, comp, enc, bits, lo, hi, fb = _CHANNEL.unpack_from(data, cbase + CHANNEL_ENTRY_SIZE * i)
        if mi >= nmaps or enc not in ENCODING_NAMES or comp > 3:
            raise _fail(name, f"channel {i}: unknown map, component or encoding")
        if not all(math.isfinite(v) for v in (lo, hi, fb)) or lo > hi:
            raise _fail(name, f"channel {i}: range [{lo}, {hi}] or fallback {fb} invalid")
        channels.append(ChannelInfo(maps[mi].kind, comp, enc, bits, lo, hi, fb))
        owners.append(mi)
    why = check_maps(maps, channels, width, height)
    if why:
        raise _fail(name, why)
    if owners != [i for i, m in enumerate(maps) for _ in m.channel_range]:
        raise _fail(name, "channel table names the wrong maps")
    layout = RecordLayout(pos_bits, scale_bits, rot_bits, tuple(ch.bits for ch in channels))
    try:
        _check_layout(layout, nch)
    except AssetFormatError as e:
        raise _fail(name, str(e)) from None
    if rbits != layout.record_bits:
        raise _fail(name, f"record size {rbits} bits does not match its fields "
                          f"({layout.record_bits})")
    lods = []
    counts = []
    off = hsize
    total = 0
    tbase = cbase + CHANNEL_ENTRY_SIZE * nch
    for i in range(nlod):
        cnt, o, length, crc = _LOD.unpack_from(data, tbase + LOD_ENTRY_SIZE * i)
        if cnt < 1:
            raise _fail(name, f"LOD {i} is empty")
        if i < nlod - 1 and cnt % layout.chunk_align:
            raise _fail(name, f"LOD {i} count {cnt} breaks 32-bit chunk alignment")
        total += cnt
        if total > ngauss:
            raise _fail(name, f"LOD table holds more Gaussians than the header's {ngauss}")
        if o != off:
            raise _fail(name, f"LOD {i} starts at byte {o}, expected {off}")
        if length != chunk_payload_bytes(cnt, rbits):
            raise _fail(name, f"LOD {i} length {length} does not fit its {cnt} records")
        if o + length > size and not partial:
            raise _fail(name, f"truncated: LOD {i} ends at byte {o + length}, file has {size}")
        lods.append(LodEntry(cnt, o, length, crc))
        counts.append(cnt)
        off = o + length
    if total != ngauss:
        raise _fail(name, f"LOD table holds {total} Gaussians, header says {ngauss}")
    if off < size or (off > size and not partial):
        raise _fail(name, f"{size - off} unexpected bytes after the last chunk")
    return Asset(width=width, height=height, channels=channels, layout=layout,
                 log2_scale_min=smin, log2_scale_max=smax,
                 fields=np.zeros((0, 5 + nch), np.uint32), lod_counts=counts, top_k=top_k,
                 tile_size=tile, address_x=ax, address_y=ay, lods=lods, maps=maps)


def read_asset(data: bytes, name: str = "asset", lod: int | None = None) -> Asset:
    """Parse and validate a whole asset (or its first ``lod`` chunks) from bytes.

    ``data`` may end right after chunk ``lod`` (a streamed prefix) only when ``lod`` is given;
    pass the full bytes otherwise. Raises :class:`AssetFormatError` on any violation.
    """
    asset = read_header(data, name, partial=lod is not None)
    nlod = len(asset.lods)
    if lod is None:
        lod = nlod
    if not 1 <= lod <= nlod:
        raise _fail(name, f"LOD prefix {lod} outside 1..{nlod}")
    end = asset.lods[lod - 1].offset + asset.lods[lod - 1].length
    if end > len(data):
        raise _fail(name, f"truncated: LOD {lod - 1} ends at byte {end}, file has {len(data)}")
    asset.fields = _read_chunks(data, asset, lod, name)
    asset.lod_counts = asset.lod_counts[:lod]
    asset.lods = asset.lods[:lod]
    return asset


def _read_chunks(data: bytes, asset: Asset, nlod: int, name: str) -> np.ndarray:
    widths = asset.layout.field_bits
    total = sum(e.count for e in asset.lods[:nlod])
    # the counts were checked against the chunk lengths, so this is bounded by the file size
    out = np.empty((total, len(widths)), dtype=np.uint32)
    start = 0
    for i, e in enumerate(asset.lods[:nlod]):
        payload = data[e.offset:e.offset + e.length]
        if zlib.crc32(payload) != e.crc32:
            raise _fail(name, f"LOD {i} CRC mismatch (corrupt chunk)")
        words = np.frombuffer(payload, dtype="<u4")
        unpack_fields(words, e.count, widths, out[start:start + e.count])
        start += e.count
    return out


def read_file_bytes(path: str | Path, what: str = "an asset file") -> bytes:
    """The bytes of ``path``; a missing, unreadable or directory path raises
    :class:`AssetFormatError` naming it (``what``: what it should have been)."""
    p = Path(path)
    try:
        return p.read_bytes()
    except FileNotFoundError:
        raise AssetFormatError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise AssetFormatError(f"{p}: is a directory, not {what}") from None
    except OSError as e:
        raise AssetFormatError(f"{p}: cannot read ({e.strerror})") from None


def read_asset_file(path: str | Path, lod: int | None = None) -> Asset:
    """Read and validate an asset file. Raises :class:`AssetFormatError` naming the file."""
    return read_asset(read_file_bytes(path), str(Path(path)), lod)
