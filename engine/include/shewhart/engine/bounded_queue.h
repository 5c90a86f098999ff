#pragma once
// A bounded multi-producer multi-consumer queue of trivially copyable items (Vyukov's
// sequence-numbered ring). Capacity is fixed at construction; TryPush says "full" instead of
// allocating. Push blocks (back-pressure) until there is room or the queue is closed;
// PopBatch blocks until items arrive or the queue is closed and drained.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <thread>
#include <type_traits>

#include "shewhart/base/status.h"

namespace shewhart::engine {

template <typename T>
class BoundedQueue {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  // `capacity` is rounded up to a power of two, at least 2.
  explicit BoundedQueue(std::size_t capacity) {
    std::size_t c = 2;
    while (c < capacity) c <<= 1;
    mask_ = c - 1;
    cells_ = std::make_unique<Cell[]>(c);
    for (std::size_t i = 0; i < c; ++i) cells_[i].seq.store(i, std::memory_order_relaxed);
  }

  std::size_t capacity() const { return mask_ + 1; }

  // Returns false when full. Any thread.
  bool TryPush(const T& item) {
    std::size_t pos = tail_.load(std::memory_order_relaxed);
    for (;;) {
      Cell& cell = cells_[pos & mask_];
      std::size_t seq = cell.seq.load(std::memory_order_acquire);
      auto diff = static_cast<std::intptr_t>(seq) - static_cast<std::intptr_t>(pos);
      if (diff == 0) {
        if (tail_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
          cell.item = item;
          cell.seq.store(pos + 1, std::memory_order_release);
          signal_.fetch_add(1, std::memory_order_release);
          if (sleepers_.load(std::memory_order_acquire) > 0) signal_.notify_all();
          return true;
        }
      } else if (diff < 0) {
        return false;
      } else {
        pos = tail_.load(std::memory_order_relaxed);
      }
    }
  }

  // Blocks while full. Returns false (dropping nothing: the item was not taken) if the queue
  // is closed.
  bool Push(const T& item) {
    if (closed_.load(std::memory_order_acquire)) return false;
    int spins = 0;
    while (!TryPush(item)) {
      if (closed_.load(std::memory_order_acquire)) return false;
      if (++spins < 64) {
        std::this_thread::yield();
      } else {
        std::this_thread::sleep_for(std::chrono::microseconds(20));
      }
    }
    return true;
  }

  // Returns false when empty. Any thread.
  bool TryPop(T& out) {
    std::size_t pos = head_.load(std::memory_order_relaxed);
    for (;;) {
      Cell& cell = cells_[pos & mask_];
      std::size_t seq = cell.seq.load(std::memory_order_acquire);
      auto diff = static_cast<std::intptr_t>(seq) - static_cast<std::intptr_t>(pos + 1);
      if (diff == 0) {
        if (head_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
          out = cell.item;
          cell.seq.store(pos + mask_ + 1, std::memory_order_release);
          return true;
        }
      } else if (diff < 0) {
        return false;
      } else {
        pos = head_.load(std::memory_order_relaxed);
      }
    }
  }

  // Pops up to `max` items into `out`, waiting while the queue is empty and open.
  // Returns 0 only when the queue is closed and empty.
  std::size_t PopBatch(T* out, std::size_t max) {
    for (;;) {
      std::size_t n = 0;
      while (n < max && TryPop(out[n])) ++n;
      if (n > 0) return n;
      if (closed_.load(std::memory_order_acquire)) {
        // Drain anything pushed before the close became visible.
        while (n < max && TryPop(out[n])) ++n;
        return n;
      }
      std::uint32_t seen = signal_.load(std::memory_order_acquire);
      bool spun = false;
      for (int i = 0; i < 200 && signal_.load(std::memory_order_acquire) == seen; ++i) {
        spun = true;
      }
      if (spun && signal_.load(std::memory_order_acquire) == seen && !closed_.load(std::memory_order_acquire)) {
        sleepers_.fetch_add(1, std::memory_order_acq_rel);
        if (head_.load(std::memory_order_acquire) == tail_.load(std::memory_order_acquire) &&
            !closed_.load(std::memory_order_acquire)) {
          signal_.wait(seen, std::memory_order_acquire);
        }
        sleepers_.fetch_sub(1, std::memory_order_acq_rel);
      }
    }
  }

  // Like PopBatch, but returns 0 after `timeout` without items (or at once when closed and
  // empty). Polls with short sleeps: for consumers that also have periodic work.
  std::size_t PopBatchFor(T* out, std::size_t max, std::chrono::microseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    int spins = 0;
    for (;;) {
      std::size_t n = 0;
      while (n < max && TryPop(out[n])) ++n;
      if (n > 0 || closed_.load(std::memory_order_acquire)) {
        while (n < max && TryPop(out[n])) ++n;
        return n;
      }
      if (std::chrono::steady_clock::now() >= deadline) return 0;
      if (++spins < 64) {
        std::this_thread::yield();
      } else {
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
    }
  }

  // Wakes blocked consumers and producers; items already in the queue can still be popped.
  void Close() {
    closed_.store(true, std::memory_order_release);
    signal_.fetch_add(1, std::memory_order_release);
    signal_.notify_all();
  }
  bool closed() const { return closed_.load(std::memory_order_acquire); }

  // Approximate number of items (for metrics).
  std::size_t size() const {
    std::size_t t = tail_.load(std::memory_order_relaxed), h = head_.load(std::memory_order_relaxed);
    return t >= h ? t - h : 0;
  }

 private:
  struct Cell {
    std::atomic<std::size_t> seq;
    T item;
  };
  std::unique_ptr<Cell[]> cells_;
  std::size_t mask_;
  alignas(64) std::atomic<std::size_t> head_{0};
  alignas(64) std::atomic<std::size_t> tail_{0};
  alignas(64) std::atomic<std::uint32_t> signal_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<bool> closed_{false};
};

}  // namespace shewhart::engine
