#include "limits.h"

#include <chrono>
#include <cstdio>
#include <vector>

#include "audit.h"
#include "shewhart/connectors/file/file_source.h"
#include "shewhart/engine/store/audit.h"
#include "shewhart/engine/pipeline/chart_runner.h"
#include "shewhart/engine/store/record_json.h"
#include "shewhart/engine/metrics/metrics.h"
#include "shewhart/engine/ingest/source.h"
#include "shewhart/engine/store/store.h"
#include "shewhart/engine/model/time_format.h"

namespace shewhart::app {

namespace {

// Collects the measurements of one characteristic; counts the rest.
class Collector : public engine::IngestSink {
 public:
  explicit Collector(engine::CharacteristicId id) : id_(id) {}
  bool OnMeasurement(const engine::Measurement& m) override {
    if (m.characteristic == id_) measurements.push_back(m);
    return true;
  }
  void OnUnitEvent(const engine::UnitEvent&) override {}
  void OnReject(const engine::RejectRecord& r) override {
    if (++rejects <= 5) std::fprintf(stderr, "shewhart limits: %s:%lld: %s\n", r.source.c_str(),
                                     static_cast<long long>(r.position), r.message.c_str());
  }
  void OnTransportDrop(std::uint64_t) override {}

  std::vector<engine::Measurement> measurements;
  std::int64_t rejects = 0;

 private:
  engine::CharacteristicId id_;
};

Result<std::unique_ptr<engine::Store>> OpenStore(const engine::Config& config, const std::string& store_path) {
  return engine::Store::Open(store_path.empty() ? config.store_path : store_path);
}

}  // namespace

Result<EventTime> ParseEffective(const std::string& text) {
  if (text.empty() || text == "now") {
    return std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
  }
  if (auto t = engine::ParseRfc3339(text)) return *t;
  return InvalidArgument("--effective: expected 'now' or an RFC 3339 time such as 2026-11-27T08:00:00Z, found '" +
                         text + "'");
}

int LimitsList(const engine::Config& config, const LimitsOptions& o) {
  if (!o.characteristic.empty() && config.FindCharacteristic(o.characteristic) < 0) {
    std::fprintf(stderr, "shewhart limits list: no characteristic '%s' in %s\n", o.characteristic.c_str(),
                 config.file.c_str());
    return 2;
  }
  auto store = OpenStore(config, o.store_path);
  if (!store.ok()) {
    std::fprintf(stderr, "shewhart limits list: %s\n", store.status().message().c_str());
    return 2;
  }
  auto versions = (*store)->ListLimitVersions(o.characteristic);
  if (!versions.ok()) {
    std::fprintf(stderr, "shewhart limits list: %s\n", versions.status().message().c_str());
    return 2;
  }
  if (o.json) {
    for (const auto& v : *versions) {
      engine::Json j = engine::LimitsJson(v);
      j["recorded"] = engine::FormatRfc3339(v.recorded);
      std::printf("%s\n", j.dump(-1, ' ', false, engine::kReplaceInvalidUtf8).c_str());
    }
    return 0;
  }
  std::printf("%-20s %-3s %-7s %-24s %-14s %-14s %-7s %-24s %s\n", "CHARACTERISTIC", "V", "ORIGIN", "EFFECTIVE",
              "CENTER", "SIGMA", "POINTS", "RECORDED", "BY / REASON");
  for (const auto& v : *versions) {
    std::printf("%-20s %-3lld %-7s %-24s %-14.8g %-14.8g %-7lld %-24s %s%s%s\n", v.characteristic.c_str(),
                static_cast<long long>(v.version), v.origin.c_str(), engine::FormatRfc3339(v.effective).c_str(),
                v.center, v.sigma, static_cast<long long>(v.points), engine::FormatRfc3339(v.recorded).c_str(),
                v.user.c_str(), v.user.empty() || v.reason.empty() ? "" : ": ", v.reason.c_str());
  }
  std::printf("%zu limits version%s\n", versions->size(), versions->size() == 1 ? "" : "s");
  return 0;
}

int LimitsRecalc(const engine::Config& config, const LimitsOptions& o, const std::vector<std::string>& inputs) {
  const int index = config.FindCharacteristic(o.characteristic);
  if (index < 0) {
    std::fprintf(stderr, "shewhart limits recalc: no characteristic '%s' in %s\n", o.characteristic.c_str(),
                 config.file.c_str());
    return 2;
  }
  const auto& spec = config.characteristics[static_cast<std::size_t>(index)];
  auto effective = ParseEffective(o.effective);
  if (!effective.ok()) {
    std::fprintf(stderr, "shewhart limits recalc: %s\n", effective.status().message().c_str());
    return 2;
  }
  std::vector<std::string> ids;
  std::vector<bool> attribute;
  std::vector<int> widths;
  for (const auto& c : config.characteristics) {
    ids.push_back(c.id);
    attribute.push_back(engine::IsAttribute(c.type));
    widths.push_back(c.type == engine::ChartType::kT2 ? c.t2.variables : 0);
  }
  engine::CharacteristicIndex index_of(ids, attribute, widths);
  Collector collector(static_cast<engine::CharacteristicId>(index));
  for (const auto& input : inputs) {
    engine::FileSourceSpec fs;
    fs.path = input;
    if (input.size() > 4 && input.substr(input.size() - 4) == ".csv") fs.format = engine::FileSourceSpec::Format::kCsv;
    auto stats = connectors::file::ReadFile(fs, input, index_of, config.max_message_bytes, collector);
    if (!stats.ok()) {
      std::fprintf(stderr, "shewhart limits recalc: %s\n", stats.status().message().c_str());
      return 2;
    }
  }
  auto estimate = engine::EstimateLimits(spec, collector.measurements);
  if (!estimate.ok()) {
    std::fprintf(stderr, "shewhart limits recalc: %s\n", estimate.status().message().c_str());
    return 1;
  }
  engine::LimitVersion v;
  v.characteristic = spec.id;
  v.effective = *effective;
  v.recorded = std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
  v.origin = "recalc";
  v.center = estimate->limits.center;
  v.sigma = estimate->limits.sigma;
  v.points = estimate->points;
  v.user = o.user;
  v.reason = o.reason;
  if (!o.dry_run) {
    auto store = OpenStore(config, o.store_path);
    if (!store.ok()) {
      std::fprintf(stderr, "shewhart limits recalc: %s\n", store.status().message().c_str());
      return 2;
    }
    auto id = (*store)->InsertLimitVersion(v);
    if (!id.ok()) {
      std::fprintf(stderr, "shewhart limits recalc: %s\n", id.status().message().c_str());
      return 2;
    }
    auto stored = (*store)->ListLimitVersions(spec.id, *id - 1);
    if (stored.ok() && !stored->empty()) v = stored->front();
    auto audited = engine::AppendAudit(**store, "limits.version", "limits/" + v.characteristic,
                                       v.user.empty() ? OsActor() : v.user, engine::LimitsAuditBody(v));
    if (!audited.ok()) {
      std::fprintf(stderr, "shewhart limits recalc: version %lld recorded, but not in the audit log: %s\n",
                   static_cast<long long>(v.version), audited.status().message().c_str());
      return 2;
    }
  }
  if (o.json) {
    engine::Json j = engine::LimitsJson(v);
    j["recorded"] = engine::FormatRfc3339(v.recorded);
    j["dry_run"] = o.dry_run;
    std::printf("%s\n", j.dump(-1, ' ', false, engine::kReplaceInvalidUtf8).c_str());
  } else {
    std::printf("%s limits of '%s'%s: centre %.10g%s from %lld points of %zu measurements (%lld rejected lines), "
                "effective %s\n",
                o.dry_run ? "would record" : "recorded", spec.id.c_str(),
                o.dry_run ? "" : (" as version " + std::to_string(v.version)).c_str(), v.center,
                v.sigma > 0 ? ((engine::IsAttribute(spec.type) ? ", sigma_z " : ", sigma ") +
                               engine::FormatMetricValue(v.sigma))
                                  .c_str()
                            : "",
                static_cast<long long>(v.points), collector.measurements.size(),
                static_cast<long long>(collector.rejects), engine::FormatRfc3339(v.effective).c_str());
    if (!o.dry_run) {
      std::printf("a running engine on this store applies it within a second, to measurements at or after %s\n",
                  engine::FormatRfc3339(v.effective).c_str());
    }
  }
  return 0;
}

}  // namespace shewhart::app
