#pragma once
// Percent-encoding of URL components (RFC 3986): the one implementation the engine uses, for
// hook URL templates (encode) and API paths and query strings (decode). Pure functions,
// thread-safe; they allocate only by growing `out`.

#include <string>
#include <string_view>

namespace shewhart::engine {

// Appends `in` to `out` with every byte other than an unreserved character (A–Z, a–z, 0–9,
// '-', '.', '_', '~') written as %XX (upper-case hex).
void AppendPercentEncoded(std::string_view in, std::string& out);

// Percent-decodes a URL component ("%2F" -> "/") into `out` (cleared first). '+' stays '+' (it
// is a space only in HTML form bodies, and it is the sign of an RFC 3339 offset). Returns false
// for a '%' not followed by two hex digits.
bool PercentDecode(std::string_view in, std::string& out);

}  // namespace shewhart::engine
