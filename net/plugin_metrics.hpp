// Metrics a handler defines (gatio_services' metric_register, metric_add, metric_set, ABI 1.4):
// the series one listener's instances on one driver registered, kept with that listener's
// counters (ListenerStats) so that they carry on across reloads and /metrics renders them with
// the host's own families.
//
// Threads: the owning driver registers and updates; the admin driver renders. A value is one
// relaxed atomic written by its driver alone, so an update takes no lock. Registering appends
// under the mutex, which rendering also takes; series never move (a deque grows at its end), so
// the owner reads and updates them without it.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <gatio/plugin.h>

namespace gatio::net {

class PluginMetrics {
public:
    struct Series {
        std::string name;
        std::string help;
        std::string labels; // the handler's labels, rendered ("k=\"v\",..."), maybe empty
        std::uint32_t type = 0;
        std::atomic<std::int64_t> value{0};
    };

    // The owning driver. Validates args (names, labels, type) and registers the series, or
    // returns the one registered before with the same name and labels (a reload's new instance
    // carries on its predecessor's values). GATIO_ERR_INVALID for bad arguments or a name
    // registered with another type or help, GATIO_ERR_LIMIT past GATIO_METRIC_MAX_SERIES.
    int add(const gatio_metric_args& args, gatio_metric* out);
    // The owning driver; GATIO_ERR_INVALID for a handle it did not give out.
    int update(gatio_metric metric, std::int64_t value, bool relative);

    // Any thread: fn(series, value) for each series in registration order (rendering).
    template <typename Fn>
    void each(Fn fn) const {
        std::lock_guard lock(mutex_);
        for (const Series& s : series_) {
            fn(s, s.value.load(std::memory_order_relaxed));
        }
    }

private:
    mutable std::mutex mutex_;
    std::deque<Series> series_;
    std::size_t count_ = 0; // series_.size(), read by the owner without the mutex
};

// Whether `name` suits a metric family name or a label name of the text format (a letter or '_'
// first, then letters, digits and '_'); label names may not start with "__".
bool valid_metric_name(std::string_view name);

} // namespace gatio::net
