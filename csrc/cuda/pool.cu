// 2-D pooling for the GPU path: max (int64 argmax indices), average and global average, forward
// and backward, with the CPU kernels' exact rules (csrc/kernels/pool.h).
//
// Legend: planes = N*C, H W (input), KH KW, SH SW, PH PW, OH OW. Window (oh, ow) covers rows
// oh*SH - PH .. + KH - 1 and the matching columns; PH <= KH/2, PW <= KW/2 (checked by the
// caller), so every window holds a real element.
#include "common.cuh"

// The real (unpadded) extent [lo, hi) of window o along one axis.
__device__ __forceinline__ void pool_window(long long o, long long stride, long long pad, long long kernel,
                                            long long size, long long& lo, long long& hi) {
  const long long start = o * stride - pad;
  lo = start > 0 ? start : 0;
  hi = start + kernel < size ? start + kernel : size;
}

// y = window max, idx = its position r*W + c in the plane. Row-major scan from -inf at the
// window's first real element: greater or NaN replaces (NaN wins, padding never does, an all
// -inf window keeps -inf and that first element's index). One thread per output.
template <typename T>
__device__ void max_pool2d_forward(const T* x, T* y, long long* idx, long long planes, long long h, long long w,
                                   long long kh, long long kw, long long sh, long long sw, long long ph,
                                   long long pw, long long oh, long long ow) {
  FASTNN_GRID_STRIDE(q, planes * oh * ow) {
    const long long ox = q % ow, oy = (q / ow) % oh, plane = q / (ow * oh);
    long long r0, r1, c0, c1;
    pool_window(oy, sh, ph, kh, h, r0, r1);
    pool_window(ox, sw, pw, kw, w, c0, c1);
    const T* xp = x + plane * h * w;
    T best = -d_inf<T>();
    long long at = r0 * w + c0;
    for (long long r = r0; r < r1; ++r)
      for (long long c = c0; c < c1; ++c) {
        const T v = xp[r * w + c];
        if (v > best || v != v) {
          best = v;
          at = r * w + c;
        }
      }
    y[q] = best;
    idx[q] = at;
  }
}

// dx[plane][idx] += dy, dx overwritten. One thread per plane, outputs in order: race-free and
// the CPU's summation order (indices come from max_pool2d_forward, so windows that share a
// maximum add up; fastnn.cuda checked they lie in [0, H*W) before the launch, and any that
// does not is skipped here, never written).
template <typename T>
__device__ void max_pool2d_backward(const T* dy, const long long* idx, T* dx, long long planes, long long in_plane,
                                    long long out_plane) {
  FASTNN_GRID_STRIDE(plane, planes) {
    T* dxp = dx + plane * in_plane;
    for (long long e = 0; e < in_plane; ++e) dxp[e] = T(0);
    for (long long o = plane * out_plane; o < (plane + 1) * out_plane; ++o) {
      const long long at = idx[o];
      if (at >= 0 && at < in_plane) dxp[at] += dy[o];
    }
  }
}

__device__ __forceinline__ long long avg_divisor(long long oy, long long ox, long long h, long long w, long long kh,
                                                 long long kw, long long sh, long long sw, long long ph,
                                                 long long pw, int count_include_pad) {
  if (count_include_pad) return kh * kw;
  long long r0, r1, c0, c1;
  pool_window(oy, sh, ph, kh, h, r0, r1);
  pool_window(ox, sw, pw, kw, w, c0, c1);
  return (r1 - r0) * (c1 - c0);
}

// y = (sum of the window's real elements, row-major, in T) / divisor. One thread per output.
template <typename T>
__device__ void avg_pool2d_forward(const T* x, T* y, long long planes, long long h, long long w, long long kh,
                                   long long kw, long long sh, long long sw, long long ph, long long pw,
                                   long long oh, long long ow, int count_include_pad) {
  FASTNN_GRID_STRIDE(q, planes * oh * ow) {
    const long long ox = q % ow, oy = (q / ow) % oh, plane = q / (ow * oh);
    long long r0, r1, c0, c1;
    pool_window(oy, sh, ph, kh, h, r0, r1);
    pool_window(ox, sw, pw, kw, w, c0, c1);
    const T* xp = x + plane * h * w;
    T acc = T(0);
    for (long long r = r0; r < r1; ++r)
      for (long long c = c0; c < c1; ++c) acc += xp[r * w + c];
    y[q] = acc / (T)avg_divisor(oy, ox, h, w, kh, kw, sh, sw, ph, pw, count_include_pad);
  }
}

// dx[r, c] = sum over the windows (oh, ow) containing (r, c), in (oh, ow) order, of dy / divisor.
// One thread per input element (a gather: no two threads write the same element).
template <typename T>
__device__ void avg_pool2d_backward(const T* dy, T* dx, long long planes, long long h, long long w, long long kh,
                                    long long kw, long long sh, long long sw, long long ph, long long pw,
                                    long long oh, long long ow, int count_include_pad) {
  FASTNN_GRID_STRIDE(q, planes * h * w) {
    const long long c = q % w, r = (q / w) % h, plane = q / (w * h);
    // windows oy with oy*SH - PH <= r <= oy*SH - PH + KH - 1 (and the same for columns)
    const long long ry = r + ph, cx = c + pw;
    const long long y0 = ry - kh + 1 > 0 ? (ry - kh + 1 + sh - 1) / sh : 0, y1 = d_min(ry / sh + 1, oh);
    const long long x0 = cx - kw + 1 > 0 ? (cx - kw + 1 + sw - 1) / sw : 0, x1 = d_min(cx / sw + 1, ow);
    const T* dyp = dy + plane * oh * ow;
    T v = T(0);
    for (long long oy = y0; oy < y1; ++oy)
      for (long long ox = x0; ox < x1; ++ox)
        v += dyp[oy * ow + ox] / (T)avg_divisor(oy, ox, h, w, kh, kw, sh, sw, ph, pw, count_include_pad);
    dx[q] = v;
  }
}

// y[q] = mean of plane q, summed in double front to back. One thread per plane.
template <typename T>
__device__ void global_avg_pool2d_forward(const T* x, T* y, long long planes, long long plane) {
  FASTNN_GRID_STRIDE(q, planes) {
    double s = 0;
    for (long long e = 0; e < plane; ++e) s += (double)x[q * plane + e];
    y[q] = (T)(s / (double)plane);
  }
}

// dx[q, :] = dy[q] / plane. One thread per element.
template <typename T>
__device__ void global_avg_pool2d_backward(const T* dy, T* dx, long long planes, long long plane) {
  FASTNN_GRID_STRIDE(q, planes * plane) { dx[q] = dy[q / plane] / (T)plane; }
}

#define FASTNN_POOL_KERNELS(T, SUFFIX)                                                                          \
  extern "C" __global__ void max_pool2d_forward_##SUFFIX(const T* x, T* y, long long* idx, long long planes,    \
                                                         long long h, long long w, long long kh, long long kw,  \
                                                         long long sh, long long sw, long long ph,              \
                                                         long long pw, long long oh, long long ow) {            \
    max_pool2d_forward<T>(x, y, idx, planes, h, w, kh, kw, sh, sw, ph, pw, oh, ow);                              \
  }                                                                                                             \
  extern "C" __global__ void max_pool2d_backward_##SUFFIX(const T* dy, const long long* idx, T* dx,             \
                                                          long long planes, long long in_plane,                \
                                                          long long out_plane) {                               \
    max_pool2d_backward<T>(dy, idx, dx, planes, in_plane, out_plane);                                            \
  }                                                                                                             \
  extern "C" __global__ void avg_pool2d_forward_##SUFFIX(const T* x, T* y, long long planes, long long h,       \
                                                         long long w, long long kh, long long kw, long long sh, \
                                                         long long sw, long long ph, long long pw,              \
                                                         long long oh, long long ow, int count_include_pad) {   \
    avg_pool2d_forward<T>(x, y, planes, h, w, kh, kw, sh, sw, ph, pw, oh, ow, count_include_pad);                \
  }                                                                                                             \
  extern "C" __global__ void avg_pool2d_backward_##SUFFIX(const T* dy, T* dx, long long planes, long long h,    \
                                                          long long w, long long kh, long long kw,             \
                                                          long long sh, long long sw, long long ph,            \
                                                          long long pw, long long oh, long long ow,            \
                                                          int count_include_pad) {                             \
    avg_pool2d_backward<T>(dy, dx, planes, h, w, kh, kw, sh, sw, ph, pw, oh, ow, count_include_pad);             \
  }                                                                                                             \
  extern "C" __global__ void global_avg_pool2d_forward_##SUFFIX(const T* x, T* y, long long planes,             \
                                                                long long plane) {                             \
    global_avg_pool2d_forward<T>(x, y, planes, plane);                                                           \
  }                                                                                                             \
  extern "C" __global__ void global_avg_pool2d_backward_##SUFFIX(const T* dy, T* dx, long long planes,          \
                                                                 long long plane) {                            \
    global_avg_pool2d_backward<T>(dy, dx, planes, plane);                                                        \
  }

FASTNN_POOL_KERNELS(float, f32)
FASTNN_POOL_KERNELS(double, f64)
