// The engine end to end: rejects, alarms and their holds, dispositions and the interlock,
// restarts, threads, latency and /metrics. Chart types and limits versions through the
// engine: engine_charts_test.cc.
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
namespace {

// The acceptance case: good lines plus a malformed line, an unknown characteristic and a
// non-numeric value. Each bad line is a reject with its reason, in /metrics and the API;
// every good line is processed.
TEST(EngineTest, BadLinesAreRejectedAndCountedWhileGoodLinesFlow) {
  testing::TempDir dir;
  Config config = LoadOrDie(kConfig);
  const std::string input = dir.Write("in.jsonl",
                                      "{\"characteristic\":\"bore\",\"value\":10.01,\"ts\":1000}\n"
                                      "{\"characteristic\":\"bore\",\"value\":\n"
                                      "{\"characteristic\":\"bore\",\"value\":9.99,\"ts\":2000}\n"
                                      "{\"characteristic\":\"nope\",\"value\":1,\"ts\":3000}\n"
                                      "\n"
                                      "{\"characteristic\":\"bore\",\"value\":\"abc\",\"ts\":4000}\n"
                                      "{\"characteristic\":\"bore\",\"value\":10.02,\"ts\":5000}\n");
  EngineOptions opts;
  opts.threaded = false;
  opts.store_path = dir.File("s.db");
  Engine engine(config, opts);
  ASSERT_TRUE(engine.Start().ok());
  auto stats = fixture::ReadInto(engine, input, "file0");
  ASSERT_TRUE(stats.ok()) << stats.status().message();
  EXPECT_EQ(stats->measurements, 3);
  EXPECT_EQ(stats->rejects, 3);
  engine.Stop();
  EXPECT_EQ(engine.measurements(), 3u);
  EXPECT_EQ(engine.rejects(), 3u);

  std::string metrics = engine.HandleApi("GET", "/metrics", "").body;
  EXPECT_NE(metrics.find("shewhart_measurements_total{source=\"file0\"} 3\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("shewhart_rejected_total{source=\"file0\",reason=\"malformed\"} 1\n"), std::string::npos);
  EXPECT_NE(metrics.find("shewhart_rejected_total{source=\"file0\",reason=\"unknown_characteristic\"} 1\n"),
            std::string::npos);
  EXPECT_NE(metrics.find("shewhart_rejected_total{source=\"file0\",reason=\"wrong_type\"} 1\n"), std::string::npos);

  auto api = engine.HandleApi("GET", "/api/rejects", "");
  ASSERT_EQ(api.status, 200);
  auto doc = nlohmann::json::parse(api.body);
  ASSERT_EQ(doc["rejects"].size(), 3u);
  // Newest first: line 6 (wrong type), line 4 (unknown), line 2 (malformed).
  EXPECT_EQ(doc["rejects"][0]["position"], 6);
  EXPECT_EQ(doc["rejects"][0]["reason"], "wrong_type");
  EXPECT_EQ(doc["rejects"][0]["field"], "value");
  EXPECT_EQ(doc["rejects"][1]["reason"], "unknown_characteristic");
  EXPECT_EQ(doc["rejects"][2]["position"], 2);
  EXPECT_EQ(doc["rejects"][2]["raw"], "{\"characteristic\":\"bore\",\"value\":");
}


// Units of the alarm's station since the last in-control point are held, whether measured
// or not; units of other stations and units before the window are not.
TEST(EngineTest, AlarmHoldsTheUnitsOfItsStationSinceTheLastInControlPoint) {
  testing::TempDir dir;
  Config config = LoadOrDie(kConfig);
  std::string text;
  text += Unit(1000, "U1", "st2") + Measure(10.0, 1000, "U1", "st2");     // in control
  text += Unit(2000, "U2", "st2") + Measure(10.05, 2000, "U2", "st2");    // in control: window starts here
  text += Unit(2500, "X1", "st1");                                        // other station
  text += Unit(3000, "U3", "st2");                                        // unmeasured unit at st2
  text += Unit(4000, "U4", "st2") + Measure(10.5, 4000, "U4", "st2");     // beyond UCL 10.3
  const std::string input = dir.Write("in.jsonl", text);
  Collector collector;
  std::unique_ptr<Engine> run_engine = RunInline(config, dir.File("s.db"), input, &collector);
  ASSERT_TRUE(run_engine) << "engine failed";
  Engine& engine = *run_engine;
  ASSERT_EQ(collector.alarms.size(), 1u);
  EXPECT_EQ(collector.alarms[0].rule, "nelson.1");
  EXPECT_EQ(FormatScope(collector.alarms[0].scope), "station=st2");
  EXPECT_EQ(collector.held, (std::vector<std::string>{"U2", "U3", "U4"}));
  auto holds = engine.HandleApi("GET", "/api/holds", "");
  auto doc = nlohmann::json::parse(holds.body);
  ASSERT_EQ(doc["holds"].size(), 1u);
  EXPECT_EQ(doc["holds"][0]["units"], 3) << "the list gives counts; /api/holds/ID the units";
  EXPECT_EQ(nlohmann::json::parse(engine.HandleApi("GET", "/api/holds/1", "").body)["units"].size(), 3u);
  auto alarms = nlohmann::json::parse(engine.HandleApi("GET", "/api/alarms", "").body);
  ASSERT_EQ(alarms["alarms"].size(), 1u);
  EXPECT_EQ(alarms["alarms"][0]["hold"], 1);
}

// Dispositions of held units (through the API, with a bearer token), the MES interlock
// (/api/units/SERIAL), and every refusal changing nothing.
TEST(EngineTest, HeldUnitsAreDisposedOfOneByOneOrInBulkAndTheInterlockFollows) {
  testing::TempDir dir;
  const std::string tokens = dir.Write("tokens.yaml", "anna: \"anna-0123456789abcdef\"\n");
  Config config = LoadOrDie("http: { tokens: \"" + tokens + "\" }\n" + std::string(kConfig) +
                            "    response: r\nresponses:\n  r: { tiers: [ { tier: 1, do: [quarantine] } ] }\n");
  std::string text;
  text += Unit(1000, "U1", "st2") + Measure(10.0, 1000, "U1", "st2");
  text += Unit(2000, "U2", "st2") + Measure(10.05, 2000, "U2", "st2");
  text += Unit(3000, "U3", "st2");
  text += Unit(3500, "U5", "st2");
  text += Unit(4000, "U4", "st2") + Measure(10.5, 4000, "U4", "st2");
  Collector collector;
  std::unique_ptr<Engine> run_engine = RunInline(config, dir.File("s.db"), dir.Write("in.jsonl", text), &collector);
  ASSERT_TRUE(run_engine);
  Engine& engine = *run_engine;
  ASSERT_EQ(collector.held, (std::vector<std::string>{"U2", "U3", "U5", "U4"}));
  const std::string bearer = "Bearer anna-0123456789abcdef";
  auto unit = [&](const std::string& serial) {
    return nlohmann::json::parse(engine.HandleApi("GET", "/api/units/" + serial, "").body);
  };
  EXPECT_EQ(unit("U3")["status"], "held");
  EXPECT_EQ(unit("U3")["holds"], nlohmann::json::array({1}));
  EXPECT_EQ(unit("U1")["status"], "free") << "before the suspect window";
  EXPECT_EQ(unit("NOPE")["status"], "free");

  auto dispose = [&](const std::string& body, const std::string& auth) {
    return engine.HandleApi("POST", "/api/holds/1/dispose", "", body, auth);
  };
  const std::string release_u3 =
      R"({"state":"released","reason":"conforming_on_retest","meaning":"released by","serials":["U3"],)"
      R"("note":"re-measured"})";
  // Refused, and nothing changes.
  EXPECT_EQ(dispose(release_u3, "").status, 401);
  EXPECT_EQ(dispose(release_u3, "Bearer wrong-token-0000000000").status, 401);
  auto r = dispose(R"({"state":"released","reason":"nope","meaning":"released by","serials":["U3"]})", bearer);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("unknown reason 'nope'; the config's codes.dispositions: conforming_on_retest"),
            std::string::npos)
      << r.body;
  r = dispose(R"({"state":"lost","reason":"other","meaning":"released by","serials":["U3"]})", bearer);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("unknown state 'lost'"), std::string::npos) << r.body;
  r = dispose(R"({"state":"released","reason":"other","meaning":"signed","serials":["U3"]})", bearer);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("unknown meaning 'signed'"), std::string::npos) << r.body;
  r = dispose(R"({"state":"released","reason":"other","meaning":"released by"})", bearer);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("give either 'serials'"), std::string::npos) << r.body;
  r = dispose(R"({"state":"released","reason":"other","meaning":"released by","serials":["U3","U1"]})", bearer);
  EXPECT_EQ(r.status, 404) << "U1 is not in the hold: U3 is not released either";
  EXPECT_NE(r.body.find("unit 'U1' is not in hold 1"), std::string::npos) << r.body;
  EXPECT_EQ(engine.HandleApi("POST", "/api/holds/9/dispose", "", release_u3, bearer).status, 404);
  EXPECT_EQ(unit("U3")["status"], "held");

  r = dispose(release_u3, bearer);
  ASSERT_EQ(r.status, 200) << r.body;
  auto doc = nlohmann::json::parse(r.body);
  EXPECT_EQ(doc["count"], 1);
  EXPECT_EQ(doc["held"], 3);
  EXPECT_EQ(unit("U3")["status"], "released");
  EXPECT_EQ(unit("U3")["may_move"], true);
  EXPECT_EQ(unit("U3")["history"][0]["state"], "released");
  r = dispose(release_u3, bearer);
  EXPECT_EQ(r.status, 409) << "released already";
  EXPECT_NE(r.body.find("unit 'U3' of hold 1 is no longer held: it was released"), std::string::npos) << r.body;

  // Bulk, with an exclusion: every unit still held but U4 is scrapped.
  r = dispose(R"({"state":"scrapped","reason":"nonconforming","meaning":"approved by","all":true,"exclude":["U9"]})",
              bearer);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("excluded unit 'U9' is not in hold 1"), std::string::npos) << r.body;
  r = dispose(R"({"state":"scrapped","reason":"nonconforming","meaning":"approved by","all":true,"exclude":["U4"]})",
              bearer);
  ASSERT_EQ(r.status, 200) << r.body;
  doc = nlohmann::json::parse(r.body);
  EXPECT_EQ(doc["units"], nlohmann::json::array({"U2", "U5"}));
  EXPECT_EQ(doc["hold_state"], "open") << "its alarm is not resolved";
  EXPECT_EQ(unit("U4")["status"], "held");
  EXPECT_EQ(unit("U2")["history"][0]["state"], "scrapped");
  EXPECT_EQ(unit("U2")["status"], "scrapped");
  EXPECT_EQ(unit("U2")["may_move"], false);
  // The gauges follow the dispositions without recounting the table.
  const std::string gauges = engine.HandleApi("GET", "/metrics", "").body;
  for (const char* line : {"shewhart_held_units{state=\"held\"} 1\n", "shewhart_held_units{state=\"released\"} 1\n",
                           "shewhart_held_units{state=\"scrapped\"} 2\n", "shewhart_holds{state=\"open\"} 1\n"}) {
    EXPECT_NE(gauges.find(line), std::string::npos) << line;
  }

  auto hold = nlohmann::json::parse(engine.HandleApi("GET", "/api/holds/1", "").body);
  EXPECT_EQ(hold["held"], 1);
  ASSERT_EQ(hold["dispositions"].size(), 3u);
  EXPECT_EQ(hold["dispositions"][0]["serial"], "U3");
  EXPECT_EQ(hold["dispositions"][0]["user"], "anna");
  EXPECT_EQ(hold["dispositions"][0]["meaning"], "released by");
  EXPECT_EQ(hold["dispositions"][0]["note"], "re-measured");
  EXPECT_EQ(engine.HandleApi("GET", "/api/holds/x", "").status, 404);

  // Resolving the alarm with U4 still held keeps the hold open; disposing of U4 then closes it.
  ASSERT_EQ(engine.HandleApi("POST", "/api/alarms/1/resolve", "", "{}", bearer).status, 200);
  EXPECT_EQ(nlohmann::json::parse(engine.HandleApi("GET", "/api/holds/1", "").body)["state"], "open");
  r = dispose(R"({"state":"reworked","reason":"reworked_to_spec","meaning":"performed by","serials":["U4"]})", bearer);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(nlohmann::json::parse(r.body)["hold_state"], "closed");
  const std::string metrics = engine.HandleApi("GET", "/metrics", "").body;
  // By state: U3 released, U2 and U5 scrapped, U4 reworked; the one hold closed.
  for (const char* line : {"shewhart_held_units{state=\"held\"} 0\n", "shewhart_held_units{state=\"released\"} 1\n",
                           "shewhart_held_units{state=\"scrapped\"} 2\n", "shewhart_held_units{state=\"reworked\"} 1\n",
                           "shewhart_holds{state=\"open\"} 0\n", "shewhart_holds{state=\"closed\"} 1\n"}) {
    EXPECT_NE(metrics.find(line), std::string::npos) << line << metrics;
  }

  // Audited, with the user as actor.
  auto store = Store::Open(dir.File("s.db"));
  ASSERT_TRUE(store.ok());
  auto audit = (*store)->ReadAudit(0, 1000);
  ASSERT_TRUE(audit.ok());
  int disposed = 0;
  for (const auto& a : *audit) {
    if (a.kind != "hold.disposed") continue;
    disposed += 1;
    EXPECT_EQ(a.actor, "anna");
    EXPECT_EQ(a.subject, "hold/1");
  }
  EXPECT_EQ(disposed, 3);
}

// unacknowledged_for counts from when the alarm reached its tier, also across a restart: the
// time is kept with the alarm (schema 9), not restarted.
TEST(EngineTest, UnacknowledgedForCountsAcrossARestart) {
  testing::TempDir dir;
  Config config = LoadOrDie(std::string(kConfig) +
                            "    response: r\n"
                            "responses:\n"
                            "  r:\n"
                            "    tiers:\n"
                            "      - { tier: 1, do: [log] }\n"
                            "      - { tier: 2, when: { unacknowledged_for: 1h }, do: [log] }\n");
  const std::string store = dir.File("s.db");
  const std::int64_t t0 = 1'790'000'000'000;  // ms
  Collector c1;
  ASSERT_TRUE(RunInline(config, store, dir.Write("a.jsonl", Measure(10.5, t0, "U1", "st1")), &c1));
  ASSERT_EQ(c1.alarms.size(), 1u);
  auto tier_of_alarm = [&] {
    auto s = Store::Open(store);
    EXPECT_TRUE(s.ok());
    auto a = (*s)->GetAlarm(1);
    EXPECT_TRUE(a.ok());
    return a->tier;
  };
  EXPECT_EQ(tier_of_alarm(), 1);
  // 30 minutes later, after a restart: not yet.
  Collector c2;
  ASSERT_TRUE(RunInline(config, store, dir.Write("b.jsonl", Measure(10.0, t0 + 30 * 60'000, "U2", "st1")), &c2));
  EXPECT_EQ(tier_of_alarm(), 1) << "30 min after it reached tier 1, not 30 min after the restart's epoch";
  // 61 minutes after it reached tier 1 (31 after the restart): tier 2.
  Collector c3;
  ASSERT_TRUE(RunInline(config, store, dir.Write("c.jsonl", Measure(10.0, t0 + 61 * 60'000, "U3", "st1")), &c3));
  EXPECT_EQ(tier_of_alarm(), 2);
}

// A lot scope holds every unit whose record lists the lot in any position, whether the unit was
// stored before the alarm (the window query) or arrives while it is open (the join).
TEST(EngineTest, LotScopeHoldsUnitsListingTheLotInAnyPosition) {
  testing::TempDir dir;
  Config config = LoadOrDie(
      "characteristics:\n"
      "  - id: bore\n"
      "    chart: { type: individuals, mr_rules: false }\n"
      "    limits: { mean: 10, sigma: 0.1 }\n"
      "    rules: [nelson.1]\n"
      "    scope: [lot]\n");
  auto m = [](double v, std::int64_t ms, const char* serial) {
    return "{\"characteristic\":\"bore\",\"value\":" + std::to_string(v) + ",\"ts\":" + std::to_string(ms) +
           ",\"serial\":\"" + serial + "\",\"lot\":\"L2\"}\n";
  };
  auto u = [](std::int64_t ms, const char* serial, const char* lots) {
    return "{\"unit\":\"" + std::string(serial) + "\",\"station\":\"s\",\"ts\":" + std::to_string(ms) +
           ",\"lots\":" + lots + "}\n";
  };
  std::string text = m(10.0, 1000, "A") + u(1500, "B", "[\"L1\",\"L2\"]") + u(1600, "C", "[\"L1\"]") +
                     m(10.9, 2000, "D") + u(2500, "E", "[\"L9\",\"L7\",\"L2\"]") + u(2600, "F", "[\"L7\"]");
  Collector collector;
  ASSERT_TRUE(RunInline(config, dir.File("s.db"), dir.Write("in.jsonl", text), &collector));
  ASSERT_EQ(collector.alarms.size(), 1u);
  EXPECT_EQ(FormatScope(collector.alarms[0].scope), "lot=L2");
  std::vector<std::string> held = collector.held;
  std::sort(held.begin(), held.end());
  EXPECT_EQ(held, (std::vector<std::string>{"A", "B", "D", "E"})) << "C and F never consumed L2";
}

// Threaded mode with several shards processes every measurement and drains on Stop().
TEST(EngineTest, ThreadedEngineDrainsEveryMeasurementOnStop) {
  testing::TempDir dir;
  std::string cfg = "engine: { past_tolerance: 36500d, shards: 3, queue_capacity: 64 }\ncharacteristics:\n";
  for (int c = 0; c < 7; ++c) {
    cfg += "  - { id: c" + std::to_string(c) + ", chart: { type: individuals }, limits: { mean: 0, sigma: 1 } }\n";
  }
  Config config = LoadOrDie(cfg);
  std::string text;
  int beyond = 0;
  for (int i = 0; i < 7000; ++i) {
    double v = (i % 97 == 0) ? 5.0 : 0.1 * (i % 5);
    beyond += v > 3;
    text += "{\"characteristic\":\"c" + std::to_string(i % 7) + "\",\"value\":" + std::to_string(v) +
            ",\"ts\":" + std::to_string(1000 + i) + "}\n";
  }
  const std::string input = dir.Write("in.jsonl", text);
  EngineOptions opts;
  opts.store_path = dir.File("s.db");
  Engine engine(config, opts);
  ASSERT_TRUE(engine.Start().ok());
  FileSourceSpec spec;
  spec.path = input;
  ASSERT_TRUE(connectors::file::ReadFile(spec, "f", engine.index(), 65536, engine.RegisterSource("f")).ok());
  engine.Stop();
  EXPECT_EQ(engine.measurements(), 7000u);
  EXPECT_GE(engine.signals(), static_cast<std::uint64_t>(beyond)) << "each beyond-limit point fires rule 1";
  std::string metrics = engine.HandleApi("GET", "/metrics", "").body;
  EXPECT_NE(metrics.find("shewhart_queue_depth{queue=\"shard2\"} 0\n"), std::string::npos) << metrics;
}

// A threaded engine names its threads; on kernels that take custom slices, the shards and the
// responder run with the 0.1 ms slice (docs/ARCHITECTURE.md, thread names and time slices).
TEST(EngineTest, ThreadsAreNamedAndTheSignalPathRunsOnShortSlices) {
  testing::TempDir dir;
  Config config = LoadOrDie(kConfig);
  config.shards = 2;
  EngineOptions opts;
  opts.store_path = dir.File("s.db");
  Engine engine(config, opts);
  ASSERT_TRUE(engine.Start().ok());
  // Thread name -> se.slice (ns; -1 when not shown). A thread names itself and asks for its
  // slice when it starts running, which may be a little after Start returns.
  std::map<std::string, long long> slices;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  auto started = [&slices] {
    return slices.count("shw-shard0") && slices.count("shw-shard1") && slices.count("shw-responder") &&
           slices.count("shw-checkpoint");
  };
  while (!started() && std::chrono::steady_clock::now() < deadline) {
    slices.clear();
    for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
      std::ifstream comm(task.path() / "comm");
      std::string name;
      std::getline(comm, name);
      std::ifstream sched(task.path() / "sched");
      long long slice = -1;
      for (std::string line; std::getline(sched, line);) {
        if (line.rfind("se.slice", 0) == 0) slice = std::stoll(line.substr(line.find(':') + 1));
      }
      slices[name] = slice;
    }
    if (!started()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  engine.Stop();
  for (const char* name : {"shw-shard0", "shw-shard1", "shw-responder", "shw-checkpoint"}) {
    ASSERT_TRUE(slices.count(name)) << name << " is not running";
  }
  const std::string metrics = engine.HandleApi("GET", "/metrics", "").body;
  EXPECT_NE(metrics.find("shewhart_store_checkpoints_total{by=\"thread\",outcome=\"done\"} "), std::string::npos);
  EXPECT_NE(metrics.find("shewhart_store_checkpoints_total{by=\"writer\",outcome=\"failed\"} 0\n"), std::string::npos);
  if (!testing::KernelTakesSlices()) GTEST_SKIP() << "custom slices need Linux 6.12 or later";
  for (const char* name : {"shw-shard0", "shw-shard1", "shw-responder"}) {
    EXPECT_EQ(slices[name], static_cast<long long>(kLatencySliceNs)) << name;
  }
}

// Signals raised by measurements with an arrival time are timed from that arrival to the shard
// raising them and to the responder handling them; those without one (replay, files) are not.
TEST(EngineTest, ArrivalToSignalLatencyIsObservedForStampedMeasurements) {
  testing::TempDir dir;
  Config config = LoadOrDie(kConfig);
  std::vector<std::pair<std::int64_t, std::int64_t>> latencies;  // responder thread; read after Stop
  EngineOptions opts;
  opts.store_path = dir.File("s.db");
  opts.on_signal_latency = [&latencies](std::int64_t signal_ns, std::int64_t response_ns) {
    latencies.emplace_back(signal_ns, response_ns);
  };
  Engine engine(config, opts);
  ASSERT_TRUE(engine.Start().ok());
  IngestSink& sink = engine.RegisterSource("t");
  const std::int64_t before = SteadyNowNs();
  for (int i = 0; i < 40; ++i) {
    Measurement m;
    m.characteristic = 0;
    m.has_value = true;
    m.value = (i % 10 == 9) ? 20.0 : 10.0;  // 4 spikes beyond the limits
    m.ts = EventTime(std::chrono::seconds(1000 + i));
    m.station.Assign("S1");
    m.arrival_ns = i < 20 ? SteadyNowNs() : 0;  // the last two signals carry no arrival time
    ASSERT_TRUE(sink.OnMeasurement(m));
  }
  engine.Stop();
  const std::int64_t elapsed = SteadyNowNs() - before;
  // Each spike at i fires nelson.1 on the individuals chart and on the moving range at i, and
  // on the moving range again at i + 1: 3 signals per spike, the last (i = 39) only 2. The
  // stamped ones are those of i = 9, 10, 19 (i = 20 has no arrival time).
  EXPECT_EQ(engine.signals(), 11u);
  ASSERT_EQ(latencies.size(), 5u);
  for (auto [signal_ns, response_ns] : latencies) {
    EXPECT_GE(signal_ns, 0);
    EXPECT_LE(signal_ns, response_ns) << "the shard raises a signal before the responder handles it";
    EXPECT_LE(response_ns, elapsed);
  }
  std::string metrics = engine.HandleApi("GET", "/metrics", "").body;
  EXPECT_NE(metrics.find("# TYPE shewhart_arrival_to_signal_seconds histogram\n"), std::string::npos);
  EXPECT_NE(metrics.find("shewhart_arrival_to_signal_seconds_count 5\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("shewhart_arrival_to_signal_seconds_bucket{le=\"+Inf\"} 5\n"), std::string::npos);
  EXPECT_NE(metrics.find("shewhart_arrival_to_response_seconds_count 5\n"), std::string::npos) << metrics;
}

// The value of the sample `series` ("name{labels}") in a /metrics rendering; nullopt when absent.
std::optional<double> Sample(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 && line[series.size()] == ' ') {
      const std::string v = line.substr(series.size() + 1);
      return v == "NaN" ? std::numeric_limits<double>::quiet_NaN() : std::stod(v);
    }
  }
  return std::nullopt;
}

// Escalation by time is looked for only when the earliest deadline has come (a replay checks at
// every new event time): an alarm opened later under a shorter unacknowledged_for lowers that
// deadline and escalates on time, the other waits for its own. The open-alarm gauges follow
// each alarm's tier.
TEST(EngineTest, EachAlarmEscalatesByTimeAtItsOwnDeadline) {
  testing::TempDir dir;
  Config config = LoadOrDie(R"(
engine: { past_tolerance: 36500d }
characteristics:
  - id: bore
    chart: { type: individuals, mr_rules: false }
    limits: { mean: 10, sigma: 0.1 }
    scope: [station]
    response: slow
  - id: torque
    chart: { type: individuals, mr_rules: false }
    limits: { mean: 5, sigma: 1 }
    scope: [station]
    response: fast
responses:
  slow: { tiers: [ { tier: 1, do: [log] }, { tier: 2, when: { unacknowledged_for: 1h }, do: [log] } ] }
  fast: { tiers: [ { tier: 1, do: [log] }, { tier: 2, when: { unacknowledged_for: 1m }, do: [log] } ] }
)");
  const std::int64_t t0 = 1'790'000'000'000;  // ms
  const std::int64_t minute = 60'000;
  auto torque = [](double v, std::int64_t ms) {
    return "{\"characteristic\":\"torque\",\"value\":" + std::to_string(v) + ",\"ts\":" + std::to_string(ms) +
           ",\"station\":\"st1\"}\n";
  };
  std::string text = Measure(10.5, t0, "U1", "st1");          // bore: alarm 1 (due at t0 + 1h)
  text += Measure(10.0, t0 + 5 * minute, "U2", "st1");
  text += torque(11.0, t0 + 10 * minute);                     // torque: alarm 2 (due at t0 + 11 min)
  text += Measure(10.0, t0 + 10 * minute + 30'000, "U3", "st1");
  text += torque(5.0, t0 + 12 * minute);                      // alarm 2 enters tier 2 here
  text += Measure(10.0, t0 + 59 * minute, "U4", "st1");
  std::unique_ptr<Engine> first = RunInline(config, dir.File("s.db"), dir.Write("a.jsonl", text), nullptr);
  ASSERT_TRUE(first);
  auto tier_of = [&](std::int64_t id) {
    auto s = Store::Open(dir.File("s.db"));
    EXPECT_TRUE(s.ok());
    auto a = (*s)->GetAlarm(id);
    EXPECT_TRUE(a.ok());
    return a.ok() ? a->tier : -1;
  };
  EXPECT_EQ(tier_of(1), 1) << "bore's hour has not passed";
  EXPECT_EQ(tier_of(2), 2) << "torque was due 11 min after t0";
  const std::string m = first->HandleApi("GET", "/metrics", "").body;
  EXPECT_EQ(Sample(m, "shewhart_alarms_open{policy=\"slow\",tier=\"1\"}"), 1.0) << m;
  EXPECT_EQ(Sample(m, "shewhart_alarms_open{policy=\"fast\",tier=\"1\"}"), 0.0);
  EXPECT_EQ(Sample(m, "shewhart_alarms_open{policy=\"fast\",tier=\"2\"}"), 1.0);
  first.reset();
  // The next input passes the hour: bore escalates too.
  std::unique_ptr<Engine> second =
      RunInline(config, dir.File("s.db"), dir.Write("b.jsonl", Measure(10.0, t0 + 61 * minute, "U5", "st1")), nullptr);
  ASSERT_TRUE(second);
  EXPECT_EQ(tier_of(1), 2);
  const std::string m2 = second->HandleApi("GET", "/metrics", "").body;
  EXPECT_EQ(Sample(m2, "shewhart_alarms_open{policy=\"slow\",tier=\"2\"}"), 1.0) << m2;
  EXPECT_EQ(Sample(m2, "shewhart_alarms_open{policy=\"slow\",tier=\"1\"}"), 0.0);
  EXPECT_EQ(Sample(m2, "shewhart_alarms_open{policy=\"fast\",tier=\"2\"}"), 1.0);
}

// /metrics end to end (inline): the first characteristic's chart, spec limits, capability and
// signals; the second left out by the cap and counted; alarms by policy and tier; holds and
// held units by state; passes and held units by station; no serial or lot label anywhere.
TEST(EngineTest, MetricsFollowChartsCapabilityAlarmsHoldsAndStations) {
  testing::TempDir dir;
  Config config = LoadOrDie(R"(
engine: { past_tolerance: 36500d, metrics_max_characteristics: 1 }
characteristics:
  - id: bore
    spec: { lsl: 9, usl: 11 }
    chart: { type: individuals, mr_rules: false }
    limits: { mean: 10, sigma: 0.1 }
    rules: [nelson.1, nelson.2, spec]
    scope: [station]
    response: r
  - id: torque
    chart: { type: individuals }
    limits: { mean: 5, sigma: 1 }
responses:
  r: { tiers: [ { tier: 1, do: [quarantine] }, { tier: 2, when: { signals: 5, within: 1h }, do: [log] } ] }
)");
  std::string text;
  text += Unit(1000, "U1", "st2") + Measure(10.0, 1000, "U1", "st2");
  text += Unit(2000, "U2", "st2") + Measure(10.05, 2000, "U2", "st2");
  text += Unit(3000, "U3", "st2");
  text += Unit(3500, "X1", "st1") +
          "{\"characteristic\":\"torque\",\"value\":5.5,\"ts\":3500,\"serial\":\"X1\",\"station\":\"st1\",\"lot\":"
          "\"L7\"}\n";
  text += Unit(4000, "U4", "st2") + Measure(10.5, 4000, "U4", "st2");  // beyond UCL 10.3: alarm, hold U2-U4
  std::unique_ptr<Engine> run_engine = RunInline(config, dir.File("s.db"), dir.Write("in.jsonl", text), nullptr);
  ASSERT_TRUE(run_engine);
  Engine& engine = *run_engine;
  const auto api = engine.HandleApi("GET", "/metrics", "");
  ASSERT_EQ(api.status, 200);
  EXPECT_EQ(api.content_type, "text/plain; version=0.0.4; charset=utf-8");
  const std::string& m = api.body;

  const std::string ind = "{characteristic=\"bore\",chart=\"individuals\"}";
  EXPECT_EQ(Sample(m, "shewhart_chart_value" + ind), 10.5) << m;
  EXPECT_EQ(Sample(m, "shewhart_chart_cl" + ind), 10.0);
  EXPECT_NEAR(*Sample(m, "shewhart_chart_ucl" + ind), 10.3, 1e-12);
  EXPECT_NEAR(*Sample(m, "shewhart_chart_lcl" + ind), 9.7, 1e-12);
  EXPECT_EQ(Sample(m, "shewhart_chart_points_total" + ind), 3.0);
  EXPECT_NEAR(*Sample(m, "shewhart_chart_value{characteristic=\"bore\",chart=\"mr\"}"), 0.45, 1e-12);
  EXPECT_EQ(Sample(m, "shewhart_spec_limit{characteristic=\"bore\",limit=\"usl\"}"), 11.0);
  // Capability over the three values, with the known sigma 0.1.
  rules::CapabilitySpec cap;
  cap.spec = config.characteristics[0].chart.spec;
  rules::CapabilityAccumulator acc(cap.spec);
  for (double v : {10.0, 10.05, 10.5}) acc.Add(v);
  auto want = rules::ComputeCapability(cap, acc.stats(), 0.1);
  ASSERT_TRUE(want.ok());
  EXPECT_DOUBLE_EQ(*Sample(m, "shewhart_capability{characteristic=\"bore\",index=\"cpk\"}"), want->cpk->value);
  EXPECT_DOUBLE_EQ(*Sample(m, "shewhart_capability{characteristic=\"bore\",index=\"pp\"}"), want->pp->value);
  EXPECT_EQ(Sample(m, "shewhart_signals_total{characteristic=\"bore\",rule=\"nelson.1\"}"), 1.0);
  EXPECT_EQ(Sample(m, "shewhart_signals_total{characteristic=\"bore\",rule=\"nelson.2\"}"), 0.0);
  EXPECT_EQ(Sample(m, "shewhart_signals_total{characteristic=\"bore\",rule=\"spec.usl\"}"), 0.0);
  EXPECT_FALSE(Sample(m, "shewhart_signals_total{characteristic=\"bore\",rule=\"nelson.5\"}"));
  // The cap: torque runs, but has no series.
  EXPECT_EQ(m.find("characteristic=\"torque\""), std::string::npos);
  EXPECT_EQ(Sample(m, "shewhart_metrics_characteristics_omitted_total"), 1.0);
  EXPECT_EQ(engine.measurements(), 4u);

  EXPECT_EQ(Sample(m, "shewhart_alarms_open{policy=\"r\",tier=\"1\"}"), 1.0);
  EXPECT_EQ(Sample(m, "shewhart_alarms_open{policy=\"r\",tier=\"2\"}"), 0.0);
  EXPECT_EQ(Sample(m, "shewhart_alarms_open{policy=\"r\",tier=\"0\"}"), 0.0);
  EXPECT_EQ(Sample(m, "shewhart_alarms_open{policy=\"default\",tier=\"1\"}"), 0.0);
  EXPECT_EQ(Sample(m, "shewhart_holds{state=\"open\"}"), 1.0);
  EXPECT_EQ(Sample(m, "shewhart_holds{state=\"closed\"}"), 0.0);
  EXPECT_EQ(Sample(m, "shewhart_held_units{state=\"held\"}"), 3.0);
  EXPECT_EQ(Sample(m, "shewhart_held_units{state=\"released\"}"), 0.0);
  // Passes: U1-U4 at st2 (a unit event and its measurement are one pass), X1 at st1; the hold
  // of station st2 took U2, U3 and U4.
  EXPECT_EQ(Sample(m, "shewhart_station_units_total{station=\"st2\"}"), 4.0);
  EXPECT_EQ(Sample(m, "shewhart_station_units_total{station=\"st1\"}"), 1.0);
  EXPECT_EQ(Sample(m, "shewhart_station_units_held_total{station=\"st2\"}"), 3.0);
  EXPECT_EQ(Sample(m, "shewhart_station_units_held_total{station=\"st1\"}"), 0.0);
  // Bounded cardinality: no unit or lot is ever a label.
  for (const char* label : {"serial=", "unit=", "lot=", "U2", "L7"})
    EXPECT_EQ(m.find(label), std::string::npos) << label;
  // Every family has its HELP and TYPE, right before its samples.
  std::istringstream in(m);
  std::string line, family;
  while (std::getline(in, line)) {
    if (line.rfind("# HELP ", 0) == 0) {
      family = line.substr(7, line.find(' ', 7) - 7);
      ASSERT_TRUE(std::getline(in, line));
      EXPECT_EQ(line.rfind("# TYPE " + family + " ", 0), 0u) << line;
      continue;
    }
    ASSERT_FALSE(family.empty()) << line;
    EXPECT_EQ(line.rfind(family, 0), 0u) << line << " outside its family " << family;
  }
}

// Scrapes while measurements flow through a threaded engine: every rendering is well formed, a
// characteristic's counters never go back, and once stopped the series equal what was fed.
TEST(EngineTest, ScrapesWhileMeasurementsFlowAreConsistent) {
  testing::TempDir dir;
  std::string text = "engine: { past_tolerance: 36500d, shards: 2 }\ncharacteristics:\n";
  for (int c = 0; c < 6; ++c) {
    text += "  - id: c" + std::to_string(c) +
            "\n    spec: { lsl: 9, usl: 11 }\n    chart: { type: individuals, mr_rules: false }\n"
            "    limits: { mean: 10, sigma: 0.1 }\n    rules: [nelson.1]\n    scope: [station]\n";
  }
  Config config = LoadOrDie(text);
  EngineOptions opts;
  opts.store_path = dir.File("s.db");
  Engine engine(config, opts);
  ASSERT_TRUE(engine.Start().ok());
  IngestSink& sink = engine.RegisterSource("t");
  std::atomic<bool> done{false};
  int renders = 0;
  std::string failure;
  std::thread scraper([&] {
    std::map<std::string, double> last;  // counter series -> value
    while (!done.load() && failure.empty()) {
      const std::string m = engine.HandleApi("GET", "/metrics", "").body;
      ++renders;
      std::istringstream in(m);
      std::string line;
      while (std::getline(in, line) && failure.empty()) {
        if (line.rfind("# ", 0) == 0) continue;
        const std::size_t space = line.rfind(' ');
        const std::string series = line.substr(0, space), value = line.substr(space + 1);
        char* end = nullptr;
        const double v = value == "NaN" ? 0 : std::strtod(value.c_str(), &end);
        if (value != "NaN" && (end == value.c_str() || *end != '\0')) failure = "not a number: " + line;
        if (series.find("_total") != std::string::npos) {
          auto [it, inserted] = last.emplace(series, v);
          if (!inserted && v < it->second) failure = "counter went back: " + line;
          it->second = v;
        }
      }
    }
  });
  constexpr int kPer = 3000;
  for (int i = 0; i < kPer; ++i) {
    for (int c = 0; c < 6; ++c) {
      Measurement m;
      m.characteristic = static_cast<CharacteristicId>(c);
      m.has_value = true;
      m.value = i % 500 == 499 ? 10.5 : 10.0 + 0.01 * ((i * 7 + c) % 11 - 5);
      m.ts = EventTime(std::chrono::milliseconds(1'000'000 + i));
      m.station.Assign("S" + std::to_string(c % 2));
      m.serial.Assign("U" + std::to_string(i));
      ASSERT_TRUE(sink.OnMeasurement(m));
    }
  }
  engine.Stop();
  done = true;
  scraper.join();
  EXPECT_TRUE(failure.empty()) << failure;
  EXPECT_GE(renders, 1);
  const std::string m = engine.HandleApi("GET", "/metrics", "").body;
  for (int c = 0; c < 6; ++c) {
    const std::string ch = "{characteristic=\"c" + std::to_string(c) + "\"";
    EXPECT_EQ(Sample(m, "shewhart_chart_points_total" + ch + ",chart=\"individuals\"}"), kPer) << c;
    EXPECT_EQ(Sample(m, "shewhart_chart_value" + ch + ",chart=\"individuals\"}"), 10.5) << c;  // the last is a spike
    EXPECT_EQ(Sample(m, "shewhart_signals_total" + ch + ",rule=\"nelson.1\"}"), kPer / 500) << c;
    EXPECT_EQ(Sample(m, "shewhart_capability_window_values" + ch + "}"), kPer) << c;
  }
  // Every unit passed each station once per characteristic measured there, in a row: units
  // U0..U2999 at S0 (c0, c2, c4 consecutively) and at S1.
  EXPECT_EQ(Sample(m, "shewhart_station_units_total{station=\"S0\"}"), kPer);
  EXPECT_EQ(Sample(m, "shewhart_station_units_total{station=\"S1\"}"), kPer);
  EXPECT_EQ(engine.signals(), 6u * (kPer / 500));
}

// A hold counts against its station's units only once per unit: a unit a second alarm of the
// same station holds again is not counted again.
TEST(EngineTest, AUnitHeldByTwoHoldsCountsOnceAgainstItsStation) {
  testing::TempDir dir;
  Config config = LoadOrDie(R"(
characteristics:
  - id: bore
    chart: { type: individuals, mr_rules: false }
    limits: { mean: 10, sigma: 0.1 }
    rules: [nelson.1]
    scope: [station]
  - id: depth
    chart: { type: individuals, mr_rules: false }
    limits: { mean: 5, sigma: 0.1 }
    rules: [nelson.1]
    scope: [station]
)");
  auto measure = [](const char* c, double v, std::int64_t ms, const std::string& serial) {
    return "{\"characteristic\":\"" + std::string(c) + "\",\"value\":" + std::to_string(v) + ",\"ts\":" +
           std::to_string(ms) + ",\"serial\":\"" + serial + "\",\"station\":\"A\"}\n";
  };
  std::string text;
  text += measure("bore", 10.0, 1000, "U1") + measure("depth", 5.0, 1000, "U1");
  text += measure("bore", 10.0, 2000, "U2") + measure("depth", 5.0, 2000, "U2");
  text += measure("bore", 10.9, 3000, "U3") + measure("depth", 5.9, 3000, "U3");  // both alarm: U2, U3 in two holds
  std::unique_ptr<Engine> engine = RunInline(config, dir.File("s.db"), dir.Write("in.jsonl", text), nullptr);
  ASSERT_TRUE(engine);
  const std::string m = engine->HandleApi("GET", "/metrics", "").body;
  EXPECT_EQ(Sample(m, "shewhart_holds{state=\"open\"}"), 2.0) << m;
  EXPECT_EQ(Sample(m, "shewhart_held_units{state=\"held\"}"), 4.0);
  EXPECT_EQ(Sample(m, "shewhart_alarms_open{policy=\"default\",tier=\"1\"}"), 2.0);
  EXPECT_EQ(Sample(m, "shewhart_station_units_total{station=\"A\"}"), 3.0);
  EXPECT_EQ(Sample(m, "shewhart_station_units_held_total{station=\"A\"}"), 2.0);
}

TEST(EngineTest, OpenAlarmsSurviveARestartAndNewSignalsJoinThem) {
  testing::TempDir dir;
  Config config = LoadOrDie(kConfig);
  const std::string store = dir.File("s.db");
  for (int run = 0; run < 2; ++run) {
    const std::string input =
        dir.Write("in.jsonl", Measure(12.0, 1000 + run * 1000, "S" + std::to_string(run), "st1"));
    Collector collector;
    std::unique_ptr<Engine> run_engine = RunInline(config, store, input, &collector);
    ASSERT_TRUE(run_engine) << "engine failed";
    Engine& engine = *run_engine;
    EXPECT_EQ(collector.alarms.size(), run == 0 ? 1u : 0u) << "run " << run;
    auto doc = nlohmann::json::parse(engine.HandleApi("GET", "/api/alarms", "").body);
    ASSERT_EQ(doc["alarms"].size(), 1u);
    EXPECT_EQ(doc["alarms"][0]["signals"], run + 1);
    auto holds = nlohmann::json::parse(engine.HandleApi("GET", "/api/holds", "").body);
    EXPECT_EQ(holds["holds"][0]["units"], run + 1);
  }
}

TEST(EngineTest, UnknownEndpointsAndMethodsAreClearErrors) {
  testing::TempDir dir;
  Config config = LoadOrDie(kConfig);
  EngineOptions opts;
  opts.threaded = false;
  opts.store_path = dir.File("s.db");
  Engine engine(config, opts);
  ASSERT_TRUE(engine.Start().ok());
  auto r = engine.HandleApi("GET", "/api/nothing", "");
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(r.body.find("/api/nothing"), std::string::npos);
  r = engine.HandleApi("DELETE", "/api/alarms", "");
  EXPECT_EQ(r.status, 405);
  r = engine.HandleApi("GET", "/health", "");
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("\"status\":\"ok\""), std::string::npos);
}

TEST(EngineTest, UnopenableStoreFailsStart) {
  Config config = LoadOrDie(kConfig);
  EngineOptions opts;
  opts.threaded = false;
  opts.store_path = "/nonexistent-dir/s.db";
  Engine engine(config, opts);
  Status st = engine.Start();
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
  EXPECT_NE(st.message().find("/nonexistent-dir/s.db"), std::string::npos);
}

}  // namespace
}  // namespace shewhart::engine
