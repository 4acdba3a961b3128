// One shard of the key-value store: string keys and values with optional expiry, an
// approximate memory account and the maxmemory policy. A shard is owned by one driver and is
// only ever touched on that driver's thread, so nothing here locks.
//
// Time is wall-clock milliseconds (like redis-server, so EXAT/PXAT mean what they say) and is
// passed in by the caller, which keeps the shard deterministic under test.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace gatio::resp {

enum class EvictionPolicy : std::uint8_t { noeviction, allkeys_lru };

struct ShardLimits {
    std::uint64_t max_memory = 0; // this shard's share of maxmemory; 0 = unlimited
    EvictionPolicy policy = EvictionPolicy::noeviction;
    std::uint32_t lru_samples = 5; // keys sampled per eviction
};

// What an entry costs beyond its key and value bytes: the hash node, the bucket slot and the
// two index slots. An estimate, used for maxmemory and INFO, not a measurement.
inline constexpr std::size_t entry_overhead = 96;

class Shard {
public:
    struct Entry {
        std::string value;
        std::int64_t expire_at = 0;                          // wall-clock ms; 0 = persistent
        std::uint32_t all_index = 0;                         // position in all_
        std::uint32_t expire_index = 0;                      // position in expiring_ when expire_at != 0
        std::uint32_t last_access = 0;                       // LRU clock (seconds) of the last touch
        std::pair<const std::string, Entry>* node = nullptr; // the map node holding this entry
    };

    explicit Shard(const ShardLimits& limits, std::uint64_t seed = 1);
    Shard(const Shard&) = delete;
    Shard& operator=(const Shard&) = delete;

    // The live entry for key, or nullptr (an expired entry is deleted on the way: lazy expiry).
    // `touch` refreshes its LRU clock.
    Entry* find(std::string_view key, std::int64_t now_ms, bool touch = true);
    // Inserts an empty persistent entry (the key must not exist) and returns it.
    Entry& insert(std::string_view key, std::int64_t now_ms);
    bool erase(std::string_view key);
    void clear();
    // Back to the state of a new shard (no keys, counters at zero, the same random sequence),
    // keeping the memory its table grew.
    void reset();

    // Sets or clears (0) the expiry of an entry returned by find/insert.
    void set_expire(Entry& e, std::int64_t at_ms);
    // Re-accounts an entry's value after the caller changed it.
    void value_changed(Entry& e, std::size_t old_capacity);

    // Before a command that may grow memory: under noeviction, whether memory is within the
    // limit; under allkeys-lru, evicts (approximately least recently used) until it is, and
    // says whether that succeeded.
    bool make_room(std::int64_t now_ms);

    // Active expiry: examines up to `budget` keys that carry an expiry, deleting the expired
    // ones. Returns how many were deleted.
    std::size_t sweep(std::int64_t now_ms, std::size_t budget);

    std::size_t size() const { return map_.size(); }
    std::size_t expiring() const { return expiring_.size(); }
    std::uint64_t used_memory() const { return used_; }
    std::uint64_t evicted() const { return evicted_; }
    std::uint64_t expired() const { return expired_; }
    const ShardLimits& limits() const { return limits_; }
    // New limits (a reload changed maxmemory or its policy); they apply from the next command.
    void set_limits(const ShardLimits& limits) { limits_ = limits; }

private:
    struct Hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    using Map = std::unordered_map<std::string, Entry, Hash, std::equal_to<>>;
    using Node = Map::value_type;

    static std::uint64_t cost(const Node& n) {
        return entry_overhead + n.first.capacity() + n.second.value.capacity();
    }
    void remove(Map::iterator it);
    void drop_expire(Entry& e);
    std::uint64_t next_random();
    static std::uint32_t lru_clock(std::int64_t now_ms) { return static_cast<std::uint32_t>(now_ms / 1000); }

    ShardLimits limits_;
    Map map_;
    std::vector<Node*> all_;      // every entry, for random sampling (eviction)
    std::vector<Node*> expiring_; // entries with an expiry, for the active sweep
    std::uint64_t used_ = 0;
    std::uint64_t evicted_ = 0;
    std::uint64_t expired_ = 0;
    std::size_t sweep_cursor_ = 0; // next position of expiring_ the sweep examines
    std::uint64_t seed_;
    std::uint64_t rng_;
};

} // namespace gatio::resp
