// texgs sampling library (HLSL, Shader Model 5.0+). Include after "../texgs_layout.h"
// (this file includes it itself; the header is guarded).
//
// The HLSL port of engine_shaders/glsl/texgs_sample.glsl: the same float32 math in the same
// order (docs/FORMAT.md "Decoding"), reading the Gaussian records in their stored, packed
// form. The file declares NO resources: the including shader owns its four buffers
// (docs/RUNTIME.md) and passes them to the public functions:
//
//   meta         the meta words (u32; f32 values as bit patterns)
//   records      the record bitstream words
//   tileOffsets  the tile offsets
//   tileIds      the tile id words (the tile lists in the coding of meta INDEX_CODING,
//                fixed-width or Rice-coded; see "Tile lists" below and docs/RUNTIME.md)
//
// All four are StructuredBuffer<uint> (TEXGS_BUFFER). The compiler inlines these calls (HLSL
// legalization), so passing buffers costs nothing. (Do not redefine TEXGS_BUFFER as
// RWStructuredBuffer<uint>: glslang 12 passes a hidden counter buffer with every
// RWStructuredBuffer parameter and miscompiles the calls; bind the same memory as a
// read-only view instead.)
//
// Optional defines: TEXGS_MAX_K (default 16, at least the asset's K), TEXGS_MAX_CHANNELS
// (default 16) and TEXGS_REACH_TEST (default 1; 0 rebuilds every candidate's conic, for
// measuring what the reach test saves). Every symbol is prefixed texgs_ / TEXGS_.
//
// Public functions (result[k] for k < the returned channel count):
//   uint texgs_sample_texel_counts(meta, records, tileOffsets, tileIds, float2 p_texel,
//                                  float filter_var, inout float result[TEXGS_MAX_CHANNELS],
//                                  out uint candidates, out uint reached)
//   uint texgs_sample_texel_stats(meta, records, tileOffsets, tileIds, float2 p_texel,
//                                 float filter_var, inout float result[TEXGS_MAX_CHANNELS],
//                                 out uint candidates)
//   uint texgs_sample_texel(meta, records, tileOffsets, tileIds, float2 p_texel,
//                           inout float result[TEXGS_MAX_CHANNELS])
//   uint texgs_sample(meta, records, tileOffsets, tileIds, float2 uv,
//                     inout float result[TEXGS_MAX_CHANNELS])
//   uint texgs_sample_grad(meta, records, tileOffsets, tileIds, float2 uv, float2 duv_dx,
//                          float2 duv_dy, inout float result[TEXGS_MAX_CHANNELS])
//   float texgs_footprint_variance(float rho)
// Tile lists (either coding; for decoders that walk a tile's list themselves):
//   texgs_list texgs_list_begin(meta, tileOffsets, tileIds, uint tile)  (.left: the length)
//   uint texgs_list_next(meta, tileIds, inout texgs_list cursor)
// Material sets (docs/RUNTIME.md "Material sets"):
//   float2 texgs_map_texel_point(meta, uint2 texel, uint2 map_size)
//   uint texgs_sample_map_texel(meta, records, tileOffsets, tileIds, uint2 texel,
//                               uint2 map_size, inout float result[TEXGS_MAX_CHANNELS])
//   float3 texgs_unpack_normal(float x_enc, float y_enc)
//   float texgs_log2_to_linear(float v)
//   float texgs_srgb_to_linear(float c), float3 texgs_srgb_to_linear(float3 c)
//   float4 texgs_finish_map(float4 v, uint flags, uint log2_mask)
//   void texgs_finish_channels(inout float result[TEXGS_MAX_CHANNELS], uint4 finish)

#ifndef TEXGS_SAMPLE_HLSLI
#define TEXGS_SAMPLE_HLSLI

#include "../texgs_layout.h"

#ifndef TEXGS_MAX_K
#define TEXGS_MAX_K 16
#endif
#ifndef TEXGS_MAX_CHANNELS
#define TEXGS_MAX_CHANNELS 16
#endif
#ifndef TEXGS_REACH_TEST
#define TEXGS_REACH_TEST 1
#endif
#define TEXGS_BUFFER StructuredBuffer<uint>

// Field of `width` bits (1..24) starting at bit `pos` of the record bitstream.
uint texgs_bits(TEXGS_BUFFER records, uint pos, uint width) {
    uint w = pos >> 5u;
    uint s = pos & 31u;
    uint v = records[w] >> s;
    if (s + width > 32u) {
        v |= records[w + 1u] << (32u - s);
    }
    return v & ((1u << width) - 1u);
}

float texgs_meta_float(TEXGS_BUFFER meta, uint i) { return asfloat(meta[i]); }

// Gaussian id `j` of the tile lists: ID_BITS (1..32) bits at bit j * ID_BITS of the
// tile_ids bitstream (the buffer ends with a padding word, so reading word w + 1 is safe).
uint texgs_tile_id(TEXGS_BUFFER meta, TEXGS_BUFFER tileIds, uint j) {
    uint ib = meta[TEXGS_META_ID_BITS];
    if (ib == 32u) {
        return tileIds[j];
    }
    uint pos = j * ib;
    uint w = pos >> 5u;
    uint s = pos & 31u;
    uint v = tileIds[w] >> s;
    if (s + ib > 32u) {
        v |= tileIds[w + 1u] << (32u - s);
    }
    return v & ((1u << ib) - 1u);
}

// ---- Tile lists (docs/RUNTIME.md "Tile index"), in either coding of meta INDEX_CODING:
// FIXED: tileOffsets[t] is tile t's first entry, each entry an ID_BITS-bit id (above);
// RICE: tileOffsets[t] is the bit offset of tile t's list in the tileIds bitstream: its
// length (COUNT_BITS bits), then when not empty k (RICE_K_BITS bits), the first id (ID_BITS
// bits) and per later id the gap g = id - previous - 1 as (g >> k) zero bits, a one bit and
// the low k bits of g; every code fits 32 bits. texgs_list_begin(t) starts a walk (`left`:
// the list's length), texgs_list_next returns the ids in ascending order.
struct texgs_list {
    uint pos;   // FIXED: the next entry; RICE: the bit of the next field
    uint left;  // ids not returned yet
    uint id;    // RICE: the id returned last
    uint k;     // RICE: the list's Rice parameter
    bool rice;
    bool first;
};

// Bits [pos, pos + 32) of the tileIds bitstream (the padding word ends the buffer). HLSL
// masks shift counts to 5 bits, so the shift by 32 - s is taken only when s != 0.
uint texgs_ids_window(TEXGS_BUFFER tileIds, uint pos) {
    uint w = pos >> 5u;
    uint s = pos & 31u;
    uint v = tileIds[w] >> s;
    if (s != 0u) {
        v |= tileIds[w + 1u] << (32u - s);
    }
    return v;
}

// Field of `width` bits (1..32) at bit `pos` of the tileIds bitstream.
uint texgs_ids_field(TEXGS_BUFFER tileIds, uint pos, uint width) {
    uint v = texgs_ids_window(tileIds, pos);
    if (width == 32u) return v;  // if, not ?: (which may evaluate both sides in HLSL)
    return v & ((1u << width) - 1u);
}

texgs_list texgs_list_begin(TEXGS_BUFFER meta, TEXGS_BUFFER tileOffsets,
                            TEXGS_BUFFER tileIds, uint t) {
    texgs_list c;
    c.rice = meta[TEXGS_META_INDEX_CODING] == TEXGS_INDEX_CODING_RICE;
    c.first = true;
    c.id = 0u;
    c.k = 0u;
    c.pos = tileOffsets[t];
    if (!c.rice) {
        c.left = tileOffsets[t + 1u] - c.pos;
        return c;
    }
    uint cb = meta[TEXGS_META_COUNT_BITS];
    c.left = texgs_ids_field(tileIds, c.pos, cb);
    c.pos += cb;
    if (c.left > 0u) {
        c.k = texgs_ids_field(tileIds, c.pos, TEXGS_RICE_K_BITS);
        c.pos += TEXGS_RICE_K_BITS;
    }
    return c;
}

// The next id of the walk (call while c.left > 0).
uint texgs_list_next(TEXGS_BUFFER meta, TEXGS_BUFFER tileIds, inout texgs_list c) {
    c.left--;
    if (!c.rice) {
        uint id = texgs_tile_id(meta, tileIds, c.pos);
        c.pos++;
        return id;
    }
    if (c.first) {
        uint ib = meta[TEXGS_META_ID_BITS];
        c.id = texgs_ids_field(tileIds, c.pos, ib);
        c.pos += ib;
        c.first = false;
        return c.id;
    }
    uint v = texgs_ids_window(tileIds, c.pos);
    uint q = 32u;  // the zero bits before the stop bit (none in the window: corrupt)
    if (v != 0u) q = firstbitlow(v);
    if (q > TEXGS_RICE_ESCAPE) {  // a corrupt stream ends the walk
        c.left = 0u;
        return 0xFFFFFFFFu;
    }
    if (q == TEXGS_RICE_ESCAPE) {  // an escape: the gap in ID_BITS bits
        uint ib = meta[TEXGS_META_ID_BITS];
        c.id += 1u + texgs_ids_field(tileIds, c.pos + q + 1u, ib);
        c.pos += q + 1u + ib;
        return c.id;
    }
    uint r = 0u;
    if (c.k != 0u) {  // q + 1 < 32 when k > 0
        r = (v >> (q + 1u)) & ((1u << c.k) - 1u);
    }
    c.id += 1u + ((q << c.k) | r);
    c.pos += q + 1u + c.k;
    return c.id;
}

// The index rule on one axis (docs/RUNTIME.md "Tile index"), shared by the index builders
// and the tile decode's block cull: the tiles of `tile` texels (of `n`) that [lo, hi] meets,
// clipped to the grid, or modulo `size` on a repeating axis, where a wrapped interval gives
// two ranges (one over every tile when its pieces meet). Returns the number of ranges (0, 1
// or 2) in r0 and r1 (inclusive start, inclusive end).
uint texgs_axis_ranges(float lo, float hi, float size, uint tile, uint n, bool repeat_axis,
                       out uint2 r0, out uint2 r1) {
    r1 = uint2(1u, 0u);
    if (!repeat_axis) {
        int t0 = max(0, (int)floor(lo / (float)tile));
        int t1 = min((int)n - 1, (int)floor(hi / (float)tile));
        r0 = uint2((uint)t0, (uint)max(t0, t1));
        return t1 >= t0 ? 1u : 0u;
    }
    if (hi - lo >= size) {
        r0 = uint2(0u, n - 1u);
        return 1u;
    }
    float lo2 = lo - size * floor(lo / size);
    float hi2 = lo2 + (hi - lo);
    uint t0 = (uint)floor(lo2 / (float)tile);
    if (hi2 < size) {
        r0 = uint2(t0, min(n - 1u, (uint)floor(hi2 / (float)tile)));
        return 1u;
    }
    uint t1 = min(n - 1u, (uint)floor((hi2 - size) / (float)tile));
    if (t1 + 1u >= t0) {  // the two pieces meet: every tile once
        r0 = uint2(0u, n - 1u);
        return 1u;
    }
    r0 = uint2(t0, n - 1u);
    r1 = uint2(0u, t1);
    return 2u;
}

// Centre (texel units) of Gaussian `i` and its inverse variances (1 / sigma^2 along its two
// axes, texels^-2): the first half of texgs_geometry.
void texgs_geometry_axes(TEXGS_BUFFER meta, TEXGS_BUFFER records, uint i,
                         out float2 mu, out float2 inv_var) {
    uint pb = meta[TEXGS_META_POS_BITS];
    uint sb = meta[TEXGS_META_SCALE_BITS];
    uint base = i * meta[TEXGS_META_RECORD_BITS];
    float pscale = 1.0f / (float)(1u << pb);
    precise float x = ((float)texgs_bits(records, base, pb) + 0.5f) * pscale
        * (float)meta[TEXGS_META_WIDTH];
    precise float y = ((float)texgs_bits(records, base + pb, pb) + 0.5f) * pscale
        * (float)meta[TEXGS_META_HEIGHT];
    float smin = texgs_meta_float(meta, TEXGS_META_LOG2_SMIN);
    precise float sstep = (texgs_meta_float(meta, TEXGS_META_LOG2_SMAX) - smin)
        / (float)((1u << sb) - 1u);
    precise float l1 = smin + (float)texgs_bits(records, base + 2u * pb, sb) * sstep;
    precise float l2 = smin + (float)texgs_bits(records, base + 2u * pb + sb, sb) * sstep;
    mu = float2(x, y);
    inv_var = float2(exp2(-2.0f * l1), exp2(-2.0f * l2));
}

// Inverse covariance (a, b, c) of Gaussian `i` from its inverse variances
// (texgs_geometry_axes) and its angle: the second half of texgs_geometry.
float3 texgs_conic(TEXGS_BUFFER meta, TEXGS_BUFFER records, uint i, float2 inv_var) {
    uint pb = meta[TEXGS_META_POS_BITS];
    uint sb = meta[TEXGS_META_SCALE_BITS];
    uint rb = meta[TEXGS_META_ROT_BITS];
    uint base = i * meta[TEXGS_META_RECORD_BITS];
    precise float theta = (float)texgs_bits(records, base + 2u * pb + 2u * sb, rb)
        * (3.14159265358979f / (float)(1u << rb));
    float i1 = inv_var.x;
    float i2 = inv_var.y;
    float cs = cos(theta);
    float sn = sin(theta);
    precise float a = cs * cs * i1 + sn * sn * i2;
    precise float b = cs * sn * (i1 - i2);
    precise float c = sn * sn * i1 + cs * cs * i2;
    return float3(a, b, c);
}

// Centre (texel units) and inverse covariance (a, b, c) of Gaussian `i`.
void texgs_geometry(TEXGS_BUFFER meta, TEXGS_BUFFER records, uint i,
                    out float2 mu, out float3 conic) {
    float2 inv_var;
    texgs_geometry_axes(meta, records, i, mu, inv_var);
    conic = texgs_conic(meta, records, i, inv_var);
}

// The reach test (docs/RUNTIME.md "Sampling a point"; texgs.runtime.may_reach): false when a
// Gaussian with inverse variances `inv_var` (texgs_geometry_axes), widened by `f` texels^2
// (0: unfiltered), centred `d2` texels^2 from the point, has q at or beyond the cutoff
// there whatever its angle, so the sampler skips it before rebuilding its conic.
bool texgs_may_reach(float d2, float2 inv_var, float f) {
    float lo = min(inv_var.x, inv_var.y);
    float hi = max(inv_var.x, inv_var.y);
    precise float lo_div = lo / (1.0f + f * lo);
    precise float lo_f = f > 0.0f ? lo_div : lo;
    precise float bound = d2 * (lo_f - TEXGS_REACH_SLACK * hi);
    return !(bound >= TEXGS_REACH_Q);
}

// Channel `k` of Gaussian `i`.
float texgs_color(TEXGS_BUFFER meta, TEXGS_BUFFER records, uint i, uint k) {
    uint e = TEXGS_META_CHANNEL_BASE + TEXGS_META_CHANNEL_STRIDE * k;
    uint bo = meta[e + TEXGS_CH_BITS_OFFSET];
    uint bits = bo & 255u;
    uint q = texgs_bits(records, i * meta[TEXGS_META_RECORD_BITS] + (bo >> 8u), bits);
    float lo = texgs_meta_float(meta, e + TEXGS_CH_LO);
    precise float stp = (texgs_meta_float(meta, e + TEXGS_CH_HI) - lo)
        / (float)(max((1u << bits) - 1u, 1u));
    precise float v = lo + (float)q * stp;
    return v;
}

// Apply the address mode to a point in texel units.
float2 texgs_wrap_point(TEXGS_BUFFER meta, float2 p) {
    float w = (float)meta[TEXGS_META_WIDTH];
    float h = (float)meta[TEXGS_META_HEIGHT];
    uint address = meta[TEXGS_META_ADDRESS];
    if ((address & 3u) == 1u) {
        p.x = p.x - w * floor(p.x / w);
        if (p.x >= w) p.x = 0.0f;
    } else {
        p.x = clamp(p.x, 0.0f, w);
    }
    if (((address >> 2u) & 3u) == 1u) {
        p.y = p.y - h * floor(p.y / h);
        if (p.y >= h) p.y = 0.0f;
    } else {
        p.y = clamp(p.y, 0.0f, h);
    }
    return p;
}

// Widen a conic (a, b, c) by `f` texels^2 of isotropic footprint variance: the conic of
// (Sigma + f I), and amp = sqrt(det Sigma / det(Sigma + f I)) (docs/RUNTIME.md "Filtering").
void texgs_widen(inout float3 cn, float f, out float amp) {
    precise float det = cn.x * cn.z - cn.y * cn.y;
    precise float sxx = cn.z / det + f;
    precise float syy = cn.x / det + f;
    precise float sxy = -cn.y / det;
    precise float det2 = sxx * syy - sxy * sxy;
    amp = sqrt(1.0f / (det * det2));
    cn = float3(syy / det2, -sxy / det2, sxx / det2);
}

// Footprint variance (texels^2) of a pixel covering `rho` texels: max(0, (rho^2 - 1) / 12).
float texgs_footprint_variance(float rho) {
    return max(0.0f, (rho * rho - 1.0f) / 12.0f);
}

// Sample every channel at the point `p_texel` (texel units of the asset: texel (i, j) has
// its centre at (i + 0.5, j + 0.5)), every Gaussian widened by `filter_var` texels^2 (0:
// unfiltered; clamped to what the tile index covers). Returns the channel count;
// result[k] for k < count. `candidates` receives the tile candidates examined, `reached`
// those that passed the reach test (whose conic was rebuilt).
uint texgs_sample_texel_counts(TEXGS_BUFFER meta, TEXGS_BUFFER records,
                               TEXGS_BUFFER tileOffsets, TEXGS_BUFFER tileIds,
                               float2 p_texel, float filter_var,
                               inout float result[TEXGS_MAX_CHANNELS], out uint candidates,
                               out uint reached) {
    float w = (float)meta[TEXGS_META_WIDTH];
    float h = (float)meta[TEXGS_META_HEIGHT];
    float2 p = texgs_wrap_point(meta, p_texel);
    bool rep_x = (meta[TEXGS_META_ADDRESS] & 3u) == 1u;
    bool rep_y = ((meta[TEXGS_META_ADDRESS] >> 2u) & 3u) == 1u;
    float f = min(filter_var, texgs_meta_float(meta, TEXGS_META_FILTER_MAX_VAR));
    bool filtered = f > 0.0f;
    uint tile = meta[TEXGS_META_TILE];
    bool reach_test = tile >= TEXGS_REACH_MIN_TILE;  // uniform: where the test pays
    uint tx = min((uint)floor(p.x / (float)tile), meta[TEXGS_META_TILES_X] - 1u);
    uint ty = min((uint)floor(p.y / (float)tile), meta[TEXGS_META_TILES_Y] - 1u);
    uint t = ty * meta[TEXGS_META_TILES_X] + tx;
    texgs_list lst = texgs_list_begin(meta, tileOffsets, tileIds, t);
    uint k_max = min(meta[TEXGS_META_TOP_K], (uint)TEXGS_MAX_K);
    // rank key: q (unfiltered) or minus the weight (filtered); ties by id
    float kk[TEXGS_MAX_K];
    float qk[TEXGS_MAX_K];
    float ak[TEXGS_MAX_K];
    uint ik[TEXGS_MAX_K];
    uint cnt = 0u;
    candidates = lst.left;
    reached = 0u;
    uint count = meta[TEXGS_META_COUNT];
    while (lst.left > 0u) {
        uint id = texgs_list_next(meta, tileIds, lst);
        if (id >= count) continue;  // a corrupt entry
        float2 mu;
        float2 iv;
        texgs_geometry_axes(meta, records, id, mu, iv);
        precise float dx = p.x - mu.x;
        precise float dy = p.y - mu.y;
        if (rep_x) dx = dx - w * floor(dx / w + 0.5f);
        if (rep_y) dy = dy - h * floor(dy / h + 0.5f);
#if TEXGS_REACH_TEST
        if (reach_test) {
            precise float d2 = dx * dx + dy * dy;
            if (!texgs_may_reach(d2, iv, f)) continue;  // q >= cutoff: skip angle and conic
        }
#endif
        reached++;
        float3 cn = texgs_conic(meta, records, id, iv);
        float amp = 1.0f;
        if (filtered) texgs_widen(cn, f, amp);
        precise float q = cn.x * dx * dx + (2.0f * cn.y) * dx * dy + cn.z * dy * dy;
        if (!(q < TEXGS_CUTOFF_Q)) continue;
        float key = q;
        if (filtered) key = -(amp * max(exp(-0.5f * q) - TEXGS_W_CUT, 0.0f));
        // enter if the list is not full or (key, id) beats the last entry
        if (cnt == k_max) {
            float k_last = kk[k_max - 1u];
            if (key > k_last || (key == k_last && id > ik[k_max - 1u])) continue;
        }
        uint pos = cnt < k_max ? cnt : k_max - 1u;
        if (cnt < k_max) cnt++;
        // insertion; written without relying on short-circuit evaluation (HLSL before 2021
        // evaluates both sides of && and ||), so entry pos - 1 is never read at pos == 0
        while (pos > 0u) {
            float k_prev = kk[pos - 1u];
            uint i_prev = ik[pos - 1u];
            if (!(k_prev > key || (k_prev == key && i_prev > id))) break;
            kk[pos] = k_prev;
            qk[pos] = qk[pos - 1u];
            ak[pos] = ak[pos - 1u];
            ik[pos] = i_prev;
            pos--;
        }
        kk[pos] = key;
        qk[pos] = q;
        ak[pos] = amp;
        ik[pos] = id;
    }
    uint nch = min(meta[TEXGS_META_CHANNELS], (uint)TEXGS_MAX_CHANNELS);
    float wk[TEXGS_MAX_K];
    precise float den = TEXGS_BLEND_EPS;
    for (uint k = 0u; k < cnt; ++k) {
        wk[k] = max(exp(-0.5f * qk[k]) - TEXGS_W_CUT, 0.0f);
        if (filtered) wk[k] = ak[k] * wk[k];
        den += wk[k];
    }
    for (uint c = 0u; c < nch; ++c) {
        uint ce = TEXGS_META_CHANNEL_BASE + TEXGS_META_CHANNEL_STRIDE * c;
        precise float num = 0.0f;
        for (uint k2 = 0u; k2 < cnt; ++k2) {
            num += wk[k2] * texgs_color(meta, records, ik[k2], c);
        }
        num += TEXGS_BLEND_EPS * texgs_meta_float(meta, ce + TEXGS_CH_FALLBACK);
        result[c] = num / den;
    }
    return nch;
}

// texgs_sample_texel_counts without the reach count.
uint texgs_sample_texel_stats(TEXGS_BUFFER meta, TEXGS_BUFFER records,
                              TEXGS_BUFFER tileOffsets, TEXGS_BUFFER tileIds,
                              float2 p_texel, float filter_var,
                              inout float result[TEXGS_MAX_CHANNELS], out uint candidates) {
    uint reached;
    return texgs_sample_texel_counts(meta, records, tileOffsets, tileIds, p_texel, filter_var,
                                     result, candidates, reached);
}

uint texgs_sample_texel(TEXGS_BUFFER meta, TEXGS_BUFFER records,
                        TEXGS_BUFFER tileOffsets, TEXGS_BUFFER tileIds,
                        float2 p_texel, inout float result[TEXGS_MAX_CHANNELS]) {
    uint candidates;
    return texgs_sample_texel_stats(meta, records, tileOffsets, tileIds, p_texel, 0.0f,
                                    result, candidates);
}

// Sample every channel at `uv`: (0, 0) is the top-left corner of the texture, (1, 1) the
// bottom-right (docs/CONVENTIONS.md; pass 1 - v for a bottom-left UV origin).
uint texgs_sample(TEXGS_BUFFER meta, TEXGS_BUFFER records,
                  TEXGS_BUFFER tileOffsets, TEXGS_BUFFER tileIds,
                  float2 uv, inout float result[TEXGS_MAX_CHANNELS]) {
    float2 size = float2((float)meta[TEXGS_META_WIDTH], (float)meta[TEXGS_META_HEIGHT]);
    return texgs_sample_texel(meta, records, tileOffsets, tileIds, uv * size, result);
}

// Filtered sampling for minification: `duv_dx`, `duv_dy` are the UV derivatives across one
// pixel (ddx(uv), ddy(uv) in a pixel shader). Each Gaussian is widened by the pixel's
// footprint, so a texture seen from afar does not alias. The tile index must have been built
// for the largest footprint used (meta word TEXGS_META_FILTER_MAX_VAR; docs/RUNTIME.md).
uint texgs_sample_grad(TEXGS_BUFFER meta, TEXGS_BUFFER records,
                       TEXGS_BUFFER tileOffsets, TEXGS_BUFFER tileIds,
                       float2 uv, float2 duv_dx, float2 duv_dy,
                       inout float result[TEXGS_MAX_CHANNELS]) {
    float2 size = float2((float)meta[TEXGS_META_WIDTH], (float)meta[TEXGS_META_HEIGHT]);
    float rho = max(length(duv_dx * size), length(duv_dy * size));
    uint candidates;
    return texgs_sample_texel_stats(meta, records, tileOffsets, tileIds, uv * size,
                                    texgs_footprint_variance(rho), result, candidates);
}

// ---- Material sets: finishing a map (docs/FORMAT.md "Maps", docs/RUNTIME.md "Material sets")
// Channels are blended in their stored encoding (sRGB, linear or log2); these helpers turn
// the blended values into a map's texels, in the float32 order of texgs.decode.finish_map.

// The point (asset texel units) of texel `texel` of a map of `map_size` texels: its centre
// ((i + 0.5) W / w, (j + 0.5) H / h). Every map covers the same UV square, so a material
// shader simply calls texgs_sample(uv); this is for decoding a map to its own grid.
float2 texgs_map_texel_point(TEXGS_BUFFER meta, uint2 texel, uint2 map_size) {
    float2 tex_size = float2((float)meta[TEXGS_META_WIDTH], (float)meta[TEXGS_META_HEIGHT]);
    return ((float2)texel + 0.5f) * (tex_size / (float2)map_size);
}

// Sample every channel at the centre of texel `texel` of a map of `map_size` texels
// (unfiltered). Returns the channel count, as texgs_sample.
uint texgs_sample_map_texel(TEXGS_BUFFER meta, TEXGS_BUFFER records,
                            TEXGS_BUFFER tileOffsets, TEXGS_BUFFER tileIds,
                            uint2 texel, uint2 map_size,
                            inout float result[TEXGS_MAX_CHANNELS]) {
    return texgs_sample_texel(meta, records, tileOffsets, tileIds,
                              texgs_map_texel_point(meta, texel, map_size), result);
}

// The unit tangent-space normal, components in [-1, 1], from the two blended channels of a
// NORMAL_Z map (x and y stored as (n + 1) / 2): (x, y) longer than 1 is scaled to unit
// length and z = sqrt(max(1 - x^2 - y^2, 0)) is rebuilt.
float3 texgs_unpack_normal(float x_enc, float y_enc) {
    precise float nx = x_enc * 2.0f - 1.0f;
    precise float ny = y_enc * 2.0f - 1.0f;
    precise float l2 = nx * nx + ny * ny;
    if (l2 > 1.0f) {
        precise float s = 1.0f / sqrt(l2);
        nx = nx * s;
        ny = ny * s;
    }
    precise float nz = sqrt(max(1.0f - nx * nx - ny * ny, 0.0f));
    return float3(nx, ny, nz);
}

// A blended log2 channel -> its linear (HDR) value max(2^v - 2^-10, 0).
float texgs_log2_to_linear(float v) {
    return max(exp2(v) - TEXGS_LOG2_OFFSET, 0.0f);
}

// The sRGB EOTF, for engines that want linear values from sRGB channels after sampling
// (blending happens in the stored sRGB encoding, as in the reference; texgs_finish_map leaves
// sRGB channels encoded).
float texgs_srgb_to_linear(float c) {
    if (c <= 0.04045f) return c / 12.92f;
    return pow((c + 0.055f) / 1.055f, 2.4f);
}

float3 texgs_srgb_to_linear(float3 c) {
    return float3(texgs_srgb_to_linear(c.x), texgs_srgb_to_linear(c.y),
                  texgs_srgb_to_linear(c.z));
}

// Finish a map: `v` holds the map's blended channels (component c = channel
// first_channel + c of the asset; unused components are ignored), `flags` the map table's
// flags, `log2_mask` bit c set when component c has the log2 encoding. log2 components
// become linear; with TEXGS_MAP_FLAG_NORMAL_Z, components 0..2 become the unit normal encoded
// as (n + 1) / 2 (component 2, a 0-bit channel, is rebuilt). Other components are unchanged.
float4 texgs_finish_map(float4 v, uint flags, uint log2_mask) {
    if ((log2_mask & 1u) != 0u) v.x = texgs_log2_to_linear(v.x);
    if ((log2_mask & 2u) != 0u) v.y = texgs_log2_to_linear(v.y);
    if ((log2_mask & 4u) != 0u) v.z = texgs_log2_to_linear(v.z);
    if ((log2_mask & 8u) != 0u) v.w = texgs_log2_to_linear(v.w);
    if ((flags & TEXGS_MAP_FLAG_NORMAL_Z) != 0u) {
        float3 n = texgs_unpack_normal(v.x, v.y);
        precise float3 e = (n + 1.0f) * 0.5f;
        v.xyz = e;
    }
    return v;
}

// Finish channels finish.x .. finish.x + finish.y - 1 (one map, at most 4) of a sample result
// in place: finish = (first channel, channel count, map flags, log2 mask), the words
// texgs.layout.map_finish_words gives; a count of 0 leaves `result` unchanged.
void texgs_finish_channels(inout float result[TEXGS_MAX_CHANNELS], uint4 finish) {
    uint n = min(finish.y, 4u);
    if (n == 0u) return;
    float v[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (uint c = 0u; c < n; ++c) {
        if (finish.x + c < (uint)TEXGS_MAX_CHANNELS) v[c] = result[finish.x + c];
    }
    float4 f = texgs_finish_map(float4(v[0], v[1], v[2], v[3]), finish.z, finish.w);
    v[0] = f.x;
    v[1] = f.y;
    v[2] = f.z;
    v[3] = f.w;
    for (uint c2 = 0u; c2 < n; ++c2) {
        if (finish.x + c2 < (uint)TEXGS_MAX_CHANNELS) result[finish.x + c2] = v[c2];
    }
}

#endif  // TEXGS_SAMPLE_HLSLI
