#include "net/endpoint.hpp"

#include <algorithm>
#include <array>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <stdexcept>

#include "core/handle.hpp"
#include "core/log.hpp"
#include "core/tpc.hpp"
#include "net/admin.hpp"
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

// What a task's run threw on the executing driver, carried back to the submitting one, where
// the listener's counters and logger live.
struct TaskOutcome {
    bool threw = false;
    std::array<char, 80> what{};
};

TaskOutcome run_plugin_code(void (*fn)(void*), void* arg) noexcept {
    TaskOutcome o;
    try {
        fn(arg);
    } catch (...) {
        o.threw = true;
        std::string_view text = current_exception_text();
        std::copy_n(text.data(), std::min(text.size(), o.what.size() - 1), o.what.data());
    }
    return o;
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

HandlerState::~HandlerState() {
    if (data != nullptr && release != nullptr) {
        try {
            release(data);
        } catch (...) {
            spdlog::error("plugin \"{}\": releasing a listener's state threw: {}",
                          creator ? creator->path().string() : std::string("?"), current_exception_text());
        }
    }
}

void ListenerShared::report_start(int driver, std::string error) {
    start_errors.at(static_cast<std::size_t>(driver)) = std::move(error);
    pending_starts.fetch_sub(1, std::memory_order_release);
}

Endpoint::Endpoint(DriverNet& net, DriverListener& listener)
    : net_(net), listener_(listener), options_root_{listener.config.options} {}

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
    int failed = 0;
    try {
        failed = p.instance_create(this, &info, &instance_, error.data(), error.size());
    } catch (...) {
        plugin_error();
        throw std::runtime_error(fmt::format("{}: plugin \"{}\" could not create its instance: it threw: {}",
                                             describe_listener(l), p.name, current_exception_text()));
    }
    if (failed != 0) {
        error.back() = '\0';
        plugin_error();
        throw std::runtime_error(fmt::format("{}: plugin \"{}\" could not create its instance: {}",
                                             describe_listener(l), p.name,
                                             error[0] != '\0' ? error.data() : "(no reason given)"));
    }
    has_instance_ = true;
    // In the listener's context: the journal finds each listener by GATIO_LISTENER= from start-up on.
    log_->info("{}: serving on driver {} with plugin {}", describe_listener(l), driver.name(), p.name);
}

int Endpoint::metric_register(const gatio_metric_args& args, gatio_metric* metric) {
    return listener_.stats->plugin_metrics.add(args, metric);
}

int Endpoint::metric_update(gatio_metric metric, std::int64_t value, bool relative) {
    return listener_.stats->plugin_metrics.update(metric, value, relative);
}

void Endpoint::stop() {
    if (has_instance_) {
        has_instance_ = false;
        guarded("instance_destroy", "the instance is gone all the same", 0, plugin().instance_destroy,
                instance_);
    }
}

void Endpoint::plugin_error() {
    ++counters().plugin_errors;
    ++net_.stats().plugin_errors;
}

void Endpoint::plugin_threw(const char* callback, const char* outcome, gatio_conn conn) noexcept {
    plugin_fault(callback, outcome, conn, current_exception_text());
}

void Endpoint::plugin_fault(const char* callback, const char* outcome, gatio_conn conn,
                            std::string_view what) noexcept {
    plugin_error();
    std::uint64_t skipped = 0;
    if (!fault_log_.admit(driver_->now_ns(), skipped)) {
        return;
    }
    try {
        log_->error("{}: {}{} threw: {}; {}{}", describe_listener(config()), callback,
                    conn != 0 ? fmt::format(" of connection {}", conn) : std::string(), what, outcome,
                    skipped > 0
                        ? fmt::format(" ({} more faults since the last record were only counted)", skipped)
                        : std::string());
    } catch (...) {
        // Out of memory while formatting: the fault stays counted.
    }
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
                guarded("a timer callback", "carrying on", 0, fn, this, arg);
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
    // A message that comes back, like a task: a fault of fn is reported here, where the
    // listener's counters are, and the instance stays until it is back.
    core::SpawnStatus status = driver_->spawn(
        core::Placement::driver(static_cast<int>(target)), core::Priority::latency,
        [fn, arg](core::Driver&) { return run_plugin_code(fn, arg); },
        [this](core::Driver&, TaskOutcome outcome) {
            --tasks_pending_;
            if (outcome.threw) {
                plugin_fault("a posted function", "carrying on", 0, outcome.what.data());
            }
        });
    if (status == core::SpawnStatus::ok) {
        ++tasks_pending_;
    }
    return spawn_result(status);
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
    case GATIO_PLACE_KEY:
        where = core::Placement::key(task.driver);
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
        where, priority, [run, arg](core::Driver&) { return run_plugin_code(run, arg); },
        [this, done, arg](core::Driver&, TaskOutcome outcome) {
            --tasks_pending_;
            if (outcome.threw) {
                plugin_fault("a task's run", "the task is dropped (its done is not called)", 0,
                             outcome.what.data());
            } else if (done != nullptr && has_instance_) {
                guarded("a task's done", "carrying on", 0, done, this, arg);
            }
        });
    if (status == core::SpawnStatus::ok) {
        ++tasks_pending_;
    }
    return spawn_result(status);
}

std::size_t Endpoint::stalled_drivers(std::uint32_t* drivers, std::size_t capacity) {
    const core::LivenessMonitor& liveness = driver().runtime().liveness();
    std::size_t stalled = 0;
    for (std::size_t i = 0; i < liveness.size(); ++i) {
        if (liveness.stalled(i)) {
            if (stalled < capacity) {
                drivers[stalled] = static_cast<std::uint32_t>(i);
            }
            ++stalled;
        }
    }
    return stalled;
}

const char* Endpoint::driver_name(std::uint32_t index) {
    core::Runtime& runtime = driver().runtime();
    return index < runtime.driver_count() ? runtime.driver(static_cast<int>(index)).name().c_str() : nullptr;
}

int Endpoint::metrics_text(char* buf, std::size_t capacity, std::size_t* len) {
    return listener_.shared->admin ? render_metrics_text(*listener_.shared->admin, buf, capacity, len)
                                   : GATIO_ERR_UNSUPPORTED;
}

void* Endpoint::listener_state(const char* layout, void* (*create)(void*), void* arg,
                               void (*release)(void*)) {
    if (!listener_.shared->state) {
        return nullptr; // gatiod's own admin endpoint keeps none
    }
    HandlerState& st = *listener_.shared->state;
    std::lock_guard lock(st.mutex);
    if (st.data != nullptr) {
        if (st.layout != layout) {
            log_->error(
                "{}: the handler asks for its listener state with layout \"{}\", but the state kept "
                "across reloads has layout \"{}\"; it cannot be handed over (a restart starts afresh)",
                describe_listener(config()), layout, st.layout);
            return nullptr;
        }
        return st.data;
    }
    void* made = guarded("listener_state's create", "no state is kept", 0, create, arg).value_or(nullptr);
    if (made != nullptr) {
        st.layout = layout;
        st.data = made;
        st.release = release;
        st.creator = listener_.shared->plugin_ref;
    }
    return made;
}

// ---------------------------------------------------------------- files

int Endpoint::file_open(const gatio_file_open_args& args) {
    return net_.files().open(*this, args);
}

int Endpoint::file_read(gatio_file file, std::uint64_t offset, void* buf, std::size_t len,
                        gatio_file_done_fn done, void* arg) {
    return net_.files().read(*this, file, offset, buf, len, done, arg);
}

int Endpoint::file_read_lent(gatio_file file, std::uint64_t offset, std::size_t len, gatio_lent_done_fn done,
                             void* arg) {
    return net_.files().read_lent(*this, file, offset, len, done, arg);
}

int Endpoint::file_write(gatio_file file, std::uint64_t offset, const void* data, std::size_t len,
                         gatio_file_done_fn done, void* arg) {
    return net_.files().write(*this, file, offset, data, len, done, arg);
}

int Endpoint::file_fsync(gatio_file file, bool datasync, gatio_file_done_fn done, void* arg) {
    return net_.files().fsync(*this, file, datasync, done, arg);
}

int Endpoint::file_stat(gatio_file file, gatio_file_stat* out, gatio_file_done_fn done, void* arg) {
    return net_.files().stat(*this, file, out, done, arg);
}

int Endpoint::file_close(gatio_file file, gatio_file_done_fn done, void* arg) {
    return net_.files().close(*this, file, done, arg);
}

int Endpoint::lent_release(gatio_lent buf) {
    return net_.files().lent_release(*this, buf);
}

std::size_t Endpoint::lent_buffer_size() {
    return net_.files().lent().size();
}

} // namespace gatio::net
