// End-to-end pieces for the resp tests: a real gatiod serving the resp plugin and a real
// redis-server, both child processes on loopback ports, and a RESP client with deadlines so
// that a broken server fails a test instead of hanging it.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

#include "tests/support/child.hpp"
#include "tests/support/socket.hpp"
#include "tests/support/temp_dir.hpp"

namespace gatio::resp::test {

using namespace std::chrono_literals;

// A loopback TCP port nobody listens on right now.
using ::gatio::test::free_port;

struct Ran {
    int status = -1;
    std::string out;
};

// A child process whose output goes to a log file and whose input comes from `input` (or
// /dev/null); stopped with SIGTERM (then SIGKILL) when destroyed (tests/support's Child).
class Process : public ::gatio::test::Child {
public:
    Process(const std::vector<std::string>& argv, const std::filesystem::path& log,
            const std::filesystem::path& input = {})
        : Child(::gatio::test::Spawn{.argv = argv, .input = input, .log = log, .merge_output = true}) {}

    // SIGTERM, then waits (bounded) for the exit: the exit status, 128 + signal, or -1 when it
    // had to be killed.
    int stop(std::chrono::milliseconds grace = 10s) { return Child::stop(grace); }
    std::string log() const { return err(); }
};

// A private scratch folder, removed with its contents.
using TempDir = ::gatio::test::TempDir;

// gatiod with `drivers` io+exec drivers (on CPUs 0 and 1 when two) and one resp listener;
// `options` is the body of [listener.options] (TOML lines). Returns once the port accepts
// connections.
class Gatiod {
public:
    // `env`: NAME=value settings added to gatiod's environment; `listener`: TOML lines of the
    // [[listener]] table itself (steer_to_cpu ...).
    explicit Gatiod(std::string_view options = "", int drivers = 2, const std::vector<std::string>& env = {},
                    std::string_view listener = "");
    std::uint16_t port() const { return port_; }
    Process& process() { return *process_; }

private:
    TempDir dir_;
    std::uint16_t port_;
    std::unique_ptr<Process> process_;
};

// Starts gatiod as Gatiod does and expects it to exit on its own: returns its exit status and
// everything it wrote.
Ran gatiod_exits(std::string_view options);

// redis-server from the Debian package, without persistence.
class RedisServer {
public:
    RedisServer();
    std::uint16_t port() const { return port_; }

private:
    TempDir dir_;
    std::uint16_t port_;
    std::unique_ptr<Process> process_;
};

// Runs a program to completion (bounded), its standard input read from `input` (or
// /dev/null), and returns its exit status and standard output.
Ran run(const std::vector<std::string>& argv, std::chrono::milliseconds limit = 60s,
        const std::filesystem::path& input = {});

// A process's resident memory (VmRSS of /proc/<pid>/status), in bytes.
std::size_t resident_bytes(pid_t pid);

class Client {
public:
    explicit Client(std::uint16_t port);

    // Sends `request` whole while reading, and returns the first `replies` complete replies
    // (raw bytes, concatenated). Fails the test after `limit`.
    std::string exchange(std::string_view request, std::size_t replies,
                         std::chrono::milliseconds limit = 20s);
    // Exactly `bytes` bytes from the server, without looking into them: for replies too large
    // to be counted cheaply. Fails the test after `limit`.
    std::string receive(std::size_t bytes, std::chrono::milliseconds limit = 20s);
    // Everything the server sends until it closes the connection.
    std::string read_to_close(std::chrono::milliseconds limit = 10s);
    void send_all(std::string_view data);

private:
    ::gatio::test::Socket socket_;
    std::string pending_; // bytes read past the replies returned so far
};

// The first key `prefix`0, `prefix`1, ... that lives on shard `shard` of a two-shard keyspace
// (the tests' gatiod has two exec drivers).
std::string key_on(std::uint32_t shard, std::string_view prefix);

// `prefix` followed by `n` in decimal ("a" and 7 give "a7"). Built by append: GCC 12 warns
// (-Wrestrict, its bug 105329) on a literal + std::string inlined into a release test.
std::string numbered(std::string_view prefix, std::size_t n);

// The bulk-string reply that carries `value`.
std::string bulk_reply(std::string_view value);

// A multibulk request.
std::string request(const std::vector<std::string>& args);
// Multibulk requests back to back, as one pipeline.
std::string requests(const std::vector<std::vector<std::string>>& script);

// Whether redis-benchmark's quiet output has "<label><number> requests per second".
bool reports_rate(const std::string& out, const std::string& label);

// Which driver serves a connection, learnt from gatiod's [admin] endpoint on `admin`:
// `options` with that endpoint added; the /metrics text; the samples of `name` by driver name
// ("d0", "d1") and their sum; a wait (bounded) until they satisfy `ok`, returning the last.
std::string with_admin(std::uint16_t admin, std::string_view options = "");
std::string metrics(std::uint16_t admin);
std::map<std::string, long> by_driver(const std::string& text, const std::string& name);
long total(const std::map<std::string, long>& m);
std::map<std::string, long> await_metric(std::uint16_t admin, const std::string& name,
                                         const std::function<bool(const std::map<std::string, long>&)>& ok);
// The driver serving `c`: it subscribes to a probe channel, and the driver whose subscription
// gauge rose by one is its own; then it leaves the channel again.
std::string driver_of(Client& c, std::uint16_t admin);
// Clients until one is served by `driver` (the kernel spreads connections over the drivers).
std::unique_ptr<Client> client_on(std::uint16_t port, std::uint16_t admin, const std::string& driver);

} // namespace gatio::resp::test
