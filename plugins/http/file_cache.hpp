// The open-file cache of root routes (the option open_file_cache): per instance, the regular
// files answered recently, with their handle and stat, found again by route and path. An entry
// is used for open_file_cache_valid after its open; a request after that opens and stats the
// file again, so a file changed, replaced or removed is served as it is then at the latest one
// validity later. Entries live in a table sized at creation; the least recently used one that
// no answer is sending from gives way to a new file.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include <gatio/plugin.h>

namespace gatio::http {

class FileCache {
public:
    using Clock = std::chrono::steady_clock;

    struct Entry {
        gatio_file file = 0;
        gatio_file_stat stat{};
        Clock::time_point opened{};
        std::uint32_t refs = 0; // answers sending from it
        // Internals.
        enum class State : std::uint8_t { free, cached, detached } state = State::free;
        int route = 0;
        std::uint32_t path_len = 0;
        char* path = nullptr;
        std::uint64_t hash = 0;
        std::uint32_t index = 0;
        std::uint32_t chain = UINT32_MAX; // next in its bucket
        std::uint32_t older = UINT32_MAX; // the LRU list
        std::uint32_t newer = UINT32_MAX;
    };

    // Called for a file the cache lets go of once no answer sends from it.
    using CloseFn = void (*)(void* context, gatio_file file);

    // capacity 0: the cache is off (find finds nothing, insert takes nothing).
    FileCache(std::uint32_t capacity, std::size_t max_path, std::chrono::milliseconds valid, CloseFn close,
              void* context);

    std::uint32_t capacity() const { return static_cast<std::uint32_t>(entries_.size()); }
    std::uint32_t size() const { return cached_; }

    // The entry of (route, path) opened less than `valid` ago, with one more reference; else
    // nullptr, and an expired entry leaves the table (its file is closed once unreferenced).
    Entry* find(int route, std::string_view path, Clock::time_point now);
    // Takes over `file` (a regular file, just stated) for (route, path), with one reference;
    // nullptr when every entry is in use by an answer (the caller keeps and closes its file).
    Entry* insert(int route, std::string_view path, gatio_file file, const gatio_file_stat& stat,
                  Clock::time_point now);
    void release(Entry* e);

private:
    static std::uint64_t hash_of(int route, std::string_view path);
    void unlink_lru(Entry& e);
    void push_newest(Entry& e);
    void detach(Entry& e); // out of the table and the LRU; freed (and closed) when unreferenced
    void free_entry(Entry& e);

    std::vector<Entry> entries_;
    std::unique_ptr<char[]> paths_;
    std::vector<std::uint32_t> buckets_;
    std::vector<std::uint32_t> free_;
    std::size_t max_path_;
    std::chrono::milliseconds valid_;
    CloseFn close_;
    void* context_;
    std::uint32_t newest_ = UINT32_MAX;
    std::uint32_t oldest_ = UINT32_MAX;
    std::uint32_t cached_ = 0;
};

} // namespace gatio::http
