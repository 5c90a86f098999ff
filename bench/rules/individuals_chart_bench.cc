// The rule core: an individuals point with its moving range, Nelson rule 1 on both charts and
// the spec limits. Checks its answer against a simple reference first, then times, and
// reports points per second and heap allocations per point.

#include "shewhart/rules/individuals_chart.h"
#include "shewhart/rules/run_rules.h"

#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "../alloc_counter.h"

namespace {

using namespace shewhart::rules;

struct CountingObserver : ChartObserver {
  std::uint64_t points = 0, hits = 0;
  void OnPoint(const ChartPoint&) override { ++points; }
  void OnRuleHit(const RuleHit&) override { ++hits; }
};

std::vector<double> Data(std::size_t n) {
  std::mt19937_64 rng(42);
  std::normal_distribution<double> normal(10.0, 1.0);
  std::vector<double> v(n);
  for (auto& x : v) x = normal(rng);
  return v;
}

IndividualsChartSpec Spec() {
  IndividualsChartSpec s;
  s.mode = IndividualsChartSpec::LimitMode::kKnown;
  s.mean = 10;
  s.sigma = 1;
  s.spec.lsl = 6;
  s.spec.usl = 14;
  s.spec_lsl = s.spec_usl = true;
  return s;
}

// A reference written the slow, obvious way: the expected number of rule hits.
std::uint64_t ReferenceHits(const std::vector<double>& v) {
  std::uint64_t hits = 0;
  const double mr_ucl = (1.128 + 3 * 0.8525) * 1.0;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] > 13 || v[i] < 7) ++hits;
    if (i > 0 && std::fabs(v[i] - v[i - 1]) > mr_ucl) ++hits;
    if (v[i] < 6) ++hits;
    if (v[i] > 14) ++hits;
  }
  return hits;
}

void CheckAnswer(const std::vector<double>& v) {
  IndividualsChart chart(Spec());
  CountingObserver obs;
  for (std::size_t i = 0; i < v.size(); ++i) chart.Add(v[i], EventTime(std::chrono::microseconds(i)), obs);
  const std::uint64_t want = ReferenceHits(v);
  if (obs.hits != want || obs.points != 2 * v.size() - 1) {
    std::fprintf(stderr, "individuals bench: wrong answer: %llu hits (reference %llu), %llu points\n",
                 static_cast<unsigned long long>(obs.hits), static_cast<unsigned long long>(want),
                 static_cast<unsigned long long>(obs.points));
    std::exit(1);
  }
}

void BM_IndividualsNelson1Spec(benchmark::State& state) {
  static const std::vector<double> data = Data(1 << 16);
  static bool checked = (CheckAnswer(data), true);
  (void)checked;
  IndividualsChart chart(Spec());
  CountingObserver obs;
  std::size_t i = 0;
  // Warm up, then count allocations over the timed loop only.
  for (int w = 0; w < 1000; ++w) chart.Add(data[w], EventTime{}, obs);
  const std::uint64_t allocs_before = shewhart::bench::Allocations();
  for (auto _ : state) {
    chart.Add(data[i], EventTime(std::chrono::microseconds(i)), obs);
    i = (i + 1) & (data.size() - 1);
  }
  const std::uint64_t allocs = shewhart::bench::Allocations() - allocs_before;
  benchmark::DoNotOptimize(obs.hits);
  state.counters["points_per_s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["allocs_per_point"] = static_cast<double>(allocs) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_IndividualsNelson1Spec);

// Individuals point + mr point, rule 1 on both, Nelson 2-8 on the individuals chart and 2-4 on
// the mr chart (the engine's defaults), zones from each point's sigma.
struct RunRuleObserver : ChartObserver {
  RunRuleEvaluator x{Rules(false)};
  RunRuleEvaluator mr{Rules(true)};
  std::uint64_t points = 0, hits = 0;
  static RunRulesSpec Rules(bool companion) {
    RunRulesSpec s = companion ? RunRulesSpec::RulesOneToFour() : RunRulesSpec::Nelson();
    return s;
  }
  void OnPoint(const ChartPoint& p) override {
    ++points;
    RuleFiring f[kMaxRuleFirings];
    RunRuleEvaluator& ev = p.chart == ChartKind::kIndividuals ? x : mr;
    hits += ev.Evaluate(p.index, p.value, p.cl, (p.ucl - p.cl) / 3.0, f);
  }
  void OnRuleHit(const RuleHit&) override { ++hits; }
};

void BM_IndividualsNelson1To8(benchmark::State& state) {
  static const std::vector<double> data = Data(1 << 16);
  IndividualsChart chart(Spec());
  RunRuleObserver obs;
  // Check: the evaluators see every point (two per observation after the first).
  for (int w = 0; w < 1000; ++w) chart.Add(data[static_cast<std::size_t>(w)], EventTime(std::chrono::microseconds(w)), obs);
  if (obs.points != 1999) {
    std::fprintf(stderr, "nelson bench: wrong answer: %llu points\n", static_cast<unsigned long long>(obs.points));
    std::exit(1);
  }
  std::size_t i = 1000;
  std::int64_t t = 1000;
  const std::uint64_t allocs_before = shewhart::bench::Allocations();
  for (auto _ : state) {
    chart.Add(data[i], EventTime(std::chrono::microseconds(t++)), obs);
    i = (i + 1) & (data.size() - 1);
  }
  const std::uint64_t allocs = shewhart::bench::Allocations() - allocs_before;
  benchmark::DoNotOptimize(obs.hits);
  state.counters["points_per_s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["allocs_per_point"] = static_cast<double>(allocs) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_IndividualsNelson1To8);

}  // namespace

BENCHMARK_MAIN();
