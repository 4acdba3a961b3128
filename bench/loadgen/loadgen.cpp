// gatio-loadgen: a closed-loop TCP load generator for echo servers.
//
// Each connection keeps `depth` messages of `size` bytes in flight: a new message is written as
// soon as an earlier one has come back in full. Every echoed byte is compared with what was
// sent (a pseudo-random pattern at a per-connection offset), so a server that drops, reorders
// or corrupts bytes fails the run. Latency is measured per message, from its first byte written
// to its last byte read back. Worker threads each own a share of the connections and an epoll
// instance, so the client does not share an io_uring implementation with the server it tests.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <arpa/inet.h>
#include <barrier>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <memory>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <random>
#include <sched.h>
#include <string>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "bench/loadgen/histogram.hpp"

namespace gatio::loadgen {
namespace {

constexpr std::size_t pattern_size = 1u << 22;
constexpr int max_events = 256;

std::int64_t now_ns() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

struct Settings {
    std::string address = "127.0.0.1:7000";
    unsigned connections = 64;
    std::size_t size = 64;
    unsigned depth = 1;
    double duration_s = 10;
    double warmup_s = 1;
    unsigned threads = 1;
    bool pin = false;
    bool json = false;
};

struct Conn {
    int fd = -1;
    std::size_t seed = 0;              // where this connection's stream starts in the pattern
    std::uint64_t sent = 0;            // stream bytes written
    std::uint64_t received = 0;        // stream bytes read back and verified
    std::uint64_t completed = 0;       // messages fully echoed
    std::vector<std::int64_t> started; // [message % depth]: when its first byte was written
};

struct Result {
    Histogram latency;
    std::uint64_t requests = 0; // messages completed inside the measurement window
    std::uint64_t bytes = 0;    // bytes echoed inside the window
    std::string error;          // first failure, "" if none
};

class Worker {
public:
    Worker(const Settings& s, const std::vector<std::uint8_t>& pattern, const sockaddr_storage& addr,
           socklen_t addr_len, unsigned first, unsigned count)
        : s_(s), pattern_(pattern) {
        ep_ = ::epoll_create1(EPOLL_CLOEXEC);
        if (ep_ < 0) {
            fail(fmt::format("epoll_create1: {}", std::strerror(errno)));
            return;
        }
        conns_.resize(count);
        for (unsigned i = 0; i < count && result_.error.empty(); ++i) {
            open(conns_[i], first + i, addr, addr_len);
        }
    }
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;
    ~Worker() {
        for (auto& c : conns_) {
            if (c.fd >= 0) {
                ::close(c.fd);
            }
        }
        if (ep_ >= 0) {
            ::close(ep_);
        }
    }

    const std::string& error() const { return result_.error; }

    Result run(std::int64_t measure_from, std::int64_t measure_until) {
        measure_from_ = measure_from;
        measure_until_ = measure_until;
        for (auto& c : conns_) {
            if (!result_.error.empty()) {
                break;
            }
            pump_out(c);
        }
        epoll_event events[max_events];
        while (result_.error.empty() && now_ns() < measure_until_) {
            int n = ::epoll_wait(ep_, events, max_events, 50);
            if (n < 0 && errno != EINTR) {
                fail(fmt::format("epoll_wait: {}", std::strerror(errno)));
            }
            for (int i = 0; i < n && result_.error.empty(); ++i) {
                Conn& c = conns_[events[i].data.u32];
                if ((events[i].events & EPOLLIN) != 0) {
                    pump_in(c);
                }
                if ((events[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) != 0) {
                    pump_out(c);
                }
            }
        }
        return std::move(result_);
    }

private:
    void fail(std::string why) {
        if (result_.error.empty()) {
            result_.error = std::move(why);
        }
    }

    void open(Conn& c, unsigned id, const sockaddr_storage& addr, socklen_t addr_len) {
        c.fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c.fd < 0) {
            fail(fmt::format("connection {}: socket: {}", id, std::strerror(errno)));
            return;
        }
        if (::connect(c.fd, reinterpret_cast<const sockaddr*>(&addr), addr_len) != 0) {
            fail(fmt::format("connection {}: connect to {}: {}", id, s_.address, std::strerror(errno)));
            return;
        }
        int one = 1;
        ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        ::fcntl(c.fd, F_SETFL, ::fcntl(c.fd, F_GETFL) | O_NONBLOCK);
        c.seed = (static_cast<std::size_t>(id) * 7919u * 131u) % pattern_size;
        c.started.assign(s_.depth, 0);
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLOUT | EPOLLET;
        ev.data.u32 = static_cast<std::uint32_t>(&c - conns_.data());
        if (::epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev) != 0) {
            fail(fmt::format("connection {}: epoll_ctl: {}", id, std::strerror(errno)));
        }
    }

    // Writes until `depth` messages are in flight or the socket is full.
    void pump_out(Conn& c) {
        const std::uint64_t limit = (c.completed + s_.depth) * s_.size;
        while (c.sent < limit) {
            std::size_t at = (c.seed + c.sent) % pattern_size;
            std::size_t n = std::min<std::uint64_t>(limit - c.sent, pattern_size - at);
            if (c.sent % s_.size == 0) {
                c.started[(c.sent / s_.size) % s_.depth] = now_ns();
            }
            ssize_t w = ::send(c.fd, pattern_.data() + at, n, MSG_NOSIGNAL);
            if (w < 0) {
                if (errno != EAGAIN && errno != EINTR) {
                    fail(fmt::format("send: {}", std::strerror(errno)));
                }
                return;
            }
            std::uint64_t before = c.sent;
            c.sent += static_cast<std::uint64_t>(w);
            // Messages whose first byte went out inside this write start now.
            std::int64_t t = now_ns();
            for (std::uint64_t m = before / s_.size + 1; m * s_.size < c.sent; ++m) {
                c.started[m % s_.depth] = t;
            }
        }
    }

    void pump_in(Conn& c) {
        std::uint8_t buf[65536];
        for (;;) {
            ssize_t r = ::recv(c.fd, buf, sizeof buf, 0);
            if (r < 0) {
                if (errno != EAGAIN && errno != EINTR) {
                    fail(fmt::format("recv: {}", std::strerror(errno)));
                }
                return;
            }
            if (r == 0) {
                fail("the server closed a connection");
                return;
            }
            if (c.received + static_cast<std::uint64_t>(r) > c.sent) {
                fail("the server sent more bytes than it was sent");
                return;
            }
            if (!verify(c, buf, static_cast<std::size_t>(r))) {
                return;
            }
            account(c, static_cast<std::uint64_t>(r));
            pump_out(c);
        }
    }

    bool verify(const Conn& c, const std::uint8_t* p, std::size_t n) {
        std::uint64_t off = c.received;
        while (n > 0) {
            std::size_t at = (c.seed + off) % pattern_size;
            std::size_t k = std::min(n, pattern_size - at);
            if (std::memcmp(p, pattern_.data() + at, k) != 0) {
                fail(fmt::format("echoed bytes differ from those sent near stream offset {}", off));
                return false;
            }
            p += k;
            n -= k;
            off += k;
        }
        return true;
    }

    void account(Conn& c, std::uint64_t n) {
        std::int64_t t = now_ns();
        bool measuring = t >= measure_from_ && t < measure_until_;
        c.received += n;
        if (measuring) {
            result_.bytes += n;
        }
        while ((c.completed + 1) * s_.size <= c.received) {
            if (measuring) {
                result_.latency.record(static_cast<std::uint64_t>(t - c.started[c.completed % s_.depth]));
                ++result_.requests;
            }
            ++c.completed;
        }
    }

    const Settings& s_;
    const std::vector<std::uint8_t>& pattern_;
    int ep_ = -1;
    std::vector<Conn> conns_;
    std::int64_t measure_from_ = 0;
    std::int64_t measure_until_ = 0;
    Result result_;
};

bool resolve(const std::string& text, sockaddr_storage& out, socklen_t& len, std::string& error) {
    auto colon = text.rfind(':');
    if (colon == std::string::npos) {
        error = fmt::format("address \"{}\": expected HOST:PORT", text);
        return false;
    }
    std::string host = text.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    int rc = ::getaddrinfo(host.c_str(), text.c_str() + colon + 1, &hints, &res);
    if (rc != 0 || res == nullptr) {
        error = fmt::format("address \"{}\": {}", text, ::gai_strerror(rc));
        return false;
    }
    std::memcpy(&out, res->ai_addr, res->ai_addrlen);
    len = res->ai_addrlen;
    ::freeaddrinfo(res);
    return true;
}

int run(const Settings& s) {
    sockaddr_storage addr{};
    socklen_t addr_len = 0;
    std::string error;
    if (!resolve(s.address, addr, addr_len, error)) {
        std::fprintf(stderr, "gatio-loadgen: %s\n", error.c_str());
        return 2;
    }
    std::vector<std::uint8_t> pattern(pattern_size);
    std::mt19937_64 rng(0x9a710);
    for (auto& b : pattern) {
        b = static_cast<std::uint8_t>(rng());
    }

    unsigned threads = std::min(s.threads, s.connections);
    std::vector<int> cpus;
    if (s.pin) {
        cpu_set_t allowed;
        CPU_ZERO(&allowed);
        ::sched_getaffinity(0, sizeof allowed, &allowed);
        for (int c = 0; c < CPU_SETSIZE; ++c) {
            if (CPU_ISSET(c, &allowed)) {
                cpus.push_back(c);
            }
        }
    }
    // Each worker connects from its own thread (and CPU, when pinned), as a client spread over
    // cores would; the measured window opens once every connection is up.
    std::int64_t from = 0, until = 0;
    auto open_window = [&]() noexcept {
        from = now_ns() + static_cast<std::int64_t>(s.warmup_s * 1e9);
        until = from + static_cast<std::int64_t>(s.duration_s * 1e9);
    };
    std::barrier connected(static_cast<std::ptrdiff_t>(threads), open_window);
    std::vector<Result> results(threads);
    std::vector<std::thread> pool;
    for (unsigned t = 0, first = 0; t < threads; ++t) {
        unsigned count = s.connections / threads + (t < s.connections % threads ? 1 : 0);
        pool.emplace_back([&, t, first, count] {
            if (!cpus.empty()) {
                cpu_set_t one;
                CPU_ZERO(&one);
                CPU_SET(cpus[t % cpus.size()], &one);
                ::sched_setaffinity(0, sizeof one, &one);
            }
            Worker w(s, pattern, addr, addr_len, first, count);
            connected.arrive_and_wait();
            results[t] = w.error().empty() ? w.run(from, until) : Result{{}, 0, 0, w.error()};
        });
        first += count;
    }
    for (auto& th : pool) {
        th.join();
    }

    Result total;
    for (auto& r : results) {
        if (!r.error.empty() && total.error.empty()) {
            total.error = r.error;
        }
        total.latency.merge(r.latency);
        total.requests += r.requests;
        total.bytes += r.bytes;
    }
    if (!total.error.empty()) {
        std::fprintf(stderr, "gatio-loadgen: %s\n", total.error.c_str());
        return 1;
    }
    double rps = static_cast<double>(total.requests) / s.duration_s;
    double mib = static_cast<double>(total.bytes) / s.duration_s / (1024.0 * 1024.0);
    auto us = [&](double q) { return static_cast<double>(total.latency.quantile(q)) / 1000.0; };
    if (s.json) {
        fmt::print("{{\"connections\":{},\"size\":{},\"depth\":{},\"duration_s\":{},\"requests\":{},"
                   "\"requests_per_s\":{:.1f},\"mib_per_s\":{:.2f},\"p50_us\":{:.1f},\"p99_us\":{:.1f},"
                   "\"p999_us\":{:.1f}}}\n",
                   s.connections, s.size, s.depth, s.duration_s, total.requests, rps, mib, us(0.5), us(0.99),
                   us(0.999));
    } else {
        fmt::print("connections={} size={} depth={} duration={}s requests={} requests/s={:.1f} MiB/s={:.2f} "
                   "p50={:.1f}us p99={:.1f}us p99.9={:.1f}us\n",
                   s.connections, s.size, s.depth, s.duration_s, total.requests, rps, mib, us(0.5), us(0.99),
                   us(0.999));
    }
    return 0;
}

} // namespace
} // namespace gatio::loadgen

int main(int argc, char** argv) {
    gatio::loadgen::Settings s;
    CLI::App app{"Closed-loop TCP load generator for echo servers; verifies every echoed byte"};
    app.add_option("-a,--address", s.address, "server HOST:PORT")->capture_default_str();
    app.add_option("-c,--connections", s.connections, "concurrent connections")
        ->check(CLI::Range(1u, 100000u))
        ->capture_default_str();
    app.add_option("-s,--size", s.size, "message size in bytes")
        ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 24))
        ->capture_default_str();
    app.add_option("-p,--depth", s.depth, "messages in flight per connection")
        ->check(CLI::Range(1u, 4096u))
        ->capture_default_str();
    app.add_option("-d,--duration", s.duration_s, "measured seconds")
        ->check(CLI::Range(0.1, 86400.0))
        ->capture_default_str();
    app.add_option("-w,--warmup", s.warmup_s, "seconds run before measuring")
        ->check(CLI::Range(0.0, 3600.0))
        ->capture_default_str();
    app.add_option("-t,--threads", s.threads, "client threads")
        ->check(CLI::Range(1u, 256u))
        ->capture_default_str();
    app.add_flag("--pin", s.pin, "pin worker thread i to the i-th CPU this process may use");
    app.add_flag("--json", s.json, "print one JSON object instead of a text line");
    CLI11_PARSE(app, argc, argv);
    return gatio::loadgen::run(s);
}
