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
//   sel int32 [H,W,K]: for each texel its selected entries (indices into ids), ranked by
//   (q, id), -1 where fewer than K Gaussians reach.
// Determinism: every tile is computed by one thread into its own outputs; gradients are first
// written per (tile, entry) and then summed per Gaussian in a fixed order, so results do not
// depend on the thread count.

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

namespace {

constexpr float kCutoffQ = 9.0f;
constexpr float kBlendEps = 1e-4f;
constexpr double kPadRel = 1e-3;
constexpr double kPadAbs = 1e-2;
constexpr int kMaxK = 32;

struct Grid {
  int W, H, tile, tx_n, ty_n, rep_x, rep_y;
};

inline float wrap_delta(float d, float size) { return d - size * std::floor(d / size + 0.5f); }

// Tiles along one axis whose span [t*tile, (t+1)*tile) meets [lo, hi]; calls f(t) for each,
// ascending, without duplicates.
template <class F>
void axis_tiles(double lo, double hi, int size, int tile, int n, int repeat, F f) {
  if (!repeat) {
    int t0 = (int)std::floor(lo / tile);
    int t1 = (int)std::floor(hi / tile);
    if (t0 < 0) t0 = 0;
    if (t1 > n - 1) t1 = n - 1;
    for (int t = t0; t <= t1; ++t) f(t);
    return;
  }
  if (hi - lo >= size) {
    for (int t = 0; t < n; ++t) f(t);
    return;
  }
  double lo2 = lo - size * std::floor(lo / size);
  double hi2 = lo2 + (hi - lo);
  int t0 = (int)std::floor(lo2 / tile);
  if (hi2 < size) {
    int t1 = (int)std::floor(hi2 / tile);
    if (t1 > n - 1) t1 = n - 1;
    for (int t = t0; t <= t1; ++t) f(t);
    return;
  }
  int t1 = (int)std::floor((hi2 - size) / tile);
  if (t1 > n - 1) t1 = n - 1;
  // Second piece [0, t1] first so the union ascends; skip overlap with [t0, n).
  for (int t = 0; t <= t1 && t < t0; ++t) f(t);
  for (int t = t0; t < n; ++t) f(t);
}

template <class F>
void for_each_tile_of(const Grid& g, const float* m, const float* cn, F f) {
  double a = cn[0], b = cn[1], c = cn[2];
  double det = a * c - b * b;
  if (det < 1e-30) det = 1e-30;
  double rx = std::sqrt((double)kCutoffQ * c / det) * (1.0 + kPadRel) + kPadAbs;
  double ry = std::sqrt((double)kCutoffQ * a / det) * (1.0 + kPadRel) + kPadAbs;
  double mx = m[0], my = m[1];
  axis_tiles(my - ry, my + ry, g.H, g.tile, g.ty_n, g.rep_y, [&](int ty) {
    axis_tiles(mx - rx, mx + rx, g.W, g.tile, g.tx_n, g.rep_x,
               [&](int tx) { f(ty * g.tx_n + tx); });
  });
}

template <class F>
void parallel_tiles(int ntiles, int nthreads, F f) {
  if (nthreads <= 1 || ntiles <= 1) {
    for (int t = 0; t < ntiles; ++t) f(t);
    return;
  }
  std::atomic<int> next(0);
  auto work = [&]() {
    for (;;) {
      int t = next.fetch_add(1);
      if (t >= ntiles) break;
      f(t);
    }
  };
  std::vector<std::thread> pool;
  for (int i = 1; i < nthreads; ++i) pool.emplace_back(work);
  work();
  for (auto& th : pool) th.join();
}

}  // namespace

extern "C" {

// Bin Gaussians into tiles. Fills offsets [tiles+1]; fills ids only when the total fits in
// capacity. Returns the total number of entries.
int64_t texgs_bin(int n, const float* means, const float* conics, int W, int H, int tile,
                  int rep_x, int rep_y, int64_t* offsets, int32_t* ids, int64_t capacity) {
  Grid g{W, H, tile, (W + tile - 1) / tile, (H + tile - 1) / tile, rep_x, rep_y};
  int ntiles = g.tx_n * g.ty_n;
  std::vector<int64_t> counts(ntiles, 0);
  for (int i = 0; i < n; ++i)
    for_each_tile_of(g, means + 2 * i, conics + 3 * i, [&](int t) { counts[t]++; });
  offsets[0] = 0;
  for (int t = 0; t < ntiles; ++t) offsets[t + 1] = offsets[t] + counts[t];
  int64_t total = offsets[ntiles];
  if (total > capacity) return total;
  std::vector<int64_t> fill(offsets, offsets + ntiles);
  for (int i = 0; i < n; ++i)
    for_each_tile_of(g, means + 2 * i, conics + 3 * i, [&](int t) { ids[fill[t]++] = i; });
  return total;
}

// Forward render at texel centres. Returns 0, or -1 on bad arguments.
int texgs_forward(int n, const float* means, const float* conics, const float* colors,
                  const float* fallback, int C, int W, int H, int tile, int K, int rep_x,
                  int rep_y, const int64_t* offsets, const int32_t* ids, int nthreads,
                  float* image, int32_t* sel) {
  if (K < 1 || K > kMaxK) return -1;
  (void)n;
  Grid g{W, H, tile, (W + tile - 1) / tile, (H + tile - 1) / tile, rep_x, rep_y};
  const float w_cut = std::exp(-0.5f * kCutoffQ);
  parallel_tiles(g.tx_n * g.ty_n, nthreads, [&](int t) {
    int tx = t % g.tx_n, ty = t / g.tx_n;
    int64_t e0 = offsets[t], e1 = offsets[t + 1];
    int x0 = tx * tile, y0 = ty * tile;
    int x1 = x0 + tile < W ? x0 + tile : W;
    int y1 = y0 + tile < H ? y0 + tile : H;
    float qk[kMaxK];
    int32_t ek[kMaxK];
    std::vector<float> acc(C);
    // Tile-local copies of the candidates (structure of arrays) and a q buffer, so the
    // distance loop is a straight, vectorizable pass.
    int64_t L = e1 - e0;
    std::vector<float> cmx(L), cmy(L), ca(L), cb(L), cc(L), qbuf(L);
    for (int64_t j = 0; j < L; ++j) {
      int i = ids[e0 + j];
      cmx[j] = means[2 * i];
      cmy[j] = means[2 * i + 1];
      ca[j] = conics[3 * i];
      cb[j] = 2.0f * conics[3 * i + 1];
      cc[j] = conics[3 * i + 2];
    }
    const float fW = (float)W, fH = (float)H;
    for (int y = y0; y < y1; ++y) {
      for (int x = x0; x < x1; ++x) {
        float px = x + 0.5f, py = y + 0.5f;
        if (rep_x || rep_y) {
          for (int64_t j = 0; j < L; ++j) {
            float dx = px - cmx[j], dy = py - cmy[j];
            if (rep_x) dx = wrap_delta(dx, fW);
            if (rep_y) dy = wrap_delta(dy, fH);
            qbuf[j] = ca[j] * dx * dx + cb[j] * dx * dy + cc[j] * dy * dy;
          }
        } else {
          for (int64_t j = 0; j < L; ++j) {
            float dx = px - cmx[j], dy = py - cmy[j];
            qbuf[j] = ca[j] * dx * dx + cb[j] * dx * dy + cc[j] * dy * dy;
          }
        }
        int cnt = 0;
        float kth = kCutoffQ;  // a candidate must beat this to enter
        for (int64_t j = 0; j < L; ++j) {
          float q = qbuf[j];
          if (!(q < kth)) continue;
          int pos;
          if (cnt < K) {
            pos = cnt++;
          } else {
            pos = K - 1;
          }
          while (pos > 0 && qk[pos - 1] > q) {
            qk[pos] = qk[pos - 1];
            ek[pos] = ek[pos - 1];
            --pos;
          }
          qk[pos] = q;
          ek[pos] = (int32_t)(e0 + j);
          if (cnt == K) kth = qk[K - 1];
        }
        float den = kBlendEps;
        for (int c = 0; c < C; ++c) acc[c] = kBlendEps * fallback[c];
        for (int k = 0; k < cnt; ++k) {
          float w = std::exp(-0.5f * qk[k]) - w_cut;
          if (w < 0.0f) w = 0.0f;
          den += w;
          const float* col = colors + (int64_t)ids[ek[k]] * C;
          for (int c = 0; c < C; ++c) acc[c] += w * col[c];
        }
        int64_t p = (int64_t)y * W + x;
        for (int c = 0; c < C; ++c) image[p * C + c] = acc[c] / den;
        int32_t* s = sel + p * K;
        for (int k = 0; k < K; ++k) s[k] = k < cnt ? ek[k] : -1;
      }
    }
  });
  return 0;
}

// Backward of texgs_forward. grad_image [H,W,C] -> grad_means [N,2], grad_conics [N,3],
// grad_colors [N,C], grad_fallback [C] (all overwritten). scratch: float [E * (5 + C)].
int texgs_backward(int n, const float* means, const float* conics, const float* colors,
                   const float* fallback, int C, int W, int H, int tile, int K, int rep_x,
                   int rep_y, const int64_t* offsets, const int32_t* ids, const int32_t* sel,
                   const float* grad_image, int nthreads, float* scratch, float* grad_means,
                   float* grad_conics, float* grad_colors, float* grad_fallback) {
  if (K < 1 || K > kMaxK) return -1;
  Grid g{W, H, tile, (W + tile - 1) / tile, (H + tile - 1) / tile, rep_x, rep_y};
  int ntiles = g.tx_n * g.ty_n;
  const int P = 5 + C;
  int64_t E = offsets[ntiles];
  std::memset(scratch, 0, sizeof(float) * (size_t)E * P);
  std::vector<double> fb_tile((size_t)ntiles * C, 0.0);
  const float w_cut = std::exp(-0.5f * kCutoffQ);
  parallel_tiles(ntiles, nthreads, [&](int t) {
    int tx = t % g.tx_n, ty = t / g.tx_n;
    int x0 = tx * tile, y0 = ty * tile;
    int x1 = x0 + tile < W ? x0 + tile : W;
    int y1 = y0 + tile < H ? y0 + tile : H;
    float wk[kMaxK], dxk[kMaxK], dyk[kMaxK], qk[kMaxK];
    std::vector<float> T(C), gT(C);
    for (int y = y0; y < y1; ++y) {
      for (int x = x0; x < x1; ++x) {
        int64_t p = (int64_t)y * W + x;
        const int32_t* s = sel + p * K;
        float px = x + 0.5f, py = y + 0.5f;
        float den = kBlendEps;
        for (int c = 0; c < C; ++c) T[c] = kBlendEps * fallback[c];
        int cnt = 0;
        for (; cnt < K && s[cnt] >= 0; ++cnt) {
          int i = ids[s[cnt]];
          float dx = px - means[2 * i], dy = py - means[2 * i + 1];
          if (rep_x) dx = wrap_delta(dx, (float)W);
          if (rep_y) dy = wrap_delta(dy, (float)H);
          const float* cn = conics + 3 * i;
          float q = cn[0] * dx * dx + 2.0f * cn[1] * dx * dy + cn[2] * dy * dy;
          float w = std::exp(-0.5f * q) - w_cut;
          if (w < 0.0f) w = 0.0f;
          wk[cnt] = w;
          dxk[cnt] = dx;
          dyk[cnt] = dy;
          qk[cnt] = q;
          den += w;
          const float* col = colors + (int64_t)i * C;
          for (int c = 0; c < C; ++c) T[c] += w * col[c];
        }
        float inv = 1.0f / den;
        for (int c = 0; c < C; ++c) {
          T[c] *= inv;
          gT[c] = grad_image[p * C + c];
          fb_tile[(size_t)t * C + c] += (double)(kBlendEps * inv * gT[c]);
        }
        for (int k = 0; k < cnt; ++k) {
          int64_t e = s[k];
          int i = ids[e];
          float* ge = scratch + e * P;
          const float* col = colors + (int64_t)i * C;
          float gw = 0.0f;
          for (int c = 0; c < C; ++c) {
            ge[5 + c] += wk[k] * inv * gT[c];
            gw += gT[c] * (col[c] - T[c]);
          }
          gw *= inv;
          if (wk[k] <= 0.0f) continue;
          float gq = gw * (-0.5f) * std::exp(-0.5f * qk[k]);
          float dx = dxk[k], dy = dyk[k];
          const float* cn = conics + 3 * i;
          ge[0] += -gq * 2.0f * (cn[0] * dx + cn[1] * dy);
          ge[1] += -gq * 2.0f * (cn[1] * dx + cn[2] * dy);
          ge[2] += gq * dx * dx;
          ge[3] += gq * 2.0f * dx * dy;
          ge[4] += gq * dy * dy;
        }
      }
    }
  });
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
  return 0;
}

}  // extern "C"
