// The blocking list and sorted-set commands (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN,
// BZPOPMAX, BZMPOP) and ZMPOP, and the registry that parks a blocked request on its keys until a
// write on any driver serves it.
//
// A blocked request is a Waiter, owned by its connection's driver. It is listed, per key, in the
// queue of the key's shard (oldest first), guarded by that shard's mutex. A command that writes a
// key notes it while it still holds the key's shard (note_command, into the writer's Noted); once
// it has let go of its shards it serves the queues of the keys it noted (serve_ready): the first
// waiter still waiting whose key holds data is claimed (an atomic state, since one waiter may be
// listed on several shards), served under the shards it needs, taken in index order, and handed to
// its own driver's mailbox (WakeBox). The caller then posts the mailbox's delivery to that driver
// (the resp instance does: posting needs a host), where the waiter's `wake` writes the reply.
// Whoever cancels a waiter (timeout, disconnect) and whoever serves it race on the same atomic
// state, so exactly one of them answers it.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "commands.hpp"
#include "keyspace.hpp"

namespace gatio::resp {

// ---- The commands (no registry: what run_multi and the in-process tests see) ----

bool is_blocking(Cmd id);
// The argument positions of the keys of a blocking command or ZMPOP; false when its arguments are
// malformed (its error is answered without touching a shard).
bool blocking_keys(const CommandSpec& spec, std::span<const std::string_view> args,
                   std::vector<std::uint32_t>& keys);

// What a blocking command does when it may not block (run_multi: in process, or where nothing
// can wait): answered at once, with redis-server's null when nothing is there to pop. Also ZMPOP.
void run_blocking_multi(ShardsOf& shards, const CommandSpec& spec, std::span<const std::string_view> args,
                        std::int64_t now_ms, std::string& out);

enum class Attempt : std::uint8_t { answered, block };

// Checks the arguments in redis-server's order and runs the command if one of its keys has data
// (or the answer is an error). `block`: nothing was written; `deadline_ms` is the wall-clock time
// at which the request times out, 0 for never.
Attempt attempt_blocking(ShardsOf& shards, const CommandSpec& spec, std::span<const std::string_view> args,
                         std::int64_t now_ms, std::string& out, std::int64_t& deadline_ms);

// ---- The registry ----

struct Waiter {
    enum : std::uint8_t { idle, waiting, served, cancelled };
    std::atomic<std::uint8_t> state{idle};
    const CommandSpec* spec = nullptr;
    std::span<const std::string_view> args; // the request's, kept by its owner while it waits
    std::uint32_t db = 0;
    std::uint32_t driver = 0;        // the owner's driver, where `wake` runs
    std::vector<std::uint32_t> keys; // argument positions of the keys waited on, each once
    std::string reply;               // written by whoever serves it
    void (*wake)(Waiter&) = nullptr; // on `driver`, once served
    void* user = nullptr;            // the owner's
    std::int64_t deadline_ms = 0;    // 0: waits until served
};

// One driver's mailbox of served waiters. `armed`: a delivery is posted, or about to be.
struct WakeBox {
    std::mutex lock;
    std::vector<Waiter*> served;
    std::vector<Waiter*> taking; // deliver's, swapped with `served`
    bool armed = false;
    class BlockRegistry* registry = nullptr;
    std::uint32_t driver = 0;
};

// Keys written that requests wait on, not yet served, and scratch for serving them: kept by
// whoever writes (one per thread of use, since the plugin is unloaded on reload and may own no
// thread-local object with a destructor, which would keep it loaded).
struct Noted {
    std::vector<std::pair<std::uint32_t, std::string>> keys; // shard, database and key
    std::string qkey;
    std::vector<std::uint32_t> held;
    bool empty() const { return keys.empty(); }
};

class BlockRegistry {
public:
    struct ShardRef {
        std::mutex* lock;
        Shard* shard;
        const ServerSettings* settings; // written under `lock`
    };
    BlockRegistry(std::vector<ShardRef> shards, std::uint32_t drivers);
    BlockRegistry(const BlockRegistry&) = delete;
    BlockRegistry& operator=(const BlockRegistry&) = delete;

    // Runs the command under the shards of its keys; when it must wait, lists `w` (whose spec,
    // args, db, driver, wake and user are set) on every key in the same hold, so no write can
    // slip between the look and the listing. `answered`: `out` holds the reply.
    Attempt block(Waiter& w, std::int64_t now_ms, std::string& out, Noted& noted);

    // Ends a wait that was not served (timeout, disconnect): false when it was served already (its
    // wake follows). Takes the waiter's shards one at a time; holds none on entry.
    bool cancel(Waiter& w);
    // Takes a waiter off every queue it is on (after its wake, before its memory is reused).
    void unlist(Waiter& w);
    // A served waiter whose owner goes away before its wake: out of its mailbox.
    void forget(Waiter& w);

    // A command just run in database `db`, the shards of its keys still held by the caller: the
    // keys it may have given data that a request waits on are remembered in `noted`. A one-key
    // command's key (MOVE's in the database it moved to), a multi-shard command's keys (`keys`:
    // multi_keys's positions) and, for SWAPDB, every key waited on in either database (every
    // shard held). The other routes make no list or sorted set.
    void note_command(Noted& noted, const CommandSpec& spec, std::span<const std::string_view> args,
                      std::span<const std::uint32_t> keys, std::uint32_t db);
    // Serves the noted keys (the caller holds no shard); the drivers whose mailbox must be
    // posted are appended to `post_to`.
    void serve_ready(Noted& noted, std::int64_t now_ms, std::vector<std::uint32_t>& post_to);
    // On a driver's thread: every waiter in its mailbox gets its wake.
    static void deliver(void* box);
    WakeBox& box(std::uint32_t driver) { return *boxes_[driver]; }

    std::uint32_t shard_of(std::string_view key) const { return shard_index(key, shards_.size()); }
    std::size_t shard_count() const { return shards_.size(); }
    Shard& shard(std::size_t i) { return *shards_[i].shard; }
    const ServerSettings& settings(std::size_t i) const { return *shards_[i].settings; }
    // Requests blocked right now, over every shard (INFO-style reporting and tests).
    std::size_t blocked() const { return blocked_.load(std::memory_order_relaxed); }

private:
    struct Queues {
        std::unordered_map<std::string, std::deque<Waiter*>> keys; // db (4 bytes) + key
    };
    static std::string queue_key(std::uint32_t db, std::string_view key);
    // A write to `key` of shard `shard` (held) in database `db`: noted when a request waits on it.
    void note(Noted& noted, std::uint32_t shard, std::uint32_t db, std::string_view key);
    void note_swap(Noted& noted, std::span<const std::string_view> args);
    void note_copy(Noted& noted, std::span<const std::string_view> args, std::uint32_t db);
    void lock_sorted(std::vector<std::uint32_t>& shards);
    void unlock_sorted(const std::vector<std::uint32_t>& shards);
    // One step of serve_ready: serves the first live waiter of (shard, key) if the key has data.
    bool serve_one(Noted& noted, std::uint32_t shard, const std::string& qkey, std::int64_t now_ms,
                   std::vector<std::uint32_t>& post_to);
    // The first waiter of a queue still waiting whose command takes `type` (dead ones dropped).
    Waiter* first_live(std::uint32_t shard, const std::string& qkey, Type type);
    void hand_over(Waiter& w, std::vector<std::uint32_t>& post_to);

    std::vector<ShardRef> shards_;
    std::vector<Queues> queues_; // by shard, under its mutex
    std::vector<std::unique_ptr<WakeBox>> boxes_;
    std::atomic<std::size_t> blocked_{0};
};

} // namespace gatio::resp
