// An incremental parser for client requests in the Redis serialization protocol (RESP2): the
// multibulk form (`*<n>\r\n$<len>\r\n<bytes>\r\n...`) and the inline form (one line of
// space-separated, optionally quoted words). It never allocates per request once its buffers
// have grown to the largest request seen (release_large() gives back what one large request
// grew), and never examines a byte twice across calls.
//
// It follows redis-server's reading rules where they are observable by a client, so that the
// same bytes produce the same commands and the same protocol errors, with two differences: the
// multibulk count limit is our own (max_multibulk) instead of INT_MAX, and a line (inline
// request, `*` or `$` header) whose end lies past max_inline bytes is always refused, where
// redis-server's verdict depends on how much of it had arrived at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace gatio::resp {

struct ParserLimits {
    std::uint64_t max_bulk_len = 512ull << 20; // one argument's length (proto-max-bulk-len)
    std::uint64_t max_multibulk = 1u << 20;    // arguments in one multibulk request
    std::size_t max_inline = 64u << 10;        // an inline line, and a `*`/`$` header line
};

enum class ProtocolError : std::uint8_t {
    none,
    invalid_multibulk_length,
    invalid_bulk_length,
    expected_dollar,
    too_big_inline,
    too_big_mbulk_count,
    too_big_bulk_count,
    unbalanced_quotes,
};

enum class ParseStatus : std::uint8_t {
    incomplete, // every byte given is part of an unfinished request: call again with more
    command,    // a request is complete: see args() and consumed(); it may have no argument
    error,      // the input violates the protocol: see error(); the connection must close
};

// Redis's integer syntax (string2ll): optional '-', no '+', no leading zeros, no spaces,
// within int64. Used for protocol lengths and for every integer argument and value.
std::optional<std::int64_t> parse_int(std::string_view text);

// The second argument (a command's key) of each complete multibulk request at the start of
// `data`, up to keys.size() of them, stopping at the first request cut short, of more than
// max_peek_arguments arguments, or of any other shape than plain headers; a request with one
// argument gives an empty key. A hint for prefetching only: the parser alone decides what the
// requests are. The bound keeps it cheap: a request of a million arguments still arriving would
// otherwise be walked again on every receive.
inline constexpr std::uint64_t max_peek_arguments = 64;
std::size_t peek_keys(std::span<const std::uint8_t> data, std::span<std::string_view> keys);

class Parser {
public:
    explicit Parser(const ParserLimits& limits) : limits_(limits) {}
    // New limits (CONFIG SET proto-max-bulk-len), from the next header read on.
    void set_limits(const ParserLimits& limits) { limits_ = limits; }

    // Parses the request that starts at data[0]. After `incomplete`, call again with the same
    // bytes at the start followed by more; the bytes already examined are not examined again.
    // After `command` the parser is ready for the next request (which starts at consumed()).
    ParseStatus parse(std::span<const std::uint8_t> data);

    // Valid after `command`, until the next parse(): the length of the request in bytes, and
    // its arguments, which point into `data` (multibulk) or into the parser (inline).
    std::size_t consumed() const { return consumed_; }
    std::span<const std::string_view> args() const { return {args_.data(), argc_}; }

    // Valid after `error`: the error reply's text without '-' and CRLF, e.g.
    // "ERR Protocol error: invalid bulk length".
    std::string error_text() const;
    ProtocolError error() const { return error_; }

    // Forgets a partly parsed request (after an error, or when the input is discarded).
    void reset();

    // The bytes the unfinished request is known to need, counted from its first byte: what is
    // parsed so far plus the announced length of the argument being received (and its CRLF).
    // 0 between requests.
    std::size_t announced() const;

    // Frees the argument buffers that grew past keep_bytes, keeping what the request being
    // parsed needs. Invalidates args().
    void release_large(std::size_t keep_bytes);

private:
    enum class Phase : std::uint8_t { start, multibulk_header, bulk_header, bulk_data, inline_line };

    ParseStatus fail(ProtocolError e);
    ParseStatus finish(std::size_t end);
    ParseStatus parse_inline(std::span<const std::uint8_t> data);
    bool split_inline(std::string_view line);
    // Position of the next `end` byte at or after search_ within the max_inline bytes that
    // start at `start`, or npos; advances search_. Bounding the search by the limit rather than
    // by what has arrived makes the outcome independent of how the input was cut.
    std::size_t find_end(std::span<const std::uint8_t> data, std::size_t start, char end);

    ParserLimits limits_;
    Phase phase_ = Phase::start;
    std::size_t pos_ = 0;    // bytes of the current request fully parsed
    std::size_t search_ = 0; // where the search for a line end resumes
    std::uint64_t remaining_ = 0;
    std::uint64_t bulk_len_ = 0;
    // Multibulk arguments as (offset, length) until the request completes, since the bytes may
    // move between calls; turned into views by finish().
    std::vector<std::pair<std::size_t, std::size_t>> spans_;
    std::vector<std::string_view> args_;
    std::size_t argc_ = 0;
    std::string inline_; // decoded inline words, back to back
    std::vector<std::pair<std::size_t, std::size_t>> inline_spans_;
    std::size_t consumed_ = 0;
    ProtocolError error_ = ProtocolError::none;
    char got_ = 0; // the byte found instead of '$'
};

} // namespace gatio::resp
