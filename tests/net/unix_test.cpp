// Unix-domain listeners end to end: gatiod serving echo, http and resp on a socket file, with
// real clients (this test's sockets, curl --unix-socket, redis-cli -s), the socket file's mode,
// its removal on stop, the replacement of a stale one and the refusal of a live one.
#include <catch2/catch.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fmt/format.h>
#include <memory>
#include <string>
#include <sys/stat.h>
#include <sys/un.h>
#include <thread>
#include <vector>

#include "tests/net/client.hpp"
#include "tests/net/process.hpp"
#include "tests/net/temp_dir.hpp"
#include "tests/support/skip.hpp"

using gatio::tests::Process;
using gatio::tests::Socket;
using gatio::tests::TempDir;

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const fs::path gatiod_path{GATIOD_PATH};
const fs::path plugin_dir{GATIO_PLUGIN_OUTPUT_DIR};

std::string listener(const std::string& name, const std::string& address, const std::string& handler,
                     const std::string& extra = "") {
    return fmt::format("[[listener]]\nname = \"{}\"\naddress = \"{}\"\nhandler = \"{}\"\n{}\n", name, address,
                       handler, extra);
}

std::string config(const std::string& listeners) {
    return "[daemon]\nlog_level = \"info\"\nshutdown_grace = \"3s\"\n[topology]\nmode = \"auto\"\n" +
           listeners;
}

std::unique_ptr<Process> start(const TempDir& dir, const std::string& text) {
    const auto file = dir.write("gatio.toml", text);
    return std::make_unique<Process>(std::vector<std::string>{gatiod_path.string(), "-c", file.string(),
                                                              "--plugin-dir", plugin_dir.string(),
                                                              "--log-target", "console"},
                                     dir.path() / "gatiod.log");
}

// Until the log shows `marker` (true) or the process exits (false).
bool wait_for(Process& p, const std::string& marker) {
    const auto end = std::chrono::steady_clock::now() + 30s;
    while (p.log().find(marker) == std::string::npos) {
        if (!p.running() || std::chrono::steady_clock::now() > end) {
            return p.log().find(marker) != std::string::npos;
        }
        std::this_thread::sleep_for(10ms);
    }
    return true;
}

bool socket_file_at(const fs::path& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

// A socket bound at `path` by this test; listening when `listen` is set, else left behind
// closed, as a process that died would leave it.
int bind_unix(const fs::path& path, bool listen) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    if (listen) {
        REQUIRE(::listen(fd, 16) == 0);
        return fd;
    }
    ::close(fd);
    return -1;
}

void check_echo(const fs::path& path, std::size_t clients) {
    std::vector<Socket> conns;
    for (std::size_t i = 0; i < clients; ++i) {
        conns.push_back(Socket::unix_stream(path.string()));
    }
    for (std::size_t i = 0; i < clients; ++i) {
        const std::string line = fmt::format("hello from client {}\n", i);
        conns[i].send_all(line);
        CHECK(conns[i].recv_exact(line.size()) == line);
    }
}

// The output of `command` (run by the shell), with its exit status.
std::pair<int, std::string> run(const std::string& command) {
    std::string out;
    FILE* p = ::popen(command.c_str(), "r");
    REQUIRE(p != nullptr);
    char buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) {
        out.append(buf, n);
    }
    const int status = ::pclose(p);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

bool have(const std::string& tool) {
    return run("command -v " + tool + " >/dev/null 2>&1").first == 0;
}

} // namespace

TEST_CASE("a unix: listener serves echo on every driver with its socket_mode and removes its file on stop",
          "[unix]") {
    TempDir dir;
    const fs::path sock = dir.path() / "echo.sock";
    auto gatiod = start(dir, config(listener("echo", "unix:" + sock.string(), "echo",
                                             "socket_mode = \"0640\"\nmax_connections = 256")));
    REQUIRE(wait_for(*gatiod, "running"));
    INFO(gatiod->log());
    REQUIRE(socket_file_at(sock));
    struct stat st {};
    REQUIRE(::lstat(sock.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0640);
    check_echo(sock, 200);
    CHECK(gatiod->stop() == 0);
    CHECK(!fs::exists(fs::symlink_status(sock)));
}

TEST_CASE("start-up replaces a socket file nothing listens on and refuses one a process answers on",
          "[unix]") {
    TempDir dir;
    const fs::path stale = dir.path() / "stale.sock";
    bind_unix(stale, false);
    REQUIRE(socket_file_at(stale));
    {
        auto gatiod = start(dir, config(listener("echo", "unix:" + stale.string(), "echo")));
        REQUIRE(wait_for(*gatiod, "running"));
        INFO(gatiod->log());
        check_echo(stale, 4);
        CHECK(gatiod->stop() == 0);
        CHECK(!fs::exists(fs::symlink_status(stale)));
    }

    const fs::path live = dir.path() / "live.sock";
    const int theirs = bind_unix(live, true);
    auto gatiod = start(dir, config(listener("echo", "unix:" + live.string(), "echo")));
    const int code = gatiod->wait();
    INFO(gatiod->log());
    CHECK(code != 0);
    CHECK(gatiod->log().find("a process already listens on \"" + live.string() + "\"") != std::string::npos);
    // Theirs is untouched: still there, still answering.
    CHECK(socket_file_at(live));
    Socket client = Socket::unix_stream(live.string());
    const int accepted = ::accept(theirs, nullptr, nullptr);
    CHECK(accepted >= 0);
    ::close(accepted);
    ::close(theirs);
}

TEST_CASE("curl and redis-cli talk to the http and resp handlers over unix: listeners", "[unix][clients]") {
    if (!have("curl") || !have("redis-cli")) {
        GATIO_SKIP("curl or redis-cli is not installed");
    }
    TempDir dir;
    const fs::path web = dir.path() / "web.sock";
    const fs::path kv = dir.path() / "kv.sock";
    auto gatiod =
        start(dir, config(listener("web", "unix:" + web.string(), "http",
                                   "[[listener.options.route]]\npath = \"/\"\nbody = \"hello\\n\"") +
                          listener("kv", "unix:" + kv.string(), "resp")));
    REQUIRE(wait_for(*gatiod, "running"));
    INFO(gatiod->log());
    const auto [curl_code, body] =
        run("curl -sS --max-time 10 --unix-socket " + web.string() + " http://gatio/");
    CHECK(curl_code == 0);
    CHECK(body == "hello\n");
    const auto [set_code, set] = run("redis-cli -s " + kv.string() + " SET greeting hi");
    CHECK(set_code == 0);
    CHECK(set == "OK\n");
    const auto [get_code, got] = run("redis-cli -s " + kv.string() + " GET greeting");
    CHECK(get_code == 0);
    CHECK(got == "hi\n");
    CHECK(gatiod->stop() == 0);
    CHECK(!fs::exists(fs::symlink_status(web)));
    CHECK(!fs::exists(fs::symlink_status(kv)));
}

TEST_CASE("a reload keeps a unix: listener's socket and moves one whose path changed", "[unix][reload]") {
    TempDir dir;
    const fs::path first = dir.path() / "first.sock";
    const fs::path second = dir.path() / "second.sock";
    const fs::path kept = dir.path() / "kept.sock";
    auto gatiod =
        start(dir, config(listener("moving", "unix:" + first.string(), "echo") +
                          listener("kept", "unix:" + kept.string(), "echo", "idle_timeout = \"30s\"")));
    REQUIRE(wait_for(*gatiod, "running"));
    INFO(gatiod->log());
    Socket before = Socket::unix_stream(kept.string());
    check_echo(first, 2);

    // "kept" changes a setting but not its address: same socket file, same accept queue.
    dir.write("gatio.toml",
              config(listener("moving", "unix:" + second.string(), "echo") +
                     listener("kept", "unix:" + kept.string(), "echo", "idle_timeout = \"20s\"")));
    ::kill(gatiod->pid(), SIGHUP);
    REQUIRE(wait_for(*gatiod, "reload: listener \"kept\""));
    REQUIRE(wait_for(*gatiod, "reload: listener \"moving\""));
    const auto end = std::chrono::steady_clock::now() + 30s;
    while ((!socket_file_at(second) || fs::exists(fs::symlink_status(first))) &&
           std::chrono::steady_clock::now() < end) {
        std::this_thread::sleep_for(10ms);
    }
    CHECK(!fs::exists(fs::symlink_status(first)));
    check_echo(second, 2);
    REQUIRE(socket_file_at(kept));
    check_echo(kept, 2);
    // The connection of the old generation still works.
    before.send_all("still here\n");
    CHECK(before.recv_exact(11) == "still here\n");
    before.close();
    CHECK(gatiod->stop() == 0);
    CHECK(!fs::exists(fs::symlink_status(kept)));
    CHECK(!fs::exists(fs::symlink_status(second)));
}
