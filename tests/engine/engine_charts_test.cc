// Chart types and limits versions through the engine: reloaded alarms, subgroups closed by
// labels, capability (qcc's pistonrings), stale streams, late data, T², limits versions and
// their effective times, inhibition by a tier-3 alarm. engine_test.cc has the rest.
#include "shewhart/engine/engine.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <limits>
#include <optional>
#include <thread>
#include <sstream>

#include <filesystem>

#include "../test_util.h"
#include "engine_fixture.h"
#include "shewhart/base/thread.h"
#include "shewhart/engine/pipeline/chart_runner.h"
#include "shewhart/engine/metrics/metrics.h"
#include "shewhart/engine/model/time_format.h"
#include "shewhart/connectors/file/file_source.h"
#include "shewhart/engine/model/time_format.h"


namespace shewhart::engine {
using fixture::Collector;
using fixture::kConfig;
using fixture::LoadOrDie;
using fixture::Measure;
using fixture::RunInline;
using fixture::Unit;
}  // namespace shewhart::engine
namespace shewhart::engine {
namespace {

// An alarm reopened from the store after a restart resolves like a new one.
TEST(EngineTest, ReloadedAlarmResolvesAfterInControlPoints) {
  testing::TempDir dir;
  Config config = LoadOrDie(
      std::string(kConfig) +
      "    response: r\nresponses:\n  r: { resolve_after: 2, tiers: [ { tier: 1, do: [log, quarantine] } ] }\n");
  const std::string store = dir.File("s.db");
  const std::vector<std::string> runs = {Measure(12.0, 1000, "S1", "st1"),
                                         Measure(10.0, 2000, "S2", "st1") + Measure(10.0, 3000, "S3", "st2") +
                                             Measure(10.0, 4000, "S4", "st1") + Unit(5000, "S5", "st1")};
  for (std::size_t run = 0; run < runs.size(); ++run) {
    const std::string input = dir.Write("in.jsonl", runs[run]);
    Collector collector;
    std::unique_ptr<Engine> run_engine = RunInline(config, store, input, &collector);
    ASSERT_TRUE(run_engine) << "engine failed";
    Engine& engine = *run_engine;
    auto doc = nlohmann::json::parse(engine.HandleApi("GET", "/api/alarms", "").body);
    ASSERT_EQ(doc["alarms"].size(), 1u);
    if (run == 0) {
      EXPECT_EQ(doc["alarms"][0]["state"], "open");
      continue;
    }
    EXPECT_EQ(doc["alarms"][0]["state"], "resolved");
    EXPECT_EQ(doc["alarms"][0]["resolved"], "1970-01-01T00:00:04.000Z") << "the second in-control st1 point";
    auto hold = nlohmann::json::parse(engine.HandleApi("GET", "/api/holds/1", "").body);
    std::vector<std::string> serials;
    for (const auto& u : hold["units"]) serials.push_back(u["serial"]);
    EXPECT_EQ(serials, (std::vector<std::string>{"S1", "S2", "S4"})) << "S5 came after the resolution";
  }
}

}  // namespace
}  // namespace shewhart::engine

namespace shewhart::engine {
namespace {

// A subgroup closed by the first measurement of the next one keeps its own scope labels.
TEST(EngineTest, SubgroupClosedByANewLabelKeepsItsScope) {
  testing::TempDir dir;
  Config config = LoadOrDie(
      "characteristics:\n"
      "  - id: bore\n"
      "    chart: { type: xbar_r, subgroup_size: 5, variable_size: true }\n"
      "    limits: { mean: 0, sigma: 1 }\n"
      "    rules: [nelson.1]\n"
      "    scope: [station]\n");
  auto line = [](double v, int ms, const char* serial, const char* station, const char* subgroup) {
    return "{\"characteristic\":\"bore\",\"value\":" + std::to_string(v) + ",\"ts\":" + std::to_string(ms) +
           ",\"serial\":\"" + serial + "\",\"station\":\"" + station + "\",\"subgroup\":\"" + subgroup + "\"}\n";
  };
  const std::string input =
      dir.Write("in.jsonl", line(0, 500, "A0", "A", "g0") + line(0.1, 800, "A0b", "A", "g0") +
                                line(5, 1000, "A1", "A", "g1") + line(5, 2000, "A2", "A", "g1") +
                                line(0, 3000, "B1", "B", "g2") + line(0, 4000, "B2", "B", "g2"));
  Collector collector;
  std::unique_ptr<Engine> engine = RunInline(config, dir.File("s.db"), input, &collector);
  ASSERT_TRUE(engine);
  ASSERT_EQ(collector.alarms.size(), 1u);
  EXPECT_EQ(FormatScope(collector.alarms[0].scope), "station=A");
  // From the last in-control subgroup (g0, whose point carries its last time, 800) on.
  EXPECT_EQ(collector.held, (std::vector<std::string>{"A0b", "A1", "A2"}));
}

// A Phase I baseline is judged when it completes: a signal on one of its points carries that
// point's station, not the station of the measurement that completed it; after the baseline
// the engine keeps the labels of the last few points only, and signals still carry their own.
TEST(EngineTest, SignalsInAndAfterAPhaseOneBaselineCarryTheirOwnPointsLabels) {
  testing::TempDir dir;
  Config config = LoadOrDie(
      "engine: { past_tolerance: 36500d }\n"
      "characteristics:\n"
      "  - id: bore\n"
      "    chart: { type: individuals, mr_rules: false }\n"
      "    limits: { phase1: { points: 10 } }\n"
      "    rules: [nelson.1]\n"
      "    scope: [station]\n");
  const double values[] = {10.0, 10.1, 9.9, 10.0, 20.0, 10.1, 9.9, 10.0, 10.1, 9.9, 10.0, 10.1, 40.0, 10.0};
  std::string text;
  for (int i = 0; i < 14; ++i) {
    const std::string n = std::to_string(i + 1);
    text += Measure(values[i], 1000 * (i + 1), "U" + n, "st" + n);
  }
  Collector collector;
  std::unique_ptr<Engine> engine = RunInline(config, dir.File("s.db"), dir.Write("in.jsonl", text), &collector);
  ASSERT_TRUE(engine);
  ASSERT_EQ(collector.alarms.size(), 2u);
  EXPECT_EQ(FormatScope(collector.alarms[0].scope), "station=st5") << "the baseline's outlier, judged at point 10";
  EXPECT_EQ(FormatScope(collector.alarms[1].scope), "station=st13");
}

}  // namespace
}  // namespace shewhart::engine

namespace shewhart::engine {
namespace {

// A run rule that keeps firing for longer than the run-rule stage's history (16 points for
// nelson.2's 9) still finds the newest in-control point before the run for its suspect window:
// points 1-8 alternate around the centre line, 9-48 are all above it; nelson.2 fires at 17 (run
// 9..17, window from point 8) and on every point after, so from point 25 on the newest point
// without a firing before the run's first is point 16, which left the history at point 32.
TEST(EngineTest, RunRuleWindowsReachPastTheStagesHistory) {
  testing::TempDir dir;
  Config config = LoadOrDie(
      "engine: { past_tolerance: 36500d }\n"
      "characteristics:\n"
      "  - id: bore\n"
      "    chart: { type: individuals, mr_rules: false }\n"
      "    limits: { mean: 0, sigma: 1 }\n"
      "    rules: [nelson.2]\n"
      "    scope: [station]\n");
  std::string text;
  for (int i = 1; i <= 48; ++i) {
    const double v = i <= 8 ? (i % 2 == 0 && i != 8 ? 0.5 : -0.5) : 0.5;
    text += Measure(v, 1000 * i, "U" + std::to_string(i), "st1");
  }
  struct Signals : EngineListener {
    std::vector<rules::RuleHit> hits;
    void OnSignal(const std::string&, const Signal& s) override {
      if (s.kind == Signal::Kind::kRule) hits.push_back(s.hit);
    }
  } signals;
  std::unique_ptr<Engine> engine = RunInline(config, dir.File("s.db"), dir.Write("in.jsonl", text), &signals);
  ASSERT_TRUE(engine);
  ASSERT_EQ(signals.hits.size(), 32u);  // points 17..48
  auto at_point = [](std::int64_t i) { return EventTime(std::chrono::milliseconds(1000 * i)); };
  for (const rules::RuleHit& h : signals.hits) {
    SCOPED_TRACE("firing at point " + std::to_string(h.index));
    EXPECT_EQ(h.first, h.index - 8);
    const std::int64_t newest_in_control = h.index < 25 ? h.first - 1 : 16;
    EXPECT_EQ(h.window_start, at_point(newest_in_control));
  }
}

// The replay summary's capability, computed end to end from pistonrings' Phase I (25 subgroups
// of 5, x-bar/R, uwave-r): qcc's published table for specs 73.95 / 74.05, target 74.
TEST(EngineTest, CapabilityOfPistonringsMatchesQcc) {
  const std::string refdata = shewhart::testing::RefdataDir();
  if (refdata.empty())
    GTEST_SKIP() << "../shared/refdata is absent (set SHEWHART_REFDATA): published-data test skipped";
  const auto phase1 = shewhart::testing::ReadPistonrings(refdata).phase1;
  ASSERT_EQ(phase1.size(), 25u) << "cannot read pistonrings.csv";
  std::string jsonl;
  int t = 0;
  for (std::size_t g = 0; g < phase1.size(); ++g) {
    for (double v : phase1[g]) {
      jsonl += "{\"characteristic\":\"diameter\",\"value\":" + engine::FormatMetricValue(v) +
               ",\"ts\":" + std::to_string(1000 * ++t) + ",\"subgroup\":\"" + std::to_string(g + 1) + "\"}\n";
    }
  }
  ASSERT_EQ(t, 125);
  testing::TempDir dir;
  Config config = LoadOrDie(
      "characteristics:\n"
      "  - id: diameter\n"
      "    spec: { lsl: 73.95, target: 74.0, usl: 74.05 }\n"
      "    chart: { type: xbar_r, subgroup_size: 5 }\n"
      "    limits: { phase1: { subgroups: 25 } }\n");
  std::unique_ptr<Engine> engine = RunInline(config, dir.File("s.db"), dir.Write("in.jsonl", jsonl), nullptr);
  ASSERT_TRUE(engine);
  CharacteristicSummary s = engine->Summary(0);
  ASSERT_TRUE(s.has_spec);
  ASSERT_TRUE(s.sigma_within.has_value());
  EXPECT_NEAR(*s.sigma_within, 0.009785039, 5e-10);
  EXPECT_EQ(s.window.n, 125);
  rules::CapabilitySpec cap_spec;
  cap_spec.spec = config.characteristics[0].chart.spec;
  auto cap = rules::ComputeCapability(cap_spec, s.window, *s.sigma_within);
  ASSERT_TRUE(cap.ok()) << cap.status().message();
  auto near = [](const std::optional<rules::CapabilityIndex>& i, double v, double lo, double hi, double tol) {
    ASSERT_TRUE(i.has_value());
    EXPECT_NEAR(i->value, v, tol);
    EXPECT_NEAR(i->lower, lo, tol);
    EXPECT_NEAR(i->upper, hi, tol);
  };
  near(cap->cp, 1.703, 1.491, 1.915, 0.0005);
  near(cap->cpl, 1.743, 1.555, 1.932, 0.0005);
  near(cap->cpu, 1.663, 1.483, 1.844, 0.0005);
  near(cap->cpk, 1.663, 1.448, 1.878, 0.0005);
  near(cap->cpm, 1.69, 1.48, 1.90, 0.005);
  // The API and /metrics report the same figures.
  const auto api = nlohmann::json::parse(engine->HandleApi("GET", "/api/characteristics/diameter", "").body);
  EXPECT_NEAR(api["capability"]["cpk"]["value"].get<double>(), 1.663, 0.0005) << api;
  EXPECT_EQ(api["capability_window"]["values"], 125);
  const std::string metrics = engine->HandleApi("GET", "/metrics", "").body;
  EXPECT_NE(metrics.find("shewhart_capability{characteristic=\"diameter\",index=\"cpk\"} 1.66"), std::string::npos)
      << metrics;
}

// capability: { window: N } keeps the last N values: after a wide stretch and a narrow one of
// N values, the API's capability is the narrow stretch's alone; from a running engine.
TEST(EngineTest, CapabilityOverAConfiguredWindowInTheApiAndMetrics) {
  testing::TempDir dir;
  Config config = LoadOrDie(
      "engine: { past_tolerance: 36500d, shards: 1 }\n"
      "characteristics:\n"
      "  - id: x\n"
      "    spec: { lsl: 7, usl: 13 }\n"
      "    chart: { type: individuals }\n"
      "    limits: { mean: 10, sigma: 1 }\n"
      "    capability: { window: 64, confidence: 0.9 }\n");
  std::string text;
  rules::CapabilityAccumulator narrow(config.characteristics[0].chart.spec);
  for (int i = 0; i < 251; ++i) {  // not a multiple of 16: the last values are read after Stop
    const double v = i < 187 ? 10 + ((i * 37) % 11 - 5) * 0.9 : 10 + ((i * 37) % 11 - 5) * 0.1;
    if (i >= 187) narrow.Add(v);
    text += "{\"characteristic\":\"x\",\"value\":" + engine::FormatMetricValue(v) + ",\"ts\":" +
            std::to_string(1000 + i) + "}\n";
  }
  EngineOptions opts;
  opts.store_path = dir.File("s.db");
  Engine engine(config, opts);
  ASSERT_TRUE(engine.Start().ok());
  FileSourceSpec spec;
  spec.path = dir.Write("in.jsonl", text);
  ASSERT_TRUE(connectors::file::ReadFile(spec, "f", engine.index(), 65536, engine.RegisterSource("f")).ok());
  engine.Stop();
  const auto api = nlohmann::json::parse(engine.HandleApi("GET", "/api/characteristics", "").body);
  const auto& x = api["characteristics"][0];
  EXPECT_EQ(x["capability_window"]["size"], 64);
  EXPECT_EQ(x["capability_window"]["values"], 64);
  ASSERT_TRUE(x.contains("capability")) << x;
  EXPECT_NEAR(x["capability"]["pp"]["value"].get<double>(), 6.0 / (6 * narrow.sd()), 1e-9) << x;
  EXPECT_NEAR(x["capability"]["cp"]["value"].get<double>(), 1.0, 1e-12) << x;  // known sigma 1
  EXPECT_EQ(nlohmann::json::parse(engine.HandleApi("GET", "/api/characteristics/nope", "").body)["error"],
            "no characteristic 'nope'");
  const std::string metrics = engine.HandleApi("GET", "/metrics", "").body;
  EXPECT_NE(metrics.find("shewhart_capability{characteristic=\"x\",index=\"cp\"} 1\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("shewhart_capability_window_values{characteristic=\"x\"} 64\n"), std::string::npos) << metrics;
}

// `stale` in `run` counts wall-clock time: a stream that stops signals once, after its `after`,
// through the responder's ticks; no measurement is needed to notice.
TEST(EngineTest, StaleStreamSignalsOnceInRealTime) {
  testing::TempDir dir;
  Config config = LoadOrDie(
      "engine: { past_tolerance: 36500d, shards: 1 }\n"
      "characteristics:\n"
      "  - id: temp\n"
      "    chart: { type: individuals }\n"
      "    limits: { mean: 10, sigma: 1 }\n"
      "    rules: [nelson.1, { stale: { after: 200ms } }]\n");
  struct StaleCounter : EngineListener {
    std::atomic<int> stale{0};
    void OnSignal(const std::string&, const Signal& s) override { stale += s.hit.rule == rules::RuleKind::kStale; }
  } counter;
  EngineOptions opts;
  opts.store_path = dir.File("s.db");
  opts.listener = &counter;
  Engine engine(config, opts);
  ASSERT_TRUE(engine.Start().ok());
  FileSourceSpec spec;
  spec.path = dir.Write("in.jsonl", "{\"characteristic\":\"temp\",\"value\":10,\"station\":\"S1\"}\n");
  ASSERT_TRUE(connectors::file::ReadFile(spec, "f", engine.index(), 65536, engine.RegisterSource("f")).ok());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (counter.stale.load() == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // more ticks: still one signal
  engine.Stop();
  EXPECT_EQ(counter.stale.load(), 1);
  EXPECT_EQ(engine.alarms_opened(), 1u);
}

// A characteristic that has never been measured goes stale too (replay: another stream's event
// times move the clock): its signal has no point and no labels, and nothing else breaks.
TEST(EngineTest, NeverMeasuredStreamGoesStale) {
  testing::TempDir dir;
  Config config = LoadOrDie(
      "engine: { past_tolerance: 36500d }\n"
      "characteristics:\n"
      "  - id: temp\n"
      "    chart: { type: individuals }\n"
      "    limits: { phase1: { points: 5 } }\n"
      "    rules: [nelson.1, { stale: { after: 1s } }]\n"
      "  - id: other\n"
      "    chart: { type: individuals }\n"
      "    limits: { mean: 10, sigma: 1 }\n");
  const std::string text = "{\"characteristic\":\"other\",\"value\":10,\"ts\":1000,\"station\":\"S1\"}\n"
                           "{\"characteristic\":\"other\",\"value\":10,\"ts\":5000,\"station\":\"S1\"}\n";
  Collector collector;
  std::unique_ptr<Engine> engine = RunInline(config, dir.File("s.db"), dir.Write("in.jsonl", text), &collector);
  ASSERT_TRUE(engine);
  ASSERT_EQ(collector.alarms.size(), 1u);
  EXPECT_EQ(collector.alarms[0].characteristic, "temp");
  EXPECT_EQ(collector.alarms[0].rule, "stale");
  EXPECT_EQ(FormatScope(collector.alarms[0].scope), "station=");
}

// late_tolerance: a measurement further behind its characteristic's newest event time than
// allowed is a reject with reason `late` (counted, stored, not charted); one within it is charted.
TEST(EngineTest, LateMeasurementsAreRejected) {
  testing::TempDir dir;
  Config config = LoadOrDie(
      "characteristics:\n"
      "  - id: temp\n"
      "    chart: { type: individuals }\n"
      "    limits: { mean: 10, sigma: 1 }\n"
      "    late_tolerance: 10s\n"
      "  - id: other\n"
      "    chart: { type: individuals }\n"
      "    limits: { mean: 10, sigma: 1 }\n");
  auto run = RunInline(config, dir.File("s.db"),
                       dir.Write("in.jsonl",
                                 "{\"characteristic\":\"temp\",\"value\":10,\"ts\":100000}\n"
                                 "{\"characteristic\":\"temp\",\"value\":10,\"ts\":90000}\n"  // 10 s behind: accepted
                                 "{\"characteristic\":\"temp\",\"value\":10,\"ts\":89999}\n"  // 10.001 s behind: late
                                 "{\"characteristic\":\"other\",\"value\":10,\"ts\":1000}\n"  // no tolerance: accepted
                                 "{\"characteristic\":\"temp\",\"value\":10,\"ts\":120000}\n"),
                       nullptr);
  ASSERT_TRUE(run);
  Engine& engine = *run;
  EXPECT_EQ(engine.measurements(), 4u);
  EXPECT_EQ(engine.rejects(), 1u);
  const std::string metrics = engine.HandleApi("GET", "/metrics", "").body;
  EXPECT_NE(metrics.find("shewhart_rejected_total{source=\"f\",reason=\"late\"} 1\n"), std::string::npos) << metrics;
  const auto rejects = nlohmann::json::parse(engine.HandleApi("GET", "/api/rejects", "").body)["rejects"];
  ASSERT_EQ(rejects.size(), 1u);
  EXPECT_EQ(rejects[0]["reason"], "late");
  EXPECT_EQ(rejects[0]["position"], 3);
  EXPECT_NE(rejects[0]["message"].get<std::string>().find("10.001 s behind"), std::string::npos) << rejects[0];
}

}  // namespace
}  // namespace shewhart::engine

namespace shewhart::engine {
namespace {

struct PointCollector : Collector {
  std::vector<rules::ChartPoint> points;
  void OnPoint(const std::string&, const rules::ChartPoint& p) override { points.push_back(p); }
};

std::string Vector(const std::string& id, double x, double y, std::int64_t ms, const std::string& serial,
                   const std::string& station, const std::string& subgroup = "") {
  return "{\"characteristic\":\"" + id + "\",\"values\":[" + std::to_string(x) + "," + std::to_string(y) +
         "],\"ts\":" + std::to_string(ms) + ",\"serial\":\"" + serial + "\",\"station\":\"" + station + "\"" +
         (subgroup.empty() ? "" : ",\"subgroup\":\"" + subgroup + "\"") + "}\n";
}

// Known centre (0, 0) and covariance [[1, 0.8], [0.8, 1]]: (1, -1), each value within one
// sigma but against the correlation, has T^2 = (1 + 1 + 1.6) / 0.36 = 10, just inside the
// chi-square limit; (1.5, -1.5) has T^2 = 22.5 and fires rule 1. The alarm holds the units of
// its station since the last in-control point, measured or not; a bad vector is a reject,
// counted.
TEST(EngineTest, T2AlarmHoldsTheUnitsOfItsStationSinceTheLastInControlPoint) {
  testing::TempDir dir;
  Config config = LoadOrDie(
      "characteristics:\n"
      "  - id: pair\n"
      "    chart: { type: t2, variables: [x, y] }\n"
      "    limits: { mean: [0, 0], covariance: [[1, 0.8], [0.8, 1]] }\n"
      "    scope: [station]\n");
  std::string text;
  text += Vector("pair", 0.5, 0.4, 1000, "U1", "st1");    // in control
  text += Vector("pair", 1.0, -1.0, 2000, "U2", "st1");   // T^2 = 10: in control, the window starts here
  text += Unit(2500, "X1", "st2");                        // other station
  text += Unit(3000, "U3", "st1");                        // unmeasured unit at st1
  text += "{\"characteristic\":\"pair\",\"values\":[1],\"ts\":3500,\"serial\":\"U9\",\"station\":\"st1\"}\n";
  text += Vector("pair", 1.5, -1.5, 4000, "U4", "st1");   // T^2 = 22.5: beyond
  PointCollector collector;
  std::unique_ptr<Engine> engine =
      RunInline(config, dir.File("s.db"), dir.Write("in.jsonl", text), &collector, /*want_points=*/true);
  ASSERT_TRUE(engine);
  ASSERT_EQ(collector.points.size(), 3u);
  EXPECT_EQ(collector.points[1].chart, rules::ChartKind::kT2);
  EXPECT_NEAR(collector.points[1].value, 10.0, 1e-9);
  EXPECT_NEAR(collector.points[2].value, 22.5, 1e-9);
  EXPECT_EQ(collector.points[2].index, 3);
  EXPECT_EQ(collector.points[2].phase, rules::Phase::kTwo);
  // The chi-square(2) quantile at qcc's default confidence (1 - 0.0027)^2 is -2 ln(alpha).
  EXPECT_NEAR(collector.points[2].ucl, -2 * std::log(1 - std::pow(1 - 0.0027, 2)), 1e-9);
  ASSERT_EQ(collector.alarms.size(), 1u);
  EXPECT_EQ(collector.alarms[0].rule, "nelson.1");
  EXPECT_EQ(collector.alarms[0].chart, "t2");
  EXPECT_EQ(FormatScope(collector.alarms[0].scope), "station=st1");
  EXPECT_EQ(collector.held, (std::vector<std::string>{"U2", "U3", "U4"}));
  EXPECT_EQ(engine->rejects(), 1u);
  const std::string metrics = engine->HandleApi("GET", "/metrics", "").body;
  EXPECT_NE(metrics.find("shewhart_rejected_total{source=\"f\",reason=\"wrong_type\"} 1\n"), std::string::npos)
      << metrics;
  auto rejects = nlohmann::json::parse(engine->HandleApi("GET", "/api/rejects", "").body);
  ASSERT_EQ(rejects["rejects"].size(), 1u);
  EXPECT_EQ(rejects["rejects"][0]["field"], "values");
  EXPECT_EQ(rejects["rejects"][0]["position"], 5);
  EXPECT_NE(rejects["rejects"][0]["message"].get<std::string>().find("values has 1 element;"), std::string::npos);
}

// Phase I over subgroups formed by their labels: a subgroup a new label closes early is not
// charted (its values are dropped, it takes no index); the baseline's estimates reach the
// summary.
TEST(EngineTest, T2SubgroupsFollowTheirLabelsAndPhaseOneEstimatesReachTheSummary) {
  testing::TempDir dir;
  Config config = LoadOrDie(
      "characteristics:\n"
      "  - id: pair\n"
      "    chart: { type: t2, variables: 2, subgroup_size: 2 }\n"
      "    limits: { phase1: { subgroups: 3 } }\n");
  std::string text;
  std::int64_t t = 0;
  auto add = [&](double x, double y, const char* g) {
    ++t;
    text += Vector("pair", x, y, 1000 * t, "S" + std::to_string(t), "st1", g);
  };
  add(1, 2, "a"), add(3, 3, "a");   // subgroup 1: mean (2, 2.5)
  add(9, 9, "short");               // closed by the next label after 1 of 2: dropped
  add(2, 1, "b"), add(4, 5, "b");   // subgroup 2: mean (3, 3)
  add(0, 1, "c"), add(2, 2, "c");   // subgroup 3: mean (1, 1.5); the baseline completes
  add(2, 2, "d"), add(2, 3, "d");   // subgroup 4: phase II
  PointCollector collector;
  std::unique_ptr<Engine> engine =
      RunInline(config, dir.File("s.db"), dir.Write("in.jsonl", text), &collector, /*want_points=*/true);
  ASSERT_TRUE(engine);
  ASSERT_EQ(collector.points.size(), 4u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(collector.points[i].index, i + 1);
    EXPECT_EQ(collector.points[i].n, 2);
    EXPECT_EQ(collector.points[i].phase, i < 3 ? rules::Phase::kOne : rules::Phase::kTwo);
  }
  EXPECT_EQ(collector.points[0].ts, FromUnixMillis(2000));
  EXPECT_EQ(collector.points[3].ts, FromUnixMillis(9000));
  CharacteristicSummary s = engine->Summary(0);
  ASSERT_EQ(s.t2_center.size(), 2u);
  EXPECT_DOUBLE_EQ(s.t2_center[0], 2.0);
  EXPECT_DOUBLE_EQ(s.t2_center[1], 7.0 / 3.0);
  // Pooled within-subgroup covariance: the mean of the three subgroups' (divisor n - 1 = 1).
  ASSERT_EQ(s.t2_covariance.size(), 4u);
  EXPECT_DOUBLE_EQ(s.t2_covariance[0], (2.0 + 2.0 + 2.0) / 3.0);
  EXPECT_DOUBLE_EQ(s.t2_covariance[1], (1.0 + 4.0 + 1.0) / 3.0);
  EXPECT_DOUBLE_EQ(s.t2_covariance[2], s.t2_covariance[1]);
  EXPECT_DOUBLE_EQ(s.t2_covariance[3], (0.5 + 8.0 + 0.5) / 3.0);
  EXPECT_FALSE(s.sigma_within.has_value());
}

}  // namespace
}  // namespace shewhart::engine

namespace shewhart::engine {
namespace {

// A Phase I baseline whose covariance is singular (y = 2x throughout) is discarded: nothing is
// plotted, the next measurement starts a new baseline, and the discarded indexes are not reused.
TEST(EngineTest, T2SingularBaselineIsDiscardedAndANewOneStarts) {
  testing::TempDir dir;
  Config config = LoadOrDie(
      "characteristics:\n"
      "  - id: pair\n"
      "    chart: { type: t2, variables: 2 }\n"
      "    limits: { phase1: { subgroups: 4 } }\n");
  std::string text;
  for (int i = 1; i <= 4; ++i) text += Vector("pair", i, 2.0 * i, 1000 * i, "S" + std::to_string(i), "st1");
  const double fresh[4][2] = {{1, 2}, {2, 1}, {3, 5}, {4, 3}};
  for (int i = 0; i < 4; ++i) {
    text += Vector("pair", fresh[i][0], fresh[i][1], 5000 + 1000 * i, "T" + std::to_string(i), "st1");
  }
  PointCollector collector;
  std::unique_ptr<Engine> engine =
      RunInline(config, dir.File("s.db"), dir.Write("in.jsonl", text), &collector, /*want_points=*/true);
  ASSERT_TRUE(engine);
  ASSERT_EQ(collector.points.size(), 4u) << "only the second baseline is plotted";
  EXPECT_EQ(collector.points.front().index, 5);
  EXPECT_EQ(collector.points.back().index, 8);
  EXPECT_EQ(collector.points.front().ts, FromUnixMillis(5000));
  EXPECT_EQ(engine->measurements(), 8u);
  EXPECT_EQ(engine->Summary(0).t2_center, (std::vector<double>{2.5, 2.75}));
}

// Records the centre line of every primary point, in order.
struct CentreLines : EngineListener {
  std::vector<std::pair<std::int64_t, double>> cl;  // (index, cl)
  std::vector<LimitVersion> versions;
  void OnPoint(const std::string&, const rules::ChartPoint& p) override {
    if (p.chart == rules::ChartKind::kIndividuals || p.chart == rules::ChartKind::kEwma ||
        p.chart == rules::ChartKind::kCusum) {
      cl.emplace_back(p.index, p.cl);
    }
  }
  void OnLimits(const LimitVersion& v) override { versions.push_back(v); }
};

// Records a limits version of characteristic "x" in the store at `path`, as another process would.
void InsertVersion(const std::string& path, const std::string& origin, double center, double sigma,
                   const std::string& effective) {
  auto store = Store::Open(path);
  ASSERT_TRUE(store.ok());
  LimitVersion v;
  v.characteristic = "x";
  v.origin = origin;
  v.center = center;
  v.sigma = sigma;
  v.points = 30;
  v.effective = *ParseRfc3339(effective);
  ASSERT_TRUE((*store)->InsertLimitVersion(v).ok());
}

std::string Values(const std::vector<double>& values, int t0_seconds = 0) {
  std::string text;
  for (std::size_t i = 0; i < values.size(); ++i) {
    text += "{\"characteristic\":\"x\",\"value\":" + FormatMetricValue(values[i]) + ",\"ts\":\"2026-11-27T08:00:" +
            (i + t0_seconds < 10 ? "0" : "") + std::to_string(i + t0_seconds) + "Z\"}\n";
  }
  return text;
}

// A recorded version applies to the points at or after its effective time; earlier points keep
// the limits in force before it. Indexes run on; a version recorded later with an earlier
// effective time than the points already judged applies from the next point.
TEST(EngineTest, LimitVersionsApplyFromTheirEffectiveTime) {
  testing::TempDir dir;
  Config config = LoadOrDie(
      "characteristics:\n"
      "  - id: x\n"
      "    chart: { type: individuals }\n"
      "    limits: { mean: 10, sigma: 1 }\n"
      "    rules: [nelson.1]\n");
  InsertVersion(dir.File("s.db"), "recalc", 20, 2, "2026-11-27T08:00:05Z");
  InsertVersion(dir.File("s.db"), "recalc", 30, 2, "2026-11-27T08:00:08Z");
  CentreLines lines;
  auto engine =
      RunInline(config, dir.File("s.db"), dir.Write("in.jsonl", Values(std::vector<double>(10, 10.0))), &lines,
                /*want_points=*/true);
  ASSERT_TRUE(engine);
  ASSERT_EQ(lines.cl.size(), 10u);
  for (std::size_t i = 0; i < 10; ++i) {
    EXPECT_EQ(lines.cl[i].first, static_cast<std::int64_t>(i) + 1);
    EXPECT_EQ(lines.cl[i].second, i < 5 ? 10.0 : i < 8 ? 20.0 : 30.0) << "point " << i + 1;
  }
  // The values sit 5 sigma below 20 and 10 below 30: rule 1 fires from the first version on.
  EXPECT_EQ(engine->signals(), 5u);
}

// A Phase I estimate is recorded as a version; the next run on the same store judges its first
// point against it instead of collecting a new baseline (unless the config now gives limits).
TEST(EngineTest, PhaseOneEstimateIsRecordedAndReusedAfterARestart) {
  testing::TempDir dir;
  const std::string phase1 =
      "characteristics:\n  - id: x\n    chart: { type: individuals }\n    limits: { phase1: { points: 4 } }\n";
  const std::vector<double> first = {10, 12, 11, 13};
  CentreLines run1;
  ASSERT_TRUE(RunInline(LoadOrDie(phase1), dir.File("s.db"), dir.Write("a.jsonl", Values(first)), &run1, true));
  ASSERT_EQ(run1.versions.size(), 1u);
  EXPECT_EQ(run1.versions[0].origin, "phase1");
  EXPECT_EQ(run1.versions[0].version, 1);
  EXPECT_DOUBLE_EQ(run1.versions[0].center, 11.5);
  EXPECT_DOUBLE_EQ(run1.versions[0].sigma, (2.0 + 1.0 + 2.0) / 3.0 / 1.128);
  EXPECT_EQ(run1.versions[0].points, 4);
  CentreLines run2;
  ASSERT_TRUE(RunInline(LoadOrDie(phase1), dir.File("s.db"), dir.Write("b.jsonl", Values({50}, 10)), &run2, true));
  ASSERT_EQ(run2.cl.size(), 1u);  // judged at once: no new baseline
  EXPECT_DOUBLE_EQ(run2.cl[0].second, 11.5);
  EXPECT_TRUE(run2.versions.empty());
  CentreLines run3;  // the config now gives known limits: they win over the stored estimate
  ASSERT_TRUE(RunInline(LoadOrDie("characteristics:\n  - id: x\n    chart: { type: individuals }\n"
                                  "    limits: { mean: 0, sigma: 1 }\n"),
                        dir.File("s.db"), dir.Write("c.jsonl", Values({50}, 20)), &run3, true));
  ASSERT_EQ(run3.cl.size(), 1u);
  EXPECT_DOUBLE_EQ(run3.cl[0].second, 0.0);
}

// A Phase I baseline without variation gives no limits: individuals (median moving range of a
// coarse gauge), EWMA and CUSUM (every value equal) throw it away and collect the next, whose
// points are numbered after it; nothing is recorded for it. A stored version no chart can judge
// against (sigma 0, from a store of an earlier release) is ignored at start, not a crash.
TEST(EngineTest, BaselinesWithoutVariationAreDiscardedAndNeverRecorded) {
  for (const char* chart : {"{ type: individuals, estimator: median_mr }", "{ type: ewma }", "{ type: cusum }"}) {
    SCOPED_TRACE(chart);
    testing::TempDir dir;
    const std::string config = std::string("characteristics:\n  - id: x\n    chart: ") + chart +
                               "\n    limits: { phase1: { points: 4 } }\n";
    // Baseline 1: moving ranges 0 0 0 (or 0 0.1 0 with the median: 0). Baseline 2 varies.
    const bool median = std::string(chart).find("median") != std::string::npos;
    const std::vector<double> values = {10, 10, median ? 10.1 : 10, median ? 10.1 : 10, 10, 12, 11, 13, 12};
    CentreLines run;
    ASSERT_TRUE(RunInline(LoadOrDie(config), dir.File("s.db"), dir.Write("a.jsonl", Values(values)), &run, true));
    ASSERT_EQ(run.versions.size(), 1u);  // the second baseline's only
    EXPECT_GT(run.versions[0].sigma, 0);
    ASSERT_FALSE(run.cl.empty());
    EXPECT_EQ(run.cl.front().first, 5);  // the first plotted point is the second baseline's first
  }
  {
    // An x-bar baseline whose subgroups all have range 0 is judged against (zero-width limits)
    // but not recorded: after a restart no chart could be given it.
    testing::TempDir xbar_dir;
    CentreLines run;
    ASSERT_TRUE(RunInline(LoadOrDie("characteristics:\n  - id: x\n    chart: { type: xbar_r, subgroup_size: 2 }\n"
                                    "    limits: { phase1: { subgroups: 2 } }\n"),
                          xbar_dir.File("s.db"), xbar_dir.Write("a.jsonl", Values({10, 10, 11, 11, 12, 12})), &run));
    EXPECT_TRUE(run.versions.empty());
  }
  testing::TempDir dir;
  InsertVersion(dir.File("s.db"), "phase1", 10, 0, "2026-11-27T08:00:00Z");
  CentreLines lines;
  auto engine = RunInline(LoadOrDie("characteristics:\n  - id: x\n    chart: { type: individuals }\n"
                                    "    limits: { phase1: { points: 4 } }\n"),
                          dir.File("s.db"), dir.Write("b.jsonl", Values({10, 12, 11, 13, 12})), &lines, true);
  ASSERT_TRUE(engine);
  ASSERT_EQ(lines.cl.size(), 5u);  // a baseline of its own, not the stored sigma 0
  EXPECT_DOUBLE_EQ(lines.cl[0].second, 11.5);
}

// A p' (Laney) chart's Phase I estimate is recorded with its sigma_z and given back after a
// restart: the next run judges against the same limits without a new baseline.
TEST(EngineTest, LaneyPhaseOneIsRecordedWithItsSigmaZ) {
  testing::TempDir dir;
  const std::string config =
      "characteristics:\n  - id: x\n    chart: { type: p, limit_type: laney }\n"
      "    limits: { phase1: { subgroups: 6 } }\n";
  auto line = [](int count, int n, int second) {
    return "{\"characteristic\":\"x\",\"count\":" + std::to_string(count) + ",\"n\":" + std::to_string(n) +
           ",\"ts\":\"2026-11-27T08:00:" + (second < 10 ? "0" : "") + std::to_string(second) + "Z\"}\n";
  };
  const int counts[] = {120, 251, 83, 310, 152, 201};
  const int sizes[] = {10000, 12000, 9000, 11000, 10000, 9500};
  std::string text;
  for (int i = 0; i < 6; ++i) text += line(counts[i], sizes[i], i);
  CentreLines run1;
  ASSERT_TRUE(RunInline(LoadOrDie(config), dir.File("s.db"), dir.Write("a.jsonl", text), &run1));
  ASSERT_EQ(run1.versions.size(), 1u);
  EXPECT_GT(run1.versions[0].sigma, 2);  // sigma_z: overdispersed
  auto engine = RunInline(LoadOrDie(config), dir.File("s.db"), dir.Write("b.jsonl", line(150, 10000, 30)), nullptr);
  ASSERT_TRUE(engine);
  const CharacteristicSummary s = engine->Summary(0);
  ASSERT_TRUE(s.sigma_z.has_value());  // judged at once against the stored version
  EXPECT_DOUBLE_EQ(*s.sigma_z, run1.versions[0].sigma);
}

// EstimateLimits (shewhart limits recalc) gives what the chart's own Phase I gives over the
// same points: x-bar/R with uwave-r on pistonrings' 25 Phase I subgroups (qcc: centre 74.00118,
// sigma 0.009785).
TEST(EngineTest, EstimateLimitsMatchesThePhaseOneOfTheChart) {
  const std::string refdata = shewhart::testing::RefdataDir();
  if (refdata.empty())
    GTEST_SKIP() << "../shared/refdata is absent (set SHEWHART_REFDATA): published-data test skipped";
  const auto phase1 = shewhart::testing::ReadPistonrings(refdata).phase1;
  ASSERT_EQ(phase1.size(), 25u);
  Config config = LoadOrDie(
      "characteristics:\n  - id: d\n    chart: { type: xbar_r, subgroup_size: 5 }\n    limits: { mean: 0, sigma: 1 "
      "}\n");
  std::vector<Measurement> ms;
  for (const auto& g : phase1) {
    for (double v : g) {
      Measurement m;
      m.has_value = true;
      m.value = v;
      ms.push_back(m);
    }
  }
  auto est = EstimateLimits(config.characteristics[0], ms);
  ASSERT_TRUE(est.ok()) << est.status().message();
  EXPECT_EQ(est->points, 25);
  EXPECT_NEAR(est->limits.center, 74.00118, 5e-6);
  EXPECT_NEAR(est->limits.sigma, 0.009785039, 5e-10);
  ms.resize(9);  // one subgroup and four open values: too few points
  EXPECT_FALSE(EstimateLimits(config.characteristics[0], ms).ok());
}

// shewhart limits recalc over data without variation refuses, naming why: an individuals input
// of equal values (the chart discards such a baseline), a Laney p' input whose subgroups all have
// the same z. A varying Laney input gives its sigma_z as the version's sigma.
TEST(EngineTest, EstimateLimitsRefusesDataWithoutVariation) {
  Config config = LoadOrDie(
      "characteristics:\n"
      "  - id: a\n    chart: { type: individuals }\n"
      "  - id: b\n    chart: { type: p, limit_type: laney }\n");
  auto value = [](double v) {
    Measurement m;
    m.has_value = true;
    m.value = v;
    return m;
  };
  auto subgroup = [](std::int64_t count, double n) {
    Measurement m;
    m.count = count;
    m.n = n;
    return m;
  };
  auto flat = EstimateLimits(config.characteristics[0], std::vector<Measurement>{value(5), value(5), value(5), value(5)});
  ASSERT_FALSE(flat.ok());
  EXPECT_NE(flat.status().message().find("no variation (sigma 0)"), std::string::npos) << flat.status().message();
  auto same_z = EstimateLimits(config.characteristics[1],
                               std::vector<Measurement>{subgroup(5, 100), subgroup(5, 100), subgroup(5, 100)});
  ASSERT_FALSE(same_z.ok());
  EXPECT_NE(same_z.status().message().find("Laney's sigma_z 0"), std::string::npos) << same_z.status().message();
  auto varying = EstimateLimits(config.characteristics[1], std::vector<Measurement>{subgroup(120, 10000),
                                                                                   subgroup(251, 12000),
                                                                                   subgroup(83, 9000),
                                                                                   subgroup(310, 11000)});
  ASSERT_TRUE(varying.ok()) << varying.status().message();
  EXPECT_GT(varying->limits.sigma, 1);
}

// A version recorded by another process while the engine runs (shewhart limits recalc) is
// picked up within about a second.
TEST(EngineTest, RunningEngineAppliesAVersionRecordedByAnotherProcess) {
  testing::TempDir dir;
  Config config = LoadOrDie(
      "engine: { past_tolerance: 36500d, shards: 1 }\n"
      "characteristics:\n  - id: x\n    chart: { type: individuals }\n    limits: { mean: 10, sigma: 1 }\n");
  CentreLines lines;
  EngineOptions opts;
  opts.store_path = dir.File("s.db");
  opts.listener = &lines;
  opts.want_points = true;
  Engine engine(config, opts);
  ASSERT_TRUE(engine.Start().ok());
  InsertVersion(dir.File("s.db"), "recalc", 40, 1, "2026-11-27T08:00:00Z");
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));  // the engine polls every second
  FileSourceSpec spec;
  spec.path = dir.Write("in.jsonl", Values({40, 40}));
  ASSERT_TRUE(connectors::file::ReadFile(spec, "f", engine.index(), 65536, engine.RegisterSource("f")).ok());
  engine.Stop();
  ASSERT_EQ(lines.cl.size(), 2u);
  EXPECT_EQ(lines.cl[0].second, 40.0);
  EXPECT_EQ(engine.signals(), 0u);
}

// An open tier-3 alarm of a station inhibits the tier-1 notices of the station's other alarms:
// they are recorded (alarm, hold, audit `alarm.inhibited`) but not notified. Another station's
// alarm is notified as usual.
TEST(EngineTest, OpenTierThreeAlarmInhibitsTierOneNoticesOfItsStation) {
  testing::TempDir dir;
  Config config = LoadOrDie(
      "characteristics:\n"
      "  - { id: a, spec: { usl: 12 }, chart: { type: individuals, mr_rules: false }, limits: { mean: 10, sigma: 0.1 },"
      " rules: [spec], response: p }\n"
      "  - { id: b, chart: { type: individuals, mr_rules: false }, limits: { mean: 10, sigma: 0.1 }, rules: [nelson.1],"
      " response: p }\n"
      "responses:\n"
      "  p:\n"
      "    tiers:\n"
      "      - { tier: 1, when: { signal: any }, do: [log] }\n"
      "      - { tier: 3, when: { rule: [spec] }, do: [log] }\n");
  const std::string input = dir.Write("in.jsonl",
                                      "{\"characteristic\":\"a\",\"value\":13,\"ts\":1000,\"station\":\"S1\"}\n"
                                      "{\"characteristic\":\"b\",\"value\":11,\"ts\":2000,\"station\":\"S1\"}\n"
                                      "{\"characteristic\":\"b\",\"value\":11,\"ts\":3000,\"station\":\"S2\"}\n");
  Collector collector;
  auto engine = RunInline(config, dir.File("s.db"), input, &collector);
  ASSERT_TRUE(engine);
  ASSERT_EQ(collector.alarms.size(), 3u);
  EXPECT_EQ(collector.alarms[0].tier, 3);
  auto audit = engine->store().ReadAudit(0, 1000);
  ASSERT_TRUE(audit.ok()) << audit.status().message();
  std::vector<std::string> inhibited;
  for (const auto& r : *audit) {
    if (r.kind == "alarm.inhibited") inhibited.push_back(r.subject);
  }
  EXPECT_EQ(inhibited, (std::vector<std::string>{"alarm/2"}));
}

}  // namespace
}  // namespace shewhart::engine
