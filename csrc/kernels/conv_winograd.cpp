// conv2d forward and backward by Winograd F(2x2, 3x3): the blocking, the 16 matrix products per
// block (fastnn::gemm) and the threads. The tile transforms are per ISA (winograd_impl.h).
//
// The mini-batch is cut into blocks of whole images, sized so a block's transformed input V and
// transformed output M (or dM) stay in L2 while its 16 products run; threads take whole blocks
// (forward) or whole groups of consecutive blocks (backward), and each block is a complete
// transform -> 16 GEMMs -> transform pipeline on one core. Blocks and groups depend on the shapes
// only, and dU is summed per group, groups in order: results do not depend on the thread count.
// Images never straddle blocks, so the overlapping dx tiles of an image are all gathered by the
// thread that owns it: no races.
#include "conv_winograd.h"

#include <algorithm>
#include <vector>

#include "block_cache.h"
#include "cpu.h"
#include "gemm.h"
#include "isa_dispatch.h"
#include "winograd.h"

namespace fastnn {
namespace {

// Scratch from the block cache. Uninitialised unless `zeroed`: the transformed blocks are
// zeroed once so that the junk lanes the transforms compute in the slack columns start finite.
template <typename T>
class Buffer {
 public:
  Buffer() = default;
  explicit Buffer(int64_t count, bool zeroed = false)
      : buf_(sizeof(T) * static_cast<size_t>(std::max<int64_t>(count, 1))) {
    if (zeroed) std::fill(get(), get() + count, T(0));
  }
  T* get() const { return buf_.as<T>(); }

 private:
  CachedBuffer buf_;
};

// Leading dimension of a block's transformed matrices: its tiles, the transforms' slack
// (winograd.h), rounded to whole 64-byte lines.
int64_t block_ld(int64_t tiles) { return (tiles + kWinogradSlack + 15) / 16 * 16; }

// Stride between the 16 matrices of a block: rows * ld, plus a line when that is an even
// number of 64-byte lines (see winograd.h).
template <typename T>
int64_t matrix_stride(int64_t rows, int64_t ld) {
  constexpr int64_t line = 64 / static_cast<int64_t>(sizeof(T));
  const int64_t size = rows * ld;  // ld is a multiple of 16 >= line elements
  return (size / line) % 2 == 0 ? size + line : size;
}

WinogradGeom tile_geom(const ConvGeom& g) {
  return {g.h, g.w, g.ph, g.pw, g.oh, g.ow, (g.oh + 1) / 2, (g.ow + 1) / 2};
}

// V, M and dM of a block together: about half of a 1 MiB L2 (the GEMMs stream V and write M;
// the rest of L2 holds U, the packed GEMM panels and the block's x / y planes).
constexpr int64_t kBlockBytes = 512 * 1024;
constexpr int64_t kMinBlocks = 16;  // enough blocks to balance a few threads
constexpr int64_t kMaxGroups = 16;  // dU partial sums (each 16 * OC * C)

struct Blocking {
  int64_t per;    // images per block (the last may have fewer)
  int64_t count;  // number of blocks
  int64_t size(int64_t b, int64_t n) const { return std::min(per, n - b * per); }
};

Blocking blocking(const ConvGeom& g, int64_t oc, const WinogradGeom& wg, size_t elem) {
  const int64_t image_bytes = std::max<int64_t>(1, 16 * (g.c + oc) * wg.tiles() * static_cast<int64_t>(elem));
  const int64_t by_size = std::max<int64_t>(1, kBlockBytes / image_bytes);
  const int64_t by_count = std::max<int64_t>(1, (g.n + kMinBlocks - 1) / kMinBlocks);
  const int64_t per = std::min({by_size, by_count, g.n});
  return {per, (g.n + per - 1) / per};
}

// U_xi (OC, C) = (G g G^T)[i][j] for xi = 4i + j, computed in double and rounded once.
template <typename T>
void weight_transform(const T* w, T* u, int64_t oc, int64_t c) {
  const int64_t mat = oc * c;
  parallel_for(mat, 256, [&](int64_t e0, int64_t e1) {
    for (int64_t e = e0; e < e1; ++e) {
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
        for (int j = 0; j < 4; ++j) u[(4 * i + j) * mat + e] = static_cast<T>(r[j]);
      }
    }
  });
}

// dw (OC, C, 3, 3) = G^T dU G, with dU_xi (OC, C) the sum of `count` partials (each 16 * OC * C,
// added in order, into the first: streaming adds, not `count` strided loads per element), the
// transform in double, rounded once.
template <typename T>
void weight_grad_transform(T* partial, int64_t count, T* dw, int64_t oc, int64_t c) {
  const int64_t mat = oc * c, size = 16 * mat;
  parallel_for(size, 1 << 14, [&](int64_t e0, int64_t e1) {
    for (int64_t q = 1; q < count; ++q) {
      const T* src = partial + q * size;
#pragma omp simd
      for (int64_t e = e0; e < e1; ++e) partial[e] += src[e];
    }
  });
  parallel_for(mat, 256, [&](int64_t e0, int64_t e1) {
    for (int64_t e = e0; e < e1; ++e) {
      double d[4][4];
      for (int xi = 0; xi < 16; ++xi) d[xi / 4][xi % 4] = partial[xi * mat + e];
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

bool winograd_applicable(const ConvGeom& g, int64_t oc) {
  return g.kh == 3 && g.kw == 3 && g.sh == 1 && g.sw == 1 && g.n > 0 && g.c > 0 && oc > 0 && g.oh > 0 &&
         g.ow > 0;
}

template <typename T>
void winograd_conv2d_forward(const T* x, const T* w, const T* b, T* y, int64_t oc, const ConvGeom& g) {
  const WinogradGeom wg = tile_geom(g);
  const int64_t c = g.c, tiles = wg.tiles(), in_plane = c * g.plane_in(), out_plane = oc * g.plane_out();
  Buffer<T> u(16 * oc * c);
  weight_transform(w, u.get(), oc, c);
  const Blocking bl = blocking(g, oc, wg, sizeof(T));
  parallel_for(bl.count, 1, [&](int64_t b0, int64_t b1) {
    const int64_t ld_max = block_ld(bl.per * tiles);
    Buffer<T> v(16 * matrix_stride<T>(c, ld_max), true), m(16 * matrix_stride<T>(oc, ld_max), true);
    for (int64_t blk = b0; blk < b1; ++blk) {
      const int64_t s0 = blk * bl.per, nb = bl.size(blk, g.n), cols = nb * tiles, ld = block_ld(cols);
      const int64_t vs = matrix_stride<T>(c, ld), ms = matrix_stride<T>(oc, ld);
      FASTNN_DISPATCH(winograd_input_transform<T>(x + s0 * in_plane, v.get(), wg, nb, c, ld, vs));
      for (int xi = 0; xi < 16; ++xi)
        gemm<T>(false, false, oc, cols, c, T(1), u.get() + xi * oc * c, c, v.get() + xi * vs, ld, T(0),
                m.get() + xi * ms, ld);
      FASTNN_DISPATCH(winograd_output_transform<T>(m.get(), y + s0 * out_plane, b, wg, nb, oc, ld, ms));
    }
  });
}

template <typename T>
void winograd_conv2d_backward(const T* dy, const T* x, const T* w, T* dx, T* dw, T* db, int64_t oc,
                              const ConvGeom& g) {
  const WinogradGeom wg = tile_geom(g);
  const int64_t c = g.c, tiles = wg.tiles(), in_plane = c * g.plane_in(), out_plane = oc * g.plane_out();
  const int64_t p = g.plane_out(), usize = 16 * oc * c;
  Buffer<T> u = dx ? Buffer<T>(usize) : Buffer<T>();
  if (dx) weight_transform(w, u.get(), oc, c);
  const Blocking bl = blocking(g, oc, wg, sizeof(T));
  // dU partial sums: one per group of consecutive blocks, added in group order at the end.
  const int64_t per_group = (bl.count + kMaxGroups - 1) / kMaxGroups;
  const int64_t groups = (bl.count + per_group - 1) / per_group;
  Buffer<T> partial(groups * usize);
  std::vector<double> db_part(db ? static_cast<size_t>(bl.count * oc) : 0);
  parallel_for(groups, 1, [&](int64_t g0, int64_t g1) {
    const int64_t ld_max = block_ld(bl.per * tiles);
    Buffer<T> vbuf(16 * matrix_stride<T>(c, ld_max) + kWinogradSlack, true);
    Buffer<T> dm(16 * matrix_stride<T>(oc, ld_max), true);
    T* const v = vbuf.get() + kWinogradSlack;  // V, then dV (read from one before: winograd.h)
    for (int64_t gi = g0; gi < g1; ++gi) {
      const int64_t bbeg = gi * per_group, bend = std::min(bl.count, bbeg + per_group);
      T* du = partial.get() + gi * usize;
      for (int64_t blk = bbeg; blk < bend; ++blk) {
        const int64_t s0 = blk * bl.per, nb = bl.size(blk, g.n), cols = nb * tiles, ld = block_ld(cols);
        const int64_t vs = matrix_stride<T>(c, ld), ms = matrix_stride<T>(oc, ld);
        const T* dyb = dy + s0 * out_plane;
        if (db) {
          for (int64_t o = 0; o < oc; ++o) {
            double sum = 0.0;
            for (int64_t s = 0; s < nb; ++s) {
              const T* row = dyb + (s * oc + o) * p;
              double part = 0.0;
#pragma omp simd reduction(+ : part)
              for (int64_t q = 0; q < p; ++q) part += static_cast<double>(row[q]);
              sum += part;
            }
            db_part[static_cast<size_t>(blk * oc + o)] = sum;
          }
        }
        FASTNN_DISPATCH(winograd_grad_output_transform<T>(dyb, dm.get(), wg, nb, oc, ld, ms));
        FASTNN_DISPATCH(winograd_input_transform<T>(x + s0 * in_plane, v, wg, nb, c, ld, vs));
        const T beta = blk == bbeg ? T(0) : T(1);
        // dU_xi (OC, C) += dM_xi (OC, tiles) @ V_xi^T
        for (int xi = 0; xi < 16; ++xi)
          gemm<T>(false, true, oc, c, cols, T(1), dm.get() + xi * ms, ld, v + xi * vs, ld, beta, du + xi * oc * c,
                  c);
        if (dx) {
          // dV_xi (C, tiles) = U_xi^T @ dM_xi, over V (used up)
          for (int xi = 0; xi < 16; ++xi)
            gemm<T>(true, false, c, cols, oc, T(1), u.get() + xi * oc * c, c, dm.get() + xi * ms, ld, T(0),
                    v + xi * vs, ld);
          FASTNN_DISPATCH(winograd_grad_input_transform<T>(v, dx + s0 * in_plane, wg, nb, c, ld, vs));
        }
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
