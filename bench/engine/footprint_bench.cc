// What one characteristic costs to hold, per chart type, and how long a large config takes to
// start (issue 17: <= 4 KB per individuals characteristic; 100 000 characteristics loaded and
// running in <= 3 s).
//
// Memory: the heap in use (glibc's mallinfo2: arena bytes in use plus mmap'ed blocks) after a
// config of N characteristics of one chart type is loaded (its YAML tree already freed), and
// after an engine on it has started (inline, store in memory); the figure per characteristic is
// the difference between 2N and N characteristics, divided by N, so that what an engine holds
// whatever its size (the store, the metric families) cancels out.
// Startup: LoadConfigText + Engine::Start + Stop over a generated config of S individuals
// characteristics (the shape shewhart-load --print-config writes), wall time and peak RSS;
// before anything else, so that the peak is this run's.
//
// Environment: SHEWHART_FOOTPRINT_N (default 10000), SHEWHART_FOOTPRINT_STARTUP (default 100000).
// Exit status 1 when a config does not load or an engine does not start; budgets missed are
// reported, not failures.

#include <malloc.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "shewhart/engine/config/config.h"
#include "shewhart/engine/engine.h"

namespace {

using namespace shewhart::engine;

constexpr double kBudgetIndividualsBytes = 4096;
constexpr double kBudgetStartupSeconds = 3;

std::size_t EnvSize(const char* name, std::size_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? static_cast<std::size_t>(std::strtoull(v, nullptr, 10)) : fallback;
}

std::size_t HeapInUse() {
  const struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;
}

long PeakRssKb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

struct ChartShape {
  const char* type;
  const char* chart;   // the chart mapping
  const char* limits;  // the limits mapping
};

// Phase I limits, the defaults otherwise: what a new characteristic usually starts with.
const ChartShape kShapes[] = {
    {"individuals", "{ type: individuals }", "{ phase1: { points: 20 } }"},
    {"xbar_r", "{ type: xbar_r, subgroup_size: 5 }", "{ phase1: { subgroups: 25 } }"},
    {"xbar_s", "{ type: xbar_s, subgroup_size: 5 }", "{ phase1: { subgroups: 25 } }"},
    {"p", "{ type: p }", "{ phase1: { subgroups: 25 } }"},
    {"np", "{ type: np }", "{ phase1: { subgroups: 25 } }"},
    {"c", "{ type: c }", "{ phase1: { subgroups: 25 } }"},
    {"u", "{ type: u }", "{ phase1: { subgroups: 25 } }"},
    {"ewma", "{ type: ewma }", "{ phase1: { points: 20 } }"},
    {"cusum", "{ type: cusum }", "{ phase1: { points: 20 } }"},
    {"t2 (3 variables)", "{ type: t2, variables: 3 }", "{ phase1: { subgroups: 20 } }"},
};

std::string ConfigText(const ChartShape& shape, std::size_t n) {
  std::string text = "characteristics:\n";
  char line[256];
  for (std::size_t i = 0; i < n; ++i) {
    std::snprintf(line, sizeof line, "  - { id: c%06zu, chart: %s, limits: %s, scope: [station] }\n", i, shape.chart,
                  shape.limits);
    text += line;
  }
  return text;
}

// The shape shewhart-load --print-config writes: individuals, known limits, Nelson 1-8.
std::string LoadGeneratorConfig(std::size_t n) {
  std::string text = "characteristics:\n";
  char block[512];
  for (std::size_t i = 0; i < n; ++i) {
    std::snprintf(block, sizeof block,
                  "  - id: c%06zu\n    chart: { type: individuals, mr_rules: false }\n"
                  "    limits: { mean: 100.000000, sigma: 1.000000 }\n"
                  "    rules: [nelson.1, nelson.2, nelson.3, nelson.4, nelson.5, nelson.6, nelson.7, nelson.8]\n"
                  "    scope: [station]\n",
                  i);
    text += block;
  }
  return text;
}

std::optional<Config> LoadOrReport(const std::string& text, const char* what) {
  ConfigLoad load = LoadConfigText(text, what);
  if (!load.config) {
    std::fprintf(stderr, "footprint_bench: %s does not load: %s\n", what,
                 load.problems.empty() ? "?" : load.problems[0].message.c_str());
    return std::nullopt;
  }
  return std::move(load.config);
}

EngineOptions Inline() {
  EngineOptions opts;
  opts.threaded = false;
  opts.store_path = ":memory:";
  return opts;
}

struct Bytes {
  std::size_t config = 0;  // the loaded Config
  std::size_t engine = 0;  // the started engine on it, beyond the Config
};

std::optional<Bytes> Measure(const ChartShape& shape, std::size_t n) {
  const std::string text = ConfigText(shape, n);
  const std::size_t before = HeapInUse();
  std::optional<Config> config = LoadOrReport(text, shape.type);
  if (!config) return std::nullopt;
  const std::size_t loaded = HeapInUse();
  Engine engine(*config, Inline());
  if (shewhart::Status st = engine.Start(); !st.ok()) {
    std::fprintf(stderr, "footprint_bench: %s: engine does not start: %s\n", shape.type, st.message().c_str());
    return std::nullopt;
  }
  const std::size_t started = HeapInUse();
  Bytes b{loaded - before, started - loaded};
  engine.Stop();
  return b;
}

}  // namespace

int main() {
  const std::size_t startup_n = EnvSize("SHEWHART_FOOTPRINT_STARTUP", 100000);
  const std::size_t n = EnvSize("SHEWHART_FOOTPRINT_N", 10000);

  // Startup first: the peak RSS is then this part's.
  {
    const std::string text = LoadGeneratorConfig(startup_n);
    const long rss_before = PeakRssKb();
    const auto t0 = std::chrono::steady_clock::now();
    std::optional<Config> config = LoadOrReport(text, "the generated config");
    if (!config) return 1;
    const auto t1 = std::chrono::steady_clock::now();
    {
      Engine engine(*config, Inline());
      if (shewhart::Status st = engine.Start(); !st.ok()) {
        std::fprintf(stderr, "footprint_bench: engine does not start: %s\n", st.message().c_str());
        return 1;
      }
      const auto t2 = std::chrono::steady_clock::now();
      engine.Stop();
      const double load_s = std::chrono::duration<double>(t1 - t0).count();
      const double start_s = std::chrono::duration<double>(t2 - t1).count();
      std::printf(
          "startup, %zu characteristics (%.1f MB of YAML): load %.2f s + start %.2f s = %.2f s; peak RSS %.0f MB "
          "(%.1f KB per characteristic, over the %.0f MB before); budget <= %.0f s: %s\n",
          startup_n, static_cast<double>(text.size()) / 1e6, load_s, start_s, load_s + start_s,
          static_cast<double>(PeakRssKb()) / 1024.0,
          static_cast<double>(PeakRssKb() - rss_before) / static_cast<double>(startup_n),
          static_cast<double>(rss_before) / 1024.0, kBudgetStartupSeconds,
          load_s + start_s <= kBudgetStartupSeconds ? "met" : "MISSED");
    }
  }

  std::printf("\nheap per characteristic (difference between %zu and %zu characteristics, Phase I limits):\n", 2 * n,
              n);
  std::printf("%-18s %10s %10s %10s\n", "chart", "config B", "engine B", "total B");
  for (const ChartShape& shape : kShapes) {
    const std::optional<Bytes> small = Measure(shape, n);
    const std::optional<Bytes> large = Measure(shape, 2 * n);
    if (!small || !large) return 1;
    const double config_b = (static_cast<double>(large->config) - static_cast<double>(small->config)) / n;
    const double engine_b = (static_cast<double>(large->engine) - static_cast<double>(small->engine)) / n;
    const double total = config_b + engine_b;
    std::printf("%-18s %10.0f %10.0f %10.0f", shape.type, config_b, engine_b, total);
    if (std::string(shape.type) == "individuals") {
      std::printf("   budget <= %.0f B: %s", kBudgetIndividualsBytes,
                  total <= kBudgetIndividualsBytes ? "met" : "MISSED");
    }
    std::printf("\n");
  }
  return 0;
}
