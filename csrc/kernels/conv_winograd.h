// conv2d by Winograd F(2x2, 3x3) (the algorithm and layouts: winograd.h). Called by conv.cpp for
// the geometries it routes here; pure C++ on raw pointers like the rest of csrc/kernels.
#pragma once
#include <cstdint>

#include "conv.h"

namespace fastnn {

// A 3x3 kernel with stride 1 (any padding), at least one sample, channel and output.
bool winograd_applicable(const ConvGeom& g, int64_t oc);

// Same contracts as conv2d_forward / conv2d_backward (conv.h) without the column matrix; the
// caller has checked winograd_applicable. dw must not be null; dx and db may be.
template <typename T>
void winograd_conv2d_forward(const T* x, const T* w, const T* b, T* y, int64_t oc, const ConvGeom& g);

template <typename T>
void winograd_conv2d_backward(const T* dy, const T* x, const T* w, T* dx, T* dw, T* db, int64_t oc,
                              const ConvGeom& g);

}  // namespace fastnn
