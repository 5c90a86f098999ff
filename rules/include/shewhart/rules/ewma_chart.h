#pragma once
// EWMA chart (exponentially weighted moving average) of a stream of plotted statistics.
//
// Each point is a statistic (an individual value, n = 1, or a subgroup mean of n values) and
// the chart plots z_i = lambda * x_i + (1 - lambda) * z_{i-1}, z_0 = start (the centre by
// default), against exact time-varying limits centre +/- k_sigma * sigma_z,i, where
//   sigma_z,i^2 = sigma^2 * sum_{j=1..i} (lambda (1 - lambda)^(i-j))^2 / n_j
// is the exact variance of z_i for independent points with var(x_j) = sigma^2 / n_j. For a
// constant n this is sigma^2 / n * lambda / (2 - lambda) * (1 - (1 - lambda)^(2i)) (Montgomery,
// qcc), and the limits widen towards the asymptote of AsymptoticLimits(). When n varies, qcc's
// ewma.R scales that constant-n factor by the current point's 1/n_i instead; this chart keeps
// the exact sum, so its limits differ from qcc's there (and agree whenever n is constant).
//
// The chart does not estimate anything: the caller gives the in-control centre and sigma
// (ProcessParameters), known or estimated from a Phase I chart. Points are judged as they
// arrive. Only rule 1 (a point beyond its limits) applies: successive EWMA values are
// correlated, so run rules do not (DESIGN.md).
//
// Threading: a chart is owned by one shard thread; no method is thread-safe.
// Allocation: none; the chart holds no heap memory (it is trivially copyable, which is also
// how a shard checkpoints it).

#include <cstdint>
#include <optional>

#include "shewhart/base/status.h"
#include "shewhart/rules/types.h"

namespace shewhart::rules {

// The in-control process a time-weighted chart (EWMA, CUSUM) watches for a departure from:
// the centre of the plotted statistic and the standard deviation of ONE observation. A point
// that is the mean of n observations has standard deviation sigma / sqrt(n).
// (Shared with cusum_chart.h. It belongs in types.h, which this change could not edit; move it
// there when types.h next changes.)
struct ProcessParameters {
  double centre = 0;  // finite
  double sigma = 0;   // > 0, finite

  // Returns InvalidArgument naming the offending field and value.
  Status Validate() const;
};

struct EwmaLimits {
  double cl = 0, ucl = 0, lcl = 0;
};

struct EwmaChartSpec {
  ProcessParameters process;
  // Weight of the newest point, in (0, 1]. Small values (0.05-0.25) detect small sustained
  // shifts; 1 makes the chart a Shewhart chart of the statistic itself. qcc's default is 0.2.
  double lambda = 0.2;
  // Limits at centre +/- k_sigma * sigma_z,i (Montgomery's L, qcc's nsigmas), > 0.
  double k_sigma = 3;
  // z_0. Absent: process.centre (qcc, NIST). The limits do not depend on it.
  std::optional<double> start;
  // kStrict (qcc): a point on a limit is in control. kInclusive (Minitab): it fires.
  Boundary boundary = Boundary::kStrict;

  // Returns InvalidArgument naming the offending field and value.
  Status Validate() const;

  // The limits the exact ones converge to for a constant subgroup size n:
  // centre +/- k_sigma * sigma / sqrt(n) * sqrt(lambda / (2 - lambda)). Requires n >= 1.
  EwmaLimits AsymptoticLimits(int n = 1) const;
};

class EwmaChart {
 public:
  // `spec` must have passed Validate().
  explicit EwmaChart(const EwmaChartSpec& spec);

  // Adds one plotted statistic `statistic` (a value, or the mean of `n` values) at event time
  // `ts`, and reports to `observer`, in order, its ChartPoint (chart kEwma, value = z_i,
  // cl/ucl/lcl its exact limits, n) and, if z_i is beyond its limits, a kNelson1 RuleHit with
  // [first, last] = this point and window_start = the event time of the newest earlier point
  // that was in control (this point's own time when none was).
  // `phase` only labels the point: pass Phase::kOne when replaying the baseline that the
  // caller estimated the parameters from; it changes no arithmetic.
  // Returns InvalidArgument, and leaves the chart unchanged and the observer uncalled, when
  // n < 1 or the statistic is not finite.
  Status Add(double statistic, int n, EventTime ts, ChartObserver& observer, Phase phase = Phase::kTwo);

  // z of the newest point (the start value before any).
  double value() const { return z_; }
  // sigma_z of the newest point (0 before any).
  double point_sigma() const;
  std::int64_t points() const { return count_; }
  const EwmaChartSpec& spec() const { return spec_; }

 private:
  EwmaChartSpec spec_;
  double z_;
  // sum_j (lambda (1 - lambda)^(i-j))^2 / n_j, so that sigma_z,i = sigma * sqrt(weight_).
  // Updated in O(1): weight_i = (1 - lambda)^2 weight_{i-1} + lambda^2 / n_i.
  double weight_ = 0;
  std::int64_t count_ = 0;
  // The newest point judged in control (index 0: none yet).
  std::int64_t last_in_control_index_ = 0;
  EventTime last_in_control_ts_{};
};

}  // namespace shewhart::rules
