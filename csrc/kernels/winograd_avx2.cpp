// Winograd transforms compiled for the avx2 ISA (flags set in CMakeLists.txt).
#define FASTNN_ISA_NS isa_avx2
#include "winograd_impl.h"
