// Optimizer loops compiled for the avx2 ISA (flags set in CMakeLists.txt).
#define FASTNN_ISA_NS isa_avx2
#include "optim_impl.h"
