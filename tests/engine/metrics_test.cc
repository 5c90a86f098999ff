#include "shewhart/engine/metrics.h"

#include <gtest/gtest.h>

#include <clocale>
#include <cmath>
#include <limits>

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

}  // namespace
}  // namespace shewhart::engine
