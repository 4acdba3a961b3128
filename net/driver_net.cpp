#include "net/driver_net.hpp"

#include <algorithm>
#include <cassert>
#include <fmt/format.h>
#include <stdexcept>

#include "net/fingerprint.hpp"
#include "net/tcp.hpp"
#include "net/udp.hpp"

namespace gatio::net {

namespace {

constexpr std::size_t align_slack = 64;

std::uint32_t chunks_for(std::size_t bytes, std::uint32_t chunk_size) {
    return static_cast<std::uint32_t>((bytes + chunk_size - 1) / chunk_size);
}

// Data that can still arrive for connections after they were asked to pause: every provided
// buffer, plus what their handlers may leave unconsumed and then send.
std::uint32_t pressure_reserve_chunks(const NetOptions& o, const config::RingSettings& ring) {
    return chunks_for(static_cast<std::size_t>(ring.buffer_count) * ring.buffer_size, o.output_chunk_size) +
           1;
}

std::uint32_t tcp_slots(const std::vector<const config::ListenerConfig*>& listeners) {
    std::uint64_t n = 0;
    for (const auto* l : listeners) {
        if (l->transport == config::Transport::tcp) {
            n += l->max_connections;
        }
    }
    return static_cast<std::uint32_t>(std::min<std::uint64_t>(n, UINT32_MAX - 2));
}

} // namespace

DriverNet::DriverNet(const NetOptions& options, std::vector<std::unique_ptr<DriverListener>> listeners)
    : options_(options), listeners_(std::move(listeners)) {
    for (auto& l : listeners_) {
        if (l->config.transport == config::Transport::tcp) {
            endpoints_.push_back(std::make_unique<TcpEndpoint>(*this, *l));
        } else {
            endpoints_.push_back(std::make_unique<UdpEndpoint>(*this, *l));
        }
    }
}

DriverNet::~DriverNet() = default;

std::size_t DriverNet::arena_bytes(const NetOptions& o, const config::RingSettings& ring,
                                   const std::vector<ServedListener>& listeners) {
    std::vector<const config::ListenerConfig*> configs;
    for (const auto& s : listeners) {
        configs.push_back(s.first);
    }
    std::size_t bytes = 0;
    std::uint32_t slots = tcp_slots(configs);
    if (slots > 0) {
        bytes += static_cast<std::size_t>(slots) * (sizeof(Connection) + 2 * sizeof(std::uint32_t)) +
                 3 * align_slack;
        std::uint32_t chunks =
            chunks_for(o.output_memory, o.output_chunk_size) + pressure_reserve_chunks(o, ring);
        bytes += ChunkPool::memory_for(chunks, o.output_chunk_size);
    }
    for (const auto* l : configs) {
        if (l->transport == config::Transport::udp) {
            bytes += UdpEndpoint::arena_bytes(o.udp_reply_slots, ring.buffer_size);
        }
    }
    for (const auto& [l, plugin] : listeners) {
        std::uint32_t unconsumed = plugin->descriptor().max_unconsumed;
        if (l->transport == config::Transport::tcp && unconsumed > 0) {
            bytes += ChunkPool::memory_for(std::min(l->max_connections, o.carry_buffers),
                                           unconsumed + ring.buffer_size);
        }
    }
    return bytes;
}

void DriverNet::start(core::Driver& d) {
    driver_ = &d;
    for (const auto& l : listeners_) {
        std::uint64_t mine = listener_fingerprint(l->config, *l->shared->plugin);
        if (mine != l->shared->fingerprint) {
            throw std::runtime_error(
                fmt::format("{}: this driver's copy of the configuration has fingerprint {}, "
                            "the configuration as loaded has {}",
                            describe_listener(l->config), fingerprint_text(mine),
                            fingerprint_text(l->shared->fingerprint)));
        }
    }
    direct_ = d.features().direct_descriptors;
    multishot_ = d.features().multishot_recv;
    buffers_ = &d.add_buffer_ring(buffer_group);

    std::vector<const config::ListenerConfig*> configs;
    for (const auto& l : listeners_) {
        configs.push_back(&l->config);
    }
    capacity_ = tcp_slots(configs);
    if (capacity_ > 0) {
        slab_ = std::make_unique<core::Slab<Connection>>(d.arena(), capacity_);
        generations_ = d.arena().allocate_array<std::uint32_t>(capacity_);
        std::uint32_t reserve = pressure_reserve_chunks(options_, d.ring_settings());
        std::uint32_t chunks = chunks_for(options_.output_memory, options_.output_chunk_size) + reserve;
        chunks_ = std::make_unique<ChunkPool>(d.arena(), chunks, options_.output_chunk_size);
        pressure_reserve_ = reserve;
        // Hysteresis: resume only once a second reserve's worth is free again.
        pressure_resume_ = std::min(chunks, 2 * reserve);
        // One entry per connection, plus stale ones of connections gone since they were queued.
        for (auto* list : {&flush_list_, &rearm_list_, &pressure_list_, &scratch_}) {
            list->reserve(2 * static_cast<std::size_t>(capacity_));
        }
    }
    for (auto& e : endpoints_) {
        e->start(d);
    }
    publish();
}

bool DriverNet::poll(core::Driver&) {
    if (!rearm_list_.empty()) {
        for (const Ref& r : take(rearm_list_, scratch_)) {
            if (Connection* c = find(r.slot, r.generation)) {
                c->queued_rearm = false;
                c->endpoint.rearm_one(*c);
            }
        }
    }
    for (auto& e : endpoints_) {
        e->poll();
    }
    relieve_pressure();
    flush();
    publish();
    return false;
}

void DriverNet::publish() {
    stats_.output_memory =
        chunks_ ? static_cast<std::uint64_t>(chunks_->count() - chunks_->available()) * chunks_->chunk_size()
                : 0;
    published_.publish(stats_);
}

std::vector<DriverNet::Ref>& DriverNet::take(std::vector<Ref>& list, std::vector<Ref>& scratch) {
    // Handlers may queue more while the taken entries are processed; those wait for the next pass.
    scratch.clear();
    scratch.swap(list);
    return scratch;
}

void DriverNet::relieve_pressure() {
    if (pressure_list_.empty() || chunks_->available() < pressure_resume_) {
        return;
    }
    for (const Ref& r : take(pressure_list_, scratch_)) {
        if (Connection* c = find(r.slot, r.generation)) {
            c->queued_pressure = false;
            c->endpoint.resume_after_pressure(*c);
        }
    }
}

void DriverNet::flush() {
    while (!flush_list_.empty()) {
        for (const Ref& r : take(flush_list_, scratch_)) {
            if (Connection* c = find(r.slot, r.generation)) {
                c->queued_flush = false;
                c->endpoint.flush_one(*c);
            }
        }
    }
}

void DriverNet::drain(core::Driver&) {
    for (auto& e : endpoints_) {
        e->drain();
    }
    flush();
}

bool DriverNet::drained(core::Driver&) {
    publish();
    return std::all_of(endpoints_.begin(), endpoints_.end(), [](const auto& e) { return e->drained(); });
}

void DriverNet::stop(core::Driver& d) {
    for (auto& e : endpoints_) {
        e->stop();
    }
    publish();
    std::string summary;
    for (const auto& f : net_counter_fields) {
        if (stats_.*f.member != 0) {
            summary += fmt::format(" {}={}", f.name, stats_.*f.member);
        }
    }
    d.log().info("driver {}: network counters:{}", d.name(), summary.empty() ? " none" : summary);
}

Connection* DriverNet::create_connection(TcpEndpoint& endpoint, int fd) {
    if (!slab_ || slab_->full()) {
        return nullptr;
    }
    Connection* c = slab_->create(endpoint, 0u, 0u, fd, direct_);
    c->slot = slab_->index_of(c);
    c->generation = ++generations_[c->slot];
    return c;
}

void DriverNet::destroy_connection(Connection& c) {
    // The generation stays as the connection had it; the next one in the slot gets the next.
    slab_->destroy(&c);
}

Connection* DriverNet::find(std::uint32_t slot, std::uint32_t generation) {
    if (slot >= capacity_ || !slab_->in_use(slot)) {
        return nullptr;
    }
    Connection* c = slab_->at(slot);
    return c->generation == generation ? c : nullptr;
}

Connection* DriverNet::at_slot(std::uint32_t slot) {
    return slot < capacity_ && slab_->in_use(slot) ? slab_->at(slot) : nullptr;
}

void DriverNet::queue_flush(Connection& c) {
    if (!c.queued_flush) {
        c.queued_flush = true;
        flush_list_.push_back({c.slot, c.generation});
    }
}

void DriverNet::queue_rearm(Connection& c) {
    if (!c.queued_rearm) {
        c.queued_rearm = true;
        rearm_list_.push_back({c.slot, c.generation});
    }
}

void DriverNet::queue_pressure(Connection& c) {
    if (!c.queued_pressure) {
        c.queued_pressure = true;
        pressure_list_.push_back({c.slot, c.generation});
    }
}

} // namespace gatio::net
