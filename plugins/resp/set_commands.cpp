// The set commands: those of one key run on the key's shard (run_set); SMOVE, SINTER,
// SINTERCARD, SUNION, SDIFF and the STORE forms, whose keys may live on several shards, run
// with every shard involved reachable (run_set_multi).
#include <algorithm>
#include <cassert>
#include <charconv>
#include <cstdint>
#include <memory>
#include <numeric>
#include <vector>

#include "commands.hpp"
#include "parser.hpp"
#include "reply.hpp"
#include "text.hpp"

namespace gatio::resp {

namespace {

SetValue& set_of(Shard::Entry& e) {
    return static_cast<SetValue&>(*e.coll);
}

void drop_if_empty(Shard& shard, std::string_view key, Shard::Entry& e) {
    if (set_of(e).size() == 0) {
        shard.erase(key);
    }
}

void members_reply(std::string& out, const SetValue& s) {
    reply::array(out, s.size());
    for (const auto& m : s.members().items()) {
        reply::bulk(out, m);
    }
}

void spop(Shard& shard, std::span<const std::string_view> args, std::int64_t now_ms, std::string& out) {
    if (args.size() > 3) {
        reply::error(out, reply::syntax_error);
        return;
    }
    bool wrong = false;
    if (args.size() == 2) {
        Shard::Entry* e = find_typed(shard, Type::set, args[1], now_ms, out, wrong);
        if (wrong) {
            return;
        }
        if (e == nullptr) {
            reply::nil(out);
            return;
        }
        SetValue& s = set_of(*e);
        const InlineString m = s.members().at(shard.random() % s.size());
        const std::size_t cost = Shard::value_cost(*e);
        s.remove(m);
        shard.value_changed(*e, cost);
        reply::bulk(out, m);
        drop_if_empty(shard, args[1], *e);
        return;
    }
    auto count = parse_int(args[2]);
    if (!count || *count < 0) {
        reply::error(out, "ERR value is out of range, must be positive");
        return;
    }
    Shard::Entry* e = find_typed(shard, Type::set, args[1], now_ms, out, wrong);
    if (wrong) {
        return;
    }
    if (e == nullptr || *count == 0) {
        reply::array(out, 0);
        return;
    }
    SetValue& s = set_of(*e);
    if (static_cast<std::uint64_t>(*count) >= s.size()) {
        members_reply(out, s);
        shard.erase(args[1]);
        return;
    }
    auto picks = distinct_picks(shard, s.size(), static_cast<std::size_t>(*count));
    std::vector<InlineString> gone;
    gone.reserve(picks.size());
    for (auto i : picks) {
        gone.push_back(s.members().at(i));
    }
    const std::size_t cost = Shard::value_cost(*e);
    reply::array(out, gone.size());
    for (const auto& m : gone) {
        reply::bulk(out, m);
        s.remove(m);
    }
    shard.value_changed(*e, cost);
}

void srandmember(Shard& shard, std::span<const std::string_view> args, std::int64_t now_ms,
                 std::string& out) {
    if (args.size() > 3) {
        reply::error(out, reply::syntax_error);
        return;
    }
    bool wrong = false;
    if (args.size() == 2) {
        Shard::Entry* e = find_typed(shard, Type::set, args[1], now_ms, out, wrong);
        if (wrong) {
            return;
        }
        if (e == nullptr) {
            reply::nil(out);
        } else {
            const SetValue& s = set_of(*e);
            reply::bulk(out, s.members().at(shard.random() % s.size()));
        }
        return;
    }
    auto count = parse_int(args[2]);
    if (!count) {
        reply::error(out, reply::not_integer);
        return;
    }
    if (*count == INT64_MIN) {
        reply::error(out, "ERR value is out of range, value must between -9223372036854775807 and "
                          "9223372036854775807");
        return;
    }
    Shard::Entry* e = find_typed(shard, Type::set, args[1], now_ms, out, wrong);
    if (wrong) {
        return;
    }
    if (e == nullptr || *count == 0) {
        reply::array(out, 0);
        return;
    }
    const SetValue& s = set_of(*e);
    if (*count < 0) {
        const auto n = static_cast<std::uint64_t>(-*count);
        reply::array(out, n);
        for (std::uint64_t i = 0; i < n; ++i) {
            reply::bulk(out, s.members().at(shard.random() % s.size()));
        }
        return;
    }
    if (static_cast<std::uint64_t>(*count) >= s.size()) {
        members_reply(out, s);
        return;
    }
    auto picks = distinct_picks(shard, s.size(), static_cast<std::size_t>(*count));
    reply::array(out, picks.size());
    for (auto i : picks) {
        reply::bulk(out, s.members().at(i));
    }
}

// SSCAN: as HSCAN (hash_commands.cpp): a set of integers answers whole with cursor 0, an
// indexed one is walked from its last position down.
void sscan(Shard& shard, std::span<const std::string_view> args, std::int64_t now_ms, std::string& out) {
    std::uint64_t cursor = 0;
    ScanOptions opts;
    Shard::Entry* e = begin_scan(shard, args, Type::set, now_ms, out, cursor, opts);
    if (e == nullptr) {
        return;
    }
    const auto& members = set_of(*e).members();
    const auto [from, to] = scan_window(members.size(), members.indexed(), cursor, opts, out);
    const auto keep = [&](std::string_view m) { return !opts.match || glob_match(opts.pattern, m, false); };
    std::size_t n = 0;
    for (std::size_t i = from; i > to; --i) {
        n += keep(members.at(i - 1)) ? 1 : 0;
    }
    reply::array(out, n);
    if (!members.indexed()) {
        for (const auto& m : members.items()) {
            if (keep(m)) {
                reply::bulk(out, m);
            }
        }
        return;
    }
    for (std::size_t i = from; i > to; --i) {
        if (keep(members.at(i - 1))) {
            reply::bulk(out, members.at(i - 1));
        }
    }
}

} // namespace

// A partial shuffle.
std::vector<std::uint32_t> distinct_picks(Shard& shard, std::size_t size, std::size_t n) {
    std::vector<std::uint32_t> order(size);
    std::iota(order.begin(), order.end(), 0u);
    for (std::size_t i = 0; i < n; ++i) {
        std::swap(order[i], order[i + shard.random() % (size - i)]);
    }
    order.resize(n);
    return order;
}

void run_set(Shard& shard, const CommandSpec& spec, std::span<const std::string_view> args,
             std::int64_t now_ms, std::string& out) {
    const std::string_view key = args[1];
    switch (spec.id) {
    case Cmd::spop:
        spop(shard, args, now_ms, out);
        return;
    case Cmd::srandmember:
        srandmember(shard, args, now_ms, out);
        return;
    case Cmd::sscan:
        sscan(shard, args, now_ms, out);
        return;
    default:
        break;
    }
    bool wrong = false;
    Shard::Entry* e = find_typed(shard, Type::set, key, now_ms, out, wrong);
    if (wrong) {
        return;
    }
    switch (spec.id) {
    case Cmd::sadd: {
        if (e == nullptr) {
            e = &shard.insert(key, now_ms);
            shard.make_collection(*e, Type::set, std::make_unique<SetValue>());
        }
        const std::size_t cost = Shard::value_cost(*e);
        std::int64_t added = 0;
        for (std::size_t i = 2; i < args.size(); ++i) {
            added += set_of(*e).add(args[i]) ? 1 : 0;
        }
        shard.value_changed(*e, cost);
        reply::integer(out, added);
        break;
    }
    case Cmd::srem: {
        std::int64_t removed = 0;
        if (e != nullptr) {
            const std::size_t cost = Shard::value_cost(*e);
            for (std::size_t i = 2; i < args.size(); ++i) {
                removed += set_of(*e).remove(args[i]) ? 1 : 0;
            }
            shard.value_changed(*e, cost);
            drop_if_empty(shard, key, *e);
        }
        reply::integer(out, removed);
        break;
    }
    case Cmd::scard:
        reply::integer(out, e != nullptr ? static_cast<std::int64_t>(set_of(*e).size()) : 0);
        break;
    case Cmd::sismember:
        reply::integer(out, e != nullptr && set_of(*e).contains(args[2]) ? 1 : 0);
        break;
    case Cmd::smismember:
        reply::array(out, args.size() - 2);
        for (std::size_t i = 2; i < args.size(); ++i) {
            reply::integer(out, e != nullptr && set_of(*e).contains(args[i]) ? 1 : 0);
        }
        break;
    case Cmd::smembers:
        if (e == nullptr) {
            reply::array(out, 0);
        } else {
            members_reply(out, set_of(*e));
        }
        break;
    default:
        assert(!"not a set command");
        break;
    }
}

bool set_multi_keys(const CommandSpec& spec, std::span<const std::string_view> args,
                    std::vector<std::uint32_t>& keys) {
    keys.clear();
    if (spec.id == Cmd::sintercard) {
        auto n = parse_int(args[1]);
        if (!n || *n < 1 || *n > static_cast<std::int64_t>(args.size()) - 2) {
            return false;
        }
        for (std::int64_t i = 0; i < *n; ++i) {
            keys.push_back(static_cast<std::uint32_t>(2 + i));
        }
        return true;
    }
    const std::size_t last = spec.id == Cmd::smove ? 2 : args.size() - 1;
    for (std::size_t i = 1; i <= last; ++i) {
        keys.push_back(static_cast<std::uint32_t>(i));
    }
    return true;
}

namespace {

void smove(ShardsOf& shards, std::span<const std::string_view> args, std::int64_t now_ms, std::string& out) {
    Shard& src_shard = shards(args[1]);
    Shard& dst_shard = shards(args[2]);
    bool wrong = false;
    Shard::Entry* src = find_typed(src_shard, Type::set, args[1], now_ms, out, wrong);
    if (wrong) {
        return;
    }
    Shard::Entry* dst = find_typed(dst_shard, Type::set, args[2], now_ms, out, wrong);
    if (wrong) {
        return;
    }
    if (src == nullptr) {
        reply::integer(out, 0);
        return;
    }
    if (src == dst) {
        reply::integer(out, set_of(*src).contains(args[3]) ? 1 : 0);
        return;
    }
    std::size_t cost = Shard::value_cost(*src);
    if (!set_of(*src).remove(args[3])) {
        reply::integer(out, 0);
        return;
    }
    src_shard.value_changed(*src, cost);
    drop_if_empty(src_shard, args[1], *src);
    if (dst == nullptr) {
        dst = &dst_shard.insert(args[2], now_ms);
        dst_shard.make_collection(*dst, Type::set, std::make_unique<SetValue>());
    }
    cost = Shard::value_cost(*dst);
    set_of(*dst).add(args[3]);
    dst_shard.value_changed(*dst, cost);
    reply::integer(out, 1);
}

// SINTER, SUNION, SDIFF and their STORE forms, and SINTERCARD: every key's type is checked
// first; the result is built as a set, so that it answers in the order redis-server's
// result set has.
void set_algebra(ShardsOf& shards, const CommandSpec& spec, std::span<const std::string_view> args,
                 std::span<const std::uint32_t> keys, std::int64_t now_ms, std::string& out) {
    std::int64_t limit = 0;
    if (spec.id == Cmd::sintercard) {
        auto n = parse_int(args[1]);
        if (!n || *n < 1) {
            reply::error(out, "ERR numkeys should be greater than 0");
            return;
        }
        if (*n > static_cast<std::int64_t>(args.size()) - 2) {
            reply::error(out, "ERR Number of keys can't be greater than number of args");
            return;
        }
        for (std::size_t j = 2 + static_cast<std::size_t>(*n); j < args.size(); j += 2) {
            if (is(args[j], "limit") && j + 1 < args.size()) {
                auto v = parse_int(args[j + 1]);
                if (!v || *v < 0) {
                    reply::error(out, "ERR LIMIT can't be negative");
                    return;
                }
                limit = *v;
            } else {
                reply::error(out, reply::syntax_error);
                return;
            }
        }
    }
    const bool store =
        spec.id == Cmd::sinterstore || spec.id == Cmd::sunionstore || spec.id == Cmd::sdiffstore;
    const std::span<const std::uint32_t> sources = store ? keys.subspan(1) : keys;
    std::vector<const SetValue*> sets;
    sets.reserve(sources.size());
    for (std::uint32_t k : sources) {
        bool wrong = false;
        Shard::Entry* e = find_typed(shards(args[k]), Type::set, args[k], now_ms, out, wrong);
        if (wrong) {
            return;
        }
        sets.push_back(e != nullptr ? &set_of(*e) : nullptr);
    }
    SetValue result;
    std::int64_t card = 0;
    switch (spec.id) {
    case Cmd::sinter:
    case Cmd::sinterstore:
    case Cmd::sintercard: {
        if (std::find(sets.begin(), sets.end(), nullptr) != sets.end()) {
            break;
        }
        // The smallest set is walked; its members present in every other set are kept.
        const SetValue* smallest = *std::min_element(sets.begin(), sets.end(),
                                                     [](auto* x, auto* y) { return x->size() < y->size(); });
        for (const auto& m : smallest->members().items()) {
            bool everywhere = true;
            for (const SetValue* s : sets) {
                everywhere = everywhere && (s == smallest || s->contains(m));
            }
            if (!everywhere) {
                continue;
            }
            if (spec.id == Cmd::sintercard) {
                ++card;
                if (limit != 0 && card >= limit) {
                    break;
                }
            } else {
                result.add(m);
            }
        }
        break;
    }
    case Cmd::sunion:
    case Cmd::sunionstore:
        for (const SetValue* s : sets) {
            if (s != nullptr) {
                for (const auto& m : s->members().items()) {
                    result.add(m);
                }
            }
        }
        break;
    default: // SDIFF, SDIFFSTORE: the first set less every other one
        if (sets[0] == nullptr) {
            break;
        }
        for (const auto& m : sets[0]->members().items()) {
            bool elsewhere = false;
            for (std::size_t i = 1; i < sets.size() && !elsewhere; ++i) {
                elsewhere = sets[i] != nullptr && sets[i]->contains(m);
            }
            if (!elsewhere) {
                result.add(m);
            }
        }
        break;
    }
    if (spec.id == Cmd::sintercard) {
        reply::integer(out, card);
        return;
    }
    if (!store) {
        members_reply(out, result);
        return;
    }
    // The destination is replaced whatever it held, or deleted when the result is empty.
    Shard& dst_shard = shards(args[1]);
    dst_shard.erase(args[1]);
    const auto n = static_cast<std::int64_t>(result.size());
    if (n > 0) {
        auto stored = std::make_unique<SetValue>();
        for (const auto& m : result.members().items()) {
            stored->add(m);
        }
        Shard::Entry& e = dst_shard.insert(args[1], now_ms);
        dst_shard.make_collection(e, Type::set, std::move(stored));
    }
    reply::integer(out, n);
}

} // namespace

void run_set_multi(ShardsOf& shards, const CommandSpec& spec, std::span<const std::string_view> args,
                   std::span<const std::uint32_t> keys, std::int64_t now_ms, std::string& out) {
    if (spec.id == Cmd::smove) {
        smove(shards, args, now_ms, out);
    } else {
        set_algebra(shards, spec, args, keys, now_ms, out);
    }
}

} // namespace gatio::resp
