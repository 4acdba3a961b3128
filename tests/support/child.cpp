#include "tests/support/child.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <signal.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

extern char** environ;

namespace gatio::test {

namespace {

using Clock = std::chrono::steady_clock;

std::vector<std::string> child_environment(const std::vector<std::string>& changes) {
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
        env.emplace_back(*e);
    }
    for (const auto& change : changes) {
        const auto name = change.substr(0, change.find('='));
        std::erase_if(env,
                      [&](const std::string& v) { return v.compare(0, name.size() + 1, name + "=") == 0; });
        if (change.find('=') != std::string::npos) {
            env.push_back(change);
        }
    }
    return env;
}

int open_or_fail(const std::filesystem::path& path, int flags) {
    const int fd = ::open(path.c_str(), flags | O_CLOEXEC, 0644);
    if (fd < 0) {
        FAIL("open " << path << ": " << std::strerror(errno));
    }
    return fd;
}

// Writes the decimal digits of `value` at `out`, NUL-terminated; async-signal-safe.
void put_decimal(char* out, long value) {
    char digits[24];
    int count = 0;
    do {
        digits[count++] = static_cast<char>('0' + value % 10);
        value /= 10;
    } while (value > 0);
    while (count > 0) {
        *out++ = digits[--count];
    }
    *out = '\0';
}

} // namespace

void Child::Output::refresh() {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return;
    }
    char buf[65536];
    for (;;) {
        const ssize_t n = ::pread(fd, buf, sizeof buf, static_cast<off_t>(text.size()));
        if (n > 0) {
            text.append(buf, static_cast<std::size_t>(n));
        } else if (n == 0 || errno != EINTR) {
            break;
        }
    }
    ::close(fd);
}

Child::Child(const Spawn& spawn) : merged_(spawn.merge_output) {
    // Children are started from the tests' own threads too (run() for wrk beside a test): Catch2
    // is asserted with only on failure, which ends the test anyway.
    if (spawn.argv.empty() || spawn.pass_fds.size() > 16) {
        FAIL("a child needs a program and at most 16 passed descriptors");
    }
    if (spawn.log.empty() || !spawn.merge_output) {
        dir_ = std::make_unique<TempDir>("child");
    }
    out_.path = spawn.log.empty() ? dir_->path() / "stdout" : spawn.log;
    err_.path = spawn.merge_output ? out_.path : dir_->path() / "stderr";

    // Everything the child needs is prepared here: between fork and exec it only calls
    // async-signal-safe functions.
    auto env = child_environment(spawn.env);
    if (spawn.set_listen_pid) {
        std::erase_if(env, [](const std::string& v) { return v.rfind("LISTEN_PID=", 0) == 0; });
    }
    char listen_pid[48] = "LISTEN_PID=";
    std::vector<char*> envp;
    for (auto& v : env) {
        envp.push_back(v.data());
    }
    if (spawn.set_listen_pid) {
        envp.push_back(listen_pid);
    }
    envp.push_back(nullptr);
    std::vector<std::string> args = spawn.argv;
    std::vector<char*> argv;
    for (auto& a : args) {
        argv.push_back(a.data());
    }
    argv.push_back(nullptr);

    const int in =
        open_or_fail(spawn.input.empty() ? std::filesystem::path("/dev/null") : spawn.input, O_RDONLY);
    const int out = open_or_fail(out_.path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND);
    const int err = merged_ ? out : open_or_fail(err_.path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND);
    pid_ = ::fork();
    if (pid_ == 0) {
        // Out of the way first (high numbers, close-on-exec), so that placing them at 3, 4 ...
        // never overwrites one still to be placed.
        int moved[16];
        const std::size_t n = spawn.pass_fds.size();
        for (std::size_t i = 0; i < n; ++i) {
            moved[i] = ::fcntl(spawn.pass_fds[i], F_DUPFD_CLOEXEC, 100);
        }
        if (::dup2(in, 0) < 0 || ::dup2(out, 1) < 0 || ::dup2(err, 2) < 0) {
            ::_exit(126);
        }
        for (std::size_t i = 0; i < n; ++i) {
            ::dup2(moved[i], static_cast<int>(3 + i)); // dup2 leaves the copy inheritable
        }
        if (spawn.set_listen_pid) {
            put_decimal(listen_pid + std::strlen("LISTEN_PID="), static_cast<long>(::getpid()));
        }
        ::execve(argv[0], argv.data(), envp.data());
        ::_exit(127);
    }
    const int fork_errno = errno;
    ::close(in);
    ::close(out);
    if (err != out) {
        ::close(err);
    }
    if (pid_ < 0) {
        FAIL("fork for " << args.front() << ": " << std::strerror(fork_errno));
    }
}

Child::~Child() {
    if (pid_ > 0) {
        stop(5s);
    }
}

void Child::signal(int sig) const {
    if (pid_ <= 0 || ::kill(pid_, sig) != 0) {
        FAIL("signal " << sig << " to child " << pid_ << ": " << std::strerror(errno));
    }
}

bool Child::running() const {
    if (pid_ <= 0) {
        return false;
    }
    siginfo_t info{};
    // WNOWAIT: look without reaping, so that wait() still gets the status.
    return ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
           info.si_pid == 0;
}

const std::string& Child::out() const {
    out_.refresh();
    return out_.text;
}

const std::string& Child::err() const {
    if (merged_) {
        return out();
    }
    err_.refresh();
    return err_.text;
}

bool Child::wait_until(const std::function<bool(const std::string&)>& done,
                       std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        // Whether it still ran is asked before the output is read: what it wrote before it
        // exited is then seen.
        const bool alive = running();
        if (done(err())) {
            return true;
        }
        if (!alive || Clock::now() >= deadline) {
            return false;
        }
        std::this_thread::sleep_for(5ms);
    }
}

bool Child::wait_for_stderr(std::string_view needle, std::chrono::milliseconds timeout) {
    return wait_until([needle](const std::string& text) { return text.find(needle) != std::string::npos; },
                      timeout);
}

int Child::wait(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (pid_ > 0) {
        int status = 0;
        const pid_t r = ::waitpid(pid_, &status, WNOHANG);
        if (r == pid_) {
            pid_ = -1;
            status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            break;
        }
        if (r < 0 && errno != EINTR) {
            FAIL("waitpid " << pid_ << ": " << std::strerror(errno));
        }
        if (Clock::now() >= deadline) {
            return -1;
        }
        std::this_thread::sleep_for(5ms);
    }
    return status_;
}

int Child::stop(std::chrono::milliseconds grace) {
    if (pid_ <= 0) {
        return status_;
    }
    ::kill(pid_, SIGTERM);
    if (wait(grace) < 0 && pid_ > 0) {
        ::kill(pid_, SIGKILL);
        while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
        }
        pid_ = -1;
        status_ = -1;
    }
    return status_;
}

RunResult run(const std::vector<std::string>& argv, const std::vector<std::string>& env,
              std::chrono::milliseconds timeout) {
    Child child(argv, env);
    RunResult r;
    r.code = child.wait(timeout);
    if (r.code < 0) {
        child.stop(0ms);
    }
    r.out = child.out();
    r.err = child.err();
    return r;
}

std::string find_program(std::string_view name) {
    const char* path = std::getenv("PATH");
    std::string_view dirs = path != nullptr ? path : "/usr/bin:/bin";
    while (!dirs.empty()) {
        const std::size_t colon = dirs.find(':');
        const std::filesystem::path candidate = std::filesystem::path(dirs.substr(0, colon)) / name;
        if (::access(candidate.c_str(), X_OK) == 0) {
            return candidate.string();
        }
        dirs = colon == std::string_view::npos ? std::string_view{} : dirs.substr(colon + 1);
    }
    return {};
}

std::uint64_t status_kib(pid_t pid, std::string_view field) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(field, 0) == 0) {
            return std::stoull(line.substr(field.size())); // "VmRSS:   1234 kB"
        }
    }
    FAIL("no " << field << " in /proc/" << pid << "/status");
    return 0;
}

} // namespace gatio::test
