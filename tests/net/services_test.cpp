// The host services of the plugin ABI, used by a real plugin (tests/net/services_plugin.cpp)
// through real connections: timers, posting across drivers, tasks, the user pointer, pausing,
// closing, options, keeping a half-closed connection open, and the health services.
#include <catch2/catch.hpp>
#include <string>

#include "tests/net/client.hpp"
#include "tests/net/configs.hpp"
#include "tests/net/server.hpp"

using gatio::tests::free_port;
using gatio::tests::Server;
using gatio::tests::Socket;

namespace {

std::string services_config(std::uint16_t port, const std::string& more_options = "") {
    return gatio::tests::listener_config(
        port, (gatio::tests::test_plugin_dir / "services.so").string(), "tcp",
        "[listener.options]\ngreeting = \"hello\"\nlimit = \"2KiB\"\n" + more_options);
}

} // namespace

TEST_CASE("plugins use timers, posts, tasks and the user pointer", "[services]") {
    auto port = free_port();
    Server server(services_config(port));
    Socket s = Socket::tcp(port);

    s.send_all("opt\n");
    CHECK(s.recv_line() == "opt hello 2048");
    s.send_all("user\n");
    CHECK(s.recv_line() == "user ok");
    s.send_all("timer 30\n");
    CHECK(s.recv_line() == "timer");
    for (std::size_t d = 0; d < server.drivers(); ++d) {
        s.send_all("post " + std::to_string(d) + "\n");
        CHECK(s.recv_line() == "posted");
    }
    s.send_all("post 4096\n");
    CHECK(s.recv_line() == "post refused");
    s.send_all("spawn\n");
    CHECK(s.recv_line() == "spawned 500500");
}

TEST_CASE("any handler may ask which drivers are stalled and their names; metrics only on [admin]",
          "[services]") {
    auto port = free_port();
    Server server(services_config(port));
    Socket s = Socket::tcp(port);
    // Nobody ticks the liveness monitor here (no control loop): no driver is held stalled.
    s.send_all("health 0\n");
    CHECK(s.recv_line() ==
          "health 0 " + server.topology().driver(0).name + ' ' + std::to_string(GATIO_ERR_UNSUPPORTED));
    s.send_all("health 4096\n");
    CHECK(s.recv_line() == "health 0 - " + std::to_string(GATIO_ERR_UNSUPPORTED));
}

TEST_CASE("a paused connection delivers nothing until resumed", "[services]") {
    auto port = free_port();
    Server server(services_config(port));
    Socket s = Socket::tcp(port);
    s.send_all("pause 100\n");
    CHECK(s.recv_line() == "paused");
    // Sent while reading is paused: answered only after "resumed".
    s.send_all("user\n");
    CHECK(s.recv_line() == "resumed");
    CHECK(s.recv_line() == "user ok");
}

TEST_CASE("a handler's orderly close flushes its output first", "[services]") {
    auto port = free_port();
    Server server(services_config(port));
    Socket s = Socket::tcp(port);
    s.send_all("bye\n");
    std::string rest;
    CHECK(s.recv_until_eof(rest));
    CHECK(rest == "bye\n");
}

TEST_CASE("a handler may keep a half-closed connection and answer later", "[services]") {
    auto port = free_port();
    Server server(services_config(port));
    Socket s = Socket::tcp(port);
    s.send_all("user\n");
    REQUIRE(::shutdown(s.fd(), SHUT_WR) == 0);
    std::string rest;
    CHECK(s.recv_until_eof(rest));
    CHECK(rest == "user ok\nlate\n");
}

TEST_CASE("a connection with nothing in flight can be aborted from a timer", "[services]") {
    auto port = free_port();
    Server server(services_config(port));
    Socket s = Socket::tcp(port);
    s.send_all("stall 30\n");
    CHECK(s.recv_line() == "stalled");
    std::string rest;
    s.recv_until_eof(rest); // EOF or reset: either way the server let go
    CHECK(rest.empty());
    CHECK(server.wait_for([](const auto& c) { return c.closed == 1; }));
}

TEST_CASE("a connection refused by on_open is closed and reported closed", "[services]") {
    auto port = free_port();
    Server server(services_config(port, "reject = true"));
    Socket s = Socket::tcp(port);
    std::string rest;
    s.recv_until_eof(rest);
    CHECK(rest.empty());
    CHECK(server.wait_for([](const auto& c) { return c.accepted == 1 && c.closed == 1; }));
}
