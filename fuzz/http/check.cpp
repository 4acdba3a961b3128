#include "check.hpp"

#include <stdexcept>

namespace gatio::http::check {

namespace {

constexpr std::string_view method_names[] = {"GET",     "HEAD",  "POST",  "PUT",     "DELETE",
                                             "OPTIONS", "PATCH", "TRACE", "CONNECT", "other"};

// A literal message: nothing is built unless the check fails.
void require(bool ok, const char* what) {
    if (!ok) {
        throw std::logic_error(what);
    }
}

std::string describe(const TraceEvent& e) {
    if (e.event == Parser::Event::error) {
        return "error@" + std::to_string(e.offset) + ' ' + std::to_string(e.status);
    }
    const Request& r = e.request;
    return std::string(e.event == Parser::Event::head ? "head" : "complete") + "@" +
           std::to_string(e.offset) + " " + std::string(method_names[static_cast<int>(r.method)]) +
           " route=" + std::to_string(r.route) + (r.version == Version::http11 ? " HTTP/1.1" : " HTTP/1.0") +
           (r.keep_alive ? " keep-alive" : " close") + (r.has_body ? " body" : "") +
           (r.expect_continue ? " 100-continue" : "");
}

class StringOutput final : public Output {
public:
    explicit StringOutput(std::string& text) : text_(text) {}
    bool write(std::span<const iovec> slices) override {
        for (const iovec& v : slices) {
            text_.append(static_cast<const char*>(v.iov_base), v.iov_len);
        }
        return true;
    }

private:
    std::string& text_;
};

// Offsets every `step` bytes inside [0, size), into `out`.
void cut_every(std::size_t step, std::size_t size, std::vector<std::size_t>& out) {
    out.clear();
    for (std::size_t i = step; i < size; i += step) {
        out.push_back(i);
    }
}

} // namespace

bool operator==(const TraceEvent& a, const TraceEvent& b) {
    if (a.event != b.event || a.offset != b.offset || a.status != b.status) {
        return false;
    }
    const Request& x = a.request;
    const Request& y = b.request;
    return x.method == y.method && x.version == y.version && x.keep_alive == y.keep_alive &&
           x.expect_continue == y.expect_continue && x.has_body == y.has_body && x.route == y.route;
}

void collect_events(const Limits& limits, RoutePaths routes, std::span<const std::uint8_t> input,
                    std::span<const std::size_t> cuts, std::vector<TraceEvent>& out) {
    out.clear();
    Parser parser(limits, routes);
    std::uint32_t completed = 0;
    std::size_t begin = 0;
    for (std::size_t piece = 0; piece <= cuts.size(); ++piece) {
        const std::size_t end = piece < cuts.size() ? cuts[piece] : input.size();
        require(begin <= end && end <= input.size(), "cuts must increase inside the input");
        std::size_t offset = begin;
        while (offset < end) {
            const Parser::Result r = parser.feed(input.subspan(offset, end - offset));
            require(r.consumed <= end - offset, "feed consumed more than it was given");
            offset += r.consumed;
            const Request& req = parser.request();
            switch (r.event) {
            case Parser::Event::need_more:
                require(offset == end, "need_more left bytes unconsumed");
                require(parser.phase() != Parser::Phase::idle, "need_more after bytes but in the idle phase");
                break;
            case Parser::Event::head:
                require(r.consumed > 0, "head without consuming");
                require(req.has_body, "head reported for a request without a body");
                require(parser.phase() == Parser::Phase::body, "head reported outside the body phase");
                out.push_back({r.event, offset, req, 0});
                break;
            case Parser::Event::complete:
                require(r.consumed > 0, "complete without consuming");
                require(req.route < static_cast<int>(routes.size()), "route index out of range");
                require(req.route < 0 || routes[static_cast<std::size_t>(req.route)].size() > 0,
                        "empty route");
                require(parser.phase() == Parser::Phase::idle, "complete reported outside the idle phase");
                require(parser.completed() == ++completed, "completed() must count complete events");
                out.push_back({r.event, offset, req, 0});
                break;
            case Parser::Event::error: {
                const int s = parser.error_status();
                require(s == 400 || s == 413 || s == 417 || s == 431 || s == 501 || s == 505,
                        "unexpected error status");
                const Parser::Result again = parser.feed(input.subspan(offset, end - offset));
                require(again.consumed == 0 && again.event == Parser::Event::error, "an error must be final");
                require(parser.phase() == Parser::Phase::idle, "an error outside the idle phase");
                out.push_back({r.event, offset, {}, s});
                return;
            }
            }
        }
        begin = end;
    }
}

std::vector<std::string> parse_trace(const Limits& limits, RoutePaths routes,
                                     std::span<const std::uint8_t> input, std::span<const std::size_t> cuts) {
    std::vector<TraceEvent> events;
    collect_events(limits, routes, input, cuts, events);
    std::vector<std::string> lines;
    for (const TraceEvent& e : events) {
        lines.push_back(describe(e));
    }
    return lines;
}

void collect_answers(Site& site, std::span<const std::uint8_t> input, std::span<const std::size_t> cuts,
                     std::string_view date, std::string& out) {
    out.clear();
    Parser parser = site.make_parser();
    StringOutput sink(out);
    std::size_t begin = 0;
    for (std::size_t piece = 0; piece <= cuts.size(); ++piece) {
        const std::size_t end = piece < cuts.size() ? cuts[piece] : input.size();
        require(begin <= end && end <= input.size(), "cuts must increase inside the input");
        switch (site.serve(parser, input.subspan(begin, end - begin), date, sink)) {
        case Verdict::keep:
            break;
        case Verdict::close:
            out += "[close]";
            return;
        case Verdict::reset:
            out += "[reset]";
            return;
        case Verdict::file: // the fuzzed sites have no root routes
            require(false, "a site without root routes asked for a file");
            return;
        }
        begin = end;
    }
}

std::string serve_trace(Site& site, std::span<const std::uint8_t> input, std::span<const std::size_t> cuts,
                        std::string_view date) {
    std::string out;
    collect_answers(site, input, cuts, date, out);
    return out;
}

void run_case(std::span<const std::uint8_t> input) {
    if (input.empty()) {
        return;
    }
    static const Limits small{256, 8, 64};
    static const Limits standard{};
    static Site site([] {
        Settings s;
        s.server = "fuzz";
        s.limits = small;
        s.routes = {{"/", 200, "text/plain", "root"},
                    {"/a", 404, "text/plain", ""},
                    {"/a b", 200, "text/html", "x"},
                    {"/ab", 500, "text/plain", "ab"}};
        return s;
    }());
    static Site standard_site([] {
        Settings s;
        s.routes = {{"/", 200, "text/plain", "root"}};
        return s;
    }());
    // Reused by every call: cleared, never shrunk.
    static struct {
        std::vector<std::size_t> cuts;
        std::vector<std::size_t> bytewise;
        std::vector<TraceEvent> whole;
        std::vector<TraceEvent> other;
        std::string answers;
        std::string other_answers;
    } scratch;
    const std::uint8_t control = input[0];
    const std::span<const std::uint8_t> rest = input.subspan(1);
    const bool use_small = (control & 0x80) == 0;
    Site& target = use_small ? site : standard_site;
    const Limits& limits = use_small ? small : standard;

    cut_every((control & 0x0f) + 1u, rest.size(), scratch.cuts);
    cut_every(1, rest.size(), scratch.bytewise);
    constexpr std::string_view date = "Thu, 01 Jan 1970 00:00:00 GMT";

    collect_events(limits, target.paths(), rest, {}, scratch.whole);
    collect_events(limits, target.paths(), rest, scratch.cuts, scratch.other);
    require(scratch.other == scratch.whole, "parser events depend on the cuts");
    collect_events(limits, target.paths(), rest, scratch.bytewise, scratch.other);
    require(scratch.other == scratch.whole, "parser events differ byte by byte");
    collect_answers(target, rest, {}, date, scratch.answers);
    collect_answers(target, rest, scratch.cuts, date, scratch.other_answers);
    require(scratch.other_answers == scratch.answers, "answers depend on the cuts");
    collect_answers(target, rest, scratch.bytewise, date, scratch.other_answers);
    require(scratch.other_answers == scratch.answers, "answers differ byte by byte");
}

std::vector<std::size_t> every_byte(std::size_t size) {
    std::vector<std::size_t> cuts;
    for (std::size_t i = 1; i < size; ++i) {
        cuts.push_back(i);
    }
    return cuts;
}

} // namespace gatio::http::check
