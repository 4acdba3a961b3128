#include "daemon/service.hpp"

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <fmt/format.h>
#include <memory>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <stdexcept>
#include <string>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <systemd/sd-daemon.h>
#include <thread>
#include <unistd.h>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "core/clock.hpp"
#include "core/fd.hpp"
#include "core/log.hpp"
#include "daemon/exit_codes.hpp"
#include "daemon/logging.hpp"
#include "daemon/reload.hpp"
#include "daemon/status.hpp"

namespace gatio::daemon {

namespace {

std::int64_t ms_between(std::int64_t from_ns, std::int64_t to_ns) {
    return (to_ns - from_ns) / 1'000'000;
}

int periodic_timer(std::chrono::nanoseconds period, std::string_view what) {
    const int fd = ::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (fd < 0) {
        throw std::runtime_error(
            fmt::format("control loop: timerfd_create for the {} timer: {}", what, std::strerror(errno)));
    }
    itimerspec spec{};
    spec.it_interval.tv_sec = static_cast<time_t>(period.count() / 1'000'000'000);
    spec.it_interval.tv_nsec = static_cast<long>(period.count() % 1'000'000'000);
    spec.it_value = spec.it_interval;
    if (::timerfd_settime(fd, 0, &spec, nullptr) != 0) {
        const int err = errno;
        ::close(fd);
        throw std::runtime_error(
            fmt::format("control loop: timerfd_settime for the {} timer: {}", what, std::strerror(err)));
    }
    return fd;
}

// Reads a timerfd's or eventfd's counter; false when there was nothing to read.
bool consume(int fd) {
    std::uint64_t value = 0;
    return ::read(fd, &value, sizeof value) == static_cast<ssize_t>(sizeof value);
}

class Service {
public:
    Service(const ServiceContext& context, const ServiceLimits& limits);
    Service(const Service&) = delete;
    Service& operator=(const Service&) = delete;
    ~Service() {
        // Only after an exception: run() joins them on every other path.
        if (reloader_.joinable()) {
            reloader_.join();
        }
        if (joiner_.joinable()) {
            joiner_.join();
        }
    }
    int run();

private:
    void on_signal(int sig);
    void liveness_tick();
    void status_tick();
    void reload();
    void reload_done();
    void dump_counters();
    void begin_stop(int sig);
    std::string status() const;
    void notify(const std::string& state);

    const ServiceContext& ctx_;
    ServiceLimits limits_;
    std::shared_ptr<spdlog::logger> log_;
    std::vector<std::shared_ptr<spdlog::logger>> driver_logs_; // context loggers: GATIO_DRIVER=...
    std::vector<std::string> names_;
    bool watchdog_ = false;
    std::chrono::nanoseconds liveness_period_;
    Snapshot previous_, current_, dump_;
    double requests_per_second_ = 0;
    std::string note_; // the last reload's outcome, while it matters
    bool stopping_ = false;
    bool notify_failed_ = false;
    core::Fd joined_;
    std::thread joiner_;
    // The reload in progress, on its own thread so that this loop keeps pinging the watchdog;
    // it owns the Network until it writes reloaded_.
    core::Fd reloaded_;
    std::thread reloader_;
    ReloadOutcome outcome_;
    bool reloading_ = false;    // reloader_ runs; this loop's thread only
    bool reload_again_ = false; // a SIGHUP came while reloading
};

Service::Service(const ServiceContext& context, const ServiceLimits& limits)
    : ctx_(context), limits_(limits), log_(spdlog::default_logger()),
      liveness_period_(limits.liveness_interval), joined_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
      reloaded_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    if (joined_.get() < 0 || reloaded_.get() < 0) {
        throw std::runtime_error(fmt::format("control loop: eventfd: {}", std::strerror(errno)));
    }
    for (std::size_t i = 0; i < ctx_.runtime.driver_count(); ++i) {
        core::Driver& d = ctx_.runtime.driver(static_cast<int>(i));
        names_.push_back(d.name());
        driver_logs_.push_back(log::make_logger({d.tpc().name(), d.name(), {}, {}}));
    }
    std::uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
        // Half the interval, as systemd advises: one late ping never fires the watchdog.
        watchdog_ = true;
        liveness_period_ = std::max(std::chrono::nanoseconds(std::chrono::microseconds(usec / 2)),
                                    std::chrono::nanoseconds(std::chrono::milliseconds(1)));
    }
}

void Service::notify(const std::string& state) {
    const int r = sd_notify(0, state.c_str());
    if (r < 0 && !notify_failed_) {
        notify_failed_ = true; // once: the service manager went away, it will not come back
        log_->warn("sd_notify to $NOTIFY_SOCKET failed: {}", std::strerror(-r));
    }
}

std::string Service::status() const {
    StatusFigures f;
    f.drivers = names_.size();
    for (std::size_t i = 0; i < names_.size(); ++i) {
        if (ctx_.runtime.liveness().stalled(i)) {
            f.stalled.push_back(names_[i]);
        }
    }
    f.connections = current_.at_ns >= 0 ? open_connections(current_.total) : 0;
    f.requests_per_second = requests_per_second_;
    f.stopping = stopping_;
    f.note = note_;
    return status_text(f, limits_.status_max_bytes);
}

void Service::liveness_tick() {
    const std::int64_t now = core::monotonic_ns();
    const auto& changes = ctx_.runtime.check_liveness(now);
    for (const auto& c : changes) {
        const core::Driver& d = ctx_.runtime.driver(static_cast<int>(c.driver));
        if (c.stalled) {
            driver_logs_[c.driver]->error("driver {} (CPU {}) stalled: no loop turn for {} ms{}", d.name(),
                                          d.cpu(), ms_between(c.since_ns, now),
                                          watchdog_ ? "; withholding WATCHDOG=1" : "");
        } else {
            driver_logs_[c.driver]->warn(
                "driver {} (CPU {}) is turning its loop again, {} ms after it was probed", d.name(), d.cpu(),
                ms_between(c.since_ns, now));
        }
    }
    if (!changes.empty()) {
        notify("STATUS=" + status());
    }
    if (watchdog_ && ctx_.runtime.liveness().stalled_count() == 0) {
        notify("WATCHDOG=1");
    }
}

void Service::status_tick() {
    if (!reloading_) {
        ctx_.network.collect(); // else the reload does it
    }
    std::swap(previous_, current_);
    read_snapshot(ctx_.runtime, ctx_.network, core::monotonic_ns(), current_);
    requests_per_second_ = requests_per_second(previous_, current_);
    notify("STATUS=" + status());
}

void Service::reload() {
    const std::string file = ctx_.options.config_file.string();
    if (stopping_) {
        log_->info("SIGHUP received while stopping: {} not reloaded", file);
        return;
    }
    if (reloading_) {
        log_->info("SIGHUP received while reloading: {} is read again once this reload is done", file);
        reload_again_ = true;
        return;
    }
    notify(fmt::format("RELOADING=1\nMONOTONIC_USEC={}\nSTATUS=reloading {}", core::monotonic_ns() / 1000,
                       file));
    log_->info("SIGHUP received: reloading {}", file);
    reloading_ = true;
    reloader_ = std::thread([this] {
        try {
            outcome_ = run_reload(ctx_.options, ctx_.config, ctx_.network);
        } catch (const std::exception& e) {
            outcome_ = {};
            outcome_.file_errors.push_back(fmt::format("internal error: {}", e.what()));
            log_->error("reload: internal error: {}; still running with the configuration loaded before",
                        e.what());
        }
        const std::uint64_t one = 1;
        [[maybe_unused]] auto n = ::write(reloaded_.get(), &one, sizeof one);
    });
}

void Service::reload_done() {
    assert(reloading_);
    reloader_.join();
    reloading_ = false;
    adopt_reload(ctx_.config, outcome_);
    note_ = outcome_.note();
    notify("READY=1\nSTATUS=" + status());
    if (std::exchange(reload_again_, false)) {
        reload();
    }
}

void Service::dump_counters() {
    read_snapshot(ctx_.runtime, ctx_.network, core::monotonic_ns(), dump_);
    log_->info("SIGUSR1 received: counters of {} drivers ({} stalled)", names_.size(),
               ctx_.runtime.liveness().stalled_count());
    for (const auto& line : counter_lines(dump_, names_)) {
        log_->info("{}", line);
    }
}

void Service::begin_stop(int sig) {
    stopping_ = true;
    const auto grace = ctx_.config.daemon.shutdown_grace;
    if (sig != 0) {
        log_->info("SIG{} received: stopping (grace {} ms)", sigabbrev_np(sig), grace.count());
    }
    notify("STOPPING=1\nSTATUS=" + status());
    ctx_.runtime.request_stop(grace);
    // join() blocks until every driver has drained; on its own thread the loop stays free to
    // take a second signal meanwhile. A reload in progress ends first (its waits are bounded,
    // and modules reaching a draining driver report at once): it uses the drivers' queues.
    joiner_ = std::thread([this] {
        if (reloader_.joinable()) {
            reloader_.join();
        }
        ctx_.runtime.join();
        const std::uint64_t one = 1;
        [[maybe_unused]] auto n = ::write(joined_.get(), &one, sizeof one);
    });
}

void Service::on_signal(int sig) {
    switch (sig) {
    case SIGTERM:
    case SIGINT:
        if (!stopping_) {
            begin_stop(sig);
            return;
        }
        read_snapshot(ctx_.runtime, ctx_.network, core::monotonic_ns(), dump_);
        log_->warn("SIG{} received again: exiting at once, {} connections still open", sigabbrev_np(sig),
                   open_connections(dump_.total));
        stop_logging();
        ::_exit(exit_ok);
    case SIGHUP:
        reload();
        return;
    case SIGUSR1:
        dump_counters();
        return;
    default:
        log_->warn("control loop: unexpected signal {} ignored", sig);
        return;
    }
}

int Service::run() {
    core::Fd liveness(periodic_timer(liveness_period_, "liveness"));
    core::Fd status_timer(periodic_timer(limits_.status_interval, "status"));
    read_snapshot(ctx_.runtime, ctx_.network, core::monotonic_ns(), current_);
    // One line per driver in its context, so the journal can be filtered by GATIO_DRIVER= from start-up on.
    for (std::size_t i = 0; i < names_.size(); ++i) {
        const core::Driver& d = ctx_.runtime.driver(static_cast<int>(i));
        driver_logs_[i]->info("driver {} running on CPU {} ({})", d.name(), d.cpu(),
                              config::to_string(d.role()));
    }
    // Logged with READY=1, once the control loop holds everything it runs with: what watches the
    // log for this line (the tests, an operator) sees the daemon whole.
    log_->info("gatiod {} running; SIGTERM or SIGINT stops it, SIGHUP reloads {}, SIGUSR1 logs the counters",
               GATIO_VERSION, ctx_.options.config_file.string());
    notify("READY=1\nSTATUS=" + status());
    ctx_.runtime.check_liveness(core::monotonic_ns()); // the first probes: nothing to check yet
    if (watchdog_) {
        log_->info("watchdog: WATCHDOG=1 every {} ms while every driver turns its loop",
                   std::chrono::duration_cast<std::chrono::milliseconds>(liveness_period_).count());
    }

    for (;;) {
        pollfd fds[5] = {{ctx_.signal_fd, POLLIN, 0},
                         {liveness.get(), POLLIN, 0},
                         {status_timer.get(), POLLIN, 0},
                         {joined_.get(), POLLIN, 0},
                         {reloaded_.get(), POLLIN, 0}};
        if (::poll(fds, 5, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            throw std::runtime_error(fmt::format("control loop: poll: {}", std::strerror(errno)));
        }
        if (consume(joined_.get())) {
            break;
        }
        if (!stopping_ && consume(reloaded_.get())) {
            reload_done();
        }
        signalfd_siginfo info{};
        while (::read(ctx_.signal_fd, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
            on_signal(static_cast<int>(info.ssi_signo));
        }
        if (consume(liveness.get()) && !stopping_) {
            liveness_tick();
        }
        if (consume(status_timer.get())) {
            status_tick();
        }
        if (!stopping_ && ctx_.runtime.stop_requested()) {
            begin_stop(0); // a driver's fatal error, already logged
        }
    }
    joiner_.join();
    if (auto failure = ctx_.runtime.failure(); !failure.empty()) {
        log_->critical("runtime: stopped after a fatal error: {}", failure);
        return exit_software;
    }
    log_->info("stopped");
    return exit_ok;
}

} // namespace

sigset_t service_signals() {
    sigset_t set;
    sigemptyset(&set);
    for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGUSR1}) {
        sigaddset(&set, sig);
    }
    return set;
}

int serve(const ServiceContext& context, const ServiceLimits& limits) {
    Service service(context, limits);
    return service.run();
}

} // namespace gatio::daemon
