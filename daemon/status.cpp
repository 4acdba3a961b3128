#include "daemon/status.hpp"

#include <cmath>
#include <fmt/format.h>

namespace gatio::daemon {

namespace {

void append_net(std::string& line, const net::NetCounters& c) {
    for (const auto& f : net::net_counter_fields) {
        line += fmt::format(" {}={}", f.name, c.*f.member);
    }
}

} // namespace

void read_snapshot(const core::Runtime& runtime, const net::Network& network, std::int64_t now_ns,
                   Snapshot& out) {
    const std::size_t n = runtime.driver_count();
    out.at_ns = now_ns;
    out.drivers.resize(n);
    out.net.resize(n);
    out.total = {};
    for (std::size_t i = 0; i < n; ++i) {
        out.drivers[i] = runtime.counters(static_cast<int>(i));
        out.net[i] = network.counters(static_cast<int>(i));
        out.total += out.net[i];
    }
}

std::uint64_t open_connections(const net::NetCounters& c) {
    return c.accepted > c.closed ? c.accepted - c.closed : 0;
}

double requests_per_second(const Snapshot& before, const Snapshot& after) {
    if (before.at_ns < 0 || after.at_ns <= before.at_ns || after.total.dispatched < before.total.dispatched) {
        return 0;
    }
    const auto requests = static_cast<double>(after.total.dispatched - before.total.dispatched);
    return requests * 1e9 / static_cast<double>(after.at_ns - before.at_ns);
}

std::string status_text(const StatusFigures& f, std::size_t max_bytes) {
    std::string text;
    if (f.stopping) {
        text = fmt::format("stopping: {} connections open", f.connections);
    } else {
        text = fmt::format("drivers {}/{} up", f.drivers - f.stalled.size(), f.drivers);
        if (!f.stalled.empty()) {
            text += " (stalled:";
            for (const auto& name : f.stalled) {
                text += " " + name;
            }
            text += ")";
        }
        text += fmt::format(", {} connections open, {:.0f} requests/s", f.connections,
                            std::round(f.requests_per_second));
    }
    if (!f.note.empty()) {
        text += "; " + f.note;
    }
    if (text.size() > max_bytes) {
        constexpr std::string_view ellipsis = "...";
        std::size_t cut = max_bytes > ellipsis.size() ? max_bytes - ellipsis.size() : 0;
        // Never split a UTF-8 sequence (paths and messages may hold any text).
        while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) {
            --cut;
        }
        text.resize(cut);
        text += ellipsis.substr(0, std::min(ellipsis.size(), max_bytes));
    }
    return text;
}

std::vector<std::string> counter_lines(const Snapshot& s, const std::vector<std::string>& names) {
    std::vector<std::string> lines;
    for (std::size_t i = 0; i < s.drivers.size(); ++i) {
        const core::DriverCounters& c = s.drivers[i];
        std::string line = fmt::format(
            "counters: driver {}: loop_turns={} enter_calls={} cqes={} cq_overflows={} cq_dropped={} "
            "cqe_errors={} tasks_run={} messages_sent={} messages_received={} queue_full={} "
            "spawn_refused={} wakeups_sent={} timers_fired={} min_waits={} spin_hits={} busy_ms={} "
            "idle_ms={};",
            i < names.size() ? names[i] : std::to_string(i), c.loop_turns, c.enter_calls, c.cqes,
            c.cq_overflows, c.cq_dropped, c.cqe_errors, c.tasks_run, c.messages_sent, c.messages_received,
            c.queue_full, c.spawn_refused, c.wakeups_sent, c.timers_fired, c.min_waits, c.spin_hits,
            c.busy_ns / 1'000'000, c.idle_ns / 1'000'000);
        append_net(line, s.net.at(i));
        lines.push_back(std::move(line));
    }
    std::string total = fmt::format("counters: total: connections_open={};", open_connections(s.total));
    append_net(total, s.total);
    lines.push_back(std::move(total));
    return lines;
}

} // namespace gatio::daemon
