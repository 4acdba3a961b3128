// The order of a sorted set: a B+ tree of its members by (score, member) whose inner nodes
// count the elements below each child, so that rank and element-at-rank cost O(log n) like the
// spans of redis-server's skip list. It replaced a skip list because a search step there is a
// dependent load of a node somewhere on the heap: a ZADD that moves a member walked ~30 of
// them twice. Here a search reads one node per level, each a few adjacent cache lines: the
// leaves and inner nodes keep each entry's score beside the member's address, so a member's
// bytes are read only on a tie of scores.
//
// Every inner node holds, for each child, the child's first entry, exactly: inserts below a
// first entry only happen in the leftmost leaf, and erasing a leaf's first entry refreshes it
// on the way back up, so no entry in the tree ever names a member that was removed.
//
// The tree owns its nodes, not the members (ZSetValue does); a member never moves, so the
// member table can point at it.
#pragma once

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <new>
#include <string>
#include <string_view>

namespace gatio::resp {

// A sorted set's member: its score and bytes, at one address for its life in the set.
struct ZNode {
    double score;
    std::string member;
    // What the member costs: itself and its bytes.
    std::size_t bytes() const { return sizeof(ZNode) + member.capacity(); }
};

class ScoreTree {
    struct Entry {
        double score;
        ZNode* node;
    };
    struct Node {
        std::uint32_t count = 0;
        bool leaf;
    };
    struct Leaf;

public:
    // Entries per leaf and children per inner node: a leaf's 32 (score, address) pairs are
    // 512 bytes, eight cache lines of which a binary search touches about four.
    static constexpr std::uint32_t fanout = 32;
    // Below this a node borrows from or merges with a sibling; a quarter rather than half
    // full keeps a member moving back and forth from splitting and merging every time.
    static constexpr std::uint32_t min_fill = fanout / 4;

    // A position in the order: a leaf and an entry in it, or the end (false).
    class Cursor {
    public:
        Cursor() = default;
        explicit operator bool() const { return leaf_ != nullptr; }
        ZNode* operator*() const { return leaf_->e[at_].node; }
        ZNode* operator->() const { return leaf_->e[at_].node; }
        Cursor& operator++() {
            if (++at_ == leaf_->count) {
                leaf_ = leaf_->next;
                at_ = 0;
            }
            return *this;
        }
        // Before the first element it becomes the end.
        Cursor& operator--() {
            if (at_ > 0) {
                --at_;
            } else {
                leaf_ = leaf_->prev;
                at_ = leaf_ != nullptr ? leaf_->count - 1 : 0;
            }
            return *this;
        }
        bool operator==(const Cursor& o) const { return leaf_ == o.leaf_ && at_ == o.at_; }

    private:
        friend class ScoreTree;
        Cursor(const Leaf* leaf, std::uint32_t at) : leaf_(leaf), at_(at) {}
        const Leaf* leaf_ = nullptr;
        std::uint32_t at_ = 0;
    };

    ScoreTree() {
        first_leaf_ = last_leaf_ = new_leaf();
        root_ = first_leaf_;
    }
    ScoreTree(const ScoreTree&) = delete;
    ScoreTree& operator=(const ScoreTree&) = delete;
    ~ScoreTree() { free_tree(root_); }

    std::size_t size() const { return size_; }
    // The memory of the tree's nodes (not of the members).
    std::size_t bytes() const { return leaves_ * sizeof(Leaf) + inners_ * sizeof(Inner); }

    Cursor first() const { return size_ == 0 ? Cursor{} : Cursor{first_leaf_, 0}; }
    Cursor last() const { return size_ == 0 ? Cursor{} : Cursor{last_leaf_, last_leaf_->count - 1}; }
    // The lowest and highest members of a tree that is not empty.
    ZNode* front() const {
        assert(size_ > 0);
        return first_leaf_->e[0].node;
    }
    ZNode* back() const {
        assert(size_ > 0);
        return last_leaf_->e[last_leaf_->count - 1].node;
    }

    // Adds a member that is not in the tree, at its score.
    void insert(ZNode* n) {
        const Entry x{n->score, n};
        if (root_->count == fanout) {
            auto* top = new_inner();
            top->count = 1;
            top->child[0] = root_;
            top->size[0] = size_;
            top->first[0] = first_of(root_);
            root_ = top;
            split(top, 0);
        }
        Path path;
        Node* cur = root_;
        while (!cur->leaf) {
            auto* in = static_cast<Inner*>(cur);
            std::uint32_t i = child_for(*in, x.score, n->member);
            if (in->child[i]->count == fanout) {
                split(in, i);
                if (!sorts_before(x.score, n->member, in->first[i + 1])) {
                    ++i;
                }
            }
            ++in->size[i];
            path.push(in, i);
            cur = in->child[i];
        }
        auto* leaf = static_cast<Leaf*>(cur);
        const std::uint32_t j = position(*leaf, x.score, n->member);
        std::move_backward(leaf->e + j, leaf->e + leaf->count, leaf->e + leaf->count + 1);
        leaf->e[j] = x;
        ++leaf->count;
        ++size_;
        if (j == 0) {
            path.refresh_first(x);
        }
    }

    // Removes a member that is in the tree at its current score.
    void erase(const ZNode* n) {
        Path path;
        Leaf* leaf = descend(n->score, n->member, &path, -1);
        const std::uint32_t j = position(*leaf, n->score, n->member);
        assert(j < leaf->count && leaf->e[j].node == n);
        std::move(leaf->e + j + 1, leaf->e + leaf->count, leaf->e + j);
        --leaf->count;
        --size_;
        if (j == 0 && leaf->count > 0) {
            path.refresh_first(leaf->e[0]);
        }
        for (std::uint32_t d = path.depth; d-- > 0;) {
            if (path.node[d]->child[path.at[d]]->count >= min_fill) {
                break;
            }
            rebalance(path.node[d], path.at[d]);
        }
        while (!root_->leaf && root_->count == 1) {
            auto* old = static_cast<Inner*>(root_);
            root_ = old->child[0];
            free_inner(old);
        }
    }

    // Gives a member in the tree a new score: in place when it keeps its position.
    void rescore(ZNode* n, double score) {
        Path path;
        auto* leaf = descend(n->score, n->member, &path, 0);
        const std::uint32_t j = position(*leaf, n->score, n->member);
        assert(j < leaf->count && leaf->e[j].node == n);
        Cursor c{leaf, j};
        Cursor before = c;
        Cursor after = c;
        --before;
        ++after;
        if ((!before || sorts_before(*before, score, n->member)) &&
            (!after || sorts_before(score, n->member, *after))) {
            n->score = score;
            leaf->e[j].score = score;
            if (j == 0) {
                path.refresh_first(leaf->e[0]);
            }
            return;
        }
        erase(n);
        n->score = score;
        insert(n);
    }

    // The 0-based position of a member in the tree.
    std::size_t rank(const ZNode* n) const {
        std::size_t r = 0;
        const Node* cur = root_;
        while (!cur->leaf) {
            const auto* in = static_cast<const Inner*>(cur);
            const std::uint32_t i = child_for(*in, n->score, n->member);
            for (std::uint32_t k = 0; k < i; ++k) {
                r += in->size[k];
            }
            cur = in->child[i];
        }
        return r + position(*static_cast<const Leaf*>(cur), n->score, n->member);
    }

    // The element at 0-based position r (< size()).
    Cursor at_rank(std::size_t r) const {
        assert(r < size_);
        const Node* cur = root_;
        while (!cur->leaf) {
            const auto* in = static_cast<const Inner*>(cur);
            std::uint32_t i = 0;
            while (r >= in->size[i]) {
                r -= in->size[i];
                ++i;
            }
            cur = in->child[i];
        }
        return Cursor{static_cast<const Leaf*>(cur), static_cast<std::uint32_t>(r)};
    }

    // The first element for which `is_past(score, member)` holds, a predicate false on a
    // prefix of the order and true on the rest; the end when it holds for none.
    template <class Pred>
    Cursor first_where(Pred is_past) const {
        const auto past = [&](const Entry& e) { return is_past(e.score, std::string_view(e.node->member)); };
        const Node* cur = root_;
        while (!cur->leaf) {
            const auto* in = static_cast<const Inner*>(cur);
            // The last child whose first entry is not past (or the first child).
            const Entry* p = std::partition_point(in->first + 1, in->first + in->count,
                                                  [&](const Entry& e) { return !past(e); });
            cur = in->child[p - in->first - 1];
        }
        const auto* leaf = static_cast<const Leaf*>(cur);
        const Entry* p =
            std::partition_point(leaf->e, leaf->e + leaf->count, [&](const Entry& e) { return !past(e); });
        const auto j = static_cast<std::uint32_t>(p - leaf->e);
        if (j < leaf->count) {
            return Cursor{leaf, j};
        }
        return leaf->next != nullptr ? Cursor{leaf->next, 0} : Cursor{};
    }

    // Every node's invariants, for the tests: counts, sizes, first entries, order, links.
    bool valid() const {
        std::size_t leaves = 0;
        std::size_t inners = 0;
        const Leaf* prev = nullptr;
        const Entry* last = nullptr;
        if (!valid_node(root_, true, leaves, inners, prev, last)) {
            return false;
        }
        return prev == last_leaf_ && leaves == leaves_ && inners == inners_ && subtree_size(root_) == size_;
    }

private:
    struct Leaf : Node {
        Leaf* prev = nullptr;
        Leaf* next = nullptr;
        Entry e[fanout];
    };
    struct Inner : Node {
        Entry first[fanout]; // each child's first entry
        Node* child[fanout];
        std::size_t size[fanout]; // elements below each child
    };
    // The inner nodes passed on the way to a leaf and the child taken at each.
    struct Path {
        // A node has at least min_fill children, so 2^64 elements need fewer levels.
        static constexpr std::uint32_t max_depth = 24;
        Inner* node[max_depth];
        std::uint32_t at[max_depth];
        std::uint32_t depth = 0;
        void push(Inner* in, std::uint32_t i) {
            assert(depth < max_depth);
            node[depth] = in;
            at[depth++] = i;
        }
        // The leaf reached has a new first entry: so does every ancestor it is leftmost in,
        // and the first of those that is not a first child records it.
        void refresh_first(const Entry& e) {
            for (std::uint32_t d = depth; d-- > 0;) {
                node[d]->first[at[d]] = e;
                if (at[d] != 0) {
                    break;
                }
            }
        }
    };

    static bool sorts_before(const ZNode* a, double score, std::string_view member) {
        return a->score < score || (a->score == score && std::string_view(a->member) < member);
    }
    static bool sorts_before(double score, std::string_view member, const ZNode* a) {
        return score < a->score || (score == a->score && member < std::string_view(a->member));
    }
    static bool sorts_before(double score, std::string_view member, const Entry& e) {
        return score < e.score || (score == e.score && member < std::string_view(e.node->member));
    }
    static bool sorts_before(const Entry& e, double score, std::string_view member) {
        return e.score < score || (e.score == score && std::string_view(e.node->member) < member);
    }

    // The child whose range holds (score, member): the last whose first entry is not after it.
    static std::uint32_t child_for(const Inner& in, double score, std::string_view member) {
        const Entry* p = std::partition_point(in.first + 1, in.first + in.count, [&](const Entry& e) {
            return !sorts_before(score, member, e);
        });
        return static_cast<std::uint32_t>(p - in.first - 1);
    }
    // The first entry of a leaf not before (score, member).
    static std::uint32_t position(const Leaf& leaf, double score, std::string_view member) {
        const Entry* p = std::partition_point(leaf.e, leaf.e + leaf.count,
                                              [&](const Entry& e) { return sorts_before(e, score, member); });
        return static_cast<std::uint32_t>(p - leaf.e);
    }
    // The leaf holding (score, member), adding `size_change` to the sizes on the way.
    Leaf* descend(double score, std::string_view member, Path* path, int size_change) {
        Node* cur = root_;
        while (!cur->leaf) {
            auto* in = static_cast<Inner*>(cur);
            const std::uint32_t i = child_for(*in, score, member);
            in->size[i] = static_cast<std::size_t>(static_cast<std::ptrdiff_t>(in->size[i]) + size_change);
            path->push(in, i);
            cur = in->child[i];
        }
        return static_cast<Leaf*>(cur);
    }

    static const Entry& first_of(const Node* n) {
        return n->leaf ? static_cast<const Leaf*>(n)->e[0] : static_cast<const Inner*>(n)->first[0];
    }

    // Moves the upper half of p's full child i into a new sibling after it.
    void split(Inner* p, std::uint32_t i) {
        assert(p->count < fanout);
        constexpr std::uint32_t half = fanout / 2;
        Node* c = p->child[i];
        Node* sibling;
        std::size_t moved = 0;
        if (c->leaf) {
            auto* l = static_cast<Leaf*>(c);
            auto* r = new_leaf();
            std::copy(l->e + half, l->e + fanout, r->e);
            r->count = fanout - half;
            l->count = half;
            r->prev = l;
            r->next = l->next;
            (l->next != nullptr ? l->next->prev : last_leaf_) = r;
            l->next = r;
            moved = r->count;
            sibling = r;
        } else {
            auto* l = static_cast<Inner*>(c);
            auto* r = new_inner();
            std::copy(l->first + half, l->first + fanout, r->first);
            std::copy(l->child + half, l->child + fanout, r->child);
            std::copy(l->size + half, l->size + fanout, r->size);
            r->count = fanout - half;
            l->count = half;
            for (std::uint32_t k = 0; k < r->count; ++k) {
                moved += r->size[k];
            }
            sibling = r;
        }
        open_slot(p, i + 1);
        p->child[i + 1] = sibling;
        p->size[i + 1] = moved;
        p->size[i] -= moved;
        p->first[i + 1] = first_of(sibling);
    }

    static void open_slot(Inner* p, std::uint32_t i) {
        std::move_backward(p->first + i, p->first + p->count, p->first + p->count + 1);
        std::move_backward(p->child + i, p->child + p->count, p->child + p->count + 1);
        std::move_backward(p->size + i, p->size + p->count, p->size + p->count + 1);
        ++p->count;
    }
    static void close_slot(Inner* p, std::uint32_t i) {
        std::move(p->first + i + 1, p->first + p->count, p->first + i);
        std::move(p->child + i + 1, p->child + p->count, p->child + i);
        std::move(p->size + i + 1, p->size + p->count, p->size + i);
        --p->count;
    }

    // p's child i has fallen below min_fill: it takes an element from a sibling that can
    // spare one, or merges with one.
    void rebalance(Inner* p, std::uint32_t i) {
        if (i > 0 && p->child[i - 1]->count > min_fill) {
            move_last(p, i - 1);
        } else if (i + 1 < p->count && p->child[i + 1]->count > min_fill) {
            move_first(p, i + 1);
        } else if (i > 0) {
            merge(p, i - 1);
        } else {
            merge(p, i);
        }
    }
    // Moves the last element of child k to the front of child k + 1.
    static void move_last(Inner* p, std::uint32_t k) {
        Node* from = p->child[k];
        Node* to = p->child[k + 1];
        std::size_t moved = 1;
        if (from->leaf) {
            auto* f = static_cast<Leaf*>(from);
            auto* t = static_cast<Leaf*>(to);
            std::move_backward(t->e, t->e + t->count, t->e + t->count + 1);
            t->e[0] = f->e[f->count - 1];
        } else {
            auto* f = static_cast<Inner*>(from);
            auto* t = static_cast<Inner*>(to);
            std::move_backward(t->first, t->first + t->count, t->first + t->count + 1);
            std::move_backward(t->child, t->child + t->count, t->child + t->count + 1);
            std::move_backward(t->size, t->size + t->count, t->size + t->count + 1);
            t->first[0] = f->first[f->count - 1];
            t->child[0] = f->child[f->count - 1];
            t->size[0] = moved = f->size[f->count - 1];
        }
        --from->count;
        ++to->count;
        p->size[k] -= moved;
        p->size[k + 1] += moved;
        p->first[k + 1] = first_of(to);
    }
    // Moves the first element of child k to the end of child k - 1.
    static void move_first(Inner* p, std::uint32_t k) {
        Node* from = p->child[k];
        Node* to = p->child[k - 1];
        std::size_t moved = 1;
        if (from->leaf) {
            auto* f = static_cast<Leaf*>(from);
            auto* t = static_cast<Leaf*>(to);
            t->e[t->count] = f->e[0];
            std::move(f->e + 1, f->e + f->count, f->e);
            --f->count;
        } else {
            auto* f = static_cast<Inner*>(from);
            auto* t = static_cast<Inner*>(to);
            t->first[t->count] = f->first[0];
            t->child[t->count] = f->child[0];
            t->size[t->count] = moved = f->size[0];
            close_slot(f, 0);
        }
        ++to->count;
        p->size[k] -= moved;
        p->size[k - 1] += moved;
        p->first[k] = first_of(from);
    }
    // Appends child k + 1 to child k and frees it.
    void merge(Inner* p, std::uint32_t k) {
        Node* left = p->child[k];
        Node* right = p->child[k + 1];
        assert(left->count + right->count <= fanout);
        if (left->leaf) {
            auto* l = static_cast<Leaf*>(left);
            auto* r = static_cast<Leaf*>(right);
            std::copy(r->e, r->e + r->count, l->e + l->count);
            l->count += r->count;
            l->next = r->next;
            (r->next != nullptr ? r->next->prev : last_leaf_) = l;
            free_leaf(r);
        } else {
            auto* l = static_cast<Inner*>(left);
            auto* r = static_cast<Inner*>(right);
            std::copy(r->first, r->first + r->count, l->first + l->count);
            std::copy(r->child, r->child + r->count, l->child + l->count);
            std::copy(r->size, r->size + r->count, l->size + l->count);
            l->count += r->count;
            free_inner(r);
        }
        p->size[k] += p->size[k + 1];
        close_slot(p, k + 1);
    }

    Leaf* new_leaf() {
        ++leaves_;
        auto* l = new Leaf;
        l->leaf = true;
        return l;
    }
    Inner* new_inner() {
        ++inners_;
        auto* in = new Inner;
        in->leaf = false;
        return in;
    }
    void free_leaf(Leaf* l) {
        --leaves_;
        delete l;
    }
    void free_inner(Inner* in) {
        --inners_;
        delete in;
    }
    void free_tree(Node* n) {
        if (n->leaf) {
            free_leaf(static_cast<Leaf*>(n));
            return;
        }
        auto* in = static_cast<Inner*>(n);
        for (std::uint32_t k = 0; k < in->count; ++k) {
            free_tree(in->child[k]);
        }
        free_inner(in);
    }

    static std::size_t subtree_size(const Node* n) {
        if (n->leaf) {
            return n->count;
        }
        const auto* in = static_cast<const Inner*>(n);
        std::size_t total = 0;
        for (std::uint32_t k = 0; k < in->count; ++k) {
            total += in->size[k];
        }
        return total;
    }
    bool valid_node(const Node* n, bool root, std::size_t& leaves, std::size_t& inners, const Leaf*& prev,
                    const Entry*& last) const {
        if (n->count > fanout || (!root && n->count < min_fill) || (root && !n->leaf && n->count < 2)) {
            return false;
        }
        if (n->leaf) {
            const auto* l = static_cast<const Leaf*>(n);
            ++leaves;
            if (l->prev != prev || (prev == nullptr && l != first_leaf_) ||
                (prev != nullptr && prev->next != l)) {
                return false;
            }
            prev = l;
            for (std::uint32_t k = 0; k < l->count; ++k) {
                const Entry& e = l->e[k];
                if (e.score != e.node->score ||
                    (last != nullptr && !sorts_before(*last, e.score, e.node->member))) {
                    return false;
                }
                last = &e;
            }
            return true;
        }
        const auto* in = static_cast<const Inner*>(n);
        ++inners;
        for (std::uint32_t k = 0; k < in->count; ++k) {
            const Entry& f = first_of(in->child[k]);
            if (in->first[k].node != f.node || in->first[k].score != f.score ||
                in->size[k] != subtree_size(in->child[k]) ||
                !valid_node(in->child[k], false, leaves, inners, prev, last)) {
                return false;
            }
        }
        return true;
    }

    Node* root_ = nullptr;
    Leaf* first_leaf_ = nullptr; // never freed: a merge frees the right-hand node
    Leaf* last_leaf_ = nullptr;
    std::size_t size_ = 0;
    std::size_t leaves_ = 0;
    std::size_t inners_ = 0;
};

} // namespace gatio::resp
