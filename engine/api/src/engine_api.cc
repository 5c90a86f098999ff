#include "shewhart/engine/api/engine_api.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <set>

#include "shewhart/engine/api/query.h"
#include "shewhart/engine/api/trace_api.h"
#include "shewhart/engine/model/time_format.h"
#include "shewhart/engine/pipeline/chart_runner.h"
#include "shewhart/engine/pipeline/signal_json.h"
#include "shewhart/engine/respond/silence.h"
#include "shewhart/engine/store/record_json.h"

namespace shewhart::engine {

namespace {
// Lists are pages (docs/API.md "Paging"): newest first, `limit` (default 100, at most 1000) and
// `before` = the previous page's "next" (an id); "next" is null on the last page. A page is
// bounded, so no listing holds the server thread (and the interlock behind it) long.
struct Page {
  std::map<std::string, std::string> params;
  std::string bad;
  int limit = 0;
  std::int64_t before = 0;
  bool Parse(const std::string& query, std::initializer_list<std::string_view> allowed) {
    return ParseQuery(query, allowed, params, bad) && PageParams(params, 100, 1000, limit, before, bad);
  }
  Json Next(std::size_t got, std::int64_t last_id) const {
    return got == static_cast<std::size_t>(limit) ? Json(last_id) : Json(nullptr);
  }
};

// The answer of a list endpoint: {"<name>": [to_json(row)...], "next": the last row's id on a full
// page, else null}; 503 when the store failed.
template <class Rows, class ToJson>
ApiResponse PageAnswer(const char* name, const Page& page, const Rows& rows, ToJson to_json) {
  if (!rows.ok()) return ApiError(503, rows.status().message());
  Json arr = Json::array();
  for (const auto& row : *rows) arr.push_back(to_json(row));
  const std::int64_t last = rows->empty() ? 0 : rows->back().id;
  return ApiResponse{200, "application/json",
                     Json{{name, std::move(arr)}, {"next", page.Next(rows->size(), last)}}.dump(
                         -1, ' ', false, kReplaceInvalidUtf8)};
}

ApiResponse JsonAnswer(const Json& doc, int status = 200) {
  return ApiResponse{status, "application/json", doc.dump(-1, ' ', false, kReplaceInvalidUtf8)};
}
}  // namespace

EngineApi::EngineApi(ApiParts parts)
    : config_(*parts.config),
      index_(*parts.index),
      store_(*parts.store),
      metrics_(*parts.metrics),
      responder_(*parts.responder),
      on_responder_(std::move(parts.on_responder)),
      health_(std::move(parts.health)),
      summary_(std::move(parts.summary)),
      audit_(std::move(parts.audit)),
      tokens_(std::move(parts.tokens)) {
  using M = RouteTable::Methods;
  // Changes (and their resources): the handlers check the method and the token.
  routes_.Add("/api/alarms/", M::kAny, [this](const ApiRequest& r) {
    return AlarmApi(r.method, r.rest, r.body, r.authorization);
  });
  routes_.Add("/api/holds/", M::kAny, [this](const ApiRequest& r) {
    return HoldApi(r.method, r.rest, r.query, r.body, r.authorization);
  });
  routes_.Add("/api/units/", M::kAny, [this](const ApiRequest& r) { return UnitApi(r.method, r.rest); });
  auto silences = [this](const ApiRequest& r) {
    return SilenceApi(r.method, r.target.substr(std::string_view("/api/silences").size()), r.body, r.authorization);
  };
  routes_.Add("/api/silences", M::kAny, silences);
  routes_.Add("/api/silences/", M::kAny, silences);
  // Reads.
  routes_.Add("/metrics", M::kGet, [this](const ApiRequest&) {
    return ApiResponse{200, "text/plain; version=0.0.4; charset=utf-8", metrics_.Render()};
  });
  routes_.Add("/health", M::kGet, [this](const ApiRequest&) {
    bool healthy;
    std::string body = health_(healthy);
    return ApiResponse{healthy ? 200 : 503, "application/json", std::move(body)};
  });
  routes_.Add("/api/alarms", M::kGet, [this](const ApiRequest& r) { return AlarmList(r.query); });
  routes_.Add("/api/holds", M::kGet, [this](const ApiRequest& r) { return HoldList(r.query); });
  routes_.Add("/api/characteristics", M::kGet, [this](const ApiRequest&) {
    Json arr = Json::array();
    for (std::size_t i = 0; i < config_.characteristics.size(); ++i) arr.push_back(CharacteristicJson(i));
    return JsonAnswer(Json{{"characteristics", arr}});
  });
  routes_.Add("/api/characteristics/", M::kGet, [this](const ApiRequest& r) {
    const std::int64_t i = index_.Find(r.rest);
    if (i < 0) return ApiError(404, "no characteristic '" + r.rest + "'");
    return JsonAnswer(CharacteristicJson(static_cast<std::size_t>(i)));
  });
  routes_.Add("/api/rejects", M::kGet, [this](const ApiRequest& r) { return RejectList(r.query); });
  routes_.Add("/api/deliveries", M::kGet, [this](const ApiRequest& r) { return DeliveryList(r.query); });
  // Genealogy (trace_api.h); the store is thread-safe.
  routes_.Add("/api/trace/", M::kGet, [this](const ApiRequest& r) {
    TraceApiAnswer answer = TraceApi(store_, r.target, r.query);
    return ApiResponse{answer.status, "application/json", std::move(answer.body)};
  });
  routes_.SetNotFoundHint(
      "try /metrics, /health, /api/characteristics, /api/alarms, /api/holds, /api/units/SERIAL, /api/rejects, "
      "/api/deliveries, /api/silences, /api/trace/...");
}

ApiResponse EngineApi::AlarmList(const std::string& query) const {
  Page page;
  if (!page.Parse(query, {"limit", "before"})) return ApiError(400, page.bad);
  return PageAnswer("alarms", page, store_.ListAlarms(false, page.limit, page.before), AlarmJson);
}

// The holds with their counts; their units are listed by /api/holds/ID, page by page.
ApiResponse EngineApi::HoldList(const std::string& query) const {
  Page page;
  if (!page.Parse(query, {"limit", "before"})) return ApiError(400, page.bad);
  return PageAnswer("holds", page, store_.ListHoldsPage(page.before, page.limit), [](const HoldRecord& h) {
    Json j = HoldJson(h, {});
    j.erase("units");
    j["units"] = h.units;
    j["held"] = h.held;
    return j;
  });
}

ApiResponse EngineApi::RejectList(const std::string& query) const {
  Page page;
  if (!page.Parse(query, {"limit", "before"})) return ApiError(400, page.bad);
  return PageAnswer("rejects", page, store_.ListRejects(page.limit, page.before), RejectJson);
}

ApiResponse EngineApi::DeliveryList(const std::string& query) const {
  Page page;
  if (!page.Parse(query, {"state", "limit", "before"})) return ApiError(400, page.bad);
  const std::string state = page.params.count("state") ? page.params["state"] : "";
  if (!state.empty() && state != "pending" && state != "delivered" && state != "dead") {
    return ApiError(400, "unknown delivery state '" + state + "' (expected pending, delivered or dead)");
  }
  return PageAnswer("deliveries", page,
                    store_.ListDeliveries(state, page.limit, /*oldest_first=*/false, page.before), DeliveryJson);
}

ApiResponse EngineApi::AlarmApi(const std::string& method, const std::string& rest, const std::string& body,
                                     const std::string& authorization) const {
  // rest: "ID", "ID/ack" or "ID/resolve"
  IdPath path;
  if (!ParseIdPath(rest, path)) return ApiError(404, "no alarm '" + path.id_text + "' (alarm ids are positive integers)");
  const std::string& id_text = path.id_text;
  const std::string& verb = path.verb;
  const std::int64_t id = path.id;
  if (verb.empty()) {
    if (method != "GET") return ApiError(405, "method " + method + " is not allowed on /api/alarms/" + id_text);
    auto a = store_.GetAlarm(id);
    if (!a.ok()) {
      return a.status().code() == StatusCode::kNotFound ? ApiError(404, a.status().message())
                                                        : ApiError(503, a.status().message());
    }
    auto actions = store_.ListAlarmActions(id);
    if (!actions.ok()) return ApiError(503, actions.status().message());
    Json j = AlarmJson(*a);
    Json arr = Json::array();
    for (const auto& act : *actions) {
      Json x{{"kind", act.kind}, {"ts", FormatRfc3339(act.ts)}, {"user", act.user}};
      if (!act.cause.empty()) x["cause"] = act.cause;
      if (!act.action.empty()) x["action"] = act.action;
      if (!act.note.empty()) x["note"] = act.note;
      arr.push_back(std::move(x));
    }
    j["actions"] = std::move(arr);
    return {200, "application/json", j.dump(-1, ' ', false, kReplaceInvalidUtf8)};
  }
  if (verb != "ack" && verb != "resolve") return ApiError(404, "no such endpoint: /api/alarms/" + rest);
  if (method != "POST")
    return ApiError(405, "method " + method + " is not allowed on /api/alarms/" + rest + " (use POST)");
  std::string user;
  if (auto refused = Authenticate(authorization, user)) return *refused;
  Json in;
  try {
    in = Json::parse(body.empty() ? std::string("{}") : body);
  } catch (const std::exception& e) {
    return ApiError(400, std::string("the body is not JSON: ") + e.what());
  }
  if (!in.is_object()) return ApiError(400, "the body must be a JSON object");
  AlarmAction act;
  act.alarm_id = id;
  act.kind = verb == "ack" ? "acknowledged" : "resolved";
  act.ts = WallClock();
  act.user = user;
  const std::vector<std::string> allowed =
      verb == "ack" ? std::vector<std::string>{"cause", "action", "note"} : std::vector<std::string>{"note"};
  for (auto it = in.begin(); it != in.end(); ++it) {
    if (std::find(allowed.begin(), allowed.end(), it.key()) == allowed.end()) {
      return ApiError(400, "unknown field '" + it.key() + "'");
    }
    if (!it.value().is_string()) return ApiError(400, "field '" + it.key() + "' must be a string");
  }
  auto code = [&](const char* field, const std::vector<std::string>& codes, std::string& out) -> std::string {
    if (!in.contains(field)) return std::string("missing field '") + field + "'";
    out = in[field].get<std::string>();
    if (std::find(codes.begin(), codes.end(), out) != codes.end()) return "";
    std::string list;
    for (const auto& c : codes) list += (list.empty() ? "" : ", ") + c;
    return std::string("unknown ") + field + " code '" + out + "'; the config's codes." +
           (std::string(field) == "cause" ? "causes" : "actions") + ": " + list;
  };
  if (verb == "ack") {
    if (auto msg = code("cause", config_.cause_codes, act.cause); !msg.empty()) return ApiError(400, msg);
    if (auto msg = code("action", config_.action_codes, act.action); !msg.empty()) return ApiError(400, msg);
  }
  if (in.contains("note")) act.note = in["note"].get<std::string>();
  return on_responder_([this, id, act] { return responder_.Request([&] { return responder_.Act(id, act); }); });
}

std::optional<ApiResponse> EngineApi::Authenticate(const std::string& authorization, std::string& user) const {
  const std::string prefix = "Bearer ";
  if (authorization.rfind(prefix, 0) != 0) {
    return ApiError(401, "missing 'Authorization: Bearer <token>' (tokens are listed in the file http.tokens names)");
  }
  auto it = tokens_.find(authorization.substr(prefix.size()));
  if (it == tokens_.end()) return ApiError(401, "unknown token");
  user = it->second;
  return std::nullopt;
}

ApiResponse EngineApi::SilenceApi(const std::string& method, const std::string& rest, const std::string& body,
                                       const std::string& authorization) const {
  const EventTime now = responder_.clock();
  if (rest.empty() || rest == "/") {
    if (method == "GET") {
      auto silences = store_.ListSilences(1000);
      if (!silences.ok()) return ApiError(503, silences.status().message());
      Json arr = Json::array();
      for (const auto& silence : *silences) arr.push_back(SilenceJson(silence, now));
      return {200, "application/json", Json{{"silences", arr}}.dump(-1, ' ', false, kReplaceInvalidUtf8)};
    }
    if (method != "POST") return ApiError(405, "method " + method + " is not allowed on /api/silences (use GET or POST)");
    std::string user;
    if (auto refused = Authenticate(authorization, user)) return *refused;
    auto silence = ParseSilenceRequest(body, config_, now, WallClock());
    if (!silence.ok()) return ApiError(400, silence.status().message());
    silence->created_by = user;
    auto id = store_.InsertSilence(*silence);
    if (!id.ok()) return ApiError(503, id.status().message());
    silence->id = *id;
    const Json doc = SilenceJson(*silence, now);
    (void)audit_("silence.created", "silence/" + std::to_string(*id), doc, user);
    spdlog::info("silence {} created by {}: {} from {} to {} ({})", *id, user,
                 doc["matchers"].dump(-1, ' ', false, kReplaceInvalidUtf8), FormatRfc3339(silence->starts),
                 FormatRfc3339(silence->ends), silence->comment);
    return {201, "application/json", doc.dump(-1, ' ', false, kReplaceInvalidUtf8)};
  }
  // "/ID" or "/ID/expire"
  IdPath path;
  if (!ParseIdPath(rest.substr(1), path)) {
    return ApiError(404, "no silence '" + path.id_text + "' (silence ids are positive integers)");
  }
  const std::string& verb = path.verb;
  const std::int64_t id = path.id;
  if (!verb.empty() && verb != "expire") return ApiError(404, "no such endpoint: /api/silences" + rest);
  const bool expire = (verb.empty() && method == "DELETE") || (verb == "expire" && method == "POST");
  if (!expire) {
    if (!verb.empty())
      return ApiError(405, "method " + method + " is not allowed on /api/silences" + rest + " (use POST)");
    if (method != "GET") {
      return ApiError(405, "method " + method + " is not allowed on /api/silences" + rest + " (use GET or DELETE)");
    }
    auto silence = store_.GetSilence(id);
    if (!silence.ok()) {
      return ApiError(silence.status().code() == StatusCode::kNotFound ? 404 : 503, silence.status().message());
    }
    return {200, "application/json", SilenceJson(*silence, now).dump(-1, ' ', false, kReplaceInvalidUtf8)};
  }
  std::string user;
  if (auto refused = Authenticate(authorization, user)) return *refused;
  auto silence = store_.ExpireSilence(id, now, user, WallClock());
  if (!silence.ok()) {
    const StatusCode code = silence.status().code();
    return ApiError(code == StatusCode::kNotFound ? 404 : code == StatusCode::kFailedPrecondition ? 409 : 503,
                 silence.status().message());
  }
  const Json doc = SilenceJson(*silence, now);
  (void)audit_("silence.expired", "silence/" + std::to_string(id), doc, user);
  spdlog::info("silence {} expired by {}", id, user);
  return {200, "application/json", doc.dump(-1, ' ', false, kReplaceInvalidUtf8)};
}

ApiResponse EngineApi::HoldApi(const std::string& method, const std::string& rest, const std::string& query,
                                    const std::string& body,
                                    const std::string& authorization) const {
  // rest: "ID" or "ID/dispose"
  IdPath path;
  if (!ParseIdPath(rest, path)) return ApiError(404, "no hold '" + path.id_text + "' (hold ids are positive integers)");
  const std::string& verb = path.verb;
  const std::int64_t id = path.id;
  if (!verb.empty() && verb != "dispose") return ApiError(404, "no such endpoint: /api/holds/" + rest);
  const bool get = verb.empty();
  if (get && method != "GET") return ApiError(405, "method " + method + " is not allowed on /api/holds/" + rest);
  if (!get && method != "POST") {
    return ApiError(405, "method " + method + " is not allowed on /api/holds/" + rest + " (use POST)");
  }
  std::string user;
  if (!get) {
    if (auto refused = Authenticate(authorization, user)) return *refused;
  }
  auto hold = store_.GetHold(id);
  if (!hold.ok()) {
    return hold.status().code() == StatusCode::kNotFound ? ApiError(404, hold.status().message())
                                                         : ApiError(503, hold.status().message());
  }
  if (get) {
    // Its units a page at a time, in serial order: `limit` (default 1000, at most 10000) and
    // `after` = the previous page's "next" (a serial); its dispositions likewise, oldest first,
    // `dispositions_after` = the previous page's "dispositions_next" (an id).
    std::map<std::string, std::string> params;
    std::string bad;
    int limit = 1000;
    std::int64_t unused = 0;
    if (!ParseQuery(query, {"limit", "after", "dispositions_after"}, params, bad) ||
        !PageParams(params, 1000, 10000, limit, unused, bad)) {
      return ApiError(400, bad);
    }
    std::int64_t dispositions_after = 0;
    if (auto it = params.find("dispositions_after"); it != params.end()) {
      auto [ptr, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), dispositions_after);
      if (ec != std::errc() || ptr != it->second.data() + it->second.size() || dispositions_after < 0) {
        return ApiError(400, "dispositions_after must be an id (the previous page's \"dispositions_next\"), found '" +
                              it->second + "'");
      }
    }
    auto units = store_.HeldUnitsBySerial(id, params.count("after") ? params["after"] : "", limit);
    if (!units.ok()) return ApiError(503, units.status().message());
    auto dispositions = store_.ListDispositions(id, dispositions_after, limit);
    if (!dispositions.ok()) return ApiError(503, dispositions.status().message());
    Json j = HoldJson(*hold, *units);
    j["held"] = hold->held;
    j["unit_count"] = hold->units;
    j["next"] = units->size() == static_cast<std::size_t>(limit) ? Json(units->back().serial) : Json(nullptr);
    Json arr = Json::array();
    for (const auto& d : *dispositions) arr.push_back(DispositionJson(d));
    j["dispositions"] = std::move(arr);
    j["dispositions_next"] =
        dispositions->size() == static_cast<std::size_t>(limit) ? Json(dispositions->back().id) : Json(nullptr);
    return {200, "application/json", j.dump(-1, ' ', false, kReplaceInvalidUtf8)};
  }
  Json in;
  try {
    in = Json::parse(body.empty() ? std::string("{}") : body);
  } catch (const std::exception& e) {
    return ApiError(400, std::string("the body is not JSON: ") + e.what());
  }
  if (!in.is_object()) return ApiError(400, "the body must be a JSON object");
  for (auto it = in.begin(); it != in.end(); ++it) {
    const std::string& k = it.key();
    if (k == "state" || k == "reason" || k == "meaning" || k == "note") {
      if (!it.value().is_string()) return ApiError(400, "field '" + k + "' must be a string");
    } else if (k == "serials" || k == "exclude") {
      if (!it.value().is_array()) return ApiError(400, "field '" + k + "' must be a list of serials");
      for (const auto& v : it.value()) {
        if (!v.is_string() || v.get<std::string>().empty())
          return ApiError(400, "field '" + k + "' must list non-empty strings");
      }
    } else if (k == "all") {
      if (!it.value().is_boolean()) return ApiError(400, "field 'all' must be true or false");
    } else {
      return ApiError(400, "unknown field '" + k + "' (expected state, reason, meaning, note, serials, all, exclude)");
    }
  }
  Disposition d;
  d.hold_id = id;
  d.user = user;
  d.ts = WallClock();
  auto pick = [&](const char* field, const std::vector<std::string>& allowed, const char* list_name,
                  std::string& out) -> std::string {
    if (!in.contains(field)) return std::string("missing field '") + field + "'";
    out = in[field].get<std::string>();
    if (std::find(allowed.begin(), allowed.end(), out) != allowed.end()) return "";
    std::string list;
    for (const auto& c : allowed) list += (list.empty() ? "" : ", ") + c;
    return std::string("unknown ") + field + " '" + out + "'; " + list_name + ": " + list;
  };
  static const std::vector<std::string> kStates{"released", "reworked", "scrapped"};
  if (auto msg = pick("state", kStates, "a disposition is one of", d.state); !msg.empty()) return ApiError(400, msg);
  if (auto msg = pick("reason", config_.disposition_codes, "the config's codes.dispositions", d.reason); !msg.empty()) {
    return ApiError(400, msg);
  }
  if (auto msg = pick("meaning", config_.signature_meanings, "the config's codes.meanings", d.meaning); !msg.empty()) {
    return ApiError(400, msg);
  }
  if (in.contains("note")) d.note = in["note"].get<std::string>();
  const bool all = in.value("all", false);
  if (all == in.contains("serials")) {
    return ApiError(400, "give either 'serials' (the units to dispose of) or \"all\": true (every unit still held, "
                      "less 'exclude')");
  }
  if (in.contains("exclude") && !all) return ApiError(400, "'exclude' goes with \"all\": true");
  std::vector<std::string> serials;
  if (all) {
    auto units = store_.ListHeldUnits(id);
    if (!units.ok()) return ApiError(503, units.status().message());
    std::set<std::string> exclude;
    for (const auto& v : in.value("exclude", Json::array())) exclude.insert(v.get<std::string>());
    for (const std::string& x : exclude) {
      bool found = false;
      for (const auto& u : *units) found |= u.serial == x;
      if (!found) return ApiError(400, "excluded unit '" + x + "' is not in hold " + std::to_string(id));
    }
    for (const auto& u : *units) {
      if (u.state == "held" && !exclude.count(u.serial)) serials.push_back(u.serial);
    }
    if (serials.empty()) return ApiError(409, "hold " + std::to_string(id) + " has no held unit left to dispose of");
  } else {
    std::set<std::string> seen;
    for (const auto& v : in["serials"]) {
      if (seen.insert(v.get<std::string>()).second) serials.push_back(v.get<std::string>());
    }
    if (serials.empty()) return ApiError(400, "'serials' is empty");
  }
  return on_responder_(
      [this, serials, d] { return responder_.Request([&] { return responder_.Dispose(serials, d); }); });
}

ApiResponse EngineApi::UnitApi(const std::string& method, const std::string& serial) const {
  if (method != "GET") return ApiError(405, "method " + method + " is not allowed on /api/units/" + serial);
  if (serial.empty() || serial.find('/') != std::string::npos)
    return ApiError(404, "no such endpoint: /api/units/" + serial);
  auto rows = store_.HoldsOfUnit(serial);
  if (!rows.ok()) return ApiError(503, rows.status().message());
  // The unit's state over every hold that took it: held in any > scrapped in any > reworked in
  // any > released (by all) > free (never held). Only free and released units may move on, and
  // reworked ones where interlock.reworked_may_move says so (docs/OPERATIONS.md "Interlock").
  Json holds = Json::array();
  Json history = Json::array();
  int rank = 0;  // 0 free, 1 released, 2 reworked, 3 scrapped, 4 held
  static constexpr const char* kStatus[] = {"free", "released", "reworked", "scrapped", "held"};
  for (const auto& u : *rows) {
    if (u.state == "held") holds.push_back(u.hold_id);
    const int r = u.state == "held" ? 4 : u.state == "scrapped" ? 3 : u.state == "reworked" ? 2 : 1;
    rank = std::max(rank, r);
    history.push_back(Json{{"hold", u.hold_id}, {"state", u.state}, {"since", FormatRfc3339(u.since)}});
  }
  const bool may_move = rank <= 1 || (rank == 2 && config_.reworked_may_move);
  Json j{{"serial", serial}, {"status", kStatus[rank]}, {"may_move", may_move}, {"holds", std::move(holds)},
         {"history", std::move(history)}};
  return {200, "application/json", j.dump(-1, ' ', false, kReplaceInvalidUtf8)};
}

Json EngineApi::CharacteristicJson(std::size_t i) const {
  const CharacteristicSpec& spec = config_.characteristics[i];
  const CharacteristicSummary s = summary_(static_cast<CharacteristicId>(i));
  Json j{{"id", spec.id}, {"unit", spec.unit}, {"chart", rules::ChartName(PrimaryChart(spec.type))}};
  Json limits = Json::object();
  if (spec.chart.spec.lsl) limits["lsl"] = *spec.chart.spec.lsl;
  if (spec.chart.spec.target) limits["target"] = *spec.chart.spec.target;
  if (spec.chart.spec.usl) limits["usl"] = *spec.chart.spec.usl;
  j["spec"] = std::move(limits);
  if (s.sigma_within) j["sigma"] = *s.sigma_within;
  if (s.sigma_z) j["sigma_z"] = *s.sigma_z;
  if (s.has_spec) {
    j["capability_window"] = Json{{"size", spec.capability_window}, {"values", s.window.n}};
    auto cap = CapabilityOf(spec, s);
    if (cap.ok()) j["capability"] = CapabilityJson(*cap);
    else j["capability_error"] = cap.status().message();
  }
  return j;
}


}  // namespace shewhart::engine
