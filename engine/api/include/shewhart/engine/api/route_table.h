#pragma once
// RouteTable: the API's table of routes to handlers. A route is an exact path ("/api/alarms")
// or a prefix ("/api/alarms/", whose remainder the handler receives as `rest`), the methods it
// takes, and its handler. Dispatch finds the route of a request target; a route that takes only
// GET answers any other method with 405 itself, as does a target no route matches (whatever
// the method: only GET gets the 404 that lists the endpoints).
//
// Threading: Add before the first Dispatch, from one thread; Dispatch is const and may run on
// many threads at once (the handlers must be thread-safe). Allocation: a route's strings at Add;
// Dispatch allocates the `rest` of a prefix route and what the handler does.

#include <functional>
#include <string>
#include <vector>

#include "shewhart/engine/model/api_response.h"

namespace shewhart::engine {

struct ApiRequest {
  const std::string& method;
  const std::string& target;         // the path, without the query string
  const std::string& rest;           // a prefix route's remainder of the path ("" for exact routes)
  const std::string& query;          // the raw query string
  const std::string& body;
  const std::string& authorization;  // the Authorization header ("" when none)
};

class RouteTable {
 public:
  using Handler = std::function<ApiResponse(const ApiRequest&)>;
  enum class Methods { kGet, kAny };  // kAny: the handler checks the method itself

  // An exact path, or a prefix when `path` ends in '/'.
  void Add(std::string path, Methods methods, Handler handler);
  // The 404 answer's hint for a target no route matches (e.g. "try /metrics, /health, ...").
  void SetNotFoundHint(std::string hint) { not_found_hint_ = std::move(hint); }

  ApiResponse Dispatch(const std::string& method, const std::string& target, const std::string& query,
                       const std::string& body, const std::string& authorization) const;

  // The routes in the order added: path and whether it takes only GET (for docs and tests).
  std::vector<std::pair<std::string, Methods>> List() const;

 private:
  struct Route {
    std::string path;
    bool prefix;
    Methods methods;
    Handler handler;
  };
  std::vector<Route> routes_;
  std::string not_found_hint_;
};

}  // namespace shewhart::engine
