// Optimizer updates: one fused in-place pass over a float32 parameter, its gradient and its
// slots (PyTorch's update rules, torch/optim/*.py). Per-step scalars (bias corrections, the
// RAdam rectification) are computed once in double by the caller side of each entry point;
// the element-wise work is float32, as PyTorch's. Element-wise, so any thread split is exact.
#pragma once
#include <cstdint>

namespace fastnn {

// buf may be null when momentum == 0. first_step: buf = g (PyTorch clones the first gradient).
void sgd_update(float* param, const float* grad, float* buf, int64_t n, double lr, double momentum,
                double dampening, bool nesterov, double weight_decay, bool first_step);

// clr = lr / (1 + (step - 1) * lr_decay), computed by the caller.
void adagrad_update(float* param, const float* grad, float* sum_sq, int64_t n, double clr, double weight_decay,
                    double eps);

void adadelta_update(float* param, const float* grad, float* square_avg, float* acc_delta, int64_t n, double lr,
                     double rho, double eps, double weight_decay);

// buf may be null when momentum == 0; grad_avg may be null unless centered.
void rmsprop_update(float* param, const float* grad, float* square_avg, float* buf, float* grad_avg, int64_t n,
                    double lr, double alpha, double eps, double weight_decay, double momentum, bool centered);

// Adam / AdamW (decoupled); step >= 1. max_exp_avg_sq: null, or AMSGrad's running maximum of
// exp_avg_sq (the denominator then uses it).
void adam_update(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, float* max_exp_avg_sq,
                 int64_t n, int64_t step, double lr, double beta1, double beta2, double eps, double weight_decay,
                 bool decoupled);

void radam_update(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, int64_t n, int64_t step,
                  double lr, double beta1, double beta2, double eps, double weight_decay);

}  // namespace fastnn
