// What a gathered send costs through io_uring, by way of the kernel's interface:
//   sendmsg       IORING_OP_SENDMSG with a msghdr and an iovec of the slices (what gatiod's
//                 output queue does for output of several slices)
//   send bundle   IORING_OP_SEND with IORING_RECVSEND_BUNDLE (Linux 6.10) from a provided-buffer
//                 ring of the sending connection's own: the same slices, in place, are added to
//                 the ring as its buffers before each send, and the kernel gathers them from it
// The slices are never copied in either mode: a send bundle can take gatiod's chunks where they
// lie, but only from a buffer group that holds nothing else, so each connection with a send in
// flight would need a ring of its own (one registration each, a page of ring entries). Each send
// waits for its completion before the next, as a connection's sends do; a child process on
// another CPU drains the sink, so the parent's CPU time is the cost of the mode alone.
//
//   send_bundle_bench [sends] [forwarder CPU] [drainer CPU]     (defaults: 200000, 1, 0)
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include "uring_bench.hpp"

namespace {

using gatio::bench::cpu_seconds;
using gatio::bench::die;
using gatio::bench::pin;
using gatio::bench::wait_one;

// Linux 6.10's bundle flag in sqe->ioprio, which Debian 12's headers predate.
constexpr unsigned recvsend_bundle = 1u << 4;
constexpr unsigned ring_entries = 64; // buffer-ring entries: more than the slices of one send
constexpr unsigned short group = 7;

// A loopback connection: [0] the sender's end, [1] the sink's.
void connect_pair(int fds[2]) {
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (listener < 0 || bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        listen(listener, 1) != 0 || getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        die("listen", errno);
    }
    fds[0] = socket(AF_INET, SOCK_STREAM, 0);
    if (fds[0] < 0 || connect(fds[0], reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        die("connect", errno);
    }
    fds[1] = accept(listener, nullptr, nullptr);
    if (fds[1] < 0) {
        die("accept", errno);
    }
    int one = 1;
    setsockopt(fds[0], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    close(listener);
}

// The sink's end is drained by a child, which closes the sender's so that the last close ends it.
pid_t drain(int fd, int other, int cpu) {
    pid_t pid = fork();
    if (pid == 0) {
        close(other);
        pin(cpu);
        std::vector<char> buf(1 << 20);
        while (read(fd, buf.data(), buf.size()) > 0) {
        }
        _exit(0);
    }
    return pid;
}

struct Result {
    double cpu_us_per_send;
    double seconds;
    long shorts;       // sends that took less than they were given
    std::size_t bytes; // sent in all
};

enum class Mode { sendmsg, bundle };

Result run(Mode mode, unsigned slices, unsigned slice_size, long sends, int cpu, int drain_cpu) {
    int fds[2];
    connect_pair(fds);
    pid_t child = drain(fds[1], fds[0], drain_cpu);
    close(fds[1]);
    pin(cpu);

    io_uring ring{};
    io_uring_params p{};
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    if (int ret = io_uring_queue_init_params(8, &ring, &p); ret < 0) {
        die("io_uring_queue_init_params", -ret);
    }
    // The slices lie apart, as a connection's output chunks do.
    std::vector<char> memory(static_cast<std::size_t>(slices) * 4096 + slice_size, 'x');
    std::vector<iovec> iov(slices);
    std::size_t total = 0;
    for (unsigned i = 0; i < slices; ++i) {
        iov[i] = {memory.data() + static_cast<std::size_t>(i) * 4096, slice_size};
        total += slice_size;
    }
    msghdr msg{};
    msg.msg_iov = iov.data();
    msg.msg_iovlen = slices;

    io_uring_buf_ring* br = nullptr;
    const std::size_t map_size = sizeof(io_uring_buf) * ring_entries;
    if (mode == Mode::bundle) {
        void* map = mmap(nullptr, map_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (map == MAP_FAILED) {
            die("mmap", errno);
        }
        br = static_cast<io_uring_buf_ring*>(map);
        io_uring_buf_ring_init(br);
        io_uring_buf_reg reg{};
        reg.ring_addr = reinterpret_cast<std::uint64_t>(map);
        reg.ring_entries = ring_entries;
        reg.bgid = group;
        if (int ret = io_uring_register_buf_ring(&ring, &reg, 0); ret < 0) {
            die("io_uring_register_buf_ring", -ret);
        }
    }
    const int mask = io_uring_buf_ring_mask(ring_entries);

    long shorts = 0;
    std::size_t bytes = 0;
    const double cpu0 = cpu_seconds();
    const auto t0 = std::chrono::steady_clock::now();
    for (long n = 0; n < sends; ++n) {
        io_uring_sqe* sqe = io_uring_get_sqe(&ring);
        if (mode == Mode::sendmsg) {
            io_uring_prep_sendmsg(sqe, fds[0], &msg, 0);
        } else {
            for (unsigned i = 0; i < slices; ++i) {
                io_uring_buf_ring_add(br, iov[i].iov_base, static_cast<unsigned>(iov[i].iov_len),
                                      static_cast<unsigned short>(i), mask, static_cast<int>(i));
            }
            io_uring_buf_ring_advance(br, static_cast<int>(slices));
            io_uring_prep_send(sqe, fds[0], nullptr, 0, 0);
            sqe->flags |= IOSQE_BUFFER_SELECT;
            sqe->buf_group = group;
            sqe->ioprio |= recvsend_bundle;
        }
        if (int ret = io_uring_submit_and_wait(&ring, 1); ret < 0) {
            die("io_uring_submit_and_wait", -ret);
        }
        const int res = wait_one(ring).res;
        if (res < 0) {
            die(mode == Mode::sendmsg ? "sendmsg" : "send bundle", -res);
        }
        if (static_cast<std::size_t>(res) != total) {
            // Either stops where the socket's buffer is full. The rest is not sent again (the
            // cost measured is per send, not per byte); a bundle's untouched buffers stay in the
            // ring and go with the next send.
            ++shorts;
        }
        bytes += static_cast<std::size_t>(res);
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double used = cpu_seconds() - cpu0;
    close(fds[0]);
    io_uring_queue_exit(&ring);
    if (br != nullptr) {
        munmap(br, map_size);
    }
    waitpid(child, nullptr, 0);
    return {used / static_cast<double>(sends) * 1e6, seconds, shorts, bytes};
}

} // namespace

int main(int argc, char** argv) {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    const long sends = argc > 1 ? std::atol(argv[1]) : 200000;
    const int cpu = argc > 2 ? std::atoi(argv[2]) : 1;
    const int drain_cpu = argc > 3 ? std::atoi(argv[3]) : 0;
    struct Shape {
        unsigned slices, size;
    };
    // Pipelined small replies, and output of a few whole 4 KiB chunks.
    for (Shape shape : {Shape{16, 64}, Shape{4, 4096}}) {
        for (Mode mode : {Mode::sendmsg, Mode::bundle, Mode::sendmsg, Mode::bundle}) {
            Result r = run(mode, shape.slices, shape.size, sends, cpu, drain_cpu);
            std::printf("%-12s %2u x %4u bytes: %.3f us CPU per send, %.0f sends/s, %ld short, %.1f MiB\n",
                        mode == Mode::sendmsg ? "sendmsg" : "send bundle", shape.slices, shape.size,
                        r.cpu_us_per_send, static_cast<double>(sends) / r.seconds, r.shorts,
                        static_cast<double>(r.bytes) / (1 << 20));
        }
    }
    return 0;
}
