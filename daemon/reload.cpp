#include "daemon/reload.hpp"

#include <algorithm>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "config/load.hpp"
#include "core/machine.hpp"
#include "core/topology.hpp"
#include "net/listener_socket.hpp"
#include "net/plugin_services.hpp"

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

std::vector<std::string> restart_needed(const config::Config& running, const config::Config& next) {
    std::vector<std::string> out;
    if (!(running.topology == next.topology)) {
        out.emplace_back("topology");
    }
    if (!(running.io_uring == next.io_uring)) {
        out.emplace_back("io_uring");
    }
    if (!(running.admin == next.admin)) {
        out.emplace_back("admin");
    }
    if (!(running.network == next.network)) {
        out.emplace_back("network");
    }
    if (running.daemon.plugin_dir != next.daemon.plugin_dir) {
        out.emplace_back("daemon.plugin_dir");
    }
    if (running.daemon.log_level != next.daemon.log_level) {
        out.emplace_back("daemon.log_level");
    }
    if (running.daemon.user != next.daemon.user) {
        out.emplace_back("daemon.user");
    }
    return out;
}

std::vector<std::string> apply_listener_changes(config::Config& running, const config::Config& next,
                                                net::Network& network) {
    // Handlers may belong to the user gatiod runs as now (privileges are dropped by then).
    auto result = network.reload(next, net::LoadPolicy{::geteuid()}, net::host_services());
    for (const auto& name : result.added) {
        spdlog::info("reload: {} added", net::describe_listener(*find_listener(next, name)));
    }
    for (const auto& name : result.removed) {
        spdlog::info("reload: {} removed; it stops accepting, its open connections finish",
                     net::describe_listener(*find_listener(running, name)));
    }
    for (const auto& name : result.changed) {
        spdlog::info(
            "reload: {} changed; new connections get the new settings, open ones finish with the old",
            net::describe_listener(*find_listener(next, name)));
    }
    for (const auto& e : result.errors) {
        spdlog::error("reload: {}; the listener is left as it was", e);
    }
    running.listeners = std::move(result.in_force);
    // In force now: listeners of two files, where no one file's positions apply.
    running.positions.listeners.clear();
    return result.errors;
}

} // namespace gatio::daemon
