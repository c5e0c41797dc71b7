// The CUDA kernels themselves (cuda/texgs_kernels.cu on the CPU model of
// cuda/cpu_emulation.hpp) over the broken-asset corpus, built with ASan + UBSan by
// tests/test_cuda.py: every launch the decoder makes, on buffers of exactly the length
// each case file gives, so that a read or write past a device buffer or a shared array is
// a sanitizer report. Case files: cuda/case_file.hpp. One line per case:
//   <path> ok <checksum>           texgs_validate_kernel passed; every decode ran
//   <path> rejected <code>         it refused the buffers, and so did a decode kernel
// Exit 0 when every case is done; 2 on an unreadable case file, 3 when a launch fails
// (the emulation's message on stderr) or a kernel disagrees with the validation.
#include "../../cuda/cpu_kernels.cpp"
#include "case_file.hpp"

#include <math.h>
#include <stdio.h>

namespace {

// Launch `name` with the argument values vals (each passed by address, as cuLaunchKernel
// takes them); exits 3 with the emulation's message when the launch fails.
template <class... V>
void launch(const std::string& name, dim3 grid, dim3 block, V... vals) {
    void* args[] = {static_cast<void*>(&vals)..., nullptr};
    const uint32_t sizes[] = {static_cast<uint32_t>(sizeof(V))..., 0u};
    const uint32_t g[3] = {grid.x, grid.y, grid.z}, b[3] = {block.x, block.y, block.z};
    const std::string err = texgs_cpu::launch_checked(kernels(), name.c_str(), g, b, args, sizes,
                                                      sizeof...(V));
    if (!err.empty()) {
        fprintf(stderr, "launch failed: %s\n", err.c_str());
        exit(3);
    }
}

std::string build(const char* kernel, uint32_t k) {
    return k >= 1u && k <= 8u ? std::string(kernel) + "_k" + std::to_string(k) : kernel;
}

uint32_t ceil_div(uint32_t a, uint32_t b) { return (a + b - 1u) / b; }

}  // namespace

int main(int argc, char** argv) {
    for (int a = 1; a < argc; ++a) {
        std::vector<uint32_t> bufs[4];
        if (!texgs_read_case(argv[a], bufs)) {
            fprintf(stderr, "%s: unreadable case file\n", argv[a]);
            return 2;
        }
        const uint32_t* meta = texgs_data_or_null(bufs[0]);
        const uint32_t meta_words = (uint32_t)bufs[0].size();
        const uint32_t* records = texgs_data_or_null(bufs[1]);
        const uint32_t record_words = (uint32_t)bufs[1].size();
        const uint32_t* offsets = texgs_data_or_null(bufs[2]);
        const uint32_t offset_words = (uint32_t)bufs[2].size();
        const uint32_t* ids = texgs_data_or_null(bufs[3]);
        const uint32_t id_words = (uint32_t)bufs[3].size();
        const float* no_floats = nullptr;
        const uint32_t zero = 0u;
#define BUFFERS meta, meta_words, records, record_words, offsets, offset_words, ids, id_words
        int status = 1234;
        launch("texgs_validate_kernel", dim3{1, 1, 1}, dim3{1, 1, 1}, BUFFERS, no_floats, zero,
               no_floats, zero, 1, &status);
        if (status != TEXGS_OK) {
            // a decode kernel must refuse the same buffers and write nothing
            std::vector<float> out(64, 7.0f);
            int st = 0;
            launch("texgs_decode_grid_kernel", dim3{1, 1, 1}, dim3{16, 16, 1}, BUFFERS,
                   no_floats, zero, no_floats, zero, 8u, 8u, 0.0f, 0u, 0u, 0u, 0u,
                   out.data(), (uint32_t*)nullptr, &st);
            bool untouched = true;
            for (float v : out) untouched = untouched && v == 7.0f;
            if (st != status || !untouched) {
                fprintf(stderr, "%s: validation said %d, the decode kernel %d%s\n", argv[a],
                        status, st, untouched ? "" : " and wrote output");
                return 3;
            }
            printf("%s rejected %d\n", argv[a], status);
            fflush(stdout);
            continue;
        }
        const uint32_t w = meta[TEXGS_META_WIDTH], h = meta[TEXGS_META_HEIGHT];
        const uint32_t nch = meta[TEXGS_META_CHANNELS], k = meta[TEXGS_META_TOP_K];
        const uint32_t count = meta[TEXGS_META_COUNT], tile = meta[TEXGS_META_TILE];
        double checksum = 0.0;
        int st = 0;
        // per-texel kernel: at most 16 x 16 texels with a map finish, then filtered
        const uint32_t gw = w < 16u ? w : 16u, gh = h < 16u ? h : 16u;
        std::vector<float> out((size_t)gw * gh * nch);
        std::vector<uint32_t> cand((size_t)gw * gh);
        launch(build("texgs_decode_grid_kernel", k), dim3{1, 1, 1}, dim3{16, 16, 1}, BUFFERS,
               no_floats, zero, no_floats, zero, gw, gh, 0.0f, 0u, nch < 3u ? nch : 3u,
               (uint32_t)TEXGS_MAP_FLAG_NORMAL_Z, 1u, out.data(), cand.data(), &st);
        for (float v : out) checksum += v;
        const uint32_t fw = ceil_div(gw, 4u), fh = ceil_div(gh, 4u);
        std::vector<float> small((size_t)fw * fh * nch);
        launch(build("texgs_decode_grid_kernel", k), dim3{1, 1, 1}, dim3{16, 16, 1}, BUFFERS,
               no_floats, zero, no_floats, zero, fw, fh, texgs_footprint_variance(4.0f), 0u, 0u,
               0u, 0u, small.data(), (uint32_t*)nullptr, &st);
        for (float v : small) checksum += v;
        // tile-cooperative kernels on the whole texture (small ones): one launch block per
        // texel block and a persistent grid of 3; the two-row build where K has one
        const uint32_t blk = tile < 8u ? tile : 8u;
        if ((uint64_t)w * h <= 16384u && tile % blk == 0u) {
            std::vector<float> full((size_t)w * h * nch);
            std::vector<uint32_t> fcand((size_t)w * h);
            const dim3 grids[2] = {dim3{ceil_div(w, blk), ceil_div(h, blk), 1}, dim3{3, 1, 1}};
            for (const dim3& g : grids) {
                launch(build("texgs_decode_tiles_kernel", k), g, dim3{blk, blk, 1}, BUFFERS,
                       no_floats, zero, no_floats, zero, 0u, 0u, 0u, 0u, full.data(),
                       fcand.data(), &st);
                for (float v : full) checksum += v;
                if (k <= 8u && blk % 2u == 0u) {
                    launch("texgs_decode_tiles2_kernel_k" + std::to_string(k), g,
                           dim3{blk, blk / 2u, 1}, BUFFERS, no_floats, zero, no_floats, zero,
                           0u, 0u, 0u, 0u, full.data(), fcand.data(), &st);
                    for (float v : full) checksum += v;
                }
            }
        }
        // UV points inside, outside and not finite
        const double uv[] = {0.5, 0.5, 0.0, 0.0, 1.0, 1.0, -0.25, 1.75, 3.5, -2.0, 1e30, -1e30,
                             HUGE_VAL, -HUGE_VAL, NAN, 0.5, 0.999999, 0.0};
        const uint32_t npts = sizeof uv / sizeof uv[0] / 2u;
        std::vector<double> d_uv(uv, uv + 2u * npts);
        std::vector<float> pts((size_t)npts * nch);
        launch(build("texgs_decode_uv_kernel", k), dim3{1, 1, 1}, dim3{32, 1, 1}, BUFFERS,
               no_floats, zero, no_floats, zero, (const double*)d_uv.data(), npts, pts.data(),
               &st);
        for (uint32_t i = 0; i < 6u * nch; ++i) checksum += pts[i];  // the finite inputs
        // the tile index from the records: count, scan, fill (index kernels take no index)
        const uint32_t tiles = meta[TEXGS_META_TILES_X] * meta[TEXGS_META_TILES_Y];
        const uint32_t* no_ids = nullptr;
        if (tiles <= 65536u) {
            std::vector<uint32_t> ioff(tiles + 1u, 0u), cursors(tiles, 0u);
            const dim3 pgrid{ceil_div(count, 64u), 1, 1};
            launch("texgs_index_count_kernel", pgrid, dim3{64, 1, 1}, meta, meta_words,
                   records, record_words, no_ids, zero, no_ids, zero, no_floats, zero,
                   no_floats, zero, ioff.data(), &st);
            launch("texgs_index_scan_kernel", dim3{1, 1, 1}, dim3{256, 1, 1}, tiles,
                   ioff.data(), cursors.data());
            std::vector<uint32_t> iids(ioff[tiles]);
            launch("texgs_index_fill_kernel", pgrid, dim3{64, 1, 1}, meta, meta_words, records,
                   record_words, no_ids, zero, no_ids, zero, no_floats, zero, no_floats, zero,
                   cursors.data(), texgs_data_or_null(iids), &st);
            checksum += ioff[tiles];
        }
        // the expanded records (exactly COUNT entries), then the per-texel decode from them
        std::vector<float> geo(5u * (size_t)count), col((size_t)nch * count);
        launch("texgs_expand_kernel", dim3{ceil_div(count, 64u), 1, 1}, dim3{64, 1, 1}, BUFFERS,
               no_floats, zero, no_floats, zero, geo.data(), col.data(), &st);
        const float* g = geo.data();
        const float* c = col.data();
        launch(build("texgs_decode_grid_kernel", k), dim3{1, 1, 1}, dim3{16, 16, 1}, BUFFERS,
               g, (uint32_t)geo.size(), c, (uint32_t)col.size(), gw, gh, 0.0f, 0u, 0u, 0u, 0u,
               out.data(), (uint32_t*)nullptr, &st);
        for (float v : out) checksum += v;
#undef BUFFERS
        printf("%s ok %.9g\n", argv[a], checksum);
        fflush(stdout);
    }
    return 0;
}
