#include "core/mailbox.hpp"

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <sys/eventfd.h>
#include <unistd.h>

namespace gatio::core {

Mailbox::Mailbox(Arena& arena, int owner, int drivers, std::uint32_t capacity,
                 std::uint32_t external_capacity)
    : owner_(owner) {
    queues_.assign(static_cast<std::size_t>(drivers), nullptr);
    for (int s = 0; s < drivers; ++s) {
        if (s != owner) {
            void* at = arena.allocate(sizeof(SpscQueue<Task*>), alignof(SpscQueue<Task*>));
            queues_[static_cast<std::size_t>(s)] = ::new (at) SpscQueue<Task*>(arena, capacity);
        }
    }
    flags_ =
        static_cast<Flag*>(arena.allocate(sizeof(Flag) * static_cast<std::size_t>(drivers), alignof(Flag)));
    for (int s = 0; s < drivers; ++s) {
        ::new (&flags_[s]) Flag{};
    }
    void* at = arena.allocate(sizeof(SpscQueue<ExternalMessage>), alignof(SpscQueue<ExternalMessage>));
    external_ = ::new (at) SpscQueue<ExternalMessage>(arena, external_capacity);
    // Blocking on purpose: io_uring would answer a read of a non-blocking eventfd with EAGAIN
    // instead of waiting for the next write.
    eventfd_ = ::eventfd(0, EFD_CLOEXEC);
    if (eventfd_ < 0) {
        throw std::runtime_error(std::string("mailbox eventfd: ") + std::strerror(errno));
    }
}

Mailbox::~Mailbox() {
    for (auto* q : queues_) {
        if (q != nullptr) {
            q->~SpscQueue();
        }
    }
    external_->~SpscQueue();
    ::close(eventfd_);
}

bool Mailbox::push_external(ExternalMessage& message) {
    bool pushed = false;
    {
        std::lock_guard lock(external_mutex_);
        pushed = external_->try_push(message);
    }
    if (pushed) {
        ring_eventfd();
    }
    return pushed;
}

bool Mailbox::push_external_by(ExternalMessage& message, std::chrono::steady_clock::time_point deadline) {
    bool pushed = false;
    {
        std::unique_lock lock(external_mutex_);
        external_waiters_.fetch_add(1, std::memory_order_seq_cst);
        // The owner reads the count after it popped: either it sees this waiter, or this
        // try_push sees the room it made.
        while (!(pushed = external_->try_push(message)) &&
               external_room_.wait_until(lock, deadline) != std::cv_status::timeout) {
        }
        external_waiters_.fetch_sub(1, std::memory_order_relaxed);
    }
    if (pushed) {
        ring_eventfd();
    }
    return pushed;
}

void Mailbox::external_taken() {
    // A read-modify-write rather than a fence and a load (which ThreadSanitizer cannot model): a
    // producer whose registration comes later in the count's order reads from this one, so its
    // next try_push sees the room the pops made.
    if (external_waiters_.fetch_add(0, std::memory_order_seq_cst) == 0) {
        return; // the common case: nobody waits
    }
    std::lock_guard lock(external_mutex_);
    external_room_.notify_all();
}

void Mailbox::ring_eventfd() const {
    std::uint64_t one = 1;
    // Only fails if the counter would overflow, i.e. 2^64 wake-ups nobody read: nothing to do.
    [[maybe_unused]] auto n = ::write(eventfd_, &one, sizeof one);
}

} // namespace gatio::core
