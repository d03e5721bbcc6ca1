// Portable GEMM (any CPU, also aarch64): the same blocked driver with a plain C++ micro-kernel
// whose inner loops the compiler vectorizes for the baseline ISA (SSE2 on x86-64, NEON on arm64).
#include <type_traits>

#define FASTNN_ISA_NS isa_generic
#include "gemm_driver.h"

namespace fastnn::isa_generic {
namespace {

// MR x NR tile of accumulators; NR = 8 floats is two SSE / NEON vectors per row, 4 rows give
// 8 accumulator vectors (x86-64 has 16 xmm registers).
template <typename TT, int MR_, int NR_>
struct PlainKernel {
  using T = TT;
  static constexpr int MR = MR_, NR = NR_;

  static void kernel(int64_t kc, const T* __restrict a, int64_t lda_panel, const T* __restrict b,
                     int64_t ldb_panel, T* c, int64_t ldc, int mr, int nr, const Epilogue<T>& e) {
    T acc[MR][NR] = {};
    for (int64_t p = 0; p < kc; ++p) {
      for (int r = 0; r < MR; ++r) {
        const T av = a[r];
#pragma omp simd
        for (int j = 0; j < NR; ++j) acc[r][j] += av * b[j];
      }
      a += lda_panel;
      b += ldb_panel;
    }
    for (int r = 0; r < mr; ++r) {
      T* cr = c + r * ldc;
      for (int j = 0; j < nr; ++j) {
        T x = e.alpha * acc[r][j];
        if (e.beta != T(0)) x += e.beta * cr[j];
        if (e.bias) x += e.bias[j];
        if (e.row_bias) x += e.row_bias[r];
        if (e.relu) x = x > T(0) || x != x ? x : T(0);  // keeps NaN, as torch.relu
        cr[j] = x;
      }
    }
  }
  static void pack_a(bool t, const T* a, int64_t lda, int64_t i0, int64_t p0, int mr, int64_t kc, T* d) {
    pack_a_scalar<T, MR>(t, a, lda, i0, p0, mr, kc, d);
  }
  static void pack_b(bool t, const T* b, int64_t ldb, int64_t p0, int64_t j0, int nr, int64_t kc, T* d) {
    pack_b_scalar<T, NR>(t, b, ldb, p0, j0, nr, kc, d);
  }
};

// Blocks as for the AVX2 kernel (see gemm_avx2.cpp), scaled to the 4-row tile.
struct KernelF32 : PlainKernel<float, 4, 8> {
  static constexpr int64_t KC = 256, NC = 512;
  static constexpr int64_t kMinFlopsPerThread = int64_t{1} << 20;  // ~50 us of work, as for AVX-512
  static constexpr int64_t kDirectBMaxM = 256;  // see direct_b in gemm_driver.h
};
struct KernelF64 : PlainKernel<double, 4, 4> {
  static constexpr int64_t KC = 256, NC = 512;
  static constexpr int64_t kMinFlopsPerThread = int64_t{1} << 20;  // ~50 us of work, as for AVX-512
  static constexpr int64_t kDirectBMaxM = 256;  // see direct_b in gemm_driver.h
};

}  // namespace

template <typename T>
void gemm(const GemmArgs<T>& args) {
  gemm_packed<std::conditional_t<std::is_same_v<T, float>, KernelF32, KernelF64>>(args);
}
template void gemm<float>(const GemmArgs<float>&);
template void gemm<double>(const GemmArgs<double>&);

template <typename T>
void gemm_batch(const GemmArgs<T>& args, int64_t batch, int64_t stride_b, int64_t stride_c, const T* row_bias,
                void (*after)(void*, int64_t), void* ctx) {
  gemm_packed_batch<std::conditional_t<std::is_same_v<T, float>, KernelF32, KernelF64>>(
      args, batch, stride_b, stride_c, row_bias, after, ctx);
}
template void gemm_batch<float>(const GemmArgs<float>&, int64_t, int64_t, int64_t, const float*,
                                void (*)(void*, int64_t), void*);
template void gemm_batch<double>(const GemmArgs<double>&, int64_t, int64_t, int64_t, const double*,
                                 void (*)(void*, int64_t), void*);

// Portable probe: 16 independent scalar multiply-add chains (vectorized by the compiler).
double fma_probe(bool f64, int64_t iters) {
  auto run = [iters](auto zero) {
    using T = decltype(zero);
    T acc[16];
    for (int i = 0; i < 16; ++i) acc[i] = T(i) * T(1e-3);
    T x = T(0.999999), y = T(1e-7);
    for (int64_t it = 0; it < iters; ++it) {
      for (int i = 0; i < 16; ++i) acc[i] = acc[i] * x + y;
      __asm__ volatile("" : "+m"(x));
    }
    T total = 0;
    for (int i = 0; i < 16; ++i) total += acc[i];
    __asm__ volatile("" : : "m"(total) : "memory");
    return 2.0 * 16 * static_cast<double>(iters);
  };
  return f64 ? run(0.0) : run(0.0f);
}

}  // namespace fastnn::isa_generic
