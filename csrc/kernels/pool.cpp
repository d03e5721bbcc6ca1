// Pooling kernels. Threads split whole (n, c) planes, so no two threads write the same
// element and every sum runs in a fixed order: results do not depend on the thread count.
#include "pool.h"

#include <algorithm>
#include <atomic>
#include <limits>
#include <type_traits>
#include <vector>

#include "cpu.h"
#include "isa_dispatch.h"
#include "pool_isa.h"

namespace fastnn {
namespace {

constexpr int64_t kMinElementsPerChunk = 1 << 14;

int64_t grain_for(int64_t elements_per_item) {
  return std::max<int64_t>(1, kMinElementsPerChunk / std::max<int64_t>(elements_per_item, 1));
}

// The real (unpadded) extent [lo, hi) of window o along one axis.
inline void window(int64_t o, int64_t stride, int64_t pad, int64_t kernel, int64_t size, int64_t& lo,
                   int64_t& hi) {
  const int64_t start = o * stride - pad;
  lo = std::max<int64_t>(start, 0);
  hi = std::min<int64_t>(start + kernel, size);
}

template <typename T>
inline bool replaces(T v, T best) {
  return (v > best) | (v != v);  // greater, or NaN (no short-circuit: stays branch-free)
}

// [lo[j], hi[j]): the windows ow whose column ow*SW - PW + j is a real column (not padding).
struct ColumnRanges {
  std::vector<int64_t> lo, hi;
  explicit ColumnRanges(const PoolGeom& g) : lo(static_cast<size_t>(g.kw)), hi(static_cast<size_t>(g.kw)) {
    for (int64_t j = 0; j < g.kw; ++j) {
      const int64_t a = g.pw - j, b = g.w - 1 + g.pw - j;
      lo[j] = std::min(a <= 0 ? 0 : (a - 1) / g.sw + 1, g.ow);  // ceil(a / sw), no a + sw overflow
      hi[j] = std::clamp<int64_t>(b < 0 ? 0 : b / g.sw + 1, lo[j], g.ow);
    }
  }
};

// Row kernels over the windows [lo, hi) of one output row for one kernel offset; window ow
// reads xrow[ow * stride + shift]. S > 0 makes the stride a compile-time constant (1 and 2
// cover nearly every network; then the loads are contiguous or 2-interleaved and vectorise
// without gathers); S == 0 takes it at run time.
// The winner is recorded as the kernel offset code i*KW + j in 32-bit lanes (the width of a
// float, so the select vectorises); the int64 plane index is formed once per window after.
template <int S, typename T>
void max_row(const T* xrow, T* best, int32_t* code, int64_t lo, int64_t hi, int64_t sw_runtime, int64_t shift,
             int32_t offset_code) {
  const int64_t sw = S > 0 ? S : sw_runtime;
#pragma omp simd
  for (int64_t ow = lo; ow < hi; ++ow) {
    const T v = xrow[ow * sw + shift];
    const bool t = replaces(v, best[ow]);
    best[ow] = t ? v : best[ow];
    code[ow] = t ? offset_code : code[ow];
  }
}

template <int S, typename T>
void sum_row(const T* xrow, T* acc, int64_t lo, int64_t hi, int64_t sw_runtime, int64_t shift) {
  const int64_t sw = S > 0 ? S : sw_runtime;
#pragma omp simd
  for (int64_t ow = lo; ow < hi; ++ow) acc[ow] += xrow[ow * sw + shift];
}

template <int S, typename T>
void spread_row(T* dxrow, const T* share, int64_t lo, int64_t hi, int64_t sw_runtime, int64_t shift) {
  const int64_t sw = S > 0 ? S : sw_runtime;
  // distinct ow write distinct columns: no conflict inside the loop
#pragma omp simd
  for (int64_t ow = lo; ow < hi; ++ow) dxrow[ow * sw + shift] += share[ow];
}

// Calls f(std::integral_constant<int, S>) with S = the stride if it is 1 or 2, else 0.
template <typename F>
void with_stride(int64_t sw, F&& f) {
  if (sw == 1)
    f(std::integral_constant<int, 1>{});
  else if (sw == 2)
    f(std::integral_constant<int, 2>{});
  else
    f(std::integral_constant<int, 0>{});
}

// Per-window divisors of one output row (count_include_pad: KH*KW; else the real elements).
inline void row_divisors(const PoolGeom& g, int64_t rows_real, bool count_include_pad, int64_t* div) {
  for (int64_t ow = 0; ow < g.ow; ++ow) {
    int64_t w0, w1;
    window(ow, g.sw, g.pw, g.kw, g.w, w0, w1);
    div[ow] = count_include_pad ? g.kh * g.kw : rows_real * (w1 - w0);
  }
}

}  // namespace

template <typename T>
void max_pool2d_forward(const T* x, T* y, int64_t* idx, const PoolGeom& g) {
  const int64_t in_plane = g.h * g.w, out_plane = g.oh * g.ow;
  const bool two_by_two = g.kh == 2 && g.kw == 2 && g.sh == 2 && g.sw == 2 && g.ph == 0 && g.pw == 0 &&
                          2 * g.oh <= g.h && 2 * g.ow <= g.w;
  if (two_by_two) {  // per ISA (pool_impl.h)
    parallel_for(g.planes, grain_for(in_plane), [&](int64_t q0, int64_t q1) {
      FASTNN_DISPATCH(max_pool_2x2_planes<T>(x, y, idx, q0, q1, g.h, g.w, g.oh, g.ow));
    });
    return;
  }
  const ColumnRanges cols(g);
  parallel_for(g.planes, grain_for(in_plane), [&](int64_t q0, int64_t q1) {
    std::vector<int32_t> code_row(static_cast<size_t>(g.ow));
    for (int64_t q = q0; q < q1; ++q) {
      const T* xp = x + q * in_plane;
      T* yp = y + q * out_plane;
      int64_t* ip = idx + q * out_plane;
      // General windows: one output row at a time, kernel offset (i, j) outermost, so the
      // inner loop runs over the row's windows (vectorisable, branch-free). For each window
      // the offsets are still visited in row-major order, as the scalar definition does.
      for (int64_t oh = 0; oh < g.oh; ++oh) {
        int64_t h0, h1;
        window(oh, g.sh, g.ph, g.kh, g.h, h0, h1);
        T* best = yp + oh * g.ow;
        int64_t* at = ip + oh * g.ow;
        int32_t* code = code_row.data();
        std::fill(best, best + g.ow, -std::numeric_limits<T>::infinity());
        std::fill(code, code + g.ow, int32_t{-1});  // -1: no element has beaten -inf yet
        for (int64_t r = h0; r < h1; ++r) {
          const T* xrow = xp + r * g.w;
          const int64_t i = r - (oh * g.sh - g.ph);
          for (int64_t j = 0; j < g.kw; ++j)
            with_stride(g.sw, [&](auto s) {
              max_row<decltype(s)::value>(xrow, best, code, cols.lo[j], cols.hi[j], g.sw, j - g.pw,
                                          static_cast<int32_t>(i * g.kw + j));
            });
        }
        for (int64_t ow = 0; ow < g.ow; ++ow) {
          const int64_t c0 = ow * g.sw - g.pw;
          const int64_t k = code[ow];
          // still -1 (all -inf): the window's first real element, as the scan starts there
          at[ow] = k < 0 ? h0 * g.w + std::max<int64_t>(c0, 0)
                         : (oh * g.sh - g.ph + k / g.kw) * g.w + c0 + k % g.kw;
        }
      }
    }
  });
}

template <typename T>
bool max_pool2d_backward(const T* dy, const int64_t* idx, T* dx, int64_t planes, int64_t in_plane,
                         int64_t out_plane, int64_t* bad_index) {
  std::atomic<bool> any_bad{false};
  std::atomic<int64_t> bad{0};
  parallel_for(planes, grain_for(in_plane + out_plane), [&](int64_t q0, int64_t q1) {
    for (int64_t q = q0; q < q1; ++q) {
      T* dxp = dx + q * in_plane;
      const T* dyp = dy + q * out_plane;
      const int64_t* ip = idx + q * out_plane;
      std::fill(dxp, dxp + in_plane, T(0));
      for (int64_t o = 0; o < out_plane; ++o) {
        const int64_t at = ip[o];
        if (at < 0 || at >= in_plane) {  // never write outside the plane; report it
          if (!any_bad.exchange(true)) bad.store(at);
          continue;
        }
        dxp[at] += dyp[o];
      }
    }
  });
  if (any_bad.load() && bad_index) *bad_index = bad.load();
  return !any_bad.load();
}

template <typename T>
void avg_pool2d_forward(const T* x, T* y, const PoolGeom& g, bool count_include_pad) {
  const int64_t in_plane = g.h * g.w, out_plane = g.oh * g.ow;
  const ColumnRanges cols(g);
  parallel_for(g.planes, grain_for(in_plane), [&](int64_t q0, int64_t q1) {
    std::vector<int64_t> div(static_cast<size_t>(g.ow));
    for (int64_t q = q0; q < q1; ++q) {
      const T* xp = x + q * in_plane;
      for (int64_t oh = 0; oh < g.oh; ++oh) {
        int64_t h0, h1;
        window(oh, g.sh, g.ph, g.kh, g.h, h0, h1);
        T* acc = y + q * out_plane + oh * g.ow;
        std::fill(acc, acc + g.ow, T(0));
        // each window sums its real elements in row-major (i, j) order
        for (int64_t r = h0; r < h1; ++r)
          for (int64_t j = 0; j < g.kw; ++j)
            with_stride(g.sw, [&](auto s) {
              sum_row<decltype(s)::value>(xp + r * g.w, acc, cols.lo[j], cols.hi[j], g.sw, j - g.pw);
            });
        row_divisors(g, h1 - h0, count_include_pad, div.data());
        for (int64_t ow = 0; ow < g.ow; ++ow) acc[ow] /= static_cast<T>(div[ow]);
      }
    }
  });
}

template <typename T>
void avg_pool2d_backward(const T* dy, T* dx, const PoolGeom& g, bool count_include_pad) {
  const int64_t in_plane = g.h * g.w, out_plane = g.oh * g.ow;
  const ColumnRanges cols(g);
  parallel_for(g.planes, grain_for(in_plane), [&](int64_t q0, int64_t q1) {
    std::vector<int64_t> div(static_cast<size_t>(g.ow));
    std::vector<T> share(static_cast<size_t>(g.ow));
    for (int64_t q = q0; q < q1; ++q) {
      T* dxp = dx + q * in_plane;
      std::fill(dxp, dxp + in_plane, T(0));  // this thread owns the plane: race-free, fixed order
      for (int64_t oh = 0; oh < g.oh; ++oh) {
        int64_t h0, h1;
        window(oh, g.sh, g.ph, g.kh, g.h, h0, h1);
        row_divisors(g, h1 - h0, count_include_pad, div.data());
        const T* dyrow = dy + q * out_plane + oh * g.ow;
        for (int64_t ow = 0; ow < g.ow; ++ow) share[ow] = dyrow[ow] / static_cast<T>(div[ow]);
        for (int64_t r = h0; r < h1; ++r)
          for (int64_t j = 0; j < g.kw; ++j)
            with_stride(g.sw, [&](auto s) {
              spread_row<decltype(s)::value>(dxp + r * g.w, share.data(), cols.lo[j], cols.hi[j], g.sw, j - g.pw);
            });
      }
    }
  });
}

template <typename T>
void global_avg_pool2d_forward(const T* x, T* y, int64_t planes, int64_t plane) {
  parallel_for(planes, grain_for(plane), [&](int64_t q0, int64_t q1) {
    for (int64_t q = q0; q < q1; ++q) {
      const T* xp = x + q * plane;
      double sum = 0.0;
#pragma omp simd reduction(+ : sum)
      for (int64_t e = 0; e < plane; ++e) sum += static_cast<double>(xp[e]);
      y[q] = static_cast<T>(sum / static_cast<double>(plane));
    }
  });
}

template <typename T>
void global_avg_pool2d_backward(const T* dy, T* dx, int64_t planes, int64_t plane) {
  parallel_for(planes, grain_for(plane), [&](int64_t q0, int64_t q1) {
    for (int64_t q = q0; q < q1; ++q) {
      const T share = dy[q] / static_cast<T>(plane);
      std::fill(dx + q * plane, dx + (q + 1) * plane, share);
    }
  });
}

#define FASTNN_INSTANTIATE(T)                                                                      \
  template void max_pool2d_forward<T>(const T*, T*, int64_t*, const PoolGeom&);                    \
  template bool max_pool2d_backward<T>(const T*, const int64_t*, T*, int64_t, int64_t, int64_t, int64_t*); \
  template void avg_pool2d_forward<T>(const T*, T*, const PoolGeom&, bool);                        \
  template void avg_pool2d_backward<T>(const T*, T*, const PoolGeom&, bool);                       \
  template void global_avg_pool2d_forward<T>(const T*, T*, int64_t, int64_t);                      \
  template void global_avg_pool2d_backward<T>(const T*, T*, int64_t, int64_t);
FASTNN_INSTANTIATE(float)
FASTNN_INSTANTIATE(double)
#undef FASTNN_INSTANTIATE

}  // namespace fastnn
