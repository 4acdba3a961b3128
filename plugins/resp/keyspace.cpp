#include "keyspace.hpp"

#include <cassert>

namespace gatio::resp {

Shard::Shard(const ShardLimits& limits, std::uint64_t seed) : limits_(limits), seed_(seed | 1), rng_(seed_) {}

std::uint64_t Shard::next_random() {
    // xorshift64*: cheap, and eviction sampling needs no more than spread.
    rng_ ^= rng_ >> 12;
    rng_ ^= rng_ << 25;
    rng_ ^= rng_ >> 27;
    return rng_ * 0x2545F4914F6CDD1DULL;
}

Shard::Entry* Shard::find(std::string_view key, std::int64_t now_ms, bool touch) {
    auto it = map_.find(key);
    if (it == map_.end()) {
        return nullptr;
    }
    Entry& e = it->second;
    if (e.expire_at != 0 && e.expire_at <= now_ms) {
        remove(it);
        ++expired_;
        return nullptr;
    }
    if (touch) {
        e.last_access = lru_clock(now_ms);
    }
    return &e;
}

Shard::Entry& Shard::insert(std::string_view key, std::int64_t now_ms) {
    auto [it, inserted] = map_.try_emplace(std::string(key));
    assert(inserted);
    Node& node = *it;
    node.second.all_index = static_cast<std::uint32_t>(all_.size());
    node.second.last_access = lru_clock(now_ms);
    node.second.node = &node;
    all_.push_back(&node);
    used_ += cost(node);
    return node.second;
}

void Shard::drop_expire(Entry& e) {
    if (e.expire_at == 0) {
        return;
    }
    assert(e.expire_index < expiring_.size());
    Node* last = expiring_.back();
    expiring_[e.expire_index] = last;
    last->second.expire_index = e.expire_index;
    expiring_.pop_back();
    e.expire_at = 0;
}

void Shard::set_expire(Entry& e, std::int64_t at_ms) {
    if (at_ms == 0) {
        drop_expire(e);
        return;
    }
    if (e.expire_at == 0) {
        e.expire_index = static_cast<std::uint32_t>(expiring_.size());
        expiring_.push_back(e.node);
    }
    e.expire_at = at_ms;
}

void Shard::value_changed(Entry& e, std::size_t old_cost) {
    used_ = used_ - old_cost + value_cost(e);
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

void Shard::remove(Map::iterator it) {
    Entry& e = it->second;
    drop_expire(e);
    Node* last = all_.back();
    all_[e.all_index] = last;
    last->second.all_index = e.all_index;
    all_.pop_back();
    used_ -= cost(*it);
    map_.erase(it);
}

bool Shard::erase(std::string_view key) {
    auto it = map_.find(key);
    if (it == map_.end()) {
        return false;
    }
    remove(it);
    return true;
}

void Shard::clear() {
    map_.clear();
    all_.clear();
    expiring_.clear();
    used_ = 0;
    sweep_cursor_ = 0;
}

void Shard::reset() {
    clear();
    evicted_ = 0;
    expired_ = 0;
    rng_ = seed_;
}

bool Shard::make_room(std::int64_t now_ms) {
    if (limits_.max_memory == 0 || used_ <= limits_.max_memory) {
        return true;
    }
    if (limits_.policy == EvictionPolicy::noeviction) {
        return false;
    }
    while (used_ > limits_.max_memory && !all_.empty()) {
        // Approximate LRU as redis-server does: the oldest of a few random keys goes.
        Node* victim = all_[next_random() % all_.size()];
        for (std::uint32_t i = 1; i < limits_.lru_samples; ++i) {
            Node* candidate = all_[next_random() % all_.size()];
            if (candidate->second.last_access < victim->second.last_access) {
                victim = candidate;
            }
        }
        // An already expired victim counts as expired, not evicted.
        if (victim->second.expire_at != 0 && victim->second.expire_at <= now_ms) {
            ++expired_;
        } else {
            ++evicted_;
        }
        remove(map_.find(std::string_view(victim->first)));
    }
    return used_ <= limits_.max_memory;
}

std::size_t Shard::sweep(std::int64_t now_ms, std::size_t budget) {
    std::size_t deleted = 0;
    for (std::size_t examined = 0; examined < budget && !expiring_.empty(); ++examined) {
        if (sweep_cursor_ >= expiring_.size()) {
            sweep_cursor_ = 0;
        }
        Node* node = expiring_[sweep_cursor_];
        if (node->second.expire_at <= now_ms) {
            // The last entry moves into this position, so the cursor stays to examine it.
            remove(map_.find(std::string_view(node->first)));
            ++expired_;
            ++deleted;
        } else {
            ++sweep_cursor_;
        }
    }
    return deleted;
}

} // namespace gatio::resp
