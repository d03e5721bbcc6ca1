// Runs fastnn's CUDA kernels on the CPU so the tests can check their numbers against the NumPy
// reference on a machine without a GPU. It supports what those kernels use (csrc/cuda/common.cuh
// describes the execution model): __global__ / __device__ functions, 1-D threadIdx / blockIdx /
// blockDim / gridDim, the CUDA math functions that C++ also has, and the two bit-reinterpreting
// intrinsics below. It does NOT support __shared__, __syncthreads() or atomics: the emulated
// threads of a launch run one after another, each to completion, so a kernel that needed them
// would not compile here. To catch kernels whose result depends on which thread runs first (one
// thread reading what another writes, or two writing one element), a launch can run its threads
// in order, in reverse, or in a scrambled order; the tests compare the results bit for bit.
//
// Launches go through a registry (emulate_exports.cpp): name -> the kernel's parameter types (as
// a signature string, so the Python side can check every argument's type the way the GPU would
// need it) and a launcher that takes the arguments as an array of pointers to their values,
// like cuLaunchKernel's kernelParams.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

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
using std::sqrt;
using std::tanh;

inline float __int_as_float(int bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}
inline double __longlong_as_double(long long bits) {
  double d;
  std::memcpy(&d, &bits, sizeof d);
  return d;
}

// Thread orders of a launch.
enum fastnn_emu_order : int { fastnn_emu_forward = 0, fastnn_emu_reverse = 1, fastnn_emu_scrambled = 2 };

// Runs body() once per (block, thread) of a grid x block launch, in the given order.
template <typename Body>
void fastnn_emu_run(unsigned grid, unsigned block, int order, Body body) {
  gridDim = {grid, 1, 1};
  blockDim = {block, 1, 1};
  const uint64_t total = uint64_t(grid) * block;
  // scrambled: visit t = (a * k + b) mod total for k = 0 .. total-1 with a coprime to total
  uint64_t a = 1, b = 0;
  if (order == fastnn_emu_scrambled && total > 1) {
    a = (total * 2) / 3 + 1;
    auto gcd = [](uint64_t x, uint64_t y) {
      while (y) {
        const uint64_t r = x % y;
        x = y;
        y = r;
      }
      return x;
    };
    while (gcd(a, total) != 1) ++a;
    b = total / 2;
  }
  for (uint64_t k = 0; k < total; ++k) {
    uint64_t t = k;
    if (order == fastnn_emu_reverse) t = total - 1 - k;
    if (order == fastnn_emu_scrambled) t = (a % total * (k % total) + b) % total;
    blockIdx = {unsigned(t / block), 0, 0};
    threadIdx = {unsigned(t % block), 0, 0};
    body();
  }
}

// Parameter type names, as fastnn/cuda and the tests' fake CuPy spell them.
template <typename T> struct fastnn_emu_type;
template <> struct fastnn_emu_type<float> { static std::string name() { return "f32"; } };
template <> struct fastnn_emu_type<double> { static std::string name() { return "f64"; } };
template <> struct fastnn_emu_type<int> { static std::string name() { return "i32"; } };
template <> struct fastnn_emu_type<long long> { static std::string name() { return "i64"; } };
template <> struct fastnn_emu_type<unsigned long long> { static std::string name() { return "u64"; } };
template <> struct fastnn_emu_type<unsigned char> { static std::string name() { return "u8"; } };
template <typename T> struct fastnn_emu_type<T*> {
  static std::string name() {
    return (std::is_const_v<T> ? "const " : "") + fastnn_emu_type<std::remove_const_t<T>>::name() + "*";
  }
};

template <typename... Args>
std::string fastnn_emu_signature(void (*)(Args...)) {
  std::string s;
  ((s += (s.empty() ? "" : ",") + fastnn_emu_type<Args>::name()), ...);
  return s;
}

template <typename... Args, std::size_t... I>
void fastnn_emu_call(void (*kernel)(Args...), void** params, std::index_sequence<I...>) {
  kernel(*static_cast<Args*>(params[I])...);
}

template <typename... Args>
void fastnn_emu_launch(void (*kernel)(Args...), unsigned grid, unsigned block, int order, void** params) {
  fastnn_emu_run(grid, block, order, [&] { fastnn_emu_call(kernel, params, std::index_sequence_for<Args...>{}); });
}

struct fastnn_emu_kernel {
  const char* name;
  std::string signature;
  void (*launch)(unsigned grid, unsigned block, int order, void** params);
};

// One registry entry: FASTNN_EMU_KERNEL(act_forward_f32).
#define FASTNN_EMU_KERNEL(k)                                                                           \
  fastnn_emu_kernel {                                                                                  \
    #k, fastnn_emu_signature(k), [](unsigned g, unsigned b, int o, void** p) { fastnn_emu_launch(k, g, b, o, p); } \
  }
