// Example bindings for texgs_sample.glsl (GLSL 4.30): four read-only storage buffers and the
// accessors the library calls. Engines may bind differently; this file is what the texgs
// decode shaders and tests use (bindings 0..3).
layout(std430, binding = 0) readonly buffer TexgsMeta { uint texgs_meta[]; };
layout(std430, binding = 1) readonly buffer TexgsRecords { uint texgs_records[]; };
layout(std430, binding = 2) readonly buffer TexgsTileOffsets { uint texgs_tile_offsets[]; };
layout(std430, binding = 3) readonly buffer TexgsTileIds { uint texgs_tile_id_words[]; };

uint texgs_load_meta(uint i) { return texgs_meta[i]; }
uint texgs_load_record(uint i) { return texgs_records[i]; }
uint texgs_load_tile_offset(uint i) { return texgs_tile_offsets[i]; }
uint texgs_load_tile_ids(uint i) { return texgs_tile_id_words[i]; }
