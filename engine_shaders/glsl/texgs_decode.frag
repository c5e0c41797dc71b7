#version 430
// Fragment-shader path: every fragment samples the texture at its own texel centre. Up to
// 16 channels over four RGBA32F targets. Framebuffer row 0 is the bottom (OpenGL), texture
// row 0 the top: the flip happens here. `finish`: as in texgs_decode.comp (map finish words;
// count 0, the default: every channel as blended).
#include "../texgs_layout.h"
#include "texgs_buffers.glsl"
#include "texgs_sample.glsl"

uniform uvec2 out_size;
uniform uvec4 finish;  // map finish (first channel, count, flags, log2 mask); count 0: none
layout(location = 0) out vec4 out0;
layout(location = 1) out vec4 out1;
layout(location = 2) out vec4 out2;
layout(location = 3) out vec4 out3;

void main() {
    vec2 tex_size = vec2(float(texgs_load_meta(TEXGS_META_WIDTH)),
                         float(texgs_load_meta(TEXGS_META_HEIGHT)));
    vec2 fc = vec2(gl_FragCoord.x, float(out_size.y) - gl_FragCoord.y);
    vec2 p = fc * (tex_size / vec2(out_size));
    float r[TEXGS_MAX_CHANNELS];
    for (uint c = 0u; c < uint(TEXGS_MAX_CHANNELS); ++c) r[c] = 0.0;
    texgs_sample_texel(p, r);
    texgs_finish_channels(r, finish);
    out0 = vec4(r[0], r[1], r[2], r[3]);
    out1 = vec4(r[4], r[5], r[6], r[7]);
    out2 = vec4(r[8], r[9], r[10], r[11]);
    out3 = vec4(r[12], r[13], r[14], r[15]);
}
