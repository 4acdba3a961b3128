// The sorted set's B+ tree against a plain ordered model: ranks, elements at a rank, score and
// member ranges, the tree's own invariants and the memory account, through random inserts,
// score changes and removals that cross the small form's limit and grow and shrink the tree by
// several levels.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <utility>

#include "zset.hpp"

using gatio::resp::LexBound;
using gatio::resp::LexRange;
using gatio::resp::ScoreRange;
using gatio::resp::ZNode;
using gatio::resp::ZSetValue;

namespace {

using Model = std::set<std::pair<double, std::string>>;

void check_against(const ZSetValue& z, const Model& model) {
    REQUIRE(z.valid());
    REQUIRE(z.size() == model.size());
    std::size_t r = 0;
    ZSetValue::Cursor c = z.first();
    ZSetValue::Cursor prev;
    for (const auto& [score, member] : model) {
        REQUIRE(c);
        CHECK(c->score == score);
        CHECK(c->member == member);
        CHECK(z.rank(*c) == r);
        CHECK(z.at_rank(r) == c);
        CHECK(z.find(member) == *c);
        if (prev) {
            ZSetValue::Cursor back = c;
            CHECK(--back == prev);
        }
        prev = c;
        ++c;
        ++r;
    }
    CHECK(!c);
    CHECK(z.last() == prev);
    if (prev) {
        CHECK(!--z.first());
    }
}

// The model's elements within a range, for comparison with first_in/last_in.
template <class Inside>
std::pair<const std::pair<double, std::string>*, const std::pair<double, std::string>*>
model_range(const Model& model, Inside inside) {
    const std::pair<double, std::string>* first = nullptr;
    const std::pair<double, std::string>* last = nullptr;
    for (const auto& e : model) {
        if (inside(e)) {
            first = first == nullptr ? &e : first;
            last = &e;
        }
    }
    return {first, last};
}

// Random inserts, score changes and removals over `members` names with `scores` distinct
// scores (few: many ties, ordered by member), checked against the model every `every` steps.
void exercise(std::uint64_t members, std::uint64_t scores_count, int steps, int every) {
    ZSetValue z;
    Model model;
    std::map<std::string, double> scores;
    std::uint64_t rng = 12345;
    auto next = [&rng] {
        rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
        return rng >> 33;
    };
    const std::size_t empty_bytes = z.bytes();
    for (int step = 0; step < steps; ++step) {
        const std::string member = 'm' + std::to_string(next() % members);
        const double score = static_cast<double>(next() % scores_count) / 2;
        auto it = scores.find(member);
        // Growing for the first half, shrinking for the second: the tree gains and loses levels.
        const std::uint64_t removal_odds = step < steps / 2 ? 3 : 1;
        if (next() % 4 >= removal_odds) {
            if (it == scores.end()) {
                z.insert(score, member);
                scores.emplace(member, score);
            } else {
                ZNode* n = z.find(member);
                REQUIRE(n != nullptr);
                z.rescore(n, score);
                model.erase({it->second, member});
                it->second = score;
            }
            model.insert({score, member});
        } else {
            CHECK(z.erase(member) == (it != scores.end()));
            if (it != scores.end()) {
                model.erase({it->second, member});
                scores.erase(it);
            }
        }
        if (step % every == 0) {
            check_against(z, model);
            const double lo = static_cast<double>(next() % scores_count) / 2;
            const double hi = lo + static_cast<double>(next() % 10);
            for (int ex = 0; ex < 4; ++ex) {
                ScoreRange r{lo, hi, (ex & 1) != 0, (ex & 2) != 0};
                auto [first, last] = model_range(
                    model, [&](const auto& e) { return r.above_min(e.first) && r.below_max(e.first); });
                const ZSetValue::Cursor f = z.first_in(r);
                const ZSetValue::Cursor l = z.last_in(r);
                REQUIRE(static_cast<bool>(f) == (first != nullptr));
                REQUIRE(static_cast<bool>(l) == (last != nullptr));
                if (f) {
                    CHECK(f->member == first->second);
                    CHECK(l->member == last->second);
                }
            }
        }
    }
    check_against(z, model);
    // Every member removed: the account is back where it started.
    for (const auto& [member, score] : scores) {
        CHECK(z.erase(member));
    }
    CHECK(z.size() == 0);
    CHECK(z.valid());
    CHECK(!z.first());
    CHECK(!z.last());
    CHECK(z.table().indexed());
    CHECK(z.bytes() == empty_bytes);
}

} // namespace

TEST_CASE("the sorted set's tree keeps order, ranks and ranges through random changes", "[resp][zset]") {
    SECTION("a few hundred members, crossing the small form's limit") {
        exercise(400, 50, 3000, 97);
    }
    SECTION("twenty thousand members, three levels deep") {
        exercise(40000, 20000, 120000, 9973);
    }
    SECTION("one score for all: the order is the members'") {
        exercise(5000, 1, 20000, 1999);
    }
}

TEST_CASE("lex ranges over members of one score", "[resp][zset]") {
    ZSetValue z;
    for (const char* m : {"a", "b", "c", "d", "e"}) {
        z.insert(0, m);
    }
    const auto members = [&](const LexRange& r) {
        std::string out;
        const ZSetValue::Cursor l = z.last_in(r);
        for (ZSetValue::Cursor c = z.first_in(r); c; ++c) {
            out += c->member;
            if (c == l) {
                break;
            }
        }
        return out;
    };
    CHECK(members(LexRange{{-1, {}, true}, {1, {}, true}}) == "abcde");
    CHECK(members(LexRange{{0, "b", false}, {0, "d", true}}) == "bc");
    CHECK(members(LexRange{{0, "b", true}, {0, "d", false}}) == "cd");
    CHECK(members(LexRange{{0, "bb", false}, {1, {}, true}}) == "cde");
    CHECK(members(LexRange{{-1, {}, true}, {-1, {}, true}}).empty());
    CHECK(members(LexRange{{0, "d", false}, {0, "b", false}}).empty());
    CHECK(members(LexRange{{0, "b", true}, {0, "b", false}}).empty());
}

TEST_CASE("a small sorted set stores -0 as 0, as redis-server's listpack does; a scratch one keeps it",
          "[resp][zset]") {
    ZSetValue stored;
    stored.insert(-0.0, "m");
    CHECK(!std::signbit(stored.first()->score));
    ZSetValue scratch(true);
    scratch.insert(-0.0, "m");
    CHECK(std::signbit(scratch.first()->score));
}
