// A program run as a child process by a test. Its output goes to files, never to pipes, so a
// child that writes much while the test is busy elsewhere never blocks on a full pipe; the test
// reads what was written so far at any time. Every wait is bounded, and a child still running
// when its Child goes (a failed REQUIRE included) is stopped: SIGTERM, then SIGKILL after a
// bound, and reaped, so that no test leaves a process behind.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

#include "tests/support/temp_dir.hpp"

namespace gatio::test {

using namespace std::chrono_literals;

struct Spawn {
    std::vector<std::string> argv{}; // argv[0] is a path, not looked up in PATH
    std::vector<std::string> env{};  // "NAME=value" sets, "NAME" removes; the rest is inherited
    std::vector<int> pass_fds{};     // become descriptors 3, 4, ... in the child
    bool set_listen_pid = false;     // LISTEN_PID = the child's own pid, as systemd sets it
    std::filesystem::path input{};   // standard input; /dev/null when empty
    std::filesystem::path log{};     // where the output goes; a private file when empty
    bool merge_output = false;       // stderr into the same file as stdout
};

class Child {
public:
    explicit Child(const Spawn& spawn);
    Child(const std::vector<std::string>& argv, const std::vector<std::string>& env = {})
        : Child(Spawn{.argv = argv, .env = env}) {}
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;
    ~Child(); // stop(5 s) when still running

    pid_t pid() const { return pid_; }
    void signal(int sig) const;
    // True until the child has exited (it is not reaped: wait() still gets the status).
    bool running() const;

    // Standard output and error as written so far (the same text with merge_output).
    const std::string& out() const;
    const std::string& err() const;

    // Waits until `done(err())` holds (true), the child exits without it holding, or the
    // timeout passes (false). The output is read again every few milliseconds.
    bool wait_until(const std::function<bool(const std::string&)>& done, std::chrono::milliseconds timeout);
    bool wait_for_stderr(std::string_view needle, std::chrono::milliseconds timeout);

    // Reaps the child: its exit status, or 128 + signal when a signal ended it; -1 when it still
    // runs after the timeout (it is left running).
    int wait(std::chrono::milliseconds timeout = 20s);
    // SIGTERM and wait(grace); SIGKILL and -1 when it did not exit within the grace. The exit
    // status of a child already reaped.
    int stop(std::chrono::milliseconds grace = 20s);

private:
    struct Output {
        std::filesystem::path path;
        std::string text;
        void refresh();
    };

    std::unique_ptr<TempDir> dir_; // the private output files
    pid_t pid_ = -1;
    int status_ = -1;
    mutable Output out_;
    mutable Output err_;
    bool merged_ = false;
};

struct RunResult {
    int code = -1;
    std::string out;
    std::string err;
};

// Runs a program to completion (killed after the timeout: code -1).
RunResult run(const std::vector<std::string>& argv, const std::vector<std::string>& env = {},
              std::chrono::milliseconds timeout = 60s);

// The path of executable `name` from PATH ("" when there is none).
std::string find_program(std::string_view name);

// A field of /proc/PID/status in KiB ("VmRSS:", "VmHWM:"); the test fails when it is missing.
std::uint64_t status_kib(pid_t pid, std::string_view field);

} // namespace gatio::test
