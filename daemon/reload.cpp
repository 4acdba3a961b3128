#include "daemon/reload.hpp"

#include <algorithm>
#include <spdlog/spdlog.h>

#include "config/load.hpp"
#include "core/machine.hpp"
#include "core/topology.hpp"
#include "net/listener_socket.hpp"

namespace gatio::daemon {

namespace {

const config::ListenerConfig* find_listener(const config::Config& c, const std::string& name) {
    auto it = std::find_if(c.listeners.begin(), c.listeners.end(),
                           [&](const config::ListenerConfig& l) { return l.name == name; });
    return it == c.listeners.end() ? nullptr : &*it;
}

} // namespace

ReloadCheck check_reload_file(const Options& options) {
    config::Overrides overrides;
    overrides.plugin_dir = options.plugin_dir;
    auto loaded = config::load_file(options.config_file, overrides);
    ReloadCheck out;
    if (!loaded.config) {
        for (const auto& e : loaded.errors) {
            out.errors.push_back(e.to_string());
        }
        return out;
    }
    auto resolved = core::resolve_topology(*loaded.config, core::Machine::discover());
    if (!resolved.topology) {
        for (auto& e : resolved.errors) {
            e.file = options.config_file.string(); // as the user wrote it, like the file's own errors
            out.errors.push_back(e.to_string());
        }
        return out;
    }
    out.config = std::move(*loaded.config);
    return out;
}

ListenerChanges diff_listeners(const config::Config& running, const config::Config& next) {
    const config::Config a = config::without_positions(running);
    const config::Config b = config::without_positions(next);
    ListenerChanges out;
    for (const auto& l : b.listeners) {
        const auto* before = find_listener(a, l.name);
        if (before == nullptr) {
            out.added.push_back(l.name);
        } else if (!(*before == l)) {
            out.changed.push_back(l.name);
        }
    }
    for (const auto& l : a.listeners) {
        if (find_listener(b, l.name) == nullptr) {
            out.removed.push_back(l.name);
        }
    }
    return out;
}

std::vector<std::string> restart_needed(const config::Config& running, const config::Config& next) {
    const config::Config a = config::without_positions(running);
    const config::Config b = config::without_positions(next);
    std::vector<std::string> out;
    if (!(a.topology == b.topology)) {
        out.emplace_back("topology");
    }
    if (!(a.io_uring == b.io_uring)) {
        out.emplace_back("io_uring");
    }
    if (!(a.admin == b.admin)) {
        out.emplace_back("admin");
    }
    if (a.daemon.plugin_dir != b.daemon.plugin_dir) {
        out.emplace_back("daemon.plugin_dir");
    }
    if (a.daemon.log_level != b.daemon.log_level) {
        out.emplace_back("daemon.log_level");
    }
    if (a.daemon.user != b.daemon.user) {
        out.emplace_back("daemon.user");
    }
    return out;
}

ListenerChanges apply_listener_changes(const config::Config& running, const config::Config& next) {
    ListenerChanges pending = diff_listeners(running, next);
    for (const auto& name : pending.added) {
        spdlog::warn("reload: {} added; it opens on restart",
                     net::describe_listener(*find_listener(next, name)));
    }
    for (const auto& name : pending.removed) {
        spdlog::warn("reload: {} removed; it keeps serving until restart",
                     net::describe_listener(*find_listener(running, name)));
    }
    for (const auto& name : pending.changed) {
        spdlog::warn("reload: {} changed; the new settings apply on restart",
                     net::describe_listener(*find_listener(next, name)));
    }
    return pending;
}

} // namespace gatio::daemon
