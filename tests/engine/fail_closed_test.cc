// Fail closed (issue 15) at the engine's API: text that is not UTF-8, implausible event times,
// the interlock's answer, paged lists, and alarms whose scope the config no longer gives.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <string>
#include <tuple>
#include <vector>

#include "../test_util.h"
#include "engine_fixture.h"
#include "shewhart/connectors/file/file_source.h"
#include "shewhart/engine/engine.h"
#include "shewhart/engine/store/store.h"
#include "shewhart/engine/model/time_format.h"

namespace shewhart::engine {
namespace {

using fixture::Collector;
using fixture::kConfig;
using fixture::LoadOrDie;
using fixture::RunInline;

// A plant sends Latin-1 (and a CSV row, and a long line cut by the raw cap inside a two-byte
// character): each is rejected as `encoding` or stored cut at a character boundary, the API
// answers with the stored text, and a request body that is not UTF-8 is a 400, not a 500.
TEST(EngineTest, TextThatIsNotUtf8IsRejectedAndNoAnswerBreaksOnIt) {
  testing::TempDir dir;
  const std::string tokens = dir.Write("tokens.yaml", "anna: \"anna-0123456789abcdef\"\n");
  Config config = LoadOrDie("http: { tokens: \"" + tokens + "\" }\n" + std::string(kConfig));
  const std::string long_bad = "{\"characteristic\":\"bore\",\"value\":\"abc\",\"note\":\"" + [] {
    std::string s;
    for (int i = 0; i < 700; ++i) s += "\xc3\xa4";  // a, umlaut: two bytes each
    return s;
  }() + "\"}\n";
  const std::string input =
      dir.Write("in.jsonl",
                "{\"characteristic\":\"bore\",\"value\":10,\"ts\":1000,\"station\":\"Pr\xe4ge1\"}\n"
                "{\"unit\":\"SN\xc9\xcf\",\"station\":\"st1\",\"ts\":1000}\n" +
                    long_bad + "{\"characteristic\":\"bore\",\"value\":10.01,\"ts\":2000}\n");
  const std::string csv = dir.Write("in.csv", "characteristic,value,ts,station\nbore,10,3000,Pr\xe4ge1\n");
  EngineOptions opts;
  opts.threaded = false;
  opts.store_path = dir.File("s.db");
  Engine engine(config, opts);
  ASSERT_TRUE(engine.Start().ok());
  auto stats = fixture::ReadInto(engine, input, "file0");
  ASSERT_TRUE(stats.ok()) << stats.status().message();
  EXPECT_EQ(stats->measurements, 1);
  EXPECT_EQ(stats->rejects, 3);
  stats = fixture::ReadInto(engine, csv, "file1", /*csv=*/true);
  ASSERT_TRUE(stats.ok()) << stats.status().message();
  EXPECT_EQ(stats->measurements, 0) << "a Latin-1 CSV row is not charted";
  EXPECT_EQ(stats->rejects, 1);
  engine.Stop();

  const std::string metrics = engine.HandleApi("GET", "/metrics", "").body;
  EXPECT_NE(metrics.find("shewhart_rejected_total{source=\"file0\",reason=\"encoding\"} 2\n"), std::string::npos);
  EXPECT_NE(metrics.find("shewhart_rejected_total{source=\"file1\",reason=\"encoding\"} 1\n"), std::string::npos);
  auto api = engine.HandleApi("GET", "/api/rejects", "");
  ASSERT_EQ(api.status, 200) << api.body;
  auto doc = nlohmann::json::parse(api.body);  // throws on invalid UTF-8: the answer must be valid
  ASSERT_EQ(doc["rejects"].size(), 4u);
  EXPECT_EQ(doc["rejects"][0]["reason"], "encoding");
  EXPECT_NE(doc["rejects"][0]["message"].get<std::string>().find("byte 0xE4 at offset"), std::string::npos);
  EXPECT_EQ(doc["rejects"][1]["reason"], "wrong_type");
  const std::string raw = doc["rejects"][1]["raw"].get<std::string>();
  EXPECT_EQ(raw.size(), kRejectRawCap - 1) << "cut before the character the cap falls in";
  EXPECT_TRUE(doc["rejects"][1]["raw_truncated"].get<bool>());
  EXPECT_NE(doc["rejects"][3]["raw"].get<std::string>().find("\"station\":\"Pr\xef\xbf\xbdge1\""), std::string::npos)
      << "the stored Latin-1 byte is written as U+FFFD";

  for (const char* target : {"/api/holds/1/dispose", "/api/alarms/1/ack", "/api/silences"}) {
    auto bad_body = engine.HandleApi("POST", target, "", "{\"note\":\"\xe4\"}", "Bearer anna-0123456789abcdef");
    EXPECT_EQ(bad_body.status, std::string(target) == "/api/holds/1/dispose" ? 404 : 400)
        << target << ": " << bad_body.body;
    EXPECT_NO_THROW(nlohmann::json::parse(bad_body.body)) << target;
  }
}

// The MES interlock answers what became of a unit, and whether it may move on: held in any hold
// wins, then scrapped, reworked, released (by every hold); free only for a unit never held.
TEST(EngineTest, InterlockAnswersTheUnitsStateAndWhetherItMayMove) {
  testing::TempDir dir;
  const std::string path = dir.File("s.db");
  {
    auto store = Store::Open(path);
    ASSERT_TRUE(store.ok());
    HoldRecord h;
    h.alarm_id = 1;
    h.characteristic = "bore";
    for (int i = 0; i < 2; ++i) ASSERT_TRUE((*store)->CreateHold(h).ok());
    std::vector<HeldUnit> units;
    for (const char* s : {"H", "REL", "RW", "SC", "BOTH"}) units.push_back(HeldUnit{1, s, "held", FromUnixMillis(1)});
    ASSERT_TRUE((*store)->AddHeldUnits(1, units).ok());
    ASSERT_TRUE((*store)->AddHeldUnits(2, {HeldUnit{2, "BOTH", "held", FromUnixMillis(1)}}).ok());
    auto dispose = [&](const std::string& serial, const char* state, std::int64_t hold) {
      Disposition d;
      d.hold_id = hold;
      d.state = state;
      d.user = "anna";
      ASSERT_TRUE((*store)->Dispose({serial}, d).ok()) << serial;
    };
    dispose("REL", "released", 1);
    dispose("RW", "reworked", 1);
    dispose("SC", "scrapped", 1);
    dispose("BOTH", "released", 1);  // still held by hold 2
  }
  for (const bool rework_moves : {false, true}) {
    Config config = LoadOrDie(std::string(kConfig) + (rework_moves ? "interlock: { reworked_may_move: true }\n" : ""));
    EngineOptions opts;
    opts.threaded = false;
    opts.store_path = path;
    Engine engine(config, opts);
    ASSERT_TRUE(engine.Start().ok());
    auto unit = [&](const std::string& serial) {
      auto j = nlohmann::json::parse(engine.HandleApi("GET", "/api/units/" + serial, "").body);
      return j["status"].get<std::string>() + (j["may_move"].get<bool>() ? " moves" : " stays");
    };
    EXPECT_EQ(unit("H"), "held stays");
    EXPECT_EQ(unit("REL"), "released moves");
    EXPECT_EQ(unit("RW"), rework_moves ? "reworked moves" : "reworked stays");
    EXPECT_EQ(unit("SC"), "scrapped stays") << "it answered free";
    EXPECT_EQ(unit("BOTH"), "held stays") << "released by one hold, held by another";
    EXPECT_EQ(unit("NEVER"), "free moves");
    engine.Stop();
  }
}

// A scope change between runs (station -> machine) left the old alarm open for good, still taking
// units: it is closed at start, audited, and its hold keeps its units; new signals open new alarms.
TEST(EngineTest, AlarmOfAScopeNoLongerConfiguredIsClosedAtStartAndItsHoldKept) {
  testing::TempDir dir;
  const std::string store = dir.File("s.db");
  const std::string base =
      std::string(kConfig) +
      "    response: q\nresponses: { q: { tiers: [ { tier: 1, when: { signal: any }, do: [quarantine] } ] } }\n";
  Collector first;
  ASSERT_TRUE(RunInline(LoadOrDie(base), store,
                        dir.Write("a.jsonl",
                                  "{\"characteristic\":\"bore\",\"value\":10,\"ts\":1000,\"station\":\"st1\","
                                  "\"machine\":\"M1\",\"serial\":\"A\"}\n"
                                  "{\"characteristic\":\"bore\",\"value\":12,\"ts\":2000,\"station\":\"st1\","
                                  "\"machine\":\"M1\",\"serial\":\"B\"}\n"),
                        &first));
  ASSERT_EQ(first.alarms.size(), 1u);
  std::string by_machine = base;
  by_machine.replace(by_machine.find("scope: [station]"), std::string("scope: [station]").size(), "scope: [machine]");
  Collector second;
  auto run = RunInline(LoadOrDie(by_machine), store,
                       dir.Write("b.jsonl",
                                 "{\"unit\":\"C\",\"station\":\"st1\",\"ts\":2500}\n"
                                 "{\"characteristic\":\"bore\",\"value\":12,\"ts\":3000,\"station\":\"st1\","
                                 "\"machine\":\"M1\",\"serial\":\"D\"}\n"),
                       &second);
  ASSERT_TRUE(run);
  auto alarm = nlohmann::json::parse(run->HandleApi("GET", "/api/alarms/1", "").body);
  EXPECT_EQ(alarm["state"], "resolved") << alarm;
  ASSERT_EQ(second.alarms.size(), 1u) << "the new signal opened a new alarm";
  EXPECT_EQ(FormatScope(second.alarms[0].scope), "machine=M1");
  auto hold = nlohmann::json::parse(run->HandleApi("GET", "/api/holds/1", "").body);
  std::vector<std::string> serials;
  for (const auto& u : hold["units"]) serials.push_back(u["serial"]);
  EXPECT_EQ(serials, (std::vector<std::string>{"A", "B"})) << "kept, and not grown by unit C of st1";
  EXPECT_EQ(hold["state"], "open") << "its units still await disposition";
  bool audited = false;
  auto store_read = Store::Open(store);
  ASSERT_TRUE(store_read.ok());
  auto records = (*store_read)->ReadAudit(0, 1000);
  ASSERT_TRUE(records.ok());
  for (const AuditRecord& r : *records) {
    if (r.kind == "alarm.closed" && r.body.find("\"reason\":\"scope_changed\"") != std::string::npos) audited = true;
  }
  EXPECT_TRUE(audited) << "the closing is in the audit log";
}

// GET /api/holds at 2 M held units built 140 MB in 12.7 s and the interlock waited behind it:
// every list is a page (limit, and the previous page's "next"), and a hold's units come a page at
// a time; a bad page parameter is a 400 naming it.
TEST(EngineTest, ListsArePagesThatFollowEachOtherToTheEnd) {
  testing::TempDir dir;
  const std::string path = dir.File("s.db");
  {
    auto store = Store::Open(path);
    ASSERT_TRUE(store.ok());
    for (int i = 0; i < 5; ++i) {
      HoldRecord h;
      h.alarm_id = i + 1;
      h.characteristic = "bore";
      ASSERT_TRUE((*store)->CreateHold(h).ok());
    }
    std::vector<HeldUnit> units;
    for (int i = 0; i < 25; ++i) units.push_back(HeldUnit{1, "U" + std::to_string(100 + i), "held", FromUnixMillis(i)});
    units.push_back(HeldUnit{1, "A&B %x", "held", FromUnixMillis(99)});  // a serial that needs escaping
    ASSERT_TRUE((*store)->AddHeldUnits(1, units).ok());
    for (int i = 0; i < 5; ++i) {
      Disposition d;
      d.hold_id = 1;
      d.state = "released";
      d.user = "anna";
      ASSERT_TRUE((*store)->Dispose({"U" + std::to_string(100 + i)}, d).ok());
    }
    for (int i = 0; i < 7; ++i) {
      RejectRecord r;
      r.source = "f";
      r.position = i + 1;
      ASSERT_TRUE((*store)->InsertReject(r).ok());
    }
  }
  Config config = LoadOrDie(kConfig);
  EngineOptions opts;
  opts.threaded = false;
  opts.store_path = path;
  Engine engine(config, opts);
  ASSERT_TRUE(engine.Start().ok());
  auto get = [&](const std::string& target, const std::string& query) {
    auto r = engine.HandleApi("GET", target, query);
    EXPECT_EQ(r.status, 200) << target << "?" << query << ": " << r.body;
    return nlohmann::json::parse(r.body);
  };
  std::vector<std::int64_t> holds;
  std::string query = "limit=2";
  for (int pages = 0; pages < 10; ++pages) {
    auto doc = get("/api/holds", query);
    for (const auto& h : doc["holds"]) holds.push_back(h["id"]);
    if (doc["next"].is_null()) break;
    query = "limit=2&before=" + std::to_string(doc["next"].get<std::int64_t>());
  }
  EXPECT_EQ(holds, (std::vector<std::int64_t>{5, 4, 3, 2, 1})) << "newest first, each once";
  std::vector<std::string> serials;
  query = "limit=10";
  for (int pages = 0; pages < 10; ++pages) {
    auto doc = get("/api/holds/1", query);
    EXPECT_EQ(doc["unit_count"], 26);
    for (const auto& u : doc["units"]) serials.push_back(u["serial"]);
    if (doc["next"].is_null()) break;
    std::string cursor;
    for (char c : doc["next"].get<std::string>()) {
      char hex[4];
      std::snprintf(hex, sizeof hex, "%%%02X", static_cast<unsigned char>(c));
      cursor += std::isalnum(static_cast<unsigned char>(c)) ? std::string(1, c) : std::string(hex);
    }
    query = "limit=10&after=" + cursor;
  }
  ASSERT_EQ(serials.size(), 26u);
  std::vector<std::string> disposed;
  query = "limit=2";
  for (int pages = 0; pages < 10; ++pages) {
    auto doc = get("/api/holds/1", query);
    for (const auto& d : doc["dispositions"]) disposed.push_back(d["serial"]);
    if (doc["dispositions_next"].is_null()) break;
    query = "limit=2&dispositions_after=" + std::to_string(doc["dispositions_next"].get<std::int64_t>());
  }
  EXPECT_EQ(disposed, (std::vector<std::string>{"U100", "U101", "U102", "U103", "U104"})) << "oldest first, each once";
  EXPECT_TRUE(std::is_sorted(serials.begin(), serials.end()));
  EXPECT_EQ(serials.front(), "A&B %x");
  auto rejects = get("/api/rejects", "limit=5");
  EXPECT_EQ(rejects["rejects"].size(), 5u);
  rejects = get("/api/rejects", "limit=5&before=" + std::to_string(rejects["next"].get<std::int64_t>()));
  EXPECT_EQ(rejects["rejects"].size(), 2u);
  EXPECT_TRUE(rejects["next"].is_null());
  EXPECT_EQ(rejects["rejects"][1]["position"], 1);
  for (const auto& [target, q, message] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"/api/alarms", "limit=0", "limit must be an integer from 1 to 1000, found '0'"},
           {"/api/holds", "limit=5000", "limit must be an integer from 1 to 1000"},
           {"/api/holds/1", "limit=20000", "limit must be an integer from 1 to 10000"},
           {"/api/rejects", "before=x", "before must be a positive id"},
           {"/api/deliveries", "page=2", "unknown query parameter 'page=2'"},
           {"/api/alarms", "limit=1&limit=2", "query parameter 'limit' is given twice"},
           {"/api/holds/1", "after=%zz", "bad %-escape"}}) {
    auto r = engine.HandleApi("GET", target, q);
    EXPECT_EQ(r.status, 400) << target << "?" << q;
    EXPECT_NE(r.body.find(message), std::string::npos) << target << "?" << q << ": " << r.body;
  }
  engine.Stop();
}

// engine.future_tolerance / past_tolerance: in replay the clock is the latest accepted event
// time. A reading dated 9999 no longer makes every later one `late`, and one dated 1975 no
// longer widens the suspect window back to 1975 (it held 7 units instead of 2).
TEST(EngineTest, ImplausibleEventTimesAreRejectedBeforeTheyMoveAnyClockOrWindow) {
  testing::TempDir dir;
  Config config = LoadOrDie(
      "characteristics:\n"
      "  - id: temp\n"
      "    chart: { type: individuals, mr_rules: false }\n"
      "    limits: { mean: 10, sigma: 1 }\n"
      "    rules: [nelson.1]\n"
      "    late_tolerance: 1m\n"
      "    scope: [station]\n"
      "    response: q\n"
      "responses: { q: { tiers: [ { tier: 1, when: { signal: any }, do: [quarantine] } ] } }\n");
  auto unit = [](const char* serial, const char* ts) {
    return std::string("{\"unit\":\"") + serial + "\",\"station\":\"st1\",\"ts\":\"" + ts + "\"}\n";
  };
  Collector alarms;
  auto run = RunInline(
      config, dir.File("s.db"),
      dir.Write("in.jsonl",
                unit("U0", "2026-11-27T08:00:00Z") +
                    "{\"characteristic\":\"temp\",\"value\":10,\"ts\":\"2026-11-27T08:00:01Z\",\"station\":\"st1\","
                    "\"serial\":\"U1\"}\n"
                    "{\"characteristic\":\"temp\",\"value\":10,\"ts\":\"9999-12-31T23:59:59Z\",\"station\":\"st1\"}\n"
                    "{\"characteristic\":\"temp\",\"value\":10,\"ts\":\"1975-01-01T00:00:00Z\",\"station\":\"st1\","
                    "\"serial\":\"OLD\"}\n" +
                    unit("U1975", "1975-06-01T00:00:00Z") +
                    "{\"characteristic\":\"temp\",\"value\":10,\"ts\":9223372036854775807,\"station\":\"st1\"}\n"
                    "{\"characteristic\":\"temp\",\"value\":10,\"ts\":10000000000000000,\"station\":\"st1\"}\n"
                    "{\"characteristic\":\"temp\",\"value\":10,\"ts\":-5,\"station\":\"st1\"}\n"
                    "{\"characteristic\":\"temp\",\"value\":20,\"ts\":\"2026-11-27T08:00:02Z\",\"station\":\"st1\","
                    "\"serial\":\"U2\"}\n"),
      &alarms);
  ASSERT_TRUE(run);
  Engine& engine = *run;
  EXPECT_EQ(engine.measurements(), 2u) << "the out-of-control reading was not late: the 9999 one moved no clock";
  const std::string metrics = engine.HandleApi("GET", "/metrics", "").body;
  EXPECT_NE(metrics.find("shewhart_rejected_total{source=\"f\",reason=\"future\"} 3\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("shewhart_rejected_total{source=\"f\",reason=\"too_old\"} 3\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("shewhart_rejected_total{source=\"f\",reason=\"late\"} 0\n"), std::string::npos) << metrics;
  const auto rejects = nlohmann::json::parse(engine.HandleApi("GET", "/api/rejects", "").body)["rejects"];
  ASSERT_EQ(rejects.size(), 6u);
  EXPECT_NE(
      rejects[5]["message"].get<std::string>().find("ahead of the latest accepted event time (2026-11-27T08:00:01"),
      std::string::npos)
      << rejects[5];
  EXPECT_NE(
      rejects[1]["message"].get<std::string>().find("ts 10000000000000000 ms is outside 1970-01-01 .. 9999-12-31"),
      std::string::npos)
      << rejects[1];
  ASSERT_EQ(alarms.alarms.size(), 1u);
  EXPECT_EQ(FormatRfc3339(alarms.alarms[0].window_start), "2026-11-27T08:00:01.000Z");
  std::sort(alarms.held.begin(), alarms.held.end());
  EXPECT_EQ(alarms.held, (std::vector<std::string>{"U1", "U2"})) << "no unit of 1975 in the suspect window";
}

}  // namespace
}  // namespace shewhart::engine
