// shewhart-wake-floor: what one thread-to-thread hand-over costs on this machine, the floor under
// any latency the engine measures between a source and a shard.
//
// A waker thread stamps the steady clock and wakes a sleeper blocked on a futex, at a fixed rate
// (the engine's hand-over: BoundedQueue::Wake to a consumer asleep in Wait); the sleeper records
// the time from the stamp to its running again. At the end it prints one JSON line with the exact
// percentiles. With --short-slice both threads ask for the engine's 0.1 ms slice, as the
// engine's signal-path threads do.
#include <time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <thread>
#include <vector>

#include "shewhart/base/thread.h"
#include "shewhart/engine/pipeline/bounded_queue.h"

namespace {

namespace queue_detail = shewhart::engine::queue_detail;  // the engine's own futex calls

std::int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

int main(int argc, char** argv) {
  double rate = 20000;
  double seconds = 10;
  bool short_slice = false;
  CLI::App app{
      "shewhart-wake-floor: one thread wakes another through a futex at a fixed rate; prints the latency from the\n"
      "wake-up call to the woken thread running (exact p50, p99, p99.9, max in ns) as one JSON line. It is the floor\n"
      "under the engine's source-to-shard hand-over on this machine. Exit codes: 0 done, 2 usage error."};
  app.add_option("--rate", rate, "Wake-ups per second")->check(CLI::Range(1.0, 1e6))->capture_default_str();
  app.add_option("--seconds", seconds, "Length of the run")->check(CLI::Range(0.1, 3600.0))->capture_default_str();
  app.add_flag("--short-slice", short_slice, "Both threads ask for the engine's 0.1 ms time slice");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);  // prints help, or the error and a hint
    return code == 0 ? 0 : 2;
  }

  const auto total = static_cast<std::size_t>(rate * seconds);
  std::vector<std::int64_t> latencies;
  latencies.reserve(total);
  std::atomic<std::uint32_t> word{0};
  std::atomic<std::int64_t> stamp{0};
  std::atomic<bool> asleep{false}, stop{false};
  std::size_t missed = 0;  // wake-ups the sleeper was not asleep for (it was still running)

  std::thread sleeper([&] {
    shewhart::SetThreadName("wake-sleeper");
    if (short_slice) (void)shewhart::RequestShortSlice(shewhart::kLatencySliceNs);
    std::uint32_t seen = word.load();
    while (!stop.load(std::memory_order_acquire)) {
      asleep.store(true, std::memory_order_seq_cst);
      queue_detail::FutexWait(word, seen, nullptr);
      const std::int64_t now = NowNs();
      asleep.store(false, std::memory_order_seq_cst);
      const std::uint32_t cur = word.load(std::memory_order_acquire);
      if (cur != seen) {
        seen = cur;
        const std::int64_t s = stamp.load(std::memory_order_acquire);
        if (s != 0 && latencies.size() < total) latencies.push_back(now - s);
      }
    }
  });

  shewhart::SetThreadName("wake-waker");
  if (short_slice) (void)shewhart::RequestShortSlice(shewhart::kLatencySliceNs);
  const double ns_per = 1e9 / rate;
  const std::int64_t t0 = NowNs() + 10'000'000;
  for (std::size_t i = 0; i < total; ++i) {
    const std::int64_t due = t0 + static_cast<std::int64_t>(static_cast<double>(i) * ns_per);
    timespec ts{static_cast<time_t>(due / 1'000'000'000), static_cast<long>(due % 1'000'000'000)};
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
    if (!asleep.load(std::memory_order_seq_cst)) {
      ++missed;
      continue;
    }
    stamp.store(NowNs(), std::memory_order_release);
    word.fetch_add(1, std::memory_order_release);
    queue_detail::FutexWakeAll(word);
  }
  stop.store(true, std::memory_order_release);
  word.fetch_add(1, std::memory_order_release);
  queue_detail::FutexWakeAll(word);
  sleeper.join();

  std::sort(latencies.begin(), latencies.end());
  const std::size_t n = latencies.size();
  auto pct = [&](double p) -> std::int64_t {
    if (n == 0) return 0;
    const auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(n)));
    return latencies[std::clamp<std::size_t>(rank, 1, n) - 1];
  };
  std::printf("{\"wakeups\":%zu,\"not_asleep\":%zu,\"rate\":%.1f,\"short_slice\":%s,\"p50_ns\":%" PRId64
              ",\"p99_ns\":%" PRId64 ",\"p999_ns\":%" PRId64 ",\"max_ns\":%" PRId64 "}\n",
              n, missed, rate, short_slice ? "true" : "false", pct(0.5), pct(0.99), pct(0.999),
              n ? latencies[n - 1] : 0);
  return 0;
}
