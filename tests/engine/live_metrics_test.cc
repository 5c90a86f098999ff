#include "shewhart/engine/metrics/live_metrics.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace shewhart::engine {
namespace {

// The value of the sample `series` ("name{labels}") in a rendering; nullopt when absent.
std::optional<double> Sample(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 && line[series.size()] == ' ') {
      const std::string v = line.substr(series.size() + 1);
      if (v == "NaN") return std::numeric_limits<double>::quiet_NaN();
      return std::stod(v);
    }
  }
  return std::nullopt;
}

CharacteristicSpec Individuals() {
  CharacteristicSpec spec;
  spec.id = "bore";
  spec.type = ChartType::kIndividuals;
  spec.chart.spec.lsl = 9;
  spec.chart.spec.usl = 11;
  spec.chart.spec_lsl = spec.chart.spec_usl = true;
  spec.run_rules = rules::RunRulesSpec{};
  EXPECT_TRUE(spec.run_rules.Enable(rules::RuleKind::kNelson2).ok());
  spec.companion_rules = rules::RunRulesSpec{};
  return spec;
}

TEST(LiveMetricsTest, ChartsAndRulesOfACharacteristicFollowItsSpec) {
  using K = rules::ChartKind;
  EXPECT_EQ(ChartsOf(ChartType::kIndividuals), (std::vector<K>{K::kIndividuals, K::kMovingRange}));
  EXPECT_EQ(ChartsOf(ChartType::kXbarS), (std::vector<K>{K::kXbar, K::kS}));
  EXPECT_EQ(ChartsOf(ChartType::kU), (std::vector<K>{K::kU}));
  CharacteristicSpec spec = Individuals();
  using R = rules::RuleKind;
  EXPECT_EQ(RulesOf(spec), (std::vector<R>{R::kNelson1, R::kSpecLsl, R::kSpecUsl, R::kNelson2}));
  spec.chart.spec.lsl.reset();
  ASSERT_TRUE(spec.companion_rules.Enable(R::kNelson3).ok());
  spec.stale_after = std::chrono::seconds(10);
  EXPECT_EQ(RulesOf(spec), (std::vector<R>{R::kNelson1, R::kSpecUsl, R::kNelson2, R::kNelson3, R::kStale}));
}

TEST(LiveMetricsTest, CharacteristicSeriesFollowPointsWindowAndSignals) {
  MetricsRegistry registry;
  const CharacteristicSpec spec = Individuals();
  PublishedWindow window;
  CharacteristicMetrics m(registry, spec, &window);

  std::string text = registry.Render();
  EXPECT_TRUE(std::isnan(*Sample(text, "shewhart_chart_value{characteristic=\"bore\",chart=\"individuals\"}")));
  EXPECT_TRUE(std::isnan(*Sample(text, "shewhart_capability{characteristic=\"bore\",index=\"cpk\"}")));
  EXPECT_EQ(Sample(text, "shewhart_spec_limit{characteristic=\"bore\",limit=\"lsl\"}"), 9.0);
  EXPECT_EQ(Sample(text, "shewhart_spec_limit{characteristic=\"bore\",limit=\"usl\"}"), 11.0);
  EXPECT_FALSE(Sample(text, "shewhart_spec_limit{characteristic=\"bore\",limit=\"target\"}"));
  // Only the rules it has; each at 0 before its first signal.
  EXPECT_EQ(Sample(text, "shewhart_signals_total{characteristic=\"bore\",rule=\"nelson.2\"}"), 0.0);
  EXPECT_EQ(Sample(text, "shewhart_signals_total{characteristic=\"bore\",rule=\"spec.usl\"}"), 0.0);
  EXPECT_FALSE(Sample(text, "shewhart_signals_total{characteristic=\"bore\",rule=\"nelson.3\"}"));

  rules::ChartPoint p{};
  p.chart = rules::ChartKind::kMovingRange;
  p.value = 0.2;
  p.cl = 0.1128;
  p.ucl = 0.36855;
  p.lcl = 0;
  m.OnPoint(p);
  p.chart = rules::ChartKind::kIndividuals;
  p.cl = 10;
  p.ucl = 10.3;
  p.lcl = 9.7;
  for (double v : {10.1, 9.9, 10.2}) {
    p.value = v;
    m.OnPoint(p);
  }
  p.chart = rules::ChartKind::kXbar;  // not one of its charts: ignored
  p.value = 99;
  m.OnPoint(p);
  rules::CapabilityAccumulator acc(spec.chart.spec);
  for (double v : {10.1, 9.9, 10.2}) acc.Add(v);
  window.Publish(acc.stats(), 0.1);
  m.OnSignal(rules::RuleKind::kNelson2);
  m.OnSignal(rules::RuleKind::kNelson2);
  m.OnSignal(rules::RuleKind::kNelson7);  // not foreseen: registered on its first signal

  text = registry.Render();
  const std::string ind = "{characteristic=\"bore\",chart=\"individuals\"}";
  EXPECT_EQ(Sample(text, "shewhart_chart_value" + ind), 10.2);
  EXPECT_EQ(Sample(text, "shewhart_chart_cl" + ind), 10.0);
  EXPECT_EQ(Sample(text, "shewhart_chart_ucl" + ind), 10.3);
  EXPECT_EQ(Sample(text, "shewhart_chart_lcl" + ind), 9.7);
  EXPECT_EQ(Sample(text, "shewhart_chart_points_total" + ind), 3.0);
  EXPECT_EQ(Sample(text, "shewhart_chart_value{characteristic=\"bore\",chart=\"mr\"}"), 0.2);
  EXPECT_EQ(Sample(text, "shewhart_chart_points_total{characteristic=\"bore\",chart=\"mr\"}"), 1.0);
  EXPECT_FALSE(Sample(text, "shewhart_chart_value{characteristic=\"bore\",chart=\"xbar\"}"));
  rules::CapabilitySpec cap;
  cap.spec = spec.chart.spec;
  auto want = rules::ComputeCapability(cap, acc.stats(), 0.1);
  ASSERT_TRUE(want.ok());
  EXPECT_EQ(Sample(text, "shewhart_capability{characteristic=\"bore\",index=\"cpk\"}"), want->cpk->value);
  EXPECT_EQ(Sample(text, "shewhart_capability{characteristic=\"bore\",index=\"ppm\"}"), want->ppm->value);
  EXPECT_EQ(Sample(text, "shewhart_capability_window_values{characteristic=\"bore\"}"), 3.0);
  EXPECT_EQ(Sample(text, "shewhart_signals_total{characteristic=\"bore\",rule=\"nelson.2\"}"), 2.0);
  EXPECT_EQ(Sample(text, "shewhart_signals_total{characteristic=\"bore\",rule=\"nelson.7\"}"), 1.0);
}

// A one-sided spec exports only the indices it defines.
TEST(LiveMetricsTest, OneSidedSpecExportsItsIndicesOnly) {
  MetricsRegistry registry;
  CharacteristicSpec spec = Individuals();
  spec.chart.spec.lsl.reset();
  PublishedWindow window;
  CharacteristicMetrics m(registry, spec, &window);
  const std::string text = registry.Render();
  for (const char* index : {"cpu", "cpk", "ppu", "ppk"}) {
    EXPECT_TRUE(Sample(text, "shewhart_capability{characteristic=\"bore\",index=\"" + std::string(index) + "\"}"))
        << index;
  }
  for (const char* index : {"cp", "cpl", "cpm", "pp", "ppl", "ppm"}) {
    EXPECT_FALSE(Sample(text, "shewhart_capability{characteristic=\"bore\",index=\"" + std::string(index) + "\"}"))
        << index;
  }
}

// The sequence lock: a reader racing a writer only ever sees one publication whole. Every
// field of publication k is derived from k, so a torn read breaks the relation.
TEST(LiveMetricsTest, PublishedWindowIsNeverReadTorn) {
  PublishedWindow window;
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (std::int64_t k = 1; k <= 2'000'000; ++k) {
      const double d = static_cast<double>(k);
      window.Publish(rules::WindowStats{k, d * 0.5, d * 2, k + 1, k + 2}, d * 3);
    }
    done = true;
  });
  std::int64_t reads = 0, last = 0;
  do {
    rules::WindowStats w;
    double sigma;
    window.Read(w, sigma);
    ++reads;
    if (w.n == 0) continue;  // nothing published yet
    const double d = static_cast<double>(w.n);
    ASSERT_EQ(w.mean, d * 0.5);
    ASSERT_EQ(w.sd, d * 2);
    ASSERT_EQ(w.below_lsl, w.n + 1);
    ASSERT_EQ(w.above_usl, w.n + 2);
    ASSERT_EQ(sigma, d * 3);
    ASSERT_GE(w.n, last) << "publications are seen in order";
    last = w.n;
  } while (!done.load());
  writer.join();
  EXPECT_GT(reads, 0);
}

TEST(LiveMetricsTest, ConsecutiveRecordsOfAUnitAtAStationAreOnePass) {
  MetricsRegistry registry;
  StationMetrics m(registry, 10);
  // U1's unit event and measurement at st1 are one pass; U1 back at st1 after U2 is another.
  const std::vector<std::pair<std::string, std::string>> records = {
      {"st1", "U1"}, {"st1", "U1"}, {"st2", "U1"}, {"st1", "U2"}, {"st1", "U1"}, {"", "U3"}};
  for (const auto& [station, unit] : records) m.OnRecord(station, unit);
  m.OnHeld("st1", 2);
  m.OnHeld("st2", 0);
  const std::string text = registry.Render();
  EXPECT_EQ(Sample(text, "shewhart_station_units_total{station=\"st1\"}"), 3.0) << text;
  EXPECT_EQ(Sample(text, "shewhart_station_units_total{station=\"st2\"}"), 1.0);
  EXPECT_EQ(Sample(text, "shewhart_station_units_held_total{station=\"st1\"}"), 2.0);
  EXPECT_EQ(Sample(text, "shewhart_station_units_held_total{station=\"st2\"}"), 0.0);
  EXPECT_EQ(Sample(text, "shewhart_metrics_station_passes_omitted_total"), 0.0);
  EXPECT_EQ(text.find("station=\"\""), std::string::npos) << "a record without a station counts nowhere";
}

TEST(LiveMetricsTest, StationsBeyondTheCapAreCountedAsOmittedPasses) {
  MetricsRegistry registry;
  StationMetrics m(registry, 2);
  for (const char* s : {"a", "b", "c", "d", "a", "c"}) m.OnRecord(s, std::string("U-") + s);
  m.OnHeld("d", 5);
  const std::string text = registry.Render();
  EXPECT_EQ(Sample(text, "shewhart_station_units_total{station=\"a\"}"), 1.0);
  EXPECT_EQ(Sample(text, "shewhart_station_units_total{station=\"b\"}"), 1.0);
  EXPECT_FALSE(Sample(text, "shewhart_station_units_total{station=\"c\"}"));
  EXPECT_FALSE(Sample(text, "shewhart_station_units_held_total{station=\"d\"}"));
  EXPECT_EQ(Sample(text, "shewhart_metrics_station_passes_omitted_total"), 3.0);
}

}  // namespace
}  // namespace shewhart::engine
