// Branch-free float32 exp / log / tanh / expm1 / log1p that GCC and Clang vectorize inside
// `#pragma omp simd` loops (std::expf does not vectorize without -ffast-math + libmvec).
// Accuracy: a few ulp over the whole float range; NaN propagates; +-inf give the limits.
// Constants: Cody-Waite range reduction with minimax polynomials (the classic Cephes
// coefficients). float64 kernels use <cmath> directly (they exist for gradient checks), except
// where a loss computes its float32 result through double (exp_f64).
#pragma once
#include <bit>
#include <cmath>
#include <cstdint>

namespace fastnn::simd_math {

inline float pow2i(int32_t n) {  // 2^n for n in [-126, 127]
  return std::bit_cast<float>(static_cast<uint32_t>(n + 127) << 23);
}

inline float exp_f32(float x) {
  // Clamp with comparisons that are false for NaN, so NaN flows through.
  x = x < -104.0f ? -104.0f : x;
  x = x > 89.0f ? 89.0f : x;
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kShifter = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  const float t = x * kLog2e + kShifter;
  const float n = t - kShifter;
  float r = x - n * 0.693359375f;  // ln2 split in a high part exact in float...
  r = r - n * -2.12194440e-4f;     // ...and the low remainder
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  // n lies in [-150, 129]: scale in two halves so neither power of two leaves the normal range.
  const int32_t ni = static_cast<int32_t>(std::bit_cast<uint32_t>(t) - std::bit_cast<uint32_t>(kShifter));
  const int32_t h = ni >> 1;
  return p * pow2i(h) * pow2i(ni - h);
}

// Natural log for finite x > 0 (normal or subnormal); log(0) = -inf, log(inf) = inf,
// log(x < 0) = NaN, NaN -> NaN.
inline float log_f32(float x) {
  const bool sub = x < 1.17549435e-38f;
  const float xs = sub ? x * 16777216.0f : x;  // lift subnormals by 2^24
  const uint32_t bits = std::bit_cast<uint32_t>(xs);
  int32_t e = static_cast<int32_t>((bits >> 23) & 0xff) - 126;
  float m = std::bit_cast<float>((bits & 0x007fffffu) | 0x3f000000u);  // m in [0.5, 1)
  const bool small = m < 0.70710678118654752f;
  e = small ? e - 1 : e;
  m = small ? m + m : m;
  const float r = m - 1.0f;
  const float z = r * r;
  float p = 7.0376836292e-2f;
  p = p * r - 1.1514610310e-1f;
  p = p * r + 1.1676998740e-1f;
  p = p * r - 1.2420140846e-1f;
  p = p * r + 1.4249322787e-1f;
  p = p * r - 1.6668057665e-1f;
  p = p * r + 2.0000714765e-1f;
  p = p * r - 2.4999993993e-1f;
  p = p * r + 3.3333331174e-1f;
  const float fe = static_cast<float>(sub ? e - 24 : e);
  float y = r * z * p;
  y = y + fe * -2.12194440e-4f;
  y = y - 0.5f * z;
  y = r + y + fe * 0.693359375f;
  y = x == 0.0f ? -INFINITY : y;
  y = x == INFINITY ? INFINITY : y;
  y = (x < 0.0f || x != x) ? NAN : y;
  return y;
}

// log(1 + t) for t >= 0 without losing t when t is tiny (Goldberg's trick).
inline float log1p_pos_f32(float t) {
  const float u = 1.0f + t;
  const float d = u - 1.0f;
  return d == 0.0f ? t : log_f32(u) * (t / d);
}

// exp(x) - 1 accurate near 0: the Taylor series to x^9/9! for |x| < 0.5 (truncation error
// below 2e-9 relative), exp(x) - 1 elsewhere (there |result| >= 0.39, so no cancellation).
inline float expm1_f32(float x) {
  float p = 1.0f / 362880.0f;
  p = p * x + 1.0f / 40320.0f;
  p = p * x + 1.0f / 5040.0f;
  p = p * x + 1.0f / 720.0f;
  p = p * x + 1.0f / 120.0f;
  p = p * x + 1.0f / 24.0f;
  p = p * x + 1.0f / 6.0f;
  p = p * x + 0.5f;
  const float small = p * x * x + x;
  const float big = exp_f32(x) - 1.0f;
  const float r = std::fabs(x) < 0.5f ? small : big;
  return x == 0.0f ? x : r;  // expm1(-0) = -0 (small would give +0)
}

// tanh(x) = x * P(x^2) / Q(x^2) on |x| <= 9, +-1 beyond (float32 tanh(9) rounds to 1).
// Our own fit (Sanathanan-Koerner iterations on relative error, degree 4/4 in x^2):
// max error 3.5e-7 relative (about 6 ulp) over the whole range, odd and exact at 0;
// one divide and no exp, so it is about twice as fast as 1 - 2/(exp(2x)+1).
inline float tanh_f32(float x) {
  float c = x > 9.0f ? 9.0f : x;
  c = c < -9.0f ? -9.0f : c;  // NaN fails both comparisons and flows through
  const float t = c * c;
  float p = 1.351776823810269e-08f;
  p = p * t + 2.0731575204990804e-05f;
  p = p * t + 3.503235522657633e-03f;
  p = p * t + 1.3387532532215118e-01f;
  p = p * t + 1.0f;
  float q = 7.844735137041425e-07f;
  q = q * t + 3.297998628113419e-04f;
  q = q * t + 2.5906285271048546e-02f;
  q = q * t + 4.6720853447914124e-01f;
  q = q * t + 1.0f;
  const float y = c * p / q;
  const float ax = std::fabs(x);
  return ax >= 9.0f ? std::copysign(1.0f, x) : y;
}

inline float sigmoid_f32(float x) { return 1.0f / (1.0f + exp_f32(-x)); }

// erfc(z) from e = exp(-z^2), computed by the caller (GELU's backward needs e itself):
// erfc(|z|) = e * erfcx(|z|), the scaled complementary error function erfcx(a) = erfc(a) exp(a^2)
// taken as P(a) / Q(a), degree 4 / 5. Our own fit (least squares on the relative error against
// scipy's erfcx, Lawson-reweighted toward minimax) on a in [0, 10.5]: max error 6.4e-9 relative
// in double; evaluated in float, with e a few ulp off, erfc keeps a relative error of a few ulp
// wherever e does (so the negative tail that GELU's x Phi(x) needs keeps its digits, unlike
// 1 + erf(z)). erfc(-a) = 2 - erfc(a). a is clamped to 10.5, where e is already 0 in float
// (e < 1e-47); NaN reaches the result through e. The two polynomials and the exp are independent
// chains, the divide the only serial step: about half the latency of the earlier form
// t exp(P(t) - z^2), t = 1 / (1 + |z| / 2), whose divide, degree-9 polynomial and exp ran in a
// row. Measured on the Xeon, 1M floats, 1 thread: GELU forward 0.82 -> 0.64 ms; backward (one exp
// instead of two, see m_gelu_grad) 1.21 -> 0.70 ms. On a dense grid of x in [-16, 16] against
// double: GELU within 67 ulp (the exp of a rounded x^2 / 2 in the far tail), 0.03 of the tests'
// float32 tolerance (the earlier form, replayed in NumPy float32 steps: 0.04).
inline float erfc_from_exp_f32(float z, float e) {
  float a = std::fabs(z);
  a = a < 10.5f ? a : 10.5f;
  float p = 0.033219113945961f;
  p = p * a + 0.23122626543045044f;
  p = p * a + 0.7358084917068481f;
  p = p * a + 1.2424159049987793f;
  p = p * a + 1.0f;
  float q = 0.058878716081380844f;
  q = q * a + 0.4098623991012573f;
  q = q * a + 1.3332180976867676f;
  q = q * a + 2.410954713821411f;
  q = q * a + 2.370795726776123f;
  q = q * a + 1.0f;
  const float r = e * (p / q);
  return z < 0.0f ? 2.0f - r : r;
}

// erfc(z), z^2 given as sq (z^2 without the rounding of z itself where the caller can give it,
// e.g. x^2 / 2 for z = x / sqrt 2).
inline float erfc_f32(float z, float sq) { return erfc_from_exp_f32(z, exp_f32(-sq)); }

// x^2 / 2 exactly rounded once: x split into a 12-bit head (whose square is exact) and the rest.
inline float half_square_f32(float x) {
  const float h = std::bit_cast<float>(std::bit_cast<uint32_t>(x) & 0xfffff000u);
  const float l = x - h;
  const float r = 0.5f * (h * h + l * (x + h));
  return x - x == 0.0f ? r : 0.5f * x * x;  // +-inf -> inf (l would be NaN), NaN stays NaN
}

inline double pow2i_f64(int64_t n) {  // 2^n for n in [-1022, 1023]
  return std::bit_cast<double>(static_cast<uint64_t>(n + 1023) << 52);
}

// Branch-free double exp, for the softmax cross-entropy's rows (which libm's scalar exp made
// ~20 ns per logit). x = n ln2 + r with |r| <= ln2 / 2 (Cody-Waite: ln2 in a high part whose
// products n * hi are exact for |n| < 2^11, and the remainder), exp(r) by its Taylor series to
// r^13 / 13! (truncation below r^14 / 14! < 5e-18 relative, 0.02 ulp), evaluated by Horner: a
// few ulp at most (measured against libm in tests/test_losses.py). Results below the smallest
// subnormal are 0, above DBL_MAX inf; NaN propagates.
inline double exp_f64(double x) {
  x = x < -746.0 ? -746.0 : x;  // comparisons false for NaN: NaN flows through
  x = x > 710.0 ? 710.0 : x;
  constexpr double kLog2e = 1.4426950408889634074;
  constexpr double kShifter = 6755399441055744.0;  // 1.5 * 2^52: adding it rounds to an integer
  const double t = x * kLog2e + kShifter;
  const double n = t - kShifter;
  double r = x - n * 6.93147180369123816490e-01;  // ln2's high part (low 32 bits zero)
  r = r - n * 1.90821492927058770002e-10;          // ...and the remainder
  double p = 1.0 / 6227020800.0;                   // 1 / 13!
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r * r + r + 1.0;
  // n lies in [-1077, 1025]: scale in two halves so neither power of two leaves the normal range.
  const int64_t ni = static_cast<int64_t>(std::bit_cast<uint64_t>(t) - std::bit_cast<uint64_t>(kShifter));
  const int64_t h = ni >> 1;
  return p * pow2i_f64(h) * pow2i_f64(ni - h);
}

}  // namespace fastnn::simd_math
