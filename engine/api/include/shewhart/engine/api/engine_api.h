#pragma once
// EngineApi: the engine's HTTP API as a table of routes to handlers (route_table.h). It answers
// GET /metrics, /health, /api/characteristics[/ID], /api/alarms[/ID], /api/holds[/ID],
// /api/units/SERIAL (the MES interlock), /api/rejects, /api/deliveries, /api/silences[/ID] and
// the genealogy queries /api/trace/... (trace_api.h); and the changes POST
// /api/alarms/ID/ack|resolve, POST /api/holds/ID/dispose, POST /api/silences, DELETE
// /api/silences/ID and POST /api/silences/ID/expire, which need `Authorization: Bearer <token>`
// of a user in http.tokens. Lists are pages (docs/API.md). Bodies are JSON; errors are
// {"error": "..."} with 400 (bad request), 401, 404, 405, 409 (state conflict) or 503 (store).
//
// Threading: Handle may run on any number of threads at once (the HTTP server's); reads and
// silences go to the store (thread-safe) from the HTTP thread; alarm and hold changes run on the
// responder's thread (ApiParts::on_responder; 503 when it does not answer within 10 s).
// Allocation: per request, the documents it answers with.

#include <functional>
#include <map>
#include <optional>
#include <string>

#include "shewhart/base/status.h"
#include "shewhart/engine/api/route_table.h"
#include "shewhart/engine/config/config.h"
#include "shewhart/engine/ingest/decoder.h"
#include "shewhart/engine/metrics/metrics.h"
#include "shewhart/engine/model/api_response.h"
#include "shewhart/engine/model/json.h"
#include "shewhart/engine/pipeline/shard.h"
#include "shewhart/engine/respond/responder.h"
#include "shewhart/engine/store/store.h"

namespace shewhart::engine {

// What the API uses, wired by the composition root. Every pointer must outlive the EngineApi.
struct ApiParts {
  const Config* config = nullptr;
  const CharacteristicIndex* index = nullptr;
  Store* store = nullptr;
  MetricsRegistry* metrics = nullptr;
  Responder* responder = nullptr;  // Act, Dispose and Request only through on_responder
  // Runs `fn` on the responder's thread and returns its answer (503 when it does not answer).
  std::function<ApiResponse(std::function<ApiResponse()>)> on_responder;
  // Health as JSON ({"status","checks"}), `healthy` set.
  std::function<std::string(bool& healthy)> health;
  // A characteristic's summary from any thread.
  std::function<CharacteristicSummary(CharacteristicId)> summary;
  // Appends an audit record (counted and logged on failure by the engine).
  std::function<Status(std::string kind, std::string subject, const Json& body, const std::string& actor)> audit;
  std::map<std::string, std::string> tokens;  // bearer token -> user (http.tokens)
};

class EngineApi {
 public:
  explicit EngineApi(ApiParts parts);

  ApiResponse Handle(const std::string& method, const std::string& target, const std::string& query,
                     const std::string& body, const std::string& authorization) const {
    return routes_.Dispatch(method, target, query, body, authorization);
  }
  const RouteTable& routes() const { return routes_; }

 private:
  // /api/alarms/ID (GET: the alarm and its actions) and /api/alarms/ID/ack|resolve (POST).
  ApiResponse AlarmApi(const std::string& method, const std::string& rest, const std::string& body,
                       const std::string& authorization) const;
  // /api/holds/ID (GET: the hold, its units and dispositions, paged) and /api/holds/ID/dispose
  // (POST: held units to released, reworked or scrapped).
  ApiResponse HoldApi(const std::string& method, const std::string& rest, const std::string& query,
                      const std::string& body, const std::string& authorization) const;
  // GET /api/units/SERIAL: the MES interlock (free, or held with the holds that hold it).
  ApiResponse UnitApi(const std::string& method, const std::string& serial) const;
  // /api/silences (GET: list; POST: create) and /api/silences/ID (GET; DELETE or POST .../expire:
  // expire now); `rest` is what follows "/api/silences", empty or "/...".
  ApiResponse SilenceApi(const std::string& method, const std::string& rest, const std::string& body,
                         const std::string& authorization) const;
  // The user of the bearer token `authorization` ("Bearer <token>") gives: nullopt with `user`
  // set, or the 401 answer (no header, another scheme, an unknown token).
  std::optional<ApiResponse> Authenticate(const std::string& authorization, std::string& user) const;
  // GET /api/characteristics[/ID]: id, unit, chart, spec limits, sigma, capability.
  Json CharacteristicJson(std::size_t index) const;
  // The list endpoints: newest first, `limit` and `before` (docs/API.md "Paging").
  ApiResponse AlarmList(const std::string& query) const;
  ApiResponse HoldList(const std::string& query) const;
  ApiResponse RejectList(const std::string& query) const;
  ApiResponse DeliveryList(const std::string& query) const;

  const Config& config_;
  const CharacteristicIndex& index_;
  Store& store_;
  MetricsRegistry& metrics_;
  Responder& responder_;
  const std::function<ApiResponse(std::function<ApiResponse()>)> on_responder_;
  const std::function<std::string(bool&)> health_;
  const std::function<CharacteristicSummary(CharacteristicId)> summary_;
  const std::function<Status(std::string, std::string, const Json&, const std::string&)> audit_;
  const std::map<std::string, std::string> tokens_;
  RouteTable routes_;
};

}  // namespace shewhart::engine
