#include "harness.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <memory>
#include <poll.h>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "check.hpp"
#include "keyspace.hpp"
#include "tests/support/gatiod.hpp"

namespace gatio::resp::test {

namespace {

using Clock = std::chrono::steady_clock;

// Clients also run on threads a test starts, where Catch2's assertions must not be used (they
// race on its state): a client's failure is an exception, which Catch2 reports on the test's
// own thread and which ends the test program on any other.
template <typename... Parts>
[[noreturn]] void client_failed(const Parts&... parts) {
    std::ostringstream text;
    (text << ... << parts);
    throw std::runtime_error(text.str());
}

void client_check(bool ok, const char* what) {
    if (!ok) {
        client_failed(what, ": ", std::strerror(errno));
    }
}

// poll(2) on one descriptor for at most `ms`, retried when a signal interrupts it; the result in
// p.revents.
void wait(pollfd& p, long ms) {
    while (::poll(&p, 1, static_cast<int>(std::min<long>(ms, 1000))) < 0) {
        client_check(errno == EINTR, "poll");
    }
}

// Waits (bounded) until the port accepts connections or the process has died.
void wait_for_port(std::uint16_t port, Process& p, std::string_view what) {
    auto end = Clock::now() + 20s;
    while (Clock::now() < end) {
        if (::gatio::test::Socket::try_tcp(port).valid()) {
            return;
        }
        if (!p.running()) {
            break;
        }
        std::this_thread::sleep_for(20ms);
    }
    FAIL(std::string(what) << " did not listen on port " << port << "; its log:\n" << p.log());
}

std::filesystem::path write_config(const std::filesystem::path& dir, std::uint16_t port,
                                   std::string_view options, int drivers = 2,
                                   std::string_view listener = "") {
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
         << listener << "\n"
         << "[listener.options]\n"
         << options << "\n";
    return path;
}

} // namespace

Gatiod::Gatiod(std::string_view options, int drivers, const std::vector<std::string>& env,
               std::string_view listener)
    : port_(free_port()) {
    auto config = write_config(dir_.path(), port_, options, drivers, listener);
    std::vector<std::string> argv = ::gatio::test::gatiod_argv(config);
    if (!env.empty()) {
        // env(1) execs gatiod in its own process, so the pid stays gatiod's.
        std::vector<std::string> with{"/usr/bin/env"};
        with.insert(with.end(), env.begin(), env.end());
        with.insert(with.end(), argv.begin(), argv.end());
        argv = std::move(with);
    }
    process_ = std::make_unique<Process>(argv, dir_.path() / "gatiod.log");
    ::gatio::test::wait_running(*process_);
}

Ran gatiod_exits(std::string_view options) {
    TempDir dir;
    return run(::gatio::test::gatiod_argv(write_config(dir.path(), free_port(), options)), 20s);
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
    Ran r;
    r.status = p.wait(limit);
    if (r.status < 0) {
        r.status = p.stop(1s);
    }
    r.out = p.log();
    return r;
}

Client::Client(std::uint16_t port) : socket_(::gatio::test::Socket::tcp(port)) {
    client_check(::fcntl(socket_.fd(), F_SETFL, O_NONBLOCK) == 0, "fcntl(O_NONBLOCK)");
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
            client_failed("timed out with ", complete, " of ", replies, " replies and ", sent, " of ",
                          request.size(), " bytes sent");
        }
        pollfd p{socket_.fd(), static_cast<short>(POLLIN | (sent < request.size() ? POLLOUT : 0)), 0};
        wait(p, left);
        if (p.revents & POLLOUT) {
            ssize_t w = ::gatio::test::send_some(socket_.fd(), request.data() + sent, request.size() - sent);
            client_check(w >= 0 || errno == EAGAIN, "send");
            sent += w > 0 ? static_cast<std::size_t>(w) : 0;
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t r = ::gatio::test::receive(socket_.fd(), buf, sizeof buf);
            if (r == 0) {
                client_failed("the server closed the connection after ", complete, " of ", replies,
                              " replies");
            }
            client_check(r > 0 || errno == EAGAIN, "receive");
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
            client_failed("timed out with ", out.size(), " of ", bytes, " bytes received");
        }
        pollfd p{socket_.fd(), POLLIN, 0};
        wait(p, left);
        if (p.revents == 0) {
            continue;
        }
        ssize_t r = ::gatio::test::receive(socket_.fd(), buf, std::min(sizeof buf, bytes - out.size()));
        if (r == 0) {
            client_failed("the server closed the connection after ", out.size(), " of ", bytes, " bytes");
        }
        client_check(r > 0 || errno == EAGAIN, "receive");
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
        if (Clock::now() >= end) {
            client_failed("timed out with ", sent, " of ", data.size(), " bytes sent");
        }
        pollfd p{socket_.fd(), POLLOUT, 0};
        wait(p, 1000);
        ssize_t w = ::gatio::test::send_some(socket_.fd(), data.data() + sent, data.size() - sent);
        client_check(w >= 0 || errno == EAGAIN, "send");
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
            client_failed("the server did not close the connection; received so far: ", out);
        }
        pollfd p{socket_.fd(), POLLIN, 0};
        wait(p, left);
        if (p.revents == 0) {
            continue;
        }
        ssize_t r = ::gatio::test::receive(socket_.fd(), buf, sizeof buf);
        if (r == 0 || (r < 0 && errno == ECONNRESET)) {
            return out;
        }
        client_check(r > 0 || errno == EAGAIN, "receive");
        out.append(buf, r > 0 ? static_cast<std::size_t>(r) : 0);
    }
}

std::size_t resident_bytes(pid_t pid) {
    return gatio::test::status_kib(pid, "VmRSS:") * 1024;
}

std::string key_on(std::uint32_t shard, std::string_view prefix) {
    for (int i = 0;; ++i) {
        std::string k = numbered(prefix, static_cast<std::size_t>(i));
        if (shard_index(k, 2) == shard) {
            return k;
        }
    }
}

std::string numbered(std::string_view prefix, std::size_t n) {
    return std::string(prefix).append(std::to_string(n));
}

std::string bulk_reply(std::string_view value) {
    return numbered("$", value.size()).append("\r\n").append(value).append("\r\n");
}

std::string request(const std::vector<std::string>& args) {
    std::string out = '*' + std::to_string(args.size()) + "\r\n";
    for (const auto& a : args) {
        out += '$' + std::to_string(a.size()) + "\r\n" + a + "\r\n";
    }
    return out;
}

std::string requests(const std::vector<std::vector<std::string>>& script) {
    std::string all;
    for (const auto& args : script) {
        all += request(args);
    }
    return all;
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

std::string with_admin(std::uint16_t admin, std::string_view options) {
    return std::string(options) + "\n[admin]\nlisten = \"127.0.0.1:" + std::to_string(admin) + "\"\n";
}

std::string metrics(std::uint16_t admin) {
    Client c(admin);
    c.send_all("GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n");
    return c.read_to_close();
}

std::map<std::string, long> by_driver(const std::string& text, const std::string& name) {
    std::map<std::string, long> out;
    std::size_t at = 0;
    while ((at = text.find("\n" + name + "{", at)) != std::string::npos) {
        const std::size_t close = text.find("} ", at);
        const std::size_t end = text.find('\n', close);
        const std::string labels = text.substr(at, close - at);
        const std::size_t d = labels.find("driver=\"");
        const std::string driver = labels.substr(d + 8, labels.find('"', d + 8) - d - 8);
        out[driver] += std::stol(text.substr(close + 2, end - close - 2));
        at = end;
    }
    return out;
}

long total(const std::map<std::string, long>& m) {
    long n = 0;
    for (const auto& [driver, v] : m) {
        n += v;
    }
    return n;
}

std::map<std::string, long> await_metric(std::uint16_t admin, const std::string& name,
                                         const std::function<bool(const std::map<std::string, long>&)>& ok) {
    std::map<std::string, long> m;
    for (int i = 0; i < 2000; ++i) {
        m = by_driver(metrics(admin), name);
        if (ok(m)) {
            return m;
        }
        std::this_thread::sleep_for(5ms);
    }
    return m;
}

std::string driver_of(Client& c, std::uint16_t admin) {
    const auto before = by_driver(metrics(admin), "resp_pubsub_subscriptions");
    c.exchange(request({"subscribe", "__probe"}), 1);
    const long want = total(before) + 1;
    const auto after =
        await_metric(admin, "resp_pubsub_subscriptions", [&](const auto& m) { return total(m) == want; });
    std::string driver;
    for (const auto& [d, v] : after) {
        if (v == (before.count(d) ? before.at(d) : 0) + 1) {
            driver = d;
        }
    }
    c.exchange(request({"unsubscribe", "__probe"}), 1);
    await_metric(admin, "resp_pubsub_subscriptions", [&](const auto& m) { return total(m) == want - 1; });
    REQUIRE(!driver.empty());
    return driver;
}

std::unique_ptr<Client> client_on(std::uint16_t port, std::uint16_t admin, const std::string& driver) {
    for (int i = 0; i < 200; ++i) {
        auto c = std::make_unique<Client>(port);
        if (driver_of(*c, admin) == driver) {
            return c;
        }
    }
    FAIL("no connection landed on driver " << driver);
    return nullptr;
}

} // namespace gatio::resp::test
