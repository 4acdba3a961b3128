// The one engine for the listener set: a start and a reload both plan (net/plan.hpp) from the
// running set to the wanted one, build the new generations (sockets and per-driver copies),
// hand them to their drivers, and settle what is in force. A start plans from the empty set
// and attaches before the drivers run; a reload attaches to running drivers and waits for
// each to report its instances.
#include <algorithm>
#include <cassert>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <stdexcept>
#include <sys/socket.h>

#include "core/tpc.hpp"
#include "net/admin.hpp"
#include "net/descriptor_limit.hpp"
#include "net/driver_net.hpp"
#include "net/listener_socket.hpp"
#include "net/net.hpp"

namespace gatio::net {

namespace {

// How long a message to a driver may wait for room in its queue from the main thread.
constexpr auto post_patience = std::chrono::seconds(1);

// `error` as a reload reports it: naming the listener first.
std::string about(const config::ListenerConfig& l, const std::string& error) {
    const std::string short_name = fmt::format("listener \"{}\"", l.name);
    return error.rfind(short_name, 0) == 0 ? error : describe_listener(l) + ": " + error;
}

// Where `driver` is among a listener's drivers; callers ask only for drivers that serve it.
std::size_t position(const std::vector<int>& drivers, int driver) {
    for (std::size_t i = 0; i < drivers.size(); ++i) {
        if (drivers[i] == driver) {
            return i;
        }
    }
    throw std::logic_error(fmt::format("driver {} does not serve this listener", driver));
}

bool serves(const std::vector<int>& drivers, int driver) {
    return std::find(drivers.begin(), drivers.end(), driver) != drivers.end();
}

// The configured listeners of `serving`, in file order: all but [admin]'s endpoint.
template <typename Serving>
std::vector<config::ListenerConfig> configured(const std::vector<Serving>& serving) {
    std::vector<config::ListenerConfig> out;
    for (const auto& s : serving) {
        if (!is_admin(s.state.settings)) {
            out.push_back(s.state.settings);
        }
    }
    return out;
}

} // namespace

// A new generation of one listener: what it will serve as, and its per-driver copies until
// they are handed to modules.
struct Network::Opening {
    ListenerShared& shared() const { return *entry.shared; }

    const ListenerStep* step = nullptr;
    Serving entry;
    std::vector<std::unique_ptr<DriverListener>> copies; // copies[k] for entry.state.drivers[k]
    std::vector<std::string> errors;
    bool kept_sockets = false; // shares sockets with the generation it replaces
    std::vector<int> cpus;     // of entry.state.drivers, for steering
};

// Everything one apply hands to one driver: one module's listeners, and whose they are.
struct Network::Batch {
    std::vector<std::unique_ptr<DriverListener>> copies;
    std::vector<std::pair<Opening*, std::size_t>> placed; // copies[i] is placed[i].first's k-th
};

template <typename Fn>
bool Network::post_patiently(int driver, const Fn& fn) {
    // While the queue is full, the driver taking messages wakes this thread.
    return runtime_.post_by(driver, Fn{fn}, std::chrono::steady_clock::now() + post_patience);
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

std::shared_ptr<std::atomic<std::uint32_t>> Network::connections_of(const std::string& name) {
    auto& known = connection_counts_[name];
    auto count = known.lock();
    if (!count) {
        count = std::make_shared<std::atomic<std::uint32_t>>(0);
        known = count;
    }
    return count;
}

std::vector<ListenerState> Network::running_set() const {
    std::vector<ListenerState> out;
    for (const auto& s : serving_) {
        out.push_back(s.state);
    }
    return out;
}

std::vector<ListenerState> Network::wanted_set(const config::Config& next,
                                               std::vector<std::string>& errors) const {
    std::vector<ListenerState> out;
    for (const auto& l : next.listeners) {
        core::DriverChoice choice = core::choose_drivers(topology_, l);
        // The new file passed this check on its own topology; a new topology waits for a
        // restart, so the running drivers are checked too.
        for (const auto& d : core::driver_differences(topology_, choice.drivers)) {
            errors.push_back(
                about(l, fmt::format("its running drivers \"{}\" and \"{}\" differ in {} ({} and {}); "
                                     "every driver serving a listener needs the same {}",
                                     topology_.driver(d.a).name, topology_.driver(d.b).name, d.key, d.value_a,
                                     d.value_b, d.key)));
        }
        if (choice.errors.empty()) {
            out.push_back({l, std::move(choice.drivers), plugin_file_id(l.handler_path)});
            continue;
        }
        for (const auto& e : choice.errors) {
            errors.push_back(about(l, e + " among the running drivers; serving it there needs a restart"));
        }
        auto running = std::find_if(serving_.begin(), serving_.end(),
                                    [&](const Serving& s) { return s.state.settings.name == l.name; });
        if (running != serving_.end()) {
            out.push_back(running->state); // planned as kept
        }
    }
    // Resolved again on the same topology from the same section, so it is always kept.
    std::string error;
    if (auto admin = admin_listener(admin_section_, topology_, options_, error)) {
        out.push_back(std::move(*admin));
    }
    assert(error.empty()); // it was served, so a driver does I/O
    return out;
}

core::Fd Network::socket_for(const ListenerStep& step, int driver, const InheritedSockets& inherited,
                             bool& kept, std::shared_ptr<SocketFile>* file) const {
    const config::ListenerConfig& l = step.next->settings;
    kept = false;
    if (step.same_sockets && serves(step.running->drivers, driver)) {
        const Serving* prev = nullptr;
        for (const auto& s : serving_) {
            prev = s.state.settings.name == l.name ? &s : prev;
        }
        if (prev == nullptr) { // the plan keeps sockets only of listeners it found serving
            throw std::logic_error(describe_listener(l) + ": the plan keeps a socket nothing serves");
        }
        // The same socket, so nothing queued on it is lost and nothing is refused.
        core::Fd fd{::fcntl(prev->sockets[position(prev->state.drivers, driver)], F_DUPFD_CLOEXEC, 0)};
        if (fd.get() < 0) {
            throw std::runtime_error(fmt::format("{}: dup of its socket on driver {}: {}",
                                                 describe_listener(l), topology_.driver(driver).name,
                                                 std::strerror(errno)));
        }
        kept = true; // its backlog and steering change only once the reload commits
        *file = bound_socket_file(l);
        return fd;
    }
    if (auto passed = inherited.find(l.name); passed != inherited.end()) {
        return adopt_listener_socket(
            l, passed->second, fmt::format("the socket passed as \"{}\" (fd {})", l.name, passed->second));
    }
    return open_listener_socket(l, file);
}

void Network::steer(const ListenerStep& step, const Opening& o, const std::vector<int>& cpus, bool kept,
                    bool adopted) {
    const config::ListenerConfig& l = step.next->settings;
    const bool was_steered = kept && step.running->settings.steer_to_cpu;
    if (o.entry.sockets.empty() || (!l.steer_to_cpu && !was_steered)) {
        return;
    }
    const int socket = o.entry.sockets.front();
    if (adopted) {
        spdlog::warn("{}: steer_to_cpu ignored: its drivers share the socket passed as \"{}\"",
                     describe_listener(l), l.name);
    } else if (l.steer_to_cpu && (!kept || step.running->drivers == step.next->drivers)) {
        // The group's sockets are in driver order, as the program expects.
        steer_to_cpus(l, socket, cpus);
    } else {
        if (l.steer_to_cpu) {
            spdlog::warn("{}: its drivers changed while its sockets stay; steer_to_cpu takes effect on "
                         "restart, the kernel's hash spreads connections meanwhile",
                         describe_listener(l));
        }
        unsteer(l, socket);
    }
}

std::unique_ptr<Network::Opening> Network::build_one(const ListenerStep& step,
                                                     std::shared_ptr<const Plugin> plugin,
                                                     const InheritedSockets& inherited, bool running) {
    assert(step.step == Step::open || step.step == Step::change);
    const ListenerState& next = *step.next;
    const auto drivers = static_cast<int>(next.drivers.size());
    auto shared = std::make_shared<ListenerShared>();
    shared->plugin = plugin.get();
    shared->plugin_ref = plugin;
    const bool admin = is_admin(next.settings);
    if (admin) {
        shared->admin = admin_; // what its metrics_text service reads; it keeps no listener state
    } else {
        shared->state = state_for(next.settings.name);
    }
    shared->holders.store(drivers, std::memory_order_relaxed);
    if (running) {
        shared->start_errors.assign(runtime_.driver_count(), {});
        shared->pending_starts.store(drivers, std::memory_order_relaxed);
    }
    auto o = std::make_unique<Opening>();
    o->step = &step;
    shared->connections = connections_of(next.settings.name);
    o->entry = Serving{next,
                       shared,
                       std::vector<DriverNet*>(next.drivers.size(), nullptr),
                       {},
                       std::vector<bool>(next.drivers.size(), true)};
    o->entry.state.handler = plugin->file_id();
    bool kept = false;
    std::vector<int> cpus;
    // In driver order, so that the reuseport group's socket indexes follow it.
    for (int d : next.drivers) {
        auto dl = std::make_unique<DriverListener>();
        dl->config = next.settings;
        dl->shared = shared;
        dl->stats = stats_for(next.settings.name, d);
        bool kept_here = false;
        dl->socket = socket_for(step, d, inherited, kept_here, &dl->socket_file);
        kept = kept || kept_here;
        o->entry.sockets.push_back(dl->socket.get());
        cpus.push_back(topology_.driver(d).cpu);
        o->copies.push_back(std::move(dl));
    }
    o->kept_sockets = kept;
    o->cpus = std::move(cpus);
    if (!kept) {
        steer(step, *o, o->cpus, false, inherited.contains(next.settings.name));
    }
    if (!admin) {
        plugins_[next.settings.handler_path] = plugin;
    }
    return o;
}

std::vector<std::unique_ptr<Network::Opening>> Network::build(const Plan& plan, const PluginSource& plugins,
                                                              const InheritedSockets& inherited, bool running,
                                                              std::vector<std::string>& errors) {
    std::vector<std::unique_ptr<Opening>> out;
    for (const auto& step : plan.listeners) {
        if (step.step != Step::open && step.step != Step::change) {
            continue;
        }
        const config::ListenerConfig& l = step.next->settings;
        std::string error;
        auto plugin = plugins(l, error);
        if (!plugin) {
            errors.push_back(about(l, error));
            continue;
        }
        if (!plugin->serves(l.transport)) {
            errors.push_back(
                about(l, fmt::format("plugin \"{}\" ({}) does not serve {}", l.handler_path.string(),
                                     plugin->name(), config::to_string(l.transport))));
            continue;
        }
        try {
            out.push_back(build_one(step, std::move(plugin), inherited, running));
        } catch (const std::exception& e) {
            errors.push_back(about(l, e.what()));
        }
    }
    return out;
}

std::vector<Network::Batch> Network::batches(std::vector<std::unique_ptr<Opening>>& openings) const {
    std::vector<Batch> out(runtime_.driver_count());
    for (auto& o : openings) {
        assert(o->copies.size() == o->entry.state.drivers.size());
        for (std::size_t k = 0; k < o->copies.size(); ++k) {
            Batch& b = out.at(static_cast<std::size_t>(o->entry.state.drivers[k]));
            b.placed.emplace_back(o.get(), k);
            b.copies.push_back(std::move(o->copies[k]));
        }
    }
    return out;
}

void Network::collect() {
    // The drivers have let go of these; dropping the last references may unload handlers.
    std::erase_if(retired_, [](const auto& g) { return g->holders.load(std::memory_order_acquire) == 0; });
    // A listener no longer configured keeps its state only while a retiring generation holds it.
    std::erase_if(states_, [this](const auto& entry) {
        return std::none_of(serving_.begin(), serving_.end(),
                            [&](const Serving& s) { return s.state.settings.name == entry.first; });
    });
}

void Network::retire(const std::vector<Serving>& listeners) {
    using Retirements = std::vector<std::pair<DriverNet*, ListenerShared*>>;
    std::map<int, std::shared_ptr<Retirements>> batches;
    for (const auto& s : listeners) {
        for (std::size_t k = 0; k < s.state.drivers.size(); ++k) {
            if (s.modules[k] == nullptr) {
                continue; // never reached that driver
            }
            auto& batch = batches[s.state.drivers[k]];
            if (!batch) {
                batch = std::make_shared<Retirements>();
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
        if (is_admin(s.state.settings)) {
            continue; // its connections count in the driver series only
        }
        for (int d : s.state.drivers) {
            catalog->listeners.push_back({s.state.settings.name, d, stats_for(s.state.settings.name, d)});
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

void Network::attach_at_start(std::vector<Batch>& batches) {
    for (std::size_t d = 0; d < batches.size(); ++d) {
        Batch& b = batches[d];
        if (b.copies.empty()) {
            continue;
        }
        auto module = std::make_unique<DriverNet>(options_, std::move(b.copies), drivers_[d]);
        for (const auto& [o, k] : b.placed) {
            o->entry.modules[k] = module.get();
        }
        runtime_.attach(static_cast<int>(d), std::move(module));
    }
}

std::uint64_t Network::direct_wanted(const config::ListenerConfig& l, int driver, std::uint64_t table) const {
    const std::uint64_t want = direct_claim(l, table);
    std::uint64_t claimed = 0; // by the generation it replaces, which shares its connection count
    for (const auto& s : serving_) {
        if (s.state.settings.name == l.name && serves(s.state.drivers, driver) &&
            s.direct[position(s.state.drivers, driver)]) {
            claimed = direct_claim(s.state.settings, table);
        }
    }
    return want > claimed ? want - claimed : 0;
}

bool Network::allow_direct(const Batch& b, int d) const {
    core::Driver& driver = runtime_.driver(d);
    if (!driver.features().direct_descriptors) {
        return false;
    }
    const std::uint64_t table = driver.features().file_slots;
    std::uint64_t wanted = 0;
    for (const auto& dl : b.copies) {
        wanted += direct_wanted(dl->config, d, table);
    }
    // Only while the table has room for the claims of these listeners' names beside those of
    // the names the driver serves already.
    const std::uint64_t claimed =
        drivers_[static_cast<std::size_t>(d)]->direct_claimed.load(std::memory_order_relaxed);
    if (claimed <= table && wanted <= table - claimed) {
        return true;
    }
    spdlog::info("reload: driver {}: its direct-descriptor table has no room for {} more connections; the "
                 "listeners opened there use regular descriptors until restart",
                 driver.name(), wanted);
    return false;
}

void Network::attach_while_running(std::vector<Batch>& batches, const std::shared_ptr<StartAcks>& acks) {
    for (std::size_t d = 0; d < batches.size(); ++d) {
        Batch& b = batches[d];
        if (b.copies.empty()) {
            continue;
        }
        const int index = static_cast<int>(d);
        const bool direct = allow_direct(b, index);
        auto net = DriverNet::while_running(options_, std::move(b.copies), drivers_[d], index, direct, acks);
        for (const auto& [o, k] : b.placed) {
            o->entry.direct[k] = direct;
            o->entry.modules[k] = net.get();
        }
        std::string failed;
        try {
            net->prepare(runtime_.driver(index)); // off the driver's thread
        } catch (const std::exception& e) {
            failed = e.what();
        }
        std::unique_ptr<core::DriverModule> module = std::move(net);
        if (failed.empty() &&
            runtime_.attach_running_by(index, module, std::chrono::steady_clock::now() + post_patience)) {
            continue;
        }
        // Never reached the driver: its copies close with it (reporting their start as failed),
        // and this driver holds none.
        if (failed.empty()) {
            failed = "its queue for the main thread stayed full";
        }
        for (const auto& [o, k] : b.placed) {
            o->entry.modules[k] = nullptr;
            o->shared().holders.fetch_sub(1, std::memory_order_relaxed);
            o->errors.push_back(fmt::format("driver {}: {}", runtime_.driver(index).name(), failed));
        }
        module.reset();
    }
}

// What the drivers reported for `o`'s instances.
void Network::check_started(Opening& o) const {
    if (o.shared().pending_starts.load(std::memory_order_acquire) != 0) {
        o.errors.push_back(
            fmt::format("its instances did not start within {} ms", options_.reload_start_timeout.count()));
        return;
    }
    for (int d : o.entry.state.drivers) {
        const std::string& e = o.shared().start_errors[static_cast<std::size_t>(d)];
        if (!e.empty()) {
            o.errors.push_back(fmt::format("driver {}: {}", topology_.driver(d).name, e));
        }
    }
}

// What changes on sockets the old generation still serves from, once nothing can fail the
// reload any more: their backlog and their steering. Failures are logged; the sockets serve.
void Network::change_kept_sockets(const Opening& o) {
    const ListenerStep& step = *o.step;
    const config::ListenerConfig& l = step.next->settings;
    try {
        if (l.transport == config::Transport::tcp && l.backlog != step.running->settings.backlog) {
            for (int fd : o.entry.sockets) {
                if (::listen(fd, static_cast<int>(l.backlog)) != 0) {
                    throw std::runtime_error(fmt::format("{}: listen with the new backlog: {}",
                                                         describe_listener(l), std::strerror(errno)));
                }
            }
        }
        steer(step, o, o.cpus, true, false);
    } catch (const std::exception& e) {
        spdlog::error("reload: {}; its sockets serve on as they were", e.what());
    }
}

void Network::settle(const Plan& plan, std::vector<std::unique_ptr<Opening>>& openings,
                     ReloadResult& result) {
    for (auto& o : openings) {
        check_started(*o);
        for (const auto& e : o->errors) {
            result.errors.push_back(about(o->entry.state.settings, e));
        }
    }
    std::vector<Serving> retiring;
    if (!result.errors.empty()) {
        // Not applied: every new generation goes again, the running set stays as it was. A
        // retirement queued behind a late start still finds it: each driver takes its
        // messages in order. Once stopping, a driver may have destroyed a module unstarted,
        // and every module stops anyway.
        for (auto& o : openings) {
            retiring.push_back(std::move(o->entry));
        }
        if (!runtime_.stop_requested()) {
            retire(retiring);
        }
        result.in_force = configured(serving_);
        return;
    }
    std::map<std::string, Serving> next;
    for (auto& o : openings) {
        if (o->kept_sockets) {
            change_kept_sockets(*o);
        }
        next.emplace(o->entry.state.settings.name, std::move(o->entry));
    }
    std::vector<Serving> in_force;
    for (const auto& step : plan.listeners) {
        auto prev = std::find_if(serving_.begin(), serving_.end(),
                                 [&](const Serving& s) { return s.state.settings.name == step.name; });
        assert((prev != serving_.end()) == (step.running != nullptr));
        if (step.step != Step::keep) {
            (step.step == Step::open     ? result.added
             : step.step == Step::change ? result.changed
                                         : result.removed)
                .push_back(step.name);
        }
        if (step.step == Step::retire || step.step == Step::change) {
            retiring.push_back(*prev);
        }
        if (step.step == Step::keep) {
            in_force.push_back(*prev);
        } else if (step.step != Step::retire) {
            assert(next.contains(step.name));
            in_force.push_back(std::move(next.at(step.name)));
        }
    }
    result.applied = true;
    retire(retiring);
    serving_ = std::move(in_force);
    result.in_force = configured(serving_);
}

void Network::forget_gone_stats() {
    std::erase_if(connection_counts_, [](const auto& entry) { return entry.second.expired(); });
    // Counters of listeners (or drivers of a listener) that are gone leave /metrics.
    std::erase_if(stats_, [this](const auto& entry) {
        const auto& [name, driver] = entry.first;
        return std::none_of(serving_.begin(), serving_.end(), [&](const Serving& s) {
            return s.state.settings.name == name && serves(s.state.drivers, driver);
        });
    });
}

ReloadResult Network::reload(const config::Config& next, const LoadPolicy& policy,
                             const gatio_services& services) {
    collect();
    ReloadResult result;
    const std::vector<ListenerState> running = running_set();
    const std::vector<ListenerState> wanted = wanted_set(next, result.errors);
    const Plan plan = plan_listeners(running, wanted);
    auto openings = build(
        plan,
        [&](const config::ListenerConfig& l, std::string& error) {
            return is_admin(l) ? admin_plugin_ : plugin_for(l, policy, services, error);
        },
        {}, true, result.errors);
    if (!result.errors.empty()) {
        // Not applied: what was built closes unused, and nothing reached a driver.
        openings.clear();
        result.in_force = configured(serving_);
        forget_gone_stats();
        return result;
    }
    auto per_driver = batches(openings);
    const auto modules =
        std::count_if(per_driver.begin(), per_driver.end(), [](const Batch& b) { return !b.copies.empty(); });
    auto acks = std::make_shared<StartAcks>(static_cast<int>(modules));
    attach_while_running(per_driver, acks);
    // Every driver reports each new instance, started or not; settle() names the late ones.
    acks->wait_until(std::chrono::steady_clock::now() + options_.reload_start_timeout);
    settle(plan, openings, result);
    forget_gone_stats();
    if (!result.added.empty() || !result.removed.empty() || !result.changed.empty()) {
        publish_catalog(true);
    }
    return result;
}

AttachResult attach_listeners(core::Runtime& runtime, const config::Config& config,
                              const core::Topology& topology, const PluginSet& plugins, const NetOptions& net,
                              const InheritedSockets& inherited) {
    std::unique_ptr<Network> network{new Network(runtime, topology, net)};
    std::string admin_error;
    const std::vector<ListenerState> wanted = start_listeners(config, topology, net, admin_error);
    if (!admin_error.empty()) {
        return {nullptr, admin_error};
    }
    if (config.admin.listen) {
        if (!plugins.admin) {
            return {nullptr, "[admin] listen: no admin handler was supplied to serve it"};
        }
        network->admin_section_ = config.admin;
        network->admin_plugin_ = plugins.admin;
        network->admin_ = std::make_shared<AdminBoard>();
        network->admin_->runtime = &runtime;
        network->admin_driver_ = wanted.back().drivers.front();
    }
    const Plan plan = plan_listeners({}, wanted);
    assert(plan.listeners.size() == wanted.size());
    std::vector<std::string> errors;
    auto openings = network->build(
        plan,
        [&](const config::ListenerConfig& l, std::string&) -> std::shared_ptr<const Plugin> {
            return is_admin(l) ? plugins.admin : plugins.by_path.at(l.handler_path);
        },
        inherited, false, errors);
    if (!errors.empty()) {
        return {nullptr, errors.front()};
    }
    auto per_driver = network->batches(openings);
    network->attach_at_start(per_driver);
    for (auto& o : openings) {
        network->serving_.push_back(std::move(o->entry));
    }
    network->publish_catalog(false);
    return {std::move(network), {}};
}

} // namespace gatio::net
