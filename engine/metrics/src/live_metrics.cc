#include "shewhart/engine/metrics/live_metrics.h"

#include <limits>

namespace shewhart::engine {

// ---------------------------------------------------------------------------------------------
// PublishedWindow: a sequence lock (Boehm, "Can seqlocks get along with programming language
// memory models?", 2012, the variant without fences): the writer makes the counter odd, writes
// every field with release (so none is seen before the odd counter), makes it even with release;
// a reader loads the counter, then every field with acquire (so the second load of the counter
// cannot move before them), then the counter again: the same even value before and after means
// a consistent copy. Every field is an atomic, so an overlap is a retry, never a data race.

void PublishedWindow::Publish(const rules::WindowStats& w, double sigma_within) {
  constexpr auto kRel = std::memory_order_release;
  const std::uint64_t s = seq_.load(std::memory_order_relaxed);
  seq_.store(s + 1, std::memory_order_relaxed);
  n_.store(w.n, kRel);
  below_.store(w.below_lsl, kRel);
  above_.store(w.above_usl, kRel);
  mean_.store(w.mean, kRel);
  sd_.store(w.sd, kRel);
  sigma_.store(sigma_within, kRel);
  seq_.store(s + 2, kRel);
}

void PublishedWindow::Read(rules::WindowStats& w, double& sigma_within) const {
  constexpr auto kAcq = std::memory_order_acquire;
  for (;;) {
    const std::uint64_t before = seq_.load(kAcq);
    w.n = n_.load(kAcq);
    w.below_lsl = below_.load(kAcq);
    w.above_usl = above_.load(kAcq);
    w.mean = mean_.load(kAcq);
    w.sd = sd_.load(kAcq);
    sigma_within = sigma_.load(kAcq);
    if ((before & 1) == 0 && seq_.load(std::memory_order_relaxed) == before) return;
  }
}

// ---------------------------------------------------------------------------------------------

std::vector<rules::ChartKind> ChartsOf(ChartType type) {
  using K = rules::ChartKind;
  switch (type) {
    case ChartType::kIndividuals: return {K::kIndividuals, K::kMovingRange};
    case ChartType::kEwma: return {K::kEwma};
    case ChartType::kCusum: return {K::kCusum};
    case ChartType::kP: return {K::kP};
    case ChartType::kNp: return {K::kNp};
    case ChartType::kC: return {K::kC};
    case ChartType::kU: return {K::kU};
    case ChartType::kXbarR: return {K::kXbar, K::kR};
    case ChartType::kXbarS: return {K::kXbar, K::kS};
    case ChartType::kT2: return {K::kT2};
  }
  return {};
}

std::vector<rules::RuleKind> RulesOf(const CharacteristicSpec& spec) {
  std::vector<rules::RuleKind> out{rules::RuleKind::kNelson1};
  if (!IsAttribute(spec.type) && spec.type != ChartType::kT2) {
    if (spec.chart.spec.lsl) out.push_back(rules::RuleKind::kSpecLsl);
    if (spec.chart.spec.usl) out.push_back(rules::RuleKind::kSpecUsl);
  }
  for (int r = 0; r < rules::kRuleKindCount; ++r) {
    const auto kind = static_cast<rules::RuleKind>(r);
    if (kind == rules::RuleKind::kNelson1 || !rules::RunRulesSpec::IsRunRule(kind)) continue;
    if (spec.run_rules.Enabled(kind) || spec.companion_rules.Enabled(kind)) out.push_back(kind);
  }
  if (spec.threshold) out.push_back(rules::RuleKind::kThreshold);
  if (spec.rate) out.push_back(rules::RuleKind::kRate);
  if (spec.stale_after) out.push_back(rules::RuleKind::kStale);
  return out;
}

namespace {
constexpr const char* kSignalsHelp = "Rule signals by characteristic and rule.";
}  // namespace

CharacteristicMetrics::CharacteristicMetrics(MetricsRegistry& registry, const CharacteristicSpec& spec,
                                             const PublishedWindow* window)
    : registry_(registry), spec_(spec) {
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  const std::string& id = spec.id;
  for (rules::ChartKind kind : ChartsOf(spec.type)) {
    if (chart_count_ == charts_.size()) break;
    const MetricLabels labels{{"characteristic", id}, {"chart", std::string(rules::ChartName(kind))}};
    ChartCells& c = charts_[chart_count_++];
    c.kind = kind;
    for (Gauge* g : {&c.value, &c.cl, &c.ucl, &c.lcl}) g->Set(kNaN);
    registry.AddGauge("shewhart_chart_value",
                      "The statistic of the chart's last point (individual value, x-bar, range, p, ...; CUSUM: the "
                      "larger sum in magnitude); NaN before the first point.",
                      labels, &c.value);
    registry.AddGauge("shewhart_chart_cl", "Centre line at the chart's last point; NaN before the first point.", labels,
                      &c.cl);
    registry.AddGauge("shewhart_chart_ucl",
                      "Upper control limit at the chart's last point; NaN before the first point.", labels, &c.ucl);
    registry.AddGauge("shewhart_chart_lcl",
                      "Lower control limit at the chart's last point; NaN before the first point.", labels, &c.lcl);
    registry.AddCounter("shewhart_chart_points_total",
                        "Points plotted on the chart (Phase I baseline points when it completes).", labels, &c.points);
  }
  const char* kSpecHelp = "Spec limits of the characteristic, as configured (limit: lsl, target, usl).";
  const rules::SpecLimits& limits = spec.chart.spec;
  for (const auto& [name, value] : {std::pair{"lsl", &limits.lsl}, {"target", &limits.target}, {"usl", &limits.usl}}) {
    if (*value)
      registry.GetGauge("shewhart_spec_limit", kSpecHelp, {{"characteristic", id}, {"limit", name}})->Set(**value);
  }
  if (window) {
    registry.AddCallbackGauge("shewhart_capability_window_values", "Values in the capability window.",
                              {{"characteristic", id}}, [window] {
                                rules::WindowStats w;
                                double sigma;
                                window->Read(w, sigma);
                                return static_cast<double>(w.n);
                              });
    using Field = double rules::CapabilityValues::*;
    static const std::pair<const char*, Field> kIndices[] = {
        {"cp", &rules::CapabilityValues::cp},   {"cpl", &rules::CapabilityValues::cpl},
        {"cpu", &rules::CapabilityValues::cpu}, {"cpk", &rules::CapabilityValues::cpk},
        {"cpm", &rules::CapabilityValues::cpm}, {"pp", &rules::CapabilityValues::pp},
        {"ppl", &rules::CapabilityValues::ppl}, {"ppu", &rules::CapabilityValues::ppu},
        {"ppk", &rules::CapabilityValues::ppk}, {"ppm", &rules::CapabilityValues::ppm}};
    const bool lsl = limits.lsl.has_value(), usl = limits.usl.has_value();
    std::vector<MetricLabels> labels;
    std::vector<Field> fields;
    for (const auto& [name, field] : kIndices) {
      const std::string n = name;
      // Only the indices the spec defines (Cp, Pp, Cpm, Ppm need both limits; one side only its own).
      const bool defined =
          (lsl && usl) || n == "cpk" || n == "ppk" || (lsl ? (n == "cpl" || n == "ppl") : (n == "cpu" || n == "ppu"));
      if (!defined) continue;
      labels.push_back({{"characteristic", id}, {"index", n}});
      fields.push_back(field);
    }
    rules::CapabilitySpec cap;
    cap.spec = limits;
    cap.confidence_level = spec.capability_confidence;
    // All of a characteristic's indices from one read of its window, once per scrape.
    registry.AddCallbackGauges(
        "shewhart_capability",
        "Process capability / performance index over the characteristic's capability window; NaN until computable.",
        labels, [window, cap, fields](double* out) {
          rules::WindowStats w;
          double sigma;
          window->Read(w, sigma);
          const rules::CapabilityValues v = rules::ComputeCapabilityValues(cap, w, sigma);
          for (std::size_t i = 0; i < fields.size(); ++i) out[i] = v.*fields[i];
        });
  }
  for (rules::RuleKind r : RulesOf(spec)) SignalCounter(r);
}

Counter* CharacteristicMetrics::SignalCounter(rules::RuleKind rule) {
  Counter*& c = signals_[static_cast<std::size_t>(rule)];
  if (!c) {
    c = registry_.GetCounter("shewhart_signals_total", kSignalsHelp,
                             {{"characteristic", spec_.id}, {"rule", std::string(rules::RuleName(rule))}});
  }
  return c;
}

void CharacteristicMetrics::OnSignal(rules::RuleKind rule) { SignalCounter(rule)->Inc(); }

// ---------------------------------------------------------------------------------------------

StationMetrics::StationMetrics(MetricsRegistry& registry, std::size_t max_stations)
    : registry_(registry), max_stations_(max_stations) {
  omitted_ = registry.GetCounter("shewhart_metrics_station_passes_omitted_total",
                                 "Unit passes at stations beyond engine.metrics_max_stations (not in "
                                 "shewhart_station_units_total).");
}

StationMetrics::Entry* StationMetrics::Find(std::string_view station) {
  if (station.empty()) return nullptr;
  auto it = stations_.find(station);
  if (it != stations_.end()) return &it->second;
  if (stations_.size() >= max_stations_) return nullptr;
  Entry e;
  const MetricLabels labels{{"station", std::string(station)}};
  e.passes = registry_.GetCounter(
      "shewhart_station_units_total",
      "Units that passed the station: genealogy records (unit events, measurements with a serial) at it, "
      "consecutive records of one unit counting once.",
      labels);
  e.held = registry_.GetCounter("shewhart_station_units_held_total",
                                "Units that passed the station and were taken into a hold whose scope names it, "
                                "counted when they join their first hold (first-pass yield = 1 - held / passed).",
                                labels);
  return &stations_.emplace(std::string(station), std::move(e)).first->second;
}

void StationMetrics::OnRecord(std::string_view station, std::string_view unit) {
  if (station.empty()) return;
  Entry* e = Find(station);
  if (!e) {
    omitted_->Inc();
    return;
  }
  if (e->last_unit == unit) return;  // the same pass
  e->last_unit.assign(unit);
  e->passes->Inc();
}

void StationMetrics::OnHeld(std::string_view station, std::int64_t n) {
  if (n <= 0) return;
  if (Entry* e = Find(station)) e->held->Inc(static_cast<std::uint64_t>(n));
}

}  // namespace shewhart::engine
