#include "date.hpp"

#include <array>
#include <cassert>
#include <time.h>

namespace gatio::http {

namespace {

constexpr std::array<std::string_view, 7> day_names{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr std::array<std::string_view, 12> month_names{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

char* put(char* p, std::string_view s) {
    for (char c : s) {
        *p++ = c;
    }
    return p;
}

char* put_digits(char* p, int value, int width) {
    for (int i = width - 1; i >= 0; --i) {
        p[i] = static_cast<char>('0' + value % 10);
        value /= 10;
    }
    return p + width;
}

} // namespace

void format_date(std::time_t t, std::span<char, date_length> out) {
    std::tm tm{};
    // gmtime_r fails only for years beyond int; the clock cannot be there.
    [[maybe_unused]] const std::tm* ok = gmtime_r(&t, &tm);
    assert(ok != nullptr);
    char* p = out.data();
    p = put(p, day_names[static_cast<std::size_t>(tm.tm_wday)]);
    p = put(p, ", ");
    p = put_digits(p, tm.tm_mday, 2);
    *p++ = ' ';
    p = put(p, month_names[static_cast<std::size_t>(tm.tm_mon)]);
    *p++ = ' ';
    p = put_digits(p, tm.tm_year + 1900, 4);
    *p++ = ' ';
    p = put_digits(p, tm.tm_hour, 2);
    *p++ = ':';
    p = put_digits(p, tm.tm_min, 2);
    *p++ = ':';
    p = put_digits(p, tm.tm_sec, 2);
    p = put(p, " GMT");
    assert(p == out.data() + date_length);
}

DateClock& DateClock::local() {
    thread_local DateClock clock;
    return clock;
}

void DateClock::refresh() {
    const std::time_t now = std::time(nullptr);
    if (now != second_) {
        second_ = now;
        format_date(now, std::span<char, date_length>{text_, date_length});
    }
}

unsigned next_second_delay_ms() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    const long ms = ts.tv_nsec / 1'000'000;
    return static_cast<unsigned>(1000 - ms);
}

} // namespace gatio::http
