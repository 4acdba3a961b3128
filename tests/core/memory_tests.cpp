// The start-up allocators on their own: Arena and Slab.
#include <catch2/catch.hpp>
#include <cstdint>
#include <set>
#include <stdexcept>
#include <vector>

#include "core/arena.hpp"
#include "core/handle.hpp"
#include "core/slab.hpp"

using gatio::config::MemoryPolicy;
using gatio::core::Arena;
using gatio::core::Slab;

TEST_CASE("an arena hands out aligned, zeroed, disjoint memory until it is full", "[memory]") {
    Arena arena("test", 8192, 0, MemoryPolicy::local);
    CHECK(arena.capacity() >= 8192);
    auto* a = static_cast<unsigned char*>(arena.allocate(100, 64));
    auto* b = static_cast<unsigned char*>(arena.allocate(100, 256));
    CHECK(reinterpret_cast<std::uintptr_t>(a) % 64 == 0);
    CHECK(reinterpret_cast<std::uintptr_t>(b) % 256 == 0);
    CHECK(b >= a + 100);
    for (int i = 0; i < 100; ++i) {
        CHECK(a[i] == 0);
    }
    CHECK(arena.used() >= 200);
    CHECK_THROWS_AS(arena.allocate(arena.capacity()), std::runtime_error);
}

TEST_CASE("a sealed arena refuses every allocation", "[memory]") {
    Arena arena("sealed", 4096, 0, MemoryPolicy::local);
    arena.allocate(16);
    arena.seal();
    CHECK_THROWS_AS(arena.allocate(16), std::logic_error);
}

namespace {
struct Item {
    explicit Item(int v) : value(v) { ++alive; }
    ~Item() { --alive; }
    int value;
    static inline int alive = 0;
};
} // namespace

TEST_CASE("a slab creates up to its capacity, reuses slots and tells which are in use", "[memory]") {
    Arena arena("slab", 1 << 16, 0, MemoryPolicy::local);
    Slab<Item> slab(arena, 3);
    std::vector<Item*> items;
    for (int i = 0; i < 3; ++i) {
        items.push_back(slab.create(i));
        REQUIRE(items.back() != nullptr);
    }
    CHECK(slab.full());
    CHECK(slab.create(9) == nullptr);
    CHECK(Item::alive == 3);
    std::set<std::uint32_t> slots;
    for (Item* it : items) {
        slots.insert(slab.index_of(it));
        CHECK(slab.at(slab.index_of(it)) == it);
    }
    CHECK(slots.size() == 3);
    const std::uint32_t freed = slab.index_of(items[1]);
    slab.destroy(items[1]);
    CHECK(Item::alive == 2);
    CHECK_FALSE(slab.in_use(freed));
    CHECK(slab.size() == 2);
    Item* again = slab.create(7);
    REQUIRE(again != nullptr);
    CHECK(slab.index_of(again) == freed);
    CHECK(again->value == 7);
    CHECK(slab.in_use(freed));
    CHECK_FALSE(slab.in_use(3));
    for (Item* it : {items[0], again, items[2]}) {
        slab.destroy(it);
    }
    CHECK(Item::alive == 0);
    CHECK(slab.size() == 0);
}

// The one packing of the ABI's connection and timer handles: 0 and a zero low half name no
// slot, every slot up to UINT32_MAX - 1 round-trips with its generation, and a newer generation
// of the same slot is another handle.
TEST_CASE("a handle packs slot and generation so that 0 is never valid and each generation differs",
          "[memory]") {
    using gatio::core::Handle;
    CHECK_FALSE(Handle::unpack(0).has_value());
    CHECK_FALSE(Handle::unpack(std::uint64_t{7} << 32).has_value());
    for (const Handle h : {Handle{0, 0}, Handle{1, 2}, Handle{0xfffffffeu, 0xffffffffu}}) {
        const std::uint64_t packed = h.pack();
        CHECK(packed != 0);
        const auto back = Handle::unpack(packed);
        REQUIRE(back.has_value());
        CHECK(back->slot == h.slot);
        CHECK(back->generation == h.generation);
    }
    CHECK(Handle{5, 1}.pack() != Handle{5, 2}.pack());
}
