#include "shewhart/engine/store/audit.h"

#include <chrono>
#include <map>
#include <set>

#include "shewhart/engine/model/time_format.h"
#include "shewhart/engine/store/record_json.h"

namespace shewhart::engine {

namespace {

// nlohmann::json keeps object members in a std::map<std::string, ...>: iterating it yields
// the keys in byte order (std::char_traits<char> compares as unsigned char).
nlohmann::json Sorted(const Json& j) {
  switch (j.type()) {
    case Json::value_t::object: {
      nlohmann::json o = nlohmann::json::object();
      for (const auto& [key, value] : j.items()) o[key] = Sorted(value);
      return o;
    }
    case Json::value_t::array: {
      nlohmann::json a = nlohmann::json::array();
      for (const auto& value : j) a.push_back(Sorted(value));
      return a;
    }
    case Json::value_t::string: return j.get<std::string>();
    case Json::value_t::boolean: return j.get<bool>();
    case Json::value_t::number_integer: return j.get<std::int64_t>();
    case Json::value_t::number_unsigned: return j.get<std::uint64_t>();
    case Json::value_t::number_float: return j.get<double>();
    default: return nullptr;  // null, discarded, binary (the engine writes no binary values)
  }
}

void AppendNetstring(std::string& out, std::string_view field) {
  out += std::to_string(field.size());
  out += ':';
  out.append(field);
  out += ',';
}

std::string Describe(const AuditRecord& r) {
  return "record " + std::to_string(r.seq) + " (" + r.kind + ", " + FormatRfc3339(r.ts) + ")";
}

}  // namespace

std::string CanonicalJson(const Json& body) {
  return Sorted(body).dump(-1, ' ', /*ensure_ascii=*/false, nlohmann::json::error_handler_t::replace);
}

std::string AuditEncoding(const AuditRecord& r) {
  std::string out;
  out.reserve(64 + r.kind.size() + r.subject.size() + r.actor.size() + r.body.size());
  AppendNetstring(out, std::to_string(r.seq));
  AppendNetstring(out, std::to_string(ToUnixMicros(r.ts)));
  AppendNetstring(out, r.kind);
  AppendNetstring(out, r.subject);
  AppendNetstring(out, r.actor);
  AppendNetstring(out, r.body);
  return out;
}

std::string AuditHash(std::string_view prev_hash, const AuditRecord& r) {
  std::string input(prev_hash);
  input += AuditEncoding(r);
  return Sha256Hex(input);
}

Result<AuditRecord> AppendAudit(Store& store, std::string kind, std::string subject, std::string actor,
                                const Json& body, EventTime ts) {
  AuditRecord r;
  r.ts = ts;
  r.kind = std::move(kind);
  r.subject = std::move(subject);
  r.actor = std::move(actor);
  r.body = CanonicalJson(body);
  return store.AppendAudit(std::move(r));
}

Result<AuditRecord> AppendAudit(Store& store, std::string kind, std::string subject, std::string actor,
                                const Json& body) {
  const EventTime now = std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
  return AppendAudit(store, std::move(kind), std::move(subject), std::move(actor), body, now);
}

Json AlarmAuditBody(const AlarmRecord& a) {
  Json j = AlarmJson(a);
  j.erase("type");
  return j;
}

Json HoldAuditBody(const HoldRecord& h) {
  return Json{{"id", h.id},
              {"alarm", h.alarm_id},
              {"characteristic", h.characteristic},
              {"scope", ScopeJson(h.scope)},
              {"from", FormatRfc3339(h.from_ts)}};
}

Json HeldUnitsAuditBody(const HoldRecord& h, const std::vector<HeldUnit>& added) {
  Json units = Json::array();
  for (const auto& u : added) units.push_back(Json{{"serial", u.serial}, {"since", FormatRfc3339(u.since)}});
  return Json{{"hold", h.id}, {"alarm", h.alarm_id}, {"count", added.size()}, {"units", std::move(units)}};
}

Json LimitsAuditBody(const LimitVersion& v) {
  Json j = LimitsJson(v);
  j.erase("type");
  j["recorded"] = FormatRfc3339(v.recorded);
  return j;
}

Result<AuditVerification> VerifyAuditLog(Store& store) {
  constexpr int kPage = 1000;
  AuditVerification v;
  // Where the stored chain starts: the genesis, or the last record retention pruned.
  auto anchor = store.AuditAnchor();
  if (!anchor.ok()) return anchor.status();
  v.last_hash = anchor->second;
  v.anchor_seq = anchor->first;
  std::int64_t last_seq = anchor->first;  // seq of the last record verified (or pruned)
  for (;;) {
    auto page = store.ReadAudit(last_seq, kPage);
    if (!page.ok()) return page.status();
    if (page->empty()) return v;
    for (const AuditRecord& r : *page) {
      const std::int64_t expected = last_seq + 1;
      if (r.seq != expected) {
        v.intact = false;
        v.broken_seq = expected;
        if (r.seq < expected) {
          v.problem = Describe(r) + ": seq " + std::to_string(r.seq) + " where " + std::to_string(expected) +
                      " was expected";
        } else {
          const std::string missing = r.seq == expected + 1
                                          ? "record " + std::to_string(expected) + " is missing"
                                          : "records " + std::to_string(expected) + "-" +
                                                std::to_string(r.seq - 1) + " are missing";
          v.problem = missing + (last_seq == 0 ? " (the log starts at record " + std::to_string(r.seq) + ")"
                                               : " (record " + std::to_string(r.seq) + " follows record " +
                                                     std::to_string(last_seq) + ")");
        }
        return v;
      }
      if (r.prev_hash != v.last_hash) {
        v.intact = false;
        v.broken_seq = r.seq;
        v.problem = last_seq == 0 ? Describe(r) + ": prev_hash " + r.prev_hash + " is not the genesis hash (64 zeros)"
                                  : Describe(r) + ": prev_hash does not match record " + std::to_string(last_seq) +
                                        "'s hash (" + r.prev_hash + " != " + v.last_hash + ")" +
                                        (last_seq == v.anchor_seq ? " (the anchor retention left)" : "");
        return v;
      }
      const std::string computed = AuditHash(r.prev_hash, r);
      if (computed != r.hash) {
        v.intact = false;
        v.broken_seq = r.seq;
        v.problem = Describe(r) + ": stored hash " + r.hash + " != computed " + computed;
        return v;
      }
      v.verified += 1;
      v.last_hash = r.hash;
      last_seq = r.seq;
    }
  }
}

Result<HoldCrossCheck> CrossCheckHolds(Store& store) {
  constexpr int kPage = 1000;
  constexpr std::size_t kListed = 20;
  HoldCrossCheck out;
  auto anchor = store.AuditAnchor();
  if (!anchor.ok()) return anchor.status();
  // What the chain says of every unit of every hold it saw created.
  std::set<std::int64_t> created;
  std::map<std::pair<std::int64_t, std::string>, std::string> said;
  std::int64_t after = anchor->first;
  for (;;) {
    auto page = store.ReadAudit(after, kPage);
    if (!page.ok()) return page.status();
    if (page->empty()) break;
    for (const AuditRecord& r : *page) {
      after = r.seq;
      if (r.kind != "hold.created" && r.kind != "hold.units_added" && r.kind != "hold.disposed") continue;
      const Json body = Json::parse(r.body, nullptr, /*allow_exceptions=*/false);
      if (!body.is_object()) continue;  // the chain check names a record whose body was altered
      if (r.kind == "hold.created") {
        if (body.contains("id") && body["id"].is_number_integer()) created.insert(body["id"].get<std::int64_t>());
        continue;
      }
      if (!body.contains("hold") || !body["hold"].is_number_integer() || !body.contains("units") ||
          !body["units"].is_array()) {
        continue;
      }
      const std::int64_t hold = body["hold"].get<std::int64_t>();
      const std::string state = r.kind == "hold.disposed" && body.contains("state") && body["state"].is_string()
                                    ? body["state"].get<std::string>()
                                    : "held";
      for (const auto& u : body["units"]) {
        const Json& serial = u.is_object() && u.contains("serial") ? u["serial"] : u;
        if (serial.is_string()) said[{hold, serial.get<std::string>()}] = state;
      }
    }
  }
  auto rows = store.ListHeldUnits(0);
  if (!rows.ok()) return rows.status();
  auto add = [&](std::string problem) {
    if (out.problems.size() < kListed) out.problems.push_back(std::move(problem));
    out.mismatches += 1;
  };
  std::set<std::pair<std::int64_t, std::string>> seen;
  for (const HeldUnit& u : *rows) {
    if (!created.count(u.hold_id)) {
      out.skipped += 1;  // its creation was pruned by retention: nothing to check it against
      continue;
    }
    out.checked += 1;
    seen.insert({u.hold_id, u.serial});
    auto it = said.find({u.hold_id, u.serial});
    if (it == said.end()) {
      add("unit " + u.serial + " of hold " + std::to_string(u.hold_id) + " is in held_units (" + u.state +
          ") but no audit record took it into the hold");
    } else if (it->second != u.state) {
      add("unit " + u.serial + " of hold " + std::to_string(u.hold_id) + " is '" + u.state +
          "' in held_units but '" + it->second + "' by the audit log");
    }
  }
  for (const auto& [key, state] : said) {
    if (created.count(key.first) && !seen.count(key)) {
      auto hold = store.GetHold(key.first);
      if (!hold.ok()) continue;  // the hold itself was pruned (retention) or never stored
      add("unit " + key.second + " of hold " + std::to_string(key.first) + " is '" + state +
          "' by the audit log but missing from held_units");
    }
  }
  return out;
}

}  // namespace shewhart::engine
