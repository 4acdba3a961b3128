#include "core/topology.hpp"

#include <algorithm>
#include <cassert>
#include <limits>
#include <stdexcept>
#include <string_view>

#include "config/units.hpp"

namespace gatio::core {

namespace {

std::string in_quotes(std::string_view s) {
    std::string out = "\"";
    out += s;
    out += '"';
    return out;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) {
        row[j] = j;
    }
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            std::size_t above = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diagonal = above;
        }
    }
    return row[b.size()];
}

// The closest candidate within two edits (and fewer edits than the name has characters, so
// that a one-letter typo is not "corrected" into an unrelated name); "" when none is close.
std::string_view nearest(std::string_view name, const std::vector<std::string_view>& candidates) {
    std::string_view best;
    std::size_t best_distance = std::numeric_limits<std::size_t>::max();
    for (auto candidate : candidates) {
        std::size_t d = edit_distance(name, candidate);
        if (d < best_distance) {
            best = candidate;
            best_distance = d;
        }
    }
    if (best_distance > 2 || best_distance >= name.size()) {
        return {};
    }
    return best;
}

// "cpu 7 is" / "cpus 6-7 are", for messages about a set of CPUs.
std::string cpus_phrase(const config::CpuSet& set, const char* singular, const char* plural) {
    if (set.size() == 1) {
        return "cpu " + set.to_string() + " " + singular;
    }
    return "cpus " + set.to_string() + " " + plural;
}

std::string list_or_none(const config::CpuSet& set) {
    return set.empty() ? "none" : set.to_string();
}

const DriverPlan* find_driver(const Topology& topology, std::string_view name) {
    for (const auto& tpc : topology.tpcs) {
        for (const auto& d : tpc.drivers) {
            if (d.name == name) {
                return &d;
            }
        }
    }
    return nullptr;
}

const TpcPlan* find_tpc(const Topology& topology, std::string_view name) {
    for (const auto& tpc : topology.tpcs) {
        if (tpc.name == name) {
            return &tpc;
        }
    }
    return nullptr;
}

// Marks every driver of `tpc` that does I/O; false when it has none.
bool choose_tpc(const TpcPlan& tpc, std::vector<bool>& chosen) {
    bool any = false;
    for (const auto& d : tpc.drivers) {
        if (config::does_io(d.role)) {
            chosen.at(static_cast<std::size_t>(d.index)) = true;
            any = true;
        }
    }
    return any;
}

// Marks what `name` names; "" when it names something that serves listeners, else why not.
std::string choose_name(const Topology& topology, std::string_view name, std::vector<bool>& chosen) {
    if (const DriverPlan* d = find_driver(topology, name)) {
        if (!config::does_io(d->role)) {
            return "driver " + in_quotes(name) +
                   " has role exec and cannot serve a listener (needs io or io+exec)";
        }
        chosen.at(static_cast<std::size_t>(d->index)) = true;
        return {};
    }
    if (const TpcPlan* t = find_tpc(topology, name)) {
        return choose_tpc(*t, chosen) ? std::string{}
                                      : "tpc " + in_quotes(name) + " has no driver with role io or io+exec";
    }
    std::vector<std::string_view> names;
    for (const auto& tpc : topology.tpcs) {
        names.push_back(tpc.name);
        for (const auto& d : tpc.drivers) {
            names.push_back(d.name);
        }
    }
    std::string message = "no driver or tpc is named " + in_quotes(name);
    auto hint = nearest(name, names);
    if (!hint.empty()) {
        message += "; did you mean " + in_quotes(hint) + "?";
    }
    return message;
}

class Resolver {
public:
    Resolver(const config::Config& config, const Machine& machine) : config_(config), machine_(machine) {
        for (const auto& c : machine.cpus) {
            online_.add(c.id);
        }
    }

    ResolveResult run() {
        Topology topology;
        if (config_.topology.mode == config::TopologyMode::automatic) {
            resolve_auto(topology);
        } else {
            resolve_manual(topology);
        }
        resolve_listeners(topology);
        check_identical(topology);
        ResolveResult result;
        result.errors = std::move(errors_);
        if (result.errors.empty()) {
            result.topology = std::move(topology);
        }
        return result;
    }

private:
    void error(config::SourcePos pos, std::string message) {
        errors_.push_back(config::Diagnostic{config_.file.string(), pos, std::move(message)});
    }

    std::string nodes_list() const {
        config::CpuSet nodes; // a set of small integers; the cpulist notation reads well for nodes
        for (int n : machine_.nodes) {
            nodes.add(n);
        }
        return list_or_none(nodes);
    }

    void resolve_auto(Topology& topology) {
        const auto& section = config_.topology;
        config::CpuSet usable;
        for (int cpu : online_.cpus()) {
            if (machine_.affinity.contains(cpu)) {
                usable.add(cpu);
            }
        }
        if (section.cpus) {
            config::CpuSet absent;
            config::CpuSet forbidden;
            config::CpuSet chosen;
            for (int cpu : section.cpus->cpus()) {
                if (!online_.contains(cpu)) {
                    absent.add(cpu);
                } else if (!machine_.affinity.contains(cpu)) {
                    forbidden.add(cpu);
                } else {
                    chosen.add(cpu);
                }
            }
            if (!absent.empty()) {
                error(config_.positions.topology_cpus,
                      "topology.cpus: " + cpus_phrase(absent, "does", "do") +
                          " not exist on this machine (online: " + list_or_none(online_) + ")");
            }
            if (!forbidden.empty()) {
                error(config_.positions.topology_cpus,
                      "topology.cpus: " + cpus_phrase(forbidden, "is", "are") +
                          " not in this process's CPU affinity (allowed: " + machine_.affinity.to_string() +
                          ")");
            }
            if (!absent.empty() || !forbidden.empty()) {
                return;
            }
            usable = chosen;
        }
        if (usable.empty()) {
            error(config_.positions.topology_cpus,
                  "topology: no online CPU is in this process's CPU affinity (online: " +
                      list_or_none(online_) + ", allowed: " + machine_.affinity.to_string() + ")");
            return;
        }

        int driver_index = 0;
        for (int node : machine_.nodes) {
            TpcPlan tpc;
            tpc.name = "node" + std::to_string(node);
            tpc.numa_node = node;
            tpc.memory = config::MemoryPolicy::bind;
            for (const auto& c : machine_.cpus) {
                if (c.node != node || !usable.contains(c.id)) {
                    continue;
                }
                tpc.drivers.push_back(DriverPlan{"cpu" + std::to_string(c.id), driver_index++, c.id,
                                                 config::DriverRole::io_exec, section.ring});
            }
            if (!tpc.drivers.empty()) {
                tpc.index = static_cast<int>(topology.tpcs.size());
                topology.tpcs.push_back(std::move(tpc));
            }
        }
        assert(driver_index == static_cast<int>(usable.size()));
    }

    void resolve_manual(Topology& topology) {
        int driver_index = 0;
        for (std::size_t t = 0; t < config_.topology.tpcs.size(); ++t) {
            const auto& tc = config_.topology.tpcs[t];
            const std::string where = "tpc " + in_quotes(tc.name) + ": ";
            const bool node_ok = machine_.has_node(tc.numa_node);
            if (!node_ok) {
                error(config_.positions.tpc(t).numa_node,
                      where + "numa_node " + std::to_string(tc.numa_node) +
                          " does not exist on this machine (nodes: " + nodes_list() + ")");
            }
            TpcPlan tpc{tc.name, static_cast<int>(topology.tpcs.size()), tc.numa_node, tc.memory, {}};
            for (std::size_t d = 0; d < tc.drivers.size(); ++d) {
                const auto& dc = tc.drivers[d];
                check_manual_driver(where + "driver " + in_quotes(dc.name) + ": ", dc,
                                    config_.positions.driver(t, d).cpu, node_ok ? tc.numa_node : -1);
                tpc.drivers.push_back(DriverPlan{dc.name, driver_index++, dc.cpu, dc.role, dc.ring});
            }
            topology.tpcs.push_back(std::move(tpc));
        }
    }

    // tpc_node < 0: the TPC's node is itself wrong (already reported), so placement is not checked.
    void check_manual_driver(const std::string& where, const config::DriverConfig& dc,
                             config::SourcePos cpu_pos, int tpc_node) {
        const MachineCpu* cpu = machine_.cpu(dc.cpu);
        if (cpu == nullptr) {
            error(cpu_pos, where + "cpu " + std::to_string(dc.cpu) +
                               " does not exist on this machine (online: " + list_or_none(online_) + ")");
            return;
        }
        if (!machine_.affinity.contains(dc.cpu)) {
            error(cpu_pos, where + "cpu " + std::to_string(dc.cpu) +
                               " is not in this process's CPU affinity (allowed: " +
                               machine_.affinity.to_string() + ")");
        }
        if (tpc_node >= 0 && cpu->node != tpc_node) {
            error(cpu_pos, where + "cpu " + std::to_string(dc.cpu) + " is on NUMA node " +
                               std::to_string(cpu->node) + ", but the tpc is on NUMA node " +
                               std::to_string(tpc_node));
        }
    }

    void resolve_listeners(Topology& topology) {
        for (std::size_t li = 0; li < config_.listeners.size(); ++li) {
            const auto& lc = config_.listeners[li];
            if (topology.tpcs.empty()) {
                // The topology itself failed (already reported): names cannot be checked.
                topology.listeners.push_back(ListenerPlan{lc, {}});
                continue;
            }
            const config::ListenerPositions& at = config_.positions.listener(li);
            const config::SourcePos pos = at.drivers.line != 0 ? at.drivers : at.table;
            DriverChoice choice = choose_drivers(topology, lc);
            for (auto& e : choice.errors) {
                error(pos, std::move(e));
            }
            topology.listeners.push_back(ListenerPlan{lc, std::move(choice.drivers)});
        }
    }

    // Where driver `index`'s settings were written (manual mode), or [topology]'s (auto).
    config::DriverPositions driver_positions(int index) const {
        int first = 0;
        for (std::size_t t = 0; t < config_.topology.tpcs.size(); ++t) {
            const auto n = static_cast<int>(config_.topology.tpcs[t].drivers.size());
            if (index < first + n) {
                return config_.positions.driver(t, static_cast<std::size_t>(index - first));
            }
            first += n;
        }
        config::DriverPositions auto_mode;
        auto_mode.ring = config_.positions.topology_ring;
        return auto_mode;
    }

    std::string value_at(const std::string& value, config::SourcePos pos) const {
        if (pos.line == 0) {
            return value + " (the default)";
        }
        return value + " (" + config_.file.string() + ":" + std::to_string(pos.line) + ":" +
               std::to_string(pos.column) + ")";
    }

    void check_identical(const Topology& topology) {
        for (std::size_t li = 0; li < topology.listeners.size(); ++li) {
            const auto& [l, drivers] = topology.listeners[li];
            const config::ListenerPositions& at = config_.positions.listener(li);
            for (const auto& d : driver_differences(topology, drivers)) {
                const DriverPlan& a = topology.driver(d.a);
                const DriverPlan& b = topology.driver(d.b);
                error(at.drivers.line != 0 ? at.drivers : at.table,
                      "listener " + in_quotes(l.name) + ": its drivers " + in_quotes(a.name) + " and " +
                          in_quotes(b.name) + " differ in " + d.key + ": " +
                          value_at(d.value_a, position_of(d.key, driver_positions(d.a))) + " and " +
                          value_at(d.value_b, position_of(d.key, driver_positions(d.b))) +
                          "; every driver serving a listener needs the same " + d.key);
            }
        }
    }

    static config::SourcePos position_of(std::string_view key, const config::DriverPositions& at) {
        if (key == "role") {
            return at.role;
        }
        if (key == "ring_entries") {
            return at.ring.ring_entries;
        }
        if (key == "buffer_size") {
            return at.ring.buffer_size;
        }
        assert(key == "buffer_count");
        return at.ring.buffer_count;
    }

    const config::Config& config_;
    const Machine& machine_;
    config::CpuSet online_;
    config::Diagnostics errors_;
};

} // namespace

std::size_t Topology::driver_count() const {
    std::size_t n = 0;
    for (const auto& tpc : tpcs) {
        n += tpc.drivers.size();
    }
    return n;
}

const DriverPlan& Topology::driver(int index) const {
    for (const auto& tpc : tpcs) {
        for (const auto& d : tpc.drivers) {
            if (d.index == index) {
                return d;
            }
        }
    }
    throw std::out_of_range("Topology::driver: no driver has index " + std::to_string(index));
}

std::string Topology::describe() const {
    std::string out;
    for (const auto& tpc : tpcs) {
        out += "tpc " + tpc.name + ": NUMA node " + std::to_string(tpc.numa_node) + ", memory " +
               std::string(config::to_string(tpc.memory)) + ", " + std::to_string(tpc.drivers.size()) +
               (tpc.drivers.size() == 1 ? " driver\n" : " drivers\n");
        for (const auto& d : tpc.drivers) {
            out += "  driver " + d.name + ": cpu " + std::to_string(d.cpu) + ", role " +
                   std::string(config::to_string(d.role)) + ", ring " + std::to_string(d.ring.ring_entries) +
                   " entries, " + std::to_string(d.ring.buffer_count) + " buffers of " +
                   config::format_size(d.ring.buffer_size) + "\n";
        }
    }
    if (listeners.empty()) {
        out += "no listeners\n";
    }
    for (const auto& [l, drivers] : listeners) {
        out += "listener " + l.name + ": " + std::string(config::to_string(l.transport)) + " " +
               l.address.text + ", handler " + l.handler_path.string() + ", drivers ";
        for (std::size_t j = 0; j < drivers.size(); ++j) {
            out += (j == 0 ? "" : ",") + driver(drivers[j]).name;
        }
        out += "\n";
    }
    return out;
}

ResolveResult resolve_topology(const config::Config& config, const Machine& machine) {
    return Resolver(config, machine).run();
}

std::vector<DriverDifference> driver_differences(const Topology& topology, const std::vector<int>& drivers) {
    std::vector<DriverDifference> out;
    for (std::size_t k = 1; k < drivers.size(); ++k) {
        const DriverPlan& a = topology.driver(drivers.front());
        const DriverPlan& b = topology.driver(drivers[k]);
        auto add = [&](const char* key, std::string va, std::string vb) {
            if (va != vb) {
                out.push_back({key, a.index, b.index, std::move(va), std::move(vb)});
            }
        };
        add("role", std::string(config::to_string(a.role)), std::string(config::to_string(b.role)));
        add("ring_entries", std::to_string(a.ring.ring_entries), std::to_string(b.ring.ring_entries));
        add("buffer_size", config::format_size(a.ring.buffer_size), config::format_size(b.ring.buffer_size));
        add("buffer_count", std::to_string(a.ring.buffer_count), std::to_string(b.ring.buffer_count));
    }
    return out;
}

DriverChoice choose_drivers(const Topology& topology, const config::ListenerConfig& listener) {
    const std::string where = "listener " + in_quotes(listener.name) + ": ";
    std::vector<bool> chosen(topology.driver_count(), false);
    DriverChoice out;
    if (listener.all_drivers) {
        for (const auto& tpc : topology.tpcs) {
            choose_tpc(tpc, chosen);
        }
    }
    const std::vector<std::string> no_names;
    for (const auto& name : listener.all_drivers ? no_names : listener.drivers) {
        if (auto e = choose_name(topology, name, chosen); !e.empty()) {
            out.errors.push_back(where + e);
        }
    }
    if (!out.errors.empty()) {
        return out;
    }
    for (std::size_t i = 0; i < chosen.size(); ++i) {
        if (chosen[i]) {
            out.drivers.push_back(static_cast<int>(i));
        }
    }
    if (out.drivers.empty()) {
        out.errors.push_back(where + "no driver with role io or io+exec serves this listener");
    }
    return out;
}

} // namespace gatio::core
