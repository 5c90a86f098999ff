// shewhart-load: the end-to-end load generator (bench/run-e2e drives it).
//
// Sends measurements, and unit events at a configured ratio, in the engine's wire format
// (DESIGN.md "Wire format": one JSON object per ZeroMQ frame) over a PUSH socket that connects
// to a PULL socket (`shewhart run`'s zmq source, or shewhart-count-sink), at a fixed rate or as
// fast as the socket takes them, for a count of measurements or a duration.
//
// What is sent is predictable, so that a receiver's counts can be checked exactly:
//   - measurement i (from 0) is of characteristic i % K, the j = i / K-th of that
//     characteristic, at station j % S;
//   - its value is mean + sigma * kPattern[(j + 7c) % 20]: a fixed in-control sequence chosen so
//     that no Nelson rule (1-8, Minitab's lengths) fires on an individuals chart with known
//     limits (mean, sigma);
//   - with --ooc-every P, the j-th value of characteristic c is replaced, when
//     (j + o_c) % P == P - 1 with o_c = c * P / K (integer division; it staggers the
//     characteristics so that their out-of-control points do not come in bursts), by
//     mean +/- 6 sigma (the sign alternating per characteristic): exactly one nelson.1 signal
//     each and no other rule, so a config from --print-config signals once per such point; a
//     characteristic with n_c measurements has floor((n_c + o_c) / P) of them;
//   - every message carries "sent_ns", its send time on the steady clock (CLOCK_MONOTONIC, ns),
//     a field the engine ignores; "ts" is the wall-clock time of sending in epoch milliseconds.
// The summary (one JSON line on stdout at exit) gives what was sent and the signals expected.
//
// Exit codes: 0 done (also after SIGINT/SIGTERM), 1 ZeroMQ or file error, 2 usage error.

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

#include <sys/prctl.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <zmq.h>

#include "shewhart/engine/model/key_group.h"

namespace {

// The in-control sequence, in sigmas from the mean (see the header comment). Within +/-1.6
// sigma, never more than 3 points on one side, monotone runs of at most 3 points, a point beyond
// 1 sigma at least every 5, at most one per side in any 5: it stays clear of nelson.2-8 also
// after any one point is replaced by +/-6 sigma, every 10th point or less often.
constexpr double kPattern[] = {0.3, 0.7, -0.4, -1.3, 0.5, 0.2, -0.6, 0.9,  1.4, -0.2,
                               -0.8, 0.4, 0.1, -1.2, -0.5, 0.6, 0.3, -0.7, 1.2, 0.8};
constexpr std::size_t kPatternSize = sizeof kPattern / sizeof kPattern[0];
constexpr double kOutOfControlSigmas = 6.0;
constexpr std::uint64_t kMinOocEvery = 10;
constexpr int kLotSize = 50;  // unit events per lot id of a station
constexpr std::int64_t kMinSleepNs = 50'000;  // pacing granularity (see Run)

volatile std::sig_atomic_t g_stop = 0;
extern "C" void OnStop(int) { g_stop = 1; }

struct Options {
  std::vector<std::string> connect{"tcp://127.0.0.1:5555"};
  int route_shards = 0;  // > 0: characteristic -> connect[ShardOfGroup(KeyGroupOf(id), route_shards)]
  std::string output;  // a JSON-lines file instead of ZeroMQ
  double rate = 0;     // measurements per second; 0 = as fast as possible
  std::uint64_t count = 0;
  double duration_s = 0;
  int characteristics = 100;
  int stations = 10;
  std::string prefix = "c";
  std::uint64_t ooc_every = 1000;
  double unit_ratio = 0;
  bool serials = false;
  double mean = 100.0;
  double sigma = 1.0;
  int sndhwm = 100000;
  int linger_ms = 10000;
  bool print_config = false;
  bool quiet = false;
};

std::int64_t SteadyNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

std::int64_t WallMs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

std::string CharacteristicName(const Options& o, int c) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d", c);
  return o.prefix + buf;
}

std::string StationName(int s) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "st%02d", s + 1);
  return buf;
}

// Values are printed with 6 decimals ("%.6f" never depends on the locale here: no setlocale).
std::string FormatValue(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6f", v);
  return buf;
}

std::string FormatG(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// Builds frames into one reused buffer: no allocation per message.
class FrameWriter {
 public:
  void Reset() { n_ = 0; }
  void Put(std::string_view s) {
    std::memcpy(buf_ + n_, s.data(), s.size());
    n_ += s.size();
  }
  void PutInt(std::int64_t v) {
    n_ = static_cast<std::size_t>(std::to_chars(buf_ + n_, buf_ + sizeof buf_, v).ptr - buf_);
  }
  std::string_view view() const { return {buf_, n_}; }

 private:
  char buf_[512];
  std::size_t n_ = 0;
};

// Where frames go: a PUSH socket or a file.
class Output {
 public:
  ~Output() { Close(); }

  // One PUSH socket per endpoint.
  bool OpenZmq(const Options& o) {
    ctx_ = zmq_ctx_new();
    for (const auto& endpoint : o.connect) {
      void* sock = zmq_socket(ctx_, ZMQ_PUSH);
      socks_.push_back(sock);
      int linger = o.linger_ms, hwm = o.sndhwm, timeout = 100;
      zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
      zmq_setsockopt(sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
      zmq_setsockopt(sock, ZMQ_SNDTIMEO, &timeout, sizeof timeout);  // look at the stop flag while blocked
      if (zmq_connect(sock, endpoint.c_str()) != 0) {
        std::fprintf(stderr, "shewhart-load: cannot connect to %s: %s\n", endpoint.c_str(), zmq_strerror(errno));
        return false;
      }
    }
    return true;
  }

  bool OpenFile(const std::string& path) {
    file_ = std::fopen(path.c_str(), "w");
    if (!file_) {
      std::fprintf(stderr, "shewhart-load: cannot write %s: %s\n", path.c_str(), std::strerror(errno));
      return false;
    }
    return true;
  }

  // Sends one frame on socket `to` (the endpoint's position), blocking while the socket's queue
  // is full (ZeroMQ PUSH back-pressure). False when stopped by a signal first, or on an error
  // (printed).
  bool Send(std::string_view frame, std::size_t to) {
    if (file_) {
      if (std::fwrite(frame.data(), 1, frame.size(), file_) != frame.size() || std::fputc('\n', file_) == EOF) {
        std::fprintf(stderr, "shewhart-load: write failed: %s\n", std::strerror(errno));
        return false;
      }
      return true;
    }
    for (;;) {
      if (zmq_send(socks_[to], frame.data(), frame.size(), 0) >= 0) return true;
      if (errno == EAGAIN || errno == EINTR) {
        if (g_stop) return false;
        ++blocked_;
        continue;
      }
      std::fprintf(stderr, "shewhart-load: send failed: %s\n", zmq_strerror(errno));
      return false;
    }
  }

  // Closes; with ZeroMQ, waits up to the linger period for queued frames to reach the peer.
  bool Close() {
    bool ok = true;
    if (file_) {
      ok = std::fclose(file_) == 0;
      file_ = nullptr;
    }
    for (void* sock : socks_) zmq_close(sock);
    socks_.clear();
    if (ctx_) zmq_ctx_term(ctx_);
    ctx_ = nullptr;
    return ok;
  }

  std::uint64_t blocked() const { return blocked_; }  // 100 ms send timeouts while the queue was full

 private:
  void* ctx_ = nullptr;
  std::vector<void*> socks_;
  std::FILE* file_ = nullptr;
  std::uint64_t blocked_ = 0;
};

void PrintConfig(const Options& o) {
  std::printf("# %d characteristics for shewhart-load (individuals, known limits, all Nelson rules;\n"
              "# each --ooc-every point fires nelson.1 once and nothing else fires).\n"
              "characteristics:\n",
              o.characteristics);
  for (int c = 0; c < o.characteristics; ++c) {
    std::printf("  - id: %s\n"
                "    chart: { type: individuals, mr_rules: false }\n"
                "    limits: { mean: %s, sigma: %s }\n"
                "    rules: [nelson.1, nelson.2, nelson.3, nelson.4, nelson.5, nelson.6, nelson.7, nelson.8]\n"
                "    scope: [station]\n",
                CharacteristicName(o, c).c_str(), FormatValue(o.mean).c_str(), FormatValue(o.sigma).c_str());
  }
}

int Run(const Options& o) {
  const int k = o.characteristics, s_count = o.stations;
  // Everything that does not change per message is formatted once.
  std::vector<std::string> heads(static_cast<std::size_t>(k));
  for (int c = 0; c < k; ++c)
    heads[static_cast<std::size_t>(c)] = "{\"characteristic\":\"" + CharacteristicName(o, c) + "\",\"value\":";
  std::vector<std::string> in_control;
  for (double z : kPattern) in_control.push_back(FormatValue(o.mean + o.sigma * z));
  const std::string ooc_high = FormatValue(o.mean + kOutOfControlSigmas * o.sigma);
  const std::string ooc_low = FormatValue(o.mean - kOutOfControlSigmas * o.sigma);
  std::vector<std::string> station_fields, lot_heads;
  for (int s = 0; s < s_count; ++s) {
    station_fields.push_back(",\"station\":\"" + StationName(s) + "\"");
    lot_heads.push_back(",\"lots\":[\"L-" + StationName(s) + "-");
  }
  std::vector<std::uint8_t> next_high(static_cast<std::size_t>(k), 1);  // sign of each characteristic's next OOC point
  std::vector<std::uint64_t> ooc_offset(static_cast<std::size_t>(k));    // o_c
  for (int c = 0; c < k; ++c) {
    ooc_offset[static_cast<std::size_t>(c)] =
        static_cast<std::uint64_t>(c) * o.ooc_every / static_cast<std::uint64_t>(k);
  }
  std::vector<std::uint64_t> units_at(static_cast<std::size_t>(s_count), 0);
  // The endpoint of each characteristic: with --route-shards, the one whose source judges its
  // shard (engine.judge: source; Engine::RegisterSource); otherwise spread by position.
  std::vector<std::size_t> endpoint_of(static_cast<std::size_t>(k));
  for (int c = 0; c < k; ++c) {
    const std::size_t e =
        o.route_shards > 0
            ? shewhart::engine::ShardOfGroup(shewhart::engine::KeyGroupOf(CharacteristicName(o, c)),
                                             static_cast<std::size_t>(o.route_shards))
            : static_cast<std::size_t>(c);
    endpoint_of[static_cast<std::size_t>(c)] = e % o.connect.size();
  }

  Output out;
  if (!(o.output.empty() ? out.OpenZmq(o) : out.OpenFile(o.output))) return 1;

  FrameWriter w;
  std::uint64_t sent = 0, units = 0, ooc = 0, bytes = 0, serial = 0;
  double unit_credit = 0;
  const std::int64_t wall0 = WallMs();
  const std::int64_t t0 = SteadyNs();
  const std::int64_t end_ns = o.duration_s > 0 ? t0 + static_cast<std::int64_t>(o.duration_s * 1e9) : INT64_MAX;
  const double ns_per_msg = o.rate > 0 ? 1e9 / o.rate : 0;
  std::int64_t first_send = 0, last_send = 0, next_progress = t0 + 5'000'000'000;
  bool failed = false;
  std::int64_t now = t0;

  auto send = [&](std::string_view frame, std::size_t to) {
    if (!out.Send(frame, to)) return false;
    bytes += frame.size();
    return true;
  };

  while (!g_stop && (o.count == 0 || sent < o.count)) {
    now = SteadyNs();
    if (now >= end_ns) break;
    if (o.rate > 0) {
      // Measurement `sent` is due at t0 + sent / rate: sleep until then when it is not yet due,
      // but at least kMinSleepNs, so that a high rate is sent in short bursts of the messages
      // due by then instead of one sleep per message (which would keep this core busy).
      const auto due = t0 + static_cast<std::int64_t>(static_cast<double>(sent) * ns_per_msg);
      if (due > now) {
        const std::int64_t wake = std::min(std::max(due, now + kMinSleepNs), end_ns);
        timespec ts{static_cast<time_t>(wake / 1000000000), static_cast<long>(wake % 1000000000)};
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
        continue;
      }
    }
    const std::uint64_t i = sent;
    const int c = static_cast<int>(i % static_cast<std::uint64_t>(k));
    const std::uint64_t j = i / static_cast<std::uint64_t>(k);
    const int station = static_cast<int>(j % static_cast<std::uint64_t>(s_count));
    std::string_view value = in_control[(j + 7 * static_cast<std::uint64_t>(c)) % kPatternSize];
    if (o.ooc_every > 0 && (j + ooc_offset[static_cast<std::size_t>(c)]) % o.ooc_every == o.ooc_every - 1) {
      auto& high = next_high[static_cast<std::size_t>(c)];
      value = high ? ooc_high : ooc_low;
      high = !high;
      ++ooc;
    }
    const std::int64_t ts_ms = wall0 + (now - t0) / 1000000;
    w.Reset();
    w.Put(heads[static_cast<std::size_t>(c)]);
    w.Put(value);
    w.Put(",\"ts\":");
    w.PutInt(ts_ms);
    w.Put(station_fields[static_cast<std::size_t>(station)]);
    if (o.serials) {
      w.Put(",\"serial\":\"M");
      w.PutInt(static_cast<std::int64_t>(i + 1));
      w.Put("\"");
    }
    w.Put(",\"sent_ns\":");
    w.PutInt(now);
    w.Put("}");
    if (!send(w.view(), endpoint_of[static_cast<std::size_t>(c)])) {
      failed = !g_stop;
      break;
    }
    if (sent == 0) first_send = now;
    last_send = now;
    ++sent;
    // Unit events: `unit_ratio` per measurement on average, sent right after the measurement
    // that completes each one's credit.
    unit_credit += o.unit_ratio;
    while (unit_credit >= 1.0) {
      unit_credit -= 1.0;
      const int us = static_cast<int>(serial % static_cast<std::uint64_t>(s_count));
      ++serial;
      const std::uint64_t lot = units_at[static_cast<std::size_t>(us)]++ / kLotSize + 1;
      w.Reset();
      w.Put("{\"unit\":\"U");
      w.PutInt(static_cast<std::int64_t>(serial));
      w.Put("\"");
      w.Put(station_fields[static_cast<std::size_t>(us)]);
      w.Put(",\"ts\":");
      w.PutInt(ts_ms);
      w.Put(lot_heads[static_cast<std::size_t>(us)]);
      w.PutInt(static_cast<std::int64_t>(lot));
      w.Put("\"],\"sent_ns\":");
      w.PutInt(SteadyNs());
      w.Put("}");
      if (!send(w.view(), static_cast<std::size_t>(us) % o.connect.size())) {
        failed = !g_stop;
        break;
      }
      ++units;
    }
    if (failed) break;
    if (!o.quiet && now >= next_progress) {
      std::fprintf(stderr, "shewhart-load: %" PRIu64 " measurements, %" PRIu64 " unit events sent (%.0f/s)\n", sent,
                   units, static_cast<double>(sent) / (static_cast<double>(now - t0) / 1e9));
      next_progress = now + 5'000'000'000;
    }
  }
  const std::int64_t sent_done = SteadyNs();
  const std::uint64_t blocked = out.blocked();
  const bool closed = out.Close();
  const std::int64_t flushed = SteadyNs();
  const double send_s = static_cast<double>(std::max<std::int64_t>(last_send - first_send, 1)) / 1e9;
  // The summary (one JSON line, nlohmann); the messages above are written by hand into the
  // send buffer because the generator must outrun the engine by a wide margin.
  const nlohmann::ordered_json summary{
      {"measurements", sent},         {"unit_events", units},
      {"frames", sent + units},       {"bytes", bytes},
      {"out_of_control", ooc},        {"expected_signals", ooc},
      {"first_send_ns", first_send},  {"last_send_ns", last_send},
      {"sent_ns", sent_done},         {"flushed_ns", flushed},
      {"rate", sent > 1 ? static_cast<double>(sent - 1) / send_s : 0.0},
      {"blocked_100ms", blocked},     {"stopped_by_signal", g_stop != 0}};
  std::printf("%s\n", summary.dump().c_str());
  std::fflush(stdout);
  if (!closed) {
    std::fprintf(stderr, "shewhart-load: closing %s failed: %s\n", o.output.c_str(), std::strerror(errno));
    return 1;
  }
  return failed ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{
      "shewhart-load: sends measurements (and unit events) to a ZeroMQ PULL socket -- `shewhart run`'s zmq source or\n"
      "shewhart-count-sink -- over a PUSH socket that connects, one JSON message per frame, for load tests.\n"
      "Measurement i is of characteristic PREFIX%04d (i % K) at station st%02d; values repeat a fixed in-control\n"
      "sequence around --mean, and every --ooc-every-th value of each characteristic (staggered between "
      "characteristics)\n"
      "is mean +/- 6 sigma: with the config --print-config prints, each of those fires exactly one nelson.1 signal "
      "and\n"
      "nothing else fires.\n"
      "Each message carries \"sent_ns\" (send time, CLOCK_MONOTONIC ns; the engine ignores it) and \"ts\" (wall "
      "clock,\n"
      "epoch ms). With --rate, messages are sent when due, in bursts at most 50 us apart. Sends block while the "
      "socket's\n"
      "queue is full (back-pressure), so nothing is dropped here.\n"
      "Without --count and --duration it runs until SIGINT/SIGTERM. At exit it prints one JSON line: measurements,\n"
      "unit_events, frames, bytes, out_of_control (= expected_signals), first/last send time (ns), rate "
      "(measurements/s).\n"
      "Exit codes: 0 done, 1 ZeroMQ or file error, 2 usage error."};
  app.add_option("--connect", o.connect,
                 "ZeroMQ endpoint to connect a PUSH socket to; repeat it for several (characteristic c then goes to "
                 "endpoint c % N, or as --route-shards says; unit event u to endpoint u % N)")
      ->capture_default_str();
  app.add_option("--route-shards", o.route_shards,
                 "Route each characteristic to the endpoint of the shard that judges it in an engine with this many "
                 "shards (engine.judge: source: the i-th --connect is the engine's i-th zmq source; "
                 "`shewhart routes` shows the same mapping)")
      ->check(CLI::Range(1, 256));
  app.add_option("--output", o.output, "Write the messages as JSON lines to this file instead of sending them");
  app.add_option("--rate", o.rate, "Measurements per second (0: as fast as the socket takes them)")
      ->capture_default_str();
  app.add_option("--count", o.count, "Measurements to send (0: no limit)")->capture_default_str();
  app.add_option("--duration", o.duration_s, "Stop after this many seconds (0: no limit)")->capture_default_str();
  app.add_option("--characteristics", o.characteristics, "Number of characteristics, K")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  app.add_option("--prefix", o.prefix, "Characteristic ids are PREFIX followed by 4 digits (0000 ...)")
      ->capture_default_str();
  app.add_option("--stations", o.stations, "Number of stations, S (st01 ...)")
      ->check(CLI::Range(1, 99))
      ->capture_default_str();
  app.add_option("--ooc-every", o.ooc_every,
                 "Every P-th measurement of each characteristic is out of control (6 sigma); 0: none; P >= 10")
      ->capture_default_str();
  app.add_option(
         "--unit-ratio", o.unit_ratio,
         "Unit events per measurement (0.1: one after every 10th), each with a lot; they go to the genealogy store")
      ->check(CLI::Range(0.0, 100.0))
      ->capture_default_str();
  app.add_flag("--serials", o.serials,
               "Measurements carry a serial (M<i+1>), which the engine records as genealogy (its SQLite store)");
  app.add_option("--mean", o.mean, "Process mean")->capture_default_str();
  app.add_option("--sigma", o.sigma, "Process sigma (> 0)")->capture_default_str();
  app.add_option("--sndhwm", o.sndhwm, "ZMQ_SNDHWM of the PUSH socket, in messages")
      ->check(CLI::Range(1, 1 << 30))
      ->capture_default_str();
  app.add_option("--linger-ms", o.linger_ms, "At exit, wait at most this long for queued messages to reach the peer")
      ->check(CLI::Range(0, 3600000))
      ->capture_default_str();
  app.add_flag("--print-config", o.print_config,
               "Print the `characteristics:` YAML matching these options (K, prefix, mean, sigma) and exit");
  app.add_flag("-q,--quiet", o.quiet, "No progress lines on stderr");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  auto usage = [](const std::string& msg) {
    std::fprintf(stderr, "shewhart-load: %s\n", msg.c_str());
    return 2;
  };
  if (!(o.rate >= 0) || !std::isfinite(o.rate)) {
    return usage("--rate must be a finite number >= 0 (0: as fast as possible), found " + FormatG(o.rate));
  }
  if (!(o.duration_s >= 0) || !std::isfinite(o.duration_s)) {
    return usage("--duration must be a finite number of seconds >= 0, found " + FormatG(o.duration_s));
  }
  if (o.ooc_every != 0 && o.ooc_every < kMinOocEvery) {
    return usage("--ooc-every must be 0 or at least " + std::to_string(kMinOocEvery) + ", found " +
                 std::to_string(o.ooc_every) + " (closer out-of-control points would fire other Nelson rules)");
  }
  if (!(o.sigma > 0) || !std::isfinite(o.sigma) || !std::isfinite(o.mean)) {
    return usage("--mean must be finite and --sigma finite and > 0");
  }
  if (o.prefix.empty() || o.prefix.size() > 40 || o.prefix.find_first_of("\"\\") != std::string::npos) {
    return usage("--prefix must be 1 to 40 characters without quotes or backslashes, found '" + o.prefix + "'");
  }
  if (o.print_config) {
    PrintConfig(o);
    return 0;
  }
  struct sigaction sa {};
  sa.sa_handler = OnStop;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  prctl(PR_SET_TIMERSLACK, 1UL);  // pacing sleeps wake on time, not up to 50 us late
  return Run(o);
}
