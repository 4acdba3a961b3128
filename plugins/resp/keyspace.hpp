// One shard of the key-value store: keys holding a string or a collection (values.hpp), with
// optional expiry, an approximate memory account and the maxmemory policy. The shard holds
// its part of every database; select() picks the one its commands see (the connection's,
// set before each command), while memory, eviction and the sweep span them all. A shard is owned by one
// driver and is touched by one thread at a time (the plugin's shard mutex, see resp.cpp), so nothing here
// locks.
//
// Time is wall-clock milliseconds (like redis-server, so EXAT/PXAT mean what they say) and is
// passed in by the caller, which keeps the shard deterministic under test.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "key_table.hpp"
#include "values.hpp"

namespace gatio::resp {

// The shard of a key among `shards`: a hash mixed so that it does not correlate with the
// bucket inside the shard's table.
inline std::uint32_t shard_index(std::string_view key, std::size_t shards) {
    if (shards == 1) {
        return 0; // one driver: not worth a hash of the key per command
    }
    std::uint64_t h = std::hash<std::string_view>{}(key)*0x9E3779B97F4A7C15ULL;
    return static_cast<std::uint32_t>((h >> 32) % shards);
}

// TYPE's names, in this order.
enum class Type : std::uint8_t { string, hash, list, set, zset };
std::string_view type_name(Type t);

enum class EvictionPolicy : std::uint8_t { noeviction, allkeys_lru };

// How redis-server 7.0 would hold a string, which OBJECT ENCODING and REFCOUNT tell: `chosen`
// from its bytes when it was set whole (int, embstr or raw by length, small integers shared);
// `raw` once changed in place (APPEND to an existing value, SETRANGE, SETBIT); `text` for a number
// written as text (INCRBYFLOAT: embstr or raw, never int); `own_int` for an int that is not
// shared (a COPY of one).
enum class StringForm : std::uint8_t { chosen, raw, text, own_int };

struct ShardLimits {
    std::uint64_t max_memory = 0; // this shard's share of maxmemory; 0 = unlimited
    EvictionPolicy policy = EvictionPolicy::noeviction;
    std::uint32_t lru_samples = 5; // keys sampled per eviction
};

class Shard {
public:
    struct Node;
    struct Entry {
        std::string value;                // a string's bytes
        std::unique_ptr<Collection> coll; // any other type's container
        Type type = Type::string;
        StringForm form = StringForm::chosen; // a string's only
        std::int64_t expire_at = 0;           // wall-clock ms; 0 = persistent
        std::uint32_t all_index = 0;          // position in its database's `all`
        std::uint32_t expire_index = 0;       // position in its database's `expiring`, when expire_at != 0
        std::uint32_t last_access = 0;        // LRU clock (seconds) of the last touch
        Node* node = nullptr;                 // the node holding this entry
    };
    // A key and its entry in one allocation, the key's bytes right after the struct: finding a
    // key reads its index slot and this node, and nothing else.
    struct Node {
        Entry entry;
        std::uint32_t size = 0; // of the key
        std::string_view key() const { return {reinterpret_cast<const char*>(this + 1), size}; }
    };

    explicit Shard(const ShardLimits& limits, std::uint64_t seed = 1, std::uint32_t databases = 16);
    Shard(const Shard&) = delete;
    Shard& operator=(const Shard&) = delete;
    ~Shard();

    // The live entry for key, or nullptr (an expired entry is deleted on the way: lazy expiry).
    // `touch` refreshes its LRU clock.
    Entry* find(std::string_view key, std::int64_t now_ms, bool touch = true);
    // The live entry for key if it holds type t, else nullptr, with `wrong` set when the key
    // exists with another type.
    Entry* find(std::string_view key, Type t, std::int64_t now_ms, bool& wrong, bool touch = true) {
        Entry* e = find(key, now_ms, touch);
        wrong = e != nullptr && e->type != t;
        return wrong ? nullptr : e;
    }
    // Before a batch of commands on the selected database: starts loading what finding these
    // keys will read, so that the batch's cache misses overlap instead of following one
    // another. At most max_prefetch keys are taken.
    static constexpr std::size_t max_prefetch = 16;
    void prefetch(std::span<const std::string_view> keys) const;
    // Inserts an empty persistent entry (the key must not exist) and returns it.
    Entry& insert(std::string_view key, std::int64_t now_ms);
    bool erase(std::string_view key);
    // Every database emptied (FLUSHALL); clear_db(): the selected one only (FLUSHDB).
    void clear();
    void clear_db();

    // The database that find/insert/erase/for_each/size see (below databases()).
    void select(std::uint32_t db) { cur_ = &dbs_[db]; }
    std::uint32_t selected() const { return static_cast<std::uint32_t>(cur_ - dbs_.data()); }
    std::uint32_t databases() const { return static_cast<std::uint32_t>(dbs_.size()); }
    // SWAPDB's share: databases a and b trade their keys.
    void swap_db(std::uint32_t a, std::uint32_t b);
    // MOVE's share: the live key moves, with its expiry, from the selected database to `to`
    // unless `to` has it; whether it moved.
    bool move_key(std::string_view key, std::uint32_t to, std::int64_t now_ms);
    // Back to the state of a new shard (no keys, counters at zero, the same random sequence),
    // keeping the memory its table grew.
    void reset();

    // OBJECT IDLETIME: the seconds since the entry was last touched, at the LRU clock's resolution.
    static std::int64_t idle_seconds(const Entry& e, std::int64_t now_ms) {
        return std::max<std::int64_t>(0, static_cast<std::int64_t>(lru_clock(now_ms)) - e.last_access);
    }
    // Sets or clears (0) the expiry of an entry returned by find/insert.
    void set_expire(Entry& e, std::int64_t at_ms);
    // What an entry's value costs (a string's capacity, a collection's account).
    static std::size_t value_cost(const Entry& e) {
        return e.type == Type::string ? e.value.capacity() : e.coll->bytes();
    }
    // Re-accounts an entry's value after the caller changed it; `old_cost` is value_cost()
    // from before the change.
    void value_changed(Entry& e, std::size_t old_cost);
    // Makes an entry (new, or of any type) hold `coll` instead of its value.
    void make_collection(Entry& e, Type t, std::unique_ptr<Collection> coll);
    // Makes an entry hold a string (empty) instead of a collection.
    void make_string(Entry& e);
    // Makes an entry (new, or of any type) hold the string `value`, set whole.
    void set_string(Entry& e, std::string_view value, StringForm form = StringForm::chosen);

    // Before a command that may grow memory: under noeviction, whether memory is within the
    // limit; under allkeys-lru, evicts (approximately least recently used) until it is, and
    // says whether that succeeded.
    bool make_room(std::int64_t now_ms);

    // Active expiry: examines up to `budget` keys that carry an expiry, deleting the expired
    // ones. Returns how many were deleted.
    std::size_t sweep(std::int64_t now_ms, std::size_t budget);

    // Calls f(key) for every key not expired at now_ms.
    template <class F>
    void for_each(std::int64_t now_ms, F&& f) const {
        for (const Node* n : cur_->all) {
            if (n->entry.expire_at == 0 || n->entry.expire_at > now_ms) {
                f(n->key());
            }
        }
    }

    // WATCH: a watcher of `key` in the selected database is registered, and the key's version
    // returned; every change of the key (a write, its expiry, eviction, FLUSHDB, FLUSHALL,
    // SWAPDB, MOVE) moves it on. Only registered keys have one, so a shard nobody watches pays
    // one compare per change.
    std::uint64_t watch(std::string_view key);
    // The version of a key registered in database `db`.
    std::uint64_t version(std::uint32_t db, std::string_view key) const;
    // One watcher of `key` in database `db` is gone; the last one removes its version.
    void unwatch(std::uint32_t db, std::string_view key);
    // The selected database's keys by position, for SCAN and RANDOMKEY: 0 to positions() - 1.
    // Inserting appends; a removal moves the last key into the removed one's position, so a key
    // only ever moves down, and only from the last position.
    std::size_t positions() const { return cur_->all.size(); }
    const Node& at(std::size_t i) const { return *cur_->all[i]; }

    // A pseudo-random number of this shard's sequence (eviction samples, random members).
    std::uint64_t random() { return next_random(); }

    // Keys and keys with an expiry in the selected database, or in database `db`.
    std::size_t size() const { return cur_->keys.size(); }
    std::size_t expiring() const { return cur_->expiring.size(); }
    std::size_t size(std::uint32_t db) const { return dbs_[db].keys.size(); }
    std::size_t expiring(std::uint32_t db) const { return dbs_[db].expiring.size(); }
    std::uint64_t used_memory() const { return used_; }
    std::uint64_t evicted() const { return evicted_; }
    std::uint64_t expired() const { return expired_; }
    const ShardLimits& limits() const { return limits_; }
    // CONFIG RESETSTAT: the counters of expired and evicted keys start again from 0.
    void reset_stats() {
        evicted_ = 0;
        expired_ = 0;
    }
    // New limits (a reload changed maxmemory or its policy); they apply from the next command.
    void set_limits(const ShardLimits& limits) { limits_ = limits; }

private:
    struct Hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    // What an entry costs beyond its key and value bytes: the node, the allocator's header, its
    // share of the index (a 16-byte slot, the table between 3/8 and 3/4 full) and the sampling
    // slot. An estimate, used for maxmemory and INFO, not a measurement.
    static constexpr std::size_t entry_overhead = sizeof(Node) + 6 * sizeof(void*);

    static std::uint64_t cost(const Node& n) { return entry_overhead + n.size + value_cost(n.entry); }
    static Node* make_node(std::string_view key);
    static void free_node(Node* n);
    // One database's part: its keys, all of them for sampling (they own the nodes), those with
    // an expiry for the sweep, and the sweep's position.
    struct Db {
        KeyTable<Node> keys;
        std::vector<Node*> all;      // every entry, for random sampling (eviction)
        std::vector<Node*> expiring; // entries with an expiry, for the active sweep
        std::size_t sweep_cursor = 0;
    };
    struct Watched {
        std::uint32_t watchers = 0;
        std::uint64_t version = 0;
    };
    using WatchMap = std::unordered_map<std::string, Watched, Hash, std::equal_to<>>;

    // Deletes a node of `db`, whose key hashes to h.
    void remove(Db& db, Node& n, std::uint64_t h);
    void remove(Db& db, Node& n) { remove(db, n, key_hash(n.key())); }
    // Takes a node out of `db` without freeing it (MOVE).
    void unlink(Db& db, Node& n, std::uint64_t h);
    void free_all(Db& db);
    std::uint32_t index_of(const Db& db) const { return static_cast<std::uint32_t>(&db - dbs_.data()); }
    // A key of database `db` changed: its watchers see a new version.
    void changed(std::uint32_t db, std::string_view key) {
        if (watching_ != 0) {
            bump(db, key);
        }
    }
    void bump(std::uint32_t db, std::string_view key);
    // FLUSHDB, FLUSHALL and SWAPDB: the watched keys of database `db` that exist in it (or in
    // `other`) changed.
    void changed_all(std::uint32_t db, const Db* other);
    void drop_expire(Db& db, Entry& e);
    std::uint64_t next_random();
    static std::uint32_t lru_clock(std::int64_t now_ms) { return static_cast<std::uint32_t>(now_ms / 1000); }

    ShardLimits limits_;
    std::vector<Db> dbs_;
    Db* cur_;
    std::uint64_t used_ = 0;
    std::uint64_t evicted_ = 0;
    std::uint64_t expired_ = 0;
    std::size_t sweep_db_ = 0; // the database the next sweep starts in
    // By database number: watchers watch a database, not the keys SWAPDB moves away from it.
    std::vector<WatchMap> watched_;
    std::size_t watching_ = 0; // keys registered across the databases
    std::uint64_t seed_;
    std::uint64_t rng_;
};

} // namespace gatio::resp
