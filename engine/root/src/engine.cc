// The composition root: Engine builds the subsystems (store, trace writer, outbox, responder,
// shards, API), wires each with what it uses, starts and stops them. What runs is in
// engine_run.cc (the responder thread), source_sink.cc (the sources' sink) and
// engine_records.cc (limits versions, retention, audit, health); engine_parts.h holds the
// engine's private nested classes.
#include "shewhart/engine/engine.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "engine_parts.h"
#include "shewhart/base/thread.h"
#include "shewhart/engine/model/key_group.h"
#include "shewhart/engine/pipeline/chart_runner.h"

namespace shewhart::engine {

namespace {
std::vector<std::string> Ids(const Config& c) {
  std::vector<std::string> ids;
  for (const auto& ch : c.characteristics) ids.push_back(ch.id);
  return ids;
}
std::vector<bool> AttributeFlags(const Config& c) {
  std::vector<bool> flags;
  for (const auto& ch : c.characteristics) flags.push_back(IsAttribute(ch.type));
  return flags;
}
// p for each T^2 characteristic (its measurements carry `values`), 0 for the others.
std::vector<int> VectorWidths(const Config& c) {
  std::vector<int> widths;
  for (const auto& ch : c.characteristics) widths.push_back(ch.type == ChartType::kT2 ? ch.t2.variables : 0);
  return widths;
}
}  // namespace

Engine::Engine(const Config& config, EngineOptions options)
    : config_(config),
      options_(std::move(options)),
      index_(Ids(config), AttributeFlags(config), VectorWidths(config)),
      newest_ts_(std::make_unique<std::atomic<std::int64_t>[]>(config.characteristics.size())) {
  for (std::size_t i = 0; i < config.characteristics.size(); ++i) newest_ts_[i].store(kNoTime);
  characteristic_metrics_.resize(config.characteristics.size());
  measurements_total_ = metrics_.GetCounter("shewhart_engine_measurements_total", "Measurements routed to shards.");
  signals_total_ = metrics_.GetCounter("shewhart_engine_signals_total", "Rule signals handled by the responder.");
  arrival_to_signal_ = metrics_.GetHistogram(
      "shewhart_arrival_to_signal_seconds",
      "Seconds from a measurement's arrival at the engine to its shard raising a rule signal on it.",
      LatencyBuckets());
  arrival_to_response_ = metrics_.GetHistogram(
      "shewhart_arrival_to_response_seconds",
      "Seconds from a measurement's arrival at the engine to the responder handling the rule signal it raised.",
      LatencyBuckets());
  alarms_total_ = metrics_.GetCounter("shewhart_alarms_total", "Alarms opened.");
  audit_failures_total_ =
      metrics_.GetCounter("shewhart_audit_failures_total", "Audit records that could not be appended.");
  signals_lost_ = metrics_.GetCounter(
      "shewhart_signals_lost_total",
      "Signals the store never took: refused until the engine stopped (run) or three times in a row (replay).");
}

Engine::~Engine() { Stop(); }

IngestSink& Engine::RegisterSource(const std::string& name) {
  // engine.judge: source -- the i-th zmq source of the config judges shard i (if there is one).
  std::ptrdiff_t adoptable = -1, zmq = 0;
  for (const auto& spec : config_.sources) {
    if (spec.kind != SourceSpec::Kind::kZmq) continue;
    if (spec.name == name) adoptable = zmq;
    ++zmq;
  }
  sources_.push_back(std::make_unique<SourceSink>(*this, name, adoptable));
  return *sources_.back();
}

void Engine::RegisterHealth(const std::string& name, std::function<Status()> status) {
  health_.emplace_back(name, std::move(status));
}

ResponderParts Engine::ResponderWiring() {
  ResponderParts p;
  p.config = &config_;
  p.store = store_.get();
  p.trace = trace_.get();
  p.outbox = outbox_.get();
  p.metrics = &metrics_;
  p.characteristic_metrics = &characteristic_metrics_;
  p.listener = options_.listener;
  p.threaded = options_.threaded;
  p.sinks = options_.sinks;
  p.on_signal_latency = options_.on_signal_latency;
  p.input_clock = [this] {
    if (!options_.threaded) return replay_now_;
    return EventTime(std::chrono::microseconds(newest_event_.load(std::memory_order_relaxed)));
  };
  p.on_store_health = [this](const Status& st) {
    std::lock_guard lock(store_health_mu_);
    store_health_ = st;
  };
  p.audit = [this](std::string kind, std::string subject, const Json& body, const std::string& actor) {
    return Audit(std::move(kind), std::move(subject), body, actor);
  };
  p.signals_total = signals_total_;
  p.alarms_total = alarms_total_;
  p.arrival_to_signal = arrival_to_signal_;
  p.arrival_to_response = arrival_to_response_;
  return p;
}

ApiParts Engine::ApiWiring(std::map<std::string, std::string> tokens) {
  ApiParts p;
  p.config = &config_;
  p.index = &index_;
  p.store = store_.get();
  p.metrics = &metrics_;
  p.responder = responder_.get();
  p.on_responder = [this](std::function<ApiResponse()> fn) { return OnResponder(std::move(fn)); };
  p.health = [this](bool& healthy) { return HealthJson(healthy); };
  p.summary = [this](CharacteristicId c) { return LiveSummary(c); };
  p.audit = [this](std::string kind, std::string subject, const Json& body, const std::string& actor) {
    return Audit(std::move(kind), std::move(subject), body, actor);
  };
  p.tokens = std::move(tokens);
  return p;
}

ApiResponse Engine::HandleApi(const std::string& method, const std::string& target, const std::string& query,
                              const std::string& body, const std::string& authorization) {
  if (!api_) return ApiError(503, "the engine is not started");
  return api_->Handle(method, target, query, body, authorization);
}

Status Engine::Start() {
  SHEWHART_RETURN_IF_ERROR(OpenStore());
  trace_ = std::make_unique<TraceWriter>(*store_);
  if (options_.threaded) {
    // Before the responder thread: pending deliveries of earlier runs go first, in order.
    OutboxOptions outbox_options;
    outbox_options.transport = options_.transport;
    outbox_ = std::make_unique<Outbox>(config_, *store_, metrics_, outbox_options);
    SHEWHART_RETURN_IF_ERROR(outbox_->Load());
  }
  responder_ = std::make_unique<Responder>(ResponderWiring());
  SHEWHART_RETURN_IF_ERROR(responder_->Load());
  if (options_.threaded) {
    // Alarm ids are published before their alarms are stored: reserved first.
    SHEWHART_RETURN_IF_ERROR(responder_->ReserveAlarmIds());
    StartCheckpointer();
    SHEWHART_RETURN_IF_ERROR(responder_->ResumeSerialFeeds());
    // After the feeds: the signals it completes carry them on.
    SHEWHART_RETURN_IF_ERROR(OpenJournal());
    outbox_->Start();
    prune_thread_ = std::thread([this] {
      SetThreadName("shw-prune");
      std::unique_lock lock(prune_mu_);
      while (!prune_stop_) {
        lock.unlock();
        PruneNow();
        lock.lock();
        prune_cv_.wait_for(lock, config_.prune_every, [this] { return prune_stop_; });
      }
    });
  }

  std::size_t n = 1;
  if (options_.threaded) {
    n = config_.shards > 0 ? static_cast<std::size_t>(config_.shards)
                           : std::max<std::size_t>(1, std::thread::hardware_concurrency());
  }
  for (std::size_t i = 0; i < n; ++i) shards_.push_back(std::make_unique<ShardRunner>(*this, i, n));
  shard_of_.resize(config_.characteristics.size());
  for (std::size_t i = 0; i < shard_of_.size(); ++i) {
    shard_of_[i] = static_cast<std::uint32_t>(ShardOfGroup(KeyGroupOf(config_.characteristics[i].id), n));
  }
  std::map<std::string, std::string> tokens;  // bearer token -> user
  if (!config_.http_tokens.empty()) {
    auto loaded = LoadTokensFile(config_.http_tokens);
    if (!loaded.ok()) return loaded.status();
    tokens = std::move(*loaded);
  }
  api_ = std::make_unique<EngineApi>(ApiWiring(std::move(tokens)));
  // Limits versions recorded by earlier runs and by `shewhart limits recalc`.
  SHEWHART_RETURN_IF_ERROR(LoadLimitVersions(/*skip_phase1=*/false));
  // Alarms reopened from the store resolve like new ones: their scopes count in-control points.
  auto open_alarms = store_->ListAlarms(/*open_only=*/true, 1 << 30);
  if (!open_alarms.ok()) return open_alarms.status();
  for (const auto& a : *open_alarms) {
    std::int64_t id = index_.Find(a.characteristic);
    if (id < 0) continue;
    std::vector<std::string> values;
    for (const auto& kv : a.scope) values.push_back(kv.second);
    shards_[shard_of_[static_cast<std::size_t>(id)]]->shard.ArmRecovery(static_cast<CharacteristicId>(id), values);
  }
  ExportCharacteristicMetrics();
  if (options_.threaded) {
    signal_queue_ = std::make_unique<BoundedQueue<Signal>>(4096);
    for (std::size_t i = 0; i < n; ++i) {
      auto* runner = shards_[i].get();
      metrics_.AddCallbackGauge("shewhart_queue_depth", "Items waiting in a bounded queue.",
                                {{"queue", "shard" + std::to_string(i)}},
                                [runner] { return double(runner->queue.size()); });
      metrics_
          .GetGauge("shewhart_queue_capacity", "Capacity of a bounded queue.", {{"queue", "shard" + std::to_string(i)}})
          ->Set(static_cast<double>(runner->queue.capacity()));
    }
    auto* sq = signal_queue_.get();
    metrics_.AddCallbackGauge("shewhart_queue_depth", "Items waiting in a bounded queue.", {{"queue", "responder"}},
                              [sq] { return double(sq->size()); });
    metrics_.GetGauge("shewhart_queue_capacity", "Capacity of a bounded queue.", {{"queue", "responder"}})
        ->Set(static_cast<double>(sq->capacity()));
    for (auto& s : shards_) {
      std::lock_guard lock(s->owner_mu);
      s->StartThread();
    }
    responder_running_ = true;
    responder_thread_ = std::thread([this] { RunResponder(); });
  }
  started_ = true;
  return Status::Ok();
}

void Engine::Stop() {
  std::lock_guard lock(stop_mu_);
  if (!started_ || stopped_) return;
  stopped_ = true;
  if (trace_) trace_->Close();  // a source still appending does not wait for a responder that stops
  if (prune_thread_.joinable()) {
    {
      std::lock_guard lock(prune_mu_);
      prune_stop_ = true;
    }
    prune_cv_.notify_all();
    prune_thread_.join();
  }
  if (options_.threaded) {
    for (auto& s : shards_) s->queue.Close();
    for (auto& s : shards_) {
      // A source judging the shard lets go at its next call (the close woke it), and the shard's
      // own thread drains the rest.
      std::unique_lock lock(s->owner_mu);
      s->owner_cv.wait(lock, [&s] { return !s->adopted; });
      if (s->thread.joinable()) s->thread.join();
    }
    shards_joined_.store(true, std::memory_order_release);
    signal_queue_->Close();
    if (responder_thread_.joinable()) responder_thread_.join();
    responder_running_ = false;
    RunCommands();  // any that arrived after the responder's last look
    // After the responder: it commits no more deliveries. Pending ones stay in the store.
    outbox_->Stop();
  }
  // The last genealogy, and the units it adds to open holds; what the store still refuses is lost.
  if (!responder_->Tick().ok()) trace_->Abandon();
  // A clean stop gives back the ids reserved and not published: the next run goes on from here.
  if (options_.threaded) (void)responder_->ReleaseAlarmIds();
}

bool Engine::Enqueue(const Measurement& m, std::size_t& shard) {
  shard = shard_of_[m.characteristic];
  return shards_[shard]->queue.PushQuiet(m);
}

void Engine::Route(const Measurement& m) {
  ShardRunner& r = *shards_[shard_of_[m.characteristic]];
  if (options_.threaded) {
    r.queue.Push(m);
  } else {
    // Inline (replay): the `stale` rule's clock is the input's event time.
    if (m.ts > replay_now_) {
      replay_now_ = m.ts;
      responder_->ClockTick();
      for (auto& s : shards_) {
        if (s->shard.has_stale_rules()) s->shard.Tick(replay_now_, *s);
      }
    }
    r.shard.Process(m, r);
  }
}

CharacteristicSummary Engine::Summary(CharacteristicId characteristic) const {
  return shards_[shard_of_[characteristic]]->shard.Summary(characteristic);
}

CharacteristicSummary Engine::LiveSummary(CharacteristicId characteristic) const {
  const Shard& shard = shards_[shard_of_[characteristic]]->shard;
  const bool running = options_.threaded && !shards_joined_.load(std::memory_order_acquire);
  return running ? shard.Snapshot(characteristic) : shard.Summary(characteristic);
}

std::uint64_t Engine::measurements() const { return measurements_total_->value(); }
std::uint64_t Engine::rejects() const { return reject_count_.load(std::memory_order_relaxed); }
std::uint64_t Engine::signals() const { return signals_total_->value(); }
std::uint64_t Engine::alarms_opened() const { return alarms_total_->value(); }

}  // namespace shewhart::engine
