#version 430
// Tile-cooperative decode of a whole texgs texture at the asset's own size, unfiltered
// (docs/RUNTIME.md "Tile-cooperative decode"): one workgroup per tile of the index,
// TEXGS_DECODE_TILE x TEXGS_DECODE_TILE invocations (the index must be built with
// TILE = TEXGS_DECODE_TILE), one invocation per texel. The group unpacks its tile's
// candidates once per batch of TEXGS_TILE_BATCH into shared memory (centre, conic, id, and
// every channel when the whole list fits one batch and the colour cache), then each
// invocation ranks the batch for its texel centre and blends. The same float32 operations
// in the same order as texgs_decode.comp at the native size, so the same values; a texel
// pays about 11 operations per candidate instead of about 65 (the unpacking is shared by
// the tile's texels).
// Output as texgs_decode.comp: out_values[(y * width + x) * channels + c], row 0 at the
// top; out_candidates[y * width + x]; `finish` as there.
#ifndef TEXGS_DECODE_TILE
#define TEXGS_DECODE_TILE 16
#endif
#ifndef TEXGS_TILE_BATCH
#define TEXGS_TILE_BATCH 256
#endif
#ifndef TEXGS_COLOR_CACHE
#define TEXGS_COLOR_CACHE 2048
#endif
layout(local_size_x = TEXGS_DECODE_TILE, local_size_y = TEXGS_DECODE_TILE) in;
#include "../texgs_layout.h"
#include "texgs_buffers.glsl"
#include "texgs_sample.glsl"

layout(std430, binding = 4) buffer TexgsDecodeOut { float out_values[]; };
layout(std430, binding = 5) buffer TexgsDecodeStats { uint out_candidates[]; };
uniform uvec4 finish;  // map finish (first channel, count, flags, log2 mask); count 0: none

shared float texgs_sx[TEXGS_TILE_BATCH];
shared float texgs_sy[TEXGS_TILE_BATCH];
shared float texgs_sa[TEXGS_TILE_BATCH];
shared float texgs_sb[TEXGS_TILE_BATCH];
shared float texgs_sc[TEXGS_TILE_BATCH];
shared uint texgs_sid[TEXGS_TILE_BATCH];
shared float texgs_scol[TEXGS_COLOR_CACHE];

void main() {
    uint tile = uint(TEXGS_DECODE_TILE);
    uint width = texgs_load_meta(TEXGS_META_WIDTH);
    uint height = texgs_load_meta(TEXGS_META_HEIGHT);
    uint x = gl_WorkGroupID.x * tile + gl_LocalInvocationID.x;
    uint y = gl_WorkGroupID.y * tile + gl_LocalInvocationID.y;
    bool inside = x < width && y < height;
    uint lid = gl_LocalInvocationIndex;
    uint t = gl_WorkGroupID.y * texgs_load_meta(TEXGS_META_TILES_X) + gl_WorkGroupID.x;
    uint e0 = texgs_load_tile_offset(t);
    uint e1 = texgs_load_tile_offset(t + 1u);
    uint count = texgs_load_meta(TEXGS_META_COUNT);
    uint nch = min(texgs_load_meta(TEXGS_META_CHANNELS), uint(TEXGS_MAX_CHANNELS));
    uint k_max = min(texgs_load_meta(TEXGS_META_TOP_K), uint(TEXGS_MAX_K));
    bool cached = e1 - e0 <= uint(TEXGS_TILE_BATCH) && (e1 - e0) * nch <= uint(TEXGS_COLOR_CACHE);
    float w = float(width);
    float h = float(height);
    bool rep_x = (texgs_load_meta(TEXGS_META_ADDRESS) & 3u) == 1u;
    bool rep_y = ((texgs_load_meta(TEXGS_META_ADDRESS) >> 2u) & 3u) == 1u;
    vec2 p = vec2(float(x) + 0.5, float(y) + 0.5);  // a texel centre: the wrap changes nothing
    float qk[TEXGS_MAX_K];
    uint ik[TEXGS_MAX_K];
    uint jk[TEXGS_MAX_K];  // slot of each selected candidate in the (single) cached batch
    uint cnt = 0u;
    for (uint base = e0; base < e1; base += uint(TEXGS_TILE_BATCH)) {
        uint n = min(e1 - base, uint(TEXGS_TILE_BATCH));
        for (uint j = lid; j < n; j += tile * tile) {
            uint id = texgs_tile_id(base + j);
            texgs_sid[j] = id;
            if (id >= count) continue;  // a corrupt entry: skipped when ranking
            vec2 mu;
            vec3 cn;
            texgs_geometry(id, mu, cn);
            texgs_sx[j] = mu.x;
            texgs_sy[j] = mu.y;
            texgs_sa[j] = cn.x;
            texgs_sb[j] = cn.y;
            texgs_sc[j] = cn.z;
            if (cached) {
                for (uint c = 0u; c < nch; ++c) texgs_scol[j * nch + c] = texgs_color(id, c);
            }
        }
        memoryBarrierShared();
        barrier();
        if (inside) {
            for (uint j = 0u; j < n; ++j) {
                uint id = texgs_sid[j];
                if (id >= count) continue;
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
    out_candidates[y * width + x] = e1 - e0;
}
