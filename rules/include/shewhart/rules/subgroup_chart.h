#pragma once
// x-bar chart with its companion R or S chart, for subgroups of fixed or variable size.
//
// The caller forms subgroups and hands each complete one to Add(). For a subgroup of n values
// with mean x-bar, range R and sample standard deviation s, and a process mean mu and sigma:
//   x-bar point (ChartKind::kXbar): value x-bar, cl = mu, limits mu +/- k sigma / sqrt(n);
//   R point     (ChartKind::kR):    value R, cl = d2(n) sigma,
//                                  limits (d2(n) +/- k d3(n)) sigma, the lower clamped at 0;
//   S point     (ChartKind::kS):    value s, cl = c4(n) sigma,
//                                  limits (c4(n) +/- k sqrt(1 - c4(n)^2)) sigma, lower clamped at 0.
// Limits are computed per point from the point's own n, so variable subgroup sizes give
// stepped limits (qcc's and Minitab's approach). With a fixed n and k = 3 they equal the
// textbook forms: x-bar-bar +/- A2 R-bar, D3 R-bar, D4 R-bar (uwave-r), and x-bar-bar +/- A3
// s-bar, B3 s-bar, B4 s-bar (uwave-sd), because then d2 sigma = R-bar and c4 sigma = s-bar.
// For variable n, qcc draws one R (S) centre line, the size-weighted mean of the ranges
// (standard deviations); this chart draws d2(n_i) sigma (c4(n_i) sigma), the expected value of
// each point, so that points of different sizes are judged against their own distribution.
//
// Limits come from one of:
//   Phase I: the first `phase1_subgroups` subgroups; mu = their grand mean (size-weighted),
//     sigma = the chosen estimator (sigma_estimators.h). Nothing is plotted until the baseline
//     is complete; then its points are plotted and judged retrospectively against the limits
//     they produced (phase "I"), and every later subgroup is judged as it arrives (phase "II").
//     A baseline of constant subgroups estimates sigma 0: the limits collapse onto the centre
//     and every later differing point fires (as in qcc); it is not refused here.
//     With `phase1_exclusion` kBeyondLimits the estimate is revised after excluding the
//     baseline subgroups beyond its x-bar or R/S limits (EstimateSubgroupBaseline, phase1.h)
//     before the baseline is judged.
//   Known standards: mu and sigma given.
//   Explicit limits: the x-bar chart's cl/ucl/lcl as given (fixed subgroup size only); the
//     dispersion chart's as given too, or, when absent, computed from the sigma the x-bar
//     limits imply, sigma = (ucl - lcl) sqrt(n) / (2 k).
//
// Rule 1 (RuleKind::kNelson1) fires on an x-bar or dispersion point beyond its limits
// (strictly, or on them with Boundary::kInclusive). A dispersion lower limit clamped at 0 is no
// limit: no range or standard deviation is below it, and with kInclusive a zero is not "on" it.
// Each hit implicates its own subgroup (first = last = index); window_start is the event time
// of the last subgroup before it judged in control (both its points within limits), as in
// IndividualsChart. Spec-limit rules (kSpecLsl / kSpecUsl) judge the individual values of each
// subgroup: one hit per side per subgroup (RuleHit.chart = kXbar), carrying the most extreme
// value beyond the limit (a value on the limit is in spec); reported at arrival, also during
// Phase I.
//
// Point and hit indexes count accepted subgroups from 1 (a rejected subgroup takes no index).
//
// Threading: a chart is owned by one shard thread; no method is thread-safe.
// Allocation: the constructor sizes every buffer; Add() allocates only to build the message of
// a rejected subgroup, and once when it completes a baseline with kBeyondLimits. The constructor may integrate d2/d3
// for sizes beyond the published tables (constants.h), once per process and size.

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "shewhart/base/status.h"
#include "shewhart/rules/individuals_chart.h"  // SpecLimits, ChartLimits
#include "shewhart/rules/phase1.h"
#include "shewhart/rules/sigma_estimators.h"
#include "shewhart/rules/types.h"

namespace shewhart::rules {

enum class SubgroupChartKind : std::uint8_t { kXbarR, kXbarS };

// "xbar_r", "xbar_s" (the `chart.type` names of the configuration).
std::string_view SubgroupChartKindName(SubgroupChartKind kind);

// The most Phase I subgroups a chart buffers (it keeps their summaries until the baseline is
// complete). Montgomery recommends 20 to 25.
inline constexpr int kMaxPhase1Subgroups = 10000;

struct SubgroupChartSpec {
  enum class LimitMode : std::uint8_t { kPhase1, kKnown, kExplicit };

  SubgroupChartKind kind = SubgroupChartKind::kXbarR;
  // Fixed size (variable_size false): every subgroup has exactly subgroup_size values.
  // Variable size: any size from min_subgroup_size to subgroup_size. Both within
  // [2, kMaxSubgroupSize].
  int subgroup_size = 5;
  bool variable_size = false;
  int min_subgroup_size = 2;

  LimitMode mode = LimitMode::kPhase1;
  int phase1_subgroups = 25;                // kPhase1: subgroups in the baseline, 2..kMaxPhase1Subgroups
  std::optional<SigmaEstimator> estimator;  // kPhase1 only; default: uwave-r (x-bar/R), uwave-sd (x-bar/S).
                                            // x-bar/R takes uwave-r or mvlue-r; x-bar/S takes uwave-sd,
                                            // mvlue-sd or rmsdf (qcc's R and S charts accept the same).
  // kPhase1 only: whether the estimate is revised after excluding baseline subgroups beyond its
  // limits (phase1.h).
  Phase1Exclusion phase1_exclusion = Phase1Exclusion::kNone;
  double mean = 0;                          // kKnown: process mean, finite
  double sigma = 0;                         // kKnown: process standard deviation, > 0
  ChartLimits xbar_limits;                  // kExplicit: lcl < cl < ucl
  std::optional<ChartLimits> dispersion_limits;  // kExplicit, optional: 0 <= lcl < cl < ucl

  double k_sigma = 3;  // limits at k_sigma standard errors of the plotted statistic, > 0
  Boundary boundary = Boundary::kStrict;
  bool nelson1 = true;           // rule 1 on the x-bar chart
  bool dispersion_rules = true;  // rule 1 on the R / S chart too (when nelson1)
  bool spec_lsl = false;         // requires spec.lsl
  bool spec_usl = false;         // requires spec.usl
  SpecLimits spec;

  // The estimator Phase I uses: `estimator`, or the default for `kind`.
  SigmaEstimator EffectiveEstimator() const;
  // ChartKind::kR for x-bar/R, ChartKind::kS for x-bar/S.
  ChartKind DispersionChart() const;

  // Returns InvalidArgument naming the offending field and value; checks every field the mode
  // uses and rejects settings the mode would ignore (an estimator with known limits).
  Status Validate() const;
};

// The process centre and sigma of a Phase I baseline of subgroups.
struct SubgroupBaselineEstimate {
  double center = 0;
  double sigma = 0;
  Phase1Exclusions exclusions;
};

// Estimates a Phase I baseline of subgroup summaries (in arrival order) as a chart of `spec`
// does: centre = GrandMean of the kept subgroups, sigma = spec.EffectiveEstimator() over them.
// With spec.phase1_exclusion kBeyondLimits, the rounds of phase1.h: a subgroup is excluded when
// its mean is beyond its x-bar limits or its range (x-bar/R) or standard deviation (x-bar/S) is
// beyond its dispersion limits, at its own n, with spec.k_sigma and spec.boundary (a dispersion
// lower limit clamped at 0 is no limit), whatever spec.nelson1 and spec.dispersion_rules say.
// A round that would leave fewer than Phase1MinimumKept(N) subgroups is not applied.
// Returns InvalidArgument when spec.mode is not kPhase1, `subgroups` is empty, or the estimator
// refuses a subgroup (its message names it). Pure; allocates.
Result<SubgroupBaselineEstimate> EstimateSubgroupBaseline(const SubgroupChartSpec& spec,
                                                          std::span<const SubgroupSummary> subgroups);

class SubgroupChart {
 public:
  // `spec` must have passed Validate().
  explicit SubgroupChart(const SubgroupChartSpec& spec);

  // Adds one complete subgroup whose values are `values` (not retained), at event time `ts`
  // (the caller's choice, typically the subgroup's last measurement). Reports to `observer`,
  // in order: for each plotted subgroup its x-bar point, the hits on it, its R/S point, the hits
  // on that; then the subgroup's spec-limit hits. During Phase I spec-limit hits are reported
  // at arrival and the points when the baseline completes.
  // Returns InvalidArgument, and changes nothing, when the subgroup's size is not the fixed
  // size (or outside [min_subgroup_size, subgroup_size]) or a value is not finite.
  Status Add(std::span<const double> values, EventTime ts, ChartObserver& observer);

  bool limits_ready() const { return limits_ready_; }
  // Process mean (the x-bar centre line) and sigma: estimated, known, or implied by explicit
  // limits. Meaningful once limits_ready().
  double center() const { return center_; }
  double sigma() const { return sigma_; }

  // Limits of a point of a subgroup of n values. Require limits_ready() and n within the
  // spec's sizes.
  ChartLimits xbar_limits(int n) const;
  ChartLimits dispersion_limits(int n) const;
  // The standard deviation of the plotted statistic, the unit of run-rule zones (DESIGN.md):
  // sigma / sqrt(n) for x-bar; d3(n) sigma for R, sqrt(1 - c4(n)^2) sigma for S. With explicit
  // limits: (ucl - lcl) / (2 k) for x-bar, (ucl - cl) / k for a given dispersion chart.
  double sigma_of_point(int n) const;
  double dispersion_sigma_of_point(int n) const;

  ChartKind dispersion_chart() const { return dispersion_chart_; }
  std::int64_t subgroups() const { return count_; }
  const SubgroupChartSpec& spec() const { return spec_; }
  // What the Phase I estimate excluded (phase1.h); empty before the baseline completes, without
  // exclusion, and with known or explicit limits.
  const Phase1Exclusions& phase1_exclusions() const { return exclusions_; }

  // A new limits version: later subgroups are judged against centre and sigma as a known
  // standard (x-bar and R/S limits at every size). Only when the limits are ready or no
  // subgroup has been added (SHEWHART_CHECK).
  void SetKnownLimits(double center, double sigma);

 private:
  // Everything a point of one size is judged against.
  struct Row {
    ChartLimits xbar;
    ChartLimits dispersion;
    bool dispersion_has_lcl = false;  // false when the lower limit is clamped at 0
    double xbar_sigma = 0;
    double dispersion_sigma = 0;
  };
  const Row& RowFor(int n) const;
  void SetLimits(double center, double sigma);
  void SetExplicitLimits();
  void Judge(std::int64_t index, const SubgroupSummary& s, EventTime ts, Phase phase, ChartObserver& observer);
  void CheckSpec(std::int64_t index, std::span<const double> values, EventTime ts, ChartObserver& observer);
  EventTime WindowStart(std::int64_t first, EventTime first_ts) const;

  SubgroupChartSpec spec_;
  ChartKind dispersion_chart_;
  int min_n_;
  int max_n_;
  // Per size n (index n - min_n_): the dispersion statistic's mean and standard deviation
  // per unit sigma: (d2, d3) for R, (c4, sqrt(1 - c4^2)) for S.
  std::vector<double> dispersion_mean_factor_;
  std::vector<double> dispersion_sd_factor_;
  std::vector<Row> rows_;
  bool limits_ready_ = false;
  double center_ = 0;
  double sigma_ = 0;
  std::int64_t count_ = 0;
  std::vector<SubgroupSummary> baseline_;   // capacity phase1_subgroups, reserved at construction
  std::vector<EventTime> baseline_ts_;      // likewise
  Phase1Exclusions exclusions_;
  // Event time of the newest subgroup judged in control, and its index (0: none yet).
  EventTime last_in_control_ts_{};
  std::int64_t last_in_control_index_ = 0;
};

}  // namespace shewhart::rules
