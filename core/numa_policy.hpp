// Applying a TPC's memory policy through the kernel's NUMA interface, for the calling thread
// (set_mempolicy) and for an address range (mbind).
#pragma once

#include <cstddef>

#include "config/config.hpp"

namespace gatio::core {

// The MPOL_* mode a policy maps to: bind -> MPOL_BIND on the node, preferred -> MPOL_PREFERRED
// on the node, interleave -> MPOL_INTERLEAVE over every node this process may allocate from,
// local -> MPOL_LOCAL (the node of the CPU touching the page).
int mempolicy_mode(config::MemoryPolicy policy);

// Both throw std::runtime_error naming the policy, node and errno text. On a kernel built
// without NUMA (ENOSYS) they do nothing: there is only one node to be on.
void apply_thread_policy(config::MemoryPolicy policy, int node);
void apply_range_policy(void* start, std::size_t length, config::MemoryPolicy policy, int node);

} // namespace gatio::core
