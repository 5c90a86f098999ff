#include "shewhart/engine/pipeline/shard.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>

#include "shewhart/engine/model/key_group.h"
#include "shewhart/engine/pipeline/chart_runner.h"

namespace shewhart::engine {

namespace {
// Where a scope key's label is among a signal's labels (Signal::labels: station, machine, lot,
// operator, model).
std::size_t LabelIndex(ScopeKey k) {
  switch (k) {
    case ScopeKey::kStation: return 0;
    case ScopeKey::kMachine: return 1;
    case ScopeKey::kLot: return 2;
    case ScopeKey::kOperator: return 3;
    case ScopeKey::kModel: return 4;
  }
  return 0;
}
}  // namespace

// One characteristic: its chart and a ring of the scope labels of recent observations, deep
// enough to reach back over a Phase I baseline (whose points are judged when it completes).
struct Shard::State : rules::ChartObserver {
  using ScopeValues = std::array<Label, kMaxScopeKeys>;
  // A scope that has signalled and not yet recovered: its run of in-control observations.
  struct Recovery {
    ScopeValues scope;
    int in_control = 0;
  };
  using SignalLabels = std::array<Label, kSignalLabels>;

  CharacteristicId id;
  const CharacteristicSpec& spec;
  std::unique_ptr<ChartRunner> chart;
  int resolve_after;  // 0: alarms are not resolved automatically
  // The labels of the newest lookback() + 2 points, by index modulo its size; empty until the
  // first measurement, resized (FitLabels) when lookback() changes: a characteristic that has
  // seen nothing holds none, one past its Phase I baseline holds 3.
  std::vector<SignalLabels> label_ring;
  std::vector<Recovery> recovering;  // grows only when a new scope signals
  std::int64_t last_hit_index = 0;
  std::int64_t arrival_ns = 0;  // of the measurement being added (its hits carry it)
  std::uint64_t refused = 0;  // measurements the chart could not take
  std::int64_t discarded_baselines = 0;  // as last logged (ChartRunner::discarded_baselines)
  std::optional<rules::CapabilityWindow> capability;  // variables data with spec limits
  std::unique_ptr<PublishedWindow> published;  // with `capability`: its stats, for /metrics
  // What Snapshot() returns, published by the shard's thread.
  mutable std::mutex snapshot_mu;
  CharacteristicSummary snapshot;
  std::uint64_t values = 0;
  // Rule `stale`: when the characteristic was last seen (unset before its first measurement
  // and the first Tick), and whether it has signalled since.
  std::optional<EventTime> last_seen;
  // Limits versions not yet applied, by effective time.
  std::vector<std::pair<EventTime, LimitValues>> pending_limits;
  std::int64_t last_index = 0;
  bool stale_fired = false;
  ShardObserver* observer = nullptr;

  State(CharacteristicId i, const CharacteristicSpec& s, int resolve)
      : id(i), spec(s), chart(MakeChartRunner(s)), resolve_after(resolve) {
    if (!IsAttribute(s.type) && (s.chart.spec.lsl || s.chart.spec.usl)) {
      capability.emplace(s.chart.spec, s.capability_window);
      published = std::make_unique<PublishedWindow>();
    }
  }

  void OnPoint(const rules::ChartPoint& p) override { observer->OnPoint(id, p); }
  void OnRuleHit(const rules::RuleHit& h) override {
    Signal s;
    s.characteristic = id;
    s.hit = h;
    // A `stale` hit of a characteristic never measured has no point, and no labels.
    if (!label_ring.empty()) s.labels = label_ring[static_cast<std::size_t>(h.last) % label_ring.size()];
    s.scope_count = static_cast<std::uint8_t>(spec.scope.size());
    s.scope_values = ScopeOf(s.labels);
    s.arrival_ns = arrival_ns;
    if (arrival_ns != 0) s.raised_ns = SteadyNowNs();
    last_hit_index = std::max(last_hit_index, h.index);
    if (resolve_after > 0) {
      Recovery* r = Find(s.scope_values);
      if (!r) r = &recovering.emplace_back(Recovery{s.scope_values, 0});
      r->in_control = 0;
    }
    observer->OnSignal(s);
  }

  // The scope values (in the order of spec.scope) among a point's labels.
  ScopeValues ScopeOf(const SignalLabels& labels) const {
    ScopeValues scope{};
    for (std::size_t i = 0; i < spec.scope.size(); ++i) scope[i] = labels[LabelIndex(spec.scope[i])];
    return scope;
  }

  // Sizes the label ring to lookback() + 2 before the labels of a new measurement go in,
  // keeping those of the newest points (up to last_index) that the new size holds.
  void FitLabels() {
    const std::size_t want = chart->lookback() + 2;
    const std::size_t old = label_ring.size();
    if (old == want) return;
    std::vector<SignalLabels> ring(want);
    const std::int64_t keep = static_cast<std::int64_t>(std::min(old, want));
    for (std::int64_t i = std::max<std::int64_t>(1, last_index - keep + 1); old > 0 && i <= last_index; ++i) {
      ring[static_cast<std::size_t>(i) % want] = label_ring[static_cast<std::size_t>(i) % old];
    }
    label_ring.swap(ring);
  }

  Recovery* Find(const ScopeValues& scope) {
    for (auto& r : recovering) {
      bool same = true;
      for (std::size_t i = 0; i < spec.scope.size() && same; ++i) same = r.scope[i].view() == scope[i].view();
      if (same) return &r;
    }
    return nullptr;
  }

  // Called after observation `index` was judged (phase II): counts it towards the recovery of
  // its scope when no rule fired on it.
  void AfterObservation(std::int64_t index, EventTime ts, const SignalLabels& labels) {
    if (recovering.empty() || last_hit_index >= index) return;
    Recovery* r = Find(ScopeOf(labels));
    if (!r || ++r->in_control < resolve_after) return;
    Signal s;
    s.kind = Signal::Kind::kRecovered;
    s.characteristic = id;
    s.hit.index = s.hit.first = s.hit.last = index;
    s.hit.ts = s.hit.window_start = ts;
    s.scope_values = r->scope;
    s.scope_count = static_cast<std::uint8_t>(spec.scope.size());
    *r = recovering.back();
    recovering.pop_back();
    observer->OnSignal(s);
  }
};

Result<rules::Capability> CapabilityOf(const CharacteristicSpec& spec, const CharacteristicSummary& summary) {
  if (!summary.has_spec) return FailedPrecondition("no spec limits (capability needs spec.lsl or spec.usl)");
  if (!summary.sigma_within) return FailedPrecondition("no sigma yet (the Phase I baseline is not complete)");
  if (summary.window.n < 2) {
    return FailedPrecondition("fewer than 2 values in the window (" + std::to_string(summary.window.n) + ")");
  }
  rules::CapabilitySpec cap;
  cap.spec = spec.chart.spec;
  cap.confidence_level = spec.capability_confidence;
  return rules::ComputeCapability(cap, summary.window, *summary.sigma_within);
}

Shard::Shard(const Config& config, std::size_t shard_index, std::size_t shard_count) : config_(config) {
  states_.resize(config.characteristics.size());
  for (std::size_t i = 0; i < config.characteristics.size(); ++i) {
    if (ShardOfGroup(KeyGroupOf(config.characteristics[i].id), shard_count) != shard_index) continue;
    states_[i] = std::make_unique<State>(static_cast<CharacteristicId>(i), config.characteristics[i],
                                         config.ResponseFor(i).resolve_after);
    if (config.characteristics[i].stale_after) stale_.push_back(states_[i].get());
  }
}

Shard::~Shard() = default;

CharacteristicSummary Shard::Summary(CharacteristicId characteristic) const {
  const State* st = states_[characteristic].get();
  SHEWHART_CHECK(st != nullptr);
  CharacteristicSummary s;
  s.has_spec = st->capability.has_value();
  if (s.has_spec) s.window = st->capability->stats();
  s.sigma_within = st->chart->sigma_within();
  s.sigma_z = st->chart->sigma_z();
  s.phase1_excluded = st->chart->phase1_excluded();
  const auto center = st->chart->t2_center();
  const auto covariance = st->chart->t2_covariance();
  s.t2_center.assign(center.begin(), center.end());
  s.t2_covariance.assign(covariance.begin(), covariance.end());
  return s;
}

const PublishedWindow* Shard::Window(CharacteristicId characteristic) const {
  const State* st = states_[characteristic].get();
  SHEWHART_CHECK(st != nullptr);
  return st->published.get();
}

CharacteristicSummary Shard::Snapshot(CharacteristicId characteristic) const {
  const State* st = states_[characteristic].get();
  SHEWHART_CHECK(st != nullptr);
  std::lock_guard lock(st->snapshot_mu);
  return st->snapshot;
}

void Shard::ArmRecovery(CharacteristicId characteristic, const std::vector<std::string>& scope_values) {
  State* st = states_[characteristic].get();
  SHEWHART_CHECK(st != nullptr);
  if (st->resolve_after == 0) return;
  State::ScopeValues scope{};
  for (std::size_t i = 0; i < scope_values.size() && i < scope.size(); ++i) {
    if (!scope[i].Assign(scope_values[i])) return;  // cannot match any measurement's label
  }
  if (!st->Find(scope)) st->recovering.push_back(State::Recovery{scope, 0});
}

void Shard::Tick(EventTime now, ShardObserver& observer) {
  for (State* st : stale_) {
    if (!st->last_seen) st->last_seen = now;  // counting starts with the engine
    if (st->stale_fired || now - *st->last_seen <= *st->spec.stale_after) continue;
    st->stale_fired = true;
    st->observer = &observer;
    st->arrival_ns = 0;  // no measurement raised it
    // The hit names the last point plotted (0 when none was) and the scope of its measurement;
    // its suspect window starts when the stream was last seen.
    const std::int64_t index = st->last_index;
    st->OnRuleHit(rules::RuleHit{rules::RuleKind::kStale, PrimaryChart(st->spec.type), index, index, index, now,
                                 *st->last_seen, 0.0});
  }
}

void Shard::AddLimitVersion(CharacteristicId characteristic, const LimitValues& limits, EventTime effective) {
  SHEWHART_CHECK(characteristic < states_.size() && states_[characteristic] != nullptr);
  std::lock_guard lock(inbox_mu_);
  inbox_.emplace_back(characteristic, limits, effective);
  inbox_full_.store(true, std::memory_order_release);
}

void Shard::Process(const Measurement& m, ShardObserver& observer, EventTime seen) {
  State* st = states_[m.characteristic].get();
  SHEWHART_CHECK(st != nullptr);
  if (inbox_full_.load(std::memory_order_acquire)) {
    std::lock_guard lock(inbox_mu_);
    for (const auto& [id, limits, effective] : inbox_) {
      auto& pending = states_[id]->pending_limits;
      pending.emplace_back(effective, limits);
      std::stable_sort(pending.begin(), pending.end(),
                       [](const auto& a, const auto& b) { return a.first < b.first; });
    }
    inbox_.clear();
    inbox_full_.store(false, std::memory_order_release);
  }
  // The newest version in force at this measurement's event time (older ones are superseded).
  if (!st->pending_limits.empty() && st->pending_limits.front().first <= m.ts &&
      (st->chart->judging() || st->chart->next_index() == 1)) {
    std::size_t due = 0;
    while (due < st->pending_limits.size() && st->pending_limits[due].first <= m.ts) ++due;
    st->chart->ApplyLimits(st->pending_limits[due - 1].second);
    st->pending_limits.erase(st->pending_limits.begin(), st->pending_limits.begin() + static_cast<std::ptrdiff_t>(due));
  }
  if (st->spec.stale_after) {
    st->last_seen = seen;
    st->stale_fired = false;
  }
  // The labels go with the point this measurement belongs to (a measurement that starts a new
  // subgroup must not relabel the subgroup it closes).
  const std::int64_t index = st->chart->IndexOf(m);
  st->FitLabels();
  st->last_index = index;
  st->label_ring[static_cast<std::size_t>(index) % st->label_ring.size()] = {m.station, m.machine, m.lot, m.op,
                                                                             m.model};
  st->observer = &observer;
  st->arrival_ns = m.arrival_ns;
  if (st->capability) st->capability->Add(m.value);
  const bool publish = ++st->values <= 100 || st->values % 16 == 0;
  const bool judged_at_once = st->chart->judging();  // phase II: judged within Add
  const std::size_t baseline_points = st->chart->lookback();
  const std::int64_t first_completed = st->chart->next_index();
  Status added = st->chart->Add(m, *st);
  if (!added.ok()) {
    // The decoder cannot know a chart's state (e.g. the sample size an np chart fixed).
    if (++st->refused <= 10 || st->refused % 1000 == 0) {
      spdlog::warn("characteristic '{}': measurement not charted ({} so far): {}", st->spec.id, st->refused,
                   added.message());
    }
    return;
  }
  if (const std::int64_t discarded = st->chart->discarded_baselines(); discarded > st->discarded_baselines) {
    st->discarded_baselines = discarded;
    spdlog::warn("characteristic '{}': its Phase I baseline of {} values has no variation (sigma 0); discarded, "
                 "collecting a new one ({} discarded so far)",
                 st->spec.id, baseline_points, discarded);
  }
  if (!judged_at_once && st->chart->judging()) {
    // A Phase I baseline completed: its estimate is a limits version.
    if (auto limits = st->chart->limits()) {
      const std::int64_t excluded = st->chart->phase1_excluded().value_or(0);
      observer.OnLimitsEstimated(m.characteristic, *limits, m.ts, static_cast<std::int64_t>(baseline_points) - excluded,
                                 excluded);
    }
  }
  if (st->published) {
    // After Add: a completed Phase I baseline has given the chart its sigma.
    st->published->Publish(st->capability->stats(),
                           st->chart->sigma_within().value_or(std::numeric_limits<double>::quiet_NaN()));
  }
  if (publish) {
    CharacteristicSummary s = Summary(m.characteristic);
    std::lock_guard lock(st->snapshot_mu);
    st->snapshot = s;
  }
  // The points this measurement completed (none while a subgroup fills; with a subgroup
  // closed by a new label, the closed one) count towards recovery.
  if (!judged_at_once) return;
  for (std::int64_t done = first_completed; done < st->chart->next_index(); ++done) {
    st->AfterObservation(done, m.ts, st->label_ring[static_cast<std::size_t>(done) % st->label_ring.size()]);
  }
}

}  // namespace shewhart::engine
