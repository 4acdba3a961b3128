// The [admin] endpoint: GET /metrics (the Prometheus text exposition format, version 0.0.4) and
// GET /healthz, answered by gatiod's built-in admin handler (plugins/admin), served like any TCP
// listener on the first driver that does I/O.
//
// The handler is a plugin in all but packaging: net hands it the same descriptor, host and
// services as a loaded object, and it reaches health and metrics only through the services
// table (stalled_drivers, driver_name, metrics_text). What net keeps here is the listener it is
// served as and the metrics text: counters the drivers publish (relaxed atomic copies made once
// per loop turn), so answering never takes a lock and never stops another driver. Health is
// the runtime's liveness monitor (core/liveness.hpp), the one the watchdog reads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <fmt/format.h>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "core/runtime.hpp"
#include "core/topology.hpp"
#include "net/counters.hpp"
#include "net/net.hpp"
#include "net/plan.hpp"

namespace gatio::net {

struct DriverNetShared;

// The name the admin endpoint goes by in logs; no configured listener can have it.
inline constexpr std::string_view admin_listener_name = "[admin]";
// What stands for the built-in handler's path (PluginSet::admin).
inline constexpr std::string_view admin_handler_label = "(built-in admin)";
// Connections the kernel queues for it before they are accepted.
inline constexpr std::uint32_t admin_backlog = 64;

// The listener the endpoint is served as, resolved like any listener of the plan
// (net/plan.hpp): `admin.listen` on the first driver of `topology` that does I/O, with
// [admin]'s max_connections and idle_timeout, and the options the handler reads
// (max_connections, response_limit). nullopt without `admin.listen`; with `error` set when no
// driver does I/O to serve it.
std::optional<ListenerState> admin_listener(const config::AdminSection& admin, const core::Topology& topology,
                                            const NetOptions& options, std::string& error);
bool is_admin(const config::ListenerConfig& listener);

// What /metrics reads. Immutable: a reload that opens or closes listeners makes a new one.
struct MetricsCatalog {
    struct Driver {
        std::string name;
        std::string tpc;
        std::shared_ptr<const DriverNetShared> net;
    };
    struct Listener {
        std::string name;
        int driver = 0;
        std::shared_ptr<const ListenerStats> stats;
    };
    std::vector<Driver> drivers;     // by global driver index
    std::vector<Listener> listeners; // by listener name, then driver
};

// Shared by the Network, which fills it before the runtime starts and then replaces the
// catalog through messages to the admin driver, and that driver's endpoint, whose
// metrics_text service reads it.
struct AdminBoard {
    const core::Runtime* runtime = nullptr;
    std::shared_ptr<const MetricsCatalog> catalog; // the admin driver's thread once running
    fmt::memory_buffer text;                       // metrics_text's scratch, same thread
};

// Appends the metrics text for every driver and listener of `catalog` to `out`. `now_ns` is
// CLOCK_MONOTONIC, for heartbeat ages.
void render_metrics(const core::Runtime& runtime, const MetricsCatalog& catalog, std::int64_t now_ns,
                    fmt::memory_buffer& out);

// The metrics_text service of the admin listener's host (include/gatio/plugin.h).
int render_metrics_text(AdminBoard& board, char* buf, std::size_t capacity, std::size_t* len);

} // namespace gatio::net
