#pragma once
// A ChartRunner adapts one characteristic's chart to measurements: it picks the number the
// chart plots (a value, or a count with its sample size), keeps the Phase I baseline where the
// chart needs centre and sigma estimated first, and applies the spec-limit rules to
// individual values. One per characteristic, owned by its shard; not thread-safe; Add()
// does not allocate once the baseline is complete.

#include <memory>
#include <optional>
#include <span>

#include "shewhart/engine/config/config.h"
#include "shewhart/engine/model/measurement.h"
#include "shewhart/rules/types.h"

namespace shewhart::engine {

// The parameters a limits version sets: the process centre and within sigma of a variables
// chart, or the centre (p-bar, c-bar, u-bar) of an attribute chart (sigma: Laney's sigma_z with
// limit_type laney, else 0).
struct LimitValues {
  double center = 0;
  double sigma = 0;
};

class ChartRunner {
 public:
  virtual ~ChartRunner() = default;
  // Feeds one measurement. The measurement carries what the chart needs (a value for
  // variables charts, a count and n for attribute charts, p values for T^2: the decoder
  // guarantees it).
  // Returns InvalidArgument, changing nothing, for a measurement the chart cannot take (an np
  // or c chart given a different sample size than its first; a subgroup of the wrong size,
  // whose values are dropped). A T^2 chart returns FailedPrecondition when the measurement
  // completed a Phase I baseline whose covariance is singular (the baseline is discarded and
  // the next measurement starts a new one; its indexes are not reused).
  virtual Status Add(const Measurement& m, rules::ChartObserver& observer) = 0;
  // The index the point of the next measurement will have.
  virtual std::int64_t next_index() const = 0;
  // The index of the point `m` will belong to when it is added (next_index(), unless `m`
  // starts a new subgroup by closing the open one).
  virtual std::int64_t IndexOf(const Measurement& m) const {
    (void)m;
    return next_index();
  }
  // True when the next measurement is judged as it arrives (limits known, phase II).
  virtual bool judging() const = 0;
  // How many points the chart may plot at once, retrospectively: the Phase I baseline's while
  // it is being gathered, 1 once the chart judges points as they arrive.
  virtual std::size_t lookback() const = 0;
  // The within (short-term) sigma of one measurement the limits use, once known; absent for
  // attribute charts.
  virtual std::optional<double> sigma_within() const { return std::nullopt; }
  // How many Phase I baseline points the estimate excluded (`limits.phase1.exclude`), once the
  // baseline is complete; absent before, without exclusion, with known limits, and for T^2.
  virtual std::optional<std::int64_t> phase1_excluded() const { return std::nullopt; }
  // Hotelling T^2 only: the centre (p values) and covariance (p x p, row-major) its limits
  // use, once known (estimated from the Phase I baseline, or given); empty before, and for
  // every other chart. Valid until the next Add().
  virtual std::span<const double> t2_center() const { return {}; }
  virtual std::span<const double> t2_covariance() const { return {}; }
  // The limits in force, once known; absent for charts whose limits are not versioned (T^2).
  virtual std::optional<LimitValues> limits() const { return std::nullopt; }
  // Phase I baselines thrown away because their estimate had no variation (sigma 0), so far:
  // individuals, EWMA and CUSUM then collect a new baseline.
  virtual std::int64_t discarded_baselines() const { return 0; }
  // Laney's sigma_z of a p or u chart with laney limits, once its limits are known.
  virtual std::optional<double> sigma_z() const { return std::nullopt; }
  // A new limits version: the next measurements are judged against `v` as a known standard;
  // run-rule patterns start afresh (EWMA and CUSUM restart from the new centre). Indexes run on.
  // Call only when judging() or before the first measurement. False (nothing changed) for a
  // chart whose limits are not versioned.
  virtual bool ApplyLimits(const LimitValues& v) {
    (void)v;
    return false;
  }
};

// MakeChartRunner builds one of five runners: IndividualsRunner; SmoothedRunner (EWMA, CUSUM:
// centre and sigma known, or estimated from the first phase1.points values as the individuals
// chart does, phase1.exclude judged against mean +/- 3 sigma; spec rules judged on each raw
// value; a CUSUM point carries upper and lower); AttributeRunner; SubgroupRunner (x-bar/R,
// x-bar/S); T2Runner. It wraps the runner in a RunRulesRunner when the spec has run rules beyond
// rule 1 (zone sigma (ucl - cl) / k_sigma per point; on one point the run-rule hits come before
// the chart's rule-1 hit; the suspect window comes from a 64-point ring of which points were in
// control; the evaluators are reset only by ApplyLimits, so a pattern may span the end of the
// Phase I baseline), then in a ValueRulesRunner for `threshold` and `rate`. Subgroups (x-bar,
// T^2) close on a different `subgroup` label (an absent label is a label too) or at
// subgroup_size; nothing flushes an open subgroup, so the last subgroup of a stream is never
// plotted.
//
// The runner for `spec` (which must come from a config that loaded without problems).
std::unique_ptr<ChartRunner> MakeChartRunner(const CharacteristicSpec& spec);

// What a Phase I baseline made of every point of `measurements` (of one characteristic, in
// order) estimates, with the chart's own estimator (sigma estimator, subgroup forming, attribute
// centre; exclusions as configured): the limits and the points (subgroups) used. For
// `shewhart limits recalc`. InvalidArgument for a T^2 chart (its limits are not versioned) or
// fewer than 2 points.
struct LimitEstimate {
  LimitValues limits;
  std::int64_t points = 0;
};
Result<LimitEstimate> EstimateLimits(const CharacteristicSpec& spec, std::span<const Measurement> measurements);

// Whether a chart of `spec` can be given `v` (ChartRunner::ApplyLimits): a finite centre, >= 0
// for attribute charts, and for variables charts and Laney's limits a finite sigma > 0. Limits
// without variation (an estimate of sigma 0) are none: they are not recorded, not taken from the
// store and not recalculated.
bool LimitsUsable(const CharacteristicSpec& spec, const LimitValues& v);

// The chart kind whose points a characteristic's alarms and summary are about.
rules::ChartKind PrimaryChart(ChartType type);

}  // namespace shewhart::engine
