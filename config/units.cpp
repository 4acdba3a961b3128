#include "config/units.hpp"

#include <arpa/inet.h>
#include <array>
#include <cassert>
#include <cstddef>
#include <cstring>
#include <limits>
#include <netinet/in.h>
#include <sys/un.h>

namespace gatio::config {

namespace {

struct Unit {
    std::string_view suffix;
    std::uint64_t factor;
};

// Largest factor first so that formatting picks the largest exact unit.
constexpr std::array<Unit, 4> duration_units{{{"h", 3'600'000}, {"m", 60'000}, {"s", 1'000}, {"ms", 1}}};
constexpr std::array<Unit, 3> micros_units{{{"s", 1'000'000}, {"ms", 1'000}, {"us", 1}}};
constexpr std::array<Unit, 4> size_units{
    {{"GiB", 1ull << 30}, {"MiB", 1ull << 20}, {"KiB", 1ull << 10}, {"B", 1}}};

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

std::string quote(std::string_view text) {
    std::string out = "'";
    out += text;
    out += '\'';
    return out;
}

// The leading run of digits of text as a number; nullopt when there is none or it overflows.
// `used` receives the number of digits consumed either way.
std::optional<std::uint64_t> leading_number(std::string_view text, std::size_t& used) {
    used = 0;
    std::uint64_t value = 0;
    bool overflow = false;
    while (used < text.size() && is_digit(text[used])) {
        const auto digit = static_cast<std::uint64_t>(text[used] - '0');
        if (__builtin_mul_overflow(value, 10u, &value) || __builtin_add_overflow(value, digit, &value)) {
            overflow = true;
        }
        ++used;
    }
    if (used == 0 || overflow) {
        return std::nullopt;
    }
    return value;
}

// "<digits><suffix>" scaled by the suffix's factor from `units`, at most `max`; on failure sets
// `error`. `empty_suffix` is the factor when no suffix is written (0: a suffix is mandatory).
template <std::size_t N>
std::optional<std::uint64_t> scaled(std::string_view text, const std::array<Unit, N>& units,
                                    std::uint64_t empty_suffix, std::uint64_t max, std::string& error,
                                    std::string_view expected, std::string_view noun) {
    if (text.size() > 1 && text[0] == '-' && is_digit(text[1])) {
        error = "expected a non-negative " + std::string(noun) + ", got " + quote(text);
        return std::nullopt;
    }
    std::size_t used = 0;
    const auto number = leading_number(text, used);
    const std::string_view suffix = text.substr(used);
    std::uint64_t factor = 0;
    if (suffix.empty()) {
        factor = empty_suffix;
    }
    for (const Unit& unit : units) {
        if (suffix == unit.suffix) {
            factor = unit.factor;
        }
    }
    if (used == 0 || factor == 0) {
        error = "expected " + std::string(expected) + ", got " + quote(text);
        return std::nullopt;
    }
    std::uint64_t value = 0;
    if (!number || __builtin_mul_overflow(*number, factor, &value) || value > max) {
        error = "expected a " + std::string(noun) + " of at most " + std::to_string(max) +
                std::string(units.back().suffix) + ", got " + quote(text);
        return std::nullopt;
    }
    return value;
}

template <std::size_t N>
std::string format_scaled(std::uint64_t value, const std::array<Unit, N>& units) {
    for (const Unit& unit : units) {
        if (value % unit.factor == 0 && (value != 0 || unit.factor == 1)) {
            return std::to_string(value / unit.factor) + std::string(unit.suffix);
        }
    }
    assert(false && "the last unit has factor 1 and divides everything");
    return {};
}

} // namespace

Parsed<Duration> parse_duration(std::string_view text) {
    Parsed<Duration> out;
    const auto max = static_cast<std::uint64_t>(std::numeric_limits<Duration::rep>::max());
    if (auto ms = scaled(text, duration_units, 0, max, out.error,
                         "a whole number followed by ms, s, m or h, such as '250ms' or '10s'", "duration")) {
        out.value = Duration(static_cast<Duration::rep>(*ms));
    }
    return out;
}

Parsed<Micros> parse_micros(std::string_view text, Micros max) {
    Parsed<Micros> out;
    if (auto us = scaled(text, micros_units, 0, static_cast<std::uint64_t>(max.count()), out.error,
                         "a whole number followed by us, ms or s, such as '50us'", "duration")) {
        out.value = Micros(static_cast<Micros::rep>(*us));
    }
    return out;
}

Parsed<std::uint64_t> parse_size(std::string_view text) {
    Parsed<std::uint64_t> out;
    out.value =
        scaled(text, size_units, 1, std::numeric_limits<std::uint64_t>::max(), out.error,
               "a whole number of bytes, optionally followed by B, KiB, MiB or GiB, such as '64KiB'", "size");
    return out;
}

Parsed<CpuSet> parse_cpulist(std::string_view text) {
    Parsed<CpuSet> out;
    const auto garbage = [&] {
        out.error = "expected a cpulist such as '0-3,8', got " + quote(text);
        return out;
    };
    // A CPU number: digits only, below max_cpus.
    const auto cpu = [&](std::string_view item, std::size_t& at) -> std::optional<int> {
        std::size_t used = 0;
        const auto n = leading_number(item.substr(at), used);
        at += used;
        if (used == 0) {
            return std::nullopt;
        }
        if (!n || *n >= static_cast<std::uint64_t>(CpuSet::max_cpus)) {
            out.error = "expected CPU numbers from 0 to " + std::to_string(CpuSet::max_cpus - 1) + ", got " +
                        quote(item);
            return std::nullopt;
        }
        return static_cast<int>(*n);
    };

    CpuSet set;
    std::size_t start = 0;
    while (true) {
        const std::size_t comma = text.find(',', start);
        const std::string_view item =
            text.substr(start, comma == std::string_view::npos ? comma : comma - start);
        std::size_t at = 0;
        const auto low = cpu(item, at);
        if (!low) {
            return out.error.empty() ? garbage() : out;
        }
        int high = *low;
        if (at < item.size() && item[at] == '-') {
            ++at;
            const auto h = cpu(item, at);
            if (!h) {
                return out.error.empty() ? garbage() : out;
            }
            high = *h;
        }
        if (at != item.size()) {
            return garbage();
        }
        if (high < *low) {
            out.error = "expected ranges written low-high, got " + quote(item);
            return out;
        }
        for (int c = *low; c <= high; ++c) {
            set.add(c);
        }
        if (comma == std::string_view::npos) {
            break;
        }
        start = comma + 1;
    }
    out.value = set;
    return out;
}

Parsed<SocketAddress> parse_socket_address(std::string_view text) {
    Parsed<SocketAddress> out;
    if (text.starts_with(unix_prefix)) {
        const std::string_view path = text.substr(unix_prefix.size());
        sockaddr_un sun{};
        if (path.empty() || path.front() != '/') {
            out.error = "expected an absolute socket path after 'unix:', got " + quote(text);
            return out;
        }
        // sun_path holds the path and its terminating NUL.
        if (path.size() >= sizeof sun.sun_path) {
            out.error = "the socket path of " + quote(text) + " is " + std::to_string(path.size()) +
                        " bytes long, at most " + std::to_string(sizeof sun.sun_path - 1) +
                        " fit in a socket address";
            return out;
        }
        if (path.find('\0') != std::string_view::npos) {
            out.error = "the socket path of " + quote(text) + " holds a NUL byte";
            return out;
        }
        sun.sun_family = AF_UNIX;
        std::memcpy(sun.sun_path, path.data(), path.size());
        SocketAddress address;
        address.text = std::string(text);
        std::memcpy(&address.storage, &sun, sizeof sun);
        address.length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
        out.value = std::move(address);
        return out;
    }
    const auto garbage = [&] {
        out.error = "expected an address such as '127.0.0.1:80', '[::1]:80' or '*:80', got " + quote(text);
        return out;
    };
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
        return garbage();
    }
    std::string_view host = text.substr(0, colon);
    const std::string_view port_text = text.substr(colon + 1);

    std::size_t used = 0;
    const auto port = leading_number(port_text, used);
    if (used == 0 || used != port_text.size()) {
        return garbage();
    }
    if (!port || *port < 1 || *port > 65535) {
        out.error = "expected a port from 1 to 65535, got " + quote(text);
        return out;
    }

    SocketAddress address;
    address.text = std::string(text);
    address.port = static_cast<std::uint16_t>(*port);
    // inet_pton needs a terminated string; an address literal is never longer than this.
    std::array<char, INET6_ADDRSTRLEN + 1> buf{};
    if (host == "*") {
        sockaddr_in sin{};
        sin.sin_family = AF_INET;
        sin.sin_port = htons(address.port);
        sin.sin_addr.s_addr = htonl(INADDR_ANY);
        std::memcpy(&address.storage, &sin, sizeof sin);
        address.length = sizeof sin;
    } else if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
        sockaddr_in6 sin6{};
        sin6.sin6_family = AF_INET6;
        sin6.sin6_port = htons(address.port);
        if (host.size() >= buf.size()) {
            return garbage();
        }
        std::memcpy(buf.data(), host.data(), host.size());
        if (inet_pton(AF_INET6, buf.data(), &sin6.sin6_addr) != 1) {
            return garbage();
        }
        std::memcpy(&address.storage, &sin6, sizeof sin6);
        address.length = sizeof sin6;
    } else {
        sockaddr_in sin{};
        sin.sin_family = AF_INET;
        sin.sin_port = htons(address.port);
        if (host.size() >= buf.size()) {
            return garbage();
        }
        std::memcpy(buf.data(), host.data(), host.size());
        if (inet_pton(AF_INET, buf.data(), &sin.sin_addr) != 1) {
            return garbage();
        }
        std::memcpy(&address.storage, &sin, sizeof sin);
        address.length = sizeof sin;
    }
    out.value = std::move(address);
    return out;
}

std::string format_duration(Duration d) {
    assert(d.count() >= 0);
    if (d.count() == 0) {
        return "0s"; // every unit is exact for zero; seconds read most naturally
    }
    return format_scaled(static_cast<std::uint64_t>(d.count()), duration_units);
}

std::string format_size(std::uint64_t bytes) {
    return format_scaled(bytes, size_units);
}

std::string format_micros(Micros d) {
    assert(d.count() >= 0);
    return format_scaled(static_cast<std::uint64_t>(d.count()), micros_units);
}

} // namespace gatio::config
