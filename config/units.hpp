// Parsers for the value syntaxes the configuration uses: durations ("250ms", "10s", "5m"),
// sizes ("64KiB", "1MiB"), cpulists ("0-3,8") and socket addresses ("127.0.0.1:80",
// "[::1]:80", "*:80"). Each rejects garbage and overflow with a message of the form
// "expected ..., got '...'" that a caller can prefix with the key it was read from.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "config/cpuset.hpp"

namespace gatio::config {

template <typename T>
struct Parsed {
    std::optional<T> value;
    std::string error; // set when !value

    explicit operator bool() const { return value.has_value(); }
};

// A whole number followed by ms, s, m or h; at most INT64_MAX milliseconds.
Parsed<Duration> parse_duration(std::string_view text);
// A whole number followed by us, ms or s, at most `max`: the sub-millisecond waits.
Parsed<Micros> parse_micros(std::string_view text, Micros max);
// A whole number of bytes, optionally followed by B, KiB, MiB or GiB; at most UINT64_MAX bytes.
Parsed<std::uint64_t> parse_size(std::string_view text);
// Comma-separated CPU numbers and low-high ranges, no spaces, each CPU below CpuSet::max_cpus.
Parsed<CpuSet> parse_cpulist(std::string_view text);
// "A.B.C.D:PORT", "[IPV6]:PORT", or "*:PORT" for the IPv4 wildcard; port 1..65535. Numeric
// addresses only: resolving host names would make loading depend on the network. Or
// "unix:/PATH", a unix-domain socket at an absolute path that fits sockaddr_un (107 bytes).
Parsed<SocketAddress> parse_socket_address(std::string_view text);

std::string format_duration(Duration d);      // inverse of parse_duration, shortest exact unit
std::string format_size(std::uint64_t bytes); // inverse of parse_size, largest exact unit
std::string format_micros(Micros d);          // inverse of parse_micros, largest exact unit

} // namespace gatio::config
