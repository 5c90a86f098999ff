// Responses (tiers and their conditions) and hooks (webhook, exec, Alertmanager, retries).

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cctype>
#include <cmath>
#include <set>
#include <sstream>

#include "loader.h"
#include "shewhart/engine/model/measurement.h"
#include "shewhart/engine/model/time_format.h"
#include "shewhart/rules/constants.h"
#include "shewhart/rules/format.h"
#include "shewhart/rules/presets.h"
#include "shewhart/rules/sigma_estimators.h"

namespace shewhart::engine::config_loader {

void Loader::LoadResponses(const Node& node, Config& config) {
  if (!node.IsMap()) {
    Problem(node, "responses", "expected a mapping of policy names, found " + Describe(node));
    return;
  }
  CheckMap(node, "responses", {}, /*any_key=*/true);
  for (auto it = node.begin(); it != node.end(); ++it) {
    const std::string name = it->first.Scalar();
    const std::string path = "responses." + name;
    if (config.responses.count(name)) continue;  // a duplicate, reported above
    ResponseSpec rs;
    rs.name = name;
    const Node p = it->second;
    if (!CheckMap(p, path, Keys("responses.<name>"))) continue;
    if (p["min_interval"]) Duration(p["min_interval"], path + ".min_interval", rs.min_interval);
    long long resolve = 0;
    if (p["resolve_after"] && Int(p["resolve_after"], path + ".resolve_after", 0, 1000000, resolve)) {
      rs.resolve_after = static_cast<int>(resolve);
    }
    auto tiers = p["tiers"];
    if (!tiers || !tiers.IsSequence() || tiers.size() == 0) {
      Problem(tiers ? tiers : p, path + ".tiers", "expected a non-empty list of tiers");
      continue;
    }
    int last_tier = 0;
    for (std::size_t i = 0; i < tiers.size(); ++i) {
      const std::string tp = path + ".tiers[" + std::to_string(i) + "]";
      const Node t = tiers[i];
      if (!CheckMap(t, tp, Keys("responses.<name>.tiers[]"))) continue;
      TierSpec ts;
      long long tier = 0;
      if (!t["tier"]) Problem(t, tp + ".tier", "missing: the tier number");
      else if (Int(t["tier"], tp + ".tier", 1, 9, tier)) ts.tier = static_cast<int>(tier);
      if (tier > 0 && tier <= last_tier) {
        Problem(t["tier"], tp + ".tier",
                "tiers must be listed once each in increasing order; found tier " + std::to_string(tier) +
                    " after tier " + std::to_string(last_tier));
      }
      if (tier > 0) last_tier = std::max(last_tier, static_cast<int>(tier));
      if (auto w = t["when"]) LoadTierCondition(w, tp + ".when", i == 0, ts.when);
      auto d = t["do"];
      if (!d || !d.IsSequence()) {
        Problem(d ? d : t, tp + ".do", "expected a list of hook names");
      } else {
        for (std::size_t j = 0; j < d.size(); ++j) {
          std::string hook;
          if (NonEmptyString(d[j], tp + ".do[" + std::to_string(j) + "]", hook)) ts.actions.push_back(hook);
        }
      }
      rs.tiers.push_back(std::move(ts));
    }
    config.responses[name] = std::move(rs);
  }
}

// `when`: exactly one of `signal: any`, `rule: [...]`, `signals: N` + `within: T` (+ `group_by`),
// `unacknowledged_for: T` (not on the first tier: there is no previous tier to count from).
void Loader::LoadTierCondition(const Node& w, const std::string& path, bool first, TierCondition& out) {
  if (!CheckMap(w, path, Keys("responses.<name>.tiers[].when"))) return;
  const int forms = (w["signal"] ? 1 : 0) + (w["rule"] ? 1 : 0) + (w["signals"] || w["within"] ? 1 : 0) +
                    (w["unacknowledged_for"] ? 1 : 0);
  if (forms != 1) {
    Problem(w, path, "give exactly one of 'signal: any', 'rule: [...]', 'signals: N, within: T', "
                     "'unacknowledged_for: T'");
    return;
  }
  if (w["group_by"] && !w["signals"])
    Problem(w["group_by"], path + ".group_by", "group_by applies to 'signals: N, within: T'");
  if (auto s = w["signal"]) {
    std::string any;
    Choice(s, path + ".signal", {"any"}, any);
    out.kind = TierCondition::Kind::kAnySignal;
  } else if (auto r = w["rule"]) {
    out.kind = TierCondition::Kind::kRules;
    if (!r.IsSequence() || r.size() == 0) {
      Problem(r, path + ".rule", "expected a non-empty list of rule names, found " + Describe(r));
      return;
    }
    for (std::size_t i = 0; i < r.size(); ++i) {
      std::string name;
      const std::string ip = path + ".rule[" + std::to_string(i) + "]";
      if (!String(r[i], ip, name)) continue;
      if (name == "spec") {
        out.rules.push_back(rules::RuleKind::kSpecLsl);
        out.rules.push_back(rules::RuleKind::kSpecUsl);
      } else if (auto kind = rules::RuleFromName(name)) {
        out.rules.push_back(*kind);
      } else {
        Problem(r[i], ip, "unknown rule '" + name + "'; expected a rule name such as nelson.1, spec, threshold, stale");
      }
    }
  } else if (auto u = w["unacknowledged_for"]) {
    out.kind = TierCondition::Kind::kUnacknowledged;
    if (first) {
      Problem(u, path + ".unacknowledged_for",
              "the first tier cannot wait for an acknowledgement: there is no earlier tier");
    }
    if (Duration(u, path + ".unacknowledged_for", out.unacknowledged_for) && out.unacknowledged_for.count() <= 0) {
      Problem(u, path + ".unacknowledged_for", "expected a duration > 0");
    }
  } else {
    out.kind = TierCondition::Kind::kCount;
    long long n = 0;
    if (!w["signals"]) Problem(w, path + ".signals", "missing: how many signals");
    else if (Int(w["signals"], path + ".signals", 1, 1000000, n)) out.count = static_cast<int>(n);
    if (!w["within"]) {
      Problem(w, path + ".within", "missing: the time window (e.g. 72h)");
    } else if (Duration(w["within"], path + ".within", out.within) && out.within.count() <= 0) {
      Problem(w["within"], path + ".within", "expected a duration > 0");
    }
    std::string g;
    if (w["group_by"] && Choice(w["group_by"], path + ".group_by",
                                {"characteristic", "station", "machine", "lot", "operator", "model"}, g)) {
      out.group_by = g == "station"   ? GroupBy::kStation
                     : g == "machine" ? GroupBy::kMachine
                     : g == "lot"     ? GroupBy::kLot
                     : g == "operator" ? GroupBy::kOperator
                     : g == "model"   ? GroupBy::kModel
                                      : GroupBy::kCharacteristic;
    }
  }
}

void Loader::LoadHooks(const Node& node, Config& config) {
  if (!node.IsMap()) {
    Problem(node, "hooks", "expected a mapping of hook names, found " + Describe(node));
    return;
  }
  CheckMap(node, "hooks", {}, /*any_key=*/true);
  for (auto it = node.begin(); it != node.end(); ++it) {
    const std::string name = it->first.Scalar();
    const std::string path = "hooks." + name;
    if (config.hooks.count(name)) continue;  // a duplicate, reported above
    if (name == "log" || name == "quality_case" || name == "quarantine") {
      Problem(it->first, path, "'" + name + "' is a built-in action; give the hook another name");
      continue;
    }
    const Node h = it->second;
    if (!CheckMap(h, path, Keys("hooks.<name>")))
      continue;
    if (h.size() != 1u + (h["quarantine"] ? 1u : 0u) + (h["silenceable"] ? 1u : 0u)) {
      Problem(h, path, "expected exactly one of 'log', 'zmq_pub', 'webhook', 'exec' or 'alertmanager'");
      continue;
    }
    HookSpec hs;
    hs.name = name;
    if (const Node q = h["quarantine"]) {
      // A quarantine hook: the WMS / MES gets the held serials in batches.
      if (!h["webhook"] && !h["exec"]) {
        Problem(q, path + ".quarantine", "a quarantine hook sends serials through a 'webhook' or 'exec'");
      } else if (CheckMap(q, path + ".quarantine", Keys("hooks.<name>.quarantine"))) {
        long long batch = 500;
        if (!q["batch"] || Int(q["batch"], path + ".quarantine.batch", 1, 100000, batch)) {
          hs.quarantine_batch = static_cast<int>(batch);
        }
      }
    }
    std::string silenceable;
    if (h["silenceable"] && Choice(h["silenceable"], path + ".silenceable", {"true", "false"}, silenceable)) {
      hs.silenceable = silenceable == "true";
    }
    if (h["zmq_pub"]) {
      hs.kind = HookSpec::Kind::kZmqPub;
      if (CheckMap(h["zmq_pub"], path + ".zmq_pub", Keys("hooks.<name>.zmq_pub"))) {
        if (!h["zmq_pub"]["bind"]) Problem(h["zmq_pub"], path + ".zmq_pub.bind", "missing: the address to bind");
        else NonEmptyString(h["zmq_pub"]["bind"], path + ".zmq_pub.bind", hs.endpoint);
      }
    } else if (h["webhook"]) {
      hs.kind = HookSpec::Kind::kWebhook;
      LoadWebhook(h["webhook"], path + ".webhook", hs);
      if (h["webhook"].IsMap()) LoadRetry(h["webhook"], path + ".webhook", hs, config);
    } else if (h["exec"]) {
      hs.kind = HookSpec::Kind::kExec;
      LoadExec(h["exec"], path + ".exec", hs);
      if (h["exec"].IsMap()) LoadRetry(h["exec"], path + ".exec", hs, config);
    } else if (h["alertmanager"]) {
      hs.kind = HookSpec::Kind::kAlertmanager;
      LoadAlertmanager(h["alertmanager"], path + ".alertmanager", hs);
      if (h["alertmanager"].IsMap()) LoadRetry(h["alertmanager"], path + ".alertmanager", hs, config);
    } else {
      hs.kind = HookSpec::Kind::kLog;
    }
    config.hooks[name] = std::move(hs);
  }
}

namespace {
bool IsHeaderNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}
std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
}  // namespace

void Loader::LoadWebhook(const Node& w, const std::string& path, HookSpec& hook) {
  if (!CheckMap(w, path, Keys("hooks.<name>.webhook"))) return;
  if (!w["url"]) {
    Problem(w, path + ".url", "missing: the URL to POST to, e.g. \"http://127.0.0.1:8080/line/{station}\"");
  } else if (Template(w["url"], path + ".url", hook.webhook.url, hook)) {
    if (hook.webhook.url.rfind("http://", 0) != 0 && hook.webhook.url.rfind("https://", 0) != 0) {
      Problem(w["url"], path + ".url", "expected an http:// or https:// URL, found '" + hook.webhook.url + "'");
    }
  }
  if (const Node hs = w["headers"]; hs && CheckMap(hs, path + ".headers", {}, /*any_key=*/true)) {
    std::set<std::string> seen;  // header names are case-insensitive
    for (auto it = hs.begin(); it != hs.end(); ++it) {
      const Node key = it->first;
      if (!key.IsScalar()) continue;  // reported by CheckMap
      const std::string header = key.Scalar();
      const std::string hp = path + ".headers." + header;
      if (header.empty() || !std::all_of(header.begin(), header.end(), IsHeaderNameChar)) {
        Problem(key, hp, "'" + header + "' is not a valid HTTP header name (letters, digits and !#$%&'*+-.^_`|~)");
        continue;
      }
      const std::string lower = Lower(header);
      if (lower == "idempotency-key" || lower == "content-type" || lower == "content-length") {
        Problem(key, hp, "header '" + header + "' is set by the engine and cannot be configured");
        continue;
      }
      if (!seen.insert(lower).second) {
        Problem(key, hp, "header '" + header + "' is given twice (header names are case-insensitive)");
        continue;
      }
      std::string value;
      if (!Template(it->second, hp, value, hook)) continue;
      if (value.find_first_of("\r\n") != std::string::npos || value.find('\0') != std::string::npos) {
        Problem(it->second, hp, "a header value cannot contain a line break");
        continue;
      }
      hook.webhook.headers.emplace_back(header, value);
    }
  }
  if (w["timeout"]) PositiveDuration(w["timeout"], path + ".timeout", hook.webhook.timeout);
}

void Loader::LoadExec(const Node& x, const std::string& path, HookSpec& hook) {
  const Node argv = x.IsMap() ? x["argv"] : x;
  const std::string argv_path = x.IsMap() ? path + ".argv" : path;
  if (x.IsMap()) {
    if (!CheckMap(x, path, Keys("hooks.<name>.exec"))) return;
    if (!argv) {
      Problem(x, argv_path,
              "missing: the program and its arguments, e.g. argv: [\"/usr/local/bin/mes-lock\", \"{station}\"]");
      return;
    }
  }
  if (!argv.IsSequence() || argv.size() == 0) {
    Problem(argv, argv_path,
            "expected a non-empty list: the program's absolute path, then its arguments (no shell), found " +
                (argv.IsSequence() ? std::string("an empty list") : Describe(argv)));
  } else {
    for (std::size_t i = 0; i < argv.size(); ++i) {
      const std::string ap = argv_path + "[" + std::to_string(i) + "]";
      std::string arg;
      if (i == 0) {
        if (!NonEmptyString(argv[0], ap, arg)) continue;
        if (arg[0] != '/') {
          Problem(argv[0], ap,
                  "expected the program's absolute path (there is no shell and no PATH search), found '" + arg + "'");
          continue;
        }
        if (arg.find_first_of("{}") != std::string::npos) {
          Problem(argv[0], ap, "the program path cannot be a template, found '" + arg + "'");
          continue;
        }
      } else if (!Template(argv[i], ap, arg, hook)) {
        continue;
      }
      hook.exec.argv.push_back(arg);
    }
  }
  if (!x.IsMap()) return;
  if (const Node env = x["env"]; env && CheckMap(env, path + ".env", {}, /*any_key=*/true)) {
    for (auto it = env.begin(); it != env.end(); ++it) {
      const Node key = it->first;
      if (!key.IsScalar()) continue;  // reported by CheckMap
      const std::string var = key.Scalar();
      const std::string ep = path + ".env." + var;
      const bool valid = !var.empty() && !std::isdigit(static_cast<unsigned char>(var[0])) &&
                         std::all_of(var.begin(), var.end(), [](char c) {
                           return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
                         });
      if (!valid) {
        Problem(
            key, ep,
            "'" + var + "' is not a valid environment variable name (letters, digits, '_'; not starting with a digit)");
        continue;
      }
      if (var.rfind("SHEWHART_", 0) == 0) {
        Problem(key, ep, "variables named SHEWHART_* are set by the engine; choose another name than '" + var + "'");
        continue;
      }
      std::string value;
      if (Template(it->second, ep, value, hook)) hook.exec.env.emplace_back(var, value);
    }
  }
  if (x["timeout"]) PositiveDuration(x["timeout"], path + ".timeout", hook.exec.timeout);
}

void Loader::LoadAlertmanager(const Node& a, const std::string& path, HookSpec& hook) {
  if (!a.IsMap()) {
    Problem(a, path, "expected a mapping such as { url: \"http://127.0.0.1:9093\" }, found " + Describe(a));
    return;
  }
  if (!CheckMap(a, path, Keys("hooks.<name>.alertmanager"))) return;
  std::string url;
  if (!a["url"]) {
    Problem(a, path + ".url", "missing: Alertmanager's base URL, e.g. \"http://127.0.0.1:9093\"");
  } else if (NonEmptyString(a["url"], path + ".url", url)) {
    if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
      Problem(a["url"], path + ".url", "expected an http:// or https:// URL, found '" + url + "'");
    } else if (url.find_first_of("{}?# \t\r\n") != std::string::npos) {
      Problem(
          a["url"], path + ".url",
          "expected a base URL without placeholders, query, fragment or spaces (the engine appends /api/v2/alerts), "
          "found '" +
              url + "'");
    } else {
      while (url.size() > 1 && url.back() == '/') url.pop_back();
      hook.alertmanager.url = url;
    }
  }
  if (a["generator_url"]) {
    std::string g;
    if (Template(a["generator_url"], path + ".generator_url", g, hook)) {
      if (g.rfind("http://", 0) != 0 && g.rfind("https://", 0) != 0) {
        Problem(a["generator_url"], path + ".generator_url", "expected an http:// or https:// URL, found '" + g + "'");
      } else {
        hook.alertmanager.generator_url = g;
      }
    }
  }
  if (a["timeout"]) PositiveDuration(a["timeout"], path + ".timeout", hook.alertmanager.timeout);
  if (a["refresh"]) PositiveDuration(a["refresh"], path + ".refresh", hook.alertmanager.refresh);
}

void Loader::LoadRetry(const Node& node, const std::string& path, HookSpec& hook, const Config& config) {
  long long retries = 0;
  if (node["retries"] && Int(node["retries"], path + ".retries", 0, 1000, retries))
    hook.retries = static_cast<int>(retries);
  std::chrono::microseconds d{};
  if (node["retry_base"] && PositiveDuration(node["retry_base"], path + ".retry_base", d)) hook.retry_base = d;
  if (node["retry_max"] && PositiveDuration(node["retry_max"], path + ".retry_max", d)) hook.retry_max = d;
  const auto base = hook.retry_base.value_or(config.retry_base);
  const auto max = hook.retry_max.value_or(config.retry_max);
  if ((hook.retry_base || hook.retry_max) && max < base) {
    const bool at_max = static_cast<bool>(node["retry_max"]);
    Problem(at_max ? node["retry_max"] : node["retry_base"], path + (at_max ? ".retry_max" : ".retry_base"),
            "retry_max (" + FormatMicros(max) + ") must not be less than retry_base (" + FormatMicros(base) + ")" +
                (hook.retry_base && hook.retry_max ? "" : "; the other comes from engine."));
  }
}

}  // namespace shewhart::engine::config_loader
