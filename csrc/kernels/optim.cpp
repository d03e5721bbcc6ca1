#include "optim.h"

#include <cmath>

#include "isa_dispatch.h"
#include "optim_isa.h"

namespace fastnn {

namespace {
inline float f(double v) { return static_cast<float>(v); }
}  // namespace

void sgd_update(float* param, const float* grad, float* buf, int64_t n, double lr, double momentum,
                double dampening, bool nesterov, double weight_decay, bool first_step) {
  FASTNN_DISPATCH(sgd_loop(param, grad, buf, n, f(lr), f(momentum), f(1.0 - dampening), nesterov,
                           f(weight_decay), first_step));
}

void adagrad_update(float* param, const float* grad, float* sum_sq, int64_t n, double clr, double weight_decay,
                    double eps) {
  FASTNN_DISPATCH(adagrad_loop(param, grad, sum_sq, n, f(clr), f(weight_decay), f(eps)));
}

void adadelta_update(float* param, const float* grad, float* square_avg, float* acc_delta, int64_t n, double lr,
                     double rho, double eps, double weight_decay) {
  FASTNN_DISPATCH(adadelta_loop(param, grad, square_avg, acc_delta, n, f(lr), f(rho), f(1.0 - rho), f(eps),
                                 f(weight_decay)));
}

void rmsprop_update(float* param, const float* grad, float* square_avg, float* buf, float* grad_avg, int64_t n,
                    double lr, double alpha, double eps, double weight_decay, double momentum, bool centered) {
  FASTNN_DISPATCH(rmsprop_loop(param, grad, square_avg, buf, grad_avg, n, f(lr), f(alpha), f(1.0 - alpha), f(eps),
                               f(weight_decay), f(momentum), centered));
}

void adam_update(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, float* max_exp_avg_sq,
                 int64_t n, int64_t step, double lr, double beta1, double beta2, double eps, double weight_decay,
                 bool decoupled) {
  const double s = static_cast<double>(step);
  const double bc1 = 1.0 - std::pow(beta1, s), bc2 = 1.0 - std::pow(beta2, s);
  const double decay = decoupled ? 1.0 - lr * weight_decay : 1.0;  // AdamW shrinks param first
  const double wd_l2 = decoupled ? 0.0 : weight_decay;               // Adam folds wd into the gradient
  FASTNN_DISPATCH(adam_loop(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, n, f(decay), f(beta1), f(1.0 - beta1),
                            f(beta2), f(1.0 - beta2), f(wd_l2), f(lr / bc1), f(1.0 / std::sqrt(bc2)), f(eps)));
}

void radam_update(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, int64_t n, int64_t step,
                  double lr, double beta1, double beta2, double eps, double weight_decay) {
  const double s = static_cast<double>(step);
  const double b2t = std::pow(beta2, s);
  const double bc1 = 1.0 - std::pow(beta1, s), bc2 = 1.0 - b2t;
  const double rho_inf = 2.0 / (1.0 - beta2) - 1.0;
  const double rho_t = rho_inf - 2.0 * s * b2t / bc2;
  const bool rectified = rho_t > 5.0;
  double coef = lr / bc1;  // untractable variance: SGD with momentum on the corrected average
  if (rectified) {
    const double rect = std::sqrt((rho_t - 4.0) * (rho_t - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t));
    coef = lr / bc1 * rect * std::sqrt(bc2);
  }
  FASTNN_DISPATCH(radam_loop(param, grad, exp_avg, exp_avg_sq, n, f(beta1), f(1.0 - beta1), f(beta2), f(1.0 - beta2),
                             f(weight_decay), rectified,
                             f(coef), f(eps)));
}

}  // namespace fastnn
