// What gatiod tells its service manager (STATUS=) and its log (the SIGUSR1 counters dump),
// computed from the counters the drivers and their network modules publish.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/counters.hpp"
#include "core/runtime.hpp"
#include "net/counters.hpp"
#include "net/net.hpp"

namespace gatio::daemon {

// The published counters of every driver at one moment.
struct Snapshot {
    std::int64_t at_ns = -1; // CLOCK_MONOTONIC; -1: never taken
    std::vector<core::DriverCounters> drivers;
    std::vector<net::NetCounters> net;
    net::NetCounters total;
};

// Fills `out` (its vectors are reused) with the counters of every driver of `runtime`.
void read_snapshot(const core::Runtime& runtime, const net::Network& network, std::int64_t now_ns,
                   Snapshot& out);

// TCP connections accepted and not yet closed. Counters are read one by one, so `closed` may be
// a turn newer than `accepted`; the difference never goes below zero.
std::uint64_t open_connections(const net::NetCounters& c);

// Handler dispatches per second between two snapshots (0 when `before` was never taken).
double requests_per_second(const Snapshot& before, const Snapshot& after);

struct StatusFigures {
    std::size_t drivers = 0;
    std::vector<std::string> stalled; // names of drivers that stopped turning their loop
    std::uint64_t connections = 0;
    double requests_per_second = 0;
    bool stopping = false;
    std::string note; // the last reload's outcome when it matters, else ""
};

// One line for STATUS=, at most max_bytes long, e.g.
// "drivers 2/2 up, 3 connections open, 120 requests/s; restart needed for: topology".
std::string status_text(const StatusFigures& figures, std::size_t max_bytes);

// The SIGUSR1 dump: one line per driver (named by `names`), then one with the network totals.
std::vector<std::string> counter_lines(const Snapshot& snapshot, const std::vector<std::string>& names);

} // namespace gatio::daemon
