// Outbound connections end to end: gatiod with the dial test handler (tests/net/dial_plugin.cpp)
// connecting, through its driver's ring, to real peers: echo listeners of the same gatiod (TCP
// and unix-domain) and sockets this test listens on (refusing, never accepting, resetting, never
// reading).
#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fmt/format.h>
#include <memory>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <vector>

#include <gatio/plugin.h>

#include "tests/net/client.hpp"
#include "tests/net/peers.hpp"
#include "tests/net/process.hpp"
#include "tests/net/temp_dir.hpp"

using gatio::tests::BlackHole;
using gatio::tests::free_port;
using gatio::tests::Peer;
using gatio::tests::Process;
using gatio::tests::Socket;
using gatio::tests::TempDir;

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const fs::path gatiod_path{GATIOD_PATH};
const fs::path plugin_dir{GATIO_PLUGIN_OUTPUT_DIR};
const fs::path test_plugins{GATIO_TEST_PLUGIN_DIR};

// gatiod serving the dial handler, with an echo listener on TCP and one on a unix socket as
// upstreams.
class Dialer {
public:
    explicit Dialer(const std::string& dial_keys = "max_outbound = 1100", const std::string& sections = "")
        : dial_port_(free_port()), echo_port_(free_port()) {
        const auto file = dir_.write("gatio.toml", text(dial_keys, sections));
        process_ = std::make_unique<Process>(
            std::vector<std::string>{gatiod_path.string(), "-c", file.string(), "--plugin-dir",
                                     plugin_dir.string(), "--log-target", "console"},
            dir_.path() / "gatiod.log");
        wait_for("running");
    }

    // Rewrites the file with other keys for the dial listener and reloads it.
    void reload(const std::string& dial_keys) {
        dir_.write("gatio.toml", text(dial_keys, ""));
        REQUIRE(::kill(process_->pid(), SIGHUP) == 0);
        wait_for("reload: listener \"dial\"");
    }

    std::string text(const std::string& dial_keys, const std::string& sections) const {
        return fmt::format(R"([daemon]
log_level = "info"
shutdown_grace = "5s"
{}
[topology]
mode = "auto"
[[listener]]
name = "dial"
address = "127.0.0.1:{}"
handler = "{}"
{}
[[listener]]
name = "echo"
address = "127.0.0.1:{}"
handler = "echo"
[[listener]]
name = "uecho"
address = "unix:{}"
handler = "echo"
)",
                           sections, dial_port_, (test_plugins / "dial.so").string(), dial_keys, echo_port_,
                           unix_path().string());
    }

    void wait_for(const std::string& marker) {
        const auto end = std::chrono::steady_clock::now() + 30s;
        while (process_->log().find(marker) == std::string::npos) {
            INFO(process_->log());
            REQUIRE(process_->running());
            REQUIRE(std::chrono::steady_clock::now() < end);
            std::this_thread::sleep_for(10ms);
        }
    }

    fs::path unix_path() const { return dir_.path() / "echo.sock"; }
    std::string echo() const { return fmt::format("127.0.0.1:{}", echo_port_); }
    Socket client() const { return Socket::tcp(dial_port_); }
    std::string log() const { return process_->log(); }
    Process& process() { return *process_; }

    // How many times the handler logged this connect outcome. The log is written asynchronously, so
    // the line can lag the reply the client already read: wait up to 10 s for `expected` of them.
    std::size_t outcomes(int result, std::size_t expected) const {
        const std::string needle = fmt::format("dial: connect done {}\n", result);
        const auto end = std::chrono::steady_clock::now() + 10s;
        for (;;) {
            const std::string text = log();
            std::size_t n = 0;
            for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
                ++n;
            }
            if (n >= expected || std::chrono::steady_clock::now() >= end) {
                return n;
            }
            std::this_thread::sleep_for(10ms);
        }
    }

private:
    TempDir dir_;
    std::uint16_t dial_port_;
    std::uint16_t echo_port_;
    std::unique_ptr<Process> process_;
};

} // namespace

TEST_CASE("an outbound connection pipes to an echo upstream over TCP and over a unix socket", "[outbound]") {
    // Sockets registered as direct descriptors, and plain file descriptors.
    const bool direct = GENERATE(true, false);
    INFO("direct descriptors: " << direct);
    Dialer gatiod("max_outbound = 1100", direct ? "" : "[io_uring]\ndirect_descriptors = false");
    INFO(gatiod.log());
    for (const std::string& upstream : {gatiod.echo(), "unix:" + gatiod.unix_path().string()}) {
        INFO(upstream);
        Socket c = gatiod.client();
        c.send_all("connect " + upstream + "\n");
        REQUIRE(c.recv_line() == "connected");
        std::string big(1 << 20, '\0');
        for (std::size_t i = 0; i < big.size(); ++i) {
            big[i] = static_cast<char>('a' + i % 26);
        }
        std::thread writer([&] { CHECK(c.try_send_all(big)); });
        const std::string back = c.recv_exact(big.size());
        writer.join();
        CHECK(back == big);
        c.send_all("closeup\n"); // piped like everything else: the echo sends it back
        CHECK(c.recv_line() == "closeup");
    }
    CHECK(gatiod.outcomes(0, 2) == 2);
}

TEST_CASE("an outbound connect reports refused, timed out and cancelled to its callback", "[outbound]") {
    Dialer gatiod;
    INFO(gatiod.log());
    {
        Socket c = gatiod.client();
        c.send_all(fmt::format("connect 127.0.0.1:{}\n", free_port()));
        CHECK(c.recv_line() == "failed ECONNREFUSED");
        c.send_all("connect unix:" + (gatiod.unix_path().parent_path() / "nobody.sock").string() + "\n");
        CHECK(c.recv_line() == "failed ENOENT");
        c.send_all("connect 256.1.1.1:80\n");
        CHECK(c.recv_line() == fmt::format("refused {}", static_cast<int>(GATIO_ERR_INVALID)));
    }
    BlackHole hole;
    {
        Socket c = gatiod.client();
        c.send_all("connect " + hole.peer.address() + " 300\n");
        CHECK(c.recv_line() == "failed ETIMEDOUT");
        // Closing a pending connect cancels it; done still reports, once.
        c.send_all("connect " + hole.peer.address() + " 60000\n");
        c.send_all("closeup\n");
        CHECK(c.recv_line() == "closeup 0");
        CHECK(c.recv_line() == "failed ECANCELED");
    }
    CHECK(gatiod.outcomes(-ECONNREFUSED, 1) == 1);
    CHECK(gatiod.outcomes(-ENOENT, 1) == 1);
    CHECK(gatiod.outcomes(-ETIMEDOUT, 1) == 1);
    CHECK(gatiod.outcomes(-ECANCELED, 1) == 1);
}

TEST_CASE("an upstream that resets mid-stream closes with GATIO_CLOSE_RESET after its data", "[outbound]") {
    Dialer gatiod;
    INFO(gatiod.log());
    Peer peer;
    Socket c = gatiod.client();
    c.send_all("connect " + peer.address() + "\n");
    Socket up = peer.accept();
    REQUIRE(c.recv_line() == "connected");
    c.send_all("to the upstream\n");
    CHECK(up.recv_exact(16) == "to the upstream\n");
    up.send_all("from the upstream\n");
    CHECK(c.recv_line() == "from the upstream");
    linger l{1, 0};
    REQUIRE(::setsockopt(up.fd(), SOL_SOCKET, SO_LINGER, &l, sizeof l) == 0);
    up.close(); // a reset
    CHECK(c.recv_line() == fmt::format("[closed {}]", static_cast<int>(GATIO_CLOSE_RESET)));
    std::string rest;
    CHECK(c.recv_until_eof(rest));
    CHECK(rest.empty());
}

TEST_CASE("an upstream that never reads holds the output back until it reads", "[outbound][backpressure]") {
    Dialer gatiod;
    INFO(gatiod.log());
    Peer peer(64, 4096);
    Socket c = gatiod.client();
    c.send_all("flood " + peer.address() + " 67108864\n");
    Socket up = peer.accept();
    const std::string line = c.recv_line();
    unsigned long long queued = 0, pending = 0;
    int refused = 0;
    REQUIRE(std::sscanf(line.c_str(), "flood queued %llu pending %llu refused %d", &queued, &pending,
                        &refused) == 3);
    CHECK(refused == GATIO_ERR_LIMIT); // send_buffer_limit or the driver's output memory
    CHECK(queued > (4u << 20));
    CHECK(queued < (64u << 20));
    CHECK(pending == queued); // nothing can have gone out within the callback
    // The kernel takes what its buffers hold, the rest waits for the peer.
    std::this_thread::sleep_for(200ms);
    c.send_all("pending\n");
    unsigned long long later = 0;
    REQUIRE(std::sscanf(c.recv_line().c_str(), "pending %llu", &later) == 1);
    CHECK(later > 0);
    CHECK(later <= queued);
    // Now it reads: everything arrives, in order.
    std::string all = up.recv_exact(queued);
    bool intact = true;
    for (std::size_t i = 0; i < all.size() && intact; ++i) {
        intact = static_cast<unsigned char>(all[i]) == i % 251;
    }
    CHECK(intact);
    c.send_all("pending\n");
    CHECK(c.recv_line() == "pending 0");
}

TEST_CASE("1,000 outbound connections at once, to TCP and unix-socket upstreams", "[outbound][many]") {
    Dialer gatiod;
    INFO(gatiod.log());
    Socket c = gatiod.client();
    c.send_all("many 1000 " + gatiod.echo() + "\n");
    CHECK(c.recv_line() == "many ok 1000");
    c.send_all("many 1000 unix:" + gatiod.unix_path().string() + "\n");
    CHECK(c.recv_line() == "many ok 1000");
    CHECK(gatiod.outcomes(0, 2000) == 2000);
}

TEST_CASE("outbound connections count against max_outbound", "[outbound][limits]") {
    Dialer gatiod("max_outbound = 3");
    INFO(gatiod.log());
    Socket c = gatiod.client();
    c.send_all("many 5 " + gatiod.echo() + "\n");
    CHECK(c.recv_line() == "many failed 2 of 5");
    // Closed again, so they are free for the next ones.
    c.send_all("many 3 " + gatiod.echo() + "\n");
    CHECK(c.recv_line() == "many ok 3");
}

TEST_CASE("pending connects are cancelled when their client goes and when gatiod stops", "[outbound]") {
    BlackHole hole;
    Dialer gatiod;
    INFO(gatiod.log());
    {
        Socket c = gatiod.client();
        c.send_all("connect " + hole.peer.address() + " 60000\n");
        c.send_all("pending\n");
        CHECK(c.recv_line() == "pending 0"); // the command was handled, the connect is pending
    }                                        // the client goes: its handler closes the pending upstream
    CHECK(gatiod.outcomes(-ECANCELED, 1) == 1);
    Socket c = gatiod.client();
    c.send_all("connect " + hole.peer.address() + " 60000\n");
    c.send_all("pending\n");
    CHECK(c.recv_line() == "pending 0");
    CHECK(gatiod.process().stop() == 0);
    CHECK(gatiod.outcomes(-ECANCELED, 2) == 2);
}

TEST_CASE("a retired instance lives on while its outbound connect is pending", "[outbound][reload]") {
    BlackHole hole;
    Dialer gatiod;
    INFO(gatiod.log());
    Socket c = gatiod.client();
    c.send_all("connect " + hole.peer.address() + " 60000\n");
    c.send_all("pending\n");
    REQUIRE(c.recv_line() == "pending 0");
    // New settings: new instances for new connections, the old one retires.
    gatiod.reload("max_outbound = 1100\nidle_timeout = \"50s\"");
    // The old instance still serves its client and still owns the pending connect.
    c.send_all("closeup\n");
    CHECK(c.recv_line() == "closeup 0");
    CHECK(c.recv_line() == "failed ECANCELED");
    Socket fresh = gatiod.client();
    fresh.send_all("connect " + gatiod.echo() + "\n");
    CHECK(fresh.recv_line() == "connected");
    fresh.send_all("through the new instance\n");
    CHECK(fresh.recv_line() == "through the new instance");
    CHECK(gatiod.outcomes(-ECANCELED, 1) == 1);
}
