#include "config/config.hpp"

#include "config/keywords.hpp"

namespace gatio::config {

std::string_view to_string(LogLevel level) {
    return detail::keyword_of(detail::log_levels, level);
}
std::string_view to_string(TopologyMode mode) {
    return detail::keyword_of(detail::topology_modes, mode);
}
std::string_view to_string(MemoryPolicy memory) {
    return detail::keyword_of(detail::memory_policies, memory);
}
std::string_view to_string(DriverRole role) {
    return detail::keyword_of(detail::driver_roles, role);
}
std::string_view to_string(Transport transport) {
    return detail::keyword_of(detail::transports, transport);
}

namespace {

void clear(OptionValue& value);

void clear(OptionTable& table) {
    for (auto& entry : table) {
        clear(entry.second);
    }
}

void clear(OptionValue& value) {
    value.pos = {};
    if (auto* array = std::get_if<OptionArray>(&value.value)) {
        for (auto& element : *array) {
            clear(element);
        }
    } else if (auto* table = std::get_if<OptionTable>(&value.value)) {
        clear(*table);
    }
}

} // namespace

Config without_positions(Config config) {
    config.admin.listen_pos = {};
    config.topology.cpus_pos = {};
    for (auto& tpc : config.topology.tpcs) {
        tpc.pos = {};
        tpc.numa_node_pos = {};
        tpc.name_pos = {};
        for (auto& driver : tpc.drivers) {
            driver.pos = {};
            driver.cpu_pos = {};
            driver.name_pos = {};
        }
    }
    for (auto& listener : config.listeners) {
        listener.pos = {};
        listener.drivers_pos = {};
        listener.handler_pos = {};
        listener.name_pos = {};
        listener.address_pos = {};
        clear(listener.options);
    }
    return config;
}

} // namespace gatio::config
