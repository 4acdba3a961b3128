// The coroutine example examples/coro-lookup, as a user gets it: built with find_package(Gatio)
// against a DESTDIR install of this tree, then served by the installed gatiod in front of a
// real redis-server (over TCP and over its unix socket) and in front of gatiod's own resp
// listener, to line clients: values, a missing key, a backend error, a large value, many
// clients at once, and the backend going away and coming back.
#include <catch2/catch.hpp>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fmt/format.h>
#include <memory>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <vector>

#include "harness.hpp"
#include "sdk.hpp"
#include "tests/support/skip.hpp"

namespace fs = std::filesystem;
using namespace gatio::service_test;
using Socket = ::gatio::test::Socket;

namespace {

const std::string sbindir = GATIO_INSTALL_SBINDIR;
const std::string plugindir = std::string(GATIO_INSTALL_LIBDIR) + "/gatio/plugins";

// A multibulk command.
std::string command(const std::vector<std::string>& args) {
    std::string out = fmt::format("*{}\r\n", args.size());
    for (const auto& a : args) {
        out += fmt::format("${}\r\n{}\r\n", a.size(), a);
    }
    return out;
}

// Sends the commands in one write to a Redis-protocol server and returns the first line of
// each reply (these commands have one-line replies).
std::vector<std::string> resp(std::uint16_t port, const std::vector<std::vector<std::string>>& commands) {
    Socket s = Socket::tcp(port, std::chrono::seconds(30));
    std::string all;
    for (const auto& c : commands) {
        all += command(c);
    }
    s.send_all(all);
    std::vector<std::string> replies;
    for (std::size_t i = 0; i < commands.size(); ++i) {
        std::string line = s.recv_line();
        if (!line.empty() && line.back() == '\r') {
            line.pop_back();
        }
        replies.push_back(line);
    }
    return replies;
}

// Waits until something accepts connections on `port` (bounded): true when it does.
bool accepting(std::uint16_t port, const Child& owner) {
    for (int i = 0; i < 3000 && owner.running(); ++i) {
        if (Socket::try_tcp(port, std::chrono::seconds(1)).valid()) {
            return true;
        }
        std::this_thread::sleep_for(10ms);
    }
    return false;
}

// redis-server without persistence on a loopback port and a unix socket.
class Redis {
public:
    Redis(const std::string& program, const fs::path& dir, std::uint16_t port) {
        child_ = std::make_unique<Child>(
            std::vector<std::string>{program, "--port", std::to_string(port), "--bind", "127.0.0.1", "--save",
                                     "", "--appendonly", "no", "--dir", dir.string(), "--unixsocket",
                                     (dir / "redis.sock").string(), "--unixsocketperm", "700"},
            clean_env());
        INFO(child_->output());
        REQUIRE(accepting(port, *child_));
    }
    int stop() { return child_->stop(20s); }

private:
    std::unique_ptr<Child> child_;
};

std::string ask(const Socket& s, const std::string& line) {
    s.send_all(line + "\n");
    return s.recv_line();
}

} // namespace

TEST_CASE("the coroutine lookup example, built against a DESTDIR install, answers from Redis-protocol "
          "backends through outbound connections",
          "[service][install][sdk][coro]") {
    const std::string redis_server = ::gatio::test::find_program("redis-server");
    if (redis_server.empty()) {
        GATIO_SKIP("redis-server not found (Debian package redis-server)");
    }
    Installed inst;
    const fs::path plugin = build_example(inst, "coro-lookup", "lookup",
                                          {"-DCMAKE_PREFIX_PATH=" + inst.at(GATIO_INSTALL_PREFIX).string()});

    const fs::path redis_dir = inst.dir().path() / "redis";
    fs::create_directories(redis_dir);
    const auto redis_port = static_cast<std::uint16_t>(free_port());
    auto redis = std::make_unique<Redis>(redis_server, redis_dir, redis_port);
    const std::string big(200 * 1024, 'b');
    std::vector<std::vector<std::string>> seed{{"SET", "alpha", "one"},
                                               {"SET", "multi", "line1\nline2\\end"},
                                               {"SET", "big", big},
                                               {"RPUSH", "alist", "x"}};
    for (int i = 0; i < 100; ++i) {
        seed.push_back({"SET", fmt::format("k{}", i), fmt::format("v{}", i)});
    }
    const std::vector<std::string> seeded = resp(redis_port, seed);
    CHECK(seeded[0] == "+OK");
    CHECK(seeded[3] == ":1");

    // Three lookup listeners: redis over TCP, redis over its unix socket, and gatiod's own resp
    // listener. Blocks of 32 KiB hold a whole receive buffer of pipelined requests.
    const int port = free_port(), unix_port = free_port(), own_port = free_port(), kv_port = free_port();
    const std::string limits = "max_connections = 1024\nmax_outbound = 512\n";
    const std::string pool = "coroutine_block_size = \"32KiB\"\ncoroutine_blocks = 2048\n";
    const std::string listeners =
        tcp_listener("lookup", port, plugin.string(),
                     limits + fmt::format("[listener.options]\nbackend = \"127.0.0.1:{}\"\n", redis_port) +
                         pool) +
        tcp_listener("lookup-unix", unix_port, plugin.string(),
                     limits +
                         fmt::format("[listener.options]\nbackend = \"unix:{}\"\n",
                                     (redis_dir / "redis.sock").string()) +
                         pool) +
        tcp_listener("lookup-own", own_port, plugin.string(),
                     limits + fmt::format("[listener.options]\nbackend = \"127.0.0.1:{}\"\n", kv_port) +
                         pool) +
        tcp_listener("kv", kv_port, "resp");
    const auto file = inst.dir().write("lookup.toml", config_text("", listeners));
    Child gatiod({inst.at(sbindir + "/gatiod").string(), "-c", file.string(), "--plugin-dir",
                  inst.at(plugindir).string()},
                 clean_env());
    REQUIRE(gatiod.wait_for_output(" running; SIGTERM or SIGINT stops it", 60s));
    INFO(gatiod.output());

    { // values, a missing key, a backend error, escapes, a large value, pipelined requests
        for (const int p : {port, unix_port}) {
            INFO("port " << p);
            Socket c = Socket::tcp(static_cast<std::uint16_t>(p), std::chrono::seconds(30));
            CHECK(ask(c, "alpha") == "ok one");
            CHECK(ask(c, "nothing here") == "missing");
            CHECK(ask(c, "multi\r") == "ok line1\\nline2\\\\end");
            CHECK(ask(c, "alist") ==
                  "error backend: WRONGTYPE Operation against a key holding the wrong kind of value");
            CHECK(ask(c, "") == "error empty key");
            c.send_all("big\n");
            CHECK(c.recv_exact(3 + big.size() + 1) == "ok " + big + "\n");
            c.send_all("k1\nnope\nk2\n");
            CHECK(c.recv_line() == "ok v1");
            CHECK(c.recv_line() == "missing");
            CHECK(c.recv_line() == "ok v2");
        }
        { // the last requests followed by the client's FIN: answered, then closed
            Socket c = Socket::tcp(static_cast<std::uint16_t>(port), std::chrono::seconds(30));
            c.send_all("k3\nabsent\n");
            REQUIRE(::shutdown(c.fd(), SHUT_WR) == 0);
            std::string rest;
            CHECK(c.recv_until_eof(rest));
            CHECK(rest == "ok v3\nmissing\n");
        }
        // gatiod's own resp listener as the backend.
        CHECK(resp(static_cast<std::uint16_t>(kv_port), {{"SET", "own", "kept by gatiod"}})[0] == "+OK");
        Socket c = Socket::tcp(static_cast<std::uint16_t>(own_port), std::chrono::seconds(30));
        CHECK(ask(c, "own") == "ok kept by gatiod");
        CHECK(ask(c, "alpha") == "missing");
        // A request line beyond max_line (1 KiB) is refused and the connection closed.
        c.send_all(std::string(2000, 'x') + "\n");
        CHECK(c.recv_line() == "error request line longer than 1024 bytes");
        std::string rest;
        CHECK(c.recv_until_eof(rest));
        CHECK(rest.empty());
    }

    { // many clients at once, each with its own backend connection and pipelined requests
        constexpr int clients = 200, requests = 20;
        std::vector<Socket> many;
        for (int i = 0; i < clients; ++i) {
            many.push_back(Socket::tcp(static_cast<std::uint16_t>(i % 2 == 0 ? port : unix_port),
                                       std::chrono::seconds(30)));
            std::string lines;
            for (int j = 0; j < requests; ++j) {
                lines += j == requests - 1 ? fmt::format("absent{}\n", i)
                                           : fmt::format("k{}\n", (i * 7 + j) % 100);
            }
            many.back().send_all(lines);
        }
        int right = 0;
        for (int i = 0; i < clients; ++i) {
            for (int j = 0; j < requests; ++j) {
                const std::string want =
                    j == requests - 1 ? "missing" : fmt::format("ok v{}", (i * 7 + j) % 100);
                right += many[static_cast<std::size_t>(i)].recv_line() == want ? 1 : 0;
            }
        }
        CHECK(right == clients * requests);
    }

    { // the backend going away gets a clear answer, and coming back is found again
        Socket c = Socket::tcp(static_cast<std::uint16_t>(port), std::chrono::seconds(30));
        Socket u = Socket::tcp(static_cast<std::uint16_t>(unix_port), std::chrono::seconds(30));
        CHECK(ask(c, "alpha") == "ok one"); // both hold a backend connection now
        CHECK(ask(u, "alpha") == "ok one");
        CHECK(redis->stop() == 0);
        // The kept connection is found closed, a fresh one is refused.
        CHECK(ask(c, "alpha") == "error backend unavailable: Connection refused");
        CHECK(ask(u, "alpha").starts_with("error backend unavailable: "));
        Socket fresh = Socket::tcp(static_cast<std::uint16_t>(port), std::chrono::seconds(30));
        CHECK(ask(fresh, "alpha") == "error backend unavailable: Connection refused");
        // Back (empty: no persistence), and the same client connection finds it.
        redis = std::make_unique<Redis>(redis_server, redis_dir, redis_port);
        CHECK(ask(c, "alpha") == "missing");
        CHECK(resp(redis_port, {{"SET", "alpha", "again"}})[0] == "+OK");
        CHECK(ask(c, "alpha") == "ok again");
        CHECK(ask(u, "alpha") == "ok again");
    }

    CHECK(gatiod.running());
    gatiod.read_available();
    CHECK(gatiod.output().find("coroutine") == std::string::npos); // no fault, no refused block
    gatiod.signal(SIGTERM);
    CHECK(gatiod.wait(60s) == 0);
}
