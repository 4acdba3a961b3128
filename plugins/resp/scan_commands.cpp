// SCAN and RANDOMKEY: the key commands that walk a whole database, which is spread over every
// shard.
//
// SCAN's cursor says where the walk is: (positions left in shard s) * shards + s. Each shard
// walks its database's keys by position from the top down (Shard::positions), so "positions
// left" is the walk's whole state in a shard, and 0 starts a shard from its top. A removal
// moves the shard's last key into the removed one's position and an insertion appends, so a key
// that has not been walked yet only ever moves further down, into positions still to walk:
// every key present for the whole scan is returned at least once (keys moved down from the
// walked part may come twice), which is redis-server's guarantee. A key's shard never changes,
// so walking the shards in turn keeps it over the whole database. Every shard from the
// cursor's on walks COUNT positions in one call; the reply takes the shards in order up to the
// first that has positions left, whose place becomes the next cursor, so a small database is
// answered whole with cursor 0, as redis-server answers it.
#include <algorithm>
#include <charconv>

#include "commands.hpp"
#include "parser.hpp"
#include "reply.hpp"
#include "text.hpp"

namespace gatio::resp {

bool scan_check(std::span<const std::string_view> args, std::string& out) {
    if (!parse_cursor(args[1])) {
        reply::error(out, "ERR invalid cursor");
        return false;
    }
    ScanOptions opts;
    return parse_scan_options(args, 2, opts, out, true);
}

void scan_part(Shard& shard, std::span<const std::string_view> args, std::uint32_t index,
               std::uint32_t shards, std::int64_t now_ms, ShardShare& share) {
    const std::uint64_t cursor = parse_cursor(args[1]).value_or(0);
    const std::uint64_t start = cursor % shards;
    if (index < start) {
        return; // walked whole in earlier calls
    }
    ScanOptions opts;
    std::string unused;
    parse_scan_options(args, 2, opts, unused, true); // scan_check accepted them
    const std::size_t size = shard.positions();
    std::size_t from = size;
    if (index == start && cursor / shards != 0) {
        from = static_cast<std::size_t>(std::min<std::uint64_t>(cursor / shards, size));
    }
    const std::size_t to = from - std::min<std::size_t>(from, static_cast<std::size_t>(opts.count));
    for (std::size_t i = from; i > to; --i) {
        const Shard::Node& node = shard.at(i - 1);
        const std::string_view key = node.key();
        const Shard::Entry& e = node.entry;
        // Expired keys not yet swept are skipped, not deleted: deleting would move a key.
        if (e.expire_at != 0 && e.expire_at <= now_ms) {
            continue;
        }
        if (opts.match && !glob_match(opts.pattern, key, false)) {
            continue;
        }
        if (opts.typed && !equal_nocase(opts.type, type_name(e.type))) {
            continue;
        }
        reply::bulk(share.out, key);
        ++share.count;
    }
    share.left = to;
}

void scan_gather(std::span<const std::string_view> args, std::span<ShardShare* const> shares,
                 std::string& out) {
    const std::uint64_t n = shares.size();
    const std::uint64_t start = parse_cursor(args[1]).value_or(0) % n;
    std::uint64_t next = 0;
    std::uint64_t last = n - 1;
    std::int64_t items = 0;
    for (std::uint64_t i = start; i < n; ++i) {
        items += shares[i]->count;
        if (shares[i]->left != 0) {
            next = shares[i]->left * n + i;
            last = i;
            break;
        }
    }
    reply::array(out, 2);
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, next);
    reply::bulk(out, std::string_view(buf, static_cast<std::size_t>(r.ptr - buf)));
    reply::array(out, static_cast<std::size_t>(items));
    for (std::uint64_t i = start; i <= last; ++i) {
        out.append(shares[i]->out);
    }
}

void randomkey_part(Shard& shard, std::int64_t now_ms, ShardShare& share) {
    // An expired key picked is deleted and another picked, as redis-server does.
    while (shard.positions() > 0) {
        const auto& node = shard.at(shard.random() % shard.positions());
        if (shard.find(node.key(), now_ms, false) != nullptr) {
            reply::bulk(share.out, node.key());
            break;
        }
    }
    share.count = static_cast<std::int64_t>(shard.positions());
    share.random = shard.random();
}

void randomkey_gather(std::span<ShardShare* const> shares, std::string& out) {
    std::uint64_t total = 0;
    for (const ShardShare* s : shares) {
        total += static_cast<std::uint64_t>(s->count);
    }
    if (total == 0) {
        reply::nil(out);
        return;
    }
    // Each shard's pick is uniform over its keys; choosing the shard by its share of the keys
    // makes the answer uniform over the database.
    std::uint64_t pick = shares[0]->random % total;
    for (const ShardShare* s : shares) {
        const auto keys = static_cast<std::uint64_t>(s->count);
        if (pick < keys) {
            out.append(s->out);
            return;
        }
        pick -= keys;
    }
}

} // namespace gatio::resp
