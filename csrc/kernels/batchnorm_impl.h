// Batch norm kernels, written once and compiled per ISA: the including file defines
// FASTNN_ISA_NS and the build gives it the matching -m flags. See batchnorm.h.
//
// Two layouts of the same (N, C, HW) buffer:
//  - planes (HW > 1): channel ch is N contiguous runs of HW values; one thread owns a channel
//    and makes two passes over it (sums, then the element-wise map) while it is still in L2;
//  - columns (HW == 1, x is (N, C)): a channel is a strided column, so a block of channels is
//    swept row by row, vectorised across the channels of the block.
// Sums are in double, in a fixed order per channel: results do not depend on the thread count.
#include <algorithm>
#include <cmath>

#include "batchnorm_isa.h"
#include "cpu.h"

#ifndef FASTNN_ISA_NS
#error "define FASTNN_ISA_NS before including batchnorm_impl.h"
#endif

namespace fastnn::FASTNN_ISA_NS {
namespace {

constexpr int64_t kGrain = 1 << 15;  // values per thread at least (a parallel region costs ~us)
constexpr int64_t kBlock = 256;      // channels per block in the column layout

// The sums of a channel are shifted by its first value, or by 0 when that is not finite (an inf
// shift would make every term inf - inf = NaN, where the mean is inf).
inline double finite_or_zero(double v) { return std::isfinite(v) ? v : 0.0; }

// Per-channel statistics derived from sums shifted by `shift`: mean and biased variance.
struct Stats {
  double mean, var;
};
inline Stats stats_from_sums(double shift, double s1, double s2, double m) {
  const double d = s1 / m;
  return {shift + d, std::max(s2 / m - d * d, 0.0)};  // shifted sums: no catastrophic cancellation
}

// Writes mean / invstd for channel ch and updates the running statistics.
template <typename T>
void finish_train(int64_t ch, const Stats& st, double m, T* rm, T* rv, T* mean, T* invstd, double momentum,
                  double eps) {
  mean[ch] = static_cast<T>(st.mean);
  invstd[ch] = static_cast<T>(1.0 / std::sqrt(st.var + eps));
  if (rm) rm[ch] = static_cast<T>((1.0 - momentum) * static_cast<double>(rm[ch]) + momentum * st.mean);
  if (rv) rv[ch] = static_cast<T>((1.0 - momentum) * static_cast<double>(rv[ch]) + momentum * st.var * m / (m - 1.0));
}

// y = (x - mean) * (gamma * invstd) + beta over one channel's planes.
template <typename T>
void normalize_planes(const T* x, T* y, int64_t n, int64_t c, int64_t hw, int64_t ch, T mu, T scale, T shift) {
  for (int64_t i = 0; i < n; ++i) {
    const T* xp = x + (i * c + ch) * hw;
    T* yp = y + (i * c + ch) * hw;
#pragma omp simd
    for (int64_t j = 0; j < hw; ++j) yp[j] = (xp[j] - mu) * scale + shift;
  }
}

template <typename T>
T gamma_of(const T* gamma, int64_t ch) { return gamma ? gamma[ch] : T(1); }
template <typename T>
T beta_of(const T* beta, int64_t ch) { return beta ? beta[ch] : T(0); }

}  // namespace

template <typename T>
void batch_norm_forward_train(const T* x, const T* gamma, const T* beta, T* rm, T* rv, T* y, T* mean,
                              T* invstd, int64_t n, int64_t c, int64_t hw, double momentum, double eps) {
  const double m = static_cast<double>(n * hw);
  if (hw != 1) {  // planes (hw == 0: nothing to map)
    const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(n * hw, 1));
    parallel_for(c, grain, [&](int64_t cb, int64_t ce) {
      for (int64_t ch = cb; ch < ce; ++ch) {
        const double shift = finite_or_zero(static_cast<double>(x[ch * hw]));
        double s1 = 0, s2 = 0;
        for (int64_t i = 0; i < n; ++i) {
          const T* xp = x + (i * c + ch) * hw;
#pragma omp simd reduction(+ : s1, s2)
          for (int64_t j = 0; j < hw; ++j) {
            const double d = static_cast<double>(xp[j]) - shift;
            s1 += d;
            s2 += d * d;
          }
        }
        finish_train(ch, stats_from_sums(shift, s1, s2, m), m, rm, rv, mean, invstd, momentum, eps);
        const T scale = gamma_of(gamma, ch) * invstd[ch];
        normalize_planes(x, y, n, c, hw, ch, mean[ch], scale, beta_of(beta, ch));
      }
    });
    return;
  }
  // Columns: x is (n, c).
  const int64_t blocks = (c + kBlock - 1) / kBlock;
  const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(n * kBlock, 1));
  parallel_for(blocks, grain, [&](int64_t bb, int64_t be) {
    double shift[kBlock], s1[kBlock], s2[kBlock];
    T mu[kBlock], scale[kBlock], sh[kBlock];
    for (int64_t blk = bb; blk < be; ++blk) {
      const int64_t c0 = blk * kBlock, w = std::min(kBlock, c - c0);
      for (int64_t j = 0; j < w; ++j) {
        shift[j] = finite_or_zero(static_cast<double>(x[c0 + j]));
        s1[j] = s2[j] = 0;
      }
      for (int64_t i = 0; i < n; ++i) {
        const T* xr = x + i * c + c0;
#pragma omp simd
        for (int64_t j = 0; j < w; ++j) {
          const double d = static_cast<double>(xr[j]) - shift[j];
          s1[j] += d;
          s2[j] += d * d;
        }
      }
      for (int64_t j = 0; j < w; ++j) {
        const int64_t ch = c0 + j;
        finish_train(ch, stats_from_sums(shift[j], s1[j], s2[j], m), m, rm, rv, mean, invstd, momentum, eps);
        mu[j] = mean[ch];
        scale[j] = gamma_of(gamma, ch) * invstd[ch];
        sh[j] = beta_of(beta, ch);
      }
      for (int64_t i = 0; i < n; ++i) {
        const T* xr = x + i * c + c0;
        T* yr = y + i * c + c0;
#pragma omp simd
        for (int64_t j = 0; j < w; ++j) yr[j] = (xr[j] - mu[j]) * scale[j] + sh[j];
      }
    }
  });
}

template <typename T>
void batch_norm_forward_eval(const T* x, const T* gamma, const T* beta, const T* rm, const T* rv, T* y,
                             T* mean, T* invstd, int64_t n, int64_t c, int64_t hw, double eps) {
  for (int64_t ch = 0; ch < c; ++ch) {
    mean[ch] = rm[ch];
    invstd[ch] = static_cast<T>(1.0 / std::sqrt(static_cast<double>(rv[ch]) + eps));
  }
  if (hw != 1) {  // planes (hw == 0: nothing to map)
    const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(n * hw, 1));
    parallel_for(c, grain, [&](int64_t cb, int64_t ce) {
      for (int64_t ch = cb; ch < ce; ++ch)
        normalize_planes(x, y, n, c, hw, ch, mean[ch], gamma_of(gamma, ch) * invstd[ch], beta_of(beta, ch));
    });
    return;
  }
  // Columns: every row is the same per-channel affine map; split the rows between threads.
  const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(c, 1));
  parallel_for(n, grain, [&](int64_t rb, int64_t re) {
    for (int64_t i = rb; i < re; ++i) {
      const T* xr = x + i * c;
      T* yr = y + i * c;
#pragma omp simd
      for (int64_t ch = 0; ch < c; ++ch)
        yr[ch] = (xr[ch] - mean[ch]) * (gamma_of(gamma, ch) * invstd[ch]) + beta_of(beta, ch);
    }
  });
}

template <typename T>
void batch_norm_backward(const T* dy, const T* x, const T* gamma, const T* mean, const T* invstd, T* dx,
                         T* dgamma, T* dbeta, int64_t n, int64_t c, int64_t hw, bool training) {
  const double m = static_cast<double>(n * hw);
  // From the per-channel sums sum(dy) and sum(dy * (x - mean)): dgamma, dbeta and the
  // coefficients of dx = k * ((dy - a) - (x - mean) * b)  (a = b = 0 in eval).
  struct Coef {
    T k, a, b;
  };
  auto coef = [&](int64_t ch, double sdy, double sdyx) {
    const double is = static_cast<double>(invstd[ch]);
    dbeta[ch] = static_cast<T>(sdy);
    dgamma[ch] = static_cast<T>(sdyx * is);
    const T k = gamma_of(gamma, ch) * invstd[ch];
    if (!training || m == 0) return Coef{k, T(0), T(0)};
    return Coef{k, static_cast<T>(sdy / m), static_cast<T>(is * is * sdyx / m)};
  };
  if (hw != 1) {  // planes (hw == 0: nothing to map)
    const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(n * hw, 1));
    parallel_for(c, grain, [&](int64_t cb, int64_t ce) {
      for (int64_t ch = cb; ch < ce; ++ch) {
        const double mu = static_cast<double>(mean[ch]);
        double sdy = 0, sdyx = 0;
        for (int64_t i = 0; i < n; ++i) {
          const T* gp = dy + (i * c + ch) * hw;
          const T* xp = x + (i * c + ch) * hw;
#pragma omp simd reduction(+ : sdy, sdyx)
          for (int64_t j = 0; j < hw; ++j) {
            const double g = static_cast<double>(gp[j]);
            sdy += g;
            sdyx += g * (static_cast<double>(xp[j]) - mu);
          }
        }
        const Coef k = coef(ch, sdy, sdyx);
        const T muT = mean[ch];
        for (int64_t i = 0; i < n; ++i) {
          const T* gp = dy + (i * c + ch) * hw;
          const T* xp = x + (i * c + ch) * hw;
          T* dp = dx + (i * c + ch) * hw;
          if (k.b == T(0)) {  // eval: dx does not depend on x, which may be NaN or inf there
#pragma omp simd
            for (int64_t j = 0; j < hw; ++j) dp[j] = k.k * (gp[j] - k.a);
            continue;
          }
#pragma omp simd
          for (int64_t j = 0; j < hw; ++j) dp[j] = k.k * ((gp[j] - k.a) - (xp[j] - muT) * k.b);
        }
      }
    });
    return;
  }
  const int64_t blocks = (c + kBlock - 1) / kBlock;
  const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(n * kBlock, 1));
  parallel_for(blocks, grain, [&](int64_t bb, int64_t be) {
    double mu[kBlock], sdy[kBlock], sdyx[kBlock];
    T kk[kBlock], ka[kBlock], kb[kBlock], muT[kBlock];
    for (int64_t blk = bb; blk < be; ++blk) {
      const int64_t c0 = blk * kBlock, w = std::min(kBlock, c - c0);
      for (int64_t j = 0; j < w; ++j) {
        mu[j] = static_cast<double>(mean[c0 + j]);
        muT[j] = mean[c0 + j];
        sdy[j] = sdyx[j] = 0;
      }
      for (int64_t i = 0; i < n; ++i) {
        const T* gr = dy + i * c + c0;
        const T* xr = x + i * c + c0;
#pragma omp simd
        for (int64_t j = 0; j < w; ++j) {
          const double g = static_cast<double>(gr[j]);
          sdy[j] += g;
          sdyx[j] += g * (static_cast<double>(xr[j]) - mu[j]);
        }
      }
      for (int64_t j = 0; j < w; ++j) {
        const Coef k = coef(c0 + j, sdy[j], sdyx[j]);
        kk[j] = k.k;
        ka[j] = k.a;
        kb[j] = k.b;
      }
      for (int64_t i = 0; i < n; ++i) {
        const T* gr = dy + i * c + c0;
        const T* xr = x + i * c + c0;
        T* dr = dx + i * c + c0;
#pragma omp simd
        for (int64_t j = 0; j < w; ++j)  // kb == 0 (eval): dx does not depend on x (maybe NaN there)
          dr[j] = kk[j] * ((gr[j] - ka[j]) - (kb[j] != T(0) ? (xr[j] - muT[j]) * kb[j] : T(0)));
      }
    }
  });
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

}  // namespace fastnn::FASTNN_ISA_NS
