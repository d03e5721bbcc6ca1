// CPU feature detection, runtime ISA selection and thread control.
// Every multi-ISA kernel asks current_isa() once per call and jumps to the matching
// translation unit (<kernel>_generic.cpp / _avx2.cpp / _avx512.cpp).
#pragma once
#include <cstdint>
#include <string>

namespace fastnn {

enum class Isa : int { generic = 0, avx2 = 1, avx512 = 2 };

const char* isa_name(Isa isa);
// Best ISA this CPU and OS support (AVX-512 needs F+DQ+BW+VL; AVX2 needs FMA too).
Isa detected_isa();
// The ISA kernels use now: the detected one unless lowered by set_isa() or FASTNN_ISA.
Isa current_isa();
// Lower (or restore) the ISA in use; asking for more than the CPU has throws std::invalid_argument.
void set_isa(Isa isa);
// Parses "generic" / "avx2" / "avx512"; throws std::invalid_argument naming the value.
Isa parse_isa(const std::string& name);

int get_num_threads();
// n >= 1. In a process forked after fastnn's kernels ran threads, only n == 1 is allowed
// (std::runtime_error otherwise): see mark_threads_used().
void set_num_threads(int n);

// GNU OpenMP's thread pool does not survive fork(): in a child forked after a parallel region
// ran, the next one waits forever for the parent's threads. So the kernels call
// mark_threads_used() before every parallel region, and a fork after that (a pthread_atfork
// child handler) puts the child's kernels on one thread, as PyTorch does (multiprocessing's
// default start method on Linux forks; its workers then run fastnn single-threaded).
void mark_threads_used();
bool forked_after_threads();  // this process is such a child
int max_hardware_threads();

// The level-2 cache of one core (what the GEMM's B block must fit in), read once from the OS
// (sysconf, else /sys/devices/system/cpu/cpu0/cache/index2); 0 when unknown.
int64_t l2_cache_bytes();
int l2_cache_ways();  // associativity

// Whether the CPU is an Intel one (cpuid's vendor), for the few blocking choices that were
// measured to go opposite ways on Intel and AMD cores; false off x86.
bool cpu_is_intel();

// Runs f(begin, end) over [0, n) split into contiguous chunks of at least `grain` items,
// one chunk per thread. Small problems run inline: a parallel region costs a few microseconds.
template <typename F>
void parallel_for(int64_t n, int64_t grain, F&& f);

}  // namespace fastnn

#include "cpu_parallel.h"
