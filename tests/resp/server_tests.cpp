// The resp plugin served by a real gatiod (two io+exec drivers, so two shards), driven by real
// clients (redis-cli, redis-benchmark, raw sockets) and compared with a real redis-server.
#include <algorithm>
#include <catch2/catch.hpp>
#include <string>
#include <thread>
#include <vector>

#include "check.hpp"
#include "harness.hpp"

using namespace gatio::resp::test;

namespace {

std::vector<std::string> cli(std::uint16_t port, std::vector<std::string> args) {
    std::vector<std::string> argv{"/usr/bin/redis-cli", "-p", std::to_string(port)};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
}

std::string cli_out(std::uint16_t port, std::vector<std::string> args) {
    auto r = run(cli(port, std::move(args)), 20s);
    REQUIRE(r.status == 0);
    return r.out;
}

// Per-shard key counts from INFO SHARDS ("shard0:keys=12,...").
std::vector<long> shard_keys(std::uint16_t port) {
    std::string info = cli_out(port, {"info", "shards"});
    std::vector<long> keys;
    for (std::size_t at = info.find("shard"); at != std::string::npos; at = info.find("shard", at + 1)) {
        std::size_t k = info.find(":keys=", at);
        if (k != std::string::npos && info.find('\n', at) > k) {
            keys.push_back(std::stol(info.substr(k + 6)));
        }
    }
    return keys;
}

// A command script whose replies do not depend on time or on the server's identity.
const std::vector<std::vector<std::string>> script{
    {"flushall"},
    {"ping"},
    {"ping", "hello"},
    {"echo", "a b\r\nc"},
    {"set", "k1", "v1"},
    {"get", "k1"},
    {"set", "k1", "v2", "nx"},
    {"set", "k1", "v3", "xx", "get"},
    {"set", "k1", "v4", "NX", "GET"},
    {"set", "k2", "v", "ex", "100"},
    {"ttl", "k2"},
    {"set", "k3", "v", "px", "100000"},
    {"set", "k3", "v", "keepttl"},
    {"ttl", "k3"},
    {"set", "k4", "v", "ex", "0"},
    {"set", "k4", "v", "ex", "x"},
    {"set", "k4", "v", "px", "9223372036854775807"},
    {"set", "k4", "v", "foo"},
    {"set", "k4", "v", "nx", "xx"},
    {"getset", "k1", "new"},
    {"getset", "nokey", "x"},
    {"del", "nokey", "k1", "k1", "k2"},
    {"exists", "k1", "k2", "k3", "k3", "nokey"},
    {"incr", "n"},
    {"incrby", "n", "41"},
    {"decr", "n"},
    {"decrby", "n", "2"},
    {"incrby", "n", "x"},
    {"incrby", "n", "9223372036854775807"},
    {"decrby", "n", "-9223372036854775808"},
    {"set", "s", "abc"},
    {"incr", "s"},
    {"set", "s", "007"},
    {"decr", "s"},
    {"append", "s", "def"},
    {"append", "fresh", "xyz"},
    {"strlen", "s"},
    {"strlen", "nokey"},
    {"mset", "a", "1", "b", "2", "c", "3", "d", "4", "e", "5", "f", "6"},
    {"mget", "a", "b", "c", "nokey", "d", "e", "f", "a"},
    {"mset", "a"},
    {"mset", "a", "1", "b"},
    {"expire", "a", "100"},
    {"expire", "a", "50", "gt"},
    {"expire", "a", "50", "lt"},
    {"expire", "a", "60", "nx"},
    {"expire", "b", "60", "xx"},
    {"expire", "a", "10", "nx", "xx"},
    {"expire", "a", "10", "gt", "lt"},
    {"expire", "a", "10", "foo"},
    {"expire", "a", "9223372036854775807"},
    {"pexpire", "a", "9223372036854775807"},
    {"ttl", "a"},
    {"pexpire", "a", "200000"},
    {"ttl", "a"},
    {"persist", "a"},
    {"persist", "a"},
    {"ttl", "a"},
    {"ttl", "nokey"},
    {"pttl", "nokey"},
    {"pttl", "b"},
    {"type", "a"},
    {"type", "nokey"},
    {"expire", "nokey", "10"},
    {"expire", "b", "-1"},
    {"exists", "b"},
    {"dbsize"},
    {"select", "0"},
    {"select", "x"},
    {"get"},
    {"GET", "a", "b"},
    {"ping", "a", "b"},
    {"nosuchcommand", "a", "b"},
    {"nosuchcommand"},
    {"config", "get", "save"},
    {"config", "get", "appendonly"},
    {"config", "get", "nosuchparameter"},
    {"config", "get"},
    {"config", "nosuch"},
    {"command", "count", "x"},
    {"command", "nosuch"},
    {"hello", "x"},
    {"hello", "1"},
    {"hello", "2", "foo"},
    {"hello", "2", "auth"},
    {"hello", "2", "setname", "a b"},
    {"info", "nosuchsection"},
    {"flushall", "foo"},
    {"flushdb"},
    {"dbsize"},
    {"info", "keyspace"},
    {"quit"},
};

} // namespace

TEST_CASE("replies are byte for byte those of redis-server", "[resp][server]") {
    Gatiod gatiod;
    RedisServer redis;
    std::string all;
    for (const auto& cmd : script) {
        all += request(cmd);
    }
    Client ours(gatiod.port());
    Client theirs(redis.port());
    ours.send_all(all);
    theirs.send_all(all);
    std::string a = ours.read_to_close();
    std::string b = theirs.read_to_close();
    // Compare reply by reply, to name the command when they differ.
    std::size_t ia = 0;
    std::size_t ib = 0;
    for (const auto& cmd : script) {
        std::size_t la = gatio::resp::check::reply_length(std::string_view(a).substr(ia));
        std::size_t lb = gatio::resp::check::reply_length(std::string_view(b).substr(ib));
        INFO("command: " << cmd[0] << (cmd.size() > 1 ? " " + cmd[1] : std::string()));
        REQUIRE(la > 0);
        REQUIRE(lb > 0);
        CHECK(a.substr(ia, la) == b.substr(ib, lb));
        ia += la;
        ib += lb;
    }
    CHECK(ia == a.size());
    CHECK(a == b);
}

TEST_CASE("inline requests and protocol errors are answered as redis-server answers them", "[resp][server]") {
    Gatiod gatiod;
    RedisServer redis;
    const std::vector<std::string> inputs{
        "ping\r\nset a \"x y\"\r\nget a\r\necho 'it\\'s'\r\n\r\n   \r\nget a\nquit\r\n",
        "*0\r\n*-1\r\nping\r\n*x\r\nping\r\n",
        "*2\r\n$4\r\nping\r\nx\r\n",
        "*1\r\n$-1\r\n",
        "*1\r\n$536870913\r\n",
        "ping \"unbalanced\r\n",
        "ping\r\nquit\r\nping\r\n",
    };
    for (const auto& input : inputs) {
        INFO("input: " << input);
        Client ours(gatiod.port());
        Client theirs(redis.port());
        ours.send_all(input);
        theirs.send_all(input);
        // Each input ends in a QUIT or a protocol error, after which both close.
        CHECK(ours.read_to_close() == theirs.read_to_close());
    }
}

TEST_CASE("redis-cli runs every command", "[resp][server]") {
    Gatiod gatiod;
    RedisServer redis;
    const std::vector<std::vector<std::string>> commands{
        {"ping"},
        {"echo", "hello"},
        {"set", "a", "1"},
        {"set", "t", "v", "ex", "100"},
        {"set", "p", "v", "px", "100000"},
        {"set", "a", "2", "nx"},
        {"set", "a", "3", "xx", "get"},
        {"get", "a"},
        {"getset", "a", "4"},
        {"incr", "n"},
        {"decr", "n"},
        {"incrby", "n", "10"},
        {"decrby", "n", "3"},
        {"append", "a", "xyz"},
        {"strlen", "a"},
        {"mset", "x", "1", "y", "2", "z", "3"},
        {"mget", "x", "y", "z", "nokey"},
        {"exists", "x", "y", "nokey"},
        {"del", "x", "nokey"},
        {"expire", "y", "100"},
        {"pexpire", "z", "100000"},
        {"ttl", "y"},
        {"ttl", "t"},
        {"persist", "y"},
        {"ttl", "y"},
        {"type", "a"},
        {"type", "nokey"},
        {"dbsize"},
        {"select", "0"},
        {"config", "get", "save"},
        {"flushdb"},
        {"set", "b", "1"},
        {"flushall"},
        {"dbsize"},
        {"quit"},
    };
    for (const auto& c : commands) {
        INFO("redis-cli " << c[0]);
        CHECK(cli_out(gatiod.port(), c) == cli_out(redis.port(), c));
    }
    // PTTL changes with time; its range is what can be checked.
    CHECK(cli_out(gatiod.port(), {"set", "p", "v", "px", "100000"}) == "OK\n");
    long pttl = std::stol(cli_out(gatiod.port(), {"pttl", "p"}));
    CHECK(pttl > 90'000);
    CHECK(pttl <= 100'000);
    // Replies that name the server: their shape.
    std::string hello = cli_out(gatiod.port(), {"hello", "2"});
    CHECK(hello.rfind("server\nredis\nversion\n", 0) == 0);
    CHECK(hello.find("proto\n2\n") != std::string::npos);
    std::string info = cli_out(gatiod.port(), {"info"});
    CHECK(info.find("# Server") != std::string::npos);
    CHECK(info.find("tcp_port:") != std::string::npos);
    CHECK(info.find("# Keyspace") != std::string::npos);
    // COMMAND COUNT counts what COMMAND LIST names.
    std::string names = cli_out(gatiod.port(), {"command", "list"});
    CHECK(cli_out(gatiod.port(), {"command", "count"}) ==
          std::to_string(std::count(names.begin(), names.end(), '\n')) + "\n");
    CHECK(names.find("\nhgetall\n") != std::string::npos);
    std::string command = cli_out(gatiod.port(), {"command", "info", "get"});
    CHECK(command.rfind("get\n2\nreadonly\nfast\n1\n1\n1\n", 0) == 0);
    CHECK(cli_out(gatiod.port(), {"config", "get", "maxmemory-policy"}) == "maxmemory-policy\nnoeviction\n");
}

TEST_CASE("pipelined replies keep request order across shards", "[resp][server]") {
    // A pipeline far deeper than max_pipeline also exercises pausing and resuming reads.
    Gatiod gatiod("max_pipeline = 16");
    Client c(gatiod.port());
    constexpr int n = 3000;
    std::string req;
    std::string expected;
    for (int i = 0; i < n; ++i) {
        std::string k = "key:" + std::to_string(i);
        std::string v = "value-" + std::to_string(i * 7);
        req += request({"set", k, v});
        expected += "+OK\r\n";
        req += request({"get", k});
        expected += '$' + std::to_string(v.size()) + "\r\n" + v + "\r\n";
        req += request({"incr", "counter:" + std::to_string(i % 10)});
        expected += ':' + std::to_string(i / 10 + 1) + "\r\n";
        if (i % 100 == 99) {
            req += request({"mget", "key:" + std::to_string(i), "key:" + std::to_string(i - 50), "nokey"});
            std::string v1 = "value-" + std::to_string(i * 7);
            std::string v2 = "value-" + std::to_string((i - 50) * 7);
            expected += "*3\r\n$" + std::to_string(v1.size()) + "\r\n" + v1 + "\r\n$" +
                        std::to_string(v2.size()) + "\r\n" + v2 + "\r\n$-1\r\n";
            req += request({"dbsize"});
            expected += ':' + std::to_string(i + 1 + 10) + "\r\n";
        }
    }
    std::size_t replies = 3 * n + 2 * (n / 100);
    CHECK(c.exchange(req, replies, 60s) == expected);
    // The keys really are spread over both drivers' shards.
    auto keys = shard_keys(gatiod.port());
    REQUIRE(keys.size() == 2);
    CHECK(keys[0] + keys[1] == n + 10);
    CHECK(keys[0] > n / 4);
    CHECK(keys[1] > n / 4);
}

TEST_CASE("the same pipeline sent byte by byte gives the same replies", "[resp][server]") {
    Gatiod gatiod;
    Client c(gatiod.port());
    std::string req;
    std::string expected;
    for (int i = 0; i < 40; ++i) {
        req += request({"set", 'k' + std::to_string(i), std::to_string(i)});
        expected += "+OK\r\n";
        req += "get k" + std::to_string(i) + "\r\n";
        expected += '$' + std::to_string(std::to_string(i).size()) + "\r\n" + std::to_string(i) + "\r\n";
    }
    for (char ch : req) {
        c.send_all(std::string_view(&ch, 1));
    }
    CHECK(c.exchange("", 80) == expected);
}

TEST_CASE("large values travel whole in both directions", "[resp][server]") {
    // Larger than a driver's whole output memory (32 MiB by default): the reply has to go out
    // in pieces as the client reads.
    Gatiod gatiod;
    Client c(gatiod.port());
    std::string big(40u << 20, 'x');
    for (std::size_t i = 0; i < big.size(); i += 4093) {
        big[i] = static_cast<char>('a' + i % 26);
    }
    CHECK(c.exchange(request({"set", "big", big}), 1) == "+OK\r\n");
    CHECK(c.exchange(request({"get", "big"}), 1) == '$' + std::to_string(big.size()) + "\r\n" + big + "\r\n");
    CHECK(c.exchange(request({"append", "big", "!"}), 1) == ':' + std::to_string(big.size() + 1) + "\r\n");
}

TEST_CASE("redis-benchmark completes without errors", "[resp][server]") {
    Gatiod gatiod;
    auto r = run({"/usr/bin/redis-benchmark", "-p", std::to_string(gatiod.port()), "-t",
                  "set,get,incr,mset,hset,lpush,rpush,lpop,rpop,lrange_100,sadd,spop", "-P", "16", "-n",
                  "20000", "-q"},
                 100s);
    INFO(r.out);
    CHECK(r.status == 0);
    for (const char* test : {"SET: ", "GET: ", "INCR: ", "MSET (10 keys): ", "HSET: ", "LPUSH: ", "RPUSH: ",
                             "LPOP: ", "RPOP: ", "LRANGE_100 (first 100 elements): ", "SADD: ", "SPOP: "}) {
        CHECK(reports_rate(r.out, test));
    }
    CHECK(r.out.find("ERR") == std::string::npos);
    CHECK(r.out.find("rror") == std::string::npos);
    // Every INCR of the benchmark (one key) was counted exactly once.
    CHECK(cli_out(gatiod.port(), {"get", "counter:__rand_int__"}) == "20000\n");
    // HSET wrote one field of one hash.
    CHECK(cli_out(gatiod.port(), {"hlen", "myhash"}) == "1\n");
}

TEST_CASE("expired keys are swept without being accessed", "[resp][server]") {
    Gatiod gatiod("active_expire_interval = \"20ms\"");
    Client c(gatiod.port());
    std::string req;
    for (int i = 0; i < 200; ++i) {
        req += request({"set", 'e' + std::to_string(i), "v", "px", "1000"});
    }
    req += request({"set", "kept", "v"});
    c.exchange(req, 201);
    // DBSIZE counts keys without touching them, so only the sweep can bring it down.
    CHECK(c.exchange(request({"dbsize"}), 1) == ":201\r\n");
    std::string size;
    for (int i = 0; i < 1000 && size != ":1\r\n"; ++i) {
        std::this_thread::sleep_for(10ms);
        size = c.exchange(request({"dbsize"}), 1);
    }
    CHECK(size == ":1\r\n");
    CHECK(cli_out(gatiod.port(), {"info", "stats"}).find("expired_keys:200") != std::string::npos);
}

TEST_CASE("maxmemory answers -OOM under noeviction and evicts under allkeys-lru", "[resp][server]") {
    const std::string value(1000, 'v');
    SECTION("noeviction") {
        Gatiod gatiod("maxmemory = \"256KiB\"");
        Client c(gatiod.port());
        std::string reply;
        int stored = 0;
        for (; stored < 2000; ++stored) {
            reply = c.exchange(request({"set", 'k' + std::to_string(stored), value}), 1);
            if (reply != "+OK\r\n") {
                break;
            }
        }
        CHECK(reply == "-OOM command not allowed when used memory > 'maxmemory'.\r\n");
        CHECK(stored > 50);
        CHECK(c.exchange(request({"get", "k0"}), 1) == "$1000\r\n" + value + "\r\n");
    }
    SECTION("allkeys-lru") {
        Gatiod gatiod("maxmemory = \"256KiB\"\nmaxmemory_policy = \"allkeys-lru\"");
        Client c(gatiod.port());
        std::string req;
        for (int i = 0; i < 2000; ++i) {
            req += request({"set", 'k' + std::to_string(i), value});
        }
        std::string replies = c.exchange(req, 2000);
        CHECK(replies.find('-') == std::string::npos);
        std::string size = c.exchange(request({"dbsize"}), 1);
        long keys = std::stol(size.substr(1));
        CHECK(keys > 50);
        CHECK(keys < 400);
        CHECK(cli_out(gatiod.port(), {"info", "stats"}).find("evicted_keys:0\r\n") == std::string::npos);
    }
}

TEST_CASE("gatiod stops cleanly while clients are connected", "[resp][server]") {
    Gatiod gatiod;
    Client c(gatiod.port());
    CHECK(c.exchange(request({"set", "a", "1"}), 1) == "+OK\r\n");
    CHECK(gatiod.process().stop() == 0);
}

TEST_CASE("a bad option stops gatiod with a message naming it", "[resp][server]") {
    auto policy = gatiod_exits("maxmemory_policy = \"lru\"");
    CHECK(policy.status != 0);
    CHECK(policy.out.find(
              "option \"maxmemory_policy\": must be \"noeviction\" or \"allkeys-lru\", got \"lru\"") !=
          std::string::npos);
    auto unknown = gatiod_exits("max_pipelines = 4");
    CHECK(unknown.status != 0);
    CHECK(unknown.out.find("option \"max_pipelines\": unknown to the resp plugin") != std::string::npos);
    auto range = gatiod_exits("max_pipeline = 0");
    CHECK(range.status != 0);
    CHECK(range.out.find("option \"max_pipeline\": must be between 1 and 65536, got 0") != std::string::npos);
}
