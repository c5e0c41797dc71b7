"""The one layout definition of the runtime buffers (docs/RUNTIME.md), shared by every decoder.

``engine_shaders/texgs_layout.h`` is generated from this module (``python -m texgs.layout``
rewrites it; a test checks it is current) and included by the GLSL, HLSL and CUDA code, so
no constant is copied by hand between languages. NumPy and the standard library only.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from .format import (ADDRESS_REPEAT, BIN_PAD_ABS, BIN_PAD_REL, BLEND_EPS, CUTOFF_Q,
                     ENCODING_LOG2, LOG2_OFFSET, MAP_FLAG_NORMAL_Z, MAX_CHANNELS,
                     MAX_DIMENSION, MAX_FIELD_BITS, MAX_GAUSSIANS)

# Words of the meta buffer (u32; f32 values stored as their bit patterns).
META_WIDTH = 0
META_HEIGHT = 1
META_CHANNELS = 2
META_COUNT = 3
META_TOP_K = 4
META_TILE = 5
META_TILES_X = 6
META_TILES_Y = 7
META_ADDRESS = 8
META_POS_BITS = 9
META_SCALE_BITS = 10
META_ROT_BITS = 11
META_RECORD_BITS = 12
META_LOG2_SMIN = 13
META_LOG2_SMAX = 14
META_ID_BITS = 15
META_FILTER_MAX_VAR = 16  # f32: largest footprint variance (texels^2) the tile index covers
META_INDEX_CODING = 17  # how tile_offsets / tile_ids hold the lists (INDEX_CODING_*)
META_COUNT_BITS = 18  # Rice coding: bits of each list's length field
META_CHANNEL_BASE = 20  # word 19 reserved (zero)
META_CHANNEL_STRIDE = 4
# Words of one channel entry, at META_CHANNEL_BASE + META_CHANNEL_STRIDE * c.
CH_BITS_OFFSET = 0  # bits | (bit offset of the field inside the record) << 8
CH_LO = 1
CH_HI = 2
CH_FALLBACK = 3

# Limits of docs/FORMAT.md that a runtime checks the meta buffer against before reading the
# other buffers (cuda/texgs_math.cuh texgs_validate_buffers). Named LIMIT_ so they do not
# clash with the shaders' own TEXGS_MAX_K / TEXGS_MAX_CHANNELS array-size defines.
LIMIT_DIMENSION = MAX_DIMENSION
LIMIT_CHANNELS = MAX_CHANNELS
LIMIT_GAUSSIANS = MAX_GAUSSIANS
LIMIT_FIELD_BITS = MAX_FIELD_BITS
LIMIT_TOP_K = 32  # texgs.format.read_asset accepts top-K 1..32
ADDRESS_MODE_REPEAT = ADDRESS_REPEAT  # per-axis mode in META_ADDRESS (bits 0-1 x, 2-3 y)

# Tile-list codings (docs/RUNTIME.md "Tile index"; texgs.index_coding).
INDEX_CODING_FIXED = 0  # ID_BITS-wide ids; tile_offsets count entries
INDEX_CODING_RICE = 1  # Rice-coded gaps; tile_offsets count bits
RICE_K_BITS = 5  # width of a Rice-coded list's parameter k (0..32 - RICE_ESCAPE)
# A Rice code of RICE_ESCAPE zero bits and its stop bit is an escape: the gap follows in
# ID_BITS bits. So the few large gaps of a list (between the Morton-ordered runs of its LOD
# chunks) no longer force a large k on all of its small ones.
RICE_ESCAPE = 4

W_CUT = float(np.exp(np.float32(-0.5) * np.float32(CUTOFF_Q)))

# The reach test of random-access sampling (docs/RUNTIME.md "Sampling a point";
# texgs.runtime.may_reach): a candidate at squared distance d2 from the point, inverse
# variances i_lo <= i_hi along its axes and widened by f texels^2, is skipped before its
# rotation is read when d2 * (i_lo / (1 + f i_lo) - REACH_SLACK * i_hi) >= REACH_Q.
# REACH_SLACK (2^-16) bounds how far float32 rounding, and sin / cos errors up to about
# 1e-6, can lower the rebuilt conic's smaller eigenvalue, relative to its larger one
# (measured at most 4e-7 over 2 million Gaussians of every anisotropy:
# tests/test_runtime_reach.py); REACH_Q is 9 (CUTOFF_Q) times 1 + 2^-10, the rounding of
# the test itself. So a skipped candidate's q is at or beyond the cutoff.
REACH_SLACK = 2.0 ** -16
REACH_Q = float(np.float32(CUTOFF_Q) * np.float32(1.0 + 2.0 ** -10))
# The test runs where the index tile (meta TILE) is at least this: with smaller tiles two
# thirds of the candidates reach the point and the test costs more than it saves (an
# estimated +4.5 % of operations at 16-texel tiles, -7 % at 32, -19 % at 64 on 1 bpp bakes:
# bench/bench_reach.py).
REACH_MIN_TILE = 32

CONSTANTS = {
    "TEXGS_META_WIDTH": META_WIDTH,
    "TEXGS_META_HEIGHT": META_HEIGHT,
    "TEXGS_META_CHANNELS": META_CHANNELS,
    "TEXGS_META_COUNT": META_COUNT,
    "TEXGS_META_TOP_K": META_TOP_K,
    "TEXGS_META_TILE": META_TILE,
    "TEXGS_META_TILES_X": META_TILES_X,
    "TEXGS_META_TILES_Y": META_TILES_Y,
    "TEXGS_META_ADDRESS": META_ADDRESS,
    "TEXGS_META_POS_BITS": META_POS_BITS,
    "TEXGS_META_SCALE_BITS": META_SCALE_BITS,
    "TEXGS_META_ROT_BITS": META_ROT_BITS,
    "TEXGS_META_RECORD_BITS": META_RECORD_BITS,
    "TEXGS_META_LOG2_SMIN": META_LOG2_SMIN,
    "TEXGS_META_LOG2_SMAX": META_LOG2_SMAX,
    "TEXGS_META_ID_BITS": META_ID_BITS,
    "TEXGS_META_FILTER_MAX_VAR": META_FILTER_MAX_VAR,
    "TEXGS_META_INDEX_CODING": META_INDEX_CODING,
    "TEXGS_META_COUNT_BITS": META_COUNT_BITS,
    "TEXGS_INDEX_CODING_FIXED": INDEX_CODING_FIXED,
    "TEXGS_INDEX_CODING_RICE": INDEX_CODING_RICE,
    "TEXGS_RICE_K_BITS": RICE_K_BITS,
    "TEXGS_RICE_ESCAPE": RICE_ESCAPE,
    "TEXGS_META_CHANNEL_BASE": META_CHANNEL_BASE,
    "TEXGS_META_CHANNEL_STRIDE": META_CHANNEL_STRIDE,
    "TEXGS_CH_BITS_OFFSET": CH_BITS_OFFSET,
    "TEXGS_CH_LO": CH_LO,
    "TEXGS_CH_HI": CH_HI,
    "TEXGS_CH_FALLBACK": CH_FALLBACK,
    "TEXGS_MAP_FLAG_NORMAL_Z": MAP_FLAG_NORMAL_Z,
    "TEXGS_ADDRESS_REPEAT": ADDRESS_MODE_REPEAT,
    "TEXGS_LIMIT_DIMENSION": LIMIT_DIMENSION,
    "TEXGS_LIMIT_CHANNELS": LIMIT_CHANNELS,
    "TEXGS_LIMIT_GAUSSIANS": LIMIT_GAUSSIANS,
    "TEXGS_LIMIT_FIELD_BITS": LIMIT_FIELD_BITS,
    "TEXGS_LIMIT_TOP_K": LIMIT_TOP_K,
    "TEXGS_REACH_MIN_TILE": REACH_MIN_TILE,
}
FLOAT_CONSTANTS = {
    "TEXGS_CUTOFF_Q": float(np.float32(CUTOFF_Q)),
    "TEXGS_BLEND_EPS": float(np.float32(BLEND_EPS)),
    "TEXGS_W_CUT": W_CUT,
    "TEXGS_LOG2_OFFSET": float(np.float32(LOG2_OFFSET)),
    "TEXGS_REACH_SLACK": REACH_SLACK,
    "TEXGS_REACH_Q": REACH_Q,
    # tile index padding (docs/RUNTIME.md "Tile index"): r * (1 + BIN_PAD_REL) + BIN_PAD_ABS
    "TEXGS_BIN_PAD_REL": float(np.float32(BIN_PAD_REL)),
    "TEXGS_BIN_PAD_ABS": float(np.float32(BIN_PAD_ABS)),
}


def map_finish_words(asset, map_index: int) -> np.ndarray:
    """uint32 [4]: the ``finish`` words of the decode shaders (docs/RUNTIME.md "Material
    sets") for map ``map_index`` of ``asset``: (first channel, channel count, map flags, log2
    mask; bit c set when component c has the log2 encoding). The shaders then finish that
    channel range in place exactly as ``texgs.decode.finish_map``; (0, 0, 0, 0) finishes
    nothing."""
    m = asset.map_table()[map_index]
    mask = 0
    for c, j in enumerate(m.channel_range):
        if asset.channels[j].encoding == ENCODING_LOG2:
            mask |= 1 << c
    return np.array([m.first_channel, m.channel_count, m.flags, mask], np.uint32)


HEADER_PATH = Path(__file__).resolve().parents[1] / "engine_shaders" / "texgs_layout.h"


def render_header() -> str:
    """Text of engine_shaders/texgs_layout.h: plain #defines valid in GLSL, HLSL, C and CUDA."""
    lines = [
        "// texgs runtime buffer layout. GENERATED from texgs/layout.py by",
        "// `python -m texgs.layout`; do not edit. Valid GLSL, HLSL, C, C++ and CUDA.",
        "// See docs/RUNTIME.md.",
        "#ifndef TEXGS_LAYOUT_H",
        "#define TEXGS_LAYOUT_H",
    ]
    for k, v in CONSTANTS.items():
        lines.append(f"#define {k} {v}u")
    for k, v in FLOAT_CONSTANTS.items():
        # 9 significant digits round-trip a float32 exactly
        lines.append(f"#define {k} {np.format_float_scientific(np.float32(v), precision=8)}")
    lines.append("#endif")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover - regeneration helper
    HEADER_PATH.write_text(render_header())
    sys.stdout.write(f"wrote {HEADER_PATH}\n")
