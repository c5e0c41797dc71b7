#version 430
// Decode a whole texgs texture (or a resized grid) into a float buffer: one invocation per
// output texel, sampled at its centre; out_values[(y * width + x) * channels + c], row 0 at
// the top. Useful to bake a runtime cache or a mip level.
// Material sets: to decode map m, set out_size to the map's size and `finish` to its finish
// words (texgs.layout.map_finish_words: first channel, count, flags, log2 mask); its channels
// are then written finished (normal z rebuilt, log2 -> linear). finish.y = 0 (the default):
// every channel as blended. out_candidates receives the candidates each texel examined, or
// with TEXGS_STATS_REACHED defined those that passed the reach test.
layout(local_size_x = 8, local_size_y = 8) in;
#include "../texgs_layout.h"
#include "texgs_buffers.glsl"
#include "texgs_sample.glsl"

layout(std430, binding = 4) buffer TexgsDecodeOut { float out_values[]; };
layout(std430, binding = 5) buffer TexgsDecodeStats { uint out_candidates[]; };
uniform uvec2 out_size;
uniform float filter_var;  // footprint variance, texels^2 (0: unfiltered)
uniform uvec4 finish;      // map finish (first channel, count, flags, log2 mask); count 0: none

void main() {
    uvec2 g = gl_GlobalInvocationID.xy;
    if (g.x >= out_size.x || g.y >= out_size.y) return;
    // the texel centre in the asset's texel units (exact at native size)
    vec2 p = texgs_map_texel_point(g, out_size);
    float r[TEXGS_MAX_CHANNELS];
    uint cand;
    uint reached;
    uint n = texgs_sample_texel_counts(p, filter_var, r, cand, reached);
    texgs_finish_channels(r, finish);
    uint base = (g.y * out_size.x + g.x) * n;
    for (uint c = 0u; c < n; ++c) out_values[base + c] = r[c];
#ifdef TEXGS_STATS_REACHED
    out_candidates[g.y * out_size.x + g.x] = reached;
#else
    out_candidates[g.y * out_size.x + g.x] = cand;
#endif
}
