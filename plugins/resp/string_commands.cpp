// The string commands beyond SET/GET and the counters (shard_commands.cpp): SETNX, SETEX,
// PSETEX, GETDEL, GETEX, INCRBYFLOAT, GETRANGE, SUBSTR, SETRANGE, and MSETNX and LCS, whose keys
// may live on several shards.
#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdint>
#include <vector>

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
    shard.set_string(*e, text, StringForm::text);
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
    const IndexRange r = clamp_range(a, b, len);
    if (r.first > r.last) {
        reply::bulk(out, "");
        return;
    }
    reply::bulk(out,
                v.substr(static_cast<std::size_t>(r.first), static_cast<std::size_t>(r.last - r.first + 1)));
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
    e->form = StringForm::raw;
    shard.value_changed(*e, before);
    reply::integer(out, static_cast<std::int64_t>(e->value.size()));
}

} // namespace

IndexRange clamp_range(std::int64_t start, std::int64_t end, std::int64_t total) {
    if (start < 0) {
        start = total + start;
    }
    if (end < 0) {
        end = total + end;
    }
    return {std::max<std::int64_t>(start, 0), std::min(std::max<std::int64_t>(end, 0), total - 1)};
}

void run_string(Shard& shard, const CommandSpec& spec, std::span<const std::string_view> args,
                const ServerSettings& settings, std::int64_t now_ms, std::string& out) {
    switch (spec.id) {
    case Cmd::setnx: {
        if (shard.find(args[1], now_ms) != nullptr) {
            reply::integer(out, 0);
            return;
        }
        shard.set_string(shard.insert(args[1], now_ms), args[2]);
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
        shard.set_string(*e, args[3]);
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
        shard.set_string(e != nullptr ? *e : shard.insert(args[i], now_ms), args[i + 1]);
    }
    reply::integer(out, 1);
}

namespace {

// The table of LCS lengths of every pair of prefixes of a and b, row by row: cell (i, j) holds the
// length of the longest common subsequence of a's first i bytes and b's first j.
class LcsTable {
public:
    LcsTable(std::string_view a, std::string_view b)
        : width_(b.size() + 1), cells_((a.size() + 1) * width_, 0) {
        for (std::size_t i = 1; i <= a.size(); ++i) {
            for (std::size_t j = 1; j <= b.size(); ++j) {
                at(i, j) = a[i - 1] == b[j - 1] ? at(i - 1, j - 1) + 1 : std::max(at(i - 1, j), at(i, j - 1));
            }
        }
    }
    std::uint32_t operator()(std::size_t i, std::size_t j) const { return cells_[i * width_ + j]; }

private:
    std::uint32_t& at(std::size_t i, std::size_t j) { return cells_[i * width_ + j]; }
    std::size_t width_;
    std::vector<std::uint32_t> cells_;
};

// One run of bytes matched in both strings, as LCS IDX reports it (inclusive positions).
struct LcsMatch {
    std::size_t a_first, a_last, b_first, b_last;
};

void lcs_match_reply(std::string& out, const LcsMatch& m, bool with_length) {
    reply::array(out, with_length ? 3 : 2);
    reply::array(out, 2);
    reply::integer(out, static_cast<std::int64_t>(m.a_first));
    reply::integer(out, static_cast<std::int64_t>(m.a_last));
    reply::array(out, 2);
    reply::integer(out, static_cast<std::int64_t>(m.b_first));
    reply::integer(out, static_cast<std::int64_t>(m.b_last));
    if (with_length) {
        reply::integer(out, static_cast<std::int64_t>(m.a_last - m.a_first + 1));
    }
}

} // namespace

void lcs_command(ShardsOf& shards, std::span<const std::string_view> args, std::int64_t now_ms,
                 std::string& out) {
    const Shard::Entry* ea = shards(args[1]).find(args[1], now_ms);
    const Shard::Entry* eb = shards(args[2]).find(args[2], now_ms);
    if ((ea != nullptr && ea->type != Type::string) || (eb != nullptr && eb->type != Type::string)) {
        reply::error(out, "ERR The specified keys must contain string values");
        return;
    }
    const std::string_view a = ea != nullptr ? std::string_view(ea->value) : std::string_view();
    const std::string_view b = eb != nullptr ? std::string_view(eb->value) : std::string_view();
    bool want_len = false;
    bool want_idx = false;
    bool with_length = false;
    std::int64_t min_length = 0;
    for (std::size_t j = 3; j < args.size(); ++j) {
        if (is(args[j], "idx")) {
            want_idx = true;
        } else if (is(args[j], "len")) {
            want_len = true;
        } else if (is(args[j], "withmatchlen")) {
            with_length = true;
        } else if (is(args[j], "minmatchlen") && j + 1 < args.size()) {
            auto v = parse_int(args[++j]);
            if (!v) {
                reply::error(out, reply::not_integer);
                return;
            }
            min_length = std::max<std::int64_t>(*v, 0);
        } else {
            reply::error(out, reply::syntax_error);
            return;
        }
    }
    if (want_len && want_idx) {
        reply::error(out, "ERR If you want both the length and indexes, please just use IDX.");
        return;
    }
    // The table is transient but may be large: redis-server bounds it by proto-max-bulk-len.
    if (a.size() >= UINT32_MAX - 1 || b.size() >= UINT32_MAX - 1) {
        reply::error(out, "ERR String too long for LCS");
        return;
    }
    const std::uint64_t row_bytes = (b.size() + 1ull) * sizeof(std::uint32_t);
    if (a.size() + 1ull > shards.settings().proto_max_bulk_len / row_bytes) {
        reply::error(out, "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len");
        return;
    }
    const LcsTable table(a, b);
    const std::uint32_t length = table(a.size(), b.size());
    if (want_len) {
        reply::integer(out, length);
        return;
    }
    // Walks back from both ends along matches, collecting the subsequence from its end and each
    // run of consecutive matches as one range, the last ranges first (redis-server's order).
    // IDX answers the ranges only: the subsequence itself is built for the plain reply alone.
    std::string common(want_idx ? 0 : length, '\0');
    std::vector<LcsMatch> matches;
    std::size_t left = length;
    std::size_t i = a.size();
    std::size_t j = b.size();
    bool open = false;
    LcsMatch run{};
    auto close = [&] {
        if (open &&
            (min_length == 0 || run.a_last - run.a_first + 1 >= static_cast<std::uint64_t>(min_length))) {
            matches.push_back(run);
        }
        open = false;
    };
    while (i > 0 && j > 0) {
        if (a[i - 1] == b[j - 1]) {
            if (!want_idx) {
                common[--left] = a[i - 1];
            }
            if (!open) {
                run = {i - 1, i - 1, j - 1, j - 1};
                open = true;
            } else {
                run.a_first = i - 1;
                run.b_first = j - 1;
            }
            --i;
            --j;
        } else {
            close();
            if (table(i - 1, j) > table(i, j - 1)) {
                --i;
            } else {
                --j;
            }
        }
    }
    close();
    if (!want_idx) {
        reply::bulk(out, common);
        return;
    }
    reply::array(out, 4);
    reply::bulk(out, "matches");
    reply::array(out, matches.size());
    for (const LcsMatch& m : matches) {
        lcs_match_reply(out, m, with_length);
    }
    reply::bulk(out, "len");
    reply::integer(out, length);
}

} // namespace gatio::resp
