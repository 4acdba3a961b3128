// The timer wheel on its own (explicit time) and on a driver (the ring timeout wakes it).
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <random>
#include <time.h>
#include <vector>

#include "core/clock.hpp"
#include "core/timer_wheel.hpp"
#include "harness.hpp"

using namespace gatio;
using namespace gatio::core;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;

namespace {

constexpr std::int64_t ms = 1'000'000;

struct WheelFixture {
    Arena arena{"timer test", 1u << 20, 0, config::MemoryPolicy::local};
    std::int64_t t0 = 1'000 * ms;
    TimerWheel wheel{arena, 64, 256, milliseconds(1), t0};
    std::vector<int> fired;
};

} // namespace

TEST_CASE("a timer never fires before its deadline", "[timers]") {
    WheelFixture f;
    f.wheel.schedule(f.t0 + 300'000, nanoseconds(5 * ms), [&] { f.fired.push_back(1); });
    // The deadline is t0 + 5.3 ms: not at 5 ms, not at 5.299 ms.
    CHECK(f.wheel.expire(f.t0 + 5 * ms) == 0);
    CHECK(f.wheel.expire(f.t0 + 5 * ms + 299'999) == 0);
    CHECK(f.fired.empty());
    CHECK(f.wheel.expire(f.t0 + 6 * ms) == 1);
    CHECK(f.fired == std::vector<int>{1});
    CHECK(f.wheel.size() == 0);
}

TEST_CASE("due timers fire in deadline order, ties in scheduling order", "[timers]") {
    WheelFixture f;
    f.wheel.schedule(f.t0, nanoseconds(30 * ms), [&] { f.fired.push_back(30); });
    f.wheel.schedule(f.t0, nanoseconds(10 * ms), [&] { f.fired.push_back(10); });
    f.wheel.schedule(f.t0, nanoseconds(20 * ms + 5), [&] { f.fired.push_back(20); });
    f.wheel.schedule(f.t0, nanoseconds(10 * ms), [&] { f.fired.push_back(11); });
    f.wheel.schedule(f.t0, nanoseconds(20 * ms + 1),
                     [&] { f.fired.push_back(19); }); // same tick as 20, earlier
    CHECK(f.wheel.expire(f.t0 + 100 * ms) == 5);
    CHECK(f.fired == std::vector<int>{10, 11, 19, 20, 30});
}

TEST_CASE("cancellation is exact and stale ids are harmless", "[timers]") {
    WheelFixture f;
    TimerId a = f.wheel.schedule(f.t0, nanoseconds(10 * ms), [&] { f.fired.push_back(1); });
    TimerId b = f.wheel.schedule(f.t0, nanoseconds(10 * ms), [&] { f.fired.push_back(2); });
    CHECK(f.wheel.cancel(a));
    CHECK_FALSE(f.wheel.cancel(a));
    CHECK(f.wheel.size() == 1);
    // a's slot is reused by c: a's old id must not cancel c.
    TimerId c = f.wheel.schedule(f.t0, nanoseconds(12 * ms), [&] { f.fired.push_back(3); });
    CHECK(c.index == a.index);
    CHECK_FALSE(f.wheel.cancel(a));
    CHECK(f.wheel.expire(f.t0 + 20 * ms) == 2);
    CHECK(f.fired == std::vector<int>{2, 3});
    CHECK_FALSE(f.wheel.cancel(b));
}

TEST_CASE("a timer scheduled for an owner is cancelled only by that owner", "[timers]") {
    WheelFixture f;
    int mine = 0, theirs = 0;
    TimerId a = f.wheel.schedule(
        f.t0, nanoseconds(10 * ms), [&] { f.fired.push_back(1); }, &mine);
    TimerId b = f.wheel.schedule(f.t0, nanoseconds(10 * ms), [&] { f.fired.push_back(2); });
    CHECK_FALSE(f.wheel.cancel(a, &theirs));
    CHECK_FALSE(f.wheel.cancel(a)); // no owner named: not the owner either
    CHECK_FALSE(f.wheel.cancel(b, &mine));
    CHECK(f.wheel.cancel(a, &mine));
    CHECK(f.wheel.expire(f.t0 + 20 * ms) == 1);
    CHECK(f.fired == std::vector<int>{2});
}

TEST_CASE("callbacks may cancel and schedule timers", "[timers]") {
    WheelFixture f;
    TimerId victim;
    f.wheel.schedule(f.t0, nanoseconds(5 * ms), [&] {
        f.fired.push_back(1);
        CHECK(f.wheel.cancel(victim)); // due in this same expire(), must not run
        f.wheel.schedule(f.t0 + 6 * ms, nanoseconds(0), [&] { f.fired.push_back(3); });
    });
    victim = f.wheel.schedule(f.t0, nanoseconds(6 * ms), [&] { f.fired.push_back(2); });
    CHECK(f.wheel.expire(f.t0 + 6 * ms) == 1);
    CHECK(f.fired == std::vector<int>{1});
    // The timer scheduled from a callback waits for a tick that has not been expired yet.
    CHECK(f.wheel.expire(f.t0 + 6 * ms) == 0);
    CHECK(f.wheel.expire(f.t0 + 7 * ms) == 1);
    CHECK(f.fired == std::vector<int>{1, 3});
}

TEST_CASE("timers beyond one lap of the wheel wait for their own lap", "[timers]") {
    WheelFixture f; // 256 slots of 1 ms
    f.wheel.schedule(f.t0, nanoseconds(5 * ms), [&] { f.fired.push_back(5); });
    f.wheel.schedule(f.t0, nanoseconds(1000 * ms), [&] { f.fired.push_back(1000); });
    f.wheel.schedule(f.t0, nanoseconds(1000 * ms + 256 * ms), [&] { f.fired.push_back(1256); });
    auto next = f.wheel.next_deadline_ns();
    REQUIRE(next.has_value());
    CHECK(*next <= f.t0 + 5 * ms);
    CHECK(f.wheel.expire(f.t0 + 999 * ms) == 1);
    // The bound may be early (another lap shares the slot) but never late.
    next = f.wheel.next_deadline_ns();
    REQUIRE(next.has_value());
    CHECK(*next <= f.t0 + 1000 * ms);
    // A stall far longer than a lap fires everything due, in order.
    CHECK(f.wheel.expire(f.t0 + 5000 * ms) == 2);
    CHECK(f.fired == std::vector<int>{5, 1000, 1256});
    CHECK_FALSE(f.wheel.next_deadline_ns().has_value());
}

TEST_CASE("a full wheel refuses new timers instead of allocating", "[timers]") {
    Arena arena{"timer test", 1u << 20, 0, config::MemoryPolicy::local};
    TimerWheel wheel{arena, 4, 64, milliseconds(1), 0};
    for (int i = 0; i < 4; ++i) {
        CHECK(wheel.schedule(0, nanoseconds(ms), [] {}).valid());
    }
    CHECK_FALSE(wheel.schedule(0, nanoseconds(ms), [] {}).valid());
    CHECK(wheel.expire(2 * ms) == 4);
    CHECK(wheel.schedule(2 * ms, nanoseconds(ms), [] {}).valid());
}

TEST_CASE("driver timers fire in order, never early, and cancelled ones never", "[timers]") {
    Runtime rt(test::topology(1), test::machine(), {}, test::options_for(1));
    REQUIRE(rt.start().empty());

    struct Fired {
        int id;
        std::int64_t deadline;
        std::int64_t at;
    };
    constexpr int count = 100;
    std::mutex mutex;
    std::vector<Fired> fired;
    std::vector<int> expected;
    std::atomic<bool> scheduled{false};
    std::atomic<int> wrong_thread{0};
    REQUIRE(rt.post(0, [&](Driver& d) {
        std::mt19937 random(42);
        std::uniform_int_distribution<int> delay_ms(0, 30);
        std::vector<TimerId> ids;
        for (int i = 0; i < count; ++i) {
            // The last one is the latest, so when it fires every other deadline has passed.
            nanoseconds delay(i == count - 1 ? 40 * ms : delay_ms(random) * ms + i);
            std::int64_t deadline = monotonic_ns() + delay.count();
            ids.push_back(d.schedule_timer(delay, [&, i, deadline] {
                if (Driver::current() != &d) {
                    ++wrong_thread;
                }
                std::lock_guard lock(mutex);
                fired.push_back({i, deadline, monotonic_ns()});
            }));
        }
        for (int i = 0; i < count; ++i) {
            if (i % 7 == 3) {
                if (!d.cancel_timer(ids[static_cast<std::size_t>(i)])) {
                    ++wrong_thread;
                }
            } else {
                expected.push_back(i);
            }
        }
        scheduled = true;
    }));
    REQUIRE(test::wait_until([&] {
        std::lock_guard lock(mutex);
        return scheduled.load() && fired.size() == expected.size();
    }));
    // Cancelled timers were due before the last one fired: had they not been cancelled, they
    // would have fired by now.
    rt.request_stop();
    rt.join();

    CHECK(wrong_thread.load() == 0);
    std::vector<int> ids;
    for (std::size_t k = 0; k < fired.size(); ++k) {
        ids.push_back(fired[k].id);
        CHECK(fired[k].at >= fired[k].deadline);
        if (k > 0) {
            CHECK(fired[k - 1].deadline <= fired[k].deadline);
        }
    }
    std::vector<int> sorted_ids = ids;
    std::sort(sorted_ids.begin(), sorted_ids.end());
    CHECK(sorted_ids == expected);
    CHECK(rt.counters(0).timers_fired == expected.size());
}

TEST_CASE("an earlier timer moves the armed ring timeout forward", "[timers]") {
    RuntimeOptions o = test::options_for(1);
    o.timer_wheel_slots = 8192; // one lap is longer than the far timer: no early wake-up by aliasing
    Runtime rt(test::topology(1), test::machine(), {}, o);
    REQUIRE(rt.start().empty());
    std::atomic<std::int64_t> far_deadline{0};
    std::atomic<std::int64_t> near_fired_at{0};
    std::atomic<bool> far_fired{false};
    TimerId far; // driver thread only
    std::atomic<std::uint64_t> arming_turn{0};
    REQUIRE(rt.post(0, [&](Driver& d) {
        far_deadline = monotonic_ns() + 5'000 * ms;
        far = d.schedule_timer(nanoseconds(5'000 * ms), [&] { far_fired = true; });
        // Counters are published at the end of each turn: this turn is the next one.
        arming_turn = d.counters().loop_turns + 1;
    }));
    // Once that turn has been published it has armed the far timeout and gone to sleep on it.
    REQUIRE(test::wait_until([&] {
        auto t = arming_turn.load();
        return t != 0 && rt.counters(0).loop_turns >= t;
    }));
    REQUIRE(rt.post(0, [&](Driver& d) {
        d.schedule_timer(nanoseconds(20 * ms), [&] { near_fired_at = monotonic_ns(); });
    }));
    REQUIRE(test::wait_until([&] { return near_fired_at.load() != 0; }, milliseconds(10'000)));
    REQUIRE(rt.post(0, [&](Driver& d) { d.cancel_timer(far); }));
    rt.request_stop();
    rt.join();
    CHECK(near_fired_at.load() < far_deadline.load());
    CHECK_FALSE(far_fired.load());
}
