// The sorted-set commands: those of one key run on the key's shard (run_zset); ZRANGESTORE,
// ZUNION, ZINTER, ZDIFF, their STORE forms and ZINTERCARD, whose keys may live on several
// shards, run with every shard involved reachable (run_zset_multi). The order in which each
// command checks its arguments, the key's type and its options is redis-server 7.0's, since
// that order decides which error a malformed request gets.
#include <algorithm>
#include <array>
#include <cassert>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "commands.hpp"
#include "parser.hpp"
#include "reply.hpp"
#include "text.hpp"
#include "zset.hpp"

namespace gatio::resp {

namespace {

constexpr std::string_view not_float = "ERR value is not a valid float";
constexpr std::string_view range_not_float = "ERR min or max is not a float";
constexpr std::string_view range_not_lex = "ERR min or max not valid string range item";
constexpr std::string_view nan_score = "ERR resulting score is not a number (NaN)";
constexpr std::string_view must_be_positive = "ERR value is out of range, must be positive";

ZSetValue& zset_of(Shard::Entry& e) {
    return static_cast<ZSetValue&>(*e.coll);
}

void drop_if_empty(Shard& shard, std::string_view key, Shard::Entry& e) {
    if (zset_of(e).size() == 0) {
        shard.erase(key);
    }
}

// A score as ZADD reads one (redis-server's string2d): the whole text, no leading space, no
// NaN, no overflow and no underflow to zero.
std::optional<double> parse_score(std::string_view text) {
    if (text.empty() || text.size() > 256 || std::isspace(static_cast<unsigned char>(text[0])) != 0) {
        return std::nullopt;
    }
    // A canonical integer, the usual score, is converted without strtod: both round to nearest,
    // so the double is the same; "-0", leading zeros and the rest take strtod's way.
    if (const auto n = parse_int(text)) {
        return static_cast<double>(*n);
    }
    char buf[257];
    text.copy(buf, text.size());
    buf[text.size()] = '\0';
    char* end = nullptr;
    errno = 0;
    const double v = std::strtod(buf, &end);
    if (end != buf + text.size() || std::isnan(v) ||
        (errno == ERANGE && (v == HUGE_VAL || v == -HUGE_VAL || v == 0))) {
        return std::nullopt;
    }
    return v;
}

// One bound of a score range as redis-server reads it (strtod on the text up to a NUL byte:
// leading space and the empty text, 0, pass), after an optional "(" that excludes it.
bool parse_bound(std::string_view text, double& v, bool& exclusive) {
    exclusive = !text.empty() && text[0] == '(';
    if (exclusive) {
        text.remove_prefix(1);
    }
    std::string buf(text.substr(0, text.find('\0')));
    char* end = nullptr;
    v = std::strtod(buf.c_str(), &end);
    return *end == '\0' && !std::isnan(v);
}

std::optional<ScoreRange> parse_score_range(std::string_view min, std::string_view max) {
    ScoreRange r;
    if (!parse_bound(min, r.min, r.min_ex) || !parse_bound(max, r.max, r.max_ex)) {
        return std::nullopt;
    }
    return r;
}

bool parse_lex_bound(std::string_view text, LexBound& b) {
    if (text.empty()) {
        return false;
    }
    switch (text[0]) {
    case '+':
    case '-':
        b = {text[0] == '+' ? 1 : -1, {}, true};
        return text.size() == 1;
    case '(':
    case '[':
        b = {0, text.substr(1), text[0] == '('};
        return true;
    default:
        return false;
    }
}

std::optional<LexRange> parse_lex_range(std::string_view min, std::string_view max) {
    LexRange r;
    if (!parse_lex_bound(min, r.min) || !parse_lex_bound(max, r.max)) {
        return std::nullopt;
    }
    return r;
}

// Into `buf`, valid until it is written again.
std::string_view score_chars(std::array<char, 32>& buf, double d) {
    if (std::isinf(d)) {
        return d > 0 ? "inf" : "-inf";
    }
    const int n = std::snprintf(buf.data(), buf.size(), "%.17g", d);
    return {buf.data(), static_cast<std::size_t>(n)};
}

// A score as redis-server replies one (%.17g; "inf" and "-inf"), without a string of its own.
void score_reply(std::string& out, double d) {
    std::array<char, 32> buf;
    reply::bulk(out, score_chars(buf, d));
}

void nodes_reply(std::string& out, const std::vector<const ZNode*>& nodes, bool withscores) {
    reply::array(out, nodes.size() * (withscores ? 2 : 1));
    for (const ZNode* n : nodes) {
        reply::bulk(out, n->member);
        if (withscores) {
            score_reply(out, n->score);
        }
    }
}

// The destination of a STORE form is replaced whatever it held, or deleted when the result is
// empty; the reply is the result's size.
void store_result(Shard& shard, std::string_view key, std::unique_ptr<ZSetValue> result, std::int64_t now_ms,
                  std::string& out) {
    shard.erase(key);
    const auto n = static_cast<std::int64_t>(result->size());
    if (n > 0) {
        Shard::Entry& e = shard.insert(key, now_ms);
        shard.make_collection(e, Type::zset, std::move(result));
    }
    reply::integer(out, n);
}

// ---- ZADD and ZINCRBY ----

void zadd(Shard& shard, std::span<const std::string_view> args, bool zincrby, std::int64_t now_ms,
          std::string& out) {
    bool nx = false, xx = false, gt = false, lt = false, ch = false, incr = zincrby;
    std::size_t at = 2;
    if (!zincrby) {
        for (; at < args.size(); ++at) {
            const std::string_view a = args[at];
            if (is(a, "nx")) {
                nx = true;
            } else if (is(a, "xx")) {
                xx = true;
            } else if (is(a, "gt")) {
                gt = true;
            } else if (is(a, "lt")) {
                lt = true;
            } else if (is(a, "ch")) {
                ch = true;
            } else if (is(a, "incr")) {
                incr = true;
            } else {
                break;
            }
        }
    }
    const std::size_t elements = args.size() - at;
    if (elements == 0 || elements % 2 != 0) {
        reply::error(out, reply::syntax_error);
        return;
    }
    if (nx && xx) {
        reply::error(out, "ERR XX and NX options at the same time are not compatible");
        return;
    }
    if ((gt && nx) || (lt && nx) || (gt && lt)) {
        reply::error(out, "ERR GT, LT, and/or NX options at the same time are not compatible");
        return;
    }
    if (incr && elements > 2) {
        reply::error(out, "ERR INCR option supports a single increment-element pair");
        return;
    }
    // Every score is checked before anything changes. A few pairs, the usual ZADD, keep theirs
    // on the stack rather than in an allocation per request.
    constexpr std::size_t few = 8;
    std::array<double, few> few_scores;
    std::vector<double> many_scores;
    if (elements / 2 > few) {
        many_scores.resize(elements / 2);
    }
    const std::span<double> scores = elements / 2 > few ? std::span<double>(many_scores)
                                                        : std::span<double>(few_scores.data(), elements / 2);
    for (std::size_t i = at, k = 0; i < args.size(); i += 2, ++k) {
        auto s = parse_score(args[i]);
        if (!s) {
            reply::error(out, not_float);
            return;
        }
        scores[k] = *s;
    }
    bool wrong = false;
    Shard::Entry* e = find_typed(shard, Type::zset, args[1], now_ms, out, wrong);
    if (wrong) {
        return;
    }
    std::int64_t added = 0;
    std::int64_t updated = 0;
    bool processed = false;
    double last = 0;
    if (e == nullptr && !xx) {
        e = &shard.insert(args[1], now_ms);
        shard.make_collection(*e, Type::zset, std::make_unique<ZSetValue>());
    }
    if (e != nullptr) {
        ZSetValue& z = zset_of(*e);
        const std::size_t cost = Shard::value_cost(*e);
        for (std::size_t k = 0; k < scores.size(); ++k) {
            const std::string_view member = args[at + 2 * k + 1];
            double score = scores[k];
            ZNode* n = z.find(member);
            if (n == nullptr) {
                if (xx) {
                    continue;
                }
                z.insert(score, member);
                ++added;
                processed = true;
                last = score;
                continue;
            }
            if (nx) {
                continue;
            }
            if (incr) {
                score += n->score;
                if (std::isnan(score)) {
                    shard.value_changed(*e, cost);
                    reply::error(out, nan_score);
                    return;
                }
            }
            if ((lt && score >= n->score) || (gt && score <= n->score)) {
                continue;
            }
            processed = true;
            last = score;
            if (score != n->score) {
                z.rescore(n, score);
                ++updated;
            }
        }
        shard.value_changed(*e, cost);
    }
    if (incr) {
        if (processed) {
            score_reply(out, last);
        } else {
            reply::nil(out);
        }
    } else {
        reply::integer(out, ch ? added + updated : added);
    }
}

// ---- Ranges ----

enum class By : std::uint8_t { any, rank, score, lex };
enum class Dir : std::uint8_t { any, forward, reverse };

struct RangeQuery {
    By by = By::any;
    Dir dir = Dir::any;
    bool withscores = false;
    std::int64_t offset = 0;
    std::int64_t limit = -1; // negative: no limit
    std::int64_t start = 0;  // by rank
    std::int64_t end = 0;
    ScoreRange scores;
    LexRange lex;
};

// Reads ZRANGE's arguments from args[from] (key, min, max, options) as the command that
// fixed `by` and `dir` (or left them to the options) reads them; on an error, appends its
// reply and returns false.
bool parse_range(std::span<const std::string_view> args, std::size_t from, bool store, RangeQuery& q,
                 std::string& out) {
    for (std::size_t j = from + 3; j < args.size(); ++j) {
        const std::size_t left = args.size() - j - 1;
        if (!store && is(args[j], "withscores")) {
            q.withscores = true;
        } else if (is(args[j], "limit") && left >= 2) {
            auto offset = parse_int(args[j + 1]);
            auto limit = offset ? parse_int(args[j + 2]) : std::nullopt;
            if (!limit) {
                reply::error(out, reply::not_integer);
                return false;
            }
            q.offset = *offset;
            q.limit = *limit;
            j += 2;
        } else if (q.dir == Dir::any && is(args[j], "rev")) {
            q.dir = Dir::reverse;
        } else if (q.by == By::any && is(args[j], "bylex")) {
            q.by = By::lex;
        } else if (q.by == By::any && is(args[j], "byscore")) {
            q.by = By::score;
        } else {
            reply::error(out, reply::syntax_error);
            return false;
        }
    }
    // As in redis-server, only a limit other than -1 counts as given.
    const bool limited = q.limit != -1;
    q.dir = q.dir == Dir::any ? Dir::forward : q.dir;
    q.by = q.by == By::any ? By::rank : q.by;
    if (limited && q.by == By::rank) {
        reply::error(out,
                     "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX");
        return false;
    }
    if (q.withscores && q.by == By::lex) {
        reply::error(out, "ERR syntax error, WITHSCORES not supported in combination with BYLEX");
        return false;
    }
    std::string_view min = args[from + 1];
    std::string_view max = args[from + 2];
    if (q.dir == Dir::reverse && q.by != By::rank) {
        std::swap(min, max); // given as max, min
    }
    switch (q.by) {
    case By::score: {
        auto r = parse_score_range(min, max);
        if (!r) {
            reply::error(out, range_not_float);
            return false;
        }
        q.scores = *r;
        break;
    }
    case By::lex: {
        auto r = parse_lex_range(min, max);
        if (!r) {
            reply::error(out, range_not_lex);
            return false;
        }
        q.lex = *r;
        break;
    }
    default: {
        auto start = parse_int(min);
        auto end = start ? parse_int(max) : std::nullopt;
        if (!end) {
            reply::error(out, reply::not_integer);
            return false;
        }
        q.start = *start;
        q.end = *end;
        break;
    }
    }
    return true;
}

// The positions [start, end] of redis-server's rank ranges (negative counts from the end),
// clamped to a set of `size`; false when the range is empty.
bool rank_window(std::int64_t& start, std::int64_t& end, std::size_t size) {
    const auto n = static_cast<std::int64_t>(size);
    if (start < 0) {
        start += n;
    }
    if (end < 0) {
        end += n;
    }
    start = std::max<std::int64_t>(start, 0);
    if (start > end || start >= n) {
        return false;
    }
    end = std::min(end, n - 1);
    return true;
}

std::vector<const ZNode*> select(const ZSetValue& z, RangeQuery q) {
    std::vector<const ZNode*> picked;
    const bool rev = q.dir == Dir::reverse;
    const auto step = [rev](ZSetValue::Cursor& c) {
        if (rev) {
            --c;
        } else {
            ++c;
        }
    };
    if (q.by == By::rank) {
        if (!rank_window(q.start, q.end, z.size())) {
            return picked;
        }
        const auto count = static_cast<std::size_t>(q.end - q.start + 1);
        const auto first = static_cast<std::size_t>(q.start);
        ZSetValue::Cursor c = z.at_rank(rev ? z.size() - 1 - first : first);
        picked.reserve(count);
        for (std::size_t i = 0; i < count && c; ++i, step(c)) {
            picked.push_back(*c);
        }
        return picked;
    }
    // A negative offset walks past the end, as in redis-server.
    if (q.offset < 0 || (q.offset > 0 && static_cast<std::uint64_t>(q.offset) >= z.size())) {
        return picked;
    }
    ZSetValue::Cursor c = q.by == By::score ? (rev ? z.last_in(q.scores) : z.first_in(q.scores))
                                            : (rev ? z.last_in(q.lex) : z.first_in(q.lex));
    for (std::int64_t i = 0; i < q.offset && c; ++i) {
        step(c);
    }
    for (; c && q.limit != 0; step(c), --q.limit) {
        const ZNode* n = *c;
        const bool inside = q.by == By::score
                                ? (rev ? q.scores.above_min(n->score) : q.scores.below_max(n->score))
                                : (rev ? q.lex.above_min(n->member) : q.lex.below_max(n->member));
        if (!inside) {
            break;
        }
        picked.push_back(n);
    }
    return picked;
}

void zrange(Shard& shard, std::span<const std::string_view> args, By by, Dir dir, std::int64_t now_ms,
            std::string& out) {
    RangeQuery q;
    q.by = by;
    q.dir = dir;
    if (!parse_range(args, 1, false, q, out)) {
        return;
    }
    bool wrong = false;
    Shard::Entry* e = find_typed(shard, Type::zset, args[1], now_ms, out, wrong);
    if (wrong) {
        return;
    }
    if (e == nullptr) {
        reply::array(out, 0);
        return;
    }
    nodes_reply(out, select(zset_of(*e), q), q.withscores);
}

// ---- Counting and removing ranges ----

void zcount(Shard& shard, std::span<const std::string_view> args, bool lex, std::int64_t now_ms,
            std::string& out) {
    std::optional<ScoreRange> scores;
    std::optional<LexRange> members;
    if (lex) {
        members = parse_lex_range(args[2], args[3]);
        if (!members) {
            reply::error(out, range_not_lex);
            return;
        }
    } else {
        scores = parse_score_range(args[2], args[3]);
        if (!scores) {
            reply::error(out, range_not_float);
            return;
        }
    }
    bool wrong = false;
    Shard::Entry* e = find_typed(shard, Type::zset, args[1], now_ms, out, wrong);
    if (wrong) {
        return;
    }
    std::int64_t n = 0;
    if (e != nullptr) {
        const ZSetValue& z = zset_of(*e);
        const ZSetValue::Cursor first = lex ? z.first_in(*members) : z.first_in(*scores);
        if (first) {
            const ZSetValue::Cursor last = lex ? z.last_in(*members) : z.last_in(*scores);
            n = static_cast<std::int64_t>(z.rank(*last) - z.rank(*first) + 1);
        }
    }
    reply::integer(out, n);
}

void zremrange(Shard& shard, std::span<const std::string_view> args, By by, std::int64_t now_ms,
               std::string& out) {
    RangeQuery q;
    q.by = by;
    switch (by) {
    case By::rank: {
        auto start = parse_int(args[2]);
        auto end = start ? parse_int(args[3]) : std::nullopt;
        if (!end) {
            reply::error(out, reply::not_integer);
            return;
        }
        q.start = *start;
        q.end = *end;
        break;
    }
    case By::score: {
        auto r = parse_score_range(args[2], args[3]);
        if (!r) {
            reply::error(out, range_not_float);
            return;
        }
        q.scores = *r;
        break;
    }
    default: {
        auto r = parse_lex_range(args[2], args[3]);
        if (!r) {
            reply::error(out, range_not_lex);
            return;
        }
        q.lex = *r;
        break;
    }
    }
    q.dir = Dir::forward;
    bool wrong = false;
    Shard::Entry* e = find_typed(shard, Type::zset, args[1], now_ms, out, wrong);
    if (wrong) {
        return;
    }
    if (e == nullptr) {
        reply::integer(out, 0);
        return;
    }
    ZSetValue& z = zset_of(*e);
    std::vector<std::string> gone;
    for (const ZNode* n : select(z, q)) {
        gone.push_back(n->member);
    }
    const std::size_t cost = Shard::value_cost(*e);
    for (const auto& m : gone) {
        z.erase(m);
    }
    shard.value_changed(*e, cost);
    drop_if_empty(shard, args[1], *e);
    reply::integer(out, static_cast<std::int64_t>(gone.size()));
}

// ---- Popping, random members, scanning ----

void zpop(Shard& shard, std::span<const std::string_view> args, bool max, std::int64_t now_ms,
          std::string& out) {
    if (args.size() > 3) {
        reply::error(out, reply::syntax_error);
        return;
    }
    std::int64_t count = 1;
    if (args.size() == 3) {
        auto v = parse_int(args[2]);
        if (!v || *v < 0) {
            reply::error(out, must_be_positive);
            return;
        }
        count = *v;
    }
    bool wrong = false;
    Shard::Entry* e = find_typed(shard, Type::zset, args[1], now_ms, out, wrong);
    if (wrong) {
        return;
    }
    if (e == nullptr || count == 0) {
        reply::array(out, 0);
        return;
    }
    ZSetValue& z = zset_of(*e);
    const std::size_t take = std::min(static_cast<std::size_t>(count), z.size());
    const std::size_t cost = Shard::value_cost(*e);
    reply::array(out, 2 * take);
    for (std::size_t i = 0; i < take; ++i) {
        const ZNode* n = max ? z.back() : z.front();
        reply::bulk(out, n->member);
        score_reply(out, n->score);
        z.erase(std::string(n->member));
    }
    shard.value_changed(*e, cost);
    drop_if_empty(shard, args[1], *e);
}

void zrandmember(Shard& shard, std::span<const std::string_view> args, std::int64_t now_ms,
                 std::string& out) {
    bool wrong = false;
    if (args.size() == 2) {
        Shard::Entry* e = find_typed(shard, Type::zset, args[1], now_ms, out, wrong);
        if (wrong) {
            return;
        }
        if (e == nullptr) {
            reply::nil(out);
        } else {
            const auto& t = zset_of(*e).table();
            reply::bulk(out, t.at(shard.random() % t.size())->member);
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
    if (args.size() > 4 || (args.size() == 4 && !is(args[3], "withscores"))) {
        reply::error(out, reply::syntax_error);
        return;
    }
    const bool withscores = args.size() == 4;
    if (withscores && (*count < -(INT64_MAX / 2) || *count > INT64_MAX / 2)) {
        reply::error(out, "ERR value is out of range");
        return;
    }
    Shard::Entry* e = find_typed(shard, Type::zset, args[1], now_ms, out, wrong);
    if (wrong) {
        return;
    }
    if (e == nullptr || *count == 0) {
        reply::array(out, 0);
        return;
    }
    const ZSetValue& z = zset_of(*e);
    const auto emit = [&](const ZNode* n) {
        reply::bulk(out, n->member);
        if (withscores) {
            score_reply(out, n->score);
        }
    };
    const std::size_t per = withscores ? 2 : 1;
    if (*count < 0) {
        const auto n = static_cast<std::uint64_t>(-*count);
        reply::array(out, n * per);
        for (std::uint64_t i = 0; i < n; ++i) {
            emit(z.table().at(shard.random() % z.size()));
        }
        return;
    }
    if (static_cast<std::uint64_t>(*count) >= z.size()) {
        // The whole set, from the highest score down, as redis-server walks it.
        reply::array(out, z.size() * per);
        for (ZSetValue::Cursor c = z.last(); c; --c) {
            emit(*c);
        }
        return;
    }
    auto picks = distinct_picks(shard, z.size(), static_cast<std::size_t>(*count));
    reply::array(out, picks.size() * per);
    for (auto i : picks) {
        emit(z.table().at(i));
    }
}

// ZSCAN: as HSCAN (hash_commands.cpp), with member and score pairs; a small set answers whole
// in order with cursor 0, a large one is walked over its table from the last position down.
void zscan(Shard& shard, std::span<const std::string_view> args, std::int64_t now_ms, std::string& out) {
    std::uint64_t cursor = 0;
    ScanOptions opts;
    Shard::Entry* e = begin_scan(shard, args, Type::zset, now_ms, out, cursor, opts);
    if (e == nullptr) {
        return;
    }
    const ZSetValue& z = zset_of(*e);
    const auto& t = z.table();
    const auto [from, to] = scan_window(t.size(), !z.small(), cursor, opts, out);
    const auto keep = [&](const ZNode* n) {
        return !opts.match || glob_match(opts.pattern, n->member, false);
    };
    std::vector<const ZNode*> picked;
    if (z.small()) {
        for (ZSetValue::Cursor c = z.first(); c; ++c) {
            if (keep(*c)) {
                picked.push_back(*c);
            }
        }
    } else {
        for (std::size_t i = from; i > to; --i) {
            if (keep(t.at(i - 1))) {
                picked.push_back(t.at(i - 1));
            }
        }
    }
    nodes_reply(out, picked, true);
}

} // namespace

void run_zset(Shard& shard, const CommandSpec& spec, std::span<const std::string_view> args,
              std::int64_t now_ms, std::string& out) {
    switch (spec.id) {
    case Cmd::zadd:
    case Cmd::zincrby:
        zadd(shard, args, spec.id == Cmd::zincrby, now_ms, out);
        return;
    case Cmd::zrange:
        zrange(shard, args, By::any, Dir::any, now_ms, out);
        return;
    case Cmd::zrevrange:
        zrange(shard, args, By::rank, Dir::reverse, now_ms, out);
        return;
    case Cmd::zrangebyscore:
        zrange(shard, args, By::score, Dir::forward, now_ms, out);
        return;
    case Cmd::zrevrangebyscore:
        zrange(shard, args, By::score, Dir::reverse, now_ms, out);
        return;
    case Cmd::zrangebylex:
        zrange(shard, args, By::lex, Dir::forward, now_ms, out);
        return;
    case Cmd::zrevrangebylex:
        zrange(shard, args, By::lex, Dir::reverse, now_ms, out);
        return;
    case Cmd::zcount:
    case Cmd::zlexcount:
        zcount(shard, args, spec.id == Cmd::zlexcount, now_ms, out);
        return;
    case Cmd::zremrangebyrank:
        zremrange(shard, args, By::rank, now_ms, out);
        return;
    case Cmd::zremrangebyscore:
        zremrange(shard, args, By::score, now_ms, out);
        return;
    case Cmd::zremrangebylex:
        zremrange(shard, args, By::lex, now_ms, out);
        return;
    case Cmd::zpopmin:
    case Cmd::zpopmax:
        zpop(shard, args, spec.id == Cmd::zpopmax, now_ms, out);
        return;
    case Cmd::zrandmember:
        zrandmember(shard, args, now_ms, out);
        return;
    case Cmd::zscan:
        zscan(shard, args, now_ms, out);
        return;
    default:
        break;
    }
    bool wrong = false;
    Shard::Entry* e = find_typed(shard, Type::zset, args[1], now_ms, out, wrong);
    if (wrong) {
        return;
    }
    switch (spec.id) {
    case Cmd::zrem: {
        std::int64_t removed = 0;
        if (e != nullptr) {
            const std::size_t cost = Shard::value_cost(*e);
            for (std::size_t i = 2; i < args.size(); ++i) {
                removed += zset_of(*e).erase(args[i]) ? 1 : 0;
            }
            shard.value_changed(*e, cost);
            drop_if_empty(shard, args[1], *e);
        }
        reply::integer(out, removed);
        break;
    }
    case Cmd::zcard:
        reply::integer(out, e != nullptr ? static_cast<std::int64_t>(zset_of(*e).size()) : 0);
        break;
    case Cmd::zscore: {
        const ZNode* n = e != nullptr ? zset_of(*e).find(args[2]) : nullptr;
        if (n == nullptr) {
            reply::nil(out);
        } else {
            score_reply(out, n->score);
        }
        break;
    }
    case Cmd::zmscore:
        reply::array(out, args.size() - 2);
        for (std::size_t i = 2; i < args.size(); ++i) {
            const ZNode* n = e != nullptr ? zset_of(*e).find(args[i]) : nullptr;
            if (n == nullptr) {
                reply::nil(out);
            } else {
                score_reply(out, n->score);
            }
        }
        break;
    case Cmd::zrank:
    case Cmd::zrevrank: {
        const ZSetValue* z = e != nullptr ? &zset_of(*e) : nullptr;
        const ZNode* n = z != nullptr ? z->find(args[2]) : nullptr;
        if (n == nullptr) {
            reply::nil(out);
        } else {
            const std::size_t r = z->rank(n);
            reply::integer(out, static_cast<std::int64_t>(spec.id == Cmd::zrank ? r : z->size() - 1 - r));
        }
        break;
    }
    default:
        assert(!"not a sorted-set command");
        break;
    }
}

// ---- Commands over several keys ----

namespace {

// Where the number of keys is in a ZUNION-like command, and its first key.
std::size_t numkeys_at(Cmd id) {
    return id == Cmd::zunionstore || id == Cmd::zinterstore || id == Cmd::zdiffstore ? 2 : 1;
}

bool stores(Cmd id) {
    return numkeys_at(id) == 2;
}

} // namespace

bool zset_multi_keys(const CommandSpec& spec, std::span<const std::string_view> args,
                     std::vector<std::uint32_t>& keys) {
    keys.clear();
    if (spec.id == Cmd::zrangestore) {
        keys.push_back(1);
        keys.push_back(2);
        return true;
    }
    const std::size_t at = numkeys_at(spec.id);
    auto n = parse_int(args[at]);
    if (!n || *n < 1 || *n > static_cast<std::int64_t>(args.size() - at - 1)) {
        return false;
    }
    if (stores(spec.id)) {
        keys.push_back(1);
    }
    for (std::int64_t i = 0; i < *n; ++i) {
        keys.push_back(static_cast<std::uint32_t>(at + 1 + static_cast<std::size_t>(i)));
    }
    return true;
}

namespace {

void zrangestore(ShardsOf& shards, std::span<const std::string_view> args, std::int64_t now_ms,
                 std::string& out) {
    RangeQuery q;
    if (!parse_range(args, 2, true, q, out)) {
        return;
    }
    Shard& src_shard = shards(args[2]);
    bool wrong = false;
    Shard::Entry* e = find_typed(src_shard, Type::zset, args[2], now_ms, out, wrong);
    if (wrong) {
        return;
    }
    auto result = std::make_unique<ZSetValue>();
    if (e != nullptr) {
        for (const ZNode* n : select(zset_of(*e), q)) {
            result->insert(n->score, n->member);
        }
    }
    store_result(shards(args[1]), args[1], std::move(result), now_ms, out);
}

// One input of ZUNION, ZINTER or ZDIFF: a sorted set, or a set whose members score 1.
struct Source {
    const ZSetValue* zset = nullptr;
    const SetValue* set = nullptr;
    double weight = 1;

    std::size_t size() const { return zset != nullptr ? zset->size() : (set != nullptr ? set->size() : 0); }
    bool same(const Source& o) const { return zset == o.zset && set == o.set; }
    std::optional<double> score(std::string_view m) const {
        if (zset != nullptr) {
            const ZNode* n = zset->find(m);
            return n != nullptr ? std::optional<double>(n->score) : std::nullopt;
        }
        return set != nullptr && set->contains(m) ? std::optional<double>(1.0) : std::nullopt;
    }
    // Calls f(member, score) for each element: a sorted set from its highest score down, the
    // order in which redis-server walks one (it decides the order of floating-point sums).
    template <class F>
    void each(F&& f) const {
        if (zset != nullptr) {
            for (ZSetValue::Cursor c = zset->last(); c; --c) {
                f(std::string_view(c->member), c->score);
            }
        } else if (set != nullptr) {
            for (const auto& m : set->members().items()) {
                f(std::string_view(m), 1.0);
            }
        }
    }
};

enum class Aggregate : std::uint8_t { sum, min, max };

double weighted(double weight, double score) {
    const double v = weight * score;
    return std::isnan(v) ? 0 : v;
}

void aggregate(Aggregate how, double& into, double v) {
    switch (how) {
    case Aggregate::sum:
        into += v;
        if (std::isnan(into)) {
            into = 0;
        }
        break;
    case Aggregate::min:
        into = v < into ? v : into;
        break;
    case Aggregate::max:
        into = v > into ? v : into;
        break;
    }
}

void zsetop(ShardsOf& shards, const CommandSpec& spec, std::span<const std::string_view> args,
            std::span<const std::uint32_t> keys, std::int64_t now_ms, std::string& out) {
    const std::size_t at = numkeys_at(spec.id);
    auto n = parse_int(args[at]);
    if (!n) {
        reply::error(out, reply::not_integer);
        return;
    }
    if (*n < 1) {
        out.append("-ERR at least 1 input key is needed for '");
        out.append(spec.name);
        out.append("' command\r\n");
        return;
    }
    if (*n > static_cast<std::int64_t>(args.size() - at - 1)) {
        reply::error(out, reply::syntax_error);
        return;
    }
    const bool store = stores(spec.id);
    const bool card_only = spec.id == Cmd::zintercard;
    const bool diff = spec.id == Cmd::zdiff || spec.id == Cmd::zdiffstore;
    const bool inter = spec.id == Cmd::zinter || spec.id == Cmd::zinterstore || card_only;
    std::vector<Source> src;
    src.reserve(static_cast<std::size_t>(*n));
    for (std::uint32_t k : keys.subspan(store ? 1 : 0)) {
        Shard::Entry* e = shards(args[k]).find(args[k], now_ms);
        Source s;
        if (e != nullptr) {
            if (e->type == Type::zset) {
                s.zset = &zset_of(*e);
            } else if (e->type == Type::set) {
                s.set = &static_cast<const SetValue&>(*e->coll);
            } else {
                reply::error(out, reply::wrongtype);
                return;
            }
        }
        src.push_back(s);
    }
    Aggregate how = Aggregate::sum;
    bool withscores = false;
    std::int64_t limit = 0;
    for (std::size_t j = at + 1 + src.size(); j < args.size();) {
        const std::size_t left = args.size() - j;
        if (!diff && !card_only && left >= src.size() + 1 && is(args[j], "weights")) {
            ++j;
            for (auto& s : src) {
                auto w = parse_score(args[j++]);
                if (!w) {
                    reply::error(out, "ERR weight value is not a float");
                    return;
                }
                s.weight = *w;
            }
        } else if (!diff && !card_only && left >= 2 && is(args[j], "aggregate")) {
            const std::string_view a = args[j + 1];
            if (is(a, "sum")) {
                how = Aggregate::sum;
            } else if (is(a, "min")) {
                how = Aggregate::min;
            } else if (is(a, "max")) {
                how = Aggregate::max;
            } else {
                reply::error(out, reply::syntax_error);
                return;
            }
            j += 2;
        } else if (!store && !card_only && is(args[j], "withscores")) {
            withscores = true;
            ++j;
        } else if (card_only && left >= 2 && is(args[j], "limit")) {
            auto v = parse_int(args[j + 1]);
            if (!v || *v < 0) {
                reply::error(out, "ERR LIMIT can't be negative");
                return;
            }
            limit = *v;
            j += 2;
        } else {
            reply::error(out, reply::syntax_error);
            return;
        }
    }
    auto result = std::make_unique<ZSetValue>(!store);
    std::int64_t card = 0;
    if (inter || !diff) {
        // Smallest first, as redis-server orders its inputs (a missing key has none).
        std::stable_sort(src.begin(), src.end(),
                         [](const Source& x, const Source& y) { return x.size() < y.size(); });
    }
    if (inter) {
        if (src[0].size() > 0) {
            bool done = false;
            src[0].each([&](std::string_view m, double score) {
                if (done) {
                    return;
                }
                double total = weighted(src[0].weight, score);
                for (std::size_t i = 1; i < src.size(); ++i) {
                    auto other = src[i].same(src[0]) ? std::optional<double>(score) : src[i].score(m);
                    if (!other) {
                        return;
                    }
                    aggregate(how, total, weighted(src[i].weight, *other));
                }
                if (card_only) {
                    ++card;
                    done = limit != 0 && card >= limit;
                } else {
                    result->insert(total, m);
                }
            });
        }
    } else if (diff) {
        src[0].each([&](std::string_view m, double score) {
            for (std::size_t i = 1; i < src.size(); ++i) {
                if (src[i].score(m)) {
                    return;
                }
            }
            result->insert(score, m);
        });
    } else {
        std::unordered_map<std::string_view, double> acc;
        for (const auto& s : src) {
            s.each([&](std::string_view m, double score) {
                const double v = weighted(s.weight, score);
                auto [it, fresh] = acc.try_emplace(m, v);
                if (!fresh) {
                    aggregate(how, it->second, v);
                }
            });
        }
        for (const auto& [m, score] : acc) {
            result->insert(score, m);
        }
    }
    if (card_only) {
        reply::integer(out, card);
        return;
    }
    if (store) {
        store_result(shards(args[1]), args[1], std::move(result), now_ms, out);
        return;
    }
    std::vector<const ZNode*> all;
    all.reserve(result->size());
    for (ZSetValue::Cursor c = result->first(); c; ++c) {
        all.push_back(*c);
    }
    nodes_reply(out, all, withscores);
}

} // namespace

void run_zset_multi(ShardsOf& shards, const CommandSpec& spec, std::span<const std::string_view> args,
                    std::span<const std::uint32_t> keys, std::int64_t now_ms, std::string& out) {
    if (spec.id == Cmd::zrangestore) {
        zrangestore(shards, args, now_ms, out);
        return;
    }
    zsetop(shards, spec, args, keys, now_ms, out);
}

} // namespace gatio::resp
