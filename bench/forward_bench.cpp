// What forwarding bytes from one TCP socket to another costs through io_uring, by way of copy:
//   recv/send     IORING_OP_RECV into a user buffer, then IORING_OP_SEND of what came (what
//                 the proxy plugin does, through the host's provided buffers and output queue)
//   splice        IORING_OP_SPLICE socket -> pipe linked to IORING_OP_SPLICE pipe -> socket:
//                 the bytes never reach user memory
//   send_zc fixed IORING_OP_RECV into a registered buffer, then IORING_OP_SEND_ZC from it
//                 (io_uring_prep_send_zc_fixed): the send side copies nothing
//   recv pbuf     IORING_OP_RECV into a provided buffer of 16 KiB (gatiod's default buffer
//                 ring), then IORING_OP_SENDMSG straight from it (what send_received does)
//   recv bundle   the same with IORING_RECVSEND_BUNDLE (Linux 6.10): one receive fills as many
//                 consecutive provided buffers as the socket holds, sent with one gathered
//                 sendmsg
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

#include "uring_bench.hpp"

namespace {

using gatio::bench::cpu_seconds;
using gatio::bench::die;
using gatio::bench::next_sqe;
using gatio::bench::pin;

constexpr std::size_t chunk = 64 << 10;
// The provided-buffer modes: buffers of gatiod's default size, enough of them for a bundle to
// take what a loopback socket usually holds.
constexpr unsigned pbuf_size = 16 << 10;
constexpr unsigned pbuf_count = 64;
// Linux 6.10's bundle flag in sqe->ioprio, which Debian 12's headers predate.
constexpr unsigned recvsend_bundle = 1u << 4;

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

// The provided-buffer modes: receive into the ring (one buffer, or a bundle of consecutive
// ones), send what came from those buffers, give them back in order.
bool forward_provided(bool bundle, int in, int out, std::uint64_t total) {
    io_uring ring;
    if (int r = io_uring_queue_init(64, &ring, 0); r < 0) {
        die("io_uring_queue_init", -r);
    }
    const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    void* ring_mem = nullptr;
    if (::posix_memalign(&ring_mem, page, sizeof(io_uring_buf) * pbuf_count) != 0) {
        die("posix_memalign", ENOMEM);
    }
    auto* br = static_cast<io_uring_buf_ring*>(ring_mem);
    std::vector<char> data(static_cast<std::size_t>(pbuf_count) * pbuf_size);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<std::uintptr_t>(br);
    reg.ring_entries = pbuf_count;
    reg.bgid = 0;
    if (int r = io_uring_register_buf_ring(&ring, &reg, 0); r < 0) {
        die("io_uring_register_buf_ring", -r);
    }
    io_uring_buf_ring_init(br);
    const int mask = io_uring_buf_ring_mask(pbuf_count);
    for (unsigned i = 0; i < pbuf_count; ++i) {
        io_uring_buf_ring_add(br, data.data() + static_cast<std::size_t>(i) * pbuf_size, pbuf_size,
                              static_cast<unsigned short>(i), mask, static_cast<int>(i));
    }
    io_uring_buf_ring_advance(br, static_cast<int>(pbuf_count));
    std::uint64_t moved = 0;
    bool ok = true;
    std::vector<iovec> iov(pbuf_count);
    while (moved < total && ok) {
        io_uring_sqe* r = next_sqe(ring);
        io_uring_prep_recv(r, in, nullptr, 0, 0);
        r->flags |= IOSQE_BUFFER_SELECT;
        r->buf_group = 0;
        if (bundle) {
            r->ioprio |= recvsend_bundle;
        }
        io_uring_submit(&ring);
        io_uring_cqe* cqe = wait_one(ring);
        const int got = cqe->res;
        const unsigned first = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
        const bool has = (cqe->flags & IORING_CQE_F_BUFFER) != 0;
        io_uring_cqe_seen(&ring, cqe);
        if (got <= 0 || !has) {
            std::fprintf(stderr, "forward_bench: recv: %s\n",
                         got == 0 ? "end of stream" : std::strerror(-got));
            ok = false;
            break;
        }
        // A bundle takes buffers in ring order, which is id order here: they are given back so.
        const unsigned used = (static_cast<unsigned>(got) + pbuf_size - 1) / pbuf_size;
        std::size_t n = 0;
        for (unsigned k = 0, left = static_cast<unsigned>(got); k < used; ++k) {
            const unsigned id = (first + k) % pbuf_count;
            const unsigned len = left < pbuf_size ? left : pbuf_size;
            iov[n++] = iovec{data.data() + static_cast<std::size_t>(id) * pbuf_size, len};
            left -= len;
        }
        std::size_t at = 0;
        int sent = 0;
        while (sent < got && ok) {
            msghdr msg{};
            msg.msg_iov = iov.data() + at;
            msg.msg_iovlen = n - at;
            io_uring_prep_sendmsg(next_sqe(ring), out, &msg, MSG_NOSIGNAL);
            io_uring_submit(&ring);
            cqe = wait_one(ring);
            const int res = cqe->res;
            io_uring_cqe_seen(&ring, cqe);
            if (res <= 0) {
                std::fprintf(stderr, "forward_bench: sendmsg: %s\n", std::strerror(-res));
                ok = false;
                break;
            }
            sent += res;
            // Partly sent: go on from where the kernel stopped.
            for (auto left = static_cast<std::size_t>(res); left > 0;) {
                const std::size_t take = left < iov[at].iov_len ? left : iov[at].iov_len;
                iov[at].iov_base = static_cast<char*>(iov[at].iov_base) + take;
                iov[at].iov_len -= take;
                left -= take;
                at += iov[at].iov_len == 0 ? 1 : 0;
            }
        }
        for (unsigned k = 0; k < used; ++k) {
            const unsigned id = (first + k) % pbuf_count;
            io_uring_buf_ring_add(br, data.data() + static_cast<std::size_t>(id) * pbuf_size, pbuf_size,
                                  static_cast<unsigned short>(id), mask, static_cast<int>(k));
        }
        io_uring_buf_ring_advance(br, static_cast<int>(used));
        moved += static_cast<std::uint64_t>(sent);
    }
    io_uring_queue_exit(&ring);
    std::free(ring_mem);
    return ok;
}

} // namespace

int main(int argc, char** argv) {
    const std::uint64_t mib = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1024;
    const int forwarder_cpu = argc > 2 ? std::atoi(argv[2]) : 1;
    const int feeder_cpu = argc > 3 ? std::atoi(argv[3]) : 0;
    const std::uint64_t total = mib << 20;
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    std::printf("%-14s %10s %12s %14s\n", "mode", "MiB", "MiB/s", "CPU ms/GiB");
    for (const std::string mode : {"recv/send", "splice", "send_zc fixed", "recv pbuf", "recv bundle"}) {
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
        const bool ok = mode.starts_with("recv ")
                            ? forward_provided(mode == "recv bundle", src[0], dst[0], total)
                            : forward(mode, src[0], dst[0], total);
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
