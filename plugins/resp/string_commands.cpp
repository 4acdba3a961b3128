// The string commands beyond SET/GET and the counters (shard_commands.cpp): SETNX, SETEX,
// PSETEX, GETDEL, GETEX, INCRBYFLOAT, GETRANGE, SUBSTR, SETRANGE, and MSETNX, whose keys may
// live on several shards.
#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdint>

#include "commands.hpp"
#include "parser.hpp"
#include "reply.hpp"
#include "text.hpp"

namespace gatio::resp {

namespace {

void expire_time_error(std::string& out, std::string_view command) {
    out.append("-ERR invalid expire time in '");
    out.append(command);
    out.append("' command\r\n");
}

// A relative (EX/PX) or absolute (EXAT/PXAT) expiry argument as an absolute time in ms, as
// redis-server checks it; nullopt with the error written.
std::optional<std::int64_t> expire_at(std::string_view arg, bool seconds, bool relative, std::int64_t now_ms,
                                      std::string_view command, std::string& out) {
    auto v = parse_int(arg);
    if (!v) {
        reply::error(out, reply::not_integer);
        return std::nullopt;
    }
    std::int64_t ms = *v;
    if (ms <= 0 || (seconds && ms > INT64_MAX / 1000)) {
        expire_time_error(out, command);
        return std::nullopt;
    }
    if (seconds) {
        ms *= 1000;
    }
    if (relative) {
        if (ms > INT64_MAX - now_ms) {
            expire_time_error(out, command);
            return std::nullopt;
        }
        ms += now_ms;
    }
    return ms;
}

void put(Shard& shard, Shard::Entry& e, std::string_view value) {
    shard.make_string(e);
    const std::size_t before = e.value.capacity();
    assign_string(e.value, value);
    shard.value_changed(e, before);
}

void getex(Shard& shard, std::span<const std::string_view> args, std::int64_t now_ms, std::string& out) {
    constexpr unsigned ex = 1, px = 2, exat = 4, pxat = 8, persist = 16;
    unsigned flags = 0;
    std::string_view value;
    for (std::size_t j = 2; j < args.size(); ++j) {
        const bool has_next = j + 1 < args.size();
        unsigned f = is(args[j], "ex")     ? ex
                     : is(args[j], "px")   ? px
                     : is(args[j], "exat") ? exat
                     : is(args[j], "pxat") ? pxat
                                           : 0;
        // redis-server takes an option again (the last one counts) but not two different ones.
        if (f != 0 && (flags & ~f) == 0 && has_next) {
            flags = f;
            value = args[++j];
        } else if (is(args[j], "persist") && (flags & ~persist) == 0) {
            flags = persist;
        } else {
            reply::error(out, reply::syntax_error);
            return;
        }
    }
    std::int64_t at = 0;
    if (flags & (ex | px | exat | pxat)) {
        auto when =
            expire_at(value, (flags & (ex | exat)) != 0, (flags & (ex | px)) != 0, now_ms, "getex", out);
        if (!when) {
            return;
        }
        at = *when;
    }
    bool wrong = false;
    Shard::Entry* e = shard.find(args[1], Type::string, now_ms, wrong);
    if (wrong) {
        reply::error(out, reply::wrongtype);
        return;
    }
    if (e == nullptr) {
        reply::nil(out);
        return;
    }
    reply::bulk(out, e->value);
    if (at != 0 && at <= now_ms) {
        shard.erase(args[1]);
    } else if (at != 0) {
        shard.set_expire(*e, at);
    } else if (flags & persist) {
        shard.set_expire(*e, 0);
    }
}

void incrbyfloat(Shard& shard, std::span<const std::string_view> args, std::int64_t now_ms,
                 std::string& out) {
    bool wrong = false;
    Shard::Entry* e = shard.find(args[1], Type::string, now_ms, wrong);
    if (wrong) {
        reply::error(out, reply::wrongtype);
        return;
    }
    long double old = 0;
    if (e != nullptr) {
        auto v = parse_long_double(e->value);
        if (!v) {
            reply::error(out, "ERR value is not a valid float");
            return;
        }
        old = *v;
    }
    auto by = parse_long_double(args[2]);
    if (!by) {
        reply::error(out, "ERR value is not a valid float");
        return;
    }
    const long double sum = old + *by;
    if (std::isnan(sum) || std::isinf(sum)) {
        reply::error(out, "ERR increment would produce NaN or Infinity");
        return;
    }
    std::string text;
    append_long_double(text, sum);
    if (e == nullptr) {
        e = &shard.insert(args[1], now_ms);
    }
    put(shard, *e, text);
    reply::bulk(out, text);
}

void getrange(Shard& shard, std::span<const std::string_view> args, std::int64_t now_ms, std::string& out) {
    auto start = parse_int(args[2]);
    auto end = parse_int(args[3]);
    if (!start || !end) {
        reply::error(out, reply::not_integer);
        return;
    }
    bool wrong = false;
    Shard::Entry* e = shard.find(args[1], Type::string, now_ms, wrong);
    if (wrong) {
        reply::error(out, reply::wrongtype);
        return;
    }
    const std::string_view v = e != nullptr ? std::string_view(e->value) : std::string_view();
    const auto len = static_cast<std::int64_t>(v.size());
    std::int64_t a = *start;
    std::int64_t b = *end;
    if (a < 0 && b < 0 && a > b) {
        reply::bulk(out, "");
        return;
    }
    if (a < 0) {
        a = len + a;
    }
    if (b < 0) {
        b = len + b;
    }
    a = std::max<std::int64_t>(a, 0);
    b = std::max<std::int64_t>(b, 0);
    b = std::min(b, len - 1);
    if (a > b || len == 0) {
        reply::bulk(out, "");
        return;
    }
    reply::bulk(out, v.substr(static_cast<std::size_t>(a), static_cast<std::size_t>(b - a + 1)));
}

void setrange(Shard& shard, std::span<const std::string_view> args, const ServerSettings& settings,
              std::int64_t now_ms, std::string& out) {
    auto offset = parse_int(args[2]);
    if (!offset) {
        reply::error(out, reply::not_integer);
        return;
    }
    if (*offset < 0) {
        reply::error(out, "ERR offset is out of range");
        return;
    }
    const std::string_view value = args[3];
    bool wrong = false;
    Shard::Entry* e = shard.find(args[1], Type::string, now_ms, wrong);
    if (wrong) {
        reply::error(out, reply::wrongtype);
        return;
    }
    if (value.empty()) {
        reply::integer(out, e != nullptr ? static_cast<std::int64_t>(e->value.size()) : 0);
        return;
    }
    const auto total = static_cast<std::uint64_t>(*offset) + value.size();
    if (total > settings.proto_max_bulk_len) {
        reply::error(out, "ERR string exceeds maximum allowed size (proto-max-bulk-len)");
        return;
    }
    if (e == nullptr) {
        e = &shard.insert(args[1], now_ms);
    }
    const std::size_t before = e->value.capacity();
    const auto at = static_cast<std::size_t>(*offset);
    if (e->value.size() < at + value.size()) {
        e->value.resize(at + value.size(), '\0');
    }
    e->value.replace(at, value.size(), value);
    shard.value_changed(*e, before);
    reply::integer(out, static_cast<std::int64_t>(e->value.size()));
}

} // namespace

void run_string(Shard& shard, const CommandSpec& spec, std::span<const std::string_view> args,
                const ServerSettings& settings, std::int64_t now_ms, std::string& out) {
    switch (spec.id) {
    case Cmd::setnx: {
        if (shard.find(args[1], now_ms) != nullptr) {
            reply::integer(out, 0);
            return;
        }
        put(shard, shard.insert(args[1], now_ms), args[2]);
        reply::integer(out, 1);
        return;
    }
    case Cmd::setex:
    case Cmd::psetex: {
        const bool seconds = spec.id == Cmd::setex;
        auto at = expire_at(args[2], seconds, true, now_ms, seconds ? "setex" : "psetex", out);
        if (!at) {
            return;
        }
        Shard::Entry* e = shard.find(args[1], now_ms);
        if (e == nullptr) {
            e = &shard.insert(args[1], now_ms);
        }
        put(shard, *e, args[3]);
        shard.set_expire(*e, *at);
        reply::ok(out);
        return;
    }
    case Cmd::getdel: {
        bool wrong = false;
        Shard::Entry* e = shard.find(args[1], Type::string, now_ms, wrong);
        if (wrong) {
            reply::error(out, reply::wrongtype);
        } else if (e == nullptr) {
            reply::nil(out);
        } else {
            reply::bulk(out, e->value);
            shard.erase(args[1]);
        }
        return;
    }
    case Cmd::getex:
        getex(shard, args, now_ms, out);
        return;
    case Cmd::incrbyfloat:
        incrbyfloat(shard, args, now_ms, out);
        return;
    case Cmd::getrange:
    case Cmd::substr:
        getrange(shard, args, now_ms, out);
        return;
    case Cmd::setrange:
        setrange(shard, args, settings, now_ms, out);
        return;
    default:
        assert(!"not a string command");
        return;
    }
}

void msetnx(ShardsOf& shards, std::span<const std::string_view> args, std::int64_t now_ms, std::string& out) {
    // Nothing is set when any key exists, whatever its type.
    for (std::size_t i = 1; i < args.size(); i += 2) {
        if (shards(args[i]).find(args[i], now_ms, false) != nullptr) {
            reply::integer(out, 0);
            return;
        }
    }
    for (std::size_t i = 1; i + 1 < args.size(); i += 2) {
        Shard& shard = shards(args[i]);
        Shard::Entry* e = shard.find(args[i], now_ms);
        put(shard, e != nullptr ? *e : shard.insert(args[i], now_ms), args[i + 1]);
    }
    reply::integer(out, 1);
}

} // namespace gatio::resp
