// A CPU stand-in for the CUDA execution model, enough to run the kernels of
// cuda/texgs_kernels.cu unchanged on a machine without a GPU (tests/cuda_emulated.py runs the
// GPU tests through it; docs/CUDA.md "Testing without a GPU"). Not a simulator of a GPU's
// speed or memory: it runs each block's threads as real OS threads, so that the kernels'
// shared memory, barriers and atomics do what they do on a GPU, and it reports what a GPU
// leaves undefined:
//
// - a barrier reached by some threads of a block at one __syncthreads and by others at
//   another (the CUDA guide allows __syncthreads in conditional code only where the
//   condition is the same for the whole block);
// - a barrier reached after a thread of the block has returned, or a thread returning while
//   others wait at a barrier (a GPU may hang or go on; either is a bug in the kernel).
//
// Blocks run one at a time, in order of (z, y, x), so `__shared__` variables are plain
// function-level statics. Compile the kernels as C++20 (atomic waits) with this header included first and
// -ffp-contract=off (no fused multiply-adds, as nvcc --fmad=false); cuda/cpu_kernels.cpp
// does, and exports a cuLaunchKernel-like entry point.
#ifndef TEXGS_CPU_EMULATION_HPP
#define TEXGS_CPU_EMULATION_HPP

#ifdef __CUDACC__
#error "cpu_emulation.hpp is for host compilers; nvcc has the real thing"
#endif

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

struct dim3 {
    uint32_t x = 1u, y = 1u, z = 1u;
};

namespace texgs_cpu {

// Thrown in a thread of a block whose launch has failed (barrier misuse found by any of
// its threads): unwinds the kernel; the launch reports the block's error.
struct Abort : std::exception {};

// The barrier state of the block being run.
struct BlockState {
    std::mutex mu;            // guards the fields below but `wake` and `aborted`
    uint32_t threads = 0u;    // threads in the block
    uint32_t arrived = 0u;    // at the current barrier
    uint32_t exited = 0u;     // returned from the kernel
    int line = 0;             // source line of the current barrier
    std::string error;        // first misuse found; empty: none
    // Waiting threads sleep on `wake` (a futex: one wake-up reaches all of them without a
    // mutex to fight over), which changes when a barrier completes or the block fails.
    std::atomic<uint32_t> wake{0u};
    std::atomic<bool> aborted{false};
};

inline BlockState block_state;
inline dim3 block_dim, grid_dim;  // of the launch
inline thread_local dim3 thread_idx, block_idx;

// Record the block's first error and wake every waiting thread. Call with mu held.
inline void fail_locked(BlockState& s, const std::string& what) {
    if (s.error.empty()) s.error = what;
    s.aborted.store(true);
    s.wake.fetch_add(1u);
    s.wake.notify_all();
}

// __syncthreads(): wait until every thread of the block has reached the barrier at `line`.
inline void sync_threads(int line) {
    BlockState& s = block_state;
    std::unique_lock<std::mutex> lock(s.mu);
    if (!s.error.empty()) throw Abort();
    if (s.exited > 0u) {
        fail_locked(s, "__syncthreads at line " + std::to_string(line) + " reached after " +
                           std::to_string(s.exited) + " thread(s) of the block returned");
        throw Abort();
    }
    if (s.arrived == 0u) {
        s.line = line;
    } else if (s.line != line) {
        fail_locked(s, "divergent __syncthreads: threads of one block wait at lines " +
                           std::to_string(s.line) + " and " + std::to_string(line));
        throw Abort();
    }
    if (++s.arrived == s.threads) {
        s.arrived = 0u;
        s.wake.fetch_add(1u);
        s.wake.notify_all();
        return;
    }
    const uint32_t seen = s.wake.load();  // changes only under mu, so after this barrier
    lock.unlock();
    s.wake.wait(seen);
    if (s.aborted.load()) throw Abort();  // the block failed (maybe after the barrier)
}

// A thread of the block returned from the kernel (or was aborted).
inline void thread_exited() {
    BlockState& s = block_state;
    std::lock_guard<std::mutex> lock(s.mu);
    ++s.exited;
    if (s.arrived > 0u && s.error.empty())
        fail_locked(s, "a thread returned while " + std::to_string(s.arrived) +
                           " thread(s) of its block wait at the __syncthreads at line " +
                           std::to_string(s.line));
}

}  // namespace texgs_cpu

#define threadIdx (texgs_cpu::thread_idx)
#define blockIdx (texgs_cpu::block_idx)
#define blockDim (texgs_cpu::block_dim)
#define gridDim (texgs_cpu::grid_dim)
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static
#define __syncthreads() texgs_cpu::sync_threads(__LINE__)

// The device atomics the kernels use (returning the old value, as CUDA's).
inline uint32_t atomicAdd(uint32_t* p, uint32_t v) {
    return __atomic_fetch_add(p, v, __ATOMIC_RELAXED);
}
inline int atomicAdd(int* p, int v) { return __atomic_fetch_add(p, v, __ATOMIC_RELAXED); }

// The SM's cycle counter, read by the tile kernel's phase profile (-DTEXGS_PROFILE): here the
// host's monotonic clock in nanoseconds (monotonic per thread, as clock64 is per SM).
inline long long clock64() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

// CUDA's integer min/max device functions.
using std::max;
using std::min;

// ---- launching ---------------------------------------------------------------------------

namespace texgs_cpu {

// A kernel by name: its parameters' sizes and a call taking pointers to the argument values.
struct Kernel {
    const char* name;
    std::vector<uint32_t> arg_sizes;
    std::function<void(void* const*)> run;
};

template <class... A, size_t... I>
void invoke(void (*k)(A...), void* const* args, std::index_sequence<I...>) {
    k(*static_cast<const A*>(args[I])...);
}

template <class... A>
Kernel make_kernel(const char* name, void (*k)(A...)) {
    return Kernel{name, {static_cast<uint32_t>(sizeof(A))...},
                  [k](void* const* args) { invoke(k, args, std::index_sequence_for<A...>{}); }};
}

// A table entry for kernel `name` (an extern "C" kernel in scope).
#define TEXGS_CPU_KERNEL(name) texgs_cpu::make_kernel(#name, name)

// OS threads kept for the launches (made on first need, up to the largest block seen), so
// that a launch does not pay for making threads: run(n, f) calls f(0) .. f(n - 1), each on
// its own thread, and returns when all have returned.
class ThreadPool {
  public:
    ~ThreadPool() {
        for (auto& w : workers_) {
            std::lock_guard<std::mutex> lock(w->mu);
            w->quit = true;
            w->cv.notify_one();
        }
        for (auto& w : workers_) w->thread.join();
    }

    void run(uint32_t n, const std::function<void(uint32_t)>& f) {
        while (workers_.size() < n) {
            workers_.emplace_back(new Worker);
            Worker* w = workers_.back().get();
            const uint32_t tid = (uint32_t)workers_.size() - 1u;
            w->thread = std::thread([this, w, tid] { serve(*w, tid); });
        }
        {
            std::lock_guard<std::mutex> lock(mu_);
            left_ = n;
        }
        for (uint32_t t = 0; t < n; ++t) {
            Worker& w = *workers_[t];
            std::lock_guard<std::mutex> lock(w.mu);
            w.job = &f;
            w.cv.notify_one();
        }
        std::unique_lock<std::mutex> lock(mu_);
        done_.wait(lock, [&] { return left_ == 0u; });
    }

  private:
    struct Worker {
        std::mutex mu;
        std::condition_variable cv;
        const std::function<void(uint32_t)>* job = nullptr;
        bool quit = false;
        std::thread thread;
    };

    void serve(Worker& w, uint32_t tid) {
        for (;;) {
            const std::function<void(uint32_t)>* job;
            {
                std::unique_lock<std::mutex> lock(w.mu);
                w.cv.wait(lock, [&] { return w.job != nullptr || w.quit; });
                if (w.quit) return;
                job = w.job;
                w.job = nullptr;
            }
            (*job)(tid);
            std::lock_guard<std::mutex> lock(mu_);
            if (--left_ == 0u) done_.notify_one();
        }
    }

    std::vector<std::unique_ptr<Worker>> workers_;
    std::mutex mu_;
    std::condition_variable done_;
    uint32_t left_ = 0u;
};

inline ThreadPool& thread_pool() {
    static ThreadPool pool;
    return pool;
}

// Run kernel k on grid blocks of `block` threads, blocks in order; "" or the first error.
// Each of the block's threads (pool threads) runs its thread of every block, then waits for
// the rest of the block before the next one starts.
inline std::string run_grid(const Kernel& k, void* const* args, dim3 grid, dim3 block) {
    block_dim = block;
    grid_dim = grid;
    const uint32_t n = block.x * block.y * block.z;
    const uint64_t blocks = (uint64_t)grid.x * grid.y * grid.z;
    BlockState& s = block_state;
    s.threads = n;
    s.arrived = s.exited = 0u;
    s.line = 0;
    s.error.clear();
    s.aborted.store(false);
    std::string error;
    std::mutex mu;
    std::condition_variable cv;
    uint32_t done = 0u;   // threads finished with the current block
    uint64_t phase = 0u;  // blocks finished
    bool stop = false;
    auto worker = [&](uint32_t tid) {
        thread_idx = dim3{tid % block.x, (tid / block.x) % block.y, tid / (block.x * block.y)};
        for (uint64_t i = 0; i < blocks; ++i) {
            block_idx = dim3{(uint32_t)(i % grid.x), (uint32_t)((i / grid.x) % grid.y),
                             (uint32_t)(i / ((uint64_t)grid.x * grid.y))};
            try {
                k.run(args);
            } catch (const Abort&) {
            }
            thread_exited();
            std::unique_lock<std::mutex> lock(mu);
            if (++done == n) {  // the block's last thread: check it, ready the next
                if (!s.error.empty()) {
                    error = "block (" + std::to_string(block_idx.x) + ", " +
                            std::to_string(block_idx.y) + ", " + std::to_string(block_idx.z) +
                            "): " + s.error;
                    stop = true;
                }
                s.arrived = s.exited = 0u;
                s.line = 0;
                s.error.clear();
                s.aborted.store(false);
                done = 0u;
                ++phase;
                cv.notify_all();
            } else {
                const uint64_t p = phase;
                cv.wait(lock, [&] { return phase != p; });
            }
            if (stop) return;
        }
    };
    thread_pool().run(n, worker);
    return error;
}

}  // namespace texgs_cpu

// The C entry points of a library of kernels, `table` a function returning
// const std::vector<texgs_cpu::Kernel>&:
//   int texgs_cpu_kernel_count(); const char *texgs_cpu_kernel_name(int i);
//   int texgs_cpu_launch(name, grid[3], block[3], args, sizes, nargs): 0, or 1 with
//     texgs_cpu_last_error() saying why: no such kernel, arguments whose number or sizes
//     differ from the kernel's parameters, a launch shape a GPU refuses (over 1024 threads,
//     a zero or oversized dimension), or a barrier misuse found while running (the first
//     failing block ends the launch).
#define TEXGS_CPU_EXPORTS(table)                                                             \
    namespace {                                                                              \
    std::string texgs_cpu_error;                                                             \
    }                                                                                        \
    extern "C" {                                                                             \
    int texgs_cpu_kernel_count() { return static_cast<int>(table().size()); }               \
    const char* texgs_cpu_kernel_name(int i) { return table().at(static_cast<size_t>(i)).name; } \
    const char* texgs_cpu_last_error() { return texgs_cpu_error.c_str(); }                  \
    int texgs_cpu_launch(const char* name, const uint32_t* grid, const uint32_t* block,     \
                         void* const* args, const uint32_t* sizes, uint32_t nargs) {        \
        texgs_cpu_error = texgs_cpu::launch_checked(table(), name, grid, block, args, sizes, \
                                                    nargs);                                 \
        return texgs_cpu_error.empty() ? 0 : 1;                                              \
    }                                                                                        \
    }

namespace texgs_cpu {

// texgs_cpu_launch's work: "" or why the launch failed.
inline std::string launch_checked(const std::vector<Kernel>& table, const char* name,
                                  const uint32_t* grid, const uint32_t* block,
                                  void* const* args, const uint32_t* sizes, uint32_t nargs) {
    const Kernel* k = nullptr;
    for (const Kernel& e : table)
        if (std::strcmp(e.name, name) == 0) k = &e;
    const std::string who(name);
    if (!k) return "no kernel named " + who;
    if (nargs != k->arg_sizes.size())
        return who + ": " + std::to_string(nargs) + " arguments, the kernel takes " +
               std::to_string(k->arg_sizes.size());
    for (uint32_t i = 0; i < nargs; ++i)
        if (sizes[i] != k->arg_sizes[i])
            return who + ": argument " + std::to_string(i) + " has " + std::to_string(sizes[i]) +
                   " bytes, its parameter " + std::to_string(k->arg_sizes[i]);
    const uint64_t threads = (uint64_t)block[0] * block[1] * block[2];
    if (threads < 1u || threads > 1024u || block[2] > 64u || grid[0] < 1u || grid[1] < 1u ||
        grid[2] < 1u || grid[0] > 0x7fffffffu || grid[1] > 65535u || grid[2] > 65535u)
        return who + ": invalid launch configuration (grid " + std::to_string(grid[0]) + "x" +
               std::to_string(grid[1]) + "x" + std::to_string(grid[2]) + ", block " +
               std::to_string(block[0]) + "x" + std::to_string(block[1]) + "x" +
               std::to_string(block[2]) + ")";
    const std::string err = run_grid(*k, args, dim3{grid[0], grid[1], grid[2]},
                                     dim3{block[0], block[1], block[2]});
    return err.empty() ? err : who + ", " + err;
}

}  // namespace texgs_cpu

#endif  // TEXGS_CPU_EMULATION_HPP
