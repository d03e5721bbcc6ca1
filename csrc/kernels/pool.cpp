// Pooling kernels. Threads split whole (n, c) planes, so no two threads write the same
// element and every sum runs in a fixed order: results do not depend on the thread count.
#include "pool.h"

#include <algorithm>
#include <atomic>
#include <limits>

#include "cpu.h"

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
  return v > best || v != v;  // greater, or NaN
}

// The common 2x2, stride 2, no padding case: every window is full and in bounds.
template <typename T>
void max_pool_2x2(const T* xp, T* yp, int64_t* ip, const PoolGeom& g) {
  for (int64_t oh = 0; oh < g.oh; ++oh) {
    const int64_t r = 2 * oh;
    const T* row0 = xp + r * g.w;
    const T* row1 = row0 + g.w;
    for (int64_t ow = 0; ow < g.ow; ++ow) {
      const int64_t c = 2 * ow;
      T best = row0[c];
      int64_t at = r * g.w + c;
      // The first element always replaces the initial -inf unless it is -inf itself, and then
      // the index is the same: starting from it is equivalent.
      if (replaces(row0[c + 1], best)) best = row0[c + 1], at = r * g.w + c + 1;
      if (replaces(row1[c], best)) best = row1[c], at = (r + 1) * g.w + c;
      if (replaces(row1[c + 1], best)) best = row1[c + 1], at = (r + 1) * g.w + c + 1;
      yp[oh * g.ow + ow] = best;
      ip[oh * g.ow + ow] = at;
    }
  }
}

}  // namespace

template <typename T>
void max_pool2d_forward(const T* x, T* y, int64_t* idx, const PoolGeom& g) {
  const int64_t in_plane = g.h * g.w, out_plane = g.oh * g.ow;
  const bool two_by_two = g.kh == 2 && g.kw == 2 && g.sh == 2 && g.sw == 2 && g.ph == 0 && g.pw == 0;
  parallel_for(g.planes, grain_for(in_plane), [&](int64_t q0, int64_t q1) {
    for (int64_t q = q0; q < q1; ++q) {
      const T* xp = x + q * in_plane;
      T* yp = y + q * out_plane;
      int64_t* ip = idx + q * out_plane;
      if (two_by_two) {
        max_pool_2x2(xp, yp, ip, g);
        continue;
      }
      for (int64_t oh = 0; oh < g.oh; ++oh) {
        int64_t h0, h1;
        window(oh, g.sh, g.ph, g.kh, g.h, h0, h1);
        for (int64_t ow = 0; ow < g.ow; ++ow) {
          int64_t w0, w1;
          window(ow, g.sw, g.pw, g.kw, g.w, w0, w1);
          T best = -std::numeric_limits<T>::infinity();
          int64_t at = h0 * g.w + w0;
          for (int64_t r = h0; r < h1; ++r)
            for (int64_t c = w0; c < w1; ++c) {
              const T v = xp[r * g.w + c];
              if (replaces(v, best)) best = v, at = r * g.w + c;
            }
          yp[oh * g.ow + ow] = best;
          ip[oh * g.ow + ow] = at;
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
  parallel_for(g.planes, grain_for(in_plane), [&](int64_t q0, int64_t q1) {
    for (int64_t q = q0; q < q1; ++q) {
      const T* xp = x + q * in_plane;
      T* yp = y + q * out_plane;
      for (int64_t oh = 0; oh < g.oh; ++oh) {
        int64_t h0, h1;
        window(oh, g.sh, g.ph, g.kh, g.h, h0, h1);
        for (int64_t ow = 0; ow < g.ow; ++ow) {
          int64_t w0, w1;
          window(ow, g.sw, g.pw, g.kw, g.w, w0, w1);
          T sum = T(0);
          for (int64_t r = h0; r < h1; ++r)
            for (int64_t c = w0; c < w1; ++c) sum += xp[r * g.w + c];
          const int64_t divisor = count_include_pad ? g.kh * g.kw : (h1 - h0) * (w1 - w0);
          yp[oh * g.ow + ow] = sum / static_cast<T>(divisor);
        }
      }
    }
  });
}

template <typename T>
void avg_pool2d_backward(const T* dy, T* dx, const PoolGeom& g, bool count_include_pad) {
  const int64_t in_plane = g.h * g.w, out_plane = g.oh * g.ow;
  parallel_for(g.planes, grain_for(in_plane), [&](int64_t q0, int64_t q1) {
    for (int64_t q = q0; q < q1; ++q) {
      T* dxp = dx + q * in_plane;
      const T* dyp = dy + q * out_plane;
      std::fill(dxp, dxp + in_plane, T(0));
      for (int64_t oh = 0; oh < g.oh; ++oh) {
        int64_t h0, h1;
        window(oh, g.sh, g.ph, g.kh, g.h, h0, h1);
        for (int64_t ow = 0; ow < g.ow; ++ow) {
          int64_t w0, w1;
          window(ow, g.sw, g.pw, g.kw, g.w, w0, w1);
          const int64_t divisor = count_include_pad ? g.kh * g.kw : (h1 - h0) * (w1 - w0);
          const T share = dyp[oh * g.ow + ow] / static_cast<T>(divisor);
          for (int64_t r = h0; r < h1; ++r)
            for (int64_t c = w0; c < w1; ++c) dxp[r * g.w + c] += share;
        }
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
