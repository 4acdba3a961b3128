// Network::reload and what it needs: planning which listeners stay, open, change or go, opening
// sockets and instances on running drivers, retiring the old ones, and letting go of them.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <optional>
#include <spdlog/spdlog.h>
#include <stdexcept>
#include <sys/socket.h>
#include <thread>

#include "core/tpc.hpp"
#include "net/admin.hpp"
#include "net/driver_net.hpp"
#include "net/listener_socket.hpp"
#include "net/net.hpp"

namespace gatio::net {

namespace {

// How long a message to a driver may wait for room in its queue from the main thread.
constexpr auto post_patience = std::chrono::seconds(1);

bool named(const std::vector<std::string>& names, const std::string& name) {
    return std::find(names.begin(), names.end(), name) != names.end();
}

const config::ListenerConfig* find_listener(const std::vector<config::ListenerConfig>& listeners,
                                            const std::string& name) {
    auto it = std::find_if(listeners.begin(), listeners.end(),
                           [&](const config::ListenerConfig& l) { return l.name == name; });
    return it == listeners.end() ? nullptr : &*it;
}

// `error` as a reload reports it: naming the listener first.
std::string about(const config::ListenerConfig& l, const std::string& error) {
    const std::string name = describe_listener(l);
    const std::string short_name = fmt::format("listener \"{}\"", l.name);
    return error.rfind(short_name, 0) == 0 ? error : name + ": " + error;
}

} // namespace

ListenerDiff diff_listeners(const std::vector<config::ListenerConfig>& running,
                            const std::vector<config::ListenerConfig>& next) {
    ListenerDiff out;
    for (const auto& l : next) {
        const auto* before = find_listener(running, l.name);
        if (before == nullptr) {
            out.added.push_back(l.name);
        } else if (!(*before == l)) {
            out.changed.push_back(l.name);
        }
    }
    for (const auto& l : running) {
        if (find_listener(next, l.name) == nullptr) {
            out.removed.push_back(l.name);
        }
    }
    return out;
}

// A listener the reload opens: its new generation, the one it replaces (if any), and its
// per-driver copies until they are handed to modules.
struct Network::Opening {
    ListenerShared* shared() const { return entry.shared.get(); }

    Serving entry;
    const Serving* previous = nullptr;
    std::vector<std::unique_ptr<DriverListener>> copies; // copies[k] for entry.drivers[k]
    std::vector<std::string> errors;
};

template <typename Fn>
bool Network::post_patiently(int driver, const Fn& fn) {
    const auto until = std::chrono::steady_clock::now() + post_patience;
    for (;;) {
        Fn copy = fn;
        if (runtime_.post(driver, std::move(copy))) {
            return true;
        }
        if (std::chrono::steady_clock::now() > until) {
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
}

bool Network::handler_replaced(const Serving& s) const {
    auto now = plugin_file_id(s.config.handler_path);
    return now && !(*now == s.shared->plugin->file_id());
}

std::shared_ptr<const Plugin> Network::plugin_for(const config::ListenerConfig& l, const LoadPolicy& policy,
                                                  const gatio_services& services, std::string& error) {
    auto& cached = plugins_[l.handler_path];
    auto loaded = cached.lock();
    auto now = plugin_file_id(l.handler_path);
    if (loaded && now && loaded->file_id() == *now) {
        return loaded;
    }
    // Alongside: an object loaded from this path earlier may still serve old connections.
    auto r = load_plugin(l.handler_path, policy, services, LoadAs::alongside);
    if (!r.plugin) {
        error = r.error;
        return nullptr;
    }
    std::shared_ptr<const Plugin> plugin = std::move(r.plugin);
    cached = plugin;
    return plugin;
}

void Network::collect() {
    // The drivers have let go of these; dropping the last references may unload handlers.
    std::erase_if(retired_, [](const auto& g) { return g->holders.load(std::memory_order_acquire) == 0; });
}

void Network::retire(const std::vector<Serving>& listeners) {
    using Batch = std::vector<std::pair<DriverNet*, ListenerShared*>>;
    std::map<int, std::shared_ptr<Batch>> batches;
    for (const auto& s : listeners) {
        for (std::size_t k = 0; k < s.drivers.size(); ++k) {
            if (s.modules[k] == nullptr) {
                continue; // never reached that driver
            }
            auto& batch = batches[s.drivers[k]];
            if (!batch) {
                batch = std::make_shared<Batch>();
            }
            batch->emplace_back(s.modules[k], s.shared.get());
        }
        retired_.push_back(s.shared);
    }
    for (const auto& [driver, batch] : batches) {
        auto message = [batch](core::Driver&) {
            for (const auto& [module, generation] : *batch) {
                module->retire(*generation);
            }
        };
        if (!post_patiently(driver, message)) {
            spdlog::error("reload: driver {}: its queue for the main thread stayed full; {} listener(s) it "
                          "serves could not be retired and keep serving until restart",
                          runtime_.driver(driver).name(), batch->size());
        }
    }
}

void Network::publish_catalog(bool running) {
    if (!admin_) {
        return;
    }
    auto catalog = std::make_shared<MetricsCatalog>();
    for (std::size_t i = 0; i < runtime_.driver_count(); ++i) {
        core::Driver& d = runtime_.driver(static_cast<int>(i));
        catalog->drivers.push_back({d.name(), d.tpc().name(), drivers_[i]});
    }
    for (const auto& s : serving_) {
        for (int d : s.drivers) {
            catalog->listeners.push_back({s.config.name, d, stats_for(s.config.name, d)});
        }
    }
    std::sort(catalog->listeners.begin(), catalog->listeners.end(), [](const auto& a, const auto& b) {
        return a.name != b.name ? a.name < b.name : a.driver < b.driver;
    });
    std::shared_ptr<const MetricsCatalog> published = std::move(catalog);
    if (!running) {
        admin_->catalog = published; // the start barrier hands it over
        return;
    }
    auto message = [board = admin_, published](core::Driver&) { board->catalog = published; };
    if (!post_patiently(admin_driver_, message)) {
        spdlog::error("reload: driver {}: its queue for the main thread stayed full; /metrics keeps the "
                      "listeners it had",
                      runtime_.driver(admin_driver_).name());
    }
}

std::vector<int> Network::running_drivers(const config::ListenerConfig& l, std::string& unknown) {
    std::vector<bool> chosen(runtime_.driver_count(), false);
    auto add_tpc = [&](core::Tpc& tpc) {
        bool any = false;
        for (int d : tpc.drivers()) {
            if (runtime_.driver(d).does_io()) {
                chosen[static_cast<std::size_t>(d)] = true;
                any = true;
            }
        }
        return any;
    };
    if (l.all_drivers) {
        for (std::size_t t = 0; t < runtime_.tpc_count(); ++t) {
            add_tpc(runtime_.tpc(static_cast<int>(t)));
        }
    }
    for (const auto& name : l.all_drivers ? std::vector<std::string>{} : l.drivers) {
        bool found = false;
        for (std::size_t d = 0; d < runtime_.driver_count() && !found; ++d) {
            core::Driver& driver = runtime_.driver(static_cast<int>(d));
            if (driver.name() == name && driver.does_io()) {
                chosen[d] = true;
                found = true;
            }
        }
        for (std::size_t t = 0; t < runtime_.tpc_count() && !found; ++t) {
            core::Tpc& tpc = runtime_.tpc(static_cast<int>(t));
            found = tpc.name() == name && add_tpc(tpc);
        }
        if (!found) {
            unknown = name;
            return {};
        }
    }
    std::vector<int> drivers;
    for (std::size_t d = 0; d < chosen.size(); ++d) {
        if (chosen[d]) {
            drivers.push_back(static_cast<int>(d));
        }
    }
    return drivers;
}

ReloadResult Network::reload(const config::Config& next, const LoadPolicy& policy,
                             const gatio_services& services) {
    collect();
    ReloadResult result;
    const std::size_t n = runtime_.driver_count();
    std::map<std::string, std::size_t> old_index;
    std::vector<config::ListenerConfig> running;
    for (std::size_t i = 0; i < serving_.size(); ++i) {
        old_index[serving_[i].config.name] = i;
        running.push_back(serving_[i].config);
    }
    const ListenerDiff diff = diff_listeners(running, next.listeners);

    // What becomes of each listener of the new file: kept as it is, opened anew, or (on error)
    // left as it was.
    enum class Fate { keep, open, fail };
    std::vector<Fate> fate(next.listeners.size(), Fate::fail);
    std::vector<const Serving*> previous(next.listeners.size(), nullptr);
    std::vector<std::unique_ptr<Opening>> openings(next.listeners.size());

    for (std::size_t i = 0; i < next.listeners.size(); ++i) {
        const auto& l = next.listeners[i];
        if (auto it = old_index.find(l.name); it != old_index.end()) {
            previous[i] = &serving_[it->second];
        }
        std::string unknown;
        std::vector<int> drivers = running_drivers(l, unknown);
        if (!unknown.empty()) {
            result.errors.push_back(about(
                l, fmt::format("no running driver or tpc named \"{}\" does I/O; serving it there needs a "
                               "restart with the new topology",
                               unknown)));
            continue;
        }
        const Serving* prev = previous[i];
        // Unchanged settings alone do not keep it: its drivers and its handler file must be too.
        if (prev != nullptr && !named(diff.changed, l.name) && prev->drivers == drivers &&
            !handler_replaced(*prev)) {
            fate[i] = Fate::keep;
            continue;
        }

        std::string error;
        auto plugin = plugin_for(l, policy, services, error);
        if (!plugin) {
            result.errors.push_back(about(l, error));
            continue;
        }
        if (!plugin->serves(l.transport)) {
            result.errors.push_back(
                about(l, fmt::format("plugin \"{}\" ({}) does not serve {}", l.handler_path.string(),
                                     plugin->name(), config::to_string(l.transport))));
            continue;
        }
        auto o = std::make_unique<Opening>();
        o->previous = prev;
        auto shared = std::make_shared<ListenerShared>();
        shared->plugin = plugin.get();
        shared->plugin_ref = plugin;
        shared->start_errors.assign(n, {});
        shared->pending_starts.store(static_cast<int>(drivers.size()), std::memory_order_relaxed);
        shared->holders.store(static_cast<int>(drivers.size()), std::memory_order_relaxed);
        o->entry = Serving{l, shared, drivers, std::vector<DriverNet*>(drivers.size(), nullptr), {}};
        try {
            const bool same_socket =
                prev != nullptr && prev->config.transport == l.transport && prev->config.address == l.address;
            bool kept_socket = false;
            std::vector<int> cpus;
            for (int d : drivers) {
                auto dl = std::make_unique<DriverListener>();
                dl->config = l;
                dl->shared = shared;
                dl->stats = stats_for(l.name, d);
                int kept = -1;
                if (same_socket) {
                    auto at = std::find(prev->drivers.begin(), prev->drivers.end(), d);
                    if (at != prev->drivers.end()) {
                        kept = prev->sockets[static_cast<std::size_t>(at - prev->drivers.begin())];
                    }
                }
                if (kept >= 0) {
                    // The same socket, so nothing queued on it is lost and nothing is refused.
                    dl->socket = core::Fd{::fcntl(kept, F_DUPFD_CLOEXEC, 0)};
                    if (dl->socket.get() < 0) {
                        throw std::runtime_error(fmt::format("{}: dup of its socket on driver {}: {}",
                                                             describe_listener(l), runtime_.driver(d).name(),
                                                             std::strerror(errno)));
                    }
                    if (l.transport == config::Transport::tcp && l.backlog != prev->config.backlog &&
                        ::listen(dl->socket.get(), static_cast<int>(l.backlog)) != 0) {
                        throw std::runtime_error(fmt::format("{}: listen with the new backlog: {}",
                                                             describe_listener(l), std::strerror(errno)));
                    }
                    dl->socket_file = bound_socket_file(l);
                    kept_socket = true;
                } else {
                    dl->socket = open_listener_socket(l, &dl->socket_file);
                }
                o->entry.sockets.push_back(dl->socket.get());
                cpus.push_back(runtime_.driver(d).cpu());
                o->copies.push_back(std::move(dl));
            }
            const bool was_steered = prev != nullptr && prev->config.steer_to_cpu && kept_socket;
            if (!o->entry.sockets.empty() && (l.steer_to_cpu || was_steered)) {
                const int socket = o->entry.sockets.front();
                if (l.steer_to_cpu && (!kept_socket || prev->drivers == drivers)) {
                    // The group's sockets are in driver order, as the program expects.
                    steer_to_cpus(l, socket, cpus);
                } else {
                    if (l.steer_to_cpu) {
                        spdlog::warn(
                            "{}: its drivers changed while its sockets stay; steer_to_cpu takes effect "
                            "on restart, the kernel's hash spreads connections meanwhile",
                            describe_listener(l));
                    }
                    unsteer(l, socket);
                }
            }
        } catch (const std::exception& e) {
            result.errors.push_back(about(l, e.what()));
            continue;
        }
        fate[i] = Fate::open;
        openings[i] = std::move(o);
    }

    // One module per driver for everything this reload opens there.
    std::vector<std::vector<std::unique_ptr<DriverListener>>> per_driver(n);
    std::vector<std::vector<std::pair<Opening*, std::size_t>>> placed(n);
    for (auto& o : openings) {
        if (!o) {
            continue;
        }
        for (std::size_t k = 0; k < o->copies.size(); ++k) {
            auto d = static_cast<std::size_t>(o->entry.drivers[k]);
            placed[d].emplace_back(o.get(), k);
            per_driver[d].push_back(std::move(o->copies[k]));
        }
    }
    for (std::size_t d = 0; d < n; ++d) {
        if (per_driver[d].empty()) {
            continue;
        }
        core::Driver& driver = runtime_.driver(static_cast<int>(d));
        std::uint64_t wanted = 0;
        for (const auto& dl : per_driver[d]) {
            if (dl->config.transport == config::Transport::tcp) {
                wanted += std::uint64_t{dl->config.max_connections} + dl->config.max_outbound;
            }
        }
        // Direct descriptors only while the table has room for all of them beside the
        // connections the driver's other modules may hold.
        const std::uint64_t table = driver.features().file_slots;
        const std::uint64_t claimed = drivers_[d]->direct_claimed.load(std::memory_order_relaxed);
        const bool direct =
            driver.features().direct_descriptors && claimed <= table && wanted <= table - claimed;
        if (driver.features().direct_descriptors && !direct) {
            spdlog::info(
                "reload: driver {}: its direct-descriptor table has no room for {} more connections; "
                "the listeners opened there use regular descriptors until restart",
                driver.name(), wanted);
        }
        auto net = DriverNet::while_running(options_, std::move(per_driver[d]), drivers_[d], direct);
        for (const auto& [o, k] : placed[d]) {
            o->entry.modules[k] = net.get();
        }
        std::unique_ptr<core::DriverModule> module = std::move(net);
        const auto until = std::chrono::steady_clock::now() + post_patience;
        while (!runtime_.attach_running(static_cast<int>(d), module) &&
               std::chrono::steady_clock::now() < until) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        if (module) {
            // Never reached the driver: its copies close with it, and this driver holds none.
            for (const auto& [o, k] : placed[d]) {
                o->entry.modules[k] = nullptr;
                o->shared()->holders.fetch_sub(1, std::memory_order_relaxed);
                o->errors.push_back(
                    fmt::format("driver {}: its queue for the main thread stayed full", driver.name()));
                o->shared()->pending_starts.fetch_sub(1, std::memory_order_relaxed);
            }
        }
    }

    // Every driver reports each new instance, started or not; the reload waits for all.
    const auto deadline = std::chrono::steady_clock::now() + options_.reload_start_timeout;
    auto all_reported = [&] {
        return std::all_of(openings.begin(), openings.end(), [](const auto& o) {
            return !o || o->shared()->pending_starts.load(std::memory_order_acquire) == 0;
        });
    };
    while (!all_reported() && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }

    std::vector<Serving> retiring;
    std::vector<Serving> in_force;
    for (std::size_t i = 0; i < next.listeners.size(); ++i) {
        const auto& l = next.listeners[i];
        const Serving* prev = previous[i];
        if (fate[i] == Fate::open) {
            Opening& o = *openings[i];
            if (o.shared()->pending_starts.load(std::memory_order_acquire) != 0) {
                o.errors.push_back(fmt::format("its instances did not start within {} ms",
                                               options_.reload_start_timeout.count()));
            } else {
                for (int d : o.entry.drivers) {
                    const std::string& e = o.shared()->start_errors[static_cast<std::size_t>(d)];
                    if (!e.empty()) {
                        o.errors.push_back(fmt::format("driver {}: {}", runtime_.driver(d).name(), e));
                    }
                }
            }
            if (o.errors.empty()) {
                (prev != nullptr ? result.changed : result.added).push_back(l.name);
                if (prev != nullptr) {
                    retiring.push_back(*prev);
                }
                in_force.push_back(std::move(o.entry));
                continue;
            }
            for (const auto& e : o.errors) {
                result.errors.push_back(about(l, e));
            }
            // Its instances that did start go again; a message queued behind a late start
            // still finds it, since each driver takes its messages in order.
            retiring.push_back(std::move(o.entry));
            fate[i] = Fate::fail;
        }
        if (prev != nullptr) {
            in_force.push_back(*prev); // unchanged, or kept after the error reported above
        }
    }
    for (const auto& s : serving_) {
        if (named(diff.removed, s.config.name)) {
            result.removed.push_back(s.config.name);
            retiring.push_back(s);
        }
    }
    retire(retiring);
    serving_ = std::move(in_force);

    // Counters of listeners (or drivers of a listener) that are gone leave /metrics.
    std::erase_if(stats_, [this](const auto& entry) {
        const auto& [name, driver] = entry.first;
        return std::none_of(serving_.begin(), serving_.end(), [&](const Serving& s) {
            return s.config.name == name &&
                   std::find(s.drivers.begin(), s.drivers.end(), driver) != s.drivers.end();
        });
    });
    if (!result.added.empty() || !result.removed.empty() || !result.changed.empty()) {
        publish_catalog(true);
    }
    for (const auto& s : serving_) {
        result.in_force.push_back(s.config);
    }
    return result;
}

} // namespace gatio::net
