#include "activations.h"

#include "activations_isa.h"
#include "isa_dispatch.h"

namespace fastnn {

template <typename T>
void activation_forward(Act act, const T* x, T* y, int64_t n, const ActParams& p) {
  FASTNN_DISPATCH(activation_forward<T>(act, x, y, n, p));
}
template <typename T>
void activation_backward(Act act, const T* dy, const T* s, T* dx, int64_t n, const ActParams& p) {
  FASTNN_DISPATCH(activation_backward<T>(act, dy, s, dx, n, p));
}
template <typename T>
void softmax_forward(const T* x, T* y, int64_t rows, int64_t cols, bool log) {
  FASTNN_DISPATCH(softmax_forward<T>(x, y, rows, cols, log));
}
template <typename T>
void softmax_backward(const T* dy, const T* y, T* dx, int64_t rows, int64_t cols, bool log) {
  FASTNN_DISPATCH(softmax_backward<T>(dy, y, dx, rows, cols, log));
}
void exp_inplace_f64(double* e, int64_t n) { FASTNN_DISPATCH(exp_inplace_f64(e, n)); }

#define FASTNN_INSTANTIATE(T)                                                                    \
  template void activation_forward<T>(Act, const T*, T*, int64_t, const ActParams&);             \
  template void activation_backward<T>(Act, const T*, const T*, T*, int64_t, const ActParams&);  \
  template void softmax_forward<T>(const T*, T*, int64_t, int64_t, bool);                        \
  template void softmax_backward<T>(const T*, const T*, T*, int64_t, int64_t, bool);
FASTNN_INSTANTIATE(float)
FASTNN_INSTANTIATE(double)
#undef FASTNN_INSTANTIATE

}  // namespace fastnn
