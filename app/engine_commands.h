#pragma once
// The engine's commands of `shewhart`: check, replay and run (main.cc parses the command line;
// the store and API commands are in alarms.h, holds.h, limits.h, silences.h, trace.h, audit.h).
// Each returns the process's exit code: 0 ok, 1 a finding (problems in a config), 2 usage or
// an error. One call per process; they install signal handlers and the default logger.

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "shewhart/engine/config/config.h"

namespace shewhart::app {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFinding = 1;
inline constexpr int kExitUsage = 2;

// The default logger: stderr, ISO times, debug with `verbose`.
void SetUpLogging(bool verbose);
// Loads a config, printing every problem. Returns nullopt with `exit_code` set on failure.
std::optional<engine::Config> Load(const std::string& path, int& exit_code);

// `shewhart check CONFIG`: loads it and says so.
int Check(const std::string& path);
// `shewhart replay CONFIG INPUT...`: inline, deterministic; JSON lines on stdout.
int Replay(const std::string& config_path, const std::vector<std::string>& inputs, const std::string& store);

// `shewhart routes CONFIG`: which shard, and which source's thread, judges each
// characteristic (a table, or JSON lines with `json`); `shards` > 0 overrides engine.shards.
int Routes(const std::string& path, int shards, bool json);

// `shewhart arl CONFIG`: average run lengths of a characteristic's rules by simulation.
int Arl(const std::string& config_path, const std::string& characteristic, const std::string& shifts_text,
        int runs, std::uint64_t seed, bool json);

struct RunOptions {
  double duration_s = 0;
  std::string listen;
  std::string latency_out;
  std::size_t latency_capacity = std::size_t{1} << 20;
};
// `shewhart run CONFIG`: the threaded engine with its sources and HTTP server until SIGINT,
// SIGTERM or --duration.
int Run(const std::string& config_path, const RunOptions& run_opts);

}  // namespace shewhart::app
