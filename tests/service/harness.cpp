#include "harness.hpp"

#include <arpa/inet.h>
#include <catch2/catch.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <system_error>
#include <thread>
#include <unistd.h>

extern char** environ;

namespace gatio::service_test {

namespace {

using Clock = std::chrono::steady_clock;

int remaining_ms(Clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    return left > 0 ? static_cast<int>(left) : 0;
}

sockaddr_in loopback(int port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    return a;
}

void set_timeouts(int fd) {
    timeval tv{30, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

} // namespace

TempDir::TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/gatio-svc-XXXXXX";
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
}

TempDir::~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

std::filesystem::path TempDir::write(std::string_view name, std::string_view content) const {
    auto p = path_ / name;
    std::ofstream out(p, std::ios::trunc);
    out << content;
    REQUIRE(out.good());
    return p;
}

int free_port(int type) {
    int fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_in a = loopback(0);
    socklen_t len = sizeof a;
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    ::close(fd);
    return ntohs(a.sin_port);
}

int bound_socket(int type, int port) {
    int fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_in a = loopback(port);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    if (type == SOCK_STREAM) {
        REQUIRE(::listen(fd, 128) == 0);
    }
    return fd;
}

Child::Child(const Spawn& spawn) {
    // Everything the child needs is prepared here: between fork and exec it only calls
    // async-signal-safe functions.
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
        env.emplace_back(*e);
    }
    for (const auto& change : spawn.env) {
        const auto name = change.substr(0, change.find('='));
        std::erase_if(env,
                      [&](const std::string& v) { return v.compare(0, name.size() + 1, name + "=") == 0; });
        if (change.find('=') != std::string::npos) {
            env.push_back(change);
        }
    }
    std::erase_if(env, [](const std::string& v) { return v.rfind("LISTEN_PID=", 0) == 0; });
    char listen_pid[32] = "LISTEN_PID=";
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

    int pipe_fds[2];
    REQUIRE(::pipe2(pipe_fds, O_CLOEXEC) == 0);
    const int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    REQUIRE(devnull >= 0);
    pid_ = ::fork();
    if (pid_ == 0) {
        // Out of the way first (high numbers, close-on-exec), so that placing them at 3, 4 ...
        // never overwrites one still to be placed.
        int moved[16];
        const std::size_t n = spawn.pass_fds.size() < 16 ? spawn.pass_fds.size() : 16;
        for (std::size_t i = 0; i < n; ++i) {
            moved[i] = ::fcntl(spawn.pass_fds[i], F_DUPFD_CLOEXEC, 100);
        }
        ::dup2(devnull, 0);
        ::dup2(pipe_fds[1], 1);
        ::dup2(pipe_fds[1], 2);
        for (std::size_t i = 0; i < n; ++i) {
            ::dup2(moved[i], static_cast<int>(3 + i)); // dup2 leaves the copy inheritable
        }
        if (spawn.set_listen_pid) {
            char digits[20];
            int count = 0;
            for (pid_t p = ::getpid(); p > 0; p /= 10) {
                digits[count++] = static_cast<char>('0' + p % 10);
            }
            char* out = listen_pid + std::strlen("LISTEN_PID=");
            while (count > 0) {
                *out++ = digits[--count];
            }
            *out = '\0';
        }
        ::execve(argv[0], argv.data(), envp.data());
        ::_exit(127);
    }
    ::close(pipe_fds[1]);
    ::close(devnull);
    out_fd_ = pipe_fds[0];
    REQUIRE(pid_ > 0);
}

Child::~Child() {
    if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
    }
    if (out_fd_ >= 0) {
        ::close(out_fd_);
    }
}

void Child::signal(int sig) const {
    REQUIRE(pid_ > 0);
    REQUIRE(::kill(pid_, sig) == 0);
}

void Child::read_available() {
    while (out_fd_ >= 0) {
        pollfd p{out_fd_, POLLIN, 0};
        if (::poll(&p, 1, 0) <= 0) {
            return;
        }
        char buf[8192];
        const ssize_t n = ::read(out_fd_, buf, sizeof buf);
        if (n > 0) {
            out_.append(buf, static_cast<std::size_t>(n));
        } else if (n == 0 || errno != EINTR) {
            ::close(out_fd_);
            out_fd_ = -1;
        }
    }
}

void Child::pump(std::chrono::milliseconds wait) {
    if (out_fd_ < 0) {
        std::this_thread::sleep_for(wait);
        return;
    }
    pollfd p{out_fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(wait.count())) > 0) {
        read_available();
    }
}

bool Child::wait_for_output(std::string_view needle, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (out_.find(needle) == std::string::npos) {
        if (out_fd_ < 0 || Clock::now() >= deadline) {
            return false;
        }
        pump(std::chrono::milliseconds(remaining_ms(deadline)));
    }
    return true;
}

bool Child::running() {
    if (pid_ <= 0) {
        return false;
    }
    siginfo_t info{};
    // WNOWAIT: look without reaping, so that wait() still gets the status.
    return ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
           info.si_pid == 0;
}

int Child::wait(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (out_fd_ >= 0 && Clock::now() < deadline) {
        pump(std::chrono::milliseconds(remaining_ms(deadline)));
    }
    while (pid_ > 0) {
        int status = 0;
        const pid_t r = ::waitpid(pid_, &status, WNOHANG);
        if (r == pid_) {
            pid_ = -1;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        if (Clock::now() >= deadline) {
            return -1;
        }
        std::this_thread::sleep_for(10ms);
    }
    return -1;
}

NotifySocket::NotifySocket(const std::filesystem::path& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    REQUIRE(path.string().size() < sizeof a.sun_path);
    std::strcpy(a.sun_path, path.c_str());
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
}

NotifySocket::~NotifySocket() {
    ::close(fd_);
    std::error_code ec;
    std::filesystem::remove(path_, ec);
}

std::optional<std::size_t> NotifySocket::wait_for(Child& child,
                                                  const std::function<bool(const std::string&)>& match,
                                                  std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    std::size_t seen = messages_.size();
    for (;;) {
        for (; seen < messages_.size(); ++seen) {
            if (match(messages_[seen])) {
                return seen;
            }
        }
        if (Clock::now() >= deadline) {
            return std::nullopt;
        }
        pollfd fds[2] = {{fd_, POLLIN, 0}, {child.output_fd(), POLLIN, 0}};
        const nfds_t n = child.output_fd() >= 0 ? 2 : 1;
        if (::poll(fds, n, remaining_ms(deadline)) <= 0) {
            continue;
        }
        if (n == 2 && fds[1].revents != 0) {
            child.read_available();
        }
        if (fds[0].revents != 0) {
            char buf[4096];
            const ssize_t got = ::recv(fd_, buf, sizeof buf, 0);
            if (got > 0) {
                messages_.emplace_back(buf, static_cast<std::size_t>(got));
            }
        }
    }
}

std::optional<std::string> field(const std::string& message, std::string_view name) {
    std::size_t start = 0;
    while (start <= message.size()) {
        std::size_t end = message.find('\n', start);
        if (end == std::string::npos) {
            end = message.size();
        }
        std::string_view line(message.data() + start, end - start);
        if (line.size() > name.size() && line.substr(0, name.size()) == name && line[name.size()] == '=') {
            return std::string(line.substr(name.size() + 1));
        }
        start = end + 1;
    }
    return std::nullopt;
}

bool has_field(const std::string& message, std::string_view assignment) {
    const auto eq = assignment.find('=');
    auto value = field(message, assignment.substr(0, eq));
    return value && *value == assignment.substr(eq + 1);
}

int connect_tcp(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    set_timeouts(fd);
    sockaddr_in a = loopback(port);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        const int err = errno;
        ::close(fd);
        errno = err;
        return -1;
    }
    return fd;
}

void send_all(int fd, std::string_view data) {
    while (!data.empty()) {
        const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        REQUIRE(n > 0);
        data.remove_prefix(static_cast<std::size_t>(n));
    }
}

std::string receive(int fd, std::size_t n) {
    std::string out;
    char buf[65536];
    while (out.size() < n) {
        const ssize_t got = ::recv(fd, buf, std::min(sizeof buf, n - out.size()), 0);
        if (got <= 0) {
            break;
        }
        out.append(buf, static_cast<std::size_t>(got));
    }
    return out;
}

std::string tcp_round_trip(int port, std::string_view request, std::size_t reply_size) {
    const int fd = connect_tcp(port);
    REQUIRE(fd >= 0);
    send_all(fd, request);
    std::string reply = receive(fd, reply_size);
    ::close(fd);
    return reply;
}

std::string udp_round_trip(int port, std::string_view datagram) {
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    set_timeouts(fd);
    sockaddr_in a = loopback(port);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::send(fd, datagram.data(), datagram.size(), 0) == static_cast<ssize_t>(datagram.size()));
    char buf[2048];
    const ssize_t got = ::recv(fd, buf, sizeof buf, 0);
    ::close(fd);
    return got > 0 ? std::string(buf, static_cast<std::size_t>(got)) : std::string();
}

std::string config_text(std::string_view daemon, std::string_view listeners) {
    return "[daemon]\n" + std::string(daemon) + "\n[topology]\nmode = \"auto\"\n\n" + std::string(listeners);
}

std::string tcp_listener(std::string_view name, int port, std::string_view handler, std::string_view extra) {
    return "[[listener]]\nname = \"" + std::string(name) +
           "\"\naddress = \"127.0.0.1:" + std::to_string(port) + "\"\nhandler = \"" + std::string(handler) +
           "\"\n" + std::string(extra) + "\n";
}

std::vector<std::string> clean_env() {
    return {"JOURNAL_STREAM", "NOTIFY_SOCKET",  "WATCHDOG_USEC", "WATCHDOG_PID",
            "LISTEN_FDS",     "LISTEN_FDNAMES", "LISTEN_PID"};
}

} // namespace gatio::service_test
