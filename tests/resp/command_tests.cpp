// Commands run in-process on real shards, routed the way the plugin routes them. The expected
// bytes are what redis-server 7.0 answers to the same requests.
#include <catch2/catch.hpp>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "commands.hpp"
#include "keyspace.hpp"
#include "parser.hpp"

using namespace gatio::resp;

namespace {

// A keyspace of `n` shards with a clock the test moves.
class Server {
public:
    explicit Server(std::size_t n, ShardLimits limits = {}) {
        for (std::size_t i = 0; i < n; ++i) {
            shards_.push_back(std::make_unique<Shard>(limits, i + 1));
        }
        facts_.settings = &settings_;
        facts_.client_id = 7;
        facts_.port = 6379;
    }

    std::int64_t now = 1'700'000'000'000;
    ServerSettings settings_;

    Shard& shard(std::size_t i) { return *shards_[i]; }

    std::uint32_t shard_of(std::string_view key) const {
        return static_cast<std::uint32_t>(std::hash<std::string_view>{}(key) % shards_.size());
    }

    // Runs one request given as inline text; returns the raw reply.
    std::string run(std::string_view line) {
        Parser parser(ParserLimits{});
        std::string input = std::string(line) + "\r\n";
        auto st = parser.parse({reinterpret_cast<const std::uint8_t*>(input.data()), input.size()});
        REQUIRE(st == ParseStatus::command);
        return run_args(parser.args());
    }

    std::string run_args(std::span<const std::string_view> args) {
        std::string out;
        const CommandSpec* spec = find_command(args[0]);
        if (spec == nullptr) {
            unknown_command_error(args, out);
            return out;
        }
        if (!arity_ok(*spec, args.size())) {
            arity_error(spec->name, out);
            return out;
        }
        switch (spec->route) {
        case Route::connection:
            run_local(*spec, args, facts_, out);
            break;
        case Route::one_key:
            run_one_key(*shards_[shard_of(args[1])], *spec, args, settings_, now, out);
            break;
        case Route::keys:
        case Route::all_shards: {
            if (!check_fanout(*spec, args, out)) {
                break;
            }
            std::vector<std::vector<std::uint32_t>> keys(shards_.size());
            std::vector<std::uint32_t> owner(args.size());
            std::vector<ShardShare> shares(shards_.size());
            std::vector<ShardShare*> involved(shards_.size(), nullptr);
            if (spec->route == Route::keys) {
                for (std::size_t a = 1; a < args.size(); a += static_cast<std::size_t>(spec->step)) {
                    owner[a] = shard_of(args[a]);
                    keys[owner[a]].push_back(static_cast<std::uint32_t>(a));
                    involved[owner[a]] = &shares[owner[a]];
                }
            } else {
                for (std::size_t s = 0; s < shards_.size(); ++s) {
                    involved[s] = &shares[s];
                }
            }
            for (std::size_t s = 0; s < shards_.size(); ++s) {
                if (involved[s] != nullptr) {
                    run_part(*shards_[s], *spec, args, keys[s], now, shares[s]);
                }
            }
            gather(*spec, args, owner, involved, facts_, out);
            break;
        }
        }
        return out;
    }

private:
    std::vector<std::unique_ptr<Shard>> shards_;
    ConnectionFacts facts_;
};

} // namespace

TEST_CASE("unknown commands and wrong arities are refused in redis-server's words", "[resp][commands]") {
    Server s(2);
    CHECK(s.run("FOO a b") == "-ERR unknown command 'FOO', with args beginning with: 'a' 'b' \r\n");
    CHECK(s.run("FOO") == "-ERR unknown command 'FOO', with args beginning with: \r\n");
    CHECK(s.run("foo \"a\\r\\nb\"") == "-ERR unknown command 'foo', with args beginning with: 'a  b' \r\n");
    CHECK(s.run("get") == "-ERR wrong number of arguments for 'get' command\r\n");
    CHECK(s.run("SET a") == "-ERR wrong number of arguments for 'set' command\r\n");
    CHECK(s.run("mset a b c") == "-ERR wrong number of arguments for 'mset' command\r\n");
    CHECK(s.run("ping a b") == "-ERR wrong number of arguments for 'ping' command\r\n");
    // The argument list stops growing once it passes 128 characters.
    std::string longer = "nosuch " + std::string(100, 'a') + " " + std::string(100, 'b') + " c";
    CHECK(s.run(longer) == "-ERR unknown command 'nosuch', with args beginning with: '" +
                               std::string(100, 'a') + "' '" + std::string(25, 'b') + "' \r\n");
}

TEST_CASE("SET and GET with every option", "[resp][commands]") {
    Server s(2);
    CHECK(s.run("set a 1") == "+OK\r\n");
    CHECK(s.run("get a") == "$1\r\n1\r\n");
    CHECK(s.run("get nosuch") == "$-1\r\n");
    CHECK(s.run("set a 2 nx") == "$-1\r\n");
    CHECK(s.run("set b 2 xx") == "$-1\r\n");
    CHECK(s.run("set a 3 xx get") == "$1\r\n1\r\n");
    CHECK(s.run("set c 3 nx get") == "$-1\r\n");
    CHECK(s.run("get c") == "$1\r\n3\r\n");
    CHECK(s.run("set a b nx xx") == "-ERR syntax error\r\n");
    CHECK(s.run("set a b ex 0") == "-ERR invalid expire time in 'set' command\r\n");
    CHECK(s.run("set a b ex x") == "-ERR value is not an integer or out of range\r\n");
    CHECK(s.run("set a b ex 9999999999999999") == "-ERR invalid expire time in 'set' command\r\n");
    CHECK(s.run("set a b px -1") == "-ERR invalid expire time in 'set' command\r\n");
    CHECK(s.run("set a b keepttl ex 1") == "-ERR syntax error\r\n");
    CHECK(s.run("set a b foo") == "-ERR syntax error\r\n");
    CHECK(s.run("set a b ex") == "-ERR syntax error\r\n");

    CHECK(s.run("set t v EX 10") == "+OK\r\n");
    CHECK(s.run("ttl t") == ":10\r\n");
    CHECK(s.run("set t w keepttl") == "+OK\r\n");
    CHECK(s.run("pttl t") == ":10000\r\n");
    CHECK(s.run("set t x") == "+OK\r\n");
    CHECK(s.run("ttl t") == ":-1\r\n");
    CHECK(s.run("set t v px 1500") == "+OK\r\n");
    CHECK(s.run("ttl t") == ":2\r\n");
    s.now += 1499;
    CHECK(s.run("get t") == "$1\r\nv\r\n");
    s.now += 1;
    CHECK(s.run("get t") == "$-1\r\n");
    CHECK(s.run("set u v pxat " + std::to_string(s.now + 5)) == "+OK\r\n");
    CHECK(s.run("pttl u") == ":5\r\n");
    CHECK(s.run("set u v exat 1") == "+OK\r\n");
    CHECK(s.run("exists u") == ":0\r\n");
}

TEST_CASE("counters", "[resp][commands]") {
    Server s(3);
    CHECK(s.run("incr n") == ":1\r\n");
    CHECK(s.run("incrby n 10") == ":11\r\n");
    CHECK(s.run("decr n") == ":10\r\n");
    CHECK(s.run("decrby n 20") == ":-10\r\n");
    CHECK(s.run("incrby n x") == "-ERR value is not an integer or out of range\r\n");
    CHECK(s.run("incrby n 9223372036854775807") == ":9223372036854775797\r\n");
    CHECK(s.run("incrby n 11") == "-ERR increment or decrement would overflow\r\n");
    CHECK(s.run("decrby n -9223372036854775808") == "-ERR decrement would overflow\r\n");
    CHECK(s.run("set m -9223372036854775808") == "+OK\r\n");
    CHECK(s.run("decr m") == "-ERR increment or decrement would overflow\r\n");
    for (const char* bad : {"abc", "01", "\" 1\"", "-0", "+1", "1.5"}) {
        INFO(bad);
        CHECK(s.run(std::string("set z ") + bad) == "+OK\r\n");
        CHECK(s.run("incr z") == "-ERR value is not an integer or out of range\r\n");
    }
    // INCR keeps the key's expiry.
    CHECK(s.run("set e 5 ex 100") == "+OK\r\n");
    CHECK(s.run("incr e") == ":6\r\n");
    CHECK(s.run("ttl e") == ":100\r\n");
}

TEST_CASE("string commands GETSET APPEND STRLEN and TYPE", "[resp][commands]") {
    Server s(2);
    CHECK(s.run("set a 1 ex 100") == "+OK\r\n");
    CHECK(s.run("getset a 2") == "$1\r\n1\r\n");
    CHECK(s.run("ttl a") == ":-1\r\n");
    CHECK(s.run("getset b 1") == "$-1\r\n");
    CHECK(s.run("append a xyz") == ":4\r\n");
    CHECK(s.run("append q 1") == ":1\r\n");
    CHECK(s.run("strlen a") == ":4\r\n");
    CHECK(s.run("strlen zz") == ":0\r\n");
    CHECK(s.run("type a") == "+string\r\n");
    CHECK(s.run("type zz") == "+none\r\n");
    s.settings_.proto_max_bulk_len = 6;
    CHECK(s.run("append a abc") == "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n");
}

TEST_CASE("multi-key commands gather across shards in argument order", "[resp][commands]") {
    Server s(4);
    std::string mset = "mset";
    std::string mget = "mget";
    std::string expected = "*41\r\n";
    for (int i = 0; i < 40; ++i) {
        mset += " k" + std::to_string(i) + " v" + std::to_string(i);
        mget += " k" + std::to_string(i);
        expected += "$" + std::to_string(std::to_string(i).size() + 1) + "\r\nv" + std::to_string(i) + "\r\n";
    }
    mget += " nosuch";
    expected += "$-1\r\n";
    CHECK(s.run(mset) == "+OK\r\n");
    CHECK(s.run(mget) == expected);
    // Every shard got some of the keys.
    for (int i = 0; i < 4; ++i) {
        CHECK(s.shard(static_cast<std::size_t>(i)).size() > 0);
    }
    CHECK(s.run("dbsize") == ":40\r\n");
    CHECK(s.run("exists k1 k1 k2 nosuch") == ":3\r\n");
    CHECK(s.run("del k1 k1 k2 nosuch") == ":2\r\n");
    CHECK(s.run("mset a 1 a 2") == "+OK\r\n");
    CHECK(s.run("get a") == "$1\r\n2\r\n");
    CHECK(s.run("flushall foo") == "-ERR syntax error\r\n");
    CHECK(s.run("flushall sync async") == "-ERR syntax error\r\n");
    CHECK(s.run("flushdb async") == "+OK\r\n");
    CHECK(s.run("dbsize") == ":0\r\n");
}

TEST_CASE("EXPIRE family", "[resp][commands]") {
    Server s(2);
    CHECK(s.run("set n 10") == "+OK\r\n");
    CHECK(s.run("expire n x") == "-ERR value is not an integer or out of range\r\n");
    CHECK(s.run("expire n 10 nx xx") ==
          "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n");
    CHECK(s.run("expire n 10 gt lt") == "-ERR GT and LT options at the same time are not compatible\r\n");
    CHECK(s.run("expire n 10 foo") == "-ERR Unsupported option foo\r\n");
    CHECK(s.run("expire n 9223372036854775807") == "-ERR invalid expire time in 'expire' command\r\n");
    CHECK(s.run("pexpire n 9223372036854775807") == "-ERR invalid expire time in 'pexpire' command\r\n");
    CHECK(s.run("expire nokey 10") == ":0\r\n");
    CHECK(s.run("expire n 10 xx") == ":0\r\n");
    CHECK(s.run("expire n 100 gt") == ":0\r\n");
    CHECK(s.run("expire n 100") == ":1\r\n");
    CHECK(s.run("ttl n") == ":100\r\n");
    CHECK(s.run("expire n 50 gt") == ":0\r\n");
    CHECK(s.run("expire n 50 lt") == ":1\r\n");
    CHECK(s.run("expire n 5 nx") == ":0\r\n");
    CHECK(s.run("pexpire n 1234") == ":1\r\n");
    CHECK(s.run("pttl n") == ":1234\r\n");
    CHECK(s.run("ttl n") == ":1\r\n");
    CHECK(s.run("persist n") == ":1\r\n");
    CHECK(s.run("persist n") == ":0\r\n");
    CHECK(s.run("ttl n") == ":-1\r\n");
    CHECK(s.run("ttl nokey") == ":-2\r\n");
    CHECK(s.run("pttl nokey") == ":-2\r\n");
    CHECK(s.run("expire n 0") == ":1\r\n");
    CHECK(s.run("exists n") == ":0\r\n");
    CHECK(s.run("set n 1") == "+OK\r\n");
    CHECK(s.run("expire n -5") == ":1\r\n");
    CHECK(s.run("get n") == "$-1\r\n");
}

TEST_CASE("connection commands", "[resp][commands]") {
    Server s(1);
    CHECK(s.run("ping") == "+PONG\r\n");
    CHECK(s.run("PING x") == "$1\r\nx\r\n");
    CHECK(s.run("echo \"\"") == "$0\r\n\r\n");
    CHECK(s.run("select 0") == "+OK\r\n");
    CHECK(s.run("select 1") == "-ERR DB index is out of range\r\n");
    CHECK(s.run("select x") == "-ERR value is not an integer or out of range\r\n");
    CHECK(s.run("quit") == "+OK\r\n");
    CHECK(s.run("hello 3") == "-NOPROTO unsupported protocol version\r\n");
    CHECK(s.run("hello x") == "-ERR Protocol version is not an integer or out of range\r\n");
    CHECK(s.run("hello 2 foo") == "-ERR Syntax error in HELLO option 'foo'\r\n");
    CHECK(s.run("hello 2 auth") == "-ERR Syntax error in HELLO option 'auth'\r\n");
    CHECK(s.run("hello 2 auth bob x") ==
          "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
    CHECK(s.run("hello 2 setname \"a b\"") ==
          "-ERR Client names cannot contain spaces, newlines or special characters.\r\n");
    CHECK(s.run("hello 2 setname x").rfind("*14\r\n$6\r\nserver\r\n$5\r\nredis\r\n", 0) == 0);
    CHECK(s.run("hello").find("$5\r\nproto\r\n:2\r\n$2\r\nid\r\n:7\r\n") != std::string::npos);
    CHECK(s.run("config get save") == "*2\r\n$4\r\nsave\r\n$0\r\n\r\n");
    CHECK(s.run("config get appendonly") == "*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n");
    CHECK(s.run("config get nosuch") == "*0\r\n");
    CHECK(s.run("config get maxmemory*") ==
          "*4\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n$16\r\nmaxmemory-policy\r\n$10\r\nnoeviction\r\n");
    CHECK(s.run("config get") == "-ERR wrong number of arguments for 'config|get' command\r\n");
    CHECK(s.run("config foo") == "-ERR unknown subcommand 'foo'. Try CONFIG HELP.\r\n");
    CHECK(s.run("command count") == ":30\r\n");
    CHECK(s.run("command count x") == "-ERR wrong number of arguments for 'command|count' command\r\n");
    CHECK(s.run("command foo") == "-ERR unknown subcommand 'foo'. Try COMMAND HELP.\r\n");
    CHECK(s.run("command docs") == "*0\r\n");
    CHECK(s.run("command info get nosuch") == "*2\r\n*10\r\n$3\r\nget\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n"
                                              ":1\r\n:1\r\n:1\r\n*3\r\n+@read\r\n+@string\r\n+@fast\r\n"
                                              "*0\r\n*0\r\n*0\r\n$-1\r\n");
    CHECK(s.run("command").rfind("*30\r\n*10\r\n$4\r\nping\r\n", 0) == 0);
}

TEST_CASE("INFO reports the keyspace summed over shards", "[resp][commands]") {
    Server s(3);
    CHECK(s.run("info keyspace") == "$12\r\n# Keyspace\r\n\r\n");
    CHECK(s.run("mset a 1 b 2 c 3") == "+OK\r\n");
    CHECK(s.run("expire a 100") == ":1\r\n");
    CHECK(s.run("info keyspace") == "$44\r\n# Keyspace\r\ndb0:keys=3,expires=1,avg_ttl=0\r\n\r\n");
    CHECK(s.run("info nosuch") == "$0\r\n\r\n");
    std::string all = s.run("info");
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
        reply = s.run("set key" + std::to_string(stored) + " " + std::string(100, 'x'));
        if (reply != "+OK\r\n") {
            break;
        }
    }
    CHECK(reply == "-OOM command not allowed when used memory > 'maxmemory'.\r\n");
    CHECK(stored > 5);
    CHECK(stored < 1000);
    // Reads and deletes still work, and free room again.
    CHECK(s.run("get key0") == "$100\r\n" + std::string(100, 'x') + "\r\n");
    CHECK(s.run("mset a 1") == "-OOM command not allowed when used memory > 'maxmemory'.\r\n");
    CHECK(s.run("del key0 key1 key2") == ":3\r\n");
    CHECK(s.run("set a 1") == "+OK\r\n");
}
