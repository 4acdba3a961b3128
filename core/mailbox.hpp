// Lock-free message queues into one driver: one bounded single-producer single-consumer queue
// per sending driver, so each sender's messages stay in FIFO order and no two threads ever
// write the same index. Non-driver threads (the daemon, tests) share one extra queue whose
// producer side is serialised by a mutex; drivers never take it.
//
// Wake-up: a sender that pushed during its loop turn sets the receiver's per-sender
// `wake_pending` flag and, only if it was clear, posts one wake-up CQE into the receiver's ring
// (IORING_OP_MSG_RING, or a write to the receiver's eventfd where MSG_RING is missing). The
// receiver clears the flag before it drains, so at most one wake-up per sender is in flight and
// none is missed.
#pragma once

#include <atomic>
#include <cassert>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <new>
#include <utility>
#include <vector>

#include "core/arena.hpp"
#include "core/inline_function.hpp"
#include "core/task.hpp"

namespace gatio::core {

class Driver;

template <typename T>
class SpscQueue {
public:
    // capacity: power of two >= 2.
    SpscQueue(Arena& arena, std::uint32_t capacity)
        : slots_(static_cast<Slot*>(arena.allocate(sizeof(Slot) * capacity, alignof(Slot)))),
          mask_(capacity - 1) {
        assert(capacity >= 2 && (capacity & (capacity - 1)) == 0);
    }
    SpscQueue(const SpscQueue&) = delete;
    SpscQueue& operator=(const SpscQueue&) = delete;
    ~SpscQueue() {
        while (auto* v = front()) {
            v->~T();
            head_.store(head_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
        }
    }

    // Producer only. False when full (nothing is taken from `value`).
    bool try_push(T& value) {
        std::uint32_t tail = tail_.load(std::memory_order_relaxed);
        if (tail - head_cache_ > mask_) {
            head_cache_ = head_.load(std::memory_order_acquire);
            if (tail - head_cache_ > mask_) {
                return false;
            }
        }
        ::new (static_cast<void*>(&slots_[tail & mask_])) T(std::move(value));
        tail_.store(tail + 1, std::memory_order_release);
        return true;
    }

    // Consumer only: the oldest entry, or nullptr when empty. pop() releases it.
    T* front() {
        std::uint32_t head = head_.load(std::memory_order_relaxed);
        if (head == tail_cache_) {
            tail_cache_ = tail_.load(std::memory_order_acquire);
            if (head == tail_cache_) {
                return nullptr;
            }
        }
        return std::launder(reinterpret_cast<T*>(&slots_[head & mask_]));
    }
    void pop() {
        std::uint32_t head = head_.load(std::memory_order_relaxed);
        std::launder(reinterpret_cast<T*>(&slots_[head & mask_]))->~T();
        head_.store(head + 1, std::memory_order_release);
    }

    std::uint32_t capacity() const { return mask_ + 1; }

private:
    struct Slot {
        alignas(T) unsigned char bytes[sizeof(T)];
    };
    Slot* slots_;
    std::uint32_t mask_;
    alignas(cache_line) std::atomic<std::uint32_t> tail_{0}; // written by the producer
    std::uint32_t head_cache_ = 0;                           // producer's view of head_
    alignas(cache_line) std::atomic<std::uint32_t> head_{0}; // written by the consumer
    std::uint32_t tail_cache_ = 0;                           // consumer's view of tail_
};

using ExternalMessage = InlineFunction<void(Driver&), 64>;

// Everything other threads may put into one driver.
class Mailbox {
public:
    Mailbox(Arena& arena, int owner, int drivers, std::uint32_t capacity, std::uint32_t external_capacity);
    ~Mailbox();
    Mailbox(const Mailbox&) = delete;
    Mailbox& operator=(const Mailbox&) = delete;

    SpscQueue<Task*>& from(int sender) {
        assert(sender >= 0 && static_cast<std::size_t>(sender) < queues_.size() && sender != owner_);
        return *queues_[static_cast<std::size_t>(sender)];
    }
    int senders() const { return static_cast<int>(queues_.size()); }

    // Set by `sender` before it posts a wake-up, cleared by the owner before it drains.
    std::atomic<bool>& wake_pending(int sender) { return flags_[static_cast<std::size_t>(sender)].pending; }

    // Any non-driver thread. False when the external queue is full.
    bool push_external(ExternalMessage& message);
    // Any non-driver thread: like push_external, but while the queue is full it waits for the
    // owner to take messages (external_taken), until `deadline` at most. No polling.
    bool push_external_by(ExternalMessage& message, std::chrono::steady_clock::time_point deadline);
    // The owner, after it took external messages: wakes the producers waiting for room.
    void external_taken();
    SpscQueue<ExternalMessage>& external() { return *external_; }

    // Counter of wake-ups through eventfd: read by the owner's ring, written by anyone.
    int eventfd() const { return eventfd_; }
    void ring_eventfd() const;

private:
    struct alignas(cache_line) Flag {
        std::atomic<bool> pending{false};
    };

    int owner_;
    std::vector<SpscQueue<Task*>*> queues_; // [sender]; null for the owner itself
    Flag* flags_;                           // [sender]
    SpscQueue<ExternalMessage>* external_;
    std::mutex external_mutex_; // serialises non-driver producers only
    std::condition_variable external_room_;
    std::atomic<int> external_waiters_{0};
    int eventfd_ = -1;
};

} // namespace gatio::core
