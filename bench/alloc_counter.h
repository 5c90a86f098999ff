#pragma once
// Counts heap allocations in the benchmark process (global operator new replaced), so that a
// benchmark can report allocations per operation. Include in exactly one translation unit
// per binary through alloc_counter.cc.

#include <atomic>
#include <cstdint>

namespace shewhart::bench {
std::uint64_t Allocations();
}  // namespace shewhart::bench
