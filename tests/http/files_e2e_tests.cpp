// Root routes inside a real gatiod, driven by curl and raw sockets: the answers from files,
// every conditional and Range case, folders, refusals, files that change or shrink while
// served, and 100 concurrent downloads with gatiod's memory bounded.
#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <gatio/plugin.h>

#include "date.hpp"
#include "gatiod.hpp"
#include "tests/support/child.hpp"

using namespace gatio::http::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

std::string url(std::uint16_t port, std::string_view path) {
    return "http://127.0.0.1:" + std::to_string(port) + std::string(path);
}

// The folder served at /s/: a page, a folder with an index, one without, and a file outside.
struct Site {
    TempDir dir;
    fs::path www;
    Site() : www(dir.path() / "www") {
        fs::create_directories(www / "sub");
        fs::create_directories(www / "bare");
        dir.write("www/index.html", "<p>root index</p>\n");
        dir.write("www/a.txt", "0123456789abcdefghij"); // 20 bytes
        dir.write("www/sub/index.html", "<p>sub index</p>\n");
        dir.write("www/style.css", "p{}\n");
        dir.write("www/bare/data.bin", std::string(100, 'x'));
        dir.write("secret.txt", "outside the root\n");
    }
};

std::vector<Listener> listener(const fs::path& root, std::string_view more = "") {
    return {{"web", "",
             "server = \"gatio-files\"\n" + std::string(more) +
                 "[[listener.options.route]]\npath = \"/\"\nbody = \"home\\n\"\n"
                 "[[listener.options.route]]\npath = \"/s/\"\nroot = \"" +
                 root.string() + "\"\n",
             0}};
}

// One driver's instance serves the listener, so that every request finds the same open-file
// cache.
std::vector<Listener> cached(const fs::path& root, std::string_view more) {
    auto l = listener(root, "open_file_cache = " + std::string(more) + "\n");
    l[0].extra = "drivers = [\"d0\"]";
    return l;
}

// One request through curl: the response with its head, extra arguments in front of the URL.
// A HEAD's answer (-I) has no body.
Response curl(std::uint16_t port, std::string_view path, const std::vector<std::string>& extra = {},
              bool head = false) {
    std::vector<std::string> argv{"curl", "-sS", "--max-time", "20", "--path-as-is"};
    if (head) {
        argv.push_back("-I");
    } else {
        argv.insert(argv.end(), {"-D", "-", "-o", "-"});
    }
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back(url(port, path));
    const CommandResult r = run_command(argv, 30s);
    INFO(r.output);
    REQUIRE(r.status == 0);
    auto responses = split_responses(r.output, {head});
    REQUIRE(responses.size() >= 1);
    return responses.back();
}

int status(std::uint16_t port, std::string_view path, const std::vector<std::string>& extra = {}) {
    return curl(port, path, extra).status;
}

} // namespace

TEST_CASE("a root route serves files with their type, validators and length; HEAD the same head",
          "[e2e][files]") {
    Site site;
    Gatiod gatiod(listener(site.www));
    const std::uint16_t port = gatiod.port("web");

    const Response a = curl(port, "/s/a.txt");
    CHECK(a.status == 200);
    CHECK(a.body == "0123456789abcdefghij");
    CHECK(a.header("Content-Type") == "text/plain; charset=utf-8");
    CHECK(a.header("Content-Length") == "20");
    CHECK(a.header("Accept-Ranges") == "bytes");
    CHECK(a.header("Server") == "gatio-files");
    CHECK(a.header("ETag").size() > 2);
    const auto mtime = fs::last_write_time(site.www / "a.txt");
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(
                             std::chrono::file_clock::to_sys(mtime).time_since_epoch())
                             .count();
    char lm[gatio::http::date_length];
    gatio::http::format_date(static_cast<std::time_t>(seconds), lm);
    CHECK(a.header("Last-Modified") == std::string(lm, sizeof lm));

    const Response head = curl(port, "/s/a.txt", {}, true);
    CHECK(head.status == 200);
    CHECK(head.header("Content-Length") == "20");
    CHECK(head.header("ETag") == a.header("ETag"));
    CHECK(head.body.empty());

    CHECK(curl(port, "/s/style.css").header("Content-Type") == "text/css; charset=utf-8");
    CHECK(curl(port, "/s/bare/data.bin").header("Content-Type") == "application/octet-stream");
    // The static route beside it still answers.
    CHECK(curl(port, "/").body == "home\n");
    CHECK(gatiod.stop() == 0);
}

TEST_CASE("folders: the index file with a trailing '/', a redirect without, 404 without an index",
          "[e2e][files]") {
    Site site;
    Gatiod gatiod(listener(site.www));
    const std::uint16_t port = gatiod.port("web");
    const Response root = curl(port, "/s/");
    CHECK(root.status == 200);
    CHECK(root.body == "<p>root index</p>\n");
    CHECK(root.header("Content-Type") == "text/html; charset=utf-8");
    CHECK(curl(port, "/s/sub/").body == "<p>sub index</p>\n");
    const Response redirect = curl(port, "/s/sub");
    CHECK(redirect.status == 301);
    CHECK(redirect.header("Location") == "/s/sub/");
    CHECK(status(port, "/s/bare/") == 404);
    CHECK(gatiod.stop() == 0);
}

TEST_CASE("a route's index option names another file, or none", "[e2e][files]") {
    Site site;
    site.dir.write("www/sub/home.htm", "<p>home</p>\n");
    Gatiod gatiod({{"web", "",
                    "[[listener.options.route]]\npath = \"/a/\"\nroot = \"" + site.www.string() +
                        "\"\nindex = \"home.htm\"\n"
                        "[[listener.options.route]]\npath = \"/b/\"\nroot = \"" +
                        site.www.string() + "\"\nindex = \"\"\n",
                    0}});
    const std::uint16_t port = gatiod.port("web");
    CHECK(curl(port, "/a/sub/").body == "<p>home</p>\n");
    CHECK(status(port, "/a/") == 404);
    CHECK(status(port, "/b/sub/") == 404);
    CHECK(curl(port, "/b/sub/index.html").status == 200);
    CHECK(gatiod.stop() == 0);
}

TEST_CASE("If-None-Match and If-Modified-Since answer 304; other validators the file", "[e2e][files]") {
    Site site;
    Gatiod gatiod(listener(site.www));
    const std::uint16_t port = gatiod.port("web");
    const Response a = curl(port, "/s/a.txt");
    const std::string etag = a.header("ETag");
    const std::string lm = a.header("Last-Modified");

    const Response hit = curl(port, "/s/a.txt", {"-H", "If-None-Match: " + etag});
    CHECK(hit.status == 304);
    CHECK(hit.body.empty());
    CHECK(hit.header("ETag") == etag);
    CHECK(hit.header("Last-Modified") == lm);
    CHECK(status(port, "/s/a.txt", {"-H", "If-None-Match: \"x\", W/" + etag}) == 304);
    CHECK(status(port, "/s/a.txt", {"-H", "If-None-Match: *"}) == 304);
    CHECK(status(port, "/s/a.txt", {"-H", "If-None-Match: \"other\""}) == 200);

    CHECK(status(port, "/s/a.txt", {"-H", "If-Modified-Since: " + lm}) == 304);
    CHECK(status(port, "/s/a.txt", {"-H", "If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT"}) == 200);
    CHECK(status(port, "/s/a.txt", {"-H", "If-Modified-Since: not a date"}) == 200);
    // If-None-Match decides alone when both are there.
    CHECK(status(port, "/s/a.txt", {"-H", "If-None-Match: \"other\"", "-H", "If-Modified-Since: " + lm}) ==
          200);
    CHECK(curl(port, "/s/a.txt", {"-H", "If-None-Match: " + etag}, true).status == 304);
    CHECK(gatiod.stop() == 0);
}

TEST_CASE("a single Range is answered 206, past the end 416, several ranges or a stale If-Range whole",
          "[e2e][files]") {
    Site site;
    Gatiod gatiod(listener(site.www));
    const std::uint16_t port = gatiod.port("web");
    const std::string etag = curl(port, "/s/a.txt").header("ETag");

    Response r = curl(port, "/s/a.txt", {"-r", "0-9"});
    CHECK(r.status == 206);
    CHECK(r.body == "0123456789");
    CHECK(r.header("Content-Range") == "bytes 0-9/20");
    CHECK(r.header("Content-Length") == "10");
    r = curl(port, "/s/a.txt", {"-r", "15-"});
    CHECK(r.status == 206);
    CHECK(r.body == "fghij");
    CHECK(r.header("Content-Range") == "bytes 15-19/20");
    r = curl(port, "/s/a.txt", {"-r", "-3"});
    CHECK(r.status == 206);
    CHECK(r.body == "hij");
    r = curl(port, "/s/a.txt", {"-r", "18-100"});
    CHECK(r.status == 206);
    CHECK(r.body == "ij");
    CHECK(r.header("Content-Range") == "bytes 18-19/20");

    r = curl(port, "/s/a.txt", {"-r", "20-"});
    CHECK(r.status == 416);
    CHECK(r.header("Content-Range") == "bytes */20");
    CHECK(r.body.empty());
    CHECK(status(port, "/s/a.txt", {"-H", "Range: bytes=-0"}) == 416);

    r = curl(port, "/s/a.txt", {"-r", "0-1,5-6"});
    CHECK(r.status == 200);
    CHECK(r.body.size() == 20);
    CHECK(status(port, "/s/a.txt", {"-H", "Range: bytes=5-2"}) == 200);
    CHECK(status(port, "/s/a.txt", {"-r", "0-1", "-H", "If-Range: " + etag}) == 206);
    r = curl(port, "/s/a.txt", {"-r", "0-1", "-H", "If-Range: \"changed\""});
    CHECK(r.status == 200);
    CHECK(r.body.size() == 20);
    // HEAD with a Range has the head a GET would get.
    r = curl(port, "/s/a.txt", {"-r", "2-4"}, true);
    CHECK(r.status == 206);
    CHECK(r.header("Content-Range") == "bytes 2-4/20");
    CHECK(gatiod.stop() == 0);
}

TEST_CASE("missing files are 404, unreadable ones 403, and other methods 405", "[e2e][files]") {
    Site site;
    // Root reads files whatever their mode, so as root gatiod runs as "nobody", for whom the
    // site is readable and the locked file is not.
    const bool as_root = ::geteuid() == 0;
    if (as_root) {
        fs::permissions(site.dir.path(), fs::perms::owner_all | fs::perms::group_read |
                                             fs::perms::group_exec | fs::perms::others_read |
                                             fs::perms::others_exec);
    }
    const fs::path locked = site.dir.write("www/locked.txt", "no");
    fs::permissions(locked, fs::perms::none);
    Gatiod gatiod(listener(site.www), as_root ? "user = \"nobody\"" : "");
    const std::uint16_t port = gatiod.port("web");
    CHECK(status(port, "/s/none.txt") == 404);
    CHECK(status(port, "/s/none/a.txt") == 404);
    CHECK(status(port, "/s/a.txt/x") == 404); // a file used as a folder
    CHECK(status(port, "/s/a.txt", {"-X", "POST"}) == 405);
    CHECK(status(port, "/s/a.txt") == 200);
    CHECK(status(port, "/s/locked.txt") == 403);
    CHECK(gatiod.stop() == 0);
}

TEST_CASE("a FIFO, a unix socket or a device under the root is 403 at once, and serving goes on",
          "[e2e][files]") {
    Site site;
    // A FIFO nobody writes to: an open that waited for a writer would never answer. The kernel
    // opens one it finds in its caches at once even so; one behind a symlink too long to live in
    // its inode (ext4 keeps up to 60 bytes there) is opened by an io_uring worker, which waits.
    REQUIRE(::mkfifo((site.www / "pipe").c_str(), 0644) == 0);
    const std::string far(80, 'd');
    fs::create_directories(site.www / far);
    REQUIRE(::mkfifo((site.www / far / "pipe").c_str(), 0644) == 0);
    fs::create_symlink(far + "/pipe", site.www / "far-pipe");
    const fs::path sock = site.www / "sock";
    const int listening = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(listening >= 0);
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    REQUIRE(sock.string().size() < sizeof sun.sun_path);
    std::memcpy(sun.sun_path, sock.c_str(), sock.string().size());
    REQUIRE(::bind(listening, reinterpret_cast<const sockaddr*>(&sun), sizeof sun) == 0);
    REQUIRE(::listen(listening, 4) == 0);
    // A character device (the null device's numbers) where this test may make one: as root.
    const bool device = ::mknod((site.www / "null").c_str(), S_IFCHR | 0644, ::makedev(1, 3)) == 0;
    Gatiod gatiod(listener(site.www));
    const std::uint16_t port = gatiod.port("web");
    for (int round = 0; round < 3; ++round) {
        CHECK(status(port, "/s/pipe") == 403);
        CHECK(status(port, "/s/far-pipe") == 403);
        CHECK(curl(port, "/s/far-pipe", {}, true).status == 403);
        CHECK(status(port, "/s/sock") == 403);
        if (device) {
            CHECK(status(port, "/s/null") == 403);
        }
        CHECK(status(port, "/s/a.txt") == 200);
    }
    // Many at once, then the files beside them still answer.
    const std::string script = "for i in $(seq 20); do curl -sS -o /dev/null -w '%{http_code}\\n' "
                               "--max-time 20 " +
                               url(port, "/s/far-pipe") + " & done; wait";
    const CommandResult r = run_command({"sh", "-c", script}, 60s);
    REQUIRE(r.status == 0);
    std::size_t refused = 0;
    for (std::size_t at = r.output.find("403"); at != std::string::npos; at = r.output.find("403", at + 1)) {
        ++refused;
    }
    CHECK(refused == 20);
    CHECK(curl(port, "/s/a.txt").body == "0123456789abcdefghij");
    CHECK(gatiod.stop() == 0);
    ::close(listening);
}

TEST_CASE("a file gatiod cannot open for want of a file slot is a 503 that the log explains",
          "[e2e][files]") {
    Site site;
    // One file slot per driver, which the route's root folder holds: no file can be opened.
    Gatiod gatiod(listener(site.www), "\n[network]\nopen_files = 1");
    const std::uint16_t port = gatiod.port("web");
    CHECK(status(port, "/s/a.txt") == 503);
    // Which file, where and why.
    CHECK(gatiod.wait_for_log("http: file \"" + site.www.string() + "/a.txt\" on listener web on driver "));
    CHECK(gatiod.wait_for_log(": open: the host refused it (" + std::to_string(GATIO_ERR_LIMIT) +
                              ") (1 such failures so far)"));
    CHECK(gatiod.stop() == 0);
}

TEST_CASE("'..' raw or percent-encoded, NUL and symlinks out of the root are refused", "[e2e][files]") {
    Site site;
    fs::create_symlink(site.dir.path() / "secret.txt", site.www / "out-abs");
    fs::create_symlink("../secret.txt", site.www / "out-rel");
    fs::create_symlink("a.txt", site.www / "in");
    fs::create_symlink(site.dir.path(), site.www / "up");
    Gatiod gatiod(listener(site.www));
    const std::uint16_t port = gatiod.port("web");
    for (const char* path :
         {"/s/../secret.txt", "/s/sub/../../secret.txt", "/s/%2e%2e/secret.txt", "/s/%2E%2E%2Fsecret.txt",
          "/s/sub/%2e%2e/index.html", "/s/..%2fsecret.txt", "/s/.%2e/secret.txt"}) {
        INFO(path);
        const Response r = curl(port, path);
        CHECK(r.status == 403);
        CHECK(r.body.find("outside") == std::string::npos);
    }
    CHECK(status(port, "/s/a%00.txt") == 400);
    CHECK(status(port, "/s/out-abs") == 403);
    CHECK(status(port, "/s/out-rel") == 403);
    CHECK(status(port, "/s/up/secret.txt") == 403);
    const Response in = curl(port, "/s/in");
    CHECK(in.status == 200); // a symlink that stays inside is followed
    CHECK(in.body == "0123456789abcdefghij");
    CHECK(curl(port, "/s/%61.txt").body == "0123456789abcdefghij"); // %61 is 'a'
    CHECK(gatiod.stop() == 0);
}

TEST_CASE("a file changed after start is served as it is now", "[e2e][files]") {
    Site site;
    Gatiod gatiod(listener(site.www));
    const std::uint16_t port = gatiod.port("web");
    const Response before = curl(port, "/s/a.txt");
    site.dir.write("www/a.txt", "rewritten, longer than before\n");
    const auto later = std::chrono::system_clock::now() + 2s;
    fs::last_write_time(site.www / "a.txt", std::chrono::file_clock::from_sys(later));
    const Response after = curl(port, "/s/a.txt");
    CHECK(after.body == "rewritten, longer than before\n");
    CHECK(after.header("ETag") != before.header("ETag"));
    CHECK(status(port, "/s/a.txt", {"-H", "If-None-Match: " + before.header("ETag")}) == 200);
    site.dir.write("www/new.txt", "created after start\n");
    CHECK(curl(port, "/s/new.txt").body == "created after start\n");
    fs::remove(site.www / "new.txt");
    CHECK(status(port, "/s/new.txt") == 404);
    CHECK(gatiod.stop() == 0);
}

TEST_CASE("the open-file cache answers from the file it opened until its validity is over",
          "[e2e][files][cache]") {
    Site site;
    {
        // A validity longer than the test: a file replaced or removed after its first answer is
        // still answered from the descriptor the cache holds, which shows that nothing is opened.
        Gatiod gatiod(cached(site.www, "8\nopen_file_cache_valid = \"1h\""));
        const std::uint16_t port = gatiod.port("web");
        const Response first = curl(port, "/s/a.txt");
        CHECK(first.body == "0123456789abcdefghij");
        site.dir.write("www/a.txt", "replaced"); // written to another name and renamed over it
        const Response again = curl(port, "/s/a.txt");
        CHECK(again.body == "0123456789abcdefghij");
        CHECK(again.header("ETag") == first.header("ETag"));
        CHECK(status(port, "/s/a.txt", {"-H", "If-None-Match: " + first.header("ETag")}) == 304);
        CHECK(curl(port, "/s/a.txt", {"-H", "Range: bytes=2-4"}).body == "234");
        CHECK(curl(port, "/s/a.txt", {}, true).header("Content-Length") == "20");
        CHECK(curl(port, "/s/sub/").body == "<p>sub index</p>\n");
        fs::remove(site.www / "sub" / "index.html");
        CHECK(curl(port, "/s/sub/").body == "<p>sub index</p>\n"); // the index file, cached too
        CHECK(gatiod.stop() == 0);
    }
    site.dir.write("www/a.txt", "0123456789abcdefghij");
    site.dir.write("www/sub/index.html", "<p>sub index</p>\n");
    {
        // A short validity: once it is over, the file is opened again and served as it is now.
        Gatiod gatiod(cached(site.www, "8\nopen_file_cache_valid = \"200ms\""));
        const std::uint16_t port = gatiod.port("web");
        CHECK(curl(port, "/s/a.txt").body == "0123456789abcdefghij");
        CHECK(curl(port, "/s/bare/data.bin").body == std::string(100, 'x'));
        site.dir.write("www/a.txt", "replaced");
        fs::remove(site.www / "bare" / "data.bin");
        std::this_thread::sleep_for(300ms);
        CHECK(curl(port, "/s/a.txt").body == "replaced");
        CHECK(status(port, "/s/bare/data.bin") == 404);
        CHECK(gatiod.stop() == 0);
    }
}

TEST_CASE("the open-file cache holds at most open_file_cache files, the least recently used giving way",
          "[e2e][files][cache]") {
    Site site;
    Gatiod gatiod(cached(site.www, "1\nopen_file_cache_valid = \"1h\""));
    const std::uint16_t port = gatiod.port("web");
    CHECK(curl(port, "/s/a.txt").body == "0123456789abcdefghij");
    site.dir.write("www/a.txt", "replaced");
    CHECK(curl(port, "/s/a.txt").body == "0123456789abcdefghij"); // cached
    CHECK(curl(port, "/s/style.css").body == "p{}\n");            // takes the one entry
    CHECK(curl(port, "/s/a.txt").body == "replaced");             // opened again
    // Many clients at once on files that take turns in the one entry: every answer whole.
    const std::string script = "for i in $(seq 30); do curl -sS --max-time 20 " + url(port, "/s/a.txt") +
                               " " + url(port, "/s/style.css") + " " + url(port, "/s/bare/data.bin") +
                               " & done; wait";
    const CommandResult r = run_command({"sh", "-c", script}, 60s);
    REQUIRE(r.status == 0);
    std::size_t replaced = 0;
    for (std::size_t at = r.output.find("replaced"); at != std::string::npos;
         at = r.output.find("replaced", at + 1)) {
        ++replaced;
    }
    CHECK(replaced == 30);
    CHECK(r.output.size() == 30 * (8 + 4 + 100));
    CHECK(gatiod.stop() == 0);
}

TEST_CASE("pipelined file and route requests are answered in order", "[e2e][files][pipelining]") {
    Site site;
    Gatiod gatiod(listener(site.www));
    Client client(gatiod.port("web"));
    std::string requests;
    const std::vector<std::string> paths{"/s/a.txt", "/", "/s/sub/", "/s/none", "/s/a.txt", "/"};
    for (const auto& p : paths) {
        requests += "GET " + p + " HTTP/1.1\r\nHost: t\r\nRange: bytes=0-3\r\n\r\n";
    }
    client.send(requests);
    const auto answers = client.read(paths.size());
    REQUIRE(answers.size() == paths.size());
    CHECK(answers[0].status == 206);
    CHECK(answers[0].body == "0123");
    CHECK(answers[1].body == "home\n");
    CHECK(answers[2].status == 206);
    CHECK(answers[2].body == "<p>s");
    CHECK(answers[3].status == 404);
    CHECK(answers[4].body == "0123");
    CHECK(answers[5].body == "home\n");
    CHECK(gatiod.stop() == 0);
}

TEST_CASE("a file truncated while it is sent ends the connection with the bytes that were there",
          "[e2e][files]") {
    Site site;
    const std::size_t size = 64u << 20;
    std::string content(size, '\0');
    for (std::size_t i = 0; i < size; ++i) {
        content[i] = static_cast<char>('a' + i % 26);
    }
    site.dir.write("www/big.bin", content);
    Gatiod gatiod(listener(site.www, "read_ahead = \"64KiB\"\n"));
    const std::uint16_t port = gatiod.port("web");

    // A client that reads a little, then waits while the file shrinks, then reads the rest.
    ::gatio::test::Socket socket = ::gatio::test::Socket::tcp(port, 10s, 64 * 1024);
    socket.send_all("GET /s/big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
    std::string got;
    char buf[65536];
    while (got.size() < (1u << 20)) {
        const ssize_t n = socket.receive(buf, sizeof buf);
        REQUIRE(n > 0);
        got.append(buf, static_cast<std::size_t>(n));
    }
    REQUIRE(::truncate((site.www / "big.bin").c_str(), 4u << 20) == 0);
    for (;;) {
        const ssize_t n = socket.receive(buf, sizeof buf);
        if (n <= 0) {
            break;
        }
        got.append(buf, static_cast<std::size_t>(n));
    }
    const std::size_t head_end = got.find("\r\n\r\n");
    REQUIRE(head_end != std::string::npos);
    CHECK(got.substr(0, 15) == "HTTP/1.1 200 OK");
    const std::string body = got.substr(head_end + 4);
    INFO("body bytes received: " << body.size());
    CHECK(body.size() < size); // the connection ended before the promised length
    CHECK(body == content.substr(0, body.size()));
    // gatiod is still serving.
    CHECK(curl(port, "/s/a.txt").status == 200);
    CHECK(gatiod.stop() == 0);
}

TEST_CASE("100 concurrent downloads of a 64 MiB file are whole, with gatiod's memory bounded",
          "[e2e][files][load]") {
    Site site;
    const std::size_t size = 64u << 20;
    std::string content(size, '\0');
    std::uint64_t x = 88172645463325252ull;
    for (std::size_t i = 0; i < size; ++i) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        content[i] = static_cast<char>(x);
    }
    const fs::path big = site.dir.write("www/big.bin", content);
    content.clear();
    content.shrink_to_fit();
    const CommandResult expected = run_command({"sha256sum", big.string()}, 60s);
    REQUIRE(expected.status == 0);
    const std::string digest = expected.output.substr(0, 64);

    Gatiod gatiod(listener(site.www));
    const std::uint16_t port = gatiod.port("web");
    CHECK(curl(port, "/s/a.txt").status == 200);
    const std::uint64_t rss_before = gatio::test::status_kib(gatiod.pid(), "VmRSS:");

    // Each download hashes what it received; all 100 run at once.
    const std::string script = "for i in $(seq 100); do (curl -sS --max-time 300 " + url(port, "/s/big.bin") +
                               " | sha256sum > " + (site.dir.path() / "sum.").string() + "$i) & done; wait";
    const CommandResult r = run_command({"sh", "-c", script}, 600s);
    REQUIRE(r.status == 0);
    const std::uint64_t peak = gatio::test::status_kib(gatiod.pid(), "VmHWM:");
    int whole = 0;
    for (int i = 1; i <= 100; ++i) {
        std::ifstream in(site.dir.path() / ("sum." + std::to_string(i)));
        std::string line;
        std::getline(in, line);
        whole += line.substr(0, 64) == digest ? 1 : 0;
    }
    CHECK(whole == 100);
    // 6.4 GiB went out; gatiod's resident memory grew by less than one copy of the file.
    INFO("gatiod RSS before " << rss_before << " KiB, peak " << peak << " KiB");
    CHECK(peak < rss_before + (size >> 10));
    CHECK(gatiod.stop() == 0);
}
