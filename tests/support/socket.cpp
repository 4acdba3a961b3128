#include "tests/support/socket.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/un.h>
#include <unistd.h>
#include <utility>

namespace gatio::test {

std::uint16_t free_port(int type) {
    const int fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_in a = loopback(0);
    socklen_t len = sizeof a;
    const bool bound = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
                       ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0;
    const int err = errno;
    ::close(fd);
    if (!bound) {
        FAIL("free_port: " << std::strerror(err));
    }
    return ntohs(a.sin_port);
}

sockaddr_in loopback(std::uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

bool wait_for(int fd, short events, Deadline deadline) {
    pollfd p{fd, events, 0};
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        const int n = ::poll(&p, 1, static_cast<int>(std::max<std::int64_t>(left.count(), 0)));
        if (n > 0) {
            return true;
        }
        if (n == 0 || errno != EINTR) {
            return false;
        }
    }
}

ssize_t receive(int fd, void* buf, std::size_t n) {
    for (;;) {
        const ssize_t r = ::recv(fd, buf, n, 0);
        if (r >= 0 || errno != EINTR) {
            return r;
        }
    }
}

ssize_t send_some(int fd, const void* data, std::size_t n) {
    for (;;) {
        const ssize_t w = ::send(fd, data, n, MSG_NOSIGNAL);
        if (w >= 0 || errno != EINTR) {
            return w;
        }
    }
}

bool send_all(int fd, const void* data, std::size_t n) {
    const auto* p = static_cast<const char*>(data);
    while (n > 0) {
        const ssize_t w = send_some(fd, p, n);
        if (w <= 0) {
            return false;
        }
        p += w;
        n -= static_cast<std::size_t>(w);
    }
    return true;
}

Socket& Socket::operator=(Socket&& o) noexcept {
    std::swap(fd_, o.fd_);
    return *this;
}

void Socket::close() {
    if (fd_ >= 0) {
        ::close(fd_);
        fd_ = -1;
    }
}

namespace {

void set_timeouts(int fd, std::chrono::seconds timeout) {
    timeval tv{static_cast<time_t>(timeout.count()), 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

} // namespace

Socket Socket::try_tcp(std::uint16_t port, std::chrono::seconds timeout, int receive_buffer) {
    Socket s{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    if (!s.valid()) {
        return s;
    }
    set_timeouts(s.fd(), timeout);
    if (receive_buffer > 0) {
        ::setsockopt(s.fd(), SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    }
    const sockaddr_in a = loopback(port);
    if (::connect(s.fd(), reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) {
        const int err = errno;
        s.close();
        errno = err;
    }
    return s;
}

Socket Socket::tcp(std::uint16_t port, std::chrono::seconds timeout, int receive_buffer) {
    Socket s = try_tcp(port, timeout, receive_buffer);
    if (!s.valid()) {
        FAIL("connect to port " << port << ": " << std::strerror(errno));
    }
    return s;
}

Socket Socket::unix_stream(const std::string& path, std::chrono::seconds timeout) {
    Socket s{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    REQUIRE(s.valid());
    set_timeouts(s.fd(), timeout);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    REQUIRE(path.size() < sizeof a.sun_path);
    std::memcpy(a.sun_path, path.data(), path.size());
    if (::connect(s.fd(), reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) {
        FAIL("connect to " << path << ": " << std::strerror(errno));
    }
    return s;
}

Socket Socket::udp(std::chrono::seconds timeout) {
    Socket s{::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)};
    REQUIRE(s.valid());
    set_timeouts(s.fd(), timeout);
    const sockaddr_in a = loopback(0);
    REQUIRE(::bind(s.fd(), reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0);
    return s;
}

bool Socket::set_nodelay() const {
    const int one = 1;
    return ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0;
}

void Socket::send_all(const void* data, std::size_t n) const {
    if (!try_send_all(data, n)) {
        FAIL("send: " << std::strerror(errno));
    }
}

ssize_t Socket::receive(void* buf, std::size_t n, Deadline deadline) const {
    if (!wait_for(fd_, POLLIN, deadline)) {
        errno = ETIMEDOUT;
        return -1;
    }
    return receive(buf, n);
}

std::size_t Socket::send_until_stalled(std::string_view pattern, std::size_t limit,
                                       std::chrono::milliseconds quiet) const {
    const int flags = ::fcntl(fd_, F_GETFL);
    REQUIRE(flags >= 0);
    REQUIRE(::fcntl(fd_, F_SETFL, flags | O_NONBLOCK) == 0);
    std::size_t written = 0;
    while (written < limit) {
        const std::size_t at = written % pattern.size();
        const ssize_t w = send_some(fd_, pattern.data() + at, std::min(pattern.size() - at, limit - written));
        if (w > 0) {
            written += static_cast<std::size_t>(w);
            continue;
        }
        if (errno != EAGAIN) {
            FAIL("send: " << std::strerror(errno));
        }
        if (!wait_for(fd_, POLLOUT, std::chrono::steady_clock::now() + quiet)) {
            break;
        }
    }
    REQUIRE(::fcntl(fd_, F_SETFL, flags) == 0);
    return written;
}

std::string Socket::recv_datagram() const {
    char buf[65536];
    const ssize_t r = receive(buf, sizeof buf);
    if (r < 0) {
        FAIL("recv: " << std::strerror(errno));
    }
    return std::string(buf, static_cast<std::size_t>(r));
}

std::string Socket::recv_exact(std::size_t n) const {
    std::string out(n, '\0');
    std::size_t got = 0;
    while (got < n) {
        const ssize_t r = receive(out.data() + got, n - got);
        if (r <= 0) {
            FAIL("received " << got << " of " << n << " bytes; "
                             << (r == 0 ? "end of stream" : std::strerror(errno)));
        }
        got += static_cast<std::size_t>(r);
    }
    return out;
}

std::string Socket::recv_line() const {
    std::string out;
    for (std::string c = recv_exact(1); c != "\n"; c = recv_exact(1)) {
        out += c;
    }
    return out;
}

bool Socket::recv_until_eof(std::string& into) const {
    char buf[65536];
    for (;;) {
        const ssize_t r = receive(buf, sizeof buf);
        if (r == 0) {
            return true;
        }
        if (r < 0) {
            return false;
        }
        into.append(buf, static_cast<std::size_t>(r));
    }
}

} // namespace gatio::test
