// Loss functions with their gradients, fused (one pass computes both), reduction = mean as in
// PyTorch. Each returns the loss (NaN for an empty input: the mean of nothing). Per-element work
// is done in double for float inputs too (losses are cheap next to the layers around them), and
// the mean is summed over fixed blocks in a fixed order: results do not depend on the thread count.
// Pure C++ on raw C-contiguous buffers; float and double are instantiated.
#pragma once
#include <cstdint>

namespace fastnn {

// Softmax cross-entropy of logits (n, k) against class labels in [0, k) (checked by the caller)
// or probability rows target (n, k); q = (1 - ls) * q + ls / k. grad = (softmax * sum(q) - q) / n.
template <typename T>
double softmax_cross_entropy_labels(const T* logits, const int64_t* labels, T* grad, int64_t n, int64_t k,
                                    double label_smoothing);
template <typename T>
double softmax_cross_entropy_soft(const T* logits, const T* target, T* grad, int64_t n, int64_t k,
                                  double label_smoothing);

enum class PointLoss : int { mse = 0, l1, bce, bce_with_logits };

// mean over n elements of loss(pred, target); grad = d loss / d pred. bce needs pred in [0, 1]
// (checked by the caller: first_outside).
template <typename T>
double pointwise_loss(PointLoss kind, const T* pred, const T* target, T* grad, int64_t n);

// Gaussian negative log-likelihood, var clamped at eps (var >= 0 checked by the caller).
template <typename T>
double gaussian_nll_loss(const T* mean, const T* target, const T* var, T* dmean, T* dvar, int64_t n, bool full,
                         double eps);

// Index of the first value outside [lo, hi] (NaN counts as outside), or -1.
template <typename T>
int64_t first_outside(const T* v, int64_t n, double lo, double hi);
// Index of the first label outside [0, k), or -1.
int64_t first_bad_label(const int64_t* labels, int64_t n, int64_t k);

}  // namespace fastnn
