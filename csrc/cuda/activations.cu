// Activations and row softmax for the GPU path, loaded at run time by fastnn.cuda through
// cupy.RawModule (NVRTC). Grid-stride loops (see common.cuh for the execution model every
// kernel follows, and what lets emulate.h run them on the CPU in the tests).
// Activation ids follow fastnn::Act (csrc/kernels/activations.h):
//   0 step, 1 sigmoid, 2 tanh, 3 relu, 4 leaky_relu, 5 softplus, 6 swish, 7 elu, 8 gelu (a != 0:
//   its tanh approximation).

#include "common.cuh"

template <typename T>
__device__ __forceinline__ T d_sigmoid(T z) { return T(1) / (T(1) + d_exp(-z)); }

template <typename T>
__device__ __forceinline__ T d_phi(T v) { return T(0.5) * d_erfc(-v * T(0.70710678118654752440)); }

// GELU's tanh form through s = sigmoid(2u) = (1 + tanh(u)) / 2, as the CPU kernel (activations_impl.h).
template <typename T>
__device__ __forceinline__ T d_gelu_tanh_s(T v) {
  return d_sigmoid(T(2 * 0.79788456080286535588) * (v + T(0.044715) * v * v * v));
}

template <typename T>
__device__ __forceinline__ T act_fwd(int act, T v, T a, T thr) {
  switch (act) {
    case 0: return v > T(0) ? T(1) : (v <= T(0) ? T(0) : v);
    case 1: return d_sigmoid(a * v);
    case 2: return d_tanh(v);
    case 3: return v < T(0) ? T(0) : v;
    case 4: return v > T(0) ? v : v * a;
    case 5: {
      const T z = a * v;
      const T m = z > T(0) ? z : T(0);
      return z > thr ? v : (m + d_log1p(d_exp(-(z < T(0) ? -z : z)))) / a;
    }
    case 6: return v * d_sigmoid(a * v);
    case 8: return a != T(0) ? v * d_gelu_tanh_s(v) : v * d_phi(v);
    default: return v < T(0) ? a * d_expm1(v) : v;
  }
}

// s is the forward output y for sigmoid/tanh and the input x for the others.
template <typename T>
__device__ __forceinline__ T act_bwd(int act, T g, T s, T a, T thr) {
  switch (act) {
    case 0: return T(0);
    case 1: return g * a * s * (T(1) - s);
    case 2: return g * (T(1) - s * s);
    case 3: return s <= T(0) ? T(0) : g;  // NaN passes the gradient on (PyTorch)
    case 4: return s > T(0) ? g : g * a;
    case 5: return a * s > thr ? g : g * d_sigmoid(a * s);
    case 6: {
      const T sg = d_sigmoid(a * s);
      return g * (sg + a * s * sg * (T(1) - sg));
    }
    case 8: {
      if (a != T(0)) {
        const T q = d_gelu_tanh_s(s);
        return g * (q + T(2) * s * q * (T(1) - q) * T(0.79788456080286535588) * (T(1) + T(3 * 0.044715) * s * s));
      }
      return g * (d_phi(s) + s * T(0.39894228040143267794) * d_exp(-s * s * T(0.5)));
    }
    default: return s <= T(0) ? g * a * d_exp(s) : g;
  }
}

template <typename T>
__device__ void act_forward(const T* x, T* y, long long n, int act, T a, T thr) {
  const long long stride = (long long)blockDim.x * gridDim.x;
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
    y[i] = act_fwd(act, x[i], a, thr);
}

template <typename T>
__device__ void act_backward(const T* dy, const T* s, T* dx, long long n, int act, T a, T thr) {
  const long long stride = (long long)blockDim.x * gridDim.x;
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
    dx[i] = act_bwd(act, dy[i], s[i], a, thr);
}

// One thread per row: classifier outputs have few columns; rows are many.
template <typename T>
__device__ void softmax_forward(const T* x, T* y, long long rows, long long cols, int log_) {
  const long long stride = (long long)blockDim.x * gridDim.x;
  for (long long r = (long long)blockIdx.x * blockDim.x + threadIdx.x; r < rows; r += stride) {
    const T* xr = x + r * cols;
    T* yr = y + r * cols;
    if (cols == 0) continue;
    T mx = xr[0];
    for (long long j = 1; j < cols; ++j) mx = xr[j] > mx ? xr[j] : mx;
    T sum = 0;
    for (long long j = 0; j < cols; ++j) sum += d_exp(xr[j] - mx);
    if (log_) {
      const T ls = d_log(sum);
      for (long long j = 0; j < cols; ++j) yr[j] = (xr[j] - mx) - ls;
    } else {
      for (long long j = 0; j < cols; ++j) yr[j] = d_exp(xr[j] - mx) / sum;
    }
  }
}

template <typename T>
__device__ void softmax_backward(const T* dy, const T* y, T* dx, long long rows, long long cols, int log_) {
  const long long stride = (long long)blockDim.x * gridDim.x;
  for (long long r = (long long)blockIdx.x * blockDim.x + threadIdx.x; r < rows; r += stride) {
    const T* gr = dy + r * cols;
    const T* yr = y + r * cols;
    T* dr = dx + r * cols;
    T s = 0;
    if (log_) {
      for (long long j = 0; j < cols; ++j) s += gr[j];
      for (long long j = 0; j < cols; ++j) dr[j] = gr[j] - d_exp(yr[j]) * s;
    } else {
      for (long long j = 0; j < cols; ++j) s += gr[j] * yr[j];
      for (long long j = 0; j < cols; ++j) dr[j] = yr[j] * (gr[j] - s);
    }
  }
}

#define FASTNN_CUDA_KERNELS(T, SUFFIX)                                                               \
  extern "C" __global__ void act_forward_##SUFFIX(const T* x, T* y, long long n, int act, T a, T thr) { \
    act_forward<T>(x, y, n, act, a, thr);                                                            \
  }                                                                                                  \
  extern "C" __global__ void act_backward_##SUFFIX(const T* dy, const T* s, T* dx, long long n, int act, \
                                                   T a, T thr) {                                     \
    act_backward<T>(dy, s, dx, n, act, a, thr);                                                      \
  }                                                                                                  \
  extern "C" __global__ void softmax_forward_##SUFFIX(const T* x, T* y, long long rows, long long cols,  \
                                                      int log_) {                                    \
    softmax_forward<T>(x, y, rows, cols, log_);                                                      \
  }                                                                                                  \
  extern "C" __global__ void softmax_backward_##SUFFIX(const T* dy, const T* y, T* dx, long long rows,  \
                                                       long long cols, int log_) {                   \
    softmax_backward<T>(dy, y, dx, rows, cols, log_);                                                \
  }

FASTNN_CUDA_KERNELS(float, f32)
FASTNN_CUDA_KERNELS(double, f64)
