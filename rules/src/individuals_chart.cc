#include "shewhart/rules/individuals_chart.h"
#include "shewhart/rules/format.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace shewhart::rules {

Status SpecLimits::Validate() const {
  for (const auto* v : {&lsl, &target, &usl}) {
    if (v->has_value() && !std::isfinite(**v)) return InvalidArgument("spec limit is not a finite number");
  }
  if (lsl && usl && !(*lsl < *usl)) {
    return InvalidArgument("lsl " + FormatNumber(*lsl) + " must be below usl " + FormatNumber(*usl));
  }
  if (target && lsl && *target < *lsl)
    return InvalidArgument("target " + FormatNumber(*target) + " is below lsl " + FormatNumber(*lsl));
  if (target && usl && *target > *usl)
    return InvalidArgument("target " + FormatNumber(*target) + " is above usl " + FormatNumber(*usl));
  return Status::Ok();
}

Status IndividualsChartSpec::Validate() const {
  if (mode == LimitMode::kPhase1 && phase1_points < 2) {
    return InvalidArgument("phase1 needs at least 2 points, found " + std::to_string(phase1_points));
  }
  if (mode != LimitMode::kPhase1 &&
      (estimator != IndividualsEstimator::kMeanMr || centre != IndividualsCentre::kMean)) {
    return InvalidArgument("estimator " + std::string(IndividualsEstimatorName(estimator)) + " and centre " +
                           std::string(IndividualsCentreName(centre)) +
                           " apply only to phase1 limits; known limits are not estimated");
  }
  if (mode != LimitMode::kPhase1 && phase1_exclusion != Phase1Exclusion::kNone) {
    return InvalidArgument("phase1_exclusion " + std::string(Phase1ExclusionName(phase1_exclusion)) +
                           " applies only to phase1 limits; known limits are not re-estimated");
  }
  if (mode == LimitMode::kKnown) {
    if (!std::isfinite(mean)) return InvalidArgument("mean must be a finite number");
    if (!(sigma > 0) || !std::isfinite(sigma))
      return InvalidArgument("sigma must be > 0, found " + FormatNumber(sigma));
  }
  if (!(k_sigma > 0) || !std::isfinite(k_sigma))
    return InvalidArgument("k_sigma must be > 0, found " + FormatNumber(k_sigma));
  if (mode == LimitMode::kExplicit) {
    const ChartLimits& l = explicit_limits;
    if (!std::isfinite(l.lcl) || !std::isfinite(l.cl) || !std::isfinite(l.ucl) || !(l.lcl < l.cl && l.cl < l.ucl)) {
      return InvalidArgument("explicit limits must be finite with lcl < cl < ucl, found lcl " + FormatNumber(l.lcl) +
                             ", cl " + FormatNumber(l.cl) + ", ucl " + FormatNumber(l.ucl));
    }
  }
  if (spec_lsl && !spec.lsl) return InvalidArgument("rule spec.lsl needs spec.lsl");
  if (spec_usl && !spec.usl) return InvalidArgument("rule spec.usl needs spec.usl");
  return spec.Validate();
}

namespace {

struct MeanSigma {
  double mean = 0;
  double sigma = 0;
};

// The median of `v` (reordered): the middle value, or the mean of the middle two.
double Median(std::vector<double>& v) {
  const std::size_t mid = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid), v.end());
  if (v.size() % 2 == 1) return v[mid];
  const double upper = v[mid];
  const double lower = *std::max_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid));
  return (lower + upper) / 2;
}

// The centre (mean, or median) of the values not flagged in `excluded` (all of them when it is
// null) and sigma from the moving ranges of adjacent pairs both kept (their mean over d2(2), or
// their median over 0.954); nullopt when no such pair is left. Sums in arrival order, so that
// without exclusions the mean is bit for bit the sum of all.
std::optional<MeanSigma> EstimateKept(std::span<const double> values, const char* excluded,
                                      IndividualsEstimator estimator, IndividualsCentre centre) {
  double sum = 0, mr_sum = 0;
  std::size_t kept = 0, pairs = 0;
  std::vector<double> kept_values, ranges;  // for the medians only
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (excluded && excluded[i]) continue;
    sum += values[i];
    ++kept;
    if (centre == IndividualsCentre::kMedian) kept_values.push_back(values[i]);
    if (i > 0 && !(excluded && excluded[i - 1])) {
      const double mr = std::fabs(values[i] - values[i - 1]);
      mr_sum += mr;
      ++pairs;
      if (estimator == IndividualsEstimator::kMedianMr) ranges.push_back(mr);
    }
  }
  if (kept == 0 || pairs == 0) return std::nullopt;
  const double c = centre == IndividualsCentre::kMedian ? Median(kept_values) : sum / static_cast<double>(kept);
  const double sigma = estimator == IndividualsEstimator::kMedianMr ? Median(ranges) / kD4MedianSpan2
                                                                     : (mr_sum / static_cast<double>(pairs)) / kD2Span2;
  return MeanSigma{c, sigma};
}

}  // namespace

std::string_view IndividualsEstimatorName(IndividualsEstimator e) {
  return e == IndividualsEstimator::kMedianMr ? "median_mr" : "mean_mr";
}

std::string_view IndividualsCentreName(IndividualsCentre c) {
  return c == IndividualsCentre::kMedian ? "median" : "mean";
}

Result<IndividualsBaselineEstimate> EstimateIndividualsBaseline(std::span<const double> values, double k_sigma,
                                                                Boundary boundary, Phase1Exclusion exclusion,
                                                                IndividualsEstimator estimator,
                                                                IndividualsCentre centre) {
  if (values.size() < 2) {
    return InvalidArgument("a baseline needs at least 2 values, found " + std::to_string(values.size()));
  }
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) {
      return InvalidArgument("baseline value " + std::to_string(i + 1) + " is not a finite number: " +
                             FormatNumber(values[i]));
    }
  }
  if (!(k_sigma > 0) || !std::isfinite(k_sigma))
    return InvalidArgument("k_sigma must be > 0, found " + FormatNumber(k_sigma));
  const std::optional<MeanSigma> all = EstimateKept(values, nullptr, estimator, centre);
  SHEWHART_CHECK(all.has_value());  // two or more values: one moving range at least
  IndividualsBaselineEstimate out;
  out.mean = all->mean;
  out.sigma = all->sigma;
  if (exclusion == Phase1Exclusion::kNone) return out;
  const MeanSigma final_estimate = IteratePhase1Exclusion(
      values.size(), *all,
      [&](const std::vector<char>& excluded) { return EstimateKept(values, excluded.data(), estimator, centre); },
      [&](const MeanSigma& e, std::size_t i) {
        return BeyondLimits(values[i], e.mean - k_sigma * e.sigma, e.mean + k_sigma * e.sigma, boundary);
      },
      out.exclusions);
  out.mean = final_estimate.mean;
  out.sigma = final_estimate.sigma;
  return out;
}

IndividualsChart::IndividualsChart(const IndividualsChartSpec& spec) : spec_(spec) {
  if (spec_.mode == IndividualsChartSpec::LimitMode::kKnown) {
    SetLimits(spec_.mean, spec_.sigma);
  } else if (spec_.mode == IndividualsChartSpec::LimitMode::kExplicit) {
    const ChartLimits& l = spec_.explicit_limits;
    SetLimits(l.cl, (l.ucl - l.lcl) / (2 * spec_.k_sigma));
    x_limits_ = l;  // as given (the mr limits and zones use the sigma above)
  }
}

void IndividualsChart::SetLimits(double mean, double sigma) {
  sigma_ = sigma;
  const double k = spec_.k_sigma;
  x_limits_ = {mean, mean + k * sigma, mean - k * sigma};
  const double mr_cl = kD2Span2 * sigma;
  mr_limits_ = {mr_cl, mr_cl + k * kD3Span2 * sigma, std::max(0.0, mr_cl - k * kD3Span2 * sigma)};
  // A lower limit clamped at 0 is no limit: a zero moving range never fires, even inclusive.
  mr_lcl_judged_ = mr_limits_.lcl > 0 ? mr_limits_.lcl : -std::numeric_limits<double>::infinity();
  limits_ready_ = true;
}

void IndividualsChart::SetKnownLimits(double mean, double sigma) {
  SHEWHART_CHECK(limits_ready_ || count_ == 0);
  SHEWHART_CHECK(std::isfinite(mean) && std::isfinite(sigma) && sigma > 0);
  SetLimits(mean, sigma);
}

EventTime IndividualsChart::WindowStart(std::int64_t first, EventTime first_ts) const {
  if (last_in_control_index_ > 0 && last_in_control_index_ < first) return last_in_control_ts_;
  return first_ts;
}

void IndividualsChart::CheckSpec(std::int64_t index, double value, EventTime ts, ChartObserver& observer) {
  auto fire = [&](RuleKind rule) {
    observer.OnRuleHit(RuleHit{rule, ChartKind::kIndividuals, index, index, index, ts,
                               WindowStart(index, ts), value});
  };
  // A value on a spec limit is in spec.
  if (spec_.spec_lsl && value < *spec_.spec.lsl) fire(RuleKind::kSpecLsl);
  if (spec_.spec_usl && value > *spec_.spec.usl) fire(RuleKind::kSpecUsl);
}

void IndividualsChart::Judge(std::int64_t index, double value, bool has_mr, double mr, EventTime ts, Phase phase,
                             ChartObserver& observer) {
  bool in_control = true;
  observer.OnPoint(ChartPoint{ChartKind::kIndividuals, phase, index, ts, value, x_limits_.cl, x_limits_.ucl,
                              x_limits_.lcl, 1});
  if (spec_.nelson1 && BeyondLimits(value, x_limits_.lcl, x_limits_.ucl, spec_.boundary)) {
    in_control = false;
    observer.OnRuleHit(RuleHit{RuleKind::kNelson1, ChartKind::kIndividuals, index, index, index, ts,
                               WindowStart(index, ts), value});
  }
  if (has_mr) {
    observer.OnPoint(ChartPoint{ChartKind::kMovingRange, phase, index, ts, mr, mr_limits_.cl, mr_limits_.ucl,
                                mr_limits_.lcl, 2});
    if (spec_.nelson1 && spec_.mr_rules && BeyondLimits(mr, mr_lcl_judged_, mr_limits_.ucl, spec_.boundary)) {
      in_control = false;
      // A moving range implicates both observations it spans.
      observer.OnRuleHit(RuleHit{RuleKind::kNelson1, ChartKind::kMovingRange, index, index - 1, index, ts,
                                 WindowStart(index - 1, prev_ts_), mr});
    }
  }
  // Spec limits do not make a point statistically out of control: a capable process can
  // still produce an out-of-spec unit only when it is out of control, but the two judgements
  // are kept apart (the suspect window is a statistical notion).
  if (in_control) {
    last_in_control_index_ = index;
    last_in_control_ts_ = ts;
  }
  prev_ts_ = ts;
}

void IndividualsChart::Add(double value, EventTime ts, ChartObserver& observer) {
  const std::int64_t index = ++count_;
  const bool has_mr = index > 1;
  const double mr = std::fabs(value - last_value_);
  last_value_ = value;

  if (limits_ready_) {
    Judge(index, value, has_mr, mr, ts, Phase::kTwo, observer);
    CheckSpec(index, value, ts, observer);
    return;
  }
  CheckSpec(index, value, ts, observer);
  if (baseline_values_.empty()) {
    // The baseline's buffers, at its first observation: a characteristic that has seen nothing
    // holds none.
    baseline_values_.reserve(static_cast<std::size_t>(spec_.phase1_points));
    baseline_ts_.reserve(static_cast<std::size_t>(spec_.phase1_points));
  }
  baseline_values_.push_back(value);
  baseline_ts_.push_back(ts);
  if (static_cast<int>(baseline_values_.size()) < spec_.phase1_points) return;

  // Baseline complete: estimate, then judge the baseline retrospectively.
  Result<IndividualsBaselineEstimate> estimate =
      EstimateIndividualsBaseline(baseline_values_, spec_.k_sigma, spec_.boundary, spec_.phase1_exclusion,
                                  spec_.estimator, spec_.centre);
  SHEWHART_CHECK(estimate.ok());  // >= 2 values (Validate), finite (the caller's contract), k_sigma > 0
  if (!(estimate->sigma > 0)) {
    ++discarded_baselines_;
    baseline_values_.clear();  // the capacity stays for the next baseline
    baseline_ts_.clear();
    return;
  }
  SetLimits(estimate->mean, estimate->sigma);
  exclusions_ = std::move(estimate->exclusions);
  const std::size_t size = baseline_values_.size();
  const std::int64_t first_index = index - static_cast<std::int64_t>(size) + 1;
  for (std::size_t i = 0; i < size; ++i) {
    const double r = i > 0 ? std::fabs(baseline_values_[i] - baseline_values_[i - 1]) : 0.0;
    Judge(first_index + static_cast<std::int64_t>(i), baseline_values_[i], i > 0, r, baseline_ts_[i], Phase::kOne,
          observer);
  }
  baseline_values_.clear();
  baseline_values_.shrink_to_fit();
  baseline_ts_.clear();
  baseline_ts_.shrink_to_fit();
}

}  // namespace shewhart::rules
