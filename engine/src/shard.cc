#include "shewhart/engine/shard.h"

#include <algorithm>

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
  CharacteristicId id;
  const CharacteristicSpec& spec;
  rules::IndividualsChart chart;
  std::vector<std::array<Label, kMaxScopeKeys>> scope_ring;
  ShardObserver* observer = nullptr;

  State(CharacteristicId i, const CharacteristicSpec& s)
      : id(i), spec(s), chart(s.chart),
        scope_ring(static_cast<std::size_t>(
            s.chart.mode == rules::IndividualsChartSpec::LimitMode::kPhase1 ? s.chart.phase1_points + 2 : 2)) {}

  void OnPoint(const rules::ChartPoint& p) override { observer->OnPoint(id, p); }
  void OnRuleHit(const rules::RuleHit& h) override {
    Signal s;
    s.characteristic = id;
    s.hit = h;
    const auto& labels = scope_ring[static_cast<std::size_t>(h.last) % scope_ring.size()];
    s.scope_count = static_cast<std::uint8_t>(spec.scope.size());
    for (std::size_t i = 0; i < spec.scope.size(); ++i) s.scope_values[i] = labels[i];
    observer->OnSignal(s);
  }
};

Shard::Shard(const Config& config, std::size_t shard_index, std::size_t shard_count) : config_(config) {
  states_.resize(config.characteristics.size());
  for (std::size_t i = 0; i < config.characteristics.size(); ++i) {
    if (i % shard_count != shard_index) continue;
    states_[i] = std::make_unique<State>(static_cast<CharacteristicId>(i), config.characteristics[i]);
  }
}

Shard::~Shard() = default;

void Shard::Process(const Measurement& m, ShardObserver& observer) {
  State* st = states_[m.characteristic].get();
  SHEWHART_CHECK(st != nullptr);
  const std::int64_t index = st->chart.observations() + 1;
  auto& labels = st->scope_ring[static_cast<std::size_t>(index) % st->scope_ring.size()];
  for (std::size_t i = 0; i < st->spec.scope.size(); ++i) labels[i] = ScopeLabel(m, st->spec.scope[i]);
  st->observer = &observer;
  st->chart.Add(m.value, m.ts, *st);
}

}  // namespace shewhart::engine
