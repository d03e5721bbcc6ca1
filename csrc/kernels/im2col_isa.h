// The per-ISA im2col / col2im behind conv.h (one namespace per compiled ISA; im2col_impl.h).
#pragma once
#include "conv.h"

#define FASTNN_DECLARE_IM2COL(NS)                                                                 \
  namespace fastnn::NS {                                                                          \
  template <typename T>                                                                           \
  void im2col(const T* x, T* cols, const ConvGeom& g, int64_t n_stride, int64_t r_stride);        \
  /* x = col2im(cols), each (n, c) plane starting at bias[c] (bias may be null). scratch_cols:   \
     the caller's own buffer (may be cols itself), overwritten; or null when there is none. */   \
  template <typename T>                                                                           \
  void col2im(T* scratch_cols, const T* cols, T* x, const ConvGeom& g, int64_t n_stride,          \
              int64_t r_stride, const T* bias);                                                   \
  /* *out = sum of p[0..n) in double, in an order that depends on n only (im2col_impl.h) */     \
  template <typename T>                                                                           \
  void sum_as_double(const T* p, int64_t n, double* out);                                         \
  }

FASTNN_DECLARE_IM2COL(isa_generic)
FASTNN_DECLARE_IM2COL(isa_avx2)
FASTNN_DECLARE_IM2COL(isa_avx512)
#undef FASTNN_DECLARE_IM2COL
