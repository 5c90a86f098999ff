#pragma once
// A bounded multi-producer multi-consumer queue of trivially copyable items (Vyukov's
// sequence-numbered ring). Capacity is fixed at construction; TryPush says "full" instead of
// allocating. Push blocks (back-pressure) until there is room or the queue is closed;
// PopBatch blocks until items arrive or the queue is closed and drained; PopBatchFor also
// returns after a timeout. PushQuiet and TryPushQuiet leave the wake-up of a sleeping consumer
// to a later Wake(), so that a burst of items costs one wake-up.
//
// A consumer that finds the queue empty spins briefly, then sleeps on a futex; a producer makes
// the wake-up system call only when a consumer sleeps (an eventcount: the producer publishes the
// item, then looks at the sleeper count; the consumer announces itself, then looks at the queue;
// a full fence on each side means one of them sees the other). Linux only (futex).
//
// A consumer that waits elsewhere (a source thread in poll() on its socket, which also consumes
// this queue) takes part through an eventfd instead of the futex: SetWakeFd, then
// BeginExternalWait / EndExternalWait around its poll(); a producer's Wake writes to the eventfd
// only while such a consumer waits.

#include <linux/futex.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <memory>
#include <thread>
#include <type_traits>

#include "shewhart/base/status.h"

namespace shewhart::engine {

namespace queue_detail {
static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t) &&
              std::atomic<std::uint32_t>::is_always_lock_free);
// Sleeps while `word` holds `expected`, at most `timeout` (null: no limit). Returns at once when
// it does not; may return spuriously.
inline void FutexWait(std::atomic<std::uint32_t>& word, std::uint32_t expected, const timespec* timeout) {
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAIT_PRIVATE, expected, timeout, nullptr, 0);
}
inline void FutexWakeAll(std::atomic<std::uint32_t>& word) {
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
}
}  // namespace queue_detail

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
    if (!TryPushQuiet(item)) return false;
    Wake();
    return true;
  }

  // TryPush without waking a sleeping consumer (see PushQuiet).
  bool TryPushQuiet(const T& item) {
    std::size_t pos = tail_.load(std::memory_order_relaxed);
    for (;;) {
      Cell& cell = cells_[pos & mask_];
      std::size_t seq = cell.seq.load(std::memory_order_acquire);
      auto diff = static_cast<std::intptr_t>(seq) - static_cast<std::intptr_t>(pos);
      if (diff == 0) {
        if (tail_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
          cell.item = item;
          cell.seq.store(pos + 1, std::memory_order_release);
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
    if (!PushQuiet(item)) return false;
    Wake();
    return true;
  }

  // Like Push, but leaves a sleeping consumer asleep: for a producer that pushes bursts and
  // calls Wake() after each (or every so many items). It wakes the consumer itself before it
  // waits for room, so a full queue never waits for a consumer that sleeps.
  bool PushQuiet(const T& item) {
    if (closed_.load(std::memory_order_acquire)) return false;
    int spins = 0;
    while (!TryPushQuiet(item)) {
      if (closed_.load(std::memory_order_acquire)) return false;
      Wake();
      if (++spins < 64) {
        std::this_thread::yield();
      } else {
        std::this_thread::sleep_for(std::chrono::microseconds(20));
      }
    }
    return true;
  }

  // Wakes the consumers if one sleeps (or is about to); otherwise a fence and a load. Any thread.
  void Wake() {
    std::atomic_thread_fence(std::memory_order_seq_cst);  // the items before the sleeper count
    if (sleepers_.load(std::memory_order_relaxed) == 0) return;
    Nudge();
  }

  // Wakes every consumer, waiting or not (a sleeping one returns from its wait without an item).
  void Nudge() {
    signal_.fetch_add(1, std::memory_order_release);
    queue_detail::FutexWakeAll(signal_);
    const int fd = wake_fd_.load(std::memory_order_acquire);
    if (fd >= 0) (void)eventfd_write(fd, 1);
  }

  // The eventfd (non-blocking, owned by the caller; -1: none) that Wake writes to while a
  // consumer waits on it (BeginExternalWait). Any thread; the descriptor must stay open as long
  // as the queue may use it.
  void SetWakeFd(int fd) { wake_fd_.store(fd, std::memory_order_release); }

  // A consumer about to wait on the eventfd: true when it may (the queue is empty and open), and
  // then it must call EndExternalWait once it has waited; false when items (or the close) are
  // there already.
  bool BeginExternalWait() {
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    std::atomic_thread_fence(std::memory_order_seq_cst);  // the sleeper count before the look at the queue
    if (Empty() && !closed_.load(std::memory_order_seq_cst)) return true;
    sleepers_.fetch_sub(1, std::memory_order_relaxed);
    return false;
  }
  void EndExternalWait() { sleepers_.fetch_sub(1, std::memory_order_relaxed); }

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
      std::size_t n = PopAvailable(out, max);
      if (n > 0) return n;
      if (closed_.load(std::memory_order_acquire)) return PopAvailable(out, max);  // pushed before the close
      Wait(nullptr);
    }
  }

  // Like PopBatch, but returns 0 after `timeout` without items (or at once when closed and
  // empty): for consumers that also have periodic work.
  std::size_t PopBatchFor(T* out, std::size_t max, std::chrono::microseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      std::size_t n = PopAvailable(out, max);
      if (n > 0) return n;
      if (closed_.load(std::memory_order_acquire)) return PopAvailable(out, max);
      const auto left = deadline - std::chrono::steady_clock::now();
      if (left <= std::chrono::nanoseconds::zero()) return 0;
      const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
      const timespec ts{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
      Wait(&ts);
    }
  }

  // For a queue with one consumer thread: calls `fn(const T&)` on up to `max` items where they
  // lie in the ring (no copy), in order, waiting like PopBatchFor; an item's cell is handed back
  // to producers once `fn` returns. Returns how many it consumed: 0 after `timeout` without
  // items, or when the queue is closed and drained. It must not run concurrently with another
  // ConsumeFor, TryPop or PopBatch of the same queue.
  template <typename Fn>
  std::size_t ConsumeFor(Fn&& fn, std::size_t max, std::chrono::microseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      std::size_t n = ConsumeAvailable(fn, max);
      if (n > 0) return n;
      if (closed_.load(std::memory_order_acquire)) return ConsumeAvailable(fn, max);
      const auto left = deadline - std::chrono::steady_clock::now();
      if (left <= std::chrono::nanoseconds::zero()) return 0;
      const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
      const timespec ts{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
      Wait(&ts);
    }
  }

  // ConsumeFor without waiting: what is there now, up to `max` items (same single-consumer rule).
  template <typename Fn>
  std::size_t ConsumeNow(Fn&& fn, std::size_t max) {
    return ConsumeAvailable(fn, max);
  }

  // Wakes blocked consumers and producers; items already in the queue can still be popped.
  void Close() {
    closed_.store(true, std::memory_order_seq_cst);
    Nudge();
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
  std::size_t PopAvailable(T* out, std::size_t max) {
    std::size_t n = 0;
    while (n < max && TryPop(out[n])) ++n;
    return n;
  }

  // The single consumer's in-place pop (ConsumeFor): no compare-and-swap on head_, which no
  // other thread moves.
  template <typename Fn>
  std::size_t ConsumeAvailable(Fn& fn, std::size_t max) {
    std::size_t pos = head_.load(std::memory_order_relaxed);
    std::size_t n = 0;
    for (; n < max; ++n, ++pos) {
      Cell& cell = cells_[pos & mask_];
      if (cell.seq.load(std::memory_order_acquire) != pos + 1) break;
      fn(static_cast<const T&>(cell.item));
      cell.seq.store(pos + mask_ + 1, std::memory_order_release);  // the cell is the producers' again
      head_.store(pos + 1, std::memory_order_relaxed);
    }
    return n;
  }

  // A consumer found the queue empty: spins a little, yields the core a few times (on a
  // machine with more busy threads than cores, a producer may be waiting for it), then sleeps
  // until a producer wakes it, the queue is closed, or `timeout` (null: none) passes. May
  // return without an item.
  void Wait(const timespec* timeout) {
    for (int i = 0; i < kSpins + kYields; ++i) {
      if (!Empty() || closed_.load(std::memory_order_relaxed)) return;
      if (i >= kSpins) std::this_thread::yield();
    }
    const std::uint32_t seen = signal_.load(std::memory_order_acquire);
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    std::atomic_thread_fence(std::memory_order_seq_cst);  // the sleeper count before the look at the queue
    if (Empty() && !closed_.load(std::memory_order_seq_cst)) queue_detail::FutexWait(signal_, seen, timeout);
    sleepers_.fetch_sub(1, std::memory_order_relaxed);
  }

  // True when the next cell to pop holds no published item.
  bool Empty() const {
    const std::size_t pos = head_.load(std::memory_order_relaxed);
    return cells_[pos & mask_].seq.load(std::memory_order_acquire) != pos + 1;
  }

  static constexpr int kSpins = 200;
  static constexpr int kYields = 8;
  std::unique_ptr<Cell[]> cells_;
  std::size_t mask_;
  alignas(64) std::atomic<std::size_t> head_{0};
  alignas(64) std::atomic<std::size_t> tail_{0};
  // Consumers sleep on `signal_`; producers bump it (and wake them) only while `sleepers_` > 0.
  alignas(64) std::atomic<std::uint32_t> signal_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<bool> closed_{false};
  std::atomic<int> wake_fd_{-1};
};

}  // namespace shewhart::engine
