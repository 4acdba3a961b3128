#include "core/driver.hpp"

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <sched.h>
#include <stdexcept>

#include "core/clock.hpp"
#include "core/log.hpp"
#include "core/mailbox.hpp"
#include "core/numa_policy.hpp"
#include "core/runtime.hpp"
#include "core/tpc.hpp"

namespace gatio::core {

namespace {

thread_local Driver* this_thread_driver = nullptr;

// Tags of the driver's own requests.
enum InternalTag : unsigned {
    tag_wake = 0,         // a MSG_RING wake-up from another driver (res = sender index)
    tag_eventfd = 1,      // the eventfd read completed (external post or fallback wake-up)
    tag_timer = 2,        // the wheel's timeout
    tag_timer_update = 3, // moving that timeout earlier
    tag_untracked = 4,    // get_sqe_untracked
};

constexpr unsigned cqe_batch = 64;
// How long a driver with messages held back (target queue full) sleeps before retrying.
constexpr long held_retry_ns = 50'000;
// While draining, how often modules' drained() and the deadline are looked at.
constexpr long drain_poll_ns = 1'000'000;
constexpr int sqe_retry_limit = 1000;

} // namespace

class Driver::Internal final : public Completion {
public:
    explicit Internal(Driver& driver) : driver_(driver) {}
    void on_completion(const io_uring_cqe& cqe, unsigned tag) override {
        driver_.dispatch_internal(cqe, tag);
    }

private:
    Driver& driver_;
};

// The sender-side completion of a MSG_RING wake-up, one per target so a failure knows whom
// it was for (success CQEs are skipped where the kernel allows).
class Driver::WakeSent final : public Completion {
public:
    Driver* driver = nullptr;
    int target = -1;
    void on_completion(const io_uring_cqe& cqe, unsigned) override { driver->wake_sent(target, cqe.res); }
};

Driver::Driver(Runtime& runtime, Tpc& tpc, const DriverPlan& plan, const DriverLimits& limits)
    : runtime_(runtime), tpc_(tpc), plan_(plan), limits_(limits),
      rng_(runtime.options().placement_seed ^ (static_cast<std::uint64_t>(plan.index) << 32)) {}

Driver::~Driver() {
    destroy_leftovers();
    // The kernel may still write into module buffers until the ring is gone.
    ring_.reset();
    modules_.clear();
}

const config::IoUringTuning& Driver::tuning() const {
    return runtime_.tuning();
}

Arena& Driver::arena() const {
    return tpc_.arena();
}

Driver* Driver::current() {
    return this_thread_driver;
}

// ---------------------------------------------------------------- start-up and shutdown

void Driver::thread_main() {
    this_thread_driver = this;
    try {
        set_up();
    } catch (const std::exception& e) {
        stop_modules();
        ring_.reset();
        runtime_.driver_failed(index(), e.what());
        this_thread_driver = nullptr;
        return;
    }
    runtime_.driver_ready(index());
    if (runtime_.wait_release()) {
        run_loop();
    }
    // Instances go only once no driver runs anything any more: a task of this driver's
    // instance may still be running on another driver until its loop has ended.
    runtime_.loop_ended();
    stop_modules();
    // Nobody may send to this ring once it is closed: wait until every loop has ended.
    runtime_.driver_exited();
    ring_.reset();
    this_thread_driver = nullptr;
}

void Driver::set_up() {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(static_cast<unsigned>(cpu()), &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) {
        throw std::runtime_error(std::string("pinning the thread: ") + std::strerror(errno));
    }
    // sched_setaffinity moves the caller before returning; anything else means the pin failed.
    if (sched_getcpu() != cpu()) {
        throw std::runtime_error("pinning the thread: still on CPU " + std::to_string(sched_getcpu()));
    }
    apply_thread_policy(tpc_.memory(), tpc_.numa_node());

    log_ = log::make_logger({tpc_.name(), name(), {}, {}});
    ring_ = std::make_unique<Ring>(plan_.ring, tuning(), runtime_.options().kernel, limits_.file_slots);
    features_ = ring_->features();
    ring_fd_ = ring_->fd();
    internal_ = std::make_unique<Internal>(*this);

    const RuntimeOptions& options = runtime_.options();
    const auto n = runtime_.driver_count();
    batching_ = tuning().submit_batching;
    spin_ns_ = std::chrono::duration_cast<std::chrono::nanoseconds>(tuning().spin).count();
    if (features_.min_wait) {
        min_wait_us_ = static_cast<std::uint32_t>(tuning().min_wait.count());
        wait_batch_ = tuning().wait_batch;
    }
    eventfd_wakeup_ = options.force_eventfd_wakeup || !features_.msg_ring;
    now_ns_ = monotonic_ns();

    Arena& a = tpc_.arena();
    tasks_ = std::make_unique<Slab<Task>>(a, limits_.task_slots);
    mailbox_ = std::make_unique<Mailbox>(a, index(), static_cast<int>(n), options.mailbox_capacity,
                                         options.external_capacity);
    timers_ = std::make_unique<TimerWheel>(a, limits_.timer_slots, options.timer_wheel_slots,
                                           options.timer_tick, now_ns_);
    held_.assign(n, TaskList{});
    wake_marked_.assign(n, 0);
    wake_targets_.reserve(n);
    wake_sent_ = std::make_unique<WakeSent[]>(n);
    for (std::size_t t = 0; t < n; ++t) {
        wake_sent_[t].driver = this;
        wake_sent_[t].target = static_cast<int>(t);
    }
    arm_eventfd_read();

    log_->debug("driver {} on CPU {}: ring {}", name(), cpu(), features_.describe());
    for (auto& module : modules_) {
        module->start(*this);
        ++modules_started_;
    }
}

void Driver::adopt(std::unique_ptr<DriverModule> module) {
    if (draining_) {
        log_->warn("driver {}: a module handed over while stopping was discarded", name());
        return;
    }
    try {
        module->start(*this);
    } catch (const std::exception& e) {
        log_->error("driver {} (CPU {}): a module attached while running failed to start: {}", name(), cpu(),
                    e.what());
        return;
    }
    modules_.push_back(std::move(module));
    ++modules_started_;
}

void Driver::detach(DriverModule& module) {
    assert(current() == this);
    if (std::find(detached_.begin(), detached_.end(), &module) == detached_.end()) {
        detached_.push_back(&module);
    }
}

void Driver::remove_detached() {
    // Every module is started while the loop runs, so positions and the started count agree.
    assert(modules_started_ == modules_.size());
    for (DriverModule* m : detached_) {
        auto it = std::find_if(modules_.begin(), modules_.end(), [m](const auto& p) { return p.get() == m; });
        assert(it != modules_.end());
        std::unique_ptr<DriverModule> leaving = std::move(*it);
        modules_.erase(it);
        --modules_started_;
        leaving->stop(*this);
    }
    detached_.clear();
}

void Driver::stop_modules() {
    for (std::size_t i = 0; i < modules_started_; ++i) {
        modules_[i]->stop(*this);
    }
    modules_started_ = 0;
}

void Driver::destroy_leftovers() {
    // Called with every driver thread gone: tasks still queued anywhere are destroyed unrun.
    auto discard = [](Task* t) { t->destroy(); };
    while (!run_latency_.empty()) {
        discard(run_latency_.pop_front());
    }
    while (!run_batch_.empty()) {
        discard(run_batch_.pop_front());
    }
    for (auto& list : held_) {
        while (!list.empty()) {
            discard(list.pop_front());
        }
    }
    held_count_ = 0;
    if (mailbox_) {
        for (int s = 0; s < mailbox_->senders(); ++s) {
            if (s == index()) {
                continue;
            }
            auto& q = mailbox_->from(s);
            while (Task** t = q.front()) {
                discard(*t);
                q.pop();
            }
        }
    }
}

void Driver::begin_drain() {
    draining_ = true;
    drain_deadline_ns_ = runtime_.stop_deadline_ns();
    for (auto& module : modules_) {
        module->drain(*this);
    }
}

bool Driver::quiescent() {
    if (now_ns_ >= drain_deadline_ns_) {
        return true;
    }
    bool idle = run_latency_.empty() && run_batch_.empty() && held_count_ == 0 && inflight_total_ == 0;
    for (auto& module : modules_) {
        idle = module->drained(*this) && idle;
    }
    return idle;
}

// ---------------------------------------------------------------- event loop

void Driver::run_loop() {
    busy_window_start_ns_ = monotonic_ns();
    std::int64_t turn_start = busy_window_start_ns_;
    for (;;) {
        Wait wait = turn();
        if (quiesced_ && runtime_.all_quiesced()) {
            publish();
            return;
        }
        std::int64_t idle = enter(wait);
        std::int64_t end = monotonic_ns();
        auto elapsed = static_cast<std::uint64_t>(end - turn_start);
        auto idle_ns = static_cast<std::uint64_t>(std::max<std::int64_t>(idle, 0));
        counters_.idle_ns += idle_ns;
        counters_.busy_ns += elapsed - std::min(elapsed, idle_ns);
        turn_start = end;
    }
}

Driver::Wait Driver::turn() {
    now_ns_ = monotonic_ns();
    ++counters_.loop_turns;
    counters_.heartbeat_ns = now_ns_;

    if (!draining_ && runtime_.stop_requested()) {
        begin_drain();
    }
    reap();
    bool more = drain_mailbox();
    // Past the grace deadline no task starts any more: what is left is dropped unrun.
    if (!(quiesced_ && now_ns_ >= drain_deadline_ns_)) {
        run_tasks();
    }
    for (auto& module : modules_) {
        more = module->poll(*this) || more;
    }
    if (!detached_.empty()) {
        remove_detached();
    }
    now_ns_ = monotonic_ns();
    const std::uint32_t fired = timers_->expire(now_ns_);
    counters_.timers_fired += fired;
    bool held = send_held();
    if (draining_ && !quiesced_ && quiescent()) {
        quiesced_ = true;
        runtime_.driver_quiesced();
    }
    flush_wakeups();
    arm_timer();
    publish();

    // Timers fire after the modules' poll: one more turn without blocking lets them see (and
    // publish) what the callbacks did.
    if (more || fired > 0 || !run_latency_.empty() || !run_batch_.empty() || wake_retry_) {
        wake_retry_ = false;
        return Wait::none;
    }
    if (held || (draining_ && !quiesced_)) {
        return Wait::brief;
    }
    return Wait::block;
}

void Driver::reap() {
    io_uring& r = ring_->raw();
    io_uring_cqe batch[cqe_batch];
    bool overflow_seen = false;
    // Bounded so a flood of multishot completions cannot keep the loop from its other work.
    std::uint32_t budget = features_.cq_entries * 2;
    for (;;) {
        // Looked at before reaping: liburing's own helpers would flush the backlog unseen.
        if (!overflow_seen && ring_->cq_overflow_pending()) {
            overflow_seen = true;
            ++counters_.cq_overflows;
            if (counters_.cq_overflows == 1) {
                log_->warn("driver {}: completion queue overflowed ({} entries); flushing the backlog",
                           name(), features_.cq_entries);
            }
        }
        unsigned n = 0;
        unsigned head = 0;
        io_uring_cqe* cqe = nullptr;
        io_uring_for_each_cqe(&r, head, cqe) {
            batch[n++] = *cqe;
            if (n == cqe_batch) {
                break;
            }
        }
        if (n == 0) {
            if (ring_->cq_overflow_pending()) {
                // The kernel holds completions the CQ had no room for: an enter with
                // GETEVENTS moves them into the now empty ring.
                ++counters_.enter_calls;
                io_uring_get_events(&r);
                if (io_uring_cq_ready(&r) > 0) {
                    continue;
                }
            }
            break;
        }
        // Room in the CQ first: handlers may submit, and inline completions need space.
        io_uring_cq_advance(&r, n);
        for (unsigned i = 0; i < n; ++i) {
            const io_uring_cqe& c = batch[i];
            if (c.user_data == LIBURING_UDATA_TIMEOUT) {
                continue; // liburing's own wait timeout on kernels without EXT_ARG
            }
            ++counters_.cqes;
            if (c.user_data == no_completion) {
                if (c.res < 0) {
                    ++counters_.cqe_errors;
                    log_->error("driver {}: untracked request failed: {}", name(), std::strerror(-c.res));
                }
                continue;
            }
            completion_target(c.user_data)->on_completion(c, completion_tag(c.user_data));
        }
        if (n >= budget) {
            break;
        }
        budget -= n;
    }
    if (std::uint32_t dropped = ring_->take_dropped()) {
        counters_.cq_dropped += dropped;
        log_->error("driver {}: the kernel dropped {} completions (CQ overflow without NODROP)", name(),
                    dropped);
    }
}

void Driver::dispatch_internal(const io_uring_cqe& cqe, unsigned tag) {
    switch (tag) {
    case tag_wake: {
        auto sender = cqe.res;
        if (sender < 0 || sender >= mailbox_->senders() || sender == index()) {
            ++counters_.cqe_errors;
            log_->error("driver {}: wake-up with invalid sender {}", name(), sender);
            return;
        }
        mailbox_->wake_pending(sender).store(false, std::memory_order_seq_cst);
        wake_cleared_ = true;
        return;
    }
    case tag_eventfd:
        if (cqe.res != sizeof(eventfd_value_)) {
            ++counters_.cqe_errors;
            log_->error("driver {}: eventfd read returned {}", name(),
                        cqe.res < 0 ? std::strerror(-cqe.res) : std::to_string(cqe.res));
        }
        // The eventfd does not say who wrote: every sender may have been waiting on it.
        for (int s = 0; s < mailbox_->senders(); ++s) {
            mailbox_->wake_pending(s).store(false, std::memory_order_seq_cst);
        }
        wake_cleared_ = true;
        arm_eventfd_read();
        return;
    case tag_timer:
        if (cqe.res != -ETIME && cqe.res != -ECANCELED && cqe.res != 0) {
            ++counters_.cqe_errors;
            log_->error("driver {}: timer timeout failed: {}", name(), std::strerror(-cqe.res));
        }
        timer_in_flight_ = false;
        timer_armed_ns_ = -1;
        return;
    case tag_timer_update:
        // ENOENT: the timeout fired before the update arrived; its own CQE re-arms.
        if (cqe.res < 0 && cqe.res != -ENOENT && cqe.res != -EALREADY) {
            ++counters_.cqe_errors;
            log_->error("driver {}: moving the timer timeout failed: {}", name(), std::strerror(-cqe.res));
        }
        return;
    case tag_untracked:
        if (cqe.res < 0) {
            ++counters_.cqe_errors;
            log_->error("driver {}: untracked request failed: {}", name(), std::strerror(-cqe.res));
        }
        return;
    default:
        assert(false && "unknown internal completion tag");
    }
}

void Driver::wake_sent(int target, int res) {
    if (res >= 0) {
        return;
    }
    ++counters_.cqe_errors;
    log_->error("driver {}: MSG_RING wake-up of driver {} failed: {}", name(), runtime_.driver(target).name(),
                std::strerror(-res));
    // Let the next turn send another one.
    runtime_.driver(target).mailbox_->wake_pending(index()).store(false, std::memory_order_seq_cst);
    mark_wake(target);
    wake_retry_ = true;
}

std::int64_t Driver::enter(Wait wait) {
    io_uring& r = ring_->raw();
    ++counters_.enter_calls;
    int ret = 0;
    std::int64_t idle = 0;
    if (wait == Wait::none) {
        ret = io_uring_submit_and_get_events(&r);
    } else {
        __kernel_timespec ts{};
        ts.tv_nsec = draining_ ? drain_poll_ns : held_retry_ns;
        io_uring_cqe* cqe = nullptr;
        std::int64_t before = monotonic_ns();
        ret = wait == Wait::block ? wait_blocking()
                                  : io_uring_submit_and_wait_timeout(&r, &cqe, 1, &ts, nullptr);
        idle = monotonic_ns() - before;
    }
    if (ret < 0 && ret != -EINTR && ret != -ETIME && ret != -EBUSY && ret != -EAGAIN) {
        runtime_.driver_fatal(index(), std::string("io_uring_enter: ") + std::strerror(-ret));
    }
    return idle;
}

int Driver::wait_blocking() {
    io_uring& r = ring_->raw();
    if (spin_ns_ > 0) {
        // Submitting first: a spin must not hold back this turn's sends. What the submission's
        // task work completed is then in the CQ already.
        if (io_uring_sq_ready(&r) > 0) {
            ++counters_.enter_calls;
            const int ret = io_uring_submit_and_get_events(&r);
            if (ret < 0) {
                return ret;
            }
        }
        if (spin_for_work()) {
            ++counters_.spin_hits;
            return 0;
        }
    }
    if (min_wait_us_ > 0) {
        ++counters_.min_waits;
        return submit_and_wait_min();
    }
    return io_uring_submit_and_wait(&r, 1);
}

bool Driver::spin_for_work() {
    io_uring& r = ring_->raw();
    const std::int64_t until = monotonic_ns() + spin_ns_;
    for (;;) {
        if (io_uring_cq_ready(&r) > 0) {
            return true;
        }
        // With DEFER_TASKRUN, completions wait as task work for the next io_uring_enter; the
        // TASKRUN flag says there is some, and one enter without waiting runs it.
        const unsigned flags = IO_URING_READ_ONCE(*r.sq.kflags);
        if ((flags & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW)) != 0) {
            ++counters_.enter_calls;
            io_uring_get_events(&r);
            return true;
        }
        if (monotonic_ns() >= until) {
            return false;
        }
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#elif defined(__aarch64__)
        asm volatile("yield");
#endif
    }
}

int Driver::submit_and_wait_min() {
    io_uring& r = ring_->raw();
    // liburing 2.3 has no wrapper for min_wait_usec: publish the queued SQEs as its submit
    // does (the SQ tail, which the kernel reads on entry), then enter with the 6.12 argument.
    io_uring_sq& sq = r.sq;
    if (sq.sqe_head != sq.sqe_tail) {
        sq.sqe_head = sq.sqe_tail;
        io_uring_smp_store_release(sq.ktail, sq.sqe_tail);
    }
    const unsigned to_submit = sq.sqe_tail - IO_URING_READ_ONCE(*sq.khead);
    // The overall timeout only bounds a wait that saw nothing at all: with none, the kernel
    // would end every wait at min_wait, and an idle driver would turn for nothing.
    __kernel_timespec ts{};
    ts.tv_sec = 1;
    uapi::GeteventsArg arg{};
    arg.min_wait_usec = min_wait_us_;
    arg.ts = reinterpret_cast<std::uint64_t>(&ts);
    unsigned flags = IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG;
    unsigned fd = static_cast<unsigned>(r.ring_fd);
    if (features_.registered_ring_fd) {
        flags |= IORING_ENTER_REGISTERED_RING;
        fd = static_cast<unsigned>(r.enter_ring_fd);
    }
    // liburing's enter wrappers answer -errno, like its other calls.
    return io_uring_enter2(fd, to_submit, wait_batch_, flags, reinterpret_cast<sigset_t*>(&arg), sizeof(arg));
}

void Driver::publish() {
    published_.publish(counters_);
    std::int64_t window = now_ns_ - busy_window_start_ns_;
    if (window >= busy_window_ns) {
        std::uint64_t busy = counters_.busy_ns - busy_window_busy_ns_;
        auto permille = static_cast<std::uint32_t>(
            std::min<std::uint64_t>(1000, busy * 1000 / static_cast<std::uint64_t>(window)));
        signals_.busy_permille.store(permille, std::memory_order_relaxed);
        signals_.busy_at_ns.store(now_ns_, std::memory_order_relaxed);
        busy_window_start_ns_ = now_ns_;
        busy_window_busy_ns_ = counters_.busy_ns;
    }
}

// ---------------------------------------------------------------- SQEs

io_uring_sqe* Driver::next_sqe() {
    assert(current() == this);
    io_uring& r = ring_->raw();
    if (!batching_ && io_uring_sq_ready(&r) > 0) {
        submit_queued();
    }
    io_uring_sqe* sqe = io_uring_get_sqe(&r);
    for (int attempt = 0; sqe == nullptr; ++attempt) {
        if (attempt == sqe_retry_limit) {
            log_->critical("driver {} on CPU {}: the submission queue stays full; giving up", name(), cpu());
            std::abort();
        }
        submit_queued();
        sqe = io_uring_get_sqe(&r);
    }
    return sqe;
}

void Driver::submit_queued() {
    ++counters_.enter_calls;
    int ret = io_uring_submit(&ring_->raw());
    if (ret == -EBUSY || ret == -EAGAIN) {
        // The kernel is out of room for completions: let it flush before we retry.
        ++counters_.enter_calls;
        io_uring_get_events(&ring_->raw());
    } else if (ret < 0 && ret != -EINTR) {
        runtime_.driver_fatal(index(), std::string("io_uring_submit: ") + std::strerror(-ret));
    }
}

io_uring_sqe* Driver::get_sqe(Completion* target, unsigned tag) {
    io_uring_sqe* sqe = next_sqe();
    io_uring_sqe_set_data64(sqe, encode_completion(target, tag));
    return sqe;
}

io_uring_sqe* Driver::get_sqe_untracked() {
    return get_sqe(internal_.get(), tag_untracked);
}

void Driver::arm_eventfd_read() {
    io_uring_sqe* sqe = get_sqe(internal_.get(), tag_eventfd);
    io_uring_prep_read(sqe, mailbox_->eventfd(), &eventfd_value_, sizeof eventfd_value_, 0);
}

// ---------------------------------------------------------------- buffers and timers

BufferRing& Driver::add_buffer_ring(std::uint16_t group, bool incremental) {
    return add_buffer_ring(group, plan_.ring.buffer_count, plan_.ring.buffer_size, incremental);
}

BufferRing& Driver::add_buffer_ring(std::uint16_t group, std::uint32_t count, std::uint32_t size,
                                    bool incremental) {
    return add_buffer_ring(group, count, size, tpc_.arena(), incremental);
}

BufferRing& Driver::add_buffer_ring(std::uint16_t group, std::uint32_t count, std::uint32_t size,
                                    Arena& memory, bool incremental) {
    assert(!incremental || features_.pbuf_incremental);
    assert(current() == this);
    if (buffer_ring(group) != nullptr) {
        throw std::invalid_argument("driver " + name() + ": buffer group " + std::to_string(group) +
                                    " is already registered");
    }
    try {
        buffer_rings_.push_back(
            std::make_unique<BufferRing>(ring_->raw(), memory, group, count, size, incremental));
    } catch (const std::exception& e) {
        throw std::runtime_error("driver " + name() + ": " + e.what());
    }
    return *buffer_rings_.back();
}

void Driver::remove_buffer_ring(std::uint16_t group) {
    assert(current() == this);
    auto it = std::find_if(buffer_rings_.begin(), buffer_rings_.end(),
                           [group](const auto& b) { return b->group() == group; });
    if (it == buffer_rings_.end()) {
        throw std::invalid_argument("driver " + name() + ": buffer group " + std::to_string(group) +
                                    " is not registered");
    }
    int ret = io_uring_unregister_buf_ring(&ring_->raw(), group);
    if (ret < 0) {
        throw std::runtime_error("driver " + name() + ": unregistering buffer group " +
                                 std::to_string(group) + ": " + std::strerror(-ret));
    }
    buffer_rings_.erase(it);
}

BufferRing* Driver::buffer_ring(std::uint16_t group) {
    for (auto& b : buffer_rings_) {
        if (b->group() == group) {
            return b.get();
        }
    }
    return nullptr;
}

TimerId Driver::schedule_timer(std::chrono::nanoseconds delay, TimerCallback callback, const void* owner) {
    assert(current() == this);
    // From the current time, not the turn's start, so a timer is never early.
    return timers_->schedule(monotonic_ns(), delay, std::move(callback), owner);
}

bool Driver::cancel_timer(TimerId id, const void* owner) {
    assert(current() == this);
    return timers_->cancel(id, owner);
}

void Driver::arm_timer() {
    std::optional<std::int64_t> next = timers_->next_deadline_ns();
    if (!next || (timer_in_flight_ && *next >= timer_armed_ns_)) {
        return;
    }
    timer_ts_.tv_sec = *next / 1'000'000'000;
    timer_ts_.tv_nsec = *next % 1'000'000'000;
    if (!timer_in_flight_) {
        io_uring_sqe* sqe = get_sqe(internal_.get(), tag_timer);
        io_uring_prep_timeout(sqe, &timer_ts_, 0, IORING_TIMEOUT_ABS);
        timer_in_flight_ = true;
    } else {
        io_uring_sqe* sqe = get_sqe(internal_.get(), tag_timer_update);
        io_uring_prep_timeout_update(sqe, &timer_ts_, encode_completion(internal_.get(), tag_timer),
                                     IORING_TIMEOUT_ABS);
    }
    timer_armed_ns_ = *next;
}

// ---------------------------------------------------------------- tasks and messages

Task* Driver::allocate_task() {
    assert(current() == this);
    Task* t = tasks_->create();
    if (t == nullptr) {
        ++counters_.spawn_refused;
    }
    return t;
}

void Driver::free_task(Task* task) {
    task->destroy();
    tasks_->destroy(task);
}

SpawnStatus Driver::submit(Task* task, Placement where, Priority priority) {
    task->owner = index();
    task->priority = priority;
    int target = -1;
    switch (where.kind()) {
    case Placement::Kind::same_driver:
        target = does_exec() ? index() : place_least_loaded();
        break;
    case Placement::Kind::least_loaded:
        target = place_least_loaded();
        break;
    case Placement::Kind::driver:
        target = where.target();
        if (target < 0 || static_cast<std::size_t>(target) >= runtime_.driver_count()) {
            target = -1;
        }
        break;
    case Placement::Kind::key:
        target = key_executor(where.key_value(), runtime_.exec_drivers());
        break;
    }
    if (target < 0) {
        free_task(task);
        return SpawnStatus::invalid_target;
    }
    task->executor = target;
    // The reservation: every later choice, on any driver, sees this task on its executor.
    runtime_.driver(target).signals_.depth.fetch_add(1, std::memory_order_relaxed);
    if (target == index()) {
        make_ready(task);
    } else {
        ++inflight_total_;
        push_to(target, task);
    }
    return SpawnStatus::ok;
}

int Driver::place_least_loaded() {
    // Two draws per TPC, nearest first; the first TPC whose choice is at or under the spill
    // threshold takes the task, else the least loaded choice of all.
    const std::int64_t now = monotonic_ns();
    const std::uint64_t spill =
        load_per_task * static_cast<std::uint64_t>(runtime_.options().spill_threshold);
    Choice best;
    for (int t : tpc_.nearest()) {
        Choice c = two_choices(runtime_.tpc(t).exec_drivers(), runtime_.signals(), rng_, now);
        if (c.driver >= 0 && (best.driver < 0 || c.score < best.score)) {
            best = c;
        }
        if (best.driver >= 0 && best.score <= spill) {
            break;
        }
    }
    return best.driver;
}

void Driver::make_ready(Task* task) {
    (task->priority == Priority::latency ? run_latency_ : run_batch_).push_back(task);
}

void Driver::mark_wake(int target) {
    auto t = static_cast<std::size_t>(target);
    if (wake_marked_[t] == 0) {
        wake_marked_[t] = 1;
        wake_targets_.push_back(target);
    }
}

bool Driver::push_to(int target, Task* task) {
    TaskList& held = held_[static_cast<std::size_t>(target)];
    if (held.empty() && runtime_.driver(target).mailbox_->from(index()).try_push(task)) {
        ++counters_.messages_sent;
        mark_wake(target);
        return true;
    }
    // Full (or older entries still waiting): keep FIFO order and retry each turn.
    ++counters_.queue_full;
    held.push_back(task);
    ++held_count_;
    return false;
}

bool Driver::send_held() {
    if (held_count_ == 0) {
        return false;
    }
    for (std::size_t t = 0; t < held_.size(); ++t) {
        TaskList& held = held_[t];
        if (held.empty()) {
            continue;
        }
        auto& q = runtime_.driver(static_cast<int>(t)).mailbox_->from(index());
        bool pushed = false;
        while (!held.empty()) {
            // Unlinked before the push: once pushed, the receiver owns the task's link.
            Task* front = held.pop_front();
            if (!q.try_push(front)) {
                held.push_front(front);
                break;
            }
            --held_count_;
            ++counters_.messages_sent;
            pushed = true;
        }
        if (pushed) {
            mark_wake(static_cast<int>(t));
        }
    }
    return held_count_ > 0;
}

void Driver::flush_wakeups() {
    if (wake_targets_.empty()) {
        return;
    }
    // Orders this turn's queue pushes before reading the receivers' wake flags (the receiver
    // clears its flag, then fences, then reads the queues).
    std::atomic_thread_fence(std::memory_order_seq_cst);
    for (int target : wake_targets_) {
        wake_marked_[static_cast<std::size_t>(target)] = 0;
        Driver& to = runtime_.driver(target);
        if (to.mailbox_->wake_pending(index()).exchange(true, std::memory_order_seq_cst)) {
            continue; // a wake-up is already on its way and the receiver has not drained since
        }
        ++counters_.wakeups_sent;
        if (eventfd_wakeup_) {
            to.mailbox_->ring_eventfd();
        } else {
            io_uring_sqe* sqe = get_sqe(&wake_sent_[static_cast<std::size_t>(target)], 0);
            io_uring_prep_msg_ring(sqe, to.ring_fd_, static_cast<unsigned>(index()),
                                   encode_completion(to.internal_.get(), tag_wake), 0);
            if (features_.cqe_skip) {
                sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
            }
        }
    }
    wake_targets_.clear();
}

bool Driver::drain_mailbox() {
    if (wake_cleared_) {
        // Pairs with the sender's fence: a push we cannot see yet was followed by a flag
        // exchange that saw our clear, so its wake-up is on its way.
        std::atomic_thread_fence(std::memory_order_seq_cst);
        wake_cleared_ = false;
    }
    // At most one queue's worth per sender per turn, so I/O is never starved by messages. A
    // queue left non-empty must be looked at again without waiting: its sender may have seen
    // the wake flag still set and sent no new wake-up.
    bool left = false;
    const int senders = mailbox_->senders();
    for (int s = 0; s < senders; ++s) {
        if (s == index()) {
            continue;
        }
        auto& q = mailbox_->from(s);
        std::uint32_t k = q.capacity();
        for (; k > 0; --k) {
            Task** slot = q.front();
            if (slot == nullptr) {
                break;
            }
            Task* t = *slot;
            q.pop();
            ++counters_.messages_received;
            accept(t);
        }
        left = left || k == 0;
    }
    auto& ext = mailbox_->external();
    std::uint32_t k = ext.capacity();
    for (; k > 0; --k) {
        ExternalMessage* m = ext.front();
        if (m == nullptr) {
            break;
        }
        ExternalMessage message = std::move(*m);
        ext.pop();
        ++counters_.messages_received;
        ++counters_.tasks_run;
        message(*this);
    }
    if (k < ext.capacity()) {
        mailbox_->external_taken();
    }
    return left || k == 0;
}

void Driver::accept(Task* task) {
    if (task->done) {
        assert(task->owner == index());
        --inflight_total_;
        task->complete(*this);
        free_task(task);
        return;
    }
    make_ready(task);
}

void Driver::run_tasks() {
    const RuntimeOptions& options = runtime_.options();
    std::uint32_t budget = options.task_budget;
    if (run_latency_.empty() && run_batch_.empty()) {
        return;
    }
    // The batch start time, so a task that runs long makes this driver look loaded; cleared
    // before each result leaves, so its submitter never sees a finished task as running.
    const std::int64_t batch_start = monotonic_ns();
    while (budget-- > 0 && !(run_latency_.empty() && run_batch_.empty())) {
        bool batch = !run_batch_.empty() && (run_latency_.empty() || latency_streak_ >= options.batch_share);
        Task* t = nullptr;
        if (batch) {
            t = run_batch_.pop_front();
            latency_streak_ = 0;
        } else {
            t = run_latency_.pop_front();
            ++latency_streak_;
        }
        signals_.running_since_ns.store(batch_start, std::memory_order_relaxed);
        t->run(*this);
        signals_.running_since_ns.store(0, std::memory_order_relaxed);
        signals_.depth.fetch_sub(1, std::memory_order_relaxed);
        ++counters_.tasks_run;
        finish(t);
    }
}

void Driver::finish(Task* task) {
    task->done = true;
    if (task->owner == index()) {
        task->complete(*this);
        free_task(task);
        return;
    }
    push_to(task->owner, task);
}

} // namespace gatio::core
