// Convolution data movement for the GPU path: im2col, col2im (a gather: each input element sums
// its own KH*KW contributions, so no atomics), NCHW <-> channel-major copies and per-channel
// bias. fastnn.cuda.conv builds conv2d / conv_transpose2d from these and cuBLAS GEMMs.
//
// Legend: N C H W (input), KH KW, SH SW, PH PW, OH OW, P = OH*OW, K = C*KH*KW.
// Column matrices: element (n, r, p) of the patches of x lives at cols[n*n_stride + r*r_stride + p]
// with r = c*KH*KW + i*KW + j and p = oh*OW + ow; (n_stride, r_stride) = (K*P, P) is the
// contract's batch-major (N, K, P) im2col, (P, NB*P) the channel-major (K, NB*P) matrix of a
// chunk of NB samples that the convolutions multiply.
#include "common.cuh"

// cols[n, r, p] = xpad[n, c, oh*SH - PH + i, ow*SW - PW + j] (0 in the padding). One thread per
// column element.
template <typename T>
__device__ void im2col(const T* x, T* cols, long long n, long long c, long long h, long long w, long long kh,
                       long long kw, long long sh, long long sw, long long ph, long long pw, long long oh,
                       long long ow, long long n_stride, long long r_stride) {
  const long long p_count = oh * ow, k_count = c * kh * kw;
  FASTNN_GRID_STRIDE(q, n * k_count * p_count) {
    const long long ni = q / (k_count * p_count), rem = q % (k_count * p_count);
    const long long r = rem / p_count, p = rem % p_count;
    const long long ci = r / (kh * kw), i = (r / kw) % kh, j = r % kw;
    const long long row = (p / ow) * sh - ph + i, col = (p % ow) * sw - pw + j;
    const bool inside = row >= 0 && row < h && col >= 0 && col < w;
    cols[ni * n_stride + r * r_stride + p] = inside ? x[((ni * c + ci) * h + row) * w + col] : T(0);
  }
}

// x[n, c, y, z] = bias[c] (0 when bias is null) + the sum, over the kernel offsets (i, j) in
// row-major order whose window (oh, ow) covers (y, z), of cols[n, c*KH*KW + i*KW + j, oh*OW + ow].
// One thread per input element: it alone writes it, in a fixed order.
template <typename T>
__device__ void col2im(const T* cols, T* x, const T* bias, long long n, long long c, long long h, long long w,
                       long long kh, long long kw, long long sh, long long sw, long long ph, long long pw,
                       long long oh, long long ow, long long n_stride, long long r_stride) {
  FASTNN_GRID_STRIDE(q, n * c * h * w) {
    const long long z = q % w, y = (q / w) % h, ci = (q / (w * h)) % c, ni = q / (w * h * c);
    T v = bias != nullptr ? bias[ci] : T(0);
    for (long long i = 0; i < kh; ++i) {
      const long long t = y + ph - i;  // = oh * SH for the window that puts offset i on row y
      if (t < 0) break;                // (t only decreases with i)
      if (t % sh != 0 || t / sh >= oh) continue;
      for (long long j = 0; j < kw; ++j) {
        const long long u = z + pw - j;
        if (u < 0) break;
        if (u % sw != 0 || u / sw >= ow) continue;
        v += cols[ni * n_stride + (ci * kh * kw + i * kw + j) * r_stride + (t / sh) * ow + u / sw];
      }
    }
    x[q] = v;
  }
}

// out (C, N*P) = a (N, C, P) with the first two axes swapped. One thread per element.
template <typename T>
__device__ void to_channel_major(const T* a, T* out, long long n, long long c, long long p) {
  FASTNN_GRID_STRIDE(q, n * c * p) {
    const long long e = q % p, ni = (q / p) % n, ci = q / (p * n);
    out[q] = a[(ni * c + ci) * p + e];
  }
}

// out (N, C, P) = a (C, N*P) with the first two axes swapped, + bias[c] when bias is not null.
template <typename T>
__device__ void from_channel_major(const T* a, T* out, const T* bias, long long n, long long c, long long p) {
  FASTNN_GRID_STRIDE(q, n * c * p) {
    const long long e = q % p, ci = (q / p) % c, ni = q / (p * c);
    const T v = a[(ci * n + ni) * p + e];
    out[q] = bias != nullptr ? v + bias[ci] : v;
  }
}

// y (N, C, P) = (accumulate ? y : 0) + (bias ? bias[c] : 0).
template <typename T>
__device__ void channel_bias(T* y, const T* bias, long long n, long long c, long long p, int accumulate) {
  FASTNN_GRID_STRIDE(q, n * c * p) {
    const T b = bias != nullptr ? bias[(q / p) % c] : T(0);
    y[q] = accumulate ? y[q] + b : b;
  }
}

#define FASTNN_CONV_KERNELS(T, SUFFIX)                                                                        \
  extern "C" __global__ void im2col_##SUFFIX(const T* x, T* cols, long long n, long long c, long long h,      \
                                             long long w, long long kh, long long kw, long long sh,          \
                                             long long sw, long long ph, long long pw, long long oh,         \
                                             long long ow, long long n_stride, long long r_stride) {         \
    im2col<T>(x, cols, n, c, h, w, kh, kw, sh, sw, ph, pw, oh, ow, n_stride, r_stride);                       \
  }                                                                                                           \
  extern "C" __global__ void col2im_##SUFFIX(const T* cols, T* x, const T* bias, long long n, long long c,    \
                                             long long h, long long w, long long kh, long long kw,           \
                                             long long sh, long long sw, long long ph, long long pw,         \
                                             long long oh, long long ow, long long n_stride,                 \
                                             long long r_stride) {                                           \
    col2im<T>(cols, x, bias, n, c, h, w, kh, kw, sh, sw, ph, pw, oh, ow, n_stride, r_stride);                 \
  }                                                                                                           \
  extern "C" __global__ void to_channel_major_##SUFFIX(const T* a, T* out, long long n, long long c,          \
                                                       long long p) {                                        \
    to_channel_major<T>(a, out, n, c, p);                                                                     \
  }                                                                                                           \
  extern "C" __global__ void from_channel_major_##SUFFIX(const T* a, T* out, const T* bias, long long n,      \
                                                         long long c, long long p) {                         \
    from_channel_major<T>(a, out, bias, n, c, p);                                                             \
  }                                                                                                           \
  extern "C" __global__ void channel_bias_##SUFFIX(T* y, const T* bias, long long n, long long c, long long p, \
                                                   int accumulate) {                                         \
    channel_bias<T>(y, bias, n, c, p, accumulate);                                                            \
  }

FASTNN_CONV_KERNELS(float, f32)
FASTNN_CONV_KERNELS(double, f64)
