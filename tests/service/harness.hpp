// What the service tests share: a scratch folder, gatiod as a child process (optionally with
// sockets passed the way systemd passes them), the AF_UNIX datagram socket it notifies, and
// small loopback clients.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <sys/types.h>
#include <vector>

#include "tests/support/child.hpp"
#include "tests/support/notify.hpp"
#include "tests/support/socket.hpp"
#include "tests/support/temp_dir.hpp"

namespace gatio::service_test {

using namespace std::chrono_literals;

inline const std::string gatiod = GATIOD_PATH;
inline const std::string echo_plugin_dir = GATIO_PLUGIN_OUTPUT_DIR;
inline const std::string service_plugin = SERVICE_TEST_PLUGIN; // service_plugin.cpp, built

using TempDir = ::gatio::test::TempDir;

// A loopback port nobody is bound to right now (type: SOCK_STREAM or SOCK_DGRAM).
inline int free_port(int type = SOCK_STREAM) {
    return ::gatio::test::free_port(type);
}

// A bound loopback socket as systemd would hold it: TCP listening (no SO_REUSEPORT, so that
// nobody else can bind the port), or UDP. Close-on-exec; the caller owns it.
int bound_socket(int type, int port);

struct Spawn {
    std::vector<std::string> argv;
    std::vector<std::string> env; // "NAME=value" sets, "NAME" removes; the rest is inherited
    std::vector<int> pass_fds;    // become descriptors 3, 4, ... in the child
    bool set_listen_pid = false;  // LISTEN_PID = the child's own pid, as systemd sets it
};

// A child process whose stdout and stderr go to one file, read as the test goes (tests/support's
// Child). LISTEN_PID is never inherited.
class Child : public ::gatio::test::Child {
public:
    explicit Child(const Spawn& spawn);
    Child(const std::vector<std::string>& argv, const std::vector<std::string>& env)
        : Child(Spawn{argv, env, {}, false}) {}

    // Reads output until it contains `needle`, the child exits, or the timeout passes.
    bool wait_for_output(std::string_view needle, std::chrono::milliseconds timeout) {
        return wait_for_stderr(needle, timeout);
    }
    // Reads what the child wrote within `wait`.
    void pump(std::chrono::milliseconds wait);
    const std::string& output() const { return out(); }
    void read_available() const { out(); } // whatever it wrote by now
};

// The socket a service manager listens on: NOTIFY_SOCKET for the child.
class NotifySocket {
public:
    explicit NotifySocket(const std::filesystem::path& path) : socket_(path) {}

    std::string env() const { return socket_.env(); }
    // Receives messages until one satisfies `match`; its index in messages(), or nullopt on
    // timeout. Messages before it are kept too. The child's output is read as it comes anyway.
    std::optional<std::size_t> wait_for(Child& child, const std::function<bool(const std::string&)>& match,
                                        std::chrono::milliseconds timeout);
    const std::vector<std::string>& messages() const { return socket_.messages(); }

private:
    ::gatio::test::NotifySocket socket_;
};

// The value of NAME= in a notification ("READY=1\nSTATUS=..."), if present.
inline std::optional<std::string> field(const std::string& message, std::string_view name) {
    return ::gatio::test::notify_field(message, name);
}
bool has_field(const std::string& message, std::string_view assignment); // e.g. "READY=1"

// Loopback TCP: a connected socket (or -1 with errno set), and blocking helpers bounded by
// SO_RCVTIMEO/SO_SNDTIMEO of 30 s.
int connect_tcp(int port);
void send_all(int fd, std::string_view data);
// Reads until `n` bytes arrived or the peer closed; returns what arrived.
std::string receive(int fd, std::size_t n);
std::string tcp_round_trip(int port, std::string_view request, std::size_t reply_size);
std::string udp_round_trip(int port, std::string_view datagram);

// A gatiod configuration: [daemon] lines, auto topology, then `listeners` (TOML text).
std::string config_text(std::string_view daemon, std::string_view listeners);
std::string tcp_listener(std::string_view name, int port, std::string_view handler,
                         std::string_view extra = "");

// Console logging whatever environment the tests run in, and no inherited systemd variables.
std::vector<std::string> clean_env();

} // namespace gatio::service_test
