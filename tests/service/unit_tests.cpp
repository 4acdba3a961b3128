// The control loop's parts on their own: the liveness monitor, STATUS= text, the reload
// comparison, the inherited-socket bookkeeping and net's checks of an inherited socket.
#include <arpa/inet.h>
#include <catch2/catch.hpp>
#include <cerrno>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config/load.hpp"
#include "core/liveness.hpp"
#include "daemon/reload.hpp"
#include "daemon/socket_activation.hpp"
#include "daemon/status.hpp"
#include "harness.hpp"
#include "net/listener_socket.hpp"
#include "net/plan.hpp"

using namespace gatio;
using namespace gatio::service_test;

namespace {

bool is_open(int fd) {
    return ::fcntl(fd, F_GETFD) != -1 || errno != EBADF;
}

config::Config load(const std::string& text) {
    config::Overrides overrides;
    overrides.plugin_dir = echo_plugin_dir;
    auto r = config::load_string(text, "/nonexistent/gatio.toml", overrides);
    for (const auto& e : r.errors) {
        UNSCOPED_INFO(e.to_string());
    }
    REQUIRE(r.config);
    return *r.config;
}

std::vector<net::ListenerState> states(const config::Config& c) {
    std::vector<net::ListenerState> out;
    for (const auto& l : c.listeners) {
        out.push_back({l, {0}, std::nullopt});
    }
    return out;
}

// The plan from `running`'s listeners to `next`'s, each on driver 0 with its handler unchanged.
struct Planned {
    Planned(const config::Config& running, const config::Config& next)
        : before(states(running)), after(states(next)), plan(net::plan_listeners(before, after)) {}
    std::vector<net::ListenerState> before, after; // the plan points into them
    net::Plan plan;
};

} // namespace

TEST_CASE("liveness monitor: a driver that leaves a probe unanswered for a period is stalled until it turns",
          "[service][unit]") {
    core::LivenessMonitor m(2);
    const std::int64_t idle[] = {5, 5};
    // An old heartbeat alone is no stall: nobody asked the driver to turn.
    CHECK(m.check(idle).empty());
    CHECK(m.wants_probe(0));
    CHECK(m.wants_probe(1));

    m.probed(0, 100);
    m.probed(1, 100);
    const std::int64_t first[] = {150, 50}; // driver 0 turned after its probe, driver 1 did not
    auto changes = m.check(first);
    REQUIRE(changes.size() == 1);
    CHECK(changes[0].driver == 1);
    CHECK(changes[0].stalled);
    CHECK(changes[0].since_ns == 50);
    CHECK(m.stalled(1));
    CHECK_FALSE(m.stalled(0));
    CHECK(m.stalled_count() == 1);
    CHECK(m.wants_probe(0));
    CHECK_FALSE(m.wants_probe(1)); // its probe is still waiting in its queue

    m.probed(0, 200);
    const std::int64_t second[] = {210, 60};
    CHECK(m.check(second).empty()); // driver 0 answered again; driver 1 is reported once only
    CHECK(m.stalled_count() == 1);
    CHECK(m.wants_probe(0));

    const std::int64_t third[] = {210, 300};
    changes = m.check(third);
    REQUIRE(changes.size() == 1);
    CHECK(changes[0].driver == 1);
    CHECK_FALSE(changes[0].stalled);
    CHECK(changes[0].since_ns == 100); // when it was probed
    CHECK(m.stalled_count() == 0);
    CHECK(m.wants_probe(1));
}

TEST_CASE("STATUS= text: drivers, connections, requests per second, stalls, reload notes, bounded length",
          "[service][unit]") {
    daemon::StatusFigures f;
    f.drivers = 2;
    f.connections = 3;
    f.requests_per_second = 119.6;
    CHECK(daemon::status_text(f, 1024) == "drivers 2/2 up, 3 connections open, 120 requests/s");
    f.stalled = {"d1"};
    f.note = "restart needed for: topology";
    CHECK(daemon::status_text(f, 1024) ==
          "drivers 1/2 up (stalled: d1), 3 connections open, 120 requests/s; restart needed for: topology");
    f.stopping = true;
    CHECK(daemon::status_text(f, 1024) == "stopping: 3 connections open; restart needed for: topology");

    f.stopping = false;
    f.stalled.clear();
    f.note = "reload failed: caf\xC3\xA9.toml:1:1: error";
    const std::string full = daemon::status_text(f, 1024);
    const std::size_t cut_inside = full.find('\xC3') + 1; // max length falls inside the 2-byte 'é'
    const std::string cut = daemon::status_text(f, cut_inside + 3);
    CHECK(cut == full.substr(0, cut_inside - 1) + "...");
    CHECK(daemon::status_text(f, 2) == "..");
}

TEST_CASE(
    "status figures from counters: open connections never negative, requests per second from dispatches",
    "[service][unit]") {
    net::NetCounters c;
    c.accepted = 5;
    c.closed = 3;
    CHECK(daemon::open_connections(c) == 2);
    c.closed = 6; // read a turn later than accepted
    CHECK(daemon::open_connections(c) == 0);

    daemon::Snapshot before, after;
    after.at_ns = 2'000'000'000;
    after.total.dispatched = 1000;
    CHECK(daemon::requests_per_second(before, after) == 0); // no earlier snapshot
    before.at_ns = 0;
    before.total.dispatched = 0;
    CHECK(daemon::requests_per_second(before, after) == Approx(500.0));

    after.drivers.resize(2);
    after.net.resize(2);
    after.drivers[1].loop_turns = 42;
    after.net[1].dispatched = 7;
    after.total.accepted = 4;
    after.total.closed = 1;
    const auto lines = daemon::counter_lines(after, {"d0", "d1"});
    REQUIRE(lines.size() == 3);
    CHECK(lines[0].rfind("counters: driver d0: loop_turns=0 ", 0) == 0);
    CHECK(lines[1].rfind("counters: driver d1: loop_turns=42 ", 0) == 0);
    CHECK(lines[1].find(" dispatched=7 ") != std::string::npos);
    CHECK(lines[2].rfind("counters: total: connections_open=3; accepted=4 ", 0) == 0);
}

TEST_CASE("reload comparison: listeners added, removed and changed, and what needs a restart",
          "[service][unit]") {
    const std::string web = tcp_listener("web", 7000, "echo");
    const std::string old_text =
        config_text("shutdown_grace = \"10s\"\n", web + tcp_listener("old", 7001, "echo"));
    const auto running = load(old_text);

    SECTION("the same settings written elsewhere in the file change nothing") {
        const auto next = load("\n\n# moved down\n" + old_text);
        CHECK(Planned(running, next).plan.changes_nothing());
        CHECK(daemon::restart_needed(running, next).empty());
    }
    SECTION("added, removed and changed listeners are told apart") {
        const auto next = load(config_text("shutdown_grace = \"10s\"\n",
                                           tcp_listener("web", 7000, "echo", "idle_timeout = \"5s\"") +
                                               tcp_listener("new", 7002, "echo")));
        const Planned planned(running, next);
        const net::Plan& changes = planned.plan;
        CHECK(changes.names(net::Step::open) == std::vector<std::string>{"new"});
        CHECK(changes.names(net::Step::retire) == std::vector<std::string>{"old"});
        CHECK(changes.names(net::Step::change) == std::vector<std::string>{"web"});
        CHECK(daemon::restart_needed(running, next).empty());
    }
    SECTION(
        "topology, io_uring, admin, log level and plugin folder need a restart; shutdown_grace does not") {
        const auto next = load("[daemon]\nlog_level = \"debug\"\nshutdown_grace = \"1s\"\n"
                               "[admin]\nlisten = \"127.0.0.1:9100\"\n"
                               "[topology]\nmode = \"auto\"\ncpus = \"0\"\n"
                               "[io_uring]\ncq_factor = 8\n\n" +
                               web + tcp_listener("old", 7001, "echo"));
        CHECK(daemon::restart_needed(running, next) ==
              std::vector<std::string>{"topology", "io_uring", "admin", "daemon.log_level"});
        CHECK(Planned(running, next).plan.changes_nothing());
    }
}

TEST_CASE("inherited sockets: one socket per name, unmatched ones closed, the rest closed on destruction",
          "[service][unit]") {
    const int a = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int b = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int web = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int stray = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE((a >= 0 && b >= 0 && web >= 0 && stray >= 0));
    {
        daemon::InheritedSockets sockets({{"twice", a}, {"web", web}, {"twice", b}, {"stray", stray}});
        CHECK(sockets.error() ==
              "socket activation: sockets " + std::to_string(a) + ", " + std::to_string(b) +
                  " are all named \"twice\", but a listener serves one socket: give each its "
                  "own .socket unit or FileDescriptorName=");
        CHECK_FALSE(is_open(a));
        CHECK_FALSE(is_open(b));
        REQUIRE(sockets.by_name().size() == 2);

        const auto cfg = load(config_text("", tcp_listener("web", 7000, "echo")));
        const auto closed = sockets.close_unmatched(cfg);
        CHECK(closed == std::vector<std::string>{"\"stray\" (fd " + std::to_string(stray) + ")"});
        CHECK_FALSE(is_open(stray));
        CHECK(sockets.by_name().at("web") == web);
        CHECK(is_open(web));
    }
    CHECK_FALSE(is_open(web));
}

TEST_CASE("an inherited socket is used only when it is the listener's own: transport, family, state, address",
          "[service][unit]") {
    const int port = free_port();
    const auto cfg = load(config_text("", tcp_listener("web", port, "echo")));
    const auto& l = cfg.listeners.at(0);

    SECTION("a listening TCP socket on the listener's address is duplicated, with TCP_NODELAY") {
        const int fd = bound_socket(SOCK_STREAM, port);
        auto s = net::adopt_listener_socket(l, fd, "the test's socket");
        CHECK(s.get() != fd);
        int nodelay = 0;
        socklen_t len = sizeof nodelay;
        REQUIRE(::getsockopt(s.get(), IPPROTO_TCP, TCP_NODELAY, &nodelay, &len) == 0);
        CHECK(nodelay == 1);
        CHECK((::fcntl(s.get(), F_GETFD) & FD_CLOEXEC) != 0);
        ::close(fd);
    }
    SECTION("wrong sockets are refused with the reason") {
        auto refused = [&](int fd, const std::string& why) {
            const std::string prefix =
                "listener \"web\" (tcp 127.0.0.1:" + std::to_string(port) + "): the test's socket ";
            CHECK_THROWS_WITH(net::adopt_listener_socket(l, fd, "the test's socket"), prefix + why);
            ::close(fd);
        };
        refused(bound_socket(SOCK_DGRAM, port), "is not a stream (TCP) socket");
        refused(::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0),
                "is an IPv6 socket, the listener's address is IPv4");
        const int unlistened = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        refused(unlistened, "is not listening");
        const int other = free_port();
        refused(bound_socket(SOCK_STREAM, other),
                "is bound to 127.0.0.1:" + std::to_string(other) +
                    ", not to the configured address 127.0.0.1:" + std::to_string(port));
    }
}
