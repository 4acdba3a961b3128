// What the io_uring bench programs share: failing with the program's name, the next submission
// entry, pinning to a CPU, waiting for one completion and the process's CPU time.
#pragma once

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <liburing.h>
#include <sched.h>
#include <sys/resource.h>

namespace gatio::bench {

[[noreturn]] inline void die(const char* what, int err) {
    std::fprintf(stderr, "%s: %s: %s\n", program_invocation_short_name, what, std::strerror(err));
    std::exit(1);
}

// The next submission entry; the rings are sized so that one is always free, so none is a bug.
inline io_uring_sqe* next_sqe(io_uring& ring) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring);
    if (sqe == nullptr) {
        die("io_uring_get_sqe", EBUSY);
    }
    return sqe;
}

inline void pin(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) {
        die("sched_setaffinity", errno);
    }
}

// The next completion, copied out of the ring.
inline io_uring_cqe wait_one(io_uring& ring) {
    io_uring_cqe* cqe = nullptr;
    const int r = io_uring_wait_cqe(&ring, &cqe);
    if (r < 0) {
        die("io_uring_wait_cqe", -r);
    }
    const io_uring_cqe copy = *cqe;
    io_uring_cqe_seen(&ring, cqe);
    return copy;
}

// The process's CPU time so far (user and system, every thread), in seconds.
inline double cpu_seconds() {
    rusage u{};
    ::getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

} // namespace gatio::bench
