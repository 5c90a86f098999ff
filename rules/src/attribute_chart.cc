#include "shewhart/rules/attribute_chart.h"
#include "shewhart/rules/format.h"

#include <algorithm>
#include <charconv>
#include <climits>
#include <cmath>
#include <limits>
#include <string>

#include <boost/math/distributions/binomial.hpp>
#include <boost/math/distributions/poisson.hpp>

namespace shewhart::rules {

namespace {

// Boost.Math reports errors through its policy; with valid inputs (0 < p < 1, mean > 0,
// 0 < q < 1) none can occur, and ignoring them keeps exceptions off this path. The quantile is
// only a starting guess that the callers correct against the distribution function.
using QuantilePolicy = boost::math::policies::policy<
    boost::math::policies::domain_error<boost::math::policies::ignore_error>,
    boost::math::policies::pole_error<boost::math::policies::ignore_error>,
    boost::math::policies::overflow_error<boost::math::policies::ignore_error>,
    boost::math::policies::evaluation_error<boost::math::policies::ignore_error>,
    boost::math::policies::rounding_error<boost::math::policies::ignore_error>>;
using Binomial = boost::math::binomial_distribution<double, QuantilePolicy>;
using Poisson = boost::math::poisson_distribution<double, QuantilePolicy>;

std::string ChartPhrase(AttributeChartKind kind) {
  return std::string(kind == AttributeChartKind::kNp ? "an " : "a ") + std::string(ChartName(ToChartKind(kind))) +
         " chart";
}

bool CountsUnits(AttributeChartKind kind) {
  return kind == AttributeChartKind::kP || kind == AttributeChartKind::kNp;
}

bool NeedsConstantN(AttributeChartKind kind) {
  return kind == AttributeChartKind::kNp || kind == AttributeChartKind::kC;
}

// The checks every subgroup passes whatever the chart's state.
Status CheckAttributeSubgroup(AttributeChartKind kind, std::int64_t count, double n) {
  if (count < 0) return InvalidArgument("count must be >= 0, found " + std::to_string(count));
  if (!std::isfinite(n) || !(n > 0)) return InvalidArgument("n must be > 0, found " + FormatNumber(n));
  if (n > static_cast<double>(INT_MAX))
    return InvalidArgument("n must be <= " + std::to_string(INT_MAX) + ", found " + FormatNumber(n));
  if (CountsUnits(kind)) {
    if (n != std::floor(n)) {
      return InvalidArgument("n must be a whole number of units for " + ChartPhrase(kind) + ", found " +
                             FormatNumber(n));
    }
    if (static_cast<double>(count) > n) {
      return InvalidArgument("count " + std::to_string(count) + " exceeds n " + FormatNumber(n) + " for " +
                             ChartPhrase(kind));
    }
  }
  return Status::Ok();
}

double CenterLineAt(AttributeChartKind kind, double center, double n) {
  return kind == AttributeChartKind::kNp ? n * center : center;
}

double SigmaAt(AttributeChartKind kind, double center, double n) {
  switch (kind) {
    case AttributeChartKind::kP: return std::sqrt(center * (1 - center) / n);
    case AttributeChartKind::kNp: return std::sqrt(n * center * (1 - center));
    case AttributeChartKind::kC: return std::sqrt(center);
    case AttributeChartKind::kU: return std::sqrt(center / n);
  }
  return 0;
}

double StatisticOf(AttributeChartKind kind, std::int64_t count, double n) {
  const auto c = static_cast<double>(count);
  return (kind == AttributeChartKind::kP || kind == AttributeChartKind::kU) ? c / n : c;
}

// The smallest count x in [0, max] with cdf(x) >= q.
template <typename Dist>
double LowerCountQuantile(const Dist& dist, double q, double max, double fallback) {
  double x = boost::math::quantile(dist, q);
  if (!std::isfinite(x)) x = fallback;
  x = std::clamp(std::floor(x), 0.0, max);
  while (x > 0 && boost::math::cdf(dist, x - 1) >= q) x -= 1;
  while (x < max && boost::math::cdf(dist, x) < q) x += 1;
  return x;
}

// The smallest count x in [0, max] with P(X > x) <= q.
template <typename Dist>
double UpperCountQuantile(const Dist& dist, double q, double max, double fallback) {
  double x = boost::math::quantile(boost::math::complement(dist, q));
  if (!std::isfinite(x)) x = fallback;
  x = std::clamp(std::floor(x), 0.0, max);
  while (x > 0 && boost::math::cdf(boost::math::complement(dist, x - 1)) <= q) x -= 1;
  while (x < max && boost::math::cdf(boost::math::complement(dist, x)) > q) x += 1;
  return x;
}

}  // namespace

ChartKind ToChartKind(AttributeChartKind kind) {
  switch (kind) {
    case AttributeChartKind::kP: return ChartKind::kP;
    case AttributeChartKind::kNp: return ChartKind::kNp;
    case AttributeChartKind::kC: return ChartKind::kC;
    case AttributeChartKind::kU: return ChartKind::kU;
  }
  return ChartKind::kP;
}

Status AttributeChartSpec::Validate() const {
  if (mode == LimitMode::kPhase1 && phase1_subgroups < 2) {
    return InvalidArgument("phase1_subgroups must be >= 2, found " + std::to_string(phase1_subgroups));
  }
  if (mode != LimitMode::kPhase1 && phase1_exclusion != Phase1Exclusion::kNone) {
    return InvalidArgument("phase1_exclusion " + std::string(Phase1ExclusionName(phase1_exclusion)) +
                           " applies only to phase1 limits; a known centre is not re-estimated");
  }
  if (mode == LimitMode::kKnown) {
    if (CountsUnits(kind)) {
      if (!(center > 0 && center < 1)) {
        return InvalidArgument("center must be a proportion in (0, 1) for " + ChartPhrase(kind) + ", found " +
                               FormatNumber(center));
      }
    } else if (!(center > 0) || !std::isfinite(center)) {
      return InvalidArgument("center must be > 0 for " + ChartPhrase(kind) + ", found " + FormatNumber(center));
    }
  }
  if (!(k_sigma > 0) || !std::isfinite(k_sigma))
    return InvalidArgument("k_sigma must be > 0, found " + FormatNumber(k_sigma));
  if (!(alpha > 0 && alpha < 1)) return InvalidArgument("alpha must be in (0, 1), found " + FormatNumber(alpha));
  if (limit_type == LimitType::kLaney && kind != AttributeChartKind::kP && kind != AttributeChartKind::kU) {
    return InvalidArgument("laney limits are Laney's p' and u' charts: they apply to p and u charts, not to " +
                           ChartPhrase(kind));
  }
  if (!(sigma_z >= 0) || !std::isfinite(sigma_z)) {
    return InvalidArgument("sigma_z must be a finite number >= 0, found " + FormatNumber(sigma_z));
  }
  if (!(sample_size >= 0) || !std::isfinite(sample_size)) {
    return InvalidArgument("sample_size must be >= 0 (0: set by the first subgroup), found " +
                           FormatNumber(sample_size));
  }
  if (sample_size > static_cast<double>(INT_MAX)) {
    return InvalidArgument("sample_size must be <= " + std::to_string(INT_MAX) + ", found " +
                           FormatNumber(sample_size));
  }
  if (CountsUnits(kind) && sample_size != std::floor(sample_size)) {
    return InvalidArgument("sample_size must be a whole number of units for " + ChartPhrase(kind) + ", found " +
                           FormatNumber(sample_size));
  }
  return Status::Ok();
}

Result<double> EstimateAttributeCenter(AttributeChartKind kind, std::span<const AttributeSubgroup> baseline,
                                       std::span<const std::int64_t> exclude) {
  if (baseline.empty()) return InvalidArgument("the baseline is empty");
  const auto size = static_cast<std::int64_t>(baseline.size());
  for (std::int64_t i = 0; i < size; ++i) {
    const AttributeSubgroup& s = baseline[static_cast<std::size_t>(i)];
    Status st = CheckAttributeSubgroup(kind, s.count, s.n);
    if (!st.ok()) return InvalidArgument("baseline subgroup " + std::to_string(i + 1) + ": " + st.message());
    if (NeedsConstantN(kind) && s.n != baseline[0].n) {
      return InvalidArgument("baseline subgroup " + std::to_string(i + 1) + " has n " + FormatNumber(s.n) +
                             " but subgroup 1 has n " + FormatNumber(baseline[0].n) + ": " + ChartPhrase(kind) +
                             " needs a constant n");
    }
  }
  for (std::int64_t e : exclude) {
    if (e < 1 || e > size) {
      return InvalidArgument("exclude index " + std::to_string(e) + " is outside the baseline 1.." +
                             std::to_string(size));
    }
  }
  double count_sum = 0, n_sum = 0;
  std::int64_t kept = 0;
  for (std::int64_t i = 0; i < size; ++i) {
    if (std::find(exclude.begin(), exclude.end(), i + 1) != exclude.end()) continue;
    const AttributeSubgroup& s = baseline[static_cast<std::size_t>(i)];
    count_sum += static_cast<double>(s.count);
    n_sum += s.n;
    ++kept;
  }
  if (kept == 0) {
    return InvalidArgument("excluding all " + std::to_string(size) + " baseline subgroups leaves none");
  }
  if (kind == AttributeChartKind::kC) return count_sum / static_cast<double>(kept);
  return count_sum / n_sum;
}

namespace {

// A baseline's centre and Laney's sigma_z (1 unless the spec asks for Laney's limits).
struct CenterZ {
  double center = 0;
  double sigma_z = 1;
};

// Laney's sigma_z of the subgroups of `baseline` not flagged in `excluded` (all when it is
// null), around `center`: the mean |z_i - z_(i-1)| of consecutive subgroups both kept, over
// d2(2) = 1.128. 1 when no such pair is left (nothing to measure the variation between
// subgroups by: the plain chart).
double LaneySigmaZ(AttributeChartKind kind, std::span<const AttributeSubgroup> baseline, double center,
                   const char* excluded) {
  double mr_sum = 0, previous = 0;
  std::size_t pairs = 0;
  bool have_previous = false;
  for (std::size_t i = 0; i < baseline.size(); ++i) {
    if (excluded && excluded[i]) {
      have_previous = false;
      continue;
    }
    const AttributeSubgroup& s = baseline[i];
    const double sigma = SigmaAt(kind, center, s.n);
    const double z = sigma > 0 ? (StatisticOf(kind, s.count, s.n) - center) / sigma : 0.0;
    if (have_previous) {
      mr_sum += std::fabs(z - previous);
      ++pairs;
    }
    previous = z;
    have_previous = true;
  }
  return pairs == 0 ? 1.0 : (mr_sum / static_cast<double>(pairs)) / 1.128;
}

}  // namespace

Result<AttributeBaselineEstimate> EstimateAttributeBaseline(const AttributeChartSpec& spec,
                                                            std::span<const AttributeSubgroup> baseline) {
  if (spec.mode != AttributeChartSpec::LimitMode::kPhase1) {
    return InvalidArgument("a baseline is estimated only for phase1 limits");
  }
  Result<double> center = EstimateAttributeCenter(spec.kind, baseline);
  if (!center.ok()) return center.status();
  const bool laney = spec.limit_type == AttributeChartSpec::LimitType::kLaney;
  AttributeBaselineEstimate out;
  out.center = *center;
  out.sigma_z = laney ? LaneySigmaZ(spec.kind, baseline, out.center, nullptr) : 1.0;
  if (spec.phase1_exclusion == Phase1Exclusion::kNone) return out;

  std::vector<std::int64_t> exclude;
  exclude.reserve(baseline.size());
  auto estimate = [&](const std::vector<char>& excluded) -> std::optional<CenterZ> {
    exclude.clear();
    for (std::size_t i = 0; i < excluded.size(); ++i) {
      if (excluded[i]) exclude.push_back(static_cast<std::int64_t>(i) + 1);
    }
    Result<double> c = EstimateAttributeCenter(spec.kind, baseline, exclude);
    if (!c.ok()) return std::nullopt;
    return CenterZ{*c, laney ? LaneySigmaZ(spec.kind, baseline, *c, excluded.data()) : 1.0};
  };
  // Limits depend on n: keep those of the last n seen (baselines mostly have one n, and
  // probability limits cost a quantile search each).
  double limits_center = 0, limits_z = 0, limits_n = 0;
  AttributeChart::PointLimits limits;
  auto beyond = [&](const CenterZ& c, std::size_t i) {
    const AttributeSubgroup& s = baseline[i];
    if (limits_n != s.n || limits_center != c.center || limits_z != c.sigma_z) {
      limits = AttributeChart::ComputeLimits(spec, c.center, c.sigma_z, s.n);
      limits_n = s.n;
      limits_center = c.center;
      limits_z = c.sigma_z;
    }
    return AttributeChart::Beyond(limits, StatisticOf(spec.kind, s.count, s.n));
  };
  const CenterZ final_estimate =
      IteratePhase1Exclusion(baseline.size(), CenterZ{out.center, out.sigma_z}, estimate, beyond, out.exclusions);
  out.center = final_estimate.center;
  out.sigma_z = final_estimate.sigma_z;
  return out;
}

AttributeChart::AttributeChart(const AttributeChartSpec& spec) : spec_(spec), chart_(ToChartKind(spec.kind)) {
  fixed_n_ = spec_.sample_size;
  if (spec_.mode == AttributeChartSpec::LimitMode::kKnown) {
    center_ = spec_.center;
    sigma_z_ = spec_.limit_type == AttributeChartSpec::LimitType::kLaney ? spec_.sigma_z : 1.0;
    limits_ready_ = true;
  } else {
    baseline_.reserve(static_cast<std::size_t>(spec_.phase1_subgroups));
    baseline_ts_.reserve(static_cast<std::size_t>(spec_.phase1_subgroups));
  }
}

double AttributeChart::center_line_at(double n) const { return CenterLineAt(spec_.kind, center_, n); }

double AttributeChart::sigma_at(double n) const { return SigmaAt(spec_.kind, center_, n); }

AttributeLimits AttributeChart::limits_at(double n) const { return ComputeLimits(spec_, center_, sigma_z_, n).shown; }

AttributeChart::PointLimits AttributeChart::ComputeLimits(const AttributeChartSpec& spec, double center,
                                                          double sigma_z, double n) {
  const AttributeChartKind kind = spec.kind;
  const bool inclusive = spec.boundary == Boundary::kInclusive;
  const double cl = CenterLineAt(kind, center, n);
  // The top of the statistic's range: a proportion is at most 1, an np count at most n.
  const double top = kind == AttributeChartKind::kP    ? 1.0
                     : kind == AttributeChartKind::kNp ? n
                                                       : std::numeric_limits<double>::infinity();
  PointLimits lim;
  if (spec.limit_type != AttributeChartSpec::LimitType::kProbability) {
    const bool laney = spec.limit_type == AttributeChartSpec::LimitType::kLaney;
    const double half_width = spec.k_sigma * SigmaAt(kind, center, n) * (laney ? sigma_z : 1.0);
    lim.ucl_judged = cl + half_width;
    lim.lcl_judged = cl - half_width;
    lim.ucl_closed = inclusive && lim.ucl_judged < top && lim.ucl_judged > cl;
    lim.lcl_closed = inclusive && lim.lcl_judged > 0 && lim.lcl_judged < cl;
  } else {
    // Exact limits on the count in one subgroup, then scaled like the statistic.
    const double q = spec.alpha / 2;
    double lo = 0, hi = 0;
    if (CountsUnits(kind)) {
      const double mean = n * center;
      if (center <= 0 || center >= 1) {
        lo = hi = mean;  // no variation: the count is always n p-bar
      } else {
        const Binomial dist(n, center);
        lo = LowerCountQuantile(dist, q, n, mean);
        hi = UpperCountQuantile(dist, q, n, mean);
      }
    } else {
      const double mean = kind == AttributeChartKind::kU ? center * n : center;
      if (mean <= 0) {
        lo = hi = 0;
      } else {
        const Poisson dist(mean);
        const double inf = std::numeric_limits<double>::infinity();
        lo = LowerCountQuantile(dist, q, inf, mean);
        hi = UpperCountQuantile(dist, q, inf, mean);
      }
    }
    if (inclusive) {
      // A count on an inclusive limit fires: draw the limits one count out so that the same
      // counts fire as under kStrict.
      lo -= 1;
      hi += 1;
    }
    const double scale = (kind == AttributeChartKind::kP || kind == AttributeChartKind::kU) ? n : 1.0;
    lim.ucl_judged = hi / scale;
    lim.lcl_judged = lo / scale;
    lim.ucl_closed = lim.lcl_closed = inclusive;
  }
  lim.shown = AttributeLimits{cl, std::min(lim.ucl_judged, top), std::max(lim.lcl_judged, 0.0)};
  return lim;
}

const AttributeChart::PointLimits& AttributeChart::LimitsFor(double n) {
  for (const CachedLimits& c : limit_cache_) {
    if (c.n == n) return c.limits;
  }
  CachedLimits& slot = limit_cache_[static_cast<std::size_t>(next_cache_slot_)];
  next_cache_slot_ = (next_cache_slot_ + 1) % kLimitCacheSize;
  slot.n = n;
  slot.limits = ComputeLimits(spec_, center_, sigma_z_, n);
  return slot.limits;
}

Status AttributeChart::CheckSubgroup(std::int64_t count, double n) const {
  SHEWHART_RETURN_IF_ERROR(CheckAttributeSubgroup(spec_.kind, count, n));
  if (fixed_n_ > 0 && n != fixed_n_) {
    return InvalidArgument("n " + FormatNumber(n) + " differs from the constant n " + FormatNumber(fixed_n_) + " of " +
                           ChartPhrase(spec_.kind));
  }
  return Status::Ok();
}

double AttributeChart::Statistic(std::int64_t count, double n) const { return StatisticOf(spec_.kind, count, n); }

bool AttributeChart::Beyond(const PointLimits& lim, double value) {
  const bool above = value > lim.ucl_judged || (lim.ucl_closed && value == lim.ucl_judged);
  const bool below = value < lim.lcl_judged || (lim.lcl_closed && value == lim.lcl_judged);
  return above || below;
}

EventTime AttributeChart::WindowStart(std::int64_t first, EventTime first_ts) const {
  if (last_in_control_index_ > 0 && last_in_control_index_ < first) return last_in_control_ts_;
  return first_ts;
}

void AttributeChart::Judge(std::int64_t index, std::int64_t count, double n, EventTime ts, Phase phase,
                           ChartObserver& observer) {
  const PointLimits& lim = LimitsFor(n);
  const double value = Statistic(count, n);
  observer.OnPoint(ChartPoint{chart_, phase, index, ts, value, lim.shown.cl, lim.shown.ucl, lim.shown.lcl,
                              static_cast<int>(std::lround(n))});
  if (spec_.nelson1 && Beyond(lim, value)) {
    observer.OnRuleHit(RuleHit{RuleKind::kNelson1, chart_, index, index, index, ts, WindowStart(index, ts), value});
    return;
  }
  last_in_control_index_ = index;
  last_in_control_ts_ = ts;
}

void AttributeChart::SetKnownCenter(double center, double sigma_z) {
  SHEWHART_CHECK(limits_ready_ || count_ == 0);
  SHEWHART_CHECK(std::isfinite(center) && center >= 0);
  const bool laney = spec_.limit_type == AttributeChartSpec::LimitType::kLaney;
  SHEWHART_CHECK(!laney || (std::isfinite(sigma_z) && sigma_z >= 0));
  center_ = center;
  sigma_z_ = laney ? sigma_z : 1.0;
  limits_ready_ = true;
  limit_cache_ = {};
}

Status AttributeChart::Add(std::int64_t count, double n, EventTime ts, ChartObserver& observer) {
  SHEWHART_RETURN_IF_ERROR(CheckSubgroup(count, n));
  if (fixed_n_ == 0 && NeedsConstantN(spec_.kind)) fixed_n_ = n;
  const std::int64_t index = ++count_;
  if (limits_ready_) {
    Judge(index, count, n, ts, Phase::kTwo, observer);
    return Status::Ok();
  }
  baseline_.push_back(AttributeSubgroup{count, n});
  baseline_ts_.push_back(ts);
  if (static_cast<int>(baseline_.size()) < spec_.phase1_subgroups) return Status::Ok();

  // Baseline complete: estimate, then judge the baseline retrospectively.
  Result<AttributeBaselineEstimate> estimate = EstimateAttributeBaseline(spec_, baseline_);
  SHEWHART_CHECK(estimate.ok());  // every subgroup passed CheckSubgroup
  center_ = estimate->center;
  sigma_z_ = estimate->sigma_z;
  exclusions_ = std::move(estimate->exclusions);
  limits_ready_ = true;
  limit_cache_ = {};
  for (std::size_t i = 0; i < baseline_.size(); ++i) {
    Judge(static_cast<std::int64_t>(i) + 1, baseline_[i].count, baseline_[i].n, baseline_ts_[i], Phase::kOne,
          observer);
  }
  baseline_ts_.clear();
  baseline_ts_.shrink_to_fit();
  return Status::Ok();
}

}  // namespace shewhart::rules
