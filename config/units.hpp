// Parsers for the value syntaxes the configuration uses: durations ("250ms", "10s", "5m"),
// sizes ("64KiB", "1MiB") and cpulists ("0-3,8"). Each rejects garbage and overflow with a
// message that says what was expected.
#pragma once

#include "config/config.hpp"
#include "config/cpuset.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gatio::config {

template <typename T>
struct Parsed {
    std::optional<T> value;
    std::string error; // set when !value

    explicit operator bool() const { return value.has_value(); }
};

Parsed<Duration> parse_duration(std::string_view text);
Parsed<std::uint64_t> parse_size(std::string_view text);
Parsed<CpuSet> parse_cpulist(std::string_view text);

std::string format_duration(Duration d); // inverse of parse_duration, shortest exact unit
std::string format_size(std::uint64_t bytes); // inverse of parse_size, largest exact unit

} // namespace gatio::config
