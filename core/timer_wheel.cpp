#include "core/timer_wheel.hpp"

#include <algorithm>
#include <bit>
#include <cassert>
#include <stdexcept>
#include <string>

namespace gatio::core {

namespace {

constexpr std::uint32_t word_bits = 64;

} // namespace

TimerWheel::TimerWheel(Arena& arena, std::uint32_t capacity, std::uint32_t slots,
                       std::chrono::nanoseconds tick, std::int64_t now_ns)
    : nodes_(arena, capacity), slots_(slots), tick_ns_(tick.count()), origin_ns_(now_ns) {
    if (slots < word_bits || (slots & (slots - 1)) != 0) {
        throw std::invalid_argument("timer wheel: " + std::to_string(slots) +
                                    " slots is not a power of two >= 64");
    }
    if (tick_ns_ <= 0) {
        throw std::invalid_argument("timer wheel: tick must be positive");
    }
    heads_ = arena.allocate_array<std::uint32_t>(slots);
    std::fill_n(heads_, slots, nil);
    occupied_ = arena.allocate_array<std::uint64_t>(slots / word_bits);
    due_ = arena.allocate_array<std::uint32_t>(capacity);
    generations_ = arena.allocate_array<std::uint32_t>(capacity);
}

std::size_t TimerWheel::memory_for(std::uint32_t capacity, std::uint32_t slots) {
    return static_cast<std::size_t>(capacity) * (sizeof(Node) + 3 * sizeof(std::uint32_t)) +
           static_cast<std::size_t>(slots) * (sizeof(std::uint32_t) + 1);
}

TimerWheel::~TimerWheel() {
    for (std::uint32_t s = 0; s < slots_; ++s) {
        for (std::uint32_t i = heads_[s]; i != nil;) {
            std::uint32_t next = nodes_.at(i)->next;
            nodes_.destroy(nodes_.at(i));
            i = next;
        }
    }
}

std::uint64_t TimerWheel::tick_of_ceil(std::int64_t t_ns) const {
    std::int64_t rel = t_ns - origin_ns_;
    if (rel <= 0) {
        return 0;
    }
    return static_cast<std::uint64_t>((rel + tick_ns_ - 1) / tick_ns_);
}

void TimerWheel::link(std::uint32_t index) {
    Node* n = nodes_.at(index);
    std::uint32_t slot = static_cast<std::uint32_t>(n->expiry_tick) & (slots_ - 1);
    n->prev = nil;
    n->next = heads_[slot];
    if (n->next != nil) {
        nodes_.at(n->next)->prev = index;
    }
    heads_[slot] = index;
    occupied_[slot / word_bits] |= 1ull << (slot % word_bits);
}

void TimerWheel::unlink(std::uint32_t index) {
    Node* n = nodes_.at(index);
    std::uint32_t slot = static_cast<std::uint32_t>(n->expiry_tick) & (slots_ - 1);
    if (n->prev != nil) {
        nodes_.at(n->prev)->next = n->next;
    } else {
        heads_[slot] = n->next;
    }
    if (n->next != nil) {
        nodes_.at(n->next)->prev = n->prev;
    }
    if (heads_[slot] == nil) {
        occupied_[slot / word_bits] &= ~(1ull << (slot % word_bits));
    }
    n->prev = n->next = nil;
}

TimerId TimerWheel::schedule(std::int64_t now_ns, std::chrono::nanoseconds delay, TimerCallback cb,
                             const void* owner) {
    Node* n = nodes_.create();
    if (n == nullptr) {
        return {};
    }
    std::uint32_t index = nodes_.index_of(n);
    n->callback = std::move(cb);
    n->owner = owner;
    n->deadline_ns = now_ns + std::max<std::int64_t>(delay.count(), 0);
    // A tick already expired cannot be visited again: such a timer waits for the next one.
    n->expiry_tick = std::max(tick_of_ceil(n->deadline_ns), done_tick_ + 1);
    n->sequence = sequence_++;
    n->state = State::pending;
    link(index);
    return TimerId{index, generations_[index]};
}

bool TimerWheel::cancel(TimerId id, const void* owner) {
    if (!id.valid() || !nodes_.in_use(id.index) || generations_[id.index] != id.generation) {
        return false;
    }
    Node* n = nodes_.at(id.index);
    if (n->owner != owner) {
        return false;
    }
    if (n->state == State::pending) {
        unlink(id.index);
        ++generations_[id.index];
        nodes_.destroy(n);
        return true;
    }
    if (n->state == State::firing) {
        // Collected by the running expire(): it skips the node and frees it.
        n->state = State::cancelled;
        return true;
    }
    return false;
}

void TimerWheel::collect_slot(std::uint64_t tick, std::uint64_t up_to_tick) {
    std::uint32_t slot = static_cast<std::uint32_t>(tick) & (slots_ - 1);
    for (std::uint32_t i = heads_[slot]; i != nil;) {
        Node* n = nodes_.at(i);
        std::uint32_t next = n->next;
        if (n->expiry_tick <= up_to_tick) {
            unlink(i);
            n->state = State::firing;
            due_[due_count_++] = i;
        }
        i = next;
    }
}

std::uint32_t TimerWheel::expire(std::int64_t now_ns) {
    std::int64_t rel = now_ns - origin_ns_;
    if (rel < 0) {
        return 0;
    }
    auto now_tick = static_cast<std::uint64_t>(rel / tick_ns_);
    if (now_tick <= done_tick_) {
        return 0;
    }
    // After a long stall only one lap of slots needs visiting: each holds every tick that maps to it.
    std::uint64_t first = done_tick_ + 1;
    if (now_tick - first >= slots_) {
        first = now_tick - slots_ + 1;
    }
    due_count_ = 0;
    for (std::uint64_t t = first; t <= now_tick; ++t) {
        std::uint32_t slot = static_cast<std::uint32_t>(t) & (slots_ - 1);
        if ((occupied_[slot / word_bits] & (1ull << (slot % word_bits))) != 0) {
            collect_slot(t, now_tick);
        }
    }
    done_tick_ = now_tick;
    std::sort(due_, due_ + due_count_, [this](std::uint32_t a, std::uint32_t b) {
        const Node* na = nodes_.at(a);
        const Node* nb = nodes_.at(b);
        return na->deadline_ns != nb->deadline_ns ? na->deadline_ns < nb->deadline_ns
                                                  : na->sequence < nb->sequence;
    });
    std::uint32_t count = due_count_;
    std::uint32_t fired = 0;
    for (std::uint32_t k = 0; k < count; ++k) {
        std::uint32_t index = due_[k];
        Node* n = nodes_.at(index);
        ++generations_[index];
        if (n->state == State::firing) {
            assert(n->deadline_ns <= now_ns);
            ++fired;
            n->callback();
        }
        nodes_.destroy(n);
    }
    due_count_ = 0;
    return fired;
}

std::optional<std::int64_t> TimerWheel::next_deadline_ns() const {
    if (nodes_.size() == 0) {
        return std::nullopt;
    }
    // The first occupied slot after done_tick_, scanning one lap of the bitmap.
    std::uint64_t start = done_tick_ + 1;
    for (std::uint32_t step = 0; step < slots_;) {
        std::uint32_t slot = static_cast<std::uint32_t>(start + step) & (slots_ - 1);
        std::uint64_t word = occupied_[slot / word_bits] >> (slot % word_bits);
        if (word != 0) {
            std::uint32_t skip = static_cast<std::uint32_t>(std::countr_zero(word));
            std::uint64_t tick = start + step + skip;
            return origin_ns_ + static_cast<std::int64_t>(tick) * tick_ns_;
        }
        step += word_bits - slot % word_bits;
    }
    return std::nullopt;
}

} // namespace gatio::core
