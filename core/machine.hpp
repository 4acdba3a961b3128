// What the machine offers this process: NUMA nodes, their CPUs and distances, intersected
// with the process's CPU affinity mask. Discovered through libnuma, or described by a test.
#pragma once

#include "config/cpuset.hpp"

#include <string>
#include <vector>

namespace gatio::core {

struct MachineCpu {
    int id = 0;   // logical CPU number
    int node = 0; // NUMA node
    int core = 0; // physical core id; SMT siblings share it
};

struct Machine {
    std::vector<MachineCpu> cpus;          // online CPUs, ascending by id
    std::vector<int> nodes;                // NUMA node ids with memory or CPUs, ascending
    std::vector<std::vector<int>> distance; // distance[a][b] for node ids a, b (10 = local)
    config::CpuSet affinity;               // CPUs this process may run on

    static Machine discover();

    const MachineCpu* cpu(int id) const;
    bool has_node(int node) const;
    int node_distance(int a, int b) const;
    std::string describe() const; // one line per node: "node 0: cpus 0-3 (4 allowed)"
};

} // namespace gatio::core
