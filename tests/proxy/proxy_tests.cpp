// The proxy handler inside a real gatiod, in front of real backends: other gatiod processes
// (echo and http listeners) and, where a test needs a backend to misbehave on purpose, a plain
// socket the test drives itself. Clients are wrk, curl-like raw sockets and Socket.
#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <cerrno>
#include <csignal>
#include <fmt/format.h>
#include <memory>
#include <netinet/in.h>
#include <poll.h>
#include <random>
#include <set>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "tests/reload/harness.hpp"
#include "tests/support/skip.hpp"
#include "tests/support/socket.hpp"

using namespace gatio::reload_test;
using gatio::test::Socket;

namespace {

// A proxy listener in front of `upstreams` (ports on loopback), `options` added to its table.
std::string proxy_listener(int port, const std::vector<int>& upstreams, std::string_view options = "",
                           std::string_view extra = "") {
    std::string list;
    for (int p : upstreams) {
        list += fmt::format("{}\"127.0.0.1:{}\"", list.empty() ? "" : ", ", p);
    }
    return listener("front", port, "proxy",
                    fmt::format("{}\n[listener.options]\nupstreams = [{}]\n{}\n", extra, list, options));
}

// gatiod on a configuration written to a fresh folder.
struct Process {
    TempDir dir;
    std::unique_ptr<Gatiod> gatiod;
    explicit Process(const std::string& config) {
        gatiod = std::make_unique<Gatiod>(dir.write("gatio.toml", config));
    }
};

// A listening socket the test accepts from itself.
struct RawBackend {
    Socket listening;
    int port = 0;
    RawBackend() {
        listening = Socket(::socket(AF_INET, SOCK_STREAM, 0));
        sockaddr_in a = gatio::test::loopback(0);
        REQUIRE(::bind(listening.fd(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        REQUIRE(::listen(listening.fd(), 64) == 0);
        socklen_t len = sizeof a;
        REQUIRE(::getsockname(listening.fd(), reinterpret_cast<sockaddr*>(&a), &len) == 0);
        port = ntohs(a.sin_port);
    }
    // The next connection, within 10 s (an invalid Socket otherwise).
    Socket accept() const {
        if (!gatio::test::wait_for(listening.fd(), POLLIN, std::chrono::steady_clock::now() + 10s)) {
            return Socket();
        }
        Socket s(::accept(listening.fd(), nullptr, nullptr));
        timeval tv{10, 0};
        ::setsockopt(s.fd(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(s.fd(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        return s;
    }
};

std::string metrics(int admin_port) {
    const auto r = http_get(admin_port, "/metrics");
    REQUIRE(r.status == 200);
    return r.body;
}

// The sum of every sample of `name` whose labels hold `label_part`.
double sample_sum(const std::string& text, const std::string& name, const std::string& label_part = "") {
    double total = 0;
    std::size_t at = 0;
    while ((at = text.find("\n" + name + "{", at)) != std::string::npos) {
        const std::size_t open = at + 1 + name.size();
        const std::size_t close = text.find("} ", open);
        const std::size_t end = text.find('\n', close);
        if (text.substr(open, close - open).find(label_part) != std::string::npos) {
            total += std::stod(text.substr(close + 2, end - close - 2));
        }
        at = end;
    }
    return total;
}

// What python3-prometheus-client's parser makes of a /metrics text: one line per family
// ("family NAME TYPE HELP_LENGTH") and sample ("sample NAME LABELS VALUE").
std::string parsed_metrics(const TempDir& dir, const std::string& text) {
    std::string python;
    for (const std::string& candidate : {find_program("python3"), std::string("/usr/bin/python3")}) {
        if (!candidate.empty() &&
            gatio::test::run({candidate, "-c", "import prometheus_client.parser"}, {}, 60s).code == 0) {
            python = candidate;
            break;
        }
    }
    INFO("python3-prometheus-client is missing: scripts/install-deps installs it");
    REQUIRE(!python.empty());
    const auto r =
        gatio::test::run({python, PARSE_METRICS_SCRIPT, dir.write("metrics.txt", text).string()}, {}, 60s);
    INFO(r.err << text);
    REQUIRE(r.code == 0);
    return r.out;
}

std::string wrk_path() {
    return find_program("wrk");
}

} // namespace

TEST_CASE("bad proxy options fail the start, naming the option", "[proxy][options]") {
    const int backend = free_port();
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"balance = \"fastest\"", "option \"balance\""},
        {"retries = -1", "option \"retries\""},
        {"connect_timeout = \"0s\"", "option \"connect_timeout\""},
        {"health_fall = 0", "option \"health_fall\""},
        {"health_rise = \"two\"", "option \"health_rise\""},
        {"max_upstream_connections = -3", "option \"max_upstream_connections\""},
        {"max_buffered = \"1B\"", "option \"max_buffered\""},
        {"heath_interval = \"1s\"", "option \"heath_interval\": unknown"},
    };
    for (const auto& [option, needle] : cases) {
        TempDir dir;
        const auto config =
            dir.write("gatio.toml", config_text(proxy_listener(free_port(), {backend}, option)));
        const auto r = gatio::test::run(gatio::test::gatiod_argv(config), gatio::test::gatiod_env(), 60s);
        INFO(option << "\n" << r.err);
        CHECK(r.code != 0);
        CHECK(r.err.find(needle) != std::string::npos);
    }
    for (const auto& [upstream, needle] :
         std::vector<std::pair<std::string, std::string>>{{"\"localhost:80\"", "not a numeric IPv4 address"},
                                                          {"\"127.0.0.1:0\"", "the port must be"},
                                                          {"\"unix:relative\"", "absolute path"},
                                                          {"", "must name 1 to"}}) {
        TempDir dir;
        const auto config = dir.write(
            "gatio.toml", config_text(listener("front", free_port(), "proxy",
                                               "[listener.options]\nupstreams = [" + upstream + "]\n")));
        const auto r = gatio::test::run(gatio::test::gatiod_argv(config), gatio::test::gatiod_env(), 60s);
        INFO(upstream << "\n" << r.err);
        CHECK(r.code != 0);
        CHECK(r.err.find("option \"upstreams\"") != std::string::npos);
        CHECK(r.err.find(needle) != std::string::npos);
    }
}

TEST_CASE("wrk through the proxy: no errors, only 2xx", "[proxy][wrk]") {
    const std::string wrk = wrk_path();
    if (wrk.empty()) {
        GATIO_SKIP("wrk is not installed");
    }
    const int a = free_port(), b = free_port();
    Process backend(config_text(http_listener("a", a, "from a") + http_listener("b", b, "from b")));
    const int front = free_port();
    Process proxy(config_text(proxy_listener(front, {a, b})));
    const auto r = gatio::test::run(
        {wrk, "-t2", "-c32", "-d2s", "--timeout", "5s", fmt::format("http://127.0.0.1:{}/", front)}, {}, 60s);
    INFO(r.out << r.err);
    REQUIRE(r.code == 0);
    CHECK(r.out.find("Socket errors") == std::string::npos);
    CHECK(r.out.find("Non-2xx") == std::string::npos);
    const std::size_t at = r.out.find(" requests in ");
    REQUIRE(at != std::string::npos);
    const std::size_t start = r.out.find_last_not_of("0123456789", at - 1) + 1;
    CHECK(std::stoull(r.out.substr(start, at - start)) > 100);
    CHECK(proxy.gatiod->stop() == 0);
}

TEST_CASE("1 MiB random payloads come back byte for byte over 100 connections", "[proxy][echo]") {
    const int echo = free_port();
    Process backend(config_text(listener("echo", echo, "echo")));
    const int front = free_port(), admin = free_port();
    Process proxy(config_text(proxy_listener(front, {echo}, "max_buffered = \"64KiB\""), admin));

    constexpr std::size_t connections = 100;
    constexpr std::size_t payload = 1 << 20;
    std::mt19937_64 random(20261202);
    struct Flow {
        Socket socket;
        std::string sent;
        std::size_t written = 0;
        std::string received;
    };
    std::vector<Flow> flows(connections);
    for (Flow& f : flows) {
        f.socket = Socket::tcp(static_cast<std::uint16_t>(front));
        f.sent.resize(payload);
        for (char& c : f.sent) {
            c = static_cast<char>(random());
        }
        f.received.reserve(payload);
    }
    // Everything at once: writes and reads interleaved, so both directions carry load.
    const auto deadline = std::chrono::steady_clock::now() + 90s;
    std::vector<char> buf(64 << 10);
    std::size_t done = 0;
    while (done < connections && std::chrono::steady_clock::now() < deadline) {
        std::vector<pollfd> fds;
        for (Flow& f : flows) {
            const short events = static_cast<short>((f.received.size() < payload ? POLLIN : 0) |
                                                    (f.written < payload ? POLLOUT : 0));
            fds.push_back({f.socket.fd(), events, 0});
        }
        REQUIRE(::poll(fds.data(), fds.size(), 1000) >= 0);
        done = 0;
        for (std::size_t i = 0; i < connections; ++i) {
            Flow& f = flows[i];
            if ((fds[i].revents & POLLOUT) != 0) {
                const ssize_t n =
                    ::send(f.socket.fd(), f.sent.data() + f.written,
                           std::min<std::size_t>(payload - f.written, 64 << 10), MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n > 0) {
                    f.written += static_cast<std::size_t>(n);
                }
            }
            if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
                const ssize_t n = ::recv(f.socket.fd(), buf.data(), buf.size(), MSG_DONTWAIT);
                REQUIRE(n != 0); // no close before everything came back
                if (n > 0) {
                    f.received.append(buf.data(), static_cast<std::size_t>(n));
                }
            }
            done += f.received.size() >= payload ? 1 : 0;
        }
    }
    REQUIRE(done == connections);
    for (const Flow& f : flows) {
        REQUIRE(f.received.size() == payload);
        CHECK((f.received == f.sent));
    }
    // Forwarded from the receive buffers (send_received), and every one of them back in the ring.
    const std::string text = metrics(admin);
    CHECK(sample_sum(text, "gatio_receive_holds_total") > 0);
    CHECK(sample_sum(text, "gatio_buffer_ring_held_buffers") == 0);
    CHECK(proxy.gatiod->stop() == 0);
}

TEST_CASE("what a client sends before its upstream has connected all goes through", "[proxy][early]") {
    const int echo = free_port();
    Process backend(config_text(listener("echo", echo, "echo")));
    // A refused upstream first: each connection's connect is retried on the echo one, so the
    // client's first bytes, far more than max_buffered, come before the upstream is there.
    const int dead = free_port();
    const int front = free_port();
    Process proxy(config_text(proxy_listener(
        front, {dead, echo},
        "max_buffered = \"4KiB\"\nretries = 1\nhealth_interval = \"0s\"\nhealth_fall = 1000")));
    std::mt19937_64 random(7);
    for (int i = 0; i < 4; ++i) {
        std::string payload(2 << 20, '\0');
        for (char& c : payload) {
            c = static_cast<char>(random());
        }
        Socket c = Socket::tcp(static_cast<std::uint16_t>(front));
        std::atomic<bool> sent{false};
        std::thread writer([&] {
            sent = c.try_send_all(payload);
            ::shutdown(c.fd(), SHUT_WR);
        });
        std::string back;
        const bool eof = c.recv_until_eof(back);
        writer.join();
        INFO("connection " << i);
        CHECK(sent);
        CHECK(eof);
        CHECK(back.size() == payload.size());
        CHECK((back == payload)); // not the bytes themselves in the report
    }
    CHECK(proxy.gatiod->stop() == 0);
}

TEST_CASE("bulk bytes both ways on one connection to an echo backend never stall", "[proxy][echo]") {
    const int echo = free_port();
    Process backend(config_text(listener("echo", echo, "echo")));
    const int front = free_port();
    // Low watermarks on the proxy's listener: had the host paused a connection's input for its
    // own output, the upstream would stop being read while it holds the client's bytes, the echo
    // backend would stop reading in turn, and neither would move again.
    Process proxy(
        config_text(proxy_listener(front, {echo}, "max_buffered = \"16KiB\"\nhealth_interval = \"0s\"",
                                   "send_high_watermark = \"64KiB\"\nsend_low_watermark = \"16KiB\"")));
    const std::string payload(32 << 20, 'b');
    Socket c = Socket::tcp(static_cast<std::uint16_t>(front));
    std::atomic<bool> sent{false};
    std::thread writer([&] {
        sent = c.try_send_all(payload);
        ::shutdown(c.fd(), SHUT_WR);
    });
    std::string back;
    const bool eof = c.recv_until_eof(back); // a stall ends it with the socket's 10 s timeout
    writer.join();
    CHECK(sent);
    CHECK(eof);
    CHECK(back.size() == payload.size());
    CHECK(proxy.gatiod->stop() == 0);
}

TEST_CASE("round-robin reaches every upstream, also through a unix socket", "[proxy][balance]") {
    const int a = free_port(), b = free_port();
    TempDir sockets;
    const std::string path = (sockets.path() / "c.sock").string();
    Process backend(
        config_text(http_listener("a", a, "from a") + http_listener("b", b, "from b") +
                    "[[listener]]\nname = \"c\"\naddress = \"unix:" + path +
                    "\"\nhandler = \"http\"\n[listener.options]\n[[listener.options.route]]\npath = "
                    "\"/\"\nbody = \"from c\"\n"));
    const int front = free_port();
    Process proxy(config_text(listener(
        "front", front, "proxy",
        fmt::format("[listener.options]\nupstreams = [\"127.0.0.1:{}\", \"127.0.0.1:{}\", \"unix:{}\"]\n"
                    "balance = \"round-robin\"\n",
                    a, b, path))));
    std::set<std::string> seen;
    for (int i = 0; i < 24; ++i) {
        const auto r = http_get(front, "/");
        REQUIRE(r.status == 200);
        seen.insert(r.body);
    }
    CHECK(seen == std::set<std::string>{"from a", "from b", "from c"});
    CHECK(proxy.gatiod->stop() == 0);
}

TEST_CASE("least-conn and random-two reach every upstream", "[proxy][balance]") {
    const int a = free_port(), b = free_port();
    Process backend(config_text(http_listener("a", a, "from a") + http_listener("b", b, "from b")));
    for (const char* balance : {"least-conn", "random-two"}) {
        const int front = free_port();
        Process proxy(config_text(proxy_listener(front, {a, b}, fmt::format("balance = \"{}\"", balance))));
        std::set<std::string> seen;
        // Held open, so that the busier one is avoided.
        std::vector<std::unique_ptr<Connection>> held;
        for (int i = 0; i < 16; ++i) {
            held.push_back(std::make_unique<Connection>(front));
            const auto r = held.back()->http("GET", "/");
            REQUIRE(r.status == 200);
            seen.insert(r.body);
        }
        INFO(balance);
        CHECK(seen == std::set<std::string>{"from a", "from b"});
        held.clear();
        CHECK(proxy.gatiod->stop() == 0);
    }
}

TEST_CASE("an upstream killed mid-run is marked down and new connections go to the others",
          "[proxy][health]") {
    const int a = free_port(), b = free_port();
    Process alive(config_text(http_listener("a", a, "from a")));
    auto doomed = std::make_unique<Process>(config_text(http_listener("b", b, "from b")));
    const int front = free_port(), admin = free_port();
    // No retries: a new connection sent to the dead upstream would fail.
    Process proxy(config_text(proxy_listener(front, {a, b},
                                             "health_interval = \"200ms\"\nhealth_fall = 2\nhealth_rise = 2\n"
                                             "retries = 0\nconnect_timeout = \"500ms\""),
                              admin));
    std::set<std::string> seen;
    for (int i = 0; i < 8; ++i) {
        seen.insert(http_get(front, "/").body);
    }
    REQUIRE(seen == std::set<std::string>{"from a", "from b"});
    ::kill(doomed->gatiod->pid(), SIGKILL);
    // Both drivers judge it for themselves.
    REQUIRE(proxy.gatiod->wait_for_log(fmt::format("upstream 127.0.0.1:{} is down", b), 20s, 2));
    const std::string text = metrics(admin);
    CHECK(sample_sum(text, "proxy_upstream_up", fmt::format("upstream=\"127.0.0.1:{}\"", b)) == 0);
    CHECK(sample_sum(text, "proxy_upstream_up", fmt::format("upstream=\"127.0.0.1:{}\"", a)) == 2);
    CHECK(sample_sum(text, "proxy_upstream_health_transitions_total",
                     fmt::format("upstream=\"127.0.0.1:{}\",to=\"down\"", b)) == 2);
    for (int i = 0; i < 50; ++i) {
        const auto r = http_get(front, "/");
        INFO("connection " << i);
        REQUIRE(r.status == 200);
        CHECK(r.body == "from a");
    }
    // Back once it answers checks again.
    doomed = std::make_unique<Process>(config_text(http_listener("b", b, "from b")));
    REQUIRE(proxy.gatiod->wait_for_log(fmt::format("upstream 127.0.0.1:{} is up again", b), 20s, 2));
    seen.clear();
    for (int i = 0; i < 8; ++i) {
        seen.insert(http_get(front, "/").body);
    }
    CHECK(seen == std::set<std::string>{"from a", "from b"});
    CHECK(proxy.gatiod->stop() == 0);
}

TEST_CASE("the per-upstream metrics pass the reference parser and count the traffic", "[proxy][metrics]") {
    const int echo = free_port();
    Process backend(config_text(listener("echo", echo, "echo")));
    const int dead = free_port();
    const int front = free_port(), admin = free_port();
    Process proxy(
        config_text(proxy_listener(front, {echo, dead}, "health_interval = \"0s\"\nretries = 1"), admin));
    // Four connections of 1000 bytes each way; round-robin sends some to the dead upstream
    // first, whose refusal is retried on the echo one.
    for (int i = 0; i < 4; ++i) {
        Socket c = Socket::tcp(static_cast<std::uint16_t>(front));
        c.send_all(std::string(1000, 'm'));
        CHECK(c.recv_exact(1000) == std::string(1000, 'm'));
    }
    // Counted by the driver before the bytes went out: by now every count is in.
    const std::string text = metrics(admin);
    const std::string parsed = parsed_metrics(proxy.dir, text);
    INFO(parsed);
    for (const char* family :
         {"family proxy_upstream_up gauge", "family proxy_upstream_active_connections gauge",
          "family proxy_upstream_connections counter", "family proxy_upstream_sent_bytes counter",
          "family proxy_upstream_received_bytes counter", "family proxy_upstream_connect_errors counter",
          "family proxy_upstream_health_transitions counter", "family proxy_clients_unavailable counter"}) {
        CHECK(parsed.find(family) != std::string::npos);
    }
    CHECK(parsed.find("listener=front") != std::string::npos);
    const std::string echo_label = fmt::format("upstream=\"127.0.0.1:{}\"", echo);
    const std::string dead_label = fmt::format("upstream=\"127.0.0.1:{}\"", dead);
    CHECK(sample_sum(text, "proxy_upstream_connections_total", echo_label) == 4);
    CHECK(sample_sum(text, "proxy_upstream_sent_bytes_total", echo_label) == 4000);
    CHECK(sample_sum(text, "proxy_upstream_received_bytes_total", echo_label) == 4000);
    CHECK(sample_sum(text, "proxy_upstream_connect_errors_total", dead_label) >= 1);
    CHECK(sample_sum(text, "proxy_upstream_connect_errors_total", echo_label) == 0);
    CHECK(sample_sum(text, "proxy_clients_unavailable_total") == 0);
    CHECK(proxy.gatiod->stop() == 0);
}

TEST_CASE("with every upstream down, clients are closed at once and counted", "[proxy][health]") {
    const int dead = free_port();
    const int front = free_port(), admin = free_port();
    Process proxy(config_text(
        proxy_listener(front, {dead}, "health_interval = \"100ms\"\nhealth_fall = 1\nretries = 0"), admin));
    REQUIRE(proxy.gatiod->wait_for_log(fmt::format("upstream 127.0.0.1:{} is down", dead), 20s, 2));
    for (int i = 0; i < 5; ++i) {
        Socket s = Socket::tcp(static_cast<std::uint16_t>(front));
        std::string rest;
        s.recv_until_eof(rest); // a close (or a reset): no byte
        CHECK(rest.empty());
    }
    CHECK(sample_sum(metrics(admin), "proxy_clients_unavailable_total") == 5);
    CHECK(proxy.gatiod->stop() == 0);
}

TEST_CASE("a backend that accepts and never answers is bounded by timeouts", "[proxy][timeout]") {
    RawBackend silent; // the kernel completes the handshakes; nobody reads or writes
    const int front = free_port(), admin = free_port();
    Process proxy(config_text(
        proxy_listener(front, {silent.port}, "health_interval = \"0s\"", "idle_timeout = \"1s\""), admin));
    Socket c = Socket::tcp(static_cast<std::uint16_t>(front));
    c.send_all("hello?");
    std::string rest;
    CHECK(c.recv_until_eof(rest)); // closed by the pair's idle timeout, well within the socket's 10 s
    CHECK(rest.empty());
    // And one whose connect cannot complete: a blackhole address, bounded by connect_timeout.
    const int front2 = free_port();
    const int admin2 = free_port();
    Process proxy2(
        config_text(listener("front", front2, "proxy",
                             "[listener.options]\nupstreams = [\"192.0.2.1:9\"]\n"
                             "connect_timeout = \"300ms\"\nhealth_interval = \"0s\"\nretries = 0\n"),
                    admin2));
    Socket d = Socket::tcp(static_cast<std::uint16_t>(front2));
    rest.clear();
    d.recv_until_eof(rest);
    CHECK(rest.empty());
    // Timed out, or refused by the network at once where there is no route.
    CHECK(sample_sum(metrics(admin2), "proxy_upstream_connect_errors_total") == 1);
    CHECK(proxy.gatiod->stop() == 0);
    CHECK(proxy2.gatiod->stop() == 0);
}

TEST_CASE("half-close is passed on in both directions", "[proxy][half-close]") {
    RawBackend raw;
    const int front = free_port();
    Process proxy(config_text(proxy_listener(front, {raw.port}, "health_interval = \"0s\"")));

    // The client shuts its side first: the backend sees EOF, and can still answer.
    {
        Socket c = Socket::tcp(static_cast<std::uint16_t>(front));
        Socket b = raw.accept();
        REQUIRE(b.valid());
        c.send_all("request");
        REQUIRE(::shutdown(c.fd(), SHUT_WR) == 0);
        std::string got;
        REQUIRE(b.recv_until_eof(got));
        CHECK(got == "request");
        b.send_all("answer after your FIN");
        REQUIRE(::shutdown(b.fd(), SHUT_WR) == 0);
        std::string answer;
        REQUIRE(c.recv_until_eof(answer));
        CHECK(answer == "answer after your FIN");
    }
    // The backend shuts its side first: the client sees EOF, and can still send.
    {
        Socket c = Socket::tcp(static_cast<std::uint16_t>(front));
        Socket b = raw.accept();
        REQUIRE(b.valid());
        b.send_all("bye");
        REQUIRE(::shutdown(b.fd(), SHUT_WR) == 0);
        std::string got;
        REQUIRE(c.recv_until_eof(got));
        CHECK(got == "bye");
        c.send_all("still talking");
        REQUIRE(::shutdown(c.fd(), SHUT_WR) == 0);
        std::string late;
        REQUIRE(b.recv_until_eof(late));
        CHECK(late == "still talking");
    }
    CHECK(proxy.gatiod->stop() == 0);
}

TEST_CASE("a reset by the backend reaches the client as a reset", "[proxy][reset]") {
    RawBackend raw;
    const int front = free_port(), admin = free_port();
    // Plain descriptors: a direct one has no socket option to ask for a reset.
    Process proxy(config_text("[io_uring]\ndirect_descriptors = false\n" +
                                  proxy_listener(front, {raw.port}, "health_interval = \"0s\""),
                              admin));
    Socket c = Socket::tcp(static_cast<std::uint16_t>(front));
    Socket b = raw.accept();
    REQUIRE(b.valid());
    c.send_all("ping");
    CHECK(b.recv_exact(4) == "ping");
    linger l{1, 0};
    REQUIRE(::setsockopt(b.fd(), SOL_SOCKET, SO_LINGER, &l, sizeof l) == 0);
    b.close();
    char byte = 0;
    const ssize_t n = c.receive(&byte, 1);
    CHECK(n < 0);
    CHECK(errno == ECONNRESET);
    CHECK(sample_sum(metrics(admin), "proxy_upstream_resets_total") == 1);
    CHECK(proxy.gatiod->stop() == 0);
}

TEST_CASE("a client that never reads keeps the proxy's memory bounded", "[proxy][backpressure]") {
    RawBackend raw;
    const int front = free_port(), admin = free_port();
    Process proxy(config_text(
        proxy_listener(front, {raw.port}, "health_interval = \"0s\"\nmax_buffered = \"64KiB\""), admin));
    Socket c = Socket::tcp(static_cast<std::uint16_t>(front), 10s, 4096);
    Socket b = raw.accept();
    REQUIRE(b.valid());
    // The backend writes until the proxy stops taking: 256 MiB would be far more than any buffer.
    const std::size_t limit = std::size_t{256} << 20;
    const std::size_t sent = b.send_until_stalled(std::string(64 << 10, 'x'), limit, 1000ms);
    INFO("the backend got " << sent << " bytes out");
    CHECK(sent < limit);
    const std::string text = metrics(admin);
    // Unsent output the proxy holds: max_buffered and what one receive brings on top of it.
    CHECK(sample_sum(text, "gatio_output_memory_bytes") <= 1 << 20);
    // And the receive buffers its output sends from: one connection's share at most.
    CHECK(sample_sum(text, "gatio_buffer_ring_held_buffers") <= 32);
    // The pair still works: the client reads, and everything the backend sent comes through.
    std::size_t got = 0;
    std::vector<char> buf(1 << 16);
    while (got < sent) {
        const ssize_t n = c.receive(buf.data(), buf.size());
        REQUIRE(n > 0);
        got += static_cast<std::size_t>(n);
    }
    CHECK(got == sent);
    CHECK(proxy.gatiod->stop() == 0);
}
