// The values a key can hold besides a string: the containers behind hashes (and the types that
// follow), each keeping an account of the memory it holds.
//
// A small hash keeps its fields in insertion order and is searched linearly, with an ordered
// delete: the order redis-server's listpack encoding gives, so HGETALL, HKEYS, HSCAN and
// HRANDFIELD of a small hash answer in redis-server's order. Past redis-server's thresholds
// (more than 512 fields, or a field or value longer than 64 bytes) it gains a hash index and
// deletes by moving the last field into the hole, which keeps the fields dense (for random
// picks and for SCAN cursors, see below) at a cost independent of the size. Like
// redis-server, it never goes back to the small form.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "inline_string.hpp"
#include "parser.hpp"

namespace gatio::resp {

// Replaces a string's bytes; memory that the new bytes would leave mostly unused is given
// back rather than kept (and accounted) for a value that may never grow again.
inline void assign_string(std::string& s, std::string_view v) {
    if (s.capacity() > 2 * v.size() + 32) {
        std::string(v).swap(s);
    } else {
        s.assign(v);
    }
}

// What a value costs beyond its key: the entry's share of the key table (see keyspace.hpp)
// is counted there; this is the container's own memory.
class Collection {
public:
    Collection() = default;
    Collection(const Collection&) = delete;
    Collection& operator=(const Collection&) = delete;
    virtual ~Collection() = default;
    std::size_t bytes() const { return bytes_; }
    // A deep copy in the same form (small or indexed), accounted anew (COPY).
    virtual std::unique_ptr<Collection> clone() const = 0;

protected:
    std::size_t bytes_ = 0;
};

// Items in a vector, found by key; `KeyOf` gives an item's key. While it holds at most
// `SmallItems` items, none longer than `small_length`, it is small (searched linearly, deletes
// keeping the order, like redis-server's listpack); beyond, it is indexed for good.
template <class Item, class KeyOf, std::size_t SmallItems>
class DenseTable {
public:
    static constexpr std::size_t small_items = SmallItems;
    static constexpr std::size_t small_length = 64; // hash- and zset-max-listpack-value
    // An item's share of the index: an 8-byte slot, the table between 7/16 and 7/8 full.
    static constexpr std::size_t index_cost = 16;

    DenseTable() = default;
    DenseTable(const DenseTable&) = delete;
    DenseTable& operator=(const DenseTable&) = delete;

    std::size_t size() const { return items_.size(); }
    bool empty() const { return items_.empty(); }
    bool indexed() const { return indexed_; }
    Item& at(std::size_t i) { return items_[i]; }
    const Item& at(std::size_t i) const { return items_[i]; }
    const std::vector<Item>& items() const { return items_; }

    // The position of the item with key k, or npos.
    std::size_t find(std::string_view k) const {
        if (indexed_) {
            const std::size_t slot = slot_of(k, hash(k));
            return slot == npos ? npos : slots_[slot].position;
        }
        for (std::size_t i = 0; i < items_.size(); ++i) {
            if (KeyOf{}(items_[i]) == k) {
                return i;
            }
        }
        return npos;
    }

    // Appends an item (its key must be new); the caller then indexes it with added().
    Item& append(Item item) {
        items_.push_back(std::move(item));
        return items_.back();
    }

    // Inserts an item at position i of a table not indexed.
    void insert_small(std::size_t i, Item item) {
        items_.insert(items_.begin() + static_cast<std::ptrdiff_t>(i), std::move(item));
    }

    // After append() and after filling the item in: indexes it, or the whole table when the
    // table has just outgrown the small form (`length` is the item's longest string).
    void added(std::size_t length) {
        if (!indexed_ && (items_.size() > small_items || length > small_length)) {
            make_indexed();
        } else if (indexed_) {
            index_last();
        }
    }

    // After an item's string grew to `length`: the table leaves the small form if that is
    // past its limit.
    void grew(std::size_t length) {
        if (!indexed_ && length > small_length) {
            make_indexed();
        }
    }

    // Leaves the small form for good.
    void make_indexed() {
        if (indexed_) {
            return;
        }
        indexed_ = true;
        std::size_t capacity = 16;
        while (capacity * 7 / 8 < items_.size() + 1) {
            capacity *= 2;
        }
        rebuild(capacity);
    }

    // Becomes a copy of `other`, in its form.
    void copy_from(const DenseTable& other) {
        items_ = other.items_;
        slots_.clear();
        indexed_ = false;
        if (other.indexed_) {
            make_indexed();
        }
    }

    // After append() on an indexed table: indexes the new item. Every item has its slot, so
    // the index is as full as the table is long.
    void index_last() {
        if (items_.size() * 8 > slots_.size() * 7) {
            rebuild(slots_.size() * 2);
        } else {
            place(static_cast<std::uint32_t>(items_.size() - 1));
        }
    }

    // Removes the item at i: in order while small, by moving the last item into its place
    // once indexed.
    void erase_at(std::size_t i) {
        if (!indexed_) {
            items_.erase(items_.begin() + static_cast<std::ptrdiff_t>(i));
            return;
        }
        const auto last = static_cast<std::uint32_t>(items_.size() - 1);
        const std::string_view key = KeyOf{}(items_[i]);
        remove_slot(slot_of(key, hash(key)));
        if (i != last) {
            const std::string_view moved = KeyOf{}(items_[last]);
            slots_[slot_of(moved, hash(moved))].position = static_cast<std::uint32_t>(i);
            items_[i] = std::move(items_[last]);
        }
        items_.pop_back();
    }

    static constexpr std::size_t npos = static_cast<std::size_t>(-1);

private:
    // The index: open addressing with linear probing over a power-of-two array of slots, each
    // an item's position and the low 32 bits of its key's hash (which also give its home slot,
    // and spare most key comparisons). Deletion shifts the probe run back, so there are no
    // tombstones. One flat array instead of a node per item: no allocation per insert, and a
    // lookup touches the slot, the item and its key.
    struct Slot {
        std::uint32_t position;
        std::uint32_t tag; // the hash's low 32 bits
    };
    static constexpr std::uint32_t vacant = static_cast<std::uint32_t>(-1);

    static std::uint32_t hash(std::string_view k) {
        return static_cast<std::uint32_t>(std::hash<std::string_view>{}(k));
    }
    std::size_t mask() const { return slots_.size() - 1; }

    // The slot holding key k (whose hash is h), or npos.
    std::size_t slot_of(std::string_view k, std::uint32_t h) const {
        for (std::size_t i = h & mask();; i = (i + 1) & mask()) {
            const Slot& s = slots_[i];
            if (s.position == vacant) {
                return npos;
            }
            if (s.tag == h && KeyOf{}(items_[s.position]) == k) {
                return i;
            }
        }
    }

    // Indexes the item at `position`, which is not indexed yet; the table has room.
    void place(std::uint32_t position) {
        const std::uint32_t h = hash(KeyOf{}(items_[position]));
        std::size_t i = h & mask();
        while (slots_[i].position != vacant) {
            i = (i + 1) & mask();
        }
        slots_[i] = {position, h};
    }

    void rebuild(std::size_t capacity) {
        slots_.assign(capacity, Slot{vacant, 0});
        for (std::size_t i = 0; i < items_.size(); ++i) {
            place(static_cast<std::uint32_t>(i));
        }
    }

    // Empties slot i and moves back the entries after it that probing would no longer reach.
    void remove_slot(std::size_t i) {
        for (std::size_t j = (i + 1) & mask(); slots_[j].position != vacant; j = (j + 1) & mask()) {
            const std::size_t home = slots_[j].tag & mask();
            // j's entry may fill hole i unless its home lies cyclically within (i, j].
            if (((j - home) & mask()) >= ((j - i) & mask())) {
                slots_[i] = slots_[j];
                i = j;
            }
        }
        slots_[i] = Slot{vacant, 0};
    }

    std::vector<Item> items_;
    std::vector<Slot> slots_;
    bool indexed_ = false;
};

struct FieldOf {
    std::string_view operator()(const std::pair<InlineString, std::string>& f) const { return f.first; }
};

class HashValue final : public Collection {
public:
    // Fields inline up to 31 bytes (InlineString), as set members are; values stay strings.
    using Field = std::pair<InlineString, std::string>;
    using Table = DenseTable<Field, FieldOf, 512>; // hash-max-listpack-entries
    // A field's bookkeeping beyond its two strings' capacity: the vector slot.
    static constexpr std::size_t field_cost = sizeof(Field);

    const Table& fields() const { return table_; }
    std::size_t size() const { return table_.size(); }

    // The value of field f, or nullptr.
    const std::string* get(std::string_view f) const {
        std::size_t i = table_.find(f);
        return i == Table::npos ? nullptr : &table_.at(i).second;
    }

    // Sets field f to v; whether the field is new.
    bool set(std::string_view f, std::string_view v) {
        std::size_t i = table_.find(f);
        if (i != Table::npos) {
            std::string& value = table_.at(i).second;
            bytes_ -= value.capacity();
            assign_string(value, v);
            bytes_ += value.capacity();
            const bool was_indexed = table_.indexed();
            table_.grew(v.size());
            if (!was_indexed && table_.indexed()) {
                bytes_ += table_.size() * Table::index_cost;
            }
            return false;
        }
        const bool was_indexed = table_.indexed();
        Field& added = table_.append(Field(f, v));
        bytes_ += field_cost + added.first.heap_bytes() + added.second.capacity();
        table_.added(std::max(f.size(), v.size()));
        if (table_.indexed()) {
            bytes_ += was_indexed ? Table::index_cost : table_.size() * Table::index_cost;
        }
        return true;
    }

    std::unique_ptr<Collection> clone() const override {
        auto copy = std::make_unique<HashValue>();
        copy->table_.copy_from(table_);
        for (const Field& f : copy->table_.items()) {
            copy->bytes_ += field_cost + f.first.heap_bytes() + f.second.capacity();
        }
        if (copy->table_.indexed()) {
            copy->bytes_ += copy->table_.size() * Table::index_cost;
        }
        return copy;
    }

    bool erase(std::string_view f) {
        std::size_t i = table_.find(f);
        if (i == Table::npos) {
            return false;
        }
        const Field& gone = table_.at(i);
        bytes_ -= field_cost + gone.first.heap_bytes() + gone.second.capacity();
        if (table_.indexed()) {
            bytes_ -= Table::index_cost;
        }
        table_.erase_at(i);
        return true;
    }

private:
    Table table_;
};

// A list: a deque of strings, each accounted with its slot.
class ListValue final : public Collection {
public:
    // An element's bookkeeping beyond its capacity: its slot and a share of the deque's map.
    static constexpr std::size_t item_cost = sizeof(std::string) + sizeof(void*);

    const std::deque<std::string>& items() const { return items_; }
    std::size_t size() const { return items_.size(); }

    void push(bool front, std::string_view v) {
        if (front) {
            items_.emplace_front(v);
            bytes_ += item_cost + items_.front().capacity();
        } else {
            items_.emplace_back(v);
            bytes_ += item_cost + items_.back().capacity();
        }
    }
    std::string pop(bool front) {
        std::string v = std::move(front ? items_.front() : items_.back());
        if (front) {
            items_.pop_front();
        } else {
            items_.pop_back();
        }
        bytes_ -= item_cost + v.capacity();
        return v;
    }
    void set(std::size_t i, std::string_view v) {
        bytes_ -= items_[i].capacity();
        assign_string(items_[i], v);
        bytes_ += items_[i].capacity();
    }
    void insert(std::size_t i, std::string_view v) {
        auto it = items_.emplace(items_.begin() + static_cast<std::ptrdiff_t>(i), v);
        bytes_ += item_cost + it->capacity();
    }
    void erase(std::size_t i) {
        bytes_ -= item_cost + items_[i].capacity();
        items_.erase(items_.begin() + static_cast<std::ptrdiff_t>(i));
    }
    std::unique_ptr<Collection> clone() const override {
        auto copy = std::make_unique<ListValue>();
        for (const std::string& item : items_) {
            copy->push(false, item);
        }
        return copy;
    }

    // Keeps the elements [from, to) only.
    void keep(std::size_t from, std::size_t to) {
        for (std::size_t i = 0; i < items_.size(); ++i) {
            if (i < from || i >= to) {
                bytes_ -= item_cost + items_[i].capacity();
            }
        }
        items_.erase(items_.begin() + static_cast<std::ptrdiff_t>(to), items_.end());
        items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(from));
    }

private:
    std::deque<std::string> items_;
};

struct MemberOf {
    std::string_view operator()(const InlineString& m) const { return m; }
};

// A set. While every member is an integer in canonical form and there are at most 512 of them
// (redis-server's intset), the members are kept in numeric order, which is the order
// redis-server answers in; otherwise they are an indexed table in no particular order.
class SetValue final : public Collection {
public:
    using Table = DenseTable<InlineString, MemberOf, 512>; // set-max-intset-entries
    static constexpr std::size_t int_members = Table::small_items;
    static constexpr std::size_t member_cost = sizeof(InlineString);

    const Table& members() const { return table_; }
    std::size_t size() const { return table_.size(); }
    bool contains(std::string_view m) const {
        if (!table_.indexed()) {
            return small_find(m).second;
        }
        return table_.find(m) != Table::npos;
    }

    // Adds m; whether it is new.
    bool add(std::string_view m) {
        if (!table_.indexed()) {
            auto value = integer(m);
            if (value && table_.size() < int_members) {
                auto [at, found] = small_find(m);
                if (found) {
                    return false;
                }
                table_.insert_small(at, InlineString(m));
                bytes_ += member_cost + table_.at(at).heap_bytes();
                return true;
            }
            if (contains(m)) {
                return false;
            }
            table_.make_indexed();
            bytes_ += table_.size() * Table::index_cost;
        }
        if (table_.find(m) != Table::npos) {
            return false;
        }
        const InlineString& added = table_.append(InlineString(m));
        bytes_ += member_cost + added.heap_bytes() + Table::index_cost;
        table_.index_last();
        return true;
    }

    std::unique_ptr<Collection> clone() const override {
        auto copy = std::make_unique<SetValue>();
        copy->table_.copy_from(table_);
        for (const InlineString& m : copy->table_.items()) {
            copy->bytes_ += member_cost + m.heap_bytes();
        }
        if (copy->table_.indexed()) {
            copy->bytes_ += copy->table_.size() * Table::index_cost;
        }
        return copy;
    }

    bool remove(std::string_view m) {
        std::size_t i =
            table_.indexed() ? table_.find(m) : (small_find(m).second ? small_find(m).first : Table::npos);
        if (i == Table::npos) {
            return false;
        }
        bytes_ -= member_cost + table_.at(i).heap_bytes() + (table_.indexed() ? Table::index_cost : 0);
        table_.erase_at(i);
        return true;
    }

    // redis-server's integer syntax (string2ll), for the intset test.
    static std::optional<std::int64_t> integer(std::string_view m) { return parse_int(m); }

private:
    // Where m is or would go in the numeric order, and whether it is there; a member that is
    // not an integer is never in a set of integers.
    std::pair<std::size_t, bool> small_find(std::string_view m) const {
        auto value = integer(m);
        if (!value) {
            return {0, false};
        }
        std::size_t lo = 0;
        std::size_t hi = table_.size();
        while (lo < hi) {
            const std::size_t mid = (lo + hi) / 2;
            if (*integer(table_.at(mid)) < *value) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        return {lo, lo < table_.size() && table_.at(lo) == m};
    }

    Table table_;
};

} // namespace gatio::resp
