// Choosing the executor of a task: the signals executors publish for it and the choices made on
// them. Everything here is lock-free and constant-time for the submitter.
//
// Signals are fresh: an executor's depth counts the tasks reserved for it, queued on it or
// running there, raised by the submitter the moment it chooses it (before the task travels) and
// lowered by the executor as each task finishes, so concurrent submitters see each other's
// choices at once instead of one loop turn later. Its busy share is measured per busy window
// and decays once the driver stops publishing (a driver blocked waiting for work publishes
// nothing, so an old figure means it has been idle).
//
// least_loaded draws two distinct exec-capable drivers of a TPC at random and takes the lower
// score (power of two choices: no herd onto one driver that every submitter sees as the
// minimum); key placement maps a key to one exec-capable driver for the process's lifetime.
#pragma once

#include <atomic>
#include <cstdint>
#include <span>

namespace gatio::core {

struct alignas(64) ExecutorSignals {
    std::atomic<std::uint32_t> depth{0};
    std::atomic<std::uint32_t> busy_permille{0};   // share of the last busy window spent busy
    std::atomic<std::int64_t> busy_at_ns{0};       // CLOCK_MONOTONIC when it was measured
    std::atomic<std::int64_t> running_since_ns{0}; // when the task batch running now began; 0: none
};

// The busy window a driver measures over, and how long a figure that is not renewed takes to
// decay to nothing after one window has passed without a new one.
inline constexpr std::int64_t busy_window_ns = 10'000'000;
inline constexpr std::int64_t busy_decay_ns = 20'000'000;

// A score counts one task of depth as load_per_task, and adds the (decayed) busy share divided
// by permille_per_load: at most 15, so recent busy time only breaks ties between equal depths.
// A task batch running for long counts one more task per running_weight_ns (up to
// max_running_weight), so a driver stuck in a long task looks loaded.
inline constexpr std::uint64_t load_per_task = 16;
inline constexpr std::uint32_t permille_per_load = 64;
static_assert(1000 / permille_per_load < load_per_task);
inline constexpr std::int64_t running_weight_ns = 100'000;
inline constexpr std::int64_t max_running_weight = 1 << 20;

std::uint32_t decayed_busy(std::uint32_t permille, std::int64_t measured_ns, std::int64_t now_ns);
std::uint64_t placement_score(const ExecutorSignals& s, std::int64_t now_ns);

// A small, seedable generator (xorshift64*): each submitter has its own, so choices are
// reproducible for a given seed and cost no shared state.
class PlacementRng {
public:
    explicit PlacementRng(std::uint64_t seed);
    std::uint64_t next();
    // Uniform in [0, n), n > 0.
    std::uint32_t below(std::uint32_t n);

private:
    std::uint64_t state_;
};

// The signals of every driver, by global driver index.
using SignalTable = std::span<const ExecutorSignals* const>;

struct Choice {
    int driver = -1;
    std::uint64_t score = 0;
};

// Of `candidates` (global driver indexes), two distinct ones drawn at random, the one with the
// lower score (the first drawn on a tie); the only one when there is one; none when empty.
Choice two_choices(std::span<const int> candidates, SignalTable signals, PlacementRng& rng,
                   std::int64_t now_ns);

// The executor of `key` among `executors` (every exec-capable driver, ascending): the same key
// always gives the same driver, and keys spread evenly. -1 when there is none.
int key_executor(std::uint64_t key, std::span<const int> executors);

} // namespace gatio::core
