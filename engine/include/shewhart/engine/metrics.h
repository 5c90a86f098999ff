#pragma once
// The metrics registry and its Prometheus text exposition (format 0.0.4).
//
// Series are registered up front (at config load or source start) and return stable
// pointers; the hot path only does relaxed atomic adds on them. Registration and Render() take
// a mutex and may be called from any thread. Numbers are formatted locale-independently.

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace shewhart::engine {

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void Inc(std::uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double d) {
    double cur = value_.load(std::memory_order_relaxed);
    while (!value_.compare_exchange_weak(cur, cur + d, std::memory_order_relaxed)) {
    }
  }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class MetricsRegistry {
 public:
  // Returns the series with these labels, creating it (and its family) on first use.
  // `help` is taken from the first registration of the family.
  Counter* GetCounter(const std::string& name, const std::string& help, const MetricLabels& labels = {});
  Gauge* GetGauge(const std::string& name, const std::string& help, const MetricLabels& labels = {});
  // A gauge read by calling `fn` at render time (from the rendering thread).
  void AddCallbackGauge(const std::string& name, const std::string& help, const MetricLabels& labels,
                        std::function<double()> fn);

  // The whole registry in the text exposition format, families sorted by name.
  std::string Render() const;

 private:
  enum class Type { kCounter, kGauge };
  struct Series {
    std::string labels;  // rendered: {a="b",c="d"} or empty
    Counter* counter = nullptr;
    Gauge* gauge = nullptr;
    std::function<double()> fn;
  };
  struct Family {
    std::string help;
    Type type;
    std::vector<Series> series;
  };
  Family& FamilyFor(const std::string& name, const std::string& help, Type type);

  mutable std::mutex mu_;
  std::map<std::string, Family> families_;
  std::deque<Counter> counters_;
  std::deque<Gauge> gauges_;
};

// Formats a sample value as the exposition format wants: NaN, +Inf, -Inf, or the shortest
// round-trip decimal ("C" locale).
std::string FormatMetricValue(double v);
// Escapes a label value (backslash, double quote, newline).
std::string EscapeLabelValue(const std::string& v);

}  // namespace shewhart::engine
