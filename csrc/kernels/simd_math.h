// Branch-free float32 exp / log / tanh / expm1 / log1p that GCC and Clang vectorize inside
// `#pragma omp simd` loops (std::expf does not vectorize without -ffast-math + libmvec).
// Accuracy: a few ulp over the whole float range; NaN propagates; +-inf give the limits.
// Constants: Cody-Waite range reduction with minimax polynomials (the classic Cephes
// coefficients). float64 kernels use <cmath> directly: they exist for gradient checks.
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
  return std::fabs(x) < 0.5f ? small : big;
}

inline float tanh_f32(float x) {
  const float ax = std::fabs(x);
  // |x| < 0.625: odd polynomial (no cancellation near 0).
  const float z = x * x;
  float p = -5.70498872745e-3f;
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  const float small = p * z * x + x;
  // Otherwise 1 - 2 / (exp(2|x|) + 1), with the sign of x.
  const float big = 1.0f - 2.0f / (exp_f32(ax + ax) + 1.0f);
  const float y = std::copysign(big, x);
  return ax < 0.625f ? small : (x != x ? x : y);
}

inline float sigmoid_f32(float x) { return 1.0f / (1.0f + exp_f32(-x)); }

}  // namespace fastnn::simd_math
