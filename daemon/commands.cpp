#include "daemon/commands.hpp"

#include <iostream>
#include <pwd.h>
#include <unistd.h>

#include "config/load.hpp"
#include "core/capabilities.hpp"
#include "daemon/exit_codes.hpp"
#include "net/admin.hpp"
#include "net/plugin_services.hpp"
#include "admin/admin.hpp"

namespace gatio::daemon {

namespace {

// Who may own handler files besides root: the user gatiod runs as, or daemon.user.
std::optional<uid_t> daemon_uid(const config::Config& config, config::Diagnostics& errors) {
    if (!config.daemon.user) {
        return ::geteuid();
    }
    const passwd* pw = ::getpwnam(config.daemon.user->c_str());
    if (pw == nullptr) {
        errors.push_back({config.file.string(),
                          {},
                          "daemon.user: no user named '" + *config.daemon.user + "' on this machine"});
        return std::nullopt;
    }
    return pw->pw_uid;
}

} // namespace

std::optional<Loaded> load_and_resolve(const Options& options, std::ostream& errors) {
    config::Overrides overrides;
    overrides.plugin_dir = options.plugin_dir;
    auto loaded = config::load_file(options.config_file, overrides);
    if (!loaded.config) {
        for (const auto& e : loaded.errors) {
            errors << e.to_string() << '\n';
        }
        return std::nullopt;
    }
    auto machine = core::Machine::discover();
    auto resolved = core::resolve_topology(*loaded.config, machine);
    config::Diagnostics problems = std::move(resolved.errors);
    net::PluginSet plugins;
    if (auto uid = daemon_uid(*loaded.config, problems)) {
        auto set = net::load_plugins(*loaded.config, net::LoadPolicy{*uid}, net::host_services());
        for (auto& message : set.errors) {
            problems.push_back({loaded.config->file.string(), {}, std::move(message)});
        }
        plugins = std::move(set.plugins);
    }
    if (loaded.config->admin.listen) {
        plugins.admin = net::Plugin::builtin(std::string(net::admin_handler_label), admin::descriptor());
    }
    if (!problems.empty()) {
        for (auto& e : problems) {
            e.file = options.config_file.string(); // as the user wrote it, like the file's own errors
            errors << e.to_string() << '\n';
        }
        return std::nullopt;
    }
    return Loaded{std::move(*loaded.config), std::move(machine), std::move(*resolved.topology),
                  std::move(plugins)};
}

int check_config(const Options& options) {
    auto loaded = load_and_resolve(options, std::cerr);
    if (!loaded) {
        return exit_config;
    }
    std::cout << loaded->config.file.string() << ": configuration is valid\n" << loaded->topology.describe();
    return exit_ok;
}

int dump_config(const Options& options) {
    config::Overrides overrides;
    overrides.plugin_dir = options.plugin_dir;
    auto loaded = config::load_file(options.config_file, overrides);
    if (!loaded.config) {
        for (const auto& e : loaded.errors) {
            std::cerr << e.to_string() << '\n';
        }
        return exit_config;
    }
    std::cout << config::dump(*loaded.config);
    return exit_ok;
}

int print_version() {
    std::cout << "gatiod " << GATIO_VERSION << '\n' << core::probe_kernel().to_string();
    return exit_ok;
}

} // namespace gatio::daemon
