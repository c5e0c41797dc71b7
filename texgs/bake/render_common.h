// What the baker's CPU kernel (render_cpu.cpp, built with g++) and GPU kernels
// (render_cuda.cu, built with nvcc) share: the blend constants, the tile grid, the wrapped
// offset of the repeat address mode and the tile binning, so both produce exactly the tile
// lists of texgs.runtime.build_tile_index (docs/FORMAT.md "Decoding", docs/RUNTIME.md
// "Tile index"). Functions are __host__ __device__ under nvcc.
#ifndef TEXGS_RENDER_COMMON_H
#define TEXGS_RENDER_COMMON_H

#include <math.h>

#ifdef __CUDACC__
#define TEXGS_BAKE_HD __host__ __device__
#else
#define TEXGS_BAKE_HD
#endif

namespace texgs_bake {

constexpr float kCutoffQ = 9.0f;
constexpr float kBlendEps = 1e-4f;
constexpr double kPadRel = 1e-3;
constexpr double kPadAbs = 1e-2;
constexpr int kMaxK = 32;

struct Grid {
  int W, H, tile, tx_n, ty_n, rep_x, rep_y;
};

TEXGS_BAKE_HD inline Grid make_grid(int W, int H, int tile, int rep_x, int rep_y) {
  return Grid{W, H, tile, (W + tile - 1) / tile, (H + tile - 1) / tile, rep_x, rep_y};
}

TEXGS_BAKE_HD inline float wrap_delta(float d, float size) {
  return d - size * floorf(d / size + 0.5f);
}

// Tiles along one axis whose span [t*tile, (t+1)*tile) meets [lo, hi]; calls f(t) for each,
// ascending, without duplicates.
template <class F>
TEXGS_BAKE_HD void axis_tiles(double lo, double hi, int size, int tile, int n, int repeat, F f) {
  if (!repeat) {
    int t0 = (int)floor(lo / tile);
    int t1 = (int)floor(hi / tile);
    if (t0 < 0) t0 = 0;
    if (t1 > n - 1) t1 = n - 1;
    for (int t = t0; t <= t1; ++t) f(t);
    return;
  }
  if (hi - lo >= size) {
    for (int t = 0; t < n; ++t) f(t);
    return;
  }
  double lo2 = lo - size * floor(lo / size);
  double hi2 = lo2 + (hi - lo);
  int t0 = (int)floor(lo2 / tile);
  if (hi2 < size) {
    int t1 = (int)floor(hi2 / tile);
    if (t1 > n - 1) t1 = n - 1;
    for (int t = t0; t <= t1; ++t) f(t);
    return;
  }
  int t1 = (int)floor((hi2 - size) / tile);
  if (t1 > n - 1) t1 = n - 1;
  // Second piece [0, t1] first so the union ascends; skip overlap with [t0, n).
  for (int t = 0; t <= t1 && t < t0; ++t) f(t);
  for (int t = t0; t < n; ++t) f(t);
}

// Calls f(tile) for every tile the 3-sigma extent (padded) of a Gaussian meets, ascending.
template <class F>
TEXGS_BAKE_HD void for_each_tile_of(const Grid& g, const float* m, const float* cn, F f) {
  double a = cn[0], b = cn[1], c = cn[2];
  double det = a * c - b * b;
  if (det < 1e-30) det = 1e-30;
  double rx = sqrt((double)kCutoffQ * c / det) * (1.0 + kPadRel) + kPadAbs;
  double ry = sqrt((double)kCutoffQ * a / det) * (1.0 + kPadRel) + kPadAbs;
  double mx = m[0], my = m[1];
  axis_tiles(my - ry, my + ry, g.H, g.tile, g.ty_n, g.rep_y, [&](int ty) {
    axis_tiles(mx - rx, mx + rx, g.W, g.tile, g.tx_n, g.rep_x,
               [&](int tx) { f(ty * g.tx_n + tx); });
  });
}

}  // namespace texgs_bake

#endif  // TEXGS_RENDER_COMMON_H
