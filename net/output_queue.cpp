#include "net/output_queue.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>

#include "net/file_service.hpp"

namespace gatio::net {

ChunkPool::ChunkPool(core::Arena& arena, std::uint32_t count, std::uint32_t chunk_size)
    : memory_(static_cast<std::byte*>(
          arena.allocate(static_cast<std::size_t>(count) * chunk_size, core::cache_line))),
      next_(arena.allocate_array<std::uint32_t>(count)), used_(arena.allocate_array<std::uint32_t>(count)),
      count_(count), chunk_size_(chunk_size), available_(count) {
    assert(chunk_size > 0 && count < none);
}

std::size_t ChunkPool::memory_for(std::uint32_t count, std::uint32_t chunk_size) {
    // Three allocations: the chunks, their next links and their fill counts.
    return static_cast<std::size_t>(count) * (chunk_size + 2 * sizeof(std::uint32_t)) +
           core::alignment_slack(3);
}

std::uint32_t ChunkPool::take() {
    std::uint32_t c = free_head_;
    if (c != none) {
        free_head_ = next_[c];
    } else if (fresh_ < count_) {
        c = fresh_++;
    } else {
        return none;
    }
    next_[c] = none;
    used_[c] = 0;
    --available_;
    return c;
}

void ChunkPool::give(std::uint32_t chunk) {
    assert(chunk < fresh_);
    next_[chunk] = free_head_;
    free_head_ = chunk;
    ++available_;
}

std::uint32_t OutputQueue::chunks_needed(const ChunkPool& pool, std::size_t bytes) const {
    const std::size_t size = pool.chunk_size();
    const std::size_t tail_room = room(pool, 0);
    if (bytes <= tail_room) {
        return 0;
    }
    const std::size_t extra = (bytes - tail_room + size - 1) / size;
    return extra > UINT32_MAX ? UINT32_MAX : static_cast<std::uint32_t>(extra);
}

std::size_t OutputQueue::room(const ChunkPool& pool, std::uint32_t chunks) const {
    const std::size_t size = pool.chunk_size();
    const std::size_t tail_room = tail_ == ChunkPool::none ? 0 : size - pool.used(tail_);
    return tail_room + static_cast<std::size_t>(chunks) * size;
}

bool OutputQueue::append(ChunkPool& pool, const iovec* iov, std::size_t count, std::size_t total) {
    const std::uint32_t size = pool.chunk_size();
    if (chunks_needed(pool, total) > pool.available()) {
        return false;
    }
    for (std::size_t i = 0; i < count; ++i) {
        const auto* src = static_cast<const std::byte*>(iov[i].iov_base);
        std::size_t left = iov[i].iov_len;
        while (left > 0) {
            if (tail_ == ChunkPool::none || pool.used(tail_) == size) {
                std::uint32_t c = pool.take();
                assert(c != ChunkPool::none); // counted above
                ++chunks_;
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
    appended_ += total;
    return true;
}

std::uint32_t OutputQueue::zerocopy_front(std::uint32_t zerocopy_min) const {
    if (lent_head_ == LentPool::none || lent_->queued(lent_head_).at != consumed_ ||
        !lent_->zerocopy(lent_head_, zerocopy_min)) {
        return LentPool::none;
    }
    return lent_head_;
}

std::size_t OutputQueue::gather(ChunkPool& pool, iovec* out, std::size_t max, std::size_t& bytes,
                                std::uint32_t zerocopy_min) const {
    bytes = 0;
    std::size_t n = 0;
    std::uint32_t c = head_;
    std::uint32_t offset = head_offset_;
    std::uint64_t at = consumed_; // position in the chunk bytes
    std::uint32_t lent = lent_head_;
    while (n < max) {
        // Chunk bytes up to the next lent buffer, which goes out after them.
        const std::uint64_t limit = lent != LentPool::none ? lent_->queued(lent).at : appended_;
        while (at < limit && n < max && c != ChunkPool::none) {
            const std::size_t take = std::min<std::uint64_t>(pool.used(c) - offset, limit - at);
            if (take > 0) {
                out[n++] = iovec{pool.data(c) + offset, take};
                bytes += take;
                at += take;
                offset += static_cast<std::uint32_t>(take);
            }
            if (offset == pool.used(c)) {
                c = pool.next(c);
                offset = 0;
            }
        }
        if (at < limit || lent == LentPool::none || n == max || lent_->zerocopy(lent, zerocopy_min)) {
            break;
        }
        const LentPool::Queued& q = lent_->queued(lent);
        out[n++] = iovec{lent_->data(lent) + q.offset, q.len};
        bytes += q.len;
        lent = q.next;
    }
    return n;
}

void OutputQueue::consume_chunks(ChunkPool& pool, std::size_t bytes) {
    consumed_ += bytes;
    while (bytes > 0) {
        assert(head_ != ChunkPool::none);
        std::size_t n = std::min<std::size_t>(bytes, pool.used(head_) - head_offset_);
        head_offset_ += static_cast<std::uint32_t>(n);
        bytes -= n;
        if (head_offset_ == pool.used(head_) && head_ != tail_) {
            std::uint32_t next = pool.next(head_);
            pool.give(head_);
            --chunks_;
            head_ = next;
            head_offset_ = 0;
        }
    }
    if (consumed_ == appended_ && head_ != ChunkPool::none) {
        // Every chunk byte went out: give the last chunk back too, rather than keep a chunk per
        // idle connection.
        assert(head_ == tail_);
        pool.give(head_);
        --chunks_;
        head_ = tail_ = ChunkPool::none;
        head_offset_ = 0;
    }
}

void OutputQueue::consume(ChunkPool& pool, std::size_t bytes) {
    assert(bytes <= pending_);
    pending_ -= bytes;
    while (bytes > 0) {
        const std::uint64_t limit = lent_head_ != LentPool::none ? lent_->queued(lent_head_).at : appended_;
        if (consumed_ < limit) {
            const std::size_t n = std::min<std::uint64_t>(bytes, limit - consumed_);
            consume_chunks(pool, n);
            bytes -= n;
            continue;
        }
        // The lent buffer at the front: once all of it is sent, it goes back to its pool.
        LentPool::Queued& q = lent_->queued(lent_head_);
        const std::size_t n = std::min<std::size_t>(bytes, q.len);
        q.offset += static_cast<std::uint32_t>(n);
        q.len -= static_cast<std::uint32_t>(n);
        bytes -= n;
        if (q.len == 0) {
            const std::uint32_t done = lent_head_;
            lent_head_ = q.next;
            if (lent_head_ == LentPool::none) {
                lent_tail_ = LentPool::none;
            }
            held_ -= lent_->external(done) ? 1 : 0;
            lent_->give(done);
        }
    }
}

void OutputQueue::append_lent(LentPool& lent, std::uint32_t buffer, std::uint32_t offset, std::uint32_t len) {
    assert(lent_ == nullptr || lent_ == &lent);
    assert(len > 0);
    lent_ = &lent;
    lent.to_queue(buffer);
    LentPool::Queued& q = lent.queued(buffer);
    q = LentPool::Queued{LentPool::none, offset, len, appended_};
    if (lent_tail_ == LentPool::none) {
        lent_head_ = buffer;
    } else {
        lent.queued(lent_tail_).next = buffer;
    }
    lent_tail_ = buffer;
    pending_ += len;
    held_ += lent.external(buffer) ? 1 : 0;
}

void OutputQueue::clear(ChunkPool& pool) {
    while (head_ != ChunkPool::none) {
        std::uint32_t next = pool.next(head_);
        pool.give(head_);
        head_ = next;
    }
    tail_ = ChunkPool::none;
    head_offset_ = 0;
    chunks_ = 0;
    pending_ = 0;
    consumed_ = appended_;
    while (lent_head_ != LentPool::none) {
        const std::uint32_t next = lent_->queued(lent_head_).next;
        lent_->give(lent_head_);
        lent_head_ = next;
    }
    lent_tail_ = LentPool::none;
    held_ = 0;
}

OutputBudget::OutputBudget(std::uint32_t total, std::uint32_t floor, std::uint32_t reserves)
    : total_(total), floor_(floor), reserves_(reserves), shared_(total - floor - reserves) {
    assert(static_cast<std::uint64_t>(floor) + reserves <= total);
}

bool OutputBudget::admit(std::uint32_t reserve) {
    if (reserved_ + reserve > reserves_) {
        return false;
    }
    reserved_ += reserve;
    return true;
}

void OutputBudget::leave(std::uint32_t reserve) {
    assert(reserved_ >= reserve);
    reserved_ -= reserve;
}

bool OutputBudget::grow(std::uint32_t reserve, std::uint32_t held, std::uint32_t more) {
    const std::uint64_t growth =
        above(reserve, static_cast<std::uint64_t>(held) + more) - above(reserve, held);
    if (!tight_ && grown_ + growth > shared_) {
        // Past this point only the floor is left: every receive must be bounded from now on.
        tight_ = true;
    }
    if (grown_ + growth > static_cast<std::uint64_t>(shared_) + (tight_ ? floor_ : 0)) {
        return false;
    }
    grown_ += growth;
    assert(reserved_ <= reserves_ && committed() <= total_);
    return true;
}

void OutputBudget::shrink(std::uint32_t reserve, std::uint32_t before, std::uint32_t after) {
    assert(after <= before);
    const std::uint64_t freed = above(reserve, before) - above(reserve, after);
    assert(grown_ >= freed);
    grown_ -= freed;
}

bool OutputBudget::relax() {
    if (tight_ && grown_ + floor_ <= shared_) {
        tight_ = false;
        return true;
    }
    return false;
}

} // namespace gatio::net
