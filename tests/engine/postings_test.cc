// Genealogy postings (postings.h): chunking, the encoding's round trip, malformed data. The
// store's use of them is trace_test.cc; the generated plant against brute force is
// trace_plant_test.cc.

#include "shewhart/engine/store/postings.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <tuple>
#include <vector>

namespace shewhart::engine::postings {
namespace {

struct Decoded {
  std::int64_t ts, event;
  std::string unit;
  bool operator==(const Decoded& o) const { return std::tie(ts, event, unit) == std::tie(o.ts, o.event, o.unit); }
};

struct Built {
  Kind kind;
  std::string label;
  std::int64_t first_ts, last_ts, n;
  std::vector<Decoded> entries;
};

std::vector<Built> Build(std::vector<Posting> postings) {
  std::vector<Built> out;
  Status st = BuildChunks(postings, [&](const Chunk& c) {
    Built b{c.kind, std::string(c.label), c.first_ts, c.last_ts, c.n, {}};
    EXPECT_TRUE(Decode(c.data, c.first_ts, [&](const Entry& e) {
      b.entries.push_back(Decoded{e.ts, e.event, std::string(e.unit)});
      return true;
    }));
    out.push_back(std::move(b));
    return Status::Ok();
  });
  EXPECT_TRUE(st.ok());
  return out;
}

TEST(PostingsTest, ChunksHoldOneLabelInTimeOrder) {
  const auto chunks = Build({{Kind::kStation, "st2", {300, 3, "U3"}},
                             {Kind::kLot, "L1", {100, 1, "U1"}},
                             {Kind::kStation, "st1", {200, 2, "U2"}},
                             {Kind::kStation, "st1", {100, 1, "U1"}},
                             {Kind::kStation, "st1", {100, 7, "U7"}}});
  ASSERT_EQ(chunks.size(), 3u);
  EXPECT_EQ(chunks[0].label, "st1");
  EXPECT_EQ(chunks[0].entries, (std::vector<Decoded>{{100, 1, "U1"}, {100, 7, "U7"}, {200, 2, "U2"}}));
  EXPECT_EQ(chunks[0].first_ts, 100);
  EXPECT_EQ(chunks[0].last_ts, 200);
  EXPECT_EQ(chunks[0].n, 3);
  EXPECT_EQ(chunks[1].label, "st2");
  EXPECT_EQ(chunks[2].kind, Kind::kLot) << "kinds in their stored order, then labels";
}

TEST(PostingsTest, AChunkSpansLessThanTheSpanAndHoldsAtMostTheLimit) {
  std::vector<Posting> p;
  p.push_back({Kind::kMachine, "M1", {0, 1, "A"}});
  p.push_back({Kind::kMachine, "M1", {kChunkSpanUs - 1, 2, "B"}});
  p.push_back({Kind::kMachine, "M1", {kChunkSpanUs, 3, "C"}});
  auto chunks = Build(p);
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(chunks[0].n, 2);
  EXPECT_EQ(chunks[1].first_ts, kChunkSpanUs);

  p.clear();
  for (std::size_t i = 0; i < kChunkEntries + 1; ++i) {
    p.push_back({Kind::kLot, "L", {static_cast<std::int64_t>(i), static_cast<std::int64_t>(i), "U"}});
  }
  chunks = Build(p);
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(chunks[0].n, static_cast<std::int64_t>(kChunkEntries));
  EXPECT_EQ(chunks[1].n, 1);
}

TEST(PostingsTest, TheSameEventPostedTwiceUnderOneLabelIsKeptOnce) {
  const auto chunks =
      Build({{Kind::kLot, "L2", {5, 9, "C3"}}, {Kind::kLot, "L2", {5, 9, "C3"}}, {Kind::kLot, "L4", {5, 9, "C3"}}});
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(chunks[0].n, 1);
  EXPECT_EQ(chunks[1].n, 1);
}

TEST(PostingsTest, RandomPostingsRoundTripThroughTheEncoding) {
  std::mt19937_64 rng(11);
  std::vector<Posting> p;
  std::vector<std::string> units;
  for (int i = 0; i < 5000; ++i) units.push_back("SN" + std::to_string(rng() % 100000) + std::string(rng() % 200, 'x'));
  const std::vector<std::string> labels{"a", "b", "c"};
  std::vector<Decoded> want[3];
  for (int i = 0; i < 5000; ++i) {
    const std::size_t l = rng() % 3;
    // Times anywhere in +-1 h (negative too), events anywhere (deltas of both signs).
    const std::int64_t ts = static_cast<std::int64_t>(rng() % 7'200'000'000ULL) - 3'600'000'000LL;
    const std::int64_t event = static_cast<std::int64_t>(rng() >> 1);
    p.push_back({Kind::kOperator, labels[l], {ts, event, units[static_cast<std::size_t>(i)]}});
    want[l].push_back(Decoded{ts, event, units[static_cast<std::size_t>(i)]});
  }
  const auto chunks = Build(p);
  std::vector<Decoded> got[3];
  for (const Built& c : chunks) {
    const std::size_t l = static_cast<std::size_t>(c.label[0] - 'a');
    ASSERT_LT(c.last_ts - c.first_ts, kChunkSpanUs);
    ASSERT_EQ(c.entries.front().ts, c.first_ts);
    ASSERT_EQ(c.entries.back().ts, c.last_ts);
    got[l].insert(got[l].end(), c.entries.begin(), c.entries.end());
  }
  for (std::size_t l = 0; l < 3; ++l) {
    std::sort(want[l].begin(), want[l].end(), [](const Decoded& a, const Decoded& b) {
      return std::tie(a.ts, a.event) < std::tie(b.ts, b.event);
    });
    EXPECT_EQ(got[l], want[l]) << labels[l];
  }
}

TEST(PostingsTest, MalformedDataIsReportedAfterTheEntriesBeforeIt) {
  std::string data;
  Entry prev{1000, 0, {}};
  Encode(Entry{1000, 5, "U1"}, prev, data);
  Encode(Entry{1010, 6, "U2"}, prev, data);
  int seen = 0;
  EXPECT_TRUE(Decode(data, 1000, [&](const Entry&) { return ++seen, true; }));
  EXPECT_EQ(seen, 2);
  seen = 0;
  EXPECT_FALSE(Decode(std::string_view(data).substr(0, data.size() - 1), 1000, [&](const Entry&) {
    return ++seen, true;
  })) << "the second serial is cut short";
  EXPECT_EQ(seen, 1);
  EXPECT_FALSE(Decode("\xff\xff", 0, [](const Entry&) { return true; })) << "an unfinished varint";
  seen = 0;
  EXPECT_TRUE(Decode(data, 1000, [&](const Entry&) { return ++seen, false; })) << "stopping early is not an error";
  EXPECT_EQ(seen, 1);
}

TEST(PostingsTest, AnErrorOfTheWriterStopsTheChunking) {
  std::vector<Posting> p{{Kind::kStation, "s1", {1, 1, "U"}}, {Kind::kStation, "s2", {1, 1, "U"}}};
  int calls = 0;
  Status st = BuildChunks(p, [&](const Chunk&) {
    ++calls;
    return Unavailable("disk full");
  });
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace shewhart::engine::postings
