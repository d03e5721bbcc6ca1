// FASTNN_DISPATCH(call): runs isa_avx512::call, isa_avx2::call or isa_generic::call
// according to current_isa(). Non-x86 builds only have the generic translation unit.
#pragma once
#include "cpu.h"

#if defined(FASTNN_X86)
#define FASTNN_DISPATCH(call)                          \
  do {                                                 \
    switch (::fastnn::current_isa()) {                 \
      case ::fastnn::Isa::avx512: isa_avx512::call; break; \
      case ::fastnn::Isa::avx2: isa_avx2::call; break; \
      default: isa_generic::call; break;               \
    }                                                  \
  } while (0)
#else
#define FASTNN_DISPATCH(call) \
  do {                        \
    isa_generic::call;        \
  } while (0)
#endif
