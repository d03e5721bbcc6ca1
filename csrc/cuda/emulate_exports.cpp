// Test harness: compiles the CUDA sources with emulate.h as plain C++ and exports one C
// launcher per kernel (emu_<kernel>(grid, block, args...)) for ctypes. Built by
// tests/test_cuda.py with the host compiler; not part of the package build.
#include "emulate.h"

#include "activations.cu"

#define FASTNN_EMU_EXPORTS(T, SUFFIX)                                                                    \
  extern "C" void emu_act_forward_##SUFFIX(unsigned g, unsigned b, const T* x, T* y, long long n, int act, \
                                           T a, T thr) {                                                 \
    fastnn_emu_launch(g, b, act_forward_##SUFFIX, x, y, n, act, a, thr);                                 \
  }                                                                                                      \
  extern "C" void emu_act_backward_##SUFFIX(unsigned g, unsigned b, const T* dy, const T* s, T* dx,       \
                                            long long n, int act, T a, T thr) {                          \
    fastnn_emu_launch(g, b, act_backward_##SUFFIX, dy, s, dx, n, act, a, thr);                           \
  }                                                                                                      \
  extern "C" void emu_softmax_forward_##SUFFIX(unsigned g, unsigned b, const T* x, T* y, long long rows,  \
                                               long long cols, int log_) {                               \
    fastnn_emu_launch(g, b, softmax_forward_##SUFFIX, x, y, rows, cols, log_);                           \
  }                                                                                                      \
  extern "C" void emu_softmax_backward_##SUFFIX(unsigned g, unsigned b, const T* dy, const T* y, T* dx,   \
                                                long long rows, long long cols, int log_) {              \
    fastnn_emu_launch(g, b, softmax_backward_##SUFFIX, dy, y, dx, rows, cols, log_);                     \
  }

FASTNN_EMU_EXPORTS(float, f32)
FASTNN_EMU_EXPORTS(double, f64)
