// One listener as one driver serves it: the socket, the plugin instance made for it, and the
// host services common to TCP and UDP (timers, logging, posting, tasks). It is the gatio_host
// handed to the plugin.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <spdlog/logger.h>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "core/driver.hpp"
#include "net/listener_socket.hpp"
#include "net/plugin_host.hpp"
#include "net/plugin_loader.hpp"

namespace gatio::net {

class DriverNet;

// What the drivers serving one listener share.
struct ListenerShared {
    const Plugin* plugin = nullptr;
    std::uint64_t fingerprint = 0;             // of the configuration as loaded
    std::atomic<std::uint32_t> connections{0}; // TCP connections open on all its drivers
};

// A listener as handed to one driver: its own copy of the configuration and its own socket.
struct DriverListener {
    config::ListenerConfig config;
    std::shared_ptr<ListenerShared> shared;
    SocketFd socket;
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
    // socket; it throws std::runtime_error naming the listener on failure.
    virtual void start(core::Driver& driver);
    virtual void poll() {}
    virtual void drain() = 0;
    virtual bool drained() const = 0;
    virtual void stop();

    gatio_timer timer_start(std::uint64_t delay_ms, void (*fn)(gatio_host*, void*), void* arg) override;
    int timer_cancel(gatio_timer timer) override;
    void log(int level, const char* msg, std::size_t len) override;
    bool log_enabled(int level) override;
    int post(std::uint32_t driver, void (*fn)(void*), void* arg) override;
    int spawn(const gatio_task& task) override;

protected:
    void* instance() const { return instance_; }
    core::Driver& driver() const { return *driver_; }

    DriverNet& net_;
    DriverListener& listener_;

private:
    config::OptionValue options_root_;
    std::vector<std::uint32_t> exec_drivers_; // lent to the instance
    std::shared_ptr<spdlog::logger> log_;
    core::Driver* driver_ = nullptr;
    void* instance_ = nullptr;
    bool has_instance_ = false;
};

} // namespace gatio::net
