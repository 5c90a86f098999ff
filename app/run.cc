// `shewhart run` (engine_commands.h): the threaded engine, its sources and HTTP server, the live
// printer of alarms and holds, the latency recorder.

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <sys/resource.h>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "engine_commands.h"
#include "arl.h"
#include "alarms.h"
#include "cli_validators.h"
#include "silences.h"
#include "audit.h"
#include "limits.h"
#include "trace.h"
#include "holds.h"
#include "shewhart/connectors/file/file_source.h"
#include "shewhart/connectors/zmq/zmq_connectors.h"
#include "shewhart/engine/pipeline/chart_runner.h"
#include "shewhart/engine/config/config.h"
#include "shewhart/engine/engine.h"
#include "shewhart/engine/api/http_server.h"
#include "shewhart/engine/store/record_json.h"
#include "shewhart/engine/pipeline/signal_json.h"
#include "shewhart/engine/model/time_format.h"


namespace shewhart::app {

using engine::Json;

namespace {
// Prints alarms and held serials for people, as they happen.
// Prints alarms and held serials for people, as they happen. A hold's first units are printed
// at once; later ones are gathered and printed at most once a second per hold (a drifting
// station adds a unit with every measurement), and before its alarm's RESOLVED line.
class LivePrinter : public engine::EngineListener {
 public:
  void OnAlarm(const engine::AlarmRecord& a, bool opened) override {
    std::lock_guard lock(mu_);
    // Not opened: resolved, acknowledged, escalated to a tier, or reopened (min_interval).
    if (!opened && a.state == "resolved") {
      auto it = holds_.find(a.hold_id);
      if (it != holds_.end()) Print(it->second);
      std::printf("RESOLVED #%lld  %-16s %s  in control again at %s; hold #%lld keeps its units\n",
                  static_cast<long long>(a.id), a.characteristic.c_str(), engine::FormatScope(a.scope).c_str(),
                  engine::FormatRfc3339(a.resolved_ts).c_str(), static_cast<long long>(a.hold_id));
      std::fflush(stdout);
      return;
    }
    if (!opened && a.state == "acknowledged") {
      std::printf("ACK    #%lld  %-16s tier %d  %s  acknowledged\n", static_cast<long long>(a.id),
                  a.characteristic.c_str(), a.tier, engine::FormatScope(a.scope).c_str());
      std::fflush(stdout);
      return;
    }
    std::printf("ALARM  #%lld  %-16s tier %d  %-9s on %-11s %s  suspect since %s%s\n", static_cast<long long>(a.id),
                a.characteristic.c_str(), a.tier, a.rule.c_str(), a.chart.c_str(), engine::FormatScope(a.scope).c_str(),
                engine::FormatRfc3339(a.window_start).c_str(), opened ? "" : "  (escalated or reopened)");
    std::fflush(stdout);
  }
  void OnHold(const engine::HoldRecord& h, const std::vector<engine::HeldUnit>& added) override {
    if (added.empty()) return;
    std::lock_guard lock(mu_);
    auto [it, first] = holds_.try_emplace(h.id);
    Pending& p = it->second;
    p.hold = h;
    for (const auto& u : added) {
      if (p.shown.size() < kShown) p.shown.push_back(u.serial);
      p.last = u.serial;
    }
    p.count += added.size();
    const auto now = std::chrono::steady_clock::now();
    if (first || now - p.printed >= std::chrono::seconds(1)) Print(p);
  }
  // Prints what is still gathered.
  void Flush() {
    std::lock_guard lock(mu_);
    for (auto& [id, p] : holds_) Print(p);
  }

 private:
  static constexpr std::size_t kShown = 8;
  struct Pending {
    engine::HoldRecord hold;
    std::vector<std::string> shown;  // the first kShown serials gathered
    std::string last;
    std::size_t count = 0;
    std::chrono::steady_clock::time_point printed{};
  };
  void Print(Pending& p) {
    if (p.count == 0) return;
    std::printf("HOLD   #%lld  alarm #%lld  %s  %lld held  +%zu:", static_cast<long long>(p.hold.id),
                static_cast<long long>(p.hold.alarm_id), engine::FormatScope(p.hold.scope).c_str(),
                static_cast<long long>(p.hold.units), p.count);
    for (const auto& s : p.shown) std::printf(" %s", s.c_str());
    if (p.count > p.shown.size()) std::printf(" ... %s", p.last.c_str());
    std::printf("\n");
    std::fflush(stdout);
    p.shown.clear();
    p.count = 0;
    p.printed = std::chrono::steady_clock::now();
  }

  std::mutex mu_;
  std::map<std::int64_t, Pending> holds_;
};

// `run --latency-out`: for every rule signal, the latency from arrival to the shard raising it and
// from arrival to the responder handling it, recorded by the responder thread
// (EngineOptions::on_signal_latency) into buffers allocated and touched before the engine starts,
// so that recording allocates nothing and the RSS does not grow with it. Signals beyond the
// capacity are counted as `dropped`, not recorded.
class LatencyRecorder {
 public:
  explicit LatencyRecorder(std::size_t capacity) : signal_(capacity, 0), response_(capacity, 0) {}

  // The responder thread only.
  void Record(std::int64_t signal_ns, std::int64_t response_ns) {
    if (count_ < signal_.size()) {
      signal_[count_] = signal_ns;
      response_[count_] = response_ns;
      ++count_;
    } else {
      ++dropped_;
    }
  }

  // After the engine stopped (its responder thread joined): exact nearest-rank percentiles of the
  // recorded values and the run's counts, as one JSON object. The top-level percentiles are
  // arrival to signal; "response" holds those of arrival to the responder.
  bool Write(const std::string& path, const engine::Engine& eng) {
    Json j = Percentiles(signal_);
    j["response"] = Percentiles(response_);
    j["count"] = count_;
    j["dropped"] = dropped_;
    j["measurements"] = eng.measurements();
    j["rejects"] = eng.rejects();
    j["signals"] = eng.signals();
    j["alarms_opened"] = eng.alarms_opened();
    std::FILE* f = std::fopen(path.c_str(), "w");
    if (!f) return false;
    const std::string text = j.dump(-1, ' ', false, engine::kReplaceInvalidUtf8) + "\n";
    const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
    return std::fclose(f) == 0 && ok;
  }

 private:
  Json Percentiles(std::vector<std::int64_t>& values) const {
    std::sort(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(count_));
    auto pct = [&](double p) -> std::int64_t {
      if (count_ == 0) return 0;
      auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(count_)));
      return values[std::clamp<std::size_t>(rank, 1, count_) - 1];
    };
    double sum = 0;
    for (std::size_t i = 0; i < count_; ++i) sum += static_cast<double>(values[i]);
    return Json{{"min_ns", count_ ? values[0] : 0},
                {"p50_ns", pct(0.50)},
                {"p90_ns", pct(0.90)},
                {"p99_ns", pct(0.99)},
                {"p999_ns", pct(0.999)},
                {"max_ns", count_ ? values[count_ - 1] : 0},
                {"mean_ns", count_ ? sum / static_cast<double>(count_) : 0.0}};
  }

  std::vector<std::int64_t> signal_, response_;
  std::size_t count_ = 0;
  std::uint64_t dropped_ = 0;
};
}  // namespace

int Run(const std::string& config_path, const RunOptions& run_opts) {
  const double duration_s = run_opts.duration_s;
  const std::string& listen_override = run_opts.listen;
  int code = kExitOk;
  auto config = Load(config_path, code);
  if (!config) return code;
  if (!listen_override.empty()) config->http_listen = listen_override;

  // Block the stop signals in every thread; the main thread waits for them. A parent may have
  // left them ignored (background jobs of a shell script): restore the default first, or they
  // would be discarded instead of waited for.
  // SIGHUP (a closed terminal, or an operator's reload habit) is waited for too, and only logged:
  // configuration reload does not exist yet, and it must not end the engine without a drain.
  // SIGXFSZ is ignored: a file-size limit then fails the store's write (EFBIG), which the engine
  // retries like a full disk, instead of killing the process.
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  std::signal(SIGHUP, SIG_DFL);
  std::signal(SIGXFSZ, SIG_IGN);
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  std::vector<std::unique_ptr<connectors::zmq::ZmqPubSink>> pubs;
  engine::EngineOptions opts;
  LivePrinter printer;
  opts.listener = &printer;
  for (const auto& [name, hook] : config->hooks) {
    if (hook.kind != engine::HookSpec::Kind::kZmqPub) continue;
    auto pub = std::make_unique<connectors::zmq::ZmqPubSink>();
    Status st = pub->Bind(hook.endpoint);
    if (!st.ok()) {
      spdlog::error("hook {}: {}", name, st.message());
      return kExitUsage;
    }
    spdlog::info("hook {}: publishing alarms on {}", name, hook.endpoint);
    opts.sinks[name] = pub.get();
    pubs.push_back(std::move(pub));
  }
  std::unique_ptr<LatencyRecorder> latencies;
  if (!run_opts.latency_out.empty()) {
    latencies = std::make_unique<LatencyRecorder>(run_opts.latency_capacity);
    opts.on_signal_latency = [rec = latencies.get()](std::int64_t signal_ns, std::int64_t response_ns) {
      rec->Record(signal_ns, response_ns);
    };
  }
  engine::Engine eng(*config, opts);
  Status st = eng.Start();
  if (!st.ok()) {
    spdlog::error("{}", st.message());
    return kExitUsage;
  }

  std::vector<std::unique_ptr<engine::Source>> sources;
  for (const auto& spec : config->sources) {
    std::unique_ptr<engine::Source> src;
    if (spec.kind == engine::SourceSpec::Kind::kZmq) {
      src = std::make_unique<connectors::zmq::ZmqSource>(spec, eng.index(), config->max_message_bytes);
    } else {
      src = std::make_unique<connectors::file::FileSource>(spec, eng.index(), config->max_message_bytes);
    }
    engine::Source* raw = src.get();
    eng.RegisterHealth("source " + spec.name, [raw] { return raw->status(); });
    st = src->Start(eng.RegisterSource(spec.name));
    if (!st.ok()) {
      spdlog::error("{}", st.message());
      for (auto& s : sources) s->Stop();
      eng.Stop();
      return kExitUsage;
    }
    spdlog::info("source {}: {} {}", spec.name,
                 spec.kind == engine::SourceSpec::Kind::kZmq ? (spec.zmq.bind ? "bound" : "connected to") : "reading",
                 spec.kind == engine::SourceSpec::Kind::kZmq ? spec.zmq.endpoint : spec.file.path);
    sources.push_back(std::move(src));
  }

  std::unique_ptr<engine::HttpServer> http;
  if (!config->http_listen.empty()) {
    http = std::make_unique<engine::HttpServer>(config->http_listen, [&eng](const engine::HttpRequest& req) {
      auto r = eng.HandleApi(req.method, req.target, req.query, req.body, req.authorization);
      engine::HttpResponse resp;
      resp.status = r.status;
      resp.content_type = r.content_type;
      resp.body = std::move(r.body);
      return resp;
    });
    // Descriptors: the limit raised to the hard one, and 128 kept from HTTP for the sources, the
    // store (database, WAL, shm, lock), the outbox's transports and ZeroMQ's own.
    rlimit files{};
    std::size_t max_connections = config->http_max_connections;
    if (getrlimit(RLIMIT_NOFILE, &files) == 0) {
      if (files.rlim_cur < files.rlim_max) {
        files.rlim_cur = files.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &files) != 0) (void)getrlimit(RLIMIT_NOFILE, &files);
      }
      constexpr rlim_t kReserve = 128;
      const rlim_t room = files.rlim_cur > 2 * kReserve ? files.rlim_cur - kReserve : files.rlim_cur / 2;
      if (static_cast<rlim_t>(max_connections) > room) {
        spdlog::warn("http.max_connections {} lowered to {}: the open-files limit is {}", max_connections, room,
                     static_cast<unsigned long long>(files.rlim_cur));
        max_connections = static_cast<std::size_t>(room);
      }
    }
    http->SetMaxConnections(max_connections);
    st = http->Start();
    if (!st.ok()) {
      spdlog::error("{}", st.message());
      for (auto& s : sources) s->Stop();
      eng.Stop();
      return kExitUsage;
    }
    std::string host = config->http_listen.substr(0, config->http_listen.rfind(':'));
    spdlog::info("metrics at http://{}:{}/metrics (also /health, /api/alarms, /api/holds, /api/rejects)", host,
                 http->port());
  }
  spdlog::info("running: {} characteristic(s), store {}", config->characteristics.size(), config->store_path);

  auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<long long>(duration_s * 1000));
  for (;;) {
    timespec ts{0, 200 * 1000 * 1000};
    int sig = sigtimedwait(&stop_signals, nullptr, &ts);
    if (sig == SIGINT || sig == SIGTERM) {
      spdlog::info("{}: draining and stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
      break;
    }
    if (sig == SIGHUP) {
      spdlog::warn(
          "SIGHUP: ignored (configuration reload is not built yet; restart the engine to load a changed config)");
      continue;
    }
    if (duration_s > 0 && std::chrono::steady_clock::now() >= deadline) {
      spdlog::info("--duration reached: draining and stopping");
      break;
    }
  }
  auto t0 = std::chrono::steady_clock::now();
  for (auto& s : sources) s->Stop();
  eng.Stop();
  printer.Flush();
  if (http) http->Stop();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  spdlog::info("stopped in {} ms: {} measurements, {} rejects, {} signals, {} alarms opened", ms, eng.measurements(),
               eng.rejects(), eng.signals(), eng.alarms_opened());
  if (latencies && !latencies->Write(run_opts.latency_out, eng)) {
    spdlog::error("--latency-out {}: {}", run_opts.latency_out, std::strerror(errno));
    return kExitUsage;
  }
  return kExitOk;
}

}  // namespace shewhart::app
