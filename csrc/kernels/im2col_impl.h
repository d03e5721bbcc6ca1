// im2col / col2im (see conv.h for the layouts), written once and compiled per ISA: the including
// file defines FASTNN_ISA_NS and the build gives it the matching -m flags.
//
// Most of the work is rows: for one input plane and one kernel offset (i, j), OH rows of OW
// columns, each row a window of an input row. With stride 1 along W a row is a contiguous
// stretch of the input, and with AVX2 / AVX-512 one masked load + one masked store moves up to
// a whole vector of it; the lanes outside the valid columns [l, h) (padding) are masked off the
// load, so they read nothing and store zero. OW is often 8..28, so the scalar loops this
// replaces spent more on loop control than on copying: on the 5x5 layer (128, 20, 12, 12) -> 50
// im2col took about a third of the forward (measured on a Xeon, AVX-512).
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

#include "conv.h"
#include "cpu.h"

#ifndef FASTNN_ISA_NS
#error "define FASTNN_ISA_NS before including im2col_impl.h"
#endif

namespace fastnn::FASTNN_ISA_NS {
namespace {

// Masked vector rows: W lanes; range(lo, hi) = the lanes q with lo <= q < hi (any ints);
// load(m, p) reads only the lanes in m (the others are 0 and their addresses are not touched);
// store(p, m, v) writes only the lanes in m.
#if defined(__AVX512F__)
struct RowF32 {
  using T = float;
  using reg = __m512;
  using mask = __mmask16;
  static constexpr int W = 16;
  static mask range(int64_t lo, int64_t hi) {
    lo = std::clamp<int64_t>(lo, 0, W);
    hi = std::clamp<int64_t>(hi, lo, W);
    return static_cast<mask>(((1u << hi) - 1u) & ~((1u << lo) - 1u));
  }
  static reg load(mask m, const T* p) { return _mm512_maskz_loadu_ps(m, p); }
  static void store(T* p, mask m, reg v) { _mm512_mask_storeu_ps(p, m, v); }
  static reg add(reg a, reg b) { return _mm512_add_ps(a, b); }
  static reg set1(T x) { return _mm512_set1_ps(x); }
};
struct RowF64 {
  using T = double;
  using reg = __m512d;
  using mask = __mmask8;
  static constexpr int W = 8;
  static mask range(int64_t lo, int64_t hi) {
    lo = std::clamp<int64_t>(lo, 0, W);
    hi = std::clamp<int64_t>(hi, lo, W);
    return static_cast<mask>(((1u << hi) - 1u) & ~((1u << lo) - 1u));
  }
  static reg load(mask m, const T* p) { return _mm512_maskz_loadu_pd(m, p); }
  static void store(T* p, mask m, reg v) { _mm512_mask_storeu_pd(p, m, v); }
  static reg add(reg a, reg b) { return _mm512_add_pd(a, b); }
  static reg set1(T x) { return _mm512_set1_pd(x); }
};
#elif defined(__AVX2__)
// vmaskmov: masked-off lanes read as 0 and do not fault, as with AVX-512 masks.
inline __m256i lanes_in(__m256i idx, int64_t lo, int64_t hi) {
  const __m256i l = _mm256_set1_epi32(static_cast<int>(std::clamp<int64_t>(lo, -1, 9)));
  const __m256i h = _mm256_set1_epi32(static_cast<int>(std::clamp<int64_t>(hi, -1, 9)));
  // lo <= q  <=>  q > lo - 1;  q < hi
  return _mm256_and_si256(_mm256_cmpgt_epi32(idx, _mm256_sub_epi32(l, _mm256_set1_epi32(1))),
                          _mm256_cmpgt_epi32(h, idx));
}
struct RowF32 {
  using T = float;
  using reg = __m256;
  using mask = __m256i;
  static constexpr int W = 8;
  static mask range(int64_t lo, int64_t hi) { return lanes_in(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), lo, hi); }
  static reg load(mask m, const T* p) { return _mm256_maskload_ps(p, m); }
  static void store(T* p, mask m, reg v) { _mm256_maskstore_ps(p, m, v); }
  static reg add(reg a, reg b) { return _mm256_add_ps(a, b); }
  static reg set1(T x) { return _mm256_set1_ps(x); }
};
struct RowF64 {
  using T = double;
  using reg = __m256d;
  using mask = __m256i;
  static constexpr int W = 4;
  // lane q of a double vector is int32 lanes 2q and 2q + 1
  static mask range(int64_t lo, int64_t hi) { return lanes_in(_mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3), lo, hi); }
  static reg load(mask m, const T* p) { return _mm256_maskload_pd(p, m); }
  static void store(T* p, mask m, reg v) { _mm256_maskstore_pd(p, m, v); }
  static reg add(reg a, reg b) { return _mm256_add_pd(a, b); }
  static reg set1(T x) { return _mm256_set1_pd(x); }
};
#endif

// dst[r * ow + q] = src[r * ss + q] for q in [l, h), 0 for the other q < ow; r < rows.
// src[q] for q outside [l, h) is never read (it may lie outside the input plane).
template <typename T>
void gather_rows(T* dst, const T* src, int64_t rows, int64_t ss, int64_t ow, int64_t l, int64_t h) {
#if defined(__AVX2__)
  using V = std::conditional_t<std::is_same_v<T, float>, RowF32, RowF64>;
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float>) {
    // Rows of at most 8 floats (the 5x5 layer's OW = 8): 256-bit masked moves (AVX-512VL);
    // im2col's share of that layer's forward profile went from 18 % to 14 % with them.
    if (ow <= 8) {
      const __mmask8 st = static_cast<__mmask8>(V::range(0, ow)), ld = static_cast<__mmask8>(V::range(l, h));
      for (int64_t r = 0; r < rows; ++r) _mm256_mask_storeu_ps(dst + r * ow, st, _mm256_maskz_loadu_ps(ld, src + r * ss));
      return;
    }
  }
#endif
  for (int64_t c0 = 0; c0 < ow; c0 += V::W) {
    const typename V::mask st = V::range(0, ow - c0), ld = V::range(l - c0, h - c0);
    T* d = dst + c0;
    const T* s = src + c0;
    for (int64_t r = 0; r < rows; ++r) V::store(d + r * ow, st, V::load(ld, s + r * ss));
  }
#else
  for (int64_t r = 0; r < rows; ++r, dst += ow, src += ss) {
    for (int64_t q = 0; q < l; ++q) dst[q] = T(0);
#pragma omp simd
    for (int64_t q = l; q < h; ++q) dst[q] = src[q];
    for (int64_t q = h; q < ow; ++q) dst[q] = T(0);
  }
#endif
}

#if defined(__AVX2__)
// The lanes of each input-row vector chunk c that kernel offset j reaches (0 <= col + PW - j <
// OW): masks[c * KW + j], the same for every plane of a call (computed once per col2im).
template <typename T>
struct Col2imMasks {
  using V = std::conditional_t<std::is_same_v<T, float>, RowF32, RowF64>;
  struct Mask {
    typename V::mask m;  // (a struct: a vector of __m256i would drop its alignment attribute)
  };
  std::vector<Mask> masks;
  explicit Col2imMasks(const ConvGeom& g) {
    const int64_t chunks = (g.w + V::W - 1) / V::W;
    masks.resize(static_cast<size_t>(chunks * g.kw));
    for (int64_t c = 0; c < chunks; ++c)
      for (int64_t j = 0; j < g.kw; ++j) {
        const int64_t c0 = c * V::W;
        masks[static_cast<size_t>(c * g.kw + j)].m = V::range(j - g.pw - c0, std::min(j - g.pw + g.ow, g.w) - c0);
      }
  }
};

// col2im of one (n, c) plane when SW = 1, written as a gather: each vector of an input row is
// summed in registers over the (i, j) offsets that reach it and stored once. (Adding each
// offset's rows into x in turn, a masked load-add-store per row, made every row wait on the
// previous offset's store to the same lines: masked stores do not forward to loads.)
// x[row, col] = bias + the sum over (i, j) in order of cols[(i, j), oh, ow] with oh*SH - PH + i
// = row and ow - PW + j = col: the same terms in the same order as the scalar scatter.
// kRows input rows are summed at once, each in its own register: one row's sum is a chain of
// KH*KW dependent adds (25 for 5x5, ~100 cycles of add latency), and independent chains
// side by side keep the adders busy. With the masks computed once per call (they were a vector
// allocated per plane) and no 64-bit division for SH = 1: col2im of one chunk of the 5x5 layer
// (8 samples x 20 channels, 12x12, K = 5) 58 -> 45 us (best of 6 interleaved runs, 1 thread,
// Xeon AVX-512), the same bits.
// cols: this plane's first row (offset (0, 0)); r_stride: between offsets.
template <typename T>
void col2im_plane_sw1(const T* cols, int64_t r_stride, T* xp, const ConvGeom& g, T bias, const Col2imMasks<T>& cm) {
  using V = typename Col2imMasks<T>::V;
  constexpr int kRows = 4;
  const int64_t chunks = (g.w + V::W - 1) / V::W;
  const typename V::reg b = V::set1(bias);
  for (int64_t row0 = 0; row0 < g.h; row0 += kRows) {
    const int64_t rows = std::min<int64_t>(kRows, g.h - row0);
    for (int64_t c = 0; c < chunks; ++c) {
      const int64_t c0 = c * V::W;
      const auto* m = cm.masks.data() + c * g.kw;
      typename V::reg acc[kRows];
#pragma GCC unroll 4
      for (int r = 0; r < kRows; ++r) acc[r] = b;
      for (int64_t i = 0; i < g.kh; ++i) {
        // ow = col + PW - j: offset j's row starts PW - j columns to the right
        const T* base = cols + i * g.kw * r_stride + c0 + g.pw;
#pragma GCC unroll 4
        for (int r = 0; r < kRows; ++r) {
          const int64_t t = row0 + r + g.ph - i;  // = oh * SH
          if (r >= rows || t < 0) continue;
          int64_t o = t;  // oh (no division for SH = 1: a 64-bit divide per row and offset cost more than its adds)
          if (g.sh != 1) {
            if (t % g.sh != 0) continue;
            o = t / g.sh;
          }
          if (o >= g.oh) continue;
          const T* src = base + o * g.ow;
          for (int64_t j = 0; j < g.kw; ++j) acc[r] = V::add(acc[r], V::load(m[j].m, src + j * (r_stride - 1)));
        }
      }
      const typename V::mask st = V::range(0, g.w - c0);
#pragma GCC unroll 4
      for (int r = 0; r < kRows; ++r)
        if (r < rows) V::store(xp + (row0 + r) * g.w + c0, st, acc[r]);
    }
  }
}

// col2im (SW = 1) of every (n, c) plane, each by one thread.
template <typename T>
void col2im_planes_sw1(const T* cols, T* x, const ConvGeom& g, int64_t n_stride, int64_t r_stride, const T* bias) {
  const int64_t kk = g.kh * g.kw, plane = g.plane_in();
  const Col2imMasks<T> masks(g);
  parallel_for(g.n * g.c, conv_grain_for(kk * g.plane_out()), [&](int64_t q0, int64_t q1) {
    for (int64_t q = q0; q < q1; ++q) {
      const int64_t ni = q / g.c, ci = q % g.c;
      col2im_plane_sw1(cols + ni * n_stride + ci * kk * r_stride, r_stride, x + q * plane, g, bias ? bias[ci] : T(0),
                       masks);
    }
  });
}
#endif

// [lo, hi): the output columns ow for which input column ow*SW - PW + j lies in [0, W).
inline void valid_range(int64_t j, int64_t stride, int64_t pad, int64_t in_size, int64_t out_size,
                        int64_t& lo, int64_t& hi) {
  // ow*S >= P - j  and  ow*S <= in_size - 1 + P - j
  const int64_t a = pad - j;
  lo = a <= 0 ? 0 : (a - 1) / stride + 1;  // ceil(a / stride) without forming a + stride (overflow)
  const int64_t b = in_size - 1 + pad - j;
  hi = b < 0 ? 0 : b / stride + 1;
  lo = std::min(lo, out_size);
  hi = std::clamp(hi, lo, out_size);
}

// [oh_lo, oh_hi): the output rows oh for which input row oh*SH - PH + i lies in [0, H).
inline void valid_rows(const ConvGeom& g, int64_t i, int64_t& oh_lo, int64_t& oh_hi) {
  valid_range(i, g.sh, g.ph, g.h, g.oh, oh_lo, oh_hi);
}

// im2col of one plane for kernel offset (i, j) when SH = SW = 1 and OW = W: output (oh, ow) reads
// input element (oh - PH + i) * W + ow + (j - PW), a constant shift of oh * OW + ow. Copy the valid
// rows as one block, then zero what came from padding: rows outside the input and, in each
// row, the columns [0, l) and [h, OW) (which the block copy filled from neighbouring rows).
// [oh_lo, oh_hi): the valid output rows of offset i (valid_rows).
template <typename T>
void block_copy(const T* xp, T* dst, const ConvGeom& g, int64_t i, int64_t j, int64_t l, int64_t h, int64_t oh_lo,
                int64_t oh_hi) {
  std::fill(dst, dst + oh_lo * g.ow, T(0));
  std::fill(dst + oh_hi * g.ow, dst + g.oh * g.ow, T(0));
  if (oh_lo == oh_hi) return;
  const int64_t shift = (i - g.ph) * g.w + (j - g.pw);  // input index = output index + shift
  // never read outside this plane: the first/last few block elements may map before/after it
  // (they are padding columns, zeroed below)
  const int64_t q0 = std::max(oh_lo * g.ow, -shift);
  const int64_t q1 = std::min(oh_hi * g.ow, g.plane_in() - shift);
  if (q0 < q1) std::memcpy(dst + q0, xp + q0 + shift, static_cast<size_t>(q1 - q0) * sizeof(T));
  for (int64_t oh = oh_lo; oh < oh_hi; ++oh) {
    T* row = dst + oh * g.ow;
    for (int64_t ow = 0; ow < l; ++ow) row[ow] = T(0);
    for (int64_t ow = h; ow < g.ow; ++ow) row[ow] = T(0);
  }
}

// The adjoint of block_copy: x[q + shift] += src[q] over the valid rows, after zeroing in src
// the padding columns [0, l) and [h, OW) of each valid row (they would land on neighbouring
// rows). src is scratch, so zeroing it is allowed.
template <typename T>
void block_add(T* src, T* xp, const ConvGeom& g, int64_t i, int64_t j, int64_t l, int64_t h, int64_t oh_lo,
               int64_t oh_hi) {
  if (oh_lo == oh_hi) return;
  for (int64_t oh = oh_lo; oh < oh_hi; ++oh) {
    T* row = src + oh * g.ow;
    for (int64_t ow = 0; ow < l; ++ow) row[ow] = T(0);
    for (int64_t ow = h; ow < g.ow; ++ow) row[ow] = T(0);
  }
  const int64_t shift = (i - g.ph) * g.w + (j - g.pw);
  const int64_t q0 = std::max(oh_lo * g.ow, -shift);
  const int64_t q1 = std::min(oh_hi * g.ow, g.plane_in() - shift);
#pragma omp simd
  for (int64_t q = q0; q < q1; ++q) xp[q + shift] += src[q];
}

}  // namespace

template <typename T>
void im2col(const T* x, T* cols, const ConvGeom& g, int64_t n_stride, int64_t r_stride) {
  const int64_t kk = g.kh * g.kw, plane = g.plane_in();
  // Stride 1 and OW == W ("same" padding, the common 3x3/pad-1 layer): row oh of offset (i, j)
  // starts exactly W elements after row oh-1, so one offset's rows are one contiguous copy.
  const bool same_width = g.sh == 1 && g.sw == 1 && g.ow == g.w;
  std::vector<int64_t> lo(static_cast<size_t>(g.kw)), hi(static_cast<size_t>(g.kw));
  for (int64_t j = 0; j < g.kw; ++j) valid_range(j, g.sw, g.pw, g.w, g.ow, lo[j], hi[j]);
  parallel_for(g.n * g.c, conv_grain_for(kk * g.plane_out()), [&](int64_t q0, int64_t q1) {
    for (int64_t q = q0; q < q1; ++q) {
      const int64_t ni = q / g.c, ci = q % g.c;
      const T* xp = x + q * plane;
      for (int64_t i = 0; i < g.kh; ++i) {
        int64_t oh_lo, oh_hi;
        valid_rows(g, i, oh_lo, oh_hi);
        for (int64_t j = 0; j < g.kw; ++j) {
          T* dst = cols + ni * n_stride + (ci * kk + i * g.kw + j) * r_stride;
          const int64_t l = lo[j], h = hi[j];
          if (same_width) {
            block_copy(xp, dst, g, i, j, l, h, oh_lo, oh_hi);
            continue;
          }
          // rows from padding are zero
          std::fill(dst, dst + oh_lo * g.ow, T(0));
          std::fill(dst + oh_hi * g.ow, dst + g.oh * g.ow, T(0));
          if (oh_lo == oh_hi) continue;
          // src[ow * SW] is x[row, ow*SW - PW + j] for row = oh_lo*SH - PH + i
          const T* src = xp + (oh_lo * g.sh - g.ph + i) * g.w - g.pw + j;
          T* d = dst + oh_lo * g.ow;
          if (g.sw == 1) {
            gather_rows(d, src, oh_hi - oh_lo, g.sh * g.w, g.ow, l, h);
            continue;
          }
          const int64_t sw = g.sw;
          for (int64_t oh = oh_lo; oh < oh_hi; ++oh, d += g.ow, src += g.sh * g.w) {
            for (int64_t ow = 0; ow < l; ++ow) d[ow] = T(0);
            for (int64_t ow = l; ow < h; ++ow) d[ow] = src[ow * sw];
            for (int64_t ow = h; ow < g.ow; ++ow) d[ow] = T(0);
          }
        }
      }
    }
  });
}

template <typename T>
void col2im(T* scratch_cols, const T* cols, T* x, const ConvGeom& g, int64_t n_stride, int64_t r_stride,
            const T* bias) {
  const int64_t kk = g.kh * g.kw, plane = g.plane_in();
  const bool same_width = scratch_cols && g.sh == 1 && g.sw == 1 && g.ow == g.w;
  std::vector<int64_t> lo(static_cast<size_t>(g.kw)), hi(static_cast<size_t>(g.kw));
  for (int64_t j = 0; j < g.kw; ++j) valid_range(j, g.sw, g.pw, g.w, g.ow, lo[j], hi[j]);
#if defined(__AVX2__)
  if (g.sw == 1 && !same_width) return col2im_planes_sw1(cols, x, g, n_stride, r_stride, bias);
#endif
  parallel_for(g.n * g.c, conv_grain_for(kk * g.plane_out()), [&](int64_t q0, int64_t q1) {
    for (int64_t q = q0; q < q1; ++q) {
      const int64_t ni = q / g.c, ci = q % g.c;
      T* xp = x + q * plane;
      std::fill(xp, xp + plane, bias ? bias[ci] : T(0));
      // This thread owns the whole plane: the KH*KW overlapping patches are summed here in
      // (i, j, oh, ow) order, so the gather needs no atomics and is reproducible.
      for (int64_t i = 0; i < g.kh; ++i) {
        int64_t oh_lo, oh_hi;
        valid_rows(g, i, oh_lo, oh_hi);
        for (int64_t j = 0; j < g.kw; ++j) {
          const int64_t offset = ni * n_stride + (ci * kk + i * g.kw + j) * r_stride;
          const int64_t l = lo[j], h = hi[j];
          if (same_width) {
            block_add(scratch_cols + offset, xp, g, i, j, l, h, oh_lo, oh_hi);
            continue;
          }
          if (oh_lo == oh_hi) continue;
          const T* src = cols + offset + oh_lo * g.ow;
          T* dst = xp + (oh_lo * g.sh - g.ph + i) * g.w - g.pw + j;
          for (int64_t oh = oh_lo; oh < oh_hi; ++oh, src += g.ow, dst += g.sh * g.w) {
            if (g.sw == 1) {
#pragma omp simd
              for (int64_t ow = l; ow < h; ++ow) dst[ow] += src[ow];
            } else {
              for (int64_t ow = l; ow < h; ++ow) dst[ow * g.sw] += src[ow];
            }
          }
        }
      }
    }
  });
}

// A bias gradient's row sums (db of the convolutions): sum of p[0..n) in double, each element
// converted as it is read, over four independent vector accumulators (a single chain of
// dependent double adds ran at ~2 cycles per element in the baseline-ISA conv code; this is one
// vector add per 8 or 16 elements per chain). The order depends on n only (not on threads).
template <typename T>
void sum_as_double(const T* p, int64_t n, double* out) {
  int64_t q = 0;
  double total = 0.0;
#if defined(__AVX512F__)
  __m512d acc[4] = {_mm512_setzero_pd(), _mm512_setzero_pd(), _mm512_setzero_pd(), _mm512_setzero_pd()};
  if constexpr (std::is_same_v<T, float>) {
    for (; q + 32 <= n; q += 32)
      for (int a = 0; a < 4; ++a) acc[a] = _mm512_add_pd(acc[a], _mm512_maskz_cvtps_pd(0xFF, _mm256_loadu_ps(p + q + 8 * a)));
  } else {
    for (; q + 32 <= n; q += 32)
      for (int a = 0; a < 4; ++a) acc[a] = _mm512_add_pd(acc[a], _mm512_loadu_pd(p + q + 8 * a));
  }
  // (maskz_cvtps_pd and a store, not cvtps_pd / reduce_add_pd: GCC 12 warns on their undefined-vector idiom)
  alignas(64) double lanes[8];
  _mm512_store_pd(lanes, _mm512_add_pd(_mm512_add_pd(acc[0], acc[1]), _mm512_add_pd(acc[2], acc[3])));
  total = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
#elif defined(__AVX2__)
  __m256d acc[4] = {_mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd()};
  if constexpr (std::is_same_v<T, float>) {
    for (; q + 16 <= n; q += 16)
      for (int a = 0; a < 4; ++a) acc[a] = _mm256_add_pd(acc[a], _mm256_cvtps_pd(_mm_loadu_ps(p + q + 4 * a)));
  } else {
    for (; q + 16 <= n; q += 16)
      for (int a = 0; a < 4; ++a) acc[a] = _mm256_add_pd(acc[a], _mm256_loadu_pd(p + q + 4 * a));
  }
  const __m256d s = _mm256_add_pd(_mm256_add_pd(acc[0], acc[1]), _mm256_add_pd(acc[2], acc[3]));
  alignas(32) double lanes[4];
  _mm256_store_pd(lanes, s);
  total = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
#else
  double acc[4] = {0.0, 0.0, 0.0, 0.0};
  for (; q + 4 <= n; q += 4)
    for (int a = 0; a < 4; ++a) acc[a] += static_cast<double>(p[q + a]);
  total = (acc[0] + acc[1]) + (acc[2] + acc[3]);
#endif
  double tail = 0.0;
  for (; q < n; ++q) tail += static_cast<double>(p[q]);
  *out = total + tail;
}

template void im2col<float>(const float*, float*, const ConvGeom&, int64_t, int64_t);
template void im2col<double>(const double*, double*, const ConvGeom&, int64_t, int64_t);
template void col2im<float>(float*, const float*, float*, const ConvGeom&, int64_t, int64_t, const float*);
template void col2im<double>(double*, const double*, double*, const ConvGeom&, int64_t, int64_t, const double*);
template void sum_as_double<float>(const float*, int64_t, double*);
template void sum_as_double<double>(const double*, int64_t, double*);

}  // namespace fastnn::FASTNN_ISA_NS
