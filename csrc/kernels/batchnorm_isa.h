// The per-ISA entry points behind batchnorm.h (one namespace per compiled ISA).
#pragma once
#include "batchnorm.h"

#define FASTNN_DECLARE_BATCHNORM(NS)                                                                       \
  namespace fastnn::NS {                                                                                   \
  template <typename T>                                                                                    \
  void batch_norm_forward_train(const T* x, const T* gamma, const T* beta, T* running_mean, T* running_var, \
                                T* y, T* mean, T* invstd, int64_t n, int64_t c, int64_t hw, double momentum, \
                                double eps);                                                               \
  template <typename T>                                                                                    \
  void batch_norm_forward_eval(const T* x, const T* gamma, const T* beta, const T* running_mean,           \
                               const T* running_var, T* y, T* mean, T* invstd, int64_t n, int64_t c,       \
                               int64_t hw, double eps);                                                    \
  template <typename T>                                                                                    \
  void batch_norm_backward(const T* dy, const T* x, const T* gamma, const T* mean, const T* invstd, T* dx,  \
                           T* dgamma, T* dbeta, int64_t n, int64_t c, int64_t hw, bool training);          \
  }

FASTNN_DECLARE_BATCHNORM(isa_generic)
FASTNN_DECLARE_BATCHNORM(isa_avx2)
FASTNN_DECLARE_BATCHNORM(isa_avx512)
