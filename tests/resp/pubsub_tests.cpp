// Pub/sub served by a real gatiod with two drivers: replies compared byte for byte with a real
// redis-server, and messages crossing drivers, whose placement the tests learn from gatiod's
// own per-driver subscription gauge on the [admin] endpoint.
#include <atomic>
#include <catch2/catch.hpp>
#include <string>
#include <thread>
#include <vector>

#include "check.hpp"
#include "harness.hpp"

using namespace gatio::resp::test;

namespace {

std::string message(const std::string& channel, const std::string& text) {
    return "*3\r\n$7\r\nmessage\r\n$" + std::to_string(channel.size()) + "\r\n" + channel + "\r\n$" +
           std::to_string(text.size()) + "\r\n" + text + "\r\n";
}

std::string pmessage(const std::string& pattern, const std::string& channel, const std::string& text) {
    return "*4\r\n$8\r\npmessage\r\n$" + std::to_string(pattern.size()) + "\r\n" + pattern + "\r\n$" +
           std::to_string(channel.size()) + "\r\n" + channel + "\r\n$" + std::to_string(text.size()) +
           "\r\n" + text + "\r\n";
}

// One connection's pub/sub script: every reply is deterministic on both servers.
const std::vector<std::vector<std::string>> script{
    {"pubsub", "numpat", "x"},
    {"pubsub", "foo"},
    {"pubsub", "channels", "a", "b"},
    {"pubsub"},
    {"pubsub", "numsub"},
    {"pubsub", "numsub", "nochannel", "other"},
    {"pubsub", "numpat"},
    {"pubsub", "channels"},
    {"pubsub", "channels", "*"},
    {"publish", "nochannel", "message"},
    {"publish", "a"},
    {"unsubscribe"},
    {"punsubscribe"},
    {"unsubscribe", "never"},
    {"subscribe"},
    {"psubscribe"},
    {"subscribe", "a", "b", "a"},
    {"psubscribe", "p*", "h?llo", "p*"},
    {"get", "a"},
    {"set", "a", "1"},
    {"config", "get", "save"},
    {"pubsub", "numsub", "a"},
    {"publish", "a", "x"},
    {"hello", "2"},
    {"select", "1"},
    {"ping"},
    {"ping", "hi"},
    {"ping", "a", "b"},
    {"get"},
    {"nosuchcommand", "x"},
    {"unsubscribe", "b"},
    {"unsubscribe", "b"},
    {"punsubscribe", "x"},
    {"punsubscribe", "h?llo"},
    {"punsubscribe"},
    {"ping"},
    {"unsubscribe"},
    {"ping"},
    {"subscribe", "c"},
    {"psubscribe", "d*"},
    {"reset"},
    {"ping"},
    {"unsubscribe"},
    {"select", "2"},
    {"set", "k", "v"},
    {"subscribe", "e"},
    {"reset"},
    {"get", "k"},
    {"reset", "x"},
    {"subscribe", "f"},
    {"quit"},
};

} // namespace

TEST_CASE("pub/sub replies are byte for byte those of redis-server", "[resp][pubsub]") {
    Gatiod gatiod;
    RedisServer redis;
    std::string all = request({"flushall"});
    for (const auto& cmd : script) {
        all += request(cmd);
    }
    Client ours(gatiod.port());
    Client theirs(redis.port());
    ours.send_all(all);
    theirs.send_all(all);
    std::string a = ours.read_to_close();
    std::string b = theirs.read_to_close();
    std::size_t ia = gatio::resp::check::reply_length(a);
    std::size_t ib = gatio::resp::check::reply_length(b);
    for (const auto& cmd : script) {
        std::size_t la = gatio::resp::check::reply_length(std::string_view(a).substr(ia));
        std::size_t lb = gatio::resp::check::reply_length(std::string_view(b).substr(ib));
        INFO("command: " << cmd[0] << (cmd.size() > 1 ? " " + cmd[1] : std::string()));
        REQUIRE(la > 0);
        REQUIRE(lb > 0);
        CHECK(a.substr(ia, la) == b.substr(ib, lb));
        ia += la;
        ib += lb;
    }
    CHECK(a == b);
}

TEST_CASE("a subscriber receives what a publisher sends as from redis-server", "[resp][pubsub]") {
    Gatiod gatiod;
    RedisServer redis;
    std::string got[2];
    std::string counts[2];
    const std::uint16_t ports[2] = {gatiod.port(), redis.port()};
    for (int i = 0; i < 2; ++i) {
        Client sub(ports[i]);
        Client pub(ports[i]);
        // The confirmations arrive once the subscriptions are in place. No channel matches both
        // patterns: redis-server sends the pmessages of two matching patterns in its hash order,
        // which its random hash seed changes from run to run.
        got[i] =
            sub.exchange(request({"subscribe", "news", "sport"}) + request({"psubscribe", "n*", "*rt"}), 4);
        std::string burst = request({"publish", "news", "first"}) + request({"publish", "nothing", "x"}) +
                            request({"publish", "sport", std::string("bin\0ary\r\n", 9)}) +
                            request({"publish", "nope", "y"}) + request({"publish", "other", "z"}) +
                            request({"pubsub", "numsub", "news", "sport", "n*", "none"}) +
                            request({"pubsub", "numpat"}) + request({"pubsub", "channels", "n*"}) +
                            request({"pubsub", "channels", "s?ort"});
        counts[i] = pub.exchange(burst, 9);
        // 2 + 1 + 2 + 1 + 0 messages, then the confirmation of the end.
        got[i] += sub.exchange(request({"unsubscribe", "news"}), 7);
    }
    CHECK(counts[0] == counts[1]);
    CHECK(got[0] == got[1]);
}

TEST_CASE("publishers reach subscribers on every driver", "[resp][pubsub]") {
    const std::uint16_t admin = free_port();
    Gatiod gatiod(with_admin(admin));
    auto s0 = client_on(gatiod.port(), admin, "d0");
    auto s1 = client_on(gatiod.port(), admin, "d1");
    auto p0 = client_on(gatiod.port(), admin, "d0");
    auto p1 = client_on(gatiod.port(), admin, "d1");
    s0->exchange(request({"subscribe", "chan"}) + request({"psubscribe", "ch*"}), 2);
    s1->exchange(request({"subscribe", "chan", "only1"}), 2);
    const auto subs = by_driver(metrics(admin), "resp_pubsub_subscriptions");
    CHECK(subs.at("d0") == 2);
    CHECK(subs.at("d1") == 2);

    // From driver 1: the channel subscriber and the pattern on driver 0, and driver 1's own.
    CHECK(p1->exchange(request({"publish", "chan", "from1"}), 1) == ":3\r\n");
    CHECK(p0->exchange(request({"publish", "chan", "from0"}), 1) == ":3\r\n");
    CHECK(p0->exchange(request({"publish", "only1", "hi"}), 1) == ":1\r\n");
    CHECK(p1->exchange(request({"publish", "chx", "p"}), 1) == ":1\r\n");
    CHECK(s0->exchange("", 5) == message("chan", "from1") + pmessage("ch*", "chan", "from1") +
                                     message("chan", "from0") + pmessage("ch*", "chan", "from0") +
                                     pmessage("ch*", "chx", "p"));
    CHECK(s1->exchange("", 3) ==
          message("chan", "from1") + message("chan", "from0") + message("only1", "hi"));

    // Counts gathered over both drivers, asked from either.
    for (Client* p : {p0.get(), p1.get()}) {
        CHECK(p->exchange(request({"pubsub", "numsub", "chan", "only1", "ch*"}), 1) ==
              "*6\r\n$4\r\nchan\r\n:2\r\n$5\r\nonly1\r\n:1\r\n$3\r\nch*\r\n:0\r\n");
        CHECK(p->exchange(request({"pubsub", "numpat"}), 1) == ":1\r\n");
        CHECK(p->exchange(request({"pubsub", "channels"}), 1) == "*2\r\n$4\r\nchan\r\n$5\r\nonly1\r\n");
        CHECK(p->exchange(request({"pubsub", "channels", "o*"}), 1) == "*1\r\n$5\r\nonly1\r\n");
    }

    // Many messages from both drivers at once arrive whole, each publisher's in its order.
    std::string burst0;
    std::string burst1;
    for (std::size_t i = 0; i < 500; ++i) {
        burst0 += request({"publish", "only1", numbered("a", i)});
        burst1 += request({"publish", "only1", numbered("b", i)});
    }
    std::string expect_replies;
    for (int i = 0; i < 500; ++i) {
        expect_replies += ":1\r\n";
    }
    std::string replies0;
    std::thread t0([&] { replies0 = p0->exchange(burst0, 500); });
    const std::string replies1 = p1->exchange(burst1, 500);
    t0.join();
    CHECK(replies0 == expect_replies);
    CHECK(replies1 == expect_replies);
    std::string stream = s1->exchange("", 1000);
    std::size_t next_a = 0;
    std::size_t next_b = 0;
    for (std::size_t at = 0; at < stream.size();) {
        std::size_t n = gatio::resp::check::reply_length(std::string_view(stream).substr(at));
        REQUIRE(n > 0);
        std::string one = stream.substr(at, n);
        if (one == message("only1", numbered("a", next_a))) {
            ++next_a;
        } else {
            CHECK(one == message("only1", numbered("b", next_b)));
            ++next_b;
        }
        at += n;
    }
    CHECK(next_a == 500);
    CHECK(next_b == 500);

    // A subscriber that goes is gone from every driver's answers.
    s1.reset();
    await_metric(admin, "resp_pubsub_subscriptions", [](const auto& m) { return m.at("d1") == 0; });
    CHECK(p0->exchange(request({"pubsub", "numsub", "chan", "only1"}), 1) ==
          "*4\r\n$4\r\nchan\r\n:1\r\n$5\r\nonly1\r\n:0\r\n");
    CHECK(p0->exchange(request({"publish", "chan", "last"}), 1) == ":2\r\n");
    CHECK(p1->exchange(request({"pubsub", "channels"}), 1) == "*1\r\n$4\r\nchan\r\n");
    s0.reset();
    CHECK(total(await_metric(admin, "resp_pubsub_subscriptions",
                             [](const auto& m) { return total(m) == 0; })) == 0);
    CHECK(p1->exchange(request({"publish", "chan", "none"}), 1) == ":0\r\n");
    CHECK(gatiod.process().stop() == 0);
}

TEST_CASE("a subscriber that does not read is closed at pubsub_output_limit", "[resp][pubsub]") {
    const std::uint16_t admin = free_port();
    Gatiod gatiod(with_admin(admin, "pubsub_output_limit = \"4MiB\""));
    auto slow = client_on(gatiod.port(), admin, "d0");
    auto reader = client_on(gatiod.port(), admin, "d1");
    auto pub = client_on(gatiod.port(), admin, "d1");
    slow->exchange(request({"subscribe", "feed"}), 1);
    reader->exchange(request({"subscribe", "feed"}), 1);

    // 64 MiB in 64 KiB messages: far more than the kernel's socket buffers and the limit hold.
    const std::string body(64u << 10, 'm');
    constexpr int messages = 1024;
    std::atomic<int> received{0};
    int first_single = -1; // the first PUBLISH that no longer reached the slow subscriber
    std::thread reading([&] {
        for (int i = 0; i < messages; ++i) {
            const std::string text = std::to_string(i) + body;
            if (reader->exchange("", 1, 60s) != message("feed", text)) {
                return;
            }
            ++received;
        }
    });
    for (int i = 0; i < messages; ++i) {
        const std::string reply = pub->exchange(request({"publish", "feed", std::to_string(i) + body}), 1);
        REQUIRE((reply == ":2\r\n" || reply == ":1\r\n"));
        if (reply == ":1\r\n" && first_single < 0) {
            first_single = i;
        }
    }
    reading.join();
    CHECK(received == messages);
    // What the slow one got ends where gatiod closed it.
    const std::string part = slow->read_to_close(30s);
    // Closed at once, its queued output dropped: it got what the kernel's socket buffers took.
    CHECK(part.size() < std::size_t{messages} * body.size() / 2);
    // It went after the limit's worth past those buffers, well short of send_buffer_limit's
    // 32 MiB, where the host would have refused the send.
    INFO("the slow subscriber received " << part.size() << " bytes, and was gone at message "
                                         << first_single);
    REQUIRE(first_single > 0);
    CHECK(std::size_t(first_single) * body.size() < part.size() + (16u << 20));
    const auto closed = await_metric(admin, "resp_pubsub_slow_subscribers_closed_total",
                                     [](const auto& m) { return total(m) == 1; });
    CHECK(closed.at("d0") == 1);
    CHECK(pub->exchange(request({"publish", "feed", "after"}), 1) == ":1\r\n");
    CHECK(gatiod.process().log().find("resp: closing subscriber") != std::string::npos);
    CHECK(gatiod.process().stop() == 0);
}
