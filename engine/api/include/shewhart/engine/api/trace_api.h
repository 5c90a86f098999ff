#pragma once
// Genealogy documents (JSON) and the GET /api/trace/... endpoints over the store's trace
// queries (store.h: TraceBackward, TraceForward, UnitsInWindow). The documents are a public
// format (docs/API.md): keys keep the order written here.

#include <string>
#include <string_view>
#include <vector>

#include "shewhart/engine/model/json.h"
#include "shewhart/engine/model/percent.h"  // PercentDecode, for the serial in the path
#include "shewhart/engine/store/store.h"

namespace shewhart::engine {

// {"station","ts","machine","operator","lots":[...],"model","parent"}, plus
// "from_measurement":true for a record made from a measurement's context.
Json RouteStepJson(const RouteStep& r);
// {"serial","depth"} then "via" when not empty, "ts" for a lot's direct consumer (depth 0 of
// a forward trace), "route" when `with_route`.
Json TracedUnitJson(const TracedUnit& u, bool with_route);
// {"serial","route":[...],"ancestors":[...],"descendants":[...],"truncated"}
Json BackwardTraceJson(const BackwardTrace& t);
// {"lot","units":[...],"truncated"}
Json ForwardTraceJson(const ForwardTrace& t);
// {"scope":{...},"from","to" (null for no end),"units":[{"serial","first"}...]}
Json WindowJson(const ScopeLabels& scope, EventTime from, EventTime to, const std::vector<WindowUnit>& units);

struct TraceApiAnswer {
  int status = 200;
  std::string body;  // JSON: the document, or {"error": message}
};

// Answers GET /api/trace/backward/{serial}, /api/trace/forward?lot=L and
// /api/trace/window?station=S&from=T1[&to=T2] (also machine=, lot=, operator=, combined: a
// record must match them all; at least one). `target` is the path (starting "/api/trace/"),
// `query` the raw query string. Times are RFC 3339; `from` is inclusive and `to` exclusive
// (absent: no end). 400 names the bad or missing parameter, 404 an unknown serial or endpoint,
// 503 a store error. Thread-safe (the store is).
TraceApiAnswer TraceApi(Store& store, const std::string& target, const std::string& query);

}  // namespace shewhart::engine
