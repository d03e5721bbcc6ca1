// Batch normalization over channel axis 1 of a C-contiguous (N, C, HW) buffer ((N, C) inputs have
// HW = 1), the CPU kernels' numerics (csrc/kernels/batchnorm.h): sums in double, shifted by the
// channel's first value, taken in a fixed order; running_var gets the unbiased variance.
//
// Each direction is three launches: per-(channel, partial) sums (see "Partial sums" in
// common.cuh), a per-channel finish (statistics, running averages, backward coefficients), and
// the element-wise map. M = N * HW values per channel; element e of channel ch is
// x[(e / HW * C + ch) * HW + e % HW].
#include "common.cuh"

// The value the channel's sums are shifted by: its first value, or 0 when that is not finite
// (an inf shift would make every d = inf - inf = NaN, where the mean is inf).
template <typename T>
__device__ __forceinline__ double bn_shift(const T* x, long long ch, long long hw, long long m) {
  const double s = m > 0 ? (double)x[ch * hw] : 0.0;
  return s - s == 0.0 ? s : 0.0;
}

// s1, s2 [ch * parts + t] = partial sums of d and d^2, d = x - bn_shift.
template <typename T>
__device__ void bn_stats_partials(const T* x, double* s1, double* s2, long long n, long long c, long long hw,
                                  long long parts) {
  const long long m = n * hw;
  FASTNN_GRID_STRIDE(q, c * parts) {
    const long long ch = q / parts, t = q % parts;
    const double shift = bn_shift(x, ch, hw, m);
    double a = 0, b = 0;
    for (long long e = t; e < m; e += parts) {
      const double d = (double)x[((e / hw) * c + ch) * hw + e % hw] - shift;
      a += d;
      b += d * d;
    }
    s1[q] = a;
    s2[q] = b;
  }
}

// Training statistics of each channel (M > 1, checked by the caller): mean, invstd =
// 1 / sqrt(var + eps) with the biased variance; running statistics (either may be null)
// updated in place, running_var with the unbiased variance.
template <typename T>
__device__ void bn_finish_train(const double* s1, const double* s2, const T* x, T* mean, T* invstd, T* rm, T* rv,
                                long long n, long long c, long long hw, long long parts, double momentum,
                                double eps) {
  const double m = (double)(n * hw);
  FASTNN_GRID_STRIDE(ch, c) {
    double a = 0, b = 0;
    for (long long t = 0; t < parts; ++t) {
      a += s1[ch * parts + t];
      b += s2[ch * parts + t];
    }
    const double d = a / m;
    const double mu = bn_shift(x, ch, hw, n * hw) + d;
    const double var = d_max(b / m - d * d, 0.0);  // shifted sums: no catastrophic cancellation
    mean[ch] = (T)mu;
    invstd[ch] = (T)(1.0 / d_sqrt(var + eps));
    if (rm != nullptr) rm[ch] = (T)((1.0 - momentum) * (double)rm[ch] + momentum * mu);
    if (rv != nullptr) rv[ch] = (T)((1.0 - momentum) * (double)rv[ch] + momentum * var * m / (m - 1.0));
  }
}

// Eval: the running statistics are the ones used.
template <typename T>
__device__ void bn_finish_eval(const T* rm, const T* rv, T* mean, T* invstd, long long c, double eps) {
  FASTNN_GRID_STRIDE(ch, c) {
    mean[ch] = rm[ch];
    invstd[ch] = (T)(1.0 / d_sqrt((double)rv[ch] + eps));
  }
}

// y = (x - mean) * (gamma * invstd) + beta, gamma / beta null meaning 1 / 0. One thread per element.
template <typename T>
__device__ void bn_normalize(const T* x, const T* gamma, const T* beta, const T* mean, const T* invstd, T* y,
                             long long n, long long c, long long hw) {
  FASTNN_GRID_STRIDE(q, n * c * hw) {
    const long long ch = (q / hw) % c;
    const T scale = (gamma != nullptr ? gamma[ch] : T(1)) * invstd[ch];
    y[q] = (x[q] - mean[ch]) * scale + (beta != nullptr ? beta[ch] : T(0));
  }
}

// sdy, sdyx [ch * parts + t] = partial sums of dy and dy * (x - mean), in double.
template <typename T>
__device__ void bn_backward_partials(const T* dy, const T* x, const T* mean, double* sdy, double* sdyx, long long n,
                                     long long c, long long hw, long long parts) {
  const long long m = n * hw;
  FASTNN_GRID_STRIDE(q, c * parts) {
    const long long ch = q / parts, t = q % parts;
    const double mu = (double)mean[ch];
    double a = 0, b = 0;
    for (long long e = t; e < m; e += parts) {
      const long long at = ((e / hw) * c + ch) * hw + e % hw;
      const double g = (double)dy[at];
      a += g;
      b += g * ((double)x[at] - mu);
    }
    sdy[q] = a;
    sdyx[q] = b;
  }
}

// dbeta = sum(dy), dgamma = sum(dy * (x - mean)) * invstd, and coef[3 ch ..] = (k, a, b) of
// dx = k * ((dy - a) - (x - mean) * b): k = gamma * invstd, and in training a = sum(dy) / M,
// b = invstd^2 * sum(dy * (x - mean)) / M (a = b = 0 in eval or when M = 0).
template <typename T>
__device__ void bn_backward_finish(const double* sdy, const double* sdyx, const T* gamma, const T* invstd, T* dgamma,
                                   T* dbeta, T* coef, long long n, long long c, long long hw, long long parts,
                                   int training) {
  const double m = (double)(n * hw);
  FASTNN_GRID_STRIDE(ch, c) {
    double a = 0, b = 0;
    for (long long t = 0; t < parts; ++t) {
      a += sdy[ch * parts + t];
      b += sdyx[ch * parts + t];
    }
    const double is = (double)invstd[ch];
    dbeta[ch] = (T)a;
    dgamma[ch] = (T)(b * is);
    coef[3 * ch] = (gamma != nullptr ? gamma[ch] : T(1)) * invstd[ch];
    const bool centre = training && m != 0;
    coef[3 * ch + 1] = centre ? (T)(a / m) : T(0);
    coef[3 * ch + 2] = centre ? (T)(is * is * b / m) : T(0);
  }
}

template <typename T>
__device__ void bn_backward_dx(const T* dy, const T* x, const T* mean, const T* coef, T* dx, long long n, long long c,
                               long long hw) {
  FASTNN_GRID_STRIDE(q, n * c * hw) {
    const long long ch = (q / hw) % c;
    // b == 0 (eval): dx does not depend on x, which may be NaN or inf there
    const T b = coef[3 * ch + 2];
    dx[q] = coef[3 * ch] * ((dy[q] - coef[3 * ch + 1]) - (b != T(0) ? (x[q] - mean[ch]) * b : T(0)));
  }
}

#define FASTNN_BN_KERNELS(T, SUFFIX)                                                                             \
  extern "C" __global__ void bn_stats_partials_##SUFFIX(const T* x, double* s1, double* s2, long long n,         \
                                                        long long c, long long hw, long long parts) {           \
    bn_stats_partials<T>(x, s1, s2, n, c, hw, parts);                                                            \
  }                                                                                                              \
  extern "C" __global__ void bn_finish_train_##SUFFIX(const double* s1, const double* s2, const T* x, T* mean,   \
                                                      T* invstd, T* rm, T* rv, long long n, long long c,         \
                                                      long long hw, long long parts, double momentum,           \
                                                      double eps) {                                             \
    bn_finish_train<T>(s1, s2, x, mean, invstd, rm, rv, n, c, hw, parts, momentum, eps);                         \
  }                                                                                                              \
  extern "C" __global__ void bn_finish_eval_##SUFFIX(const T* rm, const T* rv, T* mean, T* invstd, long long c,  \
                                                     double eps) {                                              \
    bn_finish_eval<T>(rm, rv, mean, invstd, c, eps);                                                             \
  }                                                                                                              \
  extern "C" __global__ void bn_normalize_##SUFFIX(const T* x, const T* gamma, const T* beta, const T* mean,     \
                                                   const T* invstd, T* y, long long n, long long c,             \
                                                   long long hw) {                                              \
    bn_normalize<T>(x, gamma, beta, mean, invstd, y, n, c, hw);                                                  \
  }                                                                                                              \
  extern "C" __global__ void bn_backward_partials_##SUFFIX(const T* dy, const T* x, const T* mean, double* sdy,  \
                                                           double* sdyx, long long n, long long c, long long hw, \
                                                           long long parts) {                                   \
    bn_backward_partials<T>(dy, x, mean, sdy, sdyx, n, c, hw, parts);                                            \
  }                                                                                                              \
  extern "C" __global__ void bn_backward_finish_##SUFFIX(const double* sdy, const double* sdyx, const T* gamma,  \
                                                         const T* invstd, T* dgamma, T* dbeta, T* coef,         \
                                                         long long n, long long c, long long hw,                \
                                                         long long parts, int training) {                       \
    bn_backward_finish<T>(sdy, sdyx, gamma, invstd, dgamma, dbeta, coef, n, c, hw, parts, training);             \
  }                                                                                                              \
  extern "C" __global__ void bn_backward_dx_##SUFFIX(const T* dy, const T* x, const T* mean, const T* coef,      \
                                                     T* dx, long long n, long long c, long long hw) {           \
    bn_backward_dx<T>(dy, x, mean, coef, dx, n, c, hw);                                                          \
  }

FASTNN_BN_KERNELS(float, f32)
FASTNN_BN_KERNELS(double, f64)
