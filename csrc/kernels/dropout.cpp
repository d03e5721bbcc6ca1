#include "dropout.h"

#include <cmath>

#include "dropout_isa.h"
#include "isa_dispatch.h"

namespace fastnn {

uint64_t dropout_threshold(double p) { return static_cast<uint64_t>(std::floor(p * 9007199254740992.0)); }

void dropout_mask(uint8_t* mask, int64_t n, double p, uint64_t seed) {
  FASTNN_DISPATCH(dropout_mask(mask, n, p, seed));
}
template <typename T>
void dropout_forward(const T* x, T* y, uint8_t* mask, int64_t n, double p, uint64_t seed) {
  FASTNN_DISPATCH(dropout_forward<T>(x, y, mask, n, p, seed));
}
template <typename T>
void dropout_backward(const T* dy, const uint8_t* mask, T* dx, int64_t n, double p) {
  FASTNN_DISPATCH(dropout_backward<T>(dy, mask, dx, n, p));
}

#define FASTNN_INSTANTIATE(T)                                                               \
  template void dropout_forward<T>(const T*, T*, uint8_t*, int64_t, double, uint64_t);      \
  template void dropout_backward<T>(const T*, const uint8_t*, T*, int64_t, double);
FASTNN_INSTANTIATE(float)
FASTNN_INSTANTIATE(double)
#undef FASTNN_INSTANTIATE

}  // namespace fastnn
