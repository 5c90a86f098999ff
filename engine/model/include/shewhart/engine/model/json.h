#pragma once
// The JSON type of every document the engine writes (replay lines, API bodies, alarm messages,
// audit bodies): nlohmann's ordered_json, so keys keep the order they are given in (a public
// format; DESIGN.md "Replay output"). Numbers are written as the shortest decimal that
// round-trips, independent of locale. Header only; no state.

#include <nlohmann/json.hpp>

namespace shewhart::engine {

using Json = nlohmann::ordered_json;

// How every JSON text the engine writes treats a string that is not UTF-8 (a reject's raw bytes,
// text stored by an older version): each bad byte becomes U+FFFD instead of an exception.
// Every dump is doc.dump(-1, ' ', false, kReplaceInvalidUtf8), never doc.dump().
inline constexpr auto kReplaceInvalidUtf8 = nlohmann::detail::error_handler_t::replace;

}  // namespace shewhart::engine
