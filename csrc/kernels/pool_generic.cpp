// Max pooling (2 x 2) compiled for the generic ISA (flags set in CMakeLists.txt).
#define FASTNN_ISA_NS isa_generic
#include "pool_impl.h"
