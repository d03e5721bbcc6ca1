// Runs simple CUDA kernels on the CPU so the tests can check their numbers against the NumPy
// reference on a machine without a GPU. It supports what fastnn's kernels use: __global__ /
// __device__ functions, threadIdx / blockIdx / blockDim / gridDim (x only) and the CUDA math
// functions that C++ also has. It does NOT support __shared__ or __syncthreads(): kernels run
// one emulated thread after another, so they must be written as independent grid-stride loops.
#pragma once
#include <cmath>
#include <cstdint>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline

struct fastnn_emu_dim3 {
  unsigned x = 1, y = 1, z = 1;
};
inline thread_local fastnn_emu_dim3 threadIdx, blockIdx, blockDim, gridDim;

using std::exp;
using std::expm1;
using std::log;
using std::log1p;
using std::tanh;

// launch(grid, block, kernel, args...): every (block, thread) pair in turn.
template <typename Kernel, typename... Args>
void fastnn_emu_launch(unsigned grid, unsigned block, Kernel kernel, Args... args) {
  gridDim.x = grid;
  blockDim.x = block;
  for (unsigned b = 0; b < grid; ++b) {
    blockIdx.x = b;
    for (unsigned t = 0; t < block; ++t) {
      threadIdx.x = t;
      kernel(args...);
    }
  }
}
