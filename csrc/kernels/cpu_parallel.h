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
  mark_threads_used();
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

// Items [0, n) handed out one at a time from a shared counter to up to get_num_threads() threads;
// each thread first builds its own state = make_state() (scratch buffers) and then runs
// body(item, state) for every item it takes. For loops whose items write disjoint outputs, so
// results do not depend on which thread ran which item, and whose items are few and large: a
// static split leaves one thread waiting whenever the other is slowed (another process on its
// core, an uneven count such as 19 chunks on 2 threads).
template <typename MakeState, typename Body>
void parallel_items(int64_t n, MakeState&& make_state, Body&& body) {
  if (n <= 0) return;
  const int threads = static_cast<int>(std::min<int64_t>(get_num_threads(), n));
  if (threads <= 1 || omp_in_parallel()) {
    auto state = make_state();
    for (int64_t i = 0; i < n; ++i) body(i, state);
    return;
  }
  mark_threads_used();
  int64_t next = 0;
#pragma omp parallel num_threads(threads)
  {
    auto state = make_state();
    for (;;) {
      int64_t item;
#pragma omp atomic capture
      item = next++;
      if (item >= n) break;
      body(item, state);
    }
  }
}

}  // namespace fastnn
