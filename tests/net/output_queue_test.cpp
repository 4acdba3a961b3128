// ChunkPool, OutputQueue and OutputBudget on their own, over a real arena.
#include <catch2/catch.hpp>
#include <cstring>
#include <string>
#include <vector>

#include "net/file_service.hpp"
#include "net/output_queue.hpp"

using gatio::core::Arena;
using gatio::net::ChunkPool;
using gatio::net::LentPool;
using gatio::net::OutputBudget;
using gatio::net::OutputQueue;

namespace {

Arena make_arena() {
    return Arena("output queue test", 1 << 20, 0, gatio::config::MemoryPolicy::local);
}

bool append(OutputQueue& q, ChunkPool& pool, const std::string& s) {
    iovec v{const_cast<char*>(s.data()), s.size()};
    return q.append(pool, &v, 1, s.size());
}

// Everything queued, read through gather as a send would see it.
std::string gathered(const OutputQueue& q, ChunkPool& pool) {
    iovec iov[64];
    std::size_t bytes = 0;
    std::size_t n = q.gather(pool, iov, 64, bytes);
    std::string out;
    for (std::size_t i = 0; i < n; ++i) {
        out.append(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
    }
    CHECK(out.size() == bytes);
    return out;
}

} // namespace

TEST_CASE("a chunk pool hands out every chunk once and takes them back", "[output]") {
    Arena arena = make_arena();
    ChunkPool pool(arena, 4, 64);
    std::vector<std::uint32_t> taken;
    for (int i = 0; i < 4; ++i) {
        taken.push_back(pool.take());
        CHECK(taken.back() < 4);
    }
    CHECK(pool.available() == 0);
    CHECK(pool.take() == ChunkPool::none);
    std::sort(taken.begin(), taken.end());
    CHECK(std::adjacent_find(taken.begin(), taken.end()) == taken.end());
    for (auto c : taken) {
        pool.give(c);
    }
    CHECK(pool.available() == 4);
}

TEST_CASE("an output queue keeps bytes in order across chunks, partial sends and frees", "[output]") {
    Arena arena = make_arena();
    ChunkPool pool(arena, 8, 16);
    OutputQueue q;
    CHECK(q.chunks_needed(pool, 16) == 1);
    CHECK(q.chunks_needed(pool, 17) == 2);
    REQUIRE(append(q, pool, "0123456789"));
    CHECK(q.chunks() == 1);
    CHECK(q.room(pool, 0) == 6);
    CHECK(q.chunks_needed(pool, 6) == 0);
    CHECK(q.chunks_needed(pool, 7) == 1);
    REQUIRE(append(q, pool, "abcdefghijklmnopqrstuvwxyz"));
    CHECK(q.pending() == 36);
    CHECK(q.chunks() == 3);
    CHECK(gathered(q, pool) == "0123456789abcdefghijklmnopqrstuvwxyz");

    q.consume(pool, 20); // a partial send: the first chunk is freed, the second half-sent
    CHECK(q.pending() == 16);
    CHECK(q.chunks() == 2);
    CHECK(pool.available() == 6);
    CHECK(gathered(q, pool) == "klmnopqrstuvwxyz");

    q.consume(pool, 16); // everything: the last chunk goes back too
    CHECK(q.pending() == 0);
    CHECK(q.chunks() == 0);
    CHECK(pool.available() == 8);
}

TEST_CASE("an output queue appends all or nothing and clear gives every chunk back", "[output]") {
    Arena arena = make_arena();
    ChunkPool pool(arena, 2, 16);
    OutputQueue q;
    const std::string big(33, 'x');
    CHECK_FALSE(append(q, pool, big));
    CHECK(q.pending() == 0);
    CHECK(pool.available() == 2);
    std::string a(10, 'a'), b(10, 'b');
    iovec v[2] = {{a.data(), a.size()}, {b.data(), b.size()}};
    REQUIRE(q.append(pool, v, 2, 20));
    CHECK(gathered(q, pool) == a + b);
    q.clear(pool);
    CHECK(q.pending() == 0);
    CHECK(q.chunks() == 0);
    CHECK(pool.available() == 2);
}

TEST_CASE("gather stops at the iovec limit and names the bytes it covers", "[output]") {
    Arena arena = make_arena();
    ChunkPool pool(arena, 8, 4);
    OutputQueue q;
    REQUIRE(append(q, pool, "abcdefghijkl"));
    iovec iov[2];
    std::size_t bytes = 0;
    CHECK(q.gather(pool, iov, 2, bytes) == 2);
    CHECK(bytes == 8);
    q.clear(pool);
}

TEST_CASE("the output budget keeps reserves, shares the rest and charges what is held", "[output]") {
    // 100 chunks: a floor of 20, reserves of 40 (four connections of 10), 40 shared.
    OutputBudget b(100, 20, 40);
    for (int i = 0; i < 4; ++i) {
        CHECK(b.admit(10));
    }
    CHECK_FALSE(b.admit(10));
    CHECK(b.committed() == 40);
    // Within its reserve a connection costs nothing more.
    CHECK(b.grow(10, 0, 10));
    CHECK(b.committed() == 40);
    // Above it, growth comes from the shared part.
    CHECK(b.grow(10, 10, 40));
    CHECK(b.grown() == 40);
    CHECK_FALSE(b.tight());
    // Past the shared part the budget is tight, and the floor may be used.
    CHECK(b.grow(10, 50, 20));
    CHECK(b.tight());
    CHECK(b.grown() == 60);
    CHECK(b.committed() == 100);
    CHECK_FALSE(b.grow(10, 70, 1));
    // A reserve given back is there for the next connection, whatever was grown.
    b.leave(10);
    CHECK(b.admit(10));
    // Freeing below the reserve gives back only what was above it.
    b.shrink(10, 70, 30);
    CHECK(b.grown() == 20);
    CHECK(b.relax()); // a floor's worth of the shared part is free again
    CHECK_FALSE(b.tight());
    b.shrink(10, 30, 0);
    CHECK(b.committed() == 40);
}

TEST_CASE("the output budget never commits more than its pool, whatever the order", "[output]") {
    OutputBudget b(64, 8, 24);
    std::vector<std::uint32_t> held(6, 0);
    for (int i = 0; i < 6; ++i) {
        REQUIRE(b.admit(4));
    }
    std::uint32_t seed = 1;
    for (int step = 0; step < 10000; ++step) {
        seed = seed * 1103515245u + 12345u;
        auto& h = held[(seed >> 8) % held.size()];
        if ((seed >> 4) % 3 != 0) {
            std::uint32_t more = (seed >> 12) % 9;
            if (b.grow(4, h, more)) {
                h += more;
            }
        } else if (h > 0) {
            std::uint32_t after = (seed >> 12) % h;
            b.shrink(4, h, after);
            h = after;
        }
        std::uint64_t charged = 0;
        for (auto x : held) {
            charged += std::max<std::uint32_t>(x, 4);
        }
        REQUIRE(b.committed() == charged);
        REQUIRE(b.committed() <= b.total());
        b.relax();
    }
}

TEST_CASE("lent buffers go out in order between copied bytes and return once sent", "[output][files]") {
    Arena arena = make_arena();
    ChunkPool pool(arena, 8, 16);
    LentPool lent(arena, 2, 4096);
    const int owner = 0;
    OutputQueue q;
    auto lend = [&](const std::string& text) {
        const std::uint32_t b = lent.take(&owner);
        REQUIRE(b != LentPool::none);
        std::memcpy(lent.data(b), text.data(), text.size());
        lent.filled(b) = static_cast<std::uint32_t>(text.size());
        CHECK(lent.find(&owner, lent.handle(b)) == b);
        CHECK(lent.find(&pool, lent.handle(b)) == LentPool::none); // another owner's
        return b;
    };
    REQUIRE(append(q, pool, "HTTP/1.1 200 OK\r\n\r\n")); // more than one chunk
    const std::uint32_t body = lend("0123456789");
    q.append_lent(lent, body, 2, 6); // "234567"
    REQUIRE(append(q, pool, "|mid|"));
    const std::uint32_t second = lend("abcdef");
    q.append_lent(lent, second, 0, 6);
    CHECK(lent.available() == 0);
    CHECK(q.pending() == 19 + 6 + 5 + 6);
    CHECK(gathered(q, pool) == "HTTP/1.1 200 OK\r\n\r\n234567|mid|abcdef");

    q.consume(pool, 21); // into the first lent buffer
    CHECK(gathered(q, pool) == "4567|mid|abcdef");
    CHECK(lent.available() == 0);
    q.consume(pool, 4); // its last byte: it goes back
    CHECK(lent.available() == 1);
    REQUIRE(append(q, pool, "tail"));
    CHECK(gathered(q, pool) == "|mid|abcdeftail");
    q.consume(pool, 8);
    CHECK(gathered(q, pool) == "deftail");
    q.clear(pool); // drops the rest: the second buffer returns too
    CHECK(lent.available() == 2);
    CHECK(q.pending() == 0);
    CHECK(q.chunks() == 0);
    REQUIRE(append(q, pool, "again"));
    CHECK(gathered(q, pool) == "again");
}
