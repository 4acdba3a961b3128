// A move-only callable stored inside the object, never on the heap.
//
// Messages, tasks and timers carry closures across the hot path, where allocation is not
// allowed; a closure that does not fit the fixed capacity is a compile-time error, so the
// limit is explicit at each call site.
#pragma once

#include <cassert>
#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

namespace gatio::core {

template <typename Signature, std::size_t Capacity>
class InlineFunction;

template <typename R, typename... Args, std::size_t Capacity>
class InlineFunction<R(Args...), Capacity> {
public:
    static constexpr std::size_t capacity = Capacity;

    InlineFunction() = default;

    template <typename F>
    requires(!std::is_same_v<std::decay_t<F>, InlineFunction> && std::is_invocable_r_v<R, F&, Args...>)
        InlineFunction(F&& f) { // NOLINT(google-explicit-constructor): lambdas convert implicitly
        using Fn = std::decay_t<F>;
        static_assert(sizeof(Fn) <= Capacity, "closure too large for this InlineFunction: capture less");
        static_assert(alignof(Fn) <= alignof(std::max_align_t), "closure over-aligned");
        static_assert(std::is_nothrow_move_constructible_v<Fn>, "closure must be nothrow-movable");
        ::new (static_cast<void*>(storage_)) Fn(std::forward<F>(f));
        ops_ = &ops_for<Fn>;
    }

    InlineFunction(InlineFunction&& other) noexcept { take(other); }
    InlineFunction& operator=(InlineFunction&& other) noexcept {
        if (this != &other) {
            reset();
            take(other);
        }
        return *this;
    }
    InlineFunction(const InlineFunction&) = delete;
    InlineFunction& operator=(const InlineFunction&) = delete;
    ~InlineFunction() { reset(); }

    explicit operator bool() const { return ops_ != nullptr; }

    R operator()(Args... args) {
        assert(ops_ != nullptr);
        return ops_->invoke(storage_, std::forward<Args>(args)...);
    }

    void reset() {
        if (ops_ != nullptr) {
            ops_->destroy(storage_);
            ops_ = nullptr;
        }
    }

private:
    struct Ops {
        R (*invoke)(void*, Args&&...);
        void (*relocate)(void* to, void* from);
        void (*destroy)(void*);
    };

    template <typename Fn>
    static constexpr Ops ops_for{
        [](void* self, Args&&... args) -> R {
            return (*static_cast<Fn*>(self))(std::forward<Args>(args)...);
        },
        [](void* to, void* from) {
            ::new (to) Fn(std::move(*static_cast<Fn*>(from)));
            static_cast<Fn*>(from)->~Fn();
        },
        [](void* self) { static_cast<Fn*>(self)->~Fn(); },
    };

    void take(InlineFunction& other) {
        if (other.ops_ != nullptr) {
            other.ops_->relocate(storage_, other.storage_);
            ops_ = other.ops_;
            other.ops_ = nullptr;
        }
    }

    alignas(std::max_align_t) unsigned char storage_[Capacity];
    const Ops* ops_ = nullptr;
};

} // namespace gatio::core
