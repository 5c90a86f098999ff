#include "shewhart/engine/metrics.h"

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
  f.series.push_back(Series{l, c, nullptr, {}});
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
  f.series.push_back(Series{l, nullptr, g, {}});
  return g;
}

void MetricsRegistry::AddCallbackGauge(const std::string& name, const std::string& help, const MetricLabels& labels,
                                       std::function<double()> fn) {
  std::lock_guard lock(mu_);
  Family& f = FamilyFor(name, help, Type::kGauge);
  f.series.push_back(Series{RenderLabels(labels), nullptr, nullptr, std::move(fn)});
}

std::string MetricsRegistry::Render() const {
  std::lock_guard lock(mu_);
  std::string out;
  out.reserve(4096);
  for (const auto& [name, f] : families_) {
    out += "# HELP " + name + " " + EscapeHelp(f.help) + "\n";
    out += "# TYPE " + name + (f.type == Type::kCounter ? " counter\n" : " gauge\n");
    for (const auto& s : f.series) {
      double v = s.counter ? static_cast<double>(s.counter->value()) : s.gauge ? s.gauge->value() : s.fn();
      out += name + s.labels + " " + FormatMetricValue(v) + "\n";
    }
  }
  return out;
}

}  // namespace shewhart::engine
