// Decode a whole texgs texture (or a resized grid) into a float buffer: one thread per output
// texel, sampled at its centre; texgs_out_values[(y * width + x) * channels + c], row 0 at
// the top; texgs_out_candidates[y * width + x] = tile candidates examined (with
// TEXGS_STATS_REACHED defined: those that passed the reach test). The HLSL twin of
// engine_shaders/glsl/texgs_decode.comp. Useful to bake a runtime cache or a mip level.
// Material sets: to decode map m, set the output size to the map's size and texgs_finish to
// its finish words (texgs.layout.map_finish_words: first channel, count, flags, log2 mask);
// its channels are then written finished (normal z rebuilt, log2 -> linear). A count of 0:
// every channel as blended.
//
// Resources (the application side; texgs_sample.hlsli itself declares none). Each has a
// D3D register and the Vulkan binding (descriptor set 0) used by texgs/hlsl_runner.py:
//   t0 / binding 0  StructuredBuffer<uint>    meta
//   t1 / binding 1  StructuredBuffer<uint>    records
//   t2 / binding 2  StructuredBuffer<uint>    tile offsets
//   t3 / binding 3  StructuredBuffer<uint>    tile ids
//   u0 / binding 4  RWStructuredBuffer<float> decoded values
//   u1 / binding 5  RWStructuredBuffer<uint>  candidates per texel
//   b0 / binding 6  cbuffer (32 bytes): output size, footprint variance (filtered
//                   minification), map finish words
#include "../texgs_layout.h"
#include "texgs_sample.hlsli"

[[vk::binding(0, 0)]] StructuredBuffer<uint> texgs_meta : register(t0);
[[vk::binding(1, 0)]] StructuredBuffer<uint> texgs_records : register(t1);
[[vk::binding(2, 0)]] StructuredBuffer<uint> texgs_tile_offsets : register(t2);
[[vk::binding(3, 0)]] StructuredBuffer<uint> texgs_tile_ids : register(t3);
[[vk::binding(4, 0)]] RWStructuredBuffer<float> texgs_out_values : register(u0);
[[vk::binding(5, 0)]] RWStructuredBuffer<uint> texgs_out_candidates : register(u1);

[[vk::binding(6, 0)]] cbuffer TexgsDecodeParams : register(b0) {
    uint2 texgs_out_size;    // output width, height in texels
    float texgs_filter_var;  // footprint variance, texels^2 (0: unfiltered)
    uint texgs_pad;
    uint4 texgs_finish;      // map finish (first channel, count, flags, log2 mask); count 0: none
};

[numthreads(8, 8, 1)]
void main(uint3 gid : SV_DispatchThreadID) {
    uint2 g = gid.xy;
    if (g.x >= texgs_out_size.x || g.y >= texgs_out_size.y) return;
    // the texel centre in the asset's texel units (exact at native size)
    float2 p = texgs_map_texel_point(texgs_meta, g, texgs_out_size);
    float r[TEXGS_MAX_CHANNELS];
    uint cand;
    uint reached;
    uint n = texgs_sample_texel_counts(texgs_meta, texgs_records, texgs_tile_offsets,
                                       texgs_tile_ids, p, texgs_filter_var, r, cand, reached);
    texgs_finish_channels(r, texgs_finish);
    uint base = (g.y * texgs_out_size.x + g.x) * n;
    for (uint c = 0u; c < n; ++c) texgs_out_values[base + c] = r[c];
#ifdef TEXGS_STATS_REACHED
    texgs_out_candidates[g.y * texgs_out_size.x + g.x] = reached;
#else
    texgs_out_candidates[g.y * texgs_out_size.x + g.x] = cand;
#endif
}
