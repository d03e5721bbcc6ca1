// Element-wise activations and softmax over the last axis: forward and backward.
// Pure C++ on raw C-contiguous buffers; float and double are instantiated.
#pragma once
#include <cstdint>

namespace fastnn {

enum class Act : int { step = 0, sigmoid, tanh, relu, leaky_relu, softplus, swish, elu, gelu };

// p0: beta (sigmoid, softplus, swish), negative_slope (leaky_relu), alpha (elu), 1 for gelu's
// tanh approximation (0: the exact x Phi(x)).
// p1: threshold (softplus: above beta*x > threshold the function is the identity).
struct ActParams {
  double p0 = 1.0;
  double p1 = 20.0;
};

// Which tensor backward needs: the forward output y (sigmoid, tanh) or the input x (others).
constexpr bool backward_uses_output(Act a) { return a == Act::sigmoid || a == Act::tanh; }

template <typename T>
void activation_forward(Act act, const T* x, T* y, int64_t n, const ActParams& p);
// `saved` is y when backward_uses_output(act), else x.
template <typename T>
void activation_backward(Act act, const T* dy, const T* saved, T* dx, int64_t n, const ActParams& p);

// Row-wise over a (rows, cols) buffer. log=true computes log_softmax.
template <typename T>
void softmax_forward(const T* x, T* y, int64_t rows, int64_t cols, bool log);
// y is the forward output (softmax or log_softmax).
template <typename T>
void softmax_backward(const T* dy, const T* y, T* dx, int64_t rows, int64_t cols, bool log);

// e[j] = exp(e[j]) in double for j < n (simd_math::exp_f64, vectorized): the softmax
// cross-entropy's exponentials, a block of rows at a time.
void exp_inplace_f64(double* e, int64_t n);

}  // namespace fastnn
