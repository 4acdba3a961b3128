// The shard's expiry, memory account and eviction.
#include <array>
#include <catch2/catch.hpp>
#include <string>
#include <string_view>

#include "keyspace.hpp"

using gatio::resp::EvictionPolicy;
using gatio::resp::Shard;
using gatio::resp::ShardLimits;

namespace {

void put(Shard& s, const std::string& key, const std::string& value, std::int64_t now) {
    Shard::Entry* e = s.find(key, now);
    if (e == nullptr) {
        e = &s.insert(key, now);
    }
    std::size_t before = e->value.capacity();
    e->value = value;
    s.value_changed(*e, before);
}

} // namespace

TEST_CASE("prefetching keys changes nothing a lookup finds", "[resp][keyspace]") {
    Shard s(ShardLimits{});
    const std::array<std::string_view, 3> keys{"a", "b", "missing"};
    s.prefetch(keys); // an empty table has no slots yet
    put(s, "a", "1", 1000);
    put(s, "b", "2", 1000);
    s.prefetch(keys);
    CHECK(s.find("a", 1000)->value == "1");
    CHECK(s.find("b", 1000)->value == "2");
    CHECK(s.find("missing", 1000) == nullptr);
    CHECK(s.size() == 2);
}

TEST_CASE("expired keys vanish on access and are counted", "[resp][keyspace]") {
    Shard s(ShardLimits{});
    put(s, "a", "1", 1000);
    s.set_expire(*s.find("a", 1000), 2000);
    CHECK(s.expiring() == 1);
    CHECK(s.find("a", 1999) != nullptr);
    CHECK(s.find("a", 2000) == nullptr);
    CHECK(s.size() == 0);
    CHECK(s.expiring() == 0);
    CHECK(s.expired() == 1);
}

TEST_CASE("the active sweep deletes expired keys within its budget", "[resp][keyspace]") {
    Shard s(ShardLimits{});
    for (int i = 0; i < 100; ++i) {
        put(s, 'k' + std::to_string(i), "v", 0);
        // Even keys expire at 50, odd ones at 500.
        s.set_expire(*s.find('k' + std::to_string(i), 0), i % 2 == 0 ? 50 : 500);
    }
    put(s, "persistent", "v", 0);
    CHECK(s.sweep(100, 10) <= 10);
    std::size_t rounds = 1;
    while (s.size() > 51 && rounds < 100) {
        s.sweep(100, 10);
        ++rounds;
    }
    CHECK(s.size() == 51);
    CHECK(rounds <= 15); // 150 keys examined at most for 100 with an expiry
    CHECK(s.expired() == 50);
    CHECK(s.find("k1", 100) != nullptr);
    CHECK(s.sweep(100, 1000) == 0);
    CHECK(s.sweep(500, 1000) == 50);
    CHECK(s.size() == 1);
    CHECK(s.expiring() == 0);
}

TEST_CASE("memory is accounted per entry and returns to zero", "[resp][keyspace]") {
    Shard s(ShardLimits{});
    CHECK(s.used_memory() == 0);
    put(s, "key", std::string(1000, 'v'), 0);
    CHECK(s.used_memory() >= 1003);
    put(s, "key", "small", 0);
    std::uint64_t after = s.used_memory();
    CHECK(after > 0);
    CHECK(s.erase("key"));
    CHECK(s.used_memory() == 0);
    put(s, "a", "1", 0);
    s.clear();
    CHECK(s.used_memory() == 0);
    CHECK(s.size() == 0);
}

TEST_CASE("allkeys-lru evicts keys not touched recently and keeps those in use", "[resp][keyspace]") {
    ShardLimits limits;
    limits.max_memory = 64 * 1024;
    limits.policy = EvictionPolicy::allkeys_lru;
    limits.lru_samples = 10;
    Shard s(limits, 42);
    const std::string value(200, 'v');
    // A hot set touched every second, then cold keys added one per second until eviction.
    for (int i = 0; i < 20; ++i) {
        put(s, "hot" + std::to_string(i), value, 0);
    }
    std::int64_t now = 0;
    for (int i = 0; i < 2000; ++i) {
        now += 1000;
        for (int h = 0; h < 20; ++h) {
            REQUIRE(s.find("hot" + std::to_string(h), now) != nullptr);
        }
        REQUIRE(s.make_room(now));
        put(s, "cold" + std::to_string(i), value, now);
    }
    CHECK(s.evicted() > 1000);
    CHECK(s.used_memory() <= limits.max_memory + 2 * (value.size() + 200));
    CHECK(s.find("cold0", now) == nullptr);
    CHECK(s.find("cold1999", now) != nullptr);
}

TEST_CASE("noeviction refuses room instead of deleting", "[resp][keyspace]") {
    ShardLimits limits;
    limits.max_memory = 1024;
    Shard s(limits);
    for (int i = 0; i < 10; ++i) {
        put(s, 'k' + std::to_string(i), std::string(200, 'v'), 0);
    }
    CHECK_FALSE(s.make_room(0));
    CHECK(s.size() == 10);
    CHECK(s.evicted() == 0);
}

TEST_CASE("a watched key's version moves with every change of it, and only then", "[resp][keyspace]") {
    ShardLimits limits;
    limits.max_memory = 100000;
    limits.policy = EvictionPolicy::allkeys_lru;
    Shard s(limits, 1, 4);
    put(s, "a", "1", 0);
    put(s, "b", "1", 0);
    std::uint64_t a = s.watch("a");
    std::uint64_t b = s.watch("b");
    const std::uint64_t missing = s.watch("missing");
    // Reads, another key's writes and deletes of what is not there are no change.
    CHECK(s.find("a", 0) != nullptr);
    put(s, "c", "1", 0);
    CHECK_FALSE(s.erase("missing"));
    CHECK(s.version(0, "a") == a);
    CHECK(s.version(0, "missing") == missing);
    // The active sweep.
    s.set_expire(*s.find("a", 0), 10);
    CHECK(s.version(0, "a") != a);
    a = s.version(0, "a");
    CHECK(s.sweep(20, 10) == 1);
    CHECK(s.version(0, "a") != a);
    // A key created where one was watched.
    put(s, "missing", "now", 20);
    CHECK(s.version(0, "missing") != missing);
    // Eviction (here of every key).
    limits.max_memory = 1;
    s.set_limits(limits);
    CHECK(s.make_room(20));
    CHECK(s.size() == 0);
    CHECK(s.version(0, "b") != b);
    // FLUSHDB of a database without the key, SWAPDB with one that has it.
    b = s.version(0, "b");
    s.select(2);
    s.clear_db();
    s.select(0);
    CHECK(s.version(0, "b") == b);
    s.select(1);
    put(s, "b", "in1", 20);
    s.select(0);
    CHECK(s.version(0, "b") == b);
    s.swap_db(0, 1);
    CHECK(s.version(0, "b") != b);
    // The last watcher gone, the key is no longer versioned.
    s.unwatch(0, "a");
    s.unwatch(0, "b");
    s.unwatch(0, "missing");
    CHECK(s.watch("b") == 0);
    s.unwatch(0, "b");
}
