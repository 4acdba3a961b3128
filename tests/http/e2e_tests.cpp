// The http plugin inside a real gatiod on loopback: curl, raw sockets (pipelining in one write
// and byte by byte), every limit, and a short wrk run.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gatiod.hpp"

using namespace gatio::http::test;
using namespace std::chrono_literals;

namespace {

const std::string index_html = "<!doctype html>\n<title>gatio</title>\n<p>served by the http plugin</p>\n";

// "web": default limits on both drivers. "tight": small limits on d0 only.
std::vector<Listener> listeners(const TempDir& files) {
    const auto page = files.write("index.html", index_html);
    return {
        {"web", "",
         "server = \"gatio-e2e\"\n"
         "[[listener.options.route]]\npath = \"/\"\nbody = \"hello\\n\"\n"
         "[[listener.options.route]]\npath = \"/index.html\"\nfile = \"" +
             page.string() +
             "\"\n"
             "[[listener.options.route]]\npath = \"/teapot\"\nstatus = 418\nbody = \"short and stout\\n\"\n",
         0},
        {"tight", "drivers = [\"d0\"]",
         "server = \"gatio-tight\"\nmax_header_bytes = 256\nmax_headers = 5\nmax_body = 64\nmax_connections "
         "= 2\n"
         "[[listener.options.route]]\npath = \"/\"\nbody = \"ok\\n\"\n",
         0},
    };
}

std::string url(std::uint16_t port, std::string_view path) {
    return "http://127.0.0.1:" + std::to_string(port) + std::string(path);
}

std::string get(std::string_view path, std::string_view fields = "") {
    return "GET " + std::string(path) + " HTTP/1.1\r\nHost: test\r\n" + std::string(fields) + "\r\n";
}

// The time an IMF-fixdate names; fails the test for any other text.
std::time_t parse_date(const std::string& text) {
    INFO("Date: " << text);
    std::tm tm{};
    const char* end = strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    REQUIRE(end != nullptr);
    REQUIRE(*end == '\0');
    REQUIRE(text.size() == 29);
    return timegm(&tm);
}

} // namespace

TEST_CASE("curl: keep-alive, HEAD, 404 and HTTP/1.0", "[e2e][curl]") {
    TempDir files;
    Gatiod gatiod(listeners(files));
    const std::uint16_t port = gatiod.port("web");

    // Two URLs in one curl run share the connection: the second needs no new connect.
    const auto reuse =
        run_command({"curl", "-sS", "--max-time", "10", "-w", "%{http_code} %{num_connects}\\n", "-o",
                     "/dev/null", url(port, "/"), "-o", "/dev/null", url(port, "/index.html")},
                    30s);
    CHECK(reuse.status == 0);
    CHECK(reuse.output == "200 1\n200 0\n");

    const auto body =
        run_command({"curl", "-sS", "--max-time", "10", "-D", "-", url(port, "/index.html")}, 30s);
    REQUIRE(body.status == 0);
    const auto page = split_responses(body.output);
    REQUIRE(page.size() == 1);
    CHECK(page[0].status == 200);
    CHECK(page[0].body == index_html);
    CHECK(page[0].header("Content-Type") == "text/html; charset=utf-8");
    CHECK(page[0].header("Server") == "gatio-e2e");
    CHECK(std::abs(parse_date(page[0].header("Date")) - std::time(nullptr)) <= 5);

    const auto head = run_command({"curl", "-sS", "--max-time", "10", "-I", url(port, "/index.html")}, 30s);
    REQUIRE(head.status == 0);
    const auto h = split_responses(head.output, {true});
    REQUIRE(h.size() == 1);
    CHECK(h[0].status == 200);
    CHECK(h[0].header("Content-Length") == std::to_string(index_html.size()));
    CHECK(head.output.find("served by") == std::string::npos);

    const auto missing = run_command(
        {"curl", "-sS", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code}", url(port, "/nope")},
        30s);
    CHECK(missing.status == 0);
    CHECK(missing.output == "404");

    const auto old =
        run_command({"curl", "-sS", "--max-time", "10", "--http1.0", "-D", "-", url(port, "/")}, 30s);
    REQUIRE(old.status == 0);
    const auto o = split_responses(old.output);
    REQUIRE(o.size() == 1);
    CHECK(o[0].status == 200);
    CHECK(o[0].header("Connection") == "close");
    CHECK(o[0].body == "hello\n");

    // curl sends "Expect: 100-continue" with a body this large and waits for the interim answer.
    const auto upload = files.write("upload.bin", std::string(100 * 1024, 'u'));
    const auto put = run_command({"curl", "-sS", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code}",
                                  "-T", upload.string(), "-H", "Expect: 100-continue", url(port, "/teapot")},
                                 30s);
    CHECK(put.status == 0);
    CHECK(put.output == "405");

    CHECK(gatiod.stop() == 0);
}

TEST_CASE("100 pipelined requests in one write are answered in order", "[e2e][pipelining]") {
    TempDir files;
    Gatiod gatiod(listeners(files));
    Client c(gatiod.port("web"));
    const std::vector<std::string> paths{"/", "/teapot", "/index.html", "/nope"};
    std::string stream;
    std::vector<bool> head;
    for (std::size_t i = 0; i < 100; ++i) {
        const bool is_head = i % 9 == 4;
        stream += (is_head ? "HEAD " : "GET ") + paths[i % paths.size()] + " HTTP/1.1\r\nHost: test\r\n\r\n";
        head.push_back(is_head);
    }
    c.send(stream);
    const auto r = c.read(100, head);
    REQUIRE(r.size() == 100);
    CHECK(c.pending().empty());
    const std::vector<int> statuses{200, 418, 200, 404};
    const std::vector<std::string> bodies{"hello\n", "short and stout\n", index_html, "Not Found\n"};
    for (std::size_t i = 0; i < r.size(); ++i) {
        INFO("response " << i);
        CHECK(r[i].status == statuses[i % 4]);
        CHECK(r[i].body == (head[i] ? "" : bodies[i % 4]));
        CHECK(r[i].header("Server") == "gatio-e2e");
    }
    // Still open for more.
    c.send(get("/"));
    const auto more = c.read(1);
    REQUIRE(more.size() == 1);
    CHECK(more[0].body == "hello\n");
    CHECK(gatiod.stop() == 0);
}

TEST_CASE("100 pipelined requests sent byte by byte are answered in order", "[e2e][pipelining]") {
    TempDir files;
    Gatiod gatiod(listeners(files));
    Client c(gatiod.port("web"));
    std::string stream;
    for (int i = 0; i < 100; ++i) {
        stream += get(i % 2 == 0 ? "/" : "/teapot");
    }
    c.send_bytewise(stream);
    const auto r = c.read(100);
    REQUIRE(r.size() == 100);
    for (std::size_t i = 0; i < r.size(); ++i) {
        INFO("response " << i);
        CHECK(r[i].status == (i % 2 == 0 ? 200 : 418));
    }
    // Pauses between bytes make every byte arrive in a receive of its own.
    const std::string body_request = "POST /teapot HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                                     "3;x=y\r\nabc\r\n0\r\nTrailer: z\r\n\r\n";
    c.send_bytewise(body_request + get("/"), 500us);
    const auto last = c.read(2);
    REQUIRE(last.size() == 2);
    CHECK(last[0].status == 405);
    CHECK(last[0].header("Allow") == "GET, HEAD");
    CHECK(last[1].status == 200);
    CHECK(gatiod.stop() == 0);
}

TEST_CASE("every limit: at the limit served, past it refused and closed", "[e2e][limits]") {
    TempDir files;
    Gatiod gatiod(listeners(files));
    const std::uint16_t port = gatiod.port("tight");

    // Answers `request` with one response of `status`; a refusal must also close.
    auto expect = [&](const std::string& request, int status) {
        INFO(request);
        Client c(port);
        c.send(request);
        const auto r = c.read(1);
        REQUIRE(r.size() == 1);
        CHECK(r[0].status == status);
        CHECK(r[0].header("Server") == "gatio-tight");
        if (status >= 400) {
            CHECK(r[0].header("Connection") == "close");
            CHECK(c.closed_by_peer());
            CHECK(c.pending().empty());
        }
    };

    const std::string base = get("/", "X-Pad: \r\n");
    expect(get("/", "X-Pad: " + std::string(256 - base.size(), 'p') + "\r\n"), 200);
    expect(get("/", "X-Pad: " + std::string(257 - base.size(), 'p') + "\r\n"), 431);
    expect(get("/", "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n"), 200);
    expect(get("/", "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n"), 431);
    expect(get("/", "Content-Length: 64\r\n") + std::string(64, 'b'), 200);
    expect(get("/", "Content-Length: 65\r\n") + std::string(65, 'b'), 413);
    const std::string chunked = get("/", "Transfer-Encoding: chunked\r\n");
    expect(chunked + "20\r\n" + std::string(32, 'c') + "\r\n20\r\n" + std::string(32, 'c') + "\r\n0\r\n\r\n",
           200);
    expect(chunked + "20\r\n" + std::string(32, 'c') + "\r\n21\r\n" + std::string(33, 'c') + "\r\n0\r\n\r\n",
           413);
    expect("GET / HTTP/1.1\r\nHost: test\r\nBad Field: x\r\n\r\n", 400);
    expect("GET / HTTP/1.1\r\n\r\n", 400);
    expect("GET / HTTP/2.0\r\nHost: test\r\n\r\n", 505);
    expect(get("/", "Transfer-Encoding: gzip\r\n"), 501);
    expect(get("/", "Expect: 200-ok\r\n"), 417);
    // The default listener takes what the tight one refuses.
    Client web(gatiod.port("web"));
    web.send(get("/", "X-Pad: " + std::string(4000, 'p') + "\r\n") + get("/", "Content-Length: 1000\r\n") +
             std::string(1000, 'b'));
    const auto r = web.read(2);
    REQUIRE(r.size() == 2);
    CHECK(r[0].status == 200);
    CHECK(r[1].status == 200);
    CHECK(gatiod.stop() == 0);
}

TEST_CASE("max_connections: a connection beyond the parser slots is refused until one closes",
          "[e2e][limits]") {
    TempDir files;
    Gatiod gatiod(listeners(files));
    const std::uint16_t port = gatiod.port("tight");

    // A connection that got an answer, or nullptr when it was refused.
    auto served = [&]() -> std::unique_ptr<Client> {
        auto c = std::make_unique<Client>(port);
        c->send(get("/"));
        const auto r = c->read(1);
        return r.size() == 1 && r[0].status == 200 ? std::move(c) : nullptr;
    };
    // The start-up probes' connections may still hold slots for a moment.
    auto eventually_served = [&]() {
        for (int attempt = 0; attempt < 200; ++attempt) {
            if (auto c = served()) {
                return c;
            }
            std::this_thread::sleep_for(25ms);
        }
        FAIL("no connection was served within 5 s:\n" << gatiod.log());
        return std::unique_ptr<Client>{};
    };
    auto first = eventually_served();
    auto second = eventually_served();

    Client third(port);
    third.send(get("/"));
    const auto refused = third.read(1);
    REQUIRE(refused.size() == 1);
    CHECK(refused[0].status == 503);
    CHECK(refused[0].header("Connection") == "close");
    CHECK(third.closed_by_peer());
    CHECK(third.pending().empty());

    first.reset();
    auto again = eventually_served();
    CHECK(again != nullptr);
    CHECK(gatiod.wait_for_log("all 2 slots (max_connections) are in use"));
    CHECK(gatiod.stop() == 0);
}

// Parser slots come in blocks of 256 as connections first need them (plugins/http/http.cpp):
// a limit of 300 spans two blocks, the second only partly, and slots given back in either are
// taken again.
TEST_CASE("max_connections: parser slots allocated on use serve every connection up to the limit",
          "[e2e][limits]") {
    constexpr std::size_t limit = 300;
    Gatiod gatiod({{"wide", "drivers = [\"d0\"]",
                    "max_connections = " + std::to_string(limit) +
                        "\n[[listener.options.route]]\npath = \"/\"\nbody = \"ok\\n\"\n",
                    0}});
    const std::uint16_t port = gatiod.port("wide");
    auto ask = [](Client& c) {
        c.send(get("/"));
        const auto r = c.read(1);
        return r.size() == 1 ? r[0].status : 0;
    };
    // The start-up probe's connection may still hold a slot for a moment.
    std::vector<std::unique_ptr<Client>> open;
    for (int attempt = 0; attempt < 200 && open.size() < limit; ++attempt) {
        while (open.size() < limit) {
            auto c = std::make_unique<Client>(port);
            if (ask(*c) != 200) {
                break;
            }
            open.push_back(std::move(c));
        }
        std::this_thread::sleep_for(25ms);
    }
    REQUIRE(open.size() == limit);
    Client beyond(port);
    CHECK(ask(beyond) == 503);

    // One slot of each block back, then two newcomers take them.
    open[10].reset();
    open[270].reset();
    std::size_t served = 0;
    for (int attempt = 0; attempt < 200 && served < 2; ++attempt) {
        auto c = std::make_unique<Client>(port);
        if (ask(*c) == 200) {
            ++served;
            open.push_back(std::move(c));
        } else {
            std::this_thread::sleep_for(25ms);
        }
    }
    CHECK(served == 2);
    // Every connection kept its own slot through it all.
    for (auto& c : open) {
        if (c) {
            CHECK(ask(*c) == 200);
        }
    }
    CHECK(gatiod.stop() == 0);
}

TEST_CASE("Connection: close, unknown methods and malformed requests", "[e2e]") {
    TempDir files;
    Gatiod gatiod(listeners(files));
    const std::uint16_t port = gatiod.port("web");
    {
        Client c(port);
        c.send(get("/", "Connection: close\r\n") + get("/teapot"));
        const auto r = c.read(2);
        REQUIRE(r.size() == 1);
        CHECK(r[0].header("Connection") == "close");
        CHECK(c.closed_by_peer());
        CHECK(c.pending().empty());
    }
    {
        Client c(port);
        c.send("BREW /teapot HTTP/1.1\r\nHost: t\r\n\r\nDELETE / HTTP/1.1\r\nHost: t\r\n\r\n" +
               get("/teapot"));
        const auto r = c.read(3);
        REQUIRE(r.size() == 3);
        CHECK(r[0].status == 501);
        CHECK(r[1].status == 405);
        CHECK(r[1].header("Allow") == "GET, HEAD");
        CHECK(r[2].status == 418);
    }
    {
        Client c(port);
        c.send("GET /\x01 HTTP/1.1\r\nHost: t\r\n\r\n" + get("/"));
        const auto r = c.read(2);
        REQUIRE(r.size() == 1);
        CHECK(r[0].status == 400);
        CHECK(c.closed_by_peer());
    }
    {
        Client c(port);
        c.send("GET / HTTP/1.0\r\n\r\n");
        const auto r = c.read(1);
        REQUIRE(r.size() == 1);
        CHECK(r[0].header("Connection") == "close");
        CHECK(c.closed_by_peer());
    }
    CHECK(gatiod.stop() == 0);
}

TEST_CASE("wrk: a short run with no errors and only 2xx answers", "[e2e][wrk]") {
    TempDir files;
    Gatiod gatiod(listeners(files));
    const auto run = run_command(
        {"wrk", "-t2", "-c32", "-d2s", "--timeout", "5s", url(gatiod.port("web"), "/index.html")}, 60s);
    INFO(run.output);
    REQUIRE(run.status == 0);
    CHECK(run.output.find("Socket errors") == std::string::npos);
    CHECK(run.output.find("Non-2xx") == std::string::npos);
    // "  12345 requests in 2.00s, 1.20MB read"
    const std::size_t at = run.output.find(" requests in ");
    REQUIRE(at != std::string::npos);
    const std::size_t start = run.output.find_last_not_of("0123456789", at - 1) + 1;
    REQUIRE(start < at);
    CHECK(std::stoull(run.output.substr(start, at - start)) > 100);
    CHECK(gatiod.stop() == 0);
}

TEST_CASE("the Date header follows the clock, refreshed by the driver's timer", "[e2e][date]") {
    TempDir files;
    Gatiod gatiod(listeners(files));
    Client c(gatiod.port("web"));
    auto date_now = [&] {
        c.send(get("/"));
        const auto r = c.read(1);
        REQUIRE(r.size() == 1);
        return parse_date(r[0].header("Date"));
    };
    const std::time_t first = date_now();
    CHECK(std::abs(first - std::time(nullptr)) <= 5);
    // Two timer periods later the text must have been reformatted.
    std::this_thread::sleep_for(2100ms);
    const std::time_t second = date_now();
    CHECK(second > first);
    CHECK(std::abs(second - std::time(nullptr)) <= 5);
    CHECK(gatiod.stop() == 0);
}

TEST_CASE("header_timeout and body_timeout: a trickled request gets 408 and is closed", "[e2e][deadline]") {
    // Deadlines of one second; each trickled byte restarts the listener's idle_timeout (60 s), so
    // only the deadlines can end these connections within the tests' bounds.
    Gatiod gatiod({{"slow", "",
                    "header_timeout = \"1s\"\nbody_timeout = \"1s\"\n"
                    "[[listener.options.route]]\npath = \"/\"\nbody = \"ok\\n\"\n",
                    0}});
    const std::uint16_t port = gatiod.port("slow");

    // Sends `bytes` one every 200 ms, reading in between, until an answer arrives; at most 15 s.
    auto trickle = [](Client& c, const std::string& bytes) {
        std::vector<Response> r;
        for (std::size_t i = 0; i < bytes.size() && r.empty(); ++i) {
            c.send(bytes.substr(i, 1));
            r = c.read(1, {}, 200ms);
        }
        return r;
    };
    const std::string endless = "GET / HTTP/1.1\r\nHost: test\r\nX-Slow: " + std::string(75, 's');
    {
        INFO("a head that never ends");
        Client c(port);
        const auto r = trickle(c, endless);
        REQUIRE(r.size() == 1);
        CHECK(r[0].status == 408);
        CHECK(r[0].header("Connection") == "close");
        CHECK(r[0].body == "Request Timeout\n");
        CHECK(c.closed_by_peer());
    }
    {
        INFO("a body that never ends, after a head sent at once");
        Client c(port);
        c.send("POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\n");
        const auto r = trickle(c, std::string(75, 'b'));
        REQUIRE(r.size() == 1);
        CHECK(r[0].status == 408);
        CHECK(c.closed_by_peer());
    }
    {
        INFO("a chunked body trickled chunk by chunk");
        Client c(port);
        c.send("POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n");
        std::string chunks;
        for (int i = 0; i < 25; ++i) {
            chunks += "1\r\nc\r\n";
        }
        const auto r = trickle(c, chunks);
        REQUIRE(r.size() == 1);
        CHECK(r[0].status == 408);
        CHECK(c.closed_by_peer());
    }
    {
        INFO("time between requests is not part of either deadline");
        Client c(port);
        c.send(get("/"));
        REQUIRE(c.read(1).size() == 1);
        std::this_thread::sleep_for(1500ms);
        c.send(get("/"));
        const auto r = c.read(1);
        REQUIRE(r.size() == 1);
        CHECK(r[0].status == 200);
    }
    {
        INFO("a stream of requests, each receive ending inside one, for longer than the deadline");
        Client c(port);
        const std::string one = get("/");
        std::string stream;
        for (int i = 0; i < 26; ++i) {
            stream += one;
        }
        // Every piece completes a request and starts the next; the head in progress after each
        // receive is always a new one.
        std::size_t sent = 0;
        for (int i = 0; i < 25; ++i) {
            const std::size_t end = static_cast<std::size_t>(i) * one.size() + one.size() / 2;
            c.send(stream.substr(sent, end - sent));
            sent = end;
            std::this_thread::sleep_for(100ms);
        }
        c.send(stream.substr(sent));
        const auto r = c.read(26);
        REQUIRE(r.size() == 26);
        for (const Response& each : r) {
            CHECK(each.status == 200);
        }
    }
    CHECK(gatiod.stop() == 0);
}

TEST_CASE("strict framing and Host: bare LF and junk in chunked framing, bad Host values", "[e2e][strict]") {
    TempDir files;
    Gatiod gatiod(listeners(files));
    const std::uint16_t port = gatiod.port("web");
    auto refused = [&](const std::string& request) {
        INFO(request);
        Client c(port);
        c.send(request + get("/"));
        const auto r = c.read(2);
        REQUIRE(r.size() == 1);
        CHECK(r[0].status == 400);
        CHECK(r[0].header("Connection") == "close");
        CHECK(c.closed_by_peer());
    };
    const std::string chunked = "POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n";
    refused(chunked + "5\nhello\n0\n\n");
    refused(chunked + "5 x\r\nhello\r\n0\r\n\r\n");
    refused("GET / HTTP/1.1\r\nHost: a b\r\n\r\n");
    refused("GET / HTTP/1.1\r\nHost: u@x\r\n\r\n");
    {
        // Extensions stay legal: the body is read and the POST answered 405, keeping the connection.
        Client c(port);
        c.send(chunked + "5;name=value;q=\"a b\"\r\nhello\r\n0\r\n\r\n" + get("/"));
        const auto r = c.read(2);
        REQUIRE(r.size() == 2);
        CHECK(r[0].status == 405);
        CHECK(r[1].status == 200);
    }
    const auto host = run_command({"curl", "-sS", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code}",
                                   "-H", "Host: u@x", url(port, "/")},
                                  30s);
    CHECK(host.status == 0);
    CHECK(host.output == "400");
    CHECK(gatiod.stop() == 0);
}
