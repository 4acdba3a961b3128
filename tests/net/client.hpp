// Plain blocking and non-blocking loopback sockets for the tests, with deadlines so a broken
// server fails a test instead of hanging it.
#pragma once

#include <arpa/inet.h>
#include <catch2/catch.hpp>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <vector>

namespace gatio::tests {

// A port nobody listens on right now (the kernel's choice for an ephemeral bind).
inline std::uint16_t free_port(int type = SOCK_STREAM) {
    int fd = ::socket(AF_INET, type, 0);
    REQUIRE(fd >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    socklen_t len = sizeof a;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    ::close(fd);
    return ntohs(a.sin_port);
}

inline sockaddr_in loopback(std::uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

class Socket {
public:
    Socket() = default;
    explicit Socket(int fd) : fd_(fd) {}
    Socket(Socket&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
    Socket& operator=(Socket&& o) noexcept {
        std::swap(fd_, o.fd_);
        return *this;
    }
    Socket(const Socket&) = delete;
    Socket& operator=(const Socket&) = delete;
    ~Socket() { close(); }

    int fd() const { return fd_; }
    void close() {
        if (fd_ >= 0) {
            ::close(fd_);
            fd_ = -1;
        }
    }

    // A TCP connection with 10 s receive and send timeouts.
    static Socket tcp(std::uint16_t port) {
        Socket s{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
        REQUIRE(s.fd() >= 0);
        timeval tv{10, 0};
        ::setsockopt(s.fd(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(s.fd(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        auto a = loopback(port);
        REQUIRE(::connect(s.fd(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        return s;
    }

    // A unix-domain stream connection to the socket at `path`, with the same timeouts.
    static Socket unix_stream(const std::string& path) {
        Socket s{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
        REQUIRE(s.fd() >= 0);
        timeval tv{10, 0};
        ::setsockopt(s.fd(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(s.fd(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        REQUIRE(path.size() < sizeof a.sun_path);
        std::memcpy(a.sun_path, path.data(), path.size());
        INFO("connecting to " << path << ": errno " << errno);
        REQUIRE(::connect(s.fd(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        return s;
    }

    static Socket udp() {
        Socket s{::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)};
        REQUIRE(s.fd() >= 0);
        timeval tv{10, 0};
        ::setsockopt(s.fd(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        auto a = loopback(0);
        REQUIRE(::bind(s.fd(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        return s;
    }

    void send_all(const void* data, std::size_t n) const { REQUIRE(try_send_all(data, n)); }
    void send_all(const std::string& s) const { send_all(s.data(), s.size()); }

    // For threads other than the test's: Catch2 2's assertions are not thread-safe, so a writer
    // thread reports failure instead, and the test checks it after join().
    bool try_send_all(const void* data, std::size_t n) const {
        const auto* p = static_cast<const char*>(data);
        while (n > 0) {
            ssize_t w = ::send(fd_, p, n, MSG_NOSIGNAL);
            if (w <= 0) {
                return false;
            }
            p += w;
            n -= static_cast<std::size_t>(w);
        }
        return true;
    }
    bool try_send_all(const std::string& s) const { return try_send_all(s.data(), s.size()); }

    // recv(2), retried when a signal interrupts it: with SO_RCVTIMEO set, Linux fails the call with
    // EINTR even for a signal without a handler, e.g. when the process is stopped and continued.
    ssize_t receive(void* buf, std::size_t n) const {
        for (;;) {
            ssize_t r = ::recv(fd_, buf, n, 0);
            if (r >= 0 || errno != EINTR) {
                return r;
            }
        }
    }

    // One datagram, failing the test on error or timeout.
    std::string recv_datagram() const {
        char buf[65536];
        ssize_t r = receive(buf, sizeof buf);
        INFO("recv: " << (r < 0 ? std::strerror(errno) : "ok"));
        REQUIRE(r >= 0);
        return std::string(buf, static_cast<std::size_t>(r));
    }

    // Exactly n bytes, failing the test on EOF, error or timeout.
    std::string recv_exact(std::size_t n) const {
        std::string out(n, '\0');
        std::size_t got = 0;
        while (got < n) {
            ssize_t r = receive(out.data() + got, n - got);
            INFO("received " << got << " of " << n << " bytes; errno " << errno);
            REQUIRE(r > 0);
            got += static_cast<std::size_t>(r);
        }
        return out;
    }

    // One line without its '\n', a byte at a time so nothing after it is consumed.
    std::string recv_line() const {
        std::string out;
        for (std::string c = recv_exact(1); c != "\n"; c = recv_exact(1)) {
            out += c;
        }
        return out;
    }

    // Reads until EOF (true) or error/timeout (false), appending to `into`.
    bool recv_until_eof(std::string& into) const {
        char buf[65536];
        for (;;) {
            ssize_t r = receive(buf, sizeof buf);
            if (r == 0) {
                return true;
            }
            if (r < 0) {
                return false;
            }
            into.append(buf, static_cast<std::size_t>(r));
        }
    }

private:
    int fd_ = -1;
};

} // namespace gatio::tests
