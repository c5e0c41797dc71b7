// Pixel-shader path: every pixel samples the texture at its own texel centre, for an output
// of any size. Up to 16 channels over four RGBA32Float render targets (SV_Target0 holds
// channels 0..3, SV_Target1 4..7, ...; unused components are 0). Draw with
// fullscreen_vs.hlsl. The HLSL twin of engine_shaders/glsl/texgs_decode.frag.
//
// Row order: SV_Position is the pixel centre with y growing downward from the top row of the
// render target, in Direct3D and in Vulkan alike, which is the texture's own convention
// (row 0 at the top): no flip. (The OpenGL version flips because gl_FragCoord starts at the
// bottom.)
//
// Resources: t0..t3 / Vulkan bindings 0..3 (set 0) the four texgs buffers,
// b0 / binding 6 the output size and map finish words (same layout as texgs_decode_cs.hlsl;
// a finish count of 0: every channel as blended).
// the four targets hold 16 channels: TEXGS_MAX_CHANNELS is 16 here whatever was passed in
#ifdef TEXGS_MAX_CHANNELS
#undef TEXGS_MAX_CHANNELS
#endif
#define TEXGS_MAX_CHANNELS 16
#include "../texgs_layout.h"
#include "texgs_sample.hlsli"

[[vk::binding(0, 0)]] StructuredBuffer<uint> texgs_meta : register(t0);
[[vk::binding(1, 0)]] StructuredBuffer<uint> texgs_records : register(t1);
[[vk::binding(2, 0)]] StructuredBuffer<uint> texgs_tile_offsets : register(t2);
[[vk::binding(3, 0)]] StructuredBuffer<uint> texgs_tile_ids : register(t3);

[[vk::binding(6, 0)]] cbuffer TexgsDecodeParams : register(b0) {
    uint2 texgs_out_size;    // render target width, height in pixels
    float texgs_filter_var;  // unused here (point sampling, like texgs_decode.frag)
    uint texgs_pad;
    uint4 texgs_finish;      // map finish (first channel, count, flags, log2 mask); count 0: none
};

struct TexgsPsOut {
    float4 t0 : SV_Target0;
    float4 t1 : SV_Target1;
    float4 t2 : SV_Target2;
    float4 t3 : SV_Target3;
};

TexgsPsOut main(float4 pos : SV_Position) {
    float2 tex_size = float2((float)texgs_meta[TEXGS_META_WIDTH],
                             (float)texgs_meta[TEXGS_META_HEIGHT]);
    // pos.xy = (i + 0.5, j + 0.5): the output texel centre
    float2 p = pos.xy * (tex_size / (float2)texgs_out_size);
    float r[TEXGS_MAX_CHANNELS];
    for (uint c = 0u; c < (uint)TEXGS_MAX_CHANNELS; ++c) r[c] = 0.0f;
    texgs_sample_texel(texgs_meta, texgs_records, texgs_tile_offsets, texgs_tile_ids, p, r);
    texgs_finish_channels(r, texgs_finish);
    TexgsPsOut o;
    o.t0 = float4(r[0], r[1], r[2], r[3]);
    o.t1 = float4(r[4], r[5], r[6], r[7]);
    o.t2 = float4(r[8], r[9], r[10], r[11]);
    o.t3 = float4(r[12], r[13], r[14], r[15]);
    return o;
}
