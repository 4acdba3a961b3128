// [[listener]]: what gatiod serves, on which address, with which plugin.
#include <algorithm>
#include <cstring>
#include <sys/stat.h>
#include <system_error>

#include "config/sections.hpp"
#include "config/units.hpp"

namespace gatio::config::detail {

namespace {

// A bare name means <plugin_dir>/<name>.so; anything with a '/' is a path from the file's folder.
void resolve_handler(TableReader& r, ListenerConfig& l, SourcePos at, const std::filesystem::path& folder,
                     const std::filesystem::path& plugin_dir) {
    if (l.handler.empty()) {
        r.error("handler", at, "expected a plugin name or a path, got ''");
        return;
    }
    l.handler_path = l.handler.find('/') != std::string::npos ? normalized(folder / l.handler)
                                                              : plugin_dir / (l.handler + ".so");
    std::error_code ec;
    const auto status = std::filesystem::status(l.handler_path, ec);
    if (status.type() == std::filesystem::file_type::not_found) {
        r.error("handler", at, "no plugin file " + in_quotes(l.handler_path.string()));
    } else if (ec) {
        r.error("handler", at, "cannot access " + in_quotes(l.handler_path.string()) + ": " + ec.message());
    } else if (status.type() != std::filesystem::file_type::regular) {
        r.error("handler", at, in_quotes(l.handler_path.string()) + " is not a regular file");
    }
}

void read_drivers(TableReader& r, ListenerConfig& l, SourcePos& at) {
    const toml::node* node = r.get("drivers");
    if (!node) {
        return;
    }
    at = position(*node);
    constexpr std::string_view expected = "'*' or a non-empty array of driver or TPC names";
    if (const auto* s = node->as_string()) {
        if (s->get() != "*") {
            r.error("drivers", at, "expected " + std::string(expected) + ", got " + in_quotes(s->get()));
        }
        return;
    }
    const auto* array = node->as_array();
    if (!array) {
        r.type_error("drivers", *node, expected);
        return;
    }
    if (array->empty()) {
        r.error("drivers", at, "expected " + std::string(expected) + ", got an empty array");
        return;
    }
    l.all_drivers = false;
    for (std::size_t i = 0; i < array->size(); ++i) {
        const toml::node& element = *array->get(i);
        const std::string key = "drivers[" + std::to_string(i) + "]";
        const auto* s = element.as_string();
        if (!s) {
            r.type_error(key, element, "a driver or TPC name");
        } else if (!valid_name(s->get())) {
            r.error(key, position(element), name_error(s->get()));
        } else if (std::find(l.drivers.begin(), l.drivers.end(), s->get()) != l.drivers.end()) {
            r.error(key, position(element), in_quotes(s->get()) + " is listed twice");
        } else {
            l.drivers.push_back(s->get());
        }
    }
}

void read_watermarks(TableReader& r, ListenerConfig& l, const toml::table& table) {
    const auto high = r.size("send_high_watermark", 1, max_watermark);
    const auto low = r.size("send_low_watermark", 0, max_watermark);
    l.send_high_watermark = static_cast<std::uint32_t>(high.value_or(l.send_high_watermark));
    l.send_low_watermark = static_cast<std::uint32_t>(low.value_or(l.send_low_watermark));
    const bool high_given = table.get("send_high_watermark") != nullptr;
    const bool low_given = table.get("send_low_watermark") != nullptr;
    // Only compare values that are themselves valid; their own errors are already reported.
    if ((high_given && !high) || (low_given && !low) || l.send_low_watermark < l.send_high_watermark) {
        return;
    }
    const SourcePos at = low_given ? r.pos("send_low_watermark") : r.pos("send_high_watermark");
    r.error(at, "send_low_watermark " + format_size(l.send_low_watermark) +
                    " must be less than send_high_watermark " + format_size(l.send_high_watermark));
}

// The per-connection output budget: the reserve fits in the limit, and the limit lies above the
// high watermark, so that reading pauses before a connection reaches it.
void read_send_buffer(TableReader& r, ListenerConfig& l) {
    const auto limit = r.size("send_buffer_limit", 1, max_watermark);
    const auto reserve = r.size("send_buffer_reserve", 1, max_watermark);
    l.send_buffer_limit = static_cast<std::uint32_t>(limit.value_or(l.send_buffer_limit));
    l.send_buffer_reserve = static_cast<std::uint32_t>(reserve.value_or(l.send_buffer_reserve));
    const bool limit_given = r.pos("send_buffer_limit").line != 0;
    const bool reserve_given = r.pos("send_buffer_reserve").line != 0;
    if ((limit_given && !limit) || (reserve_given && !reserve)) {
        return; // already reported
    }
    const SourcePos at = limit_given ? r.pos("send_buffer_limit") : r.pos("send_high_watermark");
    if (l.send_buffer_limit <= l.send_high_watermark) {
        r.error(at, "send_buffer_limit " + format_size(l.send_buffer_limit) +
                        " must be more than send_high_watermark " + format_size(l.send_high_watermark));
    } else if (l.send_buffer_reserve > l.send_buffer_limit) {
        r.error(reserve_given ? r.pos("send_buffer_reserve") : at,
                "send_buffer_reserve " + format_size(l.send_buffer_reserve) +
                    " must not be more than send_buffer_limit " + format_size(l.send_buffer_limit));
    }
}

// A unix-domain listener: stream only, its socket file's folder must exist (gatiod creates the
// socket, not the folders), and whatever already lies at the path must be a socket, which
// start-up replaces when no process listens on it. Checked by -t too.
void check_unix_address(TableReader& r, ListenerConfig& l, SourcePos at) {
    if (l.transport != Transport::tcp) {
        r.error("address", at, "a unix: address serves stream listeners only (transport = \"tcp\")");
        return;
    }
    const std::string path(l.address.unix_path());
    const std::string folder = std::filesystem::path(path).parent_path().string();
    struct stat st {};
    if (::stat(folder.c_str(), &st) != 0) {
        r.error("address", at, "the socket's folder " + in_quotes(folder) + ": " + std::strerror(errno));
    } else if (!S_ISDIR(st.st_mode)) {
        r.error("address", at, "the socket's folder " + in_quotes(folder) + " is not a folder");
    } else if (::lstat(path.c_str(), &st) == 0 && !S_ISSOCK(st.st_mode)) {
        r.error("address", at, in_quotes(path) + " exists and is not a socket; gatiod replaces only sockets");
    }
}

// socket_mode = "0660": permission bits (octal, at most 0777) of a unix listener's socket file.
void read_socket_mode(TableReader& r, ListenerConfig& l) {
    const auto text = r.string("socket_mode");
    if (!text) {
        return;
    }
    const SourcePos at = r.pos("socket_mode");
    if (!l.address.is_unix()) {
        r.error("socket_mode", at, "applies to unix: addresses only");
        return;
    }
    std::uint32_t mode = 0;
    const bool octal = !text->empty() && text->size() <= 4 &&
                       std::all_of(text->begin(), text->end(), [](char c) { return c >= '0' && c <= '7'; });
    if (octal) {
        for (char c : *text) {
            mode = mode * 8 + static_cast<std::uint32_t>(c - '0');
        }
    }
    if (!octal || mode > 0777) {
        r.error("socket_mode", at,
                "expected octal permission bits from '0' to '0777' such as '0660', got " + in_quotes(*text));
        return;
    }
    l.socket_mode = mode;
}

ListenerConfig read_listener(const toml::table& table, const std::filesystem::path& folder,
                             const std::filesystem::path& plugin_dir, ListenerPositions& at, Reporter& out) {
    TableReader r(table, "listener",
                  {"name", "transport", "address", "handler", "drivers", "backlog", "max_connections",
                   "idle_timeout", "steer_to_cpu", "send_high_watermark", "send_low_watermark",
                   "send_buffer_limit", "send_buffer_reserve", "max_outbound", "connect_timeout",
                   "max_open_files", "max_file_ops", "socket_mode", "options"},
                  out);
    ListenerConfig l;
    at.table = r.pos();
    if (auto name = r.name("name", Need::required)) {
        l.name = std::move(*name);
        r.set_context(named("listener", l.name));
    }
    at.name = r.pos("name");
    l.transport = r.keyword("transport", transports).value_or(l.transport);
    if (auto address = r.address("address", Need::required)) {
        l.address = std::move(*address);
    }
    at.address = r.pos("address");
    if (auto handler = r.string("handler", Need::required)) {
        l.handler = std::move(*handler);
        at.handler = r.pos("handler");
        resolve_handler(r, l, at.handler, folder, plugin_dir);
    }
    read_drivers(r, l, at.drivers);
    l.backlog = static_cast<std::uint32_t>(r.integer("backlog", 1, 65535).value_or(l.backlog));
    l.max_connections =
        static_cast<std::uint32_t>(r.integer("max_connections", 1, 1 << 20).value_or(l.max_connections));
    l.idle_timeout = r.duration("idle_timeout").value_or(l.idle_timeout);
    l.steer_to_cpu = r.boolean("steer_to_cpu").value_or(l.steer_to_cpu);
    read_watermarks(r, l, table);
    read_send_buffer(r, l);
    if (l.address.is_unix()) {
        check_unix_address(r, l, at.address);
        if (l.steer_to_cpu) {
            r.error("steer_to_cpu", r.pos("steer_to_cpu"), "applies to IP addresses only, not to unix: ones");
        }
    }
    read_socket_mode(r, l);
    l.max_outbound =
        static_cast<std::uint32_t>(r.integer("max_outbound", 0, 1 << 20).value_or(l.max_outbound));
    if (auto timeout = r.duration("connect_timeout")) {
        if (timeout->count() == 0) {
            r.error("connect_timeout", r.pos("connect_timeout"), "must be more than 0s");
        } else {
            l.connect_timeout = *timeout;
        }
    }
    l.max_open_files =
        static_cast<std::uint32_t>(r.integer("max_open_files", 0, max_file_count).value_or(l.max_open_files));
    l.max_file_ops =
        static_cast<std::uint32_t>(r.integer("max_file_ops", 0, max_file_count).value_or(l.max_file_ops));
    if (const toml::table* options = r.table("options")) {
        l.options = read_options(*options, r.context(), out);
    }
    r.finish();
    return l;
}

} // namespace

std::vector<ListenerConfig> read_listeners(const std::vector<const toml::table*>& tables,
                                           const std::filesystem::path& folder,
                                           const std::filesystem::path& plugin_dir,
                                           std::vector<ListenerPositions>& at, Reporter& out) {
    std::vector<ListenerConfig> listeners;
    listeners.reserve(tables.size());
    for (const toml::table* table : tables) {
        listeners.push_back(read_listener(*table, folder, plugin_dir, at.emplace_back(), out));
    }
    return listeners;
}

} // namespace gatio::config::detail
