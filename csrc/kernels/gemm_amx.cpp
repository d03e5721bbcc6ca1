// float32 GEMM on AMX tiles with three-part bfloat16 splits (see gemm_amx.h for the method and
// its error bound). Built with -mamx-tile -mamx-bf16 -mavx512bf16 and the AVX-512 flags
// (CMakeLists.txt); called only where amx_available() said yes.
//
// Layout. The product runs as C' = A' B' with A' = op(A), B' = op(B), or swapped (C' = C^T,
// A' = op(B)^T, B' = op(A)^T) when that moves the transposing pack to fewer values (struct
// Plan). A' is packed as, for each panel of 32 rows and each step of 32 k, six 16 x 32 bf16
// tiles (parts 0, 1, 2 x rows 0-15, 16-31), 1 KiB each, contiguous; B' as, for each 16-column
// tile and each step, three tiles (parts) in the tile unit's pair layout (row r holds, for each
// of 16 columns, the bf16 pair k = 2r, 2r + 1). The smaller of the two is packed whole first
// (all threads); then each work item takes 64 rows (or columns) of C', packs its slice of the
// other operand and multiplies it with the whole one. Ragged m, n and k are zero-padded in the
// packing. A C' block is 32 x 32: four accumulator tiles, two A' tiles, two B' tiles = the 8
// tile registers. The epilogue applies alpha, beta C, the bias and the activation row by row
// with AVX-512 (after a 16 x 16 transpose of the sums when swapped).
#include "gemm_amx.h"

#include <immintrin.h>

// GCC 12's own avx512fintrin.h false positive (see gemm_avx512.cpp).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>

#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif
#include <cpuid.h>

#include "block_cache.h"
#include "cpu.h"
#include "avx512_transpose.h"
#include "simd_math.h"

namespace fastnn {

namespace {

bool probe_amx() {
#if defined(__linux__)
  unsigned a, b, c, d;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
  const bool amx_bf16 = (d >> 22) & 1, amx_tile = (d >> 24) & 1;
  if (!amx_bf16 || !amx_tile) return false;
  if (!__get_cpuid_count(7, 1, &a, &b, &c, &d)) return false;
  if (!((a >> 5) & 1)) return false;  // AVX512-BF16 (the splits' conversions)
  if (detected_isa() != Isa::avx512) return false;
  // XCR0 must enable the tile state (bits 17, 18); then the kernel must grant it to us.
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  if (((lo >> 17) & 3) != 3) return false;
  constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#else
  return false;
#endif
}

bool initial_on() {
  const char* env = std::getenv("FASTNN_AMX");
  return !(env && env[0] == '0' && env[1] == '\0');
}

std::atomic<bool> g_amx_on{initial_on()};

}  // namespace

bool amx_available() {
  static const bool ok = probe_amx();
  return ok;
}

bool gemm_amx_enabled() {
  return g_amx_on.load(std::memory_order_relaxed) && current_isa() == Isa::avx512 && amx_available();
}

void set_gemm_amx(bool on) { g_amx_on.store(on, std::memory_order_relaxed); }

namespace amx {
namespace {

constexpr int64_t kTile = 512;   // bf16 per tile (16 rows x 64 bytes)
// Worth it only for large products: the splits and transposes of the packing cost ~1 cycle per
// operand value, and the tile kernel (~265 GFLOP/s per core from L2 here, vs ~170 for the
// AVX-512 kernel) must win that back; a short k (one 32 x 32 block is then few tile steps
// between zeroing and storing its accumulators) wins only with many blocks. Measured on the
// Xeon, 2 threads, whole gemm calls AMX vs AVX-512 (240 shapes, m in 32 .. 512, n in 64 ..
// 2048, k in 64 .. 784, NN / NT / TN, then 9 interleaved rounds on the shapes near the bounds):
// below these bounds AMX lost (down to 0.5x); k = 128 with min(m, n) = 128 or 256 ran at
// 0.97 - 1.04x (128 x 128 x 3136, a CNN's Dense backward), with 512 at 1.21x (512 x 128 x 784,
// an MLP's weight gradient); above them 1.1 - 1.35x.
constexpr int64_t kMinSide = 128, kMinK = 128, kLongK = 256, kShortKMinSide = 512;
constexpr double kMinMacs = 25e6;
constexpr int64_t kMaxPackedWhole = int64_t{16} << 20;  // bytes of the operand packed whole

struct TileConfig {
  uint8_t palette = 1, start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

void configure_tiles() {
  TileConfig cfg;
  for (int t = 0; t < 8; ++t) {
    cfg.rows[t] = 16;
    cfg.colsb[t] = 64;
  }
  _tile_loadconfig(&cfg);
}

inline __mmask16 lanes(int64_t n) {
  return n >= 16 ? __mmask16(0xFFFF) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1u);
}

// The splits work in float32 registers: a part is a float32 whose low 16 bits are zero (a bf16
// value in place), made by integer rounding, so no conversion or widening shuffle is needed
// until the packed layout, and the transposing packs transpose float32 values (two 16 x 16
// transposes per 512 values, where transposing the packed parts took three). Measured, 2
// threads: 128 x 784 x 512 NT 290 -> 300 us (noise; its packing now mostly waits for W from
// memory), 128 x 512 x 784 NN 396 -> 321 us with the whole-operand rule below.
//   p0 = round(x), p1 = round(x - p0), p2 = round(x - p0 - p1), both subtractions exact,
// round = to the nearest bf16, ties away from zero ((bits + 0x8000) & 0xffff0000): the same
// half-ulp bound as the tile unit's own conversion, 2 integer ops.
inline __m512i round_bf16(__m512i bits) {
  return _mm512_and_si512(_mm512_add_epi32(bits, _mm512_set1_epi32(0x8000)),
                          _mm512_set1_epi32(static_cast<int>(0xFFFF0000u)));
}

struct Parts {
  __m512i p[3];
};

// Also tracks, in `top`, the largest |x| and |p0| bit patterns: one >= 0x7f800000 means a NaN /
// inf value or one that rounded past bf16's largest (checked once per packed slice: bad()).
inline Parts split(__m512 x, __m512i& top) {
  const __m512i xb = _mm512_castps_si512(x), abs = _mm512_set1_epi32(0x7FFFFFFF);
  Parts s;
  s.p[0] = round_bf16(xb);
  const __m512 r1 = _mm512_sub_ps(x, _mm512_castsi512_ps(s.p[0]));
  s.p[1] = round_bf16(_mm512_castps_si512(r1));
  const __m512 r2 = _mm512_sub_ps(r1, _mm512_castsi512_ps(s.p[1]));
  s.p[2] = round_bf16(_mm512_castps_si512(r2));
  top = _mm512_max_epu32(top, _mm512_and_si512(xb, abs));
  top = _mm512_max_epu32(top, _mm512_and_si512(s.p[0], abs));
  return s;
}

inline bool bad(__m512i top) { return _mm512_cmpge_epu32_mask(top, _mm512_set1_epi32(0x7F800000)) != 0; }

// 32 bf16 in order: the parts of 16 values lo, then 16 values hi (exact: both hold bf16 values).
inline __m512i bf16_row(__m512i lo, __m512i hi) {
  return reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(_mm512_castsi512_ps(hi), _mm512_castsi512_ps(lo)));
}

// 16 bf16 pairs: (part of even, part of odd) in each 32-bit lane.
inline __m512i bf16_pairs(__m512i even, __m512i odd) { return _mm512_or_si512(_mm512_srli_epi32(even, 16), odd); }

// 16 values of op(X)[row][k0 .. k0 + 16) for a row-major X (row stride ld), zero past k_end.
inline __m512 load_row(const float* x, int64_t ld, int64_t row, int64_t k0, int64_t k_end) {
  return _mm512_maskz_loadu_ps(lanes(k_end - k0), x + row * ld + k0);
}

// 32 k of 16 rows of a row-major source into the A tile layout (row r: 32 bf16, k in order),
// from the rows' values lo (k0 .. k0 + 16) and hi (k0 + 16 .. k0 + 32).
inline void store_a_rows(const __m512 lo[16], const __m512 hi[16], uint16_t* const t[3], __m512i& top) {
  for (int r = 0; r < 16; ++r) {
    const Parts a = split(lo[r], top), b = split(hi[r], top);
    for (int q = 0; q < 3; ++q) _mm512_storeu_si512(t[q] + r * 32, bf16_row(a.p[q], b.p[q]));
  }
}

// 32 k (16 pairs, v[2r] and v[2r + 1] = k0 + 2r, k0 + 2r + 1) of 16 columns into the B tile layout.
inline void store_b_pairs(const __m512 v[32], uint16_t* const t[3], __m512i& top) {
  for (int r = 0; r < 16; ++r) {
    const Parts e = split(v[2 * r], top), o = split(v[2 * r + 1], top);
    for (int q = 0; q < 3; ++q) _mm512_storeu_si512(t[q] + r * 32, bf16_pairs(e.p[q], o.p[q]));
  }
}

// --- packing op(A) ---------------------------------------------------------------------------
// Tiles of panel p, step s: base + ((p * steps + s) * 3 + part) * 2 + half.

// One 16-row half-panel, one step, op(A) rows i0 .. i0 + 16 stored row-major (no transpose).
void pack_a_rows(const float* a, int64_t lda, int64_t i0, int64_t m, int64_t k0, int64_t k, uint16_t* t0,
                 uint16_t* t1, uint16_t* t2, __mmask16& bad_lanes) {
  uint16_t* const t[3] = {t0, t1, t2};
  __m512 lo[16], hi[16];
  for (int r = 0; r < 16; ++r) {
    const bool in = i0 + r < m;
    lo[r] = in ? load_row(a, lda, i0 + r, k0, k) : _mm512_setzero_ps();
    hi[r] = in && k0 + 16 < k ? load_row(a, lda, i0 + r, k0 + 16, k) : _mm512_setzero_ps();
  }
  __m512i top = _mm512_setzero_si512();
  store_a_rows(lo, hi, t, top);
  if (bad(top)) bad_lanes = 1;
}

// The same for a transposed A: op(A)[i][kk] = a[kk * lda + i]; two 16 x 16 transposes first.
void pack_a_cols(const float* a, int64_t lda, int64_t i0, int64_t m, int64_t k0, int64_t k, uint16_t* t0,
                 uint16_t* t1, uint16_t* t2, __mmask16& bad_lanes) {
  uint16_t* const t[3] = {t0, t1, t2};
  const __mmask16 rows = lanes(m - i0);
  __m512 lo[16], hi[16];
  for (int e = 0; e < 16; ++e) {
    lo[e] = k0 + e < k ? _mm512_maskz_loadu_ps(rows, a + (k0 + e) * lda + i0) : _mm512_setzero_ps();
    hi[e] = k0 + 16 + e < k ? _mm512_maskz_loadu_ps(rows, a + (k0 + 16 + e) * lda + i0) : _mm512_setzero_ps();
  }
  avx512::transpose16x16(lo);  // lo[r] = row i0 + r, k0 .. k0 + 16
  avx512::transpose16x16(hi);
  __m512i top = _mm512_setzero_si512();
  store_a_rows(lo, hi, t, top);
  if (bad(top)) bad_lanes = 1;
}

// --- packing op(B) ---------------------------------------------------------------------------
// Tiles of a block: base + ((t * steps + s) * 3 + part), t = 16-column tile of the block.

// op(B) = B stored k x n row-major: row r of a tile pairs rows k0 + 2r and k0 + 2r + 1.
void pack_b_rows(const float* b, int64_t ldb, int64_t j0, int64_t n, int64_t k0, int64_t k, uint16_t* t0,
                 uint16_t* t1, uint16_t* t2, __mmask16& bad_lanes) {
  uint16_t* const t[3] = {t0, t1, t2};
  const __mmask16 cols = lanes(n - j0);
  __m512 v[32];
  for (int e = 0; e < 32; ++e)
    v[e] = k0 + e < k ? _mm512_maskz_loadu_ps(cols, b + (k0 + e) * ldb + j0) : _mm512_setzero_ps();
  __m512i top = _mm512_setzero_si512();
  store_b_pairs(v, t, top);
  if (bad(top)) bad_lanes = 1;
}

// op(B) = B^T with B stored n x k: B's rows j0 .. j0 + 16 (k contiguous), two 16 x 16
// transposes into one vector per k, then as pack_b_rows.
void pack_b_cols(const float* b, int64_t ldb, int64_t j0, int64_t n, int64_t k0, int64_t k, uint16_t* t0,
                 uint16_t* t1, uint16_t* t2, __mmask16& bad_lanes) {
  uint16_t* const t[3] = {t0, t1, t2};
  __m512 v[32];
  for (int j = 0; j < 16; ++j) {
    const bool in = j0 + j < n;
    v[j] = in ? load_row(b, ldb, j0 + j, k0, k) : _mm512_setzero_ps();
    v[16 + j] = in && k0 + 16 < k ? load_row(b, ldb, j0 + j, k0 + 16, k) : _mm512_setzero_ps();
  }
  avx512::transpose16x16(v);  // v[e] = k0 + e over the 16 columns
  avx512::transpose16x16(v + 16);
  __m512i top = _mm512_setzero_si512();
  store_b_pairs(v, t, top);
  if (bad(top)) bad_lanes = 1;
}

// --- the 32 x 32 block ---------------------------------------------------------------------

// The sums of one C block over all steps, stored as a 32 x 32 block at out, rows ldo floats
// apart: the block's sums buffer (ldo = 32), or C itself when nothing is left to apply. Four independent accumulators:
// a tile product has ~4x the latency of its issue interval, so fewer chains stall the unit
// (a 32 x 16 block with separate big / small sums ran at 1/3 of the peak rate).
void block(const uint16_t* ap, const uint16_t* bp0, const uint16_t* bp1, int64_t steps, float* out, int64_t ldo) {
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  // Accumulators 0: (rows 0-15, cols 0-15), 1: (0-15, 16-31), 2: (16-31, 0-15), 3: (16-31, 16-31).
  // A halves in tiles 4, 5, B column tiles in 6, 7.
#define FASTNN_AMX_PRODUCTS  \
  _tile_dpbf16ps(0, 4, 6); \
  _tile_dpbf16ps(1, 4, 7); \
  _tile_dpbf16ps(2, 5, 6); \
  _tile_dpbf16ps(3, 5, 7)
  for (int64_t s = 0; s < steps; ++s) {
    const uint16_t* a = ap + s * 6 * kTile;  // part q, half h: a + (2q + h) * kTile
    const uint16_t* b0 = bp0 + s * 3 * kTile;  // part q: b + q * kTile
    const uint16_t* b1 = bp1 + s * 3 * kTile;
    _tile_loadd(6, b0, 64);  // B part 0
    _tile_loadd(7, b1, 64);
    _tile_loadd(4, a + 4 * kTile, 64);  // A part 2
    _tile_loadd(5, a + 5 * kTile, 64);
    FASTNN_AMX_PRODUCTS;                // a2 b0
    _tile_loadd(4, a + 2 * kTile, 64);  // A part 1
    _tile_loadd(5, a + 3 * kTile, 64);
    FASTNN_AMX_PRODUCTS;  // a1 b0
    _tile_loadd(6, b0 + kTile, 64);  // B part 1
    _tile_loadd(7, b1 + kTile, 64);
    FASTNN_AMX_PRODUCTS;  // a1 b1
    _tile_loadd(4, a, 64);  // A part 0
    _tile_loadd(5, a + kTile, 64);
    FASTNN_AMX_PRODUCTS;  // a0 b1
    _tile_loadd(6, b0 + 2 * kTile, 64);  // B part 2
    _tile_loadd(7, b1 + 2 * kTile, 64);
    FASTNN_AMX_PRODUCTS;  // a0 b2
    _tile_loadd(6, b0, 64);  // B part 0
    _tile_loadd(7, b1, 64);
    FASTNN_AMX_PRODUCTS;  // a0 b0, the big term last
  }
#undef FASTNN_AMX_PRODUCTS
  const int64_t stride = ldo * static_cast<int64_t>(sizeof(float));
  _tile_stored(0, out, stride);
  _tile_stored(1, out + 16, stride);
  _tile_stored(2, out + 16 * ldo, stride);
  _tile_stored(3, out + 16 * ldo + 16, stride);
}

// C[i0 + r][j0 + e] for r < rows, e < cols (<= 16) from a 16 x 16 tile of sums (rows ld apart).
void store_tile(const GemmArgs<float>& g, const float* sum, int64_t ld, int64_t i0, int rows, int64_t j0, int cols) {
  const __mmask16 mask = lanes(cols);
  const __m512 alpha = _mm512_set1_ps(g.alpha), beta = _mm512_set1_ps(g.beta);
  const __m512 bias = g.bias ? _mm512_maskz_loadu_ps(mask, g.bias + j0) : _mm512_setzero_ps();
  for (int r = 0; r < rows; ++r) {
    __m512 x = _mm512_mul_ps(alpha, _mm512_loadu_ps(sum + ld * r));
    float* c = g.c + (i0 + r) * g.ldc + j0;
    if (g.beta != 0.0f) x = _mm512_fmadd_ps(beta, _mm512_maskz_loadu_ps(mask, c), x);
    if (g.bias) x = _mm512_add_ps(x, bias);
    if (g.act == GemmAct::relu) x = _mm512_max_ps(_mm512_setzero_ps(), x);  // max(0, NaN) = NaN
    _mm512_mask_storeu_ps(c, mask, x);
    if (g.act == GemmAct::tanh) {
#pragma omp simd
      for (int e = 0; e < cols; ++e) c[e] = simd_math::tanh_f32(c[e]);
    }
  }
}

// The product is computed as C' = A' B' (M' x N'), tile operands A' (packed by pack_a_*) and B'
// (pack_b_*): C' = C, A' = op(A), B' = op(B), or, swapped, C' = C^T, A' = op(B)^T,
// B' = op(A)^T. Swapping changes which operand needs the transposing pack (the costly one:
// a 16 x 16 transpose per 256 values): for C = X W^T (a Linear forward) it moves the transpose
// from W to the smaller X. The sums are the same either way; the swapped epilogue transposes
// each 16 x 16 tile of sums before storing it.
struct Plan {
  const GemmArgs<float>& g;
  bool swapped;
  int64_t m, n, k;  // of C'
  const float* a;   // A': a_rows ? a[i * lda + kk] : a[kk * lda + i]
  int64_t lda;
  bool a_rows;
  const float* b;  // B': b_rows ? b[kk * ldb + j] : b[j * ldb + kk]
  int64_t ldb;
  bool b_rows;
  int64_t steps;

  Plan(const GemmArgs<float>& args, bool swap) : g(args), swapped(swap), k(args.k), steps((args.k + 31) / 32) {
    if (!swap) {
      m = g.m, n = g.n;
      a = g.a, lda = g.lda, a_rows = !g.trans_a;
      b = g.b, ldb = g.ldb, b_rows = !g.trans_b;
    } else {
      m = g.n, n = g.m;
      a = g.b, lda = g.ldb, a_rows = g.trans_b;
      b = g.a, ldb = g.lda, b_rows = g.trans_a;
    }
  }

  // Values of C' that go through a transposing pack.
  int64_t transposed() const { return (a_rows ? 0 : m * k) + (b_rows ? 0 : n * k); }

  // The six tiles of A' rows i0 .. i0 + 32, step s.
  void pack_a(int64_t i0, int64_t s, uint16_t* t, __mmask16& bad) const {
    for (int h = 0; h < 2; ++h) {
      const int64_t r0 = i0 + 16 * h;
      if (a_rows)
        pack_a_rows(a, lda, r0, m, s * 32, k, t + h * kTile, t + (2 + h) * kTile, t + (4 + h) * kTile, bad);
      else
        pack_a_cols(a, lda, r0, m, s * 32, k, t + h * kTile, t + (2 + h) * kTile, t + (4 + h) * kTile, bad);
    }
  }
  // The three tiles of B' columns j0 .. j0 + 16, step s.
  void pack_b(int64_t j0, int64_t s, uint16_t* t, __mmask16& bad) const {
    if (b_rows)
      pack_b_rows(b, ldb, j0, n, s * 32, k, t, t + kTile, t + 2 * kTile, bad);
    else
      pack_b_cols(b, ldb, j0, n, s * 32, k, t, t + kTile, t + 2 * kTile, bad);
  }

  // Whether a full 32 x 32 block of C' at (i0, j0) can take the tile unit's sums as they are
  // (C = A B: alpha 1, beta 0, no bias, no activation, not transposed): then block() stores its
  // accumulators into C itself, without the sums buffer and the epilogue's pass.
  bool direct(int64_t i0, int64_t j0) const {
    return !swapped && g.alpha == 1.0f && g.beta == 0.0f && g.bias == nullptr && g.act == GemmAct::none &&
           i0 + 32 <= m && j0 + 32 <= n;
  }

  // Runs the block of C' at (i0, j0): the tile products, then the epilogue into C.
  void run(const uint16_t* ap, const uint16_t* bp0, const uint16_t* bp1, float* sums, int64_t i0, int64_t j0) const {
    if (direct(i0, j0)) return block(ap, bp0, bp1, steps, g.c + i0 * g.ldc + j0, g.ldc);
    block(ap, bp0, bp1, steps, sums, 32);
    store(sums, i0, j0);
  }

  // Stores the 32 x 32 block of C' at (i0, j0) from its sums (a 32 x 32 row-major block).
  void store(float* sums, int64_t i0, int64_t j0) const {
    for (int h = 0; h < 2; ++h)
      for (int ct = 0; ct < 2; ++ct) {
        const int64_t r0 = i0 + 16 * h, c0 = j0 + 16 * ct;
        if (r0 >= m || c0 >= n) continue;
        const int rows = static_cast<int>(std::min<int64_t>(16, m - r0));
        const int cols = static_cast<int>(std::min<int64_t>(16, n - c0));
        float* sum = sums + 16 * h * 32 + 16 * ct;
        if (!swapped) {
          store_tile(g, sum, 32, r0, rows, c0, cols);
        } else {
          __m512 t[16];
          for (int r = 0; r < 16; ++r) t[r] = _mm512_loadu_ps(sum + 32 * r);
          avx512::transpose16x16(t);
          for (int r = 0; r < 16; ++r) _mm512_storeu_ps(sum + 32 * r, t[r]);
          store_tile(g, sum, 32, c0, cols, r0, rows);  // C rows = C' columns
        }
      }
  }

  // C' rows [i0, i0 + rows) or columns [j0, j0 + cols) by the float32 kernel (NaN / inf in the
  // operand values that feed them), one thread.
  void fallback(bool rows_of_c_prime, int64_t first, int64_t count) const {
    GemmArgs<float> part = g;
    const bool c_rows = rows_of_c_prime != swapped;  // rows of C itself?
    if (c_rows) {
      part.m = count;
      part.a = g.a + (g.trans_a ? first : first * g.lda);
      part.c = g.c + first * g.ldc;
    } else {
      part.n = count;
      part.b = g.b + (g.trans_b ? first * g.ldb : first);
      part.c = g.c + first;
      if (g.bias) part.bias = g.bias + first;
    }
    isa_avx512::gemm<float>(part);  // inside the parallel region: one thread
  }
};

// A thread's state for one call: its packed slice of one operand and the block sums, and the
// tile registers configured for the call's duration (released after: no thread keeps the
// 8 KiB tile state live).
struct Worker {
  CachedBuffer buf;
  explicit Worker(size_t bytes) : buf(bytes) { configure_tiles(); }
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;
  ~Worker() { _tile_release(); }
};

constexpr int64_t kItem = 64;  // rows or columns of C' per work item (two 32-wide blocks)

}  // namespace

std::atomic<uint64_t> g_calls{0};

// One product on AMX, or false (nothing written) when an operand to pack whole is too big or
// holds NaN / inf.
bool gemm_once(const GemmArgs<float>& g) {
  const Plan unswapped(g, false), swapped(g, true);
  const Plan& pl = swapped.transposed() < unswapped.transposed() ? swapped : unswapped;
  const int64_t steps = pl.steps;
  const int64_t a_panels = (pl.m + 31) / 32, b_pairs = (pl.n + 31) / 32;  // 32-wide blocks of C'
  const int64_t a_bytes = a_panels * steps * 6 * kTile * 2, b_bytes = b_pairs * 2 * steps * 3 * kTile * 2;
  // One operand is packed whole, up front (all threads); items then take kItem rows (or
  // columns) of C', pack their slice of the other and run it against the whole one. Items
  // should write whole rows of C: in a training step C is not in the cache, and strips 64
  // columns wide ran 1.2 - 1.4x slower (512 x 128 x 784 TN 362 -> 461 us; 784 x 128 x 512 TN,
  // swapped, 0.77x -> 1.1x PyTorch). Rows of C are rows of C' (whole B') or, swapped, columns
  // of C' (whole A'). Unless that operand would not stay in a core's L2: then the other if it
  // does (128 x 784 x 512 NT, swapped: A' = W is 2.4 MB; whole A' 501 us, whole B' 370 us),
  // else the smaller.
  const int64_t l2 = l2_cache_bytes() > 0 ? l2_cache_bytes() : int64_t{1} << 20, fits = l2 * 3 / 4;
  const bool prefer_a = pl.swapped;
  bool whole_a = prefer_a;
  if ((prefer_a ? a_bytes : b_bytes) > fits)
    whole_a = (prefer_a ? b_bytes : a_bytes) <= fits ? !prefer_a : a_bytes < b_bytes;
  if ((whole_a ? a_bytes : b_bytes) > kMaxPackedWhole) return false;
  CachedBuffer whole_buf(static_cast<size_t>(whole_a ? a_bytes : b_bytes));
  uint16_t* const whole = whole_buf.as<uint16_t>();
  std::atomic<bool> whole_bad{false};
  const int64_t units = whole_a ? a_panels * steps : b_pairs * 2 * steps;
  parallel_for(units, 16, [&](int64_t w0, int64_t w1) {
    __mmask16 bad = 0;
    for (int64_t w = w0; w < w1; ++w) {
      const int64_t blk = w / steps, s = w % steps;
      if (whole_a)
        pl.pack_a(blk * 32, s, whole + (blk * steps + s) * 6 * kTile, bad);
      else
        pl.pack_b(blk * 16, s, whole + (blk * steps + s) * 3 * kTile, bad);
    }
    if (bad) whole_bad.store(true, std::memory_order_relaxed);
  });
  if (whole_bad.load()) return false;  // NaN / inf in that operand: the float32 kernel for all of C

  const int64_t other = whole_a ? pl.n : pl.m;  // C' columns (or rows) the items share out
  const int64_t items = (other + kItem - 1) / kItem;
  const int64_t slice_bytes = (kItem / 32) * steps * 6 * kTile * 2;  // 64 rows of A' = 64 columns of B'
  parallel_items(
      items, [&] { return Worker(static_cast<size_t>(slice_bytes + 4 * 256 * 4)); },
      [&](int64_t item, Worker& w) {
        uint16_t* const slice = w.buf.as<uint16_t>();
        float* const sums = reinterpret_cast<float*>(slice + slice_bytes / 2);
        const int64_t first = item * kItem, count = std::min(kItem, other - first);
        const int64_t blocks = (count + 31) / 32;
        __mmask16 bad = 0;
        for (int64_t blk = 0; blk < blocks; ++blk)
          for (int64_t s = 0; s < steps; ++s) {
            if (whole_a) {
              for (int c = 0; c < 2; ++c)
                pl.pack_b(first + 32 * blk + 16 * c, s, slice + ((2 * blk + c) * steps + s) * 3 * kTile, bad);
            } else {
              pl.pack_a(first + 32 * blk, s, slice + (blk * steps + s) * 6 * kTile, bad);
            }
          }
        if (bad) return pl.fallback(/*rows_of_c_prime=*/!whole_a, first, count);
        if (whole_a) {
          for (int64_t p = 0; p < a_panels; ++p)
            for (int64_t blk = 0; blk < blocks; ++blk) {
              const uint16_t* b0 = slice + 2 * blk * steps * 3 * kTile;
              pl.run(whole + p * steps * 6 * kTile, b0, b0 + steps * 3 * kTile, sums, p * 32, first + 32 * blk);
            }
        } else {
          for (int64_t blk = 0; blk < blocks; ++blk)
            for (int64_t q = 0; q < b_pairs; ++q) {
              const uint16_t* b0 = whole + 2 * q * steps * 3 * kTile;
              pl.run(slice + blk * steps * 6 * kTile, b0, b0 + steps * 3 * kTile, sums, first + 32 * blk, 32 * q);
            }
        }
      });
  return true;
}

// k per chunk when the packed operands would pass kMaxPackedWhole (2048^3: 25 MB each).
int64_t k_chunk(const GemmArgs<float>& g) {
  const double smaller = 6.0 * double(std::min(g.m, g.n) + 31) * double(g.k + 31);  // bytes packed
  const int64_t chunks = static_cast<int64_t>(smaller / double(kMaxPackedWhole)) + 1;
  return chunks <= 1 ? g.k : ((g.k + chunks - 1) / chunks + 31) / 32 * 32;
}

bool gemm(const GemmArgs<float>& g) {
  const int64_t side = std::min(g.m, g.n);
  if (side < kMinSide || g.k < kMinK || double(g.m) * double(g.n) * double(g.k) < kMinMacs) return false;
  if (g.k < kLongK && side < kShortKMinSide) return false;
  const int64_t kc = k_chunk(g);
  if (kc >= g.k) {
    if (!gemm_once(g)) return false;
    g_calls.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  // A product too big to pack whole: C accumulated over k chunks in float32, as the AVX-512
  // kernel's K blocks do (bias with the first chunk, the activation with the last). A chunk that
  // cannot run on AMX (NaN / inf in it) runs on the AVX-512 kernel, with the same beta.
  for (int64_t k0 = 0; k0 < g.k; k0 += kc) {
    GemmArgs<float> part = g;
    part.k = std::min(kc, g.k - k0);
    part.a = g.a + (g.trans_a ? k0 * g.lda : k0);
    part.b = g.b + (g.trans_b ? k0 : k0 * g.ldb);
    if (k0 > 0) {
      part.beta = 1.0f;
      part.bias = nullptr;
    }
    if (k0 + part.k < g.k) part.act = GemmAct::none;
    if (!gemm_once(part)) isa_avx512::gemm<float>(part);
  }
  g_calls.fetch_add(1, std::memory_order_relaxed);
  return true;
}

uint64_t calls() { return g_calls.load(std::memory_order_relaxed); }

}  // namespace amx
}  // namespace fastnn
