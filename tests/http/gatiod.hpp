// A gatiod process serving http listeners on loopback, and a raw TCP client for it.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

#include "responses.hpp"
#include "tests/support/child.hpp"
#include "tests/support/socket.hpp"
#include "tests/support/temp_dir.hpp"

namespace gatio::http::test {

// A scratch folder removed with everything in it, and a loopback TCP port nothing listens on
// right now: tests/support's.
using TempDir = ::gatio::test::TempDir;
using ::gatio::test::free_port;

struct Listener {
    std::string name;
    std::string extra;   // more [[listener]] keys, e.g. drivers = ["d0"]
    std::string options; // the [listener.options] body
    std::uint16_t port = 0;
};

// gatiod with two drivers (CPUs 0 and 1) and the given http listeners, started by the
// constructor, which returns once every listener accepts connections. `more_toml` follows the
// [daemon] section's log_level: more [daemon] keys (user = "nobody"), then whole sections. The destructor
// stops it with SIGTERM (SIGKILL after a bound) when stop() was not called. `wrapper` goes in
// front of gatiod's command line (prlimit --memlock=... --, say).
class Gatiod {
public:
    explicit Gatiod(std::vector<Listener> listeners, const std::string& more_toml = "",
                    const std::vector<std::string>& wrapper = {});
    ~Gatiod();
    Gatiod(const Gatiod&) = delete;
    Gatiod& operator=(const Gatiod&) = delete;

    std::uint16_t port(std::string_view listener) const;
    const TempDir& dir() const { return dir_; }
    pid_t pid() const;
    std::string log() const;
    // Waits (bounded) until the log holds `needle`: gatiod writes its log from a thread of its
    // own, some time after what it reports has happened.
    bool wait_for_log(std::string_view needle, std::chrono::milliseconds timeout = std::chrono::seconds(10));
    // SIGTERM, then the exit status (128 + signal when killed, -1 when it had to be killed).
    int stop();

private:
    TempDir dir_;
    std::vector<Listener> listeners_;
    std::unique_ptr<::gatio::test::Child> process_;
};

// A blocking loopback TCP connection with bounded reads.
class Client {
public:
    explicit Client(std::uint16_t port);
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    void send(std::string_view bytes);
    // One send() per byte (TCP_NODELAY is set), so the server receives them in many pieces.
    void send_bytewise(std::string_view bytes, std::chrono::microseconds pause = {});
    // Reads until `count` final responses arrived (answers_head as in split_responses), the
    // peer closed, or the timeout passed; returns the responses complete by then.
    std::vector<Response> read(std::size_t count, const std::vector<bool>& answers_head = {},
                               std::chrono::milliseconds timeout = std::chrono::seconds(10));
    // True when the peer closes (or resets) within the timeout with no further bytes.
    bool closed_by_peer(std::chrono::milliseconds timeout = std::chrono::seconds(10));
    // Bytes received but not part of a returned response.
    const std::string& pending() const { return buffer_; }

private:
    // One recv into buffer_, waiting at most until deadline; false on close or timeout.
    bool receive(std::chrono::steady_clock::time_point deadline);

    ::gatio::test::Socket socket_;
    bool eof_ = false;
    std::string buffer_;
};

struct CommandResult {
    int status = -1;    // exit status, or -1 when it did not exit normally
    std::string output; // stdout and stderr together
};

// Runs argv (no shell) with a bounded time; argv[0] is looked up in PATH.
CommandResult run_command(const std::vector<std::string>& argv, std::chrono::seconds timeout);

} // namespace gatio::http::test
