// gatiod as a child process: started on a configuration file with the build's plugins and a
// console log, clear of anything a service manager may have left in the environment; ready
// once it logged that it runs; reloaded with SIGHUP; stopped with SIGTERM, SIGKILL after a
// bound (Child).
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "tests/support/child.hpp"

namespace gatio::test {

// The gatiod and the plugin folder of this build.
const std::string& gatiod_path();
const std::string& plugin_dir();

// gatiod -c <config> [--plugin-dir <plugin_dir>] --log-target console <extra...>; no
// --plugin-dir when `plugins` is empty.
std::vector<std::string> gatiod_argv(const std::filesystem::path& config,
                                     const std::vector<std::string>& extra = {},
                                     const std::string& plugins = plugin_dir());
// Removes the variables of a service manager (NOTIFY_SOCKET, LISTEN_FDS, WATCHDOG_USEC, ...)
// and then applies `extra` (Spawn::env's form).
std::vector<std::string> gatiod_env(const std::vector<std::string>& extra = {});

// The line gatiod logs (at info) once every listener is open and every driver runs.
inline constexpr std::string_view running_line = " running; SIGTERM or SIGINT stops it";
// Waits until `gatiod` logged that it runs; fails the test with its output when it exits first
// or takes longer than `timeout`.
void wait_running(Child& gatiod, std::chrono::milliseconds timeout = 60s);

// How often `needle` occurs in `text`.
std::size_t occurrences(std::string_view text, std::string_view needle);

class Gatiod : public Child {
public:
    // Started on `config` (gatiod_argv, gatiod_env); returns once it runs.
    explicit Gatiod(const std::filesystem::path& config, const std::vector<std::string>& env = {},
                    const std::vector<std::string>& extra_args = {});

    // Child::stop; when gatiod exits other than 0, the test's next assertion (the check of that
    // status) carries the end of its log, so that a failure says why (a sanitizer's report...).
    int stop(std::chrono::milliseconds grace = 20s);
    // SIGHUP, then waits until the reload has been handled (its result logged); true when it was.
    bool reload(std::chrono::milliseconds timeout = 30s);
    // Waits up to `timeout` until the log holds `needle` `times` times.
    bool wait_for_log(std::string_view needle, std::chrono::milliseconds timeout, std::size_t times = 1);
    std::size_t count(std::string_view needle) const { return occurrences(err(), needle); }
    const std::string& log() const { return err(); }

private:
    std::size_t reloads_ = 0;
};

} // namespace gatio::test
