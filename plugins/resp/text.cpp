#include "text.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "parser.hpp"
#include "reply.hpp"

namespace gatio::resp {

bool equal_nocase(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (lower(a[i]) != lower(b[i])) {
            return false;
        }
    }
    return true;
}

bool is(std::string_view arg, std::string_view word) {
    if (arg.size() != word.size()) {
        return false;
    }
    for (std::size_t i = 0; i < arg.size(); ++i) {
        if (lower(arg[i]) != word[i]) {
            return false;
        }
    }
    return true;
}

bool glob_match(std::string_view p, std::string_view s, bool nocase) {
    const auto fold = [nocase](char c) { return nocase ? lower(c) : c; };
    while (!p.empty()) {
        switch (p[0]) {
        case '*':
            while (p.size() > 1 && p[1] == '*') {
                p.remove_prefix(1);
            }
            if (p.size() == 1) {
                return true;
            }
            for (std::size_t i = 0; i <= s.size(); ++i) {
                if (glob_match(p.substr(1), s.substr(i), nocase)) {
                    return true;
                }
            }
            return false;
        case '?':
            if (s.empty()) {
                return false;
            }
            s.remove_prefix(1);
            p.remove_prefix(1);
            break;
        case '[': {
            if (s.empty()) {
                return false;
            }
            p.remove_prefix(1);
            bool negate = !p.empty() && p[0] == '^';
            if (negate) {
                p.remove_prefix(1);
            }
            bool match = false;
            while (!p.empty() && p[0] != ']') {
                if (p[0] == '\\' && p.size() >= 2) {
                    p.remove_prefix(1);
                    match |= fold(p[0]) == fold(s[0]);
                } else if (p.size() >= 3 && p[1] == '-') {
                    char lo = fold(p[0]);
                    char hi = fold(p[2]);
                    if (lo > hi) {
                        std::swap(lo, hi);
                    }
                    char c = fold(s[0]);
                    match |= c >= lo && c <= hi;
                    p.remove_prefix(2);
                } else {
                    match |= fold(p[0]) == fold(s[0]);
                }
                p.remove_prefix(1);
            }
            if (!p.empty()) {
                p.remove_prefix(1); // the ']'
            }
            if (match == negate) {
                return false;
            }
            s.remove_prefix(1);
            break;
        }
        case '\\':
            if (p.size() >= 2) {
                p.remove_prefix(1);
            }
            [[fallthrough]];
        default:
            if (s.empty() || fold(p[0]) != fold(s[0])) {
                return false;
            }
            s.remove_prefix(1);
            p.remove_prefix(1);
            break;
        }
    }
    return s.empty();
}

std::optional<long double> parse_long_double(std::string_view text) {
    // redis-server's bound on the text of a long double.
    constexpr std::size_t max_chars = 5 * 1024;
    if (text.empty() || text.size() >= max_chars) {
        return std::nullopt;
    }
    char buf[max_chars];
    text.copy(buf, text.size());
    buf[text.size()] = '\0';
    if (buf[0] == ' ' || (buf[0] >= '\t' && buf[0] <= '\r')) {
        return std::nullopt;
    }
    errno = 0;
    char* end = nullptr;
    long double v = std::strtold(buf, &end);
    if (end != buf + text.size() ||
        (errno == ERANGE && (v == HUGE_VALL || v == -HUGE_VALL || std::fpclassify(v) == FP_ZERO)) ||
        std::isnan(v)) {
        return std::nullopt;
    }
    return v;
}

void append_long_double(std::string& out, long double v) {
    char buf[5 * 1024];
    int n = std::snprintf(buf, sizeof buf, "%.17Lf", v);
    if (n <= 0 || static_cast<std::size_t>(n) >= sizeof buf) {
        return;
    }
    std::string_view text(buf, static_cast<std::size_t>(n));
    if (text.find('.') != std::string_view::npos) {
        while (text.back() == '0') {
            text.remove_suffix(1);
        }
        if (text.back() == '.') {
            text.remove_suffix(1);
        }
    }
    if (text == "-0") {
        text = "0";
    }
    out.append(text);
}

std::optional<std::uint64_t> parse_cursor(std::string_view text) {
    text = text.substr(0, text.find('\0'));
    if (text.empty()) {
        return 0;
    }
    if (text[0] == ' ' || (text[0] >= '\t' && text[0] <= '\r')) {
        return std::nullopt;
    }
    bool negative = false;
    if (text[0] == '+' || text[0] == '-') {
        negative = text[0] == '-';
        text.remove_prefix(1);
    }
    if (text.empty()) {
        return std::nullopt;
    }
    std::uint64_t v = 0;
    for (char c : text) {
        if (c < '0' || c > '9') {
            return std::nullopt;
        }
        const auto d = static_cast<std::uint64_t>(c - '0');
        if (v > (UINT64_MAX - d) / 10) {
            return std::nullopt;
        }
        v = v * 10 + d;
    }
    return negative ? 0 - v : v;
}

bool parse_scan_options(std::span<const std::string_view> args, std::size_t from, ScanOptions& opts,
                        std::string& out, bool typed) {
    for (std::size_t i = from; i < args.size(); i += 2) {
        const bool has_value = i + 1 < args.size();
        if (is(args[i], "count") && has_value) {
            auto v = parse_int(args[i + 1]);
            if (!v) {
                reply::error(out, reply::not_integer);
                return false;
            }
            if (*v < 1) {
                reply::error(out, reply::syntax_error);
                return false;
            }
            opts.count = *v;
        } else if (is(args[i], "match") && has_value) {
            opts.pattern = args[i + 1];
            opts.match = !(opts.pattern.size() == 1 && opts.pattern[0] == '*');
        } else if (typed && is(args[i], "type") && has_value) {
            opts.type = args[i + 1];
            opts.typed = true;
        } else {
            reply::error(out, reply::syntax_error);
            return false;
        }
    }
    return true;
}

ScanWindow scan_window(std::size_t size, bool indexed, std::uint64_t cursor, const ScanOptions& opts,
                       std::string& out) {
    ScanWindow w{size, 0};
    if (indexed) {
        if (cursor != 0 && cursor < w.from) {
            w.from = static_cast<std::size_t>(cursor);
        }
        w.to = w.from - std::min<std::size_t>(w.from, static_cast<std::size_t>(opts.count));
    }
    reply::array(out, 2);
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, static_cast<std::uint64_t>(w.to));
    reply::bulk(out, std::string_view(buf, static_cast<std::size_t>(r.ptr - buf)));
    return w;
}

} // namespace gatio::resp
