#include "core/machine.hpp"

#include <algorithm>
#include <cassert>
#include <fstream>
#include <map>
#include <numa.h>
#include <optional>
#include <sched.h>
#include <stdexcept>
#include <string>
#include <utility>

#include "config/units.hpp"

namespace gatio::core {

namespace {

constexpr int local_distance = 10;  // ACPI SLIT value for a node to itself
constexpr int remote_distance = 20; // what the kernel assumes when firmware gives no table

std::string sysfs_cpu_path(int cpu, const char* leaf) {
    return "/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/topology/" + leaf;
}

std::optional<int> read_int_file(const std::string& path) {
    std::ifstream in(path);
    int value = 0;
    if (in >> value) {
        return value;
    }
    return std::nullopt;
}

std::optional<config::CpuSet> read_cpulist_file(const char* path) {
    std::ifstream in(path);
    std::string text;
    if (!std::getline(in, text)) {
        return std::nullopt;
    }
    auto parsed = config::parse_cpulist(text);
    if (!parsed) {
        return std::nullopt;
    }
    return *parsed.value;
}

config::CpuSet process_affinity() {
    cpu_set_t* set = CPU_ALLOC(config::CpuSet::max_cpus);
    if (set == nullptr) {
        throw std::runtime_error("machine discovery: CPU_ALLOC failed for the affinity mask");
    }
    const std::size_t size = CPU_ALLOC_SIZE(config::CpuSet::max_cpus);
    CPU_ZERO_S(size, set);
    config::CpuSet out;
    if (sched_getaffinity(0, size, set) == 0) {
        for (int cpu = 0; cpu < config::CpuSet::max_cpus; ++cpu) {
            if (CPU_ISSET_S(static_cast<std::size_t>(cpu), size, set)) {
                out.add(cpu);
            }
        }
    }
    CPU_FREE(set);
    if (out.empty()) {
        throw std::runtime_error("machine discovery: sched_getaffinity returned no CPU for this process");
    }
    return out;
}

// Numbers physical cores densely across the machine: sysfs core_id is only unique within one
// package, so the (package, core_id) pair identifies a core and SMT siblings share it.
void assign_cores(std::vector<MachineCpu>& cpus) {
    std::map<std::pair<int, int>, int> ids;
    for (auto& cpu : cpus) {
        auto core_id = read_int_file(sysfs_cpu_path(cpu.id, "core_id"));
        if (!core_id) {
            cpu.core = static_cast<int>(ids.size());
            ids.emplace(std::pair{-1, -1 - cpu.id}, cpu.core);
            continue;
        }
        int package = read_int_file(sysfs_cpu_path(cpu.id, "physical_package_id")).value_or(0);
        auto [it, inserted] = ids.emplace(std::pair{package, *core_id}, static_cast<int>(ids.size()));
        cpu.core = it->second;
    }
}

} // namespace

Machine Machine::discover() {
    Machine m;
    m.affinity = process_affinity();

    // Offline CPUs cannot run a driver, so only online ones are listed. Without sysfs, the
    // affinity mask is the best available description.
    config::CpuSet online = read_cpulist_file("/sys/devices/system/cpu/online").value_or(m.affinity);

    const bool numa = numa_available() >= 0;
    for (int id : online.cpus()) {
        int node = numa ? numa_node_of_cpu(id) : 0;
        m.cpus.push_back(MachineCpu{id, node < 0 ? 0 : node, id});
    }
    assign_cores(m.cpus);

    if (!numa) {
        m.nodes = {0};
        m.distance = {{local_distance}};
        return m;
    }

    const int max_node = numa_max_node();
    m.nodes.reserve(static_cast<std::size_t>(numa_num_configured_nodes()));
    for (int node = 0; node <= max_node; ++node) {
        bool has_cpu = std::any_of(m.cpus.begin(), m.cpus.end(), [node](auto& c) { return c.node == node; });
        if (has_cpu || numa_bitmask_isbitset(numa_nodes_ptr, static_cast<unsigned>(node)) != 0) {
            m.nodes.push_back(node);
        }
    }
    m.distance.assign(static_cast<std::size_t>(max_node + 1),
                      std::vector<int>(static_cast<std::size_t>(max_node + 1), 0));
    for (int a : m.nodes) {
        for (int b : m.nodes) {
            int d = numa_distance(a, b);
            if (d <= 0) {
                d = a == b ? local_distance : remote_distance;
            }
            m.distance[static_cast<std::size_t>(a)][static_cast<std::size_t>(b)] = d;
        }
    }
    return m;
}

const MachineCpu* Machine::cpu(int id) const {
    auto it =
        std::lower_bound(cpus.begin(), cpus.end(), id, [](const MachineCpu& c, int v) { return c.id < v; });
    if (it == cpus.end() || it->id != id) {
        return nullptr;
    }
    return &*it;
}

bool Machine::has_node(int node) const {
    return std::binary_search(nodes.begin(), nodes.end(), node);
}

int Machine::node_distance(int a, int b) const {
    if (!has_node(a) || !has_node(b)) {
        return 0;
    }
    auto row = static_cast<std::size_t>(a);
    auto col = static_cast<std::size_t>(b);
    assert(row < distance.size() && col < distance[row].size());
    return distance[row][col];
}

std::string Machine::describe() const {
    std::string out;
    for (int node : nodes) {
        config::CpuSet all;
        config::CpuSet allowed;
        for (const auto& c : cpus) {
            if (c.node != node) {
                continue;
            }
            all.add(c.id);
            if (affinity.contains(c.id)) {
                allowed.add(c.id);
            }
        }
        out += "node " + std::to_string(node) + ": cpus " + (all.empty() ? "none" : all.to_string()) + " (" +
               std::to_string(allowed.size()) + " allowed)\n";
    }
    return out;
}

} // namespace gatio::core
