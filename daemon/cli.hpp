// The gatiod command line.
#pragma once

#include <filesystem>
#include <optional>

#include "config/config.hpp"

namespace gatio::daemon {

enum class LogTarget { automatic, console, journal };

enum class Command { run, check_config, dump_config, version };

struct Options {
    Command command = Command::run;
    std::filesystem::path config_file = "/etc/gatio/gatio.toml";
    std::optional<std::filesystem::path> plugin_dir;
    std::optional<config::LogLevel> log_level; // unset: the file's daemon.log_level
    LogTarget log_target = LogTarget::automatic;
};

// Either options to act on, or the exit code to leave with: 0 after --help, 64 after a usage
// error. CLI11 has already printed the help text or the error when `options` is empty.
struct CliResult {
    std::optional<Options> options;
    int exit_code = 0;
};

CliResult parse_command_line(int argc, const char* const* argv);

} // namespace gatio::daemon
