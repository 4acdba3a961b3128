#include "daemon/run.hpp"

#include <algorithm>
#include <csignal>
#include <cstring>
#include <ctime>
#include <exception>
#include <iostream>
#include <pthread.h>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "core/capabilities.hpp"
#include "core/runtime.hpp"
#include "daemon/commands.hpp"
#include "daemon/exit_codes.hpp"
#include "daemon/logging.hpp"
#include "daemon/privileges.hpp"
#include "net/net.hpp"

namespace gatio::daemon {

namespace {

// How often the main thread, while waiting for a signal, looks whether the runtime stopped
// by itself (a driver's fatal error).
constexpr std::time_t failure_check_seconds = 1;

std::uint32_t largest_ring(const core::Topology& topology) {
    std::uint32_t entries = 0;
    for (const auto& tpc : topology.tpcs) {
        for (const auto& d : tpc.drivers) {
            entries = std::max(entries, d.ring.ring_entries);
        }
    }
    return entries;
}

// Returns the signal that asked us to stop, or 0 when the runtime stopped on its own.
int wait_for_stop(const sigset_t& signals, const core::Runtime& runtime) {
    const timespec period{failure_check_seconds, 0};
    while (!runtime.stop_requested()) {
        int sig = sigtimedwait(&signals, nullptr, &period);
        if (sig > 0) {
            return sig;
        }
    }
    return 0;
}

int run_loaded(Loaded& loaded, const sigset_t& stop_signals) {
    auto log = spdlog::default_logger();
    if (auto problem = core::check_io_uring_usable(largest_ring(loaded.topology))) {
        log->critical("{}", *problem);
        return exit_software;
    }
    const auto report = core::probe_kernel();
    if (auto missing = report.missing_summary(); !missing.empty()) {
        log->warn("{}", missing);
    } else {
        log->info("io_uring: every feature gatiod uses is available on kernel {}", report.kernel_release);
    }
    log->info("configuration {}: tpcs {}, drivers {}, listeners {}", loaded.config.file.string(),
              loaded.topology.tpcs.size(), loaded.topology.driver_count(), loaded.topology.listeners.size());

    core::RuntimeOptions runtime_options;
    net::reserve(runtime_options, loaded.config, loaded.topology, loaded.plugins);
    core::Runtime runtime(loaded.topology, loaded.machine, loaded.config.io_uring, runtime_options);
    // Declared after the runtime: the Network handle must go before the Runtime does.
    auto attached = net::attach_listeners(runtime, loaded.config, loaded.topology, loaded.plugins);
    if (!attached.network) {
        log->critical("listeners: {}", attached.error);
        return exit_software;
    }
    if (loaded.config.daemon.user) {
        if (auto failed = drop_privileges(*loaded.config.daemon.user); !failed.empty()) {
            log->critical("{}", failed);
            return exit_software;
        }
        log->info("running as user {} (uid {})", *loaded.config.daemon.user, ::getuid());
    }
    if (auto failed = runtime.start(); !failed.empty()) {
        log->critical("runtime: start failed: {}", failed);
        return exit_software;
    }
    sd_notify(0, "READY=1");
    log->info("gatiod {} running; SIGTERM or SIGINT stops it", GATIO_VERSION);

    const int sig = wait_for_stop(stop_signals, runtime);
    sd_notify(0, "STOPPING=1");
    if (sig != 0) {
        log->info("SIG{} received: stopping (grace {} ms)", sigabbrev_np(sig),
                  loaded.config.daemon.shutdown_grace.count());
    }
    runtime.request_stop(loaded.config.daemon.shutdown_grace);
    runtime.join();
    if (auto failure = runtime.failure(); !failure.empty()) {
        log->critical("runtime: stopped after a fatal error: {}", failure);
        return exit_software;
    }
    log->info("stopped");
    return exit_ok;
}

} // namespace

int run(const Options& options) {
    // Blocked before any thread exists, so that every thread inherits the mask and only the
    // main thread, in sigtimedwait, ever takes these signals.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    if (pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr) != 0) {
        std::cerr << "gatiod: internal error: pthread_sigmask could not block SIGTERM and SIGINT\n";
        return exit_software;
    }

    auto loaded = load_and_resolve(options, std::cerr);
    if (!loaded) {
        return exit_config;
    }
    start_logging(options.log_target, options.log_level.value_or(loaded->config.daemon.log_level));
    int code = exit_software;
    try {
        code = run_loaded(*loaded, stop_signals);
    } catch (const std::exception& e) {
        spdlog::critical("internal error: {}", e.what());
    }
    stop_logging();
    return code;
}

} // namespace gatio::daemon
