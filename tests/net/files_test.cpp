// The file services end to end (ABI 1.4): gatiod with the files test handler
// (tests/net/files_plugin.cpp) opening, reading, writing and streaming real files through its
// drivers' rings, and cancelling what is pending when a file is closed, when its instance is
// retired by a reload and when gatiod stops.
#include <catch2/catch.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <sys/stat.h>
#include <sys/types.h>
#include <thread>
#include <unistd.h>

#include <gatio/plugin.h>

#include "tests/support/gatiod.hpp"
#include "tests/support/socket.hpp"
#include "tests/support/temp_dir.hpp"

using gatio::test::free_port;
using gatio::test::Gatiod;
using gatio::test::Socket;
using gatio::test::TempDir;

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const fs::path test_plugins{GATIO_TEST_PLUGIN_DIR};

// gatiod serving the files handler on two listeners (a and b) of one driver, so that a handle
// of one instance can be offered to another and each listener has exactly one instance. As root it runs as
// "nobody", so that a file only root may read answers EACCES.
class Server {
public:
    explicit Server(std::string network = "", std::string a_keys = "", std::string generation = "1")
        : a_(free_port()), b_(free_port()), network_(std::move(network)), a_keys_(std::move(a_keys)) {
        // Readable by "nobody": the folder and what the tests put in it.
        ::chmod(dir_.path().c_str(), 0755);
        gatiod_ = std::make_unique<Gatiod>(write(generation));
    }

    fs::path write(const std::string& generation) {
        return dir_.write("gatio.toml", fmt::format(R"([daemon]
log_level = "info"
shutdown_grace = "5s"
{}
[network]
{}
[topology]
mode = "auto"
cpus = "0"
[[listener]]
name = "a"
address = "127.0.0.1:{}"
handler = "{}"
{}
[listener.options]
generation = {}
[[listener]]
name = "b"
address = "127.0.0.1:{}"
handler = "{}"
)",
                                                    ::geteuid() == 0 ? "user = \"nobody\"" : "", network_, a_,
                                                    (test_plugins / "files.so").string(), a_keys_, generation,
                                                    b_, (test_plugins / "files.so").string()));
    }

    void reload(const std::string& generation) {
        write(generation);
        REQUIRE(gatiod_->reload());
    }

    Socket a() const { return Socket::tcp(a_); }
    Socket b() const { return Socket::tcp(b_); }
    const fs::path& dir() const { return dir_.path(); }
    Gatiod& gatiod() { return *gatiod_; }

    fs::path file(const std::string& name, const std::string& content) const {
        const fs::path p = dir_.path() / name;
        std::ofstream(p, std::ios::binary) << content;
        ::chmod(p.c_str(), 0644);
        return p;
    }

private:
    TempDir dir_{"files"};
    std::uint16_t a_, b_;
    std::string network_, a_keys_;
    std::unique_ptr<Gatiod> gatiod_;
};

std::string ask(const Socket& s, const std::string& line) {
    s.send_all(line + "\n");
    return s.recv_line();
}

std::string sha256_of(const fs::path& p) {
    std::string out;
    std::FILE* f = ::popen(("sha256sum " + p.string()).c_str(), "r");
    REQUIRE(f != nullptr);
    char buf[128];
    while (std::fgets(buf, sizeof buf, f) != nullptr) {
        out += buf;
    }
    ::pclose(f);
    return out.substr(0, out.find(' '));
}

} // namespace

TEST_CASE("files: errors come back as the negative errno", "[files][gatiod]") {
    Server server;
    Socket s = server.a();
    const fs::path hello = server.file("hello.txt", "hello, files\n");
    CHECK(ask(s, "open r " + hello.string()) == "open OK 13 13 100644");
    CHECK(ask(s, "open r " + (server.dir() / "missing").string()) == "open ERR ENOENT");
    // A directory opens for reading (its stat says so) but cannot be read; for writing it
    // does not open.
    fs::create_directory(server.dir() / "sub");
    CHECK(ask(s, "open w " + (server.dir() / "sub").string()) == "open ERR EISDIR");
    CHECK(ask(s, "open r " + (server.dir() / "sub").string()) == "open ERR EISDIR");
    CHECK(ask(s, "open d " + hello.string()) == "open ERR ENOTDIR");

    // As root, gatiod runs as nobody here (Server), for whom a file of mode 0600 owned by root
    // is unreadable; as another user, a file of mode 0000 is unreadable to its owner.
    const fs::path secret = server.file("secret.txt", "secret\n");
    ::chmod(secret.c_str(), ::geteuid() == 0 ? 0600 : 0000);
    CHECK(ask(s, "open r " + secret.string()) == "open ERR EACCES");
}

TEST_CASE("files: writes, fsync and reads back; opens confined beneath a directory", "[files][gatiod]") {
    Server server;
    Socket s = server.a();
    const fs::path out = server.dir() / "out.txt";
    ::chmod(server.dir().c_str(), 0777); // "nobody" creates a file in it
    CHECK(ask(s, "write " + out.string() + " written through the ring") == "write OK 24");
    CHECK(ask(s, "open r " + out.string()) == "open OK 24 24 100600");

    fs::create_directory(server.dir() / "www");
    ::chmod((server.dir() / "www").c_str(), 0755);
    server.file("www/index.html", "<p>hi</p>\n");
    server.file("outside.txt", "outside\n");
    fs::create_symlink(server.dir() / "outside.txt", server.dir() / "www" / "link");
    CHECK(ask(s, "root " + (server.dir() / "www").string()) == "root OK");
    CHECK(ask(s, "open rb index.html") == "open OK 10 10 100644");
    CHECK(ask(s, "open rb ../outside.txt") == "open ERR EXDEV");
    CHECK(ask(s, "open rb " + (server.dir() / "outside.txt").string()) == "open ERR EXDEV");
    CHECK(ask(s, "open rb link") == "open ERR ELOOP");
}

TEST_CASE("files: a file truncated while it is read reads short, as it is now", "[files][gatiod]") {
    Server server;
    Socket s = server.a();
    const fs::path big = server.file("big.bin", std::string(256 * 1024, 'x'));
    CHECK(ask(s, "trunc " + big.string()) == "trunc 65536");
    REQUIRE(::truncate(big.c_str(), 1000) == 0);
    CHECK(ask(s, "next") == "next 0 1000");
}

TEST_CASE("files: stale and foreign handles are refused", "[files][gatiod]") {
    Server server;
    const fs::path hello = server.file("hello.txt", "hello\n");
    Socket a = server.a();
    Socket b = server.b();
    CHECK(ask(a, "stale " + hello.string()) == fmt::format("stale {}", static_cast<int>(GATIO_ERR_INVALID)));
    CHECK(ask(a, "hold " + hello.string()) == "hold OK");
    // Listener b's instance is another instance: the handle is not its.
    CHECK(ask(b, "use") == fmt::format("use {}", static_cast<int>(GATIO_ERR_INVALID)));
    CHECK(ask(a, "use") == "use 0");
}

TEST_CASE("files: limits answer GATIO_ERR_LIMIT", "[files][gatiod]") {
    Server server("lent_buffers = 2", "max_open_files = 4");
    const fs::path hello = server.file("hello.txt", "hello\n");
    Socket a = server.a();
    CHECK(ask(a, "many 6 " + hello.string()) == "many OK 4 LIMIT 2");
    // The open file counts: 3 lent reads find 2 buffers.
    CHECK(ask(a, "lents 3 " + hello.string()) == "lents 2 LIMIT 1");
    // Everything came back: the same again works.
    CHECK(ask(a, "lents 2 " + hello.string()) == "lents 2 LIMIT 0");
}

TEST_CASE("files: an open never waits for a FIFO's peer, and the descriptor blocks again once open",
          "[files][gatiod]") {
    Server server;
    Socket s = server.a();
    // The kernel opens a FIFO it finds in its caches without waiting even so; one behind a
    // symlink too long for its inode (ext4 keeps up to 60 bytes there) is opened by an io_uring
    // worker, where an open that waits for the FIFO's peer would wait for ever.
    const fs::path fifo = server.dir() / "fifo";
    REQUIRE(::mkfifo(fifo.c_str(), 0666) == 0);
    ::chmod(fifo.c_str(), 0666);
    const std::string far(80, 'd');
    fs::create_directory(server.dir() / far);
    ::chmod((server.dir() / far).c_str(), 0755);
    REQUIRE(::mkfifo((server.dir() / far / "fifo").c_str(), 0666) == 0);
    ::chmod((server.dir() / far / "fifo").c_str(), 0666);
    const fs::path link = server.dir() / "far-fifo";
    fs::create_symlink(far + "/fifo", link);
    for (const fs::path& p : {fifo, link}) {
        INFO(p);
        // Without a writer: open for reading at once, and it is a FIFO.
        CHECK(ask(s, "mode r " + p.string()) == "mode OK 10666");
        // Without a reader: an open for writing fails at once.
        CHECK(ask(s, "mode w " + p.string()) == "mode ERR ENXIO");
    }
    // A read of it waits for data like a socket's (O_NONBLOCK was for the open only), and is
    // cancelled by the close.
    CHECK(ask(s, "pend " + link.string()) == "pend OK");
    CHECK(ask(s, "unpend") == "unpend -125 0");
    // Regular files read as before.
    const fs::path hello = server.file("hello.txt", "hello, files\n");
    CHECK(ask(s, "open r " + hello.string()) == "open OK 13 13 100644");
}

TEST_CASE("files: file_close cancels a pending read once", "[files][gatiod]") {
    Server server;
    const fs::path fifo = server.dir() / "fifo";
    REQUIRE(::mkfifo(fifo.c_str(), 0666) == 0);
    ::chmod(fifo.c_str(), 0666);
    Socket a = server.a();
    CHECK(ask(a, "pend " + fifo.string()) == "pend OK");
    CHECK(ask(a, "unpend") == "unpend -125 0");
    CHECK(server.gatiod().wait_for_log("files: pending read done -125", 10s));
    CHECK(server.gatiod().count("files: pending read done") == 1);
}

TEST_CASE("files: a retired instance's pending read is cancelled once before it is destroyed",
          "[files][gatiod][reload]") {
    Server server;
    const fs::path fifo = server.dir() / "fifo";
    REQUIRE(::mkfifo(fifo.c_str(), 0666) == 0);
    ::chmod(fifo.c_str(), 0666);
    {
        Socket a = server.a();
        CHECK(ask(a, "pend " + fifo.string()) == "pend OK");
        server.reload("2");
        // The old instance serves its connection to the end: the read is still pending.
        CHECK(server.gatiod().count("files: pending read done") == 0);
    }
    REQUIRE(server.gatiod().wait_for_log("files: instance destroyed", 20s));
    const std::string log = server.gatiod().log();
    const auto cancelled = log.find("files: pending read done -125");
    REQUIRE(cancelled != std::string::npos);
    CHECK(cancelled < log.find("files: instance destroyed"));
    CHECK(server.gatiod().count("files: pending read done") == 1);
}

TEST_CASE("files: gatiod's stop cancels a pending read once", "[files][gatiod]") {
    Server server;
    const fs::path fifo = server.dir() / "fifo";
    REQUIRE(::mkfifo(fifo.c_str(), 0666) == 0);
    ::chmod(fifo.c_str(), 0666);
    Socket a = server.a();
    CHECK(ask(a, "pend " + fifo.string()) == "pend OK");
    CHECK(server.gatiod().stop(30s) == 0);
    CHECK(server.gatiod().count("files: pending read done -125") == 1);
    CHECK(server.gatiod().count("files: pending read done") == 1);
}

TEST_CASE("files: a large file streamed from lent buffers arrives whole, with memory bounded",
          "[files][gatiod]") {
    Server server;
    const fs::path big = server.dir() / "large.bin";
    {
        std::mt19937_64 rng(12);
        std::ofstream out(big, std::ios::binary);
        std::vector<std::uint64_t> block(8192);
        for (int i = 0; i < 96 * 16; ++i) { // 96 MiB
            for (auto& w : block) {
                w = rng();
            }
            out.write(reinterpret_cast<const char*>(block.data()),
                      static_cast<std::streamsize>(block.size() * 8));
        }
    }
    ::chmod(big.c_str(), 0644);
    const std::uint64_t before = gatio::test::status_kib(server.gatiod().pid(), "VmHWM:");
    REQUIRE(before > 0);
    Socket a = server.a();
    a.send_all("send " + big.string() + "\n");
    std::string got;
    REQUIRE(a.recv_until_eof(got));
    REQUIRE(got.size() == fs::file_size(big));
    const fs::path copy = server.dir() / "copy.bin";
    std::ofstream(copy, std::ios::binary).write(got.data(), static_cast<std::streamsize>(got.size()));
    CHECK(sha256_of(copy) == sha256_of(big));
    // The lent pool (64 x 256 KiB) and the handler's 4 MiB of queued output bound it, far
    // below the file's 96 MiB.
    const std::uint64_t after = gatio::test::status_kib(server.gatiod().pid(), "VmHWM:");
    INFO("VmHWM (the most resident memory gatiod ever had) before " << before << " KiB, after " << after
                                                                    << " KiB");
    CHECK(after - before < 40 * 1024);
}

TEST_CASE("files: a coroutine reads a file with the file awaitables", "[files][gatiod][coro]") {
    TempDir dir{"files-coro"};
    ::chmod(dir.path().c_str(), 0755);
    const std::uint16_t port = free_port();
    const fs::path config =
        dir.write("gatio.toml", fmt::format(R"([daemon]
log_level = "info"
[topology]
mode = "auto"
cpus = "0"
[[listener]]
name = "cat"
address = "127.0.0.1:{}"
handler = "{}"
[listener.options]
coroutine_block_size = "16KiB" # the frame holds a 4 KiB read buffer
)",
                                            port, (test_plugins / "files_coro.so").string()));
    std::string content;
    for (int i = 0; content.size() < 10000; ++i) {
        content += "line " + std::to_string(i) + "\n";
    }
    const fs::path file = dir.path() / "lines.txt";
    std::ofstream(file, std::ios::binary) << content;
    Gatiod gatiod(config);
    Socket s = Socket::tcp(port);
    s.send_all("cat " + file.string() + "\n");
    const std::string got = s.recv_exact(content.size());
    CHECK(got == content);
    CHECK(s.recv_line().empty());
    CHECK(s.recv_line() == fmt::format("end {} {} 0", content.size(), content.size()));
    s.send_all("cat " + (dir.path() / "missing").string() + "\n");
    CHECK(s.recv_line() == "error -2");
}
