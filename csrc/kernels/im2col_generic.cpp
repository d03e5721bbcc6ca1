// im2col / col2im compiled for the generic ISA (flags set in CMakeLists.txt).
#define FASTNN_ISA_NS isa_generic
#include "im2col_impl.h"
