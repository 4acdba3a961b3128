// MULTI, EXEC, DISCARD, WATCH and UNWATCH served by a real gatiod (two drivers, so two
// shards) and compared byte for byte with a real redis-server; then transactions whose keys
// live on both shards, run concurrently from both drivers, must never be seen half applied.
#include <atomic>
#include <catch2/catch.hpp>
#include <memory>
#include <sched.h>
#include <string>
#include <thread>
#include <vector>

#include "check.hpp"
#include "harness.hpp"
#include "keyspace.hpp"
#include "tests/support/skip.hpp"

using namespace gatio::resp::test;

namespace {

using Script = std::vector<std::vector<std::string>>;

// The same script, sent whole, gets the same bytes from both servers.
void same(Client& ours, Client& theirs, const Script& script) {
    const std::string all = requests(script);
    CHECK(ours.exchange(all, script.size()) == theirs.exchange(all, script.size()));
}

// A client whose connection is accepted by the driver on `cpu`: gatiod steers a connection
// to the driver of the CPU its first packet arrives on, and loopback packets arrive on the
// sender's CPU.
std::unique_ptr<Client> client_on(std::uint16_t port, int cpu) {
    cpu_set_t before;
    REQUIRE(::sched_getaffinity(0, sizeof before, &before) == 0);
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    REQUIRE(::sched_setaffinity(0, sizeof set, &set) == 0);
    auto c = std::make_unique<Client>(port);
    REQUIRE(::sched_setaffinity(0, sizeof before, &before) == 0);
    return c;
}

} // namespace

TEST_CASE("transactions answer as redis-server does", "[resp][transaction]") {
    Gatiod gatiod;
    RedisServer redis;
    Client ours(gatiod.port());
    Client theirs(redis.port());
    // Keys on both shards, so that one transaction spans them.
    const std::string a = key_on(0, "a");
    const std::string b = key_on(1, "b");
    same(ours, theirs, {{"flushall"}});

    SECTION("queued commands run at EXEC, their errors reported one by one") {
        same(ours, theirs,
             {{"multi"},
              {"set", a, "1"},
              {"incr", a},
              {"set", b, "x"},
              {"incr", b},
              {"lpush", a, "v"},
              {"mget", a, b, "none"},
              {"del", a, "none"},
              {"exists", a, b},
              {"rename", b, a},
              {"get", a},
              {"ping"},
              {"echo", "e"},
              {"dbsize"},
              {"exec"},
              {"get", a},
              {"multi"},
              {"exec"}});
    }
    SECTION("commands that walk every shard run inside EXEC") {
        // SCAN inside EXEC crashed gatiod: its parts were not told their shard.
        same(ours, theirs,
             {{"set", a, "1"},
              {"multi"},
              {"scan", "0", "match", a, "count", "1000"},
              {"randomkey"},
              {"dbsize"},
              {"exec"},
              {"ping"}});
    }
    SECTION("errors while queuing abort EXEC") {
        same(ours, theirs,
             {{"multi"},
              {"set", a, "1"},
              {"nosuch", "x"},
              {"get"},
              {"set", b, "2"},
              {"exec"},
              {"mget", a, b},
              {"multi"},
              {"set", a, "1"},
              {"set", a},
              {"exec"},
              {"get", a}});
    }
    SECTION("nesting, and EXEC or DISCARD without MULTI") {
        same(ours, theirs,
             {{"exec"},
              {"discard"},
              {"multi"},
              {"multi"},
              {"set", a, "1"},
              {"exec"},
              {"multi"},
              {"set", b, "1"},
              {"discard"},
              {"get", b},
              {"discard"},
              {"multi", "x"},
              {"exec", "x"},
              {"discard", "x"},
              {"unwatch", "x"},
              {"watch"},
              // A refused EXEC ends the transaction and forgets the watched keys.
              {"watch", a},
              {"multi"},
              {"set", a, "2"},
              {"exec", "x"},
              {"exec"},
              {"get", a},
              {"set", a, "3"},
              {"multi"},
              {"get", a},
              {"exec"}});
    }
    SECTION("WATCH inside MULTI is refused without aborting; its wrong arity aborts") {
        same(ours, theirs,
             {{"multi"},
              {"watch", a},
              {"set", a, "1"},
              {"exec"},
              {"multi"},
              {"watch"},
              {"set", a, "2"},
              {"exec"},
              {"get", a},
              {"multi"},
              {"unwatch"},
              {"exec"}});
    }
    SECTION("SELECT inside MULTI applies to what follows, and stays") {
        same(ours, theirs,
             {{"multi"},
              {"select", "1"},
              {"set", a, "db1"},
              {"select", "99"},
              {"get", a},
              {"exec"},
              {"get", a},
              {"select", "0"},
              {"get", a}});
    }
    SECTION("WATCH: the connection's own writes, deletes and expiries after it fail EXEC") {
        same(ours, theirs,
             {{"set", a, "1"},
              {"watch", a, b},
              {"watch", a},
              {"set", a, "1"},
              {"multi"},
              {"incr", a},
              {"exec"},
              {"get", a},
              // EXEC forgot the watched keys.
              {"multi"},
              {"incr", a},
              {"exec"},
              // A key watched while missing, then created.
              {"watch", "w1"},
              {"set", "w1", "x"},
              {"multi"},
              {"get", "w1"},
              {"exec"},
              // Reads and no-op deletes are no change.
              {"watch", a, "missing"},
              {"get", a},
              {"del", "missing"},
              {"exists", a},
              {"multi"},
              {"get", a},
              {"exec"},
              // UNWATCH forgets.
              {"watch", a},
              {"set", a, "2"},
              {"unwatch"},
              {"multi"},
              {"get", a},
              {"exec"},
              // DISCARD forgets too.
              {"watch", a},
              {"set", a, "3"},
              {"multi"},
              {"discard"},
              {"multi"},
              {"get", a},
              {"exec"},
              // An aborted transaction forgets them.
              {"watch", a},
              {"set", a, "4"},
              {"multi"},
              {"nosuch"},
              {"exec"},
              {"multi"},
              {"get", a},
              {"exec"},
              // EXPIRE, PERSIST of a persistent key (no change), DEL, a collection write.
              {"watch", a},
              {"persist", a},
              {"multi"},
              {"get", a},
              {"exec"},
              {"watch", a},
              {"expire", a, "100"},
              {"multi"},
              {"ttl", a},
              {"exec"},
              {"watch", b},
              {"rpush", b, "x"},
              {"multi"},
              {"llen", b},
              {"exec"},
              {"watch", b},
              {"del", b},
              {"multi"},
              {"llen", b},
              {"exec"}});
    }
    SECTION("WATCH: FLUSHDB, FLUSHALL, SWAPDB and MOVE change the keys they touch") {
        same(ours, theirs,
             {{"set", a, "1"},
              {"watch", a},
              {"flushdb"},
              {"multi"},
              {"get", a},
              {"exec"},
              {"set", a, "1"},
              {"watch", a},
              {"flushall"},
              {"multi"},
              {"get", a},
              {"exec"},
              // FLUSHDB of an empty database touches nothing.
              {"watch", a},
              {"flushdb"},
              {"multi"},
              {"get", a},
              {"exec"},
              {"select", "1"},
              {"set", b, "in1"},
              {"select", "0"},
              {"watch", b},
              {"swapdb", "0", "1"},
              {"multi"},
              {"get", b},
              {"exec"},
              {"watch", b},
              {"move", b, "2"},
              {"multi"},
              {"get", b},
              {"exec"}});
    }
    SECTION("WATCH sees the database it was given in") {
        same(ours, theirs,
             {{"select", "1"},
              {"watch", a},
              {"select", "0"},
              {"set", a, "db0"},
              {"select", "1"},
              {"multi"},
              {"get", a},
              {"exec"},
              {"watch", a},
              {"set", a, "db1"},
              {"multi"},
              {"get", a},
              {"exec"},
              {"select", "0"}});
    }
    SECTION("another client's write fails EXEC") {
        Client ours2(gatiod.port());
        Client theirs2(redis.port());
        same(ours, theirs, {{"set", a, "1"}, {"watch", a, b}});
        same(ours2, theirs2, {{"set", b, "other"}});
        same(ours, theirs, {{"multi"}, {"incr", a}, {"exec"}, {"get", a}, {"watch", a}});
        same(ours2, theirs2, {{"get", a}, {"set", "unrelated", "x"}});
        same(ours, theirs, {{"multi"}, {"incr", a}, {"exec"}});
    }
    SECTION("blocking commands inside MULTI answer at once, as if their timeout had passed") {
        // redis-server never blocks inside a transaction: a blocking command finds data, fails
        // or answers the null of its reply (a null array, a null bulk for the moves), whatever
        // its timeout.
        const std::string c = key_on(1, "c");
        same(ours, theirs,
             {{"multi"},
              {"blpop", a, "0"},
              {"brpop", a, b, "5"},
              {"blmove", a, b, "left", "right", "0"},
              {"brpoplpush", a, b, "0"},
              {"blmpop", "0", "2", a, b, "left"},
              {"bzpopmin", a, "0"},
              {"bzpopmax", a, b, "0.5"},
              {"bzmpop", "0", "1", a, "min"},
              {"lmpop", "2", a, b, "right"},
              {"zmpop", "1", a, "max"},
              {"exec"},
              {"multi"},
              {"rpush", a, "1", "2", "3", "4"},
              {"zadd", b, "1", "m", "2", "n", "3", "o"},
              {"blpop", "none", a, "0"},
              {"brpop", a, "0"},
              {"blmove", a, c, "left", "left", "0"},
              {"brpoplpush", c, a, "0"},
              {"blmpop", "0", "1", a, "right", "count", "5"},
              {"bzpopmin", b, "0"},
              {"bzmpop", "0", "2", "none", b, "max", "count", "1"},
              {"zmpop", "1", b, "min"},
              {"exists", a, b, c},
              {"exec"},
              {"set", "s", "x"},
              {"rpush", a, "v"},
              {"multi"},
              {"blpop", "s", "0"},
              {"blpop", a, "-1"},
              {"blpop", a, "x"},
              {"blmove", a, c, "up", "left", "0"},
              {"blmove", a, c, "left", "left", "-1"},
              {"blmpop", "0", "0", a, "left"},
              {"blmpop", "0", "1", a, "left", "count", "0"},
              {"bzpopmin", "s", "0"},
              {"bzmpop", "x", "1", b, "min"},
              {"brpoplpush", "s", c, "0"},
              {"brpoplpush", a, "s", "0"},
              {"lrange", a, "0", "-1"},
              {"exec"},
              // A wrong arity is refused while queuing, and aborts EXEC.
              {"multi"},
              {"blpop", a},
              {"blmove", a, c, "left", "left"},
              {"exec"},
              {"lrange", a, "0", "-1"}});
    }
    SECTION("a watched key that expires fails EXEC") {
        same(ours, theirs, {{"set", a, "1", "px", "300"}, {"watch", a}});
        std::this_thread::sleep_for(std::chrono::milliseconds(600));
        same(ours, theirs, {{"multi"}, {"set", b, "1"}, {"exec"}, {"get", b}});
    }
}

TEST_CASE("the transaction commands are listed by COMMAND as redis-server lists them",
          "[resp][transaction]") {
    Gatiod gatiod;
    RedisServer redis;
    Client ours(gatiod.port());
    Client theirs(redis.port());
    for (const char* name : {"multi", "exec", "discard", "unwatch"}) {
        INFO(name);
        same(ours, theirs, {{"command", "info", name}});
    }
}

TEST_CASE("queued commands and bytes per transaction are bounded", "[resp][transaction]") {
    Gatiod gatiod("max_multi_commands = 2\nmax_multi_bytes = 1024");
    Client c(gatiod.port());
    CHECK(
        c.exchange(
            requests(
                {{"multi"}, {"set", "a", "1"}, {"set", "b", "2"}, {"set", "c", "3"}, {"exec"}, {"get", "a"}}),
            6) == "+OK\r\n+QUEUED\r\n+QUEUED\r\n"
                  "-ERR transaction full: at most 2 queued commands (option max_multi_commands)\r\n"
                  "-EXECABORT Transaction discarded because of previous errors.\r\n$-1\r\n");
    CHECK(c.exchange(requests({{"multi"}, {"set", "a", std::string(1100, 'x')}, {"exec"}}), 3) ==
          "+OK\r\n-ERR transaction full: its queued arguments would take more than 1024 bytes (option "
          "max_multi_bytes)\r\n-EXECABORT Transaction discarded because of previous errors.\r\n");
    auto bad = gatiod_exits("max_multi_commands = 0");
    CHECK(bad.status != 0);
    CHECK(bad.out.find("option \"max_multi_commands\": must be between 1 and 16777216, got 0") !=
          std::string::npos);
}

TEST_CASE("EXEC over keys on two shards is never seen half applied, from either driver",
          "[resp][transaction]") {
    if (std::thread::hardware_concurrency() < 2) {
        GATIO_SKIP("needs two CPUs for two drivers");
    }
    Gatiod gatiod;
    const std::string k1 = key_on(0, "k");
    const std::string k2 = key_on(1, "k");
    REQUIRE(gatio::resp::shard_index(k1, 2) != gatio::resp::shard_index(k2, 2));
    constexpr int writers = 4;
    constexpr int rounds = 500;
    std::atomic<bool> writing{true};
    std::atomic<long> reads{0};
    std::atomic<long> torn{0};
    const std::string incr = requests({{"multi"}, {"incr", k1}, {"incr", k2}, {"exec"}});
    const std::string read = requests({{"multi"}, {"get", k1}, {"get", k2}, {"exec"}});
    // A writer and a reader on each driver: the transactions cross from each driver to the
    // other's shard.
    std::vector<std::unique_ptr<Client>> clients;
    for (int i = 0; i < writers + 2; ++i) {
        clients.push_back(client_on(gatiod.port(), i % 2));
    }
    CHECK(clients[0]->exchange(request({"mset", k1, "0", k2, "0"}), 1) == "+OK\r\n");
    std::vector<std::string> failures(writers);
    std::vector<std::thread> threads;
    for (int w = 0; w < writers; ++w) {
        threads.emplace_back([&, w] {
            for (int i = 0; i < rounds; ++i) {
                std::string got = clients[static_cast<std::size_t>(w)]->exchange(incr, 4);
                if (got.find("*2\r\n:") == std::string::npos) {
                    failures[static_cast<std::size_t>(w)] = got;
                    return;
                }
            }
        });
    }
    std::vector<std::string> seen(2);
    for (int r = 0; r < 2; ++r) {
        threads.emplace_back([&, r] {
            Client& c = *clients[static_cast<std::size_t>(writers + r)];
            while (writing.load()) {
                std::string got = c.exchange(read, 4);
                // "+OK", two "+QUEUED", then *2 and the two values, which must be equal.
                auto at = got.find("*2\r\n");
                if (at == std::string::npos) {
                    ++torn;
                    seen[static_cast<std::size_t>(r)] = got;
                    continue;
                }
                std::string_view values = std::string_view(got).substr(at + 4);
                std::string_view first = values.substr(0, gatio::resp::check::reply_length(values));
                std::string_view second = values.substr(first.size());
                if (first != second) {
                    ++torn;
                    seen[static_cast<std::size_t>(r)] = got;
                }
                ++reads;
            }
        });
    }
    for (int w = 0; w < writers; ++w) {
        threads[static_cast<std::size_t>(w)].join();
    }
    writing = false;
    threads[writers].join();
    threads[writers + 1].join();
    for (const auto& f : failures) {
        CHECK(f.empty());
    }
    INFO("a torn read: " << seen[0] << seen[1]);
    CHECK(torn.load() == 0);
    CHECK(reads.load() > 0);
    const std::string total = std::to_string(writers * rounds);
    const std::string want = bulk_reply(total);
    CHECK(clients[0]->exchange(request({"mget", k1, k2}), 1) == "*2\r\n" + want + want);
}

TEST_CASE("a write from a client on the other driver fails EXEC", "[resp][transaction]") {
    if (std::thread::hardware_concurrency() < 2) {
        GATIO_SKIP("needs two CPUs for two drivers");
    }
    Gatiod gatiod;
    for (std::uint32_t shard = 0; shard < 2; ++shard) {
        INFO("the watched key on shard " << shard);
        const std::string k = key_on(shard, "w");
        auto watcher = client_on(gatiod.port(), 0);
        auto other = client_on(gatiod.port(), 1);
        CHECK(watcher->exchange(requests({{"set", k, "1"}, {"watch", k}}), 2) == "+OK\r\n+OK\r\n");
        CHECK(other->exchange(request({"incr", k}), 1) == ":2\r\n");
        CHECK(watcher->exchange(requests({{"multi"}, {"incr", k}, {"exec"}}), 3) ==
              "+OK\r\n+QUEUED\r\n*-1\r\n");
        // Unchanged, the same transaction applies.
        CHECK(watcher->exchange(requests({{"watch", k}, {"multi"}, {"incr", k}, {"exec"}}), 4) ==
              "+OK\r\n+OK\r\n+QUEUED\r\n*1\r\n:3\r\n");
        // And the watcher on the other driver sees a write of a client on the first.
        CHECK(other->exchange(request({"watch", k}), 1) == "+OK\r\n");
        CHECK(watcher->exchange(request({"set", k, "x"}), 1) == "+OK\r\n");
        CHECK(other->exchange(requests({{"multi"}, {"get", k}, {"exec"}}), 3) == "+OK\r\n+QUEUED\r\n*-1\r\n");
    }
}
