// texgs CPU render kernels: tile binning, forward (per-texel top-K blend) and backward.
//
// Plain C ABI, loaded through ctypes by texgs/bake/render_cpu.py, which compiles this file at
// first use and caches the library. The math is docs/FORMAT.md "Decoding", evaluated at texel
// centres; texgs/bake/render_ref.py holds the same math in plain PyTorch and tests compare
// the two in values and gradients.
//
// Layouts (all row-major, float32 unless said):
//   means [N,2] texel units (x right, y down); conics [N,3] (a, b, c) with
//   q = a dx^2 + 2 b dx dy + c dy^2; colors [N,C]; fallback [C];
//   image [H,W,C]; offsets int64 [tiles+1]; ids int32 [E] (Gaussian ids per tile, ascending);
//   sel int32: for each texel its K selected entries (indices into ids), ranked by (q, id),
//   -1 where fewer than K Gaussians reach; expq float: exp(-q/2) of each selected entry (0
//   where sel is -1); inv_dens float: 1 / each texel's blend denominator. All three are
//   written by the forward (so the backward needs no exponentials or divisions and
//   recomputes no blend) in a tile- and lane-blocked layout: tile t owns a block of
//   tile * GPR * kLanes texel slots (GPR = ceil(tile / kLanes) lane groups per tile row);
//   the texel at (lx, ly) inside the tile is slot group g = ly * GPR + lx / kLanes, lane
//   lx % kLanes; inv_dens at t_block + g * kLanes + lane, sel/expq entry k at
//   (t_block + g * kLanes) * K + k * kLanes + lane. The forward writes whole vectors, the
//   backward reads each tile's data contiguously. Sizes: tiles * tile * GPR * kLanes (* K);
//   tiles * tile * ceil(tile / 8) * 8 (* K) covers both builds (kLanes 8 or 4).
// Speed: the per-texel blend loops are instantiated for C = 1..4 channels (fully unrolled);
// other channel counts take a generic loop with the same arithmetic in the same order.
// Determinism: every tile is computed by one thread into its own outputs; gradients are first
// written per (tile, entry) and then summed per Gaussian in a fixed order, so results do not
// depend on the thread count.

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <thread>
#include <type_traits>
#include <vector>

#include "render_common.h"


namespace {

using texgs_bake::Grid;
using texgs_bake::kBlendEps;
using texgs_bake::kCutoffQ;
using texgs_bake::kMaxK;
using texgs_bake::make_grid;
using texgs_bake::wrap_delta;
constexpr int kMaxStackC = 64;  // channel counts up to this use stack buffers
// texgs_forward_loss's sel_mode: rank and keep nothing; rank and keep in sel the entries
// each row of lanes selected; rank only those (with the offsets and ids they were kept with).
constexpr int kSelNone = 0, kSelKeep = 1, kSelReuse = 2;

// Per-thread buffers reused from tile to tile.
struct TileScratch {
  std::vector<float> f, v;
  std::vector<uint64_t> bits;  // rank reuse: one bit per tile-local entry (keep_row_cands)
};

// Runs f(tile, scratch) for every tile; tiles are handed out one at a time to nthreads
// threads, each with its own TileScratch.
template <class F>
void parallel_tiles(int ntiles, int nthreads, F f) {
  if (nthreads <= 1 || ntiles <= 1) {
    TileScratch buf;
    for (int t = 0; t < ntiles; ++t) f(t, buf);
    return;
  }
  std::atomic<int> next(0);
  auto work = [&]() {
    TileScratch buf;
    for (;;) {
      int t = next.fetch_add(1);
      if (t >= ntiles) break;
      f(t, buf);
    }
  };
  std::vector<std::thread> pool;
  for (int i = 1; i < nthreads; ++i) pool.emplace_back(work);
  work();
  for (auto& th : pool) th.join();
}

// A row of texels at a time: eight lanes where the compiler targets AVX, else four (SSE).
// GCC/Clang vector extensions, so no intrinsics are needed for the arithmetic. The ranking
// is a branch-free insertion over all lanes at once, ordered by (q, entry) so ties keep the
// earlier entry exactly as a scalar insertion by ascending entry does.
#if defined(__AVX__)
constexpr int kLanes = 8;
#else
constexpr int kLanes = 4;
#endif
typedef float vf __attribute__((vector_size(4 * kLanes)));
typedef int32_t vi __attribute__((vector_size(4 * kLanes)));

// exp(x) on every lane, for x in about [-80, 80] (here -q/2 in [-4.5, 0]): x = n ln2 + r with
// |r| <= ln2/2 (ln2 split so n * kLn2Hi is exact), e^r by its Taylor series to r^7
// (truncation under 1e-8 relative), times 2^n through the exponent bits. Within a few ulp
// of the C library's expf; a vector, so the blend needs no per-lane calls.
inline vf exp_vf(vf x) {
  const float kLog2e = 1.44269504088896341f;
  const float kLn2Hi = 0.693115234375f;
  const float kLn2Lo = 3.19461832987e-05f;
  vf t = x * kLog2e + 0.5f;
  vi n = __builtin_convertvector(t, vi);  // toward zero; make it floor
  vf nf = __builtin_convertvector(n, vf);
  vi below = nf > t;
  n = n + below;  // true lanes are -1
  nf = __builtin_convertvector(n, vf);
  vf r = (x - nf * kLn2Hi) - nf * kLn2Lo;
  vf e = r * (1.0f / 5040.0f) + (1.0f / 720.0f);
  e = e * r + (1.0f / 120.0f);
  e = e * r + (1.0f / 24.0f);
  e = e * r + (1.0f / 6.0f);
  e = e * r + 0.5f;
  e = e * r + 1.0f;
  e = e * r + 1.0f;
  vi bits = (n + 127) << 23;
  vf scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return e * scale;
}

// The texels of tile t: [x0, x1) x [y0, y1), clipped to the texture.
struct TileRect {
  int x0, y0, x1, y1;
};

inline TileRect tile_rect(const Grid& g, int t) {
  const int x0 = (t % g.tx_n) * g.tile, y0 = (t / g.tx_n) * g.tile;
  return TileRect{x0, y0, x0 + g.tile < g.W ? x0 + g.tile : g.W,
                  y0 + g.tile < g.H ? y0 + g.tile : g.H};
}

// Texel centres of the row of lanes starting at texel (xs, y).
inline void lane_centres(int xs, int y, vf& px, vf& py) {
  for (int l = 0; l < kLanes; ++l) {
    px[l] = (float)(xs + l) + 0.5f;
    py[l] = (float)y + 0.5f;
  }
}

// A tile's candidates, copied tile-locally (structure of arrays) for the ranking; L + 1 rows:
// row L belongs to empty slots (zero colour, zero mean and conic), so gathers need no branch.
struct TileCands {
  const float *mx, *my, *a, *b2, *c, *col;  // b2: twice the conic's b; col [L + 1, C]
  int64_t L;
};

inline TileCands load_tile_cands(TileScratch& buf, const int64_t* offsets, const int32_t* ids,
                                 int t, const float* means, const float* conics,
                                 const float* colors, int C) {
  const int64_t e0 = offsets[t], L = offsets[t + 1] - e0;
  buf.f.resize((size_t)(L + 1) * (5 + C));
  float* mx = buf.f.data();
  float* my = mx + (L + 1);
  float* a = my + (L + 1);
  float* b2 = a + (L + 1);
  float* c = b2 + (L + 1);
  float* col = c + (L + 1);
  for (int64_t j = 0; j < L; ++j) {
    int i = ids[e0 + j];
    mx[j] = means[2 * i];
    my[j] = means[2 * i + 1];
    a[j] = conics[3 * i];
    b2[j] = 2.0f * conics[3 * i + 1];
    c[j] = conics[3 * i + 2];
    for (int ch = 0; ch < C; ++ch) col[j * C + ch] = colors[(int64_t)i * C + ch];
  }
  mx[L] = my[L] = a[L] = b2[L] = c[L] = 0.0f;
  for (int ch = 0; ch < C; ++ch) col[L * C + ch] = 0.0f;
  return TileCands{mx, my, a, b2, c, col, L};
}

// One row of kLanes texels ranked and weighed: per slot k the entry (tile-local; L for an
// empty slot), exp(-q/2), the blend weight (0 for empty slots) and whether it is filled;
// den = BLEND_EPS + the sum of the weights.
struct LaneBlend {
  vf w[kMaxK], ex[kMaxK], den;
  vi j[kMaxK], valid[kMaxK];
};

// Ranks the tile's candidates at texel centres (px, py) of one row of lanes (per-lane
// sorted top-K by (q, entry), see the note above kLanes) and fills b.
template <int KK>
inline void rank_lanes(const TileCands& tc, int K_rt, vf px, vf py, const Grid& g,
                       LaneBlend& b, const int32_t* list = nullptr, int64_t n_list = 0) {
  const int K = KK > 0 ? KK : K_rt;
  const float fW = (float)g.W, fH = (float)g.H;
  const float w_cut = std::exp(-0.5f * kCutoffQ);
  const vf v_zero = {};
  const vi v_izero = {};
  const vi v_none = v_izero + INT32_MAX;
  vf qk[kMaxK];
  vi ek[kMaxK];
  for (int k = 0; k < K; ++k) {
    qk[k] = v_zero + kCutoffQ;
    ek[k] = v_none;
  }
  // every candidate of the tile, or only the ascending entries of list
  const int64_t n = list ? n_list : tc.L;
  for (int64_t u = 0; u < n; ++u) {
    const int64_t j = list ? list[u] : u;
    vf dx = px - tc.mx[j], dy = py - tc.my[j];
    if (g.rep_x || g.rep_y) {
      for (int l = 0; l < kLanes; ++l) {
        if (g.rep_x) dx[l] = wrap_delta(dx[l], fW);
        if (g.rep_y) dy[l] = wrap_delta(dy[l], fH);
      }
    }
    vf q = tc.a[j] * dx * dx + tc.b2[j] * dx * dy + tc.c[j] * dy * dy;
    // No early exit for candidates that beat no lane's K-th (false for NaN and q at or
    // past the cutoff): the compares below are then all false, and the unpredictable
    // branch cost more than the update.
    // Insert (q, j) into each lane's sorted list. j exceeds every entry already there,
    // so it goes after equal q: position k takes it where q < qk[k] first holds, and
    // every later position takes its predecessor. All compares read the old list, so
    // the K updates are independent (no chain through a carried element).
    const vi ne = v_izero + (int32_t)j;
    vi m[kMaxK];
    for (int k = 0; k < K; ++k) m[k] = q < qk[k];
    for (int k = K - 1; k > 0; --k) {
      qk[k] = m[k] ? (m[k - 1] ? qk[k - 1] : q) : qk[k];
      ek[k] = m[k] ? (m[k - 1] ? ek[k - 1] : ne) : ek[k];
    }
    qk[0] = m[0] ? q : qk[0];
    ek[0] = m[0] ? ne : ek[0];
  }
  // Weights of the ranked entries (0 for empty slots, which gather the zero row L).
  b.den = v_zero + kBlendEps;
  for (int k = 0; k < K; ++k) {
    b.valid[k] = ek[k] != v_none;
    b.ex[k] = exp_vf(qk[k] * -0.5f);
    vf w = b.ex[k] - w_cut;
    w = w < v_zero ? v_zero : w;
    b.w[k] = b.valid[k] ? w : v_zero;
    b.j[k] = b.valid[k] ? ek[k] : v_izero + (int32_t)tc.L;
    b.den += b.w[k];
  }
}

// Rank reuse (texgs_forward_loss's sel_mode): a row of lanes keeps, in its block of sel
// (1 + K * kLanes int32), the count and then the ascending distinct tile-local entries its
// lanes selected; a later call ranks only those. That ranking holds every lane's previous
// top K, so with unchanged parameters it selects exactly what a full ranking selects, in
// the same order: the same bits.
inline void keep_row_cands(const LaneBlend& b, int K, int64_t L, uint64_t* bits,
                           int32_t* blk) {
  // a bit per selected entry (empty slots hold L), then the set bits in ascending order;
  // bits is all zero again on return. Up to 256 entries the four words stay in registers
  // (a store per bit made each wait on the last).
  const int64_t words = (L >> 6) + 1;  // through bit L
  if (words <= 4) {
    uint64_t r[4] = {0, 0, 0, 0};
    for (int k = 0; k < K; ++k)
      for (int l = 0; l < kLanes; ++l) {
        const uint32_t j = (uint32_t)b.j[k][l];
        const uint64_t bit = 1ull << (j & 63);
        for (int w = 0; w < 4; ++w) r[w] |= (j >> 6) == (uint32_t)w ? bit : 0;
      }
    for (int w = 0; w < 4; ++w) bits[w] = r[w];  // bits has at least 4 words
  } else {
    for (int k = 0; k < K; ++k)
      for (int l = 0; l < kLanes; ++l) {
        const uint32_t j = (uint32_t)b.j[k][l];
        bits[j >> 6] |= 1ull << (j & 63);
      }
  }
  int32_t* list = blk + 1;
  int32_t n = 0;
  for (int64_t w = 0; w < words; ++w) {
    uint64_t m = bits[w];
    bits[w] = 0;
    while (m) {
      const int32_t j = (int32_t)(w * 64 + __builtin_ctzll(m));
      m &= m - 1;
      if (j < L) list[n++] = j;
    }
  }
  blk[0] = n;
}

// v with lanes n and up set to zero.
inline vf masked(vf v, int n) {
  for (int l = n; l < kLanes; ++l) v[l] = 0.0f;
  return v;
}

// Channel c of the blend on every lane: (BLEND_EPS fallback + sum_k w_k col_k) / den. With
// colk given, each slot's gathered colour col_k is kept there too.
inline vf blend_channel(const TileCands& tc, const LaneBlend& b, int K, int C, int c,
                        float fallback_c, vf* colk = nullptr) {
  const vf v_zero = {};
  vf acc = v_zero + kBlendEps * fallback_c;
  for (int k = 0; k < K; ++k) {
    vf col;
    for (int l = 0; l < kLanes; ++l) col[l] = tc.col[(int64_t)b.j[k][l] * C + c];
    acc += b.w[k] * col;
    if (colk) colk[k] = col;
  }
  return acc / b.den;
}

// Forward render of one tile for CC channels and KK selected per texel (0: the runtime
// counts C and K).
template <int CC, int KK>
void forward_tile(int t, const Grid& g, const float* means, const float* conics,
                  const float* colors, const float* fallback, int C_rt, int K_rt,
                  const int64_t* offsets, const int32_t* ids, float* image, int32_t* sel,
                  float* expq, float* inv_dens, TileScratch& buf) {
  const int C = CC > 0 ? CC : C_rt;
  const int K = KK > 0 ? KK : K_rt;
  const int W = g.W, tile = g.tile;
  const int64_t e0 = offsets[t];
  const auto [x0, y0, x1, y1] = tile_rect(g, t);
  const TileCands tc = load_tile_cands(buf, offsets, ids, t, means, conics, colors, C);
  const int gpr = (tile + kLanes - 1) / kLanes;  // lane groups per tile row
  const int64_t tblk = (int64_t)t * tile * gpr * kLanes;  // this tile's block
  const vf v_zero = {};
  const vi v_izero = {};
  LaneBlend b;
  for (int y = y0; y < y1; ++y) {
    for (int xs = x0; xs < x1; xs += kLanes) {
      vf px, py;
      lane_centres(xs, y, px, py);
      rank_lanes<KK>(tc, K, px, py, g, b);
      int xe = x1 - xs < kLanes ? x1 - xs : kLanes;
      int64_t p0 = (int64_t)y * W + xs;
      for (int c = 0; c < C; ++c) {
        vf v = blend_channel(tc, b, K, C, c, fallback[c]);
        for (int l = 0; l < xe; ++l) image[(p0 + l) * C + c] = v[l];
      }
      // sel and expq of all lanes, as vectors, in the lane-blocked layout (see the header)
      const int64_t grp = tblk + ((int64_t)(y - y0) * gpr + (xs - x0) / kLanes) * kLanes;
      const int64_t blk = grp * K;
      for (int k = 0; k < K; ++k) {
        vi sk = b.valid[k] ? b.j[k] + (int32_t)e0 : v_izero - 1;
        vf xk = b.valid[k] ? b.ex[k] : v_zero;
        std::memcpy(sel + blk + (int64_t)k * kLanes, &sk, sizeof(sk));
        std::memcpy(expq + blk + (int64_t)k * kLanes, &xk, sizeof(xk));
      }
      vf inv_den = 1.0f / b.den;
      std::memcpy(inv_dens + grp, &inv_den, sizeof(inv_den));
    }
  }
}

// The forward and the backward of a weighted sum of per-channel squared errors in one pass
// over one tile (texgs_forward_loss): the image, the tile's squared error per channel
// (sse_tile [C], double, texel order), and the gradient rows of its entries (gtile: rows
// of 5 + C floats by tile-local entry, as backward_tile writes them) and of the fallback
// (fb_tile [C]), for the image gradient gscale[c] * (image - target). Nothing per texel is
// kept for a later pass. Every sum is formed in the order backward_tile forms it (texels in
// row order, then the texel's slots), so the results are the same bits as texgs_forward
// followed by texgs_backward with that gscale.
template <int CC, int KK, bool REP>
void loss_tile(int t, const Grid& g, const float* means, const float* conics,
               const float* colors, const float* fallback, int C_rt, int K_rt,
               const int64_t* offsets, const int32_t* ids, const float* target,
               const float* gscale, float* image, double* sse_tile, float* gtile,
               double* fb_tile, int32_t* sel, int sel_mode, TileScratch& buf) {
  const int C = CC > 0 ? CC : C_rt;
  const int K = KK > 0 ? KK : K_rt;
  const int P = 5 + C;
  const int gpr = (g.tile + kLanes - 1) / kLanes;  // lane groups per tile row
  const int64_t tgrp = (int64_t)t * g.tile * gpr;  // this tile's first row group in sel
  const int W = g.W, H = g.H;
  const auto [x0, y0, x1, y1] = tile_rect(g, t);
  const TileCands tc = load_tile_cands(buf, offsets, ids, t, means, conics, colors, C);
  if (sel_mode == kSelKeep) buf.bits.assign((size_t)(tc.L >> 6) + 4, 0);
  // per channel: the blend and the image gradient of the current row of lanes
  buf.v.resize((size_t)(K + 2) * C * kLanes);
  float* cgs = buf.v.data();  // [K, C, kLanes]: each slot's colour gradient on every lane
  // [C, kLanes] each: the row's target and blend by channel. The target is read into it
  // texel by texel before the channel loop and each channel loaded as one vector; the blend
  // is stored as vectors and written out texel by texel after it. Building a vector lane by
  // lane from the interleaved target made the compiler assemble it in a stack slot half by
  // half and read it back whole, a store-forwarding stall that perf put at 16 % of the pass.
  float* trow = cgs + (size_t)K * C * kLanes;
  float* vrow = trow + (size_t)C * kLanes;
  // The tile's sums, in locals (kept in registers for C <= 4; the outputs may alias as far
  // as the compiler knows, and a store per texel made each add wait on the last one).
  double sse_s[kMaxStackC], fb_s[kMaxStackC];
  std::vector<double> sums_heap;
  double* sse_acc = sse_s;
  double* fb_acc = fb_s;
  if (C > kMaxStackC) {
    sums_heap.resize((size_t)2 * C);
    sse_acc = sums_heap.data();
    fb_acc = sse_acc + C;
  }
  for (int c = 0; c < C; ++c) {
    sse_acc[c] = 0.0;
    fb_acc[c] = 0.0;
  }
  const float fW = (float)W, fH = (float)H;
  const vf v_zero = {};
  LaneBlend b;
  vf geo[kMaxK][5];  // per slot: the gradient of its mean (2) and conic (3), on every lane
  for (int y = y0; y < y1; ++y) {
    for (int xs = x0; xs < x1; xs += kLanes) {
      vf px, py;
      lane_centres(xs, y, px, py);
      // this row of lanes' block of sel (keep_row_cands)
      int32_t* sel_blk = sel == nullptr ? nullptr :
          sel + (tgrp + (int64_t)(y - y0) * gpr + (xs - x0) / kLanes) *
                (1 + (int64_t)K * kLanes);
      if (sel_mode == kSelReuse) {
        rank_lanes<KK>(tc, K, px, py, g, b, sel_blk + 1, sel_blk[0]);
      } else {
        rank_lanes<KK>(tc, K, px, py, g, b);
        if (sel_mode == kSelKeep) keep_row_cands(b, K, tc.L, buf.bits.data(), sel_blk);
      }
      const int xe = x1 - xs < kLanes ? x1 - xs : kLanes;
      const int64_t p0 = (int64_t)y * W + xs;
      const vf inv = 1.0f / b.den;
      vf gw[kMaxK];
      for (int k = 0; k < K; ++k) gw[k] = v_zero;
      for (int l = 0; l < kLanes; ++l)
        for (int c = 0; c < C; ++c)
          trow[c * kLanes + l] = l < xe ? target[(p0 + l) * C + c] : 0.0f;
      for (int c = 0; c < C; ++c) {
        vf colk[kMaxK];  // each slot's colour, for the gradient
        const vf v = blend_channel(tc, b, K, C, c, fallback[c], colk);
        vf tv;
        std::memcpy(&tv, trow + c * kLanes, sizeof(tv));
        std::memcpy(vrow + c * kLanes, &v, sizeof(v));
        const vf gT = masked(gscale[c] * (v - tv), xe);
        const vf fbv = kBlendEps * inv * gT;
        double ss = sse_acc[c], fs = fb_acc[c];
        for (int l = 0; l < xe; ++l) {
          const double d = (double)v[l] - (double)tv[l];
          ss += d * d;
          fs += (double)fbv[l];
        }
        sse_acc[c] = ss;
        fb_acc[c] = fs;
        for (int k = 0; k < K; ++k) {
          gw[k] += gT * (colk[k] - v);
          const vf cg = b.w[k] * inv * gT;  // the colour gradient of slot k
          std::memcpy(cgs + ((size_t)k * C + c) * kLanes, &cg, sizeof(cg));
        }
      }
      for (int l = 0; l < xe; ++l)
        for (int c = 0; c < C; ++c) image[(p0 + l) * C + c] = vrow[c * kLanes + l];
      for (int k = 0; k < K; ++k) {
        vf mx, my, ca, cb, cc;
        for (int l = 0; l < kLanes; ++l) {
          const int j = b.j[k][l];
          mx[l] = tc.mx[j];
          my[l] = tc.my[j];
          ca[l] = tc.a[j];
          cb[l] = tc.b2[j];
          cc[l] = tc.c[j];
        }
        cb = 0.5f * cb;
        vf dx = px - mx, dy = py - my;
        if (REP) {
          for (int l = 0; l < kLanes; ++l) {
            if (g.rep_x) dx[l] = wrap_delta(dx[l], fW);
            if (g.rep_y) dy[l] = wrap_delta(dy[l], fH);
          }
        }
        const vf q = gw[k] * inv * (-0.5f) * b.ex[k];
        geo[k][0] = -q * 2.0f * (ca * dx + cb * dy);
        geo[k][1] = -q * 2.0f * (cb * dx + cc * dy);
        geo[k][2] = q * dx * dx;
        geo[k][3] = q * 2.0f * dx * dy;
        geo[k][4] = q * dy * dy;
      }
      // Scatter into the entries' rows, texel by texel, then slot by slot.
      for (int l = 0; l < xe; ++l) {
        for (int k = 0; k < K && b.valid[k][l]; ++k) {
          float* ge = gtile + (int64_t)b.j[k][l] * P;
          const float* cg = cgs + (size_t)k * C * kLanes + l;
          for (int c = 0; c < C; ++c) ge[5 + c] += cg[(size_t)c * kLanes];
          if (b.w[k][l] <= 0.0f) continue;
          for (int i = 0; i < 5; ++i) ge[i] += geo[k][i][l];
        }
      }
    }
  }
  for (int c = 0; c < C; ++c) {
    sse_tile[c] = sse_acc[c];
    fb_tile[c] = fb_acc[c];
  }
}

// Backward of one tile for CC channels (CC = 0: the runtime count C): per-entry gradients
// into scratch (rows of 5 + C floats per entry of the tile), the fallback's into fb_tile.
// Uses the forward's outputs (image, inv_dens, sel, expq), so it recomputes no blend. The
// tile's candidates are first copied into tile-local records (mean, conic, colours: one
// cache line or two per candidate); REP: compiled with the repeat wrap (else clamp only).
template <int CC, bool REP>
void backward_tile(int t, const Grid& g, const float* means, const float* conics,
                   const float* colors, int C_rt, int K, const int64_t* offsets,
                   const int32_t* ids, const float* image, const float* inv_dens,
                   const int32_t* sel, const float* expq, const float* grad_image,
                   const float* target, const float* gscale, float* scratch,
                   double* fb_tile, TileScratch& buf) {
  const int C = CC > 0 ? CC : C_rt;
  const int P = 5 + C;
  float gTs[kMaxStackC];
  std::vector<float> gT_heap;
  float* gTl = gTs;  // the image gradient of one texel, when formed from the target
  if (C > kMaxStackC) {
    gT_heap.resize(C);
    gTl = gT_heap.data();
  }
  const int W = g.W, H = g.H, tile = g.tile;
  const auto [x0, y0, x1, y1] = tile_rect(g, t);
  const int64_t e0 = offsets[t];
  const int64_t L = offsets[t + 1] - e0;
  buf.f.resize((size_t)L * P + 1);
  float* cand = buf.f.data();  // [L, 5 + C]: mx, my, a, b, c, colours
  for (int64_t j = 0; j < L; ++j) {
    int i = ids[e0 + j];
    float* r = cand + j * P;
    r[0] = means[2 * i];
    r[1] = means[2 * i + 1];
    r[2] = conics[3 * i];
    r[3] = conics[3 * i + 1];
    r[4] = conics[3 * i + 2];
    for (int c = 0; c < C; ++c) r[5 + c] = colors[(int64_t)i * C + c];
  }
  const float w_cut = std::exp(-0.5f * kCutoffQ);
  double fbs[kMaxStackC];
  std::vector<double> fb_heap;
  double* fbt = fbs;  // this tile's fallback gradient, written out once at the end
  if (C > kMaxStackC) {
    fb_heap.resize(C);
    fbt = fb_heap.data();
  }
  for (int c = 0; c < C; ++c) fbt[c] = 0.0;
  float* gtile = scratch + e0 * P;  // this tile's rows, indexed by local entry
  const int gpr = (tile + kLanes - 1) / kLanes;  // lane groups per tile row
  const int64_t tblk = (int64_t)t * tile * gpr * kLanes;  // this tile's block
  for (int y = y0; y < y1; ++y) {
    for (int x = x0; x < x1; ++x) {
      int64_t p = (int64_t)y * W + x;
      const int lx = x - x0;
      const int64_t grp = tblk + ((int64_t)(y - y0) * gpr + lx / kLanes) * kLanes;
      const int64_t blk = grp * K + lx % kLanes;
      const int32_t* s = sel + blk;  // entry k at s[k * kLanes]
      const float* eq = expq + blk;
      const float* T = image + p * C;  // the blend: sum w col / den
      const float* gT;
      if (target) {
        for (int c = 0; c < C; ++c) gTl[c] = gscale[c] * (T[c] - target[p * C + c]);
        gT = gTl;
      } else {
        gT = grad_image + p * C;
      }
      const float inv = inv_dens[grp + lx % kLanes];
      for (int c = 0; c < C; ++c) fbt[c] += (double)(kBlendEps * inv * gT[c]);
      float px = x + 0.5f, py = y + 0.5f;
      for (int k = 0; k < K && s[k * kLanes] >= 0; ++k) {
        int j = (int)(s[k * kLanes] - e0);
        const float eqk = eq[k * kLanes];
        float w = eqk - w_cut;
        if (w < 0.0f) w = 0.0f;
        float* ge = gtile + (int64_t)j * P;
        const float* r = cand + (int64_t)j * P;
        const float* col = r + 5;
        float gw = 0.0f;
        for (int c = 0; c < C; ++c) {
          ge[5 + c] += w * inv * gT[c];
          gw += gT[c] * (col[c] - T[c]);
        }
        if (w <= 0.0f) continue;
        gw *= inv;
        float dx = px - r[0], dy = py - r[1];
        if (REP) {
          if (g.rep_x) dx = wrap_delta(dx, (float)W);
          if (g.rep_y) dy = wrap_delta(dy, (float)H);
        }
        float gq = gw * (-0.5f) * eqk;
        ge[0] += -gq * 2.0f * (r[2] * dx + r[3] * dy);
        ge[1] += -gq * 2.0f * (r[3] * dx + r[4] * dy);
        ge[2] += gq * dx * dx;
        ge[3] += gq * 2.0f * dx * dy;
        ge[4] += gq * dy * dy;
      }
    }
  }
  double* out = fb_tile + (size_t)t * C;
  for (int c = 0; c < C; ++c) out[c] = fbt[c];
}

// Calls f(std::integral_constant-like tag) with the channel count fixed at compile time for
// C = 1..4, or 0 (runtime count) otherwise.
template <class F>
void dispatch_channels(int C, F f) {
  switch (C) {
    case 1: f(std::integral_constant<int, 1>()); break;
    case 2: f(std::integral_constant<int, 2>()); break;
    case 3: f(std::integral_constant<int, 3>()); break;
    case 4: f(std::integral_constant<int, 4>()); break;
    default: f(std::integral_constant<int, 0>()); break;
  }
}

// Sums the per-(tile, entry) gradient rows (scratch [E, 5 + C]) into per-Gaussian
// gradients and the per-tile fallback gradients (fb_tile [ntiles, C], double) into
// grad_fallback, in entry and tile order (so results do not depend on the thread count).
void reduce_entry_grads(int n, int C, int ntiles, int64_t E, const int32_t* ids,
                        const float* scratch, const double* fb_tile, float* grad_means,
                        float* grad_conics, float* grad_colors, float* grad_fallback) {
  const int P = 5 + C;
  std::memset(grad_means, 0, sizeof(float) * (size_t)n * 2);
  std::memset(grad_conics, 0, sizeof(float) * (size_t)n * 3);
  std::memset(grad_colors, 0, sizeof(float) * (size_t)n * C);
  for (int64_t e = 0; e < E; ++e) {
    int i = ids[e];
    const float* ge = scratch + e * P;
    grad_means[2 * i] += ge[0];
    grad_means[2 * i + 1] += ge[1];
    grad_conics[3 * i] += ge[2];
    grad_conics[3 * i + 1] += ge[3];
    grad_conics[3 * i + 2] += ge[4];
    for (int c = 0; c < C; ++c) grad_colors[(int64_t)i * C + c] += ge[5 + c];
  }
  for (int c = 0; c < C; ++c) {
    double sum = 0.0;
    for (int t = 0; t < ntiles; ++t) sum += fb_tile[(size_t)t * C + c];
    grad_fallback[c] = (float)sum;
  }
}

}  // namespace

extern "C" {

// Lanes per row group of this build (8 with AVX, else 4): the per-texel layouts depend on it.
int texgs_lanes() { return kLanes; }

// Bin Gaussians into tiles. Fills offsets [tiles+1]; fills ids only when the total fits in
// capacity. Returns the total number of entries. The Gaussians are split into nthreads
// consecutive ranges, each counted and filled by one thread; a tile's entries from range r
// follow those of range r - 1, so every list ascends as a single pass would make it.
int64_t texgs_bin(int n, const float* means, const float* conics, int W, int H, int tile,
                  int rep_x, int rep_y, int64_t* offsets, int32_t* ids, int64_t capacity,
                  int nthreads) {
  Grid g = make_grid(W, H, tile, rep_x, rep_y);
  int ntiles = g.tx_n * g.ty_n;
  int T = nthreads < 1 ? 1 : nthreads;
  if (T > 1 + n / 8192) T = 1 + n / 8192;  // threads cost more than small lists
  std::vector<std::vector<int64_t>> cur(T, std::vector<int64_t>(ntiles, 0));
  auto over_ranges = [&](auto f) {
    std::vector<std::thread> pool;
    for (int r = 1; r < T; ++r) pool.emplace_back(f, r);
    f(0);
    for (auto& th : pool) th.join();
  };
  over_ranges([&](int r) {
    std::vector<int64_t>& c = cur[r];
    for (int i = (int)((int64_t)n * r / T); i < (int)((int64_t)n * (r + 1) / T); ++i)
      texgs_bake::for_each_tile_of(g, means + 2 * i, conics + 3 * i, [&](int t) { c[t]++; });
  });
  offsets[0] = 0;
  for (int t = 0; t < ntiles; ++t) {
    int64_t start = offsets[t];
    for (int r = 0; r < T; ++r) {  // the counts become each range's fill position
      int64_t cnt = cur[r][t];
      cur[r][t] = start;
      start += cnt;
    }
    offsets[t + 1] = start;
  }
  int64_t total = offsets[ntiles];
  if (total > capacity) return total;
  over_ranges([&](int r) {
    std::vector<int64_t>& fill = cur[r];
    for (int i = (int)((int64_t)n * r / T); i < (int)((int64_t)n * (r + 1) / T); ++i)
      texgs_bake::for_each_tile_of(g, means + 2 * i, conics + 3 * i,
                                   [&](int t) { ids[fill[t]++] = i; });
  });
  return total;
}


// Sum of squared differences image - target per channel over one tile, in double.
void tile_sse(int t, const Grid& g, int C, const float* image, const float* target,
              double* out) {
  const auto [x0, y0, x1, y1] = tile_rect(g, t);
  for (int c = 0; c < C; ++c) out[c] = 0.0;
  for (int y = y0; y < y1; ++y) {
    const float* a = image + ((int64_t)y * g.W + x0) * C;
    const float* b = target + ((int64_t)y * g.W + x0) * C;
    for (int i = 0; i < (x1 - x0); ++i)
      for (int c = 0; c < C; ++c) {
        double d = (double)a[i * C + c] - (double)b[i * C + c];
        out[c] += d * d;
      }
  }
}

// Forward render at texel centres. Returns 0, or -1 on bad arguments.
// target [H,W,C] and sse [C] (both NULL, or both given): also the sum over texels of
// (image - target)^2 per channel, reduced per tile and then in tile order (deterministic).
int texgs_forward(int n, const float* means, const float* conics, const float* colors,
                  const float* fallback, int C, int W, int H, int tile, int K, int rep_x,
                  int rep_y, const int64_t* offsets, const int32_t* ids, int nthreads,
                  float* image, int32_t* sel, float* expq, float* inv_dens,
                  const float* target, double* sse) {
  if (K < 1 || K > kMaxK || C < 1) return -1;
  (void)n;
  Grid g = make_grid(W, H, tile, rep_x, rep_y);
  int ntiles = g.tx_n * g.ty_n;
  std::vector<double> sse_tile(target ? (size_t)ntiles * C : 0);
  dispatch_channels(C, [&](auto cc) {
    constexpr int CC = decltype(cc)::value;
    parallel_tiles(ntiles, nthreads, [&](int t, TileScratch& buf) {
      if (K == 5)  // the default: the ranking network unrolled, its state in registers
        forward_tile<CC, 5>(t, g, means, conics, colors, fallback, C, K, offsets, ids, image,
                            sel, expq, inv_dens, buf);
      else
        forward_tile<CC, 0>(t, g, means, conics, colors, fallback, C, K, offsets, ids, image,
                            sel, expq, inv_dens, buf);
      if (target) tile_sse(t, g, C, image, target, sse_tile.data() + (size_t)t * C);
    });
  });
  if (target) {
    for (int c = 0; c < C; ++c) {
      double sum = 0.0;
      for (int t = 0; t < ntiles; ++t) sum += sse_tile[(size_t)t * C + c];
      sse[c] = sum;
    }
  }
  return 0;
}

// Backward of texgs_forward, given its outputs image, inv_dens, sel and expq. grad_image
// [H,W,C] -> grad_means [N,2], grad_conics [N,3], grad_colors [N,C], grad_fallback [C] (all
// overwritten). scratch: float [E * (5 + C)]. With target [H,W,C] and gscale [C] given
// instead of grad_image (NULL), the image gradient is gscale[c] * (image - target), the
// gradient of a weighted sum of per-channel squared errors, formed texel by texel.
int texgs_backward(int n, const float* means, const float* conics, const float* colors,
                   const float* fallback, int C, int W, int H, int tile, int K, int rep_x,
                   int rep_y, const int64_t* offsets, const int32_t* ids, const float* image,
                   const float* inv_dens, const int32_t* sel, const float* expq,
                   const float* grad_image, int nthreads, float* scratch,
                   float* grad_means, float* grad_conics, float* grad_colors,
                   float* grad_fallback, const float* target, const float* gscale) {
  if (K < 1 || K > kMaxK || C < 1) return -1;
  if ((grad_image == nullptr) == (target == nullptr || gscale == nullptr)) return -1;
  Grid g = make_grid(W, H, tile, rep_x, rep_y);
  int ntiles = g.tx_n * g.ty_n;
  const int P = 5 + C;
  int64_t E = offsets[ntiles];
  std::memset(scratch, 0, sizeof(float) * (size_t)E * P);
  std::vector<double> fb_tile((size_t)ntiles * C, 0.0);
  dispatch_channels(C, [&](auto cc) {
    constexpr int CC = decltype(cc)::value;
    parallel_tiles(ntiles, nthreads, [&](int t, TileScratch& buf) {
      if (rep_x || rep_y)
        backward_tile<CC, true>(t, g, means, conics, colors, C, K, offsets, ids, image,
                                inv_dens, sel, expq, grad_image, target, gscale, scratch,
                                fb_tile.data(), buf);
      else
        backward_tile<CC, false>(t, g, means, conics, colors, C, K, offsets, ids, image,
                                 inv_dens, sel, expq, grad_image, target, gscale, scratch,
                                 fb_tile.data(), buf);
    });
  });
  reduce_entry_grads(n, C, ntiles, E, ids, scratch, fb_tile.data(), grad_means, grad_conics,
                     grad_colors, grad_fallback);
  return 0;
}

// The forward and backward of loss = sum_c gscale[c] / 2 * sum over texels of
// (image - target)^2 in one pass (loss_tile), for a loss whose weights are known before
// the render (a fixed weighted sum of per-channel MSEs): writes the image [H,W,C], the
// per-channel sums of squared error sse [C] (as texgs_forward with a target) and the
// gradients of that loss (as texgs_backward with target and gscale: the same bits), with no
// per-texel hand-over buffers. scratch: float [E * (5 + C)]. Rank reuse: with sel_mode
// kSelKeep, sel (int32 [tiles * tile * GPR * (1 + K * kLanes)]) receives, per row of
// lanes, the entries its texels selected (keep_row_cands); with kSelReuse each row ranks
// only those, and offsets and ids must be the ones they were kept with. Returns 0, or -1
// on bad arguments.
int texgs_forward_loss(int n, const float* means, const float* conics, const float* colors,
                       const float* fallback, int C, int W, int H, int tile, int K, int rep_x,
                       int rep_y, const int64_t* offsets, const int32_t* ids, int nthreads,
                       const float* target, const float* gscale, float* image, double* sse,
                       float* scratch, float* grad_means, float* grad_conics,
                       float* grad_colors, float* grad_fallback, int32_t* sel,
                       int sel_mode) {
  if (K < 1 || K > kMaxK || C < 1 || target == nullptr || gscale == nullptr) return -1;
  if (sel_mode < kSelNone || sel_mode > kSelReuse || (sel_mode != kSelNone && !sel)) return -1;
  Grid g = make_grid(W, H, tile, rep_x, rep_y);
  int ntiles = g.tx_n * g.ty_n;
  const int P = 5 + C;
  int64_t E = offsets[ntiles];
  std::memset(scratch, 0, sizeof(float) * (size_t)E * P);
  std::vector<double> fb_tile((size_t)ntiles * C, 0.0);
  std::vector<double> sse_tile((size_t)ntiles * C, 0.0);
  dispatch_channels(C, [&](auto cc) {
    constexpr int CC = decltype(cc)::value;
    parallel_tiles(ntiles, nthreads, [&](int t, TileScratch& buf) {
      float* gt = scratch + offsets[t] * P;
      double* st = sse_tile.data() + (size_t)t * C;
      double* ft = fb_tile.data() + (size_t)t * C;
      const bool rep = rep_x || rep_y;
      if (K == 5 && rep)
        loss_tile<CC, 5, true>(t, g, means, conics, colors, fallback, C, K, offsets, ids,
                               target, gscale, image, st, gt, ft, sel, sel_mode, buf);
      else if (K == 5)
        loss_tile<CC, 5, false>(t, g, means, conics, colors, fallback, C, K, offsets, ids,
                                target, gscale, image, st, gt, ft, sel, sel_mode, buf);
      else if (rep)
        loss_tile<CC, 0, true>(t, g, means, conics, colors, fallback, C, K, offsets, ids,
                               target, gscale, image, st, gt, ft, sel, sel_mode, buf);
      else
        loss_tile<CC, 0, false>(t, g, means, conics, colors, fallback, C, K, offsets, ids,
                                target, gscale, image, st, gt, ft, sel, sel_mode, buf);
    });
  });
  for (int c = 0; c < C; ++c) {
    double sum = 0.0;
    for (int t = 0; t < ntiles; ++t) sum += sse_tile[(size_t)t * C + c];
    sse[c] = sum;
  }
  reduce_entry_grads(n, C, ntiles, E, ids, scratch, fb_tile.data(), grad_means, grad_conics,
                     grad_colors, grad_fallback);
  return 0;
}

}  // extern "C"
