// Tile-cooperative decode of a whole texgs texture at the asset's own size, unfiltered: the
// HLSL twin of engine_shaders/glsl/texgs_decode_tiles.comp (docs/RUNTIME.md
// "Tile-cooperative decode"). One thread group per block of TEXGS_DECODE_TILE x
// TEXGS_DECODE_TILE texels, one thread per texel; a block lies inside one tile of the index
// (the index's TILE must be a multiple of TEXGS_DECODE_TILE). The group reads its tile's
// list once per batch of TEXGS_TILE_BATCH ids, unpacks those candidates whose padded 3-sigma
// box meets the block (the index's own rule, docs/RUNTIME.md "Tile index", at the block's
// size) into groupshared memory (centre, conic, id, and every channel when the whole list
// fits one batch and the colour cache), appending them in any order through an
// InterlockedAdd on a groupshared counter; then each thread ranks them for its texel centre
// and blends. A candidate left out cannot reach any texel of the block, and ranking is by
// (q, id) whatever the order, so the values are those of texgs_decode_cs.hlsl at the native
// size, bit for bit. A texel pays about 11 operations per candidate of its block instead of
// about 69 per candidate of its tile.
//
// Either coding of the tile lists (meta INDEX_CODING, see texgs_sample.hlsli "Tile lists"):
// a FIXED list is read in parallel, every thread reading entries of the batch by index; a
// RICE list can only be read in order, so thread 0 decodes each batch's ids into shared
// memory with one cursor kept across batches. After a barrier the threads unpack and cull
// those candidates in parallel. The list length comes from tile_offsets (FIXED) or the
// list's header (RICE).
//
// Resources: as texgs_decode_cs.hlsl (t0..t3 / bindings 0..3 the four buffers, u0 / 4 the
// values, u1 / 5 the candidates per texel (the tile list's length), b0 / 6 the same 32-byte
// cbuffer, of which only texgs_finish is read here). Dispatch (ceil(WIDTH /
// TEXGS_DECODE_TILE), ceil(HEIGHT / TEXGS_DECODE_TILE), 1) groups.
#include "../texgs_layout.h"
#include "texgs_sample.hlsli"

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

[[vk::binding(0, 0)]] StructuredBuffer<uint> texgs_meta : register(t0);
[[vk::binding(1, 0)]] StructuredBuffer<uint> texgs_records : register(t1);
[[vk::binding(2, 0)]] StructuredBuffer<uint> texgs_tile_offsets : register(t2);
[[vk::binding(3, 0)]] StructuredBuffer<uint> texgs_tile_ids : register(t3);
[[vk::binding(4, 0)]] RWStructuredBuffer<float> texgs_out_values : register(u0);
[[vk::binding(5, 0)]] RWStructuredBuffer<uint> texgs_out_candidates : register(u1);

[[vk::binding(6, 0)]] cbuffer TexgsDecodeParams : register(b0) {
    uint2 texgs_out_size;    // unused here (the asset's own size)
    float texgs_filter_var;  // unused here (unfiltered)
    uint texgs_pad;
    uint4 texgs_finish;      // map finish (first channel, count, flags, log2 mask); count 0: none
};

groupshared uint texgs_sid[TEXGS_TILE_BATCH];  // the batch's ids, in list order
groupshared float texgs_sx[TEXGS_TILE_BATCH];  // the kept candidates, in any order
groupshared float texgs_sy[TEXGS_TILE_BATCH];
groupshared float texgs_sa[TEXGS_TILE_BATCH];
groupshared float texgs_sb[TEXGS_TILE_BATCH];
groupshared float texgs_sc[TEXGS_TILE_BATCH];
groupshared uint texgs_kid[TEXGS_TILE_BATCH];
groupshared float texgs_scol[TEXGS_COLOR_CACHE];
groupshared uint texgs_nkeep;

// Whether the interval [lo, hi] of one axis meets block `b` of `nb` blocks of `block`
// texels: the index's rule at the block's size (texgs_axis_ranges).
bool texgs_axis_meets(float lo, float hi, float size, uint block, uint nb, uint b,
                      bool repeat_axis) {
    uint2 r0;
    uint2 r1;
    uint n = texgs_axis_ranges(lo, hi, size, block, nb, repeat_axis, r0, r1);
    return (n >= 1u && b >= r0.x && b <= r0.y) || (n == 2u && b >= r1.x && b <= r1.y);
}

[numthreads(TEXGS_DECODE_TILE, TEXGS_DECODE_TILE, 1)]
void main(uint3 group : SV_GroupID, uint3 local : SV_GroupThreadID, uint lid : SV_GroupIndex) {
    uint block = (uint)TEXGS_DECODE_TILE;
    uint width = texgs_meta[TEXGS_META_WIDTH];
    uint height = texgs_meta[TEXGS_META_HEIGHT];
    uint tile = texgs_meta[TEXGS_META_TILE];
    uint bx = group.x;
    uint by = group.y;
    uint x = bx * block + local.x;
    uint y = by * block + local.y;
    bool inside = x < width && y < height;
    uint t = (by * block / tile) * texgs_meta[TEXGS_META_TILES_X] + bx * block / tile;
    uint nbx = (width + block - 1u) / block;
    uint nby = (height + block - 1u) / block;
    // the walk of the tile's list; under RICE only thread 0 advances it (see above)
    texgs_list lst = texgs_list_begin(texgs_meta, texgs_tile_offsets, texgs_tile_ids, t);
    uint total = lst.left;  // the list's length
    uint count = texgs_meta[TEXGS_META_COUNT];
    uint nch = min(texgs_meta[TEXGS_META_CHANNELS], (uint)TEXGS_MAX_CHANNELS);
    uint k_max = min(texgs_meta[TEXGS_META_TOP_K], (uint)TEXGS_MAX_K);
    bool cached = total <= (uint)TEXGS_TILE_BATCH &&
                  total * nch <= (uint)TEXGS_COLOR_CACHE;
    float w = (float)width;
    float h = (float)height;
    bool rep_x = (texgs_meta[TEXGS_META_ADDRESS] & 3u) == 1u;
    bool rep_y = ((texgs_meta[TEXGS_META_ADDRESS] >> 2u) & 3u) == 1u;
    float2 p = float2((float)x + 0.5f, (float)y + 0.5f);  // a texel centre: no wrap needed
    float qk[TEXGS_MAX_K];
    uint ik[TEXGS_MAX_K];
    uint jk[TEXGS_MAX_K];  // slot of each selected candidate among the (single) batch's kept
    uint cnt = 0u;
    for (uint base = 0u; base < total; base += (uint)TEXGS_TILE_BATCH) {
        uint n = min(total - base, (uint)TEXGS_TILE_BATCH);
        // the batch's ids: a RICE list is read in order, by thread 0 (its cursor carries
        // over to the next batch); FIXED entries by every thread
        uint nthreads = block * block;
        if (lst.rice) {  // the same value in every thread of the group (a meta word)
            if (lid == 0u) {
                for (uint j0 = 0u; j0 < n; ++j0)
                    texgs_sid[j0] = texgs_list_next(texgs_meta, texgs_tile_ids, lst);
            }
        } else {  // FIXED: entry lst.pos + base + j, read at random
            for (uint j1 = lid; j1 < n; j1 += nthreads)
                texgs_sid[j1] = texgs_tile_id(texgs_meta, texgs_tile_ids, lst.pos + base + j1);
        }
        if (lid == 0u) texgs_nkeep = 0u;
        GroupMemoryBarrierWithGroupSync();
        for (uint j = lid; j < n; j += nthreads) {
            uint id = texgs_sid[j];
            if (id >= count) continue;  // a corrupt entry
            float2 mu;
            float3 cn;
            texgs_geometry(texgs_meta, texgs_records, id, mu, cn);
            // the padded 3-sigma box (docs/RUNTIME.md "Tile-cooperative decode"), made safe
            // for float32: det less a bound on its rounding error, and the cutoff raised by
            // a bound on the relative rounding error of q, 2^-20 (a + c)^2 / det (both
            // negligible unless the Gaussian is needle-thin; then it is kept when unsure)
            float ac = cn.x * cn.z;
            float bb = cn.y * cn.y;
            float det = (ac - bb) - (ac + bb) * 2.384185791e-7f;
            float cond = (cn.x + cn.z) * (cn.x + cn.z) / det;
            if (det > 0.0f && cond < 1e12f) {
                float cut = TEXGS_CUTOFF_Q * (1.0f + 9.536743164e-7f * cond);
                float rx = sqrt(cut * cn.z / det) * 1.001f + 0.01f;
                float ry = sqrt(cut * cn.x / det) * 1.001f + 0.01f;
                bool meets_x = texgs_axis_meets(mu.x - rx, mu.x + rx, w, block, nbx, bx, rep_x);
                bool meets_y = texgs_axis_meets(mu.y - ry, mu.y + ry, h, block, nby, by, rep_y);
                if (!(meets_x && meets_y)) continue;
            }
            uint slot;
            InterlockedAdd(texgs_nkeep, 1u, slot);
            texgs_kid[slot] = id;
            texgs_sx[slot] = mu.x;
            texgs_sy[slot] = mu.y;
            texgs_sa[slot] = cn.x;
            texgs_sb[slot] = cn.y;
            texgs_sc[slot] = cn.z;
            if (cached) {
                for (uint c = 0u; c < nch; ++c)
                    texgs_scol[slot * nch + c] = texgs_color(texgs_meta, texgs_records, id, c);
            }
        }
        GroupMemoryBarrierWithGroupSync();
        if (inside) {
            uint kept = texgs_nkeep;
            for (uint j2 = 0u; j2 < kept; ++j2) {
                uint id = texgs_kid[j2];
                precise float dx = p.x - texgs_sx[j2];
                precise float dy = p.y - texgs_sy[j2];
                if (rep_x) dx = dx - w * floor(dx / w + 0.5f);
                if (rep_y) dy = dy - h * floor(dy / h + 0.5f);
                precise float q = texgs_sa[j2] * dx * dx + (2.0f * texgs_sb[j2]) * dx * dy
                    + texgs_sc[j2] * dy * dy;
                if (!(q < TEXGS_CUTOFF_Q)) continue;
                if (cnt == k_max) {
                    float q_last = qk[k_max - 1u];
                    if (q > q_last || (q == q_last && id > ik[k_max - 1u])) continue;
                }
                uint pos = cnt < k_max ? cnt : k_max - 1u;
                if (cnt < k_max) cnt++;
                // no reliance on short-circuit evaluation (see texgs_sample.hlsli)
                while (pos > 0u) {
                    float q_prev = qk[pos - 1u];
                    uint i_prev = ik[pos - 1u];
                    if (!(q_prev > q || (q_prev == q && i_prev > id))) break;
                    qk[pos] = q_prev;
                    ik[pos] = i_prev;
                    jk[pos] = jk[pos - 1u];
                    pos--;
                }
                qk[pos] = q;
                ik[pos] = id;
                jk[pos] = j2;
            }
        }
        GroupMemoryBarrierWithGroupSync();  // the next batch overwrites the shared arrays
    }
    if (!inside) return;
    float r[TEXGS_MAX_CHANNELS];
    float wk[TEXGS_MAX_K];
    precise float den = TEXGS_BLEND_EPS;
    for (uint k = 0u; k < cnt; ++k) {
        wk[k] = max(exp(-0.5f * qk[k]) - TEXGS_W_CUT, 0.0f);
        den += wk[k];
    }
    for (uint c = 0u; c < nch; ++c) {
        uint ce = TEXGS_META_CHANNEL_BASE + TEXGS_META_CHANNEL_STRIDE * c;
        precise float num = 0.0f;
        for (uint k2 = 0u; k2 < cnt; ++k2) {
            float col;  // if/else, not ?: (which may evaluate both sides in HLSL)
            if (cached) {
                col = texgs_scol[jk[k2] * nch + c];
            } else {
                col = texgs_color(texgs_meta, texgs_records, ik[k2], c);
            }
            num += wk[k2] * col;
        }
        num += TEXGS_BLEND_EPS * texgs_meta_float(texgs_meta, ce + TEXGS_CH_FALLBACK);
        r[c] = num / den;
    }
    texgs_finish_channels(r, texgs_finish);
    uint base_out = (y * width + x) * nch;
    for (uint c2 = 0u; c2 < nch; ++c2) texgs_out_values[base_out + c2] = r[c2];
    texgs_out_candidates[y * width + x] = total;
}
