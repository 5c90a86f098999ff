#pragma once
// A shard owns the chart state of its characteristics outright: one thread calls Process,
// nothing locks, nothing allocates per measurement in steady state.

#include <array>
#include <atomic>
#include <memory>
#include <tuple>
#include <mutex>
#include <vector>

#include "shewhart/engine/pipeline/chart_runner.h"
#include "shewhart/engine/config/config.h"
#include "shewhart/engine/metrics/live_metrics.h"
#include "shewhart/engine/model/measurement.h"
#include "shewhart/rules/capability.h"
#include "shewhart/rules/individuals_chart.h"

namespace shewhart::engine {

// A rule hit with the characteristic it belongs to and the values of the characteristic's
// scope keys (Config's `scope`) taken from the measurement of the hit's last implicated point.
// A kRecovered signal says instead that the scope has had the policy's `resolve_after`
// consecutive in-control observations since its last rule hit (only hit.ts and hit.index, the
// observation that completed the run, are meaningful).
struct Signal {
  enum class Kind : std::uint8_t { kRule, kRecovered };
  Kind kind = Kind::kRule;
  CharacteristicId characteristic = 0;
  rules::RuleHit hit{};
  std::array<Label, kMaxScopeKeys> scope_values{};
  std::uint8_t scope_count = 0;
  // station, machine, lot, operator, model of that measurement (for group_by of windowed counts).
  std::array<Label, kSignalLabels> labels{};
  // Measurement::arrival_ns of the measurement whose point raised the hit (0 unknown, and for
  // kRecovered).
  std::int64_t arrival_ns = 0;
  // SteadyNowNs() when the shard raised the signal (0 when arrival_ns is 0): arrival_ns to here
  // is the arrival-to-signal latency, from here to the responder's handling the hand-over.
  std::int64_t raised_ns = 0;
  // The alarm a rule signal was given on the thread that raised it (respond's AlarmDirectory):
  // it joins the open alarm `alarm`, reopens it, or opens it under that new id; kCloses: a
  // recovery the directory has taken (it closed the key's open alarm). kNone: not seen yet.
  enum class Claim : std::uint8_t { kNone, kJoins, kReopens, kOpens, kCloses };
  Claim claim = Claim::kNone;
  std::int64_t alarm = 0;
  // Its record in the signal journal (respond's SignalJournal), written before it was
  // published: 0 when it has none.
  std::uint64_t journal_seq = 0;
};

// Receives what a shard produces, on the shard's thread.
class ShardObserver {
 public:
  virtual ~ShardObserver() = default;
  virtual void OnPoint(CharacteristicId characteristic, const rules::ChartPoint& point) = 0;
  virtual void OnSignal(const Signal& signal) = 0;
  // A Phase I baseline completed: the chart now judges against `limits`, estimated from
  // `points` points (`excluded` more were dropped as beyond the trial limits); `effective` is
  // the event time of the measurement that completed it.
  virtual void OnLimitsEstimated(CharacteristicId characteristic, const LimitValues& limits, EventTime effective,
                                 std::int64_t points, std::int64_t excluded) {
    (void)characteristic, (void)limits, (void)effective, (void)points, (void)excluded;
  }
};

// What a shard knows of one characteristic at the end of a run: the measurements' statistics
// against the spec limits (for capability) and the sigma its limits use.
struct CharacteristicSummary {
  bool has_spec = false;           // variables data with spec.lsl and/or spec.usl
  rules::WindowStats window;       // the capability window's values (has_spec only)
  std::optional<double> sigma_within;
  std::optional<double> sigma_z;  // Laney's, for p and u charts with laney limits
  // ChartRunner::phase1_excluded(): baseline points the Phase I estimate excluded.
  std::optional<std::int64_t> phase1_excluded;
  // Hotelling T^2 only, once its limits are known: the centre vector and the covariance
  // matrix (p x p, row-major) they use.
  std::vector<double> t2_center, t2_covariance;
};

// Capability of a characteristic over its window, from a summary: the indices its spec limits
// define, with intervals at its capability_confidence. FailedPrecondition (naming why) when there
// is nothing to compute yet: no spec limits, no sigma (Phase I not complete), fewer than 2
// values, or a window without spread.
Result<rules::Capability> CapabilityOf(const CharacteristicSpec& spec, const CharacteristicSummary& summary);

// A characteristic's ring of labels has lookback() + 2 slots from its first measurement on (none
// before), so a signal carries the labels of the measurement of its hit's last point even when a
// Phase I baseline is judged at once; past the baseline it keeps 3. Only the points a
// measurement completes count towards resolve_after. A measurement the chart refuses is logged
// (the first 10, then every 1000th), not counted.
class Shard {
 public:
  // Creates state for every characteristic of `config` whose key group (KeyGroupOf its id) goes
  // to this shard: ShardOfGroup(group, shard_count) == shard_index.
  // `config` must outlive the shard.
  Shard(const Config& config, std::size_t shard_index, std::size_t shard_count);
  ~Shard();

  // Feeds one measurement of a characteristic this shard owns. The measurement must carry a
  // value (the decoder guarantees it for variables characteristics). `seen` is the time the
  // `stale` rule counts from: the arrival (wall-clock) time in `run`, the event time in replay.
  void Process(const Measurement& m, ShardObserver& observer, EventTime seen);
  void Process(const Measurement& m, ShardObserver& observer) { Process(m, observer, m.ts); }

  // Judges the `stale` rule of the shard's characteristics at time `now` (same clock as
  // `seen`): a characteristic with `stale: { after: T }` and nothing seen for longer than T
  // (counting from its last measurement, or from the first Tick when it never had one) signals
  // once; its next measurement re-arms the rule.
  void Tick(EventTime now, ShardObserver& observer);
  // True when some characteristic of this shard has a `stale` rule (Tick has work to do).
  bool has_stale_rules() const { return !stale_.empty(); }

  // Starts counting in-control observations of `scope_values` (in the characteristic's scope
  // key order) towards the resolution of an alarm that is open already (reloaded after a
  // restart). Call before the shard's thread starts. No-op without resolve_after.
  void ArmRecovery(CharacteristicId characteristic, const std::vector<std::string>& scope_values);

  // A limits version for a characteristic this shard owns, from any thread: its measurements
  // with event time at or after `effective` are judged against `limits` (applied at the first
  // such measurement; while a Phase I baseline is being collected, once it completes).
  // Versions are applied in order of effective time; one whose time has passed applies to the
  // next measurement.
  void AddLimitVersion(CharacteristicId characteristic, const LimitValues& limits, EventTime effective);

  // The summary of a characteristic this shard owns. Only while the shard's thread is not
  // running (inline mode, or after the engine stopped).
  CharacteristicSummary Summary(CharacteristicId characteristic) const;
  // The same, from any thread while the shard runs: as the shard last published it (after every
  // 16th value of a characteristic, and its first 100).
  CharacteristicSummary Snapshot(CharacteristicId characteristic) const;
  // The capability window of a characteristic this shard owns, published after every value for
  // readers on any thread (/metrics); null for one without a window (attribute and T^2 charts,
  // no spec limits). Valid as long as the shard.
  const PublishedWindow* Window(CharacteristicId characteristic) const;

 private:
  struct State;
  const Config& config_;
  std::vector<std::unique_ptr<State>> states_;  // indexed by characteristic id (null if not ours)
  std::vector<State*> stale_;                   // the states with a `stale` rule
  // Limits versions handed over by other threads (AddLimitVersion), taken by Process.
  std::mutex inbox_mu_;
  std::vector<std::tuple<CharacteristicId, LimitValues, EventTime>> inbox_;
  std::atomic<bool> inbox_full_{false};
};

}  // namespace shewhart::engine
