// GEMM for AVX2 + FMA: 16 ymm registers, two 256-bit FMA ports.
// Built with the AVX2 flags (FASTNN_X86_AVX2_SOURCES in CMakeLists.txt).
#include <immintrin.h>

#include <algorithm>
#include <type_traits>

#define FASTNN_ISA_NS isa_avx2
#include "gemm_driver.h"
#include "gemm_simd_kernel.h"

namespace fastnn::isa_avx2 {
namespace {

struct F32x8 {
  using T = float;
  using reg = __m256;
  using mask = __m256i;
  static constexpr int W = 8;
  static reg zero() { return _mm256_setzero_ps(); }
  static reg load(const T* p) { return _mm256_loadu_ps(p); }
  static reg bcast(const T* p) { return _mm256_broadcast_ss(p); }
  static reg set1(T x) { return _mm256_set1_ps(x); }
  static reg fma(reg a, reg b, reg c) { return _mm256_fmadd_ps(a, b, c); }
  static reg mul(reg a, reg b) { return _mm256_mul_ps(a, b); }
  static reg add(reg a, reg b) { return _mm256_add_ps(a, b); }
  // max returns its second operand when either is NaN: relu(NaN) = NaN.
  static reg relu(reg x) { return _mm256_max_ps(_mm256_setzero_ps(), x); }
  static mask tail(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static reg loadm(const T* p, mask k) { return _mm256_maskload_ps(p, k); }
  static void storem(T* p, mask k, reg v) { _mm256_maskstore_ps(p, k, v); }
  static void store(T* p, reg v) { _mm256_storeu_ps(p, v); }
  static T hsum(reg v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
};

struct F64x4 {
  using T = double;
  using reg = __m256d;
  using mask = __m256i;
  static constexpr int W = 4;
  static reg zero() { return _mm256_setzero_pd(); }
  static reg load(const T* p) { return _mm256_loadu_pd(p); }
  static reg bcast(const T* p) { return _mm256_broadcast_sd(p); }
  static reg set1(T x) { return _mm256_set1_pd(x); }
  static reg fma(reg a, reg b, reg c) { return _mm256_fmadd_pd(a, b, c); }
  static reg mul(reg a, reg b) { return _mm256_mul_pd(a, b); }
  static reg add(reg a, reg b) { return _mm256_add_pd(a, b); }
  static reg relu(reg x) { return _mm256_max_pd(_mm256_setzero_pd(), x); }
  static mask tail(int n) {
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3));
  }
  static reg loadm(const T* p, mask k) { return _mm256_maskload_pd(p, k); }
  static void storem(T* p, mask k, reg v) { _mm256_maskstore_pd(p, k, v); }
  static void store(T* p, reg v) { _mm256_storeu_pd(p, v); }
  static T hsum(reg v) {
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    s = _mm_add_sd(s, _mm_unpackhi_pd(s, s));
    return _mm_cvtsd_f64(s);
  }
};

// A second thread joins with >= 0.5 MFLOP of its own (~10 us at this kernel's ~55 GFLOP/s per
// core). Measured on Zen 3 (2 threads, against NumPy's OpenBLAS, which splits these too): 128^3
// 0.70x -> 0.96x and 128x512x10 0.61x -> 0.94x NumPy when lowered from 4 MFLOP. (The AVX-512
// kernel keeps 8 MFLOP: see there for the cost of a fork/join on a busy machine.)
constexpr int64_t kAvx2MinFlopsPerThread = int64_t{1} << 19;

// 8 x 8 transpose in registers: r[i] lane j <- r[j] lane i.
inline void transpose8x8(__m256 r[8]) {
  __m256 t[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  __m256 u[8];
  for (int i = 0; i < 8; i += 4) {
    u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
    u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
    u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
    r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
  }
}

// Stores the first 6 lanes of v (a 6-row A panel column) without a masked store, which is slow
// on AMD cores: 4 lanes, then 2.
inline void store6(float* d, __m256 v) {
  _mm_storeu_ps(d, _mm256_castps256_ps128(v));
  _mm_storel_pi(reinterpret_cast<__m64*>(d + 4), _mm256_extractf128_ps(v, 1));
}

// Packs 6 rows of op(A): dst[p * 6 + r] = op(A)[i0 + r, p0 + p], zero for r >= mr. The scalar
// packing is ~30 % of the time of an in-cache 120x384x160 product.
void pack_a6_f32(bool trans_a, const float* a, int64_t lda, int64_t i0, int64_t p0, int mr, int64_t kc,
                 float* dst) {
  if (trans_a) {
    // op(A)[i, p] = a[p * lda + i]: the mr values of a k step are adjacent (masked load).
    const __m256i in = F32x8::tail(mr);
    const float* src = a + p0 * lda + i0;
    for (int64_t p = 0; p < kc; ++p) store6(dst + p * 6, _mm256_maskload_ps(src + p * lda, in));
    return;
  }
  // op(A)[i, p] = a[i * lda + p]: 8 k values of each row, transposed in registers.
  const float* src = a + i0 * lda + p0;
  for (int64_t p = 0; p < kc; p += 8) {
    const int cnt = static_cast<int>(std::min<int64_t>(8, kc - p));
    const __m256i mk = F32x8::tail(cnt);
    __m256 r[8];
    for (int i = 0; i < 8; ++i)
      r[i] = i < mr ? _mm256_maskload_ps(src + i * lda + p, mk) : _mm256_setzero_ps();
    transpose8x8(r);
    for (int q = 0; q < cnt; ++q) store6(dst + (p + q) * 6, r[q]);
  }
}

// Packs NR = 16 columns of op(B) = B^T (B stored n x k): dst[p * 16 + j] = b[(j0 + j) * ldb + p0 + p],
// zero for j >= nr, by 8 x 8 transposes (the scalar transpose was ~20 % of 128x512x784 NT).
void pack_bt16_f32(const float* b, int64_t ldb, int64_t p0, int64_t j0, int nr, int64_t kc, float* dst) {
  for (int jg = 0; jg < 2; ++jg) {
    const int rows = std::clamp(nr - jg * 8, 0, 8);
    const float* src = b + (j0 + jg * 8) * ldb + p0;
    for (int64_t p = 0; p < kc; p += 8) {
      const int cnt = static_cast<int>(std::min<int64_t>(8, kc - p));
      const __m256i mk = F32x8::tail(cnt);
      __m256 r[8];
      for (int i = 0; i < 8; ++i) r[i] = i < rows ? _mm256_maskload_ps(src + i * ldb + p, mk) : _mm256_setzero_ps();
      transpose8x8(r);
      float* d = dst + p * 16 + jg * 8;
      for (int q = 0; q < cnt; ++q) _mm256_storeu_ps(d + q * 16, r[q]);
    }
  }
}

// float: 6 x 16 tile = 12 ymm accumulators + 2 B vectors + 1 broadcast = 15 of 16 registers.
//   KC = 384: A micro-panel 6 x 384 x 4 B = 9 KiB in L1; B micro-panel 24 KiB streams from L2.
//   NC = 672: B block 384 x 672 x 4 B = 1008 KiB, about half of L2.
struct KernelF32 : SimdKernel<F32x8, 6, 2> {
  static constexpr int MR = 6;
  static constexpr int64_t KC = 384, NC = 672;
  static constexpr int64_t kMinFlopsPerThread = kAvx2MinFlopsPerThread;
  static constexpr int64_t kDirectBMaxM = 256;  // see direct_b in gemm_driver.h
  static void pack_a(bool t, const T* a, int64_t lda, int64_t i0, int64_t p0, int mr, int64_t kc, T* d) {
    static_assert(MR == 6);
    pack_a6_f32(t, a, lda, i0, p0, mr, kc, d);
  }
  static void pack_b(bool t, const T* b, int64_t ldb, int64_t p0, int64_t j0, int nr, int64_t kc, T* d) {
    static_assert(NR == 16);
    if (t)
      pack_bt16_f32(b, ldb, p0, j0, nr, kc, d);
    else
      pack_b_scalar<T, NR>(t, b, ldb, p0, j0, nr, kc, d);
  }
};

// double: 6 x 8 tile; KC = 256 (A micro-panel 12 KiB), NC = 512 (B block 1 MiB).
struct KernelF64 : SimdKernel<F64x4, 6, 2> {
  static constexpr int MR = 6;
  static constexpr int64_t KC = 256, NC = 512;
  static constexpr int64_t kMinFlopsPerThread = kAvx2MinFlopsPerThread;
  static constexpr int64_t kDirectBMaxM = 256;  // see direct_b in gemm_driver.h
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
  using K = std::conditional_t<std::is_same_v<T, float>, KernelF32, KernelF64>;
  if (use_dot_path(args))
    // 2 x 5 outputs per block: 10 accumulators + 2 A vectors + 1 B vector of 16 ymm.
    with_tanh_after(args, [](const GemmArgs<T>& g) {
      gemm_dot<typename K::Vec, 2, 5>(g, K::kMinFlopsPerThread, pack_bt_scalar<T>);
    });
  else
    gemm_packed<K>(args);
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

double fma_probe(bool f64, int64_t iters) {
  return f64 ? fma_probe<F64x4, 12>(iters) : fma_probe<F32x8, 12>(iters);
}

}  // namespace fastnn::isa_avx2
