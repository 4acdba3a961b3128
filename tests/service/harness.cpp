#include "harness.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>
#include <unistd.h>

#include "tests/support/socket.hpp"

namespace gatio::service_test {

using ::gatio::test::loopback;

int bound_socket(int type, int port) {
    int fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_in a = loopback(static_cast<std::uint16_t>(port));
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    if (type == SOCK_STREAM) {
        REQUIRE(::listen(fd, 128) == 0);
    }
    return fd;
}

namespace {

::gatio::test::Spawn spawn_of(const Spawn& spawn) {
    std::vector<std::string> env = spawn.env;
    env.emplace_back("LISTEN_PID");
    return {.argv = spawn.argv,
            .env = std::move(env),
            .pass_fds = spawn.pass_fds,
            .set_listen_pid = spawn.set_listen_pid,
            .merge_output = true};
}

} // namespace

Child::Child(const Spawn& spawn) : ::gatio::test::Child(spawn_of(spawn)) {}

void Child::pump(std::chrono::milliseconds wait) {
    wait_until([](const std::string&) { return false; }, wait);
}

std::optional<std::size_t> NotifySocket::wait_for(Child&,
                                                  const std::function<bool(const std::string&)>& match,
                                                  std::chrono::milliseconds timeout) {
    return socket_.wait_for(match, timeout);
}

bool has_field(const std::string& message, std::string_view assignment) {
    const auto eq = assignment.find('=');
    auto value = field(message, assignment.substr(0, eq));
    return value && *value == assignment.substr(eq + 1);
}

int connect_tcp(int port) {
    return ::gatio::test::Socket::try_tcp(static_cast<std::uint16_t>(port), 30s).release();
}

void send_all(int fd, std::string_view data) {
    if (!::gatio::test::send_all(fd, data.data(), data.size())) {
        FAIL("send: " << std::strerror(errno));
    }
}

std::string receive(int fd, std::size_t n) {
    std::string out;
    char buf[65536];
    while (out.size() < n) {
        const ssize_t got = ::gatio::test::receive(fd, buf, std::min(sizeof buf, n - out.size()));
        if (got <= 0) {
            break;
        }
        out.append(buf, static_cast<std::size_t>(got));
    }
    return out;
}

std::string tcp_round_trip(int port, std::string_view request, std::size_t reply_size) {
    const int fd = connect_tcp(port);
    REQUIRE(fd >= 0);
    send_all(fd, request);
    std::string reply = receive(fd, reply_size);
    ::close(fd);
    return reply;
}

std::string udp_round_trip(int port, std::string_view datagram) {
    const ::gatio::test::Socket s = ::gatio::test::Socket::udp(30s);
    const sockaddr_in a = loopback(static_cast<std::uint16_t>(port));
    REQUIRE(::connect(s.fd(), reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::send(s.fd(), datagram.data(), datagram.size(), 0) == static_cast<ssize_t>(datagram.size()));
    char buf[2048];
    const ssize_t got = s.receive(buf, sizeof buf);
    return got > 0 ? std::string(buf, static_cast<std::size_t>(got)) : std::string();
}

std::string config_text(std::string_view daemon, std::string_view listeners) {
    return "[daemon]\n" + std::string(daemon) + "\n[topology]\nmode = \"auto\"\n\n" + std::string(listeners);
}

std::string tcp_listener(std::string_view name, int port, std::string_view handler, std::string_view extra) {
    return "[[listener]]\nname = \"" + std::string(name) +
           "\"\naddress = \"127.0.0.1:" + std::to_string(port) + "\"\nhandler = \"" + std::string(handler) +
           "\"\n" + std::string(extra) + "\n";
}

std::vector<std::string> clean_env() {
    return {"JOURNAL_STREAM", "NOTIFY_SOCKET",  "WATCHDOG_USEC", "WATCHDOG_PID",
            "LISTEN_FDS",     "LISTEN_FDNAMES", "LISTEN_PID"};
}

} // namespace gatio::service_test
