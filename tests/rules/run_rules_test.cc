// Over 800 lines, knowingly: one case per rule and parameter of the run-rule evaluator, each
// against its published or hand-worked sequence; they read best as one list.
// libstdc++'s <regex> trips g++ 12's -Wmaybe-uninitialized under -fsanitize=address (a false
// positive inside std::function, reported at the library header's lines, so the pragma must
// cover the whole file); it says nothing about this file's code.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include "shewhart/rules/run_rules.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <new>
#include <regex>
#include <string>
#include <vector>

#include "../test_util.h"

// Counting global allocator for the allocation check below: counts only while armed, so
// GoogleTest's own allocations do not matter.
namespace {
std::atomic<bool> g_count_allocations{false};
std::atomic<std::size_t> g_allocations{0};
}  // namespace

// Kept out of line so that the compiler does not pair an inlined free() with a `new`
// expression and warn (-Wmismatched-new-delete).
[[gnu::noinline]] void* operator new(std::size_t size) {
  if (g_count_allocations.load(std::memory_order_relaxed)) g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size ? size : 1)) return p;
  throw std::bad_alloc();
}
[[gnu::noinline]] void* operator new[](std::size_t size) { return ::operator new(size); }
[[gnu::noinline]] void operator delete(void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete[](void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace shewhart::rules {
namespace {

using Firings = std::vector<RuleFiring>;

// A realistic centre line and sigma (an x-bar chart in mm) for tests of points exactly on a
// zone line: cl + k * sigma is not a short decimal here.
constexpr double kCl = 74.001;
constexpr double kSigma = 0.0098;

RunRulesSpec Only(RuleKind kind, Boundary boundary = Boundary::kStrict) {
  RunRulesSpec s;
  EXPECT_TRUE(s.Enable(kind).ok());
  s.boundary = boundary;
  return s;
}

// Judges `values` as points 1..n against one centre line and sigma; every firing, in order.
Firings Judge(const RunRulesSpec& spec, const std::vector<double>& values, double cl = 0, double sigma = 1) {
  EXPECT_TRUE(spec.Validate().ok()) << spec.Validate().ToString();
  RunRuleEvaluator ev(spec);
  Firings all;
  RuleFiring out[kMaxRuleFirings];
  for (std::size_t i = 0; i < values.size(); ++i) {
    const std::size_t k = ev.Evaluate(static_cast<std::int64_t>(i + 1), values[i], cl, sigma, out);
    EXPECT_LE(k, kMaxRuleFirings);
    all.insert(all.end(), out, out + k);
  }
  return all;
}

// The points (last indexes) on which `rule` fired.
std::vector<std::int64_t> FiredAt(const Firings& all, RuleKind rule) {
  std::vector<std::int64_t> at;
  for (const auto& f : all) {
    if (f.rule == rule) at.push_back(f.last);
  }
  return at;
}

std::vector<std::int64_t> FiredAt(RuleKind rule, const std::vector<double>& values, Boundary b = Boundary::kStrict,
                                  double cl = 0, double sigma = 1) {
  return FiredAt(Judge(Only(rule, b), values, cl, sigma), rule);
}

std::vector<double> Repeat(double v, int n) { return std::vector<double>(static_cast<std::size_t>(n), v); }

std::vector<double> Cat(std::initializer_list<std::vector<double>> parts) {
  std::vector<double> all;
  for (const auto& p : parts) all.insert(all.end(), p.begin(), p.end());
  return all;
}

// n points on one side of the centre line (sign +1 / -1), not all equal, within 1 sigma.
std::vector<double> Side(int sign, int n) {
  std::vector<double> v;
  for (int i = 0; i < n; ++i) v.push_back(sign * (0.2 + 0.1 * (i % 3)));
  return v;
}

std::vector<std::int64_t> Range(std::int64_t from, std::int64_t to) {
  std::vector<std::int64_t> r;
  for (std::int64_t i = from; i <= to; ++i) r.push_back(i);
  return r;
}

constexpr Boundary kBothModes[] = {Boundary::kStrict, Boundary::kInclusive};
const char* ModeName(Boundary b) { return b == Boundary::kStrict ? "strict" : "inclusive"; }

// ---------------------------------------------------------------------------------------------
// Shared checks, one per family of rules.

// nelson.1 / we.1: one point beyond the k-sigma line.
void CheckSigmaRule(RuleKind rule, RunRulesSpec spec, double k) {
  SCOPED_TRACE(std::string(RuleName(rule)));
  for (Boundary b : kBothModes) {
    SCOPED_TRACE(ModeName(b));
    spec.boundary = b;
    const double up = ZoneLine(kCl, kSigma, k), down = ZoneLine(kCl, kSigma, -k);
    const double inside_up = std::nextafter(up, kCl), inside_down = std::nextafter(down, kCl);
    const double beyond_up = std::nextafter(up, 1e9), beyond_down = std::nextafter(down, -1e9);
    const bool on_line_fires = b == Boundary::kInclusive;
    // Points 1..8: just inside, beyond twice (a tie), on the line; then the same below.
    Firings all = Judge(spec, {inside_up, beyond_up, beyond_up, up, inside_down, beyond_down, beyond_down, down},
                        kCl, kSigma);
    std::vector<std::int64_t> expected = on_line_fires ? std::vector<std::int64_t>{2, 3, 4, 6, 7, 8}
                                                       : std::vector<std::int64_t>{2, 3, 6, 7};
    EXPECT_EQ(FiredAt(all, rule), expected);
    for (const auto& f : all) EXPECT_EQ(f.first, f.last) << "a one-point rule implicates that point only";
  }
}

// nelson.2 / we.4: k points in a row on one side of the centre line.
void CheckSameSideRun(RuleKind rule, const RunRulesSpec& base, int k) {
  SCOPED_TRACE(std::string(RuleName(rule)) + " k=" + std::to_string(k));
  for (Boundary b : kBothModes) {
    SCOPED_TRACE(ModeName(b));
    RunRulesSpec spec = base;
    spec.boundary = b;
    auto fired = [&](const std::vector<double>& v, double cl = 0, double sigma = 1) {
      return FiredAt(Judge(spec, v, cl, sigma), rule);
    };
    for (int sign : {+1, -1}) {
      EXPECT_TRUE(fired(Side(sign, k - 1)).empty()) << "k-1 points are not a run";
      EXPECT_EQ(fired(Side(sign, k)), std::vector<std::int64_t>{k});
      EXPECT_EQ(fired(Side(sign, k + 2)), Range(k, k + 2)) << "keeps firing while the run goes on";
      // Equal values on one side are a run (ties only matter to trends).
      EXPECT_EQ(fired(Repeat(sign * 0.7, k)), std::vector<std::int64_t>{k});
      // A point exactly on the centre line is on neither side: it breaks the run.
      EXPECT_TRUE(fired(Cat({Side(sign, k - 1), {0.0}, Side(sign, k - 1)})).empty());
      EXPECT_EQ(fired(Cat({Side(sign, k - 1), {0.0}, Side(sign, k)})), std::vector<std::int64_t>{2 * k});
      // Changing side breaks it too.
      EXPECT_TRUE(fired(Cat({Side(sign, k - 1), Side(-sign, k - 1)})).empty());
      // Points exactly on zone lines are on their side in either boundary mode.
      std::vector<double> on_lines;
      for (int i = 0; i < k; ++i) on_lines.push_back(ZoneLine(kCl, kSigma, sign * (1 + i % 3)));
      EXPECT_EQ(fired(on_lines, kCl, kSigma), std::vector<std::int64_t>{k});
      EXPECT_EQ(fired(Cat({Repeat(kCl, 1), on_lines}), kCl, kSigma), std::vector<std::int64_t>{k + 1});
    }
  }
}

// nelson.5 / nelson.6 / we.2 / we.3: m of the last n points beyond the `zone`-sigma line on
// the same side, the current point among them.
void CheckMOfN(RuleKind rule, const RunRulesSpec& base, int m, int n, double zone) {
  SCOPED_TRACE(std::string(RuleName(rule)) + " " + std::to_string(m) + " of " + std::to_string(n));
  const double in = zone - 0.5;  // not beyond the zone line
  const double out = zone + 0.5;
  for (Boundary b : kBothModes) {
    SCOPED_TRACE(ModeName(b));
    RunRulesSpec spec = base;
    spec.boundary = b;
    auto judge = [&](const std::vector<double>& v, double cl = 0, double sigma = 1) {
      return Judge(spec, v, cl, sigma);
    };
    auto fired = [&](const std::vector<double>& v, double cl = 0, double sigma = 1) {
      return FiredAt(judge(v, cl, sigma), rule);
    };
    for (int sign : {+1, -1}) {
      const double o = sign * out, i = sign * in;
      // After a full window of points in control: m-1 beyond do not fire, the m-th does.
      EXPECT_TRUE(fired(Cat({Repeat(i, n), Repeat(o, m - 1)})).empty());
      Firings all = judge(Cat({Repeat(i, n), Repeat(o, m)}));
      ASSERT_EQ(FiredAt(all, rule), std::vector<std::int64_t>{n + m});
      EXPECT_EQ(all[0].first, m + 1) << "the window is the last n points";
      // The m may be spread over the window, with the other points anywhere (here: beyond the
      // zone on the other side, and on the centre line).
      std::vector<double> spread = Cat({Repeat(i, n), {o}});
      for (int j = 0; j < n - m; ++j) spread.push_back(j % 2 ? 0.0 : -o);
      const auto spread_base = spread;
      for (int j = 0; j < m - 1; ++j) spread.push_back(o);
      EXPECT_EQ(fired(spread), std::vector<std::int64_t>{static_cast<std::int64_t>(spread.size())});
      // One more point between them and the first beyond point leaves the window: no pattern.
      std::vector<double> too_far = Cat({Repeat(i, n), {o}, {i}});
      too_far.insert(too_far.end(), spread_base.begin() + n + 1, spread_base.end());
      for (int j = 0; j < m - 1; ++j) too_far.push_back(o);
      if (m > 1) {
        EXPECT_TRUE(fired(too_far).empty());
      }
      // The current point must itself be beyond: a point in control after the pattern does
      // not fire, though its window still holds m beyond points (when m < n).
      EXPECT_EQ(fired(Cat({Repeat(i, n), Repeat(o, m), {i}})), std::vector<std::int64_t>{n + m});
      // Beyond points on opposite sides do not add up.
      if (m > 1) {
        EXPECT_TRUE(fired(Cat({Repeat(i, n), Repeat(o, m - 1), {-o}})).empty());
      }
      // Ties: equal beyond values keep firing.
      EXPECT_EQ(fired(Repeat(o, m + 2)), Range(m, m + 2));
      // Before n points exist the window is what has been seen: m beyond points fire at once.
      Firings early = judge(Repeat(o, m));
      ASSERT_EQ(FiredAt(early, rule), std::vector<std::int64_t>{m});
      EXPECT_EQ(early[0].first, 1);
      // Exactly on the zone line: beyond only when inclusive; just inside: never.
      const double line = ZoneLine(kCl, kSigma, sign * zone);
      const std::vector<double> on_line = Cat({Repeat(kCl, n), Repeat(line, m)});
      EXPECT_EQ(fired(on_line, kCl, kSigma),
                b == Boundary::kInclusive ? std::vector<std::int64_t>{n + m} : std::vector<std::int64_t>{});
      EXPECT_TRUE(fired(Cat({Repeat(kCl, n), Repeat(std::nextafter(line, kCl), m)}), kCl, kSigma).empty());
      EXPECT_EQ(fired(Cat({Repeat(kCl, n), Repeat(std::nextafter(line, sign * 1e9), m)}), kCl, kSigma),
                std::vector<std::int64_t>{n + m});
    }
  }
}

// ---------------------------------------------------------------------------------------------
// nelson.1 and we.1

TEST(RunRulesTest, NelsonOneFiresBeyondThreeSigmaAndOnTheLineOnlyWhenInclusive) {
  CheckSigmaRule(RuleKind::kNelson1, Only(RuleKind::kNelson1), 3);
}

TEST(RunRulesTest, NelsonOneTakesItsOwnSigmaMultiple) {
  RunRulesSpec spec = Only(RuleKind::kNelson1);
  spec.nelson1.sigmas = 2.5;
  CheckSigmaRule(RuleKind::kNelson1, spec, 2.5);
  EXPECT_EQ(FiredAt(Judge(spec, {2.4, 2.6, -2.6}), RuleKind::kNelson1), (std::vector<std::int64_t>{2, 3}));
}

TEST(RunRulesTest, WesternElectricOneFiresBeyondThreeSigma) {
  CheckSigmaRule(RuleKind::kWe1, Only(RuleKind::kWe1), 3);
}

// ---------------------------------------------------------------------------------------------
// nelson.2 and we.4

TEST(RunRulesTest, NinePointsOnOneSideFireNelsonTwo) {
  CheckSameSideRun(RuleKind::kNelson2, Only(RuleKind::kNelson2), 9);
}

TEST(RunRulesTest, NelsonTwoWithSevenPointsFiresOnTheSeventh) {
  RunRulesSpec spec = Only(RuleKind::kNelson2);
  spec.nelson2.length = 7;
  CheckSameSideRun(RuleKind::kNelson2, spec, 7);
}

TEST(RunRulesTest, EightPointsOnOneSideFireWesternElectricFour) {
  CheckSameSideRun(RuleKind::kWe4, Only(RuleKind::kWe4), 8);
}

// ---------------------------------------------------------------------------------------------
// nelson.3

TEST(RunRulesTest, SixPointsIncreasingOrDecreasingFireNelsonThree) {
  for (Boundary b : kBothModes) {
    SCOPED_TRACE(ModeName(b));
    for (double offset : {-2.0, 0.0, 1.5}) {  // below, across and above the centre line
      std::vector<double> up, down;
      for (int i = 0; i < 8; ++i) {
        up.push_back(offset + 0.1 * i);
        down.push_back(offset - 0.1 * i);
      }
      for (const auto* v : {&up, &down}) {
        EXPECT_TRUE(FiredAt(RuleKind::kNelson3, {v->begin(), v->begin() + 5}, b).empty()) << "5 points, 4 steps";
        Firings all = Judge(Only(RuleKind::kNelson3, b), *v);
        EXPECT_EQ(FiredAt(all, RuleKind::kNelson3), Range(6, 8));
        ASSERT_FALSE(all.empty());
        EXPECT_EQ(all[0], (RuleFiring{RuleKind::kNelson3, 1, 6}));
        EXPECT_EQ(all[2], (RuleFiring{RuleKind::kNelson3, 3, 8}));
      }
    }
  }
}

TEST(RunRulesTest, TiesBreakATrend) {
  // 1 2 3 3 4 5 6 7 8: the tie at point 4 ends the first trend; the next six-point trend is 4..9.
  for (Boundary b : kBothModes) {
    EXPECT_EQ(FiredAt(RuleKind::kNelson3, {1, 2, 3, 3, 4, 5, 6, 7, 8}, b, 4, 5), std::vector<std::int64_t>{9});
    EXPECT_EQ(FiredAt(RuleKind::kNelson3, {8, 7, 6, 6, 5, 4, 3, 2, 1}, b, 4, 5), std::vector<std::int64_t>{9});
  }
  // A direction change ends it as well.
  EXPECT_TRUE(FiredAt(RuleKind::kNelson3, {1, 2, 3, 4, 5, 4.5, 5, 6, 7, 8}).empty());
}

TEST(RunRulesTest, TrendIgnoresZonesAndBoundaryMode) {
  // Six rising points that sit exactly on the zone lines and the centre line.
  std::vector<double> v;
  for (int k = -3; k <= 3; ++k) v.push_back(k == 0 ? kCl : ZoneLine(kCl, kSigma, k));
  for (Boundary b : kBothModes) {
    EXPECT_EQ(FiredAt(RuleKind::kNelson3, v, b, kCl, kSigma), Range(6, 7)) << ModeName(b);
  }
}

TEST(RunRulesTest, NelsonThreeWithFourPointsFiresOnTheFourth) {
  RunRulesSpec spec = Only(RuleKind::kNelson3);
  spec.nelson3.length = 4;
  EXPECT_EQ(FiredAt(Judge(spec, {5, 1, 2, 3, 4, 4}), RuleKind::kNelson3), std::vector<std::int64_t>{5});
}

// ---------------------------------------------------------------------------------------------
// nelson.4

std::vector<double> Zigzag(int n, double centre, double amplitude, bool start_up) {
  std::vector<double> v;
  for (int i = 0; i < n; ++i) v.push_back(centre + ((i % 2 == 0) == start_up ? -amplitude : amplitude));
  return v;
}

TEST(RunRulesTest, FourteenPointsAlternatingFireNelsonFour) {
  for (Boundary b : kBothModes) {
    SCOPED_TRACE(ModeName(b));
    for (double centre : {-1.5, 0.0, 1.5}) {
      for (bool start_up : {true, false}) {
        EXPECT_TRUE(FiredAt(RuleKind::kNelson4, Zigzag(13, centre, 0.4, start_up), b).empty());
        Firings all = Judge(Only(RuleKind::kNelson4, b), Zigzag(16, centre, 0.4, start_up));
        EXPECT_EQ(FiredAt(all, RuleKind::kNelson4), Range(14, 16));
        ASSERT_EQ(all.size(), 3u);
        EXPECT_EQ(all[0], (RuleFiring{RuleKind::kNelson4, 1, 14}));
        EXPECT_EQ(all[2], (RuleFiring{RuleKind::kNelson4, 3, 16}));
      }
    }
  }
}

TEST(RunRulesTest, TiesBreakAnAlternation) {
  // Points 1..7 alternate, point 8 repeats point 7, then 8..21 alternate: fourteen points
  // from the tie onward, so the first firing is on point 21.
  std::vector<double> v = Zigzag(7, 0, 0.5, true);
  const std::vector<double> rest = Zigzag(14, 0, 0.5, v.back() < 0);
  v.insert(v.end(), rest.begin(), rest.end());
  ASSERT_EQ(v[6], v[7]);
  for (Boundary b : kBothModes) EXPECT_EQ(FiredAt(RuleKind::kNelson4, v, b), std::vector<std::int64_t>{21});
  // Two steps the same way break it too.
  std::vector<double> w = Zigzag(20, 0, 0.5, true);
  w[10] = w[9] + 0.1 * (w[9] - w[8]);  // continues the direction of step 9
  EXPECT_TRUE(FiredAt(RuleKind::kNelson4, w).empty());
}

TEST(RunRulesTest, AlternationIgnoresZonesAndBoundaryMode) {
  std::vector<double> v;
  for (int i = 0; i < 14; ++i) v.push_back(ZoneLine(kCl, kSigma, i % 2 ? 1 + i % 3 : -(1 + i % 3)));
  for (Boundary b : kBothModes)
    EXPECT_EQ(FiredAt(RuleKind::kNelson4, v, b, kCl, kSigma), std::vector<std::int64_t>{14});
}

TEST(RunRulesTest, NelsonFourWithThreePointsFiresOnAnyZigzag) {
  RunRulesSpec spec = Only(RuleKind::kNelson4);
  spec.nelson4.length = 3;
  EXPECT_EQ(FiredAt(Judge(spec, {0, 1, 0, 0, 1, 2, 1}), RuleKind::kNelson4), (std::vector<std::int64_t>{3, 7}));
}

// ---------------------------------------------------------------------------------------------
// nelson.5 / we.2 (2 of 3 beyond 2 sigma) and nelson.6 / we.3 (4 of 5 beyond 1 sigma)

TEST(RunRulesTest, TwoOfThreeBeyondTwoSigmaFireNelsonFive) {
  CheckMOfN(RuleKind::kNelson5, Only(RuleKind::kNelson5), 2, 3, 2);
}

TEST(RunRulesTest, FourOfFiveBeyondOneSigmaFireNelsonSix) {
  CheckMOfN(RuleKind::kNelson6, Only(RuleKind::kNelson6), 4, 5, 1);
}

TEST(RunRulesTest, TwoOfThreeBeyondTwoSigmaFireWesternElectricTwo) {
  CheckMOfN(RuleKind::kWe2, Only(RuleKind::kWe2), 2, 3, 2);
}

TEST(RunRulesTest, FourOfFiveBeyondOneSigmaFireWesternElectricThree) {
  CheckMOfN(RuleKind::kWe3, Only(RuleKind::kWe3), 4, 5, 1);
}

TEST(RunRulesTest, MOfNRulesTakeCustomCounts) {
  RunRulesSpec spec = Only(RuleKind::kNelson5);
  spec.nelson5 = {true, 3, 4};
  CheckMOfN(RuleKind::kNelson5, spec, 3, 4, 2);
  RunRulesSpec six = Only(RuleKind::kNelson6);
  six.nelson6 = {true, 1, 1};
  CheckMOfN(RuleKind::kNelson6, six, 1, 1, 1);
  RunRulesSpec we3 = Only(RuleKind::kWe3);
  we3.we3 = {true, 5, 5};
  CheckMOfN(RuleKind::kWe3, we3, 5, 5, 1);
}

// The plain reading: 2 of 3 beyond 2 sigma above fire on the point after them too, which is
// itself within 1 sigma; qcc's reading waits for a point that is itself beyond.
TEST(RunRulesTest, NelsonFiveReadPlainlyFiresOnAPointThatIsNotItselfBeyond) {
  const std::vector<double> values = {0.1, 2.5, 2.5, 0.2, 0.3, -2.5, 0.1, -2.5};
  RunRulesSpec qcc = Only(RuleKind::kNelson5);
  EXPECT_EQ(FiredAt(Judge(qcc, values), RuleKind::kNelson5), (std::vector<std::int64_t>{3, 8}));
  RunRulesSpec plain = qcc;
  plain.nelson5.point_beyond = false;
  // 3: 2.5, 2.5 beyond; 4: the window 2..4 still holds both; 5: 3..5 holds one; 6, 7: one -2.5
  // in the window; 8: the window 6..8 holds two.
  const Firings all = Judge(plain, values);
  EXPECT_EQ(FiredAt(all, RuleKind::kNelson5), (std::vector<std::int64_t>{3, 4, 8}));
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[1], (RuleFiring{RuleKind::kNelson5, 2, 4}));  // the whole window of 3
}

// full_window: nothing fires before n points exist, as qcc; without it 2 of the first 2 fire.
TEST(RunRulesTest, MOfNWaitsForAFullWindowWhenAsked) {
  const std::vector<double> values = {2.5, 2.5, 0.0, 2.5};
  RunRulesSpec early = Only(RuleKind::kNelson5);
  EXPECT_EQ(FiredAt(Judge(early, values), RuleKind::kNelson5), (std::vector<std::int64_t>{2, 4}));
  RunRulesSpec full = early;
  full.nelson5.full_window = true;
  EXPECT_EQ(FiredAt(Judge(full, values), RuleKind::kNelson5), (std::vector<std::int64_t>{4}));
  // Reset starts the count again.
  RunRuleEvaluator ev(full);
  RuleFiring out[kMaxRuleFirings];
  EXPECT_EQ(ev.Evaluate(1, 2.5, 0, 1, out), 0u);
  EXPECT_EQ(ev.Evaluate(2, 2.5, 0, 1, out), 0u);
  EXPECT_EQ(ev.Evaluate(3, 2.5, 0, 1, out), 1u);
  ev.Reset();
  EXPECT_EQ(ev.Evaluate(4, 2.5, 0, 1, out), 0u);
  EXPECT_EQ(ev.Evaluate(5, 2.5, 0, 1, out), 0u);
  EXPECT_EQ(ev.Evaluate(6, 2.5, 0, 1, out), 1u);
}

// ---------------------------------------------------------------------------------------------
// nelson.7

TEST(RunRulesTest, FifteenPointsWithinOneSigmaFireNelsonSeven) {
  for (Boundary b : kBothModes) {
    SCOPED_TRACE(ModeName(b));
    // Within 1 sigma on both sides, with points on the centre line and ties: all count.
    std::vector<double> v;
    for (int i = 0; i < 17; ++i) v.push_back(i % 4 == 0 ? 0.0 : (i % 2 ? 0.6 : -0.6));
    EXPECT_TRUE(FiredAt(RuleKind::kNelson7, {v.begin(), v.begin() + 14}, b).empty());
    Firings all = Judge(Only(RuleKind::kNelson7, b), v);
    EXPECT_EQ(FiredAt(all, RuleKind::kNelson7), Range(15, 17));
    ASSERT_FALSE(all.empty());
    EXPECT_EQ(all[0], (RuleFiring{RuleKind::kNelson7, 1, 15}));
    // Entirely above, entirely below.
    EXPECT_EQ(FiredAt(RuleKind::kNelson7, Side(+1, 15), b), std::vector<std::int64_t>{15});
    EXPECT_EQ(FiredAt(RuleKind::kNelson7, Side(-1, 15), b), std::vector<std::int64_t>{15});
    // A point beyond 1 sigma breaks the run.
    EXPECT_TRUE(FiredAt(RuleKind::kNelson7, Cat({Side(+1, 14), {-1.5}, Side(+1, 14)}), b).empty());
  }
}

TEST(RunRulesTest, NelsonSevenCountsAPointOnTheOneSigmaLineOnlyWhenStrict) {
  for (double sign : {+1.0, -1.0}) {
    const double line = ZoneLine(kCl, kSigma, sign);
    std::vector<double> v = Repeat(kCl, 15);
    v[7] = line;
    EXPECT_EQ(FiredAt(RuleKind::kNelson7, v, Boundary::kStrict, kCl, kSigma), std::vector<std::int64_t>{15});
    EXPECT_TRUE(FiredAt(RuleKind::kNelson7, v, Boundary::kInclusive, kCl, kSigma).empty());
    v[7] = std::nextafter(line, kCl);
    EXPECT_EQ(FiredAt(RuleKind::kNelson7, v, Boundary::kInclusive, kCl, kSigma), std::vector<std::int64_t>{15});
  }
}

// ---------------------------------------------------------------------------------------------
// nelson.8

TEST(RunRulesTest, EightPointsBeyondOneSigmaFireNelsonEight) {
  for (Boundary b : kBothModes) {
    SCOPED_TRACE(ModeName(b));
    const std::vector<double> mixed = {1.5, -1.2, -2.5, 1.1, 3.5, -1.5, 1.5, -1.5, 2.0};
    EXPECT_TRUE(FiredAt(RuleKind::kNelson8, {mixed.begin(), mixed.begin() + 7}, b).empty());
    Firings all = Judge(Only(RuleKind::kNelson8, b), mixed);
    EXPECT_EQ(FiredAt(all, RuleKind::kNelson8), Range(8, 9));
    ASSERT_EQ(all.size(), 2u);
    EXPECT_EQ(all[1], (RuleFiring{RuleKind::kNelson8, 2, 9}));
    // All above, all below, and ties: "either side" counts them (Minitab).
    EXPECT_EQ(FiredAt(RuleKind::kNelson8, Repeat(1.5, 8), b), std::vector<std::int64_t>{8});
    EXPECT_EQ(FiredAt(RuleKind::kNelson8, Repeat(-1.5, 8), b), std::vector<std::int64_t>{8});
    // A point within 1 sigma, or on the centre line, breaks the run.
    EXPECT_TRUE(FiredAt(RuleKind::kNelson8, Cat({Repeat(1.5, 7), {0.5}, Repeat(-1.5, 7)}), b).empty());
    EXPECT_TRUE(FiredAt(RuleKind::kNelson8, Cat({Repeat(1.5, 7), {0.0}, Repeat(-1.5, 7)}), b).empty());
  }
}

TEST(RunRulesTest, NelsonEightCountsAPointOnTheOneSigmaLineOnlyWhenInclusive) {
  for (double sign : {+1.0, -1.0}) {
    const double line = ZoneLine(kCl, kSigma, sign);
    std::vector<double> v = Repeat(ZoneLine(kCl, kSigma, 2 * sign), 8);
    v[3] = line;
    EXPECT_TRUE(FiredAt(RuleKind::kNelson8, v, Boundary::kStrict, kCl, kSigma).empty());
    EXPECT_EQ(FiredAt(RuleKind::kNelson8, v, Boundary::kInclusive, kCl, kSigma), std::vector<std::int64_t>{8});
  }
}

TEST(RunRulesTest, NelsonEightBothSidesNeedsPointsAboveAndBelow) {
  RunRulesSpec spec = Only(RuleKind::kNelson8);
  spec.nelson8.both_sides = true;
  EXPECT_TRUE(FiredAt(Judge(spec, Repeat(1.5, 10)), RuleKind::kNelson8).empty());
  // One point below at position 3: runs of 8 ending at 8, 9 and 10 contain it; at 11 it has
  // left the window.
  std::vector<double> v = Repeat(1.5, 11);
  v[2] = -1.5;
  EXPECT_EQ(FiredAt(Judge(spec, v), RuleKind::kNelson8), Range(8, 10));
}

// ---------------------------------------------------------------------------------------------
// Published fixtures (qcc's test suite), read from the reference data.

TEST(RunRulesTest, QccRuleFixturesFlagThePublishedPoints) {
  const std::string dir = testing::RefdataDir();
  if (dir.empty()) GTEST_SKIP() << "../shared/refdata is absent (set SHEWHART_REFDATA): published-data test skipped";
  const std::string text = testing::ReadText(dir + "/qcc_unit_test_fixtures.md");
  ASSERT_FALSE(text.empty()) << "cannot read qcc_unit_test_fixtures.md";
  // e.g. qcc(c(rep(0.5,8), -0.5), "xbar.one", center=0, std.dev=1, rules=4) ... only point 8 flagged
  const std::regex call(
      R"re(qcc\(c\(rep\(([-0-9.]+),\s*(\d+)\),\s*([-0-9.]+)\),\s*"xbar\.one",\s*center=([-0-9.]+),)re"
      R"re(\s*std\.dev=([-0-9.]+),\s*rules=(\d)(,\s*rule\.set="nelson")?\)[\s\S]*?)re"
      R"re(points?\s+(\d+)(?:\s+and\s+(\d+))?\s+flagged)re");
  int fixtures = 0;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), call); it != std::sregex_iterator(); ++it) {
    const std::smatch& m = *it;
    SCOPED_TRACE(m.str(0).substr(0, 80));
    ++fixtures;
    std::vector<double> values = Repeat(std::stod(m[1]), std::stoi(m[2]));
    values.push_back(std::stod(m[3]));
    const int number = std::stoi(m[6]);
    const bool nelson = m[7].matched;
    ASSERT_TRUE(nelson ? number >= 1 && number <= 8 : number >= 1 && number <= 4);
    const RuleKind rule = nelson
                              ? (number == 1 ? RuleKind::kNelson1
                                             : static_cast<RuleKind>(static_cast<int>(RuleKind::kNelson2) + number - 2))
                              : static_cast<RuleKind>(static_cast<int>(RuleKind::kWe1) + number - 1);
    std::vector<std::int64_t> expected = {std::stoll(m[8])};
    if (m[9].matched) expected.push_back(std::stoll(m[9]));
    // qcc judges strictly (DESIGN.md).
    EXPECT_EQ(FiredAt(rule, values, Boundary::kStrict, std::stod(m[4]), std::stod(m[5])), expected)
        << RuleName(rule);
  }
  EXPECT_EQ(fixtures, 2) << "expected the two rule fixtures of qcc's test-qcc.R";
}

// The same two fixtures with the whole rule sets on: the Western Electric case raises
// nothing else; in the Nelson case the 0.3-sigma points are also a same-side run.
TEST(RunRulesTest, QccFixturesUnderFullRuleSets) {
  std::vector<double> we = Cat({Repeat(0.5, 8), {-0.5}});
  EXPECT_EQ(Judge(RunRulesSpec::WesternElectric(), we), (Firings{{RuleKind::kWe4, 1, 8}}));
  std::vector<double> nelson = Cat({Repeat(0.3, 16), {1.2}});
  Firings all = Judge(RunRulesSpec::Nelson(), nelson);
  EXPECT_EQ(FiredAt(all, RuleKind::kNelson7), Range(15, 16));
  EXPECT_EQ(FiredAt(all, RuleKind::kNelson2), Range(9, 17));
  EXPECT_EQ(all.size(), 9u + 2u);
}

// ---------------------------------------------------------------------------------------------
// Firing windows, several rules on one point, per-point sigma, indexes, Reset.

TEST(RunRulesTest, FiringsCarryTheImplicatedPoints) {
  RunRulesSpec spec;
  for (RuleKind k : {RuleKind::kNelson2, RuleKind::kNelson5, RuleKind::kNelson6}) ASSERT_TRUE(spec.Enable(k).ok());
  // Points 1..9 above the line; points 8 and 9 beyond 2 sigma; 6..9 beyond 1 sigma.
  const std::vector<double> v = {0.5, 0.5, 0.5, 0.5, 0.5, 1.5, 1.5, 2.5, 2.5};
  const Firings all = Judge(spec, v);
  // All three complete on point 9, written in RuleKind order.
  EXPECT_EQ(all, (Firings{{RuleKind::kNelson2, 1, 9},     // the last nine points
                          {RuleKind::kNelson5, 7, 9},     // 2 of 3: the window 7..9
                          {RuleKind::kNelson6, 5, 9}}));  // 4 of 5: the window 5..9
}

TEST(RunRulesTest, EachRuleFailingOnAPointFiresItsOwnFiring) {
  // Eight points at 2.5 sigma then one at 3.5: on point 9 nelson.1, nelson.2 (9 above),
  // nelson.5 (2 of 3), nelson.6 (4 of 5), nelson.8 (8 beyond 1 sigma), we.1, we.2, we.3 and
  // we.4 (8 above) all fail; nelson.3 (a single rise), nelson.4 and nelson.7 do not.
  RunRulesSpec spec = RunRulesSpec::Nelson();
  for (RuleKind k : {RuleKind::kWe1, RuleKind::kWe2, RuleKind::kWe3, RuleKind::kWe4}) ASSERT_TRUE(spec.Enable(k).ok());
  RunRuleEvaluator ev(spec);
  RuleFiring out[kMaxRuleFirings];
  for (int i = 1; i <= 8; ++i) ev.Evaluate(i, 2.5, 0, 1, out);
  const std::size_t k = ev.Evaluate(9, 3.5, 0, 1, out);
  const Firings got(out, out + k);
  EXPECT_EQ(got, (Firings{{RuleKind::kNelson1, 9, 9},
                          {RuleKind::kNelson2, 1, 9},
                          {RuleKind::kNelson5, 7, 9},
                          {RuleKind::kNelson6, 5, 9},
                          {RuleKind::kNelson8, 2, 9},
                          {RuleKind::kWe1, 9, 9},
                          {RuleKind::kWe2, 7, 9},
                          {RuleKind::kWe3, 5, 9},
                          {RuleKind::kWe4, 2, 9}}));
}

TEST(RunRulesTest, ZonesUseEachPointsOwnSigma) {
  // An x-bar chart whose subgroup size varies: the same value 3.0 is beyond 2 sigma of the
  // plotted statistic when that sigma is 1.4 and not when it is 1.6.
  RunRuleEvaluator ev(Only(RuleKind::kNelson5));
  RuleFiring out[kMaxRuleFirings];
  EXPECT_EQ(ev.Evaluate(1, 3.0, 0, 1.6, out), 0u);
  // Point 2 is beyond 2 sigma of its own (small) sigma; point 1 stays judged against 1.6.
  EXPECT_EQ(ev.Evaluate(2, 0.1, 0, 0.01, out), 0u) << "point 1 must not be re-judged with sigma 0.01";
  ASSERT_EQ(ev.Evaluate(3, 3.0, 0, 1.4, out), 1u) << "points 2 and 3 are beyond 2 sigma";
  EXPECT_EQ(out[0], (RuleFiring{RuleKind::kNelson5, 1, 3}));
  EXPECT_EQ(ev.Evaluate(4, 3.0, 0, 1.6, out), 0u) << "3.0 is within 2 sigma when sigma is 1.6";
}

TEST(RunRulesTest, TrendComparesRawValuesWhateverTheSigma) {
  // Rising plotted values whose z = value / sigma zigzags (sigma alternates 0.5, 2): a trend
  // in the values, not in z.
  RunRuleEvaluator ev(RunRulesSpec::Nelson());
  RuleFiring out[kMaxRuleFirings];
  std::size_t fired = 0;
  for (int i = 1; i <= 6; ++i) fired = ev.Evaluate(i, 0.9 + 0.1 * i, 0, i % 2 ? 0.5 : 2.0, out);
  ASSERT_EQ(fired, 1u);
  EXPECT_EQ(out[0], (RuleFiring{RuleKind::kNelson3, 1, 6}));
}

TEST(RunRulesTest, FirstIndexFollowsTheIndexesPassedEvenWithGaps) {
  RunRuleEvaluator ev(Only(RuleKind::kNelson2));
  RuleFiring out[kMaxRuleFirings];
  std::size_t k = 0;
  for (int i = 1; i <= 9; ++i) k = ev.Evaluate(100 + 10 * i, 0.5, 0, 1, out);
  ASSERT_EQ(k, 1u);
  EXPECT_EQ(out[0], (RuleFiring{RuleKind::kNelson2, 110, 190}));
}

TEST(RunRulesTest, LongestRunsLookBackAcrossTheWholeRing) {
  RunRulesSpec spec = Only(RuleKind::kNelson2);
  spec.nelson2.length = kMaxRunLength;
  const std::vector<double> v = Repeat(0.5, kMaxRunLength + 70);
  const Firings all = Judge(spec, v);
  ASSERT_EQ(all.size(), 71u);
  for (std::size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].last - all[i].first + 1, kMaxRunLength);
    EXPECT_EQ(all[i].last, static_cast<std::int64_t>(kMaxRunLength + i));
  }
}

TEST(RunRulesTest, ResetForgetsHistory) {
  RunRuleEvaluator ev(RunRulesSpec::Nelson());
  RuleFiring out[kMaxRuleFirings];
  for (int i = 1; i <= 8; ++i) EXPECT_EQ(ev.Evaluate(i, 0.5 + 0.01 * (i % 2), 0, 1, out), 0u);
  EXPECT_EQ(ev.points(), 8);
  ev.Reset();
  EXPECT_EQ(ev.points(), 0);
  // After a limit change: eight more points above the (new) centre line are not yet nine.
  for (int i = 9; i <= 16; ++i) EXPECT_EQ(ev.Evaluate(i, 10.5, 10, 1, out), 0u) << i;
  ASSERT_EQ(ev.Evaluate(17, 10.5, 10, 1, out), 1u);
  EXPECT_EQ(out[0], (RuleFiring{RuleKind::kNelson2, 9, 17}));
  // Indexes may restart after a Reset.
  ev.Reset();
  EXPECT_EQ(ev.Evaluate(1, 0.0, 0, 1, out), 0u);
}

TEST(RunRulesTest, PointOnCentreLineIsInNoZoneEvenWhenLinesRoundOntoIt) {
  // sigma far below the spacing of doubles at cl: every zone line rounds onto cl.
  const double cl = 1e16, sigma = 0.25;
  ASSERT_EQ(ZoneLine(cl, sigma, 3), cl);
  RunRulesSpec spec = RunRulesSpec::Nelson();
  spec.boundary = Boundary::kInclusive;
  const Firings all = Judge(spec, Repeat(cl, 20), cl, sigma);
  EXPECT_EQ(FiredAt(all, RuleKind::kNelson7), Range(15, 20)) << "on the centre line is within 1 sigma";
  EXPECT_EQ(all.size(), 6u) << "and beyond nothing, on neither side";
}

TEST(RunRulesTest, ZoneLineIsRoundedOnce) {
  // The lines are cl + k * sigma rounded once, whatever the compiler does with cl + k * sigma:
  // a chart computing its limits with ZoneLine agrees with the evaluator to the bit.
  int differs_from_twice_rounded = 0;
  for (double cl : {74.001, 10.0, -3.7, 0.0}) {
    for (double sigma : {0.0098, 0.1, 1.0 / 3, 2.5}) {
      for (double k : {1.0, 2.0, 3.0, -3.0, 2.5}) {
        EXPECT_EQ(ZoneLine(cl, sigma, k), std::fma(k, sigma, cl));
        volatile double product = k * sigma;  // volatile: rounded on its own
        if (ZoneLine(cl, sigma, k) != cl + product) ++differs_from_twice_rounded;
      }
    }
  }
  EXPECT_GT(differs_from_twice_rounded, 0) << "the cases should tell a fused line from a twice-rounded one";
}

TEST(RunRulesTest, WindowIsTheLongestEnabledPattern) {
  EXPECT_EQ(RunRuleEvaluator(RunRulesSpec::Nelson()).window(), 15);
  EXPECT_EQ(RunRuleEvaluator(RunRulesSpec::WesternElectric()).window(), 8);
  EXPECT_EQ(RunRuleEvaluator(RunRulesSpec::RulesOneToFour()).window(), 14);
  EXPECT_EQ(RunRuleEvaluator(RunRulesSpec{}).window(), 0);
  EXPECT_EQ(RunRuleEvaluator(Only(RuleKind::kNelson6)).window(), 5) << "an m-of-n window is n points";
  EXPECT_EQ(RunRuleEvaluator(Only(RuleKind::kWe1)).window(), 1);
  RunRulesSpec long_trend = Only(RuleKind::kNelson3);
  long_trend.nelson3.length = 40;
  EXPECT_EQ(RunRuleEvaluator(long_trend).window(), 40);
}

// ---------------------------------------------------------------------------------------------
// Spec: presets, Enable, Validate

TEST(RunRulesSpecTest, PresetsEnableTheirRules) {
  const RuleKind nelson[] = {RuleKind::kNelson1, RuleKind::kNelson2, RuleKind::kNelson3, RuleKind::kNelson4,
                             RuleKind::kNelson5, RuleKind::kNelson6, RuleKind::kNelson7, RuleKind::kNelson8};
  const RuleKind we[] = {RuleKind::kWe1, RuleKind::kWe2, RuleKind::kWe3, RuleKind::kWe4};
  const RunRulesSpec n = RunRulesSpec::Nelson(), w = RunRulesSpec::WesternElectric(),
                     f = RunRulesSpec::RulesOneToFour(), none;
  for (int i = 0; i < kRuleKindCount; ++i) {
    const auto kind = static_cast<RuleKind>(i);
    SCOPED_TRACE(std::string(RuleName(kind)));
    const bool is_nelson = std::find(std::begin(nelson), std::end(nelson), kind) != std::end(nelson);
    const bool is_we = std::find(std::begin(we), std::end(we), kind) != std::end(we);
    EXPECT_EQ(RunRulesSpec::IsRunRule(kind), is_nelson || is_we);
    EXPECT_EQ(n.Enabled(kind), is_nelson);
    EXPECT_EQ(w.Enabled(kind), is_we);
    EXPECT_EQ(f.Enabled(kind), is_nelson && (kind == RuleKind::kNelson1 || kind == RuleKind::kNelson2 ||
                                             kind == RuleKind::kNelson3 || kind == RuleKind::kNelson4));
    EXPECT_FALSE(none.Enabled(kind));
  }
  for (const RunRulesSpec* s : {&n, &w, &f, &none}) {
    EXPECT_TRUE(s->Validate().ok()) << s->Validate().ToString();
    EXPECT_EQ(s->boundary, Boundary::kStrict);
  }
}

TEST(RunRulesSpecTest, DefaultsAreMinitabs) {
  const RunRulesSpec s = RunRulesSpec::Nelson();
  EXPECT_EQ(s.nelson1.sigmas, 3);
  EXPECT_EQ(s.nelson2.length, 9);
  EXPECT_EQ(s.nelson3.length, 6);
  EXPECT_EQ(s.nelson4.length, 14);
  EXPECT_EQ(s.nelson5.m, 2);
  EXPECT_EQ(s.nelson5.n, 3);
  EXPECT_EQ(s.nelson6.m, 4);
  EXPECT_EQ(s.nelson6.n, 5);
  EXPECT_EQ(s.nelson7.length, 15);
  EXPECT_EQ(s.nelson8.length, 8);
  EXPECT_FALSE(s.nelson8.both_sides);
  const RunRulesSpec w = RunRulesSpec::WesternElectric();
  EXPECT_EQ(w.we1.sigmas, 3);
  EXPECT_EQ(w.we2.m, 2);
  EXPECT_EQ(w.we2.n, 3);
  EXPECT_EQ(w.we3.m, 4);
  EXPECT_EQ(w.we3.n, 5);
  EXPECT_EQ(w.we4.length, 8);
}

TEST(RunRulesSpecTest, EnableTurnsOneRuleOnAndOff) {
  RunRulesSpec s;
  ASSERT_TRUE(s.Enable(RuleKind::kWe3).ok());
  EXPECT_TRUE(s.we3.enabled);
  ASSERT_TRUE(s.Enable(RuleKind::kWe3, false).ok());
  EXPECT_FALSE(s.we3.enabled);
  const Status st = s.Enable(RuleKind::kSpecLsl);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("spec.lsl is not a run rule"), std::string::npos) << st.message();
}

TEST(RunRulesSpecTest, ValidateNamesTheOffendingParameterAndValue) {
  struct Case {
    void (*edit)(RunRulesSpec&);
    const char* fragment;
  };
  const Case cases[] = {
      {[](RunRulesSpec& s) { s.nelson1.sigmas = -1; }, "nelson.1 sigmas must be a finite number > 0, found -1"},
      {[](RunRulesSpec& s) { s.nelson1.sigmas = 0; }, "nelson.1 sigmas must be a finite number > 0, found 0"},
      {[](RunRulesSpec& s) { s.we1.sigmas = std::numeric_limits<double>::quiet_NaN(); },
       "we.1 sigmas must be a finite number > 0, found nan"},
      {[](RunRulesSpec& s) { s.we1.sigmas = std::numeric_limits<double>::infinity(); },
       "we.1 sigmas must be a finite number > 0, found inf"},
      {[](RunRulesSpec& s) { s.nelson2.length = 1; }, "nelson.2 length must be in 2..50, found 1"},
      {[](RunRulesSpec& s) { s.nelson2.length = 51; }, "nelson.2 length must be in 2..50, found 51"},
      {[](RunRulesSpec& s) { s.nelson3.length = 0; }, "nelson.3 length must be in 2..50, found 0"},
      {[](RunRulesSpec& s) { s.nelson4.length = 2; }, "nelson.4 length must be in 3..50, found 2"},
      {[](RunRulesSpec& s) { s.nelson7.length = -15; }, "nelson.7 length must be in 2..50, found -15"},
      {[](RunRulesSpec& s) { s.nelson8.length = 100; }, "nelson.8 length must be in 2..50, found 100"},
      {[](RunRulesSpec& s) { s.we4.length = 1; }, "we.4 length must be in 2..50, found 1"},
      {[](RunRulesSpec& s) { s.nelson5.m = 4; }, "nelson.5 needs 1 <= m <= n <= 20, found m 4, n 3"},
      {[](RunRulesSpec& s) { s.nelson6.m = 0; }, "nelson.6 needs 1 <= m <= n <= 20, found m 0, n 5"},
      {[](RunRulesSpec& s) { s.we2.n = 21; }, "we.2 needs 1 <= m <= n <= 20, found m 2, n 21"},
      {[](RunRulesSpec& s) {
         s.we3 = {false, -1, -1};
       },
       "we.3 needs 1 <= m <= n <= 20, found m -1, n -1"},
      {[](RunRulesSpec& s) { s.boundary = static_cast<Boundary>(7); }, "boundary must be strict or inclusive, found 7"},
  };
  for (const auto& c : cases) {
    // Enabled or not, a bad parameter is reported.
    for (bool enable_all : {true, false}) {
      RunRulesSpec s = enable_all ? RunRulesSpec::Nelson() : RunRulesSpec{};
      if (enable_all) {
        for (RuleKind k : {RuleKind::kWe1, RuleKind::kWe2, RuleKind::kWe3, RuleKind::kWe4})
          ASSERT_TRUE(s.Enable(k).ok());
      }
      c.edit(s);
      const Status st = s.Validate();
      EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << c.fragment;
      EXPECT_NE(st.message().find(c.fragment), std::string::npos) << "got: " << st.message();
    }
  }
  // The bounds themselves are valid.
  RunRulesSpec edge = RunRulesSpec::Nelson();
  edge.nelson2.length = kMinRunLength;
  edge.nelson7.length = kMaxRunLength;
  edge.nelson4.length = 3;
  edge.nelson5 = {true, 1, 1};
  edge.nelson6 = {true, kMaxRuleWindow, kMaxRuleWindow};
  EXPECT_TRUE(edge.Validate().ok()) << edge.Validate().ToString();
}

// ---------------------------------------------------------------------------------------------
// Preconditions and allocation

TEST(RunRulesDeathTest, BadPointsAreAPreconditionViolation) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  RuleFiring out[kMaxRuleFirings];
  EXPECT_DEATH(
      {
        RunRuleEvaluator ev(RunRulesSpec::Nelson());
        ev.Evaluate(1, 1.0, 0.0, 0.0, out);
      },
      "SHEWHART_CHECK failed");
  EXPECT_DEATH(
      {
        RunRuleEvaluator ev(RunRulesSpec::Nelson());
        ev.Evaluate(1, std::numeric_limits<double>::quiet_NaN(), 0.0, 1.0, out);
      },
      "SHEWHART_CHECK failed");
  EXPECT_DEATH(
      {
        RunRuleEvaluator ev(RunRulesSpec::Nelson());
        ev.Evaluate(5, 1.0, 0.0, 1.0, out);
        ev.Evaluate(5, 1.0, 0.0, 1.0, out);
      },
      "SHEWHART_CHECK failed");
  EXPECT_DEATH(
      {
        RunRulesSpec bad = RunRulesSpec::Nelson();
        bad.nelson2.length = 0;
        RunRuleEvaluator ev(bad);
      },
      "SHEWHART_CHECK failed");
}

TEST(RunRulesTest, EvaluateNeverAllocates) {
  // The counter works: an allocation while armed is seen.
  g_allocations = 0;
  g_count_allocations = true;
  auto* probe = new std::vector<int>(100);
  g_count_allocations = false;
  delete probe;
  ASSERT_GE(g_allocations.load(), 1u) << "the counting operator new is not in effect";

  RunRulesSpec spec = RunRulesSpec::Nelson();
  for (RuleKind k : {RuleKind::kWe1, RuleKind::kWe2, RuleKind::kWe3, RuleKind::kWe4}) ASSERT_TRUE(spec.Enable(k).ok());
  RunRuleEvaluator ev(spec);
  RuleFiring out[kMaxRuleFirings];
  std::size_t firings = 0;
  std::uint64_t state = 12345;
  g_allocations = 0;
  g_count_allocations = true;
  for (int i = 1; i <= 100000; ++i) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    const double u = static_cast<double>(state >> 11) / 9007199254740992.0;  // [0, 1)
    const double value = (i / 500) % 2 ? 4 * u - 1 : 6 * u - 3;  // in control, then shifted
    firings += ev.Evaluate(i, value, 0.0, 0.5 + u, out);
    if (i % 20000 == 0) ev.Reset();
  }
  g_count_allocations = false;
  EXPECT_EQ(g_allocations.load(), 0u);
  EXPECT_GT(firings, 1000u) << "the loop exercised the firing paths";
}

}  // namespace
}  // namespace shewhart::rules
