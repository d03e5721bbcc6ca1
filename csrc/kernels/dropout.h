// Inverted dropout with a counter-based RNG: the keep bit of element i is a pure function of
// (seed, i), so the mask is reproducible and independent of the thread count. The definition,
// shared with fastnn/reference/dropout.py (which documents it):
//   mix64(z) = SplitMix64's finalizer; key = mix64(seed);
//   bits(i) = mix64(key + (i + 1) * 0x9E3779B97F4A7C15); keep(i) = (bits(i) >> 11) >= floor(p * 2^53).
// Pure C++ on raw buffers; float and double are instantiated.
#pragma once
#include <cstdint>

namespace fastnn {

// floor(p * 2^53) for p in [0, 1] (exact: a power-of-two scaling of a double).
uint64_t dropout_threshold(double p);

// mask[i] = keep(i) for i in [0, n).
void dropout_mask(uint8_t* mask, int64_t n, double p, uint64_t seed);

// mask as above; y = x * (keep ? 1 / (1 - p) : 0) with 1 / (1 - p) rounded to T; p == 1 gives y = 0.
template <typename T>
void dropout_forward(const T* x, T* y, uint8_t* mask, int64_t n, double p, uint64_t seed);

// dx = dy * (mask ? 1 / (1 - p) : 0); p == 1 gives dx = 0.
template <typename T>
void dropout_backward(const T* dy, const uint8_t* mask, T* dx, int64_t n, double p);

}  // namespace fastnn
