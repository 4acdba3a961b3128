// At most one log record per interval for an event that recurs in bursts (a handler fault, a
// refused connection): the events in between are only counted, and the next record says how
// many there were.
#pragma once

#include <cstdint>

namespace gatio::net {

class LogThrottle {
public:
    explicit constexpr LogThrottle(std::int64_t interval_ns) : interval_ns_(interval_ns) {}

    // Whether the event at `now_ns` gets a record; if so, `skipped` is how many events since
    // the last record were only counted.
    bool admit(std::int64_t now_ns, std::uint64_t& skipped) {
        if (logged_ns_ != 0 && now_ns - logged_ns_ < interval_ns_) {
            ++unlogged_;
            return false;
        }
        skipped = unlogged_;
        unlogged_ = 0;
        logged_ns_ = now_ns;
        return true;
    }

private:
    std::int64_t interval_ns_;
    std::int64_t logged_ns_ = 0; // when the last record was written; 0: never
    std::uint64_t unlogged_ = 0;
};

} // namespace gatio::net
