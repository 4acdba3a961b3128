// Machine queries on injected descriptions, and discovery on the machine running the tests.
#include <algorithm>
#include <catch2/catch.hpp>
#include <sched.h>

#include "core/machine.hpp"
#include "machines.hpp"

using gatio::core::Machine;
namespace test = gatio::test;

TEST_CASE("machine lookups on an injected two-node machine", "[machine]") {
    Machine m = test::two_nodes_restricted();
    REQUIRE(m.cpu(9) != nullptr);
    CHECK(m.cpu(9)->node == 1);
    CHECK(m.cpu(13)->core == m.cpu(9)->core); // SMT siblings
    CHECK(m.cpu(16) == nullptr);
    CHECK(m.cpu(-1) == nullptr);
    CHECK(m.has_node(1));
    CHECK_FALSE(m.has_node(2));
    CHECK(m.node_distance(0, 1) == 21);
    CHECK(m.node_distance(1, 1) == 10);
    CHECK(m.node_distance(0, 2) == 0);
    CHECK(m.describe() == "node 0: cpus 0-7 (2 allowed)\nnode 1: cpus 8-15 (0 allowed)\n");
}

TEST_CASE("discovery describes the machine running the tests", "[machine]") {
    Machine m = Machine::discover();
    REQUIRE_FALSE(m.cpus.empty());
    REQUIRE_FALSE(m.nodes.empty());
    CHECK(std::is_sorted(m.cpus.begin(), m.cpus.end(), [](auto& a, auto& b) { return a.id < b.id; }));
    CHECK(std::is_sorted(m.nodes.begin(), m.nodes.end()));
    for (const auto& cpu : m.cpus) {
        INFO("cpu " << cpu.id);
        CHECK(m.has_node(cpu.node));
    }
    for (int node : m.nodes) {
        CHECK(m.node_distance(node, node) == 10);
    }
    // The mask this process runs with is exactly what discovery reports as allowed.
    cpu_set_t set;
    CPU_ZERO(&set);
    REQUIRE(sched_getaffinity(0, sizeof set, &set) == 0);
    CHECK(m.affinity.size() == static_cast<std::size_t>(CPU_COUNT(&set)));
    for (int cpu : m.affinity.cpus()) {
        CHECK(CPU_ISSET(cpu, &set));
    }
    // The CPU running this test is online and allowed.
    int here = sched_getcpu();
    REQUIRE(here >= 0);
    CHECK(m.cpu(here) != nullptr);
    CHECK(m.affinity.contains(here));
}

TEST_CASE("discovery follows a restricted affinity mask", "[machine]") {
    cpu_set_t saved;
    REQUIRE(sched_getaffinity(0, sizeof saved, &saved) == 0);
    int first = -1;
    for (int cpu = 0; cpu < CPU_SETSIZE && first < 0; ++cpu) {
        if (CPU_ISSET(cpu, &saved)) {
            first = cpu;
        }
    }
    REQUIRE(first >= 0);
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    REQUIRE(sched_setaffinity(0, sizeof one, &one) == 0);
    Machine m = Machine::discover();
    REQUIRE(sched_setaffinity(0, sizeof saved, &saved) == 0);
    CHECK(m.affinity.cpus() == std::vector<int>{first});
}
