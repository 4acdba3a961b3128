// SCAN, RANDOMKEY and the server commands (CONFIG, COMMAND, CLIENT, FUNCTION, SCRIPT) served by
// a real gatiod with two shards, compared with a real redis-server where the answers are
// deterministic, and SCAN's guarantee checked over both shards while keys come and go.
#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "check.hpp"
#include "harness.hpp"
#include "keyspace.hpp"
#include "script.hpp"

using namespace gatio::resp::test;

namespace {

std::string one(Client& c, const std::vector<std::string>& args) {
    return c.exchange(request(args), 1);
}

// The keys of a whole SCAN (COUNT `count`, and `extra` options), with the number of calls.
std::multiset<std::string> scan_all(Client& c, std::size_t count, const std::vector<std::string>& extra,
                                    std::size_t& calls) {
    std::multiset<std::string> seen;
    std::string cursor = "0";
    calls = 0;
    do {
        std::vector<std::string> args{"scan", cursor, "count", std::to_string(count)};
        args.insert(args.end(), extra.begin(), extra.end());
        auto parts = elements(one(c, args));
        REQUIRE(parts.size() == 2);
        REQUIRE(parts[0][0] == '$');
        cursor = parts[0].substr(parts[0].find("\r\n") + 2);
        cursor.resize(cursor.size() - 2);
        for (const auto& k : elements(parts[1])) {
            if (k.empty() || k[0] != '$') {
                continue; // "*0"
            }
            std::string key = k.substr(k.find("\r\n") + 2);
            key.resize(key.size() - 2);
            seen.insert(key);
        }
        ++calls;
        REQUIRE(calls < 100000);
    } while (cursor != "0");
    return seen;
}

} // namespace

TEST_CASE("server commands answer as redis-server does", "[resp][server-commands]") {
    Gatiod gatiod;
    RedisServer redis;
    Client ours(gatiod.port());
    Client theirs(redis.port());
    std::vector<Step> script = steps({
        {"flushall"},
        {"config", "get", "maxmemory"},
        {"config", "get", "MAXMEMORY"},
        {"config", "get", "MaxMemory", "maxmemory"},
        {"config", "get", "maxmemory-p*"},
        {"config", "get", "MAXMEMORY-P*"},
        {"config", "get", "maxmemory-policy", "maxmemory-p*"},
        {"config", "get", "databases"},
        {"config", "get", "save"},
        {"config", "get", "appendonly"},
        {"config", "get", "io-threads"},
        {"config", "get", "maxmemory-samples"},
        {"config", "get", "proto-max-bulk-len"},
        {"config", "get", "nosuch"},
        {"config", "get", "zzz*"},
        {"config", "get", "nosuch", "databases"},
        {"config", "get"},
        {"config"},
        {"config", "nosuch"},
        {"config", "set", "maxmemory", "10mb"},
        {"config", "get", "maxmemory"},
        {"config", "set", "MAXMEMORY", "1k"},
        {"config", "get", "maxmemory"},
        {"config", "set", "maxmemory", "2KB"},
        {"config", "get", "maxmemory"},
        {"config", "set", "maxmemory", "0"},
        {"config", "set", "maxmemory", "foo"},
        {"config", "set", "MAXMEMORY", "-1"},
        {"config", "set", "maxmemory", "1.5gb"},
        {"config", "set", "maxmemory-samples", "x"},
        {"config", "set", "maxmemory-samples", "7"},
        {"config", "get", "maxmemory-samples"},
        {"config", "set", "maxmemory-samples", "5"},
        {"config", "set", "maxmemory-policy", "allkeys-lru"},
        {"config", "get", "maxmemory-policy"},
        {"config", "set", "maxmemory-policy", "NOEVICTION"},
        {"config", "get", "maxmemory-policy"},
        {"config", "set", "proto-max-bulk-len", "1mb"},
        {"config", "get", "proto-max-bulk-len"},
        {"config", "set", "proto-max-bulk-len", "x"},
        {"config", "set", "proto-max-bulk-len", "512mb"},
        {"config", "set", "databases", "3"},
        {"config", "set", "nosuch", "1"},
        {"config", "set", "maxmemory"},
        {"config", "set"},
        {"config", "set", "maxmemory", "1", "maxmemory-samples"},
        {"config", "set", "maxmemory", "1", "maxmemory", "2"},
        {"config", "set", "maxmemory", "1", "nosuch", "2"},
        {"config", "set", "maxmemory", "foo", "databases", "2"},
        {"config", "set", "maxmemory", "1", "maxmemory-samples", "x"},
        {"config", "get", "maxmemory"},
        {"config", "set", "save", ""},
        {"config", "set", "appendonly", "no"},
        {"config", "set", "appendonly", "maybe"},
        {"config", "resetstat"},
        {"config", "resetstat", "x"},
        {"command", "count", "x"},
        {"command", "info", "nosuch"},
        {"command", "list", "filterby", "aclcat", "nosuch"},
        {"command", "list", "filterby", "module", "x"},
        {"command", "list", "filterby", "pattern", "nosuch*"},
        {"command", "list", "filterby", "foo", "x"},
        {"command", "list", "filterby"},
        {"command", "list", "filterby", "pattern", "x", "y"},
        {"command", "list", "x", "y"},
        {"command", "getkeys"},
        {"command", "getkeys", "get"},
        {"command", "getkeys", "nosuch", "a"},
        {"command", "getkeys", "ping", "x"},
        {"command", "getkeys", "config", "get", "x"},
        {"command", "getkeys", "set", "a"},
        {"command", "getkeys", "get", "a", "b"},
        {"command", "getkeys", "set", "a", "b"},
        {"command", "getkeys", "GET", "a"},
        {"command", "getkeys", "mset", "a", "1", "b", "2"},
        {"command", "getkeys", "mset", "a", "1", "b"},
        {"command", "getkeys", "del", "a", "b", "c"},
        {"command", "getkeys", "rename", "a", "b"},
        {"command", "getkeys", "lmove", "a", "b", "left", "right"},
        {"command", "getkeys", "lmpop", "2", "a", "b", "left"},
        {"command", "getkeys", "lmpop", "x", "a", "b"},
        {"command", "getkeys", "lmpop", "2", "a"},
        {"command", "getkeys", "zunionstore", "d", "2", "a", "b"},
        {"command", "getkeys", "zunion", "5", "a", "b"},
        {"command", "getkeys", "zinter", "2", "a", "b"},
        {"command", "getkeys", "sintercard", "2", "a", "b"},
        {"command", "getkeys", "sinter", "a", "a"},
        {"function", "flush"},
        {"function", "flush", "async"},
        {"function", "FLUSH", "SYNC"},
        {"function", "flush", "x"},
        {"function", "FLUSH", "a", "b"},
        {"function", "nosuch"},
        {"function"},
        {"script", "flush"},
        {"script", "flush", "SYNC"},
        {"script", "flush", "x"},
        {"script", "flush", "a", "b"},
        {"script", "exists", "a", "b"},
        {"script", "exists"},
        {"script", "nosuch"},
        {"script"},
        {"client", "getname"},
        {"client", "setname", "worker-1"},
        {"client", "getname"},
        {"client", "setname", "a b"},
        {"client", "setname", "a\nb"},
        {"client", "getname"},
        {"client", "setname", ""},
        {"client", "getname"},
        {"client", "getname", "x"},
        {"client", "setname"},
        {"client", "id", "x"},
        {"client", "nosuch"},
        {"client"},
        {"scan"},
        {"scan", "x"},
        {"scan", "-"},
        {"scan", "0", "count", "0"},
        {"scan", "0", "count", "x"},
        {"scan", "0", "match"},
        {"scan", "0", "type"},
        {"scan", "0", "foo", "bar"},
        {"scan", "0"},
        {"randomkey"},
        {"randomkey", "x"},
        {"set", "only", "1"},
        {"randomkey"},
        {"scan", "0"},
        {"mset", "a", "1", "b", "2", "c", "3", "ab", "4"},
        {"rpush", "l", "x"},
        {"sadd", "s", "m"},
        {"hset", "h", "f", "v"},
        {"zadd", "z", "1", "m"},
        {"set", "gone", "v", "px", "1"},
    });
    compare(ours, theirs, script);
    // Let "gone" expire on both, then SCAN's replies as sets of keys: a database smaller than
    // COUNT is answered whole, with cursor 0, by both.
    std::this_thread::sleep_for(20ms);
    std::vector<Step> scans{
        {{"scan", "0", "count", "1000"}, Order::scan},
        {{"scan", "0", "type", "string", "count", "1000"}, Order::scan},
        {{"scan", "0", "TYPE", "LIST", "count", "1000"}, Order::scan},
        {{"scan", "0", "count", "1000", "type", "hash"}, Order::scan},
        {{"scan", "0", "count", "1000", "type", "set"}, Order::scan},
        {{"scan", "0", "count", "1000", "type", "zset"}, Order::scan},
        {{"scan", "0", "count", "1000", "type", "foo"}, Order::scan},
        {{"scan", "0", "count", "1000", "match", "[ab]"}, Order::scan},
        {{"scan", "0", "match", "a*", "type", "string", "count", "100"}, Order::scan},
        {{"scan", "0", "match", "*", "count", "1000"}, Order::scan},
        {{"keys", "*"}, Order::sorted},
        {{"keys", "?"}, Order::sorted},
        {{"config", "get", "maxmemory", "maxmemory-policy"}, Order::pairs},
        {{"flushall"}},
        {{"randomkey"}},
    };
    compare(ours, theirs, scans);
}

TEST_CASE("EVAL, EVALSHA and FCALL are unknown commands; CONFIG SET's own bounds",
          "[resp][server-commands]") {
    Gatiod gatiod;
    Client c(gatiod.port());
    // Where gatiod's range is narrower than redis-server's, the error has redis-server's words.
    CHECK(one(c, {"config", "set", "maxmemory-samples", "65"}) ==
          "-ERR CONFIG SET failed (possibly related to argument 'maxmemory-samples') - argument must be "
          "between 1 "
          "and 64 inclusive\r\n");
    CHECK(one(c, {"config", "set", "proto-max-bulk-len", "5gb"}) ==
          "-ERR CONFIG SET failed (possibly related to argument 'proto-max-bulk-len') - argument must be "
          "between "
          "1048576 and 4294967296 inclusive\r\n");
    CHECK(one(c, {"config", "set", "maxmemory-policy", "volatile-lru"}) ==
          "-ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - argument(s) must be "
          "one of "
          "the following: allkeys-lru, noeviction\r\n");
    CHECK(one(c, {"config", "set", "port", "1"}) ==
          "-ERR CONFIG SET failed (possibly related to argument 'port') - can't set immutable config\r\n");
    CHECK(one(c, {"config", "set", "appendonly", "yes"}) ==
          "-ERR CONFIG SET failed (possibly related to argument 'appendonly') - the resp plugin keeps no "
          "append-only file\r\n");
    CHECK(one(c, {"config", "get", "maxmemory-samples"}) == "*2\r\n$17\r\nmaxmemory-samples\r\n$1\r\n5\r\n");
    CHECK(one(c, {"eval", "return 1", "0"}) ==
          "-ERR unknown command 'eval', with args beginning with: 'return 1' '0' \r\n");
    CHECK(one(c, {"EVALSHA", "abc", "0"}) ==
          "-ERR unknown command 'EVALSHA', with args beginning with: 'abc' '0' \r\n");
    CHECK(one(c, {"fcall", "f", "0"}) ==
          "-ERR unknown command 'fcall', with args beginning with: 'f' '0' \r\n");
    CHECK(one(c, {"ping"}) == "+PONG\r\n");
}

TEST_CASE("COMMAND describes each command as redis-server does", "[resp][server-commands]") {
    Gatiod gatiod;
    RedisServer redis;
    Client ours(gatiod.port());
    Client theirs(redis.port());
    // The table itself: COMMAND, COMMAND INFO without names and COMMAND COUNT agree.
    auto names = elements(one(ours, {"command", "list"}));
    const std::string count = one(ours, {"command", "count"});
    CHECK(count == numbered(":", names.size()).append("\r\n"));
    CHECK(elements(one(ours, {"command"})).size() == names.size());
    CHECK(elements(one(ours, {"command", "info"})).size() == names.size());
    REQUIRE(names.size() > 100);
    std::vector<std::string> filtered;
    for (const auto& n : elements(one(ours, {"command", "list", "filterby", "pattern", "z*"}))) {
        filtered.push_back(n);
        CHECK(n.substr(n.find("\r\n") + 2, 1) == "z");
    }
    CHECK(!filtered.empty());
    auto acl = elements(one(ours, {"command", "list", "filterby", "aclcat", "SortedSet"}));
    CHECK(std::find(acl.begin(), acl.end(), "$4\r\nzadd\r\n") != acl.end());
    CHECK(std::find(acl.begin(), acl.end(), "$3\r\nget\r\n") == acl.end());
    // Each command's name, arity, flags, key positions and ACL categories are redis-server's
    // (tips, key specs and subcommands are not kept).
    for (const auto& n : names) {
        std::string name = n.substr(n.find("\r\n") + 2);
        name.resize(name.size() - 2);
        INFO("command " << name);
        auto a = elements(elements(one(ours, {"command", "info", name}))[0]);
        auto b = elements(elements(one(theirs, {"command", "info", name}))[0]);
        REQUIRE(a.size() == 10);
        REQUIRE(b.size() == 10);
        for (std::size_t f = 0; f < 7; ++f) {
            INFO("field " << f);
            CHECK(normalized(a[f], Order::sorted) == normalized(b[f], Order::sorted));
        }
    }
}

TEST_CASE("TIME answers the wall clock in seconds and microseconds as redis-server does",
          "[resp][server-commands]") {
    Gatiod gatiod;
    RedisServer redis;
    Client ours(gatiod.port());
    Client theirs(redis.port());
    compare(ours, theirs, steps({{"time", "now"}, {"multi"}, {"time"}, {"discard"}}));
    // Both clocks are this machine's: the two answers are microseconds apart, each in redis-server's form
    // (two bulk strings of digits, the microseconds below a million and not padded).
    auto micros = [](Client& c) {
        auto parts = elements(one(c, {"time"}));
        REQUIRE(parts.size() == 2);
        std::int64_t value[2] = {0, 0};
        for (std::size_t i = 0; i < 2; ++i) {
            REQUIRE(parts[i][0] == '$');
            std::string digits = parts[i].substr(parts[i].find("\r\n") + 2);
            digits.resize(digits.size() - 2);
            REQUIRE(!digits.empty());
            CHECK(digits.find_first_not_of("0123456789") == std::string::npos);
            CHECK((digits == "0" || digits[0] != '0'));
            value[i] = std::stoll(digits);
        }
        CHECK(value[1] < 1'000'000);
        return value[0] * 1'000'000 + value[1];
    };
    const std::int64_t a = micros(theirs);
    const std::int64_t b = micros(ours);
    const std::int64_t c = micros(theirs);
    CHECK(a <= b);
    CHECK(b <= c);
    CHECK(c - a < 5'000'000);
}

TEST_CASE("SCAN returns every key present throughout while keys come and go on both shards",
          "[resp][server-commands]") {
    Gatiod gatiod;
    constexpr std::size_t stable = 6000;
    constexpr std::size_t churn = 2000;
    Client setup(gatiod.port());
    std::string load;
    for (std::size_t i = 0; i < stable; ++i) {
        load += request({"set", numbered("stable:", i), "v"});
    }
    for (std::size_t i = 0; i < churn; ++i) {
        load += request({"set", numbered("old:", i), "v"});
    }
    for (std::size_t i = 0; i < 300; ++i) {
        load += request({"hset", numbered("hash:", i), "f", "v"});
    }
    setup.exchange(load, stable + churn + 300, 60s);
    // Both shards hold keys.
    const std::string shards = one(setup, {"info", "shards"});
    CHECK(shards.find("shard0:keys=0,") == std::string::npos);
    CHECK(shards.find("shard1:keys=0,") == std::string::npos);

    SECTION("with nothing changing, every key exactly once, and MATCH and TYPE over both shards") {
        std::size_t calls = 0;
        auto seen = scan_all(setup, 100, {}, calls);
        CHECK(seen.size() == stable + churn + 300);
        CHECK(std::set<std::string>(seen.begin(), seen.end()).size() == seen.size());
        CHECK(calls > 2);
        auto hashes = scan_all(setup, 37, {"type", "hash"}, calls);
        CHECK(hashes.size() == 300);
        auto matched = scan_all(setup, 500, {"match", "stable:1?"}, calls);
        CHECK(matched.size() == 10);
        for (const auto& k : matched) {
            CHECK(k.rfind("stable:1", 0) == 0);
        }
    }

    SECTION("while another client deletes the old keys and adds new ones") {
        std::atomic<bool> done{false};
        std::thread writer([&] {
            Client w(gatiod.port());
            std::size_t i = 0;
            // Deletes move other keys into the freed positions; inserts append. Both run until
            // the scan is over.
            while (!done.load()) {
                std::string batch;
                for (int j = 0; j < 50; ++j, ++i) {
                    batch += request({"del", numbered("old:", i % churn)});
                    batch += request({"set", numbered("new:", i), "v"});
                }
                w.exchange(batch, 100, 60s);
            }
        });
        std::size_t calls = 0;
        std::multiset<std::string> seen;
        try {
            seen = scan_all(setup, 20, {}, calls);
        } catch (...) {
            done = true;
            writer.join();
            throw;
        }
        done = true;
        writer.join();
        CHECK(calls > 10);
        for (std::size_t i = 0; i < stable; ++i) {
            if (seen.count(numbered("stable:", i)) == 0) {
                FAIL("stable:" << i << " was never returned");
            }
        }
        for (std::size_t i = 0; i < 300; ++i) {
            CHECK(seen.count(numbered("hash:", i)) >= 1);
        }
    }
}

TEST_CASE("RANDOMKEY picks keys of every shard", "[resp][server-commands]") {
    Gatiod gatiod;
    Client c(gatiod.port());
    const std::string a = key_on(0, "r");
    const std::string b = key_on(1, "r");
    one(c, {"set", a, "1"});
    one(c, {"set", b, "2"});
    std::set<std::string> picked;
    for (int i = 0; i < 200 && picked.size() < 2; ++i) {
        picked.insert(one(c, {"randomkey"}));
    }
    CHECK(picked == std::set<std::string>{bulk_reply(a), bulk_reply(b)});
}

TEST_CASE("CONFIG SET applies to every shard and every driver's connections", "[resp][server-commands]") {
    Gatiod gatiod;
    Client c(gatiod.port());
    const std::string a = key_on(0, "m");
    const std::string b = key_on(1, "m");
    CHECK(one(c, {"set", a, "v"}) == "+OK\r\n");
    CHECK(one(c, {"set", b, "v"}) == "+OK\r\n");
    const std::string oom = "-OOM command not allowed when used memory > 'maxmemory'.\r\n";

    // A limit below what each shard holds refuses writes on both shards.
    CHECK(one(c, {"config", "set", "maxmemory", "2"}) == "+OK\r\n");
    CHECK(one(c, {"set", a, "w"}) == oom);
    CHECK(one(c, {"set", b, "w"}) == oom);
    CHECK(one(c, {"get", a}) == "$1\r\nv\r\n");
    // Connections of any driver see it (a new connection lands on either).
    for (int i = 0; i < 4; ++i) {
        Client other(gatiod.port());
        CHECK(one(other, {"config", "get", "maxmemory"}) == "*2\r\n$9\r\nmaxmemory\r\n$1\r\n2\r\n");
        CHECK(one(other, {"info", "memory"}).find("maxmemory:2\r\n") != std::string::npos);
    }

    // allkeys-lru evicts on both shards instead.
    CHECK(one(c, {"config", "set", "maxmemory-policy", "allkeys-lru"}) == "+OK\r\n");
    CHECK(one(c, {"set", a, "w"}) == "+OK\r\n");
    CHECK(one(c, {"set", b, "w"}) == "+OK\r\n");
    const std::string stats = one(c, {"info", "stats"});
    CHECK(stats.find("evicted_keys:0\r\n") == std::string::npos);
    CHECK(one(c, {"config", "resetstat"}) == "+OK\r\n");
    CHECK(one(c, {"info", "stats"}).find("evicted_keys:0\r\n") != std::string::npos);

    // No limit again: writes on both shards go through.
    CHECK(one(c, {"config", "set", "maxmemory", "0", "maxmemory-policy", "noeviction"}) == "+OK\r\n");
    CHECK(one(c, {"set", a, "x"}) == "+OK\r\n");
    CHECK(one(c, {"set", b, "x"}) == "+OK\r\n");

    // proto-max-bulk-len reaches the parsers of connections that were already open.
    std::vector<std::unique_ptr<Client>> open;
    for (int i = 0; i < 4; ++i) {
        open.push_back(std::make_unique<Client>(gatiod.port()));
        CHECK(one(*open.back(), {"ping"}) == "+PONG\r\n");
    }
    CHECK(one(c, {"config", "set", "proto-max-bulk-len", "1mb"}) == "+OK\r\n");
    const std::string big(2u << 20, 'x');
    for (auto& o : open) {
        o->send_all(request({"set", "big", big}));
        CHECK(o->read_to_close() == "-ERR Protocol error: invalid bulk length\r\n");
    }
    CHECK(one(c, {"config", "set", "proto-max-bulk-len", "512mb"}) == "+OK\r\n");
    Client after(gatiod.port());
    CHECK(one(after, {"set", "big", big}) == "+OK\r\n");
}

TEST_CASE("INFO reports clients, memory, CPU and stats over every driver", "[resp][server-commands]") {
    Gatiod gatiod;
    Client c(gatiod.port());
    std::vector<std::unique_ptr<Client>> others;
    for (std::size_t i = 0; i < 5; ++i) {
        others.push_back(std::make_unique<Client>(gatiod.port()));
        CHECK(one(*others.back(), {"set", numbered("k", i), "v"}) == "+OK\r\n");
    }
    // Every connection counts, whichever driver it landed on.
    const std::string info = one(c, {"info"});
    CHECK(info.find("# Clients\r\nconnected_clients:6\r\n") != std::string::npos);
    CHECK(info.find("\r\nmem_allocator:libc\r\n") != std::string::npos);
    CHECK(info.find("\r\nused_memory_rss:") != std::string::npos);
    CHECK(info.find("\r\nmaxmemory_human:0B\r\n") != std::string::npos);
    CHECK(info.find("# CPU\r\nused_cpu_sys:") != std::string::npos);
    CHECK(info.find("\r\ntotal_connections_received:6\r\n") != std::string::npos);
    // A command counts as it starts: the five SETs and this INFO.
    CHECK(info.find("\r\ntotal_commands_processed:6\r\n") != std::string::npos);
    // Sections in redis-server's order.
    CHECK(info.find("# Server") < info.find("# Clients"));
    CHECK(info.find("# Clients") < info.find("# Memory"));
    CHECK(info.find("# Memory") < info.find("# Stats"));
    CHECK(info.find("# Stats") < info.find("# CPU"));
    CHECK(info.find("# CPU") < info.find("# Keyspace"));
    others.clear();
    CHECK(one(c, {"config", "resetstat"}) == "+OK\r\n");
    const std::string stats = one(c, {"info", "stats"});
    CHECK(stats.find("total_connections_received:0\r\n") != std::string::npos);
    // CONFIG RESETSTAT itself was counted before the reset; INFO after it.
    CHECK(stats.find("total_commands_processed:1\r\n") != std::string::npos);
    CHECK(one(c, {"config", "set", "maxmemory", "3mb"}) == "+OK\r\n");
    CHECK(one(c, {"info", "memory"}).find("\r\nmaxmemory_human:3.00M\r\n") != std::string::npos);
}
