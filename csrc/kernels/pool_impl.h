// The 2 x 2, stride 2, unpadded max pool, written once and compiled per ISA (the including file
// defines FASTNN_ISA_NS and the build gives it the matching -m flags). The rule is pool.h's:
// scanning the window in row-major order from its first element, an element replaces the
// maximum when it is greater or NaN; the index is that element's position r*W + c.
//
// Compiled at the baseline ISA (in pool.cpp) the generic loop ran the (128, 32, 28, 28) pool at
// about half the memory bandwidth; with AVX-512 the float path takes 16 windows per step
// (stride-2 columns split by permutes, the winner selected under compare masks, the int64
// indices widened from int32 offsets), and the other ISAs / double vectorise the generic loop
// with their own vector width.
#include <algorithm>
#include <cstdint>
#include <vector>

#if defined(__AVX512F__)
#include <immintrin.h>
// GCC 12 warns inside its own avx512fintrin.h (the _mm512_undefined_* "__Y = __Y" idiom of the
// conversion / extract intrinsics); a known false positive, silenced as in gemm_avx512.cpp.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#include "pool_isa.h"

#ifndef FASTNN_ISA_NS
#error "define FASTNN_ISA_NS before including pool_impl.h"
#endif

namespace fastnn::FASTNN_ISA_NS {
namespace {

// One output row: windows [0, ow) of input rows row0 and row1 (= row0 + w); top = row0's
// offset in the plane. Branch-free (a data-dependent branch mispredicts half the time on real
// activations): the winner is kept as a 0..3 code in 32-bit lanes, the width of a float, so
// the loop vectorises; the int64 index is formed in a second pass. code: scratch of ow values.
template <typename T>
void max_row_2x2(const T* row0, const T* row1, T* yrow, int64_t* irow, int64_t ow, int64_t top, int64_t w,
                 int32_t* code) {
#pragma omp simd
  for (int64_t o = 0; o < ow; ++o) {
    T m = row0[2 * o];  // starting from the first element equals starting from -inf with its index
    int32_t k = 0;
    const T b = row0[2 * o + 1], c = row1[2 * o], d = row1[2 * o + 1];
    bool t = (b > m) | (b != b);
    m = t ? b : m;
    k = t ? 1 : k;
    t = (c > m) | (c != c);
    m = t ? c : m;
    k = t ? 2 : k;
    t = (d > m) | (d != d);
    m = t ? d : m;
    k = t ? 3 : k;
    yrow[o] = m;
    code[o] = k;
  }
  for (int64_t o = 0; o < ow; ++o) irow[o] = top + (code[o] >> 1) * w + 2 * o + (code[o] & 1);
}

#if defined(__AVX512F__)
inline __mmask16 lanes16(int64_t n) { return static_cast<__mmask16>((1u << n) - 1u); }

void max_row_2x2(const float* row0, const float* row1, float* yrow, int64_t* irow, int64_t ow, int64_t top,
                 int64_t w, int32_t*) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  const __m512i col2 = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  for (int64_t o0 = 0; o0 < ow; o0 += 16) {
    const int64_t nw = std::min<int64_t>(16, ow - o0);
    // 2 * nw input columns from each row: two (masked) vectors of 16
    const __mmask16 lo = lanes16(std::min<int64_t>(16, 2 * nw)), hi = lanes16(std::max<int64_t>(0, 2 * nw - 16));
    const float* r0 = row0 + 2 * o0;
    const float* r1 = row1 + 2 * o0;
    const __m512 a0 = _mm512_maskz_loadu_ps(lo, r0), a1 = _mm512_maskz_loadu_ps(hi, r0 + 16);
    const __m512 c0 = _mm512_maskz_loadu_ps(lo, r1), c1 = _mm512_maskz_loadu_ps(hi, r1 + 16);
    __m512 m = _mm512_permutex2var_ps(a0, even, a1);
    const __m512 b = _mm512_permutex2var_ps(a0, odd, a1);
    const __m512 c = _mm512_permutex2var_ps(c0, even, c1);
    const __m512 d = _mm512_permutex2var_ps(c0, odd, c1);
    // offsets within the window's 2 x 2 (as plane offsets): 0, 1, w, w + 1
    __m512i k = _mm512_setzero_si512();
    __mmask16 t = _mm512_cmp_ps_mask(b, m, _CMP_GT_OQ) | _mm512_cmp_ps_mask(b, b, _CMP_UNORD_Q);
    m = _mm512_mask_mov_ps(m, t, b);
    k = _mm512_mask_mov_epi32(k, t, _mm512_set1_epi32(1));
    t = _mm512_cmp_ps_mask(c, m, _CMP_GT_OQ) | _mm512_cmp_ps_mask(c, c, _CMP_UNORD_Q);
    m = _mm512_mask_mov_ps(m, t, c);
    k = _mm512_mask_mov_epi32(k, t, _mm512_set1_epi32(static_cast<int>(w)));
    t = _mm512_cmp_ps_mask(d, m, _CMP_GT_OQ) | _mm512_cmp_ps_mask(d, d, _CMP_UNORD_Q);
    m = _mm512_mask_mov_ps(m, t, d);
    k = _mm512_mask_mov_epi32(k, t, _mm512_set1_epi32(static_cast<int>(w + 1)));
    const __mmask16 out = lanes16(nw);
    _mm512_mask_storeu_ps(yrow + o0, out, m);
    // index = top + 2 * (o0 + lane) + offset, in int64: the int32 part (2 * lane + offset < 2^31)
    // widened and added to the 64-bit base
    const __m512i rel = _mm512_add_epi32(k, col2);
    const __m512i base = _mm512_set1_epi64(top + 2 * o0);
    const __m512i i0 = _mm512_add_epi64(base, _mm512_cvtepi32_epi64(_mm512_castsi512_si256(rel)));
    const __m512i i1 = _mm512_add_epi64(base, _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(rel, 1)));
    _mm512_mask_storeu_epi64(irow + o0, static_cast<__mmask8>(out & 0xff), i0);
    _mm512_mask_storeu_epi64(irow + o0 + 8, static_cast<__mmask8>(out >> 8), i1);
  }
}
#endif

}  // namespace

template <typename T>
void max_pool_2x2_planes(const T* x, T* y, int64_t* idx, int64_t q0, int64_t q1, int64_t h, int64_t w, int64_t oh,
                         int64_t ow) {
  const int64_t in_plane = h * w, out_plane = oh * ow;
  std::vector<int32_t> code(static_cast<size_t>(ow));
  for (int64_t q = q0; q < q1; ++q) {
    const T* xp = x + q * in_plane;
    T* yp = y + q * out_plane;
    int64_t* ip = idx + q * out_plane;
    for (int64_t r = 0; r < oh; ++r) {
      const int64_t top = 2 * r * w;
      max_row_2x2(xp + top, xp + top + w, yp + r * ow, ip + r * ow, ow, top, w, code.data());
    }
  }
}

template void max_pool_2x2_planes<float>(const float*, float*, int64_t*, int64_t, int64_t, int64_t, int64_t, int64_t,
                                         int64_t);
template void max_pool_2x2_planes<double>(const double*, double*, int64_t*, int64_t, int64_t, int64_t, int64_t,
                                          int64_t, int64_t);

}  // namespace fastnn::FASTNN_ISA_NS
