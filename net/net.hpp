// The networking layer's entry points, called by the daemon (or a test) around the runtime:
//
//   net::PluginSetResult plugins = net::load_plugins(config, policy, net::host_services());
//   core::RuntimeOptions options;
//   net::reserve(options, config, topology, plugins.plugins); // before constructing the Runtime
//   core::Runtime runtime(topology, machine, config.io_uring, options);
//   net::AttachResult net = net::attach_listeners(runtime, config, topology, plugins.plugins);
//   runtime.start();  ...  net.network->reload(next, next_topology, policy, services);  ...
//   runtime.request_stop(grace); runtime.join();
//
// Listeners keep their handler objects loaded themselves, so the PluginSet may go at any time.
// The Network handle must not be used after the Runtime is destroyed.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "core/fd.hpp"
#include "core/runtime.hpp"
#include "core/topology.hpp"
#include "net/counters.hpp"
#include "net/plan.hpp"
#include "net/plugin_loader.hpp"

namespace gatio::net {

// Limits of the networking layer. The first five come from [network] (net_options); the rest
// are not in the configuration file.
struct NetOptions {
    std::uint32_t output_chunk_size = 4096;            // unit of the per-driver output pool
    std::size_t output_memory = std::size_t{32} << 20; // per driver: unsent TCP output
    std::uint32_t carry_buffers = 1024;                // per listener and driver, for handlers that
                                                       // leave input unconsumed (max_unconsumed > 0)
    std::uint32_t udp_reply_slots = 1024;              // per UDP listener and driver: replies in flight
    std::chrono::milliseconds close_linger{5000};      // orderly close: wait this long for the peer's FIN
    std::uint64_t drain_read_limit = std::uint64_t{8}
                                     << 20;  // per connection: what a drain's last receives take
    std::uint32_t plugin_timer_slots = 1024; // per driver, besides one per connection
    std::uint32_t file_slot_slack = 64;      // direct descriptors beyond max_connections
    std::chrono::milliseconds buffer_sample_interval{100}; // buffer-ring occupancy sampling period
    std::uint32_t admin_response_limit = 1u << 20;         // the largest answer [admin] builds, in bytes
    std::uint32_t open_files = 1024;                       // per driver: handlers' files open or opening
    std::uint32_t file_operations = 1024;                  // per driver: handlers' file operations in flight
    std::uint32_t lent_buffers = 64;                       // per driver: buffers lent to file reads
    std::uint32_t lent_buffer_size = 256u << 10;           // bytes of each
    bool zerocopy_send = false;                            // lent buffers registered, sent with SEND_ZC
    std::uint32_t zerocopy_send_min = 64u << 10;           // the smallest slice sent that way
    std::uint32_t receive_holds = 256;                     // per driver: received slices output holds
    std::uint32_t receive_holds_per_connection = 32;       // of those, on one connection's output
    // A reload waits this long for the drivers to start the instances of new listeners.
    std::chrono::milliseconds reload_start_timeout{10'000};
};

// The defaults with [network] applied.
NetOptions net_options(const config::Config& config);

// Adds what the listeners need to the runtime's start parameters: direct-descriptor slots and
// timer slots per driver, and arena bytes per TPC. Raises the soft RLIMIT_NOFILE towards the
// hard limit when the descriptors needed exceed it.
void reserve(core::RuntimeOptions& options, const config::Config& config, const core::Topology& topology,
             const PluginSet& plugins, const NetOptions& net = {});

// The listener set a start plans from: `topology`'s listeners with the drivers it resolved
// for them, then [admin]'s endpoint (net/admin.hpp) when `config.admin.listen` is set.
// `admin_error` tells why the endpoint cannot be served (no driver does I/O).
std::vector<ListenerState> start_listeners(const config::Config& config, const core::Topology& topology,
                                           const NetOptions& net, std::string& admin_error);

struct AdminBoard;
class DriverNet;
struct DriverNetShared;
class StartAcks;
struct ListenerShared;
struct HandlerState;
class SocketFile;

// Listening sockets the process inherited (systemd socket activation: LISTEN_FDS with
// FileDescriptorName= = the listener's name), by listener name. The caller keeps ownership.
using InheritedSockets = std::map<std::string, int>;

class Network;
struct AttachResult {
    std::unique_ptr<Network> network; // set on success
    std::string error;                // set on failure; nothing is attached then
};

// What a reload did. It applies completely or not at all: with any error, nothing is applied
// and every listener serves as before.
struct ReloadResult {
    bool applied = false;
    std::vector<std::string> added, removed, changed; // listener names, as applied
    std::vector<std::string> errors;                  // each names its listener and the cause
    std::vector<config::ListenerConfig> in_force;     // the listeners served now, in file order
};

// The listeners of a running runtime. Counters may be read from any thread while the Runtime
// exists; everything else is for the one thread that started it (the daemon's main thread).
class Network {
public:
    Network(const Network&) = delete;
    Network& operator=(const Network&) = delete;
    ~Network();

    NetCounters counters(int driver) const; // every module of that driver, across reloads
    NetCounters total() const;

    // Applies `next`'s listeners while everything keeps serving, by the plan (net/plan.hpp)
    // from the listeners served now to those of `next`, whose drivers core::choose_drivers
    // resolves on the running topology (a new topology needs a restart). keep: the same
    // sockets and instances. open: sockets bound and instances started on its drivers. retire:
    // it stops accepting; its open connections carry on until they end. change (settings,
    // drivers, or the handler file replaced): new instances serve new connections, from the
    // same sockets where transport, address and driver stay, while open connections finish on
    // the old ones. Instances go when their last connection has, and a handler object is
    // unloaded when its last instance has. Waits (at most reload_start_timeout) until every
    // driver has acknowledged its new instances; if any listener fails, none is applied.
    // Runs on any one thread beside the control loop; nothing else may use the Network
    // meanwhile (counters excepted).
    ReloadResult reload(const config::Config& next, const LoadPolicy& policy, const gatio_services& services);

    // Lets go of retired listeners that every driver has finished with (reload() does it too).
    void collect();
    // Retired listeners some driver is still finishing.
    std::size_t retiring() const { return retired_.size(); }

private:
    friend AttachResult attach_listeners(core::Runtime&, const config::Config&, const core::Topology&,
                                         const PluginSet&, const NetOptions&, const InheritedSockets&);
    Network(core::Runtime& runtime, const core::Topology& topology, const NetOptions& options);

    // One listener as served now (its latest generation).
    struct Serving {
        ListenerState state; // settings, drivers, the handler file it was loaded from
        std::shared_ptr<ListenerShared> shared;
        std::vector<DriverNet*> modules; // modules[i] serves it on state.drivers[i]
        std::vector<int> sockets;        // the descriptor state.drivers[i] serves it from (owned there)
        std::vector<bool> direct;        // direct descriptors allowed on state.drivers[i]
    };
    struct Opening;
    struct Batch;
    // Where a listener's handler comes from: the start's PluginSet, or loaded by a reload.
    using PluginSource =
        std::function<std::shared_ptr<const Plugin>(const config::ListenerConfig&, std::string& error)>;

    std::shared_ptr<ListenerStats> stats_for(const std::string& listener, int driver);
    // The handler state of a listener name, shared by all its generations.
    std::shared_ptr<HandlerState> state_for(const std::string& listener);
    // The connection count every generation of listener `name` shares.
    std::shared_ptr<std::atomic<std::uint32_t>> connections_of(const std::string& name);
    // Direct-descriptor slots `l` adds to driver `driver`'s claims beyond what the generation
    // it replaces there claims.
    std::uint64_t direct_wanted(const config::ListenerConfig& l, int driver, std::uint64_t table) const;
    std::shared_ptr<const Plugin> plugin_for(const config::ListenerConfig& l, const LoadPolicy& policy,
                                             const gatio_services& services, std::string& error);

    // ---- The one engine for start and reload (net/apply.cpp) ----
    std::vector<ListenerState> running_set() const;
    // `next`'s listeners resolved on the running topology, with their handler files as on disk,
    // then [admin]'s endpoint as started (like [topology], [admin] applies on restart). One
    // that cannot be resolved is reported in `errors` and stays as it is served (or closed).
    std::vector<ListenerState> wanted_set(const config::Config& next, std::vector<std::string>& errors) const;
    // The new generations of the plan's open and change steps: sockets and per-driver copies,
    // not yet on any driver. One that cannot be built is reported in `errors` and left out.
    std::vector<std::unique_ptr<Opening>> build(const Plan& plan, const PluginSource& plugins,
                                                const InheritedSockets& inherited, bool running,
                                                std::vector<std::string>& errors);
    std::unique_ptr<Opening> build_one(const ListenerStep& step, std::shared_ptr<const Plugin> plugin,
                                       const InheritedSockets& inherited, bool running);
    core::Fd socket_for(const ListenerStep& step, int driver, const InheritedSockets& inherited, bool& kept,
                        std::shared_ptr<SocketFile>* file) const;
    static void steer(const ListenerStep& step, const Opening& o, const std::vector<int>& cpus, bool kept,
                      bool adopted);
    std::vector<Batch> batches(std::vector<std::unique_ptr<Opening>>& openings) const;
    void attach_at_start(std::vector<Batch>& batches);
    // Direct descriptors for the module of `batch` on driver `driver`, if its table has room.
    bool allow_direct(const Batch& batch, int driver) const;
    void attach_while_running(std::vector<Batch>& batches, const std::shared_ptr<StartAcks>& acks);
    // After the drivers reported: what is in force, what retires, and the result.
    // Applied only when nothing failed (result.errors empty): else every new generation is
    // retired and the running set stays as it was.
    void settle(const Plan& plan, std::vector<std::unique_ptr<Opening>>& openings, ReloadResult& result);
    void check_started(Opening& o) const;
    void change_kept_sockets(const Opening& o);
    void forget_gone_stats();

    void retire(const std::vector<Serving>& listeners);
    template <typename Fn>
    bool post_patiently(int driver, const Fn& fn);
    // Hands /metrics the listeners served now: directly before the runtime starts, else
    // through a message to the admin driver, the only thread that reads it then.
    void publish_catalog(bool running);

    core::Runtime& runtime_;
    core::Topology topology_; // as running: reloads resolve listeners' drivers on it
    NetOptions options_;
    std::vector<std::shared_ptr<DriverNetShared>> drivers_; // by global driver index
    std::vector<Serving> serving_;                          // in file order
    std::vector<std::shared_ptr<ListenerShared>> retired_;
    std::map<std::pair<std::string, int>, std::shared_ptr<ListenerStats>> stats_;
    std::map<std::string, std::weak_ptr<std::atomic<std::uint32_t>>> connection_counts_;
    std::map<std::filesystem::path, std::weak_ptr<const Plugin>> plugins_;
    std::map<std::string, std::shared_ptr<HandlerState>> states_; // by listener name, while configured
    // [admin]'s endpoint, a listener of the plan like the others (net/admin.hpp), as started.
    config::AdminSection admin_section_;
    std::shared_ptr<const Plugin> admin_plugin_; // the built-in handler, with [admin] listen only
    std::shared_ptr<AdminBoard> admin_;          // likewise
    int admin_driver_ = -1;
};

// Opens every listener's sockets (one per serving driver, in driver order, SO_REUSEPORT,
// identical options, optionally steered by CPU) and attaches one module per serving driver, by
// the plan from the empty set to start_listeners(). With [admin] listen, the admin endpoint is
// one of them, served by plugins.admin (an error when it is missing). Errors name the listener.
//
// A listener found in `inherited` binds nothing: each of its drivers gets a dup() of that
// socket, so they share its one accept queue (no reuseport group, hence no steer_to_cpu), and
// the socket keeps queueing connections while gatiod restarts.
AttachResult attach_listeners(core::Runtime& runtime, const config::Config& config,
                              const core::Topology& topology, const PluginSet& plugins,
                              const NetOptions& net = {}, const InheritedSockets& inherited = {});

} // namespace gatio::net
