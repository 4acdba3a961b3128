// Files sent from registered lent buffers with SEND_ZC ([network] zerocopy_send): the same
// bytes with it on and off, the threshold, every buffer back after a client left mid-transfer,
// and the plain path when RLIMIT_MEMLOCK forbids pinning the buffers.
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "gatiod.hpp"
#include "tests/support/skip.hpp"

using namespace gatio::http::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

struct Site {
    TempDir dir;
    fs::path www;
    std::string digest_1m, digest_64m;
    Site() : www(dir.path() / "www") {
        fs::create_directories(www);
        dir.write("www/small.bin", std::string(8u << 10, 's'));
        digest_1m = write_random("www/one.bin", 1u << 20);
        digest_64m = write_random("www/big.bin", 64u << 20);
        // Readable by "nobody" too.
        fs::permissions(dir.path(), fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
        fs::permissions(www, fs::perms::owner_all | fs::perms::others_read | fs::perms::others_exec);
    }
    std::string write_random(const std::string& name, std::size_t size) {
        std::string content(size, '\0');
        std::uint64_t x = 88172645463325252ull + size;
        for (auto& ch : content) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ch = static_cast<char>(x);
        }
        const fs::path p = dir.write(name, content);
        fs::permissions(p, fs::perms::owner_read | fs::perms::owner_write | fs::perms::others_read);
        const CommandResult r = run_command({"sha256sum", p.string()}, 60s);
        REQUIRE(r.status == 0);
        return r.output.substr(0, 64);
    }
};

std::vector<Listener> listener(const fs::path& root) {
    return {{"web", "",
             "server = \"gatio-files\"\n[[listener.options.route]]\npath = \"/s/\"\nroot = \"" +
                 root.string() + "\"\n",
             0}};
}

// [daemon] keys, then [network] with `network`, then [admin] on `admin`.
std::string toml(std::uint16_t admin, const std::string& network, const std::string& daemon = "") {
    return daemon + "\n[network]\n" + network + "\n[admin]\nlisten = \"127.0.0.1:" + std::to_string(admin) +
           "\"\n";
}

std::string url(std::uint16_t port, std::string_view path) {
    return "http://127.0.0.1:" + std::to_string(port) + std::string(path);
}

std::string download_digest(std::uint16_t port, std::string_view path) {
    const CommandResult r =
        run_command({"sh", "-c", "curl -sS --max-time 120 " + url(port, path) + " | sha256sum"}, 180s);
    REQUIRE(r.status == 0);
    return r.output.substr(0, 64);
}

// The sum over drivers of a /metrics sample.
long metric(std::uint16_t admin, const std::string& name) {
    const CommandResult r = run_command({"curl", "-sS", "--max-time", "10", url(admin, "/metrics")}, 20s);
    REQUIRE(r.status == 0);
    std::istringstream in(r.output);
    std::string line;
    long sum = 0;
    bool seen = false;
    while (std::getline(in, line)) {
        if (line.rfind(name, 0) == 0 && line.size() > name.size() &&
            (line[name.size()] == '{' || line[name.size()] == ' ')) {
            sum += std::stol(line.substr(line.rfind(' ') + 1));
            seen = true;
        }
    }
    INFO(r.output);
    REQUIRE(seen);
    return sum;
}

// Bounded: the buffers come back once the kernel's notifications arrived.
long await_metric(std::uint16_t admin, const std::string& name, long want) {
    long v = metric(admin, name);
    for (int i = 0; i < 200 && v != want; ++i) {
        std::this_thread::sleep_for(50ms);
        v = metric(admin, name);
    }
    return v;
}

} // namespace

TEST_CASE("1 MiB and 64 MiB files are the same bytes with zero-copy sends on and off",
          "[e2e][files][zerocopy]") {
    Site site;
    for (const bool on : {true, false}) {
        INFO("zerocopy_send = " << on);
        const std::uint16_t admin = free_port();
        Gatiod gatiod(listener(site.www),
                      toml(admin, std::string("zerocopy_send = ") + (on ? "true" : "false")));
        const std::uint16_t port = gatiod.port("web");
        CHECK(download_digest(port, "/s/one.bin") == site.digest_1m);
        CHECK(download_digest(port, "/s/big.bin") == site.digest_64m);
        const long sends = metric(admin, "gatio_driver_zerocopy_sends_total");
        if (on) {
            CHECK(sends > 0);
            CHECK(metric(admin, "gatio_lent_buffers_registered") > 0);
        } else {
            CHECK(sends == 0);
            CHECK(metric(admin, "gatio_lent_buffers_registered") == 0);
        }
        CHECK(metric(admin, "gatio_driver_zerocopy_fallbacks_total") == 0);
        CHECK(await_metric(admin, "gatio_lent_buffers_out", 0) == 0);
        CHECK(gatiod.stop() == 0);
    }
}

TEST_CASE("slices below zerocopy_send_min are sent with copies", "[e2e][files][zerocopy]") {
    Site site;
    const std::uint16_t admin = free_port();
    // 8 KiB files stay below the threshold, a 1 MiB file's 256 KiB slices reach it.
    Gatiod gatiod(listener(site.www), toml(admin, "zerocopy_send = true\nzerocopy_send_min = \"16KiB\""));
    const std::uint16_t port = gatiod.port("web");
    for (int i = 0; i < 5; ++i) {
        const CommandResult r =
            run_command({"curl", "-sS", "-o", "/dev/null", url(port, "/s/small.bin")}, 30s);
        REQUIRE(r.status == 0);
    }
    CHECK(metric(admin, "gatio_driver_zerocopy_sends_total") == 0);
    CHECK(download_digest(port, "/s/one.bin") == site.digest_1m);
    CHECK(metric(admin, "gatio_driver_zerocopy_sends_total") >= 4);
    CHECK(gatiod.stop() == 0);
}

TEST_CASE("a client that leaves mid-transfer gives every lent buffer back", "[e2e][files][zerocopy]") {
    Site site;
    const std::uint16_t admin = free_port();
    Gatiod gatiod(listener(site.www), toml(admin, "zerocopy_send = true"));
    const std::uint16_t port = gatiod.port("web");
    for (int round = 0; round < 3; ++round) {
        ::gatio::test::Socket socket = ::gatio::test::Socket::tcp(port, 10s, 64 * 1024);
        socket.send_all("GET /s/big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
        std::size_t got = 0;
        char buf[65536];
        while (got < (2u << 20)) {
            const ssize_t n = socket.receive(buf, sizeof buf);
            REQUIRE(n > 0);
            got += static_cast<std::size_t>(n);
        }
        // Closed with unread bytes: the kernel resets the connection.
    }
    // The /metrics request's own connection is the one left open.
    CHECK(await_metric(admin, "gatio_connections_open", 1) == 1);
    CHECK(await_metric(admin, "gatio_lent_buffers_out", 0) == 0);
    CHECK(metric(admin, "gatio_driver_zerocopy_sends_total") > 0);
    // And it still serves whole files.
    CHECK(download_digest(port, "/s/one.bin") == site.digest_1m);
    CHECK(await_metric(admin, "gatio_lent_buffers_out", 0) == 0);
    CHECK(gatiod.stop() == 0);
}

TEST_CASE("with RLIMIT_MEMLOCK too small to pin a lent buffer, files go the plain way, and the log says why",
          "[e2e][files][zerocopy]") {
    if (::geteuid() != 0) {
        GATIO_SKIP("not root: gatiod cannot run as nobody here, whose locked memory the kernel counts");
    }
    Site site;
    const std::uint16_t admin = free_port();
    // 4 MiB of locked memory: room for the rings, not for one 8 MiB lent buffer; as nobody,
    // without CAP_IPC_LOCK, the kernel counts it.
    Gatiod gatiod(listener(site.www),
                  toml(admin, "zerocopy_send = true\nlent_buffer_size = \"8MiB\"", "user = \"nobody\""),
                  {"/usr/bin/prlimit", "--memlock=4194304:4194304", "--"});
    const std::uint16_t port = gatiod.port("web");
    CHECK(download_digest(port, "/s/one.bin") == site.digest_1m);
    CHECK(download_digest(port, "/s/big.bin") == site.digest_64m);
    CHECK(gatiod.wait_for_log("files are sent with copies from now on"));
    CHECK(metric(admin, "gatio_driver_zerocopy_sends_total") == 0);
    CHECK(metric(admin, "gatio_lent_buffers_registered") == 0);
    CHECK(await_metric(admin, "gatio_lent_buffers_out", 0) == 0);
    CHECK(gatiod.stop() == 0);
}
