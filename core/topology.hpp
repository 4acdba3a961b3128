// The plan the runtime starts from: which TPCs exist, which drivers each holds (CPU, role,
// ring settings), and which drivers serve each listener. Resolved from a Config and a Machine;
// every check that needs the machine (a CPU exists and is allowed, a node exists) lives here and
// reports errors at the config's source positions.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "config/source.hpp"
#include "core/machine.hpp"

namespace gatio::core {

struct DriverPlan {
    std::string name;
    int index = 0; // 0-based, unique in the process, stable across TPCs
    int cpu = 0;
    config::DriverRole role = config::DriverRole::io_exec;
    config::RingSettings ring;
};

struct TpcPlan {
    std::string name;
    int index = 0;
    int numa_node = 0;
    config::MemoryPolicy memory = config::MemoryPolicy::bind;
    std::vector<DriverPlan> drivers;
};

// What a listener is, for logs and for the -t report; the full settings stay in the Config.
struct ListenerPlan {
    std::string name;
    config::Transport transport = config::Transport::tcp;
    std::string address;
    std::filesystem::path handler_path;
};

struct Topology {
    std::vector<TpcPlan> tpcs;
    // listener_drivers[i]: global driver indexes serving config.listeners[i], ascending.
    std::vector<std::vector<int>> listener_drivers;
    std::vector<ListenerPlan> listeners; // listeners[i] describes config.listeners[i]

    std::size_t driver_count() const;
    const DriverPlan& driver(int index) const;
    std::string describe() const; // the tree printed by gatiod -t
};

struct ResolveResult {
    std::optional<Topology> topology;
    config::Diagnostics errors;
};

ResolveResult resolve_topology(const config::Config& config, const Machine& machine);

} // namespace gatio::core
