// End to end: gatiod started as a process on a generated configuration, the echo plugin loaded
// through the loader, real clients on loopback. Counters are read from the summary each driver
// logs as it stops.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <fcntl.h>
#include <fmt/format.h>
#include <fstream>
#include <map>
#include <poll.h>
#include <random>
#include <sched.h>
#include <set>
#include <sstream>
#include <string>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <thread>
#include <vector>

#include "gatio/plugin.h"
#include "tests/net/client.hpp"
#include "tests/net/process.hpp"
#include "tests/net/temp_dir.hpp"
#include "tests/support/gatiod.hpp"
#include "tests/support/rss_scale.hpp"
#include "tests/support/skip.hpp"

using gatio::tests::free_port;
using gatio::tests::Process;
using gatio::tests::Socket;
using gatio::tests::TempDir;

namespace {

namespace fs = std::filesystem;

const fs::path plugin_dir{GATIO_PLUGIN_OUTPUT_DIR};
const fs::path test_plugins{GATIO_TEST_PLUGIN_DIR};

std::string config_text(std::uint16_t port, const std::string& transport, const std::string& handler,
                        const std::string& listener_keys, const std::string& topology_keys) {
    return fmt::format(R"([daemon]
log_level = "info"
shutdown_grace = "3s"
[topology]
mode = "auto"
{}
[[listener]]
name = "e2e"
transport = "{}"
address = "127.0.0.1:{}"
handler = "{}"
{}
)",
                       topology_keys, transport, port, handler, listener_keys);
}

// Per driver, the counters of its stop summary ("driver cpu0: network counters: accepted=3 ...").
using Counters = std::map<std::string, std::map<std::string, std::uint64_t>>;

Counters parse_counters(const std::string& log) {
    Counters out;
    const std::string marker = ": network counters:";
    std::istringstream in(log);
    std::string line;
    while (std::getline(in, line)) {
        auto at = line.find(marker);
        auto name = line.rfind("driver ", at);
        if (at == std::string::npos || name == std::string::npos) {
            continue;
        }
        auto& driver = out[line.substr(name + 7, at - name - 7)];
        std::istringstream fields(line.substr(at + marker.size()));
        std::string field;
        while (fields >> field) {
            auto eq = field.find('=');
            if (eq != std::string::npos) {
                driver[field.substr(0, eq)] = std::stoull(field.substr(eq + 1));
            }
        }
    }
    return out;
}

std::uint64_t total(const Counters& c, const std::string& name) {
    std::uint64_t sum = 0;
    for (const auto& [driver, values] : c) {
        auto it = values.find(name);
        sum += it == values.end() ? 0 : it->second;
    }
    return sum;
}

class Gatiod {
public:
    Gatiod(const std::string& transport = "tcp", const std::string& listener_keys = "",
           const std::string& topology_keys = "", const std::string& handler = "echo")
        : port_(free_port(transport == "tcp" ? SOCK_STREAM : SOCK_DGRAM)) {
        auto file =
            dir_.write("gatio.toml", config_text(port_, transport, handler, listener_keys, topology_keys));
        process_ = std::make_unique<Process>(gatio::test::gatiod_argv(file), dir_.path() / "gatiod.log");
        gatio::test::wait_running(*process_);
    }

    std::uint16_t port() const { return port_; }
    pid_t pid() const { return process_->pid(); }
    bool running() { return process_->running(); }
    std::string log() const { return process_->log(); }

    // SIGTERM; checks the clean exit and returns the drivers' counters.
    Counters stop() {
        int code = process_->stop();
        INFO(process_->log());
        CHECK(code == 0);
        return parse_counters(process_->log());
    }

private:
    TempDir dir_;
    std::uint16_t port_;
    std::unique_ptr<Process> process_;
};

std::uint64_t fnv1a(std::uint64_t h, const char* p, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
        h = (h ^ static_cast<unsigned char>(p[i])) * 0x100000001b3ull;
    }
    return h;
}

std::string random_bytes(std::size_t n, std::mt19937_64& rng) {
    std::string s(n, '\0');
    for (auto& c : s) {
        c = static_cast<char>(rng());
    }
    return s;
}

using gatio::test::rss_scale;

} // namespace

TEST_CASE("gatiod echoes 1,000 concurrent connections of 1 B to 1 MiB intact", "[gatiod]") {
    Gatiod server("tcp", "max_connections = 2048");
    constexpr std::size_t n = 1000;
    std::mt19937_64 rng(10);
    const std::string pattern = random_bytes((1 << 20) + 4096, rng);

    struct Conn {
        Socket s;
        std::size_t size = 0, offset = 0, sent = 0, received = 0;
        std::uint64_t sent_sum = 0xcbf29ce484222325ull, received_sum = 0xcbf29ce484222325ull;
    };
    std::vector<Conn> conns(n);
    std::uniform_real_distribution<double> log_size(0.0, std::log(1024.0 * 1024.0));
    std::uint64_t expected_bytes = 0;
    for (std::size_t i = 0; i < n; ++i) {
        // Log-uniform sizes: every order of magnitude, including both ends exactly.
        conns[i].size = i == 0 ? 1 : i == 1 ? (1u << 20) : static_cast<std::size_t>(std::exp(log_size(rng)));
        conns[i].offset = rng() % 4096;
        conns[i].sent_sum = fnv1a(conns[i].sent_sum, pattern.data() + conns[i].offset, conns[i].size);
        expected_bytes += conns[i].size;
        conns[i].s = Socket::tcp(server.port());
        REQUIRE(::fcntl(conns[i].s.fd(), F_SETFL, O_NONBLOCK) == 0);
    }

    int ep = ::epoll_create1(0);
    REQUIRE(ep >= 0);
    for (std::size_t i = 0; i < n; ++i) {
        epoll_event ev{EPOLLIN | EPOLLOUT | EPOLLET, {}};
        ev.data.u64 = i;
        REQUIRE(::epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].s.fd(), &ev) == 0);
    }
    std::size_t done = 0;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
    std::vector<char> buf(1 << 16);
    epoll_event events[256];
    while (done < n && std::chrono::steady_clock::now() < deadline) {
        int k = ::epoll_wait(ep, events, 256, 100);
        for (int e = 0; e < k; ++e) {
            Conn& c = conns[events[e].data.u64];
            while (c.sent < c.size) {
                ssize_t w =
                    ::send(c.s.fd(), pattern.data() + c.offset + c.sent, c.size - c.sent, MSG_NOSIGNAL);
                if (w <= 0) {
                    break;
                }
                c.sent += static_cast<std::size_t>(w);
            }
            for (;;) {
                ssize_t r = ::recv(c.s.fd(), buf.data(), buf.size(), 0);
                if (r <= 0) {
                    REQUIRE((r < 0 && errno == EAGAIN));
                    break;
                }
                c.received_sum = fnv1a(c.received_sum, buf.data(), static_cast<std::size_t>(r));
                c.received += static_cast<std::size_t>(r);
                REQUIRE(c.received <= c.size);
                if (c.received == c.size) {
                    ++done;
                }
            }
        }
    }
    ::close(ep);
    REQUIRE(done == n);
    for (std::size_t i = 0; i < n; ++i) {
        INFO("connection " << i << " of " << conns[i].size << " bytes");
        CHECK(conns[i].received_sum == conns[i].sent_sum);
    }
    conns.clear();
    auto c = server.stop();
    CHECK(total(c, "accepted") == n);
    CHECK(total(c, "bytes_received") == expected_bytes);
    CHECK(total(c, "bytes_sent") == expected_bytes);
}

TEST_CASE("gatiod answers pipelined small messages in order", "[gatiod]") {
    Gatiod server;
    Socket s = Socket::tcp(server.port());
    std::string all;
    for (int i = 0; i < 50'000; ++i) {
        all += fmt::format("{:07}|", i);
    }
    bool written = true;
    std::thread writer([&] {
        for (std::size_t off = 0; off < all.size() && written; off += 64) {
            written = s.try_send_all(all.data() + off, std::min<std::size_t>(64, all.size() - off));
        }
    });
    CHECK(s.recv_exact(all.size()) == all);
    writer.join();
    CHECK(written);
    s.close();
    server.stop();
}

TEST_CASE("gatiod answers 10,000 datagrams, each to its sender", "[gatiod]") {
    Gatiod server("udp");
    constexpr int clients = 10, per_client = 1000, window = 25;
    std::vector<Socket> sockets;
    for (int i = 0; i < clients; ++i) {
        sockets.push_back(Socket::udp());
    }
    auto to = gatio::tests::loopback(server.port());
    std::size_t matched = 0;
    for (int round = 0; round < per_client / window; ++round) {
        std::vector<std::set<std::string>> expected(clients);
        for (int c = 0; c < clients; ++c) {
            for (int k = 0; k < window; ++k) {
                auto payload = fmt::format("sender {} datagram {}", c, round * window + k);
                REQUIRE(::sendto(sockets[static_cast<std::size_t>(c)].fd(), payload.data(), payload.size(), 0,
                                 reinterpret_cast<sockaddr*>(&to),
                                 sizeof to) == static_cast<ssize_t>(payload.size()));
                expected[static_cast<std::size_t>(c)].insert(payload);
            }
        }
        for (int c = 0; c < clients; ++c) {
            for (int k = 0; k < window; ++k) {
                std::string got = sockets[static_cast<std::size_t>(c)].recv_datagram();
                INFO("sender " << c << " got \"" << got << "\"");
                CHECK(expected[static_cast<std::size_t>(c)].erase(got) == 1);
                ++matched;
            }
        }
    }
    CHECK(matched == clients * per_client);
    auto c = server.stop();
    CHECK(total(c, "datagrams_received") == clients * per_client);
    CHECK(total(c, "datagrams_sent") == clients * per_client);
}

TEST_CASE("gatiod spreads a listener's connections over both of its drivers", "[gatiod]") {
    if (std::thread::hardware_concurrency() < 2) {
        GATIO_SKIP("one CPU: a single driver");
    }
    Gatiod server;
    for (int i = 0; i < 64; ++i) {
        Socket s = Socket::tcp(server.port());
        s.send_all("p");
        REQUIRE(s.recv_exact(1) == "p");
    }
    auto c = server.stop();
    REQUIRE(c.size() >= 2);
    for (const auto& [driver, values] : c) {
        INFO("driver " << driver);
        CHECK(values.count("accepted") == 1); // summaries leave out counters that stayed zero
    }
}

TEST_CASE("gatiod with a two-buffer ring echoes every byte to many clients", "[gatiod]") {
    Gatiod server("tcp", "", "buffer_count = 2\nbuffer_size = 512");
    std::mt19937_64 rng(11);
    std::vector<Socket> clients;
    std::vector<std::string> sent;
    for (int i = 0; i < 48; ++i) {
        clients.push_back(Socket::tcp(server.port()));
        sent.push_back(random_bytes(32768 + rng() % 32768, rng));
    }
    std::vector<std::thread> writers;
    std::vector<char> written(clients.size(), 0); // not vector<bool>: one byte per writer thread
    for (std::size_t i = 0; i < clients.size(); ++i) {
        writers.emplace_back([&, i] { written[i] = clients[i].try_send_all(sent[i]); });
    }
    for (std::size_t i = 0; i < clients.size(); ++i) {
        CHECK(clients[i].recv_exact(sent[i].size()) == sent[i]);
    }
    for (auto& w : writers) {
        w.join();
    }
    CHECK(std::count(written.begin(), written.end(), 1) == static_cast<std::ptrdiff_t>(clients.size()));
    clients.clear();
    auto c = server.stop();
    CHECK(total(c, "recv_enobufs") > 0);
    CHECK(total(c, "recv_rearms") >= total(c, "recv_enobufs"));
}

TEST_CASE("gatiod holds a client that never reads at the watermark, then resumes", "[gatiod]") {
    Gatiod server("tcp", "send_high_watermark = \"64KiB\"\nsend_low_watermark = \"16KiB\"");
    Socket s = Socket::tcp(server.port());
    s.send_all("warm");
    REQUIRE(s.recv_exact(4) == "warm");
    const std::uint64_t rss_before = gatio::test::status_kib(server.pid(), "VmRSS:");
    std::mt19937_64 rng(12);
    const std::string pattern = random_bytes(1 << 20, rng);
    const std::size_t attempt = 256u << 20;
    const std::size_t written = s.send_until_stalled(pattern, attempt);
    const std::uint64_t rss_blocked = gatio::test::status_kib(server.pid(), "VmRSS:");
    INFO("written " << written << " bytes; gatiod RSS " << rss_before << " KiB -> " << rss_blocked << " KiB");
    CHECK(written < attempt);
    CHECK(rss_blocked < rss_before + rss_scale * 16 * 1024);

    std::string back = s.recv_exact(written);
    bool same = true;
    for (std::size_t off = 0; off < written && same; off += pattern.size()) {
        std::size_t n = std::min(pattern.size(), written - off);
        same = back.compare(off, n, pattern, 0, n) == 0;
    }
    CHECK(same);
    s.send_all("after");
    CHECK(s.recv_exact(5) == "after");
    s.close();
    auto c = server.stop();
    CHECK(total(c, "read_pauses") >= 1);
}

namespace {

// A client that sends and never reads, with small kernel buffers of its own so that what gatiod
// cannot send piles up in gatiod rather than in the client's socket.
Socket non_reader(std::uint16_t port) {
    Socket s{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    REQUIRE(s.fd() >= 0);
    int small = 4096;
    ::setsockopt(s.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    ::setsockopt(s.fd(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    auto a = gatio::tests::loopback(port);
    REQUIRE(::connect(s.fd(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::fcntl(s.fd(), F_SETFL, O_NONBLOCK) == 0);
    return s;
}

// Writes to every non-reader until gatiod takes no more from any of them for 300 ms. Those
// gatiod resets (over their own send_buffer_limit) are closed and counted.
std::size_t fill(std::vector<Socket>& clients, const std::string& pattern) {
    std::size_t reset = 0;
    for (;;) {
        bool progress = false;
        for (auto& s : clients) {
            while (s.fd() >= 0) {
                ssize_t w = ::send(s.fd(), pattern.data(), pattern.size(), MSG_NOSIGNAL);
                if (w > 0) {
                    progress = true;
                } else {
                    if (errno != EAGAIN) {
                        s.close();
                        ++reset;
                    }
                    break;
                }
            }
        }
        if (progress) {
            continue;
        }
        std::vector<pollfd> polled;
        for (auto& s : clients) {
            if (s.fd() >= 0) {
                polled.push_back({s.fd(), POLLOUT, 0});
            }
        }
        if (polled.empty() || ::poll(polled.data(), polled.size(), 300) == 0) {
            return reset;
        }
    }
}

// A client that reads while it writes: its echo of `n` bytes comes back whole (recv_exact fails
// the test on a reset, an early EOF or 10 s without a byte).
void echo_while_reading(std::uint16_t port, std::size_t n, std::mt19937_64& rng) {
    Socket s = Socket::tcp(port);
    const std::string data = random_bytes(n, rng);
    // Catch2's assertions are for the test's thread only: the writer reports, the test checks.
    bool sent = false;
    std::thread writer([&] { sent = s.try_send_all(data); });
    const std::string back = s.recv_exact(n);
    writer.join();
    CHECK(sent);
    CHECK(back == data);
}

// Per driver, the value of a /metrics gauge.
std::vector<std::uint64_t> gauge(const Gatiod& server, std::uint16_t admin_port, const std::string& name) {
    INFO(server.log());
    Socket s = Socket::tcp(admin_port);
    s.send_all("GET /metrics HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    std::string text;
    const bool eof = s.recv_until_eof(text);
    INFO("/metrics: " << text.size() << " bytes, errno " << errno);
    CHECK(eof);
    std::vector<std::uint64_t> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(name + "{", 0) == 0) {
            out.push_back(std::stoull(line.substr(line.rfind(' ') + 1)));
        }
    }
    CHECK(!out.empty());
    return out;
}

// The most output memory a driver may hold: output_memory plus the floor for a ring of
// `buffers` buffers of 16 KiB, in 4 KiB chunks (net/driver_net.cpp).
std::uint64_t output_bound(std::uint64_t output_memory, std::uint64_t buffers) {
    return output_memory + (buffers * 16384 / 4096 + buffers) * 4096;
}

} // namespace

TEST_CASE("60 clients that never read leave a reading client's 1 MiB echo whole", "[gatiod][fairness]") {
    const std::uint16_t admin = free_port();
    Gatiod server("tcp",
                  "max_connections = 256\nsend_high_watermark = \"256KiB\"\nsend_low_watermark = \"64KiB\"\n"
                  "send_buffer_limit = \"512KiB\"",
                  fmt::format("buffer_count = 64\n[network]\noutput_memory = \"4MiB\"\n[admin]\nlisten = "
                              "\"127.0.0.1:{}\"",
                              admin));
    std::mt19937_64 rng(13);
    const std::string pattern = random_bytes(1 << 16, rng);
    std::vector<Socket> hogs;
    for (int i = 0; i < 60; ++i) {
        hogs.push_back(non_reader(server.port()));
    }
    const std::size_t hogs_reset = fill(hogs, pattern);
    const auto held = gauge(server, admin, "gatio_output_memory_bytes");
    for (std::uint64_t bytes : held) {
        INFO("a driver holds " << bytes << " bytes of output");
        CHECK(bytes <= output_bound(4u << 20, 64));
    }
    echo_while_reading(server.port(), 1 << 20, rng);
    hogs.clear();
    auto c = server.stop();
    INFO("non-readers reset over their own limit: " << hogs_reset);
    CHECK(total(c, "output_tight") >= 1);
    CHECK(total(c, "output_admissions_refused") == 0);
}

TEST_CASE("however many clients stop reading, a reading client is served (the default pool)",
          "[gatiod][fairness]") {
    // Steps of non-readers under the default limits, a reading client's 1 MiB echo after each.
    // The pool as it was (one free list of 32 MiB per driver, reads paused under pressure until
    // twice the reserve was free again) stalled the reading client from 64 non-readers on two
    // drivers: they held the pool, so the pause never ended.
    const std::uint16_t admin = free_port();
    Gatiod server("tcp", "max_connections = 1024", fmt::format("[admin]\nlisten = \"127.0.0.1:{}\"", admin));
    std::mt19937_64 rng(14);
    const std::string pattern = random_bytes(1 << 16, rng);
    std::vector<Socket> hogs;
    std::size_t hogs_reset = 0;
    for (std::size_t step : {16, 32, 48, 64, 96, 128, 192}) {
        while (hogs.size() < step) {
            hogs.push_back(non_reader(server.port()));
        }
        hogs_reset += fill(hogs, pattern);
        std::uint64_t most = 0;
        for (std::uint64_t bytes : gauge(server, admin, "gatio_output_memory_bytes")) {
            most = std::max(most, bytes);
        }
        INFO(step << " non-readers: a driver holds at most " << most << " bytes of output; " << hogs_reset
                  << " reset over their own limit");
        CHECK(most <= output_bound(32u << 20, 1024));
        echo_while_reading(server.port(), 1 << 20, rng);
    }
    hogs.clear();
    auto c = server.stop();
    for (const auto& [d, values] : c) {
        for (const auto& [k, v] : values) {
            UNSCOPED_INFO(d << " " << k << "=" << v);
        }
    }
    CHECK(total(c, "rejected") == 0);
    CHECK(total(c, "output_admissions_refused") == 0);
}

TEST_CASE("gatiod enforces max_connections, idle_timeout, resets and half-closes", "[gatiod]") {
    SECTION("max_connections") {
        Gatiod server("tcp", "max_connections = 3");
        std::vector<Socket> kept;
        for (int i = 0; i < 3; ++i) {
            kept.push_back(Socket::tcp(server.port()));
            kept.back().send_all("k");
            REQUIRE(kept.back().recv_exact(1) == "k");
        }
        for (int i = 0; i < 4; ++i) {
            Socket extra = Socket::tcp(server.port());
            std::string got;
            extra.recv_until_eof(got);
            CHECK(got.empty());
        }
        kept[2].send_all("still");
        CHECK(kept[2].recv_exact(5) == "still");
        kept.clear();
        auto c = server.stop();
        CHECK(total(c, "rejected") == 4);
        CHECK(total(c, "accepted") == 3);
        // For the burst (within 10 s) one record per driver at most, naming the listener and
        // the limit.
        const std::string log = server.log();
        const std::size_t records = gatio::test::occurrences(
            log, "a new connection was closed at once: the listener's max_connections are open");
        CHECK(records >= 1);
        CHECK(records <= std::thread::hardware_concurrency());
        CHECK(log.find("listener \"e2e\"") != std::string::npos);
    }
    SECTION("output reserves") {
        // Reserves take at most half of output_memory: 128 connections of 4 KiB in 1 MiB, on
        // one driver.
        cpu_set_t allowed;
        REQUIRE(::sched_getaffinity(0, sizeof allowed, &allowed) == 0);
        int cpu = 0;
        while (!CPU_ISSET(cpu, &allowed)) {
            ++cpu;
        }
        Gatiod server("tcp", "", fmt::format("cpus = \"{}\"\n[network]\noutput_memory = \"1MiB\"", cpu));
        std::vector<Socket> kept;
        std::size_t refused = 0;
        for (int i = 0; i < 135; ++i) {
            Socket s = Socket::tcp(server.port());
            s.send_all("r");
            char got = 0;
            const ssize_t n = s.receive(&got, 1, std::chrono::steady_clock::now() + std::chrono::seconds(10));
            if (n == 1 && got == 'r') {
                kept.push_back(std::move(s));
            } else {
                CHECK(n <= 0); // closed at once: EOF or a reset
                ++refused;
            }
        }
        CHECK(kept.size() == 128);
        CHECK(refused == 7);
        kept.clear();
        auto c = server.stop();
        CHECK(total(c, "output_admissions_refused") == 7);
        CHECK(gatio::test::occurrences(
                  server.log(),
                  "a new connection was closed at once: the driver's output reserves are taken") == 1);
    }
    SECTION("idle_timeout") {
        Gatiod server("tcp", "idle_timeout = \"300ms\"");
        Socket s = Socket::tcp(server.port());
        s.send_all("i");
        REQUIRE(s.recv_exact(1) == "i");
        std::string rest;
        CHECK(s.recv_until_eof(rest));
        CHECK(rest.empty());
        s.close();
        auto c = server.stop();
        CHECK(total(c, "idle_closes") == 1);
    }
    SECTION("reset mid-stream") {
        Gatiod server;
        Socket keeper = Socket::tcp(server.port());
        {
            Socket victim = Socket::tcp(server.port());
            victim.send_all(std::string(200'000, 'v'));
            victim.recv_exact(100);
            linger l{1, 0};
            REQUIRE(::setsockopt(victim.fd(), SOL_SOCKET, SO_LINGER, &l, sizeof l) == 0);
        }
        keeper.send_all("alive");
        CHECK(keeper.recv_exact(5) == "alive");
        keeper.close();
        auto c = server.stop();
        CHECK(total(c, "peer_resets") >= 1);
        CHECK(total(c, "closed") == 2);
    }
    SECTION("half-close") {
        Gatiod server;
        Socket s = Socket::tcp(server.port());
        std::mt19937_64 rng(13);
        std::string data = random_bytes(500'000, rng);
        s.send_all(data);
        REQUIRE(::shutdown(s.fd(), SHUT_WR) == 0);
        std::string back;
        CHECK(s.recv_until_eof(back));
        CHECK(back == data);
        s.close();
        server.stop();
    }
}

TEST_CASE("gatiod outlives a handler that throws, counting every fault and logging one record", "[gatiod]") {
    // One driver: every fault lands on the same listener and driver, within one loop turn.
    Gatiod server("tcp", "", "cpus = \"0\"", (test_plugins / "faults.so").string());
    Socket s = Socket::tcp(server.port());
    std::string burst;
    for (int i = 0; i < 50; ++i) {
        burst += "throw done\n";
    }
    s.send_all(burst + "ping\n");
    // The tasks' done callbacks run in the turn that received them, before the reply leaves.
    CHECK(s.recv_exact(5) == "pong\n");
    CHECK(server.running());
    auto counters = server.stop(); // exits 0; the log is complete afterwards
    CHECK(total(counters, "plugin_errors") == 50);
    const std::string log = server.log();
    std::size_t records = 0;
    for (auto at = log.find("a task's done threw: done fault"); at != std::string::npos;
         at = log.find("a task's done threw: done fault", at + 1)) {
        ++records;
    }
    INFO(log);
    CHECK(records == 1);
}

namespace {

fs::path copy_plugin(const TempDir& dir, const fs::path& from, const std::string& name, mode_t mode) {
    auto to = dir.path() / name;
    fs::copy_file(from, to, fs::copy_options::overwrite_existing);
    REQUIRE(::chmod(to.c_str(), mode) == 0);
    return to;
}

// gatiod started with `handler` exits with 78 and logs `cause`: after `plugin "<path>": `, or the
// whole message when it starts with "!".
void check_refused(const TempDir& dir, const fs::path& handler, const std::string& cause) {
    auto file = dir.write("gatio.toml", config_text(free_port(), "tcp", handler.string(), "", ""));
    Process p(gatio::test::gatiod_argv(file), dir.path() / "gatiod.log");
    int code = p.wait();
    INFO(p.log());
    CHECK(code == 78);
    auto expected = cause[0] == '!' ? cause.substr(1) : "plugin \"" + handler.string() + "\": " + cause;
    CHECK_THAT(p.log(), Catch::Contains(expected));
}

} // namespace

TEST_CASE("gatiod refuses each bad plugin with its message and exit code 78", "[gatiod]") {
    TempDir dir;
    struct Case {
        fs::path handler;
        std::string cause;
    };
    std::vector<Case> cases{
        // The configuration layer already requires the file to exist, and says so first.
        {dir.path() / "absent.so",
         "!listener \"e2e\": handler: no plugin file '" + (dir.path() / "absent.so").string() + "'"},
        {dir.write("text.so", "not ELF\n"), "not a shared object (no ELF header)"},
        {test_plugins / "no_entry.so", "entry point gatio_plugin_entry not found"},
        {test_plugins / "bad_major.so",
         fmt::format("ABI major version 2 is not supported (this gatiod speaks {}.{})", GATIO_ABI_MAJOR,
                     GATIO_ABI_MINOR)},
        {test_plugins / "small_descriptor.so", "descriptor is 16 bytes, at least 112 expected for ABI 1.0"},
        {test_plugins / "exec_stack.so",
         "requires an executable stack (PT_GNU_STACK is executable); refused"},
        {test_plugins / "init_fail.so",
         fmt::format("init failed: license file missing (host ABI {}.{})", GATIO_ABI_MAJOR, GATIO_ABI_MINOR)},
        {test_plugins / "huge_unconsumed.so",
         "descriptor field max_unconsumed is 4294967280, above the limit of 16777216"},
        {copy_plugin(dir, plugin_dir / "echo.so", "writable.so", 0664),
         "writable by group or others (mode 0664); refused"},
    };
    for (const auto& c : cases) {
        check_refused(dir, c.handler, c.cause);
    }
}

TEST_CASE("gatiod refuses a plugin owned by another user with exit code 78", "[gatiod]") {
    if (::geteuid() != 0) {
        GATIO_SKIP("not root: cannot give a plugin to another owner");
    }
    TempDir dir;
    auto owned = copy_plugin(dir, plugin_dir / "echo.so", "owned.so", 0755);
    REQUIRE(::chown(owned.c_str(), 4242, 4242) == 0);
    check_refused(dir, owned,
                  "owned by uid 4242, but only root or the daemon's user (uid 0) may own a plugin; refused");
}

namespace {

// The shape of gatio.toml.example: two drivers (one when the machine has one CPU), an echo TCP
// and an echo UDP listener, http and resp listeners and the admin endpoint, every limit at its
// default. Its listeners' max_connections add up to far more than a usual RLIMIT_NOFILE.
std::string example_like_config(std::uint16_t echo, std::uint16_t udp, std::uint16_t web, std::uint16_t kv,
                                std::uint16_t admin) {
    const bool two = std::thread::hardware_concurrency() >= 2;
    return fmt::format(R"([daemon]
log_level = "info"
shutdown_grace = "3s"
[admin]
listen = "127.0.0.1:{}"
[topology]
mode = "manual"
[[tpc]]
name = "node0"
numa_node = 0
[[tpc.driver]]
name = "d0"
cpu = 0
role = "io+exec"
{}
[[listener]]
name = "echo-tcp"
address = "127.0.0.1:{}"
handler = "echo"
drivers = ["d0"]
[[listener]]
name = "echo-udp"
transport = "udp"
address = "127.0.0.1:{}"
handler = "echo"
drivers = ["{}"]
[[listener]]
name = "web"
address = "127.0.0.1:{}"
handler = "http"
drivers = ["d0"]
[[listener.options.route]]
path = "/"
body = "Hello from Gatio\n"
[[listener]]
name = "kv"
address = "127.0.0.1:{}"
handler = "resp"
drivers = ["d0"]
)",
                       admin, two ? "[[tpc.driver]]\nname = \"d1\"\ncpu = 1\nrole = \"io\"" : "", echo, udp,
                       two ? "d1" : "d0", web, kv);
}

// The targets of docs/performance.md; the sanitizers' shadow memory and allocator metadata come
// on top of gatiod's own.
#if defined(__SANITIZE_THREAD__)
constexpr std::uint64_t start_rss_limit_kib = 96 * 1024;
constexpr std::uint64_t idle_connection_limit_bytes = rss_scale * 1024;
#elif defined(__SANITIZE_ADDRESS__)
constexpr std::uint64_t start_rss_limit_kib = 96 * 1024;
constexpr std::uint64_t idle_connection_limit_bytes = 2048;
#else
constexpr std::uint64_t start_rss_limit_kib = 32 * 1024;
constexpr std::uint64_t idle_connection_limit_bytes = 1024;
#endif

} // namespace

// Every listener's max_connections (and the http plugin's) is a ceiling: start-up commits none
// of it, an idle connection commits its own slots only, and limits the defaults exceed are no
// warning.
TEST_CASE("gatiod on the example's shape starts small and grows little per idle connection",
          "[gatiod][memory]") {
    const std::uint16_t echo = free_port(SOCK_STREAM);
    const std::uint16_t web = free_port(SOCK_STREAM);
    TempDir dir;
    auto file = dir.write("gatio.toml", example_like_config(echo, free_port(SOCK_DGRAM), web,
                                                            free_port(SOCK_STREAM), free_port(SOCK_STREAM)));
    Process gatiod(gatio::test::gatiod_argv(file), dir.path() / "gatiod.log");
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (gatiod.log().find("running") == std::string::npos) {
        INFO(gatiod.log());
        REQUIRE(gatiod.running());
        REQUIRE(std::chrono::steady_clock::now() < end);
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    INFO(gatiod.log());
    CHECK(gatiod.log().find("warning") == std::string::npos);
    CHECK(gatiod.log().find("error") == std::string::npos);

    // Before, every slot, pool and the http plugin's parser table were touched at start-up:
    // about 230 MiB. Now what start-up itself writes, about 13 MiB in a debug build.
    const std::uint64_t start = gatio::test::status_kib(gatiod.pid(), "VmRSS:");
    CHECK(start < start_rss_limit_kib);

    // Half of them on the echo listener, half on the http one (which gives each a parser slot).
    constexpr std::size_t idle = 2000;
    std::vector<Socket> clients;
    for (std::size_t i = 0; i < idle; ++i) {
        clients.emplace_back(Socket::tcp(i % 2 == 0 ? echo : web));
    }
    // Accepts are taken in arrival order: once the last client of each listener is answered,
    // every idle one before it was accepted.
    Socket last = Socket::tcp(echo);
    last.send_all("x");
    CHECK(last.recv_exact(1) == "x");
    Socket last_web = Socket::tcp(web);
    last_web.send_all("GET / HTTP/1.1\r\nHost: test\r\n\r\n");
    CHECK(last_web.recv_line() == "HTTP/1.1 200 OK\r");
    const std::uint64_t now = gatio::test::status_kib(gatiod.pid(), "VmRSS:");
    const std::uint64_t grown = now > start ? now - start : 0;
    INFO("start " << start << " KiB, grown " << grown << " KiB for " << idle << " idle connections");
    CHECK(grown * 1024 / idle <= idle_connection_limit_bytes);
    CHECK(gatiod.stop() == 0);
}
