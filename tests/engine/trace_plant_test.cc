// The acceptance test of genealogy (issue 5): a generated plant of 3 lines x 5 stations,
// 10^6 components in assemblies of 4 (about 4.5 M records), stored through AppendTrace in
// batches as the engine writes them; then, for samples of serials, lots, windows and unit
// sets, TraceBackward, TraceForward, UnitsInWindow and Ancestors must give exactly the units
// (and depths, first times, routes) a brute-force scan of the generated records gives.
// Labelled slow; SHEWHART_PLANT_COMPONENTS sets another size (e.g. 20000 for a quick run).

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "../test_util.h"
#include "plant.h"
#include "shewhart/engine/store/store.h"
#include "shewhart/engine/model/time_format.h"

namespace shewhart::engine {
namespace {

using testing::Plant;
using testing::PlantEvent;
using testing::PlantOptions;
using testing::SecondsSince;

// serial -> depth, from the store's answer.
std::map<std::string, int> Depths(const std::vector<TracedUnit>& units) {
  std::map<std::string, int> out;
  for (const auto& u : units) {
    EXPECT_TRUE(out.emplace(u.serial, u.depth).second) << u.serial << " reported twice";
  }
  return out;
}

// serial -> depth, from a brute-force depth vector, leaving out depth 0 unless `with_zero`.
std::map<std::string, int> Depths(const Plant& plant, const std::vector<int>& depth, bool with_zero) {
  std::map<std::string, int> out;
  for (std::uint32_t u = 0; u < depth.size(); ++u) {
    if (depth[u] > 0 || (with_zero && depth[u] == 0)) out.emplace(plant.Serial(u), depth[u]);
  }
  return out;
}

TEST(TracePlantTest, TracesOfAGeneratedPlantEqualBruteForce) {
  PlantOptions o;
  if (const char* env = std::getenv("SHEWHART_PLANT_COMPONENTS")) o.components = std::atoll(env);
  ASSERT_GE(o.components, 1000);
  auto t0 = std::chrono::steady_clock::now();
  const Plant plant(o);
  const auto& events = plant.events();
  std::printf("plant: %lld components, %u units, %zu records, %u lots generated in %.1f s\n",
              static_cast<long long>(o.components), plant.units(), events.size(), plant.lots(), SecondsSince(t0));

  testing::TempDir dir;
  auto opened = Store::Open(dir.File("plant.db"));
  ASSERT_TRUE(opened.ok()) << opened.status().message();
  Store& store = **opened;
  t0 = std::chrono::steady_clock::now();
  std::vector<UnitEvent> batch;
  batch.reserve(4096);
  for (std::size_t i = 0; i < events.size(); ++i) {
    batch.emplace_back();
    plant.ToUnitEvent(events[i], batch.back());
    if (batch.size() == 4096 || i + 1 == events.size()) {
      Status st = store.AppendTrace(batch);
      ASSERT_TRUE(st.ok()) << st.message();
      batch.clear();
    }
  }
  const double ingest_s = SecondsSince(t0);
  std::printf("stored in %.1f s (%.0f records/s)\n", ingest_s, static_cast<double>(events.size()) / ingest_s);

  std::mt19937_64 rng(20261128);
  auto pick = [&](std::uint64_t n) {
    return static_cast<std::uint64_t>(std::uniform_int_distribution<std::uint64_t>(0, n - 1)(rng));
  };
  constexpr int kSamples = 50;
  t0 = std::chrono::steady_clock::now();

  // Backward: components, assemblies and crates, each compared on route, ancestors, descendants.
  std::vector<std::uint32_t> serials;
  for (int i = 0; i < 30; ++i) serials.push_back(events[pick(events.size())].unit);  // mostly components
  for (int i = 0; i < 15; ++i) {
    serials.push_back(plant.first_assembly() + static_cast<std::uint32_t>(pick(o.components / o.assembly_size / 2)));
  }
  for (int i = 0; i < 5; ++i)
    serials.push_back(plant.first_crate() + static_cast<std::uint32_t>(pick(plant.units() - plant.first_crate())));
  int components_with_ancestors = 0, with_descendants = 0;
  for (std::uint32_t u : serials) {
    const std::string serial = plant.Serial(u);
    SCOPED_TRACE("backward " + serial);
    auto t = store.TraceBackward(serial);
    ASSERT_TRUE(t.ok()) << t.status().message();
    const std::vector<PlantEvent> route = plant.BruteRoute(u);
    ASSERT_EQ(t->route.size(), route.size());
    for (std::size_t i = 0; i < route.size(); ++i) {
      EXPECT_EQ(t->route[i].station, plant.Station(route[i].station));
      EXPECT_EQ(ToUnixMicros(t->route[i].ts), route[i].ts);
      EXPECT_EQ(t->route[i].machine, plant.Machine(route[i].machine));
      EXPECT_EQ(t->route[i].op, plant.Operator(route[i].op));
      EXPECT_EQ(t->route[i].parent,
                route[i].parent >= 0 ? plant.Serial(static_cast<std::uint32_t>(route[i].parent)) : "");
      std::vector<std::string> lots;
      for (int k = 0; k < route[i].lot_count; ++k) lots.push_back(plant.Lot(route[i].lots[k]));
      EXPECT_EQ(t->route[i].lots, lots);
    }
    EXPECT_EQ(Depths(t->ancestors), Depths(plant, plant.BruteAncestors({u}), false));
    EXPECT_EQ(Depths(t->descendants), Depths(plant, plant.BruteDescendants(u), false));
    EXPECT_FALSE(t->truncated);
    components_with_ancestors += u < plant.first_assembly() && !t->ancestors.empty();
    with_descendants += !t->descendants.empty();
  }
  EXPECT_GT(components_with_ancestors, 10) << "the sample should reach assemblies and crates";
  EXPECT_GE(with_descendants, 15);

  // Forward: lots drawn from random records (so that most reach units), and a few unused ids.
  std::size_t forward_units = 0;
  for (int i = 0; i < kSamples; ++i) {
    std::uint32_t lot;
    if (i % 10 == 9) {
      lot = plant.lots() + static_cast<std::uint32_t>(i);
    } else {
      const PlantEvent* e;
      do e = &events[pick(events.size())]; while (e->lot_count == 0);
      lot = e->lots[pick(e->lot_count)];
    }
    SCOPED_TRACE("forward " + plant.Lot(lot));
    auto t = store.TraceForward(plant.Lot(lot));
    ASSERT_TRUE(t.ok()) << t.status().message();
    const std::vector<int> depth = plant.BruteForward(lot);
    EXPECT_EQ(Depths(t->reached.units), Depths(plant, depth, true));
    EXPECT_FALSE(t->reached.truncated);
    forward_units += t->reached.units.size();
  }
  EXPECT_GT(forward_units, static_cast<std::size_t>(kSamples) * 100);

  // Windows: an hour of a station (and, for every fifth, of a lot) somewhere in production.
  const std::int64_t begin = o.start_us, end = events.back().ts;
  std::size_t window_units = 0;
  for (int i = 0; i < kSamples; ++i) {
    const std::int64_t from = begin + static_cast<std::int64_t>(pick(static_cast<std::uint64_t>(end - begin)));
    const std::int64_t to = from + 3'600'000'000LL;
    std::vector<std::int64_t> first;
    ScopeLabels scope;
    if (i % 5 == 4) {
      const PlantEvent* e;
      do e = &events[pick(events.size())]; while (e->lot_count == 0);
      const std::uint32_t lot = e->lots[e->lot_count - 1];
      scope = {{ScopeKey::kLot, plant.Lot(lot)}};
      first = plant.BruteWindowLot(lot, from, to);
    } else {
      const auto station = static_cast<std::uint16_t>(pick(plant.stations()));
      scope = {{ScopeKey::kStation, plant.Station(station)}};
      first = plant.BruteWindowStation(station, from, to);
    }
    SCOPED_TRACE("window " + FormatScope(scope) + " from " + FormatRfc3339(FromUnixMicros(from)));
    auto w = store.UnitsInWindow(scope, FromUnixMicros(from), FromUnixMicros(to));
    ASSERT_TRUE(w.ok()) << w.status().message();
    std::map<std::string, std::int64_t> got, want;
    for (const auto& u : *w) got.emplace(u.serial, ToUnixMicros(u.first));
    for (std::uint32_t u = 0; u < first.size(); ++u) {
      if (first[u] >= 0) want.emplace(plant.Serial(u), first[u]);
    }
    EXPECT_EQ(got, want);
    window_units += got.size();
  }
  EXPECT_GT(window_units, static_cast<std::size_t>(kSamples) * 50);

  // Ancestors of sets of five units, as the holds will ask.
  for (int i = 0; i < kSamples; ++i) {
    std::vector<std::uint32_t> units;
    std::vector<std::string> names;
    for (int k = 0; k < 5; ++k) {
      units.push_back(events[pick(events.size())].unit);
      names.push_back(plant.Serial(units.back()));
    }
    SCOPED_TRACE("ancestors of " + names[0] + "...");
    auto a = store.Ancestors(names);
    ASSERT_TRUE(a.ok()) << a.status().message();
    EXPECT_EQ(Depths(a->units), Depths(plant, plant.BruteAncestors(units), false));
  }
  std::printf("queries and brute force in %.1f s\n", SecondsSince(t0));
}

}  // namespace
}  // namespace shewhart::engine
