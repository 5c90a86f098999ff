// Over 800 lines, knowingly: the outbox's delivery cases (webhook, exec, Alertmanager) against
// real servers and processes, each with its failure paths; one suite of one component.
#include "shewhart/engine/hooks/outbox.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "../test_util.h"
#include "shewhart/connectors/file/file_source.h"
#include "shewhart/engine/engine.h"
#include "shewhart/engine/api/http_server.h"
#include "shewhart/engine/model/time_format.h"

namespace shewhart::engine {
namespace {

using std::chrono::milliseconds;

Config LoadOrDie(const std::string& text) {
  ConfigLoad load = LoadConfigText(text, "test.yaml");
  std::string problems;
  for (const auto& p : load.problems) problems += p.ToString() + "\n";
  EXPECT_TRUE(load.config.has_value()) << problems;
  SHEWHART_CHECK(load.config.has_value());
  return *load.config;
}

// A config with the durable hooks given (YAML under `hooks:`), all run by tier 1.
std::string HooksConfig(const std::string& engine, const std::string& actions, const std::string& hooks) {
  return "engine: { past_tolerance: 36500d, shards: 1, " + engine +
         " }\n"
         "characteristics:\n"
         "  - id: bore\n"
         "    chart: { type: individuals }\n"
         "    limits: { mean: 10, sigma: 0.1 }\n"
         "    rules: [nelson.1]\n"
         "    scope: [station]\n"
         "    response: line\n"
         "responses:\n"
         "  line:\n"
         "    tiers:\n"
         "      - { tier: 1, when: { signal: any }, do: [" +
         actions +
         "] }\n"
         "hooks:\n" +
         hooks;
}

// Records every attempt; answers with `answer` (OK when unset).
class FakeTransport : public DeliveryTransport {
 public:
  Status Send(const HookSpec& hook, const DeliveryRecord& d) override {
    std::lock_guard lock(mu);
    sent.push_back(hook.name + ":" + d.idempotency_key);
    return answer ? answer(hook, d) : Status::Ok();
  }
  std::mutex mu;
  std::vector<std::string> sent;
  std::function<Status(const HookSpec&, const DeliveryRecord&)> answer;
};

std::string Payload(std::int64_t id, const std::string& station) {
  return "{\"type\":\"alarm\",\"id\":" + std::to_string(id) +
         ",\"characteristic\":\"bore\",\"policy\":\"line\",\"rule\":\"nelson.1\",\"chart\":\"individuals\","
         "\"scope\":{\"station\":\"" +
         station + "\"}}";
}

bool Has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// ---------------------------------------------------------------------------------------------
// The state machine, with a fake clock and a fake transport.

TEST(OutboxTest, BackoffDelayIsExponentialCappedAndJittered) {
  RetryPolicy p;
  p.base = std::chrono::seconds(1);
  p.max = std::chrono::seconds(10);
  EXPECT_EQ(BackoffDelay(p, 1, 0.0), milliseconds(500));
  EXPECT_EQ(BackoffDelay(p, 1, 1.0), milliseconds(1000));
  EXPECT_EQ(BackoffDelay(p, 3, 0.0), milliseconds(2000));
  EXPECT_EQ(BackoffDelay(p, 3, 0.5), milliseconds(3000));
  EXPECT_EQ(BackoffDelay(p, 4, 1.0), milliseconds(8000));
  EXPECT_EQ(BackoffDelay(p, 5, 1.0), milliseconds(10000)) << "capped at max";
  EXPECT_EQ(BackoffDelay(p, 5, 0.0), milliseconds(5000));
  EXPECT_EQ(BackoffDelay(p, 1000, 1.0), milliseconds(10000)) << "no overflow";
}

TEST(OutboxTest, ApplyAttemptMovesPendingToDeliveredOrDead) {
  RetryPolicy p;
  p.retries = 1;
  p.base = milliseconds(100);
  p.max = milliseconds(100);
  const EventTime t0 = FromUnixMillis(1000);
  DeliveryRecord d;
  ApplyAttempt(d, Unavailable("HTTP 503"), t0, p, 1.0);
  EXPECT_EQ(d.state, "pending");
  EXPECT_EQ(d.attempts, 1);
  EXPECT_EQ(d.next_attempt, t0 + milliseconds(100));
  EXPECT_EQ(d.last_error, "HTTP 503");
  ApplyAttempt(d, Unavailable("HTTP 500"), t0, p, 1.0);
  EXPECT_EQ(d.state, "dead") << "1 + retries attempts failed";
  EXPECT_EQ(d.last_error, "HTTP 500");
  DeliveryRecord ok;
  ApplyAttempt(ok, Status::Ok(), t0, p, 0.0);
  EXPECT_EQ(ok.state, "delivered");
  EXPECT_EQ(ok.attempts, 1);
  EXPECT_EQ(ok.updated, t0);
}

struct OutboxFixture {
  explicit OutboxFixture(const std::string& config_text, const std::string& store_path = ":memory:")
      : config(LoadOrDie(config_text)) {
    auto s = Store::Open(store_path);
    SHEWHART_CHECK(s.ok());
    store = std::move(*s);
  }
  std::unique_ptr<Outbox> Make(std::uint64_t seed = 1) {
    OutboxOptions o;
    o.transport = &transport;
    o.clock = [this] { return now; };
    o.seed = seed;
    return std::make_unique<Outbox>(config, *store, metrics, o);
  }
  Config config;
  std::unique_ptr<Store> store;
  MetricsRegistry metrics;
  FakeTransport transport;
  EventTime now = FromUnixMillis(1'700'000'000'000);
};

const char* kTwoWebhooks =
    "  a: { webhook: { url: \"http://127.0.0.1:1/a\", retries: 5 } }\n"
    "  b: { webhook: { url: \"http://127.0.0.1:1/b\", retries: 2 } }\n";

TEST(OutboxTest, FailedAttemptsBackOffUntilDelivered) {
  OutboxFixture f(HooksConfig("retry_base: 100ms, retry_max: 1s", "a", kTwoWebhooks));
  int calls = 0;
  f.transport.answer = [&](const HookSpec&, const DeliveryRecord&) {
    return ++calls <= 2 ? Unavailable("HTTP 503") : Status::Ok();
  };
  auto outbox = f.Make();
  ASSERT_TRUE(outbox->Load().ok());
  ASSERT_TRUE(outbox->Enqueue(7, 1, "a", Payload(7, "st1")).ok());
  // Committed before anything was sent.
  auto rows = f.store->ListDeliveries("pending", 10, true);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].idempotency_key, "7-1-a");
  EXPECT_EQ((*rows)[0].attempts, 0);
  EXPECT_TRUE(f.transport.sent.empty());

  EXPECT_EQ(outbox->RunDue(), 1);
  EXPECT_EQ(outbox->RunDue(), 0) << "the retry is not due before its backoff";
  f.now += milliseconds(49);
  EXPECT_EQ(outbox->RunDue(), 0) << "the first delay is at least base/2";
  f.now += milliseconds(51);
  EXPECT_EQ(outbox->RunDue(), 1) << "and at most base";
  f.now += milliseconds(99);
  EXPECT_EQ(outbox->RunDue(), 0) << "the second delay is at least base";
  f.now += milliseconds(101);
  EXPECT_EQ(outbox->RunDue(), 1);
  EXPECT_EQ(outbox->pending(), 0u);
  rows = f.store->ListDeliveries("", 10, true);
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].state, "delivered");
  EXPECT_EQ((*rows)[0].attempts, 3);
  EXPECT_EQ((*rows)[0].last_error, "HTTP 503");
  const std::string m = f.metrics.Render();
  EXPECT_TRUE(Has(m, "shewhart_hook_deliveries_total{action=\"a\",outcome=\"delivered\"} 1\n")) << m;
  EXPECT_TRUE(Has(m, "shewhart_hook_deliveries_total{action=\"a\",outcome=\"failed\"} 2\n")) << m;
  EXPECT_TRUE(Has(m, "shewhart_hook_deliveries_total{action=\"a\",outcome=\"dead\"} 0\n")) << m;
  EXPECT_TRUE(Has(m, "shewhart_hook_deliveries_pending{action=\"a\"} 0\n")) << m;
}

TEST(OutboxTest, DeadAfterItsRetriesAndCounted) {
  OutboxFixture f(HooksConfig("retry_base: 10ms, retry_max: 10ms", "b", kTwoWebhooks));
  f.transport.answer = [](const HookSpec&, const DeliveryRecord&) { return Unavailable("HTTP 500: boom"); };
  auto outbox = f.Make();
  ASSERT_TRUE(outbox->Enqueue(1, 1, "b", Payload(1, "st1")).ok());
  for (int i = 0; i < 10; ++i) {
    outbox->RunDue();
    f.now += milliseconds(10);
  }
  EXPECT_EQ(f.transport.sent.size(), 3u) << "1 + retries (2) attempts, then no more";
  auto dead = f.store->ListDeliveries("dead", 10, true);
  ASSERT_TRUE(dead.ok());
  ASSERT_EQ(dead->size(), 1u);
  EXPECT_EQ((*dead)[0].attempts, 3);
  EXPECT_EQ((*dead)[0].last_error, "HTTP 500: boom");
  const std::string m = f.metrics.Render();
  EXPECT_TRUE(Has(m, "shewhart_hook_deliveries_total{action=\"b\",outcome=\"dead\"} 1\n")) << m;
  EXPECT_TRUE(Has(m, "shewhart_hook_deliveries_total{action=\"b\",outcome=\"failed\"} 3\n")) << m;
}

// Deliveries of one action go in commit order (the next waits for the head); a failing action
// does not hold up another.
TEST(OutboxTest, OrderIsKeptPerActionAndActionsDoNotWaitForEachOther) {
  OutboxFixture f(HooksConfig("retry_base: 100ms, retry_max: 100ms", "a, b", kTwoWebhooks));
  bool a_down = true;
  f.transport.answer = [&](const HookSpec& h, const DeliveryRecord&) {
    return h.name == "a" && a_down ? Unavailable("connection refused") : Status::Ok();
  };
  auto outbox = f.Make();
  ASSERT_TRUE(outbox->Enqueue(1, 1, "a", Payload(1, "st1")).ok());
  ASSERT_TRUE(outbox->Enqueue(1, 1, "b", Payload(1, "st1")).ok());
  ASSERT_TRUE(outbox->Enqueue(2, 1, "a", Payload(2, "st2")).ok());
  ASSERT_TRUE(outbox->Enqueue(3, 1, "a", Payload(3, "st3")).ok());
  outbox->RunDue();
  f.now += milliseconds(100);
  outbox->RunDue();
  EXPECT_EQ(f.transport.sent, (std::vector<std::string>{"a:1-1-a", "b:1-1-b", "a:1-1-a"}))
      << "2-1-a and 3-1-a wait behind 1-1-a";
  a_down = false;
  f.now += milliseconds(100);
  outbox->RunDue();
  EXPECT_EQ(f.transport.sent,
            (std::vector<std::string>{"a:1-1-a", "b:1-1-b", "a:1-1-a", "a:1-1-a", "a:2-1-a", "a:3-1-a"}));
}

TEST(OutboxTest, TheSameAlarmTierAndActionIsCommittedOnce) {
  OutboxFixture f(HooksConfig("retry_base: 100ms", "a", kTwoWebhooks));
  auto outbox = f.Make();
  ASSERT_TRUE(outbox->Enqueue(4, 1, "a", Payload(4, "st1")).ok());
  ASSERT_TRUE(outbox->Enqueue(4, 1, "a", Payload(4, "st1")).ok());
  ASSERT_TRUE(outbox->Enqueue(4, 2, "a", Payload(4, "st1")).ok());
  EXPECT_EQ(outbox->pending(), 2u);
  outbox->RunDue();
  EXPECT_EQ(f.transport.sent, (std::vector<std::string>{"a:4-1-a", "a:4-2-a"}));
  Status st = outbox->Enqueue(4, 1, "nope", Payload(4, "st1"));
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Has(st.message(), "action 'nope' is not a webhook, exec or alertmanager hook")) << st.message();
}

// Alertmanager ends an alert that is not sent again within its resolve_timeout: an alertmanager
// hook refreshes the alerts of open alarms (delivered, resolution not yet delivered), and a
// restart picks them up from the store.
TEST(OutboxTest, AlertmanagerRefreshesTheAlertsOfOpenAlarmsOnly) {
  testing::TempDir dir;
  const std::string hooks = "  am: { alertmanager: { url: \"http://127.0.0.1:1\", refresh: 30s } }\n";
  OutboxFixture f(HooksConfig("retry_base: 100ms", "am", hooks), dir.File("s.db"));
  EXPECT_EQ(f.config.hooks.at("am").alertmanager.refresh, std::chrono::seconds(30));
  {
    auto outbox = f.Make();
    ASSERT_TRUE(outbox->Load().ok());
    ASSERT_TRUE(outbox->Enqueue(1, 1, "am", Payload(1, "st1")).ok());
    ASSERT_TRUE(outbox->Enqueue(2, 1, "am", Payload(2, "st2")).ok());
    EXPECT_EQ(outbox->RefreshAll(), 0) << "nothing delivered yet: nothing to refresh";
    EXPECT_EQ(outbox->RunDue(), 2);
    EXPECT_EQ(outbox->firing(), 2u);
    ASSERT_TRUE(outbox->Enqueue(1, 1, "am", Payload(1, "st1"), ResolvedIdempotencyKey(1, 1, "am")).ok());
    EXPECT_EQ(outbox->RunDue(), 1);
    EXPECT_EQ(outbox->firing(), 1u) << "alarm 1 is resolved";
    f.transport.sent.clear();
    EXPECT_EQ(outbox->RefreshAll(), 1);
    EXPECT_EQ(f.transport.sent, (std::vector<std::string>{"am:2-1-am"}));
    f.transport.answer = [](const HookSpec&, const DeliveryRecord&) { return Unavailable("HTTP 503"); };
    EXPECT_EQ(outbox->RefreshAll(), 1) << "a failed refresh is not retried, the next one sends it again";
    EXPECT_EQ(outbox->pending(), 0u) << "and nothing is committed";
    const std::string m = f.metrics.Render();
    EXPECT_TRUE(Has(m, "shewhart_alertmanager_refreshes_total{action=\"am\",outcome=\"sent\"} 1\n")) << m;
    EXPECT_TRUE(Has(m, "shewhart_alertmanager_refreshes_total{action=\"am\",outcome=\"failed\"} 1\n")) << m;
  }
  // After a restart: the open alarm's alert is refreshed again; alarm 2 resolved while its
  // resolution is still pending counts as ended.
  f.transport.answer = nullptr;
  ASSERT_TRUE(f.store
                  ->InsertDelivery(DeliveryRecord{0, 3, 1, "am", "3-1-am", Payload(3, "st3"), 1, f.now, "delivered", "",
                                                  f.now, f.now})
                  .ok());
  ASSERT_TRUE(f.store
                  ->InsertDelivery(DeliveryRecord{0, 3, 1, "am", ResolvedIdempotencyKey(3, 1, "am"), Payload(3, "st3"),
                                                  0, f.now, "pending", "", f.now, f.now})
                  .ok());
  MetricsRegistry metrics2;
  OutboxOptions o;
  o.transport = &f.transport;
  o.clock = [&f] { return f.now; };
  Outbox again(f.config, *f.store, metrics2, o);
  ASSERT_TRUE(again.Load().ok());
  EXPECT_EQ(again.firing(), 1u);
  f.transport.sent.clear();
  EXPECT_EQ(again.RefreshAll(), 1);
  EXPECT_EQ(f.transport.sent, (std::vector<std::string>{"am:2-1-am"}));
}

// ---------------------------------------------------------------------------------------------
// Alertmanager: the document built from the stored alarm document at send time.

HookSpec AlertmanagerHook(const std::string& generator_url = "") {
  HookSpec h;
  h.name = "am";
  h.kind = HookSpec::Kind::kAlertmanager;
  h.alertmanager.url = "http://127.0.0.1:9093";
  h.alertmanager.generator_url = generator_url;
  return h;
}

DeliveryRecord AlarmDelivery(const std::string& resolved) {
  DeliveryRecord d;
  d.alarm_id = 17;
  d.tier = 2;
  d.action = "am";
  d.idempotency_key = "17-2-am";
  d.payload = R"({"type":"alarm","id":17,"characteristic":"bore","state":"open","tier":2,"policy":"line",)"
              R"("rule":"nelson.1","chart":"individuals","opened":"2026-11-27T08:00:10.125Z",)"
              R"("last_signal":"2026-11-27T08:00:10.125Z","window_start":"2026-11-27T08:00:09.925Z","signals":1,)"
              R"("scope":{"station":"st 2","machine":"M3"},"hold":5,"held_units":3,"resolved":)" +
              resolved + "}";
  return d;
}

TEST(AlertmanagerBodyTest, OpenAlarmIsOneFiringAlertWithLabelsAndAnnotations) {
  auto body =
      AlertmanagerBody(AlertmanagerHook("http://shewhart:8080/api/alarms/{id}?s={station}"), AlarmDelivery("null"));
  ASSERT_TRUE(body.ok()) << body.status().message();
  const auto doc = nlohmann::json::parse(*body);
  ASSERT_TRUE(doc.is_array());
  ASSERT_EQ(doc.size(), 1u);
  const auto& a = doc[0];
  EXPECT_EQ(a["labels"], (nlohmann::json{{"alertname", "ShewhartAlarm"},
                                         {"characteristic", "bore"},
                                         {"rule", "nelson.1"},
                                         {"chart", "individuals"},
                                         {"policy", "line"},
                                         {"tier", "2"},
                                         {"alarm", "17"},
                                         {"station", "st 2"},
                                         {"machine", "M3"}}));
  EXPECT_EQ(a["annotations"]["summary"],
            "bore: nelson.1 on the individuals chart at machine=M3,station=st 2 (alarm #17, tier 2, policy line)");
  EXPECT_EQ(a["annotations"]["window_start"], "2026-11-27T08:00:09.925Z");
  EXPECT_EQ(a["annotations"]["hold"], "5");
  EXPECT_EQ(a["annotations"]["held_units"], "3");
  EXPECT_EQ(a["startsAt"], "2026-11-27T08:00:10.125Z");
  EXPECT_FALSE(a.contains("endsAt")) << "firing: Alertmanager sets endsAt itself (resolve_timeout)";
  EXPECT_EQ(a["generatorURL"], "http://shewhart:8080/api/alarms/17?s=st%202");
}

TEST(AlertmanagerBodyTest, ResolvedAlarmEndsAtItsResolutionNeverBeforeItStarts) {
  auto body = AlertmanagerBody(AlertmanagerHook(), AlarmDelivery("\"2026-11-27T08:05:00Z\""));
  ASSERT_TRUE(body.ok()) << body.status().message();
  auto a = nlohmann::json::parse(*body)[0];
  EXPECT_EQ(a["startsAt"], "2026-11-27T08:00:10.125Z");
  EXPECT_EQ(a["endsAt"], "2026-11-27T08:05:00Z");
  EXPECT_EQ(a["labels"]["tier"], "2") << "the same labels: the same alert in Alertmanager";
  EXPECT_FALSE(a.contains("generatorURL"));
  // Resolved by hand (wall clock) before the event time it opened at: endsAt = startsAt.
  body = AlertmanagerBody(AlertmanagerHook(), AlarmDelivery("\"2026-11-27T07:00:00Z\""));
  ASSERT_TRUE(body.ok());
  EXPECT_EQ(nlohmann::json::parse(*body)[0]["endsAt"], "2026-11-27T08:00:10.125Z");
}

TEST(AlertmanagerBodyTest, PayloadThatIsNotAnAlarmDocumentIsAnError) {
  DeliveryRecord d = AlarmDelivery("null");
  d.payload = "[1,2";
  auto body = AlertmanagerBody(AlertmanagerHook(), d);
  ASSERT_FALSE(body.ok());
  EXPECT_EQ(body.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Has(body.status().message(), "delivery 17-2-am: the payload is not a JSON object"))
      << body.status().message();
}

TEST(AlertmanagerBodyTest, ResolvedKeyNeverEqualsAFiringKey) {
  EXPECT_EQ(ResolvedIdempotencyKey(17, 2, "am"), "17-resolved-2-am");
  EXPECT_NE(ResolvedIdempotencyKey(17, 1, "am"), IdempotencyKey(17, 1, "am-resolved"));
}

// What was pending when an outbox stopped (a restart, a crash) is sent by the next one over the
// same store, in commit order, with its attempts counted on.
TEST(OutboxTest, PendingDeliveriesResumeInOrderAfterARestart) {
  testing::TempDir dir;
  const std::string text = HooksConfig("retry_base: 100ms, retry_max: 100ms", "a, b", kTwoWebhooks);
  {
    OutboxFixture f(text, dir.File("s.db"));
    f.transport.answer = [](const HookSpec&, const DeliveryRecord&) { return Unavailable("down"); };
    auto outbox = f.Make();
    for (int id = 1; id <= 3; ++id) ASSERT_TRUE(outbox->Enqueue(id, 1, "a", Payload(id, "st1")).ok());
    ASSERT_TRUE(outbox->Enqueue(9, 1, "b", Payload(9, "st1")).ok());
    outbox->RunDue();
    EXPECT_EQ(f.transport.sent, (std::vector<std::string>{"a:1-1-a", "b:9-1-b"}));
  }
  OutboxFixture f(text, dir.File("s.db"));
  auto outbox = f.Make();
  ASSERT_TRUE(outbox->Load().ok());
  EXPECT_EQ(outbox->pending(), 4u);
  f.now += std::chrono::seconds(1);
  outbox->RunDue();
  EXPECT_EQ(f.transport.sent, (std::vector<std::string>{"a:1-1-a", "b:9-1-b", "a:2-1-a", "a:3-1-a"}));
  auto rows = f.store->ListDeliveries("", 10, true);
  ASSERT_EQ(rows->size(), 4u);
  for (const auto& d : *rows) EXPECT_EQ(d.state, "delivered") << d.idempotency_key;
  EXPECT_EQ((*rows)[0].attempts, 2);
  EXPECT_EQ((*rows)[1].attempts, 1);
}

TEST(OutboxTest, DeliveriesOfAnActionNoLongerConfiguredStayPending) {
  testing::TempDir dir;
  {
    OutboxFixture f(HooksConfig("retry_base: 100ms", "a, b", kTwoWebhooks), dir.File("s.db"));
    ASSERT_TRUE(f.Make()->Enqueue(1, 1, "b", Payload(1, "st1")).ok());
  }
  OutboxFixture f(HooksConfig("retry_base: 100ms", "a", "  a: { webhook: { url: \"http://127.0.0.1:1/a\" } }\n"),
                  dir.File("s.db"));
  auto outbox = f.Make();
  ASSERT_TRUE(outbox->Load().ok());
  EXPECT_EQ(outbox->pending(), 0u);
  EXPECT_EQ(outbox->RunDue(), 0);
  auto rows = f.store->ListDeliveries("pending", 10, true);
  ASSERT_EQ(rows->size(), 1u) << "not dropped";
}

// ---------------------------------------------------------------------------------------------
// exec through the real transport.

std::string Script() { return std::string(SHEWHART_SOURCE_DIR) + "/tests/engine/data/record_hook.sh"; }

TEST(OutboxExecTest, ProgramGetsTemplatedArgumentsEnvironmentAndTheAlarmOnStdin) {
  testing::TempDir dir;
  const std::string hooks = "  lock: { exec: { argv: [\"" + Script() + "\", \"" + dir.path() +
                            "\", \"1\", \"{station}\", \"id={id}\"], env: { HOOK_VAR: \"v-{characteristic}\" }, "
                            "retries: 3 } }\n";
  OutboxFixture f(HooksConfig("retry_base: 1ms, retry_max: 1ms", "lock", hooks));
  OutboxOptions o;  // the real transport, the real clock
  Outbox outbox(f.config, *f.store, f.metrics, o);
  ASSERT_TRUE(outbox.Enqueue(12, 1, "lock", Payload(12, "press 3")).ok());
  for (int i = 0; i < 100 && outbox.pending() > 0; ++i) {
    outbox.RunDue();
    std::this_thread::sleep_for(milliseconds(2));
  }
  EXPECT_EQ(outbox.pending(), 0u);
  EXPECT_EQ(testing::ReadText(dir.File("calls.txt")),
            "12-1-lock|12|2|1|lock|bore|station=press 3|v-bore|press 3 id=12\n")
      << "exit code 3 on the first call: retried once (attempt 2)";
  EXPECT_EQ(testing::ReadText(dir.File("12-1-lock.json")), Payload(12, "press 3"));
  auto rows = f.store->ListDeliveries("delivered", 10, true);
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].last_error, Script() + ": exit code 3");
}

TEST(OutboxExecTest, OverrunningProgramIsKilledAndAMissingOneIsAnError) {
  const std::string hooks =
      "  slow: { exec: { argv: [\"/bin/sleep\", \"5\"], timeout: 100ms, retries: 0 } }\n"
      "  missing: { exec: { argv: [\"/nonexistent/mes-lock\"], retries: 0 } }\n";
  OutboxFixture f(HooksConfig("retry_base: 1ms", "slow, missing", hooks));
  Outbox outbox(f.config, *f.store, f.metrics, OutboxOptions{});
  ASSERT_TRUE(outbox.Enqueue(1, 1, "slow", Payload(1, "st1")).ok());
  ASSERT_TRUE(outbox.Enqueue(1, 1, "missing", Payload(1, "st1")).ok());
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(outbox.RunDue(), 2);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3)) << "killed at its timeout, not waited for";
  auto dead = f.store->ListDeliveries("dead", 10, true);
  ASSERT_EQ(dead->size(), 2u);
  std::map<std::string, std::string> errors;
  for (const auto& d : *dead) errors[d.action] = d.last_error;
  EXPECT_EQ(errors["slow"], "/bin/sleep: timed out after 100ms; killed");
  EXPECT_EQ(errors["missing"], "cannot run /nonexistent/mes-lock: No such file or directory");
}

// ---------------------------------------------------------------------------------------------
// The engine with a real HTTP receiver.

// A webhook receiver: answers 503 to its first `fail_first` calls, then 200. It deduplicates
// by Idempotency-Key, as a receiver should: `effects` counts the keys that took effect (once
// each), `duplicates` the accepted calls whose key had taken effect already.
class Receiver {
 public:
  explicit Receiver(const std::string& listen, int fail_first = 0)
      : fail_first_(fail_first), server_(listen, [this](const HttpRequest& r) { return Handle(r); }) {}
  Status Start() { return server_.Start(); }
  void Stop() { server_.Stop(); }
  int port() const { return server_.port(); }

  HttpResponse Handle(const HttpRequest& r) {
    std::lock_guard lock(mu_);
    ++calls_;
    if (calls_ <= fail_first_) return {503, "application/json", "{\"error\":\"busy\"}"};
    const std::string key = r.Header("Idempotency-Key");
    if (effects_.count(key)) {
      ++duplicates_;
    } else {
      effects_[key] = r;
      order_.push_back(key);
    }
    return {200, "application/json", "{}"};
  }
  int calls() {
    std::lock_guard lock(mu_);
    return calls_;
  }
  int duplicates() {
    std::lock_guard lock(mu_);
    return duplicates_;
  }
  std::vector<std::string> order() {
    std::lock_guard lock(mu_);
    return order_;
  }
  HttpRequest request(const std::string& key) {
    std::lock_guard lock(mu_);
    return effects_.at(key);
  }

 private:
  std::mutex mu_;
  int fail_first_;
  int calls_ = 0;
  int duplicates_ = 0;
  std::map<std::string, HttpRequest> effects_;
  std::vector<std::string> order_;
  HttpServer server_;
};

template <typename Pred>
bool WaitFor(Pred pred, std::chrono::milliseconds limit = std::chrono::seconds(20)) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return pred();
}

std::string WebhookConfig(int port, const std::string& engine, int retries) {
  return HooksConfig(engine, "notify",
                     "  notify:\n"
                     "    webhook:\n"
                     "      url: \"http://127.0.0.1:" +
                         std::to_string(port) +
                         "/line/{station}?alarm={id}\"\n"
                         "      headers: { X-Token: \"secret-{characteristic}\" }\n"
                         "      timeout: 2s\n"
                         "      retries: " +
                         std::to_string(retries) + "\n");
}

// One out-of-control value per station: one alarm each.
void FeedAlarms(Engine& engine, const testing::TempDir& dir, const std::vector<std::string>& stations) {
  std::string text;
  std::int64_t ts = 1000;
  for (const auto& s : stations) {
    text +=
        "{\"characteristic\":\"bore\",\"value\":12,\"ts\":" + std::to_string(ts++) + ",\"station\":\"" + s + "\"}\n";
  }
  FileSourceSpec spec;
  spec.path = dir.Write("in.jsonl", text);
  auto read = connectors::file::ReadFile(spec, "f", engine.index(), 65536, engine.RegisterSource("f"));
  ASSERT_TRUE(read.ok()) << read.status().message();
}

nlohmann::json Deliveries(Engine& engine, const std::string& query = "") {
  auto r = engine.HandleApi("GET", "/api/deliveries", query);
  EXPECT_EQ(r.status, 200) << r.body;
  return nlohmann::json::parse(r.body)["deliveries"];
}

// The acceptance case: the receiver fails its first three calls; every delivery arrives, none
// is lost, in commit order, and each idempotency key takes effect once.
TEST(EngineOutboxTest, WebhookDeliveriesSurviveFailuresAndEachKeyTakesEffectOnce) {
  testing::TempDir dir;
  Receiver receiver("127.0.0.1:0", /*fail_first=*/3);
  ASSERT_TRUE(receiver.Start().ok());
  Config config = LoadOrDie(WebhookConfig(receiver.port(), "retry_base: 20ms, retry_max: 100ms", 10));
  EngineOptions opts;
  opts.store_path = dir.File("s.db");
  Engine engine(config, opts);
  ASSERT_TRUE(engine.Start().ok());
  FeedAlarms(engine, dir, {"st1", "st2", "st 3", "st4"});
  const std::vector<std::string> keys = {"1-1-notify", "2-1-notify", "3-1-notify", "4-1-notify"};
  EXPECT_TRUE(WaitFor([&] { return receiver.order().size() == keys.size(); })) << receiver.order().size();
  EXPECT_EQ(receiver.order(), keys) << "in commit order: the failed head held the others back";
  EXPECT_EQ(receiver.calls(), 7) << "3 refused + 4 accepted";
  EXPECT_EQ(receiver.duplicates(), 0);

  const HttpRequest first = receiver.request("1-1-notify");
  EXPECT_EQ(first.method, "POST");
  EXPECT_EQ(first.target, "/line/st1");
  EXPECT_EQ(first.query, "alarm=1");
  EXPECT_EQ(first.Header("X-Token"), "secret-bore");
  EXPECT_EQ(first.Header("Content-Type"), "application/json");
  auto body = nlohmann::json::parse(first.body);
  EXPECT_EQ(body["type"], "alarm");
  EXPECT_EQ(body["id"], 1);
  EXPECT_EQ(body["characteristic"], "bore");
  EXPECT_EQ(body["rule"], "nelson.1");
  EXPECT_EQ(body["scope"]["station"], "st1");
  EXPECT_EQ(receiver.request("3-1-notify").target, "/line/st%203") << "field values are URL-encoded";

  EXPECT_TRUE(WaitFor([&] { return Deliveries(engine, "state=delivered").size() == 4; }));
  engine.Stop();
  auto delivered = Deliveries(engine, "state=delivered");
  ASSERT_EQ(delivered.size(), 4u);
  EXPECT_EQ(delivered[3]["idempotency_key"], "1-1-notify") << "newest first";
  EXPECT_EQ(delivered[3]["attempts"], 4);
  EXPECT_TRUE(Has(delivered[3]["last_error"].get<std::string>(), "HTTP 503")) << delivered[3];
  EXPECT_EQ(delivered[3]["payload"]["id"], 1);
  EXPECT_EQ(delivered[0]["attempts"], 1);
  EXPECT_TRUE(Deliveries(engine, "state=pending").empty());
  const std::string m = engine.HandleApi("GET", "/metrics", "").body;
  EXPECT_TRUE(Has(m, "shewhart_hook_deliveries_total{action=\"notify\",outcome=\"delivered\"} 4\n")) << m;
  EXPECT_TRUE(Has(m, "shewhart_hook_deliveries_total{action=\"notify\",outcome=\"failed\"} 3\n")) << m;
  EXPECT_TRUE(Has(m, "shewhart_hook_deliveries_total{action=\"notify\",outcome=\"dead\"} 0\n")) << m;
  receiver.Stop();
}

// The receiver is down: the delivery stays pending (committed) when the engine stops. A new
// engine on the same store delivers it once the receiver is up, exactly once.
TEST(EngineOutboxTest, PendingDeliveryIsDeliveredOnceByTheNextEngine) {
  testing::TempDir dir;
  int port = 0;
  {
    Receiver probe("127.0.0.1:0");  // a free port, then closed: connections are refused
    ASSERT_TRUE(probe.Start().ok());
    port = probe.port();
    probe.Stop();
  }
  Config config = LoadOrDie(WebhookConfig(port, "retry_base: 20ms, retry_max: 50ms", 1000));
  EngineOptions opts;
  opts.store_path = dir.File("s.db");
  {
    Engine engine(config, opts);
    ASSERT_TRUE(engine.Start().ok());
    FeedAlarms(engine, dir, {"st1"});
    EXPECT_TRUE(WaitFor([&] {
      auto d = Deliveries(engine);
      return d.size() == 1 && d[0]["attempts"].get<int>() >= 2;
    }));
    engine.Stop();
    auto d = Deliveries(engine, "state=pending");
    ASSERT_EQ(d.size(), 1u);
    EXPECT_TRUE(
        Has(d[0]["last_error"].get<std::string>(), "POST http://127.0.0.1:" + std::to_string(port) + "/line/st1"))
        << d[0];
  }
  Receiver receiver("127.0.0.1:" + std::to_string(port));
  ASSERT_TRUE(receiver.Start().ok());
  Engine engine(config, opts);
  ASSERT_TRUE(engine.Start().ok());
  EXPECT_TRUE(WaitFor([&] { return receiver.order().size() == 1; }));
  std::this_thread::sleep_for(milliseconds(200));  // time for a wrong second send
  engine.Stop();
  EXPECT_EQ(receiver.order(), std::vector<std::string>{"1-1-notify"});
  EXPECT_EQ(receiver.calls(), 1);
  auto d = Deliveries(engine);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0]["state"], "delivered");
  EXPECT_EQ(engine.alarms_opened(), 0u) << "the second engine opened no alarm: the delivery came from the store";
  receiver.Stop();
}

TEST(EngineOutboxTest, DeadDeliveryIsListedAndCounted) {
  testing::TempDir dir;
  Receiver receiver("127.0.0.1:0", /*fail_first=*/1000);
  ASSERT_TRUE(receiver.Start().ok());
  Config config = LoadOrDie(WebhookConfig(receiver.port(), "retry_base: 5ms, retry_max: 10ms", 2));
  EngineOptions opts;
  opts.store_path = dir.File("s.db");
  Engine engine(config, opts);
  ASSERT_TRUE(engine.Start().ok());
  FeedAlarms(engine, dir, {"st1"});
  EXPECT_TRUE(WaitFor([&] { return Deliveries(engine, "state=dead").size() == 1; }));
  engine.Stop();
  EXPECT_EQ(receiver.calls(), 3);
  auto dead = Deliveries(engine, "state=dead");
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0]["attempts"], 3);
  EXPECT_EQ(dead[0]["next_attempt"], nullptr);
  EXPECT_TRUE(Has(dead[0]["last_error"].get<std::string>(), "HTTP 503: {\"error\":\"busy\"}")) << dead[0];
  const std::string m = engine.HandleApi("GET", "/metrics", "").body;
  EXPECT_TRUE(Has(m, "shewhart_hook_deliveries_total{action=\"notify\",outcome=\"dead\"} 1\n")) << m;
  EXPECT_TRUE(Has(m, "shewhart_hook_deliveries_total{action=\"notify\",outcome=\"failed\"} 3\n")) << m;
  auto bad = engine.HandleApi("GET", "/api/deliveries", "state=lost");
  EXPECT_EQ(bad.status, 400);
  EXPECT_TRUE(Has(bad.body, "unknown delivery state 'lost' (expected pending, delivered or dead)")) << bad.body;
  bad = engine.HandleApi("GET", "/api/deliveries", "limit=x");
  EXPECT_EQ(bad.status, 400);
  EXPECT_TRUE(Has(bad.body, "limit must be an integer from 1 to 1000, found 'x'")) << bad.body;
  receiver.Stop();
}

// The acceptance case, second half: the receiver goes down for a while (connection refused)
// and comes back on the same port: the deliveries committed meanwhile are retried until it
// answers, none is lost, and every key takes effect once across the outage.
TEST(EngineOutboxTest, WebhookDeliveriesSurviveAReceiverThatIsDownForAWhile) {
  testing::TempDir dir;
  auto first = std::make_unique<Receiver>("127.0.0.1:0", /*fail_first=*/3);
  ASSERT_TRUE(first->Start().ok());
  const int port = first->port();
  Config config = LoadOrDie(WebhookConfig(port, "retry_base: 20ms, retry_max: 100ms", 100));
  EngineOptions opts;
  opts.store_path = dir.File("s.db");
  Engine engine(config, opts);
  ASSERT_TRUE(engine.Start().ok());
  auto feed = [&](const std::string& name, const std::vector<std::string>& stations, std::int64_t ts) {
    std::string text;
    for (const auto& s : stations) {
      text +=
          "{\"characteristic\":\"bore\",\"value\":12,\"ts\":" + std::to_string(ts++) + ",\"station\":\"" + s + "\"}\n";
    }
    FileSourceSpec spec;
    spec.path = dir.Write(name, text);
    auto read = connectors::file::ReadFile(spec, name, engine.index(), 65536, engine.RegisterSource(name));
    ASSERT_TRUE(read.ok()) << read.status().message();
  };
  feed("a.jsonl", {"st1", "st2"}, 1000);
  EXPECT_TRUE(WaitFor([&] { return first->order().size() == 2; })) << first->order().size();
  first->Stop();  // down
  feed("b.jsonl", {"st3", "st4"}, 2000);
  EXPECT_TRUE(WaitFor([&] {
    auto pending = Deliveries(engine, "state=pending");
    return pending.size() == 2 && pending[1]["attempts"].get<int>() >= 3;
  })) << Deliveries(engine, "state=pending");
  auto pending = Deliveries(engine, "state=pending");
  ASSERT_FALSE(pending.empty());
  EXPECT_FALSE(pending.back()["last_error"].get<std::string>().empty());
  Receiver second("127.0.0.1:" + std::to_string(port));  // back, on the same port
  ASSERT_TRUE(second.Start().ok());
  EXPECT_TRUE(WaitFor([&] { return second.order().size() == 2; })) << second.order().size();
  engine.Stop();
  std::vector<std::string> keys = first->order();
  for (const auto& k : second.order()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"1-1-notify", "2-1-notify", "3-1-notify", "4-1-notify"}));
  EXPECT_EQ(first->duplicates() + second.duplicates(), 0);
  EXPECT_TRUE(Deliveries(engine, "state=pending").empty());
  EXPECT_TRUE(Deliveries(engine, "state=dead").empty());
  second.Stop();
}

// A fake Alertmanager (the Receiver) gets the firing alert when the alarm opens and the same
// alert with endsAt when resolve_after in-control points resolve it, both through the outbox.
TEST(EngineOutboxTest, AlertmanagerGetsTheAlertAndItsResolution) {
  testing::TempDir dir;
  Receiver receiver("127.0.0.1:0");
  ASSERT_TRUE(receiver.Start().ok());
  std::string text = HooksConfig("retry_base: 20ms", "am, log",
                                 "  am: { alertmanager: { url: \"http://127.0.0.1:" + std::to_string(receiver.port()) +
                                     "/\", timeout: 2s } }\n");
  text.replace(text.find("  line:\n"), 8, "  line:\n    resolve_after: 2\n");
  Config config = LoadOrDie(text);
  EngineOptions opts;
  opts.store_path = dir.File("s.db");
  Engine engine(config, opts);
  ASSERT_TRUE(engine.Start().ok());
  FileSourceSpec spec;
  spec.path = dir.Write("in.jsonl",
                        "{\"characteristic\":\"bore\",\"value\":12,\"ts\":1000,\"station\":\"st1\"}\n"
                        "{\"characteristic\":\"bore\",\"value\":10,\"ts\":2000,\"station\":\"st1\"}\n"
                        "{\"characteristic\":\"bore\",\"value\":10,\"ts\":3000,\"station\":\"st1\"}\n"
                        "{\"characteristic\":\"bore\",\"value\":10,\"ts\":4000,\"station\":\"st1\"}\n");
  auto read = connectors::file::ReadFile(spec, "f", engine.index(), 65536, engine.RegisterSource("f"));
  ASSERT_TRUE(read.ok()) << read.status().message();
  const std::vector<std::string> keys = {"1-1-am", "1-resolved-1-am"};
  EXPECT_TRUE(WaitFor([&] { return receiver.order().size() == 2; })) << receiver.order().size();
  engine.Stop();
  ASSERT_EQ(receiver.order(), keys) << "the resolution after the alert: one lane, commit order";
  const HttpRequest firing = receiver.request("1-1-am");
  EXPECT_EQ(firing.method, "POST");
  EXPECT_EQ(firing.target, "/api/v2/alerts");
  EXPECT_EQ(firing.Header("Content-Type"), "application/json");
  auto a = nlohmann::json::parse(firing.body);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0]["labels"]["alertname"], "ShewhartAlarm");
  EXPECT_EQ(a[0]["labels"]["characteristic"], "bore");
  EXPECT_EQ(a[0]["labels"]["station"], "st1");
  EXPECT_EQ(a[0]["labels"]["alarm"], "1");
  EXPECT_EQ(a[0]["startsAt"], FormatRfc3339(EventTime(std::chrono::milliseconds(1000))));
  EXPECT_FALSE(a[0].contains("endsAt"));
  auto r = nlohmann::json::parse(receiver.request("1-resolved-1-am").body);
  EXPECT_EQ(r[0]["labels"], a[0]["labels"]) << "the same alert";
  // The moving range of 12 -> 10 signals at 2000: the two in-control points are 3000 and 4000.
  EXPECT_EQ(r[0]["endsAt"], FormatRfc3339(EventTime(std::chrono::milliseconds(4000))));
  EXPECT_EQ(Deliveries(engine, "state=delivered").size(), 2u);
  receiver.Stop();
}

// Resolved by hand (POST /api/alarms/1/resolve): each tier that ran the hook has its own alert
// (the tier is a label), and each is sent again with endsAt, once.
TEST(EngineOutboxTest, AlertmanagerResolutionByHandEndsTheAlertOfEveryTierThatRanTheHook) {
  testing::TempDir dir;
  Receiver receiver("127.0.0.1:0");
  ASSERT_TRUE(receiver.Start().ok());
  const std::string tokens = dir.Write("tokens.yaml", "anna: \"anna-0123456789abcdef\"\n");
  std::string text = HooksConfig("retry_base: 20ms", "am",
                                 "  am: { alertmanager: { url: \"http://127.0.0.1:" + std::to_string(receiver.port()) +
                                     "\" } }\n");
  text.insert(text.find("hooks:\n"), "      - { tier: 2, when: { rule: [nelson.1] }, do: [am, log] }\n");
  text = "http: { tokens: \"" + tokens + "\" }\n" + text;
  Config config = LoadOrDie(text);
  ASSERT_EQ(config.responses.at("line").tiers.size(), 2u);
  EngineOptions opts;
  opts.store_path = dir.File("s.db");
  Engine engine(config, opts);
  ASSERT_TRUE(engine.Start().ok());
  FeedAlarms(engine, dir, {"st1"});
  EXPECT_TRUE(WaitFor([&] { return receiver.order().size() == 2; })) << receiver.order().size();
  const std::string bearer = "Bearer anna-0123456789abcdef";
  auto r = engine.HandleApi("POST", "/api/alarms/1/resolve", "", "{\"note\":\"fixed\"}", bearer);
  ASSERT_EQ(r.status, 200) << r.body;
  r = engine.HandleApi("POST", "/api/alarms/1/resolve", "", "{}", bearer);
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_TRUE(WaitFor([&] { return receiver.order().size() == 4; })) << receiver.order().size();
  std::this_thread::sleep_for(milliseconds(100));  // time for a wrong fifth send
  engine.Stop();
  EXPECT_EQ(receiver.order(), (std::vector<std::string>{"1-1-am", "1-2-am", "1-resolved-1-am", "1-resolved-2-am"}));
  EXPECT_EQ(receiver.calls(), 4);
  for (int tier : {1, 2}) {
    const std::string t = std::to_string(tier);
    auto firing = nlohmann::json::parse(receiver.request("1-" + t + "-am").body)[0];
    auto resolved = nlohmann::json::parse(receiver.request("1-resolved-" + t + "-am").body)[0];
    EXPECT_EQ(firing["labels"]["tier"], t);
    EXPECT_EQ(resolved["labels"], firing["labels"]);
    EXPECT_FALSE(firing.contains("endsAt"));
    ASSERT_TRUE(resolved.contains("endsAt")) << resolved;
    EXPECT_GT(resolved["endsAt"].get<std::string>(), resolved["startsAt"].get<std::string>())
        << "resolved by hand on the wall clock, after the event time it opened at";
  }
  receiver.Stop();
}

// A quarantine hook gets the held serials in batches (of 2 here), in the order they joined the
// hold, again for units that join later, and carries on after a restart with the next batch.
TEST(EngineOutboxTest, QuarantineHookGetsTheHeldSerialsInBatchesAndAgainAsUnitsJoin) {
  testing::TempDir dir;
  Receiver receiver("127.0.0.1:0");
  ASSERT_TRUE(receiver.Start().ok());
  const std::string config_text = HooksConfig("retry_base: 20ms", "wms",
                                              "  wms:\n"
                                              "    webhook: { url: \"http://127.0.0.1:" +
                                                  std::to_string(receiver.port()) +
                                                  "/hold?alarm={id}\" }\n"
                                                  "    quarantine: { batch: 2 }\n");
  Config config = LoadOrDie(config_text);
  EXPECT_EQ(config.hooks.at("wms").quarantine_batch, 2);
  auto unit = [](const std::string& serial, std::int64_t ms) {
    return "{\"unit\":\"" + serial + "\",\"station\":\"st1\",\"ts\":" + std::to_string(ms) + "}\n";
  };
  auto feed = [&](Engine& engine, const std::string& name, const std::string& text) {
    FileSourceSpec spec;
    spec.path = dir.Write(name, text);
    auto read = connectors::file::ReadFile(spec, "f", engine.index(), 65536, engine.RegisterSource("f"));
    ASSERT_TRUE(read.ok()) << read.status().message();
  };
  // The serials of every batch received, in batch-number order.
  auto received = [&] {
    std::vector<std::string> serials;
    for (int b = 1;; ++b) {
      const std::string key = "1-1-wms-" + std::to_string(b);
      auto order = receiver.order();
      if (std::find(order.begin(), order.end(), key) == order.end()) break;
      auto doc = nlohmann::json::parse(receiver.request(key).body);
      EXPECT_LE(doc["serials"].size(), 2u) << key;
      EXPECT_EQ(doc["batch"], b);
      EXPECT_EQ(doc["hold"], 1);
      for (const auto& x : doc["serials"]) serials.push_back(x.get<std::string>());
    }
    return serials;
  };
  EngineOptions opts;
  opts.store_path = dir.File("s.db");
  {
    Engine engine(config, opts);
    ASSERT_TRUE(engine.Start().ok());
    feed(engine, "a.jsonl",
         "{\"characteristic\":\"bore\",\"value\":10,\"ts\":1000,\"station\":\"st1\",\"serial\":\"A\"}\n" +
             unit("B", 1500) + unit("C", 1600) +
             "{\"characteristic\":\"bore\",\"value\":12,\"ts\":2000,\"station\":\"st1\",\"serial\":\"D\"}\n");
    EXPECT_TRUE(WaitFor([&] { return received().size() == 4; })) << received().size();
    EXPECT_EQ(received(), (std::vector<std::string>{"A", "B", "C", "D"}))
        << "the window starts at A, the last in-control point";
    feed(engine, "b.jsonl", unit("E", 3000) + unit("F", 3100) + unit("G", 3200));
    EXPECT_TRUE(WaitFor([&] { return received().size() == 7; })) << received().size();
    engine.Stop();
  }
  EXPECT_EQ(received(), (std::vector<std::string>{"A", "B", "C", "D", "E", "F", "G"}));
  {
    Engine engine(config, opts);
    ASSERT_TRUE(engine.Start().ok());
    feed(engine, "c.jsonl", unit("H", 4000));
    EXPECT_TRUE(WaitFor([&] { return received().size() == 8; })) << received().size();
    engine.Stop();
  }
  EXPECT_EQ(received(), (std::vector<std::string>{"A", "B", "C", "D", "E", "F", "G", "H"}));
  EXPECT_EQ(receiver.duplicates(), 0);
  receiver.Stop();
}

// Replay back-tests rules: no delivery is committed and nothing is sent.
TEST(EngineOutboxTest, ReplayRunsNoWebhook) {
  testing::TempDir dir;
  Receiver receiver("127.0.0.1:0");
  ASSERT_TRUE(receiver.Start().ok());
  Config config = LoadOrDie(WebhookConfig(receiver.port(), "retry_base: 5ms", 2));
  EngineOptions opts;
  opts.threaded = false;
  opts.store_path = dir.File("s.db");
  Engine engine(config, opts);
  ASSERT_TRUE(engine.Start().ok());
  FeedAlarms(engine, dir, {"st1"});
  engine.Stop();
  EXPECT_EQ(engine.alarms_opened(), 1u);
  EXPECT_TRUE(Deliveries(engine).empty());
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_EQ(receiver.calls(), 0);
  receiver.Stop();
}

}  // namespace
}  // namespace shewhart::engine
