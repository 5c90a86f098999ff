#pragma once
// The measurement model: what sources decode and shards consume.
//
// Measurement is trivially copyable with its context labels held inline (FixedString), so that
// it travels through the bounded shard queues without allocating. A label longer than its
// capacity is a decode error (reason "oversize"), never silently truncated.

#include <array>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "shewhart/rules/types.h"

namespace shewhart::engine {

using rules::EventTime;

// Characteristic id interned at config load: its position in Config::characteristics.
using CharacteristicId = std::uint32_t;

template <std::size_t Capacity>
class FixedString {
 public:
  static constexpr std::size_t kCapacity = Capacity;
  // Returns false (and leaves the string unchanged) if `s` does not fit.
  bool Assign(std::string_view s) {
    if (s.size() > Capacity) return false;
    std::memcpy(data_, s.data(), s.size());
    size_ = static_cast<std::uint8_t>(s.size());
    return true;
  }
  std::string_view view() const { return {data_, size_}; }
  bool empty() const { return size_ == 0; }
  std::size_t size() const { return size_; }
  void clear() { size_ = 0; }

 private:
  static_assert(Capacity < 256);
  char data_[Capacity];
  std::uint8_t size_ = 0;
};

using Label = FixedString<63>;

// The most variables one multivariate (Hotelling T^2) measurement carries inline. A T^2 chart
// has at most this many variables (the config refuses more); a longer `values` array is a
// decode error (reason "oversize"). 16 doubles add 128 bytes to every queue slot.
inline constexpr std::size_t kMaxValues = 16;

// sizeof(Measurement) is 648 bytes on x86-64 (seven 64-byte labels, 16 doubles of values): one
// shard-queue slot; engine.queue_capacity slots per shard are allocated at start.
struct Measurement {
  CharacteristicId characteristic = 0;
  bool has_value = false;    // variables data
  double value = 0;
  // Multivariate data (a T^2 characteristic): the p variables in values[0..value_count), in
  // the order of the chart's `variables`; value_count is 0 for every other characteristic.
  std::uint8_t value_count = 0;
  std::array<double, kMaxValues> values{};
  bool has_count = false;    // attribute data: count nonconforming / defects in a sample of n
  std::int64_t count = 0;
  double n = 0;  // sample size, or inspection units (a u chart's may be fractional)
  EventTime ts{};
  std::int64_t position = 0;  // message number within its source (1-based; the line for files), 0 unknown
  // When the engine received it: steady-clock nanoseconds (SteadyNowNs), 0 unknown (replay and
  // file sources leave it 0). Arrival-to-signal latency counts from here.
  std::int64_t arrival_ns = 0;
  Label serial, station, machine, op, lot, model, subgroup;
};

// The steady clock in nanoseconds since its epoch: the unit of Measurement::arrival_ns.
inline std::int64_t SteadyNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

inline constexpr std::size_t kMaxLotsPerUnit = 8;

// A genealogy record: unit processed at a station at a time, with the lots it consumed.
// Also made from a measurement's context (from_measurement), so that measured units are in
// the genealogy even when no unit event names them. Trivially copyable, like Measurement.
struct UnitEvent {
  Label unit, station, machine, op, model, parent;
  EventTime ts{};
  std::array<Label, kMaxLotsPerUnit> lots;
  std::uint8_t lot_count = 0;
  bool from_measurement = false;
};

}  // namespace shewhart::engine
