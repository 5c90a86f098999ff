// Hotelling T^2 chart, p = 8 individuals (and subgroups of 5 for comparison), in Phase II:
// one Add() per observation. Checks its answer against a naive implementation (sample mean and
// covariance, explicit Eigen inverse, T^2 = d' S^-1 d) first, then times, and reports points
// per second and heap allocations per point.
//
// Allocations are counted two ways: allocs_per_point is the project's counter (operator new,
// bench/alloc_counter.cc); mallocs_per_point also counts std::malloc, which Eigen's dynamic
// matrices use instead of operator new, by interposing glibc's malloc in this program (off
// under AddressSanitizer, where it reads -1).

#include "shewhart/rules/t2_chart.h"

#include <benchmark/benchmark.h>

// g++ 12 warns inside its own AVX-512 intrinsics as inlined into Eigen's product and inverse
// kernels (see rules/src/t2_chart.cc); silenced for Eigen's headers only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wunused-variable"
#include <Eigen/Core>
#include <Eigen/LU>
#pragma GCC diagnostic pop

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <span>
#include <vector>

#include "../alloc_counter.h"
#include "../budget.h"

namespace {
std::atomic<std::uint64_t> g_mallocs{0};
}

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kCountMallocs = false;
#else
constexpr bool kCountMallocs = true;
extern "C" {
void* __libc_malloc(std::size_t size);
void* __libc_calloc(std::size_t count, std::size_t size);
void* __libc_realloc(void* p, std::size_t size);
void __libc_free(void* p);
void* malloc(std::size_t size) noexcept {
  g_mallocs.fetch_add(1, std::memory_order_relaxed);
  return __libc_malloc(size);
}
void* calloc(std::size_t count, std::size_t size) noexcept {
  g_mallocs.fetch_add(1, std::memory_order_relaxed);
  return __libc_calloc(count, size);
}
void* realloc(void* p, std::size_t size) noexcept {
  g_mallocs.fetch_add(1, std::memory_order_relaxed);
  return __libc_realloc(p, size);
}
void free(void* p) noexcept { __libc_free(p); }
}  // extern "C"
#endif

namespace {

using namespace shewhart::rules;
using shewhart::Status;

constexpr int kP = 8;
constexpr int kBaseline = 50;
// DESIGN.md / issue 3: T^2 with p = 8, Phase II, at least 2 M points/s.
constexpr double kBudgetPointsPerS = 2e6;

struct CollectingObserver : ChartObserver {
  std::vector<double> values;
  std::vector<double> ucls;
  std::uint64_t hits = 0;
  void OnPoint(const ChartPoint& p) override {
    values.push_back(p.value);
    ucls.push_back(p.ucl);
  }
  void OnRuleHit(const RuleHit&) override { ++hits; }
};

struct CountingObserver : ChartObserver {
  std::uint64_t points = 0, hits = 0;
  void OnPoint(const ChartPoint&) override { ++points; }
  void OnRuleHit(const RuleHit&) override { ++hits; }
};

// `count` observations of kP correlated variables, row-major: x = mu + A z, A lower
// triangular with a strong shared component, and a shift in a tenth of the observations so
// that some points fire.
std::vector<double> Data(int count) {
  std::mt19937_64 rng(42);
  std::normal_distribution<double> normal(0.0, 1.0);
  Eigen::MatrixXd a = Eigen::MatrixXd::Zero(kP, kP);
  for (int i = 0; i < kP; ++i) {
    a(i, 0) = 2.0;
    for (int j = 1; j <= i; ++j) a(i, j) = 0.5 + 0.1 * j;
  }
  std::vector<double> v(static_cast<std::size_t>(count) * kP);
  Eigen::VectorXd z(kP);
  for (int r = 0; r < count; ++r) {
    for (int i = 0; i < kP; ++i) z(i) = normal(rng);
    Eigen::VectorXd x = a * z;
    const double shift = (r > kBaseline && r % 10 == 0) ? 4.0 : 0.0;
    for (int i = 0; i < kP; ++i) v[static_cast<std::size_t>(r * kP + i)] = 100.0 + 10 * i + x(i) + shift * (i % 2);
  }
  return v;
}

T2ChartSpec Spec(int n) {
  T2ChartSpec s;
  s.variables = kP;
  s.subgroup_size = n;
  s.phase1_subgroups = kBaseline;
  return s;
}

std::span<const double> Row(const std::vector<double>& v, std::size_t r) {
  return {v.data() + r * kP, static_cast<std::size_t>(kP)};
}

// The naive reference for individuals: estimates from the first kBaseline rows, explicit
// inverse, T^2 = d' S^-1 d for every row.
std::vector<double> ReferenceT2(const std::vector<double>& v, int count) {
  Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> x(v.data(), count, kP);
  Eigen::VectorXd mean = x.topRows(kBaseline).colwise().mean().transpose();
  Eigen::MatrixXd centred = x.topRows(kBaseline).rowwise() - mean.transpose();
  Eigen::MatrixXd s = centred.transpose() * centred / (kBaseline - 1);
  Eigen::MatrixXd inv = s.inverse();
  std::vector<double> t2(static_cast<std::size_t>(count));
  for (int r = 0; r < count; ++r) {
    Eigen::VectorXd d = x.row(r).transpose() - mean;
    t2[static_cast<std::size_t>(r)] = d.dot(inv * d);
  }
  return t2;
}

void Fail(const char* what, double got, double want, int at) {
  std::fprintf(stderr, "t2 bench: wrong answer: %s at point %d: %.17g, reference %.17g\n", what, at, got, want);
  std::exit(1);
}

void CheckAnswer(const std::vector<double>& v, int count) {
  if (!Spec(1).Validate().ok()) {
    std::fprintf(stderr, "t2 bench: %s\n", Spec(1).Validate().ToString().c_str());
    std::exit(1);
  }
  T2Chart chart(Spec(1));
  CollectingObserver obs;
  for (int r = 0; r < count; ++r) {
    Status st = chart.Add(Row(v, static_cast<std::size_t>(r)), EventTime(std::chrono::microseconds(r)), obs);
    if (!st.ok()) {
      std::fprintf(stderr, "t2 bench: Add failed: %s\n", st.ToString().c_str());
      std::exit(1);
    }
  }
  const std::vector<double> want = ReferenceT2(v, count);
  if (static_cast<int>(obs.values.size()) != count)
    Fail("point count", static_cast<double>(obs.values.size()), count, 0);
  std::uint64_t want_hits = 0;
  for (int r = 0; r < count; ++r) {
    const double got = obs.values[static_cast<std::size_t>(r)], ref = want[static_cast<std::size_t>(r)];
    if (std::fabs(got - ref) > 1e-9 * std::max(1.0, ref)) Fail("T^2", got, ref, r + 1);
    if (ref > obs.ucls[static_cast<std::size_t>(r)]) ++want_hits;
  }
  if (obs.hits != want_hits || want_hits == 0)
    Fail("rule hits", static_cast<double>(obs.hits), static_cast<double>(want_hits), 0);
}

constexpr int kRows = 1 << 14;

const std::vector<double>& SharedData() {
  static const std::vector<double> data = Data(kRows);
  static const bool checked = (CheckAnswer(data, kRows), true);
  (void)checked;
  return data;
}

void RunPhaseTwo(benchmark::State& state, int n) {
  const std::vector<double>& data = SharedData();
  T2Chart chart(Spec(n));
  CountingObserver obs;
  // The baseline and a warm-up, outside the timed and counted loop.
  std::size_t r = 0;
  for (; r < static_cast<std::size_t>(kBaseline * n + 1000); ++r) {
    (void)chart.Add(Row(data, r), EventTime(std::chrono::microseconds(r)), obs);
  }
  if (!chart.limits_ready()) state.SkipWithError("baseline did not complete");
  const std::uint64_t points_before = obs.points;
  const std::uint64_t news_before = shewhart::bench::Allocations();
  const std::uint64_t mallocs_before = g_mallocs.load(std::memory_order_relaxed);
  const double cpu_before = shewhart::bench::ThreadCpuSeconds();
  for (auto _ : state) {
    Status st = chart.Add(Row(data, r), EventTime(std::chrono::microseconds(r)), obs);
    benchmark::DoNotOptimize(st);
    r = (r + 1) & (kRows - 1);
  }
  const double cpu = shewhart::bench::ThreadCpuSeconds() - cpu_before;
  const double news = static_cast<double>(shewhart::bench::Allocations() - news_before);
  const double mallocs = static_cast<double>(g_mallocs.load(std::memory_order_relaxed) - mallocs_before);
  const double points = static_cast<double>(obs.points - points_before);
  benchmark::DoNotOptimize(obs.hits);
  state.counters["points_per_s"] = benchmark::Counter(points, benchmark::Counter::kIsRate);
  state.counters["observations_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["allocs_per_point"] = points > 0 ? news / points : 0;
  state.counters["mallocs_per_point"] = !kCountMallocs ? -1 : points > 0 ? mallocs / points : 0;
  shewhart::bench::ReportBudget(state, points, cpu, kBudgetPointsPerS, "points");
}

void BM_T2IndividualsP8(benchmark::State& state) { RunPhaseTwo(state, 1); }
BENCHMARK(BM_T2IndividualsP8);

void BM_T2SubgroupsP8N5(benchmark::State& state) { RunPhaseTwo(state, 5); }
BENCHMARK(BM_T2SubgroupsP8N5);

}  // namespace

BENCHMARK_MAIN();
