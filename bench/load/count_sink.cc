// shewhart-count-sink: a minimal ZeroMQ PULL receiver that counts frames -- the transport's own
// limit for the frames shewhart-load sends, measured the way `shewhart run`'s zmq source
// receives them (one PULL socket, one receiving thread, a reused zmq_msg_t), minus everything
// the engine does with a frame.
//
// Output (stdout, JSON lines): {"event":"ready","endpoint":E} once bound (E is the endpoint
// actually bound, e.g. the port a "tcp://127.0.0.1:*" bind chose), then at exit one summary:
// frames, bytes, first_ns and last_ns (receive times of the first and last frame, CLOCK_MONOTONIC
// ns), rate (frames/s between them), and with --latency the send-to-receive latency of the frames
// that carry shewhart-load's "sent_ns" (exact percentiles over every frame recorded).
//
// Exit codes: 0 done, 1 ZeroMQ error or --timeout without a frame, 2 usage error.

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cinttypes>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <string>
#include <string_view>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <zmq.h>

namespace {

volatile std::sig_atomic_t g_stop = 0;
extern "C" void OnStop(int) { g_stop = 1; }

std::int64_t SteadyNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// The integer value of the last "sent_ns": field of a frame, or -1.
std::int64_t SentNs(std::string_view frame) {
  static constexpr std::string_view kKey = "\"sent_ns\":";
  const std::size_t at = frame.rfind(kKey);
  if (at == std::string_view::npos) return -1;
  const char* p = frame.data() + at + kKey.size();
  std::int64_t v = -1;
  auto [end, ec] = std::from_chars(p, frame.data() + frame.size(), v);
  return ec == std::errc() && end != p ? v : -1;
}

// Nearest-rank percentile of sorted values.
std::int64_t Percentile(const std::int64_t* sorted, std::size_t n, double p) {
  if (n == 0) return 0;
  auto rank = static_cast<std::size_t>(p * static_cast<double>(n) + 0.999999999);
  rank = std::clamp<std::size_t>(rank, 1, n);
  return sorted[rank - 1];
}

}  // namespace

int main(int argc, char** argv) {
  std::string bind = "tcp://127.0.0.1:5556";
  std::uint64_t count = 0;
  int idle_ms = 0, rcvhwm = 100000;
  double timeout_s = 0;
  bool latency = false;
  std::size_t latency_capacity = 1u << 22;
  CLI::App app{
      "shewhart-count-sink: binds a ZeroMQ PULL socket and counts the frames it receives, doing nothing else\n"
      "with them (the transport's limit for shewhart-load's frames). Prints {\"event\":\"ready\",...} once bound,\n"
      "then one JSON summary line at exit: frames, bytes, first_ns, last_ns, rate [, latency].\n"
      "It stops after --count frames, after --idle-ms without a frame (once one came), or on SIGINT/SIGTERM.\n"
      "Exit codes: 0 done, 1 ZeroMQ error or --timeout without any frame, 2 usage error."};
  app.add_option("--bind", bind, "Endpoint to bind (\"tcp://127.0.0.1:*\" picks a free port)")->capture_default_str();
  app.add_option("--count", count, "Stop after this many frames (0: no limit)")->capture_default_str();
  app.add_option("--idle-ms", idle_ms, "Stop when no frame came for this long, once the first came (0: never)")
      ->check(CLI::Range(0, 3600000))
      ->capture_default_str();
  app.add_option("--timeout", timeout_s, "Fail (exit 1) if no frame came within this many seconds (0: wait forever)")
      ->capture_default_str();
  app.add_option("--rcvhwm", rcvhwm, "ZMQ_RCVHWM in messages (shewhart run's zmq source defaults to 100000)")
      ->check(CLI::Range(0, 1 << 30))
      ->capture_default_str();
  app.add_flag(
      "--latency", latency,
      "Record receive time - \"sent_ns\" of each frame and print exact percentiles (both processes must run on "
      "this machine: the clock is CLOCK_MONOTONIC)");
  app.add_option("--latency-capacity", latency_capacity,
                 "Latencies kept (the first this many frames; preallocated at start, 8 bytes each)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 28))
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  if (!(timeout_s >= 0) || !std::isfinite(timeout_s)) {
    std::fprintf(stderr, "shewhart-count-sink: --timeout must be a finite number of seconds >= 0, found %g\n",
                 timeout_s);
    return 2;
  }
  struct sigaction sa {};
  sa.sa_handler = OnStop;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  std::unique_ptr<std::int64_t[]> lat;
  if (latency) {
    lat = std::make_unique<std::int64_t[]>(latency_capacity);  // zeroed: the pages are touched now
  }
  void* ctx = zmq_ctx_new();
  void* sock = zmq_socket(ctx, ZMQ_PULL);
  int timeout_ms = 100, linger = 0;
  zmq_setsockopt(sock, ZMQ_RCVHWM, &rcvhwm, sizeof rcvhwm);
  zmq_setsockopt(sock, ZMQ_RCVTIMEO, &timeout_ms, sizeof timeout_ms);
  zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
  if (zmq_bind(sock, bind.c_str()) != 0) {
    std::fprintf(stderr, "shewhart-count-sink: cannot bind %s: %s\n", bind.c_str(), zmq_strerror(errno));
    zmq_close(sock);
    zmq_ctx_term(ctx);
    return 1;
  }
  char endpoint[256];
  std::size_t endpoint_len = sizeof endpoint;
  zmq_getsockopt(sock, ZMQ_LAST_ENDPOINT, endpoint, &endpoint_len);
  std::printf("%s\n", nlohmann::ordered_json{{"event", "ready"}, {"endpoint", endpoint}}.dump().c_str());
  std::fflush(stdout);

  zmq_msg_t msg;
  zmq_msg_init(&msg);
  std::uint64_t frames = 0, bytes = 0;
  std::size_t recorded = 0, unstamped = 0;
  std::int64_t first = 0, last = 0;
  const std::int64_t started = SteadyNs();
  int rc = 0;
  while (!g_stop && (count == 0 || frames < count)) {
    if (zmq_msg_recv(&msg, sock, 0) < 0) {
      if (errno == EAGAIN || errno == EINTR) {
        const std::int64_t now = SteadyNs();
        if (frames > 0 && idle_ms > 0 && now - last >= static_cast<std::int64_t>(idle_ms) * 1000000) break;
        if (frames == 0 && timeout_s > 0 && static_cast<double>(now - started) / 1e9 >= timeout_s) {
          std::fprintf(stderr, "shewhart-count-sink: no frame within %g s\n", timeout_s);
          rc = 1;
          break;
        }
        continue;
      }
      std::fprintf(stderr, "shewhart-count-sink: receive failed: %s\n", zmq_strerror(errno));
      rc = 1;
      break;
    }
    last = SteadyNs();
    if (frames == 0) first = last;
    ++frames;
    bytes += zmq_msg_size(&msg);
    if (latency) {
      const std::int64_t sent = SentNs({static_cast<const char*>(zmq_msg_data(&msg)), zmq_msg_size(&msg)});
      if (sent < 0) ++unstamped;
      else if (recorded < latency_capacity) lat[recorded++] = last - sent;
    }
  }
  zmq_msg_close(&msg);
  zmq_close(sock);
  zmq_ctx_term(ctx);

  const double span = static_cast<double>(last - first) / 1e9;
  nlohmann::ordered_json summary{{"frames", frames},
                                 {"bytes", bytes},
                                 {"first_ns", first},
                                 {"last_ns", last},
                                 {"rate", frames > 1 && span > 0 ? static_cast<double>(frames - 1) / span : 0.0}};
  if (latency) {
    std::sort(lat.get(), lat.get() + recorded);
    summary["latency"] = {{"count", recorded},
                          {"unstamped", unstamped},
                          {"p50_ns", Percentile(lat.get(), recorded, 0.50)},
                          {"p99_ns", Percentile(lat.get(), recorded, 0.99)},
                          {"p999_ns", Percentile(lat.get(), recorded, 0.999)},
                          {"max_ns", recorded ? lat[recorded - 1] : 0}};
  }
  std::printf("%s\n", summary.dump().c_str());
  return rc;
}
