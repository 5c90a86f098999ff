// Alarm resolution against the size of held_units (issue: each resolution recounted every row
// of the table, 0.64 s at 2 M held units). An inline engine opens and resolves alarms one after
// another (a point beyond the limits opens an alarm and its hold; the next, in control, resolves
// it: resolve_after 1) on an empty store and on one already holding N units in closed holds,
// and prints the time per open+resolve cycle on each; the cost must not grow with N.
// Checks its answer first: every cycle opened one alarm and resolved it.
//
// Usage: resolution_bench   (env SHEWHART_RESOLUTION_BENCH_UNITS, default 2000000;
//                            SHEWHART_RESOLUTION_BENCH_CYCLES, default 500)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "shewhart/engine/config/config.h"
#include "shewhart/engine/engine.h"
#include "shewhart/engine/store/store.h"
#include "shewhart/engine/model/time_format.h"

namespace {

using namespace shewhart;
using namespace shewhart::engine;

long EnvOr(const char* name, long fallback) {
  const char* v = std::getenv(name);
  return v ? std::strtol(v, nullptr, 10) : fallback;
}

// `units` held units in closed holds of resolved alarms, 1000 per hold, in one transaction.
bool Fill(const std::string& path, long units) {
  auto store = Store::Open(path);
  if (!store.ok()) return false;
  Store& s = **store;
  if (!s.Begin().ok()) return false;
  std::vector<HeldUnit> batch;
  for (long h = 0; h * 1000 < units; ++h) {
    AlarmRecord a;
    a.characteristic = "bore";
    a.policy = "q";
    a.rule = "nelson.1";
    a.chart = "individuals";
    a.state = "resolved";
    a.scope = {{ScopeKey::kStation, "old"}};
    auto id = s.InsertAlarm(a);
    if (!id.ok()) return false;
    HoldRecord hold;
    hold.alarm_id = *id;
    hold.characteristic = "bore";
    hold.state = "closed";
    auto hid = s.CreateHold(hold);
    if (!hid.ok()) return false;
    batch.clear();
    for (long u = 0; u < 1000 && h * 1000 + u < units; ++u) {
      batch.push_back(HeldUnit{*hid, "OLD" + std::to_string(h * 1000 + u), "released", FromUnixMillis(1)});
    }
    if (!s.AddHeldUnits(*hid, batch).ok()) return false;
  }
  return s.Commit().ok();
}

struct Counter : EngineListener {
  long opened = 0, resolved = 0;
  void OnAlarm(const AlarmRecord& a, bool open) override {
    if (open) ++opened;
    else if (a.state == "resolved") ++resolved;
  }
};

// Seconds per open+resolve cycle on the store at `path`.
double Cycles(const std::string& path, long cycles, bool& ok) {
  ConfigLoad load = LoadConfigText(
      "engine: { past_tolerance: 36500d }\n"
      "characteristics:\n"
      "  - id: bore\n"
      "    chart: { type: individuals, mr_rules: false }\n"
      "    limits: { mean: 10, sigma: 0.1 }\n"
      "    rules: [nelson.1]\n"
      "    response: q\n"
      "responses: { q: { resolve_after: 1, tiers: [ { tier: 1, when: { signal: any }, do: [quarantine] } ] } }\n",
      "bench.yaml");
  Counter counter;
  EngineOptions opts;
  opts.threaded = false;
  opts.store_path = path;
  opts.listener = &counter;
  Engine engine(*load.config, opts);
  if (!engine.Start().ok()) return ok = false, 0;
  IngestSink& sink = engine.RegisterSource("bench");
  Measurement m;
  m.has_value = true;
  m.station.Assign("st1");
  const auto t0 = std::chrono::steady_clock::now();
  for (long i = 0; i < 2 * cycles; ++i) {
    m.value = i % 2 == 0 ? 11.0 : 10.0;  // beyond the limits, then in control
    m.ts = FromUnixMillis(1'000'000 + i * 1000);
    m.serial.Assign(("U" + std::to_string(i)).c_str());
    sink.OnMeasurement(m);
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  engine.Stop();
  ok = ok && counter.opened == cycles && counter.resolved == cycles;
  if (counter.opened != cycles || counter.resolved != cycles) {
    std::fprintf(stderr, "resolution_bench: %ld cycles opened %ld and resolved %ld alarms\n", cycles, counter.opened,
                 counter.resolved);
  }
  return s / static_cast<double>(cycles);
}

}  // namespace

int main() {
  spdlog::set_level(spdlog::level::warn);
  const long units = EnvOr("SHEWHART_RESOLUTION_BENCH_UNITS", 2000000);
  const long cycles = EnvOr("SHEWHART_RESOLUTION_BENCH_CYCLES", 500);
  const auto dir = std::filesystem::temp_directory_path() / ("shewhart-resolution-bench-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string empty = (dir / "empty.db").string(), full = (dir / "full.db").string();
  const auto f0 = std::chrono::steady_clock::now();
  if (!Fill(full, units)) {
    std::fprintf(stderr, "resolution_bench: could not fill the store\n");
    return 1;
  }
  std::printf("filled %ld held units in %.1f s\n", units,
              std::chrono::duration<double>(std::chrono::steady_clock::now() - f0).count());
  bool ok = true;
  const double a = Cycles(empty, cycles, ok);
  const double b = Cycles(full, cycles, ok);
  std::filesystem::remove_all(dir);
  if (!ok) return 1;
  std::printf("open+resolve cycle (alarm, hold, 1 unit held, resolution): %.3f ms with an empty held_units, "
              "%.3f ms with %ld rows (budget: <= 1 ms per resolution at 2 M)\n",
              a * 1e3, b * 1e3, units);
  return 0;
}
