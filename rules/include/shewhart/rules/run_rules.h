#pragma once
// Run rules: Nelson 1-8 and Western Electric 1-4, judged point by point on one chart.
//
// A RunRuleEvaluator is fed the plotted points of one chart in order. For each point it is
// told the point's value, the centre line and the sigma *of the plotted statistic at that
// point* (sigma/sqrt(n) for an x-bar point; per point, because subgroup sizes may vary), and it
// reports every enabled rule that fires on that point.
//
// Semantics (DESIGN.md "Decisions on SPC semantics"; qcc 3.0 and Minitab where they agree):
//
//  * Zones. The k-sigma lines of a point are ZoneLine(cl, sigma, +k) above and
//    ZoneLine(cl, sigma, -k) below, i.e. cl + k*sigma and cl - k*sigma rounded once (fused
//    multiply-add, so the line does not depend on whether the compiler contracts cl + k*sigma).
//    A chart that wants a point plotted on its control limit to be "on the nelson.1 line" must
//    compute its limits with ZoneLine too. Each point is judged against its own cl and sigma
//    when it arrives; what is kept is the verdict (side, beyond 1 sigma, beyond 2 sigma), never
//    the raw value, so a later point with another sigma does not re-judge earlier ones.
//  * Boundary. With Boundary::kStrict a point is beyond a line only when strictly beyond it (a
//    point exactly on cl + 2 sigma is not beyond 2 sigma); with Boundary::kInclusive a point on
//    the line is beyond it. This holds for the 1, 2 and K (nelson.1, we.1) sigma lines alike.
//    "Within 1 sigma" (nelson.7) is exactly "not beyond 1 sigma on either side" under the same
//    mode, so a point on cl + sigma is within 1 sigma when strict and beyond it when inclusive.
//  * Centre line. A point exactly on the centre line is on neither side: it breaks same-side
//    runs (nelson.2, we.4) and is never beyond any zone line, even when sigma is so small
//    against cl that a line rounds onto cl. Hence it also breaks nelson.8 (it is not beyond
//    1 sigma) and counts towards nelson.7 (it is within 1 sigma).
//  * Trend and alternation (nelson.3, nelson.4) compare the raw successive values, not zones.
//    Equal successive values (ties) are neither up nor down: they break a trend and an
//    alternation. A run of K points holds K-1 steps: nelson.3 needs K-1 steps all up or all
//    down; nelson.4 needs K-1 nonzero steps each of opposite direction to the one before.
//  * Runs (nelson.2/3/4/7/8, we.4) fire on the point that completes a run of K points and on
//    every further point while the run goes on; each firing implicates the last K points.
//    (qcc: 15 in a row within 1 sigma flags points 15 and 16 of a run of 16.)
//  * "m of n" rules (nelson.5/6, we.2/3) fire on a point that is itself beyond the zone line
//    and, with it, at least m of the last n points are beyond that line on the same side as it;
//    the other points of the window may lie anywhere (qcc's reading). With
//    MOfNRuleParams::point_beyond false (the plain reading of the rule's words) the point need
//    not be beyond: the rule fires on every point at which at least m of the last n points,
//    the point included, are beyond the line on one side. A firing implicates the whole window:
//    from the first of the last n points through the current one. Before n points have been
//    seen (since construction or Reset) the window is the points seen so far, so m qualifying
//    points among the first k < n already fire (a shift right after a limit change should not
//    go unflagged for that); MOfNRuleParams::full_window makes the rule wait for n points, as
//    qcc does.
//  * nelson.1 and we.1 fire on a point beyond its K-sigma line; they implicate that point only.
//  * When one point completes several patterns, each enabled rule writes its own firing, in
//    the order of RuleKind (nelson.1 .. nelson.8, then we.1 .. we.4).
//  * nelson.8 counts points beyond 1 sigma on either side (Minitab); qcc and Nelson (1984) also
//    want both sides in the run: Nelson8Params::both_sides.
//
// Threading: an evaluator belongs to the one shard thread that owns its chart; no method is
// thread-safe. Allocation: none, ever: the history is a fixed-capacity inline ring and a few
// 64-bit shift registers, so the evaluator is trivially copyable (a checkpoint is a copy).

#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "shewhart/base/status.h"
#include "shewhart/rules/types.h"

namespace shewhart::rules {

// The k-sigma zone line of a point: cl + k * sigma rounded once (k < 0 gives the lower lines).
inline double ZoneLine(double cl, double sigma, double k) { return std::fma(k, sigma, cl); }

// Bounds that RunRulesSpec::Validate() enforces.
inline constexpr int kMinRunLength = 2;   // nelson.4 needs at least 3 (two steps to alternate)
inline constexpr int kMaxRunLength = 50;
inline constexpr int kMaxRuleWindow = 20; // "m of n": 1 <= m <= n <= kMaxRuleWindow

// Rule 1 style: one point beyond the `sigmas`-sigma line, either side. `sigmas` > 0, finite.
struct SigmaRuleParams {
  bool enabled = false;
  double sigmas = 3;
};

// A run of `length` points (kMinRunLength..kMaxRunLength).
struct RunRuleParams {
  bool enabled = false;
  int length = 9;
};

// nelson.8: `length` points in a row beyond 1 sigma. Minitab counts points on either side
// (both_sides = false, the default); Nelson (1984) and qcc also require the run to hold at
// least one point above and one below the centre line (both_sides = true).
struct Nelson8Params {
  bool enabled = false;
  int length = 8;
  bool both_sides = false;
};

// At least `m` of the last `n` points beyond a zone line on the same side. point_beyond: the
// point judged must itself be one of them (qcc; false: the plain reading, any point of a window
// that holds m). full_window: judge only once n points exist (qcc; false: a shorter window at
// the start counts the points it has).
struct MOfNRuleParams {
  bool enabled = false;
  int m = 2;
  int n = 3;
  bool point_beyond = true;
  bool full_window = false;
};

// Which run rules a chart applies and their parameters (Minitab's defaults). A
// default-constructed spec enables nothing; start from a preset and adjust. The zone of the
// m-of-n rules and of nelson.7/8 is fixed (2 sigma for nelson.5 / we.2; 1 sigma for
// nelson.6 / nelson.7 / nelson.8 / we.3); nelson.1 and we.1 take their own K.
struct RunRulesSpec {
  SigmaRuleParams nelson1{false, 3};   // 1 point beyond K (3) sigma
  RunRuleParams nelson2{false, 9};     // K (9) in a row on the same side of the centre line
  RunRuleParams nelson3{false, 6};     // K (6) in a row all increasing or all decreasing
  RunRuleParams nelson4{false, 14};    // K (14) in a row alternating up and down (K >= 3)
  MOfNRuleParams nelson5{false, 2, 3}; // m of n (2 of 3) beyond 2 sigma, same side
  MOfNRuleParams nelson6{false, 4, 5}; // m of n (4 of 5) beyond 1 sigma, same side
  RunRuleParams nelson7{false, 15};    // K (15) in a row within 1 sigma, either side
  Nelson8Params nelson8{false, 8, false};  // K (8) in a row beyond 1 sigma, either side
  SigmaRuleParams we1{false, 3};       // 1 point beyond K (3) sigma
  MOfNRuleParams we2{false, 2, 3};     // 2 of 3 beyond 2 sigma, same side
  MOfNRuleParams we3{false, 4, 5};     // 4 of 5 beyond 1 sigma, same side
  RunRuleParams we4{false, 8};         // 8 in a row on the same side of the centre line
  Boundary boundary = Boundary::kStrict;

  // nelson.1 .. nelson.8.
  static RunRulesSpec Nelson();
  // we.1 .. we.4.
  static RunRulesSpec WesternElectric();
  // nelson.1 .. nelson.4: DESIGN.md's default for R, S, moving-range and attribute charts.
  static RunRulesSpec RulesOneToFour();

  // True for the twelve kinds this spec covers (not spec.lsl / spec.usl).
  static bool IsRunRule(RuleKind kind);
  bool Enabled(RuleKind kind) const;
  // Turns a rule on or off. InvalidArgument for a kind that is not a run rule.
  Status Enable(RuleKind kind, bool on = true);
  // True when a rule other than rule 1 (nelson.1, we.1: a chart's own) is enabled.
  bool AnyBeyondRuleOne() const;

  // Checks every rule's parameters, enabled or not (a value is never ignored silently).
  // Returns InvalidArgument naming the rule, the parameter and the value found, e.g.
  // "nelson.2 length must be in 2..50, found 1".
  Status Validate() const;
};

// One rule firing on one point: [first, last] are the indexes (as passed to Evaluate) of the
// points the rule implicates; `last` is always the point being judged.
struct RuleFiring {
  RuleKind rule;
  std::int64_t first;
  std::int64_t last;
  friend bool operator==(const RuleFiring&, const RuleFiring&) = default;
};
static_assert(std::is_trivially_copyable_v<RuleFiring>);

// The most firings one Evaluate call can write: one per run rule.
inline constexpr std::size_t kMaxRuleFirings = 12;

class RunRuleEvaluator {
 public:
  // `spec` must have passed Validate() (checked: a spec that fails is a bug in the caller).
  explicit RunRuleEvaluator(const RunRulesSpec& spec);

  // Judges one plotted point and writes each rule that fires on it into out[0..k), returning k
  // (0 <= k <= kMaxRuleFirings). `out` must hold kMaxRuleFirings entries.
  // Preconditions (SHEWHART_CHECK, abort on violation; callers must not plot such a point):
  // value, cl and sigma finite; sigma > 0 (a chart whose baseline gives sigma 0 has no zones and
  // must not judge run rules); `index` strictly greater than the previous point's since
  // construction or Reset (gaps are allowed, below 2^32 points each: [first, last] use the
  // indexes actually passed).
  std::size_t Evaluate(std::int64_t index, double value, double cl, double sigma, RuleFiring* out);

  // Forgets every point: the next point starts all patterns afresh (after a limit change, a
  // new Phase, or a restart without a checkpoint).
  void Reset();

  // The longest pattern, in points, among the enabled rules (0 when none): the most recent
  // points that can still contribute to a firing.
  int window() const { return window_; }
  // Points judged since construction or the last Reset.
  std::int64_t points() const { return count_; }

 private:
  // Ring of the indexes of the most recent points (firings look back at most
  // kMaxRunLength - 1 points); a power of two so that positions wrap with a mask.
  static constexpr std::size_t kRingCapacity = 64;
  static_assert(kRingCapacity >= static_cast<std::size_t>(kMaxRunLength) &&
                kRingCapacity >= static_cast<std::size_t>(kMaxRuleWindow));
  // One slot per run rule, in RuleKind order: bit `slot` of a hit word is that rule.
  enum Slot : int { kN1, kN2, kN3, kN4, kN5, kN6, kN7, kN8, kW1, kW2, kW3, kW4, kSlots };
  static_assert(kSlots == static_cast<int>(kMaxRuleFirings));

  // The index of the point `back` points before the newest (`newest` is its index): the ring
  // keeps indexes as their low 32 bits, so gaps between points must stay below 2^32.
  std::int64_t IndexBack(int back, std::int64_t newest) const {
    const std::uint32_t low = ring_[(pos_ - static_cast<std::size_t>(back)) & (kRingCapacity - 1)];
    return newest - static_cast<std::int64_t>(static_cast<std::uint32_t>(static_cast<std::uint32_t>(newest) - low));
  }
  // Evaluate for one boundary mode and one set of rule groups. The groups a spec enables
  // never change, so Evaluate picks one instantiation per evaluator (a predictable branch):
  // kZones keeps the 1- and 2-sigma histories and the zone lanes that the rules reading them need
  // (nelson.5-8, we.2, we.3); kWe compares with we.1's line. The run lanes of nelson.2-4 and we.4
  // are always kept. Hits (the rare path) judges every rule from that state; an instantiation
  // may keep more than the enabled rules need (hits are masked with enabled_), never less.
  template <bool kInclusive, bool kZones, bool kWe>
  std::size_t Judge(std::int64_t index, double value, double cl, double sigma, RuleFiring* out);
  // Judge after SetLines (the rare path of a point with another cl or sigma than the last).
  template <bool kInclusive, bool kZones, bool kWe>
  std::size_t JudgeNewLines(std::int64_t index, double value, double cl, double sigma, RuleFiring* out);
  // The rare path of a point that may fire: Hits, then WriteFirings.
  [[gnu::noinline]] std::size_t Fire(std::int64_t index, bool rule1, bool we1, RuleFiring* out) const;
  // The exact hit bits of every rule on the newest point (the rare path, after the filter):
  // `rule1`, `we1` its rule-1 verdicts; the rest comes from the state it left.
  std::uint32_t Hits(bool rule1, bool we1) const;
  // The rare path: writes the firings of the rules whose bits are set in `hits`.
  std::size_t WriteFirings(std::uint32_t hits, std::int64_t index, RuleFiring* out) const;
  // Computes the zone lines of (cl, sigma) into upper_ / lower_, after checking both.
  void SetLines(double cl, double sigma);

  // The run counters' byte lanes (runs_): the length of the current run of points above the
  // centre line, below it, of steps up, of steps down, of turning steps, of points within 1
  // sigma, and beyond 1 sigma; each saturates at 127 (> kMaxRunLength).
  enum Lane : int { kLaneAbove, kLaneBelow, kLaneUp, kLaneDown, kLaneTurned, kLaneWithin1, kLaneBeyond1 };
  static constexpr std::uint64_t kLaneLow = 0x0101010101010101;   // bit 0 of each lane
  static constexpr std::uint64_t kLaneHigh = 0x8080808080808080;  // bit 7 of each lane
  static_assert(kMaxRunLength < 127);

  // Derived from the spec at construction (the spec itself is not kept: what a point needs is
  // here, in as few bytes as hold it).
  std::uint32_t enabled_ = 0;          // bit per slot
  std::uint8_t variant_ = 0;           // Judge instantiation: kInclusive | kZones << 1 | kWe << 2
  std::uint8_t window_ = 0;
  bool nelson8_both_sides_ = false;
  bool nelson1_on_ = false;
  std::uint8_t bits_[kSlots] = {};       // the history bits (run length) a slot's pattern reads
  std::uint8_t min_count_[kSlots] = {};  // m of the m-of-n slots
  std::uint8_t points_[kSlots] = {};     // points a firing implicates (full window for m-of-n)
  std::uint8_t filter_m1_ = 0xff, filter_m2_ = 0xff;  // the smallest m of the enabled 1- / 2-sigma m-of-n rules
  std::uint64_t filter_mask1_ = 0, filter_mask2_ = 0;  // their widest window
  // The m-of-n slots read plainly (point_beyond false) and those that wait for a full window;
  // plain_zones_: bit 0 when a 1-sigma rule is read plainly, bit 1 a 2-sigma one.
  std::uint32_t plain_ = 0, full_ = 0;
  std::uint8_t plain_zones_ = 0;
  std::uint64_t run_add_ = 0;          // per lane: 128 - the shortest enabled run on it (0: none)
  double zone_k_[4] = {1, 2, 3, 3};    // the zone lines kZones judges: 1, 2, nelson.1's, we.1's sigmas

  // The bit pattern of the cached cl and sigma before any point: a signalling NaN, which no
  // arithmetic produces, so that the first point always computes the lines (and SetLines checks
  // them).
  static constexpr std::uint64_t kNoLines = 0x7ff4000000000001;

  // The zone lines of the last (cl, sigma) judged: ZoneLine(cl, sigma, +-zone_k_[i]). A chart
  // with fixed limits plots every point against the same pair, so the lines are computed once
  // per limit version, not per point; any other pair (an x-bar point of another subgroup size)
  // recomputes them. Pairs that one point compares with at once are adjacent and aligned.
  // centre_prev_: [0] the cl of the lines (kNoLines until the first point), [1] the previous
  // point's raw value: NaN when there is none (since construction or Reset), so that the first
  // point's step compares false both ways and is neither up nor down.
  alignas(16) double centre_prev_[2] = {std::bit_cast<double>(kNoLines), std::numeric_limits<double>::quiet_NaN()};
  alignas(16) double upper_[4] = {};  // +1, +2 sigma, nelson.1's, we.1's line
  alignas(16) double lower_[4] = {};
  double lines_sigma_ = std::bit_cast<double>(kNoLines);

  std::int64_t count_ = 0;
  std::int64_t last_index_ = 0;  // the newest point's index (meaningful when count_ > 0)
  std::uint32_t pos_ = 0;        // ring slot of the newest point
  std::uint32_t ring_[kRingCapacity] = {};  // low 32 bits of the recent points' indexes
  std::uint64_t runs_ = 0;       // the run counters, one byte lane each (Lane)
  std::uint32_t prev_steps_ = 0; // the previous point's step, as bits 4 (up) and 6 (down) of a verdict code
  // Zone histories, newest point in bit 0, one bit per point; bits beyond count_ are 0. Kept
  // only when a rule reads them (kZones); otherwise they stay 0.
  std::uint64_t above1_ = 0, below1_ = 0;        // beyond the 1-sigma line, by side
  std::uint64_t above2_ = 0, below2_ = 0;        // beyond the 2-sigma line, by side
};
static_assert(std::is_trivially_copyable_v<RunRuleEvaluator>);

}  // namespace shewhart::rules
