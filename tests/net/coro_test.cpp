// The coroutine layer (include/gatio/coro.hpp) through a real handler written with it
// (tests/net/coro_plugin.cpp) on real connections: data, timers, drained output, tasks on an
// exec-only driver, outbound connections (to echo listeners of the same server and to peers of
// the test), cancellation when the peer goes away, the bounded frame pool and faults.
#include <catch2/catch.hpp>
#include <cerrno>
#include <cstdio>
#include <fmt/format.h>
#include <sched.h>
#include <string>
#include <thread>

#include "core/placement.hpp"
#include "tests/net/client.hpp"
#include "tests/net/configs.hpp"
#include "tests/net/peers.hpp"
#include "tests/net/server.hpp"
#include "tests/net/temp_dir.hpp"
#include "tests/support/skip.hpp"

using gatio::tests::BlackHole;
using gatio::tests::free_port;
using gatio::tests::Peer;
using gatio::tests::Server;
using gatio::tests::Socket;
using gatio::tests::TempDir;

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

// One driver serving the coroutine handler, with echo listeners on TCP and on a unix socket as
// its upstreams; `keys` are more keys of the coroutine listener (before its options).
class WithUpstreams {
public:
    explicit WithUpstreams(const std::string& keys = "")
        : port_(free_port()), echo_port_(free_port()),
          server_(fmt::format(R"(
[daemon]
log_level = "warn"
[topology]
mode = "auto"
cpus = "0"
[[listener]]
name = "coro"
address = "127.0.0.1:{}"
handler = "{}"
max_connections = 64
{}
[listener.options]
coroutine_block_size = "16KiB" # the outbound commands' frames, with room for sanitizer builds
[[listener]]
name = "echo"
address = "127.0.0.1:{}"
handler = "echo"
[[listener]]
name = "uecho"
address = "unix:{}"
handler = "echo"
)",
                              port_, coro_so, keys, echo_port_, (dir_.path() / "echo.sock").string())) {}

    Socket client() const { return Socket::tcp(port_); }
    std::string echo() const { return fmt::format("127.0.0.1:{}", echo_port_); }
    std::string unix_echo() const { return "unix:" + (dir_.path() / "echo.sock").string(); }
    std::string nobody() const { return "unix:" + (dir_.path() / "nobody.sock").string(); }
    Server& server() { return server_; }

private:
    TempDir dir_;
    std::uint16_t port_;
    std::uint16_t echo_port_;
    Server server_;
};

// Whether the peer of `s` has closed the connection (EOF or reset) within 10 s.
bool peer_closed(const Socket& s) {
    char byte = 0;
    for (;;) {
        const ssize_t n = s.receive(&byte, 1, std::chrono::steady_clock::now() + std::chrono::seconds(10));
        if (n == 0 || (n < 0 && errno == ECONNRESET)) {
            return true;
        }
        if (n < 0) {
            return false;
        }
    }
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

namespace {

// FNV-1a, as the handler's "absorb" computes it.
std::uint64_t fnv(std::string_view bytes) {
    std::uint64_t hash = 14695981039346656037ull;
    for (const char c : bytes) {
        hash = (hash ^ static_cast<std::uint8_t>(c)) * 1099511628211ull;
    }
    return hash;
}

std::string pattern(std::size_t n, std::uint64_t seed) {
    std::string out(n, '\0');
    for (auto& c : out) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        c = static_cast<char>(seed);
    }
    return out;
}

} // namespace

TEST_CASE("a burst that arrives while the coroutine awaits something else is staged whole, none lost",
          "[coro]") {
    auto port = free_port();
    Server server(one_driver(port));
    Socket s = Socket::tcp(port);
    const std::string idle = ask(s, "stats");
    // The burst follows its command in the same send: it arrives while the coroutine sleeps, far
    // more than one 4 KiB block, and is read only when the sleep is over.
    // The largest stays below the default coroutine_staging_limit of 1 MiB even if every byte
    // behind the command were staged.
    for (const std::size_t size : {std::size_t{5000}, std::size_t{64} << 10, (std::size_t{1} << 20) - 64}) {
        INFO("burst of " << size << " bytes");
        const std::string burst = pattern(size, size);
        s.send_all(fmt::format("absorb 300 {}\n", size) + burst + "echo after\n");
        CHECK(s.recv_line() == fmt::format("absorbed {} {}", size, fnv(burst)));
        CHECK(s.recv_line() == "after");
    }
    // Nothing staged is left behind: the pool is back to what an idle connection holds.
    CHECK(stats_until(s, idle) == idle);
    // Pipelined commands behind a sleep, more of them than one block holds, answered in order.
    std::string lines;
    for (int i = 0; i < 2000; ++i) {
        lines += fmt::format("echo line{}\n", i);
    }
    s.send_all("sleep 200\n" + lines);
    CHECK(s.recv_line() == "slept");
    for (int i = 0; i < 2000; ++i) {
        REQUIRE(s.recv_line() == fmt::format("line{}", i));
    }
    CHECK(stats_until(s, idle) == idle);
}

TEST_CASE("a coroutine answering staged lines through nested tasks that finish at once keeps its stack",
          "[coro]") {
    auto port = free_port();
    Server server(one_driver(port));
    Socket s = Socket::tcp(port);
    // Each line is answered by a task (command) that finishes without suspending; were each
    // finish a call into the awaiting coroutine, 40,000 of them would nest that deep and
    // overflow the driver's stack.
    constexpr int count = 40000;
    std::string lines;
    for (int i = 0; i < count; ++i) {
        lines += fmt::format("echo {}\n", i);
    }
    REQUIRE(lines.size() < (std::size_t{1} << 20)); // within the default coroutine_staging_limit
    std::string want;
    for (int i = 0; i < count; ++i) {
        want += fmt::format("{}\n", i);
    }
    std::thread writer([&] { s.send_all("sleep 200\n" + lines); });
    CHECK(s.recv_line() == "slept");
    std::string got;
    while (got.size() < want.size()) {
        const std::string line = s.recv_line();
        got += line;
        got += '\n';
    }
    writer.join();
    CHECK((got == want));
    CHECK(ask(s, "echo still") == "still");
}

TEST_CASE("input staged beyond coroutine_staging_limit, or a message longer than a block, resets only its "
          "connection",
          "[coro]") {
    const std::string line = "sleep 100\necho " + std::string(6000, 'x') + "\n";
    {
        auto port = free_port();
        Server server(one_driver(port, "coroutine_staging_limit = \"4KiB\"\n"));
        Socket other = Socket::tcp(port);
        CHECK(ask(other, "echo other") == "other");
        // One receive buffer (16 KiB) behind the command is more than the limit lets it stage.
        Socket s = Socket::tcp(port);
        s.send_all("absorb 100 65536\n" + pattern(65536, 1));
        CHECK(peer_closed(s));
        CHECK(ask(other, "echo still") == "still");
    }
    {
        auto port = free_port();
        Server server(one_driver(port));
        Socket other = Socket::tcp(port);
        CHECK(ask(other, "echo other") == "other");
        // A line longer than one 4 KiB block, staged behind a sleep: shown a block at a time,
        // never whole. (The reset may overtake the answer to the sleep.)
        Socket s = Socket::tcp(port);
        s.send_all(line);
        CHECK(peer_closed(s));
        CHECK(ask(other, "echo still") == "still");
    }
    // With blocks large enough, the same line is answered.
    auto port = free_port();
    Server server(one_driver(port, "coroutine_block_size = \"8KiB\"\n"));
    Socket s = Socket::tcp(port);
    s.send_all(line);
    CHECK(s.recv_line() == "slept");
    CHECK(s.recv_line() == std::string(6000, 'x'));
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

TEST_CASE("a coroutine connects out over TCP and a unix socket and talks through its Upstream",
          "[coro][connect]") {
    WithUpstreams gatiod;
    Socket s = gatiod.client();
    const std::string idle = ask(s, "stats");
    for (const std::string& upstream : {gatiod.echo(), gatiod.unix_echo()}) {
        INFO(upstream);
        CHECK(ask(s, "dial " + upstream) == "dialed");
        CHECK(ask(s, "up hello") == "up line hello");
        CHECK(ask(s, "up again") == "up line again");
        CHECK(ask(s, "upstate") == "upstate open");
        CHECK(ask(s, "drop") == "dropped");
        CHECK(ask(s, "upstate") == "upstate none");
    }
    // The outbound Streams are back in the pool once their connections have closed.
    CHECK(stats_until(s, idle) == idle);

    // Output the upstream peer takes only as it reads: drained() waits for it.
    Peer peer;
    CHECK(ask(s, "dial " + peer.address()) == "dialed");
    Socket up = peer.accept();
    s.send_all("upburst 4194304\n");
    CHECK(up.recv_exact(4194304) == std::string(4194304, 'y'));
    CHECK(s.recv_line() == "upburst 0");
    // What the peer sends before its FIN is all delivered, then the end of input; the
    // connection stays open for writing.
    up.send_all("before the end");
    REQUIRE(::shutdown(up.fd(), SHUT_WR) == 0);
    CHECK(ask(s, "upall") == "upall before the end eof");
    CHECK(ask(s, "upall") == "upall  eof");
    CHECK(ask(s, "upstate") == "upstate open");
    CHECK(ask(s, "drop") == "dropped");
    CHECK(peer_closed(up));
    CHECK(stats_until(s, idle) == idle);
}

TEST_CASE("connect outcomes reach the coroutine: refused, timed out, no socket, bad address, the limit",
          "[coro][connect]") {
    WithUpstreams gatiod("max_outbound = 1");
    Socket s = gatiod.client();
    const std::string idle = ask(s, "stats");
    CHECK(ask(s, fmt::format("dial 127.0.0.1:{}", free_port())) ==
          fmt::format("dial failed 0 {}", ECONNREFUSED));
    CHECK(ask(s, "dial " + gatiod.nobody()) == fmt::format("dial failed 0 {}", ENOENT));
    const std::string invalid = fmt::format("dial failed {} 0", static_cast<int>(GATIO_ERR_INVALID));
    CHECK(ask(s, "dial 256.1.1.1:80") == invalid);
    CHECK(ask(s, "dial localhost:80") == invalid); // numeric only
    CHECK(ask(s, "dial 127.0.0.1:0") == invalid);
    CHECK(ask(s, "dial unix:") == invalid);
    {
        BlackHole hole;
        CHECK(ask(s, "dial " + hole.peer.address() + " 200") == fmt::format("dial failed 0 {}", ETIMEDOUT));
    }
    CHECK(ask(s, "upstate") == "upstate none");
    // max_outbound = 1: a second connection while the first is held is refused at once, and
    // possible again once the first is let go of.
    CHECK(ask(s, "dial " + gatiod.echo()) == "dialed");
    CHECK(ask(s, "dial " + gatiod.echo()) ==
          fmt::format("dial failed {} 0", static_cast<int>(GATIO_ERR_LIMIT)));
    CHECK(ask(s, "upstate") == "upstate none"); // the failed result replaced the held one
    REQUIRE(stats_until(s, idle) == idle);      // its connection has closed
    CHECK(ask(s, "dial " + gatiod.echo()) == "dialed");
    CHECK(ask(s, "up still") == "up line still");
    CHECK(ask(s, "drop") == "dropped");
    CHECK(stats_until(s, idle) == idle);
    // Awaiting an Upstream that never connected is a fault of the handler: only that
    // connection is reset.
    {
        Socket other = gatiod.client();
        other.send_all("up nowhere\n");
        std::string rest;
        other.recv_until_eof(rest);
        CHECK(rest.empty());
    }
    CHECK(ask(s, "echo alive") == "alive");
}

TEST_CASE("an upstream that goes away mid-read ends the read, not the coroutine", "[coro][connect]") {
    WithUpstreams gatiod;
    Socket s = gatiod.client();
    const std::string idle = ask(s, "stats");
    Peer peer;
    for (const bool reset : {true, false}) {
        INFO("reset: " << reset);
        CHECK(ask(s, "dial " + peer.address()) == "dialed");
        Socket up = peer.accept();
        s.send_all("up question\n");
        CHECK(up.recv_exact(9) == "question\n");
        if (reset) {
            linger l{1, 0};
            REQUIRE(::setsockopt(up.fd(), SOL_SOCKET, SO_LINGER, &l, sizeof l) == 0);
            up.close();
            CHECK(s.recv_line() == "up closed");
            CHECK(ask(s, "upstate") == "upstate closed");
            // Awaits on it answer at once, without throwing.
            CHECK(ask(s, "up again") == "up closed");
            CHECK(ask(s, "upburst 10") == fmt::format("upburst {}", static_cast<int>(GATIO_ERR_CLOSED)));
        } else {
            REQUIRE(::shutdown(up.fd(), SHUT_WR) == 0);
            CHECK(s.recv_line() == "up eof");
            CHECK(ask(s, "up again") == "up eof");
        }
        CHECK(ask(s, "drop") == "dropped");
    }
    CHECK(stats_until(s, idle) == idle);
}

TEST_CASE("a client leaving mid connect-await or mid upstream-read cancels the await and frees everything",
          "[coro][connect][cancel]") {
    WithUpstreams gatiod;
    Socket watcher = gatiod.client();
    int live = 0, cancelled = 0, idle = 0;
    REQUIRE(std::sscanf(ask(watcher, "stats").c_str(), "stats %d %d %d", &live, &cancelled, &idle) == 3);
    REQUIRE(live == 1);
    BlackHole hole;
    Peer peer;
    for (const char* what : {"connect", "up", "idle"}) {
        INFO(what);
        Socket up;
        {
            Socket c = gatiod.client();
            if (std::string_view(what) == "connect") {
                CHECK(ask(c, "hold connect " + hole.peer.address()) == "holding");
            } else {
                CHECK(ask(c, "dial " + peer.address()) == "dialed");
                up = peer.accept();
                if (std::string_view(what) == "up") {
                    CHECK(ask(c, "hold up") == "holding");
                }
            }
            linger l{1, 0}; // the client vanishes
            REQUIRE(::setsockopt(c.fd(), SOL_SOCKET, SO_LINGER, &l, sizeof l) == 0);
        }
        if (std::string_view(what) != "idle") {
            ++cancelled;
        }
        if (up.valid()) {
            CHECK(peer_closed(up)); // the outbound connection went with its client
        }
        // The pending connect is cancelled at once (a 60 s timeout would keep its block).
        const std::string want = fmt::format("stats 1 {} {}", cancelled, idle);
        CHECK(stats_until(watcher, want) == want);
    }
    CHECK(ask(watcher, "echo still") == "still");
}
