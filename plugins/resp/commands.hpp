// The command table and the execution of each command.
//
// Every command has a route. `connection` commands (PING, ECHO, SELECT, HELLO, COMMAND, CONFIG,
// QUIT) are answered by the connection's driver alone. `one_key` commands run whole on the
// shard that owns their key. `keys` commands (MGET, MSET, DEL, EXISTS) are split: each shard
// runs its share over the keys it owns (run_part) and the connection's driver gathers the
// shares in argument order (gather). `all_shards` commands (DBSIZE, FLUSHALL, FLUSHDB, INFO)
// run a share on every shard. `multi` commands (LMOVE, RPOPLPUSH, LMPOP, ZMPOP, SMOVE, set algebra), whose
// keys may live on several shards and must change them together, run whole on the connection's driver with
// every shard involved locked (run_multi). The blocking commands are `multi` commands too, which the plugin
// runs through its registry of waiters (blocking.hpp) and run_multi answers as inside MULTI.
//
// Replies and errors are those of redis-server 7.0, byte for byte, except where a difference
// is inherent (RESP2 only, no ACL users). Every command of a key sees the connection's
// database, selected on each shard before the command runs (Shard::select).
//
// Values are strings, hashes, lists, sets or sorted sets (keyspace.hpp, values.hpp, zset.hpp); a command on a
// key of another type answers WRONGTYPE, as redis-server does.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "keyspace.hpp"
#include "text.hpp"

namespace gatio::resp {

enum class Cmd : std::uint8_t {
    ping,
    echo,
    set,
    get,
    getset,
    del,
    exists,
    incr,
    decr,
    incrby,
    decrby,
    append,
    strlen,
    mget,
    mset,
    expire,
    pexpire,
    ttl,
    pttl,
    persist,
    type,
    dbsize,
    flushall,
    flushdb,
    select,
    info,
    command,
    config,
    quit,
    hello,
    // The string commands of string_commands.cpp, together (run_one_key hands them to run_string).
    setnx,
    setex,
    psetex,
    getdel,
    getex,
    incrbyfloat,
    getrange,
    substr,
    setrange,
    // The hash commands, together (run_one_key hands this range to run_hash).
    hset,
    hsetnx,
    hget,
    hmget,
    hmset,
    hdel,
    hexists,
    hlen,
    hstrlen,
    hkeys,
    hvals,
    hgetall,
    hincrby,
    hincrbyfloat,
    hrandfield,
    hscan,
    // The list commands of one key, together (run_one_key hands this range to run_list).
    lpush,
    rpush,
    lpushx,
    rpushx,
    lpop,
    rpop,
    llen,
    lindex,
    lset,
    lrange,
    ltrim,
    lrem,
    linsert,
    lpos,
    // The set commands of one key, together (run_one_key hands this range to run_set).
    sadd,
    srem,
    scard,
    sismember,
    smismember,
    smembers,
    spop,
    srandmember,
    sscan,
    // Commands whose keys may live on several shards: lists, then sets (run_set_multi).
    lmove,
    rpoplpush,
    lmpop,
    smove,
    sinter,
    sintercard,
    sinterstore,
    sunion,
    sunionstore,
    sdiff,
    sdiffstore,
    msetnx,
    rename,
    renamenx,
    // Keys.
    expireat,
    pexpireat,
    expiretime,
    pexpiretime,
    touch,
    unlink,
    keys_matching, // KEYS
    // The sorted-set commands of one key, together (run_one_key hands this range to run_zset).
    zadd,
    zincrby,
    zrem,
    zcard,
    zscore,
    zmscore,
    zcount,
    zlexcount,
    zrange,
    zrevrange,
    zrangebyscore,
    zrevrangebyscore,
    zrangebylex,
    zrevrangebylex,
    zrank,
    zrevrank,
    zpopmin,
    zpopmax,
    zrandmember,
    zremrangebyrank,
    zremrangebyscore,
    zremrangebylex,
    zscan,
    // Sorted-set commands whose keys may live on several shards (run_zset_multi).
    zrangestore,
    zunion,
    zunionstore,
    zinter,
    zinterstore,
    zdiff,
    zdiffstore,
    zintercard,
    // Databases: MOVE runs on the key's shard, SWAPDB on every shard at once (run_multi).
    move,
    swapdb,
    // ZMPOP and the blocking commands, whose keys may live on several shards (blocking.cpp).
    zmpop,
    blpop,
    brpop,
    brpoplpush,
    blmove,
    blmpop,
    bzpopmin,
    bzpopmax,
    bzmpop,
};

enum class Route : std::uint8_t { connection, one_key, keys, all_shards, multi };

struct CommandSpec {
    std::string_view name; // lower case, as COMMAND lists it
    Cmd id;
    int arity; // redis-server's convention: n exactly, -n at least n (name included)
    Route route;
    int first_key; // COMMAND's key positions (0 = none)
    int last_key;  // -1 = the last argument
    int step;
    bool denyoom;           // refused (noeviction) or preceded by eviction when memory is full
    std::string_view flags; // COMMAND's flags, space-separated
    std::string_view acl;   // COMMAND's ACL categories, space-separated
};

// The command named `name` in any letter case, or nullptr.
const CommandSpec* find_command(std::string_view name);
std::span<const CommandSpec> command_table();

// Whether args (name first) fit spec's arity, and the extra rules of MSET (pairs) and PING
// (at most one argument).
bool arity_ok(const CommandSpec& spec, std::size_t argc);

// redis-server's error lines for a request it cannot run (no '-', no CRLF).
void unknown_command_error(std::span<const std::string_view> args, std::string& out);
void arity_error(std::string_view name, std::string& out);

// The settings commands report and obey; fixed for the life of a listener.
struct ServerSettings {
    std::uint64_t proto_max_bulk_len = 512ull << 20;
    std::uint64_t max_multibulk = 1u << 20;
    std::uint64_t max_inline = 64u << 10;
    std::uint64_t max_memory = 0; // the whole keyspace's; each shard gets an equal share
    std::uint32_t databases = 16; // SELECT's range, fixed for the keyspace's life
    EvictionPolicy policy = EvictionPolicy::noeviction;
    std::string_view version; // the plugin's own version, shown by INFO
};

// ---- Shard side (runs on the shard's driver) ----

// One shard's contribution to a `keys` or `all_shards` command.
struct ShardShare {
    std::string out;           // MGET: one bulk reply per key of this shard, in argument order
    std::int64_t count = 0;    // DEL, EXISTS, DBSIZE: this shard's count; INFO: its keys
    std::int64_t expires = 0;  // INFO: keys with an expiry
    std::uint64_t memory = 0;  // INFO: used_memory
    std::uint64_t evicted = 0; // INFO: keys evicted so far
    std::uint64_t expired = 0; // INFO: keys expired so far
    // INFO: keys and keys with an expiry in each database (sized by the shard, INFO alone).
    std::vector<std::int64_t> db_keys;
    std::vector<std::int64_t> db_expires;
    bool oom = false;       // MSET: refused for lack of memory
    std::size_t cursor = 0; // gather's read position in `out`
    void clear();
};

// The live entry at `key` when it holds a `type`; nullptr when there is none, or when it holds
// another type: then `wrong` is set and WRONGTYPE is answered.
Shard::Entry* find_typed(Shard& shard, Type type, std::string_view key, std::int64_t now_ms, std::string& out,
                         bool& wrong);

// What HSCAN, SSCAN and ZSCAN begin with: the cursor (args[2]), the key's entry of `type` and the
// options from args[3] on. nullptr when that already answered (a bad cursor or option, the wrong
// type, or a missing key, which is an empty scan).
Shard::Entry* begin_scan(Shard& shard, std::span<const std::string_view> args, Type type, std::int64_t now_ms,
                         std::string& out, std::uint64_t& cursor, ScanOptions& opts);

// Runs a one_key command; appends its reply to out.
void run_one_key(Shard& shard, const CommandSpec& spec, std::span<const std::string_view> args,
                 const ServerSettings& settings, std::int64_t now_ms, std::string& out);

// The list commands of run_one_key.
void run_list(Shard& shard, const CommandSpec& spec, std::span<const std::string_view> args,
              std::int64_t now_ms, std::string& out);

// Where a `multi` command finds the shard of each key.
class ShardsOf {
public:
    virtual Shard& operator()(std::string_view key) = 0;
    // Every shard, for SWAPDB (which the caller makes safe to touch, all of them).
    virtual std::size_t count() = 0;
    virtual Shard& nth(std::size_t i) = 0;

protected:
    ~ShardsOf() = default;
};

// The argument positions of a `multi` command's keys; false when its arguments are malformed,
// in which case run_multi answers an error without touching a shard.
bool multi_keys(const CommandSpec& spec, std::span<const std::string_view> args,
                std::vector<std::uint32_t>& keys);

// Runs a `multi` command whole. The caller makes every shard of `keys` (from multi_keys)
// safe to touch from this thread for the duration (see resp.cpp).
void run_multi(ShardsOf& shards, const CommandSpec& spec, std::span<const std::string_view> args,
               std::span<const std::uint32_t> keys, std::int64_t now_ms, std::string& out);

// The string commands of run_one_key from SETNX to SETRANGE, and MSETNX of run_multi.
void run_string(Shard& shard, const CommandSpec& spec, std::span<const std::string_view> args,
                const ServerSettings& settings, std::int64_t now_ms, std::string& out);
void msetnx(ShardsOf& shards, std::span<const std::string_view> args, std::int64_t now_ms, std::string& out);
// RENAME and RENAMENX (`nx`) of run_multi.
void rename_command(ShardsOf& shards, std::span<const std::string_view> args, bool nx, std::int64_t now_ms,
                    std::string& out);

// The set commands of run_one_key, and of run_multi (with multi_keys' share).
void run_set(Shard& shard, const CommandSpec& spec, std::span<const std::string_view> args,
             std::int64_t now_ms, std::string& out);
bool set_multi_keys(const CommandSpec& spec, std::span<const std::string_view> args,
                    std::vector<std::uint32_t>& keys);
void run_set_multi(ShardsOf& shards, const CommandSpec& spec, std::span<const std::string_view> args,
                   std::span<const std::uint32_t> keys, std::int64_t now_ms, std::string& out);

// The sorted-set commands of run_one_key, and of run_multi (with multi_keys' share).
void run_zset(Shard& shard, const CommandSpec& spec, std::span<const std::string_view> args,
              std::int64_t now_ms, std::string& out);
bool zset_multi_keys(const CommandSpec& spec, std::span<const std::string_view> args,
                     std::vector<std::uint32_t>& keys);
void run_zset_multi(ShardsOf& shards, const CommandSpec& spec, std::span<const std::string_view> args,
                    std::span<const std::uint32_t> keys, std::int64_t now_ms, std::string& out);

// `n` distinct positions of `size` (n <= size) at random, from the shard's sequence.
std::vector<std::uint32_t> distinct_picks(Shard& shard, std::size_t size, std::size_t n);

// The hash commands of run_one_key.
void run_hash(Shard& shard, const CommandSpec& spec, std::span<const std::string_view> args,
              std::int64_t now_ms, std::string& out);

// Runs a shard's share of a keys/all_shards command. `keys` are the argument positions of the
// keys this shard owns, ascending (MSET: each key's value follows it).
void run_part(Shard& shard, const CommandSpec& spec, std::span<const std::string_view> args,
              std::span<const std::uint32_t> keys, std::int64_t now_ms, ShardShare& share);

// ---- Connection side ----

// What a connection knows about itself and its server, for connection commands and INFO.
struct ConnectionFacts {
    const ServerSettings* settings = nullptr;
    std::uint64_t client_id = 0;
    std::uint16_t port = 0; // the listener's local port
    std::int64_t uptime_s = 0;
    std::uint32_t* db = nullptr;     // the connection's selected database, which SELECT changes
    std::size_t blocked_clients = 0; // requests waiting in a blocking command, every driver's
};

enum class LocalOutcome : std::uint8_t { reply, reply_then_close };

// Answers a `connection` command.
LocalOutcome run_local(const CommandSpec& spec, std::span<const std::string_view> args,
                       const ConnectionFacts& facts, std::string& out);

// Checks the options of a keys/all_shards command before it fans out; appends an error reply
// and returns false when the command must not run (FLUSHALL with a bad option).
bool check_fanout(const CommandSpec& spec, std::span<const std::string_view> args, std::string& out);

// Combines the shares (indexed by shard) into the reply. `owner[i]` is the shard of argument i
// (meaningful at key positions only) for MGET.
void gather(const CommandSpec& spec, std::span<const std::string_view> args,
            std::span<const std::uint32_t> owner, std::span<ShardShare* const> shares,
            const ConnectionFacts& facts, std::string& out);

// The size of the bulk reply (or nil) at the start of `at`, which must hold a whole one.
std::size_t bulk_reply_size(std::string_view at);

} // namespace gatio::resp
