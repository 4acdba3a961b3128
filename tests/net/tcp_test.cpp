// TCP through the whole stack in one process: the echo plugin behind real listeners on a real
// core::Runtime, driven by loopback clients.
#include <algorithm>
#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <random>
#include <sched.h>
#include <string>
#include <thread>
#include <vector>

#include "tests/net/client.hpp"
#include "tests/net/configs.hpp"
#include "tests/net/server.hpp"
#include "tests/support/skip.hpp"

using gatio::tests::free_port;
using gatio::tests::Server;
using gatio::tests::Socket;

namespace {

std::string echo_config(std::uint16_t port, const std::string& listener_keys = "",
                        const std::string& topology_keys = "") {
    return gatio::tests::listener_config(port, "echo", "tcp", listener_keys, topology_keys);
}

std::string random_bytes(std::size_t n, std::mt19937_64& rng) {
    std::string s(n, '\0');
    for (auto& c : s) {
        c = static_cast<char>(rng());
    }
    return s;
}

// Sends `data` from a thread of its own while reading the echo, since more than the socket
// buffers hold would otherwise stall both sides; the echo, or less where the send failed.
std::string echo_large(const Socket& s, const std::string& data) {
    bool written = false;
    std::thread writer([&] { written = s.try_send_all(data); });
    std::string back = s.recv_exact(data.size());
    writer.join();
    return written ? back : std::string();
}

} // namespace

TEST_CASE("echo returns every byte, in order, for several connections at once", "[tcp]") {
    auto port = free_port();
    Server server(echo_config(port));
    std::mt19937_64 rng(1);
    std::vector<Socket> clients;
    std::vector<std::string> sent;
    for (int i = 0; i < 20; ++i) {
        clients.push_back(Socket::tcp(port));
        sent.push_back(random_bytes(1 + rng() % 200'000, rng));
    }
    // Writers on their own threads: a client writing more than the socket buffers hold must be
    // read from concurrently.
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
    auto c = server.network().total();
    CHECK(c.accepted == 20);
    CHECK(c.rejected == 0);
}

// Output of one slice goes out with IORING_OP_SEND where the probe found it, more slices with a
// gathered sendmsg; [io_uring] single_send = false sends everything with sendmsg. Either way every
// byte comes back in order.
TEST_CASE("single-slice output goes out with IORING_OP_SEND, gathered output with sendmsg", "[tcp]") {
    for (const bool single : {true, false}) {
        INFO("single_send = " << single);
        auto port = free_port();
        Server server(echo_config(port, "", fmt::format("[io_uring]\nsingle_send = {}\n", single)));
        std::mt19937_64 rng(2);
        Socket s = Socket::tcp(port);
        // Small messages, each echoed as one slice.
        for (int i = 0; i < 50; ++i) {
            const std::string m = random_bytes(1 + rng() % 1000, rng);
            s.send_all(m);
            REQUIRE(s.recv_exact(m.size()) == m);
        }
        // A large one, queued over many chunks and sent gathered, written from a thread of its
        // own since it exceeds what the socket buffers hold.
        const std::string big = random_bytes(1 << 20, rng);
        CHECK(echo_large(s, big) == big);
        server.stop();
        const auto& c = server.final_counters();
        if (single) {
            CHECK(c.single_sends >= 50);
        } else {
            CHECK(c.single_sends == 0);
        }
        CHECK(c.bytes_sent == c.bytes_received);
    }
}

// With [io_uring] recv_bundle on, where the kernel has IORING_RECVSEND_BUNDLE, one receive
// completion carries several provided buffers in ring order: a megabyte through 512-byte buffers
// arrives faster than it is echoed, so receives find many buffers' worth queued. Each buffer
// must reach the handler in order and go back to the ring; off, each completion carries one.
TEST_CASE("receive bundles hand every buffer to the connection in order and recycle it", "[tcp]") {
    static const bool have = gatio::core::probe_kernel().support.recv_bundle;
    for (const bool bundle : {true, false}) {
        INFO("recv_bundle = " << bundle);
        auto port = free_port();
        Server server(echo_config(
            port, "",
            fmt::format("buffer_size = 512\nbuffer_count = 64\n[io_uring]\nrecv_bundle = {}\n", bundle)));
        std::mt19937_64 rng(3);
        Socket s = Socket::tcp(port);
        for (int round = 0; round < 4; ++round) {
            // More than the 64 buffers hold at once: buffers must come back for the rest.
            const std::string big = random_bytes(1 << 20, rng);
            CHECK(echo_large(s, big) == big);
        }
        server.stop();
        const auto& c = server.final_counters();
        CHECK(c.bytes_sent == c.bytes_received);
        CHECK(c.bytes_received == 4u << 20);
        if (bundle && have) {
            CHECK(c.recv_bundled > 0);
        } else {
            CHECK(c.recv_bundled == 0);
        }
    }
}

// With [io_uring] pbuf_incremental on, where the kernel has IOU_PBUF_RING_INC, a receive takes
// only the bytes it needs of the buffer at the ring's head and the next receive, of any
// connection, goes on in the same buffer: three connections answering small messages in turn
// share buffers, and each message must come back whole from where the last one ended. Off, or
// on a kernel without it, no completion leaves its buffer with the kernel.
TEST_CASE("incremental buffers hand each connection its bytes from where the buffer's last receive ended",
          "[tcp]") {
    static const bool have = gatio::core::probe_kernel().support.pbuf_incremental;
    for (const bool incremental : {true, false}) {
        INFO("pbuf_incremental = " << incremental);
        auto port = free_port();
        Server server(echo_config(
            port, "",
            fmt::format("buffer_size = 4096\nbuffer_count = 64\n[io_uring]\npbuf_incremental = {}\n",
                        incremental)));
        std::vector<Socket> clients;
        for (int i = 0; i < 3; ++i) {
            clients.push_back(Socket::tcp(port));
        }
        // 3 x 2,000 messages of 13 bytes: many times the 64 buffers' 256 KiB if each took one.
        for (int i = 0; i < 2'000; ++i) {
            for (std::size_t k = 0; k < clients.size(); ++k) {
                const std::string msg = fmt::format("c{}-msg{:06}|", k, i);
                REQUIRE(clients[k].try_send_all(msg.data(), msg.size()));
                REQUIRE(clients[k].recv_exact(msg.size()) == msg);
            }
        }
        server.stop();
        const auto& c = server.final_counters();
        CHECK(c.bytes_sent == c.bytes_received);
        CHECK(c.bytes_received == 3u * 2'000u * 13u);
        if (incremental && have) {
            CHECK(c.recv_buffer_kept > 0);
        } else {
            CHECK(c.recv_buffer_kept == 0);
        }
    }
}

TEST_CASE("a listener served by every driver gets connections on each of them", "[tcp]") {
    auto port = free_port();
    Server server(echo_config(port));
    if (server.drivers() < 2) {
        GATIO_SKIP("this machine offers one CPU: one driver, nothing to spread over");
    }
    std::vector<Socket> clients;
    // Each connection lands on a driver by the hash of its ports; 64 all on one of two drivers
    // would take a 2^-63 chance.
    for (int i = 0; i < 64; ++i) {
        clients.push_back(Socket::tcp(port));
        clients.back().send_all("x");
        CHECK(clients.back().recv_exact(1) == "x");
    }
    for (std::size_t d = 0; d < server.drivers(); ++d) {
        INFO("driver " << d);
        CHECK(server.network().counters(static_cast<int>(d)).accepted > 0);
    }
}

TEST_CASE("pipelined small messages come back whole and in order", "[tcp]") {
    auto port = free_port();
    Server server(echo_config(port));
    Socket s = Socket::tcp(port);
    std::string all;
    for (int i = 0; i < 20'000; ++i) {
        all += fmt::format("msg{:05}|", i);
    }
    bool written = true;
    std::thread writer([&] {
        // Many small writes: each may arrive as its own segment or coalesced.
        for (std::size_t off = 0; off < all.size() && written; off += 10) {
            written = s.try_send_all(all.data() + off, std::min<std::size_t>(10, all.size() - off));
        }
    });
    CHECK(s.recv_exact(all.size()) == all);
    writer.join();
    CHECK(written);
}

TEST_CASE("a client's half-close gets every byte echoed, then the server's FIN", "[tcp]") {
    auto port = free_port();
    Server server(echo_config(port));
    Socket s = Socket::tcp(port);
    std::mt19937_64 rng(2);
    std::string data = random_bytes(300'000, rng);
    s.send_all(data);
    REQUIRE(::shutdown(s.fd(), SHUT_WR) == 0);
    std::string back;
    REQUIRE(s.recv_until_eof(back));
    CHECK(back == data);
    CHECK(server.wait_for([](const auto& c) { return c.closed == 1; }));
}

TEST_CASE("a reset in mid-stream is cleaned up without harming other connections", "[tcp]") {
    auto port = free_port();
    Server server(echo_config(port));
    Socket keeper = Socket::tcp(port);
    {
        Socket victim = Socket::tcp(port);
        std::string chunk(100'000, 'r');
        victim.send_all(chunk);
        victim.recv_exact(1000);
        linger l{1, 0};
        REQUIRE(::setsockopt(victim.fd(), SOL_SOCKET, SO_LINGER, &l, sizeof l) == 0);
    } // closed with a reset while echo output is still on its way
    CHECK(server.wait_for([](const auto& c) { return c.closed == 1; }));
    keeper.send_all("still here");
    CHECK(keeper.recv_exact(10) == "still here");
}

TEST_CASE("max_connections closes the excess at once and counts it", "[tcp]") {
    auto port = free_port();
    Server server(echo_config(port, "max_connections = 3"));
    std::vector<Socket> kept;
    for (int i = 0; i < 3; ++i) {
        kept.push_back(Socket::tcp(port));
        kept.back().send_all("k");
        REQUIRE(kept.back().recv_exact(1) == "k");
    }
    for (int i = 0; i < 4; ++i) {
        Socket extra = Socket::tcp(port);
        std::string got;
        // Closed by the server without an answer (EOF or reset, depending on timing).
        ::send(extra.fd(), "e", 1, MSG_NOSIGNAL);
        bool eof = extra.recv_until_eof(got);
        CHECK(got.empty());
        (void)eof;
    }
    CHECK(server.wait_for([](const auto& c) { return c.rejected == 4; }));
    // The kept ones still work, and closing one frees a place.
    kept[0].send_all("again");
    CHECK(kept[0].recv_exact(5) == "again");
    kept.pop_back();
    CHECK(server.wait_for([](const auto& c) { return c.closed == 1; }));
    Socket next = Socket::tcp(port);
    next.send_all("n");
    CHECK(next.recv_exact(1) == "n");
    CHECK(server.network().total().rejected == 4);
}

TEST_CASE("idle_timeout closes a connection nobody uses", "[tcp]") {
    auto port = free_port();
    Server server(echo_config(port, "idle_timeout = \"200ms\""));
    Socket idle = Socket::tcp(port);
    idle.send_all("hi");
    REQUIRE(idle.recv_exact(2) == "hi");
    std::string rest;
    CHECK(idle.recv_until_eof(rest)); // the server's FIN, within the 10 s receive timeout
    CHECK(rest.empty());
    idle.close(); // answering the FIN completes the server's orderly close
    CHECK(server.wait_for([](const auto& c) { return c.idle_closes == 1 && c.closed == 1; }));
}

TEST_CASE("a tiny buffer ring shared by many clients still echoes every byte", "[tcp]") {
    auto port = free_port();
    // Two 512-byte buffers per driver for 32 busy connections: receives keep finding the ring
    // empty and must be re-armed once buffers are back.
    Server server(echo_config(port, "", "buffer_count = 2\nbuffer_size = 512"));
    std::mt19937_64 rng(3);
    std::vector<Socket> clients;
    std::vector<std::string> sent;
    for (int i = 0; i < 32; ++i) {
        clients.push_back(Socket::tcp(port));
        sent.push_back(random_bytes(65536 + rng() % 65536, rng));
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
    auto c = server.network().total();
    INFO("enobufs " << c.recv_enobufs << ", multishot ends " << c.recv_multishot_ends << ", re-arms "
                    << c.recv_rearms);
    CHECK(c.recv_enobufs > 0);
    CHECK(c.recv_rearms >= c.recv_enobufs);
    CHECK(c.peer_resets == 0);
    CHECK(c.closed == 0);
}

TEST_CASE("a client that never reads is held at the watermark and resumes when it reads", "[tcp]") {
    auto port = free_port();
    const std::size_t high = 64 * 1024;
    Server server(echo_config(port, "send_high_watermark = \"64KiB\"\nsend_low_watermark = \"16KiB\"",
                              "buffer_count = 16\nbuffer_size = \"16KiB\""));
    Socket s = Socket::tcp(port);
    std::mt19937_64 rng(4);
    const std::string pattern = random_bytes(1 << 20, rng);

    // Write without reading until the connection stops taking data for half a second.
    const std::size_t attempt = 256u << 20;
    const std::size_t written = s.send_until_stalled(pattern, attempt);
    INFO("written before the server stopped reading: " << written);
    // Without the pause the server would have read everything; with it, what got in is the
    // watermark plus what the kernel's socket buffers hold on both sides.
    CHECK(written < attempt);
    auto c = server.network().total();
    CHECK(c.read_pauses >= 1);
    // The server holds about one watermark of output, not what the client pushed.
    CHECK(c.output_memory <= high + 16 * 16384 + 4096);

    // Now read: every byte comes back in order, and the connection keeps working.
    std::string back;
    back.reserve(written);
    std::thread reader([&] {
        char buf[1 << 16];
        while (back.size() < written) {
            ssize_t r = s.receive(buf, sizeof buf);
            if (r <= 0) {
                return;
            }
            back.append(buf, static_cast<std::size_t>(r));
        }
    });
    reader.join();
    REQUIRE(back.size() == written);
    bool same = true;
    for (std::size_t off = 0; off < written && same; off += pattern.size()) {
        std::size_t n = std::min(pattern.size(), written - off);
        same = back.compare(off, n, pattern, 0, n) == 0;
    }
    CHECK(same);
    s.send_all("more");
    CHECK(s.recv_exact(4) == "more");
    // Chunks go back when the send completes, which the client may see before the driver does.
    CHECK(server.wait_for([](const auto& now) { return now.output_memory == 0; }));
}

TEST_CASE("input a handler leaves unconsumed is carried to the next receive", "[tcp]") {
    auto port = free_port();
    Server server(gatio::tests::listener_config(port, (gatio::tests::test_plugin_dir / "frame.so").string(),
                                                "tcp", "", "buffer_size = 512\nbuffer_count = 8"));
    auto frame = [](const std::string& payload) {
        auto n = static_cast<std::uint32_t>(payload.size());
        std::string f{static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8),
                      static_cast<char>(n)};
        return f + payload;
    };
    std::mt19937_64 rng(5);
    std::string stream;
    for (int i = 0; i < 50; ++i) {
        stream += frame(random_bytes(rng() % 20000, rng));
    }
    Socket s = Socket::tcp(port);
    // Byte-sized and odd-sized pieces, so frames straddle every receive boundary.
    bool written = true;
    std::thread writer([&] {
        std::size_t off = 0;
        for (std::size_t step = 1; off < stream.size() && written; step = step % 977 + 1) {
            std::size_t n = std::min(step, stream.size() - off);
            written = s.try_send_all(stream.data() + off, n);
            off += n;
        }
    });
    CHECK(s.recv_exact(stream.size()) == stream);
    writer.join();
    CHECK(written);

    SECTION("a frame beyond max_unconsumed closes the connection") {
        Socket big = Socket::tcp(port);
        big.send_all(frame(std::string(70000, 'x')).substr(0, 69000));
        std::string got;
        big.recv_until_eof(got);
        CHECK(got.empty());
        CHECK(server.wait_for([](const auto& c) { return c.limit_closes == 1; }));
    }
}

TEST_CASE("attach names the listener when its address is taken", "[tcp]") {
    auto port = free_port();
    // A socket without SO_REUSEPORT holds the port.
    Socket holder{::socket(AF_INET, SOCK_STREAM, 0)};
    auto a = gatio::tests::loopback(port);
    REQUIRE(::bind(holder.fd(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(holder.fd(), 1) == 0);

    auto loaded = gatio::config::load_string(echo_config(port), "/nonexistent/gatio.toml",
                                             gatio::config::Overrides{gatio::tests::plugin_output_dir});
    REQUIRE(loaded.config);
    auto machine = gatio::core::Machine::discover();
    auto topology = gatio::core::resolve_topology(*loaded.config, machine);
    REQUIRE(topology.topology);
    auto plugins = gatio::net::load_plugins(*loaded.config, {}, gatio::net::host_services());
    REQUIRE(plugins.errors.empty());
    gatio::core::RuntimeOptions options;
    gatio::net::reserve(options, *loaded.config, *topology.topology, plugins.plugins);
    gatio::core::Runtime runtime(*topology.topology, machine, loaded.config->io_uring, options);
    auto r = gatio::net::attach_listeners(runtime, *loaded.config, *topology.topology, plugins.plugins);
    CHECK_FALSE(r.network);
    CHECK(r.error == fmt::format("listener \"test\" (tcp 127.0.0.1:{}): bind: Address already in use", port));
}

TEST_CASE("steer_to_cpu hands each connection to the driver on the CPU that received it", "[tcp]") {
    auto port = free_port();
    Server server(echo_config(port, "steer_to_cpu = true"));
    if (server.drivers() < 2) {
        GATIO_SKIP("one CPU: nothing to steer between");
    }
    // Loopback traffic is received on the sending CPU, so pin the client and watch which driver
    // accepts.
    for (std::size_t d = 0; d < server.drivers(); ++d) {
        int cpu = server.topology().driver(static_cast<int>(d)).cpu;
        auto before = server.network().counters(static_cast<int>(d)).accepted;
        std::thread client([&] {
            cpu_set_t set;
            CPU_ZERO(&set);
            CPU_SET(cpu, &set);
            REQUIRE(::sched_setaffinity(0, sizeof set, &set) == 0);
            for (int i = 0; i < 16; ++i) {
                Socket s = Socket::tcp(port);
                s.send_all("s");
                REQUIRE(s.recv_exact(1) == "s");
            }
        });
        client.join();
        INFO("driver " << d << " on CPU " << cpu);
        CHECK(server.network().counters(static_cast<int>(d)).accepted - before == 16);
    }
}
