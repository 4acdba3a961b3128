#include "harness.hpp"

#include <arpa/inet.h>
#include <catch2/catch.hpp>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <memory>
#include <netinet/in.h>
#include <poll.h>
#include <sstream>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "check.hpp"

namespace gatio::resp::test {

namespace {

using Clock = std::chrono::steady_clock;

sockaddr_in loopback(std::uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

int connect_to(std::uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_in a = loopback(port);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

// Waits (bounded) until the port accepts connections or the process has died.
void wait_for_port(std::uint16_t port, Process& p, std::string_view what) {
    auto end = Clock::now() + 20s;
    while (Clock::now() < end) {
        int fd = connect_to(port);
        if (fd >= 0) {
            ::close(fd);
            return;
        }
        if (!p.running()) {
            break;
        }
        std::this_thread::sleep_for(20ms);
    }
    FAIL(std::string(what) << " did not listen on port " << port << "; its log:\n" << p.log());
}

} // namespace

std::uint16_t free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_in a = loopback(0);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    socklen_t len = sizeof a;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    ::close(fd);
    return ntohs(a.sin_port);
}

Process::Process(const std::vector<std::string>& argv, const std::filesystem::path& log,
                 const std::filesystem::path& input)
    : log_(log) {
    const std::string in_path = input.empty() ? std::string("/dev/null") : input.string();
    std::vector<char*> args;
    for (const auto& a : argv) {
        args.push_back(const_cast<char*>(a.c_str()));
    }
    args.push_back(nullptr);
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
        int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int in = ::open(in_path.c_str(), O_RDONLY);
        if (out < 0 || in < 0 || ::dup2(in, 0) < 0 || ::dup2(out, 1) < 0 || ::dup2(out, 2) < 0) {
            ::_exit(126);
        }
        ::execv(args[0], args.data());
        ::_exit(127);
    }
}

Process::~Process() {
    stop();
}

bool Process::running() {
    if (pid_ < 0) {
        return false;
    }
    int st = 0;
    pid_t r = ::waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
        status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        pid_ = -1;
        return false;
    }
    return true;
}

int Process::stop(std::chrono::milliseconds grace) {
    if (!running()) {
        return status_;
    }
    ::kill(pid_, SIGTERM);
    auto end = Clock::now() + grace;
    while (Clock::now() < end) {
        if (!running()) {
            return status_;
        }
        std::this_thread::sleep_for(10ms);
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
    status_ = -1;
    return status_;
}

std::string Process::log() const {
    std::ifstream in(log_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

TempDir::TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base && *base ? base : "/tmp") + "/gatio-resp-XXXXXX";
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
}

TempDir::~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

namespace {

std::filesystem::path write_config(const std::filesystem::path& dir, std::uint16_t port,
                                   std::string_view options, int drivers = 2) {
    auto path = dir / "gatio.toml";
    std::ofstream conf(path);
    conf << "[daemon]\nlog_level = \"info\"\nshutdown_grace = \"2s\"\n"
         << "[topology]\nmode = \"manual\"\n"
         << "[[tpc]]\nname = \"node0\"\nnuma_node = 0\n";
    for (int d = 0; d < drivers; ++d) {
        conf << "[[tpc.driver]]\nname = \"d" << d << "\"\ncpu = " << d << "\nrole = \"io+exec\"\n";
    }
    conf << "[[listener]]\nname = \"kv\"\ntransport = \"tcp\"\naddress = \"127.0.0.1:" << port << "\"\n"
         << "handler = \"resp\"\nmax_connections = 1024\n"
         << "[listener.options]\n"
         << options << "\n";
    return path;
}

std::vector<std::string> gatiod_argv(const std::filesystem::path& config) {
    return {GATIOD_PATH, "-c", config.string(), "--plugin-dir", GATIO_PLUGIN_OUTPUT_DIR};
}

} // namespace

Gatiod::Gatiod(std::string_view options, int drivers, const std::vector<std::string>& env)
    : port_(free_port()) {
    auto config = write_config(dir_.path(), port_, options, drivers);
    std::vector<std::string> argv = gatiod_argv(config);
    if (!env.empty()) {
        // env(1) execs gatiod in its own process, so the pid stays gatiod's.
        std::vector<std::string> with{"/usr/bin/env"};
        with.insert(with.end(), env.begin(), env.end());
        with.insert(with.end(), argv.begin(), argv.end());
        argv = std::move(with);
    }
    process_ = std::make_unique<Process>(argv, dir_.path() / "gatiod.log");
    wait_for_port(port_, *process_, "gatiod");
}

Ran gatiod_exits(std::string_view options) {
    TempDir dir;
    return run(gatiod_argv(write_config(dir.path(), free_port(), options)), 20s);
}

RedisServer::RedisServer() : port_(free_port()) {
    process_ = std::make_unique<Process>(std::vector<std::string>{"/usr/bin/redis-server", "--port",
                                                                  std::to_string(port_), "--bind",
                                                                  "127.0.0.1", "--save", "", "--appendonly",
                                                                  "no", "--dir", dir_.path().string()},
                                         dir_.path() / "redis.log");
    wait_for_port(port_, *process_, "redis-server");
}

Ran run(const std::vector<std::string>& argv, std::chrono::milliseconds limit,
        const std::filesystem::path& input) {
    TempDir dir;
    auto out = dir.path() / "out";
    Process p(argv, out, input);
    auto end = Clock::now() + limit;
    while (p.running() && Clock::now() < end) {
        std::this_thread::sleep_for(5ms);
    }
    Ran r;
    r.status = p.stop(1s);
    r.out = p.log();
    return r;
}

Client::Client(std::uint16_t port) {
    fd_ = connect_to(port);
    REQUIRE(fd_ >= 0);
    REQUIRE(::fcntl(fd_, F_SETFL, O_NONBLOCK) == 0);
}

Client::~Client() {
    if (fd_ >= 0) {
        ::close(fd_);
    }
}

std::string Client::exchange(std::string_view request, std::size_t replies, std::chrono::milliseconds limit) {
    auto end = Clock::now() + limit;
    std::size_t sent = 0;
    std::size_t complete = 0;
    std::size_t parsed = 0; // bytes of pending_ that hold complete replies
    char buf[65536];
    while (complete < replies || sent < request.size()) {
        // Count what has arrived before waiting for more.
        while (complete < replies) {
            std::size_t n = check::reply_length(std::string_view(pending_).substr(parsed));
            if (n == 0) {
                break;
            }
            parsed += n;
            ++complete;
        }
        if (complete == replies && sent == request.size()) {
            break;
        }
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()).count();
        if (left <= 0) {
            FAIL("timed out with " << complete << " of " << replies << " replies and " << sent << " of "
                                   << request.size() << " bytes sent");
        }
        pollfd p{fd_, static_cast<short>(POLLIN | (sent < request.size() ? POLLOUT : 0)), 0};
        REQUIRE(::poll(&p, 1, static_cast<int>(std::min<long>(left, 1000))) >= 0);
        if (p.revents & POLLOUT) {
            ssize_t w = ::send(fd_, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
            REQUIRE((w >= 0 || errno == EAGAIN));
            sent += w > 0 ? static_cast<std::size_t>(w) : 0;
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t r = ::recv(fd_, buf, sizeof buf, 0);
            if (r == 0) {
                FAIL("the server closed the connection after " << complete << " of " << replies
                                                               << " replies");
            }
            REQUIRE((r > 0 || errno == EAGAIN));
            pending_.append(buf, r > 0 ? static_cast<std::size_t>(r) : 0);
        }
    }
    std::string out = pending_.substr(0, parsed);
    pending_.erase(0, parsed);
    return out;
}

std::string Client::receive(std::size_t bytes, std::chrono::milliseconds limit) {
    auto end = Clock::now() + limit;
    std::string out = std::move(pending_);
    pending_.clear();
    char buf[65536];
    while (out.size() < bytes) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()).count();
        if (left <= 0) {
            FAIL("timed out with " << out.size() << " of " << bytes << " bytes received");
        }
        pollfd p{fd_, POLLIN, 0};
        REQUIRE(::poll(&p, 1, static_cast<int>(std::min<long>(left, 1000))) >= 0);
        if (p.revents == 0) {
            continue;
        }
        ssize_t r = ::recv(fd_, buf, std::min(sizeof buf, bytes - out.size()), 0);
        if (r == 0) {
            FAIL("the server closed the connection after " << out.size() << " of " << bytes << " bytes");
        }
        REQUIRE((r > 0 || errno == EAGAIN));
        out.append(buf, r > 0 ? static_cast<std::size_t>(r) : 0);
    }
    pending_ = out.substr(bytes);
    out.resize(bytes);
    return out;
}

void Client::send_all(std::string_view data) {
    std::size_t sent = 0;
    auto end = Clock::now() + 10s;
    while (sent < data.size()) {
        REQUIRE(Clock::now() < end);
        pollfd p{fd_, POLLOUT, 0};
        REQUIRE(::poll(&p, 1, 1000) >= 0);
        ssize_t w = ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
        REQUIRE((w >= 0 || errno == EAGAIN));
        sent += w > 0 ? static_cast<std::size_t>(w) : 0;
    }
}

std::string Client::read_to_close(std::chrono::milliseconds limit) {
    auto end = Clock::now() + limit;
    std::string out = std::move(pending_);
    pending_.clear();
    char buf[65536];
    while (true) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()).count();
        if (left <= 0) {
            FAIL("the server did not close the connection; received so far: " << out);
        }
        pollfd p{fd_, POLLIN, 0};
        REQUIRE(::poll(&p, 1, static_cast<int>(std::min<long>(left, 1000))) >= 0);
        if (p.revents == 0) {
            continue;
        }
        ssize_t r = ::recv(fd_, buf, sizeof buf, 0);
        if (r == 0 || (r < 0 && errno == ECONNRESET)) {
            return out;
        }
        REQUIRE((r > 0 || errno == EAGAIN));
        out.append(buf, r > 0 ? static_cast<std::size_t>(r) : 0);
    }
}

std::size_t resident_bytes(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("VmRSS:", 0) == 0) {
            return std::stoull(line.substr(6)) * 1024; // "VmRSS:   1234 kB"
        }
    }
    FAIL("no VmRSS in /proc/" << pid << "/status");
    return 0;
}

std::string request(const std::vector<std::string>& args) {
    std::string out = '*' + std::to_string(args.size()) + "\r\n";
    for (const auto& a : args) {
        out += '$' + std::to_string(a.size()) + "\r\n" + a + "\r\n";
    }
    return out;
}

// Whether redis-benchmark's quiet output has "<label><number> requests per second".
bool reports_rate(const std::string& out, const std::string& label) {
    for (std::size_t at = out.find(label); at != std::string::npos; at = out.find(label, at + 1)) {
        std::size_t end = out.find_first_not_of("0123456789.", at + label.size());
        if (end > at + label.size() && out.compare(end, 20, " requests per second") == 0) {
            return true;
        }
    }
    return false;
}

} // namespace gatio::resp::test
