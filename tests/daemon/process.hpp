// Runs a program as a child process with captured stdout and stderr, bounded in time.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace gatio::test {

// env: "NAME=value" sets a variable for the child, "NAME" removes it; the rest is inherited.
class Child {
public:
    Child(const std::vector<std::string>& argv, const std::vector<std::string>& env = {});
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;
    ~Child(); // kills and reaps a child still running

    // Reads output until stderr contains `needle` (true), the child closes both pipes, or the
    // timeout passes (false).
    bool wait_for_stderr(std::string_view needle, std::chrono::milliseconds timeout);
    void signal(int sig);
    pid_t pid() const { return pid_; }
    // Reads everything and reaps the child: its exit status, or 128 + signal when killed;
    // -1 when it had to be killed for running past the timeout.
    int wait(std::chrono::milliseconds timeout);

    const std::string& out() const { return out_; }
    const std::string& err() const { return err_; }

private:
    bool pump(std::chrono::steady_clock::time_point deadline); // false: timed out
    void close_pipes();

    pid_t pid_ = -1;
    int out_fd_ = -1;
    int err_fd_ = -1;
    std::string out_;
    std::string err_;
};

struct RunResult {
    int code = -1;
    std::string out;
    std::string err;
};

RunResult run(const std::vector<std::string>& argv, const std::vector<std::string>& env = {},
              std::chrono::milliseconds timeout = std::chrono::seconds(60));

} // namespace gatio::test
