#include "shewhart/rules/subgroup_chart.h"
#include "shewhart/rules/format.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "shewhart/rules/constants.h"

namespace shewhart::rules {

namespace {

bool Finite(const ChartLimits& l) { return std::isfinite(l.cl) && std::isfinite(l.ucl) && std::isfinite(l.lcl); }

std::string Describe(const ChartLimits& l) {
  return "lcl " + FormatNumber(l.lcl) + ", cl " + FormatNumber(l.cl) + ", ucl " + FormatNumber(l.ucl);
}

// Beyond an upper limit, or a lower one if there is one, under `boundary`.
bool Beyond(double value, const ChartLimits& l, bool has_lcl, Boundary boundary) {
  if (boundary == Boundary::kStrict) return value > l.ucl || (has_lcl && value < l.lcl);
  return value >= l.ucl || (has_lcl && value <= l.lcl);
}

}  // namespace

std::string_view SubgroupChartKindName(SubgroupChartKind kind) {
  switch (kind) {
    case SubgroupChartKind::kXbarR: return "xbar_r";
    case SubgroupChartKind::kXbarS: return "xbar_s";
  }
  return "unknown";
}

SigmaEstimator SubgroupChartSpec::EffectiveEstimator() const {
  if (estimator) return *estimator;
  return kind == SubgroupChartKind::kXbarR ? SigmaEstimator::kUwaveR : SigmaEstimator::kUwaveSd;
}

ChartKind SubgroupChartSpec::DispersionChart() const {
  return kind == SubgroupChartKind::kXbarR ? ChartKind::kR : ChartKind::kS;
}

Status SubgroupChartSpec::Validate() const {
  const std::string max_n = std::to_string(kMaxSubgroupSize);
  if (subgroup_size < 2 || subgroup_size > kMaxSubgroupSize) {
    return InvalidArgument("subgroup_size must be 2 to " + max_n + ", found " + std::to_string(subgroup_size));
  }
  if (variable_size && (min_subgroup_size < 2 || min_subgroup_size > subgroup_size)) {
    return InvalidArgument("min_subgroup_size must be 2 to subgroup_size " + std::to_string(subgroup_size) +
                           ", found " + std::to_string(min_subgroup_size));
  }
  if (mode != LimitMode::kPhase1 && phase1_exclusion != Phase1Exclusion::kNone) {
    return InvalidArgument("phase1_exclusion " + std::string(Phase1ExclusionName(phase1_exclusion)) +
                           " applies only to phase1 limits; known limits are not re-estimated");
  }
  if (mode != LimitMode::kPhase1 && estimator) {
    return InvalidArgument("estimator " + std::string(SigmaEstimatorName(*estimator)) +
                           " applies only to phase1 limits");
  }
  if (mode != LimitMode::kExplicit && dispersion_limits) {
    return InvalidArgument("dispersion limits apply only to explicit limits");
  }
  switch (mode) {
    case LimitMode::kPhase1: {
      if (phase1_subgroups < 2 || phase1_subgroups > kMaxPhase1Subgroups) {
        return InvalidArgument("phase1 needs 2 to " + std::to_string(kMaxPhase1Subgroups) + " subgroups, found " +
                               std::to_string(phase1_subgroups));
      }
      const SigmaEstimator e = EffectiveEstimator();
      if (kind == SubgroupChartKind::kXbarR && !UsesRanges(e)) {
        return InvalidArgument("estimator " + std::string(SigmaEstimatorName(e)) +
                               " is not available for xbar_r charts (use uwave-r or mvlue-r)");
      }
      if (kind == SubgroupChartKind::kXbarS && UsesRanges(e)) {
        return InvalidArgument("estimator " + std::string(SigmaEstimatorName(e)) +
                               " is not available for xbar_s charts (use uwave-sd, mvlue-sd or rmsdf)");
      }
      break;
    }
    case LimitMode::kKnown:
      if (!std::isfinite(mean)) return InvalidArgument("mean must be a finite number, found " + FormatNumber(mean));
      if (!(sigma > 0) || !std::isfinite(sigma))
        return InvalidArgument("sigma must be > 0, found " + FormatNumber(sigma));
      break;
    case LimitMode::kExplicit:
      if (variable_size) {
        return InvalidArgument(
            "explicit limits need a fixed subgroup_size (limits of variable subgroups come from mean and sigma)");
      }
      if (!Finite(xbar_limits) || !(xbar_limits.lcl < xbar_limits.cl && xbar_limits.cl < xbar_limits.ucl)) {
        return InvalidArgument("xbar limits must be finite with lcl < cl < ucl, found " + Describe(xbar_limits));
      }
      if (dispersion_limits) {
        const ChartLimits& d = *dispersion_limits;
        if (!Finite(d) || !(0 <= d.lcl && d.lcl < d.cl && d.cl < d.ucl)) {
          return InvalidArgument("dispersion limits must be finite with 0 <= lcl < cl < ucl, found " + Describe(d));
        }
      }
      break;
  }
  if (!(k_sigma > 0) || !std::isfinite(k_sigma))
    return InvalidArgument("k_sigma must be > 0, found " + FormatNumber(k_sigma));
  if (spec_lsl && !spec.lsl) return InvalidArgument("rule spec.lsl needs spec.lsl");
  if (spec_usl && !spec.usl) return InvalidArgument("rule spec.usl needs spec.usl");
  return spec.Validate();
}

Result<SubgroupBaselineEstimate> EstimateSubgroupBaseline(const SubgroupChartSpec& spec,
                                                          std::span<const SubgroupSummary> subgroups) {
  if (spec.mode != SubgroupChartSpec::LimitMode::kPhase1) {
    return InvalidArgument("a baseline is estimated only for phase1 limits");
  }
  if (subgroups.empty()) return InvalidArgument("the baseline is empty");
  const SigmaEstimator estimator = spec.EffectiveEstimator();
  Result<double> sigma = EstimateSigma(estimator, subgroups);
  if (!sigma.ok()) return sigma.status();
  SubgroupBaselineEstimate out;
  out.center = GrandMean(subgroups);
  out.sigma = *sigma;
  if (spec.phase1_exclusion == Phase1Exclusion::kNone) return out;

  struct CenterSigma {
    double center, sigma;
  };
  std::vector<SubgroupSummary> kept;
  kept.reserve(subgroups.size());
  auto estimate = [&](const std::vector<char>& excluded) -> std::optional<CenterSigma> {
    kept.clear();
    for (std::size_t i = 0; i < subgroups.size(); ++i) {
      if (!excluded[i]) kept.push_back(subgroups[i]);
    }
    // The subgroups passed the estimator once, so it cannot refuse a subset of them.
    Result<double> s = EstimateSigma(estimator, kept);
    if (!s.ok() || kept.empty()) return std::nullopt;
    return CenterSigma{GrandMean(kept), *s};
  };
  const bool ranges = spec.kind == SubgroupChartKind::kXbarR;
  const double k = spec.k_sigma;
  // The limits SetLimits draws for a subgroup of n, and Judge's test against them.
  auto beyond = [&](const CenterSigma& e, std::size_t i) {
    const SubgroupSummary& s = subgroups[i];
    const double xbar_sigma = e.sigma / std::sqrt(static_cast<double>(s.n));
    if (Beyond(s.mean, {e.center, e.center + k * xbar_sigma, e.center - k * xbar_sigma}, true, spec.boundary)) {
      return true;
    }
    double mean_factor = 0, sd_factor = 0;
    if (ranges) {
      mean_factor = D2(s.n);
      sd_factor = D3(s.n);
    } else {
      const double c4 = C4(s.n);
      mean_factor = c4;
      sd_factor = std::sqrt(1.0 - c4 * c4);
    }
    const double dispersion_sigma = sd_factor * e.sigma;
    const double cl = mean_factor * e.sigma;
    const double lower = cl - k * dispersion_sigma;
    const ChartLimits dispersion{cl, cl + k * dispersion_sigma, std::max(0.0, lower)};
    return Beyond(ranges ? s.range : s.sd, dispersion, lower > 0, spec.boundary);
  };
  const CenterSigma final_estimate =
      IteratePhase1Exclusion(subgroups.size(), CenterSigma{out.center, out.sigma}, estimate, beyond, out.exclusions);
  out.center = final_estimate.center;
  out.sigma = final_estimate.sigma;
  return out;
}

SubgroupChart::SubgroupChart(const SubgroupChartSpec& spec)
    : spec_(spec),
      dispersion_chart_(spec.DispersionChart()),
      min_n_(spec.variable_size ? spec.min_subgroup_size : spec.subgroup_size),
      max_n_(spec.subgroup_size) {
  const auto sizes = static_cast<std::size_t>(max_n_ - min_n_ + 1);
  dispersion_mean_factor_.resize(sizes);
  dispersion_sd_factor_.resize(sizes);
  rows_.resize(sizes);
  for (int n = min_n_; n <= max_n_; ++n) {
    const auto i = static_cast<std::size_t>(n - min_n_);
    if (dispersion_chart_ == ChartKind::kR) {
      dispersion_mean_factor_[i] = D2(n);
      dispersion_sd_factor_[i] = D3(n);
    } else {
      const double c4 = C4(n);
      dispersion_mean_factor_[i] = c4;
      dispersion_sd_factor_[i] = std::sqrt(1.0 - c4 * c4);
    }
  }
  switch (spec_.mode) {
    case SubgroupChartSpec::LimitMode::kPhase1:
      baseline_.reserve(static_cast<std::size_t>(spec_.phase1_subgroups));
      baseline_ts_.reserve(static_cast<std::size_t>(spec_.phase1_subgroups));
      break;
    case SubgroupChartSpec::LimitMode::kKnown:
      SetLimits(spec_.mean, spec_.sigma);
      break;
    case SubgroupChartSpec::LimitMode::kExplicit:
      SetExplicitLimits();
      break;
  }
}

void SubgroupChart::SetLimits(double center, double sigma) {
  center_ = center;
  sigma_ = sigma;
  const double k = spec_.k_sigma;
  for (int n = min_n_; n <= max_n_; ++n) {
    const auto i = static_cast<std::size_t>(n - min_n_);
    Row& row = rows_[i];
    row.xbar_sigma = sigma / std::sqrt(static_cast<double>(n));
    row.xbar = {center, center + k * row.xbar_sigma, center - k * row.xbar_sigma};
    row.dispersion_sigma = dispersion_sd_factor_[i] * sigma;
    const double cl = dispersion_mean_factor_[i] * sigma;
    const double lower = cl - k * row.dispersion_sigma;
    row.dispersion = {cl, cl + k * row.dispersion_sigma, std::max(0.0, lower)};
    row.dispersion_has_lcl = lower > 0;
  }
  limits_ready_ = true;
}

void SubgroupChart::SetKnownLimits(double center, double sigma) {
  SHEWHART_CHECK(limits_ready_ || count_ == 0);
  SHEWHART_CHECK(std::isfinite(center) && std::isfinite(sigma) && sigma > 0);
  SetLimits(center, sigma);
}

void SubgroupChart::SetExplicitLimits() {
  // Validate() guarantees a fixed size here: one row.
  const double k = spec_.k_sigma;
  const ChartLimits& x = spec_.xbar_limits;
  const double xbar_sigma = (x.ucl - x.lcl) / (2 * k);
  SetLimits(x.cl, xbar_sigma * std::sqrt(static_cast<double>(max_n_)));
  Row& row = rows_[0];
  row.xbar = x;
  row.xbar_sigma = xbar_sigma;
  if (spec_.dispersion_limits) {
    row.dispersion = *spec_.dispersion_limits;
    row.dispersion_has_lcl = row.dispersion.lcl > 0;
    row.dispersion_sigma = (row.dispersion.ucl - row.dispersion.cl) / k;
  }
}

const SubgroupChart::Row& SubgroupChart::RowFor(int n) const {
  SHEWHART_CHECK(limits_ready_ && n >= min_n_ && n <= max_n_);
  return rows_[static_cast<std::size_t>(n - min_n_)];
}

ChartLimits SubgroupChart::xbar_limits(int n) const { return RowFor(n).xbar; }
ChartLimits SubgroupChart::dispersion_limits(int n) const { return RowFor(n).dispersion; }
double SubgroupChart::sigma_of_point(int n) const { return RowFor(n).xbar_sigma; }
double SubgroupChart::dispersion_sigma_of_point(int n) const { return RowFor(n).dispersion_sigma; }

EventTime SubgroupChart::WindowStart(std::int64_t first, EventTime first_ts) const {
  if (last_in_control_index_ > 0 && last_in_control_index_ < first) return last_in_control_ts_;
  return first_ts;
}

void SubgroupChart::Judge(std::int64_t index, const SubgroupSummary& s, EventTime ts, Phase phase,
                          ChartObserver& observer) {
  const Row& row = RowFor(s.n);
  bool in_control = true;
  observer.OnPoint(
      ChartPoint{ChartKind::kXbar, phase, index, ts, s.mean, row.xbar.cl, row.xbar.ucl, row.xbar.lcl, s.n});
  if (spec_.nelson1 && Beyond(s.mean, row.xbar, true, spec_.boundary)) {
    in_control = false;
    observer.OnRuleHit(
        RuleHit{RuleKind::kNelson1, ChartKind::kXbar, index, index, index, ts, WindowStart(index, ts), s.mean});
  }
  const double stat = dispersion_chart_ == ChartKind::kR ? s.range : s.sd;
  observer.OnPoint(ChartPoint{dispersion_chart_, phase, index, ts, stat, row.dispersion.cl, row.dispersion.ucl,
                              row.dispersion.lcl, s.n});
  if (spec_.nelson1 && spec_.dispersion_rules && Beyond(stat, row.dispersion, row.dispersion_has_lcl, spec_.boundary)) {
    in_control = false;
    observer.OnRuleHit(
        RuleHit{RuleKind::kNelson1, dispersion_chart_, index, index, index, ts, WindowStart(index, ts), stat});
  }
  if (in_control) {
    last_in_control_index_ = index;
    last_in_control_ts_ = ts;
  }
}

void SubgroupChart::CheckSpec(std::int64_t index, std::span<const double> values, EventTime ts,
                              ChartObserver& observer) {
  if (!spec_.spec_lsl && !spec_.spec_usl) return;
  const auto [lo, hi] = std::minmax_element(values.begin(), values.end());
  auto fire = [&](RuleKind rule, double value) {
    observer.OnRuleHit(RuleHit{rule, ChartKind::kXbar, index, index, index, ts, WindowStart(index, ts), value});
  };
  // A value on a spec limit is in spec.
  if (spec_.spec_lsl && *lo < *spec_.spec.lsl) fire(RuleKind::kSpecLsl, *lo);
  if (spec_.spec_usl && *hi > *spec_.spec.usl) fire(RuleKind::kSpecUsl, *hi);
}

Status SubgroupChart::Add(std::span<const double> values, EventTime ts, ChartObserver& observer) {
  const auto n = static_cast<std::int64_t>(values.size());
  if (n < min_n_ || n > max_n_) {
    if (min_n_ == max_n_) {
      return InvalidArgument("subgroup has " + std::to_string(n) + " values; this chart takes exactly " +
                             std::to_string(max_n_));
    }
    return InvalidArgument("subgroup has " + std::to_string(n) + " values; this chart takes " +
                           std::to_string(min_n_) + " to " + std::to_string(max_n_));
  }
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) {
      return InvalidArgument("value " + std::to_string(i + 1) + " of the subgroup is not a finite number: " +
                             FormatNumber(values[i]));
    }
  }
  const SubgroupSummary summary = Summarize(values);
  const std::int64_t index = ++count_;

  if (limits_ready_) {
    Judge(index, summary, ts, Phase::kTwo, observer);
    CheckSpec(index, values, ts, observer);
    return Status::Ok();
  }
  CheckSpec(index, values, ts, observer);
  baseline_.push_back(summary);
  baseline_ts_.push_back(ts);
  if (static_cast<int>(baseline_.size()) < spec_.phase1_subgroups) return Status::Ok();

  // Baseline complete: estimate, then judge the baseline retrospectively.
  Result<SubgroupBaselineEstimate> estimate = EstimateSubgroupBaseline(spec_, baseline_);
  // Sizes and values were checked on the way in, so the estimator cannot refuse them.
  SHEWHART_CHECK(estimate.ok());
  SetLimits(estimate->center, estimate->sigma);
  exclusions_ = std::move(estimate->exclusions);
  const std::int64_t first_index = index - static_cast<std::int64_t>(baseline_.size()) + 1;
  for (std::size_t i = 0; i < baseline_.size(); ++i) {
    Judge(first_index + static_cast<std::int64_t>(i), baseline_[i], baseline_ts_[i], Phase::kOne, observer);
  }
  baseline_.clear();
  baseline_.shrink_to_fit();
  baseline_ts_.clear();
  baseline_ts_.shrink_to_fit();
  return Status::Ok();
}

}  // namespace shewhart::rules
