// The Date header text.
#include <catch2/catch.hpp>
#include <ctime>
#include <string>

#include "date.hpp"

using namespace gatio::http;

namespace {

std::string formatted(std::time_t t) {
    char out[date_length];
    format_date(t, out);
    return std::string(out, date_length);
}

} // namespace

TEST_CASE("dates are formatted as IMF-fixdate in UTC", "[date]") {
    CHECK(formatted(0) == "Thu, 01 Jan 1970 00:00:00 GMT");
    CHECK(formatted(784111777) == "Sun, 06 Nov 1994 08:49:37 GMT"); // RFC 9110's example
    CHECK(formatted(951782400) == "Tue, 29 Feb 2000 00:00:00 GMT");
    CHECK(formatted(4102444799) == "Thu, 31 Dec 2099 23:59:59 GMT");
}

TEST_CASE("the thread's clock shows the current second", "[date]") {
    DateClock& clock = DateClock::local();
    const std::time_t before = std::time(nullptr);
    clock.refresh();
    const std::string shown(clock.text());
    const std::time_t after = std::time(nullptr);
    CHECK((shown == formatted(before) || shown == formatted(after)));
    CHECK(&clock == &DateClock::local());
    const unsigned delay = next_second_delay_ms();
    CHECK(delay >= 1);
    CHECK(delay <= 1000);
}
