// Task placement and priorities: least_loaded avoids a busy driver, results come back to the
// submitter, latency tasks go first without starving batch tasks, hints for io-only drivers.
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "harness.hpp"

using namespace gatio;
using namespace gatio::core;

TEST_CASE("least_loaded tasks avoid a busy driver and their results return to the submitter", "[tasks]") {
    RuntimeOptions o = test::options_for(3);
    o.allow_shared_cpus = true;
    Runtime rt(test::topology(3), test::machine(), {}, o);
    REQUIRE(rt.start().empty());

    // Keep driver 0 inside one long task until released.
    std::atomic<bool> release{false};
    std::atomic<bool> busy{false};
    std::atomic<bool> busy_task_done{false};
    REQUIRE(rt.post(0, [&](Driver& d) {
        auto s = d.spawn(
            Placement::same_driver(), Priority::latency,
            [&](Driver&) {
                auto began = std::chrono::steady_clock::now();
                while (!release.load()) {
                    if (std::chrono::steady_clock::now() - began > std::chrono::milliseconds(5)) {
                        busy = true;
                    }
                }
            },
            [&](Driver&) { busy_task_done = true; });
        (void)s;
    }));
    REQUIRE(test::wait_until([&] { return busy.load(); }));

    // Driver 1 submits pairs of tasks; the next pair leaves when both results are back.
    constexpr int pairs = 200;
    std::vector<std::atomic<int>> ran_on(3);
    std::atomic<int> results{0};
    std::atomic<int> wrong_submitter{0};
    struct Chain {
        int returned_in_pair = 0;
        int pairs_left = pairs;
    } chain; // driver 1's thread only
    std::function<void(Driver&)> submit_pair = [&](Driver& d) {
        for (int k = 0; k < 2; ++k) {
            auto s = d.spawn(
                Placement::least_loaded(), Priority::latency,
                [&](Driver& executor) {
                    ran_on[static_cast<std::size_t>(executor.index())].fetch_add(1);
                    return executor.index();
                },
                [&](Driver& back, int executor) {
                    if (back.index() != 1 || Driver::current() != &back || executor < 0) {
                        ++wrong_submitter;
                    }
                    ++results;
                    if (++chain.returned_in_pair == 2) {
                        chain.returned_in_pair = 0;
                        if (--chain.pairs_left > 0) {
                            submit_pair(back);
                        }
                    }
                });
            if (s != SpawnStatus::ok) {
                ++wrong_submitter;
            }
        }
    };
    REQUIRE(rt.post(1, [&](Driver& d) { submit_pair(d); }));
    bool all_back = test::wait_until([&] { return results.load() == 2 * pairs; });
    release = true;
    REQUIRE(test::wait_until([&] { return busy_task_done.load(); }));
    rt.request_stop();
    rt.join();

    REQUIRE(all_back);
    CHECK(wrong_submitter.load() == 0);
    CHECK(ran_on[0].load() == 0);
    CHECK(ran_on[1].load() + ran_on[2].load() == 2 * pairs);
    // Both idle drivers took work: the second task of a pair sees the first one queued.
    CHECK(ran_on[1].load() > 0);
    CHECK(ran_on[2].load() > 0);
}

TEST_CASE("latency tasks run first, and a batch task runs after every batch_share of them", "[tasks]") {
    RuntimeOptions o = test::options_for(1);
    o.batch_share = 8;
    Runtime rt(test::topology(1), test::machine(), {}, o);
    REQUIRE(rt.start().empty());
    std::string order; // driver 0's thread only, read after join
    std::atomic<int> finished{0};
    REQUIRE(rt.post(0, [&](Driver& d) {
        for (int i = 0; i < 20; ++i) {
            (void)d.spawn(
                Placement::same_driver(), Priority::batch, [&](Driver&) { order += 'B'; },
                [&](Driver&) { ++finished; });
        }
        for (int i = 0; i < 40; ++i) {
            (void)d.spawn(
                Placement::same_driver(), Priority::latency, [&](Driver&) { order += 'L'; },
                [&](Driver&) { ++finished; });
        }
    }));
    REQUIRE(test::wait_until([&] { return finished.load() == 60; }));
    rt.request_stop();
    rt.join();
    std::string expected;
    for (int round = 0; round < 5; ++round) {
        expected += std::string(8, 'L') + "B";
    }
    expected += std::string(15, 'B');
    CHECK(order == expected);
}

TEST_CASE("values computed on another driver come back to the submitter", "[tasks]") {
    Runtime rt(test::topology(2), test::machine(), {}, test::options_for(2));
    REQUIRE(rt.start().empty());
    std::atomic<long> sum{0};
    std::atomic<int> back{0};
    std::atomic<int> wrong{0};
    REQUIRE(rt.post(0, [&](Driver& d) {
        for (int i = 1; i <= 100; ++i) {
            auto s = d.spawn(
                Placement::driver(1), Priority::batch,
                [i](Driver& executor) { return std::make_pair(executor.index(), static_cast<long>(i) * i); },
                [&](Driver& submitter, std::pair<int, long> r) {
                    if (submitter.index() != 0 || r.first != 1) {
                        ++wrong;
                    }
                    sum += r.second;
                    ++back;
                });
            if (s != SpawnStatus::ok) {
                ++wrong;
            }
        }
    }));
    REQUIRE(test::wait_until([&] { return back.load() == 100; }));
    rt.request_stop();
    rt.join();
    CHECK(wrong.load() == 0);
    CHECK(sum.load() == 338350); // sum of squares 1..100
}

TEST_CASE("placement hints: io-only submitters, unknown drivers, exhausted slots", "[tasks]") {
    RuntimeOptions o = test::options_for(2);
    o.defaults.task_slots = 2;
    Runtime rt(test::topology({config::DriverRole::io, config::DriverRole::exec}), test::machine(), {}, o);
    REQUIRE(rt.start().empty());
    std::atomic<int> same_ran_on{-1}, least_ran_on{-1};
    std::atomic<int> invalid{-1}, third{-1};
    std::atomic<int> done{0};
    REQUIRE(rt.post(0, [&](Driver& d) {
        // An unknown driver is refused without keeping the slot.
        invalid = static_cast<int>(d.post(99, [](Driver&) {}));
        // Driver 0 does not execute tasks: same_driver falls back to least_loaded.
        (void)d.spawn(
            Placement::same_driver(), Priority::latency, [&](Driver& e) { same_ran_on = e.index(); },
            [&](Driver&) { ++done; });
        (void)d.spawn(
            Placement::least_loaded(), Priority::latency, [&](Driver& e) { least_ran_on = e.index(); },
            [&](Driver&) { ++done; });
        // Both slots are in flight now.
        third = static_cast<int>(d.spawn(
            Placement::driver(1), Priority::latency, [](Driver&) {}, [](Driver&) {}));
    }));
    REQUIRE(test::wait_until([&] { return done.load() == 2; }));
    rt.request_stop();
    rt.join();
    CHECK(same_ran_on.load() == 1);
    CHECK(least_ran_on.load() == 1);
    CHECK(third.load() == static_cast<int>(SpawnStatus::full));
    CHECK(invalid.load() == static_cast<int>(SpawnStatus::invalid_target));
    CHECK(rt.counters(0).spawn_refused == 1);
}

TEST_CASE("least_loaded stays on the submitter's node until it is loaded, then goes to the nearest node",
          "[tasks][numa]") {
    // Three TPCs on three described nodes (policy local, so no memory is bound to the fake ones):
    // node 0 is 20 from node 2 and 30 from node 1.
    auto driver = [](const char* name, int index, int cpu, config::DriverRole role) {
        DriverPlan d;
        d.name = name;
        d.index = index;
        d.cpu = cpu;
        d.role = role;
        d.ring = test::small_ring();
        return d;
    };
    auto tpc = [](const char* name, int index, int node, std::vector<DriverPlan> drivers) {
        TpcPlan t;
        t.name = name;
        t.index = index;
        t.numa_node = node;
        t.memory = config::MemoryPolicy::local;
        t.drivers = std::move(drivers);
        return t;
    };
    Topology topology;
    topology.tpcs.push_back(tpc("n0", 0, 0,
                                {driver("exec0", 0, test::cpu_for(0), config::DriverRole::exec),
                                 driver("io0", 1, test::cpu_for(1), config::DriverRole::io)}));
    topology.tpcs.push_back(
        tpc("n1", 1, 1, {driver("exec1", 2, test::cpu_for(0), config::DriverRole::exec)}));
    topology.tpcs.push_back(
        tpc("n2", 2, 2, {driver("exec2", 3, test::cpu_for(1), config::DriverRole::exec)}));
    Machine machine = test::machine();
    machine.nodes = {0, 1, 2};
    machine.distance = {{10, 30, 20}, {30, 10, 25}, {20, 25, 10}};
    RuntimeOptions o = test::options_for(4);
    o.allow_shared_cpus = true;
    o.spill_threshold = 1;
    Runtime rt(topology, machine, {}, o);
    CHECK(rt.tpc(0).nearest() == std::vector<int>{0, 2, 1});
    CHECK(rt.tpc(1).nearest() == std::vector<int>{1, 2, 0});
    CHECK(rt.tpc(2).nearest() == std::vector<int>{2, 0, 1});
    REQUIRE(rt.start().empty());

    // Driver io0 submits one task at a time and records where each ran.
    std::vector<std::atomic<int>> ran_on(4);
    std::atomic<int> finished{0};
    int left = 0; // io0's thread only
    std::function<void(Driver&)> next = [&](Driver& d) {
        auto s = d.spawn(
            Placement::least_loaded(), Priority::latency,
            [&](Driver& e) { ran_on[static_cast<std::size_t>(e.index())]++; },
            [&](Driver& back) {
                if (--left > 0) {
                    next(back);
                } else {
                    ++finished;
                }
            });
        if (s != SpawnStatus::ok) {
            ++finished;
        }
    };
    auto run_batch = [&](int tasks) {
        int before = finished.load();
        REQUIRE(rt.post(1, [&, tasks](Driver& d) {
            left = tasks;
            next(d);
        }));
        REQUIRE(test::wait_until([&] { return finished.load() == before + 1; }));
    };

    run_batch(50); // exec0, on io0's own node, is idle: everything stays local
    CHECK(ran_on[0].load() == 50);
    CHECK(ran_on[2].load() + ran_on[3].load() == 0);

    std::atomic<bool> release{false}, busy{false};
    REQUIRE(rt.post(0, [&](Driver& d) {
        (void)d.spawn(
            Placement::same_driver(), Priority::latency,
            [&](Driver&) {
                auto began = std::chrono::steady_clock::now();
                while (!release.load()) {
                    if (std::chrono::steady_clock::now() - began > std::chrono::milliseconds(5)) {
                        busy = true;
                    }
                }
            },
            [](Driver&) {});
    }));
    REQUIRE(test::wait_until([&] { return busy.load(); }));
    run_batch(50); // exec0 is stuck in a long task: spill to node 2 (distance 20), not node 1 (30)
    release = true;
    rt.request_stop();
    rt.join();
    CHECK(ran_on[0].load() == 50);
    CHECK(ran_on[3].load() == 50);
    CHECK(ran_on[2].load() == 0);
}
