// The TCP connection's state machine (net/tcp.*) driven through the real code: a runtime with
// one driver and its ring, real loopback clients, and a handler compiled into the test through
// the C ABI (as gatiod compiles in its admin handler) that echoes and remembers its connection.
// Between steps a message posted to the driver reads the connection's state there, between two
// of its events, and checks its invariants (Connection::assert_invariants, which the code also
// checks after every change it makes).
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <fmt/format.h>
#include <functional>
#include <span>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <utility>

#include <gatio/plugin.hpp>

#include "net/plugin_services.hpp"
#include "net/tcp.hpp"
#include "tests/net/client.hpp"
#include "tests/net/server.hpp"

using gatio::net::Connection;
using gatio::tests::free_port;
using gatio::tests::Server;
using gatio::tests::Socket;
using Phase = Connection::Phase;
using Read = Connection::Read;
using Send = Connection::Send;
using namespace std::chrono_literals;

namespace {

// What the handler saw of the one connection a test opens; written on the driver thread.
struct Seen {
    std::atomic<gatio_host*> host{nullptr};
    std::atomic<gatio_conn> conn{0};
    std::atomic<int> opens{0};
    std::atomic<int> eofs{0};
    std::atomic<int> closes{0};
    std::atomic<int> reason{-1};
    std::atomic<std::size_t> received{0};

    void reset() {
        host = nullptr;
        conn = 0;
        opens = eofs = closes = 0;
        reason = -1;
        received = 0;
    }
};
Seen seen;

// Echoes; keeps a half-closed connection open (GATIO_EOF_KEEP), so that the test decides when it
// closes.
class Probe {
public:
    Probe(gatio::Host host, const gatio::InstanceInfo&) : host_(host) {}

    bool on_open(gatio::Connection c, const gatio_conn_info&) {
        seen.host = host_.handle();
        seen.conn = c.id();
        ++seen.opens;
        return true;
    }

    std::int64_t on_data(gatio::Connection c, std::span<const std::uint8_t> data) {
        seen.received += data.size();
        return c.send(data) == GATIO_OK ? static_cast<std::int64_t>(data.size()) : GATIO_DATA_RESET;
    }

    gatio_eof_action on_eof(gatio::Connection) {
        ++seen.eofs;
        return GATIO_EOF_KEEP;
    }

    void on_close(gatio::Connection, gatio_close_reason reason) {
        seen.reason = reason;
        ++seen.closes;
    }

private:
    gatio::Host host_;
};

constexpr gatio_plugin probe = gatio::make_descriptor<Probe>("probe", "1", GATIO_TRANSPORT_TCP);

// One driver, so that the connection and the messages that look at it share one thread.
std::string probe_config(std::uint16_t port) {
    return fmt::format(R"(
[daemon]
log_level = "warn"
[topology]
mode = "manual"
[[tpc]]
name = "node0"
numa_node = 0
[[tpc.driver]]
name = "d0"
cpu = 0
[[listener]]
name = "probe"
address = "127.0.0.1:{}"
handler = "echo"
send_high_watermark = "64KiB"
send_low_watermark = "16KiB"
)",
                       port);
}

// A client receive buffer this small keeps what the server sends queued on the server's side.
constexpr int small_window = 16 * 1024;

struct State {
    bool exists = false; // the handle still names a live connection
    Phase phase = Phase::open;
    Read read = Read::idle;
    Send send = Send::idle;
    std::uint8_t pauses = 0;
    std::uint8_t side_ops = 0;
    std::size_t pending = 0;
};

// On the driver thread.
State snapshot() {
    State s;
    auto* endpoint = dynamic_cast<gatio::net::TcpEndpoint*>(seen.host.load());
    Connection* c = endpoint != nullptr ? endpoint->find(seen.conn) : nullptr;
    if (c != nullptr) {
        c->assert_invariants();
        s = {true, c->phase, c->read, c->send, c->pauses, c->side_ops, c->out.pending()};
    }
    return s;
}

State state_of(Server& server) {
    return server.on_driver(0, [] { return snapshot(); });
}

// Waits (bounded) until pred() holds; false when it never did.
bool eventually(const std::function<bool()>& pred) {
    const auto end = std::chrono::steady_clock::now() + 20s;
    while (!pred()) {
        if (std::chrono::steady_clock::now() >= end) {
            return false;
        }
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

// A service called on the driver thread, as the handler would call it; then the state.
std::pair<int, State> call(Server& server, const std::function<int(const gatio_services&)>& service) {
    return server.on_driver(0, [&service] {
        const int result = service(gatio::net::host_services());
        return std::pair{result, snapshot()};
    });
}

std::string pattern_bytes(std::size_t n) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) {
        s[i] = static_cast<char>((i * 131) % 251);
    }
    return s;
}

std::string opened(Server& server, Socket& s, std::uint16_t port, int receive_buffer = 0) {
    s = Socket::tcp(port, 10s, receive_buffer);
    if (!eventually([] { return seen.opens == 1; })) {
        return "the handler never saw the connection open";
    }
    const State st = state_of(server);
    if (!st.exists || st.phase != Phase::open || st.read != Read::armed || st.send != Send::idle) {
        return "a new connection is not open with a receive armed and nothing to send";
    }
    return "";
}

} // namespace

TEST_CASE("a half-closed connection still sends, flushes on close and then closes", "[tcp][state]") {
    seen.reset();
    const auto port = free_port();
    Server server(probe_config(port), std::nullopt, &probe);
    Socket s;
    REQUIRE(opened(server, s, port, small_window) == "");

    s.send_all("ping");
    CHECK(s.recv_exact(4) == "ping");

    // Half-closed: the peer's FIN ended reading; the connection stays open for output.
    REQUIRE(::shutdown(s.fd(), SHUT_WR) == 0);
    REQUIRE(eventually([] { return seen.eofs == 1; }));
    State st = state_of(server);
    CHECK(st.exists);
    CHECK(st.phase == Phase::open);
    CHECK(st.read == Read::ended);

    // More than the kernel's buffers take, then an orderly close: flushing until it is sent.
    const std::string big = pattern_bytes(8u << 20);
    const auto [sent, after_send] = call(server, [&big](const gatio_services& svc) {
        return svc.send(seen.host, seen.conn, big.data(), big.size());
    });
    CHECK(sent == GATIO_OK);
    CHECK(after_send.phase == Phase::open);
    CHECK(after_send.pending == big.size());
    const auto [closed, after_close] = call(
        server, [](const gatio_services& svc) { return svc.close(seen.host, seen.conn, GATIO_CLOSE_FLUSH); });
    CHECK(closed == GATIO_OK);
    CHECK(after_close.phase == Phase::flushing);
    CHECK(after_close.pending > 0);
    // A closing connection takes no more output.
    const auto [refused, unchanged] =
        call(server, [](const gatio_services& svc) { return svc.send(seen.host, seen.conn, "x", 1); });
    CHECK(refused == GATIO_ERR_CLOSED);
    CHECK(unchanged.phase == Phase::flushing);

    // Reading lets the output go; with the peer's FIN already in, the close follows at once.
    std::string back;
    CHECK(s.recv_until_eof(back));
    CHECK(back.size() == big.size());
    CHECK(back == big);
    REQUIRE(eventually([] { return seen.closes == 1; }));
    CHECK(seen.reason == GATIO_CLOSE_LOCAL);
    CHECK_FALSE(state_of(server).exists);
}

TEST_CASE("an orderly close sends FIN, discards what still arrives and ends with the peer's FIN",
          "[tcp][state]") {
    seen.reset();
    const auto port = free_port();
    Server server(probe_config(port), std::nullopt, &probe);
    Socket s;
    REQUIRE(opened(server, s, port) == "");

    // Nothing to flush: straight to shutting, the receive still armed to take the peer's FIN.
    const auto [closed, st] = call(
        server, [](const gatio_services& svc) { return svc.close(seen.host, seen.conn, GATIO_CLOSE_FLUSH); });
    CHECK(closed == GATIO_OK);
    CHECK(st.phase == Phase::shutting);
    CHECK(st.read == Read::armed);
    CHECK(st.send == Send::idle);
    CHECK(st.side_ops == 1); // the shutdown

    std::string rest;
    CHECK(s.recv_until_eof(rest)); // our FIN
    CHECK(rest.empty());
    s.send_all("late");
    s.close();
    REQUIRE(eventually([] { return seen.closes == 1; }));
    CHECK(seen.reason == GATIO_CLOSE_LOCAL);
    CHECK(seen.received == 0); // "late" was read and dropped, never handed to the handler
    CHECK(seen.eofs == 0);
    CHECK_FALSE(state_of(server).exists);
}

TEST_CASE("an abort while a receive is armed cancels it before the close goes out", "[tcp][state]") {
    seen.reset();
    const auto port = free_port();
    Server server(probe_config(port), std::nullopt, &probe);
    Socket s;
    REQUIRE(opened(server, s, port) == "");

    const auto [closed, st] = call(
        server, [](const gatio_services& svc) { return svc.close(seen.host, seen.conn, GATIO_CLOSE_ABORT); });
    CHECK(closed == GATIO_OK);
    CHECK(st.phase == Phase::closing);
    CHECK(st.read == Read::cancelling);
    CHECK(st.side_ops >= 1);

    REQUIRE(eventually([] { return seen.closes == 1; }));
    CHECK(seen.reason == GATIO_CLOSE_LOCAL);
    CHECK_FALSE(state_of(server).exists);
    // A reset, or a plain FIN on a direct descriptor, which has no SO_LINGER to set.
    std::string rest;
    s.recv_until_eof(rest);
    CHECK(rest.empty());
}

TEST_CASE("reading pauses above the high watermark and resumes below the low one", "[tcp][state]") {
    seen.reset();
    const auto port = free_port();
    Server server(probe_config(port), std::nullopt, &probe);
    Socket s;
    REQUIRE(opened(server, s, port, small_window) == "");

    const std::string pattern = pattern_bytes(1u << 20);
    const std::size_t written = s.send_until_stalled(pattern, 256u << 20);
    INFO("written before the server stopped reading: " << written);
    State st;
    // The paused receive's cancel has completed, and the one send waits for the peer to read.
    REQUIRE(eventually([&] {
        st = state_of(server);
        return st.read == Read::idle && st.send == Send::in_flight;
    }));
    CHECK(st.phase == Phase::open);
    CHECK((st.pauses & Connection::pause_watermark) != 0);
    CHECK(st.pending > 0);

    const std::string back = s.recv_exact(written);
    bool same = true;
    for (std::size_t off = 0; off < written && same; off += pattern.size()) {
        const std::size_t n = std::min(pattern.size(), written - off);
        same = back.compare(off, n, pattern, 0, n) == 0;
    }
    CHECK(same);
    REQUIRE(eventually([&] {
        st = state_of(server);
        return st.pending == 0 && st.send == Send::idle;
    }));
    CHECK(st.phase == Phase::open);
    CHECK(st.pauses == 0);
    CHECK((st.read == Read::armed || st.read == Read::bounded));
    CHECK(server.network().total().read_pauses >= 1);
    s.send_all("after");
    CHECK(s.recv_exact(5) == "after");
}

TEST_CASE("a reset while a send is in flight closes the connection with the reset's reason", "[tcp][state]") {
    seen.reset();
    const auto port = free_port();
    Server server(probe_config(port), std::nullopt, &probe);
    Socket s;
    REQUIRE(opened(server, s, port, small_window) == "");

    const std::string big = pattern_bytes(8u << 20);
    const auto [sent, after_send] = call(server, [&big](const gatio_services& svc) {
        return svc.send(seen.host, seen.conn, big.data(), big.size());
    });
    REQUIRE(sent == GATIO_OK);
    State st;
    // The kernel's buffers are full: one sendmsg waits in the ring for room.
    REQUIRE(eventually([&] {
        st = state_of(server);
        return st.send == Send::in_flight;
    }));
    CHECK(st.phase == Phase::open);
    CHECK(st.pending > 0);

    // Closing with unread input makes the kernel answer with a reset.
    const linger reset{1, 0};
    REQUIRE(::setsockopt(s.fd(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset) == 0);
    s.close();
    REQUIRE(eventually([] { return seen.closes == 1; }));
    CHECK(seen.reason == GATIO_CLOSE_RESET);
    CHECK_FALSE(state_of(server).exists);
    CHECK(server.network().total().peer_resets == 1);
}
