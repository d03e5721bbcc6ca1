// The per-ISA entry points behind gemm.h (one namespace per compiled ISA).
#pragma once
#include <cstdint>

#include "gemm.h"

namespace fastnn {

// All arguments of one gemm call (see gemm.h for their meaning).
template <typename T>
struct GemmArgs {
  bool trans_a, trans_b;
  int64_t m, n, k;
  T alpha;
  const T* a;
  int64_t lda;
  const T* b;
  int64_t ldb;
  T beta;
  T* c;
  int64_t ldc;
  const T* bias;
  GemmAct act;
};

}  // namespace fastnn

#define FASTNN_DECLARE_GEMM(NS)          \
  namespace fastnn::NS {                 \
  template <typename T>                  \
  void gemm(const GemmArgs<T>& args);    \
  template <typename T>                  \
  void gemm_batch(const GemmArgs<T>& args, int64_t batch, int64_t stride_b, int64_t stride_c, \
                  const T* row_bias, void (*after)(void*, int64_t), void* ctx); \
  double fma_probe(bool f64, int64_t iters); \
  }

FASTNN_DECLARE_GEMM(isa_generic)
FASTNN_DECLARE_GEMM(isa_avx2)
FASTNN_DECLARE_GEMM(isa_avx512)
