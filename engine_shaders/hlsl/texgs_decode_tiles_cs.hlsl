// Tile-cooperative decode of a whole texgs texture at the asset's own size, unfiltered: the
// HLSL twin of engine_shaders/glsl/texgs_decode_tiles.comp (docs/RUNTIME.md
// "Tile-cooperative decode"). One thread group per tile of the index, TEXGS_DECODE_TILE x
// TEXGS_DECODE_TILE threads (the index must be built with TILE = TEXGS_DECODE_TILE), one
// thread per texel. The group unpacks its tile's candidates once per batch of
// TEXGS_TILE_BATCH into groupshared memory (centre, conic, id, and every channel when the
// whole list fits one batch and the colour cache); each thread ranks the batch for its texel
// centre and blends. The same float32 operations in the same order as texgs_decode_cs.hlsl
// at the native size, so the same values.
//
// Resources: as texgs_decode_cs.hlsl (t0..t3 / bindings 0..3 the four buffers, u0 / 4 the
// values, u1 / 5 the candidates per texel, b0 / 6 the same 32-byte cbuffer, of which only
// texgs_finish is read here). Dispatch (TILES_X, TILES_Y, 1) groups.
#include "../texgs_layout.h"
#include "texgs_sample.hlsli"

#ifndef TEXGS_DECODE_TILE
#define TEXGS_DECODE_TILE 16
#endif
#ifndef TEXGS_TILE_BATCH
#define TEXGS_TILE_BATCH 256
#endif
#ifndef TEXGS_COLOR_CACHE
#define TEXGS_COLOR_CACHE 2048
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

groupshared float texgs_sx[TEXGS_TILE_BATCH];
groupshared float texgs_sy[TEXGS_TILE_BATCH];
groupshared float texgs_sa[TEXGS_TILE_BATCH];
groupshared float texgs_sb[TEXGS_TILE_BATCH];
groupshared float texgs_sc[TEXGS_TILE_BATCH];
groupshared uint texgs_sid[TEXGS_TILE_BATCH];
groupshared float texgs_scol[TEXGS_COLOR_CACHE];

[numthreads(TEXGS_DECODE_TILE, TEXGS_DECODE_TILE, 1)]
void main(uint3 group : SV_GroupID, uint3 local : SV_GroupThreadID, uint lid : SV_GroupIndex) {
    uint tile = (uint)TEXGS_DECODE_TILE;
    uint width = texgs_meta[TEXGS_META_WIDTH];
    uint height = texgs_meta[TEXGS_META_HEIGHT];
    uint x = group.x * tile + local.x;
    uint y = group.y * tile + local.y;
    bool inside = x < width && y < height;
    uint t = group.y * texgs_meta[TEXGS_META_TILES_X] + group.x;
    uint e0 = texgs_tile_offsets[t];
    uint e1 = texgs_tile_offsets[t + 1u];
    uint count = texgs_meta[TEXGS_META_COUNT];
    uint nch = min(texgs_meta[TEXGS_META_CHANNELS], (uint)TEXGS_MAX_CHANNELS);
    uint k_max = min(texgs_meta[TEXGS_META_TOP_K], (uint)TEXGS_MAX_K);
    bool cached = e1 - e0 <= (uint)TEXGS_TILE_BATCH &&
                  (e1 - e0) * nch <= (uint)TEXGS_COLOR_CACHE;
    float w = (float)width;
    float h = (float)height;
    bool rep_x = (texgs_meta[TEXGS_META_ADDRESS] & 3u) == 1u;
    bool rep_y = ((texgs_meta[TEXGS_META_ADDRESS] >> 2u) & 3u) == 1u;
    float2 p = float2((float)x + 0.5f, (float)y + 0.5f);  // a texel centre: no wrap needed
    float qk[TEXGS_MAX_K];
    uint ik[TEXGS_MAX_K];
    uint jk[TEXGS_MAX_K];  // slot of each selected candidate in the (single) cached batch
    uint cnt = 0u;
    for (uint base = e0; base < e1; base += (uint)TEXGS_TILE_BATCH) {
        uint n = min(e1 - base, (uint)TEXGS_TILE_BATCH);
        for (uint j = lid; j < n; j += tile * tile) {
            uint id = texgs_tile_id(texgs_meta, texgs_tile_ids, base + j);
            texgs_sid[j] = id;
            if (id < count) {  // else a corrupt entry: skipped when ranking
                float2 mu;
                float3 cn;
                texgs_geometry(texgs_meta, texgs_records, id, mu, cn);
                texgs_sx[j] = mu.x;
                texgs_sy[j] = mu.y;
                texgs_sa[j] = cn.x;
                texgs_sb[j] = cn.y;
                texgs_sc[j] = cn.z;
                if (cached) {
                    for (uint c = 0u; c < nch; ++c)
                        texgs_scol[j * nch + c] = texgs_color(texgs_meta, texgs_records, id, c);
                }
            }
        }
        GroupMemoryBarrierWithGroupSync();
        if (inside) {
            for (uint j2 = 0u; j2 < n; ++j2) {
                uint id = texgs_sid[j2];
                if (id >= count) continue;
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
    texgs_out_candidates[y * width + x] = e1 - e0;
}
