// Blocking commands across drivers: a real gatiod with two io+exec drivers (two shards) and
// steer_to_cpu, so that a client whose thread runs on CPU n is served by driver n. A client
// waits on one driver and is woken by a write another client makes on the other, whichever
// shard the key lives on. Nothing is timed beyond generous bounds: a client knows another is
// waiting by INFO clients' blocked_clients.
#include <atomic>
#include <catch2/catch.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <sched.h>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "blocking.hpp"
#include "check.hpp"
#include "commands.hpp"
#include "harness.hpp"
#include "keyspace.hpp"
#include "tests/support/skip.hpp"

using namespace gatio::resp::test;

namespace {

// Whether this process may run on CPUs 0 and 1, where the two drivers are.
bool two_cpus() {
    cpu_set_t set;
    CPU_ZERO(&set);
    return ::sched_getaffinity(0, sizeof set, &set) == 0 && CPU_ISSET(0, &set) && CPU_ISSET(1, &set);
}

// A client connected from CPU `cpu`, so that its connection belongs to the driver there.
std::unique_ptr<Client> client_on(std::uint16_t port, int cpu) {
    std::unique_ptr<Client> c;
    std::thread t([&] {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        if (::sched_setaffinity(0, sizeof set, &set) == 0) {
            c = std::make_unique<Client>(port);
        }
    });
    t.join();
    // Tests also call this from their own threads, where Catch2's assertions must not run.
    if (c == nullptr) {
        throw std::runtime_error("cannot run a client on CPU " + std::to_string(cpu));
    }
    return c;
}

// gatiod whose connections are steered to the driver of the CPU they come from.
struct TwoDrivers {
    Gatiod gatiod{"", 2, {}, "steer_to_cpu = true"};
};

std::size_t blocked_clients(Client& c) {
    const std::string info = c.exchange(request({"info", "clients"}), 1);
    const auto at = info.find("blocked_clients:");
    REQUIRE(at != std::string::npos);
    return std::stoul(info.substr(at + 16));
}

// Until `n` requests wait, or the test fails after a generous bound.
void wait_blocked(Client& c, std::size_t n) {
    for (int i = 0; i < 4000; ++i) {
        if (blocked_clients(c) == n) {
            return;
        }
        std::this_thread::sleep_for(5ms);
    }
    FAIL("blocked_clients never reached " << n);
}

std::string pair(const std::string& key, const std::string& value) {
    return std::string("*2\r\n").append(bulk_reply(key)).append(bulk_reply(value));
}

} // namespace

TEST_CASE("a BLPOP waiting on one driver is served by a push from a client on the other",
          "[resp][blocking]") {
    if (!two_cpus()) {
        GATIO_SKIP("CPUs 0 and 1 are not both ours: no two drivers to put clients on");
    }
    TwoDrivers t;
    const auto port = t.gatiod.port();
    for (int waiter_cpu : {0, 1}) {
        for (int shard : {0, 1}) {
            INFO("waiter on CPU " << waiter_cpu << ", key on shard " << shard);
            const std::string k = key_on(shard, "list");
            auto waiter = client_on(port, waiter_cpu);
            auto pusher = client_on(port, 1 - waiter_cpu);
            // A command pipelined behind the waiting one is answered after it.
            waiter->send_all(request({"blpop", k, "0"}) + request({"ping"}));
            wait_blocked(*pusher, 1);
            // The waiter takes the element as part of the push, as redis-server does: the
            // pusher's next command sees the list empty.
            CHECK(pusher->exchange(request({"lpush", k, "v"}) + request({"llen", k}), 2) == ":1\r\n:0\r\n");
            CHECK(waiter->exchange("", 2) == pair(k, "v") + "+PONG\r\n");
            CHECK(blocked_clients(*pusher) == 0);
        }
    }
}

TEST_CASE("waiters on one key are served in the order they blocked", "[resp][blocking]") {
    if (!two_cpus()) {
        GATIO_SKIP("CPUs 0 and 1 are not both ours: no two drivers to put clients on");
    }
    TwoDrivers t;
    const auto port = t.gatiod.port();
    const std::string k = key_on(1, "fair");
    auto pusher = client_on(port, 0);
    std::vector<std::unique_ptr<Client>> waiters;
    for (int i = 0; i < 4; ++i) {
        waiters.push_back(client_on(port, i % 2));
        waiters.back()->send_all(request({"blpop", k, "0"}));
        wait_blocked(*pusher, static_cast<std::size_t>(i) + 1);
    }
    CHECK(pusher->exchange(request({"rpush", k, "a", "b", "c"}), 1) == ":3\r\n");
    CHECK(waiters[0]->exchange("", 1) == pair(k, "a"));
    CHECK(waiters[1]->exchange("", 1) == pair(k, "b"));
    CHECK(waiters[2]->exchange("", 1) == pair(k, "c"));
    CHECK(blocked_clients(*pusher) == 1);
    CHECK(pusher->exchange(request({"rpush", k, "d"}), 1) == ":1\r\n");
    CHECK(waiters[3]->exchange("", 1) == pair(k, "d"));
}

TEST_CASE("a BLPOP over keys of both shards takes the first with data and wakes on either",
          "[resp][blocking]") {
    if (!two_cpus()) {
        GATIO_SKIP("CPUs 0 and 1 are not both ours: no two drivers to put clients on");
    }
    TwoDrivers t;
    const auto port = t.gatiod.port();
    const std::string k0 = key_on(0, "a");
    const std::string k1 = key_on(1, "b");
    auto waiter = client_on(port, 0);
    auto pusher = client_on(port, 1);
    CHECK(pusher->exchange(request({"rpush", k0, "x"}) + request({"rpush", k1, "y"}), 2) == ":1\r\n:1\r\n");
    CHECK(waiter->exchange(request({"blpop", k1, k0, "0"}), 1) == pair(k1, "y"));
    CHECK(waiter->exchange(request({"blpop", k1, k0, "0"}), 1) == pair(k0, "x"));
    for (const auto& [first, second] : {std::pair{k0, k1}, std::pair{k1, k0}}) {
        waiter->send_all(request({"blpop", k0, k1, "0"}));
        wait_blocked(*pusher, 1);
        CHECK(pusher->exchange(request({"rpush", first, "1"}), 1) == ":1\r\n");
        CHECK(waiter->exchange("", 1) == pair(first, "1"));
        // Served through one key, it waits on the other no more.
        CHECK(blocked_clients(*pusher) == 0);
        CHECK(pusher->exchange(request({"rpush", second, "2"}) + request({"llen", second}), 2) ==
              ":1\r\n:1\r\n");
        CHECK(pusher->exchange(request({"del", second}), 1) == ":1\r\n");
    }
}

TEST_CASE("a blocking command times out with a null array and the connection carries on",
          "[resp][blocking]") {
    if (!two_cpus()) {
        GATIO_SKIP("CPUs 0 and 1 are not both ours: no two drivers to put clients on");
    }
    TwoDrivers t;
    auto c = client_on(t.gatiod.port(), 1);
    for (const auto& cmd : std::vector<std::vector<std::string>>{
             {"blpop", "nokey", "0.05"},
             {"brpop", "nokey", "other", "0.05"},
             {"blmove", "nokey", "dst", "left", "right", "0.05"},
             {"brpoplpush", "nokey", "dst", "0.05"},
             {"blmpop", "0.05", "1", "nokey", "left"},
             {"bzpopmin", "nokey", "0.05"},
             {"bzpopmax", "nokey", "0.05"},
             {"bzmpop", "0.05", "2", "nokey", "other", "max"},
         }) {
        INFO(cmd[0]);
        CHECK(c->exchange(request(cmd) + request({"ping"}), 2) == "*-1\r\n+PONG\r\n");
    }
    CHECK(blocked_clients(*c) == 0);
}

TEST_CASE("a client that disconnects while it waits is forgotten", "[resp][blocking]") {
    if (!two_cpus()) {
        GATIO_SKIP("CPUs 0 and 1 are not both ours: no two drivers to put clients on");
    }
    TwoDrivers t;
    const auto port = t.gatiod.port();
    for (int shard : {0, 1}) {
        const std::string k = key_on(shard, "gone");
        auto pusher = client_on(port, 0);
        {
            auto first = client_on(port, 1);
            first->send_all(request({"blpop", k, "0"}));
            wait_blocked(*pusher, 1);
            auto second = client_on(port, 0);
            second->send_all(request({"brpop", k, "0"}));
            wait_blocked(*pusher, 2);
            second.reset(); // gone, behind a waiter still there
            wait_blocked(*pusher, 1);
            CHECK(pusher->exchange(request({"rpush", k, "a"}), 1) == ":1\r\n");
            CHECK(first->exchange("", 1) == pair(k, "a"));
            first->send_all(request({"blpop", k, "0"}));
            wait_blocked(*pusher, 1);
        }
        // Its wait ends with it: nobody takes what comes next.
        wait_blocked(*pusher, 0);
        CHECK(pusher->exchange(request({"rpush", k, "b"}) + request({"lrange", k, "0", "-1"}), 2) ==
              std::string(":1\r\n*1\r\n") + bulk_reply("b"));
    }
}

TEST_CASE("BLMOVE moves across shards and its push wakes the destination's waiter", "[resp][blocking]") {
    if (!two_cpus()) {
        GATIO_SKIP("CPUs 0 and 1 are not both ours: no two drivers to put clients on");
    }
    TwoDrivers t;
    const auto port = t.gatiod.port();
    const std::string src = key_on(0, "src");
    const std::string dst = key_on(1, "dst");
    auto mover = client_on(port, 1);
    auto popper = client_on(port, 0);
    auto pusher = client_on(port, 0);
    popper->send_all(request({"blpop", dst, "0"}));
    wait_blocked(*pusher, 1);
    mover->send_all(request({"blmove", src, dst, "left", "right", "0"}));
    wait_blocked(*pusher, 2);
    CHECK(pusher->exchange(request({"rpush", src, "x", "y"}), 1) == ":2\r\n");
    CHECK(mover->exchange("", 1) == bulk_reply("x"));
    CHECK(popper->exchange("", 1) == pair(dst, "x"));
    CHECK(pusher->exchange(request({"lrange", src, "0", "-1"}) + request({"exists", dst}), 2) ==
          std::string("*1\r\n") + bulk_reply("y") + ":0\r\n");
    // BRPOPLPUSH the other way round, woken from the other driver.
    mover->send_all(request({"brpoplpush", dst, src, "0"}));
    wait_blocked(*pusher, 1);
    CHECK(popper->exchange(request({"lpush", dst, "z"}), 1) == ":1\r\n");
    CHECK(mover->exchange("", 1) == bulk_reply("z"));
    CHECK(pusher->exchange(request({"lrange", src, "0", "-1"}), 1) ==
          std::string("*2\r\n") + bulk_reply("z") + bulk_reply("y"));
}

TEST_CASE("sorted-set waiters are woken by ZADD from the other driver", "[resp][blocking]") {
    if (!two_cpus()) {
        GATIO_SKIP("CPUs 0 and 1 are not both ours: no two drivers to put clients on");
    }
    TwoDrivers t;
    const auto port = t.gatiod.port();
    const std::string z0 = key_on(0, "z");
    const std::string z1 = key_on(1, "z");
    auto waiter = client_on(port, 0);
    auto pusher = client_on(port, 1);
    waiter->send_all(request({"bzpopmin", z0, z1, "0"}));
    wait_blocked(*pusher, 1);
    CHECK(pusher->exchange(request({"zadd", z1, "2", "b", "1", "a"}), 1) == ":2\r\n");
    CHECK(waiter->exchange("", 1) ==
          std::string("*3\r\n") + bulk_reply(z1) + bulk_reply("a") + bulk_reply("1"));
    waiter->send_all(request({"bzmpop", "0", "1", z0, "max", "count", "5"}));
    wait_blocked(*pusher, 1);
    // A list under the name does not serve a sorted-set waiter; the sorted set does.
    CHECK(pusher->exchange(request({"rpush", z0, "l"}) + request({"del", z0}) +
                               request({"zadd", z0, "1", "m", "2", "n"}),
                           3) == ":1\r\n:1\r\n:2\r\n");
    CHECK(waiter->exchange("", 1) == std::string("*2\r\n") + bulk_reply(z0) + "*2\r\n*2\r\n" +
                                         bulk_reply("n") + bulk_reply("2") + "*2\r\n" + bulk_reply("m") +
                                         bulk_reply("1"));
}

TEST_CASE("waiters and pushers on both drivers lose and duplicate nothing", "[resp][blocking]") {
    if (!two_cpus()) {
        GATIO_SKIP("CPUs 0 and 1 are not both ours: no two drivers to put clients on");
    }
    TwoDrivers t;
    const auto port = t.gatiod.port();
    const std::string ka = key_on(0, "many");
    const std::string kb = key_on(1, "many");
    constexpr int per_pusher = 400;
    std::atomic<int> received{0};
    std::mutex seen_lock;
    std::multiset<std::string> seen;
    std::vector<std::thread> threads;
    // Short timeouts, so that timing out races with being served.
    for (int c = 0; c < 4; ++c) {
        threads.emplace_back([&, c] {
            auto client = client_on(port, c % 2);
            const auto give_up = std::chrono::steady_clock::now() + 120s;
            while (received.load() < 2 * per_pusher && std::chrono::steady_clock::now() < give_up) {
                const std::string r = client->exchange(
                    request({c % 2 == 0 ? "blpop" : "brpop", c < 2 ? ka : kb, c < 2 ? kb : ka, "0.02"}), 1);
                if (r == "*-1\r\n") {
                    continue;
                }
                std::lock_guard hold(seen_lock);
                seen.insert(r.substr(r.rfind("\r\n", r.size() - 3) + 2));
                ++received;
            }
        });
    }
    for (int p = 0; p < 2; ++p) {
        threads.emplace_back([&, p] {
            auto client = client_on(port, p);
            for (int i = 0; i < per_pusher; i += 10) {
                std::string batch;
                for (int j = i; j < i + 10; ++j) {
                    batch += request({j % 3 == 0 ? "lpush" : "rpush", j % 2 == 0 ? ka : kb,
                                      std::to_string(p) + "-" + std::to_string(j)});
                }
                client->exchange(batch, 10);
            }
        });
    }
    for (auto& th : threads) {
        th.join();
    }
    CHECK(received.load() == 2 * per_pusher);
    CHECK(seen.size() == 2 * per_pusher);
    for (int p = 0; p < 2; ++p) {
        for (int j = 0; j < per_pusher; ++j) {
            const std::string e = std::to_string(p) + "-" + std::to_string(j);
            CHECK(seen.count(e + "\r\n") == 1);
        }
    }
    Client c(port);
    CHECK(c.exchange(request({"exists", ka, kb}), 1) == ":0\r\n");
    CHECK(blocked_clients(c) == 0);
}

TEST_CASE("in process, where nothing can wait, the blocking commands answer as inside MULTI",
          "[resp][blocking]") {
    gatio::resp::check::LocalServer s(3);
    CHECK(s.run_line("blpop a b 0") == "*-1\r\n");
    CHECK(s.run_line("brpop a 0.5") == "*-1\r\n");
    CHECK(s.run_line("blmove a b left left 0") == "$-1\r\n");
    CHECK(s.run_line("brpoplpush a b 0") == "$-1\r\n");
    CHECK(s.run_line("bzpopmax a 0") == "*-1\r\n");
    CHECK(s.run_line("blmpop 0 2 a b left") == "*-1\r\n");
    CHECK(s.run_line("bzmpop 0 1 a min") == "*-1\r\n");
    CHECK(s.run_line("rpush b x") == ":1\r\n");
    CHECK(s.run_line("blpop a b 0") == "*2\r\n$1\r\nb\r\n$1\r\nx\r\n");
    CHECK(s.run_line("zadd z 1 m") == ":1\r\n");
    CHECK(s.run_line("bzmpop 0 2 a z max") == "*2\r\n$1\r\nz\r\n*1\r\n*2\r\n$1\r\nm\r\n$1\r\n1\r\n");
}

TEST_CASE("BLMOVE and BRPOPLPUSH are refused for memory before their arguments are read",
          "[resp][blocking]") {
    gatio::resp::check::LocalServer s(2);
    CHECK(s.run_line("rpush a x") == ":1\r\n");
    gatio::resp::ShardLimits full;
    full.max_memory = 1;
    s.shard(0).set_limits(full);
    s.shard(1).set_limits(full);
    const std::string oom = "-OOM command not allowed when used memory > 'maxmemory'.\r\n";
    CHECK(s.run_line("blmove a b left middle 0") == oom);
    CHECK(s.run_line("brpoplpush a b x") == oom);
    // Popping frees memory: allowed.
    CHECK(s.run_line("blpop a 0") == "*2\r\n$1\r\na\r\n$1\r\nx\r\n");
}

TEST_CASE("MOVE and SWAPDB bring data to a waiter of another database", "[resp][blocking]") {
    if (!two_cpus()) {
        GATIO_SKIP("CPUs 0 and 1 are not both ours: no two drivers to put clients on");
    }
    TwoDrivers t;
    const auto port = t.gatiod.port();
    for (int shard : {0, 1}) {
        const std::string k = key_on(shard, "moved");
        auto waiter = client_on(port, 0);
        auto pusher = client_on(port, 1);
        CHECK(waiter->exchange(request({"select", "1"}), 1) == "+OK\r\n");
        waiter->send_all(request({"blpop", k, "0"}));
        wait_blocked(*pusher, 1);
        CHECK(pusher->exchange(request({"rpush", k, "m"}) + request({"move", k, "1"}), 2) == ":1\r\n:1\r\n");
        CHECK(waiter->exchange("", 1) == pair(k, "m"));
        CHECK(waiter->exchange(request({"select", "2"}), 1) == "+OK\r\n");
        waiter->send_all(request({"bzpopmin", k, "0"}));
        wait_blocked(*pusher, 1);
        CHECK(pusher->exchange(request({"zadd", k, "1", "s"}) + request({"swapdb", "0", "2"}), 2) ==
              ":1\r\n+OK\r\n");
        CHECK(waiter->exchange("", 1) ==
              std::string("*3\r\n") + bulk_reply(k) + bulk_reply("s") + bulk_reply("1"));
        CHECK(pusher->exchange(request({"flushall"}), 1) == "+OK\r\n");
    }
}

TEST_CASE("a transaction's writes serve the requests waiting on their keys once EXEC is done",
          "[resp][blocking][transaction]") {
    if (!two_cpus()) {
        GATIO_SKIP("CPUs 0 and 1 are not both ours: no two drivers to put clients on");
    }
    TwoDrivers t;
    const auto port = t.gatiod.port();
    for (int waiter_cpu : {0, 1}) {
        for (std::uint32_t shard : {0u, 1u}) {
            INFO("waiter on CPU " << waiter_cpu << ", key on shard " << shard);
            const std::string k = key_on(shard, "txlist");
            const std::string src = key_on(1 - shard, "txsrc");
            const std::string z = key_on(shard, "txz");
            auto waiter = client_on(port, waiter_cpu);
            auto writer = client_on(port, 1 - waiter_cpu);
            waiter->send_all(request({"blpop", k, "0"}) + request({"ping"}));
            wait_blocked(*writer, 1);
            // Pushed and popped by one EXEC: nothing is left for the waiter after it, as with
            // redis-server, which serves waiters once EXEC is over.
            CHECK(writer->exchange(requests({{"multi"}, {"rpush", k, "x"}, {"lpop", k}, {"exec"}}), 4) ==
                  "+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n:1\r\n$1\r\nx\r\n");
            CHECK(blocked_clients(*writer) == 1);
            // The waiter takes the element once EXEC lets go: inside it the list holds it, the
            // writer's next command sees it empty.
            CHECK(
                writer->exchange(requests({{"multi"}, {"lpush", k, "v"}, {"llen", k}, {"exec"}, {"llen", k}}),
                                 5) == "+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n:1\r\n:1\r\n:0\r\n");
            CHECK(waiter->exchange("", 2) == pair(k, "v") + "+PONG\r\n");
            // A move inside EXEC from the other shard into the key waited on serves too.
            waiter->send_all(request({"blpop", k, "0"}));
            wait_blocked(*writer, 1);
            CHECK(
                writer->exchange(
                    requests(
                        {{"multi"}, {"rpush", src, "y"}, {"blmove", src, k, "left", "left", "0"}, {"exec"}}),
                    4) == "+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n:1\r\n$1\r\ny\r\n");
            CHECK(waiter->exchange("", 1) == pair(k, "y"));
            // And a ZADD inside EXEC a sorted-set waiter.
            waiter->send_all(request({"bzpopmin", z, "0"}));
            wait_blocked(*writer, 1);
            CHECK(writer->exchange(requests({{"multi"}, {"zadd", z, "1", "m"}, {"exec"}}), 3) ==
                  "+OK\r\n+QUEUED\r\n*1\r\n:1\r\n");
            CHECK(waiter->exchange("", 1) ==
                  std::string("*3\r\n") + bulk_reply(z) + bulk_reply("m") + bulk_reply("1"));
            CHECK(blocked_clients(*writer) == 0);
            CHECK(writer->exchange(request({"exists", k, src, z}), 1) == ":0\r\n");
        }
    }
}

namespace {

// A BLMOVE served between other clients' WATCH and EXEC: the replies of a watcher of its
// destination, of its source and of another key, each running MULTI, LLEN, EXEC afterwards.
// `connect(i)` makes the i-th client.
std::string watchers_of_a_served_move(const std::function<std::unique_ptr<Client>(int)>& connect,
                                      const std::string& src, const std::string& dst) {
    auto waiter = connect(0);
    auto pusher = connect(1);
    std::vector<std::unique_ptr<Client>> watchers;
    for (const std::string& key : {dst, src, std::string("unrelated")}) {
        watchers.push_back(connect(static_cast<int>(watchers.size())));
        CHECK(watchers.back()->exchange(request({"watch", key}), 1) == "+OK\r\n");
    }
    waiter->send_all(request({"blmove", src, dst, "left", "right", "0"}));
    wait_blocked(*pusher, 1);
    CHECK(pusher->exchange(request({"rpush", src, "e"}), 1) == ":1\r\n");
    std::string seen = waiter->exchange("", 1);
    for (auto& w : watchers) {
        seen += w->exchange(requests({{"multi"}, {"llen", dst}, {"exec"}}), 3);
    }
    seen += pusher->exchange(request({"del", dst}), 1);
    return seen;
}

} // namespace

TEST_CASE("a served blocking command changes the keys it pops from and pushes to for WATCH",
          "[resp][blocking][transaction]") {
    if (!two_cpus()) {
        GATIO_SKIP("CPUs 0 and 1 are not both ours: no two drivers to put clients on");
    }
    TwoDrivers t;
    RedisServer redis;
    const std::string src = key_on(0, "wsrc");
    const std::string dst = key_on(1, "wdst");
    // The destination changes only by the served move; the source by the push and the pop.
    const std::string aborted = "+OK\r\n+QUEUED\r\n*-1\r\n";
    const std::string expected = bulk_reply("e") + aborted + aborted + "+OK\r\n+QUEUED\r\n*1\r\n:1\r\n:1\r\n";
    for (int first_cpu : {0, 1}) {
        INFO("the waiter on CPU " << first_cpu);
        CHECK(
            watchers_of_a_served_move([&](int i) { return client_on(t.gatiod.port(), (first_cpu + i) % 2); },
                                      src, dst) == expected);
    }
    CHECK(watchers_of_a_served_move([&](int) { return std::make_unique<Client>(redis.port()); }, src, dst) ==
          expected);
}

TEST_CASE("serving a waiter moves the WATCH version of the key it pops from",
          "[resp][blocking][transaction]") {
    using namespace gatio::resp;
    std::mutex lock;
    Shard shard(ShardLimits{});
    const ServerSettings settings;
    BlockRegistry registry({BlockRegistry::ShardRef{&lock, &shard, &settings}}, 1);
    const std::vector<std::string_view> blpop{"blpop", "k", "0"};
    Waiter w;
    w.spec = find_command("blpop");
    REQUIRE(w.spec != nullptr);
    w.args = blpop;
    int woken = 0;
    w.user = &woken;
    w.wake = [](Waiter& x) { ++*static_cast<int*>(x.user); };
    Noted noted;
    std::string out;
    REQUIRE(registry.block(w, 0, out, noted) == Attempt::block);
    CHECK(registry.blocked() == 1);
    const std::uint64_t watched = shard.watch("k");
    const CommandSpec* rpush = find_command("rpush");
    REQUIRE(rpush != nullptr);
    const std::vector<std::string_view> push{"rpush", "k", "v"};
    {
        std::lock_guard hold(lock);
        run_list(shard, *rpush, push, 0, out);
        registry.note_command(noted, *rpush, push, {}, 0);
    }
    CHECK(out == ":1\r\n");
    const std::uint64_t pushed = shard.version(0, "k");
    CHECK(pushed != watched);
    std::vector<std::uint32_t> post;
    registry.serve_ready(noted, 0, post);
    CHECK(post == std::vector<std::uint32_t>{0});
    CHECK(w.reply == "*2\r\n$1\r\nk\r\n$1\r\nv\r\n");
    // The pop is a change of its own: a WATCH taken after the push would see it.
    CHECK(shard.version(0, "k") != pushed);
    CHECK(shard.find("k", 0) == nullptr);
    BlockRegistry::deliver(&registry.box(0));
    CHECK(woken == 1);
    registry.unlist(w);
    CHECK(registry.blocked() == 0);
    shard.unwatch(0, "k");
}
