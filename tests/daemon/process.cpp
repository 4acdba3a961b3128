#include "process.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdexcept>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace gatio::test {

namespace {

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

std::vector<char*> pointers(std::vector<std::string>& strings) {
    std::vector<char*> out;
    for (auto& s : strings) {
        out.push_back(s.data());
    }
    out.push_back(nullptr);
    return out;
}

void check(int ret, const char* what) {
    if (ret != 0) {
        throw std::runtime_error(std::string("test child: ") + what + ": " + std::strerror(ret));
    }
}

} // namespace

Child::Child(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
    int out_pipe[2];
    int err_pipe[2];
    if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0) {
        throw std::runtime_error(std::string("test child: pipe2: ") + std::strerror(errno));
    }
    posix_spawn_file_actions_t actions;
    check(posix_spawn_file_actions_init(&actions), "posix_spawn_file_actions_init");
    check(posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO), "adddup2 stdout");
    check(posix_spawn_file_actions_adddup2(&actions, err_pipe[1], STDERR_FILENO), "adddup2 stderr");
    check(posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0),
          "addopen stdin");

    auto args = argv;
    auto envs = child_environment(env);
    auto arg_ptrs = pointers(args);
    auto env_ptrs = pointers(envs);
    const int ret =
        posix_spawn(&pid_, args.front().c_str(), &actions, nullptr, arg_ptrs.data(), env_ptrs.data());
    posix_spawn_file_actions_destroy(&actions);
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    out_fd_ = out_pipe[0];
    err_fd_ = err_pipe[0];
    if (ret != 0) {
        close_pipes();
        pid_ = -1;
        throw std::runtime_error("test child: posix_spawn " + args.front() + ": " + std::strerror(ret));
    }
}

Child::~Child() {
    if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
    }
    close_pipes();
}

void Child::close_pipes() {
    for (int* fd : {&out_fd_, &err_fd_}) {
        if (*fd >= 0) {
            ::close(*fd);
            *fd = -1;
        }
    }
}

bool Child::pump(std::chrono::steady_clock::time_point deadline) {
    pollfd fds[2] = {{out_fd_, POLLIN, 0}, {err_fd_, POLLIN, 0}};
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
        return false;
    }
    const int n = ::poll(fds, 2, static_cast<int>(left.count()));
    if (n == 0) {
        return false;
    }
    if (n < 0) {
        return errno == EINTR;
    }
    std::string* sinks[2] = {&out_, &err_};
    int* fd_refs[2] = {&out_fd_, &err_fd_};
    for (int i = 0; i < 2; ++i) {
        if (fds[i].fd < 0 || fds[i].revents == 0) {
            continue;
        }
        char buf[4096];
        const ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
        if (got > 0) {
            sinks[i]->append(buf, static_cast<std::size_t>(got));
        } else if (got == 0 || errno != EINTR) {
            ::close(*fd_refs[i]);
            *fd_refs[i] = -1;
        }
    }
    return true;
}

bool Child::wait_for_stderr(std::string_view needle, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (err_.find(needle) == std::string::npos) {
        if ((out_fd_ < 0 && err_fd_ < 0) || !pump(deadline)) {
            return false;
        }
    }
    return true;
}

void Child::signal(int sig) {
    if (pid_ > 0) {
        ::kill(pid_, sig);
    }
}

int Child::wait(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (out_fd_ >= 0 || err_fd_ >= 0) {
        if (!pump(deadline)) {
            return -1; // the destructor kills it
        }
    }
    int status = 0;
    for (;;) {
        const pid_t done = ::waitpid(pid_, &status, WNOHANG);
        if (done == pid_) {
            break;
        }
        if (done < 0 && errno != EINTR) {
            throw std::runtime_error(std::string("test child: waitpid: ") + std::strerror(errno));
        }
        if (std::chrono::steady_clock::now() > deadline) {
            return -1; // the destructor kills it
        }
        ::usleep(10'000);
    }
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

RunResult run(const std::vector<std::string>& argv, const std::vector<std::string>& env,
              std::chrono::milliseconds timeout) {
    Child child(argv, env);
    RunResult r;
    r.code = child.wait(timeout);
    r.out = child.out();
    r.err = child.err();
    return r;
}

} // namespace gatio::test
