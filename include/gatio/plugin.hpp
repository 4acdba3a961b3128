// A small header-only C++20 layer over the C handler ABI in plugin.h.
//
// A handler is one class; GATIO_EXPORT_PLUGIN turns it into the C descriptor. The class has a
// constructor taking (gatio::Host, const gatio::InstanceInfo&) and any of these members, each
// optional unless the transport needs it:
//
//     bool on_open(gatio::Connection c, const gatio_conn_info& info);   // false rejects
//     std::int64_t on_data(gatio::Connection c, std::span<const std::uint8_t> data);  // TCP
//     gatio_eof_action on_eof(gatio::Connection c);
//     void on_close(gatio::Connection c, gatio_close_reason reason);
//     void on_datagram(const gatio::Datagram& d);                         // UDP
//     gatio_drain_action on_drain(gatio::Connection c);                   // gatiod is stopping
//     static constexpr std::uint32_t max_unconsumed = ...;
//     static bool init(const gatio_services& services, std::string& error);
//
// Exceptions never cross into gatiod from what this layer wraps: one thrown by the constructor
// fails the instance with its what() as the reason; one thrown by a connection callback is
// logged and resets the connection; one thrown by on_close or on_datagram is logged. The plain
// function pointers handed to start_timer, spawn and post are not wrapped: gatiod catches what
// they throw, counts it in plugin_errors and logs it (docs/plugins.md, "When a handler faults").
#pragma once

#include <arpa/inet.h>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <netinet/in.h>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <sys/un.h>

#include <gatio/plugin.h>

namespace gatio {

// Thrown by option accessors on a type mismatch; plain std::runtime_error works too.
class PluginError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// A read-only view of one node of the listener's options tree.
class Options {
public:
    Options(const gatio_services* services, const gatio_option* node) : s_(services), node_(node) {}

    bool present() const { return node_ != nullptr; }
    int type() const { return node_ ? s_->option_type(node_) : 0; }
    std::size_t size() const { return node_ ? s_->option_count(node_) : 0; }
    Options operator[](const char* key) const { return {s_, node_ ? s_->option_get(node_, key) : nullptr}; }
    Options at(std::size_t index) const { return {s_, node_ ? s_->option_at(node_, index) : nullptr}; }
    std::string_view key_at(std::size_t index) const {
        const char* k = node_ ? s_->option_key_at(node_, index) : nullptr;
        return k ? std::string_view{k} : std::string_view{};
    }

    // Each returns nullopt when the node is absent and throws PluginError when it holds another
    // type; `what` names the option in that message.
    std::optional<bool> as_bool(std::string_view what) const {
        int v = 0;
        return read(what, "a boolean", s_->option_bool, &v) ? std::optional<bool>{v != 0} : std::nullopt;
    }
    std::optional<std::int64_t> as_int(std::string_view what) const {
        std::int64_t v = 0;
        return read(what, "an integer", s_->option_int, &v) ? std::optional{v} : std::nullopt;
    }
    std::optional<double> as_double(std::string_view what) const {
        double v = 0;
        return read(what, "a number", s_->option_double, &v) ? std::optional{v} : std::nullopt;
    }
    std::optional<std::string_view> as_string(std::string_view what) const {
        if (!node_) {
            return std::nullopt;
        }
        const char* p = nullptr;
        std::size_t n = 0;
        check(what, "a string", s_->option_string(node_, &p, &n));
        return std::string_view{p, n};
    }
    std::optional<std::chrono::milliseconds> as_duration(std::string_view what) const {
        std::int64_t v = 0;
        return read(what, "a duration such as \"250ms\" or \"10s\"", s_->option_duration_ms, &v)
                   ? std::optional{std::chrono::milliseconds{v}}
                   : std::nullopt;
    }
    std::optional<std::uint64_t> as_size(std::string_view what) const {
        std::uint64_t v = 0;
        return read(what, "a size such as \"64KiB\"", s_->option_size, &v) ? std::optional{v} : std::nullopt;
    }

    // Member lookups with a default, for the common flat case.
    bool get(const char* key, bool def) const { return (*this)[key].as_bool(key).value_or(def); }
    std::int64_t get(const char* key, std::int64_t def) const {
        return (*this)[key].as_int(key).value_or(def);
    }
    std::string_view get(const char* key, std::string_view def) const {
        return (*this)[key].as_string(key).value_or(def);
    }
    // Without this, a string literal default would convert to bool and pick the bool overload.
    std::string_view get(const char* key, const char* def) const { return get(key, std::string_view{def}); }

private:
    template <typename T>
    bool read(std::string_view what, const char* expected, int (*fn)(const gatio_option*, T*), T* out) const {
        if (!node_) {
            return false;
        }
        check(what, expected, fn(node_, out));
        return true;
    }
    static void check(std::string_view what, const char* expected, int rc) {
        if (rc == GATIO_ERR_TYPE) {
            throw PluginError("option \"" + std::string(what) + "\": expected " + expected);
        }
        if (rc != GATIO_OK) {
            throw PluginError("option \"" + std::string(what) + "\": value out of range for " + expected);
        }
    }

    const gatio_services* s_;
    const gatio_option* node_;
};

// The host side of this instance: logging, timers, work placement, UDP replies.
class Host {
public:
    Host(const gatio_services* services, gatio_host* host) : s_(services), h_(host) {}

    const gatio_services& services() const { return *s_; }
    gatio_host* handle() const { return h_; }

    void log(gatio_log_level level, std::string_view msg) const {
        s_->log(h_, static_cast<int>(level), msg.data(), msg.size());
    }
    bool log_enabled(gatio_log_level level) const {
        return s_->log_enabled(h_, static_cast<int>(level)) != 0;
    }
    void debug(std::string_view msg) const { log(GATIO_LOG_DEBUG, msg); }
    void info(std::string_view msg) const { log(GATIO_LOG_INFO, msg); }
    void warn(std::string_view msg) const { log(GATIO_LOG_WARN, msg); }
    void error(std::string_view msg) const { log(GATIO_LOG_ERROR, msg); }

    gatio_timer start_timer(std::chrono::milliseconds delay, void (*fn)(gatio_host*, void*),
                            void* arg) const {
        return s_->timer_start(h_, static_cast<std::uint64_t>(delay.count()), fn, arg);
    }
    bool cancel_timer(gatio_timer t) const { return s_->timer_cancel(h_, t) == GATIO_OK; }
    int post(std::uint32_t driver, void (*fn)(void*), void* arg) const {
        return s_->post(h_, driver, fn, arg);
    }
    int spawn(const gatio_task& task) const { return s_->spawn(h_, &task); }
    int send_to(const sockaddr* to, socklen_t to_len, std::span<const std::uint8_t> data) const {
        return s_->send_to(h_, to, to_len, data.data(), data.size());
    }

private:
    const gatio_services* s_;
    gatio_host* h_;
};

// A TCP connection as seen from one callback. Cheap to copy; the handle it wraps stays valid
// until on_close returns (later calls return GATIO_ERR_CLOSED).
class Connection {
public:
    Connection(Host host, gatio_conn id, void* user) : host_(host), id_(id), user_(user) {}

    gatio_conn id() const { return id_; }
    const Host& host() const { return host_; }

    int send(std::span<const std::uint8_t> data) const {
        return host_.services().send(host_.handle(), id_, data.data(), data.size());
    }
    int send(std::string_view data) const {
        return host_.services().send(host_.handle(), id_, data.data(), data.size());
    }
    int sendv(std::span<const iovec> parts) const {
        return host_.services().sendv(host_.handle(), id_, parts.data(), parts.size());
    }
    int close(gatio_close_mode mode = GATIO_CLOSE_FLUSH) const {
        return host_.services().close(host_.handle(), id_, mode);
    }
    int pause_read() const { return host_.services().pause_read(host_.handle(), id_); }
    int resume_read() const { return host_.services().resume_read(host_.handle(), id_); }
    std::size_t pending_output() const { return host_.services().pending_output(host_.handle(), id_); }

    template <typename T>
    T* user() const {
        return static_cast<T*>(user_);
    }
    int set_user(void* user) {
        user_ = user;
        return host_.services().set_user(host_.handle(), id_, user);
    }

private:
    Host host_;
    gatio_conn id_;
    void* user_;
};

// One received datagram and the means to answer its source.
class Datagram {
public:
    Datagram(Host host, const gatio_datagram& d) : host_(host), d_(d) {}

    std::span<const std::uint8_t> data() const { return {d_.data, d_.len}; }
    bool truncated() const { return (d_.flags & GATIO_DATAGRAM_TRUNCATED) != 0; }
    const sockaddr* source() const { return d_.source; }
    socklen_t source_len() const { return d_.source_len; }
    int reply(std::span<const std::uint8_t> data) const {
        return host_.send_to(d_.source, d_.source_len, data);
    }

private:
    Host host_;
    const gatio_datagram& d_;
};

// What the instance is for, with C++ types.
struct InstanceInfo {
    gatio_transport transport;
    std::string_view listener;
    std::string_view driver;
    std::uint32_t driver_index;
    std::uint32_t driver_count;
    Options options;
    // The drivers that execute tasks, ascending; empty when the host does not say.
    std::span<const std::uint32_t> exec_drivers;
};

namespace detail {

template <typename H>
struct Instance {
    Host host;
    H handler;
};

inline void copy_error(char* error, std::size_t size, const char* text) {
    if (size > 0) {
        std::snprintf(error, size, "%s", text);
    }
}

inline const gatio_services* g_services = nullptr;

template <typename H>
struct Adapter {
    static int init(const gatio_services* services, char* error, std::size_t error_size) {
        g_services = services;
        if constexpr (requires(std::string & e) { H::init(*services, e); }) {
            try {
                std::string reason;
                if (!H::init(*services, reason)) {
                    copy_error(error, error_size, reason.c_str());
                    return 1;
                }
            } catch (const std::exception& e) {
                copy_error(error, error_size, e.what());
                return 1;
            } catch (...) {
                copy_error(error, error_size, "unknown exception in init");
                return 1;
            }
        }
        return 0;
    }

    static int create(gatio_host* host, const gatio_instance_info* info, void** instance, char* error,
                      std::size_t error_size) {
        try {
            Host h{info->services, host};
            InstanceInfo ii{static_cast<gatio_transport>(info->transport),
                            info->listener,
                            info->driver,
                            info->driver_index,
                            info->driver_count,
                            Options{info->services, info->options},
                            {}};
            if (info->struct_size >=
                    offsetof(gatio_instance_info, exec_driver_count) + sizeof(std::uint32_t) &&
                info->exec_drivers != nullptr) {
                ii.exec_drivers = {info->exec_drivers, info->exec_driver_count};
            }
            *instance = new Instance<H>{h, H(h, ii)};
            return 0;
        } catch (const std::exception& e) {
            copy_error(error, error_size, e.what());
        } catch (...) {
            copy_error(error, error_size, "unknown exception while creating the instance");
        }
        return 1;
    }

    static void destroy(void* instance) { delete static_cast<Instance<H>*>(instance); }

    static Instance<H>& self(void* instance) { return *static_cast<Instance<H>*>(instance); }

    static void report(Instance<H>& in, const char* where) {
        try {
            throw;
        } catch (const std::exception& e) {
            in.host.error(std::string(where) + ": " + e.what());
        } catch (...) {
            in.host.error(std::string(where) + ": unknown exception");
        }
    }

    static int open(void* instance, gatio_conn conn, const gatio_conn_info* info, void** user) {
        auto& in = self(instance);
        try {
            return in.handler.on_open(Connection{in.host, conn, *user}, *info) ? 0 : 1;
        } catch (...) {
            report(in, "on_open");
            return 1;
        }
    }

    static std::int64_t data(void* instance, gatio_conn conn, void* user, const std::uint8_t* bytes,
                             std::size_t len) {
        auto& in = self(instance);
        try {
            return in.handler.on_data(Connection{in.host, conn, user}, std::span{bytes, len});
        } catch (...) {
            report(in, "on_data");
            return GATIO_DATA_RESET;
        }
    }

    static int eof(void* instance, gatio_conn conn, void* user) {
        auto& in = self(instance);
        try {
            return in.handler.on_eof(Connection{in.host, conn, user});
        } catch (...) {
            report(in, "on_eof");
            return GATIO_EOF_CLOSE;
        }
    }

    static void close(void* instance, gatio_conn conn, void* user, int reason) {
        auto& in = self(instance);
        try {
            in.handler.on_close(Connection{in.host, conn, user}, static_cast<gatio_close_reason>(reason));
        } catch (...) {
            report(in, "on_close");
        }
    }

    static int drain(void* instance, gatio_conn conn, void* user) {
        auto& in = self(instance);
        try {
            return in.handler.on_drain(Connection{in.host, conn, user});
        } catch (...) {
            report(in, "on_drain");
            return GATIO_DRAIN_CLOSE;
        }
    }

    static void datagram(void* instance, const gatio_datagram* d) {
        auto& in = self(instance);
        try {
            in.handler.on_datagram(Datagram{in.host, *d});
        } catch (...) {
            report(in, "on_datagram");
        }
    }
};

} // namespace detail

// The services table init() received, for code that runs without a host (tasks, posts).
inline const gatio_services* services() {
    return detail::g_services;
}

template <typename H>
constexpr gatio_plugin make_descriptor(const char* name, const char* version, std::uint32_t transports) {
    using A = detail::Adapter<H>;
    gatio_plugin d{};
    d.abi_major = GATIO_ABI_MAJOR;
    d.abi_minor = GATIO_ABI_MINOR;
    d.struct_size = sizeof(gatio_plugin);
    d.transports = transports;
    d.name = name;
    d.version = version;
    if constexpr (requires { H::max_unconsumed; }) {
        d.max_unconsumed = H::max_unconsumed;
    }
    d.init = &A::init;
    d.instance_create = &A::create;
    d.instance_destroy = &A::destroy;
    if constexpr (requires(H & h, Connection c, const gatio_conn_info& i) { h.on_open(c, i); }) {
        d.on_open = &A::open;
    }
    if constexpr (requires(H & h, Connection c, std::span<const std::uint8_t> s) { h.on_data(c, s); }) {
        d.on_data = &A::data;
    }
    if constexpr (requires(H & h, Connection c) { h.on_eof(c); }) {
        d.on_eof = &A::eof;
    }
    if constexpr (requires(H & h, Connection c) { h.on_close(c, GATIO_CLOSE_PEER); }) {
        d.on_close = &A::close;
    }
    if constexpr (requires(H & h, const Datagram& dg) { h.on_datagram(dg); }) {
        d.on_datagram = &A::datagram;
    }
    if constexpr (requires(H & h, Connection c) { h.on_drain(c); }) {
        d.on_drain = &A::drain;
    }
    return d;
}

// A numeric stream address for the connect service: "127.0.0.1:6379", "[::1]:6379" or a
// unix-domain socket path, "unix:/run/app.sock". No name lookups: resolving belongs in a task or
// the configuration. One parser for every handler (the coroutine layer's connect() takes it too).
class Address {
public:
    // nullopt when `text` is none of those forms; *why (when given) then says what is wrong.
    static std::optional<Address> parse(std::string_view text, const char** why = nullptr) {
        const auto fail = [why](const char* reason) -> std::optional<Address> {
            if (why != nullptr) {
                *why = reason;
            }
            return std::nullopt;
        };
        Address a;
        if (text.starts_with("unix:")) {
            const std::string_view path = text.substr(5);
            auto* un = reinterpret_cast<sockaddr_un*>(&a.storage_);
            if (path.empty() || path.size() >= sizeof un->sun_path || path.find('\0') != path.npos) {
                return fail("a unix path must be 1 to 107 bytes with no NUL");
            }
            un->sun_family = AF_UNIX;
            std::memcpy(un->sun_path, path.data(), path.size());
            a.len_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
            return a;
        }
        const auto colon = text.rfind(':');
        if (colon == std::string_view::npos) {
            return fail("expected HOST:PORT or unix:/PATH");
        }
        std::string_view host = text.substr(0, colon);
        const std::string_view port_text = text.substr(colon + 1);
        unsigned port = 0;
        const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
        if (ec != std::errc{} || end != port_text.data() + port_text.size() || port == 0 || port > 65535) {
            return fail("the port must be a number from 1 to 65535");
        }
        const bool v6 = host.starts_with('[') && host.ends_with(']');
        if (v6) {
            host = host.substr(1, host.size() - 2);
        }
        char text_host[INET6_ADDRSTRLEN] = {}; // inet_pton wants it NUL-terminated
        const bool fits = !host.empty() && host.size() < sizeof text_host;
        if (fits) {
            std::memcpy(text_host, host.data(), host.size());
        }
        if (v6) {
            auto* in6 = reinterpret_cast<sockaddr_in6*>(&a.storage_);
            in6->sin6_family = AF_INET6;
            in6->sin6_port = htons(static_cast<std::uint16_t>(port));
            if (!fits || ::inet_pton(AF_INET6, text_host, &in6->sin6_addr) != 1) {
                return fail("not a numeric IPv6 address");
            }
            a.len_ = sizeof(sockaddr_in6);
        } else {
            auto* in = reinterpret_cast<sockaddr_in*>(&a.storage_);
            in->sin_family = AF_INET;
            in->sin_port = htons(static_cast<std::uint16_t>(port));
            if (!fits || ::inet_pton(AF_INET, text_host, &in->sin_addr) != 1) {
                return fail(
                    "not a numeric IPv4 address (host names are not resolved; IPv6 goes in brackets)");
            }
            a.len_ = sizeof(sockaddr_in);
        }
        return a;
    }

    const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage_); }
    socklen_t size() const { return len_; }

private:
    Address() = default;

    sockaddr_storage storage_{};
    socklen_t len_ = 0;
};

} // namespace gatio

// Exports Handler as this object's entry point. Use once per shared object, at namespace scope.
#define GATIO_EXPORT_PLUGIN(Handler, name, version, transports)                                              \
    extern "C" GATIO_PLUGIN_EXPORT const gatio_plugin* gatio_plugin_entry(void) {                            \
        static constexpr gatio_plugin descriptor =                                                           \
            ::gatio::make_descriptor<Handler>(name, version, transports);                                    \
        return &descriptor;                                                                                  \
    }
