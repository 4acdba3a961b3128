// The [admin] endpoint of a running gatiod: /metrics read by the reference Prometheus parser
// (python3-prometheus-client) while echo traffic moves the counters, /healthz while a driver
// stalls (and in step with the watchdog), the little HTTP/1.1 it speaks, and its limits under
// idle clients and oversized heads.
#include <arpa/inet.h>
#include <catch2/catch.hpp>
#include <map>
#include <memory>
#include <netinet/in.h>
#include <sched.h>
#include <sstream>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "tests/reload/harness.hpp"

using namespace gatio::reload_test;

namespace {

const std::string parser_script = PARSE_METRICS_SCRIPT;

// A python3 that has Debian's python3-prometheus-client: the one on PATH, else the system's.
std::string python_with_parser() {
    for (const std::string& candidate : {find_program("python3"), std::string("/usr/bin/python3")}) {
        if (!candidate.empty() &&
            gatio::test::run({candidate, "-c", "import prometheus_client.parser"}, {}, 60s).code == 0) {
            return candidate;
        }
    }
    return {};
}

// What the parser understood of one /metrics answer.
struct Parsed {
    std::map<std::string, std::string> types; // family name -> type
    std::map<std::string, std::size_t> help;  // family name -> HELP text length
    // sample name -> labels ("k=v,k=v", sorted) -> value
    std::map<std::string, std::map<std::string, double>> samples;

    double sum(const std::string& name, const std::string& label_part = "") const {
        double total = 0;
        if (auto it = samples.find(name); it != samples.end()) {
            for (const auto& [labels, value] : it->second) {
                if (labels.find(label_part) != std::string::npos) {
                    total += value;
                }
            }
        }
        return total;
    }
};

Parsed parse(const TempDir& dir, const std::string& text) {
    static const std::string python = python_with_parser();
    INFO("python3-prometheus-client is missing: scripts/install-deps installs it");
    REQUIRE(!python.empty());
    const auto file = dir.write("metrics.txt", text);
    auto r = gatio::test::run({python, parser_script, file.string()}, {}, 60s);
    INFO(r.err);
    INFO(text);
    REQUIRE(r.code == 0);
    Parsed p;
    std::istringstream lines(r.out);
    std::string kind, name, third, fourth;
    while (lines >> kind >> name) {
        if (kind == "family") {
            lines >> third >> fourth;
            p.types[name] = third;
            p.help[name] = std::stoul(fourth);
        } else {
            // The labels field is empty for a sample without labels: two or three fields.
            std::string rest;
            std::getline(lines, rest);
            std::istringstream fields(rest);
            std::vector<std::string> parts;
            for (std::string f; fields >> f;) {
                parts.push_back(f);
            }
            REQUIRE(!parts.empty());
            p.samples[name][parts.size() == 2 ? parts[0] : ""] = std::stod(parts.back());
        }
    }
    return p;
}

Parsed scrape(const TempDir& dir, int admin) {
    auto r = http_get(admin, "/metrics");
    REQUIRE(r.status == 200);
    CHECK(r.head.find("Content-Type: text/plain; version=0.0.4") != std::string::npos);
    return parse(dir, r.body);
}

bool udp_round_trip(int port, std::string_view datagram) {
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[512];
    const bool ok = ::sendto(fd, datagram.data(), datagram.size(), 0, reinterpret_cast<sockaddr*>(&a),
                             sizeof a) == static_cast<ssize_t>(datagram.size()) &&
                    ::recv(fd, buf, sizeof buf, 0) == static_cast<ssize_t>(datagram.size());
    ::close(fd);
    return ok;
}

// Two drivers on the first two CPUs this process may use, [admin] on the first (with
// `admin_keys` inside its table).
std::string two_drivers(int admin, const std::string& listeners, const std::string& admin_keys = "") {
    cpu_set_t set;
    CPU_ZERO(&set);
    ::sched_getaffinity(0, sizeof set, &set);
    std::vector<int> cpus;
    for (int c = 0; c < CPU_SETSIZE && cpus.size() < 2; ++c) {
        if (CPU_ISSET(c, &set)) {
            cpus.push_back(c);
        }
    }
    REQUIRE(cpus.size() == 2);
    return "[daemon]\nshutdown_grace = \"2s\"\n[admin]\nlisten = \"127.0.0.1:" + std::to_string(admin) +
           "\"\n" + admin_keys +
           "[topology]\nmode = \"manual\"\nring_entries = 256\nbuffer_size = \"4KiB\"\nbuffer_count = "
           "256\n"
           "[[tpc]]\nname = \"node0\"\nnuma_node = 0\nmemory = \"local\"\n"
           "[[tpc.driver]]\nname = \"d0\"\ncpu = " +
           std::to_string(cpus[0]) + "\n[[tpc.driver]]\nname = \"d1\"\ncpu = " + std::to_string(cpus[1]) +
           "\n\n" + listeners;
}

} // namespace

TEST_CASE("/metrics parses as Prometheus text and its counters follow echo traffic", "[metrics]") {
    TempDir dir;
    const int admin = free_port();
    const int port = free_port();
    const int udp = free_port();
    const auto file = dir.write(
        "gatio.toml", two_drivers(admin, listener("e", port, "echo") +
                                             "[[listener]]\nname = \"u\"\ntransport = \"udp\"\naddress = "
                                             "\"127.0.0.1:" +
                                             std::to_string(udp) + "\"\nhandler = \"echo\"\n"));
    Gatiod g(file);

    const Parsed before = scrape(dir, admin);
    // Every family has its HELP and TYPE, and every name the documentation lists is there.
    for (const auto& [name, type] : before.types) {
        INFO(name);
        CHECK(before.help.at(name) > 0);
        CHECK((type == "counter" || type == "gauge"));
    }
    for (const char* family : {"gatio_driver_loop_turns",
                               "gatio_driver_io_uring_enter",
                               "gatio_driver_completions",
                               "gatio_driver_cq_overflows",
                               "gatio_driver_tasks",
                               "gatio_driver_messages_sent",
                               "gatio_driver_messages_received",
                               "gatio_driver_timers_fired",
                               "gatio_driver_min_waits",
                               "gatio_driver_spin_hits",
                               "gatio_driver_busy_seconds",
                               "gatio_driver_heartbeat_age_seconds",
                               "gatio_connections_open",
                               "gatio_connections_accepted",
                               "gatio_connections_refused",
                               "gatio_received_bytes",
                               "gatio_sent_bytes",
                               "gatio_requests_dispatched",
                               "gatio_multishot_rearms",
                               "gatio_recv_enobufs",
                               "gatio_buffer_ring_buffers",
                               "gatio_buffer_ring_used_buffers",
                               "gatio_output_memory_bytes",
                               "gatio_plugin_errors",
                               "gatio_listener_connections_open",
                               "gatio_listener_connections_accepted",
                               "gatio_listener_connections_refused",
                               "gatio_listener_received_bytes",
                               "gatio_listener_sent_bytes",
                               "gatio_listener_requests_dispatched",
                               "gatio_listener_datagrams_received",
                               "gatio_listener_datagrams_sent",
                               "gatio_listener_datagram_drops",
                               "gatio_listener_plugin_errors"}) {
        INFO(family);
        CHECK(before.types.count(family) == 1);
    }
    CHECK(before.types.at("gatio_driver_loop_turns") == "counter");
    CHECK(before.types.at("gatio_connections_open") == "gauge");
    // Labelled by driver and TPC; listener series by listener too.
    CHECK(before.samples.at("gatio_driver_loop_turns_total").count("driver=d0,tpc=node0") == 1);
    CHECK(before.samples.at("gatio_driver_loop_turns_total").count("driver=d1,tpc=node0") == 1);
    CHECK(before.samples.at("gatio_buffer_ring_buffers").at("driver=d1,tpc=node0") == 256);
    CHECK(before.samples.at("gatio_listener_connections_accepted_total")
              .count("driver=d0,listener=e,tpc=node0") == 1);
    CHECK(before.samples.at("gatio_listener_datagrams_received_total")
              .count("driver=d1,listener=u,tpc=node0") == 1);

    const std::string payload(2000, 'x');
    for (int i = 0; i < 6; ++i) {
        Connection c(port);
        REQUIRE(c.send(payload));
        REQUIRE(c.receive(payload.size()) == payload);
    }
    REQUIRE(udp_round_trip(udp, "datagram"));

    // Counters are published once per loop turn: the closes may show a little later.
    Parsed after;
    for (int i = 0; i < 100; ++i) {
        after = scrape(dir, admin);
        if (after.sum("gatio_listener_connections_open", "listener=e") == 0 &&
            after.sum("gatio_listener_datagrams_sent_total", "listener=u") >= 1) {
            break;
        }
        std::this_thread::sleep_for(50ms);
    }
    auto moved = [&](const std::string& name, const std::string& labels = "") {
        return after.sum(name, labels) - before.sum(name, labels);
    };
    CHECK(moved("gatio_listener_connections_accepted_total", "listener=e") == 6);
    CHECK(after.sum("gatio_listener_connections_open", "listener=e") == 0);
    CHECK(moved("gatio_listener_received_bytes_total", "listener=e") == 6 * 2000);
    CHECK(moved("gatio_listener_sent_bytes_total", "listener=e") == 6 * 2000);
    CHECK(moved("gatio_listener_requests_dispatched_total", "listener=e") >= 6);
    CHECK(moved("gatio_listener_datagrams_received_total", "listener=u") == 1);
    CHECK(moved("gatio_listener_datagrams_sent_total", "listener=u") == 1);
    CHECK(after.sum("gatio_listener_plugin_errors_total") == 0);
    // The drivers' own counts include the scrapes, which the admin endpoint serves.
    CHECK(moved("gatio_connections_accepted_total") >= 6);
    CHECK(moved("gatio_received_bytes_total") >= 6 * 2000);
    CHECK(moved("gatio_driver_loop_turns_total") > 0);
    CHECK(moved("gatio_driver_io_uring_enter_total") > 0);
    CHECK(moved("gatio_driver_completions_total") > 0);
    CHECK(after.sum("gatio_driver_cq_overflows_total") == 0);
    CHECK(g.stop() == 0);
}

TEST_CASE("/healthz answers ok while every driver turns its loop and 503 naming a stalled one", "[metrics]") {
    TempDir dir;
    const int admin = free_port();
    const int port = free_port();
    const auto file = dir.write(
        "gatio.toml", two_drivers(admin, listener("stall", port, shout_plugin, "drivers = [\"d1\"]")));
    Gatiod g(file);
    auto ok = http_get(admin, "/healthz");
    CHECK(ok.status == 200);
    CHECK(ok.body == "ok\n");

    // d1 blocks in its handler for 4 s; the admin endpoint on d0 must notice.
    Connection c(port);
    REQUIRE(c.send("stall 4000\n"));
    Connection::Http stalled;
    for (int i = 0; i < 35 && stalled.status != 503; ++i) {
        std::this_thread::sleep_for(100ms);
        stalled = http_get(admin, "/healthz");
    }
    CHECK(stalled.status == 503);
    CHECK(stalled.body == "stalled: d1\n");

    CHECK(c.receive(8, 10s) == "stalled\n");
    Connection::Http recovered;
    for (int i = 0; i < 50 && recovered.status != 200; ++i) {
        std::this_thread::sleep_for(100ms);
        recovered = http_get(admin, "/healthz");
    }
    CHECK(recovered.status == 200);
    CHECK(g.stop() == 0);
}

TEST_CASE("the admin endpoint speaks enough HTTP/1.1: keep-alive, pipelining, HEAD, errors", "[metrics]") {
    TempDir dir;
    const int admin = free_port();
    Gatiod g(dir.write("gatio.toml", two_drivers(admin, "")));

    Connection c(admin);
    CHECK(c.http("GET", "/healthz").status == 200);
    auto head = c.http("HEAD", "/metrics");
    CHECK(head.status == 200);
    CHECK(head.body.empty());
    CHECK(head.head.find("Content-Length: 0\r") == std::string::npos);
    CHECK(c.http("GET", "/nope").status == 404);
    auto post = c.http("POST", "/metrics", "Content-Length: 0\r\n");
    CHECK(post.status == 405);
    CHECK(post.head.find("Allow: GET, HEAD") != std::string::npos);
    // Two requests in one segment, answered in order.
    REQUIRE(c.send("GET /nope HTTP/1.1\r\nHost: a\r\n\r\nGET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"));
    CHECK(c.read_http().status == 404);
    CHECK(c.read_http().status == 200);
    // A request split over several segments.
    REQUIRE(c.send("GET /hea"));
    std::this_thread::sleep_for(20ms);
    REQUIRE(c.send("lthz HTTP/1.1\r\nHost: a\r\n"));
    std::this_thread::sleep_for(20ms);
    REQUIRE(c.send("\r\n"));
    CHECK(c.read_http().body == "ok\n");
    auto last = c.http("GET", "/healthz", "Connection: close\r\n");
    CHECK(last.status == 200);
    CHECK(last.head.find("Connection: close") != std::string::npos);
    CHECK(c.closed_by_peer());

    Connection bad(admin);
    REQUIRE(bad.send("NONSENSE\r\n\r\n"));
    CHECK(bad.read_http().status == 400);
    CHECK(bad.closed_by_peer());
    CHECK(g.stop() == 0);
}

TEST_CASE("listener counters carry on across reloads, and removed listeners leave /metrics",
          "[metrics][reload]") {
    TempDir dir;
    const int admin = free_port();
    const int port = free_port();
    const int other = free_port();
    const auto file = dir.write("gatio.toml", two_drivers(admin, listener("e", port, "echo")));
    Gatiod g(file);
    auto connect_some = [&](int n) {
        for (int i = 0; i < n; ++i) {
            Connection c(port);
            REQUIRE(c.send("abc"));
            REQUIRE(c.receive(3) == "abc");
        }
    };
    connect_some(3);

    // e changes (new instances), o appears.
    dir.write("gatio.toml", two_drivers(admin, listener("e", port, "echo", "idle_timeout = \"30s\"") +
                                                   listener("o", other, "echo")));
    REQUIRE(g.reload());
    connect_some(2);
    Parsed p;
    for (int i = 0; i < 100; ++i) {
        p = scrape(dir, admin);
        if (p.sum("gatio_listener_connections_accepted_total", "listener=e") >= 5) {
            break;
        }
        std::this_thread::sleep_for(50ms);
    }
    CHECK(p.sum("gatio_listener_connections_accepted_total", "listener=e") == 5);
    CHECK(p.samples.at("gatio_listener_connections_accepted_total").count("driver=d0,listener=o,tpc=node0") ==
          1);

    dir.write("gatio.toml", two_drivers(admin, listener("o", other, "echo")));
    REQUIRE(g.reload());
    p = scrape(dir, admin);
    CHECK(p.sum("gatio_listener_connections_accepted_total", "listener=e") == 0);
    CHECK(p.sum("gatio_listener_connections_accepted_total", "listener=o") == 0);
    CHECK(p.samples.at("gatio_listener_connections_accepted_total").count("driver=d0,listener=o,tpc=node0") ==
          1);
    // The drivers' totals do not go back when listeners go.
    CHECK(p.sum("gatio_connections_accepted_total") >= 5);
    CHECK(g.stop() == 0);
}

TEST_CASE("/healthz and the watchdog agree while a driver stalls: both read one liveness monitor",
          "[metrics][watchdog]") {
    TempDir dir;
    NotifySocket notify(dir.path() / "notify");
    const int admin = free_port();
    const int port = free_port();
    const auto file = dir.write(
        "gatio.toml", two_drivers(admin, listener("stall", port, shout_plugin, "drivers = [\"d1\"]")));
    // A liveness period of 200 ms (half WATCHDOG_USEC), far from any period /healthz could
    // keep on its own.
    Gatiod g(file, {notify.env(), "WATCHDOG_USEC=400000"});
    const auto ping = [](const std::string& m) { return m.find("WATCHDOG=1") != std::string::npos; };
    REQUIRE(notify.wait_for(ping, 30s));
    CHECK(http_get(admin, "/healthz").status == 200);

    Connection c(port);
    REQUIRE(c.send("stall 3000\n")); // d1's thread sleeps in the handler for 3 s
    const auto withheld = notify.wait_for(
        [](const std::string& m) {
            auto s = field(m, "STATUS");
            return s && s->find("(stalled: d1)") != std::string::npos;
        },
        30s);
    REQUIRE(withheld);
    // The watchdog is withheld from now on: /healthz says the same at once, without polling.
    const auto during = http_get(admin, "/healthz");
    CHECK(during.status == 503);
    CHECK(during.body == "stalled: d1\n");

    CHECK(c.receive(8, 10s) == "stalled\n");
    const auto recovered = notify.wait_for(
        [](const std::string& m) {
            auto s = field(m, "STATUS");
            return s && s->find("stalled") == std::string::npos;
        },
        30s);
    REQUIRE(recovered);
    const auto after = http_get(admin, "/healthz");
    CHECK(after.status == 200);
    CHECK(after.body == "ok\n");
    CHECK(g.stop() == 0);
}

TEST_CASE("16 idle connections to the admin port leave /healthz and /metrics reachable",
          "[metrics][limits]") {
    TempDir dir;
    const int admin = free_port();
    Gatiod g(dir.write("gatio.toml", two_drivers(admin, "")));
    std::vector<std::unique_ptr<Connection>> idle;
    for (int i = 0; i < 16; ++i) {
        idle.push_back(std::make_unique<Connection>(admin));
        REQUIRE(idle.back()->connected());
    }
    // Each idle one is accepted (it answers), so the next ones compete for what is left.
    for (auto& c : idle) {
        CHECK(c->http("GET", "/healthz").status == 200);
    }
    const auto health = http_get(admin, "/healthz");
    CHECK(health.status == 200);
    CHECK(health.body == "ok\n");
    CHECK(http_get(admin, "/metrics").status == 200);
    CHECK(g.stop() == 0);
}

TEST_CASE("[admin] max_connections and idle_timeout: idle clients are closed and make room",
          "[metrics][limits]") {
    TempDir dir;
    const int admin = free_port();
    Gatiod g(
        dir.write("gatio.toml", two_drivers(admin, "", "max_connections = 3\nidle_timeout = \"300ms\"\n")));
    std::vector<std::unique_ptr<Connection>> idle;
    for (int i = 0; i < 3; ++i) {
        idle.push_back(std::make_unique<Connection>(admin));
        REQUIRE(idle.back()->connected());
        REQUIRE(idle.back()->http("GET", "/healthz").status == 200);
    }
    // Every slot is taken; left idle, each is closed by gatiod (which then waits for the client's
    // FIN before it lets the slot go), and health checks get through again.
    for (auto& c : idle) {
        CHECK(c->closed_by_peer(30s));
    }
    idle.clear();
    Connection::Http health;
    for (int i = 0; i < 100 && health.status != 200; ++i) {
        health = http_get(admin, "/healthz");
        if (health.status != 200) {
            std::this_thread::sleep_for(50ms);
        }
    }
    CHECK(health.status == 200);
    CHECK(g.stop() == 0);
}

TEST_CASE("a request head over 8 KiB is refused with 431 and a close, however it arrives",
          "[metrics][limits]") {
    TempDir dir;
    const int admin = free_port();
    // Receive buffers larger than the head, so that it can reach the handler in one piece.
    std::string text = two_drivers(admin, "");
    const std::string small = "buffer_size = \"4KiB\"";
    REQUIRE(text.find(small) != std::string::npos);
    text.replace(text.find(small), small.size(), "buffer_size = \"32KiB\"");
    Gatiod g(dir.write("gatio.toml", text));
    const std::string pad = "X-Pad: " + std::string(16 * 1024, 'p') + "\r\n";
    SECTION("in one piece") {
        Connection c(admin);
        REQUIRE(c.send("GET /healthz HTTP/1.1\r\nHost: a\r\n" + pad + "\r\n"));
        CHECK(c.read_http().status == 431);
        CHECK(c.closed_by_peer());
    }
    SECTION("in pieces") {
        Connection c(admin);
        REQUIRE(c.send("GET /healthz HTTP/1.1\r\nHost: a\r\n"));
        std::this_thread::sleep_for(20ms);
        REQUIRE(c.send(pad.substr(0, 6000)));
        std::this_thread::sleep_for(20ms);
        c.send(pad.substr(6000) + "\r\n"); // gatiod may have closed already
        CHECK(c.read_http().status == 431);
        CHECK(c.closed_by_peer());
    }
    SECTION("a request with a body") {
        Connection c(admin);
        REQUIRE(c.send("GET /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbody"));
        CHECK(c.read_http().status == 400);
        CHECK(c.closed_by_peer());
    }
    // A head just under the limit is still served.
    Connection ok(admin);
    CHECK(ok.http("GET", "/healthz", "X-Pad: " + std::string(7000, 'p') + "\r\n").status == 200);
    CHECK(g.stop() == 0);
}
