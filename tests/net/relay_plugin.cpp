// A test handler for send_received (ABI 1.5), on the C ABI alone. Its option `mode` says what
// on_data does with the slice it is given:
//   frame  answers "<" FIRST "|" SECOND ">", the slice's halves sent with send_received between
//          markers sent with send, so that the client sees whether held and copied bytes keep
//          their order
//   close  sends the slice back with send_received and resets the connection at once, while
//          its receive buffer is still being delivered
//   check  answers "check OUTSIDE EMPTY" with what send_received returned for a range reaching
//          past the slice and for an empty one, then "late CODE" from a timer: the call made
//          outside on_data
// A refused send_received resets the connection.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include <gatio/plugin.h>

namespace {

enum class Mode { frame, close, check };

// Each driver creates its own instance at once: the services live in it, not in a global
// every create would write.
struct Instance {
    const gatio_services* svc = nullptr;
    gatio_host* host = nullptr;
    Mode mode = Mode::frame;
};

struct Late {
    const gatio_services* svc;
    gatio_host* host;
    gatio_conn conn;
};

int create(gatio_host* host, const gatio_instance_info* info, void** instance, char* error, size_t size) {
    const gatio_services* svc = info->services;
    if (svc->struct_size < offsetof(gatio_services, send_received) + sizeof(void*)) {
        std::snprintf(error, size, "send_received is missing");
        return 1;
    }
    auto* in = new Instance{svc, host, Mode::frame};
    const char* mode = nullptr;
    if (const gatio_option* o = svc->option_get(info->options, "mode");
        o != nullptr && svc->option_string(o, &mode, nullptr) == GATIO_OK) {
        in->mode = std::strcmp(mode, "close") == 0   ? Mode::close
                   : std::strcmp(mode, "check") == 0 ? Mode::check
                                                     : Mode::frame;
    }
    *instance = in;
    return 0;
}

void destroy(void* instance) {
    delete static_cast<Instance*>(instance);
}

bool text(Instance& in, gatio_conn conn, const std::string& s) {
    return in.svc->send(in.host, conn, s.data(), s.size()) == GATIO_OK;
}

void late(gatio_host* host, void* arg) {
    auto* l = static_cast<Late*>(arg);
    static const std::uint8_t byte = 'x';
    const int r = l->svc->send_received(host, l->conn, &byte, 1);
    const std::string s = "late " + std::to_string(r) + "\n";
    l->svc->send(host, l->conn, s.data(), s.size());
    delete l;
}

std::int64_t on_data(void* instance, gatio_conn conn, void*, const std::uint8_t* data, size_t len) {
    auto& in = *static_cast<Instance*>(instance);
    switch (in.mode) {
    case Mode::frame: {
        const std::size_t half = len / 2;
        const bool ok = text(in, conn, "<") && in.svc->send_received(in.host, conn, data, half) == GATIO_OK &&
                        text(in, conn, "|") &&
                        in.svc->send_received(in.host, conn, data + half, len - half) == GATIO_OK &&
                        text(in, conn, ">");
        return ok ? static_cast<std::int64_t>(len) : GATIO_DATA_RESET;
    }
    case Mode::close:
        if (in.svc->send_received(in.host, conn, data, len) != GATIO_OK) {
            return GATIO_DATA_RESET;
        }
        in.svc->close(in.host, conn, GATIO_CLOSE_ABORT);
        return static_cast<std::int64_t>(len);
    case Mode::check: {
        const int outside = in.svc->send_received(in.host, conn, data, len + 1);
        const int empty = in.svc->send_received(in.host, conn, data + len, 0);
        text(in, conn, "check " + std::to_string(outside) + " " + std::to_string(empty) + "\n");
        in.svc->timer_start(in.host, 1, late, new Late{in.svc, in.host, conn});
        return static_cast<std::int64_t>(len);
    }
    }
    return GATIO_DATA_RESET;
}

const gatio_plugin descriptor = [] {
    gatio_plugin d{};
    d.abi_major = GATIO_ABI_MAJOR;
    d.abi_minor = GATIO_ABI_MINOR;
    d.struct_size = sizeof d;
    d.transports = GATIO_TRANSPORT_TCP;
    d.name = "relay";
    d.version = "1";
    d.instance_create = create;
    d.instance_destroy = destroy;
    d.on_data = on_data;
    return d;
}();

} // namespace

extern "C" GATIO_PLUGIN_EXPORT const gatio_plugin* gatio_plugin_entry(void) {
    return &descriptor;
}
