// What the engine records and reports outside the responder: limits versions (Phase I
// estimates of the shards, versions recorded by `shewhart limits`), retention, audit records,
// health; and the store's opening, checkpointer and per-characteristic metrics at Start.
#include <spdlog/spdlog.h>

#include <filesystem>

#include "engine_parts.h"
#include "shewhart/engine/store/audit.h"

namespace shewhart::engine {

namespace {
bool UsesPhase1(const CharacteristicSpec& spec) {
  if (IsAttribute(spec.type)) return spec.attribute.mode == rules::AttributeChartSpec::LimitMode::kPhase1;
  if (spec.type == ChartType::kXbarR || spec.type == ChartType::kXbarS) {
    return spec.subgroup.mode == rules::SubgroupChartSpec::LimitMode::kPhase1;
  }
  return spec.chart.mode == rules::IndividualsChartSpec::LimitMode::kPhase1;
}

}  // namespace

// Opens and locks the store, audits the config in force, exports the store's write failures.
Status Engine::OpenStore() {
  auto store = Store::Open(options_.store_path.empty() ? config_.store_path : options_.store_path);
  if (!store.ok()) return store.status();
  store_ = std::move(*store);
  SHEWHART_RETURN_IF_ERROR(store_->LockExclusive());  // one engine per store: no delivery sent twice
  {
    // Which config was in force from here on: its file and a digest of the text loaded.
    std::error_code ec;
    const auto file = std::filesystem::absolute(config_.file, ec);
    (void)Audit("config.loaded", "config",
          Json{{"file", ec ? config_.file : file.string()}, {"sha256", config_.text_sha256},
               {"characteristics", config_.characteristics.size()}, {"store", store_->path()}});
  }
  metrics_.AddCounter("shewhart_store_write_failures_total",
                      "Units of work (a batch of signals with their alarms, holds, outbox rows and audit records) the "
                      "store could not begin or commit: disk full, file-size limit, I/O error.",
                      {}, &store_->write_failures());
  return Status::Ok();
}

void Engine::StartCheckpointer() {
  // WAL checkpoints (and their fdatasync calls) on a thread of their own, not in the
  // responder's commits.
  if (Status st = store_->StartCheckpointer(std::chrono::seconds(1)); !st.ok()) {
    spdlog::warn("{}; checkpoints stay with the writing threads", st.message());
  } else {
    const Store::CheckpointCounters& c = store_->checkpoint_counters();
    const char* help = "Passive WAL checkpoints of the store, by the checkpointer thread or by the writing thread "
                       "(when the WAL reaches 8000 pages), done or failed.";
    metrics_.AddCounter("shewhart_store_checkpoints_total", help, {{"by", "thread"}, {"outcome", "done"}},
                        &c.thread_ok);
    metrics_.AddCounter("shewhart_store_checkpoints_total", help, {{"by", "thread"}, {"outcome", "failed"}},
                        &c.thread_failed);
    metrics_.AddCounter("shewhart_store_checkpoints_total", help, {{"by", "writer"}, {"outcome", "done"}},
                        &c.writer_ok);
    metrics_.AddCounter("shewhart_store_checkpoints_total", help, {{"by", "writer"}, {"outcome", "failed"}},
                        &c.writer_failed);
  }
}

Status Engine::OpenJournal() {
  journal_failures_ = metrics_.GetCounter(
      "shewhart_signal_journal_failures_total",
      "Signals published without their record in the signal journal (it could not be written): a crash before "
      "they are stored loses them.");
  if (store_->path().empty() || store_->path() == ":memory:") return Status::Ok();
  auto journal = SignalJournal::Open(store_->path() + "-signals");
  if (!journal.ok()) return journal.status();
  journal_ = std::move(*journal);
  auto pending = journal_->Read(responder_->journal_done());
  if (!pending.ok()) return pending.status();
  if (!pending->empty()) {
    spdlog::warn("storing {} signal(s) that the last run published and did not store (signal journal {})",
                 pending->size(), journal_->path());
    SHEWHART_RETURN_IF_ERROR(responder_->CompleteJournaled(*pending));
  }
  journal_->Committed(responder_->journal_done());
  return Status::Ok();
}

void Engine::ExportCharacteristicMetrics() {
  // The per-characteristic series of /metrics: the first engine.metrics_max_characteristics
  // characteristics in config order (capability from the window their shard publishes).
  const std::size_t exported = std::min(config_.characteristics.size(), config_.metrics_max_characteristics);
  for (std::size_t i = 0; i < exported; ++i) {
    const auto id = static_cast<CharacteristicId>(i);
    characteristic_metrics_[i] = std::make_unique<CharacteristicMetrics>(metrics_, config_.characteristics[i],
                                                                         shards_[shard_of_[i]]->shard.Window(id));
  }
  const std::size_t omitted = config_.characteristics.size() - exported;
  metrics_
      .GetCounter("shewhart_metrics_characteristics_omitted_total",
                  "Characteristics left out of the per-characteristic series (engine.metrics_max_characteristics).")
      ->Inc(omitted);
  if (omitted > 0) {
    spdlog::warn("/metrics: the series of {} of {} characteristics are left out (engine.metrics_max_characteristics is "
                 "{}); the first left out is '{}'",
                 omitted, config_.characteristics.size(), config_.metrics_max_characteristics,
                 config_.characteristics[exported].id);
  }
}

void Engine::RecordLimits(CharacteristicId characteristic, const LimitValues& limits, EventTime effective,
                          std::int64_t points, std::int64_t excluded) {
  if (!LimitsUsable(config_.characteristics[characteristic], limits)) {
    // Limits no chart could be given again after a restart (an x-bar baseline whose every
    // subgroup has range 0, a Laney baseline whose subgroups all have the same z): not a
    // version. The chart judges against them until then.
    spdlog::warn("limits of '{}': the Phase I estimate has sigma {}; not recorded as a version",
                 config_.characteristics[characteristic].id, limits.sigma);
    return;
  }
  LimitVersion v;
  v.characteristic = config_.characteristics[characteristic].id;
  v.effective = effective;
  v.recorded = WallClock();
  v.origin = "phase1";
  v.center = limits.center;
  v.sigma = limits.sigma;
  v.points = points;
  const ChartType type = config_.characteristics[characteristic].type;
  const bool by_value = type == ChartType::kIndividuals || type == ChartType::kEwma || type == ChartType::kCusum;
  v.reason = "Phase I baseline of " + std::to_string(points + excluded) + (by_value ? " values" : " subgroups");
  if (excluded > 0) v.reason += ", " + std::to_string(excluded) + " excluded as beyond the trial limits";
  std::lock_guard lock(limits_mu_);
  auto id = store_->InsertLimitVersion(v);
  if (!id.ok()) {
    spdlog::error("limits version of '{}' not recorded: {}", v.characteristic, id.status().message());
    return;
  }
  auto stored = store_->ListLimitVersions(v.characteristic, *id - 1);
  if (stored.ok() && !stored->empty()) v = stored->front();
  (void)Audit("limits.version", "limits/" + v.characteristic, LimitsAuditBody(v));
  spdlog::info("limits of '{}': version {} ({}), centre {}, sigma {}", v.characteristic, v.version, v.reason, v.center,
               v.sigma);
  if (options_.listener) options_.listener->OnLimits(v);
}

void Engine::PruneNow() {
  const EventTime now = WallClock();
  PruneCutoffs cut;
  cut.records = now - config_.retain_records;
  cut.genealogy = now - config_.retain_genealogy;
  cut.rejects = now - config_.retain_rejects;
  auto n = store_->Prune(cut);
  if (!n.ok()) {
    spdlog::error("retention: pruning the store failed: {}", n.status().message());
    return;
  }
  static const char* kHelp = "Records deleted by retention (store.retention), by kind.";
  metrics_.GetCounter("shewhart_pruned_total", kHelp, {{"kind", "unit_events"}})
      ->Inc(static_cast<std::uint64_t>(n->unit_events));
  metrics_.GetCounter("shewhart_pruned_total", kHelp, {{"kind", "rejects"}})
      ->Inc(static_cast<std::uint64_t>(n->rejects));
  metrics_.GetCounter("shewhart_pruned_total", kHelp, {{"kind", "alarms"}})->Inc(static_cast<std::uint64_t>(n->alarms));
  metrics_.GetCounter("shewhart_pruned_total", kHelp, {{"kind", "audit_records"}})
      ->Inc(static_cast<std::uint64_t>(n->audit_records));
  if (n->unit_events + n->rejects + n->alarms + n->audit_records == 0) return;
  Json body{{"unit_events", n->unit_events}, {"rejects", n->rejects}, {"alarms", n->alarms},
            {"audit_records", n->audit_records}, {"records_before", FormatRfc3339(cut.records)},
            {"genealogy_before", FormatRfc3339(cut.genealogy)}, {"rejects_before", FormatRfc3339(cut.rejects)}};
  if (n->anchor_seq > 0) {
    body["anchor_seq"] = n->anchor_seq;
    body["anchor_hash"] = n->anchor_hash;
  }
  (void)Audit("store.pruned", "store", body);
  if (n->alarms > 0) {
    // Holds went with their alarms: the hold gauges are counted again, on the responder's thread.
    std::lock_guard lock(commands_mu_);
    commands_.push_back([this] { responder_->RecountHolds(); });
  }
  spdlog::info("retention: pruned {} unit events, {} rejects, {} alarms (with their holds), {} audit records",
               n->unit_events, n->rejects, n->alarms, n->audit_records);
}

Status Engine::Audit(std::string kind, std::string subject, const Json& body, const std::string& actor) {
  auto r = AppendAudit(*store_, kind, std::move(subject), actor, body);
  if (!r.ok()) {
    audit_failures_total_->Inc();
    spdlog::error("audit log: {} record not appended: {}", kind, r.status().message());
    return r.status();
  }
  return Status::Ok();
}

Status Engine::LoadLimitVersions(bool skip_phase1) {
  auto versions = store_->ListLimitVersions("", limits_seen_);
  if (!versions.ok()) return versions.status();
  for (const auto& v : *versions) {
    limits_seen_ = std::max(limits_seen_, v.id);
    const std::int64_t id = index_.Find(v.characteristic);
    if (id < 0 || (skip_phase1 && v.origin == "phase1")) continue;
    const auto c = static_cast<CharacteristicId>(id);
    const CharacteristicSpec& spec = config_.characteristics[c];
    if (spec.type == ChartType::kT2) continue;  // T^2 limits are not versioned
    // An earlier run's Phase I estimate replaces the baseline only while the config still asks
    // for one: a config that now gives known limits wins over it (recalculations always apply).
    if (v.origin == "phase1" && !UsesPhase1(spec)) continue;
    // A version no chart can judge against (a store written before such estimates were
    // refused, or edited by hand) is left out, loudly, rather than stopping the engine.
    // A laney chart needs its sigma_z (> 0: a version recorded without one, for the plain chart
    // of an earlier config, is not one).
    if (!LimitsUsable(spec, LimitValues{v.center, v.sigma})) {
      spdlog::error("limits of '{}': version {} ({}) ignored: center {}, sigma {} give no limits to judge against",
                    v.characteristic, v.version, v.origin, v.center, v.sigma);
      continue;
    }
    spdlog::info("limits of '{}': version {} ({}) in force from {}", v.characteristic, v.version, v.origin,
                 FormatRfc3339(v.effective));
    shards_[shard_of_[c]]->shard.AddLimitVersion(c, LimitValues{v.center, v.sigma}, v.effective);
  }
  return Status::Ok();
}

std::string Engine::HealthJson(bool& healthy) const {
  Json doc = Json::object();
  Json checks = Json::array();
  healthy = true;
  for (const auto& [name, fn] : health_) {
    Status st = fn();
    healthy &= st.ok();
    checks.push_back(
        Json{{"name", name}, {"status", st.ok() ? "ok" : "failing"}, {"message", st.ok() ? "" : st.message()}});
  }
  {
    std::lock_guard lock(store_health_mu_);
    healthy &= store_health_.ok();
    checks.push_back(Json{{"name", "store"}, {"status", store_health_.ok() ? "ok" : "failing"},
                          {"message", store_health_.ok() ? "" : store_health_.message()}});
  }
  std::uint64_t lost = trace_ ? trace_->failed() : 0;
  healthy &= lost == 0;
  checks.push_back(Json{{"name", "genealogy"}, {"status", lost == 0 ? "ok" : "failing"},
                        {"message", lost == 0 ? "" : std::to_string(lost) + " records could not be stored"}});
  doc["status"] = healthy ? "ok" : "degraded";
  doc["checks"] = std::move(checks);
  return doc.dump(-1, ' ', false, kReplaceInvalidUtf8);
}

}  // namespace shewhart::engine
