#include "shewhart/rules/cusum_chart.h"
#include "shewhart/rules/format.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string>

namespace shewhart::rules {

Status CusumChartSpec::Validate() const {
  SHEWHART_RETURN_IF_ERROR(process.Validate());
  if (!(k >= 0) || !std::isfinite(k)) return InvalidArgument("k must be >= 0, found " + FormatNumber(k));
  if (!(h > 0) || !std::isfinite(h)) return InvalidArgument("h must be > 0, found " + FormatNumber(h));
  if (!(head_start >= 0 && head_start < h)) {
    return InvalidArgument("head_start must satisfy 0 <= head_start < h, found head_start " + FormatNumber(head_start) +
                           " with h " + FormatNumber(h));
  }
  return Status::Ok();
}

CusumChart::CusumChart(const CusumChartSpec& spec) : spec_(spec) {
  Restart(upper_, spec_.head_start);
  Restart(lower_, 0.0 - spec_.head_start);  // 0.0 - 0.0 is +0, never -0
}

void CusumChart::Restart(Side& side, double start) const {
  side.sum = start;
  side.first = 0;
  side.window_start = EventTime{};
}

void CusumChart::TrackRun(Side& side, std::int64_t index, EventTime ts) const {
  if (side.sum == 0) {
    side.first = 0;
  } else if (side.first == 0) {
    side.first = index;
    // last_in_control_* still describe points before `index`: this point is judged after.
    side.window_start = last_in_control_index_ > 0 ? last_in_control_ts_ : ts;
  }
}

Status CusumChart::Add(double statistic, int n, EventTime ts, CusumObserver& observer, Phase phase) {
  if (n < 1) return InvalidArgument("sample size must be >= 1, found " + std::to_string(n));
  if (!std::isfinite(statistic))
    return InvalidArgument("statistic must be a finite number, found " + FormatNumber(statistic));

  const double z = (statistic - spec_.process.centre) / (spec_.process.sigma / std::sqrt(static_cast<double>(n)));
  const std::int64_t index = ++count_;
  upper_.sum = std::max(0.0, upper_.sum + z - spec_.k);
  lower_.sum = std::min(0.0, lower_.sum + z + spec_.k);
  TrackRun(upper_, index, ts);
  TrackRun(lower_, index, ts);

  auto run = [index](const Side& side) { return side.first > 0 ? index - side.first + 1 : 0; };
  observer.OnCusumPoint(CusumPoint{index, ts, upper_.sum, lower_.sum, spec_.h, n, phase, run(upper_), run(lower_)});

  const bool strict = spec_.boundary == Boundary::kStrict;
  const bool up = strict ? upper_.sum > spec_.h : upper_.sum >= spec_.h;
  const bool down = strict ? lower_.sum < -spec_.h : lower_.sum <= -spec_.h;
  if (up) {
    observer.OnRuleHit(RuleHit{RuleKind::kNelson1, ChartKind::kCusum, index, upper_.first, index, ts,
                               upper_.window_start, upper_.sum});
  }
  if (down) {
    observer.OnRuleHit(RuleHit{RuleKind::kNelson1, ChartKind::kCusum, index, lower_.first, index, ts,
                               lower_.window_start, lower_.sum});
  }
  if (!up && !down) {
    last_in_control_index_ = index;
    last_in_control_ts_ = ts;
    return Status::Ok();
  }
  switch (spec_.reset) {
    case CusumReset::kNone:
      break;
    case CusumReset::kBoth:
      Restart(upper_, spec_.head_start);
      Restart(lower_, 0.0 - spec_.head_start);
      break;
    case CusumReset::kSide:
      if (up) Restart(upper_, spec_.head_start);
      if (down) Restart(lower_, 0.0 - spec_.head_start);
      break;
  }
  return Status::Ok();
}

}  // namespace shewhart::rules
