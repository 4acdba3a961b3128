// The commands that run on a shard: everything that reads or writes keys.
#include <cassert>
#include <cstdint>

#include "commands.hpp"
#include "parser.hpp"
#include "reply.hpp"
#include "text.hpp"

namespace gatio::resp {

Shard::Entry* find_typed(Shard& shard, Type type, std::string_view key, std::int64_t now_ms, std::string& out,
                         bool& wrong) {
    Shard::Entry* e = shard.find(key, type, now_ms, wrong);
    if (wrong) {
        reply::error(out, reply::wrongtype);
    }
    return e;
}

Shard::Entry* begin_scan(Shard& shard, std::span<const std::string_view> args, Type type, std::int64_t now_ms,
                         std::string& out, std::uint64_t& cursor, ScanOptions& opts) {
    const auto parsed = parse_cursor(args[2]);
    if (!parsed) {
        reply::error(out, "ERR invalid cursor");
        return nullptr;
    }
    cursor = *parsed;
    bool wrong = false;
    Shard::Entry* e = find_typed(shard, type, args[1], now_ms, out, wrong);
    if (e == nullptr) {
        if (!wrong) {
            out.append("*2\r\n$1\r\n0\r\n*0\r\n");
        }
        return nullptr;
    }
    return parse_scan_options(args, 3, opts, out) ? e : nullptr;
}

namespace {

void expire_time_error(std::string& out, std::string_view command) {
    out.append("-ERR invalid expire time in '");
    out.append(command);
    out.append("' command\r\n");
}

Shard::Entry& find_or_insert(Shard& shard, std::string_view key, std::int64_t now_ms) {
    Shard::Entry* e = shard.find(key, now_ms);
    return e != nullptr ? *e : shard.insert(key, now_ms);
}

// SET key value [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL], with redis-server's rules
// for which options may combine (a repeated EX/PX keeps the last one).
void set_command(Shard& shard, std::span<const std::string_view> args, std::int64_t now_ms,
                 std::string& out) {
    enum : unsigned { nx = 1, xx = 2, get = 4, keepttl = 8, ex = 16, px = 32, exat = 64, pxat = 128 };
    unsigned flags = 0;
    std::string_view expire_arg;
    for (std::size_t j = 3; j < args.size(); ++j) {
        std::string_view opt = args[j];
        bool has_next = j + 1 < args.size();
        if (is(opt, "nx") && !(flags & xx)) {
            flags |= nx;
        } else if (is(opt, "xx") && !(flags & nx)) {
            flags |= xx;
        } else if (is(opt, "get")) {
            flags |= get;
        } else if (is(opt, "keepttl") && !(flags & (ex | px | exat | pxat))) {
            flags |= keepttl;
        } else if (is(opt, "ex") && !(flags & (keepttl | exat | px | pxat)) && has_next) {
            flags |= ex;
            expire_arg = args[++j];
        } else if (is(opt, "px") && !(flags & (keepttl | ex | exat | pxat)) && has_next) {
            flags |= px;
            expire_arg = args[++j];
        } else if (is(opt, "exat") && !(flags & (keepttl | ex | px | pxat)) && has_next) {
            flags |= exat;
            expire_arg = args[++j];
        } else if (is(opt, "pxat") && !(flags & (keepttl | ex | exat | px)) && has_next) {
            flags |= pxat;
            expire_arg = args[++j];
        } else {
            reply::error(out, reply::syntax_error);
            return;
        }
    }
    std::int64_t expire_at = 0;
    if (flags & (ex | px | exat | pxat)) {
        auto v = parse_int(expire_arg);
        if (!v) {
            reply::error(out, reply::not_integer);
            return;
        }
        std::int64_t ms = *v;
        bool seconds = (flags & (ex | exat)) != 0;
        if (ms <= 0 || (seconds && ms > INT64_MAX / 1000)) {
            expire_time_error(out, "set");
            return;
        }
        if (seconds) {
            ms *= 1000;
        }
        if (flags & (ex | px)) {
            if (ms > INT64_MAX - now_ms) {
                expire_time_error(out, "set");
                return;
            }
            ms += now_ms;
        }
        expire_at = ms;
    }
    Shard::Entry* e = shard.find(args[1], now_ms);
    if ((flags & get) && e != nullptr && e->type != Type::string) {
        reply::error(out, reply::wrongtype);
        return;
    }
    if (flags & get) {
        if (e != nullptr) {
            reply::bulk(out, e->value);
        } else {
            reply::nil(out);
        }
    }
    if (((flags & nx) && e != nullptr) || ((flags & xx) && e == nullptr)) {
        if (!(flags & get)) {
            reply::nil(out);
        }
        return;
    }
    if (e == nullptr) {
        e = &shard.insert(args[1], now_ms);
    }
    shard.set_string(*e, args[2]);
    if (expire_at != 0) {
        shard.set_expire(*e, expire_at);
    } else if (!(flags & keepttl)) {
        shard.set_expire(*e, 0);
    }
    // An absolute time already past still creates the key, which the next access expires.
    if (!(flags & get)) {
        reply::ok(out);
    }
}

void incr_command(Shard& shard, std::span<const std::string_view> args, Cmd id, std::int64_t now_ms,
                  std::string& out) {
    std::int64_t by = 1;
    if (id == Cmd::decr) {
        by = -1;
    } else if (id == Cmd::incrby || id == Cmd::decrby) {
        auto v = parse_int(args[2]);
        if (!v) {
            reply::error(out, reply::not_integer);
            return;
        }
        by = *v;
        if (id == Cmd::decrby) {
            if (by == INT64_MIN) {
                reply::error(out, "ERR decrement would overflow");
                return;
            }
            by = -by;
        }
    }
    bool wrong = false;
    Shard::Entry* e = shard.find(args[1], Type::string, now_ms, wrong);
    if (wrong) {
        reply::error(out, reply::wrongtype);
        return;
    }
    std::int64_t old = 0;
    if (e != nullptr) {
        auto v = parse_int(e->value);
        if (!v) {
            reply::error(out, reply::not_integer);
            return;
        }
        old = *v;
    }
    if ((by < 0 && old < 0 && by < INT64_MIN - old) || (by > 0 && old > 0 && by > INT64_MAX - old)) {
        reply::error(out, reply::overflow);
        return;
    }
    std::int64_t now_value = old + by;
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, now_value);
    if (e == nullptr) {
        e = &shard.insert(args[1], now_ms);
    }
    // The expiry, if any, stays: INCR changes the value, not the key's lifetime.
    shard.set_string(*e, std::string_view(buf, static_cast<std::size_t>(r.ptr - buf)));
    reply::integer(out, now_value);
}

// EXPIRE/PEXPIRE key time [NX|XX|GT|LT].
// EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT (`absolute`: the time is not relative to now).
void expire_command(Shard& shard, std::span<const std::string_view> args, bool seconds, bool absolute,
                    std::string_view name, std::int64_t now_ms, std::string& out) {
    enum : unsigned { nx = 1, xx = 2, gt = 4, lt = 8 };
    unsigned flags = 0;
    for (std::size_t j = 3; j < args.size(); ++j) {
        if (is(args[j], "nx")) {
            flags |= nx;
        } else if (is(args[j], "xx")) {
            flags |= xx;
        } else if (is(args[j], "gt")) {
            flags |= gt;
        } else if (is(args[j], "lt")) {
            flags |= lt;
        } else {
            out.append("-ERR Unsupported option ");
            out.append(args[j].substr(0, args[j].find('\0')));
            for (std::size_t i = out.size() - args[j].size(); i < out.size(); ++i) {
                if (out[i] == '\r' || out[i] == '\n') {
                    out[i] = ' ';
                }
            }
            reply::crlf(out);
            return;
        }
    }
    if ((flags & nx) && (flags & (xx | gt | lt))) {
        reply::error(out, "ERR NX and XX, GT or LT options at the same time are not compatible");
        return;
    }
    if ((flags & gt) && (flags & lt)) {
        reply::error(out, "ERR GT and LT options at the same time are not compatible");
        return;
    }
    auto v = parse_int(args[2]);
    if (!v) {
        reply::error(out, reply::not_integer);
        return;
    }
    std::int64_t when = *v;
    if (seconds) {
        if (when > INT64_MAX / 1000 || when < INT64_MIN / 1000) {
            expire_time_error(out, name);
            return;
        }
        when *= 1000;
    }
    const std::int64_t base = absolute ? 0 : now_ms;
    if (when > INT64_MAX - base) {
        expire_time_error(out, name);
        return;
    }
    when += base;
    Shard::Entry* e = shard.find(args[1], now_ms);
    if (e == nullptr) {
        reply::integer(out, 0);
        return;
    }
    const std::int64_t current = e->expire_at; // 0: none, i.e. infinite
    if (((flags & nx) && current != 0) || ((flags & xx) && current == 0) ||
        ((flags & gt) && (current == 0 || when <= current)) ||
        ((flags & lt) && current != 0 && when >= current)) {
        reply::integer(out, 0);
        return;
    }
    if (when <= now_ms) {
        shard.erase(args[1]);
    } else {
        shard.set_expire(*e, when);
    }
    reply::integer(out, 1);
}

// TTL, PTTL, EXPIRETIME, PEXPIRETIME (`absolute`: the time itself, not what is left).
void ttl_command(Shard& shard, std::string_view key, bool seconds, bool absolute, std::int64_t now_ms,
                 std::string& out) {
    Shard::Entry* e = shard.find(key, now_ms, false);
    if (e == nullptr) {
        reply::integer(out, -2);
    } else if (e->expire_at == 0) {
        reply::integer(out, -1);
    } else {
        const std::int64_t base = absolute ? 0 : now_ms;
        std::int64_t left = e->expire_at > base ? e->expire_at - base : 0;
        reply::integer(out, seconds ? (left + 500) / 1000 : left);
    }
}

// MOVE: redis-server's checks in its order (the index, its range, the same database), then
// the key moves unless the target database has it.
void move_command(Shard& shard, std::span<const std::string_view> args, std::int64_t now_ms,
                  std::string& out) {
    auto db = parse_int(args[2]);
    if (!db) {
        reply::error(out, reply::not_integer);
        return;
    }
    if (*db < INT32_MIN || *db > INT32_MAX) {
        reply::error(out, reply::int_range);
        return;
    }
    if (*db < 0 || *db >= static_cast<std::int64_t>(shard.databases())) {
        reply::error(out, "ERR DB index is out of range");
        return;
    }
    if (static_cast<std::uint32_t>(*db) == shard.selected()) {
        reply::error(out, "ERR source and destination objects are the same");
        return;
    }
    reply::integer(out, shard.move_key(args[1], static_cast<std::uint32_t>(*db), now_ms) ? 1 : 0);
}

} // namespace

void run_one_key(Shard& shard, const CommandSpec& spec, std::span<const std::string_view> args,
                 const ServerSettings& settings, std::int64_t now_ms, std::string& out) {
    if (spec.denyoom && !shard.make_room(now_ms)) {
        reply::error(out, reply::oom);
        return;
    }
    std::string_view key = args[1];
    if (spec.id >= Cmd::setnx && spec.id <= Cmd::setrange) {
        run_string(shard, spec, args, settings, now_ms, out);
        return;
    }
    if (spec.id >= Cmd::setbit && spec.id <= Cmd::bitpos) {
        run_bitmap(shard, spec, args, settings, now_ms, out);
        return;
    }
    if (spec.id >= Cmd::hset && spec.id <= Cmd::hscan) {
        run_hash(shard, spec, args, now_ms, out);
        return;
    }
    if (spec.id >= Cmd::lpush && spec.id <= Cmd::lpos) {
        run_list(shard, spec, args, now_ms, out);
        return;
    }
    if (spec.id >= Cmd::sadd && spec.id <= Cmd::sscan) {
        run_set(shard, spec, args, now_ms, out);
        return;
    }
    if (spec.id >= Cmd::zadd && spec.id <= Cmd::zscan) {
        run_zset(shard, spec, args, now_ms, out);
        return;
    }
    if (spec.id == Cmd::move) {
        move_command(shard, args, now_ms, out);
        return;
    }
    // The string commands that read a value refuse another type.
    Shard::Entry* e = nullptr;
    switch (spec.id) {
    case Cmd::get:
    case Cmd::getset:
    case Cmd::append:
    case Cmd::strlen: {
        bool wrong = false;
        e = shard.find(key, Type::string, now_ms, wrong);
        if (wrong) {
            reply::error(out, reply::wrongtype);
            return;
        }
        break;
    }
    default:
        break;
    }
    switch (spec.id) {
    case Cmd::set:
        set_command(shard, args, now_ms, out);
        break;
    case Cmd::get:
        if (e != nullptr) {
            reply::bulk(out, e->value);
        } else {
            reply::nil(out);
        }
        break;
    case Cmd::getset: {
        if (e != nullptr) {
            reply::bulk(out, e->value);
        } else {
            reply::nil(out);
            e = &shard.insert(key, now_ms);
        }
        shard.set_string(*e, args[2]);
        shard.set_expire(*e, 0);
        break;
    }
    case Cmd::incr:
    case Cmd::decr:
    case Cmd::incrby:
    case Cmd::decrby:
        incr_command(shard, args, spec.id, now_ms, out);
        break;
    case Cmd::append: {
        if (e != nullptr && e->value.size() + args[2].size() > settings.proto_max_bulk_len) {
            reply::error(out, "ERR string exceeds maximum allowed size (proto-max-bulk-len)");
            break;
        }
        if (e == nullptr) {
            shard.set_string(shard.insert(key, now_ms), args[2]); // a new value is set whole
            reply::integer(out, static_cast<std::int64_t>(args[2].size()));
            break;
        }
        std::size_t before = e->value.capacity();
        e->value.append(args[2]);
        e->form = StringForm::raw;
        shard.value_changed(*e, before);
        reply::integer(out, static_cast<std::int64_t>(e->value.size()));
        break;
    }
    case Cmd::strlen: {
        reply::integer(out, e != nullptr ? static_cast<std::int64_t>(e->value.size()) : 0);
        break;
    }
    case Cmd::expire:
    case Cmd::pexpire:
    case Cmd::expireat:
    case Cmd::pexpireat:
        expire_command(shard, args, spec.id == Cmd::expire || spec.id == Cmd::expireat,
                       spec.id == Cmd::expireat || spec.id == Cmd::pexpireat, spec.name, now_ms, out);
        break;
    case Cmd::ttl:
    case Cmd::pttl:
    case Cmd::expiretime:
    case Cmd::pexpiretime:
        ttl_command(shard, key, spec.id == Cmd::ttl || spec.id == Cmd::expiretime,
                    spec.id == Cmd::expiretime || spec.id == Cmd::pexpiretime, now_ms, out);
        break;
    case Cmd::persist: {
        e = shard.find(key, now_ms);
        if (e != nullptr && e->expire_at != 0) {
            shard.set_expire(*e, 0);
            reply::integer(out, 1);
        } else {
            reply::integer(out, 0);
        }
        break;
    }
    case Cmd::type:
        e = shard.find(key, now_ms, false);
        reply::simple(out, e != nullptr ? type_name(e->type) : "none");
        break;
    default:
        assert(!"not a one-key command");
        break;
    }
}

void run_part(Shard& shard, const CommandSpec& spec, std::span<const std::string_view> args,
              std::span<const std::uint32_t> keys, std::int64_t now_ms, ShardShare& share) {
    share.clear();
    switch (spec.id) {
    case Cmd::mget:
        for (std::uint32_t k : keys) {
            // A key of another type reads as absent, as redis-server's MGET has it.
            Shard::Entry* e = shard.find(args[k], now_ms);
            if (e != nullptr && e->type == Type::string) {
                reply::bulk(share.out, e->value);
            } else {
                reply::nil(share.out);
            }
        }
        break;
    case Cmd::del:
    case Cmd::unlink:
        for (std::uint32_t k : keys) {
            // An expired key counts as absent, so look it up (which expires it) first.
            if (shard.find(args[k], now_ms, false) != nullptr) {
                shard.erase(args[k]);
                ++share.count;
            }
        }
        break;
    case Cmd::exists:
    case Cmd::touch:
        for (std::uint32_t k : keys) {
            share.count += shard.find(args[k], now_ms, spec.id == Cmd::touch) != nullptr ? 1 : 0;
        }
        break;
    case Cmd::keys_matching:
        // Expired keys not yet swept are not listed, as redis-server skips them.
        shard.for_each(now_ms, [&](std::string_view k) {
            if (glob_match(args[1], k, false)) {
                reply::bulk(share.out, k);
                ++share.count;
            }
        });
        break;
    case Cmd::mset:
        if (!shard.make_room(now_ms)) {
            share.oom = true;
            break;
        }
        for (std::uint32_t k : keys) {
            Shard::Entry& e = find_or_insert(shard, args[k], now_ms);
            shard.set_string(e, args[k + 1]);
            shard.set_expire(e, 0);
        }
        break;
    case Cmd::dbsize:
        // Keys already expired but not yet swept are counted, as redis-server counts them.
        share.count = static_cast<std::int64_t>(shard.size());
        break;
    case Cmd::info:
        share.db_keys.resize(shard.databases());
        share.db_expires.resize(shard.databases());
        for (std::uint32_t d = 0; d < shard.databases(); ++d) {
            share.db_keys[d] = static_cast<std::int64_t>(shard.size(d));
            share.db_expires[d] = static_cast<std::int64_t>(shard.expiring(d));
            share.count += share.db_keys[d];
            share.expires += share.db_expires[d];
        }
        share.memory = shard.used_memory();
        share.evicted = shard.evicted();
        share.expired = shard.expired();
        break;
    case Cmd::flushall:
        shard.clear();
        break;
    case Cmd::flushdb:
        shard.clear_db();
        break;
    case Cmd::scan:
        scan_part(shard, args, keys[0], keys[1], now_ms, share);
        break;
    case Cmd::randomkey:
        randomkey_part(shard, now_ms, share);
        break;
    default:
        assert(!"not a fan-out command");
        break;
    }
}

void rename_command(ShardsOf& shards, std::span<const std::string_view> args, bool nx, std::int64_t now_ms,
                    std::string& out) {
    Shard& from_shard = shards(args[1]);
    Shard& to_shard = shards(args[2]);
    Shard::Entry* from = from_shard.find(args[1], now_ms, false);
    if (from == nullptr) {
        reply::error(out, "ERR no such key");
        return;
    }
    if (args[1] == args[2]) {
        if (nx) {
            reply::integer(out, 0);
        } else {
            reply::ok(out);
        }
        return;
    }
    if (to_shard.find(args[2], now_ms, false) != nullptr) {
        if (nx) {
            reply::integer(out, 0);
            return;
        }
        to_shard.erase(args[2]);
    }
    // The value and its expiry move to the new key; each shard's account follows its part.
    Shard::Entry& to = to_shard.insert(args[2], now_ms);
    const std::size_t from_before = Shard::value_cost(*from);
    const std::size_t to_before = Shard::value_cost(to);
    to.value = std::move(from->value);
    to.coll = std::move(from->coll);
    to.type = from->type;
    to.form = from->form;
    from->value = std::string();
    from->type = Type::string;
    to_shard.value_changed(to, to_before);
    from_shard.value_changed(*from, from_before);
    to_shard.set_expire(to, from->expire_at);
    from_shard.erase(args[1]);
    if (nx) {
        reply::integer(out, 1);
    } else {
        reply::ok(out);
    }
}

} // namespace gatio::resp
