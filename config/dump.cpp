// The effective configuration written back as TOML. Written by hand rather than through
// toml++'s formatter because toml++ orders keys by name, and a dump should read like the schema.
#include <charconv>
#include <cmath>
#include <cstdio>

#include "config/load.hpp"
#include "config/units.hpp"

namespace gatio::config {

namespace {

std::string toml_string(std::string_view text) {
    std::string out = "\"";
    for (const char c : text) {
        switch (c) {
        case '"':
            out += "\\\"";
            break;
        case '\\':
            out += "\\\\";
            break;
        case '\n':
            out += "\\n";
            break;
        case '\t':
            out += "\\t";
            break;
        default:
            if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
                char escaped[8];
                std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(c));
                out += escaped;
            } else {
                out += c;
            }
        }
    }
    out += '"';
    return out;
}

std::string toml_key(std::string_view key) {
    const bool bare =
        !key.empty() && key.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                              "0123456789_-") == std::string_view::npos;
    return bare ? std::string(key) : toml_string(key);
}

std::string toml_float(double value) {
    if (std::isnan(value)) {
        return "nan";
    }
    if (std::isinf(value)) {
        return value < 0 ? "-inf" : "inf";
    }
    char buf[64];
    // Shortest text that reads back as the same double.
    const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
    std::string out(buf, end);
    if (out.find_first_of(".e") == std::string::npos) {
        out += ".0"; // otherwise it would read back as an integer
    }
    return out;
}

std::string inline_value(const OptionValue& v);

std::string inline_table(const OptionTable& table) {
    if (table.empty()) {
        return "{}";
    }
    std::string out = "{ ";
    for (std::size_t i = 0; i < table.size(); ++i) {
        out += i ? ", " : "";
        out += toml_key(table[i].first) + " = " + inline_value(table[i].second);
    }
    return out + " }";
}

std::string inline_value(const OptionValue& v) {
    struct Visitor {
        std::string operator()(bool b) const { return b ? "true" : "false"; }
        std::string operator()(std::int64_t i) const { return std::to_string(i); }
        std::string operator()(double d) const { return toml_float(d); }
        std::string operator()(const std::string& s) const { return toml_string(s); }
        std::string operator()(const OptionArray& a) const {
            std::string out = "[";
            for (std::size_t i = 0; i < a.size(); ++i) {
                out += i ? ", " : "";
                out += inline_value(a[i]);
            }
            return out + "]";
        }
        std::string operator()(const OptionTable& t) const { return inline_table(t); }
    };
    return std::visit(Visitor{}, v.value);
}

class Writer {
public:
    void header(std::string_view h) {
        if (!text_.empty()) {
            text_ += '\n';
        }
        text_ += h;
        text_ += '\n';
    }
    void line(std::string_view key, std::string_view value) {
        text_ += key;
        text_ += " = ";
        text_ += value;
        text_ += '\n';
    }
    void quoted(std::string_view key, std::string_view value) { line(key, toml_string(value)); }
    void comment(std::string_view text) {
        text_ += "# ";
        text_ += text;
        text_ += '\n';
    }
    void number(std::string_view key, std::uint64_t value) { line(key, std::to_string(value)); }
    void boolean(std::string_view key, bool value) { line(key, value ? "true" : "false"); }
    void ring(const RingSettings& ring) {
        number("ring_entries", ring.ring_entries);
        quoted("buffer_size", format_size(ring.buffer_size));
        number("buffer_count", ring.buffer_count);
    }
    std::string take() { return std::move(text_); }

private:
    std::string text_;
};

} // namespace

std::string dump(const Config& c) {
    Writer w;
    w.comment("Effective configuration of " + toml_string(c.file.string()) + ", every default written out.");

    w.header("[daemon]");
    w.quoted("plugin_dir", c.daemon.plugin_dir.string());
    w.quoted("log_level", to_string(c.daemon.log_level));
    w.quoted("shutdown_grace", format_duration(c.daemon.shutdown_grace));
    if (c.daemon.user) {
        w.quoted("user", *c.daemon.user);
    } else {
        w.comment("user: not set (privileges are kept)");
    }

    w.header("[admin]");
    if (c.admin.listen) {
        w.quoted("listen", c.admin.listen->text);
    } else {
        w.comment("listen: not set (no admin endpoint)");
    }
    w.number("max_connections", c.admin.max_connections);
    w.quoted("idle_timeout", format_duration(c.admin.idle_timeout));

    w.header("[topology]");
    w.quoted("mode", to_string(c.topology.mode));
    if (c.topology.cpus) {
        w.quoted("cpus", c.topology.cpus->to_string());
    } else if (c.topology.mode == TopologyMode::automatic) {
        w.comment("cpus: not set (every CPU the process may run on)");
    }
    w.ring(c.topology.ring);

    for (const TpcConfig& tpc : c.topology.tpcs) {
        w.header("[[tpc]]");
        w.quoted("name", tpc.name);
        w.number("numa_node", static_cast<std::uint64_t>(tpc.numa_node));
        w.quoted("memory", to_string(tpc.memory));
        for (const DriverConfig& d : tpc.drivers) {
            w.header("[[tpc.driver]]");
            w.quoted("name", d.name);
            w.number("cpu", static_cast<std::uint64_t>(d.cpu));
            w.quoted("role", to_string(d.role));
            w.ring(d.ring);
        }
    }

    w.header("[io_uring]");
    w.boolean("defer_taskrun", c.io_uring.defer_taskrun);
    w.boolean("direct_descriptors", c.io_uring.direct_descriptors);
    w.boolean("multishot_recv", c.io_uring.multishot_recv);
    w.boolean("submit_batching", c.io_uring.submit_batching);
    w.number("cq_factor", c.io_uring.cq_factor);
    w.boolean("single_send", c.io_uring.single_send);
    w.quoted("min_wait", format_micros(c.io_uring.min_wait));
    w.number("wait_batch", c.io_uring.wait_batch);
    w.quoted("spin", format_micros(c.io_uring.spin));
    w.boolean("recv_bundle", c.io_uring.recv_bundle);
    w.boolean("pbuf_incremental", c.io_uring.pbuf_incremental);

    w.header("[network]");
    w.quoted("output_memory", format_size(c.network.output_memory));
    w.number("carry_buffers", c.network.carry_buffers);
    w.number("udp_reply_slots", c.network.udp_reply_slots);
    w.quoted("close_linger", format_duration(c.network.close_linger));
    w.number("open_files", c.network.open_files);
    w.number("file_operations", c.network.file_operations);
    w.number("lent_buffers", c.network.lent_buffers);
    w.quoted("lent_buffer_size", format_size(c.network.lent_buffer_size));
    w.quoted("drain_read_limit", format_size(c.network.drain_read_limit));
    w.number("receive_holds", c.network.receive_holds);
    w.number("receive_holds_per_connection", c.network.receive_holds_per_connection);
    w.boolean("zerocopy_send", c.network.zerocopy_send);
    w.quoted("zerocopy_send_min", format_size(c.network.zerocopy_send_min));

    for (const ListenerConfig& l : c.listeners) {
        w.header("[[listener]]");
        w.quoted("name", l.name);
        w.quoted("transport", to_string(l.transport));
        w.quoted("address", l.address.text);
        w.quoted("handler", l.handler);
        w.comment("handler file: " + toml_string(l.handler_path.string()));
        if (l.all_drivers) {
            w.quoted("drivers", "*");
        } else {
            std::string list = "[";
            for (std::size_t i = 0; i < l.drivers.size(); ++i) {
                list += i ? ", " : "";
                list += toml_string(l.drivers[i]);
            }
            w.line("drivers", list + "]");
        }
        w.number("backlog", l.backlog);
        w.number("max_connections", l.max_connections);
        w.quoted("idle_timeout", format_duration(l.idle_timeout));
        w.boolean("steer_to_cpu", l.steer_to_cpu);
        w.quoted("send_high_watermark", format_size(l.send_high_watermark));
        w.quoted("send_low_watermark", format_size(l.send_low_watermark));
        w.quoted("send_buffer_limit", format_size(l.send_buffer_limit));
        w.quoted("send_buffer_reserve", format_size(l.send_buffer_reserve));
        w.number("max_outbound", l.max_outbound);
        w.quoted("connect_timeout", format_duration(l.connect_timeout));
        w.number("max_open_files", l.max_open_files);
        w.number("max_file_ops", l.max_file_ops);
        if (l.socket_mode) {
            char mode[8];
            std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(*l.socket_mode));
            w.quoted("socket_mode", mode);
        }
        if (!l.options.empty()) {
            w.header("[listener.options]");
            for (const auto& [key, value] : l.options) {
                w.line(toml_key(key), inline_value(value));
            }
        }
    }
    return w.take();
}

} // namespace gatio::config
