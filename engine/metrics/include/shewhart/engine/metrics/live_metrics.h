#pragma once
// The engine's series of /metrics that follow the process rather than the engine: per
// characteristic (its charts' last point, spec limits, capability, signals by rule) and per
// station (units that passed it and units of it taken into holds: first-pass yield).
// docs/OPERATIONS.md lists every series and what it means. No series carries a serial, a unit
// or a lot (cardinality).
//
// Threads: a characteristic's chart values are written by its shard's thread (OnPoint) and its
// capability window by the same thread (PublishedWindow); its signal counters by the responder.
// Station series are written by the responder only. /metrics reads them all from the HTTP thread
// through the registry, without a lock: relaxed atomics, and a sequence lock for the capability
// window (whose fields must be read together).

#include <array>
#include <atomic>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "shewhart/engine/config/config.h"
#include "shewhart/engine/metrics/metrics.h"
#include "shewhart/rules/capability.h"
#include "shewhart/rules/types.h"

namespace shewhart::engine {

// The capability window of one characteristic as its shard last published it. One writer (the
// shard's thread) calls Publish after each value; any thread may Read at any time without
// blocking the writer: a read that overlapped a write is retried (a sequence lock).
class PublishedWindow {
 public:
  // `sigma_within` NaN while the chart has none (Phase I not complete).
  void Publish(const rules::WindowStats& w, double sigma_within);
  void Read(rules::WindowStats& w, double& sigma_within) const;

 private:
  std::atomic<std::uint64_t> seq_{0};  // odd while a write is in progress
  std::atomic<std::int64_t> n_{0}, below_{0}, above_{0};
  std::atomic<double> mean_{0}, sd_{0};
  std::atomic<double> sigma_{std::numeric_limits<double>::quiet_NaN()};
};

// The charts a characteristic of `type` plots, primary first (individuals: individuals and mr;
// x-bar-R: xbar and r; x-bar-S: xbar and s; the others one).
std::vector<rules::ChartKind> ChartsOf(ChartType type);

// The rules that can signal on characteristic `spec` as configured (nelson.1 always; spec.lsl /
// spec.usl with those limits; the run rules of its primary and companion chart; threshold,
// rate, stale when configured).
std::vector<rules::RuleKind> RulesOf(const CharacteristicSpec& spec);

// The series of one exported characteristic, registered at construction:
//   shewhart_chart_value / _cl / _ucl / _lcl {characteristic, chart}   gauges, NaN until a point
//   shewhart_chart_points_total {characteristic, chart}                counter
//   shewhart_spec_limit {characteristic, limit = lsl | target | usl}   gauges, those configured
//   shewhart_capability {characteristic, index}                        callback gauges (window)
//   shewhart_capability_window_values {characteristic}                 callback gauge (window)
//   shewhart_signals_total {characteristic, rule}                      counters, RulesOf(spec)
// Label strings are built once, here.
class CharacteristicMetrics {
 public:
  // `window` (may be null: attribute and T^2 charts, no spec limits) must outlive `registry`'s
  // renders, as must `spec` and this object (the registry reads its chart cells).
  CharacteristicMetrics(MetricsRegistry& registry, const CharacteristicSpec& spec, const PublishedWindow* window);
  CharacteristicMetrics(const CharacteristicMetrics&) = delete;
  CharacteristicMetrics& operator=(const CharacteristicMetrics&) = delete;

  // A point of one of the characteristic's charts. The shard's thread; a few relaxed stores
  // to this characteristic's own cache lines.
  void OnPoint(const rules::ChartPoint& p) {
    for (std::size_t i = 0; i < chart_count_; ++i) {
      ChartCells& c = charts_[i];
      if (c.kind != p.chart) continue;
      c.value.Set(p.value);
      c.cl.Set(p.cl);
      c.ucl.Set(p.ucl);
      c.lcl.Set(p.lcl);
      c.points.Inc();
      return;
    }
  }
  // A signal of `rule`. The responder's thread. A rule RulesOf did not foresee is registered on
  // its first signal (the registry's mutex, once).
  void OnSignal(rules::RuleKind rule);

 private:
  // One chart's series, on a cache line of their own: shards write the charts of neighbouring
  // characteristics from different threads.
  struct alignas(64) ChartCells {
    Gauge value, cl, ucl, lcl;
    Counter points;
    rules::ChartKind kind{};
  };
  Counter* SignalCounter(rules::RuleKind rule);

  MetricsRegistry& registry_;
  const CharacteristicSpec& spec_;
  std::array<ChartCells, 2> charts_{};
  std::size_t chart_count_ = 0;
  std::array<Counter*, rules::kRuleKindCount> signals_{};
};

// First-pass yield by station (docs/OPERATIONS.md has the definition):
//   shewhart_station_units_total {station}        units that passed the station
//   shewhart_station_units_held_total {station}   of those, units taken into a hold of it
//   shewhart_metrics_station_passes_omitted_total  passes at stations beyond the cap
// Responder thread only (the registry is called for a station's first pass).
class StationMetrics {
 public:
  StationMetrics(MetricsRegistry& registry, std::size_t max_stations);

  // A genealogy record the responder committed: `unit` at `station`. Consecutive records of one
  // unit at one station are one pass (its unit event and the measurements taken on it there).
  void OnRecord(std::string_view station, std::string_view unit);
  // `n` units that were on no hold before were taken into a hold whose scope names `station`.
  void OnHeld(std::string_view station, std::int64_t n);

 private:
  struct Entry {
    std::string last_unit;  // the unit of the station's newest record
    Counter* passes = nullptr;
    Counter* held = nullptr;
  };
  // The station's entry, registered on first use; null beyond the cap (and for "").
  Entry* Find(std::string_view station);

  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  MetricsRegistry& registry_;
  std::size_t max_stations_;
  std::unordered_map<std::string, Entry, Hash, std::equal_to<>> stations_;
  Counter* omitted_;
};

}  // namespace shewhart::engine
