// MetricsRegistry as a prometheus::Collectable: its families as prometheus-cpp's MetricFamily
// values (metrics.h says why /metrics itself is rendered by Render).
#include <limits>

#include "shewhart/engine/metrics/metrics.h"

namespace shewhart::engine {

namespace {
// The labels of a series from its exposition prefix `name{k="v",...} ` (values unescaped).
std::vector<prometheus::ClientMetric::Label> LabelsOf(std::string_view prefix, std::size_t name_size) {
  std::vector<prometheus::ClientMetric::Label> out;
  std::size_t i = name_size;
  if (i >= prefix.size() || prefix[i] != '{') return out;
  ++i;
  while (i < prefix.size() && prefix[i] != '}') {
    prometheus::ClientMetric::Label l;
    const std::size_t eq = prefix.find('=', i);
    l.name = std::string(prefix.substr(i, eq - i));
    i = eq + 2;  // past `="`
    while (i < prefix.size() && prefix[i] != '"') {
      if (prefix[i] == '\\' && i + 1 < prefix.size()) {
        ++i;
        l.value += prefix[i] == 'n' ? '\n' : prefix[i];
      } else {
        l.value += prefix[i];
      }
      ++i;
    }
    ++i;  // past the closing quote
    if (i < prefix.size() && prefix[i] == ',') ++i;
    out.push_back(std::move(l));
  }
  return out;
}
}  // namespace

std::vector<prometheus::MetricFamily> MetricsRegistry::Collect() const {
  struct Listed {
    const Family* family;
    std::vector<const Item*> chunks;
    std::size_t count;
  };
  std::vector<Listed> families;
  {
    std::lock_guard lock(mu_);
    for (const auto& [name, f] : families_) {
      Listed& l = families.emplace_back(Listed{&f, {}, f.count});
      for (const auto& c : f.items) l.chunks.push_back(c.get());
    }
  }
  std::vector<prometheus::MetricFamily> out;
  out.reserve(families.size());
  std::vector<double> group_values;
  for (const Listed& l : families) {
    const Family& f = *l.family;
    prometheus::MetricFamily mf;
    mf.name = f.name;
    mf.help = f.help;
    mf.type = f.type == Type::kCounter ? prometheus::MetricType::Counter
              : f.type == Type::kGauge ? prometheus::MetricType::Gauge
                                       : prometheus::MetricType::Histogram;
    const Group* computed = nullptr;
    for (std::size_t i = 0; i < l.count; ++i) {
      const Item& item = l.chunks[i / kItemChunk][i % kItemChunk];
      prometheus::ClientMetric m;
      m.label = LabelsOf(std::string_view(item.prefix, item.prefix_len - 1), f.name.size());
      switch (item.source) {
        case Source::kCounter:
          m.counter.value = static_cast<double>(static_cast<const Counter*>(item.ptr)->value());
          break;
        case Source::kGauge: m.gauge.value = static_cast<const Gauge*>(item.ptr)->value(); break;
        case Source::kCallback: m.gauge.value = (*static_cast<const std::function<double()>*>(item.ptr))(); break;
        case Source::kGroup: m.gauge.value = GroupValue(item, computed, group_values); break;
        case Source::kHistogram: {
          const Histogram& h = *static_cast<const HistogramText*>(item.ptr)->histogram;
          std::uint64_t cumulative = 0;
          for (std::size_t b = 0; b <= h.upper_bounds().size(); ++b) {
            cumulative += h.bucket(b);
            prometheus::ClientMetric::Bucket bucket;
            bucket.cumulative_count = cumulative;
            bucket.upper_bound =
                b < h.upper_bounds().size() ? h.upper_bounds()[b] : std::numeric_limits<double>::infinity();
            m.histogram.bucket.push_back(bucket);
          }
          m.histogram.sample_count = cumulative;
          m.histogram.sample_sum = h.sum();
          break;
        }
      }
      mf.metric.push_back(std::move(m));
    }
    out.push_back(std::move(mf));
  }
  return out;
}

}  // namespace shewhart::engine
