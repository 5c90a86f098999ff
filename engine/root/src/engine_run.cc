// The engine's running parts: the responder thread's loop and its hand-over of signals and
// requests (engine.cc builds and wires; this runs).
#include <spdlog/spdlog.h>

#include <sys/eventfd.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <string>
#include <thread>

#include "engine_parts.h"
#include "shewhart/base/thread.h"

namespace shewhart::engine {

Engine::ShardRunner::ShardRunner(Engine& e, std::size_t i, std::size_t count)
    : engine(e), index(i), shard(e.config_, i, count), queue(e.options_.threaded ? e.config_.queue_capacity : 2) {
  if (e.options_.threaded && e.config_.judge_at_source) wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

Engine::ShardRunner::~ShardRunner() {
  if (wake_fd >= 0) ::close(wake_fd);
}

void Engine::ShardRunner::Run() {
  // Measurements are judged where they lie in the queue's ring: no copy of the 648 bytes.
  auto judge = [this](const Measurement& m) { Judge(m); };
  for (;;) {
    // At most 10 ms asleep: a source that never calls IngestSink::Flush is not stuck.
    const std::size_t n = queue.ConsumeFor(judge, kDrainBatch, std::chrono::milliseconds(10));
    if (yield.load(std::memory_order_acquire)) return;
    if (n == 0 && queue.closed()) return;
  }
}

void Engine::ShardRunner::StartThread() {
  thread = std::thread([this] {
    (void)RequestShortSlice(kLatencySliceNs);  // before the name: a named thread has its slice
    SetThreadName("shw-shard" + std::to_string(index));
    Run();
  });
}

bool Engine::ShardRunner::Adopt() {
  std::lock_guard lock(owner_mu);
  if (adopted || wake_fd < 0 || queue.closed()) return false;
  if (thread.joinable()) {
    yield.store(true, std::memory_order_release);
    queue.Nudge();
    thread.join();
    yield.store(false, std::memory_order_relaxed);
  }
  adopted = true;
  queue.SetWakeFd(wake_fd);
  return true;
}

void Engine::ShardRunner::Release() {
  std::lock_guard lock(owner_mu);
  if (!adopted) return;
  queue.SetWakeFd(-1);
  adopted = false;
  StartThread();  // also when the queue closed: it drains what is left, then returns
  owner_cv.notify_all();
}

void Engine::HandleSignal(const Signal& s) {
  // Inline (replay): tried again at once; a store that refuses it three times loses it, loudly.
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (responder_->HandleBatch(&s, 1).ok()) return;
  }
  signals_lost_->Inc();
  spdlog::error("a {} signal of '{}' could not be stored and is lost", rules::RuleName(s.hit.rule),
                config_.characteristics[s.characteristic].id);
}

void Engine::HandleBatchUntilStored(const Signal* signals, std::size_t n) {
  auto delay = std::chrono::milliseconds(50);
  for (int attempt = 1;; ++attempt) {
    if (responder_->HandleBatch(signals, n).ok()) return;
    if (signal_queue_->closed() && attempt >= 3) {
      signals_lost_->Inc(n);
      spdlog::error("{} signals could not be stored before the engine stopped and are lost", n);
      return;
    }
    // Meanwhile no signal is taken from the queue: it fills, the shards wait, and the sources
    // stop reading (back-pressure) until the store writes again. Requests are still answered.
    RunCommands();
    std::this_thread::sleep_for(delay);
    delay = std::min(delay * 2, std::chrono::milliseconds(1000));
  }
}

Engine::ApiResponse Engine::OnResponder(std::function<ApiResponse()> fn) {
  if (!responder_running_.load()) return fn();
  auto task = std::make_shared<std::packaged_task<ApiResponse()>>(std::move(fn));
  std::future<ApiResponse> answer = task->get_future();
  {
    std::lock_guard lock(commands_mu_);
    commands_.push_back([task] { (*task)(); });
  }
  if (answer.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    return ApiError(503, "the responder did not answer within 10 s");
  }
  return answer.get();
}

void Engine::RunCommands() {
  std::vector<std::function<void()>> run;
  {
    std::lock_guard lock(commands_mu_);
    run.swap(commands_);
  }
  for (auto& f : run) f();
}

// The responder thread: batches of signals, people's requests, the 100 ms tick (genealogy
// joins, escalations by time, the `stale` rule's clock) and, every second, limits versions
// recorded by another process.
void Engine::RunResponder() {
  (void)RequestShortSlice(kLatencySliceNs);  // before the name: a named thread has its slice
  SetThreadName("shw-responder");
  constexpr std::size_t kBatch = 64;
  std::vector<Signal> batch(kBatch);
  auto next_tick = std::chrono::steady_clock::now();
  auto next_limits_poll = next_tick + std::chrono::seconds(1);
  for (;;) {
    // Closed before this look: nothing can be pushed any more, so an empty look means done. (A
    // look at `closed` after the batch would miss a signal pushed while requests ran.)
    const bool closed = signal_queue_->closed();
    std::size_t got = signal_queue_->PopBatchFor(batch.data(), kBatch, std::chrono::milliseconds(100));
    if (got > 0 && got < kBatch && !closed && config_.commit_delay.count() > 0) {
      // Group commit: the signals of the next moments join this unit, and the `signal` messages
      // just published reach their subscribers before the unit takes a core.
      std::this_thread::sleep_for(config_.commit_delay);
      got += signal_queue_->PopBatchFor(batch.data() + got, kBatch - got, std::chrono::microseconds(0));
    }
    if (got > 0) {
      HandleBatchUntilStored(batch.data(), got);
      if (journal_) journal_->Committed(responder_->journal_done());
    }
    RunCommands();
    auto now = std::chrono::steady_clock::now();
    if (now >= next_tick) {
      // The `stale` rule's clock: a tick through each queue that has stale rules (dropped
      // when the queue is full: the shard is busy, and the next tick comes 100 ms later).
      Measurement tick;
      tick.characteristic = kTickCharacteristic;
      tick.ts = WallClock();
      for (auto& s : shards_) {
        if (s->shard.has_stale_rules()) (void)s->queue.TryPush(tick);
      }
      (void)responder_->Tick();  // an error is logged, counted, and tried again next time
      if (now >= next_limits_poll) {
        // Versions another process recorded since (phase1 ones are this engine's own).
        Status st = LoadLimitVersions(/*skip_phase1=*/true);
        if (!st.ok()) spdlog::error("reading limits versions: {}", st.message());
        next_limits_poll = now + std::chrono::seconds(1);
      }
      next_tick = now + std::chrono::milliseconds(100);
    }
    if (got == 0 && closed) {
      RunCommands();
      return;
    }
  }
}

}  // namespace shewhart::engine
