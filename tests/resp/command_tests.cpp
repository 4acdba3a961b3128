// Commands run in-process on real shards, routed the way the plugin routes them. The expected
// bytes are what redis-server 7.0 answers to the same requests.
#include <catch2/catch.hpp>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "check.hpp"
#include "commands.hpp"
#include "keyspace.hpp"

using namespace gatio::resp;

using Server = gatio::resp::check::LocalServer;

TEST_CASE("unknown commands and wrong arities are refused in redis-server's words", "[resp][commands]") {
    Server s(2);
    CHECK(s.run_line("FOO a b") == "-ERR unknown command 'FOO', with args beginning with: 'a' 'b' \r\n");
    CHECK(s.run_line("FOO") == "-ERR unknown command 'FOO', with args beginning with: \r\n");
    CHECK(s.run_line("foo \"a\\r\\nb\"") ==
          "-ERR unknown command 'foo', with args beginning with: 'a  b' \r\n");
    CHECK(s.run_line("get") == "-ERR wrong number of arguments for 'get' command\r\n");
    CHECK(s.run_line("SET a") == "-ERR wrong number of arguments for 'set' command\r\n");
    CHECK(s.run_line("mset a b c") == "-ERR wrong number of arguments for 'mset' command\r\n");
    CHECK(s.run_line("ping a b") == "-ERR wrong number of arguments for 'ping' command\r\n");
    // The argument list stops growing once it passes 128 characters.
    std::string longer = "nosuch " + std::string(100, 'a') + " " + std::string(100, 'b') + " c";
    CHECK(s.run_line(longer) == "-ERR unknown command 'nosuch', with args beginning with: '" +
                                    std::string(100, 'a') + "' '" + std::string(25, 'b') + "' \r\n");
}

TEST_CASE("SET and GET with every option", "[resp][commands]") {
    Server s(2);
    CHECK(s.run_line("set a 1") == "+OK\r\n");
    CHECK(s.run_line("get a") == "$1\r\n1\r\n");
    CHECK(s.run_line("get nosuch") == "$-1\r\n");
    CHECK(s.run_line("set a 2 nx") == "$-1\r\n");
    CHECK(s.run_line("set b 2 xx") == "$-1\r\n");
    CHECK(s.run_line("set a 3 xx get") == "$1\r\n1\r\n");
    CHECK(s.run_line("set c 3 nx get") == "$-1\r\n");
    CHECK(s.run_line("get c") == "$1\r\n3\r\n");
    CHECK(s.run_line("set a b nx xx") == "-ERR syntax error\r\n");
    CHECK(s.run_line("set a b ex 0") == "-ERR invalid expire time in 'set' command\r\n");
    CHECK(s.run_line("set a b ex x") == "-ERR value is not an integer or out of range\r\n");
    CHECK(s.run_line("set a b ex 9999999999999999") == "-ERR invalid expire time in 'set' command\r\n");
    CHECK(s.run_line("set a b px -1") == "-ERR invalid expire time in 'set' command\r\n");
    CHECK(s.run_line("set a b keepttl ex 1") == "-ERR syntax error\r\n");
    CHECK(s.run_line("set a b foo") == "-ERR syntax error\r\n");
    CHECK(s.run_line("set a b ex") == "-ERR syntax error\r\n");

    CHECK(s.run_line("set t v EX 10") == "+OK\r\n");
    CHECK(s.run_line("ttl t") == ":10\r\n");
    CHECK(s.run_line("set t w keepttl") == "+OK\r\n");
    CHECK(s.run_line("pttl t") == ":10000\r\n");
    CHECK(s.run_line("set t x") == "+OK\r\n");
    CHECK(s.run_line("ttl t") == ":-1\r\n");
    CHECK(s.run_line("set t v px 1500") == "+OK\r\n");
    CHECK(s.run_line("ttl t") == ":2\r\n");
    s.now_ms += 1499;
    CHECK(s.run_line("get t") == "$1\r\nv\r\n");
    s.now_ms += 1;
    CHECK(s.run_line("get t") == "$-1\r\n");
    CHECK(s.run_line("set u v pxat " + std::to_string(s.now_ms + 5)) == "+OK\r\n");
    CHECK(s.run_line("pttl u") == ":5\r\n");
    CHECK(s.run_line("set u v exat 1") == "+OK\r\n");
    CHECK(s.run_line("exists u") == ":0\r\n");
}

TEST_CASE("counters", "[resp][commands]") {
    Server s(3);
    CHECK(s.run_line("incr n") == ":1\r\n");
    CHECK(s.run_line("incrby n 10") == ":11\r\n");
    CHECK(s.run_line("decr n") == ":10\r\n");
    CHECK(s.run_line("decrby n 20") == ":-10\r\n");
    CHECK(s.run_line("incrby n x") == "-ERR value is not an integer or out of range\r\n");
    CHECK(s.run_line("incrby n 9223372036854775807") == ":9223372036854775797\r\n");
    CHECK(s.run_line("incrby n 11") == "-ERR increment or decrement would overflow\r\n");
    CHECK(s.run_line("decrby n -9223372036854775808") == "-ERR decrement would overflow\r\n");
    CHECK(s.run_line("set m -9223372036854775808") == "+OK\r\n");
    CHECK(s.run_line("decr m") == "-ERR increment or decrement would overflow\r\n");
    for (const char* bad : {"abc", "01", "\" 1\"", "-0", "+1", "1.5"}) {
        INFO(bad);
        CHECK(s.run_line(std::string("set z ") + bad) == "+OK\r\n");
        CHECK(s.run_line("incr z") == "-ERR value is not an integer or out of range\r\n");
    }
    // INCR keeps the key's expiry.
    CHECK(s.run_line("set e 5 ex 100") == "+OK\r\n");
    CHECK(s.run_line("incr e") == ":6\r\n");
    CHECK(s.run_line("ttl e") == ":100\r\n");
}

TEST_CASE("string commands GETSET APPEND STRLEN and TYPE", "[resp][commands]") {
    Server s(2);
    CHECK(s.run_line("set a 1 ex 100") == "+OK\r\n");
    CHECK(s.run_line("getset a 2") == "$1\r\n1\r\n");
    CHECK(s.run_line("ttl a") == ":-1\r\n");
    CHECK(s.run_line("getset b 1") == "$-1\r\n");
    CHECK(s.run_line("append a xyz") == ":4\r\n");
    CHECK(s.run_line("append q 1") == ":1\r\n");
    CHECK(s.run_line("strlen a") == ":4\r\n");
    CHECK(s.run_line("strlen zz") == ":0\r\n");
    CHECK(s.run_line("type a") == "+string\r\n");
    CHECK(s.run_line("type zz") == "+none\r\n");
    s.settings.proto_max_bulk_len = 6;
    CHECK(s.run_line("append a abc") == "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n");
}

TEST_CASE("multi-key commands gather across shards in argument order", "[resp][commands]") {
    Server s(4);
    std::string mset = "mset";
    std::string mget = "mget";
    std::string expected = "*41\r\n";
    for (int i = 0; i < 40; ++i) {
        mset += " k" + std::to_string(i) + " v" + std::to_string(i);
        mget += " k" + std::to_string(i);
        expected += '$' + std::to_string(std::to_string(i).size() + 1) + "\r\nv" + std::to_string(i) + "\r\n";
    }
    mget += " nosuch";
    expected += "$-1\r\n";
    CHECK(s.run_line(mset) == "+OK\r\n");
    CHECK(s.run_line(mget) == expected);
    // Every shard got some of the keys.
    for (int i = 0; i < 4; ++i) {
        CHECK(s.shard(static_cast<std::size_t>(i)).size() > 0);
    }
    CHECK(s.run_line("dbsize") == ":40\r\n");
    CHECK(s.run_line("exists k1 k1 k2 nosuch") == ":3\r\n");
    CHECK(s.run_line("del k1 k1 k2 nosuch") == ":2\r\n");
    CHECK(s.run_line("mset a 1 a 2") == "+OK\r\n");
    CHECK(s.run_line("get a") == "$1\r\n2\r\n");
    CHECK(s.run_line("flushall foo") == "-ERR syntax error\r\n");
    CHECK(s.run_line("flushall sync async") == "-ERR syntax error\r\n");
    CHECK(s.run_line("flushdb async") == "+OK\r\n");
    CHECK(s.run_line("dbsize") == ":0\r\n");
}

TEST_CASE("EXPIRE family", "[resp][commands]") {
    Server s(2);
    CHECK(s.run_line("set n 10") == "+OK\r\n");
    CHECK(s.run_line("expire n x") == "-ERR value is not an integer or out of range\r\n");
    CHECK(s.run_line("expire n 10 nx xx") ==
          "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n");
    CHECK(s.run_line("expire n 10 gt lt") ==
          "-ERR GT and LT options at the same time are not compatible\r\n");
    CHECK(s.run_line("expire n 10 foo") == "-ERR Unsupported option foo\r\n");
    CHECK(s.run_line("expire n 9223372036854775807") == "-ERR invalid expire time in 'expire' command\r\n");
    CHECK(s.run_line("pexpire n 9223372036854775807") == "-ERR invalid expire time in 'pexpire' command\r\n");
    CHECK(s.run_line("expire nokey 10") == ":0\r\n");
    CHECK(s.run_line("expire n 10 xx") == ":0\r\n");
    CHECK(s.run_line("expire n 100 gt") == ":0\r\n");
    CHECK(s.run_line("expire n 100") == ":1\r\n");
    CHECK(s.run_line("ttl n") == ":100\r\n");
    CHECK(s.run_line("expire n 50 gt") == ":0\r\n");
    CHECK(s.run_line("expire n 50 lt") == ":1\r\n");
    CHECK(s.run_line("expire n 5 nx") == ":0\r\n");
    CHECK(s.run_line("pexpire n 1234") == ":1\r\n");
    CHECK(s.run_line("pttl n") == ":1234\r\n");
    CHECK(s.run_line("ttl n") == ":1\r\n");
    CHECK(s.run_line("persist n") == ":1\r\n");
    CHECK(s.run_line("persist n") == ":0\r\n");
    CHECK(s.run_line("ttl n") == ":-1\r\n");
    CHECK(s.run_line("ttl nokey") == ":-2\r\n");
    CHECK(s.run_line("pttl nokey") == ":-2\r\n");
    CHECK(s.run_line("expire n 0") == ":1\r\n");
    CHECK(s.run_line("exists n") == ":0\r\n");
    CHECK(s.run_line("set n 1") == "+OK\r\n");
    CHECK(s.run_line("expire n -5") == ":1\r\n");
    CHECK(s.run_line("get n") == "$-1\r\n");
}

TEST_CASE("connection commands", "[resp][commands]") {
    Server s(1);
    CHECK(s.run_line("ping") == "+PONG\r\n");
    CHECK(s.run_line("PING x") == "$1\r\nx\r\n");
    CHECK(s.run_line("echo \"\"") == "$0\r\n\r\n");
    CHECK(s.run_line("select 0") == "+OK\r\n");
    CHECK(s.run_line("select 16") == "-ERR DB index is out of range\r\n");
    CHECK(s.run_line("select -1") == "-ERR DB index is out of range\r\n");
    CHECK(s.run_line("select 15") == "+OK\r\n");
    CHECK(s.run_line("select 0") == "+OK\r\n");
    CHECK(s.run_line("select x") == "-ERR value is not an integer or out of range\r\n");
    CHECK(s.run_line("quit") == "+OK\r\n");
    CHECK(s.run_line("hello 3") == "-NOPROTO unsupported protocol version\r\n");
    CHECK(s.run_line("hello x") == "-ERR Protocol version is not an integer or out of range\r\n");
    CHECK(s.run_line("hello 2 foo") == "-ERR Syntax error in HELLO option 'foo'\r\n");
    CHECK(s.run_line("hello 2 auth") == "-ERR Syntax error in HELLO option 'auth'\r\n");
    CHECK(s.run_line("hello 2 auth bob x") ==
          "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
    CHECK(s.run_line("hello 2 setname \"a b\"") ==
          "-ERR Client names cannot contain spaces, newlines or special characters.\r\n");
    CHECK(s.run_line("hello 2 setname x").rfind("*14\r\n$6\r\nserver\r\n$5\r\nredis\r\n", 0) == 0);
    CHECK(s.run_line("hello").find("$5\r\nproto\r\n:2\r\n$2\r\nid\r\n:7\r\n") != std::string::npos);
    CHECK(s.run_line("config get save") == "*2\r\n$4\r\nsave\r\n$0\r\n\r\n");
    CHECK(s.run_line("config get appendonly") == "*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n");
    CHECK(s.run_line("config get nosuch") == "*0\r\n");
    CHECK(s.run_line("config get maxmemory*") ==
          "*6\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n$16\r\nmaxmemory-policy\r\n$10\r\nnoeviction\r\n"
          "$17\r\nmaxmemory-samples\r\n$1\r\n5\r\n");
    CHECK(s.run_line("config get MAXMEMORY") == "*2\r\n$9\r\nMAXMEMORY\r\n$1\r\n0\r\n");
    CHECK(s.run_line("config get") == "-ERR wrong number of arguments for 'config|get' command\r\n");
    CHECK(s.run_line("config foo") == "-ERR unknown subcommand 'foo'. Try CONFIG HELP.\r\n");
    CHECK(s.run_line("command count") == ':' + std::to_string(command_table().size()) + "\r\n");
    CHECK(s.run_line("command count x") == "-ERR wrong number of arguments for 'command|count' command\r\n");
    CHECK(s.run_line("command foo") == "-ERR unknown subcommand 'foo'. Try COMMAND HELP.\r\n");
    CHECK(s.run_line("command docs") == "*0\r\n");
    CHECK(s.run_line("command info get nosuch") ==
          "*2\r\n*10\r\n$3\r\nget\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n"
          ":1\r\n:1\r\n:1\r\n*3\r\n+@read\r\n+@string\r\n+@fast\r\n"
          "*0\r\n*0\r\n*0\r\n$-1\r\n");
    CHECK(s.run_line("command").rfind(
              '*' + std::to_string(command_table().size()) + "\r\n*10\r\n$4\r\nping\r\n", 0) == 0);
}

TEST_CASE("INFO reports the keyspace summed over shards", "[resp][commands]") {
    Server s(3);
    CHECK(s.run_line("info keyspace") == "$12\r\n# Keyspace\r\n\r\n");
    CHECK(s.run_line("mset a 1 b 2 c 3") == "+OK\r\n");
    CHECK(s.run_line("expire a 100") == ":1\r\n");
    CHECK(s.run_line("info keyspace") == "$44\r\n# Keyspace\r\ndb0:keys=3,expires=1,avg_ttl=0\r\n\r\n");
    CHECK(s.run_line("info nosuch") == "$0\r\n\r\n");
    std::string all = s.run_line("info");
    CHECK(all.find("# Server\r\nredis_version:") != std::string::npos);
    CHECK(all.find("\r\n\r\n# Memory\r\nused_memory:") != std::string::npos);
    CHECK(all.find("tcp_port:6379\r\n") != std::string::npos);
}

TEST_CASE("noeviction refuses writes over maxmemory with redis-server's OOM error", "[resp][commands]") {
    ShardLimits limits;
    limits.max_memory = 4096;
    Server s(1, limits);
    int stored = 0;
    std::string reply;
    for (; stored < 1000; ++stored) {
        reply = s.run_line("set key" + std::to_string(stored) + " " + std::string(100, 'x'));
        if (reply != "+OK\r\n") {
            break;
        }
    }
    CHECK(reply == "-OOM command not allowed when used memory > 'maxmemory'.\r\n");
    CHECK(stored > 5);
    CHECK(stored < 1000);
    // Reads and deletes still work, and free room again.
    CHECK(s.run_line("get key0") == "$100\r\n" + std::string(100, 'x') + "\r\n");
    CHECK(s.run_line("mset a 1") == "-OOM command not allowed when used memory > 'maxmemory'.\r\n");
    CHECK(s.run_line("del key0 key1 key2") == ":3\r\n");
    CHECK(s.run_line("set a 1") == "+OK\r\n");
}

TEST_CASE("a hash's memory is accounted field by field and returns to zero", "[resp][commands]") {
    Server s(1);
    const Shard& shard = s.shard(0);
    CHECK(s.run_line("hset h f1 " + std::string(1000, 'v')) == ":1\r\n");
    const std::uint64_t one = shard.used_memory();
    CHECK(one >= 1000);
    for (int i = 2; i <= 200; ++i) {
        s.run_line("hset h f" + std::to_string(i) + " " + std::string(1000, 'v'));
    }
    // Each field counts its bytes: 200 fields of 1000 bytes take 200 times as much, at least.
    const std::uint64_t full = shard.used_memory();
    CHECK(full >= 200 * 1000);
    // A value made small gives its memory back.
    CHECK(s.run_line("hset h f1 small") == ":0\r\n");
    CHECK(full - shard.used_memory() >= 900);
    for (int i = 1; i <= 200; ++i) {
        s.run_line("hdel h f" + std::to_string(i));
    }
    // The last field's deletion deletes the key.
    CHECK(s.run_line("exists h") == ":0\r\n");
    CHECK(shard.used_memory() == 0);
    s.run_line("hset h a 1");
    s.run_line("set h now-a-string");
    s.run_line("del h");
    CHECK(shard.used_memory() == 0);
}

TEST_CASE("expiry and eviction apply to hashes", "[resp][commands]") {
    SECTION("expiry") {
        Server s(1);
        CHECK(s.run_line("hset h a 1") == ":1\r\n");
        CHECK(s.run_line("pexpire h 100") == ":1\r\n");
        s.now_ms += 99;
        CHECK(s.run_line("hget h a") == "$1\r\n1\r\n");
        s.now_ms += 1;
        CHECK(s.run_line("hget h a") == "$-1\r\n");
        CHECK(s.run_line("type h") == "+none\r\n");
        CHECK(s.shard(0).used_memory() == 0);
    }
    SECTION("allkeys-lru evicts hashes by their real size") {
        ShardLimits limits;
        limits.max_memory = 64 << 10;
        limits.policy = EvictionPolicy::allkeys_lru;
        Server s(1, limits);
        for (int k = 0; k < 10; ++k) {
            for (int f = 0; f < 20; ++f) {
                s.run_line("hset h" + std::to_string(k) + " f" + std::to_string(f) + " " +
                           std::string(1000, 'x'));
            }
        }
        // 10 hashes of 20 KB do not fit in 64 KiB: the shard keeps at most three of them.
        CHECK(s.shard(0).size() <= 3);
        CHECK(s.shard(0).evicted() >= 7);
        CHECK(s.shard(0).used_memory() <= (64u << 10) + 21 * 1024);
    }
    SECTION("noeviction refuses a hash write over maxmemory") {
        ShardLimits limits;
        limits.max_memory = 4 << 10;
        Server s(1, limits);
        s.run_line("hset h a " + std::string(8000, 'x'));
        CHECK(s.run_line("hset h b 1") == "-OOM command not allowed when used memory > 'maxmemory'.\r\n");
        CHECK(s.run_line("hget h b") == "$-1\r\n");
        CHECK(s.run_line("hdel h a") == ":1\r\n");
    }
}

TEST_CASE("list and set memory is accounted per element and returns to zero", "[resp][commands]") {
    Server s(1);
    const Shard& shard = s.shard(0);
    for (int i = 0; i < 600; ++i) {
        s.run_line("rpush l " + std::string(100, 'x'));
        // Integers first (the intset form), then past 512 members an indexed set.
        s.run_line("sadd st " + std::to_string(i));
    }
    s.run_line("sadd st " + std::string(100, 'y'));
    CHECK(shard.used_memory() >= 600 * 100);
    CHECK(s.run_line("ltrim l 0 9") == "+OK\r\n");
    CHECK(s.run_line("lmove l l2 left right") == "$100\r\n" + std::string(100, 'x') + "\r\n");
    for (int i = 0; i < 600; ++i) {
        s.run_line("srem st " + std::to_string(i));
    }
    s.run_line("srem st " + std::string(100, 'y'));
    s.run_line("del l l2");
    CHECK(s.run_line("dbsize") == ":0\r\n");
    CHECK(shard.used_memory() == 0);
}

TEST_CASE("sorted-set memory is accounted per member, and expiry and eviction apply", "[resp][commands]") {
    SECTION("the account grows with each member and returns to zero") {
        Server s(1);
        const Shard& shard = s.shard(0);
        for (int i = 0; i < 300; ++i) {
            // Past 128 members the member table gains its index.
            s.run_line("zadd z " + std::to_string(i) + " " + std::string(100, 'm') + std::to_string(i));
        }
        CHECK(shard.used_memory() >= 300 * 100);
        const std::uint64_t full = shard.used_memory();
        CHECK(s.run_line("zincrby z 1000 " + std::string(100, 'm') + "0") == "$4\r\n1000\r\n");
        CHECK(s.run_line("zremrangebyrank z 0 99") == ":100\r\n");
        CHECK(shard.used_memory() < full);
        CHECK(s.run_line("zrangestore z2 z 0 -1") == ":200\r\n");
        CHECK(s.run_line("zunionstore z3 2 z z2") == ":200\r\n");
        CHECK(s.run_line("zpopmin z 1000").size() > 0);
        CHECK(s.run_line("exists z") == ":0\r\n");
        s.run_line("del z2 z3");
        CHECK(s.run_line("dbsize") == ":0\r\n");
        CHECK(shard.used_memory() == 0);
    }
    SECTION("expiry") {
        Server s(1);
        CHECK(s.run_line("zadd z 1 a") == ":1\r\n");
        CHECK(s.run_line("pexpire z 100") == ":1\r\n");
        s.now_ms += 100;
        CHECK(s.run_line("zscore z a") == "$-1\r\n");
        CHECK(s.run_line("type z") == "+none\r\n");
        CHECK(s.shard(0).used_memory() == 0);
    }
    SECTION("allkeys-lru evicts sorted sets by their real size") {
        ShardLimits limits;
        limits.max_memory = 64 << 10;
        limits.policy = EvictionPolicy::allkeys_lru;
        Server s(1, limits);
        for (int k = 0; k < 10; ++k) {
            for (int m = 0; m < 20; ++m) {
                s.run_line("zadd z" + std::to_string(k) + " " + std::to_string(m) + " " +
                           std::string(1000, 'x') + std::to_string(m));
            }
        }
        CHECK(s.shard(0).size() <= 3);
        CHECK(s.shard(0).evicted() >= 7);
    }
    SECTION("noeviction refuses a sorted-set write over maxmemory") {
        ShardLimits limits;
        limits.max_memory = 4 << 10;
        Server s(1, limits);
        s.run_line("zadd z 1 " + std::string(8000, 'x'));
        CHECK(s.run_line("zadd z 2 b") == "-OOM command not allowed when used memory > 'maxmemory'.\r\n");
        CHECK(s.run_line("zrangestore d z 0 -1") ==
              "-OOM command not allowed when used memory > 'maxmemory'.\r\n");
        CHECK(s.run_line("zscore z b") == "$-1\r\n");
        CHECK(s.run_line("zrem z " + std::string(8000, 'x')) == ":1\r\n");
    }
}

TEST_CASE("databases: each key lives in one, across shards, swapped, moved and flushed apart",
          "[resp][commands]") {
    Server s(3);
    for (int i = 0; i < 30; ++i) {
        s.run_line("set k" + std::to_string(i) + " zero");
    }
    CHECK(s.run_line("select 1") == "+OK\r\n");
    CHECK(s.run_line("dbsize") == ":0\r\n");
    CHECK(s.run_line("get k1") == "$-1\r\n");
    CHECK(s.run_line("set k1 one") == "+OK\r\n");
    CHECK(s.run_line("pexpire k1 100000") == ":1\r\n");
    CHECK(s.run_line("zadd z 1 a") == ":1\r\n");
    CHECK(s.run_line("dbsize") == ":2\r\n");
    const std::string info = s.run_line("info keyspace");
    CHECK(info.find("db0:keys=30,expires=0,avg_ttl=0\r\n") != std::string::npos);
    CHECK(info.find("db1:keys=2,expires=1,avg_ttl=0\r\n") != std::string::npos);
    // MOVE keeps the expiry and refuses a key the target has.
    CHECK(s.run_line("move k1 0") == ":0\r\n");
    CHECK(s.run_line("move k1 2") == ":1\r\n");
    CHECK(s.run_line("move k1 1") == "-ERR source and destination objects are the same\r\n");
    CHECK(s.run_line("move k1 16") == "-ERR DB index is out of range\r\n");
    CHECK(s.run_line("select 2") == "+OK\r\n");
    CHECK(s.run_line("get k1") == "$3\r\none\r\n");
    CHECK(s.run_line("pttl k1") == ":100000\r\n");
    // SWAPDB trades the databases on every shard.
    CHECK(s.run_line("swapdb 0 2") == "+OK\r\n");
    CHECK(s.run_line("dbsize") == ":30\r\n");
    CHECK(s.run_line("get k1") == "$4\r\nzero\r\n");
    CHECK(s.run_line("select 0") == "+OK\r\n");
    CHECK(s.run_line("get k1") == "$3\r\none\r\n");
    CHECK(s.run_line("swapdb 0 16") == "-ERR DB index is out of range\r\n");
    CHECK(s.run_line("swapdb x 1") == "-ERR invalid first DB index\r\n");
    CHECK(s.run_line("swapdb 1 x") == "-ERR invalid second DB index\r\n");
    // FLUSHDB empties the selected database only; FLUSHALL every one.
    CHECK(s.run_line("flushdb") == "+OK\r\n");
    CHECK(s.run_line("dbsize") == ":0\r\n");
    CHECK(s.run_line("select 1") == "+OK\r\n");
    CHECK(s.run_line("dbsize") == ":1\r\n");
    CHECK(s.run_line("select 2") == "+OK\r\n");
    CHECK(s.run_line("dbsize") == ":30\r\n");
    CHECK(s.run_line("keys k2*").size() > 4);
    CHECK(s.run_line("flushall") == "+OK\r\n");
    CHECK(s.run_line("dbsize") == ":0\r\n");
    CHECK(s.run_line("select 1") == "+OK\r\n");
    CHECK(s.run_line("dbsize") == ":0\r\n");
    for (std::size_t i = 0; i < 3; ++i) {
        CHECK(s.shard(i).used_memory() == 0);
    }
}

TEST_CASE("the sweep and eviction reach every database", "[resp][keyspace]") {
    SECTION("sweep") {
        Shard shard(ShardLimits{});
        for (std::uint32_t db = 0; db < 16; ++db) {
            shard.select(db);
            Shard::Entry& e = shard.insert("k", 0);
            shard.set_expire(e, 10);
        }
        shard.select(0);
        CHECK(shard.sweep(20, 1000) == 16);
        for (std::uint32_t db = 0; db < 16; ++db) {
            CHECK(shard.size(db) == 0);
        }
        CHECK(shard.used_memory() == 0);
    }
    SECTION("eviction") {
        ShardLimits limits;
        limits.max_memory = 16 << 10;
        limits.policy = EvictionPolicy::allkeys_lru;
        Server s(1, limits);
        s.run_line("select 3");
        for (int i = 0; i < 40; ++i) {
            s.run_line("set a" + std::to_string(i) + " " + std::string(1000, 'x'));
        }
        const std::size_t kept = s.shard(0).size(3);
        s.run_line("select 0");
        for (int i = 0; i < 40; ++i) {
            s.run_line("set b" + std::to_string(i) + " " + std::string(1000, 'x'));
        }
        // Writes to database 0 made room in database 3 too.
        CHECK(s.shard(0).used_memory() <= (16u << 10) + 2048);
        CHECK(s.shard(0).size(3) < kept);
    }
}
