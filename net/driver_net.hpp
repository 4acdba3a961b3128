// The networking module of one driver: every listener this driver serves, the connection slab,
// the output chunk pool and the provided-buffer ring they share, and the per-turn work lists
// (sends to gather, receives to re-arm, reads to resume).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "core/buffer_ring.hpp"
#include "core/driver.hpp"
#include "core/slab.hpp"
#include "net/counters.hpp"
#include "net/endpoint.hpp"
#include "net/net.hpp"
#include "net/output_queue.hpp"

namespace gatio::net {

struct Connection;
class TcpEndpoint;

class DriverNet final : public core::DriverModule {
public:
    static constexpr std::uint16_t buffer_group = 0;

    DriverNet(const NetOptions& options, std::vector<std::unique_ptr<DriverListener>> listeners);
    ~DriverNet() override;

    // Arena bytes start() takes for these listeners (and their plugins) on a driver with
    // `ring` settings.
    using ServedListener = std::pair<const config::ListenerConfig*, const Plugin*>;
    static std::size_t arena_bytes(const NetOptions& options, const config::RingSettings& ring,
                                   const std::vector<ServedListener>& listeners);

    void start(core::Driver& driver) override;
    bool poll(core::Driver& driver) override;
    void drain(core::Driver& driver) override;
    bool drained(core::Driver& driver) override;
    void stop(core::Driver& driver) override;

    // Any thread.
    NetCounters counters() const { return published_.read(); }

    // ---- For the endpoints, on the driver thread ----
    core::Driver& driver() { return *driver_; }
    const NetOptions& options() const { return options_; }
    NetCounters& stats() { return stats_; }
    core::BufferRing& buffers() { return *buffers_; }
    ChunkPool& chunks() { return *chunks_; }
    bool direct_descriptors() const { return direct_; }
    bool multishot_recv() const { return multishot_; }

    // Connections: a slot, its generation (handles and deferred references check it).
    Connection* create_connection(TcpEndpoint& endpoint, int fd);
    void destroy_connection(Connection& c);
    Connection* find(std::uint32_t slot, std::uint32_t generation);
    std::uint32_t connection_slots() const { return capacity_; }
    Connection* at_slot(std::uint32_t slot); // nullptr when free

    // Deferred to this turn's poll (or the next flush): each is queued once.
    void queue_flush(Connection& c);
    void queue_rearm(Connection& c);
    void queue_pressure(Connection& c);

    // The chunk pool is low: connections that add output stop reading until it recovers.
    bool output_pressure() const { return chunks_->available() < pressure_reserve_; }

    // Starts the sends queued since the last flush.
    void flush();

private:
    struct Ref {
        std::uint32_t slot;
        std::uint32_t generation;
    };
    void publish();
    void relieve_pressure();
    std::vector<Ref>& take(std::vector<Ref>& list, std::vector<Ref>& scratch);

    NetOptions options_;
    std::vector<std::unique_ptr<DriverListener>> listeners_;
    std::vector<std::unique_ptr<Endpoint>> endpoints_;
    core::Driver* driver_ = nullptr;
    core::BufferRing* buffers_ = nullptr;
    bool direct_ = false;
    bool multishot_ = false;

    std::uint32_t capacity_ = 0; // connection slots
    std::unique_ptr<core::Slab<Connection>> slab_;
    std::uint32_t* generations_ = nullptr; // per slot, survives reuse
    std::unique_ptr<ChunkPool> chunks_;
    std::uint32_t pressure_reserve_ = 0;
    std::uint32_t pressure_resume_ = 0;

    std::vector<Ref> flush_list_, rearm_list_, pressure_list_, scratch_;

    NetCounters stats_;
    PublishedNetCounters published_;
};

} // namespace gatio::net
