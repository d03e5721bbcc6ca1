// Losses fused with their gradients for the GPU path, the CPU kernels' numerics
// (csrc/kernels/losses.cpp): per-element work in double, the mean summed in a fixed order
// (softmax cross-entropy: a loss per row, then reduce.cu's partial sums; point-wise losses:
// partial sums here, see "Partial sums" in common.cuh). The caller divides by the count.
#include "common.cuh"

// One row of softmax cross-entropy; q(j) is the target weight of class j. Returns the row loss
// -sum_j q_j log p_j (terms with q_j = 0 skipped: 0 log 0 = 0) and writes
// g = (p * sum(q) - q) * inv_n. exp(z_j - max) is evaluated twice (sum, then gradient): the
// same double both times, so no scratch row is needed.
template <typename T, typename Q>
__device__ double ce_row(const T* x, T* g, long long k, double inv_n, Q q) {
  double mx = -d_inf<double>();
  for (long long j = 0; j < k; ++j) {
    const double v = (double)x[j];
    mx = mx < v ? v : mx;  // std::max(mx, v), as the CPU kernel: a NaN logit does not become the max
  }
  double sum = 0;
  for (long long j = 0; j < k; ++j) sum += d_exp((double)x[j] - mx);
  const double lse = d_log(sum), inv_sum = 1.0 / sum;
  double loss = 0, sumq = 0;
  for (long long j = 0; j < k; ++j) {
    const double qj = q(j);
    sumq += qj;
    if (qj != 0) loss -= qj * (((double)x[j] - mx) - lse);
  }
  for (long long j = 0; j < k; ++j) g[j] = (T)((d_exp((double)x[j] - mx) * inv_sum * sumq - q(j)) * inv_n);
  return loss;
}

struct LabelWeight {  // one-hot label t, smoothed: on for t, off elsewhere
  long long t;
  double on, off;
  __device__ double operator()(long long j) const { return j == t ? on : off; }
};

template <typename T>
struct SoftWeight {  // probability row, smoothed: (1 - ls) * target + off
  const T* row;
  double keep, off;
  __device__ double operator()(long long j) const { return keep * (double)row[j] + off; }
};

template <typename T>
__device__ void ce_labels_rows(const T* logits, const long long* labels, T* grad, double* row_loss, long long n,
                               long long k, double on, double off, double inv_n) {
  FASTNN_GRID_STRIDE(i, n) {
    row_loss[i] = ce_row(logits + i * k, grad + i * k, k, inv_n, LabelWeight{labels[i], on, off});
  }
}

template <typename T>
__device__ void ce_soft_rows(const T* logits, const T* target, T* grad, double* row_loss, long long n, long long k,
                             double label_smoothing, double off, double inv_n) {
  FASTNN_GRID_STRIDE(i, n) {
    row_loss[i] = ce_row(logits + i * k, grad + i * k, k, inv_n, SoftWeight<T>{target + i * k, 1.0 - label_smoothing, off});
  }
}

// Point-wise losses (ids as fastnn::PointLoss): the term of one element, g = d term / d x.
__device__ __forceinline__ double point_loss(int kind, double x, double t, double& g) {
  switch (kind) {
    case 0: {  // mse
      const double d = x - t;
      g = 2.0 * d;
      return d * d;
    }
    case 1: {  // l1: sign, 0 at 0 and at NaN (PyTorch's sign(NaN) = 0)
      const double d = x - t;
      g = d > 0 ? 1.0 : (d < 0 ? -1.0 : 0.0);
      return d < 0 ? -d : d;
    }
    case 2: {  // bce: logs clamped at -100, PyTorch's clamped denominator (1e-12 as a float)
      g = (x - t) / d_max(x * (1.0 - x), (double)1e-12f);
      return -(t * d_max(d_log(x), -100.0) + (1.0 - t) * d_max(d_log1p(-x), -100.0));
    }
    default: {  // bce_with_logits: max(x, 0) - x t + log(1 + exp(-|x|)); grad sigmoid(x) - t
      const double e = d_exp(-(x < 0 ? -x : x));
      g = (x >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e)) - t;
      return d_max(x, 0.0) - x * t + d_log1p(e);
    }
  }
}

// grad = d loss / d pred * inv_n; part[t] = the partial sum of the terms (one thread per partial).
template <typename T>
__device__ void pointwise_loss_partials(const T* pred, const T* target, T* grad, double* part, long long n,
                                        long long parts, int kind, double inv_n) {
  FASTNN_GRID_STRIDE(t, parts) {
    double s = 0;
    for (long long e = t; e < n; e += parts) {
      double g;
      s += point_loss(kind, (double)pred[e], (double)target[e], g);
      grad[e] = (T)(g * inv_n);
    }
    part[t] = s;
  }
}

// Gaussian NLL with v = max(var, eps): terms 0.5 (log v + d^2 / v), d = mean - target;
// dmean = d / v * inv_n, dvar = 0.5 (1 / v - d^2 / v^2) * inv_n (the clamp is not differentiated).
template <typename T>
__device__ void gaussian_nll_partials(const T* mean, const T* target, const T* var, T* dmean, T* dvar,
                                      double* part, long long n, long long parts, double eps, double inv_n) {
  FASTNN_GRID_STRIDE(t, parts) {
    double s = 0;
    for (long long e = t; e < n; e += parts) {
      const double vr = (double)var[e];
      const double v = vr < eps ? eps : vr;  // std::max(var, eps)
      const double d = (double)mean[e] - (double)target[e];
      s += 0.5 * (d_log(v) + d * d / v);
      dmean[e] = (T)(d / v * inv_n);
      dvar[e] = (T)(0.5 * (1.0 / v - d * d / (v * v)) * inv_n);
    }
    part[t] = s;
  }
}

#define FASTNN_LOSS_KERNELS(T, SUFFIX)                                                                         \
  extern "C" __global__ void ce_labels_rows_##SUFFIX(const T* logits, const long long* labels, T* grad,        \
                                                     double* row_loss, long long n, long long k, double on,    \
                                                     double off, double inv_n) {                               \
    ce_labels_rows<T>(logits, labels, grad, row_loss, n, k, on, off, inv_n);                                   \
  }                                                                                                            \
  extern "C" __global__ void ce_soft_rows_##SUFFIX(const T* logits, const T* target, T* grad, double* row_loss, \
                                                   long long n, long long k, double label_smoothing,          \
                                                   double off, double inv_n) {                                 \
    ce_soft_rows<T>(logits, target, grad, row_loss, n, k, label_smoothing, off, inv_n);                        \
  }                                                                                                            \
  extern "C" __global__ void pointwise_loss_partials_##SUFFIX(const T* pred, const T* target, T* grad,         \
                                                              double* part, long long n, long long parts,      \
                                                              int kind, double inv_n) {                        \
    pointwise_loss_partials<T>(pred, target, grad, part, n, parts, kind, inv_n);                               \
  }                                                                                                            \
  extern "C" __global__ void gaussian_nll_partials_##SUFFIX(const T* mean, const T* target, const T* var,      \
                                                            T* dmean, T* dvar, double* part, long long n,      \
                                                            long long parts, double eps, double inv_n) {       \
    gaussian_nll_partials<T>(mean, target, var, dmean, dvar, part, n, parts, eps, inv_n);                      \
  }

FASTNN_LOSS_KERNELS(float, f32)
FASTNN_LOSS_KERNELS(double, f64)
