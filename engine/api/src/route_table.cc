#include "shewhart/engine/api/route_table.h"

namespace shewhart::engine {

void RouteTable::Add(std::string path, Methods methods, Handler handler) {
  const bool prefix = !path.empty() && path.back() == '/';
  routes_.push_back(Route{std::move(path), prefix, methods, std::move(handler)});
}

ApiResponse RouteTable::Dispatch(const std::string& method, const std::string& target, const std::string& query,
                                 const std::string& body, const std::string& authorization) const {
  for (const Route& r : routes_) {
    const bool match = r.prefix ? target.compare(0, r.path.size(), r.path) == 0 : target == r.path;
    if (!match) continue;
    if (r.methods == Methods::kGet && method != "GET") {
      return ApiError(405, "method " + method + " is not allowed on " + target);
    }
    const std::string rest = r.prefix ? target.substr(r.path.size()) : std::string();
    return r.handler(ApiRequest{method, target, rest, query, body, authorization});
  }
  if (method != "GET") return ApiError(405, "method " + method + " is not allowed on " + target);
  return ApiError(404, "no such endpoint: " + target + (not_found_hint_.empty() ? "" : " (" + not_found_hint_ + ")"));
}

std::vector<std::pair<std::string, RouteTable::Methods>> RouteTable::List() const {
  std::vector<std::pair<std::string, Methods>> out;
  for (const Route& r : routes_) out.emplace_back(r.path, r.methods);
  return out;
}

}  // namespace shewhart::engine
