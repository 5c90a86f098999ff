#include "shewhart/engine/store.h"

#include <gtest/gtest.h>

#include "../test_util.h"
#include "shewhart/engine/time_format.h"

namespace shewhart::engine {
namespace {

UnitEvent Event(const char* unit, const char* station, std::int64_t ms) {
  UnitEvent e;
  e.unit.Assign(unit);
  e.station.Assign(station);
  e.ts = FromUnixMillis(ms);
  return e;
}

TEST(StoreTest, UnitsInScopeAreThoseOfTheStationSinceTheWindowStart) {
  auto store = Store::Open(":memory:");
  ASSERT_TRUE(store.ok()) << store.status().message();
  std::vector<UnitEvent> events = {Event("A", "st1", 100), Event("B", "st2", 200), Event("C", "st2", 300),
                                   Event("D", "st1", 400), Event("E", "st2", 500), Event("C", "st2", 600)};
  ASSERT_TRUE((*store)->AppendTrace(events).ok());
  auto units = (*store)->UnitsInScope({{ScopeKey::kStation, "st2"}}, FromUnixMillis(300));
  ASSERT_TRUE(units.ok());
  ASSERT_EQ(units->size(), 2u);
  EXPECT_EQ((*units)[0].serial, "C");
  EXPECT_EQ((*units)[0].since, FromUnixMillis(300)) << "a unit is held since its first event in scope";
  EXPECT_EQ((*units)[1].serial, "E");
}

TEST(StoreTest, HeldUnitsAreAddedOnce) {
  auto store = Store::Open(":memory:");
  ASSERT_TRUE(store.ok());
  HoldRecord h;
  h.alarm_id = 1;
  h.characteristic = "bore";
  h.scope = {{ScopeKey::kStation, "st2"}};
  auto id = (*store)->CreateHold(h);
  ASSERT_TRUE(id.ok());
  std::vector<HeldUnit> first = {{0, "A", "held", FromUnixMillis(1)}, {0, "B", "held", FromUnixMillis(2)}};
  auto added = (*store)->AddHeldUnits(*id, first);
  ASSERT_TRUE(added.ok());
  EXPECT_EQ(added->size(), 2u);
  std::vector<HeldUnit> second = {{0, "B", "held", FromUnixMillis(2)}, {0, "C", "held", FromUnixMillis(3)}};
  added = (*store)->AddHeldUnits(*id, second);
  ASSERT_TRUE(added.ok());
  ASSERT_EQ(added->size(), 1u);
  EXPECT_EQ((*added)[0].serial, "C");
  auto holds = (*store)->ListHolds();
  ASSERT_TRUE(holds.ok());
  ASSERT_EQ(holds->size(), 1u);
  EXPECT_EQ((*holds)[0].units, 3);
  EXPECT_EQ(FormatScope((*holds)[0].scope), "station=st2");
}

TEST(StoreTest, AlarmsSurviveReopening) {
  testing::TempDir dir;
  const std::string path = dir.File("s.db");
  {
    auto store = Store::Open(path);
    ASSERT_TRUE(store.ok());
    AlarmRecord a;
    a.characteristic = "bore";
    a.policy = "default";
    a.rule = "nelson.1";
    a.chart = "individuals";
    a.opened_ts = FromUnixMillis(1000);
    a.scope = {{ScopeKey::kStation, "st2"}, {ScopeKey::kMachine, "M2"}};
    auto id = (*store)->InsertAlarm(a);
    ASSERT_TRUE(id.ok());
    EXPECT_EQ(*id, 1);
  }
  auto store = Store::Open(path);
  ASSERT_TRUE(store.ok());
  auto alarms = (*store)->ListAlarms(true, 10);
  ASSERT_TRUE(alarms.ok());
  ASSERT_EQ(alarms->size(), 1u);
  EXPECT_EQ((*alarms)[0].characteristic, "bore");
  EXPECT_EQ((*alarms)[0].opened_ts, FromUnixMillis(1000));
  EXPECT_EQ(FormatScope((*alarms)[0].scope), "station=st2,machine=M2");
}

TEST(StoreTest, UpdatingAMissingAlarmIsNotFound) {
  auto store = Store::Open(":memory:");
  ASSERT_TRUE(store.ok());
  AlarmRecord a;
  a.id = 77;
  Status st = (*store)->UpdateAlarm(a);
  EXPECT_EQ(st.code(), StatusCode::kNotFound);
  EXPECT_NE(st.message().find("alarm 77"), std::string::npos);
}

TEST(StoreTest, UnopenablePathIsUnavailable) {
  auto store = Store::Open("/nonexistent-dir/x/y.db");
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(store.status().message().find("/nonexistent-dir/x/y.db"), std::string::npos);
}

}  // namespace
}  // namespace shewhart::engine
