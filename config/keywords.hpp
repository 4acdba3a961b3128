// The keywords of every enumerated setting, shared by the loader, dump and to_string so that
// what is read and what is written can never disagree. Internal to config/.
#pragma once

#include <array>
#include <cassert>
#include <string_view>

#include "config/config.hpp"

namespace gatio::config::detail {

template <typename E>
struct Keyword {
    std::string_view text;
    E value;
};

inline constexpr std::array<Keyword<LogLevel>, 7> log_levels{{
    {"trace", LogLevel::trace},
    {"debug", LogLevel::debug},
    {"info", LogLevel::info},
    {"warn", LogLevel::warn},
    {"error", LogLevel::error},
    {"critical", LogLevel::critical},
    {"off", LogLevel::off},
}};

inline constexpr std::array<Keyword<TopologyMode>, 2> topology_modes{{
    {"auto", TopologyMode::automatic},
    {"manual", TopologyMode::manual},
}};

inline constexpr std::array<Keyword<MemoryPolicy>, 4> memory_policies{{
    {"bind", MemoryPolicy::bind},
    {"preferred", MemoryPolicy::preferred},
    {"interleave", MemoryPolicy::interleave},
    {"local", MemoryPolicy::local},
}};

inline constexpr std::array<Keyword<DriverRole>, 3> driver_roles{{
    {"io", DriverRole::io},
    {"exec", DriverRole::exec},
    {"io+exec", DriverRole::io_exec},
}};

inline constexpr std::array<Keyword<Transport>, 2> transports{{
    {"tcp", Transport::tcp},
    {"udp", Transport::udp},
}};

template <typename E, std::size_t N>
constexpr std::string_view keyword_of(const std::array<Keyword<E>, N>& table, E value) {
    for (const auto& k : table) {
        if (k.value == value) {
            return k.text;
        }
    }
    assert(false && "every enumerator has a keyword");
    return {};
}

} // namespace gatio::config::detail
