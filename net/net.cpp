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

namespace {

// Listener indexes served by each driver, from the topology's listener -> drivers map.
std::vector<std::vector<std::size_t>> listeners_by_driver(const config::Config& config,
                                                          const core::Topology& topology) {
    std::vector<std::vector<std::size_t>> out(topology.driver_count());
    for (std::size_t i = 0; i < config.listeners.size() && i < topology.listener_drivers.size(); ++i) {
        for (int d : topology.listener_drivers[i]) {
            out.at(static_cast<std::size_t>(d)).push_back(i);
        }
    }
    return out;
}

} // namespace

NetOptions net_options(const config::Config& config) {
    NetOptions o;
    o.output_memory = static_cast<std::size_t>(config.network.output_memory);
    o.carry_buffers = config.network.carry_buffers;
    o.udp_reply_slots = config.network.udp_reply_slots;
    o.close_linger = config.network.close_linger;
    return o;
}

void reserve(core::RuntimeOptions& options, const config::Config& config, const core::Topology& topology,
             const PluginSet& plugins, const NetOptions& net) {
    auto served = listeners_by_driver(config, topology);
    const std::size_t drivers = topology.driver_count();
    options.per_driver.resize(drivers, options.defaults);
    std::vector<std::size_t> tpc_bytes(topology.tpcs.size(), 0);
    std::uint64_t descriptors = 1024; // the daemon's own files, sockets, journal
    const int admin_at = config.admin.listen ? admin_driver(topology) : -1;
    const auto admin =
        admin_at >= 0 ? admin_listener(config, topology.driver(admin_at), net) : config::ListenerConfig{};
    for (const auto& tpc : topology.tpcs) {
        for (const auto& d : tpc.drivers) {
            const auto& mine = served.at(static_cast<std::size_t>(d.index));
            if (mine.empty() && d.index != admin_at) {
                continue;
            }
            std::vector<DriverNet::ServedListener> listeners;
            std::uint64_t connections = 0;
            for (std::size_t i : mine) {
                const auto& l = config.listeners[i];
                listeners.emplace_back(&l, &plugins.for_listener(l));
                if (l.transport == config::Transport::tcp) {
                    connections += l.max_connections;
                }
            }
            if (d.index == admin_at && plugins.admin) {
                listeners.emplace_back(&admin, plugins.admin.get());
                connections += admin.max_connections;
            }
            auto& limits = options.per_driver[static_cast<std::size_t>(d.index)];
            if (connections > 0) {
                limits.file_slots += static_cast<std::uint32_t>(connections) + net.file_slot_slack;
            }
            // One timer per connection (idle timeout or closing linger), plus the plugins'.
            limits.timer_slots += static_cast<std::uint32_t>(connections) + net.plugin_timer_slots;
            tpc_bytes[static_cast<std::size_t>(tpc.index)] += DriverNet::arena_bytes(net, d.ring, listeners);
            descriptors += connections + listeners.size() + net.file_slot_slack;
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

Network::Network(core::Runtime& runtime, const NetOptions& options) : runtime_(runtime), options_(options) {
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

AttachResult attach_listeners(core::Runtime& runtime, const config::Config& config,
                              const core::Topology& topology, const PluginSet& plugins, const NetOptions& net,
                              const InheritedSockets& inherited) {
    const std::size_t drivers = topology.driver_count();
    std::unique_ptr<Network> network{new Network(runtime, net)};
    std::vector<std::vector<std::unique_ptr<DriverListener>>> per_driver(drivers);
    // Where each listener's copies go: (listener, position among its drivers) per driver.
    std::vector<std::vector<std::pair<std::size_t, std::size_t>>> placed(drivers);
    try {
        for (std::size_t i = 0; i < config.listeners.size(); ++i) {
            const auto& l = config.listeners[i];
            const auto& serving = topology.listener_drivers.at(i);
            const auto& plugin = plugins.by_path.at(l.handler_path);
            auto shared = std::make_shared<ListenerShared>();
            shared->plugin = plugin.get();
            shared->plugin_ref = plugin;
            shared->holders.store(static_cast<int>(serving.size()), std::memory_order_relaxed);
            Network::Serving entry{l, shared, serving, {}, {}};

            std::vector<int> cpus;
            int first_socket = -1;
            const auto passed = inherited.find(l.name);
            const bool adopted = passed != inherited.end();
            const std::string origin =
                adopted ? fmt::format("the socket passed as \"{}\" (fd {})", l.name, passed->second) : "";
            // In driver order, so that the reuseport group's socket indexes follow it.
            for (int d : serving) {
                auto dl = std::make_unique<DriverListener>();
                dl->config = l;
                dl->shared = shared;
                dl->stats = network->stats_for(l.name, d);
                dl->socket = adopted ? adopt_listener_socket(dl->config, passed->second, origin)
                                     : open_listener_socket(dl->config);
                if (first_socket < 0) {
                    first_socket = dl->socket.get();
                }
                entry.sockets.push_back(dl->socket.get());
                cpus.push_back(topology.driver(d).cpu);
                placed.at(static_cast<std::size_t>(d)).emplace_back(i, entry.modules.size());
                entry.modules.push_back(nullptr);
                per_driver.at(static_cast<std::size_t>(d)).push_back(std::move(dl));
            }
            if (l.steer_to_cpu && adopted) {
                spdlog::warn("{}: steer_to_cpu ignored: its drivers share {}", describe_listener(l), origin);
            } else if (l.steer_to_cpu && first_socket >= 0) {
                steer_to_cpus(l, first_socket, cpus);
            }
            network->serving_.push_back(std::move(entry));
        }
        if (config.admin.listen) {
            const int at = admin_driver(topology);
            if (at < 0) {
                return {nullptr, "[admin] listen: no driver does I/O to serve it"};
            }
            if (!plugins.admin) {
                return {nullptr, "[admin] listen: no admin handler was supplied to serve it"};
            }
            auto board = std::make_shared<AdminBoard>();
            board->runtime = &runtime;
            auto dl = std::make_unique<DriverListener>();
            dl->config = admin_listener(config, topology.driver(at), net);
            dl->shared = std::make_shared<ListenerShared>();
            dl->shared->plugin_ref = plugins.admin;
            dl->shared->plugin = dl->shared->plugin_ref.get();
            dl->shared->admin = board;
            dl->stats = std::make_shared<ListenerStats>();
            dl->socket = open_listener_socket(dl->config);
            per_driver.at(static_cast<std::size_t>(at)).push_back(std::move(dl));
            network->admin_ = std::move(board);
            network->admin_driver_ = at;
        }
    } catch (const std::exception& e) {
        return {nullptr, e.what()};
    }

    for (std::size_t d = 0; d < drivers; ++d) {
        if (per_driver[d].empty()) {
            continue;
        }
        auto module = std::make_unique<DriverNet>(net, std::move(per_driver[d]), network->drivers_[d]);
        for (const auto& [listener, position] : placed[d]) {
            network->serving_[listener].modules[position] = module.get();
        }
        runtime.attach(static_cast<int>(d), std::move(module));
    }
    network->publish_catalog(false);
    return {std::move(network), {}};
}

} // namespace gatio::net
