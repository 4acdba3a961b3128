// Loopback sockets for the tests. Every wait is bounded (SO_RCVTIMEO/SO_SNDTIMEO or a deadline),
// so that a broken server fails a test instead of hanging it, and every call retries EINTR:
// with a socket timeout set, Linux fails recv/send with EINTR even for a signal without a
// handler, e.g. when the test process is stopped and continued.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <netinet/in.h>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <sys/types.h>

namespace gatio::test {

using Deadline = std::chrono::steady_clock::time_point;

// A loopback port nobody is bound to right now (the kernel's choice for an ephemeral bind);
// `type` is SOCK_STREAM or SOCK_DGRAM.
std::uint16_t free_port(int type = SOCK_STREAM);
sockaddr_in loopback(std::uint16_t port);

// Waits until `fd` has one of `events` (POLLIN, POLLOUT) or the deadline passes (false).
bool wait_for(int fd, short events, Deadline deadline);
// recv(2) and send(2) retried on EINTR; the result of the last call.
ssize_t receive(int fd, void* buf, std::size_t n);
ssize_t send_some(int fd, const void* data, std::size_t n);
// Sends everything (false on error or socket timeout).
bool send_all(int fd, const void* data, std::size_t n);

class Socket {
public:
    Socket() = default;
    explicit Socket(int fd) : fd_(fd) {}
    Socket(Socket&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
    Socket& operator=(Socket&& o) noexcept;
    Socket(const Socket&) = delete;
    Socket& operator=(const Socket&) = delete;
    ~Socket() { close(); }

    int fd() const { return fd_; }
    bool valid() const { return fd_ >= 0; }
    void close();
    // The descriptor, which the caller now owns.
    int release() {
        const int fd = fd_;
        fd_ = -1;
        return fd;
    }

    // A TCP connection with receive and send timeouts; fails the test when it cannot connect.
    // A `receive_buffer` (SO_RCVBUF, set before connecting) keeps the window small, so that
    // what the peer sends backs up on its side.
    static Socket tcp(std::uint16_t port, std::chrono::seconds timeout = std::chrono::seconds(10),
                      int receive_buffer = 0);
    // The same, but a failed connect gives an invalid Socket with errno set (ECONNREFUSED when
    // nothing listens).
    static Socket try_tcp(std::uint16_t port, std::chrono::seconds timeout = std::chrono::seconds(10),
                          int receive_buffer = 0);
    // A unix-domain stream connection to the socket at `path`, with the same timeouts.
    static Socket unix_stream(const std::string& path,
                              std::chrono::seconds timeout = std::chrono::seconds(10));
    // A UDP socket bound to an ephemeral loopback port, with a receive timeout.
    static Socket udp(std::chrono::seconds timeout = std::chrono::seconds(10));

    // Whether TCP_NODELAY could be set; no assertion, so that any thread may call it.
    [[nodiscard]] bool set_nodelay() const;

    void send_all(const void* data, std::size_t n) const;
    void send_all(std::string_view s) const { send_all(s.data(), s.size()); }

    // For threads other than the test's: Catch2 2's assertions are not thread-safe, so a writer
    // thread reports failure instead, and the test checks it after join().
    bool try_send_all(const void* data, std::size_t n) const { return test::send_all(fd_, data, n); }
    bool try_send_all(std::string_view s) const { return try_send_all(s.data(), s.size()); }

    ssize_t receive(void* buf, std::size_t n) const { return test::receive(fd_, buf, n); }
    // One receive that waits at most until `deadline`: -1 with errno ETIMEDOUT when nothing came.
    ssize_t receive(void* buf, std::size_t n, Deadline deadline) const;

    // Writes `pattern` again and again without reading, until the peer has taken nothing for
    // `quiet` or `limit` bytes went: the bytes written (non-blocking sends for the while).
    std::size_t send_until_stalled(std::string_view pattern, std::size_t limit,
                                   std::chrono::milliseconds quiet = std::chrono::milliseconds(500)) const;

    // One datagram, failing the test on error or timeout.
    std::string recv_datagram() const;
    // Exactly n bytes, failing the test on EOF, error or timeout.
    std::string recv_exact(std::size_t n) const;
    // One line without its '\n', a byte at a time so nothing after it is consumed.
    std::string recv_line() const;
    // Reads until EOF (true) or error/timeout (false), appending to `into`.
    bool recv_until_eof(std::string& into) const;

private:
    int fd_ = -1;
};

} // namespace gatio::test
