#include "keyspace.hpp"

#include <algorithm>
#include <array>
#include <cassert>
#include <cstring>
#include <new>

namespace gatio::resp {

Shard::Shard(const ShardLimits& limits, std::uint64_t seed, std::uint32_t databases)
    : limits_(limits), dbs_(std::max<std::uint32_t>(databases, 1)), cur_(dbs_.data()), seed_(seed | 1),
      rng_(seed_) {
    watched_.resize(dbs_.size());
}

Shard::~Shard() {
    for (Db& db : dbs_) {
        free_all(db);
    }
}

Shard::Node* Shard::make_node(std::string_view key) {
    void* memory = ::operator new(sizeof(Node) + key.size());
    Node* n = ::new (memory) Node{};
    n->size = static_cast<std::uint32_t>(key.size());
    std::memcpy(static_cast<char*>(memory) + sizeof(Node), key.data(), key.size());
    n->entry.node = n;
    return n;
}

void Shard::free_node(Node* n) {
    n->~Node();
    ::operator delete(n);
}

void Shard::free_all(Db& db) {
    for (Node* n : db.all) {
        free_node(n);
    }
    db.all.clear();
    db.keys.clear();
    db.expiring.clear();
    db.sweep_cursor = 0;
}

std::uint64_t Shard::watch(std::string_view key) {
    WatchMap& m = watched_[selected()];
    auto it = m.find(key);
    if (it == m.end()) {
        it = m.try_emplace(std::string(key)).first;
        ++watching_;
    }
    ++it->second.watchers;
    return it->second.version;
}

std::uint64_t Shard::version(std::uint32_t db, std::string_view key) const {
    const WatchMap& m = watched_[db];
    auto it = m.find(key);
    assert(it != m.end());
    // A key that is not watched reads as changed: EXEC then aborts rather than applies.
    return it == m.end() ? ~std::uint64_t{0} : it->second.version;
}

void Shard::unwatch(std::uint32_t db, std::string_view key) {
    WatchMap& m = watched_[db];
    auto it = m.find(key);
    assert(it != m.end() && it->second.watchers > 0);
    if (it != m.end() && --it->second.watchers == 0) {
        m.erase(it);
        --watching_;
    }
}

void Shard::bump(std::uint32_t db, std::string_view key) {
    WatchMap& m = watched_[db];
    if (auto it = m.find(key); it != m.end()) {
        ++it->second.version;
    }
}

void Shard::changed_all(std::uint32_t db, const Db* other) {
    if (watching_ == 0) {
        return;
    }
    const Db& d = dbs_[db];
    for (auto& [key, w] : watched_[db]) {
        const std::uint64_t h = key_hash(key);
        if (d.keys.find(key, h) != nullptr || (other != nullptr && other->keys.find(key, h) != nullptr)) {
            ++w.version;
        }
    }
}

std::uint64_t Shard::next_random() {
    // xorshift64*: cheap, and eviction sampling needs no more than spread.
    rng_ ^= rng_ >> 12;
    rng_ ^= rng_ << 25;
    rng_ ^= rng_ >> 27;
    return rng_ * 0x2545F4914F6CDD1DULL;
}

Shard::Entry* Shard::find(std::string_view key, std::int64_t now_ms, bool touch) {
    const std::uint64_t h = key_hash(key);
    Node* n = cur_->keys.find(key, h);
    if (n == nullptr) {
        return nullptr;
    }
    Entry& e = n->entry;
    if (e.expire_at != 0 && e.expire_at <= now_ms) {
        remove(*cur_, *n, h);
        ++expired_;
        return nullptr;
    }
    if (touch) {
        e.last_access = lru_clock(now_ms);
    }
    return &e;
}

void Shard::prefetch(std::span<const std::string_view> keys) const {
    std::array<std::uint64_t, max_prefetch> hashes;
    const std::size_t n = std::min(keys.size(), max_prefetch);
    for (std::size_t i = 0; i < n; ++i) {
        hashes[i] = key_hash(keys[i]);
        cur_->keys.prefetch_slot(hashes[i]);
    }
    for (std::size_t i = 0; i < n; ++i) {
        cur_->keys.prefetch_node(hashes[i]);
    }
}

Shard::Entry& Shard::insert(std::string_view key, std::int64_t now_ms) {
    Node* node = make_node(key);
    cur_->keys.insert(node, key_hash(key));
    node->entry.all_index = static_cast<std::uint32_t>(cur_->all.size());
    node->entry.last_access = lru_clock(now_ms);
    cur_->all.push_back(node);
    used_ += cost(*node);
    changed(selected(), key);
    return node->entry;
}

void Shard::drop_expire(Db& db, Entry& e) {
    if (e.expire_at == 0) {
        return;
    }
    assert(e.expire_index < db.expiring.size());
    Node* last = db.expiring.back();
    db.expiring[e.expire_index] = last;
    last->entry.expire_index = e.expire_index;
    db.expiring.pop_back();
    e.expire_at = 0;
}

void Shard::set_expire(Entry& e, std::int64_t at_ms) {
    if (at_ms != e.expire_at) {
        changed(selected(), e.node->key());
    }
    if (at_ms == 0) {
        drop_expire(*cur_, e);
        return;
    }
    if (e.expire_at == 0) {
        e.expire_index = static_cast<std::uint32_t>(cur_->expiring.size());
        cur_->expiring.push_back(e.node);
    }
    e.expire_at = at_ms;
}

void Shard::value_changed(Entry& e, std::size_t old_cost) {
    used_ = used_ - old_cost + value_cost(e);
    changed(selected(), e.node->key());
}

void Shard::make_collection(Entry& e, Type t, std::unique_ptr<Collection> coll) {
    const std::size_t before = value_cost(e);
    std::string().swap(e.value);
    e.coll = std::move(coll);
    e.type = t;
    value_changed(e, before);
}

void Shard::make_string(Entry& e) {
    if (e.type == Type::string) {
        return;
    }
    const std::size_t before = value_cost(e);
    e.coll.reset();
    e.type = Type::string;
    value_changed(e, before);
}

void Shard::set_string(Entry& e, std::string_view value, StringForm form) {
    make_string(e);
    const std::size_t before = e.value.capacity();
    assign_string(e.value, value);
    e.form = form;
    value_changed(e, before);
}

std::string_view type_name(Type t) {
    switch (t) {
    case Type::string:
        return "string";
    case Type::hash:
        return "hash";
    case Type::list:
        return "list";
    case Type::set:
        return "set";
    case Type::zset:
        return "zset";
    }
    return "none";
}

void Shard::unlink(Db& db, Node& n, std::uint64_t h) {
    Entry& e = n.entry;
    drop_expire(db, e);
    Node* last = db.all.back();
    db.all[e.all_index] = last;
    last->entry.all_index = e.all_index;
    db.all.pop_back();
    db.keys.erase(n.key(), h);
}

void Shard::remove(Db& db, Node& n, std::uint64_t h) {
    changed(index_of(db), n.key());
    used_ -= cost(n);
    unlink(db, n, h);
    free_node(&n);
}

bool Shard::erase(std::string_view key) {
    const std::uint64_t h = key_hash(key);
    Node* n = cur_->keys.find(key, h);
    if (n == nullptr) {
        return false;
    }
    remove(*cur_, *n, h);
    return true;
}

void Shard::clear() {
    for (Db& db : dbs_) {
        changed_all(index_of(db), nullptr);
        free_all(db);
    }
    used_ = 0;
    sweep_db_ = 0;
}

void Shard::clear_db() {
    changed_all(selected(), nullptr);
    for (const Node* n : cur_->all) {
        used_ -= cost(*n);
    }
    free_all(*cur_);
}

void Shard::swap_db(std::uint32_t a, std::uint32_t b) {
    changed_all(a, &dbs_[b]);
    if (a != b) {
        changed_all(b, &dbs_[a]);
    }
    std::swap(dbs_[a], dbs_[b]);
}

bool Shard::move_key(std::string_view key, std::uint32_t to, std::int64_t now_ms) {
    Entry* e = find(key, now_ms, false);
    if (e == nullptr) {
        return false;
    }
    const std::uint64_t h = key_hash(key);
    Db& dst = dbs_[to];
    if (Node* there = dst.keys.find(key, h); there != nullptr) {
        if (there->entry.expire_at == 0 || there->entry.expire_at > now_ms) {
            return false;
        }
        remove(dst, *there, h);
        ++expired_;
    }
    changed(selected(), key);
    changed(to, key);
    // The node itself moves, so the entry returned by find stays valid.
    Node& node = *e->node;
    const std::int64_t expire_at = node.entry.expire_at;
    unlink(*cur_, node, h);
    dst.keys.insert(&node, h);
    node.entry.all_index = static_cast<std::uint32_t>(dst.all.size());
    dst.all.push_back(&node);
    if (expire_at != 0) {
        node.entry.expire_at = expire_at;
        node.entry.expire_index = static_cast<std::uint32_t>(dst.expiring.size());
        dst.expiring.push_back(&node);
    }
    return true;
}

void Shard::reset() {
    clear();
    evicted_ = 0;
    expired_ = 0;
    rng_ = seed_;
    cur_ = dbs_.data();
}

bool Shard::make_room(std::int64_t now_ms) {
    if (limits_.max_memory == 0 || used_ <= limits_.max_memory) {
        return true;
    }
    if (limits_.policy == EvictionPolicy::noeviction) {
        return false;
    }
    while (used_ > limits_.max_memory) {
        // Approximate LRU as redis-server does: the oldest of a few random keys goes, sampled
        // from one database with keys, each as likely.
        Db* db = nullptr;
        std::size_t with_keys = 0;
        for (Db& d : dbs_) {
            if (!d.all.empty()) {
                db = &d;
                ++with_keys;
            }
        }
        if (db == nullptr) {
            break;
        }
        if (with_keys > 1) {
            std::size_t pick = next_random() % with_keys;
            for (Db& d : dbs_) {
                if (!d.all.empty() && pick-- == 0) {
                    db = &d;
                    break;
                }
            }
        }
        const auto& all = db->all;
        Node* victim = all[next_random() % all.size()];
        for (std::uint32_t i = 1; i < limits_.lru_samples; ++i) {
            Node* candidate = all[next_random() % all.size()];
            if (candidate->entry.last_access < victim->entry.last_access) {
                victim = candidate;
            }
        }
        // An already expired victim counts as expired, not evicted.
        if (victim->entry.expire_at != 0 && victim->entry.expire_at <= now_ms) {
            ++expired_;
        } else {
            ++evicted_;
        }
        remove(*db, *victim);
    }
    return used_ <= limits_.max_memory;
}

std::size_t Shard::sweep(std::int64_t now_ms, std::size_t budget) {
    std::size_t deleted = 0;
    std::size_t examined = 0;
    // The databases in turn from where the last sweep stopped, each from its own cursor.
    for (std::size_t visited = 0; visited < dbs_.size() && examined < budget; ++visited) {
        Db& db = dbs_[sweep_db_];
        // Each key of this database is examined once at most per visit.
        for (std::size_t advanced = 0; examined < budget && advanced < db.expiring.size(); ++examined) {
            if (db.sweep_cursor >= db.expiring.size()) {
                db.sweep_cursor = 0;
            }
            Node* node = db.expiring[db.sweep_cursor];
            if (node->entry.expire_at <= now_ms) {
                // The last entry moves into this position, so the cursor stays to examine it.
                remove(db, *node);
                ++expired_;
                ++deleted;
            } else {
                ++db.sweep_cursor;
                ++advanced;
            }
        }
        if (examined < budget) {
            sweep_db_ = (sweep_db_ + 1) % dbs_.size();
        }
    }
    return deleted;
}

} // namespace gatio::resp
