// What gatiod tells a service manager, read from a real AF_UNIX datagram socket given as
// NOTIFY_SOCKET: READY=1 once it serves, STATUS= refreshed, RELOADING=1 ... READY=1 around a
// SIGHUP (with errors in STATUS= when the file is bad), STOPPING=1, and WATCHDOG=1 withheld
// while a driver is stalled.
#include <catch2/catch.hpp>
#include <csignal>
#include <filesystem>
#include <thread>
#include <unistd.h>

#include "core/clock.hpp"
#include "harness.hpp"
#include "tests/support/skip.hpp"

using namespace gatio::service_test;

namespace {

bool ready(const std::string& m) {
    return has_field(m, "READY=1");
}

std::function<bool(const std::string&)> status_with(std::string text) {
    return [text = std::move(text)](const std::string& m) {
        auto s = field(m, "STATUS");
        return s && s->find(text) != std::string::npos;
    };
}

std::vector<std::string> env_with(std::vector<std::string> extra) {
    auto env = clean_env();
    env.insert(env.end(), extra.begin(), extra.end());
    return env;
}

} // namespace

TEST_CASE(
    "READY=1 comes once every listener accepts, STATUS= counts connections and requests, then STOPPING=1",
    "[service][notify]") {
    TempDir dir;
    NotifySocket notify(dir.path() / "notify");
    const int port = free_port();
    const auto file = dir.write("gatio.toml", config_text("", tcp_listener("echo", port, "echo")));
    Child child({gatiod, "-c", file.string(), "--plugin-dir", echo_plugin_dir}, env_with({notify.env()}));

    auto at = notify.wait_for(child, ready, 60s);
    INFO(child.output());
    REQUIRE(at);
    // At once, with no retry: READY=1 promises a bound, accepting listener.
    CHECK(tcp_round_trip(port, "hello", 5) == "hello");
    const auto first = notify.messages()[*at];
    REQUIRE(field(first, "STATUS"));
    CHECK(field(first, "STATUS")->find(" up, 0 connections open, 0 requests/s") != std::string::npos);

    // Two connections held open, and requests until a refresh has counted some.
    const int a = connect_tcp(port);
    const int b = connect_tcp(port);
    REQUIRE((a >= 0 && b >= 0));
    bool counted = false;
    for (int round = 0; round < 200 && !counted; ++round) {
        send_all(a, "ping");
        CHECK(receive(a, 4) == "ping");
        counted = notify
                      .wait_for(
                          child,
                          [](const std::string& m) {
                              auto s = field(m, "STATUS");
                              return s && s->find("2 connections open") != std::string::npos &&
                                     s->find(", 0 requests/s") == std::string::npos;
                          },
                          100ms)
                      .has_value();
    }
    CHECK(counted);
    ::close(a);
    ::close(b);

    child.signal(SIGTERM);
    CHECK(notify.wait_for(
        child, [](const std::string& m) { return has_field(m, "STOPPING=1"); }, 60s));
    CHECK(child.wait(60s) == 0);
    // No WATCHDOG_USEC in the environment: no pings.
    for (const auto& m : notify.messages()) {
        CHECK_FALSE(has_field(m, "WATCHDOG=1"));
    }
}

TEST_CASE("SIGHUP: RELOADING=1 with MONOTONIC_USEC, then READY=1, and a bad file changes nothing but STATUS=",
          "[service][notify][reload]") {
    TempDir dir;
    NotifySocket notify(dir.path() / "notify");
    const int port = free_port();
    const int extra_port = free_port();
    const std::string main = tcp_listener("main", port, "echo");
    const auto file = dir.write("gatio.toml", config_text("shutdown_grace = \"10s\"\n", main));
    Child child({gatiod, "-c", file.string(), "--plugin-dir", echo_plugin_dir}, env_with({notify.env()}));
    REQUIRE(notify.wait_for(child, ready, 60s));

    auto reload = [&](const std::string& expect_status) {
        const std::size_t before = notify.messages().size();
        child.signal(SIGHUP);
        auto reloading = notify.wait_for(
            child, [](const std::string& m) { return has_field(m, "RELOADING=1"); }, 60s);
        REQUIRE(reloading);
        CHECK(*reloading >= before);
        const auto usec = field(notify.messages()[*reloading], "MONOTONIC_USEC");
        REQUIRE(usec);
        // The same clock as ours: systemd orders reloads by it.
        CHECK(std::llabs(std::stoll(*usec) - gatio::core::monotonic_ns() / 1000) < 60'000'000);
        auto done = notify.wait_for(child, ready, 60s);
        REQUIRE(done);
        const auto status = field(notify.messages()[*done], "STATUS");
        REQUIRE(status);
        INFO(*status);
        CHECK(status->find(expect_status) != std::string::npos);
        return *status;
    };

    SECTION("valid files: changes reported, shutdown_grace applied, the listener keeps serving") {
        dir.write("gatio.toml",
                  "[daemon]\nshutdown_grace = \"3s\"\n[topology]\nmode = \"auto\"\ncpus = \"0\"\n\n" +
                      tcp_listener("main", port, "echo", "idle_timeout = \"30s\"") +
                      tcp_listener("extra", extra_port, "echo"));
        reload("restart needed for: topology");
        INFO(child.output());
        CHECK(child.wait_for_output("reload: topology changed; it applies on restart", 10s));
        CHECK(child.wait_for_output("reload: daemon.shutdown_grace is now 3000 ms", 10s));
        CHECK(child.wait_for_output(
            "reload: listener \"extra\" (tcp 127.0.0.1:" + std::to_string(extra_port) + ") added", 10s));
        CHECK(child.wait_for_output("reload: listener \"main\" (tcp 127.0.0.1:" + std::to_string(port) +
                                        ") changed; new connections get the new settings",
                                    10s));
        CHECK(tcp_round_trip(port, "still here", 10) == "still here");
        CHECK(tcp_round_trip(extra_port, "extra", 5) == "extra");

        dir.write("gatio.toml", config_text("", tcp_listener("extra", extra_port, "echo")));
        reload(" up, ");
        CHECK(child.wait_for_output("reload: listener \"main\" (tcp 127.0.0.1:" + std::to_string(port) +
                                        ") removed; it stops accepting",
                                    10s));
        CHECK(tcp_round_trip(extra_port, "still here", 10) == "still here");

        // Back to what runs: nothing left to restart for.
        dir.write("gatio.toml", config_text("shutdown_grace = \"10s\"\n", main));
        const auto status = reload(" up, ");
        CHECK(status.find("restart needed") == std::string::npos);
    }
    SECTION("files with errors: each logged at error and shown in STATUS= until a reload succeeds") {
        dir.write("gatio.toml", "[daemon]\nlog_levle = \"info\"\n\n" + main);
        const auto status =
            reload("reload failed: " + file.string() + ":2:1: daemon: unknown key 'log_levle'");
        CHECK(child.wait_for_output(
            " error    reload: " + file.string() + ":2:1: daemon: unknown key 'log_levle'", 10s));
        CHECK(tcp_round_trip(port, "unchanged", 9) == "unchanged");

        // Valid TOML whose topology cannot exist here: the topology is resolved too.
        dir.write("gatio.toml", "[topology]\nmode = \"auto\"\ncpus = \"1023\"\n\n" + main);
        reload("reload failed: " + file.string() + ":3:8: ");
        CHECK(child.wait_for_output(" error    reload: " + file.string() + ":3:8: ", 10s));

        // A later periodic STATUS= still carries the error.
        CHECK(notify.wait_for(child, status_with("; reload failed: "), 30s));

        dir.write("gatio.toml", config_text("shutdown_grace = \"10s\"\n", main));
        const auto fixed = reload(" up, ");
        CHECK(fixed.find("reload failed") == std::string::npos);
        CHECK(tcp_round_trip(port, "unchanged", 9) == "unchanged");
    }
    child.signal(SIGTERM);
    CHECK(child.wait(60s) == 0);
}

TEST_CASE("watchdog: WATCHDOG=1 while every driver turns its loop, withheld while one is stalled",
          "[service][notify][watchdog]") {
    if (::sysconf(_SC_NPROCESSORS_ONLN) < 2) {
        GATIO_SKIP("fewer than 2 CPUs: the two-driver topology cannot be pinned");
    }
    TempDir dir;
    NotifySocket notify(dir.path() / "notify");
    const int port = free_port();
    const auto file = dir.write(
        "gatio.toml", "[topology]\nmode = \"manual\"\n\n[[tpc]]\nname = \"node0\"\nnuma_node = 0\n\n"
                      "[[tpc.driver]]\nname = \"d0\"\ncpu = 0\n\n[[tpc.driver]]\nname = \"d1\"\ncpu = 1\n\n" +
                          tcp_listener("svc", port, service_plugin, "drivers = [\"d1\"]"));
    Child child({gatiod, "-c", file.string()}, env_with({notify.env(), "WATCHDOG_USEC=1000000"}));
    REQUIRE(notify.wait_for(child, ready, 60s));
    INFO(child.output());
    const auto ping = [](const std::string& m) { return has_field(m, "WATCHDOG=1"); };
    REQUIRE(notify.wait_for(child, ping, 30s));

    const int c = connect_tcp(port);
    REQUIRE(c >= 0);
    send_all(c, "stall 3000\n"); // d1's thread sleeps inside the handler for 3 s

    const auto stalled = notify.wait_for(child, status_with("(stalled: d1)"), 30s);
    REQUIRE(stalled);
    const auto recovered = notify.wait_for(
        child,
        [](const std::string& m) {
            auto s = field(m, "STATUS");
            return s && s->find("stalled") == std::string::npos;
        },
        30s);
    REQUIRE(recovered);
    for (std::size_t i = *stalled; i < *recovered; ++i) {
        INFO("message " << i << ": " << notify.messages()[i]);
        CHECK_FALSE(ping(notify.messages()[i]));
    }
    CHECK(notify.wait_for(child, ping, 30s));
    CHECK(receive(c, 13) == "stalled 3000\n");
    ::close(c);

    CHECK(child.wait_for_output("[tpc=node0 driver=d1] driver d1 (CPU 1) stalled: no loop turn for ", 10s));
    CHECK(child.wait_for_output("; withholding WATCHDOG=1", 10s));
    CHECK(child.wait_for_output("driver d1 (CPU 1) is turning its loop again", 10s));
    child.signal(SIGTERM);
    CHECK(child.wait(60s) == 0);
}

TEST_CASE("watchdog: WATCHDOG=1 keeps arriving while a reload runs, since it runs beside the control loop",
          "[service][notify][watchdog][reload]") {
    TempDir dir;
    NotifySocket notify(dir.path() / "notify");
    const int port = free_port();
    // A copy of the handler, replaced by another copy below: the reload loads it anew, and
    // its init() takes 3 s on the reloading thread.
    const auto handler = dir.path() / "service.so";
    std::filesystem::copy_file(service_plugin, handler);
    const auto file = dir.write("gatio.toml", config_text("", tcp_listener("svc", port, handler.string())));
    Child child({gatiod, "-c", file.string()},
                env_with({notify.env(), "WATCHDOG_USEC=1000000", "GATIO_TEST_SERVICE_INIT_MS=3000"}));
    REQUIRE(notify.wait_for(child, ready, 60s));
    INFO(child.output());
    const auto ping = [](const std::string& m) { return has_field(m, "WATCHDOG=1"); };
    REQUIRE(notify.wait_for(child, ping, 30s));

    std::filesystem::copy_file(service_plugin, dir.path() / "service.so.new");
    std::filesystem::rename(dir.path() / "service.so.new", handler);
    child.signal(SIGHUP);
    const auto reloading = notify.wait_for(
        child, [](const std::string& m) { return has_field(m, "RELOADING=1"); }, 60s);
    REQUIRE(reloading);
    const auto done = notify.wait_for(child, ready, 60s);
    REQUIRE(done);
    REQUIRE(*done > *reloading);
    std::size_t pings = 0;
    for (std::size_t i = *reloading; i < *done; ++i) {
        pings += ping(notify.messages()[i]) ? 1 : 0;
    }
    // A ping every 500 ms while init() sleeps 3 s: without the reload beside the loop, none.
    CHECK(pings >= 2);
    CHECK(child.wait_for_output(
        "reload: listener \"svc\" (tcp 127.0.0.1:" + std::to_string(port) + ") changed", 10s));
    CHECK(child.wait_for_output("reload: applied; listeners added: 0, changed: 1, removed: 0", 10s));
    CHECK(tcp_round_trip(port, "ping\n", 5) == "pong\n");
    child.signal(SIGTERM);
    CHECK(child.wait(60s) == 0);
}
