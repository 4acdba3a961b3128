// The resp plugin's [listener.options], read and checked once per instance.
#pragma once

#include <chrono>
#include <cstdint>

#include <gatio/plugin.hpp>

#include "commands.hpp"
#include "transaction.hpp"

namespace gatio::resp {

struct PluginSettings {
    ServerSettings server;
    std::uint32_t max_pipeline = 128;  // requests in flight per connection
    std::uint32_t pooled_slots = 1024; // idle request slots an instance keeps for reuse
    // Bytes that the partly received requests of one instance (one driver) may hold or
    // announce; a request that would take more is refused.
    std::uint64_t max_partial_memory = 1ull << 30;
    std::chrono::milliseconds active_expire_interval{100};
    std::uint32_t active_expire_keys = 200; // keys with an expiry examined per shard per sweep
    // What one MULTI may queue: EXEC holds its shards while it runs them.
    TxLimits transaction{65536, 64ull << 20};
    // Unsent output a subscriber may hold; a message that would take it past this closes it.
    std::uint64_t pubsub_output_limit = 32ull << 20;
};

// Reads every option, applying defaults; throws gatio::PluginError naming the option and
// what is wrong with it (an unknown key included).
PluginSettings read_settings(const gatio::Options& options);

} // namespace gatio::resp
