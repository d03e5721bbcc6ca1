// Winograd F(2x2, 3x3) tile transforms (see winograd.h), written once and compiled per ISA: the
// including file defines FASTNN_ISA_NS and the build gives it the matching -m flags.
//
// Every loop runs along a row of tiles (tw = 0 .. TW-1), unit-stride in the transformed
// matrices, in chunks of kLanes with a compile-time trip count: typical rows are shorter than
// a vector (TW = 7 for a 14 x 14 output) and a runtime-length loop would run in the compiler's
// scalar remainder. Lanes past TW compute junk that is never stored to an output plane (see the
// slack in winograd.h). A padded plane is held split into its even and odd columns: tile tw
// reads padded columns 2tw .. 2tw+3 = even[tw], odd[tw], even[tw+1], odd[tw+1], so the column
// transform is unit-stride too.
//
// Each transform runs in passes over a whole plane (copy in, rows, columns, copy out), each pass
// reading what an earlier pass wrote a plane ago: a vector load of data just stored at another
// offset (the shifted even[tw+1], a row just copied) cannot be forwarded from the store buffer
// and stalls until the stores retire; measured, those stalls took most of the time.
//
// Only additions and subtractions (the 1/2 of G is applied to the weights, in double, in
// conv_winograd.cpp), each output summed in one fixed order.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "winograd.h"

#ifndef FASTNN_ISA_NS
#error "define FASTNN_ISA_NS before including winograd_impl.h"
#endif

namespace fastnn::FASTNN_ISA_NS {
namespace {

constexpr int64_t kLanes = 8;
static_assert(kLanes <= kWinogradSlack, "a chunk may run kLanes - 1 columns past a tile row");

inline int64_t round_up(int64_t a, int64_t b) { return (a + b - 1) / b * b; }

// Row lengths of the per-plane scratch.
struct Widths {
  int64_t tw;   // tiles in a row
  int64_t twp;  // TW in whole chunks
  int64_t pc;   // even (or odd) padded columns: TW + 1 and a chunk reading one past, chunked
  int64_t rl;   // a padded row in natural order: 2 pc (>= 2 TW + 2 >= W + 2 PW)
  explicit Widths(const WinogradGeom& g)
      : tw(g.tw), twp(round_up(g.tw, kLanes)), pc(twp + kLanes), rl(2 * pc) {}
};

// even[k] = line[2k], odd[k] = line[2k + 1] for k < n (n a multiple of kLanes).
template <typename T>
inline void deinterleave(const T* line, T* even, T* odd, int64_t n) {
  for (int64_t k0 = 0; k0 < n; k0 += kLanes) {
#pragma omp simd
    for (int64_t k = k0; k < k0 + kLanes; ++k) {
      even[k] = line[2 * k];
      odd[k] = line[2 * k + 1];
    }
  }
}

// line[2k] = even[k], line[2k + 1] = odd[k] for k < n (n a multiple of kLanes).
template <typename T>
inline void interleave(const T* even, const T* odd, T* line, int64_t n) {
  for (int64_t k0 = 0; k0 < n; k0 += kLanes) {
#pragma omp simd
    for (int64_t k = k0; k < k0 + kLanes; ++k) {
      line[2 * k] = even[k];
      line[2 * k + 1] = odd[k];
    }
  }
}

// dst[0, n) = src[0, n) in whole chunks: writes up to kLanes - 1 elements past n, which the
// caller must own and write again later.
template <typename T>
inline void copy_over(const T* src, T* dst, int64_t n) {
  for (int64_t k0 = 0; k0 < n; k0 += kLanes) {
#pragma omp simd
    for (int64_t k = k0; k < k0 + kLanes; ++k) dst[k] = src[k];
  }
}

// dst[0, n) = src[0, n) exactly: whole chunks, then single elements (a glibc memcpy call costs
// more than these short rows).
template <typename T>
inline void copy_exact(const T* src, T* dst, int64_t n) {
  const int64_t whole = n / kLanes * kLanes;
  copy_over(src, dst, whole);
  for (int64_t k = whole; k < n; ++k) dst[k] = src[k];
}

// Copies `rows` rows of n elements (src rows ld_src apart, dst rows n apart: a plane). A row is
// written in whole chunks when the spill past it stays inside the plane (it lands on later rows,
// written afterwards); the rows near the end, whose spill would leave the plane, are copied
// exactly (not by memcpy: its wide unaligned loads of a freshly stored row would stall).
template <typename T>
inline void copy_rows_into_plane(const T* src, int64_t ld_src, T* dst, int64_t rows, int64_t n) {
  const int64_t span = round_up(n, kLanes), end = rows * n;
  for (int64_t r = 0; r < rows; ++r) {
    if (r * n + span <= end)
      copy_over(src + r * ld_src, dst + r * n, n);
    else
      copy_exact(src + r * ld_src, dst + r * n, n);
  }
}

}  // namespace

template <typename T>
void winograd_input_transform(const T* x, T* v, const WinogradGeom& g, int64_t images, int64_t channels,
                              int64_t ld, int64_t ms) {
  const Widths wd(g);
  const int64_t pc = wd.pc, rl = wd.rl, rows = 2 * g.th + 2, plane = g.h * g.w;
    // pad: the padded plane in natural order (padding zero: only the input positions are ever
  // written); split: the same, row r (input row r - PH) as its even then its odd columns;
  // t1: (B^T d) of every tile row, 4 rows of split columns each.
  std::vector<T> pad(static_cast<size_t>(rows * rl), T(0)), split(static_cast<size_t>(rows * rl));
  std::vector<T> t1(static_cast<size_t>(g.th * 4 * rl));
  for (int64_t c = 0; c < channels; ++c) {  // images inner: M / V rows are read in order
    for (int64_t n = 0; n < images; ++n) {
      const T* xp = x + (n * channels + c) * plane;
      for (int64_t ih = 0; ih < g.h; ++ih)
        copy_exact(xp + ih * g.w, pad.data() + (ih + g.ph) * rl + g.pw, g.w);
      for (int64_t r = 0; r < rows; ++r) {
        T* row = split.data() + r * rl;
        deinterleave(pad.data() + r * rl, row, row + pc, pc);
      }
      // rows: B^T d (even and odd columns alike)
      for (int64_t r = 0; r < g.th; ++r) {
        const T* p0 = split.data() + 2 * r * rl;
        const T* p1 = p0 + rl;
        const T* p2 = p1 + rl;
        const T* p3 = p2 + rl;
        T* a0 = t1.data() + r * 4 * rl;
        T* a1 = a0 + rl;
        T* a2 = a1 + rl;
        T* a3 = a2 + rl;
        for (int64_t k0 = 0; k0 < rl; k0 += kLanes) {
#pragma omp simd
          for (int64_t k = k0; k < k0 + kLanes; ++k) {
            a0[k] = p0[k] - p2[k];
            a1[k] = p1[k] + p2[k];
            a2[k] = p2[k] - p1[k];
            a3[k] = p1[k] - p3[k];
          }
        }
      }
      // columns: (B^T d) B, row i of the tile into V_{4i + j}
      T* out = v + c * ld + n * g.tiles();
      for (int64_t r = 0; r < g.th; ++r, out += wd.tw) {
        for (int i = 0; i < 4; ++i) {
          const T* e = t1.data() + (r * 4 + i) * rl;
          const T* o = e + pc;
          T* v0 = out + (4 * i) * ms;
          T* v1 = v0 + ms;
          T* v2 = v1 + ms;
          T* v3 = v2 + ms;
          for (int64_t k0 = 0; k0 < wd.tw; k0 += kLanes) {
#pragma omp simd
            for (int64_t k = k0; k < k0 + kLanes; ++k) {
              v0[k] = e[k] - e[k + 1];
              v1[k] = o[k] + e[k + 1];
              v2[k] = e[k + 1] - o[k];
              v3[k] = o[k] - o[k + 1];
            }
          }
        }
      }
    }
  }
}

template <typename T>
void winograd_output_transform(const T* m, T* y, const T* bias, const WinogradGeom& g, int64_t images,
                               int64_t channels, int64_t ld, int64_t ms) {
  const Widths wd(g);
  const int64_t twp = wd.twp, plane = g.oh * g.ow, yl = 2 * twp;
  // z: (A^T M) of every tile row (2 rows x 4 columns of twp); out: the plane's output rows
  // (2 TW wide) before they are copied into y
  std::vector<T> z(static_cast<size_t>(g.th * 8 * twp)), out(static_cast<size_t>(2 * g.th * yl));
  std::vector<T> ev(static_cast<size_t>(twp)), od(static_cast<size_t>(twp));
  for (int64_t o = 0; o < channels; ++o) {  // images inner: M / V rows are read in order
    for (int64_t n = 0; n < images; ++n) {
      const T* in = m + o * ld + n * g.tiles();
      const T b = bias ? bias[o] : T(0);
      // rows: z_a[j] = (A^T M)[a][j], a = 0, 1
      for (int64_t r = 0; r < g.th; ++r) {
        const T* mt = in + r * wd.tw;
        for (int j = 0; j < 4; ++j) {
          const T* m0 = mt + j * ms;
          const T* m1 = m0 + 4 * ms;
          const T* m2 = m1 + 4 * ms;
          const T* m3 = m2 + 4 * ms;
          T* z0 = z.data() + (r * 8 + j) * twp;
          T* z1 = z0 + 4 * twp;
          for (int64_t k0 = 0; k0 < twp; k0 += kLanes) {
#pragma omp simd
            for (int64_t k = k0; k < k0 + kLanes; ++k) {
              z0[k] = m0[k] + m1[k] + m2[k];
              z1[k] = m1[k] - m2[k] - m3[k];
            }
          }
        }
      }
      // columns: output row 2r + a, its even columns 2k and odd columns 2k + 1
      for (int64_t r = 0; r < g.th; ++r) {
        for (int a = 0; a < 2; ++a) {
          const T* za = z.data() + (r * 8 + a * 4) * twp;
          for (int64_t k0 = 0; k0 < twp; k0 += kLanes) {
#pragma omp simd
            for (int64_t k = k0; k < k0 + kLanes; ++k) {
              ev[k] = za[k] + za[twp + k] + za[2 * twp + k] + b;
              od[k] = za[twp + k] - za[2 * twp + k] - za[3 * twp + k] + b;
            }
          }
          interleave(ev.data(), od.data(), out.data() + (2 * r + a) * yl, twp);
        }
      }
      copy_rows_into_plane(out.data(), yl, y + (n * channels + o) * plane, g.oh, g.ow);
    }
  }
}

template <typename T>
void winograd_grad_output_transform(const T* dy, T* dm, const WinogradGeom& g, int64_t images,
                                    int64_t channels, int64_t ld, int64_t ms) {
  const Widths wd(g);
  const int64_t twp = wd.twp, plane = g.oh * g.ow, yl = 2 * twp;
  // rows: the plane's dy rows (zero past OW, and the row past OH when OH is odd: only [0, OW)
  // of the first OH rows is ever written); split: each row's even then odd columns
  std::vector<T> rows(static_cast<size_t>(2 * g.th * yl), T(0)), split(static_cast<size_t>(2 * g.th * yl));
  for (int64_t o = 0; o < channels; ++o) {  // images inner: M / V rows are read in order
    for (int64_t n = 0; n < images; ++n) {
      const T* dp = dy + (n * channels + o) * plane;
      for (int64_t oh = 0; oh < g.oh; ++oh)
        copy_exact(dp + oh * g.ow, rows.data() + oh * yl, g.ow);
      for (int64_t q = 0; q < 2 * g.th; ++q) {
        T* s = split.data() + q * yl;
        deinterleave(rows.data() + q * yl, s, s + twp, twp);
      }
      // rows (A dY): R0 = dY0, R1 = dY0 + dY1, R2 = dY0 - dY1, R3 = -dY1; columns likewise
      T* out = dm + o * ld + n * g.tiles();
      for (int64_t r = 0; r < g.th; ++r, out += wd.tw) {
        const T* e0 = split.data() + 2 * r * yl;
        const T* o0 = e0 + twp;
        const T* e1 = o0 + twp;
        const T* o1 = e1 + twp;
        T* d[16];
        for (int xi = 0; xi < 16; ++xi) d[xi] = out + xi * ms;
        for (int64_t k0 = 0; k0 < wd.tw; k0 += kLanes) {
#pragma omp simd
          for (int64_t k = k0; k < k0 + kLanes; ++k) {
            const T re[4] = {e0[k], e0[k] + e1[k], e0[k] - e1[k], -e1[k]};
            const T ro[4] = {o0[k], o0[k] + o1[k], o0[k] - o1[k], -o1[k]};
            for (int i = 0; i < 4; ++i) {
              d[4 * i][k] = re[i];
              d[4 * i + 1][k] = re[i] + ro[i];
              d[4 * i + 2][k] = re[i] - ro[i];
              d[4 * i + 3][k] = -ro[i];
            }
          }
        }
      }
    }
  }
}

template <typename T>
void winograd_grad_input_transform(const T* dv, T* dx, const WinogradGeom& g, int64_t images, int64_t channels,
                                   int64_t ld, int64_t ms) {
  const Widths wd(g);
  const int64_t tw = wd.tw, twp = wd.twp, pc = wd.pc, rl = wd.rl, plane = g.h * g.w;
  // xr: (dV B^T) of every tile row with neighbouring tiles' overlapping columns added, as
  // padded even / odd columns, 4 rows each; carry: the previous tile row's Z2 / Z3 (they
  // overlap this one's Z0 / Z1); cur: Z0 / Z1; padded: the plane's padded rows, natural order.
  std::vector<T> xr(static_cast<size_t>(g.th * 4 * rl)), carry(static_cast<size_t>(2 * rl));
  std::vector<T> cur(static_cast<size_t>(2 * rl)), padded(static_cast<size_t>((2 * g.th + 2) * rl));
  for (int64_t c = 0; c < channels; ++c) {  // images inner: M / V rows are read in order
    for (int64_t n = 0; n < images; ++n) {
      const T* in = dv + c * ld + n * g.tiles();
      // columns: q_i = (dV B^T)'s four columns for tile row i,
      //   q_i0 = dV_i0, q_i1 = dV_i1 - dV_i2 + dV_i3, q_i2 = dV_i1 + dV_i2 - dV_i0, q_i3 = -dV_i3,
      // and the overlap of neighbouring tiles: padded column 2k = q_i0[k] + q_i2[k-1],
      // 2k+1 = q_i1[k] + q_i3[k-1] (tiles -1 and TW do not exist: fixed up after the chunks).
      for (int64_t r = 0; r < g.th; ++r) {
        const T* vt = in + r * tw;
        for (int i = 0; i < 4; ++i) {
          const T* v0 = vt + (4 * i) * ms;
          const T* v1 = v0 + ms;
          const T* v2 = v1 + ms;
          const T* v3 = v2 + ms;
          T* e = xr.data() + (r * 4 + i) * rl;
          T* od = e + pc;
          // lane 0 reads tile -1 (the element before the row: the caller's buffers have one)
          for (int64_t k0 = 0; k0 < twp; k0 += kLanes) {
#pragma omp simd
            for (int64_t k = k0; k < k0 + kLanes; ++k) {
              e[k] = v0[k] + (v1[k - 1] + v2[k - 1] - v0[k - 1]);
              od[k] = (v1[k] - v2[k] + v3[k]) - v3[k - 1];
            }
          }
          e[0] = v0[0];
          od[0] = v1[0] - v2[0] + v3[0];
          e[tw] = v1[tw - 1] + v2[tw - 1] - v0[tw - 1];
          od[tw] = -v3[tw - 1];
        }
      }
      // rows: Z0 = X0, Z1 = X1 - X2 + X3, Z2 = X1 + X2 - X0, Z3 = -X3; padded row 2r gets
      // Z0 + the previous tile row's Z2, row 2r + 1 gets Z1 + its Z3
      std::fill(carry.begin(), carry.end(), T(0));
      T* c2 = carry.data();
      T* c3 = c2 + rl;
      for (int64_t r = 0; r < g.th; ++r) {
        const T* x0 = xr.data() + r * 4 * rl;
        const T* x1 = x0 + rl;
        const T* x2 = x1 + rl;
        const T* x3 = x2 + rl;
        T* r0 = cur.data();
        T* r1 = r0 + rl;
        for (int64_t k0 = 0; k0 < rl; k0 += kLanes) {
#pragma omp simd
          for (int64_t k = k0; k < k0 + kLanes; ++k) {
            r0[k] = x0[k] + c2[k];
            r1[k] = x1[k] - x2[k] + x3[k] + c3[k];
            c2[k] = x1[k] + x2[k] - x0[k];
            c3[k] = -x3[k];
          }
        }
        interleave(r0, r0 + pc, padded.data() + 2 * r * rl, pc);
        interleave(r1, r1 + pc, padded.data() + (2 * r + 1) * rl, pc);
      }
      interleave(c2, c2 + pc, padded.data() + 2 * g.th * rl, pc);
      interleave(c3, c3 + pc, padded.data() + (2 * g.th + 1) * rl, pc);
      // the input rows: padded rows PH .. PH + H - 1, columns PW .. PW + W - 1
      copy_rows_into_plane(padded.data() + g.ph * rl + g.pw, rl, dx + (n * channels + c) * plane, g.h, g.w);
    }
  }
}

#define FASTNN_INSTANTIATE(T)                                                                        \
  template void winograd_input_transform<T>(const T*, T*, const WinogradGeom&, int64_t, int64_t, int64_t, int64_t); \
  template void winograd_output_transform<T>(const T*, T*, const T*, const WinogradGeom&, int64_t, int64_t, \
                                             int64_t, int64_t);                                               \
  template void winograd_grad_output_transform<T>(const T*, T*, const WinogradGeom&, int64_t, int64_t,   \
                                                  int64_t, int64_t);                                          \
  template void winograd_grad_input_transform<T>(const T*, T*, const WinogradGeom&, int64_t, int64_t,    \
                                                 int64_t, int64_t);
FASTNN_INSTANTIATE(float)
FASTNN_INSTANTIATE(double)
#undef FASTNN_INSTANTIATE

}  // namespace fastnn::FASTNN_ISA_NS
