#include "shewhart/engine/metrics/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

#include "shewhart/base/status.h"

namespace shewhart::engine {

void AppendMetricValue(std::string& out, double v) {
  // Whole numbers (counts) as integers: the same text as the shortest form up to 1e4, and
  // "100000" rather than "1e+05" beyond; exact below 1e15 (and about four times faster).
  if (v == std::trunc(v) && std::abs(v) < 1e15 && !(v == 0 && std::signbit(v))) {
    char buf[24];
    auto [p, ec] = std::to_chars(buf, buf + sizeof buf, static_cast<std::int64_t>(v));
    out.append(buf, ec == std::errc() ? p : buf);
    return;
  }
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
    it->second.name = name;
    it->second.help = help;
  }
  SHEWHART_CHECK(it->second.type == type);  // one name, one type
  return it->second;
}

MetricsRegistry::Item* MetricsRegistry::Append(Family& f, const std::string& name, const MetricLabels& labels,
                                               Source source, const void* ptr, const Item** existing) {
  std::string l = RenderLabels(labels);
  auto found = f.by_labels.find(l);
  if (found != f.by_labels.end()) {
    SHEWHART_CHECK(existing != nullptr && found->second->source == source);  // same labels, same kind
    *existing = found->second;
    return nullptr;
  }
  const std::size_t len = name.size() + l.size() + 1;
  if (f.text_cap - f.text_used < len) {
    f.text_cap = std::max(kTextChunk, len);
    f.text.push_back(std::make_unique<char[]>(f.text_cap));
    f.text_used = 0;
  }
  char* text = f.text.back().get() + f.text_used;
  f.text_used += len;
  std::memcpy(text, name.data(), name.size());
  std::memcpy(text + name.size(), l.data(), l.size());
  text[len - 1] = ' ';
  if (f.count % kItemChunk == 0) f.items.push_back(std::make_unique<Item[]>(kItemChunk));
  Item& item = f.items.back()[f.count % kItemChunk];
  item = Item{text, static_cast<std::uint32_t>(len), 0, ptr, source};
  f.count += 1;
  f.by_labels.emplace(std::move(l), &item);
  series_count_ += 1;
  return &item;
}

Counter* MetricsRegistry::GetCounter(const std::string& name, const std::string& help, const MetricLabels& labels) {
  std::lock_guard lock(mu_);
  Family& f = FamilyFor(name, help, Type::kCounter);
  const Item* existing = nullptr;
  // Created first, then registered: a Counter that never renders is harmless; a series without
  // a Counter would crash Render.
  Counter* c = &counters_.emplace_back();
  if (!Append(f, name, labels, Source::kCounter, c, &existing)) {
    counters_.pop_back();
    return const_cast<Counter*>(static_cast<const Counter*>(existing->ptr));
  }
  return c;
}

Gauge* MetricsRegistry::GetGauge(const std::string& name, const std::string& help, const MetricLabels& labels) {
  std::lock_guard lock(mu_);
  Family& f = FamilyFor(name, help, Type::kGauge);
  const Item* existing = nullptr;
  Gauge* g = &gauges_.emplace_back();
  if (!Append(f, name, labels, Source::kGauge, g, &existing)) {
    gauges_.pop_back();
    return const_cast<Gauge*>(static_cast<const Gauge*>(existing->ptr));
  }
  return g;
}

void MetricsRegistry::AddCounter(const std::string& name, const std::string& help, const MetricLabels& labels,
                                 const Counter* counter) {
  std::lock_guard lock(mu_);
  Append(FamilyFor(name, help, Type::kCounter), name, labels, Source::kCounter, counter);
}

void MetricsRegistry::AddGauge(const std::string& name, const std::string& help, const MetricLabels& labels,
                               const Gauge* gauge) {
  std::lock_guard lock(mu_);
  Append(FamilyFor(name, help, Type::kGauge), name, labels, Source::kGauge, gauge);
}

Histogram* MetricsRegistry::GetHistogram(const std::string& name, const std::string& help,
                                         const std::vector<double>& upper_bounds, const MetricLabels& labels) {
  std::lock_guard lock(mu_);
  Family& f = FamilyFor(name, help, Type::kHistogram);
  const Item* existing = nullptr;
  HistogramText& t = histogram_texts_.emplace_back();
  if (!Append(f, name, labels, Source::kHistogram, &t, &existing)) {
    histogram_texts_.pop_back();
    return const_cast<Histogram*>(static_cast<const HistogramText*>(existing->ptr)->histogram);
  }
  t.histogram = &histograms_.emplace_back(upper_bounds);
  const std::string l = RenderLabels(labels);
  const std::string prefix = name + "_bucket" + (l.empty() ? "{" : l.substr(0, l.size() - 1) + ",");
  for (double b : upper_bounds) t.bucket_prefixes.push_back(prefix + "le=\"" + FormatMetricValue(b) + "\"} ");
  t.bucket_prefixes.push_back(prefix + "le=\"+Inf\"} ");
  t.sum_prefix = name + "_sum" + l + " ";
  t.count_prefix = name + "_count" + l + " ";
  return const_cast<Histogram*>(t.histogram);
}

void MetricsRegistry::AddCallbackGauge(const std::string& name, const std::string& help, const MetricLabels& labels,
                                       std::function<double()> fn) {
  std::lock_guard lock(mu_);
  Family& f = FamilyFor(name, help, Type::kGauge);
  const auto* callback = &callbacks_.emplace_back(std::move(fn));
  Append(f, name, labels, Source::kCallback, callback);
}

void MetricsRegistry::AddCallbackGauges(const std::string& name, const std::string& help,
                                        const std::vector<MetricLabels>& labels, std::function<void(double*)> fn) {
  if (labels.empty()) return;
  std::lock_guard lock(mu_);
  Family& f = FamilyFor(name, help, Type::kGauge);
  const Group* group = &groups_.emplace_back(Group{std::move(fn), labels.size()});
  for (std::size_t i = 0; i < labels.size(); ++i)
    Append(f, name, labels[i], Source::kGroup, group)->index = static_cast<std::uint32_t>(i);
}

std::size_t MetricsRegistry::series() const {
  std::lock_guard lock(mu_);
  return series_count_;
}

double MetricsRegistry::GroupValue(const Item& item, const Group*& computed, std::vector<double>& values) {
  const auto* group = static_cast<const Group*>(item.ptr);
  if (group != computed) {
    values.assign(group->size, std::numeric_limits<double>::quiet_NaN());
    group->fn(values.data());
    computed = group;
  }
  return values[item.index];
}

std::string MetricsRegistry::Render() const {
  // Under the mutex, only the list of what to render: each family's header, item chunks and
  // count (chunks never move, items are immutable once counted).
  struct Listed {
    const std::string* header;
    std::vector<const Item*> chunks;
    std::size_t count;
  };
  std::vector<Listed> families;
  {
    std::lock_guard lock(mu_);
    families.reserve(families_.size());
    for (const auto& [name, f] : families_) {
      Listed& l = families.emplace_back(Listed{&f.header, {}, f.count});
      l.chunks.reserve(f.items.size());
      for (const auto& c : f.items) l.chunks.push_back(c.get());
    }
  }
  std::string out;
  out.reserve(last_size_.load(std::memory_order_relaxed) + 4096);
  std::vector<double> group_values;
  for (const Listed& f : families) {
    out += *f.header;
    const Group* computed = nullptr;  // the group whose values `group_values` holds
    for (std::size_t i = 0; i < f.count; ++i) {
      const Item& item = f.chunks[i / kItemChunk][i % kItemChunk];
      switch (item.source) {
        case Source::kCounter:
          out.append(item.prefix, item.prefix_len);
          AppendMetricValue(out, static_cast<const Counter*>(item.ptr)->value());
          break;
        case Source::kGauge:
          out.append(item.prefix, item.prefix_len);
          AppendMetricValue(out, static_cast<const Gauge*>(item.ptr)->value());
          break;
        case Source::kCallback:
          out.append(item.prefix, item.prefix_len);
          AppendMetricValue(out, (*static_cast<const std::function<double()>*>(item.ptr))());
          break;
        case Source::kGroup:
          out.append(item.prefix, item.prefix_len);
          AppendMetricValue(out, GroupValue(item, computed, group_values));
          break;
        case Source::kHistogram: {
          const auto& t = *static_cast<const HistogramText*>(item.ptr);
          std::uint64_t cumulative = 0;
          for (std::size_t b = 0; b < t.bucket_prefixes.size(); ++b) {
            cumulative += t.histogram->bucket(b);
            out += t.bucket_prefixes[b];
            AppendMetricValue(out, cumulative);
            out += '\n';
          }
          out += t.sum_prefix;
          AppendMetricValue(out, t.histogram->sum());
          out += '\n';
          // _count equals the +Inf bucket, as the format requires (read once, consistently).
          out += t.count_prefix;
          AppendMetricValue(out, cumulative);
          break;
        }
      }
      out += '\n';
    }
  }
  last_size_.store(out.size(), std::memory_order_relaxed);
  return out;
}

}  // namespace shewhart::engine
