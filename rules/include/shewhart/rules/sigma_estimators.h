#pragma once
// Within-subgroup sigma estimators, with qcc's names and definitions (qcc's sd.xbar; SAS/QC
// User's Guide, "Methods for Estimating the Standard Deviation"). Each works on a span of
// subgroup summaries, so the caller keeps only four numbers per subgroup.
//
// For k subgroups with sizes n_i, ranges R_i and sample standard deviations s_i:
//   uwave-r   (default for x-bar/R)  sigma = (1/k) * sum R_i / d2(n_i)
//   uwave-sd  (default for x-bar/S)  sigma = (1/k) * sum s_i / c4(n_i)
//   mvlue-r   sigma = sum(w_i R_i / d2(n_i)) / sum(w_i),  w_i = (d2(n_i) / d3(n_i))^2
//   mvlue-sd  sigma = sum(w_i s_i / c4(n_i)) / sum(w_i),  w_i = c4(n_i)^2 / (1 - c4(n_i)^2)
//   rmsdf     sigma = sqrt(sum((n_i - 1) s_i^2) / sum(n_i - 1)) / c4(sum(n_i - 1) + 1)
// qcc's RMSDF divides the pooled standard deviation by c4 of the pooled degrees of freedom
// plus one (an unbiased estimate); so does this one. With equal sizes the two uwave and the two
// mvlue estimators coincide (uwave-r = R-bar / d2(n), uwave-sd = s-bar / c4(n)).
//
// d2, d3 and c4 are those of constants.h (tables where published, as qcc).
// All functions are pure and thread-safe; none allocates on success.

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "shewhart/base/status.h"

namespace shewhart::rules {

// The four numbers an estimator needs from one subgroup. sd uses the divisor n - 1.
struct SubgroupSummary {
  int n = 0;
  double mean = 0;
  double range = 0;
  double sd = 0;
};

// Summarises one subgroup (two passes over `values`, no allocation). Requires a non-empty
// span; a single value has range and sd 0.
SubgroupSummary Summarize(std::span<const double> values);

enum class SigmaEstimator : std::uint8_t { kUwaveR, kUwaveSd, kMvlueR, kMvlueSd, kRmsdf };

// "uwave-r", "uwave-sd", "mvlue-r", "mvlue-sd", "rmsdf" (DESIGN.md), and back.
std::string_view SigmaEstimatorName(SigmaEstimator estimator);
std::optional<SigmaEstimator> SigmaEstimatorFromName(std::string_view name);

// True for the estimators built on ranges (uwave-r, mvlue-r).
bool UsesRanges(SigmaEstimator estimator);

// Each estimator returns InvalidArgument when `subgroups` is empty, when a subgroup's n is
// outside [2, kMaxSubgroupSize], or when its range or sd is negative or not finite (the
// message names the subgroup, counted from 1, and the value).
Result<double> EstimateSigma(SigmaEstimator estimator, std::span<const SubgroupSummary> subgroups);
Result<double> UwaveR(std::span<const SubgroupSummary> subgroups);
Result<double> UwaveSd(std::span<const SubgroupSummary> subgroups);
Result<double> MvlueR(std::span<const SubgroupSummary> subgroups);
Result<double> MvlueSd(std::span<const SubgroupSummary> subgroups);
Result<double> Rmsdf(std::span<const SubgroupSummary> subgroups);

// The grand mean sum(n_i * mean_i) / sum(n_i): the mean of all observations, qcc's x-bar
// centre. Requires a non-empty span with n_i >= 1.
double GrandMean(std::span<const SubgroupSummary> subgroups);

}  // namespace shewhart::rules
