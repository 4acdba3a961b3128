// A TPC's start-up memory: one address range placed on the TPC's NUMA node by the TPC's
// memory policy (mbind), carved by a bump pointer.
//
// Drivers take their buffer rings, slabs and queues from it while they start; the runtime seals
// it once every driver is up, so any later allocation is a bug caught at once instead of a
// silent malloc on the hot path. The range is reserved, not committed: a page costs memory when
// it is first touched, which is when the kernel places it (the range's mbind policy applies at
// that fault; with `local`, on the node of the thread touching it, the driver that uses it).
// Sizing for every listener's worst case therefore costs address space, and memory only as
// connections and output actually use it.
#pragma once

#include <cstddef>
#include <mutex>
#include <new>
#include <string>
#include <type_traits>

#include "config/config.hpp"

namespace gatio::core {

// The cache line of the CPUs gatiod runs on (x86-64 and arm64 server parts). Buffers the
// kernel fills start on a line of their own, and indexes two threads write (mailbox.hpp) sit
// on separate lines, so no two writers share one.
inline constexpr std::size_t cache_line = 64;

// What `allocations` allocations aligned to at most cache_line can lose to alignment: each may
// start up to one line past the end of the one before. Sizing adds it to the bytes asked for.
constexpr std::size_t alignment_slack(std::size_t allocations) {
    return allocations * cache_line;
}

class Arena {
public:
    // Reserves `bytes` (rounded up to pages) and applies `policy` for `node` to the range.
    // Throws std::runtime_error naming the arena and the failed step.
    Arena(std::string name, std::size_t bytes, int node, config::MemoryPolicy policy);
    ~Arena();
    Arena(const Arena&) = delete;
    Arena& operator=(const Arena&) = delete;

    // Zero-filled memory, committed page by page on first touch. Thread-safe (start-up only).
    // Throws std::runtime_error (naming the arena, the size asked and the space left) when the
    // arena is exhausted or sealed.
    void* allocate(std::size_t bytes, std::size_t align = alignof(std::max_align_t));

    template <typename T>
    T* allocate_array(std::size_t count) {
        static_assert(std::is_trivially_destructible_v<T> || std::is_default_constructible_v<T>);
        return static_cast<T*>(allocate(sizeof(T) * count, alignof(T)));
    }

    void seal();

    const std::string& name() const { return name_; }
    int node() const { return node_; }
    config::MemoryPolicy policy() const { return policy_; }
    std::size_t capacity() const { return capacity_; }
    std::size_t used() const;
    const void* base() const { return base_; }

private:
    std::string name_;
    int node_;
    config::MemoryPolicy policy_;
    std::size_t capacity_ = 0;
    unsigned char* base_ = nullptr;
    mutable std::mutex mutex_; // start-up only; never taken once sealed
    std::size_t used_ = 0;
    bool sealed_ = false;
};

} // namespace gatio::core
