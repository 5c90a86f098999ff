#pragma once
// The engine's inner parts, private to the composition root (engine/root/src): the shard
// runner (a shard with its queue and thread) and the sink each source hands records to.
// Both are nested classes of Engine, declared in engine.h, because they act on the engine's
// routing state (queues, trace writer, clocks) that no other subsystem sees.

#include <array>
#include <chrono>
#include <climits>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "shewhart/engine/engine.h"
#include "shewhart/engine/model/time_format.h"

namespace shewhart::engine {

// A measurement with this characteristic id is a clock tick for the `stale` rule, not data.
inline constexpr CharacteristicId kTickCharacteristic = UINT32_MAX;

// A shard, its bounded queue and (threaded mode) its thread. Receives the shard's points,
// limits estimates and signals on that thread and passes them on: to the per-characteristic
// metrics, the listener, the store (limits) and the responder's queue.
struct Engine::ShardRunner : ShardObserver {
  Engine& engine;
  Shard shard;
  BoundedQueue<Measurement> queue;
  std::thread thread;

  ShardRunner(Engine& e, std::size_t index, std::size_t count)
      : engine(e), shard(e.config_, index, count), queue(e.options_.threaded ? e.config_.queue_capacity : 2) {}

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
  void OnSignal(const Signal& s) override {
    if (engine.options_.listener && s.kind == Signal::Kind::kRule) {
      engine.options_.listener->OnSignal(engine.index_.name(s.characteristic), s);
    }
    if (engine.options_.threaded) {
      engine.signal_queue_->Push(s);
    } else {
      engine.HandleSignal(s);
    }
  }

  void Run() {
    constexpr std::size_t kBatch = 256;
    // Measurements are processed where they lie in the queue's ring: no copy of the 648 bytes.
    auto process = [this](const Measurement& m) {
      if (m.characteristic == kTickCharacteristic) {
        shard.Tick(m.ts, *this);
      } else if (shard.has_stale_rules()) {
        shard.Process(m, *this, WallClock());  // `stale` counts arrival time in `run`
      } else {
        shard.Process(m, *this);
      }
    };
    for (;;) {
      // At most 10 ms asleep: a source that never calls IngestSink::Flush is not stuck.
      if (queue.ConsumeFor(process, kBatch, std::chrono::milliseconds(10)) == 0 && queue.closed()) return;
    }
  }
};

// What a source hands records to (IngestSink), one per source: counts them, rejects event
// times that are implausible or late, feeds the genealogy writer (a measurement with a serial
// is a route step too) and routes measurements to their shards, waking a shard once per
// kWakeEvery queued for it. On the source's thread; several sources run at once.
class Engine::SourceSink : public IngestSink {
 public:
  SourceSink(Engine& e, const std::string& name);

  bool OnMeasurement(const Measurement& m) override;

  void Flush() override;

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

  static constexpr std::uint32_t kWakeEvery = 32;
  Engine& e_;
  std::string name_;
  std::vector<std::uint32_t> unwoken_;  // per shard: measurements queued since it was last woken
  Counter* measurements_;
  Counter* unit_events_;
  Counter* drops_;
  std::array<Counter*, kRejectReasonCount> rejects_{};
};

}  // namespace shewhart::engine
