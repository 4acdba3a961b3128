#include "check.hpp"

#include <stdexcept>

namespace gatio::http::check {

namespace {

constexpr std::string_view method_names[] = {"GET",     "HEAD",  "POST",  "PUT",     "DELETE",
                                             "OPTIONS", "PATCH", "TRACE", "CONNECT", "other"};

void require(bool ok, const std::string& what) {
    if (!ok) {
        throw std::logic_error(what);
    }
}

std::string describe(const char* event, std::size_t offset, const Request& r) {
    return std::string(event) + "@" + std::to_string(offset) + " " +
           std::string(method_names[static_cast<int>(r.method)]) + " route=" + std::to_string(r.route) +
           (r.version == Version::http11 ? " HTTP/1.1" : " HTTP/1.0") +
           (r.keep_alive ? " keep-alive" : " close") + (r.has_body ? " body" : "") +
           (r.expect_continue ? " 100-continue" : "");
}

class StringOutput final : public Output {
public:
    bool write(std::span<const iovec> slices) override {
        for (const iovec& v : slices) {
            text.append(static_cast<const char*>(v.iov_base), v.iov_len);
        }
        return true;
    }
    std::string text;
};

} // namespace

std::vector<std::string> parse_trace(const Limits& limits, RoutePaths routes,
                                     std::span<const std::uint8_t> input, std::span<const std::size_t> cuts) {
    Parser parser(limits, routes);
    std::vector<std::string> events;
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
                break;
            case Parser::Event::head:
                require(r.consumed > 0, "head without consuming");
                require(req.has_body, "head reported for a request without a body");
                events.push_back(describe("head", offset, req));
                break;
            case Parser::Event::complete:
                require(r.consumed > 0, "complete without consuming");
                require(req.route < static_cast<int>(routes.size()), "route index out of range");
                require(req.route < 0 || routes[static_cast<std::size_t>(req.route)].size() > 0,
                        "empty route");
                events.push_back(describe("complete", offset, req));
                break;
            case Parser::Event::error: {
                const int s = parser.error_status();
                require(s == 400 || s == 413 || s == 417 || s == 431 || s == 501 || s == 505,
                        "unexpected error status " + std::to_string(s));
                const Parser::Result again = parser.feed(input.subspan(offset, end - offset));
                require(again.consumed == 0 && again.event == Parser::Event::error, "an error must be final");
                events.push_back("error@" + std::to_string(offset) + " " + std::to_string(s));
                return events;
            }
            }
        }
        begin = end;
    }
    return events;
}

std::string serve_trace(Site& site, std::span<const std::uint8_t> input, std::span<const std::size_t> cuts,
                        std::string_view date) {
    Parser parser = site.make_parser();
    StringOutput out;
    std::size_t begin = 0;
    for (std::size_t piece = 0; piece <= cuts.size(); ++piece) {
        const std::size_t end = piece < cuts.size() ? cuts[piece] : input.size();
        require(begin <= end && end <= input.size(), "cuts must increase inside the input");
        switch (site.serve(parser, input.subspan(begin, end - begin), date, out)) {
        case Verdict::keep:
            break;
        case Verdict::close:
            return out.text + "[close]";
        case Verdict::reset:
            return out.text + "[reset]";
        }
        begin = end;
    }
    return out.text;
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
    const std::uint8_t control = input[0];
    const std::span<const std::uint8_t> rest = input.subspan(1);
    const bool use_small = (control & 0x80) == 0;
    Site& target = use_small ? site : standard_site;
    const Limits& limits = use_small ? small : standard;

    const std::size_t step = (control & 0x0f) + 1u;
    std::vector<std::size_t> cuts;
    for (std::size_t i = step; i < rest.size(); i += step) {
        cuts.push_back(i);
    }
    const std::vector<std::size_t> bytewise = every_byte(rest.size());
    constexpr std::string_view date = "Thu, 01 Jan 1970 00:00:00 GMT";

    const auto whole = parse_trace(limits, target.paths(), rest, {});
    require(parse_trace(limits, target.paths(), rest, cuts) == whole, "parser events depend on the cuts");
    require(parse_trace(limits, target.paths(), rest, bytewise) == whole,
            "parser events differ byte by byte");
    const std::string answers = serve_trace(target, rest, {}, date);
    require(serve_trace(target, rest, cuts, date) == answers, "answers depend on the cuts");
    require(serve_trace(target, rest, bytewise, date) == answers, "answers differ byte by byte");
}

std::vector<std::size_t> every_byte(std::size_t size) {
    std::vector<std::size_t> cuts;
    for (std::size_t i = 1; i < size; ++i) {
        cuts.push_back(i);
    }
    return cuts;
}

} // namespace gatio::http::check
