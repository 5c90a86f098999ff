#include "shewhart/rules/sigma_estimators.h"
#include "shewhart/rules/format.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "shewhart/rules/constants.h"

namespace shewhart::rules {

namespace {

// Checks every summary an estimator is about to use.
Status CheckSubgroups(std::span<const SubgroupSummary> subgroups) {
  if (subgroups.empty()) return InvalidArgument("sigma estimation needs at least one subgroup, found none");
  for (std::size_t i = 0; i < subgroups.size(); ++i) {
    const SubgroupSummary& s = subgroups[i];
    auto which = [i] { return "subgroup " + std::to_string(i + 1); };
    if (s.n < 2 || s.n > kMaxSubgroupSize) {
      return InvalidArgument(which() + " has " + std::to_string(s.n) + " values; sigma estimation needs 2 to " +
                             std::to_string(kMaxSubgroupSize));
    }
    if (!(s.range >= 0) || !std::isfinite(s.range)) {
      return InvalidArgument(which() + " has range " + FormatNumber(s.range) + "; it must be a finite number >= 0");
    }
    if (!(s.sd >= 0) || !std::isfinite(s.sd)) {
      return InvalidArgument(which() + " has sd " + FormatNumber(s.sd) + "; it must be a finite number >= 0");
    }
  }
  return Status::Ok();
}

}  // namespace

SubgroupSummary Summarize(std::span<const double> values) {
  SHEWHART_CHECK(!values.empty());
  double sum = 0, lo = values[0], hi = values[0];
  for (double v : values) {
    sum += v;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  const int n = static_cast<int>(values.size());
  const double mean = sum / n;
  double ss = 0;
  for (double v : values) ss += (v - mean) * (v - mean);
  return SubgroupSummary{n, mean, hi - lo, n > 1 ? std::sqrt(ss / (n - 1)) : 0.0};
}

std::string_view SigmaEstimatorName(SigmaEstimator estimator) {
  switch (estimator) {
    case SigmaEstimator::kUwaveR: return "uwave-r";
    case SigmaEstimator::kUwaveSd: return "uwave-sd";
    case SigmaEstimator::kMvlueR: return "mvlue-r";
    case SigmaEstimator::kMvlueSd: return "mvlue-sd";
    case SigmaEstimator::kRmsdf: return "rmsdf";
  }
  return "unknown";
}

std::optional<SigmaEstimator> SigmaEstimatorFromName(std::string_view name) {
  for (auto e : {SigmaEstimator::kUwaveR, SigmaEstimator::kUwaveSd, SigmaEstimator::kMvlueR,
                 SigmaEstimator::kMvlueSd, SigmaEstimator::kRmsdf}) {
    if (SigmaEstimatorName(e) == name) return e;
  }
  return std::nullopt;
}

bool UsesRanges(SigmaEstimator estimator) {
  return estimator == SigmaEstimator::kUwaveR || estimator == SigmaEstimator::kMvlueR;
}

Result<double> UwaveR(std::span<const SubgroupSummary> subgroups) {
  SHEWHART_RETURN_IF_ERROR(CheckSubgroups(subgroups));
  double sum = 0;
  for (const auto& s : subgroups) sum += s.range / D2(s.n);
  return sum / static_cast<double>(subgroups.size());
}

Result<double> UwaveSd(std::span<const SubgroupSummary> subgroups) {
  SHEWHART_RETURN_IF_ERROR(CheckSubgroups(subgroups));
  double sum = 0;
  for (const auto& s : subgroups) sum += s.sd / C4(s.n);
  return sum / static_cast<double>(subgroups.size());
}

Result<double> MvlueR(std::span<const SubgroupSummary> subgroups) {
  SHEWHART_RETURN_IF_ERROR(CheckSubgroups(subgroups));
  double weighted = 0, weights = 0;
  for (const auto& s : subgroups) {
    const double d2 = D2(s.n), ratio = d2 / D3(s.n), w = ratio * ratio;
    weighted += w * s.range / d2;
    weights += w;
  }
  return weighted / weights;
}

Result<double> MvlueSd(std::span<const SubgroupSummary> subgroups) {
  SHEWHART_RETURN_IF_ERROR(CheckSubgroups(subgroups));
  double weighted = 0, weights = 0;
  for (const auto& s : subgroups) {
    const double c4 = C4(s.n), w = c4 * c4 / (1.0 - c4 * c4);
    weighted += w * s.sd / c4;
    weights += w;
  }
  return weighted / weights;
}

Result<double> Rmsdf(std::span<const SubgroupSummary> subgroups) {
  SHEWHART_RETURN_IF_ERROR(CheckSubgroups(subgroups));
  double pooled = 0;
  std::int64_t df = 0;
  for (const auto& s : subgroups) {
    pooled += (s.n - 1) * s.sd * s.sd;
    df += s.n - 1;
  }
  return std::sqrt(pooled / static_cast<double>(df)) / C4(df + 1);
}

Result<double> EstimateSigma(SigmaEstimator estimator, std::span<const SubgroupSummary> subgroups) {
  switch (estimator) {
    case SigmaEstimator::kUwaveR: return UwaveR(subgroups);
    case SigmaEstimator::kUwaveSd: return UwaveSd(subgroups);
    case SigmaEstimator::kMvlueR: return MvlueR(subgroups);
    case SigmaEstimator::kMvlueSd: return MvlueSd(subgroups);
    case SigmaEstimator::kRmsdf: return Rmsdf(subgroups);
  }
  return Internal("unknown sigma estimator");
}

double GrandMean(std::span<const SubgroupSummary> subgroups) {
  SHEWHART_CHECK(!subgroups.empty());
  double sum = 0;
  std::int64_t count = 0;
  for (const auto& s : subgroups) {
    SHEWHART_CHECK(s.n >= 1);
    sum += s.n * s.mean;
    count += s.n;
  }
  return sum / static_cast<double>(count);
}

}  // namespace shewhart::rules
