// Case files of the sanitizer runs (cuda/host_harness.cpp and
// tests/cuda_cases/sanitize_kernels.cpp, written by tests/test_cuda.py corpus_cases): "TGSC",
// four little-endian u32 word counts (meta, records, tile_offsets, tile_ids), then those
// buffers' words.
#ifndef TEXGS_CASE_FILE_HPP
#define TEXGS_CASE_FILE_HPP

#include <stdint.h>
#include <stdio.h>

#include <vector>

// Read a case into bufs[0..3], each exactly as long as the file says (so that ASan sees any
// read past one); false for an unreadable or malformed file.
inline bool texgs_read_case(const char* path, std::vector<uint32_t> bufs[4]) {
    FILE* f = fopen(path, "rb");
    if (!f) return false;
    char magic[4];
    uint32_t n[4];
    bool ok = fread(magic, 1, 4, f) == 4 && magic[0] == 'T' && magic[1] == 'G' &&
              magic[2] == 'S' && magic[3] == 'C' && fread(n, 4, 4, f) == 4;
    for (int k = 0; ok && k < 4; ++k) {
        bufs[k].resize(n[k]);
        ok = fread(bufs[k].data(), 4, n[k], f) == n[k];
    }
    fclose(f);
    return ok;
}

// A buffer's data, or null when it is empty (as an upload of nothing would be).
template <class T>
T* texgs_data_or_null(std::vector<T>& v) {
    return v.empty() ? nullptr : v.data();
}

#endif  // TEXGS_CASE_FILE_HPP
