// Winograd transforms compiled for the generic ISA (flags set in CMakeLists.txt).
#define FASTNN_ISA_NS isa_generic
#include "winograd_impl.h"
