// The GEMM driver (BLIS / GotoBLAS design), written once and compiled per ISA: the including
// file defines FASTNN_ISA_NS, includes this header, then defines its micro-kernel traits `K`
// and calls gemm_packed<K>(args). Everything here has internal linkage (anonymous namespace)
// so the AVX-512 and the generic copies can never be mixed up by the linker.
//
// Loops (C is m x n, row-major; the SIMD vector runs along a row of C):
//
//   pack all of op(A) into MR-row micro-panels, per KC block  (shared by the threads)
//   item: a block of at most NC columns                       (threads take items in turn)
//     pc: depth in blocks of KC                                (never split: fixed sum order)
//       pack B[pc.., item's columns] into NR-column panels     B block KC x NC in this core's L2
//       ir: MR-row micro-panel of A                            (stays in L1 while jr sweeps B)
//         jr: NR-column micro-panel of B                       (streamed from L2)
//           micro-kernel: C[MR x NR] tile in registers, k-loop of rank-1 updates, then the
//           fused epilogue (alpha, beta*C, bias, relu) when the tile is stored.
//
// Narrow products (fewer than 4 NR panels per thread) split rows instead: op(B) is packed
// once, and items are chunks of MR-row panels that pack their own A panels.
//
// Packing reads op(A) / op(B) through (lda, ldb) in place: the four transpose combinations
// differ only in the packing loops, not in the kernel, so they run at the same speed.
//
// Each C element is the sum of its k products in increasing k within a KC block, the blocks
// added in increasing order; KC depends only on k and the kernel, never on the thread count,
// and work items are whole MR x NR tiles over all of k, so results are bitwise independent of
// the number of threads and of which thread computes what.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <type_traits>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include <omp.h>

#include "activations.h"
#include "cpu.h"
#include "gemm_isa.h"
#include "simd_math.h"

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
  const T* row_bias = nullptr;  // row_bias[r] added to the tile's row r (last K block only), or nullptr
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
      // Buffers of MiBs (all of op(A) for a big product) go on 2 MiB pages where the OS allows:
      // the kernels stream them panel by panel, and 4 KiB pages would cost a TLB miss every
      // few panels.
      const size_t huge = size_t{2} << 20;
      const bool big = want >= huge;
      const size_t size = big ? round_up(static_cast<int64_t>(want), huge) : want;
      ptr = std::aligned_alloc(big ? huge : 64, size);
      if (!ptr) {
        bytes = 0;
        throw std::bad_alloc();
      }
#if defined(__linux__) && defined(MADV_HUGEPAGE)
      if (big) madvise(ptr, size, MADV_HUGEPAGE);  // a hint; failure is harmless
#endif
      bytes = size;
    }
    return static_cast<T*>(ptr);
  }
  // Gives the memory back when it grew past `keep` bytes (one huge product should not pin
  // hundreds of MiB for the life of the thread).
  void trim(size_t keep) {
    if (bytes > keep) {
      std::free(ptr);
      ptr = nullptr;
      bytes = 0;
    }
  }
};

constexpr size_t kScratchKeepBytes = size_t{64} << 20;

thread_local ScratchBuffer tls_a_panel;  // packed op(A): the calling thread's, shared with its team
thread_local ScratchBuffer tls_b_all;    // packed op(B) when rows are split: likewise
thread_local ScratchBuffer tls_b_block;  // one B block per thread (column items)

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

// Runs fn(item) for item in [0, items) on `threads` threads that take the next item from a
// shared counter. Dynamic, not a static split: on a machine shared with other processes one
// thread may lose its core for a whole time slice, and then the others take over its items
// instead of waiting for it. Which thread computes an item never changes the arithmetic.
// Inside a parallel region: fn(i) for the items this thread takes from the shared counter next.
template <class F>
void take_items(int64_t& next, int64_t items, F&& fn) {
  for (;;) {
    int64_t item;
#pragma omp atomic capture
    item = next++;
    if (item >= items) break;
    fn(item);
  }
}

// Inside a parallel region: items [0, items) in nt contiguous home ranges, thread t's first
// (in order), then any item no thread has taken yet (each claimed once through its flag in
// `claimed`, zeroed by the caller). Work still moves to a thread whose partner lost its core,
// but normally thread t computes the same items every call, as the static split of the
// elementwise kernels (parallel_for) does: what one product writes and the next op reads
// stays in the core's own L2.
template <class F>
void take_home_items(std::atomic<unsigned char>* claimed, int64_t items, F&& fn) {
  const int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
  const int64_t start = items * t / nt;
  for (int64_t s = 0; s < items; ++s) {
    const int64_t i = start + s < items ? start + s : start + s - items;
    if (claimed[i].load(std::memory_order_relaxed) == 0 && claimed[i].exchange(1, std::memory_order_acq_rel) == 0)
      fn(i);
  }
}

struct ClaimFlags {
  std::unique_ptr<std::atomic<unsigned char>[]> flags;
  explicit ClaimFlags(int64_t n) : flags(new std::atomic<unsigned char>[static_cast<size_t>(std::max<int64_t>(n, 1))]) {
    for (int64_t i = 0; i < n; ++i) flags[i].store(0, std::memory_order_relaxed);
  }
  std::atomic<unsigned char>* get() { return flags.get(); }
};

template <class F>
void for_each_item(int threads, int64_t items, F&& fn) {
  if (threads <= 1 || items <= 1) {
    for (int64_t i = 0; i < items; ++i) fn(i);
    return;
  }
  int64_t next = 0;
  mark_threads_used();
#pragma omp parallel num_threads(threads)
  take_items(next, items, fn);
}

// act = tanh on rows x cols of C (ldc apart), in place: the function of the tanh activation
// kernel (activations_impl.h), compiled with the same ISA flags, so a fused Linear + Tanh has
// the bits of the two layers run one by one. For C tiles still in L1.
template <typename T>
void tanh_tile(T* c, int64_t ldc, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    T* row = c + r * ldc;
    if constexpr (std::is_same_v<T, float>) {
#pragma omp simd
      for (int64_t j = 0; j < cols; ++j) row[j] = simd_math::tanh_f32(row[j]);
    } else {
      for (int64_t j = 0; j < cols; ++j) row[j] = std::tanh(row[j]);
    }
  }
}

// The paths without C tiles (dot products, narrow products): the product without an
// activation, then tanh over C by the activation kernel itself.
template <typename T, class Run>
void with_tanh_after(const GemmArgs<T>& g, Run&& run) {
  if (g.act != GemmAct::tanh) return run(g);
  GemmArgs<T> plain = g;
  plain.act = GemmAct::none;
  run(plain);
  if (g.ldc == g.n) {
    activation_forward<T>(Act::tanh, g.c, g.c, g.m * g.n, ActParams{});
  } else {
    for (int64_t i = 0; i < g.m; ++i) activation_forward<T>(Act::tanh, g.c + i * g.ldc, g.c + i * g.ldc, g.n, ActParams{});
  }
}

// Two phases on a team of `threads`: pack(i) for i < pack_items, then, after a barrier (the
// work reads what any thread packed), work(i) for i < work_items. Pack items come from a shared
// counter (dynamic, as for_each_item); work items from home ranges (take_home_items): in the
// MLP training step (2 threads, in-process A/B, 8 rounds) the step ran 2.4 % faster and the CNN
// step 2.5 %, as Adam's thread t then updates the weight rows the GEMMs' thread t wrote / reads.
// One thread runs them in order.
template <class Pack, class Work>
void two_phases(int threads, int64_t pack_items, Pack&& pack, int64_t work_items, Work&& work) {
  if (threads <= 1) {
    for (int64_t i = 0; i < pack_items; ++i) pack(i);
    for (int64_t i = 0; i < work_items; ++i) work(i);
    return;
  }
  int64_t next_pack = 0;
  ClaimFlags claimed(work_items);
  mark_threads_used();
#pragma omp parallel num_threads(threads)
  {
    take_items(next_pack, pack_items, pack);
#pragma omp barrier
    take_home_items(claimed.get(), work_items, work);
  }
}

// Threads worth using: each needs min_flops_per_thread of work to repay a parallel region.
inline int useful_threads(int64_t m, int64_t n, int64_t k, int64_t min_flops_per_thread) {
  if (omp_in_parallel()) return 1;
  const double flops = 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
  const double by_work = std::max(1.0, flops / static_cast<double>(min_flops_per_thread));
  return static_cast<int>(std::min<double>(get_num_threads(), by_work));
}

// The widest B block (kc x nc values) to keep in one core's L2: K::NC, as tuned for the
// kernel's reference machine, capped at half of the L2 this CPU reports (no cap when unknown),
// at least 4 panels. The other half holds the A micro-panels and C tiles passing through.
// Measured on Zen 3 (512 KiB L2, AVX2, 1 thread): 128x1024x512 ran at 0.55x NumPy with
// NC = 672 (a 1 MiB block), 0.82x with this cap.
inline int64_t nc_for_l2(int64_t nc, int64_t kc, size_t elem, int64_t nr) {
  const int64_t l2 = l2_cache_bytes();
  if (l2 <= 0) return nc;
  const int64_t fit = l2 / 2 / (kc * static_cast<int64_t>(elem)) / nr * nr;
  return std::clamp(fit, 4 * nr, nc);
}

inline int64_t gcd64(int64_t a, int64_t b) {
  while (b != 0) {
    const int64_t t = a % b;
    a = b;
    b = t;
  }
  return a;
}

// Whether `rows` rows of row_bytes each, stride_bytes apart (not aligned), stay in the sets of
// a cache of `ways` ways of way_bytes (64-byte lines) they map to. Rows stride_bytes apart land
// in only way_bytes / gcd(stride_bytes, way_bytes) set positions: a power-of-two stride can leave
// them far fewer lines than they need, and they then evict themselves.
inline bool rows_fit_sets(int64_t stride_bytes, int64_t row_bytes, int64_t rows, int64_t way_bytes, int64_t ways) {
  constexpr int64_t kLine = 64;
  const int64_t sets = std::max<int64_t>(1, way_bytes / kLine);
  const int64_t lines_per_row = ceil_div(row_bytes, kLine) + 1;  // +1: rows are not aligned
  const int64_t positions = std::max<int64_t>(1, way_bytes / gcd64(stride_bytes, way_bytes));
  const int64_t capacity = std::min(sets, positions * lines_per_row) * ways;
  return rows * lines_per_row <= capacity;
}

// Whether an NR-wide panel of B read in place (kc rows, ldb_bytes apart, row_bytes each) can
// stay in the L2 sets it maps to, or evicts itself under every A panel. Zen 3 (512 KiB, 8 ways),
// ldb = 2 KiB, kc = 392: 32 positions x 2 lines x 8 ways = 512 lines for 784; 128x784x512 ran at
// 0.56x NumPy in place, 0.90x packed. Unknown cache: yes.
inline bool panel_fits_l2_sets(int64_t ldb_bytes, int64_t row_bytes, int64_t kc) {
  const int64_t l2 = l2_cache_bytes(), ways = l2_cache_ways();
  if (l2 <= 0 || ways <= 0 || ldb_bytes <= 0) return true;
  return rows_fit_sets(ldb_bytes, row_bytes, kc, l2 / ways, ways);
}

// Whether kc rows of row_bytes each, stride_bytes apart, stay in an L1 of 8 ways of 4 KiB (the
// L1d of Zen 3/4 and of the Xeon alike: 32 KiB / 8 and 48 KiB / 12 ways) with room to spare:
// they may use at most half of the lines of the sets they map to.
inline bool l1_rows_fit(int64_t stride_bytes, int64_t row_bytes, int64_t kc) {
  return stride_bytes > 0 && rows_fit_sets(stride_bytes, row_bytes, 2 * kc, 4096, 8);
}

// Packs the full NR-column panels jp0 <= jp < jp1 of a row-major (not transposed) B for rows
// p0 .. p0 + kc, row by row: each row of the block is read once, left to right, where a panel
// at a time would touch kc rows (kc pages when rows are >= 4 KiB apart) per NR values.
// dst: panel jp at dst + (jp - jp0) * NR * kc, as K::pack_b writes it.
template <typename T, int NR>
void pack_b_rows(const T* b, int64_t ldb, int64_t p0, int64_t jp0, int64_t jp1, int64_t kc, T* dst) {
  for (int64_t p = 0; p < kc; ++p) {
    const T* src = b + (p0 + p) * ldb + jp0 * NR;
    T* d = dst + p * NR;
    for (int64_t jp = jp0; jp < jp1; ++jp, src += NR, d += NR * kc) std::memcpy(d, src, NR * sizeof(T));
  }
}

// All of op(A), packed in MR-row micro-panels per KC block (KC balanced over k, never chosen by
// the thread count): panel ip of block pb at data + (pb * m_panels + ip) * panel_size, in the
// calling thread's buffer (shared with its team). item = pb * m_panels + ip packs one panel.
template <class K>
struct PackedA {
  using T = typename K::T;
  const GemmArgs<T>& g;
  int64_t kc_step, k_blocks, m_panels, panel_size;
  T* data = nullptr;  // set by allocate(), before the first pack(item) or panel()

  explicit PackedA(const GemmArgs<T>& args)
      : g(args),
        kc_step(balanced_block(args.k, K::KC, 1)),
        k_blocks(ceil_div(args.k, kc_step)),
        m_panels(ceil_div(args.m, K::MR)),
        panel_size(K::MR * kc_step) {}
  // The shared buffer, only when all of op(A) is packed into it (not for per-thread packing).
  void allocate() { data = tls_a_panel.get<T>(k_blocks * m_panels * panel_size); }
  int64_t items() const { return k_blocks * m_panels; }
  int64_t depth(int64_t pb) const { return std::min(kc_step, g.k - pb * kc_step); }  // kc of block pb
  const T* panel(int64_t pb, int64_t ip) const { return data + (pb * m_panels + ip) * panel_size; }
  void pack(int64_t item) const { pack_into(item / m_panels, item % m_panels, data + item * panel_size); }
  // Panel ip of block pb into dst (panel_size values) instead of the shared buffer.
  void pack_into(int64_t pb, int64_t ip, T* dst) const {
    const int mr = static_cast<int>(std::min<int64_t>(K::MR, g.m - ip * K::MR));
    K::pack_a(g.trans_a, g.a, g.lda, ip * K::MR, pb * kc_step, mr, depth(pb), dst);
  }
};

// K: micro-kernel traits with
//   using T; MR, NR (tile), KC, NC (cache blocks), kMinFlopsPerThread, kDirectBMaxM;
//   static void kernel(int64_t kc, const T* a_panel, int64_t lda_panel, const T* b_panel, int64_t ldb_panel, T* c,
//                      int64_t ldc, int mr, int nr, const Epilogue<T>& e);
//   static void pack_a(...), pack_b(...) with the signatures of pack_a_scalar / pack_b_scalar.
//
// Two phases, one barrier between them:
//  1. all of op(A) is packed (every KC block of every MR panel; threads take panels from a
//     counter); when the rows are split (n too small for column work), all of op(B) instead
//     (each row item then packs its own A panels);
//  2. work items, taken from a counter: a block of columns (all rows; the item packs its KC x NC
//     B block into its thread's L2 and sweeps the packed A under it), or, for narrow products,
//     a block of row panels (all columns). An item computes whole C tiles over all of k.
template <class K>
void gemm_packed(const GemmArgs<typename K::T>& g) {
  using T = typename K::T;
  constexpr int MR = K::MR, NR = K::NR;
  const int64_t m = g.m, n = g.n, k = g.k;

  PackedA<K> pa(g);
  const int64_t kc_step = pa.kc_step, k_blocks = pa.k_blocks, m_panels = pa.m_panels, n_panels = ceil_div(n, NR);
  const int nt = useful_threads(m, n, k, K::kMinFlopsPerThread);
  // Columns are the natural split (threads share the packed A, each keeps its own B block in
  // its own L2); rows are split instead with fewer than 4 NR panels per thread, or when all of
  // op(B), packed, fits in half of one core's L2 (and there are rows enough): every thread then
  // keeps the whole packed B in its L2 and reuses each of its own A micro-panels across all of
  // n, where a column split reuses it across only n / threads. Measured on the Xeon (2 threads,
  // in-process A/B, 30-40 interleaved rounds): 784x128x512 TN +9 %, 512x128x784 TN +4 %,
  // 256^3 +11 %, 512^3 +4 %; 128x784x512 (B 1.6 MB: not chosen) -2 %.
  const int64_t l2 = l2_cache_bytes();
  const bool b_fits_l2 = l2 > 0 && k * n * static_cast<int64_t>(sizeof(T)) <= l2 / 2;
  const bool split_rows = nt > 1 && (n_panels < 4 * static_cast<int64_t>(nt) ||
                                     (b_fits_l2 && m_panels >= 4 * static_cast<int64_t>(nt)));

  // Few rows: each B element is used by only m / MR micro-kernel calls, too few to repay
  // packing it (a full extra pass over B through memory: ~10 % of 128x1024x512). A row-major B
  // is then read in place, NR-wide row pieces ldb apart; only the ragged last panel is packed.
  // Not for long rows: with rows >= 8 KiB apart every k step touches a new page, and the
  // prefetchers and TLB lose (64x288x25088 runs at half speed); nor when the panel's rows
  // alias in the L2 (panel_fits_l2_sets). Nor on Intel cores: on the Xeon (family 6 model 207,
  // 2 MiB L2) packing was as fast or faster (in-process A/B, 40 rounds: 128x784x512 +8 % at 2
  // threads and +3 % at 1, 64x288x1568 +10 %, 50x500x384 equal), where the Zen 4 had measured
  // in-place reads ~10 % faster. Packing or not never changes the arithmetic.
  // With a single A micro-panel (m <= MR, e.g. a 10-class layer's weight gradient) each B value
  // is used once: packing it could only add a copy, on any CPU.
  const GemmBInPlace in_place = gemm_b_in_place();
  const bool in_place_pays = in_place == GemmBInPlace::allowed ||
                             (in_place == GemmBInPlace::automatic && (!cpu_is_intel() || m_panels == 1));
  const bool direct_b = in_place_pays && !split_rows && !g.trans_b && m <= K::kDirectBMaxM &&
                        g.ldb * static_cast<int64_t>(sizeof(T)) <= 8192 &&
                        panel_fits_l2_sets(g.ldb * static_cast<int64_t>(sizeof(T)),
                                           NR * static_cast<int64_t>(sizeof(T)), kc_step);

  // Packed op(B) when rows are split: block pb, panel jp at (pb * n_panels + jp) * NR * kc_step.
  const int64_t b_panel_size = NR * kc_step;

  // Column items: blocks of at most NC columns (the B block must fit in L2), and, with several
  // threads, the same number of items for every thread (a multiple of nt, at least 4 panels
  // wide), as few as the L2 allows. Each A micro-panel (L2/L3) is reused across all of an item's
  // B panels, so narrower items load A more often: with 4 items per thread (the earlier choice,
  // for balance) 1024^3, 2048^3 and 784x128x512 TN ran 3-6 % slower at 2 threads on the Xeon
  // (in-process A/B, 30-60 interleaved rounds). A count that is not a multiple of nt leaves one
  // thread an item alone at the end: on the Zen 4 (1 MiB L2, NC capped at 352 for kc = 342)
  // n = 1024 made 3 items, and 1024^3 ran at 150 GFLOP/s where 4 items give 200.
  const int64_t nc_max = nc_for_l2(K::NC, kc_step, sizeof(T), NR);
  int64_t nc_item = balanced_block(n, nc_max, NR);
  if (nt > 1 && !split_rows) {
    const int64_t items_per_thread = ceil_div(ceil_div(n, nc_max), static_cast<int64_t>(nt));
    nc_item = std::max<int64_t>(4 * NR, round_up(ceil_div(n, items_per_thread * nt), NR));
  }
  const int64_t col_items = ceil_div(n, nc_item);
  // With one column item per thread (or fewer), every thread needs every A micro-panel once:
  // each packs them itself, one at a time into its own L1-sized buffer right before their tiles,
  // instead of the team packing all of op(A) into a shared buffer first. The shared buffer's
  // lines were read by both cores in the previous product, so writing them costs an
  // invalidation each, and half the panels then come from the other core's L2; the team also
  // waits at a barrier for the last panel. Measured on the Zen 4 (2 threads): packing op(A) of
  // 128x784x512 took 7 % of the CPU time (2.2 % at 1 thread); packing per item made 128x784x512
  // 14-18 %, 128x1024x512 15 % and 128x512x784 NT 12 % faster (in-process A/B, 30 rounds).
  const bool a_per_item = !split_rows && col_items <= nt;
  // A transposed A (stored k x m) already holds each micro-panel's MR values of a k step side by
  // side, lda apart from one k step to the next: the kernel can broadcast them in place, with no
  // packing (the ragged last panel is still packed: the kernel reads MR values per step). Only
  // when each A panel is used once per thread (per-item or per-row-item packing, never the
  // shared packed A), and when the panel's kc rows do not alias in the L1 (as panel_fits_l2_sets,
  // for 4 KiB ways of 8: lda = 1024 floats would put every row in one set; in practice k <= 128,
  // e.g. a Dense layer's weight gradient at batch 128). Measured on the Zen 4 (in-process A/B,
  // 30 rounds): 784x128x512 TN +1-2 % at 1 thread, +1 % at 2; 512x128x784 TN -1 to +0.3 %.
  const bool direct_a = g.trans_a && (a_per_item || split_rows) &&
                        l1_rows_fit(g.lda * static_cast<int64_t>(sizeof(T)), MR * static_cast<int64_t>(sizeof(T)), kc_step);
  // Row items (split_rows): chunks of row panels, about 16 per thread. Items share nothing (each
  // sweeps all of the packed B per A panel), so small ones cost only a counter increment, and
  // they balance the threads: with 4 per thread (9-panel items for 784 rows) one thread often
  // computed the last item alone; on the Xeon (2 threads, in-process A/B, 30 rounds) 16 per
  // thread ran 784x128x512 TN 6 %, 512^3 9 %, 256^3 7 % faster.
  const int64_t panels_per_row_item = std::max<int64_t>(1, ceil_div(m_panels, 16 * static_cast<int64_t>(nt)));
  const int64_t row_items = ceil_div(m_panels, panels_per_row_item);

  auto pack_b_item = [&](int64_t item, T* dst) {  // item = pb * n_panels + jp, into dst's layout
    const int64_t pb = item / n_panels, jp = item % n_panels;
    const int64_t pc = pb * kc_step, kc = std::min(kc_step, k - pc);
    const int nr = static_cast<int>(std::min<int64_t>(NR, n - jp * NR));
    K::pack_b(g.trans_b, g.b, g.ldb, pc, jp * NR, nr, kc, dst + item * b_panel_size);
  };
  // A micro-panel ip of K block pb, its k steps ldap apart: read in place (direct_a, full
  // panels), else packed into buf (its thread's own), else from the shared packed op(A).
  auto a_panel = [&](int64_t pb, int64_t ip, T* buf, int64_t& ldap) -> const T* {
    if (direct_a && (ip + 1) * MR <= m) {
      ldap = g.lda;
      return g.a + pb * kc_step * g.lda + ip * MR;
    }
    ldap = MR;
    if (!buf) return pa.panel(pb, ip);
    pa.pack_into(pb, ip, buf);
    return buf;
  };
  // C tile (ip, jp) for K block pb, with the A and B panels given.
  auto tile = [&](int64_t pb, int64_t ip, int64_t jp, const T* ap, int64_t ldap, const T* bp, int64_t ldbp) {
    const int64_t pc = pb * kc_step, kc = std::min(kc_step, k - pc);
    const bool first = pb == 0, last = pb == k_blocks - 1;
    const int mr = static_cast<int>(std::min<int64_t>(MR, m - ip * MR));
    const int nr = static_cast<int>(std::min<int64_t>(NR, n - jp * NR));
    const int64_t col = jp * NR;
    const Epilogue<T> e{g.alpha, first ? g.beta : T(1), (last && g.bias) ? g.bias + col : nullptr,
                        last && g.act == GemmAct::relu};
    T* ct = g.c + ip * MR * g.ldc + col;
    K::kernel(kc, ap, ldap, bp, ldbp, ct, g.ldc, mr, nr, e);
    if (last && g.act == GemmAct::tanh) tanh_tile(ct, g.ldc, mr, nr);
  };
  auto column_item = [&](int64_t item) {
    const int64_t j0 = item * nc_item, j1 = std::min(n, j0 + nc_item);
    const int64_t jp0 = j0 / NR, jp1 = ceil_div(j1, NR);
    T* b_block = tls_b_block.get<T>((jp1 - jp0) * b_panel_size + (a_per_item ? pa.panel_size : 0));
    T* a_item = b_block + (jp1 - jp0) * b_panel_size;  // one A micro-panel, when a_per_item
    for (int64_t pb = 0; pb < k_blocks; ++pb) {
      const int64_t pc = pb * kc_step, kc = std::min(kc_step, k - pc);
      const int64_t full_end = std::min(jp1, n / NR);  // panels with all NR columns inside n
      if (!g.trans_b && !direct_b && full_end > jp0) {
        pack_b_rows<T, NR>(g.b, g.ldb, pc, jp0, full_end, kc, b_block);
        for (int64_t jp = full_end; jp < jp1; ++jp)
          K::pack_b(false, g.b, g.ldb, pc, jp * NR, static_cast<int>(n - jp * NR), kc, b_block + (jp - jp0) * NR * kc);
      } else {
        for (int64_t jp = jp0; jp < jp1; ++jp) {
          const int nr = static_cast<int>(std::min<int64_t>(NR, n - jp * NR));
          if (direct_b && nr == NR) continue;  // read in place
          K::pack_b(g.trans_b, g.b, g.ldb, pc, jp * NR, nr, kc, b_block + (jp - jp0) * NR * kc);
        }
      }
      // The A micro-panel stays in L1 while the B block (L2) streams under it.
      for (int64_t ip = 0; ip < m_panels; ++ip) {
        int64_t ldap;
        const T* ap = a_panel(pb, ip, a_per_item ? a_item : nullptr, ldap);
        for (int64_t jp = jp0; jp < jp1; ++jp) {
          const int nr = static_cast<int>(std::min<int64_t>(NR, n - jp * NR));
          if (direct_b && nr == NR)
            tile(pb, ip, jp, ap, ldap, g.b + pc * g.ldb + jp * NR, g.ldb);
          else
            tile(pb, ip, jp, ap, ldap, b_block + (jp - jp0) * NR * kc, NR);
        }
      }
    }
  };
  // With rows split, each A micro-panel is used by one row item only: the item packs it itself,
  // into its thread's own L1-sized buffer right before its tiles, and phase 1 packs only B.
  // Measured on the Xeon (2 threads, in-process A/B, 30 rounds): 784x128x512 TN -3 %, 256^3
  // -5 %, 512^3 -2 % against packing all of op(A) first.
  auto row_item = [&](int64_t item, const T* bp_all, T* a_buf) {
    const int64_t ip0 = item * panels_per_row_item, ip1 = std::min(m_panels, ip0 + panels_per_row_item);
    for (int64_t pb = 0; pb < k_blocks; ++pb)
      for (int64_t ip = ip0; ip < ip1; ++ip) {
        int64_t ldap;
        const T* ap = a_panel(pb, ip, a_buf, ldap);
        for (int64_t jp = 0; jp < n_panels; ++jp)
          tile(pb, ip, jp, ap, ldap, bp_all + (pb * n_panels + jp) * b_panel_size, NR);
      }
  };

  const int64_t b_items = split_rows ? k_blocks * n_panels : 0;
  if (split_rows && b_fits_l2) {
    // Each thread packs all of op(B) (at most half an L2) into its own buffer: a shared one
    // would be written by one core and read by both, its lines moving between the L2s on every
    // product, and the team would wait at a barrier for the last panel.
    // Measured on the Zen 4 (2 threads, in-process A/B, 30 rounds): 784x128x512 TN +2 %, 256^3
    // +9 %, 512x128x784 TN +17 %.
    ClaimFlags claimed(row_items);
    mark_threads_used();
#pragma omp parallel num_threads(nt)
    {
      T* own_b = tls_b_all.get<T>(b_items * b_panel_size + pa.panel_size);
      T* a_buf = own_b + b_items * b_panel_size;
      for (int64_t i = 0; i < b_items; ++i) pack_b_item(i, own_b);
      take_home_items(claimed.get(), row_items, [&](int64_t i) { row_item(i, own_b, a_buf); });
    }
  } else {
    const int64_t a_items = split_rows || a_per_item ? 0 : pa.items();
    if (a_items > 0) pa.allocate();
    T* b_packed = split_rows ? tls_b_all.get<T>(b_items * b_panel_size) : nullptr;
    // Phase 1 packs the A panels (or the B panels when rows are split), phase 2 computes items.
    two_phases(
        nt, a_items + b_items, [&](int64_t i) { i < a_items ? pa.pack(i) : pack_b_item(i - a_items, b_packed); },
        split_rows ? row_items : col_items, [&](int64_t i) {
          if (split_rows)
            row_item(i, b_packed, tls_b_block.get<T>(pa.panel_size));
          else
            column_item(i);
        });
  }
  tls_a_panel.trim(kScratchKeepBytes);
  tls_b_all.trim(kScratchKeepBytes);
}

// Batched products with one shared A: C_s = epilogue(op(A) @ B_s) for s < batch, where
// B_s = g.b + s * stride_b and C_s = g.c + s * stride_c (the pointwise convolution: the weight
// times every sample's channels x pixels matrix). op(A) is packed once, by the whole team; then
// threads take whole samples from a counter. A sample is small (a few hundred KiB), so per KC
// block its B panels are taken one at a time, read in place when they are full NR-wide pieces
// of a row-major B and there are few A panels (see direct_ok), packed into an L1 buffer
// otherwise, and the panel is swept under every packed A panel while it sits in L1.
// row_bias (m values, or nullptr) is added to the rows of every C_s as its tiles are stored.
// after(ctx, s), when given, runs on the thread that computed C_s, right after it (while C_s
// is in cache). A sample's C is computed by one thread in a fixed order: the results do not
// depend on the thread count.
template <class K>
void gemm_packed_batch(const GemmArgs<typename K::T>& g, int64_t batch, int64_t stride_b, int64_t stride_c,
                       const typename K::T* row_bias, void (*after)(void*, int64_t), void* ctx) {
  using T = typename K::T;
  constexpr int MR = K::MR, NR = K::NR;
  const int64_t m = g.m, n = g.n, k = g.k;
  PackedA<K> pa(g);
  pa.allocate();
  const int64_t kc_step = pa.kc_step, k_blocks = pa.k_blocks, m_panels = pa.m_panels, n_panels = ceil_div(n, NR);
  const int nt = static_cast<int>(std::min<int64_t>(useful_threads(m, n, k * batch, K::kMinFlopsPerThread), batch));
  // In place only for few A panels: each B panel is then used by few tiles, too few to repay
  // its copy. Measured on the Xeon (in-process A/B, 30 rounds): the 1x1 conv forward (m = 32,
  // 3 panels) ran 4-7 % faster in place, its input gradient (m = 64, 6 panels) ~10 % slower.
  const bool direct_ok = gemm_b_in_place() != GemmBInPlace::never && !g.trans_b && m_panels <= 4 &&
                         g.ldb * static_cast<int64_t>(sizeof(T)) <= 8192;
  auto sample = [&](int64_t s) {
    const T* bs = g.b + s * stride_b;
    T* cs = g.c + s * stride_c;
    T* b_panel = tls_b_block.get<T>(NR * kc_step);
    for (int64_t pb = 0; pb < k_blocks; ++pb) {
      const int64_t pc = pb * kc_step, kc = std::min(kc_step, k - pc);
      const bool first = pb == 0, last = pb == k_blocks - 1;
      const Epilogue<T> e0{g.alpha, first ? g.beta : T(1), nullptr, last && g.act == GemmAct::relu};
      for (int64_t jp = 0; jp < n_panels; ++jp) {
        const int64_t col = jp * NR;
        const int nr = static_cast<int>(std::min<int64_t>(NR, n - col));
        const T* bp;
        int64_t ldbp;
        if (direct_ok && nr == NR) {
          bp = bs + pc * g.ldb + col;
          ldbp = g.ldb;
        } else {
          K::pack_b(g.trans_b, bs, g.ldb, pc, col, nr, kc, b_panel);
          bp = b_panel;
          ldbp = NR;
        }
        Epilogue<T> e = e0;
        if (last && g.bias) e.bias = g.bias + col;
        for (int64_t ip = 0; ip < m_panels; ++ip) {
          const int mr = static_cast<int>(std::min<int64_t>(MR, m - ip * MR));
          if (last && row_bias) e.row_bias = row_bias + ip * MR;
          K::kernel(kc, pa.panel(pb, ip), MR, bp, ldbp, cs + ip * MR * g.ldc + col, g.ldc, mr, nr, e);
        }
      }
    }
    if (after) after(ctx, s);
  };
  two_phases(nt, pa.items(), [&](int64_t i) { pa.pack(i); }, batch, sample);
  tls_a_panel.trim(kScratchKeepBytes);
}

}  // namespace
}  // namespace fastnn::FASTNN_ISA_NS
