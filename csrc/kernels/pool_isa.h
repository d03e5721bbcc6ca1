// The per-ISA entry points behind pool.cpp (one namespace per compiled ISA): the 2 x 2, stride
// 2, unpadded max pool, the window of nearly every CNN, whose planes pool.cpp hands out to
// threads.
#pragma once
#include <cstdint>

#define FASTNN_DECLARE_POOL(NS)                                                                    \
  namespace fastnn::NS {                                                                           \
  /* planes [q0, q1) of x (h x w each) -> y, idx (oh x ow each, oh = h / 2, ow = w / 2) */        \
  template <typename T>                                                                            \
  void max_pool_2x2_planes(const T* x, T* y, int64_t* idx, int64_t q0, int64_t q1, int64_t h,     \
                           int64_t w, int64_t oh, int64_t ow);                                     \
  }

FASTNN_DECLARE_POOL(isa_generic)
FASTNN_DECLARE_POOL(isa_avx2)
FASTNN_DECLARE_POOL(isa_avx512)
