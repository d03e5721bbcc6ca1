// A cache of large memory blocks for the arrays fastnn.ops returns and the kernels' scratch.
//
// Why: a training step allocates the same few dozen multi-MiB arrays every step (activations,
// their gradients, pooling indices, im2col columns). Freed to the allocator, such blocks go back
// to the OS (glibc maps anything large with mmap and trims the heap top), and every fresh page
// must then be faulted in and zeroed by the kernel on first touch. Measured on the 2-vCPU VM
// this project runs on: a fresh 12.8 MB array costs 10-20 ms of page faults to fill, 20-40x the
// 0.5 ms the fill itself takes, about 1000 faults per training step of a small CNN. Keeping
// freed blocks and handing them out again makes every step after the first fault-free.
//
// Policy: blocks of at least kMinBytes only (smaller ones stay with malloc, which reuses them
// well); a request takes a cached block of the same size class (sizes rounded up to 64 KiB,
// and to 2 MiB above 4 MiB); freed blocks are kept while the cache holds at most limit()
// bytes (default 1 GiB, or FASTNN_CACHE_LIMIT_MB), otherwise released at once. Blocks of 4 MiB
// and more are 2 MiB aligned with a transparent-huge-page hint: fewer faults and TLB misses.
// Thread-safe. No Python here: bindings.cpp wraps blocks as NumPy arrays.
#pragma once
#include <cstddef>
#include <cstdint>

namespace fastnn {

struct BlockCacheStats {
  size_t cached_bytes;  // held for reuse now
  size_t limit_bytes;   // the most it keeps
  uint64_t hits;        // requests served from the cache
  uint64_t misses;      // requests that allocated a new block
};

namespace block_cache {

constexpr size_t kMinBytes = size_t{256} << 10;

// A block of at least `bytes` (>= kMinBytes), 64-byte aligned; *capacity receives its real
// size, which must be passed back to release(). Throws std::bad_alloc when memory runs out.
void* acquire(size_t bytes, size_t* capacity);
// Gives a block back: kept for reuse, or freed when the cache is full.
void release(void* block, size_t capacity);
// Frees every cached block (memory in use stays in use).
void clear();
void set_limit(size_t bytes);
BlockCacheStats stats();
// a rounded up to a multiple of b
size_t round_up(size_t a, size_t b);

}  // namespace block_cache

// An owned block (move-only); a null block for sizes below kMinBytes is allocated with
// std::aligned_alloc instead, so callers need not care which they got.
class CachedBuffer {
 public:
  CachedBuffer() = default;
  explicit CachedBuffer(size_t bytes);
  CachedBuffer(CachedBuffer&& other) noexcept;
  CachedBuffer& operator=(CachedBuffer&& other) noexcept;
  CachedBuffer(const CachedBuffer&) = delete;
  CachedBuffer& operator=(const CachedBuffer&) = delete;
  ~CachedBuffer();

  template <typename T>
  T* as() const { return static_cast<T*>(ptr_); }
  void* data() const { return ptr_; }

 private:
  void reset();
  void* ptr_ = nullptr;
  size_t capacity_ = 0;  // 0: a small block from aligned_alloc
};

}  // namespace fastnn
