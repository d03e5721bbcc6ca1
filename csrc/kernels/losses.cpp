#include "losses.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu.h"

namespace fastnn {
namespace {

constexpr int64_t kBlock = 4096;        // elements per partial sum (fixed: the sum order never changes)
constexpr int64_t kBlocksPerThread = 8;  // at least this many blocks per thread
constexpr double kHalfLog2Pi = 0.91893853320467274178;
// PyTorch clamps the BCE gradient's denominator p (1 - p) at 1e-12 written as a float constant.
const double kBceGradEps = static_cast<double>(1e-12f);

// sum over [0, n) of f(begin, end) evaluated on fixed blocks, added in block order.
template <typename F>
double blocked_sum(int64_t n, F f) {
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  std::vector<double> part(static_cast<size_t>(blocks), 0.0);
  parallel_for(blocks, kBlocksPerThread, [&](int64_t bb, int64_t be) {
    for (int64_t b = bb; b < be; ++b) part[b] = f(b * kBlock, std::min(n, (b + 1) * kBlock));
  });
  double s = 0;
  for (double v : part) s += v;
  return s;
}

// One row of softmax cross-entropy. q(j) gives the target weight of class j; returns the row loss
// and writes grad = (p * sum(q) - q) * inv_n. Terms with q = 0 are skipped (0 * log 0 = 0).
// One exp per element: e_j = exp(z_j) is kept in `e` (double, so float rows lose nothing), and
// log p_j = z_j - log(sum e) needs no further transcendental.
template <typename T, typename Q>
double ce_row(const T* x, T* g, int64_t k, double inv_n, double* e, Q q) {
  double mx = -INFINITY;
  for (int64_t j = 0; j < k; ++j) mx = std::max(mx, static_cast<double>(x[j]));
  double sum = 0;
  for (int64_t j = 0; j < k; ++j) {
    e[j] = std::exp(static_cast<double>(x[j]) - mx);
    sum += e[j];
  }
  const double lse = std::log(sum), inv_sum = 1.0 / sum;
  double loss = 0, sumq = 0;
  for (int64_t j = 0; j < k; ++j) {
    const double qj = q(j);
    sumq += qj;
    if (qj != 0) loss -= qj * ((static_cast<double>(x[j]) - mx) - lse);
  }
  for (int64_t j = 0; j < k; ++j) g[j] = static_cast<T>((e[j] * inv_sum * sumq - q(j)) * inv_n);
  return loss;
}

// row(i, e) computes row i with e a scratch buffer of k doubles.
template <typename T, typename Row>
double ce_rows(int64_t n, int64_t k, Row row) {
  if (n == 0) return NAN;
  std::vector<double> losses(static_cast<size_t>(n));
  const int64_t grain = std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(k, 1));
  parallel_for(n, grain, [&](int64_t b, int64_t e) {
    std::vector<double> scratch(static_cast<size_t>(k));
    for (int64_t i = b; i < e; ++i) losses[i] = row(i, scratch.data());
  });
  double s = 0;
  for (double v : losses) s += v;  // row order: independent of the split
  return s / static_cast<double>(n);
}

}  // namespace

template <typename T>
double softmax_cross_entropy_labels(const T* logits, const int64_t* labels, T* grad, int64_t n, int64_t k,
                                    double ls) {
  const double inv_n = n ? 1.0 / static_cast<double>(n) : 0.0;
  const double off = ls / static_cast<double>(k), on = (1.0 - ls) + off;
  return ce_rows<T>(n, k, [&](int64_t i, double* e) {
    const int64_t t = labels[i];
    return ce_row(logits + i * k, grad + i * k, k, inv_n, e, [&](int64_t j) { return j == t ? on : off; });
  });
}

template <typename T>
double softmax_cross_entropy_soft(const T* logits, const T* target, T* grad, int64_t n, int64_t k, double ls) {
  const double inv_n = n ? 1.0 / static_cast<double>(n) : 0.0;
  const double off = ls / static_cast<double>(k);
  return ce_rows<T>(n, k, [&](int64_t i, double* e) {
    const T* tr = target + i * k;
    return ce_row(logits + i * k, grad + i * k, k, inv_n, e,
                  [&](int64_t j) { return (1.0 - ls) * static_cast<double>(tr[j]) + off; });
  });
}

namespace {

// One element of each point-wise loss: returns the loss term and sets g = d term / d x.
// kArithmetic: no libm call, so the loop vectorises. The others call double exp / log per
// element (correctly rounded results for float inputs; about 2x slower than NumPy's float32
// SIMD transcendental functions on large arrays, irrelevant at the (N, K) sizes losses see).
struct Mse {
  static constexpr bool kArithmetic = true;
  static double eval(double x, double t, double& g) {
    const double d = x - t;
    g = 2.0 * d;
    return d * d;
  }
};
struct L1 {
  static constexpr bool kArithmetic = true;
  static double eval(double x, double t, double& g) {
    const double d = x - t;
    g = d > 0 ? 1.0 : (d < 0 ? -1.0 : d);  // sign, 0 at 0, NaN stays NaN
    return std::fabs(d);
  }
};
struct Bce {  // logs clamped at -100; PyTorch's clamped gradient denominator
  static constexpr bool kArithmetic = false;
  static double eval(double x, double t, double& g) {
    g = (x - t) / std::max(x * (1.0 - x), kBceGradEps);
    return -(t * std::max(std::log(x), -100.0) + (1.0 - t) * std::max(std::log1p(-x), -100.0));
  }
};
struct BceWithLogits {  // max(x, 0) - x t + log(1 + exp(-|x|)); grad sigmoid(x) - t
  static constexpr bool kArithmetic = false;
  static double eval(double x, double t, double& g) {
    const double e = std::exp(-std::fabs(x));
    g = (x >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e)) - t;
    return std::max(x, 0.0) - x * t + std::log1p(e);
  }
};

// The loop is instantiated per loss so each body is branch-free in the loss kind (mse and l1
// vectorise; the others are bound by the double exp / log).
template <typename L, typename T>
double pointwise_mean(const T* pred, const T* target, T* grad, int64_t n) {
  if (n == 0) return NAN;
  const double inv_n = 1.0 / static_cast<double>(n);
  const double sum = blocked_sum(n, [=](int64_t b, int64_t e) {
    const T* const xs = pred;
    const T* const ts = target;
    T* const gs = grad;
    double s = 0;
    if constexpr (L::kArithmetic) {
#pragma omp simd reduction(+ : s)
      for (int64_t i = b; i < e; ++i) {
        double g;
        s += L::eval(static_cast<double>(xs[i]), static_cast<double>(ts[i]), g);
        gs[i] = static_cast<T>(g * inv_n);
      }
    } else {  // scalar libm calls: a simd loop would only add lane shuffling around them
      for (int64_t i = b; i < e; ++i) {
        double g;
        s += L::eval(static_cast<double>(xs[i]), static_cast<double>(ts[i]), g);
        gs[i] = static_cast<T>(g * inv_n);
      }
    }
    return s;
  });
  return sum * inv_n;
}

}  // namespace

template <typename T>
double pointwise_loss(PointLoss kind, const T* pred, const T* target, T* grad, int64_t n) {
  switch (kind) {
    case PointLoss::mse: return pointwise_mean<Mse>(pred, target, grad, n);
    case PointLoss::l1: return pointwise_mean<L1>(pred, target, grad, n);
    case PointLoss::bce: return pointwise_mean<Bce>(pred, target, grad, n);
    default: return pointwise_mean<BceWithLogits>(pred, target, grad, n);
  }
}

template <typename T>
double gaussian_nll_loss(const T* mean, const T* target, const T* var, T* dmean, T* dvar, int64_t n, bool full,
                         double eps) {
  if (n == 0) return NAN;
  const double inv_n = 1.0 / static_cast<double>(n);
  const double sum = blocked_sum(n, [&](int64_t b, int64_t e) {
    double s = 0;
    for (int64_t i = b; i < e; ++i) {
      const double v = std::max(static_cast<double>(var[i]), eps);
      const double d = static_cast<double>(mean[i]) - static_cast<double>(target[i]);
      s += 0.5 * (std::log(v) + d * d / v);
      dmean[i] = static_cast<T>(d / v * inv_n);
      dvar[i] = static_cast<T>(0.5 * (1.0 / v - d * d / (v * v)) * inv_n);
    }
    return s;
  });
  return sum * inv_n + (full ? kHalfLog2Pi : 0.0);
}

template <typename T>
int64_t first_outside(const T* v, int64_t n, double lo, double hi) {
  for (int64_t i = 0; i < n; ++i) {
    const double x = static_cast<double>(v[i]);
    if (!(x >= lo && x <= hi)) return i;
  }
  return -1;
}

int64_t first_bad_label(const int64_t* labels, int64_t n, int64_t k) {
  for (int64_t i = 0; i < n; ++i)
    if (labels[i] < 0 || labels[i] >= k) return i;
  return -1;
}

#define FASTNN_INSTANTIATE(T)                                                                             \
  template double softmax_cross_entropy_labels<T>(const T*, const int64_t*, T*, int64_t, int64_t, double); \
  template double softmax_cross_entropy_soft<T>(const T*, const T*, T*, int64_t, int64_t, double);         \
  template double pointwise_loss<T>(PointLoss, const T*, const T*, T*, int64_t);                           \
  template double gaussian_nll_loss<T>(const T*, const T*, const T*, T*, T*, int64_t, bool, double);       \
  template int64_t first_outside<T>(const T*, int64_t, double, double);
FASTNN_INSTANTIATE(float)
FASTNN_INSTANTIATE(double)
#undef FASTNN_INSTANTIATE

}  // namespace fastnn
