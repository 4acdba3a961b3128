// The command line, parsed in-process.
#include <catch2/catch.hpp>
#include <initializer_list>
#include <vector>

#include "daemon/cli.hpp"

using gatio::daemon::Command;
using gatio::daemon::LogTarget;

namespace {

gatio::daemon::CliResult parse(std::initializer_list<const char*> args) {
    std::vector<const char*> argv{"gatiod"};
    argv.insert(argv.end(), args);
    return gatio::daemon::parse_command_line(static_cast<int>(argv.size()), argv.data());
}

} // namespace

TEST_CASE("defaults: run /etc/gatio/gatio.toml, log target auto, level from the file", "[cli]") {
    auto r = parse({});
    REQUIRE(r.options);
    CHECK(r.options->command == Command::run);
    CHECK(r.options->config_file == "/etc/gatio/gatio.toml");
    CHECK_FALSE(r.options->plugin_dir);
    CHECK_FALSE(r.options->log_level);
    CHECK(r.options->log_target == LogTarget::automatic);
}

TEST_CASE("every option is read", "[cli]") {
    auto r =
        parse({"-t", "-c", "my.toml", "--plugin-dir", "plugins", "-l", "debug", "--log-target", "journal"});
    REQUIRE(r.options);
    CHECK(r.options->command == Command::check_config);
    CHECK(r.options->config_file == "my.toml");
    CHECK(r.options->plugin_dir == "plugins");
    CHECK(r.options->log_level == gatio::config::LogLevel::debug);
    CHECK(r.options->log_target == LogTarget::journal);

    r = parse({"--dump-config", "--config=other.toml", "--log-level=off", "--log-target=console"});
    REQUIRE(r.options);
    CHECK(r.options->command == Command::dump_config);
    CHECK(r.options->config_file == "other.toml");
    CHECK(r.options->log_level == gatio::config::LogLevel::off);
    CHECK(r.options->log_target == LogTarget::console);

    r = parse({"--version"});
    REQUIRE(r.options);
    CHECK(r.options->command == Command::version);
}

TEST_CASE("usage errors exit with 64, --help with 0", "[cli]") {
    for (auto args : {std::vector<const char*>{"--log-level", "loud"},
                      {"--log-target", "syslog"},
                      {"-t", "-T"},
                      {"--bogus"},
                      {"stray-argument"},
                      {"-c"},
                      {"-t", "--version"}}) {
        std::vector<const char*> argv{"gatiod"};
        argv.insert(argv.end(), args.begin(), args.end());
        INFO(args.front());
        auto r = gatio::daemon::parse_command_line(static_cast<int>(argv.size()), argv.data());
        CHECK_FALSE(r.options);
        CHECK(r.exit_code == 64);
    }
    auto help = parse({"--help"});
    CHECK_FALSE(help.options);
    CHECK(help.exit_code == 0);
}
