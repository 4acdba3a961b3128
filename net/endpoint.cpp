#include "net/endpoint.hpp"

#include <array>
#include <fmt/format.h>
#include <stdexcept>

#include "core/handle.hpp"
#include "core/log.hpp"
#include "core/tpc.hpp"
#include "net/driver_net.hpp"
#include "net/plugin_options.hpp"
#include "net/plugin_services.hpp"

namespace gatio::net {

namespace {

spdlog::level::level_enum to_spdlog(int level) {
    switch (level) {
    case GATIO_LOG_TRACE:
        return spdlog::level::trace;
    case GATIO_LOG_DEBUG:
        return spdlog::level::debug;
    case GATIO_LOG_INFO:
        return spdlog::level::info;
    case GATIO_LOG_WARN:
        return spdlog::level::warn;
    case GATIO_LOG_ERROR:
        return spdlog::level::err;
    default:
        return spdlog::level::critical;
    }
}

int spawn_result(core::SpawnStatus s) {
    switch (s) {
    case core::SpawnStatus::ok:
        return GATIO_OK;
    case core::SpawnStatus::full:
        return GATIO_ERR_LIMIT;
    default:
        return GATIO_ERR_INVALID;
    }
}

} // namespace

void ListenerShared::report_start(int driver, std::string error) {
    start_errors.at(static_cast<std::size_t>(driver)) = std::move(error);
    pending_starts.fetch_sub(1, std::memory_order_release);
}

Endpoint::Endpoint(DriverNet& net, DriverListener& listener)
    : net_(net), listener_(listener), options_root_{listener.config.options, {}} {}

Endpoint::~Endpoint() = default;

void Endpoint::start(core::Driver& driver) {
    driver_ = &driver;
    const auto& l = listener_.config;
    const gatio_plugin& p = plugin();
    log_ = log::make_logger({driver.tpc().name(), driver.name(), l.name, p.name});

    gatio_instance_info info{};
    info.struct_size = sizeof info;
    info.transport = l.transport == config::Transport::tcp ? GATIO_TRANSPORT_TCP : GATIO_TRANSPORT_UDP;
    info.listener = l.name.c_str();
    info.driver = driver.name().c_str();
    info.driver_index = static_cast<std::uint32_t>(driver.index());
    info.driver_count = static_cast<std::uint32_t>(driver.runtime().driver_count());
    info.options = options::handle(options_root_);
    info.services = &host_services();
    auto& runtime = driver.runtime();
    exec_drivers_.clear();
    for (std::size_t i = 0; i < runtime.driver_count(); ++i) {
        if (runtime.driver(static_cast<int>(i)).does_exec()) {
            exec_drivers_.push_back(static_cast<std::uint32_t>(i));
        }
    }
    info.exec_drivers = exec_drivers_.data();
    info.exec_driver_count = static_cast<std::uint32_t>(exec_drivers_.size());
    std::array<char, 512> error{};
    home = &driver;
    if (p.instance_create(this, &info, &instance_, error.data(), error.size()) != 0) {
        error.back() = '\0';
        plugin_error();
        throw std::runtime_error(fmt::format("{}: plugin \"{}\" could not create its instance: {}",
                                             describe_listener(l), p.name,
                                             error[0] != '\0' ? error.data() : "(no reason given)"));
    }
    has_instance_ = true;
}

void Endpoint::stop() {
    if (has_instance_) {
        plugin().instance_destroy(instance_);
        has_instance_ = false;
    }
}

void Endpoint::plugin_error() {
    ++counters().plugin_errors;
    ++net_.stats().plugin_errors;
}

void Endpoint::foreign_thread(const char* service) {
    if (foreign_reported_.exchange(true, std::memory_order_relaxed)) {
        return;
    }
    // On the calling thread: the logger is safe there, the counters are not.
    log_->error("{}: the handler called {} from a thread other than its driver's ({}); refused with "
                "GATIO_ERR_INVALID, and so is every such call (only this first one is logged)",
                describe_listener(config()), service, driver_->name());
}

gatio_timer Endpoint::timer_start(std::uint64_t delay_ms, void (*fn)(gatio_host*, void*), void* arg) {
    core::TimerId id = driver_->schedule_timer(
        std::chrono::milliseconds(delay_ms),
        [this, fn, arg] {
            --timers_pending_;
            // A timer outliving its instance is cancelled without running, as the ABI promises.
            if (has_instance_) {
                fn(this, arg);
                // Timers fire after the turn's flush: send what the callback queued right away.
                net_.flush();
            }
        },
        this);
    if (!id.valid()) {
        return 0;
    }
    ++timers_pending_;
    return core::Handle{id.index, id.generation}.pack();
}

int Endpoint::timer_cancel(gatio_timer timer) {
    auto handle = core::Handle::unpack(timer);
    // Scoped to this instance: another one's handle cannot cancel its timer and leave its
    // pending count (which keeps a retired listener's object loaded) too high.
    if (!handle || !driver_->cancel_timer(core::TimerId{handle->slot, handle->generation}, this)) {
        return GATIO_ERR_INVALID;
    }
    --timers_pending_;
    return GATIO_OK;
}

void Endpoint::log(int level, const char* msg, std::size_t len) {
    log_->log(to_spdlog(level), "{}", std::string_view{msg, len});
}

bool Endpoint::log_enabled(int level) {
    return log_->should_log(to_spdlog(level));
}

int Endpoint::post(std::uint32_t target, void (*fn)(void*), void* arg) {
    if (target >= driver_->runtime().driver_count()) {
        return GATIO_ERR_INVALID;
    }
    return spawn_result(driver_->post(static_cast<int>(target), [fn, arg](core::Driver&) { fn(arg); }));
}

int Endpoint::spawn(const gatio_task& task) {
    core::Placement where = core::Placement::same_driver();
    switch (task.placement) {
    case GATIO_PLACE_SAME_DRIVER:
        break;
    case GATIO_PLACE_LEAST_LOADED:
        where = core::Placement::least_loaded();
        break;
    case GATIO_PLACE_DRIVER:
        if (task.driver >= driver_->runtime().driver_count()) {
            return GATIO_ERR_INVALID;
        }
        where = core::Placement::driver(static_cast<int>(task.driver));
        break;
    default:
        return GATIO_ERR_INVALID;
    }
    if (task.priority != GATIO_PRIORITY_LATENCY && task.priority != GATIO_PRIORITY_BATCH) {
        return GATIO_ERR_INVALID;
    }
    auto priority = task.priority == GATIO_PRIORITY_LATENCY ? core::Priority::latency : core::Priority::batch;
    auto run = task.run;
    auto done = task.done;
    void* arg = task.arg;
    core::SpawnStatus status = driver_->spawn(
        where, priority, [run, arg](core::Driver&) { run(arg); },
        [this, done, arg](core::Driver&) {
            --tasks_pending_;
            if (done != nullptr && has_instance_) {
                done(this, arg);
            }
        });
    if (status == core::SpawnStatus::ok) {
        ++tasks_pending_;
    }
    return spawn_result(status);
}

} // namespace gatio::net
