#include "shewhart/engine/pipeline/bounded_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace shewhart::engine {
namespace {

TEST(BoundedQueueTest, TryPushSaysFullInsteadOfGrowing) {
  BoundedQueue<int> q(4);
  EXPECT_EQ(q.capacity(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(q.TryPush(i));
  EXPECT_FALSE(q.TryPush(99));
  int v;
  ASSERT_TRUE(q.TryPop(v));
  EXPECT_EQ(v, 0);
  EXPECT_TRUE(q.TryPush(4));
  EXPECT_EQ(q.size(), 4u);
}

TEST(BoundedQueueTest, CapacityRoundsUpToAPowerOfTwo) {
  BoundedQueue<int> q(5);
  EXPECT_EQ(q.capacity(), 8u);
}

TEST(BoundedQueueTest, CloseDrainsThenReturnsZero) {
  BoundedQueue<int> q(8);
  ASSERT_TRUE(q.Push(1));
  ASSERT_TRUE(q.Push(2));
  q.Close();
  int out[8];
  EXPECT_EQ(q.PopBatch(out, 8), 2u);
  EXPECT_EQ(q.PopBatch(out, 8), 0u);
  EXPECT_FALSE(q.Push(3)) << "a closed queue refuses new items";
}

// Four producers through a small queue with back-pressure: every item arrives once.
TEST(BoundedQueueTest, ManyProducersLoseNothing) {
  BoundedQueue<std::uint64_t> q(64);
  constexpr int kProducers = 4;
  constexpr std::uint64_t kEach = 100000;
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&q, p] {
      for (std::uint64_t i = 0; i < kEach; ++i) ASSERT_TRUE(q.Push(static_cast<std::uint64_t>(p) * kEach + i));
    });
  }
  std::vector<int> seen(kProducers * kEach, 0);
  std::thread consumer([&] {
    std::uint64_t buf[32];
    std::size_t n;
    while ((n = q.PopBatch(buf, 32)) > 0) {
      for (std::size_t i = 0; i < n; ++i) seen[buf[i]]++;
    }
  });
  for (auto& t : producers) t.join();
  q.Close();
  consumer.join();
  for (std::size_t i = 0; i < seen.size(); ++i) ASSERT_EQ(seen[i], 1) << i;
}

// A producer that never calls Wake still makes progress through a full queue: PushQuiet wakes
// the sleeping consumer before it waits for room. Bursts of three times the capacity, each after
// a pause long enough for the consumer to fall asleep.
TEST(BoundedQueueTest, QuietPushesThroughAFullQueueNeverWaitForASleepingConsumer) {
  BoundedQueue<std::uint64_t> q(4);
  constexpr std::uint64_t kBurst = 12, kItems = 20 * kBurst;
  std::uint64_t received = 0, sum = 0;
  std::thread consumer([&] {
    std::uint64_t buf[3];
    std::size_t n;
    while ((n = q.PopBatch(buf, 3)) > 0) {
      for (std::size_t i = 0; i < n; ++i) sum += buf[i];
      received += n;
    }
  });
  for (std::uint64_t i = 1; i <= kItems; ++i) {
    if (i % kBurst == 1) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ASSERT_TRUE(q.PushQuiet(i));
  }
  q.Close();  // wakes the consumer for the last items
  consumer.join();
  EXPECT_EQ(received, kItems);
  EXPECT_EQ(sum, kItems * (kItems + 1) / 2);
}

TEST(BoundedQueueTest, QuietPushIsDeliveredAfterWake) {
  BoundedQueue<int> q(8);
  std::atomic<int> got{-1};
  std::thread consumer([&] {
    int v = 0;
    const std::size_t n = q.PopBatchFor(&v, 1, std::chrono::seconds(30));
    got = n == 1 ? v : -2;
  });
  ASSERT_TRUE(q.PushQuiet(7));
  q.Wake();
  consumer.join();
  EXPECT_EQ(got.load(), 7);
}

TEST(BoundedQueueTest, PopBatchForReturnsNothingAfterItsTimeout) {
  BoundedQueue<int> q(8);
  int v;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(q.PopBatchFor(&v, 1, std::chrono::milliseconds(50)), 0u);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(50));
  EXPECT_FALSE(q.closed());
}

// The single consumer's in-place pop: items in order, cells reused by producers while it runs,
// 0 once closed and drained.
TEST(BoundedQueueTest, ConsumeForTakesItemsInOrderUntilClosedAndDrained) {
  BoundedQueue<std::uint64_t> q(8);
  constexpr std::uint64_t kItems = 100000;
  std::thread producer([&] {
    for (std::uint64_t i = 0; i < kItems; ++i) ASSERT_TRUE(q.Push(i));
    q.Close();
  });
  std::uint64_t next = 0;
  bool in_order = true;
  for (;;) {
    const std::size_t n = q.ConsumeFor(
        [&](const std::uint64_t& v) {
          in_order &= v == next;
          ++next;
        },
        5, std::chrono::seconds(30));
    if (n == 0) {
      if (q.closed() && q.size() == 0) break;
      continue;
    }
    EXPECT_LE(n, 5u);
  }
  producer.join();
  EXPECT_TRUE(in_order);
  EXPECT_EQ(next, kItems);
}

}  // namespace
}  // namespace shewhart::engine
