// The plan step on its own: pure, so every case is a table of listeners in and steps out.
#include <catch2/catch.hpp>

#include "net/plan.hpp"

using namespace gatio;
using net::DriverStep;
using net::ListenerState;
using net::Step;

namespace {

ListenerState state(const std::string& name, int port, std::vector<int> drivers,
                    std::int64_t handler_mtime = 1) {
    ListenerState s;
    s.settings.name = name;
    s.settings.address.text = "127.0.0.1:" + std::to_string(port);
    s.settings.address.port = static_cast<std::uint16_t>(port);
    s.settings.handler_path = "/plugins/echo.so";
    s.drivers = std::move(drivers);
    s.handler = net::PluginFileId{1, 2, 3, handler_mtime};
    return s;
}

const net::ListenerStep& step(const net::Plan& plan, const std::string& name) {
    for (const auto& s : plan.listeners) {
        if (s.name == name) {
            return s;
        }
    }
    FAIL("no step for " << name);
    throw;
}

} // namespace

TEST_CASE("plan: a start is the plan from the empty set, in which every listener opens on its drivers",
          "[net][plan]") {
    const std::vector<ListenerState> next{state("a", 7000, {0, 1}), state("b", 7001, {1})};
    const auto plan = net::plan_listeners({}, next);
    REQUIRE(plan.listeners.size() == 2);
    CHECK(plan.listeners[0].name == "a");
    CHECK(plan.listeners[0].step == Step::open);
    CHECK(plan.listeners[0].running == nullptr);
    CHECK(plan.listeners[0].next == &next[0]);
    CHECK(plan.listeners[0].drivers == std::vector<DriverStep>{{0, Step::open}, {1, Step::open}});
    CHECK(plan.listeners[1].drivers == std::vector<DriverStep>{{1, Step::open}});
    CHECK_FALSE(plan.changes_nothing());
    CHECK(net::plan_listeners({}, {}).changes_nothing());
}

TEST_CASE("plan: the same settings, drivers and handler file keep a listener", "[net][plan]") {
    const std::vector<ListenerState> running{state("a", 7000, {0, 1})};
    const std::vector<ListenerState> next{state("a", 7000, {0, 1})};
    const auto plan = net::plan_listeners(running, next);
    CHECK(plan.changes_nothing());
    CHECK(step(plan, "a").drivers == std::vector<DriverStep>{{0, Step::keep}, {1, Step::keep}});
    CHECK(step(plan, "a").running == &running[0]);
}

TEST_CASE("plan: listeners are matched by name, not by position", "[net][plan]") {
    const std::vector<ListenerState> running{state("a", 7000, {0}), state("b", 7001, {1})};
    const std::vector<ListenerState> next{state("b", 7001, {1}), state("a", 7000, {0})};
    const auto plan = net::plan_listeners(running, next);
    CHECK(plan.changes_nothing());
    CHECK(step(plan, "a").running == &running[0]);
    CHECK(step(plan, "a").next == &next[1]);
}

TEST_CASE("plan: added, removed and changed listeners; removed ones retire on every driver they had",
          "[net][plan]") {
    const std::vector<ListenerState> running{state("web", 7000, {0}), state("old", 7001, {0, 1})};
    auto web = state("web", 7000, {0});
    web.settings.idle_timeout = std::chrono::milliseconds(5000);
    const std::vector<ListenerState> next{web, state("new", 7002, {1})};
    const auto plan = net::plan_listeners(running, next);
    CHECK(plan.names(Step::open) == std::vector<std::string>{"new"});
    CHECK(plan.names(Step::change) == std::vector<std::string>{"web"});
    CHECK(plan.names(Step::retire) == std::vector<std::string>{"old"});
    CHECK(plan.names(Step::keep).empty());
    // The file's order first, the retired after.
    REQUIRE(plan.listeners.size() == 3);
    CHECK(plan.listeners[2].name == "old");
    CHECK(plan.listeners[2].next == nullptr);
    CHECK(plan.listeners[2].drivers == std::vector<DriverStep>{{0, Step::retire}, {1, Step::retire}});
    CHECK(step(plan, "web").same_sockets);
    CHECK(step(plan, "web").drivers == std::vector<DriverStep>{{0, Step::change}});
}

TEST_CASE("plan: a listener moved between drivers changes where it stays, opens where it arrives and retires "
          "where it leaves",
          "[net][plan]") {
    const std::vector<ListenerState> running{state("a", 7000, {0, 1})};
    const std::vector<ListenerState> next{state("a", 7000, {1, 2})};
    const auto plan = net::plan_listeners(running, next);
    const auto& a = step(plan, "a");
    CHECK(a.step == Step::change);
    CHECK(a.same_sockets);
    CHECK(a.drivers == std::vector<DriverStep>{{0, Step::retire}, {1, Step::change}, {2, Step::open}});
}

TEST_CASE("plan: a replaced handler file changes a listener; a file that cannot be looked at does not",
          "[net][plan]") {
    const std::vector<ListenerState> running{state("a", 7000, {0}), state("b", 7001, {0})};
    auto gone = state("b", 7001, {0});
    gone.handler.reset();
    const std::vector<ListenerState> next{state("a", 7000, {0}, 2), gone};
    const auto plan = net::plan_listeners(running, next);
    CHECK(step(plan, "a").step == Step::change);
    CHECK(step(plan, "a").same_sockets);
    CHECK(step(plan, "b").step == Step::keep);
}

TEST_CASE("plan: a new address or transport changes a listener onto new sockets", "[net][plan]") {
    const std::vector<ListenerState> running{state("a", 7000, {0}), state("b", 7001, {0})};
    auto udp = state("b", 7001, {0});
    udp.settings.transport = config::Transport::udp;
    const std::vector<ListenerState> next{state("a", 7100, {0}), udp};
    const auto plan = net::plan_listeners(running, next);
    CHECK(step(plan, "a").step == Step::change);
    CHECK_FALSE(step(plan, "a").same_sockets);
    CHECK(step(plan, "b").step == Step::change);
    CHECK_FALSE(step(plan, "b").same_sockets);
}
