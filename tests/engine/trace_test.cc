// Genealogy queries of the store (TraceBackward, TraceForward, Ancestors, UnitsInWindow), the
// schema migrations to unit_postings, and the /api/trace endpoints. The generated plant compared with brute
// force is trace_plant_test.cc.

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <initializer_list>
#include <string>
#include <vector>

#include "../test_util.h"
#include "shewhart/engine/engine.h"
#include "shewhart/engine/store/store.h"
#include "shewhart/engine/model/time_format.h"
#include "shewhart/engine/api/trace_api.h"

namespace shewhart::engine {
namespace {

UnitEvent Ev(const char* unit, const char* station, std::int64_t ms, std::initializer_list<const char*> lots = {},
             const char* parent = "", const char* machine = "", const char* op = "") {
  UnitEvent e;
  e.unit.Assign(unit);
  e.station.Assign(station);
  e.ts = FromUnixMillis(ms);
  for (const char* l : lots) e.lots[e.lot_count++].Assign(l);
  e.parent.Assign(parent);
  e.machine.Assign(machine);
  e.op.Assign(op);
  return e;
}

std::unique_ptr<Store> OpenWith(const std::vector<UnitEvent>& events) {
  auto store = Store::Open(":memory:");
  SHEWHART_CHECK(store.ok());
  Status st = (*store)->AppendTrace(events);
  SHEWHART_CHECK(st.ok());
  return std::move(*store);
}

// "serial@depth<via" for each unit, in the order given.
std::vector<std::string> Describe(const std::vector<TracedUnit>& units) {
  std::vector<std::string> out;
  for (const auto& u : units) out.push_back(u.serial + "@" + std::to_string(u.depth) + "<" + u.via);
  return out;
}

std::vector<std::string> Serials(const std::vector<WindowUnit>& units) {
  std::vector<std::string> out;
  for (const auto& u : units) out.push_back(u.serial);
  return out;
}

using Strings = std::vector<std::string>;

// Runs `sql` on the database file at `path` with a raw connection.
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

// The first column of the first row of `sql` as text ("" when there is no row).
std::string RawQuery(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) return "open failed";
  sqlite3_stmt* q = nullptr;
  std::string out;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &q, nullptr) != SQLITE_OK) {
    out = std::string("prepare failed: ") + sqlite3_errmsg(db);
  } else if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_text(q, 0)) {
    out = reinterpret_cast<const char*>(sqlite3_column_text(q, 0));
  }
  sqlite3_finalize(q);
  sqlite3_close(db);
  return out;
}

TEST(TraceTest, BackwardGivesTheRouteInTimeOrderWithEveryLot) {
  // Arrival order is not time order.
  auto store = OpenWith({Ev("U1", "paint", 3000, {"P7"}, "", "M3", "op2"),
                         Ev("U1", "press", 1000, {"L1", "L2", "L3"}, "", "M1", "op1"),
                         Ev("U2", "press", 1500, {"L1"}),
                         Ev("U1", "weld", 2000, {}, "", "M2", "op1")});
  auto t = store->TraceBackward("U1");
  ASSERT_TRUE(t.ok()) << t.status().message();
  ASSERT_EQ(t->route.size(), 3u);
  EXPECT_EQ(t->route[0].station, "press");
  EXPECT_EQ(t->route[0].ts, FromUnixMillis(1000));
  EXPECT_EQ(t->route[0].machine, "M1");
  EXPECT_EQ(t->route[0].op, "op1");
  EXPECT_EQ(t->route[0].lots, (Strings{"L1", "L2", "L3"}));
  EXPECT_EQ(t->route[1].station, "weld");
  EXPECT_TRUE(t->route[1].lots.empty());
  EXPECT_EQ(t->route[2].station, "paint");
  EXPECT_EQ(t->route[2].lots, (Strings{"P7"}));
  EXPECT_TRUE(t->ancestors.empty());
  EXPECT_TRUE(t->descendants.empty());
  EXPECT_FALSE(t->truncated);
}

// Components C1..C4 in assembly A1 (C1 itself made of sub-components S1, S2), A1 in crate K1,
// which has no record of its own.
std::vector<UnitEvent> Assemblies() {
  return {Ev("S1", "mold", 100, {"R1"}, "C1"), Ev("S2", "mold", 110, {"R1", "R2"}, "C1"),
          Ev("C1", "press", 200, {"L1"}),      Ev("C1", "assembly", 400, {}, "A1"),
          Ev("C2", "press", 210, {"L1"}),      Ev("C2", "assembly", 400, {}, "A1"),
          Ev("C3", "press", 220, {"L2"}),      Ev("C3", "assembly", 400, {}, "A1"),
          Ev("C4", "press", 230, {"L2"}),      Ev("C4", "assembly", 400, {}, "A1"),
          Ev("A1", "assembly", 400, {"H1"}),   Ev("A1", "test", 500, {}, "K1"),
          Ev("C5", "press", 240, {"L1"})};  // scrapped: in no assembly
}

TEST(TraceTest, BackwardFollowsParentsAndChildrenRecursively) {
  auto store = OpenWith(Assemblies());
  auto c1 = store->TraceBackward("C1");
  ASSERT_TRUE(c1.ok()) << c1.status().message();
  EXPECT_EQ(Describe(c1->ancestors), (Strings{"A1@1<C1", "K1@2<A1"}));
  EXPECT_EQ(Describe(c1->descendants), (Strings{"S1@1<C1", "S2@1<C1"}));
  ASSERT_EQ(c1->ancestors[0].route.size(), 2u) << "each traced unit comes with its route";
  EXPECT_EQ(c1->ancestors[0].route[1].station, "test");
  EXPECT_EQ(c1->ancestors[0].route[1].parent, "K1");
  EXPECT_TRUE(c1->ancestors[1].route.empty());
  EXPECT_EQ(c1->descendants[1].route.at(0).lots, (Strings{"R1", "R2"}));

  auto k1 = store->TraceBackward("K1");
  ASSERT_TRUE(k1.ok()) << "a unit only named as a parent is found through its children: " << k1.status().message();
  EXPECT_TRUE(k1->route.empty());
  EXPECT_TRUE(k1->ancestors.empty());
  EXPECT_EQ(Describe(k1->descendants),
            (Strings{"A1@1<K1", "C1@2<A1", "C2@2<A1", "C3@2<A1", "C4@2<A1", "S1@3<C1", "S2@3<C1"}));
}

TEST(TraceTest, BackwardOfAnUnknownSerialIsNotFound) {
  auto store = OpenWith(Assemblies());
  auto t = store->TraceBackward("NOPE");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kNotFound);
  EXPECT_NE(t.status().message().find("'NOPE'"), std::string::npos) << t.status().message();
}

TEST(TraceTest, ForwardReachesEveryConsumerOfTheLotAndEveryAssemblyAboveThem) {
  auto store = OpenWith(Assemblies());
  auto l1 = store->TraceForward("L1");
  ASSERT_TRUE(l1.ok()) << l1.status().message();
  EXPECT_EQ(Describe(l1->reached.units), (Strings{"C1@0<", "C2@0<", "C5@0<", "A1@1<C1", "K1@2<A1"}));
  EXPECT_EQ(l1->reached.units[1].ts, FromUnixMillis(210));
  // R2 is the second lot of S2's record: it counts as much as the first.
  auto r2 = store->TraceForward("R2");
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(Describe(r2->reached.units), (Strings{"S2@0<", "C1@1<S2", "A1@2<C1", "K1@3<A1"}));
  auto none = store->TraceForward("L404");
  ASSERT_TRUE(none.ok()) << "an unknown lot reaches nothing, it is no error";
  EXPECT_TRUE(none->reached.units.empty());
}

TEST(TraceTest, ForwardTakesTheFirstConsumptionTimeOfAUnitThatUsedTheLotTwice) {
  auto store = OpenWith({Ev("U1", "b", 900, {"L1"}), Ev("U1", "a", 300, {"L1", "L1"}), Ev("U2", "a", 100, {"L9"})});
  auto t = store->TraceForward("L1");
  ASSERT_TRUE(t.ok());
  ASSERT_EQ(t->reached.units.size(), 1u);
  EXPECT_EQ(t->reached.units[0].ts, FromUnixMillis(300));
}

TEST(TraceTest, AncestorsAreEveryAssemblyContainingTheUnitsButNotTheUnits) {
  auto store = OpenWith(Assemblies());
  auto a = store->Ancestors({"S2", "C3", "A1"});
  ASSERT_TRUE(a.ok()) << a.status().message();
  // A1 is the parent of C3 and given itself: it is not reported.
  EXPECT_EQ(Describe(a->units), (Strings{"C1@1<S2", "K1@1<A1"}));
  auto none = store->Ancestors({"C5", "NOPE"});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->units.empty());
}

TEST(TraceTest, ACycleInBadDataEndsWhereAUnitIsMetAgain) {
  // A in B, B in C, C in A.
  auto store = OpenWith({Ev("A", "s", 1, {"L1"}, "B"), Ev("B", "s", 2, {}, "C"), Ev("C", "s", 3, {}, "A")});
  auto t = store->TraceBackward("A");
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ(Describe(t->ancestors), (Strings{"B@1<A", "C@2<B"}));
  EXPECT_EQ(Describe(t->descendants), (Strings{"C@1<A", "B@2<C"}));
  EXPECT_FALSE(t->truncated);
  auto f = store->TraceForward("L1");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(Describe(f->reached.units), (Strings{"A@0<", "B@1<A", "C@2<B"}));
  auto self = OpenWith({Ev("X", "s", 1, {}, "X")});
  auto x = self->TraceBackward("X");
  ASSERT_TRUE(x.ok());
  EXPECT_TRUE(x->ancestors.empty()) << "a unit naming itself as parent is not its own ancestor";
  EXPECT_TRUE(x->descendants.empty());
}

TEST(TraceTest, AChainDeeperThanTheBoundIsTruncatedAndSaysSo) {
  // U0 in U1 in U2 ... in U40.
  std::vector<UnitEvent> events;
  std::vector<std::string> names;
  for (int i = 0; i <= 40; ++i) names.push_back("U" + std::to_string(i));
  for (int i = 0; i < 40; ++i) events.push_back(Ev(names[i].c_str(), "s", i, {}, names[i + 1].c_str()));
  auto store = OpenWith(events);
  auto a = store->Ancestors({"U0"});
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(a->truncated);
  ASSERT_EQ(a->units.size(), static_cast<std::size_t>(kTraceMaxDepth));
  EXPECT_EQ(a->units.back().serial, "U" + std::to_string(kTraceMaxDepth));
  EXPECT_EQ(a->units.back().depth, kTraceMaxDepth);
  auto b = store->TraceBackward("U40");
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(b->truncated);
  EXPECT_EQ(b->descendants.size(), static_cast<std::size_t>(kTraceMaxDepth));
  auto shallow = store->Ancestors({"U10"});
  ASSERT_TRUE(shallow.ok());
  EXPECT_FALSE(shallow->truncated) << "30 links are within the bound";
  EXPECT_EQ(shallow->units.size(), 30u);
}

TEST(TraceTest, WindowIsFromInclusiveToExclusiveWithEachUnitOnceAtItsFirstTime) {
  auto store = OpenWith({Ev("U1", "st1", 1000), Ev("U2", "st1", 1500), Ev("U1", "st1", 1200), Ev("U3", "st1", 2000),
                         Ev("U4", "st2", 1100), Ev("U5", "st1", 999)});
  auto w = store->UnitsInWindow({{ScopeKey::kStation, "st1"}}, FromUnixMillis(1000), FromUnixMillis(2000));
  ASSERT_TRUE(w.ok()) << w.status().message();
  EXPECT_EQ(Serials(*w), (Strings{"U1", "U2"}));
  EXPECT_EQ((*w)[0].first, FromUnixMillis(1000));
  auto open = store->UnitsInWindow({{ScopeKey::kStation, "st1"}}, FromUnixMillis(1000), EventTime::max());
  ASSERT_TRUE(open.ok());
  EXPECT_EQ(Serials(*open), (Strings{"U1", "U2", "U3"}));
  auto late = store->UnitsInWindow({{ScopeKey::kStation, "st1"}}, FromUnixMillis(1100), FromUnixMillis(2001));
  ASSERT_TRUE(late.ok());
  EXPECT_EQ(Serials(*late), (Strings{"U1", "U2", "U3"}));
  EXPECT_EQ((*late)[0].first, FromUnixMillis(1200)) << "the first time within the window";
}

TEST(TraceTest, WindowScopesByMachineOperatorAndAnyLotOfARecord) {
  auto store = OpenWith({Ev("U1", "st1", 100, {"L1", "L2"}, "", "M1", "op1"),
                         Ev("U2", "st2", 200, {"L2"}, "", "M1", "op2"),
                         Ev("U3", "st1", 300, {"L3", "L2"}, "", "M2", "op1"),
                         Ev("U4", "st1", 400, {"L1"}, "", "M2", "op2")});
  const EventTime from = FromUnixMillis(0), to = FromUnixMillis(1000);
  auto m = store->UnitsInWindow({{ScopeKey::kMachine, "M1"}}, from, to);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(Serials(*m), (Strings{"U1", "U2"}));
  auto o = store->UnitsInWindow({{ScopeKey::kOperator, "op2"}}, from, to);
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(Serials(*o), (Strings{"U2", "U4"}));
  auto l = store->UnitsInWindow({{ScopeKey::kLot, "L2"}}, from, to);
  ASSERT_TRUE(l.ok()) << l.status().message();
  EXPECT_EQ(Serials(*l), (Strings{"U1", "U2", "U3"})) << "L2 is never U1's or U3's first lot";
  auto ls = store->UnitsInWindow({{ScopeKey::kStation, "st1"}, {ScopeKey::kLot, "L2"}}, from, to);
  ASSERT_TRUE(ls.ok()) << ls.status().message();
  EXPECT_EQ(Serials(*ls), (Strings{"U1", "U3"}));
  auto two_lots = store->UnitsInWindow({{ScopeKey::kLot, "L2"}, {ScopeKey::kLot, "L1"}}, from, to);
  ASSERT_TRUE(two_lots.ok()) << two_lots.status().message();
  EXPECT_EQ(Serials(*two_lots), (Strings{"U1"}));
  auto lot_window = store->UnitsInWindow({{ScopeKey::kLot, "L2"}}, FromUnixMillis(200), FromUnixMillis(300));
  ASSERT_TRUE(lot_window.ok());
  EXPECT_EQ(Serials(*lot_window), (Strings{"U2"}));
  auto all = store->UnitsInWindow({}, FromUnixMillis(150), FromUnixMillis(350));
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(Serials(*all), (Strings{"U2", "U3"}));
}

TEST(TraceTest, AnEmptyWindowIsAnInvalidArgument) {
  auto store = OpenWith({Ev("U1", "st1", 100)});
  auto w = store->UnitsInWindow({{ScopeKey::kStation, "st1"}}, FromUnixMillis(100), FromUnixMillis(100));
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(w.status().message().find("not after 'from'"), std::string::npos) << w.status().message();
}

TEST(TraceTest, AFailedBatchStoresNothingOfIt) {
  testing::TempDir dir;
  const std::string path = dir.File("s.db");
  {
    auto store = Store::Open(path);
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->AppendTrace({Ev("U1", "st1", 100, {"L1"})}).ok());
  }
  // Postings of lot BAD cannot be written: the batch fails after its records were inserted.
  RawSql(path,
         "CREATE TRIGGER refuse_bad BEFORE INSERT ON unit_postings WHEN NEW.label = 'BAD' "
         "BEGIN SELECT RAISE(ABORT, 'lot BAD refused'); END");
  auto store = Store::Open(path);
  ASSERT_TRUE(store.ok()) << store.status().message();
  Status st = (*store)->AppendTrace({Ev("U2", "st1", 200, {"L1"}), Ev("U3", "st1", 300, {"BAD"})});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
  EXPECT_NE(st.message().find("appending genealogy postings: lot BAD refused"), std::string::npos) << st.message();
  auto w = (*store)->UnitsInWindow({{ScopeKey::kStation, "st1"}}, FromUnixMillis(0), EventTime::max());
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(Serials(*w), (Strings{"U1"})) << "U2, the good record of the failed batch, was rolled back too";
  EXPECT_TRUE((*store)->AppendTrace({Ev("U4", "st1", 400, {"L1"})}).ok()) << "the store takes the next batch";
}

TEST(TraceTest, PruneDropsOlderPostingsChunksAndCutsTheOneAcrossTheCutOff) {
  testing::TempDir dir;
  const std::string path = dir.File("s.db");
  {
    auto store = Store::Open(path);
    ASSERT_TRUE(store.ok());
    // One chunk of st1 per batch: wholly before the cut-off, across it, after it.
    ASSERT_TRUE((*store)->AppendTrace({Ev("U1", "st1", 1000), Ev("U2", "st1", 2000)}).ok());
    ASSERT_TRUE((*store)->AppendTrace({Ev("U3", "st1", 4000), Ev("U4", "st1", 6000)}).ok());
    ASSERT_TRUE((*store)->AppendTrace({Ev("U5", "st1", 7000)}).ok());
    PruneCutoffs cut;
    cut.genealogy = FromUnixMillis(5000);
    auto n = (*store)->Prune(cut);
    ASSERT_TRUE(n.ok()) << n.status().message();
    EXPECT_EQ(n->unit_events, 3);
    auto w = (*store)->UnitsInWindow({{ScopeKey::kStation, "st1"}}, FromUnixMillis(0), EventTime::max());
    ASSERT_TRUE(w.ok());
    EXPECT_EQ(Serials(*w), (Strings{"U4", "U5"}));
  }
  EXPECT_EQ(RawQuery(path, "SELECT COUNT(*) || ' ' || SUM(n) || ' ' || MIN(first_ts) FROM unit_postings"),
            "2 2 6000000")
      << "the first chunk is gone, the second starts at its kept record";
}

// A store as version 6 wrote it: unit_events with its station index, without the parent index.
constexpr const char* kVersion6 = R"sql(
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta VALUES('schema_version', '6');
CREATE TABLE unit_events(
  id INTEGER PRIMARY KEY,
  unit TEXT NOT NULL, station TEXT, ts INTEGER NOT NULL,
  machine TEXT, operator TEXT, lot TEXT, lots TEXT, model TEXT, parent TEXT,
  from_measurement INTEGER NOT NULL DEFAULT 0);
CREATE INDEX unit_events_station_ts ON unit_events(station, ts);
CREATE INDEX unit_events_unit ON unit_events(unit);
INSERT INTO unit_events(unit, station, ts, machine, operator, lot, lots, model, parent) VALUES
  ('C1', 'press', 1000, 'M1', 'op1', 'L1', 'L1;L2', '', 'A1'),
  ('C2', 'press', 2000, 'M1', 'op1', 'L3', 'L3', '', 'A1'),
  ('C3', 'press', 3000, 'M1', 'op1', 'L2', 'L2;L2;L4', '', ''),
  ('A1', 'assembly', 4000, 'M2', 'op1', '', '', '', NULL),
  ('C4', 'press', 5000, 'M1', 'op1', NULL, NULL, '', '');
)sql";

TEST(TraceTest, AVersion6StoreIsMigratedWithPostingsOfEveryLot) {
  testing::TempDir dir;
  const std::string path = dir.File("v6.db");
  RawSql(path, kVersion6);
  {
    auto store = Store::Open(path);
    ASSERT_TRUE(store.ok()) << store.status().message();
    auto l2 = (*store)->TraceForward("L2");
    ASSERT_TRUE(l2.ok()) << l2.status().message();
    EXPECT_EQ(Describe(l2->reached.units), (Strings{"C1@0<", "C3@0<", "A1@1<C1"}))
        << "L2 was C1's second lot: only postings of every lot find it";
    EXPECT_EQ(l2->reached.units[0].ts, FromUnixMicros(1000));
    auto l4 = (*store)->UnitsInWindow({{ScopeKey::kLot, "L4"}}, FromUnixMicros(0), EventTime::max());
    ASSERT_TRUE(l4.ok());
    EXPECT_EQ(Serials(*l4), (Strings{"C3"}));
    auto press = (*store)->UnitsInWindow({{ScopeKey::kStation, "press"}, {ScopeKey::kMachine, "M1"}},
                                         FromUnixMicros(2000), FromUnixMicros(5001));
    ASSERT_TRUE(press.ok());
    EXPECT_EQ(Serials(*press), (Strings{"C2", "C3", "C4"}));
    auto a1 = (*store)->TraceBackward("A1");
    ASSERT_TRUE(a1.ok());
    EXPECT_EQ(Describe(a1->descendants), (Strings{"C1@1<A1", "C2@1<A1"}));
    // Records appended after the migration are found beside the migrated ones.
    UnitEvent c5;
    c5.unit.Assign("C5");
    c5.station.Assign("press");
    c5.ts = FromUnixMicros(6000);
    c5.lots[c5.lot_count++].Assign("L2");
    ASSERT_TRUE((*store)->AppendTrace({c5}).ok());
    auto again = (*store)->TraceForward("L2");
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(Describe(again->reached.units), (Strings{"C1@0<", "C3@0<", "C5@0<", "A1@1<C1"}));
  }
  EXPECT_EQ(RawQuery(path, "SELECT value FROM meta WHERE key = 'schema_version'"), "11");
  // Postings: stations 5, machines 5, operators 5, lots 5 (L1 L2 / L3 / L2 L4), then C5's press and L2.
  const std::string kPosted = "SELECT SUM(n) FROM unit_postings";
  EXPECT_EQ(RawQuery(path, kPosted), "22") << "L2 listed twice by C3 is posted once";
  EXPECT_EQ(RawQuery(path, "SELECT name FROM sqlite_master WHERE type = 'index' AND name = 'unit_events_parent'"),
            "unit_events_parent");
  EXPECT_EQ(RawQuery(path, "SELECT COUNT(*) FROM sqlite_master WHERE name IN ('unit_lots', 'unit_events_station_ts')"),
            "0")
      << "what the postings replace is gone";
  // Opening again changes nothing; running the steps again (as after a crash before the version
  // row was written) builds the same postings.
  { ASSERT_TRUE(Store::Open(path).ok()); }
  EXPECT_EQ(RawQuery(path, kPosted), "22");
  RawSql(path, "UPDATE meta SET value = '7' WHERE key = 'schema_version'");
  { ASSERT_TRUE(Store::Open(path).ok()); }
  EXPECT_EQ(RawQuery(path, kPosted), "22");
  EXPECT_EQ(RawQuery(path, "SELECT value FROM meta WHERE key = 'schema_version'"), "11");
}

TEST(TraceTest, AStoreOfANewerVersionIsRefused) {
  testing::TempDir dir;
  const std::string path = dir.File("v12.db");
  { ASSERT_TRUE(Store::Open(path).ok()); }
  RawSql(path, "UPDATE meta SET value = '12' WHERE key = 'schema_version'");
  auto store = Store::Open(path);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(store.status().message().find("schema version 12; this build reads version 11"), std::string::npos)
      << store.status().message();
}

// ---- GET /api/trace/... ----

nlohmann::json Body(const TraceApiAnswer& a) { return nlohmann::json::parse(a.body); }

TEST(TraceApiTest, BackwardAnswersTheTraceOr404) {
  auto store = OpenWith(Assemblies());
  auto ok = TraceApi(*store, "/api/trace/backward/C1", "");
  ASSERT_EQ(ok.status, 200) << ok.body;
  auto doc = Body(ok);
  EXPECT_EQ(doc["serial"], "C1");
  ASSERT_EQ(doc["route"].size(), 2u);
  EXPECT_EQ(doc["route"][0]["station"], "press");
  EXPECT_EQ(doc["route"][0]["ts"], "1970-01-01T00:00:00.200Z");
  EXPECT_EQ(doc["route"][0]["lots"], nlohmann::json::array({"L1"}));
  EXPECT_EQ(doc["route"][1]["parent"], "A1");
  EXPECT_EQ(doc["ancestors"][0]["serial"], "A1");
  EXPECT_EQ(doc["ancestors"][0]["via"], "C1");
  EXPECT_EQ(doc["ancestors"][1]["depth"], 2);
  EXPECT_EQ(doc["descendants"].size(), 2u);
  EXPECT_EQ(doc["truncated"], false);
  auto missing = TraceApi(*store, "/api/trace/backward/NOPE", "");
  EXPECT_EQ(missing.status, 404);
  EXPECT_NE(Body(missing)["error"].get<std::string>().find("'NOPE'"), std::string::npos);
  EXPECT_EQ(TraceApi(*store, "/api/trace/backward/", "").status, 400);
  auto bad = TraceApi(*store, "/api/trace/backward/C%2", "");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("percent-encoding"), std::string::npos) << bad.body;
}

TEST(TraceApiTest, BackwardDecodesTheSerial) {
  auto store = OpenWith({Ev("SN 1/2", "press", 100)});
  auto a = TraceApi(*store, "/api/trace/backward/SN%201%2F2", "");
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(Body(a)["serial"], "SN 1/2");
}

TEST(TraceApiTest, ForwardNeedsALot) {
  auto store = OpenWith(Assemblies());
  auto a = TraceApi(*store, "/api/trace/forward", "lot=L2");
  ASSERT_EQ(a.status, 200) << a.body;
  auto doc = Body(a);
  EXPECT_EQ(doc["lot"], "L2");
  ASSERT_EQ(doc["units"].size(), 4u);
  EXPECT_EQ(doc["units"][0], nlohmann::json::parse(R"({"serial":"C3","depth":0,"ts":"1970-01-01T00:00:00.220Z"})"));
  EXPECT_EQ(doc["units"][2], nlohmann::json::parse(R"({"serial":"A1","depth":1,"via":"C3"})"));
  auto missing = TraceApi(*store, "/api/trace/forward", "");
  EXPECT_EQ(missing.status, 400);
  EXPECT_NE(missing.body.find("missing query parameter 'lot'"), std::string::npos) << missing.body;
  auto unknown = TraceApi(*store, "/api/trace/forward", "lot=L1&station=x");
  EXPECT_EQ(unknown.status, 400);
  EXPECT_NE(unknown.body.find("unknown query parameter 'station'"), std::string::npos) << unknown.body;
  auto twice = TraceApi(*store, "/api/trace/forward", "lot=L1&lot=L2");
  EXPECT_EQ(twice.status, 400);
  EXPECT_NE(twice.body.find("given twice"), std::string::npos) << twice.body;
}

TEST(TraceApiTest, WindowTakesAScopeAndRfc3339Times) {
  auto store = OpenWith({Ev("U1", "st1", 1000, {}, "", "M1"), Ev("U2", "st1", 2000, {}, "", "M2"),
                         Ev("U3", "st1", 3000, {}, "", "M1")});
  // '+' is an offset sign, not a space; ':' may come percent-encoded.
  auto a = TraceApi(*store, "/api/trace/window",
                    "station=st1&from=1970-01-01T01:00:01%2B01:00&to=1970-01-01T00%3A00%3A03Z");
  ASSERT_EQ(a.status, 200) << a.body;
  auto doc = Body(a);
  EXPECT_EQ(doc["scope"], nlohmann::json::parse(R"({"station":"st1"})"));
  EXPECT_EQ(doc["from"], "1970-01-01T00:00:01.000Z");
  EXPECT_EQ(doc["to"], "1970-01-01T00:00:03.000Z");
  ASSERT_EQ(doc["units"].size(), 2u);
  EXPECT_EQ(doc["units"][1], nlohmann::json::parse(R"({"serial":"U2","first":"1970-01-01T00:00:02.000Z"})"));
  auto open = TraceApi(*store, "/api/trace/window", "station=st1&machine=M1&from=1970-01-01T00:00:00Z");
  ASSERT_EQ(open.status, 200) << open.body;
  EXPECT_EQ(Body(open)["units"].size(), 2u);
  EXPECT_TRUE(Body(open)["to"].is_null());

  auto bad_time = TraceApi(*store, "/api/trace/window", "station=st1&from=yesterday");
  EXPECT_EQ(bad_time.status, 400);
  EXPECT_NE(bad_time.body.find("bad 'from' time 'yesterday'"), std::string::npos) << bad_time.body;
  auto no_from = TraceApi(*store, "/api/trace/window", "station=st1");
  EXPECT_EQ(no_from.status, 400);
  EXPECT_NE(no_from.body.find("missing query parameter 'from'"), std::string::npos) << no_from.body;
  auto no_scope = TraceApi(*store, "/api/trace/window", "from=1970-01-01T00:00:00Z");
  EXPECT_EQ(no_scope.status, 400);
  EXPECT_NE(no_scope.body.find("missing scope"), std::string::npos) << no_scope.body;
  auto backwards =
      TraceApi(*store, "/api/trace/window", "station=st1&from=1970-01-01T00:00:02Z&to=1970-01-01T00:00:01Z");
  EXPECT_EQ(backwards.status, 400);
  EXPECT_NE(backwards.body.find("not after 'from'"), std::string::npos) << backwards.body;
  auto unknown = TraceApi(*store, "/api/trace/window", "line=1&from=1970-01-01T00:00:00Z");
  EXPECT_EQ(unknown.status, 400);
  EXPECT_NE(unknown.body.find("unknown query parameter 'line'"), std::string::npos) << unknown.body;
  EXPECT_EQ(TraceApi(*store, "/api/trace/elsewhere", "").status, 404);
}

TEST(TraceApiTest, TheEngineServesTheTraceEndpoints) {
  testing::TempDir dir;
  ConfigLoad load = LoadConfigText(R"(
characteristics:
  - id: bore
    chart: { type: individuals }
    limits: { mean: 10, sigma: 0.1 }
    rules: [nelson.1]
    scope: [station]
)",
                                   "test.yaml");
  ASSERT_TRUE(load.config.has_value());
  EngineOptions opts;
  opts.threaded = false;
  opts.store_path = dir.File("s.db");
  Engine engine(*load.config, opts);
  ASSERT_TRUE(engine.Start().ok());
  ASSERT_TRUE(engine.store().AppendTrace(Assemblies()).ok());
  auto a = engine.HandleApi("GET", "/api/trace/backward/A1", "");
  EXPECT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.content_type, "application/json");
  EXPECT_EQ(nlohmann::json::parse(a.body)["descendants"].size(), 6u);
  EXPECT_EQ(engine.HandleApi("GET", "/api/trace/forward", "lot=H1").status, 200);
  EXPECT_EQ(engine.HandleApi("GET", "/api/trace/window", "station=press").status, 400);
  EXPECT_EQ(engine.HandleApi("POST", "/api/trace/forward", "lot=H1").status, 405);
  engine.Stop();
}

TEST(PercentDecodeTest, DecodesEscapesAndKeepsPlus) {
  std::string out;
  ASSERT_TRUE(PercentDecode("a%20b%2fc+d%3A", out));
  EXPECT_EQ(out, "a b/c+d:");
  EXPECT_FALSE(PercentDecode("abc%4", out));
  EXPECT_FALSE(PercentDecode("abc%", out));
  EXPECT_FALSE(PercentDecode("%zz", out));
}

}  // namespace
}  // namespace shewhart::engine
