// The data types served by a real gatiod (two shards) compared with a real redis-server:
// each script runs on both, and every reply must be the same bytes. Where redis-server's
// order is its hash table's (a large hash), the replies are compared as sorted collections.
#include <algorithm>
#include <catch2/catch.hpp>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "check.hpp"
#include "harness.hpp"
#include "keyspace.hpp"
#include "script.hpp"

using namespace gatio::resp::test;

namespace {

const std::string nul_field("a\0b", 3);
const std::string binary_value("v\0\xff\r\n", 5);

} // namespace

TEST_CASE("hash commands answer as redis-server does", "[resp][types]") {
    Gatiod gatiod;
    RedisServer redis;
    Client ours(gatiod.port());
    Client theirs(redis.port());
    compare(ours, theirs,
            steps({
                {"flushall"},
                {"hset", "h", "a", "1", "b", "2", "c", "3"},
                {"hset", "h", "a", "10", "d", "4"},
                {"hset", "h", "a"},
                {"hset", "h", "a", "1", "b"},
                {"hset"},
                {"hgetall", "h"},
                {"hkeys", "h"},
                {"hvals", "h"},
                {"hlen", "h"},
                {"hlen", "nokey"},
                {"hlen"},
                {"hget", "h", "a"},
                {"hget", "h", "zz"},
                {"hget", "nokey", "a"},
                {"hget", "h"},
                {"hmget", "h", "a", "zz", "b"},
                {"hmget", "nokey", "a", "b"},
                {"hmget", "h"},
                {"hsetnx", "h", "a", "5"},
                {"hsetnx", "h", "e", "5"},
                {"hsetnx", "h", "e"},
                {"hexists", "h", "a"},
                {"hexists", "h", "zz"},
                {"hexists", "nokey", "a"},
                {"hexists", "h"},
                {"hstrlen", "h", "a"},
                {"hstrlen", "h", "zz"},
                {"hstrlen", "nokey", "a"},
                {"hstrlen", "h"},
                {"hdel", "h", "a", "zz", "b"},
                {"hdel", "h"},
                {"hgetall", "h"},
                {"hkeys", "nokey"},
                {"hvals", "nokey"},
                {"hgetall", "nokey"},
                {"hkeys"},
                {"hdel", "h", "c", "d", "e"},
                {"exists", "h"},
                {"type", "h"},
                {"hdel", "nokey", "a"},
                {"hmset", "m", "f1", "v1", "f2", "v2"},
                {"hmset", "m", "f1"},
                {"hmset", "m", "f1", "v1", "f2"},
                {"hgetall", "m"},
                {"type", "m"},
                // HINCRBY: overflow both ways, a value or an increment that is no integer.
                {"hincrby", "m", "n", "5"},
                {"hincrby", "m", "n", "-10"},
                {"hincrby", "m", "f1", "1"},
                {"hincrby", "m", "n", "x"},
                {"hincrby", "m", "n", "1.5"},
                {"hincrby", "m", "n", " 1"},
                {"hincrby", "m", "big", "9223372036854775807"},
                {"hincrby", "m", "big", "1"},
                {"hincrby", "m", "neg", "-9223372036854775808"},
                {"hincrby", "m", "neg", "-1"},
                {"hincrby", "m", "n", "99999999999999999999"},
                {"hincrby", "fresh", "f", "3"},
                {"hincrby", "fresh2", "f", "x"},
                {"exists", "fresh2"},
                {"hincrby", "m", "n"},
                // HINCRBYFLOAT: redis-server's long double arithmetic and formatting.
                {"hincrbyfloat", "m", "fl", "1.5"},
                {"hincrbyfloat", "m", "fl", "0.1"},
                {"hincrbyfloat", "m", "fl", "-1.6"},
                {"hincrbyfloat", "m", "q", "0.1"},
                {"hincrbyfloat", "m", "q", "0.2"},
                {"hincrbyfloat", "m", "fl", "inf"},
                {"hincrbyfloat", "m", "fl", "-inf"},
                {"hincrbyfloat", "m", "fl", "nan"},
                {"hincrbyfloat", "m", "fl", "abc"},
                {"hincrbyfloat", "m", "fl", ""},
                {"hincrbyfloat", "m", "f1", "1"},
                {"hincrbyfloat", "m", "n", "2.5"},
                {"hincrbyfloat", "m", "e3", "3e3"},
                {"hincrbyfloat", "m", "tiny", "1e-20"},
                {"hincrbyfloat", "m", "under", "1e-5000"},
                {"hincrbyfloat", "m", "hex", "0x10"},
                {"hincrbyfloat", "m", "sp", " 1"},
                {"hincrbyfloat", "m", "sp2", "1 "},
                {"hincrbyfloat", "m", "", "1"},
                {"hincrbyfloat", "m", "mz", "-0.0"},
                {"hincrbyfloat", "m", "prec", "1.23456789012345678901"},
                {"hincrbyfloat", "m", "fl"},
                {"hset", "infh", "f", "inf", "e", ""},
                {"hincrbyfloat", "infh", "f", "1"},
                {"hincrbyfloat", "infh", "e", "1"},
                {"hincrbyfloat", "fresh3", "f", "nan"},
                {"exists", "fresh3"},
                {"hgetall", "m"},
                // A value past 64 bytes leaves the small encoding: compared sorted.
                {"hincrbyfloat", "fbig", "f", "1e308"},
                {"hincrbyfloat", "fbig", "f", "1e308"},
                {"hincrbyfloat", "fbig", "f", "1e4000"},
                // HRANDFIELD: the deterministic forms, and every error.
                {"hrandfield", "nokey"},
                {"hrandfield", "nokey", "5"},
                {"hrandfield", "nokey", "5", "withvalues"},
                {"hrandfield", "nokey", "x"},
                {"hrandfield", "m", "0"},
                {"hrandfield", "m", "0", "withvalues"},
                {"hrandfield", "m", "100"},
                {"hrandfield", "m", "100", "withvalues"},
                {"hrandfield", "m", "100", "WITHVALUES"},
                {"hrandfield", "m", "100", "withvalues", "x"},
                {"hrandfield", "m", "100", "novalues"},
                {"hrandfield", "m", "x"},
                {"hrandfield", "m", "-9223372036854775808"},
                {"hrandfield", "m", "-9223372036854775807", "withvalues"},
                {"hrandfield", "m", "9223372036854775807", "withvalues"},
                {"hrandfield", "m", "4611686018427387903", "withvalues"},
                {"hrandfield", "m", "9223372036854775807"},
                {"hrandfield"},
                {"hset", "one", "only", "v"},
                {"hrandfield", "one"},
                {"hrandfield", "one", "-3"},
                {"hrandfield", "one", "-2", "withvalues"},
                // HSCAN of a small hash: all of it at once, cursor 0.
                {"hscan", "m", "0"},
                {"hscan", "m", "0", "match", "f*"},
                {"hscan", "m", "0", "MATCH", "*1", "COUNT", "1"},
                {"hscan", "m", "0", "match", "[a-f]?"},
                {"hscan", "m", "0", "match", "F*"},
                {"hscan", "m", "0", "count", "0"},
                {"hscan", "m", "0", "count", "-1"},
                {"hscan", "m", "0", "count", "x"},
                {"hscan", "m", "0", "match"},
                {"hscan", "m", "0", "foo", "bar"},
                {"hscan", "m", "0", "novalues"},
                {"hscan", "m", "x"},
                {"hscan", "m", "+0"},
                {"hscan", "m", "18446744073709551616"},
                {"hscan", "m", " 1"},
                {"hscan", "nokey", "0"},
                {"hscan", "nokey", "x"},
                {"hscan", "nokey", "0", "foo"},
                {"hscan", "m"},
                // Binary fields and values.
                {"hset", "bin", nul_field, binary_value, "", ""},
                {"hget", "bin", nul_field},
                {"hget", "bin", "a"},
                {"hgetall", "bin"},
                {"hstrlen", "bin", nul_field},
                {"hexists", "bin", ""},
                {"hscan", "bin", "0", "match", "a*"},
                // Field names on either side of the 31 bytes kept inside a field's slot.
                {"hset", "edge", std::string(31, 'f'), "in", std::string(32, 'g'), "out"},
                {"hget", "edge", std::string(31, 'f')},
                {"hget", "edge", std::string(32, 'g')},
                {"hset", "edge", std::string(32, 'g'), "again"},
                {"hdel", "edge", std::string(31, 'f')},
                {"hgetall", "edge"},
            }));
    // Past 512 fields a hash is redis-server's hash table: the same contents, in its order.
    std::vector<std::string> big{"hset", "large"};
    for (int i = 0; i < 600; ++i) {
        big.push_back("field:" + std::to_string(i));
        big.push_back(std::to_string(i * 7));
    }
    std::vector<Step> large{{big}};
    large.push_back({{"hlen", "large"}});
    large.push_back({{"hkeys", "large"}, Order::sorted});
    large.push_back({{"hvals", "large"}, Order::sorted});
    large.push_back({{"hgetall", "large"}, Order::pairs});
    large.push_back({{"hrandfield", "large", "600"}, Order::sorted});
    large.push_back({{"hrandfield", "large", "1000", "withvalues"}, Order::pairs});
    large.push_back({{"hget", "large", "field:150"}});
    large.push_back({{"hmget", "large", "field:0", "field:199", "field:200"}});
    large.push_back({{"hdel", "large", "field:0", "field:1", "field:2", "nofield"}});
    large.push_back({{"hexists", "large", "field:1"}});
    large.push_back({{"hincrby", "large", "field:3", "1"}});
    large.push_back({{"hincrbyfloat", "large", "field:4", "0.5"}});
    large.push_back({{"hsetnx", "large", "field:5", "x"}});
    large.push_back({{"hlen", "large"}});
    large.push_back({{"hgetall", "large"}, Order::pairs});
    large.push_back({{"hgetall", "fbig"}, Order::pairs});
    large.push_back({{"hkeys", "fbig"}, Order::sorted});
    compare(ours, theirs, large);
}

TEST_CASE("a key holds one type: other commands get WRONGTYPE", "[resp][types]") {
    Gatiod gatiod;
    RedisServer redis;
    Client ours(gatiod.port());
    Client theirs(redis.port());
    compare(ours, theirs,
            steps({
                {"flushall"},
                {"set", "s", "str"},
                {"hset", "h", "f", "v"},
                {"hget", "s", "a"},
                {"hset", "s", "a", "1"},
                {"hmset", "s", "a", "1"},
                {"hgetall", "s"},
                {"hkeys", "s"},
                {"hvals", "s"},
                {"hlen", "s"},
                {"hscan", "s", "0"},
                {"hscan", "s", "x"},
                {"hrandfield", "s"},
                {"hrandfield", "s", "1"},
                {"hrandfield", "s", "x"},
                {"hincrby", "s", "a", "1"},
                {"hincrby", "s", "a", "x"},
                {"hincrbyfloat", "s", "a", "1"},
                {"hdel", "s", "a"},
                {"hexists", "s", "a"},
                {"hstrlen", "s", "a"},
                {"hmget", "s", "a"},
                {"hsetnx", "s", "a", "b"},
                {"type", "s"},
                {"type", "h"},
                {"type", "nokey"},
                {"get", "h"},
                {"set", "h", "x", "get"},
                {"getset", "h", "x"},
                {"incr", "h"},
                {"incrby", "h", "2"},
                {"decr", "h"},
                {"append", "h", "x"},
                {"strlen", "h"},
                {"mget", "h", "s", "nokey"},
                {"exists", "h", "s"},
                {"expire", "h", "100"},
                {"ttl", "h"},
                {"persist", "h"},
                {"set", "h", "x"},
                {"type", "h"},
                {"get", "h"},
                {"hset", "h2", "a", "1"},
                {"mset", "h2", "now-a-string"},
                {"type", "h2"},
                {"get", "h2"},
                {"hset", "h3", "a", "1"},
                {"del", "h3", "h"},
                {"hget", "h3", "a"},
                {"type", "h3"},
                {"dbsize"},
            }));
}

TEST_CASE("HSCAN walks a large hash whole while it changes", "[resp][types]") {
    Gatiod gatiod;
    Client c(gatiod.port());
    std::vector<std::string> big{"hset", "large"};
    for (int i = 0; i < 1000; ++i) {
        big.push_back('f' + std::to_string(i));
        big.push_back("v");
    }
    REQUIRE(c.exchange(request(big), 1) == ":1000\r\n");
    std::set<std::string> seen;
    std::string cursor = "0";
    int calls = 0;
    do {
        auto parts = elements(c.exchange(request({"hscan", "large", cursor, "count", "50"}), 1));
        REQUIRE(parts.size() == 2);
        cursor = elements(parts[0])[0];
        cursor = cursor.substr(cursor.find("\r\n") + 2);
        cursor.resize(cursor.size() - 2);
        auto items = elements(parts[1]);
        REQUIRE(items.size() % 2 == 0);
        for (std::size_t i = 0; i < items.size(); i += 2) {
            seen.insert(items[i]);
        }
        // Fields come and go during the scan: the first 100 are deleted, new ones added.
        if (calls < 10) {
            std::vector<std::string> del{"hdel", "large"};
            std::vector<std::string> add{"hset", "large"};
            for (int i = 0; i < 10; ++i) {
                del.push_back('f' + std::to_string(calls * 10 + i));
                add.push_back("new" + std::to_string(calls * 10 + i));
                add.push_back("v");
            }
            c.exchange(request(del) + request(add), 2);
        }
        ++calls;
        REQUIRE(calls < 1000);
    } while (cursor != "0");
    // Every field present for the whole scan was returned.
    for (int i = 100; i < 1000; ++i) {
        const std::string f = 'f' + std::to_string(i);
        INFO(f);
        CHECK(seen.count('$' + std::to_string(f.size()) + "\r\n" + f + "\r\n") == 1);
    }
}

TEST_CASE("HRANDFIELD picks distinct fields, or repeats for a negative count", "[resp][types]") {
    Gatiod gatiod;
    Client c(gatiod.port());
    std::vector<std::string> big{"hset", "h"};
    for (int i = 0; i < 300; ++i) {
        big.push_back('f' + std::to_string(i));
        big.push_back('v' + std::to_string(i));
    }
    REQUIRE(c.exchange(request(big), 1) == ":300\r\n");
    auto distinct = elements(c.exchange(request({"hrandfield", "h", "100"}), 1));
    CHECK(distinct.size() == 100);
    CHECK(std::set<std::string>(distinct.begin(), distinct.end()).size() == 100);
    auto repeated = elements(c.exchange(request({"hrandfield", "h", "-1000", "withvalues"}), 1));
    REQUIRE(repeated.size() == 2000);
    for (std::size_t i = 0; i < repeated.size(); i += 2) {
        // Each value belongs to its field.
        CHECK(repeated[i].substr(repeated[i].find("\r\n") + 3) ==
              repeated[i + 1].substr(repeated[i + 1].find("\r\n") + 3));
    }
}

TEST_CASE("list commands answer as redis-server does", "[resp][types]") {
    Gatiod gatiod;
    RedisServer redis;
    Client ours(gatiod.port());
    Client theirs(redis.port());
    compare(ours, theirs,
            steps({
                {"flushall"},
                {"rpush", "l", "a", "b", "c", "d", "e", "f", "a", "b", "a"},
                {"lpush", "l2", "x", "y", "z"},
                {"lrange", "l2", "0", "-1"},
                {"lpop", "l", "0"},
                {"lpop", "nokey", "0"},
                {"lpop", "nokey", "2"},
                {"lpop", "nokey"},
                {"lpop", "l", "-1"},
                {"lpop", "l", "x"},
                {"lpop", "l", "2", "3"},
                {"lpop", "l", "2"},
                {"rpop", "l", "2"},
                {"lpop", "l", "100"},
                {"rpush", "l", "a", "b", "c", "d", "e", "f", "a", "b", "a"},
                {"lpos", "l", "a"},
                {"lpos", "l", "a", "rank", "2"},
                {"lpos", "l", "a", "rank", "-1"},
                {"lpos", "l", "a", "rank", "0"},
                {"lpos", "l", "a", "rank", "-9223372036854775808"},
                {"lpos", "l", "a", "rank", "9223372036854775807"},
                {"lpos", "l", "a", "count", "0"},
                {"lpos", "l", "a", "count", "-1"},
                {"lpos", "l", "a", "count", "2", "rank", "-1"},
                {"lpos", "l", "a", "maxlen", "-1"},
                {"lpos", "l", "a", "maxlen", "2"},
                {"lpos", "l", "a", "maxlen", "1", "count", "0"},
                {"lpos", "l", "zz"},
                {"lpos", "l", "zz", "count", "0"},
                {"lpos", "nokey", "a"},
                {"lpos", "nokey", "a", "count", "0"},
                {"lpos", "l", "a", "foo"},
                {"lpos", "l", "a", "rank"},
                {"lpos", "l", "a", "count", "x"},
                {"lindex", "l", "x"},
                {"lindex", "l", "-100"},
                {"lindex", "l", "100"},
                {"lindex", "l", "-1"},
                {"lset", "nokey", "0", "x"},
                {"lset", "l", "100", "x"},
                {"lset", "l", "x", "x"},
                {"lset", "l", "-1", "z"},
                {"linsert", "l", "middle", "a", "x"},
                {"linsert", "l", "before", "zz", "x"},
                {"linsert", "nokey", "before", "a", "x"},
                {"linsert", "l", "after", "a", "NEW"},
                {"ltrim", "l", "1", "-2"},
                {"ltrim", "l", "x", "1"},
                {"ltrim", "l", "5", "1"},
                {"exists", "l"},
                {"lrange", "nokey", "0", "-1"},
                {"lrange", "l", "x", "1"},
                {"lrem", "l2", "0", "x"},
                {"lmove", "l2", "l2", "left", "right"},
                {"lmove", "l2", "dst", "left", "middle"},
                {"lmove", "nokey", "dst", "left", "left"},
                {"lmpop", "0", "l", "left"},
                {"lmpop", "-1", "l", "left"},
                {"lmpop", "x", "l", "left"},
                {"lmpop", "2", "l", "left"},
                {"lmpop", "1", "l", "middle"},
                {"lmpop", "1", "nokey", "left"},
                {"lmpop", "1", "l2", "left", "count", "0"},
                {"lmpop", "1", "l2", "left", "count", "-1"},
                {"lmpop", "1", "l2", "left", "count", "x"},
                {"lmpop", "1", "l2", "left", "count", "1", "extra"},
                {"lmpop", "1", "l2", "left", "foo", "1"},
                {"lmpop", "1", "l2", "left", "count"},
                {"lmpop", "9223372036854775807", "l", "left"},
                {"rpoplpush", "nokey", "d"},
                {"rpush", "l", "a", "b", "a"},
                {"lpos", "l", "a", "rank", "x"},
                {"lpos", "l", "a", "maxlen", "x"},
                {"lpos", "l", "a", "rank", "1", "rank", "-1"},
                {"lpos", "l", "a", "count", "1", "count", "0"},
                {"set", "s", "x"},
                {"lpos", "s", "a"},
                {"lpos", "s", "a", "rank", "0"},
                {"lmove", "s", "d", "left", "left"},
                {"lmove", "l", "s", "left", "left"},
                {"lrange", "l", "0", "-1"},
                {"lmpop", "2", "nokey", "s", "left"},
                {"lmpop", "2", "l", "s", "left"},
                {"lmpop", "2", "s", "l", "left"},
                {"rpoplpush", "l", "s"},
                {"lpushx", "nokey", "a"},
                {"rpushx", "l", "q"},
                {"lpushx", "s", "a"},
                {"lpop", "s"},
                {"lpop", "s", "0"},
                {"lpop", "s", "x"},
                {"llen", "s"},
                {"lrange", "l", "-100", "100"},
                {"lrange", "l", "2", "1"},
                {"lrange", "l", "-1", "-2"},
                {"lrange", "l", "9223372036854775807", "-9223372036854775808"},
                {"lindex", "l", "9223372036854775807"},
                {"lrem", "l", "1", "a"},
                {"lrem", "l", "-1", "a"},
                {"lrem", "l", "x", "a"},
                {"lrem", "l", "-9223372036854775808", "a"},
                {"lmpop", "1", "l", "right", "count", "9223372036854775807"},
                // Arity.
                {"lpush", "l"},
                {"rpush"},
                {"lpushx", "l"},
                {"llen"},
                {"lindex", "l"},
                {"lset", "l", "0"},
                {"lrange", "l", "0"},
                {"ltrim", "l", "0"},
                {"lrem", "l", "0"},
                {"linsert", "l", "before", "a"},
                {"lpos", "l"},
                {"lmove", "a", "b", "left"},
                {"rpoplpush", "a"},
                {"lmpop", "1", "l"},
                {"rpop", "l", "1", "2"},
                // Moves between keys that may live on different shards, and onto the same key.
                {"del", "l", "l2", "d", "dst"},
                {"rpush", "src", "1", "2", "3", "4"},
                {"lmove", "src", "dst", "left", "right"},
                {"lmove", "src", "dst", "right", "left"},
                {"lmove", "src", "dst", "LEFT", "LEFT"},
                {"rpoplpush", "src", "dst"},
                {"exists", "src"},
                {"lrange", "dst", "0", "-1"},
                {"rpoplpush", "dst", "dst"},
                {"lrange", "dst", "0", "-1"},
                {"rpush", "one", "x"},
                {"expire", "one", "1000"},
                {"lmove", "one", "one", "left", "right"},
                {"ttl", "one"},
                {"lrange", "one", "0", "-1"},
                {"rpush", "k1", "a"},
                {"rpush", "k2", "b", "c", "d"},
                {"lmpop", "3", "k0", "k1", "k2", "left"},
                {"lmpop", "3", "k0", "k1", "k2", "right", "count", "2"},
                {"lmpop", "3", "k0", "k1", "k2", "left", "count", "5"},
                {"lmpop", "3", "k0", "k1", "k2", "left"},
                {"exists", "k1", "k2"},
                // Binary elements, and integers that stay strings.
                {"rpush", "bin", nul_field, binary_value, "", "12", "-0", "1e3"},
                {"lrange", "bin", "0", "-1"},
                {"lpos", "bin", nul_field},
                {"lrem", "bin", "0", ""},
                {"linsert", "bin", "after", "12", nul_field},
                {"lrange", "bin", "0", "-1"},
                {"lindex", "bin", "-1"},
                {"type", "bin"},
                {"hget", "bin", "x"},
                {"get", "bin"},
                {"hset", "hh", "a", "1"},
                {"lpush", "hh", "x"},
                {"lrange", "hh", "0", "-1"},
                {"rpoplpush", "bin", "hh"},
                {"lmove", "hh", "bin", "left", "left"},
                {"llen", "bin"},
            }));
}

TEST_CASE("LMOVE between shards under concurrent clients loses and duplicates nothing", "[resp][types]") {
    // Two keys on different shards of the two-shard keyspace.
    std::string a = "left";
    std::string b;
    for (int i = 0; b.empty(); ++i) {
        std::string k = "right" + std::to_string(i);
        if (gatio::resp::shard_index(k, 2) != gatio::resp::shard_index(a, 2)) {
            b = k;
        }
    }
    Gatiod gatiod;
    {
        Client c(gatiod.port());
        std::vector<std::string> fill{"rpush", a};
        for (int i = 0; i < 100; ++i) {
            fill.push_back(std::to_string(i));
        }
        REQUIRE(c.exchange(request(fill), 1) == ":100\r\n");
    }
    // Each client moves elements one way, two clients each way, pipelined.
    std::vector<std::thread> movers;
    for (int t = 0; t < 4; ++t) {
        movers.emplace_back([&, t] {
            Client c(gatiod.port());
            std::string batch;
            for (int i = 0; i < 100; ++i) {
                batch +=
                    t % 2 == 0 ? request({"lmove", a, b, "left", "right"}) : request({"rpoplpush", b, a});
            }
            for (int round = 0; round < 20; ++round) {
                c.exchange(batch, 100);
            }
        });
    }
    for (auto& m : movers) {
        m.join();
    }
    Client c(gatiod.port());
    std::multiset<std::string> all;
    for (const auto& key : {a, b}) {
        for (const auto& e : elements(c.exchange(request({"lrange", key, "0", "-1"}), 1))) {
            if (e != "*0\r\n") {
                all.insert(e);
            }
        }
    }
    // Every number is in one of the lists, once.
    CHECK(all.size() == 100);
    for (int i = 0; i < 100; ++i) {
        const std::string e = std::to_string(i);
        CHECK(all.count('$' + std::to_string(e.size()) + "\r\n" + e + "\r\n") == 1);
    }
}

TEST_CASE("set commands answer as redis-server does", "[resp][types]") {
    Gatiod gatiod;
    RedisServer redis;
    Client ours(gatiod.port());
    Client theirs(redis.port());
    // Sets of integers answer in numeric order, as redis-server's intsets do; any other set in
    // its hash table's order, so those replies are compared sorted.
    std::vector<Step> set_steps;
    set_steps.push_back({{"flushall"}});
    set_steps.push_back({{"sadd", "s", "3", "1", "2", "-5", "10", "1"}});
    set_steps.push_back({{"sadd", "s"}});
    set_steps.push_back({{"smembers", "s"}});
    set_steps.push_back({{"sadd", "s", "007"}});
    set_steps.push_back({{"smembers", "s"}, Order::sorted});
    set_steps.push_back({{"scard", "s"}});
    set_steps.push_back({{"scard", "nokey"}});
    set_steps.push_back({{"sismember", "s", "1"}});
    set_steps.push_back({{"sismember", "s", "9"}});
    set_steps.push_back({{"sismember", "nokey", "1"}});
    set_steps.push_back({{"smismember", "s", "1", "9", "2"}});
    set_steps.push_back({{"smismember", "nokey", "1"}});
    set_steps.push_back({{"smismember", "s"}});
    set_steps.push_back({{"srem", "s", "1", "9"}});
    set_steps.push_back({{"srem", "nokey", "1"}});
    set_steps.push_back({{"srem", "s"}});
    set_steps.push_back(
        {{"sadd", "i", "5", "4", "3", "2", "1", "0", "-1", "9223372036854775807", "-9223372036854775808"}});
    set_steps.push_back({{"smembers", "i"}});
    set_steps.push_back({{"srem", "i", "3"}});
    set_steps.push_back({{"smembers", "i"}});
    set_steps.push_back({{"spop", "nokey"}});
    set_steps.push_back({{"spop", "nokey", "3"}});
    set_steps.push_back({{"spop", "nokey", "0"}});
    set_steps.push_back({{"spop", "i", "0"}});
    set_steps.push_back({{"spop", "i", "-1"}});
    set_steps.push_back({{"spop", "i", "x"}});
    set_steps.push_back({{"spop", "i", "1", "2"}});
    set_steps.push_back({{"srandmember", "nokey"}});
    set_steps.push_back({{"srandmember", "nokey", "3"}});
    set_steps.push_back({{"srandmember", "i", "0"}});
    set_steps.push_back({{"srandmember", "i", "100"}});
    set_steps.push_back({{"srandmember", "i", "x"}});
    set_steps.push_back({{"srandmember", "i", "-9223372036854775808"}});
    set_steps.push_back({{"srandmember", "i", "1", "2"}});
    set_steps.push_back({{"srandmember", "i", "-0"}});
    set_steps.push_back({{"spop", "i", "100"}});
    set_steps.push_back({{"exists", "i"}});
    set_steps.push_back({{"sadd", "a", "1", "2", "3", "4"}});
    set_steps.push_back({{"sadd", "b", "3", "4", "5"}});
    set_steps.push_back({{"sadd", "c", "4", "5", "6"}});
    set_steps.push_back({{"sinter", "a", "b"}});
    set_steps.push_back({{"sinter", "a", "b", "c"}});
    set_steps.push_back({{"sinter", "a", "nokey"}});
    set_steps.push_back({{"sinter", "nokey"}});
    set_steps.push_back({{"sunion", "a", "b", "c"}});
    set_steps.push_back({{"sunion", "nokey"}});
    set_steps.push_back({{"sdiff", "a", "b", "c"}});
    set_steps.push_back({{"sdiff", "a", "b"}});
    set_steps.push_back({{"sdiff", "nokey", "a"}});
    set_steps.push_back({{"sinterstore", "d", "a", "b"}});
    set_steps.push_back({{"smembers", "d"}});
    set_steps.push_back({{"sinterstore", "d", "a", "nokey"}});
    set_steps.push_back({{"exists", "d"}});
    set_steps.push_back({{"sunionstore", "d", "a", "b", "c"}});
    set_steps.push_back({{"smembers", "d"}});
    set_steps.push_back({{"sdiffstore", "d", "a", "b"}});
    set_steps.push_back({{"smembers", "d"}});
    set_steps.push_back({{"sdiffstore", "d", "nokey", "a"}});
    set_steps.push_back({{"exists", "d"}});
    set_steps.push_back({{"set", "str", "x"}});
    set_steps.push_back({{"sinter", "a", "str"}});
    set_steps.push_back({{"sinter", "nokey", "str"}});
    set_steps.push_back({{"sunion", "str"}});
    set_steps.push_back({{"sdiff", "a", "str"}});
    set_steps.push_back({{"sinterstore", "str", "a", "b"}});
    set_steps.push_back({{"type", "str"}});
    set_steps.push_back({{"smembers", "str"}});
    set_steps.push_back({{"sunionstore", "a", "a", "b"}});
    set_steps.push_back({{"smembers", "a"}});
    set_steps.push_back({{"sintercard", "2", "a", "b"}});
    set_steps.push_back({{"sintercard", "2", "a", "b", "limit", "1"}});
    set_steps.push_back({{"sintercard", "2", "a", "b", "limit", "0"}});
    set_steps.push_back({{"sintercard", "2", "a", "b", "limit", "-1"}});
    set_steps.push_back({{"sintercard", "2", "a", "b", "limit", "x"}});
    set_steps.push_back({{"sintercard", "0", "a"}});
    set_steps.push_back({{"sintercard", "x", "a"}});
    set_steps.push_back({{"sintercard", "3", "a", "b"}});
    set_steps.push_back({{"sintercard", "2", "a", "b", "foo"}});
    set_steps.push_back({{"sintercard", "1", "nokey"}});
    set_steps.push_back({{"sintercard", "1", "str"}});
    set_steps.push_back({{"smove", "a", "b", "1"}});
    set_steps.push_back({{"smove", "a", "b", "1"}});
    set_steps.push_back({{"smove", "nokey", "b", "1"}});
    set_steps.push_back({{"smove", "a", "a", "2"}});
    set_steps.push_back({{"smove", "a", "a", "99"}});
    set_steps.push_back({{"smove", "a", "str", "2"}});
    set_steps.push_back({{"smove", "str", "a", "2"}});
    set_steps.push_back({{"smove", "a", "newset", "5"}});
    set_steps.push_back({{"smembers", "newset"}});
    set_steps.push_back({{"sscan", "a", "0"}});
    set_steps.push_back({{"sscan", "a", "0", "match", "1*"}});
    set_steps.push_back({{"sscan", "a", "x"}});
    set_steps.push_back({{"sscan", "nokey", "0"}});
    set_steps.push_back({{"sscan", "a", "0", "count", "0"}});
    set_steps.push_back({{"sscan", "str", "0"}});
    set_steps.push_back({{"sadd", "h", "1"}});
    set_steps.push_back({{"hset", "hh", "a", "1"}});
    set_steps.push_back({{"sadd", "hh", "x"}});
    set_steps.push_back({{"smembers", "hh"}});
    set_steps.push_back({{"scard", "str"}});
    // Arity, binary members, and a set of integers past 512 members.
    for (const auto& cmd : std::vector<std::vector<std::string>>{{"sadd", "s"},
                                                                 {"srem", "s"},
                                                                 {"scard"},
                                                                 {"sismember", "s"},
                                                                 {"smismember", "s"},
                                                                 {"smembers"},
                                                                 {"spop"},
                                                                 {"srandmember"},
                                                                 {"smove", "a", "b"},
                                                                 {"sinter"},
                                                                 {"sintercard", "1"},
                                                                 {"sinterstore", "d"},
                                                                 {"sunion"},
                                                                 {"sunionstore", "d"},
                                                                 {"sdiff"},
                                                                 {"sdiffstore", "d"},
                                                                 {"sscan", "s"}}) {
        set_steps.push_back({cmd});
    }
    set_steps.push_back({{"sadd", "bin", nul_field, binary_value, ""}});
    set_steps.push_back({{"sismember", "bin", nul_field}});
    set_steps.push_back({{"smembers", "bin"}, Order::sorted});
    set_steps.push_back({{"srem", "bin", ""}});
    set_steps.push_back({{"sscan", "bin", "0", "count", "100"}, Order::scan});
    std::vector<std::string> ints{"sadd", "ints"};
    for (int i = 0; i < 600; ++i) {
        ints.push_back(std::to_string(i * 37 % 600));
    }
    set_steps.push_back({{ints.begin(), ints.begin() + 500}});
    set_steps.push_back({{"smembers", "ints"}});
    set_steps.push_back({{"sinter", "ints", "ints"}});
    set_steps.push_back({ints});
    set_steps.push_back({{"scard", "ints"}});
    set_steps.push_back({{"smembers", "ints"}, Order::sorted});
    set_steps.push_back({{"sismember", "ints", "599"}});
    set_steps.push_back({{"srandmember", "ints", "1000"}, Order::sorted});
    set_steps.push_back({{"sunion", "ints", "a"}, Order::sorted});
    set_steps.push_back({{"sdiffstore", "big", "ints", "a"}});
    set_steps.push_back({{"smembers", "big"}, Order::sorted});
    set_steps.push_back({{"spop", "big", "1000"}, Order::sorted});
    set_steps.push_back({{"exists", "big"}});
    compare(ours, theirs, set_steps);
}

TEST_CASE("SSCAN walks a large set whole", "[resp][types]") {
    Gatiod gatiod;
    Client c(gatiod.port());
    std::vector<std::string> add{"sadd", "s"};
    for (int i = 0; i < 1000; ++i) {
        add.push_back('m' + std::to_string(i));
    }
    REQUIRE(c.exchange(request(add), 1) == ":1000\r\n");
    std::set<std::string> seen;
    std::string cursor = "0";
    int calls = 0;
    do {
        auto parts = elements(c.exchange(request({"sscan", "s", cursor, "count", "30"}), 1));
        REQUIRE(parts.size() == 2);
        cursor = parts[0].substr(parts[0].find("\r\n") + 2);
        cursor.resize(cursor.size() - 2);
        for (const auto& m : elements(parts[1])) {
            seen.insert(m);
        }
        if (calls < 10) {
            c.exchange(request({"srem", "s", 'm' + std::to_string(calls)}) +
                           request({"sadd", "s", "new" + std::to_string(calls)}),
                       2);
        }
        REQUIRE(++calls < 1000);
    } while (cursor != "0");
    for (int i = 10; i < 1000; ++i) {
        const std::string m = 'm' + std::to_string(i);
        INFO(m);
        CHECK(seen.count('$' + std::to_string(m.size()) + "\r\n" + m + "\r\n") == 1);
    }
}

TEST_CASE("more string commands answer as redis-server does", "[resp][types]") {
    Gatiod gatiod;
    RedisServer redis;
    Client ours(gatiod.port());
    Client theirs(redis.port());
    compare(ours, theirs,
            steps({
                {"flushall"},
                {"setnx", "a", "1"},
                {"setnx", "a", "2"},
                {"get", "a"},
                {"setnx", "a"},
                {"setex", "b", "100", "v"},
                {"ttl", "b"},
                {"setex", "b", "0", "v"},
                {"setex", "b", "-1", "v"},
                {"setex", "b", "x", "v"},
                {"setex", "b", "9223372036854775807", "v"},
                {"psetex", "c", "100000", "v"},
                {"exists", "c"},
                {"psetex", "c", "0", "v"},
                {"psetex", "c", "9223372036854775807", "v"},
                {"getdel", "a"},
                {"getdel", "a"},
                {"hset", "h", "f", "v"},
                {"getdel", "h"},
                {"getex", "b"},
                {"getex", "b", "persist"},
                {"ttl", "b"},
                {"getex", "b", "ex", "100"},
                {"ttl", "b"},
                {"getex", "b", "px", "5000"},
                {"getex", "b", "exat", "99999999999"},
                {"getex", "b", "pxat", "99999999999999"},
                {"getex", "b", "ex", "0"},
                {"getex", "b", "ex", "-1"},
                {"getex", "b", "ex", "x"},
                {"getex", "b", "persist", "ex", "10"},
                {"getex", "b", "ex", "10", "px", "10"},
                {"getex", "b", "foo"},
                {"getex", "nokey", "ex", "10"},
                {"getex", "h"},
                {"getex", "b", "ex"},
                {"incrbyfloat", "f", "1.5"},
                {"incrbyfloat", "f", "0.1"},
                {"incrbyfloat", "f", "x"},
                {"incrbyfloat", "f", "inf"},
                {"incrbyfloat", "h", "1"},
                {"set", "g", "abc"},
                {"incrbyfloat", "g", "1"},
                {"set", "g", "1e308"},
                {"incrbyfloat", "g", "1e308"},
                {"incrbyfloat", "g", "1e308"},
                {"set", "s", "Hello World"},
                {"getrange", "s", "0", "4"},
                {"getrange", "s", "-5", "-1"},
                {"getrange", "s", "5", "2"},
                {"getrange", "s", "0", "100"},
                {"getrange", "s", "-100", "-50"},
                {"getrange", "s", "x", "1"},
                {"getrange", "nokey", "0", "1"},
                {"getrange", "h", "0", "1"},
                {"substr", "s", "0", "4"},
                {"setrange", "s", "6", "Redis"},
                {"get", "s"},
                {"setrange", "n", "3", "abc"},
                {"get", "n"},
                {"setrange", "n", "-1", "x"},
                {"setrange", "n", "0", ""},
                {"setrange", "nn", "5", ""},
                {"exists", "nn"},
                {"setrange", "h", "0", "x"},
                {"setrange", "s", "536870912", "x"},
                {"msetnx", "m1", "1", "m2", "2"},
                {"msetnx", "m2", "3", "m3", "4"},
                {"get", "m3"},
                {"msetnx", "m1"},
                {"msetnx", "m1", "1", "m2"},
                {"getrange", "s", "9223372036854775807", "9223372036854775807"},
                {"getrange", "s", "-9223372036854775808", "-1"},
                {"getex", "b", "persist", "persist"},
                {"getex", "b", "ex", "10", "ex", "20"},
                {"ttl", "b"},
                {"getex", "b", "exat", "1"},
                {"exists", "b"},
                {"msetnx", "x1", "1", "h", "2"},
                {"get", "x1"},
                {"msetnx", "q1", "1", "q2", "2", "q3", "3", "q4", "4"},
                {"mget", "q1", "q2", "q3", "q4"},
                {"setrange", "big", "100", "x"},
                {"strlen", "big"},
                {"getrange", "big", "99", "100"},
                {"incrbyfloat", "neg", "-0"},
                {"setex", "h", "10", "now-a-string"},
                {"type", "h"},
                {"setnx", "h", "x"},
                {"set", "bin", binary_value},
                {"getrange", "bin", "1", "2"},
                {"setrange", "bin", "1", nul_field},
                {"get", "bin"},
                {"getdel", "bin"},
                {"setex", "k"},
                {"getdel"},
                {"getrange", "k", "0"},
                {"incrbyfloat", "k"},
            }));
}

TEST_CASE("bitmap commands answer as redis-server does", "[resp][types]") {
    Gatiod gatiod;
    RedisServer redis;
    Client ours(gatiod.port());
    Client theirs(redis.port());
    compare(ours, theirs,
            steps({
                {"flushall"},
                {"setbit", "b", "7", "1"},
                {"setbit", "b", "7", "0"},
                {"setbit", "b", "7", "1"},
                {"get", "b"},
                {"setbit", "b", "100", "1"},
                {"strlen", "b"},
                {"getbit", "b", "7"},
                {"getbit", "b", "6"},
                {"getbit", "b", "100"},
                {"getbit", "b", "10000"},
                {"getbit", "nokey", "0"},
                {"setbit", "b", "-1", "1"},
                {"setbit", "b", "x", "1"},
                {"setbit", "b", "1", "2"},
                {"setbit", "b", "1", "-1"},
                {"setbit", "b", "1", "x"},
                {"setbit", "b", "4294967296", "1"},
                {"getbit", "b", "4294967296"},
                {"getbit", "b", "-1"},
                {"getbit", "b", "x"},
                {"hset", "h", "f", "v"},
                {"setbit", "h", "0", "1"},
                {"getbit", "h", "0"},
                {"bitcount", "h"},
                {"bitpos", "h", "1"},
                {"set", "s", "foobar"},
                {"bitcount", "s"},
                {"bitcount", "s", "0", "0"},
                {"bitcount", "s", "1", "1"},
                {"bitcount", "s", "1", "-2"},
                {"bitcount", "s", "-2", "-1"},
                {"bitcount", "s", "-1", "-2"},
                {"bitcount", "s", "5", "30"},
                {"bitcount", "s", "-100", "100"},
                {"bitcount", "s", "5", "30", "bit"},
                {"bitcount", "s", "1", "1", "byte"},
                {"bitcount", "s", "-3", "-1", "BIT"},
                {"bitcount", "s", "0", "0", "bits"},
                {"bitcount", "s", "0"},
                {"bitcount", "s", "x", "1"},
                {"bitcount", "s", "0", "1", "bit", "x"},
                {"bitcount", "nokey"},
                {"bitcount", "nokey", "0", "1"},
                {"bitcount", "nokey", "x", "1"},
                {"bitcount", "nokey", "0"},
                {"bitpos", "nokey", "1", "x"},
                {"bitpos", "s", "1", "9223372036854775807", "-9223372036854775808"},
                {"bitpos", "s", "0", "-9223372036854775808", "9223372036854775807", "bit"},
                {"bitcount", "s", "9223372036854775807", "-9223372036854775808"},
                {"bitcount", "s", "-9223372036854775808", "9223372036854775807", "bit"},
                {"set", "p", std::string("\xff\xf0\x00", 3)},
                {"bitpos", "p", "0"},
                {"bitpos", "p", "1"},
                {"bitpos", "p", "1", "2"},
                {"bitpos", "p", "0", "1"},
                {"bitpos", "p", "1", "1", "-1"},
                {"bitpos", "p", "0", "0", "0"},
                {"bitpos", "p", "1", "7", "15", "bit"},
                {"bitpos", "p", "0", "7", "15", "bit"},
                {"bitpos", "p", "0", "3", "5", "bit"},
                {"bitpos", "p", "1", "12", "-1", "bit"},
                {"bitpos", "p", "1", "-5", "-1", "bit"},
                {"bitpos", "p", "0", "5", "2"},
                {"bitpos", "p", "1", "0", "0", "x"},
                {"bitpos", "p", "2"},
                {"bitpos", "p", "x"},
                {"bitpos", "p", "1", "x"},
                {"bitpos", "p", "1", "0", "x"},
                {"bitpos", "p", "1", "0", "1", "byte", "x"},
                {"set", "ones", std::string("\xff\xff", 2)},
                {"bitpos", "ones", "0"},
                {"bitpos", "ones", "0", "1"},
                {"bitpos", "ones", "0", "0", "-1"},
                {"bitpos", "ones", "0", "0", "15", "bit"},
                {"set", "empty", ""},
                {"bitpos", "empty", "0"},
                {"bitpos", "empty", "1"},
                {"bitcount", "empty"},
                {"bitpos", "nokey", "0"},
                {"bitpos", "nokey", "1"},
                {"bitpos", "nokey", "1", "5"},
                {"bitpos", "nokey", "2"},
                {"set", "n", "12345"},
                {"bitcount", "n"},
                {"setbit", "n", "0", "1"},
                {"get", "n"},
                {"setbit"},
                {"getbit", "b"},
                {"bitcount"},
                {"bitpos", "b"},
            }));
}

TEST_CASE("LCS answers as redis-server does, with keys on either shard", "[resp][types]") {
    Gatiod gatiod;
    RedisServer redis;
    Client ours(gatiod.port());
    Client theirs(redis.port());
    const std::string a = key_on(0, "a");
    const std::string b = key_on(1, "b");
    std::vector<Step> script = steps({
        {"flushall"},
        {"set", a, "ohmytext"},
        {"set", b, "mynewtext"},
        {"lcs", a, b},
        {"lcs", b, a},
        {"lcs", a, b, "len"},
        {"lcs", a, b, "idx"},
        {"lcs", a, b, "IDX", "minmatchlen", "4"},
        {"lcs", a, b, "idx", "minmatchlen", "4", "withmatchlen"},
        {"lcs", a, b, "idx", "withmatchlen"},
        {"lcs", a, b, "idx", "minmatchlen", "-5"},
        {"lcs", a, b, "withmatchlen", "minmatchlen", "2"},
        {"lcs", a, b, "len", "idx"},
        {"lcs", a, b, "minmatchlen", "x"},
        {"lcs", a, b, "minmatchlen"},
        {"lcs", a, b, "foo"},
        {"lcs", a, "nokey"},
        {"lcs", "nokey", "nokey2", "idx"},
        {"lcs", a, a, "idx", "withmatchlen"},
        {"hset", "h", "f", "v"},
        {"lcs", a, "h"},
        {"lcs", "h", "nokey"},
        {"lcs", a},
        {"set", "bin1", binary_value},
        {"set", "bin2", nul_field},
        {"lcs", "bin1", "bin2", "idx", "withmatchlen"},
        {"config", "set", "proto-max-bulk-len", "1mb"},
        {"set", "long1", std::string(600, 'x')},
        {"set", "long2", std::string(600, 'x')},
        {"lcs", "long1", "long2", "len"},
        {"lcs", "long1", "nokey", "len"},
        {"config", "set", "proto-max-bulk-len", "512mb"},
        {"lcs", "long1", "long2", "len"},
    });
    // Random strings over a small alphabet have many matches of every length.
    std::uint64_t seed = 7;
    auto next = [&seed] {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        return static_cast<std::uint32_t>(seed >> 33);
    };
    for (int round = 0; round < 20; ++round) {
        std::string x(20 + next() % 60, ' ');
        std::string y(20 + next() % 60, ' ');
        for (char& c : x) {
            c = static_cast<char>('a' + next() % 3);
        }
        for (char& c : y) {
            c = static_cast<char>('a' + next() % 3);
        }
        script.push_back({{"set", a, x}});
        script.push_back({{"set", b, y}});
        script.push_back({{"lcs", a, b}});
        script.push_back({{"lcs", a, b, "idx", "withmatchlen"}});
        script.push_back({{"lcs", a, b, "idx", "minmatchlen", "3"}});
    }
    compare(ours, theirs, script);
}

TEST_CASE("COPY answers as redis-server does, across shards and databases", "[resp][types]") {
    Gatiod gatiod;
    RedisServer redis;
    Client ours(gatiod.port());
    Client theirs(redis.port());
    const std::string a = key_on(0, "a");
    const std::string b = key_on(1, "b");
    const std::string c = key_on(0, "c");
    compare(ours, theirs,
            steps({
                {"flushall"},
                {"set", a, "v1"},
                {"copy", a, b},
                {"get", b},
                {"copy", a, b},
                {"set", a, "v2"},
                {"copy", a, b, "replace"},
                {"get", b},
                {"copy", a, c, "REPLACE", "replace"},
                {"copy", a, a},
                {"copy", a, a, "db", "0"},
                {"copy", a, a, "db", "1"},
                {"copy", a, b, "db", "1", "db", "2"},
                {"select", "1"},
                {"get", a},
                {"copy", a, b},
                {"get", b},
                {"select", "2"},
                {"get", b},
                {"select", "0"},
                {"copy", a, b, "db", "16"},
                {"copy", a, b, "db", "-1"},
                {"copy", a, b, "db", "x"},
                {"copy", a, b, "db", "99999999999"},
                {"copy", a, b, "db"},
                {"copy", a, b, "foo"},
                {"copy", "nokey", b, "replace"},
                {"copy", "nokey", b, "db", "99"},
                {"set", "e", "v", "ex", "1000"},
                {"copy", "e", "e2"},
                {"ttl", "e2"},
                {"hset", "h", "f", "v", "g", "w"},
                {"copy", "h", b, "replace"},
                {"type", b},
                {"hset", "h", "f", "changed"},
                {"hget", b, "f"},
                {"rpush", "l", "1", "2", "3"},
                {"copy", "l", c},
                {"lpush", "l", "0"},
                {"lrange", c, "0", "-1"},
                {"sadd", "s", "3", "1", "2"},
                {"copy", "s", "s2"},
                {"smembers", "s2"},
                {"zadd", "z", "1", "a", "2", "b", "-inf", "c"},
                {"copy", "z", "z2", "db", "3"},
                {"select", "3"},
                {"zrange", "z2", "0", "-1", "withscores"},
                {"select", "0"},
                {"copy", "z", b, "replace"},
                {"zrem", "z", "a"},
                {"zrange", b, "0", "-1", "withscores"},
                {"copy", "h", "h", "db", "1"},
                {"select", "1"},
                {"hgetall", "h"},
                {"select", "0"},
                {"copy"},
                {"copy", a},
            }));
}

TEST_CASE("OBJECT answers as redis-server does, following each value's form", "[resp][types]") {
    Gatiod gatiod;
    RedisServer redis;
    Client ours(gatiod.port());
    Client theirs(redis.port());
    const std::string long_text(45, 'x');
    const std::string long_field(65, 'f');
    std::vector<Step> script = steps({
        {"flushall"},
        {"set", "i", "123"},
        {"object", "encoding", "i"},
        {"object", "refcount", "i"},
        {"set", "i", "9999"},
        {"object", "refcount", "i"},
        {"set", "i", "10000"},
        {"object", "refcount", "i"},
        {"set", "i", "-5"},
        {"object", "encoding", "i"},
        {"object", "refcount", "i"},
        {"set", "i", "-9223372036854775808"},
        {"object", "encoding", "i"},
        {"set", "i", "12345678901234567890"},
        {"object", "encoding", "i"},
        {"set", "i", "007"},
        {"object", "encoding", "i"},
        {"set", "i", "-0"},
        {"object", "encoding", "i"},
        {"set", "s", "hello"},
        {"object", "encoding", "s"},
        {"object", "refcount", "s"},
        {"set", "s", long_text},
        {"object", "encoding", "s"},
        {"set", "s", std::string(44, 'y')},
        {"object", "encoding", "s"},
        {"append", "s", "z"},
        {"object", "encoding", "s"},
        {"set", "s", "5"},
        {"append", "s", ""},
        {"object", "encoding", "s"},
        {"append", "fresh", "5"},
        {"object", "encoding", "fresh"},
        {"object", "refcount", "fresh"},
        {"setrange", "r", "0", "12"},
        {"object", "encoding", "r"},
        {"set", "r", "12"},
        {"setrange", "r", "0", ""},
        {"object", "encoding", "r"},
        {"setrange", "r", "0", "3"},
        {"object", "encoding", "r"},
        {"setbit", "bits", "3", "1"},
        {"object", "encoding", "bits"},
        {"set", "n", "5"},
        {"incr", "n"},
        {"object", "encoding", "n"},
        {"object", "refcount", "n"},
        {"incrby", "n", "100000"},
        {"object", "refcount", "n"},
        {"incrbyfloat", "n", "1"},
        {"object", "encoding", "n"},
        {"incrbyfloat", "f", "1.5"},
        {"object", "encoding", "f"},
        {"set", "g", "5"},
        {"getset", "g", "6"},
        {"object", "refcount", "g"},
        {"setex", "g", "100", "7"},
        {"object", "encoding", "g"},
        {"mset", "m1", "1", "m2", long_text},
        {"object", "encoding", "m1"},
        {"object", "encoding", "m2"},
        {"set", "cp", "42"},
        {"copy", "cp", "cp2"},
        {"object", "encoding", "cp2"},
        {"object", "refcount", "cp2"},
        {"object", "refcount", "cp"},
        {"append", "cp", "x"},
        {"copy", "cp", "cp3"},
        {"object", "encoding", "cp3"},
        {"rename", "cp", "cp4"},
        {"object", "encoding", "cp4"},
        {"hset", "h", "f", "v"},
        {"object", "encoding", "h"},
        {"object", "refcount", "h"},
        {"hset", "h", "g", long_field},
        {"object", "encoding", "h"},
        {"hdel", "h", "g"},
        {"object", "encoding", "h"},
        {"copy", "h", "h2"},
        {"object", "encoding", "h2"},
        {"rpush", "l", "a"},
        {"object", "encoding", "l"},
        {"sadd", "si", "1", "2", "3"},
        {"object", "encoding", "si"},
        {"copy", "si", "si2"},
        {"object", "encoding", "si2"},
        {"sadd", "si", "x"},
        {"object", "encoding", "si"},
        {"srem", "si", "x"},
        {"object", "encoding", "si"},
        {"copy", "si", "si3"},
        {"object", "encoding", "si3"},
        {"zadd", "z", "1", "a"},
        {"object", "encoding", "z"},
        {"zadd", "z", "2", long_field},
        {"object", "encoding", "z"},
        {"zrem", "z", long_field},
        {"copy", "z", "z2"},
        {"object", "encoding", "z2"},
        {"object", "freq", "i"},
        {"object", "freq", "nokey"},
        {"object", "encoding", "nokey"},
        {"object", "refcount", "nokey"},
        {"object", "idletime", "nokey"},
        {"OBJECT", "ENCODING", "i"},
        {"object"},
        {"object", "foo"},
        {"object", "foo", "i"},
        {"object", "encoding"},
        {"object", "encoding", "i", "j"},
        {"object", "freq"},
        {"multi"},
        {"object", "encoding", "i"},
        {"object", "encoding"},
        {"exec"},
        {"multi"},
        {"object", "encoding", "h"},
        {"object", "refcount", "i"},
        {"exec"},
    });
    for (int i = 0; i < 600; ++i) {
        script.push_back({{"sadd", "big", std::to_string(i)}});
        script.push_back({{"zadd", "zbig", std::to_string(i), numbered("m", static_cast<std::size_t>(i))}});
        script.push_back({{"hset", "hbig", numbered("f", static_cast<std::size_t>(i)), "v"}});
        if (i == 127 || i == 128 || i == 511 || i == 512) {
            script.push_back({{"object", "encoding", "big"}});
            script.push_back({{"object", "encoding", "zbig"}});
            script.push_back({{"object", "encoding", "hbig"}});
        }
    }
    compare(ours, theirs, script);
    // The idle time is in whole seconds of a clock that may tick between the two requests.
    for (Client* client : {&ours, &theirs}) {
        const std::string idle = client->exchange(request({"object", "idletime", "i"}), 1);
        CHECK((idle == ":0\r\n" || idle == ":1\r\n"));
    }
}

TEST_CASE("key commands answer as redis-server does", "[resp][types]") {
    Gatiod gatiod;
    RedisServer redis;
    Client ours(gatiod.port());
    Client theirs(redis.port());
    std::vector<Step> key_steps = steps({
        {"flushall"},
        {"set", "a", "1"},
        {"hset", "h", "f", "v"},
        {"touch", "a", "h", "nokey", "a"},
        {"unlink", "a", "nokey"},
        {"expireat", "h", "99999999999"},
        {"expiretime", "h"},
        {"pexpiretime", "h"},
        {"expiretime", "nokey"},
        {"pexpiretime", "nokey"},
        {"set", "p", "1"},
        {"expiretime", "p"},
        {"expireat", "p", "1"},
        {"exists", "p"},
        {"set", "p", "1"},
        {"pexpireat", "p", "99999999999999"},
        {"pexpiretime", "p"},
        {"expireat", "p", "x"},
        {"expireat", "p", "99999999999", "nx"},
        {"expireat", "p", "99999999999", "xx"},
        {"expireat", "p", "9223372036854775807"},
        {"pexpireat", "p", "9223372036854775807"},
        {"pexpireat", "p", "-9223372036854775808"},
        {"exists", "p"},
        {"rename", "nokey", "x"},
        {"rename", "h", "h2"},
        {"type", "h2"},
        {"exists", "h"},
        {"rename", "h2", "h2"},
        {"set", "q", "1"},
        {"renamenx", "h2", "q"},
        {"renamenx", "h2", "q2"},
        {"renamenx", "q2", "q2"},
        {"renamenx", "nokey", "z"},
        {"expiretime", "q2"},
        {"rename", "q2", "q"},
        {"expiretime", "q"},
        {"keys", "*"},
        {"keys", "q*"},
        {"keys", "[a-z]"},
        {"keys"},
        {"keys", "a", "b"},
        {"mset", "k1", "1", "k2", "2", "other", "3"},
        {"rpush", "klist", "a"},
        {"sadd", "kset", "a"},
        {"rename", "klist", "kset"},
        {"type", "kset"},
        {"renamenx", "k1", "k2"},
        {"rename", "k1", "k9"},
        {"get", "k9"},
        {"touch"},
        {"unlink"},
        {"expireat", "k9"},
        {"expiretime"},
        {"rename", "k9"},
    });
    key_steps.push_back({{"keys", "*"}, Order::sorted});
    key_steps.push_back({{"keys", "k?"}, Order::sorted});
    key_steps.push_back({{"keys", "[ko]*"}, Order::sorted});
    key_steps.push_back({{"keys", "nomatch*"}});
    compare(ours, theirs, key_steps);
}

TEST_CASE("sorted-set commands answer as redis-server does", "[resp][types]") {
    Gatiod gatiod;
    RedisServer redis;
    Client ours(gatiod.port());
    Client theirs(redis.port());
    const std::string nul_member("m\0x", 3);
    const std::string long_member(70, 'L'); // past the small form's member length
    compare(
        ours, theirs,
        steps({
            {"flushall"},
            // ZADD: flags, scores, errors in redis-server's order of checks.
            {"zadd", "z", "1", "a", "2", "b", "3", "c"},
            {"zadd", "z", "1.5", "a", "2", "b", "-0", "zero"},
            {"zadd", "z"},
            {"zadd", "z", "1"},
            {"zadd", "z", "1", "a", "2"},
            {"zadd", "z", "nx"},
            {"zadd", "z", "nx", "xx", "1", "a"},
            {"zadd", "z", "gt", "lt", "1", "a"},
            {"zadd", "z", "gt", "nx", "1", "a"},
            {"zadd", "z", "incr", "1", "a", "2", "b"},
            {"zadd", "z", "nan", "a"},
            {"zadd", "z", "x", "a"},
            {"zadd", "z", " 1", "a"},
            {"zadd", "z", "1 ", "a"},
            {"zadd", "z", "", "a"},
            {"zadd", "z", "1e400", "a"},
            {"zadd", "z", "1e-400", "a"},
            {"zadd", "z", "4.9e-324", "tiny"},
            {"zadd", "z", "0x10", "hex"},
            {"zadd", "z", "inf", "top", "-inf", "bottom", "+inf", "top2"},
            {"zadd", "z", "1.1", "frac", "1e17", "e17", "123456789012345678", "long"},
            // Plain integers take a shorter way than strtod: at and past its 15 digits, signs
            // and leading zeros, a lone sign.
            {"zadd", "z", "999999999999999", "d15", "-999999999999999", "m15", "9999999999999999", "d16"},
            {"zadd", "z", "007", "lead", "-0012", "mlead", "+5", "plus", "-", "sign"},
            {"zadd", "z", "-0", "mzero", "00", "zeros", "-5x", "bad"},
            {"zrange", "z", "0", "-1", "withscores"},
            {"zadd", "z", "ch", "5", "a", "2", "b", "9", "new"},
            {"zadd", "z", "xx", "ch", "6", "a", "7", "absent"},
            {"zadd", "z", "nx", "ch", "0", "a", "8", "nxnew"},
            {"zadd", "z", "gt", "ch", "1", "a", "10", "b"},
            {"zadd", "z", "lt", "ch", "1", "a", "100", "b"},
            {"zadd", "z", "incr", "2.5", "a"},
            {"zadd", "z", "incr", "nx", "2.5", "a"},
            {"zadd", "z", "incr", "xx", "1", "nosuch"},
            {"zadd", "z", "incr", "gt", "-1", "a"},
            {"zadd", "z", "incr", "lt", "-1", "a"},
            {"zadd", "z", "incr", "-inf", "top"},
            {"zadd", "z", "incr", "inf", "top"},
            {"zadd", "nokey", "xx", "1", "a"},
            {"zadd", "nokey", "xx", "incr", "1", "a"},
            {"exists", "nokey"},
            {"zadd", "z", "NX", "Ch", "1", "caps"},
            {"zrange", "z", "0", "-1", "withscores"},
            // ZINCRBY.
            {"zincrby", "z", "1", "a"},
            {"zincrby", "z", "x", "a"},
            {"zincrby", "z", "-inf", "top"},
            {"zincrby", "w", "-0.0", "m"},
            {"zscore", "w", "m"},
            {"zincrby", "w", "2"},
            // ZSCORE, ZMSCORE, ZCARD, ZRANK, ZREVRANK.
            {"zscore", "z", "a"},
            {"zscore", "z", "nosuch"},
            {"zscore", "nokey", "a"},
            {"zscore", "z", "tiny"},
            {"zscore", "z", "bottom"},
            {"zmscore", "z", "a", "nosuch", "top", "zero"},
            {"zmscore", "nokey", "a", "b"},
            {"zmscore", "z"},
            {"zcard", "z"},
            {"zcard", "nokey"},
            {"zcard", "z", "x"},
            {"zrank", "z", "a"},
            {"zrank", "z", "bottom"},
            {"zrank", "z", "nosuch"},
            {"zrank", "nokey", "a"},
            {"zrevrank", "z", "a"},
            {"zrevrank", "z", "bottom"},
            {"zrevrank", "z", "nosuch"},
            {"zrank", "z"},
            // ZRANGE by rank.
            {"zrange", "z", "0", "2"},
            {"zrange", "z", "-3", "-1", "withscores"},
            {"zrange", "z", "-100", "100"},
            {"zrange", "z", "5", "2"},
            {"zrange", "z", "100", "200"},
            {"zrange", "z", "0", "-100"},
            {"zrange", "z", "x", "1"},
            {"zrange", "z", "0", "1", "rev"},
            {"zrange", "z", "0", "1", "rev", "withscores"},
            {"zrange", "z", "0", "1", "limit", "0", "1"},
            {"zrange", "z", "0", "1", "limit", "5", "-1"},
            {"zrange", "z", "0", "1", "limit", "0"},
            {"zrange", "z", "0", "1", "rev", "rev"},
            {"zrange", "z", "0", "1", "byscore", "bylex"},
            {"zrange", "z", "0", "1", "foo"},
            {"zrange", "nokey", "0", "-1"},
            {"zrange", "z", "0"},
            {"zrevrange", "z", "0", "2", "withscores"},
            {"zrevrange", "z", "-2", "-1"},
            {"zrevrange", "z", "0", "1", "rev"},
            {"zrevrange", "z", "0", "1", "byscore"},
            {"zrevrange", "z", "0", "1", "limit", "0", "1"},
            // ZRANGE by score.
            {"zrange", "z", "1", "5", "byscore"},
            {"zrange", "z", "(1", "(5", "byscore", "withscores"},
            {"zrange", "z", "-inf", "+inf", "byscore"},
            {"zrange", "z", "5", "1", "byscore"},
            {"zrange", "z", "5", "1", "byscore", "rev", "withscores"},
            {"zrange", "z", "(5", "(5", "byscore"},
            {"zrange", "z", "5", "5", "byscore"},
            {"zrange", "z", "-inf", "inf", "byscore", "limit", "1", "3"},
            {"zrange", "z", "-inf", "inf", "byscore", "limit", "1", "-1"},
            {"zrange", "z", "-inf", "inf", "byscore", "limit", "-1", "3"},
            {"zrange", "z", "-inf", "inf", "byscore", "limit", "100", "3"},
            {"zrange", "z", "-inf", "inf", "byscore", "limit", "0", "0"},
            {"zrange", "z", "-inf", "inf", "byscore", "limit", "x", "0"},
            {"zrange", "z", "inf", "-inf", "byscore", "rev", "limit", "2", "2", "withscores"},
            {"zrange", "z", "x", "1", "byscore"},
            {"zrange", "z", "1", "nan", "byscore"},
            {"zrange", "z", "(", "1", "byscore"},
            {"zrange", "z", "", "", "byscore"},
            {"zrange", "z", " 1", "5", "byscore"},
            {"zrangebyscore", "z", "1", "5"},
            {"zrangebyscore", "z", "1", "5", "withscores", "limit", "1", "1"},
            {"zrangebyscore", "z", "1", "5", "byscore"},
            {"zrangebyscore", "z", "1", "5", "rev"},
            {"zrangebyscore", "z", "1", "5", "limit", "1"},
            {"zrangebyscore", "nokey", "1", "5"},
            {"zrevrangebyscore", "z", "5", "1", "withscores"},
            {"zrevrangebyscore", "z", "1", "5"},
            {"zrevrangebyscore", "z", "+inf", "-inf", "limit", "0", "2"},
            {"zrangebyscore", "z"},
            // ZCOUNT.
            {"zcount", "z", "-inf", "+inf"},
            {"zcount", "z", "(1", "5"},
            {"zcount", "z", "5", "1"},
            {"zcount", "z", "x", "1"},
            {"zcount", "nokey", "0", "1"},
            {"zcount", "z", "", ""},
            // Lex ranges over members of one score.
            {"zadd", "lex", "0", "a", "0", "b", "0", "c", "0", "d", "0", "e", "0", nul_member, "0", "\xff"},
            {"zrangebylex", "lex", "-", "+"},
            {"zrangebylex", "lex", "[b", "(d"},
            {"zrangebylex", "lex", "(b", "[d"},
            {"zrangebylex", "lex", "[m", "+"},
            {"zrangebylex", "lex", "-", "-"},
            {"zrangebylex", "lex", "+", "+"},
            {"zrangebylex", "lex", "+", "-"},
            {"zrangebylex", "lex", "[d", "[b"},
            {"zrangebylex", "lex", "[b", "[b"},
            {"zrangebylex", "lex", "(b", "[b"},
            {"zrangebylex", "lex", "-", "+", "limit", "1", "2"},
            {"zrangebylex", "lex", "-", "+", "limit", "-1", "2"},
            {"zrangebylex", "lex", "-", "+", "withscores"},
            {"zrangebylex", "lex", "b", "+"},
            {"zrangebylex", "lex", "[a", "+x"},
            {"zrangebylex", "lex", "", "+"},
            {"zrevrangebylex", "lex", "+", "-"},
            {"zrevrangebylex", "lex", "[d", "(a", "limit", "1", "2"},
            {"zrevrangebylex", "lex", "-", "+"},
            {"zrange", "lex", "[b", "[d", "bylex"},
            {"zrange", "lex", "[d", "[b", "bylex", "rev"},
            {"zrange", "lex", "[b", "[d", "bylex", "withscores"},
            {"zrange", "lex", "-", "+", "bylex", "limit", "2", "3"},
            {"zlexcount", "lex", "-", "+"},
            {"zlexcount", "lex", "[b", "(e"},
            {"zlexcount", "lex", "(e", "[b"},
            {"zlexcount", "lex", "b", "c"},
            {"zlexcount", "nokey", "-", "+"},
            // ZRANGESTORE.
            {"zrangestore", "dst", "z", "0", "2"},
            {"zrange", "dst", "0", "-1", "withscores"},
            {"zrangestore", "dst", "z", "5", "1", "byscore", "rev", "limit", "0", "2"},
            {"zrange", "dst", "0", "-1", "withscores"},
            {"zrangestore", "dst", "lex", "[b", "[c", "bylex"},
            {"zrange", "dst", "0", "-1", "withscores"},
            {"zrangestore", "dst", "z", "0", "-1", "withscores"},
            {"zrangestore", "dst", "z", "10", "20"},
            {"exists", "dst"},
            {"zrangestore", "dst", "nokey", "0", "-1"},
            {"set", "str", "v"},
            {"zrangestore", "str", "z", "0", "0"},
            {"type", "str"},
            {"zrangestore", "dst", "str", "0", "-1"},
            {"zrangestore", "dst", "z", "0"},
            {"zrangestore", "dst", "z", "0", "1", "limit", "0", "1"},
            // ZREM and the ZREMRANGEBY family.
            {"zrem", "z", "a", "nosuch", "b"},
            {"zrem", "nokey", "a"},
            {"zrem", "z"},
            {"zremrangebyrank", "z", "0", "0"},
            {"zremrangebyrank", "z", "-1", "-1"},
            {"zremrangebyrank", "z", "5", "1"},
            {"zremrangebyrank", "z", "100", "200"},
            {"zremrangebyrank", "z", "x", "1"},
            {"zremrangebyrank", "nokey", "0", "1"},
            {"zremrangebyscore", "z", "(1", "5"},
            {"zremrangebyscore", "z", "x", "5"},
            {"zremrangebyscore", "nokey", "0", "5"},
            {"zremrangebylex", "lex", "[b", "[c"},
            {"zremrangebylex", "lex", "b", "c"},
            {"zremrangebylex", "nokey", "-", "+"},
            {"zrange", "z", "0", "-1", "withscores"},
            {"zrange", "lex", "0", "-1"},
            {"zremrangebylex", "lex", "-", "+"},
            {"exists", "lex"},
            // ZPOPMIN, ZPOPMAX.
            {"zadd", "p", "1", "a", "2", "b", "3", "c", "4", "d"},
            {"zpopmin", "p"},
            {"zpopmax", "p"},
            {"zpopmin", "p", "0"},
            {"zpopmin", "p", "-1"},
            {"zpopmin", "p", "x"},
            {"zpopmin", "p", "1", "2"},
            {"zpopmax", "nokey"},
            {"zpopmax", "nokey", "x"},
            {"zpopmax", "p", "10"},
            {"exists", "p"},
            // ZRANDMEMBER where its answer is not random.
            {"zadd", "r", "1", "a", "2", "b", "3", "c"},
            {"zrandmember", "nokey"},
            {"zrandmember", "nokey", "5"},
            {"zrandmember", "r", "0"},
            {"zrandmember", "r", "3"},
            {"zrandmember", "r", "10", "withscores"},
            {"zrandmember", "r", "x"},
            {"zrandmember", "r", "1", "foo"},
            {"zrandmember", "r", "1", "withscores", "x"},
            {"zrandmember", "r", "-9223372036854775808"},
            {"zrandmember", "r", "9223372036854775807", "withscores"},
            {"zrandmember", "r", "-9223372036854775807", "withscores"},
            // ZSCAN of a small set: whole and in order.
            {"zscan", "r", "0"},
            {"zscan", "r", "0", "match", "[ab]"},
            {"zscan", "r", "0", "count", "1"},
            {"zscan", "r", "0", "count", "0"},
            {"zscan", "r", "x"},
            {"zscan", "r", "0", "foo"},
            {"zscan", "nokey", "0"},
            // ZUNION, ZINTER, ZDIFF, their STORE forms and ZINTERCARD.
            {"del", "a", "b", "s"},
            {"zadd", "a", "1", "x", "2", "y", "3", "z"},
            {"zadd", "b", "10", "y", "20", "z", "30", "w"},
            {"sadd", "s", "y", "q"},
            {"zunion", "2", "a", "b"},
            {"zunion", "2", "a", "b", "withscores"},
            {"zunion", "3", "a", "b", "s", "withscores"},
            {"zunion", "2", "a", "b", "weights", "2", "0.5", "withscores"},
            {"zunion", "2", "a", "b", "aggregate", "min", "withscores"},
            {"zunion", "2", "a", "b", "aggregate", "MAX", "withscores"},
            {"zunion", "2", "a", "b", "aggregate", "foo"},
            {"zunion", "2", "a", "b", "weights", "1"},
            {"zunion", "2", "a", "b", "weights", "1", "x"},
            {"zunion", "2", "a", "b", "weights", "nan", "1"},
            {"zunion", "2", "a", "b", "weights", "inf", "-inf", "withscores"},
            {"zunion", "0", "a"},
            {"zunion", "-1", "a"},
            {"zunion", "x", "a"},
            {"zunion", "3", "a", "b"},
            {"zunion", "1", "nokey"},
            {"zunion", "2", "a", "str"},
            {"zunion", "2", "a", "str", "aggregate", "foo"},
            {"zunion", "1", "a", "foo"},
            {"zinter", "2", "a", "b", "withscores"},
            {"zinter", "2", "a", "s", "withscores"},
            {"zinter", "2", "a", "a", "withscores"},
            {"zinter", "2", "a", "nokey"},
            {"zinter", "2", "a", "b", "weights", "1", "-1", "aggregate", "sum", "withscores"},
            {"zinter", "2", "a", "b", "aggregate", "min", "withscores"},
            {"zdiff", "2", "a", "b", "withscores"},
            {"zdiff", "2", "b", "a", "withscores"},
            {"zdiff", "3", "a", "b", "s", "withscores"},
            {"zdiff", "1", "nokey"},
            {"zdiff", "2", "a", "b", "weights", "1", "1"},
            {"zdiff", "2", "a", "b", "aggregate", "sum"},
            {"zunionstore", "u", "2", "a", "b"},
            {"zrange", "u", "0", "-1", "withscores"},
            {"zunionstore", "u", "2", "a", "b", "withscores"},
            {"zunionstore", "u", "0", "a"},
            {"zinterstore", "u", "2", "a", "b", "weights", "1", "2"},
            {"zrange", "u", "0", "-1", "withscores"},
            {"zinterstore", "u", "2", "a", "nokey"},
            {"exists", "u"},
            {"zdiffstore", "u", "2", "b", "a"},
            {"zrange", "u", "0", "-1", "withscores"},
            {"zdiffstore", "str", "1", "a"},
            {"type", "str"},
            {"set", "str", "v"},
            {"zunionstore", "u", "2", "a", "str"},
            {"zunionstore", "u"},
            {"zintercard", "2", "a", "b"},
            {"zintercard", "2", "a", "b", "limit", "1"},
            {"zintercard", "2", "a", "b", "limit", "0"},
            {"zintercard", "2", "a", "b", "limit", "-1"},
            {"zintercard", "2", "a", "b", "limit", "x"},
            {"zintercard", "2", "a", "b", "withscores"},
            {"zintercard", "0", "a"},
            {"zintercard", "x", "a"},
            {"zintercard", "3", "a", "b"},
            {"zintercard", "2", "a", "nokey"},
            {"zintercard", "2", "a", "s"},
            // WRONGTYPE on every command of one key.
            {"zadd", "str", "1", "a"},
            {"zadd", "str", "x", "a"},
            {"zincrby", "str", "1", "a"},
            {"zrem", "str", "a"},
            {"zcard", "str"},
            {"zscore", "str", "a"},
            {"zmscore", "str", "a"},
            {"zcount", "str", "0", "1"},
            {"zlexcount", "str", "-", "+"},
            {"zrange", "str", "0", "1"},
            {"zrangebyscore", "str", "0", "1"},
            {"zrangebylex", "str", "-", "+"},
            {"zrank", "str", "a"},
            {"zrevrank", "str", "a"},
            {"zpopmin", "str"},
            {"zrandmember", "str"},
            {"zrandmember", "str", "1"},
            {"zremrangebyrank", "str", "0", "1"},
            {"zremrangebyscore", "str", "0", "1"},
            {"zremrangebylex", "str", "-", "+"},
            {"zscan", "str", "0"},
            {"zadd", "z", "1", "a"},
            {"get", "z"},
            {"sadd", "z", "a"},
            {"type", "z"},
            // Binary members and the step past the small form.
            {"zadd", "bin", "1", nul_member, "2", binary_value, "3", long_member},
            {"zrange", "bin", "0", "-1", "withscores"},
            {"zscore", "bin", nul_member},
            {"zrank", "bin", long_member},
            {"zscan", "bin", "0", "match", "m*"},
            {"zrem", "bin", binary_value},
            {"zrange", "bin", "0", "-1"},
            {"zadd", "neg", "0", "m", "-0", "n"},
            {"zadd", "neg", "-0", "m"},
            {"zrange", "neg", "0", "-1", "withscores"},
            {"zunion", "1", "neg", "weights", "-1", "withscores"},
            // Arity.
            {"zscore", "z"},
            {"zcount", "z", "1"},
            {"zremrangebyrank", "z", "1"},
            {"zpopmin"},
            {"zrandmember"},
            {"zscan", "z"},
            {"zunion", "1"},
            {"zintercard", "1"},
            {"zrangestore", "d", "z", "0"},
        }));
}

TEST_CASE("large sorted sets answer as redis-server does", "[resp][types]") {
    Gatiod gatiod;
    RedisServer redis;
    Client ours(gatiod.port());
    Client theirs(redis.port());
    // 1000 members with repeated scores: past the small form, and ties ordered by member.
    std::vector<std::string> add{"zadd", "big"};
    std::vector<std::string> add2{"zadd", "other"};
    for (int i = 0; i < 1000; ++i) {
        add.push_back(std::to_string(i * 37 % 101));
        add.push_back('m' + std::to_string(i));
        if (i % 3 == 0) {
            add2.push_back(std::to_string(i % 7) + ".25");
            add2.push_back('m' + std::to_string(i));
        }
    }
    std::vector<Step> script;
    script.push_back({{"flushall"}});
    script.push_back({add});
    script.push_back({add2});
    script.push_back({{"zcard", "big"}});
    script.push_back({{"zrange", "big", "0", "-1", "withscores"}});
    script.push_back({{"zrange", "big", "500", "520", "rev", "withscores"}});
    script.push_back({{"zrange", "big", "(10", "20", "byscore", "limit", "7", "30"}});
    script.push_back({{"zrevrangebyscore", "big", "50", "(40", "withscores", "limit", "3", "10"}});
    script.push_back({{"zcount", "big", "(10", "20"}});
    for (int i = 0; i < 1000; i += 97) {
        script.push_back({{"zrank", "big", 'm' + std::to_string(i)}});
        script.push_back({{"zrevrank", "big", 'm' + std::to_string(i)}});
        script.push_back({{"zscore", "big", 'm' + std::to_string(i)}});
    }
    script.push_back({{"zincrby", "big", "1000", "m5"}});
    script.push_back({{"zadd", "big", "gt", "ch", "-1", "m6", "1e6", "m7"}});
    script.push_back({{"zrem", "big", "m1", "m2", "m3"}});
    script.push_back({{"zremrangebyrank", "big", "10", "19"}});
    script.push_back({{"zremrangebyscore", "big", "(90", "95"}});
    script.push_back({{"zrange", "big", "0", "-1", "withscores"}});
    script.push_back({{"zunion", "2", "big", "other", "weights", "1", "2", "withscores"}});
    script.push_back({{"zinter", "2", "big", "other", "aggregate", "max", "withscores"}});
    script.push_back({{"zdiff", "2", "big", "other"}});
    script.push_back({{"zintercard", "2", "big", "other"}});
    script.push_back({{"zunionstore", "u", "2", "big", "other"}});
    script.push_back({{"zrange", "u", "0", "-1", "withscores"}});
    script.push_back({{"zrandmember", "big", "5000"}});
    script.push_back({{"zpopmin", "big", "5"}});
    script.push_back({{"zpopmax", "big", "5"}});
    script.push_back({{"zrangestore", "d", "big", "10", "1000", "byscore", "limit", "3", "200"}});
    script.push_back({{"zrange", "d", "0", "-1", "withscores"}});
    compare(ours, theirs, script);
}

TEST_CASE("ZSCAN walks a large sorted set whole, and ZRANDMEMBER picks distinct members", "[resp][types]") {
    Gatiod gatiod;
    Client c(gatiod.port());
    std::vector<std::string> add{"zadd", "z"};
    for (int i = 0; i < 1000; ++i) {
        add.push_back(std::to_string(i));
        add.push_back('m' + std::to_string(i));
    }
    REQUIRE(c.exchange(request(add), 1) == ":1000\r\n");
    std::set<std::string> seen;
    std::string cursor = "0";
    int calls = 0;
    do {
        auto parts = elements(c.exchange(request({"zscan", "z", cursor, "count", "30"}), 1));
        REQUIRE(parts.size() == 2);
        cursor = parts[0].substr(parts[0].find("\r\n") + 2);
        cursor.resize(cursor.size() - 2);
        auto items = elements(parts[1]);
        REQUIRE(items.size() % 2 == 0);
        for (std::size_t i = 0; i < items.size(); i += 2) {
            seen.insert(items[i] + items[i + 1]);
        }
        if (calls < 10) {
            c.exchange(request({"zrem", "z", 'm' + std::to_string(calls)}) +
                           request({"zadd", "z", "1", "new" + std::to_string(calls)}),
                       2);
        }
        REQUIRE(++calls < 1000);
    } while (cursor != "0");
    for (int i = 10; i < 1000; ++i) {
        const std::string m = 'm' + std::to_string(i);
        const std::string s = std::to_string(i);
        INFO(m);
        CHECK(seen.count('$' + std::to_string(m.size()) + "\r\n" + m + "\r\n$" + std::to_string(s.size()) +
                         "\r\n" + s + "\r\n") == 1);
    }
    auto distinct = elements(c.exchange(request({"zrandmember", "z", "100"}), 1));
    CHECK(distinct.size() == 100);
    CHECK(std::set<std::string>(distinct.begin(), distinct.end()).size() == 100);
    auto repeated = elements(c.exchange(request({"zrandmember", "z", "-500", "withscores"}), 1));
    REQUIRE(repeated.size() == 1000);
    auto one = c.exchange(request({"zrandmember", "z"}), 1);
    CHECK(one[0] == '$');
}

TEST_CASE("databases answer as redis-server does", "[resp][types]") {
    Gatiod gatiod;
    RedisServer redis;
    Client ours(gatiod.port());
    Client theirs(redis.port());
    std::vector<Step> script;
    script.push_back({{"flushall"}});
    // Enough keys that both shards hold some of each database.
    std::vector<std::string> mset{"mset"};
    for (int i = 0; i < 20; ++i) {
        mset.push_back('k' + std::to_string(i));
        mset.push_back("zero");
    }
    script.push_back({mset});
    script.push_back({{"config", "get", "databases"}});
    script.push_back({{"select", "16"}});
    script.push_back({{"select", "-1"}});
    script.push_back({{"select", "x"}});
    script.push_back({{"select", "2147483648"}});
    script.push_back({{"select"}});
    script.push_back({{"select", "15"}});
    script.push_back({{"dbsize"}});
    script.push_back({{"get", "k1"}});
    script.push_back({{"select", "1"}});
    script.push_back({{"mset", "k1", "one", "k2", "one", "only1", "x"}});
    script.push_back({{"zadd", "z", "1", "a"}});
    script.push_back({{"dbsize"}});
    script.push_back({{"keys", "only*"}});
    script.push_back({{"info", "keyspace"}});
    script.push_back({{"move", "k1", "0"}});
    script.push_back({{"move", "only1", "0"}});
    script.push_back({{"move", "only1", "1"}});
    script.push_back({{"move", "nokey", "1"}});
    script.push_back({{"move", "nokey", "2"}});
    script.push_back({{"move", "z", "16"}});
    script.push_back({{"move", "z", "-1"}});
    script.push_back({{"move", "z", "x"}});
    script.push_back({{"move", "z", "2147483648"}});
    script.push_back({{"swapdb", "2147483648", "0"}});
    script.push_back({{"move", "z"}});
    script.push_back({{"move", "z", "3"}});
    script.push_back({{"exists", "z", "only1"}});
    script.push_back({{"select", "3"}});
    script.push_back({{"zrange", "z", "0", "-1", "withscores"}});
    script.push_back({{"select", "0"}});
    script.push_back({{"get", "only1"}});
    script.push_back({{"dbsize"}});
    script.push_back({{"info", "keyspace"}});
    script.push_back({{"swapdb", "0", "1"}});
    script.push_back({{"dbsize"}});
    script.push_back({{"mget", "k1", "k2", "k3", "only1"}});
    script.push_back({{"swapdb", "1", "1"}});
    script.push_back({{"swapdb", "0", "16"}});
    script.push_back({{"swapdb", "-1", "0"}});
    script.push_back({{"swapdb", "x", "0"}});
    script.push_back({{"swapdb", "0", "x"}});
    script.push_back({{"swapdb", "0"}});
    script.push_back({{"info", "keyspace"}});
    script.push_back({{"flushdb"}});
    script.push_back({{"dbsize"}});
    script.push_back({{"flushdb", "foo"}});
    script.push_back({{"select", "1"}});
    script.push_back({{"dbsize"}});
    script.push_back({{"rename", "k1", "r1"}});
    script.push_back({{"sinterstore", "dst", "nokey"}});
    script.push_back({{"info", "keyspace"}});
    script.push_back({{"flushall"}});
    script.push_back({{"dbsize"}});
    script.push_back({{"select", "3"}});
    script.push_back({{"dbsize"}});
    script.push_back({{"info", "keyspace"}});
    compare(ours, theirs, script);
    // A new connection starts in database 0.
    Client fresh(gatiod.port());
    CHECK(fresh.exchange(request({"set", "a", "1"}) + request({"select", "5"}) + request({"get", "a"}), 3) ==
          "+OK\r\n+OK\r\n$-1\r\n");
}

TEST_CASE("the databases option sets SELECT's range", "[resp][types]") {
    Gatiod gatiod("databases = 2");
    Client c(gatiod.port());
    CHECK(c.exchange(request({"select", "1"}) + request({"select", "2"}) +
                         request({"config", "get", "databases"}) + request({"move", "x", "2"}) +
                         request({"swapdb", "0", "2"}),
                     5) == "+OK\r\n-ERR DB index is out of range\r\n*2\r\n$9\r\ndatabases\r\n$1\r\n2\r\n"
                           "-ERR DB index is out of range\r\n-ERR DB index is out of range\r\n");
    auto bad = gatiod_exits("databases = 0");
    CHECK(bad.status != 0);
    CHECK(bad.out.find("option \"databases\": must be between 1 and 1024, got 0") != std::string::npos);
}

TEST_CASE("blocking list and sorted-set commands answer as redis-server does", "[resp][types][blocking]") {
    Gatiod gatiod;
    RedisServer redis;
    Client ours(gatiod.port());
    Client theirs(redis.port());
    // Nothing here waits for another client: each command finds data, fails, or times out after
    // 10 ms, and the commands pipelined behind one that waits are answered after it.
    compare(ours, theirs,
            steps({
                {"flushall"},
                {"rpush", "l", "a", "b", "c"},
                {"zadd", "z", "1", "a", "2", "b", "3", "c"},
                {"set", "s", "x"},
                {"blpop", "l", "0"},
                {"brpop", "l", "0"},
                {"blpop", "nokey", "l", "0"},
                {"exists", "l"},
                {"blpop", "nokey", "0.01"},
                {"brpop", "nokey", "other", "0.01"},
                {"blpop", "s", "0"},
                {"blpop", "nokey", "s", "0"},
                {"rpush", "l2", "x", "y"},
                {"blpop", "l2", "s", "0"},
                {"brpop", "l2", "l2", "0"},
                {"blpop", "l", "-1"},
                {"blpop", "l", "-0.5"},
                {"blpop", "l", "x"},
                {"blpop", "l", ""},
                {"blpop", "l", " 1"},
                {"blpop", "l", "nan"},
                {"blpop", "l", "inf"},
                {"blpop", "l", "1e300"},
                {"blpop", "l", "-inf"},
                {"blpop", "l", "-9223372036854775809"},
                {"blpop", "s", "x"},
                {"blpop"},
                {"blpop", "l"},
                {"brpop", "l"},
                {"rpush", "src", "1", "2", "3"},
                {"brpoplpush", "src", "dst", "0"},
                {"brpoplpush", "src", "s", "0"},
                {"lrange", "src", "0", "-1"},
                {"brpoplpush", "s", "dst", "0"},
                {"brpoplpush", "nokey", "dst", "0.01"},
                {"brpoplpush", "src", "dst", "-1"},
                {"brpoplpush", "src", "dst"},
                {"blmove", "src", "dst", "left", "middle", "0"},
                {"blmove", "src", "dst", "up", "left", "x"},
                {"blmove", "src", "dst", "left", "right", "x"},
                {"blmove", "src", "dst", "left", "right", "0"},
                {"blmove", "src", "src", "LEFT", "RIGHT", "0"},
                {"blmove", "nokey", "dst", "left", "left", "0.01"},
                {"blmove", "s", "dst", "left", "left", "0"},
                {"blmove", "src", "s", "left", "left", "0"},
                {"blmove", "src", "dst", "left", "right"},
                {"lrange", "dst", "0", "-1"},
                {"lrange", "src", "0", "-1"},
                {"rpush", "m", "1", "2", "3", "4"},
                {"blmpop", "0", "2", "nokey", "m", "left"},
                {"blmpop", "0", "1", "m", "right", "count", "2"},
                {"blmpop", "0", "1", "m", "left", "COUNT", "10"},
                {"blmpop", "0.01", "1", "m", "left"},
                {"blmpop", "0", "0", "m", "left"},
                {"blmpop", "0", "x", "m", "left"},
                {"blmpop", "0", "-1", "m", "left"},
                {"blmpop", "0", "3", "m", "left"},
                {"blmpop", "0", "1", "m", "middle"},
                {"blmpop", "0", "1", "m", "left", "count", "0"},
                {"blmpop", "0", "1", "m", "left", "count", "x"},
                {"blmpop", "0", "1", "m", "left", "count", "1", "count", "1"},
                {"blmpop", "0", "1", "m", "left", "foo"},
                {"blmpop", "x", "1", "m", "left"},
                {"blmpop", "-1", "1", "m", "left"},
                {"blmpop", "x", "0", "m", "left"},
                {"blmpop", "0", "2", "s", "m", "left"},
                {"blmpop", "0", "1", "m"},
                {"bzpopmin", "z", "0"},
                {"bzpopmax", "z", "0"},
                {"bzpopmin", "nokey", "z", "0"},
                {"bzpopmin", "z", "0.01"},
                {"bzpopmax", "nokey", "0.01"},
                {"bzpopmin", "s", "0"},
                {"bzpopmin", "src", "0"},
                {"bzpopmin", "nokey", "x"},
                {"bzpopmax", "z", "-1"},
                {"bzpopmin", "z"},
                {"zadd", "z", "1.5", "x", "2.5", "y", "3.5", "w", "-inf", "lo", "inf", "hi"},
                {"zmpop", "1", "z", "min"},
                {"zmpop", "1", "z", "max", "count", "2"},
                {"zmpop", "2", "nokey", "z", "MIN", "COUNT", "1"},
                {"zmpop", "1", "nokey", "min"},
                {"zmpop", "0", "z", "min"},
                {"zmpop", "x", "z", "min"},
                {"zmpop", "2", "z", "min"},
                {"zmpop", "1", "z", "middle"},
                {"zmpop", "1", "z", "min", "count", "0"},
                {"zmpop", "1", "z", "min", "count", "-5"},
                {"zmpop", "1", "z", "min", "count"},
                {"zmpop", "1", "z", "min", "limit", "1"},
                {"zmpop", "1", "s", "min"},
                {"zmpop", "2", "nokey", "s", "max"},
                {"zmpop", "1", "z"},
                {"zadd", "z2", "1", "a", "2", "b", "3", "c"},
                {"bzmpop", "0", "1", "z2", "min"},
                {"bzmpop", "0", "2", "nokey", "z2", "max", "count", "5"},
                {"exists", "z2"},
                {"bzmpop", "0.01", "1", "z2", "min"},
                {"bzmpop", "0", "0", "z2", "min"},
                {"bzmpop", "0", "1", "z2", "left"},
                {"bzmpop", "x", "1", "z2", "min"},
                {"bzmpop", "-1", "1", "z2", "min"},
                {"bzmpop", "0", "1", "s", "min"},
                {"bzmpop", "0", "1", "z2", "min", "count", "0"},
                {"bzmpop", "0", "1", "z2"},
                {"ping"},
            }));
}
