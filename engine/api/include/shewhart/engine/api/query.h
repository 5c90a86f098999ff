#pragma once
// The pieces of a request target the API handlers parse: query strings, pages, ids in paths.
// One parser for every endpoint (lists, holds, genealogy). Pure functions, thread-safe.

#include <cstdint>
#include <initializer_list>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace shewhart::engine {

// One `name=value` of a query string, percent-decoded ('+' stays '+': the sign of an RFC 3339
// offset). `raw` is the text as sent; `has_value` false for a bare `name`.
struct QueryParam {
  std::string name;
  std::string value;
  std::string raw;
  bool has_value = false;
};

// The parameters of `query` (pairs joined by '&'; empty pairs skipped), in order. False with
// `error` set for a bad %-escape or a name given twice.
bool ParseQueryParams(std::string_view query, std::vector<QueryParam>& out, std::string& error);

// A list endpoint's query: ParseQueryParams, then every name must be in `allowed` (error:
// "unknown query parameter 'RAW' (expected ...)"). Values by name.
bool ParseQuery(std::string_view query, std::initializer_list<std::string_view> allowed,
                std::map<std::string, std::string>& out, std::string& error);

// A page's `limit` (default `fallback`, 1..`max`) and an id cursor `before` (0: none).
bool PageParams(const std::map<std::string, std::string>& params, int fallback, int max, int& limit,
                std::int64_t& before, std::string& error);

// The "ID" or "ID/VERB" that follows an API collection's path ("/api/alarms/"): `id` a positive
// integer, `verb` what follows the slash (empty when none). False when ID is not one.
struct IdPath {
  std::string id_text, verb;
  std::int64_t id = 0;
};
bool ParseIdPath(const std::string& rest, IdPath& out);

}  // namespace shewhart::engine
