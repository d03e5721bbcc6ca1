// The per-ISA element-wise loops behind optim.h (one namespace per compiled ISA). Scalars arrive
// precomputed (float), so each loop is a pure streaming pass. The complements 1 - beta of the
// decay rates arrive too, taken in double before the cast: 1.0f - float(0.999) is off by 1.3e-5
// relative (float(0.999) is 1.3e-8 above 0.999), which PyTorch (1 - beta2 in double) is not.
#pragma once
#include <cstdint>

#define FASTNN_DECLARE_OPTIM(NS)                                                                      \
  namespace fastnn::NS {                                                                              \
  void sgd_loop(float* p, const float* g, float* buf, int64_t n, float lr, float mom, float damp1,     \
                bool nesterov, float wd, bool first_step);                                            \
  void adagrad_loop(float* p, const float* g, float* ss, int64_t n, float clr, float wd, float eps);   \
  void adadelta_loop(float* p, const float* g, float* sa, float* ad, int64_t n, float lr, float rho,  \
                     float one_m_rho, float eps, float wd);                                                            \
  void rmsprop_loop(float* p, const float* g, float* sa, float* buf, float* ga, int64_t n, float lr,   \
                    float alpha, float one_m_alpha, float eps, float wd, float mom, bool centered);                      \
  void adam_loop(float* p, const float* g, float* m, float* v, float* vmax, int64_t n, float decay,   \
                 float b1, float one_m_b1, float b2, float one_m_b2, float wd_l2, float step_size, float inv_sqrt_bc2, float eps);    \
  void radam_loop(float* p, const float* g, float* m, float* v, int64_t n, float b1, float one_m_b1,   \
                  float b2, float one_m_b2, float wd, bool rectified, float coef, float eps);                                   \
  }

FASTNN_DECLARE_OPTIM(isa_generic)
FASTNN_DECLARE_OPTIM(isa_avx2)
FASTNN_DECLARE_OPTIM(isa_avx512)
