// SIGHUP on a running gatiod: the new file's listeners are applied while clients keep
// connecting, and not one connection is refused or request failed along the way.
#include <arpa/inet.h>
#include <atomic>
#include <catch2/catch.hpp>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <netinet/in.h>
#include <optional>
#include <sched.h>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "harness.hpp"
#include "tests/support/skip.hpp"
#include "tests/support/temp_dir.hpp"

using namespace gatio::reload_test;

namespace {

// Opens connection after connection on a thread, one round trip each, until stopped.
class Prober {
public:
    Prober(int port, std::function<bool(Connection&)> round_trip)
        : thread_([this, port, round_trip = std::move(round_trip)] {
              while (!stop_.load()) {
                  std::this_thread::sleep_for(2ms);
                  Connection c(port);
                  // This machine out of local ports (other programs' TIME_WAIT) is not gatiod's
                  // doing: such an attempt counts neither way.
                  if (!c.connected() && c.connect_error() == EADDRNOTAVAIL) {
                      continue;
                  }
                  if (c.connected() && round_trip(c)) {
                      ok_.fetch_add(1);
                  } else if (failed_.fetch_add(1) == 0) {
                      first_failure_ = c.connected()
                                           ? "round trip failed"
                                           : std::string("connect: ") + std::strerror(c.connect_error());
                  }
              }
          }) {}
    Prober(const Prober&) = delete;
    Prober& operator=(const Prober&) = delete;
    ~Prober() { stop(); }

    void stop() {
        stop_.store(true);
        if (thread_.joinable()) {
            thread_.join();
        }
    }
    int ok() const { return ok_.load(); }
    int failed() const { return failed_.load(); }
    // The first failure's cause; read once stopped.
    const std::string& first_failure() const { return first_failure_; }

private:
    std::atomic<bool> stop_{false};
    std::atomic<int> ok_{0};
    std::atomic<int> failed_{0};
    std::string first_failure_;
    std::thread thread_;
};

bool echoes(Connection& c, std::string_view text) {
    return c.send(text) && c.receive(text.size()) == text;
}

std::function<bool(Connection&)> echo_round_trip() {
    return [](Connection& c) { return echoes(c, "ping"); };
}

std::function<bool(Connection&)> http_round_trip() {
    return [](Connection& c) { return c.http("GET", "/").status == 200; };
}

// Lets the prober make a few round trips before and after what the test does meanwhile.
void let_probe(const Prober& p) {
    const int start = p.ok() + p.failed();
    for (int i = 0; i < 2000 && p.ok() + p.failed() < start + 5; ++i) {
        std::this_thread::sleep_for(1ms);
    }
}

std::string maps_of(pid_t pid) {
    return gatio::test::read_file("/proc/" + std::to_string(pid) + "/maps");
}

} // namespace

TEST_CASE("a reload that changes nothing keeps every socket and connection", "[reload]") {
    TempDir dir;
    const int port = free_port();
    const std::string listeners = listener("e", port, "echo");
    const auto file = dir.write("gatio.toml", config_text(listeners));
    Gatiod g(file);
    Connection open(port);
    REQUIRE(echoes(open, "before"));

    Prober prober(port, echo_round_trip());
    let_probe(prober);
    // The same settings, written elsewhere in the file.
    dir.write("gatio.toml", "# moved down\n\n" + config_text(listeners));
    REQUIRE(g.reload());
    let_probe(prober);
    prober.stop();

    INFO(g.log());
    CHECK(g.count(") added") + g.count(") removed;") + g.count(") changed;") == 0);
    CHECK(g.count("reload: " + file.string() + " is valid") == 1);
    INFO(prober.first_failure());
    CHECK(prober.failed() == 0);
    CHECK(prober.ok() >= 10);
    CHECK(echoes(open, "after"));
    CHECK(g.stop() == 0);
}

TEST_CASE("a file with errors changes nothing and STATUS= shows its errors until a good reload", "[reload]") {
    TempDir dir;
    NotifySocket notify(dir.path() / "notify");
    const int port = free_port();
    const std::string listeners = listener("e", port, "echo");
    const auto file = dir.write("gatio.toml", config_text(listeners));
    Gatiod g(file, {notify.env()});
    auto ready = [](const std::string& m) { return m.find("READY=1") != std::string::npos; };
    REQUIRE(notify.wait_for(ready, 30s));
    Connection open(port);
    REQUIRE(echoes(open, "before"));

    dir.write("gatio.toml", config_text(listeners + "backlgo = 10\n"));
    REQUIRE(g.reload());
    auto after = notify.wait_for(ready, 30s);
    REQUIRE(after);
    auto status = field(*after, "STATUS");
    REQUIRE(status);
    INFO(*status);
    CHECK(status->find("reload failed: " + file.string() + ":") != std::string::npos);
    CHECK(status->find("backlgo") != std::string::npos);
    INFO(g.log());
    CHECK(g.count(" error    reload: " + file.string()) >= 1);
    // Still the configuration loaded before.
    CHECK(echoes(open, "unchanged"));
    Connection fresh(port);
    CHECK(echoes(fresh, "fresh"));

    dir.write("gatio.toml", config_text(listeners));
    REQUIRE(g.reload());
    after = notify.wait_for(ready, 30s);
    REQUIRE(after);
    status = field(*after, "STATUS");
    REQUIRE(status);
    CHECK(status->find("reload failed") == std::string::npos);
    CHECK(g.stop() == 0);
}

TEST_CASE("a listener added by a reload accepts connections on every driver", "[reload]") {
    TempDir dir;
    const int port = free_port();
    const int added = free_port();
    const auto file = dir.write("gatio.toml", config_text(listener("e", port, "echo")));
    Gatiod g(file);
    errno = 0;
    CHECK(connect_tcp(added) == -1);
    CHECK(errno == ECONNREFUSED);

    Prober prober(port, echo_round_trip());
    dir.write("gatio.toml", config_text(listener("e", port, "echo") + listener("new", added, shout_plugin)));
    REQUIRE(g.reload());
    let_probe(prober);
    prober.stop();
    INFO(g.log());
    CHECK(g.count("reload: listener \"new\" (tcp 127.0.0.1:" + std::to_string(added) + ") added") == 1);
    INFO(prober.first_failure());
    CHECK(prober.failed() == 0);

    // Connections spread over both drivers' sockets: several in a row all answer.
    for (int i = 0; i < 8; ++i) {
        Connection c(added);
        REQUIRE(c.connected());
        CHECK(c.send("hello"));
        CHECK(c.receive(5) == "HELLO");
    }
    CHECK(g.stop() == 0);
}

TEST_CASE("a listener removed by a reload refuses new connections while an open one finishes", "[reload]") {
    TempDir dir;
    const int port = free_port();
    const int removed = free_port();
    const auto file =
        dir.write("gatio.toml", config_text(listener("e", port, "echo") + listener("gone", removed, "echo")));
    Gatiod g(file);
    Connection open(removed);
    REQUIRE(echoes(open, "before"));

    dir.write("gatio.toml", config_text(listener("e", port, "echo")));
    REQUIRE(g.reload());
    INFO(g.log());
    CHECK(g.count("reload: listener \"gone\" (tcp 127.0.0.1:" + std::to_string(removed) + ") removed") == 1);
    // Each driver stops accepting as it takes the reload's message: wait for both.
    bool refused = false;
    for (int i = 0; i < 200 && !refused; ++i) {
        const int fd = connect_tcp(removed);
        refused = fd < 0 && errno == ECONNREFUSED;
        if (fd >= 0) {
            ::close(fd);
            std::this_thread::sleep_for(10ms);
        }
    }
    CHECK(refused);
    // The connection opened before goes on with its instance, several exchanges long.
    CHECK(echoes(open, "still served"));
    CHECK(echoes(open, "and again"));
    Connection other(port);
    CHECK(echoes(other, "the other listener"));
    CHECK(g.stop() == 0);
}

TEST_CASE("a changed listener answers open connections the old way and new ones the new way", "[reload]") {
    TempDir dir;
    const int port = free_port();
    const auto file = dir.write("gatio.toml", config_text(http_listener("web", port, "old")));
    Gatiod g(file);
    Connection kept(port);
    REQUIRE(kept.http("GET", "/").body == "old");

    Prober prober(port, http_round_trip());
    let_probe(prober);
    dir.write("gatio.toml", config_text(http_listener("web", port, "new")));
    REQUIRE(g.reload());
    let_probe(prober);
    prober.stop();
    INFO(g.log());
    CHECK(g.count("reload: listener \"web\" (tcp 127.0.0.1:" + std::to_string(port) + ") changed") == 1);
    INFO(prober.first_failure());
    CHECK(prober.failed() == 0);

    CHECK(kept.http("GET", "/").body == "old");
    CHECK(kept.http("GET", "/").body == "old");
    for (int i = 0; i < 4; ++i) {
        CHECK(http_get(port, "/").body == "new");
    }

    // A second change: the first instances still serve `kept`, the second ones go unused.
    dir.write("gatio.toml", config_text(http_listener("web", port, "newer")));
    REQUIRE(g.reload());
    CHECK(http_get(port, "/").body == "newer");
    CHECK(kept.http("GET", "/").body == "old");
    CHECK(g.stop() == 0);
}

TEST_CASE("a handler file replaced on disk is loaded beside the old object, which goes with its last "
          "connection",
          "[reload]") {
    TempDir dir;
    const int port = free_port();
    const auto handler = dir.path() / "h.so";
    // shout is built without GNU unique symbols, which would make the dynamic loader keep it
    // mapped after dlclose: its mapping going away shows it was unloaded.
    std::filesystem::copy_file(shout_plugin, handler);
    const auto file = dir.write("gatio.toml", config_text(listener("h", port, handler.string())));
    Gatiod g(file);
    std::optional<Connection> old_conn(port);
    REQUIRE(old_conn->send("loud"));
    REQUIRE(old_conn->receive(4) == "LOUD");

    // Installed the way packages do it: a new file renamed over the old name.
    std::filesystem::copy_file(plugin_dir + "/echo.so", dir.path() / "h.so.new");
    std::filesystem::rename(dir.path() / "h.so.new", handler);
    REQUIRE(g.reload());
    INFO(g.log());
    CHECK(g.count("reload: listener \"h\" (tcp 127.0.0.1:" + std::to_string(port) + ") changed") == 1);

    Connection new_conn(port);
    CHECK(echoes(new_conn, "quiet"));
    REQUIRE(old_conn->send("still loud"));
    CHECK(old_conn->receive(10) == "STILL LOUD");
    // Both objects are mapped; the old one's file is no longer in the folder.
    CHECK(maps_of(g.pid()).find(handler.string() + " (deleted)") != std::string::npos);

    old_conn.reset();
    // Its instances go with the connection; the control loop lets go of the object soon after.
    bool unloaded = false;
    for (int i = 0; i < 200 && !unloaded; ++i) {
        std::this_thread::sleep_for(50ms);
        unloaded = maps_of(g.pid()).find(handler.string() + " (deleted)") == std::string::npos;
    }
    CHECK(unloaded);
    CHECK(echoes(new_conn, "quiet again"));
    CHECK(g.stop() == 0);
}

TEST_CASE("under wrk load, three reloads that change the listener fail no request", "[reload][load]") {
    TempDir dir;
    const int port = free_port();
    const int extra = free_port();
    const auto file = dir.write("gatio.toml", config_text(http_listener("web", port, "zero")));
    Gatiod g(file);

    const std::string wrk_path = find_program("wrk");
    REQUIRE(!wrk_path.empty()); // scripts/install-deps installs it
    gatio::test::RunResult wrk;
    std::thread load([&] {
        wrk = gatio::test::run(
            {wrk_path, "-t2", "-c16", "-d6s", "http://127.0.0.1:" + std::to_string(port) + "/"}, {}, 60s);
    });
    // New connections throughout, besides wrk's sixteen that live the whole run.
    Prober prober(port, http_round_trip());
    const char* bodies[] = {"one", "two", "three"};
    for (int i = 0; i < 3; ++i) {
        std::this_thread::sleep_for(1500ms);
        std::string listeners = http_listener("web", port, bodies[i]);
        if (i % 2 == 0) {
            listeners += listener("extra", extra, "echo");
        }
        dir.write("gatio.toml", config_text(listeners));
        CHECK(g.reload());
    }
    load.join();
    prober.stop();

    INFO(wrk.out << wrk.err);
    INFO(g.log());
    REQUIRE(wrk.code == 0);
    CHECK(wrk.out.find(" requests in ") != std::string::npos);
    CHECK(wrk.out.find("Socket errors") == std::string::npos);
    CHECK(wrk.out.find("Non-2xx or 3xx responses") == std::string::npos);
    CHECK(g.count(") changed; ") == 3);
    INFO(prober.first_failure());
    CHECK(prober.failed() == 0);
    CHECK(prober.ok() > 100);
    CHECK(http_get(port, "/").body == "three");
    CHECK(g.stop() == 0);
}

TEST_CASE("a reload to a file whose listener's drivers differ in buffer_size is refused and changes nothing",
          "[reload][identical]") {
    cpu_set_t set;
    CPU_ZERO(&set);
    REQUIRE(::sched_getaffinity(0, sizeof set, &set) == 0);
    std::vector<int> cpus;
    for (int c = 0; c < CPU_SETSIZE && cpus.size() < 2; ++c) {
        if (CPU_ISSET(c, &set)) {
            cpus.push_back(c);
        }
    }
    if (cpus.size() < 2) {
        GATIO_SKIP("fewer than 2 allowed CPUs: two drivers cannot be placed");
    }
    const int port = free_port();
    // d1's buffer_size is on line 16 when `d1_extra` holds it, the listener on the line after.
    auto text = [&](const std::string& d1_extra) {
        return "[daemon]\nshutdown_grace = \"2s\"\n"                                         // 1-2
               "[topology]\nmode = \"manual\"\nbuffer_size = \"4KiB\"\nbuffer_count = 256\n" // 3-6
               "[[tpc]]\nname = \"node0\"\nnuma_node = 0\n"                                  // 7-9
               "[[tpc.driver]]\nname = \"d0\"\ncpu = " +
               std::to_string(cpus[0]) +
               "\n" // 10-12
               "[[tpc.driver]]\nname = \"d1\"\ncpu = " +
               std::to_string(cpus[1]) + "\n" + // 13-15
               d1_extra + listener("e", port, "echo");
    };
    TempDir dir;
    NotifySocket notify(dir.path() / "notify");
    const auto file = dir.write("gatio.toml", text(""));
    Gatiod g(file, {notify.env()});
    auto ready = [](const std::string& m) { return m.find("READY=1") != std::string::npos; };
    REQUIRE(notify.wait_for(ready, 30s));
    Connection open(port);
    REQUIRE(echoes(open, "before"));

    dir.write("gatio.toml", text("buffer_size = \"8KiB\"\n"));
    REQUIRE(g.reload());
    const auto after = notify.wait_for(ready, 30s);
    REQUIRE(after);
    const auto status = field(*after, "STATUS");
    REQUIRE(status);
    INFO(*status);
    INFO(g.log());
    const std::string expected =
        "listener \"e\": its drivers \"d0\" and \"d1\" differ in buffer_size: 4KiB (" + file.string() +
        ":5:15) and 8KiB (" + file.string() + ":16:15)";
    CHECK(status->find("reload failed: " + file.string() + ":17:1: " + expected) != std::string::npos);
    CHECK(g.count(" error    reload: " + file.string() + ":17:1: " + expected) == 1);
    CHECK(g.count(") changed;") == 0);
    // The configuration loaded before serves on, on every driver.
    CHECK(echoes(open, "unchanged"));
    for (int i = 0; i < 8; ++i) {
        Connection fresh(port);
        CHECK(echoes(fresh, "fresh"));
    }
    CHECK(g.stop() == 0);
}

namespace {

std::size_t open_descriptors(pid_t pid) {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& entry :
         std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) {
        ++n;
    }
    return n;
}

// An echo listener admitting `max` connections, closing idle ones after `idle`.
std::string limited_echo(int port, int max, std::string_view idle) {
    return "[[listener]]\nname = \"e\"\naddress = \"127.0.0.1:" + std::to_string(port) +
           "\"\nhandler = \"echo\"\nmax_connections = " + std::to_string(max) + "\nidle_timeout = \"" +
           std::string(idle) + "\"\n";
}

} // namespace

TEST_CASE("max_connections holds while a reload changes a listener that has them all open",
          "[reload][limits]") {
    TempDir dir;
    const int port = free_port();
    const auto file = dir.write("gatio.toml", config_text(limited_echo(port, 100, "60s")));
    Gatiod g(file);
    std::vector<std::unique_ptr<Connection>> open;
    for (int i = 0; i < 100; ++i) {
        open.push_back(std::make_unique<Connection>(port));
        REQUIRE(echoes(*open.back(), "in"));
    }
    {
        Connection over(port);
        CHECK_FALSE(echoes(over, "over"));
    }

    dir.write("gatio.toml", config_text(limited_echo(port, 100, "50s")));
    REQUIRE(g.reload());
    INFO(g.log());
    REQUIRE(g.count(") changed;") == 1);
    // The new generation counts the old one's connections: still no room.
    for (int i = 0; i < 10; ++i) {
        Connection over(port);
        CHECK_FALSE(echoes(over, "over"));
    }
    for (auto& c : open) {
        CHECK(echoes(*c, "still"));
    }
    // One goes: its place is free for a connection of the new generation.
    open.pop_back();
    bool admitted = false;
    for (int attempt = 0; attempt < 100 && !admitted; ++attempt) {
        Connection fresh(port);
        admitted = echoes(fresh, "fresh");
        if (!admitted) {
            std::this_thread::sleep_for(20ms);
        }
    }
    CHECK(admitted);
    CHECK(g.stop() == 0);
}

TEST_CASE("a listener changed by a reload keeps accepting into direct descriptors", "[reload][limits]") {
    TempDir dir;
    const int port = free_port();
    const auto file = dir.write("gatio.toml", config_text(limited_echo(port, 1024, "60s")));
    Gatiod g(file);
    auto open_twenty = [&](std::vector<std::unique_ptr<Connection>>& into) {
        for (int i = 0; i < 20; ++i) {
            into.push_back(std::make_unique<Connection>(port));
            REQUIRE(echoes(*into.back(), "in"));
        }
    };
    std::vector<std::unique_ptr<Connection>> before, after;
    const std::size_t at_start = open_descriptors(g.pid());
    open_twenty(before);
    if (open_descriptors(g.pid()) >= at_start + 20) {
        GATIO_SKIP("this kernel accepts into regular descriptors (no direct accept)");
    }

    dir.write("gatio.toml", config_text(limited_echo(port, 1024, "50s")));
    REQUIRE(g.reload());
    INFO(g.log());
    REQUIRE(g.count(") changed;") == 1);
    CHECK(g.count("regular descriptors until restart") == 0);
    const std::size_t reloaded = open_descriptors(g.pid());
    open_twenty(after);
    // Each regular descriptor would show here; direct ones do not.
    CHECK(open_descriptors(g.pid()) < reloaded + 20);
    CHECK(g.stop() == 0);
}

TEST_CASE(
    "a reload applies completely or not at all: one listener that cannot bind keeps every other as it was",
    "[reload]") {
    TempDir dir;
    NotifySocket notify(dir.path() / "notify");
    const int port = free_port();
    const auto file = dir.write("gatio.toml", config_text(http_listener("web", port, "old")));
    Gatiod g(file, {notify.env()});
    auto ready = [](const std::string& m) { return m.find("READY=1") != std::string::npos; };
    REQUIRE(notify.wait_for(ready, 30s));
    REQUIRE(http_get(port, "/").body == "old");

    // A port held by a socket without SO_REUSEPORT: gatiod's bind there fails.
    const int taken = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(taken >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    REQUIRE(::bind(taken, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::getsockname(taken, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    REQUIRE(::listen(taken, 8) == 0);
    const int taken_port = ntohs(addr.sin_port);

    dir.write("gatio.toml",
              config_text(http_listener("web", port, "new") + listener("busy", taken_port, "echo")));
    REQUIRE(g.reload());
    const auto after = notify.wait_for(ready, 30s);
    REQUIRE(after);
    const auto status = field(*after, "STATUS");
    REQUIRE(status);
    INFO(*status);
    INFO(g.log());
    CHECK(status->find("reload failed, not applied: listener \"busy\" (tcp 127.0.0.1:" +
                       std::to_string(taken_port) + ")") != std::string::npos);
    CHECK(g.count("reload: not applied: 1 listener error(s); every listener serves as before") == 1);
    CHECK(g.count(") changed;") == 0);
    for (int i = 0; i < 4; ++i) {
        CHECK(http_get(port, "/").body == "old");
    }

    // Once the port is free, the same file applies whole.
    ::close(taken);
    REQUIRE(g.reload());
    CHECK(g.count("reload: applied; listeners added: 1, changed: 1, removed: 0") == 1);
    const auto applied = notify.wait_for(ready, 30s);
    REQUIRE(applied);
    CHECK(field(*applied, "STATUS").value_or("").find("; last reload applied") != std::string::npos);
    CHECK(http_get(port, "/").body == "new");
    Connection busy(taken_port);
    CHECK(echoes(busy, "free"));
    CHECK(g.stop() == 0);
}

TEST_CASE("[admin]'s endpoint is a listener of the plan that every reload keeps: its connections stay, "
          "/metrics lists only configured listeners",
          "[reload][admin]") {
    TempDir dir;
    const int port = free_port();
    const int admin = free_port();
    const auto file = dir.write("gatio.toml", config_text(http_listener("web", port, "old"), admin));
    Gatiod g(file);
    Connection kept(admin);
    REQUIRE(kept.http("GET", "/healthz").status == 200);

    dir.write("gatio.toml", config_text(http_listener("web", port, "new"), admin));
    REQUIRE(g.reload());
    INFO(g.log());
    CHECK(g.count("reload: applied; listeners added: 0, changed: 1, removed: 0") == 1);
    CHECK(http_get(port, "/").body == "new");
    // The same connection, on the same instance: the endpoint was kept, not replaced.
    CHECK(kept.http("GET", "/healthz").status == 200);
    const auto metrics = kept.http("GET", "/metrics");
    CHECK(metrics.status == 200);
    CHECK(metrics.body.find("listener=\"web\"") != std::string::npos);
    CHECK(metrics.body.find("[admin]") == std::string::npos);
    CHECK(g.count("listener \"[admin]\"") == 1); // its one "serving on" line, at start
    CHECK(g.stop() == 0);
}
