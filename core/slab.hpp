// A fixed number of same-sized objects taken from an Arena at start-up, handed out and taken
// back in O(1) through an index free list. Single-threaded: owned by one driver.
//
// A freed slot is reused before one never used, and the slots never used are handed out in
// order from the lowest; they are on no free list (they lie at and above `fresh_`), so nothing
// touches them before their turn. A slab sized for a worst case thus commits memory only for
// as many objects as were ever in use at once.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <new>
#include <utility>

#include "core/arena.hpp"

namespace gatio::core {

template <typename T>
class Slab {
public:
    static constexpr std::uint32_t none = UINT32_MAX;

    Slab(Arena& arena, std::uint32_t capacity)
        : capacity_(capacity),
          objects_(static_cast<Storage*>(arena.allocate(sizeof(Storage) * capacity, alignof(Storage)))),
          next_free_(arena.allocate_array<std::uint32_t>(capacity)) {
        // The arena's memory is zero, which is not in_use_mark: no slot reads as in use.
        assert(capacity < in_use_mark);
    }
    Slab(const Slab&) = delete;
    Slab& operator=(const Slab&) = delete;

    // nullptr when every object is in use.
    template <typename... Args>
    T* create(Args&&... args) {
        std::uint32_t i = free_head_;
        if (i != none) {
            free_head_ = next_free_[i];
        } else if (fresh_ < capacity_) {
            i = fresh_++;
        } else {
            return nullptr;
        }
        next_free_[i] = in_use_mark;
        ++in_use_;
        return ::new (static_cast<void*>(&objects_[i])) T(std::forward<Args>(args)...);
    }

    void destroy(T* object) {
        std::uint32_t i = index_of(object);
        assert(next_free_[i] == in_use_mark);
        object->~T();
        next_free_[i] = free_head_;
        free_head_ = i;
        --in_use_;
    }

    std::uint32_t index_of(const T* object) const {
        auto i = static_cast<std::size_t>(reinterpret_cast<const Storage*>(object) - objects_);
        assert(i < capacity_);
        return static_cast<std::uint32_t>(i);
    }
    T* at(std::uint32_t index) {
        assert(index < capacity_ && next_free_[index] == in_use_mark);
        return std::launder(reinterpret_cast<T*>(&objects_[index]));
    }
    bool in_use(std::uint32_t index) const { return index < fresh_ && next_free_[index] == in_use_mark; }

    std::uint32_t capacity() const { return capacity_; }
    std::uint32_t size() const { return in_use_; }
    // Every slot in use lies below this: the most ever in use at once.
    std::uint32_t high_water() const { return fresh_; }
    bool full() const { return free_head_ == none && fresh_ == capacity_; }

private:
    static constexpr std::uint32_t in_use_mark = UINT32_MAX - 1;
    struct Storage {
        alignas(T) unsigned char bytes[sizeof(T)];
    };

    std::uint32_t capacity_;
    Storage* objects_;
    std::uint32_t* next_free_;
    std::uint32_t free_head_ = none; // slots below fresh_ given back
    std::uint32_t fresh_ = 0;        // slots from here on were never handed out
    std::uint32_t in_use_ = 0;
};

} // namespace gatio::core
