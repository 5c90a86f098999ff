#include "shewhart/engine/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "shewhart/base/status.h"

namespace shewhart::engine {

void AppendMetricValue(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
    return;
  }
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  char buf[64];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  if (ec != std::errc()) {
    out += "NaN";
    return;
  }
  out.append(buf, p);
}

void AppendMetricValue(std::string& out, std::uint64_t v) {
  char buf[24];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, ec == std::errc() ? p : buf);
}

std::string FormatMetricValue(double v) {
  std::string out;
  AppendMetricValue(out, v);
  return out;
}

std::string EscapeLabelValue(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

namespace {
std::string RenderLabels(const MetricLabels& labels) {
  if (labels.empty()) return "";
  std::string s = "{";
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (i) s += ",";
    s += labels[i].first + "=\"" + EscapeLabelValue(labels[i].second) + "\"";
  }
  return s + "}";
}
std::string EscapeHelp(const std::string& h) {
  std::string out;
  for (char c : h) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}
}  // namespace

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), counts_(new std::atomic<std::uint64_t>[bounds_.size() + 1]) {
  for (std::size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double v) {
  const std::size_t i =
      static_cast<std::size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  double cur = sum_.load(std::memory_order_relaxed);
  while (!sum_.compare_exchange_weak(cur, cur + v, std::memory_order_relaxed)) {
  }
  count_.fetch_add(1, std::memory_order_relaxed);
}

std::vector<double> LatencyBuckets() {
  return {5e-6, 1e-5,  2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3,
          5e-3, 0.01, 0.025,  0.05, 0.1,  0.25,   0.5,  1,    2.5};
}

MetricsRegistry::Family& MetricsRegistry::FamilyFor(const std::string& name, const std::string& help, Type type) {
  auto [it, inserted] = families_.try_emplace(name);
  if (inserted) {
    it->second.header = "# HELP " + name + " " + EscapeHelp(help) + "\n# TYPE " + name +
                        (type == Type::kCounter ? " counter\n" : type == Type::kGauge ? " gauge\n" : " histogram\n");
    it->second.type = type;
  }
  SHEWHART_CHECK(it->second.type == type);  // one name, one type
  return it->second;
}

MetricsRegistry::Series& MetricsRegistry::SeriesFor(Family& f, const std::string& name, const MetricLabels& labels,
                                                    bool& created) {
  std::string l = RenderLabels(labels);
  auto found = f.by_labels.find(l);
  created = found == f.by_labels.end();
  if (!created) return *found->second;
  Series& s = f.series.emplace_back();
  s.prefix = name + l + " ";
  s.labels = std::move(l);
  f.by_labels.emplace(s.labels, &s);
  series_count_ += 1;
  return s;
}

Counter* MetricsRegistry::GetCounter(const std::string& name, const std::string& help, const MetricLabels& labels) {
  std::lock_guard lock(mu_);
  Family& f = FamilyFor(name, help, Type::kCounter);
  bool created;
  Series& s = SeriesFor(f, name, labels, created);
  if (created) s.counter = &counters_.emplace_back();
  return s.counter;
}

Gauge* MetricsRegistry::GetGauge(const std::string& name, const std::string& help, const MetricLabels& labels) {
  std::lock_guard lock(mu_);
  Family& f = FamilyFor(name, help, Type::kGauge);
  bool created;
  Series& s = SeriesFor(f, name, labels, created);
  if (created) s.gauge = &gauges_.emplace_back();
  SHEWHART_CHECK(s.gauge != nullptr);  // not a callback gauge's labels
  return s.gauge;
}

Histogram* MetricsRegistry::GetHistogram(const std::string& name, const std::string& help,
                                         const std::vector<double>& upper_bounds, const MetricLabels& labels) {
  std::lock_guard lock(mu_);
  Family& f = FamilyFor(name, help, Type::kHistogram);
  bool created;
  Series& s = SeriesFor(f, name, labels, created);
  if (!created) return s.histogram;
  s.histogram = &histograms_.emplace_back(upper_bounds);
  const std::string& l = s.labels;
  const std::string prefix = name + "_bucket" + (l.empty() ? "{" : l.substr(0, l.size() - 1) + ",");
  for (double b : s.histogram->upper_bounds()) s.bucket_prefixes.push_back(prefix + "le=\"" + FormatMetricValue(b) + "\"} ");
  s.bucket_prefixes.push_back(prefix + "le=\"+Inf\"} ");
  s.sum_prefix = name + "_sum" + l + " ";
  s.count_prefix = name + "_count" + l + " ";
  return s.histogram;
}

void MetricsRegistry::AddCallbackGauge(const std::string& name, const std::string& help, const MetricLabels& labels,
                                       std::function<double()> fn) {
  std::lock_guard lock(mu_);
  Family& f = FamilyFor(name, help, Type::kGauge);
  bool created;
  Series& s = SeriesFor(f, name, labels, created);
  SHEWHART_CHECK(created);  // a series is registered once
  s.fn = std::move(fn);
}

std::size_t MetricsRegistry::series() const {
  std::lock_guard lock(mu_);
  return series_count_;
}

std::string MetricsRegistry::Render() const {
  // Under the mutex, only the list of what to render: family headers and series pointers
  // (families and series are never removed and never move; a series is immutable once
  // registered, its value aside).
  std::vector<std::pair<const std::string*, std::size_t>> families;  // header, end in `all`
  std::vector<const Series*> all;
  {
    std::lock_guard lock(mu_);
    families.reserve(families_.size());
    all.reserve(series_count_);
    for (const auto& [name, f] : families_) {
      for (const Series& s : f.series) all.push_back(&s);
      families.emplace_back(&f.header, all.size());
    }
  }
  std::string out;
  out.reserve(last_size_.load(std::memory_order_relaxed) + 4096);
  std::size_t i = 0;
  for (const auto& [header, end] : families) {
    out += *header;
    for (; i < end; ++i) {
      const Series& s = *all[i];
      if (s.histogram) {
        std::uint64_t cumulative = 0;
        for (std::size_t b = 0; b < s.bucket_prefixes.size(); ++b) {
          cumulative += s.histogram->bucket(b);
          out += s.bucket_prefixes[b];
          AppendMetricValue(out, cumulative);
          out += '\n';
        }
        out += s.sum_prefix;
        AppendMetricValue(out, s.histogram->sum());
        out += '\n';
        // _count equals the +Inf bucket, as the format requires (read once, consistently).
        out += s.count_prefix;
        AppendMetricValue(out, cumulative);
        out += '\n';
        continue;
      }
      out += s.prefix;
      if (s.counter) {
        AppendMetricValue(out, s.counter->value());
      } else {
        AppendMetricValue(out, s.gauge ? s.gauge->value() : s.fn());
      }
      out += '\n';
    }
  }
  last_size_.store(out.size(), std::memory_order_relaxed);
  return out;
}

}  // namespace shewhart::engine
