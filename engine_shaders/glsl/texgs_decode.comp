#version 430
// Decode a whole texgs texture (or a resized grid) into a float buffer: one invocation per
// output texel, sampled at its centre; out_values[(y * width + x) * channels + c], row 0 at
// the top. Useful to bake a runtime cache or a mip level.
layout(local_size_x = 8, local_size_y = 8) in;
#include "../texgs_layout.h"
#include "texgs_buffers.glsl"
#include "texgs_sample.glsl"

layout(std430, binding = 4) buffer TexgsDecodeOut { float out_values[]; };
layout(std430, binding = 5) buffer TexgsDecodeStats { uint out_candidates[]; };
uniform uvec2 out_size;
uniform float filter_var;  // footprint variance, texels^2 (0: unfiltered)

void main() {
    uvec2 g = gl_GlobalInvocationID.xy;
    if (g.x >= out_size.x || g.y >= out_size.y) return;
    vec2 tex_size = vec2(float(texgs_load_meta(TEXGS_META_WIDTH)),
                         float(texgs_load_meta(TEXGS_META_HEIGHT)));
    // the texel centre in the asset's texel units (exact at native size)
    vec2 p = (vec2(g) + 0.5) * (tex_size / vec2(out_size));
    float r[TEXGS_MAX_CHANNELS];
    uint cand;
    uint n = texgs_sample_texel_stats(p, filter_var, r, cand);
    uint base = (g.y * out_size.x + g.x) * n;
    for (uint c = 0u; c < n; ++c) out_values[base + c] = r[c];
    out_candidates[g.y * out_size.x + g.x] = cand;
}
