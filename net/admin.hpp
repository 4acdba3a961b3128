// The [admin] endpoint: GET /metrics (the Prometheus text exposition format, version 0.0.4) and
// GET /healthz, answered by a handler built into gatiod that is served like any TCP listener,
// on the first driver that does I/O.
//
// Everything it reports comes from counters the drivers publish (relaxed atomic copies made
// once per loop turn), so answering never takes a lock and never stops another driver. Health
// is judged from heartbeats: the handler posts each other driver a no-op every half
// health_stall_after, which makes an idle driver turn its loop; a driver whose heartbeat and
// whose unanswered probe are both older than health_stall_after is stalled.
#pragma once

#include <cstdint>
#include <fmt/format.h>
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "core/runtime.hpp"
#include "core/topology.hpp"
#include "net/counters.hpp"
#include "net/net.hpp"
#include "net/plugin_loader.hpp"

namespace gatio::net {

struct DriverNetShared;

// The name the admin endpoint goes by in logs; no configured listener can have it.
inline constexpr std::string_view admin_listener_name = "[admin]";

// The listener the endpoint is served as: config.admin.listen on `driver`, at most
// admin_max_connections connections, closed after 60 s idle. Requires config.admin.listen.
config::ListenerConfig admin_listener(const config::Config& config, const core::DriverPlan& driver,
                                      const NetOptions& options);
// The first driver of `topology` that does I/O, or -1.
int admin_driver(const core::Topology& topology);
// The built-in handler.
std::shared_ptr<const Plugin> admin_plugin();

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
// catalog through messages to the admin driver, and the handler's instance on that driver.
struct AdminBoard {
    const core::Runtime* runtime = nullptr;
    NetOptions options;
    std::shared_ptr<const MetricsCatalog> catalog; // the admin driver's thread once running
};

// Appends the metrics text for every driver and listener of `catalog` to `out`. `now_ns` is
// CLOCK_MONOTONIC, for heartbeat ages.
void render_metrics(const core::Runtime& runtime, const MetricsCatalog& catalog, std::int64_t now_ns,
                    fmt::memory_buffer& out);

} // namespace gatio::net
