// shewhart-relay: the transport's floor under bench/run-e2e's detection row. It receives
// measurements on a PULL socket and, for each, publishes on a PUB socket a `signal` message
// naming the measurement's station -- the two ZeroMQ hops shewhart-detect's trials take through
// the engine (measurement in, message out), with no judging, no alarm and no store between
// them. shewhart-detect --topic signal measures it exactly as it measures the engine.
//
// Output (stdout, JSON lines): {"event":"ready","pull":P,"pub":Q} once bound (the endpoints
// actually bound), then, at SIGTERM/SIGINT or --timeout-s, {"relayed":N}.
// Exit codes: 0 done, 1 ZeroMQ error, 2 usage error.

#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <zmq.hpp>

namespace {
volatile std::sig_atomic_t g_stop = 0;
extern "C" void OnStop(int) { g_stop = 1; }
}  // namespace

int main(int argc, char** argv) {
  std::string pull_at = "tcp://127.0.0.1:*", pub_at = "tcp://127.0.0.1:*";
  double timeout_s = 600;
  bool two_contexts = false;
  CLI::App app{
      "shewhart-relay: PULL -> PUB, one `signal` message ({\"scope\":{\"station\":S}}) per measurement received: "
      "the ZeroMQ floor under the engine's detection latency (bench/run-e2e)."};
  app.add_option("--pull", pull_at, "endpoint the PULL socket binds")->capture_default_str();
  app.add_option("--pub", pub_at, "endpoint the PUB socket binds")->capture_default_str();
  app.add_option("--timeout-s", timeout_s, "stop after this many seconds")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_flag("--two-contexts", two_contexts,
               "one ZeroMQ context (and I/O thread) per socket, as the engine has for a source and a hook");
  CLI11_PARSE(app, argc, argv);
  std::signal(SIGINT, OnStop);
  std::signal(SIGTERM, OnStop);
  std::uint64_t relayed = 0;
  try {
    zmq::context_t ctx(1), ctx2(1);
    zmq::socket_t pull(ctx, zmq::socket_type::pull), pub(two_contexts ? ctx2 : ctx, zmq::socket_type::pub);
    pull.set(zmq::sockopt::rcvtimeo, 100);
    pub.set(zmq::sockopt::linger, 0);
    pull.bind(pull_at);
    pub.bind(pub_at);
    std::printf("%s\n", nlohmann::json{{"event", "ready"},
                                       {"pull", pull.get(zmq::sockopt::last_endpoint)},
                                       {"pub", pub.get(zmq::sockopt::last_endpoint)}}
                            .dump()
                            .c_str());
    std::fflush(stdout);
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    zmq::message_t msg;
    while (!g_stop && std::chrono::steady_clock::now() < end) {
      if (!pull.recv(msg)) continue;
      const auto doc = nlohmann::json::parse(msg.to_string_view(), nullptr, /*allow_exceptions=*/false);
      if (!doc.is_object() || !doc.contains("station")) continue;
      const std::string out = nlohmann::json{{"scope", {{"station", doc["station"]}}}}.dump();
      pub.send(zmq::str_buffer("signal"), zmq::send_flags::sndmore);
      pub.send(zmq::buffer(out), zmq::send_flags::none);
      ++relayed;
    }
  } catch (const zmq::error_t& e) {
    if (e.num() != EINTR) {
      std::fprintf(stderr, "shewhart-relay: ZeroMQ: %s\n", e.what());
      return 1;
    }
  }
  std::printf("%s\n", nlohmann::json{{"relayed", relayed}}.dump().c_str());
  return 0;
}
