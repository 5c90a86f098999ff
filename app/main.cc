// The `shewhart` command: parses the command line and wires engine and connectors.

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

namespace {

using namespace shewhart;
using engine::Json;

constexpr int kExitOk = 0;
constexpr int kExitFinding = 1;
constexpr int kExitUsage = 2;

void SetUpLogging(bool verbose) {
  auto logger = spdlog::stderr_color_mt("shewhart");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  spdlog::set_level(verbose ? spdlog::level::debug : spdlog::level::info);
}

// Loads a config, printing every problem. Returns nullopt with `exit_code` set on failure.
std::optional<engine::Config> Load(const std::string& path, int& exit_code) {
  engine::ConfigLoad load = engine::LoadConfigFile(path);
  if (!load.io_status.ok()) {
    std::fprintf(stderr, "shewhart: %s\n", load.io_status.message().c_str());
    exit_code = kExitUsage;
    return std::nullopt;
  }
  for (const auto& p : load.problems) std::fprintf(stderr, "%s\n", p.ToString().c_str());
  if (!load.config) {
    std::fprintf(stderr, "%zu problem%s in %s\n", load.problems.size(), load.problems.size() == 1 ? "" : "s", path.c_str());
    exit_code = kExitFinding;
    return std::nullopt;
  }
  return std::move(load.config);
}

// ---------------------------------------------------------------------------------------------
// check
int Check(const std::string& path) {
  int code = kExitOk;
  auto config = Load(path, code);
  if (!config) return code;
  std::printf("%s: ok (%zu characteristic%s, %zu source%s)\n", path.c_str(), config->characteristics.size(),
              config->characteristics.size() == 1 ? "" : "s", config->sources.size(),
              config->sources.size() == 1 ? "" : "s");
  return kExitOk;
}

// ---------------------------------------------------------------------------------------------
// replay

// Writes replay JSON lines in event order and keeps per-characteristic summaries.
class ReplayWriter : public engine::EngineListener {
 public:
  explicit ReplayWriter(const engine::Config& config) : config_(config) {}

  void OnPoint(const std::string& characteristic, const rules::ChartPoint& p) override {
    const int id = config_.FindCharacteristic(characteristic);
    Json point = engine::PointJson(characteristic, p);
    if (id >= 0) {
      const auto& spec = config_.characteristics[static_cast<std::size_t>(id)];
      const double w = spec.warning_sigmas;
      if (w > 0 && p.chart == engine::PrimaryChart(spec.type)) {
        // The warning lines at centre +/- w zone sigmas (zone sigma: (ucl - cl) / k_sigma).
        // Each side's zone from its own limit (explicit limits need not be symmetric); an attribute
        // chart's lower limit may be clamped at 0, so its lower line mirrors the upper zone.
        const bool attribute = engine::IsAttribute(spec.type);
        const double k = attribute ? spec.attribute.k_sigma : spec.chart.k_sigma;
        const double upper_zone = (p.ucl - p.cl) / k;
        point["uwl"] = p.cl + w * upper_zone;
        point["lwl"] = attribute ? std::max(0.0, p.cl - w * upper_zone) : p.cl - w * (p.cl - p.lcl) / k;
      }
    }
    Write(point);
    auto& s = summaries_[characteristic];
    if (id >= 0 && p.chart == engine::PrimaryChart(config_.characteristics[static_cast<std::size_t>(id)].type)) {
      s.points++;
      s.cl = p.cl;
      s.ucl = p.ucl;
      s.lcl = p.lcl;
    }
  }
  void OnSignal(const std::string& characteristic, const engine::Signal& sig) override {
    Write(engine::SignalJson(characteristic, sig, config_.characteristics[sig.characteristic].scope));
    summaries_[characteristic].signals++;
  }
  void OnAlarm(const engine::AlarmRecord& a, bool) override { Write(engine::AlarmJson(a)); }
  void OnLimits(const engine::LimitVersion& v) override { Write(engine::LimitsJson(v)); }
  void OnHold(const engine::HoldRecord& h, const std::vector<engine::HeldUnit>& added) override {
    Write(engine::HoldJson(h, added, /*added=*/true));
  }
  void WriteReject(const engine::RejectRecord& r) { Write(engine::RejectJson(r)); }

  // `engine` must be stopped (inline mode): its shards are read.
  void WriteSummaries(const engine::Engine& engine) {
    for (std::size_t i = 0; i < config_.characteristics.size(); ++i) {
      const auto& spec = config_.characteristics[i];
      auto it = summaries_.find(spec.id);
      Summary s = it == summaries_.end() ? Summary{} : it->second;
      const rules::ChartKind chart = engine::PrimaryChart(spec.type);
      Json j{{"type", "summary"}, {"characteristic", spec.id}, {"chart", rules::ChartName(chart)},
             {"points", s.points}, {"signals", s.signals}};
      if (s.points > 0) {
        // The last point's limits (for charts with per-point limits, those of that point).
        j["cl"] = s.cl;
        j["ucl"] = s.ucl;
        j["lcl"] = s.lcl;
      }
      const engine::CharacteristicSummary cs = engine.Summary(static_cast<engine::CharacteristicId>(i));
      if (cs.sigma_within) j["sigma"] = *cs.sigma_within;
      if (cs.phase1_excluded) j["phase1_excluded"] = *cs.phase1_excluded;
      if (!cs.t2_center.empty()) {
        // T^2: the centre and covariance (one array per row) the limits use.
        const std::size_t p = cs.t2_center.size();
        j["center"] = cs.t2_center;
        Json rows = Json::array();
        for (std::size_t r = 0; r < p && (r + 1) * p <= cs.t2_covariance.size(); ++r) {
          rows.push_back(std::vector<double>(cs.t2_covariance.begin() + static_cast<std::ptrdiff_t>(r * p),
                                             cs.t2_covariance.begin() + static_cast<std::ptrdiff_t>((r + 1) * p)));
        }
        j["covariance"] = std::move(rows);
      }
      if (cs.has_spec && cs.sigma_within && cs.window.n >= 2) {
        auto cap = engine::CapabilityOf(spec, cs);
        if (cap.ok()) j["capability"] = engine::CapabilityJson(*cap);
        else j["capability_error"] = cap.status().message();
      }
      Write(j);
    }
  }

 private:
  struct Summary {
    std::int64_t points = 0, signals = 0;
    double cl = 0, ucl = 0, lcl = 0;
  };
  void Write(const Json& j) {
    std::string line = j.dump(-1, ' ', false, engine::kReplaceInvalidUtf8);
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), stdout);
  }
  const engine::Config& config_;
  std::map<std::string, Summary> summaries_;
};

// An IngestSink wrapper that also writes reject lines to the replay output.
class ReplaySink : public engine::IngestSink {
 public:
  ReplaySink(engine::IngestSink& inner, ReplayWriter& writer) : inner_(inner), writer_(writer) {}
  bool OnMeasurement(const engine::Measurement& m) override { return inner_.OnMeasurement(m); }
  void OnUnitEvent(const engine::UnitEvent& e) override { inner_.OnUnitEvent(e); }
  void OnReject(const engine::RejectRecord& r) override {
    writer_.WriteReject(r);
    inner_.OnReject(r);
  }
  void OnTransportDrop(std::uint64_t n) override { inner_.OnTransportDrop(n); }
  void Flush() override { inner_.Flush(); }

 private:
  engine::IngestSink& inner_;
  ReplayWriter& writer_;
};

int Replay(const std::string& config_path, const std::vector<std::string>& inputs, const std::string& store) {
  int code = kExitOk;
  auto config = Load(config_path, code);
  if (!config) return code;
  ReplayWriter writer(*config);
  engine::EngineOptions opts;
  opts.threaded = false;
  opts.listener = &writer;
  opts.want_points = true;
  opts.store_path = store;
  engine::Engine eng(*config, opts);
  Status st = eng.Start();
  if (!st.ok()) {
    std::fprintf(stderr, "shewhart replay: %s\n", st.message().c_str());
    return kExitUsage;
  }
  for (const auto& input : inputs) {
    engine::FileSourceSpec spec;
    spec.path = input;
    if (input.size() > 4 && input.substr(input.size() - 4) == ".csv") spec.format = engine::FileSourceSpec::Format::kCsv;
    ReplaySink sink(eng.RegisterSource(input), writer);
    auto stats = connectors::file::ReadFile(spec, input, eng.index(), config->max_message_bytes, sink);
    if (!stats.ok()) {
      std::fprintf(stderr, "shewhart replay: %s\n", stats.status().message().c_str());
      eng.Stop();
      return kExitUsage;
    }
    std::fprintf(stderr, "%s: %lld lines, %lld measurements, %lld unit events, %lld rejected\n", input.c_str(),
                 static_cast<long long>(stats->lines), static_cast<long long>(stats->measurements),
                 static_cast<long long>(stats->unit_events), static_cast<long long>(stats->rejects));
  }
  eng.Stop();
  writer.WriteSummaries(eng);
  std::fflush(stdout);
  std::fprintf(stderr, "replay: %llu measurements, %llu signals, %llu alarms, %llu rejects\n",
               static_cast<unsigned long long>(eng.measurements()), static_cast<unsigned long long>(eng.signals()),
               static_cast<unsigned long long>(eng.alarms_opened()), static_cast<unsigned long long>(eng.rejects()));
  return kExitOk;
}

// ---------------------------------------------------------------------------------------------
// run

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
      std::printf("ACK    #%lld  %-16s tier %d  %s  acknowledged\n", static_cast<long long>(a.id), a.characteristic.c_str(),
                  a.tier, engine::FormatScope(a.scope).c_str());
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

struct RunOptions {
  double duration_s = 0;
  std::string listen;
  std::string latency_out;
  std::size_t latency_capacity = std::size_t{1} << 20;
};

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
    spdlog::info("metrics at http://{}:{}/metrics (also /health, /api/alarms, /api/holds, /api/rejects)", host, http->port());
  }
  spdlog::info("running: {} characteristic(s), store {}", config->characteristics.size(), config->store_path);

  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<long long>(duration_s * 1000));
  for (;;) {
    timespec ts{0, 200 * 1000 * 1000};
    int sig = sigtimedwait(&stop_signals, nullptr, &ts);
    if (sig == SIGINT || sig == SIGTERM) {
      spdlog::info("{}: draining and stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
      break;
    }
    if (sig == SIGHUP) {
      spdlog::warn("SIGHUP: ignored (configuration reload is not built yet; restart the engine to load a changed config)");
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

// ---------------------------------------------------------------------------------------------
// arl
int Arl(const std::string& config_path, const std::string& characteristic, const std::string& shifts_text,
        int runs, std::uint64_t seed, bool json) {
  int code = kExitOk;
  auto config = Load(config_path, code);
  if (!config) return code;
  const int id = config->FindCharacteristic(characteristic);
  if (id < 0) {
    std::fprintf(stderr, "shewhart arl: no characteristic '%s' in %s\n", characteristic.c_str(), config_path.c_str());
    return kExitUsage;
  }
  app::ArlOptions opts;
  opts.runs = runs;
  opts.seed = seed;
  opts.shifts.clear();
  std::size_t start = 0;
  while (start <= shifts_text.size()) {
    std::size_t end = shifts_text.find(',', start);
    if (end == std::string::npos) end = shifts_text.size();
    const std::string item = shifts_text.substr(start, end - start);
    char* stop = nullptr;
    const double v = std::strtod(item.c_str(), &stop);
    if (item.empty() || stop != item.c_str() + item.size() || !std::isfinite(v)) {
      std::fprintf(stderr, "shewhart arl: --shift takes numbers separated by commas, found '%s'\n", item.c_str());
      return kExitUsage;
    }
    opts.shifts.push_back(v);
    start = end + 1;
  }
  const auto& spec = config->characteristics[static_cast<std::size_t>(id)];
  std::fprintf(stderr, "arl: %s (%s chart), %d runs per shift, seed %llu...\n", spec.id.c_str(),
               std::string(rules::ChartName(engine::PrimaryChart(spec.type))).c_str(), runs,
               static_cast<unsigned long long>(seed));
  auto rows = app::EstimateArl(spec, opts);
  if (!rows.ok()) {
    std::fprintf(stderr, "shewhart arl: %s\n", rows.status().message().c_str());
    return kExitUsage;
  }
  if (json) {
    for (const auto& r : *rows) {
      std::printf("%s\n", Json{{"characteristic", spec.id}, {"shift", r.shift}, {"arl", r.arl}, {"sd", r.sd},
                               {"se", r.se}, {"median", r.median}, {"runs", runs}, {"censored", r.censored}}
                              .dump(-1, ' ', false, engine::kReplaceInvalidUtf8)
                              .c_str());
    }
    return kExitOk;
  }
  std::printf("%-8s %12s %10s %10s %10s %9s\n", "SHIFT", "ARL", "SE", "SD", "MEDIAN", "CENSORED");
  for (const auto& r : *rows) {
    std::printf("%-8g %12.1f %10.1f %10.1f %10.1f %9lld\n", r.shift, r.arl, r.se, r.sd, r.median,
                static_cast<long long>(r.censored));
  }
  std::printf("shift in process sigmas; run length in plotted points after Phase I; spec-limit rules not counted\n");
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Shewhart: a real-time statistical process control and alerting engine.\n"
               "Exit codes: 0 success, 1 a finding (invalid config), 2 a usage or environment error."};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("shewhart ") + SHEWHART_VERSION);
  app.fallthrough();  // -v after the subcommand too (subcommands made below inherit it)
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "Log debug detail to stderr");

  std::string config_path, store_path;
  RunOptions run_opts;
  auto* run = app.add_subcommand("run", "Run the engine: sources -> shards -> responder -> actions, with HTTP /metrics and /api");
  run->add_option("-c,--config", config_path, "Configuration file (YAML)")->required();
  run->add_option("--duration", run_opts.duration_s, "Stop after this many seconds (default: until SIGINT/SIGTERM)")
      ->check(app::kNonNegative);
  run->add_option("--listen", run_opts.listen, "Override http.listen (host:port)");
  run->add_option("--latency-out", run_opts.latency_out,
                  "At exit, write to this file one JSON object: exact percentiles (p50, p90, p99, p999, max; ns) of the "
                  "latency of every rule signal whose measurement came from a zmq source, from arrival to the shard raising "
                  "the signal (top level) and to the responder handling it (\"response\"), and the run's counts "
                  "(measurements, rejects, signals, alarms_opened)");
  run->add_option("--latency-capacity", run_opts.latency_capacity,
                  "Latencies --latency-out keeps (the first N signals; 16 bytes each, allocated at start; later ones are "
                  "counted as dropped)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 30))
      ->capture_default_str();

  auto* check = app.add_subcommand("check", "Validate a configuration; print every problem as file:line:col: path: message");
  check->add_option("-c,--config", config_path, "Configuration file (YAML)")->required();

  std::vector<std::string> inputs;
  auto* replay = app.add_subcommand("replay", "Run the pipeline deterministically over CSV / JSONL files; JSON lines on stdout");
  replay->add_option("-c,--config", config_path, "Configuration file (YAML)")->required();
  replay->add_option("inputs", inputs, "Input files (.csv is CSV, anything else JSON lines), in order")->required();
  std::string replay_store = ":memory:";
  replay->add_option("--store", replay_store, "SQLite store for the replay (default: in memory)");

  bool json = false;
  std::string characteristic, shifts = "0";
  int runs = 1000;
  std::uint64_t seed = 1;
  auto* arl = app.add_subcommand("arl", "Estimate by simulation the average run length of a characteristic's chart and rules");
  arl->add_option("-c,--config", config_path, "Configuration file (YAML)")->required();
  arl->add_option("--characteristic", characteristic, "Characteristic id")->required();
  arl->add_option("--shift", shifts, "Mean shifts in process sigmas, comma-separated (default 0)");
  arl->add_option("--runs", runs, "Simulated runs per shift (default 1000)")->check(CLI::Range(1, 10000000));
  arl->add_option("--seed", seed, "Random seed (default 1)");
  arl->add_flag("--json", json, "JSON lines instead of a table");

  app::HoldsCommand holds_cmd;
  auto* holds = app.add_subcommand("holds", "Held units (quarantine): list, show, export (the store); dispose, status (a running engine)");
  holds->require_subcommand(1);
  auto add_store = [&](CLI::App* sub) {
    sub->add_option("-c,--config", config_path, "Configuration file (its store is read)");
    sub->add_option("--store", store_path, "SQLite store to read (instead of the config's)");
  };
  auto* holds_list = holds->add_subcommand("list", "List every held unit with its hold and alarm, then each hold");
  add_store(holds_list);
  holds_list->add_flag("--json", holds_cmd.json, "JSON lines instead of a table");
  auto* holds_show = holds->add_subcommand("show", "One hold: its units with their states and dispositions");
  holds_show->add_option("hold", holds_cmd.hold_id, "Hold id")->required()->check(CLI::PositiveNumber);
  add_store(holds_show);
  holds_show->add_flag("--json", holds_cmd.json, "One JSON object instead of a table");
  auto* holds_export = holds->add_subcommand(
      "export", "The recall list of a hold: every unit with its state, route, machines, operators, lots, assemblies");
  holds_export->add_option("hold", holds_cmd.hold_id, "Hold id")->required()->check(CLI::PositiveNumber);
  add_store(holds_export);
  holds_export->add_option("--format", holds_cmd.format, "csv (default; a header row) or json (JSON lines)");
  auto* holds_dispose = holds->add_subcommand(
      "dispose", "Release, rework or scrap held units of a hold (through the engine's HTTP API, with a token)");
  holds_dispose->add_option("hold", holds_cmd.hold_id, "Hold id")->required()->check(CLI::PositiveNumber);
  holds_dispose->add_option("--state", holds_cmd.state, "released, reworked or scrapped")->required();
  holds_dispose->add_option("--reason", holds_cmd.reason, "Reason code (the config's codes.dispositions)")->required();
  holds_dispose->add_option("--meaning", holds_cmd.meaning,
                            "Meaning of your signature (the config's codes.meanings), e.g. \"released by\"")
      ->required();
  holds_dispose->add_option("--note", holds_cmd.note, "Free text");
  holds_dispose->add_option("--serial", holds_cmd.serials, "A unit to dispose of (repeat for several)");
  holds_dispose->add_flag("--all", holds_cmd.all, "Every unit of the hold still held");
  holds_dispose->add_option("--exclude", holds_cmd.exclude, "With --all: a unit to leave held (repeatable)");
  holds_dispose->add_option("--url", holds_cmd.url, "The engine's HTTP address (default http://127.0.0.1:9464)");
  holds_dispose->add_option("--token-file", holds_cmd.token_file, "File whose first line is your token (default: $SHEWHART_TOKEN)");
  holds_dispose->add_flag("--json", holds_cmd.json, "Print the engine's JSON answer");
  auto* holds_status = holds->add_subcommand("status", "Ask a running engine whether a unit may move on (the MES interlock)");
  holds_status->add_option("serial", holds_cmd.serial, "Serial number")->required();
  holds_status->add_option("--url", holds_cmd.url, "The engine's HTTP address (default http://127.0.0.1:9464)");
  holds_status->add_flag("--json", holds_cmd.json, "Print the engine's JSON answer");

  app::LimitsOptions limits_opts;
  auto* limits = app.add_subcommand("limits", "Versions of the control limits (recorded in the store)");
  limits->require_subcommand(1);
  auto* limits_list = limits->add_subcommand("list", "List every limits version, oldest first");
  limits_list->add_option("-c,--config", config_path, "Configuration file (YAML)")->required();
  limits_list->add_option("--store", limits_opts.store_path, "SQLite store (default: the config's)");
  limits_list->add_option("--characteristic", limits_opts.characteristic, "Only this characteristic");
  limits_list->add_flag("--json", limits_opts.json, "JSON lines instead of a table");
  std::vector<std::string> recalc_inputs;
  auto* limits_recalc = limits->add_subcommand(
      "recalc",
      "Estimate new limits from recorded data (every point of the inputs is the Phase I baseline, with the chart's "
      "own estimator) and record them as a new version; a running engine applies it within a second");
  limits_recalc->add_option("-c,--config", config_path, "Configuration file (YAML)")->required();
  limits_recalc->add_option("--characteristic", limits_opts.characteristic, "Characteristic id")->required();
  limits_recalc->add_option("inputs", recalc_inputs, "Input files (.csv is CSV, anything else JSON lines)")->required();
  limits_recalc->add_option("--effective", limits_opts.effective,
                            "Event time from which points are judged against the new version: RFC 3339, or now "
                            "(default)");
  limits_recalc->add_option("--user", limits_opts.user, "Who asks for it (recorded)");
  limits_recalc->add_option("--reason", limits_opts.reason, "Why, e.g. the process change (recorded)");
  limits_recalc->add_option("--store", limits_opts.store_path, "SQLite store (default: the config's)");
  limits_recalc->add_flag("--dry-run", limits_opts.dry_run, "Print the estimate; record nothing");
  limits_recalc->add_flag("--json", limits_opts.json, "One JSON line instead of text");

  app::AlarmCommand alarm_cmd;
  auto* alarms = app.add_subcommand("alarms", "Act on an alarm of a running engine (through its HTTP API)");
  alarms->require_subcommand(1);
  auto add_common = [&](CLI::App* sub, bool needs_token) {
    sub->add_option("id", alarm_cmd.alarm_id, "Alarm id")->required()->check(CLI::PositiveNumber);
    sub->add_option("--url", alarm_cmd.url, "The engine's HTTP address (default http://127.0.0.1:9464)");
    if (needs_token) {
      sub->add_option("--token-file", alarm_cmd.token_file,
                      "File whose first line is your token (default: $SHEWHART_TOKEN)");
    }
    sub->add_flag("--json", alarm_cmd.json, "Print the engine's JSON answer");
  };
  auto* alarms_ack = alarms->add_subcommand("ack", "Acknowledge an alarm, recording its assignable cause and corrective action");
  add_common(alarms_ack, true);
  alarms_ack->add_option("--cause", alarm_cmd.cause, "Assignable-cause code (the config's codes.causes)")->required();
  alarms_ack->add_option("--action", alarm_cmd.action, "Corrective-action code (the config's codes.actions)")->required();
  alarms_ack->add_option("--note", alarm_cmd.note, "Free text");
  auto* alarms_resolve = alarms->add_subcommand("resolve", "Resolve an alarm by hand: its hold stops growing");
  add_common(alarms_resolve, true);
  alarms_resolve->add_option("--note", alarm_cmd.note, "Free text");
  auto* alarms_show = alarms->add_subcommand("show", "Show an alarm with its acknowledgements");
  add_common(alarms_show, false);
  app::SilenceCommand silence_cmd;
  auto* silences = app.add_subcommand(
      "silences", "Silence the notifications of matching alarms for a while (through a running engine's HTTP API)");
  silences->require_subcommand(1);
  auto add_silence_common = [&](CLI::App* sub, bool needs_token) {
    sub->add_option("--url", silence_cmd.url, "The engine's HTTP address (default http://127.0.0.1:9464)");
    if (needs_token) {
      sub->add_option("--token-file", silence_cmd.token_file,
                      "File whose first line is your token (default: $SHEWHART_TOKEN)");
    }
    sub->add_flag("--json", silence_cmd.json, "Print the engine's JSON answer (list: one silence per line)");
  };
  auto* silences_add = silences->add_subcommand(
      "add", "Silence alarms whose labels match every --match: they are recorded, their notifications not sent");
  add_silence_common(silences_add, true);
  silences_add
      ->add_option("--match", silence_cmd.matches,
                   "LABEL=VALUE, repeatable, all must hold; labels: characteristic, policy, rule, chart, station, "
                   "machine, lot, operator, model")
      ->required();
  silences_add->add_option("--duration", silence_cmd.duration, "How long from its start, e.g. 30m, 2h, 1d");
  silences_add->add_option("--ends", silence_cmd.ends, "When it ends (RFC 3339), instead of --duration");
  silences_add->add_option("--starts", silence_cmd.starts, "When it starts (RFC 3339; default now)");
  silences_add->add_option("--comment", silence_cmd.comment, "Why (recorded)")->required();
  auto* silences_list = silences->add_subcommand("list", "List every silence with its state, newest first");
  add_silence_common(silences_list, false);
  auto* silences_expire = silences->add_subcommand("expire", "End a silence now");
  add_silence_common(silences_expire, true);
  silences_expire->add_option("id", silence_cmd.silence_id, "Silence id")->required()->check(CLI::PositiveNumber);

  auto* audit = app.add_subcommand("audit", "The hash-chained audit log in the store");
  audit->require_subcommand(1);
  std::string audit_store;
  auto* audit_verify = audit->add_subcommand(
      "verify", "Recompute every hash of the audit chain; exit 0 when intact, 1 naming the first broken record");
  audit_verify->add_option("-c,--config", config_path, "Configuration file (its store is read)");
  audit_verify->add_option("--store", audit_store, "SQLite store to read (instead of the config's)");
  std::int64_t audit_from = 1;
  auto* audit_export = audit->add_subcommand(
      "export", "Write the audit records as JSON lines (seq, ts, kind, subject, actor, body, prev_hash, hash)");
  audit_export->add_option("-c,--config", config_path, "Configuration file (its store is read)");
  audit_export->add_option("--store", audit_store, "SQLite store to read (instead of the config's)");
  audit_export->add_option("--from", audit_from, "First seq to write (default 1)")->check(CLI::PositiveNumber);

  app::TraceCommand trace_cmd;
  std::string trace_store;
  auto* trace = app.add_subcommand("trace", "Genealogy queries against the store (unit events)");
  trace->require_subcommand(1);
  auto add_trace_common = [&](CLI::App* sub) {
    sub->add_option("-c,--config", config_path, "Configuration file (its store is read)");
    sub->add_option("--store", trace_store, "SQLite store to read (instead of the config's)");
    sub->add_flag("--json", trace_cmd.json, "JSON lines (one object per unit) instead of a table");
  };
  auto* trace_backward = trace->add_subcommand(
      "backward", "A unit's route (stations, times, machines, operators, lots), its assemblies and its components, "
                  "recursively; exit 1 for an unknown serial");
  trace_backward->add_option("serial", trace_cmd.serial, "Serial number")->required();
  add_trace_common(trace_backward);
  auto* trace_forward = trace->add_subcommand(
      "forward", "Every unit that consumed a lot and every assembly containing one, recursively; exit 1 when none");
  trace_forward->add_option("--lot", trace_cmd.lot, "Lot")->required();
  add_trace_common(trace_forward);
  auto* trace_window = trace->add_subcommand(
      "window", "Units with a record in a scope (all labels given must match) from --from (inclusive) to --to "
                "(exclusive), each with its first time; exit 1 when none");
  trace_window->add_option("--station", trace_cmd.station, "Station");
  trace_window->add_option("--machine", trace_cmd.machine, "Machine");
  trace_window->add_option("--lot", trace_cmd.lot, "Lot (in any position of a record's lots)");
  trace_window->add_option("--operator", trace_cmd.op, "Operator");
  trace_window->add_option("--from", trace_cmd.from, "Start, RFC 3339 (e.g. 2026-11-27T08:00:00Z), inclusive")->required();
  trace_window->add_option("--to", trace_cmd.to, "End, RFC 3339, exclusive (default: no end)");
  add_trace_common(trace_window);

  std::string known;
  bool found = argc < 2 || argv[1][0] == '-';
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    known += (known.empty() ? "" : ", ") + sub->get_name();
    found = found || sub->get_name() == argv[1];
  }
  if (!found) {
    std::fprintf(stderr, "shewhart: unknown subcommand '%s'; one of: %s (shewhart --help)\n", argv[1], known.c_str());
    return kExitUsage;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  }
  SetUpLogging(verbose);
  if (*run) return Run(config_path, run_opts);
  if (*check) return Check(config_path);
  if (*replay) return Replay(config_path, inputs, replay_store);
  if (*arl) return Arl(config_path, characteristic, shifts, runs, seed, json);
  if (*alarms_ack) return app::AlarmAck(alarm_cmd);
  if (*alarms_resolve) return app::AlarmResolve(alarm_cmd);
  if (*alarms_show) return app::AlarmShow(alarm_cmd);
  if (*silences_add) return app::SilenceAdd(silence_cmd);
  if (*silences_list) return app::SilenceList(silence_cmd);
  if (*silences_expire) return app::SilenceExpire(silence_cmd);
  if (*limits_list || *limits_recalc) {
    int code = kExitOk;
    auto config = Load(config_path, code);
    if (!config) return code;
    return *limits_list ? app::LimitsList(*config, limits_opts) : app::LimitsRecalc(*config, limits_opts, recalc_inputs);
  }
  if (*audit_verify || *audit_export) {
    const char* name = *audit_verify ? "verify" : "export";
    if (config_path.empty() && audit_store.empty()) {
      std::fprintf(stderr, "shewhart audit %s: give -c CONFIG or --store PATH\n", name);
      return kExitUsage;
    }
    std::string path = audit_store;
    if (path.empty()) {
      int code = kExitOk;
      auto config = Load(config_path, code);
      if (!config) return code;
      path = config->store_path;
    }
    return *audit_verify ? app::AuditVerify(path) : app::AuditExport(path, audit_from);
  }
  if (*trace_backward || *trace_forward || *trace_window) {
    const char* name = *trace_backward ? "backward" : *trace_forward ? "forward" : "window";
    if (config_path.empty() && trace_store.empty()) {
      std::fprintf(stderr, "shewhart trace %s: give -c CONFIG or --store PATH\n", name);
      return kExitUsage;
    }
    trace_cmd.store_path = trace_store;
    if (trace_cmd.store_path.empty()) {
      int code = kExitOk;
      auto config = Load(config_path, code);
      if (!config) return code == kExitFinding ? kExitUsage : code;
      trace_cmd.store_path = config->store_path;
    }
    return *trace_backward ? app::TraceBackward(trace_cmd)
           : *trace_forward ? app::TraceForward(trace_cmd)
                            : app::TraceWindow(trace_cmd);
  }
  if (*holds_dispose) return app::HoldsDispose(holds_cmd);
  if (*holds_status) return app::HoldsStatus(holds_cmd);
  if (*holds_list || *holds_show || *holds_export) {
    const char* name = *holds_list ? "list" : *holds_show ? "show" : "export";
    if (config_path.empty() && store_path.empty()) {
      std::fprintf(stderr, "shewhart holds %s: give -c CONFIG or --store PATH\n", name);
      return kExitUsage;
    }
    holds_cmd.store_path = store_path;
    if (holds_cmd.store_path.empty()) {
      int code = kExitOk;
      auto config = Load(config_path, code);
      if (!config) return code;
      holds_cmd.store_path = config->store_path;
    }
    return *holds_list ? app::HoldsList(holds_cmd) : *holds_show ? app::HoldsShow(holds_cmd) : app::HoldsExport(holds_cmd);
  }
  return kExitUsage;
}
