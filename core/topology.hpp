// The plan the runtime starts from: which TPCs exist, which drivers each holds (CPU, role,
// ring settings), and which drivers serve each listener. Resolved from a Config and a Machine;
// every check that needs the machine (a CPU exists and is allowed, a node exists) lives here and
// reports errors at the config's source positions. Which drivers serve a listener is decided
// here only (choose_drivers): at start and, against the running topology, at reload.
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

// A listener with the drivers that serve it, resolved together so that nobody pairs them by
// position.
struct ListenerPlan {
    config::ListenerConfig settings;
    std::vector<int> drivers; // global driver indexes, ascending, each does I/O
};

struct Topology {
    std::vector<TpcPlan> tpcs;
    std::vector<ListenerPlan> listeners; // in the file's order

    std::size_t driver_count() const;
    const DriverPlan& driver(int index) const;
    std::string describe() const; // the tree printed by gatiod -t
};

struct ResolveResult {
    std::optional<Topology> topology;
    config::Diagnostics errors;
};

ResolveResult resolve_topology(const config::Config& config, const Machine& machine);

// The drivers of `topology` that serve `listener`: every driver that does I/O for "*", else
// each named driver and every driver that does I/O of each named TPC.
struct DriverChoice {
    std::vector<int> drivers;        // global indexes, ascending; empty when errors are set
    std::vector<std::string> errors; // each starts with "listener "NAME": "
};
DriverChoice choose_drivers(const Topology& topology, const config::ListenerConfig& listener);

// Every driver serving a listener shares its port (a reuseport group), so a connection may land
// on any of them: each setting of a driver that shapes a listener's traffic (role, ring_entries,
// buffer_size, buffer_count) must be the same on all of them. What differs between the first of
// `drivers` and each other one; empty when they are identical.
struct DriverDifference {
    std::string key;  // as written in the file
    int a = 0, b = 0; // driver indexes: the first one and the one that differs
    std::string value_a, value_b;
};
std::vector<DriverDifference> driver_differences(const Topology& topology, const std::vector<int>& drivers);

} // namespace gatio::core
