#include "losses.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "activations.h"
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

// sum over j < k of f(j) in 8 interleaved partial sums (lane l takes j = l mod 8), added in a
// fixed order at the end: vectorizable at any width, and the same bits on every ISA.
template <typename F>
inline double sum8(int64_t k, F f) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t j = 0;
  for (; j + 8 <= k; j += 8)
#pragma omp simd
    for (int l = 0; l < 8; ++l) acc[l] += f(j + l);
  for (int l = 0; j < k; ++j, ++l) acc[l] += f(j);
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

// Softmax cross-entropy, a block of rows at a time (independent rows overlap in the core; one
// row alone is a single chain of max, exp, sum, log). Per row with target weights q_j: loss
// -sum_j q_j log p_j (terms with q_j = 0 skipped: 0 * log 0 = 0), grad (p sum(q) - q) * inv_n.
// e_j = exp(x_j - max) is kept in double (float rows lose nothing; the vectorized exp_f64 of
// activations.h), and log p_j = (x_j - max) - log(sum e) needs no further transcendental.
// Target: LabelTarget (weights `off` except `on` at the row's integer label: no sum over q
// needed) or SoftTarget (q(r, j), the weight of class j in row r of the block).
constexpr int64_t kCeRowBlock = 8;

template <typename T, typename Target>
void ce_block(const T* x, T* g, int64_t rows, int64_t k, double inv_n, double* e, double* losses, Target tg) {
  double mx[kCeRowBlock], lse[kCeRowBlock], inv_sum[kCeRowBlock];
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * k;
    T m = -INFINITY;
#pragma omp simd reduction(max : m)
    for (int64_t j = 0; j < k; ++j) m = xr[j] > m ? xr[j] : m;  // NaN ignored here; exp passes it on
    mx[r] = static_cast<double>(m);
    double* er = e + r * k;
#pragma omp simd
    for (int64_t j = 0; j < k; ++j) er[j] = static_cast<double>(xr[j]) - mx[r];
  }
  exp_inplace_f64(e, rows * k);
  for (int64_t r = 0; r < rows; ++r) {
    const double* er = e + r * k;
    const double sum = sum8(k, [&](int64_t j) { return er[j]; });
    lse[r] = std::log(sum);
    inv_sum[r] = 1.0 / sum;
  }
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * k;
    const double* er = e + r * k;
    T* gr = g + r * k;
    const double m = mx[r], l = lse[r], is = inv_sum[r];
    if constexpr (Target::kLabels) {
      const int64_t t = tg.labels[r];
      const double on = tg.on, off = tg.off;
      const double sumq = on + static_cast<double>(k - 1) * off;
      double loss = -on * ((static_cast<double>(xr[t]) - m) - l);
      if (off != 0) loss -= off * sum8(k, [&](int64_t j) { return j == t ? 0.0 : (static_cast<double>(xr[j]) - m) - l; });
      losses[r] = loss;
#pragma omp simd
      for (int64_t j = 0; j < k; ++j) gr[j] = static_cast<T>((er[j] * is * sumq - off) * inv_n);
      gr[t] = static_cast<T>((er[t] * is * sumq - on) * inv_n);
    } else {
      const double sumq = sum8(k, [&](int64_t j) { return tg.q(r, j); });
      losses[r] = -sum8(k, [&](int64_t j) {
        const double qj = tg.q(r, j);
        return qj != 0 ? qj * ((static_cast<double>(xr[j]) - m) - l) : 0.0;
      });
#pragma omp simd
      for (int64_t j = 0; j < k; ++j) gr[j] = static_cast<T>((er[j] * is * sumq - tg.q(r, j)) * inv_n);
    }
  }
}

// The mean over rows of the row losses, summed in row order (independent of the split).
// make_target(i0) gives the Target of the block starting at row i0.
template <typename T, typename MakeTarget>
double ce_rows(const T* logits, T* grad, int64_t n, int64_t k, MakeTarget make_target) {
  if (n == 0) return NAN;
  const double inv_n = 1.0 / static_cast<double>(n);
  std::vector<double> losses(static_cast<size_t>(n));
  const int64_t blocks = (n + kCeRowBlock - 1) / kCeRowBlock;
  const int64_t grain = std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(kCeRowBlock * k, 1));
  parallel_for(blocks, grain, [&](int64_t b0, int64_t b1) {
    std::vector<double> scratch(static_cast<size_t>(kCeRowBlock * k));
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t i0 = b * kCeRowBlock, rows = std::min(kCeRowBlock, n - i0);
      ce_block(logits + i0 * k, grad + i0 * k, rows, k, inv_n, scratch.data(), losses.data() + i0,
               make_target(i0));
    }
  });
  double s = 0;
  for (double v : losses) s += v;
  return s * inv_n;
}

struct LabelTarget {
  static constexpr bool kLabels = true;
  const int64_t* labels;
  double on, off;
};

template <typename T>
struct SoftTarget {
  const T* target;
  int64_t k;
  double keep, off;  // q = keep * target + off (label smoothing)
  static constexpr bool kLabels = false;
  double q(int64_t r, int64_t j) const { return keep * static_cast<double>(target[r * k + j]) + off; }
};

}  // namespace

template <typename T>
double softmax_cross_entropy_labels(const T* logits, const int64_t* labels, T* grad, int64_t n, int64_t k,
                                    double ls) {
  const double off = ls / static_cast<double>(k), on = (1.0 - ls) + off;
  return ce_rows<T>(logits, grad, n, k, [&](int64_t i0) { return LabelTarget{labels + i0, on, off}; });
}

template <typename T>
double softmax_cross_entropy_soft(const T* logits, const T* target, T* grad, int64_t n, int64_t k, double ls) {
  const double off = ls / static_cast<double>(k);
  return ce_rows<T>(logits, grad, n, k, [&](int64_t i0) { return SoftTarget<T>{target + i0 * k, k, 1.0 - ls, off}; });
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
    g = d > 0 ? 1.0 : (d < 0 ? -1.0 : 0.0);  // sign, 0 at 0 and at NaN (PyTorch's sign(NaN) = 0)
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
