// CPU harness of cuda/texgs_math.cuh (plain C++, no CUDA): runs the CUDA decoder's per-texel
// math on the CPU so tests without a GPU check it against the NumPy reference.
//
//   g++ -std=c++14 -O2 -ffp-contract=off -shared -fPIC cuda/host_harness.cpp -o harness.so
//       (ctypes: the texgs_harness_* functions below; tests/test_cuda.py)
//   g++ -std=c++14 -O1 -g -ffp-contract=off -fsanitize=address,undefined
//       -fno-sanitize-recover=all cuda/host_harness.cpp -o harness
//       ./harness CASE...   (sanitizer runs over the broken-asset corpus)
//
// CASE files: cuda/case_file.hpp. For each case the program prints one line:
//   <path> ok <checksum>           buffers valid; decoded (grid, filtered grid, tiles, UV
//                                  points), every tile list walked, the tile index rebuilt
//   <path> rejected <code> <text>  texgs_validate_buffers refused the buffers
// and exits 0 once every case is done (2 on an unreadable case file).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <vector>

#include "case_file.hpp"
#include "texgs_math.cuh"

#define TEXGS_HARNESS_MESSAGE(code, name, msg) \
    case code:                                 \
        return #name ": " msg;

// The runtime buffers and the optional expanded records (null, 0: the packed records), as
// the kernels take them.
#define TEXGS_HARNESS_BUFFERS                                                                  \
    const uint32_t *meta, uint32_t meta_words, const uint32_t *records, uint32_t record_words, \
        const uint32_t *tile_offsets, uint32_t offset_words, const uint32_t *tile_ids,         \
        uint32_t id_words, const float *geometry, uint32_t geometry_words, const float *colors, \
        uint32_t color_words

static texgs_buffers make_buffers(TEXGS_HARNESS_BUFFERS) {
    texgs_buffers b = {meta,     meta_words, records,        record_words, tile_offsets,
                       offset_words, tile_ids, id_words,     geometry,     geometry_words,
                       colors,   color_words};
    return b;
}

#define TEXGS_HARNESS_ARGS                                                                   \
    meta, meta_words, records, record_words, tile_offsets, offset_words, tile_ids, id_words, \
        geometry, geometry_words, colors, color_words

namespace {

struct CountVisit {
    std::vector<uint32_t>* counts;
    void operator()(uint32_t t) { ++(*counts)[t + 1u]; }
};

struct FillVisit {
    std::vector<uint32_t>* cursors;
    uint32_t* ids;
    uint32_t id;
    void operator()(uint32_t t) { ids[(*cursors)[t]++] = id; }
};

// Run f.template run<CAP>() with CAP = texgs_topk_capacity(k): the top-K build a kernel
// launch for top-K k uses (an exact build for K 1..TEXGS_TOPK_EXACT_MAX, else the generic
// one), so every build's math is run here.
bool g_generic_build = false;  // texgs_harness_use_generic_build: every K takes the generic build
uint32_t g_tile_rows = 1u;  // texgs_harness_use_tile_rows: texel rows per thread of the tile decode

template <class F>
int with_topk_build(uint32_t k, F& f) {
    const uint32_t cap = g_generic_build ? TEXGS_LIMIT_TOP_K : texgs_topk_capacity(k);
    if (!texgs_topk_build_serves(cap, k)) return -3;  // as the kernels' texgs_block_valid
    switch (cap) {
        case 1u: return f.template run<1u>();
        case 2u: return f.template run<2u>();
        case 3u: return f.template run<3u>();
        case 4u: return f.template run<4u>();
        case 5u: return f.template run<5u>();
        case 6u: return f.template run<6u>();
        case 7u: return f.template run<7u>();
        case 8u: return f.template run<8u>();
        default: return f.template run<TEXGS_LIMIT_TOP_K>();
    }
}

static_assert(TEXGS_TOPK_EXACT_MAX == 8u, "with_topk_build lists the exact builds 1..8");

// texgs_decode_grid_kernel's texels, one after another.
struct GridDecode {
    const texgs_buffers& b;
    uint32_t out_w, out_h;
    float filter_var;
    texgs_finish fin;
    float* out;
    uint32_t* candidates;
    uint32_t* reached;
    template <uint32_t CAP>
    int run() {
        const uint32_t nch = b.meta[TEXGS_META_CHANNELS];
        for (uint32_t j = 0; j < out_h; ++j)
            for (uint32_t i = 0; i < out_w; ++i) {
                const uint64_t texel = (uint64_t)j * out_w + i;
                const uint32_t cand = texgs_decode_grid_texel<CAP>(
                    b, i, j, out_w, out_h, filter_var, fin, out + texel * nch,
                    reached ? reached + texel : nullptr);
                if (candidates) candidates[texel] = cand;
            }
        return TEXGS_OK;
    }
};

// texgs_decode_uv_kernel's points, one after another.
struct PointDecode {
    const texgs_buffers& b;
    const double* uv;
    uint32_t n;
    float* out;
    template <uint32_t CAP>
    int run() {
        const uint32_t nch = b.meta[TEXGS_META_CHANNELS];
        for (uint32_t p = 0; p < n; ++p)
            texgs_decode_uv_point<CAP>(b, uv[2u * p], uv[2u * p + 1u], out + (uint64_t)p * nch);
        return TEXGS_OK;
    }
};

template <uint32_t CAP>
int decode_tiles(const texgs_buffers& b, uint32_t block, uint32_t batch, uint32_t color_cache,
                 const uint32_t* finish, float* out, uint32_t* candidates, uint32_t* kept) {
    const uint32_t* meta = b.meta;
    const int status = texgs_validate_buffers(b, true);
    if (status != TEXGS_OK) return status;
    const uint32_t tile = meta[TEXGS_META_TILE], tiles_x = meta[TEXGS_META_TILES_X];
    if (batch < 1u || batch > TEXGS_TILE_BATCH || color_cache > TEXGS_TILE_COLOR_CACHE ||
        block < 1u || block > 32u || tile % block != 0u || (g_tile_rows == 2u && block % 2u))
        return -1;
    texgs_finish fin = {0u, 0u, 0u, 0u};
    if (finish) fin = texgs_finish{finish[0], finish[1], finish[2], finish[3]};
    uint32_t sid[TEXGS_TILE_BATCH];
    // zeroed: texgs_topk32_widen reads every slot its words name, a free one's (63) too
    texgs_slot_geo sgeo[TEXGS_TILE_BATCH] = {};
    texgs_slot_cid scid[TEXGS_TILE_BATCH] = {};
    std::vector<float> scol(TEXGS_TILE_COLOR_CACHE);
    const texgs_batch s = {sgeo, scid, scol.data()};
    const uint32_t w = meta[TEXGS_META_WIDTH], h = meta[TEXGS_META_HEIGHT];
    const uint32_t nch = meta[TEXGS_META_CHANNELS];
    const uint32_t nbx = (w + block - 1u) / block, nby = (h + block - 1u) / block;
    const uint32_t nthreads = block * block;
    std::vector<texgs_topk<CAP>> ranks(nthreads);
    for (uint32_t by = 0; by < nby; ++by)
        for (uint32_t bx = 0; bx < nbx; ++bx) {
            const uint32_t t = (by * block / tile) * tiles_x + bx * block / tile;
            texgs_list list = texgs_list_begin(b, t);  // the kernel's shared cursor
            const texgs_list head = list;               // and each thread's copy of its header
            const uint32_t total = head.n;
            for (auto& r : ranks) texgs_topk_init(&r, meta[TEXGS_META_TOP_K]);
            uint32_t kept_total = 0u;
            const bool cached = texgs_tile_colors_cached(b, total, batch, color_cache);
            const bool whole = total <= batch;  // one batch: the 32-bit ranking words
            for (uint64_t base = 0; base < total; base += batch) {  // 64-bit: no wrap
                const uint32_t n = (uint32_t)(total - base < batch ? total - base : batch);
                uint32_t nkeep = 0u;
                if (head.rice)  // thread 0 decodes the batch's ids
                    for (uint32_t j = 0; j < n; ++j) sid[j] = texgs_list_next(b, &list);
                for (uint32_t j0 = 0; j0 < n; j0 += nthreads)  // thread lid: j0 + lid
                    for (uint32_t lid = nthreads; lid-- > 0u;) {
                        const uint32_t j = j0 + lid;
                        if (j >= n) continue;
                        const uint32_t id =
                            head.rice ? sid[j] : texgs_list_entry(b, head, base + j);
                        texgs_gaussian g;
                        if (!texgs_block_candidate(b, id, block, tile, bx, by, &g)) continue;
                        texgs_batch_store(b, id, g, nkeep++, s, cached);
                    }
                kept_total += nkeep;
                for (uint32_t k = 0; k < nthreads; ++k) {
                    const uint32_t x = bx * block + k % block, y = by * block + k / block;
                    if (g_tile_rows == 2u) {  // thread k < nthreads / 2: rows y, y + block / 2
                        if (k >= nthreads / 2u) continue;
                        const uint32_t y1 = y + block / 2u;
                        if (x < w && (y < h || y1 < h))
                            texgs_batch_rank2(b, x + 0.5f, y + 0.5f, y1 + 0.5f, y < h, y1 < h,
                                              s, nkeep, whole, &ranks[k],
                                              &ranks[k + nthreads / 2u]);
                    } else if (x < w && y < h) {
                        texgs_batch_rank(b, x + 0.5f, y + 0.5f, s, nkeep, whole, &ranks[k]);
                    }
                }
            }
            for (uint32_t k = 0; k < nthreads; ++k) {
                const uint32_t x = bx * block + k % block, y = by * block + k / block;
                if (x >= w || y >= h) continue;
                const uint64_t texel = (uint64_t)y * w + x;
                texgs_topk_blend(b, &ranks[k], false, total == 0u, out + texel * nch,
                                 cached ? scol.data() : nullptr);
                texgs_finish_channels(out + texel * nch, nch, fin);
                if (candidates) candidates[texel] = total;
                if (kept) kept[texel] = kept_total;
            }
        }
    return TEXGS_OK;
}

// decode_tiles for the build of the buffers' K.
struct TilesDecode {
    const texgs_buffers& b;
    uint32_t block, batch, color_cache;
    const uint32_t* finish;
    float* out;
    uint32_t *candidates, *kept;
    template <uint32_t CAP>
    int run() {
        return decode_tiles<CAP>(b, block, batch, color_cache, finish, out, candidates, kept);
    }
};

// The 32-bit ranking of a whole-list batch (texgs_topk32) over n <= 64 candidates of q
// qs[j] and low half lows[j] (its slot, j, in the low 6 bits), then texgs_topk32_finish's
// step: widened where the words decide, else the 64-bit ranking of the same candidates (the
// cutoff refusing q >= 9 and NaN in both). words[0 .. k-1]: the K words; *decided: whether
// the 32-bit words decided; returns the number kept.
struct Topk32 {
    const float* qs;
    const uint32_t* lows;
    uint32_t n, k;
    uint64_t* words;
    int* decided;
    // the batch's slots as the kernel's shared arrays hold them: every one of the
    // TEXGS_TILE_BATCH readable (texgs_topk32_widen reads a free word's slot, 63, too)
    struct KeyLow {
        float qs[TEXGS_TILE_BATCH];
        uint32_t lows[TEXGS_TILE_BATCH];
        void operator()(uint32_t j, float* key, uint32_t* low) const {
            *key = qs[j];
            *low = lows[j];
        }
    };
    template <uint32_t CAP>
    int run() {
        return run_exact<CAP>(texgs_flag<(CAP <= TEXGS_TOPK_EXACT_MAX)>());
    }
    template <uint32_t CAP>
    int run_exact(texgs_flag<false>) { return -3; }
    template <uint32_t CAP>
    int run_exact(texgs_flag<true>) {
        texgs_topk32<CAP + 1u> a;
        texgs_topk32_init(&a);
        for (uint32_t j = 0; j < n; ++j) texgs_topk32_push(&a, texgs_rank32_word(qs[j], lows[j]));
        texgs_topk<CAP> r;
        texgs_topk_init(&r, CAP);
        *decided = texgs_topk32_decides(a) ? 1 : 0;
        if (*decided) {
            KeyLow key_low = {};
            for (uint32_t j = 0; j < n; ++j) {
                key_low.qs[j] = qs[j];
                key_low.lows[j] = lows[j];
            }
            texgs_topk32_widen<CAP>(a, key_low, &r);
        } else {
            for (uint32_t j = 0; j < n; ++j)
                texgs_topk_push(&r, qs[j] < TEXGS_F_CUTOFF_Q, qs[j], lows[j]);
        }
        int kept = 0;
        for (uint32_t s = 0; s < CAP; ++s) {
            words[s] = r.word[s];
            kept += r.kept(s) ? 1 : 0;
        }
        return kept;
    }
};

}  // namespace

// Top-K k of a run of n candidates (key, low half, ok) pushed one after another with
// texgs_topk_push (the tile kernel's ranking) into the build for k (texgs_harness_use_generic_build
// applies): words[0 .. k-1] get the K words after the run, and the return is the number
// kept (kept(s) of each slot), or -3 when the build does not serve k.
struct TopkPush {
    const float* keys;
    const uint32_t* lows;
    const uint8_t* ok;
    uint32_t n, k;
    uint64_t* words;
    template <uint32_t CAP>
    int run() {
        texgs_topk<CAP> r;
        texgs_topk_init(&r, k);
        for (uint32_t i = 0; i < n; ++i) texgs_topk_push(&r, ok[i] != 0u, keys[i], lows[i]);
        int kept = 0;
        for (uint32_t s = 0; s < k; ++s) {
            words[s] = r.word[s];
            kept += r.kept(s) ? 1 : 0;
        }
        return kept;
    }
};

extern "C" {

// The message of a texgs_status code ("NAME: text").
const char* texgs_harness_status_message(int code) {
    switch (code) {
        TEXGS_STATUS_LIST(TEXGS_HARNESS_MESSAGE)
        default:
            return "unknown status";
    }
}

// From now on decode every K with the generic build (capacity TEXGS_LIMIT_TOP_K, K read at
// run time) when `generic` is non-zero, else with the build texgs_topk_capacity picks (the
// default): the tests compare the two builds bit for bit.
void texgs_harness_use_generic_build(int generic) { g_generic_build = generic != 0; }

// From now on emulate the tile decode with `rows` texel rows per thread (1, or 2: the
// two-row builds' texgs_batch_rank2, thread (x, y) ranking rows y and y + block / 2; an odd
// block then returns -1).
void texgs_harness_use_tile_rows(uint32_t rows) { g_tile_rows = rows == 2u ? 2u : 1u; }

// texgs_topk_build_serves(cap, k): 1 when the decode build of capacity cap decodes top-K k.
int texgs_harness_topk_build_serves(uint32_t cap, uint32_t k) {
    return texgs_topk_build_serves(cap, k) ? 1 : 0;
}

// texgs_key_order(key) for each of n floats (the high half of the ranking words), and
// texgs_key_from_order of each back.
void texgs_harness_key_order(const float* keys, uint32_t n, uint32_t* order, float* back) {
    for (uint32_t i = 0; i < n; ++i) {
        order[i] = texgs_key_order(keys[i]);
        back[i] = texgs_key_from_order(order[i]);
    }
}

int texgs_harness_topk_push(const float* keys, const uint32_t* lows, const uint8_t* ok,
                            uint32_t n, uint32_t k, uint64_t* words) {
    TopkPush f{keys, lows, ok, n, k, words};
    return with_topk_build(k, f);
}

// Topk32 for top-K k (1..TEXGS_TOPK_EXACT_MAX, exact builds only; else -3) over n <= 64
// candidates (else -1).
int texgs_harness_topk32(const float* qs, const uint32_t* lows, uint32_t n, uint32_t k,
                         uint64_t* words, int* decided) {
    if (n > TEXGS_TILE_BATCH) return -1;
    if (k < 1u || k > TEXGS_TOPK_EXACT_MAX) return -3;
    Topk32 f{qs, lows, n, k, words, decided};
    const bool generic = g_generic_build;
    g_generic_build = false;
    const int kept = with_topk_build(k, f);
    g_generic_build = generic;
    return kept;
}

int texgs_harness_validate(TEXGS_HARNESS_BUFFERS, int with_index) {
    return texgs_validate_buffers(make_buffers(TEXGS_HARNESS_ARGS), with_index != 0);
}

// The grid decode of texgs_decode_grid_kernel on the CPU: out float32 [out_h, out_w, C],
// candidates uint32 [out_h, out_w] (may be null), finish uint32 [4] (may be null); reached
// uint32 [out_h, out_w] (may be null): the valid candidates whose conic each texel took,
// those that passed the reach test (texgs_sample_point).
int texgs_harness_decode_grid_reached(TEXGS_HARNESS_BUFFERS, uint32_t out_w, uint32_t out_h,
                                      float filter_var, const uint32_t* finish, float* out,
                                      uint32_t* candidates, uint32_t* reached) {
    const texgs_buffers b = make_buffers(TEXGS_HARNESS_ARGS);
    const int status = texgs_validate_buffers(b, true);
    if (status != TEXGS_OK) return status;
    texgs_finish fin = {0u, 0u, 0u, 0u};
    if (finish) fin = texgs_finish{finish[0], finish[1], finish[2], finish[3]};
    GridDecode grid = {b, out_w, out_h, filter_var, fin, out, candidates, reached};
    return with_topk_build(meta[TEXGS_META_TOP_K], grid);
}

int texgs_harness_decode_grid(TEXGS_HARNESS_BUFFERS, uint32_t out_w, uint32_t out_h,
                              float filter_var, const uint32_t* finish, float* out,
                              uint32_t* candidates) {
    return texgs_harness_decode_grid_reached(TEXGS_HARNESS_ARGS, out_w, out_h, filter_var,
                                             finish, out, candidates, nullptr);
}

// texgs_decode_tiles_kernel on the CPU, block by block of `block` x `block` texels (1..32,
// dividing the index's TILE; else -1), with batches of `batch` ids (1..TEXGS_TILE_BATCH;
// small values exercise the batch boundaries) and a colour cache of `color_cache` floats
// (0..TEXGS_TILE_COLOR_CACHE; 0: colours always from the records): out float32 [H, W, C],
// candidates uint32 [H, W] (may be null), finish uint32 [4] (may be null); kept uint32
// [H, W] (may be null): the candidates each texel's block kept, over all batches (the
// kernel does not report these). The group is
// emulated in sequence, step for step: thread 0 reads a Rice-coded batch, the threads cull
// their strided entries (each round's atomic appends land in reverse thread order here, so
// the kept order is not the list's, as on a GPU), then every texel ranks the kept ones.
int texgs_harness_decode_tiles(TEXGS_HARNESS_BUFFERS, uint32_t block, uint32_t batch,
                               uint32_t color_cache, const uint32_t* finish, float* out,
                               uint32_t* candidates, uint32_t* kept) {
    if (!meta || meta_words <= TEXGS_META_TOP_K) return TEXGS_ERR_META_SHORT;
    const texgs_buffers b = make_buffers(TEXGS_HARNESS_ARGS);
    TilesDecode tiles = {b, block, batch, color_cache, finish, out, candidates, kept};
    return with_topk_build(meta[TEXGS_META_TOP_K], tiles);
}

// texgs_axis_meets (the block cull's test of one axis), for the tests.
int texgs_harness_axis_meets(float lo, float hi, float size, uint32_t block, uint32_t blk,
                             int repeat) {
    return texgs_axis_meets(lo, hi, size, block, blk, repeat != 0) ? 1 : 0;
}

// Walk tile t's list (texgs_list_begin / texgs_list_next, either coding): header[0] = the
// list's length n, header[1] = the values texgs_list_next returned (up to n; written to ids
// while below `capacity`; 0xffffffff where a corrupt list ended).
int texgs_harness_tile_list(TEXGS_HARNESS_BUFFERS, uint32_t t, uint32_t* ids, uint32_t capacity,
                            uint32_t* header) {
    const texgs_buffers b = make_buffers(TEXGS_HARNESS_ARGS);
    const int status = texgs_validate_buffers(b, true);
    if (status != TEXGS_OK) return status;
    if ((uint64_t)t >= (uint64_t)meta[TEXGS_META_TILES_X] * meta[TEXGS_META_TILES_Y]) return -1;
    texgs_list list = texgs_list_begin(b, t);
    header[0] = list.n;
    uint32_t got = 0u;
    while (list.left > 0u) {
        const uint32_t id = texgs_list_next(b, &list);
        if (got < capacity) ids[got] = id;
        ++got;
    }
    header[1] = got;
    return TEXGS_OK;
}

// texgs_decode_uv_kernel on the CPU: uv float64 [n, 2] -> out float32 [n, C].
int texgs_harness_decode_uv(TEXGS_HARNESS_BUFFERS, const double* uv, uint32_t n, float* out) {
    const texgs_buffers b = make_buffers(TEXGS_HARNESS_ARGS);
    const int status = texgs_validate_buffers(b, true);
    if (status != TEXGS_OK) return status;
    PointDecode points = {b, uv, n, out};
    return with_topk_build(meta[TEXGS_META_TOP_K], points);
}

// texgs_expand_kernel on the CPU: the expanded records of meta and records, geometry float32
// [COUNT, 5] and colors float32 [COUNT, CHANNELS] (both as long as that; texgs_validate_buffers
// of the records first).
int texgs_harness_expand(const uint32_t* meta, uint32_t meta_words, const uint32_t* records,
                         uint32_t record_words, float* geometry, float* colors) {
    const texgs_buffers b =
        make_buffers(meta, meta_words, records, record_words, 0, 0u, 0, 0u, 0, 0u, 0, 0u);
    const int status = texgs_validate_buffers(b, false);
    if (status != TEXGS_OK) return status;
    for (uint32_t i = 0; i < meta[TEXGS_META_COUNT]; ++i) texgs_expand(b, i, geometry, colors);
    return TEXGS_OK;
}

// The tile index from meta and records (the three index kernels, run serially, so lists
// ascend by id like texgs.runtime.build_tile_index). offsets: uint32 [tiles + 1], always
// written; ids: uint32 [ids_capacity], written when not null and large enough (call once
// with ids = null to learn offsets[tiles]).
int texgs_harness_build_index(const uint32_t* meta, uint32_t meta_words, const uint32_t* records,
                              uint32_t record_words, uint32_t* offsets, uint32_t* ids,
                              uint64_t ids_capacity) {
    const texgs_buffers b =
        make_buffers(meta, meta_words, records, record_words, 0, 0u, 0, 0u, 0, 0u, 0, 0u);
    const int status = texgs_validate_buffers(b, false);
    if (status != TEXGS_OK) return status;
    const uint32_t tiles = meta[TEXGS_META_TILES_X] * meta[TEXGS_META_TILES_Y];
    const uint32_t count = meta[TEXGS_META_COUNT];
    std::vector<uint32_t> counts(tiles + 1u, 0u);
    CountVisit cv = {&counts};
    for (uint32_t i = 0; i < count; ++i) texgs_for_each_tile(b, i, cv);
    for (uint32_t t = 0; t < tiles; ++t) counts[t + 1u] += counts[t];
    for (uint32_t t = 0; t <= tiles; ++t) offsets[t] = counts[t];
    if (!ids || ids_capacity < counts[tiles]) return TEXGS_OK;
    std::vector<uint32_t> cursors(counts.begin(), counts.end() - 1);
    FillVisit fv = {&cursors, ids, 0u};
    for (uint32_t i = 0; i < count; ++i) {
        fv.id = i;
        texgs_for_each_tile(b, i, fv);
    }
    return TEXGS_OK;
}

}  // extern "C"

// ---- the sanitizer driver -----------------------------------------------------------------

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
        const uint32_t* tile_offsets = texgs_data_or_null(bufs[2]);
        const uint32_t offset_words = (uint32_t)bufs[2].size();
        const uint32_t* tile_ids = texgs_data_or_null(bufs[3]);
        const uint32_t id_words = (uint32_t)bufs[3].size();
        const float* geometry = 0;  // the packed records first; expanded below
        const float* colors = 0;
        uint32_t geometry_words = 0u, color_words = 0u;
        const int status = texgs_harness_validate(TEXGS_HARNESS_ARGS, 1);
        if (status != TEXGS_OK) {
            printf("%s rejected %d %s\n", argv[a], status, texgs_harness_status_message(status));
            fflush(stdout);
            continue;
        }
        const uint32_t w = meta[TEXGS_META_WIDTH], h = meta[TEXGS_META_HEIGHT];
        const uint32_t nch = meta[TEXGS_META_CHANNELS];
        double checksum = 0.0;
        // a grid of at most 16 x 16 texels, then a filtered one at a quarter of the size
        const uint32_t gw = w < 16u ? w : 16u, gh = h < 16u ? h : 16u;
        std::vector<float> out((size_t)gw * gh * nch);
        std::vector<uint32_t> cand((size_t)gw * gh);
        const uint32_t finish[4] = {0u, nch < 3u ? nch : 3u, TEXGS_MAP_FLAG_NORMAL_Z, 1u};
        texgs_harness_decode_grid(TEXGS_HARNESS_ARGS, gw, gh, 0.0f, finish, out.data(),
                                  cand.data());
        for (float v : out) checksum += v;
        const uint32_t fw = (gw + 3u) / 4u, fh = (gh + 3u) / 4u;
        const float fvar = texgs_footprint_variance(4.0f);
        texgs_harness_decode_grid(TEXGS_HARNESS_ARGS, fw, fh, fvar, 0, out.data(), 0);
        for (size_t k = 0; k < (size_t)fw * fh * nch; ++k) checksum += out[k];
        // the tile-cooperative decode of the whole texture (small textures), in blocks of
        // min(8, TILE) and of 4 texels where they divide the tile, in batches of 5 (colours
        // from the records) and of 256 (colours kept where the list fits)
        const uint32_t tile = meta[TEXGS_META_TILE];
        if ((uint64_t)w * h <= 65536u && tile <= 64u) {
            std::vector<float> full((size_t)w * h * nch);
            const uint32_t blocks[2] = {tile < 8u ? tile : 8u, 4u};
            for (uint32_t blk : blocks) {
                if (tile % blk != 0u) continue;
                texgs_harness_decode_tiles(TEXGS_HARNESS_ARGS, blk, 5u, TEXGS_TILE_COLOR_CACHE,
                                           finish, full.data(), 0, 0);
                for (float v : full) checksum += v;
                texgs_harness_decode_tiles(TEXGS_HARNESS_ARGS, blk, TEXGS_TILE_BATCH,
                                           TEXGS_TILE_COLOR_CACHE, finish, full.data(), 0,
                                           0);
                for (float v : full) checksum += v;
            }
        }
        // UV points inside, outside and not finite
        const double uv[] = {0.5, 0.5, 0.0, 0.0, 1.0, 1.0, -0.25, 1.75, 3.5, -2.0, 1e30, -1e30,
                             HUGE_VAL, -HUGE_VAL, NAN, 0.5, 0.999999, 0.0};
        const uint32_t npts = sizeof uv / sizeof uv[0] / 2u;
        std::vector<float> pts((size_t)npts * nch);
        texgs_harness_decode_uv(TEXGS_HARNESS_ARGS, uv, npts, pts.data());
        for (uint32_t k = 0; k < 6u * nch; ++k) checksum += pts[k];  // finite inputs
        // every tile's list walked to its end (ids skipped past COUNT, corrupt lists ended)
        const uint64_t ntiles = (uint64_t)meta[TEXGS_META_TILES_X] * meta[TEXGS_META_TILES_Y];
        if (ntiles <= 65536u) {
            uint32_t head[2];
            for (uint32_t t = 0; t < ntiles; ++t) {
                texgs_harness_tile_list(TEXGS_HARNESS_ARGS, t, 0, 0u, head);
                checksum += head[0] + head[1];
            }
        }
        // the tile index, rebuilt from the records
        const size_t tiles = (size_t)meta[TEXGS_META_TILES_X] * meta[TEXGS_META_TILES_Y];
        std::vector<uint32_t> offsets(tiles + 1u);
        texgs_harness_build_index(meta, meta_words, records, record_words, offsets.data(), 0, 0);
        std::vector<uint32_t> ids(offsets.back() + 1u);
        texgs_harness_build_index(meta, meta_words, records, record_words, offsets.data(),
                                  ids.data(), ids.size());
        // the expanded records (exactly COUNT entries long), then the grid decode from them
        const uint32_t count = meta[TEXGS_META_COUNT];
        std::vector<float> geo(5u * (size_t)count), col((size_t)nch * count);
        texgs_harness_expand(meta, meta_words, records, record_words, geo.data(), col.data());
        geometry = geo.data();
        geometry_words = (uint32_t)geo.size();
        colors = col.data();
        color_words = (uint32_t)col.size();
        texgs_harness_decode_grid(TEXGS_HARNESS_ARGS, gw, gh, 0.0f, finish, out.data(), 0);
        for (size_t k = 0; k < (size_t)gw * gh * nch; ++k) checksum += out[k];
        printf("%s ok %.9g\n", argv[a], checksum);
        fflush(stdout);
    }
    return 0;
}
