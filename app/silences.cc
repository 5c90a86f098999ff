#include "silences.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <optional>
#include <set>

#include "api_client.h"
#include "shewhart/engine/model/json.h"

namespace shewhart::app {

namespace {

using nlohmann::ordered_json;

// "station=st2, rule=nelson.1"
std::string MatchersText(const ordered_json& matchers) {
  std::string out;
  if (!matchers.is_object()) return out;
  for (auto it = matchers.begin(); it != matchers.end(); ++it) {
    out += (out.empty() ? "" : ", ") + it.key() + "=" + (it.value().is_string() ? it.value().get<std::string>() : "");
  }
  return out;
}

std::string Text(const ordered_json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "-";
}

// Prints why the engine refused the request (or could not be asked) and returns the exit code;
// -1 when the reply is a success, for the caller to print.
int Refused(const char* what, const std::optional<ApiReply>& reply, const std::string& error) {
  if (!reply) {
    std::fprintf(stderr, "shewhart silences %s: %s\n", what, error.c_str());
    return 2;
  }
  if (reply->status >= 300) {
    std::fprintf(stderr, "shewhart silences %s: %s (HTTP %d)\n", what, ApiError(*reply).c_str(), reply->status);
    return reply->status >= 500 ? 2 : 1;
  }
  return -1;
}

// One silence for people: "silence #3 active 2026-...Z .. 2026-...Z by anna: station=st2 -- comment".
int PrintOne(const SilenceCommand& c, const ApiReply& reply) {
  if (c.json) {
    std::printf("%s\n", reply.body.c_str());
    return 0;
  }
  const auto j = ordered_json::parse(reply.body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) {
    std::printf("%s\n", reply.body.c_str());
    return 0;
  }
  std::printf("silence #%lld %s %s .. %s by %s: %s -- %s\n", j.value("id", 0LL), Text(j, "state").c_str(),
              Text(j, "starts").c_str(), Text(j, "ends").c_str(), Text(j, "created_by").c_str(),
              MatchersText(j["matchers"]).c_str(), Text(j, "comment").c_str());
  return 0;
}

}  // namespace

int SilenceAdd(const SilenceCommand& c) {
  ordered_json matchers = ordered_json::object();
  std::set<std::string> seen;
  for (const std::string& m : c.matches) {
    const std::size_t eq = m.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == m.size()) {
      std::fprintf(stderr, "shewhart silences add: --match: expected LABEL=VALUE (e.g. station=st2), found '%s'\n",
                   m.c_str());
      return 2;
    }
    const std::string label = m.substr(0, eq);
    if (!seen.insert(label).second) {
      std::fprintf(stderr, "shewhart silences add: --match: label '%s' is given twice (every matcher must hold)\n",
                   label.c_str());
      return 2;
    }
    matchers[label] = m.substr(eq + 1);
  }
  if (c.duration.empty() == c.ends.empty()) {
    std::fprintf(stderr, "shewhart silences add: give either --duration (e.g. 2h) or --ends (RFC 3339)%s\n",
                 c.duration.empty() ? "" : ", not both");
    return 2;
  }
  std::string error;
  const std::string token = ReadToken(c.token, c.token_file, error);
  if (token.empty()) return std::fprintf(stderr, "shewhart silences add: %s\n", error.c_str()), 2;
  ordered_json body{{"matchers", matchers}, {"comment", c.comment}};
  if (!c.duration.empty()) body["duration"] = c.duration;
  if (!c.ends.empty()) body["ends"] = c.ends;
  if (!c.starts.empty()) body["starts"] = c.starts;
  auto reply =
      CallApi(c.url, "POST", "/api/silences", body.dump(-1, ' ', false, engine::kReplaceInvalidUtf8), token, error);
  if (int rc = Refused("add", reply, error); rc >= 0) return rc;
  return PrintOne(c, *reply);
}

int SilenceList(const SilenceCommand& c) {
  std::string error;
  auto reply = CallApi(c.url, "GET", "/api/silences", "", "", error);
  if (int rc = Refused("list", reply, error); rc >= 0) return rc;
  const auto j = ordered_json::parse(reply->body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("silences") || !j["silences"].is_array()) {
    std::fprintf(stderr, "shewhart silences list: unexpected answer: %s\n", reply->body.c_str());
    return 2;
  }
  if (c.json) {
    for (const auto& s : j["silences"])
      std::printf("%s\n", s.dump(-1, ' ', false, engine::kReplaceInvalidUtf8).c_str());
    return 0;
  }
  std::printf("%-5s %-8s %-27s %-27s %-12s %-30s %s\n", "ID", "STATE", "STARTS", "ENDS", "CREATED_BY", "MATCHERS",
              "COMMENT");
  for (const auto& s : j["silences"]) {
    std::printf("%-5lld %-8s %-27s %-27s %-12s %-30s %s\n", s.value("id", 0LL), Text(s, "state").c_str(),
                Text(s, "starts").c_str(), Text(s, "ends").c_str(), Text(s, "created_by").c_str(),
                MatchersText(s["matchers"]).c_str(), Text(s, "comment").c_str());
  }
  return 0;
}

int SilenceExpire(const SilenceCommand& c) {
  std::string error;
  const std::string token = ReadToken(c.token, c.token_file, error);
  if (token.empty()) return std::fprintf(stderr, "shewhart silences expire: %s\n", error.c_str()), 2;
  auto reply = CallApi(c.url, "POST", "/api/silences/" + std::to_string(c.silence_id) + "/expire", "{}", token, error);
  if (int rc = Refused("expire", reply, error); rc >= 0) return rc;
  return PrintOne(c, *reply);
}

}  // namespace shewhart::app
