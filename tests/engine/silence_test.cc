#include "shewhart/engine/respond/silence.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <mutex>
#include <thread>

#include "../test_util.h"
#include "shewhart/connectors/file/file_source.h"
#include "shewhart/engine/engine.h"
#include "shewhart/engine/model/time_format.h"

namespace shewhart::engine {
namespace {

using nlohmann::json;

Config LoadOrDie(const std::string& text) {
  ConfigLoad load = LoadConfigText(text, "test.yaml");
  std::string problems;
  for (const auto& p : load.problems) problems += p.ToString() + "\n";
  EXPECT_TRUE(load.config.has_value()) << problems;
  SHEWHART_CHECK(load.config.has_value());
  return *load.config;
}

bool Has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

EventTime At(const char* rfc3339) { return *ParseRfc3339(rfc3339); }

AlarmRecord Alarm() {
  AlarmRecord a;
  a.id = 7;
  a.characteristic = "bore";
  a.policy = "line";
  a.rule = "nelson.1";
  a.chart = "individuals";
  a.scope = {{ScopeKey::kStation, "st2"}};
  return a;
}

// ---------------------------------------------------------------------------------------------
// Labels, matching, state.

TEST(SilenceTest, LabelsAreTheAlarmsOwnThenItsSignalsContext) {
  Signal s;
  s.labels[0].Assign("st9");  // station: the alarm's scope value wins
  s.labels[1].Assign("M3");   // machine
  s.labels[4].Assign("PB-10K");  // model
  auto labels = SilenceLabelsOf(Alarm(), &s);
  EXPECT_EQ(labels, (std::map<std::string, std::string>{{"characteristic", "bore"},
                                                        {"policy", "line"},
                                                        {"rule", "nelson.1"},
                                                        {"chart", "individuals"},
                                                        {"station", "st2"},
                                                        {"machine", "M3"},
                                                        {"model", "PB-10K"}}));
  auto by_time = SilenceLabelsOf(Alarm(), nullptr);
  EXPECT_EQ(by_time.count("machine"), 0u) << "a tier entered by time has no measurement behind it";
  EXPECT_EQ(by_time.at("station"), "st2");
}

TEST(SilenceTest, EveryMatcherMustHold) {
  const auto labels = SilenceLabelsOf(Alarm(), nullptr);
  SilenceRecord s;
  s.matchers = {{"station", "st2"}, {"rule", "nelson.1"}};
  EXPECT_TRUE(SilenceMatches(s, labels));
  s.matchers = {{"station", "st2"}, {"rule", "nelson.2"}};
  EXPECT_FALSE(SilenceMatches(s, labels));
  s.matchers = {{"model", "PB-10K"}};
  EXPECT_FALSE(SilenceMatches(s, labels)) << "a label the alarm does not carry never matches";
  s.matchers = {};
  EXPECT_FALSE(SilenceMatches(s, labels)) << "no matcher silences nothing, not everything";
}

TEST(SilenceTest, StateIsPendingActiveThenExpired) {
  SilenceRecord s;
  s.starts = At("2026-11-27T08:00:00Z");
  s.ends = At("2026-11-27T10:00:00Z");
  EXPECT_EQ(SilenceStateAt(s, At("2026-11-27T07:59:59Z")), SilenceState::kPending);
  EXPECT_EQ(SilenceStateAt(s, At("2026-11-27T08:00:00Z")), SilenceState::kActive);
  EXPECT_EQ(SilenceStateAt(s, At("2026-11-27T09:59:59Z")), SilenceState::kActive);
  EXPECT_EQ(SilenceStateAt(s, At("2026-11-27T10:00:00Z")), SilenceState::kExpired);
  EXPECT_STREQ(SilenceStateName(SilenceState::kPending), "pending");
}

TEST(SilenceTest, AHookSaysWhetherItCanBeSilenced) {
  const std::string head =
      "characteristics: [ { id: bore, chart: { type: individuals }, limits: { mean: 1, sigma: 1 } } ]\n";
  ConfigLoad ok = LoadConfigText(head +
                                     "hooks:\n"
                                     "  lock: { exec: [\"/bin/true\"], silenceable: false }\n"
                                     "  notify: { webhook: { url: \"http://127.0.0.1:1/\" } }\n",
                                 "hooks.yaml");
  ASSERT_TRUE(ok.config.has_value()) << (ok.problems.empty() ? "" : ok.problems[0].ToString());
  EXPECT_FALSE(ok.config->hooks.at("lock").silenceable);
  EXPECT_EQ(ok.config->hooks.at("lock").kind, HookSpec::Kind::kExec);
  EXPECT_TRUE(ok.config->hooks.at("notify").silenceable) << "the default";
  ConfigLoad bad = LoadConfigText(head +
                                      "hooks:\n"
                                      "  lock: { exec: [\"/bin/true\"], silenceable: maybe }\n"
                                      "  bare: { silenceable: false }\n",
                                  "bad.yaml");
  ASSERT_EQ(bad.problems.size(), 2u);
  EXPECT_EQ(bad.problems[0].ToString(),
            "bad.yaml:3:45: hooks.lock.silenceable: expected one of true, false, found 'maybe'");
  EXPECT_EQ(bad.problems[1].ToString(),
            "bad.yaml:4:9: hooks.bare: expected exactly one of 'log', 'zmq_pub', 'webhook', 'exec' or 'alertmanager'");
}

// ---------------------------------------------------------------------------------------------
// The API's request.

const char* kConfig = R"(
characteristics:
  - id: bore
    chart: { type: individuals, mr_rules: false }
    limits: { mean: 10, sigma: 0.1 }
    rules: [nelson.1]
    response: line
responses:
  line: { tiers: [ { tier: 1, do: [log] } ] }
)";

TEST(SilenceRequestTest, DurationCountsFromStartsWhichDefaultsToNow) {
  Config config = LoadOrDie(kConfig);
  const EventTime now = At("2026-11-27T08:00:00Z");
  auto s = ParseSilenceRequest(
      R"({"matchers":{"station":"st2","rule":"nelson.1"},"duration":"2h","comment":"tool change"})", config, now,
      At("2026-11-27T08:00:05Z"));
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->starts, now);
  EXPECT_EQ(s->ends, At("2026-11-27T10:00:00Z"));
  EXPECT_EQ(s->matchers, (std::vector<std::pair<std::string, std::string>>{{"station", "st2"}, {"rule", "nelson.1"}}));
  EXPECT_EQ(s->comment, "tool change");
  EXPECT_EQ(s->created, At("2026-11-27T08:00:05Z"));

  s = ParseSilenceRequest(
      R"({"matchers":{"characteristic":"bore"},"starts":"2026-11-27T09:00:00Z","duration":"30m","comment":"x"})",
      config, now, now);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->ends, At("2026-11-27T09:30:00Z"));
  EXPECT_EQ(SilenceStateAt(*s, now), SilenceState::kPending);

  s = ParseSilenceRequest(R"({"matchers":{"policy":"default"},"ends":"2026-11-28T00:00:00+01:00","comment":"x"})",
                          config, now, now);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->ends, At("2026-11-27T23:00:00Z"));
}

TEST(SilenceRequestTest, BadRequestsAreRefusedNamingTheProblem) {
  Config config = LoadOrDie(kConfig);
  const EventTime now = At("2026-11-27T08:00:00Z");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"[1]", "the body must be a JSON object"},
      {"{", "the body is not JSON"},
      {R"({"matchers":{"station":"st2"},"duration":"2h"})", "missing field 'comment'"},
      {R"({"matchers":{"station":"st2"},"duration":"2h","comment":""})", "missing field 'comment'"},
      {R"({"duration":"2h","comment":"c"})", "missing field 'matchers'"},
      {R"({"matchers":{},"duration":"2h","comment":"c"})", "field 'matchers' is empty"},
      {R"({"matchers":["station"],"duration":"2h","comment":"c"})", "field 'matchers' must be an object"},
      {R"({"matchers":{"shift":"night"},"duration":"2h","comment":"c"})",
       "unknown label 'shift' in matchers (labels: characteristic, policy, rule, chart, station, machine, lot, "
       "operator, model)"},
      {R"({"matchers":{"station":""},"duration":"2h","comment":"c"})", "matcher 'station' must be a non-empty string"},
      {R"({"matchers":{"station":3},"duration":"2h","comment":"c"})", "matcher 'station' must be a non-empty string"},
      {R"({"matchers":{"characteristic":"bor"},"duration":"2h","comment":"c"})",
       "matcher 'characteristic': the config has no characteristic 'bor' (expected bore)"},
      {R"({"matchers":{"rule":"nelson9"},"duration":"2h","comment":"c"})", "the config has no rule 'nelson9'"},
      {R"({"matchers":{"chart":"xbarr"},"duration":"2h","comment":"c"})", "the config has no chart 'xbarr'"},
      {R"({"matchers":{"policy":"lne"},"duration":"2h","comment":"c"})",
       "the config has no policy 'lne' (expected default, line)"},
      {R"({"matchers":{"station":"st2"},"comment":"c"})", "missing field 'ends' (an RFC 3339 time) or 'duration'"},
      {R"({"matchers":{"station":"st2"},"duration":"2h","ends":"2026-11-27T09:00:00Z","comment":"c"})",
       "give either 'ends' or 'duration', not both"},
      {R"({"matchers":{"station":"st2"},"duration":"2 hours","comment":"c"})",
       "field 'duration': expected a duration greater than 0 such as 30m, 2h or 1d (units us, ms, s, m, h, d), found "
       "'2 hours'"},
      {R"({"matchers":{"station":"st2"},"duration":"0s","comment":"c"})",
       "field 'duration': expected a duration greater"},
      {R"({"matchers":{"station":"st2"},"duration":2,"comment":"c"})", "field 'duration' must be a string, found 2"},
      {R"({"matchers":{"station":"st2"},"ends":"tomorrow","comment":"c"})",
       "field 'ends': expected an RFC 3339 time such as 2026-11-27T08:00:00Z, found 'tomorrow'"},
      {R"({"matchers":{"station":"st2"},"starts":"2026-13-01T00:00:00Z","duration":"1h","comment":"c"})",
       "field 'starts': expected an RFC 3339 time"},
      {R"({"matchers":{"station":"st2"},"ends":"2026-11-27T07:00:00Z","comment":"c"})",
       "ends 2026-11-27T07:00:00.000Z is in the past (now is 2026-11-27T08:00:00.000Z)"},
      {R"({"matchers":{"station":"st2"},"ends":"2026-11-27T08:00:00Z","comment":"c"})", "is in the past"},
      {R"({"matchers":{"station":"st2"},"starts":"2026-11-27T12:00:00Z","ends":"2026-11-27T11:00:00Z","comment":"c"})",
       "ends 2026-11-27T11:00:00.000Z is not after starts 2026-11-27T12:00:00.000Z"},
      {R"({"matchers":{"station":"st2"},"duration":"1h","comment":"c","user":"eve"})", "unknown field 'user'"},
  };
  for (const auto& [body, fragment] : cases) {
    auto s = ParseSilenceRequest(body, config, now, now);
    ASSERT_FALSE(s.ok()) << body;
    EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument) << body;
    EXPECT_TRUE(Has(s.status().message(), fragment)) << body << "\n  got: " << s.status().message();
  }
}

// ---------------------------------------------------------------------------------------------
// The store.

void RawSql(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  const std::string message = err ? err : "";
  sqlite3_free(err);
  sqlite3_close(db);
  ASSERT_EQ(rc, SQLITE_OK) << message;
}

std::string SchemaVersion(const std::string& path) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* q = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'schema_version'", -1, &q, nullptr), SQLITE_OK);
  std::string v = sqlite3_step(q) == SQLITE_ROW ? reinterpret_cast<const char*>(sqlite3_column_text(q, 0)) : "";
  sqlite3_finalize(q);
  sqlite3_close(db);
  return v;
}

SilenceRecord Silence(const char* starts, const char* ends) {
  SilenceRecord s;
  s.matchers = {{"station", "st2"}, {"machine", "M 3"}};
  s.starts = At(starts);
  s.ends = At(ends);
  s.created = At("2026-11-27T07:00:00Z");
  s.created_by = "anna";
  s.comment = "tool change";
  return s;
}

TEST(SilenceStoreTest, AStoreOfSchemaVersion6GetsTheSilencesTable) {
  testing::TempDir dir;
  const std::string path = dir.File("s.db");
  { ASSERT_TRUE(Store::Open(path).ok()); }
  EXPECT_EQ(SchemaVersion(path), "11");
  // What a store of version 6 was: the same tables without `silences`.
  RawSql(path, "DROP TABLE silences; UPDATE meta SET value = '6' WHERE key = 'schema_version'");
  {
    auto store = Store::Open(path);
    ASSERT_TRUE(store.ok()) << store.status().message();
    auto id = (*store)->InsertSilence(Silence("2026-11-27T08:00:00Z", "2026-11-27T10:00:00Z"));
    ASSERT_TRUE(id.ok()) << id.status().message();
    EXPECT_EQ(*id, 1);
  }
  EXPECT_EQ(SchemaVersion(path), "11");
  RawSql(path, "UPDATE meta SET value = '99' WHERE key = 'schema_version'");
  auto newer = Store::Open(path);
  ASSERT_FALSE(newer.ok());
  EXPECT_TRUE(Has(newer.status().message(), "has schema version 99; this build reads version 11"))
      << newer.status().message();
}

TEST(SilenceStoreTest, SilencesAreListedActiveAtATimeAndExpiredOnce) {
  testing::TempDir dir;
  auto store = Store::Open(dir.File("s.db"));
  ASSERT_TRUE(store.ok());
  Store& st = **store;
  ASSERT_TRUE(st.InsertSilence(Silence("2026-11-27T08:00:00Z", "2026-11-27T10:00:00Z")).ok());
  ASSERT_TRUE(st.InsertSilence(Silence("2026-11-27T09:00:00Z", "2026-11-27T11:00:00Z")).ok());
  auto all = st.ListSilences(10);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].id, 2) << "newest first";
  EXPECT_EQ((*all)[1].matchers,
            (std::vector<std::pair<std::string, std::string>>{{"station", "st2"}, {"machine", "M 3"}}));
  EXPECT_EQ((*all)[1].created_by, "anna");
  EXPECT_EQ((*all)[1].comment, "tool change");
  EXPECT_EQ((*all)[1].ends, At("2026-11-27T10:00:00Z"));
  auto active = [&](const char* t) {
    std::vector<std::int64_t> ids;
    auto got = st.ListSilences(10, At(t));
    EXPECT_TRUE(got.ok());
    for (const auto& s : *got) ids.push_back(s.id);
    return ids;
  };
  EXPECT_EQ(active("2026-11-27T07:59:59Z"), std::vector<std::int64_t>{});
  EXPECT_EQ(active("2026-11-27T08:00:00Z"), std::vector<std::int64_t>{1});
  EXPECT_EQ(active("2026-11-27T09:30:00Z"), (std::vector<std::int64_t>{1, 2})) << "oldest first";
  EXPECT_EQ(active("2026-11-27T10:00:00Z"), std::vector<std::int64_t>{2}) << "ends is exclusive";

  auto expired = st.ExpireSilence(2, At("2026-11-27T09:15:00Z"), "bob", At("2026-11-27T09:15:01Z"));
  ASSERT_TRUE(expired.ok()) << expired.status().message();
  EXPECT_EQ(expired->ends, At("2026-11-27T09:15:00Z"));
  EXPECT_EQ(expired->expired_by, "bob");
  EXPECT_EQ(expired->expired, At("2026-11-27T09:15:01Z"));
  EXPECT_EQ(active("2026-11-27T09:30:00Z"), std::vector<std::int64_t>{1});
  auto again = st.ExpireSilence(2, At("2026-11-27T09:20:00Z"), "anna", At("2026-11-27T09:20:00Z"));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(Has(again.status().message(), "silence 2 has expired already (it ended at 2026-11-27T09:15:00.000Z)"))
      << again.status().message();
  auto kept = st.GetSilence(2);
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->expired_by, "bob") << "a refused expiry changes nothing";
  auto missing = st.ExpireSilence(9, At("2026-11-27T09:20:00Z"), "anna", At("2026-11-27T09:20:00Z"));
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(st.GetSilence(9).status().code(), StatusCode::kNotFound);
}

// ---------------------------------------------------------------------------------------------
// The engine: silenced tiers, the API.

constexpr const char* kAnna = "Bearer anna-0123456789abcdef";
constexpr const char* kBob = "Bearer bob-0123456789abcdef";

// Tier 1 of every alarm: a notification (exec), a lock hook exempt from silences, an
// Alertmanager alert (to a port where nothing listens: its rows stay in the outbox), the
// built-in quality case. Tier 2 on a second signal within an hour: the notification again.
std::string EngineConfig(const testing::TempDir& dir, const std::string& engine = "shards: 1") {
  const std::string tokens =
      dir.Write("tokens.yaml", "anna: \"anna-0123456789abcdef\"\nbob: \"bob-0123456789abcdef\"\n");
  return "http: { tokens: \"" + tokens + "\" }\n" + "engine: { past_tolerance: 36500d, " + engine +
         " }\n"
         "characteristics:\n"
         "  - id: bore\n"
         "    chart: { type: individuals, mr_rules: false }\n"
         "    limits: { mean: 10, sigma: 0.1 }\n"
         "    rules: [nelson.1]\n"
         "    scope: [station]\n"
         "    response: line\n"
         "responses:\n"
         "  line:\n"
         "    tiers:\n"
         "      - { tier: 1, when: { signal: any }, do: [log, quarantine, notify, lock, am, quality_case] }\n"
         "      - { tier: 2, when: { signals: 2, within: 1h, group_by: station }, do: [notify] }\n"
         "hooks:\n"
         "  notify: { exec: { argv: [\"/bin/true\"], retries: 0 } }\n"
         "  lock: { exec: [\"/bin/true\"], silenceable: false }\n"
         "  am: { alertmanager: { url: \"http://127.0.0.1:1\", retries: 0 } }\n";
}

// One out-of-control value per (station, event time in ms).
void Feed(Engine& engine, const testing::TempDir& dir, const std::vector<std::pair<std::string, int>>& points,
          const std::string& name = "in.jsonl") {
  std::string text;
  for (const auto& [station, ms] : points) {
    text += "{\"characteristic\":\"bore\",\"value\":12,\"ts\":" + std::to_string(ms) + ",\"station\":\"" + station +
            "\"}\n";
  }
  FileSourceSpec spec;
  spec.path = dir.Write(name, text);
  auto read = connectors::file::ReadFile(spec, name, engine.index(), 65536, engine.RegisterSource(name));
  ASSERT_TRUE(read.ok()) << read.status().message();
}

json Api(Engine& engine, const std::string& method, const std::string& target, int want, const std::string& body = "",
         const std::string& auth = "") {
  auto r = engine.HandleApi(method, target, "", body, auth);
  EXPECT_EQ(r.status, want) << method << " " << target << ": " << r.body;
  return json::parse(r.body, nullptr, false);
}

std::vector<std::string> DeliveryKeys(Engine& engine) {
  std::vector<std::string> keys;
  const json doc = Api(engine, "GET", "/api/deliveries", 200);
  for (const auto& d : doc["deliveries"]) keys.push_back(d["idempotency_key"]);
  std::sort(keys.begin(), keys.end());
  return keys;
}

std::vector<AuditRecord> AuditOf(Engine& engine, const std::string& kind) {
  auto all = engine.store().ReadAudit(0, 100000);
  EXPECT_TRUE(all.ok());
  std::vector<AuditRecord> out;
  for (auto& r : *all) {
    if (r.kind == kind) out.push_back(r);
  }
  return out;
}

std::string Metric(Engine& engine, const std::string& series) {
  const std::string m = engine.HandleApi("GET", "/metrics", "").body;
  const std::size_t at = m.find("\n" + series + " ");
  if (at == std::string::npos) return "absent";
  const std::size_t start = at + series.size() + 2;
  return m.substr(start, m.find('\n', start) - start);
}

template <typename Pred>
bool WaitFor(Pred pred) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

// The acceptance case: a silenced tier records the alarm, its tier and hold as without the
// silence, commits no notification, runs the exempt lock hook and the quality case, and is
// audited and counted; an alarm the silence does not match is notified.
TEST(EngineSilenceTest, SilencedTierIsRecordedButNotNotified) {
  testing::TempDir dir;
  Config config = LoadOrDie(EngineConfig(dir));
  EngineOptions opts;
  opts.store_path = dir.File("s.db");
  Engine engine(config, opts);
  ASSERT_TRUE(engine.Start().ok());
  json created =
      Api(engine, "POST", "/api/silences", 201,
          R"({"matchers":{"station":"st2","characteristic":"bore"},"duration":"1h","comment":"tool change"})", kAnna);
  EXPECT_EQ(created["id"], 1);
  EXPECT_EQ(created["state"], "active");
  EXPECT_EQ(created["created_by"], "anna");
  EXPECT_EQ(created["matchers"], (json{{"station", "st2"}, {"characteristic", "bore"}}));
  EXPECT_EQ(created["expired_by"], nullptr);
  Feed(engine, dir, {{"st1", 1000}, {"st2", 2000}});
  EXPECT_TRUE(WaitFor([&] { return Api(engine, "GET", "/api/alarms", 200)["alarms"].size() == 2; }));
  engine.Stop();

  json alarms = Api(engine, "GET", "/api/alarms", 200)["alarms"];
  ASSERT_EQ(alarms.size(), 2u);
  EXPECT_EQ(alarms[0]["scope"]["station"], "st2");
  EXPECT_EQ(alarms[0]["tier"], 1) << "the silenced alarm entered its tier as without the silence";
  EXPECT_EQ(alarms[0]["hold"], 2);
  EXPECT_EQ(Api(engine, "GET", "/api/holds", 200)["holds"].size(), 2u);
  EXPECT_EQ(DeliveryKeys(engine), (std::vector<std::string>{"1-1-am", "1-1-lock", "1-1-notify", "2-1-lock"}))
      << "alarm 2's notify and am are silenced; its lock hook is not silenceable";

  auto silenced = AuditOf(engine, "alarm.silenced");
  ASSERT_EQ(silenced.size(), 1u);
  EXPECT_EQ(silenced[0].subject, "alarm/2");
  EXPECT_EQ(silenced[0].actor, "engine");
  json body = json::parse(silenced[0].body);
  EXPECT_EQ(body["silence"], 1);
  EXPECT_EQ(body["tier"], 1);
  EXPECT_EQ(body["actions"], (json{"notify", "am"}));
  auto cases = AuditOf(engine, "quality_case.opened");
  ASSERT_EQ(cases.size(), 2u) << "quality_case keeps records: never silenced";
  EXPECT_EQ(cases[1].subject, "alarm/2");
  auto made = AuditOf(engine, "silence.created");
  ASSERT_EQ(made.size(), 1u);
  EXPECT_EQ(made[0].subject, "silence/1");
  EXPECT_EQ(made[0].actor, "anna");
  EXPECT_TRUE(Has(made[0].body, "\"comment\":\"tool change\"")) << made[0].body;
  EXPECT_EQ(Metric(engine, "shewhart_alarms_silenced_total"), "1");
}

// A silence made while an alarm is open takes nothing back, but a later tier of that alarm is
// silenced when it is entered. The resolution of a silenced Alertmanager alert is not sent (it
// never fired); that of an alert that fired is.
TEST(EngineSilenceTest, LaterTierOfAnOpenAlarmIsCheckedWhenEntered) {
  testing::TempDir dir;
  Config config = LoadOrDie(EngineConfig(dir));
  EngineOptions opts;
  opts.store_path = dir.File("s.db");
  Engine engine(config, opts);
  ASSERT_TRUE(engine.Start().ok());
  Feed(engine, dir, {{"st2", 1000}}, "first.jsonl");
  EXPECT_TRUE(WaitFor([&] { return DeliveryKeys(engine).size() == 3; }));
  Api(engine, "POST", "/api/silences", 201, R"({"matchers":{"station":"st2"},"duration":"1h","comment":"on it"})",
      kAnna);
  Feed(engine, dir, {{"st2", 2000}}, "second.jsonl");
  EXPECT_TRUE(WaitFor([&] { return !AuditOf(engine, "alarm.silenced").empty(); }));
  Api(engine, "POST", "/api/alarms/1/resolve", 200, "{}", kBob);
  engine.Stop();
  json alarm = Api(engine, "GET", "/api/alarms/1", 200);
  EXPECT_EQ(alarm["tier"], 2);
  EXPECT_EQ(DeliveryKeys(engine), (std::vector<std::string>{"1-1-am", "1-1-lock", "1-1-notify", "1-resolved-1-am"}))
      << "tier 1 was notified before the silence; tier 2's notify is silenced";
  auto silenced = AuditOf(engine, "alarm.silenced");
  ASSERT_EQ(silenced.size(), 1u);
  EXPECT_EQ(json::parse(silenced[0].body)["tier"], 2);
  EXPECT_EQ(json::parse(silenced[0].body)["actions"], json::array({"notify"}));
}

TEST(EngineSilenceTest, ResolutionOfASilencedAlertIsNotSent) {
  testing::TempDir dir;
  Config config = LoadOrDie(EngineConfig(dir));
  EngineOptions opts;
  opts.store_path = dir.File("s.db");
  Engine engine(config, opts);
  ASSERT_TRUE(engine.Start().ok());
  Api(engine, "POST", "/api/silences", 201, R"({"matchers":{"station":"st2"},"duration":"1h","comment":"on it"})",
      kAnna);
  Feed(engine, dir, {{"st2", 1000}});
  EXPECT_TRUE(WaitFor([&] { return !AuditOf(engine, "alarm.silenced").empty(); }));
  Api(engine, "POST", "/api/alarms/1/resolve", 200, "{}", kBob);
  engine.Stop();
  EXPECT_EQ(DeliveryKeys(engine), std::vector<std::string>{"1-1-lock"});
}

// zmq_pub is a notification too: a silenced alarm is not published.
struct RecordingSink : AlarmSink {
  std::mutex mu;
  std::vector<std::string> published;
  Status Publish(std::string_view topic, std::string_view doc) override {
    std::lock_guard lock(mu);
    published.push_back(std::string(topic) + " " + json::parse(doc)["scope"]["station"].get<std::string>());
    return Status::Ok();
  }
};

TEST(EngineSilenceTest, SilencedAlarmIsNotPublished) {
  testing::TempDir dir;
  std::string text = EngineConfig(dir);
  const std::string actions = "do: [log, quarantine, notify, lock, am, quality_case]";
  text.replace(text.find(actions), actions.size(), "do: [pub]");
  text += "  pub: { zmq_pub: { bind: \"tcp://127.0.0.1:1\" } }\n";
  Config config = LoadOrDie(text);
  RecordingSink sink;
  EngineOptions opts;
  opts.store_path = dir.File("s.db");
  opts.sinks["pub"] = &sink;
  Engine engine(config, opts);
  ASSERT_TRUE(engine.Start().ok());
  Api(engine, "POST", "/api/silences", 201, R"({"matchers":{"station":"st2"},"duration":"1h","comment":"c"})", kAnna);
  Feed(engine, dir, {{"st1", 1000}, {"st2", 2000}, {"st3", 3000}});
  engine.Stop();
  std::lock_guard lock(sink.mu);
  // `signal` messages are the detection stream: tiers and silences do not apply to them.
  std::vector<std::string> alarms, signals;
  for (const auto& p : sink.published) (p.rfind("alarm ", 0) == 0 ? alarms : signals).push_back(p);
  EXPECT_EQ(alarms, (std::vector<std::string>{"alarm st1", "alarm st3"}));
  EXPECT_EQ(signals, (std::vector<std::string>{"signal st1", "signal st2", "signal st3"}));
  auto silenced = AuditOf(engine, "alarm.silenced");
  ASSERT_EQ(silenced.size(), 1u);
  EXPECT_EQ(json::parse(silenced[0].body)["actions"], json::array({"pub"}));
}

TEST(EngineSilenceTest, ExpiredSilenceNoLongerSuppresses) {
  testing::TempDir dir;
  Config config = LoadOrDie(EngineConfig(dir));
  EngineOptions opts;
  opts.store_path = dir.File("s.db");
  Engine engine(config, opts);
  ASSERT_TRUE(engine.Start().ok());
  Api(engine, "POST", "/api/silences", 201, R"({"matchers":{"station":"st2"},"duration":"1h","comment":"a"})", kAnna);
  Api(engine, "POST", "/api/silences", 201, R"({"matchers":{"station":"st2"},"duration":"2h","comment":"b"})", kAnna);
  json gone = Api(engine, "DELETE", "/api/silences/1", 200, "", kBob);
  EXPECT_EQ(gone["state"], "expired");
  EXPECT_EQ(gone["expired_by"], "bob");
  gone = Api(engine, "POST", "/api/silences/2/expire", 200, "{}", kBob);
  EXPECT_EQ(gone["state"], "expired");
  json again = Api(engine, "DELETE", "/api/silences/1", 409, "", kAnna);
  EXPECT_TRUE(Has(again["error"], "silence 1 has expired already")) << again;
  Api(engine, "POST", "/api/silences/2/expire", 409, "{}", kAnna);
  json missing = Api(engine, "DELETE", "/api/silences/3", 404, "", kAnna);
  EXPECT_EQ(missing["error"], "no silence 3");
  Api(engine, "GET", "/api/silences/x", 404);
  Api(engine, "PUT", "/api/silences/1", 405, "", kAnna);
  Api(engine, "GET", "/api/silences/1/mute", 404);
  EXPECT_EQ(Api(engine, "GET", "/api/silences/1", 200)["comment"], "a");
  Feed(engine, dir, {{"st2", 1000}});
  EXPECT_TRUE(WaitFor([&] { return DeliveryKeys(engine).size() == 3; }));
  engine.Stop();
  EXPECT_EQ(DeliveryKeys(engine), (std::vector<std::string>{"1-1-am", "1-1-lock", "1-1-notify"}));
  EXPECT_TRUE(AuditOf(engine, "alarm.silenced").empty());
  auto expired = AuditOf(engine, "silence.expired");
  ASSERT_EQ(expired.size(), 2u);
  EXPECT_EQ(expired[0].subject, "silence/1");
  EXPECT_EQ(expired[0].actor, "bob");
  json listed = Api(engine, "GET", "/api/silences", 200)["silences"];
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0]["id"], 2);
  EXPECT_EQ(listed[1]["state"], "expired");
  EXPECT_EQ(Metric(engine, "shewhart_alarms_silenced_total"), "0");
}

TEST(EngineSilenceTest, ChangesNeedAKnownTokenAndARefusalChangesNothing) {
  testing::TempDir dir;
  Config config = LoadOrDie(EngineConfig(dir));
  EngineOptions opts;
  opts.store_path = dir.File("s.db");
  Engine engine(config, opts);
  ASSERT_TRUE(engine.Start().ok());
  const std::string body = R"({"matchers":{"station":"st2"},"duration":"1h","comment":"c"})";
  json r = Api(engine, "POST", "/api/silences", 401, body);
  EXPECT_TRUE(Has(r["error"], "missing 'Authorization: Bearer <token>'")) << r;
  r = Api(engine, "POST", "/api/silences", 401, body, "Bearer not-a-token-of-anyone");
  EXPECT_EQ(r["error"], "unknown token");
  Api(engine, "POST", "/api/silences", 401, body, "Basic YW5uYTp4");
  EXPECT_TRUE(Api(engine, "GET", "/api/silences", 200)["silences"].empty());
  Api(engine, "POST", "/api/silences", 201, body, kAnna);
  Api(engine, "DELETE", "/api/silences/1", 401);
  Api(engine, "POST", "/api/silences/1/expire", 401, "{}", "Bearer wrong-0123456789abcdef");
  EXPECT_EQ(Api(engine, "GET", "/api/silences", 200)["silences"][0]["state"], "active");
  // A bad request: 400 with the reason, nothing stored.
  r = Api(engine, "POST", "/api/silences", 400, R"({"matchers":{"shift":"n"},"duration":"1h","comment":"c"})", kAnna);
  EXPECT_TRUE(Has(r["error"], "unknown label 'shift'")) << r;
  r = Api(engine, "POST", "/api/silences", 400,
          R"({"matchers":{"station":"st2"},"ends":"2020-01-01T00:00:00Z","comment":"c"})", kAnna);
  EXPECT_TRUE(Has(r["error"], "is in the past")) << r;
  EXPECT_EQ(Api(engine, "GET", "/api/silences", 200)["silences"].size(), 1u);
  EXPECT_EQ(AuditOf(engine, "silence.created").size(), 1u);
  EXPECT_TRUE(AuditOf(engine, "silence.expired").empty());
  engine.Stop();
}

// On an event clock (replay, engine.clock: event) a silence is timed by the event time of the
// signal that makes the alarm enter its tier, and "now" for the API is the newest event time.
TEST(EngineSilenceTest, OnAnEventClockTheSignalsEventTimeDecides) {
  testing::TempDir dir;
  Config config = LoadOrDie(EngineConfig(dir));
  EngineOptions opts;
  opts.threaded = false;
  opts.store_path = dir.File("s.db");
  Engine engine(config, opts);
  ASSERT_TRUE(engine.Start().ok());
  Api(engine, "POST", "/api/silences", 201,
      R"({"matchers":{"characteristic":"bore"},"starts":"1970-01-01T00:00:02Z",)"
      R"("ends":"1970-01-01T00:00:04Z","comment":"c"})",
      kAnna);
  Feed(engine, dir, {{"st1", 1000}, {"st2", 2000}, {"st3", 3999}, {"st4", 4000}});
  json r = Api(engine, "POST", "/api/silences", 400,
               R"({"matchers":{"station":"st1"},"ends":"1970-01-01T00:00:03Z","comment":"c"})", kAnna);
  EXPECT_TRUE(Has(r["error"], "(now is 1970-01-01T00:00:04.000Z)")) << r;
  engine.Stop();
  std::vector<std::string> subjects;
  for (const auto& a : AuditOf(engine, "alarm.silenced")) subjects.push_back(a.subject);
  EXPECT_EQ(subjects, (std::vector<std::string>{"alarm/2", "alarm/3"}));
  EXPECT_EQ(AuditOf(engine, "quality_case.opened").size(), 4u);
}

}  // namespace
}  // namespace shewhart::engine
