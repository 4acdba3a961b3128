// Unsent TCP output: fixed-size chunks from a per-driver pool taken at start-up, queued per
// connection as a singly linked list, and the budget that says who may take chunks.
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

class LentPool;

// A chunk given back is taken again before one never taken, and those are taken in order from
// the lowest (they are on no free list), so the pool commits memory only for as many chunks as
// were ever held at once, however large it is sized.
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
    std::uint32_t used(std::uint32_t chunk) const { return used_[chunk]; }

    std::uint32_t chunk_size() const { return chunk_size_; }
    std::uint32_t count() const { return count_; }
    std::uint32_t available() const { return available_; }

private:
    std::byte* memory_;
    std::uint32_t* next_; // free list link, or queue link while in use
    std::uint32_t* used_; // bytes written into the chunk
    std::uint32_t count_;
    std::uint32_t chunk_size_;
    std::uint32_t available_;
    std::uint32_t free_head_ = none; // chunks below fresh_ given back
    std::uint32_t fresh_ = 0;        // chunks from here on were never taken
};

class OutputQueue {
public:
    // Fresh chunks that appending `bytes` would take.
    std::uint32_t chunks_needed(const ChunkPool& pool, std::size_t bytes) const;
    // Bytes that fit in the tail chunk and `chunks` fresh ones.
    std::size_t room(const ChunkPool& pool, std::uint32_t chunks) const;

    // Appends every byte of iov, or nothing when the pool lacks the chunks (returns false).
    bool append(ChunkPool& pool, const iovec* iov, std::size_t count, std::size_t total);

    // Queues bytes [offset, offset + len) of a lent buffer after everything appended so far,
    // without a copy; the buffer goes back to `lent` once they are consumed (or cleared).
    // Every lent buffer of one queue comes from the same pool.
    void append_lent(LentPool& lent, std::uint32_t buffer, std::uint32_t offset, std::uint32_t len);

    // Fills out[0..max) with the queued bytes from the head, returns the iovec count; `bytes`
    // gets their sum. Only called with no send in flight.
    // With `zerocopy_min`, it stops before a lent buffer worth a zero-copy send
    // (LentPool::zerocopy), which zerocopy_front then names once it is at the head.
    std::size_t gather(ChunkPool& pool, iovec* out, std::size_t max, std::size_t& bytes,
                       std::uint32_t zerocopy_min = 0) const;
    // The lent buffer at the very head when it is worth a zero-copy send, else LentPool::none.
    std::uint32_t zerocopy_front(std::uint32_t zerocopy_min) const;

    // The kernel took `bytes` from the head; frees the chunks they emptied.
    void consume(ChunkPool& pool, std::size_t bytes);

    // Drops everything, lent buffers included (no send may be in flight).
    void clear(ChunkPool& pool);

    std::size_t pending() const { return pending_; } // chunk and lent bytes
    std::uint32_t chunks() const { return chunks_; } // chunks held
    std::uint32_t held() const { return held_; }     // of the lent records, external ones

private:
    void consume_chunks(ChunkPool& pool, std::size_t bytes);

    std::uint32_t head_ = ChunkPool::none;
    std::uint32_t tail_ = ChunkPool::none;
    std::uint32_t head_offset_ = 0; // bytes of the head chunk already sent
    std::uint32_t chunks_ = 0;
    std::size_t pending_ = 0;
    // Lent buffers interleave with the chunks by position: each goes out once the chunk bytes
    // appended before it have (LentPool::Queued::at, against consumed_).
    std::uint64_t appended_ = 0; // chunk bytes ever appended
    std::uint64_t consumed_ = 0; // of those, consumed or cleared
    LentPool* lent_ = nullptr;
    std::uint32_t lent_head_ = UINT32_MAX; // LentPool::none
    std::uint32_t lent_tail_ = UINT32_MAX;
    std::uint32_t held_ = 0;
};

// Which connection may take how many chunks of one pool, so that connections that stop reading
// cannot take the memory of those that do.
//
// The pool is three parts: reserves, shared, floor. Every open connection has `reserve` chunks
// of the reserve part set aside from admission to close; a connection holding `held` chunks
// is charged max(held, reserve), the part above its reserve coming from the shared part. The
// charges never add up to more than the pool (`committed() <= total()`), so whatever a
// connection holds within its charge is there for it, and growth never takes the reserves of
// connections yet to come. Growth that would go past the shared part makes the budget tight:
// from then on it may use the floor, and the caller bounds every receive by the room in the
// connection's charge. The floor covers what unbounded receives already in flight still bring,
// at most the provided-buffer ring's data (see docs/architecture.md). The budget stops being
// tight once a floor's worth of the shared part is free again.
class OutputBudget {
public:
    OutputBudget(std::uint32_t total, std::uint32_t floor, std::uint32_t reserves);

    // A new connection's reserve; false when the reserve part is used up.
    bool admit(std::uint32_t reserve);
    // A closing connection that holds no chunk any more gives its reserve back.
    void leave(std::uint32_t reserve);
    // A connection of `reserve` holding `held` wants `more` chunks; when granted, its charge
    // is raised at once. May make the budget tight, granted or not.
    bool grow(std::uint32_t reserve, std::uint32_t held, std::uint32_t more);
    // A connection of `reserve` went from `before` to `after` chunks held (after <= before).
    void shrink(std::uint32_t reserve, std::uint32_t before, std::uint32_t after);
    // Called once per loop turn: true when the budget just stopped being tight.
    bool relax();

    bool tight() const { return tight_; }
    std::uint32_t total() const { return total_; }
    std::uint64_t committed() const { return reserved_ + grown_; }
    std::uint64_t reserved() const { return reserved_; }
    std::uint64_t grown() const { return grown_; }

private:
    static std::uint64_t above(std::uint32_t reserve, std::uint64_t held) {
        return held > reserve ? held - reserve : 0;
    }

    std::uint32_t total_;
    std::uint32_t floor_;
    std::uint32_t reserves_;     // the reserve part
    std::uint32_t shared_;       // the shared part: total - floor - reserves
    std::uint64_t reserved_ = 0; // of the reserve part, set aside for open connections
    std::uint64_t grown_ = 0;    // held above reserves, from the shared part (and the floor)
    bool tight_ = false;
};

} // namespace gatio::net
