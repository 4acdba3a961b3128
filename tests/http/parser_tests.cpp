// The incremental request parser, in-process: what it reports for each kind of request, every
// limit at and just past its value, and the same events whichever way the bytes are cut.
#include <array>
#include <catch2/catch.hpp>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "check.hpp"
#include "parser.hpp"

using namespace gatio::http;
using check::bytes;

namespace {

// Sorted byte-wise, as Site sorts them.
const std::vector<std::string_view> paths{"/", "/a", "/ab", "/b/c", "/hello world", "/\xff"};

std::vector<std::string> events(std::string_view in, const Limits& limits = {}) {
    return check::parse_trace(limits, paths, bytes(in), {});
}

// The one event a request gives, with its offset stripped.
std::string only(std::string_view in, const Limits& limits = {}) {
    const auto e = events(in, limits);
    INFO(in);
    REQUIRE(e.size() == 1);
    const std::size_t at = e[0].find('@');
    const std::size_t sp = e[0].find(' ', at);
    return e[0].substr(0, at) + e[0].substr(sp);
}

// The status of the error a request ends with, 0 when it ends without one.
int status(std::string_view in, const Limits& limits = {}) {
    const auto e = events(in, limits);
    if (e.empty() || e.back().rfind("error@", 0) != 0) {
        return 0;
    }
    return std::stoi(e.back().substr(e.back().find(' ') + 1));
}

std::string get(std::string_view target, std::string_view version = "HTTP/1.1",
                std::string_view fields = "Host: x\r\n") {
    return "GET " + std::string(target) + " " + std::string(version) + "\r\n" + std::string(fields) + "\r\n";
}

std::string post(std::string_view fields, std::string_view body) {
    return "POST /a HTTP/1.1\r\nHost: x\r\n" + std::string(fields) + "\r\n" + std::string(body);
}

std::string at(std::size_t offset, std::string_view event, std::string_view rest) {
    return std::string(event) + '@' + std::to_string(offset) + " " + std::string(rest);
}

} // namespace

TEST_CASE("a GET reports its route, version and whether the connection stays open", "[parser]") {
    const std::string r = get("/a");
    CHECK(events(r) == std::vector<std::string>{at(r.size(), "complete", "GET route=1 HTTP/1.1 keep-alive")});
    CHECK(only(get("/")) == "complete GET route=0 HTTP/1.1 keep-alive");
    CHECK(only(get("/b/c")) == "complete GET route=3 HTTP/1.1 keep-alive");
}

TEST_CASE("HTTP/1.0 closes unless it asks for keep-alive; Connection: close ends HTTP/1.1", "[parser]") {
    CHECK(only(get("/a", "HTTP/1.0", "")) == "complete GET route=1 HTTP/1.0 close");
    CHECK(only(get("/a", "HTTP/1.0", "Connection: keep-alive\r\n")) ==
          "complete GET route=1 HTTP/1.0 keep-alive");
    CHECK(only(get("/a", "HTTP/1.0", "Connection: Keep-Alive\r\n")) ==
          "complete GET route=1 HTTP/1.0 keep-alive");
    CHECK(only(get("/a", "HTTP/1.1", "Host: x\r\nConnection: close\r\n")) ==
          "complete GET route=1 HTTP/1.1 close");
    CHECK(only(get("/a", "HTTP/1.1", "Host: x\r\nCONNECTION:   upgrade , CLOSE \r\n")) ==
          "complete GET route=1 HTTP/1.1 close");
    CHECK(only(get("/a", "HTTP/1.0", "Connection: keep-alive, close\r\n")) ==
          "complete GET route=1 HTTP/1.0 close");
    // A token merely containing "close" is another option.
    CHECK(only(get("/a", "HTTP/1.1", "Host: x\r\nConnection: closed, clos e\r\n")) ==
          "complete GET route=1 HTTP/1.1 keep-alive");
    // Higher minor versions are served as 1.1.
    CHECK(only(get("/a", "HTTP/1.7")) == "complete GET route=1 HTTP/1.1 keep-alive");
}

TEST_CASE("methods are matched case-sensitively and unknown ones reported as other", "[parser]") {
    CHECK(only("HEAD /a HTTP/1.1\r\nHost: x\r\n\r\n") == "complete HEAD route=1 HTTP/1.1 keep-alive");
    CHECK(only("DELETE /a HTTP/1.1\r\nHost: x\r\n\r\n") == "complete DELETE route=1 HTTP/1.1 keep-alive");
    CHECK(only("OPTIONS /a HTTP/1.1\r\nHost: x\r\n\r\n") == "complete OPTIONS route=1 HTTP/1.1 keep-alive");
    CHECK(only("get /a HTTP/1.1\r\nHost: x\r\n\r\n") == "complete other route=1 HTTP/1.1 keep-alive");
    CHECK(only("GETS /a HTTP/1.1\r\nHost: x\r\n\r\n") == "complete other route=1 HTTP/1.1 keep-alive");
    CHECK(only("GE /a HTTP/1.1\r\nHost: x\r\n\r\n") == "complete other route=1 HTTP/1.1 keep-alive");
    CHECK(only("BREW /a HTTP/1.1\r\nHost: x\r\n\r\n") == "complete other route=1 HTTP/1.1 keep-alive");
}

TEST_CASE("the path must equal a route after percent-decoding; the query is ignored", "[parser]") {
    CHECK(only(get("/ab")) == "complete GET route=2 HTTP/1.1 keep-alive");
    CHECK(only(get("/abc")) == "complete GET route=-1 HTTP/1.1 keep-alive");
    CHECK(only(get("/b")) == "complete GET route=-1 HTTP/1.1 keep-alive");
    CHECK(only(get("/b/")) == "complete GET route=-1 HTTP/1.1 keep-alive");
    CHECK(only(get("/c")) == "complete GET route=-1 HTTP/1.1 keep-alive");
    CHECK(only(get("/a?x=1&y=/ab")) == "complete GET route=1 HTTP/1.1 keep-alive");
    CHECK(only(get("/?")) == "complete GET route=0 HTTP/1.1 keep-alive");
    CHECK(only(get("/a#frag")) == "complete GET route=1 HTTP/1.1 keep-alive");
    CHECK(only(get("/%61%62")) == "complete GET route=2 HTTP/1.1 keep-alive");
    CHECK(only(get("/hello%20world")) == "complete GET route=4 HTTP/1.1 keep-alive");
    CHECK(only(get("/%FF")) == "complete GET route=5 HTTP/1.1 keep-alive");
    CHECK(only(get("/%ff?q")) == "complete GET route=5 HTTP/1.1 keep-alive");
    CHECK(only(get("/a%3F")) == "complete GET route=-1 HTTP/1.1 keep-alive");
    CHECK(status(get("/%6")) == 400);
    CHECK(status(get("/%zz")) == 400);
    CHECK(status(get("/a\x01")) == 400);
    CHECK(status(get("/\xff")) == 400); // raw bytes above 0x7e are not allowed in a target
}

TEST_CASE("absolute-form and asterisk-form targets", "[parser]") {
    CHECK(only(get("http://example.com/ab?q=1")) == "complete GET route=2 HTTP/1.1 keep-alive");
    CHECK(only(get("http://example.com:8080")) == "complete GET route=0 HTTP/1.1 keep-alive");
    CHECK(only(get("https://example.com?x")) == "complete GET route=0 HTTP/1.1 keep-alive");
    CHECK(only(get("http://[::1]:80#f")) == "complete GET route=0 HTTP/1.1 keep-alive");
    // The authority is checked like a Host value: no userinfo, not empty.
    CHECK(status(get("https://user@example.com?x")) == 400);
    CHECK(status(get("http:///a")) == 400);
    CHECK(status(get("http://a b/")) == 400);
    CHECK(status(get("http://[::1/")) == 400);
    CHECK(only(get("HTTP://h/b/c")) == "complete GET route=3 HTTP/1.1 keep-alive");
    CHECK(only("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n") == "complete OPTIONS route=-1 HTTP/1.1 keep-alive");
    CHECK(status(get("http:/x/a")) == 400);
    CHECK(status(get("*x")) == 400);
    CHECK(status(get("a b")) == 400);
    CHECK(status(get("")) == 400);
}

TEST_CASE("a Content-Length body is skipped after a head event", "[parser]") {
    const std::string head = "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n";
    const std::string r = head + "hello" + get("/ab");
    CHECK(events(r) == std::vector<std::string>{
                           at(head.size(), "head", "POST route=1 HTTP/1.1 keep-alive body"),
                           at(head.size() + 5, "complete", "POST route=1 HTTP/1.1 keep-alive body"),
                           at(r.size(), "complete", "GET route=2 HTTP/1.1 keep-alive"),
                       });
    // Zero, leading zeros, whitespace around the value, and an agreeing repetition.
    CHECK(only(post("Content-Length: 0\r\n", "")) == "complete POST route=1 HTTP/1.1 keep-alive");
    CHECK(events(post("Content-Length:  007 \r\n", "1234567")).size() == 2);
    CHECK(events(post("Content-Length: 3\r\nContent-Length: 3\r\n", "abc")).size() == 2);
    // The body's bytes are never interpreted.
    CHECK(events(post("Content-Length: 4\r\n", "\r\n\r\n")).size() == 2);
}

TEST_CASE("chunked bodies are framed by their chunk sizes, extensions and trailers", "[parser]") {
    const std::string head = "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    const std::string body = "5\r\nhello\r\n1A;name=value;x\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n";
    const std::string r = head + body + get("/");
    CHECK(events(r) == std::vector<std::string>{
                           at(head.size(), "head", "POST route=1 HTTP/1.1 keep-alive body"),
                           at(head.size() + body.size(), "complete", "POST route=1 HTTP/1.1 keep-alive body"),
                           at(r.size(), "complete", "GET route=0 HTTP/1.1 keep-alive"),
                       });
    const std::string trailers = "3\r\n0\r\n\r\n0\r\nExpires: never\r\nX-Sum: 12\r\n\r\n";
    CHECK(events(head + trailers).size() == 2);
    CHECK(events(head + "1 \t;ext\r\nx\r\n0\r\n\r\n").size() == 2);
    CHECK(events(head + "000\r\n\r\n").size() == 2);
    // Codings are case-insensitive and the list may hold empty elements and whitespace.
    CHECK(events(post("Transfer-Encoding: , CHUNKED \r\n", "0\r\n\r\n")).size() == 2);

    CHECK(status(head + "x\r\n") == 400);
    CHECK(status(head + ";ext\r\n") == 400);
    CHECK(status(head + "2\r\nabc\r\n") == 400);
    CHECK(status(head + "2\r\nab\rX") == 400);
    CHECK(status(head + "2\r\nab\r\n0\r\nbad trailer\r\n\r\n") == 400);
    CHECK(status(head + "1;\x01\r\n") == 400);
}

TEST_CASE("chunked framing: bare LF, junk after the size and malformed extensions get 400", "[parser]") {
    const std::string head = "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    // Extensions are legal (RFC 9112 section 7.1.1): tokens, quoted strings, whitespace around ';'
    // and '='.
    for (const std::string ext : {";a", ";a=b", "; a = b ;c", " \t;a", ";a=\"q \\\" ;\"", ";a=\"\"",
                                  ";a=b;c=d", ";a=\"x\" ;b", ";a ;b", ";a=b ;c"}) {
        INFO(ext);
        CHECK(status(head + "5" + ext + "\r\nhello\r\n0" + ext + "\r\n\r\n") == 0);
    }
    const std::vector<std::string> bad{
        "5\nhello\n0\n\n",                    // bare LF everywhere
        "5\nhello\r\n0\r\n\r\n",              // after the size
        "5\r\nhello\n0\r\n\r\n",              // after the data
        "5\r\nhello\r\n0\n\r\n",              // after the last chunk's size
        "5\r\nhello\r\n0\r\n\n",              // ending the trailer section
        "5\r\nhello\r\n0\r\nT: v\n\r\n",      // ending a trailer field
        "5;a=b\nhello\r\n0\r\n\r\n",          // after an extension
        "5\r\nhello\r0\r\n\r\n",              // bare CR after the data
        "5 x\r\nhello\r\n0\r\n\r\n",          // junk after the size
        "5x\r\nhello\r\n0\r\n\r\n",           // a non-hex digit
        "5 \r\nhello\r\n0\r\n\r\n",           // whitespace not followed by ';'
        "5;\r\nhello\r\n0\r\n\r\n",           // no extension name
        "5;a \r\nhello\r\n0\r\n\r\n",         // whitespace ending the line
        "5;a=\r\nhello\r\n0\r\n\r\n",         // no value
        "5;a=b c\r\nhello\r\n0\r\n\r\n",      // two values
        "5;a b\r\nhello\r\n0\r\n\r\n",        // two names
        "5;a=\"b\r\nhello\r\n0\r\n\r\n",      // unterminated quoted string
        "5;a=\"b\"c\r\nhello\r\n0\r\n\r\n",   // junk after a quoted string
        "5;a=b=c\r\nhello\r\n0\r\n\r\n",      // '=' twice
        "5;a@b\r\nhello\r\n0\r\n\r\n",        // not a token
        "5;a=\"\x01\"\r\nhello\r\n0\r\n\r\n", // control byte in a quoted string
        "-5\r\nhello\r\n0\r\n\r\n",           // a sign
        "0x5\r\nhello\r\n0\r\n\r\n",          // a prefix
    };
    for (const std::string& body : bad) {
        INFO(body);
        CHECK(status(head + body) == 400);
    }
}

TEST_CASE("Host must be uri-host [\":\" port]", "[parser]") {
    auto host = [](std::string_view value) {
        return status(get("/", "HTTP/1.1", "Host: " + std::string(value) + "\r\n"));
    };
    for (const char* good :
         {"x", "example.com", "example.com:8080", "127.0.0.1", "127.0.0.1:80", "[::1]", "[::1]:8080",
          "[v1.x]", "a-b_c~d!$&'()*+,;=", "x%2Dy", "x:", "x  ", "x:1\t", ""}) {
        INFO(good);
        CHECK(host(good) == 0);
    }
    for (const char* bad : {"a b",
                            "u@x",
                            "user:pw@x",
                            "x/y",
                            "x?y",
                            "x#y",
                            "x:8a",
                            "x:80:81",
                            "x:80 9",
                            ":80",
                            "[::1",
                            "[]",
                            "[::1]x",
                            "[::1]:a",
                            "[::1]]",
                            "x%2",
                            "x%zz",
                            "x]",
                            "\xc3\xa9.example",
                            "x\"y",
                            "x\\y",
                            "x{y}",
                            "x<y>",
                            "a\tb"}) {
        INFO(bad);
        CHECK(host(bad) == 400);
    }
    // The check applies to each Host field of an HTTP/1.0 request too.
    CHECK(status(get("/", "HTTP/1.0", "Host: a b\r\n")) == 400);
}

TEST_CASE("phase and completed follow the request for deadlines", "[parser]") {
    Limits limits;
    Parser p(limits, paths);
    auto feed = [&](std::string_view in) { return p.feed(bytes(in)).event; };
    CHECK(p.phase() == Parser::Phase::idle);
    CHECK(p.completed() == 0);
    CHECK(feed("\r\n") == Parser::Event::need_more);
    CHECK(p.phase() == Parser::Phase::head); // an empty line starts the request
    CHECK(feed("POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n") == Parser::Event::need_more);
    CHECK(p.phase() == Parser::Phase::head);
    CHECK(feed("\r\n") == Parser::Event::head);
    CHECK(p.phase() == Parser::Phase::body);
    CHECK(feed("1\r\nx\r\n0\r\nT: v\r\n") == Parser::Event::need_more);
    CHECK(p.phase() == Parser::Phase::body); // trailer fields belong to the body
    CHECK(feed("\r\n") == Parser::Event::complete);
    CHECK(p.phase() == Parser::Phase::idle);
    CHECK(p.completed() == 1);
    CHECK(feed("GET / HTTP/1.1\r\nHost: x\r\n\r\n") == Parser::Event::complete);
    CHECK(p.completed() == 2);
    CHECK(feed("G") == Parser::Event::need_more);
    CHECK(p.phase() == Parser::Phase::head);
    CHECK(p.completed() == 2);
    CHECK(feed("ET / HTTP/1.1\r\n\r\n") == Parser::Event::error);
    CHECK(p.phase() == Parser::Phase::idle);
}

TEST_CASE("Expect: 100-continue is reported only when an HTTP/1.1 body follows", "[parser]") {
    const std::string r = post("Expect: 100-Continue\r\nContent-Length: 2\r\n", "ok");
    CHECK(events(r).front().ends_with("body 100-continue"));
    CHECK(events(post("Expect: 100-continue\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"))
              .front()
              .ends_with("body 100-continue"));
    CHECK(only(get("/a", "HTTP/1.1", "Host: x\r\nExpect: 100-continue\r\n")) ==
          "complete GET route=1 HTTP/1.1 keep-alive");
    CHECK(events("POST /a HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx")
              .front()
              .ends_with("HTTP/1.0 close body"));
    CHECK(status(post("Expect: 100-continue, gzip\r\nContent-Length: 1\r\n", "x")) == 417);
    CHECK(status(get("/a", "HTTP/1.1", "Host: x\r\nExpect: something\r\n")) == 417);
    // An HTTP/1.0 client cannot have sent an expectation: the field is ignored.
    CHECK(only(get("/a", "HTTP/1.0", "Expect: something\r\n")) == "complete GET route=1 HTTP/1.0 close");
}

TEST_CASE("malformed requests get 400", "[parser]") {
    const std::vector<std::string> bad{
        "GET / HTTP/1.1\r\n\r\n",                                                 // no Host on HTTP/1.1
        get("/", "HTTP/1.1", "Host: a\r\nHost: b\r\n"),                           // two Hosts
        get("/", "HTTP/1.0", "Host: a\r\nhost: a\r\n"),                           // two Hosts on HTTP/1.0 too
        "GET  / HTTP/1.1\r\nHost: x\r\n\r\n",                                     // two spaces
        "GET / HTTP/1.1 \r\nHost: x\r\n\r\n",                                     // trailing space
        "GET / http/1.1\r\nHost: x\r\n\r\n",                                      // version is case-sensitive
        "GET / HTTP/1.10\r\nHost: x\r\n\r\n",                                     // one digit each
        "GET / HTTP/1\r\nHost: x\r\n\r\n",                                        // no minor version
        "GET /\r\n\r\n",                                                          // HTTP/0.9
        "GET / HTTP/1.1\rHost: x\r\n\r\n",                                        // bare CR
        "G(T / HTTP/1.1\r\nHost: x\r\n\r\n",                                      // not a token
        " GET / HTTP/1.1\r\nHost: x\r\n\r\n",                                     // leading space
        get("/", "HTTP/1.1", "Host: x\r\n folded\r\n"),                           // obsolete line folding
        get("/", "HTTP/1.1", "Host : x\r\n"),                                     // space before the colon
        get("/", "HTTP/1.1", "Host: x\r\n: empty\r\n"),                           // empty field name
        get("/", "HTTP/1.1", "Host: x\r\nNo-Colon\r\n"),                          // no colon
        get("/", "HTTP/1.1", std::string("Host: x\r\nX: a\0b\r\n", 17)),          // NUL in a value
        get("/", "HTTP/1.1", "Host: x\r\nX: a\x7f\r\n"),                          // DEL in a value
        get("/", "HTTP/1.1", "Host: x\r\nX: a\rb\r\n"),                           // bare CR in a value
        get("/", "HTTP/1.1", "Host: x\r\nX: y\r\n\rx"),                           // CR not ending the head
        post("Content-Length: abc\r\n", ""),                                      // not a number
        post("Content-Length: \r\n", ""),                                         // empty
        post("Content-Length: -1\r\n", ""),                                       // negative
        post("Content-Length: 5, 5\r\n", "hello"),                                // a list
        post("Content-Length: 1 2\r\n", "hello"),                                 // two numbers
        post("Content-Length: 1\r\nContent-Length: 2\r\n", "xx"),                 // disagreeing repetition
        post("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"), // both framings
        post("Transfer-Encoding: chunked, chunked\r\n", "0\r\n\r\n"),
        post("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"),
        post("Transfer-Encoding: chunked, gzip\r\n", "0\r\n\r\n"),         // chunked not last
        post("Transfer-Encoding: ,\r\n", "0\r\n\r\n"),                     // no coding at all
        "POST /a HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", // chunked in HTTP/1.0
    };
    for (const std::string& r : bad) {
        INFO(r);
        CHECK(status(r) == 400);
    }
}

TEST_CASE("unsupported transfer codings get 501 and other major versions 505", "[parser]") {
    CHECK(status(post("Transfer-Encoding: gzip\r\n", "")) == 501);
    CHECK(status(post("Transfer-Encoding: gzip, chunked\r\n", "0\r\n\r\n")) == 501);
    CHECK(status(post("Transfer-Encoding: chunked;q=1\r\n", "0\r\n\r\n")) == 501);
    CHECK(status(get("/", "HTTP/2.0")) == 505);
    CHECK(status(get("/", "HTTP/0.9")) == 505);
    CHECK(status("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") == 505);
}

TEST_CASE("max_header_bytes: a head of exactly the limit passes, one byte more is 431", "[parser][limits]") {
    Limits limits;
    limits.max_header_bytes = 200;
    const std::string base = get("/a", "HTTP/1.1", "Host: x\r\nX-Pad: \r\n");
    const std::string fits =
        get("/a", "HTTP/1.1", "Host: x\r\nX-Pad: " + std::string(200 - base.size(), 'p') + "\r\n");
    REQUIRE(fits.size() == 200);
    CHECK(only(fits, limits) == "complete GET route=1 HTTP/1.1 keep-alive");
    const std::string over =
        get("/a", "HTTP/1.1", "Host: x\r\nX-Pad: " + std::string(201 - base.size(), 'p') + "\r\n");
    CHECK(events(over, limits) == std::vector<std::string>{"error@200 431"});
    // Empty lines before the request line count too.
    CHECK(status("\r\n" + fits, limits) == 431);
    // So does a request line with no end.
    CHECK(events("GET /" + std::string(300, 'a'), limits) == std::vector<std::string>{"error@200 431"});
    // The budget is per request: many heads of the limit in a row pass.
    std::string many;
    for (int i = 0; i < 10; ++i) {
        many += fits;
    }
    CHECK(events(many, limits).size() == 10);
    // Trailers share the head's budget.
    Limits small;
    small.max_header_bytes = 80;
    const std::string head = "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    REQUIRE(head.size() == 57);
    CHECK(status(head + "0\r\nX: " + std::string(16, 't') + "\r\n\r\n", small) == 0);   // 80 bytes
    CHECK(status(head + "0\r\nX: " + std::string(17, 't') + "\r\n\r\n", small) == 431); // 81 bytes
}

TEST_CASE("max_headers: the limit passes, one field more is 431", "[parser][limits]") {
    Limits limits;
    limits.max_headers = 3;
    CHECK(status(get("/", "HTTP/1.1", "Host: x\r\nA: 1\r\nB: 2\r\n"), limits) == 0);
    CHECK(status(get("/", "HTTP/1.1", "Host: x\r\nA: 1\r\nB: 2\r\nC: 3\r\n"), limits) == 431);
    const std::string head = "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    CHECK(status(head + "0\r\nT: 1\r\n\r\n", limits) == 0);
    CHECK(status(head + "0\r\nT: 1\r\nU: 2\r\n\r\n", limits) == 431);
}

TEST_CASE("max_body with Content-Length: the limit passes, one byte more is 413 at the head",
          "[parser][limits]") {
    Limits limits;
    limits.max_body = 10;
    CHECK(events(post("Content-Length: 10\r\n", "0123456789"), limits).size() == 2);
    const std::string head = post("Content-Length: 11\r\n", "");
    CHECK(events(head + "01234567890", limits) ==
          std::vector<std::string>{"error@" + std::to_string(head.size()) + " 413"});
    CHECK(status(post("Content-Length: 99999999999999999999999999999\r\n", ""), limits) == 413);
    limits.max_body = 0;
    CHECK(status(post("Content-Length: 0\r\n", ""), limits) == 0);
    CHECK(status(post("Content-Length: 1\r\n", "x"), limits) == 413);
}

TEST_CASE("max_body with chunked: the decoded total may reach the limit, not pass it", "[parser][limits]") {
    Limits limits;
    limits.max_body = 10;
    const std::string head = "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    CHECK(status(head + "5\r\n01234\r\n5\r\n56789\r\n0\r\n\r\n", limits) == 0);
    CHECK(status(head + "5\r\n01234\r\n6\r\n", limits) == 413);
    CHECK(status(head + "5\r\n01234\r\n5\r\n56789\r\n1\r\n", limits) == 413);
    CHECK(status(head + "ffffffffffffffffffffffffffffffff\r\n", limits) == 413);
    CHECK(status(head + "000000000000000000000000000000000000a\r\n0123456789\r\n0\r\n\r\n", limits) == 0);
}

TEST_CASE("a chunk-size line is bounded by max_header_bytes", "[parser][limits]") {
    Limits limits;
    limits.max_header_bytes = 64;
    const std::string head = "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    const std::string ext62 = "1;" + std::string(60, 'e') + "\r\n"; // 64 bytes with its CRLF
    CHECK(status(head + ext62 + "x\r\n0\r\n\r\n", limits) == 0);
    CHECK(status(head + "1;" + std::string(61, 'e') + "\r\nx\r\n0\r\n\r\n", limits) == 400);
}

TEST_CASE("leading empty lines are skipped and bare LF ends lines", "[parser]") {
    CHECK(only("\r\n\r\n" + get("/a")) == "complete GET route=1 HTTP/1.1 keep-alive");
    CHECK(only("GET /a HTTP/1.1\nHost: x\n\n") == "complete GET route=1 HTTP/1.1 keep-alive");
}

TEST_CASE("an error is final", "[parser]") {
    Limits limits;
    Parser p(limits, paths);
    const std::string bad = "GET / HTTP/1.1\r\nHost x\r\n\r\n";
    const auto r = p.feed(bytes(bad));
    CHECK(r.event == Parser::Event::error);
    CHECK(p.error_status() == 400);
    CHECK(r.consumed == 21); // up to the space that broke the field name
    const auto again = p.feed(bytes(get("/a")));
    CHECK(again.consumed == 0);
    CHECK(again.event == Parser::Event::error);
}

TEST_CASE("100 pipelined requests give 100 events in request order", "[parser][pipelining]") {
    std::string stream;
    std::vector<std::string> expected;
    for (int i = 0; i < 100; ++i) {
        const std::string_view path = paths[static_cast<std::size_t>(i) % 4];
        if (i % 10 == 9) {
            stream += "POST " + std::string(path) + " HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n";
            expected.push_back(at(stream.size(), "head",
                                  "POST route=" + std::to_string(i % 4) + " HTTP/1.1 keep-alive body"));
            stream += "abc";
            expected.push_back(at(stream.size(), "complete",
                                  "POST route=" + std::to_string(i % 4) + " HTTP/1.1 keep-alive body"));
        } else {
            stream += get(path);
            expected.push_back(
                at(stream.size(), "complete", "GET route=" + std::to_string(i % 4) + " HTTP/1.1 keep-alive"));
        }
    }
    CHECK(events(stream) == expected);
    CHECK(check::parse_trace(Limits{}, paths, bytes(stream), check::every_byte(stream.size())) == expected);
}

TEST_CASE("every request gives the same events however its bytes are cut", "[parser][split]") {
    const std::string chunked = "POST /ab HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                                "Expect: 100-continue\r\n\r\n"
                                "4;a=b\r\nwxyz\r\n10\r\n0123456789abcdef\r\n0\r\nT: v\r\n\r\n";
    const std::vector<std::string> corpus{
        get("/a"),
        get("http://h:1/hello%20world?q", "HTTP/1.0", "Connection: keep-alive\r\n"),
        "\r\n" + get("/b/c", "HTTP/1.1", "Host: x\r\nConnection: close\r\n"),
        post("Content-Length: 12\r\n", "hello world!"),
        chunked,
        chunked + get("/") + post("Content-Length: 1\r\n", "x") + get("/%61"),
        get("/", "HTTP/1.1", "Host: x\r\nTransfer-Encoding: gzip\r\n"),
        get("/", "HTTP/2.0"),
        get("/", "HTTP/1.1", "Host: x\r\nX: a\x01\r\n"),
        post("Content-Length: 9999999\r\n", "x"),
        "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
    };
    for (const std::string& r : corpus) {
        INFO(r);
        const auto whole = events(r);
        REQUIRE_FALSE(whole.empty());
        for (std::size_t cut = 1; cut < r.size(); ++cut) {
            const std::size_t cuts[] = {cut};
            INFO("cut at " << cut);
            CHECK(check::parse_trace(Limits{}, paths, bytes(r), cuts) == whole);
        }
        CHECK(check::parse_trace(Limits{}, paths, bytes(r), check::every_byte(r.size())) == whole);
        // Random cuts into several pieces, reproducibly.
        std::mt19937 rng(static_cast<unsigned>(r.size()));
        for (int round = 0; round < 50; ++round) {
            std::vector<std::size_t> cuts;
            for (std::size_t i = 1; i < r.size(); ++i) {
                if (rng() % 5 == 0) {
                    cuts.push_back(i);
                }
            }
            CHECK(check::parse_trace(Limits{}, paths, bytes(r), cuts) == whole);
        }
    }
}

// A request fed whole goes through the parser's strides over runs of the head; fed byte by byte
// it goes one state-machine step per byte. Both must agree on every event and offset.
namespace {
void require_same_in_one_piece_and_byte_by_byte(const std::string& r) {
    INFO(r);
    CHECK(events(r) == check::parse_trace(Limits{}, paths, bytes(r), check::every_byte(r.size())));
}
} // namespace

TEST_CASE("a refused byte anywhere in a long field value gives 400 at that byte", "[parser][split]") {
    const std::string value = "abcdefghijklmnopqrstuvwxyz0123456789";
    for (const char bad : {'\0', '\x01', '\x08', '\x0b', '\x1f', '\x7f', '\r', '\n'}) {
        for (std::size_t at = 0; at < value.size(); ++at) {
            std::string v = value;
            v.insert(at, 1, bad);
            const std::string r = get("/", "HTTP/1.1", "Host: x\r\nX-Long-Name: " + v + "\r\n");
            require_same_in_one_piece_and_byte_by_byte(r);
            const auto e = events(r);
            INFO("byte " << int(bad) << " at " << at);
            REQUIRE_FALSE(e.empty());
            // A bare LF ends the field early, leaving the rest of the value to be read as a
            // field line of its own, which a value holding no colon is not.
            CHECK(e.back().rfind("error@", 0) == 0);
            // A bare CR is refused at the byte after it, which is not the LF it needs.
            if (bad != '\n') {
                const std::size_t offset = r.find(v) + at + (bad == '\r' ? 2 : 1);
                CHECK(e.back() == "error@" + std::to_string(offset) + " 400");
            }
        }
    }
}

TEST_CASE("long field values may hold HTAB, SP and obs-text", "[parser][split]") {
    for (const std::string v : {"a\tb c\x80\xff"
                                "defghijklmnop",
                                "\t  leading and trailing whitespace \t",
                                "\x80\x81\x82\x83\x84\x85\x86\x87\x88\x89\x8a", "exactly8"}) {
        const std::string r = get("/", "HTTP/1.1", "Host: x\r\nX: " + v + "\r\n");
        require_same_in_one_piece_and_byte_by_byte(r);
        CHECK(only(r) == "complete GET route=0 HTTP/1.1 keep-alive");
    }
}

TEST_CASE("field names are matched whatever their case, and only in full", "[parser][split]") {
    CHECK(only(get("/", "HTTP/1.1", "HOST: x\r\nCONTENT-length: 0\r\n")) ==
          "complete GET route=0 HTTP/1.1 keep-alive");
    CHECK(only(get("/", "HTTP/1.1", "host: x\r\nCoNnEcTiOn: close\r\n")) ==
          "complete GET route=0 HTTP/1.1 close");
    for (const std::string& r :
         {post("TRANSFER-Encoding: chunked\r\n", "0\r\n\r\n"), post("Content-length: 2\r\n", "ab")}) {
        INFO(r);
        CHECK(events(r).back() == at(r.size(), "complete", "POST route=1 HTTP/1.1 keep-alive body"));
    }
    // Names of the same length as a known one, differing in one byte, are other fields; a
    // known name as a prefix of a longer one too.
    CHECK(only(get("/", "HTTP/1.1", "Host: x\r\nConnectiom: close\r\n")) ==
          "complete GET route=0 HTTP/1.1 keep-alive");
    CHECK(only(get("/", "HTTP/1.1", "Host: x\r\nConnection-x: close\r\n")) ==
          "complete GET route=0 HTTP/1.1 keep-alive");
    CHECK(only(get("/", "HTTP/1.1", "Host: x\r\nContent_Length: x\r\n")) ==
          "complete GET route=0 HTTP/1.1 keep-alive");
    CHECK(status(get("/", "HTTP/1.1", "Hosu: x\r\n")) == 400); // no Host at all
    for (const std::string fields : {"HOST: x\r\nCONTENT-length: 0\r\n", "host: x\r\nCoNnEcTiOn: close\r\n",
                                     "Host: x\r\nConnectiom: close\r\n", "Host: x\r\nContent_Length: x\r\n",
                                     "Host:\t[::1]:80\t\r\nExpect: 100-continue\r\n", "Host: a%41b:\r\n"}) {
        require_same_in_one_piece_and_byte_by_byte(get("/a?q=1", "HTTP/1.0", fields));
        require_same_in_one_piece_and_byte_by_byte(get("/hello%20world", "HTTP/1.1", fields));
    }
}

namespace {

// Sorted byte-wise; "/s/" and "/s/deep/" are prefix routes, "/s/exact" a whole path below one.
const std::vector<std::string_view> prefix_paths{"/", "/s/", "/s/deep/", "/s/exact", "/t"};
const std::array<bool, 5> prefix_flags{false, true, true, false, false};

struct Kept {
    int route = -1;
    std::uint32_t prefix_length = 0;
    std::optional<std::string> path;
    std::optional<std::string> fields[static_cast<int>(Captured::count)];
    bool operator==(const Kept&) const = default;
};

std::optional<std::string> copy(std::optional<std::string_view> v) {
    return v ? std::optional<std::string>(*v) : std::nullopt;
}

// The one request in `in`, fed in pieces of `piece` bytes (0: whole), as the capture keeps it.
Kept kept(std::string_view in, std::size_t piece = 0, std::uint32_t max_path = 64) {
    static const Limits limits;
    Parser parser(limits, prefix_paths, prefix_flags);
    std::vector<char> buffer(max_path + captured_fields_bytes);
    parser.capture_into(buffer.data(), max_path);
    const auto data = bytes(in);
    std::size_t offset = 0;
    Kept k;
    while (offset < data.size()) {
        const std::size_t n = piece == 0 ? data.size() - offset : std::min(piece, data.size() - offset);
        const auto r = parser.feed(data.subspan(offset, n));
        offset += r.consumed;
        if (r.event == Parser::Event::complete) {
            k.route = parser.request().route;
            k.prefix_length = parser.request().prefix_length;
            k.path = copy(parser.path());
            for (int f = 0; f < static_cast<int>(Captured::count); ++f) {
                k.fields[f] = copy(parser.field(static_cast<Captured>(f)));
            }
            REQUIRE(offset == data.size());
            return k;
        }
        REQUIRE(r.event == Parser::Event::need_more);
    }
    FAIL("no complete request in " << in);
    return k;
}

// The same as kept() whole, byte by byte and in pieces of 3 and 7.
Kept kept_any_cut(std::string_view in, std::uint32_t max_path = 64) {
    const Kept whole = kept(in, 0, max_path);
    for (std::size_t piece : {1, 3, 7}) {
        INFO("pieces of " << piece);
        CHECK(kept(in, piece, max_path) == whole);
    }
    return whole;
}

} // namespace

TEST_CASE("prefix routes match every path they begin, the longest first, a whole path before them",
          "[parser][prefix]") {
    CHECK(kept_any_cut(get("/s/a.txt")).route == 1);
    CHECK(kept_any_cut(get("/s/a.txt")).prefix_length == 3);
    CHECK(kept_any_cut(get("/s/")).route == 1);
    CHECK(kept_any_cut(get("/s/deep/x/y")).route == 2);
    CHECK(kept_any_cut(get("/s/deep/x/y")).prefix_length == 8);
    CHECK(kept_any_cut(get("/s/deep")).route == 1); // not "/s/deep/": that one needs the slash
    CHECK(kept_any_cut(get("/s/exact")).route == 3);
    CHECK(kept_any_cut(get("/s/exactly")).route == 1);
    CHECK(kept_any_cut(get("/s")).route == -1);
    CHECK(kept_any_cut(get("/t/x")).route == -1);  // "/t" is a whole-path route
    CHECK(kept_any_cut(get("/x")).route == -1);    // nor is "/" a prefix
    CHECK(kept_any_cut(get("/%73/a")).route == 1); // the path is matched percent-decoded
    CHECK(kept_any_cut(get("http://h/s/a?q")).route == 1);
    // Without prefix flags nothing is a prefix.
    CHECK(only(get("/b/c/d")) == "complete GET route=-1 HTTP/1.1 keep-alive");
}

TEST_CASE("the decoded path is kept up to max_path, the query left out", "[parser][prefix]") {
    CHECK(kept_any_cut(get("/s/a%20b/%2e%2e/c?x=1")).path == "/s/a b/../c");
    CHECK(kept_any_cut(get("/s/%00")).path == std::string("/s/\0", 4));
    CHECK(kept_any_cut(get("http://h")).path == "/");
    CHECK(kept_any_cut(get("/s/" + std::string(13, 'x')), 16).path == "/s/" + std::string(13, 'x'));
    CHECK_FALSE(kept_any_cut(get("/s/" + std::string(14, 'x')), 16).path);
    // The next request on the connection starts afresh.
    CHECK(kept_any_cut(get("/s/ab")).path == "/s/ab");
}

TEST_CASE("conditional and Range fields are kept trimmed, repeats joined, overlong ones dropped",
          "[parser][prefix]") {
    constexpr auto inm = static_cast<int>(Captured::if_none_match);
    constexpr auto ims = static_cast<int>(Captured::if_modified_since);
    constexpr auto range = static_cast<int>(Captured::range);
    constexpr auto if_range = static_cast<int>(Captured::if_range);
    Kept k = kept_any_cut(get("/s/a", "HTTP/1.1",
                              "Host: x\r\nIf-None-Match:  \"a\" , W/\"b\"  \r\n"
                              "if-modified-since: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
                              "RANGE:bytes=0-9\r\nIf-Range: \"a\"\r\n"));
    CHECK(k.fields[inm] == "\"a\" , W/\"b\"");
    CHECK(k.fields[ims] == "Sun, 06 Nov 1994 08:49:37 GMT");
    CHECK(k.fields[range] == "bytes=0-9");
    CHECK(k.fields[if_range] == "\"a\"");
    k = kept_any_cut(get("/s/a"));
    CHECK_FALSE(k.fields[inm]);
    CHECK_FALSE(k.fields[ims]);
    CHECK_FALSE(k.fields[range]);
    CHECK_FALSE(k.fields[if_range]);
    k = kept_any_cut(get("/s/a", "HTTP/1.1", "Host: x\r\nIf-None-Match: \"a\"\r\nIf-None-Match: \"b\"\r\n"));
    CHECK(k.fields[inm] == "\"a\", \"b\"");
    CHECK(kept_any_cut(get("/s/a", "HTTP/1.1", "Host: x\r\nRange:\r\n")).fields[range] == "");
    const std::string fits(captured_capacity[range], '1');
    CHECK(kept_any_cut(get("/s/a", "HTTP/1.1", "Host: x\r\nRange: " + fits + "\r\n")).fields[range] == fits);
    CHECK_FALSE(kept_any_cut(get("/s/a", "HTTP/1.1", "Host: x\r\nRange: " + fits + "1\r\n")).fields[range]);
    // Names that merely begin like a kept one are other fields.
    CHECK_FALSE(kept_any_cut(get("/s/a", "HTTP/1.1", "Host: x\r\nRanges: bytes=0-1\r\n")).fields[range]);
}
