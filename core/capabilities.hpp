// What this kernel offers Gatio: the io_uring opcodes and setup features it relies on, the
// sysctl and resource limits that can forbid io_uring, and the NUMA layout. Probed by asking
// the kernel (io_uring_get_probe, tiny rings created and torn down), never by version numbers,
// since distributions backport features.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace gatio::core {

struct Capability {
    std::string name; // e.g. "ACCEPT", "DEFER_TASKRUN", "multishot recv"
    bool supported = false;
    std::string detail; // why it is missing, when the probe learnt more than "no"
};

// What the probe found that decides how a driver's ring is used. Probed once per process and
// handed to every ring (RuntimeOptions::kernel), so the drivers use exactly what the capability
// report shows.
struct KernelSupport {
    bool msg_ring = false;       // IORING_OP_MSG_RING is in the kernel's opcode table
    bool multishot_recv = false; // a multishot recv into a buffer ring completed and stayed armed
    bool connect = false;        // IORING_OP_CONNECT: handlers' outbound connections
    bool files = false;          // OPENAT, READ, WRITE, FSYNC, STATX, CLOSE and ASYNC_CANCEL: handlers' files
    bool openat2 = false;     // IORING_OP_OPENAT2 as well: opens confined with RESOLVE_BENEATH / NO_SYMLINKS
    bool send = false;        // IORING_OP_SEND is in the kernel's opcode table
    bool min_timeout = false; // IORING_FEAT_MIN_TIMEOUT: a wait's min_wait_usec (6.12)
    bool recv_bundle = false; // IORING_FEAT_RECVSEND_BUNDLE: receives fill several buffers (6.10)
    bool pbuf_incremental = false; // a buffer ring registered with IOU_PBUF_RING_INC (6.12)
    bool zerocopy_send = false; // READ_FIXED and SEND_ZC: lent buffers read and sent as fixed buffers (6.0)
};

struct KernelReport {
    std::string kernel_release; // uname -r
    int io_uring_disabled = -1; // kernel.io_uring_disabled; -1: the sysctl does not exist
    std::string setup_error;    // set when not even a plain ring could be created
    std::vector<Capability> opcodes;
    std::vector<Capability> features; // setup flags, registration and multishot features
    std::uint64_t memlock_soft = 0;   // RLIMIT_MEMLOCK in bytes; RLIM_INFINITY when unlimited
    std::uint64_t memlock_hard = 0;
    std::string machine;   // Machine::describe() of this process
    KernelSupport support; // from the same probes as opcodes and features

    std::string to_string() const; // the report printed by gatiod --version

    // One line naming every unsupported opcode and feature, "" when nothing is missing.
    std::string missing_summary() const;
};

// Probes the running kernel. Creates a few rings of 8 entries, a loopback listening socket and
// a socketpair, all closed before it returns. Never throws for an unsupported feature.
KernelReport probe_kernel();

// Whether this process can create an io_uring of `ring_entries` entries. When it cannot, one
// message naming the cause (sysctl, seccomp filter or security module, missing kernel support,
// locked-memory limit) and how to fix it.
std::optional<std::string> check_io_uring_usable(std::uint32_t ring_entries);

} // namespace gatio::core
