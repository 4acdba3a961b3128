// The control loop: what the main thread of a running gatiod does once the runtime has started.
//
// It waits on a signalfd and two timers, never on anything a driver holds:
//   - SIGTERM, SIGINT: STOPPING=1, stop accepting, let in-flight work finish within
//     daemon.shutdown_grace, close the rest; a second one exits at once.
//   - SIGHUP: RELOADING=1 (with MONOTONIC_USEC=), read and validate the whole file again and
//     apply its listeners (reload.hpp), READY=1; errors are logged and kept in STATUS= until a
//     reload succeeds.
//   - SIGUSR1: log every driver's counters.
//   - the liveness timer: tick the runtime's liveness monitor (core/liveness.hpp); send
//     WATCHDOG=1 only while every driver is turning its loop.
//   - the status timer: STATUS= with drivers up, open connections and requests per second;
//     retired listeners whose drivers have finished with them are let go (net::Network::collect).
#pragma once

#include <chrono>
#include <csignal>
#include <cstddef>

#include "config/config.hpp"
#include "core/runtime.hpp"
#include "daemon/cli.hpp"
#include "net/net.hpp"

namespace gatio::daemon {

struct ServiceLimits {
    std::chrono::milliseconds status_interval{2000};   // STATUS= refresh
    std::chrono::milliseconds liveness_interval{1000}; // probe period when systemd asks no watchdog;
                                                       // with one, half of WATCHDOG_USEC
    std::size_t status_max_bytes = 1024;               // STATUS= text, reload errors included
};

struct ServiceContext {
    const Options& options;
    config::Config& config; // in force; a reload updates the parts it applies
    core::Runtime& runtime; // started
    net::Network& network;  // reloads apply listener changes through it
    int signal_fd;          // a signalfd of service_signals(), which every thread has blocked
};

// The signals the control loop takes through its signalfd.
sigset_t service_signals();

// Sends READY=1 and runs until the runtime has stopped and every driver thread has been
// joined. Returns the process exit code: 0 after a requested stop, 70 after a driver's fatal
// error. Throws std::runtime_error when the loop's own timers cannot be created.
int serve(const ServiceContext& context, const ServiceLimits& limits = {});

} // namespace gatio::daemon
