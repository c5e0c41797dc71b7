// The kernels of cuda/texgs_kernels.cu, unchanged, compiled for the CPU on the execution
// model of cuda/cpu_emulation.hpp, with a launch entry point shaped like the driver's
// cuLaunchKernel (kernel by name, grid, block, an array of pointers to the arguments):
// tests/cuda_emulated.py builds it as a shared library (g++ -std=c++20 -ffp-contract=off
// -pthread -shared -fPIC), tests/cuda_cases/sanitize_kernels.cpp includes it in a program
// built with ASan and UBSan.
#include "cpu_emulation.hpp"
#include "texgs_kernels.cu"


namespace {

#define TEXGS_CPU_DECODE_BUILDS(suffix)                                                    \
    TEXGS_CPU_KERNEL(texgs_decode_grid_kernel##suffix),                                    \
        TEXGS_CPU_KERNEL(texgs_decode_tiles_kernel##suffix),                               \
        TEXGS_CPU_KERNEL(texgs_decode_uv_kernel##suffix),                                  \
        TEXGS_CPU_KERNEL(texgs_decode_uv_blocks_kernel##suffix)

// the phase-profile builds of the tile kernel (compiled with -DTEXGS_PROFILE)
#define TEXGS_CPU_PROFILE_BUILDS(k)                          \
    TEXGS_CPU_KERNEL(texgs_decode_tiles_profile_kernel_k##k), \
        TEXGS_CPU_KERNEL(texgs_decode_tiles2_profile_kernel_k##k)

const std::vector<texgs_cpu::Kernel>& kernels() {
    static const std::vector<texgs_cpu::Kernel> table = {
        TEXGS_CPU_KERNEL(texgs_validate_kernel),
        TEXGS_CPU_KERNEL(texgs_expand_kernel),
        TEXGS_CPU_KERNEL(texgs_index_count_kernel),
        TEXGS_CPU_KERNEL(texgs_index_scan_kernel),
        TEXGS_CPU_KERNEL(texgs_index_fill_kernel),
        TEXGS_CPU_KERNEL(texgs_uv_bin_count_kernel),
        TEXGS_CPU_KERNEL(texgs_uv_bin_fill_kernel),
        TEXGS_CPU_DECODE_BUILDS(),
        TEXGS_CPU_DECODE_BUILDS(_k1),
        TEXGS_CPU_DECODE_BUILDS(_k2),
        TEXGS_CPU_DECODE_BUILDS(_k3),
        TEXGS_CPU_DECODE_BUILDS(_k4),
        TEXGS_CPU_DECODE_BUILDS(_k5),
        TEXGS_CPU_DECODE_BUILDS(_k6),
        TEXGS_CPU_DECODE_BUILDS(_k7),
        TEXGS_CPU_DECODE_BUILDS(_k8),
        TEXGS_CPU_KERNEL(texgs_decode_tiles2_kernel_k1),
        TEXGS_CPU_KERNEL(texgs_decode_tiles2_kernel_k2),
        TEXGS_CPU_KERNEL(texgs_decode_tiles2_kernel_k3),
        TEXGS_CPU_KERNEL(texgs_decode_tiles2_kernel_k4),
        TEXGS_CPU_KERNEL(texgs_decode_tiles2_kernel_k5),
        TEXGS_CPU_KERNEL(texgs_decode_tiles2_kernel_k6),
        TEXGS_CPU_KERNEL(texgs_decode_tiles2_kernel_k7),
        TEXGS_CPU_KERNEL(texgs_decode_tiles2_kernel_k8),
#ifdef TEXGS_PROFILE
        TEXGS_CPU_PROFILE_BUILDS(1), TEXGS_CPU_PROFILE_BUILDS(2), TEXGS_CPU_PROFILE_BUILDS(3),
        TEXGS_CPU_PROFILE_BUILDS(4), TEXGS_CPU_PROFILE_BUILDS(5), TEXGS_CPU_PROFILE_BUILDS(6),
        TEXGS_CPU_PROFILE_BUILDS(7), TEXGS_CPU_PROFILE_BUILDS(8),
#endif
    };
    return table;
}

}  // namespace

TEXGS_CPU_EXPORTS(kernels)
