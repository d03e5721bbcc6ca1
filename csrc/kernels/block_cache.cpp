// The block cache of block_cache.h: size classes -> stacks of free blocks, under one mutex.
#include "block_cache.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace fastnn {
namespace block_cache {

size_t round_up(size_t a, size_t b) { return (a + b - 1) / b * b; }

namespace {

constexpr size_t kSmallClass = size_t{64} << 10;  // size classes below kHugeFrom
constexpr size_t kHugeFrom = size_t{4} << 20;     // from here: 2 MiB classes and alignment
constexpr size_t kHugePage = size_t{2} << 20;
constexpr size_t kDefaultLimit = size_t{1} << 30;

size_t size_class(size_t bytes) {
  return bytes >= kHugeFrom ? round_up(bytes, kHugePage) : round_up(bytes, kSmallClass);
}

size_t limit_from_env() {
  const char* env = std::getenv("FASTNN_CACHE_LIMIT_MB");
  if (!env || !*env) return kDefaultLimit;
  char* end = nullptr;
  const unsigned long long mb = std::strtoull(env, &end, 10);
  if (end == env || *end != '\0') return kDefaultLimit;  // not a number: keep the default
  return static_cast<size_t>(mb) << 20;
}

struct Cache {
  std::mutex mu;
  std::map<size_t, std::vector<void*>> free_blocks;  // size class -> blocks (used as a stack)
  size_t cached = 0;
  size_t limit = limit_from_env();
  uint64_t hits = 0, misses = 0;
};

Cache& cache() {
  // Never destroyed: arrays may be freed during interpreter shutdown, after static destructors.
  static Cache* c = new Cache;
  return *c;
}

void* allocate_new(size_t capacity) {
  const bool huge = capacity >= kHugeFrom;
  void* p = std::aligned_alloc(huge ? kHugePage : 64, capacity);
  if (!p) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (huge) madvise(p, capacity, MADV_HUGEPAGE);  // a hint; failure is harmless
#endif
  return p;
}

}  // namespace

void* acquire(size_t bytes, size_t* capacity) {
  const size_t cls = size_class(std::max(bytes, kMinBytes));
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mu);
    auto it = c.free_blocks.find(cls);
    if (it != c.free_blocks.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      c.cached -= cls;
      ++c.hits;
      *capacity = cls;
      return p;
    }
    ++c.misses;
  }
  void* p = allocate_new(cls);
  *capacity = cls;
  return p;
}

void release(void* block, size_t capacity) {
  if (!block) return;
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mu);
    if (c.cached + capacity <= c.limit) {
      c.free_blocks[capacity].push_back(block);
      c.cached += capacity;
      return;
    }
  }
  std::free(block);
}

void clear() {
  std::map<size_t, std::vector<void*>> blocks;
  {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mu);
    blocks.swap(c.free_blocks);
    c.cached = 0;
  }
  for (auto& [cls, list] : blocks)
    for (void* p : list) std::free(p);
}

void set_limit(size_t bytes) {
  {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mu);
    c.limit = bytes;
    if (c.cached <= bytes) return;
  }
  clear();  // over the new limit: start again empty
}

BlockCacheStats stats() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return {c.cached, c.limit, c.hits, c.misses};
}

}  // namespace block_cache

CachedBuffer::CachedBuffer(size_t bytes) {
  if (bytes >= block_cache::kMinBytes) {
    ptr_ = block_cache::acquire(bytes, &capacity_);
  } else {
    // aligned_alloc wants a multiple of the alignment (and a non-zero size)
    ptr_ = std::aligned_alloc(64, block_cache::round_up(std::max<size_t>(bytes, 1), 64));
    if (!ptr_) throw std::bad_alloc();
  }
}

CachedBuffer::CachedBuffer(CachedBuffer&& other) noexcept : ptr_(other.ptr_), capacity_(other.capacity_) {
  other.ptr_ = nullptr;
  other.capacity_ = 0;
}

CachedBuffer& CachedBuffer::operator=(CachedBuffer&& other) noexcept {
  if (this != &other) {
    reset();
    ptr_ = other.ptr_;
    capacity_ = other.capacity_;
    other.ptr_ = nullptr;
    other.capacity_ = 0;
  }
  return *this;
}

CachedBuffer::~CachedBuffer() { reset(); }

void CachedBuffer::reset() {
  if (capacity_)
    block_cache::release(ptr_, capacity_);
  else
    std::free(ptr_);
  ptr_ = nullptr;
  capacity_ = 0;
}

}  // namespace fastnn
