// The register-blocked micro-kernel, written once over a small vector-traits type V
// (defined by the AVX2 / AVX-512 files, which include this after gemm_driver.h).
//
// V: using T, reg, mask; W (lanes); zero(), load(p), bcast(p) (broadcast *p), set1(x),
//    fma(a, b, c) = a * b + c, mul, add, relu (max(0, x) keeping NaN), tail(n) (mask of the
//    first n lanes), loadm(p, mask) (masked lanes read as 0), storem(p, mask, v), store(p, v).
//
// Tile: MR rows x NV vectors of C, MR * NV accumulators held in registers for the whole k loop.
// Each k step loads NV vectors of the packed B panel and broadcasts MR values of the packed A
// panel: MR * NV FMAs for NV loads + MR broadcasts (folded into the FMA as an embedded
// broadcast on AVX-512), so the two FMA ports, not the load ports, are the limit.
#pragma once

namespace fastnn::FASTNN_ISA_NS {
namespace {

template <class V, int MR, int NV>
struct SimdKernel {
  using T = typename V::T;
  using reg = typename V::reg;
  static constexpr int W = V::W;
  static constexpr int NR = W * NV;

  static inline reg finish(reg acc, reg alpha, reg beta, bool load_c, const T* cp, bool has_bias,
                           const T* bp, bool relu, typename V::mask k, bool full) {
    reg x = V::mul(acc, alpha);
    if (load_c) x = V::fma(beta, full ? V::load(cp) : V::loadm(cp, k), x);
    if (has_bias) x = V::add(x, full ? V::load(bp) : V::loadm(bp, k));
    if (relu) x = V::relu(x);
    return x;
  }

  static void kernel(int64_t kc, const T* __restrict a, const T* __restrict b, T* c, int64_t ldc,
                     int mr, int nr, const Epilogue<T>& e) {
    reg acc[MR][NV];
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = V::zero();

    // The C tile is needed only at the end; start fetching it now.
    for (int r = 0; r < mr; ++r) {
      __builtin_prefetch(c + r * ldc, 1, 3);
      __builtin_prefetch(c + r * ldc + NR - 1, 1, 3);
    }

#pragma GCC unroll 4
    for (int64_t p = 0; p < kc; ++p) {
      reg bv[NV];
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) bv[v] = V::load(b + v * W);
      // Stream the B panel (L2) ahead of use.
      __builtin_prefetch(b + 8 * NR, 0, 3);
#pragma GCC unroll 16
      for (int r = 0; r < MR; ++r) {
        const reg av = V::bcast(a + r);
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[r][v] = V::fma(av, bv[v], acc[r][v]);
      }
      a += MR;
      b += NR;
    }

    const reg alpha = V::set1(e.alpha), beta = V::set1(e.beta);
    const bool load_c = e.beta != T(0), has_bias = e.bias != nullptr;
    if (nr == NR) {
      const typename V::mask none = V::tail(W);
#pragma GCC unroll 16
      for (int r = 0; r < MR; ++r) {
        if (r >= mr) break;
        T* cr = c + r * ldc;
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v)
          V::store(cr + v * W, finish(acc[r][v], alpha, beta, load_c, cr + v * W, has_bias,
                                      has_bias ? e.bias + v * W : nullptr, e.relu, none, true));
      }
    } else {
      // Right edge of C: masked loads/stores, lanes past nr neither read nor written.
#pragma GCC unroll 16
      for (int r = 0; r < MR; ++r) {
        if (r >= mr) break;
        T* cr = c + r * ldc;
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) {
          const int lanes = std::clamp(nr - v * W, 0, W);
          if (lanes == 0) break;
          const typename V::mask k = V::tail(lanes);
          V::storem(cr + v * W, k, finish(acc[r][v], alpha, beta, load_c, cr + v * W, has_bias,
                                          has_bias ? e.bias + v * W : nullptr, e.relu, k, false));
        }
      }
    }
  }
};

// FMA throughput probe: ACC independent accumulator chains (enough to cover the FMA latency
// on both ports), `iters` rounds. Returns the flops done; the caller times it.
template <class V, int ACC>
double fma_probe(int64_t iters) {
  using reg = typename V::reg;
  reg acc[ACC];
  for (int i = 0; i < ACC; ++i) acc[i] = V::set1(typename V::T(i) * typename V::T(1e-3));
  reg x = V::set1(typename V::T(0.999999)), y = V::set1(typename V::T(1e-7));
  for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 32
    for (int i = 0; i < ACC; ++i) acc[i] = V::fma(acc[i], x, y);
    __asm__ volatile("" : "+x"(x));  // keeps the loop from being folded
  }
  typename V::T sink[V::W];
  reg total = acc[0];
  for (int i = 1; i < ACC; ++i) total = V::add(total, acc[i]);
  V::store(sink, total);
  __asm__ volatile("" : : "r"(sink) : "memory");
  return 2.0 * V::W * ACC * static_cast<double>(iters);
}

}  // namespace
}  // namespace fastnn::FASTNN_ISA_NS
