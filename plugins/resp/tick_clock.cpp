#include "tick_clock.hpp"

#include <ctime>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace gatio::resp::tick_clock {
namespace {

bool invariant_tsc() {
#if defined(__x86_64__)
    unsigned a = 0, b = 0, c = 0, d = 0;
    // CPUID 0x80000007, EDX bit 8: the counter runs at one rate in every power state.
    return __get_cpuid(0x80000007, &a, &b, &c, &d) != 0 && (d & (1u << 8)) != 0;
#else
    return false;
#endif
}

} // namespace

const bool counts_cycles = invariant_tsc();

std::uint64_t monotonic_ns() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

namespace {

struct Origin {
    std::uint64_t ns = monotonic_ns();
    std::uint64_t ticks = now();
};
const Origin origin;

} // namespace

std::uint64_t to_us(std::uint64_t ticks) {
    if (!counts_cycles) {
        return ticks / 1000;
    }
    const std::uint64_t ns = monotonic_ns() - origin.ns;
    const std::uint64_t elapsed = now() - origin.ticks;
    if (elapsed == 0) {
        return 0;
    }
    const long double us_per_tick =
        static_cast<long double>(ns) / 1000.0L / static_cast<long double>(elapsed);
    return static_cast<std::uint64_t>(static_cast<long double>(ticks) * us_per_tick);
}

} // namespace gatio::resp::tick_clock
