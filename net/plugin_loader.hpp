// Loading protocol handlers: the file checks made before any code of it runs, dlopen, and the
// descriptor checks of the C ABI (include/gatio/plugin.h).
//
// Every failure is a configuration error (gatiod exits 78) whose message starts with
// `plugin "<path>": ` and names the cause.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
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

// Which file a handler was loaded from: a path that names another file now (a new version
// installed by renaming over it) or the same file rewritten gives another identity.
struct PluginFileId {
    dev_t device = 0;
    ino_t inode = 0;
    off_t size = 0;
    std::int64_t modified_ns = 0;
    friend bool operator==(const PluginFileId&, const PluginFileId&) = default;
};

// The identity of the file `path` names now; nullopt when it cannot be looked at.
std::optional<PluginFileId> plugin_file_id(const std::filesystem::path& path);

// How load_plugin hands the file to the dynamic loader.
enum class LoadAs {
    path,      // by its path (the loader shares an object already loaded from that path)
    alongside, // by its open descriptor: a new object even while one loaded from the same path
               // is still in use (a reload that finds the file replaced)
};

// One loaded handler object. Unloads (fini, then dlclose) on destruction, which must happen
// after every instance made from it is destroyed.
class Plugin {
public:
    Plugin(const Plugin&) = delete;
    Plugin& operator=(const Plugin&) = delete;
    ~Plugin();

    // A handler compiled into gatiod itself (the admin endpoint): `label` stands for its path.
    static std::shared_ptr<Plugin> builtin(std::string label, const gatio_plugin& descriptor);

    const std::filesystem::path& path() const { return path_; }
    // The descriptor, copied into the current layout: fields the object did not have are zero.
    const gatio_plugin& descriptor() const { return descriptor_; }
    std::string_view name() const { return descriptor_.name; }
    bool serves(config::Transport t) const;
    const PluginFileId& file_id() const { return file_id_; }

private:
    friend PluginLoadResult load_plugin(const std::filesystem::path&, const LoadPolicy&,
                                        const gatio_services&, LoadAs);
    Plugin(std::filesystem::path path, void* handle) : path_(std::move(path)), handle_(handle) {}

    std::filesystem::path path_;
    void* handle_; // null for a built-in handler
    int fd_ = -1;  // kept open while loaded LoadAs::alongside (it names the object)
    PluginFileId file_id_;
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
                             const gatio_services& services, LoadAs as = LoadAs::path);

// The handlers of a whole configuration, each file loaded once however many listeners use it.
// Listeners hold references of their own, so a set may go before the runtime it served.
struct PluginSet {
    std::map<std::filesystem::path, std::shared_ptr<Plugin>> by_path;
    // The [admin] endpoint's handler, built into gatiod (Plugin::builtin): the daemon supplies
    // it, since net knows no handler's code. Needed with [admin] listen only.
    std::shared_ptr<const Plugin> admin;

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
