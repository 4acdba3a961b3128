#include "harness.hpp"

#include <arpa/inet.h>
#include <catch2/catch.hpp>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fmt/format.h>
#include <fstream>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdexcept>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace gatio::reload_test {

namespace {

std::chrono::milliseconds left(std::chrono::steady_clock::time_point deadline) {
    return std::max(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()),
        std::chrono::milliseconds(0));
}

// Waits until `fd` is readable or the deadline passes.
bool readable(int fd, std::chrono::steady_clock::time_point deadline) {
    pollfd p{fd, POLLIN, 0};
    for (;;) {
        int n = ::poll(&p, 1, static_cast<int>(left(deadline).count()));
        if (n > 0) {
            return true;
        }
        if (n == 0 || errno != EINTR) {
            return false;
        }
    }
}

std::size_t occurrences(std::string_view text, std::string_view needle) {
    std::size_t n = 0;
    for (auto at = text.find(needle); at != std::string_view::npos;
         at = text.find(needle, at + needle.size())) {
        ++n;
    }
    return n;
}

} // namespace

TempDir::TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "gatio-reload-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
        throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
    }
    path_ = pattern;
}

TempDir::~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
}

std::filesystem::path TempDir::write(std::string_view name, std::string_view content) const {
    const auto target = path_ / name;
    const auto staging = path_ / (std::string(name) + ".new");
    {
        std::ofstream out(staging, std::ios::binary | std::ios::trunc);
        out << content;
    }
    std::filesystem::rename(staging, target);
    return target;
}

int free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
        throw std::runtime_error(std::string("free_port: ") + std::strerror(errno));
    }
    ::close(fd);
    return ntohs(a.sin_port);
}

std::string find_program(std::string_view name) {
    const char* path = std::getenv("PATH");
    std::string_view dirs = path != nullptr ? path : "/usr/bin:/bin";
    while (!dirs.empty()) {
        std::size_t colon = dirs.find(':');
        std::filesystem::path candidate = std::filesystem::path(dirs.substr(0, colon)) / name;
        if (::access(candidate.c_str(), X_OK) == 0) {
            return candidate.string();
        }
        dirs = colon == std::string_view::npos ? std::string_view{} : dirs.substr(colon + 1);
    }
    return {};
}

std::string listener(std::string_view name, int port, std::string_view handler, std::string_view extra) {
    return fmt::format("[[listener]]\nname = \"{}\"\naddress = \"127.0.0.1:{}\"\nhandler = \"{}\"\n"
                       "max_connections = 1024\n{}\n",
                       name, port, handler, extra);
}

std::string http_listener(std::string_view name, int port, std::string_view body) {
    return listener(name, port, "http",
                    fmt::format("[listener.options]\nmax_connections = 1024\n"
                                "[[listener.options.route]]\npath = \"/\"\nbody = \"{}\"\n",
                                body));
}

std::string config_text(std::string_view listeners, int admin_port) {
    std::string admin =
        admin_port == 0 ? "" : fmt::format("[admin]\nlisten = \"127.0.0.1:{}\"\n", admin_port);
    return fmt::format("[daemon]\nlog_level = \"info\"\nshutdown_grace = \"2s\"\n{}"
                       "[topology]\nmode = \"auto\"\nring_entries = 256\nbuffer_size = \"4KiB\"\n"
                       "buffer_count = 256\n\n{}",
                       admin, listeners);
}

// ---------------------------------------------------------------- notifications

NotifySocket::NotifySocket(const std::filesystem::path& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        throw std::runtime_error("notify socket " + path.string() + ": " + std::strerror(errno));
    }
}

NotifySocket::~NotifySocket() {
    ::close(fd_);
}

std::optional<std::string> NotifySocket::wait_for(const std::function<bool(const std::string&)>& match,
                                                  std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (readable(fd_, deadline)) {
        char buf[4096];
        const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n <= 0) {
            continue;
        }
        std::string message(buf, static_cast<std::size_t>(n));
        if (match(message)) {
            return message;
        }
    }
    return std::nullopt;
}

std::optional<std::string> field(const std::string& message, std::string_view name) {
    const std::string key = std::string(name) + "=";
    for (std::size_t at = 0; at < message.size();) {
        std::size_t end = message.find('\n', at);
        std::string_view line =
            std::string_view(message).substr(at, end == std::string::npos ? end : end - at);
        if (line.rfind(key, 0) == 0) {
            return std::string(line.substr(key.size()));
        }
        if (end == std::string::npos) {
            break;
        }
        at = end + 1;
    }
    return std::nullopt;
}

// ---------------------------------------------------------------- gatiod

namespace {

std::vector<std::string> gatiod_env(const std::vector<std::string>& extra) {
    // Nothing a service manager may have left in the environment of the test run.
    std::vector<std::string> env{"NOTIFY_SOCKET",  "JOURNAL_STREAM", "LISTEN_PID",  "LISTEN_FDS",
                                 "LISTEN_FDNAMES", "WATCHDOG_USEC",  "WATCHDOG_PID"};
    env.insert(env.end(), extra.begin(), extra.end());
    return env;
}

} // namespace

Gatiod::Gatiod(const std::filesystem::path& config_file, const std::vector<std::string>& env)
    : child_({gatiod_path, "-c", config_file.string(), "--plugin-dir", plugin_dir, "--log-target", "console"},
             gatiod_env(env)) {
    const bool running = child_.wait_for_stderr(" running; SIGTERM or SIGINT stops it", 60s);
    INFO(child_.err());
    REQUIRE(running);
}

std::size_t Gatiod::count(std::string_view needle) const {
    return occurrences(child_.err(), needle);
}

bool Gatiod::wait_for_log(std::string_view needle, std::chrono::milliseconds timeout, std::size_t times) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (count(needle) < times) {
        if (left(deadline).count() == 0) {
            return false;
        }
        // A needle that never appears: reads whatever comes for a short while.
        child_.wait_for_stderr("\x01", std::min(left(deadline), std::chrono::milliseconds(20)));
    }
    return true;
}

bool Gatiod::reload(std::chrono::milliseconds timeout) {
    ++reloads_;
    child_.signal(SIGHUP);
    // Each reload ends with one of these two lines.
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (count(" is valid") + count(" error(s); still running") < reloads_) {
        if (left(deadline).count() == 0) {
            return false;
        }
        child_.wait_for_stderr("\x01", std::min(left(deadline), std::chrono::milliseconds(20)));
    }
    return true;
}

int Gatiod::stop() {
    child_.signal(SIGTERM);
    return child_.wait(30s);
}

// ---------------------------------------------------------------- TCP

int connect_tcp(int port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        const int err = errno;
        ::close(fd);
        errno = err;
        return -1;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

Connection::Connection(int port) : fd_(connect_tcp(port)), connect_errno_(fd_ < 0 ? errno : 0) {}

Connection::~Connection() {
    if (fd_ >= 0) {
        ::close(fd_);
    }
}

bool Connection::send(std::string_view bytes) {
    while (!bytes.empty()) {
        const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

bool Connection::fill(std::chrono::steady_clock::time_point deadline) {
    if (fd_ < 0 || !readable(fd_, deadline)) {
        return false;
    }
    char buf[16384];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) {
        return false;
    }
    buffer_.append(buf, static_cast<std::size_t>(n));
    return true;
}

std::string Connection::receive(std::size_t n, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (buffer_.size() < n && fill(deadline)) {
    }
    std::string out = buffer_.substr(0, std::min(n, buffer_.size()));
    buffer_.erase(0, out.size());
    return out;
}

Connection::Http Connection::read_http(bool head_only, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    Http r;
    std::size_t end = std::string::npos;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
        if (!fill(deadline)) {
            return r;
        }
    }
    r.head = buffer_.substr(0, end);
    buffer_.erase(0, end + 4);
    std::size_t length = 0;
    for (std::size_t at = r.head.find("\r\n"); at != std::string::npos; at = r.head.find("\r\n", at + 2)) {
        std::string_view line = std::string_view(r.head).substr(at + 2);
        line = line.substr(0, line.find("\r\n"));
        if (line.size() > 15 && strncasecmp(line.data(), "content-length:", 15) == 0) {
            length = std::stoul(std::string(line.substr(15)));
        }
    }
    if (!head_only) {
        while (buffer_.size() < length) {
            if (!fill(deadline)) {
                return r;
            }
        }
        r.body = buffer_.substr(0, length);
        buffer_.erase(0, length);
    }
    if (r.head.size() > 12 && r.head.rfind("HTTP/1.1 ", 0) == 0) {
        r.status = std::stoi(r.head.substr(9, 3));
    }
    return r;
}

Connection::Http Connection::http(std::string_view method, std::string_view path,
                                  std::string_view extra_headers, std::chrono::milliseconds timeout) {
    if (!send(fmt::format("{} {} HTTP/1.1\r\nHost: test\r\n{}\r\n", method, path, extra_headers))) {
        return {};
    }
    return read_http(method == "HEAD", timeout);
}

bool Connection::closed_by_peer(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (fill(deadline)) {
    }
    return left(deadline).count() > 0;
}

Connection::Http http_get(int port, std::string_view path) {
    Connection c(port);
    return c.connected() ? c.http("GET", path) : Connection::Http{};
}

} // namespace gatio::reload_test
