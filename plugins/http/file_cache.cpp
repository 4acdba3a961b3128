#include "file_cache.hpp"

#include <cstring>

namespace gatio::http {

namespace {

constexpr std::uint32_t nil = UINT32_MAX;

// How far from the least recently used end insert looks for an entry no answer holds.
constexpr int eviction_scan = 8;

} // namespace

FileCache::FileCache(std::uint32_t capacity, std::size_t max_path, std::chrono::milliseconds valid,
                     CloseFn close, void* context)
    : entries_(capacity), max_path_(max_path), valid_(valid), close_(close), context_(context) {
    if (capacity == 0) {
        return;
    }
    paths_ = std::make_unique<char[]>(static_cast<std::size_t>(capacity) * max_path);
    std::uint32_t buckets = 1;
    while (buckets < 2 * capacity) {
        buckets <<= 1;
    }
    buckets_.assign(buckets, nil);
    free_.reserve(capacity);
    for (std::uint32_t i = 0; i < capacity; ++i) {
        entries_[i].index = i;
        entries_[i].path = paths_.get() + static_cast<std::size_t>(i) * max_path;
        free_.push_back(capacity - 1 - i);
    }
}

std::uint64_t FileCache::hash_of(int route, std::string_view path) {
    std::uint64_t h = 14695981039346656037ull ^ static_cast<std::uint64_t>(route);
    for (char c : path) {
        h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
    }
    return h;
}

void FileCache::unlink_lru(Entry& e) {
    (e.older != nil ? entries_[e.older].newer : oldest_) = e.newer;
    (e.newer != nil ? entries_[e.newer].older : newest_) = e.older;
    e.older = e.newer = nil;
}

void FileCache::push_newest(Entry& e) {
    e.older = newest_;
    e.newer = nil;
    (newest_ != nil ? entries_[newest_].newer : oldest_) = e.index;
    newest_ = e.index;
}

void FileCache::detach(Entry& e) {
    std::uint32_t* link = &buckets_[e.hash & (buckets_.size() - 1)];
    while (*link != e.index) {
        link = &entries_[*link].chain;
    }
    *link = e.chain;
    e.chain = nil;
    unlink_lru(e);
    e.state = Entry::State::detached;
    --cached_;
    if (e.refs == 0) {
        free_entry(e);
    }
}

void FileCache::free_entry(Entry& e) {
    close_(context_, e.file);
    e.file = 0;
    e.state = Entry::State::free;
    free_.push_back(e.index);
}

FileCache::Entry* FileCache::find(int route, std::string_view path, Clock::time_point now) {
    if (buckets_.empty() || path.size() > max_path_) {
        return nullptr;
    }
    const std::uint64_t h = hash_of(route, path);
    for (std::uint32_t i = buckets_[h & (buckets_.size() - 1)]; i != nil; i = entries_[i].chain) {
        Entry& e = entries_[i];
        if (e.hash != h || e.route != route || std::string_view(e.path, e.path_len) != path) {
            continue;
        }
        if (now - e.opened >= valid_) {
            detach(e);
            return nullptr;
        }
        unlink_lru(e);
        push_newest(e);
        ++e.refs;
        return &e;
    }
    return nullptr;
}

FileCache::Entry* FileCache::insert(int route, std::string_view path, gatio_file file,
                                    const gatio_file_stat& stat, Clock::time_point now) {
    if (buckets_.empty() || path.size() > max_path_) {
        return nullptr;
    }
    if (free_.empty()) {
        std::uint32_t i = oldest_;
        for (int n = 0; i != nil && n < eviction_scan && entries_[i].refs > 0; ++n) {
            i = entries_[i].newer;
        }
        if (i == nil || entries_[i].refs > 0) {
            return nullptr;
        }
        detach(entries_[i]);
    }
    if (free_.empty()) {
        return nullptr;
    }
    Entry& e = entries_[free_.back()];
    free_.pop_back();
    e.file = file;
    e.stat = stat;
    e.opened = now;
    e.refs = 1;
    e.state = Entry::State::cached;
    e.route = route;
    e.path_len = static_cast<std::uint32_t>(path.size());
    std::memcpy(e.path, path.data(), path.size());
    e.hash = hash_of(route, path);
    std::uint32_t& bucket = buckets_[e.hash & (buckets_.size() - 1)];
    e.chain = bucket;
    bucket = e.index;
    push_newest(e);
    ++cached_;
    return &e;
}

void FileCache::release(Entry* e) {
    if (--e->refs == 0 && e->state == Entry::State::detached) {
        free_entry(*e);
    }
}

} // namespace gatio::http
