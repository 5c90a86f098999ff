// Units of work of the store (Store::Begin/Commit/Rollback/AfterCommit) and its exclusive lock:
// the mechanisms the responder's fail-closed guarantees rest on (docs/ARCHITECTURE.md "Fail
// closed").
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "../test_util.h"
#include "shewhart/engine/store/audit.h"
#include "shewhart/engine/config/config.h"
#include "shewhart/engine/engine.h"
#include "shewhart/engine/model/json.h"
#include "shewhart/engine/store/store.h"
#include "shewhart/engine/model/time_format.h"

namespace shewhart::engine {
namespace {

AlarmRecord Alarm() {
  AlarmRecord a;
  a.characteristic = "bore";
  a.policy = "line";
  a.rule = "nelson.1";
  a.chart = "individuals";
  a.scope = {{ScopeKey::kStation, "st1"}};
  return a;
}

// An alarm, its hold, an outbox row and an audit record, as the responder writes them.
void WriteTierEntry(Store& store) {
  auto id = store.InsertAlarm(Alarm());
  ASSERT_TRUE(id.ok()) << id.status().message();
  HoldRecord h;
  h.alarm_id = *id;
  h.characteristic = "bore";
  auto hold = store.CreateHold(h);
  ASSERT_TRUE(hold.ok()) << hold.status().message();
  DeliveryRecord d;
  d.alarm_id = *id;
  d.action = "notify";
  d.idempotency_key = std::to_string(*id) + "-1-notify";
  d.payload = "{}";
  ASSERT_TRUE(store.InsertDelivery(d).ok());
  ASSERT_TRUE(AppendAudit(store, "alarm.opened", "alarm/" + std::to_string(*id), "engine", Json{{"alarm", *id}}).ok());
}

// "alarms holds deliveries audit-records" in the store.
std::string Count(Store& store) {
  return std::to_string(store.ListAlarms(false, 1000)->size()) + " " + std::to_string(store.ListHolds()->size()) + " " +
         std::to_string(store.ListDeliveries("", 1000, true)->size()) + " " +
         std::to_string(store.ReadAudit(0, 1000)->size());
}

TEST(UnitOfWorkTest, RolledBackUnitLeavesNothingAndRunsNoAfterCommit) {
  auto store = Store::Open(":memory:");
  ASSERT_TRUE(store.ok());
  Store& s = **store;
  int ran = 0;
  ASSERT_TRUE(s.Begin().ok());
  WriteTierEntry(s);
  s.AfterCommit([&] { ++ran; });
  EXPECT_EQ(Count(s), "1 1 1 1") << "the unit sees its own writes";
  s.Rollback();
  EXPECT_EQ(Count(s), "0 0 0 0");
  EXPECT_EQ(ran, 0) << "an effect announced by a rolled-back unit must not happen";
  EXPECT_FALSE(s.in_unit());
}

TEST(UnitOfWorkTest, CommittedUnitStoresEverythingThenRunsAfterCommitOnce) {
  auto store = Store::Open(":memory:");
  ASSERT_TRUE(store.ok());
  Store& s = **store;
  int ran = 0;
  ASSERT_TRUE(s.Begin().ok());
  WriteTierEntry(s);
  s.AfterCommit([&] { ++ran; });
  EXPECT_EQ(ran, 0) << "not before the commit";
  ASSERT_TRUE(s.Commit().ok());
  EXPECT_EQ(ran, 1);
  EXPECT_EQ(Count(s), "1 1 1 1");
  s.AfterCommit([&] { ++ran; });
  EXPECT_EQ(ran, 2) << "outside a unit it runs at once";
}

TEST(UnitOfWorkTest, MethodFailingInsideAUnitUndoesOnlyItsOwnPart) {
  auto store = Store::Open(":memory:");
  ASSERT_TRUE(store.ok());
  Store& s = **store;
  ASSERT_TRUE(s.Begin().ok());
  WriteTierEntry(s);
  Disposition d;
  d.hold_id = 1;
  d.state = "released";
  auto done = s.Dispose({"NOPE"}, d);
  ASSERT_FALSE(done.ok());
  EXPECT_EQ(done.status().code(), StatusCode::kNotFound) << done.status().message();
  ASSERT_TRUE(s.Commit().ok()) << "the unit decides: it commits what it wrote before";
  EXPECT_EQ(Count(s), "1 1 1 1") << "what was written before the failed disposition";
}

TEST(UnitOfWorkTest, NestedUnitsCommitWithTheOuterAndAnInnerRollbackFailsIt) {
  auto store = Store::Open(":memory:");
  ASSERT_TRUE(store.ok());
  Store& s = **store;
  ASSERT_TRUE(s.Begin().ok());
  ASSERT_TRUE(s.Begin().ok());
  WriteTierEntry(s);
  ASSERT_TRUE(s.Commit().ok());
  EXPECT_TRUE(s.in_unit()) << "the inner commit joins the outer unit";
  ASSERT_TRUE(s.Begin().ok());
  s.Rollback();
  Status st = s.Commit();
  EXPECT_EQ(st.code(), StatusCode::kUnavailable) << st.message();
  EXPECT_EQ(Count(s), "0 0 0 0") << "nothing of a unit whose part rolled back";
  EXPECT_EQ(s.write_failures().value(), 1u);
}

TEST(UnitOfWorkTest, OtherThreadsWaitForTheUnitAndSeeItWhole) {
  testing::TempDir dir;
  auto store = Store::Open(dir.File("s.db"));
  ASSERT_TRUE(store.ok());
  Store& s = **store;
  ASSERT_TRUE(s.Begin().ok());
  auto id = s.InsertAlarm(Alarm());
  ASSERT_TRUE(id.ok());
  std::size_t seen = 99;
  std::thread reader([&] { seen = s.ListAlarms(false, 10)->size(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  HoldRecord h;
  h.alarm_id = *id;
  ASSERT_TRUE(s.CreateHold(h).ok());
  ASSERT_TRUE(s.Commit().ok());
  reader.join();
  EXPECT_EQ(seen, 1u) << "the reader waited for the commit";
}

TEST(StoreLockTest, SecondHolderIsRefusedNamingTheFirst) {
  testing::TempDir dir;
  const std::string path = dir.File("s.db");
  auto first = Store::Open(path);
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE((*first)->LockExclusive().ok());
  {
    auto second = Store::Open(path);
    ASSERT_TRUE(second.ok()) << "tools may still open the store";
    Status st = (*second)->LockExclusive();
    EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition);
    EXPECT_NE(st.message().find("in use by another engine (pid " + std::to_string(::getpid()) + " on "),
              std::string::npos)
        << st.message();
  }
  first->reset();
  auto third = Store::Open(path);
  ASSERT_TRUE(third.ok());
  EXPECT_TRUE((*third)->LockExclusive().ok()) << "the lock goes with its holder";
}

TEST(StoreLockTest, SecondEngineOnOneStoreDoesNotStart) {
  testing::TempDir dir;
  ConfigLoad load = LoadConfigText(
      "characteristics:\n  - id: bore\n    chart: { type: individuals }\n    limits: { mean: 10, sigma: 0.1 }\n",
      "test.yaml");
  ASSERT_TRUE(load.config.has_value());
  EngineOptions opts;
  opts.store_path = dir.File("s.db");
  Engine a(*load.config, opts);
  ASSERT_TRUE(a.Start().ok());
  Engine b(*load.config, opts);
  Status st = b.Start();
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(st.message().find("one engine per store"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace shewhart::engine
