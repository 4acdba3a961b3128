// Stopping: SIGTERM stops accepting while a response in flight is delivered whole, then gatiod
// exits 0; a second signal exits at once. And SIGUSR1, which only logs the counters.
#include <arpa/inet.h>
#include <catch2/catch.hpp>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <netinet/in.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

#include "harness.hpp"

using namespace gatio::service_test;

namespace {

constexpr std::size_t big = std::size_t{8} << 20;

bool pattern_ok(const std::string& body) {
    for (std::size_t i = 0; i < body.size(); ++i) {
        if (body[i] != static_cast<char>('a' + i % 26)) {
            return false;
        }
    }
    return true;
}

// A connection whose 8 MiB answer is being sent while the client reads nothing more: a small
// receive window keeps most of it queued inside gatiod. Returns the connected socket once the
// first byte has arrived (the request has been handled).
int start_big_response(int port, std::string& received) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    const int window = 64 << 10;
    REQUIRE(::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &window, sizeof window) == 0);
    timeval tv{30, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    send_all(fd, "big " + std::to_string(big) + "\n");
    received = receive(fd, 1);
    REQUIRE(received.size() == 1);
    return fd;
}

struct Server {
    TempDir dir;
    int port = free_port();
    std::unique_ptr<Child> child;

    explicit Server(const std::string& grace) {
        const auto file = dir.write("gatio.toml", config_text("shutdown_grace = \"" + grace + "\"\n",
                                                              tcp_listener("svc", port, service_plugin)));
        child = std::make_unique<Child>(std::vector<std::string>{gatiod, "-c", file.string()}, clean_env());
        REQUIRE(child->wait_for_output(" running; SIGTERM or SIGINT stops it", 60s));
    }
};

} // namespace

TEST_CASE("SIGTERM: no new connections, the response in flight is delivered whole, then exit 0",
          "[service][shutdown]") {
    Server server("60s");
    Child& child = *server.child;
    INFO(child.output());
    std::string received;
    const int fd = start_big_response(server.port, received);

    child.signal(SIGTERM);
    REQUIRE(child.wait_for_output("SIGTERM received: stopping (grace 60000 ms)", 30s));
    // The listening socket goes as soon as the drivers have cancelled their accepts.
    bool refused = false;
    for (int i = 0; i < 2000 && !refused; ++i) {
        const int c = connect_tcp(server.port);
        refused = c < 0 && errno == ECONNREFUSED;
        if (c >= 0) {
            ::close(c);
        }
        std::this_thread::sleep_for(5ms);
    }
    CHECK(refused);
    // Still draining: the answer is not all out, and the grace period is far from over.
    CHECK(child.running());

    received += receive(fd, big); // to the end: gatiod closes once everything is sent
    CHECK(received.size() == big);
    CHECK(pattern_ok(received));
    char extra = 0;
    CHECK(::recv(fd, &extra, 1, 0) == 0); // then an orderly close
    ::close(fd);
    CHECK(child.wait(60s) == 0);
    CHECK(child.output().find(" info     stopped\n") != std::string::npos);
}

TEST_CASE("a second SIGTERM or SIGINT exits at once, without waiting for the grace period",
          "[service][shutdown]") {
    for (int second : {SIGTERM, SIGINT}) {
        INFO("second signal " << second);
        Server server("100s");
        Child& child = *server.child;
        std::string received;
        const int fd = start_big_response(server.port, received);
        child.signal(SIGTERM);
        REQUIRE(child.wait_for_output("SIGTERM received: stopping (grace 100000 ms)", 30s));
        child.signal(second);
        // Without the second signal this would wait for the client for 100 s.
        CHECK(child.wait(30s) == 0);
        INFO(child.output());
        CHECK(child.output().find(std::string("SIG") + sigabbrev_np(second) +
                                  " received again: exiting at once, 1 connections still open") !=
              std::string::npos);
        ::close(fd);
    }
}

TEST_CASE("SIGUSR1 logs every driver's counters and the totals, and changes nothing", "[service][shutdown]") {
    Server server("10s");
    Child& child = *server.child;
    const int c = connect_tcp(server.port);
    REQUIRE(c >= 0);
    send_all(c, "ping\nping\n");
    CHECK(receive(c, 10) == "pong\npong\n");

    child.signal(SIGUSR1);
    REQUIRE(child.wait_for_output("counters: total: ", 30s));
    REQUIRE(child.wait_for_output("\n", 5s));
    INFO(child.output());
    CHECK(child.output().find("SIGUSR1 received: counters of ") != std::string::npos);
    CHECK(child.output().find("counters: driver ") != std::string::npos);
    CHECK(child.output().find("counters: total: connections_open=1; accepted=1 ") != std::string::npos);
    // The two lines arrived in one or two receives: one or two handler dispatches.
    const auto total = child.output().find("counters: total: ");
    const auto dispatched = child.output().find(" dispatched=", total);
    REQUIRE(dispatched != std::string::npos);
    const auto count = std::stoul(child.output().substr(dispatched + 12));
    CHECK(count >= 1);
    CHECK(count <= 2);

    send_all(c, "ping\n");
    CHECK(receive(c, 5) == "pong\n");
    ::close(c);
    child.signal(SIGTERM);
    CHECK(child.wait(60s) == 0);
}

TEST_CASE("at the grace deadline no instance is destroyed while another driver still runs its task",
          "[service][shutdown]") {
    TempDir dir;
    const int port = free_port();
    // Two drivers; the listener on d0 only, so that its tasks run on d1.
    const auto file =
        dir.write("gatio.toml", "[daemon]\nshutdown_grace = \"200ms\"\n[topology]\nmode = \"manual\"\n"
                                "[[tpc]]\nname = \"node0\"\nnuma_node = 0\n"
                                "[[tpc.driver]]\nname = \"d0\"\ncpu = 0\nrole = \"io+exec\"\n"
                                "[[tpc.driver]]\nname = \"d1\"\ncpu = 1\nrole = \"io+exec\"\n" +
                                    tcp_listener("svc", port, service_plugin, "drivers = [\"d0\"]\n"));
    Child child({gatiod, "-c", file.string()}, clean_env());
    REQUIRE(child.wait_for_output(" running; SIGTERM or SIGINT stops it", 60s));
    const int fd = connect_tcp(port);
    REQUIRE(fd >= 0);
    // 600 tasks of 5 ms: d1 runs them in turns of 256, the first ending past the deadline,
    // where d1 quiesces; d0 is blocked meanwhile and quiesces last, while d1 runs its second
    // turn. Only then may d0 destroy the instance those tasks belong to.
    send_all(fd, "linger 600 5 2000\n");
    CHECK(receive(fd, 14) == "lingering 600\n");
    child.signal(SIGTERM);
    const int status = child.wait(60s);
    INFO(child.output());
    CHECK(child.output().find("a task ran after its instance was destroyed") == std::string::npos);
    CHECK(status == 0);
    ::close(fd);
}
