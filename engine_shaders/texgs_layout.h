// texgs runtime buffer layout. GENERATED from texgs/layout.py by
// `python -m texgs.layout`; do not edit. Valid GLSL, HLSL, C, C++ and CUDA.
// See docs/RUNTIME.md.
#ifndef TEXGS_LAYOUT_H
#define TEXGS_LAYOUT_H
#define TEXGS_META_WIDTH 0u
#define TEXGS_META_HEIGHT 1u
#define TEXGS_META_CHANNELS 2u
#define TEXGS_META_COUNT 3u
#define TEXGS_META_TOP_K 4u
#define TEXGS_META_TILE 5u
#define TEXGS_META_TILES_X 6u
#define TEXGS_META_TILES_Y 7u
#define TEXGS_META_ADDRESS 8u
#define TEXGS_META_POS_BITS 9u
#define TEXGS_META_SCALE_BITS 10u
#define TEXGS_META_ROT_BITS 11u
#define TEXGS_META_RECORD_BITS 12u
#define TEXGS_META_LOG2_SMIN 13u
#define TEXGS_META_LOG2_SMAX 14u
#define TEXGS_META_ID_BITS 15u
#define TEXGS_META_FILTER_MAX_VAR 16u
#define TEXGS_META_CHANNEL_BASE 20u
#define TEXGS_META_CHANNEL_STRIDE 4u
#define TEXGS_CH_BITS_OFFSET 0u
#define TEXGS_CH_LO 1u
#define TEXGS_CH_HI 2u
#define TEXGS_CH_FALLBACK 3u
#define TEXGS_MAP_FLAG_NORMAL_Z 1u
#define TEXGS_CUTOFF_Q 9.e+00
#define TEXGS_BLEND_EPS 1.e-04
#define TEXGS_W_CUT 1.1108996e-02
#define TEXGS_LOG2_OFFSET 9.765625e-04
#endif
