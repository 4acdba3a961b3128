#include "core/liveness.hpp"

#include <cassert>

namespace gatio::core {

LivenessMonitor::LivenessMonitor(std::size_t drivers)
    : states_(drivers), stalled_(std::make_unique<std::atomic<bool>[]>(drivers)) {
    changes_.reserve(drivers);
}

const std::vector<LivenessMonitor::Change>& LivenessMonitor::check(std::span<const std::int64_t> heartbeats) {
    assert(heartbeats.size() == states_.size());
    changes_.clear();
    for (std::size_t i = 0; i < states_.size(); ++i) {
        State& s = states_[i];
        if (s.probe_ns < 0) {
            continue; // nothing asked of it yet
        }
        const bool was_stalled = stalled_[i].load(std::memory_order_relaxed);
        if (heartbeats[i] >= s.probe_ns) {
            if (was_stalled) {
                stalled_[i].store(false, std::memory_order_relaxed);
                stalled_count_.fetch_sub(1, std::memory_order_relaxed);
                changes_.push_back({i, false, s.probe_ns});
            }
            s.probe_ns = -1;
        } else if (!was_stalled) {
            stalled_[i].store(true, std::memory_order_relaxed);
            stalled_count_.fetch_add(1, std::memory_order_relaxed);
            changes_.push_back({i, true, heartbeats[i]});
        }
    }
    return changes_;
}

void LivenessMonitor::probed(std::size_t driver, std::int64_t now_ns) {
    assert(wants_probe(driver));
    states_.at(driver).probe_ns = now_ns;
}

bool LivenessMonitor::stalled(std::size_t driver) const {
    return driver < states_.size() && stalled_[driver].load(std::memory_order_relaxed);
}

} // namespace gatio::core
