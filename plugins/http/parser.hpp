// An incremental HTTP/1.x request parser that never allocates and never buffers.
//
// The parser is a state machine fed with whatever bytes arrived; a request may be split across
// any number of receives, down to one byte each. Nothing of the request is copied: the method,
// the header names and the few header values that matter (Connection, Content-Length,
// Transfer-Encoding, Host, Expect) are matched against fixed literals as their bytes go by, and
// the path is matched against the sorted route table by narrowing a range of candidates one
// byte at a time. The body is framed (Content-Length or chunked) and skipped. Only a caller
// that lends a capture buffer (capture_into) gets bytes kept: the decoded path and the values of
// If-None-Match, If-Modified-Since, Range and If-Range, each bounded, for routes that serve files.
//
// Where a token, a field value or a line end of the head lies whole in the bytes received, the
// parser takes it in one stride (names compared by length and memcmp, values checked eight bytes
// at a time) instead of one state-machine step per byte; what is cut by the end of the bytes is
// read step by step, with the same outcome, so where a request is split changes nothing.
//
// feed() stops after each event so the caller can answer in request order:
//   head      the head is complete and a body follows (for "Expect: 100-continue")
//   complete  the whole request, body included, has been read; the next feed starts the next one
//   error     the request is unusable; error_status() says which answer to send before closing.
// An error is final: later feeds consume nothing and report it again.
//
// Framing that two parsers on one path could read differently is how requests are smuggled,
// so the body's framing is strict: chunk-size lines, chunk data ends and trailer fields end in
// CRLF, and a chunk-size line holds the size and well-formed extensions only. The request line
// and header fields also accept a bare LF (RFC 9112 section 2.2): a front end that does not end
// lines there sees an LF inside a field value, which it must refuse (RFC 9110 section 5.5), so
// no request hides behind it. Host values and absolute-form authorities must be
// uri-host [":" port]. docs/plugins.md lists what is refused.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace gatio::http {

struct Limits {
    std::uint32_t max_header_bytes = 8192; // request line + header section, and each chunk-size line
    std::uint32_t max_headers = 100;       // header fields, trailer fields included
    std::uint64_t max_body = 1u << 20;     // bytes of body, before or after chunked decoding
};

// The upper bound on Limits::max_body: keeps chunk-size and Content-Length arithmetic far from
// overflow without per-digit checks against the type's range.
inline constexpr std::uint64_t max_body_ceiling = std::uint64_t{1} << 50;

enum class Method : std::uint8_t { get, head, post, put, del, options, patch, trace, connect, other };

enum class Version : std::uint8_t { http10, http11 };

// A match against a small set of literals (at most 16, each under 256 bytes) as the bytes of a
// token arrive, without keeping the token.
class LiteralMatcher {
public:
    void reset(std::size_t count) {
        mask_ = static_cast<std::uint16_t>((1u << count) - 1);
        len_ = 0;
    }
    void feed(std::span<const std::string_view> literals, std::uint8_t c);
    // The index of the literal equal to the whole token fed since reset, or -1.
    int match(std::span<const std::string_view> literals) const;

private:
    std::uint16_t mask_ = 0;
    std::uint8_t len_ = 0;
};

// The routes' paths in strictly increasing byte order; the parser reports an index into it.
using RoutePaths = std::span<const std::string_view>;
// One flag per route, true for a prefix route (a path ending in '/' that also matches every
// path it begins); empty when no route is one.
using RoutePrefixes = std::span<const bool>;

// The request fields a prefix route is answered from, kept in a buffer the caller lends.
enum class Captured : std::uint8_t { if_none_match, if_modified_since, range, if_range, count };

// Room for each captured field's value; a longer value (repeats joined by ", ") is dropped,
// which the file answer treats as the field being absent or not matching.
inline constexpr std::uint32_t captured_capacity[static_cast<int>(Captured::count)] = {512, 64, 128, 64};
inline constexpr std::uint32_t captured_fields_bytes =
    captured_capacity[0] + captured_capacity[1] + captured_capacity[2] + captured_capacity[3];

struct Request {
    Method method = Method::other;
    Version version = Version::http11;
    bool keep_alive = true;
    bool expect_continue = false; // an HTTP/1.1 client waits for "100 Continue" before the body
    bool has_body = false;
    // Index into RoutePaths: the route whose path is exactly this one, else the longest prefix
    // route it begins with, else -1.
    int route = -1;
    // For a prefix route: where its path ends in the percent-decoded path (see Parser::path).
    std::uint32_t prefix_length = 0;
};

class Parser {
public:
    enum class Event : std::uint8_t { need_more, head, complete, error };
    struct Result {
        std::size_t consumed;
        Event event;
    };

    // Both arguments must outlive the parser; routes must be sorted and free of duplicates.
    Parser(const Limits& limits, RoutePaths routes, RoutePrefixes prefixes = {})
        : limits_(&limits), routes_(routes), prefixes_(prefixes) {
        start();
    }

    // Lends the parser `max_path + captured_fields_bytes` bytes, which it fills with each
    // request's percent-decoded path (its first max_path bytes) and captured fields; they are
    // read with path() and field() after Event::complete. Without it nothing is kept.
    void capture_into(char* buffer, std::uint32_t max_path) {
        capture_ = buffer;
        max_path_ = max_path;
    }
    // The percent-decoded path, query left out; nullopt when it was over max_path or nothing
    // is captured.
    std::optional<std::string_view> path() const;
    // A captured field's value without surrounding whitespace; nullopt when the request had
    // none, its value was over the field's room, or nothing is captured.
    std::optional<std::string_view> field(Captured which) const;

    Result feed(std::span<const std::uint8_t> data);

    // Where the request in progress stands, for deadlines: idle before its first byte (also after
    // complete and after error), head until the head is complete, body until the whole body,
    // trailer fields included, is read.
    enum class Phase : std::uint8_t { idle, head, body };
    Phase phase() const;
    // Requests completed so far: tells a new request from the one seen at the previous feed when
    // the phase is the same.
    std::uint32_t completed() const { return completed_; }

    // The request whose head was parsed; valid after head and complete, until the next feed.
    const Request& request() const { return p_.request; }
    // The status to answer with after Event::error: 400, 413, 417, 431, 501 or 505.
    int error_status() const { return p_.error; }

private:
    enum class State : std::uint8_t {
        line_start,
        method,
        target_start,
        target_asterisk,
        target_scheme,
        target_slash1,
        target_slash2,
        target_authority,
        path,
        path_pct1,
        path_pct2,
        query,
        version,
        version_major,
        version_dot,
        version_minor,
        request_line_cr,
        request_line_lf,
        field_start,
        field_name,
        field_value_ows,
        field_value,
        field_lf,
        head_end_lf,
        // Every state above counts its bytes against max_header_bytes, trailers included.
        body_fixed,
        chunk_size,
        chunk_ext_bws,        // whitespace after the size or a value, before ';'
        chunk_ext_name_start, // after ';'
        chunk_ext_name,
        chunk_ext_name_bws,    // whitespace after a name, before '=' or ';'
        chunk_ext_value_start, // after '='
        chunk_ext_token,
        chunk_ext_quoted,
        chunk_ext_quoted_pair,
        chunk_ext_quoted_end,
        chunk_size_lf,
        chunk_data,
        chunk_data_cr,
        chunk_data_lf,
        done,
        failed
    };
    // Where a Host value or an absolute-form authority (uri-host [":" port]) stands.
    enum class HostState : std::uint8_t {
        start,
        reg_name,
        pct1,
        pct2,
        ip_literal_start,
        ip_literal,
        ip_literal_end,
        port,
        trailing_space
    };
    // The header fields whose values the parser interprets.
    // The first four are kept (Captured), the next five interpreted.
    enum class Field : std::uint8_t {
        if_none_match,
        if_modified_since,
        range,
        if_range,
        connection,
        content_length,
        transfer_encoding,
        host,
        expect,
        other
    };

    // Everything that starts afresh with each request.
    struct Progress {
        Request request;
        State state = State::line_start;
        Field field = Field::other;
        bool head_ready = false;      // end of head reached with a body to follow
        bool in_trailer = false;      // the field states are reading a chunked trailer section
        bool element_started = false; // the current list element has a non-space byte
        bool element_gap = false;     // ... followed by whitespace
        bool close = false;           // Connection: close
        bool keep_alive = false;      // Connection: keep-alive
        bool expect_continue = false; // Expect: 100-continue
        bool expect_other = false;    // any other expectation
        bool te_seen = false;         // a Transfer-Encoding field
        bool chunked_seen = false;    // ... naming chunked
        bool chunked_last = false;    // ... as the last coding so far
        bool chunked_twice = false;
        bool te_other = false;        // ... naming a coding other than chunked
        bool cl_seen = false;         // a Content-Length field
        bool cl_digits = false;       // the current Content-Length value has a digit
        bool cl_space = false;        // ... followed by whitespace
        bool chunk_digits = false;    // the current chunk-size line has a digit
        std::uint8_t version_pos = 0; // bytes of "HTTP/" matched
        std::uint8_t version_major = 0;
        std::uint8_t pct_high = 0;
        std::uint8_t host_count = 0; // saturates at 2
        HostState host = HostState::start;
        int error = 0;
        std::uint32_t head_bytes = 0;
        std::uint32_t field_count = 0;
        std::uint32_t chunk_line_bytes = 0;
        std::uint32_t route_lo = 0; // routes [route_lo, route_hi) start with the path seen so far
        std::uint32_t route_hi = 0;
        std::uint32_t path_len = 0;
        std::int32_t prefix_route = -1; // the longest prefix route the path begins with so far
        std::uint32_t prefix_len = 0;
        std::uint32_t path_kept = 0; // decoded path bytes captured; max_path + 1 once over
        // Bytes kept of each captured field, or none/dropped.
        std::uint32_t captured[static_cast<int>(Captured::count)] = {none, none, none, none};
        std::uint64_t cl_value = 0; // the current Content-Length value, saturated at max_body + 1
        std::uint64_t content_length = 0;
        std::uint64_t remaining = 0;  // body or chunk bytes still to skip
        std::uint64_t body_total = 0; // chunk bytes announced so far
        LiteralMatcher matcher;       // the token in progress: method, field name or list element
    };

    static constexpr std::uint32_t none = UINT32_MAX;        // the field did not appear
    static constexpr std::uint32_t dropped = UINT32_MAX - 1; // ... or was over its room
    static bool is_captured(Field f) { return f < Field::connection; }
    Field classify(int f) const;
    char* field_buffer(Field f) const;
    static std::span<const std::string_view> list_literals(Field field);
    void start();
    Result fail(std::size_t consumed, int status);
    bool scan_head(const std::uint8_t* data, std::size_t& j, std::size_t end);
    bool step(std::uint8_t c);
    bool step_target(std::uint8_t c);
    bool step_field(std::uint8_t c);
    bool step_chunk(std::uint8_t c);
    bool step_chunk_ext(std::uint8_t c);
    bool host_byte(std::uint8_t c);
    bool host_end() const;
    const std::uint8_t* host_run(const std::uint8_t* q, const std::uint8_t* stop);
    void path_byte(std::uint8_t c);
    void end_target();
    void begin_field_value();
    void capture_byte(std::uint8_t c);
    bool field_value_byte(std::uint8_t c);
    bool end_field_value();
    void end_element();
    bool end_head();
    void end_chunk_size_line();
    Result complete(std::size_t consumed);
    bool error(int status) {
        p_.error = status;
        return false;
    }

    const Limits* limits_;
    RoutePaths routes_;
    RoutePrefixes prefixes_;
    char* capture_ = nullptr;
    std::uint32_t max_path_ = 0;
    Progress p_;
    std::uint32_t completed_ = 0;
};

} // namespace gatio::http
