// Winograd F(2x2, 3x3) convolution (Lavin & Gray, "Fast Algorithms for Convolutional Neural
// Networks", CVPR 2016) for 3x3 kernels with stride 1: each 2x2 output tile is
//     Y = A^T [ sum_c (G g_c G^T) . (B^T d_c B) ] A          (. = element-wise)
// over the 4x4 input tile d_c it reads (zero padded) and the 3x3 kernel g_c, with
//     B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],   G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1],
//     A^T = [1 1 1 0; 0 1 -1 -1].
// The sum over channels of the 16 element-wise products is 16 matrix products, one per
// position xi = 4*i + j of the 4x4 transformed tile:  M_xi (T, OC) = V_xi (T, C) @ U_xi (C, OC),
// T = tiles. 16 * OC * C * T multiply-adds instead of 36 * OC * C * T for the 2x2 outputs direct.
// The gradients are the transposed products:
//     dM = A dY A^T,   dV_xi = dM_xi @ U_xi^T,   dx tile = B dV B^T (tiles overlap by 2),
//     dU_xi = V_xi^T @ dM_xi (summed over tiles),  dw = G^T dU G.
//
// This header: the tile geometry and the per-ISA parts (winograd_impl.h, compiled once per ISA
// like the other kernels): the transforms of a block of images and its 16 products. The driver
// (blocks, threads, weight transforms) is in conv_winograd.cpp.
//
// Layout of a block's transformed matrices (V, M, dM, dV): tile-major, 16 matrices, matrix xi at
// xi * ms, each (tiles of the block) x (channels: C or OC), row-major and dense: row
// t = image * TH * TW + th * TW + tw. Channels are the vector dimension of the transforms and of
// the products' micro-kernel (where tiles are the broadcast dimension: any tile count runs
// without waste), and every product reads its operands in place. ms >= tiles * channels is an odd
// number of 64-byte lines: a transform touches the same row in all 16 matrices, and at a
// power-of-two stride those 16 lines would share one set of the 8-way L1 (measured on the
// first, tiles-along-rows layout of these transforms: 2x slower).
#pragma once
#include <cstdint>

namespace fastnn {

struct WinogradGeom {
  int64_t h, w;    // input plane
  int64_t ph, pw;  // padding
  int64_t oh, ow;  // output plane: OH = H + 2 PH - 2
  int64_t th, tw;  // tiles: ceil(OH / 2) x ceil(OW / 2); tile (r, s) reads padded rows 2r..2r+3
  int64_t tiles() const { return th * tw; }
};

}  // namespace fastnn

// Per ISA, for a block of `images` images (NCHW planes, consecutive) and t = that many images'
// tiles. u, ut, du: 16 matrices of C x OC (u, du) or OC x C (ut), dense.
#define FASTNN_DECLARE_WINOGRAD(NS)                                                                 \
  namespace fastnn::NS {                                                                            \
  /* V <- B^T d B (x: images x C planes) */                                                          \
  template <typename T>                                                                             \
  void winograd_input_transform(const T* x, T* v, const WinogradGeom& g, int64_t images, int64_t c,  \
                                int64_t ms);                                                        \
  /* y <- A^T M A + bias, cropped to OH x OW (y: images x OC planes; bias may be null) */           \
  template <typename T>                                                                             \
  void winograd_output_transform(const T* m, T* y, const T* bias, const WinogradGeom& g,            \
                                 int64_t images, int64_t oc, int64_t ms);                           \
  /* dM <- A dY A^T (dY zero past the output's edge); db (when not null, oc values) gets the */    \
  /* channel sums of dy added, in double, pixel by pixel in order (the bias gradient) */            \
  template <typename T>                                                                             \
  void winograd_grad_output_transform(const T* dy, T* dm, const WinogradGeom& g, int64_t images,     \
                                      int64_t oc, int64_t ms, double* db);                          \
  /* dx <- the sum over the (overlapping) tiles of B dV B^T, cropped to H x W; each image's */      \
  /* tiles are added in a fixed order */                                                            \
  template <typename T>                                                                             \
  void winograd_grad_input_transform(const T* dv, T* dx, const WinogradGeom& g, int64_t images,      \
                                     int64_t c, int64_t ms);                                        \
  /* y <- the output transform of the 16 products V_xi @ U_xi, bias added: one pass over row */   \
  /* tiles where the ISA has its own product kernel (m unused), else the products into m and */    \
  /* winograd_output_transform */                                                                   \
  template <typename T>                                                                             \
  void winograd_forward_block(const T* v, const T* u, T* m, T* y, const T* bias, const WinogradGeom& g, \
                              int64_t images, int64_t c, int64_t oc, int64_t vs, int64_t ms);       \
  /* M_xi = V_xi @ U_xi for the 16 xi */                                                            \
  template <typename T>                                                                             \
  void winograd_forward_products(const T* v, const T* u, T* m, int64_t tiles, int64_t c, int64_t oc, \
                                 int64_t vs, int64_t ms);                                           \
  /* dV_xi = dM_xi @ Ut_xi (ut: U_xi^T, OC x C) */                                                  \
  template <typename T>                                                                             \
  void winograd_data_products(const T* dm, const T* ut, T* dv, int64_t tiles, int64_t c, int64_t oc, \
                              int64_t ms, int64_t vs);                                              \
  /* dU_xi (C x OC) = V_xi^T @ dM_xi, or += when accumulate */                                      \
  template <typename T>                                                                             \
  void winograd_weight_products(const T* v, const T* dm, T* du, bool accumulate, int64_t tiles,      \
                                int64_t c, int64_t oc, int64_t vs, int64_t ms);                     \
  }

FASTNN_DECLARE_WINOGRAD(isa_generic)
FASTNN_DECLARE_WINOGRAD(isa_avx2)
FASTNN_DECLARE_WINOGRAD(isa_avx512)
