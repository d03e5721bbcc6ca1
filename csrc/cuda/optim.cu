// Fused optimizer updates for the GPU path: one in-place pass over a float32 parameter, its
// gradient and its slots, the CPU loops' formulas (csrc/kernels/optim_impl.h) with the same
// float32 arithmetic. Per-step scalars (bias corrections, the RAdam rectification) are computed
// once in double by fastnn.cuda.optim, as csrc/kernels/optim.cpp does. Element-wise.
#include "common.cuh"

// buf may be null when mom == 0; damp1 = 1 - dampening.
extern "C" __global__ void sgd_update_f32(float* p, const float* g, float* buf, long long n, float lr, float mom,
                                          float damp1, int nesterov, float wd, int first_step) {
  FASTNN_GRID_STRIDE(i, n) {
    if (mom == 0.0f) {
      p[i] -= lr * (g[i] + wd * p[i]);
      continue;
    }
    const float gi = g[i] + wd * p[i];
    const float bi = first_step ? gi : mom * buf[i] + damp1 * gi;
    buf[i] = bi;
    p[i] -= lr * (nesterov ? gi + mom * bi : bi);
  }
}

extern "C" __global__ void adagrad_update_f32(float* p, const float* g, float* ss, long long n, float clr, float wd,
                                              float eps) {
  FASTNN_GRID_STRIDE(i, n) {
    const float gi = g[i] + wd * p[i];
    const float s = ss[i] + gi * gi;
    ss[i] = s;
    p[i] -= clr * gi / (sqrtf(s) + eps);
  }
}

extern "C" __global__ void adadelta_update_f32(float* p, const float* g, float* sa, float* ad, long long n, float lr,
                                               float rho, float one_m_rho, float eps, float wd) {
  FASTNN_GRID_STRIDE(i, n) {
    const float gi = g[i] + wd * p[i];
    const float s = rho * sa[i] + one_m_rho * gi * gi;
    sa[i] = s;
    const float delta = sqrtf(ad[i] + eps) / sqrtf(s + eps) * gi;
    ad[i] = rho * ad[i] + one_m_rho * delta * delta;
    p[i] -= lr * delta;
  }
}

// buf may be null unless mom > 0, ga null unless centered.
extern "C" __global__ void rmsprop_update_f32(float* p, const float* g, float* sa, float* buf, float* ga, long long n,
                                              float lr, float alpha, float one_m_alpha, float eps, float wd, float mom,
                                              int centered) {
  FASTNN_GRID_STRIDE(i, n) {
    const float gi = g[i] + wd * p[i];
    const float s = alpha * sa[i] + one_m_alpha * gi * gi;
    sa[i] = s;
    float avg;
    if (centered) {
      const float a = alpha * ga[i] + one_m_alpha * gi;
      ga[i] = a;
      avg = sqrtf(s - a * a) + eps;
    } else {
      avg = sqrtf(s) + eps;
    }
    if (mom > 0.0f) {
      const float bi = mom * buf[i] + gi / avg;
      buf[i] = bi;
      p[i] -= lr * bi;
    } else {
      p[i] -= lr * gi / avg;
    }
  }
}

// decay = 1 - lr * wd for AdamW (1 for Adam), wd_l2 = wd for Adam (0 for AdamW),
// step_size = lr / (1 - beta1^step), inv_sqrt_bc2 = 1 / sqrt(1 - beta2^step). vmax: null, or
// AMSGrad's running maximum of v (NaN propagating, as torch.maximum), used in the denominator.
extern "C" __global__ void adam_update_f32(float* p, const float* g, float* m, float* v, long long n, float decay,
                                           float b1, float one_m_b1, float b2, float one_m_b2, float wd_l2,
                                           float step_size, float inv_sqrt_bc2, float eps, float* vmax) {
  FASTNN_GRID_STRIDE(i, n) {
    const float pi = p[i] * decay;
    const float gi = g[i] + wd_l2 * pi;
    const float mi = b1 * m[i] + one_m_b1 * gi;
    const float vi = b2 * v[i] + one_m_b2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    float vd = vi;
    if (vmax != nullptr) {
      const float old = vmax[i];
      vd = (vi > old || vi != vi) ? vi : old;
      vmax[i] = vd;
    }
    p[i] = pi - step_size * mi / (sqrtf(vd) * inv_sqrt_bc2 + eps);
  }
}

// rectified: rho_t > 5; coef = lr / (1 - beta1^step) (* rectification * sqrt(1 - beta2^step) when rectified).
extern "C" __global__ void radam_update_f32(float* p, const float* g, float* m, float* v, long long n, float b1,
                                            float one_m_b1, float b2, float one_m_b2, float wd, int rectified,
                                            float coef, float eps) {
  FASTNN_GRID_STRIDE(i, n) {
    const float gi = g[i] + wd * p[i];
    const float mi = b1 * m[i] + one_m_b1 * gi;
    const float vi = b2 * v[i] + one_m_b2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] -= rectified ? coef * mi / (sqrtf(vi) + eps) : coef * mi;
  }
}
