// One io_uring, set up with the best the running kernel offers.
//
// Each optional set-up flag is tried and dropped on EINVAL in a fixed order, so an older
// kernel gets a working ring with fewer features rather than none; RingFeatures records what
// the ring really got so callers never guess. Features that set-up cannot show (opcodes,
// multishot recv) come from the one kernel probe (core/capabilities.hpp).
#pragma once

#include <cstdint>
#include <liburing.h>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "core/capabilities.hpp"

namespace gatio::core {

// Kernel ABI values newer than the oldest supported distribution's headers (Debian 12: Linux
// 6.1 headers, liburing 2.3), spelled as the kernel defines them.
namespace uapi {
inline constexpr std::uint32_t feat_recvsend_bundle = 1U << 14; // IORING_FEAT_RECVSEND_BUNDLE, 6.10
inline constexpr std::uint32_t feat_min_timeout = 1U << 15;     // IORING_FEAT_MIN_TIMEOUT, 6.12
inline constexpr std::uint16_t recvsend_bundle = 1U << 4;       // IORING_RECVSEND_BUNDLE in sqe->ioprio
inline constexpr std::uint16_t pbuf_ring_inc = 2;               // IOU_PBUF_RING_INC in io_uring_buf_reg, 6.12
inline constexpr std::uint32_t cqe_f_buf_more = 1U << 4;        // IORING_CQE_F_BUF_MORE
// struct io_uring_getevents_arg as of 6.12: min_wait_usec took the place of pad.
struct GeteventsArg {
    std::uint64_t sigmask;
    std::uint32_t sigmask_sz;
    std::uint32_t min_wait_usec;
    std::uint64_t ts;
};
} // namespace uapi

struct RingFeatures {
    std::uint32_t setup_flags = 0; // IORING_SETUP_* the ring was created with
    std::uint32_t sq_entries = 0;
    std::uint32_t cq_entries = 0;
    bool single_issuer = false;
    bool defer_taskrun = false;
    bool coop_taskrun = false;
    bool submit_all = false;
    bool registered_ring_fd = false; // io_uring_enter goes through a registered ring index
    bool direct_descriptors = false; // a sparse registered file table of file_slots entries exists
    std::uint32_t file_slots = 0;
    bool multishot_recv = false; // multishot recv/recvmsg with provided buffer rings usable
    bool single_send = false;    // IORING_OP_SEND for output of one slice (else sendmsg)
    bool msg_ring = false;       // IORING_OP_MSG_RING usable for cross-driver wake-ups
    bool connect = false;        // KernelSupport::connect
    bool files = false;          // KernelSupport::files
    bool openat2 = false;        // KernelSupport::openat2
    bool zerocopy_send = false;  // KernelSupport::zerocopy_send
    bool cqe_skip = false;       // IOSQE_CQE_SKIP_SUCCESS
    bool nodrop = false;         // the kernel keeps overflowed CQEs instead of dropping them
    bool ext_arg = false;
    bool min_wait = false; // blocking waits take a minimum wait ([io_uring] min_wait, FEAT_MIN_TIMEOUT)
    bool recv_bundle =
        false; // multishot receives take bundles ([io_uring] recv_bundle, FEAT_RECVSEND_BUNDLE)
    bool taskrun_flag = false; // the kernel flags pending task work in the SQ ring (IORING_SQ_TASKRUN)
    // Receive buffer rings are consumed incrementally ([io_uring] pbuf_incremental, IOU_PBUF_RING_INC).
    bool pbuf_incremental = false;

    // e.g. "sq=1024 cq=4096 single_issuer defer_taskrun ... -msg_ring"
    std::string describe() const;
};

// One message for each [io_uring] switch `tuning` turns on that `kernel` lacks, naming what the
// drivers do instead: the daemon logs them once, where every ring would drop the switch alone.
std::vector<std::string> unavailable_switches(const config::IoUringTuning& tuning,
                                              const KernelSupport& kernel);

// io_uring_setup refused a ring; error() is its errno.
class RingSetupError : public std::runtime_error {
public:
    RingSetupError(const std::string& what, int error) : std::runtime_error(what), error_(error) {}
    int error() const { return error_; }

private:
    int error_;
};

class Ring {
public:
    // Creates a driver's ring on the calling thread (with SINGLE_ISSUER it must be the only
    // thread that submits). kernel: what the probe found; file_slots: sparse registered file
    // table size, 0 for none. Throws RingSetupError when no set-up works, std::runtime_error
    // naming the step and errno text for a later step.
    Ring(const config::RingSettings& settings, const config::IoUringTuning& tuning,
         const KernelSupport& kernel, std::uint32_t file_slots);
    // A ring of exactly `entries` entries and params.flags, nothing dropped or registered: the
    // probes' rings. The kernel fills the rest of `params`. Throws RingSetupError.
    Ring(unsigned entries, io_uring_params& params);
    ~Ring();
    Ring(const Ring&) = delete;
    Ring& operator=(const Ring&) = delete;

    io_uring& raw() { return ring_; }
    const RingFeatures& features() const { return features_; }
    int fd() const { return ring_.ring_fd; } // the real descriptor, for MSG_RING targets

    // Overflow state: the kernel has CQEs it could not post (NODROP keeps them in a backlog
    // until the next io_uring_enter with GETEVENTS).
    bool cq_overflow_pending() const { return io_uring_cq_has_overflow(&ring_); }
    // CQEs the kernel dropped since the last call (only without NODROP).
    std::uint32_t take_dropped();

private:
    void record(const io_uring_params& params);

    io_uring ring_{};
    RingFeatures features_;
    std::uint32_t dropped_seen_ = 0;
};

} // namespace gatio::core
