#pragma once
// What the engine's tests share (engine_test.cc, fail_closed_test.cc): a small config, a
// listener that collects the alarms opened and the serials held, and an inline run over a file.

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "shewhart/base/status.h"
#include "shewhart/connectors/file/file_source.h"
#include "shewhart/engine/config/config.h"
#include "shewhart/engine/engine.h"

namespace shewhart::engine::fixture {

inline constexpr const char* kConfig = R"(
engine: { past_tolerance: 36500d }   # the tests' event times start in 1970
characteristics:
  - id: bore
    spec: { lsl: 9, usl: 11 }
    chart: { type: individuals }
    limits: { mean: 10, sigma: 0.1 }
    rules: [nelson.1]
    scope: [station]
)";

// A JSON line: a `bore` measurement of unit `serial` at `station`, `ms` after the epoch.
inline std::string Measure(double v, std::int64_t ms, const std::string& serial, const std::string& station) {
  return "{\"characteristic\":\"bore\",\"value\":" + std::to_string(v) + ",\"ts\":" + std::to_string(ms) +
         ",\"serial\":\"" + serial + "\",\"station\":\"" + station + "\"}\n";
}
// A JSON line: unit `serial` passed `station`, `ms` after the epoch.
inline std::string Unit(std::int64_t ms, const std::string& serial, const std::string& station) {
  return "{\"unit\":\"" + serial + "\",\"station\":\"" + station + "\",\"ts\":" + std::to_string(ms) + "}\n";
}

inline Config LoadOrDie(const std::string& text) {
  ConfigLoad load = LoadConfigText(text, "test.yaml");
  SHEWHART_CHECK(load.config.has_value());
  return *load.config;
}

struct Collector : EngineListener {
  std::vector<AlarmRecord> alarms;
  std::vector<std::string> held;
  void OnAlarm(const AlarmRecord& a, bool opened) override {
    if (opened) alarms.push_back(a);
  }
  void OnHold(const HoldRecord&, const std::vector<HeldUnit>& added) override {
    for (const auto& u : added) held.push_back(u.serial);
  }
};

// Runs an inline engine on the store at `store` over the JSONL file `input`, then stops it.
// Returns null (after recording a failure) when the engine or the file fails.
// Reads the file at `path` (JSON lines, or CSV with `csv`) into `engine` as source `source`.
inline Result<connectors::file::FileReadStats> ReadInto(Engine& engine, const std::string& path,
                                                         const std::string& source, bool csv = false) {
  FileSourceSpec spec;
  spec.path = path;
  if (csv) spec.format = FileSourceSpec::Format::kCsv;
  return connectors::file::ReadFile(spec, source, engine.index(), 65536, engine.RegisterSource(source));
}

inline std::unique_ptr<Engine> RunInline(const Config& config, const std::string& store, const std::string& input,
                                  EngineListener* listener, bool want_points = false) {
  EngineOptions opts;
  opts.threaded = false;
  opts.listener = listener;
  opts.want_points = want_points;
  opts.store_path = store;
  auto engine = std::make_unique<Engine>(config, opts);
  Status st = engine->Start();
  EXPECT_TRUE(st.ok()) << st.message();
  if (!st.ok()) return nullptr;
  auto read = ReadInto(*engine, input, "f");
  EXPECT_TRUE(read.ok()) << read.status().message();
  engine->Stop();
  return read.ok() ? std::move(engine) : nullptr;
}

}  // namespace shewhart::engine::fixture
