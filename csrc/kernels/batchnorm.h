// Batch normalization over channel axis 1 of a C-contiguous (N, C, HW) buffer: (N, C) inputs
// have HW = 1, (N, C, H, W) inputs HW = H * W. Statistics per channel over N * HW values.
// Pure C++ on raw buffers; float and double are instantiated.
//
// Numerics: sums are accumulated in double, shifted by the channel's first value (so the
// variance of data far from zero does not cancel), in a fixed order: each channel is reduced by
// one thread, front to back, so results do not depend on the thread count.
#pragma once
#include <cstdint>

namespace fastnn {

// Training: batch mean and biased variance -> y, mean, invstd = 1 / sqrt(var + eps).
// running_mean / running_var (may be null) are updated in place:
//   running = (1 - momentum) * running + momentum * batch  (unbiased variance).
// gamma / beta may be null (1 / 0). Needs n * hw > 1 (checked by the caller).
template <typename T>
void batch_norm_forward_train(const T* x, const T* gamma, const T* beta, T* running_mean, T* running_var,
                              T* y, T* mean, T* invstd, int64_t n, int64_t c, int64_t hw, double momentum,
                              double eps);

// Eval: normalise with the running statistics; mean / invstd receive the values used.
template <typename T>
void batch_norm_forward_eval(const T* x, const T* gamma, const T* beta, const T* running_mean,
                             const T* running_var, T* y, T* mean, T* invstd, int64_t n, int64_t c, int64_t hw,
                             double eps);

// dbeta = sum(dy), dgamma = sum(dy * xhat); training: dx = gamma * invstd / M * (M dy - dbeta - xhat dgamma),
// eval: dx = gamma * invstd * dy (M = n * hw, xhat = (x - mean) * invstd). gamma may be null.
template <typename T>
void batch_norm_backward(const T* dy, const T* x, const T* gamma, const T* mean, const T* invstd, T* dx,
                         T* dgamma, T* dbeta, int64_t n, int64_t c, int64_t hw, bool training);

}  // namespace fastnn
