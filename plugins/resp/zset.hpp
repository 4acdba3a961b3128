// A sorted set: members ordered by (score, member) in a skip list whose links count the
// elements they pass over (so rank and element-at-rank cost O(log n)), and found by member
// through a DenseTable of the skip list's nodes (values.hpp), which also keeps them dense for
// random picks and SCAN cursors. Like redis-server's listpack encoding, a set of at most 128
// members of at most 64 bytes is "small": ZSCAN answers it whole in order; past either limit
// the table gains a hash index for good.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <string>
#include <string_view>

#include "values.hpp"

namespace gatio::resp {

// The links of a node lie just before it, level 0 nearest, so that a search step, which reads
// the next node's score and then its link at the level searched, mostly stays in one cache line.
struct ZNode {
    struct Link {
        ZNode* next;
        std::size_t span; // elements from this node to `next`, counting `next`
    };
    double score;
    ZNode* back = nullptr;
    std::uint32_t height;
    std::string member;

    Link& link(std::uint32_t level) {
        return *reinterpret_cast<Link*>(reinterpret_cast<std::byte*>(this) - (level + 1) * sizeof(Link));
    }
    const Link& link(std::uint32_t level) const {
        return *reinterpret_cast<const Link*>(reinterpret_cast<const std::byte*>(this) -
                                              (level + 1) * sizeof(Link));
    }
    ZNode* next() const { return link(0).next; }
    // What the node costs: itself, its links and its member's bytes.
    std::size_t bytes() const { return sizeof(ZNode) + height * sizeof(Link) + member.capacity(); }
};
static_assert(sizeof(ZNode::Link) % alignof(ZNode) == 0);

// A score interval as ZRANGEBYSCORE reads one; `min_ex`/`max_ex`: the bound is excluded.
struct ScoreRange {
    double min = 0;
    double max = 0;
    bool min_ex = false;
    bool max_ex = false;
    bool above_min(double v) const { return min_ex ? v > min : v >= min; }
    bool below_max(double v) const { return max_ex ? v < max : v <= max; }
    bool empty() const { return min > max || (min == max && (min_ex || max_ex)); }
};

// A member interval as ZRANGEBYLEX reads one: each bound "-", "+" or a member, included or not.
struct LexBound {
    int kind = 0; // -1: "-" (below everything), +1: "+" (above everything), 0: `value`
    std::string_view value;
    bool exclusive = false;
};
// redis-server's order of bounds and members: "-" first, "+" last, members bytewise.
inline int lex_compare(const LexBound& a, const LexBound& b) {
    if (a.kind == b.kind && a.kind != 0) {
        return 0;
    }
    if (a.kind == -1 || b.kind == 1) {
        return -1;
    }
    if (a.kind == 1 || b.kind == -1) {
        return 1;
    }
    const int c = a.value.compare(b.value);
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
}
struct LexRange {
    LexBound min;
    LexBound max;
    bool above_min(std::string_view m) const {
        const int c = lex_compare(LexBound{0, m, false}, min);
        return min.exclusive ? c > 0 : c >= 0;
    }
    bool below_max(std::string_view m) const {
        const int c = lex_compare(LexBound{0, m, false}, max);
        return max.exclusive ? c < 0 : c <= 0;
    }
    bool empty() const {
        const int c = lex_compare(min, max);
        return c > 0 || (c == 0 && (min.exclusive || max.exclusive));
    }
};

struct NodeMember {
    std::string_view operator()(const ZNode* n) const { return n->member; }
};

class ZSetValue final : public Collection {
public:
    using Table = DenseTable<ZNode*, NodeMember, 128>; // zset-max-listpack-entries
    static constexpr std::uint32_t max_height = 32;

    // `scratch`: a result only replied, never stored, keeps -0 (a stored small set, like
    // redis-server's listpack, turns -0 into 0).
    explicit ZSetValue(bool scratch = false) : head_(make(max_height, 0, {})), scratch_(scratch) {
        bytes_ = head_->bytes();
        for (std::uint32_t i = 0; i < max_height; ++i) {
            head_->link(i) = {nullptr, 0};
        }
    }
    ~ZSetValue() override {
        for (ZNode* n = head_; n != nullptr;) {
            ZNode* next = n->next();
            destroy(n);
            n = next;
        }
    }

    std::size_t size() const { return length_; }
    const Table& table() const { return table_; }
    // Small in redis-server's sense (listpack): answered whole and in order by ZSCAN.
    bool small() const { return !table_.indexed(); }
    ZNode* first() const { return head_->next(); }
    ZNode* last() const { return tail_; }

    ZNode* find(std::string_view member) const {
        const std::size_t i = table_.find(member);
        return i == Table::npos ? nullptr : table_.at(i);
    }

    // Adds a member that is not there yet.
    void insert(double score, std::string_view member) {
        if (score == 0 && !scratch_ && small() && table_.size() < Table::small_items &&
            member.size() <= Table::small_length) {
            score = 0.0;
        }
        ZNode* n = add_node(score, member);
        const bool was_indexed = table_.indexed();
        table_.append(n);
        table_.added(member.size());
        bytes_ += n->bytes() + slot_cost;
        if (table_.indexed()) {
            bytes_ += was_indexed ? Table::index_cost : table_.size() * Table::index_cost;
        }
    }

    std::unique_ptr<Collection> clone() const override {
        auto copy = std::make_unique<ZSetValue>(scratch_);
        if (!small()) {
            copy->table_.make_indexed(); // a skip list stays one, as redis-server copies it
        }
        for (const ZNode* n = first(); n != nullptr; n = n->next()) {
            copy->insert(n->score, n->member);
        }
        return copy;
    }

    // Moves a member to a new score.
    void rescore(ZNode* n, double score) {
        if (score == 0 && !scratch_ && small()) {
            score = 0.0;
        }
        if (score == n->score) {
            return;
        }
        // Still between its neighbours: no link changes (the common case for small increments).
        const ZNode* next = n->next();
        if ((n->back == nullptr || before(n->back, score, n->member)) &&
            (next == nullptr || after(next, score, n->member))) {
            n->score = score;
            return;
        }
        // The same node moves, so the table's slot, which points at it, stays as it is.
        unlink(n);
        n->score = score;
        place(n);
    }

    // Removes a member; whether it was there.
    bool erase(std::string_view member) {
        const std::size_t i = table_.find(member);
        if (i == Table::npos) {
            return false;
        }
        ZNode* n = table_.at(i);
        bytes_ -= n->bytes() + slot_cost + (table_.indexed() ? Table::index_cost : 0);
        table_.erase_at(i);
        unlink(n);
        destroy(n);
        return true;
    }

    // The 0-based position of a node in the order.
    std::size_t rank(const ZNode* n) const {
        std::size_t r = 0;
        const ZNode* x = head_;
        for (std::uint32_t i = height_; i-- > 0;) {
            while (x->link(i).next != nullptr && !after(x->link(i).next, n->score, n->member)) {
                r += x->link(i).span;
                x = x->link(i).next;
            }
        }
        return r - 1;
    }

    // The node at 0-based position r (< size()).
    ZNode* at_rank(std::size_t r) const {
        ZNode* x = head_;
        std::size_t passed = 0;
        for (std::uint32_t i = height_; i-- > 0;) {
            while (x->link(i).next != nullptr && passed + x->link(i).span <= r + 1) {
                passed += x->link(i).span;
                x = x->link(i).next;
            }
            if (passed == r + 1) {
                return x;
            }
        }
        return nullptr;
    }

    // The first and last nodes within a range, or nullptr when none is.
    ZNode* first_in(const ScoreRange& r) const {
        if (r.empty() || tail_ == nullptr || !r.above_min(tail_->score) || !r.below_max(first()->score)) {
            return nullptr;
        }
        ZNode* x = head_;
        for (std::uint32_t i = height_; i-- > 0;) {
            while (x->link(i).next != nullptr && !r.above_min(x->link(i).next->score)) {
                x = x->link(i).next;
            }
        }
        x = x->next();
        return r.below_max(x->score) ? x : nullptr;
    }
    ZNode* last_in(const ScoreRange& r) const {
        if (r.empty() || tail_ == nullptr || !r.above_min(tail_->score) || !r.below_max(first()->score)) {
            return nullptr;
        }
        ZNode* x = head_;
        for (std::uint32_t i = height_; i-- > 0;) {
            while (x->link(i).next != nullptr && r.below_max(x->link(i).next->score)) {
                x = x->link(i).next;
            }
        }
        return r.above_min(x->score) ? x : nullptr;
    }
    ZNode* first_in(const LexRange& r) const {
        if (r.empty() || tail_ == nullptr || !r.above_min(tail_->member) || !r.below_max(first()->member)) {
            return nullptr;
        }
        ZNode* x = head_;
        for (std::uint32_t i = height_; i-- > 0;) {
            while (x->link(i).next != nullptr && !r.above_min(x->link(i).next->member)) {
                x = x->link(i).next;
            }
        }
        x = x->next();
        return r.below_max(x->member) ? x : nullptr;
    }
    ZNode* last_in(const LexRange& r) const {
        if (r.empty() || tail_ == nullptr || !r.above_min(tail_->member) || !r.below_max(first()->member)) {
            return nullptr;
        }
        ZNode* x = head_;
        for (std::uint32_t i = height_; i-- > 0;) {
            while (x->link(i).next != nullptr && r.below_max(x->link(i).next->member)) {
                x = x->link(i).next;
            }
        }
        return r.above_min(x->member) ? x : nullptr;
    }

private:
    // A member's slot in the table, beyond the node.
    static constexpr std::size_t slot_cost = sizeof(ZNode*);

    static ZNode* make(std::uint32_t height, double score, std::string_view member) {
        auto* raw = static_cast<std::byte*>(::operator new(height * sizeof(ZNode::Link) + sizeof(ZNode)));
        for (std::uint32_t i = 0; i < height; ++i) {
            new (raw + i * sizeof(ZNode::Link)) ZNode::Link{nullptr, 0};
        }
        return new (raw + height * sizeof(ZNode::Link)) ZNode{score, nullptr, height, std::string(member)};
    }
    static void destroy(ZNode* n) {
        const std::uint32_t height = n->height;
        n->~ZNode();
        ::operator delete(static_cast<void*>(reinterpret_cast<std::byte*>(n) - height * sizeof(ZNode::Link)));
    }
    // Whether node x comes after (score, member) in the order.
    static bool after(const ZNode* x, double score, std::string_view member) {
        return x->score > score || (x->score == score && std::string_view(x->member) > member);
    }
    static bool before(const ZNode* x, double score, std::string_view member) {
        return x->score < score || (x->score == score && std::string_view(x->member) < member);
    }
    // A height of 1 + k with probability 4^-k, as redis-server draws its levels.
    std::uint32_t draw_height() {
        std::uint32_t h = 1;
        while (h < max_height) {
            rng_ ^= rng_ << 13;
            rng_ ^= rng_ >> 7;
            rng_ ^= rng_ << 17;
            if ((rng_ & 3) != 0) {
                break;
            }
            ++h;
        }
        return h;
    }

    ZNode* add_node(double score, std::string_view member) {
        ZNode* n = make(draw_height(), score, member);
        place(n);
        return n;
    }

    // Links a node that is in no list where its score and member put it.
    void place(ZNode* n) {
        const double score = n->score;
        const std::string_view member = n->member;
        ZNode* update[max_height];
        std::size_t passed[max_height];
        ZNode* x = head_;
        for (std::uint32_t i = height_; i-- > 0;) {
            passed[i] = i + 1 == height_ ? 0 : passed[i + 1];
            while (x->link(i).next != nullptr && !after(x->link(i).next, score, member)) {
                passed[i] += x->link(i).span;
                x = x->link(i).next;
            }
            update[i] = x;
        }
        const std::uint32_t h = n->height;
        for (std::uint32_t i = height_; i < h; ++i) {
            passed[i] = 0;
            update[i] = head_;
            head_->link(i) = {nullptr, length_};
        }
        height_ = std::max(height_, h);
        for (std::uint32_t i = 0; i < h; ++i) {
            ZNode::Link& prev = update[i]->link(i);
            n->link(i) = {prev.next, prev.span - (passed[0] - passed[i])};
            prev = {n, passed[0] - passed[i] + 1};
        }
        for (std::uint32_t i = h; i < height_; ++i) {
            ++update[i]->link(i).span;
        }
        n->back = update[0] == head_ ? nullptr : update[0];
        if (n->next() != nullptr) {
            n->next()->back = n;
        } else {
            tail_ = n;
        }
        ++length_;
    }

    void unlink(ZNode* n) {
        ZNode* x = head_;
        for (std::uint32_t i = height_; i-- > 0;) {
            while (x->link(i).next != nullptr && x->link(i).next != n &&
                   !after(x->link(i).next, n->score, n->member)) {
                x = x->link(i).next;
            }
            ZNode::Link& l = x->link(i);
            if (l.next == n) {
                l = {n->link(i).next, l.span + n->link(i).span - 1};
            } else if (l.span > 0) {
                --l.span;
            }
        }
        if (n->next() != nullptr) {
            n->next()->back = n->back;
        } else {
            tail_ = n->back;
        }
        while (height_ > 1 && head_->link(height_ - 1).next == nullptr) {
            --height_;
        }
        --length_;
    }

    ZNode* head_;
    ZNode* tail_ = nullptr;
    std::size_t length_ = 0;
    std::uint32_t height_ = 1;
    std::uint64_t rng_ = 0x2545F4914F6CDD1DULL;
    bool scratch_;
    Table table_;
};

} // namespace gatio::resp
