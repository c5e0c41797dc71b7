// Build the tile index (docs/RUNTIME.md "Tile index") on the GPU from the packed records.
// The HLSL twin of engine_shaders/glsl/texgs_build_index.comp. Three dispatches of this
// shader, selected by `texgs_build_pass` in the constant buffer:
//   0 count: one thread per Gaussian (ceil(COUNT / 256) groups); atomically counts entries
//     per tile into texgs_tile_offsets[t + 1] (the buffer must be zeroed first).
//   1 scan:  one thread group; turns the counts into offsets (inclusive prefix sum in place)
//     and copies them to the fill cursors.
//   2 fill:  one thread per Gaussian; writes its id into every tile it overlaps (the tile
//     ids buffer must hold texgs_tile_offsets[TILES] words; read the total back after the
//     scan, or size it generously).
// Ids are written as 32-bit words (meta ID_BITS must be 32 for an index built here). List
// order within a tile is not defined; decoders break rank ties by id.
//
// Resources. Each has a D3D register and the Vulkan binding (descriptor set 0) used by
// texgs/hlsl_runner.py:
//   t0 / binding 0  StructuredBuffer<uint>    meta
//   t1 / binding 1  StructuredBuffer<uint>    records
//   u0 / binding 2  RWStructuredBuffer<uint>  tile offsets [TILES + 1]
//   u1 / binding 3  RWStructuredBuffer<uint>  tile ids (32 bits each)
//   u2 / binding 4  RWStructuredBuffer<uint>  fill cursors [TILES] (scratch)
//   b0 / binding 6  cbuffer: the pass (0, 1 or 2)
// The read-write buffers are used as globals here and never passed to functions: glslang 12
// miscompiles RWStructuredBuffer function parameters (see texgs_sample.hlsli).
#include "../texgs_layout.h"
#include "texgs_sample.hlsli"

#define TEXGS_BUILD_GROUP 256u

[[vk::binding(0, 0)]] StructuredBuffer<uint> texgs_meta : register(t0);
[[vk::binding(1, 0)]] StructuredBuffer<uint> texgs_records : register(t1);
[[vk::binding(2, 0)]] RWStructuredBuffer<uint> texgs_tile_offsets : register(u0);
[[vk::binding(3, 0)]] RWStructuredBuffer<uint> texgs_tile_ids : register(u1);
[[vk::binding(4, 0)]] RWStructuredBuffer<uint> texgs_cursors : register(u2);

[[vk::binding(6, 0)]] cbuffer TexgsBuildParams : register(b0) {
    uint texgs_build_pass;  // 0 count, 1 scan, 2 fill
    uint texgs_build_pad0;  // padding to 16 bytes (scalars, not a uint3: Vulkan's
    uint texgs_build_pad1;  // uniform layout wants a vector at a 16-byte offset)
    uint texgs_build_pad2;
};

groupshared uint texgs_scan_part[TEXGS_BUILD_GROUP];

// Count (fill == false) or list (fill == true) Gaussian i in every tile its padded box meets.
void texgs_visit(uint i, bool fill) {
    float2 mu;
    float3 cn;
    texgs_geometry(texgs_meta, texgs_records, i, mu, cn);
    float det = max(cn.x * cn.z - cn.y * cn.y, 1e-30f);
    // float32 here, float64 in the reference: the padding absorbs the difference
    float pad = 3.0f * sqrt(max(0.0f, asfloat(texgs_meta[TEXGS_META_FILTER_MAX_VAR])));
    float rx = (sqrt(TEXGS_CUTOFF_Q * cn.z / det) + pad) * 1.001f + 0.01f;
    float ry = (sqrt(TEXGS_CUTOFF_Q * cn.x / det) + pad) * 1.001f + 0.01f;
    uint tile = texgs_meta[TEXGS_META_TILE];
    uint nx = texgs_meta[TEXGS_META_TILES_X];
    uint ny = texgs_meta[TEXGS_META_TILES_Y];
    uint address = texgs_meta[TEXGS_META_ADDRESS];
    uint2 xr0, xr1, yr0, yr1;
    uint nxr = texgs_axis_ranges(mu.x - rx, mu.x + rx, (float)texgs_meta[TEXGS_META_WIDTH],
                                 tile, nx, (address & 3u) == 1u, xr0, xr1);
    uint nyr = texgs_axis_ranges(mu.y - ry, mu.y + ry, (float)texgs_meta[TEXGS_META_HEIGHT],
                                 tile, ny, ((address >> 2u) & 3u) == 1u, yr0, yr1);
    for (uint a = 0u; a < nyr; ++a) {
        uint2 yr = a == 0u ? yr0 : yr1;
        for (uint ty = yr.x; ty <= yr.y; ++ty) {
            for (uint b = 0u; b < nxr; ++b) {
                uint2 xr = b == 0u ? xr0 : xr1;
                for (uint tx = xr.x; tx <= xr.y; ++tx) {
                    uint t = ty * nx + tx;
                    if (fill) {
                        uint slot;
                        InterlockedAdd(texgs_cursors[t], 1u, slot);
                        texgs_tile_ids[slot] = i;
                    } else {
                        InterlockedAdd(texgs_tile_offsets[t + 1u], 1u);
                    }
                }
            }
        }
    }
}

[numthreads(TEXGS_BUILD_GROUP, 1, 1)]
void main(uint3 gid : SV_DispatchThreadID, uint3 lid3 : SV_GroupThreadID) {
    uint n = texgs_meta[TEXGS_META_COUNT];
    uint tiles = texgs_meta[TEXGS_META_TILES_X] * texgs_meta[TEXGS_META_TILES_Y];
    if (texgs_build_pass == 0u || texgs_build_pass == 2u) {
        uint i = gid.x;
        if (i < n) texgs_visit(i, texgs_build_pass == 2u);
        return;
    }
    // scan: one group of TEXGS_BUILD_GROUP threads, each owning a contiguous run of tiles
    uint lid = lid3.x;
    uint per = (tiles + TEXGS_BUILD_GROUP - 1u) / TEXGS_BUILD_GROUP;
    uint s0 = min(tiles, lid * per);
    uint s1 = min(tiles, s0 + per);
    uint sum = 0u;
    for (uint t = s0; t < s1; ++t) sum += texgs_tile_offsets[t + 1u];
    texgs_scan_part[lid] = sum;
    GroupMemoryBarrierWithGroupSync();
    if (lid == 0u) {
        uint run0 = 0u;
        for (uint k = 0u; k < TEXGS_BUILD_GROUP; ++k) {
            uint v = texgs_scan_part[k];
            texgs_scan_part[k] = run0;
            run0 += v;
        }
    }
    GroupMemoryBarrierWithGroupSync();
    uint run = texgs_scan_part[lid];
    for (uint t2 = s0; t2 < s1; ++t2) {
        run += texgs_tile_offsets[t2 + 1u];
        texgs_tile_offsets[t2 + 1u] = run;
    }
    // the cursors of a run start at the previous run's last offset, written by another thread
    DeviceMemoryBarrierWithGroupSync();
    for (uint t3 = s0; t3 < s1; ++t3) texgs_cursors[t3] = texgs_tile_offsets[t3];
    if (lid == 0u) texgs_tile_offsets[0] = 0u;
}
