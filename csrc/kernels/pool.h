// 2-D pooling on NCHW buffers: max (with int64 argmax indices), average and global average,
// forward and backward. Pure C++ on raw pointers, int64_t sizes and indices; arguments are
// validated by csrc/bindings.cpp.
//
// Legend: planes = N*C (pooling treats every (n, c) plane alike), H W (input), KH KW, SH SW,
// PH PW, OH OW. Window (oh, ow) covers rows oh*SH - PH .. + KH - 1 and the matching columns;
// with PH <= KH/2 and PW <= KW/2 (PyTorch's rule) each window holds a real element.
#pragma once
#include <cstdint>

namespace fastnn {

struct PoolGeom {
  int64_t planes, h, w;
  int64_t kh, kw, sh, sw, ph, pw;
  int64_t oh, ow;
};

// y = window max, idx = its position r*W + c in the input plane. Scanning the window row by
// row, an element replaces the maximum when it is greater or NaN (PyTorch's rule: NaN wins);
// the scan starts at the window's first real element with -inf, so padding never wins and an
// all -inf window gives -inf with that element's index.
template <typename T>
void max_pool2d_forward(const T* x, T* y, int64_t* idx, const PoolGeom& g);

// dx[plane][idx] += dy (dx overwritten). Each plane is owned by one thread: race-free and in a
// fixed order. Indices outside [0, in_plane) are skipped, never written; returns false if any
// was met and stores one of them in *bad_index, so the caller can raise.
template <typename T>
bool max_pool2d_backward(const T* dy, const int64_t* idx, T* dx, int64_t planes, int64_t in_plane,
                         int64_t out_plane, int64_t* bad_index);

// y = sum of the window's real elements / divisor; divisor = KH*KW when count_include_pad,
// else the number of real elements in the window.
template <typename T>
void avg_pool2d_forward(const T* x, T* y, const PoolGeom& g, bool count_include_pad);

// dx = sum over the windows containing each element of dy / divisor (dx overwritten).
template <typename T>
void avg_pool2d_backward(const T* dy, T* dx, const PoolGeom& g, bool count_include_pad);

// y[q] = mean of plane q (size plane >= 1), summed in double in a fixed order.
template <typename T>
void global_avg_pool2d_forward(const T* x, T* y, int64_t planes, int64_t plane);

// dx[q, :] = dy[q] / plane.
template <typename T>
void global_avg_pool2d_backward(const T* dy, T* dx, int64_t planes, int64_t plane);

}  // namespace fastnn
