// Optimizer loops, written once and compiled per ISA: the including file defines FASTNN_ISA_NS
// and the build gives it the matching -m flags. Each is one streaming pass: read param, grad and
// slots once, write param and slots once. See optim.h / fastnn/reference/optim.py for the rules.
#include <cmath>

#include "cpu.h"
#include "optim_isa.h"

#ifndef FASTNN_ISA_NS
#error "define FASTNN_ISA_NS before including optim_impl.h"
#endif

namespace fastnn::FASTNN_ISA_NS {
namespace {
constexpr int64_t kGrain = 1 << 15;  // elements per thread at least
}  // namespace

void sgd_loop(float* p, const float* g, float* buf, int64_t n, float lr, float mom, float damp1, bool nesterov,
              float wd, bool first_step) {
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    if (mom == 0.0f) {
#pragma omp simd
      for (int64_t i = b; i < e; ++i) p[i] -= lr * (g[i] + wd * p[i]);
      return;
    }
#pragma omp simd
    for (int64_t i = b; i < e; ++i) {
      const float gi = g[i] + wd * p[i];
      const float bi = first_step ? gi : mom * buf[i] + damp1 * gi;
      buf[i] = bi;
      p[i] -= lr * (nesterov ? gi + mom * bi : bi);
    }
  });
}

void adagrad_loop(float* p, const float* g, float* ss, int64_t n, float clr, float wd, float eps) {
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
#pragma omp simd
    for (int64_t i = b; i < e; ++i) {
      const float gi = g[i] + wd * p[i];
      const float s = ss[i] + gi * gi;
      ss[i] = s;
      p[i] -= clr * gi / (std::sqrt(s) + eps);
    }
  });
}

void adadelta_loop(float* p, const float* g, float* sa, float* ad, int64_t n, float lr, float rho, float one_m_rho,
                   float eps, float wd) {
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
#pragma omp simd
    for (int64_t i = b; i < e; ++i) {
      const float gi = g[i] + wd * p[i];
      const float s = rho * sa[i] + one_m_rho * gi * gi;
      sa[i] = s;
      const float delta = std::sqrt(ad[i] + eps) / std::sqrt(s + eps) * gi;
      ad[i] = rho * ad[i] + one_m_rho * delta * delta;
      p[i] -= lr * delta;
    }
  });
}

void rmsprop_loop(float* p, const float* g, float* sa, float* buf, float* ga, int64_t n, float lr, float alpha,
                  float one_m_alpha, float eps, float wd, float mom, bool centered) {
  const bool use_mom = mom > 0.0f;
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    if (centered) {
#pragma omp simd
      for (int64_t i = b; i < e; ++i) {
        const float gi = g[i] + wd * p[i];
        const float s = alpha * sa[i] + one_m_alpha * gi * gi;
        const float a = alpha * ga[i] + one_m_alpha * gi;
        sa[i] = s;
        ga[i] = a;
        const float avg = std::sqrt(s - a * a) + eps;
        if (use_mom) {
          const float bi = mom * buf[i] + gi / avg;
          buf[i] = bi;
          p[i] -= lr * bi;
        } else {
          p[i] -= lr * gi / avg;
        }
      }
    } else {
#pragma omp simd
      for (int64_t i = b; i < e; ++i) {
        const float gi = g[i] + wd * p[i];
        const float s = alpha * sa[i] + one_m_alpha * gi * gi;
        sa[i] = s;
        const float avg = std::sqrt(s) + eps;
        if (use_mom) {
          const float bi = mom * buf[i] + gi / avg;
          buf[i] = bi;
          p[i] -= lr * bi;
        } else {
          p[i] -= lr * gi / avg;
        }
      }
    }
  });
}

void adam_loop(float* p, const float* g, float* m, float* v, float* vmax, int64_t n, float decay, float b1,
               float one_m_b1, float b2, float one_m_b2, float wd_l2, float step_size, float inv_sqrt_bc2,
               float eps) {
  if (vmax != nullptr) {
    // AMSGrad (Reddi et al. 2018): the denominator uses the running maximum of v (PyTorch's
    // amsgrad=True: max_exp_avg_sq = max(max_exp_avg_sq, exp_avg_sq), NaN propagating).
    parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
#pragma omp simd
      for (int64_t i = b; i < e; ++i) {
        const float pi = p[i] * decay;
        const float gi = g[i] + wd_l2 * pi;
        const float mi = b1 * m[i] + one_m_b1 * gi;
        const float vi = b2 * v[i] + one_m_b2 * gi * gi;
        const float old = vmax[i];
        const float vm = (vi > old || vi != vi) ? vi : old;
        m[i] = mi;
        v[i] = vi;
        vmax[i] = vm;
        p[i] = pi - step_size * mi / (std::sqrt(vm) * inv_sqrt_bc2 + eps);
      }
    });
    return;
  }
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
#pragma omp simd
    for (int64_t i = b; i < e; ++i) {
      const float pi = p[i] * decay;  // AdamW's decoupled decay (decay = 1 for Adam)
      const float gi = g[i] + wd_l2 * pi;
      const float mi = b1 * m[i] + one_m_b1 * gi;
      const float vi = b2 * v[i] + one_m_b2 * gi * gi;
      m[i] = mi;
      v[i] = vi;
      p[i] = pi - step_size * mi / (std::sqrt(vi) * inv_sqrt_bc2 + eps);
    }
  });
}

void radam_loop(float* p, const float* g, float* m, float* v, int64_t n, float b1, float one_m_b1, float b2,
                float one_m_b2, float wd, bool rectified, float coef, float eps) {
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
#pragma omp simd
    for (int64_t i = b; i < e; ++i) {
      const float gi = g[i] + wd * p[i];
      const float mi = b1 * m[i] + one_m_b1 * gi;
      const float vi = b2 * v[i] + one_m_b2 * gi * gi;
      m[i] = mi;
      v[i] = vi;
      p[i] -= rectified ? coef * mi / (std::sqrt(vi) + eps) : coef * mi;
    }
  });
}

}  // namespace fastnn::FASTNN_ISA_NS
