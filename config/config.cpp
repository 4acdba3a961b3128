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

const TpcPositions& Positions::tpc(std::size_t index) const {
    static const TpcPositions none;
    return index < tpcs.size() ? tpcs[index] : none;
}

const DriverPositions& Positions::driver(std::size_t tpc_index, std::size_t index) const {
    static const DriverPositions none;
    const TpcPositions& t = tpc(tpc_index);
    return index < t.drivers.size() ? t.drivers[index] : none;
}

const ListenerPositions& Positions::listener(std::size_t index) const {
    static const ListenerPositions none;
    return index < listeners.size() ? listeners[index] : none;
}

} // namespace gatio::config
