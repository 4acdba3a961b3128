// A provided-buffer ring registered with one driver's io_uring: `count` buffers of `size`
// bytes from the TPC arena, identified by a 16-bit id. The kernel picks a buffer for each
// multishot recv completion (IORING_CQE_F_BUFFER, id in the CQE's upper flag bits); the
// consumer reads it with data() and hands it back with recycle() once done.
//
// The kernel takes buffers from the ring in order and the consumer gives each back at the tail,
// so every buffer in the ring is cycled through and, once the kernel has written into it,
// resident. The ring is therefore provided a few buffers at first and more only when a receive
// finds none left (grow(), doubling up to `count`): memory follows the most buffers ever in
// use at once, not the ring's size.
//
// Registered incrementally consumed (IOU_PBUF_RING_INC, Linux 6.12), a receive takes only the
// bytes it needs from the buffer at the ring's head, and the next receive, of any connection,
// goes on where it ended: a completion then names a buffer the kernel may still be filling
// (IORING_CQE_F_BUF_MORE), its data starting at that buffer's offset(), and the buffer goes back
// only once a completion without that flag said the kernel is done with it.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <liburing.h>
#include <span>

#include "core/arena.hpp"

namespace gatio::core {

class BufferRing {
public:
    // Registers the ring under `group` (io_uring_register_buf_ring). count: power of two,
    // 1..32768. Throws naming the group and errno text. The registration lasts as long as
    // the io_uring: unregistering would have to happen on the ring's own thread.
    // incremental: register with IOU_PBUF_RING_INC (the caller knows the kernel has it).
    BufferRing(io_uring& ring, Arena& arena, std::uint16_t group, std::uint32_t count, std::uint32_t size,
               bool incremental = false);
    ~BufferRing();
    BufferRing(const BufferRing&) = delete;
    BufferRing& operator=(const BufferRing&) = delete;

    std::uint16_t group() const { return group_; }
    std::uint32_t count() const { return count_; }
    // Buffers handed to the kernel so far: ids below this.
    std::uint32_t provided() const { return provided_; }
    // Buffers provided at registration, before any grow().
    static constexpr std::uint32_t initial_provided = 64;
    std::uint32_t buffer_size() const { return size_; }
    // Arena bytes a ring of `count` buffers of `size` bytes takes, alignment included.
    static std::size_t memory_for(std::uint32_t count, std::uint32_t size);

    // The buffer id a CQE carries, if it carries one.
    static bool has_buffer(std::uint32_t cqe_flags) { return (cqe_flags & IORING_CQE_F_BUFFER) != 0; }
    static std::uint16_t buffer_id(std::uint32_t cqe_flags) {
        return static_cast<std::uint16_t>(cqe_flags >> IORING_CQE_BUFFER_SHIFT);
    }

    std::byte* data(std::uint16_t id) {
        assert(id < count_);
        return buffers_ + static_cast<std::size_t>(id) * size_;
    }
    std::span<std::byte> bytes(std::uint16_t id, std::size_t length) {
        assert(length <= size_);
        return {data(id), length};
    }

    bool incremental() const { return incremental_; }
    // Where the next completion naming `id` starts: 0 unless the ring is incremental.
    std::uint32_t offset(std::uint16_t id) const { return offset_[id]; }
    // A completion's `length` bytes of buffer `id`, from offset(id), are handled now; kernel_keeps:
    // the kernel goes on filling the buffer (IORING_CQE_F_BUF_MORE on the completion's last).
    void consumed(std::uint16_t id, std::uint32_t length, bool kernel_keeps) {
        assert(offset_[id] + length <= size_);
        offset_[id] += length;
        kept_[id] = kernel_keeps;
    }
    // Whether the kernel still fills buffer `id`: then it must not be recycled.
    bool kernel_keeps(std::uint16_t id) const { return kept_[id]; }

    // Gives buffer `id` back to the kernel, whole.
    void recycle(std::uint16_t id);

    // A bundle's CQE (IORING_RECVSEND_BUNDLE) names its first buffer only: the kernel filled
    // the buffers that follow it in the ring, in order. The buffer provided right after `id`;
    // call it before recycling `id`, which moves `id` to the tail.
    std::uint16_t next_in_ring(std::uint16_t id) const { return order_[(position_[id] + 1) & order_mask_]; }

    // A receive found the ring empty: provides as many never-used buffers as are provided
    // already, up to `count`. False when every buffer is provided (then only recycling helps).
    bool grow();

    // Buffers the kernel can still pick right now (given back and not yet filled), or -1 when
    // the kernel cannot tell (IORING_REGISTER_PBUF_STATUS came with Linux 6.8). One system
    // call on the ring's own thread: sample it now and then, never per completion.
    int available(io_uring& ring) const;

private:
    void provide(std::uint32_t more); // the next `more` never-used buffers
    void add(std::uint16_t id, int offset);

    io_uring_buf_ring* br_ = nullptr;
    std::byte* buffers_ = nullptr;
    std::uint16_t group_;
    std::uint32_t count_;
    std::uint32_t size_;
    std::uint32_t provided_ = 0;
    int mask_;
    // The ids in the order they were added, over twice the ring's positions: an id's entry is
    // rewritten only after the kernel has gone round the ring twice, which it cannot do before
    // the bundles of one io_uring_enter have been read (it never holds more than `count`).
    std::uint16_t* order_ = nullptr;
    std::uint32_t* position_ = nullptr; // [id]: where it was last added in order_
    std::uint32_t order_mask_ = 0;
    std::uint32_t added_ = 0;
    bool incremental_;
    std::uint32_t* offset_ = nullptr; // [id]: bytes of it handled since it was last provided
    bool* kept_ = nullptr;            // [id]: the kernel still fills it
};

} // namespace gatio::core
