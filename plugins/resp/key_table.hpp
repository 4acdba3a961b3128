// A database's index from a key to its node: open addressing with linear probing over a
// power-of-two array of slots, each the node's address and its key's full hash. A lookup reads
// the slots of one probe run (four to a cache line) and, where a slot's hash matches, the node,
// which holds its key's bytes: no bucket array pointing to chained nodes, no key elsewhere on
// the heap. The hashes in the slots let the table grow without reading a node, and deletion
// shifts the probe run back, so there are no tombstones.
//
// The table owns no node; `Node` needs `std::string_view key() const`.
#pragma once

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>
#include <utility>
#include <vector>

namespace gatio::resp {

inline std::uint64_t key_hash(std::string_view key) {
    return std::hash<std::string_view>{}(key);
}

template <class Node>
class KeyTable {
public:
    // The first allocation's slots; from then on the table doubles before it is over 3/4 full,
    // a load at which linear probing's runs stay short.
    static constexpr std::size_t min_slots = 16;

    std::size_t size() const { return size_; }

    Node* find(std::string_view key, std::uint64_t h) const {
        if (slots_.empty()) {
            return nullptr;
        }
        for (std::size_t i = h & mask();; i = (i + 1) & mask()) {
            const Slot& s = slots_[i];
            if (s.node == nullptr) {
                return nullptr;
            }
            if (s.hash == h && s.node->key() == key) {
                return s.node;
            }
        }
    }

    // Prefetching for a batch of lookups: first each key's home slot, then, once those have
    // arrived, the node of the first slot with the key's hash (both of its cache lines).
    void prefetch_slot(std::uint64_t h) const {
        if (!slots_.empty()) {
            __builtin_prefetch(&slots_[h & mask()]);
        }
    }
    void prefetch_node(std::uint64_t h) const {
        if (slots_.empty()) {
            return;
        }
        for (std::size_t i = h & mask(); slots_[i].node != nullptr; i = (i + 1) & mask()) {
            if (slots_[i].hash == h) {
                __builtin_prefetch(slots_[i].node);
                __builtin_prefetch(reinterpret_cast<const char*>(slots_[i].node) + 64);
                return;
            }
        }
    }

    // Adds a node whose key is not in the table.
    void insert(Node* node, std::uint64_t h) {
        assert(node != nullptr && find(node->key(), h) == nullptr);
        if ((size_ + 1) * 4 > slots_.size() * 3) {
            grow();
        }
        place(node, h);
        ++size_;
    }

    // Removes the node with key `key` (hash h), which must be in the table.
    void erase(std::string_view key, std::uint64_t h) {
        std::size_t hole = h & mask();
        while (slots_[hole].hash != h || slots_[hole].node->key() != key) {
            assert(slots_[hole].node != nullptr);
            hole = (hole + 1) & mask();
        }
        // Each later slot of the run moves back into the hole unless the hole lies before its home.
        for (std::size_t j = (hole + 1) & mask(); slots_[j].node != nullptr; j = (j + 1) & mask()) {
            const std::size_t home = slots_[j].hash & mask();
            if (((j - home) & mask()) >= ((j - hole) & mask())) {
                slots_[hole] = slots_[j];
                hole = j;
            }
        }
        slots_[hole] = Slot{};
        --size_;
    }

    // Forgets every node, keeping the slots' memory.
    void clear() {
        std::fill(slots_.begin(), slots_.end(), Slot{});
        size_ = 0;
    }

private:
    struct Slot {
        Node* node = nullptr; // nullptr: vacant
        std::uint64_t hash = 0;
    };

    std::size_t mask() const { return slots_.size() - 1; }

    void place(Node* node, std::uint64_t h) {
        std::size_t i = h & mask();
        while (slots_[i].node != nullptr) {
            i = (i + 1) & mask();
        }
        slots_[i] = Slot{node, h};
    }

    void grow() {
        std::vector<Slot> old(std::max(min_slots, slots_.size() * 2));
        old.swap(slots_);
        for (const Slot& s : old) {
            if (s.node != nullptr) {
                place(s.node, s.hash);
            }
        }
    }

    std::vector<Slot> slots_;
    std::size_t size_ = 0;
};

} // namespace gatio::resp
