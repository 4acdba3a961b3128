// Socket activation: sockets passed the way systemd passes them (descriptors 3, 4, ...,
// LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES) are used by the listeners named after them. The test
// holds its own copies, as systemd does, so it can see connections wait across a restart.
#include <catch2/catch.hpp>
#include <csignal>
#include <memory>
#include <unistd.h>

#include "daemon/exit_codes.hpp"
#include "harness.hpp"

using namespace gatio::service_test;

namespace {

std::unique_ptr<Child> activated(const std::filesystem::path& file, const std::vector<int>& fds,
                                 const std::string& names) {
    auto env = clean_env();
    env.push_back("LISTEN_FDS=" + std::to_string(fds.size()));
    env.push_back("LISTEN_FDNAMES=" + names);
    return std::make_unique<Child>(
        Spawn{{gatiod, "-c", file.string(), "--plugin-dir", echo_plugin_dir}, env, fds, true});
}

std::string udp_listener(std::string_view name, int port) {
    return tcp_listener(name, port, "echo", "transport = \"udp\"");
}

} // namespace

TEST_CASE("socket activation: listeners serve the sockets named after them, and connections wait across a "
          "restart",
          "[service][activation]") {
    TempDir dir;
    const int tcp_port = free_port();
    const int udp_port = free_port(SOCK_DGRAM);
    // Without SO_REUSEPORT: had gatiod bound these addresses itself, it would have failed.
    const int web = bound_socket(SOCK_STREAM, tcp_port);
    const int dgram = bound_socket(SOCK_DGRAM, udp_port);
    const int stray = bound_socket(SOCK_STREAM, free_port());
    const auto file = dir.write("gatio.toml", config_text("", tcp_listener("web", tcp_port, "echo") +
                                                                  udp_listener("dgram", udp_port)));

    auto child = activated(file, {web, dgram, stray}, "web:dgram:stray");
    REQUIRE(child->wait_for_output(" running; SIGTERM or SIGINT stops it", 60s));
    INFO(child->output());
    CHECK(child->output().find("socket activation: listener \"web\" serves the socket passed as fd 3") !=
          std::string::npos);
    CHECK(child->output().find("socket activation: listener \"dgram\" serves the socket passed as fd 4") !=
          std::string::npos);
    CHECK(
        child->output().find("socket activation: the socket passed as \"stray\" (fd 5) matches no listener's "
                             "name; closed") != std::string::npos);
    // Every driver serves the TCP listener through its own copy of the one socket.
    for (int i = 0; i < 8; ++i) {
        const std::string hello = "hello " + std::to_string(i);
        CHECK(tcp_round_trip(tcp_port, hello, hello.size()) == hello);
    }
    CHECK(udp_round_trip(udp_port, "datagram") == "datagram");
    child->signal(SIGTERM);
    CHECK(child->wait(60s) == 0);

    // No gatiod now, yet the socket (ours, like systemd's) still takes connections ...
    const int waiting = connect_tcp(tcp_port);
    REQUIRE(waiting >= 0);
    send_all(waiting, "queued while stopped");
    // ... which the next gatiod serves.
    auto next = activated(file, {web, dgram}, "web:dgram");
    REQUIRE(next->wait_for_output(" running; SIGTERM or SIGINT stops it", 60s));
    CHECK(receive(waiting, 20) == "queued while stopped");
    ::close(waiting);
    next->signal(SIGTERM);
    CHECK(next->wait(60s) == 0);
    for (int fd : {web, dgram, stray}) {
        ::close(fd);
    }
}

TEST_CASE("socket activation: a passed socket that is not the listener's own stops the start",
          "[service][activation]") {
    TempDir dir;
    const int port = free_port();
    const auto file = dir.write("gatio.toml", config_text("", tcp_listener("web", port, "echo")));

    SECTION("bound to another address") {
        const int other = free_port();
        const int fd = bound_socket(SOCK_STREAM, other);
        auto child = activated(file, {fd}, "web");
        CHECK(child->wait(60s) == gatio::daemon::exit_software);
        INFO(child->output());
        CHECK(child->output().find(
                  "listeners: listener \"web\" (tcp 127.0.0.1:" + std::to_string(port) +
                  "): the socket passed as \"web\" (fd 3) is bound to 127.0.0.1:" + std::to_string(other) +
                  ", not to the configured address 127.0.0.1:" + std::to_string(port)) != std::string::npos);
        ::close(fd);
    }
    SECTION("of another transport") {
        const int fd = bound_socket(SOCK_DGRAM, port);
        auto child = activated(file, {fd}, "web");
        CHECK(child->wait(60s) == gatio::daemon::exit_software);
        INFO(child->output());
        CHECK(child->output().find("the socket passed as \"web\" (fd 3) is not a stream (TCP) socket") !=
              std::string::npos);
        ::close(fd);
    }
    SECTION("two sockets under one name") {
        const int a = bound_socket(SOCK_STREAM, port);
        const int b = bound_socket(SOCK_STREAM, free_port());
        auto child = activated(file, {a, b}, "web:web");
        CHECK(child->wait(60s) == gatio::daemon::exit_config);
        INFO(child->output());
        CHECK(child->output().find("socket activation: sockets 3, 4 are all named \"web\"") !=
              std::string::npos);
        ::close(a);
        ::close(b);
    }
}
