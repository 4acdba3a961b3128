#include "net/receive_holds.hpp"

#include <cassert>

#include "net/file_service.hpp"

namespace gatio::net {

ReceiveHolds::ReceiveHolds(core::Arena& arena, std::uint32_t ring_buffers, const Limits& limits)
    : limits_(limits), refs_(arena.allocate_array<std::uint32_t>(ring_buffers)), ring_buffers_(ring_buffers) {
}

std::size_t ReceiveHolds::memory_for(std::uint32_t ring_buffers) {
    return static_cast<std::size_t>(ring_buffers) * sizeof(std::uint32_t) + core::alignment_slack(1);
}

void ReceiveHolds::start(core::BufferRing& ring, LentPool& lent) {
    assert(ring.count() <= ring_buffers_);
    ring_ = &ring;
    lent_ = &lent;
    lent.on_release(released, this);
}

void ReceiveHolds::begin(const void* endpoint, const std::uint8_t* data, std::size_t len) {
    endpoint_ = endpoint;
    slice_ = data;
    slice_len_ = len;
    delivering_ = none;
    const auto* base = reinterpret_cast<const std::uint8_t*>(ring_->data(0));
    const std::size_t size = ring_->buffer_size();
    if (data >= base && data < base + static_cast<std::size_t>(ring_->count()) * size) {
        delivering_ = static_cast<std::uint32_t>(static_cast<std::size_t>(data - base) / size);
        assert(static_cast<std::size_t>(data - base) % size + len <= size);
        // A held buffer is not in the ring to be received into, unless the kernel still fills it.
        assert(refs_[delivering_] == 0 || ring_->incremental());
    }
}

bool ReceiveHolds::within(const void* endpoint, const std::uint8_t* data, std::size_t len) const {
    return endpoint != nullptr && endpoint == endpoint_ && data >= slice_ && len <= slice_len_ &&
           static_cast<std::size_t>(data - slice_) <= slice_len_ - len;
}

std::uint32_t ReceiveHolds::hold(const std::uint8_t* data, std::uint32_t held) {
    if (delivering_ == none || held >= limits_.per_connection) {
        return none;
    }
    if (refs_[delivering_] == 0) {
        // One more buffer out of the ring: never more than half of those provided.
        while (2 * (static_cast<std::uint64_t>(buffers_held_) + 1) > ring_->provided()) {
            if (!ring_->grow()) {
                return none;
            }
        }
    }
    const std::uint32_t record =
        lent_->take_external(const_cast<std::byte*>(reinterpret_cast<const std::byte*>(data)), delivering_);
    if (record == none) {
        return none;
    }
    if (refs_[delivering_]++ == 0) {
        ++buffers_held_;
    }
    return record;
}

void ReceiveHolds::released(void* self, std::uint32_t id) {
    auto& h = *static_cast<ReceiveHolds*>(self);
    assert(h.refs_[id] > 0);
    if (--h.refs_[id] == 0) {
        --h.buffers_held_;
        // Dropped while its own on_data still runs (the target closed): the delivery recycles it;
        // while the kernel still fills it, the completion that ends it does.
        if (id != h.delivering_ && !h.ring_->kernel_keeps(static_cast<std::uint16_t>(id))) {
            h.ring_->recycle(static_cast<std::uint16_t>(id));
        }
    }
}

} // namespace gatio::net
