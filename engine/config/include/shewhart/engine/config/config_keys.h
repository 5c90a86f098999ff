#pragma once
// The registry of configuration keys: every key the YAML loader accepts, by section, with its
// default and one line of documentation. The loader takes each mapping's allowed keys from here
// (ConfigSectionKeys), so no key is accepted without being registered; docs/CONFIG.md is the
// reference in prose and tests/engine/config_keys_test.cc checks it against this registry both
// ways (every key documented, every documented key known).
//
// Sections name where a mapping sits: "" the file's top level, "engine", "store.retention",
// "sources[].zmq", "characteristics[].chart", "hooks.<name>.webhook", ...; "rules.<kind>" are the
// parameter mappings of rules in a `rules` list, "preset file" a rules preset's file.
// Pure data; thread-safe; the lists are built once, on first use.

#include <string>
#include <string_view>
#include <vector>

namespace shewhart::engine {

struct ConfigKey {
  std::string_view section;
  std::string_view key;
  std::string_view default_value;  // "" when the key is required or has no default
  std::string_view doc;
};

// Every registered key, sections in the order of docs/CONFIG.md.
const std::vector<ConfigKey>& ConfigKeys();

// The keys of `section`, in registry order. A section that is not registered is a bug
// (SHEWHART_CHECK).
const std::vector<std::string>& ConfigSectionKeys(std::string_view section);

}  // namespace shewhart::engine
