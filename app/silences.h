#pragma once
// `shewhart silences add|list|expire`: people's silences of a running engine, through its HTTP
// API (POST /api/silences, GET /api/silences, POST /api/silences/ID/expire) with a bearer
// token (add, expire), as `shewhart alarms` does.

#include <string>
#include <vector>

namespace shewhart::app {

struct SilenceCommand {
  std::string url = "http://127.0.0.1:9464";  // the engine's http.listen
  std::string token;                          // the bearer token (or token_file, or $SHEWHART_TOKEN)
  std::string token_file;                     // a file whose first line is the token
  std::vector<std::string> matches;           // add: LABEL=VALUE, each label once
  std::string duration, ends, starts;         // add: one of duration and ends; starts optional
  std::string comment;                        // add: required
  long long silence_id = 0;                   // expire
  bool json = false;
};

// Exit codes: 0 done; 1 refused by the engine (4xx: unknown label, ends in the past, no such
// silence, expired already, bad token); 2 usage or environment (a malformed --match, neither
// or both of --duration and --ends, no token, bad URL, engine unreachable, 5xx).
int SilenceAdd(const SilenceCommand& c);
// One aligned line per silence (newest first), or with --json one JSON object per line.
int SilenceList(const SilenceCommand& c);
int SilenceExpire(const SilenceCommand& c);

}  // namespace shewhart::app
