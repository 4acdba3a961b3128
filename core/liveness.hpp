// Which drivers are alive: the process's one judgement, read by the daemon (which withholds
// systemd's WATCHDOG=1 while a driver is stalled) and by the admin endpoint's /healthz (through
// the stalled_drivers service), so the two can never disagree.
//
// A driver publishes a heartbeat in its counters: the CLOCK_MONOTONIC start of its last loop
// turn. An idle driver blocks in io_uring_enter and publishes nothing new, so an old heartbeat
// alone proves nothing. Whoever ticks the monitor (the daemon's control loop, once per
// liveness period) therefore posts every driver a no-op (a probe): the probe wakes an idle
// driver, which then starts a turn. A driver whose heartbeat is still older than a probe posted
// one period ago has not started a loop turn for that long: it is stalled (a handler or task
// blocking its thread). It gets no further probe until it answers the one it has.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace gatio::core {

class LivenessMonitor {
public:
    explicit LivenessMonitor(std::size_t drivers);

    struct Change {
        std::size_t driver = 0;
        bool stalled = false;      // true: it just stalled; false: it answered again
        std::int64_t since_ns = 0; // stalled: its last heartbeat; answered: when it was probed
    };

    // The ticking thread only (one thread). Once per period, before probing: `heartbeats[i]` is
    // driver i's published heartbeat. Returns the drivers that stalled or recovered since the
    // last check.
    const std::vector<Change>& check(std::span<const std::int64_t> heartbeats);
    // Whether `driver` has answered its probe (or has none) and so should get a new one.
    bool wants_probe(std::size_t driver) const { return states_.at(driver).probe_ns < 0; }
    // A probe was posted to `driver` at `now_ns`.
    void probed(std::size_t driver, std::int64_t now_ns);

    // Any thread: the verdicts of the last check (relaxed reads; a reader may see one check's
    // change a moment after the ticking thread made it).
    bool stalled(std::size_t driver) const;
    std::size_t stalled_count() const { return stalled_count_.load(std::memory_order_relaxed); }
    std::size_t size() const { return states_.size(); }

private:
    struct State {
        std::int64_t probe_ns = -1; // when the unanswered probe was posted; -1: none
    };
    std::vector<State> states_;
    std::unique_ptr<std::atomic<bool>[]> stalled_; // by driver
    std::vector<Change> changes_;                  // reused by check()
    std::atomic<std::size_t> stalled_count_{0};
};

} // namespace gatio::core
