#include "shewhart/engine/hooks/outbox.h"
#include "shewhart/base/thread.h"
#include "shewhart/engine/store/audit.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cmath>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "shewhart/engine/model/time_format.h"
#include "shewhart/engine/model/json.h"

extern char** environ;

namespace shewhart::engine {

RetryPolicy RetryPolicyFor(const HookSpec& hook, const Config& config) {
  RetryPolicy p;
  p.retries = hook.retries;
  p.base = hook.retry_base.value_or(config.retry_base);
  p.max = hook.retry_max.value_or(config.retry_max);
  return p;
}

std::chrono::microseconds BackoffDelay(const RetryPolicy& policy, int failed_attempts, double unit_random) {
  // base * 2^(n-1), computed in double and capped before it can overflow.
  const double step = static_cast<double>(policy.base.count()) *
                      std::pow(2.0, static_cast<double>(std::clamp(failed_attempts, 1, 64) - 1));
  const double d = std::min(step, static_cast<double>(policy.max.count()));
  const double r = std::clamp(unit_random, 0.0, 1.0);
  return std::chrono::microseconds(static_cast<std::int64_t>(std::llround(d / 2 + r * (d / 2))));
}

void ApplyAttempt(DeliveryRecord& d, const Status& outcome, EventTime now, const RetryPolicy& policy,
                  double unit_random) {
  d.attempts += 1;
  d.updated = now;
  if (outcome.ok()) {
    d.state = "delivered";
    return;
  }
  d.last_error = outcome.message();
  if (d.attempts > policy.retries) {
    d.state = "dead";
    return;
  }
  d.next_attempt = now + BackoffDelay(policy, d.attempts, unit_random);
}

std::string IdempotencyKey(std::int64_t alarm_id, int tier, const std::string& action) {
  return std::to_string(alarm_id) + "-" + std::to_string(tier) + "-" + action;
}

std::string ResolvedIdempotencyKey(std::int64_t alarm_id, int tier, const std::string& action) {
  return std::to_string(alarm_id) + "-resolved-" + std::to_string(tier) + "-" + action;
}

Result<std::string> AlertmanagerBody(const HookSpec& hook, const DeliveryRecord& d) {
  using nlohmann::json;
  const json doc = json::parse(d.payload, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) {
    return InvalidArgument("delivery " + d.idempotency_key + ": the payload is not a JSON object (an alarm document)");
  }
  auto text = [&doc](const char* name) {
    auto it = doc.find(name);
    if (it == doc.end() || it->is_null()) return std::string();
    return it->is_string() ? it->get<std::string>() : it->dump();
  };
  json labels = json::object();
  labels["alertname"] = "ShewhartAlarm";
  for (const char* name : {"characteristic", "rule", "chart", "policy"}) labels[name] = text(name);
  labels["tier"] = std::to_string(d.tier);
  labels["alarm"] = std::to_string(d.alarm_id);
  std::string scope;
  if (auto sc = doc.find("scope"); sc != doc.end() && sc->is_object()) {
    for (auto it = sc->begin(); it != sc->end(); ++it) {
      if (!it.value().is_string()) continue;
      labels[it.key()] = it.value().get<std::string>();  // station, machine, lot, operator: valid label names
      scope += (scope.empty() ? "" : ",") + it.key() + "=" + it.value().get<std::string>();
    }
  }
  json annotations = json::object();
  annotations["summary"] = text("characteristic") + ": " + text("rule") + " on the " + text("chart") + " chart" +
                           (scope.empty() ? "" : " at " + scope) + " (alarm #" + std::to_string(d.alarm_id) +
                           ", tier " + std::to_string(d.tier) + ", policy " + text("policy") + ")";
  if (std::string w = text("window_start"); !w.empty()) annotations["window_start"] = w;
  if (std::string h = text("hold"); !h.empty() && h != "0") annotations["hold"] = h;
  if (std::string n = text("held_units"); !n.empty()) annotations["held_units"] = n;
  json alert{{"labels", labels}, {"annotations", annotations}};
  const std::string opened = text("opened");
  if (!opened.empty()) alert["startsAt"] = opened;
  if (std::string resolved = text("resolved"); !resolved.empty()) {
    // Alertmanager refuses an alert that ends before it starts (a resolution by hand, on the
    // wall clock, of an alarm opened at a later event time).
    auto r = ParseRfc3339(resolved);
    auto o = ParseRfc3339(opened);
    alert["endsAt"] = (r && o && *r < *o) ? opened : resolved;
  }
  if (!hook.alertmanager.generator_url.empty()) {
    alert["generatorURL"] = ExpandHookTemplate(hook.alertmanager.generator_url, DeliveryFields(d), /*url_encode=*/true);
  }
  return json::array({alert}).dump(-1, ' ', false, kReplaceInvalidUtf8);
}

TemplateFields DeliveryFields(const DeliveryRecord& d) {
  TemplateFields f;
  f.emplace_back("id", std::to_string(d.alarm_id));
  f.emplace_back("key", d.idempotency_key);
  f.emplace_back("tier", std::to_string(d.tier));
  f.emplace_back("action", d.action);
  const nlohmann::json doc = nlohmann::json::parse(d.payload, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return f;
  for (const char* name : {"characteristic", "policy", "rule", "chart"}) {
    auto it = doc.find(name);
    if (it != doc.end() && it->is_string()) f.emplace_back(name, it->get<std::string>());
  }
  if (auto scope = doc.find("scope"); scope != doc.end() && scope->is_object()) {
    for (auto it = scope->begin(); it != scope->end(); ++it) {
      if (it.value().is_string()) f.emplace_back(it.key(), it.value().get<std::string>());
    }
  }
  return f;
}

namespace {

std::string FieldOf(const TemplateFields& f, const std::string& name) {
  for (const auto& [k, v] : f) {
    if (k == name) return v;
  }
  return "";
}

std::string FormatDuration(std::chrono::microseconds d) {
  if (d.count() % 1000000 == 0) return std::to_string(d.count() / 1000000) + "s";
  return std::to_string(d.count() / 1000) + "ms";
}

// ---------------------------------------------------------------------------------------------
// webhook and alertmanager: libcurl easy interface, one handle per attempt.

std::size_t KeepHead(char* data, std::size_t size, std::size_t n, void* user) {
  auto* body = static_cast<std::string*>(user);
  const std::size_t bytes = size * n;
  if (body->size() < 200) body->append(data, std::min(bytes, 200 - body->size()));
  return bytes;
}

// POSTs `body` to `url` with the engine's headers and `extra` (name, value); OK on a 2xx answer.
Status Post(const std::string& url, const std::string& body_out, const std::string& key,
            const std::vector<std::pair<std::string, std::string>>& extra, std::chrono::microseconds timeout) {
  CURL* curl = curl_easy_init();
  if (!curl) return Internal("POST " + url + ": curl_easy_init failed");
  curl_slist* headers = nullptr;
  auto add = [&headers](const std::string& line) {
    curl_slist* next = curl_slist_append(headers, line.c_str());
    if (next) headers = next;
    return next != nullptr;
  };
  bool ok = add("Content-Type: application/json") && add("Idempotency-Key: " + key) &&
            add("Expect:");  // no 100-continue round trip
  for (const auto& [name, value] : extra) ok = ok && add(name + ": " + value);
  std::string body;
  char error[CURL_ERROR_SIZE] = {0};
  const long timeout_ms = static_cast<long>(std::max<std::int64_t>(1, timeout.count() / 1000));
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
#if LIBCURL_VERSION_NUM >= 0x075500
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
  curl_easy_setopt(curl, CURLOPT_POST, 1L);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body_out.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body_out.size()));
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);  // no SIGALRM for timeouts: we are multi-threaded
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "shewhart/0.1");
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, KeepHead);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  Status st = Status::Ok();
  if (!ok) {
    st = Internal("POST " + url + ": out of memory building the headers");
  } else if (CURLcode rc = curl_easy_perform(curl); rc != CURLE_OK) {
    st = Unavailable("POST " + url + ": " + (error[0] ? std::string(error) : std::string(curl_easy_strerror(rc))));
  } else {
    long code = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    if (code < 200 || code > 299) {
      st = Unavailable("POST " + url + ": HTTP " + std::to_string(code) + (body.empty() ? "" : ": " + body));
    }
  }
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return st;
}

Status SendWebhook(const HookSpec& hook, const DeliveryRecord& d) {
  const TemplateFields fields = DeliveryFields(d);
  const std::string url = ExpandHookTemplate(hook.webhook.url, fields, /*url_encode=*/true);
  std::vector<std::pair<std::string, std::string>> headers;
  for (const auto& [name, value] : hook.webhook.headers) {
    std::string v = ExpandHookTemplate(value, fields);
    std::replace_if(v.begin(), v.end(), [](char c) { return c == '\r' || c == '\n' || c == '\0'; }, ' ');
    headers.emplace_back(name, std::move(v));
  }
  return Post(url, d.payload, d.idempotency_key, headers, hook.webhook.timeout);
}

// Alertmanager answers 200 to an accepted POST /api/v2/alerts, 400 to an alert it refuses.
Status SendAlertmanager(const HookSpec& hook, const DeliveryRecord& d) {
  auto body = AlertmanagerBody(hook, d);
  if (!body.ok()) return body.status();
  return Post(hook.alertmanager.url + "/api/v2/alerts", *body, d.idempotency_key, {}, hook.alertmanager.timeout);
}

// ---------------------------------------------------------------------------------------------
// exec: posix_spawn without a shell; the payload through a socket pair on standard input (a
// socket, so that a program that exits without reading it gives EPIPE, not SIGPIPE).

Status RunExec(const HookSpec& hook, const DeliveryRecord& d) {
  const TemplateFields fields = DeliveryFields(d);
  const std::string& program = hook.exec.argv.at(0);
  std::vector<std::string> args{program};
  for (std::size_t i = 1; i < hook.exec.argv.size(); ++i) args.push_back(ExpandHookTemplate(hook.exec.argv[i], fields));
  std::vector<std::pair<std::string, std::string>> ours = {
      {"SHEWHART_ALARM_ID", std::to_string(d.alarm_id)},
      {"SHEWHART_IDEMPOTENCY_KEY", d.idempotency_key},
      {"SHEWHART_ACTION", d.action},
      {"SHEWHART_TIER", std::to_string(d.tier)},
      {"SHEWHART_ATTEMPT", std::to_string(d.attempts + 1)},
      {"SHEWHART_CHARACTERISTIC", FieldOf(fields, "characteristic")},
      {"SHEWHART_POLICY", FieldOf(fields, "policy")},
      {"SHEWHART_RULE", FieldOf(fields, "rule")},
      {"SHEWHART_CHART", FieldOf(fields, "chart")},
  };
  std::string scope;
  for (const char* k : {"station", "machine", "lot", "operator"}) {
    for (const auto& [name, value] : fields) {
      if (name == k) scope += (scope.empty() ? "" : ",") + name + "=" + value;
    }
  }
  ours.emplace_back("SHEWHART_SCOPE", scope);
  for (const auto& [name, value] : hook.exec.env) ours.emplace_back(name, ExpandHookTemplate(value, fields));
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) {
    const std::string_view entry(*e);
    const std::string_view name = entry.substr(0, entry.find('='));
    const bool replaced = name.rfind("SHEWHART_", 0) == 0 ||
                          std::any_of(ours.begin(), ours.end(), [&](const auto& kv) { return kv.first == name; });
    if (!replaced) env.emplace_back(entry);
  }
  for (const auto& [name, value] : ours) env.push_back(name + "=" + value);
  std::vector<char*> argv_c, env_c;
  for (auto& a : args) argv_c.push_back(a.data());
  argv_c.push_back(nullptr);
  for (auto& e : env) env_c.push_back(e.data());
  env_c.push_back(nullptr);

  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    return Unavailable(program + ": socketpair: " + std::strerror(errno));
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, sv[1], 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  // The program starts with no signal blocked and the usual ones at their default action,
  // whatever the engine's threads block or ignore.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2}) sigaddset(&defaults, sig);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, program.c_str(), &fa, &attr, argv_c.data(), env_c.data());
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&fa);
  close(sv[1]);
  if (rc != 0) {
    close(sv[0]);
    return Unavailable("cannot run " + program + ": " + std::strerror(rc));
  }
  const auto deadline = std::chrono::steady_clock::now() + hook.exec.timeout;
  auto remaining_ms = [&] {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    return static_cast<int>(std::clamp<std::int64_t>(left.count(), 0, INT_MAX));
  };
  // Standard input: the payload, then end of file. A program that does not read it all is
  // not an error in itself: its exit code decides.
  std::size_t off = 0;
  while (off < d.payload.size()) {
    pollfd p{sv[0], POLLOUT, 0};
    const int ready = poll(&p, 1, remaining_ms());
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) break;  // timed out: the wait below kills it
    const ssize_t n = send(sv[0], d.payload.data() + off, d.payload.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      off += static_cast<std::size_t>(n);
    } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      break;  // EPIPE, ECONNRESET: it closed its standard input
    }
  }
  close(sv[0]);
  int status = 0;
  for (;;) {
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) return Internal(program + ": waitpid: " + std::strerror(errno));
    if (std::chrono::steady_clock::now() >= deadline) {
      kill(pid, SIGKILL);
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      return Unavailable(program + ": timed out after " + FormatDuration(hook.exec.timeout) + "; killed");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Status::Ok();
  if (WIFEXITED(status)) return Unavailable(program + ": exit code " + std::to_string(WEXITSTATUS(status)));
  if (WIFSIGNALED(status)) return Unavailable(program + ": killed by signal " + std::to_string(WTERMSIG(status)));
  return Unavailable(program + ": ended with wait status " + std::to_string(status));
}

class RealTransport : public DeliveryTransport {
 public:
  Status Send(const HookSpec& hook, const DeliveryRecord& d) override {
    switch (hook.kind) {
      case HookSpec::Kind::kWebhook: return SendWebhook(hook, d);
      case HookSpec::Kind::kExec: return RunExec(hook, d);
      case HookSpec::Kind::kAlertmanager: return SendAlertmanager(hook, d);
      default: return Internal("hook '" + hook.name + "' is not delivered through the outbox");
    }
  }
};

}  // namespace

std::unique_ptr<DeliveryTransport> MakeDeliveryTransport() {
  // curl_global_init is not thread-safe in every libcurl version: once, before any worker.
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  return std::make_unique<RealTransport>();
}

// ---------------------------------------------------------------------------------------------
// Outbox

// The queue of one durable hook (action) and its worker.
struct Outbox::Lane {
  const HookSpec* hook = nullptr;
  RetryPolicy policy;
  Counter* delivered = nullptr;
  Counter* failed = nullptr;
  Counter* dead = nullptr;
  mutable std::mutex mu;
  std::condition_variable cv;
  std::deque<DeliveryRecord> queue;  // pending, in commit order; the worker owns the front
  // queue.size(), stored after every change under `mu`: /metrics reads it without the lock the
  // responder takes to enqueue.
  std::atomic<std::size_t> pending{0};
  // alertmanager hooks: the alerts of open alarms (delivered firing deliveries whose resolution
  // is not yet delivered), by idempotency key; sent again every `refresh`.
  std::map<std::string, DeliveryRecord> firing;
  EventTime next_refresh{};
  Counter* refreshed_sent = nullptr;
  Counter* refreshed_failed = nullptr;
  bool stop = false;
  std::thread thread;
};

Outbox::Outbox(const Config& config, Store& store, MetricsRegistry& metrics, OutboxOptions options)
    : config_(config), store_(store), metrics_(metrics), options_(std::move(options)) {
  if (options_.transport) {
    transport_ = options_.transport;
  } else {
    own_transport_ = MakeDeliveryTransport();
    transport_ = own_transport_.get();
  }
  random_state_ =
      options_.seed ? options_.seed : (std::uint64_t{std::random_device{}()} << 32 | std::random_device{}());
  for (const auto& [name, hook] : config_.hooks) {
    if (!hook.durable()) continue;
    auto lane = std::make_unique<Lane>();
    lane->hook = &hook;
    lane->policy = RetryPolicyFor(hook, config_);
    const char* help = kHookDeliveriesHelp;
    lane->delivered =
        metrics_.GetCounter("shewhart_hook_deliveries_total", help, {{"action", name}, {"outcome", "delivered"}});
    lane->failed =
        metrics_.GetCounter("shewhart_hook_deliveries_total", help, {{"action", name}, {"outcome", "failed"}});
    lane->dead = metrics_.GetCounter("shewhart_hook_deliveries_total", help, {{"action", name}, {"outcome", "dead"}});
    Lane* l = lane.get();
    if (hook.kind == HookSpec::Kind::kAlertmanager) {
      const char* help = "Alerts of open alarms sent again to Alertmanager, by outcome.";
      lane->refreshed_sent =
          metrics_.GetCounter("shewhart_alertmanager_refreshes_total", help, {{"action", name}, {"outcome", "sent"}});
      lane->refreshed_failed =
          metrics_.GetCounter("shewhart_alertmanager_refreshes_total", help, {{"action", name}, {"outcome", "failed"}});
    }
    metrics_.AddCallbackGauge("shewhart_hook_deliveries_pending", "Outbox deliveries not yet delivered or dead.",
                              {{"action", name}},
                              [l] { return static_cast<double>(l->pending.load(std::memory_order_relaxed)); });
    lanes_.emplace(name, std::move(lane));
  }
}

Outbox::~Outbox() { Stop(); }

EventTime Outbox::Now() const {
  if (options_.clock) return options_.clock();
  return std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
}

double Outbox::NextRandom() {
  std::lock_guard lock(random_mu_);
  // splitmix64: small, seedable, good enough for jitter.
  std::uint64_t z = (random_state_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * 0x1.0p-53;
}

Status Outbox::Load() {
  auto pending = store_.ListDeliveries("pending", INT_MAX, /*oldest_first=*/true);
  if (!pending.ok()) return pending.status();
  // The alerts of open alarms that alertmanager hooks keep refreshing: firing deliveries that
  // were delivered and whose resolution was not (a pending resolution ends it when delivered).
  Result<std::vector<DeliveryRecord>> delivered{std::vector<DeliveryRecord>{}};
  for (auto& [action, lane] : lanes_) {
    if (lane->hook->kind == HookSpec::Kind::kAlertmanager) {
      delivered = store_.ListDeliveries("delivered", INT_MAX, /*oldest_first=*/true);
      break;
    }
  }
  if (!delivered.ok()) return delivered.status();
  for (auto& [action, lane] : lanes_) {
    if (lane->hook->kind != HookSpec::Kind::kAlertmanager) continue;
    std::set<std::string> ended;
    for (const auto* list : {&*delivered, &*pending}) {
      for (const auto& d : *list) {
        if (d.action == action && d.idempotency_key == ResolvedIdempotencyKey(d.alarm_id, d.tier, d.action)) {
          ended.insert(IdempotencyKey(d.alarm_id, d.tier, d.action));
        }
      }
    }
    std::lock_guard lock(lane->mu);
    for (auto& d : *delivered) {
      if (d.action == action && d.idempotency_key == IdempotencyKey(d.alarm_id, d.tier, d.action) &&
          !ended.count(d.idempotency_key)) {
        lane->firing.emplace(d.idempotency_key, std::move(d));
      }
    }
    if (!lane->firing.empty())
      spdlog::info("outbox: {} alerts of open alarms to refresh through '{}'", lane->firing.size(), action);
  }
  std::map<std::string, int> orphans;
  for (auto& d : *pending) {
    auto it = lanes_.find(d.action);
    if (it == lanes_.end()) {
      orphans[d.action] += 1;
      continue;
    }
    std::lock_guard lock(it->second->mu);
    it->second->queue.push_back(std::move(d));
    it->second->pending.store(it->second->queue.size(), std::memory_order_relaxed);
  }
  for (const auto& [action, n] : orphans) {
    spdlog::warn("outbox: {} pending deliveries of action '{}' stay pending in the store: '{}' is no longer a webhook, "
                 "exec or alertmanager hook in this configuration",
                 n, action, action);
  }
  for (const auto& [action, lane] : lanes_) {
    std::lock_guard lock(lane->mu);
    if (!lane->queue.empty())
      spdlog::info("outbox: resuming {} pending deliveries of '{}'", lane->queue.size(), action);
  }
  return Status::Ok();
}

Status Outbox::Enqueue(std::int64_t alarm_id, int tier, const std::string& action, const std::string& payload,
                       const std::string& key) {
  auto it = lanes_.find(action);
  if (it == lanes_.end()) return InvalidArgument("action '" + action + "' is not a webhook, exec or alertmanager hook");
  DeliveryRecord d;
  d.alarm_id = alarm_id;
  d.tier = tier;
  d.action = action;
  d.idempotency_key = key.empty() ? IdempotencyKey(alarm_id, tier, action) : key;
  d.payload = payload;
  d.created = d.updated = d.next_attempt = Now();
  auto id = store_.InsertDelivery(d);
  if (!id.ok()) return id.status();
  if (*id == 0) {
    spdlog::debug("outbox: delivery {} exists already; not queued again", d.idempotency_key);
    return Status::Ok();
  }
  d.id = *id;
  // Queued for sending once the row is committed: inside the responder's unit of work that is
  // when the alarm, its hold and its audit records commit with it; never if they roll back.
  store_.AfterCommit([&lane = *it->second, d = std::move(d)] {
    {
      std::lock_guard lock(lane.mu);
      lane.queue.push_back(d);
      lane.pending.store(lane.queue.size(), std::memory_order_relaxed);
    }
    lane.cv.notify_one();
  });
  return Status::Ok();
}

void Outbox::Attempt(Lane& lane, DeliveryRecord d) {
  const Status outcome = transport_->Send(*lane.hook, d);
  ApplyAttempt(d, outcome, Now(), lane.policy, NextRandom());
  if (d.state == "delivered") {
    lane.delivered->Inc();
    spdlog::info("outbox: {} delivered (attempt {})", d.idempotency_key, d.attempts);
  } else {
    lane.failed->Inc();
    if (d.state == "dead") {
      lane.dead->Inc();
      spdlog::error("outbox: {} is dead after {} attempts: {}", d.idempotency_key, d.attempts, d.last_error);
    } else {
      spdlog::warn("outbox: {} attempt {} failed: {}; next attempt at {}", d.idempotency_key, d.attempts, d.last_error,
                   FormatRfc3339(d.next_attempt));
    }
  }
  // Not written back: the delivery stays pending in the store and is sent again after a
  // restart (at least once).
  if (Status st = store_.UpdateDelivery(d); !st.ok()) {
    spdlog::error("outbox: recording the outcome of {}: {}", d.idempotency_key, st.message());
  }
  if (d.state != "pending") {
    // The action's outcome (delivered, or dead after its retries) in the audit log.
    Json body{{"alarm", d.alarm_id}, {"tier", d.tier}, {"action", d.action}, {"idempotency_key", d.idempotency_key},
              {"state", d.state}, {"attempts", d.attempts}};
    if (!d.last_error.empty()) body["last_error"] = d.last_error;
    auto r = AppendAudit(store_, "action." + d.state, "alarm/" + std::to_string(d.alarm_id), "engine", body);
    if (!r.ok()) spdlog::error("audit log: action.{} record not appended: {}", d.state, r.status().message());
  }
  std::lock_guard lock(lane.mu);
  if (d.state == "delivered" && lane.hook->kind == HookSpec::Kind::kAlertmanager) {
    const std::string firing = IdempotencyKey(d.alarm_id, d.tier, d.action);
    if (d.idempotency_key == firing) {
      if (lane.firing.empty()) lane.next_refresh = Now() + lane.hook->alertmanager.refresh;
      lane.firing[firing] = d;
    } else if (d.idempotency_key == ResolvedIdempotencyKey(d.alarm_id, d.tier, d.action)) {
      lane.firing.erase(firing);
    }
  }
  if (d.state == "pending") lane.queue.front() = std::move(d);
  else lane.queue.pop_front();
  lane.pending.store(lane.queue.size(), std::memory_order_relaxed);
}

int Outbox::Refresh(Lane& lane) {
  std::vector<DeliveryRecord> alerts;
  {
    std::lock_guard lock(lane.mu);
    for (const auto& [key, d] : lane.firing) alerts.push_back(d);
    lane.next_refresh = Now() + lane.hook->alertmanager.refresh;
  }
  for (const DeliveryRecord& d : alerts) {
    // Best effort, not recorded: the next refresh sends it again, and a resolution is durable.
    if (Status st = transport_->Send(*lane.hook, d); st.ok()) {
      lane.refreshed_sent->Inc();
    } else {
      lane.refreshed_failed->Inc();
      spdlog::warn("outbox: refreshing the alert {} failed: {}", d.idempotency_key, st.message());
    }
  }
  if (!alerts.empty()) spdlog::debug("outbox: {} alerts refreshed through '{}'", alerts.size(), lane.hook->name);
  return static_cast<int>(alerts.size());
}

void Outbox::Work(Lane& lane) {
  std::unique_lock lock(lane.mu);
  while (!lane.stop) {
    const EventTime now = Now();
    if (!lane.firing.empty() && lane.next_refresh <= now) {
      lock.unlock();
      Refresh(lane);
      lock.lock();
      continue;
    }
    // Wake for the head's next attempt or the next refresh, whichever comes first.
    EventTime wake = EventTime::max();
    if (!lane.firing.empty()) wake = lane.next_refresh;
    if (!lane.queue.empty()) wake = std::min(wake, lane.queue.front().next_attempt);
    if (wake == EventTime::max()) {
      lane.cv.wait(lock);
      continue;
    }
    if (wake > now) {
      lane.cv.wait_for(lock, wake - now);
      continue;
    }
    if (lane.queue.empty()) continue;
    DeliveryRecord d = lane.queue.front();
    lock.unlock();
    Attempt(lane, std::move(d));
    lock.lock();
  }
}

void Outbox::Start() {
  if (started_) return;
  started_ = true;
  for (auto& [name, lane] : lanes_) {
    Lane* l = lane.get();
    l->thread = std::thread([this, l, name = name] {
      SetThreadName("shw-hook-" + name);
      Work(*l);
    });
  }
}

void Outbox::Stop() {
  for (auto& [name, lane] : lanes_) {
    {
      std::lock_guard lock(lane->mu);
      lane->stop = true;
    }
    lane->cv.notify_all();
  }
  for (auto& [name, lane] : lanes_) {
    if (lane->thread.joinable()) lane->thread.join();
  }
}

int Outbox::RunDue() {
  int attempts = 0;
  for (bool again = true; again;) {
    again = false;
    for (auto& [name, lane] : lanes_) {
      DeliveryRecord d;
      {
        std::lock_guard lock(lane->mu);
        if (lane->queue.empty() || lane->queue.front().next_attempt > Now()) continue;
        d = lane->queue.front();
      }
      Attempt(*lane, std::move(d));
      attempts += 1;
      again = true;
    }
  }
  return attempts;
}

int Outbox::RefreshAll() {
  int sent = 0;
  for (auto& [name, lane] : lanes_) {
    if (lane->hook->kind == HookSpec::Kind::kAlertmanager) sent += Refresh(*lane);
  }
  return sent;
}

std::size_t Outbox::firing() const {
  std::size_t n = 0;
  for (const auto& [name, lane] : lanes_) {
    std::lock_guard lock(lane->mu);
    n += lane->firing.size();
  }
  return n;
}

std::size_t Outbox::pending() const {
  std::size_t n = 0;
  for (const auto& [name, lane] : lanes_) {
    std::lock_guard lock(lane->mu);
    n += lane->queue.size();
  }
  return n;
}

}  // namespace shewhart::engine
