// Upstreams the outbound tests listen on themselves: a listening socket on loopback whose
// connections the test accepts and drives (or never accepts), and a peer that neither accepts
// nor refuses, for connects that can only time out or be cancelled.
#pragma once

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "tests/net/client.hpp"

namespace gatio::tests {

// A listening socket of this test on loopback.
struct Peer {
    explicit Peer(int backlog = 64, int rcvbuf = 0) {
        fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        REQUIRE(fd >= 0);
        if (rcvbuf > 0) {
            ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
        }
        auto a = loopback(0);
        REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        socklen_t len = sizeof a;
        REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
        port = ntohs(a.sin_port);
        REQUIRE(::listen(fd, backlog) == 0);
    }
    ~Peer() { ::close(fd); }
    Peer(const Peer&) = delete;
    Peer& operator=(const Peer&) = delete;

    std::string address() const { return fmt::format("127.0.0.1:{}", port); }
    Socket accept() const {
        pollfd p{fd, POLLIN, 0};
        REQUIRE(::poll(&p, 1, 10'000) == 1);
        Socket s{::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC)};
        REQUIRE(s.fd() >= 0);
        timeval tv{10, 0};
        ::setsockopt(s.fd(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        return s;
    }

    int fd = -1;
    std::uint16_t port = 0;
};

// A peer whose accept queue is full: the kernel drops further SYNs, so a connect to it neither
// succeeds nor fails until its timeout.
struct BlackHole {
    BlackHole() : peer(0) {
        // With a backlog of 0 one established connection fills the accept queue.
        filler = Socket{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)};
        auto a = loopback(peer.port);
        ::connect(filler.fd(), reinterpret_cast<sockaddr*>(&a), sizeof a);
        pollfd p{filler.fd(), POLLOUT, 0};
        REQUIRE(::poll(&p, 1, 10'000) == 1);
        int error = -1;
        socklen_t len = sizeof error;
        REQUIRE(::getsockopt(filler.fd(), SOL_SOCKET, SO_ERROR, &error, &len) == 0);
        REQUIRE(error == 0);
    }
    Peer peer;
    Socket filler;
};

} // namespace gatio::tests
