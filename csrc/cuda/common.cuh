// Shared by every fastnn CUDA source: math wrappers, the grid-stride loop and the fixed-order
// partial-sum scheme. NVRTC has no standard headers, so nothing here includes one; fastnn.cuda
// pastes this file in place of its #include line before compiling (so CuPy's kernel cache,
// keyed on the source text, sees header changes too), nvcc and the emulation find it by path.
//
// Execution model, the same for every kernel (and what csrc/cuda/emulate.h can run on a CPU):
//  - 1-D launches, grid-stride loops: any grid/block covers all the work, so a kernel's result
//    never depends on the launch configuration;
//  - no __shared__, no __syncthreads(), no atomics: every output element is written by exactly
//    one thread, and no thread reads what another thread of the same launch writes;
//  - reductions in two launches with a fixed order (see "Partial sums" below), so results are
//    deterministic, as on the CPU.
#ifndef FASTNN_CUDA_COMMON_CUH
#define FASTNN_CUDA_COMMON_CUH

// Index of this thread and the total number of threads, for grid-stride loops.
__device__ __forceinline__ long long fastnn_thread_index() {
  return (long long)blockIdx.x * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ long long fastnn_thread_count() { return (long long)blockDim.x * gridDim.x; }

#define FASTNN_GRID_STRIDE(i, n) \
  for (long long i = fastnn_thread_index(), i##_step = fastnn_thread_count(); i < (n); i += i##_step)

// ---------------------------------------------------------------------------------------------
// Math: one name per function for float and double (CUDA's expf/exp etc. are built into NVRTC).

template <typename T> __device__ __forceinline__ T d_exp(T x);
template <> __device__ __forceinline__ float d_exp<float>(float x) { return expf(x); }
template <> __device__ __forceinline__ double d_exp<double>(double x) { return exp(x); }
template <typename T> __device__ __forceinline__ T d_erfc(T x);
template <> __device__ __forceinline__ float d_erfc<float>(float x) { return erfcf(x); }
template <> __device__ __forceinline__ double d_erfc<double>(double x) { return erfc(x); }
template <typename T> __device__ __forceinline__ T d_tanh(T x);
template <> __device__ __forceinline__ float d_tanh<float>(float x) { return tanhf(x); }
template <> __device__ __forceinline__ double d_tanh<double>(double x) { return tanh(x); }
template <typename T> __device__ __forceinline__ T d_expm1(T x);
template <> __device__ __forceinline__ float d_expm1<float>(float x) { return expm1f(x); }
template <> __device__ __forceinline__ double d_expm1<double>(double x) { return expm1(x); }
template <typename T> __device__ __forceinline__ T d_log1p(T x);
template <> __device__ __forceinline__ float d_log1p<float>(float x) { return log1pf(x); }
template <> __device__ __forceinline__ double d_log1p<double>(double x) { return log1p(x); }
template <typename T> __device__ __forceinline__ T d_log(T x);
template <> __device__ __forceinline__ float d_log<float>(float x) { return logf(x); }
template <> __device__ __forceinline__ double d_log<double>(double x) { return log(x); }
template <typename T> __device__ __forceinline__ T d_sqrt(T x);
template <> __device__ __forceinline__ float d_sqrt<float>(float x) { return sqrtf(x); }
template <> __device__ __forceinline__ double d_sqrt<double>(double x) { return sqrt(x); }

// +inf without <cmath>'s INFINITY: the bit patterns, through CUDA's reinterpreting intrinsics.
template <typename T> __device__ __forceinline__ T d_inf();
template <> __device__ __forceinline__ float d_inf<float>() { return __int_as_float(0x7f800000); }
template <> __device__ __forceinline__ double d_inf<double>() { return __longlong_as_double(0x7ff0000000000000LL); }

template <typename T> __device__ __forceinline__ T d_max(T a, T b) { return a > b ? a : b; }
template <typename T> __device__ __forceinline__ T d_min(T a, T b) { return a < b ? a : b; }

// ---------------------------------------------------------------------------------------------
// Partial sums. A sum over M values v(e), e in [0, M), is taken as `parts` partial sums (parts
// depends on M only: fastnn.cuda._launch.partial_count), partial t adding v(t), v(t + parts),
// v(t + 2 parts), ... in that order, then the partials added in order t = 0, 1, ... by one
// thread. The order is a function of M alone (never of the launch), so the result is
// reproducible, and consecutive threads read consecutive values (coalesced).

#endif  // FASTNN_CUDA_COMMON_CUH
