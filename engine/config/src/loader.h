#pragma once
// The YAML loader's walker, private to engine/config: Loader reads a YAML document section by
// section into a Config, collecting every problem with its line, column and key path instead of
// stopping at the first. Its sections are defined in load_root.cc, load_characteristic.cc,
// load_rules.cc and load_responses.cc; config.cc drives it (LoadConfigText). Single-threaded,
// one Loader per load.


#include <algorithm>
#include <chrono>
#include <set>
#include <string>
#include <vector>

#include "shewhart/base/status.h"
#include "shewhart/engine/config/config.h"
#include "shewhart/engine/config/config_keys.h"
#include "shewhart/engine/model/time_format.h"
#include "shewhart/rules/format.h"
#include "yaml_tree.h"

namespace shewhart::engine::config_loader {

inline std::size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

inline std::string Describe(const Node& node) {
  switch (node.Type()) {
    case NodeType::Null: return "nothing";
    case NodeType::Scalar: return "'" + node.Scalar() + "'";
    case NodeType::Sequence: return "a list";
    case NodeType::Map: return "a mapping";
    default: return "an undefined node";
  }
}

// Walks YAML nodes, collecting problems with their marks and key paths.
class Loader {
 public:
  explicit Loader(std::string file) : file_(std::move(file)) {}

  std::vector<ConfigProblem>& problems() { return problems_; }

  void Problem(const Node& at, const std::string& path, const std::string& message) {
    ConfigProblem p;
    p.file = file_;
    if (at.IsDefined()) {
      p.line = at.Mark().line + 1;
      p.column = at.Mark().column + 1;
    }
    p.path = path;
    p.message = message;
    problems_.push_back(std::move(p));
  }

  // The registered keys of `section` (config_keys.h): what a mapping there may hold.
  static const std::vector<std::string>& Keys(std::string_view section) { return ConfigSectionKeys(section); }
  // The keys `names` of `section` (a mapping that takes fewer keys in some places, e.g. limits
  // by chart type); each must be registered (SHEWHART_CHECK).
  static std::vector<std::string> Keys(std::string_view section, std::initializer_list<const char*> names) {
    const std::vector<std::string>& known = ConfigSectionKeys(section);
    std::vector<std::string> out;
    for (const char* n : names) {
      SHEWHART_CHECK(std::find(known.begin(), known.end(), n) != known.end());
      out.emplace_back(n);
    }
    return out;
  }

  // Checks that `node` is a mapping whose keys are all in `allowed` and none repeated.
  // Returns false (after recording the problem) when `node` is not a mapping.
  // With `any_key`, every key is allowed and only repeats are reported.
  bool CheckMap(const Node& node, const std::string& path, const std::vector<std::string>& allowed,
                bool any_key = false) {
    if (!node.IsMap()) {
      Problem(node, path, "expected a mapping, found " + Describe(node));
      return false;
    }
    std::set<std::string> seen;
    for (auto it = node.begin(); it != node.end(); ++it) {
      const Node key = it->first;  // by value: the iterator yields a proxy
      if (!key.IsScalar()) {
        Problem(key, path, "expected a key, found " + Describe(key));
        continue;
      }
      const std::string& k = key.Scalar();
      const std::string key_path = Join(path, k);
      if (!seen.insert(k).second) {
        Problem(key, key_path,
                "duplicate key '" + k + "' (an earlier '" + k + "' in this mapping would be overridden)");
        continue;
      }
      if (!any_key && std::find(allowed.begin(), allowed.end(), k) == allowed.end()) {
        std::string msg = "unknown key '" + k + "'";
        std::string best;
        std::size_t best_d = 3;
        for (const auto& a : allowed) {
          std::size_t d = EditDistance(k, a);
          if (d < best_d) best_d = d, best = a;
        }
        if (!best.empty()) msg += "; did you mean '" + best + "'?";
        else msg += "; expected one of: " + JoinList(allowed);
        Problem(key, key_path, msg);
      }
    }
    return true;
  }

  static std::string Join(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
  }
  static std::string JoinList(const std::vector<std::string>& items) {
    std::string s;
    for (const auto& i : items) s += (s.empty() ? "" : ", ") + i;
    return s;
  }

  bool String(const Node& node, const std::string& path, std::string& out) {
    if (!node.IsScalar()) {
      Problem(node, path, "expected a string, found " + Describe(node));
      return false;
    }
    out = node.Scalar();
    return true;
  }

  bool NonEmptyString(const Node& node, const std::string& path, std::string& out) {
    if (!String(node, path, out)) return false;
    if (out.empty()) {
      Problem(node, path, "expected a non-empty string");
      return false;
    }
    return true;
  }

  bool Double(const Node& node, const std::string& path, double& out) {
    if (!node.IsScalar()) {
      Problem(node, path, "expected a number, found " + Describe(node));
      return false;
    }
    const std::string& s = node.Scalar();
    double v = 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || ptr != s.data() + s.size() || !std::isfinite(v)) {
      Problem(node, path, "expected a number, found '" + s + "'");
      return false;
    }
    out = v;
    return true;
  }

  bool Int(const Node& node, const std::string& path, long long min, long long max, long long& out) {
    if (!node.IsScalar()) {
      Problem(node, path, "expected an integer, found " + Describe(node));
      return false;
    }
    const std::string& s = node.Scalar();
    long long v = 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || ptr != s.data() + s.size()) {
      Problem(node, path, "expected an integer, found '" + s + "'");
      return false;
    }
    if (v < min || v > max) {
      Problem(node, path,
              "expected an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "], found " + s);
      return false;
    }
    out = v;
    return true;
  }

  // A duration: a non-negative decimal number and a unit (us, ms, s, m, h, d), e.g. 500ms,
  // 1.5s, 10m, 72h.
  bool Duration(const Node& node, const std::string& path, std::chrono::microseconds& out) {
    if (!node.IsScalar()) {
      Problem(node, path, "expected a duration such as 30s, 10m or 72h, found " + Describe(node));
      return false;
    }
    const std::string& s = node.Scalar();
    const auto d = ParseDuration(s);
    if (!d) {
      Problem(node, path, "expected a duration such as 30s, 10m or 72h (units us, ms, s, m, h, d), found '" + s + "'");
      return false;
    }
    out = *d;
    return true;
  }

  // A duration > 0 and at most a day (timeouts and backoff delays).
  bool PositiveDuration(const Node& node, const std::string& path, std::chrono::microseconds& out) {
    std::chrono::microseconds v{};
    if (!Duration(node, path, v)) return false;
    if (v <= std::chrono::microseconds(0) || v > std::chrono::hours(24)) {
      Problem(node, path, "expected a duration greater than 0 and at most 24h, found '" + node.Scalar() + "'");
      return false;
    }
    out = v;
    return true;
  }

  // A plausibility window (engine.future_tolerance, past_tolerance): > 0, at most 100 years.
  bool Tolerance(const Node& node, const std::string& path, std::chrono::microseconds& out) {
    std::chrono::microseconds v{};
    if (!Duration(node, path, v)) return false;
    if (v <= std::chrono::microseconds(0) || v > std::chrono::hours(24 * 36500)) {
      Problem(node, path, "expected a duration greater than 0 and at most 36500d, found '" + node.Scalar() + "'");
      return false;
    }
    out = v;
    return true;
  }

  // A retention period: at least an hour, at most 100 years.
  bool RetentionDuration(const Node& node, const std::string& path, std::chrono::microseconds& out) {
    std::chrono::microseconds v{};
    if (!Duration(node, path, v)) return false;
    if (v < std::chrono::hours(1) || v > std::chrono::hours(24 * 365 * 100)) {
      Problem(node, path, "expected a duration from 1h to 100y (e.g. 5y, 90d), found '" + node.Scalar() + "'");
      return false;
    }
    out = v;
    return true;
  }

  static std::string FormatMicros(std::chrono::microseconds d) {
    const auto us = d.count();
    if (us % 1000000 == 0) return std::to_string(us / 1000000) + "s";
    if (us % 1000 == 0) return std::to_string(us / 1000) + "ms";
    return std::to_string(us) + "us";
  }

  // A hook template (URL, header value, argument, environment value): records a problem for
  // an unknown placeholder or an unmatched brace; adds the scope placeholders to `hook`.
  bool Template(const Node& node, const std::string& path, std::string& out, HookSpec& hook) {
    if (!String(node, path, out)) return false;
    std::vector<std::string> names;
    Status st = CheckHookTemplate(out, &names);
    if (!st.ok()) {
      Problem(node, path, st.message() + ", in '" + out + "'");
      return false;
    }
    for (const auto& n : names) {
      for (ScopeKey k : {ScopeKey::kStation, ScopeKey::kMachine, ScopeKey::kLot, ScopeKey::kOperator}) {
        if (n == ScopeKeyName(k) && std::find(hook.scope_placeholders.begin(), hook.scope_placeholders.end(), k) ==
                                        hook.scope_placeholders.end()) {
          hook.scope_placeholders.push_back(k);
        }
      }
    }
    return true;
  }

  void LoadWebhook(const Node& node, const std::string& path, HookSpec& hook);
  void LoadExec(const Node& node, const std::string& path, HookSpec& hook);
  void LoadAlertmanager(const Node& node, const std::string& path, HookSpec& hook);
  // retries, retry_base, retry_max of a durable hook's mapping.
  void LoadRetry(const Node& node, const std::string& path, HookSpec& hook, const Config& config);

  bool Choice(const Node& node, const std::string& path, const std::vector<std::string>& choices,
              std::string& out) {
    if (!String(node, path, out)) return false;
    if (std::find(choices.begin(), choices.end(), out) == choices.end()) {
      Problem(node, path, "expected one of " + JoinList(choices) + ", found '" + out + "'");
      return false;
    }
    return true;
  }

  void LoadRoot(const Node& root, Config& config);

  // `limits.phase1.exclude` (none, the default, or beyond_limits) of the mapping `phase1`.
  void Phase1Exclude(const Node& phase1, const std::string& path, rules::Phase1Exclusion& out) {
    std::string v;
    if (const Node e = phase1["exclude"]; e && Choice(e, path + ".exclude", {"none", "beyond_limits"}, v)) {
      out = v == "beyond_limits" ? rules::Phase1Exclusion::kBeyondLimits : rules::Phase1Exclusion::kNone;
    }
  }

  // `exclude` given directly under `limits`, which CheckMap reported as an unknown key: the
  // problem also says where it belongs.
  void HintMisplacedExclude(const Node& limits, const std::string& path, const char* phase1_example) {
    if (!limits["exclude"]) return;
    for (ConfigProblem& p : problems_) {
      if (p.path != path + ".exclude") continue;
      p.message += std::string("; it belongs under 'phase1' (phase1: { ") + phase1_example +
                   ", exclude: beyond_limits })";
      if (!limits["phase1"]) p.message += ": known limits are not estimated, so there is nothing to re-estimate";
    }
  }

 private:
  void LoadSources(const Node& node, Config& config);
  void LoadCharacteristic(const Node& node, const std::string& path, CharacteristicSpec& c);
  // The sections of a characteristic, in the order LoadCharacteristic reads them.
  void LoadStreamSettings(const Node& node, const std::string& path, CharacteristicSpec& c);
  void LoadSpec(const Node& node, const std::string& path, CharacteristicSpec& c);
  void LoadChart(const Node& node, const std::string& path, CharacteristicSpec& c, bool& t2_variables_ok);
  bool LoadLimits(const Node& node, const std::string& path, CharacteristicSpec& c, bool t2_variables_ok);
  bool LoadRules(const Node& node, const std::string& path, CharacteristicSpec& c);
  // The type's own spec from the settings above (warning lines, capability, the chart type's
  // checks), so that its problems carry the characteristic's path.
  void CheckChartSpec(const Node& node, const std::string& path, CharacteristicSpec& c, bool rules_given,
                      bool t2_variables_ok, bool t2_limits_ok);
  void LoadScope(const Node& node, const std::string& path, CharacteristicSpec& c);
  void LoadRuleList(const Node& list, const std::string& path, CharacteristicSpec& c, bool preset);
  void LoadRuleEntry(const std::string& name, const Node& at, const Node* params, const std::string& path,
                     CharacteristicSpec& c);
  void LoadRunRuleParams(rules::RuleKind kind, const Node& params, const std::string& path,
                         rules::RunRulesSpec& spec);
  bool LoadT2Variables(const Node& chart, const std::string& path, CharacteristicSpec& c);
  bool LoadT2Limits(const Node& limits, const std::string& path, CharacteristicSpec& c, bool variables_known);
  bool NumberList(const Node& node, const std::string& path, int expected, const char* what,
                  std::vector<double>& out);
  void ValidateT2(const Node& node, const std::string& path, CharacteristicSpec& c);
  void LoadResponses(const Node& node, Config& config);
  void LoadTierCondition(const Node& w, const std::string& path, bool first, TierCondition& out);
  void LoadHooks(const Node& node, Config& config);
  void CrossCheck(const Node& root, Config& config);

  std::string file_;
  std::vector<ConfigProblem> problems_;
};

}  // namespace shewhart::engine::config_loader
