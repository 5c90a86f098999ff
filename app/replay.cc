// `shewhart replay` (engine_commands.h): the writer of the replay lines and the inline engine.

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
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
      if (cs.sigma_z) j["sigma_z"] = *cs.sigma_z;
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

// An IngestSink wrapper that also writes reject lines to the replay output, and a progress line to
// stderr every kProgressEvery of a long input.
class ReplaySink : public engine::IngestSink {
 public:
  static constexpr std::chrono::seconds kProgressEvery{5};

  ReplaySink(engine::IngestSink& inner, ReplayWriter& writer, const engine::Engine& eng, std::string input)
      : inner_(inner), writer_(writer), eng_(eng), input_(std::move(input)) {}
  bool OnMeasurement(const engine::Measurement& m) override {
    Progress();
    return inner_.OnMeasurement(m);
  }
  void OnUnitEvent(const engine::UnitEvent& e) override {
    Progress();
    inner_.OnUnitEvent(e);
  }
  void OnReject(const engine::RejectRecord& r) override {
    Progress();
    writer_.WriteReject(r);
    inner_.OnReject(r);
  }
  void OnTransportDrop(std::uint64_t n) override { inner_.OnTransportDrop(n); }
  bool Flush() override { return inner_.Flush(); }

 private:
  using Clock = std::chrono::steady_clock;
  // Every 16384 records, a look at the clock.
  void Progress() {
    if ((++records_ & 16383) != 0) return;
    const Clock::time_point now = Clock::now();
    if (now - last_ < kProgressEvery) return;
    last_ = now;
    const double seconds = std::chrono::duration<double>(now - start_).count();
    std::fprintf(stderr, "%s: %llu lines so far (%.0f lines/s), %llu signals, %llu alarms\n", input_.c_str(),
                 static_cast<unsigned long long>(records_), static_cast<double>(records_) / seconds,
                 static_cast<unsigned long long>(eng_.signals()),
                 static_cast<unsigned long long>(eng_.alarms_opened()));
  }

  engine::IngestSink& inner_;
  ReplayWriter& writer_;
  const engine::Engine& eng_;
  std::string input_;
  std::uint64_t records_ = 0;
  Clock::time_point start_ = Clock::now();
  Clock::time_point last_ = start_;
};
}  // namespace

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
    if (input.size() > 4 && input.substr(input.size() - 4) == ".csv")
      spec.format = engine::FileSourceSpec::Format::kCsv;
    ReplaySink sink(eng.RegisterSource(input), writer, eng, input);
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

}  // namespace shewhart::app
