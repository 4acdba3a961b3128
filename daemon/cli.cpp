#include "daemon/cli.hpp"

#include <CLI/CLI.hpp>
#include <map>
#include <string>

#include "daemon/exit_codes.hpp"

namespace gatio::daemon {

CliResult parse_command_line(int argc, const char* const* argv) {
    CLI::App app{"gatiod: io_uring server runtime (runs in the foreground)", "gatiod"};

    Options options;
    std::string config_file = options.config_file.string();
    std::string plugin_dir;
    std::string log_level;
    std::string log_target = "auto";
    bool check = false;
    bool dump = false;
    bool version = false;

    app.add_option("-c,--config", config_file, "Configuration file")->capture_default_str();
    auto* check_flag = app.add_flag("-t,--check-config", check,
                                    "Validate the configuration, print the resolved topology and exit");
    auto* dump_flag = app.add_flag("-T,--dump-config", dump,
                                   "Print the effective configuration, defaults filled in, as TOML and exit");
    auto* version_flag = app.add_flag("--version", version,
                                      "Print the version and a report of this kernel's io_uring and exit");
    check_flag->excludes(dump_flag)->excludes(version_flag);
    dump_flag->excludes(version_flag);
    auto* plugin_dir_opt =
        app.add_option("--plugin-dir", plugin_dir, "Folder of handler plugins (overrides plugin_dir)");
    const std::map<std::string, config::LogLevel> levels{
        {"trace", config::LogLevel::trace}, {"debug", config::LogLevel::debug},
        {"info", config::LogLevel::info},   {"warn", config::LogLevel::warn},
        {"error", config::LogLevel::error}, {"critical", config::LogLevel::critical},
        {"off", config::LogLevel::off}};
    auto* level_opt = app.add_option("-l,--log-level", log_level, "Log level (overrides daemon.log_level)")
                          ->check(CLI::IsMember(levels));
    const std::map<std::string, LogTarget> targets{
        {"auto", LogTarget::automatic}, {"console", LogTarget::console}, {"journal", LogTarget::journal}};
    app.add_option("--log-target", log_target,
                   "Where logs go: journal when stderr is journald's stream (auto), console or journal")
        ->check(CLI::IsMember(targets))
        ->capture_default_str();

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int code = app.exit(e);
        return CliResult{std::nullopt, code == 0 ? exit_ok : exit_usage};
    }

    options.config_file = config_file;
    if (plugin_dir_opt->count() > 0) {
        options.plugin_dir = plugin_dir;
    }
    if (level_opt->count() > 0) {
        options.log_level = levels.at(log_level);
    }
    options.log_target = targets.at(log_target);
    if (check) {
        options.command = Command::check_config;
    } else if (dump) {
        options.command = Command::dump_config;
    } else if (version) {
        options.command = Command::version;
    }
    return CliResult{options, exit_ok};
}

} // namespace gatio::daemon
