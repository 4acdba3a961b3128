// SIGHUP: reading the configuration file again while running.
//
// The whole new file is read and validated as at start (the file's own checks, then its
// topology on this machine). A file with errors changes nothing. A valid one is compared with
// the configuration in force: daemon.shutdown_grace applies at once, listener changes go to
// net::Network::reload, which applies all of them without dropping a connection or none, and
// every other difference is reported as needing a restart.
//
// run_reload does all of it on a thread of its own, beside the control loop (which keeps
// answering the watchdog); adopt_reload then takes what it applied into the configuration in
// force, on the control loop's thread.
#pragma once

#include <chrono>
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

// What a reload found and did.
struct ReloadOutcome {
    std::vector<std::string> file_errors;                    // the file is invalid: nothing else was tried
    std::optional<std::chrono::milliseconds> shutdown_grace; // the new one, when it changed
    std::vector<std::string> restart;                        // as restart_needed names them
    net::ReloadResult listeners;
    // For STATUS=: whether it was applied ("last reload applied", or "reload failed...: "
    // with the causes), then what waits for a restart.
    std::string note() const;
};

// Reads `options.config_file`, compares it with `running` (only read) and applies its
// listeners to `network` (net::Network::reload), logging each step: each listener added,
// removed or changed at info, and when the reload is not applied, each cause at err.
ReloadOutcome run_reload(const Options& options, const config::Config& running, net::Network& network);

// What `outcome` applied becomes part of `running`: shutdown_grace, and the listeners in force.
void adopt_reload(config::Config& running, const ReloadOutcome& outcome);

} // namespace gatio::daemon
