#include "settings.hpp"

#include <array>
#include <string>
#include <string_view>

namespace gatio::resp {

namespace {

constexpr std::array known{
    std::string_view{"maxmemory"},           std::string_view{"maxmemory_policy"},
    std::string_view{"maxmemory_samples"},   std::string_view{"proto_max_bulk_len"},
    std::string_view{"max_multibulk"},       std::string_view{"max_inline"},
    std::string_view{"max_pipeline"},        std::string_view{"active_expire_interval"},
    std::string_view{"active_expire_keys"},  std::string_view{"max_partial_memory"},
    std::string_view{"pooled_slots"},        std::string_view{"databases"},
    std::string_view{"max_multi_commands"},  std::string_view{"max_multi_bytes"},
    std::string_view{"pubsub_output_limit"},
};

[[noreturn]] void bad(std::string_view key, const std::string& why) {
    throw gatio::PluginError("option \"" + std::string(key) + "\": " + why);
}

std::uint64_t size_in(const gatio::Options& options, const char* key, std::uint64_t def, std::uint64_t lo,
                      std::uint64_t hi) {
    std::uint64_t v = options[key].as_size(key).value_or(def);
    if (v < lo || v > hi) {
        bad(key, "must be between " + std::to_string(lo) + " and " + std::to_string(hi) + " bytes, got " +
                     std::to_string(v));
    }
    return v;
}

std::int64_t int_in(const gatio::Options& options, const char* key, std::int64_t def, std::int64_t lo,
                    std::int64_t hi) {
    std::int64_t v = options.get(key, def);
    if (v < lo || v > hi) {
        bad(key, "must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", got " +
                     std::to_string(v));
    }
    return v;
}

} // namespace

PluginSettings read_settings(const gatio::Options& options) {
    for (std::size_t i = 0; i < options.size(); ++i) {
        std::string_view key = options.key_at(i);
        bool found = false;
        for (auto k : known) {
            found = found || k == key;
        }
        if (!found) {
            bad(key, "unknown to the resp plugin");
        }
    }
    PluginSettings s;
    // Zero means no limit, as in redis-server.
    s.server.max_memory = size_in(options, "maxmemory", 0, 0, UINT64_MAX);
    std::string_view policy = options.get("maxmemory_policy", std::string_view{"noeviction"});
    if (policy == "noeviction") {
        s.server.policy = EvictionPolicy::noeviction;
    } else if (policy == "allkeys-lru") {
        s.server.policy = EvictionPolicy::allkeys_lru;
    } else {
        bad("maxmemory_policy",
            "must be \"noeviction\" or \"allkeys-lru\", got \"" + std::string(policy) + "\"");
    }
    s.server.maxmemory_samples = static_cast<std::uint32_t>(int_in(options, "maxmemory_samples", 5, 1, 64));
    s.server.databases = static_cast<std::uint32_t>(int_in(options, "databases", 16, 1, 1024));
    s.server.proto_max_bulk_len = size_in(options, "proto_max_bulk_len", 512ull << 20, 1, 4ull << 30);
    s.server.max_multibulk =
        static_cast<std::uint64_t>(int_in(options, "max_multibulk", 1 << 20, 1, INT32_MAX));
    s.server.max_inline = size_in(options, "max_inline", 64u << 10, 1024, 16u << 20);
    s.max_pipeline = static_cast<std::uint32_t>(int_in(options, "max_pipeline", 128, 1, 65536));
    s.pooled_slots = static_cast<std::uint32_t>(int_in(options, "pooled_slots", 1024, 0, 1 << 20));
    s.max_partial_memory = size_in(options, "max_partial_memory", 1ull << 30, 64u << 10, 1ull << 40);
    auto interval = options["active_expire_interval"].as_duration("active_expire_interval");
    s.active_expire_interval = interval.value_or(std::chrono::milliseconds{100});
    if (s.active_expire_interval.count() < 1 || s.active_expire_interval.count() > 60'000) {
        bad("active_expire_interval",
            "must be between 1ms and 60s, got " + std::to_string(s.active_expire_interval.count()) + "ms");
    }
    s.active_expire_keys = static_cast<std::uint32_t>(int_in(options, "active_expire_keys", 200, 1, 1 << 20));
    s.transaction.max_commands =
        static_cast<std::uint32_t>(int_in(options, "max_multi_commands", 65536, 1, 1 << 24));
    s.transaction.max_bytes = size_in(options, "max_multi_bytes", 64ull << 20, 1024, 1ull << 36);
    s.pubsub_output_limit = size_in(options, "pubsub_output_limit", 32ull << 20, 1024, 1ull << 30);
    return s;
}

} // namespace gatio::resp
