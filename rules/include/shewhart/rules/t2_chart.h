#pragma once
// Hotelling T^2 chart of p correlated variables, on individual observations (subgroup_size 1,
// qcc's "T2.single") or on subgroups of n consecutive observations (qcc's "T2").
//
// Plotted statistic, for centre c and covariance S:
//   individuals  T^2_i = (x_i - c)' S^-1 (x_i - c)
//   subgroups    T^2_i = n (xbar_i - c)' S^-1 (xbar_i - c),  xbar_i the mean of subgroup i
// S is factored once (Cholesky, S = L L') and each point costs one triangular solve:
// T^2 = n |L^-1 d|^2.
//
// Estimates (mode kPhase1, from the first m subgroups; as qcc's stats.T2 / stats.T2.single):
//   c = the grand mean vector;
//   S = for n = 1 the sample covariance of the m observations (divisor m - 1);
//       for n > 1 the pooled within-subgroup covariance, the mean of the m subgroup
//       covariances (each with divisor n - 1).
//
// Limits. alpha = 1 - confidence; LCL is 0 everywhere (T^2 >= 0) and is never judged.
//   Phase I,  n = 1: UCL = (m-1)^2/m * BetaQuantile(1-alpha; p/2, (m-p-1)/2)
//                    (Tracy, Young & Mason 1992; qcc limits.T2.single)
//   Phase I,  n > 1: UCL = p(m-1)(n-1)/(mn-m-p+1) * FQuantile(1-alpha; p, mn-m-p+1)
//                    (Montgomery 2013, sec. 11.3; qcc limits.T2)
//   Phase II, n = 1: UCL = p(m+1)(m-1)/(m^2-mp) * FQuantile(1-alpha; p, m-p)
//                    (Tracy, Young & Mason 1992; qcc limits.T2.single, its "UPL")
//   Phase II, n > 1: UCL = p(m+1)(n-1)/(mn-m-p+1) * FQuantile(1-alpha; p, mn-m-p+1)
//                    (Montgomery 2013; qcc limits.T2, its "UPL")
//   Known centre and covariance (mode kKnown):
//     exact parameters (known_from_subgroups = 0): UCL = ChiSquareQuantile(1-alpha; p)
//       (Montgomery 2013, sec. 11.3: T^2 is chi-square with p degrees of freedom);
//     estimated elsewhere from m0 = known_from_subgroups subgroups of the same n: the Phase II
//       formula above with m = m0 (what qcc computes for newdata against a fixed baseline);
//     or explicit_ucl.
// These reproduce qcc 3.0's printed limits (tests: ryan_multivar UCL 11.03976, UPL 12.20184;
// boiler UCL 17.41705, UPL 70.02943).
//
// Centre line. qcc draws none for T^2. A ChartPoint needs a finite cl (the replay output is
// JSON, which has no NaN), so cl is the median of the distribution the UCL is a quantile of:
// the same formula evaluated at 0.5 instead of 1 - alpha (chi-square median with explicit_ucl).
// It is a reference line only; no rule uses it (run rules do not apply to T^2: its
// distribution is skewed and it has no lower side).
//
// Flow (as IndividualsChart). Mode kPhase1: nothing is plotted while the baseline of m
// subgroups fills; when it completes, c and S are estimated and the baseline subgroups are
// plotted and judged retrospectively against the Phase I UCL (phase "I"); every later subgroup
// is judged as it completes against the Phase II UCL (phase "II"). Mode kKnown: every
// subgroup is phase "II".
//
// Points. One ChartPoint per subgroup: chart kT2, index = the subgroup's number counting from
// 1, ts = the event time of its last observation, value = T^2, cl = the median above, ucl,
// lcl = 0, n = subgroup_size. Rule nelson.1 fires when T^2 is strictly above the UCL (or on
// it, with Boundary::kInclusive); its hit implicates that subgroup only (first = last =
// index), and its window_start is the event time of the last subgroup judged in control
// before it, or its own when none was (as IndividualsChart).
//
// Threading: a chart is owned by one shard thread; no method is thread-safe.
// Allocation: the constructor sizes every buffer; Add() never allocates (except to build the
// message of a non-OK Status).

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "shewhart/base/status.h"
#include "shewhart/rules/types.h"

namespace shewhart::rules {

inline constexpr int kT2MinVariables = 2;
inline constexpr int kT2MaxVariables = 32;
// The baseline keeps phase1_subgroups * variables doubles until it completes; this bound
// keeps a typo from asking for gigabytes.
inline constexpr int kT2MaxPhase1Subgroups = 1'000'000;

// qcc's default confidence level for p variables: (1 - 0.0027)^p, the in-control probability
// of p independent 3-sigma Shewhart charts.
double DefaultT2Confidence(int variables);

struct T2ChartSpec {
  enum class LimitMode { kPhase1, kKnown };
  LimitMode mode = LimitMode::kPhase1;

  // p, the number of variables of one observation, in [2, 32].
  int variables = 2;
  // n, observations per plotted point: 1 charts individual observations ("T2.single"), n > 1
  // charts the means of n consecutive observations ("T2").
  int subgroup_size = 1;
  // m, kPhase1 only: subgroups in the baseline. The limit formulas need m >= p + 2 for n = 1,
  // and m >= 2 with m (n - 1) >= p for n > 1, and m <= kT2MaxPhase1Subgroups; more is better
  // (the limits converge to the chi-square limit as m grows).
  int phase1_subgroups = 20;

  // kKnown only: the in-control centre (p values) and covariance (p x p, row-major, symmetric
  // within a relative 1e-9, positive definite). Its lower triangle is what is used.
  std::vector<double> center;
  std::vector<double> covariance;
  // kKnown only: 0 when center and covariance are the process's exact parameters (chi-square
  // limit); otherwise the number of subgroups (of subgroup_size) they were estimated from, for
  // the Phase II prediction limit. Same lower bounds as phase1_subgroups, except m0 >= p + 1
  // for n = 1.
  int known_from_subgroups = 0;
  // kKnown only: an explicit UCL (> 0), overriding the computed one.
  std::optional<double> explicit_ucl;

  // Confidence level 1 - alpha of the UCL, in (0, 1). Absent: DefaultT2Confidence(variables).
  std::optional<double> confidence;
  Boundary boundary = Boundary::kStrict;
  bool nelson1 = true;  // rule 1 on T^2

  double ConfidenceLevel() const { return confidence ? *confidence : DefaultT2Confidence(variables); }

  // Returns InvalidArgument naming the offending field and value: variables out of range,
  // subgroup_size < 1, too few subgroups for the limit formulas, confidence outside (0, 1), a
  // field set that the mode does not use, center/covariance of the wrong size or not finite,
  // a covariance that is not symmetric or not positive definite (Eigen LLT), or a confidence
  // so close to 1 that a limit is not a finite number.
  Status Validate() const;
};

// Centre line (median) and upper limit of one phase; the lower limit is 0.
struct T2Limits {
  double cl = 0;
  double ucl = 0;
};

struct T2ChartLimits {
  std::optional<T2Limits> phase1;  // kPhase1 only
  T2Limits phase2;
};

// The limits `spec` implies; they depend on p, n, m and the confidence only, not on data.
// Returns InvalidArgument as T2ChartSpec::Validate() does (which calls it).
Result<T2ChartLimits> ComputeT2Limits(const T2ChartSpec& spec);

class T2Chart {
 public:
  // `spec` must have passed Validate() (else SHEWHART_CHECK aborts). Sizes every buffer.
  // Movable; a moved-from chart may only be destroyed or assigned to.
  explicit T2Chart(const T2ChartSpec& spec);
  ~T2Chart();
  T2Chart(T2Chart&&) noexcept;
  T2Chart& operator=(T2Chart&&) noexcept;
  T2Chart(const T2Chart&) = delete;
  T2Chart& operator=(const T2Chart&) = delete;

  // Adds one observation `x` (the p variables, in the order of the spec's center) at event
  // time `ts`, and reports to `observer`, in order, each point it completes followed by the
  // hits on it (the whole baseline at once when it completes).
  // Errors:
  //   InvalidArgument     x has not p values, or one is not finite; the observation is
  //                       dropped and the subgroup being formed is unchanged.
  //   FailedPrecondition  x completed the Phase I baseline but its covariance is singular
  //                       (a variable constant, or a linear combination of others, over the
  //                       baseline); nothing is plotted, the baseline is discarded and the
  //                       next observation starts a new one. The message says which variable.
  [[nodiscard]] Status Add(std::span<const double> x, EventTime ts, ChartObserver& observer);

  bool limits_ready() const;
  // The limits points are judged against: phase I (kPhase1) and phase II. They depend on no
  // data, so they are set from construction on.
  const T2ChartLimits& limits() const;
  // Centre (p values) and covariance (p x p, row-major) in use: estimated once limits_ready(),
  // or known. Empty before.
  std::span<const double> center() const;
  std::span<const double> covariance() const;
  // |S|, the determinant of the covariance in use (0 before limits_ready()).
  double covariance_determinant() const;
  // Observations accepted, and points (subgroups) completed, both since construction.
  std::int64_t observations() const;
  std::int64_t subgroups() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace shewhart::rules
