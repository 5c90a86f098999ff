// Signals published at detection (issue 17): each rule signal leaves on its policy's zmq_pub
// hooks as `signal` before anything of it is stored, naming the alarm that is then stored under
// that id; ids are reserved in the store, so that a restart never gives a published id to
// another alarm.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <pthread.h>

#include <chrono>
#include <mutex>
#include <set>
#include <thread>
#include <string>
#include <vector>

#include "../test_util.h"
#include "engine_fixture.h"
#include "shewhart/connectors/file/file_source.h"
#include "shewhart/engine/engine.h"
#include "shewhart/engine/hooks/alarm_sink.h"
#include "shewhart/engine/respond/alarm_directory.h"
#include "shewhart/engine/store/store.h"

namespace shewhart::engine {
namespace {

using fixture::LoadOrDie;
using json = nlohmann::json;

constexpr const char* kPublishConfig = R"(
engine: { past_tolerance: 36500d, shards: 1 }
characteristics:
  - id: bore
    chart: { type: individuals, mr_rules: false }
    limits: { mean: 10, sigma: 0.1 }
    rules: [nelson.1]
    scope: [station]
    response: line
  - id: quiet
    chart: { type: individuals, mr_rules: false }
    limits: { mean: 10, sigma: 0.1 }
    rules: [nelson.1]
    scope: [station]
responses:
  line: { tiers: [ { tier: 1, do: [log] }, { tier: 2, when: { signals: 3, within: 1h }, do: [pub] } ] }
hooks:
  pub: { zmq_pub: { bind: "tcp://127.0.0.1:1" } }
)";

// Records each `signal` message and, at that moment, whether the store (read through a
// connection of its own) already has the alarm it names.
struct CheckingSink : AlarmSink {
  explicit CheckingSink(std::string path) : store_path(std::move(path)) {}
  Status Publish(std::string_view topic, std::string_view doc) override {
    std::lock_guard lock(mu);
    json j = json::parse(doc);
    char thread[32] = {};
    pthread_getname_np(pthread_self(), thread, sizeof thread);
    threads.insert(std::string(topic) + " " + thread);
    if (topic == "signal") {
      auto store = Store::Open(store_path);
      if (!store.ok()) return store.status();
      stored_already.push_back((*store)->GetAlarm(j["alarm"].get<std::int64_t>()).ok());
      signals.push_back(j);
    } else {
      alarms.push_back(j);
    }
    return Status::Ok();
  }
  std::string store_path;
  std::mutex mu;
  std::vector<json> signals, alarms;
  std::vector<bool> stored_already;
  std::set<std::string> threads;  // "topic thread-name" of each publication
};

void Feed(Engine& engine, const testing::TempDir& dir, const std::string& name, const std::string& text) {
  FileSourceSpec spec;
  spec.path = dir.Write(name, text);
  auto read = connectors::file::ReadFile(spec, name, engine.index(), 65536, engine.RegisterSource(name));
  ASSERT_TRUE(read.ok()) << read.status().message();
}

std::string Line(const char* characteristic, double v, int ms, const char* station) {
  return std::string("{\"characteristic\":\"") + characteristic + "\",\"value\":" + std::to_string(v) +
         ",\"ts\":" + std::to_string(ms) + ",\"station\":\"" + station + "\"}\n";
}

// Runs an engine on `store` with `sink` as the hook `pub` over `text`; with `reserved_while_running`,
// reads the reservation of alarm ids before it stops.
void RunOnce(const Config& config, const testing::TempDir& dir, const std::string& store, const std::string& name,
             const std::string& text, CheckingSink& sink, std::int64_t* reserved_while_running = nullptr) {
  EngineOptions opts;
  opts.store_path = store;
  opts.sinks["pub"] = &sink;
  Engine engine(config, opts);
  ASSERT_TRUE(engine.Start().ok());
  Feed(engine, dir, name, text);
  if (reserved_while_running) {
    auto s = Store::Open(store);
    ASSERT_TRUE(s.ok());
    auto r = (*s)->ReservedAlarmIds();
    ASSERT_TRUE(r.ok());
    *reserved_while_running = *r;
  }
  engine.Stop();
}

// The `signal` messages of a run.
std::vector<json> SignalsOf(const Config& config, const testing::TempDir& dir, const std::string& store,
                            const std::string& name, const std::string& text, std::int64_t* reserved = nullptr) {
  CheckingSink sink(store);
  RunOnce(config, dir, store, name, text, sink, reserved);
  std::lock_guard lock(sink.mu);
  return sink.signals;
}

TEST(SignalPublishTest, EachSignalNamesItsAlarmBeforeTheAlarmIsStored) {
  testing::TempDir dir;
  Config config = LoadOrDie(kPublishConfig);
  const std::string store = dir.File("s.db");
  CheckingSink sink(store);
  RunOnce(config, dir, store, "a.jsonl",
          Line("bore", 12, 1000, "st1") + Line("bore", 12, 2000, "st2") + Line("bore", 12, 3000, "st1") +
              Line("quiet", 12, 3500, "st1") + Line("bore", 10, 4000, "st1") + Line("bore", 12, 5000, "st1"),
          sink);
  std::lock_guard lock(sink.mu);
  // `quiet`'s policy (the default) does not run the hook: its signal is not published.
  ASSERT_EQ(sink.signals.size(), 4u);
  for (std::size_t i = 0; i < sink.signals.size(); ++i) {
    if (sink.signals[i]["claim"] == "opens") {
      EXPECT_FALSE(sink.stored_already[i]) << "a new alarm was stored before its signal was published";
    }
  }
  std::vector<std::string> claims;
  for (const json& s : sink.signals)
    claims.push_back(s["claim"].get<std::string>() + " " + s["scope"]["station"].get<std::string>());
  EXPECT_EQ(claims, (std::vector<std::string>{"opens st1", "opens st2", "joins st1", "joins st1"}));
  // The ids published are the ids stored, alarm by alarm.
  auto s = Store::Open(store);
  ASSERT_TRUE(s.ok());
  for (const json& sig : sink.signals) {
    auto a = (*s)->GetAlarm(sig["alarm"].get<std::int64_t>());
    ASSERT_TRUE(a.ok()) << sig.dump();
    EXPECT_EQ(a->characteristic, "bore");
    EXPECT_EQ(FormatScope(a->scope), "station=" + sig["scope"]["station"].get<std::string>());
  }
  EXPECT_EQ(sink.signals[0]["alarm"], sink.signals[2]["alarm"]);
  EXPECT_NE(sink.signals[0]["alarm"], sink.signals[1]["alarm"]);
  EXPECT_EQ(sink.signals[0]["rule"], "nelson.1");
  EXPECT_EQ(sink.signals[0]["index"], 1);
  // The third signal of the policy within the hour entered tier 2: its `alarm` message.
  ASSERT_EQ(sink.alarms.size(), 1u);
  EXPECT_EQ(sink.alarms[0]["id"], sink.signals[2]["alarm"]);
  // `signal` leaves from the thread that judged the measurement (the shard's, for a file
  // source), `alarm` from the responder's.
  EXPECT_EQ(sink.threads, (std::set<std::string>{"alarm shw-responder", "signal shw-shard0"}));
}

// A sink that, while the judging thread publishes the second `signal`, has a person resolve
// the alarm that signal joins: the resolution commits before the signal is stored.
struct ResolvingSink : AlarmSink {
  Engine* engine = nullptr;
  std::mutex mu;
  std::vector<json> signals;
  int resolve_status = 0;
  Status Publish(std::string_view topic, std::string_view doc) override {
    if (topic != "signal") return Status::Ok();
    std::lock_guard lock(mu);
    signals.push_back(json::parse(doc));
    if (signals.size() == 2) {
      const std::string alarm = "/api/alarms/" + std::to_string(signals[1]["alarm"].get<std::int64_t>());
      // The first signal's unit commits on the responder's thread meanwhile.
      for (int i = 0; i < 500 && engine->HandleApi("GET", alarm, "").status != 200; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      const std::string target = alarm + "/resolve";
      resolve_status = engine->HandleApi("POST", target, "", "{}", "Bearer anna-0123456789abcdef").status;
    }
    return Status::Ok();
  }
};

// A signal claimed as joining an open alarm that a person resolves before the signal is
// stored is counted on that alarm, which stays resolved (as the judging threads' directory has
// it): the id it was published with stays its alarm's, and the next signal opens a new one.
TEST(SignalPublishTest, ASignalClaimedBeforeAResolutionCountsOnTheResolvedAlarm) {
  testing::TempDir dir;
  const std::string tokens = dir.Write("tokens.yaml", "anna: \"anna-0123456789abcdef\"\n");
  Config config = LoadOrDie("http: { tokens: \"" + tokens + "\" }\n" + std::string(kPublishConfig));
  const std::string store = dir.File("s.db");
  ResolvingSink sink;
  EngineOptions opts;
  opts.store_path = store;
  opts.sinks["pub"] = &sink;
  Engine engine(config, opts);
  sink.engine = &engine;
  ASSERT_TRUE(engine.Start().ok());
  Feed(engine, dir, "a.jsonl",
       Line("bore", 12, 1000, "st1") + Line("bore", 12, 2000, "st1") + Line("bore", 12, 3000, "st1"));
  engine.Stop();
  std::lock_guard lock(sink.mu);
  ASSERT_EQ(sink.signals.size(), 3u);
  EXPECT_EQ(sink.signals[1]["claim"], "joins");
  EXPECT_EQ(sink.signals[1]["alarm"], sink.signals[0]["alarm"]);
  EXPECT_EQ(sink.resolve_status, 200);
  auto s = Store::Open(store);
  ASSERT_TRUE(s.ok());
  auto a = (*s)->GetAlarm(sink.signals[0]["alarm"].get<std::int64_t>());
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->state, "resolved") << "the signal raised while it was open does not reopen it";
  EXPECT_EQ(a->signals, 2);
  EXPECT_EQ(sink.signals[2]["claim"], "opens");
  const std::int64_t next = sink.signals[2]["alarm"].get<std::int64_t>();
  EXPECT_NE(next, sink.signals[0]["alarm"].get<std::int64_t>());
  auto b = (*s)->GetAlarm(next);
  ASSERT_TRUE(b.ok()) << "the third signal is stored under the id it was published with";
  EXPECT_EQ(b->state, "open");
  EXPECT_EQ(b->signals, 1);
  auto audit = (*s)->ReadAudit(0, 1000);
  ASSERT_TRUE(audit.ok());
  std::vector<std::string> kinds;
  for (const auto& r : *audit) {
    if (r.kind.rfind("alarm.", 0) == 0) kinds.push_back(r.kind);
  }
  EXPECT_EQ(kinds, (std::vector<std::string>{"alarm.opened", "alarm.resolved", "alarm.opened"}));
}

// The directory decides what a signal does to its alarm where it is raised: joins the open
// alarm, opens a new one, reopens the last resolved one within min_interval; a recovery closes;
// a resolution the responder commits closes only the alarm it names.
TEST(AlarmDirectoryTest, ClaimsJoinOpenReopenAndClose) {
  std::string text = kPublishConfig;
  const std::string tiers = "line: { tiers:";
  text.replace(text.find(tiers), tiers.size(), "line: { min_interval: 10m, tiers:");
  Config config = LoadOrDie(text);
  ASSERT_EQ(config.ResponseFor(0).min_interval, std::chrono::minutes(10));
  AlarmDirectory directory(config);
  directory.Reset({{{0, "station=st9"}, 7}}, 40);
  auto signal = [](const char* station, std::int64_t minutes, Signal::Kind kind = Signal::Kind::kRule) {
    Signal s;
    s.kind = kind;
    s.characteristic = 0;
    s.scope_count = 1;
    s.scope_values[0].Assign(station);
    s.hit.ts = EventTime(std::chrono::minutes(minutes));
    return s;
  };
  auto claim = [&](Signal s) {
    directory.Claim(s);
    return std::make_pair(s.claim, s.alarm);
  };
  using C = Signal::Claim;
  EXPECT_EQ(claim(signal("st9", 1)), std::make_pair(C::kJoins, std::int64_t{7})) << "open at the reset";
  EXPECT_EQ(claim(signal("st1", 1)), std::make_pair(C::kOpens, std::int64_t{40}));
  EXPECT_EQ(claim(signal("st1", 2)), std::make_pair(C::kJoins, std::int64_t{40}));
  EXPECT_EQ(claim(signal("st1", 3, Signal::Kind::kRecovered)), std::make_pair(C::kCloses, std::int64_t{0}));
  EXPECT_EQ(claim(signal("st1", 12)), std::make_pair(C::kReopens, std::int64_t{40})) << "9 min after: within 10m";
  EXPECT_EQ(claim(signal("st1", 13, Signal::Kind::kRecovered)).first, C::kCloses);
  EXPECT_EQ(claim(signal("st1", 30)), std::make_pair(C::kOpens, std::int64_t{41})) << "17 min after: a new alarm";
  directory.Resolved({0, "station=st1"}, 40, EventTime(std::chrono::minutes(31)));
  EXPECT_EQ(claim(signal("st1", 32)), std::make_pair(C::kJoins, std::int64_t{41})) << "40 was not open any more";
  directory.Resolved({0, "station=st1"}, 41, EventTime(std::chrono::minutes(33)));
  EXPECT_EQ(claim(signal("st1", 34)), std::make_pair(C::kReopens, std::int64_t{41}));
  Signal claimed = signal("st2", 40);
  claimed.claim = C::kJoins;
  claimed.alarm = 99;
  EXPECT_EQ(claim(claimed), std::make_pair(C::kJoins, std::int64_t{99})) << "a claimed signal is left as it is";
  EXPECT_EQ(directory.next_id(), 42);
  directory.RaiseNextId(30);
  EXPECT_EQ(directory.next_id(), 42) << "never lowered";
}

std::int64_t Reserved(const std::string& store) {
  auto s = Store::Open(store);
  EXPECT_TRUE(s.ok());
  auto r = (*s)->ReservedAlarmIds();
  EXPECT_TRUE(r.ok());
  return r.ok() ? *r : -1;
}

TEST(SignalPublishTest, IdsAreReservedWhileRunningGivenBackAtAStopAndSkippedAfterACrash) {
  testing::TempDir dir;
  Config config = LoadOrDie(kPublishConfig);
  const std::string store = dir.File("s.db");
  std::int64_t reserved = 0;
  std::vector<json> first = SignalsOf(config, dir, store, "a.jsonl", Line("bore", 12, 1000, "st1"), &reserved);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0]["alarm"], 1);
  EXPECT_GE(reserved, 1001) << "a block of ids is reserved before the first is published";
  EXPECT_EQ(Reserved(store), 1) << "a clean stop gives back what it did not use";
  // A clean restart goes on without a gap.
  std::vector<json> second = SignalsOf(config, dir, store, "b.jsonl", Line("bore", 12, 2000, "st2"));
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0]["alarm"], 2);
  // A run killed while it held a reservation leaves it in the store: the next starts above it,
  // so an id it may have published is never given to another alarm.
  {
    auto s = Store::Open(store);
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE((*s)->ReserveAlarmIds(1002).ok());
  }
  std::vector<json> third = SignalsOf(config, dir, store, "c.jsonl", Line("bore", 12, 3000, "st3"));
  ASSERT_EQ(third.size(), 1u);
  EXPECT_EQ(third[0]["alarm"], 1003);
  auto s = Store::Open(store);
  ASSERT_TRUE(s.ok());
  auto a = (*s)->GetAlarm(1003);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(FormatScope(a->scope), "station=st3");
  // A replay on the store of a run that was killed holding a reservation starts above it too.
  ASSERT_TRUE((*s)->ReserveAlarmIds(2000).ok());
  s->reset();
  fixture::Collector collector;
  ASSERT_TRUE(fixture::RunInline(config, store, dir.Write("d.jsonl", Line("bore", 12, 4000, "st4")), &collector));
  ASSERT_EQ(collector.alarms.size(), 1u);
  EXPECT_EQ(collector.alarms[0].id, 2001);
}

}  // namespace
}  // namespace shewhart::engine
