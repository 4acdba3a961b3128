#include "parser.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cassert>
#include <cstring>

namespace gatio::http {

namespace {

constexpr std::uint8_t CR = '\r';
constexpr std::uint8_t LF = '\n';
constexpr std::uint8_t SP = ' ';
constexpr std::uint8_t HTAB = '\t';

// A byte table: letters, digits and the `extra` characters. Tables, since header bytes are
// checked one at a time.
constexpr std::array<bool, 256> alnum_and(std::string_view extra) {
    std::array<bool, 256> t{};
    for (int c = 0; c < 256; ++c) {
        t[c] = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    }
    for (char c : extra) {
        t[static_cast<std::uint8_t>(c)] = true;
    }
    return t;
}
// RFC 9110 token characters.
constexpr std::array<bool, 256> tchar = alnum_and("!#$%&'*+-.^_`|~");

bool is_tchar(std::uint8_t c) {
    return tchar[c];
}
bool is_digit(std::uint8_t c) {
    return c >= '0' && c <= '9';
}
bool is_alpha(std::uint8_t c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_vchar(std::uint8_t c) {
    return c > SP && c < 0x7f;
}
// A byte a field value may hold besides whitespace (VCHAR and obs-text).
bool is_field_vchar(std::uint8_t c) {
    return is_vchar(c) || c >= 0x80;
}
bool is_space(std::uint8_t c) {
    return c == SP || c == HTAB;
}
// RFC 3986 reg-name characters besides pct-encoded: unreserved and sub-delims.
constexpr std::array<bool, 256> reg_name = alnum_and("-._~!$&'()*+,;=");

bool is_reg_name(std::uint8_t c) {
    return reg_name[c];
}
// RFC 9110 qdtext: a quoted-string byte that needs no backslash.
bool is_qdtext(std::uint8_t c) {
    return c == HTAB || c == SP || c == 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e) ||
           c >= 0x80;
}
int hex_value(std::uint8_t c) {
    if (is_digit(c)) {
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
std::uint8_t lower(std::uint8_t c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<std::uint8_t>(c + ('a' - 'A')) : c;
}

// Whether the n bytes at p, all token characters, equal the lower-case literal lit of the same
// length, ignoring case. For token characters c | 0x20 is a lower-case letter only when c is a
// letter, and leaves '-' alone, so one OR per word folds the case of eight bytes at a time.
bool equals_lower(const std::uint8_t* p, std::string_view lit) {
    constexpr std::uint64_t fold = 0x2020202020202020;
    std::size_t k = 0;
    for (; k + 8 <= lit.size(); k += 8) {
        std::uint64_t a = 0;
        std::uint64_t b = 0;
        std::memcpy(&a, p + k, 8);
        std::memcpy(&b, lit.data() + k, 8);
        if ((a | fold) != b) {
            return false;
        }
    }
    for (; k < lit.size(); ++k) {
        if ((p[k] | 0x20) != static_cast<std::uint8_t>(lit[k])) {
            return false;
        }
    }
    return true;
}

// The length of the run of token characters at [p, end).
std::size_t token_run(const std::uint8_t* p, const std::uint8_t* end) {
    const std::uint8_t* q = p;
    while (q < end && is_tchar(*q)) {
        ++q;
    }
    return static_cast<std::size_t>(q - p);
}

// The first byte at [p, end) a field value may not hold (a control byte other than HTAB, or
// DEL; CR and LF among them), or end. Eight bytes at a time: a word with none of them is
// skipped whole, and only a word flagged as holding one (HTAB flags too) is looked at bytewise.
const std::uint8_t* field_value_end(const std::uint8_t* p, const std::uint8_t* end) {
    constexpr std::uint64_t ones = 0x0101010101010101;
    constexpr std::uint64_t highs = 0x8080808080808080;
    while (end - p >= 8) {
        std::uint64_t w = 0;
        std::memcpy(&w, p, 8);
        const std::uint64_t del = w ^ (0x7f * ones);
        // A high bit set where some byte is below 0x20, or where some byte is DEL.
        if ((((w - 0x20 * ones) & ~w) | ((del - ones) & ~del)) & highs) {
            break;
        }
        p += 8;
    }
    while (p < end && (is_field_vchar(*p) || is_space(*p))) {
        ++p;
    }
    return p;
}

// Indexed like Method.
constexpr std::array<std::string_view, 9> methods{"GET",     "HEAD",  "POST",  "PUT",    "DELETE",
                                                  "OPTIONS", "PATCH", "TRACE", "CONNECT"};
// Lower case, indexed like the parser's Field.
constexpr std::array<std::string_view, 9> field_names{
    "if-none-match",  "if-modified-since", "range", "if-range", "connection",
    "content-length", "transfer-encoding", "host",  "expect"};
constexpr std::array<std::string_view, 2> connection_options{"close", "keep-alive"};
constexpr std::array<std::string_view, 1> transfer_codings{"chunked"};
constexpr std::array<std::string_view, 1> expectations{"100-continue"};

} // namespace

void LiteralMatcher::feed(std::span<const std::string_view> literals, std::uint8_t c) {
    for (unsigned m = mask_; m != 0; m &= m - 1) {
        const int i = std::countr_zero(m);
        const std::string_view lit = literals[static_cast<std::size_t>(i)];
        if (len_ >= lit.size() || static_cast<std::uint8_t>(lit[len_]) != c) {
            mask_ = static_cast<std::uint16_t>(mask_ & ~(1u << i));
        }
    }
    // Every literal is shorter than 255 bytes, so a token this long matches none of them.
    if (len_ == UINT8_MAX) {
        mask_ = 0;
    } else {
        ++len_;
    }
}

int LiteralMatcher::match(std::span<const std::string_view> literals) const {
    for (unsigned m = mask_; m != 0; m &= m - 1) {
        const int i = std::countr_zero(m);
        if (literals[static_cast<std::size_t>(i)].size() == len_) {
            return i;
        }
    }
    return -1;
}

void Parser::start() {
    p_ = Progress{};
    p_.route_hi = static_cast<std::uint32_t>(routes_.size());
}

// The captured fields are read as any other when nothing is captured.
Parser::Field Parser::classify(int f) const {
    if (f < 0) {
        return Field::other;
    }
    const auto field = static_cast<Field>(f);
    return is_captured(field) && capture_ == nullptr ? Field::other : field;
}

char* Parser::field_buffer(Field f) const {
    char* at = capture_ + max_path_;
    for (int i = 0; i < static_cast<int>(f); ++i) {
        at += captured_capacity[i];
    }
    return at;
}

std::optional<std::string_view> Parser::path() const {
    if (capture_ == nullptr || p_.path_kept > max_path_) {
        return std::nullopt;
    }
    return std::string_view{capture_, p_.path_kept};
}

std::optional<std::string_view> Parser::field(Captured which) const {
    const std::uint32_t n = p_.captured[static_cast<int>(which)];
    if (capture_ == nullptr || n == none || n == dropped) {
        return std::nullopt;
    }
    std::string_view v{field_buffer(static_cast<Field>(which)), n};
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) {
        v.remove_suffix(1);
    }
    return v;
}

Parser::Result Parser::fail(std::size_t consumed, int status) {
    p_.state = State::failed;
    p_.error = status;
    return {consumed, Event::error};
}

Parser::Result Parser::complete(std::size_t consumed) {
    p_.state = State::done;
    ++completed_;
    return {consumed, Event::complete};
}

Parser::Phase Parser::phase() const {
    switch (p_.state) {
    case State::done:
    case State::failed:
        return Phase::idle;
    case State::line_start:
        // Leading empty lines are part of the request they precede.
        return p_.head_bytes == 0 ? Phase::idle : Phase::head;
    default:
        break;
    }
    return p_.state >= State::body_fixed || p_.in_trailer ? Phase::body : Phase::head;
}

Parser::Result Parser::feed(std::span<const std::uint8_t> data) {
    if (p_.state == State::failed) {
        return {0, Event::error};
    }
    if (p_.state == State::done) {
        start();
    }
    std::size_t i = 0;
    const std::size_t n = data.size();
    while (i < n) {
        if (p_.state == State::body_fixed || p_.state == State::chunk_data) {
            const std::uint64_t take = std::min<std::uint64_t>(p_.remaining, n - i);
            i += static_cast<std::size_t>(take);
            p_.remaining -= take;
            if (p_.remaining == 0) {
                if (p_.state == State::body_fixed) {
                    return complete(i);
                }
                p_.state = State::chunk_data_cr;
            }
            continue;
        }
        if (p_.state < State::body_fixed) {
            // Runs of the head that need no byte-by-byte state go in one stride, within what
            // is left of max_header_bytes so that the byte past it still fails where it did.
            const std::size_t end =
                i + std::min<std::size_t>(n - i, limits_->max_header_bytes - p_.head_bytes);
            std::size_t j = i;
            const bool ok = scan_head(data.data(), j, end);
            p_.head_bytes += static_cast<std::uint32_t>(j - i);
            i = j;
            if (!ok) {
                return fail(i, p_.error);
            }
            if (i == n) {
                break;
            }
        }
        if (p_.state < State::body_fixed && ++p_.head_bytes > limits_->max_header_bytes) {
            return fail(i, 431);
        }
        if (!step(data[i++])) {
            return fail(i, p_.error);
        }
        if (p_.state == State::done) {
            return complete(i);
        }
        if (p_.head_ready) {
            p_.head_ready = false;
            return {i, Event::head};
        }
    }
    return {n, Event::need_more};
}

// The head's common case without one state-machine step per byte: a method, a path or query, the
// version, a field name and a field value, each taken whole when it lies complete in [j, end),
// and the lines' CRLF with them. Whatever it does not take whole (a token cut by the end of the
// data, percent-encoding, a bare LF, the end of the head, anything refused) it leaves to step(),
// which reads it byte by byte as before; both make the same decisions, so where a request is cut
// does not change what it gives. On an error j is one past the refused byte, as after step().
bool Parser::scan_head(const std::uint8_t* data, std::size_t& j, std::size_t end) {
    const std::uint8_t* const base = data;
    for (;;) {
        const std::uint8_t* p = base + j;
        const std::uint8_t* const stop = base + end;
        if (p == stop) {
            return true;
        }
        switch (p_.state) {
        case State::line_start: {
            const std::size_t len = token_run(p, stop);
            if (len == 0 || p + len == stop || p[len] != SP) {
                return true;
            }
            p_.request.method = Method::other;
            for (std::size_t m = 0; m < methods.size(); ++m) {
                if (methods[m].size() == len && std::memcmp(p, methods[m].data(), len) == 0) {
                    p_.request.method = static_cast<Method>(m);
                    break;
                }
            }
            p_.state = State::target_start;
            j += len + 1;
            break;
        }
        case State::target_start:
            if (*p != '/') {
                return true;
            }
            path_byte(*p);
            p_.state = State::path;
            j += 1;
            break;
        case State::path: {
            const std::uint8_t* q = p;
            while (q < stop && is_vchar(*q) && *q != '%' && *q != '?' && *q != '#') {
                path_byte(*q++);
            }
            j += static_cast<std::size_t>(q - p);
            if (q == stop || *q != SP) {
                return true;
            }
            end_target();
            j += 1;
            break;
        }
        case State::query: {
            const std::uint8_t* q = p;
            while (q < stop && is_vchar(*q)) {
                ++q;
            }
            j += static_cast<std::size_t>(q - p);
            if (q == stop || *q != SP) {
                return true;
            }
            end_target();
            j += 1;
            break;
        }
        case State::version:
            if (p_.version_pos != 0 || stop - p < 10 || std::memcmp(p, "HTTP/1.", 7) != 0 ||
                !is_digit(p[7]) || p[8] != CR || p[9] != LF) {
                return true;
            }
            p_.request.version = p[7] == '0' ? Version::http10 : Version::http11;
            p_.state = State::field_start;
            j += 10;
            break;
        case State::field_start: {
            const std::size_t len = token_run(p, stop);
            if (len == 0 || p + len == stop || p[len] != ':') {
                return true;
            }
            if (++p_.field_count > limits_->max_headers) {
                j += 1;
                return error(431);
            }
            // Only names of the same length are compared.
            p_.field = Field::other;
            if (!p_.in_trailer) {
                for (std::size_t f = 0; f < field_names.size(); ++f) {
                    if (field_names[f].size() == len && equals_lower(p, field_names[f])) {
                        p_.field = classify(static_cast<int>(f));
                        break;
                    }
                }
            }
            begin_field_value();
            p_.state = State::field_value_ows;
            j += len + 1;
            break;
        }
        case State::field_value_ows:
        case State::field_value: {
            const std::uint8_t* q = p;
            if (p_.field == Field::other) {
                // Any value is as good as another here, leading whitespace included.
                q = field_value_end(p, stop);
                p_.state = State::field_value;
            } else {
                if (p_.field == Field::host) {
                    q = host_run(q, stop);
                }
                for (; q < stop && *q != CR && *q != LF; ++q) {
                    if (p_.state == State::field_value_ows && is_space(*q)) {
                        continue;
                    }
                    if (!is_field_vchar(*q) && !is_space(*q)) {
                        break;
                    }
                    p_.state = State::field_value;
                    if (!field_value_byte(*q)) {
                        j += static_cast<std::size_t>(q - p) + 1;
                        return false;
                    }
                }
            }
            j += static_cast<std::size_t>(q - p);
            // Only CRLF is taken here; a bare LF, a refused byte and a cut CRLF go to step().
            if (stop - q < 2 || q[0] != CR || q[1] != LF) {
                return true;
            }
            if (!end_field_value()) {
                j += 1;
                return false;
            }
            p_.state = State::field_start;
            j += 2;
            break;
        }
        default:
            return true;
        }
    }
}

bool Parser::step(std::uint8_t c) {
    switch (p_.state) {
    case State::line_start:
        // Empty lines before a request line are ignored (RFC 9112 section 2.2).
        if (c == CR || c == LF) {
            return true;
        }
        if (!is_tchar(c)) {
            return error(400);
        }
        p_.matcher.reset(methods.size());
        p_.matcher.feed(methods, c);
        p_.state = State::method;
        return true;
    case State::method:
        if (is_tchar(c)) {
            p_.matcher.feed(methods, c);
            return true;
        }
        if (c != SP) {
            return error(400);
        }
        {
            const int m = p_.matcher.match(methods);
            p_.request.method = m < 0 ? Method::other : static_cast<Method>(m);
        }
        p_.state = State::target_start;
        return true;
    case State::target_start:
    case State::target_asterisk:
    case State::target_scheme:
    case State::target_slash1:
    case State::target_slash2:
    case State::target_authority:
    case State::path:
    case State::path_pct1:
    case State::path_pct2:
    case State::query:
        return step_target(c);
    case State::version:
        if (c != static_cast<std::uint8_t>("HTTP/"[p_.version_pos])) {
            return error(400);
        }
        if (++p_.version_pos == 5) {
            p_.state = State::version_major;
        }
        return true;
    case State::version_major:
        if (!is_digit(c)) {
            return error(400);
        }
        p_.version_major = static_cast<std::uint8_t>(c - '0');
        p_.state = State::version_dot;
        return true;
    case State::version_dot:
        if (c != '.') {
            return error(400);
        }
        p_.state = State::version_minor;
        return true;
    case State::version_minor:
        if (!is_digit(c)) {
            return error(400);
        }
        if (p_.version_major != 1) {
            return error(505);
        }
        p_.request.version = c == '0' ? Version::http10 : Version::http11;
        p_.state = State::request_line_cr;
        return true;
    case State::request_line_cr:
        if (c == LF) {
            p_.state = State::field_start;
            return true;
        }
        if (c != CR) {
            return error(400);
        }
        p_.state = State::request_line_lf;
        return true;
    case State::request_line_lf:
        if (c != LF) {
            return error(400);
        }
        p_.state = State::field_start;
        return true;
    case State::field_start:
    case State::field_name:
    case State::field_value_ows:
    case State::field_value:
    case State::field_lf:
    case State::head_end_lf:
        return step_field(c);
    case State::chunk_size:
    case State::chunk_ext_bws:
    case State::chunk_ext_name_start:
    case State::chunk_ext_name:
    case State::chunk_ext_name_bws:
    case State::chunk_ext_value_start:
    case State::chunk_ext_token:
    case State::chunk_ext_quoted:
    case State::chunk_ext_quoted_pair:
    case State::chunk_ext_quoted_end:
    case State::chunk_size_lf:
    case State::chunk_data_cr:
    case State::chunk_data_lf:
        return step_chunk(c);
    case State::body_fixed:
    case State::chunk_data:
    case State::done:
    case State::failed:
        break;
    }
    assert(false && "feed handles the body, done and failed states itself");
    return error(400);
}

bool Parser::step_target(std::uint8_t c) {
    switch (p_.state) {
    case State::target_start:
        if (c == '/') {
            path_byte(c);
            p_.state = State::path;
        } else if (c == '*') {
            p_.route_hi = p_.route_lo;
            p_.state = State::target_asterisk;
        } else if (is_alpha(c)) {
            p_.state = State::target_scheme;
        } else {
            return error(400);
        }
        return true;
    case State::target_asterisk:
        if (c != SP) {
            return error(400);
        }
        end_target();
        return true;
    case State::target_scheme:
        if (c == ':') {
            p_.state = State::target_slash1;
        } else if (!is_alpha(c) && !is_digit(c) && c != '+' && c != '-' && c != '.') {
            return error(400);
        }
        return true;
    case State::target_slash1:
    case State::target_slash2:
        if (c != '/') {
            return error(400);
        }
        p_.state = p_.state == State::target_slash1 ? State::target_slash2 : State::target_authority;
        return true;
    case State::target_authority:
        if (c != '/' && c != '?' && c != '#' && c != SP) {
            return host_byte(c);
        }
        // The authority is a host as in the Host field: no userinfo, never empty (RFC 9110
        // section 4.2).
        if (p_.host == HostState::start || !host_end()) {
            return error(400);
        }
        // An absolute-form target without a path means "/" (RFC 9112 section 3.2.2).
        if (c == '/') {
            path_byte(c);
            p_.state = State::path;
        } else if (c == SP) {
            path_byte('/');
            end_target();
        } else {
            path_byte('/');
            p_.state = State::query;
        }
        return true;
    case State::path:
        if (c == '%') {
            p_.state = State::path_pct1;
        } else if (c == '?' || c == '#') {
            p_.state = State::query;
        } else if (c == SP) {
            end_target();
        } else if (is_vchar(c)) {
            path_byte(c);
        } else {
            return error(400);
        }
        return true;
    case State::path_pct1:
    case State::path_pct2: {
        const int v = hex_value(c);
        if (v < 0) {
            return error(400);
        }
        if (p_.state == State::path_pct1) {
            p_.pct_high = static_cast<std::uint8_t>(v);
            p_.state = State::path_pct2;
        } else {
            path_byte(static_cast<std::uint8_t>(p_.pct_high * 16 + v));
            p_.state = State::path;
        }
        return true;
    }
    case State::query:
        if (c == SP) {
            end_target();
        } else if (!is_vchar(c)) {
            return error(400);
        }
        return true;
    default:
        break;
    }
    assert(false && "step_target called outside the request target");
    return error(400);
}

// Narrows [route_lo, route_hi) to the routes whose byte at path_len is c. The routes are sorted
// and share their first path_len bytes, so those ending there come first and the rest are
// ordered by that byte: two binary searches find the new range.
void Parser::path_byte(std::uint8_t c) {
    if (capture_ != nullptr && p_.path_kept <= max_path_) {
        if (p_.path_kept < max_path_) {
            capture_[p_.path_kept] = static_cast<char>(c);
        }
        ++p_.path_kept;
    }
    if (p_.route_lo == p_.route_hi) {
        return;
    }
    const std::uint32_t d = p_.path_len++;
    auto key = [d](std::string_view route) {
        return route.size() > d ? static_cast<int>(static_cast<std::uint8_t>(route[d])) : -1;
    };
    const auto first = routes_.begin() + p_.route_lo;
    const auto last = routes_.begin() + p_.route_hi;
    const auto lo = std::partition_point(first, last, [&](std::string_view r) { return key(r) < c; });
    const auto hi = std::partition_point(lo, last, [&](std::string_view r) { return key(r) == c; });
    p_.route_lo = static_cast<std::uint32_t>(lo - routes_.begin());
    p_.route_hi = static_cast<std::uint32_t>(hi - routes_.begin());
    // A route ending here sorts first; the longest prefix route seen wins.
    if (!prefixes_.empty() && p_.route_lo < p_.route_hi && routes_[p_.route_lo].size() == p_.path_len &&
        prefixes_[p_.route_lo]) {
        p_.prefix_route = static_cast<std::int32_t>(p_.route_lo);
        p_.prefix_len = p_.path_len;
    }
}

// A route whose whole path is the request's wins over a prefix route.
void Parser::end_target() {
    if (p_.route_lo < p_.route_hi && routes_[p_.route_lo].size() == p_.path_len) {
        p_.request.route = static_cast<int>(p_.route_lo);
    } else if (p_.prefix_route >= 0) {
        p_.request.route = p_.prefix_route;
    }
    p_.request.prefix_length = p_.prefix_len;
    p_.state = State::version;
}

bool Parser::step_field(std::uint8_t c) {
    switch (p_.state) {
    case State::field_start:
        if (c == CR) {
            p_.state = State::head_end_lf;
            return true;
        }
        if (c == LF) {
            return p_.in_trailer ? error(400) : end_head();
        }
        // Leading whitespace would be an obsolete line folding (RFC 9112 section 5.2): refused.
        if (!is_tchar(c)) {
            return error(400);
        }
        if (++p_.field_count > limits_->max_headers) {
            return error(431);
        }
        p_.matcher.reset(p_.in_trailer ? 0 : field_names.size());
        p_.matcher.feed(field_names, lower(c));
        p_.state = State::field_name;
        return true;
    case State::field_name:
        if (is_tchar(c)) {
            p_.matcher.feed(field_names, lower(c));
            return true;
        }
        // Whitespace before the colon is refused (RFC 9112 section 5.1).
        if (c != ':') {
            return error(400);
        }
        p_.field = classify(p_.matcher.match(field_names));
        begin_field_value();
        p_.state = State::field_value_ows;
        return true;
    case State::field_value_ows:
    case State::field_value:
        if (c == CR || c == LF) {
            if (c == LF && p_.in_trailer) {
                return error(400);
            }
            if (!end_field_value()) {
                return false;
            }
            p_.state = c == CR ? State::field_lf : State::field_start;
            return true;
        }
        if (p_.state == State::field_value_ows && is_space(c)) {
            return true;
        }
        if (!is_field_vchar(c) && !is_space(c)) {
            return error(400);
        }
        p_.state = State::field_value;
        return field_value_byte(c);
    case State::field_lf:
        if (c != LF) {
            return error(400);
        }
        p_.state = State::field_start;
        return true;
    case State::head_end_lf:
        if (c != LF) {
            return error(400);
        }
        return end_head();
    default:
        break;
    }
    assert(false && "step_field called outside the field section");
    return error(400);
}

std::span<const std::string_view> Parser::list_literals(Field field) {
    switch (field) {
    case Field::connection:
        return connection_options;
    case Field::transfer_encoding:
        return transfer_codings;
    case Field::expect:
        return expectations;
    default:
        break;
    }
    return {};
}

void Parser::begin_field_value() {
    switch (p_.field) {
    case Field::if_none_match:
    case Field::if_modified_since:
    case Field::range:
    case Field::if_range: {
        // A repeated field continues the list: ", " and the next value.
        std::uint32_t& n = p_.captured[static_cast<int>(p_.field)];
        if (n == none) {
            n = 0;
        } else if (n != dropped) {
            capture_byte(',');
            capture_byte(' ');
        }
        break;
    }
    case Field::connection:
    case Field::expect:
    case Field::transfer_encoding:
        p_.te_seen = p_.te_seen || p_.field == Field::transfer_encoding;
        p_.element_started = false;
        p_.element_gap = false;
        p_.matcher.reset(list_literals(p_.field).size());
        break;
    case Field::content_length:
        p_.cl_value = 0;
        p_.cl_digits = false;
        p_.cl_space = false;
        break;
    case Field::host:
        p_.host_count = static_cast<std::uint8_t>(std::min(p_.host_count + 1, 2));
        p_.host = HostState::start;
        break;
    case Field::other:
        break;
    }
}

void Parser::capture_byte(std::uint8_t c) {
    std::uint32_t& n = p_.captured[static_cast<int>(p_.field)];
    if (n == dropped) {
        return;
    }
    if (n == captured_capacity[static_cast<int>(p_.field)]) {
        n = dropped;
        return;
    }
    field_buffer(p_.field)[n++] = static_cast<char>(c);
}

bool Parser::field_value_byte(std::uint8_t c) {
    switch (p_.field) {
    case Field::if_none_match:
    case Field::if_modified_since:
    case Field::range:
    case Field::if_range:
        capture_byte(c);
        return true;
    case Field::content_length:
        if (is_space(c)) {
            p_.cl_space = true;
            return true;
        }
        if (!is_digit(c) || p_.cl_space) {
            return error(400);
        }
        p_.cl_digits = true;
        // Saturating keeps the value far from overflow while still telling "too large" apart.
        p_.cl_value = std::min(p_.cl_value * 10 + (c - '0'), limits_->max_body + 1);
        return true;
    case Field::connection:
    case Field::expect:
    case Field::transfer_encoding: {
        const auto literals = list_literals(p_.field);
        if (c == ',') {
            end_element();
        } else if (is_space(c)) {
            p_.element_gap = p_.element_started;
        } else {
            if (p_.element_gap) {
                // Inner whitespace: no literal holds a space, so this element matches none.
                p_.matcher.feed(literals, SP);
                p_.element_gap = false;
            }
            p_.element_started = true;
            p_.matcher.feed(literals, lower(c));
        }
        return true;
    }
    case Field::host:
        return host_byte(c);
    case Field::other:
        return true;
    }
    return true;
}

// Host = uri-host [ ":" port ] (RFC 9110 section 7.2), uri-host being an IP-literal in brackets
// or a reg-name (RFC 3986 section 3.2.2); an IPv4 address is a reg-name as far as its bytes go.
// Only whitespace may follow the value, which field_value_ows already stripped in front.
bool Parser::host_byte(std::uint8_t c) {
    switch (p_.host) {
    case HostState::start:
    case HostState::reg_name:
        if (c == '[' && p_.host == HostState::start) {
            p_.host = HostState::ip_literal_start;
        } else if (is_reg_name(c)) {
            p_.host = HostState::reg_name;
        } else if (c == '%') {
            p_.host = HostState::pct1;
        } else if (c == ':' && p_.host == HostState::reg_name) {
            p_.host = HostState::port;
        } else if (is_space(c) && p_.host == HostState::reg_name) {
            p_.host = HostState::trailing_space;
        } else {
            return error(400);
        }
        return true;
    case HostState::pct1:
    case HostState::pct2:
        if (hex_value(c) < 0) {
            return error(400);
        }
        p_.host = p_.host == HostState::pct1 ? HostState::pct2 : HostState::reg_name;
        return true;
    case HostState::ip_literal_start:
    case HostState::ip_literal:
        // IPv6 addresses and IPvFuture use no other bytes; their finer grammar is not checked.
        if (c == ']' && p_.host == HostState::ip_literal) {
            p_.host = HostState::ip_literal_end;
        } else if (is_reg_name(c) || c == ':') {
            p_.host = HostState::ip_literal;
        } else {
            return error(400);
        }
        return true;
    case HostState::ip_literal_end:
    case HostState::port:
        if (c == ':' && p_.host == HostState::ip_literal_end) {
            p_.host = HostState::port;
        } else if (is_space(c)) {
            p_.host = HostState::trailing_space;
        } else if (!is_digit(c) || p_.host != HostState::port) {
            return error(400);
        }
        return true;
    case HostState::trailing_space:
        if (!is_space(c)) {
            return error(400);
        }
        return true;
    }
    return error(400);
}

// The common shape of a Host value, a reg-name and a port, taken as runs instead of through
// host_byte(), with the same transitions; the rest of the value is left to host_byte().
const std::uint8_t* Parser::host_run(const std::uint8_t* q, const std::uint8_t* stop) {
    if (p_.state == State::field_value_ows) {
        while (q < stop && is_space(*q)) {
            ++q;
        }
    }
    if (q < stop && (p_.host == HostState::start || p_.host == HostState::reg_name) && is_reg_name(*q)) {
        p_.state = State::field_value;
        p_.host = HostState::reg_name;
        while (q < stop && is_reg_name(*q)) {
            ++q;
        }
    }
    if (q < stop && *q == ':' && p_.host == HostState::reg_name) {
        p_.host = HostState::port;
        ++q;
    }
    if (p_.host == HostState::port) {
        while (q < stop && is_digit(*q)) {
            ++q;
        }
    }
    return q;
}

// An empty Host is allowed (RFC 9110 section 7.2); half a percent-encoding or IP-literal is not.
bool Parser::host_end() const {
    switch (p_.host) {
    case HostState::pct1:
    case HostState::pct2:
    case HostState::ip_literal_start:
    case HostState::ip_literal:
        return false;
    default:
        return true;
    }
}

bool Parser::end_field_value() {
    switch (p_.field) {
    case Field::content_length:
        if (!p_.cl_digits) {
            return error(400);
        }
        // Repeated fields must agree (RFC 9112 section 6.3).
        if (p_.cl_seen && p_.cl_value != p_.content_length) {
            return error(400);
        }
        p_.cl_seen = true;
        p_.content_length = p_.cl_value;
        return true;
    case Field::connection:
    case Field::expect:
    case Field::transfer_encoding:
        end_element();
        return true;
    case Field::host:
        return host_end() || error(400);
    default:
        return true;
    }
    return true;
}

void Parser::end_element() {
    const auto literals = list_literals(p_.field);
    if (p_.element_started) {
        const int m = p_.matcher.match(literals);
        switch (p_.field) {
        case Field::connection:
            p_.close = p_.close || m == 0;
            p_.keep_alive = p_.keep_alive || m == 1;
            break;
        case Field::expect:
            p_.expect_continue = p_.expect_continue || m == 0;
            p_.expect_other = p_.expect_other || m != 0;
            break;
        case Field::transfer_encoding:
            if (m == 0) {
                p_.chunked_twice = p_.chunked_twice || p_.chunked_seen;
                p_.chunked_seen = true;
                p_.chunked_last = true;
            } else {
                p_.te_other = true;
                p_.chunked_last = false;
            }
            break;
        default:
            break;
        }
    }
    p_.element_started = false;
    p_.element_gap = false;
    p_.matcher.reset(literals.size());
}

bool Parser::end_head() {
    if (p_.in_trailer) {
        p_.state = State::done;
        return true;
    }
    Request& r = p_.request;
    const bool http11 = r.version == Version::http11;
    if (p_.te_seen) {
        // Both framings at once is the signature of request smuggling; HTTP/1.0 has no
        // chunked coding at all (RFC 9112 section 6.1 and 6.3).
        if (p_.cl_seen || !http11 || p_.chunked_twice || (p_.chunked_seen && !p_.chunked_last)) {
            return error(400);
        }
        if (p_.te_other) {
            return error(501);
        }
        if (!p_.chunked_last) {
            return error(400);
        }
    }
    if (p_.host_count > 1 || (http11 && p_.host_count == 0)) {
        return error(400);
    }
    // HTTP/1.0 clients cannot have meant an expectation (RFC 9110 section 10.1.1).
    if (http11 && p_.expect_other) {
        return error(417);
    }
    if (p_.cl_seen && p_.content_length > limits_->max_body) {
        return error(413);
    }
    r.keep_alive = !p_.close && (http11 || p_.keep_alive);
    r.has_body = p_.chunked_last || p_.content_length > 0;
    r.expect_continue = http11 && p_.expect_continue && r.has_body;
    if (p_.chunked_last) {
        p_.state = State::chunk_size;
        p_.head_ready = true;
    } else if (p_.content_length > 0) {
        p_.remaining = p_.content_length;
        p_.state = State::body_fixed;
        p_.head_ready = true;
    } else {
        p_.state = State::done;
    }
    return true;
}

bool Parser::step_chunk(std::uint8_t c) {
    if (p_.state <= State::chunk_size_lf) {
        // A chunk-size line is metadata like a header line and gets the same bound.
        if (++p_.chunk_line_bytes > limits_->max_header_bytes) {
            return error(400);
        }
    }
    switch (p_.state) {
    case State::chunk_size: {
        const int v = hex_value(c);
        if (v >= 0) {
            p_.chunk_digits = true;
            p_.remaining = p_.remaining * 16 + static_cast<std::uint64_t>(v);
            if (p_.remaining > limits_->max_body - p_.body_total) {
                return error(413);
            }
            return true;
        }
        if (!p_.chunk_digits) {
            return error(400);
        }
        if (c == CR) {
            p_.state = State::chunk_size_lf;
            return true;
        }
        p_.state = State::chunk_ext_bws;
        return step_chunk_ext(c);
    }
    case State::chunk_size_lf:
        if (c != LF) {
            return error(400);
        }
        end_chunk_size_line();
        return true;
    case State::chunk_data_cr:
        if (c != CR) {
            return error(400);
        }
        p_.state = State::chunk_data_lf;
        return true;
    case State::chunk_data_lf:
        if (c != LF) {
            return error(400);
        }
        p_.state = State::chunk_size;
        return true;
    default:
        return step_chunk_ext(c);
    }
}

// chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ), the value a token or
// a quoted-string (RFC 9112 section 7.1.1). Extensions are checked and skipped unread.
bool Parser::step_chunk_ext(std::uint8_t c) {
    switch (p_.state) {
    case State::chunk_ext_bws:
        if (c == ';') {
            p_.state = State::chunk_ext_name_start;
        } else if (!is_space(c)) {
            return error(400);
        }
        return true;
    case State::chunk_ext_name_start:
        if (is_tchar(c)) {
            p_.state = State::chunk_ext_name;
        } else if (!is_space(c)) {
            return error(400);
        }
        return true;
    case State::chunk_ext_name:
    case State::chunk_ext_name_bws:
        if (is_tchar(c) && p_.state == State::chunk_ext_name) {
            return true;
        }
        if (c == CR && p_.state == State::chunk_ext_name) {
            p_.state = State::chunk_size_lf;
        } else if (c == ';') {
            p_.state = State::chunk_ext_name_start;
        } else if (c == '=') {
            p_.state = State::chunk_ext_value_start;
        } else if (is_space(c)) {
            p_.state = State::chunk_ext_name_bws;
        } else {
            return error(400);
        }
        return true;
    case State::chunk_ext_value_start:
        if (is_tchar(c)) {
            p_.state = State::chunk_ext_token;
        } else if (c == '"') {
            p_.state = State::chunk_ext_quoted;
        } else if (!is_space(c)) {
            return error(400);
        }
        return true;
    case State::chunk_ext_token:
    case State::chunk_ext_quoted_end:
        if (is_tchar(c) && p_.state == State::chunk_ext_token) {
            return true;
        }
        if (c == CR) {
            p_.state = State::chunk_size_lf;
        } else if (c == ';') {
            p_.state = State::chunk_ext_name_start;
        } else if (is_space(c)) {
            p_.state = State::chunk_ext_bws;
        } else {
            return error(400);
        }
        return true;
    case State::chunk_ext_quoted:
        if (c == '"') {
            p_.state = State::chunk_ext_quoted_end;
        } else if (c == '\\') {
            p_.state = State::chunk_ext_quoted_pair;
        } else if (!is_qdtext(c)) {
            return error(400);
        }
        return true;
    case State::chunk_ext_quoted_pair:
        if (!is_field_vchar(c) && !is_space(c)) {
            return error(400);
        }
        p_.state = State::chunk_ext_quoted;
        return true;
    default:
        break;
    }
    assert(false && "step_chunk_ext called outside a chunk-size line");
    return error(400);
}

void Parser::end_chunk_size_line() {
    p_.body_total += p_.remaining;
    p_.chunk_line_bytes = 0;
    p_.chunk_digits = false;
    if (p_.remaining == 0) {
        p_.in_trailer = true;
        p_.state = State::field_start;
    } else {
        p_.state = State::chunk_data;
    }
}

} // namespace gatio::http
