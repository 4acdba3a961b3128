// [daemon], [admin] and [io_uring]: the process-wide settings.
#include "config/sections.hpp"
#include "config/units.hpp"

namespace gatio::config::detail {

std::filesystem::path normalized(const std::filesystem::path& path) {
    std::filesystem::path out = path.lexically_normal();
    if (!out.has_filename() && out.has_relative_path()) {
        out = out.parent_path();
    }
    return out;
}

std::string named(std::string_view kind, std::string_view name) {
    std::string out(kind);
    if (!name.empty()) {
        out += " \"";
        out += name;
        out += '"';
    }
    return out;
}

DaemonSection read_daemon(const toml::table& table, const std::filesystem::path& folder,
                          const Overrides& overrides, Reporter& out) {
    TableReader r(table, "daemon", {"plugin_dir", "log_level", "shutdown_grace", "user"}, out);
    DaemonSection d;
    d.plugin_dir = default_plugin_dir();
    if (auto dir = r.string("plugin_dir")) {
        if (dir->empty()) {
            r.error("plugin_dir", r.pos("plugin_dir"), "expected a non-empty path, got ''");
        } else {
            d.plugin_dir = normalized(folder / *dir);
        }
    }
    if (overrides.plugin_dir) {
        // The command line is relative to where gatiod was started, not to the file.
        std::error_code ec;
        auto dir = std::filesystem::absolute(*overrides.plugin_dir, ec);
        if (overrides.plugin_dir->empty() || ec) {
            out.error({}, "plugin directory override: expected a non-empty path, got " +
                              in_quotes(overrides.plugin_dir->string()));
        } else {
            d.plugin_dir = normalized(dir);
        }
    }
    if (auto level = r.keyword("log_level", log_levels)) {
        d.log_level = *level;
    }
    if (auto grace = r.duration("shutdown_grace")) {
        d.shutdown_grace = *grace;
    }
    if (auto user = r.string("user")) {
        if (user->empty()) {
            r.error("user", r.pos("user"), "expected a non-empty user name, got ''");
        } else {
            d.user = std::move(user);
        }
    }
    r.finish();
    return d;
}

AdminSection read_admin(const toml::table& table, SourcePos& listen_at, Reporter& out) {
    TableReader r(table, "admin", {"listen", "max_connections", "idle_timeout"}, out);
    AdminSection a;
    a.listen = r.address("listen");
    listen_at = r.pos("listen");
    if (a.listen && a.listen->is_unix()) {
        r.error("listen", listen_at,
                "expected an IP address such as '127.0.0.1:9100', got " + in_quotes(a.listen->text));
        a.listen.reset();
    }
    a.max_connections =
        static_cast<std::uint32_t>(r.integer("max_connections", 1, 1 << 16).value_or(a.max_connections));
    a.idle_timeout = r.duration("idle_timeout").value_or(a.idle_timeout);
    r.finish();
    return a;
}

IoUringTuning read_io_uring(const toml::table& table, Reporter& out) {
    TableReader r(table, "io_uring",
                  {"defer_taskrun", "direct_descriptors", "multishot_recv", "submit_batching", "single_send",
                   "cq_factor", "min_wait", "wait_batch", "spin", "recv_bundle", "pbuf_incremental"},
                  out);
    IoUringTuning t;
    t.defer_taskrun = r.boolean("defer_taskrun").value_or(t.defer_taskrun);
    t.direct_descriptors = r.boolean("direct_descriptors").value_or(t.direct_descriptors);
    t.multishot_recv = r.boolean("multishot_recv").value_or(t.multishot_recv);
    t.submit_batching = r.boolean("submit_batching").value_or(t.submit_batching);
    t.single_send = r.boolean("single_send").value_or(t.single_send);
    if (auto factor = r.integer("cq_factor", 1, 64)) {
        t.cq_factor = static_cast<std::uint32_t>(*factor);
    }
    t.min_wait = r.micros("min_wait", max_min_wait).value_or(t.min_wait);
    t.wait_batch = static_cast<std::uint32_t>(r.integer("wait_batch", 2, 4096).value_or(t.wait_batch));
    t.spin = r.micros("spin", max_spin).value_or(t.spin);
    t.recv_bundle = r.boolean("recv_bundle").value_or(t.recv_bundle);
    t.pbuf_incremental = r.boolean("pbuf_incremental").value_or(t.pbuf_incremental);
    r.finish();
    return t;
}

NetworkSection read_network(const toml::table& table, Reporter& out) {
    TableReader r(table, "network",
                  {"output_memory", "carry_buffers", "udp_reply_slots", "close_linger", "open_files",
                   "file_operations", "lent_buffers", "lent_buffer_size", "drain_read_limit", "receive_holds",
                   "receive_holds_per_connection", "zerocopy_send", "zerocopy_send_min"},
                  out);
    NetworkSection n;
    n.output_memory = r.size("output_memory", min_output_memory, max_output_memory).value_or(n.output_memory);
    n.carry_buffers = static_cast<std::uint32_t>(
        r.integer("carry_buffers", 1, max_carry_buffers).value_or(n.carry_buffers));
    n.udp_reply_slots = static_cast<std::uint32_t>(
        r.integer("udp_reply_slots", 1, max_udp_reply_slots).value_or(n.udp_reply_slots));
    if (auto linger = r.duration("close_linger")) {
        if (*linger > max_close_linger) {
            r.error("close_linger", r.pos("close_linger"),
                    "expected a duration from 0s to " + format_duration(max_close_linger) + ", got " +
                        in_quotes(format_duration(*linger)));
        } else {
            n.close_linger = *linger;
        }
    }
    n.open_files =
        static_cast<std::uint32_t>(r.integer("open_files", 1, max_file_count).value_or(n.open_files));
    n.file_operations = static_cast<std::uint32_t>(
        r.integer("file_operations", 1, max_file_count).value_or(n.file_operations));
    n.lent_buffers =
        static_cast<std::uint32_t>(r.integer("lent_buffers", 1, max_lent_buffers).value_or(n.lent_buffers));
    n.lent_buffer_size = static_cast<std::uint32_t>(
        r.size("lent_buffer_size", min_lent_buffer_size, max_lent_buffer_size).value_or(n.lent_buffer_size));
    n.zerocopy_send = r.boolean("zerocopy_send").value_or(n.zerocopy_send);
    n.zerocopy_send_min =
        static_cast<std::uint32_t>(r.size("zerocopy_send_min", min_zerocopy_send_min, max_zerocopy_send_min)
                                       .value_or(n.zerocopy_send_min));
    n.receive_holds = static_cast<std::uint32_t>(
        r.integer("receive_holds", 0, max_receive_holds).value_or(n.receive_holds));
    n.receive_holds_per_connection =
        static_cast<std::uint32_t>(r.integer("receive_holds_per_connection", 0, max_receive_holds)
                                       .value_or(n.receive_holds_per_connection));
    n.drain_read_limit =
        r.size("drain_read_limit", min_drain_read_limit, max_drain_read_limit).value_or(n.drain_read_limit);
    r.finish();
    return n;
}

} // namespace gatio::config::detail
