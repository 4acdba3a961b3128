// A test handler for outbound connections, written against the C ABI alone (the connect
// service is a callback, as a C handler sees it). A client speaks one command per line:
//   connect ADDR [MS]   connect to ADDR ("127.0.0.1:PORT" or "unix:/PATH"), MS the timeout (0:
//                       the listener's connect_timeout); answers "connected\n", then the two
//                       connections are piped both ways (every later byte is forwarded), or
//                       "failed ERRNO-NAME\n". When the upstream closes, "[closed REASON]\n" goes to
//                       the client, which is then closed.
//   many N ADDR         N connections to ADDR at once, each sends "ping N\n" and waits for its echo;
//                       answers "many ok N\n" once every one came back, or "many failed K of N\n"
//                       as soon as all are settled and K of them failed.
//   flood ADDR BYTES    connect, then queue BYTES bytes (a counter pattern) in 64 KiB sends until
//                       one is refused; answers "flood queued Q pending P refused R\n".
//   pending             answers "pending P\n": the flood connection's unsent bytes.
//   closeup             closes the upstream (pending or connected) at once; answers "closeup R\n".
// Each connect outcome is logged as "dial: connect done RESULT" for the tests to count.
#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gatio/plugin.h>
#include <gatio/plugin.hpp>

namespace {

const gatio_services* svc = nullptr;

struct Instance;
struct Session;

// What a connection's user pointer points at: which session, and which side of it.
struct Side {
    Session* session;
    bool upstream;
    std::uint32_t index = 0; // for "many": which of the N
    bool settled = false;    // for "many": counted as ok or failed
};

struct Session {
    Instance* instance = nullptr;
    gatio_conn client = 0;
    Side client_side{this, false};
    gatio_conn upstream = 0; // the pending or connected one ("connect", "flood")
    Side upstream_side{this, true};
    bool piping = false;
    bool client_gone = false;
    std::uint64_t flood_bytes = 0; // "flood": what to queue once connected
    // "many": one Side per outbound connection, and how they ended.
    std::vector<std::unique_ptr<Side>> many;
    std::uint32_t many_ok = 0, many_failed = 0, many_total = 0;
    std::uint32_t many_ended = 0;  // closed, failed to connect, or refused at once
    std::uint32_t outstanding = 0; // outbound connections not yet closed or failed
};

struct Instance {
    gatio_host* host;
};

void send_text(Session& s, std::string_view text) {
    if (!s.client_gone) {
        svc->send(s.instance->host, s.client, text.data(), text.size());
    }
}

void log_line(gatio_host* host, const std::string& text) {
    svc->log(host, GATIO_LOG_INFO, text.data(), text.size());
}

const char* errno_name(int result) {
    switch (-result) {
    case ECONNREFUSED:
        return "ECONNREFUSED";
    case ETIMEDOUT:
        return "ETIMEDOUT";
    case ECANCELED:
        return "ECANCELED";
    case ENOENT:
        return "ENOENT";
    case ENETUNREACH:
        return "ENETUNREACH";
    case EHOSTUNREACH:
        return "EHOSTUNREACH";
    default:
        return "other";
    }
}

std::vector<std::string_view> words(std::string_view line) {
    std::vector<std::string_view> out;
    while (!line.empty()) {
        const auto space = line.find(' ');
        out.push_back(line.substr(0, space));
        line = space == std::string_view::npos ? std::string_view{} : line.substr(space + 1);
    }
    return out;
}

// Answers once every connection of "many" has ended, so that their slots are free again.
void finish_many(Session& s) {
    if (s.many_total == 0 || s.many_ended < s.many_total) {
        return;
    }
    send_text(s, s.many_failed == 0 ? "many ok " + std::to_string(s.many_ok) + "\n"
                                    : "many failed " + std::to_string(s.many_failed) + " of " +
                                          std::to_string(s.many_total) + "\n");
    s.many_total = 0;
}

void maybe_free(Session* s) {
    if (s->client_gone && s->outstanding == 0) {
        delete s;
    }
}

void flood(Session& s, std::uint64_t bytes);

void connect_done(gatio_host* host, gatio_conn conn, void* user, int result) {
    auto* side = static_cast<Side*>(user);
    Session& s = *side->session;
    log_line(host, "dial: connect done " + std::to_string(result));
    if (side->index > 0) {
        // One of "many": say hello, the echo completes it.
        if (result != 0) {
            ++s.many_failed;
            ++s.many_ended;
            side->settled = true;
            --s.outstanding;
            finish_many(s);
            maybe_free(&s);
            return;
        }
        const std::string ping = "ping " + std::to_string(side->index) + "\n";
        svc->send(host, conn, ping.data(), ping.size());
        return;
    }
    if (result != 0) {
        s.upstream = 0;
        --s.outstanding;
        send_text(s, std::string("failed ") + errno_name(result) + "\n");
        maybe_free(&s);
        return;
    }
    if (s.client_gone) {
        svc->close(host, conn, GATIO_CLOSE_ABORT);
        return;
    }
    if (s.flood_bytes > 0) {
        flood(s, std::exchange(s.flood_bytes, 0));
        return;
    }
    s.piping = true;
    send_text(s, "connected\n");
}

int start_connect(Session& s, Side& side, std::string_view address, std::uint32_t timeout_ms,
                  gatio_conn* conn) {
    // An address that does not parse goes to the service as none at all, for it to refuse.
    const auto to = gatio::Address::parse(address);
    gatio_connect_args args{};
    args.struct_size = sizeof args;
    args.timeout_ms = timeout_ms;
    args.address = to ? to->get() : nullptr;
    args.address_len = to ? to->size() : 0;
    args.done = connect_done;
    args.user = &side;
    const int r = svc->connect(s.instance->host, &args, conn);
    if (r == GATIO_OK) {
        ++s.outstanding;
    }
    return r;
}

void flood(Session& s, std::uint64_t bytes) {
    std::vector<std::uint8_t> chunk(64 << 10);
    std::uint64_t queued = 0;
    int refused = GATIO_OK;
    while (queued < bytes) {
        const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(chunk.size(), bytes - queued));
        for (std::size_t i = 0; i < n; ++i) {
            chunk[i] = static_cast<std::uint8_t>((queued + i) % 251);
        }
        refused = svc->send(s.instance->host, s.upstream, chunk.data(), n);
        if (refused != GATIO_OK) {
            break;
        }
        queued += n;
    }
    send_text(s, "flood queued " + std::to_string(queued) + " pending " +
                     std::to_string(svc->pending_output(s.instance->host, s.upstream)) + " refused " +
                     std::to_string(refused) + "\n");
}

void command(Session& s, std::string_view line) {
    const auto w = words(line);
    if (w.empty()) {
        return;
    }
    if (w[0] == "connect" && w.size() >= 2) {
        const std::uint32_t ms = w.size() > 2 ? static_cast<std::uint32_t>(std::stoul(std::string(w[2]))) : 0;
        const int r = start_connect(s, s.upstream_side, w[1], ms, &s.upstream);
        if (r != GATIO_OK) {
            send_text(s, "refused " + std::to_string(r) + "\n");
        }
    } else if (w[0] == "many" && w.size() == 3) {
        const auto n = static_cast<std::uint32_t>(std::stoul(std::string(w[1])));
        s.many_total = n;
        s.many_ok = s.many_failed = s.many_ended = 0;
        for (std::uint32_t i = 1; i <= n; ++i) {
            auto& side = s.many.emplace_back(std::make_unique<Side>(Side{&s, true, i}));
            gatio_conn conn = 0;
            if (start_connect(s, *side, w[2], 0, &conn) != GATIO_OK) {
                ++s.many_failed;
                ++s.many_ended;
            }
        }
        finish_many(s);
    } else if (w[0] == "flood" && w.size() == 3) {
        // Queued once connected.
        s.flood_bytes = std::stoull(std::string(w[2]));
        const int r = start_connect(s, s.upstream_side, w[1], 0, &s.upstream);
        if (r != GATIO_OK) {
            s.flood_bytes = 0;
            send_text(s, "refused " + std::to_string(r) + "\n");
        }
    } else if (w[0] == "pending") {
        send_text(s, "pending " + std::to_string(svc->pending_output(s.instance->host, s.upstream)) + "\n");
    } else if (w[0] == "closeup") {
        send_text(s, "closeup " +
                         std::to_string(svc->close(s.instance->host, s.upstream, GATIO_CLOSE_ABORT)) + "\n");
    } else {
        send_text(s, "unknown\n");
    }
}

// Once, on the loading thread: every driver's create() storing it again raced the others.
int init(const gatio_services* services, char* error, size_t error_size) {
    svc = services;
    if (svc->struct_size < GATIO_SERVICES_SIZE_1_2 + sizeof(void*)) {
        std::snprintf(error, error_size, "the host has no connect service");
        return 1;
    }
    return 0;
}

int create(gatio_host* host, const gatio_instance_info*, void** instance, char*, size_t) {
    *instance = new Instance{host};
    return 0;
}

void destroy(void* instance) {
    delete static_cast<Instance*>(instance);
}

int on_open(void* instance, gatio_conn conn, const gatio_conn_info*, void** user) {
    auto* s = new Session{};
    s->instance = static_cast<Instance*>(instance);
    s->client = conn;
    *user = &s->client_side;
    return 0;
}

std::int64_t on_data(void* instance, gatio_conn conn, void* user, const std::uint8_t* data, size_t len) {
    auto* inst = static_cast<Instance*>(instance);
    auto* side = static_cast<Side*>(user);
    Session& s = *side->session;
    if (side->upstream) {
        if (side->index > 0) {
            // An echo of "many": complete, then closed.
            const std::string ping = "ping " + std::to_string(side->index) + "\n";
            if (len < ping.size()) {
                return 0;
            }
            if (!side->settled) {
                side->settled = true;
                ++(std::string_view(reinterpret_cast<const char*>(data), ping.size()) == ping
                       ? s.many_ok
                       : s.many_failed);
            }
            svc->close(inst->host, conn, GATIO_CLOSE_FLUSH);
            return static_cast<std::int64_t>(len);
        }
        send_text(s, std::string_view(reinterpret_cast<const char*>(data), len));
        return static_cast<std::int64_t>(len);
    }
    if (s.piping) {
        svc->send(inst->host, s.upstream, data, len);
        return static_cast<std::int64_t>(len);
    }
    std::size_t used = 0;
    while (used < len && !s.piping) {
        const auto* begin = reinterpret_cast<const char*>(data) + used;
        const void* nl = std::memchr(begin, '\n', len - used);
        if (nl == nullptr) {
            break;
        }
        const std::string_view line(begin, static_cast<std::size_t>(static_cast<const char*>(nl) - begin));
        used += line.size() + 1;
        command(s, line);
    }
    return static_cast<std::int64_t>(used);
}

void on_close(void* instance, gatio_conn conn, void* user, int reason) {
    auto* inst = static_cast<Instance*>(instance);
    auto* side = static_cast<Side*>(user);
    Session* s = side->session;
    if (!side->upstream) {
        // The client went: whatever it had upstream goes too (a pending connect is cancelled).
        s->client_gone = true;
        if (s->upstream != 0) {
            svc->close(inst->host, s->upstream, GATIO_CLOSE_ABORT);
        }
        maybe_free(s);
        return;
    }
    --s->outstanding;
    if (side->index > 0) {
        if (!side->settled) {
            side->settled = true; // closed before its echo came back
            ++s->many_failed;
        }
        ++s->many_ended;
        finish_many(*s);
    }
    if (side->index == 0 && conn == s->upstream) {
        s->upstream = 0;
        s->piping = false;
        send_text(*s, "[closed " + std::to_string(reason) + "]\n");
        if (!s->client_gone) {
            svc->close(inst->host, s->client, GATIO_CLOSE_FLUSH);
        }
    }
    maybe_free(s);
}

const gatio_plugin descriptor = [] {
    gatio_plugin d{};
    d.abi_major = GATIO_ABI_MAJOR;
    d.abi_minor = GATIO_ABI_MINOR;
    d.struct_size = sizeof d;
    d.transports = GATIO_TRANSPORT_TCP;
    d.name = "dial";
    d.version = "1";
    d.max_unconsumed = 4096;
    d.init = init;
    d.instance_create = create;
    d.instance_destroy = destroy;
    d.on_open = on_open;
    d.on_data = on_data;
    d.on_close = on_close;
    return d;
}();

} // namespace

extern "C" GATIO_PLUGIN_EXPORT const gatio_plugin* gatio_plugin_entry(void) {
    return &descriptor;
}
