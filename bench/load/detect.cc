// shewhart-detect: how soon an out-of-control measurement reaches a subscriber of the engine's
// `zmq_pub` hook -- send -> alarm received, the figure a line controller waiting on that
// socket sees (bench/run-e2e's detection row).
//
// Each trial sends one measurement of --characteristic with --value (beyond its limits) from a
// station of its own ("d<trial>"), so that each opens a new alarm and the policy's tier 1 runs
// the hook, and waits for the message of --topic whose scope names that station: `signal` (sent
// by the thread that judged the measurement, before the responder sees it) or `alarm` (the
// tier's action, inside the responder's unit of work). Trials are spaced
// --gap-ms apart, so each meets an idle engine. Before the trials, one warm-up trial is sent
// until it arrives (a SUB socket misses what is published before its subscription reaches the
// publisher). With --no-wait it only sends: the harness then watches something else (the
// Prometheus alert) and reads the send times from the output.
//
// Output (stdout, one JSON line): trials, received, send_ns (with --no-wait: every send time,
// CLOCK_MONOTONIC ns), and p50_ns, p90_ns, p99_ns, max_ns over the trials received.
// Exit codes: 0 done (every trial received, or --no-wait), 1 ZeroMQ error or a trial not received
// within --timeout-ms, 2 usage error.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <zmq.hpp>

namespace {

std::int64_t SteadyNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

std::int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::int64_t Percentile(const std::vector<std::int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  auto rank = static_cast<std::size_t>(p * static_cast<double>(sorted.size()) + 0.999999999);
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

struct Options {
  std::string connect = "tcp://127.0.0.1:5555";
  std::string subscribe;
  std::string characteristic = "c0000";
  double value = 110;
  int trials = 200;
  int gap_ms = 20;
  int timeout_ms = 2000;
  bool no_wait = false;
  std::string prefix = "d";
  std::string topic = "signal";
};

// True when a message of `want` (topic) whose scope's station is `station`.
bool IsMessageOf(const std::string& want, const std::string& topic, const std::string& body,
                 const std::string& station) {
  if (topic != want) return false;
  const nlohmann::json doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object() || !doc.contains("scope")) return false;
  const nlohmann::json& scope = doc["scope"];
  return scope.is_object() && scope.value("station", "") == station;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{
      "shewhart-detect: send -> zmq_pub message latency of the engine, one out-of-control measurement per "
      "trial, each from a station of its own (a new alarm each)."};
  app.add_option("--connect", o.connect, "the engine's zmq source (PUSH connects there)")->capture_default_str();
  app.add_option("--subscribe", o.subscribe,
                 "the zmq_pub hook's endpoint (SUB connects there); required unless "
                 "--no-wait");
  app.add_option("--characteristic", o.characteristic, "characteristic of the measurements")->capture_default_str();
  app.add_option("--value", o.value, "their value (beyond the characteristic's limits)")->capture_default_str();
  app.add_option("--trials", o.trials, "trials")->check(CLI::Range(1, 1000000))->capture_default_str();
  app.add_option("--gap-ms", o.gap_ms, "pause between trials")->check(CLI::Range(0, 600000))->capture_default_str();
  app.add_option("--timeout-ms", o.timeout_ms, "how long a trial waits for its message")
      ->check(CLI::Range(1, 600000))
      ->capture_default_str();
  app.add_option("--station-prefix", o.prefix, "stations are PREFIX followed by the trial number")
      ->capture_default_str();
  app.add_flag("--no-wait", o.no_wait, "only send (the trials' send times are printed)");
  app.add_option("--topic", o.topic, "the message waited for: signal (at detection) or alarm (the tier's action)")
      ->check(CLI::IsMember({"signal", "alarm"}))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (!o.no_wait && o.subscribe.empty()) {
    std::fprintf(stderr, "shewhart-detect: --subscribe is required unless --no-wait\n");
    return 2;
  }
  try {
    zmq::context_t ctx(1);
    zmq::socket_t push(ctx, zmq::socket_type::push);
    push.set(zmq::sockopt::linger, 2000);
    push.connect(o.connect);
    zmq::socket_t sub(ctx, zmq::socket_type::sub);
    if (!o.no_wait) {
      sub.set(zmq::sockopt::subscribe, o.topic);
      sub.connect(o.subscribe);
    }
    const std::int64_t run_id = WallMs() % 100000;
    auto send = [&](const std::string& station) {
      nlohmann::json m = {
          {"characteristic", o.characteristic}, {"value", o.value}, {"ts", WallMs()}, {"station", station}};
      const std::string text = m.dump();
      const std::int64_t at = SteadyNs();
      push.send(zmq::buffer(text), zmq::send_flags::none);
      return at;
    };
    // Waits for the alarm of `station` until `deadline_ns`; its receive time, or -1.
    auto await = [&](const std::string& station, std::int64_t deadline_ns) -> std::int64_t {
      for (;;) {
        const std::int64_t left_ms = (deadline_ns - SteadyNs()) / 1000000;
        if (left_ms <= 0) return -1;
        zmq::pollitem_t item{static_cast<void*>(sub), 0, ZMQ_POLLIN, 0};
        zmq::poll(&item, 1, std::chrono::milliseconds(left_ms));
        if (!(item.revents & ZMQ_POLLIN)) continue;
        zmq::message_t topic, body;
        if (!sub.recv(topic)) continue;
        const std::int64_t at = SteadyNs();
        if (!topic.more() || !sub.recv(body)) continue;
        if (IsMessageOf(o.topic, topic.to_string(), body.to_string(), station)) return at;
      }
    };
    if (!o.no_wait) {
      // The warm-up: until the subscription is in place (one new station per attempt).
      bool joined = false;
      for (int attempt = 0; attempt < 50 && !joined; ++attempt) {
        const std::string station = o.prefix + "w" + std::to_string(run_id) + "-" + std::to_string(attempt);
        send(station);
        joined = await(station, SteadyNs() + 200'000'000) >= 0;
      }
      if (!joined) {
        std::fprintf(stderr, "shewhart-detect: no %s message reached the subscriber in 50 warm-up attempts\n",
                     o.topic.c_str());
        return 1;
      }
    }
    std::vector<std::int64_t> latencies, sends;
    for (int i = 0; i < o.trials; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(o.gap_ms));
      const std::string station = o.prefix + std::to_string(run_id) + "-" + std::to_string(i);
      const std::int64_t sent = send(station);
      sends.push_back(sent);
      if (o.no_wait) continue;
      const std::int64_t got = await(station, sent + static_cast<std::int64_t>(o.timeout_ms) * 1000000);
      if (got < 0) {
        std::fprintf(stderr, "shewhart-detect: trial %d: no %s message within %d ms\n", i, o.topic.c_str(),
                     o.timeout_ms);
        return 1;
      }
      latencies.push_back(got - sent);
    }
    nlohmann::json out = {{"trials", o.trials}, {"received", latencies.size()}};
    if (o.no_wait) {
      out["send_ns"] = sends;
    } else {
      std::sort(latencies.begin(), latencies.end());
      out["p50_ns"] = Percentile(latencies, 0.50);
      out["p90_ns"] = Percentile(latencies, 0.90);
      out["p99_ns"] = Percentile(latencies, 0.99);
      out["max_ns"] = latencies.back();
    }
    std::printf("%s\n", out.dump().c_str());
  } catch (const zmq::error_t& e) {
    std::fprintf(stderr, "shewhart-detect: ZeroMQ: %s\n", e.what());
    return 1;
  }
  return 0;
}
