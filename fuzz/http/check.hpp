// Checks shared by the http fuzz target and the http tests: the parser and the site must give
// the same events and the same bytes however the input is cut into receives, and keep their
// documented invariants on any input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "parser.hpp"
#include "site.hpp"

namespace gatio::http::check {

// One head, complete or error event: the parser's request after head and complete, its status
// after error, and the absolute offset it came at.
struct TraceEvent {
    Parser::Event event = Parser::Event::need_more;
    std::size_t offset = 0;
    Request request;
    int status = 0;
};
bool operator==(const TraceEvent& a, const TraceEvent& b);

// The events of input received in the pieces `cuts` makes, into `out` (cleared first, its
// capacity kept, so a caller reusing it allocates nothing once it is large enough). Throws
// std::logic_error when the parser breaks an invariant.
void collect_events(const Limits& limits, RoutePaths routes, std::span<const std::uint8_t> input,
                    std::span<const std::size_t> cuts, std::vector<TraceEvent>& out);

// Everything site.serve writes for input received in the pieces cuts makes, into `out` (cleared
// first, capacity kept), followed by "[close]" or "[reset]" when serve ended the connection.
void collect_answers(Site& site, std::span<const std::uint8_t> input, std::span<const std::size_t> cuts,
                     std::string_view date, std::string& out);

// One line per head, complete or error event with the absolute offset it came at, e.g.
// "complete@37 GET route=1 HTTP/1.1 keep-alive" or "error@12 400". Throws std::logic_error when
// the parser breaks an invariant. cuts: increasing offsets inside input where a receive ends.
std::vector<std::string> parse_trace(const Limits& limits, RoutePaths routes,
                                     std::span<const std::uint8_t> input, std::span<const std::size_t> cuts);

// Everything site.serve writes for input received in the pieces cuts makes, followed by
// "[close]" or "[reset]" when serve ended the connection.
std::string serve_trace(Site& site, std::span<const std::uint8_t> input, std::span<const std::size_t> cuts,
                        std::string_view date);

// Every offset from 1 to size - 1: the input received one byte at a time.
std::vector<std::size_t> every_byte(std::size_t size);

// The fuzz target's whole check, also replayed by the tests over the saved inputs. The first
// byte picks the limits (small ones reach every limit branch) and the size of the pieces the
// rest is cut into; that rest must give the same parser events and the same answers whole,
// cut into those pieces and received byte by byte. Throws std::logic_error otherwise. The sites
// and every buffer are built once and reused, so a call allocates nothing once the buffers have
// grown to the input's size (the fuzzer runs it for each of millions of inputs).
void run_case(std::span<const std::uint8_t> input);

inline std::span<const std::uint8_t> bytes(std::string_view s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

} // namespace gatio::http::check
