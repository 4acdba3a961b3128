// The running engine: TPCs and their drivers built from a resolved Topology.
//
// The daemon thread constructs a Runtime, attaches per-driver modules (net/), calls start()
// (which returns once every driver is up, or fails as a whole), later request_stop() and join().
//
// NUMA placement: least_loaded tasks go to exec-capable drivers of the submitter's TPC first,
// and leave it only when its least loaded driver is above RuntimeOptions::spill_threshold, for
// the TPCs in increasing NUMA distance taken from Machine::distance (node ids index the
// matrix; a node missing from it counts as farthest).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "core/counters.hpp"
#include "core/driver.hpp"
#include "core/liveness.hpp"
#include "core/machine.hpp"
#include "core/mailbox.hpp"
#include "core/placement.hpp"
#include "core/topology.hpp"
#include "core/tpc.hpp"

namespace gatio::core {

class Runtime {
public:
    // Checks the plan against the options (CPUs distinct unless allow_shared_cpus, sizes are
    // powers of two ...) and reserves each TPC's arena. Throws std::invalid_argument or
    // std::runtime_error naming what is wrong.
    Runtime(const Topology& topology, const Machine& machine, const config::IoUringTuning& tuning,
            RuntimeOptions options = {});
    ~Runtime(); // requests a stop and joins if still running
    Runtime(const Runtime&) = delete;
    Runtime& operator=(const Runtime&) = delete;

    // Before start(): `module` gets start/poll/drain/stop on driver `driver`'s thread, in
    // attachment order.
    DriverModule& attach(int driver, std::unique_ptr<DriverModule> module);
    // From a non-driver thread while running: hands `module` to driver `driver`, which starts
    // it at the beginning of a loop turn (see DriverModule::start) and from then on treats it
    // like the others. False, with `module` left to the caller, when the runtime is not
    // running or that driver's external queue is full. A module arriving once the driver is
    // draining is destroyed unstarted; one whose start() throws is logged and destroyed.
    bool attach_running(int driver, std::unique_ptr<DriverModule>& module);
    // Like attach_running, but while that driver's queue is full it waits for room (the
    // driver taking messages wakes it), until `deadline` at most.
    bool attach_running_by(int driver, std::unique_ptr<DriverModule>& module,
                           std::chrono::steady_clock::time_point deadline);

    // Starts every driver and waits until all are up. Returns "" on success; otherwise every
    // driver has been stopped and joined again, and the text names each failed driver, its CPU
    // and the cause, e.g. "driver cpu1 (CPU 1, TPC node0): io_uring setup: Cannot allocate memory".
    [[nodiscard]] std::string start();

    // Any thread, idempotent (the first grace counts): drivers call DriverModule::drain, keep
    // running tasks and messages until every driver is idle (modules drained, no task of
    // theirs in flight) or `grace` has passed, then leave their loops together. Tasks still
    // queued at that point are destroyed without running; their done callbacks never run.
    void request_stop(std::chrono::milliseconds grace = std::chrono::milliseconds(0));
    bool stop_requested() const { return stop_.load(std::memory_order_acquire); }
    // Waits for every driver thread and releases rings and memory. Idempotent.
    void join();
    // The first fatal error a running driver met ("" if none); such an error also requests a stop.
    std::string failure() const;

    std::size_t driver_count() const { return drivers_.size(); }
    Driver& driver(int index) { return *drivers_.at(static_cast<std::size_t>(index)); }
    std::size_t tpc_count() const { return tpcs_.size(); }
    Tpc& tpc(int index) { return *tpcs_.at(static_cast<std::size_t>(index)); }
    DriverCounters counters(int driver) const {
        return drivers_.at(static_cast<std::size_t>(driver))->counters();
    }

    const RuntimeOptions& options() const { return options_; }
    const config::IoUringTuning& tuning() const { return tuning_; }
    // Every exec-capable driver, ascending (key placement's targets), and every driver's
    // placement signals by index. Any thread.
    const std::vector<int>& exec_drivers() const { return exec_drivers_; }
    SignalTable signals() const { return signals_; }

    // The process's one liveness monitor (core/liveness.hpp); any thread may read its verdicts.
    const LivenessMonitor& liveness() const { return *liveness_; }
    // One liveness period, on the one thread that ticks the monitor while running: checks every
    // driver's heartbeat against its probe, then probes each driver that answered. `now_ns` is
    // CLOCK_MONOTONIC. Returns the drivers that stalled or recovered since the last call.
    const std::vector<LivenessMonitor::Change>& check_liveness(std::int64_t now_ns);

    // From a non-driver thread while running: fn(driver) runs on driver `index`. False when
    // that driver's external queue is full or the runtime is not running.
    template <typename Fn>
    bool post(int index, Fn&& fn) {
        ExternalMessage message(std::forward<Fn>(fn));
        return post_external(index, message);
    }
    // Like post, but while the queue is full it waits for room until `deadline` at most.
    template <typename Fn>
    bool post_by(int index, Fn&& fn, std::chrono::steady_clock::time_point deadline) {
        ExternalMessage message(std::forward<Fn>(fn));
        return post_external_by(index, message, deadline);
    }

private:
    friend class Driver;

    bool post_external(int index, ExternalMessage& message);
    bool post_external_by(int index, ExternalMessage& message,
                          std::chrono::steady_clock::time_point deadline);
    // Start-barrier bookkeeping, called by driver threads.
    void driver_ready(int index);
    void driver_failed(int index, const std::string& cause);
    bool wait_release();  // false: the start was aborted
    void loop_ended();    // returns once every driver's loop has ended
    void driver_exited(); // returns once every driver has stopped its modules
    void driver_fatal(int index, const std::string& cause);
    void driver_quiesced();
    std::string describe(int index) const;
    void join_threads();
    bool all_quiesced() const {
        return quiesced_.load(std::memory_order_acquire) == static_cast<int>(drivers_.size());
    }
    std::int64_t stop_deadline_ns() const { return stop_deadline_ns_.load(std::memory_order_acquire); }
    void wake_all();

    config::IoUringTuning tuning_;
    RuntimeOptions options_;
    std::vector<std::unique_ptr<Tpc>> tpcs_;
    std::vector<std::unique_ptr<Driver>> drivers_;
    std::vector<int> exec_drivers_;
    std::vector<const ExecutorSignals*> signals_;
    std::unique_ptr<LivenessMonitor> liveness_;
    std::vector<std::int64_t> heartbeats_; // check_liveness's scratch, by driver

    enum class Phase { created, starting, running, stopping, joined };
    Phase phase_ = Phase::created; // daemon thread only

    mutable std::mutex start_mutex_; // start-up, shutdown and failure reporting only
    std::condition_variable start_cv_;
    std::vector<std::uint8_t> reported_; // [driver]: ready or failed
    int ready_ = 0;
    int failed_ = 0;
    int exited_ = 0;
    int loops_ended_ = 0;
    bool released_ = false;
    bool aborted_ = false;
    std::vector<std::pair<int, std::string>> start_errors_; // (driver, message)
    std::string failure_;
    std::atomic<bool> running_{false};

    std::atomic<bool> stop_{false};
    std::atomic<std::int64_t> stop_deadline_ns_{0};
    std::atomic<int> quiesced_{0};
};

} // namespace gatio::core
