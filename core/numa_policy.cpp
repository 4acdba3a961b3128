#include "core/numa_policy.hpp"

#include <cerrno>
#include <climits>
#include <cstring>
#include <numa.h>
#include <numaif.h>
#include <stdexcept>
#include <string>
#include <vector>

namespace gatio::core {

namespace {

constexpr unsigned long_bits = sizeof(unsigned long) * CHAR_BIT;

// A node mask wide enough for every node the kernel may report.
struct NodeMask {
    std::vector<unsigned long> words;
    unsigned long max_node = 0; // bit count passed to the syscalls

    NodeMask() {
        auto bits = static_cast<unsigned long>(numa_max_possible_node()) + 1;
        words.assign((bits + long_bits - 1) / long_bits, 0);
        max_node = words.size() * long_bits;
    }
    bool set(int node) {
        auto n = static_cast<unsigned long>(node);
        if (node < 0 || n >= max_node) {
            return false;
        }
        words[n / long_bits] |= 1ul << (n % long_bits);
        return true;
    }
};

std::string policy_name(config::MemoryPolicy policy) {
    switch (policy) {
    case config::MemoryPolicy::bind:
        return "bind";
    case config::MemoryPolicy::preferred:
        return "preferred";
    case config::MemoryPolicy::interleave:
        return "interleave";
    case config::MemoryPolicy::local:
        return "local";
    }
    return "unknown";
}

NodeMask mask_for(config::MemoryPolicy policy, int node) {
    NodeMask mask;
    if (policy == config::MemoryPolicy::interleave) {
        bitmask* allowed = numa_get_mems_allowed();
        for (unsigned i = 0; allowed != nullptr && i < allowed->size; ++i) {
            if (numa_bitmask_isbitset(allowed, i) != 0) {
                mask.set(static_cast<int>(i));
            }
        }
        if (allowed != nullptr) {
            numa_bitmask_free(allowed);
        }
    } else if (policy != config::MemoryPolicy::local && !mask.set(node)) {
        throw std::runtime_error("memory policy " + policy_name(policy) + ": NUMA node " +
                                 std::to_string(node) + " is out of range");
    }
    return mask;
}

} // namespace

int mempolicy_mode(config::MemoryPolicy policy) {
    switch (policy) {
    case config::MemoryPolicy::bind:
        return MPOL_BIND;
    case config::MemoryPolicy::preferred:
        return MPOL_PREFERRED;
    case config::MemoryPolicy::interleave:
        return MPOL_INTERLEAVE;
    case config::MemoryPolicy::local:
        return MPOL_LOCAL;
    }
    return MPOL_DEFAULT;
}

void apply_thread_policy(config::MemoryPolicy policy, int node) {
    NodeMask mask = mask_for(policy, node);
    bool local = policy == config::MemoryPolicy::local;
    if (set_mempolicy(mempolicy_mode(policy), local ? nullptr : mask.words.data(),
                      local ? 0 : mask.max_node) != 0 &&
        errno != ENOSYS) {
        throw std::runtime_error("set_mempolicy(" + policy_name(policy) + ", node " + std::to_string(node) +
                                 "): " + std::strerror(errno));
    }
}

void apply_range_policy(void* start, std::size_t length, config::MemoryPolicy policy, int node) {
    NodeMask mask = mask_for(policy, node);
    bool local = policy == config::MemoryPolicy::local;
    if (mbind(start, length, mempolicy_mode(policy), local ? nullptr : mask.words.data(),
              local ? 0 : mask.max_node, 0) != 0 &&
        errno != ENOSYS) {
        throw std::runtime_error("mbind(" + policy_name(policy) + ", node " + std::to_string(node) + ", " +
                                 std::to_string(length) + " bytes): " + std::strerror(errno));
    }
}

} // namespace gatio::core
