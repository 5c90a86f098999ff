#include "shewhart/engine/config/config_keys.h"

#include <map>
#include <mutex>

#include "shewhart/base/status.h"

namespace shewhart::engine {

namespace {
// clang-format off
const std::vector<ConfigKey> kKeys = {
  {"", "sources", "", "where measurements and unit events come from (ZeroMQ, files)"},
  {"", "store", "", "the SQLite store and its retention"},
  {"", "http", "", "the HTTP server: /metrics, /health, /api"},
  {"", "engine", "", "shards, queues, clocks, tolerances, retries, metrics limits"},
  {"", "characteristics", "", "required: the measured quantities, their charts, limits, rules and scope"},
  {"", "responses", "", "named response policies: tiers and their conditions and actions"},
  {"", "hooks", "", "named actions: log, zmq_pub, webhook, exec, alertmanager, quarantine"},
  {"", "codes", "", "the cause, action, disposition and meaning codes people may give"},
  {"", "interlock", "", "what the MES interlock answers"},

  {"interlock", "reworked_may_move", "false", "whether a reworked unit may move on"},

  {"codes", "causes", "", "assignable-cause codes an acknowledgement may give"},
  {"codes", "actions", "", "corrective-action codes an acknowledgement may give"},
  {"codes", "dispositions", "", "reason codes a disposition of held units may give"},
  {"codes", "meanings", "", "meanings a disposition's signature may carry"},

  {"store", "sqlite", "shewhart.db", "path of the SQLite database"},
  {"store", "retention", "", "how long records are kept"},
  {"store", "prune_every", "1h", "how often retention deletes what is old"},
  {"store.retention", "records", "5y", "alarms, holds, limits versions, deliveries, audit records"},
  {"store.retention", "genealogy", "5y", "unit events and their postings"},
  {"store.retention", "rejects", "90d", "reject records"},

  {"http", "listen", "", "host:port of the HTTP server (none: no server)"},
  {"http", "tokens", "", "YAML file of users and their bearer tokens"},
  {"http", "max_connections", "256", "connections served at once; more are refused with 503"},

  {"engine", "shards", "0", "shards, each judging a share of the key groups (0: one per hardware thread)"},
  {"engine", "judge", "source", "where measurements are judged: source (a zmq source's thread) or shard"},
  {"engine", "commit_delay", "500us", "how long the responder gathers signals before it stores them"},
  {"engine", "queue_capacity", "16384", "measurements each shard queue holds"},
  {"engine", "max_message_bytes", "65536", "largest JSON message or CSV row accepted"},
  {"engine", "retry_base", "1s", "first backoff step of the outbox"},
  {"engine", "retry_max", "10m", "longest delay between two delivery attempts"},
  {"engine", "clock", "wall", "the clock escalations and silences are timed by: wall or event"},
  {"engine", "metrics_max_characteristics", "1000", "characteristics with their own /metrics series"},
  {"engine", "metrics_max_stations", "1000", "stations with first-pass-yield series"},
  {"engine", "future_tolerance", "5m", "how far ahead of the clock an event time may be"},
  {"engine", "past_tolerance", "30d", "how far behind the clock an event time may be"},

  {"sources[]", "zmq", "", "a ZeroMQ source"},
  {"sources[]", "file", "", "a file source (JSON lines or CSV), read once"},
  {"sources[].zmq", "bind", "", "endpoint to bind (or connect)"},
  {"sources[].zmq", "connect", "", "endpoint to connect to (or bind)"},
  {"sources[].zmq", "pattern", "pull", "socket type: pull or sub"},
  {"sources[].zmq", "receive_hwm", "100000", "receive high-water mark (frames)"},
  {"sources[].file", "path", "", "required: the file to read"},
  {"sources[].file", "format", "", "jsonl or csv (default: csv for a .csv path, else jsonl)"},

  {"characteristics[]", "id", "", "required: the characteristic's unique name"},
  {"characteristics[]", "unit", "", "unit of measure, for display"},
  {"characteristics[]", "spec", "", "spec limits: lsl, target, usl"},
  {"characteristics[]", "chart", "", "required: the chart type and its settings"},
  {"characteristics[]", "limits", "", "control limits: a Phase I baseline, known, or explicit"},
  {"characteristics[]", "rules", "", "the rules judged (default: by chart type)"},
  {"characteristics[]", "scope", "[station]", "the labels an alarm is per: station, machine, lot, operator, model"},
  {"characteristics[]", "response", "", "name of the response policy (default: the built-in one)"},
  {"characteristics[]", "late_tolerance", "", "how far behind the newest accepted a measurement may be"},
  {"characteristics[]", "future_tolerance", "", "engine.future_tolerance for this characteristic"},
  {"characteristics[]", "past_tolerance", "", "engine.past_tolerance for this characteristic"},
  {"characteristics[]", "capability", "", "capability window and confidence"},
  {"characteristics[].capability", "window", "0", "values in the capability window (0: every value)"},
  {"characteristics[].capability", "confidence", "0.95", "confidence level of the intervals"},
  {"characteristics[].spec", "lsl", "", "lower spec limit"},
  {"characteristics[].spec", "target", "", "target value"},
  {"characteristics[].spec", "usl", "", "upper spec limit"},

  {"characteristics[].chart", "type", "", "required: individuals, ewma, cusum, p, np, c, u, xbar_r, xbar_s, t2"},
  {"characteristics[].chart", "boundary", "strict", "a point on a limit: strict (in control) or inclusive"},
  {"characteristics[].chart", "k_sigma", "3", "control limits at k sigma"},
  {"characteristics[].chart", "mr_rules", "true", "individuals: whether the moving-range chart is judged"},
  {"characteristics[].chart", "lambda", "0.2", "ewma: weight of the newest value"},
  {"characteristics[].chart", "k", "0.5", "cusum: reference value in sigmas"},
  {"characteristics[].chart", "h", "5", "cusum: decision interval in sigmas"},
  {"characteristics[].chart", "head_start", "0", "cusum: fast initial response"},
  {"characteristics[].chart", "reset", "none", "cusum: reset after a signal: none, both or side"},
  {"characteristics[].chart", "limit_type", "sigma", "p, np, c, u: sigma or probability limits; p, u: laney (p', u')"},
  {"characteristics[].chart", "alpha", "0.0027", "p, np, c, u: tail area of probability limits"},
  {"characteristics[].chart", "sample_size", "", "p, np, c, u: the constant sample size, when measurements omit it"},
  {"characteristics[].chart", "subgroup_size", "5", "xbar_r, xbar_s, t2: values per subgroup"},
  {"characteristics[].chart", "variable_size", "false", "xbar_r, xbar_s: subgroups of varying size"},
  {"characteristics[].chart", "min_subgroup_size", "2", "xbar_r, xbar_s: smallest subgroup judged"},
  {"characteristics[].chart", "estimator", "",
   "individuals: mean_mr or median_mr; xbar_r, xbar_s: within-subgroup sigma estimator (qcc's names)"},
  {"characteristics[].chart", "centre", "mean", "individuals: the Phase I centre line, mean or median"},
  {"characteristics[].chart", "dispersion_rules", "true", "xbar_r, xbar_s: whether the R or S chart is judged"},
  {"characteristics[].chart", "variables", "", "t2: the variables (p names, or their number)"},
  {"characteristics[].chart", "confidence", "(1 - 0.0027)^p", "t2: confidence of the UCL"},
  {"characteristics[].chart", "warning_sigmas", "0", "warning lines at this many sigmas (0: none)"},

  {"characteristics[].limits", "phase1", "", "estimate the limits from a baseline"},
  {"characteristics[].limits", "mean", "", "known mean (with sigma; t2: with covariance)"},
  {"characteristics[].limits", "sigma", "", "known sigma (with mean)"},
  {"characteristics[].limits", "ucl", "", "explicit upper control limit (t2: the UCL)"},
  {"characteristics[].limits", "cl", "", "explicit centre line"},
  {"characteristics[].limits", "lcl", "", "explicit lower control limit"},
  {"characteristics[].limits", "center", "", "p, np, c, u: known centre"},
  {"characteristics[].limits", "sigma_z", "", "p, u with limit_type laney: Laney's known sigma_z"},
  {"characteristics[].limits", "dispersion", "", "xbar_r, xbar_s: explicit limits of the R or S chart"},
  {"characteristics[].limits", "covariance", "", "t2: known covariance matrix"},
  {"characteristics[].limits", "known_from_subgroups", "", "t2: the subgroups the known parameters came from"},
  {"characteristics[].limits.phase1", "points", "", "individuals, ewma, cusum: baseline length in values"},
  {"characteristics[].limits.phase1", "subgroups", "", "subgrouped and attribute charts, t2: baseline length in subgroups"},
  {"characteristics[].limits.phase1", "exclude", "none", "none or beyond_limits: drop out-of-control points and estimate again"},
  {"characteristics[].limits.dispersion", "ucl", "", "upper limit of the R or S chart"},
  {"characteristics[].limits.dispersion", "cl", "", "centre line of the R or S chart"},
  {"characteristics[].limits.dispersion", "lcl", "", "lower limit of the R or S chart"},

  {"rules.stale", "after", "", "required: how long without a measurement makes the stream stale"},
  {"rules.threshold", "high", "", "absolute upper limit"},
  {"rules.threshold", "low", "", "absolute lower limit"},
  {"rules.threshold", "hysteresis", "0", "how far back inside a limit a value must come to re-arm"},
  {"rules.rate", "max_rise", "", "largest rise per `per`"},
  {"rules.rate", "max_fall", "", "largest fall per `per`"},
  {"rules.rate", "per", "1s", "the time the rates are per"},
  {"rules.rate", "min_interval", "0s", "shortest time between two values compared"},
  {"rules.run", "length", "", "run length of nelson.2-4, nelson.7, nelson.8, we.4"},
  {"rules.run", "both_sides", "false", "nelson.8: whether the run must have points on both sides"},
  {"rules.run", "m", "", "m of m-of-n rules (nelson.5, nelson.6, we.2, we.3)"},
  {"rules.run", "n", "", "n of m-of-n rules"},
  {"rules.run", "point_beyond", "true", "m-of-n rules: whether the point judged must itself be beyond (qcc)"},
  {"rules.run", "full_window", "false", "m-of-n rules: judge only once n points exist (qcc)"},
  {"preset file", "rules", "", "the preset's rule list"},

  {"responses.<name>", "tiers", "", "the tiers of the policy"},
  {"responses.<name>", "resolve_after", "0", "in-control observations that resolve an alarm (0: never by itself)"},
  {"responses.<name>", "min_interval", "", "a signal this soon after a resolution reopens the alarm"},
  {"responses.<name>.tiers[]", "tier", "", "required: the tier number, 1-9"},
  {"responses.<name>.tiers[]", "when", "{ signal: any }", "the condition that enters the tier"},
  {"responses.<name>.tiers[]", "do", "", "required: the actions the tier runs"},
  {"responses.<name>.tiers[].when", "signal", "", "any: every signal"},
  {"responses.<name>.tiers[].when", "rule", "", "a signal of one of these rules"},
  {"responses.<name>.tiers[].when", "signals", "", "this many signals (with within)"},
  {"responses.<name>.tiers[].when", "within", "", "the window the signals are counted in"},
  {"responses.<name>.tiers[].when", "group_by", "characteristic", "what the signals are counted per"},
  {"responses.<name>.tiers[].when", "unacknowledged_for", "", "not acknowledged this long after the tier before"},

  {"hooks.<name>", "log", "", "a log line"},
  {"hooks.<name>", "zmq_pub", "", "the alarm on a ZeroMQ PUB socket"},
  {"hooks.<name>", "webhook", "", "an HTTP POST of the alarm, through the outbox"},
  {"hooks.<name>", "exec", "", "a program run with the alarm on stdin, through the outbox"},
  {"hooks.<name>", "alertmanager", "", "the alarm as an Alertmanager alert, through the outbox"},
  {"hooks.<name>", "quarantine", "", "makes a webhook or exec a quarantine hook: the held serials in batches"},
  {"hooks.<name>", "silenceable", "true", "whether silences may suppress the hook"},
  {"hooks.<name>.quarantine", "batch", "500", "serials per delivery"},
  {"hooks.<name>.zmq_pub", "bind", "", "required: endpoint to bind"},
  {"hooks.<name>.webhook", "url", "", "required: URL template to POST to"},
  {"hooks.<name>.webhook", "headers", "", "header name to value template"},
  {"hooks.<name>.webhook", "timeout", "5s", "time allowed for one attempt"},
  {"hooks.<name>.webhook", "retries", "10", "attempts after the first before a delivery is dead"},
  {"hooks.<name>.webhook", "retry_base", "", "engine.retry_base for this hook"},
  {"hooks.<name>.webhook", "retry_max", "", "engine.retry_max for this hook"},
  {"hooks.<name>.exec", "argv", "", "required: the program and its arguments (templates)"},
  {"hooks.<name>.exec", "env", "", "environment variable to value template"},
  {"hooks.<name>.exec", "timeout", "10s", "time allowed for one run"},
  {"hooks.<name>.exec", "retries", "10", "runs after the first before a delivery is dead"},
  {"hooks.<name>.exec", "retry_base", "", "engine.retry_base for this hook"},
  {"hooks.<name>.exec", "retry_max", "", "engine.retry_max for this hook"},
  {"hooks.<name>.alertmanager", "url", "", "required: Alertmanager's base URL"},
  {"hooks.<name>.alertmanager", "generator_url", "", "template of the alert's generatorURL"},
  {"hooks.<name>.alertmanager", "timeout", "5s", "time allowed for one attempt"},
  {"hooks.<name>.alertmanager", "refresh", "1m", "how often a firing alert is sent again"},
  {"hooks.<name>.alertmanager", "retries", "10", "attempts after the first before a delivery is dead"},
  {"hooks.<name>.alertmanager", "retry_base", "", "engine.retry_base for this hook"},
  {"hooks.<name>.alertmanager", "retry_max", "", "engine.retry_max for this hook"},
};
// clang-format on
}  // namespace

const std::vector<ConfigKey>& ConfigKeys() { return kKeys; }

const std::vector<std::string>& ConfigSectionKeys(std::string_view section) {
  static const auto* sections = [] {
    auto* m = new std::map<std::string, std::vector<std::string>, std::less<>>();
    for (const ConfigKey& k : kKeys) (*m)[std::string(k.section)].emplace_back(k.key);
    return m;
  }();
  auto it = sections->find(section);
  SHEWHART_CHECK(it != sections->end());  // every section the loader reads is registered
  return it->second;
}

}  // namespace shewhart::engine
