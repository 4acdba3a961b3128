// The listener set as a plan: what a start or a reload does to each listener and each of its
// drivers. Pure: it compares what runs with what is wanted and touches nothing; Network applies
// it (net/net.cpp). A start is the plan from the empty set, in which every listener opens.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "net/plugin_loader.hpp"

namespace gatio::net {

// A listener as served or as wanted: its effective settings, its drivers (global indexes,
// ascending, as core::choose_drivers resolved them) and the identity of its handler file
// (as loaded when served; on disk now when wanted; nullopt when unknown).
struct ListenerState {
    config::ListenerConfig settings;
    std::vector<int> drivers;
    std::optional<PluginFileId> handler;
};

enum class Step {
    keep,   // nothing changes: the same sockets and instances go on
    open,   // new: sockets and instances are made
    change, // a new generation replaces the running one, which finishes its connections
    retire, // stops accepting; its connections finish
};
std::string_view to_string(Step step);

struct DriverStep {
    int driver = 0;
    Step step = Step::keep;
    bool operator==(const DriverStep&) const = default;
};

struct ListenerStep {
    std::string name;
    Step step = Step::keep;
    const ListenerState* next = nullptr;    // null when retired
    const ListenerState* running = nullptr; // null when opened
    // Every driver of either side, ascending. keep and open listeners have only their own step;
    // a changed one has change on drivers of both, open on new ones, retire on those it leaves.
    std::vector<DriverStep> drivers;
    // change only: transport and address stay, so its sockets on the drivers it keeps stay
    // too (nothing queued on them is lost).
    bool same_sockets = false;
};

struct Plan {
    std::vector<ListenerStep> listeners; // `next`'s order, then the retired in `running`'s order
    bool changes_nothing() const;
    std::vector<std::string> names(Step step) const;
};

// Matches listeners by name. Unchanged settings alone do not keep one: its drivers and its
// handler file must be unchanged too. Both sides must have unique names.
Plan plan_listeners(const std::vector<ListenerState>& running, const std::vector<ListenerState>& next);

} // namespace gatio::net
