// GEMM entry point: trivial shapes here, everything else in the per-ISA blocked driver
// (gemm_driver.h with the micro-kernels of gemm_generic.cpp / gemm_avx2.cpp / gemm_avx512.cpp).
#include "gemm.h"

#include <algorithm>
#include <atomic>
#include <chrono>

#include "activations.h"
#include "block_cache.h"
#include "cpu.h"
#include "gemm_amx.h"
#include "gemm_isa.h"
#include "isa_dispatch.h"

namespace fastnn {

namespace {

// K split: a product with a small C and a long k (a CNN's first Dense layer, 128 x 128 x 3136)
// gives the blocked driver few C tiles to share out: its row split made each thread stream all
// of the packed B once per row panel, and 2 threads ran it only 1.46x faster than 1 (PyTorch:
// 1.84x). Such products are cut along k into `slices` (from the shapes alone, so the sums do
// not depend on the thread count): threads take whole slices, each a complete single-thread
// product into its own partial C, and the partials are added in slice order, then alpha, beta,
// the bias and the activation are applied. Measured on the Xeon (2 threads): 128 x 128 x 3136
// NT 0.46 -> 0.35 ms.
constexpr int64_t kSplitMaxOutput = 128 * 256;  // m * n at most
constexpr int64_t kSplitMinSlice = 768;          // k per slice at least (two 384-deep K blocks)
constexpr int64_t kSplitMaxSlices = 4;

int64_t k_slices(int64_t m, int64_t n, int64_t k) {
  if (m * n > kSplitMaxOutput) return 1;
  return std::clamp<int64_t>(k / kSplitMinSlice, 1, kSplitMaxSlices);
}

template <typename T>
void gemm_k_split(const GemmArgs<T>& g, int64_t slices) {
  const int64_t m = g.m, n = g.n, size = m * n;
  CachedBuffer buf(sizeof(T) * static_cast<size_t>(slices * size));
  T* const partial = buf.as<T>();
  parallel_for(slices, 1, [&](int64_t s0, int64_t s1) {
    for (int64_t s = s0; s < s1; ++s) {
      const int64_t k0 = g.k * s / slices, k1 = g.k * (s + 1) / slices;
      GemmArgs<T> part = g;
      part.k = k1 - k0;
      part.a = g.a + (g.trans_a ? k0 * g.lda : k0);
      part.b = g.b + (g.trans_b ? k0 : k0 * g.ldb);
      part.alpha = T(1);
      part.beta = T(0);
      part.c = partial + s * size;
      part.ldc = n;
      part.bias = nullptr;
      part.act = GemmAct::none;
      FASTNN_DISPATCH(gemm<T>(part));  // inside the parallel region: one thread
    }
  });
  parallel_for(m, std::max<int64_t>(1, 4096 / std::max<int64_t>(n, 1)), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      T* cr = g.c + i * g.ldc;
      const T* pr = partial + i * n;
      for (int64_t j = 0; j < n; ++j) {
        T sum = pr[j];
        for (int64_t s = 1; s < slices; ++s) sum += pr[s * size + j];
        T x = g.alpha * sum;
        if (g.beta != T(0)) x += g.beta * cr[j];  // beta == 0: the old C is not read (may be NaN)
        if (g.bias) x += g.bias[j];
        if (g.act == GemmAct::relu) x = x > T(0) || x != x ? x : T(0);
        cr[j] = x;
      }
      if (g.act == GemmAct::tanh) activation_forward<T>(Act::tanh, cr, cr, n, ActParams{});
    }
  });
}

}  // namespace

template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
          int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc, const T* bias,
          GemmAct act) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    // No products: C = act(beta * C + bias); beta == 0 ignores the old C (it may hold NaN).
    parallel_for(m, 64, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        T* cr = c + i * ldc;
        for (int64_t j = 0; j < n; ++j) {
          T x = beta != T(0) ? beta * cr[j] : T(0);
          if (bias) x += bias[j];
          if (act == GemmAct::relu) x = x > T(0) || x != x ? x : T(0);
          cr[j] = x;
        }
        if (act == GemmAct::tanh) activation_forward<T>(Act::tanh, cr, cr, n, ActParams{});
      }
    });
    return;
  }
  const GemmArgs<T> args{trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias, act};
  const int64_t slices = k_slices(m, n, k);
  if (slices > 1) return gemm_k_split<T>(args, slices);  // faster than AMX there (measured)
  if constexpr (std::is_same_v<T, float>) {
    if (gemm_amx_enabled() && amx::gemm(args)) return;
  }
  FASTNN_DISPATCH(gemm<T>(args));
}

template <typename T>
void gemm_batch(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
                const T* b, int64_t ldb, int64_t stride_b, T beta, T* c, int64_t ldc, int64_t stride_c,
                int64_t batch, const T* row_bias, void (*after)(void*, int64_t), void* ctx) {
  if (batch <= 0) return;
  if (m <= 0 || n <= 0 || k <= 0) {  // nothing to multiply: C_s = beta * C_s + row_bias
    for (int64_t s = 0; s < batch; ++s) {
      T* cs = c + s * stride_c;
      for (int64_t i = 0; i < std::max<int64_t>(m, 0); ++i)
        for (int64_t j = 0; j < std::max<int64_t>(n, 0); ++j) {
          T x = beta != T(0) ? beta * cs[i * ldc + j] : T(0);
          cs[i * ldc + j] = row_bias ? x + row_bias[i] : x;
        }
      if (after) after(ctx, s);
    }
    return;
  }
  const GemmArgs<T> args{trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, nullptr, GemmAct::none};
  FASTNN_DISPATCH(gemm_batch<T>(args, batch, stride_b, stride_c, row_bias, after, ctx));
}

#if !defined(FASTNN_AMX)
// Built without AMX support (not x86-64, or a compiler without -mamx-tile).
bool amx_available() { return false; }
bool gemm_amx_enabled() { return false; }
void set_gemm_amx(bool) {}
namespace amx {
bool gemm(const GemmArgs<float>&) { return false; }
uint64_t calls() { return 0; }
}  // namespace amx
#endif

namespace {
std::atomic<int> g_b_in_place{static_cast<int>(GemmBInPlace::automatic)};
}  // namespace

void set_gemm_b_in_place(GemmBInPlace mode) { g_b_in_place.store(static_cast<int>(mode), std::memory_order_relaxed); }

GemmBInPlace gemm_b_in_place() { return static_cast<GemmBInPlace>(g_b_in_place.load(std::memory_order_relaxed)); }

double fma_peak_gflops(bool f64, double seconds) {
  using clock = std::chrono::steady_clock;
  double best = 0.0;
  int64_t iters = 1 << 16;
  const auto deadline = clock::now() + std::chrono::duration<double>(seconds);
  do {
    const auto t0 = clock::now();
    double flops = 0.0;
    switch (current_isa()) {
#if defined(FASTNN_X86)
      case Isa::avx512: flops = isa_avx512::fma_probe(f64, iters); break;
      case Isa::avx2: flops = isa_avx2::fma_probe(f64, iters); break;
#endif
      default: flops = isa_generic::fma_probe(f64, iters); break;
    }
    const double s = std::chrono::duration<double>(clock::now() - t0).count();
    if (s < 1e-3) {
      iters *= 4;  // too short to time well
      continue;
    }
    best = std::max(best, flops / s * 1e-9);  // the best round: others share this machine
  } while (clock::now() < deadline || best == 0.0);
  return best;
}

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                          const float*, int64_t, float, float*, int64_t, const float*, GemmAct);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                           const double*, int64_t, double, double*, int64_t, const double*, GemmAct);
template void gemm_batch<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*,
                                int64_t, int64_t, float, float*, int64_t, int64_t, int64_t, const float*,
                                void (*)(void*, int64_t), void*);
template void gemm_batch<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                                 const double*, int64_t, int64_t, double, double*, int64_t, int64_t, int64_t,
                                 const double*, void (*)(void*, int64_t), void*);

}  // namespace fastnn
