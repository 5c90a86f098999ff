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


using namespace shewhart;
using namespace shewhart::app;

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
  auto* run = app.add_subcommand(
      "run", "Run the engine: sources -> shards -> responder -> actions, with HTTP /metrics and /api");
  run->add_option("-c,--config", config_path, "Configuration file (YAML)")->required();
  run->add_option("--duration", run_opts.duration_s, "Stop after this many seconds (default: until SIGINT/SIGTERM)")
      ->check(app::kNonNegative);
  run->add_option("--listen", run_opts.listen, "Override http.listen (host:port)");
  run->add_option(
      "--latency-out", run_opts.latency_out,
      "At exit, write to this file one JSON object: exact percentiles (p50, p90, p99, p999, max; ns) of the "
      "latency of every rule signal whose measurement came from a zmq source, from arrival to the shard raising "
      "the signal (top level) and to the responder handling it (\"response\"), and the run's counts "
      "(measurements, rejects, signals, alarms_opened)");
  run->add_option(
         "--latency-capacity", run_opts.latency_capacity,
         "Latencies --latency-out keeps (the first N signals; 16 bytes each, allocated at start; later ones are "
         "counted as dropped)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 30))
      ->capture_default_str();

  auto* check =
      app.add_subcommand("check", "Validate a configuration; print every problem as file:line:col: path: message");
  check->add_option("-c,--config", config_path, "Configuration file (YAML)")->required();

  std::vector<std::string> inputs;
  auto* replay =
      app.add_subcommand("replay",
                        "Run the pipeline deterministically over CSV / JSONL files; JSON lines on stdout. On a "
                        "long input a progress line goes to stderr every 5 s (lines read, lines/s, signals, alarms)");
  replay->add_option("-c,--config", config_path, "Configuration file (YAML)")->required();
  replay->add_option("inputs", inputs, "Input files (.csv is CSV, anything else JSON lines), in order")->required();
  std::string replay_store = ":memory:";
  replay->add_option("--store", replay_store, "SQLite store for the replay (default: in memory)");

  bool json = false;
  std::string characteristic, shifts = "0";
  int runs = 1000;
  std::uint64_t seed = 1;
  auto* arl =
      app.add_subcommand("arl", "Estimate by simulation the average run length of a characteristic's chart and rules");
  arl->add_option("-c,--config", config_path, "Configuration file (YAML)")->required();
  arl->add_option("--characteristic", characteristic, "Characteristic id")->required();
  arl->add_option("--shift", shifts, "Mean shifts in process sigmas, comma-separated (default 0)");
  arl->add_option("--runs", runs, "Simulated runs per shift (default 1000)")->check(CLI::Range(1, 10000000));
  arl->add_option("--seed", seed, "Random seed (default 1)");
  arl->add_flag("--json", json, "JSON lines instead of a table");

  int route_shards = 0;
  bool routes_json = false;
  auto* routes = app.add_subcommand(
      "routes",
      "Print each characteristic's key group, the shard that judges it, and the source whose thread does so "
      "(engine.judge: source): send a characteristic's measurements to that source's endpoint and they never "
      "cross a thread");
  routes->add_option("-c,--config", config_path, "Configuration file (YAML)")->required();
  routes->add_option("--shards", route_shards,
                     "Shards of the engine that will run (default: engine.shards; 0 there means the hardware threads "
                     "of this machine, which may differ from the engine's)")
      ->check(CLI::Range(1, 256));
  routes->add_flag("--json", routes_json, "JSON lines (characteristic, group, shard, source, endpoint)");

  app::HoldsCommand holds_cmd;
  auto* holds = app.add_subcommand(
      "holds", "Held units (quarantine): list, show, export (the store); dispose, status (a running engine)");
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
  holds_dispose->add_option("--token-file", holds_cmd.token_file,
                            "File whose first line is your token (default: $SHEWHART_TOKEN)");
  holds_dispose->add_flag("--json", holds_cmd.json, "Print the engine's JSON answer");
  auto* holds_status =
      holds->add_subcommand("status", "Ask a running engine whether a unit may move on (the MES interlock)");
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
  auto* alarms_ack =
      alarms->add_subcommand("ack", "Acknowledge an alarm, recording its assignable cause and corrective action");
  add_common(alarms_ack, true);
  alarms_ack->add_option("--cause", alarm_cmd.cause, "Assignable-cause code (the config's codes.causes)")->required();
  alarms_ack->add_option("--action", alarm_cmd.action, "Corrective-action code (the config's codes.actions)")
      ->required();
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
  trace_window->add_option("--from", trace_cmd.from, "Start, RFC 3339 (e.g. 2026-11-27T08:00:00Z), inclusive")
      ->required();
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
  if (*routes) return Routes(config_path, route_shards, routes_json);
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
    return *limits_list ? app::LimitsList(*config, limits_opts)
                        : app::LimitsRecalc(*config, limits_opts, recalc_inputs);
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
    return *holds_list   ? app::HoldsList(holds_cmd)
           : *holds_show ? app::HoldsShow(holds_cmd)
                         : app::HoldsExport(holds_cmd);
  }
  return kExitUsage;
}

