#pragma once
// Individuals chart with its companion moving-range (span 2) chart.
//
// Limits come either from a Phase I baseline (the first `phase1_points` observations: centre =
// their mean, sigma = mean moving range / d2(2), as qcc's "xbar.one" with std.dev "MR") or
// from a known mean and sigma. During Phase I nothing is plotted; when the baseline completes,
// its points are plotted and judged retrospectively against the limits they produced (phase
// "I"), and every later point is judged as it arrives (phase "II"). With
// `phase1_exclusion` kBeyondLimits the estimate is revised after excluding the baseline points
// beyond its limits (EstimateIndividualsBaseline, phase1.h) before the baseline is judged.
//
// Threading: a chart is owned by one shard thread; no method is thread-safe.
// Allocation: Add() allocates the Phase I baseline's buffers at its first observation (none are
// held before), and once more when it completes a baseline with kBeyondLimits or a median (the
// exclusion bookkeeping, the sorted copies); never otherwise.

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "shewhart/base/status.h"
#include "shewhart/rules/phase1.h"
#include "shewhart/rules/types.h"

namespace shewhart::rules {

// d2(2) and d3(2): mean and standard deviation of the range of 2 standard normals, as the
// published tables (and qcc, Minitab) give them. The exact values are 2/sqrt(pi) =
// 1.12838 and sqrt(2 - 4/pi) = 0.85250; the tables' 1.128 is what published limits use, so it
// is what the engine uses (viscosity: qcc's sigma 0.5076521 = MR-bar / 1.128).
inline constexpr double kD2Span2 = 1.128;
inline constexpr double kD3Span2 = 0.8525;
// The median of the range of 2 standard normals, sqrt(2) * 0.67449 = 0.95387, as the tables
// (Minitab, JMP, Wheeler) give it: sigma = median moving range / 0.954.
inline constexpr double kD4MedianSpan2 = 0.954;

// How a Phase I baseline of individual values estimates sigma: the mean moving range over d2(2)
// (qcc, the default), or the median moving range over 0.954 (less moved by a few wild ranges;
// Minitab's and JMP's "median moving range").
enum class IndividualsEstimator : std::uint8_t { kMeanMr, kMedianMr };
// And its centre line: the mean of the baseline (the default), or its median (Wheeler's chart
// of individual values with the median moving range).
enum class IndividualsCentre : std::uint8_t { kMean, kMedian };
// "mean_mr", "median_mr"; "mean", "median": the configuration's names.
std::string_view IndividualsEstimatorName(IndividualsEstimator e);
std::string_view IndividualsCentreName(IndividualsCentre c);

struct SpecLimits {
  std::optional<double> lsl;
  std::optional<double> target;
  std::optional<double> usl;
  Status Validate() const;
};

struct ChartLimits {
  double cl = 0, ucl = 0, lcl = 0;
};

struct IndividualsChartSpec {
  // kExplicit: the individuals limits as given (lcl < cl < ucl, not necessarily symmetric);
  // sigma, for the moving-range limits and the run rules' zones, is (ucl - lcl) / (2 k_sigma).
  enum class LimitMode { kPhase1, kKnown, kExplicit };
  LimitMode mode = LimitMode::kPhase1;
  ChartLimits explicit_limits;  // kExplicit
  int phase1_points = 20;      // kPhase1: observations in the baseline, >= 2
  // kPhase1 only: whether the estimate is revised after excluding baseline points beyond its
  // limits (phase1.h). kNone with kKnown (Validate refuses anything else).
  Phase1Exclusion phase1_exclusion = Phase1Exclusion::kNone;
  // kPhase1 only (Validate refuses another with known or explicit limits).
  IndividualsEstimator estimator = IndividualsEstimator::kMeanMr;
  IndividualsCentre centre = IndividualsCentre::kMean;
  double mean = 0;             // kKnown: process mean
  double sigma = 0;            // kKnown: process standard deviation, > 0
  double k_sigma = 3;          // limits at centre +/- k_sigma * sigma, > 0
  Boundary boundary = Boundary::kStrict;
  bool nelson1 = true;         // rule 1 on the individuals chart
  bool mr_rules = true;        // rule 1 on the moving-range chart too (when nelson1)
  bool spec_lsl = false;       // requires spec.lsl
  bool spec_usl = false;       // requires spec.usl
  SpecLimits spec;

  // Returns InvalidArgument naming the offending field and value.
  Status Validate() const;
};

// The centre and sigma of a Phase I baseline of individual values.
struct IndividualsBaselineEstimate {
  double mean = 0;
  double sigma = 0;
  Phase1Exclusions exclusions;
};

// Estimates a Phase I baseline of individual values (in arrival order): mean = the mean of the
// kept values (their median with IndividualsCentre::kMedian; of an even number, the mean of the
// middle two); sigma = the mean of the moving ranges |x_i - x_(i-1)| whose two values are both
// kept, divided by d2(2) = kD2Span2 (with IndividualsEstimator::kMedianMr their median divided
// by kD4MedianSpan2). A moving range that spans an excluded value is dropped, not bridged: qcc,
// which recomputes on the remaining values, would take |x_(i+1) - x_(i-1)|.
// Without exclusion every value is kept (qcc's "xbar.one" with "MR").
// With Phase1Exclusion::kBeyondLimits, the rounds of phase1.h: a value beyond
// mean +/- k_sigma * sigma is excluded (strictly beyond, or on a limit with
// Boundary::kInclusive). A moving range beyond its own limit excludes nothing: it implicates
// two values without saying which is wrong, and a single wild value lies beyond the
// individuals limits itself. A round that would leave fewer than Phase1MinimumKept(N) values,
// or no two adjacent kept values (no moving range), is not applied.
// Returns InvalidArgument, naming the value, when `values` has fewer than 2 values, a value is
// not finite, or k_sigma is not a finite number > 0.
// Pure; allocates only with kBeyondLimits or a median.
Result<IndividualsBaselineEstimate> EstimateIndividualsBaseline(
    std::span<const double> values, double k_sigma, Boundary boundary, Phase1Exclusion exclusion,
    IndividualsEstimator estimator = IndividualsEstimator::kMeanMr, IndividualsCentre centre = IndividualsCentre::kMean);

class IndividualsChart {
 public:
  // `spec` must have passed Validate().
  explicit IndividualsChart(const IndividualsChartSpec& spec);

  // Adds one observation at event time `ts` (`value` finite: the decoder guarantees it, and a
  // Phase I baseline aborts on a value that is not); reports points and rule hits to `observer`, in
  // order: for each plotted observation its individuals point, the hits on it, its mr point,
  // the hits on that, then its spec-limit hits. During Phase I spec-limit hits are reported
  // at arrival, before the baseline is plotted: an out-of-spec unit needs no baseline.
  void Add(double value, EventTime ts, ChartObserver& observer);

  bool limits_ready() const { return limits_ready_; }
  const ChartLimits& individuals_limits() const { return x_limits_; }
  const ChartLimits& mr_limits() const { return mr_limits_; }
  // The sigma the limits use: estimated (MR-bar / d2) or known.
  double sigma() const { return sigma_; }
  std::int64_t observations() const { return count_; }
  // Phase I baselines thrown away so far: an estimate with sigma 0 (no variation: every value
  // equal or, with the median moving range, more than half the moving ranges 0) gives no limits
  // to judge against, so the chart collects a new baseline from the next observation on (the
  // discarded values keep their indexes and are never plotted).
  std::int64_t discarded_baselines() const { return discarded_baselines_; }
  // What the Phase I estimate excluded (phase1.h); empty before the baseline completes, without
  // exclusion, and with known limits.
  const Phase1Exclusions& phase1_exclusions() const { return exclusions_; }

  // A new limits version: later observations are judged against mean +/- k sigma (and the mr
  // limits at sigma) as a known standard. Indexes and the moving range run on. Only between
  // Phase I baselines: the limits are ready, or no observation has been added (SHEWHART_CHECK).
  void SetKnownLimits(double mean, double sigma);

 private:
  void SetLimits(double mean, double sigma);
  // Judges one observation against the current limits; `mr` is its moving range when
  // `has_mr` (every observation but the first). Not a std::optional: passed by value, its
  // flag byte is stored and reloaded through memory on the hot path.
  [[gnu::always_inline]] inline void Judge(std::int64_t index, double value, bool has_mr, double mr, EventTime ts,
                                          Phase phase, ChartObserver& observer);
  [[gnu::always_inline]] inline void CheckSpec(std::int64_t index, double value, EventTime ts, ChartObserver& observer);
  EventTime WindowStart(std::int64_t first, EventTime first_ts) const;

  IndividualsChartSpec spec_;
  bool limits_ready_ = false;
  ChartLimits x_limits_;
  ChartLimits mr_limits_;
  // The lower mr limit as Judge compares with it: -infinity when it is clamped at 0.
  double mr_lcl_judged_ = 0;
  double sigma_ = 0;
  std::int64_t count_ = 0;
  std::int64_t discarded_baselines_ = 0;
  double last_value_ = 0;  // the previous observation (meaningful when count_ > 1 at Add)
  // The Phase I baseline's values and event times: capacity phase1_points each, reserved at
  // its first observation, released once the baseline is judged.
  std::vector<double> baseline_values_;
  std::vector<EventTime> baseline_ts_;
  Phase1Exclusions exclusions_;
  // Event time of the newest observation judged in control, and its index (0: none yet).
  EventTime last_in_control_ts_{};
  std::int64_t last_in_control_index_ = 0;
  EventTime prev_ts_{};  // event time of the previously judged observation
};

}  // namespace shewhart::rules
