#include "shewhart/engine/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace shewhart::engine {

std::string FormatMetricValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, p) : "NaN";
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
    it->second.help = help;
    it->second.type = type;
  }
  return it->second;
}

Counter* MetricsRegistry::GetCounter(const std::string& name, const std::string& help, const MetricLabels& labels) {
  std::lock_guard lock(mu_);
  Family& f = FamilyFor(name, help, Type::kCounter);
  std::string l = RenderLabels(labels);
  for (auto& s : f.series) {
    if (s.labels == l && s.counter) return s.counter;
  }
  Counter* c = &counters_.emplace_back();
  f.series.push_back(Series{l, c, nullptr, {}, nullptr, {}});
  return c;
}

Gauge* MetricsRegistry::GetGauge(const std::string& name, const std::string& help, const MetricLabels& labels) {
  std::lock_guard lock(mu_);
  Family& f = FamilyFor(name, help, Type::kGauge);
  std::string l = RenderLabels(labels);
  for (auto& s : f.series) {
    if (s.labels == l && s.gauge) return s.gauge;
  }
  Gauge* g = &gauges_.emplace_back();
  f.series.push_back(Series{l, nullptr, g, {}, nullptr, {}});
  return g;
}

Histogram* MetricsRegistry::GetHistogram(const std::string& name, const std::string& help,
                                         const std::vector<double>& upper_bounds, const MetricLabels& labels) {
  std::lock_guard lock(mu_);
  Family& f = FamilyFor(name, help, Type::kHistogram);
  std::string l = RenderLabels(labels);
  for (auto& s : f.series) {
    if (s.labels == l && s.histogram) return s.histogram;
  }
  Histogram* h = &histograms_.emplace_back(upper_bounds);
  Series series{l, nullptr, nullptr, {}, h, {}};
  const std::string prefix = l.empty() ? "{" : l.substr(0, l.size() - 1) + ",";
  for (double b : h->upper_bounds()) series.bucket_labels.push_back(prefix + "le=\"" + FormatMetricValue(b) + "\"}");
  series.bucket_labels.push_back(prefix + "le=\"+Inf\"}");
  f.series.push_back(std::move(series));
  return h;
}

void MetricsRegistry::AddCallbackGauge(const std::string& name, const std::string& help, const MetricLabels& labels,
                                       std::function<double()> fn) {
  std::lock_guard lock(mu_);
  Family& f = FamilyFor(name, help, Type::kGauge);
  f.series.push_back(Series{RenderLabels(labels), nullptr, nullptr, std::move(fn), nullptr, {}});
}

std::string MetricsRegistry::Render() const {
  std::lock_guard lock(mu_);
  std::string out;
  out.reserve(4096);
  for (const auto& [name, f] : families_) {
    out += "# HELP " + name + " " + EscapeHelp(f.help) + "\n";
    out += "# TYPE " + name +
           (f.type == Type::kCounter ? " counter\n" : f.type == Type::kGauge ? " gauge\n" : " histogram\n");
    for (const auto& s : f.series) {
      if (s.histogram) {
        std::uint64_t cumulative = 0;
        for (std::size_t i = 0; i < s.bucket_labels.size(); ++i) {
          cumulative += s.histogram->bucket(i);
          out += name + "_bucket" + s.bucket_labels[i] + " " + std::to_string(cumulative) + "\n";
        }
        out += name + "_sum" + s.labels + " " + FormatMetricValue(s.histogram->sum()) + "\n";
        // _count equals the +Inf bucket, as the format requires (read once, consistently).
        out += name + "_count" + s.labels + " " + std::to_string(cumulative) + "\n";
        continue;
      }
      double v = s.counter ? static_cast<double>(s.counter->value()) : s.gauge ? s.gauge->value() : s.fn();
      out += name + s.labels + " " + FormatMetricValue(v) + "\n";
    }
  }
  return out;
}

}  // namespace shewhart::engine
