// Logging, loading a config, `shewhart check` and `shewhart arl` (engine_commands.h).

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <sys/resource.h>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "engine_commands.h"
#include "arl.h"
#include "alarms.h"
#include "cli_validators.h"
#include "silences.h"
#include "audit.h"
#include "limits.h"
#include "trace.h"
#include "holds.h"
#include "shewhart/connectors/file/file_source.h"
#include "shewhart/connectors/zmq/zmq_connectors.h"
#include "shewhart/engine/model/json.h"
#include "shewhart/engine/model/key_group.h"
#include "shewhart/engine/pipeline/chart_runner.h"
#include "shewhart/engine/config/config.h"
#include "shewhart/engine/engine.h"
#include "shewhart/engine/api/http_server.h"
#include "shewhart/engine/store/record_json.h"
#include "shewhart/engine/pipeline/signal_json.h"
#include "shewhart/engine/model/time_format.h"


namespace shewhart::app {

using engine::Json;

void SetUpLogging(bool verbose) {
  auto logger = spdlog::stderr_color_mt("shewhart");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  spdlog::set_level(verbose ? spdlog::level::debug : spdlog::level::info);
}

// Loads a config, printing every problem. Returns nullopt with `exit_code` set on failure.
std::optional<engine::Config> Load(const std::string& path, int& exit_code) {
  engine::ConfigLoad load = engine::LoadConfigFile(path);
  if (!load.io_status.ok()) {
    std::fprintf(stderr, "shewhart: %s\n", load.io_status.message().c_str());
    exit_code = kExitUsage;
    return std::nullopt;
  }
  for (const auto& p : load.problems) std::fprintf(stderr, "%s\n", p.ToString().c_str());
  if (!load.config) {
    std::fprintf(stderr, "%zu problem%s in %s\n", load.problems.size(), load.problems.size() == 1 ? "" : "s",
                 path.c_str());
    exit_code = kExitFinding;
    return std::nullopt;
  }
  return std::move(load.config);
}

// ---------------------------------------------------------------------------------------------
// check
int Check(const std::string& path) {
  int code = kExitOk;
  auto config = Load(path, code);
  if (!config) return code;
  std::printf("%s: ok (%zu characteristic%s, %zu source%s)\n", path.c_str(), config->characteristics.size(),
              config->characteristics.size() == 1 ? "" : "s", config->sources.size(),
              config->sources.size() == 1 ? "" : "s");
  return kExitOk;
}

// ---------------------------------------------------------------------------------------------
// routes
int Routes(const std::string& path, int shards, bool json) {
  int code = kExitOk;
  auto config = Load(path, code);
  if (!config) return code;
  std::size_t n = static_cast<std::size_t>(shards > 0 ? shards : config->shards);
  const bool from_machine = n == 0;
  if (from_machine) n = std::max(1u, std::thread::hardware_concurrency());
  // engine.judge: source -- the i-th zmq source judges shard i (Engine::RegisterSource).
  std::vector<const engine::SourceSpec*> judge(n, nullptr);
  std::size_t zmq = 0;
  for (const auto& s : config->sources) {
    if (s.kind != engine::SourceSpec::Kind::kZmq) continue;
    if (config->judge_at_source && zmq < n) judge[zmq] = &s;
    ++zmq;
  }
  if (!json) {
    std::printf("# %zu shard%s (%s); engine.judge: %s\n", n, n == 1 ? "" : "s",
                from_machine ? "engine.shards 0: this machine's hardware threads"
                : shards > 0 ? "--shards"
                             : "engine.shards",
                config->judge_at_source ? "source" : "shard");
    std::printf("%-32s %5s %5s  %s\n", "characteristic", "group", "shard", "judged by");
  }
  for (const auto& c : config->characteristics) {
    const std::uint32_t group = engine::KeyGroupOf(c.id);
    const std::size_t shard = engine::ShardOfGroup(group, n);
    const engine::SourceSpec* src = judge[shard];
    const std::string by = src ? "source " + src->name + " (" + src->zmq.endpoint + ")" : "shard thread";
    if (json) {
      engine::Json line = engine::Json::object();
      line["characteristic"] = c.id;
      line["group"] = group;
      line["shard"] = shard;
      line["source"] = src ? engine::Json(src->name) : engine::Json(nullptr);
      line["endpoint"] = src ? engine::Json(src->zmq.endpoint) : engine::Json(nullptr);
      std::printf("%s\n", line.dump().c_str());
    } else {
      std::printf("%-32s %5u %5zu  %s\n", c.id.c_str(), group, shard, by.c_str());
    }
  }
  return kExitOk;
}

// ---------------------------------------------------------------------------------------------
// arl
int Arl(const std::string& config_path, const std::string& characteristic, const std::string& shifts_text,
        int runs, std::uint64_t seed, bool json) {
  int code = kExitOk;
  auto config = Load(config_path, code);
  if (!config) return code;
  const int id = config->FindCharacteristic(characteristic);
  if (id < 0) {
    std::fprintf(stderr, "shewhart arl: no characteristic '%s' in %s\n", characteristic.c_str(), config_path.c_str());
    return kExitUsage;
  }
  app::ArlOptions opts;
  opts.runs = runs;
  opts.seed = seed;
  opts.shifts.clear();
  std::size_t start = 0;
  while (start <= shifts_text.size()) {
    std::size_t end = shifts_text.find(',', start);
    if (end == std::string::npos) end = shifts_text.size();
    const std::string item = shifts_text.substr(start, end - start);
    char* stop = nullptr;
    const double v = std::strtod(item.c_str(), &stop);
    if (item.empty() || stop != item.c_str() + item.size() || !std::isfinite(v)) {
      std::fprintf(stderr, "shewhart arl: --shift takes numbers separated by commas, found '%s'\n", item.c_str());
      return kExitUsage;
    }
    opts.shifts.push_back(v);
    start = end + 1;
  }
  const auto& spec = config->characteristics[static_cast<std::size_t>(id)];
  std::fprintf(stderr, "arl: %s (%s chart), %d runs per shift, seed %llu...\n", spec.id.c_str(),
               std::string(rules::ChartName(engine::PrimaryChart(spec.type))).c_str(), runs,
               static_cast<unsigned long long>(seed));
  auto rows = app::EstimateArl(spec, opts);
  if (!rows.ok()) {
    std::fprintf(stderr, "shewhart arl: %s\n", rows.status().message().c_str());
    return kExitUsage;
  }
  if (json) {
    for (const auto& r : *rows) {
      std::printf("%s\n", Json{{"characteristic", spec.id}, {"shift", r.shift}, {"arl", r.arl}, {"sd", r.sd},
                               {"se", r.se}, {"median", r.median}, {"runs", runs}, {"censored", r.censored}}
                              .dump(-1, ' ', false, engine::kReplaceInvalidUtf8)
                              .c_str());
    }
    return kExitOk;
  }
  std::printf("%-8s %12s %10s %10s %10s %9s\n", "SHIFT", "ARL", "SE", "SD", "MEDIAN", "CENSORED");
  for (const auto& r : *rows) {
    std::printf("%-8g %12.1f %10.1f %10.1f %10.1f %9lld\n", r.shift, r.arl, r.se, r.sd, r.median,
                static_cast<long long>(r.censored));
  }
  std::printf("shift in process sigmas; run length in plotted points after Phase I; spec-limit rules not counted\n");
  return kExitOk;
}

}  // namespace shewhart::app
