#include "shewhart/engine/pipeline/chart_runner.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <optional>
#include <span>
#include <vector>

#include "shewhart/rules/attribute_chart.h"
#include "shewhart/rules/constants.h"
#include "shewhart/rules/cusum_chart.h"
#include "shewhart/rules/ewma_chart.h"
#include "shewhart/rules/individuals_chart.h"
#include "shewhart/rules/rate_rule.h"
#include "shewhart/rules/threshold_rule.h"
#include "shewhart/rules/t2_chart.h"

namespace shewhart::engine {

rules::ChartKind PrimaryChart(ChartType type) {
  switch (type) {
    case ChartType::kIndividuals: return rules::ChartKind::kIndividuals;
    case ChartType::kEwma: return rules::ChartKind::kEwma;
    case ChartType::kCusum: return rules::ChartKind::kCusum;
    case ChartType::kP: return rules::ChartKind::kP;
    case ChartType::kNp: return rules::ChartKind::kNp;
    case ChartType::kC: return rules::ChartKind::kC;
    case ChartType::kU: return rules::ChartKind::kU;
    case ChartType::kXbarR:
    case ChartType::kXbarS: return rules::ChartKind::kXbar;
    case ChartType::kT2: return rules::ChartKind::kT2;
  }
  return rules::ChartKind::kIndividuals;
}

namespace {

// ChartRunner::phase1_excluded() of a chart whose baseline estimate is `done` (limits from
// Phase I, baseline complete) with `exclusion` configured.
std::optional<std::int64_t> ExcludedCount(bool done, rules::Phase1Exclusion exclusion,
                                          const rules::Phase1Exclusions& exclusions) {
  if (!done || exclusion == rules::Phase1Exclusion::kNone) return std::nullopt;
  return static_cast<std::int64_t>(exclusions.excluded.size());
}

class IndividualsRunner : public ChartRunner {
 public:
  explicit IndividualsRunner(const CharacteristicSpec& spec) : chart_(spec.chart), spec_(spec.chart) {}
  Status Add(const Measurement& m, rules::ChartObserver& observer) override {
    chart_.Add(m.value, m.ts, observer);
    return Status::Ok();
  }
  std::int64_t next_index() const override { return chart_.observations() + 1; }
  bool judging() const override { return chart_.limits_ready(); }
  std::size_t lookback() const override {
    return spec_.mode == rules::IndividualsChartSpec::LimitMode::kPhase1 && !judging()
               ? static_cast<std::size_t>(spec_.phase1_points)
               : 1;
  }
  std::optional<double> sigma_within() const override {
    return chart_.limits_ready() ? std::optional<double>(chart_.sigma()) : std::nullopt;
  }
  std::optional<LimitValues> limits() const override {
    if (!chart_.limits_ready()) return std::nullopt;
    return LimitValues{chart_.individuals_limits().cl, chart_.sigma()};
  }
  bool ApplyLimits(const LimitValues& v) override {
    chart_.SetKnownLimits(v.center, v.sigma);
    return true;
  }
  std::int64_t discarded_baselines() const override { return chart_.discarded_baselines(); }
  std::optional<std::int64_t> phase1_excluded() const override {
    return ExcludedCount(spec_.mode == rules::IndividualsChartSpec::LimitMode::kPhase1 && chart_.limits_ready(),
                         spec_.phase1_exclusion, chart_.phase1_exclusions());
  }

 private:
  rules::IndividualsChart chart_;
  rules::IndividualsChartSpec spec_;
};

// Forwards to another observer, remembering the newest observation on which nothing fired:
// the start of the suspect window of the spec-limit hits the runner raises itself.
class InControlTracker : public rules::ChartObserver {
 public:
  void Begin(rules::ChartObserver* inner, std::int64_t index) {
    inner_ = inner;
    index_ = index;
    fired_ = false;
  }
  void End(EventTime ts) {
    if (!fired_) {
      last_in_control_ = ts;
      have_in_control_ = true;
    }
  }
  EventTime WindowStart(EventTime own_ts) const { return have_in_control_ ? last_in_control_ : own_ts; }
  void OnPoint(const rules::ChartPoint& p) override { inner_->OnPoint(p); }
  void OnRuleHit(const rules::RuleHit& h) override {
    fired_ |= h.last >= index_;
    inner_->OnRuleHit(h);
  }

 private:
  rules::ChartObserver* inner_ = nullptr;
  std::int64_t index_ = 0;
  bool fired_ = false;
  bool have_in_control_ = false;
  EventTime last_in_control_{};
};

// EWMA and CUSUM on individual values: centre and sigma known, or estimated from a Phase I
// baseline of individual values as the individuals chart does (mean; mean moving range / d2),
// with phase1.exclude judged against the individuals limits mean +/- 3 sigma (kExclusionSigmas).
template <typename Chart, typename ChartSpec>
class SmoothedRunner : public ChartRunner, private rules::CusumObserver {
 public:
  SmoothedRunner(const CharacteristicSpec& spec, ChartSpec chart_spec, rules::ChartKind kind)
      : variables_(spec.chart), chart_spec_(chart_spec), kind_(kind) {
    if (variables_.mode == rules::IndividualsChartSpec::LimitMode::kKnown) {
      Build(variables_.mean, variables_.sigma);
    } else {
      baseline_values_.reserve(static_cast<std::size_t>(variables_.phase1_points));
      baseline_ts_.reserve(static_cast<std::size_t>(variables_.phase1_points));
    }
  }

  Status Add(const Measurement& m, rules::ChartObserver& observer) override {
    const std::int64_t index = next_index();
    tracker_.Begin(&observer, index);
    if (chart_) {
      Feed(m.value, m.ts, rules::Phase::kTwo);
      CheckSpec(index, m.value, m.ts);
      tracker_.End(m.ts);
      return Status::Ok();
    }
    CheckSpec(index, m.value, m.ts);
    baseline_values_.push_back(m.value);
    baseline_ts_.push_back(m.ts);
    if (static_cast<int>(baseline_values_.size()) < variables_.phase1_points) return Status::Ok();
    Result<rules::IndividualsBaselineEstimate> estimate = rules::EstimateIndividualsBaseline(
        baseline_values_, kExclusionSigmas, variables_.boundary, variables_.phase1_exclusion);
    SHEWHART_CHECK(estimate.ok());  // >= 2 finite values (config, decoder)
    if (!(estimate->sigma > 0)) {
      // No variation: no chart can be built on it. Its values keep their indexes; a new
      // baseline is collected after them.
      ++discarded_;
      shift_.shift += static_cast<std::int64_t>(baseline_values_.size());
      baseline_values_.clear();
      baseline_ts_.clear();
      return Status::Ok();
    }
    Build(estimate->mean, estimate->sigma);
    exclusions_ = std::move(estimate->exclusions);
    for (std::size_t i = 0; i < baseline_values_.size(); ++i) {
      tracker_.Begin(&observer, shift_.shift + chart_->points() + 1);
      Feed(baseline_values_[i], baseline_ts_[i], rules::Phase::kOne);
      tracker_.End(baseline_ts_[i]);
    }
    baseline_values_.clear();
    baseline_values_.shrink_to_fit();
    baseline_ts_.clear();
    baseline_ts_.shrink_to_fit();
    return Status::Ok();
  }
  std::int64_t next_index() const override {
    return shift_.shift + (chart_ ? chart_->points() : static_cast<std::int64_t>(baseline_values_.size())) + 1;
  }
  std::int64_t discarded_baselines() const override { return discarded_; }
  bool judging() const override { return chart_.has_value(); }
  std::size_t lookback() const override { return chart_ ? 1 : static_cast<std::size_t>(variables_.phase1_points); }
  std::optional<double> sigma_within() const override {
    return chart_ ? std::optional<double>(chart_->spec().process.sigma) : std::nullopt;
  }
  std::optional<LimitValues> limits() const override {
    if (!chart_) return std::nullopt;
    return LimitValues{chart_->spec().process.centre, chart_->spec().process.sigma};
  }
  bool ApplyLimits(const LimitValues& v) override {
    SHEWHART_CHECK(chart_ || baseline_values_.empty());
    // A fresh chart from the new centre; its points are numbered on from the old one's.
    shift_.shift = next_index() - 1;
    Build(v.center, v.sigma);
    return true;
  }

  std::optional<std::int64_t> phase1_excluded() const override {
    return ExcludedCount(variables_.mode == rules::IndividualsChartSpec::LimitMode::kPhase1 && chart_.has_value(),
                         variables_.phase1_exclusion, exclusions_);
  }

 private:
  // Numbers the points and hits of a chart rebuilt by ApplyLimits on from the previous one's.
  struct IndexShift : rules::ChartObserver {
    rules::ChartObserver* inner = nullptr;
    std::int64_t shift = 0;
    void OnPoint(const rules::ChartPoint& p) override {
      rules::ChartPoint q = p;
      q.index += shift;
      inner->OnPoint(q);
    }
    void OnRuleHit(const rules::RuleHit& h) override {
      rules::RuleHit g = h;
      g.index += shift;
      g.first += shift;
      g.last += shift;
      inner->OnRuleHit(g);
    }
  };

  // The baseline values are judged for exclusion against the individuals limits mean +/- 3
  // sigma, whatever k_sigma says (EWMA's k_sigma is the L of its own limits; CUSUM ignores it).
  static constexpr double kExclusionSigmas = 3;

  void Build(double mean, double sigma) {
    ChartSpec s = chart_spec_;
    s.process.centre = mean;
    s.process.sigma = sigma;
    chart_.emplace(s);
  }

  void Feed(double value, EventTime ts, rules::Phase phase) {
    Status st;
    shift_.inner = &tracker_;
    if constexpr (std::is_same_v<Chart, rules::CusumChart>) {
      st = chart_->Add(value, 1, ts, *this, phase);
    } else {
      st = chart_->Add(value, 1, ts, shift_, phase);
    }
    SHEWHART_CHECK(st.ok());  // values are finite (decoder) and n is 1
  }

  // CusumObserver: a CUSUM point becomes a ChartPoint carrying both sums.
  void OnCusumPoint(const rules::CusumPoint& p) override {
    rules::ChartPoint cp{rules::ChartKind::kCusum, p.phase, p.index, p.ts,
                         p.upper >= -p.lower ? p.upper : p.lower, 0.0, p.h, -p.h, p.n};
    cp.upper = p.upper;
    cp.lower = p.lower;
    cp.upper_run = p.upper_run;
    cp.lower_run = p.lower_run;
    shift_.OnPoint(cp);
  }
  void OnRuleHit(const rules::RuleHit& h) override { shift_.OnRuleHit(h); }

  void CheckSpec(std::int64_t index, double value, EventTime ts) {
    auto fire = [&](rules::RuleKind rule) {
      tracker_.OnRuleHit(rules::RuleHit{rule, kind_, index, index, index, ts, tracker_.WindowStart(ts), value});
    };
    if (variables_.spec_lsl && value < *variables_.spec.lsl) fire(rules::RuleKind::kSpecLsl);
    if (variables_.spec_usl && value > *variables_.spec.usl) fire(rules::RuleKind::kSpecUsl);
  }

  rules::IndividualsChartSpec variables_;
  ChartSpec chart_spec_;
  rules::ChartKind kind_;
  std::optional<Chart> chart_;
  // The Phase I baseline's values and event times (capacity phase1_points, released once fed).
  std::vector<double> baseline_values_;
  std::vector<EventTime> baseline_ts_;
  rules::Phase1Exclusions exclusions_;
  InControlTracker tracker_;
  IndexShift shift_;
  std::int64_t discarded_ = 0;  // baselines without variation, thrown away
};

class AttributeRunner : public ChartRunner {
 public:
  explicit AttributeRunner(const CharacteristicSpec& spec) : spec_(spec.attribute), chart_(spec.attribute) {}
  Status Add(const Measurement& m, rules::ChartObserver& observer) override {
    return chart_.Add(m.count, m.n, m.ts, observer);
  }
  std::int64_t next_index() const override { return chart_.subgroups() + 1; }
  bool judging() const override { return chart_.limits_ready(); }
  std::size_t lookback() const override {
    return spec_.mode == rules::AttributeChartSpec::LimitMode::kPhase1 && !judging()
               ? static_cast<std::size_t>(spec_.phase1_subgroups)
               : 1;
  }
  // LimitValues::sigma carries Laney's sigma_z (0 for the other limit types).
  std::optional<LimitValues> limits() const override {
    if (!chart_.limits_ready()) return std::nullopt;
    return LimitValues{chart_.center(), Laney() ? chart_.sigma_z() : 0};
  }
  bool ApplyLimits(const LimitValues& v) override {
    chart_.SetKnownCenter(v.center, Laney() ? v.sigma : 1);
    return true;
  }
  std::optional<double> sigma_z() const override {
    return Laney() && chart_.limits_ready() ? std::optional<double>(chart_.sigma_z()) : std::nullopt;
  }
  std::optional<std::int64_t> phase1_excluded() const override {
    return ExcludedCount(spec_.mode == rules::AttributeChartSpec::LimitMode::kPhase1 && chart_.limits_ready(),
                         spec_.phase1_exclusion, chart_.phase1_exclusions());
  }

 private:
  bool Laney() const { return spec_.limit_type == rules::AttributeChartSpec::LimitType::kLaney; }

  rules::AttributeChartSpec spec_;
  rules::AttributeChart chart_;
};

// Forms subgroups from measurements, for the charts that plot one point per subgroup (x-bar/R,
// x-bar/S, T^2): by the measurements' `subgroup` label where present, else n consecutive
// measurements. The open subgroup closes when a measurement with another label arrives (an
// absent label is a label too) or when it reaches `capacity` measurements. Each measurement
// contributes one row of `width` numbers (its value, or its vector of values); the rows are
// kept in one buffer allocated at construction. The last subgroup of a stream stays open until
// something closes it.
class SubgroupFormer {
 public:
  SubgroupFormer(std::size_t width, std::size_t capacity)
      : width_(width), capacity_(capacity), rows_(width * capacity) {}

  // Whether `m` closes the open subgroup (by its label) rather than joining it.
  bool Closes(const Measurement& m) const { return size_ > 0 && m.subgroup.view() != label_.view(); }

  // Adds the row `row` (width() numbers) of `m`. Calls `close(rows, count, ts)` for each
  // subgroup that closes, with its rows (count * width() numbers, row-major) and the event
  // time of its last measurement: first for the subgroup `m`'s label closes, then for the one
  // `m` fills. Returns the first non-OK status `close` returned.
  template <typename Close>
  Status Add(const Measurement& m, const double* row, Close&& close) {
    Status st;
    if (Closes(m)) st = Flush(close);
    if (size_ == 0) label_ = m.subgroup;
    std::copy_n(row, width_, rows_.data() + size_ * width_);
    ++size_;
    last_ts_ = m.ts;
    if (size_ == capacity_) {
      Status closed = Flush(close);
      if (st.ok()) st = closed;
    }
    return st;
  }

 private:
  template <typename Close>
  Status Flush(Close& close) {
    const std::size_t n = size_;
    size_ = 0;
    return close(std::span<const double>(rows_.data(), n * width_), n, last_ts_);
  }

  std::size_t width_;
  std::size_t capacity_;
  std::vector<double> rows_;
  std::size_t size_ = 0;
  Label label_;
  EventTime last_ts_{};
};

// x-bar/R and x-bar/S: hands each subgroup the SubgroupFormer closes to the chart (a
// variable-size chart takes a subgroup shorter than subgroup_size; a fixed-size one refuses it).
class SubgroupRunner : public ChartRunner {
 public:
  explicit SubgroupRunner(const CharacteristicSpec& spec)
      : spec_(spec.subgroup),
        chart_(spec.subgroup),
        former_(1, static_cast<std::size_t>(spec.subgroup.subgroup_size)) {}

  Status Add(const Measurement& m, rules::ChartObserver& observer) override {
    return former_.Add(m, &m.value, [&](std::span<const double> values, std::size_t, EventTime ts) {
      return chart_.Add(values, ts, observer);
    });
  }
  std::int64_t next_index() const override { return chart_.subgroups() + 1; }
  std::int64_t IndexOf(const Measurement& m) const override { return next_index() + (former_.Closes(m) ? 1 : 0); }
  bool judging() const override { return chart_.limits_ready(); }
  std::size_t lookback() const override {
    return spec_.mode == rules::SubgroupChartSpec::LimitMode::kPhase1 && !judging()
               ? static_cast<std::size_t>(spec_.phase1_subgroups)
               : 1;
  }
  std::optional<double> sigma_within() const override {
    return chart_.limits_ready() ? std::optional<double>(chart_.sigma()) : std::nullopt;
  }
  std::optional<LimitValues> limits() const override {
    if (!chart_.limits_ready()) return std::nullopt;
    return LimitValues{chart_.center(), chart_.sigma()};
  }
  bool ApplyLimits(const LimitValues& v) override {
    chart_.SetKnownLimits(v.center, v.sigma);
    return true;
  }
  std::optional<std::int64_t> phase1_excluded() const override {
    return ExcludedCount(spec_.mode == rules::SubgroupChartSpec::LimitMode::kPhase1 && chart_.limits_ready(),
                         spec_.phase1_exclusion, chart_.phase1_exclusions());
  }

 private:
  rules::SubgroupChartSpec spec_;
  rules::SubgroupChart chart_;
  SubgroupFormer former_;
};

// Hotelling T^2: each measurement carries the p values of one observation; the SubgroupFormer
// gathers subgroup_size of them (n = 1: every observation is its own point), and a subgroup of
// exactly that size is fed to the chart, observation by observation. A subgroup a new label
// closes early is refused (InvalidArgument) and its observations are dropped: T^2 limits assume
// one n.
class T2Runner : public ChartRunner {
 public:
  explicit T2Runner(const CharacteristicSpec& spec)
      : spec_(spec.t2),
        chart_(spec.t2),
        former_(static_cast<std::size_t>(spec.t2.variables), static_cast<std::size_t>(spec.t2.subgroup_size)) {}

  Status Add(const Measurement& m, rules::ChartObserver& observer) override {
    const std::size_t p = static_cast<std::size_t>(spec_.variables);
    if (m.value_count != p) {  // the decoder checks it; other callers may not
      return InvalidArgument("measurement has " + std::to_string(m.value_count) + " values; the T^2 chart has " +
                             std::to_string(p) + " variables");
    }
    return former_.Add(m, m.values.data(), [&](std::span<const double> rows, std::size_t count, EventTime ts) {
      if (count != static_cast<std::size_t>(spec_.subgroup_size)) {
        return InvalidArgument("a new 'subgroup' label closed a subgroup of " + std::to_string(count) +
                               (count == 1 ? " observation" : " observations") +
                               "; the T^2 chart takes subgroups of exactly " +
                               std::to_string(spec_.subgroup_size) + ", so they are dropped");
      }
      for (std::size_t i = 0; i < count; ++i) {
        // Only the last observation completes the point; it carries the subgroup's time.
        SHEWHART_RETURN_IF_ERROR(chart_.Add(rows.subspan(i * p, p), ts, observer));
      }
      return Status::Ok();
    });
  }
  std::int64_t next_index() const override { return chart_.subgroups() + 1; }
  std::int64_t IndexOf(const Measurement& m) const override { return next_index() + (former_.Closes(m) ? 1 : 0); }
  bool judging() const override { return chart_.limits_ready(); }
  std::size_t lookback() const override {
    return spec_.mode == rules::T2ChartSpec::LimitMode::kPhase1 && !judging()
               ? static_cast<std::size_t>(spec_.phase1_subgroups)
               : 1;
  }
  std::span<const double> t2_center() const override { return chart_.center(); }
  std::span<const double> t2_covariance() const override { return chart_.covariance(); }

 private:
  rules::T2ChartSpec spec_;
  rules::T2Chart chart_;
  SubgroupFormer former_;
};

// Applies the run rules beyond rule 1 to the points of the primary chart and of its companion
// (mr, r, s), between a runner and the shard's observer. Zones use the sigma of each plotted
// point, (ucl - cl) / k_sigma. Keeps a short history of which points were in control, for the
// suspect window of the hits it raises: the event times of the newest points, as many as the
// longest enabled pattern plus one, rounded up to a power of two (16 for Nelson 1-8).
class RunRuleStage : public rules::ChartObserver {
 public:
  RunRuleStage(const CharacteristicSpec& spec, double k_sigma)
      : primary_kind_(PrimaryChart(spec.type)),
        companion_kind_(spec.type == ChartType::kXbarS ? rules::ChartKind::kS
                        : spec.type == ChartType::kXbarR ? rules::ChartKind::kR
                                                         : rules::ChartKind::kMovingRange),
        primary_(spec.run_rules),
        companion_(spec.companion_rules),
        k_sigma_(k_sigma),
        capacity_(Capacity(std::max(primary_.window(), companion_.window()))),
        ts_(std::make_unique<EventTime[]>(capacity_)) {}

  void Begin(rules::ChartObserver* inner) { inner_ = inner; }
  void Reset() {
    primary_.Reset();
    companion_.Reset();
  }

  void OnPoint(const rules::ChartPoint& p) override {
    inner_->OnPoint(p);
    rules::RunRuleEvaluator* ev = p.chart == primary_kind_     ? &primary_
                                  : p.chart == companion_kind_ ? &companion_
                                                               : nullptr;
    if (p.chart == primary_kind_) Remember(p.index, p.ts);
    if (!ev) return;
    const double sigma = (p.ucl - p.cl) / k_sigma_;
    if (!(sigma > 0) || !std::isfinite(sigma) || !std::isfinite(p.value)) return;  // no zones to judge in
    rules::RuleFiring firings[rules::kMaxRuleFirings];
    const std::size_t n = ev->Evaluate(p.index, p.value, p.cl, sigma, firings);
    for (std::size_t i = 0; i < n; ++i) {
      const auto& f = firings[i];
      if (f.rule == rules::RuleKind::kNelson1 || f.rule == rules::RuleKind::kWe1) continue;  // the chart's own
      OnRuleHit(rules::RuleHit{f.rule, p.chart, p.index, f.first, f.last, p.ts, WindowStart(f.first, p.ts), p.value});
    }
  }

  void OnRuleHit(const rules::RuleHit& h) override {
    const std::int64_t back = newest_ - h.last;
    if (back >= 0 && back < static_cast<std::int64_t>(capacity_)) in_control_ &= ~(std::uint64_t{1} << back);
    inner_->OnRuleHit(h);
  }

 private:
  // A firing implicates at most `window` points, newest included, and its suspect window starts
  // at the point before them: window + 1 points, at least 4 (a moving range spans two).
  static std::size_t Capacity(int window) {
    return std::bit_ceil(static_cast<std::size_t>(std::max(window + 1, 4)));
  }
  static_assert(rules::kMaxRunLength + 1 <= 64);  // the bit words below hold the whole ring
  std::uint64_t Ring() const { return capacity_ == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << capacity_) - 1; }
  std::size_t Slot(std::int64_t index) const { return static_cast<std::size_t>(index) & (capacity_ - 1); }

  // Records the newest primary point (in control until a hit says otherwise). Points that leave
  // the ring keep only the newest of them that stayed in control. An index at or below the newest
  // (not expected: a chart's indexes grow) starts the history afresh.
  void Remember(std::int64_t index, EventTime ts) {
    std::int64_t shift = index - newest_;
    if (newest_ == 0 || shift <= 0) {
      known_ = in_control_ = 0;
      shift = 64;
    }
    const auto cap = static_cast<std::int64_t>(capacity_);
    // The points that leave: `back` >= cap - shift.
    const std::uint64_t leaving = shift >= cap ? Ring() : Ring() & ~((std::uint64_t{1} << (cap - shift)) - 1);
    if (const std::uint64_t left = known_ & in_control_ & leaving; left != 0) {
      evicted_in_control_ = ts_[Slot(newest_ - std::countr_zero(left))];
      have_evicted_ = true;
    }
    known_ = ((shift >= 64 ? 0 : known_ << shift) | 1) & Ring();
    in_control_ = ((shift >= 64 ? 0 : in_control_ << shift) | 1) & Ring();
    newest_ = index;
    ts_[Slot(index)] = ts;
  }

  // The event time of the newest point before `first` that was in control (across a gap in the
  // indexes too: the ring is by index, the evicted point by arrival), else of `first` itself.
  EventTime WindowStart(std::int64_t first, EventTime fallback) const {
    for (std::int64_t i = first - 1; i > 0; --i) {
      const std::int64_t back = newest_ - i;
      if (back < 0 || back >= static_cast<std::int64_t>(capacity_) || ((known_ >> back) & 1) == 0) break;
      if ((in_control_ >> back) & 1) return ts_[Slot(i)];
    }
    if (have_evicted_) return evicted_in_control_;
    const std::int64_t back = newest_ - first;
    const bool known = back >= 0 && back < static_cast<std::int64_t>(capacity_) && ((known_ >> back) & 1);
    return known ? ts_[Slot(first)] : fallback;
  }

  rules::ChartKind primary_kind_;
  rules::ChartKind companion_kind_;
  rules::RunRuleEvaluator primary_;
  rules::RunRuleEvaluator companion_;
  double k_sigma_;
  rules::ChartObserver* inner_ = nullptr;
  std::size_t capacity_;                // a power of two, 4..64
  std::unique_ptr<EventTime[]> ts_;     // by index modulo capacity_
  std::int64_t newest_ = 0;             // the newest point's index (0: none yet)
  std::uint64_t known_ = 0;             // bit `back`: point newest_ - back is in ts_
  std::uint64_t in_control_ = 0;        // bit `back`: and it was judged in control
  EventTime evicted_in_control_{};
  bool have_evicted_ = false;
};

// A runner whose points pass through a RunRuleStage.
class RunRulesRunner : public ChartRunner {
 public:
  RunRulesRunner(std::unique_ptr<ChartRunner> inner, const CharacteristicSpec& spec, double k_sigma)
      : inner_(std::move(inner)), stage_(spec, k_sigma) {}
  Status Add(const Measurement& m, rules::ChartObserver& observer) override {
    stage_.Begin(&observer);
    return inner_->Add(m, stage_);
  }
  std::int64_t next_index() const override { return inner_->next_index(); }
  std::int64_t IndexOf(const Measurement& m) const override { return inner_->IndexOf(m); }
  bool judging() const override { return inner_->judging(); }
  std::size_t lookback() const override { return inner_->lookback(); }
  std::optional<double> sigma_within() const override { return inner_->sigma_within(); }
  std::optional<std::int64_t> phase1_excluded() const override { return inner_->phase1_excluded(); }
  std::span<const double> t2_center() const override { return inner_->t2_center(); }
  std::span<const double> t2_covariance() const override { return inner_->t2_covariance(); }
  std::int64_t discarded_baselines() const override { return inner_->discarded_baselines(); }
  std::optional<double> sigma_z() const override { return inner_->sigma_z(); }
  std::optional<LimitValues> limits() const override { return inner_->limits(); }
  bool ApplyLimits(const LimitValues& v) override {
    if (!inner_->ApplyLimits(v)) return false;
    stage_.Reset();  // patterns do not run across a limits change
    return true;
  }

 private:
  std::unique_ptr<ChartRunner> inner_;
  RunRuleStage stage_;
};

// Applies the rules that judge each measured value as it arrives, whatever the chart plots:
// `threshold` (absolute limits with hysteresis) and `rate` (change per unit of event time).
// A hit implicates the point the measurement belongs to (for x-bar charts, its subgroup's);
// its suspect window starts at the previous measurement on which neither rule fired.
class ValueRulesRunner : public ChartRunner {
 public:
  ValueRulesRunner(std::unique_ptr<ChartRunner> inner, const CharacteristicSpec& spec)
      : inner_(std::move(inner)), kind_(PrimaryChart(spec.type)) {
    if (spec.threshold) threshold_.emplace(*spec.threshold);
    if (spec.rate) rate_.emplace(*spec.rate);
  }
  Status Add(const Measurement& m, rules::ChartObserver& observer) override {
    const std::int64_t index = inner_->IndexOf(m);
    Status st = inner_->Add(m, observer);
    if (!st.ok()) return st;  // refused: not charted, not judged
    const EventTime window_start = have_in_control_ ? last_in_control_ : m.ts;
    bool fired = false;
    auto fire = [&](rules::RuleKind rule) {
      fired = true;
      observer.OnRuleHit(rules::RuleHit{rule, kind_, index, index, index, m.ts, window_start, m.value});
    };
    if (threshold_ && threshold_->Evaluate(m.value) != rules::ThresholdSide::kNone) fire(rules::RuleKind::kThreshold);
    if (rate_ && rate_->Evaluate(m.value, m.ts).fired) fire(rules::RuleKind::kRate);
    if (!fired) {
      last_in_control_ = m.ts;
      have_in_control_ = true;
    }
    return st;
  }
  std::int64_t next_index() const override { return inner_->next_index(); }
  std::int64_t IndexOf(const Measurement& m) const override { return inner_->IndexOf(m); }
  bool judging() const override { return inner_->judging(); }
  std::size_t lookback() const override { return inner_->lookback(); }
  std::optional<double> sigma_within() const override { return inner_->sigma_within(); }
  std::span<const double> t2_center() const override { return inner_->t2_center(); }
  std::span<const double> t2_covariance() const override { return inner_->t2_covariance(); }
  std::int64_t discarded_baselines() const override { return inner_->discarded_baselines(); }
  std::optional<double> sigma_z() const override { return inner_->sigma_z(); }
  std::optional<LimitValues> limits() const override { return inner_->limits(); }
  bool ApplyLimits(const LimitValues& v) override { return inner_->ApplyLimits(v); }
  std::optional<std::int64_t> phase1_excluded() const override { return inner_->phase1_excluded(); }

 private:
  std::unique_ptr<ChartRunner> inner_;
  rules::ChartKind kind_;
  std::optional<rules::ThresholdRule> threshold_;
  std::optional<rules::RateRule> rate_;
  EventTime last_in_control_{};
  bool have_in_control_ = false;
};

std::unique_ptr<ChartRunner> MakeBaseRunner(const CharacteristicSpec& spec) {
  switch (spec.type) {
    case ChartType::kIndividuals: return std::make_unique<IndividualsRunner>(spec);
    case ChartType::kEwma:
      return std::make_unique<SmoothedRunner<rules::EwmaChart, rules::EwmaChartSpec>>(spec, spec.ewma,
                                                                                       rules::ChartKind::kEwma);
    case ChartType::kCusum:
      return std::make_unique<SmoothedRunner<rules::CusumChart, rules::CusumChartSpec>>(spec, spec.cusum,
                                                                                         rules::ChartKind::kCusum);
    case ChartType::kP:
    case ChartType::kNp:
    case ChartType::kC:
    case ChartType::kU: return std::make_unique<AttributeRunner>(spec);
    case ChartType::kXbarR:
    case ChartType::kXbarS: return std::make_unique<SubgroupRunner>(spec);
    case ChartType::kT2: return std::make_unique<T2Runner>(spec);
  }
  return nullptr;
}

}  // namespace

std::unique_ptr<ChartRunner> MakeChartRunner(const CharacteristicSpec& spec) {
  std::unique_ptr<ChartRunner> runner = MakeBaseRunner(spec);
  if (spec.run_rules.AnyBeyondRuleOne() || spec.companion_rules.AnyBeyondRuleOne()) {
    runner = std::make_unique<RunRulesRunner>(std::move(runner), spec, spec.chart.k_sigma);
  }
  if (spec.threshold || spec.rate) runner = std::make_unique<ValueRulesRunner>(std::move(runner), spec);
  return runner;
}

namespace {
struct NullObserver : rules::ChartObserver {
  void OnPoint(const rules::ChartPoint&) override {}
  void OnRuleHit(const rules::RuleHit&) override {}
};

// `spec` with its limits mode switched to a Phase I baseline of `points` points (or to known
// limits when points is 0: only for counting the points the measurements make).
CharacteristicSpec WithBaseline(CharacteristicSpec spec, std::int64_t points) {
  const int n = static_cast<int>(points);
  if (IsAttribute(spec.type)) {
    auto& a = spec.attribute;
    if (n > 0) {
      a.mode = rules::AttributeChartSpec::LimitMode::kPhase1;
      a.phase1_subgroups = n;
    } else {
      a.mode = rules::AttributeChartSpec::LimitMode::kKnown;
      a.center = spec.type == ChartType::kP || spec.type == ChartType::kNp ? 0.5 : 1.0;
    }
  } else if (spec.type == ChartType::kXbarR || spec.type == ChartType::kXbarS) {
    auto& g = spec.subgroup;
    if (n > 0) {
      g.mode = rules::SubgroupChartSpec::LimitMode::kPhase1;
      g.phase1_subgroups = n;
    } else {
      g.mode = rules::SubgroupChartSpec::LimitMode::kKnown;
      g.mean = 0;
      g.sigma = 1;
      g.estimator.reset();
    }
  } else {
    auto& c = spec.chart;
    if (n > 0) {
      c.mode = rules::IndividualsChartSpec::LimitMode::kPhase1;
      c.phase1_points = n;
    } else {
      c.mode = rules::IndividualsChartSpec::LimitMode::kKnown;
      c.mean = 0;
      c.sigma = 1;
      c.estimator = rules::IndividualsEstimator::kMeanMr;  // nothing is estimated with known limits
      c.centre = rules::IndividualsCentre::kMean;
      c.phase1_exclusion = rules::Phase1Exclusion::kNone;
    }
  }
  return spec;
}
}  // namespace

Result<LimitEstimate> EstimateLimits(const CharacteristicSpec& spec, std::span<const Measurement> measurements) {
  if (spec.type == ChartType::kT2) {
    return InvalidArgument("characteristic '" + spec.id + "' has a t2 chart, whose limits are not versioned");
  }
  NullObserver null;
  // Pass 1: how many points the measurements make (subgroups close; refused ones do not count).
  auto counter = MakeChartRunner(WithBaseline(spec, 0));
  for (const auto& m : measurements) (void)counter->Add(m, null);
  const std::int64_t points = counter->next_index() - 1;
  if (points < 2) {
    return InvalidArgument("characteristic '" + spec.id + "': the input makes " + std::to_string(points) +
                           " point" + (points == 1 ? "" : "s") + " (" + std::to_string(measurements.size()) +
                           " measurements); a Phase I estimate needs at least 2");
  }
  // Pass 2: a baseline of exactly those points.
  auto runner = MakeChartRunner(WithBaseline(spec, points));
  for (const auto& m : measurements) (void)runner->Add(m, null);
  auto limits = runner->limits();
  if (!limits && runner->discarded_baselines() > 0) {
    return InvalidArgument("characteristic '" + spec.id + "': the input has no variation (sigma 0); limits refused");
  }
  if (!limits) return InvalidArgument("characteristic '" + spec.id + "': the baseline did not complete");
  if (!LimitsUsable(spec, *limits)) {
    return InvalidArgument("characteristic '" + spec.id + "': the input has no variation" +
                           (IsAttribute(spec.type) ? " between subgroups (Laney's sigma_z 0)" : " (sigma 0)") +
                           "; limits refused");
  }
  return LimitEstimate{*limits, points};
}

bool LimitsUsable(const CharacteristicSpec& spec, const LimitValues& v) {
  if (!std::isfinite(v.center)) return false;
  if (!IsAttribute(spec.type)) return v.sigma > 0 && std::isfinite(v.sigma);
  if (v.center < 0) return false;
  return spec.attribute.limit_type != rules::AttributeChartSpec::LimitType::kLaney ||
         (v.sigma > 0 && std::isfinite(v.sigma));
}

}  // namespace shewhart::engine
