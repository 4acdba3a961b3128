#include "parser.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>

namespace gatio::resp {

namespace {

bool is_space(unsigned char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

int hex_value(unsigned char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

std::string_view view(std::span<const std::uint8_t> data, std::size_t from, std::size_t to) {
    return {reinterpret_cast<const char*>(data.data()) + from, to - from};
}

// The usual header, complete and plain, read in the pass that finds its end: `at` is its first
// digit, and its '\r' must lie before `limit` (max_inline from the header's start). Returns the
// position of that '\r' with the number in `value`, or npos for anything else (a header cut
// short, a sign, a leading zero, over 18 digits, a line too long), which the general path
// decides exactly as before.
[[gnu::always_inline]] inline std::size_t quick_header(std::span<const std::uint8_t> data, std::size_t at,
                                                       std::size_t limit, std::uint64_t& value) {
    const std::size_t n = data.size();
    if (at >= n || data[at] < '1' || data[at] > '9') {
        return std::string_view::npos;
    }
    const std::size_t end = std::min({n, at + 18, limit});
    std::uint64_t v = data[at] - '0';
    std::size_t i = at + 1;
    while (i < end && data[i] >= '0' && data[i] <= '9') {
        v = v * 10 + (data[i] - '0');
        ++i;
    }
    // Like the general path, the byte after '\r' must be there, unexamined.
    if (i + 1 >= n || i >= limit || data[i] != '\r') {
        return std::string_view::npos;
    }
    value = v;
    return i;
}

} // namespace

std::optional<std::int64_t> parse_int(std::string_view s) {
    // 20 characters hold every int64 ("-9223372036854775808"); longer cannot be valid.
    if (s.empty() || s.size() > 20) {
        return std::nullopt;
    }
    if (s.size() == 1 && s[0] == '0') {
        return 0;
    }
    std::size_t i = 0;
    bool negative = false;
    if (s[0] == '-') {
        negative = true;
        i = 1;
        if (s.size() == 1) {
            return std::nullopt;
        }
    }
    if (s[i] < '1' || s[i] > '9') {
        return std::nullopt;
    }
    // Accumulate the magnitude unsigned so that INT64_MIN fits.
    std::uint64_t v = 0;
    for (; i < s.size(); ++i) {
        if (s[i] < '0' || s[i] > '9') {
            return std::nullopt;
        }
        auto digit = static_cast<std::uint64_t>(s[i] - '0');
        if (v > (UINT64_MAX - digit) / 10) {
            return std::nullopt;
        }
        v = v * 10 + digit;
    }
    constexpr std::uint64_t max_positive = static_cast<std::uint64_t>(INT64_MAX);
    if (negative) {
        if (v > max_positive + 1) {
            return std::nullopt;
        }
        return v == max_positive + 1 ? INT64_MIN : -static_cast<std::int64_t>(v);
    }
    if (v > max_positive) {
        return std::nullopt;
    }
    return static_cast<std::int64_t>(v);
}

std::size_t peek_keys(std::span<const std::uint8_t> data, std::span<std::string_view> keys) {
    const std::size_t n = data.size();
    std::size_t at = 0;
    std::size_t found = 0;
    while (found < keys.size() && at < n && data[at] == '*') {
        std::uint64_t count = 0;
        std::size_t cr = quick_header(data, at + 1, n, count);
        if (cr == std::string_view::npos || count > max_peek_arguments) {
            break;
        }
        at = cr + 2;
        std::string_view key;
        for (std::uint64_t i = 0; i < count; ++i) {
            std::uint64_t len = 0;
            if (at >= n || data[at] != '$') {
                return found;
            }
            cr = quick_header(data, at + 1, n, len);
            if (cr == std::string_view::npos || n - (cr + 2) < len + 2) {
                return found;
            }
            if (i == 1) {
                key = view(data, cr + 2, cr + 2 + len);
            }
            at = cr + 2 + len + 2;
        }
        keys[found++] = key;
    }
    return found;
}

void Parser::reset() {
    phase_ = Phase::start;
    pos_ = 0;
    search_ = 0;
    remaining_ = 0;
    bulk_len_ = 0;
    spans_.clear();
    argc_ = 0;
    consumed_ = 0;
}

std::size_t Parser::announced() const {
    if (phase_ == Phase::bulk_data) {
        return pos_ + static_cast<std::size_t>(bulk_len_) + 2;
    }
    return pos_;
}

namespace {

template <class T>
void release_if_over(T& buffer, std::size_t keep_bytes) {
    if (buffer.capacity() * sizeof(buffer[0]) > keep_bytes) {
        T().swap(buffer);
    }
}

} // namespace

void Parser::release_large(std::size_t keep_bytes) {
    argc_ = 0;
    release_if_over(args_, keep_bytes);
    release_if_over(inline_, keep_bytes);
    release_if_over(inline_spans_, keep_bytes);
    // Mid-request, spans_ holds the arguments parsed so far.
    if (phase_ == Phase::start) {
        release_if_over(spans_, keep_bytes);
    }
}

std::string Parser::error_text() const {
    switch (error_) {
    case ProtocolError::invalid_multibulk_length:
        return "ERR Protocol error: invalid multibulk length";
    case ProtocolError::invalid_bulk_length:
        return "ERR Protocol error: invalid bulk length";
    case ProtocolError::expected_dollar:
        return std::string("ERR Protocol error: expected '$', got '") + got_ + "'";
    case ProtocolError::too_big_inline:
        return "ERR Protocol error: too big inline request";
    case ProtocolError::too_big_mbulk_count:
        return "ERR Protocol error: too big mbulk count string";
    case ProtocolError::too_big_bulk_count:
        return "ERR Protocol error: too big bulk count string";
    case ProtocolError::unbalanced_quotes:
        return "ERR Protocol error: unbalanced quotes in request";
    case ProtocolError::none:
        break;
    }
    return "ERR Protocol error";
}

ParseStatus Parser::fail(ProtocolError e) {
    reset();
    error_ = e;
    return ParseStatus::error;
}

std::size_t Parser::find_end(std::span<const std::uint8_t> data, std::size_t start, char end) {
    if (search_ < start) {
        search_ = start;
    }
    const std::size_t window = std::min(data.size(), start + limits_.max_inline);
    if (search_ >= window) {
        return std::string_view::npos;
    }
    const void* hit = std::memchr(data.data() + search_, end, window - search_);
    if (hit == nullptr) {
        search_ = window;
        return std::string_view::npos;
    }
    auto at = static_cast<std::size_t>(static_cast<const std::uint8_t*>(hit) - data.data());
    search_ = at;
    return at;
}

ParseStatus Parser::finish(std::size_t end) {
    consumed_ = end;
    argc_ = 0;
    if (phase_ == Phase::inline_line) {
        argc_ = inline_spans_.size();
        if (args_.size() < argc_) {
            args_.resize(argc_);
        }
        for (std::size_t i = 0; i < argc_; ++i) {
            args_[i] = std::string_view(inline_).substr(inline_spans_[i].first, inline_spans_[i].second);
        }
    } else {
        argc_ = spans_.size();
    }
    phase_ = Phase::start;
    pos_ = 0;
    search_ = 0;
    remaining_ = 0;
    error_ = ProtocolError::none;
    return ParseStatus::command;
}

ParseStatus Parser::parse(std::span<const std::uint8_t> data) {
    const std::size_t n = data.size();
    assert(pos_ <= n);
    if (phase_ == Phase::start) {
        if (n == 0) {
            return ParseStatus::incomplete;
        }
        spans_.clear();
        argc_ = 0;
        if (data[0] != '*') {
            phase_ = Phase::inline_line;
        } else {
            phase_ = Phase::multibulk_header;
        }
    }
    if (phase_ == Phase::inline_line) {
        return parse_inline(data);
    }

    if (phase_ == Phase::multibulk_header && search_ == 0) {
        std::uint64_t count = 0;
        const std::size_t cr = quick_header(data, 1, limits_.max_inline, count);
        if (cr != std::string_view::npos) {
            if (count > limits_.max_multibulk) {
                return fail(ProtocolError::invalid_multibulk_length);
            }
            pos_ = cr + 2;
            remaining_ = count;
            phase_ = Phase::bulk_header;
        }
    }
    if (phase_ == Phase::multibulk_header) {
        std::size_t cr = find_end(data, 0, '\r');
        if (cr == std::string_view::npos) {
            return n >= limits_.max_inline ? fail(ProtocolError::too_big_mbulk_count)
                                           : ParseStatus::incomplete;
        }
        // The header counts as complete only once the byte after '\r' is there too; like
        // redis-server, that byte is skipped without being looked at.
        if (cr + 2 > n) {
            return ParseStatus::incomplete;
        }
        auto count = parse_int(view(data, 1, cr));
        if (!count || *count > static_cast<std::int64_t>(limits_.max_multibulk)) {
            return fail(ProtocolError::invalid_multibulk_length);
        }
        pos_ = cr + 2;
        if (*count <= 0) {
            return finish(pos_);
        }
        remaining_ = static_cast<std::uint64_t>(*count);
        phase_ = Phase::bulk_header;
    }

    while (remaining_ > 0) {
        if (phase_ == Phase::bulk_header && search_ <= pos_ && pos_ < n && data[pos_] == '$') {
            std::uint64_t len = 0;
            const std::size_t cr = quick_header(data, pos_ + 1, pos_ + limits_.max_inline, len);
            if (cr != std::string_view::npos) {
                if (len > limits_.max_bulk_len) {
                    return fail(ProtocolError::invalid_bulk_length);
                }
                bulk_len_ = len;
                pos_ = cr + 2;
                phase_ = Phase::bulk_data;
            }
        }
        if (phase_ == Phase::bulk_header) {
            std::size_t cr = find_end(data, pos_, '\r');
            if (cr == std::string_view::npos) {
                return n - pos_ >= limits_.max_inline ? fail(ProtocolError::too_big_bulk_count)
                                                      : ParseStatus::incomplete;
            }
            if (cr + 2 > n) {
                return ParseStatus::incomplete;
            }
            if (data[pos_] != '$') {
                got_ = static_cast<char>(data[pos_]);
                return fail(ProtocolError::expected_dollar);
            }
            auto len = parse_int(view(data, pos_ + 1, cr));
            if (!len || *len < 0 || static_cast<std::uint64_t>(*len) > limits_.max_bulk_len) {
                return fail(ProtocolError::invalid_bulk_length);
            }
            bulk_len_ = static_cast<std::uint64_t>(*len);
            pos_ = cr + 2;
            phase_ = Phase::bulk_data;
        }
        // The two bytes after the data are skipped unchecked, as redis-server does.
        if (n - pos_ < bulk_len_ + 2) {
            return ParseStatus::incomplete;
        }
        spans_.emplace_back(pos_, static_cast<std::size_t>(bulk_len_));
        pos_ += static_cast<std::size_t>(bulk_len_) + 2;
        --remaining_;
        phase_ = Phase::bulk_header;
    }
    if (args_.size() < spans_.size()) {
        args_.resize(spans_.size());
    }
    for (std::size_t i = 0; i < spans_.size(); ++i) {
        args_[i] = view(data, spans_[i].first, spans_[i].first + spans_[i].second);
    }
    return finish(pos_);
}

ParseStatus Parser::parse_inline(std::span<const std::uint8_t> data) {
    const std::size_t n = data.size();
    std::size_t nl = find_end(data, 0, '\n');
    if (nl == std::string_view::npos) {
        return n >= limits_.max_inline ? fail(ProtocolError::too_big_inline) : ParseStatus::incomplete;
    }
    std::size_t end = nl;
    if (end > 0 && data[end - 1] == '\r') {
        --end;
    }
    if (!split_inline(view(data, 0, end))) {
        return fail(ProtocolError::unbalanced_quotes);
    }
    return finish(nl + 1);
}

// Splits one inline line into words the way redis-cli users expect: whitespace separates
// words; "..." takes C-like escapes (\n \r \t \b \a \xHH, others stand for themselves); '...'
// takes only \'; a closing quote must be followed by whitespace or the end of the line. A NUL
// byte ends the line, as in redis-server.
bool Parser::split_inline(std::string_view line) {
    inline_.clear();
    inline_spans_.clear();
    if (auto nul = line.find('\0'); nul != std::string_view::npos) {
        line = line.substr(0, nul);
    }
    std::size_t i = 0;
    const std::size_t n = line.size();
    auto at = [&](std::size_t k) { return static_cast<unsigned char>(k < n ? line[k] : '\0'); };
    while (true) {
        while (i < n && is_space(at(i))) {
            ++i;
        }
        if (i >= n) {
            return true;
        }
        std::size_t start = inline_.size();
        enum { plain, dquote, squote } mode = plain;
        bool done = false;
        while (!done) {
            unsigned char c = at(i);
            if (mode == dquote) {
                if (i >= n) {
                    return false;
                }
                if (c == '\\' && at(i + 1) == 'x' && hex_value(at(i + 2)) >= 0 && hex_value(at(i + 3)) >= 0) {
                    inline_.push_back(static_cast<char>(hex_value(at(i + 2)) * 16 + hex_value(at(i + 3))));
                    i += 3;
                } else if (c == '\\' && i + 1 < n) {
                    ++i;
                    switch (at(i)) {
                    case 'n':
                        inline_.push_back('\n');
                        break;
                    case 'r':
                        inline_.push_back('\r');
                        break;
                    case 't':
                        inline_.push_back('\t');
                        break;
                    case 'b':
                        inline_.push_back('\b');
                        break;
                    case 'a':
                        inline_.push_back('\a');
                        break;
                    default:
                        inline_.push_back(static_cast<char>(at(i)));
                        break;
                    }
                } else if (c == '"') {
                    if (i + 1 < n && !is_space(at(i + 1))) {
                        return false;
                    }
                    done = true;
                } else {
                    inline_.push_back(static_cast<char>(c));
                }
            } else if (mode == squote) {
                if (i >= n) {
                    return false;
                }
                if (c == '\\' && at(i + 1) == '\'') {
                    inline_.push_back('\'');
                    ++i;
                } else if (c == '\'') {
                    if (i + 1 < n && !is_space(at(i + 1))) {
                        return false;
                    }
                    done = true;
                } else {
                    inline_.push_back(static_cast<char>(c));
                }
            } else if (i >= n || c == ' ' || c == '\n' || c == '\r' || c == '\t') {
                done = true;
            } else if (c == '"') {
                mode = dquote;
            } else if (c == '\'') {
                mode = squote;
            } else {
                inline_.push_back(static_cast<char>(c));
            }
            if (i < n) {
                ++i;
            }
        }
        inline_spans_.emplace_back(start, inline_.size() - start);
    }
}

} // namespace gatio::resp
