// The acceptance test of holds (issue 5): the generated plant (plant.h: 3 lines x 5 stations,
// 10^6 components in assemblies of 4, crates above them) runs through an inline engine in
// time order, with a characteristic measured at the second station of every line. Two drift
// episodes per line open alarms; each alarm's hold must hold exactly the units a brute-force
// scan gives: every unit with a record at the alarm's station from the last in-control point
// before the signal to the resolution, measured or not, joined while the alarm was open, plus
// every assembly (and crate) that contains one of them. Then dispositions through the API
// (some released, the rest scrapped but a few) must leave exactly the expected states, and
// the MES interlock must answer for a sample of units as the brute force says.
// Labelled slow; SHEWHART_PLANT_COMPONENTS sets another size (e.g. 30000 for a quick run).

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "../test_util.h"
#include "plant.h"
#include "shewhart/engine/engine.h"
#include "shewhart/engine/store/store.h"
#include "shewhart/engine/model/time_format.h"

namespace shewhart::engine {
namespace {

using testing::Plant;
using testing::PlantEvent;
using testing::PlantOptions;
using testing::SecondsSince;

struct Recorder : EngineListener {
  std::vector<AlarmRecord> opened;
  std::map<std::int64_t, std::int64_t> first_hold_size;  // hold -> units after its first report
  void OnAlarm(const AlarmRecord& a, bool is_new) override {
    if (is_new) opened.push_back(a);
  }
  void OnHold(const HoldRecord& h, const std::vector<HeldUnit>&) override { first_hold_size.emplace(h.id, h.units); }
};

// One measurement of the feed: the record it was made at, and whether it is out of control.
struct Measured {
  std::size_t event = 0;  // index into plant.events()
  int line = 0;
  std::int64_t k = 0;     // its index among the measurements of its line
  bool out = false;
};

constexpr int kResolveAfter = 30;
constexpr int kEpisodeLength = 5;

TEST(HoldPlantTest, SuspectWindowHoldsAndDispositionsOfAGeneratedPlantEqualBruteForce) {
  PlantOptions o;
  if (const char* env = std::getenv("SHEWHART_PLANT_COMPONENTS")) o.components = std::atoll(env);
  ASSERT_GE(o.components, 20000);
  auto t0 = std::chrono::steady_clock::now();
  const Plant plant(o);
  const auto& events = plant.events();
  // The line feeds records as they happen: in time order.
  std::vector<std::size_t> order(events.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return events[a].ts < events[b].ts; });
  std::printf("plant: %lld components, %u units, %zu records, generated and ordered in %.1f s\n",
              static_cast<long long>(o.components), plant.units(), events.size(), SecondsSince(t0));

  // Two drift episodes per line, of kEpisodeLength measurements each, far apart.
  const std::int64_t per_line = o.components / o.lines;
  std::vector<std::vector<std::int64_t>> episodes(static_cast<std::size_t>(o.lines));
  for (int line = 0; line < o.lines; ++line) {
    episodes[static_cast<std::size_t>(line)] = {1000 + 700 * line, per_line / 2 + 377 * line};
  }
  auto is_out = [&](int line, std::int64_t k) {
    for (std::int64_t e : episodes[static_cast<std::size_t>(line)]) {
      if (k >= e && k < e + kEpisodeLength) return true;
    }
    return false;
  };

  testing::TempDir dir;
  const std::string tokens = dir.Write("tokens.yaml", "qa: \"qa-token-0123456789abcdef\"\n");
  ConfigLoad load = LoadConfigText("http: { tokens: \"" + tokens +
                                       "\" }\n"
                                       "characteristics:\n"
                                       "  - id: bore\n"
                                       "    chart: { type: individuals, mr_rules: false }\n"
                                       "    limits: { mean: 10, sigma: 0.1 }\n"
                                       "    rules: [nelson.1]\n"
                                       "    scope: [station]\n"
                                       "    response: line\n"
                                       "responses:\n"
                                       "  line:\n"
                                       "    resolve_after: " +
                                       std::to_string(kResolveAfter) +
                                       "\n"
                                       "    tiers: [ { tier: 1, do: [quarantine] } ]\n",
                                   "plant.yaml");
  ASSERT_TRUE(load.config.has_value());
  Recorder recorder;
  EngineOptions opts;
  opts.threaded = false;
  opts.listener = &recorder;
  opts.store_path = dir.File("plant.db");
  Engine engine(*load.config, opts);
  ASSERT_TRUE(engine.Start().ok());
  IngestSink& sink = engine.RegisterSource("plant");

  t0 = std::chrono::steady_clock::now();
  std::mt19937_64 noise(7);
  std::uniform_real_distribution<double> in_control(-2.0, 2.0);  // sigmas: never beyond 3
  std::vector<Measured> measured;
  std::vector<std::int64_t> count(static_cast<std::size_t>(o.lines), 0);
  UnitEvent ev;
  for (std::size_t i : order) {
    const PlantEvent& p = events[i];
    plant.ToUnitEvent(p, ev);
    sink.OnUnitEvent(ev);
    if (p.station % o.stations != 1) continue;
    const int line = p.station / o.stations;
    const std::int64_t k = count[static_cast<std::size_t>(line)]++;
    Measured m{i, line, k, is_out(line, k)};
    Measurement x;
    x.characteristic = 0;
    x.has_value = true;
    x.value = m.out ? 10.5 : 10.0 + 0.1 * in_control(noise);
    x.ts = FromUnixMicros(p.ts);
    x.serial.Assign(plant.Serial(p.unit));
    x.station.Assign(plant.Station(p.station));
    ASSERT_TRUE(sink.OnMeasurement(x));
    measured.push_back(m);
  }
  engine.Stop();
  std::printf("fed %zu records and %zu measurements in %.1f s\n", events.size(), measured.size(), SecondsSince(t0));

  // Brute force: each episode's window [the chart's previous point, the kResolveAfter-th
  // in-control point of the station after the episode], its station's units then, and every
  // assembly above them.
  auto opened = Store::Open(dir.File("plant.db"));
  ASSERT_TRUE(opened.ok()) << opened.status().message();
  Store& store = **opened;
  ASSERT_EQ(recorder.opened.size(), static_cast<std::size_t>(2 * o.lines));
  std::size_t held_total = 0, joined_while_open = 0;
  std::map<std::int64_t, std::set<std::string>> expected_by_hold;
  for (int line = 0; line < o.lines; ++line) {
    for (std::int64_t e : episodes[static_cast<std::size_t>(line)]) {
      SCOPED_TRACE("line " + std::to_string(line) + ", episode at " + std::to_string(e));
      // Positions in the feed of this line's measurements e - 1 (before) and the resolving one.
      std::size_t first = measured.size(), resolving = measured.size();
      for (std::size_t j = 0; j < measured.size(); ++j) {
        if (measured[j].line != line) continue;
        if (measured[j].k == e) first = j;
        if (measured[j].k == e + kEpisodeLength - 1 + kResolveAfter) resolving = j;
      }
      ASSERT_LT(first, measured.size());
      ASSERT_LT(resolving, measured.size());
      ASSERT_GT(first, 0u);
      const std::int64_t from = events[measured[first - 1].event].ts;  // the chart's point before
      const std::int64_t to = events[measured[resolving].event].ts;
      const std::uint16_t station = events[measured[first].event].station;
      // The alarm the engine opened for it.
      const AlarmRecord* alarm = nullptr;
      for (const auto& a : recorder.opened) {
        if (FormatScope(a.scope) == "station=" + plant.Station(station) &&
            ToUnixMicros(a.opened_ts) == events[measured[first].event].ts) {
          alarm = &a;
        }
      }
      ASSERT_NE(alarm, nullptr);
      EXPECT_EQ(ToUnixMicros(alarm->window_start), from);
      auto stored = store.GetAlarm(alarm->id);
      ASSERT_TRUE(stored.ok());
      EXPECT_EQ(stored->state, "resolved");
      EXPECT_EQ(ToUnixMicros(stored->resolved_ts), to);
      ASSERT_GT(stored->hold_id, 0);

      std::vector<std::uint32_t> window;
      std::vector<char> seen(plant.units(), 0);
      for (const PlantEvent& p : events) {
        if (p.station == station && p.ts >= from && p.ts <= to && !seen[p.unit]) {
          seen[p.unit] = 1;
          window.push_back(p.unit);
        }
      }
      std::set<std::string> expected;
      for (std::uint32_t u : window) expected.insert(plant.Serial(u));
      const std::vector<int> depth = plant.BruteAncestors(window);
      std::size_t assemblies = 0;
      for (std::uint32_t u = 0; u < depth.size(); ++u) {
        if (depth[u] > 0) expected.insert(plant.Serial(u)), ++assemblies;
      }
      auto units = store.ListHeldUnits(stored->hold_id);
      ASSERT_TRUE(units.ok());
      std::set<std::string> actual;
      for (const auto& u : *units) actual.insert(u.serial);
      EXPECT_EQ(actual.size(), expected.size());
      EXPECT_TRUE(actual == expected) << "hold " << stored->hold_id << ": " << actual.size() << " units held, "
                                      << expected.size() << " expected";
      EXPECT_GT(assemblies, 0u) << "the window's units went into assemblies";
      EXPECT_LT(recorder.first_hold_size[stored->hold_id], static_cast<std::int64_t>(window.size()))
          << "units processed while the alarm was open joined its hold";
      joined_while_open += window.size() - static_cast<std::size_t>(recorder.first_hold_size[stored->hold_id]);
      held_total += actual.size();
      expected_by_hold[stored->hold_id] = std::move(expected);
    }
  }
  std::printf("%zu alarms, %zu units held (%zu joined while their alarm was open), checked in %.1f s\n",
              recorder.opened.size(), held_total, joined_while_open, SecondsSince(t0));

  // Dispositions through the API: in the first hold every 7th unit (in serial order) is
  // released, then every unit still held but every 5th is scrapped.
  const std::string bearer = "Bearer qa-token-0123456789abcdef";
  const std::int64_t hold = expected_by_hold.begin()->first;
  const std::vector<std::string> serials(expected_by_hold.begin()->second.begin(),
                                         expected_by_hold.begin()->second.end());
  nlohmann::json release = nlohmann::json::array(), exclude = nlohmann::json::array();
  std::map<std::string, std::string> want;  // serial -> state
  for (std::size_t i = 0; i < serials.size(); ++i) {
    if (i % 7 == 0) {
      release.push_back(serials[i]);
      want[serials[i]] = "released";
    } else if (i % 5 == 0) {
      exclude.push_back(serials[i]);
      want[serials[i]] = "held";
    } else {
      want[serials[i]] = "scrapped";
    }
  }
  auto r = engine.HandleApi("POST", "/api/holds/" + std::to_string(hold) + "/dispose", "",
                            nlohmann::json{{"state", "released"}, {"reason", "conforming_on_retest"},
                                           {"meaning", "released by"}, {"serials", release}}
                                .dump(),
                            bearer);
  ASSERT_EQ(r.status, 200) << r.body;
  r = engine.HandleApi("POST", "/api/holds/" + std::to_string(hold) + "/dispose", "",
                       nlohmann::json{{"state", "scrapped"}, {"reason", "nonconforming"}, {"meaning", "approved by"},
                                      {"all", true}, {"exclude", exclude}}
                           .dump(),
                       bearer);
  ASSERT_EQ(r.status, 200) << r.body;
  auto after = store.ListHeldUnits(hold);
  ASSERT_TRUE(after.ok());
  std::map<std::string, std::string> got;
  for (const auto& u : *after) got[u.serial] = u.state;
  EXPECT_TRUE(got == want) << "states after the dispositions";
  // A disposition of a unit no longer held changes nothing.
  r = engine.HandleApi("POST", "/api/holds/" + std::to_string(hold) + "/dispose", "",
                       nlohmann::json{{"state", "released"}, {"reason", "other"}, {"meaning", "released by"},
                                      {"serials", {release[0], exclude[0]}}}
                           .dump(),
                       bearer);
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_EQ(got[exclude[0].get<std::string>()], "held");
  auto still = store.HoldsOfUnit(exclude[0].get<std::string>());
  ASSERT_TRUE(still.ok());
  bool held_there = false;
  for (const auto& h : *still) held_there |= h.hold_id == hold && h.state == "held";
  EXPECT_TRUE(held_there);

  // The interlock for a sample of units: held exactly when some hold still holds it.
  std::mt19937_64 rng(11);
  int asked = 0, held_answers = 0;
  for (int i = 0; i < 300; ++i) {
    const std::uint32_t u =
        static_cast<std::uint32_t>(std::uniform_int_distribution<std::uint32_t>(0, plant.units() - 1)(rng));
    std::string serial = plant.Serial(u);
    if (i % 3 == 0) {  // bias the sample towards held units
      auto it = expected_by_hold.rbegin()->second.begin();
      std::advance(it, static_cast<long>(static_cast<std::size_t>(i) % expected_by_hold.rbegin()->second.size()));
      serial = *it;
    }
    bool expect_held = false;
    for (const auto& [h, set] : expected_by_hold) {
      if (!set.count(serial)) continue;
      expect_held |= h != hold || want[serial] == "held";
    }
    auto answer = nlohmann::json::parse(engine.HandleApi("GET", "/api/units/" + serial, "").body);
    EXPECT_EQ(answer["status"], expect_held ? "held" : "free") << serial;
    ++asked;
    held_answers += expect_held;
  }
  EXPECT_GT(held_answers, 50);
  std::printf("dispositions and %d interlock answers (%d held) checked; total %.1f s\n", asked, held_answers,
              SecondsSince(t0));
}

}  // namespace
}  // namespace shewhart::engine
