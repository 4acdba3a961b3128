// Unsent TCP output: fixed-size chunks from a per-driver pool taken at start-up, queued per
// connection as a singly linked list.
//
// A send copies into the tail chunk and fresh chunks behind it; the connection's one send in
// flight gathers chunks from the head, and acknowledged bytes free chunks from the head. Bytes
// a send has handed to the kernel are never touched until its completion.
#pragma once

#include <cstddef>
#include <cstdint>
#include <sys/uio.h>

#include "core/arena.hpp"

namespace gatio::net {

class ChunkPool {
public:
    static constexpr std::uint32_t none = UINT32_MAX;

    ChunkPool(core::Arena& arena, std::uint32_t count, std::uint32_t chunk_size);
    ChunkPool(const ChunkPool&) = delete;
    ChunkPool& operator=(const ChunkPool&) = delete;

    // Arena bytes a pool of this shape takes (for start-up budgets).
    static std::size_t memory_for(std::uint32_t count, std::uint32_t chunk_size);

    std::uint32_t take(); // none when empty
    void give(std::uint32_t chunk);

    std::byte* data(std::uint32_t chunk) { return memory_ + static_cast<std::size_t>(chunk) * chunk_size_; }
    std::uint32_t& next(std::uint32_t chunk) { return next_[chunk]; }
    std::uint32_t& used(std::uint32_t chunk) { return used_[chunk]; }

    std::uint32_t chunk_size() const { return chunk_size_; }
    std::uint32_t count() const { return count_; }
    std::uint32_t available() const { return available_; }

private:
    std::byte* memory_;
    std::uint32_t* next_; // free list link, or queue link while in use
    std::uint32_t* used_; // bytes written into the chunk
    std::uint32_t count_;
    std::uint32_t chunk_size_;
    std::uint32_t free_head_ = none;
    std::uint32_t available_ = 0;
};

class OutputQueue {
public:
    // Appends every byte of iov, or nothing when the pool lacks the chunks (returns false).
    bool append(ChunkPool& pool, const iovec* iov, std::size_t count, std::size_t total);

    // Fills out[0..max) with the queued bytes from the head, returns the iovec count; `bytes`
    // gets their sum. Only called with no send in flight.
    std::size_t gather(ChunkPool& pool, iovec* out, std::size_t max, std::size_t& bytes) const;

    // The kernel took `bytes` from the head; frees the chunks they emptied.
    void consume(ChunkPool& pool, std::size_t bytes);

    // Drops everything (no send may be in flight).
    void clear(ChunkPool& pool);

    std::size_t pending() const { return pending_; }

private:
    std::uint32_t head_ = ChunkPool::none;
    std::uint32_t tail_ = ChunkPool::none;
    std::uint32_t head_offset_ = 0; // bytes of the head chunk already sent
    std::size_t pending_ = 0;
};

} // namespace gatio::net
