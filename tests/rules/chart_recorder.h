#pragma once
// Shared by the chart tests: an observer that keeps every point and rule hit, and event times
// in whole seconds.

#include <chrono>
#include <cstdint>
#include <vector>

#include "shewhart/rules/types.h"

namespace shewhart::rules::test {

struct Recorder : ChartObserver {
  std::vector<ChartPoint> points;
  std::vector<RuleHit> hits;
  void OnPoint(const ChartPoint& p) override { points.push_back(p); }
  void OnRuleHit(const RuleHit& h) override { hits.push_back(h); }
  // The index of every hit, in order.
  std::vector<std::int64_t> HitIndexes() const {
    std::vector<std::int64_t> out;
    for (const auto& h : hits) out.push_back(h.index);
    return out;
  }
  std::vector<RuleHit> Hits(RuleKind rule, ChartKind chart) const {
    std::vector<RuleHit> out;
    for (const auto& h : hits) {
      if (h.rule == rule && h.chart == chart) out.push_back(h);
    }
    return out;
  }
  std::vector<ChartPoint> Points(ChartKind chart) const {
    std::vector<ChartPoint> out;
    for (const auto& p : points) {
      if (p.chart == chart) out.push_back(p);
    }
    return out;
  }
};

inline EventTime At(int seconds) { return EventTime(std::chrono::seconds(seconds)); }

}  // namespace shewhart::rules::test
