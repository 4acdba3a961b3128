#include "net/plugin_services.hpp"

#include "core/driver.hpp"
#include "net/plugin_host.hpp"
#include "net/plugin_options.hpp"

namespace gatio::net {

namespace {

// Every service taking a host runs on that host's driver thread only: the slabs, queues and
// timer wheel behind it have no locks. One thread-local load and a compare, so it stays in
// release builds, where asserts are gone.
bool at_home(gatio_host* h, const char* service) {
    if (h == nullptr || h->home == nullptr) {
        return false;
    }
    if (core::Driver::current() == h->home) [[likely]] {
        return true;
    }
    h->foreign_thread(service);
    return false;
}

int svc_send(gatio_host* h, gatio_conn c, const void* data, std::size_t len) {
    if (!at_home(h, "send")) {
        return GATIO_ERR_INVALID;
    }
    iovec one{const_cast<void*>(data), len};
    return h->send(c, &one, 1);
}

int svc_sendv(gatio_host* h, gatio_conn c, const iovec* iov, std::size_t n) {
    if (!at_home(h, "sendv")) {
        return GATIO_ERR_INVALID;
    }
    if (iov == nullptr && n != 0) {
        return GATIO_ERR_INVALID;
    }
    return h->send(c, iov, n);
}

int svc_close(gatio_host* h, gatio_conn c, int mode) {
    if (!at_home(h, "close")) {
        return GATIO_ERR_INVALID;
    }
    if (mode != GATIO_CLOSE_FLUSH && mode != GATIO_CLOSE_ABORT) {
        return GATIO_ERR_INVALID;
    }
    return h->close(c, mode);
}

int svc_pause(gatio_host* h, gatio_conn c) {
    if (!at_home(h, "pause_read")) {
        return GATIO_ERR_INVALID;
    }
    return h->pause_read(c);
}
int svc_resume(gatio_host* h, gatio_conn c) {
    if (!at_home(h, "resume_read")) {
        return GATIO_ERR_INVALID;
    }
    return h->resume_read(c);
}
int svc_set_user(gatio_host* h, gatio_conn c, void* u) {
    if (!at_home(h, "set_user")) {
        return GATIO_ERR_INVALID;
    }
    return h->set_user(c, u);
}
void* svc_get_user(gatio_host* h, gatio_conn c) {
    if (!at_home(h, "get_user")) {
        return nullptr;
    }
    return h->get_user(c);
}
std::size_t svc_pending(gatio_host* h, gatio_conn c) {
    if (!at_home(h, "pending_output")) {
        return 0;
    }
    return h->pending_output(c);
}

int svc_send_to(gatio_host* h, const sockaddr* to, socklen_t to_len, const void* data, std::size_t len) {
    if (!at_home(h, "send_to")) {
        return GATIO_ERR_INVALID;
    }
    if (to == nullptr || (data == nullptr && len != 0)) {
        return GATIO_ERR_INVALID;
    }
    return h->send_to(to, to_len, data, len);
}

gatio_timer svc_timer_start(gatio_host* h, std::uint64_t ms, void (*fn)(gatio_host*, void*), void* arg) {
    // Bounded so the conversion to nanoseconds cannot overflow.
    if (!at_home(h, "timer_start") || fn == nullptr || ms > GATIO_TIMER_MAX_DELAY_MS) {
        return 0;
    }
    return h->timer_start(ms, fn, arg);
}

int svc_timer_cancel(gatio_host* h, gatio_timer t) {
    if (!at_home(h, "timer_cancel")) {
        return GATIO_ERR_INVALID;
    }
    return h->timer_cancel(t);
}

void svc_log(gatio_host* h, int level, const char* msg, std::size_t len) {
    if (!at_home(h, "log")) {
        return;
    }
    if (msg != nullptr) {
        h->log(level, msg, len);
    }
}

int svc_log_enabled(gatio_host* h, int level) {
    if (!at_home(h, "log_enabled")) {
        return 0;
    }
    return h->log_enabled(level) ? 1 : 0;
}

int svc_post(gatio_host* h, std::uint32_t driver, void (*fn)(void*), void* arg) {
    if (!at_home(h, "post")) {
        return GATIO_ERR_INVALID;
    }
    return fn ? h->post(driver, fn, arg) : GATIO_ERR_INVALID;
}

int svc_spawn(gatio_host* h, const gatio_task* task) {
    if (!at_home(h, "spawn")) {
        return GATIO_ERR_INVALID;
    }
    if (task == nullptr || task->struct_size < sizeof(gatio_task) || task->run == nullptr) {
        return GATIO_ERR_INVALID;
    }
    return h->spawn(*task);
}

int svc_notify_drained(gatio_host* h, gatio_conn c, void (*fn)(gatio_host*, void*, int), void* arg) {
    if (!at_home(h, "notify_drained")) {
        return GATIO_ERR_INVALID;
    }
    return fn ? h->notify_drained(c, fn, arg) : GATIO_ERR_INVALID;
}

std::size_t svc_stalled_drivers(gatio_host* h, std::uint32_t* drivers, std::size_t capacity) {
    return h->stalled_drivers(drivers, drivers == nullptr ? 0 : capacity);
}

const char* svc_driver_name(gatio_host* h, std::uint32_t driver) {
    return h->driver_name(driver);
}

int svc_metrics_text(gatio_host* h, char* buf, std::size_t capacity, std::size_t* len) {
    if (len == nullptr || (buf == nullptr && capacity != 0)) {
        return GATIO_ERR_INVALID;
    }
    return h->metrics_text(buf, capacity, len);
}

void* svc_listener_state(gatio_host* h, const char* layout, void* (*create)(void*), void* arg,
                         void (*release)(void*)) {
    if (!at_home(h, "listener_state") || layout == nullptr || create == nullptr) {
        return nullptr;
    }
    return h->listener_state(layout, create, arg, release);
}

int svc_connect(gatio_host* h, const gatio_connect_args* args, gatio_conn* conn) {
    if (!at_home(h, "connect")) {
        return GATIO_ERR_INVALID;
    }
    if (args == nullptr || conn == nullptr || args->struct_size < sizeof(gatio_connect_args) ||
        args->done == nullptr || args->address == nullptr) {
        return GATIO_ERR_INVALID;
    }
    *conn = 0;
    return h->connect(*args, conn);
}

int svc_file_open(gatio_host* h, const gatio_file_open_args* args) {
    if (!at_home(h, "file_open")) {
        return GATIO_ERR_INVALID;
    }
    if (args == nullptr || args->struct_size < sizeof(gatio_file_open_args) || args->done == nullptr ||
        args->path == nullptr) {
        return GATIO_ERR_INVALID;
    }
    return h->file_open(*args);
}

int svc_file_read(gatio_host* h, gatio_file f, std::uint64_t offset, void* buf, std::size_t len,
                  gatio_file_done_fn done, void* arg) {
    if (!at_home(h, "file_read")) {
        return GATIO_ERR_INVALID;
    }
    return h->file_read(f, offset, buf, len, done, arg);
}

int svc_file_write(gatio_host* h, gatio_file f, std::uint64_t offset, const void* data, std::size_t len,
                   gatio_file_done_fn done, void* arg) {
    if (!at_home(h, "file_write")) {
        return GATIO_ERR_INVALID;
    }
    return h->file_write(f, offset, data, len, done, arg);
}

int svc_file_fsync(gatio_host* h, gatio_file f, int datasync, gatio_file_done_fn done, void* arg) {
    if (!at_home(h, "file_fsync")) {
        return GATIO_ERR_INVALID;
    }
    return h->file_fsync(f, datasync != 0, done, arg);
}

int svc_file_stat(gatio_host* h, gatio_file f, gatio_file_stat* out, gatio_file_done_fn done, void* arg) {
    if (!at_home(h, "file_stat")) {
        return GATIO_ERR_INVALID;
    }
    return h->file_stat(f, out, done, arg);
}

int svc_file_close(gatio_host* h, gatio_file f, gatio_file_done_fn done, void* arg) {
    if (!at_home(h, "file_close")) {
        return GATIO_ERR_INVALID;
    }
    return h->file_close(f, done, arg);
}

int svc_file_read_lent(gatio_host* h, gatio_file f, std::uint64_t offset, std::size_t len,
                       gatio_lent_done_fn done, void* arg) {
    if (!at_home(h, "file_read_lent")) {
        return GATIO_ERR_INVALID;
    }
    return h->file_read_lent(f, offset, len, done, arg);
}

int svc_lent_send(gatio_host* h, gatio_conn c, gatio_lent buf, std::size_t offset, std::size_t len) {
    if (!at_home(h, "lent_send")) {
        return GATIO_ERR_INVALID;
    }
    return h->lent_send(c, buf, offset, len);
}

int svc_lent_release(gatio_host* h, gatio_lent buf) {
    if (!at_home(h, "lent_release")) {
        return GATIO_ERR_INVALID;
    }
    return h->lent_release(buf);
}

std::size_t svc_lent_buffer_size(gatio_host* h) {
    if (!at_home(h, "lent_buffer_size")) {
        return 0;
    }
    return h->lent_buffer_size();
}

int svc_shutdown_write(gatio_host* h, gatio_conn c) {
    if (!at_home(h, "shutdown_write")) {
        return GATIO_ERR_INVALID;
    }
    return h->shutdown_write(c);
}

int svc_metric_register(gatio_host* h, const gatio_metric_args* args, gatio_metric* metric) {
    if (!at_home(h, "metric_register")) {
        return GATIO_ERR_INVALID;
    }
    if (args == nullptr || metric == nullptr || args->struct_size < sizeof(gatio_metric_args)) {
        return GATIO_ERR_INVALID;
    }
    return h->metric_register(*args, metric);
}

int svc_metric_add(gatio_host* h, gatio_metric metric, std::int64_t delta) {
    if (!at_home(h, "metric_add")) {
        return GATIO_ERR_INVALID;
    }
    return h->metric_update(metric, delta, true);
}

int svc_metric_set(gatio_host* h, gatio_metric metric, std::int64_t value) {
    if (!at_home(h, "metric_set")) {
        return GATIO_ERR_INVALID;
    }
    return h->metric_update(metric, value, false);
}

int svc_send_received(gatio_host* h, gatio_conn c, const std::uint8_t* data, std::size_t len) {
    if (!at_home(h, "send_received")) {
        return GATIO_ERR_INVALID;
    }
    if (data == nullptr) {
        return GATIO_ERR_INVALID;
    }
    return h->send_received(c, data, len);
}

constexpr gatio_services make_table() {
    gatio_services s{};
    s.abi_major = GATIO_ABI_MAJOR;
    s.abi_minor = GATIO_ABI_MINOR;
    s.struct_size = sizeof(gatio_services);
    s.send = svc_send;
    s.sendv = svc_sendv;
    s.close = svc_close;
    s.pause_read = svc_pause;
    s.resume_read = svc_resume;
    s.set_user = svc_set_user;
    s.get_user = svc_get_user;
    s.pending_output = svc_pending;
    s.send_to = svc_send_to;
    s.timer_start = svc_timer_start;
    s.timer_cancel = svc_timer_cancel;
    s.log = svc_log;
    s.log_enabled = svc_log_enabled;
    s.post = svc_post;
    s.spawn = svc_spawn;
    s.option_type = options::type;
    s.option_get = options::get;
    s.option_count = options::count;
    s.option_at = options::at;
    s.option_key_at = options::key_at;
    s.option_bool = options::as_bool;
    s.option_int = options::as_int;
    s.option_double = options::as_double;
    s.option_string = options::as_string;
    s.option_duration_ms = options::as_duration_ms;
    s.option_size = options::as_size;
    s.stalled_drivers = svc_stalled_drivers;
    s.driver_name = svc_driver_name;
    s.metrics_text = svc_metrics_text;
    s.listener_state = svc_listener_state;
    s.connect = svc_connect;
    s.notify_drained = svc_notify_drained;
    s.file_open = svc_file_open;
    s.file_read = svc_file_read;
    s.file_write = svc_file_write;
    s.file_fsync = svc_file_fsync;
    s.file_stat = svc_file_stat;
    s.file_close = svc_file_close;
    s.file_read_lent = svc_file_read_lent;
    s.lent_send = svc_lent_send;
    s.lent_release = svc_lent_release;
    s.lent_buffer_size = svc_lent_buffer_size;
    s.shutdown_write = svc_shutdown_write;
    s.metric_register = svc_metric_register;
    s.metric_add = svc_metric_add;
    s.metric_set = svc_metric_set;
    s.send_received = svc_send_received;
    return s;
}

constexpr gatio_services table = make_table();

} // namespace

const gatio_services& host_services() {
    return table;
}

} // namespace gatio::net
