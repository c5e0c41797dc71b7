"""Regenerate the fuzz corpus: hand-made broken `.tgs` files, valid boundary cases and seeds.

    python tests/corpus/make_corpus.py

Every file is named after what is wrong with it. Three groups:

- ``seed_*``: the golden assets (tests/golden/*.tgs), copied as they are;
- ``valid_*``: valid assets at the edges of docs/FORMAT.md's limits (every reader must
  accept them, and the runtime must take them);
- everything else: one defect each, built from a golden asset by changing one thing. Where
  the defect lies behind a CRC (a header field, a LOD table entry), the CRCs are recomputed,
  so the file reaches the check the name says; ``*_crc_*`` and ``*_stale_crc`` files keep a
  wrong CRC on purpose. A reader must reject every one of them (tests/test_fuzz.py).

tests/test_fuzz.py runs every file through the shared fuzz target (tests/fuzz_target.py);
bench/fuzz_assets.py and the CI atheris run use the folder as seeds. Deterministic: running
the script again rewrites the same bytes.
"""

from __future__ import annotations

import shutil
import struct
import sys
import zlib
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
GOLDEN = HERE.parent / "golden"
sys.path.insert(0, str(HERE.parents[1]))

from texgs import format as fmt  # noqa: E402

U32_MAX = (1 << 32) - 1
NAN = float("nan")
INF = float("inf")


class Layout:
    """Byte offsets of the fields of one asset's tables."""

    def __init__(self, data: bytes) -> None:
        self.nch, self.nlod = struct.unpack_from("<HH", data, 16)
        self.nmaps = data[31]
        self.maps = fmt.FIXED_HEADER_SIZE
        self.chans = self.maps + fmt.MAP_ENTRY_SIZE * self.nmaps
        self.lods = self.chans + fmt.CHANNEL_ENTRY_SIZE * self.nch
        self.hsize = self.lods + fmt.LOD_ENTRY_SIZE * self.nlod
        self.entries = [struct.unpack_from("<IIII", data, self.lods + 16 * i)
                        for i in range(self.nlod)]

    def map(self, i: int, field: int) -> int:
        return self.maps + 16 * i + field

    def chan(self, i: int, field: int) -> int:
        return self.chans + 16 * i + field

    def lod(self, i: int, field: int) -> int:
        return self.lods + 16 * i + field

    def chunk(self, i: int) -> tuple[int, int]:
        """(offset, length) of chunk i."""
        return self.entries[i][1], self.entries[i][2]


def fix_header_crc(buf: bytearray) -> None:
    hsize = struct.unpack_from("<H", buf, 6)[0]
    struct.pack_into("<I", buf, fmt.HEADER_CRC_OFFSET, 0)
    struct.pack_into("<I", buf, fmt.HEADER_CRC_OFFSET, zlib.crc32(bytes(buf[:hsize])))


def put(data: bytes, *edits: tuple[int, str, object], crc: bool = True) -> bytes:
    """``data`` with each (offset, struct code, value) written, header CRC recomputed."""
    buf = bytearray(data)
    for off, code, value in edits:
        struct.pack_into("<" + code, buf, off, value)
    if crc:
        fix_header_crc(buf)
    return bytes(buf)


def flip(data: bytes, offset: int, mask: int = 0x01) -> bytes:
    buf = bytearray(data)
    buf[offset] ^= mask
    return bytes(buf)


def put_f32_bits(data: bytes, offset: int, bits: int) -> bytes:
    """``data`` with the float32 of bit pattern ``bits`` (a NaN payload) at ``offset``."""
    return put(data, (offset, "I", bits))


def _scrambled_fields(seed: int, layout: fmt.RecordLayout, n: int) -> np.ndarray:
    """Record fields from a fixed integer hash (no RNG, so the bytes never depend on the
    NumPy version); record 0 is all ones."""
    i = np.arange(n, dtype=np.uint64)[:, None]
    col = np.arange(len(layout.field_bits), dtype=np.uint64)[None, :]
    h = (i * np.uint64(2654435761) + col * np.uint64(40503) + np.uint64(seed * 97 + 11))
    h = (h ^ (h >> np.uint64(13))) * np.uint64(0x9E3779B1) & np.uint64(0xFFFFFFFF)
    mask = np.array([(1 << w) - 1 for w in layout.field_bits], np.uint64)[None, :]
    f = (h & mask).astype(np.uint32)
    f[0] = mask[0].astype(np.uint32)
    return f


def valid_asset(seed: int, width: int = 16, height: int = 16, maps: list | None = None,
                channels: list | None = None, bits: tuple[int, int, int] = (12, 8, 8),
                counts: tuple[int, ...] = (5,), smin: float = -1.0, smax: float = 2.0,
                top_k: int = 8, tile: int = 8, address: tuple[int, int] = (0, 0)) -> bytes:
    if channels is None:
        channels = [fmt.ChannelInfo(fmt.MAP_GENERIC, i, fmt.ENCODING_LINEAR, 8, 0.0, 1.0, 0.5)
                    for i in range(3)]
    layout = fmt.RecordLayout(*bits, tuple(ch.bits for ch in channels))
    n = sum(counts)
    asset = fmt.Asset(width=width, height=height, channels=channels, layout=layout,
                      log2_scale_min=smin, log2_scale_max=smax,
                      fields=_scrambled_fields(seed, layout, n), lod_counts=list(counts),
                      top_k=top_k, tile_size=tile, address_x=address[0], address_y=address[1],
                      maps=maps or [])
    return fmt.write_asset(asset)


def valid_cases() -> dict[str, bytes]:
    G, N, B = fmt.MAP_GENERIC, fmt.MAP_NORMAL, fmt.MAP_BASECOLOR
    lin, srgb, log2 = fmt.ENCODING_LINEAR, fmt.ENCODING_SRGB, fmt.ENCODING_LOG2
    out = {}
    out["valid_dims_16384x16384_one_gaussian"] = valid_asset(
        1, 16384, 16384, counts=(1,), smin=-16.0, smax=16.0, tile=128)
    out["valid_dims_1x1_clamp"] = valid_asset(2, 1, 1, counts=(3,))
    out["valid_dims_16384x1_repeat"] = valid_asset(3, 16384, 1, counts=(4,), address=(1, 1),
                                                   tile=128)
    # 16 maps of 4 channels: 64 channels, most not stored (0 bits, constant).
    maps, chans = [], []
    for m in range(16):
        kind = (G, B, N, fmt.MAP_ORM)[m % 4]
        flags = fmt.MAP_FLAG_NORMAL_Z if kind == N else 0
        maps.append(fmt.MapInfo(kind, 8 if m else 16, 16 if m == 1 else 4 + m % 5, 4 * m, 4,
                                flags))
        for c in range(4):
            stored = (m + c) % 5 == 0 and not (kind == N and c == 2)
            v = 0.25 * c
            chans.append(fmt.ChannelInfo(kind, c, (lin, srgb, log2)[(m + c) % 3],
                                         1 + (m + c) % 24 if stored else 0,
                                         -1.0 if stored else v, 2.0 if stored else v, v))
    out["valid_64_channels_16_maps"] = valid_asset(4, 16, 16, maps, chans, counts=(7,))
    out["valid_32_lods"] = valid_asset(5, 24, 20, counts=(1,) * 32, bits=(10, 7, 6))
    chans24 = [fmt.ChannelInfo(G, i, lin, 24, -4.0, 4.0, 0.0) for i in range(4)]
    out["valid_all_fields_24_bits"] = valid_asset(6, 20, 12, None, chans24, (24, 24, 24),
                                                  (8, 3))
    chans0 = [fmt.ChannelInfo(G, 0, lin, 0, 0.5, 0.5, 0.5)]
    out["valid_record_5_bits_colour_not_stored"] = valid_asset(7, 9, 7, None, chans0, (1, 1, 1),
                                                               (32, 32, 13))
    out["valid_scale_range_empty"] = valid_asset(8, counts=(6,), smin=0.0, smax=0.0)
    out["valid_scale_range_extremes"] = valid_asset(9, counts=(6,), smin=-16.0, smax=16.0)
    out["valid_top_k_32_tile_4"] = valid_asset(10, counts=(40,), top_k=32, tile=4)
    out["valid_top_k_1_tile_128"] = valid_asset(11, counts=(40,), top_k=1, tile=128)
    lim, llim = fmt.MAX_CHANNEL_VALUE, fmt.MAX_LOG2_VALUE
    chans_lim = [fmt.ChannelInfo(G, 0, lin, 8, -lim, lim, lim),
                 fmt.ChannelInfo(G, 1, log2, 8, -llim, llim, -llim)]
    out["valid_channel_values_at_limits"] = valid_asset(12, 16, 16, None, chans_lim,
                                                        counts=(4,))
    return out


def header_cases(r: bytes) -> dict[str, bytes]:
    """Fixed-header defects, on rgb_clamp (1 map, 3 channels, 3 LODs, 72-bit records)."""
    lay = Layout(r)
    out = {
        "empty_file": b"",
        "short_header_1_byte": r[:1],
        "short_header_4_bytes_magic_only": r[:4],
        "short_header_40_bytes": r[:40],
        "short_header_63_bytes": r[:63],
        "magic_wrong": b"TXGZ" + r[4:],
        "magic_lowercase": b"txgs" + r[4:],
        "magic_then_zeros": b"TXGS" + bytes(60),
        "all_bytes_0xff": b"\xff" * 256,
        "version_0": put(r, (4, "H", 0)),
        "version_1": put(r, (4, "H", 1)),
        "version_3": put(r, (4, "H", 3)),
        "version_65535": put(r, (4, "H", 0xFFFF)),
        "header_crc_wrong": flip(r, fmt.HEADER_CRC_OFFSET, 0x80),
        "header_crc_zero": put(r, (fmt.HEADER_CRC_OFFSET, "I", 0), crc=False),
        "header_byte_flipped_stale_crc": flip(r, 20),
        "header_lod_entry_flipped_stale_crc": flip(r, lay.lod(1, 4)),
        "header_size_0": put(r, (6, "H", 0)),
        "header_size_16_short": put(r, (6, "H", lay.hsize - 16)),
        "header_size_16_long": put(r, (6, "H", lay.hsize + 16)),
        "header_size_65535": put(r, (6, "H", 0xFFFF)),
        "channel_count_0": put(r, (16, "H", 0)),
        "channel_count_65_over_limit": put(r, (16, "H", 65)),
        "channel_count_65535": put(r, (16, "H", 0xFFFF)),
        "channel_count_4_tables_unchanged": put(r, (16, "H", 4)),
        "channel_count_64_tables_past_end": put(r, (16, "H", 64),
                                                (6, "H", lay.hsize + 16 * 61)),
        "map_count_0": put(r, (31, "B", 0)),
        "map_count_17_over_limit": put(r, (31, "B", 17)),
        "map_count_255": put(r, (31, "B", 255)),
        "map_count_2_tables_unchanged": put(r, (31, "B", 2)),
        "lod_count_0": put(r, (18, "H", 0)),
        "lod_count_33_over_limit": put(r, (18, "H", 33)),
        "lod_count_65535": put(r, (18, "H", 0xFFFF)),
        "lod_count_32_tables_past_end": put(r, (18, "H", 32), (6, "H", lay.hsize + 16 * 29)),
        "all_counts_max_tables_past_end": put(r, (16, "H", 64), (18, "H", 32), (31, "B", 16),
                                              (6, "H", 64 + 16 * (64 + 32 + 16))),
        "gaussian_count_0": put(r, (20, "I", 0)),
        "gaussian_count_2p24_plus_1": put(r, (20, "I", (1 << 24) + 1)),
        "gaussian_count_2p32_minus_1": put(r, (20, "I", U32_MAX)),
        "gaussian_count_2p24_above_lod_sum": put(r, (20, "I", 1 << 24)),
        "gaussian_count_above_lod_sum": put(r, (20, "I", 42)),
        "gaussian_count_below_lod_sum": put(r, (20, "I", 40)),
        "width_0": put(r, (8, "I", 0)),
        "height_0": put(r, (12, "I", 0)),
        "width_16385_over_limit": put(r, (8, "I", 16385)),
        "height_16385_over_limit": put(r, (12, "I", 16385)),
        "width_2p32_minus_1": put(r, (8, "I", U32_MAX)),
        "height_2p32_minus_1": put(r, (12, "I", U32_MAX)),
        "dims_2p31_by_2p31": put(r, (8, "I", 1 << 31), (12, "I", 1 << 31)),
        "width_16384_wider_than_every_map": put(r, (8, "I", 16384)),
        "dims_16384_by_16384_larger_than_every_map": put(r, (8, "I", 16384), (12, "I", 16384)),
        "top_k_0": put(r, (24, "B", 0)),
        "top_k_33_over_limit": put(r, (24, "B", 33)),
        "top_k_255": put(r, (24, "B", 255)),
        "tile_size_0": put(r, (25, "B", 0)),
        "tile_size_3_under_limit": put(r, (25, "B", 3)),
        "tile_size_129_over_limit": put(r, (25, "B", 129)),
        "address_x_mode_2_unknown": put(r, (26, "B", 2)),
        "address_y_mode_3_unknown": put(r, (26, "B", 3 << 2)),
        "address_reserved_bits_set": put(r, (26, "B", 0x10)),
        "header_flags_reserved_set": put(r, (27, "B", 1)),
        "header_reserved_u16_at_42_set": put(r, (42, "H", 1)),
        "header_reserved_u32_at_44_set": put(r, (44, "I", 1)),
        "header_reserved_u32_at_48_set": put(r, (48, "I", 0x80000000)),
        "header_reserved_u32_at_52_set": put(r, (52, "I", U32_MAX)),
        "header_reserved_u32_at_56_set": put(r, (56, "I", 7)),
        "record_bits_off_by_one": put(r, (40, "H", 73)),
        "record_bits_0": put(r, (40, "H", 0)),
        "record_bits_65535": put(r, (40, "H", 0xFFFF)),
        "scale_min_nan": put(r, (32, "f", NAN)),
        "scale_max_nan": put(r, (36, "f", NAN)),
        "scale_min_signalling_nan": put_f32_bits(r, 32, 0x7F800001),
        "scale_max_negative_nan": put_f32_bits(r, 36, 0xFFC00000),
        "scale_min_negative_infinity": put(r, (32, "f", -INF)),
        "scale_max_positive_infinity": put(r, (36, "f", INF)),
        "scale_both_infinite": put(r, (32, "f", -INF), (36, "f", INF)),
        "scale_min_above_max": put(r, (32, "f", 3.0), (36, "f", 2.0)),
        "scale_min_below_minus_16": put(r, (32, "f", -16.5)),
        "scale_max_above_16": put(r, (36, "f", 16.5)),
        "scale_max_float32_max": put(r, (36, "f", float(np.finfo(np.float32).max))),
    }
    # Field widths out of range; record_bits kept consistent so the width is what is wrong.
    for name, off, value in (("pos_bits_0", 28, 0), ("pos_bits_25_over_limit", 28, 25),
                             ("pos_bits_255", 28, 255), ("scale_bits_0", 29, 0),
                             ("scale_bits_25_over_limit", 29, 25), ("rot_bits_0", 30, 0),
                             ("rot_bits_25_over_limit", 30, 25)):
        old = r[off]
        per = 2 if off in (28, 29) else 1
        rbits = 72 + per * (value - old)
        out[name] = put(r, (off, "B", value), (40, "H", rbits & 0xFFFF))
    return out


def table_cases(s: bytes) -> dict[str, bytes]:
    """Map and channel table defects, on set_mixed: maps basecolour RGBA (alpha flag, 32x24),
    normal (normal-z flag, 16x12, channels 6 and 7 not stored), gloss (32x24, channels 9 and
    10 not stored); 101-bit records."""
    lay = Layout(s)
    m, c = lay.map, lay.chan
    out = {
        "map_reserved_word_0_set": put(s, (m(1, 8), "I", 1)),
        "map_reserved_word_1_set": put(s, (m(2, 12), "I", U32_MAX)),
        "map_kind_11_unknown": put(s, (m(0, 0), "B", 11)),
        "map_kind_255_unknown": put(s, (m(2, 0), "B", 255)),
        "map_flags_bit_2_unknown": put(s, (m(0, 1), "B", 0x06)),
        "map_flags_bit_7_unknown": put(s, (m(2, 1), "B", 0x80)),
        "map_normal_z_flag_on_basecolor": put(s, (m(0, 1), "B", 0x03)),
        "map_normal_z_flag_on_gloss": put(s, (m(2, 1), "B", 0x01)),
        "map_normal_z_flag_with_stored_z": put(s, (c(6, 3), "B", 8), (40, "H", 109)),
        "map_normal_z_flag_on_2_channel_normal": put(
            s, (m(1, 3), "B", 2), (m(2, 2), "B", 6), (m(2, 3), "B", 3)),
        "map_alpha_flag_on_3_channels": put(s, (m(2, 1), "B", 0x02)),
        "map_first_channel_gap": put(s, (m(1, 2), "B", 5)),
        "map_first_channel_overlap": put(s, (m(1, 2), "B", 3)),
        "map_first_channel_not_0": put(s, (m(0, 2), "B", 1)),
        "map_channel_count_0": put(s, (m(2, 3), "B", 0)),
        "map_channel_count_5_over_limit": put(s, (m(0, 3), "B", 5)),
        "map_channels_do_not_cover_table": put(s, (m(2, 3), "B", 2)),
        "map_channels_run_past_table": put(s, (m(2, 3), "B", 4)),
        "map_wider_than_asset": put(s, (m(1, 4), "H", 33)),
        "map_taller_than_asset": put(s, (m(1, 6), "H", 25)),
        "map_width_65535": put(s, (m(1, 4), "H", 0xFFFF)),
        "map_width_0": put(s, (m(1, 4), "H", 0)),
        "map_height_0": put(s, (m(2, 6), "H", 0)),
        "no_map_as_wide_as_asset": put(s, (m(0, 4), "H", 31), (m(2, 4), "H", 31)),
        "no_map_as_tall_as_asset": put(s, (m(0, 6), "H", 23), (m(2, 6), "H", 20)),
        "channel_map_index_3_no_such_map": put(s, (c(0, 0), "B", 3)),
        "channel_map_index_255": put(s, (c(10, 0), "B", 255)),
        "channel_names_wrong_map": put(s, (c(4, 0), "B", 0)),
        "channel_component_4_over_limit": put(s, (c(1, 1), "B", 4)),
        "channel_component_mismatch": put(s, (c(1, 1), "B", 2)),
        "channel_components_swapped": put(s, (c(4, 1), "B", 1), (c(5, 1), "B", 0)),
        "channel_encoding_3_unknown": put(s, (c(0, 2), "B", 3)),
        "channel_encoding_255_unknown": put(s, (c(8, 2), "B", 255)),
        "channel_bits_25_over_limit": put(s, (c(8, 3), "B", 25), (40, "H", 118)),
        "channel_bits_255": put(s, (c(8, 3), "B", 255), (40, "H", (101 + 247) & 0xFFFF)),
        "zero_bit_channel_lo_ne_hi": put(s, (c(9, 8), "f", 1.0)),
        "zero_bit_channel_fallback_ne_lo": put(s, (c(10, 12), "f", 0.5)),
        "zero_bit_channel_all_nan": put(s, (c(7, 4), "f", NAN), (c(7, 8), "f", NAN),
                                        (c(7, 12), "f", NAN)),
        "zero_bit_channel_all_infinite": put(s, (c(9, 4), "f", INF), (c(9, 8), "f", INF),
                                             (c(9, 12), "f", INF)),
        "channel_lo_nan": put(s, (c(0, 4), "f", NAN)),
        "channel_hi_nan": put(s, (c(1, 8), "f", NAN)),
        "channel_fallback_nan": put(s, (c(2, 12), "f", NAN)),
        "channel_lo_negative_infinity": put(s, (c(3, 4), "f", -INF)),
        "channel_hi_positive_infinity": put(s, (c(4, 8), "f", INF)),
        "channel_fallback_positive_infinity": put(s, (c(5, 12), "f", INF)),
        "channel_fallback_negative_infinity": put(s, (c(8, 12), "f", -INF)),
        "channel_lo_above_hi": put(s, (c(0, 4), "f", 2.0)),
        "channel_hi_signalling_nan": put_f32_bits(s, c(8, 8), 0x7FA00000),
        # finite, hi >= lo, but hi - lo overflows float32 (decoding would give inf / NaN)
        "channel_span_overflows_float32": put(s, (c(0, 4), "f", -3.4e38), (c(0, 8), "f", 3.4e38),
                                              (c(0, 12), "f", 0.0)),
        "channel_value_over_limit": put(s, (c(1, 8), "f", 1e30)),
        # a log2 channel whose values would decode to infinity (2^200)
        "log2_channel_value_over_limit": put(s, (c(0, 2), "B", 2), (c(0, 8), "f", 200.0)),
    }
    return out


def lod_cases(r: bytes, s: bytes) -> dict[str, bytes]:
    """LOD table and chunk defects, on rgb_clamp (counts 16, 16, 9; 72-bit records, so chunks
    before the last hold multiples of 4) and set_mixed (3 LODs)."""
    lay = Layout(r)
    L = lay.lod
    (o0, n0), (o1, n1), (o2, _) = lay.chunk(0), lay.chunk(1), lay.chunk(2)
    end = len(r)
    out = {
        "lod0_count_0": put(r, (L(0, 0), "I", 0)),
        "lod_last_count_0": put(r, (L(2, 0), "I", 0)),
        "lod0_count_2p32_minus_1": put(r, (L(0, 0), "I", U32_MAX)),
        "lod0_count_misaligned": put(r, (L(0, 0), "I", 15), (L(2, 0), "I", 10)),
        "lod_counts_sum_above_header": put(r, (L(2, 0), "I", 10)),
        "lod_last_count_disagrees_with_length": put(r, (L(2, 0), "I", 8), (20, "I", 40)),
        "lod0_offset_past_end": put(r, (L(0, 4), "I", U32_MAX - 15)),
        "lod0_offset_inside_header": put(r, (L(0, 4), "I", 64)),
        "lod0_offset_0": put(r, (L(0, 4), "I", 0)),
        "lod1_offset_gap_4_bytes": put(r, (L(1, 4), "I", o1 + 4)),
        "lod1_offset_overlaps_previous": put(r, (L(1, 4), "I", o1 - 4)),
        "lod1_offset_same_as_lod0": put(r, (L(1, 4), "I", o0)),
        "lod_last_offset_past_end": put(r, (L(2, 4), "I", end + 4)),
        "lod1_length_4_short": put(r, (L(1, 8), "I", n1 - 4)),
        "lod1_length_4_long": put(r, (L(1, 8), "I", n1 + 4)),
        "lod0_length_0": put(r, (L(0, 8), "I", 0)),
        "lod0_length_2p32_minus_1": put(r, (L(0, 8), "I", U32_MAX)),
        # Consistent table whose last chunk claims 4096 more records than the file holds.
        "lod_last_ends_past_file": put(r, (L(2, 0), "I", 9 + 4096), (20, "I", 41 + 4096),
                                       (L(2, 8), "I", fmt.chunk_payload_bytes(9 + 4096, 72))),
        # Consistent table of 2^24 Gaussians in a 548-byte file (no allocation allowed).
        "lod_last_claims_2p24_gaussians": put(
            r, (L(2, 0), "I", (1 << 24) - 32), (20, "I", 1 << 24),
            (L(2, 8), "I", fmt.chunk_payload_bytes((1 << 24) - 32, 72))),
        "chunk0_crc_wrong": flip(r, o0 + 5, 0x10),
        "chunk1_crc_wrong": flip(r, o1 + n1 - 1, 0x80),
        "chunk_last_crc_wrong": flip(r, end - 1, 0x01),
        "chunk1_crc_field_wrong": put(r, (L(1, 12), "I", lay.entries[1][3] ^ 1)),
        "chunk_last_padding_bits_set_stale_crc": flip(r, end - 1, 0x80),
        "truncated_inside_map_table": r[:70],
        "truncated_inside_lod_table": r[:lay.hsize - 6],
        "truncated_after_header": r[:lay.hsize],
        "truncated_mid_chunk0": r[:o0 + n0 // 2],
        "truncated_after_chunk0": r[:o0 + n0],
        "truncated_mid_chunk1": r[:o1 + n1 // 2 + 1],
        "truncated_mid_last_chunk": r[:end - 3],
        "truncated_last_byte": r[:end - 1],
        "trailing_1_byte": r + b"\0",
        "trailing_4_zero_bytes": r + bytes(4),
        "trailing_copy_of_file": r + r,
        "chunks_swapped": r[:o0] + r[o1:o1 + n1] + r[o0:o0 + n0] + r[o2:],
    }
    sl = Layout(s)
    so1, sn1 = sl.chunk(1)
    out["set_truncated_mid_chunk1"] = s[:so1 + sn1 // 3]
    out["set_lod1_offset_gap_4_bytes"] = put(s, (sl.lod(1, 4), "I", so1 + 4))
    out["set_chunk_last_crc_wrong"] = flip(s, len(s) - 2, 0x04)
    return out


def build() -> dict[str, bytes]:
    r = (GOLDEN / "rgb_clamp.tgs").read_bytes()
    s = (GOLDEN / "set_mixed.tgs").read_bytes()
    cases: dict[str, bytes] = {}
    for part in (header_cases(r), table_cases(s), lod_cases(r, s), valid_cases()):
        for name in part:
            assert name not in cases, name
        cases.update(part)
    return cases


def main() -> None:
    for old in HERE.glob("*.tgs"):
        old.unlink()
    for golden in sorted(GOLDEN.glob("*.tgs")):
        shutil.copyfile(golden, HERE / f"seed_{golden.name}")
    cases = build()
    for name, data in sorted(cases.items()):
        (HERE / f"{name}.tgs").write_bytes(data)
    total = sum(p.stat().st_size for p in HERE.glob("*.tgs"))
    print(f"{len(cases) + len(list(GOLDEN.glob('*.tgs')))} files, {total} bytes in {HERE}")


if __name__ == "__main__":
    main()
