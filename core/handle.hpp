// A slot and the generation it had, packed into the 64-bit handles the plugin ABI hands out
// (gatio_conn, gatio_timer): generation in the high half, slot + 1 in the low half, so that 0
// is never a valid handle and a handle kept past its object's end names a newer generation.
#pragma once

#include <cstdint>
#include <optional>

namespace gatio::core {

struct Handle {
    std::uint32_t slot = 0;
    std::uint32_t generation = 0;

    // Slots go up to UINT32_MAX - 1: slot + 1 must stay non-zero in 32 bits.
    constexpr std::uint64_t pack() const {
        return (static_cast<std::uint64_t>(generation) << 32) | (static_cast<std::uint64_t>(slot) + 1);
    }

    // nullopt for 0 and anything else whose low half is 0 (no slot).
    static constexpr std::optional<Handle> unpack(std::uint64_t value) {
        auto low = static_cast<std::uint32_t>(value & 0xffffffffu);
        if (low == 0) {
            return std::nullopt;
        }
        return Handle{low - 1, static_cast<std::uint32_t>(value >> 32)};
    }
};

} // namespace gatio::core
