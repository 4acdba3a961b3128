// The boundary between gatiod and a handler holds whatever the handler does: exceptions out of
// every kind of callback, timer handles of another instance, delays beyond the ABI's bound and
// services called from a thread of the handler's own. The handler is tests/net/faults_plugin.cpp,
// written against the C ABI directly so that its exceptions reach gatiod. One driver, so that
// every connection shares the driver whose handler misbehaves.
#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <string>

#include "tests/net/client.hpp"
#include "tests/net/configs.hpp"
#include "tests/net/server.hpp"

using gatio::tests::free_port;
using gatio::tests::Server;
using gatio::tests::Socket;

namespace {

const std::string faults_so = (gatio::tests::test_plugin_dir / "faults.so").string();

std::string one_driver(std::uint16_t port) {
    return gatio::tests::listener_config(port, faults_so, "tcp", "", "cpus = \"0\"");
}

std::string ask(const Socket& s, const std::string& command) {
    s.send_all(command + "\n");
    return s.recv_line();
}

} // namespace

TEST_CASE("a throwing handler costs only the connection concerned, never the process", "[faults]") {
    auto port = free_port();
    Server server(one_driver(port));
    REQUIRE(server.drivers() == 1);
    Socket bystander = Socket::tcp(port);
    REQUIRE(ask(bystander, "ping") == "pong");

    auto errors = [&server](std::uint64_t n) {
        return server.wait_for([n](const auto& c) { return c.plugin_errors == n; });
    };
    // Not tied to a connection: counted and logged, and the connection that asked goes on.
    std::uint64_t expected = 0;
    for (const char* what : {"throw task", "throw done", "throw timer", "throw post"}) {
        INFO(what);
        bystander.send_all(std::string(what) + "\n");
        CHECK(errors(++expected));
        CHECK(ask(bystander, "ping") == "pong");
    }

    // From a connection's own callbacks: that connection is reset (or, from on_close, was
    // going anyway), every other one stays.
    {
        Socket s = Socket::tcp(port);
        REQUIRE(ask(s, "ping") == "pong");
        s.send_all("throw data\n");
        std::string rest;
        s.recv_until_eof(rest); // EOF or reset: either way the server let go
        CHECK(rest.empty());
        CHECK(errors(++expected));
    }
    {
        Socket s = Socket::tcp(port);
        REQUIRE(ask(s, "ping") == "pong");
        s.send_all("throw eof\n");
        REQUIRE(::shutdown(s.fd(), SHUT_WR) == 0);
        std::string rest;
        s.recv_until_eof(rest);
        CHECK(rest.empty());
        CHECK(errors(++expected));
    }
    {
        Socket s = Socket::tcp(port);
        s.send_all("throw close\n");
        std::string rest;
        CHECK(s.recv_until_eof(rest));
    } // our FIN answers the server's, which then closes and calls on_close
    CHECK(errors(++expected));
    CHECK(ask(bystander, "ping") == "pong");
    CHECK(server.wait_for([](const auto& c) { return c.accepted == 4 && c.closed == 3; }));
}

TEST_CASE("timer_start refuses a delay beyond GATIO_TIMER_MAX_DELAY_MS", "[faults]") {
    auto port = free_port();
    Server server(one_driver(port));
    Socket s = Socket::tcp(port);
    CHECK(ask(s, "delay 18446744073709551615") == "delay 0");
    CHECK(ask(s, fmt::format("delay {}", GATIO_TIMER_MAX_DELAY_MS + 1)) == "delay 0");
    CHECK(ask(s, fmt::format("delay {}", GATIO_TIMER_MAX_DELAY_MS)) != "delay 0");
}

TEST_CASE("a timer handle is good only on the host that started it, and only once", "[faults]") {
    auto port_a = free_port();
    auto port_b = free_port();
    // Two listeners of the same handler on the one driver: two instances sharing a timer wheel.
    Server server(fmt::format(R"(
[daemon]
log_level = "warn"
[topology]
mode = "auto"
cpus = "0"
[[listener]]
name = "a"
address = "127.0.0.1:{}"
handler = "{}"
max_connections = 16
[[listener]]
name = "b"
address = "127.0.0.1:{}"
handler = "{}"
max_connections = 16
)",
                              port_a, faults_so, port_b, faults_so));
    Socket a = Socket::tcp(port_a);
    Socket b = Socket::tcp(port_b);
    std::string held = ask(a, "hold 300");
    REQUIRE(held.starts_with("held "));
    const std::string handle = held.substr(5);
    REQUIRE(handle != "0");

    // Another instance's handle: refused, and the timer still runs for its owner.
    CHECK(ask(b, "cancel " + handle) == fmt::format("cancel {}", static_cast<int>(GATIO_ERR_INVALID)));
    CHECK(a.recv_line() == "timer");
    // Stale once it has fired.
    CHECK(ask(a, "cancel " + handle) == fmt::format("cancel {}", static_cast<int>(GATIO_ERR_INVALID)));
    // A handle that never was one.
    CHECK(ask(a, "cancel 0") == fmt::format("cancel {}", static_cast<int>(GATIO_ERR_INVALID)));
    // Its own pending timer: cancelled.
    held = ask(a, "hold 60000");
    CHECK(ask(a, "cancel " + held.substr(5)) == "cancel 0");
}

TEST_CASE("services called from a thread other than the driver's are refused", "[faults]") {
    auto port = free_port();
    Server server(one_driver(port));
    Socket s = Socket::tcp(port);
    // send, timer_start (0: no timer), timer_cancel, get_user (NULL): nothing was done.
    CHECK(ask(s, "foreign") == fmt::format("foreign {} 0 {} 0", static_cast<int>(GATIO_ERR_INVALID),
                                           static_cast<int>(GATIO_ERR_INVALID)));
    // The connection is untouched and the handler's own calls work as before.
    CHECK(ask(s, "ping") == "pong");
}
