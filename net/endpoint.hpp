// One listener as one driver serves it: the socket, the plugin instance made for it, and the
// host services common to TCP and UDP (timers, logging, posting, tasks). It is the gatio_host
// handed to the plugin.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <spdlog/logger.h>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "core/driver.hpp"
#include "net/counters.hpp"
#include "net/listener_socket.hpp"
#include "net/log_throttle.hpp"
#include "net/plugin_host.hpp"
#include "net/plugin_loader.hpp"

namespace gatio::net {

struct AdminBoard;
class DriverNet;

// The state a handler keeps for a listener name across its generations (gatio_services'
// listener_state): made by the first instance that asks, released once no generation is left,
// while the object that made it is still loaded.
struct HandlerState {
    HandlerState() = default;
    HandlerState(const HandlerState&) = delete;
    HandlerState& operator=(const HandlerState&) = delete;
    ~HandlerState();

    std::mutex mutex; // instances of several drivers ask at once
    std::string layout;
    void* data = nullptr;
    void (*release)(void*) = nullptr;
    std::shared_ptr<const Plugin> creator; // keeps `release` and the object's code loaded
};

// What the drivers serving one listener share. A reload that changes a listener makes a new
// one: its instances take the new connections while those of the old one finish theirs.
struct ListenerShared {
    const Plugin* plugin = nullptr;
    std::shared_ptr<const Plugin> plugin_ref; // keeps the object loaded while any driver needs it
    // TCP connections open on all its drivers, counted for the listener's name: every generation
    // of it shares the count, so max_connections holds while a reload's generations overlap.
    std::shared_ptr<std::atomic<std::uint32_t>> connections = std::make_shared<std::atomic<std::uint32_t>>(0);
    std::shared_ptr<AdminBoard> admin;   // the admin endpoint's (net/admin.hpp); else null
    std::shared_ptr<HandlerState> state; // the same for every generation of the listener name

    // Opened while running: each serving driver writes its slot of start_errors ("" when its
    // instance started), then counts pending_starts down with release order.
    std::vector<std::string> start_errors; // by global driver index
    std::atomic<int> pending_starts{0};
    // Drivers still holding an endpoint of it; each counts down (release) once its retired
    // endpoint is gone, so whoever sees 0 (acquire) may let go of it.
    std::atomic<int> holders{0};

    void report_start(int driver, std::string error);
};

// A listener as handed to one driver: its own copy of the configuration and its own socket.
struct DriverListener {
    config::ListenerConfig config;
    std::shared_ptr<ListenerShared> shared;
    std::shared_ptr<ListenerStats> stats;    // this listener on this driver, across reloads
    std::shared_ptr<SocketFile> socket_file; // unix addresses: the bound file `socket` dups
    core::Fd socket;
};

class Endpoint : public gatio_host {
public:
    Endpoint(DriverNet& net, DriverListener& listener);
    ~Endpoint() override;

    const config::ListenerConfig& config() const { return listener_.config; }
    const gatio_plugin& plugin() const { return listener_.shared->plugin->descriptor(); }
    ListenerShared& shared() { return *listener_.shared; }
    spdlog::logger& log() { return *log_; }

    // On the driver thread, in this order. start() creates the plugin instance and arms the
    // socket; it throws std::runtime_error naming the listener on failure. stop() destroys the
    // instance and may be called again.
    // Takes what this endpoint needs from its module's memory (DriverNet::memory), before
    // start(): on the driver's thread at start, on the reloading thread for a module opened
    // while running, so that a reload does not carve on the driver.
    virtual void carve(core::Driver& /*driver*/) {}
    virtual void start(core::Driver& driver);
    virtual void poll() {}
    virtual void drain() = 0;
    virtual bool drained() const = 0;
    virtual void stop();

    // Reload: stop taking new connections or datagrams while those open go on; drained()
    // then tells when nothing of it is left in flight.
    virtual void retire() = 0;
    // Another endpoint of this driver stopped accepting from the listening socket whose inode
    // is `socket`: one accepting from it too looks at its queue again.
    virtual void look_again(std::uint64_t /*socket*/) {}
    bool retiring() const { return retiring_; }
    bool has_instance() const { return has_instance_; }
    // Timers and tasks the instance started that will still call back into this object.
    bool callbacks_pending() const { return timers_pending_ > 0 || tasks_pending_ > 0; }
    std::uint32_t tasks_pending() const { return tasks_pending_; }
    ListenerCounters& counters() { return listener_.stats->counters; }

    gatio_timer timer_start(std::uint64_t delay_ms, void (*fn)(gatio_host*, void*), void* arg) override;
    int timer_cancel(gatio_timer timer) override;
    void log(int level, const char* msg, std::size_t len) override;
    bool log_enabled(int level) override;
    int post(std::uint32_t driver, void (*fn)(void*), void* arg) override;
    int spawn(const gatio_task& task) override;
    std::size_t stalled_drivers(std::uint32_t* drivers, std::size_t capacity) override;
    const char* driver_name(std::uint32_t driver) override;
    int metrics_text(char* buf, std::size_t capacity, std::size_t* len) override;
    void* listener_state(const char* layout, void* (*create)(void*), void* arg,
                         void (*release)(void*)) override;
    int metric_register(const gatio_metric_args& args, gatio_metric* metric) override;
    int metric_update(gatio_metric metric, std::int64_t value, bool relative) override;
    void foreign_thread(const char* service) override;

    int file_open(const gatio_file_open_args& args) override;
    int file_read(gatio_file file, std::uint64_t offset, void* buf, std::size_t len, gatio_file_done_fn done,
                  void* arg) override;
    int file_read_lent(gatio_file file, std::uint64_t offset, std::size_t len, gatio_lent_done_fn done,
                       void* arg) override;
    int file_write(gatio_file file, std::uint64_t offset, const void* data, std::size_t len,
                   gatio_file_done_fn done, void* arg) override;
    int file_fsync(gatio_file file, bool datasync, gatio_file_done_fn done, void* arg) override;
    int file_stat(gatio_file file, gatio_file_stat* out, gatio_file_done_fn done, void* arg) override;
    int file_close(gatio_file file, gatio_file_done_fn done, void* arg) override;
    int lent_release(gatio_lent buf) override;
    std::size_t lent_buffer_size() override;

    // The instance's files (net/file_service.hpp counts them here): open or opening, requests
    // in flight (opens, operations, closes), and whether its teardown refuses new ones.
    struct FileUse {
        std::uint32_t open = 0;
        std::uint32_t pending = 0;
        bool closed = false;
    };
    FileUse files;

protected:
    friend class FileService;

    void* instance() const { return instance_; }
    core::Driver& driver() const { return *driver_; }

    // A handler fault: counted for the listener and the driver.
    void plugin_error();

    // Every call into plugin code goes through here. What it throws is a fault: counted,
    // logged (rate-limited) and swallowed; `outcome` says what the host does about it ("the
    // connection is reset"), `conn` names the connection concerned (0: none). Returns the
    // callback's result, nullopt (false for void callbacks) when it threw.
    template <typename Fn, typename... Args>
    auto guarded(const char* callback, const char* outcome, gatio_conn conn, Fn fn, Args... args) noexcept {
        using Result = std::invoke_result_t<Fn, Args...>;
        if constexpr (std::is_void_v<Result>) {
            try {
                fn(args...);
                return true;
            } catch (...) {
                plugin_threw(callback, outcome, conn);
                return false;
            }
        } else {
            try {
                return std::optional<Result>{fn(args...)};
            } catch (...) {
                plugin_threw(callback, outcome, conn);
                return std::optional<Result>{};
            }
        }
    }
    // Inside a catch handler: the exception in flight came out of plugin code.
    void plugin_threw(const char* callback, const char* outcome, gatio_conn conn) noexcept;
    // A fault already described (what a task's run threw on another driver).
    void plugin_fault(const char* callback, const char* outcome, gatio_conn conn,
                      std::string_view what) noexcept;

    DriverNet& net_;
    DriverListener& listener_;
    bool retiring_ = false;

private:
    config::OptionValue options_root_;
    std::vector<std::uint32_t> exec_drivers_; // lent to the instance
    std::shared_ptr<spdlog::logger> log_;
    core::Driver* driver_ = nullptr;
    void* instance_ = nullptr;
    bool has_instance_ = false;
    std::uint32_t timers_pending_ = 0; // started by the instance, neither fired nor cancelled
    std::uint32_t tasks_pending_ = 0;  // spawned or posted by the instance, not yet back
    // A handler that throws on every request must not flood the log: a record per second at
    // most, the faults in between counted and summed up in the next.
    LogThrottle fault_log_{1'000'000'000};
    std::atomic<bool> foreign_reported_{false};
};

} // namespace gatio::net
