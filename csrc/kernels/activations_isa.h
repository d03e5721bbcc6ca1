// The per-ISA entry points behind activations.h (one namespace per compiled ISA).
#pragma once
#include "activations.h"

#define FASTNN_DECLARE_ACTIVATIONS(NS)                                                          \
  namespace fastnn::NS {                                                                        \
  template <typename T>                                                                         \
  void activation_forward(Act act, const T* x, T* y, int64_t n, const ActParams& p);            \
  template <typename T>                                                                         \
  void activation_backward(Act act, const T* dy, const T* s, T* dx, int64_t n, const ActParams& p); \
  template <typename T>                                                                         \
  void softmax_forward(const T* x, T* y, int64_t rows, int64_t cols, bool log);                 \
  template <typename T>                                                                         \
  void softmax_backward(const T* dy, const T* y, T* dx, int64_t rows, int64_t cols, bool log);  \
  void exp_inplace_f64(double* e, int64_t n);                                                   \
  }

FASTNN_DECLARE_ACTIVATIONS(isa_generic)
FASTNN_DECLARE_ACTIVATIONS(isa_avx2)
FASTNN_DECLARE_ACTIVATIONS(isa_avx512)
