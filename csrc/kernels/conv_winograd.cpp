// conv2d forward and backward by Winograd F(2x2, 3x3): the blocking, the weight transforms and
// the threads. The tile transforms and the 16 products of a block are per ISA (winograd_impl.h).
//
// The mini-batch is cut into blocks of whole images, sized so a block's transformed input V and
// transformed output M (or dM) stay in L2 while its 16 products run; threads take whole blocks
// (forward) or whole groups of consecutive blocks (backward) from a shared counter (see
// parallel_items in cpu_parallel.h), and each block is a complete
// transform -> 16 products -> transform pipeline on one core. Blocks and groups depend on the
// shapes only, and dU is summed per group, groups in order: results do not depend on the thread
// count. Images never straddle blocks, so the overlapping dx tiles of an image are all added by
// the thread that owns it: no races.
#include "conv_winograd.h"

#include <algorithm>
#include <vector>

#include "block_cache.h"
#include "cpu.h"
#include "isa_dispatch.h"
#include "winograd.h"

namespace fastnn {
namespace {

template <typename T>
class Buffer {  // uninitialised scratch from the block cache (every element written before read)
 public:
  Buffer() = default;
  explicit Buffer(int64_t count) : buf_(sizeof(T) * static_cast<size_t>(std::max<int64_t>(count, 1))) {}
  T* get() const { return buf_.as<T>(); }

 private:
  CachedBuffer buf_;
};

// Stride between the 16 matrices of a block of `size` elements each: whole 64-byte lines, an
// odd number of them (see winograd.h).
template <typename T>
int64_t matrix_stride(int64_t size) {
  constexpr int64_t line = 64 / static_cast<int64_t>(sizeof(T));
  const int64_t lines = (size + line - 1) / line;
  return (lines % 2 == 0 ? lines + 1 : lines) * line;
}

// Work below this many elements stays on one thread: a parallel region costs microseconds on an
// idle machine and can wait a scheduler time slice on a busy one (the weight transforms of a
// 64 x 32 layer are 2048 kernels, ~30 us).
constexpr int64_t kSerialElements = 1 << 14;

WinogradGeom tile_geom(const ConvGeom& g) {
  return {g.h, g.w, g.ph, g.pw, g.oh, g.ow, (g.oh + 1) / 2, (g.ow + 1) / 2};
}

// V and M (or dM) of a block together: about half of the L2 (the rest holds U, the block's
// channel-last planes and the x / y planes passing through). Measured on the (128, 32, 14, 14)
// -> 64 layer (301 KiB per image): on a 1 MiB L2, 192..512 KiB (1 image per block)
// equal, 768 KiB 5 % slower, 1 MiB 10 % slower; on a 2 MiB L2 (Xeon, 2 threads, best of 4
// interleaved rounds) 1 MiB (3 images: the backward's dU products run over 147 tiles instead of
// 49) 2-5 % faster than 512 KiB, 1.5 MiB 5-10 % slower. Unknown L2: 512 KiB.
int64_t block_bytes() {
  const int64_t l2 = l2_cache_bytes();
  return l2 > 0 ? l2 / 2 : 512 * 1024;
}
constexpr int64_t kMinBlocks = 16;  // enough blocks to balance a few threads
constexpr int64_t kMaxGroups = 16;  // dU partial sums (each 16 * C * OC)

struct Blocking {
  int64_t per;    // images per block (the last may have fewer)
  int64_t count;  // number of blocks
  int64_t size(int64_t b, int64_t n) const { return std::min(per, n - b * per); }
};

Blocking blocking(const ConvGeom& g, int64_t oc, const WinogradGeom& wg, size_t elem) {
  const int64_t image_bytes = std::max<int64_t>(1, 16 * (g.c + oc) * wg.tiles() * static_cast<int64_t>(elem));
  const int64_t by_size = std::max<int64_t>(1, block_bytes() / image_bytes);
  const int64_t by_count = std::max<int64_t>(1, (g.n + kMinBlocks - 1) / kMinBlocks);
  const int64_t per = std::min({by_size, by_count, g.n});
  return {per, (g.n + per - 1) / per};
}

// U_xi = (G g G^T)[i][j] for xi = 4i + j, computed in double and rounded once: into u as
// U_xi (C, OC) and, when ut is not null, into ut as U_xi^T (OC, C).
template <typename T>
void weight_transform(const T* w, T* u, T* ut, int64_t oc, int64_t c) {
  const int64_t mat = oc * c;
  parallel_for(mat, kSerialElements, [&](int64_t e0, int64_t e1) {
    for (int64_t e = e0; e < e1; ++e) {  // e = o * C + ci, as in w
      const int64_t o = e / c, ci = e % c;
      const T* k = w + e * 9;
      double t[4][3];  // G g
      for (int j = 0; j < 3; ++j) {
        const double g0 = k[j], g1 = k[3 + j], g2 = k[6 + j];
        t[0][j] = g0;
        t[1][j] = 0.5 * (g0 + g1 + g2);
        t[2][j] = 0.5 * (g0 - g1 + g2);
        t[3][j] = g2;
      }
      for (int i = 0; i < 4; ++i) {  // (G g) G^T
        const double r[4] = {t[i][0], 0.5 * (t[i][0] + t[i][1] + t[i][2]), 0.5 * (t[i][0] - t[i][1] + t[i][2]),
                             t[i][2]};
        for (int j = 0; j < 4; ++j) {
          const T val = static_cast<T>(r[j]);
          u[(4 * i + j) * mat + ci * oc + o] = val;
          if (ut) ut[(4 * i + j) * mat + e] = val;
        }
      }
    }
  });
}

// dw (OC, C, 3, 3) = G^T dU G, with dU_xi (C, OC) the sum of `count` partials (each 16 * C * OC,
// added in order into the first: streaming adds, not `count` strided loads per element), the
// transform in double, rounded once.
template <typename T>
void weight_grad_transform(T* partial, int64_t count, T* dw, int64_t oc, int64_t c) {
  const int64_t mat = oc * c, size = 16 * mat;
  parallel_for(size, 4 * kSerialElements, [&](int64_t e0, int64_t e1) {
    for (int64_t q = 1; q < count; ++q) {
      const T* src = partial + q * size;
#pragma omp simd
      for (int64_t e = e0; e < e1; ++e) partial[e] += src[e];
    }
  });
  parallel_for(mat, kSerialElements, [&](int64_t e0, int64_t e1) {
    for (int64_t e = e0; e < e1; ++e) {  // e = o * C + ci, as in dw
      const int64_t o = e / c, ci = e % c;
      double d[4][4];
      for (int xi = 0; xi < 16; ++xi) d[xi / 4][xi % 4] = partial[xi * mat + ci * oc + o];
      double t[3][4];  // G^T dU
      for (int j = 0; j < 4; ++j) {
        const double h = 0.5 * (d[1][j] + d[2][j]);
        t[0][j] = d[0][j] + h;
        t[1][j] = 0.5 * (d[1][j] - d[2][j]);
        t[2][j] = h + d[3][j];
      }
      T* out = dw + e * 9;
      for (int i = 0; i < 3; ++i) {  // (G^T dU) G
        const double h = 0.5 * (t[i][1] + t[i][2]);
        out[3 * i] = static_cast<T>(t[i][0] + h);
        out[3 * i + 1] = static_cast<T>(0.5 * (t[i][1] - t[i][2]));
        out[3 * i + 2] = static_cast<T>(h + t[i][3]);
      }
    }
  });
}

}  // namespace

bool winograd_has_product_kernel(size_t elem_size) {
#if defined(FASTNN_X86)
  return elem_size == sizeof(float) && current_isa() == Isa::avx512;  // kOwnProducts in winograd_impl.h
#else
  (void)elem_size;
  return false;
#endif
}

bool winograd_applicable(const ConvGeom& g, int64_t oc) {
  return g.kh == 3 && g.kw == 3 && g.sh == 1 && g.sw == 1 && g.n > 0 && g.c > 0 && oc > 0 && g.oh > 0 &&
         g.ow > 0;
}

template <typename T>
void winograd_conv2d_forward(const T* x, const T* w, const T* b, T* y, int64_t oc, const ConvGeom& g) {
  const WinogradGeom wg = tile_geom(g);
  const int64_t c = g.c, tiles = wg.tiles(), in_plane = c * g.plane_in(), out_plane = oc * g.plane_out();
  Buffer<T> u(16 * c * oc);
  weight_transform<T>(w, u.get(), nullptr, oc, c);
  const Blocking bl = blocking(g, oc, wg, sizeof(T));
  struct Scratch {
    Buffer<T> v, m;
  };
  // M is only stored where the products and the output transform are separate steps
  // (winograd_forward_block: fused with the ISA's own product kernel)
  const bool store_m = !winograd_has_product_kernel(sizeof(T));
  parallel_items(
      bl.count,
      [&] {
        return Scratch{Buffer<T>(16 * matrix_stride<T>(bl.per * tiles * c)),
                       store_m ? Buffer<T>(16 * matrix_stride<T>(bl.per * tiles * oc)) : Buffer<T>()};
      },
      [&](int64_t blk, Scratch& sc) {
        const int64_t s0 = blk * bl.per, nb = bl.size(blk, g.n), rows = nb * tiles;
        const int64_t vs = matrix_stride<T>(rows * c), ms = matrix_stride<T>(rows * oc);
        FASTNN_DISPATCH(winograd_input_transform<T>(x + s0 * in_plane, sc.v.get(), wg, nb, c, vs));
        FASTNN_DISPATCH(winograd_forward_block<T>(sc.v.get(), u.get(), sc.m.get(), y + s0 * out_plane, b, wg, nb, c,
                                                  oc, vs, ms));
      });
}

template <typename T>
void winograd_conv2d_backward(const T* dy, const T* x, const T* w, T* dx, T* dw, T* db, int64_t oc,
                              const ConvGeom& g) {
  const WinogradGeom wg = tile_geom(g);
  const int64_t c = g.c, tiles = wg.tiles(), in_plane = c * g.plane_in(), out_plane = oc * g.plane_out();
  const int64_t usize = 16 * c * oc;
  Buffer<T> u = dx ? Buffer<T>(usize) : Buffer<T>(), ut = dx ? Buffer<T>(usize) : Buffer<T>();
  if (dx) weight_transform<T>(w, u.get(), ut.get(), oc, c);
  const Blocking bl = blocking(g, oc, wg, sizeof(T));
  // dU partial sums: one per group of consecutive blocks, added in group order at the end. The
  // group count depends on the shapes only (deterministic) and is capped so the partials stay
  // within ~64 MB for wide layers (16 C OC each: 16 MB at C = OC = 512), as in conv.cpp.
  const int64_t budget = std::max<int64_t>(1, (int64_t{64} << 20) / (usize * static_cast<int64_t>(sizeof(T))));
  const int64_t max_groups = std::clamp<int64_t>(budget, 1, kMaxGroups);
  const int64_t per_group = (bl.count + max_groups - 1) / max_groups;
  const int64_t groups = (bl.count + per_group - 1) / per_group;
  Buffer<T> partial(groups * usize);
  std::vector<double> db_part(db ? static_cast<size_t>(bl.count * oc) : 0);
  struct Scratch {
    Buffer<T> v, dm;
  };
  parallel_items(
      groups,
      [&] {
        return Scratch{Buffer<T>(16 * matrix_stride<T>(bl.per * tiles * c)),
                       Buffer<T>(16 * matrix_stride<T>(bl.per * tiles * oc))};
      },
      [&](int64_t gi, Scratch& sc) {
        T* const v = sc.v.get();
        T* const dm = sc.dm.get();
        const int64_t bbeg = gi * per_group, bend = std::min(bl.count, bbeg + per_group);
        T* du = partial.get() + gi * usize;
        for (int64_t blk = bbeg; blk < bend; ++blk) {
          const int64_t s0 = blk * bl.per, nb = bl.size(blk, g.n), rows = nb * tiles;
          const int64_t vs = matrix_stride<T>(rows * c), ms = matrix_stride<T>(rows * oc);
          const T* dyb = dy + s0 * out_plane;
          double* const dbb = db ? db_part.data() + blk * oc : nullptr;  // (starts at 0: the transform adds the sums)
          FASTNN_DISPATCH(winograd_grad_output_transform<T>(dyb, dm, wg, nb, oc, ms, dbb));
          FASTNN_DISPATCH(winograd_input_transform<T>(x + s0 * in_plane, v, wg, nb, c, vs));
          // dU_xi (C, OC) (+)= V_xi^T @ dM_xi, the group's first block overwriting its partial
          FASTNN_DISPATCH(winograd_weight_products<T>(v, dm, du, blk != bbeg, rows, c, oc, vs, ms));
          if (dx) {
            // dV_xi (tiles, C) = dM_xi @ U_xi^T, over V (used up)
            FASTNN_DISPATCH(winograd_data_products<T>(dm, ut.get(), v, rows, c, oc, ms, vs));
            FASTNN_DISPATCH(winograd_grad_input_transform<T>(v, dx + s0 * in_plane, wg, nb, c, vs));
          }
        }
      });
  weight_grad_transform(partial.get(), groups, dw, oc, c);
  if (db)
    for (int64_t o = 0; o < oc; ++o) {
      double sum = 0.0;
      for (int64_t blk = 0; blk < bl.count; ++blk) sum += db_part[static_cast<size_t>(blk * oc + o)];
      db[o] = static_cast<T>(sum);
    }
}

#define FASTNN_INSTANTIATE(T)                                                                               \
  template void winograd_conv2d_forward<T>(const T*, const T*, const T*, T*, int64_t, const ConvGeom&);     \
  template void winograd_conv2d_backward<T>(const T*, const T*, const T*, T*, T*, T*, int64_t, const ConvGeom&);
FASTNN_INSTANTIATE(float)
FASTNN_INSTANTIATE(double)
#undef FASTNN_INSTANTIATE

}  // namespace fastnn
