#include "cpu.h"

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <thread>

#include <omp.h>
#if defined(__linux__)
#include <unistd.h>
#endif
#include <pthread.h>

namespace fastnn {
namespace {

Isa detect() {
#if defined(FASTNN_X86) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  // __builtin_cpu_supports also checks that the OS saves the wide registers (XCR0).
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("fma"))
    return Isa::avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::avx2;
#endif
  return Isa::generic;
}

Isa initial_isa() {
  const Isa best = detect();
  if (const char* env = std::getenv("FASTNN_ISA")) {
    if (*env) {
      try {
        const Isa wanted = parse_isa(env);
        if (static_cast<int>(wanted) <= static_cast<int>(best)) return wanted;
      } catch (const std::invalid_argument&) {
        // A bad FASTNN_ISA must not make `import fastnn` fail; show_config() reports it.
      }
    }
  }
  return best;
}

std::atomic<int> g_isa{static_cast<int>(initial_isa())};

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::avx512: return "avx512";
    case Isa::avx2: return "avx2";
    default: return "generic";
  }
}

Isa detected_isa() {
  static const Isa best = detect();
  return best;
}

Isa current_isa() { return static_cast<Isa>(g_isa.load(std::memory_order_relaxed)); }

Isa parse_isa(const std::string& name) {
  if (name == "generic") return Isa::generic;
  if (name == "avx2") return Isa::avx2;
  if (name == "avx512") return Isa::avx512;
  throw std::invalid_argument("unknown ISA '" + name + "'; expected one of: generic, avx2, avx512");
}

void set_isa(Isa isa) {
  if (static_cast<int>(isa) > static_cast<int>(detected_isa()))
    throw std::invalid_argument(std::string("ISA '") + isa_name(isa) +
                                "' is not supported by this CPU (best: " + isa_name(detected_isa()) + ")");
  g_isa.store(static_cast<int>(isa), std::memory_order_relaxed);
}

int max_hardware_threads() {
  const unsigned hc = std::thread::hardware_concurrency();
  const int procs = omp_get_num_procs();
  return std::max(1, std::max(static_cast<int>(hc), procs));
}

namespace {
// One value of cpu0's L2 from /sys (Linux): "512K" for size, "8" for ways_of_associativity.
int64_t read_l2_sysfs(const char* file) {
  std::ifstream f(std::string("/sys/devices/system/cpu/cpu0/cache/index2/") + file);
  int64_t n = 0;
  char unit = 0;
  if (!(f >> n) || n <= 0) return 0;
  if (f >> unit) n *= unit == 'K' ? 1024 : unit == 'M' ? 1024 * 1024 : 1;
  return n;
}

int64_t read_l2(int sysconf_name, const char* file) {
#if defined(__linux__)
  const long v = sysconf_name >= 0 ? sysconf(sysconf_name) : -1;
  if (v > 0) return v;
  return read_l2_sysfs(file);
#else
  (void)sysconf_name;
  (void)file;
  return 0;
#endif
}
}  // namespace

#if defined(__linux__) && defined(_SC_LEVEL2_CACHE_SIZE) && defined(_SC_LEVEL2_CACHE_ASSOC)
#define FASTNN_SC_L2(x) _SC_LEVEL2_CACHE_##x
#else
#define FASTNN_SC_L2(x) -1
#endif

int64_t l2_cache_bytes() {
  static const int64_t bytes = read_l2(FASTNN_SC_L2(SIZE), "size");
  return bytes;
}

bool cpu_is_intel() {
#if defined(FASTNN_X86) && (defined(__GNUC__) || defined(__clang__))
  static const bool intel = [] {
    __builtin_cpu_init();
    return __builtin_cpu_is("intel") != 0;
  }();
  return intel;
#else
  return false;
#endif
}

int l2_cache_ways() {
  static const int ways = static_cast<int>(read_l2(FASTNN_SC_L2(ASSOC), "ways_of_associativity"));
  return ways;
}

namespace {
int initial_threads() {
  if (const char* env = std::getenv("FASTNN_NUM_THREADS")) {
    char* end = nullptr;
    const long v = std::strtol(env, &end, 10);
    if (end != env && *end == '\0' && v >= 1 && v <= 4096) return static_cast<int>(v);
  }
  return omp_get_num_procs();
}
std::atomic<int> g_threads{initial_threads()};
}  // namespace

namespace {
std::atomic<bool> g_threads_used{false};
std::atomic<bool> g_forked_after_threads{false};

void child_after_fork() {
  // Only async-signal-safe work here: two atomic stores.
  if (g_threads_used.load(std::memory_order_relaxed)) {
    g_forked_after_threads.store(true, std::memory_order_relaxed);
    g_threads.store(1, std::memory_order_relaxed);
  }
}

const int g_atfork = pthread_atfork(nullptr, nullptr, child_after_fork);
}  // namespace

void mark_threads_used() {
  if (!g_threads_used.load(std::memory_order_relaxed)) g_threads_used.store(true, std::memory_order_relaxed);
}

bool forked_after_threads() {
  (void)g_atfork;
  return g_forked_after_threads.load(std::memory_order_relaxed);
}

int get_num_threads() { return g_threads.load(std::memory_order_relaxed); }

void set_num_threads(int n) {
  if (n < 1) throw std::invalid_argument("num_threads must be >= 1, got " + std::to_string(n));
  if (n > 1 && forked_after_threads())
    throw std::runtime_error("num_threads must be 1 in a process forked after fastnn's kernels ran threads, got " +
                             std::to_string(n) + " (GNU OpenMP cannot start threads there; use the 'spawn' or "
                             "'forkserver' start method of multiprocessing for threaded workers)");
  g_threads.store(n, std::memory_order_relaxed);
}

}  // namespace fastnn
