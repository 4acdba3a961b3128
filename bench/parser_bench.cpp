// The http plugin's request parser alone, for instruction counts under callgrind:
//
//   parser_bench [wrk|browser] [requests]      (defaults: wrk, 1000000)
//
// feeds one fixed request the given number of times, each in one piece as a receive would carry
// it, and prints how many were complete. wrk is the 41-byte request wrk sends in bench/run;
// browser is a 439-byte GET with the header fields a browser sends. Running it with N and 2N
// requests and dividing the difference of the two counts by N gives instructions per request
// without the start-up (docs/performance.md).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string_view>

#include "parser.hpp"

namespace {

constexpr std::string_view wrk_request = "GET / HTTP/1.1\r\nHost: 127.0.0.1:18080\r\n\r\n";

constexpr std::string_view browser_request =
    "GET /index.html?lang=en HTTP/1.1\r\n"
    "Host: www.example.com\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n"
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
    "Accept-Language: en-US,en;q=0.5\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Connection: keep-alive\r\n"
    "Upgrade-Insecure-Requests: 1\r\n"
    "Sec-Fetch-Dest: document\r\n"
    "Sec-Fetch-Mode: navigate\r\n"
    "Sec-Fetch-Site: none\r\n"
    "Cache-Control: max-age=0\r\n"
    "\r\n";

} // namespace

int main(int argc, char** argv) {
    const std::string_view mix = argc > 1 ? argv[1] : "wrk";
    const long requests = argc > 2 ? std::atol(argv[2]) : 1000000;
    if ((mix != "wrk" && mix != "browser") || requests <= 0) {
        std::fprintf(stderr, "usage: parser_bench [wrk|browser] [requests]\n");
        return 64;
    }
    const std::string_view text = mix == "wrk" ? wrk_request : browser_request;
    const std::span<const std::uint8_t> bytes{reinterpret_cast<const std::uint8_t*>(text.data()),
                                              text.size()};
    static constexpr std::string_view routes[] = {"/", "/index.html"};
    const gatio::http::Limits limits;
    gatio::http::Parser parser(limits, routes);
    long complete = 0;
    for (long i = 0; i < requests; ++i) {
        const auto r = parser.feed(bytes);
        if (r.event == gatio::http::Parser::Event::complete && r.consumed == bytes.size() &&
            parser.request().route >= 0) {
            ++complete;
        }
    }
    std::printf("%ld of %ld %s requests complete\n", complete, requests,
                text == wrk_request ? "wrk" : "browser");
    return complete == requests ? 0 : 1;
}
