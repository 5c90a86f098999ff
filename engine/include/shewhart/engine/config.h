#pragma once
// The engine's configuration: YAML mapped onto typed specs (docs/CONFIG.md is the reference).
//
// LoadConfigFile / LoadConfigText collect every problem they find, each with the file, line
// and column of the offending node, its key path (`characteristics[3].limits.sigma`) and a
// message naming what was expected and what was found. Unknown and duplicate keys are
// problems. Nothing is clamped or defaulted silently: a value out of range is a problem.

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
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
enum class ScopeKey { kStation, kMachine, kLot, kOperator };
inline constexpr int kMaxScopeKeys = 4;
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
  std::vector<ScopeKey> scope{ScopeKey::kStation};
  std::string response;  // a key of Config::responses; empty = the built-in "default" policy
};

struct TierSpec {
  int tier = 1;
  std::vector<std::string> actions;  // hook names; "log" is built in
};

struct ResponseSpec {
  std::string name;
  std::vector<TierSpec> tiers;
  // An open alarm resolves after this many consecutive in-control observations in its scope
  // (0: never automatically; resolution by hand comes with acknowledgement).
  int resolve_after = 0;
};

struct HookSpec {
  std::string name;
  enum class Kind { kLog, kZmqPub } kind = Kind::kLog;
  std::string endpoint;  // kZmqPub: bind address
};

struct Config {
  std::string file;  // where it was loaded from
  std::string text_sha256;  // SHA-256 (lowercase hex) of the text it was loaded from (audit log)
  std::vector<SourceSpec> sources;
  std::string store_path = "shewhart.db";
  std::string http_listen;          // empty: no HTTP server
  int shards = 0;                   // 0: one per hardware thread
  std::size_t queue_capacity = 16384;
  std::size_t max_message_bytes = 65536;
  std::vector<CharacteristicSpec> characteristics;
  std::map<std::string, ResponseSpec> responses;
  std::map<std::string, HookSpec> hooks;

  // The characteristic with `id`, or -1.
  int FindCharacteristic(std::string_view id) const;
  // The policy for characteristic `index` (its own, or the built-in default: tier 1 → log).
  const ResponseSpec& ResponseFor(std::size_t index) const;

 private:
  ResponseSpec default_response_{"default", {TierSpec{1, {"log"}}}, 0};
};

struct ConfigLoad {
  std::optional<Config> config;           // set iff problems is empty
  std::vector<ConfigProblem> problems;
  Status io_status;                       // non-OK when the file could not be read at all
};

ConfigLoad LoadConfigFile(const std::string& path);
ConfigLoad LoadConfigText(const std::string& text, const std::string& file_name);

}  // namespace shewhart::engine
