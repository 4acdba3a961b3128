// End-to-end pieces for the resp tests: a real gatiod serving the resp plugin and a real
// redis-server, both child processes on loopback ports, and a RESP client with deadlines so
// that a broken server fails a test instead of hanging it.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace gatio::resp::test {

using namespace std::chrono_literals;

// A loopback TCP port nobody listens on right now.
std::uint16_t free_port();

struct Ran {
    int status = -1;
    std::string out;
};

// A child process whose output goes to a log file and whose input comes from `input` (or
// /dev/null); stopped with SIGTERM (then SIGKILL) when destroyed.
class Process {
public:
    Process(const std::vector<std::string>& argv, const std::filesystem::path& log,
            const std::filesystem::path& input = {});
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;
    ~Process();

    // SIGTERM, then waits (bounded) for the exit: the exit status, 128 + signal, or -1 when it
    // had to be killed.
    int stop(std::chrono::milliseconds grace = 10s);
    bool running();
    std::string log() const;
    pid_t pid() const { return pid_; }

private:
    pid_t pid_ = -1;
    int status_ = -1;
    std::filesystem::path log_;
};

// A private scratch folder, removed with its contents.
class TempDir {
public:
    TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    ~TempDir();
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

// gatiod with `drivers` io+exec drivers (on CPUs 0 and 1 when two) and one resp listener;
// `options` is the body of [listener.options] (TOML lines). Returns once the port accepts
// connections.
class Gatiod {
public:
    // `env`: NAME=value settings added to gatiod's environment.
    explicit Gatiod(std::string_view options = "", int drivers = 2, const std::vector<std::string>& env = {});
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
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;
    ~Client();

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
    int fd_ = -1;
    std::string pending_; // bytes read past the replies returned so far
};

// A multibulk request.
std::string request(const std::vector<std::string>& args);

// Whether redis-benchmark's quiet output has "<label><number> requests per second".
bool reports_rate(const std::string& out, const std::string& label);

} // namespace gatio::resp::test
