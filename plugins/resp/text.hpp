// Small text helpers the commands share: letter case, option words, glob patterns and
// redis-server's long double syntax.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace gatio::resp {

inline char lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

// Whether a and b are equal ignoring ASCII letter case.
bool equal_nocase(std::string_view a, std::string_view b);

// Whether an argument is `word` (given in lower case) in any letter case.
bool is(std::string_view arg, std::string_view word);

// redis-server's glob matching (stringmatchlen): * ? [set] [^set] [a-z] and \x, with or
// without letter case.
bool glob_match(std::string_view pattern, std::string_view s, bool nocase);

// A long double as redis-server reads one (string2ld): the whole text, no leading space,
// neither NaN nor an underflow or overflow of the conversion; infinities are accepted.
std::optional<long double> parse_long_double(std::string_view text);

// A long double as redis-server writes one for humans (INCRBYFLOAT, HINCRBYFLOAT): 17
// decimals with the trailing zeros (and a bare point) cut, "-0" written "0".
void append_long_double(std::string& out, long double v);

// A SCAN cursor as redis-server reads one (strtoul up to a NUL byte: no leading space, a sign
// allowed, a negative one wrapping, the empty text 0); nullopt when it is invalid.
std::optional<std::uint64_t> parse_cursor(std::string_view text);

// The MATCH and COUNT options of HSCAN/SSCAN/ZSCAN, and SCAN's TYPE (`typed` allows it), from
// args[from]; on an error, appends its reply and returns false.
struct ScanOptions {
    std::string_view pattern; // empty: every item
    bool match = false;
    std::int64_t count = 10;
    std::string_view type; // SCAN: only keys whose TYPE is this, in any letter case
    bool typed = false;
};
bool parse_scan_options(std::span<const std::string_view> args, std::size_t from, ScanOptions& opts,
                        std::string& out, bool typed = false);

// The positions (to, from] an HSCAN/SSCAN call walks down over a table of `size` items: all of a
// small (not indexed) one, which answers whole with cursor 0; else `count` below the cursor,
// where the cursor is how many positions are left (0: start from the top). `to` is the next
// cursor. Appends the reply's head: the two-element array and that cursor.
struct ScanWindow {
    std::size_t from = 0;
    std::size_t to = 0;
};
ScanWindow scan_window(std::size_t size, bool indexed, std::uint64_t cursor, const ScanOptions& opts,
                       std::string& out);

} // namespace gatio::resp
