// texgs CUDA kernels (docs/RUNTIME.md "CUDA decoder"): the tile index built from the packed
// records, a whole-texture decode to any output size, and a decode at UV points. The math is
// cuda/texgs_math.cuh (shared with the CPU harness cuda/host_harness.cpp). Compile with
// --fmad=false so the float32 results match the NumPy reference operation for operation.
//
// Every kernel takes the four runtime buffers with their lengths in words and an int
// `status`: thread 0 of each block runs texgs_validate_buffers; if it fails, the block
// writes nothing, and block 0 stores the status code (0 = ok) for the host to read.
//
// The three decode kernels come in builds per top-K (texgs_math.cuh "the K best
// candidates"): `<name>` serves any K of 1..TEXGS_LIMIT_TOP_K (capacity 32, K read from the
// meta words) and `<name>_k1` .. `<name>_k8` exactly that K, with the K best held in
// registers; texgs_topk_capacity(K) says which build a K takes (texgs.cuda_decoder does the
// same). An exact build launched on buffers of another K decodes nothing and stores -3.
#include "texgs_math.cuh"

// The runtime buffers, then the optional expanded records (null, 0: read the packed ones).
#define TEXGS_BUFFER_PARAMS                                                                    \
    const uint32_t *meta, uint32_t meta_words, const uint32_t *records, uint32_t record_words, \
        const uint32_t *tile_offsets, uint32_t offset_words, const uint32_t *tile_ids,         \
        uint32_t id_words, const float *geometry, uint32_t geometry_words,                     \
        const float *colors, uint32_t color_words

__device__ inline texgs_buffers texgs_make_buffers(TEXGS_BUFFER_PARAMS) {
    texgs_buffers b;
    b.meta = meta;
    b.meta_words = meta_words;
    b.records = records;
    b.record_words = record_words;
    b.tile_offsets = tile_offsets;
    b.offset_words = offset_words;
    b.tile_ids = tile_ids;
    b.id_words = id_words;
    b.geometry = geometry;
    b.geometry_words = geometry_words;
    b.colors = colors;
    b.color_words = color_words;
    return b;
}

#define TEXGS_BUFFER_ARGS                                                                    \
    meta, meta_words, records, record_words, tile_offsets, offset_words, tile_ids, id_words, \
        geometry, geometry_words, colors, color_words

// Validation once per block; every thread of the block gets the result. cap: the top-K
// build of a decode kernel (0: not a decode kernel); a build that does not serve the asset's
// K stores -3.
__device__ inline bool texgs_block_valid(const texgs_buffers &b, bool with_index, int *status,
                                         uint32_t cap = 0u) {
    __shared__ int block_status;
    const bool first = threadIdx.x == 0 && threadIdx.y == 0 && threadIdx.z == 0;
    if (first) {
        block_status = texgs_validate_buffers(b, with_index);
        if (block_status == TEXGS_OK && cap != 0u &&
            !texgs_topk_build_serves(cap, b.meta[TEXGS_META_TOP_K]))
            block_status = -3;
        if (blockIdx.x == 0 && blockIdx.y == 0 && blockIdx.z == 0 && status) *status = block_status;
    }
    __syncthreads();
    return block_status == TEXGS_OK;
}

extern "C" {

// Validation alone (one thread): status = texgs_validate_buffers(buffers, with_index).
__global__ void texgs_validate_kernel(TEXGS_BUFFER_PARAMS, int with_index, int *status) {
    if (threadIdx.x == 0 && blockIdx.x == 0)
        *status = texgs_validate_buffers(texgs_make_buffers(TEXGS_BUFFER_ARGS), with_index != 0);
}

}  // extern "C"

// Whole-texture decode: one thread per output texel of out_w x out_h (2D grid, e.g. 16x16
// blocks). out: float32 [out_h, out_w, CHANNELS] row 0 at the top; candidates (may be null):
// uint32 [out_h, out_w], the tile-list length of each texel. filter_var: footprint variance
// (texels^2, 0 = unfiltered); finish_*: map finish words (count 0: every channel as blended).
template <uint32_t CAP>
__device__ inline void texgs_decode_grid(TEXGS_BUFFER_PARAMS, uint32_t out_w, uint32_t out_h,
                                         float filter_var, uint32_t finish_first,
                                         uint32_t finish_count, uint32_t finish_flags,
                                         uint32_t finish_log2_mask, float *out,
                                         uint32_t *candidates, int *status) {
    const texgs_buffers b = texgs_make_buffers(TEXGS_BUFFER_ARGS);
    if (!texgs_block_valid(b, true, status, CAP)) return;
    const uint32_t i = blockIdx.x * blockDim.x + threadIdx.x;
    const uint32_t j = blockIdx.y * blockDim.y + threadIdx.y;
    if (i >= out_w || j >= out_h) return;
    texgs_finish fin;
    fin.first = finish_first;
    fin.count = finish_count;
    fin.flags = finish_flags;
    fin.log2_mask = finish_log2_mask;
    const uint64_t texel = (uint64_t)j * out_w + i;
    const uint32_t cand = texgs_decode_grid_texel<CAP>(b, i, j, out_w, out_h, filter_var, fin,
                                                  out + texel * meta[TEXGS_META_CHANNELS]);
    if (candidates) candidates[texel] = cand;
}

// ---- the tile kernel's phase profile (profile builds only: -DTEXGS_PROFILE) ----------------
// Where the cycles of a launch block's first warp go, for bench/bench_cuda_profile.py.
// Thread 0 reads the SM's cycle counter at the boundaries below and adds the cycles since
// the last one to the block's row in shared memory; after its last texel block it stores
// the row, uint64 [TEXGS_PROFILE_WORDS], at profile[launch block * TEXGS_PROFILE_WORDS]
// (launch block: linear, x fastest). Phases 0..7 add up to `last - start` (modulo 2^32)
// exactly and to `total`, the thread's time in the kernel, but for the row's store; words
// 9..11 count. One thread, not one per warp: a row per warp kept its address in registers
// and took the K = 5 build past its register allocation unit (so occupancy); thread 0 has
// the block's serial work too (validation, the list's start, Rice ids), which the other
// warps spend waiting at the barriers after it. A launch block that fails validation or
// the shape check writes no row. Builds without the flag carry none of it (the functions
// below do nothing when ON is false), and the flag leaves the other kernels as they are.
#define TEXGS_PROFILE_LIST(X)                                                                \
    X(0, validate, "validating the buffers, and the barrier after")                         \
    X(1, list, "starting the texel block's list; the barriers around its copy")             \
    X(2, ids, "a batch's Rice-coded ids, or a later batch's count cleared; the barrier after")\
    X(3, load, "the thread's part of a batch: ids, records, the block test, shared stores")  \
    X(4, load_wait, "the barrier after the batch's stores")                                  \
    X(5, rank, "ranking the kept candidates of a batch for the warp's texels")               \
    X(6, rank_wait, "the barrier after the ranking")                                         \
    X(7, blend, "blending and storing the warp's texels")                                     \
    X(8, total, "cycles from the kernel's entry to the row's store: about the sum of 0..7")  \
    X(9, blocks, "texel blocks the launch block decoded")                                    \
    X(10, batches, "batches it ranked")                                                      \
    X(11, kept, "candidates kept for ranking, summed over its batches")                      \
    X(12, start, "the clock's low 32 bits at the kernel's entry")                            \
    X(13, last, "the clock's low 32 bits at the last mark")
#define TEXGS_PROFILE_ENUM(n, name, what) TEXGS_PROFILE_##name = n,
enum { TEXGS_PROFILE_LIST(TEXGS_PROFILE_ENUM) TEXGS_PROFILE_WORDS };
#undef TEXGS_PROFILE_ENUM

// The low 32 bits of the SM's cycle counter in profile builds (the CPU model's clock in
// nanoseconds there; 0 in the other builds, which never read it): one register, not two.
// The differences taken modulo 2^32 are exact for spans under 2^32 cycles, 2 s at 2 GHz.
__device__ inline uint32_t texgs_profile_clock() {
#if defined(TEXGS_PROFILE) && defined(__CUDA_ARCH__)
    return (uint32_t)clock();
#elif defined(TEXGS_PROFILE)
    return (uint32_t)clock64();
#else
    return 0u;
#endif
}

// Thread 0 (lid: the thread's linear index in its block) adds the cycles since its last
// mark to phase `phase` of the block's row `row` (shared memory). The state lives in the
// row, not in registers. Nothing when ON is false.
template <bool ON>
__device__ inline void texgs_profile_mark(unsigned long long *row, uint32_t lid, uint32_t phase) {
    if (!ON || lid != 0u) return;
    const uint32_t now = texgs_profile_clock();
    row[phase] += (uint32_t)(now - (uint32_t)row[TEXGS_PROFILE_last]);
    row[TEXGS_PROFILE_last] = now;
}

// Thread 0 adds n to count `word` of the block's row. Nothing when ON is false.
template <bool ON>
__device__ inline void texgs_profile_count(unsigned long long *row, uint32_t lid, uint32_t word,
                                           uint32_t n) {
    if (ON && lid == 0u) row[word] += n;
}

// The steps of a tile-cooperative block's walk of its tile's list, shared by
// texgs_decode_tiles (texels) and texgs_decode_uv_blocks (UV points); `list` and `nkeep`
// live in the block's shared memory.
//
// Start: thread 0 starts tile t's walk and clears the first batch's count; every thread
// returns a copy of the list's header, after a second barrier where thread 0 writes `list`
// again before the next one: a Rice walk, whose cursor it advances, and an empty list, which
// has no batch (a fixed-width list's first batch needs no barrier of its own, and the one
// after its stores comes before the next start's write of `list`).
__device__ inline texgs_list texgs_walk_start(const texgs_buffers &b, uint32_t t, uint32_t lid,
                                              texgs_list *list, uint32_t *nkeep) {
    if (lid == 0u) {
        *list = texgs_list_begin(b, t);
        *nkeep = 0u;
    }
    __syncthreads();
    const texgs_list head = *list;
    if (head.rice || head.n == 0u) __syncthreads();
    return head;
}

// The ids of the batch at entry `base` (n of them). Rice: each id depends on the previous
// one; thread 0 decodes the batch's ids into sid (the cursor in *list carries over to the
// next batch). Fixed width: each thread reads its entries in texgs_walk_fill; the first
// batch's count was cleared by texgs_walk_start, before the barrier that also keeps this
// batch's stores after every thread's blend of the block before.
__device__ inline void texgs_walk_ids(const texgs_buffers &b, const texgs_list &head,
                                      uint64_t base, uint32_t n, uint32_t lid, uint32_t *sid,
                                      texgs_list *list, uint32_t *nkeep) {
    if (head.rice || base > 0u) {
        if (lid == 0u) {
            *nkeep = 0u;
            if (head.rice)
                for (uint32_t j = 0; j < n; ++j) sid[j] = texgs_list_next(b, list);
        }
        __syncthreads();
    }
}

// The batch's candidates of block (bx, by) of `block` texels into the shared slots s
// (texgs_block_candidate, then texgs_batch_store at the next slot of *nkeep), each thread
// taking entries lid, lid + nthreads, ...
__device__ inline void texgs_walk_fill(const texgs_buffers &b, const texgs_list &head,
                                       uint64_t base, uint32_t n, uint32_t lid,
                                       uint32_t nthreads, const uint32_t *sid, uint32_t block,
                                       uint32_t tile, uint32_t bx, uint32_t by, texgs_batch s,
                                       uint32_t *nkeep, bool cached) {
    for (uint32_t j = lid; j < n; j += nthreads) {
        const uint32_t id = head.rice ? sid[j] : texgs_list_entry(b, head, base + j);
        texgs_gaussian g;
        if (!texgs_block_candidate(b, id, block, tile, bx, by, &g)) continue;
        texgs_batch_store(b, id, g, atomicAdd(nkeep, 1u), s, cached);
    }
}

// Whole-texture decode at the asset's own size, unfiltered, tile-cooperative: blocks of
// B x B threads (blockDim (B, B, 1), B at most 32 and dividing the index's TILE, so that a
// block of texels lies inside one tile), one thread per texel of a block of B x B texels.
// The texel blocks, ceil(WIDTH / B) x ceil(HEIGHT / B) of them row-major, are shared out
// over the grid, whatever its size: launch block i (linear, x fastest) of a grid of G
// decodes texel blocks i, i + G, i + 2 G, ...; a grid of one launch block per texel block
// gives each its own, a persistent grid (a few per multiprocessor: texgs.cuda_decoder)
// validates the buffers once for many. Texel block (bx, by) reads tile ((by B) / TILE) TILES_X + (bx B) / TILE's list
// TEXGS_TILE_BATCH ids at a time (a Rice-coded list by thread 0, in order, its cursor kept
// from batch to batch; fixed-width entries by every thread), dequantizes each candidate once
// and keeps it only when its padded 3-sigma box meets the block (texgs_block_candidate:
// the index's rule at the block's size, no test where the block is the tile), appending it to compact shared arrays through an
// atomic counter (its colours too when the whole list fits one batch and the colour cache);
// then each thread ranks the kept ones for its texel (texgs_batch_rank) and blends. Results
// equal texgs_decode_grid_kernel's at the same size, bit for bit (a candidate left out
// reaches no texel of the block; ranking is by (q, id) whatever the order). out as there;
// candidates: the tile list's length. A launch that breaks the shape above (blockDim not
// square, over 32, or not dividing TILE) decodes nothing and stores status -2.
// ROWS 2 (texgs_decode_tiles2_kernel_kK, exact builds only): the same blocks of B x B texels
// with B x B/2 threads (blockDim (B, B / 2, 1), B even), thread (x, y) decoding the texels
// of rows y and y + B / 2 of its column (texgs_batch_rank2: each candidate read once for
// two independent rankings); the same bits.
// PROFILE (profile builds): the phase profile above, into `profile`.
template <uint32_t CAP, uint32_t ROWS = 1u, bool PROFILE = false>
__device__ inline void texgs_decode_tiles(TEXGS_BUFFER_PARAMS, uint32_t finish_first,
                                          uint32_t finish_count, uint32_t finish_flags,
                                          uint32_t finish_log2_mask, float *out,
                                          uint32_t *candidates, int *status,
                                          unsigned long long *profile = nullptr) {
    __shared__ uint32_t sid[TEXGS_TILE_BATCH];  // the batch's ids, in list order (Rice)
    __shared__ texgs_slot_geo sgeo[TEXGS_TILE_BATCH];  // the kept candidates, in any order
    __shared__ texgs_slot_cid scid[TEXGS_TILE_BATCH];
    __shared__ float scol[TEXGS_TILE_COLOR_CACHE];
    __shared__ uint32_t nkeep;
    __shared__ unsigned long long sprof[PROFILE ? (uint32_t)TEXGS_PROFILE_WORDS : 1u];  // the row
    if (PROFILE && threadIdx.x == 0u && threadIdx.y == 0u) {
        for (uint32_t f = 0; f < TEXGS_PROFILE_WORDS; ++f) sprof[f] = 0ull;
        sprof[TEXGS_PROFILE_start] = sprof[TEXGS_PROFILE_last] = texgs_profile_clock();
    }
    const texgs_buffers b = texgs_make_buffers(TEXGS_BUFFER_ARGS);
    if (!texgs_block_valid(b, true, status, CAP)) return;
    static_assert(ROWS == 1u || ROWS == 2u, "one or two texel rows per thread");
    const uint32_t block = blockDim.x, tile = meta[TEXGS_META_TILE];
    const uint32_t nthreads = blockDim.x * blockDim.y;
    const uint32_t lid = threadIdx.y * block + threadIdx.x;
    if (blockDim.y * ROWS != block || blockDim.z != 1u || block > 32u || tile % block != 0u) {
        if (lid == 0u && blockIdx.x == 0 && blockIdx.y == 0 && blockIdx.z == 0 && status)
            *status = -2;
        return;
    }
    const uint32_t width = meta[TEXGS_META_WIDTH], height = meta[TEXGS_META_HEIGHT];
    const uint32_t nbx = (width + block - 1u) / block, nby = (height + block - 1u) / block;
    texgs_finish fin;
    fin.first = finish_first;
    fin.count = finish_count;
    fin.flags = finish_flags;
    fin.log2_mask = finish_log2_mask;
    const uint32_t nch = meta[TEXGS_META_CHANNELS];
    texgs_profile_mark<PROFILE>(sprof, lid, TEXGS_PROFILE_validate);
    texgs_batch s;
    s.geo = sgeo;
    s.cid = scid;
    s.col = scol;
    __shared__ texgs_list list;
    // The texel blocks, row-major, from this launch block's linear index in steps of the
    // grid's block count: a grid of ceil(W / B) x ceil(H / B) blocks decodes one each; a
    // smaller (persistent) grid walks several, validating the buffers once. Shared memory
    // is reused from one texel block to the next without a barrier of its own: a thread
    // reads the last one's colour cache (scol) in its blend, and the next one's first
    // writes to scol, sgeo, scid or sid come after the barrier that follows thread 0's
    // write of `list` (and of nkeep, whose last reader, the ranking, comes before the
    // barrier that ends each batch), which every thread reaches only after its blend.
    const uint64_t blocks = (uint64_t)nbx * nby;
    const uint64_t stride = (uint64_t)gridDim.x * gridDim.y;
    for (uint64_t blk = (uint64_t)blockIdx.y * gridDim.x + blockIdx.x; blk < blocks;
         blk += stride) {
        const uint32_t bx = (uint32_t)(blk % nbx), by = (uint32_t)(blk / nbx);
        const uint32_t x = bx * block + threadIdx.x, y = by * block + threadIdx.y;
        const uint32_t y1 = y + blockDim.y;  // ROWS 2: the thread's second row
        const bool inside = x < width && y < height;
        const bool inside1 = ROWS == 2u && x < width && y1 < height;
        const uint32_t t = (by * block / tile) * meta[TEXGS_META_TILES_X] + bx * block / tile;
        const float px = (float)x + 0.5f, py = (float)y + 0.5f, py1 = (float)y1 + 0.5f;
        // The tile's list (texgs_walk_start: its header in every thread)
        const texgs_list head = texgs_walk_start(b, t, lid, &list, &nkeep);
        texgs_profile_mark<PROFILE>(sprof, lid, TEXGS_PROFILE_list);
        texgs_profile_count<PROFILE>(sprof, lid, TEXGS_PROFILE_blocks, 1u);
        const uint32_t total = head.n;
        const bool cached =
            texgs_tile_colors_cached(b, total, TEXGS_TILE_BATCH, TEXGS_TILE_COLOR_CACHE);
        const bool whole = total <= TEXGS_TILE_BATCH;  // one batch: ranked into empty r, r1
        texgs_topk<CAP> r, r1;
        texgs_topk_init(&r, meta[TEXGS_META_TOP_K]);
        if (ROWS == 2u) texgs_topk_init(&r1, meta[TEXGS_META_TOP_K]);
        for (uint64_t base = 0; base < total; base += TEXGS_TILE_BATCH) {  // 64-bit: no wrap
            const uint32_t n = (uint32_t)(total - base < TEXGS_TILE_BATCH ? total - base
                                                                           : TEXGS_TILE_BATCH);
            texgs_walk_ids(b, head, base, n, lid, sid, &list, &nkeep);
            texgs_profile_mark<PROFILE>(sprof, lid, TEXGS_PROFILE_ids);
            texgs_walk_fill(b, head, base, n, lid, nthreads, sid, block, tile, bx, by, s, &nkeep,
                            cached);
            texgs_profile_mark<PROFILE>(sprof, lid, TEXGS_PROFILE_load);
            __syncthreads();
            texgs_profile_mark<PROFILE>(sprof, lid, TEXGS_PROFILE_load_wait);
            texgs_profile_count<PROFILE>(sprof, lid, TEXGS_PROFILE_batches, 1u);
            texgs_profile_count<PROFILE>(sprof, lid, TEXGS_PROFILE_kept, nkeep);
            if (ROWS == 1u && inside) texgs_batch_rank(b, px, py, s, nkeep, whole, &r);
            if (ROWS == 2u && (inside || inside1))
                texgs_batch_rank2(b, px, py, py1, inside, inside1, s, nkeep, whole, &r,
                                  &r1);
            texgs_profile_mark<PROFILE>(sprof, lid, TEXGS_PROFILE_rank);
            __syncthreads();
            texgs_profile_mark<PROFILE>(sprof, lid, TEXGS_PROFILE_rank_wait);
        }
        // each ranking by name (a pointer chosen at run time would put both in local memory)
        auto finish_texel = [&](const texgs_topk<CAP> &rr, uint32_t yy) {
            const uint64_t texel = (uint64_t)yy * width + x;
            float *o = out + texel * nch;
            texgs_topk_blend(b, &rr, false, total == 0u, o, cached ? scol : nullptr);
            texgs_finish_channels(o, nch, fin);
            if (candidates) candidates[texel] = total;
        };
        if (inside) finish_texel(r, y);
        if (ROWS == 2u && inside1) finish_texel(r1, y1);
        texgs_profile_mark<PROFILE>(sprof, lid, TEXGS_PROFILE_blend);
    }
    if (PROFILE && lid == 0u && profile) {
        const uint64_t launch = (uint64_t)blockIdx.y * gridDim.x + blockIdx.x;
        unsigned long long *dst = profile + launch * TEXGS_PROFILE_WORDS;
        for (uint32_t f = 0; f < TEXGS_PROFILE_WORDS; ++f) dst[f] = sprof[f];
        dst[TEXGS_PROFILE_total] =
            (uint32_t)(texgs_profile_clock() - (uint32_t)sprof[TEXGS_PROFILE_start]);
    }
}

// Decode at UV points: one thread per point (1D grid). uv: float64 [n, 2]; out: float32
// [n, CHANNELS].
template <uint32_t CAP>
__device__ inline void texgs_decode_uv(TEXGS_BUFFER_PARAMS, const double *uv, uint32_t n,
                                       float *out, int *status) {
    const texgs_buffers b = texgs_make_buffers(TEXGS_BUFFER_ARGS);
    if (!texgs_block_valid(b, true, status, CAP)) return;
    const uint32_t p = blockIdx.x * blockDim.x + threadIdx.x;
    if (p >= n) return;
    texgs_decode_uv_point<CAP>(b, uv[2u * p], uv[2u * p + 1u],
                               out + (uint64_t)p * meta[TEXGS_META_CHANNELS]);
}

// Decode at UV points binned by texel block (texgs.cuda_decoder.CudaDecoder.decode_uv with
// binned=True): the points of each block of `block` x `block` texels (texgs_point_block) are
// order[offsets[k] .. offsets[k + 1]) for block k; a launch block of any number of threads
// (1D) takes texel blocks k = blockIdx.x, + gridDim.x, ... and their points that many at a
// time, reading the list of the block's tile into shared memory once per such chunk and
// keeping the candidates whose box meets the block, as texgs_decode_tiles does for texels;
// then each thread ranks them for its point and blends. The same bits as
// texgs_decode_uv_kernel at every point: a candidate culled here has q at or beyond the
// cutoff anywhere in the block's span, and at a clamped point on the texture's far edge
// (x = W: a Gaussian that reaches it has its box's left end below W, so in or before the
// last block). `block` must divide the index tile, at most 32 (else status -2).
template <uint32_t CAP>
__device__ inline void texgs_decode_uv_blocks(TEXGS_BUFFER_PARAMS, const double *uv,
                                              uint32_t block, const uint32_t *offsets,
                                              const uint32_t *order, float *out, int *status) {
    __shared__ uint32_t sid[TEXGS_TILE_BATCH];  // the batch's ids, in list order (Rice)
    __shared__ texgs_slot_geo sgeo[TEXGS_TILE_BATCH];
    __shared__ texgs_slot_cid scid[TEXGS_TILE_BATCH];
    __shared__ float scol[TEXGS_TILE_COLOR_CACHE];
    __shared__ uint32_t nkeep;
    __shared__ texgs_list list;
    const texgs_buffers b = texgs_make_buffers(TEXGS_BUFFER_ARGS);
    if (!texgs_block_valid(b, true, status, CAP)) return;
    const uint32_t tile = meta[TEXGS_META_TILE], lid = threadIdx.x, nthreads = blockDim.x;
    if (blockDim.y != 1u || blockDim.z != 1u || block == 0u || block > 32u ||
        tile % block != 0u) {
        if (lid == 0u && blockIdx.x == 0 && status) *status = -2;
        return;
    }
    const uint32_t nbx = (meta[TEXGS_META_WIDTH] + block - 1u) / block;
    const uint32_t nby = (meta[TEXGS_META_HEIGHT] + block - 1u) / block;
    const uint32_t nch = meta[TEXGS_META_CHANNELS];
    texgs_batch s;
    s.geo = sgeo;
    s.cid = scid;
    s.col = scol;
    // Shared memory from one chunk to the next: as in texgs_decode_tiles (a thread's blend
    // reads scol; the next chunk's first writes to it come after the barrier that follows
    // thread 0's write of `list`, which every thread reaches after its blend).
    for (uint32_t blk = blockIdx.x; blk < nbx * nby; blk += gridDim.x) {
        const uint32_t bx = blk % nbx, by = blk / nbx;
        const uint32_t t = (by * block / tile) * meta[TEXGS_META_TILES_X] + bx * block / tile;
        const uint32_t end = offsets[blk + 1u];
        for (uint32_t c0 = offsets[blk]; c0 < end; c0 += nthreads) {  // uniform: every thread
            const bool has = c0 + lid < end;
            uint32_t p = 0u;
            float px = 0.0f, py = 0.0f;
            if (has) {
                p = order[c0 + lid];
                texgs_uv_texel_point(b, uv[2u * p], uv[2u * p + 1u], &px, &py);
            }
            const texgs_list head = texgs_walk_start(b, t, lid, &list, &nkeep);
            const uint32_t total = head.n;
            const bool cached =
                texgs_tile_colors_cached(b, total, TEXGS_TILE_BATCH, TEXGS_TILE_COLOR_CACHE);
            const bool whole = total <= TEXGS_TILE_BATCH;
            texgs_topk<CAP> r;
            texgs_topk_init(&r, meta[TEXGS_META_TOP_K]);
            for (uint64_t base = 0; base < total; base += TEXGS_TILE_BATCH) {
                const uint32_t n = (uint32_t)(total - base < TEXGS_TILE_BATCH
                                                  ? total - base : TEXGS_TILE_BATCH);
                texgs_walk_ids(b, head, base, n, lid, sid, &list, &nkeep);
                texgs_walk_fill(b, head, base, n, lid, nthreads, sid, block, tile, bx, by, s,
                                &nkeep, cached);
                __syncthreads();
                if (has) texgs_batch_rank(b, px, py, s, nkeep, whole, &r);
                __syncthreads();
            }
            if (has)
                texgs_topk_blend(b, &r, false, total == 0u, out + (uint64_t)p * nch,
                                 cached ? scol : nullptr);
        }
    }
}

extern "C" {

// Binning UV points by texel block of `block` texels, pass 1, one thread per point:
// block_of[p] = its block (texgs_point_block), offsets[block + 1] += 1 (offsets: uint32
// [blocks + 1], zeroed by the host). Then texgs_index_scan_kernel over the blocks, and
// texgs_uv_bin_fill_kernel.
__global__ void texgs_uv_bin_count_kernel(TEXGS_BUFFER_PARAMS, const double *uv, uint32_t n,
                                          uint32_t block, uint32_t *offsets,
                                          uint32_t *block_of, int *status) {
    const texgs_buffers b = texgs_make_buffers(TEXGS_BUFFER_ARGS);
    if (!texgs_block_valid(b, false, status)) return;
    const uint32_t p = blockIdx.x * blockDim.x + threadIdx.x;
    if (p >= n || block == 0u) return;
    float px, py;
    texgs_uv_texel_point(b, uv[2u * p], uv[2u * p + 1u], &px, &py);
    const uint32_t k = texgs_point_block(b, px, py, block);
    block_of[p] = k;
    atomicAdd(&offsets[k + 1u], 1u);
}

// Pass 3, one thread per point: order[cursors[block_of[p]]++] = p (any order per block).
__global__ void texgs_uv_bin_fill_kernel(uint32_t n, const uint32_t *block_of,
                                         uint32_t *cursors, uint32_t *order) {
    const uint32_t p = blockIdx.x * blockDim.x + threadIdx.x;
    if (p >= n) return;
    order[atomicAdd(&cursors[block_of[p]], 1u)] = p;
}

// The extern "C" entry points of the decode builds (names as in the header comment).
#define TEXGS_DECODE_PARAMS_GRID                                                            \
    TEXGS_BUFFER_PARAMS, uint32_t out_w, uint32_t out_h, float filter_var,                   \
        uint32_t finish_first, uint32_t finish_count, uint32_t finish_flags,                 \
        uint32_t finish_log2_mask, float *out, uint32_t *candidates, int *status
#define TEXGS_DECODE_PARAMS_TILES                                                           \
    TEXGS_BUFFER_PARAMS, uint32_t finish_first, uint32_t finish_count, uint32_t finish_flags, \
        uint32_t finish_log2_mask, float *out, uint32_t *candidates, int *status
#define TEXGS_DECODE_KERNELS(SUFFIX, CAP)                                                    \
    __global__ void texgs_decode_grid_kernel##SUFFIX(TEXGS_DECODE_PARAMS_GRID) {             \
        texgs_decode_grid<CAP>(TEXGS_BUFFER_ARGS, out_w, out_h, filter_var, finish_first,    \
                               finish_count, finish_flags, finish_log2_mask, out,            \
                               candidates, status);                                          \
    }                                                                                        \
    __global__ void texgs_decode_tiles_kernel##SUFFIX(TEXGS_DECODE_PARAMS_TILES) {           \
        texgs_decode_tiles<CAP>(TEXGS_BUFFER_ARGS, finish_first, finish_count, finish_flags, \
                                finish_log2_mask, out, candidates, status);                  \
    }                                                                                        \
    __global__ void texgs_decode_uv_kernel##SUFFIX(TEXGS_BUFFER_PARAMS, const double *uv,    \
                                                   uint32_t n, float *out, int *status) {    \
        texgs_decode_uv<CAP>(TEXGS_BUFFER_ARGS, uv, n, out, status);                         \
    }                                                                                        \
    __global__ void texgs_decode_uv_blocks_kernel##SUFFIX(                                   \
        TEXGS_BUFFER_PARAMS, const double *uv, uint32_t block, const uint32_t *offsets,      \
        const uint32_t *order, float *out, int *status) {                                    \
        texgs_decode_uv_blocks<CAP>(TEXGS_BUFFER_ARGS, uv, block, offsets, order, out,       \
                                    status);                                                 \
    }

TEXGS_DECODE_KERNELS(, TEXGS_LIMIT_TOP_K)
TEXGS_DECODE_KERNELS(_k1, 1u)
TEXGS_DECODE_KERNELS(_k2, 2u)
TEXGS_DECODE_KERNELS(_k3, 3u)
TEXGS_DECODE_KERNELS(_k4, 4u)
TEXGS_DECODE_KERNELS(_k5, 5u)
TEXGS_DECODE_KERNELS(_k6, 6u)
TEXGS_DECODE_KERNELS(_k7, 7u)
TEXGS_DECODE_KERNELS(_k8, 8u)

// The tile kernel's two-row builds (texgs_decode_tiles, ROWS 2), exact K only.
#define TEXGS_DECODE_TILES2_KERNEL(K)                                                       \
    __global__ void texgs_decode_tiles2_kernel_k##K(TEXGS_DECODE_PARAMS_TILES) {            \
        texgs_decode_tiles<K##u, 2u>(TEXGS_BUFFER_ARGS, finish_first, finish_count,         \
                                     finish_flags, finish_log2_mask, out, candidates, status); \
    }
TEXGS_DECODE_TILES2_KERNEL(1)
TEXGS_DECODE_TILES2_KERNEL(2)
TEXGS_DECODE_TILES2_KERNEL(3)
TEXGS_DECODE_TILES2_KERNEL(4)
TEXGS_DECODE_TILES2_KERNEL(5)
TEXGS_DECODE_TILES2_KERNEL(6)
TEXGS_DECODE_TILES2_KERNEL(7)
TEXGS_DECODE_TILES2_KERNEL(8)

#ifdef TEXGS_PROFILE
// The phase-profile builds of the tile kernel, one and two rows, exact K only: the
// parameters of texgs_decode_tiles_kernel_kK, then profile (uint64 [launch blocks x
// TEXGS_PROFILE_WORDS], see TEXGS_PROFILE_LIST).
#define TEXGS_DECODE_TILES_PROFILE_KERNELS(K)                                               \
    __global__ void texgs_decode_tiles_profile_kernel_k##K(TEXGS_DECODE_PARAMS_TILES,       \
                                                           unsigned long long *profile) {   \
        texgs_decode_tiles<K##u, 1u, true>(TEXGS_BUFFER_ARGS, finish_first, finish_count,   \
                                           finish_flags, finish_log2_mask, out, candidates, \
                                           status, profile);                                \
    }                                                                                       \
    __global__ void texgs_decode_tiles2_profile_kernel_k##K(TEXGS_DECODE_PARAMS_TILES,      \
                                                            unsigned long long *profile) {  \
        texgs_decode_tiles<K##u, 2u, true>(TEXGS_BUFFER_ARGS, finish_first, finish_count,   \
                                           finish_flags, finish_log2_mask, out, candidates, \
                                           status, profile);                                \
    }
TEXGS_DECODE_TILES_PROFILE_KERNELS(1)
TEXGS_DECODE_TILES_PROFILE_KERNELS(2)
TEXGS_DECODE_TILES_PROFILE_KERNELS(3)
TEXGS_DECODE_TILES_PROFILE_KERNELS(4)
TEXGS_DECODE_TILES_PROFILE_KERNELS(5)
TEXGS_DECODE_TILES_PROFILE_KERNELS(6)
TEXGS_DECODE_TILES_PROFILE_KERNELS(7)
TEXGS_DECODE_TILES_PROFILE_KERNELS(8)
#endif

// The expanded records (docs/RUNTIME.md "Expanded records"), one thread per Gaussian:
// geometry float32 [COUNT, 5], colors float32 [COUNT, CHANNELS] (texgs_expand; the buffers'
// own expanded pointers are not read and may be null). Made once after an upload; then pass
// them with the buffers to the decode and index kernels.
__global__ void texgs_expand_kernel(TEXGS_BUFFER_PARAMS, float *geometry_out, float *colors_out,
                                    int *status) {
    texgs_buffers b = texgs_make_buffers(TEXGS_BUFFER_ARGS);
    b.geometry = 0;
    b.colors = 0;
    if (!texgs_block_valid(b, false, status)) return;
    const uint32_t i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= meta[TEXGS_META_COUNT]) return;
    texgs_expand(b, i, geometry_out, colors_out);
}

// ---- tile index: count, scan, fill (ids written as 32-bit words, any order per tile) ----

struct texgs_count_visit {
    uint32_t *counts;
    __device__ void operator()(uint32_t t) { atomicAdd(&counts[t + 1u], 1u); }
};

struct texgs_fill_visit {
    uint32_t *cursors;
    uint32_t *ids;
    uint32_t id;
    __device__ void operator()(uint32_t t) { ids[atomicAdd(&cursors[t], 1u)] = id; }
};

// Pass 1, one thread per Gaussian: offsets[t + 1] += entries of tile t (offsets: uint32
// [tiles + 1], zeroed by the host).
__global__ void texgs_index_count_kernel(TEXGS_BUFFER_PARAMS, uint32_t *offsets, int *status) {
    const texgs_buffers b = texgs_make_buffers(TEXGS_BUFFER_ARGS);
    if (!texgs_block_valid(b, false, status)) return;
    const uint32_t i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= meta[TEXGS_META_COUNT]) return;
    texgs_count_visit v;
    v.counts = offsets;
    texgs_for_each_tile(b, i, v);
}

// Pass 2, one block: inclusive prefix sum of offsets[1 .. tiles] in place (offsets[0] = 0),
// copied to cursors[0 .. tiles - 1] (the fill positions). Each thread scans a contiguous run.
__global__ void texgs_index_scan_kernel(uint32_t tiles, uint32_t *offsets, uint32_t *cursors) {
    __shared__ uint32_t part[1024];
    const uint32_t lid = threadIdx.x, nt = blockDim.x;
    const uint32_t per = (tiles + nt - 1u) / nt;
    const uint32_t s0 = min(tiles, lid * per), s1 = min(tiles, s0 + per);
    uint32_t sum = 0u;
    for (uint32_t t = s0; t < s1; ++t) sum += offsets[t + 1u];
    part[lid] = sum;
    __syncthreads();
    if (lid == 0u) {
        uint32_t run = 0u;
        for (uint32_t k = 0; k < nt; ++k) {
            const uint32_t v = part[k];
            part[k] = run;
            run += v;
        }
    }
    __syncthreads();
    uint32_t run = part[lid];
    for (uint32_t t = s0; t < s1; ++t) {
        run += offsets[t + 1u];
        offsets[t + 1u] = run;
    }
    __syncthreads();
    if (lid == 0u) offsets[0] = 0u;
    for (uint32_t t = s0; t < s1; ++t) cursors[t] = t == 0u ? 0u : offsets[t];
}

// Pass 3, one thread per Gaussian: write its id at cursors[t]++ of every tile it meets
// (ids: uint32 [offsets[tiles]]).
__global__ void texgs_index_fill_kernel(TEXGS_BUFFER_PARAMS, uint32_t *cursors, uint32_t *ids,
                                        int *status) {
    const texgs_buffers b = texgs_make_buffers(TEXGS_BUFFER_ARGS);
    if (!texgs_block_valid(b, false, status)) return;
    const uint32_t i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= meta[TEXGS_META_COUNT]) return;
    texgs_fill_visit v;
    v.cursors = cursors;
    v.ids = ids;
    v.id = i;
    texgs_for_each_tile(b, i, v);
}

}  // extern "C"
