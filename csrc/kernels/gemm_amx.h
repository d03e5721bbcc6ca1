// float32 GEMM on Intel AMX tiles (Sapphire Rapids and later), with float32 accuracy.
//
// AMX multiplies bfloat16 (8 significant bits) at ~10x the float32 FMA rate of AVX-512 on the
// same core (measured here: 2.5 TFLOP/s per core vs 243 GFLOP/s). fastnn does not round the
// operands to bfloat16. Each float32 value is split exactly-enough into three bfloat16 parts,
//   a = a0 + a1 + a2 + ra,   a0 = bf16(a), a1 = bf16(a - a0), a2 = bf16(a - a0 - a1),
// |a1| <= 2^-8 |a|, |a2| <= 2^-16 |a|, |ra| <= 2^-24 |a| (u, float32's unit roundoff), and
// each product keeps the six terms down to 2^-16:
//   a b ~ a0 b0 + a1 b0 + a0 b1 + a2 b0 + a1 b1 + a0 b2,
// every bf16 x bf16 product exact in float32, summed in float32 by the tile unit (each tile
// instruction adds 32 products per entry of its accumulator). The dropped terms (a1 b2, a2 b1,
// a2 b2 and the parts' remainders) are at most ~2u |a b| (u = 2^-24, float32's unit roundoff).
// Worst case, if the unit rounded after every addition: |C - exact| <= gamma_{6k+2} |op(A)||op(B)|
// (the AVX-512 kernel: gamma_{k+3}). Measured (random normal operands, 128 x 784 x 512 and
// 512 x 128 x 784 in all four transposes): max |C - exact| / (u S) = 1.8 - 2.3 on AMX against
// 1.6 - 6.2 for the AVX-512 kernel; the tests hold AMX to the AVX-512 kernel's gamma_{k+3} bound.
// The six sums go to one accumulator per 16 x 16 tile of C: four independent accumulators per
// 32 x 32 block keep the unit busy (a layout with separate big / small sums chained 10 of its
// 12 tile products on two accumulators and ran at 1/3 of the rate).
//
// A product whose smaller operand would pack to more than 16 MiB (2048^3) runs in k chunks,
// C accumulated in float32 between them (as the AVX-512 kernel's K blocks).
//
// Semantics kept from the float32 kernel: beta == 0 ignores C; a NaN / inf operand value (or
// one that rounds past bf16's largest, |a| > 3.39e38) makes the part of C it feeds be computed
// by the float32 kernel (all of C when it lies in the operand packed whole, else the 64 rows or
// columns of C of that work item), so NaN and inf propagate exactly as there. Results do not depend on the thread count. Unlike the float32 kernel, the
// tile unit flushes subnormals: parts or products below 2^-126 (~1.2e-38) count as zero, an
// absolute error of at most ~k * 2^-126 * max|b| per entry, and subnormal results become 0.
#pragma once
#include <cstdint>

#include "gemm_isa.h"

namespace fastnn {

// Whether this CPU and OS run AMX-BF16 (cpuid: AMX-TILE, AMX-BF16, AVX512-BF16; the kernel
// grants the tile state to the process: arch_prctl(ARCH_REQ_XCOMP_PERM)). Checked once.
bool amx_available();
// Whether float32 GEMMs use AMX now: available, the ISA in use is avx512, and not turned off
// by set_gemm_amx(false) or FASTNN_AMX=0.
bool gemm_amx_enabled();
// Turns the AMX path on (where available) or off; off gives the float32 AVX-512 kernel's bits.
void set_gemm_amx(bool on);

namespace amx {
// Computes g on AMX when the shape is worth it (and returns true), else touches nothing and
// returns false. Callers check gemm_amx_enabled() first.
bool gemm(const GemmArgs<float>& g);
// Products computed on AMX so far (for tests: which path a shape took).
uint64_t calls();
}  // namespace amx

}  // namespace fastnn
