// What forwarding bytes from one TCP socket to another costs through io_uring, by way of copy:
//   recv/send     IORING_OP_RECV into a user buffer, then IORING_OP_SEND of what came (what
//                 the proxy plugin does, through the host's provided buffers and output queue)
//   splice        IORING_OP_SPLICE socket -> pipe linked to IORING_OP_SPLICE pipe -> socket:
//                 the bytes never reach user memory
//   send_zc fixed IORING_OP_RECV into a registered buffer, then IORING_OP_SEND_ZC from it
//                 (io_uring_prep_send_zc_fixed): the send side copies nothing
// Each mode moves the same byte count over loopback; a child process on another CPU feeds the
// source and drains the sink, so the parent's CPU time (the forwarding thread and any io-wq
// worker the kernel punts to) is the cost of the mode alone.
//
//   forward_bench [MiB] [forwarder CPU] [feeder CPU]     (defaults: 1024, 1, 0)
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <string>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace {

constexpr std::size_t chunk = 64 << 10;

[[noreturn]] void die(const char* what, int err) {
    std::fprintf(stderr, "forward_bench: %s: %s\n", what, std::strerror(err));
    std::exit(1);
}

// The next submission entry; the ring is sized so that one is always free, so none is a bug.
io_uring_sqe* next_sqe(io_uring& ring) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring);
    if (sqe == nullptr) {
        die("io_uring_get_sqe", EBUSY);
    }
    return sqe;
}

void pin(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) {
        die("sched_setaffinity", errno);
    }
}

// A connected loopback pair: [0] the accepted end, [1] the connecting end.
void tcp_pair(int out[2]) {
    const int l = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(l, 1) != 0 ||
        ::getsockname(l, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
        die("listen", errno);
    }
    out[1] = ::socket(AF_INET, SOCK_STREAM, 0);
    if (::connect(out[1], reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        die("connect", errno);
    }
    out[0] = ::accept(l, nullptr, nullptr);
    ::close(l);
}

io_uring_cqe* wait_one(io_uring& ring) {
    io_uring_cqe* cqe = nullptr;
    const int r = io_uring_wait_cqe(&ring, &cqe);
    if (r < 0) {
        die("io_uring_wait_cqe", -r);
    }
    return cqe;
}

// Moves `total` bytes from `in` to `out` in `mode`; false when the kernel refuses the mode.
bool forward(const std::string& mode, int in, int out, std::uint64_t total) {
    io_uring ring;
    if (int r = io_uring_queue_init(64, &ring, 0); r < 0) {
        die("io_uring_queue_init", -r);
    }
    std::vector<char> buf(chunk);
    iovec reg{buf.data(), buf.size()};
    int pipe_fds[2] = {-1, -1};
    if (mode == "splice") {
        if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
            die("pipe2", errno);
        }
        ::fcntl(pipe_fds[1], F_SETPIPE_SZ, static_cast<int>(chunk));
    } else if (mode == "send_zc fixed") {
        if (int r = io_uring_register_buffers(&ring, &reg, 1); r < 0) {
            die("io_uring_register_buffers", -r);
        }
    }
    std::uint64_t moved = 0;
    bool ok = true;
    while (moved < total && ok) {
        if (mode == "splice") {
            // Into the pipe, then out of it: each step waits for the one before (a link would
            // be cut by a short first splice, leaving bytes in the pipe).
            io_uring_sqe* a = next_sqe(ring);
            io_uring_prep_splice(a, in, -1, pipe_fds[1], -1, chunk, SPLICE_F_MOVE);
            io_uring_submit(&ring);
            io_uring_cqe* cqe = wait_one(ring);
            const int got = cqe->res;
            io_uring_cqe_seen(&ring, cqe);
            if (got <= 0) {
                std::fprintf(stderr, "forward_bench: splice in: %s\n",
                             got == 0 ? "end" : std::strerror(-got));
                ok = false;
                break;
            }
            int out_done = 0;
            while (out_done < got && ok) {
                io_uring_sqe* b = next_sqe(ring);
                io_uring_prep_splice(b, pipe_fds[0], -1, out, -1, static_cast<unsigned>(got - out_done),
                                     SPLICE_F_MOVE);
                io_uring_submit(&ring);
                cqe = wait_one(ring);
                if (cqe->res <= 0) {
                    std::fprintf(stderr, "forward_bench: splice out: %s\n", std::strerror(-cqe->res));
                    ok = false;
                } else {
                    out_done += cqe->res;
                }
                io_uring_cqe_seen(&ring, cqe);
            }
            moved += static_cast<std::uint64_t>(out_done);
            continue;
        }
        io_uring_sqe* r = next_sqe(ring);
        io_uring_prep_recv(r, in, buf.data(), chunk, 0);
        io_uring_submit(&ring);
        io_uring_cqe* cqe = wait_one(ring);
        const int got = cqe->res;
        io_uring_cqe_seen(&ring, cqe);
        if (got <= 0) {
            std::fprintf(stderr, "forward_bench: recv: %s\n",
                         got == 0 ? "end of stream" : std::strerror(-got));
            ok = false;
            break;
        }
        int sent = 0;
        while (sent < got && ok) {
            io_uring_sqe* s = next_sqe(ring);
            const auto n = static_cast<std::size_t>(got - sent);
            if (mode == "send_zc fixed") {
                io_uring_prep_send_zc_fixed(s, out, buf.data() + sent, n, MSG_NOSIGNAL, 0, 0);
            } else {
                io_uring_prep_send(s, out, buf.data() + sent, n, MSG_NOSIGNAL);
            }
            io_uring_submit(&ring);
            // A zero-copy send completes twice: the result, then the notice that the buffer is
            // free again (IORING_CQE_F_NOTIF), which must come before the buffer is reused.
            bool more = true;
            while (more) {
                cqe = wait_one(ring);
                if ((cqe->flags & IORING_CQE_F_NOTIF) == 0) {
                    if (cqe->res < 0) {
                        std::fprintf(stderr, "forward_bench: %s: %s\n", mode.c_str(),
                                     std::strerror(-cqe->res));
                        ok = false;
                    } else {
                        sent += cqe->res;
                    }
                }
                more = (cqe->flags & IORING_CQE_F_MORE) != 0;
                io_uring_cqe_seen(&ring, cqe);
            }
        }
        moved += static_cast<std::uint64_t>(sent);
    }
    if (pipe_fds[0] >= 0) {
        ::close(pipe_fds[0]);
        ::close(pipe_fds[1]);
    }
    io_uring_queue_exit(&ring);
    return ok;
}

double cpu_seconds() {
    rusage u{};
    ::getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

} // namespace

int main(int argc, char** argv) {
    const std::uint64_t mib = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1024;
    const int forwarder_cpu = argc > 2 ? std::atoi(argv[2]) : 1;
    const int feeder_cpu = argc > 3 ? std::atoi(argv[3]) : 0;
    const std::uint64_t total = mib << 20;
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    std::printf("%-14s %10s %12s %14s\n", "mode", "MiB", "MiB/s", "CPU ms/GiB");
    for (const std::string mode : {"recv/send", "splice", "send_zc fixed"}) {
        int src[2], dst[2];
        tcp_pair(src);
        tcp_pair(dst);
        const pid_t child = ::fork();
        if (child == 0) {
            // Feeds src[1] and drains dst[1] from one thread with poll-free blocking halves.
            pin(feeder_cpu);
            ::close(src[0]);
            ::close(dst[0]);
            if (::fork() == 0) {
                std::vector<char> sink(1 << 20);
                std::uint64_t got = 0;
                while (got < total) {
                    const ssize_t n = ::recv(dst[1], sink.data(), sink.size(), 0);
                    if (n <= 0) {
                        _exit(1);
                    }
                    got += static_cast<std::uint64_t>(n);
                }
                _exit(0);
            }
            std::vector<char> data(1 << 20, 'x');
            std::uint64_t put = 0;
            while (put < total) {
                const ssize_t n = ::send(src[1], data.data(),
                                         std::min<std::uint64_t>(data.size(), total - put), MSG_NOSIGNAL);
                if (n <= 0) {
                    _exit(1);
                }
                put += static_cast<std::uint64_t>(n);
            }
            int status = 0;
            ::wait(&status);
            _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
        }
        pin(forwarder_cpu);
        ::close(src[1]);
        ::close(dst[1]);
        const double cpu0 = cpu_seconds();
        const auto t0 = std::chrono::steady_clock::now();
        const bool ok = forward(mode, src[0], dst[0], total);
        const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const double cpu = cpu_seconds() - cpu0;
        ::close(src[0]);
        ::close(dst[0]);
        int status = 0;
        ::waitpid(child, &status, 0);
        if (!ok || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            std::printf("%-14s %10s\n", mode.c_str(), "failed");
            continue;
        }
        std::printf("%-14s %10llu %12.0f %14.1f\n", mode.c_str(), static_cast<unsigned long long>(mib),
                    static_cast<double>(mib) / wall, cpu * 1000 / (static_cast<double>(mib) / 1024));
    }
    return 0;
}
