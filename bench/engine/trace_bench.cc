// Genealogy in the store (DESIGN.md budgets; issue 5):
//   BM_TraceIngest       sustained AppendTrace of unit events in batches of 4096 into a
//                        fresh file store: >= 200 k events/s over the slowest tenth of the
//                        run, on the thread's CPU clock as budget.h measures every budget
//                        (the wall-clock rate, which adds I/O and, on a shared machine, waiting
//                        for a core, is printed beside it);
//   BM_SuspectWindow     UnitsInWindow of one station over one hour on a store of 10^7 unit
//                        events: p99 <= 5 ms over 1000 random windows;
//   BM_TraceForward      TraceForward of a lot that reaches about 10^4 units (8000
//                        components, their assemblies and crates): <= 50 ms.
// The records come from the generated plant of tests/engine/plant.h (3 lines x 5 stations,
// assemblies of 4). Each benchmark first checks the store's answers against a brute-force scan
// of the generated records, then times.
//
// Building the 10^7-record store takes minutes; it is built once at $SHEWHART_TRACE_BENCH_STORE
// (default /tmp/shewhart-trace-bench.db) and reused while its sidecar file (.params) names the
// same plant. $SHEWHART_TRACE_BENCH_EVENTS (default 10000000) and
// $SHEWHART_TRACE_BENCH_INGEST (default 2000000) set the sizes (ctest runs a small smoke).

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "../budget.h"
#include "plant.h"
#include "shewhart/engine/store/store.h"
#include "shewhart/engine/model/time_format.h"

namespace {

using namespace shewhart::engine;
using shewhart::testing::Plant;
using shewhart::testing::PlantEvent;
using shewhart::testing::PlantOptions;
using Clock = std::chrono::steady_clock;

std::int64_t EnvInt(const char* name, std::int64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoll(v) : fallback;
}

std::string StorePath() {
  const char* v = std::getenv("SHEWHART_TRACE_BENCH_STORE");
  return v && *v ? v : "/tmp/shewhart-trace-bench.db";
}

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "trace bench: wrong answer: %s\n", what.c_str());
  std::exit(1);
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// About 4.49 records per component (3 stations, the assembly station for 99 %, a quarter of
// the assembly's two records).
PlantOptions OptionsFor(std::int64_t events) {
  PlantOptions o;
  o.components = std::max<std::int64_t>(1000, static_cast<std::int64_t>(static_cast<double>(events) / 4.485));
  o.lot_size = 8000;
  o.seed = 5;
  return o;
}

// Records per AppendTrace: $SHEWHART_TRACE_BENCH_BATCH, default 4096 (the engine commits what
// arrived in 100 ms: 4096 records is 41 k/s, 20000 is 200 k/s).
std::size_t BatchSize() {
  return static_cast<std::size_t>(std::max<std::int64_t>(1, EnvInt("SHEWHART_TRACE_BENCH_BATCH", 4096)));
}

struct Spent {
  double wall = 0, cpu = 0;  // seconds
};

// Appends events [begin, end) of `plant` in batches of BatchSize(); returns the time spent in
// AppendTrace (conversion to UnitEvent, the decoder's work in the engine, is not counted).
Spent Append(Store& store, const Plant& plant, std::size_t begin, std::size_t end) {
  const std::size_t batch_size = BatchSize();
  std::vector<UnitEvent> batch;
  batch.reserve(batch_size);
  Spent spent;
  for (std::size_t i = begin; i < end; ++i) {
    batch.emplace_back();
    plant.ToUnitEvent(plant.events()[i], batch.back());
    if (batch.size() == batch_size || i + 1 == end) {
      const auto t0 = Clock::now();
      const double c0 = shewhart::bench::ThreadCpuSeconds();
      shewhart::Status st = store.AppendTrace(batch);
      spent.cpu += shewhart::bench::ThreadCpuSeconds() - c0;
      spent.wall += Seconds(Clock::now() - t0);
      if (!st.ok()) Fail("AppendTrace: " + st.message());
      batch.clear();
    }
  }
  return spent;
}

// The plant and store of the query benchmarks, built once per process (and on disk once).
struct QueryFixture {
  std::unique_ptr<Plant> plant;
  std::unique_ptr<Store> store;
};

QueryFixture& Queries() {
  static QueryFixture f = [] {
    QueryFixture q;
    const PlantOptions o = OptionsFor(EnvInt("SHEWHART_TRACE_BENCH_EVENTS", 10'000'000));
    q.plant = std::make_unique<Plant>(o);
    const std::string path = StorePath();
    const std::string params = "components=" + std::to_string(o.components) + " lot_size=" +
                               std::to_string(o.lot_size) + " seed=" + std::to_string(o.seed) +
                               " events=" + std::to_string(q.plant->events().size()) + " schema=10\n";
    std::string existing;
    if (std::ifstream in(path + ".params"); in) std::getline(in, existing);
    const bool reuse = existing + "\n" == params && std::filesystem::exists(path);
    if (!reuse) {
      for (const char* suffix : {"", "-wal", "-shm", ".params"}) std::filesystem::remove(path + suffix);
    }
    auto store = Store::Open(path);
    if (!store.ok()) Fail("opening " + path + ": " + store.status().message());
    q.store = std::move(*store);
    if (!reuse) {
      std::fprintf(stderr, "trace bench: building %s with %zu unit events (once; reused while %s.params matches)\n",
                   path.c_str(), q.plant->events().size(), path.c_str());
      const auto t0 = Clock::now();
      Append(*q.store, *q.plant, 0, q.plant->events().size());
      std::ofstream(path + ".params") << params;
      std::fprintf(stderr, "trace bench: built in %.0f s\n", Seconds(Clock::now() - t0));
    } else {
      std::fprintf(stderr, "trace bench: reusing %s (%s)\n", path.c_str(), existing.c_str());
    }
    return q;
  }();
  return f;
}

void ReportLatency(benchmark::State& state, std::vector<double> ms, double budget_ms, const char* what) {
  std::sort(ms.begin(), ms.end());
  auto at = [&](double p) {
    return ms[std::min(ms.size() - 1, static_cast<std::size_t>(p * static_cast<double>(ms.size())))];
  };
  const double p50 = at(0.50), p99 = at(0.99), max = ms.back();
  const bool met = p99 <= budget_ms;
  char label[200];
  std::snprintf(label, sizeof label, "budget %s p99 <= %g ms: %s (p50 %.3f ms, p99 %.3f ms, max %.3f ms, n %zu)", what,
                budget_ms, met ? "met" : "MISSED", p50, p99, max, ms.size());
  state.SetLabel(label);
  state.counters["p50_ms"] = p50;
  state.counters["p99_ms"] = p99;
  state.counters["budget_met"] = met ? 1 : 0;
}

void BM_TraceIngest(benchmark::State& state) {
  const std::int64_t n = EnvInt("SHEWHART_TRACE_BENCH_INGEST", 2'000'000);
  const Plant plant(OptionsFor(n));
  const std::size_t total = plant.events().size();
  const std::string path = StorePath() + ".ingest";
  for (auto _ : state) {
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
    auto store = Store::Open(path);
    if (!store.ok()) Fail("opening " + path + ": " + store.status().message());
    // Ten slices; the slowest is the sustained rate (the store only grows).
    Spent all;
    double slowest = 1e300, slowest_wall = 1e300;
    for (int k = 0; k < 10; ++k) {
      const std::size_t b = total * static_cast<std::size_t>(k) / 10, e = total * static_cast<std::size_t>(k + 1) / 10;
      const Spent d = Append(**store, plant, b, e);
      all.wall += d.wall;
      all.cpu += d.cpu;
      slowest = std::min(slowest, static_cast<double>(e - b) / d.cpu);
      slowest_wall = std::min(slowest_wall, static_cast<double>(e - b) / d.wall);
    }
    state.SetIterationTime(all.wall);
    // Check: every record is stored, and a lot's consumers are all found.
    auto window =
        (*store)->UnitsInWindow({{ScopeKey::kStation, plant.Station(0)}}, FromUnixMicros(0), EventTime::max());
    std::size_t want = 0;
    for (std::int64_t first : plant.BruteWindowStation(0, 0, INT64_MAX)) want += first >= 0;
    if (!window.ok() || window->size() != want) Fail("station s0.0 after ingest");
    const double rate = static_cast<double>(total) / all.cpu, rate_wall = static_cast<double>(total) / all.wall;
    const bool met = slowest >= 200'000;
    char label[260];
    std::snprintf(
        label, sizeof label,
        "budget sustained >= 200 k events/s: %s (CPU: slowest tenth %.0f k/s, overall %.0f k/s; wall: slowest "
        "tenth %.0f k/s, overall %.0f k/s; %zu events)",
        met ? "met" : "MISSED", slowest / 1e3, rate / 1e3, slowest_wall / 1e3, rate_wall / 1e3, total);
    state.SetLabel(label);
    state.counters["events_per_s"] = rate;
    state.counters["sustained_per_s"] = slowest;
    state.counters["wall_events_per_s"] = rate_wall;
    state.counters["budget_met"] = met ? 1 : 0;
    store->reset();
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
  }
}
BENCHMARK(BM_TraceIngest)->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);

void BM_SuspectWindow(benchmark::State& state) {
  QueryFixture& q = Queries();
  const Plant& plant = *q.plant;
  const std::int64_t begin = plant.options().start_us, end = plant.events().back().ts;
  constexpr std::int64_t kHour = 3'600'000'000LL;
  std::mt19937_64 rng(7);
  auto window = [&](std::uint16_t& station, std::int64_t& from) {
    station = static_cast<std::uint16_t>(std::uniform_int_distribution<int>(0, plant.stations() - 1)(rng));
    from = std::uniform_int_distribution<std::int64_t>(begin, std::max(begin, end - kHour))(rng);
  };
  // Check three windows against brute force before timing.
  for (int i = 0; i < 3; ++i) {
    std::uint16_t s;
    std::int64_t from;
    window(s, from);
    auto got = q.store->UnitsInWindow({{ScopeKey::kStation, plant.Station(s)}}, FromUnixMicros(from),
                                      FromUnixMicros(from + kHour));
    if (!got.ok()) Fail(got.status().message());
    std::map<std::string, std::int64_t> a, b;
    for (const auto& u : *got) a.emplace(u.serial, ToUnixMicros(u.first));
    const auto first = plant.BruteWindowStation(s, from, from + kHour);
    for (std::uint32_t u = 0; u < first.size(); ++u) {
      if (first[u] >= 0) b.emplace(plant.Serial(u), first[u]);
    }
    if (a != b || a.empty())
      Fail("window of " + plant.Station(s) + ": " + std::to_string(a.size()) + " units, want " +
           std::to_string(b.size()));
  }
  std::vector<double> ms;
  std::size_t units = 0;
  for (auto _ : state) {
    std::uint16_t s;
    std::int64_t from;
    window(s, from);
    const ScopeLabels scope{{ScopeKey::kStation, plant.Station(s)}};
    const auto t0 = Clock::now();
    auto got = q.store->UnitsInWindow(scope, FromUnixMicros(from), FromUnixMicros(from + kHour));
    const double d = Seconds(Clock::now() - t0);
    if (!got.ok()) Fail(got.status().message());
    units += got->size();
    ms.push_back(d * 1e3);
    state.SetIterationTime(d);
  }
  state.counters["units_per_window"] = static_cast<double>(units) / static_cast<double>(ms.size());
  state.counters["store_events"] = static_cast<double>(plant.events().size());
  ReportLatency(state, std::move(ms), 5.0, "suspect window");
}
BENCHMARK(BM_SuspectWindow)->Iterations(1000)->UseManualTime()->Unit(benchmark::kMicrosecond);

void BM_TraceForward(benchmark::State& state) {
  QueryFixture& q = Queries();
  const Plant& plant = *q.plant;
  // Lot of station 0 of line 0 used by component 8000 (the second lot there: 8000 components).
  std::uint32_t lot = 0;
  const std::uint32_t unit = std::min<std::uint32_t>(8000, plant.first_assembly() - 1);
  for (const PlantEvent& e : plant.events()) {
    if (e.unit == unit && e.station == 0) {
      lot = e.lots[0];
      break;
    }
  }
  const std::string name = plant.Lot(lot);
  auto check = q.store->TraceForward(name);
  if (!check.ok()) Fail(check.status().message());
  const std::vector<int> depth = plant.BruteForward(lot);
  std::size_t want = 0;
  for (int d : depth) want += d >= 0;
  std::map<std::string, int> got;
  for (const auto& u : check->reached.units) got.emplace(u.serial, u.depth);
  if (got.size() != want)
    Fail("forward " + name + ": " + std::to_string(got.size()) + " units, want " + std::to_string(want));
  for (std::uint32_t u = 0; u < depth.size(); ++u) {
    if (depth[u] >= 0 && (got.count(plant.Serial(u)) == 0 || got[plant.Serial(u)] != depth[u])) {
      Fail("forward " + name + ": " + plant.Serial(u));
    }
  }
  std::vector<double> ms;
  for (auto _ : state) {
    const auto t0 = Clock::now();
    auto t = q.store->TraceForward(name);
    const double d = Seconds(Clock::now() - t0);
    if (!t.ok() || t->reached.units.size() != want) Fail("forward " + name + " while timing");
    ms.push_back(d * 1e3);
    state.SetIterationTime(d);
  }
  state.counters["units"] = static_cast<double>(want);
  ReportLatency(state, std::move(ms), 50.0, "forward trace");
}
BENCHMARK(BM_TraceForward)->Iterations(50)->UseManualTime()->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
