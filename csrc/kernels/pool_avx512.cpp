// Max pooling (2 x 2) compiled for the avx512 ISA (flags set in CMakeLists.txt).
#define FASTNN_ISA_NS isa_avx512
#include "pool_impl.h"
