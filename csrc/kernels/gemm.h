// General matrix multiply on row-major buffers:
//   C[m x n] = act(alpha * op(A) @ op(B) + beta * C  (+ bias[n] added to every row))
// op(A) is m x k: A is stored m x k (lda >= k) or, with trans_a, k x m (lda >= m).
// op(B) is k x n: B is stored k x n (ldb >= n) or, with trans_b, n x k (ldb >= k).
// beta == 0 means C is write-only (NaN/garbage in C is ignored), as in BLAS.
// act is applied last, when the tile is stored (fused epilogue): none, relu (relu(NaN) = NaN) or tanh.
// k == 0 gives act(beta * C + bias). Results do not depend on the thread count.
#pragma once
#include <cstdint>
#include <type_traits>

namespace fastnn {

// relu: max(C, 0) with NaN kept, in the micro-kernel's store; tanh: the tanh activation kernel's
// function (the same bits as fastnn.ops.tanh of the unfused product), on each C tile right after
// it is stored (a post-pass over C for the paths without tiles).
enum class GemmAct : int { none = 0, relu = 1, tanh = 2 };

template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
          int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc,
          const T* bias = nullptr, GemmAct act = GemmAct::none);

// A batch of products with one A: C_s = alpha * op(A) @ op(B_s) + beta * C_s + bias (no act) for
// s < batch, B_s = b + s * stride_b, C_s = c + s * stride_c (same ldb, ldc), bias = row_bias[i]
// added to row i of every C_s (a per-output-channel bias; nullptr for none). op(A) is packed
// once and threads take whole products, so many small products (a pointwise convolution's
// samples) run at the speed of one big one. after(ctx, s), when given, runs right after C_s is
// computed, on the thread that computed it (while C_s is in its cache). Results do not depend
// on the thread count.
template <typename T>
void gemm_batch(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
                const T* b, int64_t ldb, int64_t stride_b, T beta, T* c, int64_t ldc, int64_t stride_c,
                int64_t batch, const T* row_bias = nullptr, void (*after)(void*, int64_t) = nullptr,
                void* ctx = nullptr);

// The same with any callable after(s).
template <typename T, class F>
void gemm_batch(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
                const T* b, int64_t ldb, int64_t stride_b, T beta, T* c, int64_t ldc, int64_t stride_c,
                int64_t batch, const T* row_bias, F&& after) {
  using Fn = std::remove_reference_t<F>;
  gemm_batch<T>(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, stride_b, beta, c, ldc, stride_c, batch, row_bias,
                [](void* ctx, int64_t s) { (*static_cast<Fn*>(ctx))(s); },
                const_cast<void*>(static_cast<const void*>(&after)));
}

// Whether the blocked GEMM may read a row-major B in place instead of packing it, where the
// shape allows (few rows of C, short rows of B; see direct_b in gemm_driver.h): automatic (the
// choice measured for this CPU: on Intel cores only when op(A) is one micro-panel), never, or
// allowed (whenever the shape allows, whatever the CPU: for tests of that path). Never changes
// the results' bits.
enum class GemmBInPlace : int { automatic = 0, never = 1, allowed = 2 };
void set_gemm_b_in_place(GemmBInPlace mode);
GemmBInPlace gemm_b_in_place();

// Measured peak multiply-add throughput of one core with the current ISA's vectors, in
// GFLOP/s (an FMA counts 2 flops): the "100 %" of the GEMM benchmarks. Runs ~`seconds`.
double fma_peak_gflops(bool f64, double seconds = 0.05);

}  // namespace fastnn
