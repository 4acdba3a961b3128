// What serving a file from a `root` route decides, as pure functions: where the request path
// leads below the root, the file's validators (ETag and Last-Modified) and the answer its
// conditional and Range header fields call for. The plugin learns the file's size and
// modification time through the host's file services and sends what these decide.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <optional>
#include <span>
#include <string_view>

namespace gatio::http {

enum class PathStatus : std::uint8_t {
    ok,
    bad,       // a NUL byte: 400
    forbidden, // a ".." segment, raw or percent-encoded: 403
    too_long   // the result does not fit the buffer: 414
};

struct RelativePath {
    PathStatus status = PathStatus::ok;
    std::size_t length = 0; // bytes written to the buffer, no leading '/'; 0 is the root itself
    bool directory = false; // the path named a folder (it ended in '/' or was empty)
};

// Turns the percent-decoded path below a route's prefix into a path relative to the root:
// empty and "." segments are dropped, and a ".." segment is refused rather than resolved, so a
// request can never name anything above the root by its path (symlinks are the file open's
// concern: it resolves beneath the root).
RelativePath relative_path(std::string_view decoded, std::span<char> out);

// A decoded path written back as a URL path for a Location field: bytes other than unreserved
// ones, sub-delims, ':', '@' and '/' become %XX. Returns the length, 0 when out is too small.
std::size_t encode_path(std::string_view decoded, std::span<char> out);

// A strong entity tag from the file's size and modification time in nanoseconds, quoted:
// "<mtime hex>-<size hex>"; a change of either changes it.
inline constexpr std::size_t etag_capacity = 35;
std::size_t format_etag(std::uint64_t size, std::int64_t mtime_ns, std::span<char, etag_capacity> out);

// An HTTP-date in any of the three forms recipients must accept (RFC 9110 section 5.6.7):
// IMF-fixdate, the obsolete RFC 850 form and asctime's; nullopt when it is none of them.
std::optional<std::time_t> parse_http_date(std::string_view text);

// If-None-Match against the file's tag by weak comparison (RFC 9110 section 13.1.2): "*" or a
// list of entity tags. True when one matches, so a GET or HEAD is answered 304.
bool none_match(std::string_view field, std::string_view etag);

// If-Range (RFC 9110 section 13.1.5): the Range applies only when the field is the file's tag
// by strong comparison or exactly its Last-Modified date.
bool if_range_holds(std::string_view field, std::string_view etag, std::time_t last_modified);

struct ByteRange {
    std::uint64_t first = 0;
    std::uint64_t length = 0;
};

enum class RangeKind : std::uint8_t {
    whole,        // no usable Range: absent, another unit, malformed or several ranges
    partial,      // one satisfiable range: 206
    unsatisfiable // one range that starts at or past the end: 416
};

struct RangeResult {
    RangeKind kind = RangeKind::whole;
    ByteRange range;
};

// A Range field against a file of `size` bytes: `bytes=first-last`, `bytes=first-` or
// `bytes=-suffix` (RFC 9110 section 14.1.2), clamped to the file. A list of several ranges is
// answered whole, as the RFC permits, instead of as multipart/byteranges.
RangeResult parse_range(std::string_view field, std::uint64_t size);

// The request's conditional and Range fields; absent ones are nullopt.
struct Conditions {
    std::optional<std::string_view> if_none_match;
    std::optional<std::string_view> if_modified_since;
    std::optional<std::string_view> range;
    std::optional<std::string_view> if_range;
};

struct FileFacts {
    std::uint64_t size = 0;
    std::time_t last_modified = 0; // whole seconds
    std::string_view etag;
};

struct FileAnswer {
    int status = 200; // 200, 206, 304 or 416
    ByteRange range;  // the bytes to send for 200 and 206
};

// The answer to a GET or HEAD of the file, in the order of RFC 9110 section 13.2.2:
// If-None-Match (else If-Modified-Since) for 304, then If-Range and Range for 206 or 416.
FileAnswer decide(const FileFacts& file, const Conditions& conditions);

} // namespace gatio::http
