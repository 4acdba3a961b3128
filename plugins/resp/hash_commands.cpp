// The hash commands, run on the shard owning the key.
#include <algorithm>
#include <cassert>
#include <charconv>
#include <cmath>
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

HashValue& hash_of(Shard::Entry& e) {
    return static_cast<HashValue&>(*e.coll);
}

// The hash at key, created empty when absent; nullptr (and WRONGTYPE written) when the key
// holds another type.
Shard::Entry* hash_for_write(Shard& shard, std::string_view key, std::int64_t now_ms, std::string& out) {
    bool wrong = false;
    Shard::Entry* e = shard.find(key, Type::hash, now_ms, wrong);
    if (wrong) {
        reply::error(out, reply::wrongtype);
        return nullptr;
    }
    if (e == nullptr) {
        e = &shard.insert(key, now_ms);
        shard.make_collection(*e, Type::hash, std::make_unique<HashValue>());
    }
    return e;
}

// A hash left empty by a write is deleted, as redis-server deletes it.
void drop_if_empty(Shard& shard, std::string_view key, Shard::Entry& e) {
    if (hash_of(e).size() == 0) {
        shard.erase(key);
    }
}

void field_value(std::string& out, const HashValue::Field& f, bool values) {
    reply::bulk(out, f.first);
    if (values) {
        reply::bulk(out, f.second);
    }
}

void hrandfield(Shard& shard, std::span<const std::string_view> args, std::int64_t now_ms, std::string& out) {
    bool wrong = false;
    if (args.size() == 2) {
        Shard::Entry* e = shard.find(args[1], Type::hash, now_ms, wrong);
        if (wrong) {
            reply::error(out, reply::wrongtype);
        } else if (e == nullptr) {
            reply::nil(out);
        } else {
            const auto& fields = hash_of(*e).fields();
            reply::bulk(out, fields.at(shard.random() % fields.size()).first);
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
    bool values = false;
    if (args.size() > 4 || (args.size() == 4 && !is(args[3], "withvalues"))) {
        reply::error(out, reply::syntax_error);
        return;
    }
    if (args.size() == 4) {
        values = true;
        if (*count < -(INT64_MAX / 2) || *count > INT64_MAX / 2) {
            reply::error(out, "ERR value is out of range");
            return;
        }
    }
    Shard::Entry* e = shard.find(args[1], Type::hash, now_ms, wrong);
    if (wrong) {
        reply::error(out, reply::wrongtype);
        return;
    }
    if (e == nullptr || *count == 0) {
        reply::array(out, 0);
        return;
    }
    const auto& fields = hash_of(*e).fields();
    const std::size_t size = fields.size();
    const std::size_t per = values ? 2 : 1;
    if (*count < 0) {
        // Repeats allowed: |count| independent picks.
        const auto n = static_cast<std::uint64_t>(-*count);
        reply::array(out, n * per);
        for (std::uint64_t i = 0; i < n; ++i) {
            field_value(out, fields.at(shard.random() % size), values);
        }
        return;
    }
    const auto n = static_cast<std::uint64_t>(*count);
    if (n >= size) {
        reply::array(out, size * per);
        for (const auto& f : fields.items()) {
            field_value(out, f, values);
        }
        return;
    }
    // Distinct picks: the first n of a partial shuffle of the positions.
    std::vector<std::uint32_t> order(size);
    std::iota(order.begin(), order.end(), 0u);
    for (std::size_t i = 0; i < n; ++i) {
        std::swap(order[i], order[i + shard.random() % (size - i)]);
    }
    reply::array(out, n * per);
    for (std::size_t i = 0; i < n; ++i) {
        field_value(out, fields.at(order[i]), values);
    }
}

// HSCAN: a small hash answers whole with cursor 0, as redis-server's listpack does. An indexed
// one is walked from its last position down: the cursor is how many positions are left.
// Deleting moves the last field into the hole, which is either not visited yet or already
// visited, so every field present for the whole scan is returned (perhaps twice).
void hscan(Shard& shard, std::span<const std::string_view> args, std::int64_t now_ms, std::string& out) {
    std::uint64_t cursor = 0;
    ScanOptions opts;
    Shard::Entry* e = begin_scan(shard, args, Type::hash, now_ms, out, cursor, opts);
    if (e == nullptr) {
        return;
    }
    const auto& fields = hash_of(*e).fields();
    const auto [from, to] = scan_window(fields.size(), fields.indexed(), cursor, opts, out);
    std::size_t n = 0;
    for (std::size_t i = from; i > to; --i) {
        n += !opts.match || glob_match(opts.pattern, fields.at(i - 1).first, false) ? 1 : 0;
    }
    reply::array(out, 2 * n);
    // Small hashes answer in field order, as redis-server does.
    if (!fields.indexed()) {
        for (const auto& f : fields.items()) {
            if (!opts.match || glob_match(opts.pattern, f.first, false)) {
                field_value(out, f, true);
            }
        }
        return;
    }
    for (std::size_t i = from; i > to; --i) {
        const auto& f = fields.at(i - 1);
        if (!opts.match || glob_match(opts.pattern, f.first, false)) {
            field_value(out, f, true);
        }
    }
}

void hincrby(Shard& shard, std::span<const std::string_view> args, std::int64_t now_ms, std::string& out) {
    auto by = parse_int(args[3]);
    if (!by) {
        reply::error(out, reply::not_integer);
        return;
    }
    Shard::Entry* e = hash_for_write(shard, args[1], now_ms, out);
    if (e == nullptr) {
        return;
    }
    HashValue& h = hash_of(*e);
    std::int64_t old = 0;
    if (const std::string* v = h.get(args[2])) {
        auto n = parse_int(*v);
        if (!n) {
            reply::error(out, "ERR hash value is not an integer");
            return;
        }
        old = *n;
    }
    if ((*by < 0 && old < 0 && *by < INT64_MIN - old) || (*by > 0 && old > 0 && *by > INT64_MAX - old)) {
        reply::error(out, reply::overflow);
        drop_if_empty(shard, args[1], *e);
        return;
    }
    const std::int64_t now_value = old + *by;
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, now_value);
    const std::size_t before = Shard::value_cost(*e);
    h.set(args[2], std::string_view(buf, static_cast<std::size_t>(r.ptr - buf)));
    shard.value_changed(*e, before);
    reply::integer(out, now_value);
}

void hincrbyfloat(Shard& shard, std::span<const std::string_view> args, std::int64_t now_ms,
                  std::string& out) {
    auto by = parse_long_double(args[3]);
    if (!by) {
        reply::error(out, "ERR value is not a valid float");
        return;
    }
    if (std::isinf(*by)) {
        reply::error(out, "ERR value is NaN or Infinity");
        return;
    }
    Shard::Entry* e = hash_for_write(shard, args[1], now_ms, out);
    if (e == nullptr) {
        return;
    }
    HashValue& h = hash_of(*e);
    long double old = 0;
    if (const std::string* v = h.get(args[2])) {
        auto n = parse_long_double(*v);
        if (!n) {
            reply::error(out, "ERR hash value is not a float");
            return;
        }
        old = *n;
    }
    const long double sum = old + *by;
    if (std::isnan(sum) || std::isinf(sum)) {
        reply::error(out, "ERR increment would produce NaN or Infinity");
        drop_if_empty(shard, args[1], *e);
        return;
    }
    std::string text;
    append_long_double(text, sum);
    const std::size_t before = Shard::value_cost(*e);
    h.set(args[2], text);
    shard.value_changed(*e, before);
    reply::bulk(out, text);
}

} // namespace

void run_hash(Shard& shard, const CommandSpec& spec, std::span<const std::string_view> args,
              std::int64_t now_ms, std::string& out) {
    const std::string_view key = args[1];
    bool wrong = false;
    switch (spec.id) {
    case Cmd::hset:
    case Cmd::hmset: {
        Shard::Entry* e = hash_for_write(shard, key, now_ms, out);
        if (e == nullptr) {
            return;
        }
        const std::size_t before = Shard::value_cost(*e);
        std::int64_t added = 0;
        for (std::size_t i = 2; i + 1 < args.size(); i += 2) {
            added += hash_of(*e).set(args[i], args[i + 1]) ? 1 : 0;
        }
        shard.value_changed(*e, before);
        if (spec.id == Cmd::hset) {
            reply::integer(out, added);
        } else {
            reply::ok(out);
        }
        return;
    }
    case Cmd::hsetnx: {
        Shard::Entry* e = hash_for_write(shard, key, now_ms, out);
        if (e == nullptr) {
            return;
        }
        if (hash_of(*e).get(args[2]) != nullptr) {
            reply::integer(out, 0);
            return;
        }
        const std::size_t before = Shard::value_cost(*e);
        hash_of(*e).set(args[2], args[3]);
        shard.value_changed(*e, before);
        reply::integer(out, 1);
        return;
    }
    case Cmd::hincrby:
        hincrby(shard, args, now_ms, out);
        return;
    case Cmd::hincrbyfloat:
        hincrbyfloat(shard, args, now_ms, out);
        return;
    case Cmd::hrandfield:
        hrandfield(shard, args, now_ms, out);
        return;
    case Cmd::hscan:
        hscan(shard, args, now_ms, out);
        return;
    default:
        break;
    }
    Shard::Entry* e = shard.find(key, Type::hash, now_ms, wrong);
    if (wrong) {
        reply::error(out, reply::wrongtype);
        return;
    }
    const HashValue* h = e != nullptr ? &hash_of(*e) : nullptr;
    switch (spec.id) {
    case Cmd::hget:
        if (const std::string* v = h != nullptr ? h->get(args[2]) : nullptr) {
            reply::bulk(out, *v);
        } else {
            reply::nil(out);
        }
        break;
    case Cmd::hmget:
        reply::array(out, args.size() - 2);
        for (std::size_t i = 2; i < args.size(); ++i) {
            if (const std::string* v = h != nullptr ? h->get(args[i]) : nullptr) {
                reply::bulk(out, *v);
            } else {
                reply::nil(out);
            }
        }
        break;
    case Cmd::hdel: {
        std::int64_t removed = 0;
        if (e != nullptr) {
            const std::size_t before = Shard::value_cost(*e);
            for (std::size_t i = 2; i < args.size(); ++i) {
                removed += hash_of(*e).erase(args[i]) ? 1 : 0;
            }
            shard.value_changed(*e, before);
            drop_if_empty(shard, key, *e);
        }
        reply::integer(out, removed);
        break;
    }
    case Cmd::hexists:
        reply::integer(out, h != nullptr && h->get(args[2]) != nullptr ? 1 : 0);
        break;
    case Cmd::hlen:
        reply::integer(out, h != nullptr ? static_cast<std::int64_t>(h->size()) : 0);
        break;
    case Cmd::hstrlen: {
        const std::string* v = h != nullptr ? h->get(args[2]) : nullptr;
        reply::integer(out, v != nullptr ? static_cast<std::int64_t>(v->size()) : 0);
        break;
    }
    case Cmd::hkeys:
    case Cmd::hvals:
    case Cmd::hgetall: {
        const std::size_t n = h != nullptr ? h->size() : 0;
        reply::array(out, spec.id == Cmd::hgetall ? 2 * n : n);
        if (h == nullptr) {
            break;
        }
        for (const auto& f : h->fields().items()) {
            if (spec.id != Cmd::hvals) {
                reply::bulk(out, f.first);
            }
            if (spec.id != Cmd::hkeys) {
                reply::bulk(out, f.second);
            }
        }
        break;
    }
    default:
        assert(!"not a hash command");
        break;
    }
}

} // namespace gatio::resp
