#include "net/admin.hpp"

#include <algorithm>
#include <array>
#include <iterator>
#include <string_view>

#include "core/clock.hpp"
#include "net/driver_net.hpp"

namespace gatio::net {

namespace {

// ---------------------------------------------------------------- metrics text

// Writes one family: HELP, TYPE, then a sample per call of `each(emit)`.
class Family {
public:
    Family(fmt::memory_buffer& out, std::string_view name, std::string_view type, std::string_view help)
        : out_(out), name_(name) {
        fmt::format_to(std::back_inserter(out_), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
    }
    void sample(std::string_view labels, std::uint64_t value) {
        fmt::format_to(std::back_inserter(out_), "{}{{{}}} {}\n", name_, labels, value);
    }
    void sample(std::string_view labels, double value) {
        fmt::format_to(std::back_inserter(out_), "{}{{{}}} {}\n", name_, labels, value);
    }

private:
    fmt::memory_buffer& out_;
    std::string_view name_;
};

// A label value as the text format wants it: backslash, double quote and newline escaped.
void append_label(std::string& labels, std::string_view key, std::string_view value) {
    if (!labels.empty()) {
        labels += ',';
    }
    labels += key;
    labels += "=\"";
    for (char c : value) {
        if (c == '\\' || c == '"') {
            labels += '\\';
            labels += c;
        } else if (c == '\n') {
            labels += "\\n";
        } else {
            labels += c;
        }
    }
    labels += '"';
}

struct DriverMetric {
    std::string_view name;
    std::string_view type;
    std::string_view help;
    std::uint64_t (*value)(const core::DriverCounters&);
};

constexpr std::array<DriverMetric, 10> driver_metrics{{
    {"gatio_driver_loop_turns_total", "counter", "Event loop turns.",
     [](const core::DriverCounters& c) { return c.loop_turns; }},
    {"gatio_driver_io_uring_enter_total", "counter", "io_uring_enter calls made by the event loop.",
     [](const core::DriverCounters& c) { return c.enter_calls; }},
    {"gatio_driver_completions_total", "counter", "Completions dispatched.",
     [](const core::DriverCounters& c) { return c.cqes; }},
    {"gatio_driver_cq_overflows_total", "counter", "Loop turns that found the completion queue overflowed.",
     [](const core::DriverCounters& c) { return c.cq_overflows; }},
    {"gatio_driver_tasks_total", "counter", "Tasks and messages executed.",
     [](const core::DriverCounters& c) { return c.tasks_run; }},
    {"gatio_driver_messages_sent_total", "counter", "Messages and tasks sent to other drivers.",
     [](const core::DriverCounters& c) { return c.messages_sent; }},
    {"gatio_driver_messages_received_total", "counter", "Messages and tasks taken from the driver's queues.",
     [](const core::DriverCounters& c) { return c.messages_received; }},
    {"gatio_driver_timers_fired_total", "counter", "Timers that ran.",
     [](const core::DriverCounters& c) { return c.timers_fired; }},
    {"gatio_driver_min_waits_total", "counter",
     "Blocking waits that asked for wait_batch completions within min_wait.",
     [](const core::DriverCounters& c) { return c.min_waits; }},
    {"gatio_driver_spin_hits_total", "counter",
     "Blocking waits that the spin over the completion queue ended.",
     [](const core::DriverCounters& c) { return c.spin_hits; }},
}};

struct NetMetric {
    std::string_view name;
    std::string_view type;
    std::string_view help;
    std::uint64_t (*value)(const NetCounters&);
};

constexpr std::array<NetMetric, 22> net_metrics{{
    {"gatio_connections_open", "gauge", "TCP connections open.",
     [](const NetCounters& c) { return c.accepted > c.closed ? c.accepted - c.closed : 0; }},
    {"gatio_connections_accepted_total", "counter", "TCP connections accepted.",
     [](const NetCounters& c) { return c.accepted; }},
    {"gatio_connections_refused_total", "counter", "TCP connections closed at once: max_connections reached.",
     [](const NetCounters& c) { return c.rejected; }},
    {"gatio_received_bytes_total", "counter", "TCP payload bytes delivered to handlers.",
     [](const NetCounters& c) { return c.bytes_received; }},
    {"gatio_sent_bytes_total", "counter", "TCP payload bytes the kernel took.",
     [](const NetCounters& c) { return c.bytes_sent; }},
    {"gatio_requests_dispatched_total", "counter",
     "Input handed to handlers (on_data and on_datagram calls).",
     [](const NetCounters& c) { return c.dispatched; }},
    {"gatio_multishot_rearms_total", "counter", "Multishot receives armed again after they ended.",
     [](const NetCounters& c) { return c.recv_rearms + c.udp_rearms; }},
    {"gatio_recv_enobufs_total", "counter", "Receives that found the provided-buffer ring empty.",
     [](const NetCounters& c) { return c.recv_enobufs; }},
    {"gatio_buffer_ring_buffers", "gauge", "Provided receive buffers registered.",
     [](const NetCounters& c) { return c.buffers; }},
    {"gatio_buffer_ring_used_buffers", "gauge",
     "Provided buffers filled by the kernel and not yet given back (sampled; 0 before Linux 6.8).",
     [](const NetCounters& c) { return c.buffers_used; }},
    {"gatio_output_memory_bytes", "gauge", "Output chunk memory held by unsent TCP data.",
     [](const NetCounters& c) { return c.output_memory; }},
    {"gatio_output_refused_total", "counter",
     "Sends refused: over the connection's send_buffer_limit or the driver's output budget.",
     [](const NetCounters& c) { return c.output_refused; }},
    {"gatio_output_admissions_refused_total", "counter",
     "TCP connections closed at once: the driver's output memory had no reserve left for them.",
     [](const NetCounters& c) { return c.output_admissions_refused; }},
    {"gatio_output_tight_total", "counter",
     "Times a driver's output budget got down to its floor (reads bounded).",
     [](const NetCounters& c) { return c.output_tight; }},
    {"gatio_receive_holds_total", "counter",
     "Received slices handlers forwarded with send_received that were sent from their receive buffer.",
     [](const NetCounters& c) { return c.receive_holds; }},
    {"gatio_receive_copies_total", "counter",
     "Received slices forwarded with send_received that were copied instead (a bound was reached).",
     [](const NetCounters& c) { return c.receive_copies; }},
    {"gatio_buffer_ring_held_buffers", "gauge",
     "Provided receive buffers kept out of the ring by output that sends from them.",
     [](const NetCounters& c) { return c.buffers_held; }},
    {"gatio_driver_zerocopy_sends_total", "counter",
     "Lent file slices sent with SEND_ZC from a registered buffer (at least zerocopy_send_min).",
     [](const NetCounters& c) { return c.zerocopy_sends; }},
    {"gatio_driver_zerocopy_fallbacks_total", "counter",
     "Zero-copy sends the socket refused (EOPNOTSUPP), sent again with a copy.",
     [](const NetCounters& c) { return c.zerocopy_fallbacks; }},
    {"gatio_lent_buffers_out", "gauge", "Lent file buffers out of their pools (read, queued or being sent).",
     [](const NetCounters& c) { return c.lent_out; }},
    {"gatio_lent_buffers_registered", "gauge",
     "Lent file buffers registered with the rings as fixed buffers (pinned memory).",
     [](const NetCounters& c) { return c.lent_registered; }},
    {"gatio_plugin_errors_total", "counter",
     "Handler faults: on_data results out of range, instances that could not be created.",
     [](const NetCounters& c) { return c.plugin_errors; }},
}};

struct ListenerMetric {
    std::string_view name;
    std::string_view type;
    std::string_view help;
    std::uint64_t (*value)(const ListenerCounters&);
};

constexpr std::array<ListenerMetric, 10> listener_metrics{{
    {"gatio_listener_connections_open", "gauge", "TCP connections of the listener open.",
     [](const ListenerCounters& c) { return c.accepted > c.closed ? c.accepted - c.closed : 0; }},
    {"gatio_listener_connections_accepted_total", "counter", "TCP connections of the listener accepted.",
     [](const ListenerCounters& c) { return c.accepted; }},
    {"gatio_listener_connections_refused_total", "counter",
     "TCP connections of the listener closed at once: max_connections reached.",
     [](const ListenerCounters& c) { return c.refused; }},
    {"gatio_listener_received_bytes_total", "counter",
     "TCP payload bytes delivered to the listener's handler.",
     [](const ListenerCounters& c) { return c.bytes_received; }},
    {"gatio_listener_sent_bytes_total", "counter", "TCP payload bytes of the listener the kernel took.",
     [](const ListenerCounters& c) { return c.bytes_sent; }},
    {"gatio_listener_requests_dispatched_total", "counter",
     "Input handed to the listener's handler (on_data and on_datagram calls).",
     [](const ListenerCounters& c) { return c.dispatched; }},
    {"gatio_listener_datagrams_received_total", "counter", "UDP datagrams received.",
     [](const ListenerCounters& c) { return c.datagrams_received; }},
    {"gatio_listener_datagrams_sent_total", "counter", "UDP replies sent.",
     [](const ListenerCounters& c) { return c.datagrams_sent; }},
    {"gatio_listener_datagram_drops_total", "counter", "UDP replies refused or failed.",
     [](const ListenerCounters& c) { return c.datagram_drops; }},
    {"gatio_listener_plugin_errors_total", "counter",
     "Faults of the listener's handler: on_data results out of range, instances not created.",
     [](const ListenerCounters& c) { return c.plugin_errors; }},
}};

// The handlers' own series (PluginMetrics), one family per name in the order first registered;
// a family some listener registered with another type keeps the first one's and skips it.
void render_plugin_metrics(const MetricsCatalog& catalog, const std::vector<std::string>& listener_labels,
                           fmt::memory_buffer& out) {
    struct Sample {
        std::string labels;
        std::int64_t value;
    };
    struct PluginFamily {
        std::string name;
        std::string help;
        std::uint32_t type;
        std::vector<Sample> samples;
    };
    std::vector<PluginFamily> families;
    for (std::size_t i = 0; i < catalog.listeners.size(); ++i) {
        catalog.listeners[i].stats->plugin_metrics.each(
            [&](const PluginMetrics::Series& s, std::int64_t value) {
                auto it = std::find_if(families.begin(), families.end(),
                                       [&](const PluginFamily& f) { return f.name == s.name; });
                if (it == families.end()) {
                    it = families.insert(families.end(), PluginFamily{s.name, s.help, s.type, {}});
                } else if (it->type != s.type) {
                    return;
                }
                std::string labels = listener_labels[i];
                if (!s.labels.empty()) {
                    labels += ',';
                    labels += s.labels;
                }
                it->samples.push_back(Sample{std::move(labels), value});
            });
    }
    for (const PluginFamily& f : families) {
        const std::string_view type = f.type == GATIO_METRIC_COUNTER ? "counter" : "gauge";
        // HELP text escapes backslash and newline.
        std::string help;
        for (char c : f.help.empty() ? std::string_view("Defined by the listener's handler.") : f.help) {
            help += c == '\\' ? "\\\\" : c == '\n' ? "\\n" : std::string(1, c);
        }
        fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", f.name, help, f.name, type);
        for (const Sample& s : f.samples) {
            fmt::format_to(std::back_inserter(out), "{}{{{}}} {}\n", f.name, s.labels, s.value);
        }
    }
}

} // namespace

void render_metrics(const core::Runtime& runtime, const MetricsCatalog& catalog, std::int64_t now_ns,
                    fmt::memory_buffer& out) {
    const std::size_t n = catalog.drivers.size();
    std::vector<std::string> labels(n);
    std::vector<core::DriverCounters> counters(n);
    std::vector<NetCounters> net(n);
    for (std::size_t i = 0; i < n; ++i) {
        append_label(labels[i], "driver", catalog.drivers[i].name);
        append_label(labels[i], "tpc", catalog.drivers[i].tpc);
        counters[i] = runtime.counters(static_cast<int>(i));
        net[i] = catalog.drivers[i].net->published.read();
    }
    for (const auto& m : driver_metrics) {
        Family f(out, m.name, m.type, m.help);
        for (std::size_t i = 0; i < n; ++i) {
            f.sample(labels[i], m.value(counters[i]));
        }
    }
    {
        Family f(out, "gatio_driver_busy_seconds_total", "counter", "Time the event loop spent not waiting.");
        for (std::size_t i = 0; i < n; ++i) {
            f.sample(labels[i], static_cast<double>(counters[i].busy_ns) / 1e9);
        }
    }
    {
        Family f(out, "gatio_driver_heartbeat_age_seconds", "gauge",
                 "Time since the driver last started a loop turn.");
        for (std::size_t i = 0; i < n; ++i) {
            auto age = std::max<std::int64_t>(now_ns - counters[i].heartbeat_ns, 0);
            f.sample(labels[i], static_cast<double>(age) / 1e9);
        }
    }
    for (const auto& m : net_metrics) {
        Family f(out, m.name, m.type, m.help);
        for (std::size_t i = 0; i < n; ++i) {
            f.sample(labels[i], m.value(net[i]));
        }
    }

    std::vector<std::string> listener_labels;
    std::vector<ListenerCounters> listener_counters;
    for (const auto& l : catalog.listeners) {
        std::string text;
        append_label(text, "listener", l.name);
        append_label(text, "driver", catalog.drivers.at(static_cast<std::size_t>(l.driver)).name);
        append_label(text, "tpc", catalog.drivers.at(static_cast<std::size_t>(l.driver)).tpc);
        listener_labels.push_back(std::move(text));
        listener_counters.push_back(l.stats->published.read());
    }
    for (const auto& m : listener_metrics) {
        Family f(out, m.name, m.type, m.help);
        for (std::size_t i = 0; i < listener_labels.size(); ++i) {
            f.sample(listener_labels[i], m.value(listener_counters[i]));
        }
    }
    render_plugin_metrics(catalog, listener_labels, out);
}

int render_metrics_text(AdminBoard& board, char* buf, std::size_t capacity, std::size_t* len) {
    if (board.runtime == nullptr || !board.catalog) {
        return GATIO_ERR_UNSUPPORTED;
    }
    board.text.clear();
    render_metrics(*board.runtime, *board.catalog, core::monotonic_ns(), board.text);
    *len = board.text.size();
    if (board.text.size() > capacity) {
        return GATIO_ERR_LIMIT;
    }
    std::copy(board.text.begin(), board.text.end(), buf);
    return GATIO_OK;
}

namespace {

// The first driver of `topology` that does I/O, or -1.
int first_io_driver(const core::Topology& topology) {
    for (std::size_t i = 0; i < topology.driver_count(); ++i) {
        if (config::does_io(topology.driver(static_cast<int>(i)).role)) {
            return static_cast<int>(i);
        }
    }
    return -1;
}

} // namespace

std::optional<ListenerState> admin_listener(const config::AdminSection& admin, const core::Topology& topology,
                                            const NetOptions& options, std::string& error) {
    if (!admin.listen) {
        return std::nullopt;
    }
    const int at = first_io_driver(topology);
    if (at < 0) {
        error = "[admin] listen: no driver does I/O to serve it";
        return std::nullopt;
    }
    config::ListenerConfig l;
    l.name = std::string(admin_listener_name);
    l.transport = config::Transport::tcp;
    l.address = *admin.listen;
    l.handler = std::string(admin_handler_label);
    l.handler_path = l.handler;
    l.all_drivers = false;
    l.drivers = {topology.driver(at).name};
    l.backlog = admin_backlog;
    l.max_connections = admin.max_connections;
    l.max_outbound = 0; // it connects nowhere
    l.idle_timeout = admin.idle_timeout;
    // What the handler sizes itself by, read through the options services like any handler's.
    for (auto [key, value] : {std::pair<const char*, std::int64_t>{"max_connections", l.max_connections},
                              {"response_limit", static_cast<std::int64_t>(options.admin_response_limit)}}) {
        config::OptionEntry& entry = l.options.emplace_back();
        entry.first = key;
        entry.second.value = value;
    }
    // The built-in handler has no file: nullopt never counts as replaced.
    return ListenerState{std::move(l), {at}, std::nullopt};
}

bool is_admin(const config::ListenerConfig& listener) {
    return listener.name == admin_listener_name;
}

} // namespace gatio::net
