// Winograd F(2x2, 3x3): the transforms and products of a block of images (see winograd.h),
// written once and compiled per ISA: the including file defines FASTNN_ISA_NS and the build gives
// it the matching -m flags.
//
// Transforms: each image's planes are first transposed to channel-last (a zero-bordered padded
// plane, pixel-major, channels contiguous; 16 x 16 blocks, 16 planes at a time: measured 2-3 %
// faster than sweeping all planes at once), so every tile's transform is a loop over channels
// that the compiler vectorizes with full vectors whatever the plane's size; the results go out
// the same way (channel-last plane, then transposed back to NCHW, cropped). Only additions and
// subtractions (the 1/2 of G is applied to the weights, in double, in conv_winograd.cpp), each
// output summed in one fixed order; dx's overlapping tiles are added tile by tile in order.
//
// Products: 16 per block, all operands read in place (tile-major layout). With AVX-512, float:
// a register-blocked micro-kernel (up to 12 rows x 32 columns, 24 accumulators) where the rows
// are tiles (or input channels for dU) and the columns are channels: no packing, no edge waste
// for any tile count, no per-call overhead (measured ~106 GFLOP/s of the core's 118 on the
// 14x14 layer, against ~75 for 16 fastnn::gemm calls per block). Otherwise fastnn::gemm on the
// same matrices.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <vector>

#if defined(__AVX512F__)
#include <immintrin.h>

#include "avx512_transpose.h"
// GCC 12 warns inside its own avx512fintrin.h (the _mm512_undefined_* "__Y = __Y" idiom of the
// unpack intrinsics); a known false positive, silenced as in gemm_avx512.cpp.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#include "gemm.h"
#include "winograd.h"

#ifndef FASTNN_ISA_NS
#error "define FASTNN_ISA_NS before including winograd_impl.h"
#endif

namespace fastnn::FASTNN_ISA_NS {
namespace {

// A channel-last plane: pixel j's channel vector at base + (j / width) * rs + (j % width) * cs.
template <typename P>
struct PixelGrid {
  P base;  // T* (written) or const T* (read)
  int64_t width, rs, cs;
};

// The addresses of the pixels of a plane in order, n at a time, by stepping the row and the
// column: the 64-bit division (and modulo) per pixel these transposes did before took about a
// third of the output transform's time (Xeon, AVX-512, the (128, 32, 14, 14) -> 64 layer).
template <typename P>
class PixelWalk {
 public:
  explicit PixelWalk(const PixelGrid<P>& g) : g_(g) {}
  void next(int64_t n, P* out) {
    for (int64_t i = 0; i < n; ++i) {
      out[i] = g_.base + row_ * g_.rs + col_ * g_.cs;
      if (++col_ == g_.width) {
        col_ = 0;
        ++row_;
      }
    }
  }

 private:
  PixelGrid<P> g_;
  int64_t row_ = 0, col_ = 0;
};

// Planes to channel-last: for the `c` planes of `hw` pixels at src (plane ci at ci * hw),
// pixel j's [ci] = src[ci * hw + j]. Pixels are taken in runs of 16 along the planes
// (sequential reads of 16 planes at a time).
template <typename T>
void planes_to_pixels(const T* src, int64_t c, int64_t hw, const PixelGrid<T*>& grid) {
  constexpr int64_t kB = 16;
  PixelWalk<T*> walk(grid);
  T* px[kB];
  for (int64_t j0 = 0; j0 < hw; j0 += kB) {
    const int64_t nj = std::min(hw - j0, kB);
    walk.next(nj, px);
    for (int64_t c0 = 0; c0 < c; c0 += kB) {
      const int64_t c1 = std::min(c, c0 + kB);
      for (int64_t j = 0; j < nj; ++j)
        for (int64_t ci = c0; ci < c1; ++ci) px[j][ci] = src[ci * hw + j0 + j];
    }
  }
}

// The inverse: dst[ci * hw + j] = pixel j's [ci].
template <typename T>
void pixels_to_planes(const PixelGrid<const T*>& grid, T* dst, int64_t c, int64_t hw) {
  constexpr int64_t kB = 16;
  PixelWalk<const T*> walk(grid);
  const T* px[kB];
  for (int64_t j0 = 0; j0 < hw; j0 += kB) {
    const int64_t nj = std::min(hw - j0, kB);
    walk.next(nj, px);
    for (int64_t c0 = 0; c0 < c; c0 += kB) {
      const int64_t c1 = std::min(c, c0 + kB);
      for (int64_t ci = c0; ci < c1; ++ci)
        for (int64_t j = 0; j < nj; ++j) dst[ci * hw + j0 + j] = px[j][ci];
    }
  }
}

// One tile's output transform over n channels: y = A^T M A + bias, the tile's 2 x 2 outputs at
// yo (row a at yo + a * rs, pixel columns oc apart, channels contiguous); M_xi's values at
// mt + xi * xs. Shared by the separate and the fused (AVX-512) paths: the same sums in the same
// order.
template <typename T>
inline void output_tile(const T* mt, int64_t xs, T* yo, int64_t rs, int64_t oc, const T* b, int64_t n) {
#pragma omp simd
  for (int64_t k = 0; k < n; ++k) {
    T z[2][4];  // A^T M: z0 = M0 + M1 + M2, z1 = M1 - M2 - M3
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) {
      const T m0 = mt[j * xs + k], m1 = mt[(4 + j) * xs + k], m2 = mt[(8 + j) * xs + k], m3 = mt[(12 + j) * xs + k];
      z[0][j] = m0 + m1 + m2;
      z[1][j] = m1 - m2 - m3;
    }
#pragma GCC unroll 2
    for (int a = 0; a < 2; ++a) {  // (A^T M) A
      yo[a * rs + k] = z[a][0] + z[a][1] + z[a][2] + b[k];
      yo[a * rs + oc + k] = z[a][1] - z[a][2] - z[a][3] + b[k];
    }
  }
}

#if defined(__AVX512F__)
using avx512::transpose16x16;  // avx512_transpose.h (shared with the GEMM packing)

inline __mmask16 lanes(int64_t n) { return static_cast<__mmask16>((1u << n) - 1u); }

// float: 16 x 16 blocks (16 pixels x 16 channels) transposed in registers, masked at the edges.
inline void planes_to_pixels(const float* src, int64_t c, int64_t hw, const PixelGrid<float*>& grid) {
  PixelWalk<float*> walk(grid);
  float* px[16];
  for (int64_t j0 = 0; j0 < hw; j0 += 16) {
    const int64_t nj = std::min<int64_t>(16, hw - j0);
    walk.next(nj, px);
    const __mmask16 load = lanes(nj);
    for (int64_t c0 = 0; c0 < c; c0 += 16) {
      const int64_t nc = std::min<int64_t>(16, c - c0);
      const __mmask16 store = lanes(nc);
      __m512 r[16];
      for (int i = 0; i < 16; ++i)
        r[i] = i < nc ? _mm512_maskz_loadu_ps(load, src + (c0 + i) * hw + j0) : _mm512_setzero_ps();
      transpose16x16(r);
      for (int j = 0; j < nj; ++j) _mm512_mask_storeu_ps(px[j] + c0, store, r[j]);
    }
  }
}

inline void pixels_to_planes(const PixelGrid<const float*>& grid, float* dst, int64_t c, int64_t hw) {
  PixelWalk<const float*> walk(grid);
  const float* px[16];
  for (int64_t j0 = 0; j0 < hw; j0 += 16) {
    const int64_t nj = std::min<int64_t>(16, hw - j0);
    walk.next(nj, px);
    const __mmask16 store = lanes(nj);
    for (int64_t c0 = 0; c0 < c; c0 += 16) {
      const int64_t nc = std::min<int64_t>(16, c - c0);
      const __mmask16 load = lanes(nc);
      __m512 r[16];
      for (int j = 0; j < 16; ++j) r[j] = j < nj ? _mm512_maskz_loadu_ps(load, px[j] + c0) : _mm512_setzero_ps();
      transpose16x16(r);
      for (int i = 0; i < nc; ++i) _mm512_mask_storeu_ps(dst + (c0 + i) * hw + j0, store, r[i]);
    }
  }
}

// C[i, j] (+)= sum_p A(i, p) B[p, j] for a tile of R rows and NV vectors of 16 columns (the last
// masked): A(i, p) = a[i * a_rs + p * a_ks] broadcast, B row p at b + p * ldb, C row i at
// c + i * ldc. Each output is one sequential sum over p, then added to C: a fixed order.
template <int R, int NV>
void tile_kernel(int64_t k, const float* a, int64_t a_rs, int64_t a_ks, const float* b, int64_t ldb, float* c,
                 int64_t ldc, __mmask16 last, bool accumulate) {
  __m512 acc[R][NV];
#pragma GCC unroll 12
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();
  for (int64_t p = 0; p < k; ++p) {
    __m512 bv[NV];
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v)
      bv[v] = v + 1 < NV ? _mm512_loadu_ps(b + v * 16) : _mm512_maskz_loadu_ps(last, b + v * 16);
#pragma GCC unroll 12
    for (int r = 0; r < R; ++r) {
      const __m512 av = _mm512_set1_ps(a[r * a_rs]);
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);
    }
    a += a_ks;
    b += ldb;
  }
#pragma GCC unroll 12
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) {
      float* cp = c + r * ldc + v * 16;
      const __mmask16 mk = v + 1 < NV ? static_cast<__mmask16>(0xffff) : last;
      __m512 x = acc[r][v];
      if (accumulate) x = _mm512_add_ps(_mm512_maskz_loadu_ps(mk, cp), x);
      _mm512_mask_storeu_ps(cp, mk, x);
    }
}

template <int NV>
void tile_rows(int rows, int64_t k, const float* a, int64_t a_rs, int64_t a_ks, const float* b, int64_t ldb,
               float* c, int64_t ldc, __mmask16 last, bool accumulate) {
  switch (rows) {
#define FASTNN_ROWS(R) \
  case R: return tile_kernel<R, NV>(k, a, a_rs, a_ks, b, ldb, c, ldc, last, accumulate);
    FASTNN_ROWS(1) FASTNN_ROWS(2) FASTNN_ROWS(3) FASTNN_ROWS(4) FASTNN_ROWS(5) FASTNN_ROWS(6)
    FASTNN_ROWS(7) FASTNN_ROWS(8) FASTNN_ROWS(9) FASTNN_ROWS(10) FASTNN_ROWS(11) FASTNN_ROWS(12)
#undef FASTNN_ROWS
    default: return;
  }
}

// C (rows x n) (+)= A (rows x k) @ B (k x n), A(i, p) = a[i * a_rs + p * a_ks]: column panels of
// 32 (its B panel stays in L1 while the row tiles sweep it), rows in tiles of at most 12 of
// balanced sizes (49 rows: 10, 10, 10, 10, 9 rather than 12, 12, 12, 12, 1, whose 1-row tile
// would wait on the FMA latency with 2 accumulators).
void product(int64_t rows, int64_t n, int64_t k, const float* a, int64_t a_rs, int64_t a_ks, const float* b,
             int64_t ldb, float* c, int64_t ldc, bool accumulate) {
  const int64_t row_tiles = (rows + 11) / 12;
  for (int64_t j0 = 0; j0 < n; j0 += 32) {
    const int64_t w = std::min<int64_t>(32, n - j0);
    const __mmask16 last = lanes(w > 16 ? w - 16 : w);
    for (int64_t t = 0; t < row_tiles; ++t) {
      const int64_t i0 = rows * t / row_tiles;
      const int r = static_cast<int>(rows * (t + 1) / row_tiles - i0);
      if (w > 16)
        tile_rows<2>(r, k, a + i0 * a_rs, a_rs, a_ks, b + j0, ldb, c + i0 * ldc + j0, ldc, last, accumulate);
      else
        tile_rows<1>(r, k, a + i0 * a_rs, a_rs, a_ks, b + j0, ldb, c + i0 * ldc + j0, ldc, last, accumulate);
    }
  }
}

// The forward's products and output transform in one pass (float, AVX-512): a block's rows are
// cut into the same balanced row tiles as product(); for each row tile and 32-column panel the
// 16 products go to an L1 buffer (16 x 12 x 32 floats) and `transform` reads them from there,
// so the 16 product matrices M never travel to L2 and back. Every value is the same sum in the
// same order as product() followed by the separate transform: bit-identical. Measured (1
// thread, (128, 32, 14, 14) -> 64, best of 8 interleaved runs): forward 4.24 -> 3.92 ms. The same
// fusion of the backward's data products and input-gradient transform measured no gain (its
// dx accumulator then spans the block and leaves L1), so the backward keeps the separate steps.
constexpr int64_t kFusedRows = 12, kFusedCols = 32, kFusedXs = kFusedRows * kFusedCols;

template <class Transform>
void fused_row_tiles(int64_t rows, int64_t n, int64_t k, const float* a, int64_t as, const float* b, int64_t bs,
                     Transform&& transform) {
  alignas(64) float buf[16 * kFusedXs];
  const int64_t row_tiles = (rows + kFusedRows - 1) / kFusedRows;
  for (int64_t t = 0; t < row_tiles; ++t) {
    const int64_t i0 = rows * t / row_tiles;
    const int r = static_cast<int>(rows * (t + 1) / row_tiles - i0);
    for (int64_t j0 = 0; j0 < n; j0 += kFusedCols) {
      const int64_t w = std::min<int64_t>(kFusedCols, n - j0);
      const __mmask16 last = lanes(w > 16 ? w - 16 : w);
      for (int xi = 0; xi < 16; ++xi) {
        const float* ax = a + xi * as + i0 * k;  // A_xi (rows x k) at xi * as, B_xi (k x n) at xi * bs
        const float* bx = b + xi * bs + j0;
        if (w > 16)
          tile_rows<2>(r, k, ax, k, 1, bx, n, buf + xi * kFusedXs, kFusedCols, last, false);
        else
          tile_rows<1>(r, k, ax, k, 1, bx, n, buf + xi * kFusedXs, kFusedCols, last, false);
      }
      transform(i0, r, j0, w, static_cast<const float*>(buf));
    }
  }
}
#endif  // __AVX512F__

template <typename T>
constexpr bool kOwnProducts =
#if defined(__AVX512F__)
    std::is_same_v<T, float>;
#else
    false;
#endif

}  // namespace

template <typename T>
void winograd_input_transform(const T* x, T* v, const WinogradGeom& g, int64_t images, int64_t c, int64_t ms) {
  const int64_t pcw = 2 * g.tw + 2, plane = g.h * g.w, tiles = g.tiles(), rs = pcw * c;
  // The image's padded plane, channel-last: pixel (R, S) (input (R - PH, S - PW)) at
  // (R * pcw + S) * c. Padding stays zero from image to image: only input pixels are written.
  std::vector<T> pad(static_cast<size_t>((2 * g.th + 2) * rs), T(0));
  for (int64_t n = 0; n < images; ++n) {
    const T* xn = x + n * c * plane;
    T* const interior = pad.data() + g.ph * rs + g.pw * c;
    planes_to_pixels(xn, c, plane, PixelGrid<T*>{interior, g.w, rs, c});
    for (int64_t r = 0; r < g.th; ++r) {
      for (int64_t s = 0; s < g.tw; ++s) {
        const T* d = pad.data() + 2 * r * rs + 2 * s * c;
        T* o = v + (n * tiles + r * g.tw + s) * c;
#pragma omp simd
        for (int64_t k = 0; k < c; ++k) {
          T t[4][4];  // B^T d: rows t0 = d0 - d2, t1 = d1 + d2, t2 = d2 - d1, t3 = d1 - d3
#pragma GCC unroll 4
          for (int j = 0; j < 4; ++j) {
            const T d0 = d[j * c + k], d1 = d[rs + j * c + k], d2 = d[2 * rs + j * c + k], d3 = d[3 * rs + j * c + k];
            t[0][j] = d0 - d2;
            t[1][j] = d1 + d2;
            t[2][j] = d2 - d1;
            t[3][j] = d1 - d3;
          }
#pragma GCC unroll 4
          for (int i = 0; i < 4; ++i) {  // (B^T d) B: the same on columns
            o[(4 * i) * ms + k] = t[i][0] - t[i][2];
            o[(4 * i + 1) * ms + k] = t[i][1] + t[i][2];
            o[(4 * i + 2) * ms + k] = t[i][2] - t[i][1];
            o[(4 * i + 3) * ms + k] = t[i][1] - t[i][3];
          }
        }
      }
    }
  }
}

template <typename T>
void winograd_output_transform(const T* m, T* y, const T* bias, const WinogradGeom& g, int64_t images, int64_t oc,
                               int64_t ms) {
  const int64_t yc = 2 * g.tw, plane = g.oh * g.ow, tiles = g.tiles(), rs = yc * oc;
  std::vector<T> out(static_cast<size_t>(2 * g.th * rs));  // the tiles' outputs, channel-last
  std::vector<T> zero(static_cast<size_t>(oc), T(0));
  const T* b = bias ? bias : zero.data();
  for (int64_t n = 0; n < images; ++n) {
    for (int64_t r = 0; r < g.th; ++r) {
      for (int64_t s = 0; s < g.tw; ++s) {
        const T* mt = m + (n * tiles + r * g.tw + s) * oc;
        output_tile(mt, ms, out.data() + 2 * r * rs + 2 * s * oc, rs, oc, b, oc);
      }
    }
    const T* const res = out.data();
    pixels_to_planes(PixelGrid<const T*>{res, g.ow, rs, oc}, y + n * oc * plane, oc, plane);
  }
}

template <typename T>
void winograd_grad_output_transform(const T* dy, T* dm, const WinogradGeom& g, int64_t images, int64_t oc,
                                    int64_t ms, double* db) {
  const int64_t yc = 2 * g.tw, plane = g.oh * g.ow, tiles = g.tiles(), rs = yc * oc;
  // dy channel-last, zero past OH and OW (only the first OH rows' first OW pixels are written)
  std::vector<T> dyt(static_cast<size_t>(2 * g.th * rs), T(0));
  for (int64_t n = 0; n < images; ++n) {
    const T* dn = dy + n * oc * plane;
    T* const dst = dyt.data();
    planes_to_pixels(dn, oc, plane, PixelGrid<T*>{dst, g.ow, rs, oc});
    if (db)  // from the channel-last copy while it is in cache: one more pass over dy cost ~6 % of dw
      for (int64_t r = 0; r < g.oh; ++r)
        for (int64_t q = 0; q < g.ow; ++q) {
          const T* px = dst + r * rs + q * oc;
#pragma omp simd
          for (int64_t k = 0; k < oc; ++k) db[k] += static_cast<double>(px[k]);
        }
    for (int64_t r = 0; r < g.th; ++r) {
      for (int64_t s = 0; s < g.tw; ++s) {
        const T* d = dyt.data() + 2 * r * rs + 2 * s * oc;
        T* o = dm + (n * tiles + r * g.tw + s) * oc;
#pragma omp simd
        for (int64_t k = 0; k < oc; ++k) {
          const T e00 = d[k], e01 = d[oc + k], e10 = d[rs + k], e11 = d[rs + oc + k];
          // A dY: rows R0 = dY0, R1 = dY0 + dY1, R2 = dY0 - dY1, R3 = -dY1; then the columns
          const T q[4][2] = {{e00, e01}, {e00 + e10, e01 + e11}, {e00 - e10, e01 - e11}, {-e10, -e11}};
#pragma GCC unroll 4
          for (int i = 0; i < 4; ++i) {
            o[(4 * i) * ms + k] = q[i][0];
            o[(4 * i + 1) * ms + k] = q[i][0] + q[i][1];
            o[(4 * i + 2) * ms + k] = q[i][0] - q[i][1];
            o[(4 * i + 3) * ms + k] = -q[i][1];
          }
        }
      }
    }
  }
}

template <typename T>
void winograd_grad_input_transform(const T* dv, T* dx, const WinogradGeom& g, int64_t images, int64_t c,
                                   int64_t ms) {
  const int64_t pcw = 2 * g.tw + 2, plane = g.h * g.w, tiles = g.tiles(), rs = pcw * c;
  std::vector<T> dxt(static_cast<size_t>((2 * g.th + 2) * rs));  // the padded plane, channel-last
  for (int64_t n = 0; n < images; ++n) {
    std::fill(dxt.begin(), dxt.end(), T(0));
    for (int64_t r = 0; r < g.th; ++r) {
      for (int64_t s = 0; s < g.tw; ++s) {  // tiles in order: a fixed sum where they overlap
        const T* vt = dv + (n * tiles + r * g.tw + s) * c;
        T* d = dxt.data() + 2 * r * rs + 2 * s * c;
#pragma omp simd
        for (int64_t k = 0; k < c; ++k) {
          // B X B^T with (B X)[0] = X0, [1] = X1 - X2 + X3, [2] = X1 + X2 - X0, [3] = -X3
          T q[4][4];
#pragma GCC unroll 4
          for (int j = 0; j < 4; ++j) {
            const T x0 = vt[j * ms + k], x1 = vt[(4 + j) * ms + k], x2 = vt[(8 + j) * ms + k],
                    x3 = vt[(12 + j) * ms + k];
            q[0][j] = x0;
            q[1][j] = x1 - x2 + x3;
            q[2][j] = x1 + x2 - x0;
            q[3][j] = -x3;
          }
#pragma GCC unroll 4
          for (int a = 0; a < 4; ++a) {
            T* row = d + a * rs + k;
            row[0] += q[a][0];
            row[c] += q[a][1] - q[a][2] + q[a][3];
            row[2 * c] += q[a][1] + q[a][2] - q[a][0];
            row[3 * c] -= q[a][3];
          }
        }
      }
    }
    const T* const interior = dxt.data() + g.ph * rs + g.pw * c;
    pixels_to_planes(PixelGrid<const T*>{interior, g.w, rs, c}, dx + n * c * plane, c, plane);
  }
}

template <typename T>
void winograd_forward_products(const T* v, const T* u, T* m, int64_t tiles, int64_t c, int64_t oc, int64_t vs,
                               int64_t ms) {
  for (int xi = 0; xi < 16; ++xi) {
#if defined(__AVX512F__)
    if constexpr (kOwnProducts<T>) {
      product(tiles, oc, c, v + xi * vs, c, 1, u + xi * c * oc, oc, m + xi * ms, oc, false);
      continue;
    }
#endif
    gemm<T>(false, false, tiles, oc, c, T(1), v + xi * vs, c, u + xi * c * oc, oc, T(0), m + xi * ms, oc);
  }
}

template <typename T>
void winograd_data_products(const T* dm, const T* ut, T* dv, int64_t tiles, int64_t c, int64_t oc, int64_t ms,
                            int64_t vs) {
  for (int xi = 0; xi < 16; ++xi) {
#if defined(__AVX512F__)
    if constexpr (kOwnProducts<T>) {
      product(tiles, c, oc, dm + xi * ms, oc, 1, ut + xi * oc * c, c, dv + xi * vs, c, false);
      continue;
    }
#endif
    gemm<T>(false, false, tiles, c, oc, T(1), dm + xi * ms, oc, ut + xi * oc * c, c, T(0), dv + xi * vs, c);
  }
}

template <typename T>
void winograd_weight_products(const T* v, const T* dm, T* du, bool accumulate, int64_t tiles, int64_t c, int64_t oc,
                              int64_t vs, int64_t ms) {
  for (int xi = 0; xi < 16; ++xi) {
#if defined(__AVX512F__)
    if constexpr (kOwnProducts<T>) {
      // rows: input channels (A(i, t) = V_xi[t, i]), k: the tiles
      product(c, oc, tiles, v + xi * vs, 1, c, dm + xi * ms, oc, du + xi * c * oc, oc, accumulate);
      continue;
    }
#endif
    gemm<T>(true, false, c, oc, tiles, T(1), v + xi * vs, c, dm + xi * ms, oc, accumulate ? T(1) : T(0),
            du + xi * c * oc, oc);
  }
}

template <typename T>
void winograd_forward_block(const T* v, const T* u, T* m, T* y, const T* bias, const WinogradGeom& g, int64_t images,
                            int64_t c, int64_t oc, int64_t vs, int64_t ms) {
#if defined(__AVX512F__)
  if constexpr (kOwnProducts<T>) {
    (void)m;
    (void)ms;
    const int64_t yc = 2 * g.tw, plane = g.oh * g.ow, tiles = g.tiles(), rs = yc * oc, img = 2 * g.th * rs;
    // the block's outputs, channel-last: every element is written, so not zeroed
    std::unique_ptr<T[]> out(new T[static_cast<size_t>(images * img)]);
    std::vector<T> zero(static_cast<size_t>(oc), T(0));
    const T* b = bias ? bias : zero.data();
    fused_row_tiles(images * tiles, oc, c, v, vs, u, c * oc, [&](int64_t i0, int r, int64_t j0, int64_t w, const T* mt) {
      for (int q = 0; q < r; ++q) {
        const int64_t tile = i0 + q, n = tile / tiles, rem = tile % tiles;
        T* yo = out.get() + n * img + 2 * (rem / g.tw) * rs + 2 * (rem % g.tw) * oc + j0;
        output_tile(mt + q * kFusedCols, kFusedXs, yo, rs, oc, b + j0, w);
      }
    });
    for (int64_t n = 0; n < images; ++n)
      pixels_to_planes(PixelGrid<const T*>{out.get() + n * img, g.ow, rs, oc}, y + n * oc * plane, oc, plane);
    return;
  }
#endif
  winograd_forward_products<T>(v, u, m, images * g.tiles(), c, oc, vs, ms);
  winograd_output_transform<T>(m, y, bias, g, images, oc, ms);
}

#define FASTNN_INSTANTIATE(T)                                                                                \
  template void winograd_input_transform<T>(const T*, T*, const WinogradGeom&, int64_t, int64_t, int64_t);   \
  template void winograd_output_transform<T>(const T*, T*, const T*, const WinogradGeom&, int64_t, int64_t,  \
                                             int64_t);                                                       \
  template void winograd_grad_output_transform<T>(const T*, T*, const WinogradGeom&, int64_t, int64_t, int64_t, double*); \
  template void winograd_grad_input_transform<T>(const T*, T*, const WinogradGeom&, int64_t, int64_t, int64_t);  \
  template void winograd_forward_products<T>(const T*, const T*, T*, int64_t, int64_t, int64_t, int64_t, int64_t); \
  template void winograd_forward_block<T>(const T*, const T*, T*, T*, const T*, const WinogradGeom&, int64_t,   \
                                          int64_t, int64_t, int64_t, int64_t);                                  \
  template void winograd_data_products<T>(const T*, const T*, T*, int64_t, int64_t, int64_t, int64_t, int64_t);    \
  template void winograd_weight_products<T>(const T*, const T*, T*, bool, int64_t, int64_t, int64_t, int64_t,     \
                                            int64_t);
FASTNN_INSTANTIATE(float)
FASTNN_INSTANTIATE(double)
#undef FASTNN_INSTANTIATE

}  // namespace fastnn::FASTNN_ISA_NS
