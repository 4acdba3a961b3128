// seccomp_exec ERRNO PROGRAM [ARGS...]
//
// Runs PROGRAM under a seccomp filter that makes io_uring_setup fail with ERRNO (EPERM or
// ENOSYS), the way container runtimes' default profiles do, so that tests can check how
// gatiod explains an unusable io_uring. Every other system call is allowed.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <seccomp.h>
#include <unistd.h>

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: seccomp_exec EPERM|ENOSYS PROGRAM [ARGS...]\n");
        return 64;
    }
    int err = 0;
    if (std::strcmp(argv[1], "EPERM") == 0) {
        err = EPERM;
    } else if (std::strcmp(argv[1], "ENOSYS") == 0) {
        err = ENOSYS;
    } else {
        std::fprintf(stderr, "seccomp_exec: unknown errno %s (expected EPERM or ENOSYS)\n", argv[1]);
        return 64;
    }
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (ctx == nullptr) {
        std::fprintf(stderr, "seccomp_exec: seccomp_init failed\n");
        return 70;
    }
    int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(err), SCMP_SYS(io_uring_setup), 0);
    if (rc == 0) {
        rc = seccomp_load(ctx);
    }
    seccomp_release(ctx);
    if (rc != 0) {
        std::fprintf(stderr, "seccomp_exec: installing the filter failed: %s\n", std::strerror(-rc));
        return 70;
    }
    execv(argv[2], argv + 2);
    std::fprintf(stderr, "seccomp_exec: execv %s: %s\n", argv[2], std::strerror(errno));
    return 70;
}
