// The blocking commands and ZMPOP (their checks in redis-server 7.0's order), and the registry
// of blocked requests (see blocking.hpp).
#include "blocking.hpp"

#include <algorithm>
#include <array>
#include <cassert>
#include <charconv>
#include <cmath>
#include <cstring>
#include <optional>

#include "parser.hpp"
#include "reply.hpp"
#include "text.hpp"

namespace gatio::resp {

namespace {

constexpr std::string_view null_array = "*-1\r\n";

// LEFT or RIGHT (true: LEFT), MIN or MAX (true: MIN); nullopt otherwise.
std::optional<bool> end_word(std::string_view arg, std::string_view first, std::string_view second) {
    if (is(arg, first)) {
        return true;
    }
    if (is(arg, second)) {
        return false;
    }
    return std::nullopt;
}

// LMPOP's and ZMPOP's arguments from `numkeys` on: the keys, the end and COUNT.
struct Mpop {
    std::size_t first_key = 0;
    std::size_t keys = 0;
    bool front = true; // LEFT or MIN
    std::int64_t count = 1;
};

std::optional<Mpop> parse_mpop(std::span<const std::string_view> args, std::size_t numkeys, bool zset,
                               std::string& out) {
    auto n = parse_int(args[numkeys]);
    if (!n || *n < 1) {
        reply::error(out, "ERR numkeys should be greater than 0");
        return std::nullopt;
    }
    if (*n > static_cast<std::int64_t>(args.size()) - static_cast<std::int64_t>(numkeys) - 2) {
        reply::error(out, reply::syntax_error);
        return std::nullopt;
    }
    Mpop m;
    m.first_key = numkeys + 1;
    m.keys = static_cast<std::size_t>(*n);
    const std::size_t where = m.first_key + m.keys;
    auto front = zset ? end_word(args[where], "min", "max") : end_word(args[where], "left", "right");
    if (!front) {
        reply::error(out, reply::syntax_error);
        return std::nullopt;
    }
    m.front = *front;
    for (std::size_t j = where + 1; j < args.size(); j += 2) {
        if (is(args[j], "count") && j + 1 < args.size() && j == where + 1) {
            auto v = parse_int(args[j + 1]);
            if (!v || *v < 1) {
                reply::error(out, "ERR count should be greater than 0");
                return std::nullopt;
            }
            m.count = *v;
        } else {
            reply::error(out, reply::syntax_error);
            return std::nullopt;
        }
    }
    return m;
}

// A timeout in seconds as redis-server 7.0 reads one (getTimeoutFromObjectOrReply): a long
// double, in milliseconds cut to a whole number (0.0001 waits for ever), a value past the range
// of a 64-bit integer converting to its minimum (so negative, as on x86-64), and a deadline past
// the end of time waiting for ever.
bool parse_timeout(std::string_view arg, std::int64_t now_ms, std::int64_t& deadline_ms, std::string& out) {
    auto v = parse_long_double(arg);
    if (!v) {
        reply::error(out, "ERR timeout is not a float or out of range");
        return false;
    }
    const long double ms = *v * 1000.0L;
    const bool fits = ms > -9223372036854775808.0L - 1.0L && ms < 9223372036854775808.0L;
    const std::int64_t t = fits ? static_cast<std::int64_t>(ms) : INT64_MIN;
    if (t < 0) {
        reply::error(out, "ERR timeout is negative");
        return false;
    }
    deadline_ms = t == 0 || t > INT64_MAX - now_ms ? 0 : now_ms + t;
    return true;
}

Type wanted(Cmd id) {
    switch (id) {
    case Cmd::bzpopmin:
    case Cmd::bzpopmax:
    case Cmd::bzmpop:
    case Cmd::zmpop:
        return Type::zset;
    default:
        return Type::list;
    }
}

const CommandSpec& spec_of(std::string_view name) {
    const CommandSpec* s = find_command(name);
    assert(s != nullptr);
    return *s;
}

std::string_view count_text(std::int64_t count, std::array<char, 24>& buf) {
    auto r = std::to_chars(buf.data(), buf.data() + buf.size(), count);
    return {buf.data(), static_cast<std::size_t>(r.ptr - buf.data())};
}

// ZMPOP's answer from one sorted set that holds members: the key, then each member with its score.
// ZPOPMIN's reply is written at the end of `out` and reshaped behind it, so no scratch is needed.
void zmpop_key(Shard& shard, std::string_view key, bool min, std::int64_t count, std::int64_t now_ms,
               std::string& out) {
    static const CommandSpec& zpopmin = spec_of("zpopmin");
    static const CommandSpec& zpopmax = spec_of("zpopmax");
    std::array<char, 24> buf{};
    const std::array<std::string_view, 3> pop{min ? "zpopmin" : "zpopmax", key, count_text(count, buf)};
    const std::size_t flat_at = out.size();
    run_zset(shard, min ? zpopmin : zpopmax, pop, now_ms, out);
    const std::size_t flat_end = out.size();
    // ZPOPMIN's flat "*2n" array of member, score, member, score...
    const std::size_t head = out.find("\r\n", flat_at) + 2;
    const auto items = parse_int(std::string_view(out).substr(flat_at + 1, head - flat_at - 3));
    const std::size_t pairs = items ? static_cast<std::size_t>(*items / 2) : 0;
    // Room for the reshaped copy up front: the views into `out` below stay valid.
    out.reserve(flat_end + (flat_end - flat_at) + key.size() + 4 * pairs + 64);
    reply::array(out, 2);
    reply::bulk(out, key);
    reply::array(out, pairs);
    std::string_view rest = std::string_view(out).substr(head, flat_end - head);
    while (!rest.empty()) {
        const std::size_t a = bulk_reply_size(rest);
        const std::size_t b = bulk_reply_size(rest.substr(a));
        reply::array(out, 2);
        out.append(rest.substr(0, a + b));
        rest.remove_prefix(a + b);
    }
    out.erase(flat_at, flat_end - flat_at);
}

void zmpop(ShardsOf& shards, std::span<const std::string_view> args, std::int64_t now_ms, std::string& out) {
    auto m = parse_mpop(args, 1, true, out);
    if (!m) {
        return;
    }
    for (std::size_t k = m->first_key; k < m->first_key + m->keys; ++k) {
        bool wrong = false;
        Shard& shard = shards(args[k]);
        if (find_typed(shard, Type::zset, args[k], now_ms, out, wrong) != nullptr) {
            zmpop_key(shard, args[k], m->front, m->count, now_ms, out);
            return;
        }
        if (wrong) {
            return;
        }
    }
    out.append(null_array);
}

// Serves the request from args[key], which holds the command's type: the reply it gets.
void serve_key(ShardsOf& shards, const CommandSpec& spec, std::span<const std::string_view> args,
               std::size_t key, std::int64_t now_ms, std::string& out) {
    static const CommandSpec& lpop = spec_of("lpop");
    static const CommandSpec& rpop = spec_of("rpop");
    static const CommandSpec& zpopmin = spec_of("zpopmin");
    static const CommandSpec& zpopmax = spec_of("zpopmax");
    static const CommandSpec& lmove = spec_of("lmove");
    static const CommandSpec& lmpop = spec_of("lmpop");
    Shard& shard = shards(args[key]);
    switch (spec.id) {
    case Cmd::blpop:
    case Cmd::brpop: {
        const bool left = spec.id == Cmd::blpop;
        const std::array<std::string_view, 2> pop{left ? "lpop" : "rpop", args[key]};
        reply::array(out, 2);
        reply::bulk(out, args[key]);
        run_list(shard, left ? lpop : rpop, pop, now_ms, out); // the key holds data: one bulk
        return;
    }
    case Cmd::bzpopmin:
    case Cmd::bzpopmax: {
        const bool min = spec.id == Cmd::bzpopmin;
        const std::array<std::string_view, 2> pop{min ? "zpopmin" : "zpopmax", args[key]};
        // "*2" member score becomes "*3" key member score.
        reply::array(out, 3);
        reply::bulk(out, args[key]);
        const std::size_t at = out.size();
        run_zset(shard, min ? zpopmin : zpopmax, pop, now_ms, out);
        out.erase(at, out.find("\r\n", at) + 2 - at);
        return;
    }
    case Cmd::blmove:
    case Cmd::brpoplpush: {
        const bool blmove = spec.id == Cmd::blmove;
        const std::array<std::string_view, 5> move{"lmove", args[1], args[2], blmove ? args[3] : "right",
                                                   blmove ? args[4] : "left"};
        run_multi(shards, lmove, move, {}, now_ms, out);
        return;
    }
    case Cmd::blmpop:
    case Cmd::bzmpop: {
        std::string ignored;
        auto m = parse_mpop(args, 2, spec.id == Cmd::bzmpop, ignored);
        assert(m);
        if (spec.id == Cmd::bzmpop) {
            zmpop_key(shard, args[key], m->front, m->count, now_ms, out);
            return;
        }
        std::array<char, 24> buf{};
        const std::array<std::string_view, 6> pop{
            "lmpop", "1", args[key], m->front ? "left" : "right", "count", count_text(m->count, buf)};
        run_multi(shards, lmpop, pop, {}, now_ms, out);
        return;
    }
    default:
        assert(!"not a blocking command");
        return;
    }
}

bool moves(Cmd id) {
    return id == Cmd::blmove || id == Cmd::brpoplpush;
}

// Every shard of the registry, which the caller holds (those of the command's keys, at least).
class Held final : public ShardsOf {
public:
    // Blocking commands read no setting: the shard's own are given.
    Held(BlockRegistry& r, std::uint32_t shard) : r_(r), shard_(shard) {}
    Shard& operator()(std::string_view key) override { return r_.shard(r_.shard_of(key)); }
    std::size_t count() override { return r_.shard_count(); }
    Shard& nth(std::size_t i) override { return r_.shard(i); }
    const ServerSettings& settings() override { return r_.settings(shard_); }

private:
    BlockRegistry& r_;
    std::uint32_t shard_;
};

} // namespace

bool is_blocking(Cmd id) {
    switch (id) {
    case Cmd::blpop:
    case Cmd::brpop:
    case Cmd::brpoplpush:
    case Cmd::blmove:
    case Cmd::blmpop:
    case Cmd::bzpopmin:
    case Cmd::bzpopmax:
    case Cmd::bzmpop:
        return true;
    default:
        return false;
    }
}

bool blocking_keys(const CommandSpec& spec, std::span<const std::string_view> args,
                   std::vector<std::uint32_t>& keys) {
    keys.clear();
    std::size_t numkeys = 0;
    switch (spec.id) {
    case Cmd::blpop:
    case Cmd::brpop:
    case Cmd::bzpopmin:
    case Cmd::bzpopmax:
        for (std::size_t i = 1; i + 1 < args.size(); ++i) {
            keys.push_back(static_cast<std::uint32_t>(i));
        }
        return true;
    case Cmd::blmove:
    case Cmd::brpoplpush:
        keys.push_back(1);
        keys.push_back(2);
        return true;
    case Cmd::zmpop:
        numkeys = 1;
        break;
    case Cmd::blmpop:
    case Cmd::bzmpop:
        numkeys = 2;
        break;
    default:
        assert(!"not a blocking command");
        return false;
    }
    auto n = parse_int(args[numkeys]);
    if (!n || *n < 1 ||
        *n > static_cast<std::int64_t>(args.size()) - static_cast<std::int64_t>(numkeys) - 2) {
        return false;
    }
    for (std::int64_t i = 0; i < *n; ++i) {
        keys.push_back(static_cast<std::uint32_t>(numkeys + 1 + static_cast<std::size_t>(i)));
    }
    return true;
}

Attempt attempt_blocking(ShardsOf& shards, const CommandSpec& spec, std::span<const std::string_view> args,
                         std::int64_t now_ms, std::string& out, std::int64_t& deadline_ms) {
    if (spec.denyoom) {
        // redis-server refuses a denyoom command before looking at its arguments.
        for (std::size_t k = 1; k <= 2; ++k) {
            if (!shards(args[k]).make_room(now_ms)) {
                reply::error(out, reply::oom);
                return Attempt::answered;
            }
        }
    }
    std::size_t first = 1;
    std::size_t last = args.size() - 1; // one past the keys
    switch (spec.id) {
    case Cmd::blpop:
    case Cmd::brpop:
    case Cmd::bzpopmin:
    case Cmd::bzpopmax:
        if (!parse_timeout(args.back(), now_ms, deadline_ms, out)) {
            return Attempt::answered;
        }
        break;
    case Cmd::blmove:
    case Cmd::brpoplpush:
        if (spec.id == Cmd::blmove &&
            (!end_word(args[3], "left", "right") || !end_word(args[4], "left", "right"))) {
            reply::error(out, reply::syntax_error);
            return Attempt::answered;
        }
        if (!parse_timeout(args.back(), now_ms, deadline_ms, out)) {
            return Attempt::answered;
        }
        last = 2; // the source alone is looked at
        break;
    case Cmd::blmpop:
    case Cmd::bzmpop: {
        auto m = parse_mpop(args, 2, spec.id == Cmd::bzmpop, out);
        if (!m || !parse_timeout(args[1], now_ms, deadline_ms, out)) {
            return Attempt::answered;
        }
        first = m->first_key;
        last = m->first_key + m->keys;
        break;
    }
    default:
        assert(!"not a blocking command");
        return Attempt::answered;
    }
    // The first key, left to right, that holds data serves; a key of another type stops it.
    for (std::size_t k = first; k < last; ++k) {
        bool wrong = false;
        if (find_typed(shards(args[k]), wanted(spec.id), args[k], now_ms, out, wrong) != nullptr) {
            serve_key(shards, spec, args, k, now_ms, out);
            return Attempt::answered;
        }
        if (wrong) {
            return Attempt::answered;
        }
    }
    return Attempt::block;
}

void run_blocking_multi(ShardsOf& shards, const CommandSpec& spec, std::span<const std::string_view> args,
                        std::int64_t now_ms, std::string& out) {
    if (spec.id == Cmd::zmpop) {
        zmpop(shards, args, now_ms, out);
        return;
    }
    std::int64_t deadline = 0;
    if (attempt_blocking(shards, spec, args, now_ms, out, deadline) == Attempt::block) {
        // As inside MULTI: the null of the command's reply type.
        out.append(moves(spec.id) ? "$-1\r\n" : null_array);
    }
}

// ---- The registry ----

BlockRegistry::BlockRegistry(std::vector<ShardRef> shards, std::uint32_t drivers)
    : shards_(std::move(shards)), queues_(shards_.size()) {
    for (std::uint32_t d = 0; d < drivers; ++d) {
        boxes_.push_back(std::make_unique<WakeBox>());
        boxes_.back()->registry = this;
        boxes_.back()->driver = d;
    }
}

std::string BlockRegistry::queue_key(std::uint32_t db, std::string_view key) {
    std::string q(sizeof db, '\0');
    std::memcpy(q.data(), &db, sizeof db);
    q.append(key);
    return q;
}

void BlockRegistry::lock_sorted(std::vector<std::uint32_t>& shards) {
    std::sort(shards.begin(), shards.end());
    shards.erase(std::unique(shards.begin(), shards.end()), shards.end());
    for (std::uint32_t s : shards) {
        shards_[s].lock->lock();
    }
}

void BlockRegistry::unlock_sorted(const std::vector<std::uint32_t>& shards) {
    for (auto it = shards.rbegin(); it != shards.rend(); ++it) {
        shards_[*it].lock->unlock();
    }
}

Attempt BlockRegistry::block(Waiter& w, std::int64_t now_ms, std::string& out, Noted& noted) {
    std::vector<std::uint32_t>& held = noted.held;
    held.clear();
    const bool well_formed = blocking_keys(*w.spec, w.args, w.keys);
    for (std::uint32_t k : w.keys) {
        held.push_back(shard_of(w.args[k]));
    }
    lock_sorted(held);
    for (std::uint32_t s : held) {
        shards_[s].shard->select(w.db);
    }
    Held shards(*this, held.empty() ? 0 : held.front());
    std::int64_t deadline = 0;
    const Attempt a = attempt_blocking(shards, *w.spec, w.args, now_ms, out, deadline);
    if (a == Attempt::answered) {
        if (well_formed && moves(w.spec->id)) {
            note(noted, shard_of(w.args[2]), w.db, w.args[2]);
        }
    } else {
        if (moves(w.spec->id)) {
            w.keys.resize(1); // the source alone
        }
        // A key named twice waits once.
        std::size_t kept = 0;
        for (std::size_t i = 0; i < w.keys.size(); ++i) {
            bool seen = false;
            for (std::size_t j = 0; j < kept && !seen; ++j) {
                seen = w.args[w.keys[j]] == w.args[w.keys[i]];
            }
            if (!seen) {
                w.keys[kept++] = w.keys[i];
            }
        }
        w.keys.resize(kept);
        w.deadline_ms = deadline;
        w.reply.clear();
        w.state.store(Waiter::waiting, std::memory_order_relaxed);
        for (std::uint32_t k : w.keys) {
            queues_[shard_of(w.args[k])].keys[queue_key(w.db, w.args[k])].push_back(&w);
        }
        blocked_.fetch_add(1, std::memory_order_relaxed);
    }
    unlock_sorted(held);
    return a;
}

void BlockRegistry::unlist(Waiter& w) {
    for (std::uint32_t k : w.keys) {
        const std::uint32_t s = shard_of(w.args[k]);
        std::lock_guard hold(*shards_[s].lock);
        auto it = queues_[s].keys.find(queue_key(w.db, w.args[k]));
        if (it == queues_[s].keys.end()) {
            continue;
        }
        auto& q = it->second;
        q.erase(std::remove(q.begin(), q.end(), &w), q.end());
        if (q.empty()) {
            queues_[s].keys.erase(it);
        }
    }
}

bool BlockRegistry::cancel(Waiter& w) {
    std::uint8_t expected = Waiter::waiting;
    if (!w.state.compare_exchange_strong(expected, Waiter::cancelled, std::memory_order_acq_rel)) {
        return false;
    }
    unlist(w);
    blocked_.fetch_sub(1, std::memory_order_relaxed);
    return true;
}

void BlockRegistry::forget(Waiter& w) {
    WakeBox& b = *boxes_[w.driver];
    std::lock_guard hold(b.lock);
    b.served.erase(std::remove(b.served.begin(), b.served.end(), &w), b.served.end());
}

void BlockRegistry::note(Noted& noted, std::uint32_t shard, std::uint32_t db, std::string_view key) {
    const auto& keys = queues_[shard].keys;
    if (keys.empty()) {
        return;
    }
    noted.qkey.assign(sizeof db, '\0');
    std::memcpy(noted.qkey.data(), &db, sizeof db);
    noted.qkey.append(key);
    if (keys.find(noted.qkey) != keys.end()) {
        noted.keys.emplace_back(shard, noted.qkey);
    }
}

void BlockRegistry::note_command(Noted& noted, const CommandSpec& spec,
                                 std::span<const std::string_view> args, std::span<const std::uint32_t> keys,
                                 std::uint32_t db) {
    switch (spec.route) {
    case Route::one_key: {
        const std::uint32_t shard = shard_of(args[1]);
        if (spec.id != Cmd::move) {
            note(noted, shard, db, args[1]);
            return;
        }
        auto to = parse_int(args[2]);
        if (to && *to >= 0 && *to < static_cast<std::int64_t>(shards_[shard].shard->databases())) {
            note(noted, shard, static_cast<std::uint32_t>(*to), args[1]);
        }
        return;
    }
    case Route::multi:
        for (std::uint32_t k : keys) {
            note(noted, shard_of(args[k]), db, args[k]);
        }
        if (spec.id == Cmd::swapdb) {
            note_swap(noted, args);
        }
        if (spec.id == Cmd::copy) {
            note_copy(noted, args, db);
        }
        return;
    default:
        return;
    }
}

void BlockRegistry::note_copy(Noted& noted, std::span<const std::string_view> args, std::uint32_t db) {
    // A copy into another database (DB) may serve who waits for its key there.
    std::uint32_t to = db;
    bool replace = false;
    std::string ignored;
    const std::uint32_t shard = shard_of(args[2]);
    if (copy_options(args, shards_[shard].shard->databases(), to, replace, ignored) && to != db) {
        note(noted, shard, to, args[2]);
    }
}

void BlockRegistry::note_swap(Noted& noted, std::span<const std::string_view> args) {
    auto a = parse_int(args[1]);
    auto b = parse_int(args[2]);
    if (!a || !b) {
        return;
    }
    for (std::uint32_t s = 0; s < queues_.size(); ++s) {
        for (const auto& [qkey, waiters] : queues_[s].keys) {
            std::uint32_t db = 0;
            std::memcpy(&db, qkey.data(), sizeof db);
            if (db == *a || db == *b) {
                noted.keys.emplace_back(s, qkey);
            }
        }
    }
}

void BlockRegistry::serve_ready(Noted& noted, std::int64_t now_ms, std::vector<std::uint32_t>& post_to) {
    // Serving a move notes its destination: the list grows while it is walked.
    for (std::size_t i = 0; i < noted.keys.size(); ++i) {
        const std::uint32_t shard = noted.keys[i].first;
        const std::string qkey = noted.keys[i].second;
        while (serve_one(noted, shard, qkey, now_ms, post_to)) {
        }
    }
    noted.keys.clear();
}

Waiter* BlockRegistry::first_live(std::uint32_t shard, const std::string& qkey, Type type) {
    auto it = queues_[shard].keys.find(qkey);
    if (it == queues_[shard].keys.end()) {
        return nullptr;
    }
    auto& q = it->second;
    Waiter* found = nullptr;
    for (auto at = q.begin(); at != q.end() && found == nullptr;) {
        if ((*at)->state.load(std::memory_order_acquire) != Waiter::waiting) {
            at = q.erase(at); // served through another key, or cancelled: its owner unlists it
        } else if (wanted((*at)->spec->id) != type) {
            ++at; // waits for another type under this name
        } else {
            found = *at;
        }
    }
    if (q.empty()) {
        queues_[shard].keys.erase(it);
    }
    return found;
}

bool BlockRegistry::serve_one(Noted& noted, std::uint32_t shard, const std::string& qkey, std::int64_t now_ms,
                              std::vector<std::uint32_t>& post_to) {
    std::uint32_t db = 0;
    std::memcpy(&db, qkey.data(), sizeof db);
    const std::string_view key = std::string_view(qkey).substr(sizeof db);
    std::vector<std::uint32_t>& held = noted.held;
    held.assign(1, shard);
    lock_sorted(held);
    shards_[shard].shard->select(db);
    const Shard::Entry* e = shards_[shard].shard->find(key, now_ms, false);
    Waiter* w = e == nullptr ? nullptr : first_live(shard, qkey, e->type);
    if (w != nullptr && moves(w->spec->id) && shard_of(w->args[2]) != shard) {
        // A move needs its destination's shard too: both are taken in index order, and the
        // queue looked at again, since it may have changed while neither was held.
        unlock_sorted(held);
        held.assign({shard, shard_of(w->args[2])});
        lock_sorted(held);
        for (std::uint32_t s : held) {
            shards_[s].shard->select(db);
        }
        e = shards_[shard].shard->find(key, now_ms, false);
        Waiter* again = e == nullptr ? nullptr : first_live(shard, qkey, e->type);
        if (again != w) {
            unlock_sorted(held);
            return again != nullptr; // someone else is first now: the next step looks again
        }
    }
    if (w == nullptr) {
        unlock_sorted(held);
        return false;
    }
    std::uint8_t expected = Waiter::waiting;
    if (!w->state.compare_exchange_strong(expected, Waiter::served, std::memory_order_acq_rel)) {
        unlock_sorted(held);
        return true; // cancelled meanwhile: the next one
    }
    auto& q = queues_[shard].keys[qkey];
    q.erase(std::find(q.begin(), q.end(), w));
    if (q.empty()) {
        queues_[shard].keys.erase(qkey);
    }
    std::size_t at = 0;
    for (std::uint32_t k : w->keys) {
        if (w->args[k] == key) {
            at = k;
        }
    }
    Held shards(*this, shard);
    serve_key(shards, *w->spec, w->args, at, now_ms, w->reply);
    if (moves(w->spec->id)) {
        note(noted, shard_of(w->args[2]), db, w->args[2]);
    }
    unlock_sorted(held);
    blocked_.fetch_sub(1, std::memory_order_relaxed);
    hand_over(*w, post_to);
    return true;
}

void BlockRegistry::hand_over(Waiter& w, std::vector<std::uint32_t>& post_to) {
    WakeBox& b = *boxes_[w.driver];
    std::lock_guard hold(b.lock);
    b.served.push_back(&w);
    if (!b.armed) {
        b.armed = true;
        post_to.push_back(w.driver);
    }
}

void BlockRegistry::deliver(void* box) {
    WakeBox& b = *static_cast<WakeBox*>(box);
    {
        std::lock_guard hold(b.lock);
        b.taking.swap(b.served);
        b.armed = false;
    }
    for (Waiter* w : b.taking) {
        w->wake(*w);
    }
    b.taking.clear();
}

} // namespace gatio::resp
