#pragma once
// The engine's inner parts, private to the composition root (engine/root/src): the shard
// runner (a shard with its queue and thread) and the sink each source hands records to.
// Both are nested classes of Engine, declared in engine.h, because they act on the engine's
// routing state (queues, trace writer, clocks) that no other subsystem sees.

#include <spdlog/spdlog.h>

#include <array>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "shewhart/engine/engine.h"
#include "shewhart/engine/model/time_format.h"

namespace shewhart::engine {

// A measurement with this characteristic id is a clock tick for the `stale` rule, not data.
inline constexpr CharacteristicId kTickCharacteristic = UINT32_MAX;

// A shard, its bounded queue and its judge: in threaded mode either a thread of its own or
// (engine.judge: source) the thread of the source that adopted it. Receives the shard's points,
// limits estimates and signals on that thread and passes them on: to the per-characteristic
// metrics, the listener, the store (limits) and the responder's queue.
//
// Ownership moves only under owner_mu, and every move is a happens-before edge (the shard's
// thread is joined before a source judges, and started after a source lets go), so one thread
// at a time touches the shard.
struct Engine::ShardRunner : ShardObserver {
  Engine& engine;
  std::size_t index;
  Shard shard;
  BoundedQueue<Measurement> queue;
  std::thread thread;
  std::mutex owner_mu;
  std::condition_variable owner_cv;  // `adopted` became false
  bool adopted = false;              // a source's thread judges the shard (under owner_mu)
  std::atomic<bool> yield{false};    // asks the shard's thread to return: a source adopts the shard
  int wake_fd = -1;                  // eventfd the adopting source waits on (threaded mode)

  ShardRunner(Engine& e, std::size_t i, std::size_t count);
  ~ShardRunner() override;

  void OnPoint(CharacteristicId c, const rules::ChartPoint& p) override {
    if (CharacteristicMetrics* m = engine.characteristic_metrics_[c].get()) m->OnPoint(p);
    if (engine.options_.want_points && engine.options_.listener) {
      engine.options_.listener->OnPoint(engine.index_.name(c), p);
    }
  }
  void OnLimitsEstimated(CharacteristicId c, const LimitValues& limits, EventTime effective, std::int64_t points,
                         std::int64_t excluded) override {
    engine.RecordLimits(c, limits, effective, points, excluded);
  }
  // A signal leaves the judging thread claimed (its alarm decided) and, in threaded mode,
  // published on its policy's zmq_pub hooks, before the responder stores it.
  void OnSignal(const Signal& raised) override {
    Signal s = raised;
    engine.responder_->directory().Claim(s);
    if (engine.journal_ && s.kind == Signal::Kind::kRule) {
      // On file before it is published: a restart after a crash stores it (signal_journal.h).
      if (Status st = engine.journal_->Append(s); !st.ok()) {
        if (engine.journal_failures_->value() < 10) spdlog::error("{}", st.message());
        engine.journal_failures_->Inc();
      }
    }
    if (engine.options_.threaded) engine.responder_->PublishSignal(s);  // first: the subscribers wait
    if (engine.options_.listener && s.kind == Signal::Kind::kRule) {
      engine.options_.listener->OnSignal(engine.index_.name(s.characteristic), s);
    }
    if (engine.options_.threaded) {
      engine.signal_queue_->Push(s);
    } else {
      engine.HandleSignal(s);
    }
  }

  // One queued item, on the judging thread: a measurement, or the `stale` rule's clock tick.
  void Judge(const Measurement& m) {
    if (m.characteristic == kTickCharacteristic) {
      shard.Tick(m.ts, *this);
    } else if (shard.has_stale_rules()) {
      shard.Process(m, *this, WallClock());  // `stale` counts arrival time in `run`
    } else {
      shard.Process(m, *this);
    }
  }
  // Judges what the queue holds now (measurements other threads routed here); returns how many.
  std::size_t Drain() {
    std::size_t total = 0, n;
    do {
      n = queue.ConsumeNow([this](const Measurement& m) { Judge(m); }, kDrainBatch);
      total += n;
    } while (n == kDrainBatch);
    return total;
  }

  // The shard's own thread: until the queue is closed and drained, or a source adopts the shard.
  void Run();
  // Starts the shard's own thread. Under owner_mu.
  void StartThread();
  // On a source's thread: makes it the shard's judge (its own thread returns first). False when
  // another source has it or the engine is stopping.
  bool Adopt();
  // On the adopting source's thread, when it stops judging (it stops, or the queue closed): the
  // shard gets its own thread again, which drains what is queued.
  void Release();

  static constexpr std::size_t kDrainBatch = 256;
};

// What a source hands records to (IngestSink), one per source: counts them, rejects event
// times that are implausible or late, feeds the genealogy writer (a measurement with a serial
// is a route step too) and routes measurements to their shards, waking a shard once per
// kWakeEvery queued for it. On the source's thread; several sources run at once. A source that
// attaches (engine.judge: source, the i-th zmq source) judges shard i's measurements on its own
// thread, and drains what other sources queue for shard i whenever it calls the sink.
class Engine::SourceSink : public IngestSink {
 public:
  // `adoptable`: the shard this source's thread judges itself once it attaches (-1: none).
  SourceSink(Engine& e, const std::string& name, std::ptrdiff_t adoptable);

  bool OnMeasurement(const Measurement& m) override;

  int Attach() override;
  bool Flush() override;
  void Detach() override;

  void OnUnitEvent(const UnitEvent& ev) override;

  void OnReject(const RejectRecord& r) override;

  void OnTransportDrop(std::uint64_t n) override { drops_->Inc(n); }

 private:
  // late_tolerance: rejects (reason `late`) a measurement whose event time is further behind
  // the newest accepted of its characteristic than allowed; otherwise advances the newest.
  // Sources run on their own threads, so the newest event time is an atomic maximum.
  bool IsLate(const Measurement& m);
  // engine.future_tolerance / past_tolerance (Config): rejects (`future`, `too_old`) an event
  // time implausibly far from the clock, before it can move the event clock, a late check or a
  // suspect window; otherwise, in replay, it advances the clock (the latest accepted event time;
  // the first one accepted sets it). `spec`: the measurement's characteristic (null for a unit
  // event), named in the message.
  bool Implausible(EventTime ts, std::int64_t position, std::optional<std::chrono::microseconds> future,
                   std::optional<std::chrono::microseconds> past, const CharacteristicSpec* spec);

  static std::string FormatSeconds(double s);

  // Adopted shard: ends a wait on its eventfd (the source is back), if one was begun.
  void Resume();
  // Queues `m` for another thread's shard; while that queue is full, keeps judging the adopted
  // shard's queue (two sources routing to each other never wait for each other). False when
  // the engine stops.
  bool EnqueueElsewhere(std::size_t shard, const Measurement& m);
  // The adopted shard's queue closed (the engine stops): hands the shard back.
  void LetGo();
  // A measurement was queued quietly for `shard`: wakes it every kWakeEvery of them.
  void Queued(std::size_t shard);

  static constexpr std::uint32_t kWakeEvery = 32;
  Engine& e_;
  std::string name_;
  // engine.judge: source -- the shard this source's thread may adopt (its position among the
  // config's zmq sources; -1: none), and the one it judges now (null: none).
  std::ptrdiff_t adoptable_ = -1;
  ShardRunner* own_ = nullptr;
  bool waiting_ = false;  // between BeginExternalWait (Flush) and the source's next call
  std::vector<std::uint32_t> unwoken_;  // per shard: measurements queued since it was last woken
  Counter* measurements_;
  Counter* unit_events_;
  Counter* drops_;
  std::array<Counter*, kRejectReasonCount> rejects_{};
};

}  // namespace shewhart::engine
