#include "net/admin.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <iterator>
#include <new>
#include <string_view>

#include "net/driver_net.hpp"
#include "net/endpoint.hpp"

namespace gatio::net {

namespace {

// The longest request head (request line and headers) the endpoint reads; the host keeps a
// partial one between receives.
constexpr std::uint32_t max_request_head = 8192;

std::int64_t monotonic_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

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

constexpr std::array<DriverMetric, 8> driver_metrics{{
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
}};

struct NetMetric {
    std::string_view name;
    std::string_view type;
    std::string_view help;
    std::uint64_t (*value)(const NetCounters&);
};

constexpr std::array<NetMetric, 15> net_metrics{{
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
}

namespace {

// ---------------------------------------------------------------- the HTTP/1.1 responder

bool equal_nocase(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               auto lower = [](char c) {
                   return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
               };
               return lower(x) == lower(y);
           });
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
        s.remove_suffix(1);
    }
    return s;
}

struct Request {
    std::string_view method;
    std::string_view path; // without the query
    bool keep_alive = true;
    bool has_body = false; // Content-Length other than 0, or Transfer-Encoding: not served
    bool valid = false;
};

// `head`: the request line and headers, without the blank line ending them.
Request parse_head(std::string_view head) {
    Request r;
    std::size_t line_end = head.find("\r\n");
    std::string_view line = head.substr(0, line_end);
    std::size_t sp1 = line.find(' ');
    std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp1 == std::string_view::npos || sp2 == std::string_view::npos) {
        return r;
    }
    r.method = line.substr(0, sp1);
    std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    std::string_view version = line.substr(sp2 + 1);
    if (version != "HTTP/1.1" && version != "HTTP/1.0") {
        return r;
    }
    r.path = target.substr(0, target.find('?'));
    r.keep_alive = version == "HTTP/1.1";
    std::string_view rest =
        line_end == std::string_view::npos ? std::string_view{} : head.substr(line_end + 2);
    while (!rest.empty()) {
        std::size_t end = rest.find("\r\n");
        std::string_view field = rest.substr(0, end);
        rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 2);
        std::size_t colon = field.find(':');
        if (colon == std::string_view::npos) {
            return r;
        }
        std::string_view name = field.substr(0, colon);
        std::string_view value = trim(field.substr(colon + 1));
        if (equal_nocase(name, "connection")) {
            if (equal_nocase(value, "close")) {
                r.keep_alive = false;
            } else if (equal_nocase(value, "keep-alive")) {
                r.keep_alive = true;
            }
        } else if (equal_nocase(name, "transfer-encoding") ||
                   (equal_nocase(name, "content-length") && value != "0")) {
            r.has_body = true;
        }
    }
    r.valid = !r.method.empty() && !r.path.empty() && r.path.front() == '/';
    return r;
}

class AdminInstance;

struct Probe {
    AdminInstance* owner = nullptr;
    std::uint32_t driver = 0;
};

class AdminInstance {
public:
    AdminInstance(gatio_host* host, const gatio_instance_info& info, AdminBoard& board)
        : host_(host), board_(board), own_(info.driver_index), probe_sent_ns_(info.driver_count, -1),
          probes_(info.driver_count) {
        body_.reserve(board_.options.admin_response_limit);
        for (std::uint32_t i = 0; i < info.driver_count; ++i) {
            probes_[i] = Probe{this, i};
        }
        schedule_tick();
    }
    AdminInstance(const AdminInstance&) = delete;
    AdminInstance& operator=(const AdminInstance&) = delete;

    std::int64_t on_data(gatio_conn conn, const std::uint8_t* data, std::size_t len) {
        std::string_view in(reinterpret_cast<const char*>(data), len);
        std::size_t consumed = 0;
        while (consumed < in.size()) {
            std::size_t end = in.find("\r\n\r\n", consumed);
            if (end == std::string_view::npos) {
                if (in.size() - consumed >= max_request_head) {
                    answer(conn, 431, "Request Header Fields Too Large", "request head too large\n", false,
                           true);
                    return GATIO_DATA_CLOSE;
                }
                break; // the rest of the head is still to come
            }
            Request r = parse_head(in.substr(consumed, end - consumed));
            consumed = end + 4;
            if (!serve(conn, r)) {
                return GATIO_DATA_CLOSE;
            }
        }
        return static_cast<std::int64_t>(consumed);
    }

    void answered(std::uint32_t driver) { probe_sent_ns_[driver] = -1; }

private:
    // False: the connection closes once the answer is out.
    bool serve(gatio_conn conn, const Request& r) {
        if (!r.valid || r.has_body) {
            answer(conn, 400, "Bad Request", "bad request\n", false, true);
            return false;
        }
        const bool head = r.method == "HEAD";
        if (r.method != "GET" && !head) {
            answer(conn, 405, "Method Not Allowed", "GET or HEAD only\n", head, false,
                   "Allow: GET, HEAD\r\n");
            return r.keep_alive;
        }
        if (r.path == "/metrics") {
            body_.clear();
            render_metrics(*board_.runtime, *board_.catalog, monotonic_ns(), body_);
            if (body_.size() > board_.options.admin_response_limit) {
                answer(conn, 503, "Service Unavailable", "metrics exceed admin_response_limit\n", head,
                       r.keep_alive);
            } else {
                respond(conn, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", head, r.keep_alive, {});
            }
        } else if (r.path == "/healthz") {
            health(conn, head, r.keep_alive);
        } else {
            answer(conn, 404, "Not Found", "not found: try /metrics or /healthz\n", head, r.keep_alive);
        }
        return r.keep_alive;
    }

    void health(gatio_conn conn, bool head, bool keep_alive) {
        const std::int64_t now = monotonic_ns();
        const std::int64_t limit = std::chrono::nanoseconds(board_.options.health_stall_after).count();
        std::string stalled;
        for (std::uint32_t i = 0; i < probe_sent_ns_.size(); ++i) {
            if (i == own_ || probe_sent_ns_[i] < 0 || now - probe_sent_ns_[i] <= limit) {
                continue;
            }
            if (now - board_.runtime->counters(static_cast<int>(i)).heartbeat_ns > limit) {
                stalled += (stalled.empty() ? "" : " ") + board_.catalog->drivers.at(i).name;
            }
        }
        body_.clear();
        if (stalled.empty()) {
            fmt::format_to(std::back_inserter(body_), "ok\n");
            respond(conn, 200, "OK", "text/plain; charset=utf-8", head, keep_alive, {});
        } else {
            fmt::format_to(std::back_inserter(body_), "stalled: {}\n", stalled);
            respond(conn, 503, "Service Unavailable", "text/plain; charset=utf-8", head, keep_alive, {});
        }
    }

    void answer(gatio_conn conn, int status, std::string_view reason, std::string_view text, bool head,
                bool keep_alive, std::string_view extra = {}) {
        body_.clear();
        body_.append(text.data(), text.data() + text.size());
        respond(conn, status, reason, "text/plain; charset=utf-8", head, keep_alive, extra);
    }

    // Sends body_ under a status line and headers.
    void respond(gatio_conn conn, int status, std::string_view reason, std::string_view type, bool head,
                 bool keep_alive, std::string_view extra) {
        head_.clear();
        fmt::format_to(
            std::back_inserter(head_),
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\n{}{}\r\n",
            status, reason, type, body_.size(), extra, keep_alive ? "" : "Connection: close\r\n");
        std::array<iovec, 2> iov{iovec{head_.data(), head_.size()},
                                 iovec{body_.data(), head ? 0 : body_.size()}};
        if (host_->send(conn, iov.data(), iov.size()) != GATIO_OK) {
            host_->close(conn, GATIO_CLOSE_ABORT);
        }
    }

    // Every half stall period: a no-op to each other driver that has answered its last one.
    void schedule_tick() {
        auto period = std::max<std::uint64_t>(
            static_cast<std::uint64_t>(board_.options.health_stall_after.count()) / 2, 1);
        host_->timer_start(
            period, [](gatio_host*, void* self) { static_cast<AdminInstance*>(self)->tick(); }, this);
    }

    void tick() {
        const std::int64_t now = monotonic_ns();
        for (std::uint32_t i = 0; i < probes_.size(); ++i) {
            if (i == own_ || probe_sent_ns_[i] >= 0) {
                continue;
            }
            gatio_task task{};
            task.struct_size = sizeof task;
            task.placement = GATIO_PLACE_DRIVER;
            task.driver = i;
            task.priority = GATIO_PRIORITY_LATENCY;
            task.run = [](void*) {};
            task.done = [](gatio_host*, void* arg) {
                auto* p = static_cast<Probe*>(arg);
                p->owner->answered(p->driver);
            };
            task.arg = &probes_[i];
            // A refused probe (every task slot in use) is sent on a later tick.
            if (host_->spawn(task) == GATIO_OK) {
                probe_sent_ns_[i] = now;
            }
        }
        schedule_tick();
    }

    gatio_host* host_;
    AdminBoard& board_;
    std::uint32_t own_;
    std::vector<std::int64_t> probe_sent_ns_; // by driver; -1: no probe out
    std::vector<Probe> probes_;               // task arguments, by driver
    fmt::memory_buffer head_;
    fmt::memory_buffer body_;
};

int admin_create(gatio_host* host, const gatio_instance_info* info, void** instance, char* error,
                 std::size_t error_size) {
    // Built in: the host is always an Endpoint, whose listener carries the board.
    auto* endpoint = static_cast<Endpoint*>(host);
    AdminBoard* board = endpoint->shared().admin.get();
    if (board == nullptr || board->runtime == nullptr || !board->catalog) {
        std::snprintf(error, error_size, "the admin endpoint has no metrics source");
        return 1;
    }
    *instance = new (std::nothrow) AdminInstance(host, *info, *board);
    if (*instance == nullptr) {
        std::snprintf(error, error_size, "out of memory");
        return 1;
    }
    return 0;
}

void admin_destroy(void* instance) {
    delete static_cast<AdminInstance*>(instance);
}

std::int64_t admin_data(void* instance, gatio_conn conn, void*, const std::uint8_t* data, std::size_t len) {
    return static_cast<AdminInstance*>(instance)->on_data(conn, data, len);
}

constexpr gatio_plugin admin_descriptor() {
    gatio_plugin d{};
    d.abi_major = GATIO_ABI_MAJOR;
    d.abi_minor = GATIO_ABI_MINOR;
    d.struct_size = sizeof(gatio_plugin);
    d.transports = GATIO_TRANSPORT_TCP;
    d.name = "admin";
    d.version = "1";
    d.max_unconsumed = max_request_head;
    d.instance_create = admin_create;
    d.instance_destroy = admin_destroy;
    d.on_data = admin_data;
    return d;
}

} // namespace

config::ListenerConfig admin_listener(const config::Config& config, const core::DriverPlan& driver,
                                      const NetOptions& options) {
    config::ListenerConfig l;
    l.name = std::string(admin_listener_name);
    l.transport = config::Transport::tcp;
    l.address = config.admin.listen.value();
    l.handler = "(built-in admin)";
    l.handler_path = l.handler;
    l.all_drivers = false;
    l.drivers = {driver.name};
    l.backlog = 64;
    l.max_connections = options.admin_max_connections;
    l.idle_timeout = std::chrono::seconds(60);
    return l;
}

int admin_driver(const core::Topology& topology) {
    for (std::size_t i = 0; i < topology.driver_count(); ++i) {
        if (config::does_io(topology.driver(static_cast<int>(i)).role)) {
            return static_cast<int>(i);
        }
    }
    return -1;
}

std::shared_ptr<const Plugin> admin_plugin() {
    static const std::shared_ptr<const Plugin> plugin =
        Plugin::builtin("(built-in admin)", admin_descriptor());
    return plugin;
}

} // namespace gatio::net
