// How a file best reaches a socket through io_uring, for the file services' lent buffers
// (docs/plugins.md, "Files"): the same file sent again and again over loopback TCP to a reader
// thread that only drains, one file at a time as one connection would, by
//   read+send    IORING_OP_READ into a buffer, then IORING_OP_SEND of it (what lent_send does)
//   splice       IORING_OP_SPLICE file -> pipe linked to IORING_OP_SPLICE pipe -> socket
//   fixed+zc     IORING_OP_READ_FIXED into a registered buffer, then IORING_OP_SEND_ZC of it
//                with IORING_RECVSEND_FIXED_BUF (a completion and a notification each)
// Each line: file size, method, microseconds per file (wall) and CPU microseconds per file of
// the whole process (the sender, the kernel's io-wq work for it, and the draining reader).
//   file_send_bench [--quick]
#include <arpa/inet.h>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdexcept>
#include <string>
#include <sys/resource.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "uring_bench.hpp"

namespace {

using gatio::bench::die;
using gatio::bench::next_sqe;
using gatio::bench::wait_one;

constexpr std::size_t chunk = 256 * 1024;

double cpu_us(int who) {
    rusage u{};
    ::getrusage(who, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e6 +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

struct Link {
    int send_fd = -1;
    int recv_fd = -1;
};

Link connect_pair() {
    int l = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(l, 1) != 0 ||
        ::getsockname(l, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
        die("listen", errno);
    }
    Link k;
    k.send_fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (::connect(k.send_fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        die("connect", errno);
    }
    k.recv_fd = ::accept(l, nullptr, nullptr);
    ::close(l);
    return k;
}

// Sends all of buf[0..n) (partial sends continued); `fixed` uses SEND_ZC of registered buffer 0.
void send_all(io_uring& ring, int sock, const std::uint8_t* buf, std::size_t n, bool fixed) {
    std::size_t off = 0;
    while (off < n) {
        io_uring_sqe* sqe = next_sqe(ring);
        if (fixed) {
            io_uring_prep_send_zc_fixed(sqe, sock, buf + off, n - off, MSG_NOSIGNAL, 0, 0);
        } else {
            io_uring_prep_send(sqe, sock, buf + off, n - off, MSG_NOSIGNAL);
        }
        io_uring_submit(&ring);
        int sent = -1;
        bool notified = !fixed;
        bool more = true;
        while (more || !notified) {
            io_uring_cqe c = wait_one(ring);
            if ((c.flags & IORING_CQE_F_NOTIF) != 0) {
                notified = true;
                continue;
            }
            sent = c.res;
            more = false;
            if ((c.flags & IORING_CQE_F_MORE) == 0) {
                notified = true; // no notification follows
            }
        }
        if (sent <= 0) {
            die("send", -sent);
        }
        off += static_cast<std::size_t>(sent);
    }
}

void read_send(io_uring& ring, int file, std::size_t size, int sock, std::uint8_t* buf, bool fixed) {
    for (std::size_t at = 0; at < size; at += chunk) {
        const auto n = static_cast<unsigned>(std::min(chunk, size - at));
        io_uring_sqe* sqe = next_sqe(ring);
        if (fixed) {
            io_uring_prep_read_fixed(sqe, file, buf, n, at, 0);
        } else {
            io_uring_prep_read(sqe, file, buf, n, at);
        }
        io_uring_submit(&ring);
        io_uring_cqe c = wait_one(ring);
        if (c.res <= 0) {
            die("read", -c.res);
        }
        send_all(ring, sock, buf, static_cast<std::size_t>(c.res), fixed);
    }
}

void splice_send(io_uring& ring, int file, std::size_t size, int sock, const int pipe_fds[2],
                 std::size_t pipe_size) {
    for (std::size_t at = 0; at < size;) {
        const auto n = static_cast<unsigned>(std::min(pipe_size, size - at));
        io_uring_sqe* in = next_sqe(ring);
        io_uring_prep_splice(in, file, static_cast<std::int64_t>(at), pipe_fds[1], -1, n, 0);
        in->flags |= IOSQE_IO_LINK;
        io_uring_sqe* out = next_sqe(ring);
        io_uring_prep_splice(out, pipe_fds[0], -1, sock, -1, n, 0);
        io_uring_submit(&ring);
        io_uring_cqe a = wait_one(ring);
        io_uring_cqe b = wait_one(ring);
        if (a.res <= 0 || b.res <= 0) {
            die("splice", a.res <= 0 ? -a.res : -b.res);
        }
        // A short second splice leaves bytes in the pipe: drain them before going on.
        int left = a.res - b.res;
        while (left > 0) {
            io_uring_sqe* more = next_sqe(ring);
            io_uring_prep_splice(more, pipe_fds[0], -1, sock, -1, static_cast<unsigned>(left), 0);
            io_uring_submit(&ring);
            io_uring_cqe c = wait_one(ring);
            if (c.res <= 0) {
                die("splice", -c.res);
            }
            left -= c.res;
        }
        at += static_cast<std::size_t>(a.res);
    }
}

} // namespace

int main(int argc, char** argv) {
    const bool quick = argc > 1 && std::string(argv[1]) == "--quick";
    io_uring ring{};
    if (int r = io_uring_queue_init(64, &ring, 0); r < 0) {
        die("io_uring_queue_init", -r);
    }
    std::vector<std::uint8_t> storage(chunk + 4096);
    auto* buf = reinterpret_cast<std::uint8_t*>((reinterpret_cast<std::uintptr_t>(storage.data()) + 4095) &
                                                ~std::uintptr_t{4095});
    iovec reg{buf, chunk};
    const bool have_fixed = io_uring_register_buffers(&ring, &reg, 1) == 0;
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
        die("pipe", errno);
    }
    const int pipe_size = ::fcntl(pipe_fds[1], F_SETPIPE_SZ, static_cast<int>(chunk));
    const std::size_t pipe_bytes = pipe_size > 0 ? static_cast<std::size_t>(pipe_size) : 65536;

    Link link = connect_pair();
    std::atomic<bool> stop{false};
    std::atomic<double> reader_cpu{0};
    std::thread reader([&] {
        std::vector<char> sink(1 << 20);
        while (!stop.load(std::memory_order_relaxed)) {
            if (::recv(link.recv_fd, sink.data(), sink.size(), 0) <= 0) {
                break;
            }
        }
        reader_cpu.store(cpu_us(RUSAGE_THREAD));
    });

    std::printf("%-8s %-10s %12s %12s\n", "size", "method", "us/file", "cpu-us/file");
    for (std::size_t size : {std::size_t{4096}, std::size_t{1} << 20}) {
        char path[] = "/tmp/file_send_bench-XXXXXX";
        int file = ::mkstemp(path);
        ::unlink(path);
        std::vector<std::uint8_t> content(size, 'f');
        if (::pwrite(file, content.data(), size, 0) != static_cast<ssize_t>(size)) {
            die("pwrite", errno);
        }
        const int rounds = (size == 4096 ? 20000 : 500) / (quick ? 10 : 1);
        for (const char* method : {"read+send", "splice", "fixed+zc"}) {
            const std::string m = method;
            if (m == "fixed+zc" && !have_fixed) {
                continue;
            }
            const double cpu_before = cpu_us(RUSAGE_SELF);
            const auto t0 = std::chrono::steady_clock::now();
            for (int i = 0; i < rounds; ++i) {
                if (m == "splice") {
                    splice_send(ring, file, size, link.send_fd, pipe_fds, pipe_bytes);
                } else {
                    read_send(ring, file, size, link.send_fd, buf, m == "fixed+zc");
                }
            }
            const auto t1 = std::chrono::steady_clock::now();
            const double cpu = cpu_us(RUSAGE_SELF) - cpu_before;
            const double wall = std::chrono::duration<double, std::micro>(t1 - t0).count();
            std::printf("%-8zu %-10s %12.2f %12.2f\n", size, method, wall / rounds, cpu / rounds);
        }
        ::close(file);
    }
    stop.store(true);
    ::shutdown(link.send_fd, SHUT_WR);
    reader.join();
    std::printf("(cpu-us/file is the whole process, the draining reader thread included: %.0f us in all)\n",
                reader_cpu.load());
    io_uring_queue_exit(&ring);
    return 0;
}
