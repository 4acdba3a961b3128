// A real networking stack in the test process: a configuration from TOML, the topology of this
// machine, plugins loaded through the loader, a core::Runtime with the net modules attached.
#pragma once

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <unistd.h>

#include "config/load.hpp"
#include "core/capabilities.hpp"
#include "core/machine.hpp"
#include "core/runtime.hpp"
#include "core/topology.hpp"
#include "net/net.hpp"
#include "net/plugin_loader.hpp"
#include "net/plugin_services.hpp"
#include "tests/net/temp_dir.hpp"

namespace gatio::tests {

inline const std::filesystem::path plugin_output_dir{GATIO_PLUGIN_OUTPUT_DIR};
inline const std::filesystem::path test_plugin_dir{GATIO_TEST_PLUGIN_DIR};

class Server {
public:
    // `toml` is a whole configuration; bare handler names resolve in the build's plugin folder.
    // Without `net_options`, those of the configuration's [network]. With `handler`, every
    // listener is served by that descriptor, compiled into the test (as gatiod compiles in its
    // admin handler), instead of its file.
    explicit Server(const std::string& toml, std::optional<net::NetOptions> net_options = std::nullopt,
                    const gatio_plugin* handler = nullptr) {
        auto loaded =
            config::load_string(toml, dir_.path() / "gatio.toml", config::Overrides{plugin_output_dir});
        for (const auto& e : loaded.errors) {
            UNSCOPED_INFO(e.to_string());
        }
        REQUIRE(loaded.config);
        config_ = std::move(*loaded.config);
        // CTest runs this suite again with receive bundles on (tests/net/CMakeLists.txt),
        // except where a test sets the switch itself.
        const char* bundle = std::getenv("GATIO_TEST_RECV_BUNDLE");
        if (bundle != nullptr && toml.find("recv_bundle") == std::string::npos) {
            config_.io_uring.recv_bundle = std::string_view(bundle) == "on";
        }
        // And with incremental buffer consumption, alone and with the bundles.
        const char* incremental = std::getenv("GATIO_TEST_PBUF_INCREMENTAL");
        if (incremental != nullptr && toml.find("pbuf_incremental") == std::string::npos) {
            config_.io_uring.pbuf_incremental = std::string_view(incremental) == "on";
        }
        machine_ = core::Machine::discover();
        auto resolved = core::resolve_topology(config_, machine_);
        for (const auto& e : resolved.errors) {
            UNSCOPED_INFO(e.to_string());
        }
        REQUIRE(resolved.topology);
        topology_ = std::move(*resolved.topology);

        auto plugins = net::load_plugins(config_, net::LoadPolicy{::geteuid()}, net::host_services());
        for (const auto& e : plugins.errors) {
            UNSCOPED_INFO(e);
        }
        REQUIRE(plugins.errors.empty());
        plugins_ = std::move(plugins.plugins);
        if (handler != nullptr) {
            for (auto& [path, plugin] : plugins_.by_path) {
                plugin = net::Plugin::builtin(path.string(), *handler);
            }
        }

        static const core::KernelSupport kernel = core::probe_kernel().support;
        const net::NetOptions options = net_options.value_or(net::net_options(config_));
        core::RuntimeOptions runtime_options;
        runtime_options.kernel = kernel;
        net::reserve(runtime_options, config_, topology_, plugins_, options);
        runtime_ = std::make_unique<core::Runtime>(topology_, machine_, config_.io_uring, runtime_options);
        auto attached = net::attach_listeners(*runtime_, config_, topology_, plugins_, options);
        INFO(attached.error);
        REQUIRE(attached.network);
        network_ = std::move(attached.network);
        auto failed = runtime_->start();
        INFO(failed);
        REQUIRE(failed.empty());
    }
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;
    ~Server() { stop(); }

    const net::Network& network() const { return *network_; }
    const config::Config& config() const { return config_; }
    const core::Topology& topology() const { return topology_; }
    std::size_t drivers() const { return topology_.driver_count(); }

    // Waits (bounded) until pred(total counters) holds; false on timeout.
    bool wait_for(const std::function<bool(const net::NetCounters&)>& pred,
                  std::chrono::milliseconds limit = std::chrono::seconds(10)) const {
        auto end = std::chrono::steady_clock::now() + limit;
        while (std::chrono::steady_clock::now() < end) {
            if (pred(network_->total())) {
                return true;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        return pred(network_->total());
    }

    // Runs fn() on driver `driver`'s thread, between two of its events, and returns its result.
    template <typename Fn>
    auto on_driver(int driver, Fn fn) -> std::invoke_result_t<Fn&> {
        using Result = std::invoke_result_t<Fn&>;
        struct Job {
            Fn fn;
            std::promise<Result> done;
        };
        // Shared with the message: a test that gives up waiting leaves it nothing dangling.
        auto job = std::make_shared<Job>(Job{std::move(fn), {}});
        auto result = job->done.get_future();
        REQUIRE(runtime_->post(driver, [job](core::Driver&) {
            if constexpr (std::is_void_v<Result>) {
                job->fn();
                job->done.set_value();
            } else {
                job->done.set_value(job->fn());
            }
        }));
        REQUIRE(result.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
        return result.get();
    }

    void stop(std::chrono::milliseconds grace = std::chrono::seconds(2)) {
        if (runtime_) {
            runtime_->request_stop(grace);
            runtime_->join();
            final_ = network_->total();
            runtime_.reset();
        }
    }
    // The counters as the drivers left them (after stop()).
    const net::NetCounters& final_counters() const { return final_; }

private:
    TempDir dir_;
    config::Config config_;
    core::Machine machine_;
    core::Topology topology_;
    net::PluginSet plugins_; // outlives the runtime: instances are destroyed as drivers stop
    std::unique_ptr<core::Runtime> runtime_;
    std::unique_ptr<net::Network> network_;
    net::NetCounters final_;
};

} // namespace gatio::tests
