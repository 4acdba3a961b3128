#include "net/plan.hpp"

#include <algorithm>
#include <cassert>
#include <map>

namespace gatio::net {

namespace {

const ListenerState* find(const std::vector<ListenerState>& set, const std::string& name) {
    auto it =
        std::find_if(set.begin(), set.end(), [&](const ListenerState& s) { return s.settings.name == name; });
    return it == set.end() ? nullptr : &*it;
}

// Checked by assertions only.
[[maybe_unused]] bool unique_names(const std::vector<ListenerState>& set) {
    std::vector<std::string> names;
    for (const auto& s : set) {
        names.push_back(s.settings.name);
    }
    std::sort(names.begin(), names.end());
    return std::adjacent_find(names.begin(), names.end()) == names.end();
}

// A file that cannot be looked at now is not taken for a replaced one: the loaded object goes on.
bool handler_replaced(const ListenerState& running, const ListenerState& next) {
    return running.handler && next.handler && !(*running.handler == *next.handler);
}

bool same(const ListenerState& running, const ListenerState& next) {
    return running.settings == next.settings && running.drivers == next.drivers &&
           !handler_replaced(running, next);
}

std::vector<DriverStep> every(const std::vector<int>& drivers, Step step) {
    std::vector<DriverStep> out;
    for (int d : drivers) {
        out.push_back({d, step});
    }
    return out;
}

// change where the driver stays, open where it is new, retire where it is left.
std::vector<DriverStep> changed(const std::vector<int>& running, const std::vector<int>& next) {
    std::map<int, Step> steps;
    for (int d : running) {
        steps[d] = Step::retire;
    }
    for (int d : next) {
        auto [it, added] = steps.try_emplace(d, Step::open);
        if (!added) {
            it->second = Step::change;
        }
    }
    std::vector<DriverStep> out;
    for (const auto& [d, step] : steps) {
        out.push_back({d, step});
    }
    return out;
}

ListenerStep step_for(const ListenerState* running, const ListenerState& next) {
    ListenerStep s{next.settings.name, Step::open, &next, running, {}, false};
    if (running == nullptr) {
        s.drivers = every(next.drivers, Step::open);
    } else if (same(*running, next)) {
        s.step = Step::keep;
        s.drivers = every(next.drivers, Step::keep);
    } else {
        s.step = Step::change;
        s.drivers = changed(running->drivers, next.drivers);
        s.same_sockets = running->settings.transport == next.settings.transport &&
                         running->settings.address == next.settings.address;
    }
    return s;
}

} // namespace

std::string_view to_string(Step step) {
    switch (step) {
    case Step::keep:
        return "keep";
    case Step::open:
        return "open";
    case Step::change:
        return "change";
    case Step::retire:
        return "retire";
    }
    return "?";
}

bool Plan::changes_nothing() const {
    return std::all_of(listeners.begin(), listeners.end(),
                       [](const ListenerStep& s) { return s.step == Step::keep; });
}

std::vector<std::string> Plan::names(Step step) const {
    std::vector<std::string> out;
    for (const auto& s : listeners) {
        if (s.step == step) {
            out.push_back(s.name);
        }
    }
    return out;
}

Plan plan_listeners(const std::vector<ListenerState>& running, const std::vector<ListenerState>& next) {
    assert(unique_names(running) && unique_names(next));
    Plan plan;
    for (const auto& n : next) {
        assert(std::is_sorted(n.drivers.begin(), n.drivers.end()));
        plan.listeners.push_back(step_for(find(running, n.settings.name), n));
    }
    for (const auto& r : running) {
        if (find(next, r.settings.name) == nullptr) {
            plan.listeners.push_back(
                {r.settings.name, Step::retire, nullptr, &r, every(r.drivers, Step::retire), false});
        }
    }
    assert(plan.listeners.size() >= next.size());
    return plan;
}

} // namespace gatio::net
