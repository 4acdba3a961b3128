// Resolution of auto and manual topologies and of listener driver lists, against injected
// machines. Every error is checked word for word, with its position.
#include <catch2/catch.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/topology.hpp"
#include "machines.hpp"

namespace {

using gatio::config::Config;
using gatio::config::DriverConfig;
using gatio::config::DriverPositions;
using gatio::config::DriverRole;
using gatio::config::ListenerConfig;
using gatio::config::ListenerPositions;
using gatio::config::MemoryPolicy;
using gatio::config::SourcePos;
using gatio::config::TopologyMode;
using gatio::config::TpcConfig;
using gatio::config::TpcPositions;
using gatio::core::resolve_topology;
using gatio::core::ResolveResult;
using gatio::core::Topology;
namespace test = gatio::test;

Config auto_config() {
    Config c;
    c.file = "gatio.toml";
    c.topology.mode = TopologyMode::automatic;
    return c;
}

// A setting built in code, and where the test says it was written.
template <typename Value, typename Where>
struct Written {
    Value value;
    Where at;
};
using WrittenDriver = Written<DriverConfig, DriverPositions>;
using WrittenTpc = Written<TpcConfig, TpcPositions>;
using WrittenListener = Written<ListenerConfig, ListenerPositions>;

Config manual_config(std::vector<WrittenTpc> tpcs) {
    Config c = auto_config();
    c.topology.mode = TopologyMode::manual;
    for (auto& t : tpcs) {
        c.topology.tpcs.push_back(std::move(t.value));
        c.positions.tpcs.push_back(std::move(t.at));
    }
    return c;
}

void add(Config& c, WrittenListener l) {
    c.positions.listeners.resize(c.listeners.size());
    c.listeners.push_back(std::move(l.value));
    c.positions.listeners.push_back(l.at);
}

// A driver written on `line`, its cpu key at column 1.
WrittenDriver driver(std::string name, int cpu, DriverRole role, std::uint32_t line) {
    WrittenDriver d;
    d.value.name = std::move(name);
    d.value.cpu = cpu;
    d.value.role = role;
    d.at.table = SourcePos{line - 1, 1};
    d.at.cpu = SourcePos{line, 1};
    return d;
}

// A TPC written on `line`, its numa_node key on the next one.
WrittenTpc tpc(std::string name, int node, std::uint32_t line, std::vector<WrittenDriver> drivers) {
    WrittenTpc t;
    t.value.name = std::move(name);
    t.value.numa_node = node;
    t.value.memory = MemoryPolicy::interleave;
    for (auto& d : drivers) {
        t.value.drivers.push_back(std::move(d.value));
        t.at.drivers.push_back(d.at);
    }
    t.at.table = SourcePos{line, 1};
    t.at.numa_node = SourcePos{line + 1, 13};
    return t;
}

// A listener whose drivers key is on `line` (column 11); no names means drivers = "*" left
// at its default, which has no position of its own.
WrittenListener listener(std::string name, std::vector<std::string> drivers, std::uint32_t line) {
    WrittenListener l;
    l.value.name = std::move(name);
    l.value.address.text = "127.0.0.1:7000";
    l.value.handler_path = "plugins/echo.so";
    l.at.table = SourcePos{line - 4, 1};
    l.value.all_drivers = drivers.empty();
    l.value.drivers = std::move(drivers);
    l.at.drivers = l.value.all_drivers ? SourcePos{} : SourcePos{line, 11};
    return l;
}

std::vector<std::string> messages(const ResolveResult& r) {
    std::vector<std::string> out;
    for (const auto& d : r.errors) {
        out.push_back(d.to_string());
    }
    return out;
}

std::vector<std::string> driver_names(const Topology& t, const std::vector<int>& indexes) {
    std::vector<std::string> out;
    for (int i : indexes) {
        out.push_back(t.driver(i).name);
    }
    return out;
}

std::vector<int> driver_cpus(const gatio::core::TpcPlan& tpc) {
    std::vector<int> out;
    for (const auto& d : tpc.drivers) {
        out.push_back(d.cpu);
    }
    return out;
}

} // namespace

TEST_CASE("auto mode makes one TPC per node and one io+exec driver per CPU", "[topology][auto]") {
    Config c = auto_config();
    c.topology.ring.ring_entries = 256;
    c.topology.ring.buffer_count = 64;
    add(c, listener("web", {}, 20));
    auto r = resolve_topology(c, test::two_nodes_smt());
    REQUIRE(messages(r).empty());
    const Topology& t = *r.topology;
    REQUIRE(t.tpcs.size() == 2);
    CHECK(t.tpcs[0].name == "node0");
    CHECK(t.tpcs[0].index == 0);
    CHECK(t.tpcs[0].numa_node == 0);
    CHECK(t.tpcs[0].memory == MemoryPolicy::bind);
    CHECK(driver_cpus(t.tpcs[0]) == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7});
    CHECK(t.tpcs[1].name == "node1");
    CHECK(t.tpcs[1].index == 1);
    CHECK(t.tpcs[1].numa_node == 1);
    CHECK(driver_cpus(t.tpcs[1]) == std::vector<int>{8, 9, 10, 11, 12, 13, 14, 15});
    REQUIRE(t.driver_count() == 16);
    for (int i = 0; i < 16; ++i) {
        const auto& d = t.driver(i);
        CHECK(d.index == i);
        CHECK(d.cpu == i);
        CHECK(d.name == "cpu" + std::to_string(i));
        CHECK(d.role == DriverRole::io_exec);
        CHECK(d.ring == c.topology.ring);
    }
    REQUIRE(t.listeners.size() == 1);
    CHECK(t.listeners[0].drivers.size() == 16);
    CHECK(t.listeners[0].settings.name == "web");
    CHECK(t.listeners[0].settings.address.text == "127.0.0.1:7000");
}

TEST_CASE("auto mode only uses CPUs of the affinity mask", "[topology][auto]") {
    auto r = resolve_topology(auto_config(), test::two_nodes_restricted());
    REQUIRE(messages(r).empty());
    REQUIRE(r.topology->tpcs.size() == 1);
    CHECK(r.topology->tpcs[0].name == "node0");
    CHECK(driver_cpus(r.topology->tpcs[0]) == std::vector<int>{0, 1});
}

TEST_CASE("auto mode on a single node", "[topology][auto]") {
    auto r = resolve_topology(auto_config(), test::single_node(2));
    REQUIRE(messages(r).empty());
    REQUIRE(r.topology->tpcs.size() == 1);
    CHECK(r.topology->tpcs[0].name == "node0");
    CHECK(driver_cpus(r.topology->tpcs[0]) == std::vector<int>{0, 1});
}

TEST_CASE("topology.cpus limits auto mode, and nodes left without CPUs get no TPC", "[topology][auto]") {
    Config c = auto_config();
    c.topology.cpus = test::cpu_range(9, 10);
    c.topology.cpus->add(2);
    auto r = resolve_topology(c, test::two_nodes_smt());
    REQUIRE(messages(r).empty());
    const Topology& t = *r.topology;
    REQUIRE(t.tpcs.size() == 2);
    CHECK(driver_cpus(t.tpcs[0]) == std::vector<int>{2});
    CHECK(driver_cpus(t.tpcs[1]) == std::vector<int>{9, 10});
    CHECK(t.tpcs[1].drivers[0].index == 1);

    c.topology.cpus = test::cpu_range(12, 13);
    r = resolve_topology(c, test::two_nodes_smt());
    REQUIRE(messages(r).empty());
    REQUIRE(r.topology->tpcs.size() == 1);
    CHECK(r.topology->tpcs[0].name == "node1");
    CHECK(r.topology->tpcs[0].index == 0);
}

TEST_CASE("topology.cpus errors", "[topology][auto][errors]") {
    Config c = auto_config();
    c.positions.topology_cpus = SourcePos{4, 8};

    SECTION("a CPU that does not exist") {
        c.topology.cpus = test::cpu_range(14, 17);
        CHECK(messages(resolve_topology(c, test::two_nodes_smt())) ==
              std::vector<std::string>{
                  "gatio.toml:4:8: topology.cpus: cpus 16-17 do not exist on this machine (online: 0-15)"});
    }
    SECTION("a CPU outside the affinity mask") {
        c.topology.cpus = test::cpu_range(1, 1);
        c.topology.cpus->add(7);
        CHECK(messages(resolve_topology(c, test::two_nodes_restricted())) ==
              std::vector<std::string>{"gatio.toml:4:8: topology.cpus: cpu 7 is not in this process's CPU "
                                       "affinity (allowed: 0-1)"});
    }
    SECTION("both, reported together") {
        c.topology.cpus = test::cpu_range(2, 3);
        c.topology.cpus->add(99);
        CHECK(messages(resolve_topology(c, test::two_nodes_restricted())) ==
              std::vector<std::string>{
                  "gatio.toml:4:8: topology.cpus: cpu 99 does not exist on this machine (online: 0-15)",
                  "gatio.toml:4:8: topology.cpus: cpus 2-3 are not in this process's CPU affinity (allowed: "
                  "0-1)"});
    }
    SECTION("no online CPU in the affinity mask") {
        auto m = test::single_node(2);
        m.affinity = test::cpu_range(5, 6);
        auto r = resolve_topology(auto_config(), m);
        CHECK_FALSE(r.topology);
        CHECK(messages(r) == std::vector<std::string>{"gatio.toml: topology: no online CPU is in this "
                                                      "process's CPU affinity (online: 0-1, allowed: 5-6)"});
    }
}

TEST_CASE("manual mode keeps the file's TPCs, drivers, roles and ring settings", "[topology][manual]") {
    auto d1 = driver("rx", 0, DriverRole::io, 5);
    d1.value.ring.ring_entries = 64;
    d1.value.ring.buffer_size = 2048;
    auto d2 = driver("work", 4, DriverRole::exec, 9);
    auto d3 = driver("far", 8, DriverRole::io_exec, 14);
    Config c = manual_config({tpc("near", 0, 1, {d1, d2}), tpc("remote", 1, 11, {d3})});
    auto r = resolve_topology(c, test::two_nodes_smt());
    REQUIRE(messages(r).empty());
    const Topology& t = *r.topology;
    REQUIRE(t.tpcs.size() == 2);
    CHECK(t.tpcs[0].name == "near");
    CHECK(t.tpcs[0].memory == MemoryPolicy::interleave);
    CHECK(t.tpcs[1].name == "remote");
    CHECK(t.tpcs[1].index == 1);
    CHECK(t.tpcs[1].numa_node == 1);
    REQUIRE(t.driver_count() == 3);
    CHECK(t.driver(0).name == "rx");
    CHECK(t.driver(0).role == DriverRole::io);
    CHECK(t.driver(0).ring == d1.value.ring);
    CHECK(t.driver(1).name == "work");
    CHECK(t.driver(1).cpu == 4);
    CHECK(t.driver(2).name == "far");
    CHECK(t.driver(2).index == 2);
    CHECK_THROWS_AS(t.driver(3), std::out_of_range);
}

TEST_CASE("manual mode errors", "[topology][manual][errors]") {
    SECTION("a CPU outside the affinity mask") {
        Config c = manual_config({tpc("node0", 0, 1, {driver("d1", 7, DriverRole::io, 6)})});
        CHECK(messages(resolve_topology(c, test::two_nodes_restricted())) ==
              std::vector<std::string>{"gatio.toml:6:1: tpc \"node0\": driver \"d1\": cpu 7 is not in this "
                                       "process's CPU affinity (allowed: 0-1)"});
    }
    SECTION("a CPU that does not exist") {
        Config c = manual_config({tpc("a", 0, 1, {driver("d0", 42, DriverRole::io, 6)})});
        CHECK(messages(resolve_topology(c, test::two_nodes_smt())) ==
              std::vector<std::string>{"gatio.toml:6:1: tpc \"a\": driver \"d0\": cpu 42 does not exist on "
                                       "this machine (online: 0-15)"});
    }
    SECTION("a NUMA node that does not exist; its drivers' placement is not judged") {
        Config c = manual_config({tpc("a", 3, 1, {driver("d0", 9, DriverRole::io, 6)})});
        CHECK(messages(resolve_topology(c, test::two_nodes_smt())) ==
              std::vector<std::string>{
                  "gatio.toml:2:13: tpc \"a\": numa_node 3 does not exist on this machine (nodes: 0-1)"});
    }
    SECTION("a driver CPU on another node than its TPC") {
        Config c = manual_config({tpc("a", 0, 1, {driver("d9", 9, DriverRole::io, 6)})});
        CHECK(
            messages(resolve_topology(c, test::two_nodes_smt())) ==
            std::vector<std::string>{"gatio.toml:6:1: tpc \"a\": driver \"d9\": cpu 9 is on NUMA node 1, but "
                                     "the tpc is on NUMA node 0"});
    }
    SECTION("every error in one pass, in file order") {
        Config c = manual_config(
            {tpc("a", 1, 1, {driver("x", 3, DriverRole::io, 6), driver("y", 99, DriverRole::io, 9)}),
             tpc("b", 5, 11, {driver("z", 8, DriverRole::io, 16)})});
        auto r = resolve_topology(c, test::two_nodes_restricted());
        CHECK_FALSE(r.topology);
        CHECK(messages(r) ==
              std::vector<std::string>{
                  "gatio.toml:6:1: tpc \"a\": driver \"x\": cpu 3 is not in this process's CPU affinity "
                  "(allowed: "
                  "0-1)",
                  "gatio.toml:6:1: tpc \"a\": driver \"x\": cpu 3 is on NUMA node 0, but the tpc is on NUMA "
                  "node 1",
                  "gatio.toml:9:1: tpc \"a\": driver \"y\": cpu 99 does not exist on this machine (online: "
                  "0-15)",
                  "gatio.toml:12:13: tpc \"b\": numa_node 5 does not exist on this machine (nodes: 0-1)",
                  "gatio.toml:16:1: tpc \"b\": driver \"z\": cpu 8 is not in this process's CPU affinity "
                  "(allowed: 0-1)"});
    }
}

TEST_CASE("listeners are served by the drivers and TPCs they name", "[topology][listeners]") {
    Config c = manual_config({tpc("front", 0, 1,
                                  {driver("rx0", 0, DriverRole::io, 4), driver("rx1", 1, DriverRole::io, 7),
                                   driver("work", 2, DriverRole::exec, 10)}),
                              tpc("back", 1, 12, {driver("rx8", 8, DriverRole::io, 15)})});
    add(c, listener("all", {}, 20));
    add(c, listener("named", {"rx8", "front", "rx0"}, 30));
    add(c, listener("one", {"back"}, 40));
    auto r = resolve_topology(c, test::two_nodes_smt());
    REQUIRE(messages(r).empty());
    const Topology& t = *r.topology;
    REQUIRE(t.listeners.size() == 3);
    // "*" leaves out the exec-only driver; lists come back ascending and without repeats.
    CHECK(t.listeners[0].drivers == std::vector<int>{0, 1, 3});
    CHECK(t.listeners[1].drivers == std::vector<int>{0, 1, 3});
    CHECK(driver_names(t, t.listeners[2].drivers) == std::vector<std::string>{"rx8"});
}

TEST_CASE("listener driver errors", "[topology][listeners][errors]") {
    Config c = manual_config(
        {tpc("front", 0, 1,
             {driver("reader", 0, DriverRole::io, 4), driver("worker", 1, DriverRole::exec, 7)}),
         tpc("compute", 0, 9, {driver("crunch", 2, DriverRole::exec, 12)})});

    SECTION("an unknown name close to a known one") {
        add(c, listener("web", {"raeder"}, 30));
        CHECK(messages(resolve_topology(c, test::two_nodes_smt())) ==
              std::vector<std::string>{"gatio.toml:30:11: listener \"web\": no driver or tpc is named "
                                       "\"raeder\"; did you mean \"reader\"?"});
    }
    SECTION("an unknown name far from every known one") {
        add(c, listener("web", {"backend"}, 30));
        CHECK(messages(resolve_topology(c, test::two_nodes_smt())) ==
              std::vector<std::string>{
                  "gatio.toml:30:11: listener \"web\": no driver or tpc is named \"backend\""});
    }
    SECTION("an exec-only driver") {
        add(c, listener("web", {"reader", "worker"}, 30));
        CHECK(messages(resolve_topology(c, test::two_nodes_smt())) ==
              std::vector<std::string>{
                  "gatio.toml:30:11: listener \"web\": driver \"worker\" has role exec and "
                  "cannot serve a listener (needs io or io+exec)"});
    }
    SECTION("a TPC without I/O-capable drivers") {
        add(c, listener("web", {"compute"}, 30));
        CHECK(
            messages(resolve_topology(c, test::two_nodes_smt())) ==
            std::vector<std::string>{
                "gatio.toml:30:11: listener \"web\": tpc \"compute\" has no driver with role io or io+exec"});
    }
    SECTION("\"*\" when no driver does I/O, reported at the listener") {
        Config exec_only = manual_config({tpc("compute", 0, 1, {driver("crunch", 2, DriverRole::exec, 4)})});
        add(exec_only, listener("web", {}, 30));
        CHECK(
            messages(resolve_topology(exec_only, test::two_nodes_smt())) ==
            std::vector<std::string>{
                "gatio.toml:26:1: listener \"web\": no driver with role io or io+exec serves this listener"});
    }
    SECTION("names of auto mode drivers and TPCs") {
        Config a = auto_config();
        add(a, listener("web", {"node1", "cpu3"}, 30));
        add(a, listener("typo", {"nod0"}, 40));
        auto r = resolve_topology(a, test::two_nodes_smt());
        CHECK(messages(r) ==
              std::vector<std::string>{"gatio.toml:40:11: listener \"typo\": no driver or tpc is "
                                       "named \"nod0\"; did you mean \"node0\"?"});
        a.listeners.pop_back();
        r = resolve_topology(a, test::two_nodes_smt());
        REQUIRE(r.topology);
        CHECK(r.topology->listeners[0].drivers == std::vector<int>{3, 8, 9, 10, 11, 12, 13, 14, 15});
    }
}

TEST_CASE("every driver serving a listener has the same role and ring settings, or the listener is an error "
          "naming both values and where each was written",
          "[topology][listeners][errors]") {
    auto d0 = driver("d0", 0, DriverRole::io, 4);
    auto d1 = driver("d1", 1, DriverRole::io, 8);
    d1.value.ring.buffer_size = 2048;
    d1.at.ring.buffer_size = SourcePos{9, 15};
    auto d2 = driver("d2", 2, DriverRole::io_exec, 12);
    Config c = manual_config({tpc("front", 0, 1, {d0, d1, d2})});
    add(c, listener("same", {"d0", "d2"}, 20));
    SECTION("role") {
        CHECK(messages(resolve_topology(c, test::two_nodes_smt())) ==
              std::vector<std::string>{
                  "gatio.toml:20:11: listener \"same\": its drivers \"d0\" and \"d2\" differ "
                  "in role: io (the default) and io+exec (the default); every driver serving "
                  "a listener needs the same role"});
    }
    SECTION("buffer_size, at the driver's key and at [topology]'s") {
        c.listeners.clear();
        c.positions.listeners.clear();
        c.positions.topology_ring.buffer_size = SourcePos{3, 15};
        for (auto& tpc : c.positions.tpcs) {
            for (auto& d : tpc.drivers) {
                if (d.ring.buffer_size.line == 0) {
                    d.ring.buffer_size = c.positions.topology_ring.buffer_size; // as the loader inherits it
                }
            }
        }
        add(c, listener("web", {"d0", "d1"}, 20));
        auto r = resolve_topology(c, test::two_nodes_smt());
        CHECK_FALSE(r.topology);
        CHECK(messages(r) == std::vector<std::string>{
                                 "gatio.toml:20:11: listener \"web\": its drivers \"d0\" and \"d1\" differ "
                                 "in buffer_size: 16KiB (gatio.toml:3:15) and 2KiB (gatio.toml:9:15); every "
                                 "driver serving a listener needs the same buffer_size"});
        // The running topology's check, as a reload makes it, without positions.
        c.topology.tpcs[0].drivers[1].ring.buffer_size = 16384;
        r = resolve_topology(c, test::two_nodes_smt());
        REQUIRE(r.topology);
        CHECK(driver_differences(*r.topology, {0, 1}).empty());
        const auto differ = driver_differences(*r.topology, {0, 1, 2});
        REQUIRE(differ.size() == 1);
        CHECK(differ[0].key == "role");
        CHECK(differ[0].a == 0);
        CHECK(differ[0].b == 2);
    }
}

TEST_CASE("describe prints TPCs, drivers and listeners", "[topology][describe]") {
    Config c = manual_config(
        {tpc("front", 0, 1, {driver("rx0", 0, DriverRole::io, 4), driver("work", 1, DriverRole::exec, 7)})});
    c.topology.tpcs[0].drivers[0].ring.buffer_size = 65536;
    add(c, listener("echo", {"rx0"}, 20));
    auto r = resolve_topology(c, test::two_nodes_smt());
    REQUIRE(r.topology);
    CHECK(r.topology->describe() ==
          "tpc front: NUMA node 0, memory interleave, 2 drivers\n"
          "  driver rx0: cpu 0, role io, ring 1024 entries, 1024 buffers of 64KiB\n"
          "  driver work: cpu 1, role exec, ring 1024 entries, 1024 buffers of 16KiB\n"
          "listener echo: tcp 127.0.0.1:7000, handler plugins/echo.so, drivers rx0\n");

    c.listeners.clear();
    r = resolve_topology(c, test::two_nodes_smt());
    REQUIRE(r.topology);
    CHECK(r.topology->describe().ends_with("no listeners\n"));
}
