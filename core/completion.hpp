// Routing io_uring completions back to the object that asked for them.
//
// An SQE's user_data carries a pointer to a Completion with a small tag in its low bits (the
// object is at least 8-byte aligned, so those bits are free). The driver turns a CQE back into
// (object, tag) with two masks and one virtual call: no table, no hash lookup. The tag lets one
// object tell its operations apart (e.g. a connection's recv, send and close).
#pragma once

#include <cassert>
#include <cstdint>
#include <liburing.h>

namespace gatio::core {

class Completion {
public:
    virtual ~Completion() = default;

    // Runs on the driver thread that owns the ring. The handler must look at cqe.res (negative:
    // -errno) and cqe.flags (IORING_CQE_F_MORE: a multishot request stays armed;
    // IORING_CQE_F_BUFFER: cqe.flags >> IORING_CQE_BUFFER_SHIFT is a provided-buffer id).
    virtual void on_completion(const io_uring_cqe& cqe, unsigned tag) = 0;
};

inline constexpr unsigned completion_tag_bits = 3;
inline constexpr unsigned max_completion_tag = (1u << completion_tag_bits) - 1;
inline constexpr std::uint64_t completion_tag_mask = max_completion_tag;

// user_data 0 marks a request whose completion nobody waits for (e.g. a best-effort cancel);
// the driver checks and counts its errors but dispatches it nowhere.
inline constexpr std::uint64_t no_completion = 0;

inline std::uint64_t encode_completion(Completion* target, unsigned tag) {
    static_assert(alignof(Completion) > max_completion_tag, "tag bits must fit in the alignment");
    auto bits = reinterpret_cast<std::uintptr_t>(target);
    assert(target != nullptr);
    assert(tag <= max_completion_tag);
    assert((bits & completion_tag_mask) == 0);
    return static_cast<std::uint64_t>(bits) | tag;
}

inline Completion* completion_target(std::uint64_t user_data) {
    return reinterpret_cast<Completion*>(static_cast<std::uintptr_t>(user_data & ~completion_tag_mask));
}

inline unsigned completion_tag(std::uint64_t user_data) {
    return static_cast<unsigned>(user_data & completion_tag_mask);
}

} // namespace gatio::core
