#include "shewhart/engine/api/query.h"

#include <algorithm>
#include <charconv>

#include "shewhart/engine/model/percent.h"

namespace shewhart::engine {

bool ParseQueryParams(std::string_view query, std::vector<QueryParam>& out, std::string& error) {
  std::size_t start = 0;
  while (start < query.size()) {
    std::size_t end = query.find('&', start);
    if (end == std::string_view::npos) end = query.size();
    const std::string_view param = query.substr(start, end - start);
    start = end + 1;
    if (param.empty()) continue;
    const std::size_t eq = param.find('=');
    QueryParam p;
    p.raw = std::string(param);
    p.has_value = eq != std::string_view::npos;
    if (!PercentDecode(param.substr(0, eq), p.name) ||
        (p.has_value && !PercentDecode(param.substr(eq + 1), p.value))) {
      error = "query parameter '" + p.raw + "' has a bad %-escape (percent-encoding)";
      return false;
    }
    for (const QueryParam& q : out) {
      if (q.name == p.name) {
        error = "query parameter '" + p.name + "' is given twice";
        return false;
      }
    }
    out.push_back(std::move(p));
  }
  return true;
}

bool ParseQuery(std::string_view query, std::initializer_list<std::string_view> allowed,
                std::map<std::string, std::string>& out, std::string& error) {
  std::vector<QueryParam> params;
  if (!ParseQueryParams(query, params, error)) return false;
  for (QueryParam& p : params) {
    if (std::find(allowed.begin(), allowed.end(), p.name) == allowed.end()) {
      std::string names;
      for (auto a : allowed) names += (names.empty() ? "" : ", ") + std::string(a);
      error = "unknown query parameter '" + p.raw + "' (expected " + names + ")";
      return false;
    }
    out.emplace(std::move(p.name), std::move(p.value));
  }
  return true;
}

bool PageParams(const std::map<std::string, std::string>& params, int fallback, int max, int& limit,
                std::int64_t& before, std::string& error) {
  limit = fallback;
  before = 0;
  if (auto it = params.find("limit"); it != params.end()) {
    auto [ptr, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), limit);
    if (ec != std::errc() || ptr != it->second.data() + it->second.size() || limit < 1 || limit > max) {
      error = "limit must be an integer from 1 to " + std::to_string(max) + ", found '" + it->second + "'";
      return false;
    }
  }
  if (auto it = params.find("before"); it != params.end()) {
    auto [ptr, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), before);
    if (ec != std::errc() || ptr != it->second.data() + it->second.size() || before < 1) {
      error = "before must be a positive id (the previous page's \"next\"), found '" + it->second + "'";
      return false;
    }
  }
  return true;
}

bool ParseIdPath(const std::string& rest, IdPath& out) {
  const std::size_t slash = rest.find('/');
  out.id_text = rest.substr(0, slash);
  out.verb = slash == std::string::npos ? "" : rest.substr(slash + 1);
  auto [ptr, ec] = std::from_chars(out.id_text.data(), out.id_text.data() + out.id_text.size(), out.id);
  return ec == std::errc() && ptr == out.id_text.data() + out.id_text.size() && out.id > 0;
}

}  // namespace shewhart::engine
