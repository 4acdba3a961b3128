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

namespace {

std::string joined(const std::vector<std::string>& items, std::string_view separator) {
    std::string out;
    for (const auto& item : items) {
        out += (out.empty() ? "" : std::string(separator)) + item;
    }
    return out;
}

void log_listeners(const net::ReloadResult& result, const config::Config& running,
                   const config::Config& next) {
    if (!result.applied) {
        for (const auto& e : result.errors) {
            spdlog::error("reload: {}", e);
        }
        spdlog::error("reload: not applied: {} listener error(s); every listener serves as before",
                      result.errors.size());
        return;
    }
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
    spdlog::info("reload: applied; listeners added: {}, changed: {}, removed: {}", result.added.size(),
                 result.changed.size(), result.removed.size());
}

} // namespace

std::string ReloadOutcome::note() const {
    if (!file_errors.empty()) {
        return "reload failed: " + joined(file_errors, "; ");
    }
    std::vector<std::string> notes;
    notes.push_back(listeners.applied ? "last reload applied"
                                      : "reload failed, not applied: " + joined(listeners.errors, "; "));
    if (!restart.empty()) {
        notes.push_back("restart needed for: " + joined(restart, ", "));
    }
    return joined(notes, "; ");
}

ReloadOutcome run_reload(const Options& options, const config::Config& running, net::Network& network) {
    const std::string file = options.config_file.string();
    ReloadOutcome out;
    auto check = check_reload_file(options);
    if (!check.config) {
        for (const auto& e : check.errors) {
            spdlog::error("reload: {}", e);
        }
        spdlog::error("reload: {} has {} error(s); still running with the configuration loaded before", file,
                      check.errors.size());
        out.file_errors = std::move(check.errors);
        return out;
    }
    const config::Config& next = *check.config;
    out.restart = restart_needed(running, next);
    for (const auto& what : out.restart) {
        spdlog::warn("reload: {} changed; it applies on restart", what);
    }
    // Handlers may belong to the user gatiod runs as now (privileges are dropped by then).
    out.listeners = network.reload(next, net::LoadPolicy{::geteuid()}, net::host_services());
    log_listeners(out.listeners, running, next);
    if (next.daemon.shutdown_grace != running.daemon.shutdown_grace) {
        out.shutdown_grace = next.daemon.shutdown_grace;
        spdlog::info("reload: daemon.shutdown_grace is now {} ms", next.daemon.shutdown_grace.count());
    }
    const std::string restart =
        out.restart.empty() ? "" : "; restart needed for: " + joined(out.restart, ", ");
    spdlog::info("reload: {} is valid{}", file, restart);
    return out;
}

void adopt_reload(config::Config& running, const ReloadOutcome& outcome) {
    if (!outcome.file_errors.empty()) {
        return;
    }
    if (outcome.shutdown_grace) {
        running.daemon.shutdown_grace = *outcome.shutdown_grace;
    }
    if (outcome.listeners.applied) {
        running.listeners = outcome.listeners.in_force;
        // In force now: listeners of two files, where no one file's positions apply.
        running.positions.listeners.clear();
    }
}

} // namespace gatio::daemon
