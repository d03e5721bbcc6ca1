#include "batchnorm.h"

#include "batchnorm_isa.h"
#include "isa_dispatch.h"

namespace fastnn {

template <typename T>
void batch_norm_forward_train(const T* x, const T* gamma, const T* beta, T* rm, T* rv, T* y, T* mean,
                              T* invstd, int64_t n, int64_t c, int64_t hw, double momentum, double eps) {
  FASTNN_DISPATCH(batch_norm_forward_train<T>(x, gamma, beta, rm, rv, y, mean, invstd, n, c, hw, momentum, eps));
}
template <typename T>
void batch_norm_forward_eval(const T* x, const T* gamma, const T* beta, const T* rm, const T* rv, T* y,
                             T* mean, T* invstd, int64_t n, int64_t c, int64_t hw, double eps) {
  FASTNN_DISPATCH(batch_norm_forward_eval<T>(x, gamma, beta, rm, rv, y, mean, invstd, n, c, hw, eps));
}
template <typename T>
void batch_norm_backward(const T* dy, const T* x, const T* gamma, const T* mean, const T* invstd, T* dx,
                         T* dgamma, T* dbeta, int64_t n, int64_t c, int64_t hw, bool training) {
  FASTNN_DISPATCH(batch_norm_backward<T>(dy, x, gamma, mean, invstd, dx, dgamma, dbeta, n, c, hw, training));
}

#define FASTNN_INSTANTIATE(T)                                                                            \
  template void batch_norm_forward_train<T>(const T*, const T*, const T*, T*, T*, T*, T*, T*, int64_t,     \
                                            int64_t, int64_t, double, double);                           \
  template void batch_norm_forward_eval<T>(const T*, const T*, const T*, const T*, const T*, T*, T*, T*,   \
                                           int64_t, int64_t, int64_t, double);                           \
  template void batch_norm_backward<T>(const T*, const T*, const T*, const T*, const T*, T*, T*, T*,       \
                                       int64_t, int64_t, int64_t, bool);
FASTNN_INSTANTIATE(float)
FASTNN_INSTANTIATE(double)
#undef FASTNN_INSTANTIATE

}  // namespace fastnn
