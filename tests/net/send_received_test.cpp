// send_received (ABI 1.5): received bytes sent from their receive buffer, through a real plugin
// (tests/net/relay_plugin.cpp) on real connections. Order against send, the copy once a bound is
// reached, buffers given back when a connection closes while its output holds them, and the
// calls it refuses.
#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <random>
#include <string>
#include <sys/socket.h>
#include <thread>

#include "tests/net/client.hpp"
#include "tests/net/configs.hpp"
#include "tests/net/server.hpp"

using gatio::tests::free_port;
using gatio::tests::Server;
using gatio::tests::Socket;

namespace {

std::string relay_config(std::uint16_t port, const std::string& mode, const std::string& network = "") {
    return "[network]\n" + network + "\n" +
           gatio::tests::listener_config(port, (gatio::tests::test_plugin_dir / "relay.so").string(), "tcp",
                                         "[listener.options]\nmode = \"" + mode + "\"\n");
}

// Letters only, so that the frame markers stand out.
std::string letters(std::size_t n, std::uint64_t seed) {
    std::mt19937_64 random(seed);
    std::string s(n, '\0');
    for (char& c : s) {
        c = static_cast<char>('a' + random() % 26);
    }
    return s;
}

// Sends `payload` from a thread and reads the framed answer until it holds every byte, after
// `wait` without reading. Returns the unframed bytes; `frames_ok` says whether every frame was
// "<" A "|" B ">".
std::string framed_round_trip(std::uint16_t port, const std::string& payload, bool& frames_ok,
                              std::chrono::milliseconds wait = std::chrono::milliseconds(0)) {
    Socket s = Socket::tcp(port);
    bool sent = false;
    std::thread writer([&] { sent = s.try_send_all(payload); });
    std::this_thread::sleep_for(wait);
    std::string got, bytes;
    frames_ok = true;
    enum { open, first, second } at = open;
    std::vector<char> buf(1 << 16);
    while (bytes.size() < payload.size()) {
        const ssize_t n = s.receive(buf.data(), buf.size());
        if (n <= 0) {
            break;
        }
        for (ssize_t i = 0; i < n; ++i) {
            const char c = buf[static_cast<std::size_t>(i)];
            if (c == '<') {
                frames_ok = frames_ok && at == open;
                at = first;
            } else if (c == '|') {
                frames_ok = frames_ok && at == first;
                at = second;
            } else if (c == '>') {
                frames_ok = frames_ok && at == second;
                at = open;
            } else {
                frames_ok = frames_ok && at != open;
                bytes.push_back(c);
            }
        }
    }
    writer.join();
    CHECK(sent);
    frames_ok = frames_ok && at == open;
    return bytes;
}

} // namespace

TEST_CASE("send_received keeps its bytes in order with what send queues around them", "[send_received]") {
    const auto port = free_port();
    Server server(relay_config(port, "frame"));
    const std::string payload = letters(8 << 20, 1);
    bool frames_ok = false;
    const std::string back = framed_round_trip(port, payload, frames_ok, std::chrono::milliseconds(200));
    CHECK(frames_ok);
    CHECK(back.size() == payload.size());
    CHECK((back == payload));
    server.stop();
    const auto& c = server.final_counters();
    CHECK(c.receive_holds > 0);
    CHECK(c.buffers_held == 0);
}

TEST_CASE("send_received copies once a bound is reached, and the bytes are the same", "[send_received]") {
    const std::string payload = letters(8 << 20, 2);
    for (const std::string network :
         {"receive_holds = 4\nreceive_holds_per_connection = 2",
          "receive_holds = 2\nreceive_holds_per_connection = 32", "receive_holds = 0"}) {
        INFO(network);
        const auto port = free_port();
        Server server(relay_config(port, "frame", network));
        bool frames_ok = false;
        // Not read for a while: output piles up and holds what it may, the rest is copied.
        const std::string back = framed_round_trip(port, payload, frames_ok, std::chrono::milliseconds(300));
        CHECK(frames_ok);
        CHECK((back == payload));
        server.stop();
        const auto& c = server.final_counters();
        CHECK(c.receive_copies > 0);
        CHECK((network == "receive_holds = 0" ? c.receive_holds == 0 : c.receive_holds > 0));
        CHECK(c.buffers_held == 0);
    }
}

TEST_CASE("a connection closed while its output holds receive buffers gives them back", "[send_received]") {
    const auto port = free_port();
    // The kernel's send buffer keeps growing after reading pauses and takes the oldest output.
    // Were the bounds on records reached before the high watermark, the slices after them would
    // be copied, and once the kernel took the held ones the stalled output would hold none (seen
    // under load with 256 records). With bounds beyond what 1 MiB of output needs, every slice
    // is held and the stalled output always holds some.
    Server server(relay_config(port, "frame", "receive_holds = 8192\nreceive_holds_per_connection = 8192"));
    {
        // A small window and no reading: the echo piles up in the connection's output.
        Socket s = Socket::tcp(port, std::chrono::seconds(10), 4096);
        const std::size_t sent = s.send_until_stalled(letters(1 << 16, 3), std::size_t{64} << 20);
        CHECK(sent > 0);
        REQUIRE(server.wait_for([](const gatio::net::NetCounters& c) { return c.buffers_held > 0; }));
        linger l{1, 0}; // a reset: the send fails and the output is dropped
        REQUIRE(::setsockopt(s.fd(), SOL_SOCKET, SO_LINGER, &l, sizeof l) == 0);
    }
    CHECK(server.wait_for(
        [](const gatio::net::NetCounters& c) { return c.closed >= 1 && c.buffers_held == 0; }));
    // The ring has them all again: the next connection is served as usual.
    bool frames_ok = false;
    const std::string payload = letters(1 << 20, 4);
    CHECK((framed_round_trip(port, payload, frames_ok) == payload));
    CHECK(frames_ok);
}

TEST_CASE("a connection reset in on_data after send_received gives the buffer back once", "[send_received]") {
    const auto port = free_port(), frame_port = free_port();
    // Both on one networking module, so on one receive ring.
    Server server(
        relay_config(port, "close") +
        fmt::format("[[listener]]\nname = \"frame\"\ntransport = \"tcp\"\naddress = \"127.0.0.1:{}\"\n"
                    "handler = \"{}\"\n[listener.options]\nmode = \"frame\"\n",
                    frame_port, (gatio::tests::test_plugin_dir / "relay.so").string()));
    for (int i = 0; i < 50; ++i) {
        Socket s = Socket::tcp(port);
        s.send_all(letters(1000, static_cast<std::uint64_t>(i)));
        std::string rest;
        s.recv_until_eof(rest); // EOF or reset: the output was dropped with the connection
    }
    CHECK(server.wait_for([](const gatio::net::NetCounters& c) {
        return c.closed >= 50 && c.receive_holds >= 50 && c.buffers_held == 0;
    }));
    // A buffer recycled twice would be handed out twice: the ring still delivers each byte once.
    bool frames_ok = false;
    const std::string payload = letters(1 << 20, 5);
    CHECK((framed_round_trip(frame_port, payload, frames_ok) == payload));
}

TEST_CASE("send_received refuses a range outside the slice and a call outside on_data", "[send_received]") {
    const auto port = free_port();
    Server server(relay_config(port, "check"));
    Socket s = Socket::tcp(port);
    s.send_all("hello");
    CHECK(s.recv_line() == "check " + std::to_string(GATIO_ERR_INVALID) + " " + std::to_string(GATIO_OK));
    CHECK(s.recv_line() == "late " + std::to_string(GATIO_ERR_INVALID));
}
