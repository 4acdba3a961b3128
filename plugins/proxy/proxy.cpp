// The proxy handler: a TCP (layer 4) reverse proxy. Each accepted connection gets one upstream
// connection made through the driver's ring (the connect service); bytes are forwarded both
// ways as they arrive (sent from the buffer they were received into: send_received), half-closes
// and resets are passed on, and a side holding more than max_buffered unsent bytes pauses
// reading the other side until it has drained (notify_drained), so a slow peer costs at most
// that much memory per direction.
//
// Health is per driver: each instance keeps its own view of every upstream (passive: connect
// failures and resets; active: a TCP connect every health_interval), so no state is shared
// between drivers and nothing takes a lock. Options and metrics: docs/plugins.md.
#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <gatio/plugin.h>
#include <gatio/plugin.hpp>

namespace {

// The host's one table of services, stored by the first create of any driver (the drivers
// create their instances at the same time, so a plain store would race).
const gatio_services* svc = nullptr;
std::once_flag svc_once;

// How bytes on_data was given go to the other side: send_received (ABI 1.5) sends them from the
// receive buffer they arrived in, without a copy; an older gatiod copies them with send.
int copy_send(gatio_host* host, gatio_conn conn, const std::uint8_t* data, size_t len) {
    return svc->send(host, conn, data, len);
}
int (*send_received)(gatio_host*, gatio_conn, const std::uint8_t*, size_t) = copy_send;

// The most upstreams one listener may name.
constexpr std::size_t max_upstreams = 256;

class OptionError : public std::runtime_error {
public:
    OptionError(std::string_view key, const std::string& why)
        : std::runtime_error("option \"" + std::string(key) + "\": " + why) {}
};

enum class Balance { round_robin, least_conn, random_two };

struct Settings {
    Balance balance = Balance::round_robin;
    std::int64_t connect_timeout_ms = 1000;
    std::int64_t retries = 1;
    std::int64_t health_interval_ms = 2000;
    std::int64_t health_fall = 3;
    std::int64_t health_rise = 2;
    std::int64_t down_time_ms = 10000;
    std::int64_t max_upstream_connections = 0;
    std::uint64_t max_buffered = 256 << 10;
};

// What a connection's user pointer points at.
enum class Kind : std::uint8_t { client, upstream, check };
struct Tag {
    Kind kind;
};

struct Instance;
struct Session;

struct Upstream;
struct Check : Tag {
    Upstream* upstream = nullptr;
};

struct Upstream {
    Instance* in = nullptr;
    std::string text;
    std::optional<gatio::Address> address; // set by parse_upstream
    bool up = true;
    std::int64_t fails = 0; // consecutive failures while up
    std::int64_t rises = 0; // consecutive successes while down
    std::int64_t active = 0;
    bool checking = false;
    gatio_timer down_timer = 0; // passive-only: when it is given another chance
    Check check;
    struct {
        gatio_metric up, active, total, sent, received, errors, timeouts, resets, went_down, went_up;
    } m{};
};

struct End : Tag {
    Session* session = nullptr;
};

struct Session {
    Instance* in = nullptr;
    gatio_conn client = 0;
    gatio_conn upstream = 0; // connecting or connected; 0 when there is none
    Upstream* target = nullptr;
    End client_end;
    End upstream_end;
    bool connected = false;
    bool client_open = false;
    bool client_eof = false;
    bool upstream_eof = false;
    bool client_paused = false;   // by us: the upstream's output is full
    bool upstream_paused = false; // by us: the client's output is full
    std::int64_t attempts = 0;
    std::vector<bool> tried;
    // Client bytes that came before the upstream connected, and how many of them went out:
    // they are sent max_buffered at a time, and later bytes wait behind them.
    std::string early;
    std::size_t early_sent = 0;
};

struct Instance {
    gatio_host* host = nullptr;
    Settings settings;
    std::vector<std::unique_ptr<Upstream>> upstreams;
    std::vector<std::unique_ptr<Session>> pool; // sessions free for reuse
    std::size_t cursor = 0;
    std::uint64_t rng = 0;
    std::int64_t sessions = 0;
    gatio_timer health_timer = 0;
    gatio_metric unavailable = 0;
};

// ---------------------------------------------------------------- options

std::int64_t int_option(const gatio_option* root, const char* key, std::int64_t def, std::int64_t lo,
                        std::int64_t hi) {
    const gatio_option* node = svc->option_get(root, key);
    if (node == nullptr) {
        return def;
    }
    std::int64_t v = 0;
    if (svc->option_int(node, &v) != GATIO_OK) {
        throw OptionError(key, "expected an integer");
    }
    if (v < lo || v > hi) {
        throw OptionError(key, "must be between " + std::to_string(lo) + " and " + std::to_string(hi) +
                                   ", got " + std::to_string(v));
    }
    return v;
}

std::int64_t duration_option(const gatio_option* root, const char* key, std::int64_t def, std::int64_t lo) {
    const gatio_option* node = svc->option_get(root, key);
    if (node == nullptr) {
        return def;
    }
    std::int64_t v = 0;
    if (svc->option_duration_ms(node, &v) != GATIO_OK) {
        throw OptionError(key, "expected a duration such as \"250ms\" or \"2s\"");
    }
    if (v < lo || static_cast<std::uint64_t>(v) > GATIO_TIMER_MAX_DELAY_MS) {
        throw OptionError(key, "must be between " + std::to_string(lo) + "ms and 30 days, got " +
                                   std::to_string(v) + "ms");
    }
    return v;
}

// "A.B.C.D:PORT", "[V6]:PORT" or "unix:/PATH", numeric only (the connect service resolves no names).
void parse_upstream(std::string_view text, Upstream& u) {
    const auto bad = [&](const std::string& why) {
        throw OptionError("upstreams", "\"" + std::string(text) + "\": " + why);
    };
    u.text = std::string(text);
    if (text.starts_with("unix:") && !text.substr(5).starts_with('/')) {
        bad("a unix address needs an absolute path");
    }
    const char* why = nullptr;
    u.address = gatio::Address::parse(text, &why);
    if (!u.address) {
        bad(why);
    }
}

constexpr std::string_view known_options[] = {
    "upstreams",   "balance",     "connect_timeout", "retries",      "health_interval",
    "health_fall", "health_rise", "down_time",       "max_buffered", "max_upstream_connections",
};

void read_options(Instance& in, const gatio_option* root) {
    for (std::size_t i = 0; i < svc->option_count(root); ++i) {
        const std::string_view key = svc->option_key_at(root, i);
        if (std::find(std::begin(known_options), std::end(known_options), key) == std::end(known_options)) {
            throw OptionError(key, "unknown to the proxy plugin");
        }
    }
    const gatio_option* list = svc->option_get(root, "upstreams");
    if (list == nullptr) {
        throw OptionError("upstreams", "required: the addresses to forward to");
    }
    if (svc->option_type(list) != GATIO_OPTION_ARRAY) {
        throw OptionError("upstreams", "expected an array of strings");
    }
    const std::size_t n = svc->option_count(list);
    if (n == 0 || n > max_upstreams) {
        throw OptionError("upstreams", "must name 1 to " + std::to_string(max_upstreams) +
                                           " addresses, got " + std::to_string(n));
    }
    for (std::size_t i = 0; i < n; ++i) {
        const char* text = nullptr;
        size_t len = 0;
        if (svc->option_string(svc->option_at(list, i), &text, &len) != GATIO_OK) {
            throw OptionError("upstreams", "entry " + std::to_string(i + 1) + " is not a string");
        }
        auto u = std::make_unique<Upstream>();
        parse_upstream(std::string_view(text, len), *u);
        for (const auto& other : in.upstreams) {
            if (other->text == u->text) {
                throw OptionError("upstreams", "\"" + u->text + "\" is named twice");
            }
        }
        u->in = &in;
        u->check.kind = Kind::check;
        u->check.upstream = u.get();
        in.upstreams.push_back(std::move(u));
    }
    Settings& s = in.settings;
    if (const gatio_option* b = svc->option_get(root, "balance")) {
        const char* text = nullptr;
        if (svc->option_string(b, &text, nullptr) != GATIO_OK) {
            throw OptionError("balance", "expected a string");
        }
        const std::string_view v = text;
        if (v == "round-robin") {
            s.balance = Balance::round_robin;
        } else if (v == "least-conn") {
            s.balance = Balance::least_conn;
        } else if (v == "random-two") {
            s.balance = Balance::random_two;
        } else {
            throw OptionError("balance",
                              "expected \"round-robin\", \"least-conn\" or \"random-two\", got \"" +
                                  std::string(v) + "\"");
        }
    }
    s.connect_timeout_ms = duration_option(root, "connect_timeout", s.connect_timeout_ms, 1);
    s.retries = int_option(root, "retries", s.retries, 0, static_cast<std::int64_t>(max_upstreams));
    s.health_interval_ms = duration_option(root, "health_interval", s.health_interval_ms, 0);
    s.health_fall = int_option(root, "health_fall", s.health_fall, 1, 1000);
    s.health_rise = int_option(root, "health_rise", s.health_rise, 1, 1000);
    s.down_time_ms = duration_option(root, "down_time", s.down_time_ms, 1);
    s.max_upstream_connections = int_option(root, "max_upstream_connections", 0, 0, 1 << 20);
    if (const gatio_option* b = svc->option_get(root, "max_buffered")) {
        std::uint64_t v = 0;
        if (svc->option_size(b, &v) != GATIO_OK) {
            throw OptionError("max_buffered", "expected a size such as \"256KiB\"");
        }
        if (v < 1024 || v > (std::uint64_t{1} << 30)) {
            throw OptionError("max_buffered",
                              "must be between 1KiB and 1GiB, got " + std::to_string(v) + " bytes");
        }
        s.max_buffered = v;
    }
}

// ---------------------------------------------------------------- metrics

gatio_metric metric(Instance& in, const char* name, std::uint32_t type, const char* help, const Upstream* u,
                    const char* extra_key = nullptr, const char* extra_value = nullptr) {
    const char* keys[2] = {"upstream", extra_key};
    const char* values[2] = {u != nullptr ? u->text.c_str() : nullptr, extra_value};
    gatio_metric_args a{};
    a.struct_size = sizeof a;
    a.type = type;
    a.name = name;
    a.help = help;
    a.label_names = u != nullptr ? keys : nullptr;
    a.label_values = u != nullptr ? values : nullptr;
    a.label_count = u == nullptr ? 0 : extra_key != nullptr ? 2 : 1;
    gatio_metric m = 0;
    if (svc->metric_register(in.host, &a, &m) != GATIO_OK) {
        throw std::runtime_error(std::string("could not register the metric ") + name);
    }
    return m;
}

void register_metrics(Instance& in) {
    for (auto& u : in.upstreams) {
        u->m.up =
            metric(in, "proxy_upstream_up", GATIO_METRIC_GAUGE,
                   "1 while the upstream takes new connections on this driver, 0 while it is down.", u.get());
        u->m.active =
            metric(in, "proxy_upstream_active_connections", GATIO_METRIC_GAUGE,
                   "Client connections forwarded to the upstream now (connecting or open).", u.get());
        u->m.total =
            metric(in, "proxy_upstream_connections_total", GATIO_METRIC_COUNTER,
                   "Connections to the upstream started for clients (failed connects included).", u.get());
        u->m.sent = metric(in, "proxy_upstream_sent_bytes_total", GATIO_METRIC_COUNTER,
                           "Bytes from clients forwarded to the upstream.", u.get());
        u->m.received = metric(in, "proxy_upstream_received_bytes_total", GATIO_METRIC_COUNTER,
                               "Bytes from the upstream forwarded to clients.", u.get());
        u->m.errors = metric(
            in, "proxy_upstream_connect_errors_total", GATIO_METRIC_COUNTER,
            "Connects to the upstream that failed (timeouts included), health checks included.", u.get());
        u->m.timeouts = metric(in, "proxy_upstream_connect_timeouts_total", GATIO_METRIC_COUNTER,
                               "Connects to the upstream that took longer than connect_timeout.", u.get());
        u->m.resets = metric(in, "proxy_upstream_resets_total", GATIO_METRIC_COUNTER,
                             "Forwarded connections the upstream reset.", u.get());
        u->m.went_down = metric(in, "proxy_upstream_health_transitions_total", GATIO_METRIC_COUNTER,
                                "Times the upstream was marked down or up again.", u.get(), "to", "down");
        u->m.went_up = metric(in, "proxy_upstream_health_transitions_total", GATIO_METRIC_COUNTER,
                              "Times the upstream was marked down or up again.", u.get(), "to", "up");
        svc->metric_set(in.host, u->m.up, 1);
    }
    in.unavailable = metric(in, "proxy_clients_unavailable_total", GATIO_METRIC_COUNTER,
                            "Client connections closed at once: no upstream was up or had room.", nullptr);
}

void add(Instance& in, gatio_metric m, std::int64_t v) {
    svc->metric_add(in.host, m, v);
}

// ---------------------------------------------------------------- health

void log_text(Instance& in, int level, const std::string& text) {
    svc->log(in.host, level, text.data(), text.size());
}

void passive_timer(gatio_host* host, void* arg);

void mark(Instance& in, Upstream& u, bool up, const char* why) {
    if (u.up == up) {
        return;
    }
    u.up = up;
    u.fails = 0;
    u.rises = 0;
    svc->metric_set(in.host, u.m.up, up ? 1 : 0);
    add(in, up ? u.m.went_up : u.m.went_down, 1);
    log_text(in, up ? GATIO_LOG_INFO : GATIO_LOG_WARN,
             "proxy: upstream " + u.text + (up ? " is up again (" : " is down (") + why + ")");
    if (!up && in.settings.health_interval_ms == 0) {
        // Passive only: no check brings it back, so it gets another chance after down_time.
        u.down_timer = svc->timer_start(in.host, static_cast<std::uint64_t>(in.settings.down_time_ms),
                                        passive_timer, &u);
    }
}

void passive_timer(gatio_host*, void* arg) {
    auto* u = static_cast<Upstream*>(arg);
    u->down_timer = 0;
    mark(*u->in, *u, true, "down_time passed");
}

void failed(Instance& in, Upstream& u, const char* why) {
    u.rises = 0;
    if (u.up && ++u.fails >= in.settings.health_fall) {
        mark(in, u, false, why);
    }
}

void succeeded(Instance& in, Upstream& u) {
    u.fails = 0;
    if (!u.up && ++u.rises >= in.settings.health_rise) {
        mark(in, u, true, "health checks passed");
    }
}

void count_connect_error(Instance& in, Upstream& u, int result) {
    add(in, u.m.errors, 1);
    if (result == -ETIMEDOUT) {
        add(in, u.m.timeouts, 1);
    }
}

void check_done(gatio_host* host, gatio_conn conn, void* user, int result) {
    auto* check = static_cast<Check*>(user);
    Upstream& u = *check->upstream;
    if (result == 0) {
        // Connected is healthy. The check goes away at once: an orderly close would wait for
        // the upstream's FIN (close_linger), and hold back the next check meanwhile.
        svc->close(host, conn, GATIO_CLOSE_ABORT);
        succeeded(*u.in, u);
        return;
    }
    u.checking = false;
    if (result != -ECANCELED) {
        count_connect_error(*u.in, u, result);
        failed(*u.in, u, result == -ETIMEDOUT ? "health check timed out" : "health check refused");
    }
}

void health_round(gatio_host* host, void* arg) {
    auto* in = static_cast<Instance*>(arg);
    in->health_timer =
        svc->timer_start(host, static_cast<std::uint64_t>(in->settings.health_interval_ms), health_round, in);
    for (auto& u : in->upstreams) {
        if (u->checking) {
            continue; // the last one is still out: its timeout judges it
        }
        gatio_connect_args a{};
        a.struct_size = sizeof a;
        a.timeout_ms = static_cast<std::uint32_t>(std::min(
            in->settings.connect_timeout_ms, std::max<std::int64_t>(in->settings.health_interval_ms, 1)));
        a.address = u->address->get();
        a.address_len = u->address->size();
        a.done = check_done;
        a.user = &u->check;
        gatio_conn conn = 0;
        if (svc->connect(host, &a, &conn) == GATIO_OK) {
            u->checking = true;
        }
    }
}

// ---------------------------------------------------------------- sessions

std::uint64_t next_random(Instance& in) {
    in.rng ^= in.rng << 13;
    in.rng ^= in.rng >> 7;
    in.rng ^= in.rng << 17;
    return in.rng;
}

bool eligible(const Instance& in, const Session& s, std::size_t i) {
    const Upstream& u = *in.upstreams[i];
    return u.up && !s.tried[i] &&
           (in.settings.max_upstream_connections == 0 || u.active < in.settings.max_upstream_connections);
}

// The upstream balance picks among the eligible ones; -1 when there is none.
int pick(Instance& in, const Session& s) {
    const std::size_t n = in.upstreams.size();
    switch (in.settings.balance) {
    case Balance::round_robin:
        for (std::size_t k = 0; k < n; ++k) {
            const std::size_t i = (in.cursor + k) % n;
            if (eligible(in, s, i)) {
                in.cursor = i + 1;
                return static_cast<int>(i);
            }
        }
        return -1;
    case Balance::least_conn: {
        int best = -1;
        for (std::size_t k = 0; k < n; ++k) {
            const std::size_t i = (in.cursor + k) % n; // ties go round
            if (eligible(in, s, i) && (best < 0 || in.upstreams[i]->active < in.upstreams[best]->active)) {
                best = static_cast<int>(i);
            }
        }
        in.cursor = best < 0 ? in.cursor : static_cast<std::size_t>(best) + 1;
        return best;
    }
    case Balance::random_two: {
        std::size_t count = 0;
        for (std::size_t i = 0; i < n; ++i) {
            count += eligible(in, s, i) ? 1 : 0;
        }
        if (count == 0) {
            return -1;
        }
        // The k-th eligible one, for two draws; the less busy wins.
        const auto nth = [&](std::size_t k) {
            for (std::size_t i = 0; i < n; ++i) {
                if (eligible(in, s, i) && k-- == 0) {
                    return static_cast<int>(i);
                }
            }
            return -1;
        };
        const int a = nth(next_random(in) % count);
        const int b = nth(next_random(in) % count);
        return in.upstreams[b]->active < in.upstreams[a]->active ? b : a;
    }
    }
    return -1;
}

Session* take_session(Instance& in) {
    std::unique_ptr<Session> s;
    if (!in.pool.empty()) {
        s = std::move(in.pool.back());
        in.pool.pop_back();
    } else {
        s = std::make_unique<Session>();
    }
    Session* p = s.release();
    std::string early = std::move(p->early);
    early.clear();
    std::vector<bool> tried = std::move(p->tried);
    *p = Session{};
    p->early = std::move(early); // keeps its capacity
    p->tried = std::move(tried);
    p->tried.assign(in.upstreams.size(), false);
    p->in = &in;
    p->client_end.kind = Kind::client;
    p->client_end.session = p;
    p->upstream_end.kind = Kind::upstream;
    p->upstream_end.session = p;
    ++in.sessions;
    return p;
}

void maybe_free(Session* s) {
    if (s->client_open || s->upstream != 0) {
        return;
    }
    Instance& in = *s->in;
    --in.sessions;
    in.pool.emplace_back(s);
}

void connect_done(gatio_host* host, gatio_conn conn, void* user, int result);

// Starts the next connect attempt for s; false when there is no upstream left to try.
bool dial(Session& s) {
    Instance& in = *s.in;
    while (s.attempts <= in.settings.retries) {
        const int i = pick(in, s);
        if (i < 0) {
            return false;
        }
        s.tried[static_cast<std::size_t>(i)] = true;
        Upstream& u = *in.upstreams[static_cast<std::size_t>(i)];
        gatio_connect_args a{};
        a.struct_size = sizeof a;
        a.timeout_ms = static_cast<std::uint32_t>(in.settings.connect_timeout_ms);
        a.address = u.address->get();
        a.address_len = u.address->size();
        a.done = connect_done;
        a.user = &s.upstream_end;
        ++s.attempts;
        if (svc->connect(in.host, &a, &s.upstream) == GATIO_OK) {
            s.target = &u;
            ++u.active;
            add(in, u.m.active, 1);
            add(in, u.m.total, 1);
            return true;
        }
        s.upstream = 0; // no slot left on this driver: another upstream will not help
        return false;
    }
    return false;
}

void unavailable(Session& s) {
    add(*s.in, s.in->unavailable, 1);
    svc->close(s.in->host, s.client, GATIO_CLOSE_ABORT);
}

void on_drained(gatio_host* host, void* arg, int status);

// Bytes on_data was given by one side, queued on the other; pauses the side they came from when
// the other holds max_buffered. false when the other side refused them (its send_buffer_limit or
// the driver's output memory): the pair is then reset.
bool forward(Session& s, bool to_upstream, const std::uint8_t* data, std::size_t len) {
    Instance& in = *s.in;
    const gatio_conn to = to_upstream ? s.upstream : s.client;
    const gatio_conn from = to_upstream ? s.client : s.upstream;
    if (send_received(in.host, to, data, len) != GATIO_OK) {
        return false;
    }
    add(in, to_upstream ? s.target->m.sent : s.target->m.received, static_cast<std::int64_t>(len));
    bool& paused = to_upstream ? s.client_paused : s.upstream_paused;
    if (!paused && svc->pending_output(in.host, to) >= in.settings.max_buffered) {
        if (svc->notify_drained(in.host, to, on_drained, to_upstream ? &s.upstream_end : &s.client_end) ==
            GATIO_OK) {
            paused = true;
            svc->pause_read(in.host, from);
        }
    }
    return true;
}

void maybe_finish(Session& s);
void reset_pair(Session& s);

// Sends the early bytes, a slice of max_buffered at a time: while the upstream holds that much,
// the client stays paused and the upstream's drain sends the next slice, so a client that sent
// much before the connect completed cannot fill the upstream's queue beyond its limits. Once they
// are out, the client is read again and its FIN, if it came, goes on. false: a send was refused.
bool drain_early(Session& s) {
    Instance& in = *s.in;
    while (s.early_sent < s.early.size()) {
        const std::size_t n = std::min<std::size_t>(s.early.size() - s.early_sent, in.settings.max_buffered);
        if (svc->send(in.host, s.upstream, s.early.data() + s.early_sent, n) != GATIO_OK) {
            return false;
        }
        add(in, s.target->m.sent, static_cast<std::int64_t>(n));
        s.early_sent += n;
        if (s.early_sent < s.early.size() &&
            svc->pending_output(in.host, s.upstream) >= in.settings.max_buffered &&
            svc->notify_drained(in.host, s.upstream, on_drained, &s.upstream_end) == GATIO_OK) {
            if (!s.client_paused) {
                s.client_paused = true;
                svc->pause_read(in.host, s.client);
            }
            return true;
        }
    }
    s.early.clear();
    s.early_sent = 0;
    if (s.client_paused) {
        s.client_paused = false;
        svc->resume_read(in.host, s.client);
    }
    if (s.client_eof) {
        svc->shutdown_write(in.host, s.upstream);
        maybe_finish(s);
    }
    return true;
}

// The side `arg` names has sent everything queued on it: the other side may be read again.
void on_drained(gatio_host* host, void* arg, int status) {
    auto* end = static_cast<End*>(arg);
    Session& s = *end->session;
    if (end->kind == Kind::upstream && !s.early.empty()) {
        if (status == GATIO_OK && !drain_early(s)) {
            reset_pair(s);
        }
        return;
    }
    const bool upstream_drained = end->kind == Kind::upstream;
    bool& paused = upstream_drained ? s.client_paused : s.upstream_paused;
    paused = false;
    if (status == GATIO_OK) {
        svc->resume_read(host, upstream_drained ? s.client : s.upstream);
    }
}

void reset_pair(Session& s) {
    if (s.client_open) {
        svc->close(s.in->host, s.client, GATIO_CLOSE_ABORT);
    }
    if (s.upstream != 0) {
        svc->close(s.in->host, s.upstream, GATIO_CLOSE_ABORT);
    }
}

// Both sides sent their FIN and each was passed on: the pair closes once flushed.
void maybe_finish(Session& s) {
    if (s.client_eof && s.upstream_eof && s.early.empty()) {
        svc->close(s.in->host, s.client, GATIO_CLOSE_FLUSH);
        svc->close(s.in->host, s.upstream, GATIO_CLOSE_FLUSH);
    }
}

void connect_done(gatio_host* host, gatio_conn conn, void* user, int result) {
    auto* end = static_cast<End*>(user);
    Session& s = *end->session;
    Instance& in = *s.in;
    Upstream& u = *s.target;
    if (result != 0) {
        s.upstream = 0;
        --u.active;
        add(in, u.m.active, -1);
        if (result != -ECANCELED) {
            count_connect_error(in, u, result);
            failed(in, u, result == -ETIMEDOUT ? "connect timed out" : "connect failed");
        }
        if (s.client_open && result != -ECANCELED && !dial(s)) {
            unavailable(s);
        }
        maybe_free(&s);
        return;
    }
    succeeded(in, u);
    if (!s.client_open) {
        svc->close(host, conn, GATIO_CLOSE_ABORT);
        return;
    }
    s.connected = true;
    if (!drain_early(s)) {
        reset_pair(s);
    }
}

// ---------------------------------------------------------------- the descriptor's callbacks

int create(gatio_host* host, const gatio_instance_info* info, void** instance, char* error,
           size_t error_size) {
    std::call_once(svc_once, [info] {
        svc = info->services;
        if (svc->struct_size >= offsetof(gatio_services, send_received) + sizeof(void*)) {
            send_received = svc->send_received;
        }
    });
    const auto fail = [&](const std::string& why) {
        std::snprintf(error, error_size, "%s", why.c_str());
        return 1;
    };
    if (svc != info->services) {
        return fail("the proxy plugin was given a second table of services");
    }
    if (svc->struct_size < offsetof(gatio_services, metric_set) + sizeof(void*)) {
        return fail("gatiod is older than the proxy plugin: it needs ABI 1.4 services");
    }
    try {
        auto in = std::make_unique<Instance>();
        in->host = host;
        in->rng = 0x9e3779b97f4a7c15ull ^
                  (static_cast<std::uint64_t>(info->driver_index) + 1) * 0xbf58476d1ce4e5b9ull;
        read_options(*in, info->options);
        register_metrics(*in);
        if (in->settings.health_interval_ms > 0) {
            in->health_timer = svc->timer_start(
                host, static_cast<std::uint64_t>(in->settings.health_interval_ms), health_round, in.get());
            if (in->health_timer == 0) {
                return fail("no timer slot for the health checks");
            }
        }
        *instance = in.release();
        return 0;
    } catch (const std::exception& e) {
        return fail(e.what());
    }
}

void destroy(void* instance) {
    delete static_cast<Instance*>(instance);
}

int on_open(void* instance, gatio_conn conn, const gatio_conn_info*, void** user) {
    auto& in = *static_cast<Instance*>(instance);
    Session* s = take_session(in);
    s->client = conn;
    s->client_open = true;
    *user = &s->client_end;
    if (!dial(*s)) {
        unavailable(*s);
    }
    return 0;
}

std::int64_t on_data(void* instance, gatio_conn, void* user, const std::uint8_t* data, size_t len) {
    auto& in = *static_cast<Instance*>(instance);
    const auto* tag = static_cast<const Tag*>(user);
    if (tag->kind == Kind::check) {
        return static_cast<std::int64_t>(len); // a check's connection: whatever it says is dropped
    }
    Session& s = *static_cast<const End*>(user)->session;
    if (tag->kind == Kind::upstream) {
        return s.client_open && forward(s, false, data, len) ? static_cast<std::int64_t>(len)
                                                             : GATIO_DATA_RESET;
    }
    if (s.connected && s.early.empty()) {
        return forward(s, true, data, len) ? static_cast<std::int64_t>(len) : GATIO_DATA_RESET;
    }
    // Not connected yet, or early bytes still going out: kept behind them, reading paused once
    // max_buffered is held.
    s.early.append(reinterpret_cast<const char*>(data), len);
    if (!s.client_paused && s.early.size() - s.early_sent >= in.settings.max_buffered) {
        s.client_paused = true;
        svc->pause_read(in.host, s.client);
    }
    return static_cast<std::int64_t>(len);
}

int on_eof(void* instance, gatio_conn, void* user) {
    auto& in = *static_cast<Instance*>(instance);
    const auto* tag = static_cast<const Tag*>(user);
    if (tag->kind == Kind::check) {
        return GATIO_EOF_CLOSE;
    }
    Session& s = *static_cast<const End*>(user)->session;
    if (tag->kind == Kind::upstream) {
        s.upstream_eof = true;
        if (s.client_open) {
            svc->shutdown_write(in.host, s.client);
        }
    } else {
        s.client_eof = true;
        if (s.connected && s.early.empty()) {
            svc->shutdown_write(in.host, s.upstream);
        }
    }
    maybe_finish(s);
    return GATIO_EOF_KEEP;
}

void on_close(void* instance, gatio_conn, void* user, int reason) {
    auto& in = *static_cast<Instance*>(instance);
    const auto* tag = static_cast<const Tag*>(user);
    if (tag->kind == Kind::check) {
        static_cast<const Check*>(user)->upstream->checking = false;
        return;
    }
    Session& s = *static_cast<const End*>(user)->session;
    // What ended one side ends the other: a reset as a reset, anything else as an orderly close.
    const int mode =
        reason == GATIO_CLOSE_RESET || reason == GATIO_CLOSE_LIMIT ? GATIO_CLOSE_ABORT : GATIO_CLOSE_FLUSH;
    if (tag->kind == Kind::upstream) {
        Upstream& u = *s.target;
        s.upstream = 0;
        --u.active;
        add(in, u.m.active, -1);
        if (reason == GATIO_CLOSE_RESET) {
            add(in, u.m.resets, 1);
            failed(in, u, "connection reset");
        }
        if (s.client_open) {
            svc->close(in.host, s.client, mode);
        }
    } else {
        s.client_open = false;
        if (s.upstream != 0) {
            // Connecting, the close cancels it (connect_done gets -ECANCELED).
            svc->close(in.host, s.upstream, s.connected ? mode : GATIO_CLOSE_ABORT);
        }
    }
    maybe_free(&s);
}

const gatio_plugin descriptor = [] {
    gatio_plugin d{};
    d.abi_major = GATIO_ABI_MAJOR;
    d.abi_minor = GATIO_ABI_MINOR;
    d.struct_size = sizeof d;
    d.transports = GATIO_TRANSPORT_TCP;
    d.name = "proxy";
    d.version = "1.0";
    d.max_unconsumed = 0;
    // Each direction is paced on its own (forward, on_drained): the host's watermark pause would
    // stop the upstream's input for the client's bytes it holds.
    d.flags = GATIO_PLUGIN_SELF_PACED;
    d.instance_create = create;
    d.instance_destroy = destroy;
    d.on_open = on_open;
    d.on_data = on_data;
    d.on_eof = on_eof;
    d.on_close = on_close;
    return d;
}();

} // namespace

extern "C" GATIO_PLUGIN_EXPORT const gatio_plugin* gatio_plugin_entry(void) {
    return &descriptor;
}
