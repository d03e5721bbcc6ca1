// Baseline GEMM: correct for every shape and transpose, row-parallel, cache-naive.
#include "gemm.h"

#include <vector>

#include "cpu.h"

namespace fastnn {

template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
          int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc, const T* bias) {
  if (m <= 0 || n <= 0) return;
  parallel_for(m, 4, [&](int64_t i0, int64_t i1) {
    std::vector<T> acc(static_cast<size_t>(n));
    for (int64_t i = i0; i < i1; ++i) {
      for (int64_t j = 0; j < n; ++j) acc[j] = T(0);
      for (int64_t p = 0; p < k; ++p) {
        const T av = trans_a ? a[p * lda + i] : a[i * lda + p];
        if (!trans_b) {
          const T* br = b + p * ldb;
#pragma omp simd
          for (int64_t j = 0; j < n; ++j) acc[j] += av * br[j];
        } else {
          for (int64_t j = 0; j < n; ++j) acc[j] += av * b[j * ldb + p];
        }
      }
      T* cr = c + i * ldc;
      for (int64_t j = 0; j < n; ++j) {
        T v = alpha * acc[j];
        if (beta != T(0)) v += beta * cr[j];
        if (bias) v += bias[j];
        cr[j] = v;
      }
    }
  });
}

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                          const float*, int64_t, float, float*, int64_t, const float*);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                           const double*, int64_t, double, double*, int64_t, const double*);

}  // namespace fastnn
