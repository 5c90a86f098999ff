#include "arl.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "shewhart/engine/pipeline/chart_runner.h"

namespace shewhart::app {

namespace {

struct FirstSignal : rules::ChartObserver {
  bool fired = false;
  void OnPoint(const rules::ChartPoint&) override {}
  void OnRuleHit(const rules::RuleHit& h) override {
    if (h.rule != rules::RuleKind::kSpecLsl && h.rule != rules::RuleKind::kSpecUsl) fired = true;
  }
};

}  // namespace

Result<std::vector<ArlRow>> EstimateArl(const engine::CharacteristicSpec& spec, const ArlOptions& options) {
  using engine::ChartType;
  if (engine::IsAttribute(spec.type)) {
    return InvalidArgument("arl simulates normally distributed measurements: characteristic '" + spec.id +
                           "' has an attribute chart (p, np, c, u)");
  }
  if (spec.type == ChartType::kT2) {
    return InvalidArgument("arl simulates univariate normal measurements: characteristic '" + spec.id +
                           "' has a Hotelling T^2 chart");
  }
  if (options.runs < 1) return InvalidArgument("--runs must be at least 1, found " + std::to_string(options.runs));
  const bool subgrouped = spec.type == ChartType::kXbarR || spec.type == ChartType::kXbarS;
  const bool explicit_limits = subgrouped ? spec.subgroup.mode == rules::SubgroupChartSpec::LimitMode::kExplicit
                                          : spec.chart.mode == rules::IndividualsChartSpec::LimitMode::kExplicit;
  const bool known =
      explicit_limits || (subgrouped ? spec.subgroup.mode == rules::SubgroupChartSpec::LimitMode::kKnown
                                     : spec.chart.mode == rules::IndividualsChartSpec::LimitMode::kKnown);
  double mean = known ? (subgrouped ? spec.subgroup.mean : spec.chart.mean) : 0.0;
  double sigma = known ? (subgrouped ? spec.subgroup.sigma : spec.chart.sigma) : 1.0;
  if (explicit_limits) {
    // The process the explicit limits stand for: centred on cl, with the sigma they imply.
    const rules::ChartLimits& l = subgrouped ? spec.subgroup.xbar_limits : spec.chart.explicit_limits;
    const double k = subgrouped ? spec.subgroup.k_sigma : spec.chart.k_sigma;
    const double n = subgrouped ? static_cast<double>(spec.subgroup.subgroup_size) : 1.0;
    mean = l.cl;
    sigma = (l.ucl - l.lcl) / (2 * k) * std::sqrt(n);
  }
  const int per_point = subgrouped ? spec.subgroup.subgroup_size : 1;
  const int baseline_points = known ? 0 : (subgrouped ? spec.subgroup.phase1_subgroups : spec.chart.phase1_points);

  std::mt19937_64 rng(options.seed);
  std::normal_distribution<double> noise(0.0, 1.0);
  std::vector<ArlRow> rows;
  std::vector<double> lengths(static_cast<std::size_t>(options.runs));
  engine::Measurement m;
  m.has_value = true;
  for (double shift : options.shifts) {
    ArlRow row;
    row.shift = shift;
    for (int r = 0; r < options.runs; ++r) {
      std::unique_ptr<engine::ChartRunner> chart = engine::MakeChartRunner(spec);
      FirstSignal obs;
      std::int64_t t = 0;
      auto feed_point = [&](double centre) {
        for (int k = 0; k < per_point; ++k) {
          m.value = centre + sigma * noise(rng);
          m.ts = rules::EventTime(std::chrono::microseconds(++t));
          Status st = chart->Add(m, obs);
          SHEWHART_CHECK(st.ok());
        }
      };
      for (int b = 0; b < baseline_points; ++b) feed_point(mean);
      obs.fired = false;  // signals inside the baseline are Phase I findings, not run lengths
      std::int64_t length = 0;
      while (!obs.fired && length < options.max_points) {
        ++length;
        feed_point(mean + shift * sigma);
      }
      if (!obs.fired) row.censored++;
      lengths[static_cast<std::size_t>(r)] = static_cast<double>(length);
    }
    double sum = 0, sq = 0;
    for (double l : lengths) sum += l;
    row.arl = sum / options.runs;
    for (double l : lengths) sq += (l - row.arl) * (l - row.arl);
    row.sd = options.runs > 1 ? std::sqrt(sq / (options.runs - 1)) : 0.0;
    row.se = row.sd / std::sqrt(static_cast<double>(options.runs));
    std::vector<double> sorted = lengths;
    std::sort(sorted.begin(), sorted.end());
    const std::size_t h = sorted.size() / 2;
    row.median = sorted.size() % 2 ? sorted[h] : (sorted[h - 1] + sorted[h]) / 2;
    rows.push_back(row);
  }
  return rows;
}

}  // namespace shewhart::app
