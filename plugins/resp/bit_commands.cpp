// The bitmap commands: SETBIT, GETBIT, BITCOUNT and BITPOS over a string's bytes, bit 0 being
// the most significant bit of the first byte, as redis-server numbers them.
#include <algorithm>
#include <bit>
#include <cassert>
#include <cstdint>

#include "commands.hpp"
#include "parser.hpp"
#include "reply.hpp"
#include "text.hpp"

namespace gatio::resp {

namespace {

constexpr std::string_view offset_error = "ERR bit offset is not an integer or out of range";
constexpr std::string_view bit_value_error = "ERR bit is not an integer or out of range";

// A bit offset as redis-server bounds it: a string holds at most proto-max-bulk-len bytes.
std::optional<std::uint64_t> bit_offset(std::string_view arg, const ServerSettings& settings,
                                        std::string& out) {
    auto v = parse_int(arg);
    if (!v || *v < 0 || (static_cast<std::uint64_t>(*v) >> 3) >= settings.proto_max_bulk_len) {
        reply::error(out, offset_error);
        return std::nullopt;
    }
    return static_cast<std::uint64_t>(*v);
}

bool bit_at(std::string_view s, std::uint64_t offset) {
    const auto byte = static_cast<unsigned char>(s[offset >> 3]);
    return ((byte >> (7 - (offset & 7))) & 1) != 0;
}

void getbit(Shard& shard, std::span<const std::string_view> args, const ServerSettings& settings,
            std::int64_t now_ms, std::string& out) {
    auto offset = bit_offset(args[2], settings, out);
    if (!offset) {
        return;
    }
    bool wrong = false;
    const Shard::Entry* e = shard.find(args[1], Type::string, now_ms, wrong);
    if (wrong) {
        reply::error(out, reply::wrongtype);
        return;
    }
    const bool set = e != nullptr && (*offset >> 3) < e->value.size() && bit_at(e->value, *offset);
    reply::integer(out, set ? 1 : 0);
}

void setbit(Shard& shard, std::span<const std::string_view> args, const ServerSettings& settings,
            std::int64_t now_ms, std::string& out) {
    auto offset = bit_offset(args[2], settings, out);
    if (!offset) {
        return;
    }
    auto on = parse_int(args[3]);
    if (!on || (*on != 0 && *on != 1)) {
        reply::error(out, bit_value_error);
        return;
    }
    bool wrong = false;
    Shard::Entry* e = shard.find(args[1], Type::string, now_ms, wrong);
    if (wrong) {
        reply::error(out, reply::wrongtype);
        return;
    }
    if (e == nullptr) {
        e = &shard.insert(args[1], now_ms);
    }
    const std::size_t before = Shard::value_cost(*e);
    const auto byte = static_cast<std::size_t>(*offset >> 3);
    if (e->value.size() <= byte) {
        e->value.resize(byte + 1, '\0');
    }
    const bool old = bit_at(e->value, *offset);
    const auto mask = static_cast<unsigned char>(1u << (7 - (*offset & 7)));
    auto& c = reinterpret_cast<unsigned char&>(e->value[byte]);
    c = static_cast<unsigned char>(*on != 0 ? c | mask : c & ~mask);
    e->form = StringForm::raw;
    shard.value_changed(*e, before);
    reply::integer(out, old ? 1 : 0);
}

// A range [first, last] of bits of a string of `len` bytes, from BITCOUNT's and BITPOS's start
// and end (bytes, or bits with BIT); empty (first > last) when nothing is left.
IndexRange bit_range(std::int64_t start, std::int64_t end, std::int64_t len, bool in_bits) {
    const IndexRange r = clamp_range(start, end, in_bits ? len * 8 : len);
    if (in_bits || r.first > r.last) {
        return r;
    }
    return {r.first * 8, r.last * 8 + 7};
}

// The set bits of s in [first, last]: whole bytes by popcount, the partial edges bit by bit.
std::int64_t count_bits(std::string_view s, IndexRange r) {
    std::int64_t count = 0;
    std::int64_t i = r.first;
    for (; i <= r.last && (i & 7) != 0; ++i) {
        count += bit_at(s, static_cast<std::uint64_t>(i)) ? 1 : 0;
    }
    for (; i + 7 <= r.last; i += 8) {
        count += std::popcount(static_cast<unsigned char>(s[static_cast<std::size_t>(i >> 3)]));
    }
    for (; i <= r.last; ++i) {
        count += bit_at(s, static_cast<std::uint64_t>(i)) ? 1 : 0;
    }
    return count;
}

// The first bit equal to `bit` in [first, last], or -1.
std::int64_t find_bit(std::string_view s, IndexRange r, bool bit) {
    const unsigned char skip = bit ? 0x00 : 0xff; // a byte with no bit sought
    std::int64_t i = r.first;
    while (i <= r.last) {
        if ((i & 7) == 0 && i + 7 <= r.last &&
            static_cast<unsigned char>(s[static_cast<std::size_t>(i >> 3)]) == skip) {
            i += 8;
            continue;
        }
        if (bit_at(s, static_cast<std::uint64_t>(i)) == bit) {
            return i;
        }
        ++i;
    }
    return -1;
}

// BITCOUNT's and BITPOS's optional unit argument; false with the error written.
bool unit_in_bits(std::string_view arg, bool& in_bits, std::string& out) {
    if (is(arg, "bit")) {
        in_bits = true;
    } else if (is(arg, "byte")) {
        in_bits = false;
    } else {
        reply::error(out, reply::syntax_error);
        return false;
    }
    return true;
}

void bitcount(Shard& shard, std::span<const std::string_view> args, std::int64_t now_ms, std::string& out) {
    bool wrong = false;
    const Shard::Entry* e = shard.find(args[1], Type::string, now_ms, wrong);
    if (wrong) {
        reply::error(out, reply::wrongtype);
        return;
    }
    if (e == nullptr) {
        reply::integer(out, 0); // whatever the range, as redis-server 7.0 answers before reading it
        return;
    }
    const std::string_view s = e->value;
    const auto len = static_cast<std::int64_t>(s.size());
    IndexRange r{0, len * 8 - 1};
    if (args.size() == 4 || args.size() == 5) {
        auto start = parse_int(args[2]);
        auto end = parse_int(args[3]);
        if (!start || !end) {
            reply::error(out, reply::not_integer);
            return;
        }
        bool in_bits = false;
        if (args.size() == 5 && !unit_in_bits(args[4], in_bits, out)) {
            return;
        }
        if (*start < 0 && *end < 0 && *start > *end) {
            reply::integer(out, 0);
            return;
        }
        r = bit_range(*start, *end, len, in_bits);
    } else if (args.size() != 2) {
        reply::error(out, reply::syntax_error);
        return;
    }
    reply::integer(out, r.first > r.last ? 0 : count_bits(s, r));
}

void bitpos(Shard& shard, std::span<const std::string_view> args, std::int64_t now_ms, std::string& out) {
    auto bit = parse_int(args[2]);
    if (!bit) {
        reply::error(out, reply::not_integer);
        return;
    }
    if (*bit != 0 && *bit != 1) {
        reply::error(out, "ERR The bit argument must be 1 or 0.");
        return;
    }
    bool wrong = false;
    const Shard::Entry* e = shard.find(args[1], Type::string, now_ms, wrong);
    if (wrong) {
        reply::error(out, reply::wrongtype);
        return;
    }
    if (e == nullptr) {
        // A missing key is an endless run of zeros.
        reply::integer(out, *bit != 0 ? -1 : 0);
        return;
    }
    const std::string_view s = e->value;
    const auto len = static_cast<std::int64_t>(s.size());
    IndexRange r{0, len * 8 - 1};
    const bool end_given = args.size() >= 5;
    if (args.size() >= 4 && args.size() <= 6) {
        auto start = parse_int(args[3]);
        if (!start) {
            reply::error(out, reply::not_integer);
            return;
        }
        bool in_bits = false;
        if (args.size() == 6 && !unit_in_bits(args[5], in_bits, out)) {
            return;
        }
        std::int64_t end = len - 1;
        if (end_given) {
            auto given = parse_int(args[4]);
            if (!given) {
                reply::error(out, reply::not_integer);
                return;
            }
            end = *given;
        }
        r = bit_range(*start, end, len, in_bits);
    } else if (args.size() != 3) {
        reply::error(out, reply::syntax_error);
        return;
    }
    if (r.first > r.last) {
        reply::integer(out, -1);
        return;
    }
    const std::int64_t at = find_bit(s, r, *bit != 0);
    // Looking for a clear bit without an end, the string goes on with zeros past its last byte.
    reply::integer(out, at < 0 && *bit == 0 && !end_given ? r.last + 1 : at);
}

} // namespace

void run_bitmap(Shard& shard, const CommandSpec& spec, std::span<const std::string_view> args,
                const ServerSettings& settings, std::int64_t now_ms, std::string& out) {
    switch (spec.id) {
    case Cmd::setbit:
        setbit(shard, args, settings, now_ms, out);
        return;
    case Cmd::getbit:
        getbit(shard, args, settings, now_ms, out);
        return;
    case Cmd::bitcount:
        bitcount(shard, args, now_ms, out);
        return;
    case Cmd::bitpos:
        bitpos(shard, args, now_ms, out);
        return;
    default:
        assert(!"not a bitmap command");
        return;
    }
}

} // namespace gatio::resp
