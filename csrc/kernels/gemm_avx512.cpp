// GEMM for AVX-512 (F/DQ/BW/VL): 32 zmm registers, two 512-bit FMA ports per core.
// Built with the AVX-512 flags (FASTNN_X86_AVX512_SOURCES in CMakeLists.txt).
#include <immintrin.h>

// GCC 12 warns inside its own avx512fintrin.h (the _mm512_undefined_* "__Y = __Y" idiom used
// by _mm512_max_ps/pd); a known false positive, silenced for this file only.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <type_traits>

#define FASTNN_ISA_NS isa_avx512
#include "gemm_driver.h"
#include "gemm_simd_kernel.h"

namespace fastnn::isa_avx512 {
namespace {

struct F32x16 {
  using T = float;
  using reg = __m512;
  using mask = __mmask16;
  static constexpr int W = 16;
  static reg zero() { return _mm512_setzero_ps(); }
  static reg load(const T* p) { return _mm512_loadu_ps(p); }
  static reg bcast(const T* p) { return _mm512_set1_ps(*p); }
  static reg set1(T x) { return _mm512_set1_ps(x); }
  static reg fma(reg a, reg b, reg c) { return _mm512_fmadd_ps(a, b, c); }
  static reg mul(reg a, reg b) { return _mm512_mul_ps(a, b); }
  static reg add(reg a, reg b) { return _mm512_add_ps(a, b); }
  // max returns its second operand when either is NaN: relu(NaN) = NaN.
  static reg relu(reg x) { return _mm512_max_ps(_mm512_setzero_ps(), x); }
  static mask tail(int n) { return static_cast<mask>((1u << n) - 1u); }
  static reg loadm(const T* p, mask k) { return _mm512_maskz_loadu_ps(k, p); }
  static void storem(T* p, mask k, reg v) { _mm512_mask_storeu_ps(p, k, v); }
  static void store(T* p, reg v) { _mm512_storeu_ps(p, v); }
};

struct F64x8 {
  using T = double;
  using reg = __m512d;
  using mask = __mmask8;
  static constexpr int W = 8;
  static reg zero() { return _mm512_setzero_pd(); }
  static reg load(const T* p) { return _mm512_loadu_pd(p); }
  static reg bcast(const T* p) { return _mm512_set1_pd(*p); }
  static reg set1(T x) { return _mm512_set1_pd(x); }
  static reg fma(reg a, reg b, reg c) { return _mm512_fmadd_pd(a, b, c); }
  static reg mul(reg a, reg b) { return _mm512_mul_pd(a, b); }
  static reg add(reg a, reg b) { return _mm512_add_pd(a, b); }
  static reg relu(reg x) { return _mm512_max_pd(_mm512_setzero_pd(), x); }
  static mask tail(int n) { return static_cast<mask>((1u << n) - 1u); }
  static reg loadm(const T* p, mask k) { return _mm512_maskz_loadu_pd(k, p); }
  static void storem(T* p, mask k, reg v) { _mm512_mask_storeu_pd(p, k, v); }
  static void store(T* p, reg v) { _mm512_storeu_pd(p, v); }
};

// float: 12 x 32 tile = 24 zmm accumulators + 2 B vectors (A broadcasts are folded into the
// FMAs) of the 32 registers. Per k step: 24 FMAs (12 cycles on two ports) for 2 loads + 12
// broadcasts, so loads never limit.
//   KC = 384: the A micro-panel (12 x 384 x 4 B = 18 KiB) stays in the 48 KiB L1d while the
//             kernel sweeps the B block, with room for the B micro-panel lines streaming past.
//   NC = 672: the B block (384 x 672 x 4 B = 1008 KiB) fills about half of the 2 MiB L2,
//             leaving the rest for A micro-panels and C tiles passing through.
//   MC = 1536: the shared A panel (1536 x 384 x 4 B = 2.25 MiB) lives in L3; large so that B
//             is packed (and the threads synchronise) rarely.
struct KernelF32 : SimdKernel<F32x16, 12, 2> {
  static constexpr int MR = 12;
  static constexpr int64_t KC = 384, NC = 672, MC = 1536;
  static constexpr int64_t kMinFlopsPerThread = 1 << 20;
  static void pack_a(bool t, const T* a, int64_t lda, int64_t i0, int64_t p0, int mr, int64_t kc, T* d) {
    pack_a_scalar<T, MR>(t, a, lda, i0, p0, mr, kc, d);
  }
  static void pack_b(bool t, const T* b, int64_t ldb, int64_t p0, int64_t j0, int nr, int64_t kc, T* d) {
    pack_b_scalar<T, NR>(t, b, ldb, p0, j0, nr, kc, d);
  }
};

// double: 12 x 16 tile (same register budget, 8 lanes). KC = 256 keeps the A micro-panel at
// 24 KiB in L1; NC = 512 keeps the B block at 1 MiB of L2.
struct KernelF64 : SimdKernel<F64x8, 12, 2> {
  static constexpr int MR = 12;
  static constexpr int64_t KC = 256, NC = 512, MC = 768;
  static constexpr int64_t kMinFlopsPerThread = 1 << 20;
  static void pack_a(bool t, const T* a, int64_t lda, int64_t i0, int64_t p0, int mr, int64_t kc, T* d) {
    pack_a_scalar<T, MR>(t, a, lda, i0, p0, mr, kc, d);
  }
  static void pack_b(bool t, const T* b, int64_t ldb, int64_t p0, int64_t j0, int nr, int64_t kc, T* d) {
    pack_b_scalar<T, NR>(t, b, ldb, p0, j0, nr, kc, d);
  }
};

}  // namespace

template <typename T>
void gemm(const GemmArgs<T>& args) {
  gemm_packed<std::conditional_t<std::is_same_v<T, float>, KernelF32, KernelF64>>(args);
}
template void gemm<float>(const GemmArgs<float>&);
template void gemm<double>(const GemmArgs<double>&);

}  // namespace fastnn::isa_avx512
