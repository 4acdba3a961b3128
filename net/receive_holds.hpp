// Received bytes sent from the buffer the kernel received them into (the send_received service,
// ABI 1.5, include/gatio/plugin.h).
//
// Inside on_data a handler may queue bytes of the slice it was given on a connection of its
// instance. The output queue then takes an external record of the lent pool (LentPool) naming
// the bytes where they lie, and the provided buffer stays out of the ring until every record
// naming it has been sent or dropped (a buffer counts its records); the last one recycles it.
// Holding is bounded three ways, and past a bound the bytes are copied as send copies them
// (counted in receive_copies): the records of the driver module ([network] receive_holds),
// those of one connection's output ([network] receive_holds_per_connection), and the ring: at
// most half of the buffers provided to the kernel are held, the ring growing towards its
// buffer_count first, so that receives always find buffers left. In an incrementally consumed
// ring a held buffer may still be the one the kernel fills: it goes back once both are done.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/arena.hpp"
#include "core/buffer_ring.hpp"

namespace gatio::net {

class LentPool;

class ReceiveHolds {
public:
    struct Limits {
        std::uint32_t holds = 256;         // records, each naming bytes of one receive buffer
        std::uint32_t per_connection = 32; // of those, on one connection's output
    };

    ReceiveHolds(core::Arena& arena, std::uint32_t ring_buffers, const Limits& limits);
    ReceiveHolds(const ReceiveHolds&) = delete;
    ReceiveHolds& operator=(const ReceiveHolds&) = delete;

    static std::size_t memory_for(std::uint32_t ring_buffers);

    // On the driver thread, once the ring is registered: `lent` gives the records back here.
    void start(core::BufferRing& ring, LentPool& lent);

    // Around each on_data call of `endpoint`: the slice it is given, in a receive buffer or in
    // a carry buffer (whose bytes are always copied).
    void begin(const void* endpoint, const std::uint8_t* data, std::size_t len);
    void end() {
        endpoint_ = nullptr;
        delivering_ = none;
    }
    // Whether [data, data + len) lies within the slice `endpoint`'s on_data is given now.
    bool within(const void* endpoint, const std::uint8_t* data, std::size_t len) const;
    // A record for [data, data + len) of that slice on an output already holding `held`
    // records; LentPool::none when the bytes are to be copied.
    std::uint32_t hold(const std::uint8_t* data, std::uint32_t held);
    // Buffer `id`'s completion is handled: back to the ring unless output holds it or the kernel
    // still fills it (an incremental ring).
    void recycle(std::uint16_t id) {
        if (refs_[id] == 0 && !ring_->kernel_keeps(id)) {
            ring_->recycle(id);
        }
    }

    std::uint32_t buffers_held() const { return buffers_held_; }

private:
    static constexpr std::uint32_t none = UINT32_MAX;
    static void released(void* self, std::uint32_t id);

    Limits limits_;
    std::uint32_t* refs_; // per buffer id: the records naming it
    std::uint32_t ring_buffers_;
    core::BufferRing* ring_ = nullptr;
    LentPool* lent_ = nullptr;
    std::uint32_t buffers_held_ = 0; // buffers with records
    const void* endpoint_ = nullptr; // whose on_data runs, while it runs
    const std::uint8_t* slice_ = nullptr;
    std::size_t slice_len_ = 0;
    std::uint32_t delivering_ = none; // the slice's receive buffer; none for a carry buffer
};

} // namespace gatio::net
