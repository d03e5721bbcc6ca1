// Winograd F(2x2, 3x3) convolution (Lavin & Gray, "Fast Algorithms for Convolutional Neural
// Networks", CVPR 2016) for 3x3 kernels with stride 1: each 2x2 output tile is
//     Y = A^T [ sum_c (G g_c G^T) . (B^T d_c B) ] A          (. = element-wise)
// over the 4x4 input tile d_c it reads (zero padded) and the 3x3 kernel g_c, with
//     B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],   G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1],
//     A^T = [1 1 1 0; 0 1 -1 -1].
// The sum over channels of the 16 element-wise products is 16 matrix products, one per
// position xi = 4*i + j of the 4x4 transformed tile:  M_xi (OC, T) = U_xi (OC, C) @ V_xi (C, T),
// T = tiles. 16 * OC * C * T multiply-adds instead of 36 * OC * C * T for the 2x2 outputs direct.
// The gradients are the transposed products:
//     dM = A dY A^T,   dV_xi = U_xi^T @ dM_xi,   dx tile = B dV B^T (tiles overlap by 2),
//     dU_xi = dM_xi @ V_xi^T (summed over tiles),  dw = G^T dU G.
//
// This header: the tile geometry and the per-ISA transforms (winograd_impl.h, compiled once
// per ISA like the other kernels). The driver (blocking, GEMMs, threads) is in conv_winograd.cpp.
//
// Layout of a transformed block (V, M, dM, dV): 16 matrices, matrix xi at xi * ms, each
// (rows = C or OC) x (tiles of the block), row-major with leading dimension ld; tile index
// t = image * tiles_per_image + th * TW + tw for the block's images in order. ms >= rows * ld is
// an odd number of 64-byte lines: a transform touches the same tile in all 16 matrices, and at a
// power-of-two stride those 16 lines would share one set of the 8-way L1 (measured: 2x slower).
//
// The transforms run along a row of tiles in fixed-width chunks (vectors the compiler can fill
// whatever TW is), so they read and write whole chunks: up to kWinogradSlack columns past the
// block's last tile of a row. ld must leave that slack (ld >= tiles + kWinogradSlack); the
// GEMMs never read it. Writes past the end of an image's tile row land on the next tile row or
// image, which the transform writes afterwards. The gradient's input transform also reads one
// element before each row (its junk is not used): dV needs kWinogradSlack elements before it.
#pragma once
#include <cstdint>

namespace fastnn {

constexpr int64_t kWinogradSlack = 16;

struct WinogradGeom {
  int64_t h, w;    // input plane
  int64_t ph, pw;  // padding
  int64_t oh, ow;  // output plane: OH = H + 2 PH - 2
  int64_t th, tw;  // tiles: ceil(OH / 2) x ceil(OW / 2); tile (r, s) reads padded rows 2r..2r+3
  int64_t tiles() const { return th * tw; }
};

}  // namespace fastnn

#define FASTNN_DECLARE_WINOGRAD(NS)                                                              \
  namespace fastnn::NS {                                                                         \
  /* V <- B^T d B for `planes` input planes (h x w, consecutive), plane q's tiles at column */   \
  /* (q / channels) * tiles of row (q % channels) of each V_xi. */                               \
  template <typename T>                                                                          \
  void winograd_input_transform(const T* x, T* v, const WinogradGeom& g, int64_t images,          \
                                int64_t channels, int64_t ld, int64_t ms);                                   \
  /* y <- A^T M A (+ bias[o]) for images x channels output planes, cropped to OH x OW. */        \
  template <typename T>                                                                          \
  void winograd_output_transform(const T* m, T* y, const T* bias, const WinogradGeom& g,         \
                                 int64_t images, int64_t channels, int64_t ld, int64_t ms);                  \
  /* dM <- A dY A^T (dY zero past the output's edge). */                                         \
  template <typename T>                                                                          \
  void winograd_grad_output_transform(const T* dy, T* dm, const WinogradGeom& g, int64_t images,  \
                                      int64_t channels, int64_t ld, int64_t ms);                             \
  /* dx <- the sum over the (overlapping) tiles of B dV B^T, cropped to H x W: a gather, */      \
  /* each dx element written once, its (up to 4) tile contributions added in a fixed order. */   \
  template <typename T>                                                                          \
  void winograd_grad_input_transform(const T* dv, T* dx, const WinogradGeom& g, int64_t images,   \
                                     int64_t channels, int64_t ld, int64_t ms);                              \
  }

FASTNN_DECLARE_WINOGRAD(isa_generic)
FASTNN_DECLARE_WINOGRAD(isa_avx2)
FASTNN_DECLARE_WINOGRAD(isa_avx512)
