// Cross-driver messaging under stress: every driver sends to every other one, each message
// carries (sender, sequence) and is acknowledged back to its sender. Receivers check FIFO per
// sender with no loss and no duplicate; the counts must be exact.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "harness.hpp"

using namespace gatio;
using namespace gatio::core;
using test::LambdaModule;

namespace {

class Stress {
public:
    Stress(std::size_t drivers, std::uint64_t per_pair) : n_(drivers), per_pair_(per_pair), rows_(drivers) {
        for (auto& r : rows_) {
            r.next_expected.assign(n_, 0);
            r.next_seq.assign(n_, 0);
        }
    }

    void attach(Runtime& rt) {
        for (std::size_t i = 0; i < n_; ++i) {
            auto m = std::make_unique<LambdaModule>();
            m->on_poll = [this](Driver& d) { return send_some(d); };
            rt.attach(static_cast<int>(i), std::move(m));
        }
    }

    bool all_acked() const {
        for (const auto& r : rows_) {
            if (r.acked_pub.load(std::memory_order_relaxed) < per_pair_ * (n_ - 1)) {
                return false;
            }
        }
        return true;
    }

    void check() const {
        for (std::size_t i = 0; i < n_; ++i) {
            const Row& r = rows_[i];
            INFO("driver " << i);
            CHECK(r.received == per_pair_ * (n_ - 1));
            CHECK(r.acked == per_pair_ * (n_ - 1));
            CHECK(r.out_of_order == 0);
            CHECK(r.wrong_thread == 0);
            for (std::size_t s = 0; s < n_; ++s) {
                if (s != i) {
                    CHECK(r.next_expected[s] == per_pair_);
                    CHECK(r.next_seq[s] == per_pair_);
                }
            }
        }
    }

private:
    // Everything in a row is touched by its own driver's thread only, except acked_pub.
    struct Row {
        std::vector<std::uint64_t> next_expected; // [sender]: next sequence we must receive
        std::vector<std::uint64_t> next_seq;      // [target]: next sequence we send
        std::uint64_t received = 0;
        std::uint64_t acked = 0;
        std::uint64_t out_of_order = 0;
        std::uint64_t wrong_thread = 0;
        std::atomic<std::uint64_t> acked_pub{0};
    };

    void receive(Driver& d, std::size_t sender, std::uint64_t seq) {
        Row& r = rows_[static_cast<std::size_t>(d.index())];
        if (Driver::current() != &d) {
            ++r.wrong_thread;
        }
        if (r.next_expected[sender] != seq) {
            ++r.out_of_order;
        }
        r.next_expected[sender] = seq + 1;
        ++r.received;
    }

    void ack(Driver& d, std::size_t expected_sender) {
        Row& r = rows_[static_cast<std::size_t>(d.index())];
        if (static_cast<std::size_t>(d.index()) != expected_sender || Driver::current() != &d) {
            ++r.wrong_thread;
        }
        ++r.acked;
        r.acked_pub.store(r.acked, std::memory_order_relaxed);
    }

    bool send_some(Driver& d) {
        constexpr std::uint64_t burst = 64;
        const auto self = static_cast<std::size_t>(d.index());
        Row& r = rows_[self];
        bool more = false;
        for (std::size_t t = 0; t < n_; ++t) {
            if (t == self) {
                continue;
            }
            for (std::uint64_t k = 0; k < burst && r.next_seq[t] < per_pair_; ++k) {
                std::uint64_t seq = r.next_seq[t];
                SpawnStatus s = d.spawn(
                    Placement::driver(static_cast<int>(t)), Priority::latency,
                    [this, self, seq](Driver& to) { receive(to, self, seq); },
                    [this, self](Driver& back) { ack(back, self); });
                if (s == SpawnStatus::invalid_target) {
                    ++r.wrong_thread;
                    return false;
                }
                if (s == SpawnStatus::full) {
                    // Out of task slots: acknowledgements coming back will wake us.
                    return false;
                }
                ++r.next_seq[t];
            }
            more = more || r.next_seq[t] < per_pair_;
        }
        return more;
    }

    std::size_t n_;
    std::uint64_t per_pair_;
    std::vector<Row> rows_;
};

struct Totals {
    std::uint64_t sent = 0, received = 0, queue_full = 0, refused = 0, wakeups = 0, tasks = 0;
};

Totals totals(Runtime& rt) {
    Totals t;
    for (std::size_t i = 0; i < rt.driver_count(); ++i) {
        DriverCounters c = rt.counters(static_cast<int>(i));
        t.sent += c.messages_sent;
        t.received += c.messages_received;
        t.queue_full += c.queue_full;
        t.refused += c.spawn_refused;
        t.wakeups += c.wakeups_sent;
        t.tasks += c.tasks_run;
    }
    return t;
}

Totals run_stress(std::size_t drivers, std::uint64_t per_pair, RuntimeOptions options) {
    Runtime rt(test::topology(drivers), test::machine(), {}, options);
    Stress stress(drivers, per_pair);
    stress.attach(rt);
    REQUIRE(rt.start().empty());
    bool done = test::wait_until([&] { return stress.all_acked(); }, std::chrono::milliseconds(60'000));
    rt.request_stop();
    rt.join();
    REQUIRE(done);
    stress.check();
    Totals t = totals(rt);
    const std::uint64_t messages = per_pair * drivers * (drivers - 1);
    // Each message goes out and comes back as one queue entry each way.
    CHECK(t.sent == 2 * messages);
    CHECK(t.received == 2 * messages);
    CHECK(t.tasks == messages);
    CHECK(rt.failure().empty());
    return t;
}

} // namespace

TEST_CASE("over a million messages among three drivers: exact, FIFO per sender, acknowledged",
          "[messaging]") {
    RuntimeOptions o = test::options_for(3);
    o.allow_shared_cpus = true;
    Totals t = run_stress(3, 200'000, o);
    CHECK(t.wakeups > 0);
}

TEST_CASE("a tiny queue and few task slots push back on senders without losing anything", "[messaging]") {
    RuntimeOptions o = test::options_for(3);
    o.allow_shared_cpus = true;
    o.mailbox_capacity = 2;
    o.defaults.task_slots = 4;
    Totals t = run_stress(3, 10'000, o);
    CHECK(t.queue_full > 0);
    CHECK(t.refused > 0);
}

TEST_CASE("the eventfd wake-up fallback delivers the same guarantees", "[messaging]") {
    RuntimeOptions o = test::options_for(2);
    o.force_eventfd_wakeup = true;
    o.mailbox_capacity = 64;
    Totals t = run_stress(2, 100'000, o);
    CHECK(t.wakeups > 0);
}

TEST_CASE("non-driver threads post to drivers through the external queue", "[messaging]") {
    Runtime rt(test::topology(2), test::machine(), {}, test::options_for(2));
    REQUIRE(rt.start().empty());
    constexpr int count = 5000;
    std::atomic<int> ran{0};
    std::atomic<int> wrong{0};
    int posted = 0;
    while (posted < count) {
        int target = posted % 2;
        if (rt.post(target, [&, target](Driver& d) {
                if (d.index() != target || Driver::current() != &d) {
                    ++wrong;
                }
                ++ran;
            })) {
            ++posted;
        } else {
            std::this_thread::yield(); // external queue full: the driver is draining it
        }
    }
    REQUIRE(test::wait_until([&] { return ran.load() == count; }));
    rt.request_stop();
    rt.join();
    CHECK(wrong.load() == 0);
    CHECK(ran.load() == count);
}

TEST_CASE("post_by waits for room in a full external queue and is woken when the driver takes messages",
          "[messaging]") {
    auto options = test::options_for(1);
    options.external_capacity = 2;
    Runtime rt(test::topology(1), test::machine(), {}, options);
    REQUIRE(rt.start().empty());
    std::atomic<bool> entered{false};
    std::atomic<bool> release{false};
    std::atomic<int> ran{0};
    // The driver blocks inside a message, so nothing leaves its queue until released.
    REQUIRE(rt.post(0, [&](Driver&) {
        entered = true;
        while (!release.load()) {
            std::this_thread::yield();
        }
    }));
    REQUIRE(test::wait_until([&] { return entered.load(); }));
    int filled = 0;
    while (rt.post(0, [&](Driver&) { ++ran; })) {
        ++filled;
    }
    CHECK(filled == 2);
    // Full and blocked: a deadline that passes gives up.
    CHECK_FALSE(rt.post_by(
        0, [&](Driver&) { ++ran; }, std::chrono::steady_clock::now() + std::chrono::milliseconds(50)));

    std::atomic<bool> posted{false};
    std::thread waiter([&] {
        // A deadline far off: it returns early only because the driver wakes it.
        posted = rt.post_by(
            0, [&](Driver&) { ++ran; }, std::chrono::steady_clock::now() + std::chrono::minutes(1));
    });
    release = true;
    waiter.join();
    CHECK(posted.load());
    REQUIRE(test::wait_until([&] { return ran.load() == filled + 1; }));
    rt.request_stop();
    rt.join();
}
