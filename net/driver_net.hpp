// The networking module of one driver: every listener this driver serves, the connection slab,
// the output chunk pool and the provided-buffer ring they share, and the per-turn work lists
// (sends to gather, receives to re-arm, reads to resume).
//
// A driver gets one at start. A reload that opens or changes listeners hands each of their
// drivers one more, opened while running, with memory and a buffer ring of its own; it leaves
// its driver once every listener it served has been retired and has finished.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "core/buffer_ring.hpp"
#include "core/driver.hpp"
#include "core/slab.hpp"
#include "net/counters.hpp"
#include "net/endpoint.hpp"
#include "net/file_service.hpp"
#include "net/net.hpp"
#include "net/output_queue.hpp"
#include "net/receive_holds.hpp"

namespace gatio::net {

struct Connection;
struct RequestArgs;
class DriverNet;
class TcpEndpoint;

// Bytes of one carry buffer of a handler with max_unconsumed > 0: what it may leave
// unconsumed, plus one receive buffer behind it.
std::uint32_t carry_bytes(const gatio_plugin& plugin, const config::RingSettings& ring);

// What every networking module of one driver shares: the driver's network counters, which go
// on across reloads, and the modules themselves.
struct DriverNetShared {
    NetCounters counters;            // the driver's thread only
    PublishedNetCounters published;  // anyone
    std::vector<DriverNet*> members; // the driver's thread only
    // The members' file services, which gatiod's stop reaps together (FileService::stop_all).
    std::vector<FileService*> file_services;
    FixedTable fixed_buffers; // the ring's registered lent buffers, one member's at a time
    std::int64_t next_buffer_sample_ns = 0;
    // Direct-descriptor slots claimed on this driver, by listener name: a name claims its
    // max_connections (at most the table) once for all its generations, since they share one
    // connection count, and lets go when its last endpoint here is gone. The map is the
    // driver's thread's; the total is read by whoever opens a module while running.
    std::map<std::string, std::uint64_t> direct_by_name;
    std::atomic<std::uint64_t> direct_claimed{0};
};

// What a reload waits on: each module it hands to a running driver counts down once, after
// its start has reported every listener's outcome (ListenerShared::report_start), or when it
// is destroyed without having started. Any thread.
class StartAcks {
public:
    explicit StartAcks(int modules) : pending_(modules) {}
    void arrived();
    // True once every module has counted down; false when `deadline` came first.
    bool wait_until(std::chrono::steady_clock::time_point deadline);

private:
    std::mutex mutex_;
    std::condition_variable all_;
    int pending_;
};

class DriverNet final : public core::DriverModule {
public:
    // At start: memory from the TPC arena, buffer group 0.
    DriverNet(const NetOptions& options, std::vector<std::unique_ptr<DriverListener>> listeners,
              std::shared_ptr<DriverNetShared> shared);
    // For Runtime::attach_running on driver `driver`: its own memory, the lowest free buffer
    // group, and direct descriptors only when `direct` (the table is shared with the driver's
    // other modules). start() never throws: each listener's outcome goes to its
    // ListenerShared::report_start, then `acks` is counted down (also when it never starts).
    static std::unique_ptr<DriverNet> while_running(const NetOptions& options,
                                                    std::vector<std::unique_ptr<DriverListener>> listeners,
                                                    std::shared_ptr<DriverNetShared> shared, int driver,
                                                    bool direct, std::shared_ptr<StartAcks> acks);
    ~DriverNet() override;

    // Opened while running, on the reloading thread before it is handed to driver `d`: its
    // memory is reserved, carved and committed here, so that the driver's start only
    // registers its buffer ring and starts the instances. Throws std::runtime_error.
    void prepare(core::Driver& d);

    // Arena bytes start() takes for these listeners (and their plugins) on a driver with
    // `ring` settings, the buffer ring aside.
    using ServedListener = std::pair<const config::ListenerConfig*, const Plugin*>;
    static std::size_t arena_bytes(const NetOptions& options, const config::RingSettings& ring,
                                   const std::vector<ServedListener>& listeners);

    void start(core::Driver& driver) override;
    bool poll(core::Driver& driver) override;
    void drain(core::Driver& driver) override;
    bool drained(core::Driver& driver) override;
    void stop(core::Driver& driver) override;

    // Any thread: the driver's counters (every module of it).
    NetCounters counters() const { return shared_->published.read(); }

    // On the driver thread (a message from the reloading thread): the endpoint of `generation`
    // stops taking new connections; once it has finished it is destroyed and
    // generation.holders is counted down.
    void retire(ListenerShared& generation);

    // ---- For the endpoints, on the driver thread ----
    core::Driver& driver() { return *driver_; }
    const NetOptions& options() const { return options_; }
    NetCounters& stats() { return shared_->counters; }
    core::BufferRing& buffers() { return *buffers_; }
    std::uint16_t buffer_group() const { return group_; }
    core::Arena& memory(); // for slabs and pools, during start only
    ChunkPool& chunks() { return *chunks_; }
    OutputBudget& budget() { return *budget_; }
    FileService& files() { return *files_; }
    ReceiveHolds& holds() { return *holds_; }
    bool direct_descriptors() const { return direct_; }
    bool multishot_recv() const { return multishot_; }
    bool recv_bundle() const { return recv_bundle_; } // multishot receives take bundles
    bool single_send() const { return single_send_; }

    // Connections: a slot, its generation (handles and deferred references check it).
    Connection* create_connection(TcpEndpoint& endpoint, int fd, bool fixed);
    void destroy_connection(Connection& c);
    Connection* find(std::uint32_t slot, std::uint32_t generation);
    // The slots ever used: those above were never touched and hold no connection.
    std::uint32_t connection_slots() const { return slab_ ? slab_->high_water() : 0; }
    Connection* at_slot(std::uint32_t slot); // nullptr when free
    // A connection's RequestArgs while its gathered send or its connect is in flight: at most
    // one per connection slot, so holding one never fails.
    RequestArgs& hold_args(Connection& c);
    RequestArgs& args_of(Connection& c);
    void release_args(Connection& c); // nothing when none is held

    // Deferred to this turn's poll (or the next flush): each is queued once.
    void queue_flush(Connection& c);
    void queue_rearm(Connection& c);

    // The output budget just became tight: every unbounded receive of an open connection is
    // cancelled, to be armed again bounded by the connection's room.
    void tighten();

    // Starts the sends queued since the last flush.
    void flush();

    // Every endpoint of this driver's modules that accepts from the listening socket whose
    // inode is `socket` looks at its queue again (Endpoint::look_again).
    void look_again(std::uint64_t socket);

private:
    struct Ref {
        std::uint32_t slot;
        std::uint32_t generation;
    };
    void carve(core::Driver& d); // connection slots, output chunks, the endpoints': from memory()
    void set_up(core::Driver& d);
    void report_started(); // while running: counts the reload's acks down, once
    void claim_direct(const config::ListenerConfig& l, std::uint64_t table);
    void unclaim_direct(const std::string& name); // once no endpoint of it is left here
    void publish();
    void release_retired();
    void leave();
    std::vector<Ref>& take(std::vector<Ref>& list, std::vector<Ref>& scratch);

    NetOptions options_;
    std::vector<std::unique_ptr<DriverListener>> listeners_;
    std::vector<std::unique_ptr<Endpoint>> endpoints_; // endpoints_[i] serves listeners_[i]
    std::shared_ptr<DriverNetShared> shared_;
    core::Driver* driver_ = nullptr;
    core::BufferRing* buffers_ = nullptr;
    std::uint16_t group_ = 0;
    bool direct_ = false;
    bool multishot_ = false;
    bool recv_bundle_ = false;
    bool incremental_ = false; // the buffer ring is consumed incrementally (IOU_PBUF_RING_INC)
    bool single_send_ = false;

    bool while_running_ = false;
    bool allow_direct_ = true;
    int driver_index_ = -1;               // while_running_ only
    std::shared_ptr<StartAcks> acks_;     // while_running_, until it has reported
    std::unique_ptr<core::Arena> memory_; // while_running_ only
    std::size_t retiring_ = 0;
    bool leaving_ = false;

    std::uint32_t capacity_ = 0; // connection slots
    std::unique_ptr<core::Slab<Connection>> slab_;
    std::unique_ptr<core::Slab<RequestArgs>> args_; // as many as connection slots
    std::uint32_t* generations_ = nullptr;          // per slot, survives reuse
    std::unique_ptr<ChunkPool> chunks_;
    std::unique_ptr<OutputBudget> budget_; // of chunks_
    std::unique_ptr<FileService> files_;
    std::unique_ptr<ReceiveHolds> holds_;

    std::vector<Ref> flush_list_, rearm_list_, scratch_;
};

} // namespace gatio::net
