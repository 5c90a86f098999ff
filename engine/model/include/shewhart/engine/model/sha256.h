#pragma once
// SHA-256 as lowercase hex (OpenSSL libcrypto): the audit chain's hashes and the digest of a
// loaded configuration's text. Thread-safe; allocates the returned string.

#include <string>
#include <string_view>

namespace shewhart::engine {

std::string Sha256Hex(std::string_view data);

}  // namespace shewhart::engine
