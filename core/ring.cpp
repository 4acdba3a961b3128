#include "core/ring.hpp"

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace gatio::core {

namespace {

std::string errno_text(int negative_errno) {
    return std::strerror(-negative_errno);
}

std::string setup_failed(unsigned sq, unsigned cq, int negative_errno) {
    return "io_uring setup (" + std::to_string(sq) + " SQ / " + std::to_string(cq) +
           " CQ entries): " + errno_text(negative_errno);
}

// The [io_uring] switches a kernel allows, decided here for the rings and for the daemon's
// one message per switch it must drop (unavailable_switches).
bool multishot_recv_on(const config::IoUringTuning& t, const KernelSupport& k) {
    return t.multishot_recv && k.multishot_recv;
}
bool recv_bundle_on(const config::IoUringTuning& t, const KernelSupport& k) {
    return t.recv_bundle && k.recv_bundle && multishot_recv_on(t, k);
}
bool pbuf_incremental_on(const config::IoUringTuning& t, const KernelSupport& k) {
    return t.pbuf_incremental && k.pbuf_incremental && multishot_recv_on(t, k);
}

} // namespace

std::string RingFeatures::describe() const {
    std::string out = "sq=" + std::to_string(sq_entries) + " cq=" + std::to_string(cq_entries);
    auto add = [&out](bool on, const char* name) {
        out += on ? " " : " -";
        out += name;
    };
    add(single_issuer, "single_issuer");
    add(defer_taskrun, "defer_taskrun");
    add(coop_taskrun, "coop_taskrun");
    add(submit_all, "submit_all");
    add(registered_ring_fd, "registered_ring_fd");
    add(direct_descriptors, "direct_descriptors");
    if (direct_descriptors) {
        out.append("(").append(std::to_string(file_slots)).append(")");
    }
    add(multishot_recv, "multishot_recv");
    add(single_send, "single_send");
    add(msg_ring, "msg_ring");
    add(cqe_skip, "cqe_skip");
    add(nodrop, "nodrop");
    add(ext_arg, "ext_arg");
    add(min_wait, "min_wait");
    add(recv_bundle, "recv_bundle");
    add(zerocopy_send, "zerocopy_send");
    add(taskrun_flag, "taskrun_flag");
    add(pbuf_incremental, "pbuf_incremental");
    return out;
}

std::vector<std::string> unavailable_switches(const config::IoUringTuning& tuning,
                                              const KernelSupport& kernel) {
    std::vector<std::string> out;
    if (tuning.recv_bundle && !recv_bundle_on(tuning, kernel)) {
        out.emplace_back(
            "[io_uring] recv_bundle: receive bundles need IORING_FEAT_RECVSEND_BUNDLE (Linux 6.10) "
            "and multishot receives; each receive takes one buffer");
    }
    if (tuning.pbuf_incremental && !pbuf_incremental_on(tuning, kernel)) {
        out.emplace_back(
            "[io_uring] pbuf_incremental: incremental buffer consumption needs IOU_PBUF_RING_INC "
            "(Linux 6.12) and multishot receives; each receive takes a whole buffer");
    }
    if (tuning.min_wait.count() > 0 && !kernel.min_timeout) {
        out.emplace_back(
            "[io_uring] min_wait: needs IORING_FEAT_MIN_TIMEOUT (Linux 6.12); blocking waits return "
            "on the first completion");
    }
    return out;
}

Ring::Ring(unsigned entries, io_uring_params& params) {
    const int ret = io_uring_queue_init_params(entries, &ring_, &params);
    if (ret < 0) {
        throw RingSetupError(setup_failed(entries, params.cq_entries, ret), -ret);
    }
    record(params);
    dropped_seen_ = *ring_.cq.koverflow;
}

void Ring::record(const io_uring_params& params) {
    features_.setup_flags = params.flags;
    features_.sq_entries = params.sq_entries;
    features_.cq_entries = params.cq_entries;
    features_.single_issuer = (params.flags & IORING_SETUP_SINGLE_ISSUER) != 0;
    features_.defer_taskrun = (params.flags & IORING_SETUP_DEFER_TASKRUN) != 0;
    features_.coop_taskrun = (params.flags & IORING_SETUP_COOP_TASKRUN) != 0;
    features_.submit_all = (params.flags & IORING_SETUP_SUBMIT_ALL) != 0;
    features_.taskrun_flag = (params.flags & IORING_SETUP_TASKRUN_FLAG) != 0;
    features_.nodrop = (params.features & IORING_FEAT_NODROP) != 0;
    features_.ext_arg = (params.features & IORING_FEAT_EXT_ARG) != 0;
    features_.cqe_skip = (params.features & IORING_FEAT_CQE_SKIP) != 0;
}

Ring::Ring(const config::RingSettings& settings, const config::IoUringTuning& tuning,
           const KernelSupport& kernel, std::uint32_t file_slots) {
    const std::uint32_t sq = settings.ring_entries;
    const std::uint32_t cq = sq * tuning.cq_factor;
    // Best first; each step drops what an older kernel rejects with EINVAL. DEFER_TASKRUN
    // (6.1) needs SINGLE_ISSUER (6.0); COOP_TASKRUN and SUBMIT_ALL came in 5.18/5.19. A
    // spinning driver also wants TASKRUN_FLAG with DEFER_TASKRUN: its completions wait as task
    // work until an io_uring_enter, and only that flag shows them without a system call.
    const bool spin = tuning.spin.count() > 0;
    const std::uint32_t attempts[] = {
        IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
            IORING_SETUP_TASKRUN_FLAG,
        IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
        IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN |
            IORING_SETUP_TASKRUN_FLAG,
        IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
        IORING_SETUP_SUBMIT_ALL,
        0,
    };
    int ret = -EINVAL;
    io_uring_params params{};
    for (std::uint32_t extra : attempts) {
        if (!tuning.defer_taskrun && (extra & IORING_SETUP_DEFER_TASKRUN) != 0) {
            continue;
        }
        if (!spin && extra == attempts[0]) {
            continue;
        }
        params = io_uring_params{};
        params.flags = IORING_SETUP_CQSIZE | extra;
        params.cq_entries = cq;
        ret = io_uring_queue_init_params(sq, &ring_, &params);
        if (ret != -EINVAL) {
            break;
        }
    }
    if (ret < 0) {
        throw RingSetupError(setup_failed(sq, cq, ret), -ret);
    }
    record(params);
    features_.msg_ring = kernel.msg_ring;
    features_.connect = kernel.connect;
    features_.files = kernel.files;
    features_.openat2 = kernel.openat2;
    features_.zerocopy_send = kernel.zerocopy_send;
    features_.multishot_recv = multishot_recv_on(tuning, kernel);
    features_.single_send = tuning.single_send && kernel.send;
    features_.min_wait = tuning.min_wait.count() > 0 && kernel.min_timeout && features_.ext_arg;
    features_.recv_bundle = recv_bundle_on(tuning, kernel);
    features_.pbuf_incremental = pbuf_incremental_on(tuning, kernel);

    // A registered ring fd saves the fd lookup on every io_uring_enter; without it we still work.
    features_.registered_ring_fd = io_uring_register_ring_fd(&ring_) == 1;

    if (file_slots > 0 && tuning.direct_descriptors) {
        ret = io_uring_register_files_sparse(&ring_, file_slots);
        if (ret == 0) {
            features_.direct_descriptors = true;
            features_.file_slots = file_slots;
        } else if (ret == -EMFILE) {
            io_uring_queue_exit(&ring_);
            throw std::runtime_error("registering " + std::to_string(file_slots) +
                                     " direct descriptors: above RLIMIT_NOFILE (raise LimitNOFILE= or lower "
                                     "max_connections)");
        } else if (ret != -EINVAL && ret != -EOPNOTSUPP) {
            io_uring_queue_exit(&ring_);
            throw std::runtime_error("registering " + std::to_string(file_slots) +
                                     " direct descriptors: " + errno_text(ret));
        }
    }
    dropped_seen_ = *ring_.cq.koverflow;
}

Ring::~Ring() {
    io_uring_queue_exit(&ring_);
}

std::uint32_t Ring::take_dropped() {
    std::uint32_t now = IO_URING_READ_ONCE(*ring_.cq.koverflow);
    std::uint32_t delta = now - dropped_seen_;
    dropped_seen_ = now;
    return delta;
}

} // namespace gatio::core
