#include "cpu.h"

#include <atomic>
#include <cstdlib>
#include <stdexcept>
#include <thread>

#include <omp.h>

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

int get_num_threads() { return g_threads.load(std::memory_order_relaxed); }

void set_num_threads(int n) {
  if (n < 1) throw std::invalid_argument("num_threads must be >= 1, got " + std::to_string(n));
  g_threads.store(n, std::memory_order_relaxed);
}

}  // namespace fastnn
