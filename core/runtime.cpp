#include "core/runtime.hpp"

#include <algorithm>
#include <cassert>
#include <climits>
#include <numeric>
#include <spdlog/spdlog.h>
#include <stdexcept>
#include <system_error>

#include "core/clock.hpp"

namespace gatio::core {

namespace {

bool power_of_two(std::uint64_t v) {
    return v != 0 && (v & (v - 1)) == 0;
}

int distance(const Machine& machine, int a, int b) {
    if (a < 0 || b < 0 || static_cast<std::size_t>(a) >= machine.distance.size()) {
        return INT_MAX;
    }
    const auto& row = machine.distance[static_cast<std::size_t>(a)];
    return static_cast<std::size_t>(b) < row.size() ? row[static_cast<std::size_t>(b)] : INT_MAX;
}

void check_options(const RuntimeOptions& o, const config::IoUringTuning& tuning) {
    auto fail = [](const std::string& what) { throw std::invalid_argument("runtime options: " + what); };
    if (!power_of_two(o.mailbox_capacity) || o.mailbox_capacity < 2 || o.mailbox_capacity > (1u << 30)) {
        fail("mailbox_capacity " + std::to_string(o.mailbox_capacity) + " is not a power of two in 2..2^30");
    }
    if (!power_of_two(o.external_capacity) || o.external_capacity < 2 || o.external_capacity > (1u << 30)) {
        fail("external_capacity " + std::to_string(o.external_capacity) +
             " is not a power of two in 2..2^30");
    }
    if (!power_of_two(o.timer_wheel_slots) || o.timer_wheel_slots < 64) {
        fail("timer_wheel_slots " + std::to_string(o.timer_wheel_slots) + " is not a power of two >= 64");
    }
    if (o.timer_tick.count() <= 0) {
        fail("timer_tick must be positive");
    }
    if (o.task_budget == 0) {
        fail("task_budget must be at least 1");
    }
    if (tuning.cq_factor < 1 || tuning.cq_factor > 64) {
        fail("io_uring cq_factor " + std::to_string(tuning.cq_factor) + " is outside 1..64");
    }
}

} // namespace

Runtime::Runtime(const Topology& topology, const Machine& machine, const config::IoUringTuning& tuning,
                 RuntimeOptions options)
    : tuning_(tuning), options_(std::move(options)) {
    check_options(options_, tuning_);

    std::size_t n = 0;
    for (const auto& tpc : topology.tpcs) {
        n += tpc.drivers.size();
    }
    if (n == 0) {
        throw std::invalid_argument("topology has no driver");
    }
    std::vector<int> cpu_owner;
    std::vector<bool> seen(n, false);
    for (std::size_t t = 0; t < topology.tpcs.size(); ++t) {
        const TpcPlan& plan = topology.tpcs[t];
        if (plan.index != static_cast<int>(t)) {
            throw std::invalid_argument("TPC " + plan.name + " has index " + std::to_string(plan.index) +
                                        ", expected " + std::to_string(t));
        }
        for (const auto& d : plan.drivers) {
            if (d.index < 0 || static_cast<std::size_t>(d.index) >= n ||
                seen[static_cast<std::size_t>(d.index)]) {
                throw std::invalid_argument("driver " + d.name + ": index " + std::to_string(d.index) +
                                            " is out of range or used twice");
            }
            seen[static_cast<std::size_t>(d.index)] = true;
            if (d.cpu < 0 || d.cpu >= config::CpuSet::max_cpus) {
                throw std::invalid_argument("driver " + d.name + ": CPU " + std::to_string(d.cpu) +
                                            " is invalid");
            }
            const DriverLimits& limits = options_.limits_for(d.index);
            if (limits.task_slots == 0 || limits.timer_slots == 0) {
                throw std::invalid_argument("driver " + d.name +
                                            ": task_slots and timer_slots must be at least 1");
            }
            if (!options_.allow_shared_cpus) {
                auto cpu = static_cast<std::size_t>(d.cpu);
                if (cpu_owner.size() <= cpu) {
                    cpu_owner.resize(cpu + 1, -1);
                }
                if (cpu_owner[cpu] >= 0) {
                    throw std::invalid_argument("driver " + d.name + ": CPU " + std::to_string(d.cpu) +
                                                " is already used by another driver");
                }
                cpu_owner[cpu] = d.index;
            }
        }
    }

    for (const auto& plan : topology.tpcs) {
        tpcs_.push_back(
            std::make_unique<Tpc>(plan, Tpc::arena_bytes_for(plan, static_cast<int>(n), options_)));
    }
    for (std::size_t t = 0; t < tpcs_.size(); ++t) {
        std::vector<int> order(tpcs_.size());
        std::iota(order.begin(), order.end(), 0);
        const int home = tpcs_[t]->numa_node();
        std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
            auto key = [&](int x) {
                return x == static_cast<int>(t)
                           ? -1
                           : distance(machine, home, tpcs_[static_cast<std::size_t>(x)]->numa_node());
            };
            return key(a) < key(b);
        });
        tpcs_[t]->set_nearest(std::move(order));
    }

    drivers_.resize(n);
    for (std::size_t t = 0; t < topology.tpcs.size(); ++t) {
        for (const auto& d : topology.tpcs[t].drivers) {
            drivers_[static_cast<std::size_t>(d.index)] =
                std::unique_ptr<Driver>(new Driver(*this, *tpcs_[t], d, options_.limits_for(d.index)));
        }
    }
    for (const auto& d : drivers_) {
        if (d->does_exec()) {
            exec_drivers_.push_back(d->index());
        }
        signals_.push_back(&d->signals());
    }
    reported_.assign(n, 0);
    liveness_ = std::make_unique<LivenessMonitor>(n);
    heartbeats_.assign(n, 0);
}

const std::vector<LivenessMonitor::Change>& Runtime::check_liveness(std::int64_t now_ns) {
    for (std::size_t i = 0; i < drivers_.size(); ++i) {
        heartbeats_[i] = drivers_[i]->counters().heartbeat_ns;
    }
    const auto& changes = liveness_->check(heartbeats_);
    for (std::size_t i = 0; i < drivers_.size(); ++i) {
        // A no-op: running it is what makes the driver turn its loop and publish a heartbeat.
        if (liveness_->wants_probe(i) && post(static_cast<int>(i), [](Driver&) {})) {
            liveness_->probed(i, now_ns);
        }
    }
    return changes;
}

Runtime::~Runtime() {
    if (phase_ == Phase::running || phase_ == Phase::stopping) {
        request_stop();
        join();
    }
}

DriverModule& Runtime::attach(int driver, std::unique_ptr<DriverModule> module) {
    if (phase_ != Phase::created) {
        throw std::logic_error("Runtime::attach after start");
    }
    auto& modules = drivers_.at(static_cast<std::size_t>(driver))->modules_;
    modules.push_back(std::move(module));
    return *modules.back();
}

bool Runtime::attach_running(int driver, std::unique_ptr<DriverModule>& module) {
    // A deadline already passed: one try.
    return attach_running_by(driver, module, std::chrono::steady_clock::time_point{});
}

bool Runtime::attach_running_by(int driver, std::unique_ptr<DriverModule>& module,
                                std::chrono::steady_clock::time_point deadline) {
    assert(module);
    // Shared between the message and this call: if the message is not queued, nobody else
    // ever sees it and the module goes back to the caller.
    auto slot = std::make_shared<std::unique_ptr<DriverModule>>(std::move(module));
    ExternalMessage message([slot](Driver& d) { d.adopt(std::move(*slot)); });
    if (post_external_by(driver, message, deadline)) {
        return true;
    }
    module = std::move(*slot);
    return false;
}

std::string Runtime::describe(int index) const {
    const Driver& d = *drivers_[static_cast<std::size_t>(index)];
    return "driver " + d.name() + " (CPU " + std::to_string(d.cpu()) + ", TPC " + d.tpc().name() + ")";
}

std::string Runtime::start() {
    if (phase_ != Phase::created) {
        throw std::logic_error("Runtime::start called twice");
    }
    phase_ = Phase::starting;
    // spdlog's registry is a function-local static inside its (uninstrumented) library: build it here, before
    // any driver exists, so that the drivers' first log calls never race its construction (ThreadSanitizer
    // saw two drivers do so when nothing had logged before start).
    spdlog::default_logger_raw();
    const int n = static_cast<int>(drivers_.size());
    for (int i = 0; i < n; ++i) {
        Driver* d = drivers_[static_cast<std::size_t>(i)].get();
        try {
            d->thread_ = std::thread([d] { d->thread_main(); });
        } catch (const std::system_error& e) {
            driver_failed(i, std::string("creating the thread: ") + e.what());
        }
    }

    std::unique_lock lock(start_mutex_);
    bool all = start_cv_.wait_for(lock, options_.start_timeout, [&] { return ready_ + failed_ == n; });
    if (all && failed_ == 0) {
        // Every driver has taken its memory: from now on an allocation is a bug.
        for (auto& tpc : tpcs_) {
            tpc->arena().seal();
        }
        released_ = true;
        running_.store(true, std::memory_order_release);
        lock.unlock();
        start_cv_.notify_all();
        phase_ = Phase::running;
        return {};
    }
    for (int i = 0; i < n; ++i) {
        if (reported_[static_cast<std::size_t>(i)] == 0) {
            start_errors_.emplace_back(i, describe(i) + ": not ready after " +
                                              std::to_string(options_.start_timeout.count()) + " ms");
        }
    }
    aborted_ = true;
    released_ = true;
    std::sort(start_errors_.begin(), start_errors_.end());
    std::string error;
    for (const auto& [index, message] : start_errors_) {
        error += (error.empty() ? "" : "; ") + message;
    }
    lock.unlock();
    start_cv_.notify_all();
    join_threads();
    phase_ = Phase::joined;
    return error;
}

void Runtime::driver_ready(int index) {
    {
        std::lock_guard lock(start_mutex_);
        reported_[static_cast<std::size_t>(index)] = 1;
        ++ready_;
    }
    start_cv_.notify_all();
}

void Runtime::driver_failed(int index, const std::string& cause) {
    {
        std::lock_guard lock(start_mutex_);
        reported_[static_cast<std::size_t>(index)] = 1;
        ++failed_;
        start_errors_.emplace_back(index, describe(index) + ": " + cause);
    }
    start_cv_.notify_all();
}

bool Runtime::wait_release() {
    std::unique_lock lock(start_mutex_);
    start_cv_.wait(lock, [this] { return released_; });
    return !aborted_;
}

void Runtime::loop_ended() {
    std::unique_lock lock(start_mutex_);
    ++loops_ended_;
    start_cv_.notify_all();
    const int n = static_cast<int>(drivers_.size());
    start_cv_.wait(lock, [&] { return aborted_ || loops_ended_ + failed_ >= n; });
}

void Runtime::driver_exited() {
    std::unique_lock lock(start_mutex_);
    ++exited_;
    start_cv_.notify_all();
    const int n = static_cast<int>(drivers_.size());
    start_cv_.wait(lock, [&] { return aborted_ || exited_ + failed_ >= n; });
}

void Runtime::driver_fatal(int index, const std::string& cause) {
    std::string message = describe(index) + ": " + cause;
    {
        std::lock_guard lock(start_mutex_);
        if (!failure_.empty()) {
            return;
        }
        failure_ = message;
    }
    spdlog::critical("{}; stopping", message);
    request_stop();
}

std::string Runtime::failure() const {
    std::lock_guard lock(start_mutex_);
    return failure_;
}

void Runtime::driver_quiesced() {
    if (quiesced_.fetch_add(1, std::memory_order_acq_rel) + 1 == static_cast<int>(drivers_.size())) {
        wake_all();
    }
}

void Runtime::request_stop(std::chrono::milliseconds grace) {
    if (stop_.load(std::memory_order_acquire)) {
        return;
    }
    stop_deadline_ns_.store(monotonic_ns() + std::chrono::nanoseconds(grace).count(),
                            std::memory_order_release);
    stop_.store(true, std::memory_order_release);
    wake_all();
}

void Runtime::wake_all() {
    // Mailboxes exist on every driver only once the start barrier has released.
    if (!running_.load(std::memory_order_acquire)) {
        return;
    }
    for (auto& d : drivers_) {
        d->mailbox_->ring_eventfd();
    }
}

bool Runtime::post_external(int index, ExternalMessage& message) {
    if (!running_.load(std::memory_order_acquire) || index < 0 ||
        static_cast<std::size_t>(index) >= drivers_.size()) {
        return false;
    }
    return drivers_[static_cast<std::size_t>(index)]->mailbox_->push_external(message);
}

bool Runtime::post_external_by(int index, ExternalMessage& message,
                               std::chrono::steady_clock::time_point deadline) {
    if (!running_.load(std::memory_order_acquire) || index < 0 ||
        static_cast<std::size_t>(index) >= drivers_.size()) {
        return false;
    }
    return drivers_[static_cast<std::size_t>(index)]->mailbox_->push_external_by(message, deadline);
}

void Runtime::join_threads() {
    for (auto& d : drivers_) {
        if (d->thread_.joinable()) {
            d->thread_.join();
        }
    }
    for (auto& d : drivers_) {
        d->destroy_leftovers();
    }
}

void Runtime::join() {
    if (phase_ == Phase::joined) {
        return;
    }
    if (phase_ == Phase::created) {
        phase_ = Phase::joined;
        return;
    }
    phase_ = Phase::stopping;
    join_threads();
    running_.store(false, std::memory_order_release);
    phase_ = Phase::joined;
}

} // namespace gatio::core
