// The resp plugin's bounds, served by a real gatiod: pipelines deeper than max_pipeline that
// arrive at once, the memory of large requests given back, the memory of partly received
// requests bounded per driver, and what an idle connection costs.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"
#include "tests/support/rss_scale.hpp"
#include "tests/support/skip.hpp"

using namespace gatio::resp::test;

namespace {

std::string repeat(std::string_view s, std::size_t n) {
    std::string out;
    out.reserve(s.size() * n);
    for (std::size_t i = 0; i < n; ++i) {
        out += s;
    }
    return out;
}

// The start of a SET whose value is announced as `len` bytes and not sent yet.
std::string set_header(const std::string& key, std::size_t len) {
    return "*3\r\n$3\r\nSET\r\n$" + std::to_string(key.size()) + "\r\n" + key + "\r\n$" +
           std::to_string(len) + "\r\n";
}

constexpr std::size_t MiB = 1u << 20;

// gatiod's resident memory once it has stopped moving: right after start its drivers are still
// touching their arenas.
std::size_t settled_rss(pid_t pid) {
    std::size_t last = resident_bytes(pid);
    for (int i = 0; i < 50; ++i) {
        std::this_thread::sleep_for(100ms);
        std::size_t now = resident_bytes(pid);
        if (now == last) {
            break;
        }
        last = now;
    }
    return last;
}

std::size_t grown_since(pid_t pid, std::size_t baseline) {
    const std::size_t now = resident_bytes(pid);
    return now > baseline ? now - baseline : 0;
}

} // namespace

TEST_CASE("more requests than max_pipeline in one receive are all answered", "[resp][limits]") {
    // Every reply is computed on the spot (PING), so no task completion comes to read the
    // requests left over once the slots are full.
    Gatiod gatiod;
    for (std::size_t n : {129u, 1000u}) {
        INFO(n << " PINGs in one write");
        Client c(gatiod.port());
        const std::string pings = repeat("PING\r\n", n);
        CHECK(c.exchange(pings, n, 10s) == repeat("+PONG\r\n", n));
        // The connection still reads.
        CHECK(c.exchange("PING\r\n", 1, 10s) == "+PONG\r\n");
    }
}

TEST_CASE("redis-benchmark pipelines deeper than max_pipeline on one connection", "[resp][limits]") {
    Gatiod gatiod;
    auto r = run({"/usr/bin/redis-benchmark", "-p", std::to_string(gatiod.port()), "-t", "ping", "-P", "200",
                  "-c", "1", "-n", "20000", "-q"},
                 60s);
    INFO(r.out);
    CHECK(r.status == 0);
    CHECK(reports_rate(r.out, "PING_INLINE: "));
    CHECK(reports_rate(r.out, "PING_MBULK: "));
}

TEST_CASE("redis-cli --pipe gets every reply", "[resp][limits]") {
    TempDir dir;
    const auto input = dir.path() / "commands";
    SECTION("200 PINGs") {
        Gatiod gatiod;
        std::ofstream(input) << repeat("PING\r\n", 200);
        auto r =
            run({"/usr/bin/redis-cli", "-p", std::to_string(gatiod.port()), "--pipe", "--pipe-timeout", "20"},
                40s, input);
        INFO(r.out);
        CHECK(r.status == 0);
        CHECK(r.out.find("errors: 0, replies: 200") != std::string::npos);
    }
    SECTION("100,000 SETs on one driver") {
        // One driver: every SET runs on the spot on the connection's own shard.
        Gatiod gatiod("", 1);
        {
            std::ofstream out(input);
            for (int i = 0; i < 100'000; ++i) {
                out << request({"SET", "key:" + std::to_string(i), std::to_string(i)});
            }
        }
        auto r =
            run({"/usr/bin/redis-cli", "-p", std::to_string(gatiod.port()), "--pipe", "--pipe-timeout", "30"},
                60s, input);
        INFO(r.out);
        CHECK(r.status == 0);
        CHECK(r.out.find("errors: 0, replies: 100000") != std::string::npos);
        Client c(gatiod.port());
        CHECK(c.exchange(request({"DBSIZE"}), 1) == ":100000\r\n");
        CHECK(c.exchange(request({"GET", "key:99999"}), 1) == "$5\r\n99999\r\n");
    }
}

// AddressSanitizer keeps freed memory in a quarantine (256 MiB by default) to catch uses after
// free, so RSS would not come back under it; this test's gatiod runs without one.
class NoQuarantine {
public:
    NoQuarantine() {
#if defined(__SANITIZE_ADDRESS__)
        const char* before = std::getenv("ASAN_OPTIONS");
        saved_ = before == nullptr ? std::nullopt : std::optional<std::string>(before);
        const std::string options =
            saved_.value_or("") + ":quarantine_size_mb=0:thread_local_quarantine_size_kb=0";
        ::setenv("ASAN_OPTIONS", options.c_str(), 1);
#endif
    }
    ~NoQuarantine() {
#if defined(__SANITIZE_ADDRESS__)
        if (saved_) {
            ::setenv("ASAN_OPTIONS", saved_->c_str(), 1);
        } else {
            ::unsetenv("ASAN_OPTIONS");
        }
#endif
    }
    NoQuarantine(const NoQuarantine&) = delete;
    NoQuarantine& operator=(const NoQuarantine&) = delete;

private:
    std::optional<std::string> saved_;
};

TEST_CASE("the memory of large requests is given back", "[resp][limits]") {
    std::optional<Gatiod> started;
    {
        NoQuarantine asan; // only for the gatiod started here
        started.emplace();
    }
    Gatiod& gatiod = *started;
    const pid_t pid = gatiod.process().pid();
    // MGET of one key repeated up to max_multibulk arguments: ~7 MiB to send, ~5 MiB of
    // nil replies, and per-argument vectors of ~40 MiB on the way.
    constexpr std::size_t keys = (1u << 20) - 1;
    std::string big = '*' + std::to_string(keys + 1) + "\r\n$4\r\nMGET\r\n" + repeat("$1\r\nk\r\n", keys);
    const std::string nils = '*' + std::to_string(keys) + "\r\n" + repeat("$-1\r\n", keys);
    {
        Client warm(gatiod.port());
        CHECK(warm.exchange(request({"MGET", "k", "k"}), 1) == "*2\r\n$-1\r\n$-1\r\n");
    }
    const std::size_t baseline = settled_rss(pid);
    {
        // Each request lands in the next slot of the connection's ring.
        Client c(gatiod.port());
        for (int i = 0; i < 8; ++i) {
            INFO("request " << i);
            // The server reads the whole request before it replies.
            c.send_all(big);
            REQUIRE(c.receive(nils.size(), 60s) == nils);
        }
    }
    // The connection's state is kept for reuse; what it grew is not. Eight requests keeping
    // their buffers would hold well over 100 MiB. The close reaches gatiod in its own time.
    std::size_t grown = 0;
    for (int i = 0; i < 200; ++i) {
        grown = grown_since(pid, baseline);
        if (grown < 32 * MiB) {
            break;
        }
        std::this_thread::sleep_for(50ms);
    }
    INFO("RSS baseline " << baseline << " bytes, grown by " << grown);
    CHECK(grown < 32 * MiB);
}

TEST_CASE("partly received requests are bounded per driver by max_partial_memory", "[resp][limits]") {
    // One driver, so that every connection draws on the same bound.
    Gatiod gatiod("max_partial_memory = \"32MiB\"", 1);
    const pid_t pid = gatiod.process().pid();
    const std::size_t len = 10 * MiB;
    const std::string refusal = "-ERR max_partial_memory reached: partly received requests on this driver "
                                "would hold more than 33554432 bytes\r\n";
    {
        // The receive path sees as much traffic before the baseline as after it.
        Client warm(gatiod.port());
        CHECK(warm.exchange(request({"SET", "warm", std::string(3 * len, 'w')}), 1, 30s) == "+OK\r\n");
    }
    std::vector<std::unique_ptr<Client>> held;
    const std::size_t baseline = settled_rss(pid);
    // The PING's reply shows that the announcement in the same write was read.
    for (int i = 0; i < 3; ++i) {
        held.push_back(std::make_unique<Client>(gatiod.port()));
        CHECK(held.back()->exchange("PING\r\n" + set_header('k' + std::to_string(i), len), 1) == "+PONG\r\n");
    }
    {
        // A fourth 10 MiB would go over 32 MiB: refused at once, the connection closed.
        Client refused(gatiod.port());
        CHECK(refused.exchange("PING\r\n" + set_header("k3", len), 2) == "+PONG\r\n" + refusal);
        CHECK(refused.read_to_close() == "");
    }
    {
        // Requests that arrive whole need no such memory.
        Client small(gatiod.port());
        CHECK(small.exchange(request({"SET", "small", "1"}), 1) == "+OK\r\n");
    }
    // Most of the values arrive: memory grows by what was sent, within the bound.
    const std::string part(len - MiB, 'v');
    for (auto& c : held) {
        c->send_all(part);
    }
    {
        Client probe(gatiod.port());
        CHECK(probe.exchange(request({"PING"}), 1) == "+PONG\r\n");
    }
    const std::size_t grown = grown_since(pid, baseline);
    INFO("RSS baseline " << baseline << " bytes, grown by " << grown);
    CHECK(grown < (32 * MiB + 16 * MiB) * gatio::test::rss_scale);
    for (auto& c : held) {
        CHECK(c->exchange(std::string(MiB, 'v') + "\r\n", 1, 30s) == "+OK\r\n");
    }
    held.clear();
    // The memory is free again for the next large request.
    Client next(gatiod.port());
    CHECK(next.exchange(request({"SET", "k3", std::string(len, 'w')}), 1, 30s) == "+OK\r\n");
    CHECK(next.exchange(request({"STRLEN", "k0"}), 1) == ':' + std::to_string(len) + "\r\n");
    CHECK(next.exchange(request({"STRLEN", "k3"}), 1) == ':' + std::to_string(len) + "\r\n");
}

TEST_CASE("an idle connection costs little", "[resp][limits]") {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    // Their allocators pad every allocation (redzones, shadow memory), which is what RSS would
    // then measure: 2,490 bytes per connection under ASan where the plain build has 1,950.
    GATIO_SKIP("the sanitizers' allocators pad every allocation, so RSS does not measure gatiod's");
#else
    Gatiod gatiod;
    const pid_t pid = gatiod.process().pid();
    std::vector<std::unique_ptr<Client>> idle;
    // A reply shows the connection is open on the plugin's side.
    auto open = [&](std::size_t n) {
        for (std::size_t i = 0; i < n; ++i) {
            idle.push_back(std::make_unique<Client>(gatiod.port()));
            REQUIRE(idle.back()->exchange(request({"PING"}), 1) == "+PONG\r\n");
        }
    };
    {
        // Enough receives to cycle the provided-buffer ring, whose pages are committed as buffers
        // are first used: that memory is bounded by the ring, not by the connections.
        Client warm(gatiod.port());
        for (int i = 0; i < 4096; ++i) {
            REQUIRE(warm.exchange(request({"PING"}), 1) == "+PONG\r\n");
        }
    }
    // The first connections also commit what any number of them needs once (the allocator's
    // heap, the first pages of each table): the cost of one more is measured after them.
    open(200);
    const std::size_t baseline = settled_rss(pid);
    constexpr std::size_t count = 800; // with the 200, within the listener's max_connections
    open(count);
    const std::size_t per_connection = grown_since(pid, baseline) / count;
    // Printed for the record. The bound is issue 15's target; it covers gatiod's connection slot
    // (committed on use, 208 bytes) and the plugin's own state.
    WARN("RSS per idle connection: " << per_connection << " bytes");
    CHECK(per_connection <= 1024);
#endif
}

namespace {

struct Calls {
    unsigned long allocations = 0;
    unsigned long clock_reads = 0; // of the wall clock
};

// The allocator calls and wall-clock reads of a whole gatiod run (two drivers) that answers
// the 50 requests of `setup` once, then `rounds` times the pipeline `round` of `replies`
// requests on one connection: each round answered `expected`, or (when empty) with no error.
[[maybe_unused]] Calls calls_for(const std::string& setup, const std::string& round, std::size_t replies,
                                 std::size_t rounds, const std::string& expected = {}) {
    TempDir dir;
    const auto file = dir.path() / "count";
    {
        Gatiod gatiod("", 2,
                      {std::string("LD_PRELOAD=") + GATIO_MALLOC_COUNT_PATH,
                       "GATIO_MALLOC_COUNT_FILE=" + file.string()});
        Client c(gatiod.port());
        c.exchange(setup, 50);
        for (std::size_t r = 0; r < rounds; ++r) {
            const std::string got = c.exchange(round, replies);
            if (expected.empty()) {
                REQUIRE(got.find('-') == std::string::npos);
            } else {
                REQUIRE(got == expected);
            }
        }
        REQUIRE(gatiod.process().stop() == 0);
    }
    std::ifstream in(file);
    Calls calls;
    REQUIRE(in >> calls.allocations >> calls.clock_reads);
    return calls;
}

// `rounds` pipelines of 50 GETs, on keys of both shards (both the spot and the task path).
[[maybe_unused]] Calls calls_for_gets(std::size_t rounds) { // unused where the sanitizers skip its test
    std::string sets;
    std::string gets;
    for (int i = 0; i < 50; ++i) {
        sets += request({"SET", "key:" + std::to_string(i), "value"});
        gets += request({"GET", "key:" + std::to_string(i)});
    }
    return calls_for(sets, gets, 50, rounds, repeat("$5\r\nvalue\r\n", 50));
}

} // namespace

// The other commands redis-benchmark measures, on keys of both shards, where the keyspace does
// not grow: a request itself takes nothing from the allocator.
TEST_CASE("benchmarked commands that do not grow the keyspace allocate nothing", "[resp][limits]") {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    GATIO_SKIP("the sanitizers' allocator cannot be interposed by a preloaded library");
#else
    std::vector<std::string> hundred{"RPUSH", ""};
    for (int i = 0; i < 100; ++i) {
        hundred.push_back(numbered("e", static_cast<std::size_t>(i)));
    }
    struct Case {
        const char* name;
        std::vector<std::string> setup; // {}: the round's request; its [1] becomes key:i
        std::vector<std::string> round; // [1] becomes key:i
    };
    const std::vector<Case> cases{
        {"SET", {}, {"SET", "", "value"}},
        {"INCR", {}, {"INCR", ""}},
        {"HSET", {"HSET", "", "field", "value"}, {"HSET", "", "field", "value"}},
        {"SADD", {"SADD", "", "member"}, {"SADD", "", "member"}},
        {"ZADD", {"ZADD", "", "1", "member"}, {"ZADD", "", "1", "member"}},
        {"LRANGE", hundred, {"LRANGE", "", "0", "99"}},
        {"MSET", {}, {"MSET", "", "value", "other", "value"}},
        {"LPUSH and LPOP", {}, {"LPUSH", "", "x"}},
    };
    for (const Case& t : cases) {
        std::string setup;
        std::string round;
        for (std::size_t i = 0; i < 50; ++i) {
            const std::string key = numbered("key:", i);
            std::vector<std::string> r = t.round;
            r[1] = key;
            round += request(r);
            std::vector<std::string> s = t.setup.empty() ? r : t.setup;
            s[1] = key;
            setup += request(s);
            if (t.round[0] == "LPUSH") {
                round += request({"LPOP", key});
            }
        }
        const std::size_t per_round = t.round[0] == "LPUSH" ? 100 : 50;
        const unsigned long few = calls_for(setup, round, per_round, 20).allocations;
        const unsigned long many = calls_for(setup, round, per_round, 420).allocations;
        const unsigned long more = many > few ? many - few : 0;
        WARN(t.name << ": " << more << " allocator calls for " << 400 * per_round << " more requests");
        CHECK(more < 200);
    }
#endif
}

TEST_CASE("GET allocates nothing and reads the clock once per receive", "[resp][limits]") {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    GATIO_SKIP("the sanitizers' allocator cannot be interposed by a preloaded library");
#else
    const Calls few = calls_for_gets(20);
    const Calls many = calls_for_gets(420);
    const auto more = [](unsigned long a, unsigned long b) { return a > b ? a - b : 0; };
    // 20,000 more GETs in 400 more pipelines: one allocation or clock read per GET would be
    // 20,000 more calls.
    const unsigned long allocations = more(many.allocations, few.allocations);
    const unsigned long clock_reads = more(many.clock_reads, few.clock_reads);
    WARN("for 20,000 more GETs in 400 pipelines: " << allocations << " allocator calls, " << clock_reads
                                                   << " wall-clock reads");
    CHECK(allocations < 200);
    CHECK(clock_reads < 2000);
#endif
}
