// Kernels that check cuda/cpu_emulation.hpp itself (tests/test_cuda_emulation.py): indices,
// barriers that order shared memory, atomics, and the barrier misuses it must report.
#include "cpu_emulation.hpp"

extern "C" {

// out[block * threads + thread] = (blockIdx, threadIdx, blockDim, gridDim) packed 8 x uint32,
// thread numbered x fastest, then y, then z (CUDA's linear thread id).
__global__ void case_indices(uint32_t* out) {
    const uint32_t t = (threadIdx.z * blockDim.y + threadIdx.y) * blockDim.x + threadIdx.x;
    const uint32_t b = (blockIdx.z * gridDim.y + blockIdx.y) * gridDim.x + blockIdx.x;
    uint32_t* o = out + 8u * ((uint64_t)b * blockDim.x * blockDim.y * blockDim.z + t);
    o[0] = blockIdx.x;
    o[1] = blockIdx.y;
    o[2] = blockIdx.z;
    o[3] = threadIdx.x;
    o[4] = threadIdx.y;
    o[5] = threadIdx.z;
    o[6] = blockDim.x * blockDim.y * blockDim.z;
    o[7] = gridDim.x * gridDim.y * gridDim.z;
}

// Sum of in[block * n .. + n) by a tree in shared memory (n = blockDim.x, a power of two,
// at most 1024); every step reads what other threads wrote before the last barrier.
__global__ void case_block_sum(const uint32_t* in, uint32_t* sums) {
    __shared__ uint32_t part[1024];
    const uint32_t t = threadIdx.x, n = blockDim.x;
    part[t] = in[(uint64_t)blockIdx.x * n + t];
    __syncthreads();
    for (uint32_t half = n / 2u; half > 0u; half /= 2u) {
        uint32_t v = 0u;
        if (t < half) v = part[t] + part[t + half];
        __syncthreads();
        if (t < half) part[t] = v;
        __syncthreads();
    }
    if (t == 0u) sums[blockIdx.x] = part[0];
}

// Every thread takes a ticket from one counter: tickets[global thread] = old value.
__global__ void case_tickets(uint32_t* counter, uint32_t* tickets) {
    tickets[(uint64_t)blockIdx.x * blockDim.x + threadIdx.x] = atomicAdd(counter, 1u);
}

// Threads below `split` wait at one barrier, the others at another.
__global__ void case_divergent_barrier(uint32_t split) {
    if (threadIdx.x < split) {
        __syncthreads();
    } else {
        __syncthreads();
    }
}

// Thread 0 returns, the others then wait at a barrier.
__global__ void case_return_before_barrier(uint32_t* out) {
    if (threadIdx.x == 0u) return;
    __syncthreads();
    out[threadIdx.x] = 1u;
}

// A barrier every thread reaches, in a loop whose trip count is the same for all.
__global__ void case_uniform_loop(uint32_t trips, uint32_t* out) {
    __shared__ uint32_t turn;
    for (uint32_t i = 0; i < trips; ++i) {
        if (threadIdx.x == 0u) turn = i;
        __syncthreads();
        if (turn != i) out[0] = 1u;  // a thread that did not wait would see an old turn
        __syncthreads();
    }
}

}  // extern "C"

namespace {
const std::vector<texgs_cpu::Kernel>& cases() {
    static const std::vector<texgs_cpu::Kernel> table = {
        TEXGS_CPU_KERNEL(case_indices),           TEXGS_CPU_KERNEL(case_block_sum),
        TEXGS_CPU_KERNEL(case_tickets),           TEXGS_CPU_KERNEL(case_divergent_barrier),
        TEXGS_CPU_KERNEL(case_return_before_barrier), TEXGS_CPU_KERNEL(case_uniform_loop),
    };
    return table;
}
}  // namespace

TEXGS_CPU_EXPORTS(cases)
