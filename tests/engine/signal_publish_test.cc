// Signals published at detection (issue 17): each rule signal leaves on its policy's zmq_pub
// hooks as `signal` before anything of it is stored, naming the alarm that is then stored under
// that id; ids are reserved in the store, so that a restart never gives a published id to
// another alarm.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <mutex>
#include <string>
#include <vector>

#include "../test_util.h"
#include "engine_fixture.h"
#include "shewhart/connectors/file/file_source.h"
#include "shewhart/engine/engine.h"
#include "shewhart/engine/hooks/alarm_sink.h"
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
