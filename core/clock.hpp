// The one clock every timestamp and deadline of the daemon is read from: CLOCK_MONOTONIC in
// nanoseconds, the clock the heartbeats, timer wheels, drain deadlines and systemd's
// MONOTONIC_USEC all use, so any two of them can be compared.
#pragma once

#include <cstdint>
#include <ctime>

namespace gatio::core {

inline std::int64_t monotonic_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

} // namespace gatio::core
