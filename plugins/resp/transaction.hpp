// MULTI, EXEC, DISCARD, WATCH and UNWATCH: one connection's transaction state and its
// execution, as redis-server 7.0 answers them.
//
// Between MULTI and EXEC the connection's requests are not run but copied into the
// transaction and answered +QUEUED (an unknown command, a wrong arity or a full transaction
// answers its error instead and makes EXEC answer EXECABORT). EXEC runs on the connection's
// driver: it takes the locks of every shard its commands and watched keys involve, in shard
// index order (the order every multi-shard command takes them in, so two never wait for each
// other), checks the watched versions, runs the queued commands one after the other and
// releases the locks. No other command touches those shards meanwhile, so nobody sees a half
// applied transaction; one whose keys live on one shard costs one lock, like any command.
//
// WATCH registers each key with its shard (Shard::watch), which versions the registered keys
// only; EXEC answers a null array when any version moved.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "commands.hpp"
#include "keyspace.hpp"

namespace gatio::resp {

// EXEC's scratch, kept for the next EXEC of any connection served by the same keyspace view
// (EXEC runs whole on its connection's driver), so that an idle connection does not carry it.
struct TxScratch {
    std::vector<std::uint32_t> shards;
    std::vector<std::uint32_t> locked; // one multi command's
    std::vector<std::uint32_t> keys;
    std::vector<ShardShare> shares;
    std::vector<ShardShare*> share_of;
    std::vector<std::vector<std::uint32_t>> parts;
};

// What a transaction needs of the keyspace: its shards, and the lock that makes each safe
// to touch from the calling thread.
class TxKeyspace {
public:
    TxScratch scratch;

    virtual std::uint32_t count() const = 0;
    virtual std::uint32_t shard_of(std::string_view key) const = 0;
    virtual Shard& shard(std::uint32_t i) = 0;
    virtual const ServerSettings& settings(std::uint32_t i) const = 0;
    virtual void lock(std::uint32_t i) = 0;
    virtual void unlock(std::uint32_t i) = 0;
    // A queued command ran in database `db`, EXEC still holding its shards: what it wrote may
    // serve blocked requests once EXEC lets go (`keys`: a multi-shard command's key positions).
    // Where nothing can wait, nothing is to be done.
    virtual void ran(const CommandSpec&, std::span<const std::string_view>, std::span<const std::uint32_t>,
                     std::uint32_t) {}

protected:
    ~TxKeyspace() = default;
};

// How much one transaction may queue (options max_multi_commands and
// max_multi_bytes): what EXEC holds its shards for is bounded.
struct TxLimits {
    std::uint32_t max_commands = 0;
    std::uint64_t max_bytes = 0;
};

// Whether a request is the transaction's business: a transaction command, or anything at
// all while MULTI is open (QUIT and RESET excepted, which run at once as redis-server runs them).
bool transaction_request(bool open, const CommandSpec* spec);

class Transaction {
public:
    bool open() const { return open_; }
    // CLIENT LIST's multi= and multi-mem=: the commands queued and their arguments' bytes.
    std::size_t queued() const { return queued_.size(); }
    std::size_t queued_bytes() const { return bytes_.size(); }
    // CLIENT LIST's d flag: a watched key changed since WATCH (its shard's version moved).
    bool dirty(TxKeyspace& ks) const;

    // EXEC runs its keyspace part with the shards held; the queued commands that need other
    // drivers (PUBLISH, PUBSUB, CLIENT LIST and CLIENT KILL), which touch no key, run after it
    // lets go, one after the other in queue order, each reply taking its place in EXEC's array.
    // executing() holds until the last one is placed; the connection runs nothing else meanwhile.
    bool executing() const { return next_ < later_.size(); }
    struct Later {
        const CommandSpec* spec;
        std::span<const std::string_view> args; // into the queue, valid until place()
    };
    Later next_later() const;
    // The reply of next_later()'s command was appended to `out` from `from` on: it moves to its
    // place in EXEC's array, and the transaction ends after the last one.
    void place(std::string& out, std::size_t from);

    // Answers a request for which transaction_request() holds, appending its reply to `out`.
    // `spec` is null for an unknown command; `facts.db` is the connection's database, which
    // a SELECT queued in the transaction changes.
    void handle(TxKeyspace& ks, const CommandSpec* spec, std::span<const std::string_view> args,
                const ConnectionFacts& facts, const TxLimits& limits, std::int64_t now_ms, std::string& out);

    // The connection is gone: the queue is dropped and the watched keys unregistered.
    void end(TxKeyspace& ks);

private:
    struct Queued {
        const CommandSpec* spec;
        std::uint32_t first; // index of its first argument in lens_
        std::uint32_t argc;
    };
    struct Deferred {
        std::uint32_t queued; // index in queued_
        std::size_t at;       // where its reply goes in EXEC's reply, before earlier ones' placing
    };
    struct Watch {
        std::uint32_t db;
        std::uint32_t shard;
        std::uint64_t version;
        std::string key;
    };

    void queue(const CommandSpec& spec, std::span<const std::string_view> args, const TxLimits& limits,
               std::string& out);
    void watch(TxKeyspace& ks, std::span<const std::string_view> args, std::uint32_t db, std::int64_t now_ms);
    void exec(TxKeyspace& ks, const ConnectionFacts& facts, std::int64_t now_ms, std::string& out);
    // The shards a queued command touches, added to shards_.
    void involve(TxKeyspace& ks, const CommandSpec& spec, std::span<const std::string_view> args);
    void run(TxKeyspace& ks, const CommandSpec& spec, std::span<const std::string_view> args,
             const ConnectionFacts& facts, std::int64_t now_ms, std::string& out);
    // Unregisters every watched key; `locked`: EXEC holds their shards already.
    void unwatch_all(TxKeyspace& ks, bool locked);
    void discard();
    void release();

    bool open_ = false;
    bool failed_ = false;             // a queued request was refused: EXEC answers EXECABORT
    std::string bytes_;               // the queued arguments, back to back
    std::vector<std::uint32_t> lens_; // their lengths
    std::vector<Queued> queued_;
    std::vector<Watch> watches_;
    std::vector<std::string_view> args_; // EXEC's: into bytes_
    std::vector<Deferred> later_;        // EXEC's commands that run after its keyspace part
    std::size_t next_ = 0;               // the next of later_ to run
    std::size_t shift_ = 0;              // bytes placed so far, which moved later_[next_].at on
};

} // namespace gatio::resp
