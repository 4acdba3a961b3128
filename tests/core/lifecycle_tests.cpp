// Starting and stopping drivers: the start barrier, failures naming driver/CPU/cause, pinning,
// memory policy, module hooks and the stop protocol.
#include <atomic>
#include <memory>
#include <mutex>
#include <numaif.h>
#include <sched.h>
#include <stdexcept>
#include <thread>
#include <vector>

#include "harness.hpp"

using namespace gatio;
using namespace gatio::core;
using test::LambdaModule;

namespace {

struct Events {
    std::mutex mutex;
    std::vector<std::string> log;
    void add(std::string e) {
        std::lock_guard lock(mutex);
        log.push_back(std::move(e));
    }
    std::size_t count(const std::string& e) {
        std::lock_guard lock(mutex);
        return static_cast<std::size_t>(std::count(log.begin(), log.end(), e));
    }
};

} // namespace

TEST_CASE("drivers start behind a barrier, run module hooks on their own thread and stop", "[runtime]") {
    Runtime rt(test::topology(2), test::machine(), {}, test::options_for(2));
    Events events;
    std::atomic<int> wrong_thread{0};
    std::atomic<int> polls_after_start{0};
    std::atomic<bool> released{false};
    for (int i = 0; i < 2; ++i) {
        auto m = std::make_unique<LambdaModule>();
        m->on_start = [&, i](Driver& d) {
            if (Driver::current() != &d || d.index() != i || sched_getcpu() != d.cpu()) {
                ++wrong_thread;
            }
            // The barrier has not released: start() must still be waiting for us.
            if (released.load()) {
                ++wrong_thread;
            }
            events.add("start");
        };
        m->on_poll = [&](Driver& d) {
            if (Driver::current() != &d) {
                ++wrong_thread;
            }
            ++polls_after_start;
            return false;
        };
        m->on_drain = [&](Driver&) { events.add("drain"); };
        m->on_stop = [&](Driver& d) {
            if (!d.draining()) {
                ++wrong_thread;
            }
            events.add("stop");
        };
        rt.attach(i, std::move(m));
    }
    REQUIRE(rt.start().empty());
    released = true;
    CHECK(events.count("start") == 2);
    REQUIRE(rt.post(0, [](Driver&) {}));
    REQUIRE(rt.post(1, [](Driver&) {}));
    REQUIRE(test::wait_until([&] { return rt.counters(0).loop_turns > 1 && rt.counters(1).loop_turns > 1; }));
    CHECK(polls_after_start.load() > 0);
    CHECK(rt.counters(0).heartbeat_ns > 0);
    CHECK(rt.counters(0).enter_calls > 0);
    CHECK(rt.driver(1).features().sq_entries == 64);

    rt.request_stop(std::chrono::milliseconds(5'000));
    rt.join();
    CHECK(events.count("drain") == 2);
    CHECK(events.count("stop") == 2);
    CHECK(wrong_thread.load() == 0);
    CHECK(rt.failure().empty());
}

TEST_CASE("every driver thread stays on its CPU under load", "[runtime][pinning]") {
    const std::size_t n = test::allowed_cpus().size();
    Runtime rt(test::topology(n), test::machine(), {}, test::options_for(n));
    constexpr int samples_per_driver = 2000;
    std::vector<std::atomic<int>> samples(n), misplaced(n);
    for (std::size_t i = 0; i < n; ++i) {
        auto m = std::make_unique<LambdaModule>();
        // Sample on every loop turn while spinning a little, so the scheduler has reasons to move us.
        m->on_poll = [&, i](Driver& d) {
            if (samples[i].load(std::memory_order_relaxed) >= samples_per_driver) {
                return false;
            }
            auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(200);
            while (std::chrono::steady_clock::now() < until) {
                if (sched_getcpu() != d.cpu()) {
                    misplaced[i].fetch_add(1, std::memory_order_relaxed);
                }
            }
            samples[i].fetch_add(1, std::memory_order_relaxed);
            return true;
        };
        rt.attach(static_cast<int>(i), std::move(m));
    }
    // Unpinned threads competing for the same CPUs.
    std::atomic<bool> stop_load{false};
    std::vector<std::thread> load;
    for (std::size_t i = 0; i < 2 * n; ++i) {
        load.emplace_back([&] {
            while (!stop_load.load(std::memory_order_relaxed)) {
                std::this_thread::yield();
            }
        });
    }
    REQUIRE(rt.start().empty());
    bool done = test::wait_until([&] {
        for (auto& s : samples) {
            if (s.load() < samples_per_driver) {
                return false;
            }
        }
        return true;
    });
    stop_load = true;
    for (auto& t : load) {
        t.join();
    }
    rt.request_stop();
    rt.join();
    REQUIRE(done);
    for (std::size_t i = 0; i < n; ++i) {
        INFO("driver " << i);
        CHECK(samples[i].load() >= samples_per_driver);
        CHECK(misplaced[i].load() == 0);
    }
}

TEST_CASE("driver threads and TPC arenas carry the TPC's memory policy", "[runtime][numa]") {
    auto policy = GENERATE(config::MemoryPolicy::bind, config::MemoryPolicy::preferred,
                           config::MemoryPolicy::interleave, config::MemoryPolicy::local);
    INFO("policy " << static_cast<int>(policy));
    const int expected = policy == config::MemoryPolicy::bind         ? MPOL_BIND
                         : policy == config::MemoryPolicy::preferred  ? MPOL_PREFERRED
                         : policy == config::MemoryPolicy::interleave ? MPOL_INTERLEAVE
                                                                      : MPOL_LOCAL;
    Runtime rt(test::topology({config::DriverRole::io_exec, config::DriverRole::io_exec}, policy),
               test::machine(), {}, test::options_for(2));
    std::vector<std::atomic<int>> thread_mode(2), range_mode(2), page_node(2);
    std::vector<std::atomic<bool>> node0_in_mask(2);
    for (int i = 0; i < 2; ++i) {
        thread_mode[static_cast<std::size_t>(i)] = -1;
        auto m = std::make_unique<LambdaModule>();
        m->on_start = [&, i](Driver& d) {
            auto k = static_cast<std::size_t>(i);
            int mode = -1;
            unsigned long mask[16] = {};
            if (get_mempolicy(&mode, mask, sizeof(mask) * 8, nullptr, 0) != 0) {
                mode = -2;
            }
            thread_mode[k] = mode;
            node0_in_mask[k] = (mask[0] & 1ul) != 0;
            // A page the driver took from its arena.
            void* p = d.arena().allocate(4096, 4096);
            int rmode = -1;
            if (get_mempolicy(&rmode, nullptr, 0, p, MPOL_F_ADDR) != 0) {
                rmode = -2;
            }
            range_mode[k] = rmode;
            int node = -1;
            if (get_mempolicy(&node, nullptr, 0, p, MPOL_F_ADDR | MPOL_F_NODE) != 0) {
                node = -2;
            }
            page_node[k] = node;
        };
        rt.attach(i, std::move(m));
    }
    REQUIRE(rt.start().empty());
    rt.request_stop();
    rt.join();
    for (std::size_t k = 0; k < 2; ++k) {
        CHECK(thread_mode[k].load() == expected);
        CHECK(range_mode[k].load() == expected);
        CHECK(page_node[k].load() == 0);
        if (policy != config::MemoryPolicy::local) {
            CHECK(node0_in_mask[k].load());
        }
    }
}

TEST_CASE("a module failing to start fails the whole start, naming driver, CPU and cause", "[runtime]") {
    Runtime rt(test::topology(2), test::machine(), {}, test::options_for(2));
    std::atomic<int> stopped{0};
    auto good = std::make_unique<LambdaModule>();
    good->on_stop = [&](Driver&) { ++stopped; };
    rt.attach(0, std::move(good));
    auto bad = std::make_unique<LambdaModule>();
    bad->on_start = [](Driver&) { throw std::runtime_error("listener web: address in use"); };
    rt.attach(1, std::move(bad));

    std::string error = rt.start();
    INFO(error);
    CHECK(error.find("driver d1") != std::string::npos);
    CHECK(error.find("CPU " + std::to_string(test::cpu_for(1))) != std::string::npos);
    CHECK(error.find("TPC node0") != std::string::npos);
    CHECK(error.find("address in use") != std::string::npos);
    CHECK(error.find("driver d0") == std::string::npos);
    // The driver that had started its module stopped it again.
    CHECK(stopped.load() == 1);
    CHECK_FALSE(rt.post(0, [](Driver&) {}));
    rt.join();
}

TEST_CASE("a ring the kernel refuses names the io_uring set-up as the cause", "[runtime]") {
    config::RingSettings huge = test::small_ring();
    huge.ring_entries = 1u << 20; // above IORING_MAX_ENTRIES
    Runtime rt(test::topology({config::DriverRole::io_exec}, config::MemoryPolicy::bind, huge),
               test::machine(), {}, test::options_for(1));
    std::string error = rt.start();
    INFO(error);
    CHECK(error.find("driver d0 (CPU " + std::to_string(test::cpu_for(0)) + ", TPC node0)") !=
          std::string::npos);
    CHECK(error.find("io_uring setup") != std::string::npos);
}

TEST_CASE("a CPU outside the machine names the pinning as the cause", "[runtime]") {
    Topology t = test::topology(1);
    const int missing = test::allowed_cpus().back() + 1;
    t.tpcs[0].drivers[0].cpu = missing;
    Runtime rt(t, test::machine(), {}, test::options_for(1));
    std::string error = rt.start();
    INFO(error);
    CHECK(error.find("CPU " + std::to_string(missing)) != std::string::npos);
    CHECK(error.find("pinning") != std::string::npos);
}

TEST_CASE("two drivers on one CPU are refused unless allowed", "[runtime]") {
    Topology t = test::topology(2);
    t.tpcs[0].drivers[1].cpu = t.tpcs[0].drivers[0].cpu;
    CHECK_THROWS_WITH(Runtime(t, test::machine(), {}, RuntimeOptions{}),
                      Catch::Contains("driver d1") && Catch::Contains("already used"));
    RuntimeOptions shared;
    shared.allow_shared_cpus = true;
    Runtime rt(t, test::machine(), {}, shared);
    REQUIRE(rt.start().empty());
    rt.request_stop();
    rt.join();
}

TEST_CASE("a stop waits for modules to drain, up to the grace period", "[runtime]") {
    Runtime rt(test::topology(2), test::machine(), {}, test::options_for(2));
    std::atomic<int> drained_polls{0};
    std::atomic<int> never_polls{0};
    std::atomic<bool> finish{false};
    auto slow = std::make_unique<LambdaModule>();
    slow->on_drained = [&](Driver&) {
        ++drained_polls;
        return finish.load();
    };
    rt.attach(0, std::move(slow));
    auto never = std::make_unique<LambdaModule>();
    never->on_drained = [&](Driver&) {
        ++never_polls;
        return false;
    };
    rt.attach(1, std::move(never));
    REQUIRE(rt.start().empty());

    constexpr auto grace = std::chrono::milliseconds(500);
    auto asked = std::chrono::steady_clock::now();
    rt.request_stop(grace);
    REQUIRE(test::wait_until([&] { return drained_polls.load() > 3; }));
    finish = true;
    rt.join(); // driver 1 never drains: only its deadline ends the stop
    CHECK(std::chrono::steady_clock::now() - asked >= grace);
    CHECK(never_polls.load() > 1);
}
