#include "daemon/run.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <exception>
#include <iostream>
#include <pthread.h>
#include <spdlog/spdlog.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "core/capabilities.hpp"
#include "core/ring.hpp"
#include "core/runtime.hpp"
#include "daemon/commands.hpp"
#include "daemon/exit_codes.hpp"
#include "daemon/logging.hpp"
#include "daemon/privileges.hpp"
#include "daemon/service.hpp"
#include "daemon/socket_activation.hpp"
#include "net/net.hpp"

namespace gatio::daemon {

namespace {

std::uint32_t largest_ring(const core::Topology& topology) {
    std::uint32_t entries = 0;
    for (const auto& tpc : topology.tpcs) {
        for (const auto& d : tpc.drivers) {
            entries = std::max(entries, d.ring.ring_entries);
        }
    }
    return entries;
}

int run_loaded(const Options& options, Loaded& loaded, InheritedSockets& sockets, int signal_fd) {
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
    for (const auto& fallback : core::unavailable_switches(loaded.config.io_uring, report.support)) {
        log->warn("{}", fallback);
    }
    log->info("configuration {}: tpcs {}, drivers {}, listeners {}", loaded.config.file.string(),
              loaded.topology.tpcs.size(), loaded.topology.driver_count(), loaded.topology.listeners.size());

    for (const auto& unused : sockets.close_unmatched(loaded.config)) {
        log->warn("socket activation: the socket passed as {} matches no listener's name; closed", unused);
    }
    for (const auto& [name, fd] : sockets.by_name()) {
        log->info("socket activation: listener \"{}\" serves the socket passed as fd {}", name, fd);
    }

    core::RuntimeOptions runtime_options;
    runtime_options.kernel = report.support;
    const net::NetOptions net_options = net::net_options(loaded.config);
    net::reserve(runtime_options, loaded.config, loaded.topology, loaded.plugins, net_options);
    core::Runtime runtime(loaded.topology, loaded.machine, loaded.config.io_uring, runtime_options);
    // Declared after the runtime: the Network handle must go before the Runtime does.
    auto attached = net::attach_listeners(runtime, loaded.config, loaded.topology, loaded.plugins,
                                          net_options, sockets.by_name());
    // Each serving driver holds its own duplicate now.
    sockets.close_all();
    // The listeners hold their handlers now: one a reload leaves unused can then be unloaded.
    loaded.plugins.by_path.clear();
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
    return serve(ServiceContext{options, loaded.config, runtime, *attached.network, signal_fd});
}

} // namespace

int run(const Options& options) {
    // Blocked before any thread exists, so that every thread inherits the mask and only the
    // control loop, through its signalfd, ever takes these signals.
    const sigset_t signals = service_signals();
    if (pthread_sigmask(SIG_BLOCK, &signals, nullptr) != 0) {
        std::cerr << "gatiod: internal error: pthread_sigmask could not block SIGTERM, SIGINT, SIGHUP and "
                     "SIGUSR1\n";
        return exit_software;
    }
    auto sockets = InheritedSockets::take_from_environment();
    auto loaded = load_and_resolve(options, std::cerr);
    if (!loaded) {
        return exit_config;
    }
    if (!sockets.error().empty()) {
        std::cerr << sockets.error() << '\n';
        return exit_config;
    }
    const int signal_fd = ::signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK);
    if (signal_fd < 0) {
        std::cerr << "gatiod: internal error: signalfd: " << std::strerror(errno) << '\n';
        return exit_software;
    }
    start_logging(options.log_target, options.log_level.value_or(loaded->config.daemon.log_level));
    int code = exit_software;
    try {
        code = run_loaded(options, *loaded, sockets, signal_fd);
    } catch (const std::exception& e) {
        spdlog::critical("internal error: {}", e.what());
    }
    stop_logging();
    ::close(signal_fd);
    return code;
}

} // namespace gatio::daemon
