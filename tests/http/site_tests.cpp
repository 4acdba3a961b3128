// The rendered site, in-process: the exact bytes of an answer, which answer each request gets,
// pipelining order, connection outcomes, and output failures.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "check.hpp"
#include "responses.hpp"
#include "site.hpp"

using namespace gatio::http;
using check::bytes;
using test::split_responses;

namespace {

constexpr std::string_view date = "Sun, 06 Nov 1994 08:49:37 GMT";

Settings sample_settings() {
    Settings s;
    s.server = "gatio-test";
    s.routes = {
        {"/teapot", 418, "text/plain", "short and stout\n"},
        {"/", 200, "text/plain; charset=utf-8", "root\n"},
        {"/index.html", 200, "text/html; charset=utf-8", "<p>index</p>\n"},
        {"/empty", 200, "application/octet-stream", ""},
    };
    return s;
}

class Collect final : public Output {
public:
    bool write(std::span<const iovec> slices) override {
        ++writes;
        if (refuse) {
            return false;
        }
        for (const iovec& v : slices) {
            text.append(static_cast<const char*>(v.iov_base), v.iov_len);
        }
        return true;
    }
    std::string text;
    int writes = 0;
    bool refuse = false;
};

struct Served {
    std::string text;
    Verdict verdict;
};

Served serve(Site& site, std::string_view input) {
    Parser p = site.make_parser();
    Collect out;
    const Verdict v = site.serve(p, bytes(input), date, out);
    return {out.text, v};
}

std::string get(std::string_view path, std::string_view fields = "") {
    return "GET " + std::string(path) + " HTTP/1.1\r\nHost: t\r\n" + std::string(fields) + "\r\n";
}

} // namespace

TEST_CASE("a GET is answered with the route's pre-rendered response, byte for byte", "[site]") {
    Site site(sample_settings());
    const Served s = serve(site, get("/"));
    CHECK(s.verdict == Verdict::keep);
    CHECK(s.text == "HTTP/1.1 200 OK\r\n"
                    "Server: gatio-test\r\n"
                    "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
                    "Content-Type: text/plain; charset=utf-8\r\n"
                    "Content-Length: 5\r\n"
                    "\r\n"
                    "root\n");
}

TEST_CASE("every answer carries Date, Server, Content-Length and Content-Type", "[site]") {
    Site site(sample_settings());
    const std::vector<std::string> requests{
        get("/index.html"),
        get("/teapot"),
        get("/empty"),
        get("/missing"),
        "POST /index.html HTTP/1.1\r\nHost: t\r\n\r\n",
        "BREW / HTTP/1.1\r\nHost: t\r\n\r\n",
        "GET / HTTP/1.1\r\n\r\n",
        "GET / HTTP/3.0\r\n\r\n",
    };
    const std::vector<int> statuses{200, 418, 200, 404, 405, 501, 400, 505};
    for (std::size_t i = 0; i < requests.size(); ++i) {
        INFO(requests[i]);
        const auto r = split_responses(serve(site, requests[i]).text);
        REQUIRE(r.size() == 1);
        CHECK(r[0].version == "HTTP/1.1");
        CHECK(r[0].status == statuses[i]);
        CHECK(r[0].header("Date") == date);
        CHECK(r[0].header("Server") == "gatio-test");
        CHECK(r[0].header("Content-Length") == std::to_string(r[0].body.size()));
        CHECK_FALSE(r[0].header("Content-Type").empty());
    }
    const auto teapot = split_responses(serve(site, get("/teapot")).text);
    CHECK(teapot[0].reason == "I'm a teapot");
    CHECK(teapot[0].body == "short and stout\n");
    const auto not_allowed = split_responses(serve(site, "DELETE /teapot HTTP/1.1\r\nHost: t\r\n\r\n").text);
    CHECK(not_allowed[0].status == 405);
    CHECK(not_allowed[0].header("Allow") == "GET, HEAD");
    // A known method on a path without a route is simply not found.
    CHECK(split_responses(serve(site, "PUT /nowhere HTTP/1.1\r\nHost: t\r\n\r\n").text)[0].status == 404);
}

TEST_CASE("HEAD gets the GET headers without the body", "[site]") {
    Site site(sample_settings());
    const Served s = serve(site, "HEAD /index.html HTTP/1.1\r\nHost: t\r\n\r\n" + get("/"));
    const auto r = split_responses(s.text, {true, false});
    REQUIRE(r.size() == 2);
    CHECK(r[0].status == 200);
    CHECK(r[0].header("Content-Length") == "13");
    CHECK(r[0].body.empty());
    CHECK(r[1].body == "root\n");
    CHECK(s.text.find("<p>index</p>") == std::string::npos);
    const auto missing = split_responses(serve(site, "HEAD /nope HTTP/1.1\r\nHost: t\r\n\r\n").text, {true});
    CHECK(missing[0].status == 404);
    CHECK(missing[0].body.empty());
}

TEST_CASE("the connection outcome follows the request", "[site]") {
    Site site(sample_settings());
    SECTION("HTTP/1.0 closes and says so") {
        const Served s = serve(site, "GET / HTTP/1.0\r\n\r\n" + get("/"));
        CHECK(s.verdict == Verdict::close);
        const auto r = split_responses(s.text);
        REQUIRE(r.size() == 1); // nothing after the closing request is answered
        CHECK(r[0].header("Connection") == "close");
    }
    SECTION("HTTP/1.0 keep-alive is confirmed") {
        const Served s = serve(site, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        CHECK(s.verdict == Verdict::keep);
        CHECK(split_responses(s.text)[0].header("Connection") == "keep-alive");
    }
    SECTION("HTTP/1.1 keep-alive is implicit") {
        const Served s = serve(site, get("/"));
        CHECK(s.verdict == Verdict::keep);
        CHECK_FALSE(split_responses(s.text)[0].has("Connection"));
    }
    SECTION("Connection: close on HTTP/1.1") {
        const Served s = serve(site, get("/", "Connection: close\r\n") + get("/teapot"));
        CHECK(s.verdict == Verdict::close);
        const auto r = split_responses(s.text);
        REQUIRE(r.size() == 1);
        CHECK(r[0].header("Connection") == "close");
    }
    SECTION("an error answers, then closes, after the answers before it") {
        const Served s = serve(site, get("/") + get("/teapot") +
                                         "GET / HTTP/1.1\r\nHost: t\r\nBad Name: x\r\n\r\n" + get("/"));
        CHECK(s.verdict == Verdict::close);
        const auto r = split_responses(s.text);
        REQUIRE(r.size() == 3);
        CHECK(r[0].status == 200);
        CHECK(r[1].status == 418);
        CHECK(r[2].status == 400);
        CHECK(r[2].header("Connection") == "close");
    }
}

TEST_CASE("limits are answered with 431 and 413", "[site][limits]") {
    Settings settings = sample_settings();
    settings.limits.max_header_bytes = 128;
    settings.limits.max_headers = 4;
    settings.limits.max_body = 16;
    Site site(std::move(settings));
    const auto long_head =
        split_responses(serve(site, get("/", "X: " + std::string(128, 'x') + "\r\n")).text);
    CHECK(long_head[0].status == 431);
    const auto many = split_responses(serve(site, get("/", "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n")).text);
    CHECK(many[0].status == 431);
    const Served big = serve(site, "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 17\r\n\r\n");
    CHECK(big.verdict == Verdict::close);
    CHECK(split_responses(big.text)[0].status == 413);
    const Served fits =
        serve(site, "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 16\r\n\r\n0123456789abcdef");
    CHECK(fits.verdict == Verdict::keep);
    CHECK(split_responses(fits.text)[0].status == 405);
}

TEST_CASE("Expect: 100-continue gets an interim answer before the body is read", "[site]") {
    Site site(sample_settings());
    Parser p = site.make_parser();
    Collect out;
    const std::string head =
        "PUT /missing HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n";
    CHECK(site.serve(p, bytes(head), date, out) == Verdict::keep);
    CHECK(out.text == "HTTP/1.1 100 Continue\r\n\r\n");
    CHECK(site.serve(p, bytes("data"), date, out) == Verdict::keep);
    const auto r = split_responses(out.text);
    REQUIRE(r.size() == 2);
    CHECK(r[0].status == 100);
    CHECK(r[1].status == 404);
}

TEST_CASE("100 pipelined requests are answered in request order, in one receive or byte by byte",
          "[site][pipelining]") {
    Site site(sample_settings());
    const std::vector<std::string> paths{"/", "/teapot", "/index.html", "/missing", "/empty"};
    std::string stream;
    std::vector<bool> head;
    for (int i = 0; i < 100; ++i) {
        const bool is_head = i % 7 == 3;
        stream += (is_head ? "HEAD " : "GET ") + paths[static_cast<std::size_t>(i) % paths.size()] +
                  " HTTP/1.1\r\nHost: t\r\n\r\n";
        head.push_back(is_head);
    }
    Parser p = site.make_parser();
    Collect out;
    CHECK(site.serve(p, bytes(stream), date, out) == Verdict::keep);
    CHECK(out.writes > 1); // more answers than one batch holds
    std::string rest;
    const auto r = split_responses(out.text, head, &rest);
    CHECK(rest.empty());
    REQUIRE(r.size() == 100);
    const std::vector<int> statuses{200, 418, 200, 404, 200};
    for (std::size_t i = 0; i < r.size(); ++i) {
        INFO("response " << i);
        CHECK(r[i].status == statuses[i % statuses.size()]);
    }
    CHECK(r[0].body == "root\n");
    CHECK(r[1].body == "short and stout\n");
    CHECK(r[2].body == "<p>index</p>\n");
    CHECK(r[3].body.empty()); // HEAD /missing
    CHECK(r[8].body == "Not Found\n");

    CHECK(check::serve_trace(site, bytes(stream), check::every_byte(stream.size()), date) == out.text);
}

TEST_CASE("answers are identical however the requests are cut", "[site][split]") {
    Site site(sample_settings());
    const std::string stream = get("/") +
                               "POST /index.html HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
                               "Expect: 100-continue\r\n\r\n3\r\nabc\r\n0\r\n\r\n" +
                               "HEAD /teapot HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" +
                               "GET /empty HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nxy" +
                               get("/", "Connection: close\r\n");
    const std::string whole = check::serve_trace(site, bytes(stream), {}, date);
    CHECK(whole.ends_with("[close]"));
    for (std::size_t cut = 1; cut < stream.size(); ++cut) {
        const std::size_t cuts[] = {cut};
        INFO("cut at " << cut);
        CHECK(check::serve_trace(site, bytes(stream), cuts, date) == whole);
    }
}

TEST_CASE("an output that refuses the answers resets the connection", "[site]") {
    Site site(sample_settings());
    Parser p = site.make_parser();
    Collect out;
    out.refuse = true;
    CHECK(site.serve(p, bytes(get("/")), date, out) == Verdict::reset);
    std::string many;
    for (int i = 0; i < 100; ++i) {
        many += get("/");
    }
    Parser q = site.make_parser();
    CHECK(site.serve(q, bytes(many), date, out) == Verdict::reset);
    // The site is usable again afterwards.
    Collect fine;
    Parser r = site.make_parser();
    CHECK(site.serve(r, bytes(get("/")), date, fine) == Verdict::keep);
    CHECK(split_responses(fine.text).size() == 1);
}

TEST_CASE("a connection without a parser slot is told 503 and closed", "[site]") {
    Site site(sample_settings());
    Collect out;
    CHECK(site.refuse(date, out));
    const auto r = split_responses(out.text);
    REQUIRE(r.size() == 1);
    CHECK(r[0].status == 503);
    CHECK(r[0].reason == "Service Unavailable");
    CHECK(r[0].header("Connection") == "close");
    CHECK(r[0].header("Date") == date);
    Collect refusing;
    refusing.refuse = true;
    CHECK_FALSE(site.refuse(date, refusing));
}

TEST_CASE("the head of an answer from a file carries its validators, range and connection", "[site][files]") {
    Settings s = sample_settings();
    Site site(std::move(s));
    std::string out(1024, '#');
    FileHead h;
    h.content_type = "text/plain; charset=utf-8";
    h.length = 20;
    h.size = 20;
    h.etag = "\"5f-14\"";
    h.last_modified = date;
    auto head = [&](Site::Tail tail) { return out.substr(0, site.file_head(out, h, tail, date)); };
    CHECK(head(Site::keep_alive_11) == "HTTP/1.1 200 OK\r\nServer: gatio-test\r\nDate: " + std::string(date) +
                                           "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 20"
                                           "\r\nLast-Modified: " +
                                           std::string(date) +
                                           "\r\nETag: \"5f-14\"\r\nAccept-Ranges: bytes\r\n\r\n");
    CHECK(head(Site::close_connection).ends_with("Accept-Ranges: bytes\r\nConnection: close\r\n\r\n"));
    CHECK(head(Site::keep_alive_10).ends_with("Accept-Ranges: bytes\r\nConnection: keep-alive\r\n\r\n"));
    h.status = 206;
    h.first = 5;
    h.length = 10;
    CHECK(head(Site::keep_alive_11).find("\r\nContent-Length: 10\r\n") != std::string::npos);
    CHECK(head(Site::keep_alive_11).ends_with("\r\nContent-Range: bytes 5-14/20\r\n\r\n"));
    h.status = 416;
    h.length = 0;
    const std::string unsatisfiable = head(Site::keep_alive_11);
    CHECK(unsatisfiable.starts_with("HTTP/1.1 416 Range Not Satisfiable\r\n"));
    CHECK(unsatisfiable.find("Content-Type") == std::string::npos);
    CHECK(unsatisfiable.ends_with("\r\nContent-Range: bytes */20\r\n\r\n"));
    h.status = 304;
    const std::string not_modified = head(Site::keep_alive_11);
    CHECK(not_modified.starts_with("HTTP/1.1 304 Not Modified\r\n"));
    CHECK(not_modified.find("Content-Length") == std::string::npos);
    CHECK(not_modified.find("\r\nETag: \"5f-14\"\r\n") != std::string::npos);
    h.status = 301;
    h.location = "/s/sub/";
    const std::string moved = head(Site::keep_alive_11);
    CHECK(moved.find("\r\nLocation: /s/sub/\r\nContent-Length: 0\r\n\r\n") != std::string::npos);
    CHECK(moved.find("ETag") == std::string::npos);
    // Too small a buffer gives 0, never a cut head.
    CHECK(site.file_head(std::span<char>(out.data(), 40), h, Site::keep_alive_11, date) == 0);
}

TEST_CASE("a root route's GET or HEAD stops serve at its request; other methods get 405", "[site][files]") {
    Settings s = sample_settings();
    Route files;
    files.path = "/s/";
    files.root = "/srv";
    files.index = "index.html";
    s.routes.push_back(files);
    Site site(std::move(s));
    Parser p = site.make_parser();
    Collect out;
    const std::string first = get("/");
    const std::string input = first + get("/s/a.txt") + get("/");
    std::size_t consumed = 0;
    CHECK(site.serve(p, bytes(input), date, out, &consumed) == Verdict::file);
    CHECK(consumed == first.size() + get("/s/a.txt").size());
    CHECK(p.path() == std::nullopt);              // this parser was lent no capture buffer
    CHECK(split_responses(out.text).size() == 1); // the answer before it is written
    CHECK(serve(site, "POST /s/a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
              .text.starts_with("HTTP/1.1 405 "));
    CHECK(serve(site, get("/sx")).text.starts_with("HTTP/1.1 404 "));
}
