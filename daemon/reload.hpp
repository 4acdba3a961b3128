// SIGHUP: reading the configuration file again while running.
//
// The whole new file is read and validated as at start (the file's own checks, then its
// topology on this machine). A file with errors changes nothing. A valid one is compared with
// the configuration in force: daemon.shutdown_grace applies at once, listener changes go to
// apply_listener_changes, which applies them without dropping a connection, and every other
// difference is reported as needing a restart.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "daemon/cli.hpp"
#include "net/net.hpp"

namespace gatio::daemon {

struct ReloadCheck {
    std::optional<config::Config> config; // set when the file is valid
    std::vector<std::string> errors;      // "FILE:LINE:COLUMN: message" each, when it is not
};

// Loads options.config_file (with the command line's overrides) and resolves its topology on
// this machine as found now.
ReloadCheck check_reload_file(const Options& options);

// The settings that differ and that only a restart can apply, named as in the file
// ("topology", "io_uring", "admin", "daemon.plugin_dir", "daemon.log_level", "daemon.user").
// Listeners are not among them: see apply_listener_changes.
std::vector<std::string> restart_needed(const config::Config& running, const config::Config& next);

// Applies `next`'s listeners to the running network (net::Network::reload): unchanged ones keep
// their sockets, new ones open, removed ones stop accepting while their connections finish,
// changed ones get new instances for new connections while open ones finish on the old. Logs
// each change at info and each listener that could not be applied (it keeps what it had) at
// err; `running.listeners` becomes what is served now. Returns those errors.
std::vector<std::string> apply_listener_changes(config::Config& running, const config::Config& next,
                                                net::Network& network);

} // namespace gatio::daemon
