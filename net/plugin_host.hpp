// The host side of one plugin instance (one listener on one driver). It completes the C ABI's
// opaque gatio_host; the services table (plugin_services.hpp) forwards each call here. TCP and
// UDP endpoints override what applies to them; the rest answers GATIO_ERR_UNSUPPORTED, as the
// ABI documents.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <string_view>

#include <gatio/plugin.h>

namespace gatio::core {
class Driver;
}

struct gatio_host {
    gatio_host() = default;
    gatio_host(const gatio_host&) = delete;
    gatio_host& operator=(const gatio_host&) = delete;
    virtual ~gatio_host() = default;

    // The driver whose thread alone may use this host; the services table checks every call
    // against it (plugin_services.cpp), release builds included.
    gatio::core::Driver* home = nullptr;
    // A service was called from another thread and refused. Any thread.
    virtual void foreign_thread(const char* service) = 0;

    virtual int send(gatio_conn, const iovec*, std::size_t) { return GATIO_ERR_UNSUPPORTED; }
    virtual int close(gatio_conn, int) { return GATIO_ERR_UNSUPPORTED; }
    virtual int pause_read(gatio_conn) { return GATIO_ERR_UNSUPPORTED; }
    virtual int resume_read(gatio_conn) { return GATIO_ERR_UNSUPPORTED; }
    virtual int set_user(gatio_conn, void*) { return GATIO_ERR_UNSUPPORTED; }
    virtual void* get_user(gatio_conn) { return nullptr; }
    virtual std::size_t pending_output(gatio_conn) { return 0; }
    virtual int notify_drained(gatio_conn, void (*)(gatio_host*, void*, int), void*) {
        return GATIO_ERR_UNSUPPORTED;
    }
    virtual int send_to(const sockaddr*, socklen_t, const void*, std::size_t) {
        return GATIO_ERR_UNSUPPORTED;
    }

    virtual gatio_timer timer_start(std::uint64_t delay_ms, void (*fn)(gatio_host*, void*), void* arg) = 0;
    virtual int timer_cancel(gatio_timer timer) = 0;
    virtual void log(int level, const char* msg, std::size_t len) = 0;
    virtual bool log_enabled(int level) = 0;
    virtual int post(std::uint32_t driver, void (*fn)(void*), void* arg) = 0;
    virtual int spawn(const gatio_task& task) = 0;

    virtual std::size_t stalled_drivers(std::uint32_t* drivers, std::size_t capacity) = 0;
    virtual const char* driver_name(std::uint32_t driver) = 0;
    virtual int metrics_text(char*, std::size_t, std::size_t*) { return GATIO_ERR_UNSUPPORTED; }
    virtual void* listener_state(const char*, void* (*)(void*), void*, void (*)(void*)) { return nullptr; }
    virtual int connect(const gatio_connect_args&, gatio_conn*) { return GATIO_ERR_UNSUPPORTED; }

    // Files (since 1.4).
    virtual int file_open(const gatio_file_open_args&) = 0;
    virtual int file_read(gatio_file, std::uint64_t, void*, std::size_t, gatio_file_done_fn, void*) = 0;
    virtual int file_read_lent(gatio_file, std::uint64_t, std::size_t, gatio_lent_done_fn, void*) = 0;
    virtual int file_write(gatio_file, std::uint64_t, const void*, std::size_t, gatio_file_done_fn,
                           void*) = 0;
    virtual int file_fsync(gatio_file, bool, gatio_file_done_fn, void*) = 0;
    virtual int file_stat(gatio_file, gatio_file_stat*, gatio_file_done_fn, void*) = 0;
    virtual int file_close(gatio_file, gatio_file_done_fn, void*) = 0;
    virtual int lent_release(gatio_lent) = 0;
    virtual std::size_t lent_buffer_size() = 0;
    virtual int lent_send(gatio_conn, gatio_lent, std::size_t, std::size_t) { return GATIO_ERR_UNSUPPORTED; }
    virtual int shutdown_write(gatio_conn) { return GATIO_ERR_UNSUPPORTED; }
    virtual int metric_register(const gatio_metric_args&, gatio_metric*) { return GATIO_ERR_UNSUPPORTED; }
    virtual int metric_update(gatio_metric, std::int64_t, bool) { return GATIO_ERR_UNSUPPORTED; }
    virtual int send_received(gatio_conn, const std::uint8_t*, std::size_t) { return GATIO_ERR_UNSUPPORTED; }
};

namespace gatio::net {

// Inside a catch handler: what the exception in flight says, for messages about plugin faults.
inline std::string_view current_exception_text() noexcept {
    try {
        throw;
    } catch (const std::exception& e) {
        return e.what();
    } catch (...) {
        return "an exception not derived from std::exception";
    }
}

} // namespace gatio::net
