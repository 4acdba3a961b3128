#include "net/net.hpp"

#include <algorithm>
#include <fmt/format.h>
#include <map>
#include <spdlog/spdlog.h>
#include <stdexcept>

#include "net/admin.hpp"
#include "net/descriptor_limit.hpp"
#include "net/driver_net.hpp"
#include "net/listener_socket.hpp"

namespace gatio::net {

NetOptions net_options(const config::Config& config) {
    NetOptions o;
    o.output_memory = static_cast<std::size_t>(config.network.output_memory);
    o.carry_buffers = config.network.carry_buffers;
    o.udp_reply_slots = config.network.udp_reply_slots;
    o.close_linger = config.network.close_linger;
    o.open_files = config.network.open_files;
    o.file_operations = config.network.file_operations;
    o.lent_buffers = config.network.lent_buffers;
    o.receive_holds = config.network.receive_holds;
    o.receive_holds_per_connection = config.network.receive_holds_per_connection;
    o.lent_buffer_size = config.network.lent_buffer_size;
    o.zerocopy_send = config.network.zerocopy_send;
    o.zerocopy_send_min = config.network.zerocopy_send_min;
    o.drain_read_limit = config.network.drain_read_limit;
    return o;
}

void reserve(core::RuntimeOptions& options, const config::Config& config, const core::Topology& topology,
             const PluginSet& plugins, const NetOptions& net) {
    // The listeners each driver serves: the start's plan, [admin]'s endpoint included (net/admin.hpp).
    std::string admin_error; // attach_listeners reports it
    const auto planned = start_listeners(config, topology, net, admin_error);
    std::vector<std::vector<const ListenerState*>> served(topology.driver_count());
    for (const auto& l : planned) {
        for (int d : l.drivers) {
            served.at(static_cast<std::size_t>(d)).push_back(&l);
        }
    }
    const std::size_t drivers = topology.driver_count();
    options.per_driver.resize(drivers, options.defaults);
    std::vector<std::size_t> tpc_bytes(topology.tpcs.size(), 0);
    std::uint64_t descriptors = 1024; // the daemon's own files, sockets, journal
    for (const auto& tpc : topology.tpcs) {
        for (const auto& d : tpc.drivers) {
            std::vector<DriverNet::ServedListener> listeners;
            std::uint64_t connections = 0;
            for (const ListenerState* state : served.at(static_cast<std::size_t>(d.index))) {
                const config::ListenerConfig& l = state->settings;
                const Plugin* plugin = is_admin(l) ? plugins.admin.get() : &plugins.for_listener(l);
                if (plugin == nullptr) {
                    continue; // no admin handler supplied: attach_listeners refuses the start
                }
                listeners.emplace_back(&l, plugin);
                if (l.transport == config::Transport::tcp) {
                    connections += std::uint64_t{l.max_connections} + l.max_outbound;
                }
            }
            if (listeners.empty()) {
                continue;
            }
            auto& limits = options.per_driver[static_cast<std::size_t>(d.index)];
            if (connections > 0) {
                limits.file_slots += static_cast<std::uint32_t>(connections) + net.file_slot_slack;
            }
            // One timer per connection (idle timeout or closing linger), plus the plugins'.
            limits.timer_slots += static_cast<std::uint32_t>(connections) + net.plugin_timer_slots;
            tpc_bytes[static_cast<std::size_t>(tpc.index)] += DriverNet::arena_bytes(net, d.ring, listeners);
            // The handlers' files are plain descriptors (statx and openat2 need them).
            descriptors += connections + listeners.size() + net.file_slot_slack + net.open_files;
        }
    }
    options.arena_extra_bytes += *std::max_element(tpc_bytes.begin(), tpc_bytes.end());
    // Each driver's registered file table must fit RLIMIT_NOFILE, like regular descriptors.
    const DescriptorLimit limit = raise_descriptor_limit(descriptors);
    std::uint32_t wanted = 0;
    for (std::size_t d = 0; d < drivers; ++d) {
        auto& slots = options.per_driver[d].file_slots;
        wanted = std::max(wanted, slots);
        slots = limit.table_slots(slots);
    }
    report_descriptor_cap(limit, wanted);
}

std::vector<ListenerState> start_listeners(const config::Config& config, const core::Topology& topology,
                                           const NetOptions& net, std::string& admin_error) {
    std::vector<ListenerState> out;
    for (const auto& [settings, drivers] : topology.listeners) {
        out.push_back({settings, drivers, std::nullopt});
    }
    if (auto admin = admin_listener(config.admin, topology, net, admin_error)) {
        out.push_back(std::move(*admin));
    }
    return out;
}

Network::Network(core::Runtime& runtime, const core::Topology& topology, const NetOptions& options)
    : runtime_(runtime), topology_(topology), options_(options) {
    for (std::size_t i = 0; i < runtime.driver_count(); ++i) {
        drivers_.push_back(std::make_shared<DriverNetShared>());
    }
}

Network::~Network() = default;

NetCounters Network::counters(int driver) const {
    auto i = static_cast<std::size_t>(driver);
    return i < drivers_.size() ? drivers_[i]->published.read() : NetCounters{};
}

NetCounters Network::total() const {
    NetCounters sum;
    for (const auto& d : drivers_) {
        sum += d->published.read();
    }
    return sum;
}

std::shared_ptr<ListenerStats> Network::stats_for(const std::string& listener, int driver) {
    auto& stats = stats_[{listener, driver}];
    if (!stats) {
        stats = std::make_shared<ListenerStats>();
    }
    return stats;
}

std::shared_ptr<HandlerState> Network::state_for(const std::string& listener) {
    auto& state = states_[listener];
    if (!state) {
        state = std::make_shared<HandlerState>();
    }
    return state;
}

} // namespace gatio::net
