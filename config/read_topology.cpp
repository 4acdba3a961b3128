// [topology], [[tpc]] and [[tpc.driver]]: where the drivers run.
#include "config/sections.hpp"
#include "config/units.hpp"

namespace gatio::config::detail {

namespace {

// `at` holds the positions of the values `ring` came with; those written here replace them.
RingSettings read_ring(TableReader& r, RingSettings ring, RingPositions& at) {
    if (auto entries = r.power_of_two("ring_entries", 8, 32768)) {
        ring.ring_entries = *entries;
        at.ring_entries = r.pos("ring_entries");
    }
    if (auto size = r.size("buffer_size", 512, max_buffer_size)) {
        ring.buffer_size = static_cast<std::uint32_t>(*size);
        at.buffer_size = r.pos("buffer_size");
    }
    if (auto count = r.power_of_two("buffer_count", 1, 32768)) {
        ring.buffer_count = *count;
        at.buffer_count = r.pos("buffer_count");
    }
    return ring;
}

DriverConfig read_driver(const toml::table& table, const std::string& tpc_context,
                         const RingSettings& defaults, const RingPositions& defaults_at, DriverPositions& at,
                         Reporter& out) {
    TableReader r(table, tpc_context + ": driver",
                  {"name", "cpu", "role", "ring_entries", "buffer_size", "buffer_count"}, out);
    DriverConfig d;
    at.table = r.pos();
    if (auto name = r.name("name", Need::required)) {
        d.name = std::move(*name);
        r.set_context(tpc_context + ": " + named("driver", d.name));
    }
    at.name = r.pos("name");
    if (auto cpu = r.integer("cpu", 0, CpuSet::max_cpus - 1, Need::required)) {
        d.cpu = static_cast<int>(*cpu);
    }
    at.cpu = r.pos("cpu");
    d.role = r.keyword("role", driver_roles).value_or(d.role);
    at.role = r.pos("role");
    at.ring = defaults_at;
    d.ring = read_ring(r, defaults, at.ring);
    r.finish();
    return d;
}

TpcConfig read_tpc(const toml::table& table, const RingSettings& defaults, const RingPositions& defaults_at,
                   TpcPositions& at, Reporter& out) {
    TableReader r(table, "tpc", {"name", "numa_node", "memory", "driver"}, out);
    TpcConfig tpc;
    at.table = r.pos();
    if (auto name = r.name("name", Need::required)) {
        tpc.name = std::move(*name);
        r.set_context(named("tpc", tpc.name));
    }
    at.name = r.pos("name");
    if (auto node = r.integer("numa_node", 0, max_numa_node, Need::required)) {
        tpc.numa_node = static_cast<int>(*node);
    }
    at.numa_node = r.pos("numa_node");
    tpc.memory = r.keyword("memory", memory_policies).value_or(tpc.memory);
    for (const toml::table* driver : r.tables("driver", "[[tpc.driver]]")) {
        tpc.drivers.push_back(
            read_driver(*driver, r.context(), defaults, defaults_at, at.drivers.emplace_back(), out));
    }
    const toml::node* drivers = table.get("driver");
    if (!drivers || (drivers->is_array() && drivers->as_array()->empty())) {
        r.error(at.table, "needs at least one [[tpc.driver]]");
    }
    r.finish();
    return tpc;
}

} // namespace

TopologySection read_topology(const toml::table& table, const toml::node* tpc,
                              const std::vector<const toml::table*>& tpcs, Positions& at, Reporter& out) {
    TableReader r(table, "topology", {"mode", "cpus", "ring_entries", "buffer_size", "buffer_count"}, out);
    TopologySection t;
    const auto mode = r.keyword("mode", topology_modes);
    t.mode = mode.value_or(t.mode);
    const bool mode_known = mode || !table.get("mode");
    if (auto cpus = r.string("cpus")) {
        at.topology_cpus = r.pos("cpus");
        if (t.mode == TopologyMode::manual) {
            r.error("cpus", at.topology_cpus,
                    "only allowed when mode is 'auto' (in manual mode each driver names its cpu)");
        } else if (auto parsed = parse_cpulist(*cpus)) {
            t.cpus = *parsed.value;
        } else {
            r.error("cpus", at.topology_cpus, parsed.error);
        }
    }
    t.ring = read_ring(r, t.ring, at.topology_ring);

    const bool has_tpc = tpc && !(tpc->is_array() && tpc->as_array()->empty());
    if (mode_known && t.mode == TopologyMode::automatic && tpc && tpc->is_array()) {
        out.error(position(*tpc), "tpc: only allowed when topology mode is 'manual'");
    } else {
        if (mode_known && t.mode == TopologyMode::manual && !has_tpc) {
            r.error(r.pos("mode"), "mode 'manual' needs at least one [[tpc]]");
        }
        for (const toml::table* entry : tpcs) {
            t.tpcs.push_back(read_tpc(*entry, t.ring, at.topology_ring, at.tpcs.emplace_back(), out));
        }
    }
    r.finish();
    return t;
}

} // namespace gatio::config::detail
