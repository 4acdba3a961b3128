// A per-driver hashed timer wheel for idle timeouts and drain deadlines.
//
// Deadlines round up to the next tick, so a timer never fires early; due timers fire in deadline
// order (ties in scheduling order). Schedule and cancel are O(1); the nodes come from a slab
// taken at start-up. The driver keeps one io_uring timeout armed at next_deadline_ns() and calls
// expire() on each loop turn. Single-threaded: owned by one driver.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "core/arena.hpp"
#include "core/inline_function.hpp"
#include "core/slab.hpp"

namespace gatio::core {

using TimerCallback = InlineFunction<void(), 48>;

struct TimerId {
    std::uint32_t index = UINT32_MAX;
    std::uint32_t generation = 0;
    bool valid() const { return index != UINT32_MAX; }
};

class TimerWheel {
public:
    // capacity: timers pending at once; slots: wheel size (power of two); tick: resolution;
    // now_ns: CLOCK_MONOTONIC origin of tick 0.
    TimerWheel(Arena& arena, std::uint32_t capacity, std::uint32_t slots, std::chrono::nanoseconds tick,
               std::int64_t now_ns);
    TimerWheel(const TimerWheel&) = delete;
    TimerWheel& operator=(const TimerWheel&) = delete;
    ~TimerWheel();

    // Fires cb at the first expire() at or after now_ns + delay. Returns an invalid id when
    // every timer slot is in use (the caller decides; nothing is scheduled). `owner` scopes the
    // id: only a cancel naming the same owner reaches the timer.
    TimerId schedule(std::int64_t now_ns, std::chrono::nanoseconds delay, TimerCallback cb,
                     const void* owner = nullptr);

    // True when the timer was pending and will not fire. Stale or fired ids, and ids of another
    // owner's timers, return false.
    bool cancel(TimerId id, const void* owner = nullptr);

    // Runs the callbacks of every timer whose deadline is <= now_ns; returns how many fired.
    // Callbacks may schedule and cancel timers.
    std::uint32_t expire(std::int64_t now_ns);

    // A time at or before the earliest pending deadline, none when nothing is pending.
    std::optional<std::int64_t> next_deadline_ns() const;

    // Arena bytes a wheel of this shape takes (without alignment padding).
    static std::size_t memory_for(std::uint32_t capacity, std::uint32_t slots);

    std::uint32_t size() const { return nodes_.size(); }
    std::uint32_t capacity() const { return nodes_.capacity(); }
    std::chrono::nanoseconds tick() const { return std::chrono::nanoseconds(tick_ns_); }

private:
    static constexpr std::uint32_t nil = UINT32_MAX;
    enum class State : std::uint8_t { pending, firing, cancelled };

    struct Node {
        TimerCallback callback;
        const void* owner = nullptr;
        std::int64_t deadline_ns = 0;
        std::uint64_t expiry_tick = 0;
        std::uint64_t sequence = 0;
        std::uint32_t prev = nil;
        std::uint32_t next = nil;
        State state = State::pending;
    };

    std::uint64_t tick_of_ceil(std::int64_t t_ns) const;
    void link(std::uint32_t index);
    void unlink(std::uint32_t index);
    void collect_slot(std::uint64_t tick, std::uint64_t up_to_tick);

    Slab<Node> nodes_;
    std::uint32_t* heads_;       // per wheel slot: first node index or nil
    std::uint64_t* occupied_;    // one bit per wheel slot
    std::uint32_t* due_;         // scratch for one expire(): indexes of due nodes
    std::uint32_t* generations_; // per node index, survives node reuse
    std::uint32_t slots_;
    std::int64_t tick_ns_;
    std::int64_t origin_ns_;
    std::uint64_t done_tick_ = 0; // every tick <= done_tick_ has been expired
    std::uint64_t sequence_ = 0;
    std::uint32_t due_count_ = 0;
};

} // namespace gatio::core
