// UDP through the whole stack in one process: the echo plugin on real bound sockets.
#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <set>
#include <string>
#include <vector>

#include "tests/net/client.hpp"
#include "tests/net/configs.hpp"
#include "tests/net/server.hpp"

using gatio::tests::free_port;
using gatio::tests::Server;
using gatio::tests::Socket;

namespace {

std::string udp_config(std::uint16_t port, const std::string& topology_keys = "") {
    return gatio::tests::listener_config(port, "echo", "udp", "", topology_keys);
}

void send_to(const Socket& s, std::uint16_t port, const std::string& payload) {
    auto a = gatio::tests::loopback(port);
    REQUIRE(::sendto(s.fd(), payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a) ==
            static_cast<ssize_t>(payload.size()));
}

} // namespace

TEST_CASE("every datagram is answered to its own sender", "[udp]") {
    auto port = free_port(SOCK_DGRAM);
    Server server(udp_config(port));
    constexpr int clients = 8, per_client = 250, window = 16;
    std::vector<Socket> sockets;
    for (int i = 0; i < clients; ++i) {
        sockets.push_back(Socket::udp());
    }
    // A window per client keeps the socket buffers far from full, so loopback drops nothing.
    std::vector<std::set<std::string>> expected(clients);
    for (int round = 0; round < per_client / window; ++round) {
        for (int c = 0; c < clients; ++c) {
            for (int k = 0; k < window; ++k) {
                auto payload = fmt::format("client {} datagram {}", c, round * window + k);
                expected[static_cast<std::size_t>(c)].insert(payload);
                send_to(sockets[static_cast<std::size_t>(c)], port, payload);
            }
        }
        for (int c = 0; c < clients; ++c) {
            for (int k = 0; k < window; ++k) {
                auto got = sockets[static_cast<std::size_t>(c)].recv_datagram();
                INFO("client " << c << " got \"" << got << "\"");
                CHECK(expected[static_cast<std::size_t>(c)].erase(got) == 1);
            }
        }
    }
    for (const auto& e : expected) {
        CHECK(e.empty());
    }
    CHECK(server.wait_for([](const auto& c) {
        return c.datagrams_received == clients * (per_client / window) * window &&
               c.datagrams_sent == c.datagrams_received;
    }));
}

TEST_CASE("a datagram larger than a buffer is counted as truncated and not echoed", "[udp]") {
    auto port = free_port(SOCK_DGRAM);
    Server server(udp_config(port, "buffer_size = 512"));
    Socket s = Socket::udp();
    send_to(s, port, std::string(2000, 'T'));
    CHECK(server.wait_for([](const auto& c) { return c.datagrams_truncated == 1; }));
    send_to(s, port, "small");
    CHECK(s.recv_datagram() == "small"); // the truncated one got no answer, or it would come first
}
