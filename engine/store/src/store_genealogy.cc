// Genealogy: unit events and their postings, suspect-window and trace queries.
#include "shewhart/engine/store/store.h"

#include "store_internal.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <unordered_set>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "shewhart/base/thread.h"
#include "shewhart/engine/store/audit.h"
#include "shewhart/engine/store/postings.h"
#include "shewhart/engine/model/time_format.h"
#include "shewhart/engine/model/json.h"

namespace shewhart::engine {

using namespace store_internal;

Status Store::AppendTrace(const std::vector<UnitEvent>& events) {
  if (events.empty()) return Status::Ok();
  std::lock_guard lock(mu_);
  SHEWHART_RETURN_IF_ERROR(BeginTx());
  auto fail = [&](Status st) {
    (void)RollbackTx();
    return st;
  };
  Stmt ins(db_,
           "INSERT INTO unit_events(unit, station, ts, machine, operator, lot, lots, model, parent, from_measurement) "
           "VALUES(?,?,?,?,?,?,?,?,?,?)");
  if (!ins.ok()) return fail(ins.error("preparing genealogy insert"));
  // Bound without copying (SQLITE_STATIC): the labels live in `events`, the joined lots in
  // `lots`, until the statement has run; the postings point into `events` too.
  std::string lots;
  std::vector<std::string_view> lot_views;
  std::vector<postings::Posting> posted;
  posted.reserve(events.size() * 4);
  for (const auto& e : events) {
    lots.clear();
    lot_views.clear();
    for (std::size_t i = 0; i < e.lot_count; ++i) {
      if (i) lots += ';';
      lots.append(e.lots[i].view());
      lot_views.push_back(e.lots[i].view());
    }
    const std::int64_t ts = ToUnixMicros(e.ts);
    ins.BindStatic(1, e.unit.view());
    ins.BindStatic(2, e.station.view());
    ins.Bind(3, ts);
    ins.BindStatic(4, e.machine.view());
    ins.BindStatic(5, e.op.view());
    ins.BindStatic(6, e.lot_count ? e.lots[0].view() : std::string_view());
    ins.BindStatic(7, std::string_view(lots));
    ins.BindStatic(8, e.model.view());
    ins.BindStatic(9, e.parent.view());
    ins.Bind(10, static_cast<std::int64_t>(e.from_measurement));
    if (ins.Step() != SQLITE_DONE) return fail(ins.error("appending genealogy"));
    ins.Reset();
    AddPostings(sqlite3_last_insert_rowid(db_), ts, e.unit.view(), e.station.view(), e.machine.view(), e.op.view(),
                e.model.view(), lot_views, posted);
  }
  if (Status st = WritePostings(db_, posted); !st.ok()) return fail(st);
  if (Status st = CommitTx(); !st.ok()) return fail(st);
  return Status::Ok();
}

Result<std::vector<HeldUnit>> Store::UnitsInScope(const ScopeLabels& scope, EventTime from) {
  auto window = UnitsInWindow(scope, from, EventTime::max());
  if (!window.ok()) return window.status();
  std::vector<HeldUnit> out;
  out.reserve(window->size());
  for (auto& w : *window) out.push_back(HeldUnit{0, std::move(w.serial), "held", w.first});
  return out;
}

// ---------------------------------------------------------------------------------------------
// Genealogy queries.

namespace {

constexpr const char* kRouteSql =
    "SELECT station, ts, machine, operator, lots, model, parent, from_measurement FROM unit_events "
    "WHERE unit = ? ORDER BY ts, id";
// `parent <> ''` lets SQLite use the partial (covering) indexes unit_events_unit_parent and
// unit_events_parent.
constexpr const char* kParentsSql =
    "SELECT DISTINCT parent FROM unit_events WHERE unit = ? AND parent <> '' ORDER BY parent";
constexpr const char* kChildrenSql =
    "SELECT DISTINCT unit FROM unit_events WHERE parent = ? AND parent <> '' ORDER BY unit";

// Reads the records of `serial` with the prepared kRouteSql.
Status ReadRoute(Stmt& q, const std::string& serial, std::vector<RouteStep>& out) {
  q.Bind(1, serial);
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) {
    RouteStep r;
    r.station = q.Text(0);
    r.ts = FromUnixMicros(q.Int(1));
    r.machine = q.Text(2);
    r.op = q.Text(3);
    const std::string lots = q.Text(4);
    for (std::string_view lot : SplitLots(lots)) r.lots.emplace_back(lot);
    r.model = q.Text(5);
    r.parent = q.Text(6);
    r.from_measurement = q.Int(7) != 0;
    out.push_back(std::move(r));
  }
  q.Reset();
  if (rc != SQLITE_DONE) return q.error("reading a unit's route");
  return Status::Ok();
}

// Breadth-first from `start` along the links that the prepared `links` statement (kParentsSql
// or kChildrenSql) returns for a serial, level by level, each level in serial order. A unit in
// `seen` is not reached again; each unit reached is added to `seen` and to out.units (depth =
// its level, via = the first unit of the previous level that linked to it).
Status Walk(Stmt& links, std::vector<std::string> start, std::unordered_set<std::string>& seen, TraceSet& out) {
  std::vector<std::string> frontier = std::move(start);
  std::sort(frontier.begin(), frontier.end());
  frontier.erase(std::unique(frontier.begin(), frontier.end()), frontier.end());
  const std::size_t first_new = out.units.size();
  for (int depth = 1; !frontier.empty(); ++depth) {
    std::vector<std::string> next;
    for (const std::string& u : frontier) {
      links.Bind(1, u);
      int rc;
      while ((rc = links.Step()) == SQLITE_ROW) {
        std::string linked = links.Text(0);
        if (seen.count(linked)) continue;
        if (depth > kTraceMaxDepth) {
          out.truncated = true;
          continue;
        }
        seen.insert(linked);
        out.units.push_back(TracedUnit{linked, depth, u, EventTime{}, {}});
        next.push_back(std::move(linked));
      }
      links.Reset();
      if (rc != SQLITE_DONE) return links.error("following genealogy links");
    }
    std::sort(next.begin(), next.end());
    frontier = std::move(next);
  }
  std::stable_sort(out.units.begin() + static_cast<std::ptrdiff_t>(first_new), out.units.end(),
                   [](const TracedUnit& a, const TracedUnit& b) {
                     return a.depth != b.depth ? a.depth < b.depth : a.serial < b.serial;
                   });
  return Status::Ok();
}

}  // namespace

Result<BackwardTrace> Store::TraceBackward(const std::string& serial) {
  std::lock_guard lock(mu_);
  Stmt route(db_, kRouteSql), parents(db_, kParentsSql), children(db_, kChildrenSql);
  if (!route.ok() || !parents.ok() || !children.ok()) {
    return (!route.ok() ? route : !parents.ok() ? parents : children).error("preparing a backward trace");
  }
  // One read transaction: the route and the links come from one snapshot.
  SHEWHART_RETURN_IF_ERROR(BeginTx());
  BackwardTrace t;
  t.serial = serial;
  auto run = [&]() -> Status {
    SHEWHART_RETURN_IF_ERROR(ReadRoute(route, serial, t.route));
    std::unordered_set<std::string> seen{serial};
    TraceSet up;
    SHEWHART_RETURN_IF_ERROR(Walk(parents, {serial}, seen, up));
    seen = {serial};
    TraceSet down;
    SHEWHART_RETURN_IF_ERROR(Walk(children, {serial}, seen, down));
    t.truncated = up.truncated || down.truncated;
    t.ancestors = std::move(up.units);
    t.descendants = std::move(down.units);
    for (auto* list : {&t.ancestors, &t.descendants}) {
      for (TracedUnit& u : *list) SHEWHART_RETURN_IF_ERROR(ReadRoute(route, u.serial, u.route));
    }
    return Status::Ok();
  };
  Status st = run();
  (void)CommitTx();
  if (!st.ok()) return st;
  if (t.route.empty() && t.descendants.empty()) return NotFound("no genealogy record of unit '" + serial + "'");
  return t;
}

Result<ForwardTrace> Store::TraceForward(const std::string& lot) {
  std::lock_guard lock(mu_);
  Stmt direct(db_, kScanPostingsSql);
  Stmt parents(db_, kParentsSql);
  if (!direct.ok() || !parents.ok()) return (!direct.ok() ? direct : parents).error("preparing a forward trace");
  SHEWHART_RETURN_IF_ERROR(BeginTx());
  ForwardTrace t;
  t.lot = lot;
  auto run = [&]() -> Status {
    // Each consumer once, at its first record listing the lot, in serial order.
    std::map<std::string, std::int64_t, std::less<>> first;
    SHEWHART_RETURN_IF_ERROR(
        ScanPostings(direct, postings::Kind::kLot, lot, INT64_MIN, INT64_MAX, [&](const postings::Entry& e) {
          auto it = first.find(e.unit);
          if (it == first.end()) {
            first.emplace(std::string(e.unit), e.ts);
          } else {
            it->second = std::min(it->second, e.ts);
          }
        }));
    std::vector<std::string> consumers;
    consumers.reserve(first.size());
    for (const auto& [unit, ts] : first) {
      consumers.push_back(unit);
      t.reached.units.push_back(TracedUnit{unit, 0, "", FromUnixMicros(ts), {}});
    }
    std::unordered_set<std::string> seen(consumers.begin(), consumers.end());
    return Walk(parents, std::move(consumers), seen, t.reached);
  };
  Status st = run();
  (void)CommitTx();
  if (!st.ok()) return st;
  return t;
}

Result<TraceSet> Store::Ancestors(const std::vector<std::string>& serials) {
  std::lock_guard lock(mu_);
  Stmt parents(db_, kParentsSql);
  if (!parents.ok()) return parents.error("preparing an ancestors query");
  SHEWHART_RETURN_IF_ERROR(BeginTx());
  TraceSet out;
  std::unordered_set<std::string> seen(serials.begin(), serials.end());
  Status st = Walk(parents, serials, seen, out);
  (void)CommitTx();
  if (!st.ok()) return st;
  return out;
}

Result<std::vector<WindowUnit>> Store::UnitsInWindow(const ScopeLabels& scope, EventTime from, EventTime to) {
  if (!(from < to)) {
    return InvalidArgument("empty time window: 'to' " + FormatRfc3339(to) + " is not after 'from' " +
                           FormatRfc3339(from));
  }
  const std::int64_t from_us = ToUnixMicros(from), to_us = ToUnixMicros(to);
  struct Match {
    std::int64_t ts, event;
    std::string unit;
  };
  std::vector<Match> matches;
  std::lock_guard lock(mu_);
  // One read transaction: every label's postings from one snapshot.
  SHEWHART_RETURN_IF_ERROR(BeginTx());
  auto run = [&]() -> Status {
    if (scope.empty()) {  // every record: a scan of unit_events
      Stmt q(db_, "SELECT unit, ts, id FROM unit_events WHERE ts >= ? AND ts < ?");
      if (!q.ok()) return q.error("querying units in a window");
      q.Bind(1, from_us);
      q.Bind(2, to_us);
      int rc;
      while ((rc = q.Step()) == SQLITE_ROW) matches.push_back(Match{q.Int(1), q.Int(2), q.Text(0)});
      if (rc != SQLITE_DONE) return q.error("querying units in a window");
      return Status::Ok();
    }
    // The first label's postings in the window, then those of every further label: a record
    // matches when each label posted it (a lot label: the lot in any position of the record).
    Stmt q(db_, kScanPostingsSql);
    if (!q.ok()) return q.error("querying units in a window");
    SHEWHART_RETURN_IF_ERROR(ScanPostings(q, postings::KindOf(scope[0].first), scope[0].second, from_us, to_us,
                                          [&](const postings::Entry& e) {
                                            matches.push_back(Match{e.ts, e.event, std::string(e.unit)});
                                          }));
    for (std::size_t k = 1; k < scope.size() && !matches.empty(); ++k) {
      std::unordered_set<std::int64_t> events;
      SHEWHART_RETURN_IF_ERROR(ScanPostings(q, postings::KindOf(scope[k].first), scope[k].second, from_us, to_us,
                                            [&](const postings::Entry& e) { events.insert(e.event); }));
      matches.erase(
          std::remove_if(matches.begin(), matches.end(), [&](const Match& m) { return events.count(m.event) == 0; }),
          matches.end());
    }
    return Status::Ok();
  };
  Status st = run();
  (void)CommitTx();
  if (!st.ok()) return st;
  // Each unit once, at its earliest matching record; ordered by that time, then serial.
  std::sort(matches.begin(), matches.end(), [](const Match& a, const Match& b) {
    return a.ts != b.ts ? a.ts < b.ts : a.unit < b.unit;
  });
  std::vector<WindowUnit> out;
  std::unordered_set<std::string_view> seen;
  for (const Match& m : matches) {
    if (seen.insert(m.unit).second) out.push_back(WindowUnit{m.unit, FromUnixMicros(m.ts)});
  }
  return out;
}

}  // namespace shewhart::engine
