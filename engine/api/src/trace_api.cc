#include "shewhart/engine/api/trace_api.h"

#include <optional>
#include <utility>

#include "shewhart/engine/api/query.h"
#include "shewhart/engine/model/percent.h"
#include "shewhart/engine/model/time_format.h"
#include "shewhart/engine/store/record_json.h"

namespace shewhart::engine {

Json RouteStepJson(const RouteStep& r) {
  Json j{{"station", r.station}, {"ts", FormatRfc3339(r.ts)}, {"machine", r.machine}, {"operator", r.op},
         {"lots", r.lots},       {"model", r.model},           {"parent", r.parent}};
  if (r.from_measurement) j["from_measurement"] = true;
  return j;
}

Json TracedUnitJson(const TracedUnit& u, bool with_route) {
  Json j{{"serial", u.serial}, {"depth", u.depth}};
  if (!u.via.empty()) j["via"] = u.via;
  if (u.depth == 0 && !with_route) j["ts"] = FormatRfc3339(u.ts);
  if (with_route) {
    Json route = Json::array();
    for (const RouteStep& r : u.route) route.push_back(RouteStepJson(r));
    j["route"] = std::move(route);
  }
  return j;
}

Json BackwardTraceJson(const BackwardTrace& t) {
  Json route = Json::array(), ancestors = Json::array(), descendants = Json::array();
  for (const RouteStep& r : t.route) route.push_back(RouteStepJson(r));
  for (const TracedUnit& u : t.ancestors) ancestors.push_back(TracedUnitJson(u, true));
  for (const TracedUnit& u : t.descendants) descendants.push_back(TracedUnitJson(u, true));
  return Json{{"serial", t.serial},
              {"route", std::move(route)},
              {"ancestors", std::move(ancestors)},
              {"descendants", std::move(descendants)},
              {"truncated", t.truncated}};
}

Json ForwardTraceJson(const ForwardTrace& t) {
  Json units = Json::array();
  for (const TracedUnit& u : t.reached.units) units.push_back(TracedUnitJson(u, false));
  return Json{{"lot", t.lot}, {"units", std::move(units)}, {"truncated", t.reached.truncated}};
}

Json WindowJson(const ScopeLabels& scope, EventTime from, EventTime to, const std::vector<WindowUnit>& units) {
  Json arr = Json::array();
  for (const WindowUnit& u : units) arr.push_back(Json{{"serial", u.serial}, {"first", FormatRfc3339(u.first)}});
  return Json{{"scope", ScopeJson(scope)},
              {"from", FormatRfc3339(from)},
              {"to", to == EventTime::max() ? Json(nullptr) : Json(FormatRfc3339(to))},
              {"units", std::move(arr)}};
}

namespace {

TraceApiAnswer Error(int status, const std::string& message) {
  return {status, Json{{"error", message}}.dump(-1, ' ', false, kReplaceInvalidUtf8)};
}

// The query string's parameters, decoded, in order; nullopt (with `error` set) for a bad one.
std::optional<std::vector<std::pair<std::string, std::string>>> ParseQuery(const std::string& query,
                                                                           std::string& error) {
  std::vector<QueryParam> params;
  if (!ParseQueryParams(query, params, error)) return std::nullopt;
  std::vector<std::pair<std::string, std::string>> out;
  for (QueryParam& p : params) {
    if (!p.has_value) {
      error = "query parameter '" + p.name + "' has no value (expected " + p.name + "=...)";
      return std::nullopt;
    }
    out.emplace_back(std::move(p.name), std::move(p.value));
  }
  return out;
}

TraceApiAnswer Backward(Store& store, std::string_view rest) {
  std::string serial;
  if (!PercentDecode(rest, serial)) return Error(400, "bad percent-encoding in serial '" + std::string(rest) + "'");
  if (serial.empty()) return Error(400, "missing serial: GET /api/trace/backward/{serial}");
  auto t = store.TraceBackward(serial);
  if (!t.ok()) return Error(t.status().code() == StatusCode::kNotFound ? 404 : 503, t.status().message());
  return {200, BackwardTraceJson(*t).dump(-1, ' ', false, kReplaceInvalidUtf8)};
}

TraceApiAnswer Forward(Store& store, const std::string& query) {
  std::string error;
  auto params = ParseQuery(query, error);
  if (!params) return Error(400, error);
  std::optional<std::string> lot;
  for (const auto& [k, v] : *params) {
    if (k != "lot") return Error(400, "unknown query parameter '" + k + "' (expected lot=L)");
    lot = v;
  }
  if (!lot || lot->empty()) return Error(400, "missing query parameter 'lot': GET /api/trace/forward?lot=L");
  auto t = store.TraceForward(*lot);
  if (!t.ok()) return Error(503, t.status().message());
  return {200, ForwardTraceJson(*t).dump(-1, ' ', false, kReplaceInvalidUtf8)};
}

TraceApiAnswer Window(Store& store, const std::string& query) {
  std::string error;
  auto params = ParseQuery(query, error);
  if (!params) return Error(400, error);
  ScopeLabels scope;
  std::optional<EventTime> from;
  EventTime to = EventTime::max();
  for (const auto& [k, v] : *params) {
    if (k == "from" || k == "to") {
      auto ts = ParseRfc3339(v);
      if (!ts) return Error(400, "bad '" + k + "' time '" + v + "': expected RFC 3339, e.g. 2026-11-27T08:00:00Z");
      if (k == "from") {
        from = *ts;
      } else {
        to = *ts;
      }
    } else if (k == "station" || k == "machine" || k == "lot" || k == "operator") {
      if (v.empty()) return Error(400, "empty query parameter '" + k + "'");
      const ScopeKey key = k == "station" ? ScopeKey::kStation
                           : k == "machine" ? ScopeKey::kMachine
                           : k == "lot"     ? ScopeKey::kLot
                                            : ScopeKey::kOperator;
      scope.emplace_back(key, v);
    } else {
      return Error(400, "unknown query parameter '" + k + "' (expected station, machine, lot, operator, from, to)");
    }
  }
  if (scope.empty()) {
    return Error(400, "missing scope: give at least one of station=, machine=, lot=, operator=");
  }
  if (!from) return Error(400, "missing query parameter 'from' (RFC 3339, e.g. 2026-11-27T08:00:00Z)");
  auto units = store.UnitsInWindow(scope, *from, to);
  if (!units.ok()) {
    return Error(units.status().code() == StatusCode::kInvalidArgument ? 400 : 503, units.status().message());
  }
  return {200, WindowJson(scope, *from, to, *units).dump(-1, ' ', false, kReplaceInvalidUtf8)};
}

}  // namespace

TraceApiAnswer TraceApi(Store& store, const std::string& target, const std::string& query) {
  constexpr std::string_view kBackward = "/api/trace/backward/";
  if (target.rfind(kBackward, 0) == 0) {
    if (!query.empty()) return Error(400, "GET /api/trace/backward/{serial} takes no query parameters");
    return Backward(store, std::string_view(target).substr(kBackward.size()));
  }
  if (target == "/api/trace/forward") return Forward(store, query);
  if (target == "/api/trace/window") return Window(store, query);
  return Error(404, "no such endpoint: " + target +
                        " (try /api/trace/backward/{serial}, /api/trace/forward?lot=L, "
                        "/api/trace/window?station=S&from=T1&to=T2)");
}

}  // namespace shewhart::engine
