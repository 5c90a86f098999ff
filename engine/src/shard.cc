#include "shewhart/engine/shard.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "shewhart/engine/chart_runner.h"

namespace shewhart::engine {

namespace {
const Label& ScopeLabel(const Measurement& m, ScopeKey k) {
  switch (k) {
    case ScopeKey::kStation: return m.station;
    case ScopeKey::kMachine: return m.machine;
    case ScopeKey::kLot: return m.lot;
    case ScopeKey::kOperator: return m.op;
  }
  return m.station;
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

  CharacteristicId id;
  const CharacteristicSpec& spec;
  std::unique_ptr<ChartRunner> chart;
  int resolve_after;  // 0: alarms are not resolved automatically
  std::vector<ScopeValues> scope_ring;
  std::vector<Recovery> recovering;  // grows only when a new scope signals
  std::int64_t last_hit_index = 0;
  std::uint64_t refused = 0;  // measurements the chart could not take
  std::optional<rules::CapabilityAccumulator> capability;  // variables data with spec limits
  ShardObserver* observer = nullptr;

  State(CharacteristicId i, const CharacteristicSpec& s, int resolve)
      : id(i), spec(s), chart(MakeChartRunner(s)), resolve_after(resolve), scope_ring(chart->lookback() + 2) {
    if (!IsAttribute(s.type) && (s.chart.spec.lsl || s.chart.spec.usl)) capability.emplace(s.chart.spec);
  }

  void OnPoint(const rules::ChartPoint& p) override { observer->OnPoint(id, p); }
  void OnRuleHit(const rules::RuleHit& h) override {
    Signal s;
    s.characteristic = id;
    s.hit = h;
    const auto& labels = scope_ring[static_cast<std::size_t>(h.last) % scope_ring.size()];
    s.scope_count = static_cast<std::uint8_t>(spec.scope.size());
    for (std::size_t i = 0; i < spec.scope.size(); ++i) s.scope_values[i] = labels[i];
    last_hit_index = std::max(last_hit_index, h.index);
    if (resolve_after > 0) {
      Recovery* r = Find(s.scope_values);
      if (!r) r = &recovering.emplace_back(Recovery{s.scope_values, 0});
      r->in_control = 0;
    }
    observer->OnSignal(s);
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
  void AfterObservation(std::int64_t index, EventTime ts, const ScopeValues& scope) {
    if (recovering.empty() || last_hit_index >= index) return;
    Recovery* r = Find(scope);
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

Shard::Shard(const Config& config, std::size_t shard_index, std::size_t shard_count) : config_(config) {
  states_.resize(config.characteristics.size());
  for (std::size_t i = 0; i < config.characteristics.size(); ++i) {
    if (i % shard_count != shard_index) continue;
    states_[i] = std::make_unique<State>(static_cast<CharacteristicId>(i), config.characteristics[i],
                                         config.ResponseFor(i).resolve_after);
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
  const auto center = st->chart->t2_center();
  const auto covariance = st->chart->t2_covariance();
  s.t2_center.assign(center.begin(), center.end());
  s.t2_covariance.assign(covariance.begin(), covariance.end());
  return s;
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

void Shard::Process(const Measurement& m, ShardObserver& observer) {
  State* st = states_[m.characteristic].get();
  SHEWHART_CHECK(st != nullptr);
  // The labels go with the point this measurement belongs to (a measurement that starts a new
  // subgroup must not relabel the subgroup it closes).
  const std::int64_t index = st->chart->IndexOf(m);
  auto& labels = st->scope_ring[static_cast<std::size_t>(index) % st->scope_ring.size()];
  for (std::size_t i = 0; i < st->spec.scope.size(); ++i) labels[i] = ScopeLabel(m, st->spec.scope[i]);
  st->observer = &observer;
  if (st->capability) st->capability->Add(m.value);
  const bool judged_at_once = st->chart->judging();  // phase II: judged within Add
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
  // The points this measurement completed (none while a subgroup fills; with a subgroup
  // closed by a new label, the closed one) count towards recovery.
  if (!judged_at_once) return;
  for (std::int64_t done = first_completed; done < st->chart->next_index(); ++done) {
    st->AfterObservation(done, m.ts, st->scope_ring[static_cast<std::size_t>(done) % st->scope_ring.size()]);
  }
}

}  // namespace shewhart::engine
