#include "tests/support/gatiod.hpp"

#include <catch2/catch.hpp>
#include <csignal>

namespace gatio::test {

const std::string& gatiod_path() {
    static const std::string path = GATIO_SUPPORT_GATIOD;
    return path;
}

const std::string& plugin_dir() {
    static const std::string path = GATIO_SUPPORT_PLUGIN_DIR;
    return path;
}

std::vector<std::string> gatiod_argv(const std::filesystem::path& config,
                                     const std::vector<std::string>& extra, const std::string& plugins) {
    std::vector<std::string> argv{gatiod_path(), "-c", config.string()};
    if (!plugins.empty()) {
        argv.insert(argv.end(), {"--plugin-dir", plugins});
    }
    argv.insert(argv.end(), {"--log-target", "console"});
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
}

std::vector<std::string> gatiod_env(const std::vector<std::string>& extra) {
    std::vector<std::string> env{"NOTIFY_SOCKET",  "JOURNAL_STREAM", "LISTEN_PID",  "LISTEN_FDS",
                                 "LISTEN_FDNAMES", "WATCHDOG_USEC",  "WATCHDOG_PID"};
    env.insert(env.end(), extra.begin(), extra.end());
    return env;
}

void wait_running(Child& gatiod, std::chrono::milliseconds timeout) {
    if (gatiod.wait_for_stderr(running_line, timeout)) {
        return;
    }
    const bool exited = !gatiod.running();
    const int status = exited ? gatiod.wait(0ms) : -1;
    INFO("gatiod's output:\n" << gatiod.err());
    if (exited) {
        FAIL("gatiod exited with status " << status << " before it ran");
    }
    FAIL("gatiod did not run within " << timeout.count() << " ms");
}

std::size_t occurrences(std::string_view text, std::string_view needle) {
    std::size_t n = 0;
    for (auto at = text.find(needle); at != std::string_view::npos;
         at = text.find(needle, at + needle.size())) {
        ++n;
    }
    return n;
}

Gatiod::Gatiod(const std::filesystem::path& config, const std::vector<std::string>& env,
               const std::vector<std::string>& extra_args)
    : Child(Spawn{gatiod_argv(config, extra_args), gatiod_env(env)}) {
    wait_running(*this);
}

int Gatiod::stop(std::chrono::milliseconds grace) {
    const int status = Child::stop(grace);
    if (status != 0) {
        constexpr std::size_t tail = 8000;
        const std::string& text = err();
        UNSCOPED_INFO("gatiod exited with status "
                      << status << "; the end of its log:\n"
                      << (text.size() > tail ? text.substr(text.size() - tail) : text));
    }
    return status;
}

bool Gatiod::reload(std::chrono::milliseconds timeout) {
    ++reloads_;
    signal(SIGHUP);
    // Each reload ends with one of these two lines.
    return wait_until(
        [this](const std::string& text) {
            return occurrences(text, " is valid") + occurrences(text, " error(s); still running") >= reloads_;
        },
        timeout);
}

bool Gatiod::wait_for_log(std::string_view needle, std::chrono::milliseconds timeout, std::size_t times) {
    return wait_until([&](const std::string& text) { return occurrences(text, needle) >= times; }, timeout);
}

} // namespace gatio::test
