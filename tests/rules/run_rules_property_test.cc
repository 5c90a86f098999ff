// Property test: the incremental RunRuleEvaluator against a naive reference that keeps every
// point since the last Reset and re-derives each rule from that history at every point, over a
// million random points per boundary mode (in-control noise, mean shifts, trends, oscillation,
// hugging the centre line, a bimodal mixture; exact ties, points exactly on zone lines and on
// the centre line; per-point sigma; index gaps; limit changes with Reset).

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <random>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "shewhart/rules/run_rules.h"

namespace shewhart::rules {
namespace {

// ---------------------------------------------------------------------------------------------
// The reference: written from the rule definitions in run_rules.h, one rule at a time, with
// plain loops over the stored points. No counters, no bit tricks, no ring.

struct StoredPoint {
  std::int64_t index;
  double value;
  double cl;
  double sigma;
};

class NaiveRunRules {
 public:
  explicit NaiveRunRules(const RunRulesSpec& spec) : spec_(spec) {}

  void Reset() { points_.clear(); }

  // Replaces `out` with the firings on this point.
  void Evaluate(std::int64_t index, double value, double cl, double sigma, std::vector<RuleFiring>& out) {
    points_.push_back({index, value, cl, sigma});
    out.clear();
    const int n = static_cast<int>(points_.size());
    const StoredPoint& now = points_.back();
    // A firing over the points at positions [from, n-1].
    auto add = [&](RuleKind rule, int from) { out.push_back({rule, points_[from].index, index}); };

    if (spec_.nelson1.enabled && (Above(now, spec_.nelson1.sigmas) || Below(now, spec_.nelson1.sigmas))) {
      add(RuleKind::kNelson1, n - 1);
    }
    if (spec_.nelson2.enabled && SameSideRun(spec_.nelson2.length)) add(RuleKind::kNelson2, n - spec_.nelson2.length);
    if (spec_.nelson3.enabled && Trend(spec_.nelson3.length)) add(RuleKind::kNelson3, n - spec_.nelson3.length);
    if (spec_.nelson4.enabled && Alternating(spec_.nelson4.length)) add(RuleKind::kNelson4, n - spec_.nelson4.length);
    if (spec_.nelson5.enabled && MOfN(spec_.nelson5, 2)) add(RuleKind::kNelson5, n - std::min(n, spec_.nelson5.n));
    if (spec_.nelson6.enabled && MOfN(spec_.nelson6, 1)) add(RuleKind::kNelson6, n - std::min(n, spec_.nelson6.n));
    if (spec_.nelson7.enabled && WithinOneSigmaRun(spec_.nelson7.length)) {
      add(RuleKind::kNelson7, n - spec_.nelson7.length);
    }
    if (spec_.nelson8.enabled && BeyondOneSigmaRun(spec_.nelson8.length, spec_.nelson8.both_sides)) {
      add(RuleKind::kNelson8, n - spec_.nelson8.length);
    }
    if (spec_.we1.enabled && (Above(now, spec_.we1.sigmas) || Below(now, spec_.we1.sigmas))) {
      add(RuleKind::kWe1, n - 1);
    }
    if (spec_.we2.enabled && MOfN(spec_.we2, 2)) add(RuleKind::kWe2, n - std::min(n, spec_.we2.n));
    if (spec_.we3.enabled && MOfN(spec_.we3, 1)) add(RuleKind::kWe3, n - std::min(n, spec_.we3.n));
    if (spec_.we4.enabled && SameSideRun(spec_.we4.length)) add(RuleKind::kWe4, n - spec_.we4.length);
  }

 private:
  bool Inclusive() const { return spec_.boundary == Boundary::kInclusive; }

  // Beyond the k-sigma line above / below its own centre line, on that side.
  bool Above(const StoredPoint& p, double k) const {
    if (!(p.value > p.cl)) return false;
    const double line = std::fma(k, p.sigma, p.cl);
    return Inclusive() ? p.value >= line : p.value > line;
  }
  bool Below(const StoredPoint& p, double k) const {
    if (!(p.value < p.cl)) return false;
    const double line = std::fma(-k, p.sigma, p.cl);
    return Inclusive() ? p.value <= line : p.value < line;
  }

  // The last k points, oldest first; empty when fewer than k are stored.
  std::span<const StoredPoint> Last(int k) const {
    if (static_cast<int>(points_.size()) < k) return {};
    return std::span<const StoredPoint>(points_).last(static_cast<std::size_t>(k));
  }

  bool SameSideRun(int k) const {
    const auto last = Last(k);
    if (last.empty()) return false;
    bool all_above = true, all_below = true;
    for (const auto& p : last) {
      if (!(p.value > p.cl)) all_above = false;
      if (!(p.value < p.cl)) all_below = false;
    }
    return all_above || all_below;
  }

  bool Trend(int k) const {
    const auto last = Last(k);
    if (last.empty()) return false;
    bool rising = true, falling = true;
    for (std::size_t i = 1; i < last.size(); ++i) {
      const double step = last[i].value - last[i - 1].value;
      if (!(step > 0)) rising = false;
      if (!(step < 0)) falling = false;
    }
    return rising || falling;
  }

  bool Alternating(int k) const {
    const auto last = Last(k);
    if (last.empty()) return false;
    // Every step nonzero, and each step's direction differs from the one before it.
    for (std::size_t i = 1; i < last.size(); ++i) {
      const double step = last[i].value - last[i - 1].value;
      if (step == 0) return false;
      if (i >= 2) {
        const double before = last[i - 1].value - last[i - 2].value;
        if ((step > 0) == (before > 0)) return false;
      }
    }
    return true;
  }

  bool MOfN(const MOfNRuleParams& p, double zone) const {
    const int have = static_cast<int>(points_.size());
    if (p.full_window && have < p.n) return false;
    const auto window = Last(std::min(have, p.n));
    int above = 0, below = 0;
    for (const auto& q : window) {
      if (Above(q, zone)) ++above;
      if (Below(q, zone)) ++below;
    }
    if (!p.point_beyond) return above >= p.m || below >= p.m;
    const StoredPoint& now = points_.back();
    return (Above(now, zone) && above >= p.m) || (Below(now, zone) && below >= p.m);
  }

  bool WithinOneSigmaRun(int k) const {
    const auto last = Last(k);
    if (last.empty()) return false;
    for (const auto& p : last) {
      if (Above(p, 1) || Below(p, 1)) return false;
    }
    return true;
  }

  bool BeyondOneSigmaRun(int k, bool both_sides) const {
    const auto last = Last(k);
    if (last.empty()) return false;
    bool any_above = false, any_below = false;
    for (const auto& p : last) {
      const bool above = Above(p, 1), below = Below(p, 1);
      if (!above && !below) return false;
      any_above = any_above || above;
      any_below = any_below || below;
    }
    return !both_sides || (any_above && any_below);
  }

  RunRulesSpec spec_;
  std::vector<StoredPoint> points_;
};

// ---------------------------------------------------------------------------------------------
// The stream: segments of one regime each, with exact ties, zone-line and centre-line values
// sprinkled in.

class PointStream {
 public:
  PointStream(std::uint64_t seed, std::vector<double> line_multiples)
      : rng_(seed), line_multiples_(std::move(line_multiples)) {
    NewLimits();
    NewSegment();
  }

  struct Next {
    std::int64_t index;
    double value, cl, sigma;
    bool reset;  // limits changed before this point
  };

  Next Get() {
    bool reset = false;
    if (left_ == 0) {
      if (Uniform(0, 1) < 0.05) {
        NewLimits();
        reset = true;
      }
      NewSegment();
    }
    --left_;
    ++t_;
    index_ += Uniform(0, 1) < 0.02 ? 1 + static_cast<std::int64_t>(Uniform(0, 5)) : 1;

    // Per-point sigma of the plotted statistic: an x-bar chart with subgroup sizes 1..9.
    double sigma = base_sigma_;
    if (vary_sigma_) sigma = base_sigma_ / std::sqrt(1.0 + std::floor(Uniform(0, 9)));

    double z = 0;
    switch (regime_) {
      case 0: z = normal_(rng_); break;                                  // in control
      case 1: z = shift_ + normal_(rng_); break;                         // mean shift
      case 2: z = start_ + slope_ * t_ + 0.1 * normal_(rng_); break;     // trend
      case 3: z = (t_ % 2 ? amp_ : -amp_) + 0.2 * normal_(rng_); break;  // oscillation
      case 4: z = 0.35 * normal_(rng_); break;                           // hugging the centre
      default: z = (Uniform(0, 1) < 0.5 ? -1 : 1) * Uniform(1, 2.6); break;  // bimodal
    }
    double value = cl_ + z * sigma;
    const double u = Uniform(0, 1);
    if (u < 0.03 && has_prev_) {
      value = prev_;  // an exact tie
    } else if (u < 0.07) {
      const double k =
          line_multiples_[static_cast<std::size_t>(Uniform(0, static_cast<double>(line_multiples_.size())))];
      value = std::fma(Uniform(0, 1) < 0.5 ? -k : k, sigma, cl_);  // exactly on a zone line
      ++on_line_;
    } else if (u < 0.08) {
      value = cl_;  // exactly on the centre line
    }
    prev_ = value;
    has_prev_ = true;
    return {index_, value, cl_, sigma, reset};
  }

  std::int64_t on_line() const { return on_line_; }

 private:
  double Uniform(double a, double b) { return std::uniform_real_distribution<double>(a, b)(rng_); }

  void NewLimits() {
    cl_ = Uniform(-100, 100);
    base_sigma_ = std::exp(Uniform(std::log(0.001), std::log(10.0)));
  }

  void NewSegment() {
    left_ = 5 + static_cast<int>(Uniform(0, 200));
    regime_ = static_cast<int>(Uniform(0, 6));
    vary_sigma_ = Uniform(0, 1) < 0.4;
    shift_ = Uniform(-3, 3);
    start_ = Uniform(-2, 2);
    slope_ = (Uniform(0, 1) < 0.5 ? -1 : 1) * Uniform(0.05, 0.5);
    amp_ = Uniform(0.3, 2.5);
    t_ = 0;
  }

  std::mt19937_64 rng_;
  std::normal_distribution<double> normal_{0.0, 1.0};
  std::vector<double> line_multiples_;
  double cl_ = 0, base_sigma_ = 1;
  int left_ = 0, regime_ = 0, t_ = 0;
  bool vary_sigma_ = false;
  double shift_ = 0, start_ = 0, slope_ = 0, amp_ = 0;
  std::int64_t index_ = 0;
  double prev_ = 0;
  bool has_prev_ = false;
  std::int64_t on_line_ = 0;
};

std::string Describe(const std::vector<RuleFiring>& firings) {
  std::ostringstream os;
  os << "[";
  for (const auto& f : firings) os << " " << RuleName(f.rule) << " " << f.first << ".." << f.last;
  os << " ]";
  return os.str();
}

// Runs `points` points through both evaluators; returns how often each rule fired.
std::array<std::int64_t, kRuleKindCount> Compare(const RunRulesSpec& spec, std::uint64_t seed, int points) {
  std::array<std::int64_t, kRuleKindCount> fired{};
  EXPECT_TRUE(spec.Validate().ok()) << spec.Validate().ToString();
  RunRuleEvaluator fast(spec);
  NaiveRunRules naive(spec);
  std::vector<double> multiples = {1, 2, 3, spec.nelson1.sigmas, spec.we1.sigmas};
  PointStream stream(seed, multiples);
  RuleFiring out[kMaxRuleFirings];
  std::vector<RuleFiring> got, want;
  for (int i = 0; i < points; ++i) {
    const auto p = stream.Get();
    if (p.reset) {
      fast.Reset();
      naive.Reset();
    }
    const std::size_t k = fast.Evaluate(p.index, p.value, p.cl, p.sigma, out);
    got.assign(out, out + k);
    naive.Evaluate(p.index, p.value, p.cl, p.sigma, want);
    if (got != want) {
      ADD_FAILURE() << "seed " << seed << ", point " << i << " (index " << p.index << ", value " << p.value
                    << ", cl " << p.cl << ", sigma " << p.sigma << "): incremental " << Describe(got)
                    << ", reference " << Describe(want);
      return fired;
    }
    for (const auto& f : got) ++fired[static_cast<std::size_t>(f.rule)];
  }
  EXPECT_GT(stream.on_line(), points / 50) << "the stream should put many points exactly on zone lines";
  return fired;
}

RunRulesSpec AllTwelve(Boundary boundary) {
  RunRulesSpec spec = RunRulesSpec::Nelson();
  for (RuleKind k : {RuleKind::kWe1, RuleKind::kWe2, RuleKind::kWe3, RuleKind::kWe4}) EXPECT_TRUE(spec.Enable(k).ok());
  spec.boundary = boundary;
  return spec;
}

TEST(RunRulesPropertyTest, IncrementalMatchesNaiveReferenceOnAMillionPointsStrict) {
  const RunRulesSpec spec = AllTwelve(Boundary::kStrict);
  const int points = 1000000;
  const auto fired = Compare(spec, 20261127, points);
  for (int i = 0; i < kRuleKindCount; ++i) {
    const auto kind = static_cast<RuleKind>(i);
    if (!spec.Enabled(kind)) continue;
    // Every rule fires often enough for the comparison to mean something, and not everywhere.
    EXPECT_GT(fired[static_cast<std::size_t>(i)], 500) << RuleName(kind);
    EXPECT_LT(fired[static_cast<std::size_t>(i)], points / 2) << RuleName(kind);
  }
}

TEST(RunRulesPropertyTest, IncrementalMatchesNaiveReferenceOnAMillionPointsInclusive) {
  const RunRulesSpec spec = AllTwelve(Boundary::kInclusive);
  const int points = 1000000;
  const auto fired = Compare(spec, 19840101, points);
  for (int i = 0; i < kRuleKindCount; ++i) {
    const auto kind = static_cast<RuleKind>(i);
    if (!spec.Enabled(kind)) continue;
    EXPECT_GT(fired[static_cast<std::size_t>(i)], 500) << RuleName(kind);
    EXPECT_LT(fired[static_cast<std::size_t>(i)], points / 2) << RuleName(kind);
  }
}

// The boundary mode must matter on this stream (it puts points exactly on the lines).
TEST(RunRulesPropertyTest, BoundaryModeChangesFiringsOnTheSameStream) {
  const auto strict = Compare(AllTwelve(Boundary::kStrict), 7, 200000);
  const auto inclusive = Compare(AllTwelve(Boundary::kInclusive), 7, 200000);
  for (RuleKind k : {RuleKind::kNelson1, RuleKind::kNelson5, RuleKind::kNelson6, RuleKind::kNelson7,
                     RuleKind::kNelson8}) {
    const auto i = static_cast<std::size_t>(k);
    EXPECT_NE(strict[i], inclusive[i]) << RuleName(k);
  }
}

// Random parameters over the whole range Validate() accepts.
TEST(RunRulesPropertyTest, IncrementalMatchesNaiveReferenceWithRandomParameters) {
  std::mt19937_64 rng(42);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  for (int round = 0; round < 12; ++round) {
    RunRulesSpec spec = AllTwelve(round % 2 ? Boundary::kInclusive : Boundary::kStrict);
    spec.nelson1.sigmas = pick(0, 1) ? 3 : 0.5 + 0.25 * pick(0, 14);
    spec.we1.sigmas = pick(0, 1) ? 2 : 0.5 + 0.25 * pick(0, 14);
    for (RunRuleParams* r : {&spec.nelson2, &spec.nelson3, &spec.nelson7, &spec.we4}) {
      r->length = pick(kMinRunLength, pick(0, 3) ? 16 : kMaxRunLength);
    }
    spec.nelson4.length = pick(3, pick(0, 3) ? 16 : kMaxRunLength);
    spec.nelson8.length = pick(kMinRunLength, pick(0, 3) ? 12 : kMaxRunLength);
    spec.nelson8.both_sides = pick(0, 1) == 1;
    for (MOfNRuleParams* r : {&spec.nelson5, &spec.nelson6, &spec.we2, &spec.we3}) {
      r->n = pick(1, kMaxRuleWindow);
      r->m = pick(1, r->n);
      r->point_beyond = pick(0, 2) != 0;
      r->full_window = pick(0, 1) == 1;
    }
    SCOPED_TRACE("round " + std::to_string(round));
    Compare(spec, 1000 + round, 100000);
    if (HasFailure()) return;
  }
}

// The evaluator judges only the groups of rules a spec enables (zones, Western Electric): the
// presets and random subsets of the twelve rules, in both modes, against the reference.
TEST(RunRulesPropertyTest, IncrementalMatchesNaiveReferenceForEverySubsetOfRules) {
  std::vector<RunRulesSpec> specs = {RunRulesSpec::Nelson(), RunRulesSpec::RulesOneToFour(),
                                     RunRulesSpec::WesternElectric(), RunRulesSpec{}};
  std::mt19937_64 rng(1984);
  for (int round = 0; round < 24; ++round) {
    RunRulesSpec spec;
    for (int k = 0; k < kRuleKindCount; ++k) {
      const auto kind = static_cast<RuleKind>(k);
      if (RunRulesSpec::IsRunRule(kind) && rng() % 3 == 0) {
        EXPECT_TRUE(spec.Enable(kind).ok());
      }
    }
    specs.push_back(spec);
  }
  for (std::size_t i = 0; i < specs.size(); ++i) {
    for (Boundary b : {Boundary::kStrict, Boundary::kInclusive}) {
      RunRulesSpec spec = specs[i];
      spec.boundary = b;
      SCOPED_TRACE("spec " + std::to_string(i) + (b == Boundary::kStrict ? " strict" : " inclusive"));
      const auto fired = Compare(spec, 500 + i, 30000);
      for (int k = 0; k < kRuleKindCount; ++k) {
        if (!spec.Enabled(static_cast<RuleKind>(k))) {
          EXPECT_EQ(fired[static_cast<std::size_t>(k)], 0);
        }
      }
      if (HasFailure()) return;
    }
  }
}

}  // namespace
}  // namespace shewhart::rules
