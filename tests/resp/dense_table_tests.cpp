// The member table behind hashes, sets and sorted sets against a plain map: its linear small
// form, then its open-addressing index through growth and deletions that shift probe runs.
#include <catch2/catch.hpp>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <string_view>

#include "values.hpp"

namespace {

struct Field {
    std::string key;
    std::uint64_t value;
};
struct KeyOfField {
    std::string_view operator()(const Field& f) const { return f.key; }
};
using Table = gatio::resp::DenseTable<Field, KeyOfField, 8>;

// Appends rather than concatenating a literal and a temporary, which GCC 12's -Wrestrict misreads
// at -O2.
std::string key_of(std::uint64_t k) {
    std::string key(1, 'k');
    key += std::to_string(k);
    return key;
}

void check_against(const Table& t, const std::map<std::string, std::uint64_t>& model, std::uint64_t keys) {
    REQUIRE(t.size() == model.size());
    for (std::uint64_t k = 0; k < keys; ++k) {
        const std::string key = key_of(k);
        const std::size_t i = t.find(key);
        const auto m = model.find(key);
        if (m == model.end()) {
            CHECK(i == Table::npos);
        } else {
            REQUIRE(i != Table::npos);
            CHECK(t.at(i).key == key);
            CHECK(t.at(i).value == m->second);
        }
    }
}

} // namespace

TEST_CASE("the member table finds every key through inserts and deletes, small and indexed",
          "[resp][values]") {
    std::mt19937_64 random(7);
    Table t;
    std::map<std::string, std::uint64_t> model;
    // Few distinct keys, so that deletions hit keys inside the probe runs of others, then many,
    // so that the index doubles several times.
    for (const std::uint64_t keys : {6u, 40u, 3000u}) {
        for (int step = 0; step < 20000; ++step) {
            const std::uint64_t k = random() % keys;
            const std::string key = key_of(k);
            const std::size_t i = t.find(key);
            if (random() % 3 == 0 && i != Table::npos) {
                t.erase_at(i);
                model.erase(key);
            } else if (i == Table::npos) {
                t.append(Field{key, random()});
                t.added(key.size());
                model[key] = t.at(t.size() - 1).value;
            }
            if (step % 1000 == 0) {
                check_against(t, model, keys);
            }
        }
        check_against(t, model, keys);
        // At most 8 items: still the small form; past it, indexed for good.
        CHECK(t.indexed() == (keys > 8));
    }
    // Emptied, it still answers.
    while (!t.empty()) {
        model.erase(t.at(0).key);
        t.erase_at(0);
    }
    check_against(t, model, 3000);
}
