#pragma once
// The outbox: durable, retried, idempotent delivery of the actions of alarm tiers through
// `webhook`, `exec` and `alertmanager` hooks, and of the resolutions `alertmanager` hooks send
// (docs/ARCHITECTURE.md "Outbox").
//
//   responder thread ──Enqueue──▶ store (deliveries: committed, state pending)
//                                   │
//   one worker thread per durable hook ──head of its queue, when due──▶ transport
//                                   └── delivered | pending (backoff) | dead, written back
//
// A delivery is committed before it is sent, so it survives a crash; it is sent until the
// receiver accepts it (at least once: a crash between the send and the write-back sends it
// again, with the same idempotency key). Deliveries of one action go out in commit order: only
// the oldest pending delivery of an action is attempted, and the next one waits until it is
// delivered or dead. Actions do not wait for each other.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "shewhart/base/status.h"
#include "shewhart/engine/config/config.h"
#include "shewhart/engine/metrics/metrics.h"
#include "shewhart/engine/store/store.h"

namespace shewhart::engine {

// When to try again. The delay after the n-th failed attempt (n >= 1) is drawn uniformly from
// [d/2, d] with d = min(max, base * 2^(n-1)) ("equal jitter": receivers that come back are not
// hit by every sender at once, and no delay is shorter than half its step).
struct RetryPolicy {
  int retries = 10;  // attempts after the first; the delivery is dead after 1 + retries failures
  std::chrono::microseconds base{std::chrono::seconds(1)};
  std::chrono::microseconds max{std::chrono::minutes(10)};
};
// The policy of `hook`: its retries, its retry_base/retry_max or the engine's.
RetryPolicy RetryPolicyFor(const HookSpec& hook, const Config& config);
// The delay after `failed_attempts` (>= 1) failures; `unit_random` in [0, 1) picks the jitter.
std::chrono::microseconds BackoffDelay(const RetryPolicy& policy, int failed_attempts, double unit_random);

// Applies the outcome of one attempt made at `now` to `d` (state pending): attempts + 1, then
// delivered (outcome OK), pending with the next attempt after the backoff delay, or dead when
// the attempts are used up. Sets last_error and updated.
void ApplyAttempt(DeliveryRecord& d, const Status& outcome, EventTime now, const RetryPolicy& policy,
                  double unit_random);

// The idempotency key of an action of an alarm tier: "<alarm>-<tier>-<action>".
std::string IdempotencyKey(std::int64_t alarm_id, int tier, const std::string& action);

// The idempotency key of the resolution of the delivery IdempotencyKey(alarm_id, tier, action)
// (an `alertmanager` hook sends the alert again, with endsAt): "<alarm>-resolved-<tier>-<action>".
// Never equal to an IdempotencyKey: there the second field is a number.
std::string ResolvedIdempotencyKey(std::int64_t alarm_id, int tier, const std::string& action);

// The body an `alertmanager` hook POSTs to <url>/api/v2/alerts for delivery `d` (docs/REFERENCE.md
// "Hooks"): a JSON array holding one alert built from the payload (the alarm document, with
// "held_units" when the responder knew it) and the delivery's tier. `endsAt` is set when the
// document says the alarm is resolved (its "resolved" time, never before startsAt). A payload
// that is not a JSON object gives InvalidArgument.
Result<std::string> AlertmanagerBody(const HookSpec& hook, const DeliveryRecord& d);

// The template fields of a delivery (docs/CONFIG.md "hooks"): from its payload (the alarm
// document) and the delivery itself (key, tier, action).
TemplateFields DeliveryFields(const DeliveryRecord& d);

// Sends one delivery. Implementations block for at most the hook's timeout (plus the time to
// kill a program that overran it) and are called from one worker thread per hook at a time.
class DeliveryTransport {
 public:
  virtual ~DeliveryTransport() = default;
  // OK when the receiver accepted the delivery (webhook: a 2xx answer; exec: exit code 0).
  // Otherwise Unavailable naming what happened (HTTP status, curl error, exit code, signal,
  // timeout); the outbox retries.
  virtual Status Send(const HookSpec& hook, const DeliveryRecord& d) = 0;
};

// The real transport: webhook = HTTP POST with libcurl (body: the payload; headers
// Content-Type: application/json, Idempotency-Key, the hook's headers); exec = the hook's argv
// started without a shell (posix_spawn), the payload on standard input, standard output
// discarded, the engine's environment plus SHEWHART_* variables and the hook's env.
std::unique_ptr<DeliveryTransport> MakeDeliveryTransport();

// HELP of shewhart_hook_deliveries_total{action,outcome}: the outbox counts the webhook, exec and
// alertmanager hooks, the responder its zmq_pub hooks.
inline constexpr const char* kHookDeliveriesHelp =
    "Deliveries of hook actions by outcome: delivered; failed (an attempt that failed, retried by the outbox until "
    "its retries are used up); dead (an outbox delivery whose retries are used up).";

struct OutboxOptions {
  DeliveryTransport* transport = nullptr;  // not owned; null: MakeDeliveryTransport()
  std::function<EventTime()> clock;        // wall clock; null: std::chrono::system_clock
  std::uint64_t seed = 0;                  // jitter; 0: from std::random_device
};

// Templates (URL, headers, argv, env) are expanded at send time from the stored payload and the
// hook as the running engine configures it. exec: the payload on a socket-pair stdin, standard
// error inherited (not captured into last_error). Engine::Stop stops the lanes after the
// responder has drained.
class Outbox {
 public:
  // `config`, `store` and `metrics` must outlive the outbox. Registers the metrics
  // shewhart_hook_deliveries_total{action,outcome} and shewhart_hook_deliveries_pending{action}
  // for every durable hook.
  Outbox(const Config& config, Store& store, MetricsRegistry& metrics, OutboxOptions options = {});
  // Calls Stop().
  ~Outbox();
  Outbox(const Outbox&) = delete;
  Outbox& operator=(const Outbox&) = delete;

  // Reads the pending deliveries of the store into the per-action queues, in commit order.
  // Pending deliveries of an action that is no longer a durable hook stay pending in
  // the store (logged). Call once, before Start() and Enqueue().
  Status Load();

  // Commits the delivery of `action` (a durable hook) for tier `tier` of alarm `alarm_id` with
  // `payload` (the alarm document), due now, and wakes the action's worker once it is committed:
  // at once, or, inside a unit of work of the store (Store::Begin), when that unit commits (and
  // never if it rolls back). An error means nothing was stored (and nothing will be sent). The key is
  // `key`, or IdempotencyKey(alarm_id, tier, action) when empty; a second call with the same key
  // does nothing (the key exists). Any thread.
  Status Enqueue(std::int64_t alarm_id, int tier, const std::string& action, const std::string& payload,
                 const std::string& key = {});

  // Starts one worker thread per durable hook; each sends the head of its action's queue when
  // it is due. Not called in tests that drive RunDue() with a fake clock.
  void Start();
  // Stops the workers: an attempt in progress finishes (at most the hook's timeout); pending
  // deliveries stay in the store for the next start. Idempotent.
  void Stop();

  // Without worker threads: attempts every due head, action by action, again while something
  // was due at the (unchanged) clock. Returns the number of attempts made.
  int RunDue();

  // Sends the alerts of open alarms through every alertmanager hook again now (the workers do
  // it every hook's `refresh`): each delivered firing delivery whose resolution has not been
  // delivered, with its payload; best effort (a failure is logged and counted in
  // shewhart_alertmanager_refreshes_total{outcome="failed"}, nothing is recorded). Returns the
  // number of alerts sent. For tests without worker threads.
  int RefreshAll();

  // Deliveries in memory not yet delivered or dead, over all actions.
  std::size_t pending() const;
  // Alerts of open alarms that alertmanager hooks refresh, over all hooks.
  std::size_t firing() const;

 private:
  struct Lane;
  // One attempt of the head of `lane` (which must be due); returns after the write-back.
  void Attempt(Lane& lane, DeliveryRecord d);
  void Work(Lane& lane);
  // Sends every firing alert of `lane` (an alertmanager hook) again; schedules the next refresh.
  int Refresh(Lane& lane);
  EventTime Now() const;
  double NextRandom();

  const Config& config_;
  Store& store_;
  MetricsRegistry& metrics_;
  OutboxOptions options_;
  std::unique_ptr<DeliveryTransport> own_transport_;
  DeliveryTransport* transport_;
  std::map<std::string, std::unique_ptr<Lane>> lanes_;  // by action; fixed after construction
  std::mutex random_mu_;
  std::uint64_t random_state_;
  bool started_ = false;
};

}  // namespace shewhart::engine
