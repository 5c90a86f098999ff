#pragma once
// Attribute control charts: p (proportion nonconforming), np (number nonconforming), c (defects
// per subgroup) and u (defects per inspection unit).
//
// A subgroup is a `count` (nonconforming units for p and np, defects for c and u) and a size `n`
// (units inspected for p and np, a whole number; inspection units for c and u, which may be
// fractional: 9.5 rolls of 50 m^2 of cloth). The plotted statistic is count / n for p and u, and
// count itself for np and c.
//
// Limits come either from a Phase I baseline (the first `phase1_subgroups` subgroups: p-bar =
// sum(count) / sum(n) for p and np, c-bar = mean count for c, u-bar = sum(count) / sum(n) for u,
// as qcc's stats.p / stats.c / stats.u) or from a known centre. During Phase I nothing is
// plotted; when the baseline completes its subgroups are plotted and judged retrospectively
// against the limits they produced (phase "I"), and every later subgroup is judged as it
// arrives (phase "II"). With `phase1_exclusion` kBeyondLimits the centre is revised after
// excluding the baseline subgroups beyond its limits (EstimateAttributeBaseline, phase1.h)
// before the baseline is judged. To re-estimate after dropping subgroups chosen by hand (those
// with assignable causes), call EstimateAttributeCenter() on baseline() and start a new chart
// (a new limits version) with the result as its known centre.
//
// Sigma limits (the default, qcc's): centre +/- k_sigma * sigma_at(n_i), per subgroup when n
// varies:
//   p   p-bar +/- k sqrt(p-bar (1 - p-bar) / n_i)
//   np  n p-bar +/- k sqrt(n p-bar (1 - p-bar))
//   c   c-bar +/- k sqrt(c-bar)
//   u   u-bar +/- k sqrt(u-bar / n_i)
// The reported LCL is clamped at 0, and the reported UCL at 1 for p and at n for np (as qcc).
//
// Probability limits (LimitType::kProbability): the count in a subgroup is modelled exactly,
// as Binomial(n_i, p-bar) for p and np and Poisson(c-bar) or Poisson(u-bar n_i) for c and u
// (Boost.Math), and the false-alarm probability alpha is split evenly between the two tails.
// In counts, with F the distribution function:
//   L = the smallest x with F(x) >= alpha / 2          (R's qbinom / qpois at alpha / 2)
//   U = the smallest x with 1 - F(x) <= alpha / 2      (R's upper-tail qbinom / qpois)
// Under Boundary::kStrict a count fires when it is < L or > U, so P(false alarm) =
// F(L - 1) + 1 - F(U) <= alpha, and each limit is the tightest integer whose own tail stays
// within alpha / 2 (the lower one strictly below, as R's quantiles define it); the reported
// limits are L and U (qcc's `conf = 1 - alpha` limits). Under
// Boundary::kInclusive a count on a limit fires, so the limits are drawn one count further out,
// L - 1 and U + 1: the same counts fire in both modes. p and u limits are these counts / n_i.
// sigma_at() is the normal-approximation sigma whatever the limit type. Run-rule zones are drawn
// from each point's reported limits, (ucl - cl) / k, so they follow Laney's sigma_z (and shrink
// where a reported UCL is clamped at 1).
//
// Laney's limits (LimitType::kLaney, p and u only: Laney's p' and u' charts, Quality Engineering
// 14(4), 2002): the subgroups of a process whose rate wanders a little between subgroups (large
// subgroups, "overdispersion") are judged against the variation between consecutive subgroups
// as well as within them. Each subgroup's z_i = (statistic_i - centre) / sigma_at(n_i); sigma_z
// = the mean moving range of consecutive z over d2(2) = 1.128 (the individuals chart of the z);
// limits centre +/- k_sigma * sigma_at(n_i) * sigma_z, clamped and judged as sigma limits.
// sigma_z 1 gives the p or u chart; > 1 wider limits (overdispersion), < 1 narrower. A Phase I
// baseline estimates the centre as for sigma limits, then sigma_z from the z of its subgroups
// (with exclusion, from the kept ones: a moving range spanning an excluded subgroup is dropped);
// a known standard gives both. A subgroup whose sigma_at is 0 (a p-bar of 0) has z 0.
//
// Judging (rule nelson.1): under kStrict a point fires when it lies strictly beyond the
// unclamped limit; clamping cannot change that, since no statistic is < 0, a proportion is never
// > 1 and a count never > n. Under kInclusive with sigma limits a point on a limit fires, except
// that a limit at or past the end of the statistic's range (an LCL <= 0, a p UCL >= 1, an np UCL
// >= n) is no limit, and zero-width limits (a centre of 0 or, for p and np, 1) do not flag the
// points on the centre line: so a zero count is never beyond an LCL of 0 in either mode. A
// consumer that re-judges a reported clamped limit with Boundary::kInclusive must apply the
// same exception.
//
// Threading: a chart is owned by one shard thread; no method is thread-safe.
// Allocation: the constructor sizes every buffer; Add() never allocates unless it returns an
// error (the message), or once, when it completes a baseline with kBeyondLimits. Limits are cached for the last
// kLimitCacheSize distinct sizes, so probability limits (a few Boost.Math quantile searches) are recomputed only for a
// new n.

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "shewhart/base/status.h"
#include "shewhart/rules/phase1.h"
#include "shewhart/rules/types.h"

namespace shewhart::rules {

enum class AttributeChartKind : std::uint8_t { kP, kNp, kC, kU };

// ChartKind::kP, kNp, kC or kU: the chart named in the points and hits.
ChartKind ToChartKind(AttributeChartKind kind);

struct AttributeChartSpec {
  enum class LimitMode : std::uint8_t { kPhase1, kKnown };
  enum class LimitType : std::uint8_t { kSigma, kProbability, kLaney };

  AttributeChartKind kind = AttributeChartKind::kP;
  LimitMode mode = LimitMode::kPhase1;
  // kPhase1: subgroups in the baseline, >= 2.
  int phase1_subgroups = 20;
  // kPhase1 only: whether the centre is revised after excluding baseline subgroups beyond its
  // limits (phase1.h).
  Phase1Exclusion phase1_exclusion = Phase1Exclusion::kNone;
  // kKnown: the process standard. p and np: the proportion nonconforming, in (0, 1); c: the
  // mean count per subgroup (of the chart's constant n), > 0; u: the mean count per inspection
  // unit, > 0.
  double center = 0;
  // kKnown with kLaney: Laney's sigma_z, finite and >= 0 (1: the plain p or u chart).
  double sigma_z = 1;
  LimitType limit_type = LimitType::kSigma;
  // kSigma: limits at centre +/- k_sigma * sigma_at(n), > 0. Default 3 (qcc, Minitab).
  double k_sigma = 3;
  // kProbability: the false-alarm probability per point, in (0, 1), split evenly between the
  // tails. Default 0.0027, the two-sided tail area of 3-sigma normal limits.
  double alpha = 0.0027;
  // The sample size every subgroup must have; 0 leaves it free. np and c need a constant n
  // (an np centre line n p-bar, or a c chart's mean count, means nothing across sizes): for them
  // 0 means the first accepted subgroup sets it. p and np sizes are whole numbers of units.
  double sample_size = 0;
  Boundary boundary = Boundary::kStrict;
  bool nelson1 = true;  // rule 1 (a point beyond a limit)

  // Returns InvalidArgument naming the offending field and value.
  Status Validate() const;
};

// Centre line and control limits of the plotted statistic at one sample size, as reported
// (clamped: see the file comment).
struct AttributeLimits {
  double cl = 0, ucl = 0, lcl = 0;
};

// One subgroup of attribute data.
struct AttributeSubgroup {
  std::int64_t count = 0;  // nonconforming units (p, np) or defects (c, u), >= 0
  double n = 0;            // units inspected (p, np: whole, >= count) or inspection units, > 0
};

// The centre a Phase I baseline gives: p-bar = sum(count) / sum(n) for p and np, the mean count
// for c, u-bar = sum(count) / sum(n) for u. `exclude` lists subgroups to leave out, by their
// 1-based position in `baseline` (which is their chart index when `baseline` is a chart's
// baseline()); duplicates count once. Returns InvalidArgument, naming the position and value,
// when `baseline` is empty, a subgroup is invalid for `kind`, a c or np baseline's n varies, an
// excluded position is outside 1..size, or nothing is left.
Result<double> EstimateAttributeCenter(AttributeChartKind kind, std::span<const AttributeSubgroup> baseline,
                                       std::span<const std::int64_t> exclude = {});

// The centre of a Phase I baseline of attribute subgroups.
struct AttributeBaselineEstimate {
  double center = 0;  // p-bar, c-bar or u-bar, as EstimateAttributeCenter()
  double sigma_z = 1;  // kLaney: Laney's sigma_z of the (kept) subgroups; 1 otherwise
  Phase1Exclusions exclusions;
};

// Estimates a Phase I baseline (in arrival order) as a chart of `spec` does:
// EstimateAttributeCenter(spec.kind, baseline). With spec.phase1_exclusion kBeyondLimits, the
// rounds of phase1.h: a subgroup is excluded when its statistic fires rule 1 against the limits
// the chart would draw at its n (spec.limit_type, k_sigma or alpha, boundary; a limit at or past
// the end of the statistic's range is no limit), whatever spec.nelson1 says, and the centre is
// re-estimated without it. A round that would leave fewer than Phase1MinimumKept(N) subgroups
// is not applied. Returns InvalidArgument as EstimateAttributeCenter() does, and when spec.mode
// is not kPhase1. Pure; allocates only with kBeyondLimits.
Result<AttributeBaselineEstimate> EstimateAttributeBaseline(const AttributeChartSpec& spec,
                                                            std::span<const AttributeSubgroup> baseline);

class AttributeChart {
 public:
  // `spec` must have passed Validate().
  explicit AttributeChart(const AttributeChartSpec& spec);

  // Adds one subgroup of `count` (nonconforming units or defects) in `n` units at event time
  // `ts`, and reports to `observer`, in order, each plotted point then its nelson.1 hit if any.
  // ChartPoint.value is the plotted statistic, cl/ucl/lcl the limits at this subgroup's n, and
  // ChartPoint.n is n rounded to the nearest integer (an inspection-unit count may be
  // fractional; the limits use the exact n).
  // Returns InvalidArgument, and changes nothing (the subgroup takes no index), when count < 0,
  // n is not a finite number > 0, n is not whole or is < count for p and np, or n differs from
  // the chart's constant n (np, c, or spec.sample_size > 0).
  Status Add(std::int64_t count, double n, EventTime ts, ChartObserver& observer);

  bool limits_ready() const { return limits_ready_; }
  // The estimated or known parameter: p-bar (p, np), c-bar (c), u-bar (u). 0 before
  // limits_ready().
  double center() const { return center_; }
  // The centre line of the plotted statistic at sample size n: p-bar, n p-bar, c-bar or u-bar.
  double center_line_at(double n) const;
  // The sigma of the plotted statistic at sample size n (normal approximation):
  // sqrt(p-bar (1 - p-bar) / n), sqrt(n p-bar (1 - p-bar)), sqrt(c-bar), sqrt(u-bar / n).
  // qcc's printed "std.dev" is sigma_at(n) for p, np and c, and sigma_at(1) for u.
  // 0 before limits_ready(). Requires n > 0.
  double sigma_at(double n) const;
  // The limits reported for a subgroup of size n. Requires limits_ready() and n > 0 (and, for
  // probability limits of p and np, a whole n).
  AttributeLimits limits_at(double n) const;

  // The constant n of an np or c chart, or spec.sample_size; 0 while not yet set.
  double fixed_n() const { return fixed_n_; }
  std::int64_t subgroups() const { return count_; }
  // Laney's sigma_z in force (1 unless limit_type is kLaney).
  double sigma_z() const { return sigma_z_; }
  // A new limits version: later subgroups are judged against `center` (p-bar, c-bar or u-bar;
  // valid as AttributeChartSpec::center is) and, with kLaney, `sigma_z` (finite, >= 0; ignored
  // otherwise) as a known standard. Only when the limits are ready or no subgroup has been added
  // (SHEWHART_CHECK).
  void SetKnownCenter(double center, double sigma_z = 1);
  // The Phase I subgroups in arrival order (chart indexes 1..N), kept for re-estimation with
  // EstimateAttributeCenter(); empty for a chart with a known centre. Valid until the next Add().
  std::span<const AttributeSubgroup> baseline() const { return baseline_; }
  // What the Phase I estimate excluded (phase1.h); empty before the baseline completes, without
  // exclusion, and with a known centre.
  const Phase1Exclusions& phase1_exclusions() const { return exclusions_; }

 private:
  // Limits of one point: reported (clamped) and judged (unclamped), and whether a point exactly
  // on a judged limit fires.
  struct PointLimits {
    AttributeLimits shown;
    double ucl_judged = 0, lcl_judged = 0;
    bool ucl_closed = false, lcl_closed = false;
  };
  // The limits of a chart of `spec` with centre `center` (and Laney's sigma_z) at sample size n.
  static PointLimits ComputeLimits(const AttributeChartSpec& spec, double center, double sigma_z, double n);
  // Whether `value` fires rule 1 against `lim`.
  static bool Beyond(const PointLimits& lim, double value);
  friend Result<AttributeBaselineEstimate> EstimateAttributeBaseline(const AttributeChartSpec& spec,
                                                                     std::span<const AttributeSubgroup> baseline);
  const PointLimits& LimitsFor(double n);  // ComputeLimits, cached by n
  static constexpr int kLimitCacheSize = 8;
  struct CachedLimits {
    double n = 0;  // 0: empty
    PointLimits limits;
  };
  Status CheckSubgroup(std::int64_t count, double n) const;
  double Statistic(std::int64_t count, double n) const;
  void Judge(std::int64_t index, std::int64_t count, double n, EventTime ts, Phase phase,
             ChartObserver& observer);
  EventTime WindowStart(std::int64_t first, EventTime first_ts) const;

  AttributeChartSpec spec_;
  ChartKind chart_;
  bool limits_ready_ = false;
  double center_ = 0;
  double sigma_z_ = 1;
  double fixed_n_ = 0;
  std::int64_t count_ = 0;
  std::vector<AttributeSubgroup> baseline_;  // capacity phase1_subgroups, reserved at construction
  std::vector<EventTime> baseline_ts_;       // likewise; released once the baseline is judged
  Phase1Exclusions exclusions_;
  std::array<CachedLimits, kLimitCacheSize> limit_cache_{};  // emptied when the limits change
  int next_cache_slot_ = 0;                                   // round-robin replacement
  // Event time of the newest subgroup judged in control, and its index (0: none yet).
  EventTime last_in_control_ts_{};
  std::int64_t last_in_control_index_ = 0;
};

}  // namespace shewhart::rules
