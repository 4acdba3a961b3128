#include "net/output_queue.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>

namespace gatio::net {

ChunkPool::ChunkPool(core::Arena& arena, std::uint32_t count, std::uint32_t chunk_size)
    : memory_(static_cast<std::byte*>(
          arena.allocate(static_cast<std::size_t>(count) * chunk_size, core::cache_line))),
      next_(arena.allocate_array<std::uint32_t>(count)), used_(arena.allocate_array<std::uint32_t>(count)),
      count_(count), chunk_size_(chunk_size) {
    assert(chunk_size > 0);
    for (std::uint32_t i = count; i-- > 0;) {
        give(i);
    }
}

std::size_t ChunkPool::memory_for(std::uint32_t count, std::uint32_t chunk_size) {
    // Three allocations: the chunks, their next links and their fill counts.
    return static_cast<std::size_t>(count) * (chunk_size + 2 * sizeof(std::uint32_t)) +
           core::alignment_slack(3);
}

std::uint32_t ChunkPool::take() {
    if (free_head_ == none) {
        return none;
    }
    std::uint32_t c = free_head_;
    free_head_ = next_[c];
    next_[c] = none;
    used_[c] = 0;
    --available_;
    return c;
}

void ChunkPool::give(std::uint32_t chunk) {
    assert(chunk < count_);
    next_[chunk] = free_head_;
    free_head_ = chunk;
    ++available_;
}

bool OutputQueue::append(ChunkPool& pool, const iovec* iov, std::size_t count, std::size_t total) {
    const std::uint32_t size = pool.chunk_size();
    std::size_t room = tail_ == ChunkPool::none ? 0 : size - pool.used(tail_);
    if (total > room) {
        std::size_t extra = (total - room + size - 1) / size;
        if (extra > pool.available()) {
            return false;
        }
    }
    for (std::size_t i = 0; i < count; ++i) {
        const auto* src = static_cast<const std::byte*>(iov[i].iov_base);
        std::size_t left = iov[i].iov_len;
        while (left > 0) {
            if (tail_ == ChunkPool::none || pool.used(tail_) == size) {
                std::uint32_t c = pool.take();
                assert(c != ChunkPool::none); // counted above
                if (tail_ == ChunkPool::none) {
                    head_ = c;
                    head_offset_ = 0;
                } else {
                    pool.next(tail_) = c;
                }
                tail_ = c;
            }
            std::uint32_t& used = pool.used(tail_);
            std::size_t n = std::min<std::size_t>(left, size - used);
            std::memcpy(pool.data(tail_) + used, src, n);
            used += static_cast<std::uint32_t>(n);
            src += n;
            left -= n;
        }
    }
    pending_ += total;
    return true;
}

std::size_t OutputQueue::gather(ChunkPool& pool, iovec* out, std::size_t max, std::size_t& bytes) const {
    bytes = 0;
    std::size_t n = 0;
    std::uint32_t offset = head_offset_;
    for (std::uint32_t c = head_; c != ChunkPool::none && n < max; c = pool.next(c)) {
        std::uint32_t len = pool.used(c) - offset;
        if (len > 0) {
            out[n++] = iovec{pool.data(c) + offset, len};
            bytes += len;
        }
        offset = 0;
    }
    return n;
}

void OutputQueue::consume(ChunkPool& pool, std::size_t bytes) {
    assert(bytes <= pending_);
    pending_ -= bytes;
    while (bytes > 0) {
        assert(head_ != ChunkPool::none);
        std::size_t n = std::min<std::size_t>(bytes, pool.used(head_) - head_offset_);
        head_offset_ += static_cast<std::uint32_t>(n);
        bytes -= n;
        if (head_offset_ == pool.used(head_) && head_ != tail_) {
            std::uint32_t next = pool.next(head_);
            pool.give(head_);
            head_ = next;
            head_offset_ = 0;
        }
    }
    if (pending_ == 0 && head_ != ChunkPool::none) {
        // Everything went out: give the last chunk back too, rather than keep a chunk per idle
        // connection.
        assert(head_ == tail_);
        pool.give(head_);
        head_ = tail_ = ChunkPool::none;
        head_offset_ = 0;
    }
}

void OutputQueue::clear(ChunkPool& pool) {
    while (head_ != ChunkPool::none) {
        std::uint32_t next = pool.next(head_);
        pool.give(head_);
        head_ = next;
    }
    tail_ = ChunkPool::none;
    head_offset_ = 0;
    pending_ = 0;
}

} // namespace gatio::net
