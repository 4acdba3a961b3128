// A test handler written in C++ straight against the C ABI (no plugin.hpp), so that exceptions
// escape from every callback into gatiod, and that misuses the host services on purpose. One
// command per line:
//   ping            answer "pong\n"
//   throw data      throw from on_data
//   throw task      spawn a task whose run throws
//   throw done      spawn a task whose done throws
//   throw timer     start a timer whose callback throws
//   throw post      post a function that throws to this driver
//   throw eof       throw from on_eof when the peer's FIN arrives
//   throw close     close the connection; on_close throws
//   hold MS         start a timer MS ms away, answer "held HANDLE\n"; it answers "timer\n"
//   cancel HANDLE   answer "cancel RESULT\n" with timer_cancel's result for HANDLE
//   delay MS        answer "delay HANDLE\n" with timer_start's result for MS (cancelled again)
//   foreign         call services from another thread, answer "foreign SEND START CANCEL USER"
//                   with what they returned (0 for the refused timer and user pointer)
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>

#include <gatio/plugin.h>

namespace {

const gatio_services* services = nullptr;

struct Instance {
    gatio_host* host;
    std::uint32_t driver;
    gatio_conn throw_on_eof = 0;
    gatio_conn throw_on_close = 0;
    gatio_conn holder = 0; // answered by the hold timer
};

void send_text(gatio_host* host, gatio_conn conn, const std::string& text) {
    services->send(host, conn, text.data(), text.size());
}

std::uint64_t number(std::string_view s) {
    return std::stoull(std::string(s));
}

int init(const gatio_services* s, char*, std::size_t) {
    services = s;
    return 0;
}

int create(gatio_host* host, const gatio_instance_info* info, void** instance, char*, std::size_t) {
    *instance = new Instance{host, info->driver_index};
    return 0;
}

void destroy(void* instance) {
    delete static_cast<Instance*>(instance);
}

void spawn(Instance& in, void (*run)(void*), void (*done)(gatio_host*, void*)) {
    gatio_task t{};
    t.struct_size = sizeof t;
    t.placement = GATIO_PLACE_SAME_DRIVER;
    t.priority = GATIO_PRIORITY_LATENCY;
    t.run = run;
    t.done = done;
    t.arg = &in;
    services->spawn(in.host, &t);
}

void command(Instance& in, gatio_conn conn, std::string_view line) {
    if (line == "ping") {
        send_text(in.host, conn, "pong\n");
    } else if (line == "throw data") {
        throw std::runtime_error("data fault");
    } else if (line == "throw task") {
        spawn(
            in, [](void*) { throw std::runtime_error("task fault"); }, nullptr);
    } else if (line == "throw done") {
        spawn(
            in, [](void*) {}, [](gatio_host*, void*) { throw std::runtime_error("done fault"); });
    } else if (line == "throw timer") {
        services->timer_start(
            in.host, 1, [](gatio_host*, void*) { throw std::runtime_error("timer fault"); }, nullptr);
    } else if (line == "throw post") {
        services->post(
            in.host, in.driver, [](void*) { throw 42; }, nullptr);
    } else if (line == "throw eof") {
        in.throw_on_eof = conn;
    } else if (line == "throw close") {
        in.throw_on_close = conn;
        services->close(in.host, conn, GATIO_CLOSE_FLUSH);
    } else if (line.starts_with("hold ")) {
        in.holder = conn;
        gatio_timer t = services->timer_start(
            in.host, number(line.substr(5)),
            [](gatio_host* h, void* a) { send_text(h, static_cast<Instance*>(a)->holder, "timer\n"); }, &in);
        send_text(in.host, conn, "held " + std::to_string(t) + "\n");
    } else if (line.starts_with("cancel ")) {
        int rc = services->timer_cancel(in.host, number(line.substr(7)));
        send_text(in.host, conn, "cancel " + std::to_string(rc) + "\n");
    } else if (line.starts_with("delay ")) {
        gatio_timer t = services->timer_start(
            in.host, number(line.substr(6)), [](gatio_host*, void*) {}, nullptr);
        if (t != 0) {
            services->timer_cancel(in.host, t);
        }
        send_text(in.host, conn, "delay " + std::to_string(t) + "\n");
    } else if (line == "foreign") {
        int sent = 0, cancelled = 0;
        gatio_timer started = 0;
        void* user = nullptr;
        std::thread other([&] {
            sent = services->send(in.host, conn, "x", 1);
            started = services->timer_start(
                in.host, 1000, [](gatio_host*, void*) {}, nullptr);
            cancelled = services->timer_cancel(in.host, started);
            user = services->get_user(in.host, conn);
        });
        other.join();
        send_text(in.host, conn,
                  "foreign " + std::to_string(sent) + ' ' + std::to_string(started) + " " +
                      std::to_string(cancelled) + ' ' + std::to_string(user != nullptr) + "\n");
    } else {
        send_text(in.host, conn, "unknown " + std::string(line) + "\n");
    }
}

int open(void*, gatio_conn, const gatio_conn_info*, void** user) {
    *user = &services; // any non-null marker, for "foreign"
    return 0;
}

std::int64_t data(void* instance, gatio_conn conn, void*, const std::uint8_t* bytes, std::size_t len) {
    auto& in = *static_cast<Instance*>(instance);
    std::size_t used = 0;
    while (const void* nl = std::memchr(bytes + used, '\n', len - used)) {
        std::string_view line(reinterpret_cast<const char*>(bytes) + used,
                              static_cast<std::size_t>(static_cast<const std::uint8_t*>(nl) - bytes) - used);
        used += line.size() + 1;
        command(in, conn, line);
    }
    return static_cast<std::int64_t>(used);
}

int eof(void* instance, gatio_conn conn, void*) {
    if (static_cast<Instance*>(instance)->throw_on_eof == conn) {
        throw std::runtime_error("eof fault");
    }
    return GATIO_EOF_CLOSE;
}

void close(void* instance, gatio_conn conn, void*, int) {
    if (static_cast<Instance*>(instance)->throw_on_close == conn) {
        throw std::runtime_error("close fault");
    }
}

constexpr gatio_plugin make_descriptor() {
    gatio_plugin d{};
    d.abi_major = GATIO_ABI_MAJOR;
    d.abi_minor = GATIO_ABI_MINOR;
    d.struct_size = sizeof d;
    d.transports = GATIO_TRANSPORT_TCP;
    d.name = "faults";
    d.version = "test";
    d.max_unconsumed = 256;
    d.init = init;
    d.instance_create = create;
    d.instance_destroy = destroy;
    d.on_open = open;
    d.on_data = data;
    d.on_eof = eof;
    d.on_close = close;
    return d;
}

constexpr gatio_plugin descriptor = make_descriptor();

} // namespace

extern "C" GATIO_PLUGIN_EXPORT const gatio_plugin* gatio_plugin_entry(void) {
    return &descriptor;
}
