// GEMM for AVX-512 (F/DQ/BW/VL): 32 zmm registers, two 512-bit FMA ports per core.
// Built with the AVX-512 flags (FASTNN_X86_AVX512_SOURCES in CMakeLists.txt).
#include <immintrin.h>

// GCC 12 warns inside its own avx512fintrin.h (the _mm512_undefined_* "__Y = __Y" idiom used
// by _mm512_max_ps/pd and _mm512_reduce_add_*); a known false positive, silenced for this file only.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include <algorithm>
#include <type_traits>

#define FASTNN_ISA_NS isa_avx512
#include "gemm_driver.h"
#include "gemm_simd_kernel.h"
#include "avx512_transpose.h"

namespace fastnn::isa_avx512 {
namespace {

using avx512::transpose16x16;

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
  static T hsum(reg v) { return _mm512_reduce_add_ps(v); }
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
  static T hsum(reg v) { return _mm512_reduce_add_pd(v); }
};

// A thread joins only with >= 8 MFLOP of its own (~50 us at this core's ~175 GFLOP/s): a
// parallel region costs 5-10 us on an idle machine, but when other processes keep the cores
// busy every fork/join can wait a scheduler time slice (milliseconds) for the second thread;
// measured here, 2-thread 128^3 products then ran at < 1 GFLOP/s. So 128^3 (4 MFLOP) and
// 128x512x10 (1.3 MFLOP) run on one thread, 256^3 (34 MFLOP) on two.
constexpr int64_t kAvx512MinFlopsPerThread = int64_t{8} << 20;


// Packs NR columns of op(B) = B^T (B stored n x k) for the float kernel: dst[p * NR + j] =
// b[(j0 + j) * ldb + p0 + p]. 16 x 16 blocks are loaded as rows (16 values of k each) and
// transposed in registers; a scalar transpose would cost ~20 % of a 128x512x784 NT product.
template <int NR>
void pack_b_transposed_f32(const float* b, int64_t ldb, int64_t p0, int64_t j0, int nr, int64_t kc,
                           float* dst) {
  for (int jg = 0; jg < NR / 16; ++jg) {
    const int rows = std::clamp(nr - jg * 16, 0, 16);
    const float* src = b + (j0 + jg * 16) * ldb + p0;
    for (int64_t p = 0; p < kc; p += 16) {
      const int cnt = static_cast<int>(std::min<int64_t>(16, kc - p));
      const __mmask16 mk = static_cast<__mmask16>((1u << cnt) - 1u);
      __m512 r[16];
      for (int i = 0; i < 16; ++i)
        r[i] = i < rows ? _mm512_maskz_loadu_ps(mk, src + i * ldb + p) : _mm512_setzero_ps();
      transpose16x16(r);
      float* d = dst + p * NR + jg * 16;
      for (int q = 0; q < cnt; ++q) _mm512_storeu_ps(d + q * NR, r[q]);
    }
  }
}

// Packs MR rows of op(A) for the float kernel: dst[p * MR + r] = op(A)[i0 + r, p0 + p], zero
// for r >= mr. MR <= 16: one (masked) vector per k step.
template <int MR>
void pack_a_f32(bool trans_a, const float* a, int64_t lda, int64_t i0, int64_t p0, int mr, int64_t kc,
                float* dst) {
  static_assert(MR <= 16);
  const __mmask16 out_mask = static_cast<__mmask16>((1u << MR) - 1u);
  if (trans_a) {
    // op(A)[i, p] = a[p * lda + i]: the MR values of a k step are adjacent in memory.
    const __mmask16 in_mask = static_cast<__mmask16>((1u << mr) - 1u);
    const float* src = a + p0 * lda + i0;
    for (int64_t p = 0; p < kc; ++p)
      _mm512_mask_storeu_ps(dst + p * MR, out_mask, _mm512_maskz_loadu_ps(in_mask, src + p * lda));
    return;
  }
  // op(A)[i, p] = a[i * lda + p]: rows of A become columns of the panel: 16 x 16 transposes.
  const float* src = a + i0 * lda + p0;
  for (int64_t p = 0; p < kc; p += 16) {
    const int cnt = static_cast<int>(std::min<int64_t>(16, kc - p));
    const __mmask16 mk = static_cast<__mmask16>((1u << cnt) - 1u);
    __m512 r[16];
    for (int i = 0; i < 16; ++i)
      r[i] = i < mr ? _mm512_maskz_loadu_ps(mk, src + i * lda + p) : _mm512_setzero_ps();
    transpose16x16(r);
    for (int q = 0; q < cnt; ++q) _mm512_mask_storeu_ps(dst + (p + q) * MR, out_mask, r[q]);
  }
}

// Packs NR columns of op(B) = B (not transposed): dst[p * NR + j] = b[(p0 + p) * ldb + j0 + j].
template <int NR>
void pack_b_f32(const float* b, int64_t ldb, int64_t p0, int64_t j0, int nr, int64_t kc, float* dst) {
  static_assert(NR % 16 == 0);
  __mmask16 masks[NR / 16];
  for (int v = 0; v < NR / 16; ++v) {
    const int lanes = std::clamp(nr - 16 * v, 0, 16);
    masks[v] = static_cast<__mmask16>((1u << lanes) - 1u);
  }
  const float* src = b + p0 * ldb + j0;
  for (int64_t p = 0; p < kc; ++p)
    for (int v = 0; v < NR / 16; ++v)
      _mm512_storeu_ps(dst + p * NR + 16 * v, _mm512_maskz_loadu_ps(masks[v], src + p * ldb + 16 * v));
}

// B^T for the narrow-N dot path (n <= 16): bt[j * k + p] = b[p * ldb + j], by 16 x 16
// transposes of 16 k-rows of B (n values each, masked).
void pack_bt_f32(const float* b, int64_t ldb, int64_t k, int64_t n, float* bt) {
  if (n > 16) return pack_bt_scalar(b, ldb, k, n, bt);
  const __mmask16 in_mask = static_cast<__mmask16>((1u << n) - 1u);
  for (int64_t p = 0; p < k; p += 16) {
    const int cnt = static_cast<int>(std::min<int64_t>(16, k - p));
    const __mmask16 out_mask = static_cast<__mmask16>((1u << cnt) - 1u);
    __m512 r[16];
    for (int i = 0; i < 16; ++i)
      r[i] = i < cnt ? _mm512_maskz_loadu_ps(in_mask, b + (p + i) * ldb) : _mm512_setzero_ps();
    transpose16x16(r);
    for (int64_t j = 0; j < n; ++j) _mm512_mask_storeu_ps(bt + j * k + p, out_mask, r[j]);
  }
}

// float, n <= 16 with A transposed (C = A^T op(B), A stored k x m): no packing of A. The
// vector runs down a column of C, along a row of the stored A (contiguous in m): a tile is 32
// rows (2 vectors) x CB <= 12 columns = 24 accumulators; per k step 2 loads of A, CB
// broadcasts of op(B)[p, j] (op(B) copied to k x 16 first: tiny) and 2 CB FMAs. At the end
// the two 16 x CB blocks are transposed in registers and stored as rows of C with the epilogue.
// Each output is one sequential sum over k: fixed order, any thread count.
template <int CB>
void tn_narrow_tile(const GemmArgs<float>& g, const float* bk, int64_t i0, int64_t j0) {
  constexpr int IV = 2;
  __m512 acc[IV][CB];
  static_assert(CB <= 12, "24 accumulators + 2 A vectors + 1 broadcast fit the 32 zmm registers");
#pragma GCC unroll 2
  for (int v = 0; v < IV; ++v)
#pragma GCC unroll 16
    for (int j = 0; j < CB; ++j) acc[v][j] = _mm512_setzero_ps();
  __mmask16 rows_mask[IV];
  for (int v = 0; v < IV; ++v) {
    const int64_t rows = std::clamp<int64_t>(g.m - i0 - 16 * v, 0, 16);
    rows_mask[v] = static_cast<__mmask16>((1u << rows) - 1u);
  }
  const float* a = g.a + i0;
  const float* b = bk + j0;
  const int64_t k = g.k, lda = g.lda;  // locals: the loop must not reload them
  for (int64_t p = 0; p < k; ++p) {
    __m512 av[IV];
#pragma GCC unroll 2
    for (int v = 0; v < IV; ++v) av[v] = _mm512_maskz_loadu_ps(rows_mask[v], a + 16 * v);
#pragma GCC unroll 16
    for (int j = 0; j < CB; ++j) {
      const __m512 bv = _mm512_set1_ps(b[j]);
#pragma GCC unroll 2
      for (int v = 0; v < IV; ++v) acc[v][j] = _mm512_fmadd_ps(av[v], bv, acc[v][j]);
    }
    a += lda;
    b += 16;
  }
  const __mmask16 cols = static_cast<__mmask16>((1u << CB) - 1u);
  const __m512 alpha = _mm512_set1_ps(g.alpha), beta = _mm512_set1_ps(g.beta);
  const __m512 bias = g.bias ? _mm512_maskz_loadu_ps(cols, g.bias + j0) : _mm512_setzero_ps();
#pragma GCC unroll 2
  for (int v = 0; v < IV; ++v) {
    __m512 r[16];
#pragma GCC unroll 16
    for (int j = 0; j < 16; ++j) r[j] = j < CB ? acc[v][j] : _mm512_setzero_ps();
    transpose16x16(r);  // r[q]: row i0 + 16 v + q, lanes = columns j0 ..
    for (int q = 0; q < 16; ++q) {
      const int64_t i = i0 + 16 * v + q;
      if (i >= g.m) break;
      float* cp = g.c + i * g.ldc + j0;
      __m512 x = _mm512_mul_ps(r[q], alpha);
      if (g.beta != 0.0f) x = _mm512_fmadd_ps(beta, _mm512_maskz_loadu_ps(cols, cp), x);
      if (g.bias) x = _mm512_add_ps(x, bias);
      if (g.act == GemmAct::relu) x = _mm512_max_ps(_mm512_setzero_ps(), x);
      _mm512_mask_storeu_ps(cp, cols, x);
    }
  }
}

void gemm_tn_narrow(const GemmArgs<float>& g) {
  // op(B) as k x 16 (columns past n unused): bk[p * 16 + j] = op(B)[p, j].
  float* bk = tls_b_all.get<float>(g.k * 16);
  if (g.trans_b) {
    for (int64_t j = 0; j < g.n; ++j)
      for (int64_t p = 0; p < g.k; ++p) bk[p * 16 + j] = g.b[j * g.ldb + p];
  } else {
    for (int64_t p = 0; p < g.k; ++p)
      for (int64_t j = 0; j < g.n; ++j) bk[p * 16 + j] = g.b[p * g.ldb + j];
  }
  const int64_t col_blocks = ceil_div(g.n, 12);
  const int64_t row_tiles = ceil_div(g.m, 32);
  constexpr int64_t kTilesPerItem = 4;
  const int threads = useful_threads(g.m, g.n, g.k, kAvx512MinFlopsPerThread);
  const int64_t row_items = ceil_div(row_tiles, kTilesPerItem);
  for_each_item(threads, row_items * col_blocks, [&](int64_t item) {
    const int64_t cb = item % col_blocks, t0 = item / col_blocks * kTilesPerItem;
    const int64_t j0 = g.n * cb / col_blocks, j1 = g.n * (cb + 1) / col_blocks;
    for (int64_t t = t0; t < std::min(row_tiles, t0 + kTilesPerItem); ++t) {
      const int64_t i0 = t * 32;
      switch (j1 - j0) {
        case 1: tn_narrow_tile<1>(g, bk, i0, j0); break;
        case 2: tn_narrow_tile<2>(g, bk, i0, j0); break;
        case 3: tn_narrow_tile<3>(g, bk, i0, j0); break;
        case 4: tn_narrow_tile<4>(g, bk, i0, j0); break;
        case 5: tn_narrow_tile<5>(g, bk, i0, j0); break;
        case 6: tn_narrow_tile<6>(g, bk, i0, j0); break;
        case 7: tn_narrow_tile<7>(g, bk, i0, j0); break;
        case 8: tn_narrow_tile<8>(g, bk, i0, j0); break;
        case 9: tn_narrow_tile<9>(g, bk, i0, j0); break;
        case 10: tn_narrow_tile<10>(g, bk, i0, j0); break;
        case 11: tn_narrow_tile<11>(g, bk, i0, j0); break;
        default: tn_narrow_tile<12>(g, bk, i0, j0); break;
      }
    }
  });
}

// float, n <= 16 with A transposed (the dot path needs rows of A along k): 16 x 16 tile, one
// vector per row, so a 10-column product wastes 6 of 16 lanes instead of 22 of 32. 16
// accumulators + 1 B vector; per k step 16 broadcasts + 1 load for 16 FMAs. KC = 384 keeps the
// A micro-panel (16 x 384 x 4 B = 24 KiB) in L1; B is a single 16-column panel.
struct KernelF32Narrow : SimdKernel<F32x16, 16, 1> {
  static constexpr int MR = 16;
  static constexpr int64_t KC = 384, NC = 16;
  static constexpr int64_t kMinFlopsPerThread = kAvx512MinFlopsPerThread;
  static constexpr int64_t kDirectBMaxM = 256;  // see direct_b in gemm_driver.h
  static void pack_a(bool t, const T* a, int64_t lda, int64_t i0, int64_t p0, int mr, int64_t kc, T* d) {
    pack_a_f32<MR>(t, a, lda, i0, p0, mr, kc, d);
  }
  static void pack_b(bool t, const T* b, int64_t ldb, int64_t p0, int64_t j0, int nr, int64_t kc, T* d) {
    if (t)
      pack_b_transposed_f32<NR>(b, ldb, p0, j0, nr, kc, d);
    else
      pack_b_f32<NR>(b, ldb, p0, j0, nr, kc, d);
  }
};

// Peak of the Xeon's cores (2 x 512-bit FMA ports): 2 x 16 lanes x 2 flops = 64 flop/cycle,
// measured 175-179 GFLOP/s fp32 and ~89 fp64 per core (_core.fma_peak_gflops()) on a model-207
// Xeon, 139-144 on a model-167 one (both 48 KiB L1d, 2 MiB L2, KVM); of the Zen 4's
// (two 256-bit FMA units, one 512-bit FMA per cycle): 32 flop/cycle, measured 118 GFLOP/s fp32.
// The Zen 4 has a 32 KiB L1d and a 1 MiB L2: the A micro-panel below still fits the L1, and
// nc_for_l2 caps the B block at half the L2 (NC = 352 for KC = 342).
//
// float: 12 x 32 tile = 24 zmm accumulators + 2 B vectors + 1 broadcast A value of the 32
// registers. Per k step: 24 FMAs (12 cycles on two ports) for 2 loads + 12 broadcasts from L1
// (a broadcast from memory is a pure load-port uop), so the load ports never limit.
//   KC = 384: the A micro-panel (12 x 384 x 4 B = 18 KiB) stays in the 48 KiB L1d while the
//             kernel sweeps the B block, with room for the B micro-panel lines streaming past.
//   NC = 672: the B block (384 x 672 x 4 B = 1008 KiB) fills about half of the 2 MiB L2,
//             leaving the rest for A micro-panels and C tiles passing through.
//   All of op(A) is packed once (no MC block): the A micro-panels of one KC block stream
//             from L3 under each B block, 12 x 384 x 4 B = 18 KiB per 12 x NC x 384 FMAs.
struct KernelF32 : SimdKernel<F32x16, 12, 2> {
  static constexpr int MR = 12;
  static constexpr int64_t KC = 384, NC = 672;
  static constexpr int64_t kMinFlopsPerThread = kAvx512MinFlopsPerThread;
  static constexpr int64_t kDirectBMaxM = 256;  // see direct_b in gemm_driver.h
  static void pack_a(bool t, const T* a, int64_t lda, int64_t i0, int64_t p0, int mr, int64_t kc, T* d) {
    pack_a_f32<MR>(t, a, lda, i0, p0, mr, kc, d);
  }
  static void pack_b(bool t, const T* b, int64_t ldb, int64_t p0, int64_t j0, int nr, int64_t kc, T* d) {
    if (t)
      pack_b_transposed_f32<NR>(b, ldb, p0, j0, nr, kc, d);
    else
      pack_b_f32<NR>(b, ldb, p0, j0, nr, kc, d);
  }
};

// double: 12 x 16 tile (same register budget, 8 lanes). KC = 256 keeps the A micro-panel at
// 24 KiB in L1; NC = 512 keeps the B block at 1 MiB of L2.
struct KernelF64 : SimdKernel<F64x8, 12, 2> {
  static constexpr int MR = 12;
  static constexpr int64_t KC = 256, NC = 512;
  static constexpr int64_t kMinFlopsPerThread = kAvx512MinFlopsPerThread;
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
  if constexpr (std::is_same_v<T, float>) {
    if (use_dot_path(args)) {
      // 4 x 6 outputs per block: 24 accumulators + 4 A vectors + 1 B vector of 32 zmm.
      with_tanh_after(args, [](const GemmArgs<T>& g) { gemm_dot<typename K::Vec, 4, 6>(g, K::kMinFlopsPerThread, pack_bt_f32); });
    } else if (args.n <= 16 && args.trans_a) {
      with_tanh_after(args, [](const GemmArgs<T>& g) { gemm_tn_narrow(g); });
    } else if (args.n <= 16) {
      gemm_packed<KernelF32Narrow>(args);
    } else {
      gemm_packed<K>(args);
    }
  } else {
    if (use_dot_path(args))
      with_tanh_after(args, [](const GemmArgs<T>& g) {
        gemm_dot<typename K::Vec, 4, 6>(g, K::kMinFlopsPerThread, pack_bt_scalar<T>);
      });
    else
      gemm_packed<K>(args);
  }
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
  return f64 ? fma_probe<F64x8, 24>(iters) : fma_probe<F32x16, 24>(iters);
}

}  // namespace fastnn::isa_avx512
