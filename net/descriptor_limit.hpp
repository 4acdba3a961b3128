// How many descriptors gatiod may hold, and so how large each driver's table of direct
// descriptors is: the listeners' max_connections are ceilings, and the defaults add up to more
// than a usual RLIMIT_NOFILE, so tables are sized from what the limit allows rather than
// refused or warned about. The one place that sizes them, for start-up and for listeners a
// reload opens alike.
#pragma once

#include <algorithm>
#include <cstdint>

#include "config/config.hpp"

namespace gatio::net {

struct DescriptorLimit {
    std::uint64_t allowed = 0; // RLIMIT_NOFILE's soft limit in force

    // The slots of a driver's table whose listeners want `wanted` (their max_connections and
    // the slack): all of them, or as many as the limit allows.
    std::uint32_t table_slots(std::uint64_t wanted) const;
    bool caps(std::uint64_t wanted) const { return wanted > allowed; }
};

// The direct-descriptor slots listener `l` claims on a driver whose table has `table`: one per
// connection it may hold there (accepted and outbound), as far as the table goes; none for UDP.
inline std::uint64_t direct_claim(const config::ListenerConfig& l, std::uint64_t table) {
    if (l.transport != config::Transport::tcp) {
        return 0;
    }
    return std::min<std::uint64_t>(std::uint64_t{l.max_connections} + l.max_outbound, table);
}

// Raises the soft RLIMIT_NOFILE towards `needed` descriptors in all (as far as the hard limit,
// or further for a privileged process) and returns what is then allowed. A failure to raise it
// is a warning naming the limit; the table is then sized from the limit as it was.
DescriptorLimit raise_descriptor_limit(std::uint64_t needed);

// Says once, at info level, that the limit caps the tables: `wanted` is the largest any driver
// asked for. Nothing when it caps none.
void report_descriptor_cap(const DescriptorLimit& limit, std::uint64_t wanted);

} // namespace gatio::net
