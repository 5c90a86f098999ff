#include "shewhart/rules/ewma_chart.h"
#include "shewhart/rules/format.h"

#include <charconv>
#include <cmath>
#include <string>

namespace shewhart::rules {

Status ProcessParameters::Validate() const {
  if (!std::isfinite(centre)) return InvalidArgument("centre must be a finite number, found " + FormatNumber(centre));
  if (!(sigma > 0) || !std::isfinite(sigma)) return InvalidArgument("sigma must be > 0, found " + FormatNumber(sigma));
  return Status::Ok();
}

Status EwmaChartSpec::Validate() const {
  SHEWHART_RETURN_IF_ERROR(process.Validate());
  if (!(lambda > 0 && lambda <= 1)) return InvalidArgument("lambda must be in (0, 1], found " + FormatNumber(lambda));
  if (!(k_sigma > 0) || !std::isfinite(k_sigma))
    return InvalidArgument("k_sigma must be > 0, found " + FormatNumber(k_sigma));
  if (start && !std::isfinite(*start))
    return InvalidArgument("start must be a finite number, found " + FormatNumber(*start));
  return Status::Ok();
}

EwmaLimits EwmaChartSpec::AsymptoticLimits(int n) const {
  SHEWHART_CHECK(n >= 1);
  const double half = k_sigma * process.sigma / std::sqrt(static_cast<double>(n)) * std::sqrt(lambda / (2 - lambda));
  return EwmaLimits{process.centre, process.centre + half, process.centre - half};
}

EwmaChart::EwmaChart(const EwmaChartSpec& spec)
    : spec_(spec), z_(spec.start.value_or(spec.process.centre)) {}

double EwmaChart::point_sigma() const { return spec_.process.sigma * std::sqrt(weight_); }

Status EwmaChart::Add(double statistic, int n, EventTime ts, ChartObserver& observer, Phase phase) {
  if (n < 1) return InvalidArgument("sample size must be >= 1, found " + std::to_string(n));
  if (!std::isfinite(statistic))
    return InvalidArgument("statistic must be a finite number, found " + FormatNumber(statistic));

  const double lambda = spec_.lambda;
  const double keep = 1 - lambda;
  z_ = lambda * statistic + keep * z_;
  weight_ = keep * keep * weight_ + lambda * lambda / static_cast<double>(n);
  const std::int64_t index = ++count_;

  const double half = spec_.k_sigma * point_sigma();
  const double cl = spec_.process.centre;
  const double ucl = cl + half;
  const double lcl = cl - half;
  observer.OnPoint(ChartPoint{ChartKind::kEwma, phase, index, ts, z_, cl, ucl, lcl, n});
  if (BeyondLimits(z_, lcl, ucl, spec_.boundary)) {
    const EventTime window_start = last_in_control_index_ > 0 ? last_in_control_ts_ : ts;
    observer.OnRuleHit(RuleHit{RuleKind::kNelson1, ChartKind::kEwma, index, index, index, ts, window_start, z_});
  } else {
    last_in_control_index_ = index;
    last_in_control_ts_ = ts;
  }
  return Status::Ok();
}

}  // namespace shewhart::rules
