#pragma once
// A generated plant for genealogy tests and benchmarks (trace_plant_test.cc, trace_bench.cc),
// with brute-force answers to the trace queries computed over the generated records by
// scanning all of them, level by level, the way no index would.
//
// `lines` lines of `stations` stations. Components pass the first stations - 2 stations
// (one record each), then the assembly station, where every `assembly_size` consecutive good
// components of a line become one assembly (each component's record there names it as parent;
// the assembly has its own record there), then the assembly alone passes the last station, its
// record naming its crate (every `crate_size` assemblies of a line; crates have no records of
// their own). About 1 % of components are scrapped before assembly. Lots: at each component
// station a lot lasts `lot_size` components of the line (by default a shift); the second
// station also draws a second lot (a material lot lasting 1.5 lot sizes, so lots overlap); the
// assembly station draws a housing lot lasting lot_size / assembly_size assemblies. Two machines per station
// (picked at random), one operator per line and shift (8 h). Record times advance by `cadence`
// per component with a random jitter of up to a third of it (so records are not in time
// order), and records are listed unit by unit, not by time. Everything follows from `seed`.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "shewhart/engine/model/measurement.h"
#include "shewhart/engine/model/time_format.h"

namespace shewhart::testing {

// Seconds of the steady clock since `t0` (progress lines of the plant tests and benches).
inline double SecondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

struct PlantOptions {
  int lines = 3;
  int stations = 5;                            // per line, at least 3
  std::int64_t components = 1'000'000;
  int assembly_size = 4;
  int crate_size = 50;
  std::int64_t lot_size = 9600;                // components per lot at a component station: a
                                               // shift (8 h) of a line at the default cadence
  std::int64_t cadence_us = 3'000'000;         // between two components of one line
  std::int64_t start_us = 1'795'000'000'000'000;  // 2026-11-18
  std::uint64_t seed = 1;
};

// One genealogy record, compactly. Unit ids: components [0, components), then assemblies,
// then crates; ids of stations (line * stations + station), machines, operators and lots are
// dense too.
struct PlantEvent {
  std::int64_t ts = 0;                // Unix microseconds
  std::uint32_t unit = 0;
  std::int32_t parent = -1;           // unit id, -1 for none
  std::uint32_t lots[2] = {0, 0};
  std::uint16_t station = 0;
  std::uint16_t machine = 0;
  std::uint16_t op = 0;
  std::uint8_t lot_count = 0;
};

class Plant {
 public:
  explicit Plant(const PlantOptions& o) : o_(o) { Generate(); }

  const PlantOptions& options() const { return o_; }
  const std::vector<PlantEvent>& events() const { return events_; }
  std::uint32_t units() const { return next_unit_; }
  std::uint32_t lots() const { return next_lot_; }
  std::uint16_t stations() const { return static_cast<std::uint16_t>(o_.lines * o_.stations); }
  std::uint32_t first_assembly() const { return static_cast<std::uint32_t>(o_.components); }
  std::uint32_t first_crate() const { return first_crate_; }

  std::string Serial(std::uint32_t unit) const {
    char buf[24];
    if (unit < first_assembly()) {
      std::snprintf(buf, sizeof buf, "C%08u", unit);
    } else if (unit < first_crate_) {
      std::snprintf(buf, sizeof buf, "A%07u", unit - first_assembly());
    } else {
      std::snprintf(buf, sizeof buf, "K%06u", unit - first_crate_);
    }
    return buf;
  }
  std::string Lot(std::uint32_t lot) const { return "L" + std::to_string(lot); }
  std::string Station(std::uint16_t station) const {
    return "s" + std::to_string(station / o_.stations) + "." + std::to_string(station % o_.stations);
  }
  std::string Machine(std::uint16_t machine) const { return "M" + std::to_string(machine); }
  std::string Operator(std::uint16_t op) const { return "op" + std::to_string(op); }

  void ToUnitEvent(const PlantEvent& p, engine::UnitEvent& e) const {
    e = engine::UnitEvent{};
    e.unit.Assign(Serial(p.unit));
    e.station.Assign(Station(p.station));
    e.machine.Assign(Machine(p.machine));
    e.op.Assign(Operator(p.op));
    e.model.Assign("PB-10K");
    if (p.parent >= 0) e.parent.Assign(Serial(static_cast<std::uint32_t>(p.parent)));
    e.ts = engine::FromUnixMicros(p.ts);
    e.lot_count = p.lot_count;
    for (int i = 0; i < p.lot_count; ++i) e.lots[static_cast<std::size_t>(i)].Assign(Lot(p.lots[i]));
  }

  // ---- Brute force over events(): each function scans every record once per level. ----

  // Unit id -> earliest ts of its records at `station` with ts in [from, to); -1 when none.
  std::vector<std::int64_t> BruteWindowStation(std::uint16_t station, std::int64_t from, std::int64_t to) const {
    std::vector<std::int64_t> first(next_unit_, -1);
    for (const PlantEvent& e : events_) {
      if (e.station != station || e.ts < from || e.ts >= to) continue;
      if (first[e.unit] < 0 || e.ts < first[e.unit]) first[e.unit] = e.ts;
    }
    return first;
  }
  // The same for records listing `lot`.
  std::vector<std::int64_t> BruteWindowLot(std::uint32_t lot, std::int64_t from, std::int64_t to) const {
    std::vector<std::int64_t> first(next_unit_, -1);
    for (const PlantEvent& e : events_) {
      if (e.ts < from || e.ts >= to) continue;
      bool has = false;
      for (int i = 0; i < e.lot_count; ++i) has |= e.lots[i] == lot;
      if (has && (first[e.unit] < 0 || e.ts < first[e.unit])) first[e.unit] = e.ts;
    }
    return first;
  }
  // Unit id -> depth (0: consumed `lot`; k: assembly k links above such a unit); -1 unreached.
  std::vector<int> BruteForward(std::uint32_t lot) const {
    std::vector<int> depth(next_unit_, -1);
    for (const PlantEvent& e : events_) {
      for (int i = 0; i < e.lot_count; ++i) {
        if (e.lots[i] == lot) depth[e.unit] = 0;
      }
    }
    LevelsUp(depth, 0);
    return depth;
  }
  // Unit id -> depth of every assembly containing one of `serials`, recursively; the given
  // units themselves are marked 0.
  std::vector<int> BruteAncestors(const std::vector<std::uint32_t>& units) const {
    std::vector<int> depth(next_unit_, -1);
    for (std::uint32_t u : units) depth[u] = 0;
    LevelsUp(depth, 0);
    return depth;
  }
  // Unit id -> depth below `unit` (its components 1, theirs 2 ...); `unit` itself 0.
  std::vector<int> BruteDescendants(std::uint32_t unit) const {
    std::vector<int> depth(next_unit_, -1);
    depth[unit] = 0;
    for (int level = 0;; ++level) {
      bool grew = false;
      for (const PlantEvent& e : events_) {
        if (e.parent >= 0 && depth[static_cast<std::uint32_t>(e.parent)] == level && depth[e.unit] < 0) {
          depth[e.unit] = level + 1;
          grew = true;
        }
      }
      if (!grew) return depth;
    }
  }
  // The records of `unit`, by time.
  std::vector<PlantEvent> BruteRoute(std::uint32_t unit) const {
    std::vector<PlantEvent> out;
    for (const PlantEvent& e : events_) {
      if (e.unit == unit) out.push_back(e);
    }
    std::stable_sort(out.begin(), out.end(), [](const PlantEvent& a, const PlantEvent& b) { return a.ts < b.ts; });
    return out;
  }

 private:
  // From the units at `level` in `depth`, marks their parents level + 1, and so on.
  void LevelsUp(std::vector<int>& depth, int level) const {
    for (;; ++level) {
      bool grew = false;
      for (const PlantEvent& e : events_) {
        if (e.parent >= 0 && depth[e.unit] == level && depth[static_cast<std::uint32_t>(e.parent)] < 0) {
          depth[static_cast<std::uint32_t>(e.parent)] = level + 1;
          grew = true;
        }
      }
      if (!grew) return;
    }
  }

  void Generate() {
    std::mt19937_64 rng(o_.seed);
    const int component_stations = o_.stations - 2;
    const int assembly_station = o_.stations - 2;
    const std::int64_t per_line = (o_.components + o_.lines - 1) / o_.lines;
    const std::int64_t assemblies_max = o_.components / o_.assembly_size + o_.lines;
    first_crate_ = static_cast<std::uint32_t>(o_.components + assemblies_max);
    next_unit_ = first_crate_;
    // Lot ids: per (line, station, index) for component lots; material and housing lots follow.
    auto lot_id = [&](std::int64_t line, std::int64_t kind, std::int64_t index) {
      // kind: 0 .. component_stations-1 component stations, +0 material, +1 housing
      const std::int64_t kinds = component_stations + 2;
      const std::int64_t per_line_lots = per_line / std::max<std::int64_t>(1, o_.lot_size / 2) + 2;
      return static_cast<std::uint32_t>((line * kinds + kind) * per_line_lots + index);
    };
    std::uniform_int_distribution<std::int64_t> jitter(0, o_.cadence_us / 3);
    std::uniform_int_distribution<int> machine_pick(0, 1);
    std::uniform_int_distribution<int> percent(0, 99);
    events_.reserve(static_cast<std::size_t>(o_.components) * 9 / 2 + 16);
    std::uint32_t next_assembly = first_assembly();
    std::uint32_t next_crate = first_crate_;
    std::uint32_t max_lot = 0;
    auto add = [&](PlantEvent e) {
      for (int i = 0; i < e.lot_count; ++i) max_lot = std::max(max_lot, e.lots[i]);
      events_.push_back(e);
    };
    for (int line = 0; line < o_.lines; ++line) {
      const std::int64_t n = std::min<std::int64_t>(per_line, o_.components - line * per_line);
      std::vector<std::uint32_t> pending;  // good components waiting for their assembly
      std::vector<std::int64_t> pending_ts;
      std::int64_t assemblies_on_line = 0;
      std::int32_t crate = -1;
      for (std::int64_t p = 0; p < n; ++p) {
        const auto unit = static_cast<std::uint32_t>(line * per_line + p);
        const std::int64_t t0 = o_.start_us + p * o_.cadence_us + line * 7'000'000;
        const auto op = static_cast<std::uint16_t>(line * 3 + (t0 / 28'800'000'000LL) % 3);
        std::int64_t ts = t0;
        for (int s = 0; s < component_stations; ++s) {
          ts += 60'000'000 + jitter(rng);
          PlantEvent e;
          e.ts = ts;
          e.unit = unit;
          e.station = static_cast<std::uint16_t>(line * o_.stations + s);
          e.machine = static_cast<std::uint16_t>(e.station * 2 + machine_pick(rng));
          e.op = op;
          e.lots[0] = lot_id(line, s, p / o_.lot_size);
          e.lot_count = 1;
          if (s == 1) {
            e.lots[1] = lot_id(line, component_stations, p / (o_.lot_size * 3 / 2));
            e.lot_count = 2;
          }
          add(e);
        }
        if (percent(rng) == 0) continue;  // scrapped before assembly
        pending.push_back(unit);
        pending_ts.push_back(ts + 60'000'000 + jitter(rng));
        if (static_cast<int>(pending.size()) < o_.assembly_size) continue;
        const std::uint32_t assembly = next_assembly++;
        const std::int64_t at = *std::max_element(pending_ts.begin(), pending_ts.end());
        const auto station = static_cast<std::uint16_t>(line * o_.stations + assembly_station);
        for (std::size_t i = 0; i < pending.size(); ++i) {
          PlantEvent e;
          e.ts = pending_ts[i];
          e.unit = pending[i];
          e.parent = static_cast<std::int32_t>(assembly);
          e.station = station;
          e.machine = static_cast<std::uint16_t>(station * 2);
          e.op = op;
          add(e);
        }
        PlantEvent a;
        a.ts = at;
        a.unit = assembly;
        a.station = station;
        a.machine = static_cast<std::uint16_t>(station * 2);
        a.op = op;
        a.lots[0] = lot_id(line, component_stations + 1,
                           assemblies_on_line / std::max<std::int64_t>(1, o_.lot_size / o_.assembly_size));
        a.lot_count = 1;
        add(a);
        if (o_.crate_size > 0 && assemblies_on_line % o_.crate_size == 0)
          crate = static_cast<std::int32_t>(next_crate++);
        PlantEvent t;
        t.ts = at + 120'000'000 + jitter(rng);
        t.unit = assembly;
        t.parent = o_.crate_size > 0 ? crate : -1;
        t.station = static_cast<std::uint16_t>(line * o_.stations + o_.stations - 1);
        t.machine = static_cast<std::uint16_t>(t.station * 2 + machine_pick(rng));
        t.op = op;
        add(t);
        ++assemblies_on_line;
        pending.clear();
        pending_ts.clear();
      }
    }
    next_unit_ = next_crate;
    next_lot_ = max_lot + 1;
  }

  PlantOptions o_;
  std::vector<PlantEvent> events_;
  std::uint32_t first_crate_ = 0;
  std::uint32_t next_unit_ = 0;
  std::uint32_t next_lot_ = 0;
};

}  // namespace shewhart::testing
