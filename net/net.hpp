// The networking layer's entry points, called by the daemon (or a test) around the runtime:
//
//   net::PluginSetResult plugins = net::load_plugins(config, policy, net::host_services());
//   core::RuntimeOptions options;
//   net::reserve(options, config, topology, plugins.plugins); // before constructing the Runtime
//   core::Runtime runtime(topology, machine, config.io_uring, options);
//   net::AttachResult net = net::attach_listeners(runtime, config, topology, plugins.plugins);
//   runtime.start();  ...  runtime.request_stop(grace); runtime.join();
//
// The PluginSet must outlive the Runtime (instances are destroyed as drivers stop), and the
// Network handle must not be used after the Runtime is destroyed.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "core/runtime.hpp"
#include "core/topology.hpp"
#include "net/counters.hpp"
#include "net/plugin_loader.hpp"

namespace gatio::net {

// Limits of the networking layer that the configuration file does not carry.
struct NetOptions {
    std::uint32_t output_chunk_size = 4096;            // unit of the per-driver output pool
    std::size_t output_memory = std::size_t{32} << 20; // per driver: unsent TCP output
    std::uint32_t carry_buffers = 1024;                // per listener and driver, for handlers that
                                                       // leave input unconsumed (max_unconsumed > 0)
    std::uint32_t udp_reply_slots = 1024;              // per UDP listener and driver: replies in flight
    std::chrono::milliseconds close_linger{5000};      // orderly close: wait this long for the peer's FIN
    std::uint32_t plugin_timer_slots = 1024;           // per driver, besides one per connection
    std::uint32_t file_slot_slack = 64;                // direct descriptors beyond max_connections
};

// Adds what the listeners need to the runtime's start parameters: direct-descriptor slots and
// timer slots per driver, and arena bytes per TPC. Raises the soft RLIMIT_NOFILE towards the
// hard limit when the descriptors needed exceed it.
void reserve(core::RuntimeOptions& options, const config::Config& config, const core::Topology& topology,
             const PluginSet& plugins, const NetOptions& net = {});

class DriverNet;

// Counters of the attached modules, readable from any thread while the Runtime exists.
class Network {
public:
    explicit Network(std::vector<const DriverNet*> by_driver) : by_driver_(std::move(by_driver)) {}
    NetCounters counters(int driver) const; // zero for a driver serving no listener
    NetCounters total() const;

private:
    std::vector<const DriverNet*> by_driver_; // by global driver index; nullptr = none
};

// Listening sockets the process inherited (systemd socket activation: LISTEN_FDS with
// FileDescriptorName= = the listener's name), by listener name. The caller keeps ownership.
using InheritedSockets = std::map<std::string, int>;

struct AttachResult {
    std::unique_ptr<Network> network; // set on success
    std::string error;                // set on failure; nothing is attached then
};

// Opens every listener's sockets (one per serving driver, in driver order, SO_REUSEPORT,
// identical options, optionally steered by CPU), checks that every driver holds the same
// listener configuration (fingerprints) and attaches one module per serving driver. Errors
// name the listener (and the drivers, for a fingerprint mismatch).
//
// A listener found in `inherited` binds nothing: each of its drivers gets a dup() of that
// socket, so they share its one accept queue (no reuseport group, hence no steer_to_cpu), and
// the socket keeps queueing connections while gatiod restarts.
AttachResult attach_listeners(core::Runtime& runtime, const config::Config& config,
                              const core::Topology& topology, const PluginSet& plugins,
                              const NetOptions& net = {}, const InheritedSockets& inherited = {});

// The check attach_listeners makes, for one listener: `copies[i]` is the configuration driver
// `drivers[i]` holds. Returns "" or an error naming the listener and two disagreeing drivers.
std::string compare_fingerprints(const std::vector<const config::ListenerConfig*>& copies,
                                 const std::vector<std::string>& drivers, const Plugin& plugin);

} // namespace gatio::net
