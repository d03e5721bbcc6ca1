// The per-ISA entry points behind dropout.h (one namespace per compiled ISA).
#pragma once
#include "dropout.h"

#define FASTNN_DECLARE_DROPOUT(NS)                                                               \
  namespace fastnn::NS {                                                                         \
  void dropout_mask(uint8_t* mask, int64_t n, double p, uint64_t seed);                          \
  template <typename T>                                                                          \
  void dropout_forward(const T* x, T* y, uint8_t* mask, int64_t n, double p, uint64_t seed);     \
  template <typename T>                                                                          \
  void dropout_backward(const T* dy, const uint8_t* mask, T* dx, int64_t n, double p);           \
  }

FASTNN_DECLARE_DROPOUT(isa_generic)
FASTNN_DECLARE_DROPOUT(isa_avx2)
FASTNN_DECLARE_DROPOUT(isa_avx512)
