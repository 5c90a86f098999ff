#pragma once
// The metrics registry and its Prometheus text exposition (format 0.0.4).
//
// The registry is a prometheus::Collectable (prometheus-cpp, Debian's prometheus-cpp-dev): Collect()
// gives its families as the library's MetricFamily values, for any of the library's exposers
// (e.g. a push gateway). GET /metrics is written by Render() instead, measured against the
// library's Collect-and-TextSerializer path over the same registry (bench/engine/metrics_bench.cc):
// 10 000 characteristics (330 000 series) render in about 22 ms here against about 350 ms there
// (the budget is 50 ms); and the library holds counters as doubles, so a count above 2^53 would
// be rounded. Our series' hot path stays a relaxed integer add (4.6 ns; the library's
// Counter::Increment, a compare-and-swap loop on a double, 9.8 ns).
//
// Series are registered up front (at config load or source start) and return stable
// pointers; the hot path only does relaxed atomic adds and stores on them. Registration and
// Render() may be called from any thread. Render() takes the registration mutex only to list
// the series (pointers, no formatting), then reads and formats them without it: a scrape never
// holds a lock that registration or the series' writers wait for. Each series' exposition text
// up to its value ("name{labels} ") is built once, at registration. Numbers are formatted
// locale-independently (std::to_chars).

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

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

// A histogram with fixed upper bounds (seconds, or whatever unit the family states): Observe is a
// few relaxed atomic adds, no lock, no allocation. Rendered cumulatively (le buckets, +Inf,
// _sum, _count) by the registry.
class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void Observe(double v);
  const std::vector<double>& upper_bounds() const { return bounds_; }
  // Observations in bucket i (bounds[i-1] < v <= bounds[i]; i == bounds.size(): above the last).
  std::uint64_t bucket(std::size_t i) const { return counts_[i].load(std::memory_order_relaxed); }
  std::uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  double sum() const { return sum_.load(std::memory_order_relaxed); }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;
  std::atomic<std::uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

// Upper bounds for a latency histogram in seconds: 5 µs to 2.5 s, 1-2.5-5 steps.
std::vector<double> LatencyBuckets();

class MetricsRegistry : public prometheus::Collectable {
 public:
  MetricsRegistry() = default;
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // Returns the series with these labels, creating it (and its family) on first use.
  // `help` is taken from the first registration of the family. A name registered with two
  // types, or labels registered as two kinds of series, is a bug (SHEWHART_CHECK).
  Counter* GetCounter(const std::string& name, const std::string& help, const MetricLabels& labels = {});
  Gauge* GetGauge(const std::string& name, const std::string& help, const MetricLabels& labels = {});
  // The histogram with these labels and bounds (the bounds of the first registration win).
  Histogram* GetHistogram(const std::string& name, const std::string& help, const std::vector<double>& upper_bounds,
                          const MetricLabels& labels = {});
  // A series whose Counter / Gauge the caller owns (e.g. laid out per writer thread, apart from
  // other threads' cache lines); it must outlive every Render(). New labels only.
  void AddCounter(const std::string& name, const std::string& help, const MetricLabels& labels, const Counter* counter);
  void AddGauge(const std::string& name, const std::string& help, const MetricLabels& labels, const Gauge* gauge);
  // A gauge read by calling `fn` at render time, on the rendering thread (two scrapes may call
  // it at once from two threads). It must be cheap and take no lock a hot path takes.
  void AddCallbackGauge(const std::string& name, const std::string& help, const MetricLabels& labels,
                        std::function<double()> fn);
  // Gauges of one family computed together: at render time `fn` fills values[i] for the series
  // of labels[i], once per rendering (same threading rules as AddCallbackGauge).
  void AddCallbackGauges(const std::string& name, const std::string& help, const std::vector<MetricLabels>& labels,
                         std::function<void(double* values)> fn);

  // The whole registry in the text exposition format, families sorted by name, series in
  // registration order.
  std::string Render() const;
  // The same families and values as the library's types (prometheus::Collectable), families
  // sorted by name, series in registration order; callbacks are called as by Render. Counters
  // become doubles (exact up to 2^53).
  std::vector<prometheus::MetricFamily> Collect() const override;
  // The number of series registered (a histogram counts once).
  std::size_t series() const;

 private:
  enum class Type { kCounter, kGauge, kHistogram };
  enum class Source : std::uint8_t { kCounter, kGauge, kCallback, kGroup, kHistogram };
  struct Group {
    std::function<void(double*)> fn;
    std::size_t size = 0;
  };
  struct HistogramText {
    const Histogram* histogram = nullptr;
    std::vector<std::string> bucket_prefixes;  // "name_bucket{labels...,le="b"} ", +Inf last
    std::string sum_prefix, count_prefix;      // "name_sum{labels} ", "name_count{labels} "
  };
  // What Render needs of one series, 32 bytes, kept in the family's chunks in registration
  // order with its text next to its neighbours' (rendering reads both front to back).
  struct Item {
    const char* prefix;       // "name{labels} " in the family's text chunks
    std::uint32_t prefix_len;
    std::uint32_t index;      // kGroup: position in the group's values
    const void* ptr;          // Counter, Gauge, std::function<double()>, Group, HistogramText
    Source source;
  };
  static constexpr std::size_t kItemChunk = 4096;
  static constexpr std::size_t kTextChunk = 1 << 16;
  // Items and their text live in chunks that never move: Render copies the chunk pointers
  // under the mutex and reads the (immutable) items without it.
  struct Family {
    std::string name, help;
    std::string header;  // the # HELP and # TYPE lines
    Type type = Type::kCounter;
    std::vector<std::unique_ptr<Item[]>> items;
    std::size_t count = 0;
    std::vector<std::unique_ptr<char[]>> text;
    std::size_t text_cap = 0, text_used = 0;  // of text.back()
    std::unordered_map<std::string, const Item*> by_labels;  // rendered labels
  };
  Family& FamilyFor(const std::string& name, const std::string& help, Type type);
  // A kGroup item's value: its group's function is called once per rendering (`computed` is the
  // group whose values `values` holds).
  static double GroupValue(const Item& item, const Group*& computed, std::vector<double>& values);
  // Appends a series to `f`; nullptr when these labels are registered already (then `existing`).
  Item* Append(Family& f, const std::string& name, const MetricLabels& labels, Source source, const void* ptr,
               const Item** existing = nullptr);

  mutable std::mutex mu_;
  std::map<std::string, Family> families_;
  std::size_t series_count_ = 0;
  std::deque<Counter> counters_;
  std::deque<Gauge> gauges_;
  std::deque<Histogram> histograms_;
  std::deque<std::function<double()>> callbacks_;
  std::deque<Group> groups_;
  std::deque<HistogramText> histogram_texts_;
  mutable std::atomic<std::size_t> last_size_{4096};  // the last rendering's length (to reserve)
};

// Appends a sample value as the exposition format wants it: NaN, +Inf, -Inf, a whole number
// below 1e15 as an integer, otherwise the shortest decimal that reads back as the same double
// ("C" locale: std::to_chars). No allocation beyond the string's growth.
void AppendMetricValue(std::string& out, double v);
void AppendMetricValue(std::string& out, std::uint64_t v);

// Formats a sample value as AppendMetricValue does.
std::string FormatMetricValue(double v);
// Escapes a label value (backslash, double quote, newline).
std::string EscapeLabelValue(const std::string& v);

}  // namespace shewhart::engine
