// The keyspace's index against a plain map, through growth and deletions that shift probe runs;
// hashes are chosen by the test so that runs are long, collide on one home slot and wrap around
// the end of the slot array.
#include <catch2/catch.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <string_view>

#include "key_table.hpp"

namespace {

struct Node {
    std::string text;
    std::string_view key() const { return text; }
};

using Table = gatio::resp::KeyTable<Node>;

void check_against(const Table& t, const std::map<std::string, std::unique_ptr<Node>>& model,
                   std::uint64_t keys, std::uint64_t (*hash)(std::uint64_t)) {
    REQUIRE(t.size() == model.size());
    for (std::uint64_t k = 0; k < keys; ++k) {
        const std::string key = std::to_string(k);
        const Node* n = t.find(key, hash(k));
        const auto m = model.find(key);
        if (m == model.end()) {
            CHECK(n == nullptr);
        } else {
            CHECK(n == m->second.get());
        }
    }
}

std::uint64_t real_hash(std::uint64_t k) {
    return gatio::resp::key_hash(std::to_string(k));
}
// Few home slots, and the highest ones of a small table: runs cross the array's end.
std::uint64_t clustered(std::uint64_t k) {
    return 13 + (k % 3) * 16 + (k / 3 % 2) * 1024;
}
std::uint64_t one_home(std::uint64_t) {
    return 15;
}

} // namespace

TEST_CASE("the key index finds every key through inserts, deletes and growth", "[resp][keyspace]") {
    using Hash = std::uint64_t (*)(std::uint64_t);
    const Hash hash = GENERATE(as<Hash>{}, real_hash, clustered, one_home);
    std::mt19937_64 random(11);
    Table t;
    std::map<std::string, std::unique_ptr<Node>> model;
    for (const std::uint64_t keys : {5u, 40u, 600u}) {
        for (int step = 0; step < 6000; ++step) {
            const std::uint64_t k = random() % keys;
            const std::string key = std::to_string(k);
            const auto m = model.find(key);
            if (m != model.end() && random() % 3 == 0) {
                t.erase(key, hash(k));
                model.erase(m);
            } else if (m == model.end()) {
                auto node = std::make_unique<Node>(Node{key});
                t.insert(node.get(), hash(k));
                model.emplace(key, std::move(node));
            }
            if (step % 500 == 0) {
                check_against(t, model, keys, hash);
            }
        }
        check_against(t, model, keys, hash);
    }
    t.clear();
    CHECK(t.size() == 0);
    CHECK(t.find("1", hash(1)) == nullptr);
}
