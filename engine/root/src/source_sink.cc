// The sources' sink: counting, plausibility and lateness of event times, genealogy, routing
// (engine_parts.h).
#include <spdlog/spdlog.h>

#include <sys/eventfd.h>

#include <cstdio>
#include <thread>

#include "engine_parts.h"

namespace shewhart::engine {

Engine::SourceSink::SourceSink(Engine& e, const std::string& name, std::ptrdiff_t adoptable)
    : e_(e), name_(name), adoptable_(adoptable) {
  auto& m = e.metrics_;
  measurements_ = m.GetCounter("shewhart_measurements_total", "Measurements accepted, by source.", {{"source", name}});
  unit_events_ =
      m.GetCounter("shewhart_unit_events_total", "Unit (genealogy) events accepted, by source.", {{"source", name}});
  drops_ =
      m.GetCounter("shewhart_transport_dropped_total",
                   "Messages a transport dropped before the engine saw them (e.g. ZeroMQ SUB at its high-water mark).",
                   {{"source", name}});
  for (int r = 0; r < kRejectReasonCount; ++r) {
    rejects_[static_cast<std::size_t>(r)] =
        m.GetCounter("shewhart_rejected_total", "Messages rejected, by source and reason.",
                     {{"source", name}, {"reason", std::string(RejectReasonName(static_cast<RejectReason>(r)))}});
  }
}

bool Engine::SourceSink::OnMeasurement(const Measurement& m) {
  const CharacteristicSpec& spec = e_.config_.characteristics[m.characteristic];
  if (Implausible(m.ts, m.position, spec.future_tolerance, spec.past_tolerance, &spec)) return true;
  if (IsLate(m)) return true;
  if (e_.config_.event_clock) {
    // engine.clock: event -- the responder's clock is the newest event time seen.
    const std::int64_t t = m.ts.time_since_epoch().count();
    std::int64_t cur = e_.newest_event_.load(std::memory_order_relaxed);
    while (t > cur && !e_.newest_event_.compare_exchange_weak(cur, t, std::memory_order_relaxed)) {
    }
  }
  measurements_->Inc();
  e_.measurements_total_->Inc();
  if (!m.serial.empty()) {
    UnitEvent ctx;
    ctx.unit = m.serial;
    ctx.station = m.station;
    ctx.machine = m.machine;
    ctx.op = m.op;
    ctx.model = m.model;
    ctx.ts = m.ts;
    ctx.lot_count = 0;
    if (!m.lot.empty()) {
      ctx.lots[0] = m.lot;
      ctx.lot_count = 1;
    }
    ctx.from_measurement = true;
    const bool inline_mode = !e_.options_.threaded;
    if (e_.trace_->Append(ctx, inline_mode) >= TraceWriter::kBatch && inline_mode) (void)e_.responder_->Tick();
  }
  if (!e_.options_.threaded) return e_.Route(m), true;
  if (own_) {
    Resume();
    if (own_->queue.closed()) return LetGo(), false;
    // What other sources routed here is judged at every call (one load when there is none), so
    // a source busy with other shards' measurements never leaves its own queue waiting.
    own_->Drain();
    const std::size_t shard = e_.shard_of_[m.characteristic];
    if (shard != own_->index) return EnqueueElsewhere(shard, m);
    own_->Judge(m);
    return true;
  }
  // Threaded: queued without waking the shard; it is woken every kWakeEvery measurements
  // queued for it and at Flush (one wake-up system call per burst, not per measurement).
  std::size_t shard = 0;
  if (!e_.Enqueue(m, shard)) return false;  // the engine stops
  Queued(shard);
  return true;
}

void Engine::SourceSink::Queued(std::size_t shard) {
  if (unwoken_.size() != e_.shards_.size()) unwoken_.assign(e_.shards_.size(), 0);  // once
  if (++unwoken_[shard] >= kWakeEvery) {
    e_.shards_[shard]->queue.Wake();
    unwoken_[shard] = 0;
  }
}

bool Engine::SourceSink::EnqueueElsewhere(std::size_t shard, const Measurement& m) {
  auto& queue = e_.shards_[shard]->queue;
  if (queue.closed()) return false;
  for (int spins = 0; !queue.TryPushQuiet(m); ++spins) {
    if (queue.closed()) return false;
    queue.Wake();
    if (own_->Drain() > 0) continue;
    if (spins < 64) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
  }
  Queued(shard);
  return true;
}

int Engine::SourceSink::Attach() {
  if (!e_.options_.threaded || !e_.config_.judge_at_source || adoptable_ < 0 ||
      static_cast<std::size_t>(adoptable_) >= e_.shards_.size()) {
    return -1;
  }
  ShardRunner& r = *e_.shards_[static_cast<std::size_t>(adoptable_)];
  if (!r.Adopt()) return -1;
  own_ = &r;
  spdlog::info("source {}: judges shard {} on its own thread", name_, r.index);
  return r.wake_fd;
}

void Engine::SourceSink::Resume() {
  if (!waiting_) return;
  waiting_ = false;
  own_->queue.EndExternalWait();
  eventfd_t ignored;
  (void)eventfd_read(own_->wake_fd, &ignored);  // non-blocking: EAGAIN when nothing was written
}

void Engine::SourceSink::LetGo() {
  // The close wrote the eventfd whether or not the source waited on it: read, so that a source
  // that keeps polling it does not wake at once, again and again.
  eventfd_t ignored;
  (void)eventfd_read(own_->wake_fd, &ignored);
  own_->Release();
  own_ = nullptr;
}

bool Engine::SourceSink::Flush() {
  for (std::size_t i = 0; i < unwoken_.size(); ++i) {
    if (unwoken_[i] == 0) continue;
    e_.shards_[i]->queue.Wake();
    unwoken_[i] = 0;
  }
  if (!own_) return true;
  Resume();
  if (own_->queue.closed()) return LetGo(), true;
  own_->Drain();
  if (!own_->queue.BeginExternalWait()) return false;  // more arrived, or the close: look again
  waiting_ = true;
  return true;
}

void Engine::SourceSink::Detach() {
  (void)Flush();
  if (!own_) return;
  Resume();
  LetGo();
}

void Engine::SourceSink::OnUnitEvent(const UnitEvent& ev) {
  if (Implausible(ev.ts, 0, std::nullopt, std::nullopt, nullptr)) return;
  unit_events_->Inc();
  const bool inline_mode = !e_.options_.threaded;
  // Inline (replay): commit every batch as it fills, on this (the only) thread; the holds
  // see the same records at the same input positions on every run.
  if (e_.trace_->Append(ev, inline_mode) >= TraceWriter::kBatch && inline_mode) (void)e_.responder_->Tick();
}

void Engine::SourceSink::OnReject(const RejectRecord& r) {
  rejects_[static_cast<std::size_t>(r.reason)]->Inc();
  std::uint64_t n = e_.reject_count_.fetch_add(1, std::memory_order_relaxed) + 1;
  Status st = e_.store_->InsertReject(r);
  if (!st.ok()) spdlog::error("reject record of {}#{} not stored: {}", r.source, r.position, st.message());
  if (n <= 20 || n % 1000 == 0) {
    spdlog::warn("rejected {} message {}: {}: {}{}", r.source, r.position, RejectReasonName(r.reason), r.message,
                 n == 20 ? " (further rejects are logged every 1000th; all are counted and stored)" : "");
  }
}

// late_tolerance: rejects (reason `late`) a measurement whose event time is further behind
// the newest accepted of its characteristic than allowed; otherwise advances the newest.
// Sources run on their own threads, so the newest event time is an atomic maximum.
bool Engine::SourceSink::IsLate(const Measurement& m) {
  const auto& tolerance = e_.config_.characteristics[m.characteristic].late_tolerance;
  if (!tolerance) return false;
  auto& newest = e_.newest_ts_[m.characteristic];
  const std::int64_t t = m.ts.time_since_epoch().count();
  std::int64_t cur = newest.load(std::memory_order_relaxed);
  if (cur != kNoTime && t < cur - tolerance->count()) {
    RejectRecord r;
    r.source = name_;
    r.position = m.position;
    r.reason = RejectReason::kLate;
    r.field = "ts";
    const double behind = static_cast<double>(cur - t) / 1e6;
    r.message = "event time " + FormatRfc3339(m.ts) + " of characteristic '" +
                e_.config_.characteristics[m.characteristic].id + "' is " + FormatSeconds(behind) +
                " s behind the newest accepted (" + FormatRfc3339(EventTime(std::chrono::microseconds(cur))) +
                "); late_tolerance is " + FormatSeconds(static_cast<double>(tolerance->count()) / 1e6) + " s";
    r.raw = "";
    OnReject(r);
    return true;
  }
  while (t > cur && !newest.compare_exchange_weak(cur, t, std::memory_order_relaxed)) {
  }
  return false;
}

// engine.future_tolerance / past_tolerance (Config): rejects (`future`, `too_old`) an event
// time implausibly far from the clock, before it can move the event clock, a late check or a
// suspect window; otherwise, in replay, it advances the clock (the latest accepted event time;
// the first one accepted sets it). `spec`: the measurement's characteristic (null for a unit
// event), named in the message.
bool Engine::SourceSink::Implausible(EventTime ts, std::int64_t position,
                                     std::optional<std::chrono::microseconds> future,
                                     std::optional<std::chrono::microseconds> past, const CharacteristicSpec* spec) {
  const std::int64_t t = ts.time_since_epoch().count();
  const std::int64_t back = past.value_or(e_.config_.past_tolerance).count();
  std::int64_t clock, ahead;
  const bool wall = e_.options_.threaded;
  if (wall) {
    clock = WallClock().time_since_epoch().count();
    ahead = future.value_or(e_.config_.future_tolerance).count();
  } else {
    clock = e_.accepted_clock_.load(std::memory_order_relaxed);
    ahead = back;
    if (clock == kNoTime) {
      e_.accepted_clock_.store(t, std::memory_order_relaxed);
      return false;
    }
  }
  const bool future_ts = t > clock && t - clock > ahead;
  const bool old_ts = t < clock && clock - t > back;
  if (!future_ts && !old_ts) {
    if (!wall && t > clock) e_.accepted_clock_.store(t, std::memory_order_relaxed);
    return false;
  }
  RejectRecord r;
  r.source = name_;
  r.position = position;
  r.reason = future_ts ? RejectReason::kFuture : RejectReason::kTooOld;
  r.field = "ts";
  const double gap = static_cast<double>(future_ts ? t - clock : clock - t) / 1e6;
  r.message = "event time " + FormatRfc3339(ts) +
              (spec ? " of characteristic '" + spec->id + "'" : std::string(" of a unit event")) + " is " +
              FormatSeconds(gap) + " s " + (future_ts ? "ahead of " : "behind ") +
              (wall ? "the wall clock (" : "the latest accepted event time (") +
              FormatRfc3339(EventTime(std::chrono::microseconds(clock))) + "); " +
              (future_ts && wall ? "future_tolerance" : "past_tolerance") + " is " +
              FormatSeconds(static_cast<double>(future_ts ? ahead : back) / 1e6) + " s";
  OnReject(r);
  return true;
}

std::string Engine::SourceSink::FormatSeconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", s);
  return buf;
}

}  // namespace shewhart::engine
