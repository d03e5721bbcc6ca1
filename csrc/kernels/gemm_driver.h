// The GEMM driver (BLIS / GotoBLAS design), written once and compiled per ISA: the including
// file defines FASTNN_ISA_NS, includes this header, then defines its micro-kernel traits `K`
// and calls gemm_packed<K>(args). Everything here has internal linkage (anonymous namespace)
// so the AVX-512 and the generic copies can never be mixed up by the linker.
//
// Loops, outermost first (C is m x n, row-major; the SIMD vector runs along a row of C):
//
//   ic: rows of C in blocks of MC                    A panel MC x KC packed, shared by threads
//     pc: depth in blocks of KC                      (never split across threads: fixed sum order)
//       pack A[ic.., pc..] into MR-row micro-panels  (threads pack disjoint micro-panels)
//       jc: this thread's columns in blocks of NC    B block KC x NC packed per thread (own L2)
//         ir: MR-row micro-panel of A                (stays in L1 while jr sweeps the B block)
//           jr: NR-column micro-panel of B           (streamed from L2)
//             micro-kernel: C[MR x NR] tile in registers, k-loop of rank-1 updates, then the
//             fused epilogue (alpha, beta*C, bias, relu) when the tile is stored.
//
// Packing reads op(A) / op(B) through (lda, ldb) in place: the four transpose combinations
// differ only in the packing loops, not in the kernel, so they run at the same speed.
//
// Each C element is the sum of its k products in increasing k within a KC block, the blocks
// added in increasing order; KC depends only on k and the kernel, never on the thread count,
// and thread splits fall on MR / NR tile boundaries, so results are bitwise independent of the
// number of threads.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

#include <omp.h>

#include "cpu.h"
#include "gemm_isa.h"

#ifndef FASTNN_ISA_NS
#error "define FASTNN_ISA_NS before including gemm_driver.h"
#endif

namespace fastnn::FASTNN_ISA_NS {
namespace {

// What the micro-kernel does when it stores its tile.
template <typename T>
struct Epilogue {
  T alpha;
  T beta;         // scales the old C; 0 means C is not read (first K block with beta == 0)
  const T* bias;  // bias at the tile's first column, or nullptr (set on the last K block only)
  bool relu;      // on the last K block only
};

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

// Block size for `total` items with at most `max_block` per block, balanced so the last block is
// not a sliver (e.g. k = 400 with KC = 384 gives two blocks of 200, not 384 + 16), rounded up
// to `multiple`.
inline int64_t balanced_block(int64_t total, int64_t max_block, int64_t multiple) {
  const int64_t blocks = ceil_div(total, max_block);
  return round_up(ceil_div(total, blocks), multiple);
}

// A 64-byte aligned scratch buffer that only grows: packing buffers are reused across calls
// (a fresh multi-MiB allocation per call would page-fault on every call).
struct ScratchBuffer {
  void* ptr = nullptr;
  size_t bytes = 0;
  ~ScratchBuffer() { std::free(ptr); }
  template <typename T>
  T* get(int64_t count) {
    const size_t want = round_up(static_cast<int64_t>(sizeof(T)) * std::max<int64_t>(count, 1), 64);
    if (want > bytes) {
      std::free(ptr);
      ptr = std::aligned_alloc(64, want);
      if (!ptr) {
        bytes = 0;
        throw std::bad_alloc();
      }
      bytes = want;
    }
    return static_cast<T*>(ptr);
  }
};

thread_local ScratchBuffer tls_a_panel;  // owned by the calling thread, shared with its team
thread_local ScratchBuffer tls_b_block;  // one per thread

// Portable packing (an ISA file may provide faster transposing versions in its traits).
// dst[p * MR + r] = op(A)[i0 + r, p0 + p] for r < mr, zero for mr <= r < MR.
template <typename T, int MR>
void pack_a_scalar(bool trans_a, const T* a, int64_t lda, int64_t i0, int64_t p0, int mr, int64_t kc,
                   T* dst) {
  if (trans_a) {
    // op(A)[i, p] = a[p * lda + i]: MR consecutive values per p.
    for (int64_t p = 0; p < kc; ++p) {
      const T* src = a + (p0 + p) * lda + i0;
      T* d = dst + p * MR;
      for (int r = 0; r < mr; ++r) d[r] = src[r];
      for (int r = mr; r < MR; ++r) d[r] = T(0);
    }
  } else {
    // op(A)[i, p] = a[i * lda + p]: mr row streams, interleaved.
    const T* rows[MR];
    for (int r = 0; r < mr; ++r) rows[r] = a + (i0 + r) * lda + p0;
    for (int64_t p = 0; p < kc; ++p) {
      T* d = dst + p * MR;
      for (int r = 0; r < mr; ++r) d[r] = rows[r][p];
      for (int r = mr; r < MR; ++r) d[r] = T(0);
    }
  }
}

// dst[p * NR + j] = op(B)[p0 + p, j0 + j] for j < nr, zero for nr <= j < NR.
template <typename T, int NR>
void pack_b_scalar(bool trans_b, const T* b, int64_t ldb, int64_t p0, int64_t j0, int nr, int64_t kc,
                   T* dst) {
  if (!trans_b) {
    for (int64_t p = 0; p < kc; ++p) {
      const T* src = b + (p0 + p) * ldb + j0;
      T* d = dst + p * NR;
      for (int j = 0; j < nr; ++j) d[j] = src[j];
      for (int j = nr; j < NR; ++j) d[j] = T(0);
    }
  } else {
    // op(B)[p, j] = b[j * ldb + p]: a transpose; read in 8 x 8 tiles so both sides stay in cache.
    for (int64_t p = 0; p < kc; ++p)
      for (int j = nr; j < NR; ++j) dst[p * NR + j] = T(0);
    for (int j = 0; j < nr; ++j) {
      const T* src = b + (j0 + j) * ldb + p0;
      for (int64_t p = 0; p < kc; ++p) dst[p * NR + j] = src[p];
    }
  }
}

// How the threads of one call share the work: a tm x tn grid. tn threads split the columns
// (each packs its own B block into its own L2, all read the shared A panel); when there are
// too few NR-column panels (n small, e.g. a 10-class output layer), the rows are split instead.
struct ThreadGrid {
  int threads = 1, tm = 1, tn = 1;
};

inline ThreadGrid thread_grid(int64_t m, int64_t n, int64_t k, int mr, int nr, int64_t min_flops_per_thread) {
  ThreadGrid g;
  int nt = omp_in_parallel() ? 1 : get_num_threads();
  const double flops = 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
  // A parallel region costs a few microseconds: give each thread enough work to pay for it.
  nt = static_cast<int>(std::min<double>(nt, std::max(1.0, flops / static_cast<double>(min_flops_per_thread))));
  const int64_t m_panels = ceil_div(m, mr), n_panels = ceil_div(n, nr);
  nt = static_cast<int>(std::min<int64_t>(nt, m_panels * n_panels));
  if (nt <= 1) return g;
  int tn = nt;
  while (tn > 1 && (nt % tn != 0 || n_panels < 4 * static_cast<int64_t>(tn))) --tn;
  int tm = nt / tn;
  if (tm > m_panels) tm = static_cast<int>(m_panels);
  g.tm = tm;
  g.tn = tn;
  g.threads = tm * tn;
  return g;
}

// K: micro-kernel traits with
//   using T; MR, NR (tile), MC, KC, NC (cache blocks), kMinFlopsPerThread;
//   static void kernel(int64_t kc, const T* a_panel, const T* b_panel, int64_t ldb_panel, T* c,
//                      int64_t ldc, int mr, int nr, const Epilogue<T>& e);
//   static void pack_a(...), pack_b(...) with the signatures of pack_a_scalar / pack_b_scalar.
template <class K>
void gemm_packed(const GemmArgs<typename K::T>& g) {
  using T = typename K::T;
  constexpr int MR = K::MR, NR = K::NR;
  const int64_t m = g.m, n = g.n, k = g.k;

  const int64_t kc_step = balanced_block(k, K::KC, 1);
  const int64_t mc_step = balanced_block(m, K::MC, MR);
  const ThreadGrid grid = thread_grid(m, n, k, MR, NR, K::kMinFlopsPerThread);

  T* a_panel = tls_a_panel.get<T>(mc_step * kc_step);
  // Few rows: each B element is used by only m / MR micro-kernel calls, too few to repay
  // packing it (a full extra pass over B through memory: ~10 % of 128x1024x512). A row-major B
  // is then read in place, NR-wide row pieces ldb apart; only the ragged last panel is packed.
  // Not for long rows: with rows >= 8 KiB apart every k step touches a new page, and the
  // prefetchers and TLB lose (64x288x25088 runs at half speed). Packing or not never changes
  // the arithmetic.
  const bool direct_b = !g.trans_b && m <= K::kDirectBMaxM &&
                        g.ldb * static_cast<int64_t>(sizeof(T)) <= 8192;
  const int64_t n_panels = ceil_div(n, NR);

  auto body = [&](int tid, const ThreadGrid& grid, auto&& barrier) {
    const int nt = grid.threads;
    const int ti = tid / grid.tn, tj = tid % grid.tn;
    // This thread's columns: a contiguous range of whole NR panels (global tile boundaries).
    const int64_t jp0 = n_panels * tj / grid.tn, jp1 = n_panels * (tj + 1) / grid.tn;
    const int64_t j_begin = jp0 * NR, j_end = std::min(n, jp1 * NR);
    const int64_t nc_step = j_end > j_begin ? balanced_block(j_end - j_begin, K::NC, NR) : NR;
    T* b_block = tls_b_block.get<T>(nc_step * kc_step);

    for (int64_t ic = 0; ic < m; ic += mc_step) {
      const int64_t mc = std::min(mc_step, m - ic);
      const int64_t m_panels = ceil_div(mc, MR);
      // This thread's row panels when rows are split (tm > 1).
      const int64_t ip0 = m_panels * ti / grid.tm, ip1 = m_panels * (ti + 1) / grid.tm;
      for (int64_t pc = 0; pc < k; pc += kc_step) {
        const int64_t kc = std::min(kc_step, k - pc);
        const bool first = pc == 0, last = pc + kc == k;
        // Pack the shared A panel: every thread a share of the micro-panels.
        for (int64_t ip = m_panels * tid / nt; ip < m_panels * (tid + 1) / nt; ++ip) {
          const int mr = static_cast<int>(std::min<int64_t>(MR, mc - ip * MR));
          K::pack_a(g.trans_a, g.a, g.lda, ic + ip * MR, pc, mr, kc, a_panel + ip * MR * kc);
        }
        barrier();
        Epilogue<T> e{g.alpha, first ? g.beta : T(1), nullptr, last && g.act == GemmAct::relu};
        for (int64_t jc = j_begin; jc < j_end; jc += nc_step) {
          const int64_t nc = std::min(nc_step, j_end - jc);
          const int64_t nc_panels = ceil_div(nc, NR);
          for (int64_t jp = 0; jp < nc_panels; ++jp) {
            const int nr = static_cast<int>(std::min<int64_t>(NR, nc - jp * NR));
            if (direct_b && nr == NR) continue;  // read in place
            K::pack_b(g.trans_b, g.b, g.ldb, pc, jc + jp * NR, nr, kc, b_block + jp * NR * kc);
          }
          for (int64_t ip = ip0; ip < ip1; ++ip) {
            const int mr = static_cast<int>(std::min<int64_t>(MR, mc - ip * MR));
            const T* ap = a_panel + ip * MR * kc;
            T* c_row = g.c + (ic + ip * MR) * g.ldc;
            for (int64_t jp = 0; jp < nc_panels; ++jp) {
              const int64_t col = jc + jp * NR;
              const int nr = static_cast<int>(std::min<int64_t>(NR, nc - jp * NR));
              e.bias = (last && g.bias) ? g.bias + col : nullptr;
              if (direct_b && nr == NR)
                K::kernel(kc, ap, g.b + pc * g.ldb + col, g.ldb, c_row + col, g.ldc, mr, nr, e);
              else
                K::kernel(kc, ap, b_block + jp * NR * kc, NR, c_row + col, g.ldc, mr, nr, e);
            }
          }
        }
        barrier();  // the A panel is overwritten by the next K block
      }
    }
  };

  if (grid.threads <= 1) {
    body(0, grid, [] {});
    return;
  }
#pragma omp parallel num_threads(grid.threads)
  {
    // A team may come out smaller than asked; a thread grid with missing threads would skip
    // work, so then one thread does all of it (the result is the same either way).
    if (omp_get_num_threads() == grid.threads) {
      body(omp_get_thread_num(), grid, [] {
#pragma omp barrier
      });
    } else {
#pragma omp single
      body(0, ThreadGrid{}, [] {});
    }
  }
}

}  // namespace
}  // namespace fastnn::FASTNN_ISA_NS
