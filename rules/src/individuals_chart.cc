#include "shewhart/rules/individuals_chart.h"
#include "shewhart/rules/format.h"

#include <cmath>
#include <limits>
#include <string>

namespace shewhart::rules {

Status SpecLimits::Validate() const {
  for (const auto* v : {&lsl, &target, &usl}) {
    if (v->has_value() && !std::isfinite(**v)) return InvalidArgument("spec limit is not a finite number");
  }
  if (lsl && usl && !(*lsl < *usl)) {
    return InvalidArgument("lsl " + FormatNumber(*lsl) + " must be below usl " + FormatNumber(*usl));
  }
  if (target && lsl && *target < *lsl) return InvalidArgument("target " + FormatNumber(*target) + " is below lsl " + FormatNumber(*lsl));
  if (target && usl && *target > *usl) return InvalidArgument("target " + FormatNumber(*target) + " is above usl " + FormatNumber(*usl));
  return Status::Ok();
}

Status IndividualsChartSpec::Validate() const {
  if (mode == LimitMode::kPhase1 && phase1_points < 2) {
    return InvalidArgument("phase1 needs at least 2 points, found " + std::to_string(phase1_points));
  }
  if (mode == LimitMode::kKnown) {
    if (!std::isfinite(mean)) return InvalidArgument("mean must be a finite number");
    if (!(sigma > 0) || !std::isfinite(sigma)) return InvalidArgument("sigma must be > 0, found " + FormatNumber(sigma));
  }
  if (!(k_sigma > 0) || !std::isfinite(k_sigma)) return InvalidArgument("k_sigma must be > 0, found " + FormatNumber(k_sigma));
  if (spec_lsl && !spec.lsl) return InvalidArgument("rule spec.lsl needs spec.lsl");
  if (spec_usl && !spec.usl) return InvalidArgument("rule spec.usl needs spec.usl");
  return spec.Validate();
}

IndividualsChart::IndividualsChart(const IndividualsChartSpec& spec) : spec_(spec) {
  if (spec_.mode == IndividualsChartSpec::LimitMode::kKnown) {
    SetLimits(spec_.mean, spec_.sigma);
  } else {
    baseline_.reserve(static_cast<std::size_t>(spec_.phase1_points));
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
  baseline_.push_back(Pending{value, ts});
  if (static_cast<int>(baseline_.size()) < spec_.phase1_points) return;

  // Baseline complete: estimate, then judge the baseline retrospectively.
  double sum = 0, mr_sum = 0;
  for (std::size_t i = 0; i < baseline_.size(); ++i) {
    sum += baseline_[i].value;
    if (i > 0) mr_sum += std::fabs(baseline_[i].value - baseline_[i - 1].value);
  }
  const double n = static_cast<double>(baseline_.size());
  SetLimits(sum / n, (mr_sum / (n - 1)) / kD2Span2);
  const std::int64_t first_index = index - static_cast<std::int64_t>(baseline_.size()) + 1;
  for (std::size_t i = 0; i < baseline_.size(); ++i) {
    const double r = i > 0 ? std::fabs(baseline_[i].value - baseline_[i - 1].value) : 0.0;
    Judge(first_index + static_cast<std::int64_t>(i), baseline_[i].value, i > 0, r, baseline_[i].ts, Phase::kOne,
          observer);
  }
  baseline_.clear();
  baseline_.shrink_to_fit();
}

}  // namespace shewhart::rules
