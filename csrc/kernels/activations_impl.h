// Activation kernels, written once and compiled per ISA: the including file defines
// FASTNN_ISA_NS and the build gives it the matching -m flags. Plain loops under
// `#pragma omp simd`; the compiler turns them into SSE2 / AVX2 / AVX-512 code.
#include <algorithm>
#include <cmath>

#include "activations_isa.h"
#include "cpu.h"
#include "simd_math.h"

#ifndef FASTNN_ISA_NS
#error "define FASTNN_ISA_NS before including activations_impl.h"
#endif

namespace fastnn::FASTNN_ISA_NS {
namespace {

// float: the vectorizable approximations; double: libm (double exists for gradient checks).
inline float m_exp(float x) { return simd_math::exp_f32(x); }
inline double m_exp(double x) { return std::exp(x); }
inline float m_tanh(float x) { return simd_math::tanh_f32(x); }
inline double m_tanh(double x) { return std::tanh(x); }
inline float m_expm1(float x) { return simd_math::expm1_f32(x); }
inline double m_expm1(double x) { return std::expm1(x); }
inline float m_log(float x) { return simd_math::log_f32(x); }
inline double m_log(double x) { return std::log(x); }
inline float m_log1p_pos(float x) { return simd_math::log1p_pos_f32(x); }
inline double m_log1p_pos(double x) { return std::log1p(x); }
template <typename T>
inline T m_sigmoid(T x) { return T(1) / (T(1) + m_exp(-x)); }
// Phi(x), the standard normal CDF: 0.5 erfc(-x / sqrt 2) (accurate in the negative tail).
inline float m_phi(float x) { return 0.5f * simd_math::erfc_f32(-x * 0.70710678118654752f, simd_math::half_square_f32(x)); }
inline double m_phi(double x) { return 0.5 * std::erfc(-x * 0.70710678118654752440); }
// GELU's derivative Phi(x) + x phi(x), phi(x) = exp(-x^2 / 2) / sqrt(2 pi); in float one exp
// serves both terms (erfc from exp(-x^2 / 2), see simd_math.h).
constexpr double kInvSqrt2Pi = 0.39894228040143267794;
inline float m_gelu_grad(float x) {
  const float e = simd_math::exp_f32(-simd_math::half_square_f32(x));
  const float phi = 0.5f * simd_math::erfc_from_exp_f32(-x * 0.70710678118654752f, e);
  return phi + x * (static_cast<float>(kInvSqrt2Pi) * e);
}
inline double m_gelu_grad(double x) { return m_phi(x) + x * kInvSqrt2Pi * std::exp(-x * x * 0.5); }
// GELU's tanh approximation (PyTorch's approximate="tanh"): 0.5 x (1 + tanh(u)), u = k (x + c x^3),
// evaluated as x s with s = sigmoid(2 u) = (1 + tanh(u)) / 2, which keeps the negative tail's
// digits where 1 + tanh(u) would cancel; its derivative s + 2 x s (1 - s) k (1 + 3 c x^2)
// (1 - tanh(u)^2 = 4 s (1 - s)).
constexpr double kGeluK = 0.79788456080286535588;  // sqrt(2 / pi)
constexpr double kGeluC = 0.044715;
template <typename T>
inline T gelu_tanh_s(T x) { return m_sigmoid(T(2 * kGeluK) * (x + T(kGeluC) * x * x * x)); }
template <typename T>
inline T gelu_tanh(T x) { return x * gelu_tanh_s(x); }
template <typename T>
inline T gelu_tanh_grad(T x) {
  const T s = gelu_tanh_s(x);
  return s + T(2) * x * s * (T(1) - s) * T(kGeluK) * (T(1) + T(3 * kGeluC) * x * x);
}

// Element-wise chunks of this many items go to one thread (a parallel region costs ~us).
constexpr int64_t kGrain = 1 << 15;

// Each chunk is mapped as two interleaved halves: every vector step then carries two independent
// chains, so the long dependency chains of the transcendental activations (GELU's erfc: a
// divide, ten FMAs and an exp in a row, ~130 cycles of latency) run side by side; with one
// chain per step the scheduler held too few steps to hide that latency (GELU forward ran at
// ~3 cycles per element). (simdlen(32) on the loop did not change GCC's code.)
template <typename T, typename F>
void map1(const T* x, T* y, int64_t n, F f) {
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    const int64_t h = (e - b) / 2, m = b + h;
#pragma omp simd
    for (int64_t i = 0; i < h; ++i) {
      y[b + i] = f(x[b + i]);
      y[m + i] = f(x[m + i]);
    }
    if ((e - b) % 2 != 0) y[e - 1] = f(x[e - 1]);
  });
}

template <typename T, typename F>
void map2(const T* a, const T* s, T* out, int64_t n, F f) {
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {  // two interleaved halves, as map1
    const int64_t h = (e - b) / 2, m = b + h;
#pragma omp simd
    for (int64_t i = 0; i < h; ++i) {
      out[b + i] = f(a[b + i], s[b + i]);
      out[m + i] = f(a[m + i], s[m + i]);
    }
    if ((e - b) % 2 != 0) out[e - 1] = f(a[e - 1], s[e - 1]);
  });
}

}  // namespace

template <typename T>
void activation_forward(Act act, const T* x, T* y, int64_t n, const ActParams& p) {
  const T a = static_cast<T>(p.p0);
  const T thr = static_cast<T>(p.p1);
  switch (act) {
    case Act::step:  // 1 where x > 0, 0 where x <= 0, NaN stays NaN
      return map1(x, y, n, [](T v) { return v > T(0) ? T(1) : (v <= T(0) ? T(0) : v); });
    case Act::sigmoid:
      return map1(x, y, n, [a](T v) { return m_sigmoid(a * v); });
    case Act::tanh:
      return map1(x, y, n, [](T v) { return m_tanh(v); });
    case Act::relu:  // written so that NaN stays NaN
      return map1(x, y, n, [](T v) { return v < T(0) ? T(0) : v; });
    case Act::leaky_relu:
      // v > 0, not v >= 0, as PyTorch: zeros go through the slope (a < 0 flips their sign)
      return map1(x, y, n, [a](T v) { return v > T(0) ? v : v * a; });
    case Act::softplus:  // (1/beta) log(1 + exp(beta x)), identity above the threshold
      return map1(x, y, n, [a, thr](T v) {
        const T z = a * v;
        const T soft = (std::max(z, T(0)) + m_log1p_pos(m_exp(-std::fabs(z)))) / a;
        return z > thr ? v : soft;
      });
    case Act::swish:
      return map1(x, y, n, [a](T v) { return v * m_sigmoid(a * v); });
    case Act::elu:
      return map1(x, y, n, [a](T v) {
        const T neg = a * m_expm1(v);  // computed unconditionally so the loop vectorizes
        return v < T(0) ? neg : v;  // zeros (and NaN) pass as they are, as PyTorch's (whatever a's sign)
      });
    case Act::gelu:
      if (a != T(0)) return map1(x, y, n, [](T v) { return gelu_tanh(v); });
      return map1(x, y, n, [](T v) { return v * m_phi(v); });
  }
}

template <typename T>
void activation_backward(Act act, const T* dy, const T* s, T* dx, int64_t n, const ActParams& p) {
  const T a = static_cast<T>(p.p0);
  const T thr = static_cast<T>(p.p1);
  switch (act) {
    case Act::step:  // piecewise constant: zero gradient
      return map2(dy, s, dx, n, [](T, T) { return T(0); });
    case Act::sigmoid:  // s = y
      return map2(dy, s, dx, n, [a](T g, T y) { return g * a * y * (T(1) - y); });
    case Act::tanh:  // s = y
      return map2(dy, s, dx, n, [](T g, T y) { return g * (T(1) - y * y); });
    case Act::relu:  // PyTorch's threshold_backward: NaN passes the gradient on
      return map2(dy, s, dx, n, [](T g, T x) { return x <= T(0) ? T(0) : g; });
    case Act::leaky_relu:
      return map2(dy, s, dx, n, [a](T g, T x) { return x > T(0) ? g : g * a; });
    case Act::softplus:
      return map2(dy, s, dx, n, [a, thr](T g, T x) {
        const T z = a * x;
        return z > thr ? g : g * m_sigmoid(z);
      });
    case Act::swish:
      return map2(dy, s, dx, n, [a](T g, T x) {
        const T sg = m_sigmoid(a * x);
        return g * (sg + a * x * sg * (T(1) - sg));
      });
    case Act::elu:
      return map2(dy, s, dx, n, [a](T g, T x) {
        const T neg = g * a * m_exp(x);
        return x <= T(0) ? neg : g;  // as PyTorch's elu_backward: NaN passes the gradient on
      });
    case Act::gelu:  // d/dx x Phi(x) = Phi(x) + x phi(x)
      if (a != T(0)) return map2(dy, s, dx, n, [](T g, T x) { return g * gelu_tanh_grad(x); });
      return map2(dy, s, dx, n, [](T g, T x) { return g * m_gelu_grad(x); });
  }
}

template <typename T>
void softmax_forward(const T* x, T* y, int64_t rows, int64_t cols, bool log) {
  const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(cols, 1));
  parallel_for(rows, grain, [&](int64_t rb, int64_t re) {
    for (int64_t r = rb; r < re; ++r) {
      const T* xr = x + r * cols;
      T* yr = y + r * cols;
      T mx = -INFINITY;
#pragma omp simd reduction(max : mx)
      for (int64_t j = 0; j < cols; ++j) mx = xr[j] > mx ? xr[j] : mx;
      T sum = 0;
      if (log) {
#pragma omp simd reduction(+ : sum)
        for (int64_t j = 0; j < cols; ++j) sum += m_exp(xr[j] - mx);
        // (x - max) - log(sum), not x - (max + log(sum)): the first keeps small results exact.
        const T lsum = m_log(sum);
#pragma omp simd
        for (int64_t j = 0; j < cols; ++j) yr[j] = (xr[j] - mx) - lsum;
      } else {
#pragma omp simd reduction(+ : sum)
        for (int64_t j = 0; j < cols; ++j) {
          const T e = m_exp(xr[j] - mx);
          yr[j] = e;
          sum += e;
        }
        const T inv = T(1) / sum;
#pragma omp simd
        for (int64_t j = 0; j < cols; ++j) yr[j] *= inv;
      }
    }
  });
}

template <typename T>
void softmax_backward(const T* dy, const T* y, T* dx, int64_t rows, int64_t cols, bool log) {
  const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(cols, 1));
  parallel_for(rows, grain, [&](int64_t rb, int64_t re) {
    for (int64_t r = rb; r < re; ++r) {
      const T* gr = dy + r * cols;
      const T* yr = y + r * cols;
      T* dr = dx + r * cols;
      T s = 0;
      if (log) {  // dx = dy - softmax * sum(dy)
#pragma omp simd reduction(+ : s)
        for (int64_t j = 0; j < cols; ++j) s += gr[j];
#pragma omp simd
        for (int64_t j = 0; j < cols; ++j) dr[j] = gr[j] - m_exp(yr[j]) * s;
      } else {  // dx = y * (dy - sum(dy * y))
#pragma omp simd reduction(+ : s)
        for (int64_t j = 0; j < cols; ++j) s += gr[j] * yr[j];
#pragma omp simd
        for (int64_t j = 0; j < cols; ++j) dr[j] = yr[j] * (gr[j] - s);
      }
    }
  });
}

// Whole blocks of 16 (a ragged last block through a padded copy): a scalar remainder would run
// each of its exps as one long dependency chain.
void exp_inplace_f64(double* e, int64_t n) {
  constexpr int kB = 16;
  int64_t j0 = 0;
  for (; j0 + kB <= n; j0 += kB) {
#pragma omp simd
    for (int j = 0; j < kB; ++j) e[j0 + j] = simd_math::exp_f64(e[j0 + j]);
  }
  if (j0 < n) {
    const int rest = static_cast<int>(n - j0);
    double buf[kB];
    for (int j = 0; j < kB; ++j) buf[j] = j < rest ? e[j0 + j] : 0.0;
#pragma omp simd
    for (int j = 0; j < kB; ++j) buf[j] = simd_math::exp_f64(buf[j]);
    for (int j = 0; j < rest; ++j) e[j0 + j] = buf[j];
  }
}

#define FASTNN_INSTANTIATE(T)                                                                    \
  template void activation_forward<T>(Act, const T*, T*, int64_t, const ActParams&);             \
  template void activation_backward<T>(Act, const T*, const T*, T*, int64_t, const ActParams&);  \
  template void softmax_forward<T>(const T*, T*, int64_t, int64_t, bool);                        \
  template void softmax_backward<T>(const T*, const T*, T*, int64_t, int64_t, bool);
FASTNN_INSTANTIATE(float)
FASTNN_INSTANTIATE(double)
#undef FASTNN_INSTANTIATE

}  // namespace fastnn::FASTNN_ISA_NS
