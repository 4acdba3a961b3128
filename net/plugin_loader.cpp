#include "net/plugin_loader.hpp"

#include <algorithm>
#include <array>
#include <cassert>
#include <cerrno>
#include <cstring>
#include <dlfcn.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fd.hpp"
#include "net/plugin_file.hpp"
#include "net/plugin_host.hpp"

namespace gatio::net {

namespace {

constexpr std::size_t max_error = 512;

std::string fail(const std::filesystem::path& path, std::string_view cause) {
    return fmt::format("plugin \"{}\": {}", path.string(), cause);
}

bool name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
}

bool printable(char c) {
    return c >= 0x20 && c < 0x7f;
}

// A NUL-terminated string of at most `limit` bytes whose every byte passes `allowed`; the
// cause ("" when it is) names the field and the limit. Reads at most limit + 1 bytes.
std::string check_text(const char* text, const char* field, std::size_t limit, bool (*allowed)(char),
                       const char* alphabet) {
    const std::size_t n = ::strnlen(text, limit + 1);
    if (n > limit) {
        return fmt::format("descriptor field {} is longer than the limit of {} bytes", field, limit);
    }
    if (!std::all_of(text, text + n, allowed)) {
        return fmt::format("descriptor field {} may only hold {}", field, alphabet);
    }
    return {};
}

// What a descriptor must provide, beyond its size and version, and the bounds of its fields
// (include/gatio/plugin.h): nothing the host later sizes memory or log records by is trusted.
std::string check_descriptor(const gatio_plugin& d) {
    if (d.name == nullptr || d.name[0] == '\0') {
        return "descriptor has no name";
    }
    if (auto cause =
            check_text(d.name, "name", GATIO_PLUGIN_NAME_MAX, name_char, "letters, digits, '_', '-' and '.'");
        !cause.empty()) {
        return cause;
    }
    if (d.version != nullptr) {
        if (auto cause =
                check_text(d.version, "version", GATIO_PLUGIN_VERSION_MAX, printable, "printable ASCII");
            !cause.empty()) {
            return cause;
        }
    }
    constexpr std::uint32_t known = GATIO_TRANSPORT_TCP | GATIO_TRANSPORT_UDP;
    if ((d.transports & ~known) != 0) {
        return fmt::format("descriptor field transports has unknown bits {:#x} (TCP is {:#x}, UDP {:#x})",
                           d.transports & ~known, static_cast<unsigned>(GATIO_TRANSPORT_TCP),
                           static_cast<unsigned>(GATIO_TRANSPORT_UDP));
    }
    if ((d.transports & known) == 0) {
        return "descriptor serves no transport (transports has neither TCP nor UDP)";
    }
    if ((d.flags & ~GATIO_PLUGIN_SELF_PACED) != 0) {
        return fmt::format("descriptor field flags has unknown bits {:#x} (GATIO_PLUGIN_SELF_PACED is {:#x})",
                           d.flags & ~GATIO_PLUGIN_SELF_PACED,
                           static_cast<unsigned>(GATIO_PLUGIN_SELF_PACED));
    }
    if (d.max_unconsumed > GATIO_MAX_UNCONSUMED_LIMIT) {
        return fmt::format("descriptor field max_unconsumed is {}, above the limit of {}", d.max_unconsumed,
                           GATIO_MAX_UNCONSUMED_LIMIT);
    }
    if (d.instance_create == nullptr || d.instance_destroy == nullptr) {
        return "descriptor lacks instance_create or instance_destroy";
    }
    if ((d.transports & GATIO_TRANSPORT_TCP) != 0 && d.on_data == nullptr) {
        return "descriptor serves TCP but has no on_data";
    }
    if ((d.transports & GATIO_TRANSPORT_UDP) != 0 && d.on_datagram == nullptr) {
        return "descriptor serves UDP but has no on_datagram";
    }
    return {};
}

const char* transport_name(config::Transport t) {
    return t == config::Transport::tcp ? "tcp" : "udp";
}

PluginFileId file_id_of(const struct stat& st) {
    return PluginFileId{st.st_dev, st.st_ino, st.st_size,
                        static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
}

// The name an object loaded alongside has for the dynamic loader.
std::string descriptor_name(int fd) {
    return fmt::format("/proc/self/fd/{}", fd);
}

// Lets go of the descriptor that names an object loaded alongside, once it was dlclose'd. glibc
// keeps an object with GNU unique symbols loaded all the same, under that name: a later file
// opened at the same number would be handed the old object. Such a descriptor stays open for the
// life of the process, so that its name is never reused.
void release_name(int fd, const std::filesystem::path& path) {
    const std::string name = descriptor_name(fd);
    if (void* resident = ::dlopen(name.c_str(), RTLD_LAZY | RTLD_NOLOAD); resident != nullptr) {
        ::dlclose(resident);
        spdlog::info("plugin \"{}\": the object stays loaded after dlclose (it has GNU unique symbols), so "
                     "descriptor {} stays open while gatiod runs: no later file may take its name {}",
                     path.string(), fd, name);
        return;
    }
    ::close(fd);
}

} // namespace

std::optional<PluginFileId> plugin_file_id(const std::filesystem::path& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        return std::nullopt;
    }
    return file_id_of(st);
}

Plugin::~Plugin() {
    if (initialised_ && descriptor_.fini != nullptr) {
        try {
            descriptor_.fini();
        } catch (...) {
            spdlog::error("plugin \"{}\": fini threw: {}", path_.string(), current_exception_text());
        }
    }
    if (handle_ != nullptr) {
        ::dlclose(handle_);
    }
    if (fd_ >= 0) {
        release_name(fd_, path_);
    }
}

std::shared_ptr<Plugin> Plugin::builtin(std::string label, const gatio_plugin& descriptor) {
    // Compiled in, so a descriptor outside the bounds is a bug of gatiod's own.
    assert(check_descriptor(descriptor).empty());
    std::shared_ptr<Plugin> p{new Plugin(std::move(label), nullptr)};
    p->descriptor_ = descriptor;
    p->initialised_ = true;
    return p;
}

bool Plugin::serves(config::Transport t) const {
    auto bit = t == config::Transport::tcp ? GATIO_TRANSPORT_TCP : GATIO_TRANSPORT_UDP;
    return (descriptor_.transports & static_cast<std::uint32_t>(bit)) != 0;
}

PluginLoadResult load_plugin(const std::filesystem::path& path, const LoadPolicy& policy,
                             const gatio_services& services, LoadAs as) {
    core::Fd fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
    if (fd.get() < 0) {
        int err = errno;
        return {nullptr, fail(path, err == ENOENT ? std::string("file not found")
                                                  : fmt::format("cannot open: {}", std::strerror(err)))};
    }
    if (auto cause = check_plugin_folder(std::filesystem::absolute(path).parent_path(), policy.daemon_uid);
        !cause.empty()) {
        return {nullptr, fail(path, cause)};
    }
    if (auto cause = check_plugin_file(fd.get(), policy.daemon_uid); !cause.empty()) {
        return {nullptr, fail(path, cause)};
    }

    // dlopen takes a path, so make sure it still names the file that was checked (a folder
    // others cannot write was checked too, so only root or the daemon's user could swap it).
    struct stat checked {};
    ::fstat(fd.get(), &checked);
    auto absolute = std::filesystem::absolute(path);
    // Alongside: the descriptor's /proc name is new to the dynamic loader, which would hand
    // back the object already loaded from `absolute` instead of reading the new file. The
    // descriptor stays open while the object is loaded, so its name stays unique.
    const std::string by_descriptor = descriptor_name(fd.get());
    const char* name = as == LoadAs::alongside ? by_descriptor.c_str() : absolute.c_str();
    void* handle = ::dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
        const char* why = ::dlerror();
        return {nullptr, fail(path, fmt::format("dlopen failed: {}", why ? why : "unknown error"))};
    }
    // From here on the plugin unloads the object, and lets go of the descriptor naming it.
    std::unique_ptr<Plugin> plugin{new Plugin(path, handle)};
    if (as == LoadAs::alongside) {
        plugin->fd_ = fd.release();
    }
    struct stat loaded {};
    if (::stat(name, &loaded) != 0 || loaded.st_dev != checked.st_dev || loaded.st_ino != checked.st_ino) {
        return {nullptr, fail(path, "file was replaced while being loaded; refused")};
    }
    plugin->file_id_ = file_id_of(checked);

    ::dlerror();
    void* sym = ::dlsym(handle, GATIO_PLUGIN_ENTRY_NAME);
    if (sym == nullptr) {
        return {nullptr, fail(path, "entry point " GATIO_PLUGIN_ENTRY_NAME " not found")};
    }
    auto entry = reinterpret_cast<gatio_plugin_entry_fn>(sym);
    const gatio_plugin* d = nullptr;
    try {
        d = entry();
    } catch (...) {
        return {nullptr, fail(path, fmt::format("entry point " GATIO_PLUGIN_ENTRY_NAME " threw: {}",
                                                current_exception_text()))};
    }
    if (d == nullptr) {
        return {nullptr, fail(path, "entry point " GATIO_PLUGIN_ENTRY_NAME " returned no descriptor")};
    }
    if (d->abi_major != GATIO_ABI_MAJOR) {
        return {nullptr,
                fail(path, fmt::format("ABI major version {} is not supported (this gatiod speaks {}.{})",
                                       d->abi_major, GATIO_ABI_MAJOR, GATIO_ABI_MINOR))};
    }
    if (d->struct_size < GATIO_PLUGIN_SIZE_1_0) {
        return {nullptr, fail(path, fmt::format("descriptor is {} bytes, at least {} expected for ABI {}.0",
                                                d->struct_size, GATIO_PLUGIN_SIZE_1_0, GATIO_ABI_MAJOR))};
    }
    // A newer minor has appended fields this gatiod does not know; an older one lacks some,
    // which stay zero.
    std::memcpy(&plugin->descriptor_, d, std::min<std::size_t>(d->struct_size, sizeof(gatio_plugin)));
    plugin->descriptor_.struct_size = sizeof(gatio_plugin);
    if (auto cause = check_descriptor(plugin->descriptor_); !cause.empty()) {
        return {nullptr, fail(path, cause)};
    }

    if (plugin->descriptor_.init != nullptr) {
        std::array<char, max_error> error{};
        int failed = 0;
        try {
            failed = plugin->descriptor_.init(&services, error.data(), error.size());
        } catch (...) {
            return {nullptr, fail(path, fmt::format("init threw: {}", current_exception_text()))};
        }
        if (failed != 0) {
            error.back() = '\0';
            return {nullptr, fail(path, fmt::format("init failed: {}",
                                                    error[0] != '\0' ? error.data() : "(no reason given)"))};
        }
    }
    plugin->initialised_ = true;
    return {std::move(plugin), {}};
}

const Plugin& PluginSet::for_listener(const config::ListenerConfig& listener) const {
    auto it = by_path.find(listener.handler_path);
    assert(it != by_path.end() && it->second);
    return *it->second;
}

PluginSetResult load_plugins(const config::Config& config, const LoadPolicy& policy,
                             const gatio_services& services) {
    PluginSetResult out;
    std::map<std::filesystem::path, bool> failed;
    for (const auto& l : config.listeners) {
        if (failed.count(l.handler_path) != 0) {
            continue;
        }
        auto it = out.plugins.by_path.find(l.handler_path);
        if (it == out.plugins.by_path.end()) {
            auto r = load_plugin(l.handler_path, policy, services);
            if (!r.plugin) {
                failed[l.handler_path] = true;
                out.errors.push_back(std::move(r.error));
                continue;
            }
            it = out.plugins.by_path.emplace(l.handler_path, std::move(r.plugin)).first;
        }
        if (!it->second->serves(l.transport)) {
            out.errors.push_back(fmt::format("listener \"{}\": plugin \"{}\" ({}) does not serve {}", l.name,
                                             l.handler_path.string(), it->second->name(),
                                             transport_name(l.transport)));
        }
    }
    return out;
}

} // namespace gatio::net
