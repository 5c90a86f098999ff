#include "shewhart/engine/respond/silence.h"

#include <algorithm>

#include "shewhart/engine/model/time_format.h"
#include "shewhart/engine/model/json.h"

namespace shewhart::engine {

namespace {

// The context labels of a Signal, in the order of Signal::labels.
constexpr const char* kSignalLabelNames[kSignalLabels] = {"station", "machine", "lot", "operator", "model"};

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// Whether `value` names something the config knows for `label` (labels without a fixed set
// of values -- the context labels -- accept anything). Sets `known` to the list when not.
bool KnownValue(const Config& config, const std::string& label, const std::string& value, std::string& known) {
  std::vector<std::string> names;
  if (label == "characteristic") {
    if (config.FindCharacteristic(value) >= 0) return true;
    for (const auto& c : config.characteristics) names.push_back(c.id);
  } else if (label == "policy") {
    if (value == "default" || config.responses.count(value)) return true;
    names.push_back("default");
    for (const auto& [name, policy] : config.responses) names.push_back(name);
  } else if (label == "rule") {
    if (rules::RuleFromName(value)) return true;
    known = "a rule name such as nelson.1, we.2, spec.usl, threshold, stale";
    return false;
  } else if (label == "chart") {
    for (int k = 0; k <= static_cast<int>(rules::ChartKind::kT2); ++k) {
      const std::string name(rules::ChartName(static_cast<rules::ChartKind>(k)));
      if (name == value) return true;
      names.push_back(name);
    }
  } else {
    return true;
  }
  known = Join(names);
  return false;
}

}  // namespace

const std::vector<std::string>& SilenceLabelNames() {
  static const std::vector<std::string> kNames = {"characteristic", "policy", "rule",     "chart", "station",
                                                  "machine",        "lot",    "operator", "model"};
  return kNames;
}

std::map<std::string, std::string> SilenceLabelsOf(const AlarmRecord& a, const Signal* s) {
  std::map<std::string, std::string> labels;
  auto put = [&labels](const std::string& name, std::string_view value) {
    if (!value.empty()) labels.emplace(name, std::string(value));  // the first value given wins
  };
  put("characteristic", a.characteristic);
  put("policy", a.policy);
  put("rule", a.rule);
  put("chart", a.chart);
  for (const auto& [key, value] : a.scope) put(ScopeKeyName(key), value);
  if (s) {
    for (std::size_t i = 0; i < kSignalLabels; ++i) put(kSignalLabelNames[i], s->labels[i].view());
  }
  return labels;
}

bool SilenceMatches(const SilenceRecord& silence, const std::map<std::string, std::string>& labels) {
  if (silence.matchers.empty()) return false;  // never stored (the API refuses it); never matches all
  for (const auto& [name, value] : silence.matchers) {
    auto it = labels.find(name);
    if (it == labels.end() || it->second != value) return false;
  }
  return true;
}

SilenceState SilenceStateAt(const SilenceRecord& silence, EventTime now) {
  if (now >= silence.ends) return SilenceState::kExpired;
  if (now < silence.starts) return SilenceState::kPending;
  return SilenceState::kActive;
}

const char* SilenceStateName(SilenceState state) {
  switch (state) {
    case SilenceState::kPending: return "pending";
    case SilenceState::kActive: return "active";
    case SilenceState::kExpired: return "expired";
  }
  return "expired";
}

Result<SilenceRecord> ParseSilenceRequest(const std::string& body, const Config& config, EventTime now,
                                          EventTime created) {
  const Json in = Json::parse(body.empty() ? std::string("{}") : body, nullptr, /*allow_exceptions=*/false);
  if (in.is_discarded()) return InvalidArgument("the body is not JSON");
  if (!in.is_object()) return InvalidArgument("the body must be a JSON object");
  static const std::vector<std::string> kFields = {"matchers", "starts", "ends", "duration", "comment"};
  for (auto it = in.begin(); it != in.end(); ++it) {
    if (std::find(kFields.begin(), kFields.end(), it.key()) == kFields.end()) {
      return InvalidArgument("unknown field '" + it.key() + "' (fields: " + Join(kFields) + ")");
    }
    if (it.key() != "matchers" && !it.value().is_string()) {
      return InvalidArgument("field '" + it.key() + "' must be a string, found " +
                             it.value().dump(-1, ' ', false, kReplaceInvalidUtf8));
    }
  }
  SilenceRecord s;
  s.created = created;

  if (!in.contains("matchers")) {
    return InvalidArgument("missing field 'matchers': an object of label: value, e.g. {\"station\":\"st2\"}");
  }
  const Json& m = in["matchers"];
  if (!m.is_object()) {
    return InvalidArgument("field 'matchers' must be an object of label: value, e.g. {\"station\":\"st2\"}, found " +
                           m.dump(-1, ' ', false, kReplaceInvalidUtf8));
  }
  if (m.empty()) {
    return InvalidArgument("field 'matchers' is empty: a silence needs at least one matcher (none would silence every "
                           "alarm)");
  }
  const auto& names = SilenceLabelNames();
  for (auto it = m.begin(); it != m.end(); ++it) {
    if (std::find(names.begin(), names.end(), it.key()) == names.end()) {
      return InvalidArgument("unknown label '" + it.key() + "' in matchers (labels: " + Join(names) + ")");
    }
    if (!it.value().is_string() || it.value().get<std::string>().empty()) {
      return InvalidArgument("matcher '" + it.key() + "' must be a non-empty string, found " +
                             it.value().dump(-1, ' ', false, kReplaceInvalidUtf8));
    }
    const std::string value = it.value().get<std::string>();
    std::string known;
    if (!KnownValue(config, it.key(), value, known)) {
      return InvalidArgument("matcher '" + it.key() + "': the config has no " + it.key() + " '" + value +
                             "' (expected " + known + ")");
    }
    s.matchers.emplace_back(it.key(), value);
  }

  if (!in.contains("comment") || in["comment"].get<std::string>().empty()) {
    return InvalidArgument("missing field 'comment': say why the alarms are silenced (it is recorded)");
  }
  s.comment = in["comment"].get<std::string>();

  s.starts = now;
  if (in.contains("starts")) {
    const std::string text = in["starts"].get<std::string>();
    auto t = ParseRfc3339(text);
    if (!t)
      return InvalidArgument("field 'starts': expected an RFC 3339 time such as 2026-11-27T08:00:00Z, found '" + text +
                             "'");
    s.starts = *t;
  }
  const bool has_ends = in.contains("ends"), has_duration = in.contains("duration");
  if (has_ends == has_duration) {
    return InvalidArgument(has_ends ? "give either 'ends' or 'duration', not both"
                                    : "missing field 'ends' (an RFC 3339 time) or 'duration' (e.g. 2h)");
  }
  if (has_ends) {
    const std::string text = in["ends"].get<std::string>();
    auto t = ParseRfc3339(text);
    if (!t)
      return InvalidArgument("field 'ends': expected an RFC 3339 time such as 2026-11-27T08:00:00Z, found '" + text +
                             "'");
    s.ends = *t;
  } else {
    const std::string text = in["duration"].get<std::string>();
    auto d = ParseDuration(text);
    if (!d || d->count() <= 0) {
      return InvalidArgument(
          "field 'duration': expected a duration greater than 0 such as 30m, 2h or 1d (units us, ms, "
          "s, m, h, d), found '" +
          text + "'");
    }
    s.ends = s.starts + *d;  // no overflow: a duration is at most 1e17 us, a parsed time within years 0-9999
  }
  static const EventTime kLast = *ParseRfc3339("9999-12-31T23:59:59Z");
  if (s.ends > kLast) return InvalidArgument("ends " + FormatRfc3339(s.ends) + " is beyond the year 9999");
  if (s.ends <= now) {
    return InvalidArgument("ends " + FormatRfc3339(s.ends) + " is in the past (now is " + FormatRfc3339(now) + ")");
  }
  if (s.ends <= s.starts) {
    return InvalidArgument("ends " + FormatRfc3339(s.ends) + " is not after starts " + FormatRfc3339(s.starts));
  }
  return s;
}

Json SilenceJson(const SilenceRecord& silence, EventTime now) {
  Json matchers = Json::object();
  for (const auto& [name, value] : silence.matchers) matchers[name] = value;
  const bool by_hand = !silence.expired_by.empty();
  return Json{{"id", silence.id},
              {"matchers", std::move(matchers)},
              {"starts", FormatRfc3339(silence.starts)},
              {"ends", FormatRfc3339(silence.ends)},
              {"state", SilenceStateName(SilenceStateAt(silence, now))},
              {"created", FormatRfc3339(silence.created)},
              {"created_by", silence.created_by},
              {"comment", silence.comment},
              {"expired", by_hand ? Json(FormatRfc3339(silence.expired)) : Json(nullptr)},
              {"expired_by", by_hand ? Json(silence.expired_by) : Json(nullptr)}};
}

}  // namespace shewhart::engine
