// A driver: one OS thread pinned to one CPU, owning one io_uring, running one event loop.
//
// Everything a Driver offers is for code running on that driver's thread (its modules,
// completion handlers, tasks, timers), except what is marked "any thread". A turn of the loop:
// dispatch every CQE to its Completion, take messages from the mailbox, run tasks, poll modules,
// fire timers, send held-back messages and wake-ups, then one io_uring_enter that submits all
// queued SQEs and waits for completions when there is nothing else to do.
//
// Nothing the loop calls (completions, tasks, messages, timers, modules' poll) may throw: an
// exception escaping into the loop ends the process. Plugin code is the one caller that cannot
// promise it, so net/ catches at each of its calls into a plugin (net/endpoint.hpp).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <liburing.h>
#include <linux/time_types.h>
#include <memory>
#include <spdlog/logger.h>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "core/arena.hpp"
#include "core/buffer_ring.hpp"
#include "core/completion.hpp"
#include "core/counters.hpp"
#include "core/placement.hpp"
#include "core/ring.hpp"
#include "core/slab.hpp"
#include "core/task.hpp"
#include "core/timer_wheel.hpp"
#include "core/topology.hpp"

namespace gatio::core {

class Mailbox;
class Runtime;
class Tpc;

// Sizes fixed at start-up for one driver.
struct DriverLimits {
    std::uint32_t file_slots = 0;     // sparse registered file table (direct descriptors); 0 = none
    std::uint32_t task_slots = 4096;  // tasks and messages this driver may have in flight
    std::uint32_t timer_slots = 4096; // timers pending at once
};

struct RuntimeOptions {
    // What probe_kernel() found, handed to every driver's ring. The default assumes no optional
    // feature, so a runtime built without the probe takes the fallbacks.
    KernelSupport kernel;
    DriverLimits defaults;
    std::vector<DriverLimits> per_driver;   // by global driver index; missing entries use defaults
    std::uint32_t mailbox_capacity = 1024;  // entries per (sender, receiver) queue, power of two >= 2
    std::uint32_t external_capacity = 256;  // entries in the queue fed by non-driver threads, power of two
    std::uint32_t task_budget = 256;        // tasks run per loop turn before I/O is looked at again
    std::uint32_t batch_share = 8;          // latency tasks in a row before a waiting batch task runs
    std::uint32_t spill_threshold = 64;     // least_loaded leaves the submitter's TPC above this load
    std::uint64_t placement_seed = 0;       // seeds each driver's placement draws (with its index)
    std::uint32_t timer_wheel_slots = 4096; // power of two
    std::chrono::nanoseconds timer_tick{std::chrono::milliseconds(1)};
    std::uint32_t buffer_rings_per_driver = 1; // arena budget: rings of RingSettings size per driver
    std::size_t arena_extra_bytes = 0;         // arena budget per TPC for modules' own allocations
    std::chrono::milliseconds start_timeout{10'000};
    bool force_eventfd_wakeup = false; // use the eventfd fallback even where MSG_RING works
    bool allow_shared_cpus = false;    // several drivers on one CPU (tests on small machines)

    const DriverLimits& limits_for(int driver) const {
        auto i = static_cast<std::size_t>(driver);
        return i < per_driver.size() ? per_driver[i] : defaults;
    }
};

// Per-driver objects attached by upper layers (net/) before start.
class DriverModule {
public:
    virtual ~DriverModule() = default;

    // On the driver thread once its ring exists, before the start barrier releases: allocate
    // from driver.arena(), register buffer rings, queue the first SQEs. Throwing a
    // std::exception fails the whole start; its what() becomes the cause in the error.
    // A module handed over while running (Runtime::attach_running) starts at the beginning of
    // a loop turn instead: the TPC arena is sealed by then, so it brings its own memory, and
    // when it throws, it must leave nothing in flight (it is destroyed at once).
    virtual void start(Driver& driver) = 0;
    // Every loop turn. Return true when more work is ready now (the driver then does not block
    // waiting for completions this turn).
    virtual bool poll(Driver&) { return false; }
    // Once, when a stop is requested: stop taking new work (cancel accepts, close idle peers).
    virtual void drain(Driver&) {}
    // After drain(), every turn until it returns true or the drain deadline passes.
    virtual bool drained(Driver&) { return true; }
    // Once, on the driver thread, as the loop ends. The ring is torn down afterwards, which
    // cancels whatever is still in flight without delivering completions.
    virtual void stop(Driver&) {}
};

class Driver {
public:
    Driver(const Driver&) = delete;
    Driver& operator=(const Driver&) = delete;
    ~Driver();

    // ---- Identity (any thread) ----
    int index() const { return plan_.index; }
    const std::string& name() const { return plan_.name; }
    int cpu() const { return plan_.cpu; }
    config::DriverRole role() const { return plan_.role; }
    bool does_io() const { return config::does_io(plan_.role); }
    bool does_exec() const { return config::does_exec(plan_.role); }
    Tpc& tpc() const { return tpc_; }
    Runtime& runtime() const { return runtime_; }
    const config::RingSettings& ring_settings() const { return plan_.ring; }
    const config::IoUringTuning& tuning() const;
    const DriverLimits& limits() const { return limits_; }
    // Valid from DriverModule::start on.
    const RingFeatures& features() const { return features_; }
    spdlog::logger& log() const { return *log_; }

    // ---- Observation (any thread) ----
    DriverCounters counters() const { return published_.read(); }
    // What placement reads about this driver as an executor (core/placement.hpp).
    const ExecutorSignals& signals() const { return signals_; }

    // ---- Driver thread only ----
    // The driver whose thread is calling, nullptr on other threads.
    static Driver* current();

    // A blank SQE whose completion goes to target->on_completion(cqe, tag). Never null: when
    // the SQ is full the queued SQEs are submitted first. The SQE is submitted by the next
    // io_uring_enter (end of this loop turn, or earlier when batching is off).
    io_uring_sqe* get_sqe(Completion* target, unsigned tag);
    // As above for a request whose completion nobody waits for (failures are counted and logged).
    io_uring_sqe* get_sqe_untracked();
    io_uring& ring() { return ring_->raw(); }

    // Node-local memory for modules' slabs and buffers (DriverModule::start only).
    Arena& arena() const;

    // Registers a provided-buffer ring under `group` with buffers from the TPC arena
    // (DriverModule::start only). The first form uses ring_settings() (buffer_count x
    // buffer_size). incremental: consumed incrementally (IOU_PBUF_RING_INC, only where
    // features().pbuf_incremental). Throws std::runtime_error naming the driver and group on failure.
    BufferRing& add_buffer_ring(std::uint16_t group, bool incremental = false);
    BufferRing& add_buffer_ring(std::uint16_t group, std::uint32_t count, std::uint32_t size,
                                bool incremental = false);
    // For a module attached while running: the same, with the ring and buffers taken from
    // `memory`, which must stay mapped until remove_buffer_ring(group) has returned.
    BufferRing& add_buffer_ring(std::uint16_t group, std::uint32_t count, std::uint32_t size, Arena& memory,
                                bool incremental = false);
    BufferRing* buffer_ring(std::uint16_t group);
    // Unregisters `group` from the ring and forgets it; no receive that may still pick one of
    // its buffers may be in flight. Throws std::runtime_error naming the driver and group (the
    // kernel then still holds the ring: its memory must stay mapped).
    void remove_buffer_ring(std::uint16_t group);

    // Called by a module (from poll(), a completion, a task or a timer): at the end of this
    // loop turn its stop() runs and it is destroyed. Other modules are not affected.
    void detach(DriverModule& module);

    // CLOCK_MONOTONIC at the start of this loop turn.
    std::int64_t now_ns() const { return now_ns_; }

    // Timers: the callback runs on this driver's thread, never before now + delay. An invalid
    // id means every timer slot is in use. A timer scheduled for an `owner` is cancelled only
    // by naming the same owner (ids handed to plugins cannot reach other timers).
    TimerId schedule_timer(std::chrono::nanoseconds delay, TimerCallback callback,
                           const void* owner = nullptr);
    bool cancel_timer(TimerId id, const void* owner = nullptr);
    const TimerWheel& timers() const { return *timers_; }

    // Runs work(executor) on the driver chosen by `where`, then done(*this, result) back on
    // this driver (done(*this) when work returns void). The closures travel by value inside a
    // task slot; `full` means every slot is in flight (back-pressure: retry later).
    template <typename Work, typename Done>
    SpawnStatus spawn(Placement where, Priority priority, Work&& work, Done&& done) {
        static_assert(std::is_invocable_v<std::decay_t<Work>&, Driver&>,
                      "work must be callable as work(Driver&)");
        Task* task = allocate_task();
        if (task == nullptr) {
            return SpawnStatus::full;
        }
        task->emplace(std::forward<Work>(work), std::forward<Done>(done));
        return submit(task, where, priority);
    }

    // A one-way message: fn(receiver) runs on driver `target`. Arrives in FIFO order with
    // everything else this driver sends to `target` (and runs in that order among latency
    // tasks); never lost once accepted (held back while the target's queue is full).
    template <typename Fn>
    SpawnStatus post(int target, Fn&& fn) {
        return spawn(Placement::driver(target), Priority::latency, std::forward<Fn>(fn), [](Driver&) {});
    }

    // Stop protocol, for modules: a stop was requested and drain() has been called.
    bool draining() const { return draining_; }
    std::int64_t drain_deadline_ns() const { return drain_deadline_ns_; }

private:
    friend class Runtime;
    class Internal;
    class WakeSent;
    enum class Wait { none, brief, block };

    Driver(Runtime& runtime, Tpc& tpc, const DriverPlan& plan, const DriverLimits& limits);

    void thread_main();
    void set_up();
    void adopt(std::unique_ptr<DriverModule> module); // Runtime::attach_running, on this thread
    void remove_detached();
    void stop_modules();
    void run_loop();
    Wait turn();
    void reap();
    void dispatch_internal(const io_uring_cqe& cqe, unsigned tag);
    void wake_sent(int target, int res);
    std::int64_t enter(Wait wait); // returns ns spent blocked
    int wait_blocking();           // submits and waits for the next completions
    bool spin_for_work();          // true: completions showed up within the spin
    int submit_and_wait_min();     // io_uring_enter with a minimum wait (IORING_FEAT_MIN_TIMEOUT)
    void publish();
    io_uring_sqe* next_sqe();
    void submit_queued();
    void arm_eventfd_read();
    void arm_timer();
    void begin_drain();
    bool quiescent();
    void destroy_leftovers();

    Task* allocate_task();
    void free_task(Task* task);
    SpawnStatus submit(Task* task, Placement where, Priority priority);
    int place_least_loaded();
    void make_ready(Task* task);
    void mark_wake(int target);
    bool push_to(int target, Task* task);
    bool send_held();
    void flush_wakeups();
    bool drain_mailbox(); // true: entries were left for the next turn
    void accept(Task* task);
    void run_tasks();
    void finish(Task* task);

    Runtime& runtime_;
    Tpc& tpc_;
    DriverPlan plan_;
    DriverLimits limits_;
    std::thread thread_;

    // Created on the driver thread by set_up(), immutable afterwards unless noted.
    std::shared_ptr<spdlog::logger> log_;
    std::unique_ptr<Ring> ring_;
    RingFeatures features_;
    int ring_fd_ = -1; // other drivers aim MSG_RING wake-ups at it
    std::unique_ptr<Internal> internal_;
    std::unique_ptr<WakeSent[]> wake_sent_; // [target]
    std::vector<std::unique_ptr<DriverModule>> modules_;
    std::size_t modules_started_ = 0;
    std::vector<DriverModule*> detached_; // leave at the end of this turn
    std::vector<std::unique_ptr<BufferRing>> buffer_rings_;
    std::unique_ptr<TimerWheel> timers_;
    std::unique_ptr<Slab<Task>> tasks_;
    std::unique_ptr<Mailbox> mailbox_;
    bool batching_ = true;
    bool eventfd_wakeup_ = false;
    std::int64_t spin_ns_ = 0;      // [io_uring] spin
    std::uint32_t min_wait_us_ = 0; // [io_uring] min_wait where the ring has it, else 0
    std::uint32_t wait_batch_ = 1;  // completions a minimum wait asks for

    // Loop state, driver thread only.
    TaskList run_latency_;
    TaskList run_batch_;
    std::uint32_t latency_streak_ = 0;
    std::vector<TaskList> held_; // [target]: waiting for room in target's queue
    std::uint32_t held_count_ = 0;
    PlacementRng rng_; // least_loaded's draws
    std::uint32_t inflight_total_ = 0;
    std::vector<int> wake_targets_;         // targets pushed to during this turn
    std::vector<std::uint8_t> wake_marked_; // [target]: already in wake_targets_
    bool wake_cleared_ = false;             // a wake flag was cleared: fence before draining
    bool wake_retry_ = false;               // a wake-up failed: turn again without blocking
    std::uint64_t eventfd_value_ = 0;
    __kernel_timespec timer_ts_{};
    std::int64_t timer_armed_ns_ = -1;
    bool timer_in_flight_ = false;
    std::int64_t now_ns_ = 0;
    std::int64_t busy_window_start_ns_ = 0;
    std::uint64_t busy_window_busy_ns_ = 0;
    bool draining_ = false;
    bool quiesced_ = false;
    std::int64_t drain_deadline_ns_ = 0;
    DriverCounters counters_;

    // Read by other threads.
    PublishedCounters published_;
    ExecutorSignals signals_;
};

} // namespace gatio::core
