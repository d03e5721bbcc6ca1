// The register-blocked micro-kernel, written once over a small vector-traits type V
// (defined by the AVX2 / AVX-512 files, which include this after gemm_driver.h).
//
// V: using T, reg, mask; W (lanes); zero(), load(p), bcast(p) (broadcast *p), set1(x),
//    fma(a, b, c) = a * b + c, mul, add, relu (max(0, x) keeping NaN), tail(n) (mask of the
//    first n lanes), loadm(p, mask) (masked lanes read as 0), storem(p, mask, v), store(p, v),
//    hsum(v) (sum of the lanes in a fixed order).
//
// Tile: MR rows x NV vectors of C, MR * NV accumulators held in registers for the whole k loop.
// Each k step loads NV vectors of the packed B panel and broadcasts MR values of the packed A
// panel: MR * NV FMAs for NV loads + MR broadcasts (load-port uops), so the two FMA ports, not
// the load ports, are the limit.
#pragma once
#include <algorithm>

namespace fastnn::FASTNN_ISA_NS {
namespace {

template <class V, int MR, int NV>
struct SimdKernel {
  using T = typename V::T;
  using Vec = V;
  using reg = typename V::reg;
  static constexpr int W = V::W;
  static constexpr int NR = W * NV;

  static inline reg finish(reg acc, reg alpha, reg beta, bool load_c, const T* cp, bool has_bias,
                           const T* bp, const T* row_bias, bool relu, typename V::mask k, bool full) {
    reg x = V::mul(acc, alpha);
    if (load_c) x = V::fma(beta, full ? V::load(cp) : V::loadm(cp, k), x);
    if (has_bias) x = V::add(x, full ? V::load(bp) : V::loadm(bp, k));
    if (row_bias) x = V::add(x, V::bcast(row_bias));
    if (relu) x = V::relu(x);
    return x;
  }

  // The tile of R <= MR rows and NVV <= NV vectors. The A panel's k steps are lda_panel apart
  // (MR when packed, lda when a transposed A is read in place; R values are read at each).
  template <int R, int NVV>
  static void kernel_tile(int64_t kc, const T* __restrict a, int64_t lda_panel, const T* __restrict b,
                          int64_t ldb_panel, T* c, int64_t ldc, int mr, int nr, const Epilogue<T>& e) {
    constexpr int TNR = NVV * W;
    reg acc[R][NVV];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
      for (int v = 0; v < NVV; ++v) acc[r][v] = V::zero();

    // The C tile is needed only at the end; start fetching it now.
    for (int r = 0; r < mr; ++r) {
      __builtin_prefetch(c + r * ldc, 1, 3);
      __builtin_prefetch(c + r * ldc + TNR - 1, 1, 3);
    }

#pragma GCC unroll 4
    for (int64_t p = 0; p < kc; ++p) {
      reg bv[NVV];
#pragma GCC unroll 4
      for (int v = 0; v < NVV; ++v) bv[v] = V::load(b + v * W);
      // Stream the B panel (L2) ahead of use.
      __builtin_prefetch(b + 8 * ldb_panel, 0, 3);
      if (NVV > 1) __builtin_prefetch(b + 8 * ldb_panel + W, 0, 3);
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        const reg av = V::bcast(a + r);
#pragma GCC unroll 4
        for (int v = 0; v < NVV; ++v) acc[r][v] = V::fma(av, bv[v], acc[r][v]);
      }
      a += lda_panel;
      b += ldb_panel;
    }

    const reg alpha = V::set1(e.alpha), beta = V::set1(e.beta);
    const bool load_c = e.beta != T(0), has_bias = e.bias != nullptr;
    // The two common stores without per-vector branches: C = acc (first K block, alpha 1,
    // beta 0) and C += acc (later K blocks). Same bits as the general path: acc * 1 and
    // fma(1, c, acc) are exact / rounded once, like acc + c.
    const bool plain = nr == TNR && e.alpha == T(1) && !has_bias && !e.row_bias && !e.relu;
    if (plain && !load_c) {
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        if (r >= mr) break;
#pragma GCC unroll 4
        for (int v = 0; v < NVV; ++v) V::store(c + r * ldc + v * W, acc[r][v]);
      }
      return;
    }
    if (plain && e.beta == T(1)) {
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        if (r >= mr) break;
#pragma GCC unroll 4
        for (int v = 0; v < NVV; ++v) {
          T* cp = c + r * ldc + v * W;
          V::store(cp, V::add(V::load(cp), acc[r][v]));
        }
      }
      return;
    }
    if (nr == TNR) {
      const typename V::mask none = V::tail(W);
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        if (r >= mr) break;
        T* cr = c + r * ldc;
#pragma GCC unroll 4
        for (int v = 0; v < NVV; ++v)
          V::store(cr + v * W, finish(acc[r][v], alpha, beta, load_c, cr + v * W, has_bias,
                                      has_bias ? e.bias + v * W : nullptr, e.row_bias ? e.row_bias + r : nullptr,
                                      e.relu, none, true));
      }
    } else {
      // Right edge of C: masked loads/stores, lanes past nr neither read nor written.
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        if (r >= mr) break;
        T* cr = c + r * ldc;
#pragma GCC unroll 4
        for (int v = 0; v < NVV; ++v) {
          const int lanes = std::clamp(nr - v * W, 0, W);
          if (lanes == 0) break;
          const typename V::mask k = V::tail(lanes);
          V::storem(cr + v * W, k, finish(acc[r][v], alpha, beta, load_c, cr + v * W, has_bias,
                                          has_bias ? e.bias + v * W : nullptr,
                                          e.row_bias ? e.row_bias + r : nullptr, e.relu, k, false));
        }
      }
    }
  }

  // b: the B panel, k rows of NR values `ldb_panel` apart (NR when packed, ldb when read
  // straight from a row-major B). Edge tiles run a smaller register tile: the rows and vectors
  // past mr / nr would only multiply the packing's zero padding (e.g. m = 128 = 10 x 12 + 8).
  static void kernel(int64_t kc, const T* __restrict a, int64_t lda_panel, const T* __restrict b,
                     int64_t ldb_panel, T* c, int64_t ldc, int mr, int nr, const Epilogue<T>& e) {
    if constexpr (MR == 12 && NV == 2) {
      const bool one_vector = nr <= W;
      if (mr == 1) {  // a single row (batch-1 inference): memory-bound, no wasted rows
        if (one_vector) return kernel_tile<1, 1>(kc, a, lda_panel, b, ldb_panel, c, ldc, mr, nr, e);
        return kernel_tile<1, 2>(kc, a, lda_panel, b, ldb_panel, c, ldc, mr, nr, e);
      }
      if (mr <= 4) {
        if (one_vector) return kernel_tile<4, 1>(kc, a, lda_panel, b, ldb_panel, c, ldc, mr, nr, e);
        return kernel_tile<4, 2>(kc, a, lda_panel, b, ldb_panel, c, ldc, mr, nr, e);
      }
      if (mr <= 8) {
        if (one_vector) return kernel_tile<8, 1>(kc, a, lda_panel, b, ldb_panel, c, ldc, mr, nr, e);
        return kernel_tile<8, 2>(kc, a, lda_panel, b, ldb_panel, c, ldc, mr, nr, e);
      }
      if (one_vector) return kernel_tile<12, 1>(kc, a, lda_panel, b, ldb_panel, c, ldc, mr, nr, e);
    }
    kernel_tile<MR, NV>(kc, a, lda_panel, b, ldb_panel, c, ldc, mr, nr, e);
  }
};

// ---------------------------------------------------------------------------------------------
// Dot-product path (A not transposed; n <= kDotMaxN, or m <= 4 with B transposed):
// C[i, j] = dot(row i of A, column j of op(B)),
// vectorized along k, no packing of A. The packed kernel would fill at most n of its NR lanes
// (10 of 32 for a 10-class output layer); here every lane does useful work. Each output is the
// sum of W lane-wise partial sums over k (the tail masked), reduced in a fixed order: the same
// bits for any thread count (rows are split, never k). Chosen from the shape alone.
constexpr int64_t kDotMaxN = 16;
constexpr int64_t kDotMaxPackedB = int64_t{1} << 22;  // elements of B^T packed when B is not transposed

// RB rows x CB columns of outputs: RB + 1 + RB * CB registers (<= 29 of 32 zmm for 4 x 6).
template <class V, int RB, int CB>
void dot_block(int64_t k, const typename V::T* a, int64_t lda, const typename V::T* bt, int64_t ldbt,
               typename V::T out[RB][CB]) {
  using reg = typename V::reg;
  constexpr int W = V::W;
  reg acc[RB][CB];
#pragma GCC unroll 8
  for (int r = 0; r < RB; ++r)
#pragma GCC unroll 8
    for (int c = 0; c < CB; ++c) acc[r][c] = V::zero();
  int64_t p = 0;
  for (; p + W <= k; p += W) {
    reg av[RB];
#pragma GCC unroll 8
    for (int r = 0; r < RB; ++r) av[r] = V::load(a + r * lda + p);
#pragma GCC unroll 8
    for (int c = 0; c < CB; ++c) {
      const reg bv = V::load(bt + c * ldbt + p);
#pragma GCC unroll 8
      for (int r = 0; r < RB; ++r) acc[r][c] = V::fma(av[r], bv, acc[r][c]);
    }
  }
  if (p < k) {
    const typename V::mask mk = V::tail(static_cast<int>(k - p));
    reg av[RB];
#pragma GCC unroll 8
    for (int r = 0; r < RB; ++r) av[r] = V::loadm(a + r * lda + p, mk);
#pragma GCC unroll 8
    for (int c = 0; c < CB; ++c) {
      const reg bv = V::loadm(bt + c * ldbt + p, mk);
#pragma GCC unroll 8
      for (int r = 0; r < RB; ++r) acc[r][c] = V::fma(av[r], bv, acc[r][c]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < RB; ++r)
#pragma GCC unroll 8
    for (int c = 0; c < CB; ++c) out[r][c] = V::hsum(acc[r][c]);
}

template <typename T>
inline void dot_store(const GemmArgs<T>& g, int64_t i, int64_t j, T sum) {
  T* cp = g.c + i * g.ldc + j;
  T x = g.alpha * sum;
  if (g.beta != T(0)) x += g.beta * *cp;
  if (g.bias) x += g.bias[j];
  if (g.act == GemmAct::relu) x = x > T(0) || x != x ? x : T(0);  // keeps NaN
  *cp = x;
}

template <class V, int RB, int CB>
void dot_rows(const GemmArgs<typename V::T>& g, const typename V::T* bt, int64_t ldbt, int64_t i, int64_t j) {
  typename V::T out[RB][CB];
  dot_block<V, RB, CB>(g.k, g.a + i * g.lda, g.lda, bt + j * ldbt, ldbt, out);
  for (int r = 0; r < RB; ++r)
    for (int c = 0; c < CB; ++c) dot_store(g, i + r, j + c, out[r][c]);
}

// Runtime column count -> compile-time CB.
template <class V, int RB>
void dot_rows_cols(const GemmArgs<typename V::T>& g, const typename V::T* bt, int64_t ldbt, int64_t i,
                   int64_t j, int cols) {
  switch (cols) {
    case 1: dot_rows<V, RB, 1>(g, bt, ldbt, i, j); break;
    case 2: dot_rows<V, RB, 2>(g, bt, ldbt, i, j); break;
    case 3: dot_rows<V, RB, 3>(g, bt, ldbt, i, j); break;
    case 4: dot_rows<V, RB, 4>(g, bt, ldbt, i, j); break;
    case 5: dot_rows<V, RB, 5>(g, bt, ldbt, i, j); break;
    default: dot_rows<V, RB, 6>(g, bt, ldbt, i, j); break;
  }
}

// Also for a few rows against a transposed B (x @ W^T with batch <= 4, W stored (out, in)):
// both operands are then read along k in place, and nothing is packed.
constexpr int64_t kDotMaxMTransB = 4;

template <typename T>
bool use_dot_path(const GemmArgs<T>& g) {
  if (g.trans_a) return false;
  if (g.trans_b && g.m <= kDotMaxMTransB) return true;
  return g.n <= kDotMaxN && (g.trans_b || g.n * g.k <= kDotMaxPackedB);
}

// RB rows x at most CBMAX columns per register block (CBMAX <= 6).
// Copies B (k x n, n tiny) out as B^T (n x k, contiguous in k): bt[j * k + p] = b[p * ldb + j].
template <typename T>
void pack_bt_scalar(const T* b, int64_t ldb, int64_t k, int64_t n, T* bt) {
  for (int64_t p = 0; p < k; ++p)
    for (int64_t j = 0; j < n; ++j) bt[j * k + p] = b[p * ldb + j];
}

template <class V, int RB, int CBMAX, class PackBt>
void gemm_dot(const GemmArgs<typename V::T>& g, int64_t min_flops_per_thread, PackBt pack_bt) {
  using T = typename V::T;
  const T* bt = g.b;
  int64_t ldbt = g.ldb;
  if (!g.trans_b) {
    T* packed = tls_a_panel.get<T>(g.n * g.k);
    pack_bt(g.b, g.ldb, g.k, g.n, packed);
    bt = packed;
    ldbt = g.k;
  }
  // Columns in balanced blocks of at most CBMAX (n = 10 -> 5 + 5).
  const int64_t col_blocks = ceil_div(g.n, CBMAX);
  const int64_t row_blocks = ceil_div(g.m, RB);
  // As many threads as have min_flops_per_thread of work each (a parallel region costs
  // microseconds, and far more when the machine is oversubscribed).
  const double flops = 2.0 * static_cast<double>(g.m) * static_cast<double>(g.n) * static_cast<double>(g.k);
  const int64_t useful = std::max<int64_t>(1, static_cast<int64_t>(flops / static_cast<double>(min_flops_per_thread)));
  const int threads = omp_in_parallel() ? 1 : static_cast<int>(std::min<int64_t>(useful, get_num_threads()));
  // Items: 8 row blocks (32 rows) x a range of column blocks (for few rows and many columns,
  // 16 column blocks per item), taken dynamically (see for_each_item).
  constexpr int64_t kBlocksPerItem = 8;
  const int64_t cb_per_item = row_blocks >= 4 * threads ? col_blocks : std::min<int64_t>(col_blocks, 16);
  const int64_t col_items = ceil_div(col_blocks, cb_per_item);
  for_each_item(threads, ceil_div(row_blocks, kBlocksPerItem) * col_items, [&](int64_t item) {
    const int64_t rb0 = item / col_items * kBlocksPerItem, rb1 = std::min(row_blocks, rb0 + kBlocksPerItem);
    const int64_t cb0 = item % col_items * cb_per_item, cb1 = std::min(col_blocks, cb0 + cb_per_item);
    for (int64_t rb = rb0; rb < rb1; ++rb) {
      const int64_t i = rb * RB;
      const int rows = static_cast<int>(std::min<int64_t>(RB, g.m - i));
      for (int64_t cb = cb0; cb < cb1; ++cb) {
        const int64_t j0 = g.n * cb / col_blocks, j1 = g.n * (cb + 1) / col_blocks;
        const int cols = static_cast<int>(j1 - j0);
        if (rows == RB) {
          dot_rows_cols<V, RB>(g, bt, ldbt, i, j0, cols);
        } else {
          for (int r = 0; r < rows; ++r) dot_rows_cols<V, 1>(g, bt, ldbt, i + r, j0, cols);
        }
      }
    }
  });
}

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
