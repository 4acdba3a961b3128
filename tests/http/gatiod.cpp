#include "gatiod.hpp"

#include <arpa/inet.h>
#include <catch2/catch.hpp>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <optional>
#include <poll.h>
#include <sstream>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace gatio::http::test {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

sockaddr_in loopback(std::uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

bool accepts(std::uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    const sockaddr_in a = loopback(port);
    const bool ok = ::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return ok;
}

// Waits for pid for at most `timeout`; its status, or nullopt if it still runs.
std::optional<int> reap(pid_t pid, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        int status = 0;
        const pid_t r = ::waitpid(pid, &status, WNOHANG);
        REQUIRE(r >= 0);
        if (r == pid) {
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        if (Clock::now() >= deadline) {
            return std::nullopt;
        }
        std::this_thread::sleep_for(10ms);
    }
}

} // namespace

TempDir::TempDir() {
    std::string pattern = (fs::temp_directory_path() / "gatio-http-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
}

TempDir::~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
}

fs::path TempDir::write(const std::string& name, std::string_view content) const {
    const fs::path p = path_ / name;
    std::ofstream(p, std::ios::binary) << content;
    return p;
}

std::uint16_t free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_in a = loopback(0);
    REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0);
    socklen_t len = sizeof a;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    ::close(fd);
    return ntohs(a.sin_port);
}

Gatiod::Gatiod(std::vector<Listener> listeners) : listeners_(std::move(listeners)) {
    std::string config = "[daemon]\n"
                         "log_level = \"info\"\n"
                         "[topology]\n"
                         "mode = \"manual\"\n"
                         "[[tpc]]\n"
                         "name = \"node0\"\n"
                         "numa_node = 0\n"
                         "[[tpc.driver]]\n"
                         "name = \"d0\"\n"
                         "cpu = 0\n"
                         "[[tpc.driver]]\n"
                         "name = \"d1\"\n"
                         "cpu = 1\n";
    for (Listener& l : listeners_) {
        l.port = free_port();
        config += "[[listener]]\nname = \"" + l.name + "\"\naddress = \"127.0.0.1:" + std::to_string(l.port) +
                  "\"\nhandler = \"http\"\n" + l.extra + "\n[listener.options]\n" + l.options + "\n";
    }
    const fs::path config_file = dir_.write("gatio.toml", config);
    const fs::path log_file = dir_.path() / "gatiod.log";

    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
        const int fd = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || ::dup2(fd, STDOUT_FILENO) < 0 || ::dup2(fd, STDERR_FILENO) < 0) {
            ::_exit(126);
        }
        const char* argv[] = {
            GATIOD_PATH, "-c",   config_file.c_str(), "--plugin-dir", GATIO_PLUGIN_OUTPUT_DIR, "--log-target",
            "console",   nullptr};
        ::execv(GATIOD_PATH, const_cast<char* const*>(argv));
        ::_exit(127);
    }
    const auto deadline = Clock::now() + 20s;
    for (;;) {
        if (const auto status = reap(pid_, 0ms)) {
            pid_ = -1;
            FAIL("gatiod exited with status " << *status << " while starting:\n" << log());
        }
        bool ready = true;
        for (const Listener& l : listeners_) {
            ready = ready && accepts(l.port);
        }
        if (ready) {
            return;
        }
        if (Clock::now() >= deadline) {
            FAIL("gatiod did not accept connections within 20 s:\n" << log());
        }
        std::this_thread::sleep_for(20ms);
    }
}

Gatiod::~Gatiod() {
    if (pid_ > 0) {
        stop();
    }
}

std::uint16_t Gatiod::port(std::string_view listener) const {
    for (const Listener& l : listeners_) {
        if (l.name == listener) {
            return l.port;
        }
    }
    FAIL("no listener " << listener);
    return 0;
}

std::string Gatiod::log() const {
    std::ifstream in(dir_.path() / "gatiod.log");
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

int Gatiod::stop() {
    REQUIRE(pid_ > 0);
    ::kill(pid_, SIGTERM);
    std::optional<int> status = reap(pid_, 20s);
    if (!status) {
        ::kill(pid_, SIGKILL);
        reap(pid_, 20s);
        status = -1;
    }
    pid_ = -1;
    return *status;
}

Client::Client(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    const sockaddr_in a = loopback(port);
    REQUIRE(::connect(fd_, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0);
    const int one = 1;
    REQUIRE(::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0);
}

Client::~Client() {
    if (fd_ >= 0) {
        ::close(fd_);
    }
}

void Client::send(std::string_view bytes) {
    while (!bytes.empty()) {
        const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        REQUIRE(n > 0);
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
}

void Client::send_bytewise(std::string_view bytes, std::chrono::microseconds pause) {
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        send(bytes.substr(i, 1));
        if (pause.count() > 0) {
            std::this_thread::sleep_for(pause);
        }
    }
}

bool Client::receive(Clock::time_point deadline) {
    if (eof_) {
        return false;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
        return false;
    }
    pollfd p{fd_, POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) {
        return true;
    }
    REQUIRE(r >= 0);
    if (r == 0) {
        return false;
    }
    char buf[65536];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) {
        return true;
    }
    if (n == 0 || (n < 0 && errno == ECONNRESET)) {
        eof_ = true;
        return false;
    }
    REQUIRE(n > 0);
    buffer_.append(buf, static_cast<std::size_t>(n));
    return true;
}

std::vector<Response> Client::read(std::size_t count, const std::vector<bool>& answers_head,
                                   std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        std::string rest;
        std::vector<Response> got = split_responses(buffer_, answers_head, &rest);
        std::size_t finals = 0;
        for (const Response& r : got) {
            finals += r.status >= 200 ? 1 : 0;
        }
        if (finals >= count || !receive(deadline)) {
            // Read once more: the last receive may have completed responses.
            got = split_responses(buffer_, answers_head, &rest);
            buffer_ = rest;
            return got;
        }
    }
}

bool Client::closed_by_peer(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (receive(deadline)) {
    }
    return eof_;
}

CommandResult run_command(const std::vector<std::string>& argv, std::chrono::seconds timeout) {
    int pipe_fds[2];
    REQUIRE(::pipe2(pipe_fds, O_CLOEXEC) == 0);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        if (::dup2(pipe_fds[1], STDOUT_FILENO) < 0 || ::dup2(pipe_fds[1], STDERR_FILENO) < 0) {
            ::_exit(126);
        }
        std::vector<char*> args;
        for (const std::string& a : argv) {
            args.push_back(const_cast<char*>(a.c_str()));
        }
        args.push_back(nullptr);
        ::execvp(args[0], args.data());
        ::_exit(127);
    }
    ::close(pipe_fds[1]);
    CommandResult result;
    const auto deadline = Clock::now() + timeout;
    bool timed_out = false;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) {
            timed_out = true;
            break;
        }
        pollfd p{pipe_fds[0], POLLIN, 0};
        const int r = ::poll(&p, 1, static_cast<int>(left.count()));
        if (r < 0 && errno == EINTR) {
            continue;
        }
        REQUIRE(r >= 0);
        if (r == 0) {
            continue;
        }
        char buf[4096];
        const ssize_t n = ::read(pipe_fds[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        result.output.append(buf, static_cast<std::size_t>(n));
    }
    ::close(pipe_fds[0]);
    if (timed_out) {
        ::kill(pid, SIGKILL);
    }
    const std::optional<int> status = reap(pid, 20s);
    REQUIRE(status.has_value());
    result.status = timed_out ? -1 : *status;
    INFO(argv[0] << " output:\n" << result.output);
    REQUIRE_FALSE(timed_out);
    return result;
}

} // namespace gatio::http::test
