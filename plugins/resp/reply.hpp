// Appending RESP2 replies to a buffer. The buffer keeps its capacity between requests, so
// building a reply allocates only while it grows past the largest reply seen.
#pragma once

#include <charconv>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace gatio::resp::reply {

inline void crlf(std::string& out) {
    out.append("\r\n", 2);
}

inline void number(std::string& out, std::int64_t v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, static_cast<std::size_t>(r.ptr - buf));
}

inline void simple(std::string& out, std::string_view text) {
    out.push_back('+');
    out.append(text);
    crlf(out);
}

inline void ok(std::string& out) {
    out.append("+OK\r\n", 5);
}

// `text` is the whole error line without '-' and CRLF, e.g. "ERR syntax error".
inline void error(std::string& out, std::string_view text) {
    out.push_back('-');
    out.append(text);
    crlf(out);
}

// A header line: `type`, the number, CRLF, written to `buf` for one append rather than four.
// Returns its length.
inline std::size_t header(char (&buf)[24], char type, std::int64_t v) {
    buf[0] = type;
    char* end = std::to_chars(buf + 1, buf + sizeof buf - 2, v).ptr;
    end[0] = '\r';
    end[1] = '\n';
    return static_cast<std::size_t>(end + 2 - buf);
}

inline void integer(std::string& out, std::int64_t v) {
    char buf[24];
    out.append(buf, header(buf, ':', v));
}

// A short value goes out in one append with its header and CRLF (LRANGE's hundred elements
// each cost one capacity check, not five).
inline void bulk(std::string& out, std::string_view data) {
    constexpr std::size_t short_value = 64;
    char buf[24];
    const std::size_t n = header(buf, '$', static_cast<std::int64_t>(data.size()));
    if (data.size() <= short_value) {
        char whole[sizeof buf + short_value + 2];
        std::memcpy(whole, buf, n);
        if (!data.empty()) { // an empty view's data() may be null, which memcpy may not take
            std::memcpy(whole + n, data.data(), data.size());
        }
        std::memcpy(whole + n + data.size(), "\r\n", 2);
        out.append(whole, n + data.size() + 2);
        return;
    }
    out.append(buf, n);
    out.append(data);
    crlf(out);
}

inline void nil(std::string& out) {
    out.append("$-1\r\n", 5);
}

inline void array(std::string& out, std::size_t count) {
    char buf[24];
    out.append(buf, header(buf, '*', static_cast<std::int64_t>(count)));
}

// The messages redis-server uses, word for word, for errors more than one command can give.
inline constexpr std::string_view syntax_error = "ERR syntax error";
inline constexpr std::string_view not_integer = "ERR value is not an integer or out of range";
// An integer argument redis-server reads as a C int (getIntFromObjectOrReply), out of that range.
inline constexpr std::string_view int_range =
    "ERR value is out of range, value must between -2147483648 and 2147483647";
inline constexpr std::string_view overflow = "ERR increment or decrement would overflow";
inline constexpr std::string_view wrongtype =
    "WRONGTYPE Operation against a key holding the wrong kind of value";
inline constexpr std::string_view oom = "OOM command not allowed when used memory > 'maxmemory'.";

} // namespace gatio::resp::reply
