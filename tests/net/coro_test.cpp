// The coroutine layer (include/gatio/coro.hpp) through a real handler written with it
// (tests/net/coro_plugin.cpp) on real connections: data, timers, drained output, tasks on an
// exec-only driver, cancellation when the peer goes away, the bounded frame pool and faults.
#include <catch2/catch.hpp>
#include <cstdio>
#include <fmt/format.h>
#include <sched.h>
#include <string>

#include "core/placement.hpp"
#include "tests/net/client.hpp"
#include "tests/net/configs.hpp"
#include "tests/net/server.hpp"
#include "tests/support/skip.hpp"

using gatio::tests::free_port;
using gatio::tests::Server;
using gatio::tests::Socket;

namespace {

const std::string coro_so = (gatio::tests::test_plugin_dir / "coro.so").string();

std::string one_driver(std::uint16_t port, const std::string& options = "") {
    return gatio::tests::listener_config(
        port, coro_so, "tcp", options.empty() ? "" : "[listener.options]\n" + options, "cpus = \"0\"");
}

// Driver 0 does the I/O (so the one instance and its pool serve every connection), driver 1
// only executes tasks.
std::string io_and_exec(std::uint16_t port) {
    return fmt::format(R"(
[daemon]
log_level = "warn"
[topology]
mode = "manual"
[[tpc]]
name = "node0"
numa_node = 0
  [[tpc.driver]]
  name = "io0"
  cpu = 0
  role = "io"
  [[tpc.driver]]
  name = "exec1"
  cpu = 1
  role = "exec"
[[listener]]
name = "coro"
address = "127.0.0.1:{}"
handler = "{}"
max_connections = 64
)",
                       port, coro_so);
}

bool two_cpus() {
    cpu_set_t set;
    CPU_ZERO(&set);
    return sched_getaffinity(0, sizeof set, &set) == 0 && CPU_ISSET(0, &set) && CPU_ISSET(1, &set);
}

std::string ask(const Socket& s, const std::string& command) {
    s.send_all(command + "\n");
    return s.recv_line();
}

// Asks `stats` until it answers `want` (the coroutines of closed connections end on the driver
// thread, a little after the client's close): bounded, no timing asserted.
std::string stats_until(const Socket& s, const std::string& want) {
    std::string got;
    for (int i = 0; i < 1000; ++i) {
        got = ask(s, "stats");
        if (got == want) {
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return got;
}

} // namespace

TEST_CASE("a coroutine awaits each line, whole or in pieces, pipelined or not", "[coro]") {
    auto port = free_port();
    Server server(one_driver(port));
    Socket s = Socket::tcp(port);
    CHECK(ask(s, "echo one") == "one");
    // Two commands in one segment: the rest after the first is shown at once.
    s.send_all("echo two\necho three\n");
    CHECK(s.recv_line() == "two");
    CHECK(s.recv_line() == "three");
    // A line in pieces: the partial one is shown again together with what follows.
    s.send_all("ec");
    s.send_all("ho fo");
    s.send_all("ur\n");
    CHECK(s.recv_line() == "four");
    CHECK(ask(s, "nest") == "nested 42");
    CHECK(ask(s, "unknown command") == "unknown");

    // Many connections at once, each with its own coroutine.
    std::vector<Socket> many;
    for (int i = 0; i < 50; ++i) {
        many.push_back(Socket::tcp(port));
        many.back().send_all(fmt::format("echo c{}\n", i));
    }
    for (int i = 0; i < 50; ++i) {
        CHECK(many[static_cast<std::size_t>(i)].recv_line() == fmt::format("c{}", i));
    }
}

TEST_CASE("a coroutine sleeps on the driver's timers; input arriving meanwhile waits for it", "[coro]") {
    auto port = free_port();
    Server server(one_driver(port));
    Socket s = Socket::tcp(port);
    CHECK(ask(s, "sleep 20") == "slept");
    // Sent while the coroutine sleeps: staged, and answered in order afterwards.
    s.send_all("sleep 100\n");
    s.send_all("echo during\n");
    CHECK(s.recv_line() == "slept");
    CHECK(s.recv_line() == "during");
    // In the same segment as the sleep.
    s.send_all("sleep 10\necho after\n");
    CHECK(s.recv_line() == "slept");
    CHECK(s.recv_line() == "after");
}

TEST_CASE("a coroutine awaits its output drained", "[coro]") {
    auto port = free_port();
    Server server(one_driver(port));
    Socket s = Socket::tcp(port);
    s.send_all("burst 1048576\n");
    CHECK(s.recv_exact(1048576) == std::string(1048576, 'x'));
    CHECK(s.recv_line().empty());
    CHECK(s.recv_line() == "drained");
}

TEST_CASE("a coroutine awaits a task run on an exec-only driver", "[coro]") {
    if (!two_cpus()) {
        GATIO_SKIP("needs CPUs 0 and 1");
    }
    auto port = free_port();
    Server server(io_and_exec(port));
    REQUIRE(server.drivers() == 2);
    REQUIRE(server.topology().driver(1).role == gatio::config::DriverRole::exec);
    Socket s = Socket::tcp(port);
    CHECK(ask(s, "spawn 1000") == fmt::format("spawned 500500 {}", server.topology().driver(1).cpu));
    CHECK(ask(s, "spawn 0") == fmt::format("spawned 0 {}", server.topology().driver(1).cpu));
}

TEST_CASE("a task placed by key always runs on the exec driver its key maps to", "[coro]") {
    if (!two_cpus()) {
        GATIO_SKIP("needs CPUs 0 and 1");
    }
    auto port = free_port();
    // Two io+exec drivers: both are targets of keys.
    Server server(gatio::tests::listener_config(port, coro_so, "tcp", "", "cpus = \"0-1\""));
    REQUIRE(server.drivers() == 2);
    const std::vector<int> executors{0, 1};
    std::vector<int> seen(2);
    Socket s = Socket::tcp(port);
    for (std::uint32_t key = 0; key < 32; ++key) {
        const int driver = gatio::core::key_executor(key, executors);
        for (int again = 0; again < 3; ++again) {
            CHECK(ask(s, fmt::format("keyed {}", key)) ==
                  fmt::format("keyed {}", server.topology().driver(driver).cpu));
        }
        ++seen[static_cast<std::size_t>(driver)];
    }
    CHECK(seen[0] > 0);
    CHECK(seen[1] > 0);
}

TEST_CASE("a peer leaving mid-await cancels the await and frees the coroutine", "[coro]") {
    if (!two_cpus()) {
        GATIO_SKIP("needs CPUs 0 and 1");
    }
    auto port = free_port();
    Server server(io_and_exec(port));
    Socket watcher = Socket::tcp(port);
    // The watcher's own Stream and frames are the baseline of the pool.
    int live = 0, cancelled = 0, blocks = 0;
    REQUIRE(std::sscanf(ask(watcher, "stats").c_str(), "stats %d %d %d", &live, &cancelled, &blocks) == 3);
    REQUIRE(live == 1);

    for (const char* what : {"data", "sleep", "spawn"}) {
        INFO(what);
        {
            Socket s = Socket::tcp(port);
            CHECK(ask(s, std::string("hold ") + what) == "holding");
            if (std::string_view(what) == "data") {
                // A FIN would be the end of input, which next_data() reports as such: a reset
                // is the peer vanishing.
                linger l{1, 0};
                REQUIRE(::setsockopt(s.fd(), SOL_SOCKET, SO_LINGER, &l, sizeof l) == 0);
            }
        } // closed while the coroutine awaits
        ++cancelled;
        CHECK(stats_until(watcher, fmt::format("stats 1 {} {}", cancelled, blocks)) ==
              fmt::format("stats 1 {} {}", cancelled, blocks));
    }
    CHECK(ask(watcher, "echo still") == "still");
}

TEST_CASE("the frame pool is bounded: a connection it cannot serve is reset, the others go on", "[coro]") {
    auto port = free_port();
    // Two idle connections hold two blocks each (Stream, coroutine); a command takes one more
    // for as long as it runs.
    Server server(one_driver(port, "coroutine_blocks = 5\n"));
    Socket a = Socket::tcp(port);
    CHECK(ask(a, "echo a") == "a");
    Socket b = Socket::tcp(port);
    CHECK(ask(b, "echo b") == "b");
    {
        Socket c = Socket::tcp(port);
        std::string rest;
        c.recv_until_eof(rest); // EOF or reset: either way refused
        CHECK(rest.empty());
    }
    CHECK(ask(a, "echo a") == "a");
    a.close();
    CHECK(server.wait_for([](const auto& c) { return c.closed == 2; }));
    Socket d = Socket::tcp(port);
    CHECK(ask(d, "echo d") == "d");
    CHECK(ask(b, "stats").ends_with(" 5"));
}

TEST_CASE("an exception out of a coroutine resets only its connection", "[coro]") {
    auto port = free_port();
    Server server(one_driver(port));
    Socket bystander = Socket::tcp(port);
    CHECK(ask(bystander, "echo up") == "up");
    const std::string before = ask(bystander, "stats");
    CHECK(before.ends_with(" 3")); // the bystander's Stream, coroutine and command
    {
        Socket s = Socket::tcp(port);
        s.send_all("throw\n");
        std::string rest;
        s.recv_until_eof(rest);
        CHECK(rest.empty());
    }
    CHECK(server.wait_for([](const auto& c) { return c.closed == 1; }));
    CHECK(ask(bystander, "echo still up") == "still up");
    CHECK(stats_until(bystander, before) == before);
}

TEST_CASE("a coroutine that returns closes its connection after its output", "[coro]") {
    auto port = free_port();
    Server server(one_driver(port));
    Socket s = Socket::tcp(port);
    s.send_all("echo last\n");
    REQUIRE(::shutdown(s.fd(), SHUT_WR) == 0);
    std::string rest;
    CHECK(s.recv_until_eof(rest));
    CHECK(rest == "last\n");
}

TEST_CASE("a coroutine that keeps the connection after the peer's FIN answers later", "[coro]") {
    auto port = free_port();
    Server server(one_driver(port));
    Socket s = Socket::tcp(port);
    s.send_all("keep\nsleep 20\n");
    REQUIRE(::shutdown(s.fd(), SHUT_WR) == 0);
    std::string rest;
    CHECK(s.recv_until_eof(rest));
    CHECK(rest == "kept\nslept\n");
}
