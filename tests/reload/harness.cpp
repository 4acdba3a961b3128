#include "harness.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cerrno>
#include <fmt/format.h>
#include <fstream>
#include <sstream>
#include <strings.h>

namespace gatio::reload_test {

namespace {

std::chrono::milliseconds left(std::chrono::steady_clock::time_point deadline) {
    return std::max(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()),
        std::chrono::milliseconds(0));
}

} // namespace

bool mapped(pid_t pid, ino_t ino) {
    std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
    std::string line;
    while (std::getline(maps, line)) {
        std::istringstream fields(line);
        std::string range, perms, offset, device;
        unsigned long inode = 0;
        if (fields >> range >> perms >> offset >> device >> inode && inode == ino) {
            return true;
        }
    }
    return false;
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

std::optional<std::string> NotifySocket::wait_for(const std::function<bool(const std::string&)>& match,
                                                  std::chrono::milliseconds timeout) {
    const auto found = socket_.wait_for(match, timeout);
    if (!found) {
        return std::nullopt;
    }
    return socket_.messages()[*found];
}

// ---------------------------------------------------------------- TCP

int connect_tcp(int port) {
    ::gatio::test::Socket s = ::gatio::test::Socket::try_tcp(static_cast<std::uint16_t>(port));
    // Called from the probers' threads too: a failure is reported, never asserted here.
    if (!s.valid() || !s.set_nodelay()) {
        return -1;
    }
    return s.release();
}

Connection::Connection(int port) : socket_(connect_tcp(port)), connect_errno_(socket_.valid() ? 0 : errno) {}

bool Connection::send(std::string_view bytes) {
    return socket_.try_send_all(bytes);
}

bool Connection::fill(std::chrono::steady_clock::time_point deadline) {
    if (!socket_.valid()) {
        return false;
    }
    char buf[16384];
    const ssize_t n = socket_.receive(buf, sizeof buf, deadline);
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
