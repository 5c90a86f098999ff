#include "shewhart/engine/metrics/metrics.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <clocale>
#include <cmath>
#include <atomic>
#include <limits>
#include <sstream>
#include <string>
#include <thread>

namespace shewhart::engine {
namespace {

TEST(MetricsTest, RendersHelpTypeAndSeries) {
  MetricsRegistry r;
  r.GetCounter("shewhart_b_total", "B things.", {{"source", "zmq0"}})->Inc(3);
  r.GetGauge("shewhart_a", "An \\ a\nline.")->Set(1.5);
  r.AddCallbackGauge("shewhart_c", "C.", {{"queue", "shard0"}}, [] { return 7.0; });
  EXPECT_EQ(r.Render(),
            "# HELP shewhart_a An \\\\ a\\nline.\n"
            "# TYPE shewhart_a gauge\n"
            "shewhart_a 1.5\n"
            "# HELP shewhart_b_total B things.\n"
            "# TYPE shewhart_b_total counter\n"
            "shewhart_b_total{source=\"zmq0\"} 3\n"
            "# HELP shewhart_c C.\n"
            "# TYPE shewhart_c gauge\n"
            "shewhart_c{queue=\"shard0\"} 7\n");
}

TEST(MetricsTest, SameLabelsReturnTheSameSeries) {
  MetricsRegistry r;
  Counter* a = r.GetCounter("x_total", "X.", {{"k", "v"}});
  Counter* b = r.GetCounter("x_total", "X.", {{"k", "v"}});
  Counter* c = r.GetCounter("x_total", "X.", {{"k", "w"}});
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

TEST(MetricsTest, HistogramRendersCumulativeBucketsSumAndCount) {
  MetricsRegistry r;
  Histogram* h = r.GetHistogram("lat_seconds", "Latency.", {0.001, 0.01}, {{"stage", "a"}});
  EXPECT_EQ(r.GetHistogram("lat_seconds", "Latency.", {0.001, 0.01}, {{"stage", "a"}}), h);
  h->Observe(0.0005);
  h->Observe(0.001);  // on the bound: counts in le="0.001"
  h->Observe(0.005);
  h->Observe(2.0);
  EXPECT_EQ(r.Render(),
            "# HELP lat_seconds Latency.\n"
            "# TYPE lat_seconds histogram\n"
            "lat_seconds_bucket{stage=\"a\",le=\"0.001\"} 2\n"
            "lat_seconds_bucket{stage=\"a\",le=\"0.01\"} 3\n"
            "lat_seconds_bucket{stage=\"a\",le=\"+Inf\"} 4\n"
            "lat_seconds_sum{stage=\"a\"} 2.0065\n"
            "lat_seconds_count{stage=\"a\"} 4\n");
}

TEST(MetricsTest, HistogramWithoutLabelsHasOnlyLe) {
  MetricsRegistry r;
  r.GetHistogram("h", "H.", {1})->Observe(3);
  EXPECT_NE(r.Render().find("h_bucket{le=\"1\"} 0\nh_bucket{le=\"+Inf\"} 1\nh_sum 3\nh_count 1\n"), std::string::npos);
}

TEST(MetricsTest, LatencyBucketsAscend) {
  auto b = LatencyBuckets();
  ASSERT_GE(b.size(), 10u);
  EXPECT_DOUBLE_EQ(b.front(), 5e-6);
  for (std::size_t i = 1; i < b.size(); ++i) EXPECT_LT(b[i - 1], b[i]);
}

TEST(MetricsTest, SpecialValuesAndEscapesFollowTheFormat) {
  EXPECT_EQ(FormatMetricValue(std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(FormatMetricValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatMetricValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatMetricValue(0.1), "0.1");
  EXPECT_EQ(FormatMetricValue(1e21), "1e+21");
  EXPECT_EQ(EscapeLabelValue("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

TEST(MetricsTest, NumberFormatIgnoresTheLocale) {
  const char* de = std::setlocale(LC_ALL, "de_DE.UTF-8");
  EXPECT_EQ(FormatMetricValue(74.5), "74.5");
  std::setlocale(LC_ALL, "C");
  if (!de) GTEST_SKIP() << "de_DE.UTF-8 locale not installed; checked under C only";
}

TEST(MetricsTest, WholeNumbersAreIntegersAndCountersExact) {
  EXPECT_EQ(FormatMetricValue(100000), "100000");
  EXPECT_EQ(FormatMetricValue(-42), "-42");
  EXPECT_EQ(FormatMetricValue(-0.0), "-0");
  EXPECT_EQ(FormatMetricValue(1e15), "1e+15");
  EXPECT_EQ(FormatMetricValue(2.5), "2.5");
  MetricsRegistry r;
  r.GetCounter("c_total", "C.")->Inc((std::uint64_t{1} << 53) + 1);  // not a double
  EXPECT_NE(r.Render().find("c_total 9007199254740993\n"), std::string::npos) << r.Render();
}

// Series the caller owns render like the registry's own; the same labels twice is one series.
TEST(MetricsTest, ExternalSeriesAndRepeatedLabels) {
  MetricsRegistry r;
  Gauge g;
  Counter c;
  r.AddGauge("g", "G.", {{"k", "a"}}, &g);
  r.AddCounter("c_total", "C.", {{"k", "a"}}, &c);
  g.Set(0.25);
  c.Inc(2);
  EXPECT_EQ(r.GetGauge("h", "H.", {{"k", "x"}}), r.GetGauge("h", "H.", {{"k", "x"}}));
  EXPECT_EQ(r.Render(),
            "# HELP c_total C.\n# TYPE c_total counter\nc_total{k=\"a\"} 2\n"
            "# HELP g G.\n# TYPE g gauge\ng{k=\"a\"} 0.25\n"
            "# HELP h H.\n# TYPE h gauge\nh{k=\"x\"} 0\n");
  EXPECT_EQ(r.series(), 3u);
}

// A group's function runs once per rendering and fills its series in label order.
TEST(MetricsTest, CallbackGroupIsComputedOncePerRender) {
  MetricsRegistry r;
  int calls = 0;
  r.AddCallbackGauges("idx", "I.", {{{"i", "a"}}, {{"i", "b"}}, {{"i", "c"}}}, [&calls](double* v) {
    ++calls;
    v[0] = 1.5;
    v[1] = calls;
    // v[2] left alone: NaN
  });
  EXPECT_EQ(r.Render(), "# HELP idx I.\n# TYPE idx gauge\nidx{i=\"a\"} 1.5\nidx{i=\"b\"} 1\nidx{i=\"c\"} NaN\n");
  EXPECT_EQ(calls, 1);
  EXPECT_NE(r.Render().find("idx{i=\"b\"} 2\n"), std::string::npos);
  EXPECT_EQ(calls, 2);
}

// Registration goes on while another thread renders: every rendering is well formed (each
// family's samples after its header, in registration order) and sees a prefix of the series.
TEST(MetricsTest, RenderingWhileRegisteringSeesWholeSeries) {
  MetricsRegistry r;
  constexpr int kSeries = 20000;
  std::atomic<bool> done{false};
  std::thread registrar([&] {
    for (int i = 0; i < kSeries; ++i) {
      r.GetCounter("a_total", "A.", {{"i", std::to_string(i)}})->Inc(static_cast<std::uint64_t>(i));
      r.GetGauge("b", "B.", {{"i", std::to_string(i)}})->Set(i);
    }
    done = true;
  });
  int renders = 0;
  for (bool last = false; !last; ++renders) {
    last = done.load();
    const std::string text = r.Render();
    std::istringstream in(text);
    std::string line;
    std::string family;
    int next = 0;
    while (std::getline(in, line)) {
      if (line.rfind("# HELP ", 0) == 0) {
        family = line.substr(7, 1);
        next = 0;
        continue;
      }
      if (line.rfind("# TYPE ", 0) == 0) continue;
      const std::string want = (family == "a" ? "a_total" : "b") + std::string("{i=\"") + std::to_string(next) + "\"} ";
      ASSERT_EQ(line.rfind(want, 0), 0u) << line << " (wanted " << want << ")";
      const std::string value = line.substr(want.size());
      // A counter renders what was added by then: 0 or its final value.
      ASSERT_TRUE(value == "0" || value == std::to_string(next)) << line;
      ++next;
    }
    if (last) {
      EXPECT_EQ(next, kSeries);
    }
  }
  registrar.join();
  EXPECT_GE(renders, 1);
}

}  // namespace
}  // namespace shewhart::engine

// The registry as a prometheus::Collectable: the same families, labels and values as Render,
// and the library's own text serializer accepts them.
TEST(MetricsRegistryTest, CollectGivesTheLibraryTheSameSeries) {
  shewhart::engine::MetricsRegistry r;
  r.GetCounter("c_total", "C.", {{"source", "a\"b\\c"}})->Inc(7);
  r.GetGauge("g", "G.")->Set(2.5);
  r.AddCallbackGauge("cb", "CB.", {{"x", "1"}}, [] { return 4.0; });
  auto* h = r.GetHistogram("h", "H.", {1, 2});
  h->Observe(0.5);
  h->Observe(3);
  const auto families = r.Collect();
  ASSERT_EQ(families.size(), 4u);
  EXPECT_EQ(families[0].name, "c_total");  // sorted by name, as Render
  EXPECT_EQ(families[0].type, prometheus::MetricType::Counter);
  ASSERT_EQ(families[0].metric.size(), 1u);
  ASSERT_EQ(families[0].metric[0].label.size(), 1u);
  EXPECT_EQ(families[0].metric[0].label[0].name, "source");
  EXPECT_EQ(families[0].metric[0].label[0].value, "a\"b\\c");
  EXPECT_EQ(families[0].metric[0].counter.value, 7);
  EXPECT_EQ(families[1].name, "cb");
  EXPECT_EQ(families[1].metric[0].gauge.value, 4);
  EXPECT_EQ(families[2].metric[0].gauge.value, 2.5);
  const auto& hist = families[3].metric[0].histogram;
  EXPECT_EQ(hist.sample_count, 2u);
  EXPECT_EQ(hist.sample_sum, 3.5);
  ASSERT_EQ(hist.bucket.size(), 3u);
  EXPECT_EQ(hist.bucket[0].cumulative_count, 1u);
  EXPECT_EQ(hist.bucket[1].cumulative_count, 1u);
  EXPECT_EQ(hist.bucket[2].cumulative_count, 2u);
  EXPECT_TRUE(std::isinf(hist.bucket[2].upper_bound));
  const std::string text = prometheus::TextSerializer().Serialize(families);
  EXPECT_NE(text.find("c_total{source=\"a\\\"b\\\\c\"} 7"), std::string::npos) << text;
  EXPECT_NE(text.find("h_bucket{le=\"+Inf\"} 2"), std::string::npos) << text;
}
