// Deterministic reductions shared by the other ops (see "Partial sums" in common.cuh): per-channel
// sums of an (N, C, HW) array (bias gradients; with N = C = 1 a plain sum, e.g. of loss terms),
// and "first index whose value is out of range" for input validation (labels, max-pool indices,
// probabilities), which fastnn.cuda turns into the same ValueError the CPU path raises.
#include "common.cuh"

// part[ch * parts + t] = sum over e = t, t + parts, ... < N*HW of x[(e / HW * C + ch) * HW + e % HW],
// in double. One thread per (channel, partial).
template <typename T>
__device__ void channel_sum_partials(const T* x, double* part, long long n, long long c, long long hw,
                                     long long parts) {
  const long long m = n * hw;
  FASTNN_GRID_STRIDE(q, c * parts) {
    const long long ch = q / parts, t = q % parts;
    double s = 0;
    for (long long e = t; e < m; e += parts) s += (double)x[((e / hw) * c + ch) * hw + e % hw];
    part[q] = s;
  }
}

// out[ch] = the partials of channel ch added in order (one thread per channel).
template <typename T>
__device__ void finish_channel_sums(const double* part, T* out, long long c, long long parts) {
  FASTNN_GRID_STRIDE(ch, c) {
    double s = 0;
    for (long long t = 0; t < parts; ++t) s += part[ch * parts + t];
    out[ch] = (T)s;
  }
}

// part[t] = the first e = t, t + parts, ... < n with v[e] outside [lo, hi), or n if none.
__device__ void first_outside_int(const long long* v, long long n, long long lo, long long hi, long long* part,
                                  long long parts) {
  FASTNN_GRID_STRIDE(t, parts) {
    long long first = n;
    for (long long e = t; e < n; e += parts)
      if (v[e] < lo || v[e] >= hi) {
        first = e;
        break;
      }
    part[t] = first;
  }
}

// As first_outside_int for floats and the closed range [lo, hi]; NaN counts as outside.
template <typename T>
__device__ void first_outside_float(const T* v, long long n, double lo, double hi, long long* part,
                                    long long parts) {
  FASTNN_GRID_STRIDE(t, parts) {
    long long first = n;
    for (long long e = t; e < n; e += parts) {
      const double x = (double)v[e];
      if (!(x >= lo && x <= hi)) {
        first = e;
        break;
      }
    }
    part[t] = first;
  }
}

// out[0] = the smallest partial: the first offending index overall (n if none). One thread.
__device__ void finish_first_impl(const long long* part, long long* out, long long parts) {
  FASTNN_GRID_STRIDE(i, 1) {
    long long first = part[0];
    for (long long t = 1; t < parts; ++t) first = part[t] < first ? part[t] : first;
    out[0] = first;
  }
}

#define FASTNN_REDUCE_KERNELS(T, SUFFIX)                                                                   \
  extern "C" __global__ void channel_sum_partials_##SUFFIX(const T* x, double* part, long long n, long long c, \
                                                           long long hw, long long parts) {                \
    channel_sum_partials<T>(x, part, n, c, hw, parts);                                                     \
  }                                                                                                        \
  extern "C" __global__ void finish_channel_sums_##SUFFIX(const double* part, T* out, long long c,          \
                                                          long long parts) {                               \
    finish_channel_sums<T>(part, out, c, parts);                                                           \
  }                                                                                                        \
  extern "C" __global__ void first_outside_##SUFFIX(const T* v, long long n, double lo, double hi,          \
                                                    long long* part, long long parts) {                    \
    first_outside_float<T>(v, n, lo, hi, part, parts);                                                     \
  }

FASTNN_REDUCE_KERNELS(float, f32)
FASTNN_REDUCE_KERNELS(double, f64)

extern "C" __global__ void first_outside_i64(const long long* v, long long n, long long lo, long long hi,
                                             long long* part, long long parts) {
  first_outside_int(v, n, lo, hi, part, parts);
}

extern "C" __global__ void finish_first(const long long* part, long long* out, long long parts) {
  finish_first_impl(part, out, parts);
}
