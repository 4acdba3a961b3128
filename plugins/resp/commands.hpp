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
// runs through its registry of waiters (blocking.hpp) and run_multi answers as inside MULTI. `pubsub`
// commands (SUBSCRIBE, PUBLISH, PUBSUB, RESET ...) run on the connection's driver and reach the other
// drivers' subscriptions through tasks (pubsub.hpp).
//
// Replies and errors are those of redis-server 7.0, byte for byte, except where a difference
// is inherent (RESP2 only, no ACL users). Every command of a key sees the connection's
// database, selected on each shard before the command runs (Shard::select).
//
// Values are strings, hashes, lists, sets or sorted sets (keyspace.hpp, values.hpp, zset.hpp); a command on a
// key of another type answers WRONGTYPE, as redis-server does.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "keyspace.hpp"
#include "text.hpp"
#include "tick_clock.hpp"

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
    // The bitmap commands (bit_commands.cpp), together (run_one_key hands them to run_bitmap).
    setbit,
    getbit,
    bitcount,
    bitpos,
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
    copy,
    lcs,
    object, // runs where its key (the third argument) lives, as a multi-shard command of one key
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
    // Transactions (transaction.hpp): answered by the connection's transaction state.
    multi_start, // MULTI
    exec,
    discard,
    watch,
    unwatch,
    // Keys, walked over every shard (scan_commands.cpp).
    scan,
    randomkey,
    // Server (server_commands.cpp).
    time_of_day, // TIME
    function,
    script,
    client,
    // Pub/sub, on the connection's driver and, through tasks, every driver (pubsub.hpp).
    subscribe,
    unsubscribe,
    psubscribe,
    punsubscribe,
    publish,
    pubsub_query, // PUBSUB
    reset,
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

enum class Route : std::uint8_t { connection, one_key, keys, all_shards, multi, pubsub };

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
// "unknown subcommand 'x'. Try CONTAINER HELP.", and the error of a known subcommand with
// arguments it does not take.
void unknown_subcommand(std::string_view sub, std::string_view container, std::string& out);
void subcommand_syntax_error(std::string_view sub, std::string_view container, std::string& out);
// PUBSUB's subcommand (args[1]) and its arity, which redis-server checks before it runs the
// command or queues it in MULTI: false with redis-server's error appended.
bool pubsub_subcommand_ok(std::span<const std::string_view> args, std::string& out);
// An error line naming an argument as redis-server's printf names one: `before`, the argument
// up to a NUL byte and at most 128 bytes of it, then `after`; CR and LF become spaces.
void error_naming(std::string& out, std::string_view before, std::string_view arg, std::string_view after);
// INFO commandstats' entries: one per command of the table (in its order), then one per
// subcommand of a container command ("client|list"), as redis-server 7.0 counts them.
std::size_t stat_count();
inline constexpr std::size_t no_stat = SIZE_MAX;
// The entry of a request of `spec`: the subcommand's for a container command given one, no_stat
// for a subcommand it does not know.
std::size_t stat_of(const CommandSpec& spec, std::span<const std::string_view> args);
std::string_view stat_name(std::size_t stat);

// One command's counts in INFO commandstats.
struct CommandTotals {
    std::uint64_t calls = 0;
    std::uint64_t usec = 0;
    std::uint64_t rejected = 0;
    std::uint64_t failed = 0;
};

// A listener's connections and commands over every driver, for INFO: each driver counts its
// commands in its own slots (a plain store, no locked instruction), CONFIG RESETSTAT moves the
// baseline.
class ServerCounters {
public:
    explicit ServerCounters(std::size_t drivers)
        : commands_(drivers), stats_(drivers), stats_base_(std::make_unique<Stat[]>(stat_count())) {
        for (auto& s : stats_) {
            s = std::make_unique<Stat[]>(stat_count());
        }
    }
    // On driver `driver`'s thread only.
    void command(std::uint32_t driver) { bump(commands_[driver].n, 1); }
    // A command of entry `stat` ran (failed: its reply is an error) or was refused before it
    // ran (an arity error, a command not allowed in the subscribed context). On `driver`'s thread.
    // `ticks` of tick_clock: the time it took.
    void called(std::uint32_t driver, std::size_t stat, std::uint64_t ticks) {
        Stat& s = stats_[driver][stat];
        bump(s.calls, 1);
        bump(s.ticks, ticks);
    }
    void failed(std::uint32_t driver, std::size_t stat) { bump(stats_[driver][stat].failed, 1); }
    void rejected(std::uint32_t driver, std::size_t stat) { bump(stats_[driver][stat].rejected, 1); }
    // Entry `stat` summed over every driver, since the last CONFIG RESETSTAT.
    CommandTotals totals(std::size_t stat) const {
        const Sum n = sum(stat);
        const Stat& b = stats_base_[stat];
        CommandTotals t;
        t.calls = n.calls - b.calls.load(std::memory_order_relaxed);
        t.usec = tick_clock::to_us(n.ticks - b.ticks.load(std::memory_order_relaxed));
        t.rejected = n.rejected - b.rejected.load(std::memory_order_relaxed);
        t.failed = n.failed - b.failed.load(std::memory_order_relaxed);
        return t;
    }
    void opened() {
        connected_.fetch_add(1, std::memory_order_relaxed);
        connections_.fetch_add(1, std::memory_order_relaxed);
    }
    void closed() { connected_.fetch_sub(1, std::memory_order_relaxed); }
    std::int64_t connected() const { return connected_.load(std::memory_order_relaxed); }
    std::uint64_t connections() const {
        return connections_.load(std::memory_order_relaxed) -
               connections_base_.load(std::memory_order_relaxed);
    }
    std::uint64_t commands() const { return all_commands() - commands_base_.load(std::memory_order_relaxed); }
    void reset() {
        commands_base_.store(all_commands(), std::memory_order_relaxed);
        connections_base_.store(connections_.load(std::memory_order_relaxed), std::memory_order_relaxed);
        for (std::size_t i = 0; i < stat_count(); ++i) {
            const Sum t = sum(i);
            Stat& b = stats_base_[i];
            b.calls.store(t.calls, std::memory_order_relaxed);
            b.ticks.store(t.ticks, std::memory_order_relaxed);
            b.rejected.store(t.rejected, std::memory_order_relaxed);
            b.failed.store(t.failed, std::memory_order_relaxed);
        }
    }

private:
    struct Stat {
        std::atomic<std::uint64_t> calls{0};
        std::atomic<std::uint64_t> ticks{0};
        std::atomic<std::uint64_t> rejected{0};
        std::atomic<std::uint64_t> failed{0};
    };
    struct Sum {
        std::uint64_t calls = 0;
        std::uint64_t ticks = 0;
        std::uint64_t rejected = 0;
        std::uint64_t failed = 0;
    };
    static void bump(std::atomic<std::uint64_t>& n, std::uint64_t by) {
        n.store(n.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
    }
    Sum sum(std::size_t stat) const {
        Sum t;
        for (const auto& d : stats_) {
            t.calls += d[stat].calls.load(std::memory_order_relaxed);
            t.ticks += d[stat].ticks.load(std::memory_order_relaxed);
            t.rejected += d[stat].rejected.load(std::memory_order_relaxed);
            t.failed += d[stat].failed.load(std::memory_order_relaxed);
        }
        return t;
    }
    std::uint64_t all_commands() const {
        std::uint64_t sum = 0;
        for (const auto& c : commands_) {
            sum += c.n.load(std::memory_order_relaxed);
        }
        return sum;
    }
    struct alignas(64) Slot {
        std::atomic<std::uint64_t> n{0};
    };
    std::vector<Slot> commands_; // by driver
    std::atomic<std::int64_t> connected_{0};
    std::atomic<std::uint64_t> connections_{0};
    std::atomic<std::uint64_t> commands_base_{0};
    std::atomic<std::uint64_t> connections_base_{0};
    std::vector<std::unique_ptr<Stat[]>> stats_; // by driver, then entry
    std::unique_ptr<Stat[]> stats_base_;         // the sums at the last CONFIG RESETSTAT
};

// maxmemory-policy's name.
std::string_view policy_name(EvictionPolicy p);
struct ConnectionFacts;
// CONFIG GET, SET and RESETSTAT (server_commands.cpp).
void config_command(std::span<const std::string_view> args, const ConnectionFacts& facts, std::string& out);

// FUNCTION and SCRIPT (server_commands.cpp): nothing is ever loaded, so FLUSH has nothing to
// do and SCRIPT EXISTS finds nothing.
void function_command(std::span<const std::string_view> args, std::string& out);
void script_command(std::span<const std::string_view> args, std::string& out);
// CLIENT ID, SETNAME and GETNAME of the connection itself (server_commands.cpp).
void client_command(std::span<const std::string_view> args, const ConnectionFacts& facts, std::string& out);
// What CLIENT LIST and CLIENT KILL select: each field set narrows the choice.
struct ClientFilter {
    enum class Type : std::uint8_t { any, normal, pubsub, none }; // none: replica, master (never here)
    Type type = Type::any;
    std::vector<std::uint64_t> ids; // LIST ID's, in argument order; KILL ID's one
    std::string_view addr;          // into the request's arguments; empty: any
    std::string_view laddr;
    bool by_addr = false;
    bool by_laddr = false;
    bool skipme = true;
    bool old_form = false;  // CLIENT KILL addr:port, answered OK or "No such client"
    std::uint64_t self = 0; // the asking client's id
    void clear() { *this = ClientFilter{}; }
};

// Parses CLIENT LIST's or CLIENT KILL's options (args from "CLIENT"); false with redis-server's
// error appended.
bool parse_client_list(std::span<const std::string_view> args, ClientFilter& f, std::string& out);
bool parse_client_kill(std::span<const std::string_view> args, ClientFilter& f, std::string& out);

// One connection as CLIENT LIST and CLIENT INFO show it (docs/plugins.md says what each field
// means in gatiod).
struct ClientView {
    std::uint64_t id = 0;
    std::string_view addr;
    std::string_view laddr;
    std::string_view name;
    std::int64_t age_s = 0;
    std::int64_t idle_s = 0;
    bool pubsub = false;
    bool multi = false;
    bool blocked = false;
    bool dirty = false; // a watched key changed since WATCH
    std::uint32_t db = 0;
    std::size_t sub = 0;
    std::size_t psub = 0;
    std::int64_t queued = -1; // commands queued in MULTI; -1 outside one
    std::size_t qbuf = 0;
    std::size_t qbuf_free = 0;
    std::size_t argv_mem = 0;
    std::size_t multi_mem = 0;
    std::size_t obl = 0;
    std::size_t oll = 0;
    std::size_t omem = 0;
    std::string_view cmd; // empty: none yet ("NULL")
};

bool client_matches(const ClientFilter& f, const ClientView& c);
// The client's line, ending in '\n'.
void client_line(const ClientView& c, std::string& out);

// Whether a client name is acceptable (no space, newline or other special character); false
// with redis-server's error appended.
bool client_name_ok(std::string_view name, std::string& out);

// The settings commands report and obey; fixed for the life of a listener.
struct ServerSettings {
    std::uint64_t proto_max_bulk_len = 512ull << 20;
    std::uint64_t max_multibulk = 1u << 20;
    std::uint64_t max_inline = 64u << 10;
    std::uint64_t max_memory = 0; // the whole keyspace's; each shard gets an equal share
    std::uint32_t databases = 16; // SELECT's range, fixed for the keyspace's life
    EvictionPolicy policy = EvictionPolicy::noeviction;
    std::uint32_t maxmemory_samples = 5; // keys sampled per allkeys-lru eviction
    std::string_view version;            // the plugin's own version, shown by INFO
};

// The settings of a listener that CONFIG SET changes at run time, shared by its instances on
// every driver (each adopts a new generation at its next receive, and the one that ran CONFIG
// SET hands them to every shard); CONFIG RESETSTAT counts in `resets`.
class RuntimeSettings {
public:
    explicit RuntimeSettings(const ServerSettings& s) : settings_(s) {}
    ServerSettings get() const {
        std::lock_guard hold(lock_);
        return settings_;
    }
    void set(const ServerSettings& s) {
        std::lock_guard hold(lock_);
        settings_ = s;
        generation_.fetch_add(1, std::memory_order_release);
    }
    std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
    void reset_stats() {
        resets_.fetch_add(1, std::memory_order_release);
        generation_.fetch_add(1, std::memory_order_release);
    }
    std::uint64_t resets() const { return resets_.load(std::memory_order_acquire); }

private:
    mutable std::mutex lock_;
    ServerSettings settings_;
    std::atomic<std::uint64_t> generation_{0};
    std::atomic<std::uint64_t> resets_{0};
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
    bool oom = false;         // MSET: refused for lack of memory
    std::size_t cursor = 0;   // gather's read position in `out`
    std::uint64_t left = 0;   // SCAN: positions of this shard still to walk (0: walked whole)
    std::uint64_t random = 0; // RANDOMKEY: a number of the shard's random sequence
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
    // The server settings the command runs under: its connection's, which a CONFIG SET on it
    // changed for its next command already (LCS's bound, proto-max-bulk-len).
    virtual const ServerSettings& settings() = 0;

protected:
    ~ShardsOf() = default;
};

// The argument positions of a `multi` command's keys; false when its arguments are malformed,
// in which case run_multi answers an error without touching a shard.
bool multi_keys(const CommandSpec& spec, std::span<const std::string_view> args,
                std::vector<std::uint32_t>& keys);

// The shards a `multi` command locks, ascending and each once: those of `keys` (from
// multi_keys), and every one of the `count` for SWAPDB, which names no key.
void multi_shards(const CommandSpec& spec, std::span<const std::string_view> args,
                  std::span<const std::uint32_t> keys, std::uint32_t count,
                  std::vector<std::uint32_t>& shards);

// Runs a `multi` command whole. The caller makes every shard of `keys` (from multi_keys)
// safe to touch from this thread for the duration (see resp.cpp).
void run_multi(ShardsOf& shards, const CommandSpec& spec, std::span<const std::string_view> args,
               std::span<const std::uint32_t> keys, std::int64_t now_ms, std::string& out);

// The string commands of run_one_key from SETNX to SETRANGE, and MSETNX of run_multi.
// A range of inclusive indexes into `total` bytes (or bits), negative ones counting from the end,
// clamped as GETRANGE and BITCOUNT clamp theirs: first > last when nothing is in it.
struct IndexRange {
    std::int64_t first;
    std::int64_t last;
};
IndexRange clamp_range(std::int64_t start, std::int64_t end, std::int64_t total);
void run_bitmap(Shard& shard, const CommandSpec& spec, std::span<const std::string_view> args,
                const ServerSettings& settings, std::int64_t now_ms, std::string& out);
void run_string(Shard& shard, const CommandSpec& spec, std::span<const std::string_view> args,
                const ServerSettings& settings, std::int64_t now_ms, std::string& out);
void msetnx(ShardsOf& shards, std::span<const std::string_view> args, std::int64_t now_ms, std::string& out);
// LCS of run_multi.
void lcs_command(ShardsOf& shards, std::span<const std::string_view> args, std::int64_t now_ms,
                 std::string& out);
// COPY and OBJECT of run_multi (object_commands.cpp). copy_options reads COPY's options: the target
// database (`db` unless DB names one) and REPLACE; false with the error appended. OBJECT's
// subcommand and its arity, which redis-server checks before it runs the command or queues it in
// MULTI: false with the error appended.
void copy_command(ShardsOf& shards, std::span<const std::string_view> args, std::int64_t now_ms,
                  std::string& out);
bool copy_options(std::span<const std::string_view> args, std::uint32_t databases, std::uint32_t& db,
                  bool& replace, std::string& out);
void object_command(ShardsOf& shards, std::span<const std::string_view> args, std::int64_t now_ms,
                    std::string& out);
bool object_subcommand_ok(std::span<const std::string_view> args, std::string& out);
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

// How a keys or all_shards command splits over `count` shards: part(i) (a vector, empty on
// entry) receives the argument positions of the keys shard i owns, ascending, and stays empty
// when shard i is not involved; for an all_shards command every shard gets its index and
// `count`, which SCAN's cursor needs. owner[a] is the shard of argument a's key. Returns how
// many shards are involved. One split for the connection's fan-out, EXEC and the fuzz check.
template <class PartOf>
std::uint32_t split_fanout(const CommandSpec& spec, std::span<const std::string_view> args,
                           std::uint32_t count, std::vector<std::uint32_t>& owner, PartOf&& part) {
    if (spec.route == Route::all_shards) {
        for (std::uint32_t i = 0; i < count; ++i) {
            part(i).assign({i, count});
        }
        return count;
    }
    owner.resize(args.size());
    std::uint32_t involved = 0;
    for (std::size_t a = 1; a < args.size(); a += static_cast<std::size_t>(spec.step)) {
        const std::uint32_t s = shard_index(args[a], count);
        owner[a] = s;
        std::vector<std::uint32_t>& keys = part(s);
        involved += keys.empty() ? 1 : 0;
        keys.push_back(static_cast<std::uint32_t>(a));
    }
    return involved;
}

// Runs a shard's share of a keys/all_shards command. `keys` are the argument positions of the
// keys this shard owns, ascending (MSET: each key's value follows it); for an all_shards
// command, the shard's index and the number of shards.
void run_part(Shard& shard, const CommandSpec& spec, std::span<const std::string_view> args,
              std::span<const std::uint32_t> keys, std::int64_t now_ms, ShardShare& share);

// SCAN and RANDOMKEY (scan_commands.cpp): the options checked before the fan-out (false with
// the error appended), each shard's share (shard `index` of `shards`), and the reply gathered
// from every shard's share.
bool scan_check(std::span<const std::string_view> args, std::string& out);
void scan_part(Shard& shard, std::span<const std::string_view> args, std::uint32_t index,
               std::uint32_t shards, std::int64_t now_ms, ShardShare& share);
void scan_gather(std::span<const std::string_view> args, std::span<ShardShare* const> shares,
                 std::string& out);
void randomkey_part(Shard& shard, std::int64_t now_ms, ShardShare& share);
void randomkey_gather(std::span<ShardShare* const> shares, std::string& out);

// ---- Connection side ----

// What a connection knows about itself and its server, for connection commands and INFO.
struct ConnectionFacts {
    const ServerSettings* settings = nullptr;
    std::uint64_t client_id = 0;
    std::uint16_t port = 0; // the listener's local port
    std::int64_t uptime_s = 0;
    std::uint32_t* db = nullptr;        // the connection's selected database, which SELECT changes
    RuntimeSettings* runtime = nullptr; // what CONFIG SET changes (nullptr: refused)
    std::string* name = nullptr;        // the connection's name (CLIENT SETNAME, HELLO SETNAME)
    ServerCounters* counters = nullptr; // INFO clients and stats (nullptr: reported as 0)
    std::size_t blocked_clients = 0;    // requests waiting in a blocking command, every driver's
    const ClientView* self = nullptr;   // CLIENT INFO's (nullptr: an empty line)
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
