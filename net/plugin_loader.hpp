// Loading protocol handlers: the file checks made before any code of it runs, dlopen, and the
// descriptor checks of the C ABI (include/gatio/plugin.h).
//
// Every failure is a configuration error (gatiod exits 78) whose message starts with
// `plugin "<path>": ` and names the cause.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

#include <gatio/plugin.h>

#include "config/config.hpp"

namespace gatio::net {

// Who may own a handler file besides root: the user gatiod runs as (or will drop to).
struct LoadPolicy {
    uid_t daemon_uid = 0;
};

struct PluginLoadResult;

// One loaded handler object. Unloads (fini, then dlclose) on destruction, which must happen
// after every instance made from it is destroyed.
class Plugin {
public:
    Plugin(const Plugin&) = delete;
    Plugin& operator=(const Plugin&) = delete;
    ~Plugin();

    const std::filesystem::path& path() const { return path_; }
    // The descriptor, copied into the current layout: fields the object did not have are zero.
    const gatio_plugin& descriptor() const { return descriptor_; }
    std::string_view name() const { return descriptor_.name; }
    bool serves(config::Transport t) const;

private:
    friend PluginLoadResult load_plugin(const std::filesystem::path&, const LoadPolicy&,
                                        const gatio_services&);
    Plugin(std::filesystem::path path, void* handle) : path_(std::move(path)), handle_(handle) {}

    std::filesystem::path path_;
    void* handle_;
    gatio_plugin descriptor_{};
    bool initialised_ = false;
};

struct PluginLoadResult {
    std::unique_ptr<Plugin> plugin; // set on success
    std::string error;              // set on failure
};

// Checks, loads and initialises one handler object. `services` is handed to its init() and
// must outlive the Plugin.
PluginLoadResult load_plugin(const std::filesystem::path& path, const LoadPolicy& policy,
                             const gatio_services& services);

// The handlers of a whole configuration, each file loaded once however many listeners use it.
struct PluginSet {
    std::map<std::filesystem::path, std::unique_ptr<Plugin>> by_path;

    // The plugin serving config.listeners[i]'s handler_path; it must have been loaded.
    const Plugin& for_listener(const config::ListenerConfig& listener) const;
};

struct PluginSetResult {
    PluginSet plugins;
    std::vector<std::string> errors; // every failure, in listener order; empty on success
};

// Loads every listener's handler and checks that it serves the listener's transport.
PluginSetResult load_plugins(const config::Config& config, const LoadPolicy& policy,
                             const gatio_services& services);

} // namespace gatio::net
