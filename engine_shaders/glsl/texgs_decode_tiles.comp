#version 430
// Tile-cooperative decode of a whole texgs texture at the asset's own size, unfiltered
// (docs/RUNTIME.md "Tile-cooperative decode"): one workgroup per block of TEXGS_DECODE_TILE
// x TEXGS_DECODE_TILE texels, one invocation per texel; a block lies inside one tile of the
// index (the index's TILE must be a multiple of TEXGS_DECODE_TILE). The group reads its
// tile's list once per batch of TEXGS_TILE_BATCH ids, unpacks those candidates whose padded
// 3-sigma box meets the block (the index's rule, docs/RUNTIME.md "Tile index", at the
// block's size, with a margin for float32 rounding) into shared memory (centre, conic, id, and every channel when the whole list
// fits one batch and the colour cache), then each invocation ranks them for its texel centre
// and blends. A candidate left out cannot reach any texel of the block, and ranking is by
// (q, id) whatever the order, so the values are those of texgs_decode.comp at the native
// size, bit for bit. A texel pays about 11 operations per candidate of its block instead of
// about 69 per candidate of its tile.
// Output as texgs_decode.comp: out_values[(y * width + x) * channels + c], row 0 at the
// top; out_candidates[y * width + x] (the tile list's length); `finish` as there. Either
// coding of the tile lists.
#ifndef TEXGS_DECODE_TILE
#define TEXGS_DECODE_TILE 8
#endif
// Shared memory: 7 words per batch entry and the colour cache, 4 KiB with these defaults (one
// id per invocation of an 8x8 group; 64 entries of up to 8 channels). With 256 and 2048
// (15.5 KiB) an RDNA2 GPU ran 4 waves per SIMD instead of 10 to 16
// (bench/bench_shader_resources.py).
#ifndef TEXGS_TILE_BATCH
#define TEXGS_TILE_BATCH 64
#endif
#ifndef TEXGS_COLOR_CACHE
#define TEXGS_COLOR_CACHE 512
#endif
layout(local_size_x = TEXGS_DECODE_TILE, local_size_y = TEXGS_DECODE_TILE) in;
#include "../texgs_layout.h"
#include "texgs_buffers.glsl"
#include "texgs_sample.glsl"

layout(std430, binding = 4) buffer TexgsDecodeOut { float out_values[]; };
layout(std430, binding = 5) buffer TexgsDecodeStats { uint out_candidates[]; };
uniform uvec4 finish;  // map finish (first channel, count, flags, log2 mask); count 0: none

shared uint texgs_sid[TEXGS_TILE_BATCH];  // the batch's ids, in list order
shared float texgs_sx[TEXGS_TILE_BATCH];  // the kept candidates, in any order
shared float texgs_sy[TEXGS_TILE_BATCH];
shared float texgs_sa[TEXGS_TILE_BATCH];
shared float texgs_sb[TEXGS_TILE_BATCH];
shared float texgs_sc[TEXGS_TILE_BATCH];
shared uint texgs_kid[TEXGS_TILE_BATCH];
shared float texgs_scol[TEXGS_COLOR_CACHE];
shared uint texgs_nkeep;

// Whether the interval [lo, hi] of one axis meets block `b` of `nb` blocks of `block`
// texels: the index's rule at the block's size (texgs_axis_ranges).
bool texgs_axis_meets(float lo, float hi, float size, uint block, uint nb, uint b, bool repeat) {
    uvec2 r0;
    uvec2 r1;
    uint n = texgs_axis_ranges(lo, hi, size, block, nb, repeat, r0, r1);
    return (n >= 1u && b >= r0.x && b <= r0.y) || (n == 2u && b >= r1.x && b <= r1.y);
}

void main() {
    uint block = uint(TEXGS_DECODE_TILE);
    uint width = texgs_load_meta(TEXGS_META_WIDTH);
    uint height = texgs_load_meta(TEXGS_META_HEIGHT);
    uint tile = texgs_load_meta(TEXGS_META_TILE);
    uint bx = gl_WorkGroupID.x;
    uint by = gl_WorkGroupID.y;
    uint x = bx * block + gl_LocalInvocationID.x;
    uint y = by * block + gl_LocalInvocationID.y;
    bool inside = x < width && y < height;
    uint lid = gl_LocalInvocationIndex;
    uint t = (by * block / tile) * texgs_load_meta(TEXGS_META_TILES_X) + bx * block / tile;
    uint nbx = (width + block - 1u) / block;
    uint nby = (height + block - 1u) / block;
    texgs_list lst = texgs_list_begin(t);
    uint total = lst.left;  // the list's length
    uint count = texgs_load_meta(TEXGS_META_COUNT);
    uint nch = min(texgs_load_meta(TEXGS_META_CHANNELS), uint(TEXGS_MAX_CHANNELS));
    uint k_max = min(texgs_load_meta(TEXGS_META_TOP_K), uint(TEXGS_MAX_K));
    bool cached = total <= uint(TEXGS_TILE_BATCH) && total * nch <= uint(TEXGS_COLOR_CACHE);
    float w = float(width);
    float h = float(height);
    bool rep_x = (texgs_load_meta(TEXGS_META_ADDRESS) & 3u) == 1u;
    bool rep_y = ((texgs_load_meta(TEXGS_META_ADDRESS) >> 2u) & 3u) == 1u;
    vec2 p = vec2(float(x) + 0.5, float(y) + 0.5);  // a texel centre: the wrap changes nothing
    float qk[TEXGS_MAX_K];
    uint ik[TEXGS_MAX_K];
    uint jk[TEXGS_MAX_K];  // slot of each selected candidate in the (single) cached batch
    uint cnt = 0u;
    for (uint base = 0u; base < total; base += uint(TEXGS_TILE_BATCH)) {
        uint n = min(total - base, uint(TEXGS_TILE_BATCH));
        // the batch's ids: a Rice-coded list is read in order, by one invocation (its
        // cursor carries over to the next batch); fixed-width entries by all of them
        uint group = block * block;
        if (lst.rice) {
            if (lid == 0u) {
                for (uint j = 0u; j < n; ++j) texgs_sid[j] = texgs_list_next(lst);
            }
        } else {
            for (uint j = lid; j < n; j += group) texgs_sid[j] = texgs_tile_id(lst.pos + base + j);
        }
        if (lid == 0u) texgs_nkeep = 0u;
        memoryBarrierShared();
        barrier();
        for (uint j = lid; j < n; j += group) {
            uint id = texgs_sid[j];
            if (id >= count) continue;  // a corrupt entry
            vec2 mu;
            vec3 cn;
            texgs_geometry(id, mu, cn);
            // the padded 3-sigma box (docs/RUNTIME.md "Tile-cooperative decode"), made safe
            // for float32: det less a bound on its rounding error, and the cutoff raised by
            // a bound on the relative rounding error of q, 2^-20 (a + c)^2 / det (both
            // negligible unless the Gaussian is needle-thin; then it is kept when unsure)
            float ac = cn.x * cn.z;
            float bb = cn.y * cn.y;
            float det = (ac - bb) - (ac + bb) * 2.384185791e-7;
            float cond = (cn.x + cn.z) * (cn.x + cn.z) / det;
            if (det > 0.0 && cond < 1e12) {
                float cut = TEXGS_CUTOFF_Q * (1.0 + 9.536743164e-7 * cond);
                float rx = sqrt(cut * cn.z / det) * 1.001 + 0.01;
                float ry = sqrt(cut * cn.x / det) * 1.001 + 0.01;
                if (!texgs_axis_meets(mu.x - rx, mu.x + rx, w, block, nbx, bx, rep_x) ||
                    !texgs_axis_meets(mu.y - ry, mu.y + ry, h, block, nby, by, rep_y)) continue;
            }
            uint slot = atomicAdd(texgs_nkeep, 1u);
            texgs_kid[slot] = id;
            texgs_sx[slot] = mu.x;
            texgs_sy[slot] = mu.y;
            texgs_sa[slot] = cn.x;
            texgs_sb[slot] = cn.y;
            texgs_sc[slot] = cn.z;
            if (cached) {
                for (uint c = 0u; c < nch; ++c) texgs_scol[slot * nch + c] = texgs_color(id, c);
            }
        }
        memoryBarrierShared();
        barrier();
        if (inside) {
            uint kept = texgs_nkeep;
            for (uint j = 0u; j < kept; ++j) {
                uint id = texgs_kid[j];
                precise float dx = p.x - texgs_sx[j];
                precise float dy = p.y - texgs_sy[j];
                if (rep_x) dx = dx - w * floor(dx / w + 0.5);
                if (rep_y) dy = dy - h * floor(dy / h + 0.5);
                precise float q = texgs_sa[j] * dx * dx + (2.0 * texgs_sb[j]) * dx * dy
                    + texgs_sc[j] * dy * dy;
                if (!(q < TEXGS_CUTOFF_Q)) continue;
                if (cnt == k_max) {
                    if (q > qk[k_max - 1u] || (q == qk[k_max - 1u] && id > ik[k_max - 1u])) continue;
                }
                uint pos = cnt < k_max ? cnt : k_max - 1u;
                if (cnt < k_max) cnt++;
                while (pos > 0u && (qk[pos - 1u] > q || (qk[pos - 1u] == q && ik[pos - 1u] > id))) {
                    qk[pos] = qk[pos - 1u];
                    ik[pos] = ik[pos - 1u];
                    jk[pos] = jk[pos - 1u];
                    pos--;
                }
                qk[pos] = q;
                ik[pos] = id;
                jk[pos] = j;
            }
        }
        memoryBarrierShared();
        barrier();  // the next batch overwrites the shared arrays
    }
    if (!inside) return;
    float r[TEXGS_MAX_CHANNELS];
    float wk[TEXGS_MAX_K];
    precise float den = TEXGS_BLEND_EPS;
    for (uint k = 0u; k < cnt; ++k) {
        wk[k] = max(exp(-0.5 * qk[k]) - TEXGS_W_CUT, 0.0);
        den += wk[k];
    }
    for (uint c = 0u; c < nch; ++c) {
        uint e = TEXGS_META_CHANNEL_BASE + TEXGS_META_CHANNEL_STRIDE * c;
        precise float num = 0.0;
        for (uint k = 0u; k < cnt; ++k) {
            float col = cached ? texgs_scol[jk[k] * nch + c] : texgs_color(ik[k], c);
            num += wk[k] * col;
        }
        num += TEXGS_BLEND_EPS * texgs_meta_float(e + TEXGS_CH_FALLBACK);
        r[c] = num / den;
    }
    texgs_finish_channels(r, finish);
    uint base_out = (y * width + x) * nch;
    for (uint c = 0u; c < nch; ++c) out_values[base_out + c] = r[c];
    out_candidates[y * width + x] = total;
}
