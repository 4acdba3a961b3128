// Machine descriptions injected into topology resolution, so that multi-node layouts and
// restricted affinity masks are tested on any host.
#pragma once

#include "core/machine.hpp"

namespace gatio::test {

inline config::CpuSet cpu_range(int first, int last) {
    config::CpuSet set;
    for (int cpu = first; cpu <= last; ++cpu) {
        set.add(cpu);
    }
    return set;
}

// Two nodes of eight logical CPUs, numbered the way Linux enumerates an SMT machine: node 0
// holds cpus 0-3 and their siblings 4-7, node 1 holds 8-11 and their siblings 12-15.
inline core::Machine two_nodes_smt() {
    core::Machine m;
    for (int cpu = 0; cpu < 16; ++cpu) {
        int node = cpu / 8;
        int core = node * 4 + cpu % 4;
        m.cpus.push_back(core::MachineCpu{cpu, node, core});
    }
    m.nodes = {0, 1};
    m.distance = {{10, 21}, {21, 10}};
    m.affinity = cpu_range(0, 15);
    return m;
}

// The same machine seen by a process started with taskset -c 0-1.
inline core::Machine two_nodes_restricted() {
    core::Machine m = two_nodes_smt();
    m.affinity = cpu_range(0, 1);
    return m;
}

inline core::Machine single_node(int cpus) {
    core::Machine m;
    for (int cpu = 0; cpu < cpus; ++cpu) {
        m.cpus.push_back(core::MachineCpu{cpu, 0, cpu});
    }
    m.nodes = {0};
    m.distance = {{10}};
    m.affinity = cpu_range(0, cpus - 1);
    return m;
}

} // namespace gatio::test
