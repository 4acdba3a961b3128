#include "core/capabilities.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <liburing.h>
#include <memory>
#include <netinet/in.h>
#include <optional>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <thread>
#include <unistd.h>
#include <utility>

#include "config/units.hpp"
#include "core/fd.hpp"
#include "core/machine.hpp"
#include "core/ring.hpp"

namespace gatio::core {

namespace {

constexpr unsigned probe_entries = 8;
constexpr int probe_timeout_ms = 1000; // bounds every wait for a probe's completion

std::optional<int> read_int_file(const char* path) {
    std::ifstream in(path);
    int value = 0;
    if (in >> value) {
        return value;
    }
    return std::nullopt;
}

// Seccomp mode of this process from /proc/self/status: 0 none, 1 strict, 2 filter.
int seccomp_mode() {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("Seccomp:", 0) == 0) {
            return std::atoi(line.c_str() + 8);
        }
    }
    return 0;
}

std::string errno_text(int err) {
    const char* name = strerrorname_np(err); // null for numbers glibc has no name for
    return (name != nullptr ? std::string(name) : "errno " + std::to_string(err)) + " (" +
           std::strerror(err) + ")";
}

std::string format_limit(std::uint64_t bytes) {
    return bytes == RLIM_INFINITY ? std::string("unlimited") : config::format_size(bytes);
}

// A probe ring in `ring`, or the -errno io_uring_setup returned.
int open_ring(std::optional<Ring>& ring, unsigned entries, io_uring_params& params) {
    try {
        ring.emplace(entries, params);
        return 0;
    } catch (const RingSetupError& e) {
        return -e.error();
    }
}

// Waits for one completion; false on timeout or error, so a probe never hangs. An interrupted
// wait goes on until the deadline: the teardown of a ring probed before interrupts this thread.
bool wait_one(io_uring* ring, io_uring_cqe** cqe) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(probe_timeout_ms);
    for (;;) {
        const auto left =
            std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            return false;
        }
        __kernel_timespec ts{};
        ts.tv_sec = left.count() / 1'000'000'000;
        ts.tv_nsec = left.count() % 1'000'000'000;
        const int ret = io_uring_wait_cqe_timeout(ring, cqe, &ts);
        if (ret != -EINTR) {
            return ret == 0;
        }
    }
}

// Runs `probe` on a thread of its own, joined before this returns. The kernel notes every
// thread that created or used a ring, and the teardown of each ring, which finishes a while
// after its close, interrupts every noted thread still alive (task work announced like a
// signal): a blocking socket call with a timeout on it then fails with EINTR. A thread that has
// exited is no longer noted, so the caller's thread (gatiod's main thread, a test's) is spared.
template <typename Probe>
auto on_own_thread(Probe probe) -> decltype(probe()) {
    std::optional<decltype(probe())> result;
    std::exception_ptr failure;
    std::thread([&] {
        try {
            result.emplace(probe());
        } catch (...) {
            failure = std::current_exception();
        }
    }).join();
    if (failure) {
        std::rethrow_exception(failure);
    }
    return std::move(*result);
}

Capability setup_flag(const char* name, unsigned flags, unsigned cq_entries = 0) {
    io_uring_params p{};
    p.flags = flags;
    p.cq_entries = cq_entries;
    std::optional<Ring> ring;
    int ret = open_ring(ring, probe_entries, p);
    if (ret == 0) {
        return {name, true, ""};
    }
    return {name, false, ret == -EINVAL ? "" : "io_uring_setup: " + errno_text(-ret)};
}

Capability multishot_accept(io_uring* ring) {
    Capability cap{"multishot accept", false, ""};
    Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd.get() < 0 || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(fd.get(), 1) != 0) {
        cap.detail = "cannot open a loopback listening socket to probe: " + errno_text(errno);
        return cap;
    }
    // The probe ring is otherwise idle, so its submission queue has room for both entries.
    io_uring_sqe* accept = io_uring_get_sqe(ring);
    io_uring_sqe* cancel = accept == nullptr ? nullptr : io_uring_get_sqe(ring);
    if (cancel == nullptr) {
        cap.detail = "probe ring has no free submission entry";
        return cap;
    }
    io_uring_prep_multishot_accept(accept, fd.get(), nullptr, nullptr, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(accept, 1);
    io_uring_prep_cancel64(cancel, 1, 0);
    io_uring_sqe_set_data64(cancel, 2);
    int ret = io_uring_submit(ring);
    if (ret != 2) {
        cap.detail = "io_uring_submit: " + (ret < 0 ? errno_text(-ret) : "short submission");
        return cap;
    }
    bool accept_done = false;
    bool cancel_done = false;
    while (!accept_done || !cancel_done) {
        io_uring_cqe* cqe = nullptr;
        if (!wait_one(ring, &cqe)) {
            cap.detail = "no completion within the probe's timeout";
            return cap;
        }
        if (cqe->user_data == 1) {
            if (cqe->res >= 0) {
                ::close(cqe->res); // a stray local connection; not ours to keep
            }
            if ((cqe->flags & IORING_CQE_F_MORE) == 0) {
                accept_done = true;
                cap.supported = cqe->res == -ECANCELED;
                if (cqe->res < 0 && cqe->res != -ECANCELED && cqe->res != -EINVAL) {
                    cap.detail = "accept: " + errno_text(-cqe->res);
                }
            }
        } else {
            cancel_done = true;
        }
        io_uring_cqe_seen(ring, cqe);
    }
    return cap;
}

// Registers an 8-entry buffer ring (group 0) in memory of our own, as liburing 2.3 has no
// io_uring_setup_buf_ring, then checks multishot recv on a socketpair by receiving one byte.
class BufferRingProbe {
public:
    static constexpr unsigned entries = 8;
    static constexpr unsigned buffer_size = 64;

    explicit BufferRingProbe(io_uring* ring) : ring_(ring) {}
    BufferRingProbe(const BufferRingProbe&) = delete;
    BufferRingProbe& operator=(const BufferRingProbe&) = delete;
    ~BufferRingProbe() {
        if (registered_) {
            io_uring_unregister_buf_ring(ring_, 0);
        }
        if (map_ != MAP_FAILED) {
            ::munmap(map_, map_size_);
        }
    }

    Capability register_ring() {
        Capability cap{"buffer rings", false, ""};
        map_size_ = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
        map_ = ::mmap(nullptr, map_size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (map_ == MAP_FAILED) {
            cap.detail = "mmap: " + errno_text(errno);
            return cap;
        }
        auto* br = static_cast<io_uring_buf_ring*>(map_);
        io_uring_buf_ring_init(br);
        io_uring_buf_reg reg{};
        reg.ring_addr = reinterpret_cast<std::uint64_t>(map_);
        reg.ring_entries = entries;
        reg.bgid = 0;
        int ret = io_uring_register_buf_ring(ring_, &reg, 0);
        if (ret != 0) {
            cap.detail = ret == -EINVAL ? "" : "io_uring_register_buf_ring: " + errno_text(-ret);
            return cap;
        }
        registered_ = true;
        for (unsigned i = 0; i < entries; ++i) {
            io_uring_buf_ring_add(br, buffers_[i].data(), buffer_size, static_cast<unsigned short>(i),
                                  io_uring_buf_ring_mask(entries), static_cast<int>(i));
        }
        io_uring_buf_ring_advance(br, entries);
        cap.supported = true;
        return cap;
    }

    Capability multishot_recv() {
        Capability cap{"multishot recv", false, ""};
        if (!registered_) {
            cap.detail = "needs buffer rings";
            return cap;
        }
        int sv[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
            cap.detail = "socketpair: " + errno_text(errno);
            return cap;
        }
        Fd reader(sv[0]);
        Fd writer(sv[1]);
        io_uring_sqe* recv = io_uring_get_sqe(ring_);
        if (recv == nullptr) {
            cap.detail = "probe ring has no free submission entry";
            return cap;
        }
        io_uring_prep_recv_multishot(recv, reader.get(), nullptr, 0, 0);
        recv->flags |= IOSQE_BUFFER_SELECT;
        recv->buf_group = 0;
        io_uring_sqe_set_data64(recv, 3);
        int ret = io_uring_submit(ring_);
        if (ret != 1) {
            cap.detail = "io_uring_submit: " + (ret < 0 ? errno_text(-ret) : "short submission");
            return cap;
        }
        if (::write(writer.get(), "x", 1) != 1) {
            cap.detail = "write to the socketpair: " + errno_text(errno);
            return cap; // the armed recv is cancelled when the probe ring is torn down
        }
        io_uring_cqe* cqe = nullptr;
        if (!wait_one(ring_, &cqe)) {
            cap.detail = "no completion within the probe's timeout";
            return cap;
        }
        const bool more = (cqe->flags & IORING_CQE_F_MORE) != 0;
        if (cqe->res == 1 && (cqe->flags & IORING_CQE_F_BUFFER) != 0 && more) {
            cap.supported = true;
        } else if (cqe->res < 0 && cqe->res != -EINVAL) {
            cap.detail = "recv: " + errno_text(-cqe->res);
        } else if (cqe->res >= 0 && !more) {
            cap.detail = "recv completed without IORING_CQE_F_MORE";
        }
        io_uring_cqe_seen(ring_, cqe);
        if (more) {
            cancel_and_drain();
        }
        return cap;
    }

    // A second ring (group 1) registered with IOU_PBUF_RING_INC: kernels before 6.12 reject the
    // flag with EINVAL. Registration is the whole difference a driver sees, so it is the probe.
    Capability incremental() {
        Capability cap{"incremental buffers", false, ""};
        if (!registered_) {
            cap.detail = "needs buffer rings";
            return cap;
        }
        void* map = ::mmap(nullptr, map_size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (map == MAP_FAILED) {
            cap.detail = "mmap: " + errno_text(errno);
            return cap;
        }
        io_uring_buf_ring_init(static_cast<io_uring_buf_ring*>(map));
        io_uring_buf_reg reg{};
        reg.ring_addr = reinterpret_cast<std::uint64_t>(map);
        reg.ring_entries = entries;
        reg.bgid = 1;
        reg.pad = uapi::pbuf_ring_inc; // flags, which older headers call pad
        const int ret = io_uring_register_buf_ring(ring_, &reg, 0);
        if (ret == 0) {
            cap.supported = true;
            io_uring_unregister_buf_ring(ring_, 1);
        } else if (ret != -EINVAL) {
            cap.detail = "io_uring_register_buf_ring: " + errno_text(-ret);
        }
        ::munmap(map, map_size_);
        return cap;
    }

private:
    void cancel_and_drain() {
        io_uring_sqe* cancel = io_uring_get_sqe(ring_);
        if (cancel == nullptr) {
            return;
        }
        io_uring_prep_cancel64(cancel, 3, 0);
        io_uring_sqe_set_data64(cancel, 4);
        if (io_uring_submit(ring_) != 1) {
            return;
        }
        bool recv_done = false;
        bool cancel_done = false;
        io_uring_cqe* cqe = nullptr;
        while ((!recv_done || !cancel_done) && wait_one(ring_, &cqe)) {
            if (cqe->user_data == 3) {
                recv_done = (cqe->flags & IORING_CQE_F_MORE) == 0;
            } else {
                cancel_done = true;
            }
            io_uring_cqe_seen(ring_, cqe);
        }
    }

    io_uring* ring_;
    void* map_ = MAP_FAILED;
    std::size_t map_size_ = 0;
    bool registered_ = false;
    std::array<std::array<char, buffer_size>, entries> buffers_{};
};

struct OpcodeName {
    int op;
    const char* name;
};

// The operations Gatio's drivers submit.
constexpr std::array opcodes_used{
    OpcodeName{IORING_OP_NOP, "NOP"},
    OpcodeName{IORING_OP_ACCEPT, "ACCEPT"},
    OpcodeName{IORING_OP_RECV, "RECV"},
    OpcodeName{IORING_OP_RECVMSG, "RECVMSG"},
    OpcodeName{IORING_OP_SEND, "SEND"},
    OpcodeName{IORING_OP_SENDMSG, "SENDMSG"},
    OpcodeName{IORING_OP_MSG_RING, "MSG_RING"},
    OpcodeName{IORING_OP_TIMEOUT, "TIMEOUT"},
    OpcodeName{IORING_OP_TIMEOUT_REMOVE, "TIMEOUT_REMOVE"},
    OpcodeName{IORING_OP_LINK_TIMEOUT, "LINK_TIMEOUT"},
    OpcodeName{IORING_OP_ASYNC_CANCEL, "ASYNC_CANCEL"},
    OpcodeName{IORING_OP_CLOSE, "CLOSE"},
    OpcodeName{IORING_OP_SHUTDOWN, "SHUTDOWN"},
    OpcodeName{IORING_OP_PROVIDE_BUFFERS, "PROVIDE_BUFFERS"},
    OpcodeName{IORING_OP_FILES_UPDATE, "FILES_UPDATE"},
    OpcodeName{IORING_OP_POLL_ADD, "POLL_ADD"},
    OpcodeName{IORING_OP_READ, "READ"},
    OpcodeName{IORING_OP_READ_FIXED, "READ_FIXED"},
    OpcodeName{IORING_OP_SEND_ZC, "SEND_ZC"},
    OpcodeName{IORING_OP_CONNECT, "CONNECT"},
    OpcodeName{IORING_OP_OPENAT, "OPENAT"},
    OpcodeName{IORING_OP_WRITE, "WRITE"},
    OpcodeName{IORING_OP_FSYNC, "FSYNC"},
    OpcodeName{IORING_OP_STATX, "STATX"},
    OpcodeName{IORING_OP_OPENAT2, "OPENAT2"},
};

void probe_rings(KernelReport& r) {
    io_uring_params p{};
    std::optional<Ring> ring;
    int ret = open_ring(ring, probe_entries, p);
    if (ret != 0) {
        r.setup_error = "io_uring_setup: " + errno_text(-ret);
        for (const auto& op : opcodes_used) {
            r.opcodes.push_back({op.name, false, "no ring"});
        }
        return;
    }

    std::unique_ptr<io_uring_probe, decltype(&io_uring_free_probe)> probe(
        io_uring_get_probe_ring(&ring->raw()), &io_uring_free_probe);
    for (const auto& op : opcodes_used) {
        if (!probe) {
            r.opcodes.push_back({op.name, false, "IORING_REGISTER_PROBE failed"});
        } else {
            r.opcodes.push_back({op.name, io_uring_opcode_supported(probe.get(), op.op) != 0, ""});
        }
    }
    const auto has = [&](int op) { return probe && io_uring_opcode_supported(probe.get(), op) != 0; };
    r.support.msg_ring = has(IORING_OP_MSG_RING);
    r.support.connect = has(IORING_OP_CONNECT) && has(IORING_OP_LINK_TIMEOUT) && has(IORING_OP_FILES_UPDATE);
    r.support.files = has(IORING_OP_OPENAT) && has(IORING_OP_READ) && has(IORING_OP_WRITE) &&
                      has(IORING_OP_FSYNC) && has(IORING_OP_STATX) && has(IORING_OP_CLOSE) &&
                      has(IORING_OP_ASYNC_CANCEL);
    r.support.openat2 = r.support.files && has(IORING_OP_OPENAT2);
    r.support.send = has(IORING_OP_SEND);
    r.support.zerocopy_send = r.support.files && has(IORING_OP_READ_FIXED) && has(IORING_OP_SEND_ZC);

    r.features.push_back({"FEAT_FAST_POLL", (p.features & IORING_FEAT_FAST_POLL) != 0, ""});
    r.features.push_back({"FEAT_NODROP", (p.features & IORING_FEAT_NODROP) != 0, ""});
    r.features.push_back({"FEAT_EXT_ARG", (p.features & IORING_FEAT_EXT_ARG) != 0, ""});
    r.features.push_back({"FEAT_MIN_TIMEOUT", (p.features & uapi::feat_min_timeout) != 0, ""});
    r.features.push_back({"FEAT_RECVSEND_BUNDLE", (p.features & uapi::feat_recvsend_bundle) != 0, ""});
    r.support.min_timeout =
        (p.features & IORING_FEAT_EXT_ARG) != 0 && (p.features & uapi::feat_min_timeout) != 0;
    r.support.recv_bundle = (p.features & uapi::feat_recvsend_bundle) != 0;
    r.features.push_back(setup_flag("SINGLE_ISSUER", IORING_SETUP_SINGLE_ISSUER));
    r.features.push_back(
        setup_flag("DEFER_TASKRUN", IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN));
    r.features.push_back(setup_flag("COOP_TASKRUN", IORING_SETUP_COOP_TASKRUN));
    r.features.push_back(setup_flag("SUBMIT_ALL", IORING_SETUP_SUBMIT_ALL));
    r.features.push_back(setup_flag("CQSIZE", IORING_SETUP_CQSIZE, probe_entries * 4));

    io_uring* raw = &ring->raw();
    ret = io_uring_register_ring_fd(raw);
    r.features.push_back(
        {"registered ring fd", ret == 1,
         ret == 1 || ret == -EINVAL ? "" : "io_uring_register_ring_fd: " + errno_text(-ret)});
    ret = io_uring_register_files_sparse(raw, probe_entries);
    r.features.push_back(
        {"sparse files", ret == 0,
         ret == 0 || ret == -EINVAL ? "" : "io_uring_register_files_sparse: " + errno_text(-ret)});

    // Lent buffers are registered into a sparse table one by one (zerocopy_send): the probe
    // registers an empty one, which pins nothing.
    ret = io_uring_register_buffers_sparse(raw, probe_entries);
    r.features.push_back(
        {"sparse buffers", ret == 0,
         ret == 0 || ret == -EINVAL ? "" : "io_uring_register_buffers_sparse: " + errno_text(-ret)});
    r.support.zerocopy_send = r.support.zerocopy_send && ret == 0;

    BufferRingProbe buffers(raw);
    r.features.push_back(buffers.register_ring());
    r.features.push_back(multishot_accept(raw));
    // The opcode table cannot show the multishot flag of RECV: only a real submission can.
    r.features.push_back(buffers.multishot_recv());
    r.support.multishot_recv = r.features.back().supported;
    r.features.push_back(buffers.incremental());
    r.support.pbuf_incremental = r.features.back().supported;
}

void append_capabilities(std::string& out, const std::vector<Capability>& caps) {
    for (const auto& c : caps) {
        std::string line = "  " + c.name;
        line.resize(std::max<std::size_t>(line.size() + 1, 22), ' ');
        line += c.supported ? "yes" : "no";
        if (!c.detail.empty()) {
            line += " (" + c.detail + ")";
        }
        out += line + "\n";
    }
}

} // namespace

KernelReport probe_kernel() {
    KernelReport r;
    utsname u{};
    if (::uname(&u) == 0) {
        r.kernel_release = std::string(u.sysname) + " " + u.release;
    }
    r.io_uring_disabled = read_int_file("/proc/sys/kernel/io_uring_disabled").value_or(-1);
    rlimit lim{};
    if (::getrlimit(RLIMIT_MEMLOCK, &lim) == 0) {
        r.memlock_soft = lim.rlim_cur;
        r.memlock_hard = lim.rlim_max;
    }
    try {
        r.machine = Machine::discover().describe();
    } catch (const std::exception& e) {
        r.machine = std::string(e.what()) + "\n";
    }
    on_own_thread([&r] {
        probe_rings(r);
        return 0;
    });
    return r;
}

std::string KernelReport::to_string() const {
    std::string out = "kernel: " + kernel_release + "\n";
    out += "kernel.io_uring_disabled: ";
    switch (io_uring_disabled) {
    case -1:
        out += "absent (kernel before 6.6: io_uring open to every process)\n";
        break;
    case 0:
        out += "0 (io_uring open to every process)\n";
        break;
    case 1:
        out += "1 (io_uring restricted to CAP_SYS_ADMIN and kernel.io_uring_group)\n";
        break;
    default:
        out += std::to_string(io_uring_disabled) + " (io_uring disabled)\n";
        break;
    }
    out += "RLIMIT_MEMLOCK: " + format_limit(memlock_soft) + " (hard " + format_limit(memlock_hard) + ")\n";
    if (!setup_error.empty()) {
        out += "io_uring: unusable, " + setup_error + "\n";
    }
    out += "io_uring opcodes:\n";
    append_capabilities(out, opcodes);
    out += "io_uring features:\n";
    append_capabilities(out, features);
    out += "NUMA:\n";
    std::size_t start = 0;
    while (start < machine.size()) {
        auto end = machine.find('\n', start);
        out += "  " + machine.substr(start, end - start) + "\n";
        start = end == std::string::npos ? machine.size() : end + 1;
    }
    return out;
}

std::string KernelReport::missing_summary() const {
    if (!setup_error.empty()) {
        return "io_uring unusable on kernel " + kernel_release + ": " + setup_error;
    }
    std::string missing;
    for (const auto* caps : {&opcodes, &features}) {
        for (const auto& c : *caps) {
            if (!c.supported) {
                missing += (missing.empty() ? "" : ", ") + c.name;
            }
        }
    }
    if (missing.empty()) {
        return "";
    }
    return "io_uring features missing on kernel " + kernel_release + ": " + missing;
}

std::optional<std::string> check_io_uring_usable(std::uint32_t ring_entries) {
    const int ret = on_own_thread([ring_entries] {
        io_uring_params p{};
        std::optional<Ring> ring;
        return open_ring(ring, ring_entries, p);
    });
    if (ret == 0) {
        return std::nullopt;
    }
    const int err = -ret;
    const int disabled = read_int_file("/proc/sys/kernel/io_uring_disabled").value_or(-1);
    const std::string failed = "io_uring unusable: io_uring_setup failed with " + errno_text(err) + ": ";
    const std::string seccomp =
        seccomp_mode() == 2 ? " This process runs under a seccomp filter (Seccomp: 2 in /proc/self/status)."
                            : "";

    if (err == EPERM && disabled == 2) {
        return failed + "io_uring is disabled for every process (sysctl kernel.io_uring_disabled = 2). Fix: "
                        "sysctl -w kernel.io_uring_disabled=0.";
    }
    if (err == EPERM && disabled == 1) {
        const int group = read_int_file("/proc/sys/kernel/io_uring_group").value_or(-1);
        return failed +
               "sysctl kernel.io_uring_disabled = 1 restricts io_uring to CAP_SYS_ADMIN and to group " +
               std::to_string(group) +
               " (kernel.io_uring_group). Fix: run gatiod in that group (SupplementaryGroups= in the unit) "
               "or "
               "sysctl -w kernel.io_uring_disabled=0.";
    }
    if (err == EPERM) {
        return failed +
               "a seccomp filter or a security module forbids io_uring (container runtimes block it by "
               "default)." +
               seccomp +
               " Fix: allow io_uring_setup, io_uring_enter and io_uring_register in the seccomp profile or "
               "security policy (e.g. docker run --security-opt seccomp=PROFILE).";
    }
    if (err == ENOSYS) {
        return failed +
               "the kernel does not provide io_uring (built without CONFIG_IO_URING) or a seccomp filter "
               "hides it." +
               seccomp +
               " Fix: use a kernel with CONFIG_IO_URING=y, or allow io_uring_setup, io_uring_enter and "
               "io_uring_register in the seccomp profile.";
    }
    if (err == ENOMEM) {
        rlimit lim{};
        ::getrlimit(RLIMIT_MEMLOCK, &lim);
        return failed + "not enough lockable memory for a ring of " + std::to_string(ring_entries) +
               " entries (RLIMIT_MEMLOCK " + format_limit(lim.rlim_cur) +
               "). Fix: raise the limit (LimitMEMLOCK=infinity in the unit, ulimit -l) or lower "
               "ring_entries.";
    }
    return failed + "unexpected error. Fix: check the kernel log (dmesg) for io_uring messages.";
}

} // namespace gatio::core
