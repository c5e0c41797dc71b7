// texgs GPU render kernels for the baker: tile binning, forward (per-texel top-K blend) and
// backward, launched from PyTorch on its current stream.
//
// Plain C ABI over raw device pointers, loaded through ctypes by texgs/bake/render_cuda.py,
// which builds this file with nvcc at first use and caches the library. The math is
// docs/FORMAT.md "Decoding" at texel centres, the same as render_cpu.cpp (the CPU kernel) and
// render_ref.py (plain PyTorch, the reference); tests compare all three in values and
// gradients. Layouts are those of render_cpu.cpp:
//   means [N,2] texel units; conics [N,3] (a, b, c), q = a dx^2 + 2 b dx dy + c dy^2;
//   colors [N,C]; fallback [C]; image [H,W,C]; offsets int64 [tiles+1];
//   ids int32 [E] (Gaussian ids per tile, ascending); sel int32 [H,W,K] (entries into ids,
//   ranked by (q, id), -1 past the last); expq float [H,W,K] (exp(-q/2) of each, 0 past it).
//
// Binning: texgs_cuda_bin_count writes the number of tiles each Gaussian touches, the caller
// turns those into exclusive offsets, texgs_cuda_bin_fill writes (tile, gaussian) pairs in
// Gaussian order, and a stable sort by tile (torch.sort) gives every tile's ids ascending,
// exactly the lists texgs_bin (CPU) and runtime.build_tile_index produce.
// Backward: per-texel contributions are added to the per-Gaussian gradients with atomicAdd,
// so the summation order (and the last bits of a gradient) can differ from run to run.

#include <cstdint>
#include <cuda_runtime.h>

#include "render_common.h"

namespace {

using texgs_bake::Grid;
using texgs_bake::for_each_tile_of;
using texgs_bake::kBlendEps;
using texgs_bake::kCutoffQ;
using texgs_bake::kMaxK;
using texgs_bake::make_grid;
using texgs_bake::wrap_delta;

__global__ void bin_count_kernel(int n, const float* means, const float* conics, Grid g,
                                 int64_t* counts) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  int64_t c = 0;
  for_each_tile_of(g, means + 2 * i, conics + 3 * i, [&](int) { ++c; });
  counts[i] = c;
}

__global__ void bin_fill_kernel(int n, const float* means, const float* conics, Grid g,
                                const int64_t* starts, int32_t* pair_tile,
                                int32_t* pair_gauss) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  int64_t at = starts[i];
  for_each_tile_of(g, means + 2 * i, conics + 3 * i, [&](int t) {
    pair_tile[at] = t;
    pair_gauss[at] = i;
    ++at;
  });
}

// Candidates of every entry, packed for broadcast loads: (mx, my, a, 2b) and c.
__global__ void gather_kernel(int64_t E, const int32_t* ids, const float* means,
                              const float* conics, float4* pack, float* pack_c) {
  int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (e >= E) return;
  int i = ids[e];
  pack[e] = make_float4(means[2 * i], means[2 * i + 1], conics[3 * i], 2.0f * conics[3 * i + 1]);
  pack_c[e] = conics[3 * i + 2];
}

// One block per tile; its threads stride over the tile's texels.
__global__ void forward_kernel(Grid g, int C, int K, const int64_t* offsets, const int32_t* ids,
                               const float4* pack, const float* pack_c, const float* colors,
                               const float* fallback, float* image, int32_t* sel, float* expq) {
  const int t = blockIdx.x;
  const int tx = t % g.tx_n, ty = t / g.tx_n;
  const int64_t e0 = offsets[t], e1 = offsets[t + 1];
  const float fW = (float)g.W, fH = (float)g.H;
  const float w_cut = expf(-0.5f * kCutoffQ);
  const int per_tile = g.tile * g.tile;
  for (int s = threadIdx.x; s < per_tile; s += blockDim.x) {
    const int x = tx * g.tile + s % g.tile;
    const int y = ty * g.tile + s / g.tile;
    if (x >= g.W || y >= g.H) continue;
    const float px = x + 0.5f, py = y + 0.5f;
    float qk[kMaxK];
    int32_t ek[kMaxK];
    int cnt = 0;
    float kth = kCutoffQ;  // a candidate must beat this to enter
    for (int64_t e = e0; e < e1; ++e) {
      const float4 p = pack[e];
      float dx = px - p.x, dy = py - p.y;
      if (g.rep_x) dx = wrap_delta(dx, fW);
      if (g.rep_y) dy = wrap_delta(dy, fH);
      const float q = p.z * dx * dx + p.w * dx * dy + pack_c[e] * dy * dy;
      if (!(q < kth)) continue;
      int pos = cnt < K ? cnt++ : K - 1;
      while (pos > 0 && qk[pos - 1] > q) {
        qk[pos] = qk[pos - 1];
        ek[pos] = ek[pos - 1];
        --pos;
      }
      qk[pos] = q;
      ek[pos] = (int32_t)e;
      if (cnt == K) kth = qk[K - 1];
    }
    const int64_t p = (int64_t)y * g.W + x;
    float* eq = expq + p * K;
    int32_t* sp = sel + p * K;
    float wk[kMaxK];
    float den = kBlendEps;
    for (int k = 0; k < cnt; ++k) {
      const float ex = expf(-0.5f * qk[k]);
      eq[k] = ex;
      float w = ex - w_cut;
      if (w < 0.0f) w = 0.0f;
      wk[k] = w;
      den += w;
      sp[k] = ek[k];
      ek[k] = ids[ek[k]];  // from here on: the Gaussian id
    }
    for (int k = cnt; k < K; ++k) {
      eq[k] = 0.0f;
      sp[k] = -1;
    }
    for (int c = 0; c < C; ++c) {
      float acc = kBlendEps * fallback[c];
      for (int k = 0; k < cnt; ++k) acc += wk[k] * colors[(int64_t)ek[k] * C + c];
      image[p * C + c] = acc / den;
    }
  }
}

// One thread per texel. Gradients of the selected Gaussians are added atomically; inv_den
// [H,W] receives 1/den of every texel (the fallback's gradient is eps * sum inv_den * grad).
__global__ void backward_kernel(Grid g, int C, int K, const int32_t* ids, const int32_t* sel,
                                const float* expq, const float* means, const float* conics,
                                const float* colors, const float* fallback,
                                const float* grad_image, float* grad_means, float* grad_conics,
                                float* grad_colors, float* inv_den) {
  const int64_t p = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (p >= (int64_t)g.W * g.H) return;
  const int x = (int)(p % g.W), y = (int)(p / g.W);
  const float px = x + 0.5f, py = y + 0.5f;
  const float w_cut = expf(-0.5f * kCutoffQ);
  const int32_t* s = sel + p * K;
  const float* eq = expq + p * K;
  int gid[kMaxK];
  float wk[kMaxK];
  float den = kBlendEps;
  int cnt = 0;
  for (; cnt < K && s[cnt] >= 0; ++cnt) {
    gid[cnt] = ids[s[cnt]];
    float w = eq[cnt] - w_cut;
    if (w < 0.0f) w = 0.0f;
    wk[cnt] = w;
    den += w;
  }
  const float inv = 1.0f / den;
  inv_den[p] = inv;
  // gw[k] = inv * sum_c grad_c (col_kc - T_c), T_c the blended value
  float gw[kMaxK];
  for (int k = 0; k < cnt; ++k) gw[k] = 0.0f;
  for (int c = 0; c < C; ++c) {
    float T = kBlendEps * fallback[c];
    for (int k = 0; k < cnt; ++k) T += wk[k] * colors[(int64_t)gid[k] * C + c];
    T *= inv;
    const float gT = grad_image[p * C + c];
    for (int k = 0; k < cnt; ++k) {
      const int64_t i = gid[k];
      atomicAdd(grad_colors + i * C + c, wk[k] * inv * gT);
      gw[k] += gT * (colors[i * C + c] - T);
    }
  }
  for (int k = 0; k < cnt; ++k) {
    if (wk[k] <= 0.0f) continue;
    const int i = gid[k];
    float dx = px - means[2 * i], dy = py - means[2 * i + 1];
    if (g.rep_x) dx = wrap_delta(dx, (float)g.W);
    if (g.rep_y) dy = wrap_delta(dy, (float)g.H);
    const float gq = gw[k] * inv * (-0.5f) * eq[k];
    const float* cn = conics + 3 * i;
    atomicAdd(grad_means + 2 * i, -gq * 2.0f * (cn[0] * dx + cn[1] * dy));
    atomicAdd(grad_means + 2 * i + 1, -gq * 2.0f * (cn[1] * dx + cn[2] * dy));
    atomicAdd(grad_conics + 3 * i, gq * dx * dx);
    atomicAdd(grad_conics + 3 * i + 1, gq * 2.0f * dx * dy);
    atomicAdd(grad_conics + 3 * i + 2, gq * dy * dy);
  }
}

int blocks_for(int64_t n, int per) { return (int)((n + per - 1) / per); }

int launch_status() { return (int)cudaGetLastError(); }

}  // namespace

extern "C" {

// Each returns 0 or the CUDA error code of its launch. `stream` is a cudaStream_t (PyTorch's
// current stream). Pointers are device pointers.

int texgs_cuda_bin_count(int n, const float* means, const float* conics, int W, int H,
                         int tile, int rep_x, int rep_y, int64_t* counts, void* stream) {
  if (n <= 0) return 0;
  Grid g = make_grid(W, H, tile, rep_x, rep_y);
  bin_count_kernel<<<blocks_for(n, 256), 256, 0, (cudaStream_t)stream>>>(n, means, conics, g,
                                                                         counts);
  return launch_status();
}

int texgs_cuda_bin_fill(int n, const float* means, const float* conics, int W, int H, int tile,
                        int rep_x, int rep_y, const int64_t* starts, int32_t* pair_tile,
                        int32_t* pair_gauss, void* stream) {
  if (n <= 0) return 0;
  Grid g = make_grid(W, H, tile, rep_x, rep_y);
  bin_fill_kernel<<<blocks_for(n, 256), 256, 0, (cudaStream_t)stream>>>(
      n, means, conics, g, starts, pair_tile, pair_gauss);
  return launch_status();
}

// pack: float [E,4] (16-byte aligned), pack_c: float [E].
int texgs_cuda_forward(const float* means, const float* conics, const float* colors,
                       const float* fallback, int C, int W, int H, int tile, int K, int rep_x,
                       int rep_y, const int64_t* offsets, const int32_t* ids, int64_t E,
                       float* pack, float* pack_c, float* image, int32_t* sel, float* expq,
                       void* stream) {
  if (K < 1 || K > kMaxK || C < 1) return -1;
  cudaStream_t st = (cudaStream_t)stream;
  Grid g = make_grid(W, H, tile, rep_x, rep_y);
  if (E > 0) {
    gather_kernel<<<blocks_for(E, 256), 256, 0, st>>>(E, ids, means, conics, (float4*)pack,
                                                       pack_c);
  }
  int per_tile = tile * tile;
  int threads = per_tile < 256 ? ((per_tile + 31) / 32) * 32 : 256;
  forward_kernel<<<g.tx_n * g.ty_n, threads, 0, st>>>(g, C, K, offsets, ids,
                                                      (const float4*)pack, pack_c, colors,
                                                      fallback, image, sel, expq);
  return launch_status();
}

// grad_means [N,2], grad_conics [N,3], grad_colors [N,C] must be zeroed by the caller;
// inv_den: float [H,W].
int texgs_cuda_backward(const float* means, const float* conics, const float* colors,
                        const float* fallback, int C, int W, int H, int tile, int K, int rep_x,
                        int rep_y, const int32_t* ids, const int32_t* sel, const float* expq,
                        const float* grad_image, float* grad_means, float* grad_conics,
                        float* grad_colors, float* inv_den, void* stream) {
  if (K < 1 || K > kMaxK || C < 1) return -1;
  Grid g = make_grid(W, H, tile, rep_x, rep_y);
  int64_t P = (int64_t)W * H;
  backward_kernel<<<blocks_for(P, 256), 256, 0, (cudaStream_t)stream>>>(
      g, C, K, ids, sel, expq, means, conics, colors, fallback, grad_image, grad_means,
      grad_conics, grad_colors, inv_den);
  return launch_status();
}

}  // extern "C"
