// 2-D convolution on NCHW buffers: im2col / col2im, conv2d and conv_transpose2d, forward and
// backward, built on fastnn::gemm; 3x3 stride-1 conv2d layers with enough channels run
// Winograd F(2x2, 3x3) instead (conv_winograd.h; the choice: ConvAlgo below). Pure C++ on raw
// pointers; every size and index is int64_t (an im2col buffer can pass 2^31 elements).
// Arguments are validated by csrc/bindings.cpp.
//
// Legend: N C H W (input), OC (output channels), KH KW (kernel), SH SW (stride), PH PW
// (padding), OH OW (output), P = OH*OW, K = C*KH*KW (rows of the column matrix).
// Cross-correlation:  y[n,o,oh,ow] = b[o] + sum_{c,i,j} w[o,c,i,j] * xpad[n,c,oh*SH+i,ow*SW+j].
//
// Column matrices. The contract's im2col layout is batch-major, (N, K, P). The convolutions
// cut the mini-batch into chunks of whole samples (sized so a chunk's columns stay in L2) and
// use a channel-major (K, nb*P) matrix per chunk: each chunk is then ONE large GEMM for y, dw
// and dcols, read from cache, and threads run whole chunks. Both layouts are the same
// im2col/col2im with different strides: element (n, r, p) at n*n_stride + r*r_stride + p.
#pragma once
#include <cstddef>
#include <cstdint>

namespace fastnn {

// The output-size formula, mirrored once from fastnn/ops/shapes.py (the bindings check that
// the OH/OW they are handed agree with it).
inline int64_t conv_output_size(int64_t size, int64_t kernel, int64_t stride, int64_t padding) {
  return (size + 2 * padding - kernel) / stride + 1;
}

// Enough elements per parallel chunk of the data-movement loops to amortise waking a thread
// (a few microseconds): a loop over items of `elements_per_item` elements each takes this grain.
constexpr int64_t kConvMinElementsPerChunk = int64_t{1} << 14;
inline int64_t conv_grain_for(int64_t elements_per_item) {
  const int64_t e = elements_per_item > 1 ? elements_per_item : 1;
  return kConvMinElementsPerChunk / e > 1 ? kConvMinElementsPerChunk / e : 1;
}

// Geometry of one convolution: the input x (n, c, h, w) seen through a kh x kw window.
struct ConvGeom {
  int64_t n, c, h, w;
  int64_t kh, kw, sh, sw, ph, pw;
  int64_t oh, ow;
  int64_t rows() const { return c * kh * kw; }   // K
  int64_t plane_out() const { return oh * ow; }  // P
  int64_t plane_in() const { return h * w; }
  // A 1x1 kernel with stride 1 and no padding: x itself is the column matrix.
  bool is_pointwise() const { return kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0; }
};

// cols[n*n_stride + (c*KH*KW + i*KW + j)*r_stride + oh*OW + ow] = xpad[n, c, oh*SH + i, ow*SW + j]
template <typename T>
void im2col(const T* x, T* cols, const ConvGeom& g, int64_t n_stride, int64_t r_stride);

// x = the adjoint of im2col: every column entry added back where it came from (padding dropped).
// x is overwritten. Each (n, c) input plane is produced by exactly one thread, which sums its
// KH*KW contributions in a fixed order: no races, no atomics, same result for any thread count.
template <typename T>
void col2im(const T* cols, T* x, const ConvGeom& g, int64_t n_stride, int64_t r_stride);

// The sum of p[0..n) in double (a bias gradient's row), in an order that depends on n only; per ISA.
template <typename T>
double sum_as_double(const T* p, int64_t n);

// y (N, OC, OH, OW) = conv(x, w) + b. w is (OC, C, KH, KW); b may be null.
// cols: optional caller buffer of g.rows() * N * P elements that receives the column matrix
// (chunk-major: each chunk's (K, nb*P) block in turn) so a later backward can reuse it;
// null = per-thread temporaries. Unused when pointwise.
template <typename T>
void conv2d_forward(const T* x, const T* w, const T* b, T* y, int64_t oc, const ConvGeom& g, T* cols);

// Gradients of conv2d_forward. dx (may be null = not needed), dw, db (may be null).
// cols: the forward's column matrix if the caller kept it, else null (recomputed from x).
template <typename T>
void conv2d_backward(const T* dy, const T* x, const T* w, T* dx, T* dw, T* db, int64_t oc,
                     const ConvGeom& g, const T* cols);

// How conv2d_forward / conv2d_backward compute a geometry:
//   pointwise: 1x1, stride 1, no padding: x is the column matrix (per-sample GEMMs);
//   im2col:    column matrices + GEMMs on L2-sized chunks (above);
//   winograd:  Winograd F(2x2, 3x3) for 3x3 kernels with stride 1 (conv_winograd.h), when the
//              layer has enough channels for its 2.25x fewer multiplications to pay for the
//              transforms. A column matrix the caller asks to keep (cols) is still filled, and
//              ignored by the backward: results never depend on whether columns are kept.
enum class ConvAlgo : int { automatic = 0, pointwise = 1, im2col = 2, winograd = 3 };
const char* conv_algo_name(ConvAlgo a);
// The algorithm both functions use for g with oc outputs and elements of elem_size bytes
// (never automatic; it also depends on the ISA in use: see winograd_pays in conv.cpp).
ConvAlgo conv2d_algorithm(const ConvGeom& g, int64_t oc, size_t elem_size);
// For tests and benchmarks: force im2col or winograd (winograd only where it applies, 3x3 with
// stride 1; elsewhere the normal choice), or back to automatic. Process-wide.
void set_conv2d_algorithm(ConvAlgo a);
ConvAlgo conv2d_algorithm_override();
// conv2d_forward + conv2d_backward calls that ran each algorithm since the process started
// (index: ConvAlgo value), so tests can see which path a call really took.
uint64_t conv2d_algorithm_calls(ConvAlgo a);

// Transposed convolution: x (N, C_in, H, W), w (C_in, C_out, KH, KW), y (N, C_out, OH, OW).
// g describes the convolution that maps y's shape back to x's: g.{n,c,h,w} = (N, C_out, OH, OW),
// g.{oh,ow} = (H, W). Its forward is that convolution's input gradient; b may be null.
template <typename T>
void conv_transpose2d_forward(const T* x, const T* w, const T* b, T* y, int64_t c_in, const ConvGeom& g);

template <typename T>
void conv_transpose2d_backward(const T* dy, const T* x, const T* w, T* dx, T* dw, T* db, int64_t c_in,
                               const ConvGeom& g);

}  // namespace fastnn
