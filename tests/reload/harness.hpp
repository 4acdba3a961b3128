// What the reload and metrics tests share: gatiod as a child process with a configuration file
// the test rewrites, the AF_UNIX socket it notifies, and blocking loopback clients bounded in
// time.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

#include "tests/support/gatiod.hpp"
#include "tests/support/notify.hpp"
#include "tests/support/socket.hpp"
#include "tests/support/temp_dir.hpp"

namespace gatio::reload_test {

using namespace std::chrono_literals;

inline const std::string gatiod_path = GATIOD_PATH;
inline const std::string plugin_dir = GATIO_PLUGIN_OUTPUT_DIR;
inline const std::string shout_plugin = SHOUT_PLUGIN; // shout_plugin.cpp, built
// tally_plugin.cpp, built with listener-state layouts "gatio.test.tally/1" and "/2"
inline const std::string tally1_plugin = TALLY1_PLUGIN;
inline const std::string tally2_plugin = TALLY2_PLUGIN;

// Written to a temporary name, then renamed over `name` (TempDir::write): readers see the old
// or the new.
using TempDir = ::gatio::test::TempDir;

// A loopback TCP port nobody is bound to right now.
inline int free_port() {
    return ::gatio::test::free_port();
}

// The path of executable `name` from PATH ("" when there is none).
using ::gatio::test::find_program;

// A [[listener]] table; `extra` goes inside it (more keys, then option tables).
std::string listener(std::string_view name, int port, std::string_view handler, std::string_view extra = "");
// An http listener with one route "/" answering `body`.
std::string http_listener(std::string_view name, int port, std::string_view body);
// A whole file: two drivers (d0 and d1 on the first two allowed CPUs, both io+exec), small
// rings, [admin] on `admin_port` unless it is 0, then `listeners`.
std::string config_text(std::string_view listeners, int admin_port = 0);

// The socket a service manager listens on (NOTIFY_SOCKET for gatiod).
class NotifySocket {
public:
    explicit NotifySocket(const std::filesystem::path& path) : socket_(path) {}

    std::string env() const { return socket_.env(); }
    // Receives until a message satisfies `match` (returned) or the timeout passes.
    std::optional<std::string> wait_for(const std::function<bool(const std::string&)>& match,
                                        std::chrono::milliseconds timeout);

private:
    ::gatio::test::NotifySocket socket_;
};

// The value of NAME= in a notification, if present.
inline std::optional<std::string> field(const std::string& message, std::string_view name) {
    return ::gatio::test::notify_field(message, name);
}

// gatiod on `config_file`, logging to the console, started by the constructor, which returns
// once it runs (REQUIRE). The destructor kills it if stop() was not called.
class Gatiod {
public:
    explicit Gatiod(const std::filesystem::path& config_file, const std::vector<std::string>& env = {})
        : gatiod_(config_file, env) {}

    // SIGHUP, then waits until the reload has been handled; true when it was.
    bool reload(std::chrono::milliseconds timeout = 30s) { return gatiod_.reload(timeout); }
    // Reads output for up to `timeout` until it holds `needle` `times` times.
    bool wait_for_log(std::string_view needle, std::chrono::milliseconds timeout, std::size_t times = 1) {
        return gatiod_.wait_for_log(needle, timeout, times);
    }
    std::size_t count(std::string_view needle) const { return gatiod_.count(needle); }
    const std::string& log() const { return gatiod_.log(); }
    pid_t pid() const { return gatiod_.pid(); }
    // SIGTERM; the exit status.
    int stop() { return gatiod_.stop(30s); }

private:
    ::gatio::test::Gatiod gatiod_;
};

// True when a mapping of process `pid` is of the file with inode `ino` (a handler object still
// loaded, even once its file was replaced).
bool mapped(pid_t pid, ino_t ino);

// ---- Loopback TCP, every call bounded by `timeout` ----

// A connected socket, or -1 with errno set (ECONNREFUSED when nothing listens).
int connect_tcp(int port);
class Connection {
public:
    explicit Connection(int port);
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    bool connected() const { return socket_.valid(); }
    int connect_error() const { return connect_errno_; } // errno of a failed connect
    bool send(std::string_view bytes);
    // Reads until `n` bytes arrived; fewer on close or timeout.
    std::string receive(std::size_t n, std::chrono::milliseconds timeout = 10s);
    // One HTTP/1.1 request on this connection and its answer (status 0 when none came).
    struct Http {
        int status = 0;
        std::string head; // status line and headers
        std::string body;
    };
    Http http(std::string_view method, std::string_view path, std::string_view extra_headers = "",
              std::chrono::milliseconds timeout = 10s);
    // Reads one answer that was already asked for.
    Http read_http(bool head_only = false, std::chrono::milliseconds timeout = 10s);
    // True when the peer closes within the timeout.
    bool closed_by_peer(std::chrono::milliseconds timeout = 10s);

private:
    bool fill(std::chrono::steady_clock::time_point deadline); // false on close or timeout

    ::gatio::test::Socket socket_;
    int connect_errno_ = 0;
    std::string buffer_;
};

// GET on a fresh connection.
Connection::Http http_get(int port, std::string_view path);

} // namespace gatio::reload_test
