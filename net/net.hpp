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

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "core/runtime.hpp"
#include "core/topology.hpp"
#include "net/counters.hpp"
#include "net/plugin_loader.hpp"

namespace gatio::net {

// Limits of the networking layer. The first four come from [network] (net_options); the rest
// are not in the configuration file.
struct NetOptions {
    std::uint32_t output_chunk_size = 4096;                // unit of the per-driver output pool
    std::size_t output_memory = std::size_t{32} << 20;     // per driver: unsent TCP output
    std::uint32_t carry_buffers = 1024;                    // per listener and driver, for handlers that
                                                           // leave input unconsumed (max_unconsumed > 0)
    std::uint32_t udp_reply_slots = 1024;                  // per UDP listener and driver: replies in flight
    std::chrono::milliseconds close_linger{5000};          // orderly close: wait this long for the peer's FIN
    std::uint32_t plugin_timer_slots = 1024;               // per driver, besides one per connection
    std::uint32_t file_slot_slack = 64;                    // direct descriptors beyond max_connections
    std::chrono::milliseconds buffer_sample_interval{100}; // buffer-ring occupancy sampling period
    std::uint32_t admin_response_limit = 1u << 20;         // the largest answer [admin] builds, in bytes
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

struct AdminBoard;
class DriverNet;
struct DriverNetShared;
struct ListenerShared;
struct ListenerState;

// Listening sockets the process inherited (systemd socket activation: LISTEN_FDS with
// FileDescriptorName= = the listener's name), by listener name. The caller keeps ownership.
using InheritedSockets = std::map<std::string, int>;

class Network;
struct AttachResult {
    std::unique_ptr<Network> network; // set on success
    std::string error;                // set on failure; nothing is attached then
};

// How the listeners of `next` relate to those of `running`, matched by name. Network::reload
// decides from it which listeners stay as they are.
struct ListenerDiff {
    std::vector<std::string> added;   // in `next` only, in its order
    std::vector<std::string> removed; // in `running` only, in its order
    std::vector<std::string> changed; // in both, with different settings, in `next`'s order
    bool empty() const { return added.empty() && removed.empty() && changed.empty(); }
};
ListenerDiff diff_listeners(const std::vector<config::ListenerConfig>& running,
                            const std::vector<config::ListenerConfig>& next);

// What a reload did. Listeners named in `errors` keep serving as before (or stay closed when
// they are new); every other listener of the new file is in force.
struct ReloadResult {
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

    // Applies `next`'s listeners while everything keeps serving. Their drivers are the running
    // ones: "*" means every running driver that does I/O, and names are looked up among the
    // running drivers and TPCs (a new topology needs a restart). Unchanged listeners keep their
    // sockets and instances. New ones bind and get instances on their drivers. Removed ones
    // stop accepting; their open connections carry on until they end. Changed ones (settings,
    // drivers, or the handler file replaced) get new instances, which serve new connections
    // from the same sockets when transport and address stay, while open connections finish on
    // the old instances. Instances go when their last connection has, and a handler object is
    // unloaded when its last instance has. Waits (at most reload_start_timeout) until the new
    // instances have started; one that fails leaves its listener as it was.
    ReloadResult reload(const config::Config& next, const LoadPolicy& policy, const gatio_services& services);

    // Lets go of retired listeners that every driver has finished with (reload() does it too).
    void collect();
    // Retired listeners some driver is still finishing.
    std::size_t retiring() const { return retired_.size(); }

private:
    friend AttachResult attach_listeners(core::Runtime&, const config::Config&, const core::Topology&,
                                         const PluginSet&, const NetOptions&, const InheritedSockets&);
    Network(core::Runtime& runtime, const NetOptions& options);

    // One listener as served now (its latest generation).
    struct Serving {
        config::ListenerConfig config;
        std::shared_ptr<ListenerShared> shared;
        std::vector<int> drivers;        // global indexes, ascending
        std::vector<DriverNet*> modules; // modules[i] serves it on drivers[i]
        std::vector<int> sockets;        // the descriptor drivers[i] serves it from (owned there)
    };
    struct Opening;

    std::shared_ptr<ListenerStats> stats_for(const std::string& listener, int driver);
    // The handler state of a listener name, shared by all its generations.
    std::shared_ptr<ListenerState> state_for(const std::string& listener);
    // `l`'s drivers among the running ones (global indexes, ascending); empty with `unknown`
    // set to the first name that names no running driver or TPC that does I/O.
    std::vector<int> running_drivers(const config::ListenerConfig& l, std::string& unknown);
    std::shared_ptr<const Plugin> plugin_for(const config::ListenerConfig& l, const LoadPolicy& policy,
                                             const gatio_services& services, std::string& error);
    bool handler_replaced(const Serving& s) const;
    void retire(const std::vector<Serving>& listeners);
    template <typename Fn>
    bool post_patiently(int driver, const Fn& fn);
    // Hands /metrics the listeners served now: directly before the runtime starts, else
    // through a message to the admin driver, the only thread that reads it then.
    void publish_catalog(bool running);

    core::Runtime& runtime_;
    NetOptions options_;
    std::vector<std::shared_ptr<DriverNetShared>> drivers_; // by global driver index
    std::vector<Serving> serving_;                          // in file order
    std::vector<std::shared_ptr<ListenerShared>> retired_;
    std::map<std::pair<std::string, int>, std::shared_ptr<ListenerStats>> stats_;
    std::map<std::filesystem::path, std::weak_ptr<const Plugin>> plugins_;
    std::map<std::string, std::shared_ptr<ListenerState>> states_; // by listener name, while configured
    std::shared_ptr<AdminBoard> admin_;                            // with [admin] listen only
    int admin_driver_ = -1;
};

// Opens every listener's sockets (one per serving driver, in driver order, SO_REUSEPORT,
// identical options, optionally steered by CPU) and attaches one module per serving driver. With
// [admin] listen, the admin endpoint (net/admin.hpp) goes to the first driver that does I/O,
// served by plugins.admin (an error when it is missing). Errors name the listener.
//
// A listener found in `inherited` binds nothing: each of its drivers gets a dup() of that
// socket, so they share its one accept queue (no reuseport group, hence no steer_to_cpu), and
// the socket keeps queueing connections while gatiod restarts.
AttachResult attach_listeners(core::Runtime& runtime, const config::Config& config,
                              const core::Topology& topology, const PluginSet& plugins,
                              const NetOptions& net = {}, const InheritedSockets& inherited = {});

} // namespace gatio::net
