// conv2d by Winograd F(2x2, 3x3) (the algorithm and layouts: winograd.h). Called by conv.cpp for
// the geometries it routes here; pure C++ on raw pointers like the rest of csrc/kernels.
#pragma once
#include <cstddef>
#include <cstdint>

#include "conv.h"

namespace fastnn {

// A 3x3 kernel with stride 1 (any padding), at least one sample, channel and output.
bool winograd_applicable(const ConvGeom& g, int64_t oc);

// Whether the 16 products of a block run on the AVX-512 micro-kernel (float with the avx512 ISA
// in use) rather than as 16 fastnn::gemm calls (winograd_impl.h).
bool winograd_has_product_kernel(size_t elem_size);

// Same contracts as conv2d_forward / conv2d_backward (conv.h) without the column matrix; the
// caller has checked winograd_applicable. dw must not be null; dx and db may be.
template <typename T>
void winograd_conv2d_forward(const T* x, const T* w, const T* b, T* y, int64_t oc, const ConvGeom& g);

template <typename T>
void winograd_conv2d_backward(const T* dy, const T* x, const T* w, T* dx, T* dw, T* db, int64_t oc,
                              const ConvGeom& g);

}  // namespace fastnn
