// Building small runtimes for tests: hand-written topologies on the CPUs this machine has,
// a one-node machine description, and bounded waits.
#pragma once

#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <sched.h>
#include <string>
#include <thread>
#include <vector>

#include "core/capabilities.hpp"
#include "core/runtime.hpp"

namespace gatio::test {

// CPUs this process may run on, ascending.
inline std::vector<int> allowed_cpus() {
    cpu_set_t set;
    CPU_ZERO(&set);
    sched_getaffinity(0, sizeof set, &set);
    std::vector<int> out;
    for (int c = 0; c < CPU_SETSIZE; ++c) {
        if (CPU_ISSET(c, &set)) {
            out.push_back(c);
        }
    }
    return out;
}

// The i-th allowed CPU, wrapping: with more drivers than CPUs, drivers share (the runtime
// must then be built with allow_shared_cpus).
inline int cpu_for(std::size_t i) {
    static const std::vector<int> cpus = allowed_cpus();
    return cpus[i % cpus.size()];
}

inline config::RingSettings small_ring() {
    config::RingSettings r;
    r.ring_entries = 64;
    r.buffer_size = 4096;
    r.buffer_count = 16;
    return r;
}

// One TPC on node 0 holding one driver per entry of `roles`, on CPUs cpu_for(0), cpu_for(1), ...
inline core::Topology topology(std::vector<config::DriverRole> roles,
                               config::MemoryPolicy memory = config::MemoryPolicy::bind,
                               config::RingSettings ring = small_ring()) {
    core::TpcPlan tpc;
    tpc.name = "node0";
    tpc.index = 0;
    tpc.numa_node = 0;
    tpc.memory = memory;
    for (std::size_t i = 0; i < roles.size(); ++i) {
        core::DriverPlan d;
        d.name = 'd' + std::to_string(i);
        d.index = static_cast<int>(i);
        d.cpu = cpu_for(i);
        d.role = roles[i];
        d.ring = ring;
        tpc.drivers.push_back(d);
    }
    core::Topology t;
    t.tpcs.push_back(tpc);
    return t;
}

inline core::Topology topology(std::size_t drivers) {
    return topology(std::vector<config::DriverRole>(drivers, config::DriverRole::io_exec));
}

inline core::Machine machine() {
    core::Machine m;
    for (int c : allowed_cpus()) {
        m.cpus.push_back(core::MachineCpu{c, 0, c});
        m.affinity.add(c);
    }
    m.nodes = {0};
    m.distance = {{10}};
    return m;
}

// What this kernel offers, probed once per test process as gatiod does once per run.
inline const core::KernelSupport& kernel() {
    static const core::KernelSupport support = core::probe_kernel().support;
    return support;
}

inline core::RuntimeOptions options_for(std::size_t drivers) {
    core::RuntimeOptions o;
    o.kernel = kernel();
    o.defaults.task_slots = 1024;
    o.defaults.timer_slots = 1024;
    o.timer_wheel_slots = 256;
    o.allow_shared_cpus = drivers > allowed_cpus().size();
    return o;
}

// Polls `done` until it holds or `limit` passes; true when it held.
inline bool wait_until(const std::function<bool()>& done,
                       std::chrono::milliseconds limit = std::chrono::milliseconds(20'000)) {
    auto until = std::chrono::steady_clock::now() + limit;
    while (!done()) {
        if (std::chrono::steady_clock::now() > until) {
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
}

// A module made of lambdas, for tests that need code on a driver thread.
struct LambdaModule : core::DriverModule {
    std::function<void(core::Driver&)> on_start = [](core::Driver&) {};
    std::function<bool(core::Driver&)> on_poll = [](core::Driver&) { return false; };
    std::function<void(core::Driver&)> on_drain = [](core::Driver&) {};
    std::function<bool(core::Driver&)> on_drained = [](core::Driver&) { return true; };
    std::function<void(core::Driver&)> on_stop = [](core::Driver&) {};

    void start(core::Driver& d) override { on_start(d); }
    bool poll(core::Driver& d) override { return on_poll(d); }
    void drain(core::Driver& d) override { on_drain(d); }
    bool drained(core::Driver& d) override { return on_drained(d); }
    void stop(core::Driver& d) override { on_stop(d); }
};

} // namespace gatio::test
