// im2col / col2im compiled for the avx2 ISA (flags set in CMakeLists.txt).
#define FASTNN_ISA_NS isa_avx2
#include "im2col_impl.h"
