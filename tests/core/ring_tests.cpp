// The ring a driver owns: probed features, tagged completions, CQ overflow handling, provided
// buffer rings and the registered file table.
#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <sys/socket.h>
#include <unistd.h>

#include "core/completion.hpp"
#include "harness.hpp"

using namespace gatio;
using namespace gatio::core;

namespace {

// Counts NOP completions on the driver thread; published for the test thread.
class NopCounter final : public Completion {
public:
    void on_completion(const io_uring_cqe& cqe, unsigned tag) override {
        if (cqe.res != 0 || tag != expected_tag) {
            bad.fetch_add(1);
        }
        seen.fetch_add(1);
    }
    unsigned expected_tag = 0;
    std::atomic<int> seen{0};
    std::atomic<int> bad{0};
};

} // namespace

TEST_CASE("user_data carries an object pointer and a tag", "[ring]") {
    NopCounter a;
    for (unsigned tag = 0; tag <= max_completion_tag; ++tag) {
        std::uint64_t ud = encode_completion(&a, tag);
        CHECK(completion_target(ud) == &a);
        CHECK(completion_tag(ud) == tag);
        CHECK(ud != no_completion);
    }
}

TEST_CASE("rings get the features the kernel offers, and tuning turns them off", "[ring]") {
    config::IoUringTuning on;
    config::IoUringTuning off;
    off.defer_taskrun = false;
    off.direct_descriptors = false;
    off.multishot_recv = false;
    off.single_send = false;
    RuntimeOptions o = test::options_for(1);
    o.defaults.file_slots = 32;

    Runtime a(test::topology(1), test::machine(), on, o);
    REQUIRE(a.start().empty());
    RingFeatures fa = a.driver(0).features();
    a.request_stop();
    a.join();
    Runtime b(test::topology(1), test::machine(), off, o);
    REQUIRE(b.start().empty());
    RingFeatures fb = b.driver(0).features();
    b.request_stop();
    b.join();

    INFO(fa.describe() << " / " << fb.describe());
    // This suite runs on kernels >= 6.1, which have all of these.
    CHECK(fa.single_issuer);
    CHECK(fa.defer_taskrun);
    CHECK(fa.msg_ring);
    CHECK(fa.multishot_recv);
    CHECK(fa.single_send);
    CHECK(fa.direct_descriptors);
    CHECK(fa.file_slots == 32);
    CHECK(fa.cq_entries == 4 * fa.sq_entries);
    CHECK(fa.describe().find(" defer_taskrun") != std::string::npos);
    CHECK_FALSE(fb.defer_taskrun);
    CHECK(fb.coop_taskrun);
    CHECK_FALSE(fb.direct_descriptors);
    CHECK_FALSE(fb.multishot_recv);
    CHECK_FALSE(fb.single_send);
    CHECK(fb.describe().find("-defer_taskrun") != std::string::npos);
}

TEST_CASE("multishot recv, MSG_RING and single sends are used only where the kernel probe found them",
          "[ring]") {
    const KernelSupport& probed = test::kernel();
    RuntimeOptions o = test::options_for(2);
    o.kernel = KernelSupport{}; // a kernel that offers neither
    // Asked for, the bundles and incremental buffers are still left out.
    config::IoUringTuning wanted;
    wanted.recv_bundle = true;
    wanted.pbuf_incremental = true;
    Runtime rt(test::topology(2), test::machine(), wanted, o);
    REQUIRE(rt.start().empty());
    RingFeatures none = rt.driver(0).features();
    // Without MSG_RING the drivers wake each other through their eventfds: messages still flow.
    std::atomic<bool> delivered{false};
    REQUIRE(rt.post(0, [&](Driver& d) { d.post(1, [&](Driver&) { delivered = true; }); }));
    REQUIRE(test::wait_until([&] { return delivered.load(); }));
    rt.request_stop();
    rt.join();
    INFO(none.describe());
    CHECK_FALSE(none.multishot_recv);
    CHECK_FALSE(none.msg_ring);
    CHECK_FALSE(none.single_send);
    CHECK_FALSE(none.min_wait);
    CHECK_FALSE(none.recv_bundle);
    CHECK_FALSE(none.pbuf_incremental);

    config::IoUringTuning asked;
    asked.min_wait = std::chrono::microseconds(50);
    asked.recv_bundle = true;
    asked.pbuf_incremental = true;
    Runtime with_probe(test::topology(1), test::machine(), asked, test::options_for(1));
    REQUIRE(with_probe.start().empty());
    RingFeatures found = with_probe.driver(0).features();
    with_probe.request_stop();
    with_probe.join();
    INFO(found.describe());
    CHECK(found.multishot_recv == probed.multishot_recv);
    CHECK(found.msg_ring == probed.msg_ring);
    CHECK(found.single_send == probed.send);
    CHECK(found.min_wait == probed.min_timeout);
    CHECK(found.recv_bundle == (probed.recv_bundle && probed.multishot_recv));
    CHECK(found.pbuf_incremental == (probed.pbuf_incremental && probed.multishot_recv));
}

// The daemon logs each switch the kernel cannot honour once, from this list, before the drivers
// quietly do without it.
TEST_CASE("a switch the kernel lacks is named once, with what the drivers do instead", "[ring]") {
    config::IoUringTuning asked;
    asked.recv_bundle = true;
    asked.pbuf_incremental = true;
    asked.min_wait = std::chrono::microseconds(50);
    KernelSupport all;
    all.multishot_recv = true;
    all.recv_bundle = true;
    all.pbuf_incremental = true;
    all.min_timeout = true;
    CHECK(unavailable_switches(asked, all).empty());
    CHECK(unavailable_switches(config::IoUringTuning{}, KernelSupport{}).empty());

    KernelSupport no_inc = all;
    no_inc.pbuf_incremental = false;
    auto missing = unavailable_switches(asked, no_inc);
    REQUIRE(missing.size() == 1);
    CHECK(missing[0].find("pbuf_incremental") != std::string::npos);
    CHECK(missing[0].find("IOU_PBUF_RING_INC") != std::string::npos);

    // Without multishot receives neither buffer switch applies.
    KernelSupport no_multishot = all;
    no_multishot.multishot_recv = false;
    missing = unavailable_switches(asked, no_multishot);
    REQUIRE(missing.size() == 2);
    CHECK(missing[0].find("recv_bundle") != std::string::npos);
    CHECK(missing[1].find("pbuf_incremental") != std::string::npos);

    missing = unavailable_switches(asked, KernelSupport{});
    CHECK(missing.size() == 3);
}

TEST_CASE("a probe ring is created exactly as asked, or names io_uring_setup's errno", "[ring]") {
    io_uring_params params{};
    params.flags = IORING_SETUP_CQSIZE;
    params.cq_entries = 32;
    Ring ring(8, params);
    CHECK(ring.features().sq_entries == 8);
    CHECK(ring.features().cq_entries == 32);
    CHECK(ring.features().setup_flags == IORING_SETUP_CQSIZE);
    CHECK_FALSE(ring.features().multishot_recv); // no probe handed to it

    io_uring_params zero{};
    try {
        Ring refused(0, zero);
        FAIL("a ring of 0 entries was created");
    } catch (const RingSetupError& e) {
        CHECK(e.error() == EINVAL);
        CHECK(std::string(e.what()).find("io_uring setup (0 SQ") == 0);
    }
}

TEST_CASE("a CQ overflow is detected, flushed and counted, and no completion is lost", "[ring]") {
    config::RingSettings tiny = test::small_ring();
    tiny.ring_entries = 8;
    config::IoUringTuning tuning;
    tuning.cq_factor = 1; // 8 CQEs: the 9th completion overflows
    Runtime rt(test::topology({config::DriverRole::io_exec}, config::MemoryPolicy::bind, tiny),
               test::machine(), tuning, test::options_for(1));
    REQUIRE(rt.start().empty());
    NopCounter counter;
    counter.expected_tag = 5;
    constexpr int nops = 64;
    // NOPs complete while they are submitted; get_sqe submits every 8, so without reaping the
    // completions pile up far beyond the CQ.
    REQUIRE(rt.post(0, [&](Driver& d) {
        for (int i = 0; i < nops; ++i) {
            io_uring_prep_nop(d.get_sqe(&counter, 5));
        }
    }));
    REQUIRE(test::wait_until([&] { return counter.seen.load() == nops; }));
    REQUIRE(test::wait_until([&] { return rt.counters(0).cqes >= nops; }));
    DriverCounters c = rt.counters(0);
    rt.request_stop();
    rt.join();
    CHECK(counter.bad.load() == 0);
    CHECK(c.cq_overflows >= 1);
    CHECK(c.cq_dropped == 0);
    CHECK(counter.seen.load() == nops);
}

TEST_CASE("with submit batching off every SQE is submitted on its own", "[ring]") {
    config::IoUringTuning tuning;
    tuning.submit_batching = false;
    Runtime rt(test::topology(1), test::machine(), tuning, test::options_for(1));
    REQUIRE(rt.start().empty());
    NopCounter counter;
    constexpr int nops = 32;
    std::atomic<std::uint64_t> enters_before{0};
    REQUIRE(rt.post(0, [&](Driver& d) {
        enters_before = d.counters().enter_calls;
        for (int i = 0; i < nops; ++i) {
            io_uring_prep_nop(d.get_sqe(&counter, 0));
        }
    }));
    REQUIRE(test::wait_until([&] { return counter.seen.load() == nops; }));
    REQUIRE(test::wait_until([&] { return rt.counters(0).enter_calls >= enters_before.load() + nops; }));
    rt.request_stop();
    rt.join();
    CHECK(counter.bad.load() == 0);
}

// [io_uring] min_wait and spin change only how a driver waits: work posted from outside and
// completions of its own SQEs still arrive. A NOP queued by a task completes while the spin's
// submission runs, so the spin finds it without sleeping; a driver with nothing to do blocks
// with the minimum wait where the kernel has it.
TEST_CASE("a driver with a minimum wait and a spin still takes every completion and message", "[ring]") {
    config::IoUringTuning tuning;
    tuning.min_wait = std::chrono::microseconds(200);
    tuning.wait_batch = 8;
    tuning.spin = std::chrono::microseconds(100);
    Runtime rt(test::topology(1), test::machine(), tuning, test::options_for(1));
    REQUIRE(rt.start().empty());
    const RingFeatures f = rt.driver(0).features();
    INFO(f.describe());
    CHECK(f.min_wait == test::kernel().min_timeout);
    NopCounter counter;
    constexpr int rounds = 50;
    for (int i = 0; i < rounds; ++i) {
        REQUIRE(rt.post(0, [&](Driver& d) { io_uring_prep_nop(d.get_sqe(&counter, 0)); }));
        REQUIRE(test::wait_until([&] { return counter.seen.load() == i + 1; }));
    }
    REQUIRE(test::wait_until([&] { return rt.counters(0).spin_hits >= 1; }));
    const DriverCounters c = rt.counters(0);
    rt.request_stop();
    rt.join();
    CHECK(counter.bad.load() == 0);
    CHECK(f.taskrun_flag);
    if (f.min_wait) {
        CHECK(c.min_waits > 0);
    } else {
        CHECK(c.min_waits == 0);
    }
}

namespace {

// Receives a stream with multishot recv into a provided-buffer ring and collects the bytes.
class Receiver final : public Completion, public DriverModule {
public:
    explicit Receiver(int fd) : fd_(fd) {}

    void start(Driver& d) override {
        ring_ = &d.add_buffer_ring(group, 4, 64);
        arm(d);
    }
    void on_completion(const io_uring_cqe& cqe, unsigned) override {
        Driver& d = *Driver::current();
        if (cqe.res > 0) {
            if (!BufferRing::has_buffer(cqe.flags)) {
                errors.fetch_add(1);
                return;
            }
            std::uint16_t id = BufferRing::buffer_id(cqe.flags);
            auto bytes = ring_->bytes(id, static_cast<std::size_t>(cqe.res));
            {
                std::lock_guard lock(mutex);
                received.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
            }
            ring_->recycle(id);
        } else if (cqe.res != -ENOBUFS) {
            if (cqe.res != 0 && cqe.res != -ECANCELED) {
                errors.fetch_add(1);
            }
            return; // end of stream
        }
        // Out of buffers or the kernel ended the multishot request: ask again.
        if ((cqe.flags & IORING_CQE_F_MORE) == 0) {
            rearms.fetch_add(1);
            arm(d);
        }
    }
    std::string text() {
        std::lock_guard lock(mutex);
        return received;
    }

    static constexpr std::uint16_t group = 7;
    std::atomic<int> errors{0};
    std::atomic<int> rearms{0};

private:
    void arm(Driver& d) {
        io_uring_sqe* sqe = d.get_sqe(this, 1);
        io_uring_prep_recv_multishot(sqe, fd_, nullptr, 0, 0);
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = group;
    }

    int fd_;
    BufferRing* ring_ = nullptr;
    std::mutex mutex;
    std::string received;
};

} // namespace

TEST_CASE("multishot recv fills provided buffers that are recycled", "[ring]") {
    int fds[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
    Runtime rt(test::topology(1), test::machine(), {}, test::options_for(1));
    auto module = std::make_unique<Receiver>(fds[0]);
    Receiver& receiver = *module;
    rt.attach(0, std::move(module));
    REQUIRE(rt.start().empty());

    // 4 buffers of 64 bytes hold 256 bytes: 2000 bytes only arrive if buffers are recycled.
    std::string sent;
    for (int i = 0; i < 100; ++i) {
        std::string chunk = "message " + std::to_string(i) + " ----------|";
        sent += chunk;
        REQUIRE(::write(fds[1], chunk.data(), chunk.size()) == static_cast<ssize_t>(chunk.size()));
        if (i % 10 == 9) {
            REQUIRE(test::wait_until([&] { return receiver.text().size() == sent.size(); }));
        }
    }
    REQUIRE(test::wait_until([&] { return receiver.text().size() == sent.size(); }));
    ::close(fds[1]);
    rt.request_stop();
    rt.join();
    ::close(fds[0]);
    CHECK(receiver.text() == sent);
    CHECK(receiver.errors.load() == 0);
}

namespace {

// Receives into a ring of 256 buffers and keeps every buffer, growing the ring whenever a
// receive finds it empty.
class Hoarder final : public Completion, public DriverModule {
public:
    explicit Hoarder(int fd) : fd_(fd) {}

    void start(Driver& d) override {
        ring = &d.add_buffer_ring(group, 256, 64);
        first_provided = ring->provided();
        arm(d);
    }
    void on_completion(const io_uring_cqe& cqe, unsigned) override {
        Driver& d = *Driver::current();
        if (cqe.res > 0 && BufferRing::has_buffer(cqe.flags)) {
            auto bytes = ring->bytes(BufferRing::buffer_id(cqe.flags), static_cast<std::size_t>(cqe.res));
            received.fetch_add(bytes.size());
        } else if (cqe.res == -ENOBUFS) {
            grows.fetch_add(ring->grow() ? 1 : 0);
            provided.store(ring->provided());
        } else {
            return;
        }
        if ((cqe.flags & IORING_CQE_F_MORE) == 0) {
            arm(d);
        }
    }

    static constexpr std::uint16_t group = 8;
    BufferRing* ring = nullptr;
    std::uint32_t first_provided = 0;
    std::atomic<std::size_t> received{0};
    std::atomic<int> grows{0};
    std::atomic<std::uint32_t> provided{0}; // after the last grow()

private:
    void arm(Driver& d) {
        io_uring_sqe* sqe = d.get_sqe(this, 1);
        io_uring_prep_recv_multishot(sqe, fd_, nullptr, 0, 0);
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = group;
    }

    int fd_;
};

} // namespace

// A buffer costs memory once the kernel has written into it, and the kernel cycles through
// every buffer in the ring: the ring starts with a few and doubles only when a receive finds
// none left.
TEST_CASE("a provided-buffer ring starts small and grows when receives find it empty", "[ring]") {
    int fds[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
    Runtime rt(test::topology(1), test::machine(), {}, test::options_for(1));
    auto module = std::make_unique<Hoarder>(fds[0]);
    Hoarder& hoarder = *module;
    rt.attach(0, std::move(module));
    REQUIRE(rt.start().empty());

    // 256 buffers of 64 bytes, none given back: all of it arrives only if the ring grows to 256.
    const std::string sent(256 * 64, 'x');
    REQUIRE(::write(fds[1], sent.data(), sent.size()) == static_cast<ssize_t>(sent.size()));
    REQUIRE(test::wait_until([&] { return hoarder.received.load() == sent.size(); }));
    rt.request_stop();
    rt.join();
    ::close(fds[0]);
    ::close(fds[1]);
    CHECK(hoarder.first_provided == BufferRing::initial_provided);
    CHECK(hoarder.provided.load() == 256);
    CHECK(hoarder.grows.load() == 2); // 64 -> 128 -> 256; once full, grow() finds nothing to add
}

TEST_CASE("the registered file table takes direct descriptors", "[ring]") {
    RuntimeOptions o = test::options_for(1);
    o.defaults.file_slots = 8;
    Runtime rt(test::topology(1), test::machine(), {}, o);
    REQUIRE(rt.start().empty());
    int fds[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
    std::atomic<int> installed{-100};
    std::atomic<int> outside{-100};
    REQUIRE(rt.post(0, [&](Driver& d) {
        installed = io_uring_register_files_update(&d.ring(), 7, &fds[0], 1);
        outside = io_uring_register_files_update(&d.ring(), 8, &fds[0], 1);
    }));
    REQUIRE(test::wait_until([&] { return installed.load() != -100 && outside.load() != -100; }));
    rt.request_stop();
    rt.join();
    ::close(fds[0]);
    ::close(fds[1]);
    CHECK(installed.load() == 1);
    CHECK(outside.load() < 0);
}
