// Dropout kernels, written once and compiled per ISA (see dropout.h for the RNG definition).
// The hash is 64-bit integer arithmetic on the element index: AVX-512DQ multiplies 64-bit lanes
// natively, AVX2 emulates it; either way each element is independent, so any split is exact.
#include <algorithm>

#include "cpu.h"
#include "dropout_isa.h"

#ifndef FASTNN_ISA_NS
#error "define FASTNN_ISA_NS before including dropout_impl.h"
#endif

namespace fastnn::FASTNN_ISA_NS {
namespace {

constexpr int64_t kGrain = 1 << 15;
constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ull;

inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// keep bit of element i (0 or 1).
inline uint8_t keep_bit(uint64_t key, int64_t i, uint64_t threshold) {
  const uint64_t bits = mix64(key + static_cast<uint64_t>(i + 1) * kGolden);
  return static_cast<uint8_t>((bits >> 11) >= threshold);
}

template <typename T>
T keep_scale(double p) { return p == 1.0 ? T(0) : static_cast<T>(1.0 / (1.0 - p)); }

}  // namespace

// The loops copy what they use into locals first: stores through uint8_t* may alias anything,
// so values read through the lambda's captured references would be reloaded every iteration
// (and the loop would not vectorise).
void dropout_mask(uint8_t* mask, int64_t n, double p, uint64_t seed) {
  const uint64_t key = mix64(seed), t = ::fastnn::dropout_threshold(p);
  parallel_for(n, kGrain, [=](int64_t b, int64_t e) {
    uint8_t* const m = mask;
    const uint64_t k = key, th = t;
#pragma omp simd
    for (int64_t i = b; i < e; ++i) m[i] = keep_bit(k, i, th);
  });
}

template <typename T>
void dropout_forward(const T* x, T* y, uint8_t* mask, int64_t n, double p, uint64_t seed) {
  const uint64_t key = mix64(seed), t = ::fastnn::dropout_threshold(p);
  const T scale = keep_scale<T>(p);
  const bool all_dropped = p == 1.0;  // exact zeros, not x * 0 (which is NaN for inf / NaN)
  parallel_for(n, kGrain, [=](int64_t b, int64_t e) {
    const T* const xs = x;
    T* const ys = y;
    uint8_t* const ms = mask;
    const uint64_t k = key, th = t;
    const T on = all_dropped ? T(0) : scale;
    // Two loops per cache-sized piece: the 64-bit hash and the T-wide scaling vectorise
    // separately (fused in one loop, the mixed widths defeat the vectoriser).
    constexpr int64_t kPiece = 2048;
    for (int64_t pb = b; pb < e; pb += kPiece) {
      const int64_t pe = std::min(e, pb + kPiece);
#pragma omp simd
      for (int64_t i = pb; i < pe; ++i) ms[i] = keep_bit(k, i, th);
      if (all_dropped) {
#pragma omp simd
        for (int64_t i = pb; i < pe; ++i) ys[i] = T(0);
      } else {
#pragma omp simd
        for (int64_t i = pb; i < pe; ++i) ys[i] = xs[i] * (ms[i] ? on : T(0));
      }
    }
  });
}

template <typename T>
void dropout_backward(const T* dy, const uint8_t* mask, T* dx, int64_t n, double p) {
  const T scale = keep_scale<T>(p);
  const bool all_dropped = p == 1.0;
  parallel_for(n, kGrain, [=](int64_t b, int64_t e) {
    const T* const gs = dy;
    const uint8_t* const ms = mask;
    T* const ds = dx;
#pragma omp simd
    for (int64_t i = b; i < e; ++i) ds[i] = all_dropped ? T(0) : gs[i] * (ms[i] ? scale : T(0));
  });
}

#define FASTNN_INSTANTIATE(T)                                                               \
  template void dropout_forward<T>(const T*, T*, uint8_t*, int64_t, double, uint64_t);      \
  template void dropout_backward<T>(const T*, const uint8_t*, T*, int64_t, double);
FASTNN_INSTANTIATE(float)
FASTNN_INSTANTIATE(double)
#undef FASTNN_INSTANTIATE

}  // namespace fastnn::FASTNN_ISA_NS
