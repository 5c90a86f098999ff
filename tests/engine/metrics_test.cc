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
