#include "holds.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "api_client.h"
#include "cli_util.h"
#include "shewhart/engine/store/record_json.h"
#include "shewhart/engine/store/store.h"
#include "shewhart/engine/model/time_format.h"

namespace shewhart::app {

namespace {

constexpr int kExitOk = 0;
constexpr int kExitRefused = 1;
constexpr int kExitUsage = 2;

using engine::Json;

std::string Join(const std::vector<std::string>& items, const char* sep) {
  std::string s;
  for (const auto& i : items) s += (s.empty() ? "" : sep) + i;
  return s;
}

// A CSV cell (RFC 4180): quoted when it holds a comma, quote or line break.
std::string Csv(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char ch : s) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return q + "\"";
}

void AddUnique(std::vector<std::string>& v, const std::string& s) {
  if (!s.empty() && std::find(v.begin(), v.end(), s) == v.end()) v.push_back(s);
}

}  // namespace

int HoldsList(const HoldsCommand& c) {
  auto store = OpenExistingStore(c.store_path, "holds list");
  if (!store) return kExitUsage;
  auto holds = store->ListHolds();
  auto units = store->ListHeldUnits(0);
  if (!holds.ok() || !units.ok()) {
    std::fprintf(stderr, "shewhart holds list: %s\n",
                 (!holds.ok() ? holds.status() : units.status()).message().c_str());
    return kExitUsage;
  }
  std::map<std::int64_t, const engine::HoldRecord*> by_id;
  for (const auto& h : *holds) by_id[h.id] = &h;
  if (c.json) {
    for (const auto& u : *units) {
      const auto* h = by_id[u.hold_id];
      Json j{{"hold", u.hold_id}, {"alarm", h ? h->alarm_id : 0}, {"characteristic", h ? h->characteristic : ""},
             {"scope", h ? engine::ScopeJson(h->scope) : Json::object()}, {"serial", u.serial}, {"state", u.state},
             {"since", engine::FormatRfc3339(u.since)}};
      std::printf("%s\n", j.dump(-1, ' ', false, engine::kReplaceInvalidUtf8).c_str());
    }
    return kExitOk;
  }
  std::printf("%-5s %-6s %-20s %-20s %-16s %-8s %s\n", "HOLD", "ALARM", "CHARACTERISTIC", "SCOPE", "SERIAL", "STATE",
              "SINCE");
  for (const auto& u : *units) {
    const auto* h = by_id[u.hold_id];
    std::printf("%-5lld %-6lld %-20s %-20s %-16s %-8s %s\n", static_cast<long long>(u.hold_id),
                static_cast<long long>(h ? h->alarm_id : 0), h ? h->characteristic.c_str() : "",
                h ? engine::FormatScope(h->scope).c_str() : "", u.serial.c_str(), u.state.c_str(),
                engine::FormatRfc3339(u.since).c_str());
  }
  std::int64_t held = 0;
  for (const auto& h : *holds) {
    held += h.held;
    std::printf("hold #%lld (alarm #%lld, %s, %s, %s): %lld unit%s taken since %s, %lld still held\n",
                static_cast<long long>(h.id), static_cast<long long>(h.alarm_id), h.characteristic.c_str(),
                engine::FormatScope(h.scope).c_str(), h.state.c_str(), static_cast<long long>(h.units),
                h.units == 1 ? "" : "s", engine::FormatRfc3339(h.from_ts).c_str(), static_cast<long long>(h.held));
  }
  std::printf("%lld unit%s held in %zu hold%s\n", static_cast<long long>(held), held == 1 ? "" : "s", holds->size(),
              holds->size() == 1 ? "" : "s");
  return kExitOk;
}

int HoldsShow(const HoldsCommand& c) {
  auto store = OpenExistingStore(c.store_path, "holds show");
  if (!store) return kExitUsage;
  auto hold = store->GetHold(c.hold_id);
  if (!hold.ok()) {
    std::fprintf(stderr, "shewhart holds show: %s\n", hold.status().message().c_str());
    return hold.status().code() == StatusCode::kNotFound ? kExitRefused : kExitUsage;
  }
  auto units = store->ListHeldUnits(c.hold_id);
  auto dispositions = store->ListDispositions(c.hold_id);
  if (!units.ok() || !dispositions.ok()) {
    std::fprintf(stderr, "shewhart holds show: %s\n",
                 (!units.ok() ? units.status() : dispositions.status()).message().c_str());
    return kExitUsage;
  }
  if (c.json) {
    Json j = engine::HoldJson(*hold, *units);
    j["held"] = hold->held;
    Json arr = Json::array();
    for (const auto& d : *dispositions) arr.push_back(engine::DispositionJson(d));
    j["dispositions"] = std::move(arr);
    std::printf("%s\n", j.dump(-1, ' ', false, engine::kReplaceInvalidUtf8).c_str());
    return kExitOk;
  }
  std::printf("hold #%lld (alarm #%lld, %s, %s): %s, %lld unit%s taken since %s, %lld still held\n",
              static_cast<long long>(hold->id), static_cast<long long>(hold->alarm_id), hold->characteristic.c_str(),
              engine::FormatScope(hold->scope).c_str(), hold->state.c_str(), static_cast<long long>(hold->units),
              hold->units == 1 ? "" : "s", engine::FormatRfc3339(hold->from_ts).c_str(),
              static_cast<long long>(hold->held));
  std::map<std::string, const engine::Disposition*> last;
  for (const auto& d : *dispositions) last[d.serial] = &d;
  std::vector<std::vector<std::string>> rows;
  for (const auto& u : *units) {
    auto d = last.find(u.serial);
    rows.push_back({u.serial, u.state, engine::FormatRfc3339(u.since),
                    d == last.end() ? "" : d->second->meaning + " " + d->second->user,
                    d == last.end() ? "" : engine::FormatRfc3339(d->second->ts),
                    d == last.end() ? "" : d->second->reason, d == last.end() ? "" : d->second->note});
  }
  PrintTable({"SERIAL", "STATE", "SINCE", "SIGNED", "AT", "REASON", "NOTE"}, rows);
  return kExitOk;
}

int HoldsExport(const HoldsCommand& c) {
  if (c.format != "csv" && c.format != "json") {
    std::fprintf(stderr, "shewhart holds export: --format must be csv or json, found '%s'\n", c.format.c_str());
    return kExitUsage;
  }
  auto store = OpenExistingStore(c.store_path, "holds export");
  if (!store) return kExitUsage;
  auto hold = store->GetHold(c.hold_id);
  if (!hold.ok()) {
    std::fprintf(stderr, "shewhart holds export: %s\n", hold.status().message().c_str());
    return hold.status().code() == StatusCode::kNotFound ? kExitRefused : kExitUsage;
  }
  auto units = store->ListHeldUnits(c.hold_id);
  if (!units.ok()) {
    std::fprintf(stderr, "shewhart holds export: %s\n", units.status().message().c_str());
    return kExitUsage;
  }
  if (c.format == "csv") {
    std::printf("hold,alarm,characteristic,serial,state,since,route,machines,operators,lots,assemblies\n");
  }
  for (const auto& u : *units) {
    std::vector<engine::RouteStep> route;
    std::vector<std::string> assemblies;
    auto t = store->TraceBackward(u.serial);
    if (t.ok()) {
      route = t->route;
      for (const auto& a : t->ancestors) assemblies.push_back(a.serial);
    } else if (t.status().code() != StatusCode::kNotFound) {
      std::fprintf(stderr, "shewhart holds export: %s\n", t.status().message().c_str());
      return kExitUsage;
    }
    std::vector<std::string> machines, operators, lots, steps;
    for (const auto& r : route) {
      AddUnique(machines, r.machine);
      AddUnique(operators, r.op);
      for (const auto& l : r.lots) AddUnique(lots, l);
      AddUnique(steps, r.station + "@" + engine::FormatRfc3339(r.ts));  // a measurement's record repeats its unit event
    }
    if (c.format == "json") {
      Json jr = Json::array();
      for (const auto& r : route) {
        jr.push_back(Json{{"station", r.station}, {"ts", engine::FormatRfc3339(r.ts)}, {"machine", r.machine},
                          {"operator", r.op}, {"lots", r.lots}, {"parent", r.parent},
                          {"from_measurement", r.from_measurement}});
      }
      Json j{{"hold", hold->id},     {"alarm", hold->alarm_id}, {"characteristic", hold->characteristic},
             {"serial", u.serial},   {"state", u.state},        {"since", engine::FormatRfc3339(u.since)},
             {"route", std::move(jr)}, {"lots", lots},          {"assemblies", assemblies}};
      std::printf("%s\n", j.dump(-1, ' ', false, engine::kReplaceInvalidUtf8).c_str());
    } else {
      std::printf("%lld,%lld,%s,%s,%s,%s,%s,%s,%s,%s,%s\n", static_cast<long long>(hold->id),
                  static_cast<long long>(hold->alarm_id), Csv(hold->characteristic).c_str(), Csv(u.serial).c_str(),
                  u.state.c_str(), engine::FormatRfc3339(u.since).c_str(), Csv(Join(steps, ";")).c_str(),
                  Csv(Join(machines, ";")).c_str(), Csv(Join(operators, ";")).c_str(), Csv(Join(lots, ";")).c_str(),
                  Csv(Join(assemblies, ";")).c_str());
    }
  }
  std::fprintf(stderr, "hold #%lld: %zu unit%s exported\n", static_cast<long long>(hold->id), units->size(),
               units->size() == 1 ? "" : "s");
  return kExitOk;
}

int HoldsDispose(const HoldsCommand& c) {
  if (c.all == !c.serials.empty()) {
    std::fprintf(stderr, "shewhart holds dispose: give --serial SERIAL (repeatable) or --all (with --exclude)\n");
    return kExitUsage;
  }
  if (!c.all && !c.exclude.empty()) {
    std::fprintf(stderr, "shewhart holds dispose: --exclude goes with --all\n");
    return kExitUsage;
  }
  std::string error;
  const std::string token = ReadToken(c.token, c.token_file, error);
  if (token.empty()) return std::fprintf(stderr, "shewhart holds dispose: %s\n", error.c_str()), kExitUsage;
  Json body{{"state", c.state}, {"reason", c.reason}, {"meaning", c.meaning}};
  if (!c.note.empty()) body["note"] = c.note;
  if (c.all) {
    body["all"] = true;
    if (!c.exclude.empty()) body["exclude"] = c.exclude;
  } else {
    body["serials"] = c.serials;
  }
  auto reply = CallApi(c.url, "POST", "/api/holds/" + std::to_string(c.hold_id) + "/dispose",
                       body.dump(-1, ' ', false, engine::kReplaceInvalidUtf8), token, error);
  if (!reply) return std::fprintf(stderr, "shewhart holds dispose: %s\n", error.c_str()), kExitUsage;
  if (reply->status >= 300) {
    std::fprintf(stderr, "shewhart holds dispose: hold %lld: %s (HTTP %d)\n", c.hold_id, ApiError(*reply).c_str(),
                 reply->status);
    return reply->status >= 500 ? kExitUsage : kExitRefused;
  }
  if (c.json) {
    std::printf("%s\n", reply->body.c_str());
    return kExitOk;
  }
  const Json j = Json::parse(reply->body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::printf("%s\n", reply->body.c_str()), kExitOk;
  std::printf("hold #%lld: %lld unit%s %s (%s, %s); %lld still held, hold %s\n", c.hold_id,
              static_cast<long long>(j.value("count", 0)), j.value("count", 0) == 1 ? "" : "s",
              j.value("state", "").c_str(), j.value("reason", "").c_str(), j.value("meaning", "").c_str(),
              static_cast<long long>(j.value("held", 0)), j.value("hold_state", "").c_str());
  return kExitOk;
}

int HoldsStatus(const HoldsCommand& c) {
  std::string error;
  auto reply = CallApi(c.url, "GET", "/api/units/" + c.serial, "", "", error);
  if (!reply) return std::fprintf(stderr, "shewhart holds status: %s\n", error.c_str()), kExitUsage;
  if (reply->status >= 300) {
    std::fprintf(stderr, "shewhart holds status: %s (HTTP %d)\n", ApiError(*reply).c_str(), reply->status);
    return kExitUsage;
  }
  if (c.json) return std::printf("%s\n", reply->body.c_str()), kExitOk;
  const Json j = Json::parse(reply->body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::printf("%s\n", reply->body.c_str()), kExitOk;
  std::vector<std::string> holds;
  for (const auto& h : j.value("holds", Json::array())) {
    std::string id(1, '#');
    id += std::to_string(h.get<long long>());
    holds.push_back(std::move(id));
  }
  std::printf("%s: %s%s, %s\n", c.serial.c_str(), j.value("status", "").c_str(),
              holds.empty() ? "" : (" (hold " + Join(holds, ", ") + ")").c_str(),
              j.value("may_move", false) ? "may move on" : "may not move on");
  return kExitOk;
}

}  // namespace shewhart::app
