// Implementation of fastnn::parallel_for (included by cpu.h).
#pragma once
#include <algorithm>
#include <omp.h>

namespace fastnn {

template <typename F>
void parallel_for(int64_t n, int64_t grain, F&& f) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  const int64_t max_chunks = (n + grain - 1) / grain;
  const int threads = static_cast<int>(std::min<int64_t>(get_num_threads(), max_chunks));
  if (threads <= 1 || omp_in_parallel()) {
    f(int64_t{0}, n);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    // Static, contiguous split: the same work goes to the same thread every call.
    const int t = omp_get_thread_num();
    const int nt = omp_get_num_threads();
    const int64_t per = (n + nt - 1) / nt;
    const int64_t begin = std::min<int64_t>(n, per * t);
    const int64_t end = std::min<int64_t>(n, begin + per);
    if (begin < end) f(begin, end);
  }
}

}  // namespace fastnn
