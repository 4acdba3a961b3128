// Tasks: closures handed to a driver that executes tasks, with the result brought back to the
// driver that submitted them.
//
// A Task lives in a slot of its submitter's task slab (allocated at start-up), so neither
// submitting nor returning allocates. The same slot travels to the executor and back as one
// pointer through the lock-free per-sender queues; the submitter's slab bounds how much work it
// can have in flight, which is the back-pressure: Driver::spawn reports `full` when every slot
// is in use.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <new>
#include <optional>
#include <type_traits>
#include <utility>

namespace gatio::core {

class Driver;

// Latency tasks run before batch tasks on a driver; a batch task still runs after every
// RuntimeOptions::batch_share latency tasks in a row, so batch work is never starved.
enum class Priority : std::uint8_t { latency, batch };

// Where a task runs.
class Placement {
public:
    enum class Kind : std::uint8_t { same_driver, least_loaded, driver, key };

    // On the submitting driver (cache-hot). A submitter that does not execute tasks (role
    // `io`) places the task as least_loaded instead.
    static constexpr Placement same_driver() { return Placement{Kind::same_driver, -1}; }
    // On the less loaded of two exec-capable drivers drawn at random from the submitter's TPC
    // (core/placement.hpp), going on to TPCs by NUMA distance while the choice is above
    // RuntimeOptions::spill_threshold.
    static constexpr Placement least_loaded() { return Placement{Kind::least_loaded, -1}; }
    // On driver `index` (global driver index), whatever its role: a message to that driver.
    static constexpr Placement driver(int index) { return Placement{Kind::driver, index}; }
    // On the exec-capable driver that `key` maps to: the same key always lands on the same
    // driver (state sharded by key needs no locks), keys spread evenly over them.
    static constexpr Placement key(std::uint64_t k) { return Placement{Kind::key, -1, k}; }

    constexpr Kind kind() const { return kind_; }
    constexpr int target() const { return target_; }
    constexpr std::uint64_t key_value() const { return key_; }

private:
    constexpr Placement(Kind kind, int target, std::uint64_t key = 0)
        : kind_(kind), target_(target), key_(key) {}
    Kind kind_;
    int target_;
    std::uint64_t key_;
};

enum class SpawnStatus : std::uint8_t {
    ok,
    full,           // every task slot of the submitter is in flight: back-pressure, retry later
    invalid_target, // Placement::driver names no driver
};

namespace detail {

struct TaskOps {
    void (*run)(void* body, Driver& executor);
    void (*complete)(void* body, Driver& submitter);
    void (*destroy)(void* body);
};

struct NoResult {};

// The closure pair and the result slot of one task, stored inside Task::storage.
template <typename Work, typename Done>
struct TaskBody {
    using Result = std::invoke_result_t<Work&, Driver&>;
    static constexpr bool has_result = !std::is_void_v<Result>;
    using Slot = std::conditional_t<has_result, std::optional<Result>, NoResult>;

    Work work;
    Done done;
    [[no_unique_address]] Slot result;

    static void run(void* p, Driver& executor) {
        auto* self = static_cast<TaskBody*>(p);
        if constexpr (has_result) {
            self->result.emplace(self->work(executor));
        } else {
            self->work(executor);
        }
    }
    static void complete(void* p, Driver& submitter) {
        auto* self = static_cast<TaskBody*>(p);
        if constexpr (has_result) {
            assert(self->result.has_value());
            self->done(submitter, std::move(*self->result));
        } else {
            self->done(submitter);
        }
    }
    static void destroy(void* p) { static_cast<TaskBody*>(p)->~TaskBody(); }

    static constexpr TaskOps ops{&run, &complete, &destroy};
};

} // namespace detail

// One unit of work in flight. Internal to the runtime; callers use Driver::spawn and Driver::post.
struct alignas(64) Task {
    static constexpr std::size_t storage_size = 160;

    Task* next = nullptr; // intrusive link: run queue, held-back list or free list
    const detail::TaskOps* ops = nullptr;
    std::int32_t owner = -1;    // global index of the submitting driver
    std::int32_t executor = -1; // global index of the driver that runs it
    Priority priority = Priority::latency;
    bool done = false; // has run; travelling back to its owner
    alignas(std::max_align_t) unsigned char storage[storage_size];

    template <typename Work, typename Done>
    void emplace(Work&& work, Done&& done_fn) {
        using Body = detail::TaskBody<std::decay_t<Work>, std::decay_t<Done>>;
        static_assert(sizeof(Body) <= storage_size, "task closures (and result) too large: capture less");
        static_assert(alignof(Body) <= alignof(std::max_align_t), "task closure over-aligned");
        assert(ops == nullptr);
        ::new (static_cast<void*>(storage)) Body{std::forward<Work>(work), std::forward<Done>(done_fn), {}};
        ops = &Body::ops;
        done = false;
    }

    void run(Driver& on) { ops->run(storage, on); }
    void complete(Driver& on) { ops->complete(storage, on); }
    void destroy() {
        assert(ops != nullptr);
        ops->destroy(storage);
        ops = nullptr;
    }
};

// A FIFO of tasks linked through Task::next.
class TaskList {
public:
    bool empty() const { return head_ == nullptr; }
    std::size_t size() const { return size_; }
    Task* front() const { return head_; }

    void push_back(Task* t) {
        t->next = nullptr;
        if (tail_ == nullptr) {
            head_ = t;
        } else {
            tail_->next = t;
        }
        tail_ = t;
        ++size_;
    }
    void push_front(Task* t) {
        t->next = head_;
        head_ = t;
        if (tail_ == nullptr) {
            tail_ = t;
        }
        ++size_;
    }
    Task* pop_front() {
        Task* t = head_;
        assert(t != nullptr);
        head_ = t->next;
        if (head_ == nullptr) {
            tail_ = nullptr;
        }
        t->next = nullptr;
        --size_;
        return t;
    }

private:
    Task* head_ = nullptr;
    Task* tail_ = nullptr;
    std::size_t size_ = 0;
};

} // namespace gatio::core
