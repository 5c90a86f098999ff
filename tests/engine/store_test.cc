#include "shewhart/engine/store/store.h"

#include <gtest/gtest.h>

#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "../test_util.h"
#include "shewhart/engine/store/audit.h"
#include "shewhart/engine/engine.h"
#include "shewhart/engine/model/time_format.h"

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

TEST(StoreTest, AddedUnitsSayWhetherTheyWereInAnotherHoldAndHoldsCountByState) {
  auto store = Store::Open(":memory:");
  ASSERT_TRUE(store.ok());
  HoldRecord h;
  h.alarm_id = 1;
  h.characteristic = "bore";
  auto one = (*store)->CreateHold(h);
  h.alarm_id = 2;
  auto two = (*store)->CreateHold(h);
  ASSERT_TRUE(one.ok() && two.ok());
  std::vector<bool> first;
  auto added =
      (*store)->AddHeldUnits(*one, {{0, "A", "held", FromUnixMillis(1)}, {0, "B", "held", FromUnixMillis(2)}}, &first);
  ASSERT_TRUE(added.ok());
  EXPECT_EQ(first, (std::vector<bool>{true, true}));
  // B is in hold one already; A is already in hold two after the first call (not returned).
  added =
      (*store)->AddHeldUnits(*two, {{0, "B", "held", FromUnixMillis(2)}, {0, "C", "held", FromUnixMillis(3)}}, &first);
  ASSERT_TRUE(added.ok());
  ASSERT_EQ(added->size(), 2u);
  EXPECT_EQ(first, (std::vector<bool>{false, true}));
  added = (*store)->AddHeldUnits(*two, {{0, "C", "held", FromUnixMillis(3)}}, &first);
  ASSERT_TRUE(added.ok());
  EXPECT_TRUE(added->empty());
  EXPECT_TRUE(first.empty()) << "one entry per unit returned";

  Disposition d;
  d.hold_id = *one;
  d.state = "scrapped";
  d.user = "anna";
  d.reason = "nonconforming";
  d.meaning = "approved by";
  ASSERT_TRUE((*store)->Dispose({"A"}, d).ok());
  auto counts = (*store)->CountHoldStates();
  ASSERT_TRUE(counts.ok()) << counts.status().message();
  EXPECT_EQ(counts->holds, (std::map<std::string, std::int64_t>{{"open", 2}}));
  EXPECT_EQ(counts->units, (std::map<std::string, std::int64_t>{{"held", 3}, {"scrapped", 1}}));
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

// Retention: what is older than the cut-offs goes, what is newer or still needed stays, and
// the audit chain still verifies from the anchor the pruning leaves (and not without it).
TEST(StoreTest, PruneDeletesWhatIsOldAndTheAuditChainVerifiesFromItsAnchor) {
  testing::TempDir dir;
  const std::string path = dir.File("s.db");
  auto opened = Store::Open(path);
  ASSERT_TRUE(opened.ok()) << opened.status().message();
  Store& store = **opened;
  UnitEvent old_lotted = Event("OLD1", "st1", 1000);
  old_lotted.lots[0].Assign("L1");
  old_lotted.lots[1].Assign("L2");
  old_lotted.lot_count = 2;
  ASSERT_TRUE(store.AppendTrace({old_lotted, Event("OLD2", "st1", 2000), Event("NEW1", "st1", 9000)}).ok());
  ASSERT_TRUE(store.InsertReject(RejectRecord{"zmq0", 1, RejectReason::kMalformed, "", "bad", "{", false}).ok());
  // Three resolved alarms before the cut-off: without a hold, with a hold holding nothing any
  // more, with a unit still held (kept); one open alarm (kept).
  auto alarm = [&](const std::string& state, std::int64_t resolved_ms) {
    AlarmRecord a;
    a.characteristic = "bore";
    a.policy = "p";
    a.rule = "nelson.1";
    a.chart = "individuals";
    a.state = state;
    a.resolved_ts = FromUnixMillis(resolved_ms);
    auto id = store.InsertAlarm(a);
    EXPECT_TRUE(id.ok());
    a.id = *id;
    return a;
  };
  auto hold_for = [&](AlarmRecord& a, const std::string& serial, const char* state) {
    HoldRecord h;
    h.alarm_id = a.id;
    h.characteristic = "bore";
    auto id = store.CreateHold(h);
    ASSERT_TRUE(id.ok());
    a.hold_id = *id;
    ASSERT_TRUE(store.UpdateAlarm(a).ok());
    ASSERT_TRUE(store.AddHeldUnits(*id, {HeldUnit{*id, serial, "held", FromUnixMillis(1)}}).ok());
    if (std::string(state) != "held") {
      Disposition d;
      d.hold_id = *id;
      d.state = state;
      d.user = "qa";
      d.reason = "other";
      d.meaning = "released by";
      ASSERT_TRUE(store.Dispose({serial}, d).ok());
    }
  };
  AlarmRecord a1 = alarm("resolved", 1000);
  AlarmRecord a2 = alarm("resolved", 1000);
  hold_for(a2, "S2", "released");
  AlarmRecord a3 = alarm("resolved", 1000);
  hold_for(a3, "S3", "held");
  AlarmRecord a4 = alarm("open", 0);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(AppendAudit(store, "test.event", "test/" + std::to_string(i), "engine", Json{{"i", i}}).ok());
  }
  auto all = store.ReadAudit(0, 100);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 5u);
  // Audit records are appended with the wall clock: a cut-off between the 3rd and the 4th.
  PruneCutoffs cut;
  cut.genealogy = FromUnixMillis(5000);
  cut.rejects = FromUnixMicros(ToUnixMicros((*all)[0].ts) + 1'000'000'000);  // in the future: every reject
  cut.records = FromUnixMicros(ToUnixMicros((*all)[2].ts) + 1);
  ASSERT_LT((*all)[2].ts, (*all)[3].ts) << "the test needs distinct append times";
  auto n = store.Prune(cut);
  ASSERT_TRUE(n.ok()) << n.status().message();
  EXPECT_EQ(n->unit_events, 2);
  EXPECT_EQ(n->rejects, 1);
  EXPECT_EQ(n->alarms, 2) << "a1 and a2; a3 still holds a unit, a4 is open";
  EXPECT_EQ(n->audit_records, 3);
  EXPECT_EQ(n->anchor_seq, 3);
  EXPECT_EQ(n->anchor_hash, (*all)[2].hash);

  auto back = store.TraceBackward("OLD1");
  EXPECT_EQ(back.status().code(), StatusCode::kNotFound);
  auto fwd = store.TraceForward("L2");
  ASSERT_TRUE(fwd.ok());
  EXPECT_TRUE(fwd->reached.units.empty()) << "its postings went with it";
  auto st1 = store.UnitsInWindow({{ScopeKey::kStation, "st1"}}, FromUnixMillis(0), EventTime::max());
  ASSERT_TRUE(st1.ok());
  ASSERT_EQ(st1->size(), 1u) << "the chunk of st1 held old and new records: it keeps the new one";
  EXPECT_EQ((*st1)[0].serial, "NEW1");
  EXPECT_TRUE(store.TraceBackward("NEW1").ok());
  EXPECT_EQ(*store.CountRejects(), 0);
  EXPECT_EQ(store.GetAlarm(a1.id).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store.GetAlarm(a2.id).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store.GetHold(a2.hold_id).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(store.GetAlarm(a3.id).ok());
  EXPECT_TRUE(store.GetHold(a3.hold_id).ok());
  EXPECT_TRUE(store.GetAlarm(a4.id).ok());
  auto v = VerifyAuditLog(store);
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->intact) << v->problem;
  EXPECT_EQ(v->verified, 2);
  EXPECT_EQ(v->anchor_seq, 3);
  // Appending goes on from the stored chain.
  ASSERT_TRUE(AppendAudit(store, "test.event", "test/5", "engine", Json{{"i", 5}}).ok());
  v = VerifyAuditLog(store);
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->intact) << v->problem;
  EXPECT_EQ(v->verified, 3);
  // Nothing more to prune: nothing changes.
  n = store.Prune(cut);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->unit_events + n->rejects + n->alarms + n->audit_records, 0);
  EXPECT_EQ(n->anchor_seq, 0);
  // Without its anchor the shortened chain does not verify.
  opened->reset();
  {
    auto raw = Store::Open(path);
    ASSERT_TRUE(raw.ok());
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "DELETE FROM meta WHERE key LIKE 'audit_anchor%'", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto again = Store::Open(path);
  ASSERT_TRUE(again.ok());
  v = VerifyAuditLog(**again);
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->intact);
  EXPECT_NE(v->problem.find("records 1-3 are missing"), std::string::npos) << v->problem;
}

// `shewhart run` prunes at start (and every store.prune_every), audits it as store.pruned and
// counts it.
TEST(StoreTest, RunningEnginePrunesOldGenealogyAtStart) {
  testing::TempDir dir;
  const std::string path = dir.File("s.db");
  {
    auto s = Store::Open(path);
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE((*s)->AppendTrace({Event("OLD", "st1", 1000)}).ok());
  }
  ConfigLoad load = LoadConfigText(
      "store: { retention: { genealogy: 30d, records: 5y, rejects: 90d }, prune_every: 1h }\n"
      "characteristics: [ { id: bore, chart: { type: individuals }, limits: { mean: 10, sigma: 0.1 } } ]\n",
      "r.yaml");
  ASSERT_TRUE(load.config.has_value());
  EXPECT_EQ(load.config->retain_genealogy, std::chrono::hours(24 * 30));
  EngineOptions opts;
  opts.store_path = path;
  Engine engine(*load.config, opts);
  ASSERT_TRUE(engine.Start().ok());
  for (int i = 0; i < 200; ++i) {
    if (engine.HandleApi("GET", "/metrics", "").body.find("shewhart_pruned_total{kind=\"unit_events\"} 1\n") !=
        std::string::npos) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  engine.Stop();
  const std::string metrics = engine.HandleApi("GET", "/metrics", "").body;
  EXPECT_NE(metrics.find("shewhart_pruned_total{kind=\"unit_events\"} 1\n"), std::string::npos) << metrics;
  auto s = Store::Open(path);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)->TraceBackward("OLD").status().code(), StatusCode::kNotFound);
  auto audit = (*s)->ReadAudit(0, 100);
  ASSERT_TRUE(audit.ok());
  bool pruned = false;
  for (const auto& r : *audit)
    pruned |= r.kind == "store.pruned" && r.body.find("\"unit_events\":1") != std::string::npos;
  EXPECT_TRUE(pruned);
}

TEST(StoreTest, RetentionSettingsAreChecked) {
  ConfigLoad load = LoadConfigText(
      "store: { retention: { genealogy: forever, audit: 1y }, prune_every: 0s }\n"
      "characteristics: [ { id: bore, chart: { type: individuals }, limits: { mean: 10, sigma: 0.1 } } ]\n",
      "r.yaml");
  std::string all;
  for (const auto& p : load.problems) all += p.ToString() + "\n";
  EXPECT_NE(all.find("store.retention.genealogy"), std::string::npos) << all;
  EXPECT_NE(all.find("store.retention.audit"), std::string::npos) << all;
  EXPECT_NE(all.find("store.prune_every"), std::string::npos) << all;
}

TEST(StoreTest, UnopenablePathIsUnavailable) {
  auto store = Store::Open("/nonexistent-dir/x/y.db");
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(store.status().message().find("/nonexistent-dir/x/y.db"), std::string::npos);
}

// Appends `n` genealogy records with distinct serials (about 40 per WAL page).
void AppendMany(Store& store, int first, int n) {
  std::vector<UnitEvent> batch;
  for (int i = first; i < first + n; ++i) {
    const std::string serial = "SN" + std::to_string(i);
    batch.push_back(Event(serial.c_str(), "st1", 1000 + i));
    if (batch.size() == 4096) {
      ASSERT_TRUE(store.AppendTrace(batch).ok());
      batch.clear();
    }
  }
  ASSERT_TRUE(store.AppendTrace(batch).ok());
}

// With the checkpointer started, the writing connection no longer checkpoints: its WAL grows
// and the database file stays as it was until the checkpointer's thread runs.
TEST(StoreTest, WithACheckpointerTheWriterDoesNotCheckpoint) {
  testing::TempDir dir;
  const std::string path = dir.File("s.db");
  auto store = Store::Open(path);
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->StartCheckpointer(std::chrono::hours(1), 1 << 30, 1 << 30).ok());  // never due
  const auto before = std::filesystem::file_size(path);
  AppendMany(**store, 0, 100000);  // thousands of WAL pages: past SQLite's automatic 1000
  EXPECT_EQ(std::filesystem::file_size(path), before);
  EXPECT_GT(std::filesystem::file_size(path + "-wal"), 4u << 20);
  EXPECT_EQ((*store)->checkpoints(), 0);
  EXPECT_EQ((*store)->writer_checkpoints(), 0);
}

// Past `writer_pages` the writer checkpoints what is left and the WAL starts over: it stays
// bounded however long the writer keeps committing.
TEST(StoreTest, WalStaysBoundedUnderAWriterThatNeverStops) {
  testing::TempDir dir;
  const std::string path = dir.File("s.db");
  auto store = Store::Open(path);
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->StartCheckpointer(std::chrono::hours(1), 1 << 30, 200).ok());
  AppendMany(**store, 0, 100000);
  EXPECT_GT((*store)->writer_checkpoints(), 0);
  EXPECT_LT(std::filesystem::file_size(path + "-wal"), 4u << 20);
}

TEST(StoreTest, CheckpointerCopiesTheWalIntoTheDatabaseOnItsThread) {
  testing::TempDir dir;
  const std::string path = dir.File("s.db");
  auto store = Store::Open(path);
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->StartCheckpointer(std::chrono::hours(1), 100).ok());  // due at 100 pages
  const auto before = std::filesystem::file_size(path);
  AppendMany(**store, 0, 20000);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while ((*store)->checkpoints() == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_GT((*store)->checkpoints(), 0);
  EXPECT_EQ((*store)->checkpoint_failures(), 0);
  EXPECT_GT(std::filesystem::file_size(path), before);
  // The records are all there, to this connection and to a new one.
  (*store)->StopCheckpointer();
  auto window = (*store)->UnitsInWindow({{ScopeKey::kStation, "st1"}}, FromUnixMicros(0), EventTime::max());
  ASSERT_TRUE(window.ok());
  EXPECT_EQ(window->size(), 20000u);
  store->reset();
  auto again = Store::Open(path);
  ASSERT_TRUE(again.ok());
  auto window2 = (*again)->UnitsInWindow({{ScopeKey::kStation, "st1"}}, FromUnixMicros(0), EventTime::max());
  ASSERT_TRUE(window2.ok());
  EXPECT_EQ(window2->size(), 20000u);
}

TEST(StoreTest, CheckpointerOfAnInMemoryStoreIsANoOp) {
  auto store = Store::Open(":memory:");
  ASSERT_TRUE(store.ok());
  EXPECT_TRUE((*store)->StartCheckpointer(std::chrono::milliseconds(1)).ok());
  AppendMany(**store, 0, 1000);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ((*store)->checkpoints(), 0);
}

}  // namespace
}  // namespace shewhart::engine
