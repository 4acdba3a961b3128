#include "commands.hpp"

#include <algorithm>
#include <array>
#include <cassert>
#include <cstdio>
#include <ctime>
#include <optional>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "parser.hpp"
#include "reply.hpp"
#include "text.hpp"

namespace gatio::resp {

namespace {

// The version of redis-server whose replies this plugin reproduces; HELLO and INFO report it
// so that clients enable what that version offers.
constexpr std::string_view compatible_version = "7.0.0";

using enum Cmd;
using enum Route;

// clang-format off
constexpr std::array table{
    CommandSpec{"ping", ping, -1, connection, 0, 0, 0, false, "fast", "@fast @connection"},
    CommandSpec{"echo", echo, 2, connection, 0, 0, 0, false, "loading stale fast", "@fast @connection"},
    CommandSpec{"set", set, -3, one_key, 1, 1, 1, true, "write denyoom", "@write @string @slow"},
    CommandSpec{"get", get, 2, one_key, 1, 1, 1, false, "readonly fast", "@read @string @fast"},
    CommandSpec{"getset", getset, 3, one_key, 1, 1, 1, true, "write denyoom fast", "@write @string @fast"},
    CommandSpec{"del", del, -2, keys, 1, -1, 1, false, "write", "@keyspace @write @slow"},
    CommandSpec{"exists", exists, -2, keys, 1, -1, 1, false, "readonly fast", "@keyspace @read @fast"},
    CommandSpec{"incr", incr, 2, one_key, 1, 1, 1, true, "write denyoom fast", "@write @string @fast"},
    CommandSpec{"decr", decr, 2, one_key, 1, 1, 1, true, "write denyoom fast", "@write @string @fast"},
    CommandSpec{"incrby", incrby, 3, one_key, 1, 1, 1, true, "write denyoom fast", "@write @string @fast"},
    CommandSpec{"decrby", decrby, 3, one_key, 1, 1, 1, true, "write denyoom fast", "@write @string @fast"},
    CommandSpec{"append", append, 3, one_key, 1, 1, 1, true, "write denyoom fast", "@write @string @fast"},
    CommandSpec{"strlen", strlen, 2, one_key, 1, 1, 1, false, "readonly fast", "@read @string @fast"},
    CommandSpec{"mget", mget, -2, keys, 1, -1, 1, false, "readonly fast", "@read @string @fast"},
    CommandSpec{"mset", mset, -3, keys, 1, -1, 2, true, "write denyoom", "@write @string @slow"},
    CommandSpec{"expire", expire, -3, one_key, 1, 1, 1, false, "write fast", "@keyspace @write @fast"},
    CommandSpec{"pexpire", pexpire, -3, one_key, 1, 1, 1, false, "write fast", "@keyspace @write @fast"},
    CommandSpec{"ttl", ttl, 2, one_key, 1, 1, 1, false, "readonly fast", "@keyspace @read @fast"},
    CommandSpec{"pttl", pttl, 2, one_key, 1, 1, 1, false, "readonly fast", "@keyspace @read @fast"},
    CommandSpec{"persist", persist, 2, one_key, 1, 1, 1, false, "write fast", "@keyspace @write @fast"},
    CommandSpec{"type", type, 2, one_key, 1, 1, 1, false, "readonly fast", "@keyspace @read @fast"},
    CommandSpec{"dbsize", dbsize, 1, all_shards, 0, 0, 0, false, "readonly fast", "@keyspace @read @fast"},
    CommandSpec{"flushall", flushall, -1, all_shards, 0, 0, 0, false, "write", "@keyspace @write @slow @dangerous"},
    CommandSpec{"flushdb", flushdb, -1, all_shards, 0, 0, 0, false, "write", "@keyspace @write @slow @dangerous"},
    CommandSpec{"select", select, 2, connection, 0, 0, 0, false, "loading stale fast", "@fast @connection"},
    CommandSpec{"info", info, -1, all_shards, 0, 0, 0, false, "loading stale", "@slow @dangerous"},
    CommandSpec{"command", command, -1, connection, 0, 0, 0, false, "loading stale", "@slow @connection"},
    CommandSpec{"config", config, -2, connection, 0, 0, 0, false, "", "@slow"},
    CommandSpec{"quit", quit, -1, connection, 0, 0, 0, false, "noscript loading stale fast no_auth allow_busy", "@fast @connection"},
    CommandSpec{"hello", hello, -1, connection, 0, 0, 0, false, "noscript loading stale fast no_auth allow_busy", "@fast @connection"},
    CommandSpec{"expireat", expireat, -3, one_key, 1, 1, 1, false, "write fast", "@keyspace @write @fast"},
    CommandSpec{"pexpireat", pexpireat, -3, one_key, 1, 1, 1, false, "write fast", "@keyspace @write @fast"},
    CommandSpec{"expiretime", expiretime, 2, one_key, 1, 1, 1, false, "readonly fast", "@keyspace @read @fast"},
    CommandSpec{"pexpiretime", pexpiretime, 2, one_key, 1, 1, 1, false, "readonly fast", "@keyspace @read @fast"},
    CommandSpec{"touch", touch, -2, keys, 1, -1, 1, false, "readonly fast", "@keyspace @read @fast"},
    CommandSpec{"unlink", unlink, -2, keys, 1, -1, 1, false, "write fast", "@keyspace @write @fast"},
    CommandSpec{"keys", keys_matching, 2, all_shards, 0, 0, 0, false, "readonly", "@keyspace @read @slow @dangerous"},
    CommandSpec{"rename", rename, 3, multi, 1, 2, 1, false, "write", "@keyspace @write @slow"},
    CommandSpec{"renamenx", renamenx, 3, multi, 1, 2, 1, false, "write fast", "@keyspace @write @fast"},
    CommandSpec{"copy", copy, -3, multi, 1, 2, 1, true, "write denyoom", "@keyspace @write @slow"},
    CommandSpec{"lcs", lcs, -3, multi, 1, 2, 1, false, "readonly", "@read @string @slow"},
    CommandSpec{"object", object, -2, multi, 0, 0, 0, false, "", "@slow"},
    CommandSpec{"setnx", setnx, 3, one_key, 1, 1, 1, true, "write denyoom fast", "@write @string @fast"},
    CommandSpec{"setex", setex, 4, one_key, 1, 1, 1, true, "write denyoom", "@write @string @slow"},
    CommandSpec{"psetex", psetex, 4, one_key, 1, 1, 1, true, "write denyoom", "@write @string @slow"},
    CommandSpec{"getdel", getdel, 2, one_key, 1, 1, 1, false, "write fast", "@write @string @fast"},
    CommandSpec{"getex", getex, -2, one_key, 1, 1, 1, false, "write fast", "@write @string @fast"},
    CommandSpec{"incrbyfloat", incrbyfloat, 3, one_key, 1, 1, 1, true, "write denyoom fast", "@write @string @fast"},
    CommandSpec{"getrange", getrange, 4, one_key, 1, 1, 1, false, "readonly", "@read @string @slow"},
    CommandSpec{"substr", substr, 4, one_key, 1, 1, 1, false, "readonly", "@read @string @slow"},
    CommandSpec{"setrange", setrange, 4, one_key, 1, 1, 1, true, "write denyoom", "@write @string @slow"},
    CommandSpec{"setbit", setbit, 4, one_key, 1, 1, 1, true, "write denyoom", "@write @bitmap @slow"},
    CommandSpec{"getbit", getbit, 3, one_key, 1, 1, 1, false, "readonly fast", "@read @bitmap @fast"},
    CommandSpec{"bitcount", bitcount, -2, one_key, 1, 1, 1, false, "readonly", "@read @bitmap @slow"},
    CommandSpec{"bitpos", bitpos, -3, one_key, 1, 1, 1, false, "readonly", "@read @bitmap @slow"},
    CommandSpec{"time", time_of_day, 1, connection, 0, 0, 0, false, "loading stale fast", "@fast"},
    CommandSpec{"hset", hset, -4, one_key, 1, 1, 1, true, "write denyoom fast", "@write @hash @fast"},
    CommandSpec{"hsetnx", hsetnx, 4, one_key, 1, 1, 1, true, "write denyoom fast", "@write @hash @fast"},
    CommandSpec{"hget", hget, 3, one_key, 1, 1, 1, false, "readonly fast", "@read @hash @fast"},
    CommandSpec{"hmget", hmget, -3, one_key, 1, 1, 1, false, "readonly fast", "@read @hash @fast"},
    CommandSpec{"hmset", hmset, -4, one_key, 1, 1, 1, true, "write denyoom fast", "@write @hash @fast"},
    CommandSpec{"hdel", hdel, -3, one_key, 1, 1, 1, false, "write fast", "@write @hash @fast"},
    CommandSpec{"hexists", hexists, 3, one_key, 1, 1, 1, false, "readonly fast", "@read @hash @fast"},
    CommandSpec{"hlen", hlen, 2, one_key, 1, 1, 1, false, "readonly fast", "@read @hash @fast"},
    CommandSpec{"hstrlen", hstrlen, 3, one_key, 1, 1, 1, false, "readonly fast", "@read @hash @fast"},
    CommandSpec{"hkeys", hkeys, 2, one_key, 1, 1, 1, false, "readonly", "@read @hash @slow"},
    CommandSpec{"hvals", hvals, 2, one_key, 1, 1, 1, false, "readonly", "@read @hash @slow"},
    CommandSpec{"hgetall", hgetall, 2, one_key, 1, 1, 1, false, "readonly", "@read @hash @slow"},
    CommandSpec{"hincrby", hincrby, 4, one_key, 1, 1, 1, true, "write denyoom fast", "@write @hash @fast"},
    CommandSpec{"hincrbyfloat", hincrbyfloat, 4, one_key, 1, 1, 1, true, "write denyoom fast", "@write @hash @fast"},
    CommandSpec{"hrandfield", hrandfield, -2, one_key, 1, 1, 1, false, "readonly", "@read @hash @slow"},
    CommandSpec{"hscan", hscan, -3, one_key, 1, 1, 1, false, "readonly", "@read @hash @slow"},
    CommandSpec{"lpush", lpush, -3, one_key, 1, 1, 1, true, "write denyoom fast", "@write @list @fast"},
    CommandSpec{"rpush", rpush, -3, one_key, 1, 1, 1, true, "write denyoom fast", "@write @list @fast"},
    CommandSpec{"lpushx", lpushx, -3, one_key, 1, 1, 1, true, "write denyoom fast", "@write @list @fast"},
    CommandSpec{"rpushx", rpushx, -3, one_key, 1, 1, 1, true, "write denyoom fast", "@write @list @fast"},
    CommandSpec{"lpop", lpop, -2, one_key, 1, 1, 1, false, "write fast", "@write @list @fast"},
    CommandSpec{"rpop", rpop, -2, one_key, 1, 1, 1, false, "write fast", "@write @list @fast"},
    CommandSpec{"llen", llen, 2, one_key, 1, 1, 1, false, "readonly fast", "@read @list @fast"},
    CommandSpec{"lindex", lindex, 3, one_key, 1, 1, 1, false, "readonly", "@read @list @slow"},
    CommandSpec{"lset", lset, 4, one_key, 1, 1, 1, true, "write denyoom", "@write @list @slow"},
    CommandSpec{"lrange", lrange, 4, one_key, 1, 1, 1, false, "readonly", "@read @list @slow"},
    CommandSpec{"ltrim", ltrim, 4, one_key, 1, 1, 1, false, "write", "@write @list @slow"},
    CommandSpec{"lrem", lrem, 4, one_key, 1, 1, 1, false, "write", "@write @list @slow"},
    CommandSpec{"linsert", linsert, 5, one_key, 1, 1, 1, true, "write denyoom", "@write @list @slow"},
    CommandSpec{"lpos", lpos, -3, one_key, 1, 1, 1, false, "readonly", "@read @list @slow"},
    CommandSpec{"sadd", sadd, -3, one_key, 1, 1, 1, true, "write denyoom fast", "@write @set @fast"},
    CommandSpec{"srem", srem, -3, one_key, 1, 1, 1, false, "write fast", "@write @set @fast"},
    CommandSpec{"scard", scard, 2, one_key, 1, 1, 1, false, "readonly fast", "@read @set @fast"},
    CommandSpec{"sismember", sismember, 3, one_key, 1, 1, 1, false, "readonly fast", "@read @set @fast"},
    CommandSpec{"smismember", smismember, -3, one_key, 1, 1, 1, false, "readonly fast", "@read @set @fast"},
    CommandSpec{"smembers", smembers, 2, one_key, 1, 1, 1, false, "readonly", "@read @set @slow"},
    CommandSpec{"spop", spop, -2, one_key, 1, 1, 1, false, "write fast", "@write @set @fast"},
    CommandSpec{"srandmember", srandmember, -2, one_key, 1, 1, 1, false, "readonly", "@read @set @slow"},
    CommandSpec{"sscan", sscan, -3, one_key, 1, 1, 1, false, "readonly", "@read @set @slow"},
    CommandSpec{"lmove", lmove, 5, multi, 1, 2, 1, true, "write denyoom", "@write @list @slow"},
    CommandSpec{"rpoplpush", rpoplpush, 3, multi, 1, 2, 1, true, "write denyoom", "@write @list @slow"},
    CommandSpec{"lmpop", lmpop, -4, multi, 0, 0, 0, false, "write movablekeys", "@write @list @slow"},
    CommandSpec{"smove", smove, 4, multi, 1, 2, 1, false, "write fast", "@write @set @fast"},
    CommandSpec{"sinter", sinter, -2, multi, 1, -1, 1, false, "readonly", "@read @set @slow"},
    CommandSpec{"sintercard", sintercard, -3, multi, 0, 0, 0, false, "readonly movablekeys", "@read @set @slow"},
    CommandSpec{"sinterstore", sinterstore, -3, multi, 1, -1, 1, true, "write denyoom", "@write @set @slow"},
    CommandSpec{"sunion", sunion, -2, multi, 1, -1, 1, false, "readonly", "@read @set @slow"},
    CommandSpec{"sunionstore", sunionstore, -3, multi, 1, -1, 1, true, "write denyoom", "@write @set @slow"},
    CommandSpec{"sdiff", sdiff, -2, multi, 1, -1, 1, false, "readonly", "@read @set @slow"},
    CommandSpec{"sdiffstore", sdiffstore, -3, multi, 1, -1, 1, true, "write denyoom", "@write @set @slow"},
    CommandSpec{"msetnx", msetnx, -3, multi, 1, -1, 2, true, "write denyoom", "@write @string @slow"},
    CommandSpec{"zadd", zadd, -4, one_key, 1, 1, 1, true, "write denyoom fast", "@write @sortedset @fast"},
    CommandSpec{"zincrby", zincrby, 4, one_key, 1, 1, 1, true, "write denyoom fast", "@write @sortedset @fast"},
    CommandSpec{"zrem", zrem, -3, one_key, 1, 1, 1, false, "write fast", "@write @sortedset @fast"},
    CommandSpec{"zcard", zcard, 2, one_key, 1, 1, 1, false, "readonly fast", "@read @sortedset @fast"},
    CommandSpec{"zscore", zscore, 3, one_key, 1, 1, 1, false, "readonly fast", "@read @sortedset @fast"},
    CommandSpec{"zmscore", zmscore, -3, one_key, 1, 1, 1, false, "readonly fast", "@read @sortedset @fast"},
    CommandSpec{"zcount", zcount, 4, one_key, 1, 1, 1, false, "readonly fast", "@read @sortedset @fast"},
    CommandSpec{"zlexcount", zlexcount, 4, one_key, 1, 1, 1, false, "readonly fast", "@read @sortedset @fast"},
    CommandSpec{"zrange", zrange, -4, one_key, 1, 1, 1, false, "readonly", "@read @sortedset @slow"},
    CommandSpec{"zrevrange", zrevrange, -4, one_key, 1, 1, 1, false, "readonly", "@read @sortedset @slow"},
    CommandSpec{"zrangebyscore", zrangebyscore, -4, one_key, 1, 1, 1, false, "readonly", "@read @sortedset @slow"},
    CommandSpec{"zrevrangebyscore", zrevrangebyscore, -4, one_key, 1, 1, 1, false, "readonly", "@read @sortedset @slow"},
    CommandSpec{"zrangebylex", zrangebylex, -4, one_key, 1, 1, 1, false, "readonly", "@read @sortedset @slow"},
    CommandSpec{"zrevrangebylex", zrevrangebylex, -4, one_key, 1, 1, 1, false, "readonly", "@read @sortedset @slow"},
    CommandSpec{"zrank", zrank, 3, one_key, 1, 1, 1, false, "readonly fast", "@read @sortedset @fast"},
    CommandSpec{"zrevrank", zrevrank, 3, one_key, 1, 1, 1, false, "readonly fast", "@read @sortedset @fast"},
    CommandSpec{"zpopmin", zpopmin, -2, one_key, 1, 1, 1, false, "write fast", "@write @sortedset @fast"},
    CommandSpec{"zpopmax", zpopmax, -2, one_key, 1, 1, 1, false, "write fast", "@write @sortedset @fast"},
    CommandSpec{"zrandmember", zrandmember, -2, one_key, 1, 1, 1, false, "readonly", "@read @sortedset @slow"},
    CommandSpec{"zremrangebyrank", zremrangebyrank, 4, one_key, 1, 1, 1, false, "write", "@write @sortedset @slow"},
    CommandSpec{"zremrangebyscore", zremrangebyscore, 4, one_key, 1, 1, 1, false, "write", "@write @sortedset @slow"},
    CommandSpec{"zremrangebylex", zremrangebylex, 4, one_key, 1, 1, 1, false, "write", "@write @sortedset @slow"},
    CommandSpec{"zscan", zscan, -3, one_key, 1, 1, 1, false, "readonly", "@read @sortedset @slow"},
    CommandSpec{"zrangestore", zrangestore, -5, multi, 1, 2, 1, true, "write denyoom", "@write @sortedset @slow"},
    CommandSpec{"zunion", zunion, -3, multi, 0, 0, 0, false, "readonly movablekeys", "@read @sortedset @slow"},
    CommandSpec{"zunionstore", zunionstore, -4, multi, 1, 1, 1, true, "write denyoom movablekeys", "@write @sortedset @slow"},
    CommandSpec{"zinter", zinter, -3, multi, 0, 0, 0, false, "readonly movablekeys", "@read @sortedset @slow"},
    CommandSpec{"zinterstore", zinterstore, -4, multi, 1, 1, 1, true, "write denyoom movablekeys", "@write @sortedset @slow"},
    CommandSpec{"zdiff", zdiff, -3, multi, 0, 0, 0, false, "readonly movablekeys", "@read @sortedset @slow"},
    CommandSpec{"zdiffstore", zdiffstore, -4, multi, 1, 1, 1, true, "write denyoom movablekeys", "@write @sortedset @slow"},
    CommandSpec{"move", move, 3, one_key, 1, 1, 1, false, "write fast", "@keyspace @write @fast"},
    CommandSpec{"swapdb", swapdb, 3, multi, 0, 0, 0, false, "write fast", "@keyspace @write @fast @dangerous"},
    CommandSpec{"zintercard", zintercard, -3, multi, 0, 0, 0, false, "readonly movablekeys", "@read @sortedset @slow"},
    // EXEC and WATCH are `multi`: like a multi-shard command, each waits for its connection's
    // commands in flight before it runs.
    CommandSpec{"multi", multi_start, 1, connection, 0, 0, 0, false, "noscript loading stale fast allow_busy", "@fast @transaction"},
    CommandSpec{"exec", exec, 1, multi, 0, 0, 0, false, "noscript loading stale skip_slowlog", "@slow @transaction"},
    CommandSpec{"discard", discard, 1, connection, 0, 0, 0, false, "noscript loading stale fast allow_busy", "@fast @transaction"},
    CommandSpec{"watch", watch, -2, multi, 1, -1, 1, false, "noscript loading stale fast allow_busy", "@fast @transaction"},
    CommandSpec{"unwatch", unwatch, 1, connection, 0, 0, 0, false, "noscript loading stale fast allow_busy", "@fast @transaction"},
    CommandSpec{"scan", scan, -2, all_shards, 0, 0, 0, false, "readonly", "@keyspace @read @slow"},
    CommandSpec{"randomkey", randomkey, 1, all_shards, 0, 0, 0, false, "readonly", "@keyspace @read @slow"},
    CommandSpec{"function", function, -2, connection, 0, 0, 0, false, "", "@slow"},
    CommandSpec{"script", script, -2, connection, 0, 0, 0, false, "", "@slow"},
    CommandSpec{"client", client, -2, connection, 0, 0, 0, false, "", "@slow"},
    CommandSpec{"subscribe", subscribe, -2, pubsub, 0, 0, 0, false, "pubsub noscript loading stale", "@pubsub @slow"},
    CommandSpec{"unsubscribe", unsubscribe, -1, pubsub, 0, 0, 0, false, "pubsub noscript loading stale", "@pubsub @slow"},
    CommandSpec{"psubscribe", psubscribe, -2, pubsub, 0, 0, 0, false, "pubsub noscript loading stale", "@pubsub @slow"},
    CommandSpec{"punsubscribe", punsubscribe, -1, pubsub, 0, 0, 0, false, "pubsub noscript loading stale", "@pubsub @slow"},
    CommandSpec{"publish", publish, 3, pubsub, 0, 0, 0, false, "pubsub loading stale fast", "@pubsub @fast"},
    CommandSpec{"pubsub", pubsub_query, -2, pubsub, 0, 0, 0, false, "", "@slow"},
    CommandSpec{"reset", reset, 1, pubsub, 0, 0, 0, false, "noscript loading stale fast no_auth allow_busy", "@fast @connection"},
    CommandSpec{"zmpop", zmpop, -4, multi, 0, 0, 0, false, "write movablekeys", "@write @sortedset @slow"},
    CommandSpec{"blpop", blpop, -3, multi, 1, -2, 1, false, "write noscript blocking", "@write @list @slow @blocking"},
    CommandSpec{"brpop", brpop, -3, multi, 1, -2, 1, false, "write noscript blocking", "@write @list @slow @blocking"},
    CommandSpec{"brpoplpush", brpoplpush, 4, multi, 1, 2, 1, true, "write denyoom noscript blocking", "@write @list @slow @blocking"},
    CommandSpec{"blmove", blmove, 6, multi, 1, 2, 1, true, "write denyoom noscript blocking", "@write @list @slow @blocking"},
    CommandSpec{"blmpop", blmpop, -5, multi, 0, 0, 0, false, "write blocking movablekeys", "@write @list @slow @blocking"},
    CommandSpec{"bzpopmin", bzpopmin, -3, multi, 1, -2, 1, false, "write noscript blocking fast", "@write @sortedset @fast @blocking"},
    CommandSpec{"bzpopmax", bzpopmax, -3, multi, 1, -2, 1, false, "write noscript blocking fast", "@write @sortedset @fast @blocking"},
    CommandSpec{"bzmpop", bzmpop, -5, multi, 0, 0, 0, false, "write blocking movablekeys", "@write @sortedset @slow @blocking"},
};
// clang-format on

// printf's %s stops at a NUL byte; the messages below are built the way redis-server builds
// them with printf, so they stop there too.
std::string_view c_string(std::string_view s) {
    return s.substr(0, s.find('\0'));
}

// Error lines may not contain CR or LF; redis-server turns them into spaces.
void error_line(std::string& out, std::size_t from) {
    for (std::size_t i = from; i < out.size(); ++i) {
        if (out[i] == '\r' || out[i] == '\n') {
            out[i] = ' ';
        }
    }
    reply::crlf(out);
}

void words_reply(std::string& out, std::string_view words) {
    std::size_t n = 0;
    for (std::size_t i = 0; i < words.size();) {
        auto end = words.find(' ', i);
        end = end == std::string_view::npos ? words.size() : end;
        ++n;
        i = end + 1;
    }
    reply::array(out, n);
    for (std::size_t i = 0; i < words.size();) {
        auto end = words.find(' ', i);
        end = end == std::string_view::npos ? words.size() : end;
        reply::simple(out, words.substr(i, end - i));
        i = end + 1;
    }
}

// COMMAND's description of one command (redis-server 7.0's ten fields; no key specs).
void command_info(const CommandSpec& c, std::string& out) {
    reply::array(out, 10);
    reply::bulk(out, c.name);
    reply::integer(out, c.arity);
    words_reply(out, c.flags);
    reply::integer(out, c.first_key);
    reply::integer(out, c.last_key);
    reply::integer(out, c.step);
    words_reply(out, c.acl);
    reply::array(out, 0); // tips
    reply::array(out, 0); // key specs
    reply::array(out, 0); // subcommands
}

// Whether COMMAND LIST FILTERBY's `filter` of kind `by` keeps command c. No modules exist, and
// an unknown ACL category keeps nothing, as in redis-server.
bool listed(const CommandSpec& c, std::string_view by, std::string_view filter) {
    if (equal_nocase(by, "pattern")) {
        return glob_match(filter, c.name, true);
    }
    if (equal_nocase(by, "aclcat")) {
        for (std::size_t i = 0; i < c.acl.size();) {
            auto end = c.acl.find(' ', i);
            end = end == std::string_view::npos ? c.acl.size() : end;
            // Each category is written with its '@'.
            if (equal_nocase(c.acl.substr(i + 1, end - i - 1), filter)) {
                return true;
            }
            i = end + 1;
        }
    }
    return false;
}

void command_list(std::span<const std::string_view> args, std::string& out) {
    std::string_view by;
    std::string_view filter;
    for (std::size_t i = 2; i < args.size(); i += 3) {
        if (!is(args[i], "filterby") || args.size() - 1 - i != 2 ||
            !(is(args[i + 1], "pattern") || is(args[i + 1], "aclcat") || is(args[i + 1], "module"))) {
            reply::error(out, reply::syntax_error);
            return;
        }
        by = args[i + 1];
        filter = args[i + 2];
    }
    std::size_t n = 0;
    for (const auto& c : table) {
        n += by.empty() || listed(c, by, filter) ? 1 : 0;
    }
    reply::array(out, n);
    for (const auto& c : table) {
        if (by.empty() || listed(c, by, filter)) {
            reply::bulk(out, c.name);
        }
    }
}

// COMMAND GETKEYS: the keys of the command in args[2..], from its table row (or, for a command
// whose keys move with its arguments, from the positions it locks), with redis-server's errors.
void command_getkeys(std::span<const std::string_view> args, std::string& out) {
    const CommandSpec* c = find_command(args[2]);
    if (c == nullptr) {
        reply::error(out, "ERR Invalid command specified");
        return;
    }
    const bool movable = c->flags.find("movablekeys") != std::string_view::npos;
    if (c->first_key == 0 && !movable) {
        reply::error(out, "ERR The command has no key arguments");
        return;
    }
    const auto cmd = args.subspan(2);
    const auto argc = static_cast<long>(cmd.size());
    if ((c->arity > 0 && c->arity != argc) || argc < -c->arity) {
        reply::error(out, "ERR Invalid number of arguments specified for command");
        return;
    }
    std::vector<std::uint32_t> keys;
    if (movable && c->route == Route::multi) {
        if (!multi_keys(*c, cmd, keys)) {
            reply::error(out, "ERR Invalid arguments specified for command");
            return;
        }
        std::sort(keys.begin(), keys.end());
    } else {
        const long last = c->last_key < 0 ? argc + c->last_key : c->last_key;
        for (long i = c->first_key; i <= last && i < argc; i += c->step) {
            keys.push_back(static_cast<std::uint32_t>(i));
        }
    }
    reply::array(out, keys.size());
    for (std::uint32_t k : keys) {
        reply::bulk(out, cmd[k]);
    }
}

void command_command(std::span<const std::string_view> args, std::string& out) {
    // COMMAND, and COMMAND INFO without names: every command of the table.
    if (args.size() == 1 || (args.size() == 2 && equal_nocase(args[1], "info"))) {
        reply::array(out, table.size());
        for (const auto& c : table) {
            command_info(c, out);
        }
        return;
    }
    std::string_view sub = args[1];
    if (equal_nocase(sub, "count")) {
        if (args.size() != 2) {
            arity_error("command|count", out);
            return;
        }
        reply::integer(out, static_cast<std::int64_t>(table.size()));
    } else if (equal_nocase(sub, "info")) {
        reply::array(out, args.size() - 2);
        for (std::size_t i = 2; i < args.size(); ++i) {
            if (const CommandSpec* c = find_command(args[i])) {
                command_info(*c, out);
            } else {
                reply::nil(out);
            }
        }
    } else if (equal_nocase(sub, "docs")) {
        // No documentation is kept; clients fall back to their own help.
        reply::array(out, 0);
    } else if (equal_nocase(sub, "list")) {
        command_list(args, out);
    } else if (equal_nocase(sub, "getkeys")) {
        if (args.size() < 4) {
            arity_error("command|getkeys", out);
            return;
        }
        command_getkeys(args, out);
    } else {
        unknown_subcommand(sub, "COMMAND", out);
    }
}

} // namespace

std::string_view policy_name(EvictionPolicy p) {
    return p == EvictionPolicy::allkeys_lru ? "allkeys-lru" : "noeviction";
}

namespace {

void hello_command(std::span<const std::string_view> args, const ConnectionFacts& facts, std::string& out) {
    std::optional<std::string_view> name; // SETNAME's, set once every option is accepted
    if (args.size() >= 2) {
        auto version = parse_int(args[1]);
        if (!version) {
            reply::error(out, "ERR Protocol version is not an integer or out of range");
            return;
        }
        // RESP3 is not spoken: only version 2 is accepted.
        if (*version != 2) {
            reply::error(out, "NOPROTO unsupported protocol version");
            return;
        }
        for (std::size_t j = 2; j < args.size(); ++j) {
            std::size_t more = args.size() - 1 - j;
            if (equal_nocase(args[j], "auth") && more >= 2) {
                // No users exist besides redis-server's passwordless "default".
                if (args[j + 1] != "default") {
                    reply::error(out, "WRONGPASS invalid username-password pair or user is disabled.");
                    return;
                }
                j += 2;
            } else if (equal_nocase(args[j], "setname") && more >= 1) {
                if (!client_name_ok(args[j + 1], out)) {
                    return;
                }
                name = args[j + 1];
                ++j;
            } else {
                std::size_t from = out.size();
                out.append("-ERR Syntax error in HELLO option '");
                out.append(c_string(args[j]));
                out.push_back('\'');
                error_line(out, from);
                return;
            }
        }
    }
    if (name && facts.name != nullptr) {
        facts.name->assign(*name);
    }
    reply::array(out, 14);
    reply::bulk(out, "server");
    reply::bulk(out, "redis");
    reply::bulk(out, "version");
    reply::bulk(out, compatible_version);
    reply::bulk(out, "proto");
    reply::integer(out, 2);
    reply::bulk(out, "id");
    reply::integer(out, static_cast<std::int64_t>(facts.client_id));
    reply::bulk(out, "mode");
    reply::bulk(out, "standalone");
    reply::bulk(out, "role");
    reply::bulk(out, "master");
    reply::bulk(out, "modules");
    reply::array(out, 0);
}

void field(std::string& out, std::string_view name, std::string_view value) {
    out.append(name);
    out.push_back(':');
    out.append(value);
    reply::crlf(out);
}

void field(std::string& out, std::string_view name, std::int64_t value) {
    out.append(name);
    out.push_back(':');
    reply::number(out, value);
    reply::crlf(out);
}

// redis-server's human-readable size (bytesToHuman): bytes, then K, M, G, T with 2 decimals.
std::string human(std::uint64_t n) {
    if (n < 1024) {
        return std::to_string(n) + "B";
    }
    constexpr std::array<char, 5> units{'K', 'M', 'G', 'T', 'P'};
    auto d = static_cast<double>(n) / 1024;
    std::size_t u = 0;
    while (d >= 1024 && u + 1 < units.size()) {
        d /= 1024;
        ++u;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f%c", d, units[u]);
    return buf;
}

// The process's resident memory, from /proc/self/statm (0 when it cannot be read).
std::uint64_t resident_bytes() {
    std::FILE* f = std::fopen("/proc/self/statm", "r");
    if (f == nullptr) {
        return 0;
    }
    unsigned long long size = 0;
    unsigned long long resident = 0;
    const int got = std::fscanf(f, "%llu %llu", &size, &resident);
    std::fclose(f);
    return got == 2 ? resident * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE)) : 0;
}

// Every command called, failed or refused since the last CONFIG RESETSTAT, in name order.
void commandstats_lines(const ServerCounters& counters, std::string& text) {
    std::vector<std::size_t> order(stat_count());
    for (std::size_t i = 0; i < order.size(); ++i) {
        order[i] = i;
    }
    std::sort(order.begin(), order.end(), [](auto x, auto y) { return stat_name(x) < stat_name(y); });
    for (std::size_t i : order) {
        const CommandTotals t = counters.totals(i);
        if (t.calls == 0 && t.rejected == 0 && t.failed == 0) {
            continue;
        }
        char per_call[32];
        std::snprintf(per_call, sizeof per_call, "%.2f",
                      t.calls == 0 ? 0.0 : static_cast<double>(t.usec) / static_cast<double>(t.calls));
        text.append("cmdstat_");
        text.append(stat_name(i));
        text.append(":calls=");
        reply::number(text, static_cast<std::int64_t>(t.calls));
        text.append(",usec=");
        reply::number(text, static_cast<std::int64_t>(t.usec));
        text.append(",usec_per_call=");
        text.append(per_call);
        text.append(",rejected_calls=");
        reply::number(text, static_cast<std::int64_t>(t.rejected));
        text.append(",failed_calls=");
        reply::number(text, static_cast<std::int64_t>(t.failed));
        reply::crlf(text);
    }
}

std::string seconds(const timeval& tv) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%ld.%06ld", static_cast<long>(tv.tv_sec), static_cast<long>(tv.tv_usec));
    return buf;
}

void info_reply(std::span<const std::string_view> args, std::span<ShardShare* const> shares,
                const ConnectionFacts& facts, std::string& out) {
    bool server = false;
    bool clients = false;
    bool memory = false;
    bool stats = false;
    bool cpu = false;
    bool keyspace = false;
    bool per_shard = false; // not redis-server's: only when asked by name
    bool commandstats = false;
    if (args.size() == 1) {
        server = clients = memory = stats = cpu = keyspace = true;
    }
    for (std::size_t i = 1; i < args.size(); ++i) {
        std::string_view s = args[i];
        if (equal_nocase(s, "default")) {
            server = clients = memory = stats = cpu = keyspace = true;
        } else if (equal_nocase(s, "all") || equal_nocase(s, "everything")) {
            server = clients = memory = stats = cpu = keyspace = commandstats = true;
        } else if (equal_nocase(s, "commandstats")) {
            commandstats = true;
        } else if (equal_nocase(s, "server")) {
            server = true;
        } else if (equal_nocase(s, "clients")) {
            clients = true;
        } else if (equal_nocase(s, "memory")) {
            memory = true;
        } else if (equal_nocase(s, "stats")) {
            stats = true;
        } else if (equal_nocase(s, "cpu")) {
            cpu = true;
        } else if (equal_nocase(s, "keyspace")) {
            keyspace = true;
        } else if (equal_nocase(s, "shards")) {
            per_shard = true;
        }
    }
    ShardShare total;
    total.db_keys.assign(facts.settings->databases, 0);
    total.db_expires.assign(facts.settings->databases, 0);
    for (const ShardShare* s : shares) {
        if (s != nullptr) {
            for (std::size_t d = 0; d < s->db_keys.size() && d < total.db_keys.size(); ++d) {
                total.db_keys[d] += s->db_keys[d];
                total.db_expires[d] += s->db_expires[d];
            }
            total.count += s->count;
            total.expires += s->expires;
            total.memory += s->memory;
            total.evicted += s->evicted;
            total.expired += s->expired;
        }
    }
    std::string text;
    int sections = 0;
    auto section = [&](std::string_view title) {
        if (sections++ > 0) {
            reply::crlf(text);
        }
        text.append("# ");
        text.append(title);
        reply::crlf(text);
    };
    if (server) {
        section("Server");
        field(text, "redis_version", compatible_version);
        field(text, "gatio_resp_version", facts.settings->version);
        field(text, "redis_mode", "standalone");
        utsname u{};
        if (::uname(&u) == 0) {
            field(text, "os", std::string(u.sysname) + " " + u.release + " " + u.machine);
        }
        field(text, "arch_bits", static_cast<std::int64_t>(sizeof(void*) * 8));
        field(text, "multiplexing_api", "io_uring");
        field(text, "process_id", static_cast<std::int64_t>(::getpid()));
        field(text, "tcp_port", facts.port);
        field(text, "uptime_in_seconds", facts.uptime_s);
        field(text, "uptime_in_days", facts.uptime_s / 86400);
    }
    if (clients) {
        section("Clients");
        field(text, "connected_clients", facts.counters != nullptr ? facts.counters->connected() : 0);
        field(text, "blocked_clients", static_cast<std::int64_t>(facts.blocked_clients));
    }
    if (memory) {
        section("Memory");
        const std::uint64_t rss = resident_bytes();
        field(text, "used_memory", static_cast<std::int64_t>(total.memory));
        field(text, "used_memory_human", human(total.memory));
        field(text, "used_memory_rss", static_cast<std::int64_t>(rss));
        field(text, "used_memory_rss_human", human(rss));
        field(text, "maxmemory", static_cast<std::int64_t>(facts.settings->max_memory));
        field(text, "maxmemory_human", human(facts.settings->max_memory));
        field(text, "maxmemory_policy", policy_name(facts.settings->policy));
        field(text, "mem_allocator", "libc");
    }
    if (stats) {
        section("Stats");
        const ServerCounters* c = facts.counters;
        field(text, "total_connections_received",
              static_cast<std::int64_t>(c != nullptr ? c->connections() : 0));
        field(text, "total_commands_processed", static_cast<std::int64_t>(c != nullptr ? c->commands() : 0));
        field(text, "expired_keys", static_cast<std::int64_t>(total.expired));
        field(text, "evicted_keys", static_cast<std::int64_t>(total.evicted));
    }
    if (cpu) {
        // The whole process's, as gatiod's drivers serve every listener.
        section("CPU");
        rusage self{};
        rusage children{};
        ::getrusage(RUSAGE_SELF, &self);
        ::getrusage(RUSAGE_CHILDREN, &children);
        field(text, "used_cpu_sys", seconds(self.ru_stime));
        field(text, "used_cpu_user", seconds(self.ru_utime));
        field(text, "used_cpu_sys_children", seconds(children.ru_stime));
        field(text, "used_cpu_user_children", seconds(children.ru_utime));
    }
    if (commandstats) {
        section("Commandstats");
        if (facts.counters != nullptr) {
            commandstats_lines(*facts.counters, text);
        }
    }
    if (keyspace) {
        section("Keyspace");
        for (std::size_t d = 0; d < total.db_keys.size(); ++d) {
            if (total.db_keys[d] > 0) {
                text.append("db");
                reply::number(text, static_cast<std::int64_t>(d));
                text.append(":keys=");
                reply::number(text, total.db_keys[d]);
                text.append(",expires=");
                reply::number(text, total.db_expires[d]);
                text.append(",avg_ttl=0\r\n");
            }
        }
    }
    if (per_shard) {
        section("Shards");
        for (std::size_t i = 0; i < shares.size(); ++i) {
            text.append("shard");
            reply::number(text, static_cast<std::int64_t>(i));
            text.append(":keys=");
            reply::number(text, shares[i]->count);
            text.append(",expires=");
            reply::number(text, shares[i]->expires);
            text.append(",used_memory=");
            reply::number(text, static_cast<std::int64_t>(shares[i]->memory));
            reply::crlf(text);
        }
    }
    reply::bulk(out, text);
}

} // namespace

std::span<const CommandSpec> command_table() {
    return table;
}

namespace {

// The subcommands INFO commandstats counts on their own, as redis-server 7.0 names them.
struct Subcommand {
    Cmd container;
    std::string_view name; // "container|sub"
};
constexpr std::array subcommands{
    Subcommand{client, "client|id"},
    Subcommand{client, "client|setname"},
    Subcommand{client, "client|getname"},
    Subcommand{client, "client|list"},
    Subcommand{client, "client|info"},
    Subcommand{client, "client|kill"},
    Subcommand{config, "config|get"},
    Subcommand{config, "config|set"},
    Subcommand{config, "config|resetstat"},
    Subcommand{command, "command|count"},
    Subcommand{command, "command|info"},
    Subcommand{command, "command|docs"},
    Subcommand{command, "command|list"},
    Subcommand{command, "command|getkeys"},
    Subcommand{pubsub_query, "pubsub|channels"},
    Subcommand{pubsub_query, "pubsub|numsub"},
    Subcommand{pubsub_query, "pubsub|numpat"},
    Subcommand{function, "function|flush"},
    Subcommand{script, "script|flush"},
    Subcommand{script, "script|exists"},
};

// Whether a command counts its subcommands apart in INFO commandstats, by command id.
constexpr std::size_t cmd_ids = 256; // Cmd's underlying type
constexpr std::array<bool, cmd_ids> containers = [] {
    std::array<bool, cmd_ids> c{};
    for (const Subcommand& s : subcommands) {
        c[static_cast<std::size_t>(s.container)] = true;
    }
    return c;
}();

} // namespace

std::size_t stat_count() {
    return table.size() + subcommands.size();
}

std::size_t stat_of(const CommandSpec& spec, std::span<const std::string_view> args) {
    const auto base = static_cast<std::size_t>(&spec - table.data());
    if (args.size() < 2 || !containers[static_cast<std::size_t>(spec.id)]) {
        return base;
    }
    for (std::size_t i = 0; i < subcommands.size(); ++i) {
        const Subcommand& sc = subcommands[i];
        if (sc.container == spec.id && equal_nocase(sc.name.substr(sc.name.find('|') + 1), args[1])) {
            return table.size() + i;
        }
    }
    return no_stat;
}

std::string_view stat_name(std::size_t stat) {
    return stat < table.size() ? table[stat].name : subcommands[stat - table.size()].name;
}

namespace {

// find_command runs once per request: the name is folded and hashed in one pass and looked up
// in an open-addressing table built at compile time, so that a hit costs one comparison.
constexpr std::size_t name_slots = 1024; // a power of two, over 4 x the commands
static_assert(table.size() < 255 && table.size() * 4 < name_slots);
constexpr std::uint8_t no_entry = 0xFF;

constexpr std::uint32_t name_step(std::uint32_t h, char folded) {
    return h * 31 + static_cast<unsigned char>(folded);
}

constexpr std::size_t name_slot(std::uint32_t h) {
    return static_cast<std::size_t>((h * 0x9E3779B1u) >> 22) & (name_slots - 1);
}

constexpr std::array<std::uint8_t, name_slots> by_hash = [] {
    std::array<std::uint8_t, name_slots> slots{};
    for (auto& e : slots) {
        e = no_entry;
    }
    for (std::size_t i = 0; i < table.size(); ++i) {
        std::uint32_t h = 0;
        for (char c : table[i].name) {
            h = name_step(h, c);
        }
        std::size_t at = name_slot(h);
        while (slots[at] != no_entry) {
            at = (at + 1) & (name_slots - 1);
        }
        slots[at] = static_cast<std::uint8_t>(i);
    }
    return slots;
}();

} // namespace

const CommandSpec* find_command(std::string_view name) {
    constexpr std::size_t longest = 32; // longer than any command's name
    if (name.size() > longest) {
        return nullptr;
    }
    char buf[longest];
    std::uint32_t h = 0;
    for (std::size_t i = 0; i < name.size(); ++i) {
        buf[i] = lower(name[i]);
        h = name_step(h, buf[i]);
    }
    const std::string_view folded(buf, name.size());
    for (std::size_t at = name_slot(h); by_hash[at] != no_entry; at = (at + 1) & (name_slots - 1)) {
        if (table[by_hash[at]].name == folded) {
            return &table[by_hash[at]];
        }
    }
    return nullptr;
}

bool arity_ok(const CommandSpec& spec, std::size_t argc) {
    auto n = static_cast<long>(argc);
    bool ok = spec.arity > 0 ? n == spec.arity : n >= -spec.arity;
    // Some commands check more than their declared arity, with the same message.
    if (spec.id == Cmd::mset || spec.id == Cmd::msetnx) {
        ok = ok && argc % 2 == 1;
    } else if (spec.id == Cmd::hset || spec.id == Cmd::hmset) {
        ok = ok && argc % 2 == 0;
    } else if (spec.id == Cmd::ping) {
        ok = ok && argc <= 2;
    } else if (spec.id == Cmd::lpop || spec.id == Cmd::rpop) {
        ok = ok && argc <= 3;
    }
    return ok;
}

void unknown_command_error(std::span<const std::string_view> args, std::string& out) {
    std::size_t from = out.size();
    out.append("-ERR unknown command '");
    out.append(c_string(args[0]).substr(0, 128));
    out.append("', with args beginning with: ");
    std::size_t listed = 0; // length of the argument list so far, capped at 128 like redis-server
    for (std::size_t i = 1; i < args.size() && listed < 128; ++i) {
        std::string_view a = c_string(args[i]).substr(0, 128 - listed);
        out.push_back('\'');
        out.append(a);
        out.append("' ");
        listed += a.size() + 3;
    }
    error_line(out, from);
}

void error_naming(std::string& out, std::string_view before, std::string_view arg, std::string_view after) {
    const std::size_t from = out.size();
    out.push_back('-');
    out.append(before);
    out.append(c_string(arg).substr(0, 128));
    out.append(after);
    error_line(out, from);
}

void unknown_subcommand(std::string_view sub, std::string_view container, std::string& out) {
    error_naming(out, "ERR unknown subcommand '", sub,
                 std::string("'. Try ").append(container).append(" HELP."));
}

void subcommand_syntax_error(std::string_view sub, std::string_view container, std::string& out) {
    error_naming(out, "ERR unknown subcommand or wrong number of arguments for '", sub,
                 std::string("'. Try ").append(container).append(" HELP."));
}

bool pubsub_subcommand_ok(std::span<const std::string_view> args, std::string& out) {
    const std::string_view sub = args[1];
    if (equal_nocase(sub, "numpat") && args.size() != 2) {
        arity_error("pubsub|numpat", out);
        return false;
    }
    if (!equal_nocase(sub, "channels") && !equal_nocase(sub, "numsub") && !equal_nocase(sub, "numpat")) {
        unknown_subcommand(sub, "PUBSUB", out);
        return false;
    }
    return true;
}

void arity_error(std::string_view name, std::string& out) {
    out.append("-ERR wrong number of arguments for '");
    out.append(name);
    out.append("' command\r\n");
}

void ShardShare::clear() {
    out.clear();
    count = 0;
    expires = 0;
    memory = 0;
    evicted = 0;
    expired = 0;
    oom = false;
    cursor = 0;
    left = 0;
    random = 0;
    db_keys.clear();
    db_expires.clear();
}

LocalOutcome run_local(const CommandSpec& spec, std::span<const std::string_view> args,
                       const ConnectionFacts& facts, std::string& out) {
    switch (spec.id) {
    case Cmd::ping:
        if (args.size() == 1) {
            reply::simple(out, "PONG");
        } else {
            reply::bulk(out, args[1]);
        }
        break;
    case Cmd::echo:
        reply::bulk(out, args[1]);
        break;
    case Cmd::select: {
        auto db = parse_int(args[1]);
        if (!db) {
            reply::error(out, reply::not_integer);
        } else if (*db < INT32_MIN || *db > INT32_MAX) {
            reply::error(out, reply::int_range);
        } else if (*db < 0 || *db >= static_cast<std::int64_t>(facts.settings->databases)) {
            reply::error(out, "ERR DB index is out of range");
        } else {
            *facts.db = static_cast<std::uint32_t>(*db);
            reply::ok(out);
        }
        break;
    }
    case Cmd::time_of_day: {
        timespec now{};
        ::clock_gettime(CLOCK_REALTIME, &now);
        reply::array(out, 2);
        reply::bulk(out, std::to_string(now.tv_sec));
        reply::bulk(out, std::to_string(now.tv_nsec / 1000));
        break;
    }
    case Cmd::command:
        command_command(args, out);
        break;
    case Cmd::config:
        config_command(args, facts, out);
        break;
    case Cmd::hello:
        hello_command(args, facts, out);
        break;
    case Cmd::function:
        function_command(args, out);
        break;
    case Cmd::script:
        script_command(args, out);
        break;
    case Cmd::client:
        client_command(args, facts, out);
        break;
    case Cmd::quit:
        reply::ok(out);
        return LocalOutcome::reply_then_close;
    default:
        assert(!"not a connection command");
        break;
    }
    return LocalOutcome::reply;
}

bool check_fanout(const CommandSpec& spec, std::span<const std::string_view> args, std::string& out) {
    if (spec.id == Cmd::flushall || spec.id == Cmd::flushdb) {
        if (args.size() > 2 ||
            (args.size() == 2 && !equal_nocase(args[1], "sync") && !equal_nocase(args[1], "async"))) {
            reply::error(out, reply::syntax_error);
            return false;
        }
    }
    if (spec.id == Cmd::scan) {
        return scan_check(args, out);
    }
    return true;
}

std::size_t bulk_reply_size(std::string_view at) {
    assert(at.size() >= 5 && at[0] == '$');
    if (at[1] == '-') {
        return 5; // "$-1\r\n"
    }
    std::size_t cr = at.find('\r');
    assert(cr != std::string_view::npos);
    auto len = parse_int(at.substr(1, cr - 1));
    assert(len && *len >= 0);
    return cr + 2 + static_cast<std::size_t>(*len) + 2;
}

void gather(const CommandSpec& spec, std::span<const std::string_view> args,
            std::span<const std::uint32_t> owner, std::span<ShardShare* const> shares,
            const ConnectionFacts& facts, std::string& out) {
    switch (spec.id) {
    case Cmd::mget:
        reply::array(out, args.size() - 1);
        for (std::size_t i = 1; i < args.size(); ++i) {
            ShardShare& s = *shares[owner[i]];
            std::size_t n = bulk_reply_size(std::string_view(s.out).substr(s.cursor));
            out.append(s.out, s.cursor, n);
            s.cursor += n;
        }
        break;
    case Cmd::keys_matching: {
        std::int64_t total = 0;
        for (const ShardShare* s : shares) {
            total += s->count;
        }
        reply::array(out, static_cast<std::size_t>(total));
        for (const ShardShare* s : shares) {
            out.append(s->out);
        }
        break;
    }
    case Cmd::del:
    case Cmd::unlink:
    case Cmd::touch:
    case Cmd::exists:
    case Cmd::dbsize: {
        std::int64_t sum = 0;
        for (const ShardShare* s : shares) {
            sum += s != nullptr ? s->count : 0;
        }
        reply::integer(out, sum);
        break;
    }
    case Cmd::mset: {
        bool oom = false;
        for (const ShardShare* s : shares) {
            oom = oom || (s != nullptr && s->oom);
        }
        if (oom) {
            reply::error(out, reply::oom);
        } else {
            reply::ok(out);
        }
        break;
    }
    case Cmd::flushall:
    case Cmd::flushdb:
        reply::ok(out);
        break;
    case Cmd::info:
        info_reply(args, shares, facts, out);
        break;
    case Cmd::scan:
        scan_gather(args, shares, out);
        break;
    case Cmd::randomkey:
        randomkey_gather(shares, out);
        break;
    default:
        assert(!"not a fan-out command");
        break;
    }
}

} // namespace gatio::resp
