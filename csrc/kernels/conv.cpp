// Convolution kernels: im2col/col2im data movement plus large GEMMs on L2-sized chunks of the
// mini-batch (see conv.h for the layouts). Threads split independent chunks, planes or rows, so
// no two threads ever write the same element, and every sum is taken in a fixed order: results
// do not depend on the thread count.
#include "conv.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <vector>

#include "block_cache.h"
#include "conv_winograd.h"
#include "cpu.h"
#include "gemm.h"
#include "im2col_isa.h"
#include "isa_dispatch.h"

namespace fastnn {
namespace {

// Uninitialised scratch: every buffer below is fully written before it is read, and zeroing
// a column matrix would cost as much as filling it. Large buffers come from the block cache,
// so the columns of each call reuse memory that is already mapped (see block_cache.h).
template <typename T>
class Scratch {
 public:
  Scratch() = default;
  explicit Scratch(int64_t count)
      : buf_(sizeof(T) * static_cast<size_t>(std::max<int64_t>(count, 1))) {}
  T* get() const { return buf_.as<T>(); }
  T& operator[](int64_t i) const { return get()[i]; }

 private:
  CachedBuffer buf_;
};

// (N, C, P) -> (C, N*P): channel-major, so a chunk of samples is one matrix.
template <typename T>
void to_channel_major(const T* a, T* out, int64_t n, int64_t c, int64_t p) {
  parallel_for(n * c, conv_grain_for(p), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t ci = r / n, ni = r % n;
      std::memcpy(out + r * p, a + (ni * c + ci) * p, static_cast<size_t>(p) * sizeof(T));
    }
  });
}

// db[c] = sum over n and p of dy[n, c, p], in a fixed order (double accumulator: N*P terms).
template <typename T>
void channel_sums(const T* dy, T* db, int64_t n, int64_t c, int64_t p) {
  parallel_for(c, conv_grain_for(n * p), [&](int64_t c0, int64_t c1) {
    for (int64_t ci = c0; ci < c1; ++ci) {
      double total = 0.0;
      for (int64_t ni = 0; ni < n; ++ni) {
        const T* row = dy + (ni * c + ci) * p;
        total += sum_as_double(row, p);
      }
      db[ci] = static_cast<T>(total);
    }
  });
}

// Deterministic sum over samples of per-sample GEMM results, for the pointwise weight
// gradient: samples are cut into chunks whose size depends on N only (never on the thread
// count), each chunk accumulates into its own buffer in sample order, and the chunk buffers
// are added in chunk order.
template <typename T, typename PerSample>
void sum_over_samples(int64_t n, int64_t size, T* out, PerSample&& gemm_into) {
  const int64_t chunks = std::min<int64_t>(n, 8);
  if (chunks <= 0) {
    std::fill(out, out + size, T(0));
    return;
  }
  const int64_t per = (n + chunks - 1) / chunks;
  Scratch<T> partial(chunks * size);
  parallel_for(chunks, 1, [&](int64_t k0, int64_t k1) {
    for (int64_t k = k0; k < k1; ++k) {
      T* acc = partial.get() + k * size;
      const int64_t s0 = k * per, s1 = std::min(n, s0 + per);
      if (s0 >= s1) {
        std::fill(acc, acc + size, T(0));
        continue;
      }
      for (int64_t s = s0; s < s1; ++s) gemm_into(s, acc, s == s0 ? T(0) : T(1));
    }
  });
  parallel_for(size, kConvMinElementsPerChunk, [&](int64_t e0, int64_t e1) {
    for (int64_t e = e0; e < e1; ++e) {
      T v = partial[e];
      for (int64_t k = 1; k < chunks; ++k) v += partial[k * size + e];
      out[e] = v;
    }
  });
}

}  // namespace

// im2col / col2im: per ISA (im2col_impl.h), chosen at run time.
template <typename T>
void im2col(const T* x, T* cols, const ConvGeom& g, int64_t n_stride, int64_t r_stride) {
  FASTNN_DISPATCH(im2col<T>(x, cols, g, n_stride, r_stride));
}

template <typename T>
void col2im(const T* cols, T* x, const ConvGeom& g, int64_t n_stride, int64_t r_stride) {
  FASTNN_DISPATCH(col2im<T>(static_cast<T*>(nullptr), cols, x, g, n_stride, r_stride, static_cast<const T*>(nullptr)));
}

template <typename T>
double sum_as_double(const T* p, int64_t n) {
  double s = 0.0;
  FASTNN_DISPATCH(sum_as_double<T>(p, n, &s));
  return s;
}

namespace {

// col2im with each (n, c) plane initialised to bias[c] (or 0); scratch_cols: the caller's own
// buffer (may be cols), which col2im may overwrite to add whole blocks at once.
template <typename T>
void col2im_impl(T* scratch_cols, const T* cols, T* x, const ConvGeom& g, int64_t n_stride, int64_t r_stride,
                 const T* bias) {
  FASTNN_DISPATCH(col2im<T>(scratch_cols, cols, x, g, n_stride, r_stride, bias));
}

// ---------------------------------------------------------------------------------------------
// The mini-batch is cut into chunks of whole samples; a chunk's column matrix (K, nb*P) is sized
// to stay in L2 (the GEMMs then read it from cache, not memory) while its GEMMs stay large
// (nb*P columns). Threads take whole chunks and run their GEMMs inline, each chunk a complete
// im2col -> GEMM -> scatter pipeline on one core. Chunk sizes depend on the shapes only, never
// on the thread count, so every sum has the same order for any number of threads.

constexpr int64_t kChunkBytes = 768 * 1024;  // a chunk's column matrix: well inside a 2 MiB L2
constexpr int64_t kMinChunks = 16;           // enough chunks to balance a few threads
constexpr int64_t kDwDotMaxRows = 16;        // K up to this: dw in the GEMM's dot-path orientation
constexpr int64_t kDwTransposedMaxOc = 16;   // OC up to this (K above): dw computed as dw^T, see below

struct Chunking {
  int64_t per;    // samples per chunk (the last may have fewer)
  int64_t count;  // number of chunks
  int64_t first(int64_t c) const { return c * per; }
  int64_t size(int64_t c, int64_t n) const { return std::min(per, n - c * per); }
};

Chunking chunking(const ConvGeom& g, size_t elem_size) {
  if (g.n <= 0) return {1, 0};
  const int64_t sample_bytes = std::max<int64_t>(1, g.rows() * g.plane_out() * static_cast<int64_t>(elem_size));
  const int64_t by_size = (g.n * sample_bytes + kChunkBytes - 1) / kChunkBytes;
  const int64_t wanted = std::clamp<int64_t>(std::max(by_size, kMinChunks), 1, std::max<int64_t>(g.n, 1));
  const int64_t per = (g.n + wanted - 1) / wanted;
  return {per, (g.n + per - 1) / per};
}

// The chunk-major layout of a kept column matrix: chunk c's block (K, nb*P) starts at element
// first(c) * K * P, so each block is a plain channel-major matrix for the GEMMs.
inline int64_t chunk_offset(const Chunking& ch, int64_t c, const ConvGeom& g) {
  return ch.first(c) * g.rows() * g.plane_out();
}

// y = conv(x, w) (+ b): per chunk, im2col then y[s] = (OC, K) @ (K, P) block s of the columns,
// for each sample s of the chunk: one batched GEMM (W packed once per chunk) that stores into y's
// NCHW planes directly, the bias added as each tile is stored. (A single (OC, nb*P) product then
// a copy back to NCHW was measured slower: the copy was another pass over y, ~15 % of the
// C = 1 layer's forward.)
template <typename T>
void conv_forward_cols(const T* x, const T* w, const T* b, T* y, int64_t oc, const ConvGeom& g, T* kept_cols) {
  const int64_t k = g.rows(), p = g.plane_out(), plane_in = g.c * g.plane_in();
  const Chunking ch = chunking(g, sizeof(T));
  parallel_items(
      ch.count, [&] { return kept_cols ? Scratch<T>() : Scratch<T>(k * ch.per * p); },
      [&](int64_t c, Scratch<T>& own_cols) {
        const int64_t s0 = ch.first(c), nb = ch.size(c, g.n), cols_n = nb * p;
        ConvGeom gc = g;
        gc.n = nb;
        T* cols = kept_cols ? kept_cols + chunk_offset(ch, c, g) : own_cols.get();
        im2col<T>(x + s0 * plane_in, cols, gc, p, cols_n);
        gemm_batch<T>(false, false, oc, p, k, T(1), w, k, cols, cols_n, p, T(0), y + s0 * oc * p, p, oc * p, nb, b);
      });
}

// Only the kept column matrix of conv_forward_cols (chunk-major), for a forward computed otherwise.
template <typename T>
void fill_kept_cols(const T* x, const ConvGeom& g, T* kept_cols) {
  const int64_t p = g.plane_out(), plane_in = g.c * g.plane_in();
  const Chunking ch = chunking(g, sizeof(T));
  parallel_for(ch.count, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      ConvGeom gc = g;
      gc.n = ch.size(c, g.n);
      im2col<T>(x + ch.first(c) * plane_in, kept_cols + chunk_offset(ch, c, g), gc, p, gc.n * p);
    }
  });
}

// out (rows x cols) = the sum, in order, of `count` partials, each stored transposed (cols x
// rows) when `transposed`, else as out is.
template <typename T>
void reduce_partials(const T* partial, int64_t count, int64_t rows, int64_t cols, bool transposed, T* out) {
  const int64_t size = rows * cols;
  parallel_for(size, kConvMinElementsPerChunk, [&](int64_t e0, int64_t e1) {
    for (int64_t e = e0; e < e1; ++e) {
      const int64_t at = transposed ? (e % cols) * rows + e / cols : e;
      T v = partial[at];
      for (int64_t q = 1; q < count; ++q) v += partial[q * size + at];
      out[e] = v;
    }
  });
}

// The gradients of y = conv(x, w) with respect to w (into dw, when not null) and x (into dx,
// when not null; each (n, c) plane starts at dx_bias[c] when given, for conv_transpose2d).
//   dw = sum over chunks of dY_c (OC, nb*P) @ cols_c^T   (chunks grouped, see below; for
//        OC <= 16 computed transposed, as cols_c @ dY_c^T)
//   dx = col2im(W^T @ dY_c) per chunk
// x is read only when dw is wanted and no kept_cols are given.
// db (when not null) = the channel sums of dy, taken from the chunk's channel-major copy while it
// is in cache (saves a pass over dy): per chunk in double, chunks added in order.
template <typename T>
void conv_backward_cols(const T* dy, const T* x, const T* w, T* dx, T* dw, T* db, int64_t oc, const ConvGeom& g,
                        const T* kept_cols, const T* dx_bias) {
  const int64_t k = g.rows(), p = g.plane_out(), plane_in = g.c * g.plane_in(), wsize = oc * k;
  const Chunking ch = chunking(g, sizeof(T));
  // dw partial sums: one per group of consecutive chunks, added in group order at the end.
  // The group count depends on the shapes only (deterministic) and is capped so the
  // partials stay within ~64 MB even for wide layers.
  const int64_t budget = std::max<int64_t>(1, (64 << 20) / std::max<int64_t>(1, wsize * static_cast<int64_t>(sizeof(T))));
  const int64_t max_groups = dw ? std::clamp<int64_t>(std::min(ch.count, kMinChunks), 1, budget) : ch.count;
  const int64_t per_group = (ch.count + max_groups - 1) / max_groups;
  const int64_t groups = (ch.count + per_group - 1) / per_group;  // every group non-empty
  Scratch<T> partial = dw ? Scratch<T>(groups * wsize) : Scratch<T>();
  std::vector<double> db_part(db ? static_cast<size_t>(ch.count * oc) : 0);
  // K > 16: dy is copied channel-major, so the chunk is one (OC, nb*P) matrix for long products.
  const bool dy_channel_major = k > kDwDotMaxRows;
  // Which way round the dw product runs: dw (OC, K) = dY @ cols^T, or, for few output channels,
  // dw^T (K, OC) = cols @ dY^T (one vector of C columns for OC <= 16: no lanes wasted on a
  // ragged second vector, and the long K dimension as the GEMM's rows). Measured on the Xeon,
  // weight gradient without dx (im2col and db included), 1 / 2 threads, dw^T time / dw time:
  // (128,20,12,12)->50 5x5 1.11 / 1.13, (128,1,28,28)->20 5x5 1.15 / 1.09, (64,64,28,28)->128
  // 3x3 stride 2 1.46 / 1.37, (32,128,14,14)->256 3x3 stride 2 4.6 / 4.3 (its transposed
  // partial sums are also added up across strided rows), (16,3,64,64)->64 7x7 stride 2 0.96 /
  // 0.98, (128,8,16,16)->16 3x3 stride 2 0.88 / 0.91; the same ordering with the AVX2 kernels.
  const bool dw_transposed = dy_channel_major && oc <= kDwTransposedMaxOc;
  struct Buffers {
    Scratch<T> cols, dycm;
  };
  const bool need_cols_buffer = dx || !kept_cols;
  // Groups write disjoint partials (and chunks disjoint parts of dx and db_part): any thread may
  // take any group.
  parallel_items(
      groups,
      [&] {
        return Buffers{need_cols_buffer ? Scratch<T>(k * ch.per * p) : Scratch<T>(),
                       dy_channel_major ? Scratch<T>(oc * ch.per * p) : Scratch<T>()};
      },
      [&](int64_t gi, Buffers& buf) {
        Scratch<T>& own_cols = buf.cols;
        Scratch<T>& dycm = buf.dycm;
        const int64_t cbeg = gi * per_group, cend = std::min(ch.count, cbeg + per_group);
        for (int64_t c = cbeg; c < cend; ++c) {
          const int64_t s0 = ch.first(c), nb = ch.size(c, g.n), cols_n = nb * p;
          ConvGeom gc = g;
          gc.n = nb;
          const T* dyc = dy + s0 * oc * p;  // the chunk's NCHW dy
          // Few rows (K <= 16, e.g. a 3x3 kernel on 1 channel): the products run per sample on
          // dy in place. Otherwise dy is copied channel-major, so the chunk is one (OC, nb*P)
          // matrix: long products for the blocked GEMM.
          if (dy_channel_major) to_channel_major<T>(dyc, dycm.get(), nb, oc, p);
          if (db) {
            for (int64_t o = 0; o < oc; ++o) {
              double sum = 0.0;
              if (dy_channel_major)
                sum = sum_as_double(dycm.get() + o * cols_n, cols_n);
              else
                for (int64_t si = 0; si < nb; ++si) sum += sum_as_double(dyc + (si * oc + o) * p, p);
              db_part[static_cast<size_t>(c * oc + o)] = sum;
            }
          }
          if (dw) {
            const T* cols = kept_cols ? kept_cols + chunk_offset(ch, c, g) : own_cols.get();
            if (!kept_cols) im2col<T>(x + s0 * plane_in, own_cols.get(), gc, p, cols_n);
            T* const part = partial.get() + gi * wsize;
            if (dw_transposed) {
              // dw^T (K, OC) = cols (K, nb*P) @ dY^T: the same product as dY @ cols^T
              gemm<T>(false, true, k, oc, cols_n, T(1), cols, cols_n, dycm.get(), cols_n, c == cbeg ? T(0) : T(1),
                      part, oc);
            } else if (dy_channel_major) {
              // dw (OC, K) = dY (OC, nb*P) @ cols^T
              gemm<T>(false, true, oc, k, cols_n, T(1), dycm.get(), cols_n, cols, cols_n, c == cbeg ? T(0) : T(1),
                      part, k);
            } else {
              // dw (OC, K) += dy[s] @ (columns of s)^T, sample by sample: the GEMM's dot-product
              // path, both operands read along P in place (measured 2.5x the transposed
              // product; per sample, without the channel-major copy of dy, the C = 1 layer's
              // weight gradient ran ~1/5 faster)
              for (int64_t si = 0; si < nb; ++si)
                gemm<T>(false, true, oc, k, p, T(1), dyc + si * oc * p, p, cols + si * p, cols_n,
                        c == cbeg && si == 0 ? T(0) : T(1), part, k);
            }
          }
          if (dx) {
            // dcols = W^T @ dY_c, over this thread's column buffer (its columns are used up)
            if (dy_channel_major)
              gemm<T>(true, false, k, cols_n, oc, T(1), w, k, dycm.get(), cols_n, T(0), own_cols.get(), cols_n);
            else  // per sample s: dcols[:, s*P:(s+1)*P] = W^T @ dy[s], one batched GEMM
              gemm_batch<T>(true, false, k, p, oc, T(1), w, k, dyc, p, oc * p, T(0), own_cols.get(), cols_n, p, nb,
                            nullptr);
            col2im_impl<T>(own_cols.get(), own_cols.get(), dx + s0 * plane_in, gc, p, cols_n, dx_bias);
          }
        }
      });
  if (dw) reduce_partials<T>(partial.get(), groups, oc, k, dw_transposed, dw);
  if (db)
    for (int64_t o = 0; o < oc; ++o) {
      double sum = 0.0;
      for (int64_t c = 0; c < ch.count; ++c) sum += db_part[static_cast<size_t>(c * oc + o)];
      db[o] = static_cast<T>(sum);
    }
}

std::atomic<int> g_algo_override{static_cast<int>(ConvAlgo::automatic)};
std::atomic<uint64_t> g_algo_calls[4];

void count_call(ConvAlgo a) { g_algo_calls[static_cast<int>(a)].fetch_add(1, std::memory_order_relaxed); }

// Winograd pays when its products dominate its tile transforms (products ~C*OC per tile,
// transforms ~C + OC, and channels are the transforms' vector lanes), and when its products run
// well. Measured on Zen 4, 1 thread, fwd+bwd, 3x3 pad 1, im2col time / Winograd time:
//   with the AVX-512 product kernel (float), N = 64:
//     C:            1     2     3     4     6     8    16    32
//     28x28, OC 32: 0.37  0.55  0.66  0.72  0.92  1.23  1.64  1.76
//     14x14, OC 32: 0.35  0.60  0.73  0.79  0.95  1.34  1.85  1.94
//      7x7,  OC 32: 0.35  0.54  0.68  0.80  0.98  1.37  1.94  2.09
//   and for OC = 8 at C = 8: 0.99 (28x28) to 1.46 (7x7). So: C >= 8 and OC >= 8.
//   With the AVX2 ISA (products as 16 fastnn::gemm calls per block): 0.40 at C 8 -> OC 16 28x28,
//   0.89 at 16 -> 32 7x7, 1.29 at 32 -> 64 14x14 (N = 128). So: C >= 32 and OC >= 32 without the
//   kernel (generic ISA, AVX2, and float64, whose products are fastnn::gemm calls too).
bool winograd_pays(const ConvGeom& g, int64_t oc, size_t elem_size) {
  const int64_t min_channels = winograd_has_product_kernel(elem_size) ? 8 : 32;
  return g.c >= min_channels && oc >= min_channels;
}

}  // namespace

const char* conv_algo_name(ConvAlgo a) {
  switch (a) {
    case ConvAlgo::pointwise: return "pointwise";
    case ConvAlgo::im2col: return "im2col";
    case ConvAlgo::winograd: return "winograd";
    default: return "auto";
  }
}

ConvAlgo conv2d_algorithm(const ConvGeom& g, int64_t oc, size_t elem_size) {
  if (g.is_pointwise()) return ConvAlgo::pointwise;
  const ConvAlgo forced = conv2d_algorithm_override();
  if (forced == ConvAlgo::im2col || !winograd_applicable(g, oc)) return ConvAlgo::im2col;
  if (forced == ConvAlgo::winograd || winograd_pays(g, oc, elem_size)) return ConvAlgo::winograd;
  return ConvAlgo::im2col;
}

void set_conv2d_algorithm(ConvAlgo a) { g_algo_override.store(static_cast<int>(a)); }
ConvAlgo conv2d_algorithm_override() { return static_cast<ConvAlgo>(g_algo_override.load()); }
uint64_t conv2d_algorithm_calls(ConvAlgo a) {
  const int i = static_cast<int>(a);
  return i >= 0 && i < 4 ? g_algo_calls[i].load() : 0;
}

template <typename T>
void conv2d_forward(const T* x, const T* w, const T* b, T* y, int64_t oc, const ConvGeom& g, T* cols) {
  const int64_t k = g.rows(), p = g.plane_out();
  if (g.n == 0 || oc == 0 || p == 0) return;
  if (k == 0) {  // no input channels: y = bias
    parallel_for(g.n * oc, conv_grain_for(p), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) std::fill(y + r * p, y + (r + 1) * p, b ? b[r % oc] : T(0));
    });
    return;
  }
  const ConvAlgo algo = conv2d_algorithm(g, oc, sizeof(T));
  count_call(algo);
  if (algo == ConvAlgo::winograd) {
    winograd_conv2d_forward<T>(x, w, b, y, oc, g);
    if (cols) fill_kept_cols<T>(x, g, cols);
    return;
  }
  if (algo == ConvAlgo::pointwise) {
    // x[n] is already the (C, P) column matrix: y[n] = W @ x[n] + b, one batched GEMM (W
    // packed once, threads take whole samples), the bias added as each tile is stored.
    gemm_batch<T>(false, false, oc, p, k, T(1), w, k, x, p, k * p, T(0), y, p, oc * p, g.n, b);
    return;
  }
  conv_forward_cols<T>(x, w, b, y, oc, g, cols);
}

template <typename T>
void conv2d_backward(const T* dy, const T* x, const T* w, T* dx, T* dw, T* db, int64_t oc,
                     const ConvGeom& g, const T* cols) {
  const int64_t k = g.rows(), p = g.plane_out(), np = g.n * p;
  // (pointwise with dx: db is summed in the dx loop below, while each dy[n] is in cache)
  const bool pointwise_db_with_dx = db && dx && g.is_pointwise() && k > 0 && oc > 0 && np > 0;
  if (db && !pointwise_db_with_dx && (k == 0 || oc == 0 || np == 0 || g.is_pointwise()))
    channel_sums<T>(dy, db, g.n, oc, p);
  if (k == 0 || oc == 0) {  // empty weight: dw is empty; dx gets no contribution
    if (dx) std::fill(dx, dx + g.n * g.c * g.plane_in(), T(0));
    return;
  }
  if (np == 0) {
    std::fill(dw, dw + oc * k, T(0));
    if (dx) std::fill(dx, dx + g.n * g.c * g.plane_in(), T(0));
    return;
  }
  const ConvAlgo algo = conv2d_algorithm(g, oc, sizeof(T));
  count_call(algo);
  if (algo == ConvAlgo::winograd) {  // kept columns are not needed: V is recomputed from x
    winograd_conv2d_backward<T>(dy, x, w, dx, dw, db, oc, g);
    return;
  }
  if (algo == ConvAlgo::pointwise) {
    // dw = sum_n dy[n] @ x[n]^T (fixed-order sum over samples); dx[n] = W^T @ dy[n].
    sum_over_samples<T>(g.n, oc * k, dw, [&](int64_t s, T* acc, T beta) {
      gemm<T>(false, true, oc, k, p, T(1), dy + s * oc * p, p, x + s * k * p, p, beta, acc, k);
    });
    if (dx) {
      // db: per sample and channel in double, then over samples in order (as channel_sums)
      std::vector<double> db_part(pointwise_db_with_dx ? static_cast<size_t>(g.n * oc) : 0);
      // dx[n] = W^T @ dy[n]: one batched GEMM, db summed from each dy[n] after its product
      gemm_batch<T>(true, false, k, p, oc, T(1), w, k, dy, p, oc * p, T(0), dx, p, k * p, g.n, nullptr, [&](int64_t s) {
        if (!pointwise_db_with_dx) return;
        const T* dys = dy + s * oc * p;
        for (int64_t o = 0; o < oc; ++o) {
          const T* row = dys + o * p;
          db_part[static_cast<size_t>(s * oc + o)] = sum_as_double(row, p);
        }
      });
      if (pointwise_db_with_dx)
        for (int64_t o = 0; o < oc; ++o) {
          double total = 0.0;
          for (int64_t s = 0; s < g.n; ++s) total += db_part[static_cast<size_t>(s * oc + o)];
          db[o] = static_cast<T>(total);
        }
    }
    return;
  }
  conv_backward_cols<T>(dy, x, w, dx, dw, db, oc, g, cols, static_cast<const T*>(nullptr));
}

// A transposed convolution is the input gradient of the convolution g (input of y's shape,
// output of x's shape, weight w read as (OC = C_in, C_out*KH*KW)); its weight gradient is
// that convolution's weight gradient with x in the role of the output gradient.
template <typename T>
void conv_transpose2d_forward(const T* x, const T* w, const T* b, T* y, int64_t c_in, const ConvGeom& g) {
  if (g.n == 0 || g.c == 0 || g.plane_in() == 0) return;
  if (c_in == 0 || g.plane_out() == 0) {  // nothing to scatter: y = bias
    const int64_t plane = g.plane_in();
    parallel_for(g.n * g.c, conv_grain_for(plane), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) std::fill(y + r * plane, y + (r + 1) * plane, b ? b[r % g.c] : T(0));
    });
    return;
  }
  conv_backward_cols<T>(x, nullptr, w, y, nullptr, nullptr, c_in, g, nullptr, b);
}

template <typename T>
void conv_transpose2d_backward(const T* dy, const T* x, const T* w, T* dx, T* dw, T* db, int64_t c_in,
                               const ConvGeom& g) {
  const int64_t k = g.rows(), p = g.plane_out(), np = g.n * p;
  if (db) channel_sums<T>(dy, db, g.n, g.c, g.plane_in());
  if (c_in == 0 || k == 0) {
    if (dx) std::fill(dx, dx + g.n * c_in * p, T(0));
    return;
  }
  if (np == 0) {
    std::fill(dw, dw + c_in * k, T(0));
    return;
  }
  // dx = conv(dy, w); dw = the convolution's weight gradient with x as its output gradient.
  if (dx) conv_forward_cols<T>(dy, w, nullptr, dx, c_in, g, nullptr);
  conv_backward_cols<T>(x, dy, w, nullptr, dw, nullptr, c_in, g, nullptr, static_cast<const T*>(nullptr));
}

#define FASTNN_INSTANTIATE(T)                                                                        \
  template void im2col<T>(const T*, T*, const ConvGeom&, int64_t, int64_t);                          \
  template void col2im<T>(const T*, T*, const ConvGeom&, int64_t, int64_t);                          \
  template double sum_as_double<T>(const T*, int64_t);                                               \
  template void conv2d_forward<T>(const T*, const T*, const T*, T*, int64_t, const ConvGeom&, T*);   \
  template void conv2d_backward<T>(const T*, const T*, const T*, T*, T*, T*, int64_t, const ConvGeom&, \
                                   const T*);                                                        \
  template void conv_transpose2d_forward<T>(const T*, const T*, const T*, T*, int64_t, const ConvGeom&); \
  template void conv_transpose2d_backward<T>(const T*, const T*, const T*, T*, T*, T*, int64_t,       \
                                             const ConvGeom&);
FASTNN_INSTANTIATE(float)
FASTNN_INSTANTIATE(double)
#undef FASTNN_INSTANTIATE

}  // namespace fastnn
