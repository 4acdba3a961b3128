// The Date header value, formatted at most once per second per driver thread.
#pragma once

#include <cstddef>
#include <ctime>
#include <span>
#include <string_view>

namespace gatio::http {

// IMF-fixdate (RFC 9110 section 5.6.7) is always this long: "Sun, 06 Nov 1994 08:49:37 GMT".
inline constexpr std::size_t date_length = 29;

// Formats t (seconds since the epoch, UTC) without locale or allocation.
void format_date(std::time_t t, std::span<char, date_length> out);

// The Date text of the calling thread. Every instance on a driver shares it: each instance's
// once-a-second timer calls refresh(), which reformats only when the second has changed, so
// several listeners on one driver still format once per second.
class DateClock {
public:
    static DateClock& local();

    void refresh();
    std::string_view text() const { return {text_, date_length}; }

private:
    DateClock() { refresh(); }

    std::time_t second_ = -1;
    char text_[date_length] = {};
};

// Milliseconds from now until the next whole second of the real-time clock, at least 1, so a
// timer rearmed with it fires just after each second turns.
unsigned next_second_delay_ms();

} // namespace gatio::http
