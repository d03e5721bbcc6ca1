// Inverted dropout for the GPU path with the CPU kernel's counter-based RNG (csrc/kernels/dropout.h,
// documented in fastnn/reference/dropout.py), so a seed gives the same mask bit for bit on both:
//   mix64(z) = SplitMix64's finalizer; key = mix64(seed);
//   bits(i) = mix64(key + (i + 1) * 0x9E3779B97F4A7C15); keep(i) = (bits(i) >> 11) >= threshold,
// threshold = floor(p * 2^53) (computed once by the caller). All arithmetic mod 2^64.
#include "common.cuh"

__device__ __forceinline__ unsigned long long dropout_mix64(unsigned long long z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

__device__ __forceinline__ unsigned char dropout_keep(unsigned long long key, long long i,
                                                      unsigned long long threshold) {
  const unsigned long long bits = dropout_mix64(key + (unsigned long long)(i + 1) * 0x9E3779B97F4A7C15ull);
  return (unsigned char)((bits >> 11) >= threshold);
}

extern "C" __global__ void dropout_mask(unsigned char* mask, long long n, unsigned long long seed,
                                        unsigned long long threshold) {
  const unsigned long long key = dropout_mix64(seed);
  FASTNN_GRID_STRIDE(i, n) { mask[i] = dropout_keep(key, i, threshold); }
}

// mask = keep bits; y = x * (keep ? scale : 0), scale = 1 / (1 - p) rounded to T by the caller;
// all_dropped (p = 1): exact zeros (x * 0 would be NaN for inf and NaN inputs).
template <typename T>
__device__ void dropout_forward(const T* x, T* y, unsigned char* mask, long long n, unsigned long long seed,
                                unsigned long long threshold, T scale, int all_dropped) {
  const unsigned long long key = dropout_mix64(seed);
  FASTNN_GRID_STRIDE(i, n) {
    const unsigned char keep = dropout_keep(key, i, threshold);
    mask[i] = keep;
    y[i] = all_dropped ? T(0) : x[i] * (keep ? scale : T(0));
  }
}

template <typename T>
__device__ void dropout_backward(const T* dy, const unsigned char* mask, T* dx, long long n, T scale,
                                 int all_dropped) {
  FASTNN_GRID_STRIDE(i, n) { dx[i] = all_dropped ? T(0) : dy[i] * (mask[i] ? scale : T(0)); }
}

#define FASTNN_DROPOUT_KERNELS(T, SUFFIX)                                                                  \
  extern "C" __global__ void dropout_forward_##SUFFIX(const T* x, T* y, unsigned char* mask, long long n,  \
                                                      unsigned long long seed, unsigned long long threshold, \
                                                      T scale, int all_dropped) {                          \
    dropout_forward<T>(x, y, mask, n, seed, threshold, scale, all_dropped);                                \
  }                                                                                                        \
  extern "C" __global__ void dropout_backward_##SUFFIX(const T* dy, const unsigned char* mask, T* dx,      \
                                                       long long n, T scale, int all_dropped) {            \
    dropout_backward<T>(dy, mask, dx, n, scale, all_dropped);                                              \
  }

FASTNN_DROPOUT_KERNELS(float, f32)
FASTNN_DROPOUT_KERNELS(double, f64)
