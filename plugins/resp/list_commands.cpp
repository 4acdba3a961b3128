// The list commands: those of one key run on the key's shard (run_list); LMOVE, RPOPLPUSH
// and LMPOP, whose keys may live on several shards, run with every shard involved reachable
// (run_multi).
#include <algorithm>
#include <cassert>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "blocking.hpp"
#include "commands.hpp"
#include "parser.hpp"
#include "reply.hpp"
#include "text.hpp"

namespace gatio::resp {

namespace {

ListValue& list_of(Shard::Entry& e) {
    return static_cast<ListValue&>(*e.coll);
}

constexpr std::string_view no_such_key = "ERR no such key";

// The list at key, or nullptr with `wrong` set (and WRONGTYPE written) for another type.
Shard::Entry& new_list(Shard& shard, std::string_view key, std::int64_t now_ms) {
    Shard::Entry& e = shard.insert(key, now_ms);
    shard.make_collection(e, Type::list, std::make_unique<ListValue>());
    return e;
}

// A list left empty by a write is deleted, as redis-server deletes it.
void drop_if_empty(Shard& shard, std::string_view key, Shard::Entry& e) {
    if (list_of(e).size() == 0) {
        shard.erase(key);
    }
}

// LEFT or RIGHT: whether it is LEFT; nullopt (a syntax error) otherwise.
std::optional<bool> side(std::string_view arg) {
    if (is(arg, "left")) {
        return true;
    }
    if (is(arg, "right")) {
        return false;
    }
    return std::nullopt;
}

// redis-server's range of a list of `len` from start/stop (negative from the end): [from, to)
// or empty.
std::pair<std::size_t, std::size_t> range_of(std::int64_t start, std::int64_t stop, std::size_t len) {
    const auto n = static_cast<std::int64_t>(len);
    if (start < 0) {
        start = std::max<std::int64_t>(n + start, 0);
    }
    if (stop < 0) {
        stop = n + stop;
    }
    if (start > stop || start >= n) {
        return {0, 0};
    }
    stop = std::min(stop, n - 1);
    return {static_cast<std::size_t>(start), static_cast<std::size_t>(stop) + 1};
}

// A position from an index (negative from the end), or npos when outside the list.
std::size_t position(std::int64_t index, std::size_t len) {
    const auto n = static_cast<std::int64_t>(len);
    if (index < 0) {
        index += n;
    }
    return index < 0 || index >= n ? static_cast<std::size_t>(-1) : static_cast<std::size_t>(index);
}

void push(Shard& shard, std::span<const std::string_view> args, bool front, bool only_existing,
          std::int64_t now_ms, std::string& out) {
    bool wrong = false;
    Shard::Entry* e = find_typed(shard, Type::list, args[1], now_ms, out, wrong);
    if (wrong) {
        return;
    }
    if (e == nullptr) {
        if (only_existing) {
            reply::integer(out, 0);
            return;
        }
        e = &new_list(shard, args[1], now_ms);
    }
    const std::size_t before = Shard::value_cost(*e);
    for (std::size_t i = 2; i < args.size(); ++i) {
        list_of(*e).push(front, args[i]);
    }
    shard.value_changed(*e, before);
    reply::integer(out, static_cast<std::int64_t>(list_of(*e).size()));
}

void pop(Shard& shard, std::span<const std::string_view> args, bool front, std::int64_t now_ms,
         std::string& out) {
    std::int64_t count = 1;
    const bool with_count = args.size() == 3;
    if (with_count) {
        auto v = parse_int(args[2]);
        if (!v || *v < 0) {
            reply::error(out, "ERR value is out of range, must be positive");
            return;
        }
        count = *v;
    }
    bool wrong = false;
    Shard::Entry* e = find_typed(shard, Type::list, args[1], now_ms, out, wrong);
    if (wrong) {
        return;
    }
    if (e == nullptr) {
        out.append(with_count ? "*-1\r\n" : "$-1\r\n");
        return;
    }
    ListValue& l = list_of(*e);
    const std::size_t before = Shard::value_cost(*e);
    if (!with_count) {
        reply::bulk(out, l.pop(front));
    } else {
        const std::size_t n = std::min(static_cast<std::size_t>(count), l.size());
        reply::array(out, n);
        for (std::size_t i = 0; i < n; ++i) {
            reply::bulk(out, l.pop(front));
        }
    }
    shard.value_changed(*e, before);
    drop_if_empty(shard, args[1], *e);
}

void lpos(Shard& shard, std::span<const std::string_view> args, std::int64_t now_ms, std::string& out) {
    std::int64_t rank = 1;
    std::int64_t count = -1; // no COUNT: one reply, not an array
    std::int64_t maxlen = 0;
    for (std::size_t j = 3; j < args.size(); j += 2) {
        const bool has_value = j + 1 < args.size();
        if (is(args[j], "rank") && has_value) {
            auto v = parse_int(args[j + 1]);
            if (!v) {
                reply::error(out, reply::not_integer);
                return;
            }
            if (*v == 0) {
                reply::error(out, "ERR RANK can't be zero: use 1 to start from the first match, 2 from the "
                                  "second ... or use negative to start from the end of the list");
                return;
            }
            rank = *v;
        } else if (is(args[j], "count") && has_value) {
            auto v = parse_int(args[j + 1]);
            if (!v || *v < 0) {
                reply::error(out, "ERR COUNT can't be negative");
                return;
            }
            count = *v;
        } else if (is(args[j], "maxlen") && has_value) {
            auto v = parse_int(args[j + 1]);
            if (!v || *v < 0) {
                reply::error(out, "ERR MAXLEN can't be negative");
                return;
            }
            maxlen = *v;
        } else {
            reply::error(out, reply::syntax_error);
            return;
        }
    }
    bool wrong = false;
    Shard::Entry* e = find_typed(shard, Type::list, args[1], now_ms, out, wrong);
    if (wrong) {
        return;
    }
    if (e == nullptr) {
        out.append(count >= 0 ? "*0\r\n" : "$-1\r\n");
        return;
    }
    const auto& items = list_of(*e).items();
    const std::size_t len = items.size();
    const bool from_tail = rank < 0;
    // redis-server negates the rank, so the most negative one stays negative: any match counts.
    const std::int64_t want = rank == INT64_MIN ? 1 : (from_tail ? -rank : rank);
    std::vector<std::int64_t> found;
    std::int64_t matches = 0;
    for (std::size_t i = 0; i < len && (maxlen == 0 || static_cast<std::int64_t>(i) < maxlen); ++i) {
        const std::size_t at = from_tail ? len - 1 - i : i;
        if (items[at] != args[2]) {
            continue;
        }
        if (++matches < want) {
            continue;
        }
        found.push_back(static_cast<std::int64_t>(at));
        if (count < 0 || (count > 0 && static_cast<std::int64_t>(found.size()) >= count)) {
            break;
        }
    }
    if (count < 0) {
        if (found.empty()) {
            reply::nil(out);
        } else {
            reply::integer(out, found[0]);
        }
        return;
    }
    reply::array(out, found.size());
    for (auto at : found) {
        reply::integer(out, at);
    }
}

} // namespace

void run_list(Shard& shard, const CommandSpec& spec, std::span<const std::string_view> args,
              std::int64_t now_ms, std::string& out) {
    const std::string_view key = args[1];
    switch (spec.id) {
    case Cmd::lpush:
    case Cmd::rpush:
    case Cmd::lpushx:
    case Cmd::rpushx:
        push(shard, args, spec.id == Cmd::lpush || spec.id == Cmd::lpushx,
             spec.id == Cmd::lpushx || spec.id == Cmd::rpushx, now_ms, out);
        return;
    case Cmd::lpop:
    case Cmd::rpop:
        pop(shard, args, spec.id == Cmd::lpop, now_ms, out);
        return;
    case Cmd::lpos:
        lpos(shard, args, now_ms, out);
        return;
    default:
        break;
    }
    // The rest parse their numbers before looking at the key.
    std::int64_t a = 0;
    std::int64_t b = 0;
    std::optional<bool> before_pivot;
    switch (spec.id) {
    case Cmd::lindex:
    case Cmd::lset:
    case Cmd::lrem: {
        auto v = parse_int(args[2]);
        if (!v) {
            reply::error(out, reply::not_integer);
            return;
        }
        a = *v;
        break;
    }
    case Cmd::lrange:
    case Cmd::ltrim: {
        auto v = parse_int(args[2]);
        auto w = parse_int(args[3]);
        if (!v || !w) {
            reply::error(out, reply::not_integer);
            return;
        }
        a = *v;
        b = *w;
        break;
    }
    case Cmd::linsert:
        if (is(args[2], "before")) {
            before_pivot = true;
        } else if (is(args[2], "after")) {
            before_pivot = false;
        } else {
            reply::error(out, reply::syntax_error);
            return;
        }
        break;
    default:
        break;
    }
    bool wrong = false;
    Shard::Entry* e = find_typed(shard, Type::list, key, now_ms, out, wrong);
    if (wrong) {
        return;
    }
    ListValue* l = e != nullptr ? &list_of(*e) : nullptr;
    switch (spec.id) {
    case Cmd::llen:
        reply::integer(out, l != nullptr ? static_cast<std::int64_t>(l->size()) : 0);
        break;
    case Cmd::lindex: {
        const std::size_t at = l != nullptr ? position(a, l->size()) : static_cast<std::size_t>(-1);
        if (at == static_cast<std::size_t>(-1)) {
            reply::nil(out);
        } else {
            reply::bulk(out, l->items()[at]);
        }
        break;
    }
    case Cmd::lset: {
        if (l == nullptr) {
            reply::error(out, no_such_key);
            break;
        }
        const std::size_t at = position(a, l->size());
        if (at == static_cast<std::size_t>(-1)) {
            reply::error(out, "ERR index out of range");
            break;
        }
        const std::size_t cost = Shard::value_cost(*e);
        l->set(at, args[3]);
        shard.value_changed(*e, cost);
        reply::ok(out);
        break;
    }
    case Cmd::lrange: {
        if (l == nullptr) {
            reply::array(out, 0);
            break;
        }
        auto [from, to] = range_of(a, b, l->size());
        reply::array(out, to - from);
        for (std::size_t i = from; i < to; ++i) {
            reply::bulk(out, l->items()[i]);
        }
        break;
    }
    case Cmd::ltrim: {
        if (l != nullptr) {
            auto [from, to] = range_of(a, b, l->size());
            const std::size_t cost = Shard::value_cost(*e);
            l->keep(from, to);
            shard.value_changed(*e, cost);
            drop_if_empty(shard, key, *e);
        }
        reply::ok(out);
        break;
    }
    case Cmd::lrem: {
        std::int64_t removed = 0;
        if (l != nullptr) {
            // The most negative count stays negative once negated: every match goes.
            const bool from_tail = a < 0;
            const std::uint64_t limit = a == INT64_MIN ? 0 : static_cast<std::uint64_t>(from_tail ? -a : a);
            const std::size_t cost = Shard::value_cost(*e);
            if (from_tail) {
                for (std::size_t i = l->size();
                     i > 0 && (limit == 0 || static_cast<std::uint64_t>(removed) < limit); --i) {
                    if (l->items()[i - 1] == args[3]) {
                        l->erase(i - 1);
                        ++removed;
                    }
                }
            } else {
                for (std::size_t i = 0;
                     i < l->size() && (limit == 0 || static_cast<std::uint64_t>(removed) < limit);) {
                    if (l->items()[i] == args[3]) {
                        l->erase(i);
                        ++removed;
                    } else {
                        ++i;
                    }
                }
            }
            shard.value_changed(*e, cost);
            drop_if_empty(shard, key, *e);
        }
        reply::integer(out, removed);
        break;
    }
    case Cmd::linsert: {
        if (l == nullptr) {
            reply::integer(out, 0);
            break;
        }
        const auto& items = l->items();
        auto it = std::find(items.begin(), items.end(), args[3]);
        if (it == items.end()) {
            reply::integer(out, -1);
            break;
        }
        const auto at = static_cast<std::size_t>(it - items.begin()) + (*before_pivot ? 0 : 1);
        const std::size_t cost = Shard::value_cost(*e);
        l->insert(at, args[4]);
        shard.value_changed(*e, cost);
        reply::integer(out, static_cast<std::int64_t>(l->size()));
        break;
    }
    default:
        assert(!"not a list command");
        break;
    }
}

bool multi_keys(const CommandSpec& spec, std::span<const std::string_view> args,
                std::vector<std::uint32_t>& keys) {
    keys.clear();
    if (spec.id == Cmd::rename || spec.id == Cmd::renamenx || spec.id == Cmd::copy || spec.id == Cmd::lcs) {
        keys.push_back(1);
        keys.push_back(2);
        return true;
    }
    if (spec.id == Cmd::object) {
        if (args.size() == 3) {
            keys.push_back(2);
        }
        return true;
    }
    if (spec.id == Cmd::msetnx) {
        for (std::size_t i = 1; i < args.size(); i += 2) {
            keys.push_back(static_cast<std::uint32_t>(i));
        }
        return true;
    }
    if (spec.id >= Cmd::smove && spec.id <= Cmd::sdiffstore) {
        return set_multi_keys(spec, args, keys);
    }
    if (spec.id >= Cmd::zrangestore && spec.id <= Cmd::zintercard) {
        return zset_multi_keys(spec, args, keys);
    }
    if (spec.id == Cmd::swapdb) {
        return true; // no key: every shard is involved
    }
    if (spec.id == Cmd::zmpop || is_blocking(spec.id)) {
        return blocking_keys(spec, args, keys);
    }
    switch (spec.id) {
    case Cmd::lmove:
    case Cmd::rpoplpush:
        keys.push_back(1);
        keys.push_back(2);
        return true;
    case Cmd::lmpop: {
        auto n = parse_int(args[1]);
        if (!n || *n < 1 || *n > static_cast<std::int64_t>(args.size()) - 3) {
            return false;
        }
        for (std::int64_t i = 0; i < *n; ++i) {
            keys.push_back(static_cast<std::uint32_t>(2 + i));
        }
        return true;
    }
    default:
        assert(!"not a multi-shard command");
        return false;
    }
}

namespace {

void lmove(ShardsOf& shards, std::span<const std::string_view> args, bool from_left, bool to_left,
           std::int64_t now_ms, std::string& out) {
    Shard& src_shard = shards(args[1]);
    Shard& dst_shard = shards(args[2]);
    bool wrong = false;
    Shard::Entry* src = find_typed(src_shard, Type::list, args[1], now_ms, out, wrong);
    if (wrong) {
        return;
    }
    if (src == nullptr) {
        reply::nil(out);
        return;
    }
    // The destination's type is checked before anything moves.
    Shard::Entry* dst = find_typed(dst_shard, Type::list, args[2], now_ms, out, wrong);
    if (wrong) {
        return;
    }
    std::size_t cost = Shard::value_cost(*src);
    std::string v = list_of(*src).pop(from_left);
    src_shard.value_changed(*src, cost);
    if (dst == nullptr) {
        dst = &new_list(dst_shard, args[2], now_ms);
    }
    cost = Shard::value_cost(*dst);
    list_of(*dst).push(to_left, v);
    dst_shard.value_changed(*dst, cost);
    // Checked after the push: with one key for both, the list is not empty again.
    drop_if_empty(src_shard, args[1], *src);
    reply::bulk(out, v);
}

void lmpop(ShardsOf& shards, std::span<const std::string_view> args, std::int64_t now_ms, std::string& out) {
    auto n = parse_int(args[1]);
    if (!n || *n < 1) {
        reply::error(out, "ERR numkeys should be greater than 0");
        return;
    }
    if (*n > static_cast<std::int64_t>(args.size()) - 3) {
        reply::error(out, reply::syntax_error);
        return;
    }
    const std::size_t where = 2 + static_cast<std::size_t>(*n);
    auto left = side(args[where]);
    if (!left) {
        reply::error(out, reply::syntax_error);
        return;
    }
    std::int64_t count = 1;
    for (std::size_t j = where + 1; j < args.size(); j += 2) {
        if (is(args[j], "count") && j + 1 < args.size() && j == where + 1) {
            auto v = parse_int(args[j + 1]);
            if (!v || *v < 1) {
                reply::error(out, "ERR count should be greater than 0");
                return;
            }
            count = *v;
        } else {
            reply::error(out, reply::syntax_error);
            return;
        }
    }
    for (std::size_t k = 2; k < where; ++k) {
        Shard& shard = shards(args[k]);
        bool wrong = false;
        Shard::Entry* e = find_typed(shard, Type::list, args[k], now_ms, out, wrong);
        if (wrong) {
            return;
        }
        if (e == nullptr) {
            continue;
        }
        ListValue& l = list_of(*e);
        const std::size_t cost = Shard::value_cost(*e);
        const std::size_t take = std::min(static_cast<std::size_t>(count), l.size());
        reply::array(out, 2);
        reply::bulk(out, args[k]);
        reply::array(out, take);
        for (std::size_t i = 0; i < take; ++i) {
            reply::bulk(out, l.pop(*left));
        }
        shard.value_changed(*e, cost);
        drop_if_empty(shard, args[k], *e);
        return;
    }
    out.append("*-1\r\n");
}

// SWAPDB: redis-server's checks in its order; every shard swaps its part of the two databases
// while the caller holds them all, so no command holding a shard sees the swap half done.
void swapdb(ShardsOf& shards, std::span<const std::string_view> args, std::string& out) {
    auto a = parse_int(args[1]);
    if (!a || *a < INT32_MIN || *a > INT32_MAX) {
        reply::error(out, "ERR invalid first DB index");
        return;
    }
    auto b = parse_int(args[2]);
    if (!b || *b < INT32_MIN || *b > INT32_MAX) {
        reply::error(out, "ERR invalid second DB index");
        return;
    }
    const auto databases = static_cast<std::int64_t>(shards.nth(0).databases());
    if (*a < 0 || *a >= databases || *b < 0 || *b >= databases) {
        reply::error(out, "ERR DB index is out of range");
        return;
    }
    for (std::size_t i = 0; i < shards.count(); ++i) {
        shards.nth(i).swap_db(static_cast<std::uint32_t>(*a), static_cast<std::uint32_t>(*b));
    }
    reply::ok(out);
}

} // namespace

void multi_shards(const CommandSpec& spec, std::span<const std::string_view> args,
                  std::span<const std::uint32_t> keys, std::uint32_t count,
                  std::vector<std::uint32_t>& shards) {
    shards.clear();
    if (spec.id == Cmd::swapdb) {
        for (std::uint32_t i = 0; i < count; ++i) {
            shards.push_back(i);
        }
        return;
    }
    for (std::uint32_t k : keys) {
        shards.push_back(shard_index(args[k], count));
    }
    std::sort(shards.begin(), shards.end());
    shards.erase(std::unique(shards.begin(), shards.end()), shards.end());
}

void run_multi(ShardsOf& shards, const CommandSpec& spec, std::span<const std::string_view> args,
               std::span<const std::uint32_t> keys, std::int64_t now_ms, std::string& out) {
    if (spec.id == Cmd::zmpop || is_blocking(spec.id)) {
        run_blocking_multi(shards, spec, args, now_ms, out); // checks memory in its own order
        return;
    }
    if (spec.denyoom) {
        for (std::uint32_t k : keys) {
            if (!shards(args[k]).make_room(now_ms)) {
                reply::error(out, reply::oom);
                return;
            }
        }
    }
    if (spec.id == Cmd::msetnx) {
        msetnx(shards, args, now_ms, out);
        return;
    }
    if (spec.id == Cmd::rename || spec.id == Cmd::renamenx) {
        rename_command(shards, args, spec.id == Cmd::renamenx, now_ms, out);
        return;
    }
    if (spec.id == Cmd::copy) {
        copy_command(shards, args, now_ms, out);
        return;
    }
    if (spec.id == Cmd::lcs) {
        lcs_command(shards, args, now_ms, out);
        return;
    }
    if (spec.id == Cmd::object) {
        object_command(shards, args, now_ms, out);
        return;
    }
    if (spec.id >= Cmd::smove && spec.id <= Cmd::sdiffstore) {
        run_set_multi(shards, spec, args, keys, now_ms, out);
        return;
    }
    if (spec.id >= Cmd::zrangestore && spec.id <= Cmd::zintercard) {
        run_zset_multi(shards, spec, args, keys, now_ms, out);
        return;
    }
    if (spec.id == Cmd::swapdb) {
        swapdb(shards, args, out);
        return;
    }
    switch (spec.id) {
    case Cmd::lmove: {
        auto from = side(args[3]);
        auto to = side(args[4]);
        if (!from || !to) {
            reply::error(out, reply::syntax_error);
            return;
        }
        lmove(shards, args, *from, *to, now_ms, out);
        return;
    }
    case Cmd::rpoplpush:
        lmove(shards, args, false, true, now_ms, out);
        return;
    case Cmd::lmpop:
        lmpop(shards, args, now_ms, out);
        return;
    default:
        assert(!"not a multi-shard command");
        break;
    }
}

} // namespace gatio::resp
