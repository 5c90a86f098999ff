#include "shewhart/engine/model/time_format.h"

#include <gtest/gtest.h>

namespace shewhart::engine {
namespace {

TEST(TimeFormatTest, ParsesUtcAndOffsets) {
  auto t = ParseRfc3339("2026-11-27T08:00:00.125Z");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(ToUnixMicros(*t), 1795766400125000LL);
  auto o = ParseRfc3339("2026-11-27T09:00:00.125+01:00");
  ASSERT_TRUE(o.has_value());
  EXPECT_EQ(*o, *t);
  auto n = ParseRfc3339("2026-11-27T07:30:00.125-00:30");
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(*n, *t);
}

TEST(TimeFormatTest, FractionIsTruncatedToMicroseconds) {
  auto t = ParseRfc3339("1970-01-01T00:00:01.123456789Z");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(ToUnixMicros(*t), 1123456);
}

TEST(TimeFormatTest, RejectsMalformedTimes) {
  for (const char* bad : {"", "2026-11-27", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z", "2026-11-27T24:00:00Z",
                          "2026-11-27T08:00:00", "2026-11-27T08:00:00.Z", "2026-11-27T08:00:00Zjunk", "yesterday"}) {
    EXPECT_FALSE(ParseRfc3339(bad).has_value()) << bad;
  }
}

TEST(TimeFormatTest, FormatsMillisecondsOrMicroseconds) {
  EXPECT_EQ(FormatRfc3339(FromUnixMillis(1795766400125LL)), "2026-11-27T08:00:00.125Z");
  EXPECT_EQ(FormatRfc3339(FromUnixMicros(1795766400125001LL)), "2026-11-27T08:00:00.125001Z");
  EXPECT_EQ(FormatRfc3339(FromUnixMillis(0)), "1970-01-01T00:00:00.000Z");
}

TEST(TimeFormatTest, FormatThenParseRoundTrips) {
  for (std::int64_t us : {0LL, 1LL, 999999LL, 1795766400125001LL, 4102444799999999LL}) {
    auto t = FromUnixMicros(us);
    auto back = ParseRfc3339(FormatRfc3339(t));
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(*back, t);
  }
}

TEST(TimeFormatTest, DurationsHaveANumberAndAUnit) {
  using std::chrono::microseconds;
  EXPECT_EQ(ParseDuration("2h"), microseconds(7200000000LL));
  EXPECT_EQ(ParseDuration("1.5s"), microseconds(1500000));
  EXPECT_EQ(ParseDuration("500ms"), microseconds(500000));
  EXPECT_EQ(ParseDuration("3d"), microseconds(259200000000LL));
  EXPECT_EQ(ParseDuration("0us"), microseconds(0));
  for (const char* bad : {"", "2", "h", "2 h", "2hours", "-1s", "1e300d", "nanm", "2h "}) {
    EXPECT_FALSE(ParseDuration(bad).has_value()) << "'" << bad << "'";
  }
}

}  // namespace
}  // namespace shewhart::engine
