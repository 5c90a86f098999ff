#include "trace.h"

#include "cli_util.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "shewhart/engine/store/store.h"
#include "shewhart/engine/model/time_format.h"
#include "shewhart/engine/api/trace_api.h"
#include "shewhart/engine/model/json.h"

namespace shewhart::app {

namespace {

constexpr int kExitOk = 0;
constexpr int kExitNothing = 1;
constexpr int kExitUsage = 2;

using engine::Json;

std::string JoinLots(const std::vector<std::string>& lots) {
  std::string s;
  for (const auto& l : lots) s += (s.empty() ? "" : ";") + l;
  return s;
}

const char* Plural(std::size_t n, const char* one, const char* many) { return n == 1 ? one : many; }

}  // namespace

int TraceBackward(const TraceCommand& cmd) {
  auto store = OpenExistingStore(cmd.store_path, "trace backward");
  if (!store) return kExitUsage;
  auto t = store->TraceBackward(cmd.serial);
  if (!t.ok()) {
    std::fprintf(stderr, "shewhart trace backward: %s\n", t.status().message().c_str());
    return t.status().code() == StatusCode::kNotFound ? kExitNothing : kExitUsage;
  }
  engine::TracedUnit self{t->serial, 0, "", {}, t->route};
  struct Entry {
    const engine::TracedUnit* unit;
    const char* relation;
  };
  std::vector<Entry> entries{{&self, "unit"}};
  for (const auto& u : t->ancestors) entries.push_back({&u, "ancestor"});
  for (const auto& u : t->descendants) entries.push_back({&u, "descendant"});
  if (cmd.json) {
    for (const Entry& e : entries) {
      Json j{{"serial", e.unit->serial}, {"relation", e.relation}, {"depth", e.unit->depth}};
      if (!e.unit->via.empty()) j["via"] = e.unit->via;
      Json route = Json::array();
      for (const auto& r : e.unit->route) route.push_back(engine::RouteStepJson(r));
      j["route"] = std::move(route);
      std::printf("%s\n", j.dump(-1, ' ', false, engine::kReplaceInvalidUtf8).c_str());
    }
  } else {
    std::vector<std::vector<std::string>> rows;
    for (const Entry& e : entries) {
      const auto& u = *e.unit;
      std::vector<std::string> head{u.serial, e.relation, std::to_string(u.depth), u.via};
      if (u.route.empty()) {
        head.insert(head.end(), {"-", "(no records)", "", "", "", ""});
        rows.push_back(std::move(head));
      }
      for (const auto& r : u.route) {
        std::vector<std::string> row = head;
        row.insert(row.end(), {r.station, engine::FormatRfc3339(r.ts), r.machine, r.op, JoinLots(r.lots), r.parent});
        rows.push_back(std::move(row));
      }
    }
    PrintTable({"UNIT", "RELATION", "DEPTH", "VIA", "STATION", "TS", "MACHINE", "OPERATOR", "LOTS", "PARENT"}, rows);
    std::printf("%s: %zu record%s, %zu ancestor%s, %zu descendant%s\n", t->serial.c_str(), t->route.size(),
                Plural(t->route.size(), "", "s"), t->ancestors.size(), Plural(t->ancestors.size(), "", "s"),
                t->descendants.size(), Plural(t->descendants.size(), "", "s"));
  }
  if (t->truncated) {
    std::fprintf(stderr, "shewhart trace backward: links go deeper than %d levels (bad data?); the rest is left out\n",
                 engine::kTraceMaxDepth);
  }
  return kExitOk;
}

int TraceForward(const TraceCommand& cmd) {
  if (cmd.lot.empty()) {
    std::fprintf(stderr, "shewhart trace forward: give --lot L\n");
    return kExitUsage;
  }
  auto store = OpenExistingStore(cmd.store_path, "trace forward");
  if (!store) return kExitUsage;
  auto t = store->TraceForward(cmd.lot);
  if (!t.ok()) {
    std::fprintf(stderr, "shewhart trace forward: %s\n", t.status().message().c_str());
    return kExitUsage;
  }
  const auto& units = t->reached.units;
  const std::size_t direct = static_cast<std::size_t>(
      std::count_if(units.begin(), units.end(), [](const engine::TracedUnit& u) { return u.depth == 0; }));
  if (cmd.json) {
    for (const auto& u : units) {
      Json j{{"lot", t->lot}};
      const Json unit = engine::TracedUnitJson(u, false);
      for (const auto& [k, v] : unit.items()) j[k] = v;
      std::printf("%s\n", j.dump(-1, ' ', false, engine::kReplaceInvalidUtf8).c_str());
    }
  } else {
    std::vector<std::vector<std::string>> rows;
    for (const auto& u : units) {
      rows.push_back({u.serial, std::to_string(u.depth), u.via, u.depth == 0 ? engine::FormatRfc3339(u.ts) : ""});
    }
    PrintTable({"SERIAL", "DEPTH", "VIA", "FIRST_USE"}, rows);
    std::printf("lot %s: %zu unit%s consumed it, %zu assembl%s contain%s them\n", t->lot.c_str(), direct,
                Plural(direct, "", "s"), units.size() - direct, Plural(units.size() - direct, "y", "ies"),
                Plural(units.size() - direct, "s", ""));
  }
  if (t->reached.truncated) {
    std::fprintf(stderr, "shewhart trace forward: links go deeper than %d levels (bad data?); the rest is left out\n",
                 engine::kTraceMaxDepth);
  }
  if (units.empty()) {
    std::fprintf(stderr, "shewhart trace forward: no unit consumed lot '%s'\n", cmd.lot.c_str());
    return kExitNothing;
  }
  return kExitOk;
}

int TraceWindow(const TraceCommand& cmd) {
  engine::ScopeLabels scope;
  if (!cmd.station.empty()) scope.emplace_back(engine::ScopeKey::kStation, cmd.station);
  if (!cmd.machine.empty()) scope.emplace_back(engine::ScopeKey::kMachine, cmd.machine);
  if (!cmd.lot.empty()) scope.emplace_back(engine::ScopeKey::kLot, cmd.lot);
  if (!cmd.op.empty()) scope.emplace_back(engine::ScopeKey::kOperator, cmd.op);
  if (scope.empty()) {
    std::fprintf(stderr,
                 "shewhart trace window: give a scope: --station, --machine, --lot and/or --operator, each with a "
                 "non-empty value\n");
    return kExitUsage;
  }
  auto from = engine::ParseRfc3339(cmd.from);
  if (!from) {
    std::fprintf(stderr, "shewhart trace window: bad --from time '%s': expected RFC 3339, e.g. 2026-11-27T08:00:00Z\n",
                 cmd.from.c_str());
    return kExitUsage;
  }
  engine::EventTime to = engine::EventTime::max();
  if (!cmd.to.empty()) {
    auto parsed = engine::ParseRfc3339(cmd.to);
    if (!parsed) {
      std::fprintf(stderr, "shewhart trace window: bad --to time '%s': expected RFC 3339, e.g. 2026-11-27T09:00:00Z\n",
                   cmd.to.c_str());
      return kExitUsage;
    }
    to = *parsed;
  }
  auto store = OpenExistingStore(cmd.store_path, "trace window");
  if (!store) return kExitUsage;
  auto units = store->UnitsInWindow(scope, *from, to);
  if (!units.ok()) {
    std::fprintf(stderr, "shewhart trace window: %s\n", units.status().message().c_str());
    return kExitUsage;
  }
  if (cmd.json) {
    for (const auto& u : *units) {
      std::printf("%s\n", Json{{"serial", u.serial}, {"first", engine::FormatRfc3339(u.first)}}
                              .dump(-1, ' ', false, engine::kReplaceInvalidUtf8)
                              .c_str());
    }
  } else {
    std::vector<std::vector<std::string>> rows;
    for (const auto& u : *units) rows.push_back({u.serial, engine::FormatRfc3339(u.first)});
    PrintTable({"SERIAL", "FIRST"}, rows);
    std::printf("%zu unit%s in %s from %s %s\n", units->size(), Plural(units->size(), "", "s"),
                engine::FormatScope(scope).c_str(), engine::FormatRfc3339(*from).c_str(),
                cmd.to.empty() ? "on (no end)" : ("to " + engine::FormatRfc3339(to) + " (exclusive)").c_str());
  }
  if (units->empty()) {
    std::fprintf(stderr, "shewhart trace window: no unit in %s in that window\n", engine::FormatScope(scope).c_str());
    return kExitNothing;
  }
  return kExitOk;
}

}  // namespace shewhart::app
