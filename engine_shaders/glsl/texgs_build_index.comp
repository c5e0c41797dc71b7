#version 430
// Build the tile index (docs/RUNTIME.md "Tile index") on the GPU from the packed records.
// Three dispatches of this shader, selected by `build_pass`:
//   0 count: one invocation per Gaussian; atomically counts entries per tile into
//     tile_offsets[t + 1] (the buffer must be zeroed first).
//   1 scan:  one workgroup; turns the counts into offsets (inclusive prefix sum in place)
//     and copies them to the fill cursors.
//   2 fill:  one invocation per Gaussian; writes its id into every tile it overlaps.
// Ids are written as 32-bit words (meta ID_BITS must be 32 for an index built here). List
// order within a tile is not defined; decoders break rank ties by id.
layout(local_size_x = 256) in;
#include "../texgs_layout.h"

layout(std430, binding = 0) readonly buffer TexgsMeta { uint texgs_meta[]; };
layout(std430, binding = 1) readonly buffer TexgsRecords { uint texgs_records[]; };
layout(std430, binding = 2) buffer TexgsTileOffsets { uint tile_offsets[]; };
layout(std430, binding = 3) buffer TexgsTileIds { uint tile_ids[]; };
layout(std430, binding = 6) buffer TexgsCursors { uint cursors[]; };
uniform uint build_pass;

uint texgs_load_meta(uint i) { return texgs_meta[i]; }
uint texgs_load_record(uint i) { return texgs_records[i]; }
uint texgs_load_tile_offset(uint i) { return tile_offsets[i]; }
uint texgs_load_tile_ids(uint i) { return tile_ids[i]; }
#include "texgs_sample.glsl"

void texgs_visit(uint i, bool fill) {
    vec2 mu;
    vec3 cn;
    texgs_geometry(i, mu, cn);
    float det = max(cn.x * cn.z - cn.y * cn.y, 1e-30);
    // float32 here, float64 in the reference: the padding absorbs the difference
    float pad = 3.0 * sqrt(max(0.0, uintBitsToFloat(texgs_load_meta(TEXGS_META_FILTER_MAX_VAR))));
    float rx = (sqrt(TEXGS_CUTOFF_Q * cn.z / det) + pad) * 1.001 + 0.01;
    float ry = (sqrt(TEXGS_CUTOFF_Q * cn.x / det) + pad) * 1.001 + 0.01;
    uint tile = texgs_load_meta(TEXGS_META_TILE);
    uint nx = texgs_load_meta(TEXGS_META_TILES_X);
    uint ny = texgs_load_meta(TEXGS_META_TILES_Y);
    uint address = texgs_load_meta(TEXGS_META_ADDRESS);
    uvec2 xr[2];
    uvec2 yr[2];
    uint nxr = texgs_axis_ranges(mu.x - rx, mu.x + rx, float(texgs_load_meta(TEXGS_META_WIDTH)),
                                 tile, nx, (address & 3u) == 1u, xr[0], xr[1]);
    uint nyr = texgs_axis_ranges(mu.y - ry, mu.y + ry, float(texgs_load_meta(TEXGS_META_HEIGHT)),
                                 tile, ny, ((address >> 2u) & 3u) == 1u, yr[0], yr[1]);
    for (uint a = 0u; a < nyr; ++a) {
        for (uint ty = yr[a].x; ty <= yr[a].y; ++ty) {
            for (uint b = 0u; b < nxr; ++b) {
                for (uint tx = xr[b].x; tx <= xr[b].y; ++tx) {
                    uint t = ty * nx + tx;
                    if (fill) {
                        tile_ids[atomicAdd(cursors[t], 1u)] = i;
                    } else {
                        atomicAdd(tile_offsets[t + 1u], 1u);
                    }
                }
            }
        }
    }
}

shared uint scan_part[256];

void main() {
    uint n = texgs_load_meta(TEXGS_META_COUNT);
    uint tiles = texgs_load_meta(TEXGS_META_TILES_X) * texgs_load_meta(TEXGS_META_TILES_Y);
    if (build_pass == 0u || build_pass == 2u) {
        uint i = gl_GlobalInvocationID.x;
        if (i < n) texgs_visit(i, build_pass == 2u);
        return;
    }
    // scan: 256 invocations, each owning a contiguous run of tiles
    uint lid = gl_LocalInvocationID.x;
    uint per = (tiles + 255u) / 256u;
    uint s0 = min(tiles, lid * per);
    uint s1 = min(tiles, s0 + per);
    uint sum = 0u;
    for (uint t = s0; t < s1; ++t) sum += tile_offsets[t + 1u];
    scan_part[lid] = sum;
    barrier();
    if (lid == 0u) {
        uint run = 0u;
        for (uint k = 0u; k < 256u; ++k) {
            uint v = scan_part[k];
            scan_part[k] = run;
            run += v;
        }
    }
    barrier();
    uint run = scan_part[lid];
    for (uint t = s0; t < s1; ++t) {
        run += tile_offsets[t + 1u];
        tile_offsets[t + 1u] = run;
    }
    memoryBarrierBuffer();
    barrier();
    for (uint t = s0; t < s1; ++t) cursors[t] = tile_offsets[t];
    if (lid == 0u) tile_offsets[0] = 0u;
}
