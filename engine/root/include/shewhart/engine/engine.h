#pragma once
// The engine: the composition root. It builds the subsystems, wires them and runs their threads.
//
//   source threads ──decode──▶ IngestSink (SourceSink, one per source) ──id % shards──▶ shard queue
//   shard threads: Shard::Process ──signals──▶ responder queue
//   responder thread: alarms, holds, actions (Responder); commits the TraceWriter's genealogy
//     every 100 ms and before each batch of signals
//   outbox lanes (one thread per durable hook), the prune thread, the store's checkpointer
//
// Queues: one BoundedQueue<Measurement> per shard, engine.queue_capacity items (rounded up to a
// power of two), which also carries the `stale` rule's ticks (kTickCharacteristic; dropped when
// the queue is full); one BoundedQueue<Signal> of 4096 to the responder (a full one blocks the
// shard). The responder takes up to 64 signals per unit of work; a unit the store refuses is
// tried again after 50 ms, doubling to 1 s, taking no new signal meanwhile; once the engine is
// stopping, three failures lose the batch (shewhart_signals_lost_total).
//
// In inline mode (replay, tests) there are no threads: a measurement is processed to its
// alarms and holds before OnMeasurement returns, which makes output deterministic.

#include <atomic>
#include <functional>
#include <climits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <condition_variable>
#include <thread>
#include <vector>

#include "shewhart/engine/api/engine_api.h"
#include "shewhart/engine/pipeline/bounded_queue.h"
#include "shewhart/engine/config/config.h"
#include "shewhart/engine/ingest/decoder.h"
#include "shewhart/engine/model/json.h"
#include "shewhart/engine/metrics/live_metrics.h"
#include "shewhart/engine/metrics/metrics.h"
#include "shewhart/engine/hooks/alarm_sink.h"
#include "shewhart/engine/hooks/outbox.h"
#include "shewhart/engine/pipeline/shard.h"
#include "shewhart/engine/ingest/source.h"
#include "shewhart/engine/model/api_response.h"
#include "shewhart/engine/respond/engine_listener.h"
#include "shewhart/engine/respond/responder.h"
#include "shewhart/engine/respond/signal_journal.h"
#include "shewhart/engine/store/store.h"
#include "shewhart/engine/trace/trace_writer.h"

namespace shewhart::engine {

struct EngineOptions {
  bool threaded = true;                       // false: inline mode
  EngineListener* listener = nullptr;         // optional; must outlive the engine
  bool want_points = false;                   // call listener->OnPoint (replay)
  std::map<std::string, AlarmSink*> sinks;    // hook name → sink (e.g. zmq_pub hooks)
  std::string store_path;                     // overrides config.store_path when set
  // The outbox's transport (threaded mode; webhook, exec and alertmanager hooks); null: the real one
  // (libcurl, posix_spawn). Must outlive the engine.
  DeliveryTransport* transport = nullptr;
  // Called by the responder, on its thread, for each rule signal whose measurement has an
  // arrival time: nanoseconds from arrival to the shard raising the signal (the value the
  // histogram shewhart_arrival_to_signal_seconds observes), and from arrival to the responder
  // handling it (shewhart_arrival_to_response_seconds). Must be cheap and must not throw.
  std::function<void(std::int64_t signal_ns, std::int64_t response_ns)> on_signal_latency;
};

class Engine {
 public:
  // `config` must have loaded without problems and outlive the engine.
  Engine(const Config& config, EngineOptions options);
  ~Engine();

  // Opens the store, reloads open alarms, starts the threads (threaded mode).
  Status Start();
  // Drains every queue, flushes genealogy, joins the threads. Idempotent. Sources must be
  // stopped first.
  void Stop();

  // An ingest sink bound to a source name (its metrics label). Owned by the engine; valid
  // until the engine is destroyed. Call from one thread. With engine.judge: source, the sink of
  // the i-th zmq source of the config judges shard i on the source's thread once the source
  // attaches (IngestSink::Attach; threaded mode, after Start).
  IngestSink& RegisterSource(const std::string& name);
  // Makes `status` of a source visible on /health.
  void RegisterHealth(const std::string& name, std::function<Status()> status);

  const Config& config() const { return config_; }
  const CharacteristicIndex& index() const { return index_; }
  MetricsRegistry& metrics() { return metrics_; }
  Store& store() { return *store_; }

  // Health as JSON: {"status":"ok"|"degraded","checks":[...]}; `healthy` set accordingly.
  std::string HealthJson(bool& healthy) const;
  using ApiResponse = engine::ApiResponse;
  // The HTTP API (api/engine_api.h lists the endpoints): 503 before Start().
  ApiResponse HandleApi(const std::string& method, const std::string& target, const std::string& query,
                        const std::string& body = "", const std::string& authorization = "");

  // A characteristic's summary (capability statistics, sigma). Only in inline mode or after
  // Stop().
  CharacteristicSummary Summary(CharacteristicId characteristic) const;

  // Statistics for summaries.
  std::uint64_t measurements() const;
  std::uint64_t rejects() const;
  std::uint64_t signals() const;
  std::uint64_t alarms_opened() const;

 private:
  class SourceSink;
  struct ShardRunner;

  // Start's steps: the store (opened, locked, config audited), its checkpointer thread, the
  // per-characteristic series of /metrics (after the shards exist).
  Status OpenStore();
  void StartCheckpointer();
  void ExportCharacteristicMetrics();
  // The responder thread's loop (until its queue is closed and drained).
  void RunResponder();
  // What the responder uses (the store, trace writer and outbox must exist).
  ResponderParts ResponderWiring();
  // What the API uses (the responder must exist).
  ApiParts ApiWiring(std::map<std::string, std::string> tokens);
  void Route(const Measurement& m);
  // Threaded mode: queues `m` for its shard (blocking while the queue is full) without waking
  // the shard, and sets `shard` to its index: the caller wakes it (BoundedQueue::Wake). False
  // when the queue is closed (the engine stops): nothing was queued.
  bool Enqueue(const Measurement& m, std::size_t& shard);
  // Runs `fn` on the responder's thread (directly when there is none: inline mode, or not
  // running) and returns its answer; 503 when the responder does not take it within 10 s.
  ApiResponse OnResponder(std::function<ApiResponse()> fn);
  void RunCommands();
  // A characteristic's summary from any thread (the shard's published snapshot when threaded).
  CharacteristicSummary LiveSummary(CharacteristicId characteristic) const;
  // Inline mode: one signal as a unit of work (tried three times; then lost, counted and logged).
  void HandleSignal(const Signal& s);
  // Responder thread: a batch of signals as one unit of work, tried again with backoff until
  // the store takes it (or the engine stops); meanwhile the queues fill and sources wait.
  void HandleBatchUntilStored(const Signal* signals, std::size_t n);
  // Records a limits version a shard estimated (store, listener).
  void RecordLimits(CharacteristicId characteristic, const LimitValues& limits, EventTime effective,
                    std::int64_t points, std::int64_t excluded);
  // Appends an audit record (actor "engine", wall-clock time) from any thread; a failure is
  // logged, counted (shewhart_audit_failures_total) and returned (inside the responder's unit
  // of work it rolls the unit back).
  Status Audit(std::string kind, std::string subject, const Json& body, const std::string& actor = "engine");
  // Deletes what the retention settings say is old (Store::Prune), then audits it
  // (store.pruned) and counts it. Any thread.
  void PruneNow();
  // Hands the limits versions recorded in the store after `limits_seen_` to the shards
  // (at Start: all of them; later: those another process, `shewhart limits recalc`, recorded).
  Status LoadLimitVersions(bool skip_phase1);

  const Config& config_;
  EngineOptions options_;
  CharacteristicIndex index_;
  MetricsRegistry metrics_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<TraceWriter> trace_;
  std::unique_ptr<Responder> responder_;
  std::unique_ptr<EngineApi> api_;  // after Start
  std::unique_ptr<Outbox> outbox_;  // threaded mode only: replay runs no outside actions
  // Threaded mode with a file store: the signal journal beside it (STORE-signals), written by
  // the judging threads before they publish.
  std::unique_ptr<SignalJournal> journal_;
  Counter* journal_failures_ = nullptr;
  // Opens the journal and stores what a run that died published and did not store.
  Status OpenJournal();
  std::vector<std::unique_ptr<ShardRunner>> shards_;
  // The shard of each characteristic (by id): ShardOfGroup(KeyGroupOf(its id), shards). Set by
  // Start, read-only after.
  std::vector<std::uint32_t> shard_of_;
  std::vector<std::unique_ptr<SourceSink>> sources_;
  std::vector<std::pair<std::string, std::function<Status()>>> health_;
  std::unique_ptr<BoundedQueue<Signal>> signal_queue_;
  std::thread responder_thread_;
  // Retention (threaded mode): prunes the store at start and every config_.prune_every.
  std::thread prune_thread_;
  std::mutex prune_mu_;
  std::condition_variable prune_cv_;
  bool prune_stop_ = false;
  // The per-characteristic series of /metrics (live_metrics.h) of the first
  // config_.metrics_max_characteristics characteristics, indexed by id; null for the others.
  // Filled by Start before any shard runs; read by shard threads (points) and the responder
  // (signals).
  std::vector<std::unique_ptr<CharacteristicMetrics>> characteristic_metrics_;
  Counter* measurements_total_ = nullptr;
  Counter* signals_total_ = nullptr;
  Histogram* arrival_to_signal_ = nullptr;
  Histogram* arrival_to_response_ = nullptr;
  Counter* alarms_total_ = nullptr;
  Counter* audit_failures_total_ = nullptr;
  Counter* signals_lost_ = nullptr;
  // Replay's plausibility clock: the latest event time accepted (kNoTime before the first).
  std::atomic<std::int64_t> accepted_clock_{INT64_MIN};
  // The responder's last unit of work: failing while the store refuses writes (/health).
  mutable std::mutex store_health_mu_;
  Status store_health_;
  std::atomic<std::uint64_t> reject_count_{0};
  // late_tolerance: the newest event time accepted per characteristic (kNoTime: none yet).
  static constexpr std::int64_t kNoTime = INT64_MIN;
  std::unique_ptr<std::atomic<std::int64_t>[]> newest_ts_;
  EventTime replay_now_{};  // inline mode: the newest event time routed
  std::atomic<std::int64_t> newest_event_{0};  // engine.clock: event -- newest event time accepted (us)
  std::mutex commands_mu_;
  std::vector<std::function<void()>> commands_;  // for the responder thread
  std::atomic<bool> responder_running_{false};
  std::int64_t limits_seen_ = 0;  // the newest limits version id handed to the shards
  std::mutex limits_mu_;          // orders RecordLimits (shard threads)
  std::atomic<bool> shards_joined_{false};  // threaded: after Stop() joined the shard threads
  bool started_ = false;
  bool stopped_ = false;
  mutable std::mutex stop_mu_;
};

}  // namespace shewhart::engine
