#include "shewhart/rules/run_rules.h"
#include "shewhart/rules/format.h"

#include <algorithm>
#include <bit>
#include <charconv>
#include <initializer_list>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <string>
#include <utility>

namespace shewhart::rules {

namespace {

std::string Name(RuleKind kind) { return std::string(RuleName(kind)); }

Status CheckSigmas(RuleKind kind, const SigmaRuleParams& p) {
  if (!std::isfinite(p.sigmas) || !(p.sigmas > 0)) {
    return InvalidArgument(Name(kind) + " sigmas must be a finite number > 0, found " + FormatNumber(p.sigmas));
  }
  return Status::Ok();
}

Status CheckLength(RuleKind kind, int length, int min_length) {
  if (length < min_length || length > kMaxRunLength) {
    return InvalidArgument(Name(kind) + " length must be in " + std::to_string(min_length) + ".." +
                           std::to_string(kMaxRunLength) + ", found " + std::to_string(length));
  }
  return Status::Ok();
}

Status CheckMOfN(RuleKind kind, const MOfNRuleParams& p) {
  if (p.m < 1 || p.m > p.n || p.n > kMaxRuleWindow) {
    return InvalidArgument(Name(kind) + " needs 1 <= m <= n <= " + std::to_string(kMaxRuleWindow) + ", found m " +
                           std::to_string(p.m) + ", n " + std::to_string(p.n));
  }
  return Status::Ok();
}

// The number of bits set in each 10-bit value: a popcount instruction is not in the portable
// x86-64 instruction set (std::popcount becomes a library call), and two lookups in this 1 KB
// table count an m-of-n window (n <= kMaxRuleWindow = 20).
struct BitCounts {
  std::uint8_t of[1024];
  constexpr BitCounts() : of() {
    for (int i = 1; i < 1024; ++i) of[i] = static_cast<std::uint8_t>(of[i / 2] + (i & 1));
  }
};
constexpr BitCounts kBitCounts;
static_assert(kMaxRuleWindow <= 20);
inline int CountBits20(std::uint64_t x) { return kBitCounts.of[x & 1023] + kBitCounts.of[(x >> 10) & 1023]; }

// The low `k` bits set (0 < k <= 64).
constexpr std::uint64_t LowBits(int k) { return k >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << k) - 1; }

// The run counters' lanes that continue on a point, by its verdict code: bit 0 above the centre
// line, 1 a step up, 2 below the centre line, 3 a step down, 4 the previous step was up, 6 it was
// down, 7 the zone lanes are kept (the instantiations that judge zones), 8 beyond 1 sigma. Byte
// lane i of an entry is 1 when lane i continues: 0 above, 1 below, 2 up, 3 down, 4 turned, 5
// within 1 sigma, 6 beyond 1 sigma (the order of RunRuleEvaluator::Lane).
struct RunLanes {
  std::uint64_t of[512];
  constexpr RunLanes() : of() {
    for (unsigned code = 0; code < 512; ++code) {
      const auto bit = [&](int i) { return std::uint64_t{(code >> i) & 1}; };
      const std::uint64_t turned = (bit(1) & bit(6)) | (bit(3) & bit(4));
      std::uint64_t lanes = bit(0) | bit(2) << 8 | bit(1) << 16 | bit(3) << 24 | turned << 32;
      if (bit(7)) lanes |= std::uint64_t{1} << (bit(8) ? 48 : 40);
      of[code] = lanes;
    }
  }
};
constexpr RunLanes kRunLanes;

// Bit i (i = 0, 1) set when `value` is beyond pair[i]: above it (Above) or below it (Below),
// strictly, or also on it when kInclusive. False for NaN on either side. `pair` is 16-byte aligned.
template <bool kInclusive>
inline unsigned Above(double value, const double* pair) {
#if defined(__SSE2__)
  const __m128d v = _mm_set1_pd(value), p = _mm_load_pd(pair);
  return static_cast<unsigned>(_mm_movemask_pd(kInclusive ? _mm_cmpge_pd(v, p) : _mm_cmpgt_pd(v, p)));
#else
  if constexpr (kInclusive) return unsigned{value >= pair[0]} | unsigned{value >= pair[1]} << 1;
  return unsigned{value > pair[0]} | unsigned{value > pair[1]} << 1;
#endif
}
template <bool kInclusive>
inline unsigned Below(double value, const double* pair) {
#if defined(__SSE2__)
  const __m128d v = _mm_set1_pd(value), p = _mm_load_pd(pair);
  return static_cast<unsigned>(_mm_movemask_pd(kInclusive ? _mm_cmple_pd(v, p) : _mm_cmplt_pd(v, p)));
#else
  if constexpr (kInclusive) return unsigned{value <= pair[0]} | unsigned{value <= pair[1]} << 1;
  return unsigned{value < pair[0]} | unsigned{value < pair[1]} << 1;
#endif
}

}  // namespace

RunRulesSpec RunRulesSpec::Nelson() {
  RunRulesSpec s;
  s.nelson1.enabled = s.nelson2.enabled = s.nelson3.enabled = s.nelson4.enabled = true;
  s.nelson5.enabled = s.nelson6.enabled = s.nelson7.enabled = s.nelson8.enabled = true;
  return s;
}

RunRulesSpec RunRulesSpec::WesternElectric() {
  RunRulesSpec s;
  s.we1.enabled = s.we2.enabled = s.we3.enabled = s.we4.enabled = true;
  return s;
}

RunRulesSpec RunRulesSpec::RulesOneToFour() {
  RunRulesSpec s;
  s.nelson1.enabled = s.nelson2.enabled = s.nelson3.enabled = s.nelson4.enabled = true;
  return s;
}

bool RunRulesSpec::IsRunRule(RuleKind kind) {
  return kind <= RuleKind::kWe4 && kind != RuleKind::kSpecLsl && kind != RuleKind::kSpecUsl;
}

namespace {
// The `enabled` flag of `kind` in `s`, or nullptr for a kind that is not a run rule. Shared by
// the const and non-const accessors.
template <typename Spec>
auto EnabledFlag(Spec& s, RuleKind kind) -> decltype(&s.nelson1.enabled) {
  switch (kind) {
    case RuleKind::kNelson1:
      return &s.nelson1.enabled;
    case RuleKind::kNelson2:
      return &s.nelson2.enabled;
    case RuleKind::kNelson3:
      return &s.nelson3.enabled;
    case RuleKind::kNelson4:
      return &s.nelson4.enabled;
    case RuleKind::kNelson5:
      return &s.nelson5.enabled;
    case RuleKind::kNelson6:
      return &s.nelson6.enabled;
    case RuleKind::kNelson7:
      return &s.nelson7.enabled;
    case RuleKind::kNelson8:
      return &s.nelson8.enabled;
    case RuleKind::kWe1:
      return &s.we1.enabled;
    case RuleKind::kWe2:
      return &s.we2.enabled;
    case RuleKind::kWe3:
      return &s.we3.enabled;
    case RuleKind::kWe4:
      return &s.we4.enabled;
    case RuleKind::kSpecLsl:
    case RuleKind::kSpecUsl:
    case RuleKind::kThreshold:
    case RuleKind::kRate:
    case RuleKind::kStale:
      return nullptr;
  }
  return nullptr;
}
}  // namespace

bool RunRulesSpec::Enabled(RuleKind kind) const {
  const bool* flag = EnabledFlag(*this, kind);
  return flag != nullptr && *flag;
}

Status RunRulesSpec::Enable(RuleKind kind, bool on) {
  bool* flag = EnabledFlag(*this, kind);
  if (flag == nullptr) return InvalidArgument(Name(kind) + " is not a run rule");
  *flag = on;
  return Status::Ok();
}

Status RunRulesSpec::Validate() const {
  SHEWHART_RETURN_IF_ERROR(CheckSigmas(RuleKind::kNelson1, nelson1));
  SHEWHART_RETURN_IF_ERROR(CheckLength(RuleKind::kNelson2, nelson2.length, kMinRunLength));
  SHEWHART_RETURN_IF_ERROR(CheckLength(RuleKind::kNelson3, nelson3.length, kMinRunLength));
  SHEWHART_RETURN_IF_ERROR(CheckLength(RuleKind::kNelson4, nelson4.length, 3));
  SHEWHART_RETURN_IF_ERROR(CheckMOfN(RuleKind::kNelson5, nelson5));
  SHEWHART_RETURN_IF_ERROR(CheckMOfN(RuleKind::kNelson6, nelson6));
  SHEWHART_RETURN_IF_ERROR(CheckLength(RuleKind::kNelson7, nelson7.length, kMinRunLength));
  SHEWHART_RETURN_IF_ERROR(CheckLength(RuleKind::kNelson8, nelson8.length, kMinRunLength));
  SHEWHART_RETURN_IF_ERROR(CheckSigmas(RuleKind::kWe1, we1));
  SHEWHART_RETURN_IF_ERROR(CheckMOfN(RuleKind::kWe2, we2));
  SHEWHART_RETURN_IF_ERROR(CheckMOfN(RuleKind::kWe3, we3));
  SHEWHART_RETURN_IF_ERROR(CheckLength(RuleKind::kWe4, we4.length, kMinRunLength));
  if (boundary != Boundary::kStrict && boundary != Boundary::kInclusive) {
    return InvalidArgument("boundary must be strict or inclusive, found " + std::to_string(static_cast<int>(boundary)));
  }
  return Status::Ok();
}

RunRuleEvaluator::RunRuleEvaluator(const RunRulesSpec& spec) {
  SHEWHART_CHECK(spec.Validate().ok());
  const auto& s = spec;
  nelson8_both_sides_ = s.nelson8.both_sides;
  nelson1_on_ = s.nelson1.enabled;
  zone_k_[0] = 1;
  zone_k_[1] = 2;
  zone_k_[2] = s.nelson1.sigmas;
  zone_k_[3] = s.we1.sigmas;
  // (enabled, history bits the pattern reads, points a firing implicates, m) per slot.
  struct Row {
    bool enabled;
    int bits;
    int points;
    int m;
  };
  const Row rows[kSlots] = {
      {s.nelson1.enabled, 1, 1, 0},
      {s.nelson2.enabled, s.nelson2.length, s.nelson2.length, 0},
      {s.nelson3.enabled, s.nelson3.length - 1, s.nelson3.length, 0},  // K points, K-1 steps
      {s.nelson4.enabled, s.nelson4.length - 2, s.nelson4.length, 0},  // K-1 steps, K-2 turns
      {s.nelson5.enabled, s.nelson5.n, s.nelson5.n, s.nelson5.m},
      {s.nelson6.enabled, s.nelson6.n, s.nelson6.n, s.nelson6.m},
      {s.nelson7.enabled, s.nelson7.length, s.nelson7.length, 0},
      {s.nelson8.enabled, s.nelson8.length, s.nelson8.length, 0},
      {s.we1.enabled, 1, 1, 0},
      {s.we2.enabled, s.we2.n, s.we2.n, s.we2.m},
      {s.we3.enabled, s.we3.n, s.we3.n, s.we3.m},
      {s.we4.enabled, s.we4.length, s.we4.length, 0},
  };
  for (int slot = 0; slot < kSlots; ++slot) {
    const Row& r = rows[slot];
    bits_[slot] = static_cast<std::uint8_t>(r.bits);      // <= kMaxRunLength
    points_[slot] = static_cast<std::uint8_t>(r.points);  // <= kMaxRunLength
    min_count_[slot] = static_cast<std::uint8_t>(r.m);    // <= kMaxRuleWindow
    if (r.enabled) {
      enabled_ |= std::uint32_t{1} << slot;
      window_ = static_cast<std::uint8_t>(std::max<int>(window_, r.points));
    }
  }
  // The run counters' thresholds: each lane fires the slow path at the shortest run an enabled
  // rule on it needs (128 - T added to a counter <= 127 sets the lane's top bit iff it is >= T).
  auto lane_threshold = [&](int lane, int slot) {
    if (!((enabled_ >> slot) & 1)) return;
    const std::uint64_t add = 128 - static_cast<std::uint64_t>(bits_[slot]);
    const std::uint64_t have = (run_add_ >> (8 * lane)) & 0xff;
    if (have < add) run_add_ = (run_add_ & ~(std::uint64_t{0xff} << (8 * lane))) | add << (8 * lane);
  };
  for (int lane : {kLaneAbove, kLaneBelow}) {
    lane_threshold(lane, kN2);
    lane_threshold(lane, kW4);
  }
  for (int lane : {kLaneUp, kLaneDown}) lane_threshold(lane, kN3);
  lane_threshold(kLaneTurned, kN4);
  lane_threshold(kLaneWithin1, kN7);
  lane_threshold(kLaneBeyond1, kN8);
  // The m-of-n filters: the widest window and the smallest m among the enabled rules of a zone.
  auto m_of_n_filter = [&](std::initializer_list<int> slots, std::uint64_t& mask, std::uint8_t& m) {
    m = 0xff;
    for (int slot : slots) {
      if (!((enabled_ >> slot) & 1)) continue;
      mask |= LowBits(bits_[slot]);
      m = std::min(m, min_count_[slot]);
    }
  };
  m_of_n_filter({kN5, kW2}, filter_mask2_, filter_m2_);
  m_of_n_filter({kN6, kW3}, filter_mask1_, filter_m1_);
  const std::pair<int, const MOfNRuleParams*> m_of_n_rules[] = {
      {kN5, &s.nelson5}, {kN6, &s.nelson6}, {kW2, &s.we2}, {kW3, &s.we3}};
  for (const auto& [slot, params] : m_of_n_rules) {
    if (!params->enabled) continue;
    if (!params->point_beyond) {
      plain_ |= std::uint32_t{1} << slot;
      plain_zones_ |= (slot == kN6 || slot == kW3) ? 1 : 2;
    }
    if (params->full_window) full_ |= std::uint32_t{1} << slot;
  }
  const bool inclusive = s.boundary == Boundary::kInclusive;
  const bool zones = s.nelson5.enabled || s.nelson6.enabled || s.nelson7.enabled || s.nelson8.enabled ||
                     s.we2.enabled || s.we3.enabled;
  const bool we = s.we1.enabled || s.we2.enabled || s.we3.enabled || s.we4.enabled;
  variant_ = static_cast<std::uint8_t>(int{inclusive} | int{zones} << 1 | int{we} << 2);
}

void RunRuleEvaluator::Reset() {
  count_ = 0;
  pos_ = 0;
  centre_prev_[1] = std::numeric_limits<double>::quiet_NaN();
  runs_ = 0;
  prev_steps_ = 0;
  above1_ = below1_ = above2_ = below2_ = 0;
}

void RunRuleEvaluator::SetLines(double cl, double sigma) {
  SHEWHART_CHECK(std::isfinite(cl) && std::isfinite(sigma) && sigma > 0);
  for (int i = 0; i < 4; ++i) {
    upper_[i] = ZoneLine(cl, sigma, zone_k_[i]);
    lower_[i] = ZoneLine(cl, sigma, -zone_k_[i]);
  }
  centre_prev_[0] = cl;
  lines_sigma_ = sigma;
}

// The hot path. A point updates the run counters (one byte lane each, all in one word) and the
// zone histories, and tests, without data-dependent branches, a necessary condition for every
// enabled rule (the plain m-of-n reading adds a branch on the spec, the same at every point): a
// lane's counter at its shortest enabled run, the point beyond a rule-1 line, or an m-of-n count
// reached in the widest window of its zone. Only a point that passes one takes the branch to
// Hits, which judges each rule exactly. The zone lines are those of the last (cl, sigma)
// (SetLines), so a point costs no multiply-add.
template <bool kInclusive, bool kZones, bool kWe>
[[gnu::noinline]] std::size_t RunRuleEvaluator::Judge(std::int64_t index, double value, double cl, double sigma,
                                                      RuleFiring* out) {
  SHEWHART_CHECK(std::isfinite(value) & (out != nullptr) &
                 ((count_ == 0) | (static_cast<std::uint64_t>(index - last_index_ - 1) < std::uint64_t{0xffffffff})));
  // The same bits as the last pair: the lines stand. Any other (or a NaN) goes to SetLines, which
  // checks them; the tail call leaves the common path without calls or saved registers.
  if ((std::bit_cast<std::uint64_t>(cl) != std::bit_cast<std::uint64_t>(centre_prev_[0])) |
      (std::bit_cast<std::uint64_t>(sigma) != std::bit_cast<std::uint64_t>(lines_sigma_))) [[unlikely]] {
    return JudgeNewLines<kInclusive, kZones, kWe>(index, value, cl, sigma, out);
  }
  auto push = [](std::uint64_t& history, unsigned bit) { history = (history << 1) | bit; };
  // Verdicts on this point, against its own centre line (and on its step from the previous
  // point, NaN when there is none): bit 0 above cl, 1 up, 2 below cl, 3 down.
  const unsigned gt = Above<false>(value, centre_prev_);
  const unsigned lt = Below<false>(value, centre_prev_);
  unsigned code = gt | lt << 2 | prev_steps_;
  prev_steps_ = (code & 0xa) << 3;
  // Beyond the lines above / below cl, on that side (bit 0: 1 sigma, bit 1: 2 sigma; for rule 1,
  // bit 0 nelson.1's line, bit 1 we.1's). Requiring the side keeps a point on the centre line out
  // of every zone even when a line rounds onto cl. A line is never on the wrong side of cl (cl +
  // k sigma rounds monotonically), so a point strictly beyond it is on its side already: only the
  // inclusive mode needs the side test.
  const unsigned above_side = kInclusive ? (gt & 1) * 3 : 3, below_side = kInclusive ? (lt & 1) * 3 : 3;
  const unsigned far =
      (Above<kInclusive>(value, upper_ + 2) & above_side) | (Below<kInclusive>(value, lower_ + 2) & below_side);
  unsigned a = 0, b = 0;
  if constexpr (kZones) {
    a = Above<kInclusive>(value, upper_) & above_side;
    b = Below<kInclusive>(value, lower_) & below_side;
    code |= 0x80 | ((a | b) & 1) << 8;
    push(above1_, a & 1);
    push(below1_, b & 1);
    push(above2_, a >> 1);
    push(below2_, b >> 1);
  }
  // Each lane whose condition holds counts on (saturating at 127), the others restart at 0.
  const std::uint64_t cont = kRunLanes.of[code];
  std::uint64_t runs = (runs_ & (cont * 0xff)) + cont;
  runs -= (runs >> 7) & kLaneLow;
  runs_ = runs;
  pos_ = (pos_ + 1) & (kRingCapacity - 1);
  ring_[pos_] = static_cast<std::uint32_t>(index);
  last_index_ = index;
  centre_prev_[1] = value;
  ++count_;

  const bool rule1 = (far & 1) & nelson1_on_;
  const bool we1 = kWe && (far & 2);
  bool maybe = (((runs + run_add_) & kLaneHigh) != 0) | rule1 | we1;
  if constexpr (kZones) {
    // The history of the current point's side, per zone; bit 0 is set iff the point is beyond.
    const std::uint64_t side1 = a & 1 ? above1_ : below1_;
    const std::uint64_t side2 = a & 2 ? above2_ : below2_;
    maybe |= static_cast<bool>((side1 & 1) & (CountBits20(side1 & filter_mask1_) >= filter_m1_));
    maybe |= static_cast<bool>((side2 & 1) & (CountBits20(side2 & filter_mask2_) >= filter_m2_));
    if (plain_zones_ != 0) [[unlikely]] {
      // A rule read plainly may fire whatever side the point is on, or none.
      const bool plain1 = (CountBits20(above1_ & filter_mask1_) >= filter_m1_) |
                          (CountBits20(below1_ & filter_mask1_) >= filter_m1_);
      const bool plain2 = (CountBits20(above2_ & filter_mask2_) >= filter_m2_) |
                          (CountBits20(below2_ & filter_mask2_) >= filter_m2_);
      maybe |= (plain1 & (plain_zones_ & 1)) | (plain2 & ((plain_zones_ >> 1) & 1));
    }
  }
  if (!maybe) [[likely]]
    return 0;
  return Fire(index, rule1, we1, out);
}

template <bool kInclusive, bool kZones, bool kWe>
[[gnu::noinline]] std::size_t RunRuleEvaluator::JudgeNewLines(std::int64_t index, double value, double cl, double sigma,
                                                              RuleFiring* out) {
  SetLines(cl, sigma);
  return Judge<kInclusive, kZones, kWe>(index, value, cl, sigma, out);
}

std::size_t RunRuleEvaluator::Fire(std::int64_t index, bool rule1, bool we1, RuleFiring* out) const {
  const std::uint32_t hits = Hits(rule1, we1) & enabled_;
  if (hits == 0) return 0;
  return WriteFirings(hits, index, out);
}

std::uint32_t RunRuleEvaluator::Hits(bool rule1, bool we1) const {
  auto lane = [&](int l) { return static_cast<int>((runs_ >> (8 * l)) & 0x7f); };
  auto bit = [](bool hit, int slot) { return static_cast<std::uint32_t>(hit) << slot; };
  const int side_run = std::max(lane(kLaneAbove), lane(kLaneBelow));
  const int trend_run = std::max(lane(kLaneUp), lane(kLaneDown));
  std::uint32_t hits = bit(rule1, kN1) | bit(we1, kW1) | bit(side_run >= bits_[kN2], kN2) |
                       bit(trend_run >= bits_[kN3], kN3) | bit(lane(kLaneTurned) >= bits_[kN4], kN4) |
                       bit(side_run >= bits_[kW4], kW4);
  // The zone histories are kept only by the instantiations that judge the zone rules; they are 0
  // otherwise, and so are the zone lanes, which the enabled mask then leaves out anyway.
  // At least m of the window beyond on one side: qcc's reading also wants the current point
  // (bit 0 of that side's history) among them, the plain reading does not. Either waits for a
  // full window when asked to.
  auto m_of_n = [&](int slot) {
    const std::uint64_t mask = LowBits(bits_[slot]);
    const bool zone1 = slot == kN6 || slot == kW3;
    const bool plain = (plain_ >> slot) & 1;
    auto side = [&](std::uint64_t history) {
      return ((history & 1) || plain) && CountBits20(history & mask) >= min_count_[slot];
    };
    const bool hit = side(zone1 ? above1_ : above2_) || side(zone1 ? below1_ : below2_);
    return hit && (((full_ >> slot) & 1) == 0 || count_ >= bits_[slot]);
  };
  const std::uint64_t n8 = LowBits(bits_[kN8]);
  const bool n8_sides = (!nelson8_both_sides_) | (((above1_ & n8) != 0) & ((below1_ & n8) != 0));
  hits |= bit(m_of_n(kN5), kN5) | bit(m_of_n(kN6), kN6) | bit(m_of_n(kW2), kW2) | bit(m_of_n(kW3), kW3) | bit(lane(kLaneWithin1) >= bits_[kN7], kN7) |
          bit((lane(kLaneBeyond1) >= bits_[kN8]) & n8_sides, kN8);
  return hits;
}

std::size_t RunRuleEvaluator::Evaluate(std::int64_t index, double value, double cl, double sigma, RuleFiring* out) {
  // Only a dispatch, so that it needs no stack frame: each Judge checks the preconditions.
  switch (variant_) {
    case 0:
      return Judge<false, false, false>(index, value, cl, sigma, out);
    case 1:
      return Judge<true, false, false>(index, value, cl, sigma, out);
    case 2:
      return Judge<false, true, false>(index, value, cl, sigma, out);
    case 3:
      return Judge<true, true, false>(index, value, cl, sigma, out);
    case 4:
      return Judge<false, false, true>(index, value, cl, sigma, out);
    case 5:
      return Judge<true, false, true>(index, value, cl, sigma, out);
    case 6:
      return Judge<false, true, true>(index, value, cl, sigma, out);
    default:
      return Judge<true, true, true>(index, value, cl, sigma, out);
  }
}

std::size_t RunRuleEvaluator::WriteFirings(std::uint32_t hits, std::int64_t index, RuleFiring* out) const {
  static constexpr RuleKind kKinds[kSlots] = {
      RuleKind::kNelson1, RuleKind::kNelson2, RuleKind::kNelson3, RuleKind::kNelson4,
      RuleKind::kNelson5, RuleKind::kNelson6, RuleKind::kNelson7, RuleKind::kNelson8,
      RuleKind::kWe1,     RuleKind::kWe2,     RuleKind::kWe3,     RuleKind::kWe4,
  };
  std::size_t n = 0;
  for (; hits != 0; hits &= hits - 1) {
    const int slot = std::countr_zero(hits);
    int points = points_[slot];
    // An m-of-n window before n points exist is the points seen so far.
    if (min_count_[slot] > 0) points = static_cast<int>(std::min<std::int64_t>(points, count_));
    out[n++] = RuleFiring{kKinds[slot], IndexBack(points - 1, index), index};
  }
  return n;
}

bool RunRulesSpec::AnyBeyondRuleOne() const {
  for (int k = 0; k < kRuleKindCount; ++k) {
    const auto kind = static_cast<RuleKind>(k);
    if (kind != RuleKind::kNelson1 && kind != RuleKind::kWe1 && IsRunRule(kind) && Enabled(kind)) return true;
  }
  return false;
}

}  // namespace shewhart::rules
