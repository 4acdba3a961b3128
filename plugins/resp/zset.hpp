// A sorted set: members ordered by (score, member) in a counted B+ tree (score_tree.hpp: rank
// and element-at-rank cost O(log n)), and found by member through a DenseTable of the members
// (values.hpp), which also keeps them dense for random picks and SCAN cursors. Like
// redis-server's listpack encoding, a set of at most 128 members of at most 64 bytes is
// "small": ZSCAN answers it whole in order; past either limit the table gains a hash index for
// good.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <string>
#include <string_view>

#include "score_tree.hpp"
#include "values.hpp"

namespace gatio::resp {

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
    using Cursor = ScoreTree::Cursor;

    // `scratch`: a result only replied, never stored, keeps -0 (a stored small set, like
    // redis-server's listpack, turns -0 into 0).
    explicit ZSetValue(bool scratch = false) : scratch_(scratch) { bytes_ = tree_.bytes(); }
    ~ZSetValue() override {
        for (ZNode* n : table_.items()) {
            delete n;
        }
    }

    std::size_t size() const { return tree_.size(); }
    const Table& table() const { return table_; }
    // Small in redis-server's sense (listpack): answered whole and in order by ZSCAN.
    bool small() const { return !table_.indexed(); }
    Cursor first() const { return tree_.first(); }
    Cursor last() const { return tree_.last(); }
    ZNode* front() const { return tree_.front(); }
    ZNode* back() const { return tree_.back(); }

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
        auto* n = new ZNode{score, std::string(member)};
        const std::size_t tree_before = tree_.bytes();
        tree_.insert(n);
        const bool was_indexed = table_.indexed();
        table_.append(n);
        table_.added(member.size());
        bytes_ += n->bytes() + slot_cost + tree_.bytes() - tree_before;
        if (table_.indexed()) {
            bytes_ += was_indexed ? Table::index_cost : table_.size() * Table::index_cost;
        }
    }

    std::unique_ptr<Collection> clone() const override {
        auto copy = std::make_unique<ZSetValue>(scratch_);
        if (!small()) {
            copy->table_.make_indexed(); // an indexed set stays one, as redis-server copies it
        }
        for (Cursor c = first(); c; ++c) {
            copy->insert(c->score, c->member);
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
        // The same member moves, so the table's slot, which points at it, stays as it is.
        const std::size_t tree_before = tree_.bytes();
        tree_.rescore(n, score);
        bytes_ += tree_.bytes() - tree_before;
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
        const std::size_t tree_before = tree_.bytes();
        tree_.erase(n);
        bytes_ -= tree_before - tree_.bytes();
        delete n;
        return true;
    }

    // The 0-based position of a member in the order.
    std::size_t rank(const ZNode* n) const { return tree_.rank(n); }
    // The element at 0-based position r (< size()).
    Cursor at_rank(std::size_t r) const { return tree_.at_rank(r); }

    // The first and last elements within a range, or the end when none is.
    Cursor first_in(const ScoreRange& r) const {
        return inside(r, tree_.first_where([&](double s, std::string_view) { return r.above_min(s); }));
    }
    Cursor last_in(const ScoreRange& r) const {
        return inside(r,
                      before(tree_.first_where([&](double s, std::string_view) { return !r.below_max(s); })));
    }
    Cursor first_in(const LexRange& r) const {
        return inside(r, tree_.first_where([&](double, std::string_view m) { return r.above_min(m); }));
    }
    Cursor last_in(const LexRange& r) const {
        return inside(r,
                      before(tree_.first_where([&](double, std::string_view m) { return !r.below_max(m); })));
    }

    // The tree's own checks, for the tests.
    bool valid() const { return tree_.valid(); }

private:
    // A member's slot in the table, beyond the member.
    static constexpr std::size_t slot_cost = sizeof(ZNode*);

    // The element before c, the end's being the last.
    Cursor before(Cursor c) const {
        if (!c) {
            return last();
        }
        return --c;
    }
    static Cursor inside(const ScoreRange& r, Cursor c) {
        return c && !r.empty() && r.above_min(c->score) && r.below_max(c->score) ? c : Cursor{};
    }
    static Cursor inside(const LexRange& r, Cursor c) {
        return c && !r.empty() && r.above_min(c->member) && r.below_max(c->member) ? c : Cursor{};
    }

    ScoreTree tree_;
    bool scratch_;
    Table table_;
};

} // namespace gatio::resp
