// INFO commandstats' clock: ticks over a known interval come back as that many microseconds,
// whichever clock the processor gives (a wrong rate is off by a factor of a thousand or more).
#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "tick_clock.hpp"

namespace tick_clock = gatio::resp::tick_clock;

TEST_CASE("ticks over a sleep convert to the sleep's microseconds", "[resp][tick-clock]") {
    INFO("time-stamp counter: " << (tick_clock::counts_cycles ? "yes" : "no"));
    const std::uint64_t before_ns = tick_clock::monotonic_ns();
    const std::uint64_t start = tick_clock::now();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const std::uint64_t ticks = tick_clock::now() - start;
    const std::uint64_t slept_us = (tick_clock::monotonic_ns() - before_ns) / 1000;
    const std::uint64_t us = tick_clock::to_us(ticks);
    CHECK(us >= 49'000);
    CHECK(us <= slept_us + 1'000);
}
