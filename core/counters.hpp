// Per-driver counters.
//
// The owning driver increments a plain DriverCounters (no atomics on the hot path) and
// publishes a copy once per loop turn into PublishedCounters with relaxed stores; other threads
// (the daemon's metrics and watchdog) read that copy. Each field is exact as of some recent loop
// turn; fields read together may come from adjacent turns.
#pragma once

#include <atomic>
#include <cstdint>

namespace gatio::core {

struct DriverCounters {
    std::uint64_t loop_turns = 0;
    std::uint64_t enter_calls = 0;       // io_uring_enter (submit and/or wait) issued by the loop
    std::uint64_t cqes = 0;              // completions dispatched
    std::uint64_t cq_overflows = 0;      // turns that found the CQ overflowed (backlog flushed)
    std::uint64_t cq_dropped = 0;        // completions the kernel dropped (kernels without NODROP)
    std::uint64_t cqe_errors = 0;        // failed internal requests (wake-ups, timers), each logged
    std::uint64_t tasks_run = 0;         // tasks and messages executed on this driver
    std::uint64_t messages_sent = 0;     // entries pushed into other drivers' queues
    std::uint64_t messages_received = 0; // entries taken from this driver's queues
    std::uint64_t queue_full = 0;        // pushes that found the target queue full (held back, not lost)
    std::uint64_t spawn_refused = 0;     // spawns refused because every task slot was in use
    std::uint64_t wakeups_sent = 0;      // MSG_RING or eventfd wake-ups issued to other drivers
    std::uint64_t timers_fired = 0;
    std::uint64_t min_waits = 0;   // blocking waits that asked for wait_batch completions within min_wait
    std::uint64_t spin_hits = 0;   // blocking waits that a spin over the CQ ended without sleeping
    std::uint64_t busy_ns = 0;     // time spent outside a blocking io_uring_enter
    std::uint64_t idle_ns = 0;     // time blocked in io_uring_enter waiting for work
    std::int64_t heartbeat_ns = 0; // CLOCK_MONOTONIC at the start of the last loop turn
};

class PublishedCounters {
public:
    void publish(const DriverCounters& c) {
        store(loop_turns_, c.loop_turns);
        store(enter_calls_, c.enter_calls);
        store(cqes_, c.cqes);
        store(cq_overflows_, c.cq_overflows);
        store(cq_dropped_, c.cq_dropped);
        store(cqe_errors_, c.cqe_errors);
        store(tasks_run_, c.tasks_run);
        store(messages_sent_, c.messages_sent);
        store(messages_received_, c.messages_received);
        store(queue_full_, c.queue_full);
        store(spawn_refused_, c.spawn_refused);
        store(wakeups_sent_, c.wakeups_sent);
        store(timers_fired_, c.timers_fired);
        store(min_waits_, c.min_waits);
        store(spin_hits_, c.spin_hits);
        store(busy_ns_, c.busy_ns);
        store(idle_ns_, c.idle_ns);
        heartbeat_ns_.store(c.heartbeat_ns, std::memory_order_relaxed);
    }

    DriverCounters read() const {
        DriverCounters c;
        c.loop_turns = load(loop_turns_);
        c.enter_calls = load(enter_calls_);
        c.cqes = load(cqes_);
        c.cq_overflows = load(cq_overflows_);
        c.cq_dropped = load(cq_dropped_);
        c.cqe_errors = load(cqe_errors_);
        c.tasks_run = load(tasks_run_);
        c.messages_sent = load(messages_sent_);
        c.messages_received = load(messages_received_);
        c.queue_full = load(queue_full_);
        c.spawn_refused = load(spawn_refused_);
        c.wakeups_sent = load(wakeups_sent_);
        c.timers_fired = load(timers_fired_);
        c.min_waits = load(min_waits_);
        c.spin_hits = load(spin_hits_);
        c.busy_ns = load(busy_ns_);
        c.idle_ns = load(idle_ns_);
        c.heartbeat_ns = heartbeat_ns_.load(std::memory_order_relaxed);
        return c;
    }

private:
    using Cell = std::atomic<std::uint64_t>;
    static void store(Cell& cell, std::uint64_t v) { cell.store(v, std::memory_order_relaxed); }
    static std::uint64_t load(const Cell& cell) { return cell.load(std::memory_order_relaxed); }

    Cell loop_turns_{0}, enter_calls_{0}, cqes_{0}, cq_overflows_{0}, cq_dropped_{0}, cqe_errors_{0};
    Cell tasks_run_{0}, messages_sent_{0}, messages_received_{0}, queue_full_{0}, spawn_refused_{0};
    Cell wakeups_sent_{0}, timers_fired_{0}, min_waits_{0}, spin_hits_{0}, busy_ns_{0}, idle_ns_{0};
    std::atomic<std::int64_t> heartbeat_ns_{0};
};

} // namespace gatio::core
