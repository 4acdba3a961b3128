// COPY and OBJECT: a value copied whole to another key (of any shard and database), and how
// redis-server 7.0 would hold a value (OBJECT ENCODING, REFCOUNT, IDLETIME, FREQ).
#include <cassert>
#include <cstdint>

#include "commands.hpp"
#include "parser.hpp"
#include "reply.hpp"
#include "text.hpp"
#include "zset.hpp"

namespace gatio::resp {

namespace {

// redis-server's limits for its compact forms: an integer of at most 20 characters is held as a
// number, a string of at most 44 bytes inline with its header (embstr), and 0 to 9999 are shared.
constexpr std::size_t max_int_length = 20;
constexpr std::size_t max_embstr_length = 44;
constexpr std::int64_t shared_integers = 10000;

bool held_as_int(const Shard::Entry& e) {
    switch (e.form) {
    case StringForm::own_int:
        return true;
    case StringForm::chosen:
        return e.value.size() <= max_int_length && parse_int(e.value).has_value();
    case StringForm::raw:
    case StringForm::text:
        return false;
    }
    return false;
}

std::string_view encoding(const Shard::Entry& e) {
    switch (e.type) {
    case Type::string:
        if (held_as_int(e)) {
            return "int";
        }
        return e.form != StringForm::raw && e.value.size() <= max_embstr_length ? "embstr" : "raw";
    case Type::hash:
        return static_cast<const HashValue&>(*e.coll).fields().indexed() ? "hashtable" : "listpack";
    case Type::list:
        return "quicklist";
    case Type::set:
        return static_cast<const SetValue&>(*e.coll).members().indexed() ? "hashtable" : "intset";
    case Type::zset:
        return static_cast<const ZSetValue&>(*e.coll).small() ? "listpack" : "skiplist";
    }
    return "raw";
}

// redis-server shares the small integers it holds unless an LRU policy with a memory limit needs
// each value's own access time; a shared value reports INT_MAX references.
std::int64_t refcount(const Shard::Entry& e, const ServerSettings& settings) {
    if (e.type != Type::string || e.form != StringForm::chosen || !held_as_int(e)) {
        return 1;
    }
    const std::int64_t v = *parse_int(e.value);
    const bool sharing = settings.max_memory == 0 || settings.policy != EvictionPolicy::allkeys_lru;
    return sharing && v >= 0 && v < shared_integers ? INT32_MAX : 1;
}

constexpr std::string_view object_subcommands[] = {"encoding", "refcount", "idletime", "freq"};

} // namespace

bool object_subcommand_ok(std::span<const std::string_view> args, std::string& out) {
    for (std::string_view sub : object_subcommands) {
        if (is(args[1], sub)) {
            if (args.size() != 3) {
                arity_error(std::string("object|").append(sub), out);
                return false;
            }
            return true;
        }
    }
    unknown_subcommand(args[1], "OBJECT", out);
    return false;
}

void object_command(ShardsOf& shards, std::span<const std::string_view> args, std::int64_t now_ms,
                    std::string& out) {
    if (!object_subcommand_ok(args, out)) {
        return;
    }
    // OBJECT looks without touching: the key's idle time stays what it was.
    const Shard::Entry* e = shards(args[2]).find(args[2], now_ms, false);
    if (e == nullptr) {
        reply::nil(out);
    } else if (is(args[1], "encoding")) {
        reply::bulk(out, encoding(*e));
    } else if (is(args[1], "refcount")) {
        reply::integer(out, refcount(*e, shards.settings()));
    } else if (is(args[1], "idletime")) {
        reply::integer(out, Shard::idle_seconds(*e, now_ms));
    } else {
        // Neither policy gatiod offers counts accesses.
        reply::error(out,
                     "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note "
                     "that when switching between policies at runtime LRU and LFU data will take some time "
                     "to adjust.");
    }
}

bool copy_options(std::span<const std::string_view> args, std::uint32_t databases, std::uint32_t& db,
                  bool& replace, std::string& out) {
    replace = false;
    for (std::size_t j = 3; j < args.size(); ++j) {
        if (is(args[j], "replace")) {
            replace = true;
            continue;
        }
        if (!is(args[j], "db") || j + 1 >= args.size()) {
            reply::error(out, reply::syntax_error);
            return false;
        }
        auto v = parse_int(args[++j]);
        if (!v) {
            reply::error(out, reply::not_integer);
            return false;
        }
        if (*v < INT32_MIN || *v > INT32_MAX) {
            reply::error(out, reply::int_range);
            return false;
        }
        if (*v < 0 || *v >= static_cast<std::int64_t>(databases)) {
            reply::error(out, "ERR DB index is out of range");
            return false;
        }
        db = static_cast<std::uint32_t>(*v);
    }
    return true;
}

void copy_command(ShardsOf& shards, std::span<const std::string_view> args, std::int64_t now_ms,
                  std::string& out) {
    Shard& from_shard = shards(args[1]);
    Shard& to_shard = shards(args[2]);
    const std::uint32_t db = from_shard.selected();
    std::uint32_t to_db = db;
    bool replace = false;
    if (!copy_options(args, from_shard.databases(), to_db, replace, out)) {
        return;
    }
    if (to_db == db && args[1] == args[2]) {
        reply::error(out, "ERR source and destination objects are the same");
        return;
    }
    const Shard::Entry* from = from_shard.find(args[1], now_ms);
    if (from == nullptr) {
        reply::integer(out, 0);
        return;
    }
    // The destination may be another database of the same shard: its map is another, so `from`
    // stays valid while the copy is made there.
    to_shard.select(to_db);
    if (to_shard.find(args[2], now_ms, false) != nullptr) {
        if (!replace) {
            to_shard.select(db);
            reply::integer(out, 0);
            return;
        }
        to_shard.erase(args[2]);
    }
    Shard::Entry& to = to_shard.insert(args[2], now_ms);
    if (from->type == Type::string) {
        // A copied integer is a number of its own, never a shared one.
        to_shard.set_string(to, from->value, held_as_int(*from) ? StringForm::own_int : from->form);
    } else {
        to_shard.make_collection(to, from->type, from->coll->clone());
    }
    to_shard.set_expire(to, from->expire_at);
    to_shard.select(db);
    reply::integer(out, 1);
}

} // namespace gatio::resp
