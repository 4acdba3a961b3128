// Draining answers what was received: on SIGTERM, replies to requests already taken in (their
// work still running on another driver's shard), and to requests the kernel still holds, are
// delivered, in order, before the close.
#include <arpa/inet.h>
#include <atomic>
#include <catch2/catch.hpp>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <functional>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <string>
#include <string_view>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

#include "harness.hpp"

using namespace gatio::service_test;

namespace {

const std::string resp_plugin = std::string(GATIO_PLUGIN_OUTPUT_DIR) + "/resp.so";

// The shard the resp plugin gives a key among `shards` (plugins/resp/resp.cpp, shard_of): the
// test aims at a key whose shard lives on the driver that does not serve the connection.
std::uint32_t resp_shard(std::string_view key, std::uint32_t shards) {
    std::uint64_t h = std::hash<std::string_view>{}(key)*0x9E3779B97F4A7C15ULL;
    return static_cast<std::uint32_t>((h >> 32) % shards);
}

std::string command(std::initializer_list<std::string_view> args) {
    std::string out = '*' + std::to_string(args.size()) + "\r\n";
    for (auto a : args) {
        out += '$' + std::to_string(a.size()) + "\r\n" + std::string(a) + "\r\n";
    }
    return out;
}

// Reads one RESP integer or bulk-string reply holding an integer (":n" or "$len\r\nn"); nullopt
// at EOF.
class Replies {
public:
    explicit Replies(int fd) : fd_(fd) {}

    std::optional<std::string> line() {
        for (;;) {
            auto end = buf_.find("\r\n", pos_);
            if (end != std::string::npos) {
                std::string l = buf_.substr(pos_, end - pos_);
                pos_ = end + 2;
                if (pos_ > (1u << 20)) {
                    buf_.erase(0, pos_);
                    pos_ = 0;
                }
                return l;
            }
            char chunk[65536];
            const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
            if (n <= 0) {
                error_ = n < 0 ? errno : 0;
                return std::nullopt;
            }
            buf_.append(chunk, static_cast<std::size_t>(n));
        }
    }

    // The value of the next reply, or nullopt at EOF or on anything but an integer.
    std::optional<long long> number() {
        auto l = line();
        if (!l || l->empty()) {
            return std::nullopt;
        }
        if ((*l)[0] == ':') {
            return std::stoll(l->substr(1));
        }
        if ((*l)[0] == '$') {
            if (*l == "$-1") {
                return 0; // the key does not exist yet
            }
            auto v = line();
            return v ? std::optional<long long>(std::stoll(*v)) : std::nullopt;
        }
        return std::nullopt;
    }

    int error() const { return error_; }
    bool drained() const { return pos_ == buf_.size(); }

private:
    int fd_;
    std::string buf_;
    std::size_t pos_ = 0;
    int error_ = 0;
};

} // namespace

TEST_CASE("SIGTERM: a client pipelining INCRs without reading gets a reply for each that ran, in order, then "
          "EOF",
          "[service][shutdown][drain]") {
    TempDir dir;
    const int port = free_port();
    // Two exec drivers, so two shards; the listener on d0 only, so the key aimed at (shard 1)
    // has its work on d1. The watermark is high so that reading never pauses: the INCRs run
    // while SIGTERM lands.
    const auto file = dir.write(
        "gatio.toml", "[daemon]\nshutdown_grace = \"30s\"\n[topology]\nmode = \"manual\"\n"
                      "[[tpc]]\nname = \"node0\"\nnuma_node = 0\n"
                      "[[tpc.driver]]\nname = \"d0\"\ncpu = 0\nrole = \"io+exec\"\n"
                      "[[tpc.driver]]\nname = \"d1\"\ncpu = 1\nrole = \"io+exec\"\n" +
                          tcp_listener("kv", port, resp_plugin,
                                       "drivers = [\"d0\"]\nsend_high_watermark = \"64MiB\"\n"
                                       "send_low_watermark = \"1MiB\"\nsend_buffer_limit = \"128MiB\"\n"));
    Child child({gatiod, "-c", file.string()}, clean_env());
    REQUIRE(child.wait_for_output(" running; SIGTERM or SIGINT stops it", 60s));

    std::string key = "k";
    for (char c = 'a'; resp_shard(key, 2) != 1; ++c) {
        key = std::string("k") + c;
    }
    constexpr std::size_t incrs = 200'000;
    std::string stream;
    const std::string one = command({"INCR", key});
    stream.reserve(one.size() * incrs);
    for (std::size_t i = 0; i < incrs; ++i) {
        stream += one;
    }

    const int writer = connect_tcp(port);
    REQUIRE(writer >= 0);
    struct Closer {
        int fd;
        ~Closer() { ::close(fd); }
    } close_writer{writer};
    const int reader = connect_tcp(port);
    REQUIRE(reader >= 0);
    Closer close_reader{reader};
    // The writer sends everything and reads nothing; the send ends early once gatiod closes.
    std::atomic<std::size_t> sent{0};
    std::jthread pipeline([&] {
        std::string_view rest = stream;
        while (!rest.empty()) {
            const ssize_t n = ::send(writer, rest.data(), rest.size(), MSG_NOSIGNAL);
            if (n <= 0) {
                break;
            }
            rest.remove_prefix(static_cast<std::size_t>(n));
            sent += static_cast<std::size_t>(n);
        }
    });
    // Whatever fails below, the writer's send ends (shutdown wakes it) before the thread is joined.
    struct Unblock {
        int fd;
        ~Unblock() { ::shutdown(fd, SHUT_RDWR); }
    } unblock{writer};

    Replies second(reader);
    const std::string get = command({"GET", key});
    long long seen = 0;
    while (seen < 1000) {
        send_all(reader, get);
        auto v = second.number();
        REQUIRE(v);
        seen = *v;
    }
    // GET queued behind the INCRs on d1, then the signal: its reply is owed too.
    send_all(reader, get);
    child.signal(SIGTERM);
    auto before = second.number();
    REQUIRE(before);
    CHECK(*before >= seen);
    CHECK(!second.number()); // then EOF
    CHECK(second.error() == 0);

    Replies first(writer);
    long long replies = 0;
    bool in_order = true;
    while (auto v = first.number()) {
        if (*v != replies + 1) {
            in_order = false;
            break;
        }
        ++replies;
    }
    INFO("replies " << replies << ", GET before the signal " << *before << ", bytes sent " << sent.load());
    CHECK(in_order);
    CHECK(first.error() == 0); // an orderly close, not a reset
    CHECK(replies >= *before);
    CHECK(replies <= static_cast<long long>(incrs));
    // Our FINs: gatiod need not wait close_linger for them.
    ::shutdown(writer, SHUT_WR);
    ::shutdown(reader, SHUT_WR);
    CHECK(child.wait(60s) == 0);
}

TEST_CASE("SIGTERM: an http request partly received completes and is answered, an idle connection closes at "
          "once",
          "[service][shutdown][drain]") {
    TempDir dir;
    const int port = free_port();
    const auto file = dir.write(
        "gatio.toml",
        config_text(
            "shutdown_grace = \"30s\"\n",
            tcp_listener("web", port, std::string(GATIO_PLUGIN_OUTPUT_DIR) + "/http.so",
                         "[listener.options]\n[[listener.options.route]]\npath = \"/\"\nbody = \"hi\"\n")));
    Child child({gatiod, "-c", file.string()}, clean_env());
    REQUIRE(child.wait_for_output(" running; SIGTERM or SIGINT stops it", 60s));

    const int idle = connect_tcp(port);
    REQUIRE(idle >= 0);
    send_all(idle, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    const std::string first = receive(idle, 1);
    REQUIRE(first == "H");
    // Accepted and served first (a connection still in the listen queue is refused by the
    // drain), then half of its next request's head.
    const int partial = connect_tcp(port);
    REQUIRE(partial >= 0);
    send_all(partial, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    REQUIRE(receive(partial, 1) == "H");
    send_all(partial, "GET / HTTP/1.1\r\nHo");
    // Whether the half head has reached the handler or is still in the kernel when the signal
    // lands (the drain's last receive then delivers it), the request may complete.

    child.signal(SIGTERM);
    REQUIRE(child.wait_for_output("SIGTERM received: stopping", 30s));
    // The idle keep-alive connection: the rest of its answer, then EOF.
    std::string rest = receive(idle, 1u << 20);
    CHECK(rest.find("hi") != std::string::npos);
    char byte = 0;
    CHECK(::recv(idle, &byte, 1, 0) == 0);
    // The request under way completes and gets its answer, then the connection closes.
    send_all(partial, "st: x\r\n\r\n");
    const std::string answer = receive(partial, 1u << 20);
    INFO(answer);
    // The rest of the first answer, then the second one.
    const auto second = answer.find("HTTP/1.1 200");
    REQUIRE(second != std::string::npos);
    CHECK(answer.find("HTTP/1.1 200", second + 1) == std::string::npos);
    CHECK(answer.rfind("\r\n\r\nhi") > second);
    CHECK(::recv(partial, &byte, 1, 0) == 0);
    ::close(idle);
    ::close(partial);
    CHECK(child.wait(60s) == 0);
}

namespace {

// read_pauses in the total line of the latest SIGUSR1 counter dump, or -1 before one.
long long total_read_pauses(const std::string& log) {
    const auto line = log.rfind("counters: total:");
    if (line == std::string::npos) {
        return -1;
    }
    const auto at = log.find("read_pauses=", line);
    return at == std::string::npos ? -1 : std::stoll(log.substr(at + std::strlen("read_pauses=")));
}

} // namespace

TEST_CASE("SIGTERM: requests queued in the kernel beyond one receive buffer, behind output above the send "
          "watermark, are all answered, then EOF",
          "[service][shutdown][drain]") {
    TempDir dir;
    const int port = free_port();
    // 512-byte receive buffers, so that the requests queued below span many of them.
    const auto file = dir.write(
        "gatio.toml",
        "[daemon]\nshutdown_grace = \"30s\"\n[topology]\nmode = \"auto\"\nbuffer_size = \"512B\"\n" +
            tcp_listener("svc", port, SERVICE_TEST_PLUGIN,
                         "send_high_watermark = \"64KiB\"\nsend_low_watermark = \"16KiB\"\n"));
    Child child({gatiod, "-c", file.string()}, clean_env());
    REQUIRE(child.wait_for_output(" running; SIGTERM or SIGINT stops it", 60s));

    const int fd = connect_tcp(port);
    REQUIRE(fd >= 0);
    struct Closer {
        int fd;
        ~Closer() { ::close(fd); }
    } closer{fd};
    // An answer far larger than the kernel's socket buffers, which the client does not read yet:
    // gatiod's output for the connection passes the high watermark and it stops reading.
    constexpr std::size_t big = 8u << 20;
    send_all(fd, "big " + std::to_string(big) + "\n");
    long long pauses = -1;
    for (int i = 0; i < 600 && pauses < 1; ++i) {
        child.signal(SIGUSR1);
        REQUIRE(child.wait_until([](const std::string& out) { return total_read_pauses(out) >= 0; }, 30s));
        pauses = total_read_pauses(child.out());
        if (pauses < 1) {
            std::this_thread::sleep_for(50ms);
        }
    }
    REQUIRE(pauses >= 1);
    // Then requests of one buffer each, 64 buffers in all, which stay in the kernel: the drain
    // has to take them all.
    constexpr std::size_t requests = 64;
    constexpr std::size_t answer = 100;
    std::string one = "big " + std::to_string(answer);
    one.resize(511, ' ');
    one += '\n';
    std::string burst;
    for (std::size_t i = 0; i < requests; ++i) {
        burst += one;
    }
    send_all(fd, burst);
    // Every byte sent is acknowledged, so it is held by gatiod's side before the signal.
    int unacked = -1;
    for (int i = 0; i < 3000 && unacked != 0; ++i) {
        REQUIRE(::ioctl(fd, SIOCOUTQ, &unacked) == 0);
        if (unacked != 0) {
            std::this_thread::sleep_for(10ms);
        }
    }
    REQUIRE(unacked == 0);
    child.signal(SIGTERM);
    REQUIRE(child.wait_for_output("SIGTERM received: stopping", 30s));

    std::size_t received = 0;
    bool pattern = true;
    char chunk[65536];
    for (;;) {
        const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        REQUIRE(n >= 0); // an orderly close, not a reset or a timeout
        if (n == 0) {
            break;
        }
        for (ssize_t i = 0; i < n; ++i, ++received) {
            // The large answer, then each short one: byte i of an answer is 'a' + i % 26.
            const std::size_t at = received < big ? received : (received - big) % answer;
            pattern = pattern && chunk[i] == static_cast<char>('a' + at % 26);
        }
    }
    CHECK(pattern);
    CHECK(received == big + requests * answer);
    ::shutdown(fd, SHUT_WR);
    CHECK(child.wait(60s) == 0);
}
