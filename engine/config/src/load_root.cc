// The configuration's top level: interlock, codes, store, http, engine, sources, and the
// checks across sections (CrossCheck).

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

void Loader::LoadRoot(const Node& root, Config& config) {
  if (root.IsNull()) {
    Problem(root, "", "the configuration is empty; expected at least 'characteristics'");
    return;
  }
  if (!CheckMap(root, "", Keys(""))) {
    return;
  }
  if (auto n = root["interlock"]) {
    if (CheckMap(n, "interlock", Keys("interlock")) && n["reworked_may_move"]) {
      std::string b;
      if (Choice(n["reworked_may_move"], "interlock.reworked_may_move", {"true", "false"}, b)) {
        config.reworked_may_move = b == "true";
      }
    }
  }
  if (auto n = root["codes"]) {
    if (CheckMap(n, "codes", Keys("codes"))) {
      auto list = [&](const char* key, std::vector<std::string>& out) {
        const Node l = n[key];
        if (!l) return;
        const std::string lp = std::string("codes.") + key;
        if (!l.IsSequence() || l.size() == 0) {
          Problem(l, lp, "expected a non-empty list of codes, found " + Describe(l));
          return;
        }
        out.clear();
        for (std::size_t i = 0; i < l.size(); ++i) {
          std::string code;
          const std::string ip = lp + "[" + std::to_string(i) + "]";
          if (!NonEmptyString(l[i], ip, code)) continue;
          if (std::find(out.begin(), out.end(), code) != out.end())
            Problem(l[i], ip, "code '" + code + "' is listed twice");
          else out.push_back(code);
        }
      };
      list("causes", config.cause_codes);
      list("actions", config.action_codes);
      list("dispositions", config.disposition_codes);
      list("meanings", config.signature_meanings);
    }
  }
  if (auto n = root["sources"]) LoadSources(n, config);
  if (auto n = root["store"]) {
    if (CheckMap(n, "store", Keys("store"))) {
      if (n["sqlite"]) NonEmptyString(n["sqlite"], "store.sqlite", config.store_path);
      if (n["prune_every"]) PositiveDuration(n["prune_every"], "store.prune_every", config.prune_every);
      if (const Node r = n["retention"];
          r && CheckMap(r, "store.retention", Keys("store.retention"))) {
        if (r["records"]) RetentionDuration(r["records"], "store.retention.records", config.retain_records);
        if (r["genealogy"]) RetentionDuration(r["genealogy"], "store.retention.genealogy", config.retain_genealogy);
        if (r["rejects"]) RetentionDuration(r["rejects"], "store.retention.rejects", config.retain_rejects);
      }
    }
  }
  if (auto n = root["http"]) {
    if (CheckMap(n, "http", Keys("http")) && n["tokens"]) {
      NonEmptyString(n["tokens"], "http.tokens", config.http_tokens);
    }
    long long v;
    if (n.IsMap() && n["max_connections"] && Int(n["max_connections"], "http.max_connections", 1, 100000, v)) {
      config.http_max_connections = static_cast<std::size_t>(v);
    }
    if (n.IsMap() && n["listen"]) {
      if (NonEmptyString(n["listen"], "http.listen", config.http_listen) &&
          config.http_listen.rfind(':') == std::string::npos) {
        Problem(n["listen"], "http.listen", "expected host:port, found '" + config.http_listen + "'");
      }
    }
  }
  if (auto n = root["engine"]) {
    if (CheckMap(n, "engine", Keys("engine"))) {
      if (n["future_tolerance"]) Tolerance(n["future_tolerance"], "engine.future_tolerance", config.future_tolerance);
      if (n["past_tolerance"]) Tolerance(n["past_tolerance"], "engine.past_tolerance", config.past_tolerance);
      std::string clock;
      if (n["clock"] && Choice(n["clock"], "engine.clock", {"wall", "event"}, clock))
        config.event_clock = clock == "event";
      std::string judge;
      if (n["judge"] && Choice(n["judge"], "engine.judge", {"source", "shard"}, judge))
        config.judge_at_source = judge == "source";
      if (n["commit_delay"] && Duration(n["commit_delay"], "engine.commit_delay", config.commit_delay) &&
          config.commit_delay > std::chrono::milliseconds(100)) {
        Problem(n["commit_delay"], "engine.commit_delay",
                "expected a duration from 0 to 100ms, found '" + n["commit_delay"].Scalar() + "'");
      }
      if (n["retry_base"]) PositiveDuration(n["retry_base"], "engine.retry_base", config.retry_base);
      if (n["retry_max"]) PositiveDuration(n["retry_max"], "engine.retry_max", config.retry_max);
      if (config.retry_max < config.retry_base) {
        const Node at = n["retry_max"] ? n["retry_max"] : n["retry_base"];
        Problem(at, n["retry_max"] ? "engine.retry_max" : "engine.retry_base",
                "engine.retry_max (" + FormatMicros(config.retry_max) + ") must not be less than engine.retry_base (" +
                    FormatMicros(config.retry_base) + ")");
      }
      long long v;
      if (n["shards"] && Int(n["shards"], "engine.shards", 0, 256, v)) config.shards = static_cast<int>(v);
      if (n["queue_capacity"] && Int(n["queue_capacity"], "engine.queue_capacity", 16, 1 << 24, v)) {
        config.queue_capacity = static_cast<std::size_t>(v);
      }
      if (n["max_message_bytes"] && Int(n["max_message_bytes"], "engine.max_message_bytes", 64, 16 << 20, v)) {
        config.max_message_bytes = static_cast<std::size_t>(v);
      }
      // 0 is allowed (no per-characteristic or per-station series at all); the upper bound keeps
      // a typo (an extra zero or two) from registering series Prometheus cannot hold.
      if (n["metrics_max_characteristics"] &&
          Int(n["metrics_max_characteristics"], "engine.metrics_max_characteristics", 0, 100000, v)) {
        config.metrics_max_characteristics = static_cast<std::size_t>(v);
      }
      if (n["metrics_max_stations"] && Int(n["metrics_max_stations"], "engine.metrics_max_stations", 0, 100000, v)) {
        config.metrics_max_stations = static_cast<std::size_t>(v);
      }
    }
  }
  auto chars = root["characteristics"];
  if (!chars) {
    Problem(root, "characteristics", "missing: at least one characteristic is required");
  } else if (!chars.IsSequence()) {
    Problem(chars, "characteristics", "expected a list, found " + Describe(chars));
  } else {
    std::set<std::string> ids;
    // Exactly as many as the list holds: a vector grown by doubling would hold up to twice the
    // characteristics' bytes for the life of the config.
    config.characteristics.reserve(config.characteristics.size() + chars.size());
    for (std::size_t i = 0; i < chars.size(); ++i) {
      CharacteristicSpec c;
      const std::string path = "characteristics[" + std::to_string(i) + "]";
      LoadCharacteristic(chars[i], path, c);
      if (!c.id.empty() && !ids.insert(c.id).second) {
        Problem(chars[i]["id"], path + ".id", "duplicate characteristic id '" + c.id + "'");
      }
      config.characteristics.push_back(std::move(c));
    }
  }
  if (auto n = root["responses"]) LoadResponses(n, config);
  if (auto n = root["hooks"]) LoadHooks(n, config);
  CrossCheck(root, config);
}

void Loader::LoadSources(const Node& node, Config& config) {
  if (!node.IsSequence()) {
    Problem(node, "sources", "expected a list, found " + Describe(node));
    return;
  }
  for (std::size_t i = 0; i < node.size(); ++i) {
    const std::string path = "sources[" + std::to_string(i) + "]";
    const Node s = node[i];
    if (!CheckMap(s, path, Keys("sources[]"))) continue;
    if (s.size() != 1) {
      Problem(s, path, "expected exactly one of 'zmq' or 'file'");
      continue;
    }
    SourceSpec spec;
    if (auto z = s["zmq"]) {
      spec.kind = SourceSpec::Kind::kZmq;
      spec.name = "zmq" + std::to_string(i);
      const std::string zp = path + ".zmq";
      if (!CheckMap(z, zp, Keys("sources[].zmq"))) continue;
      if (z["bind"] && z["connect"]) {
        Problem(z, zp, "give either 'bind' or 'connect', not both");
      } else if (z["bind"]) {
        NonEmptyString(z["bind"], zp + ".bind", spec.zmq.endpoint);
      } else if (z["connect"]) {
        spec.zmq.bind = false;
        NonEmptyString(z["connect"], zp + ".connect", spec.zmq.endpoint);
      } else {
        Problem(z, zp, "missing 'bind' or 'connect' (e.g. bind: \"tcp://127.0.0.1:5555\")");
      }
      std::string pattern;
      if (z["pattern"] && Choice(z["pattern"], zp + ".pattern", {"pull", "sub"}, pattern)) {
        spec.zmq.subscribe = pattern == "sub";
      }
      long long hwm;
      if (z["receive_hwm"] && Int(z["receive_hwm"], zp + ".receive_hwm", 0, 1 << 30, hwm)) {
        spec.zmq.receive_hwm = static_cast<int>(hwm);
      }
    } else if (auto f = s["file"]) {
      spec.kind = SourceSpec::Kind::kFile;
      spec.name = "file" + std::to_string(i);
      const std::string fp = path + ".file";
      if (!CheckMap(f, fp, Keys("sources[].file"))) continue;
      if (!f["path"]) Problem(f, fp, "missing 'path'");
      else NonEmptyString(f["path"], fp + ".path", spec.file.path);
      std::string format;
      if (f["format"]) {
        if (Choice(f["format"], fp + ".format", {"jsonl", "csv"}, format) && format == "csv") {
          spec.file.format = FileSourceSpec::Format::kCsv;
        }
      } else if (spec.file.path.size() > 4 && spec.file.path.substr(spec.file.path.size() - 4) == ".csv") {
        spec.file.format = FileSourceSpec::Format::kCsv;
      }
    }
    config.sources.push_back(std::move(spec));
  }
}

void Loader::CrossCheck(const Node& root, Config& config) {
  auto chars = root["characteristics"];
  for (std::size_t i = 0; i < config.characteristics.size(); ++i) {
    auto& c = config.characteristics[i];
    const std::string path = "characteristics[" + std::to_string(i) + "]";
    if (!c.response.empty() && !config.responses.count(c.response)) {
      std::string known;
      for (const auto& [k, v] : config.responses) known += (known.empty() ? "" : ", ") + k;
      Problem(chars[i]["response"], path + ".response",
              "unknown response policy '" + c.response + "'" +
                  (known.empty() ? "; none are defined" : "; defined: " + known));
    }
  }
  for (const auto& [name, rs] : config.responses) {
    for (std::size_t i = 0; i < rs.tiers.size(); ++i) {
      for (std::size_t j = 0; j < rs.tiers[i].actions.size(); ++j) {
        const auto& a = rs.tiers[i].actions[j];
        if (a != "log" && a != "quality_case" && a != "quarantine" && !config.hooks.count(a)) {
          Problem(root["responses"][name]["tiers"][i]["do"][j],
                  "responses." + name + ".tiers[" + std::to_string(i) + "].do[" + std::to_string(j) + "]",
                  "unknown hook '" + a +
                      "'; define it under 'hooks' ('log', 'quality_case' and 'quarantine' are built in)");
        }
      }
    }
  }
  // A hook whose templates name a scope key ({lot}) must only be run for characteristics whose
  // alarms carry it (scope: [station, lot]); otherwise the placeholder would expand to nothing.
  for (std::size_t i = 0; i < config.characteristics.size(); ++i) {
    const auto& c = config.characteristics[i];
    if (c.response.empty() || !config.responses.count(c.response)) continue;
    const auto& rs = config.responses.at(c.response);
    for (std::size_t t = 0; t < rs.tiers.size(); ++t) {
      for (std::size_t j = 0; j < rs.tiers[t].actions.size(); ++j) {
        auto h = config.hooks.find(rs.tiers[t].actions[j]);
        if (h == config.hooks.end()) continue;
        for (ScopeKey k : h->second.scope_placeholders) {
          if (std::find(c.scope.begin(), c.scope.end(), k) != c.scope.end()) continue;
          std::string scope;
          for (ScopeKey s : c.scope) scope += (scope.empty() ? "" : ", ") + std::string(ScopeKeyName(s));
          Problem(root["responses"][c.response]["tiers"][t]["do"][j],
                  "responses." + c.response + ".tiers[" + std::to_string(t) + "].do[" + std::to_string(j) + "]",
                  "hook '" + h->first + "' uses {" + ScopeKeyName(k) + "}, but characteristic '" + c.id +
                      "' (which uses this policy) has no " + ScopeKeyName(k) + " in its scope [" + scope +
                      "]; add it to the characteristic's scope or remove the placeholder");
        }
      }
    }
  }
}

}  // namespace shewhart::engine::config_loader
