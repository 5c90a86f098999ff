#pragma once
// The engine's configuration: YAML mapped onto typed specs (docs/CONFIG.md is the reference).
//
// LoadConfigFile / LoadConfigText collect every problem they find, each with the file, line
// and column of the offending node, its key path (`characteristics[3].limits.sigma`) and a
// message naming what was expected and what was found. Unknown and duplicate keys are
// problems. Nothing is clamped or defaulted silently: a value out of range is a problem.

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <unordered_map>
#include <vector>

#include "shewhart/base/status.h"
#include "shewhart/rules/attribute_chart.h"
#include "shewhart/rules/cusum_chart.h"
#include "shewhart/rules/ewma_chart.h"
#include "shewhart/rules/individuals_chart.h"
#include "shewhart/rules/rate_rule.h"
#include "shewhart/rules/run_rules.h"
#include "shewhart/rules/subgroup_chart.h"
#include "shewhart/rules/threshold_rule.h"
#include "shewhart/rules/t2_chart.h"

namespace shewhart::engine {

struct ConfigProblem {
  std::string file;
  int line = 0;    // 1-based; 0 when the problem has no position
  int column = 0;  // 1-based
  std::string path;
  std::string message;
  // "file:line:col: path: message"
  std::string ToString() const;
};

struct ZmqSourceSpec {
  std::string endpoint;
  bool bind = true;           // `bind:` or `connect:`
  bool subscribe = false;     // pattern: pull (default) | sub
  int receive_hwm = 100000;   // ZMQ_RCVHWM
};

struct FileSourceSpec {
  std::string path;
  enum class Format { kJsonl, kCsv } format = Format::kJsonl;
};

struct SourceSpec {
  std::string name;  // the source label in metrics and reject records, e.g. "zmq0", "file1"
  enum class Kind { kZmq, kFile } kind = Kind::kZmq;
  ZmqSourceSpec zmq;
  FileSourceSpec file;
};

// Context labels a suspect window can be scoped by.
// Every context label of the wire format can be a scope key.
enum class ScopeKey { kStation, kMachine, kLot, kOperator, kModel };
inline constexpr int kMaxScopeKeys = 5;
const char* ScopeKeyName(ScopeKey key);

// The chart a characteristic is plotted on.
enum class ChartType { kIndividuals, kEwma, kCusum, kP, kNp, kC, kU, kXbarR, kXbarS, kT2 };
bool IsAttribute(ChartType type);

struct CharacteristicSpec {
  std::string id;
  std::string unit;
  ChartType type = ChartType::kIndividuals;
  // The variables chart's common settings: limit mode (phase1 points, or known mean and
  // sigma), k_sigma, boundary, rule 1, spec limits and spec rules. EWMA and CUSUM take their
  // centre and sigma from it (known, or estimated from the phase1 points as the individuals
  // chart does).
  rules::IndividualsChartSpec chart;
  rules::EwmaChartSpec ewma;            // kEwma: lambda, k_sigma, boundary
  rules::CusumChartSpec cusum;          // kCusum: k, h, head_start, reset, boundary
  rules::AttributeChartSpec attribute;  // kP, kNp, kC, kU
  rules::SubgroupChartSpec subgroup;    // kXbarR, kXbarS
  // kT2: variables (p), subgroup_size, limits, confidence, boundary, rule 1. Its measurements
  // carry p values (Measurement::values); spec limits and run rules beyond rule 1 do not apply.
  rules::T2ChartSpec t2;
  // kT2: the names of the p variables, in the order of a measurement's `values`, when the
  // config names them (`variables: [a, b]`); empty when it gives only their number.
  std::vector<std::string> variable_names;
  // Run rules beyond rule 1 (rule 1 is the chart's own): on the primary chart (individuals,
  // x-bar, p, np, c, u), and on its companion (mr, r, s: the primary's rules among 1-4).
  // EWMA and CUSUM take none (their points are not independent).
  rules::RunRulesSpec run_rules;
  rules::RunRulesSpec companion_rules;
  // Warning lines of the primary chart at centre +/- warning_sigmas zone sigmas (0: none):
  // drawn in the output (replay points' `uwl` / `lwl`), judged by no rule.
  double warning_sigmas = 0;
  // Capability (variables charts with spec limits): over the last `capability_window` values,
  // or every value since the start with 0; intervals at `capability_confidence`.
  std::size_t capability_window = 0;
  double capability_confidence = 0.95;
  // Rules `threshold` and `rate`, judged on each measured value (variables charts only).
  std::optional<rules::ThresholdSpec> threshold;
  std::optional<rules::RateSpec> rate;
  // Rule `stale`: a signal when no measurement of the characteristic has arrived for this long
  // (wall-clock time in `run`; the input's event time in `replay`).
  std::optional<std::chrono::microseconds> stale_after;
  // A measurement whose event time is earlier than the newest one already accepted for the
  // characteristic by more than this is rejected with reason `late` (absent: none is late).
  std::optional<std::chrono::microseconds> late_tolerance;
  // This characteristic's engine.future_tolerance and engine.past_tolerance (absent: the engine's).
  std::optional<std::chrono::microseconds> future_tolerance, past_tolerance;
  std::vector<ScopeKey> scope{ScopeKey::kStation};
  std::string response;  // a key of Config::responses; empty = the built-in "default" policy
};

// Labels a windowed count can be grouped by (`group_by`); kCharacteristic counts every signal of
// the characteristic under the policy.
enum class GroupBy { kCharacteristic, kStation, kMachine, kLot, kOperator, kModel };
inline constexpr int kSignalLabels = 5;  // station, machine, lot, operator, model

// When an alarm enters a tier.
struct TierCondition {
  enum class Kind {
    kAnySignal,       // signal: any
    kRules,           // rule: [nelson.1, spec, ...]: the signal's rule is listed
    kCount,           // signals: N, within: T[, group_by: LABEL]: N signals within T of event time
    kUnacknowledged,  // unacknowledged_for: T: T after the alarm reached the previous tier, not acknowledged
  };
  Kind kind = Kind::kAnySignal;
  std::vector<rules::RuleKind> rules;
  int count = 0;
  std::chrono::microseconds within{};
  GroupBy group_by = GroupBy::kCharacteristic;
  std::chrono::microseconds unacknowledged_for{};
};

struct TierSpec {
  int tier = 1;
  TierCondition when;
  std::vector<std::string> actions;  // hook names; "log" is built in
};

struct ResponseSpec {
  std::string name;
  std::vector<TierSpec> tiers;
  // An open alarm resolves after this many consecutive in-control observations in its scope
  // (0: never automatically; resolution by hand comes with acknowledgement).
  int resolve_after = 0;
  // Damps flapping: a signal within this time (event time) of the resolution of the previous
  // alarm of the same characteristic and scope reopens that alarm instead of opening a new one
  // (0: never).
  std::chrono::microseconds min_interval{0};
};

// `webhook:` an HTTP POST of the alarm document (docs/CONFIG.md, docs/REFERENCE.md "Hooks").
struct WebhookSpec {
  std::string url;  // a template (HookTemplate) starting with http:// or https://
  std::vector<std::pair<std::string, std::string>> headers;  // name, value template; config order
  std::chrono::microseconds timeout{std::chrono::seconds(5)};  // whole request, connect included
  // How often the alerts of open alarms are sent again (Alertmanager ends an alert that is not
  // re-sent within its resolve_timeout, default 5m).
  std::chrono::microseconds refresh{std::chrono::minutes(1)};
};

// `exec:` a program run without a shell, the alarm document on its standard input.
struct ExecSpec {
  std::vector<std::string> argv;  // argv[0] an absolute path (no template); others templates
  std::vector<std::pair<std::string, std::string>> env;  // added to the engine's environment
  std::chrono::microseconds timeout{std::chrono::seconds(10)};  // then the program is killed
};

// `alertmanager:` the alarm as a Prometheus Alertmanager alert (POST <url>/api/v2/alerts), sent
// again with endsAt when the alarm is resolved (docs/CONFIG.md, docs/REFERENCE.md "Hooks").
struct AlertmanagerSpec {
  std::string url;            // base URL, http:// or https://, no template, no trailing '/'
  std::string generator_url;  // optional template for the alert's generatorURL; empty: none
  std::chrono::microseconds timeout{std::chrono::seconds(5)};  // whole request, connect included
  // How often the alerts of open alarms are sent again (Alertmanager ends an alert that is not
  // re-sent within its resolve_timeout, default 5m).
  std::chrono::microseconds refresh{std::chrono::minutes(1)};
};

struct HookSpec {
  std::string name;
  enum class Kind { kLog, kZmqPub, kWebhook, kExec, kAlertmanager } kind = Kind::kLog;
  std::string endpoint;            // kZmqPub: bind address
  WebhookSpec webhook;             // kWebhook
  ExecSpec exec;                   // kExec
  AlertmanagerSpec alertmanager;   // kAlertmanager
  // kWebhook, kExec, kAlertmanager (durable: through the outbox). A delivery is attempted at most
  // 1 + retries times, then dead-lettered.
  int retries = 10;
  // Backoff overrides of engine.retry_base / engine.retry_max for this hook.
  std::optional<std::chrono::microseconds> retry_base;
  std::optional<std::chrono::microseconds> retry_max;
  // The scope placeholders ({station}, {machine}, {lot}, {operator}) its templates use.
  std::vector<ScopeKey> scope_placeholders;
  // > 0: a quarantine hook (webhook or exec with `quarantine: { batch: N }`): running it opens
  // the alarm's hold like the built-in `quarantine`, and it is called with the held serials in
  // batches of at most N, again for units that join the hold later.
  int quarantine_batch = 0;
  // `silenceable: false` exempts the hook from silences (e.g. a lock call the MES must get even
  // while people silence the notices). Only notification hooks (zmq_pub, webhook, exec,
  // alertmanager) are ever silenced; `log` never is.
  bool silenceable = true;

  // True for the kinds the outbox delivers (committed before sending, retried).
  bool durable() const { return kind == Kind::kWebhook || kind == Kind::kExec || kind == Kind::kAlertmanager; }
};

// Hook templates: `{name}` is replaced by an alarm field; `{{` and `}}` are literal braces.
// Names: id, key (the idempotency key), characteristic, policy, rule, chart, tier, action,
// station, machine, lot, operator. An unknown name or an unmatched brace is a config problem.
using TemplateFields = std::vector<std::pair<std::string, std::string>>;
const std::vector<std::string>& TemplatePlaceholderNames();
// Checks `text`; on success appends the placeholder names it uses to `names`. On failure
// returns InvalidArgument naming the offending placeholder or brace and its offset.
Status CheckHookTemplate(std::string_view text, std::vector<std::string>* names);
// Expands a template that CheckHookTemplate accepted; a name missing from `fields` expands
// to the empty string. With `url_encode`, each field value (not the template's own text) is
// percent-encoded except for the unreserved characters A-Z a-z 0-9 - . _ ~.
std::string ExpandHookTemplate(std::string_view text, const TemplateFields& fields, bool url_encode = false);

struct Config {
  std::string file;  // where it was loaded from
  std::string text_sha256;  // SHA-256 (lowercase hex) of the text it was loaded from (audit log)
  std::vector<SourceSpec> sources;
  std::string store_path = "shewhart.db";
  // store.retention: how long records are kept before the background pruning deletes them
  // (Store::Prune). `records`: resolved alarms whose holds hold nothing any more, with their
  // holds, dispositions, acknowledgements and deliveries, and audit records (the chain keeps an
  // anchor). `genealogy`: unit events (by event time). `rejects`: reject records (by the time
  // they were stored).
  std::chrono::microseconds retain_records{std::chrono::hours(24 * 365 * 5)};
  std::chrono::microseconds retain_genealogy{std::chrono::hours(24 * 365 * 5)};
  std::chrono::microseconds retain_rejects{std::chrono::hours(24 * 90)};
  std::chrono::microseconds prune_every{std::chrono::hours(1)};
  // engine.future_tolerance / engine.past_tolerance: a measurement or unit event whose event time
  // is further ahead of the clock / behind it is rejected (`future`, `too_old`) before it moves
  // any clock or suspect window. The clock is the wall clock in `run`; in `replay` it is the
  // latest accepted event time, and past_tolerance bounds both ways (samples may be hours apart).
  std::chrono::microseconds future_tolerance{std::chrono::minutes(5)};
  std::chrono::microseconds past_tolerance{std::chrono::hours(24 * 30)};
  // interlock.reworked_may_move: whether GET /api/units/SERIAL lets a reworked unit move on
  // (may_move) — true where rework ends in its own inspection; false (default) where a reworked
  // unit waits for a release.
  bool reworked_may_move = false;
  std::string http_listen;          // empty: no HTTP server
  // YAML file of `user: token` pairs; a request that changes something (acknowledge, resolve)
  // needs `Authorization: Bearer <token>`. Empty: such requests are refused (401).
  std::string http_tokens;
  // http.max_connections: HTTP connections open at once; more are answered 503 and closed.
  // `run` lowers it to leave 128 descriptors of its limit to sources, store and hooks.
  std::size_t http_max_connections = 256;
  // The codes an acknowledgement may give for the assignable cause and the corrective action.
  std::vector<std::string> cause_codes{"machine", "method", "material", "measurement", "operator",
                                       "environment", "tool_wear", "unknown"};
  std::vector<std::string> action_codes{"adjusted", "replaced_tool", "repaired", "recalibrated", "retrained",
                                        "material_changed", "none"};
  // The reason codes a disposition of held units may give, and the meanings of its signature.
  std::vector<std::string> disposition_codes{"conforming_on_retest", "conforming_by_review", "reworked_to_spec",
                                             "nonconforming", "customer_concession", "destructive_test", "other"};
  std::vector<std::string> signature_meanings{"performed by", "reviewed by", "approved by", "released by"};
  int shards = 0;                   // 0: one per hardware thread
  // engine.judge: `source` (true): the i-th zmq source's thread judges the measurements of
  // shard i itself, and only those for other shards cross a queue (a shard without such a
  // source has a thread of its own); `shard` (false): every shard has its own thread.
  bool judge_at_source = true;
  // engine.commit_delay: how long the responder waits, after a signal wakes it, for more
  // before it stores them in one unit of work (group commit). Meanwhile the judging thread's
  // `signal` message leaves without competing with the unit for a core. 0: none.
  std::chrono::microseconds commit_delay{500};
  // The responder's clock for `unacknowledged_for` in `run`: wall-clock time (false), or the
  // newest event time of the measurements (true: back-dated data escalates as it happened).
  bool event_clock = false;
  std::size_t queue_capacity = 16384;
  std::size_t max_message_bytes = 65536;
  // Cardinality caps of /metrics (docs/OPERATIONS.md). engine.metrics_max_characteristics: the
  // per-characteristic series (chart, spec limits, capability, signals) are exported for the
  // first N characteristics in config order; the others are counted in
  // shewhart_metrics_characteristics_omitted_total. engine.metrics_max_stations: the first N
  // stations seen get first-pass-yield series; passes at further stations are counted in
  // shewhart_metrics_station_passes_omitted_total.
  std::size_t metrics_max_characteristics = 1000;
  std::size_t metrics_max_stations = 1000;
  // Outbox backoff (engine.retry_base / engine.retry_max; a hook may override them): the delay
  // after the n-th failed attempt is min(retry_max, retry_base * 2^(n-1)), jittered.
  std::chrono::microseconds retry_base{std::chrono::seconds(1)};
  std::chrono::microseconds retry_max{std::chrono::minutes(10)};
  std::vector<CharacteristicSpec> characteristics;
  std::map<std::string, ResponseSpec> responses;
  std::map<std::string, HookSpec> hooks;

  // The characteristic with `id`, or -1. From the index IndexCharacteristics built (the loader
  // does) when it still matches, else by a scan.
  int FindCharacteristic(std::string_view id) const;
  // Indexes the characteristics by id, for FindCharacteristic in constant time.
  void IndexCharacteristics();
  // The policy for characteristic `index` (its own, or the built-in default: tier 1 → log).
  const ResponseSpec& ResponseFor(std::size_t index) const;

 private:
  // A characteristic without a `response`: tier 1 on any signal, logged, its units held.
  ResponseSpec default_response_{"default", {TierSpec{1, TierCondition{}, {"log", "quarantine"}}}, 0};
  // Hashes a std::string key and a std::string_view query alike (lookup without a copy).
  struct IdHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, int, IdHash, std::equal_to<>> index_;  // characteristics[i].id -> i
};

struct ConfigLoad {
  std::optional<Config> config;           // set iff problems is empty
  std::vector<ConfigProblem> problems;
  Status io_status;                       // non-OK when the file could not be read at all
};

ConfigLoad LoadConfigFile(const std::string& path);

// Reads an http.tokens file: a YAML mapping of user names to bearer tokens (each at least 16
// characters, no token shared by two users). Returns token -> user, or InvalidArgument naming
// the line and the problem (Unavailable when the file cannot be read).
Result<std::map<std::string, std::string>> LoadTokensFile(const std::string& path);
ConfigLoad LoadConfigText(const std::string& text, const std::string& file_name);

}  // namespace shewhart::engine
