#pragma once
// Key groups: how characteristics are spread over the threads that judge them.
//
// A characteristic belongs to one of kKeyGroups groups, a hash of its id (the name in the
// config, not its position, so adding a characteristic moves no other one). A running engine
// with N shards gives group g to shard g % N. The group is the unit of placement: a producer
// that knows it can send a measurement to the source whose thread judges it (docs/OPERATIONS.md
// "Routing measurements"), and a later scale-out over several engines moves whole groups.
// Pure functions; no allocation; any thread.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace shewhart::engine {

inline constexpr std::uint32_t kKeyGroups = 256;

// FNV-1a (32 bit) of the characteristic id, modulo kKeyGroups. Stable across versions and
// machines: producers compute it too.
inline std::uint32_t KeyGroupOf(std::string_view characteristic_id) {
  std::uint32_t h = 2166136261u;
  for (const char c : characteristic_id) {
    h ^= static_cast<unsigned char>(c);
    h *= 16777619u;
  }
  return h % kKeyGroups;
}

// The shard (0 .. shard_count - 1) that judges a key group.
inline std::size_t ShardOfGroup(std::uint32_t group, std::size_t shard_count) { return group % shard_count; }

}  // namespace shewhart::engine
