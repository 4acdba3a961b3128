// Task placement and priorities: least_loaded avoids a busy driver, results come back to the
// submitter, latency tasks go first without starving batch tasks, hints for io-only drivers; the
// choice itself (decay, two choices, reservations, keys) on signals set by hand, and roles and
// keys end to end.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <numeric>
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

// ---- The choice itself, on signals set by hand (core/placement.hpp) ----

namespace {

struct Signals {
    explicit Signals(std::size_t n) : cells(n) {
        for (auto& c : cells) {
            table.push_back(&c);
        }
    }
    std::vector<ExecutorSignals> cells;
    std::vector<const ExecutorSignals*> table;
};

} // namespace

TEST_CASE("a busy figure holds for one window, then decays to nothing", "[placement]") {
    const std::int64_t t0 = 1'000'000'000;
    CHECK(decayed_busy(800, t0, t0) == 800);
    CHECK(decayed_busy(800, t0, t0 + busy_window_ns) == 800);
    CHECK(decayed_busy(800, t0, t0 + busy_window_ns + busy_decay_ns / 2) == 400);
    CHECK(decayed_busy(800, t0, t0 + busy_window_ns + busy_decay_ns) == 0);
    CHECK(decayed_busy(800, t0, t0 + 10 * busy_decay_ns) == 0);

    // A sleeping driver's frozen figure no longer outweighs nothing.
    Signals s(2);
    s.cells[0].busy_permille = 1000;
    s.cells[0].busy_at_ns = t0;
    CHECK(placement_score(s.cells[0], t0) > placement_score(s.cells[1], t0));
    CHECK(placement_score(s.cells[0], t0 + busy_window_ns + busy_decay_ns) ==
          placement_score(s.cells[1], t0));
}

TEST_CASE("depth outweighs busy time, and a long-running batch counts as depth", "[placement]") {
    const std::int64_t now = 5'000'000'000;
    Signals s(2);
    s.cells[0].busy_permille = 1000;
    s.cells[0].busy_at_ns = now;
    s.cells[1].depth = 1;
    CHECK(placement_score(s.cells[0], now) < placement_score(s.cells[1], now));
    s.cells[0].running_since_ns = now - 10 * running_weight_ns;
    CHECK(placement_score(s.cells[0], now) > placement_score(s.cells[1], now));
}

TEST_CASE("two choices take the lower score, never the worst, and are reproducible by seed", "[placement]") {
    const std::int64_t now = 1;
    Signals s(4);
    s.cells[0].depth = 3;
    s.cells[1].depth = 1;
    s.cells[2].depth = 9; // the worst: loses every pair it is drawn into
    s.cells[3].depth = 2;
    const std::vector<int> all{0, 1, 2, 3};
    PlacementRng rng(42);
    std::vector<int> picked(4);
    std::vector<int> sequence;
    for (int i = 0; i < 4000; ++i) {
        Choice c = two_choices(all, s.table, rng, now);
        REQUIRE(c.driver >= 0);
        CHECK(c.score == placement_score(s.cells[static_cast<std::size_t>(c.driver)], now));
        ++picked[static_cast<std::size_t>(c.driver)];
        if (i < 64) {
            sequence.push_back(c.driver);
        }
    }
    CHECK(picked[2] == 0);
    // Pairs are uniform: the best wins each of its 3 pairs of 6 (about half of the draws), the
    // second best 2 of 6, the third 1 of 6.
    CHECK(picked[1] > picked[3]);
    CHECK(picked[3] > picked[0]);
    CHECK(picked[0] > 400);

    PlacementRng again(42);
    std::vector<int> replay;
    for (int i = 0; i < 64; ++i) {
        replay.push_back(two_choices(all, s.table, again, now).driver);
    }
    CHECK(replay == sequence);

    // Two candidates: the lower one, whatever the draw; one: itself; none: none.
    const std::vector<int> pair{1, 3};
    for (int i = 0; i < 100; ++i) {
        CHECK(two_choices(pair, s.table, rng, now).driver == 1);
    }
    CHECK(two_choices(std::vector<int>{2}, s.table, rng, now).driver == 2);
    CHECK(two_choices({}, s.table, rng, now).driver == -1);
}

TEST_CASE("reservations spread a burst of choices instead of herding them onto one driver", "[placement]") {
    // Eight submitters choose at once; each choice reserves its executor at once, as
    // Driver::submit does, and nothing finishes meanwhile.
    const std::int64_t now = 1;
    Signals s(8);
    std::vector<int> all(8);
    std::iota(all.begin(), all.end(), 0);
    std::vector<PlacementRng> submitters;
    for (std::uint64_t k = 0; k < 8; ++k) {
        submitters.emplace_back(k << 32);
    }
    for (int round = 0; round < 100; ++round) {
        for (auto& rng : submitters) {
            Choice c = two_choices(all, s.table, rng, now);
            s.cells[static_cast<std::size_t>(c.driver)].depth.fetch_add(1);
        }
    }
    std::uint32_t lo = UINT32_MAX, hi = 0;
    for (auto& c : s.cells) {
        lo = std::min(lo, c.depth.load());
        hi = std::max(hi, c.depth.load());
    }
    // 800 tasks over 8 drivers: with two choices the gap stays a few tasks.
    CHECK(lo + 4 >= hi);
    CHECK(lo > 90);
}

TEST_CASE("a key always maps to the same executor, and keys spread over all of them", "[placement]") {
    const std::vector<int> executors{1, 3, 4, 6};
    std::vector<int> count(7);
    for (std::uint64_t key = 0; key < 20000; ++key) {
        int d = key_executor(key, executors);
        REQUIRE(std::find(executors.begin(), executors.end(), d) != executors.end());
        CHECK(key_executor(key, executors) == d);
        ++count[static_cast<std::size_t>(d)];
    }
    for (int d : executors) {
        CHECK(count[static_cast<std::size_t>(d)] > 4500);
        CHECK(count[static_cast<std::size_t>(d)] < 5500);
    }
    CHECK(key_executor(7, {}) == -1);
}

TEST_CASE("placement honours roles from every submitter, and key tasks stay on their driver", "[placement]") {
    using config::DriverRole;
    RuntimeOptions o = test::options_for(4);
    o.allow_shared_cpus = true;
    Runtime rt(test::topology({DriverRole::io, DriverRole::exec, DriverRole::io_exec, DriverRole::io}),
               test::machine(), {}, o);
    CHECK(rt.exec_drivers() == std::vector<int>{1, 2});
    REQUIRE(rt.start().empty());

    constexpr int per_kind = 50;
    constexpr int keys = 8;
    std::vector<std::atomic<int>> ran_on(4);
    std::vector<std::atomic<int>> key_driver(keys);
    for (auto& k : key_driver) {
        k = -1;
    }
    std::atomic<int> key_moved{0}, pinned_wrong{0}, back{0}, refused{0};
    for (int submitter = 0; submitter < 4; ++submitter) {
        REQUIRE(rt.post(submitter, [&](Driver& d) {
            for (int i = 0; i < per_kind; ++i) {
                for (Placement where : {Placement::same_driver(), Placement::least_loaded()}) {
                    auto st = d.spawn(
                        where, Priority::latency,
                        [&](Driver& e) { ran_on[static_cast<std::size_t>(e.index())]++; },
                        [&](Driver&) { ++back; });
                    refused += st != SpawnStatus::ok ? 1 : 0;
                }
                const int key = i % keys;
                auto st = d.spawn(
                    Placement::key(static_cast<std::uint64_t>(key)), Priority::latency,
                    [&, key](Driver& e) {
                        int expected = -1;
                        auto& slot = key_driver[static_cast<std::size_t>(key)];
                        if (!slot.compare_exchange_strong(expected, e.index()) && expected != e.index()) {
                            ++key_moved;
                        }
                    },
                    [&](Driver&) { ++back; });
                refused += st != SpawnStatus::ok ? 1 : 0;
                // By index, an io-only driver is a valid target.
                st = d.spawn(
                    Placement::driver(3), Priority::latency,
                    [&](Driver& e) { pinned_wrong += e.index() != 3 ? 1 : 0; }, [&](Driver&) { ++back; });
                refused += st != SpawnStatus::ok ? 1 : 0;
            }
        }));
    }
    REQUIRE(test::wait_until([&] { return back.load() + refused.load() == 4 * per_kind * 4; }));
    // Every reservation was given back when its task finished.
    for (int d = 0; d < 4; ++d) {
        CHECK(rt.driver(d).signals().depth.load() == 0);
    }
    rt.request_stop();
    rt.join();
    CHECK(refused.load() == 0);
    CHECK(ran_on[0].load() == 0);
    CHECK(ran_on[3].load() == 0);
    CHECK(ran_on[1].load() + ran_on[2].load() == 4 * per_kind * 2);
    CHECK(ran_on[1].load() > 0);
    CHECK(ran_on[2].load() > 0);
    CHECK(key_moved.load() == 0);
    CHECK(pinned_wrong.load() == 0);
    for (auto& k : key_driver) {
        CHECK((k.load() == 1 || k.load() == 2));
    }
}
