#version 430
// Samples a texgs texture on the plane, with (use_filter = 1) or without footprint filtering.
#include "../texgs_layout.h"
#include "texgs_buffers.glsl"
#include "texgs_sample.glsl"
uniform int use_filter;
in vec2 v_uv;
out vec4 frag;
void main() {
    float r[TEXGS_MAX_CHANNELS];
    for (uint c = 0u; c < uint(TEXGS_MAX_CHANNELS); ++c) r[c] = 0.0;
    if (use_filter == 1) {
        texgs_sample_grad(v_uv, dFdx(v_uv), dFdy(v_uv), r);
    } else {
        texgs_sample(v_uv, r);
    }
    frag = vec4(r[0], r[1], r[2], 1.0);
}
