// texgs per-texel math for CUDA, also valid plain C++ (g++ -std=c++14). docs/RUNTIME.md.
//
// The same decode as texgs.decode (the NumPy reference) and engine_shaders/glsl/
// texgs_sample.glsl: Gaussians are read from the packed record bitstream with shifts and
// masks, dequantized in the float32 operation order of texgs.runtime.dequantize, ranked
// top-K by (q, id) (or by weight when filtered), blended, and a map is finished like
// texgs.decode.finish_map. Every function is TEXGS_HD (__host__ __device__ under nvcc, plain
// inline functions otherwise), so the CUDA kernels (cuda/texgs_kernels.cu) and the CPU test
// harness (cuda/host_harness.cpp) run this one copy of the math.
//
// Exact float32 results need the compiler not to fuse multiply-adds: nvcc --fmad=false,
// g++ -ffp-contract=off (the texgs builds pass both).
//
// Safety: texgs_validate_buffers() is the one check of the meta words against the buffer
// sizes; call it before anything else (the kernels and the harness do, and refuse to decode
// when it fails). After it passes, every read is inside the buffers: record and tile-list
// reads are also bounds-guarded per access, so a corrupt tile index (offsets out of order,
// ids >= COUNT, Rice codes that run past the stream or over 32 bits) degrades to skipped
// candidates or a list ended early instead of out-of-bounds reads.
#ifndef TEXGS_MATH_CUH
#define TEXGS_MATH_CUH

#ifdef __CUDACC__
#define TEXGS_HD __host__ __device__
#define TEXGS_UNROLL _Pragma("unroll")
#else
#define TEXGS_HD
#define TEXGS_UNROLL
#endif

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "../engine_shaders/texgs_layout.h"

// Status codes of texgs_validate_buffers: X(code, name, message), one entry per line.
// texgs/cuda_decoder.py and the harness read the messages from this list (one definition).
#define TEXGS_STATUS_LIST(X)                                                                  \
    X(0, TEXGS_OK, "buffers are consistent")                                                  \
    X(1, TEXGS_ERR_META_SHORT, "meta buffer shorter than its header and channel entries")    \
    X(2, TEXGS_ERR_DIMENSIONS, "WIDTH or HEIGHT outside 1..TEXGS_LIMIT_DIMENSION")           \
    X(3, TEXGS_ERR_CHANNELS, "CHANNELS outside 1..TEXGS_LIMIT_CHANNELS")                     \
    X(4, TEXGS_ERR_COUNT, "COUNT outside 1..TEXGS_LIMIT_GAUSSIANS")                          \
    X(5, TEXGS_ERR_TOP_K, "TOP_K outside 1..TEXGS_LIMIT_TOP_K")                              \
    X(6, TEXGS_ERR_TILE_GRID, "TILE is 0 or TILES_X, TILES_Y do not match WIDTH, HEIGHT")    \
    X(7, TEXGS_ERR_ADDRESS, "ADDRESS has an unknown mode or reserved bits set")              \
    X(8, TEXGS_ERR_FIELD_BITS, "a field width is outside 1..24 (geometry) or 0..24 (colour)")\
    X(9, TEXGS_ERR_RECORD_LAYOUT, "a field lies outside RECORD_BITS")                        \
    X(10, TEXGS_ERR_RECORDS_SHORT, "records shorter than COUNT * RECORD_BITS bits + 1 word")  \
    X(11, TEXGS_ERR_FLOAT, "a float word is NaN or infinite, or FILTER_MAX_VAR is negative") \
    X(12, TEXGS_ERR_ID_BITS, "ID_BITS is not in 1..32, or too narrow for COUNT Gaussians")\
    X(13, TEXGS_ERR_OFFSETS_SHORT, "tile_offsets shorter than TILES_X * TILES_Y + 1 words")  \
    X(14, TEXGS_ERR_IDS_SHORT, "the last tile offset is past the end of tile_ids (or its padding word is missing)")\
    X(15, TEXGS_ERR_INDEX_CODING, "INDEX_CODING is neither FIXED (0) nor RICE (1)")           \
    X(16, TEXGS_ERR_COUNT_BITS, "COUNT_BITS is not in 1..32 (Rice-coded tile lists)")       \
    X(17, TEXGS_ERR_EXPANDED_SHORT, "an expanded buffer is shorter than COUNT Gaussians (5 geometry floats, CHANNELS colour floats each)")

#define TEXGS_STATUS_ENUM_ENTRY(code, name, msg) name = code,
enum texgs_status { TEXGS_STATUS_LIST(TEXGS_STATUS_ENUM_ENTRY) };
#undef TEXGS_STATUS_ENUM_ENTRY

// The four runtime buffers (docs/RUNTIME.md "What an engine uploads") with their lengths in
// 32-bit words, and the optional expanded form of the records (docs/RUNTIME.md "Expanded
// records"): geometry float32 [COUNT, 5] (x, y, a, b, c: texgs_geometry of each record) and
// colours float32 [COUNT, CHANNELS] (texgs_color), made once by texgs_expand from the
// records; null (0 words) to read the packed records, as everywhere by default.
struct texgs_buffers {
    const uint32_t* meta;
    uint32_t meta_words;
    const uint32_t* records;
    uint32_t record_words;
    const uint32_t* tile_offsets;
    uint32_t offset_words;
    const uint32_t* tile_ids;
    uint32_t id_words;
    const float* geometry;
    uint32_t geometry_words;
    const float* colors;
    uint32_t color_words;
};

// Map finish words (texgs.layout.map_finish_words): first channel, channel count (0: no
// finish), map flags, log2 mask.
struct texgs_finish {
    uint32_t first, count, flags, log2_mask;
};

#define TEXGS_F_CUTOFF_Q ((float)TEXGS_CUTOFF_Q)
#define TEXGS_F_BLEND_EPS ((float)TEXGS_BLEND_EPS)
#define TEXGS_F_W_CUT ((float)TEXGS_W_CUT)
#define TEXGS_F_LOG2_OFFSET ((float)TEXGS_LOG2_OFFSET)
#define TEXGS_PI_DOUBLE 3.14159265358979323846

// 1: texgs_sample_point skips, from packed records and tiles of at least REACH_MIN_TILE
// texels, a candidate that cannot reach the point (texgs_may_reach); 0: every candidate's
// conic is rebuilt (the same decoded values: docs/RUNTIME.md "Sampling a point").
#ifndef TEXGS_REACH_TEST
#define TEXGS_REACH_TEST 1
#endif

TEXGS_HD inline float texgs_as_float(uint32_t u) {
#ifdef __CUDA_ARCH__
    return __uint_as_float(u);
#else
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
#endif
}

TEXGS_HD inline uint32_t texgs_float_bits(float f) {
#ifdef __CUDA_ARCH__
    return __float_as_uint(f);
#else
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
#endif
}

TEXGS_HD inline bool texgs_finite_bits(uint32_t u) { return (u & 0x7f800000u) != 0x7f800000u; }

TEXGS_HD inline float texgs_meta_float(const texgs_buffers& b, uint32_t i) {
    return texgs_as_float(b.meta[i]);
}

// Tile-list entries the tile_ids buffer holds: 32-bit ids one per word; narrower ids packed,
// before the padding word that ends the buffer (docs/RUNTIME.md).
TEXGS_HD inline uint64_t texgs_id_capacity(const texgs_buffers& b) {
    const uint32_t ib = b.meta[TEXGS_META_ID_BITS];
    if (ib == 32u) return (uint64_t)b.id_words;
    if (ib == 0u || ib > 32u || b.id_words == 0u) return 0ull;
    return ((uint64_t)b.id_words - 1u) * 32ull / ib;
}

// Bits of Rice-coded lists the tile_ids buffer holds: every word but the padding word that
// ends it (a 32-bit window read at any bit below this stays inside the buffer).
TEXGS_HD inline uint64_t texgs_rice_capacity(const texgs_buffers& b) {
    return b.id_words == 0u ? 0ull : ((uint64_t)b.id_words - 1u) * 32ull;
}

// The one validation routine: checks the meta words against the limits of docs/FORMAT.md
// and against the buffer sizes, so that no later read leaves the buffers. O(CHANNELS).
// ``with_index``: also check ID_BITS, tile_offsets and tile_ids (false while the tile index
// is being built from meta and records). Returns a texgs_status (TEXGS_OK = 0).
TEXGS_HD inline int texgs_validate_buffers(const texgs_buffers& b, bool with_index) {
    if (b.meta == 0 || b.meta_words < TEXGS_META_CHANNEL_BASE) return TEXGS_ERR_META_SHORT;
    const uint32_t* m = b.meta;
    const uint32_t w = m[TEXGS_META_WIDTH], h = m[TEXGS_META_HEIGHT];
    if (w < 1u || w > TEXGS_LIMIT_DIMENSION || h < 1u || h > TEXGS_LIMIT_DIMENSION)
        return TEXGS_ERR_DIMENSIONS;
    const uint32_t nch = m[TEXGS_META_CHANNELS];
    if (nch < 1u || nch > TEXGS_LIMIT_CHANNELS) return TEXGS_ERR_CHANNELS;
    if ((uint64_t)b.meta_words < TEXGS_META_CHANNEL_BASE + (uint64_t)TEXGS_META_CHANNEL_STRIDE * nch)
        return TEXGS_ERR_META_SHORT;
    const uint32_t count = m[TEXGS_META_COUNT];
    if (count < 1u || count > TEXGS_LIMIT_GAUSSIANS) return TEXGS_ERR_COUNT;
    const uint32_t k = m[TEXGS_META_TOP_K];
    if (k < 1u || k > TEXGS_LIMIT_TOP_K) return TEXGS_ERR_TOP_K;
    const uint64_t tile = m[TEXGS_META_TILE];
    if (tile < 1u || m[TEXGS_META_TILES_X] != (w + tile - 1u) / tile ||
        m[TEXGS_META_TILES_Y] != (h + tile - 1u) / tile)
        return TEXGS_ERR_TILE_GRID;
    const uint32_t address = m[TEXGS_META_ADDRESS];
    if ((address >> 4) != 0u || (address & 3u) > TEXGS_ADDRESS_REPEAT ||
        ((address >> 2) & 3u) > TEXGS_ADDRESS_REPEAT)
        return TEXGS_ERR_ADDRESS;
    const uint32_t pb = m[TEXGS_META_POS_BITS], sb = m[TEXGS_META_SCALE_BITS];
    const uint32_t rb = m[TEXGS_META_ROT_BITS];
    if (pb < 1u || pb > TEXGS_LIMIT_FIELD_BITS || sb < 1u || sb > TEXGS_LIMIT_FIELD_BITS ||
        rb < 1u || rb > TEXGS_LIMIT_FIELD_BITS)
        return TEXGS_ERR_FIELD_BITS;
    const uint64_t record_bits = m[TEXGS_META_RECORD_BITS];
    if (2u * pb + 2u * sb + rb > record_bits) return TEXGS_ERR_RECORD_LAYOUT;
    for (uint32_t c = 0; c < nch; ++c) {
        const uint32_t e = TEXGS_META_CHANNEL_BASE + TEXGS_META_CHANNEL_STRIDE * c;
        const uint32_t bo = m[e + TEXGS_CH_BITS_OFFSET];
        if ((bo & 255u) > TEXGS_LIMIT_FIELD_BITS) return TEXGS_ERR_FIELD_BITS;
        if ((uint64_t)(bo >> 8) + (bo & 255u) > record_bits) return TEXGS_ERR_RECORD_LAYOUT;
    }
    // every field read stays below bit COUNT * RECORD_BITS (may touch the padding word)
    if (b.records == 0 || (count * record_bits + 31u) / 32u + 1u > b.record_words)
        return TEXGS_ERR_RECORDS_SHORT;
    if (!texgs_finite_bits(m[TEXGS_META_LOG2_SMIN]) || !texgs_finite_bits(m[TEXGS_META_LOG2_SMAX]))
        return TEXGS_ERR_FLOAT;
    const uint32_t fmv = m[TEXGS_META_FILTER_MAX_VAR];
    if (!texgs_finite_bits(fmv) || !(texgs_as_float(fmv) >= 0.0f)) return TEXGS_ERR_FLOAT;
    if ((b.geometry && (uint64_t)b.geometry_words < 5ull * count) ||
        (b.colors && (uint64_t)b.color_words < (uint64_t)nch * count))
        return TEXGS_ERR_EXPANDED_SHORT;
    for (uint32_t c = 0; c < nch; ++c) {
        const uint32_t e = TEXGS_META_CHANNEL_BASE + TEXGS_META_CHANNEL_STRIDE * c;
        if (!texgs_finite_bits(m[e + TEXGS_CH_LO]) || !texgs_finite_bits(m[e + TEXGS_CH_HI]) ||
            !texgs_finite_bits(m[e + TEXGS_CH_FALLBACK]))
            return TEXGS_ERR_FLOAT;
    }
    if (!with_index) return TEXGS_OK;
    const uint32_t id_bits = m[TEXGS_META_ID_BITS];
    if (id_bits < 1u || id_bits > 32u || (id_bits < 32u && (uint64_t)count > (1ull << id_bits)))
        return TEXGS_ERR_ID_BITS;
    const uint64_t tiles = (uint64_t)m[TEXGS_META_TILES_X] * m[TEXGS_META_TILES_Y];
    const uint32_t coding = m[TEXGS_META_INDEX_CODING];
    if (coding != TEXGS_INDEX_CODING_FIXED && coding != TEXGS_INDEX_CODING_RICE)
        return TEXGS_ERR_INDEX_CODING;
    if (coding == TEXGS_INDEX_CODING_RICE &&
        (m[TEXGS_META_COUNT_BITS] < 1u || m[TEXGS_META_COUNT_BITS] > 32u))
        return TEXGS_ERR_COUNT_BITS;
    if (b.tile_offsets == 0 || (uint64_t)b.offset_words < tiles + 1u)
        return TEXGS_ERR_OFFSETS_SHORT;
    const uint64_t last = b.tile_offsets[tiles];
    const uint64_t room = coding == TEXGS_INDEX_CODING_RICE ? texgs_rice_capacity(b)
                                                            : texgs_id_capacity(b);
    if (last > room || (b.tile_ids == 0 && last > 0u)) return TEXGS_ERR_IDS_SHORT;
    return TEXGS_OK;
}

// ---- records ------------------------------------------------------------------------------

TEXGS_HD inline uint32_t texgs_record_word(const texgs_buffers& b, uint64_t i) {
    return i < b.record_words ? b.records[i] : 0u;
}

// Field of `width` bits (0..24) starting at bit `pos` of the record bitstream.
TEXGS_HD inline uint32_t texgs_bits(const texgs_buffers& b, uint64_t pos, uint32_t width) {
    const uint64_t w = pos >> 5;
    const uint32_t s = (uint32_t)(pos & 31u);
    uint32_t v = texgs_record_word(b, w) >> s;
    if (s + width > 32u) v |= texgs_record_word(b, w + 1u) << (32u - s);
    return v & ((1u << width) - 1u);
}

// Centre (texel units) and inverse covariance (a, b, c) of Gaussian `i`: texgs.runtime
// dequantize and conic_from_scales, float32, same operation order.
struct texgs_gaussian {
    float x, y, a, b, c;
};

// Centre (texel units) and inverse variances (1 / sigma^2 along each axis, texels^-2) of
// Gaussian `i` from its record: the first half of texgs_geometry_packed (texgs.runtime
// inverse_variances), all that the reach test reads.
struct texgs_axes {
    float x, y, i1, i2;
};

TEXGS_HD inline texgs_axes texgs_geometry_axes(const texgs_buffers& b, uint32_t i) {
    const uint32_t* m = b.meta;
    const uint32_t pb = m[TEXGS_META_POS_BITS], sb = m[TEXGS_META_SCALE_BITS];
    const uint64_t base = (uint64_t)i * m[TEXGS_META_RECORD_BITS];
    const float pscale = 1.0f / (float)(1u << pb);
    texgs_axes ax;
    ax.x = ((float)texgs_bits(b, base, pb) + 0.5f) * pscale * (float)m[TEXGS_META_WIDTH];
    ax.y = ((float)texgs_bits(b, base + pb, pb) + 0.5f) * pscale * (float)m[TEXGS_META_HEIGHT];
    const float smin = texgs_meta_float(b, TEXGS_META_LOG2_SMIN);
    const float sstep = (texgs_meta_float(b, TEXGS_META_LOG2_SMAX) - smin) / (float)((1u << sb) - 1u);
    const float l1 = smin + (float)texgs_bits(b, base + 2u * pb, sb) * sstep;
    const float l2 = smin + (float)texgs_bits(b, base + 2u * pb + sb, sb) * sstep;
    ax.i1 = exp2f(-2.0f * l1);  // 1 / sigma1^2
    ax.i2 = exp2f(-2.0f * l2);
    return ax;
}

// Centre and conic of Gaussian `i` from its axes (texgs_geometry_axes) and its record's
// angle: the second half of texgs_geometry_packed.
TEXGS_HD inline texgs_gaussian texgs_conic(const texgs_buffers& b, uint32_t i,
                                           const texgs_axes& ax) {
    const uint32_t* m = b.meta;
    const uint32_t pb = m[TEXGS_META_POS_BITS], sb = m[TEXGS_META_SCALE_BITS];
    const uint32_t rb = m[TEXGS_META_ROT_BITS];
    const uint64_t base = (uint64_t)i * m[TEXGS_META_RECORD_BITS];
    const float theta = (float)texgs_bits(b, base + 2u * pb + 2u * sb, rb) *
                        (float)(TEXGS_PI_DOUBLE / (double)(1u << rb));
    const float i1 = ax.i1, i2 = ax.i2;
    const float cs = cosf(theta);
    const float sn = sinf(theta);
    texgs_gaussian g;
    g.x = ax.x;
    g.y = ax.y;
    g.a = cs * cs * i1 + sn * sn * i2;
    g.b = cs * sn * (i1 - i2);
    g.c = sn * sn * i1 + cs * cs * i2;
    return g;
}

TEXGS_HD inline texgs_gaussian texgs_geometry_packed(const texgs_buffers& b, uint32_t i) {
    return texgs_conic(b, i, texgs_geometry_axes(b, i));
}

// The reach test (docs/RUNTIME.md "Sampling a point"; texgs.runtime.may_reach, the shaders'
// texgs_may_reach): false when a Gaussian of inverse variances i1, i2, widened by `f`
// texels^2 (0: unfiltered), centred `d2` texels^2 from the point, has q at or beyond the
// cutoff there whatever its angle, so the sampler skips it before rebuilding its conic.
TEXGS_HD inline bool texgs_may_reach(float d2, float i1, float i2, float f) {
    const float lo = fminf(i1, i2);
    const float hi = fmaxf(i1, i2);
    const float lo_f = f > 0.0f ? lo / (1.0f + f * lo) : lo;
    const float bound = d2 * (lo_f - (float)TEXGS_REACH_SLACK * hi);
    return !(bound >= (float)TEXGS_REACH_Q);
}

// Centre and conic of Gaussian `i` (i < COUNT): from the expanded geometry when the buffers
// carry it, else unpacked from its record (the same floats: the expanded geometry is this
// function's output).
TEXGS_HD inline texgs_gaussian texgs_geometry(const texgs_buffers& b, uint32_t i) {
    if (!b.geometry) return texgs_geometry_packed(b, i);
    const float* p = b.geometry + 5ull * i;
    texgs_gaussian g;
    g.x = p[0];
    g.y = p[1];
    g.a = p[2];
    g.b = p[3];
    g.c = p[4];
    return g;
}

// Channel `k` of Gaussian `i` in its stored encoding: lo + q * (hi - lo) / (2^bits - 1).
TEXGS_HD inline float texgs_color_packed(const texgs_buffers& b, uint32_t i, uint32_t k) {
    const uint32_t e = TEXGS_META_CHANNEL_BASE + TEXGS_META_CHANNEL_STRIDE * k;
    const uint32_t bo = b.meta[e + TEXGS_CH_BITS_OFFSET];
    const uint32_t bits = bo & 255u;
    const uint32_t q = texgs_bits(b, (uint64_t)i * b.meta[TEXGS_META_RECORD_BITS] + (bo >> 8), bits);
    const float lo = texgs_meta_float(b, e + TEXGS_CH_LO);
    const uint32_t levels = bits > 0u ? (1u << bits) - 1u : 1u;
    const float step = (texgs_meta_float(b, e + TEXGS_CH_HI) - lo) / (float)levels;
    return lo + (float)q * step;
}

// Channel `k` of Gaussian `i` (i < COUNT): from the expanded colours when the buffers carry
// them, else from its record.
TEXGS_HD inline float texgs_color(const texgs_buffers& b, uint32_t i, uint32_t k) {
    if (!b.colors) return texgs_color_packed(b, i, k);
    return b.colors[(uint64_t)i * b.meta[TEXGS_META_CHANNELS] + k];
}

// The expanded form of Gaussian `i` (i < COUNT): geometry[5 i .. 5 i + 4] = x, y, a, b, c
// and colors[C i .. C i + C - 1], both unpacked from the record (the buffers' own expanded
// form, if any, is not read). Buffers that passed texgs_validate_buffers(b, false).
TEXGS_HD inline void texgs_expand(const texgs_buffers& b, uint32_t i, float* geometry,
                                  float* colors) {
    const texgs_gaussian g = texgs_geometry_packed(b, i);
    float* p = geometry + 5ull * i;
    p[0] = g.x;
    p[1] = g.y;
    p[2] = g.a;
    p[3] = g.b;
    p[4] = g.c;
    const uint32_t nch = b.meta[TEXGS_META_CHANNELS];
    for (uint32_t k = 0; k < nch; ++k) colors[(uint64_t)i * nch + k] = texgs_color_packed(b, i, k);
}

// Gaussian id of tile-list entry `j`: ID_BITS (1..32) bits at bit j * ID_BITS of the packed
// tile_ids stream; 0xffffffff when the entry is not wholly inside the buffer.
TEXGS_HD inline uint32_t texgs_tile_id(const texgs_buffers& b, uint64_t j) {
    const uint32_t ib = b.meta[TEXGS_META_ID_BITS];
    if (ib == 32u) return j < b.id_words ? b.tile_ids[j] : 0xffffffffu;
    const uint64_t pos = j * ib;
    const uint64_t w = pos >> 5;
    const uint32_t s = (uint32_t)(pos & 31u);
    if (w >= b.id_words) return 0xffffffffu;
    uint32_t v = b.tile_ids[w] >> s;
    if (s + ib > 32u) {
        if (w + 1u >= b.id_words) return 0xffffffffu;
        v |= b.tile_ids[w + 1u] << (32u - s);
    }
    return v & ((1u << ib) - 1u);
}

// ---- tile lists, either coding (docs/RUNTIME.md "Tile index"; texgs/index_coding.py) -----
// FIXED: tile_offsets[t] is tile t's first entry, each entry an ID_BITS-bit id
// (texgs_tile_id). RICE: tile_offsets[t] is the bit offset of tile t's list in the tile_ids
// bitstream (tile_offsets[tiles]: its length in bits): the list's length n (COUNT_BITS bits),
// then, when n > 0, k (TEXGS_RICE_K_BITS bits), the first id (ID_BITS bits) and per later id
// the gap g = id - previous - 1 as (g >> k) zero bits, a one bit and the low k bits of g
// where g >> k < TEXGS_RICE_ESCAPE (at most 32 bits), else as an escape: TEXGS_RICE_ESCAPE
// zero bits, a one bit and g in ID_BITS bits. texgs_list_begin(b, t) starts a walk (n: the
// list's length, from its header), texgs_list_next returns its ids in order. Corrupt lists
// end early, never read out of bounds: a header or code past the stream, more zero bits than
// an escape, a k over 32 - TEXGS_RICE_ESCAPE, or an id >= COUNT ends the walk
// (texgs_list_next returns 0xffffffff); a header's n is limited to the ids the rest of the
// stream could hold (one bit per later code).
struct texgs_list {
    uint64_t pos;   // FIXED: the list's next entry; RICE: the bit of its next field
    uint64_t end;   // RICE: the end of the stream (bits); reads stay below it
    uint32_t n;     // the list's length (FIXED: its entries, limited to the buffer)
    uint32_t left;  // ids not returned yet
    uint32_t id;    // RICE: the id returned last
    uint32_t k;     // RICE: the list's Rice parameter
    uint32_t rice;  // 1: Rice-coded, 0: fixed-width entries
    uint32_t first; // RICE: the next id is the list's first
};

// Index of the lowest set bit of v (v != 0): the Rice quotient of a 32-bit window.
TEXGS_HD inline uint32_t texgs_lowest_set_bit(uint32_t v) {
#ifdef __CUDA_ARCH__
    return (uint32_t)(__ffs((int)v) - 1);
#elif defined(__GNUC__) || defined(__clang__)
    return (uint32_t)__builtin_ctz(v);
#else
    uint32_t q = 0u;
    while (!(v & 1u)) {
        v >>= 1;
        ++q;
    }
    return q;
#endif
}

TEXGS_HD inline uint32_t texgs_id_word(const texgs_buffers& b, uint64_t i) {
    return i < b.id_words ? b.tile_ids[i] : 0u;
}

// Bits [pos, pos + 32) of the tile_ids bitstream (words past the buffer read as zero).
TEXGS_HD inline uint32_t texgs_ids_window(const texgs_buffers& b, uint64_t pos) {
    const uint64_t w = pos >> 5;
    const uint32_t s = (uint32_t)(pos & 31u);
    uint32_t v = texgs_id_word(b, w) >> s;
    if (s != 0u) v |= texgs_id_word(b, w + 1u) << (32u - s);
    return v;
}

// Field of `width` (1..32) bits at bit `pos` of the tile_ids bitstream.
TEXGS_HD inline uint32_t texgs_ids_field(const texgs_buffers& b, uint64_t pos, uint32_t width) {
    const uint32_t v = texgs_ids_window(b, pos);
    return width >= 32u ? v : v & ((1u << width) - 1u);
}

// Start walking tile t's list. The buffers must have passed texgs_validate_buffers(b, true).
TEXGS_HD inline texgs_list texgs_list_begin(const texgs_buffers& b, uint32_t t) {
    const uint32_t* m = b.meta;
    texgs_list c;
    c.rice = m[TEXGS_META_INDEX_CODING] == TEXGS_INDEX_CODING_RICE ? 1u : 0u;
    c.first = 1u;
    c.id = 0u;
    c.k = 0u;
    c.n = 0u;
    c.left = 0u;
    if (!c.rice) {  // entries [lo, hi), limited to the id buffer
        uint64_t lo = b.tile_offsets[t], hi = b.tile_offsets[t + 1u];
        const uint64_t cap = texgs_id_capacity(b);
        if (hi > cap) hi = cap;
        if (lo > hi) lo = hi;
        c.pos = lo;
        c.end = hi;
        c.n = c.left = (uint32_t)(hi - lo);
        return c;
    }
    const uint64_t tiles = (uint64_t)m[TEXGS_META_TILES_X] * m[TEXGS_META_TILES_Y];
    uint64_t end = b.tile_offsets[tiles];
    const uint64_t cap = texgs_rice_capacity(b);
    if (end > cap) end = cap;
    c.end = end;
    uint64_t pos = b.tile_offsets[t];
    c.pos = pos;
    const uint32_t cb = m[TEXGS_META_COUNT_BITS], ib = m[TEXGS_META_ID_BITS];
    if (pos + cb > end) return c;  // no room for the header: an empty list
    uint32_t n = texgs_ids_field(b, pos, cb);
    pos += cb;
    if (n > 0u) {
        if (pos + TEXGS_RICE_K_BITS + ib > end) {
            n = 0u;  // no room for k and the first id
        } else {
            c.k = texgs_ids_field(b, pos, TEXGS_RICE_K_BITS);
            pos += TEXGS_RICE_K_BITS;
            const uint64_t room = 1u + (end - pos - ib);  // the first id, then >= 1 bit each
            if (n > room) n = (uint32_t)room;
            if (c.k > 32u - TEXGS_RICE_ESCAPE) n = 0u;  // a corrupt k: an empty list
        }
    }
    c.pos = pos;
    c.n = c.left = n;
    return c;
}

// Entry j of a fixed-coded list (random access, for parallel loads): texgs_tile_id of it.
TEXGS_HD inline uint32_t texgs_list_entry(const texgs_buffers& b, const texgs_list& c,
                                          uint64_t j) {
    return texgs_tile_id(b, c.pos + j);
}

// The next id of the walk (0xffffffff once it has ended or the list turns out corrupt; a
// fixed-coded entry may be >= COUNT, which callers skip).
TEXGS_HD inline uint32_t texgs_list_next(const texgs_buffers& b, texgs_list* c) {
    if (c->left == 0u) return 0xffffffffu;
    --c->left;
    if (!c->rice) return texgs_tile_id(b, c->pos++);
    const uint32_t count = b.meta[TEXGS_META_COUNT];
    if (c->first) {  // texgs_list_begin checked that it lies inside the stream
        const uint32_t ib = b.meta[TEXGS_META_ID_BITS];
        c->first = 0u;
        c->id = texgs_ids_field(b, c->pos, ib);
        c->pos += ib;
        if (c->id >= count) {
            c->left = 0u;
            return 0xffffffffu;
        }
        return c->id;
    }
    const uint32_t v = texgs_ids_window(b, c->pos);
    const uint32_t q = v != 0u ? texgs_lowest_set_bit(v) : 32u;
    const bool escape = q == TEXGS_RICE_ESCAPE;  // the gap follows in ID_BITS bits
    const uint32_t len = escape ? q + 1u + b.meta[TEXGS_META_ID_BITS] : q + 1u + c->k;
    if (q > TEXGS_RICE_ESCAPE || c->pos + len > c->end) {
        c->left = 0u;  // too many zero bits (or no stop bit), or past the stream
        return 0xffffffffu;
    }
    uint64_t gap;
    if (escape) {
        gap = texgs_ids_field(b, c->pos + q + 1u, b.meta[TEXGS_META_ID_BITS]);
    } else {
        const uint32_t r = c->k == 0u ? 0u : (v >> (q + 1u)) & ((1u << c->k) - 1u);
        gap = ((uint64_t)q << c->k) | r;  // q + 1 + k <= 32 (texgs_validate_buffers: k)
    }
    const uint64_t id = (uint64_t)c->id + 1u + gap;
    if (id >= count) {  // ascending: every later id is past COUNT too
        c->left = 0u;
        return 0xffffffffu;
    }
    c->pos += len;
    c->id = (uint32_t)id;
    return c->id;
}

// ---- sampling -----------------------------------------------------------------------------

TEXGS_HD inline bool texgs_repeat_x(const texgs_buffers& b) {
    return (b.meta[TEXGS_META_ADDRESS] & 3u) == TEXGS_ADDRESS_REPEAT;
}

TEXGS_HD inline bool texgs_repeat_y(const texgs_buffers& b) {
    return ((b.meta[TEXGS_META_ADDRESS] >> 2) & 3u) == TEXGS_ADDRESS_REPEAT;
}

// One axis of texgs.decode.wrap_points: repeat wraps into [0, size), clamp clips to [0, size].
TEXGS_HD inline float texgs_wrap_axis(float p, float size, bool repeat) {
    if (repeat) {
        p = p - size * floorf(p / size);
        return p >= size ? 0.0f : p;
    }
    return p < 0.0f ? 0.0f : (p > size ? size : p);  // NaN stays NaN, as np.clip
}

// Tile coordinate of a (wrapped) point: floor(p / tile) limited to 0..n-1 (NaN -> 0).
TEXGS_HD inline uint32_t texgs_tile_coord(float p, float tile, uint32_t n) {
    const float t = floorf(p / tile);
    if (!(t >= 0.0f)) return 0u;
    return t >= (float)(n - 1u) ? n - 1u : (uint32_t)t;
}

// Widen a conic by `f` texels^2 of isotropic variance (docs/RUNTIME.md "Filtering"): the
// conic of Sigma + f I and amp = sqrt(det Sigma / det(Sigma + f I)); texgs.decode._widen.
TEXGS_HD inline float texgs_widen(float& a, float& b, float& c, float f) {
    const float det = a * c - b * b;
    const float sxx = c / det + f;
    const float syy = a / det + f;
    const float sxy = -b / det;
    const float det2 = sxx * syy - sxy * sxy;
    const float amp = sqrtf(1.0f / (det * det2));
    a = syy / det2;
    b = -sxy / det2;
    c = sxx / det2;
    return amp;
}

// Footprint variance (texels^2) of a pixel covering `rho` texels: max(0, (rho^2 - 1) / 12).
TEXGS_HD inline float texgs_footprint_variance(float rho) {
    return fmaxf(0.0f, (rho * rho - 1.0f) / 12.0f);
}

// ---- the K best candidates of one texel (docs/RUNTIME.md "Top-K in registers") ---------
// A texel keeps its K best candidates sorted by (key, id): key = q, or minus the weight when
// filtered. The arrays have a compile-time capacity CAP and are only ever indexed by
// compile-time indices (every loop over them is unrolled), so a GPU holds them in registers,
// not in local memory. The kernels come in one build per K of 1..TEXGS_TOPK_EXACT_MAX (CAP =
// K: the K of the asset is a constant) and one of capacity TEXGS_LIMIT_TOP_K that reads K
// from the meta words (texgs_topk_capacity picks; cuda/texgs_kernels.cu, texgs.cuda_decoder).

#define TEXGS_TOPK_EXACT_MAX 8u

// The capacity of the build that serves top-K `k`: k itself up to TEXGS_TOPK_EXACT_MAX, else
// TEXGS_LIMIT_TOP_K.
TEXGS_HD inline uint32_t texgs_topk_capacity(uint32_t k) {
    return k >= 1u && k <= TEXGS_TOPK_EXACT_MAX ? k : TEXGS_LIMIT_TOP_K;
}

// Whether the build of capacity `cap` decodes an asset of top-K `k` (1..TEXGS_LIMIT_TOP_K):
// the generic build (cap TEXGS_LIMIT_TOP_K) serves every K, an exact build only its own.
// A decode kernel launched on buffers its build does not serve stores status -3.
TEXGS_HD inline bool texgs_topk_build_serves(uint32_t cap, uint32_t k) {
    return cap == TEXGS_LIMIT_TOP_K ? (k >= 1u && k <= TEXGS_LIMIT_TOP_K) : k == cap;
}

// A texel's candidates rank by (key, id): smaller key first, ties by smaller id. Each kept
// one is held as one 64-bit word that compares the same way as an unsigned integer: the
// key's bits made monotonic (texgs_key_order: -0 taken as +0) above the id (24 bits,
// TEXGS_LIMIT_GAUSSIANS) and the candidate's batch slot (8 bits; the tile-cooperative
// decode, 0 otherwise). Ties in (key, id) with different slots come only from a repeated id
// in a corrupt list, and blend to the same value in either order. A NaN key is never kept.
// Unsigned order of non-NaN floats: -inf .. -0 = +0 .. +inf map to increasing integers.
TEXGS_HD inline uint32_t texgs_key_order(float key) {
    const uint32_t u = texgs_float_bits(key + 0.0f);  // -0 + 0 = +0
    // negative: ~u; else u | 0x80000000 (bit 31 clear): u ^ (sign spread over 32 bits |
    // 0x80000000), a shift and one three-input logic op on a GPU
    const uint32_t sign = (uint32_t)((int32_t)u >> 31);
    return u ^ (sign | 0x80000000u);
}

TEXGS_HD inline float texgs_key_from_order(uint32_t o) {
    return texgs_as_float((o & 0x80000000u) ? (o & 0x7fffffffu) : ~o);
}

static_assert(TEXGS_LIMIT_GAUSSIANS <= (1u << 24), "ids take 24 bits of the ranking word");

// The ranking word's low half, id << 8 | slot (kept with a batch slot, texgs_slot_cid).
TEXGS_HD inline uint32_t texgs_rank_low(uint32_t id, uint32_t slot) { return (id << 8) | slot; }

// word[]: the kept candidates, ascending, then words whose high half is all ones (the
// order word of a NaN: no candidate's, since a NaN key is never kept, and every candidate
// ranks before it; all ones when free, or a refused candidate of texgs_topk_push), so
// kept(s) says whether slot s holds one (no count to keep up in the candidate loop).
// k: the asset's K (<= CAP).
template <uint32_t CAP>
struct texgs_topk {
    uint64_t word[CAP];
    uint32_t k;
    TEXGS_HD bool kept(uint32_t s) const { return (uint32_t)(word[s] >> 32) != ~0u; }
    TEXGS_HD float key(uint32_t s) const { return texgs_key_from_order((uint32_t)(word[s] >> 32)); }
    TEXGS_HD uint32_t id(uint32_t s) const { return ((uint32_t)word[s]) >> 8; }
    TEXGS_HD uint32_t slot(uint32_t s) const { return ((uint32_t)word[s]) & 255u; }
};

// An empty list for top-K `k`: the build's CAP when it is an exact build, else k (<= CAP).
template <uint32_t CAP>
TEXGS_HD inline void texgs_topk_init(texgs_topk<CAP>* r, uint32_t k) {
    r->k = CAP <= TEXGS_TOPK_EXACT_MAX ? CAP : (k < CAP ? k : CAP);
    TEXGS_UNROLL
    for (uint32_t s = 0; s < CAP; ++s) r->word[s] = ~(uint64_t)0;
}

// Keep the candidate of key `key` and low half `low` (texgs_rank_low) if `ok` (the caller's
// test: within the cutoff, inside the texture, key not NaN) and it ranks among the K best so
// far. Without a branch: every candidate goes down the first K slots by compare-exchange
// (each slot keeps the smaller word and passes the larger one on: one 64-bit compare, two
// selects and two three-way xors), so one that ranks after all K leaves them as they were,
// and a refused one gets a word whose high half is all ones, which ranks after every
// candidate and which kept() does not count. A GPU then runs consecutive candidates'
// compare-exchanges overlapped (the next one's slot s waits for this one's slot s, not for
// its K-th), with no divergent branch in a warp; an early return for a candidate that does
// not rank before the K-th (the first version) saved little, since nearly every candidate
// enters some lane's K best (bench/bench_rank_order.py).
template <uint32_t CAP>
TEXGS_HD inline void texgs_topk_push(texgs_topk<CAP>* r, bool ok, float key, uint32_t low) {
    // the ranking word: the key's order word (all ones when refused) over the low half
    const uint32_t hi = texgs_key_order(key) | (ok ? 0u : ~0u);
    uint64_t w = ((uint64_t)hi << 32) | (uint64_t)low;
    TEXGS_UNROLL
    for (uint32_t s = 0; s < CAP; ++s) {
        if (s < r->k) {
            const uint64_t o = r->word[s];
            const uint64_t big = w < o ? o : w;
            r->word[s] = w ^ o ^ big;
            w = big;
        }
    }
}

// ---- 32-bit ranking words for a batch that is a whole tile list -----------------------
// Where a tile's list fits one batch (texgs_decode_tiles), each candidate is known by its
// batch slot j (< TEXGS_TILE_BATCH <= 64), so a ranking word can be 32 bits: a key part
// (texgs_rank32_key: the bits of q, clamped to [0, cutoff]) with its low 6 bits replaced by
// j (texgs_rank32_word). One compare-exchange is then a min and a max of two 32-bit
// integers, against a 64-bit compare, two selects and two xors. The key part ranks like q
// except between values it maps together (bits equal above the low 6: within 64 ulps; all
// negative q, from rounding, as 0), where it ranks by slot, not id. So the texel keeps K + 1
// words (texgs_topk32) and the ranking is taken only where no two adjacent kept ones of them
// share their key part (texgs_topk32_decides): then each of the first K ranks strictly
// before every candidate after it, by key part and so by q, and the first K are the (q, id)
// ranking's K best in its order. Otherwise (a tie in q, a repeated Gaussian, two q within
// 64 ulps: 3.9e-5 of the texels of a synthesized 1 bpp asset, `python
// bench/bench_rank_order.py --size 2048 --blocks 2000 --rank32`) the caller ranks the batch
// again with the 64-bit words. texgs_topk32_widen turns the K words into texgs_topk's
// 64-bit ones with the exact q, recomputed by the caller's functor from the slots.
// Refused words (q at or beyond the cutoff, or NaN) are at or above this; kept ones below.
#define TEXGS_RANK32_REFUSED 0x41100000u  // the bits of 9.0f, TEXGS_CUTOFF_Q; low 6 bits 0
static_assert(TEXGS_CUTOFF_Q == 9.0, "TEXGS_RANK32_REFUSED holds the cutoff's bits");

template <uint32_t N>
struct texgs_topk32 {
    uint32_t word[N];  // ascending; kept below TEXGS_RANK32_REFUSED, else free or refused
};

template <uint32_t N>
TEXGS_HD inline void texgs_topk32_init(texgs_topk32<N>* r) {
    TEXGS_UNROLL
    for (uint32_t s = 0; s < N; ++s) r->word[s] = TEXGS_RANK32_REFUSED | 63u;
}

// PTX lop3.b32: any bitwise function of a, b and c, bit i of LUT its value where
// (a, b, c) = (bit 2, bit 1, bit 0 of i) (0xf0, 0xcc, 0xaa give a, b, c). One instruction on
// a GPU; on the host computed from the LUT itself, so that the CPU tests check the LUT the
// GPU runs.
template <uint32_t LUT>
TEXGS_HD inline uint32_t texgs_lop3(uint32_t a, uint32_t b, uint32_t c) {
#ifdef __CUDA_ARCH__
    uint32_t d;
    asm("lop3.b32 %0, %1, %2, %3, %4;" : "=r"(d) : "r"(a), "r"(b), "r"(c), "n"(LUT));
    return d;
#else
    uint32_t d = 0u;
    for (uint32_t i = 0; i < 8u; ++i)
        if ((LUT >> i) & 1u) d |= ((i & 4u) ? a : ~a) & ((i & 2u) ? b : ~b) & ((i & 1u) ? c : ~c);
    return d;
#endif
}

// The key part of q: its float bits, q at or beyond the cutoff (or NaN) taken as the cutoff
// and below 0 (a rounding of a needle-thin conic) as 0, so that it is a non-decreasing
// function of q (which is all texgs_topk32_decides needs: keys it maps together tie, and go
// to the 64-bit ranking) in two instructions (a float min, an integer max).
TEXGS_HD inline uint32_t texgs_rank32_key(float q) {
    const int32_t u = (int32_t)texgs_float_bits(fminf(q, TEXGS_F_CUTOFF_Q));  // NaN: 9
    return (uint32_t)(u > 0 ? u : 0);
}

// The 32-bit word of the candidate of q `q` (texgs_slot_q) and ranking low half `low`
// (texgs_rank_low: its batch slot, < 64, in the low 6 bits): its key part (texgs_rank32_key)
// over the slot; at or above TEXGS_RANK32_REFUSED when refused.
TEXGS_HD inline uint32_t texgs_rank32_word(float q, uint32_t low) {
    // (a & b) | (c & ~b), b the mask: LUT 0xe2 (the compiler splits the C form in two ops)
    return texgs_lop3<0xe2u>(texgs_rank32_key(q), ~63u, low);
}

// Push word w down the N slots: each keeps the smaller and passes the larger on.
template <uint32_t N>
TEXGS_HD inline void texgs_topk32_push(texgs_topk32<N>* r, uint32_t w) {
    TEXGS_UNROLL
    for (uint32_t s = 0; s < N; ++s) {
        const uint32_t o = r->word[s];
        r->word[s] = o < w ? o : w;
        w = o < w ? w : o;
    }
}

// Whether the words decide the (key, id) ranking of their first N - 1: no kept word shares
// its key part (the bits above the slot) with the next kept one.
template <uint32_t N>
TEXGS_HD inline bool texgs_topk32_decides(const texgs_topk32<N>& r) {
    bool tie = false;
    TEXGS_UNROLL
    for (uint32_t s = 0; s + 1u < N; ++s)
        tie = tie || (r.word[s + 1u] < TEXGS_RANK32_REFUSED && (r.word[s] >> 6) == (r.word[s + 1u] >> 6));
    return !tie;
}

// The 64-bit ranking of the first CAP words (texgs_topk32_decides must hold): slot s gets
// the exact key and low half of its candidate, key_low(slot, &key, &low), with a high half
// of all ones where the word is not kept (the functor is called for every slot, so it must
// accept a free word's slot, 63, too).
template <uint32_t CAP, class KeyLow>
TEXGS_HD inline void texgs_topk32_widen(const texgs_topk32<CAP + 1u>& a, const KeyLow& key_low,
                                        texgs_topk<CAP>* r) {
    TEXGS_UNROLL
    for (uint32_t s = 0; s < CAP; ++s) {
        // every slot's key, kept or not (a free word's slot, 63, is inside the batch
        // arrays): no branch per slot
        float key;
        uint32_t low;
        key_low(a.word[s] & 63u, &key, &low);
        const uint32_t hi = texgs_key_order(key) | (a.word[s] < TEXGS_RANK32_REFUSED ? 0u : ~0u);
        r->word[s] = ((uint64_t)hi << 32) | (uint64_t)low;
    }
}

// The blended channels of a ranked texel (out: CHANNELS floats): weights
// max(exp(-q / 2) - W_CUT, 0) from key = q, or -key when `filtered` (the key is minus the
// weight); a tile with no entries gives the fallback exactly. ``cached``: the batch colours of
// a tile whose colours are cached (texgs_tile_colors_cached; slot j at j * CHANNELS), else
// null (colours read from the records).
template <uint32_t CAP>
TEXGS_HD inline void texgs_topk_blend(const texgs_buffers& b, const texgs_topk<CAP>* r,
                                      bool filtered, bool no_entries, float* out,
                                      const float* cached) {
    const uint32_t nch = b.meta[TEXGS_META_CHANNELS];
    if (no_entries) {
        for (uint32_t c = 0; c < nch; ++c)
            out[c] = texgs_meta_float(b, TEXGS_META_CHANNEL_BASE + TEXGS_META_CHANNEL_STRIDE * c + TEXGS_CH_FALLBACK);
        return;
    }
    uint32_t n = 0u;  // the kept ones: slots 0 .. n - 1
    TEXGS_UNROLL
    for (uint32_t s = 0; s < CAP; ++s) n += r->kept(s) ? 1u : 0u;
    float wk[CAP];
    float den = 0.0f;
    TEXGS_UNROLL
    for (uint32_t s = 0; s < CAP; ++s) {
        wk[s] = 0.0f;
        if (s < n) {
            wk[s] = filtered ? -r->key(s) : fmaxf(expf(-0.5f * r->key(s)) - TEXGS_F_W_CUT, 0.0f);
            den += wk[s];
        }
    }
    den += TEXGS_F_BLEND_EPS;
    for (uint32_t c = 0; c < nch; ++c) {
        float num = 0.0f;
        TEXGS_UNROLL
        for (uint32_t s = 0; s < CAP; ++s)
            if (s < n)
                num += wk[s] * (cached ? cached[r->slot(s) * nch + c] : texgs_color(b, r->id(s), c));
        const uint32_t e = TEXGS_META_CHANNEL_BASE + TEXGS_META_CHANNEL_STRIDE * c;
        num += TEXGS_F_BLEND_EPS * texgs_meta_float(b, e + TEXGS_CH_FALLBACK);
        out[c] = num / den;
    }
}

// Sample every channel at the point (px, py) in texel units of the asset (not yet wrapped),
// every Gaussian widened by `filter_var` texels^2 (0: unfiltered; limited to the meta
// FILTER_MAX_VAR the index covers): texgs.decode.eval_points for one point. Writes CHANNELS
// floats to out[0 .. C-1]; returns the candidates of the point's tile list. The buffers must
// have passed texgs_validate_buffers(b, true). CAP: the top-K build
// (texgs_topk_capacity of the asset's K). From packed records and an index of tiles of at
// least REACH_MIN_TILE texels, a candidate that fails the reach test (texgs_may_reach) is
// skipped before its angle is read and its conic rebuilt, as in the shaders' texgs_sample
// (the expanded records hold the conic already); `reached` (may be null) gets the number of
// valid candidates whose conic was taken, texgs.runtime.reach_counts.
template <uint32_t CAP>
TEXGS_HD inline uint32_t texgs_sample_point(const texgs_buffers& b, float px, float py,
                                            float filter_var, float* out,
                                            uint32_t* reached = nullptr) {
    const uint32_t* m = b.meta;
    const float w = (float)m[TEXGS_META_WIDTH], h = (float)m[TEXGS_META_HEIGHT];
    const bool rep_x = texgs_repeat_x(b), rep_y = texgs_repeat_y(b);
    px = texgs_wrap_axis(px, w, rep_x);
    py = texgs_wrap_axis(py, h, rep_y);
    const float fmax = texgs_meta_float(b, TEXGS_META_FILTER_MAX_VAR);
    const float f = filter_var < fmax ? filter_var : fmax;
    const bool filtered = f > 0.0f;
    const float tile = (float)m[TEXGS_META_TILE];
    const uint32_t tiles_x = m[TEXGS_META_TILES_X];
    const uint32_t tx = texgs_tile_coord(px, tile, tiles_x);
    const uint32_t ty = texgs_tile_coord(py, tile, m[TEXGS_META_TILES_Y]);
    const uint32_t t = ty * tiles_x + tx;
    texgs_list list = texgs_list_begin(b, t);
    const uint32_t count = m[TEXGS_META_COUNT];
    const bool reach_test = TEXGS_REACH_TEST && !b.geometry && tile >= (float)TEXGS_REACH_MIN_TILE;
    uint32_t taken = 0u;
    texgs_topk<CAP> r;
    texgs_topk_init(&r, m[TEXGS_META_TOP_K]);
    while (list.left > 0u) {
        const uint32_t id = texgs_list_next(b, &list);
        if (id >= count) continue;  // corrupt index entry
        texgs_gaussian g;
        texgs_axes ax;
        if (b.geometry) {
            g = texgs_geometry(b, id);
            ax = texgs_axes{g.x, g.y, 0.0f, 0.0f};  // no reach test: the conic is there
        } else {
            ax = texgs_geometry_axes(b, id);
        }
        float dx = px - ax.x;
        float dy = py - ax.y;
        if (rep_x) dx = dx - w * floorf(dx / w + 0.5f);
        if (rep_y) dy = dy - h * floorf(dy / h + 0.5f);
        if (reach_test && !texgs_may_reach(dx * dx + dy * dy, ax.i1, ax.i2, f))
            continue;  // q at or beyond the cutoff: no angle, no conic
        ++taken;
        if (!b.geometry) g = texgs_conic(b, id, ax);
        float amp = 1.0f;
        if (filtered) amp = texgs_widen(g.a, g.b, g.c, f);
        const float q = g.a * dx * dx + 2.0f * g.b * dx * dy + g.c * dy * dy;
        // filtered: rank by weight, amplitude included; the blend takes the weight back.
        // Without a branch (texgs_topk_push): a key that is NaN (a filtered Gaussian of a
        // corrupt conic) or a q at or beyond the cutoff is refused.
        const float key = filtered ? -(amp * fmaxf(expf(-0.5f * q) - TEXGS_F_W_CUT, 0.0f)) : q;
        texgs_topk_push(&r, q < TEXGS_F_CUTOFF_Q && key == key, key, texgs_rank_low(id, 0u));
    }
    texgs_topk_blend(b, &r, filtered, list.n == 0u, out, nullptr);  // no entries: fallback
    if (reached) *reached = taken;
    return list.n;
}

// ---- finishing a map (texgs.decode.finish_map) -------------------------------------------

// A blended log2 channel -> its linear value max(2^v - 2^-10, 0).
TEXGS_HD inline float texgs_log2_to_linear(float v) {
    return fmaxf(exp2f(v) - TEXGS_F_LOG2_OFFSET, 0.0f);
}

// Unit tangent-space normal n[3] in [-1, 1] from blended x, y stored as (n + 1) / 2.
TEXGS_HD inline void texgs_unpack_normal(float x_enc, float y_enc, float* n) {
    float nx = x_enc * 2.0f - 1.0f;
    float ny = y_enc * 2.0f - 1.0f;
    const float l2 = nx * nx + ny * ny;
    if (l2 > 1.0f) {
        const float s = 1.0f / sqrtf(l2);
        nx = nx * s;
        ny = ny * s;
    }
    n[0] = nx;
    n[1] = ny;
    n[2] = sqrtf(fmaxf(1.0f - nx * nx - ny * ny, 0.0f));
}

// Finish channels fin.first .. fin.first + fin.count - 1 (at most 4) of one sample `v`
// (`channels` floats) in place: log2 components to linear, then for NORMAL_Z maps
// components 0..2 = (n + 1) / 2 of the unit normal. fin.count = 0 does nothing.
TEXGS_HD inline void texgs_finish_channels(float* v, uint32_t channels, texgs_finish fin) {
    const uint32_t n = fin.count < 4u ? fin.count : 4u;
    if (n == 0u || fin.first >= channels || n > channels - fin.first) return;
    float* x = v + fin.first;
    for (uint32_t c = 0; c < n; ++c)
        if (fin.log2_mask & (1u << c)) x[c] = texgs_log2_to_linear(x[c]);
    if ((fin.flags & TEXGS_MAP_FLAG_NORMAL_Z) && n >= 3u) {
        float nrm[3];
        texgs_unpack_normal(x[0], x[1], nrm);
        for (uint32_t c = 0; c < 3u; ++c) x[c] = (nrm[c] + 1.0f) * 0.5f;
    }
}

// ---- whole-texture and UV decodes (one output texel / point) -----------------------------

// Output texel (i, j) of a W' x H' decode: sampled at ((i + 0.5) W / W', (j + 0.5) H / H')
// (computed in double and rounded once, as texgs.decode.decode_texture), then finished.
// Writes CHANNELS floats to out; returns the candidates examined. CAP and `reached` as
// texgs_sample_point.
template <uint32_t CAP>
TEXGS_HD inline uint32_t texgs_decode_grid_texel(const texgs_buffers& b, uint32_t i, uint32_t j,
                                                 uint32_t out_w, uint32_t out_h,
                                                 float filter_var, texgs_finish fin, float* out,
                                                 uint32_t* reached = nullptr) {
    const double sx = (double)b.meta[TEXGS_META_WIDTH] / (double)out_w;
    const double sy = (double)b.meta[TEXGS_META_HEIGHT] / (double)out_h;
    const float px = (float)(((double)i + 0.5) * sx);
    const float py = (float)(((double)j + 0.5) * sy);
    const uint32_t cand = texgs_sample_point<CAP>(b, px, py, filter_var, out, reached);
    texgs_finish_channels(out, b.meta[TEXGS_META_CHANNELS], fin);
    return cand;
}

// A UV point ((0, 0) top-left corner, (1, 1) bottom-right): texgs.decode.decode_uv, which
// scales float64 UVs to texels and rounds once to float32. CAP as texgs_sample_point.
template <uint32_t CAP>
TEXGS_HD inline uint32_t texgs_decode_uv_point(const texgs_buffers& b, double u, double v,
                                               float* out) {
    const float px = (float)(u * (double)b.meta[TEXGS_META_WIDTH]);
    const float py = (float)(v * (double)b.meta[TEXGS_META_HEIGHT]);
    return texgs_sample_point<CAP>(b, px, py, 0.0f, out);
}

// A UV point in texel units as texgs_decode_uv_point places it, wrapped by the address
// modes as texgs_sample_point wraps it: (*px, *py) in [0, W] x [0, H] (W itself on a clamp
// axis for u >= 1; NaN stays NaN).
TEXGS_HD inline void texgs_uv_texel_point(const texgs_buffers& b, double u, double v, float* px,
                                          float* py) {
    const float w = (float)b.meta[TEXGS_META_WIDTH], h = (float)b.meta[TEXGS_META_HEIGHT];
    *px = texgs_wrap_axis((float)(u * (double)b.meta[TEXGS_META_WIDTH]), w, texgs_repeat_x(b));
    *py = texgs_wrap_axis((float)(v * (double)b.meta[TEXGS_META_HEIGHT]), h, texgs_repeat_y(b));
}

// The block of `block` x `block` texels (row-major over ceil(W / block) x ceil(H / block))
// that holds the wrapped point (px, py), each coordinate limited to the grid as
// texgs_tile_coord limits it: the block lies in the tile texgs_sample_point reads there.
TEXGS_HD inline uint32_t texgs_point_block(const texgs_buffers& b, float px, float py,
                                           uint32_t block) {
    const uint32_t nbx = (b.meta[TEXGS_META_WIDTH] + block - 1u) / block;
    const uint32_t nby = (b.meta[TEXGS_META_HEIGHT] + block - 1u) / block;
    return texgs_tile_coord(py, (float)block, nby) * nbx + texgs_tile_coord(px, (float)block, nbx);
}

// ---- tile-cooperative decode at the asset's own size (docs/RUNTIME.md "CUDA decoder") ----
// The unfiltered decode of every texel of a block of B x B texels lying inside one tile of
// the index (B divides TILE): the tile's list is read once per batch of ids; a candidate is
// dequantized once per block (shared memory on the GPU, texgs_decode_tiles_kernel) instead of
// once per texel, and kept only when its padded 3-sigma box meets the block
// (texgs_block_keeps, the index's rule at the block's size); each texel of the block ranks
// the kept ones. A candidate left out reaches no texel of the block, and ranking is by
// (q, id) whatever the order of the kept ones, so the results are those of
// texgs_sample_point at the texel centre (x + 0.5, y + 0.5), bit for bit: the functions
// below split texgs_sample_point's loop at the batch boundary.

// Ids read per batch: one per thread of an 8x8 block (shared memory: 1.8 KiB, ids and kept
// ones), and the colour floats a block keeps (2 KiB: 64 entries of up to 8 channels). The
// block's shared memory, 3.9 KiB, leaves occupancy to the registers on sm_75 to sm_90
// (bench/bench_cuda_resources.py; 256 and 2048, 15 KiB, held sm_75/86/89 to a quarter).
#define TEXGS_TILE_BATCH 64u
#define TEXGS_TILE_COLOR_CACHE 512u
static_assert(TEXGS_TILE_BATCH <= 256u, "batch slots take 8 bits of the ranking word");
static_assert(TEXGS_TILE_BATCH <= 64u, "batch slots take the low 6 bits of a 32-bit word");

// One kept candidate of a batch: centre, the conic's a and 2 b (2.0f * b, exact: the factor
// of q's cross term, taken once per candidate instead of once per texel; 16 bytes, one
// shared-memory load on a GPU), then c and the low half of its ranking words, id << 8 |
// slot (texgs_rank_low; 8 bytes, one more).
struct alignas(16) texgs_slot_geo {
    float x, y, a, b2;
};
struct alignas(8) texgs_slot_cid {
    float c;
    uint32_t low;
};

// The kept candidates of one batch, dequantized (arrays of TEXGS_TILE_BATCH entries, in any
// order). col: CHANNELS floats per slot (slot j at j * CHANNELS), filled only for a tile
// whose colours are cached (texgs_tile_colors_cached).
struct texgs_batch {
    texgs_slot_geo* geo;
    texgs_slot_cid* cid;
    float* col;
};

// Whether a tile's colours are kept with its candidates: its whole list of n (the header's
// length, texgs_list n) fits one batch of ``batch`` and every channel of it fits ``cap``
// floats. Then the blend reads the selected colours from the batch (texgs_topk_blend's
// ``cached``), the same values texgs_color gives.
TEXGS_HD inline bool texgs_tile_colors_cached(const texgs_buffers& b, uint32_t n,
                                              uint32_t batch, uint32_t cap) {
    return n <= batch && (uint64_t)n * b.meta[TEXGS_META_CHANNELS] <= cap;
}

// Whether the interval [lo, hi] of one axis meets block `blk` (of `block` texels) of the
// axis, by the index's rule (docs/RUNTIME.md "Tile index"): clamped to the grid, or taken
// modulo `size` on a repeating axis. The float32 operations of the GLSL texgs_axis_meets
// (texgs_decode_tiles.comp), which converts each floor(...) to int or uint, clips it to the
// blocks [0, nb - 1] and compares it with the block; here the floats are compared with
// (float)blk instead: the same answer wherever the GLSL conversion is defined (blk < 2^24 is
// exact in float; blk lies in [0, nb - 1], so the clipping changes no comparison), and no
// undefined conversion of a huge, infinite or NaN bound (NaN meets nothing: such a box comes
// from a NaN conic, whose q the per-texel decode skips too).
TEXGS_HD inline bool texgs_axis_meets(float lo, float hi, float size, uint32_t block,
                                      uint32_t blk, bool repeat) {
    const float bf = (float)block, k = (float)blk;
    if (!repeat) return k >= floorf(lo / bf) && k <= floorf(hi / bf);
    if (hi - lo >= size) return true;
    const float lo2 = lo - size * floorf(lo / size);
    const float hi2 = lo2 + (hi - lo);
    const float t0 = floorf(lo2 / bf);
    if (hi2 < size) return k >= t0 && k <= floorf(hi2 / bf);
    return k >= t0 || k <= floorf((hi2 - size) / bf);
}

// Tile-list entry `id` for block (bx, by) of `block` x `block` texels: false for a corrupt
// entry (id >= COUNT) and for a Gaussian whose padded 3-sigma box misses the block, else
// true with its centre and conic in *g. The box is the GLSL's (texgs_decode_tiles.comp,
// float32): det = (a c - b^2) less a bound on its rounding error, 2^-22 (a c + b^2); the
// cutoff 9 raised by a bound on q's relative rounding error, 2^-20 (a + c)^2 / det; rx =
// sqrt(cut c / det) * 1.001 + 0.01, ry likewise with a. Both margins are negligible unless
// the Gaussian is needle-thin; a Gaussian with det <= 0 or (a + c)^2 / det >= 1e12 after
// rounding is kept, so the cull stays conservative whatever the conic.
TEXGS_HD inline bool texgs_block_keeps(const texgs_buffers& b, uint32_t id, uint32_t block,
                                       uint32_t bx, uint32_t by, texgs_gaussian* g) {
    if (id >= b.meta[TEXGS_META_COUNT]) return false;
    *g = texgs_geometry(b, id);
    const float ac = g->a * g->c;
    const float bb = g->b * g->b;
    const float det = (ac - bb) - (ac + bb) * 2.384185791e-7f;
    const float cond = (g->a + g->c) * (g->a + g->c) / det;
    if (!(det > 0.0f && cond < 1e12f)) return true;
    const float cut = TEXGS_F_CUTOFF_Q * (1.0f + 9.536743164e-7f * cond);
    const float rx = sqrtf(cut * g->c / det) * 1.001f + 0.01f;
    const float ry = sqrtf(cut * g->a / det) * 1.001f + 0.01f;
    const float w = (float)b.meta[TEXGS_META_WIDTH], h = (float)b.meta[TEXGS_META_HEIGHT];
    return texgs_axis_meets(g->x - rx, g->x + rx, w, block, bx, texgs_repeat_x(b)) &&
           texgs_axis_meets(g->y - ry, g->y + ry, h, block, by, texgs_repeat_y(b));
}

// Tile-list entry `id` as a candidate of block (bx, by) of `block` x `block` texels of an
// index of `tile`-texel tiles: false for a corrupt entry (id >= COUNT); when the block is the
// whole tile, true with its centre and conic in *g, no box test (the list holds the
// Gaussians whose box meets the tile, so it would keep each one: the index's own rule in
// float64 against its float32 port; and one that reaches none of the block's texels is
// refused by the ranking's cutoff anyway, as the per-texel decode refuses it); else
// texgs_block_keeps. The box test's square roots and divisions were most of a batch load's
// work at the fastest configuration, 8-texel blocks over an 8-texel index.
TEXGS_HD inline bool texgs_block_candidate(const texgs_buffers& b, uint32_t id, uint32_t block,
                                           uint32_t tile, uint32_t bx, uint32_t by,
                                           texgs_gaussian* g) {
    if (block != tile) return texgs_block_keeps(b, id, block, bx, by, g);
    if (id >= b.meta[TEXGS_META_COUNT]) return false;
    *g = texgs_geometry(b, id);
    return true;
}

// A kept candidate (Gaussian `id`, dequantized in g) into slot j of the batch, with its
// colours when ``cached``.
TEXGS_HD inline void texgs_batch_store(const texgs_buffers& b, uint32_t id,
                                       const texgs_gaussian& g, uint32_t j, texgs_batch s,
                                       bool cached) {
    s.geo[j] = texgs_slot_geo{g.x, g.y, g.a, 2.0f * g.b};
    s.cid[j] = texgs_slot_cid{g.c, texgs_rank_low(id, j)};  // j < TEXGS_TILE_BATCH <= 256
    if (cached) {
        const uint32_t nch = b.meta[TEXGS_META_CHANNELS];
        for (uint32_t c = 0; c < nch; ++c) s.col[j * nch + c] = texgs_color(b, id, c);
    }
}

// A batch candidate's x offset from the texel centre's px (wrapped when REP_X), and its q at
// (that offset, py): the operations of texgs_sample_point, in the same order, so that every
// ranking (and texgs_topk32_widen's recomputation) gets the same bits.
template <bool REP_X>
TEXGS_HD inline float texgs_slot_dx(const texgs_slot_geo& g, float px, float w) {
    float dx = px - g.x;
    if (REP_X) dx = dx - w * floorf(dx / w + 0.5f);
    return dx;
}
template <bool REP_Y>
TEXGS_HD inline float texgs_slot_q(const texgs_slot_geo& g, float c, float dx, float py,
                                   float h) {
    float dy = py - g.y;
    if (REP_Y) dy = dy - h * floorf(dy / h + 0.5f);
    return g.a * dx * dx + g.b2 * dx * dy + c * dy * dy;
}

// Rank the n kept candidates of a batch for ROWS texel centres of one column: (px, py0) into
// r0 and, when ROWS is 2, (px, py1) into r1 (each only where its flag is set; the tile
// kernel's two-row builds, texgs_decode_tiles2_kernel_kK). Every candidate is read once and
// its x offset shared, then the rankings proceed independently with the operations of
// texgs_sample_point, so each texel gets the same bits. Key = q; each candidate's batch
// slot is kept for the blend's cached colours; ties by id, so the order of the kept ones
// does not matter. The blend is texgs_topk_blend (unfiltered). REP_X, REP_Y: the address
// modes (repeat), one loop per combination, so that the loop carries no test of them.
template <uint32_t CAP, uint32_t ROWS, bool REP_X, bool REP_Y>
TEXGS_HD inline void texgs_batch_rank_loop(float w, float h, float px, float py0, float py1,
                                           bool in0, bool in1, texgs_batch s, uint32_t n,
                                           texgs_topk<CAP>* r0, texgs_topk<CAP>* r1) {
    const texgs_slot_geo* gp = s.geo;
    const texgs_slot_cid* cp = s.cid;
    for (uint32_t j = 0; j < n; ++j, ++gp, ++cp) {
        const texgs_slot_geo g = *gp;
        const texgs_slot_cid ci = *cp;  // ids < COUNT: texgs_block_candidate kept no other
        const float dx = texgs_slot_dx<REP_X>(g, px, w);
        const float q0 = texgs_slot_q<REP_Y>(g, ci.c, dx, py0, h);
        texgs_topk_push(r0, in0 && q0 < TEXGS_F_CUTOFF_Q, q0, ci.low);
        if (ROWS == 2u) {
            const float q1 = texgs_slot_q<REP_Y>(g, ci.c, dx, py1, h);
            texgs_topk_push(r1, in1 && q1 < TEXGS_F_CUTOFF_Q, q1, ci.low);
        }
    }
}

// The exact key (q at the texel centre (px, py)) and ranking low half of batch slot j, for
// texgs_topk32_widen.
template <bool REP_X, bool REP_Y>
struct texgs_slot_key {
    texgs_batch s;
    float px, py, w, h;
    TEXGS_HD void operator()(uint32_t j, float* key, uint32_t* low) const {
        const texgs_slot_geo g = s.geo[j];
        const texgs_slot_cid ci = s.cid[j];
        *key = texgs_slot_q<REP_Y>(g, ci.c, texgs_slot_dx<REP_X>(g, px, w), py, h);
        *low = ci.low;
    }
};

// The K best of one texel (px, py) of a whole-list batch from its 32-bit words `a` into r:
// empty when !in, widened where the words decide the ranking, else ranked again with the
// 64-bit words (r written whole either way, so that its earlier value need not be kept).
template <uint32_t CAP, bool REP_X, bool REP_Y>
TEXGS_HD inline void texgs_topk32_finish(const texgs_topk32<CAP + 1u>& a, bool in, float w,
                                         float h, float px, float py, texgs_batch s,
                                         uint32_t n, texgs_topk<CAP>* r) {
    texgs_topk_init(r, CAP);
    if (!in) return;
    if (texgs_topk32_decides(a)) {
        const texgs_slot_key<REP_X, REP_Y> key = {s, px, py, w, h};
        texgs_topk32_widen<CAP>(a, key, r);
    } else {
        texgs_batch_rank_loop<CAP, 1u, REP_X, REP_Y>(w, h, px, py, py, true, false, s, n, r, r);
    }
}

// texgs_batch_rank_loop for a batch that is the tile's whole list (r0, r1 empty on entry;
// exact builds only): the 32-bit words of texgs_topk32 (slot j: the candidate's batch slot),
// widened to r0 and r1 where they decide the ranking, else that row ranked again with the
// 64-bit words. The same K words in the same order either way.
template <uint32_t CAP, uint32_t ROWS, bool REP_X, bool REP_Y>
TEXGS_HD inline void texgs_batch_rank32_loop(float w, float h, float px, float py0, float py1,
                                             bool in0, bool in1, texgs_batch s, uint32_t n,
                                             texgs_topk<CAP>* r0, texgs_topk<CAP>* r1) {
    texgs_topk32<CAP + 1u> a0, a1;
    texgs_topk32_init(&a0);
    if (ROWS == 2u) texgs_topk32_init(&a1);
    const texgs_slot_geo* gp = s.geo;
    const texgs_slot_cid* cp = s.cid;
    for (uint32_t j = 0; j < n; ++j, ++gp, ++cp) {
        const texgs_slot_geo g = *gp;
        const texgs_slot_cid ci = *cp;  // the slot j in the low half's low bits: no counter
        const float dx = texgs_slot_dx<REP_X>(g, px, w);
        const float q0 = texgs_slot_q<REP_Y>(g, ci.c, dx, py0, h);
        texgs_topk32_push(&a0, texgs_rank32_word(q0, ci.low));
        if (ROWS == 2u) {
            const float q1 = texgs_slot_q<REP_Y>(g, ci.c, dx, py1, h);
            texgs_topk32_push(&a1, texgs_rank32_word(q1, ci.low));
        }
    }
    // a row outside the texture keeps nothing (its texel is not written)
    texgs_topk32_finish<CAP, REP_X, REP_Y>(a0, in0, w, h, px, py0, s, n, r0);
    if (ROWS == 2u) texgs_topk32_finish<CAP, REP_X, REP_Y>(a1, in1, w, h, px, py1, s, n, r1);
}

// One address-mode pair's ranking: the 32-bit words where the batch is the whole list and
// the build exact (FAST), else the 64-bit ones. (Overloads on FAST, so that the generic
// build does not instantiate a 33-word texgs_topk32.)
template <bool B>
struct texgs_flag {};
template <uint32_t CAP, uint32_t ROWS, bool REP_X, bool REP_Y>
TEXGS_HD inline void texgs_batch_rank_mode(texgs_flag<true>, bool whole, float w, float h,
                                           float px, float py0, float py1, bool in0, bool in1,
                                           texgs_batch s, uint32_t n, texgs_topk<CAP>* r0,
                                           texgs_topk<CAP>* r1) {
    if (whole)
        texgs_batch_rank32_loop<CAP, ROWS, REP_X, REP_Y>(w, h, px, py0, py1, in0, in1, s, n, r0, r1);
    else
        texgs_batch_rank_loop<CAP, ROWS, REP_X, REP_Y>(w, h, px, py0, py1, in0, in1, s, n, r0, r1);
}
template <uint32_t CAP, uint32_t ROWS, bool REP_X, bool REP_Y>
TEXGS_HD inline void texgs_batch_rank_mode(texgs_flag<false>, bool, float w, float h,
                                           float px, float py0, float py1, bool in0, bool in1,
                                           texgs_batch s, uint32_t n, texgs_topk<CAP>* r0,
                                           texgs_topk<CAP>* r1) {
    texgs_batch_rank_loop<CAP, ROWS, REP_X, REP_Y>(w, h, px, py0, py1, in0, in1, s, n, r0, r1);
}

// whole: the batch is the tile's whole list (r0 and r1 empty on entry).
template <uint32_t CAP, uint32_t ROWS>
TEXGS_HD inline void texgs_batch_rank_rows(const texgs_buffers& b, float px, float py0,
                                           float py1, bool in0, bool in1, texgs_batch s,
                                           uint32_t n, bool whole, texgs_topk<CAP>* r0,
                                           texgs_topk<CAP>* r1) {
    const uint32_t* m = b.meta;
    const float w = (float)m[TEXGS_META_WIDTH], h = (float)m[TEXGS_META_HEIGHT];
    const texgs_flag<(CAP <= TEXGS_TOPK_EXACT_MAX)> fast;
    if (texgs_repeat_x(b)) {
        if (texgs_repeat_y(b))
            texgs_batch_rank_mode<CAP, ROWS, true, true>(fast, whole, w, h, px, py0, py1, in0, in1, s, n, r0, r1);
        else
            texgs_batch_rank_mode<CAP, ROWS, true, false>(fast, whole, w, h, px, py0, py1, in0, in1, s, n, r0, r1);
    } else if (texgs_repeat_y(b)) {
        texgs_batch_rank_mode<CAP, ROWS, false, true>(fast, whole, w, h, px, py0, py1, in0, in1, s, n, r0, r1);
    } else {
        texgs_batch_rank_mode<CAP, ROWS, false, false>(fast, whole, w, h, px, py0, py1, in0, in1, s, n, r0, r1);
    }
}

// Rank the n kept candidates of a batch for the texel centre (px, py) (inside the
// texture) into r (key = q; each candidate's batch slot kept for the blend's cached colours);
// ties by id, so the order of the kept ones does not matter. The blend is texgs_topk_blend
// (unfiltered). whole: the batch is the tile's whole list (r empty on entry), ranked with
// the 32-bit words of texgs_topk32 in the exact builds; the same K words either way.
template <uint32_t CAP>
TEXGS_HD inline void texgs_batch_rank(const texgs_buffers& b, float px, float py,
                                      texgs_batch s, uint32_t n, bool whole,
                                      texgs_topk<CAP>* r) {
    texgs_batch_rank_rows<CAP, 1u>(b, px, py, py, true, false, s, n, whole, r, r);
}

// Two rows: texgs_batch_rank_rows with ROWS 2.
template <uint32_t CAP>
TEXGS_HD inline void texgs_batch_rank2(const texgs_buffers& b, float px, float py0, float py1,
                                       bool in0, bool in1, texgs_batch s, uint32_t n,
                                       bool whole, texgs_topk<CAP>* r0, texgs_topk<CAP>* r1) {
    texgs_batch_rank_rows<CAP, 2u>(b, px, py0, py1, in0, in1, s, n, whole, r0, r1);
}

// ---- tile index (docs/RUNTIME.md "Tile index"; texgs.runtime.build_tile_index) -----------

// Tiles of one axis whose span [t * tile, (t + 1) * tile) meets [lo, hi] (float64 like the
// reference): r[0..1] and, for a repeating axis that wraps, r[2..3] (inclusive ranges; an
// empty range has start > end). Returns the number of ranges (0, 1 or 2).
TEXGS_HD inline uint32_t texgs_axis_ranges(double lo, double hi, double size, uint32_t tile,
                                           uint32_t n, bool repeat, uint32_t* r) {
    const double t = (double)tile, last = (double)n - 1.0;
    if (!repeat) {
        double t0 = floor(lo / t), t1 = floor(hi / t);
        if (!(t0 >= 0.0)) t0 = 0.0;
        if (!(t1 <= last)) t1 = last;
        if (t1 < t0) return 0u;
        r[0] = (uint32_t)t0;
        r[1] = (uint32_t)t1;
        return 1u;
    }
    if (!(hi - lo < size)) {  // as long as the texture (or NaN): every tile
        r[0] = 0u;
        r[1] = n - 1u;
        return 1u;
    }
    const double lo2 = lo - size * floor(lo / size);
    const double hi2 = lo2 + (hi - lo);
    double t0 = floor(lo2 / t);
    if (!(t0 >= 0.0)) t0 = 0.0;
    if (t0 > (double)n) t0 = (double)n;
    if (hi2 < size) {
        double t1 = floor(hi2 / t);
        if (!(t1 <= last)) t1 = last;
        if (t1 < t0) return 0u;
        r[0] = (uint32_t)t0;
        r[1] = (uint32_t)t1;
        return 1u;
    }
    double t1 = floor((hi2 - size) / t);
    if (!(t1 <= last)) t1 = last;
    if (t1 < 0.0) t1 = -1.0;
    if (t1 + 1.0 >= t0) {  // the two pieces meet: every tile once
        r[0] = 0u;
        r[1] = n - 1u;
        return 1u;
    }
    uint32_t nr = 0u;
    if (t0 <= last) {
        r[0] = (uint32_t)t0;
        r[1] = n - 1u;
        nr = 1u;
    }
    if (t1 >= 0.0) {
        r[2 * nr] = 0u;
        r[2 * nr + 1u] = (uint32_t)t1;
        ++nr;
    }
    return nr;
}

// Call visit(t) for every tile t (row-major) that Gaussian `i`'s padded 3-sigma box meets
// (texgs.runtime.gaussian_extents and _axis_tiles, float64 on the float32 Gaussian). The
// buffers must have passed texgs_validate_buffers(b, false).
template <class Visit>
TEXGS_HD inline void texgs_for_each_tile(const texgs_buffers& b, uint32_t i, Visit& visit) {
    const uint32_t* m = b.meta;
    const texgs_gaussian g = texgs_geometry(b, i);
    const double a = g.a, bb = g.b, c = g.c;
    double det = a * c - bb * bb;
    if (det < 1e-30) det = 1e-30;  // np.maximum(det, 1e-30)
    const double fmv = (double)texgs_meta_float(b, TEXGS_META_FILTER_MAX_VAR);
    const double pad = 3.0 * sqrt(fmv > 0.0 ? fmv : 0.0);
    const double rel = 1.0 + (double)(float)TEXGS_BIN_PAD_REL;
    const double abs_pad = (double)(float)TEXGS_BIN_PAD_ABS;
    const double rx = (sqrt((double)TEXGS_CUTOFF_Q * c / det) + pad) * rel + abs_pad;
    const double ry = (sqrt((double)TEXGS_CUTOFF_Q * a / det) + pad) * rel + abs_pad;
    const uint32_t tile = m[TEXGS_META_TILE];
    const uint32_t nx = m[TEXGS_META_TILES_X], ny = m[TEXGS_META_TILES_Y];
    uint32_t xr[4], yr[4];
    const uint32_t nxr = texgs_axis_ranges((double)g.x - rx, (double)g.x + rx,
                                           (double)m[TEXGS_META_WIDTH], tile, nx,
                                           texgs_repeat_x(b), xr);
    const uint32_t nyr = texgs_axis_ranges((double)g.y - ry, (double)g.y + ry,
                                           (double)m[TEXGS_META_HEIGHT], tile, ny,
                                           texgs_repeat_y(b), yr);
    for (uint32_t ya = 0; ya < nyr; ++ya)
        for (uint32_t ty = yr[2 * ya]; ty <= yr[2 * ya + 1]; ++ty)
            for (uint32_t xa = 0; xa < nxr; ++xa)
                for (uint32_t tx = xr[2 * xa]; tx <= xr[2 * xa + 1]; ++tx) visit(ty * nx + tx);
}

#endif  // TEXGS_MATH_CUH
