#include "daemon/heartbeat.hpp"

#include <cassert>

namespace gatio::daemon {

HeartbeatMonitor::HeartbeatMonitor(std::size_t drivers) : states_(drivers) {
    changes_.reserve(drivers);
}

const std::vector<HeartbeatMonitor::Change>&
HeartbeatMonitor::check(std::span<const std::int64_t> heartbeats) {
    assert(heartbeats.size() == states_.size());
    changes_.clear();
    for (std::size_t i = 0; i < states_.size(); ++i) {
        State& s = states_[i];
        if (s.probe_ns < 0) {
            continue; // nothing asked of it yet
        }
        if (heartbeats[i] >= s.probe_ns) {
            if (s.stalled) {
                s.stalled = false;
                --stalled_count_;
                changes_.push_back({i, false, s.probe_ns});
            }
            s.probe_ns = -1;
        } else if (!s.stalled) {
            s.stalled = true;
            ++stalled_count_;
            changes_.push_back({i, true, heartbeats[i]});
        }
    }
    return changes_;
}

void HeartbeatMonitor::probed(std::size_t driver, std::int64_t now_ns) {
    assert(wants_probe(driver));
    states_.at(driver).probe_ns = now_ns;
}

} // namespace gatio::daemon
