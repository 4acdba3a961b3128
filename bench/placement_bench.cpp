// Task placement under skewed load: every driver submits tasks whose cost is skewed (most are
// short, a few are long), keeping a fixed number in flight, for each placement in turn; reports
// throughput and the p50/p99 latency from submission to the result's return, per placement.
//
//   placement_bench [--quick] [--drivers N] [--seconds S] [--window W] [--seed X]
//
// Defaults: drivers = max(4, allowed CPUs) (several per CPU when there are fewer CPUs, so the
// figures then include time sharing), 5 s per placement (1 s with --quick), 32 tasks in flight
// per driver. Costs: 90 % 2 us, 9 % 50 us, 1 % 1 ms of spinning.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <sched.h>
#include <string>
#include <thread>
#include <vector>

#include "core/capabilities.hpp"
#include "core/placement.hpp"
#include "core/runtime.hpp"

using namespace gatio;
using namespace gatio::core;
using Clock = std::chrono::steady_clock;

namespace {

struct Settings {
    int drivers = 0;
    double seconds = 5;
    std::uint32_t window = 32;
    std::uint64_t seed = 1;
};

enum class Kind { same_driver, least_loaded, key, round_robin };

const char* name_of(Kind k) {
    switch (k) {
    case Kind::same_driver:
        return "same_driver";
    case Kind::least_loaded:
        return "least_loaded";
    case Kind::key:
        return "key";
    case Kind::round_robin:
        return "driver(n) round robin";
    }
    return "?";
}

std::vector<int> allowed_cpus() {
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

void spin_for(std::chrono::nanoseconds d) {
    const auto end = Clock::now() + d;
    while (Clock::now() < end) {
    }
}

std::chrono::nanoseconds cost_of(std::uint32_t draw) {
    // draw uniform in [0, 1000)
    if (draw < 900) {
        return std::chrono::microseconds(2);
    }
    if (draw < 990) {
        return std::chrono::microseconds(50);
    }
    return std::chrono::milliseconds(1);
}

class Submitter final : public DriverModule {
public:
    Submitter(Kind kind, std::uint32_t window, std::uint64_t seed, int drivers)
        : kind_(kind), window_(window), rng_(seed), drivers_(drivers) {
        latencies_ns.reserve(1 << 20);
    }

    void start(Driver&) override {}
    bool poll(Driver& d) override {
        if (!go.load(std::memory_order_acquire) || stop.load(std::memory_order_acquire)) {
            return false;
        }
        while (in_flight_ < window_) {
            const auto cost = cost_of(rng_.below(1000));
            const auto sent = Clock::now();
            Placement where = Placement::same_driver();
            switch (kind_) {
            case Kind::same_driver:
                break;
            case Kind::least_loaded:
                where = Placement::least_loaded();
                break;
            case Kind::key:
                where = Placement::key(rng_.next());
                break;
            case Kind::round_robin:
                where = Placement::driver(
                    static_cast<int>(next_target_++ % static_cast<std::uint32_t>(drivers_)));
                break;
            }
            SpawnStatus s = d.spawn(
                where, Priority::latency, [cost](Driver&) { spin_for(cost); },
                [this, sent](Driver&) {
                    --in_flight_;
                    outstanding.fetch_sub(1, std::memory_order_release);
                    latencies_ns.push_back(
                        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - sent).count());
                });
            if (s != SpawnStatus::ok) {
                ++refused;
                return false;
            }
            ++in_flight_;
            outstanding.fetch_add(1, std::memory_order_relaxed);
        }
        return false;
    }

    std::atomic<bool> go{false};
    std::atomic<bool> stop{false};
    std::atomic<std::uint32_t> outstanding{0};
    std::vector<std::int64_t> latencies_ns; // its driver's thread until the run has stopped
    std::uint64_t refused = 0;

private:
    Kind kind_;
    std::uint32_t window_;
    PlacementRng rng_;
    int drivers_;
    std::uint32_t in_flight_ = 0;
    std::uint32_t next_target_ = 0;
};

struct Row {
    double tasks_per_s = 0;
    double p50_us = 0;
    double p99_us = 0;
    std::uint64_t refused = 0;
};

Row run(Kind kind, const Settings& s, const std::vector<int>& cpus) {
    Topology topology;
    TpcPlan tpc;
    tpc.name = "node0";
    for (int i = 0; i < s.drivers; ++i) {
        DriverPlan d;
        d.name = 'd' + std::to_string(i);
        d.index = i;
        d.cpu = cpus[static_cast<std::size_t>(i) % cpus.size()];
        d.ring.buffer_count = 16;
        d.ring.buffer_size = 4096;
        tpc.drivers.push_back(d);
    }
    topology.tpcs.push_back(tpc);
    Machine machine;
    machine.nodes = {0};
    machine.distance = {{10}};
    static const KernelSupport kernel = probe_kernel().support;
    RuntimeOptions options;
    options.kernel = kernel;
    options.allow_shared_cpus = static_cast<std::size_t>(s.drivers) > cpus.size();
    options.placement_seed = s.seed;
    Runtime rt(topology, machine, {}, options);
    std::vector<Submitter*> subs;
    for (int i = 0; i < s.drivers; ++i) {
        auto m = std::make_unique<Submitter>(kind, s.window, s.seed * 1000 + static_cast<std::uint64_t>(i),
                                             s.drivers);
        subs.push_back(m.get());
        rt.attach(i, std::move(m));
    }
    if (std::string error = rt.start(); !error.empty()) {
        std::fprintf(stderr, "start failed: %s\n", error.c_str());
        std::exit(1);
    }
    const auto began = Clock::now();
    for (int i = 0; i < s.drivers; ++i) {
        subs[static_cast<std::size_t>(i)]->go.store(true, std::memory_order_release);
        rt.post(i, [](Driver&) {}); // a turn, so the module polls
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(s.seconds));
    for (auto* m : subs) {
        m->stop.store(true, std::memory_order_release);
    }
    for (auto* m : subs) {
        while (m->outstanding.load(std::memory_order_acquire) != 0) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    }
    const double elapsed = std::chrono::duration<double>(Clock::now() - began).count();
    rt.request_stop();
    rt.join();

    std::vector<std::int64_t> all;
    Row r;
    for (auto* m : subs) {
        all.insert(all.end(), m->latencies_ns.begin(), m->latencies_ns.end());
        r.refused += m->refused;
    }
    if (all.empty()) {
        return r;
    }
    std::sort(all.begin(), all.end());
    r.tasks_per_s = static_cast<double>(all.size()) / elapsed;
    r.p50_us = static_cast<double>(all[all.size() / 2]) / 1000.0;
    r.p99_us = static_cast<double>(all[all.size() * 99 / 100]) / 1000.0;
    return r;
}

} // namespace

int main(int argc, char** argv) {
    Settings s;
    bool quick = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> const char* {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "%s needs a value\n", a.c_str());
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--quick") {
            quick = true;
        } else if (a == "--drivers") {
            s.drivers = std::atoi(value());
        } else if (a == "--seconds") {
            s.seconds = std::atof(value());
        } else if (a == "--window") {
            s.window = static_cast<std::uint32_t>(std::atoi(value()));
        } else if (a == "--seed") {
            s.seed = std::strtoull(value(), nullptr, 10);
        } else {
            std::fprintf(
                stderr,
                "usage: placement_bench [--quick] [--drivers N] [--seconds S] [--window W] [--seed X]\n");
            return 2;
        }
    }
    const std::vector<int> cpus = allowed_cpus();
    if (s.drivers <= 0) {
        s.drivers = std::max<int>(4, static_cast<int>(cpus.size()));
    }
    if (quick) {
        s.seconds = std::min(s.seconds, 1.0);
    }
    std::printf(
        "placement_bench: %d drivers on %zu CPUs, %.1f s per placement, %u tasks in flight per driver\n",
        s.drivers, cpus.size(), s.seconds, s.window);
    std::printf("task costs: 90%% 2 us, 9%% 50 us, 1%% 1 ms; latency = submission to result back\n\n");
    std::printf("| placement | tasks/s | p50 us | p99 us | refused |\n|---|---:|---:|---:|---:|\n");
    for (Kind k : {Kind::same_driver, Kind::least_loaded, Kind::key, Kind::round_robin}) {
        Row r = run(k, s, cpus);
        std::printf("| %s | %.0f | %.1f | %.1f | %llu |\n", name_of(k), r.tasks_per_s, r.p50_us, r.p99_us,
                    static_cast<unsigned long long>(r.refused));
        std::fflush(stdout);
    }
    return 0;
}
