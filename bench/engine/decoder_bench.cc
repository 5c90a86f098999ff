// Decoding one JSON measurement (simdjson, one reused parser): messages per second and heap
// allocations per message, for a single `value` and for a T^2 vector of 8 `values`. Checks the
// decoded fields first.

#include "shewhart/engine/ingest/decoder.h"

#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "../alloc_counter.h"

namespace {

using namespace shewhart::engine;

std::vector<std::string> Messages() {
  std::vector<std::string> m;
  for (int i = 0; i < 1024; ++i) {
    char buf[512];
    std::snprintf(
        buf, sizeof buf,
        "{\"characteristic\":\"bore_diameter\",\"value\":74.%06d,\"ts\":\"2026-11-27T08:00:%02d.125Z\","
        "\"serial\":\"SN%08d\",\"station\":\"press3\",\"machine\":\"M3\",\"operator\":\"op7\",\"lot\":\"L42\","
        "\"model\":\"PB-10K\"}",
        i * 7, i % 60, i);
    m.emplace_back(buf);
  }
  return m;
}

void BM_DecodeJsonMeasurement(benchmark::State& state) {
  static const std::vector<std::string> msgs = Messages();
  CharacteristicIndex index({"torque", "bore_diameter"});
  Decoder decoder(index, 65536);
  Decoded d;
  // Check the answer before timing.
  if (decoder.DecodeJson(msgs[5], EventTime{}, d) != DecodedKind::kMeasurement || d.measurement.characteristic != 1 ||
      d.measurement.value != 74.000035 || d.measurement.serial.view() != "SN00000005") {
    std::fprintf(stderr, "decoder bench: wrong answer: %s\n", d.message.c_str());
    std::exit(1);
  }
  std::size_t i = 0, bytes = 0;
  const std::uint64_t before = shewhart::bench::Allocations();
  for (auto _ : state) {
    const std::string& m = msgs[i];
    benchmark::DoNotOptimize(decoder.DecodeJson(m, EventTime{}, d));
    bytes += m.size();
    i = (i + 1) & 1023;
  }
  const std::uint64_t allocs = shewhart::bench::Allocations() - before;
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
  state.counters["msgs_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["allocs_per_msg"] = static_cast<double>(allocs) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_DecodeJsonMeasurement);

// The same message with the eight burner temperatures of a Hotelling T^2 characteristic
// (p = 8) in `values` instead of `value`.
std::vector<std::string> VectorMessages() {
  std::vector<std::string> m;
  for (int i = 0; i < 1024; ++i) {
    char buf[640];
    std::snprintf(buf, sizeof buf,
                  "{\"characteristic\":\"burners\",\"values\":[507.%d,516,527.25,516,499,512,472,477.%03d],"
                  "\"ts\":\"2026-11-27T08:00:%02d.125Z\",\"serial\":\"SN%08d\",\"station\":\"press3\","
                  "\"machine\":\"M3\",\"operator\":\"op7\",\"lot\":\"L42\",\"model\":\"PB-10K\"}",
                  i % 10, i, i % 60, i);
    m.emplace_back(buf);
  }
  return m;
}

void BM_DecodeJsonVectorMeasurement(benchmark::State& state) {
  static const std::vector<std::string> msgs = VectorMessages();
  CharacteristicIndex index({"bore_diameter", "burners"}, {false, false}, {0, 8});
  Decoder decoder(index, 65536);
  Decoded d;
  // Check the answer before timing.
  if (decoder.DecodeJson(msgs[5], EventTime{}, d) != DecodedKind::kMeasurement || d.measurement.characteristic != 1 ||
      d.measurement.value_count != 8 || d.measurement.values[0] != 507.5 || d.measurement.values[2] != 527.25 ||
      d.measurement.values[7] != 477.005 || d.measurement.serial.view() != "SN00000005") {
    std::fprintf(stderr, "decoder bench: wrong answer for a vector: %s\n", d.message.c_str());
    std::exit(1);
  }
  // simdjson's parser grows its buffers to the longest document it has seen (the messages
  // differ in length by a byte): see them all once, so that only steady state is counted.
  for (const std::string& m : msgs) benchmark::DoNotOptimize(decoder.DecodeJson(m, EventTime{}, d));
  std::size_t i = 0, bytes = 0;
  const std::uint64_t before = shewhart::bench::Allocations();
  for (auto _ : state) {
    const std::string& m = msgs[i];
    benchmark::DoNotOptimize(decoder.DecodeJson(m, EventTime{}, d));
    bytes += m.size();
    i = (i + 1) & 1023;
  }
  const std::uint64_t allocs = shewhart::bench::Allocations() - before;
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
  state.counters["msgs_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["allocs_per_msg"] = static_cast<double>(allocs) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_DecodeJsonVectorMeasurement);

// shewhart-load's frame (bench/load/load_gen.cc) against its 100 characteristics: what the
// end-to-end runs of bench/run-e2e decode.
std::vector<std::string> LoadMessages() {
  std::vector<std::string> m;
  for (int i = 0; i < 1024; ++i) {
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  "{\"characteristic\":\"c%04d\",\"value\":10%d.%06d,\"ts\":1795766400%03d,\"station\":\"st%02d\","
                  "\"sent_ns\":5839%09d}",
                  i % 100, i % 3, i * 7, i % 1000, i % 10 + 1, i);
    m.emplace_back(buf);
  }
  return m;
}

void BM_DecodeJsonLoadMessage(benchmark::State& state) {
  static const std::vector<std::string> msgs = LoadMessages();
  std::vector<std::string> ids;
  for (int c = 0; c < 100; ++c) {
    char id[16];
    std::snprintf(id, sizeof id, "c%04d", c);
    ids.emplace_back(id);
  }
  CharacteristicIndex index(ids);
  Decoder decoder(index, 65536);
  Decoded d;
  if (decoder.DecodeJson(msgs[57], EventTime{}, d) != DecodedKind::kMeasurement || d.measurement.characteristic != 57 ||
      d.measurement.value != 100.000399 || d.measurement.station.view() != "st08" || d.ts_defaulted) {
    std::fprintf(stderr, "decoder bench: wrong answer for a load message: %s\n", d.message.c_str());
    std::exit(1);
  }
  std::size_t i = 0, bytes = 0;
  const std::uint64_t before = shewhart::bench::Allocations();
  for (auto _ : state) {
    const std::string& m = msgs[i];
    benchmark::DoNotOptimize(decoder.DecodeJson(m, EventTime{}, d));
    bytes += m.size();
    i = (i + 1) & 1023;
  }
  const std::uint64_t allocs = shewhart::bench::Allocations() - before;
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
  state.counters["msgs_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["allocs_per_msg"] = static_cast<double>(allocs) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_DecodeJsonLoadMessage);

}  // namespace

BENCHMARK_MAIN();
