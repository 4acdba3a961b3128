#include "transaction.hpp"

#include <algorithm>
#include <cassert>

#include "reply.hpp"

namespace gatio::resp {

namespace {

// Queue buffers that grew past this for one transaction are released after it.
constexpr std::size_t retain_limit = 64u << 10;

bool is_transaction_command(Cmd id) {
    return id == Cmd::multi_start || id == Cmd::exec || id == Cmd::discard || id == Cmd::watch ||
           id == Cmd::unwatch;
}

// The commands EXEC runs after its keyspace part: they need other drivers, which EXEC cannot
// wait for while it holds its shards.
bool runs_later(const CommandSpec& spec, std::span<const std::string_view> args) {
    if (spec.id == Cmd::publish || spec.id == Cmd::pubsub_query) {
        return true;
    }
    return spec.id == Cmd::client && args.size() > 1 &&
           (equal_nocase(args[1], "list") || equal_nocase(args[1], "kill"));
}

// redis-server checks a subcommand's arity (and that it exists) before queuing it; what runs
// later is checked the same way, since its refusal must doom the transaction. False with the
// error appended.
bool later_ok(const CommandSpec& spec, std::span<const std::string_view> args, std::string& out) {
    if (spec.id == Cmd::pubsub_query && !pubsub_subcommand_ok(args, out)) {
        return false;
    }
    if (spec.id == Cmd::client && equal_nocase(args[1], "kill") && args.size() < 3) {
        arity_error("client|kill", out);
        return false;
    }
    return true;
}

// A `multi` command's view of the shards EXEC holds.
class Held final : public ShardsOf {
public:
    Held(TxKeyspace& ks, const ServerSettings& settings) : ks_(ks), settings_(settings) {}
    Shard& operator()(std::string_view key) override { return ks_.shard(ks_.shard_of(key)); }
    std::size_t count() override { return ks_.count(); }
    Shard& nth(std::size_t i) override { return ks_.shard(static_cast<std::uint32_t>(i)); }
    const ServerSettings& settings() override { return settings_; }

private:
    TxKeyspace& ks_;
    const ServerSettings& settings_;
};

} // namespace

bool transaction_request(bool open, const CommandSpec* spec) {
    if (spec != nullptr && is_transaction_command(spec->id)) {
        return true;
    }
    // RESET, like QUIT, runs at once inside MULTI, and ends the transaction (resp.cpp).
    return open && (spec == nullptr || (spec->id != Cmd::quit && spec->id != Cmd::reset));
}

void Transaction::handle(TxKeyspace& ks, const CommandSpec* spec, std::span<const std::string_view> args,
                         const ConnectionFacts& facts, const TxLimits& limits, std::int64_t now_ms,
                         std::string& out) {
    assert(!executing());
    // redis-server refuses an unknown command or a wrong arity before anything else, and such
    // a refusal inside MULTI dooms the transaction.
    if (spec == nullptr) {
        unknown_command_error(args, out);
        failed_ = failed_ || open_;
        return;
    }
    if (!arity_ok(*spec, args.size())) {
        if (spec->id == Cmd::exec) {
            // A refused EXEC ends the transaction, MULTI or not, naming why.
            std::string why;
            arity_error(spec->name, why);
            out.append("-EXECABORT Transaction discarded because of: ");
            out.append(std::string_view(why).substr(std::string_view("-ERR ").size()));
            discard();
            unwatch_all(ks, false);
            return;
        }
        arity_error(spec->name, out);
        failed_ = failed_ || open_;
        return;
    }
    switch (spec->id) {
    case Cmd::multi_start:
        if (open_) {
            reply::error(out, "ERR MULTI calls can not be nested");
            return;
        }
        open_ = true;
        failed_ = false;
        reply::ok(out);
        return;
    case Cmd::exec:
        if (!open_) {
            reply::error(out, "ERR EXEC without MULTI");
            return;
        }
        exec(ks, facts, now_ms, out);
        return;
    case Cmd::discard:
        if (!open_) {
            reply::error(out, "ERR DISCARD without MULTI");
            return;
        }
        discard();
        unwatch_all(ks, false);
        reply::ok(out);
        return;
    case Cmd::watch:
        if (open_) {
            reply::error(out, "ERR WATCH inside MULTI is not allowed");
            return;
        }
        watch(ks, args, *facts.db, now_ms);
        reply::ok(out);
        return;
    case Cmd::unwatch:
        if (!open_) {
            unwatch_all(ks, false);
            reply::ok(out);
            return;
        }
        break;
    default:
        break;
    }
    assert(open_);
    queue(*spec, args, limits, out);
}

void Transaction::queue(const CommandSpec& spec, std::span<const std::string_view> args,
                        const TxLimits& limits, std::string& out) {
    // Only the routes EXEC knows how to run may be queued; redis-server refuses its no-multi
    // commands with these words.
    if (spec.id == Cmd::object && !object_subcommand_ok(args, out)) {
        failed_ = true;
        return;
    }
    const bool later = runs_later(spec, args);
    if (spec.route == Route::pubsub && !later) {
        reply::error(out, "ERR Command not allowed inside a transaction");
        failed_ = true;
        return;
    }
    if (later && !later_ok(spec, args, out)) {
        failed_ = true;
        return;
    }
    std::uint64_t size = 0;
    for (auto a : args) {
        size += a.size();
    }
    if (queued_.size() >= limits.max_commands) {
        reply::error(out, "ERR transaction full: at most " + std::to_string(limits.max_commands) +
                              " queued commands (option max_multi_commands)");
        failed_ = true;
        return;
    }
    if (bytes_.size() + size > limits.max_bytes) {
        reply::error(out, "ERR transaction full: its queued arguments would take more than " +
                              std::to_string(limits.max_bytes) + " bytes (option max_multi_bytes)");
        failed_ = true;
        return;
    }
    queued_.push_back(
        Queued{&spec, static_cast<std::uint32_t>(lens_.size()), static_cast<std::uint32_t>(args.size())});
    for (auto a : args) {
        bytes_.append(a);
        lens_.push_back(static_cast<std::uint32_t>(a.size()));
    }
    reply::simple(out, "QUEUED");
}

void Transaction::watch(TxKeyspace& ks, std::span<const std::string_view> args, std::uint32_t db,
                        std::int64_t now_ms) {
    for (std::size_t i = 1; i < args.size(); ++i) {
        const std::string_view key = args[i];
        // A key watched twice is watched once, as in redis-server.
        bool known = std::any_of(watches_.begin(), watches_.end(),
                                 [&](const Watch& w) { return w.db == db && w.key == key; });
        if (known) {
            continue;
        }
        const std::uint32_t s = ks.shard_of(key);
        ks.lock(s);
        Shard& shard = ks.shard(s);
        shard.select(db);
        // An expired key is deleted first: its expiry is no change after WATCH.
        shard.find(key, now_ms, false);
        const std::uint64_t version = shard.watch(key);
        ks.unlock(s);
        watches_.push_back(Watch{db, s, version, std::string(key)});
    }
}

void Transaction::involve(TxKeyspace& ks, const CommandSpec& spec, std::span<const std::string_view> args) {
    switch (spec.route) {
    case Route::one_key:
        ks.scratch.shards.push_back(ks.shard_of(args[1]));
        break;
    case Route::keys:
        for (std::size_t a = 1; a < args.size(); a += static_cast<std::size_t>(spec.step)) {
            ks.scratch.shards.push_back(ks.shard_of(args[a]));
        }
        break;
    case Route::all_shards:
        for (std::uint32_t i = 0; i < ks.count(); ++i) {
            ks.scratch.shards.push_back(i);
        }
        break;
    case Route::multi:
        multi_keys(spec, args, ks.scratch.keys);
        multi_shards(spec, args, ks.scratch.keys, ks.count(), ks.scratch.locked);
        ks.scratch.shards.insert(ks.scratch.shards.end(), ks.scratch.locked.begin(), ks.scratch.locked.end());
        break;
    default:
        break;
    }
}

void Transaction::run(TxKeyspace& ks, const CommandSpec& spec, std::span<const std::string_view> args,
                      const ConnectionFacts& facts, std::int64_t now_ms, std::string& out) {
    const std::uint32_t db = *facts.db;
    switch (spec.route) {
    case Route::connection:
        if (spec.id == Cmd::unwatch) {
            // EXEC releases the watched keys anyway, once its commands have run.
            reply::ok(out);
            return;
        }
        run_local(spec, args, facts, out);
        return;
    case Route::one_key: {
        const std::uint32_t s = ks.shard_of(args[1]);
        Shard& shard = ks.shard(s);
        shard.select(db);
        run_one_key(shard, spec, args, ks.settings(s), now_ms, out);
        ks.ran(spec, args, {}, db);
        return;
    }
    case Route::keys:
    case Route::all_shards: {
        if (!check_fanout(spec, args, out)) {
            return;
        }
        const std::uint32_t count = ks.count();
        ks.scratch.shares.resize(count);
        ks.scratch.parts.resize(count);
        ks.scratch.share_of.resize(count);
        for (auto& p : ks.scratch.parts) {
            p.clear();
        }
        split_fanout(spec, args, count, ks.scratch.keys,
                     [&](std::uint32_t i) -> std::vector<std::uint32_t>& { return ks.scratch.parts[i]; });
        for (std::uint32_t i = 0; i < count; ++i) {
            ks.scratch.share_of[i] = ks.scratch.parts[i].empty() ? nullptr : &ks.scratch.shares[i];
            if (ks.scratch.share_of[i] != nullptr) {
                Shard& shard = ks.shard(i);
                shard.select(db);
                run_part(shard, spec, args, ks.scratch.parts[i], now_ms, ks.scratch.shares[i]);
            }
        }
        gather(spec, args, ks.scratch.keys, ks.scratch.share_of, facts, out);
        return;
    }
    case Route::multi: {
        multi_keys(spec, args, ks.scratch.keys);
        for (std::uint32_t s : ks.scratch.shards) {
            ks.shard(s).select(db);
        }
        Held held(ks, *facts.settings);
        run_multi(held, spec, args, ks.scratch.keys, now_ms, out);
        ks.ran(spec, args, ks.scratch.keys, db);
        return;
    }
    default:
        assert(!"a route queue() refuses");
        return;
    }
}

void Transaction::exec(TxKeyspace& ks, const ConnectionFacts& facts, std::int64_t now_ms, std::string& out) {
    open_ = false;
    if (failed_) {
        reply::error(out, "EXECABORT Transaction discarded because of previous errors.");
        discard();
        unwatch_all(ks, false);
        return;
    }
    // The arguments of each queued command, into bytes_.
    args_.resize(lens_.size());
    std::size_t at = 0;
    for (std::size_t i = 0; i < lens_.size(); ++i) {
        args_[i] = std::string_view(bytes_).substr(at, lens_[i]);
        at += lens_[i];
    }
    auto args_of = [&](const Queued& q) {
        return std::span<const std::string_view>(args_).subspan(q.first, q.argc);
    };
    ks.scratch.shards.clear();
    for (const Queued& q : queued_) {
        involve(ks, *q.spec, args_of(q));
    }
    for (const Watch& w : watches_) {
        ks.scratch.shards.push_back(w.shard);
    }
    std::sort(ks.scratch.shards.begin(), ks.scratch.shards.end());
    ks.scratch.shards.erase(std::unique(ks.scratch.shards.begin(), ks.scratch.shards.end()),
                            ks.scratch.shards.end());
    for (std::uint32_t s : ks.scratch.shards) {
        ks.lock(s);
    }
    bool dirty = false;
    for (const Watch& w : watches_) {
        Shard& shard = ks.shard(w.shard);
        shard.select(w.db);
        // A watched key that expired since is deleted here, which moves its version.
        shard.find(w.key, now_ms, false);
        dirty = dirty || shard.version(w.db, w.key) != w.version;
    }
    if (dirty) {
        out.append("*-1\r\n", 5);
    } else {
        reply::array(out, queued_.size());
        for (std::size_t i = 0; i < queued_.size(); ++i) {
            const Queued& q = queued_[i];
            if (runs_later(*q.spec, args_of(q))) {
                later_.push_back(Deferred{static_cast<std::uint32_t>(i), out.size()});
                continue;
            }
            run(ks, *q.spec, args_of(q), facts, now_ms, out);
        }
    }
    unwatch_all(ks, true);
    for (auto it = ks.scratch.shards.rbegin(); it != ks.scratch.shards.rend(); ++it) {
        ks.unlock(*it);
    }
    // What runs later needs the queue's arguments until its last reply is placed.
    if (later_.empty()) {
        discard();
    }
}

Transaction::Later Transaction::next_later() const {
    assert(executing());
    const Queued& q = queued_[later_[next_].queued];
    return Later{q.spec, std::span<const std::string_view>(args_).subspan(q.first, q.argc)};
}

void Transaction::place(std::string& out, std::size_t from) {
    assert(executing() && from <= out.size());
    const std::size_t at = later_[next_].at + shift_;
    std::rotate(out.begin() + static_cast<std::ptrdiff_t>(at),
                out.begin() + static_cast<std::ptrdiff_t>(from), out.end());
    shift_ += out.size() - from;
    if (++next_ == later_.size()) {
        discard();
    }
}

bool Transaction::dirty(TxKeyspace& ks) const {
    bool moved = false;
    for (const Watch& w : watches_) {
        ks.lock(w.shard);
        moved = moved || ks.shard(w.shard).version(w.db, w.key) != w.version;
        ks.unlock(w.shard);
    }
    return moved;
}

void Transaction::unwatch_all(TxKeyspace& ks, bool locked) {
    for (const Watch& w : watches_) {
        if (!locked) {
            ks.lock(w.shard);
        }
        ks.shard(w.shard).unwatch(w.db, w.key);
        if (!locked) {
            ks.unlock(w.shard);
        }
    }
    watches_.clear();
}

void Transaction::discard() {
    open_ = false;
    failed_ = false;
    // What a large transaction grew goes back rather than staying with the connection.
    if (bytes_.capacity() > retain_limit || lens_.capacity() * sizeof(std::uint32_t) > retain_limit ||
        args_.capacity() * sizeof(std::string_view) > retain_limit) {
        release();
    }
    queued_.clear();
    lens_.clear();
    bytes_.clear();
    later_.clear();
    next_ = 0;
    shift_ = 0;
}

void Transaction::release() {
    std::string().swap(bytes_);
    std::vector<std::uint32_t>().swap(lens_);
    std::vector<Queued>().swap(queued_);
    std::vector<std::string_view>().swap(args_);
    std::vector<Deferred>().swap(later_);
}

void Transaction::end(TxKeyspace& ks) {
    discard();
    unwatch_all(ks, false);
    // A connection state is reused by the next connection, which may never use MULTI.
    release();
}

} // namespace gatio::resp
